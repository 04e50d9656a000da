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
use crate::repo::{Entry, LockedRepo};
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
}

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
    f.doc.append_body(&section("Result", &items, result));
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

    /// Writes `file` in place, then renames it to `to` without overwriting. Between the two
    /// steps the file is whole and in its old folder.
    pub(crate) fn write_and_move(&self, file: &TaskFile, to: &Path) -> Result<()> {
        let from = file.task.path.clone();
        if file.task.state == State::Active {
            self.note_gone(&file.task.id);
        }
        self.touch(to);
        // The new text replaces the old in place (the file fsynced); the folders are fsynced
        // below, after the move, once for both renames.
        self.replace_file(&from, file.doc.text().as_bytes())?;
        let mut moved = fsutil::rename_noreplace(&from, to);
        if moved
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
            && from.exists()
        {
            if let Some(dir) = to.parent() {
                fs::create_dir_all(dir).at("creating", dir)?;
            }
            moved = fsutil::rename_noreplace(&from, to);
        }
        match moved {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::Invalid(format!(
                    "cannot move {} to {}: a file with that name exists; run `brain doctor`",
                    from.display(),
                    to.display()
                )));
            }
            Err(e) => return Err(Error::io("moving", &from, e)),
        }
        self.defer_sync(to);
        Ok(())
    }

    /// Completes what interrupted transitions and hand moves left behind, in `active/`:
    /// a file whose `status` says it was on its way to another folder is moved there; a file
    /// moved in by hand (no `claimed_by`, or `status` not `active`) becomes a proper claim of
    /// the agent in its name, with a new epoch. Returns what it changed.
    pub fn recover(&self, now: Timestamp) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        for t in self.active_tasks()? {
            let unfinished = unfinished_move(&t);
            if unfinished.is_none() && !is_hand_claim(&t) {
                continue;
            }
            let e = Entry::from(&t);
            let Ok(mut f) = self.read(&e) else { continue };
            if let Some(to_state) = unfinished {
                let to = self.task_path(to_state, &e.id, None);
                self.write_and_move(&f, &to)?;
                if to_state == State::Pending {
                    self.clear_claim(&mut f, &to)?;
                }
                notes.push(format!(
                    "{}: finished an interrupted move to tasks/{to_state}/",
                    e.id
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
            self.replace_file(&e.path, f.doc.text().as_bytes())?;
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
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    continue;
                }
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
    /// when someone else took the file first.
    fn claim_one(
        &self,
        t: &Task,
        agent: &str,
        approved_by_answer: bool,
        now: Timestamp,
    ) -> Result<Option<Claimed>> {
        let from = t.path.clone();
        let to = self.task_path(State::Active, &t.id, Some(agent));
        // Listed for the commit before the move, so that a process killed right after it
        // leaves both paths to the next commit.
        self.touch(&from);
        self.touch(&to);
        let mut renamed = fsutil::rename_noreplace(&from, &to);
        if renamed
            .as_ref()
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
            && from.exists()
        {
            let dir = to.parent().unwrap_or(Path::new("."));
            fs::create_dir_all(dir).at("creating", dir)?;
            renamed = fsutil::rename_noreplace(&from, &to);
        }
        match renamed {
            Ok(()) => {}
            // Taken by an agent outside brain (a hand move), or moved meanwhile.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::AlreadyExists
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(Error::io("claiming", &from, e)),
        }
        self.defer_sync(&from);
        let entry = Entry {
            id: t.id.clone(),
            state: State::Active,
            agent: Some(agent.to_string()),
            path: to.clone(),
        };
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
        self.replace_file(&to, f.doc.text().as_bytes())?;
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
            attempt,
            agent: agent.to_string(),
            path: to,
            title: f.task.title.clone(),
        }))
    }

    /// The caller's current claim on `id`, or why it is not theirs. `brought` is kept in
    /// `tasks/late/` when the claim is lost.
    fn own_claim(
        &self,
        id: &str,
        who: &Claimant,
        kind: &str,
        brought: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<TaskFile, Lost>> {
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
                let state = self.locate(id)?.first().map(|e| e.state);
                match state {
                    None => return Err(Error::TaskNotFound(id.to_string())),
                    Some(s) => format!("task {id} is not claimed any more (it is in tasks/{s}/)"),
                }
            }
            Some(e) => {
                let f = self.read(&e)?;
                let owner = f.task.claimant();
                let epoch = f.task.meta.epoch;
                match (&who.token, &who.agent) {
                    (Some(t), _) if t.epoch != epoch => format!(
                        "the claim {t} is no longer current: task {id} was claimed again (epoch {epoch}, by {})",
                        owner.as_deref().unwrap_or("?")
                    ),
                    (_, Some(a)) if owner.as_deref() != Some(a.as_str()) => format!(
                        "task {id} is claimed by {}, not {a}",
                        owner.as_deref().unwrap_or("an unnamed agent")
                    ),
                    (None, None) => {
                        return Err(Error::Invalid(
                            "say who you are: give --agent or --token".into(),
                        ));
                    }
                    _ => return Ok(Ok(f)),
                }
            }
        };
        let kept = if brought.trim().is_empty() {
            None
        } else {
            Some(self.keep_late(id, who, kind, &reason, brought, now)?)
        };
        Ok(Err(Lost {
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
                        "keep the late {kind} of {id} from {agent} (claim lost)"
                    ))?;
                    return Ok(path);
                }
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// Records a heartbeat on the caller's claims: the one named by the token or `id`, else
    /// every claim of the agent. Returns the ids renewed.
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
        // Commits are rate-limited: one per `heartbeat_every` window per task; the heartbeats
        // in between are written to the file and go into the task's next commit.
        let every = self.config().git.heartbeat_every.max(1) as i64;
        let window = |t: Timestamp| t.as_second().div_euclid(every);
        let mut done = Vec::new();
        for id in ids {
            let mut f = match self.own_claim(&id, who, "heartbeat", "", now)? {
                Ok(f) => f,
                Err(lost) => return Ok(Err(lost)),
            };
            let commit = f
                .task
                .meta
                .heartbeat_at
                .is_none_or(|last| window(last) != window(now));
            // With a remote, only a pushed heartbeat counts, so the ones in between are not
            // written at all: the working tree holds nothing that was not pushed.
            if !commit && self.remote().is_some() {
                done.push(id);
                continue;
            }
            f.set_time("heartbeat_at", now)?;
            self.replace_untracked(&f.task.path, f.doc.text().as_bytes())?;
            self.note_active(&f.task);
            if commit {
                self.touch(&f.task.path);
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
    ) -> Result<std::result::Result<Moved, Lost>> {
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
    ) -> Result<std::result::Result<Moved, Lost>> {
        let mut f = match self.own_claim(id, who, "done", result, now)? {
            Ok(f) => f,
            Err(lost) => return Ok(Err(lost)),
        };
        let agent = done_edit(&mut f, result, extra, now)?;
        let to = self.task_path(State::Completed, id, None);
        self.write_and_move(&f, &to)?;
        self.commit_point(&format!(
            "done {id} by {agent} (attempt {})",
            f.task.meta.attempt
        ))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: State::Completed,
            path: to,
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
    ) -> Result<std::result::Result<Moved, Lost>> {
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
    ) -> Result<std::result::Result<Moved, Lost>> {
        let mut f = match self.own_claim(id, who, "fail", error, now)? {
            Ok(f) => f,
            Err(lost) => return Ok(Err(lost)),
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
        f.doc.append_body(&section("Failure", &items, error));
        let to = if again {
            self.return_to_pending(&mut f)?
        } else {
            self.move_to_failed(&mut f, now)?
        };
        self.commit_point(&format!(
            "fail {id} by {agent} (attempt {attempt} of {max}): {}",
            next_step(again)
        ))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: if again { State::Pending } else { State::Failed },
            path: to,
        }))
    }

    /// `release`: gives the task back to `pending/` unchanged but for the claim fields; the
    /// attempt it used does not count.
    pub fn release(
        &self,
        id: &str,
        who: &Claimant,
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Lost>> {
        let mut f = match self.own_claim(id, who, "release", "", now)? {
            Ok(f) => f,
            Err(lost) => return Ok(Err(lost)),
        };
        let agent = f.task.claimant().unwrap_or_default();
        f.doc.append_body(&section(
            "Released",
            &[("agent", agent.clone()), ("at", format_ts(now))],
            "",
        ));
        f.set(
            "attempt",
            FieldValue::Int(u64::from(f.task.meta.attempt.saturating_sub(1))),
        )?;
        let to = self.return_to_pending(&mut f)?;
        self.commit_point(&format!("release {id} by {agent}"))?;
        Ok(Ok(Moved {
            id: id.to_string(),
            state: State::Pending,
            path: to,
        }))
    }

    /// Sends a claimed file back to `pending/`: `status: pending` with the claim fields still
    /// in place (so an interrupted move is recognizable, see [`LockedRepo::recover`]), the
    /// move, then the claim fields cleared.
    fn return_to_pending(&self, f: &mut TaskFile) -> Result<PathBuf> {
        f.set("status", FieldValue::Str("pending".into()))?;
        let to = self.task_path(State::Pending, &f.task.id, None);
        self.write_and_move(f, &to)?;
        self.clear_claim(f, &to)?;
        Ok(to)
    }

    /// Removes the claim fields of `f`, which a move has just put at `path` in pending/.
    fn clear_claim(&self, f: &mut TaskFile, path: &Path) -> Result<()> {
        for k in ["claimed_by", "claimed_at", "heartbeat_at"] {
            f.remove(k)?;
        }
        self.replace_file(path, f.doc.text().as_bytes())
    }

    /// Sends a task to `failed/` for good: `status: failed` and `failed_at` (which mark an
    /// interrupted move, see [`unfinished_move`]), then the move. Returns the new path.
    pub(crate) fn move_to_failed(&self, f: &mut TaskFile, now: Timestamp) -> Result<PathBuf> {
        f.set_all(&[
            ("status", FieldValue::Str("failed".into())),
            ("failed_at", FieldValue::Str(format_ts(now))),
        ])?;
        let to = self.task_path(State::Failed, &f.task.id, None);
        self.write_and_move(f, &to)?;
        Ok(to)
    }

    /// Moves every stale claim (no heartbeat for `stale_after`) back to `pending/`, or to
    /// `failed/` once its attempts are used up, recording why in the file. With `dry_run`,
    /// only says what it would do.
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
            out.push(Reclaimed {
                id: e.id.clone(),
                agent: agent.clone(),
                to,
                reason: reason.clone(),
                path: path.clone(),
            });
            if dry_run {
                continue;
            }
            f.doc.append_body(&section(
                "Reclaimed",
                &[
                    ("agent", agent.unwrap_or_default()),
                    ("at", format_ts(now)),
                    ("attempt", format!("{attempt} of {max}")),
                    ("next", next_step(!exhausted)),
                ],
                &reason,
            ));
            if exhausted {
                self.move_to_failed(&mut f, now)?;
            } else {
                self.return_to_pending(&mut f)?;
            }
            self.commit_point(&format!(
                "reclaim {}: {} ({reason})",
                e.id,
                next_step(!exhausted)
            ))?;
        }
        Ok(out)
    }
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
