//! Claiming: which pending task an agent may take now and in what order (SPEC §3), and the claim
//! itself, one rename that never overwrites, with its token (`<id>@<epoch>`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::queue::locked::{rel, rels};
use crate::store::Entry;
use crate::task::frontmatter::FieldValue;
use crate::task::names;
use crate::task::time::format_ts;
use crate::task::{Approval, State, Task};

use super::ready::{Blocked, Reason, gate_open};

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

/// The capabilities and approval answers a claim decides by (see [`LockedRepo::claim_for`];
/// a session's primer judges by the same).
pub struct Eligibility {
    caps: Vec<String>,
    answers: std::collections::HashMap<String, bool>,
}

impl Eligibility {
    /// The rules for `agent` (its brain.toml capabilities plus `extra_caps`, and the approval
    /// answers in prompts/), read once; the name is not checked here.
    pub fn of(
        repo: &crate::store::Repo,
        agent: &str,
        extra_caps: &[String],
    ) -> Result<Eligibility> {
        let mut caps = repo
            .config()
            .agents
            .get(agent)
            .map(|a| a.capabilities.clone())
            .unwrap_or_default();
        caps.extend(extra_caps.iter().cloned());
        Ok(Eligibility {
            caps,
            answers: crate::store::prompts::approvals(repo)?,
        })
    }

    /// `Ok(approved by an answer)` when `t` may be claimed now; else why not (`None`: skipped
    /// without a reason worth reporting).
    pub fn check(
        &self,
        repo: &crate::store::Repo,
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
        let completed = repo.state_dir(State::Completed);
        let is_completed = |id: &str| crate::store::completed_in(&completed, id);
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

impl Serialize for PassedOver {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            id: &'a str,
            #[serde(flatten)]
            why: Reason,
        }
        View {
            id: &self.id,
            why: Reason(self.why.clone()),
        }
        .serialize(s)
    }
}

/// A pending task a claim passed over, and why (`brain claim` that finds nothing names the
/// first few, [`PASSED_OVER_SHOWN`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedOver {
    pub id: String,
    pub why: Blocked,
}

/// How many passed-over tasks a claim that finds nothing reports.
pub const PASSED_OVER_SHOWN: usize = 3;

/// The file where the claim of `.brain/` names the active file a claim was writing (see
/// `LockedRepo::claim_one`).
pub const CLAIMING: &str = "claiming";

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

impl LockedRepo<'_> {
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

    /// Claims the best eligible task for `agent` (or the task `only`), as SPEC §3 orders them.
    /// `Ok(None)`: nothing eligible (with the reason when `only` was given).
    pub fn claim(
        &self,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Vec<PassedOver>>> {
        self.claim_from(None, agent, extra_caps, only, now)
    }

    /// [`LockedRepo::claim`] with the pending queue built beforehand, without the lock (see
    /// [`crate::store::Repo::queue`]): listing `pending/` is the longest part of a claim, and
    /// doing it before taking the lock lets other claimers work meanwhile. The claim is then
    /// ordered as of the listing; each candidate is still read again and checked under the
    /// lock, and the no-overwrite rename still decides.
    pub fn claim_from(
        &self,
        queue: Option<crate::store::Queue>,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Vec<PassedOver>>> {
        self.claim_for(queue, agent, extra_caps, only, &Unattended::default(), now)
    }

    /// [`LockedRepo::claim_from`] for an unattended run (`brain run`): skips tasks marked
    /// `unattended: false`, and the tasks it names in `skip` (those it already tried).
    pub fn claim_for(
        &self,
        queue: Option<crate::store::Queue>,
        agent: &str,
        extra_caps: &[String],
        only: Option<&str>,
        filter: &Unattended,
        now: Timestamp,
    ) -> Result<std::result::Result<Claimed, Vec<PassedOver>>> {
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
        let mut why: Vec<PassedOver> = Vec::new();
        let mut passed_over = |id: &str, b: Blocked| {
            if why.len() < PASSED_OVER_SHOWN && why.iter().all(|p| p.id != id) {
                why.push(PassedOver {
                    id: id.to_string(),
                    why: b,
                });
            }
        };
        for t in candidates {
            if let Err(b) = rules.check(self, &t, filter, now) {
                if let Some(b) = b {
                    passed_over(&t.id, b);
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
                        passed_over(&fresh.id, b);
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
                passed_over(
                    &fresh.id,
                    Blocked::Duplicate {
                        paths: others.iter().map(|p| rel(self, p)).collect(),
                    },
                );
                continue;
            }
            if let Some(c) = self.claim_one(&fresh, agent, approved, now)? {
                return Ok(Ok(c));
            }
        }
        Ok(Err(why))
    }

    /// What decides whether `agent` may claim a pending task now, read once per claim.
    fn eligibility(&self, agent: &str, extra_caps: &[String]) -> Result<Eligibility> {
        names::validate_agent(agent)?;
        Eligibility::of(self, agent, extra_caps)
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
}
