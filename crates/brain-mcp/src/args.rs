//! The arguments of `brain mcp`'s tools and prompt: their JSON schemas (with one-line
//! descriptions) are what `tools/list` sends, so each word here costs every conversation.

use rmcp::schemars::{self, JsonSchema};
use serde::Deserialize;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListArgs {
    /// pending, active, completed or failed (default: all).
    #[serde(default)]
    pub state: Vec<String>,
    /// Only the tasks this agent claimed.
    pub agent: Option<String>,
    /// Only pending tasks an agent may claim now.
    #[serde(default)]
    pub ready_only: bool,
    /// At most this many (default 50).
    pub limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct IdArgs {
    /// The task id, like task-2026-01-31-001.
    pub id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// One line.
    pub title: String,
    /// What to do, what to produce, where (Markdown).
    #[serde(default)]
    pub body: String,
    /// critical, high, medium (default) or low.
    pub priority: Option<String>,
    /// Capabilities an agent needs, like code_execution, file_access, writing.
    #[serde(default)]
    pub requires: Vec<String>,
    /// The agent that should take it first.
    pub prefer: Option<String>,
    /// Like 30m or 2h.
    pub timeout: Option<String>,
    /// Ids that must be completed first.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// A person must approve it before an agent may claim it.
    #[serde(default)]
    pub approval: bool,
    /// false: not for unattended overnight runs.
    pub unattended: Option<bool>,
    /// Not before this time (RFC 3339, or local like 2026-02-01 09:00).
    pub not_before: Option<String>,
    pub max_turns: Option<u32>,
    pub max_budget_usd: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateArgs {
    pub id: String,
    /// critical, high, medium or low.
    pub priority: Option<String>,
    /// A note appended to the task.
    pub note: Option<String>,
    /// Send a failed task back to pending.
    #[serde(default)]
    pub requeue: bool,
    /// Cancel a pending task, with this reason.
    pub cancel: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AnswerArgs {
    /// A question id (q-2026-01-31-001) to answer, or a gated task's id to approve or deny.
    pub id: String,
    /// The answer to a question.
    pub answer: Option<String>,
    /// true approves the gated task, false denies it.
    pub approve: Option<bool>,
    /// Why it is denied.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ClaimArgs {
    pub agent: String,
    /// Extra capabilities for this claim.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Claim this task only.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HeartbeatArgs {
    /// The claim's token (id@epoch).
    pub token: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FinishArgs {
    /// The claim's token (id@epoch).
    pub token: String,
    /// done, fail or release.
    pub outcome: String,
    /// The result (done) or the error (fail).
    #[serde(default)]
    pub text: String,
    /// With fail: back to pending while attempts remain.
    #[serde(default)]
    pub retry: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct HandoffArgs {
    /// The agent the note is for.
    pub to: String,
    /// Who writes it.
    pub from: String,
    pub task: Option<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub blocking: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PlanArgs {
    /// The plan to break into tasks.
    pub plan: String,
}
