//! The morning review (`logs/YYYY-MM-DD-review.md`, and `brain review`): what the night did,
//! read back from the repo itself, so that the file a run writes and what `brain review`
//! prints later are the same: what finished (with the first lines of each result), what failed
//! and why, what waits for the person (questions, approvals), the limits hit, the usage, and
//! what is next in the queue. Markdown that reads well in Obsidian: each task is a link to its
//! file.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Result;
use crate::store::Repo;
use crate::store::prompts::{self, Kind, QState};
use crate::task::time::{format_age, format_ts};
use crate::task::{State, Task};
use crate::usage::LimitHit;
use crate::usage::report::UsageReport;

/// A task in the review.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub title: String,
    /// Its file, relative to the repo.
    pub path: PathBuf,
    /// What to say about it: the first lines of its result, why it failed.
    pub note: String,
}

/// A question or approval waiting for the person.
#[derive(Debug, Clone, Serialize)]
pub struct Waiting {
    pub id: String,
    pub approval: bool,
    pub text: String,
    pub task: Option<String>,
    pub task_path: Option<PathBuf>,
}

/// A run in the review's time span.
#[derive(Debug, Clone, Serialize)]
pub struct RunLine {
    /// The run's first and last lines in the day's log.
    pub started: String,
    pub completed: Option<String>,
}

/// The review of what happened since `since`.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    #[serde(with = "crate::task::time::ts")]
    pub since: Timestamp,
    #[serde(with = "crate::task::time::ts")]
    pub now: Timestamp,
    pub runs: Vec<RunLine>,
    pub finished: Vec<Item>,
    /// Failed for good (in `failed/`).
    pub failed: Vec<Item>,
    /// Failed, back in pending for another attempt.
    pub retrying: Vec<Item>,
    /// Sent back by a usage limit or a broken agent, waiting (no attempt spent).
    pub held: Vec<Item>,
    pub waiting: Vec<Waiting>,
    pub limits: Vec<(String, String, LimitHit)>,
    pub usage: Option<UsageReport>,
    pub next: Vec<Item>,
}

/// How many tasks "next in the queue" lists.
const NEXT: usize = 5;

/// The review of `repo` since `since`, at `now`; `agent` orders the queue (else `[run]
/// agent`); `usage` is what `brain usage` would show.
pub fn review(
    repo: &Repo,
    since: Timestamp,
    now: Timestamp,
    agent: Option<&str>,
    usage: Option<UsageReport>,
) -> Result<Review> {
    let rel = |p: &Path| PathBuf::from(crate::fsutil::shown_in(repo.root(), p));
    let mut r = Review {
        since,
        now,
        runs: runs(repo, since),
        finished: Vec::new(),
        failed: Vec::new(),
        retrying: Vec::new(),
        held: Vec::new(),
        waiting: Vec::new(),
        limits: Vec::new(),
        usage: None,
        next: Vec::new(),
    };
    let scan = repo.scan(&[State::Completed, State::Failed, State::Pending])?;
    let mut tasks: Vec<&Task> = scan.tasks.iter().collect();
    tasks.sort_by(|a, b| a.id.cmp(&b.id));
    for t in tasks {
        let item = |note: String| Item {
            id: t.id.clone(),
            title: t.title.clone(),
            path: rel(&t.path),
            note,
        };
        match t.state {
            State::Completed if t.meta.completed_at.is_some_and(|c| c >= since) => {
                let text = read(&t.path);
                r.finished
                    .push(item(first_lines(section_text(&text, "Result"), 3)));
            }
            State::Failed if t.meta.failed_at.is_some_and(|f| f >= since) => {
                let text = read(&t.path);
                r.failed
                    .push(item(first_lines(section_text(&text, "Failure"), 2)));
            }
            // Only a task that was tried has sections to read.
            State::Pending if t.meta.attempt > 0 || t.meta.epoch > 0 => {
                let text = read(&t.path);
                let Some((title, items, body)) = last_section(&text) else {
                    continue;
                };
                let at = item_value(items, if title == "Failure" { "failed" } else { "at" })
                    .and_then(|v| v.parse::<Timestamp>().ok());
                if at.is_none_or(|a| a < since) {
                    continue;
                }
                match title {
                    "Failure" => r.retrying.push(item(first_lines(body, 2))),
                    "Released" => {
                        if let Some(why) = item_value(items, "reason") {
                            r.held.push(item(why.to_string()));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for q in prompts::read_all(repo)? {
        if q.state != QState::Open {
            continue;
        }
        let task_path = q
            .task
            .as_deref()
            .and_then(|id| repo.locate(id).ok()?.into_iter().next())
            .map(|e| rel(&e.path));
        r.waiting.push(Waiting {
            id: q.id,
            approval: q.kind == Kind::Approval,
            text: q.text,
            task: q.task,
            task_path,
        });
    }
    if let Some(u) = &usage {
        for l in &u.limits {
            if l.hit.hit_at >= since {
                r.limits
                    .push((l.agent.clone(), l.machine.clone(), l.hit.clone()));
            }
        }
    }
    r.usage = usage;
    let agent = agent
        .map(str::to_string)
        .or_else(|| repo.config().default_agent().map(str::to_string));
    let mut queue = repo.queue(agent.as_deref(), &mut Vec::new())?;
    for t in queue.tasks().take(NEXT) {
        r.next.push(Item {
            id: t.id.clone(),
            title: t.title.clone(),
            path: rel(&t.path),
            note: match t.meta.approval {
                Some(crate::task::Approval::Required) => {
                    format!("{}, waits for approval", t.meta.priority.as_str())
                }
                _ => t.meta.priority.as_str().to_string(),
            },
        });
    }
    Ok(r)
}

fn read(p: &Path) -> String {
    crate::store::read_limited(p)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `## <title>` section of a task's text: its `- key: value` items and the text
/// after them.
fn section_text<'a>(text: &'a str, title: &str) -> &'a str {
    let head = format!("\n## {title}\n");
    match text.rfind(&head) {
        Some(at) => {
            let rest = &text[at + head.len()..];
            let end = rest.find("\n## ").unwrap_or(rest.len());
            &rest[..end]
        }
        None => "",
    }
}

/// The title, items and text of the last `## ` section.
fn last_section(text: &str) -> Option<(&str, &str, &str)> {
    let at = text.rfind("\n## ")?;
    let rest = &text[at + 4..];
    let (title, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let body = body.trim_start_matches('\n');
    let items_end = body
        .lines()
        .take_while(|l| l.starts_with("- "))
        .map(|l| l.len() + 1)
        .sum::<usize>()
        .min(body.len());
    Some((title.trim(), &body[..items_end], &body[items_end..]))
}

fn item_value<'a>(items: &'a str, key: &str) -> Option<&'a str> {
    let prefix = format!("- {key}:");
    items
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .map(str::trim)
}

/// The first `n` lines of a section's text that are not its `- key: value` items.
fn first_lines(section: &str, n: usize) -> String {
    section
        .lines()
        .map(str::trim)
        .filter(|l| !(l.is_empty() || l.starts_with("- ") && l.contains(": ")))
        .take(n)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The runs the day's logs since `since` tell of.
/// The runs since `since` (their first and last lines in the days' logs), oldest first,
/// without reading any task.
pub fn runs(repo: &Repo, since: Timestamp) -> Vec<RunLine> {
    let dir = repo.root().join("logs");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with("-overnight.log"))
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    let day = since.strftime("%Y-%m-%d").to_string();
    let mut out: Vec<RunLine> = Vec::new();
    for log in logs {
        if log
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n[..n.len().min(10)] < *day)
        {
            continue;
        }
        for line in read(&log).lines() {
            if let Some(rest) = line.strip_prefix("Starting overnight run at ") {
                let at = rest
                    .split_whitespace()
                    .next()
                    .and_then(|t| t.parse::<Timestamp>().ok());
                if at.is_some_and(|a| a >= since) {
                    out.push(RunLine {
                        started: line.to_string(),
                        completed: None,
                    });
                }
            } else if line.starts_with("Completed at ")
                && let Some(last) = out.last_mut()
                && last.completed.is_none()
            {
                last.completed = Some(line.to_string());
            }
        }
    }
    out
}

/// When the first run in the day's log `log` started.
pub fn first_run_of_day(log: &Path) -> Option<Timestamp> {
    read(log).lines().find_map(|l| {
        l.strip_prefix("Starting overnight run at ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Where the review of a run that started at `started` is written.
pub fn review_path(repo: &Repo, started: Timestamp) -> PathBuf {
    repo.root()
        .join("logs")
        .join(format!("{}-review.md", started.strftime("%Y-%m-%d")))
}

/// A Markdown link from `logs/` to a task file.
fn link(i_id: &str, path: &Path) -> String {
    let target = Path::new("..").join(path);
    let t = target
        .to_string_lossy()
        .replace('\\', "/")
        .replace(' ', "%20");
    format!("[{i_id}]({t})")
}

impl Review {
    /// The Markdown of the review, as `logs/YYYY-MM-DD-review.md` holds it.
    pub fn render(&self) -> String {
        let mut s = format!(
            "# Morning review: {}\n\nSince {}, as of {}.\n",
            self.now.strftime("%Y-%m-%d"),
            format_ts(self.since),
            format_ts(self.now)
        );
        if !self.runs.is_empty() {
            s.push_str("\n## Runs\n\n");
            for r in &self.runs {
                s.push_str(&format!("- {}", r.started));
                match &r.completed {
                    Some(c) => s.push_str(&format!("; {c}\n")),
                    None => s.push_str(" (still running, or stopped without its last line)\n"),
                }
            }
        }
        let list = |s: &mut String, title: &str, items: &[Item], empty: &str| {
            s.push_str(&format!("\n## {title}\n\n"));
            if items.is_empty() {
                s.push_str(&format!("{empty}\n"));
            }
            for i in items {
                s.push_str(&format!("- {} {}", link(&i.id, &i.path), i.title));
                if !i.note.is_empty() {
                    s.push_str(&format!(": {}", i.note));
                }
                s.push('\n');
            }
        };
        list(&mut s, "Finished", &self.finished, "Nothing finished.");
        let mut failed = String::new();
        if !self.failed.is_empty() || !self.retrying.is_empty() {
            list(&mut failed, "Failed for good", &self.failed, "None.");
            list(
                &mut failed,
                "Failed, to be tried again",
                &self.retrying,
                "None.",
            );
            s.push_str(&failed);
        } else {
            s.push_str("\n## Failed\n\nNothing failed.\n");
        }
        if !self.held.is_empty() {
            list(&mut s, "Waiting, no attempt spent", &self.held, "");
        }
        s.push_str("\n## Waiting for you\n\n");
        if self.waiting.is_empty() {
            s.push_str("Nothing: no question or approval is open.\n");
        }
        for w in &self.waiting {
            let about = match (&w.task, &w.task_path) {
                (Some(t), Some(p)) => format!(" about {}", link(t, p)),
                (Some(t), None) => format!(" about {t}"),
                _ => String::new(),
            };
            let (what, how) = if w.approval {
                (
                    "Approval",
                    format!(
                        "`brain approve {0}` or `brain deny {0} --reason …`",
                        w.task.as_deref().unwrap_or("ID")
                    ),
                )
            } else {
                ("Question", format!("`brain answer {} \"…\"`", w.id))
            };
            let text = w.text.trim().replace('\n', " ");
            s.push_str(&format!(
                "- {what} {}{about}: {}. Answer with {how}, or in prompts/pending.md.\n",
                w.id,
                text.trim_end_matches('.')
            ));
        }
        s.push_str("\n## Limits\n\n");
        if self.limits.is_empty() {
            s.push_str("No usage limit was hit.\n");
        }
        for (agent, machine, l) in &self.limits {
            let state = if l.holds(self.now) {
                format!(
                    "no new session before {} (in {})",
                    format_ts(l.until),
                    format_age(l.until.duration_since(self.now).as_secs().max(0))
                )
            } else {
                "it has reset".to_string()
            };
            s.push_str(&format!(
                "- {agent} on {machine} hit {} at {}; {state}.\n",
                l.limit.describe(),
                format_ts(l.hit_at)
            ));
        }
        s.push_str("\n## Usage\n\n");
        match &self.usage {
            None => s.push_str("Not known.\n"),
            Some(u) => {
                if u.today.is_empty() {
                    s.push_str("No session ran today (UTC).\n");
                }
                for a in &u.today {
                    s.push_str(&format!(
                        "- {} on {}: {} sessions, {} tokens today (UTC)\n",
                        a.agent, a.machine, a.sessions, a.tokens
                    ));
                }
                if let Some(t) = &u.transcripts {
                    s.push_str(&format!(
                        "- Claude Code on {}: {} tokens on {} (local day, from its transcripts)\n",
                        u.machine, t.tokens_today, t.day
                    ));
                    if let Some(b) = &t.block {
                        s.push_str(&format!(
                            "- current 5-hour block: {} tokens since {}, resets {}\n",
                            b.total_tokens,
                            format_ts(b.start),
                            format_ts(b.end)
                        ));
                    }
                }
                for w in &u.warnings {
                    s.push_str(&format!("- warning: {w}\n"));
                }
            }
        }
        list(
            &mut s,
            "Next in the queue",
            &self.next,
            "The queue is empty.",
        );
        s
    }
}
