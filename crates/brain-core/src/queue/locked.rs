//! The queue lock and [`LockedRepo`], the only type that can change the queue: what a locked
//! section writes, lists for its commit, fsyncs once the lock is released, and says.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::fsutil::{self, FileLock};
use crate::queue::journal::Journal;
use crate::queue::remote::Section;
use crate::store::Repo;
use crate::task::{State, Task};

/// The repo while this process holds the queue lock. Only this type can change the queue.
pub struct LockedRepo<'a> {
    pub(super) repo: &'a Repo,
    /// Released before the deferred folder fsyncs run (see [`LockedRepo::finish`]).
    pub(super) lock: Option<FileLock>,
    /// Folders whose renames still need an fsync to be durable.
    pub(super) unsynced: std::cell::RefCell<Vec<PathBuf>>,
    /// Paths changed since the last commit (see [`LockedRepo::commit_point`]).
    pub(super) journal: Journal,
    /// The active claims, read once per locked section and kept exact by every transition
    /// (see [`LockedRepo::active_tasks`]).
    pub(super) active: std::cell::RefCell<Option<Vec<Task>>>,
    /// With a remote: where this section started and the commits it made, not yet pushed.
    pub(super) remote: std::cell::RefCell<Option<Section>>,
    /// Files written and fsynced before the lock was taken (see [`Prepared`]).
    pub(super) prepared: std::cell::RefCell<Vec<Prepared>>,
    /// Taken by [`Repo::lock_offline`]: commits nothing.
    pub(super) read_only: bool,
    /// What the section has to say (see [`LockedRepo::say`]).
    pub(super) notes: std::cell::RefCell<Vec<String>>,
    /// Set once a commit of this section could not be made (see [`LockedRepo::commit_point`]).
    pub(super) deferred: std::cell::Cell<bool>,
    /// Files this section replaced, still open, with where their text is now (see
    /// [`LockedRepo::carry_late_appends`]).
    pub(super) replaced: std::cell::RefCell<Vec<(PathBuf, fsutil::Replaced)>>,
    /// Whether commits are group commits (with git, without a remote; see `group.rs`).
    pub(super) group: bool,
    /// The commit messages of this section, for its group commit.
    pub(super) messages: std::cell::RefCell<Vec<String>>,
    /// The stamp of `tasks/pending/` when the section began, and the files in it the section
    /// touched: the claim order index follows them (see [`crate::store::order`]).
    pub(super) pending_before: std::cell::Cell<Option<crate::store::cache::Stamp>>,
    pub(super) pending_touched: std::cell::RefCell<Vec<String>>,
}

/// A file's next content, written to a temporary file and fsynced *before* the queue lock is
/// taken, so that the transition under the lock only renames it into place. It is used only if
/// the transition, computed under the lock as always, writes exactly these bytes to exactly
/// this path; otherwise it is thrown away. This takes an fsync out of the lock without
/// trusting anything read outside it.
#[derive(Debug)]
pub struct Prepared {
    pub(super) target: PathBuf,
    pub(super) data: Vec<u8>,
    pub(super) tmp: Option<PathBuf>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

impl std::ops::Deref for LockedRepo<'_> {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        self.repo
    }
}

impl Drop for LockedRepo<'_> {
    fn drop(&mut self) {
        // With a remote, commits that were never pushed were never real: undo them. Only while
        // the lock is still held (an early return): once `finish` released it, the working
        // tree and `.brain/uncommitted` belong to the next process.
        if self.lock.is_some() {
            let _ = self.roll_back();
            // What it changed is on disk and listed: its messages go with the next commit.
            let _ = self.hand_over();
        }
        // On an early return (an error) the renames made so far are still made durable.
        let _ = self.sync_deferred();
    }
}

impl LockedRepo<'_> {
    /// Hands a file prepared before the lock to this transition (see [`Prepared`]).
    pub fn offer(&self, prepared: Prepared) {
        self.prepared.borrow_mut().push(prepared);
    }

    /// Records that `path` changed, for the next commit. The path is also appended to
    /// `.brain/uncommitted` first, so that a process killed before its commit leaves the list
    /// behind and the next commit takes those changes in too (see `Journal`).
    pub fn touch(&self, path: &Path) {
        self.journal.touch(path);
        if path.parent() == Some(self.state_dir(State::Pending).as_path())
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            let mut touched = self.pending_touched.borrow_mut();
            if !touched.iter().any(|t| t == name) {
                touched.push(name.to_string());
            }
        }
    }

    /// Brings the claim order index up to date with what this section changed in
    /// `tasks/pending/`, if it was up to date when the section began (see
    /// [`crate::store::order::append`]). Called while the lock is still held.
    fn follow_pending(&self) {
        let touched = std::mem::take(&mut *self.pending_touched.borrow_mut());
        let Some(before) = self.pending_before.get() else {
            return;
        };
        if touched.is_empty() {
            return;
        }
        let dir = self.state_dir(State::Pending);
        let Some(after) = crate::store::order::dir_stamp(&dir) else {
            return;
        };
        let changes: Vec<_> = touched
            .into_iter()
            .map(|name| {
                let key = match crate::store::classify(State::Pending, &name) {
                    crate::store::Name::Task { id, agent } => self
                        .read(&crate::store::Entry {
                            id,
                            state: State::Pending,
                            agent,
                            path: dir.join(&name),
                        })
                        .ok()
                        .map(|f| crate::store::cache::OrderKey::of(&f.task)),
                    _ => None,
                };
                (name, key)
            })
            .collect();
        crate::store::order::append(&self.order_files(), before, after, &changes);
    }

    /// The paths listed in `.brain/uncommitted`: changed by a transition, and not committed
    /// yet.
    pub(crate) fn uncommitted_paths(&self) -> std::collections::HashSet<PathBuf> {
        self.journal.listed()
    }

    /// With a remote: undoes what this section changed and did not get pushed (see
    /// [`Section::roll_back`]). Without one: nothing (a local transition is real once it is
    /// on disk, and `recover` finishes it).
    pub(crate) fn roll_back(&self) -> Result<()> {
        let Some(git) = self.git() else {
            return Ok(());
        };
        if let Some(section) = self.remote.borrow_mut().as_mut() {
            section.roll_back(git, &self.local_dir(), &self.journal)?;
            self.forget_active();
        }
        Ok(())
    }

    /// Pushes this section's commits (with a remote; see [`Section::publish`]).
    pub(crate) fn publish(&self) -> Result<()> {
        let Some(git) = self.git() else {
            return Ok(());
        };
        let mut remote = self.remote.borrow_mut();
        let Some(section) = remote.as_mut() else {
            return Ok(());
        };
        let result = section.publish(git, &self.local_dir(), &self.journal);
        if result.is_err() {
            drop(remote);
            self.forget_active();
        }
        result
    }

    /// What the catch-up of this section did: commits brought in from the remote, and commits
    /// that were waiting here and got pushed (`brain sync` reports them).
    pub fn synced(&self) -> Option<(u64, u64)> {
        self.remote
            .borrow()
            .as_ref()
            .map(|s| (s.fetched, s.published))
    }

    /// Ends a transition: brings `context/active-agent.md` up to date and commits exactly the
    /// paths the transition touched (plus any a killed process left uncommitted), with
    /// `message`. Does nothing to git when the repo is not committed to.
    ///
    /// Without a remote the commit is a group commit (see `group.rs`): the message waits with
    /// the section's paths, and the commit is made once the section is through, with those of
    /// the transitions that met it at the lock.
    pub fn commit_point(&self, message: &str) -> Result<()> {
        self.commit(message, false, false)
    }

    /// [`LockedRepo::commit_point`] that commits at once, also without a remote, for a
    /// section whose next change must find this state in the history (a handoff keeps a
    /// person's text before it replaces a section).
    pub fn commit_point_now(&self, message: &str) -> Result<()> {
        self.commit(message, false, true)
    }

    /// Commits what earlier commits that failed (or were killed) left uncommitted, with
    /// whatever this transition touched (`brain doctor --fix`), at once.
    pub fn commit_leftovers(&self, message: &str) -> Result<()> {
        self.commit(message, true, true)
    }

    fn commit(&self, message: &str, leftovers: bool, at_once: bool) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        self.update_active_agent()?;
        let Some(git) = self.git() else {
            self.journal.forget();
            return Ok(());
        };
        // Changes an earlier, failed commit left are taken in by the next transition that
        // changes something, not by a command that only looked.
        if self.journal.untouched() && !leftovers {
            return Ok(());
        }
        if self.group {
            self.journal.forget();
            self.messages.borrow_mut().push(message.to_string());
            if at_once {
                self.commit_group_now();
            }
            return Ok(());
        }
        let paths = self.journal.take();
        if paths.is_empty() {
            return Ok(());
        }
        let remote = self.remote.borrow().is_some();
        // The machine it was made on, for the history (`brain board`'s activity).
        let message = &format!(
            "{message}\n\n{}: {}",
            crate::git::MACHINE_TRAILER,
            crate::config::machine_name()
        );
        if self.deferred.get() && !remote {
            // An earlier commit of this section had to wait: so does this one (the paths stay
            // listed in .brain/uncommitted), without waiting for git a second time.
            return Ok(());
        }
        let made = match remote {
            // Two machines making the same change in the same second (same title, same
            // fallback identity) would make the same commit, and both pushes would be
            // "accepted"; a nonce keeps every attempt its own commit.
            true => git.commit_paths(
                &paths,
                &format!("{message}\n{}", crate::queue::remote::nonce()),
            )?,
            false => match git.commit_paths(&paths, message) {
                Ok(made) => made,
                // Without a remote a transition is real once it is on disk, as any change of
                // the working tree is: the change stays, listed in .brain/uncommitted, and the
                // next commit takes it in. The command reports what happened, and why the
                // commit waits.
                Err(e) => {
                    self.deferred.set(true);
                    self.say(commit_waits(&e.to_string()));
                    return Ok(());
                }
            },
        };
        self.journal.clear();
        if let Some(commit) = made {
            if let Some(section) = self.remote.borrow_mut().as_mut() {
                section.note_commit(&self.local_dir(), commit);
            }
            // Commits are made with plumbing, which never packs objects: about once every 100
            // commits, let git decide whether it is time.
            if crate::random_u64().is_multiple_of(100) {
                git.maintain();
            }
        }
        Ok(())
    }

    /// Rewrites `context/active-agent.md` when it differs from the claims in `active/`.
    fn update_active_agent(&self) -> Result<()> {
        use crate::queue::active::{ACTIVE_AGENT, render};
        let text = render(&self.active_tasks()?);
        let path = crate::fsutil::join_rel(self.root(), ACTIVE_AGENT);
        // Derived, and brain's own: read it as it is (a link or a pipe there is replaced).
        let now = fsutil::read_text(&path, crate::store::TEXT_LIMIT, "")
            .ok()
            .flatten();
        if now.as_deref() != Some(text.as_str()) {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).at("creating", dir)?;
            }
            // Derived from tasks/active/ and rewritten by every transition: atomic, not
            // fsynced. Listed first: a process killed right after the rewrite leaves it to the
            // next commit.
            self.touch(&path);
            let spare = self.local_dir().join("active-agent.spare");
            fsutil::rewrite_with_spare(&path, &spare, text.as_bytes())?;
        }
        Ok(())
    }

    pub(super) fn sync_deferred(&mut self) -> Result<()> {
        if self.lock.is_some() {
            self.follow_pending();
        }
        drop(self.lock.take());
        let dirs = std::mem::take(&mut *self.unsynced.borrow_mut());
        for dir in dirs {
            fsutil::sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Notes that a rename into or out of `path`'s folder must be made durable before the
    /// transition is acknowledged (by `LockedRepo::finish`).
    pub fn defer_sync(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            let mut v = self.unsynced.borrow_mut();
            if !v.iter().any(|d| d == dir) {
                v.push(dir.to_path_buf());
            }
        }
    }

    /// Records something the section has to tell the person (a reclaim, a task skipped, a
    /// commit that has to wait), for the front end to show once the section is through: with
    /// a remote a section that is overtaken runs again, and must not say things twice.
    pub fn say(&self, text: impl Into<String>) {
        self.notes.borrow_mut().push(text.into());
    }

    /// What the section said so far (see [`LockedRepo::say`]).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }

    /// The tasks in `active/`. Read once while the lock is held; transitions keep the copy
    /// exact through [`LockedRepo::note_active`] and [`LockedRepo::note_gone`], so a claim
    /// reads the folder once instead of once per step.
    pub fn active_tasks(&self) -> Result<Vec<Task>> {
        if let Some(tasks) = self.active.borrow().as_ref() {
            return Ok(tasks.clone());
        }
        let tasks = self.scan(&[State::Active])?.tasks;
        *self.active.borrow_mut() = Some(tasks.clone());
        Ok(tasks)
    }

    /// Records that `task` is (now) in `active/` as given.
    pub fn note_active(&self, task: &Task) {
        if let Some(tasks) = self.active.borrow_mut().as_mut() {
            tasks.retain(|t| t.id != task.id);
            tasks.push(task.clone());
        }
    }

    /// Records that task `id` left `active/`.
    pub fn note_gone(&self, id: &str) {
        if let Some(tasks) = self.active.borrow_mut().as_mut() {
            tasks.retain(|t| t.id != id);
        }
    }

    /// Forgets the copy of `active/` (after changes made outside the transitions).
    pub fn forget_active(&self) {
        *self.active.borrow_mut() = None;
    }
}

impl Repo {
    /// Writes `data` for `target` ahead of a transition (see [`Prepared`]).
    pub fn prepare(&self, target: &Path, data: Vec<u8>) -> Result<Prepared> {
        let tmp = fsutil::write_tmp(target, &data)?;
        Ok(Prepared {
            target: target.to_path_buf(),
            data,
            tmp: Some(tmp),
        })
    }

    /// Takes the queue lock: every mutation of the queue on this machine happens while holding
    /// it, so mutations are serialized.
    pub(crate) fn lock(&self) -> Result<LockedRepo<'_>> {
        self.lock_with(true)
    }

    /// [`Repo::lock`] for a caller that only reads and must work offline (`brain doctor`
    /// without `--fix`, `brain run --dry-run`): no catching up with the remote, and no commit
    /// (not even of `context/active-agent.md`), since a commit that is never pushed would make
    /// this copy diverge from the remote.
    pub(crate) fn lock_offline(&self) -> Result<LockedRepo<'_>> {
        self.lock_with(false)
    }

    fn lock_with(&self, catch_up: bool) -> Result<LockedRepo<'_>> {
        self.ensure_local_dir();
        let lock = FileLock::acquire(&self.local_dir().join("lock"))?;
        // Before anything changes: a transition that cannot be committed is not made.
        if let Some(git) = self.git() {
            git.check_ready()?;
        }
        let locked = LockedRepo {
            repo: self,
            lock: Some(lock),
            unsynced: std::cell::RefCell::new(Vec::new()),
            journal: Journal::new(self.root(), &self.local_dir(), self.git().is_some()),
            active: std::cell::RefCell::new(None),
            remote: std::cell::RefCell::new(None),
            prepared: std::cell::RefCell::new(Vec::new()),
            read_only: !catch_up,
            notes: std::cell::RefCell::new(Vec::new()),
            deferred: std::cell::Cell::new(false),
            replaced: std::cell::RefCell::new(Vec::new()),
            group: catch_up && self.groups_commits(),
            messages: std::cell::RefCell::new(Vec::new()),
            pending_before: std::cell::Cell::new(None),
            pending_touched: std::cell::RefCell::new(Vec::new()),
        };
        // With a remote, the queue is first brought to the remote's tip (see `remote.rs`).
        if let (Some(remote), Some(git)) = (self.remote().filter(|_| catch_up), self.git()) {
            let section = Section::catch_up(
                git,
                &self.config().git,
                &self.local_dir(),
                remote,
                &locked.journal,
            )?;
            *locked.remote.borrow_mut() = Some(section);
        }
        // After catching up: what the remote brought is no change the index follows.
        let pending = crate::store::order::dir_stamp(&self.state_dir(State::Pending));
        locked.pending_before.set(pending);
        Ok(locked)
    }
}
/// `paths` relative to the repo root, for a message: `a and b`.
pub(crate) fn rels(repo: &LockedRepo<'_>, paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| rel(repo, p))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `path` relative to the repo root, for messages.
pub(crate) fn rel(repo: &LockedRepo<'_>, path: &Path) -> String {
    crate::fsutil::shown_in(repo.root(), path)
}

/// What a transition whose commit has to wait says, with `why`.
pub(super) fn commit_waits(why: &str) -> String {
    format!(
        "warning: the change is made, but its commit has to wait: {why}\nThe next brain command that changes the queue commits it; `brain doctor` shows what is waiting."
    )
}
