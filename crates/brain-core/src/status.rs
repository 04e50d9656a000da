//! What a front end shows of the queue, read without the lock: the status (counts, claims,
//! stale claims, open questions, warnings), the listing in queue order with its items as
//! `list --json` shows them, and one task in detail.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Result;
use crate::store::Repo;
use crate::store::prompts::QState;
use crate::task::time::format_ts;
use crate::task::{State, Task};

/// One active claim.
#[derive(Debug, Serialize)]
pub struct Claim {
    pub id: String,
    pub title: String,
    pub agent: Option<String>,
    pub claimed_at: Option<String>,
    pub heartbeat_at: Option<String>,
    /// Seconds since the claim was made.
    pub age_secs: Option<i64>,
    /// Seconds since the last heartbeat (or the claim).
    pub idle_secs: Option<i64>,
    pub stale: bool,
}

/// Counts per state.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub pending: usize,
    pub active: usize,
    pub completed: usize,
    pub failed: usize,
}

impl Counts {
    /// Counts one more task in `state`.
    pub fn add(&mut self, state: State) {
        match state {
            State::Pending => self.pending += 1,
            State::Active => self.active += 1,
            State::Completed => self.completed += 1,
            State::Failed => self.failed += 1,
        }
    }
}

/// The whole status.
#[derive(Debug, Serialize)]
pub struct Status {
    pub counts: Counts,
    pub claims: Vec<Claim>,
    pub stale: usize,
    pub open_questions: usize,
    /// Files that could not be read (see `brain doctor`).
    pub problems: usize,
    /// What brain reads differently than a person may expect (a misspelt field, an id in two
    /// places, an approval answered with neither yes nor no), one sentence each.
    pub warnings: Vec<String>,
    /// How this copy stands against the remote (`[git] remote`), if there is one.
    pub remote: Option<RemoteStatus>,
    /// The plan limits that hold now (no new session for that agent on that machine before
    /// `until`), from `context/usage/`.
    pub limits: Vec<HeldLimit>,
}

/// A plan limit that holds now.
#[derive(Debug, Serialize)]
pub struct HeldLimit {
    pub agent: String,
    pub machine: String,
    pub kind: String,
    pub until: String,
    pub message: String,
}

/// This copy against the remote branch.
#[derive(Debug, Serialize)]
pub struct RemoteStatus {
    pub remote: String,
    pub branch: String,
    /// Commits here that the remote has not.
    pub ahead: u64,
    /// Commits on the remote that are not here.
    pub behind: u64,
    /// Whether the figures come from a fetch just now (`false`: the remote could not be
    /// reached, or was not asked, and they are as of the last fetch).
    pub fetched: bool,
    /// Why the remote could not be reached.
    pub error: Option<String>,
}

/// How this copy stands against the remote; asks the remote when `fetch` is set, and falls
/// back to the last fetch when it cannot be reached.
pub fn remote_status(repo: &Repo, fetch: bool) -> Result<Option<RemoteStatus>> {
    let (Some(remote), Some(git)) = (repo.remote(), repo.git()) else {
        return Ok(None);
    };
    let branch = match &repo.config().git.branch {
        Some(b) => b.clone(),
        None => git.branch()?,
    };
    let fetch_now = || -> Result<std::result::Result<Option<String>, String>> {
        // Under the queue lock, like every other fetch here: two fetches at once would both
        // update the remote-tracking ref, and one of them would fail.
        let _lock = match repo.lock_offline() {
            Ok(l) => l,
            Err(e) => return Ok(Err(e.to_string())),
        };
        match git.fetch(remote, &branch) {
            Ok(tip) => Ok(Ok(tip)),
            Err(crate::Error::Remote { message, .. }) => Ok(Err(message)),
            Err(e) => Err(e),
        }
    };
    let (tip, fetched, error) = match fetch.then(fetch_now).transpose()? {
        Some(Ok(tip)) => (tip, true, None),
        Some(Err(why)) => (git.last_fetched(remote, &branch)?, false, Some(why)),
        None => (git.last_fetched(remote, &branch)?, false, None),
    };
    let (ahead, behind) = match (git.head()?, tip) {
        (Some(h), Some(t)) => git.ahead_behind(&h, &t)?,
        _ => (0, 0),
    };
    Ok(Some(RemoteStatus {
        remote: remote.to_string(),
        branch,
        ahead,
        behind,
        fetched,
        error,
    }))
}

/// What brain reads differently than a person may expect, among `tasks` and in prompts/:
/// for `brain list` and `brain status` (`brain doctor` reports the same).
pub fn warnings(repo: &Repo, tasks: &[Task]) -> Result<Vec<String>> {
    let rel = |p: &std::path::Path| crate::fsutil::shown_in(repo.root(), p);
    let mut out = Vec::new();
    for t in tasks {
        for w in &t.warnings {
            out.push(format!("{}: {w}", rel(&t.path)));
        }
        if t.state == State::Pending {
            let unknown = repo.config().unknown_capabilities(&t.meta.requires);
            if !unknown.is_empty() {
                out.push(format!(
                    "{}: no agent in brain.toml has {}, so no agent can claim it",
                    rel(&t.path),
                    unknown.join(", ")
                ));
            }
        }
    }
    for ts in same_ids(tasks) {
        out.push(format!(
            "task {} has files in {} places ({}); it is not claimed until one is left: `brain doctor` shows them and `brain doctor --fix` sorts them out",
            ts[0].id,
            ts.len(),
            ts.iter().map(|t| rel(&t.path)).collect::<Vec<_>>().join(", ")
        ));
    }
    out.extend(crate::store::prompts::reading_warnings(repo)?);
    Ok(out)
}

/// The tasks whose ids differ at most in case, in groups of two or more, by id (without
/// building a string for each of 100,000 tasks: most ids are nobody else's).
fn same_ids(tasks: &[Task]) -> Vec<Vec<&Task>> {
    let lower_hash = |id: &str| {
        id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let mut keys: Vec<(u64, usize)> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (lower_hash(&t.id), i))
        .collect();
    keys.sort_unstable();
    let mut groups: Vec<Vec<&Task>> = Vec::new();
    for run in keys.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        // One hash may hold more than one id.
        let mut left: Vec<&Task> = run.iter().map(|&(_, i)| &tasks[i]).collect();
        while let Some(first) = left.first().copied() {
            let (same, rest): (Vec<&Task>, Vec<&Task>) = left
                .into_iter()
                .partition(|t| t.id.eq_ignore_ascii_case(&first.id));
            if same.len() > 1 {
                groups.push(same);
            }
            left = rest;
        }
    }
    groups.sort_by_cached_key(|g| g[0].id.to_ascii_lowercase());
    groups
}

/// When the claim last showed life: its heartbeat, else the claim time.
pub fn last_seen(t: &Task) -> Option<Timestamp> {
    t.meta.heartbeat_at.or(t.meta.claimed_at)
}

/// Computes the status of `repo` at `now`. Also returns the problems found while reading.
pub fn status(repo: &Repo, now: Timestamp, fetch: bool) -> Result<(Status, Vec<crate::Error>)> {
    let scan = repo.scan(&State::ALL)?;
    let mut counts = Counts::default();
    let stale_after = repo.config().queue.stale_after as i64;
    let mut claims = Vec::new();
    for t in &scan.tasks {
        counts.add(t.state);
        if t.state == State::Active {
            let secs = |ts: Option<Timestamp>| ts.map(|ts| now.as_second() - ts.as_second());
            let idle = secs(last_seen(t));
            claims.push(Claim {
                id: t.id.clone(),
                title: t.title.clone(),
                agent: t.claimant(),
                claimed_at: t.meta.claimed_at.map(format_ts),
                heartbeat_at: t.meta.heartbeat_at.map(format_ts),
                age_secs: secs(t.meta.claimed_at),
                idle_secs: idle,
                stale: idle.is_some_and(|i| i > stale_after),
            });
        }
    }
    claims.sort_by(|a, b| a.id.cmp(&b.id));
    let open_questions = crate::store::prompts::read_all(repo)?
        .iter()
        .filter(|q| q.state == QState::Open)
        .count();
    let stale = claims.iter().filter(|c| c.stale).count();
    let warnings = warnings(repo, &scan.tasks)?;
    Ok((
        Status {
            counts,
            stale,
            claims,
            open_questions,
            problems: scan.problems.len(),
            warnings,
            remote: remote_status(repo, fetch)?,
            limits: held_limits(repo, now),
        },
        scan.problems,
    ))
}

/// The plan limits recorded in `context/usage/` that hold at `now`.
pub fn held_limits(repo: &Repo, now: Timestamp) -> Vec<HeldLimit> {
    let (machines, _) = crate::usage::MachineUsage::load_all(repo.root());
    let mut out = Vec::new();
    for m in machines {
        for (agent, u) in &m.agents {
            if let Some(l) = u.limit.as_ref().filter(|l| l.holds(now)) {
                out.push(HeldLimit {
                    agent: agent.clone(),
                    machine: m.machine.clone(),
                    kind: l.limit.kind.clone(),
                    until: format_ts(l.until),
                    message: l.limit.message.clone(),
                });
            }
        }
    }
    out
}

/// One task as `brain list --json` (and every front end that lists tasks) shows it.
#[derive(Debug, Serialize)]
pub struct Item<'a> {
    pub id: &'a str,
    pub state: State,
    pub title: &'a str,
    pub priority: crate::task::Priority,
    pub requires: &'a [String],
    pub preferred_interface: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub created: Option<crate::task::time::Rfc3339>,
    pub depends_on: &'a [String],
    pub approval: Option<&'static str>,
    pub attempt: u32,
    pub path: &'a std::path::PathBuf,
    /// What brain reads differently than a person may expect in the file (a misspelt field).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
    /// For a pending task: `ready`, `why` not, `attempts_left` (see [`Item::judged`]).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<crate::queue::Readiness>,
}

impl<'a> Item<'a> {
    /// The item with, for a pending task, whether it can be claimed now and why not.
    pub fn judged(t: &'a Task, judge: &crate::queue::Judge) -> Self {
        Item {
            readiness: judge.judge(t),
            ..Item::from(t)
        }
    }
}

impl<'a> From<&'a Task> for Item<'a> {
    fn from(t: &'a Task) -> Self {
        Item {
            id: &t.id,
            state: t.state,
            title: &t.title,
            priority: t.meta.priority,
            requires: &t.meta.requires,
            preferred_interface: t.meta.preferred_interface.as_deref(),
            agent: t.agent.as_deref(),
            created: t.meta.created.map(crate::task::time::Rfc3339),
            depends_on: &t.meta.depends_on,
            approval: t.meta.approval.map(|a| a.as_str()),
            attempt: t.meta.attempt,
            path: &t.path,
            warnings: &t.warnings,
            readiness: None,
        }
    }
}

/// The tasks of some states, read for a listing, with what could not be read and what reads
/// differently than expected.
#[derive(Debug)]
pub struct Listing {
    pub scan: crate::store::Scan,
    pub warnings: Vec<String>,
}

impl Listing {
    /// The tasks in listing order: by state, then queue order (priority, `created`, id).
    /// References, not copies: sorting 100,000 tasks by value costs more than the listing.
    pub fn ordered(&self) -> Vec<&Task> {
        let mut tasks: Vec<&Task> = self.scan.tasks.iter().collect();
        // Each key computed once, not at every comparison: state, queue order, id.
        tasks.sort_by_cached_key(|t| {
            let created = t.meta.created.map(|c| c.as_nanosecond());
            let rank = crate::store::rank(t.meta.priority, false, created);
            (t.state, rank, t.id.as_str())
        });
        tasks
    }
}

/// Reads the tasks of `states` for a listing (see [`Listing`]).
pub fn listing(repo: &Repo, states: &[State]) -> Result<Listing> {
    let scan = repo.scan(states)?;
    let warnings = warnings(repo, &scan.tasks)?;
    Ok(Listing { scan, warnings })
}

/// One task in detail: its file, and the files kept for it.
#[derive(Debug)]
pub struct Detail {
    pub file: crate::task::TaskFile,
    /// Results and errors that arrived after the claim that carried them was lost.
    pub late: Vec<std::path::PathBuf>,
    /// What the agent printed in each attempt under `brain run`, oldest first.
    pub outputs: Vec<std::path::PathBuf>,
    /// For a pending task, whether it can be claimed at the time asked, and why not.
    pub readiness: Option<crate::queue::Readiness>,
}

/// Task `id` in detail, judged at `now`.
pub fn detail(repo: &Repo, id: &str, now: Timestamp) -> Result<Detail> {
    let entry = repo.find(id)?;
    let file = repo.read(&entry)?;
    let late = crate::store::late_files(repo.root(), &file.task.id)?;
    let outputs = crate::store::output_files(repo.root(), &file.task.id)?;
    let readiness = match file.task.state {
        State::Pending => crate::queue::Judge::new(repo, now)?.judge(&file.task),
        _ => None,
    };
    Ok(Detail {
        file,
        late,
        outputs,
        readiness,
    })
}

/// [`Detail`] as `brain show --json` shows it: the fields of a listing item, plus `meta` and
/// `body`.
#[derive(Debug, Serialize)]
pub struct DetailView<'a> {
    #[serde(flatten)]
    pub item: Item<'a>,
    pub meta: &'a crate::task::Meta,
    pub body: &'a str,
    pub late: &'a [std::path::PathBuf],
    pub outputs: &'a [std::path::PathBuf],
}

impl<'a> From<&'a Detail> for DetailView<'a> {
    fn from(d: &'a Detail) -> Self {
        DetailView {
            item: Item {
                readiness: d.readiness.clone(),
                ..Item::from(&d.file.task)
            },
            meta: &d.file.task.meta,
            body: d.file.doc.body(),
            late: &d.late,
            outputs: &d.outputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, state: State) -> Task {
        let path = std::path::PathBuf::from(format!("/r/tasks/{state}/{id}.md"));
        let doc = crate::task::frontmatter::Document::parse("---\n---\n".into()).unwrap();
        Task {
            id: id.into(),
            state,
            agent: None,
            title: id.into(),
            meta: crate::task::Meta::parse(&doc, &path).unwrap(),
            path,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn ids_that_differ_only_in_case_are_grouped_in_order() {
        let tasks = [
            task("b-2", State::Pending),
            task("a-1", State::Pending),
            task("B-2", State::Completed),
            task("c-3", State::Failed),
            task("A-1", State::Failed),
            task("a-1x", State::Failed),
        ];
        let groups: Vec<Vec<(&str, State)>> = same_ids(&tasks)
            .iter()
            .map(|g| g.iter().map(|t| (t.id.as_str(), t.state)).collect())
            .collect();
        assert_eq!(
            groups,
            [
                vec![("a-1", State::Pending), ("A-1", State::Failed)],
                vec![("b-2", State::Pending), ("B-2", State::Completed)],
            ]
        );
        assert!(same_ids(&tasks[3..4]).is_empty());
    }
}
