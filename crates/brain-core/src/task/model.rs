//! The task model: a task's state (which is its folder), priority, gate, and typed fields.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A task's state. The folder a task file lies in is the truth; `status` only mirrors it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Pending,
    Active,
    Completed,
    Failed,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 4] = [
        State::Pending,
        State::Active,
        State::Completed,
        State::Failed,
    ];

    /// The folder name under `tasks/`, which is also the `status` value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Active => "active",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Task priority: `critical` > `high` > `medium` > `low`. Ordered so that the most urgent sorts
/// first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Critical,
    High,
    #[default]
    Medium,
    Low,
}

impl Priority {
    /// Every priority, most urgent first (in the order of their values).
    pub const ALL: [Priority; 4] = [
        Priority::Critical,
        Priority::High,
        Priority::Medium,
        Priority::Low,
    ];

    /// The name written in task files.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    /// Parses a priority name (case-insensitive).
    pub fn parse(s: &str) -> Option<Priority> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" => Some(Priority::Critical),
            "high" => Some(Priority::High),
            "medium" => Some(Priority::Medium),
            "low" => Some(Priority::Low),
            _ => None,
        }
    }
}

/// The human gate of a task (`approval:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Approval {
    /// A human must approve before any agent may claim it.
    Required,
    /// Approved; the gate is open.
    Approved,
    /// Denied; the task goes to `failed/`.
    Denied,
}

impl Approval {
    /// The name written in task files.
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Required => "required",
            Approval::Approved => "approved",
            Approval::Denied => "denied",
        }
    }
}

/// The frontmatter fields brain understands, typed. Unknown keys stay in the file untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Meta {
    pub id: Option<String>,
    #[serde(with = "crate::task::time::opt_ts")]
    pub created: Option<Timestamp>,
    pub priority: Priority,
    pub requires: Vec<String>,
    pub preferred_interface: Option<String>,
    /// Seconds.
    pub timeout: Option<u64>,
    pub status: Option<String>,
    pub title: Option<String>,
    pub depends_on: Vec<String>,
    pub approval: Option<Approval>,
    pub unattended: bool,
    #[serde(with = "crate::task::time::opt_ts")]
    pub not_before: Option<Timestamp>,
    pub max_attempts: Option<u32>,
    /// Claude Code's `--max-turns` for this task (the `{max_turns}` placeholder).
    pub max_turns: Option<u32>,
    /// Claude Code's `--max-budget-usd` for this task (the `{max_budget_usd}` placeholder),
    /// as written: a positive decimal number of US dollars.
    pub max_budget_usd: Option<String>,
    pub attempt: u32,
    pub epoch: u64,
    pub claimed_by: Option<String>,
    #[serde(with = "crate::task::time::opt_ts")]
    pub claimed_at: Option<Timestamp>,
    #[serde(with = "crate::task::time::opt_ts")]
    pub heartbeat_at: Option<Timestamp>,
    #[serde(with = "crate::task::time::opt_ts")]
    pub completed_at: Option<Timestamp>,
    #[serde(with = "crate::task::time::opt_ts")]
    pub failed_at: Option<Timestamp>,
}

/// A task as read from its file: where it is, its state, and its typed fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: String,
    pub state: State,
    /// The agent in an active file's name (`active/<id>.<agent>.md`).
    pub agent: Option<String>,
    pub title: String,
    pub path: PathBuf,
    #[serde(flatten)]
    pub meta: Meta,
    /// What brain reads differently than a person may expect (see `reading_warnings`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Task {
    /// The agent holding the claim: the one in an active file's name, else `claimed_by`.
    pub fn claimant(&self) -> Option<String> {
        self.agent.clone().or_else(|| self.meta.claimed_by.clone())
    }

    /// The effective attempt limit: the task's own, else `default`.
    pub fn max_attempts(&self, default: u32) -> u32 {
        self.meta.max_attempts.unwrap_or(default)
    }
}
