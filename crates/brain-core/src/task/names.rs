//! Validation of task ids and agent names, which become parts of file names.

use crate::error::{Error, Result};

/// The longest id or agent name accepted.
pub const MAX_NAME_LEN: usize = 100;

fn check(kind: &str, value: &str) -> Result<()> {
    let hint = "use letters, digits, `-` and `_` only";
    if value.is_empty() {
        return Err(Error::Invalid(format!("the {kind} is empty; {hint}")));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Error::Invalid(format!(
            "the {kind} `{}…` is {} bytes long; the limit is {MAX_NAME_LEN}",
            value.chars().take(20).collect::<String>(),
            value.len()
        )));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(Error::Invalid(format!(
            "the {kind} `{value}` contains `{}`; {hint} (no path separators, dots or spaces)",
            bad.escape_default()
        )));
    }
    Ok(())
}

/// Checks a task id: letters, digits, `-`, `_`; at most [`MAX_NAME_LEN`] bytes.
///
/// Dots are excluded so that `active/<id>.<agent>.md` splits one way only; so are path
/// separators, `..` and leading dots.
pub fn validate_task_id(id: &str) -> Result<()> {
    check("task id", id)
}

/// Checks an agent name with the same rules as a task id.
pub fn validate_agent(name: &str) -> Result<()> {
    check("agent name", name)
}

/// The name among `known` closest to `name`, if one is close enough to be a typo of it (at
/// most a third of its letters, and at least one, differ), or starts with it (`code_exec`
/// for `code_execution`).
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    known
        .into_iter()
        .filter_map(|k| {
            let lower = k.to_lowercase();
            let d = distance(&name, &lower);
            let prefix = name.len() >= 4 && lower.starts_with(&name);
            (d <= limit || prefix).then_some((if prefix { 0 } else { d }, k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The edit distance of two names (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// " (did you mean `x`?)" when `name` looks like a typo of one of `known`.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, known)
        .map(|k| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_name() {
        let known = ["claude-code", "claude-desktop", "example-agent"];
        assert_eq!(closest("claude-cod", known), Some("claude-code"));
        assert_eq!(closest("Claude-Code", known), Some("claude-code"));
        assert_eq!(closest("claude-desk", known), Some("claude-desktop"));
        assert_eq!(closest("gpt", known), None);
        assert_eq!(closest("claude", known), Some("claude-code"));
        assert_eq!(
            did_you_mean("code_exec", ["code_execution", "file_access"]),
            " (did you mean `code_execution`?)"
        );
        assert_eq!(did_you_mean("web", ["code_execution", "file_access"]), "");
        assert_eq!(
            did_you_mean("code_executon", ["code_execution", "file_access"]),
            " (did you mean `code_execution`?)"
        );
    }

    #[test]
    fn accepts_seed_names() {
        validate_task_id("task-2026-01-31-001").unwrap();
        validate_agent("claude-code").unwrap();
        validate_agent("claude_desktop2").unwrap();
    }

    #[test]
    fn refuses_paths_dots_and_empty() {
        for bad in ["", "../x", "a/b", "a\\b", ".hidden", "a.b", "a b", "é"] {
            assert!(validate_task_id(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(validate_agent(&"a".repeat(101)).is_err());
        validate_agent(&"a".repeat(100)).unwrap();
    }
}
