//! Moving a task between folders: rewrite in place, then a rename that never overwrites,
//! refused whole when the id has a file where it would go; and reclaiming stale claims.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::queue::locked::{rel, rels};
use crate::store::{Entry, check_task_size};
use crate::task::frontmatter::FieldValue;
use crate::task::time::{format_duration, format_ts};
use crate::task::{State, TaskFile};

/// What happened to one stale claim.
#[derive(Debug, Clone, Serialize)]
pub struct Reclaimed {
    pub id: String,
    pub agent: Option<String>,
    /// `pending` or `failed`.
    pub to: State,
    pub reason: String,
    pub path: PathBuf,
}

impl LockedRepo<'_> {
    /// Writes `file` in place, then renames it into `to_state`'s folder without overwriting,
    /// and returns its new path. Between the two steps the file is whole and in its old
    /// folder. Refused, with nothing changed, when the task already has a file there
    /// ([`Error::Duplicate`]): a move that cannot be made is never half made.
    pub(crate) fn write_and_move(&self, file: &mut TaskFile, to_state: State) -> Result<PathBuf> {
        let from = file.task.path.clone();
        let id = file.task.id.clone();
        self.writable_state_dir(to_state)?;
        let to = self.task_path(to_state, &id, None);
        let duplicate = || Error::Duplicate {
            id: id.clone(),
            here: from.clone(),
            there: to.clone(),
        };
        if fs::symlink_metadata(&to).is_ok() && !fsutil::same_file(&to, &from) {
            return Err(duplicate());
        }
        check_task_size(file)?;
        self.touch(&to);
        // The new text replaces the old in place (the file fsynced); the folders are fsynced
        // after the lock is released, once for both renames.
        self.save_task(file)?;
        match fsutil::rename_noreplace(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(duplicate()),
            Err(e) => return Err(Error::io("moving", &from, e)),
        }
        if file.task.state == State::Active {
            self.note_gone(&id);
        }
        self.note_moved(&from, &to);
        file.moved_to(to.clone(), to_state);
        self.defer_sync(&to);
        Ok(to)
    }

    /// Sends a claimed file back to `pending/`: `status: pending` with the claim fields still
    /// in place (so an interrupted move is recognizable, see [`LockedRepo::recover`]), the
    /// move, then the claim fields cleared.
    pub(super) fn return_to_pending(&self, f: &mut TaskFile) -> Result<PathBuf> {
        f.set("status", FieldValue::Str("pending".into()))?;
        let to = self.write_and_move(f, State::Pending)?;
        self.clear_claim(f, &to)?;
        Ok(to)
    }

    /// Removes the claim fields of `f`, which a move has just put at `path` in pending/.
    pub(super) fn clear_claim(&self, f: &mut TaskFile, path: &Path) -> Result<()> {
        debug_assert_eq!(f.task.path, path);
        for k in ["claimed_by", "claimed_at", "heartbeat_at"] {
            f.remove(k)?;
        }
        self.save_task(f)
    }

    /// Sends a task to `failed/` for good: `status: failed` and `failed_at` (which mark an
    /// interrupted move, see [`unfinished_move`]), then the move. Returns the new path.
    pub(crate) fn move_to_failed(&self, f: &mut TaskFile, now: Timestamp) -> Result<PathBuf> {
        f.set_all(&[
            ("status", FieldValue::Str("failed".into())),
            ("failed_at", FieldValue::Str(format_ts(now))),
        ])?;
        self.write_and_move(f, State::Failed)
    }

    /// Moves every stale claim (no heartbeat for `stale_after`) back to `pending/`, or to
    /// `failed/` once its attempts are used up, recording why in the file. With `dry_run`,
    /// only says what it would do. A claim that cannot be moved (its id has a file where it
    /// would go) is left, and said; the others go on.
    pub fn reclaim(&self, now: Timestamp, dry_run: bool) -> Result<Vec<Reclaimed>> {
        let stale_after = self.config().queue.stale_after;
        let mut out = Vec::new();
        for t in self.active_tasks()? {
            let Some(last) = t.meta.heartbeat_at.or(t.meta.claimed_at) else {
                continue;
            };
            let idle = now.as_second() - last.as_second();
            if idle <= stale_after as i64 {
                continue;
            }
            let e = Entry::from(&t);
            let Ok(mut f) = self.read(&e) else { continue };
            // A stale copy of a task that has a file elsewhere (an editor that saved the path
            // `done` moved away) is not the task: it stays for `brain doctor`.
            let others = self.elsewhere(&e.id, &e.path)?;
            if !others.is_empty() {
                if !dry_run {
                    self.say(format!(
                        "the stale claim {} is not reclaimed: the task also has {} (`brain doctor` sorts this out)",
                        rel(self, &e.path),
                        rels(self, &others)
                    ));
                }
                continue;
            }
            let agent = f.task.claimant();
            let max = f.task.max_attempts(self.config().queue.max_attempts);
            let attempt = f.task.meta.attempt;
            let exhausted = attempt >= max;
            let reason = format!(
                "no heartbeat from {} since {} ({} ago; stale_after is {})",
                agent.as_deref().unwrap_or("the agent"),
                format_ts(last),
                format_duration(idle as u64),
                format_duration(stale_after)
            );
            let to = if exhausted {
                State::Failed
            } else {
                State::Pending
            };
            let path = self.task_path(to, &e.id, None);
            if dry_run {
                out.push(Reclaimed {
                    id: e.id.clone(),
                    agent: agent.clone(),
                    to,
                    reason: reason.clone(),
                    path: path.clone(),
                });
                continue;
            }
            f.append_body(&section(
                "Reclaimed",
                &[
                    ("agent", agent.clone().unwrap_or_default()),
                    ("at", format_ts(now)),
                    ("attempt", format!("{attempt} of {max}")),
                    ("next", next_step(!exhausted)),
                ],
                &reason,
            ));
            let moved = if exhausted {
                self.move_to_failed(&mut f, now)
            } else {
                self.return_to_pending(&mut f)
            };
            match moved {
                Ok(_) => {}
                Err(e @ Error::Duplicate { .. }) => {
                    self.say(format!("the stale claim of {} stays: {e}", t.id));
                    continue;
                }
                Err(e) => return Err(e),
            }
            out.push(Reclaimed {
                id: e.id.clone(),
                agent,
                to,
                reason: reason.clone(),
                path,
            });
            self.commit_point(&format!(
                "reclaim {}: {} ({reason})",
                e.id,
                next_step(!exhausted)
            ))?;
        }
        Ok(out)
    }
}

/// The `- next:` line of a failure or a reclaim.
pub(crate) fn next_step(again: bool) -> String {
    if again {
        "back to pending"
    } else {
        "failed for good"
    }
    .to_string()
}

pub(crate) fn section(title: &str, items: &[(&str, String)], text: &str) -> String {
    let mut s = format!("\n## {title}\n\n");
    for (k, v) in items {
        s.push_str(&format!("- {k}: {v}\n"));
    }
    let text = text.trim_matches('\n');
    if !text.is_empty() {
        s.push('\n');
        s.push_str(text);
        s.push('\n');
    }
    s
}
