//! What a front end does, when it takes more than one layer: adding a task (the queue and, for
//! a gated one, prompts/), claiming (the human's hand-written denials, stale claims, then the
//! claim), finishing (the finished file prepared before the lock). Each is one transaction.
//!
//! The simpler operations are one call inside [`Repo::transact`] (`l.fail(..)`,
//! `l.release(..)`, `questions::answer(l, ..)`); the reads are in [`crate::status`].

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::human::questions;
use crate::queue::{Claimant, Claimed, Moved, PassedOver, Refused, Transaction};
use crate::store::Repo;
use crate::task::State;
use crate::task::newtask::NewTask;

/// A task that was added.
#[derive(Debug, Clone, Serialize)]
pub struct Added {
    pub id: String,
    pub path: PathBuf,
    /// The approval request asked for it (`approval: required`), if one was.
    #[serde(skip)]
    pub approval_asked: Option<String>,
}

/// Adds `task` to `tasks/pending/` as one transaction; a gated task gets its approval request
/// in `prompts/pending.md`. Checked before anything is written: the task itself, and that
/// every `depends_on` exists (a typo would block it forever).
pub fn add(repo: &Repo, task: &NewTask, now: Timestamp) -> Transaction<Added> {
    if let Err(e) = task.validate() {
        return Transaction {
            result: Err(e),
            notes: Vec::new(),
        };
    }
    repo.transact(now, |l| {
        // Each dependency as its file spells it (`TASK-1` is `task-1`), so the check that it
        // completed finds it on any file system.
        let mut task = task.clone();
        for dep in &mut task.depends_on {
            match l.locate(dep)?.into_iter().next() {
                Some(e) => *dep = e.id,
                None => {
                    return Err(Error::Invalid(format!(
                        "--depends-on {dep}: no such task; check the id with `brain list`"
                    )));
                }
            }
        }
        let (id, path) = l.create_pending(now, |id| task.render(id, now))?;
        let approval_asked = if task.approval {
            questions::request_approval(l, &id, task.title.trim(), now)?
        } else {
            None
        };
        l.commit_point(&format!("add {id}: {}", task.title.trim()))?;
        let unknown = l.config().unknown_capabilities(&task.requires);
        if !unknown.is_empty() {
            l.say(format!(
                "no agent in brain.toml has {}: {id} waits until one does (give an agent the capability in brain.toml, or fix the task's `requires`)",
                unknown.join(", ")
            ));
        }
        Ok(Added {
            id,
            path,
            approval_asked,
        })
    })
}

/// Claims the next eligible task for `agent` (or the task `only`) as one transaction: first
/// the approvals a person denied by hand in `prompts/answered.md` are applied and stale claims
/// reclaimed (each said), then the claim (see [`crate::queue::LockedRepo::claim_for`]).
/// `Err(why)`: nothing to claim (with the reason when `only` was given).
pub fn claim(
    repo: &Repo,
    agent: &str,
    extra_caps: &[String],
    only: Option<&str>,
    now: Timestamp,
) -> Transaction<std::result::Result<Claimed, Vec<PassedOver>>> {
    if let Err(e) = crate::task::names::validate_agent(agent) {
        return Transaction {
            result: Err(e),
            notes: Vec::new(),
        };
    }
    // The longest part of a claim, done before taking the lock (see `claim_from`). With a
    // remote, the queue is only known once the lock has brought it up to date.
    let mut queue = match only {
        None if repo.remote().is_none() => match repo.queue(Some(agent), &mut Vec::new()) {
            Ok(q) => Some(q),
            Err(e) => {
                return Transaction {
                    result: Err(e),
                    notes: Vec::new(),
                };
            }
        },
        _ => None,
    };
    repo.transact(now, |l| {
        for id in questions::apply_hand_denials(l, now)? {
            l.say(format!(
                "{id} was denied in prompts/answered.md; moved to tasks/failed/"
            ));
        }
        for r in l.reclaim(now, false)? {
            // The queue was listed before the reclaim: a task it just freed is not in it.
            if r.to == State::Pending {
                queue = None;
            }
            l.say(format!(
                "reclaimed {} to tasks/{}/: {}",
                r.id, r.to, r.reason
            ));
        }
        l.claim_from(queue.take(), agent, extra_caps, only, now)
    })
}

/// `done` as one transaction, with the finished file written and fsynced before the lock
/// (used only if the locked `done` computes exactly the same bytes; with a remote the file may
/// change when the lock catches up, so there is nothing to gain).
pub fn done(
    repo: &Repo,
    id: &str,
    who: &Claimant,
    result: &str,
    now: Timestamp,
) -> Transaction<std::result::Result<Moved, Refused>> {
    let mut prepared = match repo.remote() {
        None => repo.prepare_done(id, who, result, &[], now).ok().flatten(),
        Some(_) => None,
    };
    repo.transact(now, |l| {
        if let Some(p) = prepared.take() {
            l.offer(p);
        }
        l.done(id, who, result, now)
    })
}

/// `reclaim`: the stale claims moved back (or to failed/). With `dry_run`, only a look
/// ([`Kind::Look`](crate::queue::Kind::Look)): what would move, with nothing written, renamed
/// or committed, not even the recovery of a hand move a change would make first.
pub fn reclaim(
    repo: &Repo,
    now: Timestamp,
    dry_run: bool,
) -> Transaction<Vec<crate::queue::Reclaimed>> {
    let kind = if dry_run {
        crate::queue::Kind::Look
    } else {
        crate::queue::Kind::Change
    };
    repo.section(kind, now, |l| l.reclaim(now, dry_run))
}

/// A person's change to a task (priority, a note, requeue a failed task, cancel a pending
/// one), as one transaction: see [`LockedRepo::update`](crate::LockedRepo::update).
pub fn update(
    repo: &Repo,
    id: &str,
    u: &crate::queue::Update,
    now: Timestamp,
) -> Transaction<crate::queue::Updated> {
    repo.transact(now, |l| l.update(id, u, now))
}

/// The result of a transaction, with its notes handed to `say` (for a front end that shows
/// them as they come).
pub fn said<T>(t: Transaction<T>, mut say: impl FnMut(&str)) -> Result<T> {
    let (result, notes) = t.into_parts();
    for n in &notes {
        say(n);
    }
    result
}
