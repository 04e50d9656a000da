//! `context/usage.md`: sessions and tokens per agent, in the seed's YAML shape (SPEC §7).
//!
//! ```yaml
//! # context/usage.md: sessions and tokens per agent, kept by `brain run`.
//! last_updated: 2026-01-31T03:00:00Z
//!
//! claude-code:
//!   day: 2026-01-31
//!   sessions_today: 3
//!   estimated_tokens: 50000
//!   last_session: 2026-01-31T02:30:00Z
//! ```
//!
//! `brain run` rewrites the file after each session it starts. `estimated_tokens` adds up what
//! the agent reported (Claude Code's `usage`), or an estimate of a quarter token per character
//! of prompt and output where it reported nothing. The counts restart each UTC day. An agent's
//! `warning` says which limit of `brain.toml` stopped new sessions. Entries brain does not know
//! (the seed's `claude_desktop: messages_today`) are kept.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use serde_json::Value;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::queue::LockedRepo;
use crate::store::Repo;
use crate::task::time::format_ts;

/// Where the usage file is, relative to the repo.
pub const USAGE_FILE: &str = "context/usage.md";

/// One agent's figures for one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentUsage {
    /// The UTC day the counts are for (`2026-01-31`).
    pub day: String,
    pub sessions_today: u64,
    pub estimated_tokens: u64,
    pub last_session: Option<String>,
    pub warning: Option<String>,
}

/// The whole file: brain's agents, and whatever else it held.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub agents: BTreeMap<String, AgentUsage>,
    others: BTreeMap<String, Value>,
}

fn path(repo: &Repo) -> PathBuf {
    repo.root().join(USAGE_FILE)
}

fn day(now: Timestamp) -> String {
    now.strftime("%Y-%m-%d").to_string()
}

impl Usage {
    /// Reads the file; a missing or empty one is no usage yet.
    pub fn load(repo: &Repo) -> Result<Usage> {
        let p = path(repo);
        let text = match std::fs::read_to_string(&p) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Usage::default()),
            Err(e) => return Err(Error::io("reading", &p, e)),
        };
        let bad = |m: String| {
            Error::Invalid(format!(
                "{}: {m}; brain run keeps this file: fix it, or delete it to start the counts again",
                p.display()
            ))
        };
        let map: BTreeMap<String, Value> = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            serde_saphyr::from_str::<Option<BTreeMap<String, Value>>>(&text)
                .map_err(|e| bad(e.to_string()))?
                .unwrap_or_default()
        };
        let mut usage = Usage::default();
        for (key, value) in map {
            if key == "last_updated" {
                continue;
            }
            let Some(obj) = value
                .as_object()
                .filter(|o| o.contains_key("sessions_today"))
            else {
                usage.others.insert(key, value);
                continue;
            };
            let num = |k: &str| -> u64 {
                match obj.get(k) {
                    Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
                    // The seed writes `~50000`.
                    Some(Value::String(s)) => s.trim_start_matches('~').trim().parse().unwrap_or(0),
                    _ => 0,
                }
            };
            let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
            usage.agents.insert(
                key,
                AgentUsage {
                    day: text("day").unwrap_or_default(),
                    sessions_today: num("sessions_today"),
                    estimated_tokens: num("estimated_tokens"),
                    last_session: text("last_session"),
                    warning: text("warning"),
                },
            );
        }
        Ok(usage)
    }

    /// `agent`'s figures as of `now` (zero on a new day).
    pub fn today(&self, agent: &str, now: Timestamp) -> AgentUsage {
        match self.agents.get(agent) {
            Some(u) if u.day == day(now) => u.clone(),
            _ => AgentUsage {
                day: day(now),
                ..AgentUsage::default()
            },
        }
    }

    /// Why `agent` may start no new session now, if a limit of its `[agents.NAME]` is reached.
    pub fn limit_reached(
        &self,
        agent: &str,
        config: &AgentConfig,
        now: Timestamp,
    ) -> Option<String> {
        let u = self.today(agent, now);
        if let Some(max) = config.max_sessions_per_day
            && u.sessions_today >= u64::from(max)
        {
            return Some(format!(
                "{} sessions today reached max_sessions_per_day = {max}; brain run starts no new session for {agent} until tomorrow (UTC)",
                u.sessions_today
            ));
        }
        if let Some(max) = config.max_tokens_per_day
            && u.estimated_tokens >= max
        {
            return Some(format!(
                "{} tokens today reached max_tokens_per_day = {max}; brain run starts no new session for {agent} until tomorrow (UTC)",
                u.estimated_tokens
            ));
        }
        None
    }

    /// Counts a session of `agent` that started at `started` and used `tokens`.
    pub fn record_session(&mut self, agent: &str, started: Timestamp, tokens: u64) {
        let mut u = self.today(agent, started);
        u.sessions_today += 1;
        u.estimated_tokens += tokens;
        u.last_session = Some(format_ts(started));
        u.warning = None;
        self.agents.insert(agent.to_string(), u);
    }

    /// Sets (or clears) the warning of `agent`.
    pub fn set_warning(&mut self, agent: &str, now: Timestamp, warning: Option<String>) {
        let mut u = self.today(agent, now);
        u.warning = warning;
        self.agents.insert(agent.to_string(), u);
    }

    /// The file's text.
    pub fn render(&self, now: Timestamp) -> String {
        let mut s = format!(
            "# context/usage.md: sessions and tokens per agent, kept by `brain run`.\nlast_updated: {}\n",
            format_ts(now)
        );
        for (agent, u) in &self.agents {
            s.push_str(&format!(
                "\n{agent}:\n  day: {}\n  sessions_today: {}\n  estimated_tokens: {}\n",
                u.day, u.sessions_today, u.estimated_tokens
            ));
            if let Some(l) = &u.last_session {
                s.push_str(&format!("  last_session: {l}\n"));
            }
            if let Some(w) = &u.warning {
                // JSON strings are YAML strings.
                s.push_str(&format!("  warning: {}\n", Value::String(w.clone())));
            }
        }
        for (key, value) in &self.others {
            // A JSON value is YAML in flow style.
            s.push_str(&format!("\n{}: {value}\n", Value::String(key.clone())));
        }
        s
    }

    /// Writes the file as part of the current transition.
    pub fn save(&self, locked: &LockedRepo<'_>, now: Timestamp) -> Result<()> {
        let p = path(locked);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        }
        locked.replace_file(&p, self.render(now).as_bytes())
    }
}

/// A rough token count for text an agent read or wrote, where it reported none.
pub fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn round_trips_and_keeps_entries_it_does_not_know() {
        let mut u = Usage::default();
        u.record_session("claude-code", ts("2026-01-31T02:30:00Z"), 1200);
        u.record_session("claude-code", ts("2026-01-31T03:00:00Z"), 800);
        u.others.insert(
            "claude_desktop".into(),
            serde_json::json!({"messages_today": 12}),
        );
        let text = u.render(ts("2026-01-31T03:05:00Z"));
        assert!(text.contains("claude-code:\n  day: 2026-01-31\n  sessions_today: 2\n  estimated_tokens: 2000\n  last_session: 2026-01-31T03:00:00Z\n"), "{text}");
        let back: BTreeMap<String, Value> = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["claude_desktop"]["messages_today"], 12);
        assert_eq!(back["claude-code"]["sessions_today"], 2);
    }

    #[test]
    fn counts_restart_on_a_new_day_and_limits_apply_per_day() {
        let mut u = Usage::default();
        u.record_session("a", ts("2026-01-31T23:00:00Z"), 10);
        let config = AgentConfig {
            max_sessions_per_day: Some(1),
            ..AgentConfig::default()
        };
        assert!(
            u.limit_reached("a", &config, ts("2026-01-31T23:30:00Z"))
                .is_some()
        );
        assert_eq!(
            u.limit_reached("a", &config, ts("2026-02-01T00:30:00Z")),
            None
        );
        let tokens = AgentConfig {
            max_tokens_per_day: Some(10),
            ..AgentConfig::default()
        };
        let why = u
            .limit_reached("a", &tokens, ts("2026-01-31T23:30:00Z"))
            .unwrap();
        assert!(why.contains("max_tokens_per_day = 10"), "{why}");
    }
}
