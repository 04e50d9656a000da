//! Several machines, one queue: the git remote is the arbiter (SPEC §4).
//!
//! With `[git] remote` set, every locked section runs like this:
//!
//! 1. **Catch up** (`Section::catch_up`, when the lock is taken): fetch the remote branch;
//!    undo what a killed process here committed but never pushed, or changed but never
//!    committed; then fast-forward the working tree to the remote tip. The user's staged and
//!    unstaged work is carried over as `git checkout` does; git refuses, and nothing changes,
//!    where a file to be updated has local changes. Commits waiting here (the local branch is
//!    ahead) are pushed first.
//! 2. **Transition**: as without a remote, one commit each.
//! 3. **Publish** (`Section::publish`, when the section finishes): a plain push, which the
//!    remote accepts only as a fast-forward. Accepted: the transition is real. Rejected: another machine got there
//!    first; the commits are undone here (`Section::roll_back`), and the caller runs the
//!    whole section again against the new tip ([`Error::Overtaken`]), where a claim moves on to
//!    the next task. Nothing is ever merged or rebased.
//!
//! A section that fails after committing, or a process killed before its push, leaves commits
//! that were never pushed; they are undone in the same way (at once, or by the next catch-up),
//! because a transition the remote never took never happened.
//!
//! Uses git and the section's `Journal`; the guard (`crate::queue::LockedRepo`) holds a
//! [`Section`] and calls it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::config::GitConfig;
use crate::error::{Error, Result};
use crate::git::{Git, Push};
use crate::queue::journal::Journal;

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

impl Section {
    /// Brings the local branch and working tree to the remote's tip (step 1 above).
    pub(crate) fn catch_up(
        git: &Git,
        config: &GitConfig,
        local: &Path,
        remote: &str,
        journal: &Journal,
    ) -> Result<Section> {
        let branch = match &config.branch {
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
        let list = local.join(UNPUBLISHED);
        if let Ok(text) = fs::read_to_string(&list) {
            let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
            if let (Some(base), Some(last)) = (lines.first(), lines.last())
                && lines.len() > 1
                && *last == head
                && !remote_has(&head)?
            {
                undo_uncommitted(git, journal)?;
                git.switch(&head, base)?;
                head = base.to_string();
            }
            let _ = fs::remove_file(&list);
        }
        // And so were changes a killed process made and never committed.
        undo_uncommitted(git, journal)?;
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
    pub(crate) fn note_commit(&mut self, local: &Path, commit: String) {
        use std::io::Write;
        let path = local.join(UNPUBLISHED);
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&path) {
            if self.own.is_empty() {
                let _ = writeln!(f, "{}", self.base);
            }
            let _ = writeln!(f, "{commit}");
        }
        self.own.push(commit);
    }

    /// Pushes this section's commits (step 3 above). On rejection they are undone here and the
    /// result is [`Error::Overtaken`]: run the section again.
    pub(crate) fn publish(&mut self, git: &Git, local: &Path, journal: &Journal) -> Result<()> {
        let Some(last) = self.own.last().cloned() else {
            return Ok(());
        };
        let (remote, branch, base) = (self.remote.clone(), self.branch.clone(), self.base.clone());
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
                self.own.clear();
                let _ = fs::remove_file(local.join(UNPUBLISHED));
                Ok(())
            }
            Ok(Push::Rejected) => {
                self.roll_back(git, local, journal)?;
                Err(Error::Overtaken(1))
            }
            Err(e) => {
                self.roll_back(git, local, journal)?;
                Err(e)
            }
        }
    }

    /// Undoes what this section changed and did not get pushed, so that the working tree and
    /// the branch are as they were when it started.
    pub(crate) fn roll_back(&mut self, git: &Git, local: &Path, journal: &Journal) -> Result<()> {
        let own = std::mem::take(&mut self.own);
        undo_uncommitted(git, journal)?;
        let Some(last) = own.last() else {
            return Ok(());
        };
        let head = git.head()?.unwrap_or_default();
        if head != *last {
            return Err(Error::Diverged(format!(
                "a commit ({head}) was made on top of brain's unpushed commit {last} while brain worked; brain leaves both as they are. Push or undo them yourself, then run `brain sync`"
            )));
        }
        git.switch(&head, &self.base)?;
        let _ = fs::remove_file(local.join(UNPUBLISHED));
        Ok(())
    }
}

/// Restores the files changed since the last commit (a section's, and those a killed process
/// listed in `.brain/uncommitted`) to their committed content.
fn undo_uncommitted(git: &Git, journal: &Journal) -> Result<()> {
    let paths = journal.take();
    // Logs are only ever added to, and what an agent printed must not be lost: they stay, and
    // the next commit takes them in.
    let (logs, undo): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.into_iter().partition(|p| p.starts_with("logs"));
    git.restore(&undo)?;
    journal.clear();
    for p in &logs {
        journal.touch(p);
    }
    Ok(())
}
