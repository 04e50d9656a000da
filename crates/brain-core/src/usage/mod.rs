//! Usage (SPEC §7): what the agents used and the limits they met.
//!
//! - `context/usage/<machine>.md` (`machine`): this machine's figures per agent (sessions and
//!   tokens today, the last limit hit, the transcripts imported). Only the machine it is
//!   named after writes it, so machines that share the repo never edit the same lines.
//! - `context/usage.md` (`summary`): the seed's shape, summed over the machines, with a
//!   `warning` line when a limit is near or hit. Derived: brain rewrites it from the files
//!   above (keys it does not know are kept).
//! - `import`: Claude Code's transcripts (`~/.claude/projects/**/*.jsonl`) counted as ccusage
//!   counts them: tokens per day, per 5-hour block and per session.
//!
//! Uses the queue (the files are written inside a transaction) and the store.

mod aggregate;
mod cache;
pub mod import;
pub mod limits;
pub mod machine;
pub mod report;
pub mod summary;
mod transcript;

use jiff::{Timestamp, ToSpan};
use serde::Serialize;

use crate::task::time::format_ts;

pub use import::Counts;
pub use machine::{AgentUsage, MachineUsage, estimate_tokens};

/// The folder of the per-machine files, relative to the repo.
pub const MACHINES_DIR: &str = "context/usage";

/// How long brain waits for a limit that did not say when it resets.
pub const UNKNOWN_RESET_WAIT: i64 = 3600;

/// The plan's usage limit, as an agent reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limit {
    /// Which limit, as the agent named it: `session`, `weekly`, `Opus`, `5-hour`, `usage`,
    /// `rate (HTTP 429)`.
    pub kind: String,
    /// When it resets, where the agent said.
    #[serde(with = "crate::task::time::opt_ts")]
    pub resets_at: Option<Timestamp>,
    /// The agent's words.
    pub message: String,
}

impl Limit {
    /// When a new session may start: the reset, or [`UNKNOWN_RESET_WAIT`] after `hit`.
    pub fn until(&self, hit: Timestamp) -> Timestamp {
        self.resets_at.unwrap_or_else(|| {
            hit.saturating_add(UNKNOWN_RESET_WAIT.seconds())
                .unwrap_or(hit)
        })
    }

    /// "the session limit (resets 2026-12-02T03:20:00Z)".
    pub fn describe(&self) -> String {
        let which = if self.kind == "usage" {
            "the usage limit".to_string()
        } else {
            format!("the {} limit", self.kind)
        };
        match self.resets_at {
            Some(t) => format!("{which} (resets {})", format_ts(t)),
            None => format!(
                "{which} (it said no reset time; brain waits {})",
                crate::task::time::format_age(UNKNOWN_RESET_WAIT)
            ),
        }
    }
}

/// A limit an agent hit, as recorded: what it said, when, and until when no session starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitHit {
    #[serde(flatten)]
    pub limit: Limit,
    #[serde(with = "crate::task::time::ts")]
    pub hit_at: Timestamp,
    /// No new session starts before this.
    #[serde(with = "crate::task::time::ts")]
    pub until: Timestamp,
}

impl LimitHit {
    pub fn new(limit: Limit, hit_at: Timestamp) -> LimitHit {
        LimitHit {
            until: limit.until(hit_at),
            limit,
            hit_at,
        }
    }

    /// Whether it still holds at `now`.
    pub fn holds(&self, now: Timestamp) -> bool {
        self.until > now
    }
}

pub use crate::config::machine_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_without_a_reset_waits_an_hour() {
        let hit: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
        let l = LimitHit::new(
            Limit {
                kind: "rate (HTTP 429)".into(),
                resets_at: None,
                message: "API Error: Request rejected (429)".into(),
            },
            hit,
        );
        assert_eq!(l.until, "2026-12-01T03:00:00Z".parse().unwrap());
        assert!(l.holds(hit) && !l.holds(l.until));
        assert!(
            l.limit.describe().contains("brain waits 1h"),
            "{}",
            l.limit.describe()
        );
    }
}
