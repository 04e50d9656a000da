//! What the page shows, read through brain-core without the lock: the board (the "Needs you"
//! lane, the four columns, the run, the remote, the warnings, the history) and one task.

use std::path::Path;

use brain_core::queue::Judge;
use brain_core::status::{self, Item};
use brain_core::store::prompts::{self, Kind, QState};
use brain_core::task::time::format_ts;
use brain_core::{Repo, State, Task};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{Value, json};

/// How many cards a column sends at once; the rest are pages (`?completed=N`).
pub const PAGE: usize = 25;
/// The pending column's first page: the queue's head matters, not its tail.
pub const PENDING_PAGE: usize = 200;
/// How much of a log's end a card or the detail shows.
const TAIL_BYTES: u64 = 4 * 1024;
const DETAIL_TAIL_BYTES: u64 = 64 * 1024;
/// How many commits the activity shows.
const ACTIVITY: usize = 30;
/// How many commits are read for the machines of the claims.
const HISTORY: usize = 200;
/// How many warnings the board lists (`brain doctor` has them all).
const WARNINGS: usize = 50;

/// Which page of the paged columns to send.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct Pages {
    pub completed: usize,
    pub failed: usize,
    pub pending: usize,
}

#[derive(Serialize)]
struct Ask {
    id: String,
    text: String,
    from: Option<String>,
    asked: Option<String>,
    task: Option<String>,
    /// The task's title, for an approval.
    title: Option<String>,
}

#[derive(Serialize)]
struct Active {
    id: String,
    title: String,
    agent: Option<String>,
    machine: Option<String>,
    claimed_at: Option<String>,
    heartbeat_at: Option<String>,
    /// `[queue] stale_after`: the claim is stale that long after its last heartbeat. The page
    /// counts the lease and the timeout down itself, from these and the board's `now`.
    lease_secs: u64,
    /// Until `brain run` stops the agent: the task's `timeout`, else `[run] timeout`.
    timeout_secs: u64,
    attempt: u32,
    /// The end of the log of this attempt under `brain run`, if there is one.
    log_tail: Option<String>,
}

#[derive(Serialize)]
struct Done {
    id: String,
    title: String,
    agent: Option<String>,
    at: Option<String>,
    attempt: u32,
    /// For a failed task: the reason it gave, and how many attempts are left.
    reason: Option<String>,
    attempts_left: Option<u32>,
}

/// The whole board, as `GET /api/board` sends it.
pub fn board(repo: &Repo, now: Timestamp, pages: Pages, version: u64) -> brain_core::Result<Value> {
    let listing = status::listing(repo, &State::ALL)?;
    let judge = Judge::new(repo, now)?;
    let ordered = listing.ordered();
    let of = |s: State| ordered.iter().copied().filter(move |t| t.state == s);
    let titles: std::collections::HashMap<&str, &str> = ordered
        .iter()
        .map(|t| (t.id.as_str(), t.title.as_str()))
        .collect();

    // Needs you: approvals first, then questions, oldest first.
    let mut approvals = Vec::new();
    let mut questions = Vec::new();
    for q in prompts::read_all(repo)? {
        if q.state != QState::Open {
            continue;
        }
        let title = q
            .task
            .as_deref()
            .and_then(|t| titles.get(t).map(|s| s.to_string()));
        let ask = Ask {
            id: q.id,
            text: q.text,
            from: q.from,
            asked: q.asked,
            task: q.task,
            title,
        };
        match q.kind {
            Kind::Approval => approvals.push(ask),
            Kind::Question => questions.push(ask),
        }
    }

    let pending: Vec<&Task> = of(State::Pending).collect();
    let pending_page: Vec<Item> = pending
        .iter()
        .skip(pages.pending * PENDING_PAGE)
        .take(PENDING_PAGE)
        .map(|t| Item::judged(t, &judge))
        .collect();

    let config = repo.config();
    // The history, read once: the activity, and the machine each claim was made on.
    let history = match repo.git() {
        Some(g) => g.recent(HISTORY).unwrap_or_default(),
        None => Vec::new(),
    };
    let machines = claim_machines(&history);
    let active: Vec<Active> = of(State::Active)
        .map(|t| Active {
            id: t.id.clone(),
            title: t.title.clone(),
            agent: t.claimant(),
            machine: machines.get(&t.id).cloned(),
            claimed_at: t.meta.claimed_at.map(format_ts),
            heartbeat_at: status::last_seen(t).map(format_ts),
            lease_secs: config.queue.stale_after,
            timeout_secs: t.meta.timeout.unwrap_or(config.run.timeout),
            attempt: t.meta.attempt,
            log_tail: attempt_log(repo.root(), t).and_then(|p| tail(&p, TAIL_BYTES)),
        })
        .collect();

    let finished = |s: State, page: usize| -> brain_core::Result<Value> {
        let mut tasks: Vec<&Task> = of(s).collect();
        let at = |t: &Task| match s {
            State::Completed => t.meta.completed_at,
            _ => t.meta.failed_at,
        };
        // Newest first.
        tasks.sort_by(|a, b| at(b).cmp(&at(a)).then_with(|| b.id.cmp(&a.id)));
        let total = tasks.len();
        let max_attempts = config.queue.max_attempts;
        let items: Vec<Done> = tasks
            .into_iter()
            .skip(page * PAGE)
            .take(PAGE)
            .map(|t| {
                let failed = s == State::Failed;
                Done {
                    id: t.id.clone(),
                    title: t.title.clone(),
                    agent: t.meta.claimed_by.clone(),
                    at: at(t).map(format_ts),
                    attempt: t.meta.attempt,
                    reason: failed.then(|| failure_reason(repo, t)).flatten(),
                    attempts_left: failed.then(|| {
                        t.meta
                            .max_attempts
                            .unwrap_or(max_attempts)
                            .saturating_sub(t.meta.attempt)
                    }),
                }
            })
            .collect();
        Ok(
            json!({"total": total, "page": page, "pages": total.div_ceil(PAGE).max(1), "items": items}),
        )
    };

    let mut counts = status::Counts::default();
    for t in &listing.scan.tasks {
        counts.add(t.state);
    }
    let mut warnings = listing.warnings.clone();
    warnings.extend(listing.scan.problems.iter().map(|p| p.to_string()));
    if warnings.len() > WARNINGS {
        let more = warnings.len() - WARNINGS;
        warnings.truncate(WARNINGS);
        warnings.push(format!(
            "… and {more} more: run `brain doctor` to see them all"
        ));
    }
    let activity: Vec<_> = history.into_iter().take(ACTIVITY).collect();
    // When the board changes by itself, with no file changing: a `not_before` passing.
    let until = pending
        .iter()
        .filter_map(|t| t.meta.not_before)
        .filter(|nb| *nb > now)
        .min();
    Ok(json!({
        "version": version,
        "changes_at": until.map(format_ts),
        "now": format_ts(now),
        "repo": brain_core::fsutil::plain_path(repo.root()).display().to_string(),
        "machine": brain_core::usage::machine_name(),
        "counts": counts,
        "needs_you": {"approvals": approvals, "questions": questions},
        "pending": {
            "total": pending.len(),
            "page": pages.pending,
            "pages": pending.len().div_ceil(PENDING_PAGE).max(1),
            "items": pending_page,
        },
        "active": active,
        "completed": finished(State::Completed, pages.completed)?,
        "failed": finished(State::Failed, pages.failed)?,
        "run": run_info(repo, now),
        "remote": status::remote_status(repo, false)?,
        "warnings": warnings,
        "activity": activity,
    }))
}

/// The machine each claim was made on, from the `Brain-Machine` trailer of its claim commit
/// (the newest commits are enough: a claim is recent).
fn claim_machines(
    history: &[brain_core::git::Commit],
) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for c in history.iter().rev() {
        if let (Some(rest), Some(m)) = (c.subject.strip_prefix("claim "), &c.machine)
            && let Some(id) = rest.split_whitespace().next()
        {
            out.insert(id.to_string(), m.clone());
        }
    }
    out
}

/// The last run, the next one by `[run] schedule`, the usage limits that pause runs, usage
/// today.
fn run_info(repo: &Repo, now: Timestamp) -> Value {
    let since = now - jiff::SignedDuration::from_hours(7 * 24);
    let last = brain_core::run::review::runs(repo, since).pop();
    let next = <croner::Cron as std::str::FromStr>::from_str(&repo.config().run.schedule)
        .ok()
        .and_then(|cron| {
            let local = chrono_now_local(now)?;
            cron.find_next_occurrence(&local, false).ok()
        })
        .map(|t| t.to_rfc3339());
    // Usage as `brain usage` shows it: this machine's Claude Code transcripts (read through
    // their cache in .brain/usage) give the current 5-hour block.
    let tz = jiff::tz::TimeZone::system();
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(std::path::PathBuf::from);
    let roots = brain_core::usage::import::roots(
        std::env::var("CLAUDE_CONFIG_DIR").ok().as_deref(),
        home.as_deref(),
    );
    let totals = (!roots.is_empty())
        .then(|| brain_core::usage::report::import_transcripts(repo, &roots, &tz).ok())
        .flatten();
    let usage = brain_core::usage::report::report(
        repo,
        &brain_core::usage::machine_name(),
        totals.as_ref().map(|t| (roots.as_slice(), t)),
        &tz,
        now,
    )
    .ok();
    json!({
        "last": last,
        "next": next,
        "schedule": repo.config().run.schedule,
        "paused": status::held_limits(repo, now),
        "today": usage.as_ref().map(|u| &u.totals),
        "block": usage.as_ref().and_then(|u| u.transcripts.as_ref()).and_then(|t| t.block.as_ref()).map(brain_core::usage::report::describe_block),
    })
}

fn chrono_now_local(now: Timestamp) -> Option<chrono::DateTime<chrono::Local>> {
    use chrono::TimeZone;
    chrono::Local.timestamp_opt(now.as_second(), 0).single()
}

/// The log of the current attempt of an active task under `brain run`.
fn attempt_log(root: &Path, t: &Task) -> Option<std::path::PathBuf> {
    let want = format!("@{}.log", t.meta.epoch);
    brain_core::store::output_files(root, &t.id)
        .ok()?
        .into_iter()
        .rev()
        .find(|p| p.to_string_lossy().ends_with(&want))
}

/// The last `bytes` of a file, from a line start, as text.
pub fn tail(path: &Path, bytes: u64) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let (mut f, len) = brain_core::fsutil::open_regular(path).ok()?;
    let from = len.saturating_sub(bytes);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::new();
    f.take(bytes).read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Some(match (from > 0, text.find('\n')) {
        (true, Some(i)) => text[i + 1..].to_string(),
        _ => text,
    })
}

/// Why a failed task failed: the first line of text in its last `## Failure` section.
fn failure_reason(repo: &Repo, t: &Task) -> Option<String> {
    let f = repo.read(&brain_core::Entry::from(t)).ok()?;
    let text = f.doc.text();
    let section = &text[text.rfind("\n## Failure")? + 1..];
    section
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("- "))
        .or_else(|| {
            section
                .lines()
                .skip(1)
                .map(str::trim)
                .find(|l| l.starts_with("- error:") || l.starts_with("- reason:"))
        })
        .map(|l| l.chars().take(300).collect())
}

/// One task in detail, as `GET /api/task/ID` sends it.
pub fn task(repo: &Repo, id: &str, now: Timestamp) -> brain_core::Result<Value> {
    let d = status::detail(repo, id, now)?;
    let t = &d.file.task;
    let text = d.file.doc.text();
    let body = text
        .strip_prefix("---")
        .and_then(|rest| rest.find("\n---").map(|i| &rest[i + 4..]))
        .unwrap_or(text)
        .trim_start_matches('\n');
    let log = d.outputs.last().map(|p| {
        json!({
            "path": brain_core::fsutil::shown_in(repo.root(), p),
            "tail": tail(p, DETAIL_TAIL_BYTES),
        })
    });
    Ok(json!({
        "id": t.id,
        "state": t.state,
        "title": t.title,
        "agent": t.claimant(),
        "path": brain_core::fsutil::shown_in(repo.root(), &t.path),
        "meta": t.meta,
        "readiness": d.readiness,
        "body": body,
        "log": log,
        "attempts": d.outputs.len(),
        "late": d.late.iter().map(|p| brain_core::fsutil::shown_in(repo.root(), p)).collect::<Vec<_>>(),
    }))
}
