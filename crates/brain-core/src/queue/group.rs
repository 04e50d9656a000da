//! Group commit: transitions that meet at the queue lock share one commit.
//!
//! Without a remote, a locked section does not commit by itself. Its commit messages are
//! appended to `.brain/messages` under a ticket (its paths are already listed in
//! `.brain/uncommitted`, as every change is), and it releases the queue lock; then it takes the
//! lock again and, unless another process committed its ticket meanwhile, commits everything
//! that waits: every path listed and every message, one line each, in one commit. While one
//! process commits, the others do their transitions and queue up behind it, so the next commit
//! takes in all of theirs. A transition is reported only once the commit holding it is made
//! (or has to wait, with the reason: `.brain/committed` keeps each batch's outcome for the
//! processes in it).
//!
//! A process killed between its transition and the commit leaves its message and paths
//! listed, and the next commit takes them in. With a remote every section commits and pushes
//! by itself (a push that is overtaken rolls back only that section).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::fsutil::FileLock;
use crate::queue::LockedRepo;
use crate::queue::journal::Journal;
use crate::queue::locked::commit_waits;
use crate::store::Repo;

/// Commit messages waiting for their commit, one per line: `<ticket>\t<message>`.
pub(crate) const MESSAGES: &str = "messages";
/// The highest ticket handled, then the outcome of the last batches: `<first>\t<last>\t<ok |
/// the reason the commit waits>`.
const COMMITTED: &str = "committed";
/// How many batches' outcomes are kept for processes slow to look.
const OUTCOMES: usize = 64;

/// The outcome of a batch for one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Not handled yet.
    Waiting,
    /// Committed (or nothing was left to commit).
    Committed,
    /// The commit has to wait, for this reason; the changes stay listed.
    Deferred(String),
}

/// The files of the group commit in `.brain/` (see the module's documentation).
#[derive(Debug)]
pub(crate) struct Batch {
    messages: PathBuf,
    committed: PathBuf,
}

impl Batch {
    pub(crate) fn new(local_dir: &Path) -> Batch {
        Batch {
            messages: local_dir.join(MESSAGES),
            committed: local_dir.join(COMMITTED),
        }
    }

    /// The messages waiting, with their tickets, oldest first.
    pub(crate) fn waiting(&self) -> Vec<(u64, String)> {
        fs::read_to_string(&self.messages)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (n, m) = l.split_once('\t')?;
                Some((n.parse().ok()?, unescape(m)))
            })
            .collect()
    }

    /// The highest ticket handled, and the outcomes kept.
    fn handled(&self) -> (u64, Vec<(u64, u64, String)>) {
        let text = fs::read_to_string(&self.committed).unwrap_or_default();
        let mut lines = text.lines();
        let high = lines.next().and_then(|l| l.parse().ok()).unwrap_or(0);
        let outcomes = lines
            .filter_map(|l| {
                let mut p = l.splitn(3, '\t');
                Some((
                    p.next()?.parse().ok()?,
                    p.next()?.parse().ok()?,
                    p.next()?.to_string(),
                ))
            })
            .collect();
        (high, outcomes)
    }

    /// Appends `messages` under a new ticket (while the queue lock is held) and returns it.
    pub(crate) fn append(&self, messages: &[String]) -> u64 {
        let last_waiting = self.waiting().last().map_or(0, |(n, _)| *n);
        let ticket = self.handled().0.max(last_waiting) + 1;
        let mut text = String::new();
        for m in messages {
            text.push_str(&format!("{ticket}\t{}\n", escape(m)));
        }
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.messages)
        {
            let _ = f.write_all(text.as_bytes());
        }
        ticket
    }

    /// What became of `ticket`.
    pub(crate) fn outcome(&self, ticket: u64) -> Outcome {
        let (high, outcomes) = self.handled();
        if ticket > high {
            return Outcome::Waiting;
        }
        // The newest batch that took the ticket in: one whose commit had to wait keeps its
        // messages for the next, which may have been made since.
        match outcomes
            .iter()
            .rev()
            .find(|(first, last, _)| (*first..=*last).contains(&ticket))
        {
            Some((_, _, o)) if o != "ok" => Outcome::Deferred(o.clone()),
            // Committed, or so long ago that its outcome is no longer kept.
            _ => Outcome::Committed,
        }
    }

    /// Records that the tickets up to `last` (from `first`) are handled, with `outcome`
    /// (`None`: committed); a committed batch's messages are removed.
    pub(crate) fn record(&self, first: u64, last: u64, outcome: Option<&str>) {
        let (high, mut outcomes) = self.handled();
        outcomes.push((
            first,
            last,
            outcome.unwrap_or("ok").replace(['\n', '\t'], " "),
        ));
        let keep = outcomes.len().saturating_sub(OUTCOMES);
        let mut text = format!("{}\n", high.max(last));
        for (f, l, o) in &outcomes[keep..] {
            text.push_str(&format!("{f}\t{l}\t{o}\n"));
        }
        // Derived bookkeeping in .brain/, rewritten atomically, not fsynced: lost in a crash,
        // the waiting messages and paths are simply committed again.
        let _ = crate::fsutil::write_atomic_nosync(&self.committed, text.as_bytes());
        if outcome.is_none() {
            let _ = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.messages);
        }
    }
}

/// How recent the waiting messages must be for their transitions to count as on their way to
/// a commit (rather than left by a process killed before it).
const IN_FLIGHT: Duration = Duration::from_secs(5);

/// How long after its section a transition that replaced a file waits before it carries over
/// what was appended to the old one (see [`LockedRepo::finish_grouped`]).
const LATE_GRACE: Duration = Duration::from_millis(10);

impl LockedRepo<'_> {
    /// The paths listed for a commit that another process is about to make: its transitions
    /// handed their messages over within [`IN_FLIGHT`] and no batch took them in yet (a group
    /// commit between its two lock sections, or `brain run`, which commits about once a
    /// second), relative to the repo, with `/`. `brain doctor` does not report these as
    /// changes no commit had.
    pub(crate) fn on_their_way(&self) -> std::collections::HashSet<String> {
        let batch = Batch::new(&self.local_dir());
        let fresh = fs::metadata(&batch.messages)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < IN_FLIGHT));
        let high = batch.handled().0;
        if fresh && batch.waiting().iter().any(|(n, _)| *n > high) {
            let paths = self.uncommitted_paths().into_iter();
            paths.map(|p| crate::fsutil::slashed(&p)).collect()
        } else {
            Default::default()
        }
    }

    /// Appends this section's messages to the batch (the lock is held) and returns their
    /// ticket, if it had any.
    pub(super) fn hand_over(&self) -> Option<u64> {
        let messages = std::mem::take(&mut *self.messages.borrow_mut());
        (self.group && !messages.is_empty())
            .then(|| Batch::new(&self.local_dir()).append(&messages))
    }

    /// Commits this section's messages, and everything else that waits, now (the lock is
    /// held).
    pub(super) fn commit_group_now(&self) {
        let ticket = self.hand_over();
        if let Some(why) = commit_waiting(self.repo)
            && ticket.is_some()
        {
            self.say(commit_waits(&why));
        }
    }

    /// The end of a section with group commits: hands its messages over, releases the lock,
    /// makes its renames durable, then takes the lock again for the commit, unless another
    /// process made it meanwhile (or this process commits lazily, see
    /// [`Repo::commit_lazily`]). Returns once the transition is committed or its commit has
    /// to wait.
    ///
    /// What a writer that opened a replaced file just before the replace appends to it a
    /// moment after is carried over in the second section, at least [`LATE_GRACE`] after the
    /// first (the commit made inside the section used to give such a write that time).
    pub(super) fn finish_grouped(mut self) -> Result<Vec<String>> {
        let lazy = self.repo.lazy.on.load(Ordering::SeqCst);
        if lazy {
            self.carry_late_appends()?;
        }
        self.commit_point("brain: update the queue")?;
        let ticket = self.hand_over();
        let ended = Instant::now();
        let late = !self.replaced.borrow().is_empty();
        self.sync_deferred()?;
        if lazy {
            if ticket.is_some() {
                self.repo.lazy.since().get_or_insert_with(Instant::now);
            }
            return Ok(self.take_notes());
        }
        if ticket.is_none() && !late {
            return Ok(self.take_notes());
        }
        if late {
            std::thread::sleep(LATE_GRACE.saturating_sub(ended.elapsed()));
        }
        self.lock = Some(FileLock::acquire(&self.local_dir().join("lock"))?);
        // Other transitions ran in between: nothing read in the first section is trusted.
        *self.active.borrow_mut() = None;
        let batch = Batch::new(&self.local_dir());
        let mut outcome = ticket.map_or(Outcome::Committed, |t| batch.outcome(t));
        if late {
            self.carry_late_appends()?;
            if !self.journal.untouched() {
                self.journal.forget();
                self.messages
                    .borrow_mut()
                    .push("brain: keep what was appended to a file while brain replaced it".into());
                if self.hand_over().is_some() {
                    outcome = Outcome::Waiting;
                }
            }
        }
        if outcome == Outcome::Waiting {
            outcome = match commit_waiting(self.repo) {
                None => Outcome::Committed,
                Some(why) => Outcome::Deferred(why),
            };
        }
        self.sync_deferred()?;
        if let Outcome::Deferred(why) = outcome {
            self.say(commit_waits(&why));
        }
        Ok(self.take_notes())
    }
}

impl Repo {
    /// Whether transitions share commits: with git, and without a remote (where every
    /// transition is pushed before it is reported).
    pub(crate) fn groups_commits(&self) -> bool {
        self.git().is_some() && self.remote().is_none()
    }

    /// Lets this process's transitions wait for their commit, to be committed together by
    /// [`Repo::commit_waiting`] (`brain run`, which calls it at least every second or so and
    /// at its end). Changes nothing with a remote, where every transition is pushed before it
    /// is reported.
    pub fn commit_lazily(&self, on: bool) {
        self.lazy.on.store(on, Ordering::SeqCst);
    }

    /// Whether a transition of this process has waited `at_least` this long for its commit
    /// (with [`Repo::commit_lazily`]).
    pub fn commit_due(&self, at_least: Duration) -> bool {
        self.lazy.since().is_some_and(|t| t.elapsed() >= at_least)
    }

    /// Commits every transition that waits for its commit, under the queue lock. Returns the
    /// reason when the commit has to wait (the changes stay listed for the next one).
    pub fn commit_waiting(&self) -> Result<Option<String>> {
        *self.lazy.since() = None;
        if !self.groups_commits() {
            return Ok(None);
        }
        let _lock = FileLock::acquire(&self.local_dir().join("lock"))?;
        Ok(commit_waiting(self))
    }
}

/// Commits every path listed in `.brain/uncommitted` with every message waiting, as one
/// commit (the queue lock is held). Returns the reason when the commit has to wait.
fn commit_waiting(repo: &Repo) -> Option<String> {
    let git = repo.git()?;
    let batch = Batch::new(&repo.local_dir());
    let waiting = batch.waiting();
    let journal = Journal::new(repo.root(), &repo.local_dir(), true);
    let mut paths: Vec<PathBuf> = journal.listed().into_iter().collect();
    paths.sort();
    let (first, last) = match (waiting.first(), waiting.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => (0, 0),
    };
    if paths.is_empty() {
        if last > 0 {
            batch.record(first, last, None);
        }
        return None;
    }
    let messages: Vec<String> = waiting.into_iter().map(|(_, m)| m).collect();
    let text = format!(
        "{}\n\n{}: {}",
        message(&messages),
        crate::git::MACHINE_TRAILER,
        crate::config::machine_name()
    );
    match git.commit_paths(&paths, &text) {
        Ok(made) => {
            journal.clear();
            batch.record(first, last, None);
            // Commits are made with plumbing, which never packs objects: about once every
            // 100 commits, let git decide whether it is time.
            if made.is_some() && crate::random_u64().is_multiple_of(100) {
                git.maintain();
            }
            None
        }
        Err(e) => {
            let why = e.to_string();
            batch.record(first, last, Some(&why));
            Some(why)
        }
    }
}

/// One commit message for the transitions of a batch: the first one's line, with how many
/// more there are, and then every one on its own line, so that `git log` says what happened
/// to each task.
pub(crate) fn message(messages: &[String]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for m in messages {
        if !unique.contains(&m.as_str()) {
            unique.push(m);
        }
    }
    match unique.as_slice() {
        [] => "brain: update the queue".to_string(),
        [one] => (*one).to_string(),
        [first, rest @ ..] => {
            let subject = first.lines().next().unwrap_or_default();
            let mut text = format!("{subject} (and {} more)\n\n", rest.len());
            for m in &unique {
                text.push_str(&m.replace('\n', " "));
                text.push('\n');
            }
            text.truncate(text.trim_end().len());
            text
        }
    }
}

fn escape(m: &str) -> String {
    m.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\t', "\\t")
}

fn unescape(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut chars = m.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_outcomes_and_messages() {
        let dir = tempfile::tempdir().unwrap();
        let b = Batch::new(dir.path());
        let a = b.append(&["claim x by a (epoch 1)".into()]);
        let c = b.append(&["done x\nwith\ta tab \\ and more".into(), "two".into()]);
        assert_eq!((a, c), (1, 2));
        assert_eq!(b.outcome(a), Outcome::Waiting);
        let waiting = b.waiting();
        assert_eq!(waiting.len(), 3);
        assert_eq!(
            waiting[1],
            (2, "done x\nwith\ta tab \\ and more".to_string())
        );
        b.record(1, 2, Some("index.lock is held"));
        assert_eq!(b.outcome(2), Outcome::Deferred("index.lock is held".into()));
        // Kept until committed: the next batch takes them in.
        assert_eq!(b.waiting().len(), 3);
        let d = b.append(&["three".into()]);
        assert_eq!(d, 3);
        b.record(1, 3, None);
        assert_eq!(b.outcome(3), Outcome::Committed);
        assert_eq!(
            b.outcome(2),
            Outcome::Committed,
            "committed by the batch after the one that had to wait"
        );
        assert!(b.waiting().is_empty());
        assert_eq!(b.append(&["four".into()]), 4, "tickets never repeat");
        assert_eq!(message(&["one".into()]), "one");
        assert_eq!(
            message(&["a".into(), "b".into(), "a".into()]),
            "a (and 1 more)\n\na\nb"
        );
    }
}
