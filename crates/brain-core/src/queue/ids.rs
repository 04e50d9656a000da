//! New task ids, `task-YYYY-MM-DD-NNN` (the next number of the day), and the new task's file.
//!
//! Finding the highest number of the day means listing every task folder, which at 100,000
//! tasks costs more than the rest of an `add`. So `.brain/next-id` keeps the last number this
//! machine gave for the day, as a hint. The number after it is used only when no folder holds
//! that id in any spelling of its case: the id's only letters are the four of `task`, so that is
//! 16 stats in each of `pending/`, `completed/` and `failed/`, and a look at the claims in
//! `active/`. Then the file is created without replacing another. When the hint is missing, of
//! another day, torn, or names an id that is taken (another machine's tasks arrived through the
//! remote, a person copied one in), brain lists the folders for the highest number as it always
//! did. A wrong hint costs that listing, never an id given twice.

use std::fs;
use std::io;
use std::path::PathBuf;

use jiff::Timestamp;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::task::State;

/// The hint, under `.brain/`: `<prefix><number>`, the last id this machine gave.
pub const NEXT_ID: &str = "next-id";

impl LockedRepo<'_> {
    /// The next free id `task-YYYY-MM-DD-NNN` for the UTC date of `now` (see the module).
    pub fn next_id(&self, now: Timestamp) -> Result<String> {
        let prefix = format!("task-{}-", now.strftime("%Y-%m-%d"));
        if let Some(n) = self.hinted(&prefix) {
            let id = format!("{prefix}{:03}", n + 1);
            if self.nowhere(&id)? {
                return Ok(id);
            }
        }
        Ok(format!("{prefix}{:03}", self.highest(&prefix)? + 1))
    }

    /// Writes a new pending task. `render` gets the allocated id and returns the file's text.
    /// The file appears atomically and never replaces another.
    pub fn create_pending(
        &self,
        now: Timestamp,
        render: impl Fn(&str) -> String,
    ) -> Result<(String, PathBuf)> {
        self.writable_state_dir(State::Pending)?;
        loop {
            let id = self.next_id(now)?;
            let path = self.task_path(State::Pending, &id, None);
            self.touch(&path);
            match fsutil::create_atomic(&path, render(&id).as_bytes()) {
                Ok(()) => {
                    self.hint(&id);
                    return Ok((id, path));
                }
                // Someone outside brain wrote this name meanwhile: take the next one.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The number in the hint, when it is for `prefix`'s day.
    fn hinted(&self, prefix: &str) -> Option<u64> {
        let text = fs::read_to_string(self.local_dir().join(NEXT_ID)).ok()?;
        text.trim_end().strip_prefix(prefix)?.parse().ok()
    }

    /// Keeps `id` as the hint. Best effort, and written in place: a torn or lost hint only
    /// costs the next `add` a listing.
    fn hint(&self, id: &str) {
        self.ensure_local_dir();
        let _ = fs::write(self.local_dir().join(NEXT_ID), format!("{id}\n"));
    }

    /// Whether no task folder holds `id` (a generated id: `task-` and digits) in any spelling.
    fn nowhere(&self, id: &str) -> Result<bool> {
        let rest = id.strip_prefix("task-").unwrap_or(id);
        for state in [State::Pending, State::Completed, State::Failed] {
            let dir = self.state_dir(state);
            for case in 0..16u8 {
                let word: String = "task"
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        if case & (1 << i) != 0 {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        }
                    })
                    .collect();
                match fs::symlink_metadata(dir.join(format!("{word}-{rest}.md"))) {
                    Ok(_) => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    // A folder that is not one is for the transition to report.
                    Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
                    Err(e) => return Err(Error::io("reading", dir, e)),
                }
            }
        }
        let mut ignored = Vec::new();
        Ok(!self
            .entries(State::Active, &mut ignored)?
            .iter()
            .any(|e| e.id.eq_ignore_ascii_case(id)))
    }

    /// The highest number of `prefix`'s day in any folder, names compared without case.
    fn highest(&self, prefix: &str) -> Result<u64> {
        let mut max = 0u64;
        for state in State::ALL {
            let dir = self.state_dir(state);
            let read = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("reading folder", &dir, e)),
            };
            for ent in read {
                let ent = ent.at("reading folder", &dir)?;
                let name = ent.file_name();
                let Some(name) = name.to_str() else { continue };
                let lower = name.to_ascii_lowercase();
                if let Some(rest) = lower.strip_prefix(prefix) {
                    let digits: &str = rest.split(['.', '-']).next().unwrap_or("");
                    if let Ok(n) = digits.parse::<u64>() {
                        max = max.max(n);
                    }
                }
            }
        }
        Ok(max)
    }
}
