//! What an agent's session is told about the queue: at its start (`brain hook session-start`,
//! a primer in plain factual sentences), before it stops (a reminder of the claims it still
//! holds), and when it hit the plan's usage limit (recorded as `brain run` records one).
//!
//! Everything here only reads, without the queue lock and without the network, but for
//! [`record_limit`], one short transaction that never catches up with a remote.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::Result;
use crate::queue::{Eligibility, Kind, Transaction, Unattended};
use crate::store::Repo;
use crate::store::prompts::{self, Kind as QKind, QState};
use crate::task::time::{format_age, format_ts};
use crate::task::{State, Task};
use crate::usage::{LimitHit, MachineUsage};

/// The agent an interactive Claude Code session is: `BRAIN_AGENT` (given as `env_agent`),
/// else `[claude] agent`, else `claude-code`.
pub fn session_agent(repo: &Repo, env_agent: Option<&str>) -> String {
    env_agent
        .filter(|a| !a.trim().is_empty())
        .map(str::to_string)
        .or_else(|| repo.config().claude.agent.clone())
        .unwrap_or_else(|| "claude-code".to_string())
}

/// How long a primer may be, in characters: about 1,500 tokens at a cautious 3 characters a
/// token (English runs nearer 4).
pub const MAX_CHARS: usize = 4500;
/// How many claimable tasks, questions and answers a primer names.
const SHOWN: usize = 5;
/// How many pending tasks, at most, a primer looks at for the ones the agent could claim.
const LOOKED_AT: usize = 500;
/// How much of the agent's handoff a primer quotes.
const HANDOFF_CHARS: usize = 1500;

/// Who the session is and what it is for.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    pub agent: &'a str,
    /// The task of a `brain run` session (`BRAIN_TASK`): then only what concerns it.
    pub task: Option<&'a str>,
    /// This machine's name in `context/usage/`.
    pub machine: &'a str,
    pub now: Timestamp,
}

/// The primer for the start of a session.
pub fn session_start(repo: &Repo, s: &Session<'_>) -> Result<String> {
    let mut out = Vec::new();
    let root = repo.root().display();
    let mut problems = Vec::new();
    let active = active_tasks(repo, &mut problems)?;
    let questions = prompts::read_all(repo)?;
    let stale_after = repo.config().queue.stale_after as i64;
    match s.task {
        Some(id) => {
            let t = active.iter().find(|t| t.id.eq_ignore_ascii_case(id));
            out.push(format!(
                "brain: this session works on task {id}{} of the brain repo at {root}, as the agent {}.",
                t.map(|t| format!(" \"{}\"", t.title)).unwrap_or_default(),
                s.agent
            ));
            if t.is_none() {
                out.push(format!(
                    "Task {id} is not claimed now (it is not in tasks/active/): its claim may have been lost."
                ));
            }
        }
        None => out.push(format!(
            "brain: this Claude Code session is the agent {} of the brain repo at {root}, a queue of Markdown task files that agents and a person share.",
            s.agent
        )),
    }

    // The claims it holds, with their lease.
    let mine: Vec<&Task> = active
        .iter()
        .filter(|t| t.claimant().as_deref() == Some(s.agent))
        .filter(|t| s.task.is_none_or(|id| t.id.eq_ignore_ascii_case(id)))
        .collect();
    for t in &mine {
        let seen = crate::status::last_seen(t);
        let idle = seen.map(|ts| s.now.as_second() - ts.as_second());
        let lease = match idle {
            Some(i) if i > stale_after => {
                "its lease has run out, so it may be reclaimed at any moment".to_string()
            }
            Some(i) => format!(
                "its lease runs out in {} unless `brain heartbeat {}` renews it",
                format_age(stale_after - i),
                t.id
            ),
            None => "it has no heartbeat yet".to_string(),
        };
        out.push(format!(
            "You hold the claim on {} \"{}\" (attempt {}, epoch {}): {lease}.",
            t.id, t.title, t.meta.attempt, t.meta.epoch
        ));
    }

    if s.task.is_none() {
        out.push(claimable(repo, s, &mut problems)?);
        let open: Vec<_> = questions
            .iter()
            .filter(|q| q.state == QState::Open)
            .collect();
        let approvals = open.iter().filter(|q| q.kind == QKind::Approval).count();
        if !open.is_empty() {
            out.push(format!(
                "Waiting for the person: {} open question(s) and {approvals} approval request(s) in prompts/pending.md.",
                open.len() - approvals
            ));
        }
    }

    // Answers to what this agent (or this task) asked.
    let answered: Vec<_> = questions
        .iter()
        .filter(|q| q.state == QState::Answered && q.kind == QKind::Question)
        .filter(|q| match s.task {
            Some(id) => q.task.as_deref() == Some(id),
            None => q.from.as_deref() == Some(s.agent),
        })
        .collect();
    for q in answered.iter().rev().take(SHOWN) {
        out.push(format!(
            "The person answered {} \"{}\": \"{}\".",
            q.id,
            first_line(&q.text, 200),
            first_line(q.answer.as_deref().unwrap_or(""), 300)
        ));
    }
    if let Some(id) = s.task {
        let open = questions
            .iter()
            .filter(|q| q.state == QState::Open && q.task.as_deref() == Some(id))
            .count();
        if open > 0 {
            out.push(format!(
                "{open} question(s) about {id} wait for the person's answer."
            ));
        }
    }

    if let Some(h) = handoff_for(repo, s.agent) {
        out.push(h);
    }
    out.push(usage_line(repo, s));
    if !problems.is_empty() {
        out.push(format!(
            "{} task file(s) cannot be read, so they are left out here; `brain doctor` names them (the first: {}).",
            problems.len(),
            first_line(&problems[0].to_string(), 300)
        ));
    }
    out.push(commands(s));
    Ok(fit(out.join("\n")))
}

/// A reminder for a session about to stop while it still holds claims, with the claims it
/// names (`id@epoch`, so that a front end reminds of each one once); `None` when it holds none.
pub fn stop_reminder(repo: &Repo, s: &Session<'_>) -> Result<Option<(String, Vec<String>)>> {
    let active = active_tasks(repo, &mut Vec::new())?;
    let held: Vec<&Task> = active
        .iter()
        .filter(|t| t.claimant().as_deref() == Some(s.agent))
        .filter(|t| s.task.is_none_or(|id| t.id.eq_ignore_ascii_case(id)))
        .collect();
    if held.is_empty() {
        return Ok(None);
    }
    let claims = held
        .iter()
        .map(|t| format!("{}@{}", t.id, t.meta.epoch))
        .collect();
    let mine: Vec<String> = held
        .iter()
        .map(|t| format!("{} \"{}\"", t.id, t.title))
        .collect();
    Ok(Some((
        fit(format!(
            "brain: the agent {} still holds the claim on {}. Before stopping, finish it with `brain done ID --result \"...\"`, give it back with `brain fail ID --error \"...\" --retry` or `brain release ID`, or leave a note with `brain handoff --to AGENT --task ID --note \"...\"` if the work continues later (add `--agent {}` or `--token` to each).",
            s.agent,
            mine.join(", "),
            s.agent
        )),
        claims,
    )))
}

/// Records the usage limit Claude Code reported for a session (`StopFailure` with
/// `rate_limit`) in this machine's usage file, as `brain run` does: `error` is what it said.
/// `None` when no limit can be read from it. Never touches a remote: with one, the file is
/// written now and committed by the next change.
pub fn record_limit(
    repo: &Repo,
    s: &Session<'_>,
    error: &str,
    tz: &TimeZone,
) -> Transaction<Option<LimitHit>> {
    let now = s.now;
    let limit = error
        .lines()
        .find_map(|l| crate::usage::limits::limit_in(l, now, tz))
        .or_else(|| {
            // `rate_limit` with words brain does not know: a limit with no reset time.
            (!error.trim().is_empty()).then(|| crate::usage::Limit {
                kind: "usage".into(),
                resets_at: None,
                message: first_line(error, 300),
            })
        });
    let Some(limit) = limit else {
        return Transaction {
            result: Ok(None),
            notes: Vec::new(),
        };
    };
    let kind = if repo.remote().is_some() {
        Kind::Look
    } else {
        Kind::Change
    };
    let (agent, machine) = (s.agent.to_string(), s.machine.to_string());
    repo.section(kind, now, |l| {
        let mut u = MachineUsage::load(l, &machine)?;
        u.set_limit(&agent, now, limit.clone());
        u.save_and_summarize(l, now)?;
        l.commit_point(&format!("usage: {agent} hit {}", limit.describe()))?;
        Ok(u.active_limit(&agent, now).cloned())
    })
}

fn active_tasks(repo: &Repo, problems: &mut Vec<crate::Error>) -> Result<Vec<Task>> {
    let scan = repo.scan(&[State::Active])?;
    problems.extend(scan.problems);
    Ok(scan.tasks)
}

/// The tasks the agent could claim now, in the order a claim takes them.
fn claimable(repo: &Repo, s: &Session<'_>, problems: &mut Vec<crate::Error>) -> Result<String> {
    let config = repo.config();
    let rules = Eligibility::of(repo, s.agent, &[])?;
    let mut queue = repo.queue_at_a_glance(Some(s.agent), problems)?;
    let pending = queue.len();
    let (mut ready, mut waiting) = (Vec::new(), None);
    // The first few in queue order; a queue where nothing near the front is ready is not read
    // to its end.
    for t in queue.tasks().take(LOOKED_AT) {
        match rules.check(repo, &t, &Unattended::default(), s.now) {
            Ok(_) => {
                let priority = t.meta.priority.as_str();
                ready.push(format!("{} [{priority}] \"{}\"", t.id, t.title));
                if ready.len() == SHOWN {
                    break;
                }
            }
            Err(Some(b)) => {
                waiting.get_or_insert_with(|| format!("{}: {b}", t.id));
            }
            Err(None) => {}
        }
    }
    let known = if config.agents.contains_key(s.agent) {
        String::new()
    } else {
        format!(
            " brain.toml has no [agents.{}], so it claims with no capabilities unless it gives --capabilities.",
            s.agent
        )
    };
    Ok(if ready.is_empty() {
        format!(
            "No pending task is ready for {} now ({pending} pending, the first {} in queue order looked at{}).{known}",
            s.agent,
            pending.min(LOOKED_AT),
            waiting
                .map(|w| format!("; the first waits: {w}"))
                .unwrap_or_default()
        )
    } else {
        format!(
            "Tasks {} could claim now, in the order `brain claim` takes them ({} of {pending} pending shown): {}.{known}",
            s.agent,
            ready.len(),
            ready.join("; ")
        )
    })
}

fn handoff_for(repo: &Repo, agent: &str) -> Option<String> {
    let all = crate::human::handoff::read_all(repo.root()).ok()?;
    let h = all.into_iter().find(|h| h.agent == agent)?;
    let mut parts = Vec::new();
    if let Some(t) = &h.task {
        parts.push(format!("task {t}"));
    }
    parts.extend(h.notes.iter().map(|n| format!("note: {n}")));
    parts.extend(h.blocking.iter().map(|b| format!("blocking: {b}")));
    parts.extend(h.files.iter().map(|f| format!("file: {f}")));
    let text = first_line(&parts.join("; "), HANDOFF_CHARS);
    Some(format!(
        "A handoff for {agent} is in context/handoff.md{}{}: {text}.",
        h.from
            .as_deref()
            .map(|f| format!(" from {f}"))
            .unwrap_or_default(),
        h.at.as_deref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default(),
    ))
}

/// The limit state `brain run` records, for this agent on this machine.
fn usage_line(repo: &Repo, s: &Session<'_>) -> String {
    let Ok(u) = MachineUsage::load(repo, s.machine) else {
        return format!(
            "Usage: context/usage/{}.md cannot be read, so no limit is known.",
            s.machine
        );
    };
    let today = u.today(s.agent, s.now);
    match u.active_limit(s.agent, s.now) {
        Some(hit) => format!(
            "Usage: {} on {} hit {} at {}; no new session should start before {}.",
            s.agent,
            s.machine,
            hit.limit.describe(),
            format_ts(hit.hit_at),
            format_ts(hit.until)
        ),
        None => format!(
            "Usage: no usage limit holds for {} on {}; {} session(s) recorded today.",
            s.agent, s.machine, today.sessions_today
        ),
    }
}

fn commands(s: &Session<'_>) -> String {
    let agent = s.agent;
    match s.task {
        Some(id) => format!(
            "Commands: `brain done {id} --result \"what was done\"` finishes the task; `brain fail {id} --error \"why\" --retry` gives it back for another attempt; `brain ask \"question\" --task {id}` asks the person (the answer reaches the next attempt)."
        ),
        None => format!(
            "Commands: `brain claim --agent {agent}` claims the next task (it prints the id, a token and the file); `brain done ID --token TOKEN --result \"what was done\"` finishes it (`brain fail ID --token TOKEN --error \"why\" --retry` gives it back); `brain ask \"question\" --task ID --agent {agent}` asks the person."
        ),
    }
}

/// The first line of `text`, at most `max` characters.
fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    cut(line, max)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// `text` within [`MAX_CHARS`].
fn fit(text: String) -> String {
    if text.chars().count() <= MAX_CHARS {
        text
    } else {
        cut(&text, MAX_CHARS - 1)
    }
}
