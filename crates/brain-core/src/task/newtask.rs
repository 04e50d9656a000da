//! A new task, rendered in the seed's shape.

use jiff::Timestamp;

use crate::error::{Error, Result};
use crate::task::frontmatter::scalar;
use crate::task::names;
use crate::task::time::{format_duration, format_ts};
use crate::task::{Approval, Priority};

/// What `brain add` knows about a task before it has an id.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub title: String,
    pub priority: Priority,
    pub requires: Vec<String>,
    pub preferred_interface: Option<String>,
    /// Seconds.
    pub timeout: Option<u64>,
    pub depends_on: Vec<String>,
    pub approval: bool,
    pub unattended: bool,
    pub not_before: Option<Timestamp>,
    /// Claude Code's `--max-turns` for it.
    pub max_turns: Option<u32>,
    /// Claude Code's `--max-budget-usd` for it, as checked by
    /// [`crate::task::parse::parse_budget`].
    pub max_budget_usd: Option<String>,
    pub body: String,
}

/// A task as a form or a tool call gives it: every field as typed (the MCP server's
/// `add_task`, the board's "add task" form). [`NewTaskInput::into_task`] reads it the way
/// `brain add` reads its flags.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct NewTaskInput {
    pub title: String,
    pub body: String,
    /// critical, high, medium (default) or low.
    pub priority: Option<String>,
    pub requires: Vec<String>,
    pub prefer: Option<String>,
    /// Like 30m or 2h.
    pub timeout: Option<String>,
    pub depends_on: Vec<String>,
    pub approval: bool,
    /// `false`: not for unattended runs (default `true`).
    pub unattended: Option<bool>,
    /// RFC 3339, or local time like `2026-02-01 09:00`.
    pub not_before: Option<String>,
    pub max_turns: Option<u32>,
    pub max_budget_usd: Option<String>,
}

impl NewTaskInput {
    /// The task, checked; an error names the field and what to write. Empty strings count as
    /// not given.
    pub fn into_task(self, tz: &jiff::tz::TimeZone) -> Result<NewTask> {
        let given = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let priority = match given(self.priority) {
            None => Priority::default(),
            Some(p) => Priority::parse(&p).ok_or_else(|| {
                Error::Invalid(format!(
                    "priority `{p}` is not one of critical, high, medium, low"
                ))
            })?,
        };
        let timeout = given(self.timeout)
            .map(|t| crate::task::time::parse_duration(&t))
            .transpose()
            .map_err(|m| Error::Invalid(format!("timeout: {m}")))?;
        let not_before = given(self.not_before)
            .map(|t| crate::task::time::parse_time(&t, tz))
            .transpose()
            .map_err(|m| Error::Invalid(format!("not_before: {m}")))?;
        let list = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(','))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let task = NewTask {
            title: self.title,
            priority,
            requires: list(self.requires),
            preferred_interface: given(self.prefer),
            timeout,
            depends_on: list(self.depends_on),
            approval: self.approval,
            unattended: self.unattended.unwrap_or(true),
            not_before,
            max_turns: self.max_turns,
            max_budget_usd: given(self.max_budget_usd),
            body: self.body,
        };
        task.validate()?;
        Ok(task)
    }
}

impl NewTask {
    /// Checks what a person typed, before anything is written.
    pub fn validate(&self) -> Result<()> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err(Error::Invalid(
                "the title is empty; give the task a title".into(),
            ));
        }
        if self.title.contains(['\n', '\r']) {
            return Err(Error::Invalid(
                "the title has a line break; keep it to one line and put details in --body".into(),
            ));
        }
        if let Some(p) = &self.preferred_interface {
            names::validate_agent(p)?;
        }
        for d in &self.depends_on {
            names::validate_task_id(d)?;
        }
        if self.max_turns == Some(0) {
            return Err(Error::Invalid("--max-turns must be at least 1".into()));
        }
        if let Some(b) = &self.max_budget_usd {
            crate::task::parse::parse_budget(b)
                .map_err(|m| Error::Invalid(format!("--max-budget-usd: {m}")))?;
        }
        for r in &self.requires {
            if r.trim().is_empty() || r.contains(['\n', '\r']) {
                return Err(Error::Invalid(format!(
                    "the capability {r:?} is empty or has a line break"
                )));
            }
        }
        Ok(())
    }

    /// The file text for id `id` created at `now` (LF line endings, seed field order first).
    pub fn render(&self, id: &str, now: Timestamp) -> String {
        let mut s = String::from("---\n");
        s.push_str(&format!("id: {id}\ncreated: {}\n", format_ts(now)));
        s.push_str(&format!("priority: {}\n", self.priority.as_str()));
        if self.requires.is_empty() {
            s.push_str("requires: []\n");
        } else {
            s.push_str("requires:\n");
            for r in &self.requires {
                s.push_str(&format!("  - {}\n", scalar(r)));
            }
        }
        if let Some(p) = &self.preferred_interface {
            s.push_str(&format!("preferred_interface: {p}\n"));
        }
        if let Some(t) = self.timeout {
            s.push_str(&format!("timeout: {}\n", format_duration(t)));
        }
        s.push_str("status: pending\n");
        if !self.depends_on.is_empty() {
            s.push_str("depends_on:\n");
            for d in &self.depends_on {
                s.push_str(&format!("  - {d}\n"));
            }
        }
        if self.approval {
            s.push_str(&format!("approval: {}\n", Approval::Required.as_str()));
        }
        if !self.unattended {
            s.push_str("unattended: false\n");
        }
        if let Some(t) = self.not_before {
            s.push_str(&format!("not_before: {}\n", format_ts(t)));
        }
        if let Some(n) = self.max_turns {
            s.push_str(&format!("max_turns: {n}\n"));
        }
        if let Some(b) = &self.max_budget_usd {
            s.push_str(&format!("max_budget_usd: {b}\n"));
        }
        s.push_str("---\n\n");
        s.push_str(&format!("# Task: {}\n", self.title.trim()));
        let body = self.body.trim_matches('\n');
        if !body.is_empty() {
            s.push('\n');
            s.push_str(body);
            s.push('\n');
        }
        s
    }
}

/// The body of the first example task (`brain init --example`).
pub const EXAMPLE_BODY: &str = "## Input
This brain repo: the folder the agent runs in (`tasks/`, `context/`, `prompts/`, `agents/`).

## Expected Output
- A short description of each folder and what is in it now, as this task's result
- One question the person should answer in `context/priorities.md`

## Context
- See `context/priorities.md` for what matters right now
";

/// The body of the second example task, which waits for a real agent (it needs `writing`,
/// which the example agent does not have).
pub const EXAMPLE_PLAN_BODY: &str = "## Input
`context/priorities.md` and the tasks in `tasks/`.

## Expected Output
- A plan of three to five next tasks in `knowledge/first-plan.md`, each with a title, what it
  requires and why it matters
- Each of them added to the queue with `brain add`, gated with `--approval` where a person
  should look first

## Context
- This task is for a real agent (Claude Code): the example agent lacks `writing`, so it waits
  in `tasks/pending/` after the first `brain run`
";

/// The example tasks, in queue order: the first one the example agent (or Claude Code) runs,
/// the second one is left for a real agent.
pub fn examples() -> [NewTask; 2] {
    [
        NewTask {
            title: "Describe this brain repo".into(),
            priority: Priority::Medium,
            requires: vec!["file_access".into()],
            timeout: Some(1800),
            unattended: true,
            body: EXAMPLE_BODY.into(),
            ..NewTask::default()
        },
        NewTask {
            title: "Plan the first real tasks".into(),
            priority: Priority::Medium,
            requires: vec!["file_access".into(), "writing".into()],
            preferred_interface: Some("claude-code".into()),
            timeout: Some(3600),
            unattended: true,
            body: EXAMPLE_PLAN_BODY.into(),
            ..NewTask::default()
        },
    ]
}
