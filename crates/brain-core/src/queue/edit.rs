//! What a person may change on a task through a front end that is not an editor (the MCP
//! server's `update_task`, the board): its priority, a note, a failed task sent back to the
//! queue, a pending task cancelled. Claims belong to agents and their tokens: nothing here
//! touches one.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::queue::LockedRepo;
use crate::queue::moves::section;
use crate::task::frontmatter::FieldValue;
use crate::task::time::format_ts;
use crate::task::{Priority, State};

/// The changes to make (each optional).
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub priority: Option<Priority>,
    /// Appended under `## Note`.
    pub note: Option<String>,
    /// Send a failed task back to pending, with its attempts reset.
    pub requeue: bool,
    /// Cancel a pending task (it goes to failed/), with this reason.
    pub cancel: Option<String>,
    /// Who asks (recorded in the sections it writes).
    pub by: String,
}

/// What an update did.
#[derive(Debug, Clone, Serialize)]
pub struct Updated {
    pub id: String,
    pub state: State,
    pub path: PathBuf,
    /// What changed, in words (`priority high`, `note`, `requeued`, `cancelled`).
    pub changed: Vec<String>,
}

impl LockedRepo<'_> {
    /// Applies `u` to task `id` as one transition (one commit). Refused whole, with nothing
    /// changed, when a part cannot be done: a requeue of a task that did not fail, a cancel of
    /// one that is not pending, any change but a note to a claimed task.
    pub fn update(&self, id: &str, u: &Update, now: Timestamp) -> Result<Updated> {
        crate::task::names::validate_task_id(id)?;
        let entry = self.find(id)?;
        let id = entry.id.as_str();
        let mut f = self.read(&entry)?;
        let state = f.task.state;
        if u.requeue && u.cancel.is_some() {
            return Err(Error::Invalid(
                "requeue and cancel ask for opposite things: give one".into(),
            ));
        }
        if u.requeue && state != State::Failed {
            return Err(Error::Invalid(format!(
                "task {id} is in tasks/{state}/: only a failed task can be requeued"
            )));
        }
        if u.cancel.is_some() && state != State::Pending {
            let why = match state {
                State::Active => format!(
                    "it is claimed by {}; the claim is the agent's: ask it to release or fail the task",
                    f.task.claimant().unwrap_or_else(|| "an agent".into())
                ),
                _ => format!("it is in tasks/{state}/ already"),
            };
            return Err(Error::Invalid(format!(
                "task {id} cannot be cancelled: {why}"
            )));
        }
        if u.priority.is_some() && state == State::Active {
            return Err(Error::Invalid(format!(
                "task {id} is claimed by {}: its priority no longer decides anything; a note can still be added",
                f.task.claimant().unwrap_or_else(|| "an agent".into())
            )));
        }
        if let Some(n) = &u.note
            && n.trim().is_empty()
        {
            return Err(Error::Invalid("the note is empty".into()));
        }
        let stamp = format_ts(now);
        let mut changed = Vec::new();
        if let Some(p) = u.priority.filter(|p| *p != f.task.meta.priority) {
            f.set("priority", FieldValue::Str(p.as_str().into()))?;
            changed.push(format!("priority {}", p.as_str()));
        }
        if let Some(n) = &u.note {
            f.append_body(&section(
                "Note",
                &[("by", u.by.clone()), ("at", stamp.clone())],
                n,
            ));
            changed.push("note".into());
        }
        let path = if u.requeue {
            f.append_body(&section(
                "Requeued",
                &[
                    ("by", u.by.clone()),
                    ("at", stamp.clone()),
                    ("attempts used before", f.task.meta.attempt.to_string()),
                ],
                "",
            ));
            f.set_all(&[
                ("status", FieldValue::Str("pending".into())),
                ("attempt", FieldValue::Int(0)),
            ])?;
            f.remove("failed_at")?;
            changed.push("requeued".into());
            self.write_and_move(&mut f, State::Pending)?
        } else if let Some(reason) = &u.cancel {
            f.append_body(&section(
                "Cancelled",
                &[("by", u.by.clone()), ("at", stamp.clone())],
                reason,
            ));
            changed.push("cancelled".into());
            self.move_to_failed(&mut f, now)?
        } else if changed.is_empty() {
            return Ok(Updated {
                id: id.to_string(),
                state,
                path: f.task.path.clone(),
                changed,
            });
        } else {
            self.save_task(&mut f)?;
            f.task.path.clone()
        };
        self.commit_point(&format!("update {id}: {}", changed.join(", ")))?;
        let state = match (u.requeue, u.cancel.is_some()) {
            (true, _) => State::Pending,
            (_, true) => State::Failed,
            _ => state,
        };
        Ok(Updated {
            id: id.to_string(),
            state,
            path,
            changed,
        })
    }
}
