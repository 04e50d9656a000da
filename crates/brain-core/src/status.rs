//! `brain status`: counts, claims, stale claims, open questions.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::Result;
use crate::prompts::QState;
use crate::repo::Repo;
use crate::task::{State, Task};
use crate::time::format_ts;

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
    let rel = |p: &std::path::Path| {
        p.strip_prefix(repo.root())
            .unwrap_or(p)
            .display()
            .to_string()
    };
    let mut out = Vec::new();
    let mut by_id: std::collections::BTreeMap<String, Vec<&Task>> = Default::default();
    for t in tasks {
        for w in &t.warnings {
            out.push(format!("{}: {w}", rel(&t.path)));
        }
        by_id.entry(t.id.to_ascii_lowercase()).or_default().push(t);
    }
    for (_, ts) in by_id.into_iter().filter(|(_, ts)| ts.len() > 1) {
        out.push(format!(
            "task {} has files in {} places ({}); it is not claimed until one is left: `brain doctor` shows them and `brain doctor --fix` sorts them out",
            ts[0].id,
            ts.len(),
            ts.iter().map(|t| rel(&t.path)).collect::<Vec<_>>().join(", ")
        ));
    }
    out.extend(crate::questions::reading_warnings(repo)?);
    Ok(out)
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
        match t.state {
            State::Pending => counts.pending += 1,
            State::Active => counts.active += 1,
            State::Completed => counts.completed += 1,
            State::Failed => counts.failed += 1,
        }
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
    let open_questions = crate::questions::all(repo)?
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
        },
        scan.problems,
    ))
}
