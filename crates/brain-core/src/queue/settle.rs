//! Settling a claim: heartbeat, done, fail, release, each only by the claim's holder (its
//! token, or its agent's name); what a caller with a lost claim brings is kept in
//! `tasks/late/`, and a call repeated under the same claim is not a loss.

use std::fs;
use std::io;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::queue::claim::Claimant;
use crate::queue::locked::rel;
use crate::queue::moves::{next_step, section};
use crate::store::{Entry, LATE_DIR};
use crate::task::frontmatter::FieldValue;
use crate::task::names;
use crate::task::time::format_ts;
use crate::task::{State, TaskFile};

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

/// The error of a transition on a claim that is not (or no longer) the caller's.
#[derive(Debug, Clone, Serialize)]
pub struct Lost {
    pub id: String,
    pub reason: String,
    /// Where what the caller brought (a result, an error text) was kept.
    pub kept: Option<PathBuf>,
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

impl crate::store::Repo {
    /// Writes, before the lock, what `done` of task `id` is expected to write (see
    /// [`crate::queue::Prepared`]); hand it to [`LockedRepo::offer`]. `None` when the task is not
    /// claimed as far as can be seen now (the locked `done` says why).
    pub fn prepare_done(
        &self,
        id: &str,
        who: &Claimant,
        result: &str,
        extra: &[(&str, String)],
        now: Timestamp,
    ) -> Result<Option<crate::queue::Prepared>> {
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

impl LockedRepo<'_> {
    /// The active file of task `id`, if it is claimed.
    pub fn active_entry(&self, id: &str) -> Result<Option<Entry>> {
        Ok(self
            .locate(id)?
            .into_iter()
            .find(|e| e.state == State::Active))
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
            && !t.id.eq_ignore_ascii_case(id)
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
                let epoch = self.read(first).map_or(0, |f| f.task.meta.epoch);
                let state = first.state;
                match (&who.token, &who.agent) {
                    (Some(t), _) if t.epoch > epoch => format!(
                        "the token {t} is not one brain gave: task {id} is at epoch {epoch}, and epochs only grow; it is not claimed now (it is in tasks/{state}/)"
                    ),
                    (Some(t), _) => format!(
                        "the claim {t} is no longer current: task {id} is not claimed any more (it is in tasks/{state}/, at epoch {epoch})"
                    ),
                    (None, Some(a)) => format!(
                        "{a} has no claim on task {id}: it is not claimed (it is in tasks/{state}/)"
                    ),
                    (None, None) => format!("task {id} is not claimed (it is in tasks/{state}/)"),
                }
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
                        format!(
                            "task {id} is claimed by {owner_name}, not {a}; the current claim is {id}@{epoch}"
                        )
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
        let dir = crate::fsutil::join_rel(self.root(), LATE_DIR);
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let epoch = who
            .token
            .as_ref()
            .map_or("none".to_string(), |t| t.epoch.to_string());
        let agent = who.agent.as_deref().unwrap_or("unknown");
        let body = format!(
            "---\ntask: {id}\nepoch: {epoch}\nagent: {agent}\nkind: {kind}\nat: {}\nreason: {}\n---\n\n{}\n",
            format_ts(now),
            crate::task::frontmatter::scalar(reason),
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
            let id = self.spelled(&id)?;
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
        let id = &self.spelled(id)?;
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
        let id = &self.spelled(id)?;
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
        self.release_with(id, who, "", &[], now)
    }

    /// [`LockedRepo::release`] that says why (`reason`, a `- reason:` line and the text under
    /// the section) with more `- key: value` lines in the `## Released` section.
    pub fn release_with(
        &self,
        id: &str,
        who: &Claimant,
        reason: &str,
        extra: &[(&str, String)],
        now: Timestamp,
    ) -> Result<std::result::Result<Moved, Refused>> {
        let id = &self.spelled(id)?;
        let mut f = match self.own_claim(id, who, "release", "", now)? {
            Own::Current(f) => f,
            Own::Settled(f) => return self.repeated(f, who, "release", "", now),
            Own::Lost(lost) => return Ok(Err(Refused::Lost(lost))),
        };
        let agent = f.task.claimant().unwrap_or_default();
        let mut items = vec![("agent", agent.clone()), ("at", format_ts(now))];
        let first = reason.lines().next().unwrap_or_default().trim();
        if !first.is_empty() {
            items.push(("reason", first.to_string()));
        }
        items.extend(extra.iter().cloned());
        let rest = reason.split_once('\n').map_or("", |(_, r)| r.trim());
        f.append_body(&section("Released", &items, rest));
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
