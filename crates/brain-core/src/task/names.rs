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

#[cfg(test)]
mod tests {
    use super::*;

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
