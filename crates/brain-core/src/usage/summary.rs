//! `context/usage.md`: the seed's shape, summed over the machines' files in `context/usage/`,
//! for an agent (or a person) to read at a glance.
//!
//! ```yaml
//! # context/usage.md: ...
//! last_updated: 2026-01-31T03:00:00Z
//! warning: "claude-code hit its session limit on laptop: no new session before 2026-01-31T03:20:00Z"
//!
//! claude-code:
//!   sessions_today: 3
//!   estimated_tokens: 50000
//!   last_session: 2026-01-31T02:30:00Z
//! ```
//!
//! The `warning` line is there while a limit is hit or near (80% of a `brain.toml` limit).
//! brain rewrites the file whenever a machine's file changes; keys it does not know (the
//! seed's `claude_desktop: messages_today`) are kept. With a git remote each rewrite is
//! made on top of the other machines' latest files, so it never conflicts.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::config::Config;
use crate::error::Result;
use crate::queue::LockedRepo;
use crate::task::time::format_ts;
use crate::usage::machine::{self, MachineUsage, is_agent};

/// Where the summary is, relative to the repo.
pub const SUMMARY_FILE: &str = "context/usage.md";

/// A `brain.toml` limit counts as near from this share of it on.
const NEAR: f64 = 0.8;

/// One agent's figures today, over all machines.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentTotal {
    pub sessions_today: u64,
    pub estimated_tokens: u64,
    pub last_session: Option<String>,
}

/// Today's totals per agent (UTC day of `now`), over `machines`.
pub fn totals(machines: &[MachineUsage], now: Timestamp) -> BTreeMap<String, AgentTotal> {
    let today = machine::day(now);
    let mut out: BTreeMap<String, AgentTotal> = BTreeMap::new();
    for m in machines {
        for (agent, u) in &m.agents {
            let t = out.entry(agent.clone()).or_default();
            if u.day == today {
                t.sessions_today += u.sessions_today;
                t.estimated_tokens += u.estimated_tokens;
            }
            if u.last_session > t.last_session {
                t.last_session = u.last_session.clone();
            }
        }
    }
    out
}

/// What is hit or near at `now`, one sentence each.
pub fn warnings(machines: &[MachineUsage], config: &Config, now: Timestamp) -> Vec<String> {
    let mut out = Vec::new();
    for m in machines {
        for (agent, u) in &m.agents {
            if let Some(l) = u.limit.as_ref().filter(|l| l.holds(now)) {
                out.push(format!(
                    "{agent} hit {} on {}: no new session before {}",
                    l.limit.describe(),
                    m.machine,
                    format_ts(l.until)
                ));
            }
            let today = m.today(agent, now);
            if let Some(w) = &today.warning {
                out.push(format!("{agent} on {}: {w}", m.machine));
                continue;
            }
            let Some(c) = config.agents.get(agent) else {
                continue;
            };
            let near = |used: u64, max: u64| max > 0 && used as f64 >= NEAR * max as f64;
            if let Some(max) = c.max_sessions_per_day
                && near(today.sessions_today, u64::from(max))
            {
                out.push(format!(
                    "{agent} on {} used {} of max_sessions_per_day = {max} today",
                    m.machine, today.sessions_today
                ));
            }
            if let Some(max) = c.max_tokens_per_day
                && near(today.estimated_tokens, max)
            {
                out.push(format!(
                    "{agent} on {} used {} of max_tokens_per_day = {max} tokens today",
                    m.machine, today.estimated_tokens
                ));
            }
        }
    }
    out
}

/// The summary's text, keeping the keys of `old` that are not brain's.
pub fn render(
    machines: &[MachineUsage],
    config: &Config,
    old: &BTreeMap<String, Value>,
    now: Timestamp,
) -> String {
    let mut s = format!(
        "# context/usage.md: sessions and tokens per agent today (UTC), summed over the machines'\n# files in context/usage/. brain rewrites it; keys it does not know are kept.\nlast_updated: {}\n",
        format_ts(now)
    );
    let warnings = warnings(machines, config, now);
    if !warnings.is_empty() {
        s.push_str(&format!(
            "warning: {}\n",
            Value::String(warnings.join("; "))
        ));
    }
    for (agent, t) in totals(machines, now) {
        s.push_str(&format!(
            "\n{agent}:\n  sessions_today: {}\n  estimated_tokens: {}\n",
            t.sessions_today, t.estimated_tokens
        ));
        if let Some(l) = &t.last_session {
            s.push_str(&format!("  last_session: {l}\n"));
        }
    }
    for (key, value) in old {
        let brains = matches!(key.as_str(), "last_updated" | "warning")
            || is_agent(value)
            || machines.iter().any(|m| m.agents.contains_key(key));
        if !brains {
            // A JSON value is YAML in flow style.
            s.push_str(&format!("\n{}: {value}\n", Value::String(key.clone())));
        }
    }
    s
}

/// Rewrites `context/usage.md` from the machines' files, in the current transition. A
/// summary that cannot be read (a merge conflict, a typo) is left as it is, and said.
pub fn write(locked: &LockedRepo<'_>, now: Timestamp) -> Result<()> {
    let (machines, problems) = MachineUsage::load_all(locked.root());
    for p in problems {
        locked.say(format!("usage: {p}"));
    }
    let path = crate::fsutil::join_rel(locked.root(), SUMMARY_FILE);
    let config = locked.config();
    locked.rewrite(&path, "", |text| {
        let old = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            let options = serde_saphyr::options! { with_snippet: false };
            match serde_saphyr::from_str_with_options::<Option<BTreeMap<String, Value>>>(text, options) {
                Ok(m) => m.unwrap_or_default(),
                Err(e) => {
                    locked.say(format!(
                        "{} cannot be read ({e}), so brain left it as it is: fix it, or delete it and brain writes it again",
                        path.display()
                    ));
                    return Ok(None);
                }
            }
        };
        Ok(Some(render(&machines, config, &old, now)))
    })?;
    Ok(())
}
