//! What a session's end means for its task (see `shared/notes/claude-limits-and-usage.md`):
//! done, failed, or one of the ends that are not the task's fault: the plan's usage limit
//! (the task waits, no attempt spent, no new session starts), an agent that cannot work at all
//! (not logged in, no network: the run stops), tools the agent was denied, a cap of the task.
//!
//! Only a session that failed (a non-zero exit, or `is_error`) is read for a limit or a
//! broken agent, and only its result text (or, for an agent that prints plain text, the last
//! lines of its output): a task whose work mentions "usage limit" is not one.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::run::report::Report;
pub use crate::usage::Limit;
use crate::usage::limits::limit_in;

/// Why an agent cannot work at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenKind {
    /// Its program is not found.
    NotFound,
    /// Not logged in, or the login expired.
    NotLoggedIn,
    /// The API key was refused.
    InvalidKey,
    /// The account has no credit.
    Billing,
    /// The API cannot be reached.
    NoNetwork,
}

/// An agent that cannot work at all: the run stops, the task waits unharmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Broken {
    pub kind: BrokenKind,
    /// The agent's words (or the error starting it).
    pub message: String,
    /// What the person should do.
    pub fix: String,
}

/// Why a capped session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    MaxTurns,
    MaxBudget,
}

/// What a session's end means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The task is done.
    Success,
    /// The agent did its session but was denied these tool uses.
    Denied(Vec<String>),
    /// The task failed (an attempt is spent).
    Failed,
    /// The task reached its `max_turns` or `max_budget_usd` (a failure).
    Capped(Cap),
    /// The plan's usage limit: the task waits.
    Limit(Limit),
    /// The agent cannot work: the task waits, the run stops.
    Broken(Broken),
}

/// How many of the last lines of a plain-text output are read for a limit or a broken agent.
const LAST_LINES: usize = 20;

/// Judges a session that ended with `success` (exit 0) and printed `report`; `program` is the
/// agent's program (for the fix of a broken one), `now` and `tz` place a reset time given
/// without a date or zone.
pub fn judge(
    report: &Report,
    success: bool,
    program: &str,
    now: Timestamp,
    tz: &TimeZone,
) -> Verdict {
    let failed = !success || report.is_error;
    if !failed {
        return if report.denials.is_empty() {
            Verdict::Success
        } else {
            Verdict::Denied(report.denials.clone())
        };
    }
    let lines: Vec<&str> = {
        let all: Vec<&str> = report
            .text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        // A structured result is the agent's own error text; plain output ends with it.
        let keep = if report.structured {
            all.len()
        } else {
            LAST_LINES
        };
        all[all.len().saturating_sub(keep)..].to_vec()
    };
    if let Some(info) = &report.rate_limit
        && info.status == "rejected"
    {
        let kind = match info.kind.as_deref() {
            Some("five_hour") => "5-hour",
            Some("seven_day") => "weekly",
            Some("seven_day_opus") => "weekly Opus",
            Some("seven_day_sonnet") => "weekly Sonnet",
            Some("overage") => "overage",
            _ => "usage",
        };
        return Verdict::Limit(Limit {
            kind: kind.to_string(),
            resets_at: info.resets_at.and_then(|s| Timestamp::from_second(s).ok()),
            message: lines.last().map_or_else(
                || "rate_limit_event: rejected".to_string(),
                |l| l.to_string(),
            ),
        });
    }
    for line in lines.iter().rev() {
        if let Some(limit) = limit_in(line, now, tz) {
            return Verdict::Limit(limit);
        }
    }
    if report.structured && report.api_error_status == Some(429) {
        return Verdict::Limit(Limit {
            kind: "rate (HTTP 429)".into(),
            resets_at: None,
            message: report.text.clone(),
        });
    }
    for line in lines.iter().rev() {
        if let Some(b) = broken_in(line, report, program) {
            return Verdict::Broken(b);
        }
    }
    match report.subtype.as_deref() {
        Some("error_max_turns") => Verdict::Capped(Cap::MaxTurns),
        Some("error_max_budget_usd") => Verdict::Capped(Cap::MaxBudget),
        _ => Verdict::Failed,
    }
}

/// The name of the program an agent's command runs, for messages: the file name of its first
/// word (`claude` for `/home/me/.local/bin/claude`), or of the script an interpreter runs
/// (`node cli.js`, `sh agent.sh`).
pub fn program_name(command: &[String]) -> String {
    let stem = |s: &str| {
        let name = s.rsplit(['/', '\\']).next().unwrap_or(s);
        name.strip_suffix(".exe")
            .or_else(|| name.strip_suffix(".cmd"))
            .unwrap_or(name)
            .to_string()
    };
    let first = command.first().map(|c| stem(c)).unwrap_or_default();
    let interpreters = [
        "sh",
        "bash",
        "zsh",
        "env",
        "node",
        "npx",
        "cmd",
        "powershell",
        "pwsh",
        "python",
        "python3",
    ];
    if interpreters.contains(&first.as_str())
        && let Some(script) = command[1..]
            .iter()
            .find(|a| !a.starts_with('-') && !a.contains('{'))
    {
        return stem(script);
    }
    first
}

/// The agent's program could not be started: `e` is the error.
pub fn not_started(program: &str, agent: &str, e: &std::io::Error) -> Option<Broken> {
    (e.kind() == std::io::ErrorKind::NotFound).then(|| Broken {
        kind: BrokenKind::NotFound,
        message: format!("`{program}` was not found: {e}"),
        fix: format!(
            "install it, or give its full path as the first word of `command` under [agents.{agent}] in brain.toml (a scheduled run has a shorter PATH than your shell)"
        ),
    })
}

/// A broken agent in one line of what it said.
fn broken_in(line: &str, report: &Report, program: &str) -> Option<Broken> {
    let lower = line.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    let kind = if has(&["invalid api key", "invalid x-api-key", "api key is invalid"]) {
        BrokenKind::InvalidKey
    } else if has(&[
        "not logged in",
        "please run /login",
        "run /login",
        "oauth token has expired",
        "oauth token revoked",
        "login expired",
    ]) || (report.api_error_status == Some(401))
    {
        BrokenKind::NotLoggedIn
    } else if has(&[
        "credit balance is too low",
        "insufficient credit",
        "billing",
    ]) {
        BrokenKind::Billing
    } else if has(&[
        "connection refused",
        "unable to connect to api",
        "econnrefused",
        "enotfound",
        "eai_again",
        "getaddrinfo",
        "etimedout",
        "econnreset",
        "network is unreachable",
        "api error: connection error",
        "fetch failed",
        "socket hang up",
    ]) {
        BrokenKind::NoNetwork
    } else {
        return None;
    };
    let fix = match kind {
        BrokenKind::NotLoggedIn => format!(
            "{program} is not logged in: run `{program}` once and log in (or set ANTHROPIC_API_KEY where the scheduled run can see it)"
        ),
        BrokenKind::InvalidKey => format!(
            "{program}'s API key was refused: check ANTHROPIC_API_KEY (or run `{program}` and /login)"
        ),
        BrokenKind::Billing => {
            "the account has no credit left: add credits, or log in with a plan that includes Claude Code".into()
        }
        BrokenKind::NoNetwork => format!(
            "{program} cannot reach its API: check this machine's network (and HTTPS_PROXY, if a proxy is needed)"
        ),
        BrokenKind::NotFound => unreachable!("found only when starting the program"),
    };
    Some(Broken {
        kind,
        message: line.to_string(),
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn failed(text: &str) -> Report {
        Report {
            text: text.into(),
            is_error: true,
            structured: true,
            ..Report::default()
        }
    }

    #[test]
    fn things_that_are_not_a_usage_limit() {
        let now = ts("2026-12-01T01:00:00Z");
        for text in [
            "You've hit your context limit",
            "API Error: Server is temporarily limiting requests (not your usage limit)",
            "the rate limit reached its peak in the logs I read",
            "Error: something else",
        ] {
            let v = judge(&failed(text), false, "claude", now, &TimeZone::UTC);
            assert_eq!(v, Verdict::Failed, "{text}");
        }
        // A session that succeeded is not read for a limit at all.
        let ok = Report {
            text: "I documented what happens when you've hit your session limit · resets 3am"
                .into(),
            structured: true,
            ..Report::default()
        };
        assert_eq!(
            judge(&ok, true, "claude", now, &TimeZone::UTC),
            Verdict::Success
        );
    }

    #[test]
    fn a_429_result_and_a_rejected_rate_limit_event_are_limits() {
        let now = ts("2026-12-01T01:00:00Z");
        let mut r =
            failed("API Error: Request rejected (429) · this may be a temporary capacity issue");
        r.api_error_status = Some(429);
        let Verdict::Limit(l) = judge(&r, false, "claude", now, &TimeZone::UTC) else {
            panic!()
        };
        assert_eq!((l.kind.as_str(), l.resets_at), ("rate (HTTP 429)", None));
        assert_eq!(l.until(now), ts("2026-12-01T02:00:00Z"));
        let mut r = failed("");
        r.rate_limit = Some(crate::run::report::RateLimitInfo {
            status: "rejected".into(),
            resets_at: Some(1_764_558_000),
            kind: Some("seven_day".into()),
        });
        let Verdict::Limit(l) = judge(&r, false, "claude", now, &TimeZone::UTC) else {
            panic!()
        };
        assert_eq!(l.kind, "weekly");
        assert_eq!(l.resets_at, Timestamp::from_second(1_764_558_000).ok());
    }

    #[test]
    fn broken_agents_are_recognised_with_a_fix() {
        let now = ts("2026-12-01T01:00:00Z");
        let broken = |text: &str, status: Option<u64>| {
            let mut r = failed(text);
            r.api_error_status = status;
            match judge(&r, false, "claude", now, &TimeZone::UTC) {
                Verdict::Broken(b) => b,
                other => panic!("{text}: {other:?}"),
            }
        };
        let b = broken("Not logged in · Please run /login", None);
        assert_eq!(b.kind, BrokenKind::NotLoggedIn);
        assert!(b.fix.contains("run `claude` once and log in"), "{}", b.fix);
        assert_eq!(
            broken("Invalid API key · Fix external API key", Some(401)).kind,
            BrokenKind::InvalidKey
        );
        assert_eq!(
            broken(
                "OAuth token has expired. Please obtain a new token",
                Some(401)
            )
            .kind,
            BrokenKind::NotLoggedIn
        );
        assert_eq!(
            broken("API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)", None).kind,
            BrokenKind::NoNetwork
        );
        assert_eq!(
            broken(
                "API Error: Unable to connect to API (ConnectionRefused)",
                None
            )
            .kind,
            BrokenKind::NoNetwork
        );
        assert_eq!(
            broken("Credit balance is too low", Some(400)).kind,
            BrokenKind::Billing
        );
        // Plain output: only its last lines count.
        let mut plain = Report {
            text: format!("Not logged in\n{}", "working...\n".repeat(50)),
            ..Report::default()
        };
        assert_eq!(
            judge(&plain, false, "agent", now, &TimeZone::UTC),
            Verdict::Failed
        );
        plain
            .text
            .push_str("Error: Not logged in · Please run /login\n");
        assert!(matches!(
            judge(&plain, false, "agent", now, &TimeZone::UTC),
            Verdict::Broken(_)
        ));
    }

    #[test]
    fn denials_caps_and_plain_failures() {
        let now = ts("2026-12-01T01:00:00Z");
        let ok = Report {
            structured: true,
            denials: vec!["Write(notes.md)".into()],
            ..Report::default()
        };
        assert_eq!(
            judge(&ok, true, "claude", now, &TimeZone::UTC),
            Verdict::Denied(vec!["Write(notes.md)".into()])
        );
        let mut capped = failed("Reached max turns (3)");
        capped.subtype = Some("error_max_turns".into());
        assert_eq!(
            judge(&capped, false, "claude", now, &TimeZone::UTC),
            Verdict::Capped(Cap::MaxTurns)
        );
        capped.subtype = Some("error_max_budget_usd".into());
        assert_eq!(
            judge(&capped, false, "claude", now, &TimeZone::UTC),
            Verdict::Capped(Cap::MaxBudget)
        );
    }
}
