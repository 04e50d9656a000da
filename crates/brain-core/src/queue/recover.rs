//! Recovering what interrupted transitions and the world left in `tasks/active/`: a move
//! half made, a claim cut short, a hand claim to take in, a task that left without brain.

use std::fs;
use std::path::Path;

use jiff::Timestamp;

use crate::error::Result;
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::queue::claim::CLAIMING;
use crate::queue::locked::{rel, rels};
use crate::store::Entry;
use crate::task::frontmatter::FieldValue;
use crate::task::time::format_ts;
use crate::task::{State, Task};

/// Where an active task was going when the process moving it was killed: its `status` names
/// another folder and the transition had written what it writes first (`completed_at`,
/// `failed_at`, or, on a return to pending, `claimed_by` still set).
pub fn unfinished_move(t: &Task) -> Option<State> {
    let m = &t.meta;
    match m.status.as_deref().and_then(State::parse)? {
        State::Completed if m.completed_at.is_some() => Some(State::Completed),
        State::Failed if m.failed_at.is_some() => Some(State::Failed),
        // Returns to pending keep `claimed_by` until the file is in pending/; a hand move from
        // pending/ never has it.
        State::Pending if m.claimed_by.is_some() => Some(State::Pending),
        _ => None,
    }
}

/// Whether an active task was moved in by hand and not taken in yet: brain's own claims always
/// have `status: active` and `claimed_at`, and so does a hand claim once recovered (so an
/// unnamed one is not taken in again by every later transition).
pub fn is_hand_claim(t: &Task) -> bool {
    t.state == State::Active
        && unfinished_move(t).is_none()
        && (t.meta.status.as_deref() != Some(State::Active.as_str()) || t.meta.claimed_at.is_none())
}

impl LockedRepo<'_> {
    /// Completes what interrupted transitions and hand moves left behind, in `active/`:
    /// a claim cut short before its fields were written goes back to pending; a file whose
    /// `status` says it was on its way to another folder is moved there; a file moved in by
    /// hand (no `claimed_by`, or `status` not `active`) becomes a proper claim of the agent in
    /// its name, with a new epoch; a task that left `active/` without brain (an agent that
    /// moved or deleted its own file) is recorded as gone from there. Returns what it changed.
    pub fn recover(&self, now: Timestamp) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        self.undo_cut_short_claim(&mut notes)?;
        self.record_departures(&mut notes)?;
        for t in self.active_tasks()? {
            let unfinished = unfinished_move(&t);
            if unfinished.is_none() && !is_hand_claim(&t) {
                continue;
            }
            let e = Entry::from(&t);
            let Ok(mut f) = self.read(&e) else { continue };
            if let Some(to_state) = unfinished {
                // A move whose place is taken is left to `brain doctor`, not tried again by
                // every command.
                if fs::symlink_metadata(self.task_path(to_state, &e.id, None)).is_ok() {
                    continue;
                }
                let to = self.write_and_move(&mut f, to_state)?;
                if to_state == State::Pending {
                    self.clear_claim(&mut f, &to)?;
                }
                notes.push(format!(
                    "{}: finished an interrupted move to tasks/{to_state}/",
                    e.id
                ));
                continue;
            }
            let others = self.elsewhere(&e.id, &e.path)?;
            if !others.is_empty() {
                notes.push(format!(
                    "{}: {} was moved into tasks/active/ by hand, but the task also has {}; it is not taken in as a claim (run `brain doctor`)",
                    e.id,
                    rel(self, &e.path),
                    rels(self, &others)
                ));
                continue;
            }
            let agent = f.task.claimant();
            let stamp = FieldValue::Str(format_ts(now));
            let mut fields = vec![
                ("status", FieldValue::Str("active".into())),
                ("epoch", FieldValue::Int(f.task.meta.epoch + 1)),
                (
                    "attempt",
                    FieldValue::Int(u64::from(f.task.meta.attempt) + 1),
                ),
                ("claimed_at", stamp.clone()),
                ("heartbeat_at", stamp),
            ];
            if let Some(a) = &agent {
                fields.push(("claimed_by", FieldValue::Str(a.clone())));
            }
            f.set_all(&fields)?;
            self.save_task(&mut f)?;
            // The folder it came from is part of the move: HEAD must not keep the task in two
            // folders (a clone would see it pending, and claim it again).
            for state in [State::Pending, State::Completed, State::Failed] {
                self.touch(&self.task_path(state, &e.id, None));
            }
            self.note_active(&f.task);
            notes.push(format!(
                "{}: took the file moved into active/ by hand as {}'s claim (epoch {})",
                e.id,
                agent.as_deref().unwrap_or("an unnamed agent"),
                f.task.meta.epoch
            ));
        }
        if !notes.is_empty() {
            self.commit_point(&format!("recover: {}", notes.join("; ")))?;
        }
        Ok(notes)
    }

    /// A claim whose process stopped (killed, or the disk full) after its rename and before
    /// its fields were written: the file goes back to pending, since nobody got its token.
    fn undo_cut_short_claim(&self, notes: &mut Vec<String>) -> Result<()> {
        let journal = self.local_dir().join(CLAIMING);
        let Ok(text) = fs::read_to_string(&journal) else {
            return Ok(());
        };
        let rel_path = text.trim();
        if rel_path.is_empty() {
            return Ok(());
        }
        let path = self.root().join(rel_path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let crate::store::Name::Task {
            id,
            agent: Some(agent),
        } = crate::store::classify(State::Active, name)
            && let Ok(f) = self.read(&Entry {
                id: id.clone(),
                state: State::Active,
                agent: Some(agent.clone()),
                path: path.clone(),
            })
            && is_hand_claim(&f.task)
        {
            let back = self.task_path(State::Pending, &id, None);
            self.touch(&path);
            self.touch(&back);
            if fsutil::rename_noreplace(&path, &back).is_ok() {
                self.defer_sync(&back);
                self.forget_active();
                notes.push(format!(
                    "{id}: a claim by {agent} was cut short before it was written, so nobody got its token; the task is back in tasks/pending/"
                ));
            }
        }
        let _ = fs::write(&journal, "");
        Ok(())
    }

    /// Records the tasks that left `active/` without brain: HEAD has their file there and the
    /// folder does not, and no transition of brain's is waiting to be committed for it. Their
    /// deletion (and their new place, when they were moved) goes into a commit of its own.
    fn record_departures(&self, notes: &mut Vec<String>) -> Result<()> {
        let Some(git) = self.git() else {
            return Ok(());
        };
        let Some(in_head) = git.names_in_head("tasks/active")? else {
            return Ok(());
        };
        let dir = self.state_dir(State::Active);
        let on_disk: std::collections::HashSet<String> = fs::read_dir(&dir)
            .map(|r| {
                r.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        let waiting = self.uncommitted_paths();
        for name in in_head {
            if on_disk.contains(&name) {
                continue;
            }
            let rel_path = Path::new(crate::store::TASKS_DIR)
                .join("active")
                .join(&name);
            if waiting.contains(&rel_path) {
                continue;
            }
            let crate::store::Name::Task { id, .. } = crate::store::classify(State::Active, &name)
            else {
                continue;
            };
            self.touch(&self.root().join(&rel_path));
            let mut now_in = None;
            for state in [State::Pending, State::Completed, State::Failed] {
                let p = self.task_path(state, &id, None);
                self.touch(&p);
                if now_in.is_none() && fs::symlink_metadata(&p).is_ok() {
                    now_in = Some(state);
                }
            }
            notes.push(match now_in {
                Some(state) => format!(
                    "{id} left tasks/active/ without brain: {name} is now in tasks/{state}/"
                ),
                None => format!(
                    "{id} left tasks/active/ without brain: {name} was deleted (git keeps its history)"
                ),
            });
        }
        Ok(())
    }
}
