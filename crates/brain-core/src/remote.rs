//! Several machines, one queue: the git remote is the arbiter (SPEC §4).
//!
//! With `[git] remote` set, every locked section runs like this:
//!
//! 1. **Catch up** ([`LockedRepo::catch_up`], when the lock is taken): fetch the remote branch;
//!    undo what a killed process here committed but never pushed, or changed but never
//!    committed; then fast-forward the working tree to the remote tip. The user's staged and
//!    unstaged work is carried over as `git checkout` does; git refuses, and nothing changes,
//!    where a file to be updated has local changes. Commits waiting here (the local branch is
//!    ahead) are pushed first.
//! 2. **Transition**: as without a remote, one commit each.
//! 3. **Publish** ([`LockedRepo::finish`]): a plain push, which the remote accepts only as a
//!    fast-forward. Accepted: the transition is real. Rejected: another machine got there
//!    first; the commits are undone here ([`LockedRepo::roll_back`]), and the caller runs the
//!    whole section again against the new tip ([`Error::Overtaken`]), where a claim moves on to
//!    the next task. Nothing is ever merged or rebased.
//!
//! A section that fails after committing, or a process killed before its push, leaves commits
//! that were never pushed; they are undone in the same way (at once, or by the next catch-up),
//! because a transition the remote never took never happened.

use std::fs;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::git::{Git, Push};
use crate::repo::LockedRepo;

/// Under the local folder: the commit a section started from, then the commits it made, while
/// they are not pushed yet.
pub const UNPUBLISHED: &str = "unpublished";

/// A trailer that makes a commit unique: `Brain-Attempt: <random hex>`.
pub(crate) fn nonce() -> String {
    format!("Brain-Attempt: {:016x}", crate::random_u64())
}

/// A locked section's view of the remote.
#[derive(Debug)]
pub struct Section {
    pub remote: String,
    pub branch: String,
    /// HEAD when the section started: the remote's tip.
    pub base: String,
    /// Commits made in this section, oldest first, not pushed yet.
    pub own: Vec<String>,
    /// Commits the catch-up brought in from the remote.
    pub fetched: u64,
    /// Commits the catch-up pushed that were waiting here.
    pub published: u64,
}

impl LockedRepo<'_> {
    fn git_or_err(&self) -> Result<&Git> {
        self.git().ok_or_else(|| {
            Error::Invalid("[git] remote is set but the brain repo is not committed to git".into())
        })
    }

    /// Brings the local branch and working tree to the remote's tip (step 1 above).
    pub(crate) fn catch_up(&self, remote: &str) -> Result<Section> {
        let git = self.git_or_err()?;
        let branch = match &self.config().git.branch {
            Some(b) => b.clone(),
            None => git.branch()?,
        };
        let tip = git.fetch(remote, &branch)?;
        let mut head = git.head()?.ok_or_else(|| Error::Git {
            command: "rev-parse".into(),
            message: "the repository has no commit yet".into(),
        })?;
        let remote_has = |commit: &str| -> Result<bool> {
            match &tip {
                Some(t) => git.is_ancestor(commit, t),
                None => Ok(false),
            }
        };
        // Commits a killed process made and never pushed were never real.
        let list = self.local_dir().join(UNPUBLISHED);
        if let Ok(text) = fs::read_to_string(&list) {
            let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            if let (Some(base), Some(last)) = (lines.first(), lines.last())
                && lines.len() > 1
                && *last == head
                && !remote_has(&head)?
            {
                self.undo_uncommitted()?;
                git.switch(&head, base)?;
                head = base.to_string();
            }
            let _ = fs::remove_file(&list);
        }
        // And so were changes a killed process made and never committed.
        self.undo_uncommitted()?;
        let (mut fetched, mut published) = (0, 0);
        match &tip {
            Some(t) if *t == head => {}
            Some(t) if git.is_ancestor(&head, t)? => {
                fetched = git.ahead_behind(&head, t)?.1;
                git.switch(&head, t)?;
                head = t.clone();
            }
            Some(t) if !git.is_ancestor(t, &head)? => {
                let (ahead, behind) = git.ahead_behind(&head, t)?;
                return Err(Error::Diverged(format!(
                    "the branch `{branch}` here and on `{remote}` have both moved on ({ahead} commit(s) only here, {behind} only there); brain never merges or rebases the queue. Bring them together yourself (for example `git pull --rebase {remote} {branch}`), then run the command again"
                )));
            }
            _ => {
                // The local branch is ahead (or the remote has no such branch yet): publish
                // what is waiting here first.
                published = match &tip {
                    Some(t) => git.ahead_behind(&head, t)?.0,
                    None => 1,
                };
                if git.push(remote, &branch)? == Push::Rejected {
                    return Err(Error::Overtaken(1));
                }
            }
        }
        Ok(Section {
            remote: remote.to_string(),
            branch,
            base: head,
            own: Vec::new(),
            fetched,
            published,
        })
    }

    /// Records a commit this section made, first in `.brain/unpublished` so that a process
    /// killed before its push leaves the record for the next catch-up.
    pub(crate) fn note_commit(&self, commit: String) {
        let mut remote = self.remote.borrow_mut();
        let Some(section) = remote.as_mut() else {
            return;
        };
        use std::io::Write;
        let path = self.local_dir().join(UNPUBLISHED);
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&path) {
            if section.own.is_empty() {
                let _ = writeln!(f, "{}", section.base);
            }
            let _ = writeln!(f, "{commit}");
        }
        section.own.push(commit);
    }

    /// Pushes this section's commits (step 3 above). On rejection they are undone here and the
    /// result is [`Error::Overtaken`]: run the section again.
    pub(crate) fn publish(&self) -> Result<()> {
        let (remote, branch) = match self.remote.borrow().as_ref() {
            Some(s) if !s.own.is_empty() => (s.remote.clone(), s.branch.clone()),
            _ => return Ok(()),
        };
        let git = self.git_or_err()?;
        let (base, last) = match self.remote.borrow().as_ref() {
            Some(s) => (s.base.clone(), s.own.last().cloned().unwrap_or_default()),
            None => return Ok(()),
        };
        let pushed = match git.push(&remote, &branch) {
            // A push that failed in a way its output does not make clear (two pushes racing on
            // the remote can fail with other messages than "rejected"): ask the remote what
            // happened. It took our commits, it moved on without them, or it did not move.
            Err(Error::Remote { message, .. }) => match git.fetch(&remote, &branch) {
                Ok(Some(tip)) if git.is_ancestor(&last, &tip).unwrap_or(false) => {
                    Ok(Push::Accepted)
                }
                Ok(Some(tip)) if tip != base => Ok(Push::Rejected),
                _ => Err(Error::Remote {
                    remote: remote.clone(),
                    message,
                }),
            },
            other => other,
        };
        match pushed {
            Ok(Push::Accepted) => {
                if let Some(s) = self.remote.borrow_mut().as_mut() {
                    s.own.clear();
                }
                let _ = fs::remove_file(self.local_dir().join(UNPUBLISHED));
                Ok(())
            }
            Ok(Push::Rejected) => {
                self.roll_back()?;
                Err(Error::Overtaken(1))
            }
            Err(e) => {
                self.roll_back()?;
                Err(e)
            }
        }
    }

    /// With a remote: undoes what this section changed and did not get pushed, so that the
    /// working tree and the branch are as they were when it started. Without one: nothing (a
    /// local transition is real once it is on disk, and `recover` finishes it).
    pub(crate) fn roll_back(&self) -> Result<()> {
        let Some((base, own)) = self
            .remote
            .borrow_mut()
            .as_mut()
            .map(|s| (s.base.clone(), std::mem::take(&mut s.own)))
        else {
            return Ok(());
        };
        self.undo_uncommitted()?;
        let Some(last) = own.last() else {
            return Ok(());
        };
        let git = self.git_or_err()?;
        let head = git.head()?.unwrap_or_default();
        if head != *last {
            return Err(Error::Diverged(format!(
                "a commit ({head}) was made on top of brain's unpushed commit {last} while brain worked; brain leaves both as they are. Push or undo them yourself, then run `brain sync`"
            )));
        }
        git.switch(&head, &base)?;
        let _ = fs::remove_file(self.local_dir().join(UNPUBLISHED));
        Ok(())
    }

    /// Restores the files changed since the last commit (this section's, and those a killed
    /// process listed in `.brain/uncommitted`) to their committed content.
    fn undo_uncommitted(&self) -> Result<()> {
        let git = self.git_or_err()?;
        let paths = self.take_changed();
        // Logs are only ever added to, and what an agent printed must not be lost: they stay,
        // and the next commit takes them in.
        let (logs, undo): (Vec<PathBuf>, Vec<PathBuf>) =
            paths.into_iter().partition(|p| p.starts_with("logs"));
        git.restore(&undo)?;
        self.clear_uncommitted();
        for p in &logs {
            self.touch(&self.root().join(p));
        }
        self.forget_active();
        Ok(())
    }

    /// What the catch-up of this section did: commits brought in from the remote, and commits
    /// that were waiting here and got pushed (`brain sync` reports them).
    pub fn synced(&self) -> Option<(u64, u64)> {
        self.remote
            .borrow()
            .as_ref()
            .map(|s| (s.fetched, s.published))
    }
}
