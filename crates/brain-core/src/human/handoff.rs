//! `context/handoff.md`: notes from one agent to another, one section per recipient in the
//! seed's shape (`## For Claude Code`, `### Task`, `### Files Modified`, `### Notes`,
//! `### Blocking Issues`). A new handoff replaces the recipient's section and nothing else;
//! sections written by hand are read the same way.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};

use crate::queue::LockedRepo;
use crate::store::templates;
use crate::task::names;
use crate::task::time::format_ts;

/// The path, relative to the root.
pub const HANDOFF: &str = "context/handoff.md";

/// One recipient's section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handoff {
    /// The heading's name (`Claude Code`).
    pub recipient: String,
    /// The name as an agent name (`claude-code`).
    pub agent: String,
    pub from: Option<String>,
    pub at: Option<String>,
    pub task: Option<String>,
    pub files: Vec<String>,
    pub notes: Vec<String>,
    pub blocking: Vec<String>,
}

/// `Claude Code` -> `claude-code`.
pub fn agent_of(recipient: &str) -> String {
    recipient
        .trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// `claude-code` -> `Claude Code`.
pub fn display_of(agent: &str) -> String {
    agent
        .split(['-', '_'])
        .filter(|s| !s.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map_or(String::new(), |f| {
                f.to_uppercase().collect::<String>() + c.as_str()
            })
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn recipient_of(line: &str) -> Option<&str> {
    line.strip_prefix("## ")?
        .trim()
        .strip_prefix("For ")
        .map(str::trim)
}

/// Byte ranges of the `## For …` sections: (recipient, start, end).
fn sections(text: &str) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare.starts_with("## ") || bare.starts_with("# ") {
            if let Some(last) = out.last_mut().filter(|l| l.2 == usize::MAX) {
                last.2 = pos;
            }
            if let Some(r) = recipient_of(bare) {
                out.push((r.to_string(), pos, usize::MAX));
            }
        }
        pos += line.len();
    }
    if let Some(last) = out.last_mut().filter(|l| l.2 == usize::MAX) {
        last.2 = text.len();
    }
    out
}

fn items(lines: &[&str]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| {
            let t = l.trim();
            let t = t
                .strip_prefix("- ")
                .or_else(|| t.strip_prefix("* "))
                .unwrap_or(t);
            let t = t.trim().trim_matches('`').trim();
            let none = t.is_empty()
                || t.eq_ignore_ascii_case("none")
                || t.eq_ignore_ascii_case("none currently");
            (!none).then(|| t.to_string())
        })
        .collect()
}

/// Reads every section of `text`.
pub fn parse(text: &str) -> Vec<Handoff> {
    sections(text)
        .into_iter()
        .map(|(recipient, start, end)| {
            let body = &text[start..end];
            let mut h = Handoff {
                agent: agent_of(&recipient),
                recipient,
                from: None,
                at: None,
                task: None,
                files: Vec::new(),
                notes: Vec::new(),
                blocking: Vec::new(),
            };
            let mut current: Option<String> = None;
            let mut buf: Vec<&str> = Vec::new();
            let flush = |name: &Option<String>, buf: &mut Vec<&str>, h: &mut Handoff| {
                match name.as_deref().map(str::to_lowercase).as_deref() {
                    Some("task") => {
                        let t = buf
                            .iter()
                            .map(|l| l.trim())
                            .filter(|l| !l.is_empty())
                            .collect::<Vec<_>>()
                            .join("\n");
                        h.task = (!t.is_empty() && !t.eq_ignore_ascii_case("none")).then_some(t);
                    }
                    Some("files modified") | Some("files") => h.files = items(buf),
                    Some("notes") => h.notes = items(buf),
                    Some("blocking issues") | Some("blocking") => h.blocking = items(buf),
                    _ => {}
                }
                buf.clear();
            };
            for line in body.lines().skip(1) {
                if let Some(name) = line.trim().strip_prefix("### ") {
                    flush(&current, &mut buf, &mut h);
                    current = Some(name.trim().to_string());
                } else if let Some(meta) = line.trim().strip_prefix("<!-- brain: from ") {
                    let meta = meta.trim_end_matches("-->").trim();
                    let (from, at) = meta.split_once(" at ").unwrap_or((meta, ""));
                    h.from = Some(from.trim().to_string()).filter(|s| !s.is_empty());
                    h.at = Some(at.trim().to_string()).filter(|s| !s.is_empty());
                } else {
                    buf.push(line);
                }
            }
            flush(&current, &mut buf, &mut h);
            h
        })
        .collect()
}

/// Renders one section.
pub fn render(h: &Handoff) -> String {
    let list = |v: &[String], code: bool, none: &str| {
        if v.is_empty() {
            return format!("{none}\n");
        }
        v.iter()
            .map(|i| {
                if code {
                    format!("- `{i}`\n")
                } else {
                    format!("- {i}\n")
                }
            })
            .collect()
    };
    let mut s = format!("## For {}\n\n", h.recipient);
    if let Some(from) = &h.from {
        s.push_str(&format!(
            "<!-- brain: from {from} at {} -->\n\n",
            h.at.as_deref().unwrap_or("")
        ));
    }
    s.push_str(&format!(
        "### Task\n{}\n\n",
        h.task.as_deref().unwrap_or("None")
    ));
    s.push_str(&format!(
        "### Files Modified\n{}\n",
        list(&h.files, true, "None")
    ));
    s.push_str(&format!("### Notes\n{}\n", list(&h.notes, false, "None")));
    s.push_str(&format!(
        "### Blocking Issues\n{}",
        list(&h.blocking, false, "None currently")
    ));
    s
}

/// What `brain handoff` is given.
#[derive(Debug, Clone, Default)]
pub struct NewHandoff {
    pub to: String,
    pub from: Option<String>,
    pub task: Option<String>,
    pub files: Vec<String>,
    pub notes: Vec<String>,
    pub blocking: Vec<String>,
}

/// Writes the recipient's section, replacing the previous one (and only it).
pub fn write(repo: &LockedRepo<'_>, new: &NewHandoff, now: Timestamp) -> Result<Handoff> {
    names::validate_agent(&new.to)?;
    if let Some(f) = &new.from {
        names::validate_agent(f)?;
    }
    let task = match &new.task {
        Some(id) => {
            let e = repo.find(id)?;
            let t = repo.read(&e)?;
            Some(format!("{}: {}", e.id, t.task.title))
        }
        None => None,
    };
    let path = crate::fsutil::join_rel(repo.root(), HANDOFF);
    // What a person typed into the file and never committed is committed first, as it is,
    // so that the section replaced below stays in git's history (with git; without it,
    // a replaced section is gone).
    if repo.git().is_some() && path.exists() {
        repo.touch(&path);
        repo.commit_point_now(
            "handoff: keep the text of context/handoff.md before a section is replaced",
        )?;
    }
    let mut written = None;
    repo.rewrite(&path, templates::HANDOFF, |text| {
        let existing = sections(text)
            .into_iter()
            .find(|(r, _, _)| agent_of(r) == new.to);
        let h = Handoff {
            recipient: existing
                .as_ref()
                .map_or_else(|| display_of(&new.to), |(r, _, _)| r.clone()),
            agent: new.to.clone(),
            from: new.from.clone(),
            at: Some(format_ts(now)),
            task: task.clone(),
            files: new.files.clone(),
            notes: new.notes.clone(),
            blocking: new.blocking.clone(),
        };
        let section = render(&h);
        let out = match existing {
            Some((_, start, end)) => {
                let tail = &text[end..];
                let sep = if tail.is_empty() { "" } else { "\n" };
                format!("{}{section}{sep}{tail}", &text[..start])
            }
            None => {
                let base = text.trim_end_matches('\n');
                format!("{base}\n\n{section}")
            }
        };
        written = Some(h);
        Ok(Some(out))
    })?;
    let h = written.ok_or_else(|| Error::Invalid("the handoff was not written".into()))?;
    repo.commit_point(&format!("handoff to {}", h.agent))?;
    Ok(h)
}

/// The sections of `context/handoff.md` in `root` (none when there is no such file).
pub fn read_all(root: &std::path::Path) -> Result<Vec<Handoff>> {
    let text = crate::fsutil::read_text(
        &crate::fsutil::join_rel(root, HANDOFF),
        crate::store::TEXT_LIMIT,
        "move old sections out of it",
    )?;
    Ok(text.as_deref().map(parse).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "## For Claude Code\n\n### Task\nRun overnight vault analysis\n\n### Files Modified\n- Created `tasks/pending/task-2026-01-31-001.md`\n\n### Notes\n- Use AIM memory MCP if available\n- Commit frequently\n\n### Blocking Issues\nNone currently\n";

    #[test]
    fn reads_the_seeds_handoff() {
        let h = &parse(SEED)[0];
        assert_eq!(h.agent, "claude-code");
        assert_eq!(h.task.as_deref(), Some("Run overnight vault analysis"));
        assert_eq!(h.files, ["Created `tasks/pending/task-2026-01-31-001.md"]);
        assert_eq!(h.notes.len(), 2);
        assert!(h.blocking.is_empty());
        assert_eq!(display_of("claude-code"), "Claude Code");
    }

    #[test]
    fn render_reads_back() {
        let h = Handoff {
            recipient: "Claude Desktop".into(),
            agent: "claude-desktop".into(),
            from: Some("claude-code".into()),
            at: Some("2026-01-31T02:30:00Z".into()),
            task: Some("task-1: Title".into()),
            files: vec!["a.md".into()],
            notes: vec!["n1".into()],
            blocking: vec!["b1".into()],
        };
        assert_eq!(parse(&render(&h)), vec![h]);
    }
}
