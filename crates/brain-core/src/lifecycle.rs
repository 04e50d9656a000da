//! The transitions of SPEC §3: claim, heartbeat, done, fail, release, reclaim.
//!
//! Every transition runs under the queue lock ([`LockedRepo`]). A claim is one rename that
//! never overwrites (`pending/<id>.md -> active/<id>.<agent>.md`); every other transition first
//! rewrites the file in place (atomically, with its new `status`) and then renames it into its
//! new folder. A task is therefore in exactly one folder at every instant, and a process killed
//! between the two steps leaves a file whose `status` names the folder it was going to, which
//! [`LockedRepo::recover`] (run before every transition, and by `brain doctor --fix`) completes.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::frontmatter::FieldValue;
use crate::fsutil;
use crate::names;
use crate::repo::{Entry, LockedRepo, check_task_size};
use crate::task::{Approval, State, Task, TaskFile};
use crate::time::{format_duration, format_ts};

/// `<id>@<epoch>`: proof that a claim is the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    pub id: String,
    pub epoch: u64,
}

impl Token {
    /// Parses `<id>@<epoch>`.
    pub fn parse(s: &str) -> Result<Token> {
        let bad = || {
            Error::Invalid(format!(
                "`{s}` is not a claim token; it looks like task-2026-01-31-001@3"
            ))
        };
        let (id, epoch) = s.rsplit_once('@').ok_or_else(bad)?;
        names::validate_task_id(id).map_err(|_| bad())?;
        Ok(Token {
            id: id.to_string(),
            epoch: epoch.parse().map_err(|_| bad())?,
        })
    }
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.id, self.epoch)
    }
}

/// Who asks for a transition of a claim: the agent, and optionally the claim's token.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub agent: Option<String>,
    pub token: Option<Token>,
}

/// A claim that was made.
#[derive(Debug, Clone, Serialize)]
pub struct Claimed {
    pub id: String,
    pub token: String,
    pub epoch: u64,
    pub attempt: u32,
    pub agent: String,
    pub path: PathBuf,
    pub title: String,
}

/// The capabilities and approval answers a claim decides by (see [`LockedRepo::claim_for`]).
struct Eligibility {
    caps: Vec<String>,
    answers: std::collections::HashMap<String, bool>,
}

impl Eligibility {
    /// `Ok(approved by an answer)` when `t` may be claimed now; else why not (`None`: skipped
    /// without a reason worth reporting).
    fn check(
        &self,
        repo: &LockedRepo<'_>,
        t: &Task,
        filter: &Unattended,
        now: Timestamp,
    ) -> std::result::Result<bool, Option<Blocked>> {
        if filter.skip.contains(&t.id) {
            return Err(None);
        }
        if filter.only && !t.meta.unattended {
            return Err(Some(Blocked::Attended));
        }
        // One stat per dependency, not a listing of everything ever completed.
        let is_completed = |id: &str| repo.task_path(State::Completed, id, None).is_file();
        let approved = self.answers.get(&t.id).copied() == Some(true);
        match blocked(t, &self.caps, &is_completed, approved, now) {
            Some(b) => Err(Some(b)),
            None => Ok(approved),
        }
    }
}

/// What an unattended run leaves out of its claims (see [`LockedRepo::claim_for`]).
#[derive(Debug, Clone, Default)]
pub struct Unattended {
    /// Skip tasks marked `unattended: false`.
    pub only: bool,
    /// Skip these task ids.
    pub skip: Vec<String>,
}

/// Why a pending task cannot be claimed now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Blocked {
    /// The agent lacks capabilities the task requires.
    Capabilities { missing: Vec<String> },
    /// A dependency is not completed.
    Dependency { id: String },
    /// Waiting for a person's approval.
    Approval,
    /// Not before this time.
    NotBefore { at: String },
    /// Marked `unattended: false`, and the run is unattended.
    Attended,
    /// The task's id has files in other places too (see `brain doctor`).
    Duplicate { paths: Vec<String> },
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Blocked::Capabilities { missing } => {
                write!(f, "the agent lacks {}", missing.join(", "))
            }
            Blocked::Dependency { id } => write!(f, "it depends on {id}, which is not completed"),
            Blocked::Approval => write!(f, "it waits for approval (`brain approve`)"),
            Blocked::NotBefore { at } => write!(f, "not before {at}"),
            Blocked::Attended => write!(f, "marked `unattended: false`: it needs a person present"),
            Blocked::Duplicate { paths } => write!(
                f,
                "its id also has {} (run `brain doctor`)",
                paths.join(" and ")
            ),
        }
    }
}

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

/// Where a transition sent the task.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub id: String,
    pub state: State,
    pub path: PathBuf,
    /// The same call was made before under the same claim, and had done this already: the
    /// repeat changed nothing (an agent that retries after an error it misread).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub again: bool,
}

/// Why a transition on a claim was not made.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Refused {
    /// The claim is not (or no longer) the caller's.
    Lost(Lost),
    /// The task has a file where it would go (see [`Error::Duplicate`]).
    Conflict(Conflict),
}

impl Refused {
    /// Why, in a sentence.
    pub fn reason(&self) -> &str {
        match self {
            Refused::Lost(l) => &l.reason,
            Refused::Conflict(c) => &c.reason,
        }
    }
}

/// A transition refused because the task's id has a file where it was to go.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub id: String,
    pub reason: String,
    /// The files of the id.
    pub paths: Vec<PathBuf>,
    /// Where what the caller brought (a result, an error text) was kept.
    pub kept: Option<PathBuf>,
}

/// The caller's claim on a task, as [`LockedRepo::own_claim`] finds it.
enum Own {
    /// The current claim.
    Current(TaskFile),
    /// This claim was settled already by this same kind of call: a repeat.
    Settled(TaskFile),
    /// Not the caller's.
    Lost(Lost),
}

/// The file where the claim of `.brain/` names the active file a claim was writing (see
/// [`LockedRepo::claim_one`]).
pub const CLAIMING: &str = "claiming";

/// The error of a transition on a claim that is not (or no longer) the caller's.
#[derive(Debug, Clone, Serialize)]
pub struct Lost {
    pub id: String,
    pub reason: String,
    /// Where what the caller brought (a result, an error text) was kept.
    pub kept: Option<PathBuf>,
}

/// The folder of results and errors that arrived for claims that were no longer current.
pub const LATE_DIR: &str = "tasks/late";

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

/// The claim-time gate: approved in the file, or approved by a person's answer.
pub fn gate_open(t: &Task, approved_by_answer: bool) -> bool {
    match t.meta.approval {
        None | Some(Approval::Approved) => true,
        Some(Approval::Required) => approved_by_answer,
        Some(Approval::Denied) => false,
    }
}

/// Why `t` cannot be claimed by an agent with `caps` at `now`, given the completed ids.
pub fn blocked(
    t: &Task,
    caps: &[String],
    completed: &dyn Fn(&str) -> bool,
    approved_by_answer: bool,
    now: Timestamp,
) -> Option<Blocked> {
    let missing: Vec<String> = t
        .meta
        .requires
        .iter()
        .filter(|r| !caps.contains(r))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Some(Blocked::Capabilities { missing });
    }
    if let Some(d) = t.meta.depends_on.iter().find(|d| !completed(d)) {
        return Some(Blocked::Dependency { id: d.clone() });
    }
    if !gate_open(t, approved_by_answer) {
        return Some(Blocked::Approval);
    }
    if let Some(nb) = t.meta.not_before.filter(|nb| *nb > now) {
        return Some(Blocked::NotBefore { at: format_ts(nb) });
    }
    None
}

/// What `done` does to the task file: the `## Result` section, `status`, `completed_at`.
/// Returns the agent.
fn done_edit(
    f: &mut TaskFile,
    result: &str,
    extra: &[(&str, String)],
    now: Timestamp,
) -> Result<String> {
    let agent = f.task.claimant().unwrap_or_default();
    let mut items = vec![
        ("agent", agent.clone()),
        ("finished", format_ts(now)),
        ("attempt", f.task.meta.attempt.to_string()),
    ];
    items.extend(extra.iter().cloned());
    f.append_body(&section("Result", &items, result));
    f.set("status", FieldValue::Str("completed".into()))?;
    f.set_time("completed_at", now)?;
    Ok(agent)
}

impl crate::repo::Repo {
    /// Writes, before the lock, what `done` of task `id` is expected to write (see
    /// [`crate::repo::Prepared`]); hand it to [`LockedRepo::offer`]. `None` when the task is not
    /// claimed as far as can be seen now (the locked `done` says why).
    pub fn prepare_done(
        &self,
        id: &str,
        who: &Claimant,
        result: &str,
        extra: &[(&str, String)],
        now: Timestamp,
    ) -> Result<Option<crate::repo::Prepared>> {
        let Some(entry) = self
            .locate(id)?
            .into_iter()
            .find(|e| e.state == State::Active)
        else {
            return Ok(None);
        };
        if who.agent.is_some() && entry.agent != who.agent {
            return Ok(None);
        }
        let mut f = self.read(&entry)?;
        done_edit(&mut f, result, extra, now)?;
        Ok(Some(
            self.prepare(&entry.path, f.doc.text().as_bytes().to_vec())?,
        ))
    }
}

/// The `- next:` line of a failure or a reclaim.
fn next_step(again: bool) -> String {
    if again {
        "back to pending"
    } else {
        "failed for good"
    }
    .to_string()
}

fn section(title: &str, items: &[(&str, String)], text: &str) -> String {
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

impl LockedRepo<'_> {
    /// The active file of task `id`, if it is claimed.
    pub fn active_entry(&self, id: &str) -> Result<Option<Entry>> {
        Ok(self
            .locate(id)?
            .into_iter()
            .find(|e| e.state == State::Active))
    }

    /// The other files of task `id` besides `except`, in any folder, ids compared without
    /// regard to case (on NTFS and APFS `Task-1.md` and `task-1.md` are one file name).
    pub fn elsewhere(&self, id: &str, except: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        let mut ignored = Vec::new();
        for e in self.entries(State::Active, &mut ignored)? {
            if e.id.eq_ignore_ascii_case(id) && e.path != except {
                out.push(e.path);
            }
        }
        let mut spellings = vec![id.to_string()];
        let lower = id.to_ascii_lowercase();
        if lower != id {
            spellings.push(lower);
        }
        for state in [State::Pending, State::Completed, State::Failed] {
            if !self.check_state_dir(state).unwrap_or(false) {
                continue;
            }
            for name in &spellings {
                let p = self.task_path(state, name, None);
                if fs::symlink_metadata(&p).is_ok()
                    && p != except
                    && !fsutil::same_file(&p, except)
                    && !out.iter().any(|o| fsutil::same_file(o, &p))
                {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }

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
        if let crate::repo::Name::Task {
            id,
            agent: Some(agent),
        } = crate::repo::classify(State::Active, name)
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
            let rel_path = Path::new(crate::repo::TASKS_DIR).join("active").join(&name);
            if waiting.contains(&rel_path) {
                continue;
            }
            let crate::repo::Name::Task { id, .. } = crate::repo::classify(State::Active, &name)
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

    /// Claims the best eligible task for `agent` (or the task `only`), as SPEC §3 orders them.
    /// `Ok(None)`: nothing eligible (with the reason when `only` was given).
    pub fn claim(
        &self,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Option<Blocked>>> {
        self.claim_from(None, agent, extra_caps, only, now)
    }

    /// [`LockedRepo::claim`] with the pending queue built beforehand, without the lock (see
    /// [`crate::repo::Repo::queue`]): listing `pending/` is the longest part of a claim, and
    /// doing it before taking the lock lets other claimers work meanwhile. The claim is then
    /// ordered as of the listing; each candidate is still read again and checked under the
    /// lock, and the no-overwrite rename still decides.
    pub fn claim_from(
        &self,
        queue: Option<crate::repo::Queue>,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Option<Blocked>>> {
        self.claim_for(queue, agent, extra_caps, only, &Unattended::default(), now)
    }

    /// [`LockedRepo::claim_from`] for an unattended run (`brain run`): skips tasks marked
    /// `unattended: false`, and the tasks it names in `skip` (those it already tried).
    pub fn claim_for(
        &self,
        queue: Option<crate::repo::Queue>,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        filter: &Unattended,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Option<Blocked>>> {
        let rules = self.eligibility(agent, extra_caps)?;
        let mut queue = queue;
        let candidates: Box<dyn Iterator<Item = Task>> = match only {
            Some(id) => {
                let found = self.locate(id)?;
                match found.iter().find(|e| e.state == State::Pending) {
                    Some(e) => Box::new(std::iter::once(self.read(e)?.task)),
                    None if found.is_empty() => return Err(Error::TaskNotFound(id.to_string())),
                    None => {
                        return Err(Error::Invalid(format!(
                            "task {id} is not pending (it is in tasks/{}/)",
                            found[0].state
                        )));
                    }
                }
            }
            None => {
                // Unreadable files are `brain doctor`'s business; the claim serves the rest.
                if queue.is_none() {
                    queue = Some(self.queue(Some(agent), &mut Vec::new())?);
                }
                Box::new(queue.as_mut().into_iter().flat_map(|q| q.tasks()))
            }
        };
        let mut why = None;
        for t in candidates {
            if let Err(b) = rules.check(self, &t, filter, now) {
                if let Some(b) = b {
                    why.get_or_insert(b);
                }
                continue;
            }
            // The queue may come from the cache: decide on the file as it is now.
            let fresh = match self.read(&Entry::from(&t)) {
                Ok(f) => f.task,
                Err(_) => continue,
            };
            let approved = match rules.check(self, &fresh, filter, now) {
                Ok(approved) => approved,
                Err(b) => {
                    if let Some(b) = b {
                        why.get_or_insert(b);
                    }
                    continue;
                }
            };
            // One id in two places (a finished task copied back to run it again, an editor
            // that saved an old path): claiming it would end in a move that cannot be made.
            let others = self.elsewhere(&fresh.id, &fresh.path)?;
            if !others.is_empty() {
                self.say(format!(
                    "skipped {}: it also has {} (`brain doctor` shows the files and sorts them out)",
                    fresh.id,
                    rels(self, &others)
                ));
                why.get_or_insert(Blocked::Duplicate {
                    paths: others.iter().map(|p| rel(self, p)).collect(),
                });
                continue;
            }
            if let Some(c) = self.claim_one(&fresh, agent, approved, now)? {
                return Ok(Ok(c));
            }
        }
        Ok(Err(if only.is_some() { why } else { None }))
    }

    /// What decides whether `agent` may claim a pending task now, read once per claim.
    fn eligibility(&self, agent: &str, extra_caps: &[String]) -> Result<Eligibility> {
        names::validate_agent(agent)?;
        let mut caps = self
            .config()
            .agents
            .get(agent)
            .map(|a| a.capabilities.clone())
            .unwrap_or_default();
        caps.extend(extra_caps.iter().cloned());
        Ok(Eligibility {
            caps,
            answers: crate::questions::approvals(self)?,
        })
    }

    /// The pending tasks `agent` would claim now, in the order it would claim them (at most
    /// `limit`), by the same rules as [`LockedRepo::claim_for`]; nothing is claimed
    /// (`brain run --dry-run`).
    pub fn would_claim(
        &self,
        agent: &str,
        extra_caps: &[String],
        filter: &Unattended,
        now: Timestamp,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        let rules = self.eligibility(agent, extra_caps)?;
        let mut queue = self.queue(Some(agent), &mut Vec::new())?;
        Ok(queue
            .tasks()
            .filter(|t| rules.check(self, t, filter, now).is_ok())
            .take(limit.unwrap_or(usize::MAX))
            .collect())
    }

    /// The claim of one task: the no-overwrite rename is the claim; the fields follow. `None`
    /// when someone else took the file first. A claim either succeeds with its token or
    /// leaves the task pending: when the fields cannot be written (a full disk), the rename
    /// is undone; when the process is killed in between, `.brain/claiming` names the file and
    /// the next locked section puts it back ([`LockedRepo::recover`]).
    fn claim_one(
        &self,
        t: &Task,
        agent: &str,
        approved_by_answer: bool,
        now: Timestamp,
    ) -> Result<Option<Claimed>> {
        let from = t.path.clone();
        self.writable_state_dir(State::Active)?;
        let to = self.task_path(State::Active, &t.id, Some(agent));
        // Listed for the commit before the move, so that a process killed right after it
        // leaves both paths to the next commit.
        self.touch(&from);
        self.touch(&to);
        let journal = self.local_dir().join(CLAIMING);
        fs::write(&journal, rel(self, &to)).at("writing", &journal)?;
        let clear = || {
            let _ = fs::write(&journal, "");
        };
        match fsutil::rename_noreplace(&from, &to) {
            Ok(()) => {}
            // Taken by an agent outside brain (a hand move), or moved meanwhile.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                ) =>
            {
                clear();
                return Ok(None);
            }
            Err(e) => {
                clear();
                return Err(Error::io("claiming", &from, e));
            }
        }
        self.defer_sync(&from);
        let entry = Entry {
            id: t.id.clone(),
            state: State::Active,
            agent: Some(agent.to_string()),
            path: to.clone(),
        };
        let written = (|| {
            let mut f = self.read(&entry)?;
            let epoch = f.task.meta.epoch + 1;
            let attempt = f.task.meta.attempt + 1;
            let stamp = FieldValue::Str(format_ts(now));
            f.set_all(&[
                ("status", FieldValue::Str("active".into())),
                ("claimed_by", FieldValue::Str(agent.into())),
                ("claimed_at", stamp.clone()),
                ("heartbeat_at", stamp),
                ("epoch", FieldValue::Int(epoch)),
                ("attempt", FieldValue::Int(u64::from(attempt))),
            ])?;
            if approved_by_answer {
                f.set(
                    "approval",
                    FieldValue::Str(Approval::Approved.as_str().into()),
                )?;
            }
            self.save_task(&mut f)?;
            Ok::<_, Error>(f)
        })();
        let f = match written {
            Ok(f) => f,
            Err(e) => {
                if fsutil::rename_noreplace(&to, &from).is_ok() {
                    self.defer_sync(&to);
                }
                clear();
                return Err(e);
            }
        };
        clear();
        let epoch = f.task.meta.epoch;
        self.note_active(&f.task);
        self.commit_point(&format!("claim {} by {agent} (epoch {epoch})", t.id))?;
        Ok(Some(Claimed {
            token: Token {
                id: t.id.clone(),
                epoch,
            }
            .to_string(),
            id: t.id.clone(),
            epoch,
            attempt: f.task.meta.attempt,
            agent: agent.to_string(),
            path: to,
            title: f.task.title.clone(),
        }))
    }

    /// The caller's current claim on `id`, a repeat of a call that settled it already, or why
    /// it is not theirs. `brought` is kept in `tasks/late/` when the claim is lost.
    fn own_claim(
        &self,
        id: &str,
        who: &Claimant,
        kind: &str,
        brought: &str,
        now: Timestamp,
    ) -> Result<Own> {
        names::validate_task_id(id)?;
        if let Some(t) = &who.token
            && t.id != id
        {
            return Err(Error::Invalid(format!(
                "the token {t} is for another task than {id}"
            )));
        }
        let reason = match self.active_entry(id)? {
            None => {
                let found = self.locate(id)?;
                let Some(first) = found.first() else {
                    return Err(Error::TaskNotFound(id.to_string()));
                };
                // The same call, under the same claim, already went through: an agent that
                // retries after an error it misread is told it is done, not that it lost.
                if let (Some(t), [e]) = (&who.token, found.as_slice())
                    && let Ok(f) = self.read(e)
                    && f.task.meta.epoch == t.epoch
                    && settled_by(kind, &f, who.agent.as_deref())
                {
                    return Ok(Own::Settled(f));
                }
                format!(
                    "task {id} is not claimed any more (it is in tasks/{}/)",
                    first.state
                )
            }
            Some(e) => {
                let f = self.read(&e)?;
                let owner = f.task.claimant();
                let epoch = f.task.meta.epoch;
                let owner_name = owner.as_deref().unwrap_or("an unnamed agent");
                match (&who.token, &who.agent) {
                    (Some(t), _) if t.epoch > epoch => format!(
                        "the token {t} is not one brain gave: task {id} is at epoch {epoch}, and epochs only grow; the current claim is {id}@{epoch}, by {owner_name}"
                    ),
                    (Some(t), _) if t.epoch != epoch => format!(
                        "the claim {t} is no longer current: task {id} was claimed again since, by {owner_name}; the current claim is {id}@{epoch}"
                    ),
                    (_, Some(a)) if owner.as_deref() != Some(a.as_str()) => {
                        format!("task {id} is claimed by {owner_name}, not {a}")
                    }
                    (None, None) => {
                        return Err(Error::Invalid(
                            "say who you are: give --agent or --token".into(),
                        ));
                    }
                    _ => return Ok(Own::Current(f)),
                }
            }
        };
        let kept = if brought.trim().is_empty() {
            None
        } else {
            Some(self.keep_late(id, who, kind, &reason, brought, now)?)
        };
        Ok(Own::Lost(Lost {
            id: id.to_string(),
            reason,
            kept,
        }))
    }

    /// Keeps what a caller with a lost claim brought, in `tasks/late/`.
    fn keep_late(
        &self,
        id: &str,
        who: &Claimant,
        kind: &str,
        reason: &str,
        text: &str,
        now: Timestamp,
    ) -> Result<PathBuf> {
        let dir = self.root().join(LATE_DIR);
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let epoch = who
            .token
            .as_ref()
            .map_or("none".to_string(), |t| t.epoch.to_string());
        let agent = who.agent.as_deref().unwrap_or("unknown");
        let body = format!(
            "---\ntask: {id}\nepoch: {epoch}\nagent: {agent}\nkind: {kind}\nat: {}\nreason: {}\n---\n\n{}\n",
            format_ts(now),
            crate::frontmatter::scalar(reason),
            text.trim_end()
        );
        for n in 0.. {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-{n}")
            };
            let path = dir.join(format!("{id}@{epoch}.{agent}.{kind}{suffix}.md"));
            self.touch(&path);
            match fsutil::create_atomic(&path, body.as_bytes()) {
                Ok(()) => {
                    self.commit_point(&format!(
                        "keep the late {kind} of {id} from {agent} ({reason})"
                    ))?;
                    return Ok(path);
                }
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// A transition refused because the task has a file where it would go: what the caller
    /// brought is kept, and the refusal says where.
    fn conflict(
        &self,
        e: Error,
        who: &Claimant,
        kind: &str,
        brought: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let Error::Duplicate { id, here, there } = &e else {
            return Err(e);
        };
        let reason = e.to_string();
        let kept = if brought.trim().is_empty() {
            None
        } else {
            Some(self.keep_late(id, who, kind, "one id in two places", brought, now)?)
        };
        Ok(Err(Refused::Conflict(Conflict {
            id: id.clone(),
            reason,
            paths: vec![here.clone(), there.clone()],
            kept,
        })))
    }

    /// A call repeated under a claim it settled already: nothing changes; a different text
    /// than the one recorded is kept in `tasks/late/` rather than dropped.
    fn repeated(
        &self,
        f: TaskFile,
        who: &Claimant,
        kind: &str,
        brought: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let id = f.task.id.clone();
        if !brought.trim().is_empty() && !f.doc.body().contains(brought.trim()) {
            let kept = self.keep_late(
                &id,
                who,
                kind,
                "a repeat under a claim already settled",
                brought,
                now,
            )?;
            self.say(format!(
                "{id}: this {kind} was made already under the same claim; the text sent now differs from the one recorded and is kept in {}",
                rel(self, &kept)
            ));
        }
        Ok(Ok(Moved {
            id,
            state: f.task.state,
            path: f.task.path,
            again: true,
        }))
    }

    /// Records a heartbeat on the caller's claims: the one named by the token or `id`, else
    /// every claim of the agent. Returns the ids renewed.
    ///
    /// The task file is rewritten (and committed) at most once per heartbeat window
    /// (`[git] heartbeat_every`, at most a quarter of `stale_after`): the lease is judged on
    /// those, and a file a person may be editing is not rewritten every few seconds.
    pub fn heartbeat(
        &self,
        who: &Claimant,
        id: Option<&str>,
        now: Timestamp,
    ) -> Result<std::result::Result<Vec<String>, Lost>> {
        let ids: Vec<String> = match (id, &who.token) {
            (Some(id), _) => vec![id.to_string()],
            (None, Some(t)) => vec![t.id.clone()],
            (None, None) => {
                let agent = who.agent.as_deref().ok_or_else(|| {
                    Error::Invalid("say who you are: give --agent or --token".into())
                })?;
                let mut bad = Vec::new();
                self.entries(State::Active, &mut bad)?
                    .into_iter()
                    .filter(|e| e.agent.as_deref() == Some(agent))
                    .map(|e| e.id)
                    .collect()
            }
        };
        let every = heartbeat_window(self.config()) as i64;
        let window = |t: Timestamp| t.as_second().div_euclid(every);
        let mut done = Vec::new();
        for id in ids {
            let mut f = match self.own_claim(&id, who, "heartbeat", "", now)? {
                Own::Current(f) => f,
                Own::Lost(lost) => return Ok(Err(lost)),
                Own::Settled(_) => unreachable!("a heartbeat never settles a claim"),
            };
            let due = f
                .task
                .meta
                .heartbeat_at
                .is_none_or(|last| window(last) != window(now));
            if due {
                f.set_time("heartbeat_at", now)?;
                self.save_task(&mut f)?;
                self.note_active(&f.task);
                let agent = f.task.claimant().unwrap_or_default();
                self.commit_point(&format!("heartbeat {id} by {agent}"))?;
            }
            done.push(id);
        }
        Ok(Ok(done))
    }

    /// `done`: appends the result under `## Result` and moves the task to `completed/`.
    pub fn done(
        &self,
        id: &str,
        who: &Claimant,
        result: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        self.done_with(id, who, result, &[], now)
    }

    /// [`LockedRepo::done`] with more `- key: value` lines in the `## Result` section (what
    /// `brain run` learned about the session).
    pub fn done_with(
        &self,
        id: &str,
        who: &Claimant,
        result: &str,
        extra: &[(&str, String)],
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let mut f = match self.own_claim(id, who, "done", result, now)? {
            Own::Current(f) => f,
            Own::Settled(f) => return self.repeated(f, who, "done", result, now),
            Own::Lost(lost) => return Ok(Err(Refused::Lost(lost))),
        };
        let agent = done_edit(&mut f, result, extra, now)?;
        let to = match self.write_and_move(&mut f, State::Completed) {
            Ok(to) => to,
            Err(e) => return self.conflict(e, who, "done", result, now),
        };
        self.commit_point(&format!(
            "done {id} by {agent} (attempt {})",
            f.task.meta.attempt
        ))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: State::Completed,
            path: to,
            again: false,
        }))
    }

    /// `fail`: appends the error under `## Failure`; back to `pending/` with `retry` while
    /// attempts remain, else to `failed/`.
    pub fn fail(
        &self,
        id: &str,
        who: &Claimant,
        error: &str,
        retry: bool,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        self.fail_with(id, who, error, retry, &[], now)
    }

    /// [`LockedRepo::fail`] with more `- key: value` lines in the `## Failure` section.
    pub fn fail_with(
        &self,
        id: &str,
        who: &Claimant,
        error: &str,
        retry: bool,
        extra: &[(&str, String)],
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let mut f = match self.own_claim(id, who, "fail", error, now)? {
            Own::Current(f) => f,
            Own::Settled(f) => return self.repeated(f, who, "fail", error, now),
            Own::Lost(lost) => return Ok(Err(Refused::Lost(lost))),
        };
        let agent = f.task.claimant().unwrap_or_default();
        let max = f.task.max_attempts(self.config().queue.max_attempts);
        let attempt = f.task.meta.attempt;
        let again = retry && attempt < max;
        let mut items = vec![
            ("agent", agent.clone()),
            ("failed", format_ts(now)),
            ("attempt", format!("{attempt} of {max}")),
            ("next", next_step(again)),
        ];
        items.extend(extra.iter().cloned());
        f.append_body(&section("Failure", &items, error));
        let to = match if again {
            self.return_to_pending(&mut f)
        } else {
            self.move_to_failed(&mut f, now)
        } {
            Ok(to) => to,
            Err(e) => return self.conflict(e, who, "fail", error, now),
        };
        self.commit_point(&format!(
            "fail {id} by {agent} (attempt {attempt} of {max}): {}",
            next_step(again)
        ))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: if again { State::Pending } else { State::Failed },
            path: to,
            again: false,
        }))
    }

    /// `release`: gives the task back to `pending/` unchanged but for the claim fields; the
    /// attempt it used does not count.
    pub fn release(
        &self,
        id: &str,
        who: &Claimant,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let mut f = match self.own_claim(id, who, "release", "", now)? {
            Own::Current(f) => f,
            Own::Settled(f) => return self.repeated(f, who, "release", "", now),
            Own::Lost(lost) => return Ok(Err(Refused::Lost(lost))),
        };
        let agent = f.task.claimant().unwrap_or_default();
        f.append_body(&section(
            "Released",
            &[("agent", agent.clone()), ("at", format_ts(now))],
            "",
        ));
        f.set(
            "attempt",
            FieldValue::Int(u64::from(f.task.meta.attempt.saturating_sub(1))),
        )?;
        let to = match self.return_to_pending(&mut f) {
            Ok(to) => to,
            Err(e) => return self.conflict(e, who, "release", "", now),
        };
        self.commit_point(&format!("release {id} by {agent}"))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: State::Pending,
            path: to,
            again: false,
        }))
    }

    /// Sends a claimed file back to `pending/`: `status: pending` with the claim fields still
    /// in place (so an interrupted move is recognizable, see [`LockedRepo::recover`]), the
    /// move, then the claim fields cleared.
    fn return_to_pending(&self, f: &mut TaskFile) -> Result<PathBuf> {
        f.set("status", FieldValue::Str("pending".into()))?;
        let to = self.write_and_move(f, State::Pending)?;
        self.clear_claim(f, &to)?;
        Ok(to)
    }

    /// Removes the claim fields of `f`, which a move has just put at `path` in pending/.
    fn clear_claim(&self, f: &mut TaskFile, path: &Path) -> Result<()> {
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

/// How often a claim's heartbeat is written to its file: `[git] heartbeat_every`, but at
/// most a quarter of `stale_after` (so that a live claim never looks stale), in seconds.
pub fn heartbeat_window(config: &crate::Config) -> u64 {
    config
        .git
        .heartbeat_every
        .min(config.queue.stale_after / 4)
        .max(1)
}

/// Whether `f`, found under the epoch of the caller's token in another folder than active/,
/// was settled by a call of `kind` (by `agent`, when given): its last section is the one that
/// call appends.
fn settled_by(kind: &str, f: &TaskFile, agent: Option<&str>) -> bool {
    let (title, by) = last_section(f.doc.body());
    let expected = match (kind, f.task.state) {
        ("done", State::Completed) => "Result",
        ("fail", State::Failed | State::Pending) => "Failure",
        ("release", State::Pending) => "Released",
        _ => return false,
    };
    title == Some(expected) && agent.is_none_or(|a| by == Some(a))
}

/// The title of the last `## ` section of a body, and its `- agent:` line.
fn last_section(body: &str) -> (Option<&str>, Option<&str>) {
    let Some(at) = body
        .rfind("\n## ")
        .map(|i| i + 1)
        .or_else(|| body.starts_with("## ").then_some(0))
    else {
        return (None, None);
    };
    let rest = &body[at + 3..];
    let title = rest.lines().next().map(str::trim);
    let agent = rest
        .lines()
        .find_map(|l| l.trim().strip_prefix("- agent:"))
        .map(str::trim);
    (title, agent)
}

/// `paths` relative to the repo root, for a message: `a and b`.
fn rels(repo: &LockedRepo<'_>, paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| rel(repo, p))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `path` relative to the repo root, for messages.
fn rel(repo: &LockedRepo<'_>, path: &Path) -> String {
    path.strip_prefix(repo.root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Late results and errors kept for task `id` (`tasks/late/<id>@…`).
pub fn late_files(root: &Path, id: &str) -> Result<Vec<PathBuf>> {
    files_of(&root.join(LATE_DIR), id)
}

/// Where `brain run` keeps each attempt's output, `<id>@<epoch>.log`, under the repo.
pub const OUTPUTS_DIR: &str = "logs/runs";

/// The output files of task `id`'s attempts under `brain run`, oldest first.
pub fn output_files(root: &Path, id: &str) -> Result<Vec<PathBuf>> {
    let mut v = files_of(&root.join(OUTPUTS_DIR), id)?;
    // By epoch, as a number (`@10` after `@9`).
    v.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('@'))
            .and_then(|(_, e)| e.split('.').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    });
    Ok(v)
}

/// The files in `dir` named `<id>@…`, sorted by name.
fn files_of(dir: &Path, id: &str) -> Result<Vec<PathBuf>> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading folder", dir, e)),
    };
    let prefix = format!("{id}@");
    let mut out: Vec<PathBuf> = read
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}
