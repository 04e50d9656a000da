//! Whether a pending task can be claimed now, by any agent of brain.toml, and if not every
//! reason why (`brain list`, `brain show`): the rules of a claim (`claim.rs`), judged for the
//! whole roster instead of one agent.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Result;
use crate::task::time::format_ts;
use crate::task::{Approval, State, Task};

/// Why a pending task cannot be claimed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Blocked {
    /// The agent lacks capabilities the task requires.
    Capabilities { missing: Vec<String> },
    /// A dependency is not completed.
    Dependency { id: String },
    /// Waiting for a person's approval.
    Approval,
    /// Not before this time.
    NotBefore { at: String },
    /// Marked `unattended: false`, and the run is unattended.
    Attended,
    /// The task's id has files in other places too (see `brain doctor`).
    Duplicate { paths: Vec<String> },
    /// No agent of brain.toml has capabilities the task requires.
    NoAgent { missing: Vec<String> },
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Capabilities { missing } => {
                write!(f, "the agent lacks {}", missing.join(", "))
            }
            Blocked::Dependency { id } => write!(f, "it depends on {id}, which is not completed"),
            Blocked::Approval => write!(f, "it waits for approval (`brain approve`)"),
            Blocked::NotBefore { at } => write!(f, "not before {at}"),
            Blocked::Attended => write!(f, "marked `unattended: false`: it needs a person present"),
            Blocked::Duplicate { paths } => write!(
                f,
                "its id also has {} (run `brain doctor`)",
                paths.join(" and ")
            ),
            Blocked::NoAgent { missing } => {
                write!(f, "no agent in brain.toml has {}", missing.join(", "))
            }
        }
    }
}

/// The claim-time gate: approved in the file, or approved by a person's answer.
pub fn gate_open(t: &Task, approved_by_answer: bool) -> bool {
    match t.meta.approval {
        None | Some(Approval::Approved) => true,
        Some(Approval::Required) => approved_by_answer,
        Some(Approval::Denied) => false,
    }
}

/// Whether a pending task can be claimed now by an agent of brain.toml, and if not, every
/// reason why (`brain list`, `brain show`): the rules of a claim, for any agent.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// Why it is not ready, each with its words in `message`.
    pub why: Vec<Reason>,
    /// Claims it may still have before a failure is final.
    pub attempts_left: u32,
    /// Marked `unattended: false`: a scheduled run passes it over (a person may claim it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attended: bool,
}

/// One reason a task is not ready, with its words.
#[derive(Debug, Clone)]
pub struct Reason(pub Blocked);

impl Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            #[serde(flatten)]
            why: &'a Blocked,
            message: String,
        }
        View {
            why: &self.0,
            message: self.0.to_string(),
        }
        .serialize(s)
    }
}

impl Readiness {
    /// In a few words, for a column: `ready`, or the reasons.
    pub fn summary(&self) -> String {
        let mut s = if self.ready {
            "ready".to_string()
        } else {
            self.why
                .iter()
                .map(|r| r.0.short())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if self.attended {
            s.push_str(", attended only");
        }
        if self.attempts_left <= 1 {
            s.push_str(if self.attempts_left == 0 {
                ", no attempts left"
            } else {
                ", last attempt"
            });
        }
        s
    }
}

impl Blocked {
    /// The reason in a word or two, for a column.
    pub fn short(&self) -> String {
        match self {
            Blocked::Capabilities { missing } => format!("lacks {}", missing.join("+")),
            Blocked::Dependency { id } => format!("after {id}"),
            Blocked::Approval => "needs approval".into(),
            Blocked::NotBefore { at } => format!("not before {at}"),
            Blocked::Attended => "attended only".into(),
            Blocked::Duplicate { .. } => "duplicate id".into(),
            Blocked::NoAgent { missing } => format!("no agent has {}", missing.join("+")),
        }
    }
}

/// Judges pending tasks by the rules of a claim (see [`Readiness`]); cheap to share between
/// threads (a listing judges thousands).
#[derive(Debug)]
pub struct Judge {
    completed: PathBuf,
    answers: std::collections::HashMap<String, bool>,
    /// Every capability an agent of brain.toml has (a few: looked through, not searched).
    capabilities: Option<Vec<String>>,
    max_attempts: u32,
    now: Timestamp,
}

impl Judge {
    pub fn new(repo: &crate::store::Repo, now: Timestamp) -> Result<Judge> {
        let config = repo.config();
        Ok(Judge {
            completed: repo.state_dir(State::Completed),
            answers: crate::store::prompts::approvals(repo)?,
            // With no [agents] at all, any agent may claim by any name: nothing to check.
            capabilities: (!config.agents.is_empty()).then(|| {
                let mut all: Vec<String> = config
                    .agents
                    .values()
                    .flat_map(|a| a.capabilities.iter().cloned())
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }),
            max_attempts: config.queue.max_attempts,
            now,
        })
    }

    /// `None` for a task that is not pending.
    pub fn judge(&self, t: &Task) -> Option<Readiness> {
        if t.state != State::Pending {
            return None;
        }
        let mut why = Vec::new();
        if let Some(all) = &self.capabilities {
            let known = |r: &&String| all.iter().any(|c| c == *r);
            if !t.meta.requires.iter().all(|r| known(&r)) {
                let missing = t.meta.requires.iter().filter(|r| !known(r)).cloned();
                why.push(Reason(Blocked::NoAgent {
                    missing: missing.collect(),
                }));
            }
        }
        for d in &t.meta.depends_on {
            if !crate::store::completed_in(&self.completed, d) {
                why.push(Reason(Blocked::Dependency { id: d.clone() }));
            }
        }
        let approved = self.answers.get(&t.id).copied() == Some(true);
        if !gate_open(t, approved) {
            why.push(Reason(Blocked::Approval));
        }
        if let Some(nb) = t.meta.not_before.filter(|nb| *nb > self.now) {
            why.push(Reason(Blocked::NotBefore { at: format_ts(nb) }));
        }
        Some(Readiness {
            ready: why.is_empty(),
            why,
            attempts_left: t
                .max_attempts(self.max_attempts)
                .saturating_sub(t.meta.attempt),
            attended: !t.meta.unattended,
        })
    }
}
