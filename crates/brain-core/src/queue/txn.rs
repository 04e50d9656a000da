//! Transactions: the one way a front end changes the queue.
//!
//! [`Repo::transact`] runs a closure as one locked section, with everything a section needs
//! around it: take the queue lock (and, with a remote, catch up with it), finish what killed
//! processes and hand moves left (`recover`), run the closure, carry over what was appended to
//! files it replaced, commit what is left, push (with a remote), release the lock, and make the
//! renames durable. When another machine's push overtook it (SPEC §4), the section is rolled
//! back and run again from the start, with a short, growing, random pause, up to
//! [`ATTEMPTS`] times. What the section said ([`LockedRepo::say`]) comes back with its result,
//! once, from the attempt that counted.
//!
//! The guard, [`LockedRepo`], is only ever handed to the closure: there is no other way to get
//! one outside this crate, so no front end mutates the queue around a transaction.

use jiff::Timestamp;

use crate::error::{Error, Result};
use crate::queue::LockedRepo;
use crate::store::Repo;

/// How many times a section overtaken by other machines is run again before it gives up.
pub const ATTEMPTS: u32 = 200;

/// What a locked section handed back: its result, and what it said, for the front end to show
/// (once: a section that was run again says things from its last run only).
#[derive(Debug)]
#[must_use = "a transaction's notes are for the person: show them"]
pub struct Transaction<T> {
    pub result: Result<T>,
    pub notes: Vec<String>,
}

impl<T> Transaction<T> {
    /// The result and the notes.
    pub fn into_parts(self) -> (Result<T>, Vec<String>) {
        (self.result, self.notes)
    }
}

/// What kind of locked section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A change of the queue: catch up, recover, run, commit, push. Every transition.
    Change,
    /// A change that recovers by itself (`doctor --fix`, which reports what it recovered).
    Repair,
    /// Only looking, consistently, under the lock: no catch-up with the remote (it works
    /// offline), no recovery, no commit (`doctor` without `--fix`, `run --dry-run`).
    Look,
}

impl Repo {
    /// Runs `f` as one transaction: see the module's documentation.
    pub fn transact<T>(
        &self,
        now: Timestamp,
        f: impl FnMut(&LockedRepo<'_>) -> Result<T>,
    ) -> Transaction<T> {
        self.section(Kind::Change, now, f)
    }

    /// [`Repo::transact`] of a given [`Kind`].
    pub fn section<T>(
        &self,
        kind: Kind,
        now: Timestamp,
        mut f: impl FnMut(&LockedRepo<'_>) -> Result<T>,
    ) -> Transaction<T> {
        let mut notes = Vec::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            notes.clear();
            let result = self.attempt(kind, now, &mut f, &mut notes);
            match result {
                Err(Error::Overtaken(_)) if attempt < ATTEMPTS => {
                    // A short, growing, random pause, so that machines that collided do not
                    // collide again in step.
                    let jitter = crate::random_u64() % 20;
                    let pause = u64::from(attempt.min(10)) * 5 + jitter;
                    std::thread::sleep(std::time::Duration::from_millis(pause));
                }
                Err(Error::Overtaken(_)) => {
                    return Transaction {
                        result: Err(Error::Overtaken(attempt)),
                        notes: Vec::new(),
                    };
                }
                result => {
                    // A section that failed with a remote was rolled back: what it did did
                    // not happen, and what it said is not true.
                    if result.is_err() && self.remote().is_some() {
                        notes.clear();
                    }
                    return Transaction { result, notes };
                }
            }
        }
    }

    fn attempt<T>(
        &self,
        kind: Kind,
        now: Timestamp,
        f: &mut impl FnMut(&LockedRepo<'_>) -> Result<T>,
        notes: &mut Vec<String>,
    ) -> Result<T> {
        let locked = match kind {
            Kind::Look => self.lock_offline()?,
            Kind::Change | Kind::Repair => self.lock()?,
        };
        if kind == Kind::Change {
            let recovered = locked.recover(now);
            notes.extend(locked.take_notes());
            notes.extend(recovered?);
        }
        let out = f(&locked);
        notes.extend(locked.take_notes());
        let out = out?;
        notes.extend(locked.finish()?);
        Ok(out)
    }
}

impl LockedRepo<'_> {
    /// Ends the section: carries late appends over, commits what is left, pushes it (with a
    /// remote), releases the lock, then fsyncs the folders whose renames it made, so that the
    /// next process can go on while this one waits for the disk. A transaction reports
    /// success only after this returns: every transition is durable before it is
    /// acknowledged, and the lock only orders them. Returns what the section said that was
    /// not taken yet.
    pub(crate) fn finish(mut self) -> Result<Vec<String>> {
        if self.group {
            // The late appends are carried in the second section, which waits for them.
            return self.finish_grouped();
        }
        self.carry_late_appends()?;
        self.commit_point("brain: update the queue")?;
        self.publish()?;
        self.sync_deferred()?;
        Ok(self.take_notes())
    }
}
