//! `context/usage/<machine>.md`: one machine's usage, in the seed's YAML shape, written only
//! by that machine.
//!
//! ```yaml
//! # context/usage/laptop.md: usage on the machine "laptop", kept by brain. ...
//! machine: laptop
//! last_updated: 2026-01-31T03:00:00Z
//!
//! claude-code:
//!   day: 2026-01-31
//!   sessions_today: 3
//!   estimated_tokens: 50000
//!   last_session: 2026-01-31T02:30:00Z
//!   limit:
//!     kind: session
//!     message: "You've hit your session limit · resets 4:20am (Europe/Warsaw)"
//!     hit_at: 2026-01-31T02:40:00Z
//!     resets_at: 2026-01-31T03:20:00Z
//!     until: 2026-01-31T03:20:00Z
//!
//! transcripts:
//!   imported_at: 2026-01-31T03:05:00Z
//!   ...
//! ```
//!
//! `brain run` updates it after each session it starts: `estimated_tokens` adds up what the
//! agent reported (Claude Code's `usage`), or a quarter token per character of prompt and
//! output where it reported nothing. The counts restart each UTC day; a limit stays until it
//! resets. An agent's `warning` says which limit of `brain.toml` stopped new sessions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde_json::Value;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::queue::LockedRepo;
use crate::store::Repo;
use crate::task::time::format_ts;
use crate::usage::import::Imported;
use crate::usage::{Limit, LimitHit, MACHINES_DIR, summary};

/// One agent's figures on one machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentUsage {
    /// The UTC day the counts are for (`2026-01-31`).
    pub day: String,
    pub sessions_today: u64,
    pub estimated_tokens: u64,
    pub last_session: Option<String>,
    pub warning: Option<String>,
    /// The last plan limit the agent hit here (kept after it resets, as the last known one).
    pub limit: Option<LimitHit>,
}

/// One machine's file.
#[derive(Debug, Clone, Default)]
pub struct MachineUsage {
    pub machine: String,
    pub agents: BTreeMap<String, AgentUsage>,
    /// What `brain usage import` last counted in this machine's transcripts.
    pub transcripts: Option<Imported>,
    /// Keys brain does not know, kept.
    others: BTreeMap<String, Value>,
}

/// The UTC day of `now`.
pub fn day(now: Timestamp) -> String {
    now.strftime("%Y-%m-%d").to_string()
}

/// Where the file of `machine` is.
pub fn path(root: &Path, machine: &str) -> PathBuf {
    crate::fsutil::join_rel(root, MACHINES_DIR).join(format!("{machine}.md"))
}

impl MachineUsage {
    /// This machine's file (see [`crate::usage::machine_name`]); a missing one is no usage yet
    /// (or, the first time, what the older single `context/usage.md` recorded).
    pub fn load(repo: &Repo, machine: &str) -> Result<MachineUsage> {
        let p = path(repo.root(), machine);
        match read_map(&p)? {
            Some(map) => Ok(from_map(machine, map)),
            None => Ok(MachineUsage {
                machine: machine.to_string(),
                agents: adopt_old(repo)?,
                ..MachineUsage::default()
            }),
        }
    }

    /// Every machine's file, by name, and what could not be read of them.
    pub fn load_all(root: &Path) -> (Vec<MachineUsage>, Vec<String>) {
        let dir = crate::fsutil::join_rel(root, MACHINES_DIR);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        name.strip_suffix(".md").map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for name in names {
            match read_map(&path(root, &name)) {
                Ok(Some(map)) => out.push(from_map(&name, map)),
                Ok(None) => {}
                Err(e) => problems.push(e.to_string()),
            }
        }
        (out, problems)
    }

    /// `agent`'s figures as of `now` (zero counts on a new day; the limit stays).
    pub fn today(&self, agent: &str, now: Timestamp) -> AgentUsage {
        match self.agents.get(agent) {
            Some(u) if u.day == day(now) => u.clone(),
            Some(u) => AgentUsage {
                day: day(now),
                limit: u.limit.clone(),
                ..AgentUsage::default()
            },
            None => AgentUsage {
                day: day(now),
                ..AgentUsage::default()
            },
        }
    }

    fn update(&mut self, agent: &str, now: Timestamp, f: impl FnOnce(&mut AgentUsage)) {
        let mut u = self.today(agent, now);
        f(&mut u);
        self.agents.insert(agent.to_string(), u);
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

    /// The plan limit that keeps `agent` from starting a session at `now`, if one does.
    pub fn active_limit(&self, agent: &str, now: Timestamp) -> Option<&LimitHit> {
        self.agents
            .get(agent)
            .and_then(|u| u.limit.as_ref())
            .filter(|l| l.holds(now))
    }

    /// Counts a session of `agent` that started at `started` and used `tokens`.
    pub fn record_session(&mut self, agent: &str, started: Timestamp, tokens: u64) {
        self.update(agent, started, |u| {
            u.sessions_today += 1;
            u.estimated_tokens += tokens;
            u.last_session = Some(format_ts(started));
            u.warning = None;
        });
    }

    /// Sets (or clears) the warning of `agent`.
    pub fn set_warning(&mut self, agent: &str, now: Timestamp, warning: Option<String>) {
        self.update(agent, now, |u| u.warning = warning);
    }

    /// Records that `agent` hit `limit` at `now`.
    pub fn set_limit(&mut self, agent: &str, now: Timestamp, limit: Limit) {
        self.update(agent, now, |u| u.limit = Some(LimitHit::new(limit, now)));
    }

    /// The file's text.
    pub fn render(&self, now: Timestamp) -> String {
        let m = &self.machine;
        let mut s = format!(
            "# context/usage/{m}.md: usage on the machine \"{m}\", kept by brain. Only that machine\n# writes this file, so machines that share the repo never edit the same lines; the\n# sum over machines is in context/usage.md.\nmachine: {}\nlast_updated: {}\n",
            Value::String(m.clone()),
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
            if let Some(l) = &u.limit {
                s.push_str(&format!(
                    "  limit:\n    kind: {}\n    message: {}\n    hit_at: {}\n    resets_at: {}\n    until: {}\n",
                    Value::String(l.limit.kind.clone()),
                    Value::String(l.limit.message.clone()),
                    format_ts(l.hit_at),
                    l.limit.resets_at.map_or_else(|| "null".into(), format_ts),
                    format_ts(l.until)
                ));
            }
        }
        if let Some(t) = &self.transcripts {
            s.push('\n');
            s.push_str(&t.render());
        }
        for (key, value) in &self.others {
            // A JSON value is YAML in flow style.
            s.push_str(&format!("\n{}: {value}\n", Value::String(key.clone())));
        }
        s
    }

    /// Writes the file as part of the current transition. The summary in `context/usage.md`
    /// is left for [`MachineUsage::save_and_summarize`] (a run refreshes it when a limit or a
    /// warning changes, and at its end: once a session would make two files to write).
    pub fn save(&self, locked: &LockedRepo<'_>, now: Timestamp) -> Result<()> {
        let p = path(locked.root(), &self.machine);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
        }
        locked.replace_file(&p, self.render(now).as_bytes())
    }

    /// [`MachineUsage::save`], and the summary in `context/usage.md` rewritten from every
    /// machine's file.
    pub fn save_and_summarize(&self, locked: &LockedRepo<'_>, now: Timestamp) -> Result<()> {
        self.save(locked, now)?;
        summary::write(locked, now)
    }
}

/// The YAML map of a usage file; `None` when it does not exist.
pub(crate) fn read_map(p: &Path) -> Result<Option<BTreeMap<String, Value>>> {
    let text = match crate::fsutil::read_text(
        p,
        crate::store::TEXT_LIMIT,
        "delete it to start the counts again",
    )? {
        Some(t) => t,
        None => return Ok(None),
    };
    if text.trim().is_empty() {
        return Ok(Some(BTreeMap::new()));
    }
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<Option<BTreeMap<String, Value>>>(&text, options)
        .map(|m| Some(m.unwrap_or_default()))
        .map_err(|e| {
            Error::Invalid(format!(
                "{}: {e}; brain keeps this file: fix it, or delete it to start the counts again",
                p.display()
            ))
        })
}

/// Whether a value of a usage file is brain's record of an agent.
pub(crate) fn is_agent(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("sessions_today") || o.contains_key("limit"))
}

pub(crate) fn agent_of(v: &Value) -> AgentUsage {
    let empty = serde_json::Map::new();
    let obj = v.as_object().unwrap_or(&empty);
    let num = |k: &str| -> u64 {
        match obj.get(k) {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            // The seed writes `~50000`.
            Some(Value::String(s)) => s.trim_start_matches('~').trim().parse().unwrap_or(0),
            _ => 0,
        }
    };
    let text = |o: &serde_json::Map<String, Value>, k: &str| {
        o.get(k).and_then(Value::as_str).map(str::to_string)
    };
    let time = |o: &serde_json::Map<String, Value>, k: &str| {
        text(o, k).and_then(|t| t.parse::<Timestamp>().ok())
    };
    let limit = obj.get("limit").and_then(Value::as_object).and_then(|l| {
        let hit_at = time(l, "hit_at")?;
        let limit = Limit {
            kind: text(l, "kind").unwrap_or_else(|| "usage".into()),
            resets_at: time(l, "resets_at"),
            message: text(l, "message").unwrap_or_default(),
        };
        let mut hit = LimitHit::new(limit, hit_at);
        if let Some(u) = time(l, "until") {
            hit.until = u;
        }
        Some(hit)
    });
    AgentUsage {
        day: text(obj, "day").unwrap_or_default(),
        sessions_today: num("sessions_today"),
        estimated_tokens: num("estimated_tokens"),
        last_session: text(obj, "last_session"),
        warning: text(obj, "warning"),
        limit,
    }
}

fn from_map(machine: &str, map: BTreeMap<String, Value>) -> MachineUsage {
    let mut usage = MachineUsage {
        machine: machine.to_string(),
        ..MachineUsage::default()
    };
    for (key, value) in map {
        match key.as_str() {
            "machine" | "last_updated" => {}
            "transcripts" => usage.transcripts = Imported::from_value(&value),
            _ if is_agent(&value) => {
                usage.agents.insert(key, agent_of(&value));
            }
            _ => {
                usage.others.insert(key, value);
            }
        }
    }
    usage
}

/// What the single `context/usage.md` of older versions recorded per agent, taken over by
/// the first machine that writes a file of its own.
fn adopt_old(repo: &Repo) -> Result<BTreeMap<String, AgentUsage>> {
    if crate::fsutil::join_rel(repo.root(), MACHINES_DIR).exists() {
        return Ok(BTreeMap::new());
    }
    let Some(map) = read_map(&crate::fsutil::join_rel(repo.root(), summary::SUMMARY_FILE))? else {
        return Ok(BTreeMap::new());
    };
    Ok(map
        .into_iter()
        .filter(|(_, v)| v.get("day").is_some() && is_agent(v))
        .map(|(k, v)| (k, agent_of(&v)))
        .collect())
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

    fn reread(u: &MachineUsage, now: Timestamp) -> MachineUsage {
        let text = u.render(now);
        let map: Option<BTreeMap<String, Value>> = serde_saphyr::from_str(&text).unwrap();
        from_map(&u.machine, map.unwrap())
    }

    #[test]
    fn round_trips_with_a_limit_and_keeps_keys_it_does_not_know() {
        let mut u = MachineUsage {
            machine: "laptop".into(),
            ..MachineUsage::default()
        };
        u.record_session("claude-code", ts("2026-01-31T02:30:00Z"), 1200);
        u.record_session("claude-code", ts("2026-01-31T03:00:00Z"), 800);
        u.set_limit(
            "claude-code",
            ts("2026-01-31T03:10:00Z"),
            Limit {
                kind: "session".into(),
                resets_at: Some(ts("2026-01-31T03:20:00Z")),
                message: "You've hit your session limit · resets 4:20am (Europe/Warsaw)".into(),
            },
        );
        u.others
            .insert("note".into(), serde_json::json!({"messages_today": 12}));
        let text = u.render(ts("2026-01-31T03:15:00Z"));
        assert!(text.contains("claude-code:\n  day: 2026-01-31\n  sessions_today: 2\n  estimated_tokens: 2000\n  last_session: 2026-01-31T03:00:00Z\n"), "{text}");
        let back = reread(&u, ts("2026-01-31T03:15:00Z"));
        assert_eq!(back.agents, u.agents);
        assert_eq!(back.others["note"]["messages_today"], 12);
        let now = ts("2026-01-31T03:15:00Z");
        assert_eq!(
            back.active_limit("claude-code", now).map(|l| l.until),
            Some(ts("2026-01-31T03:20:00Z"))
        );
        assert!(
            back.active_limit("claude-code", ts("2026-01-31T03:20:00Z"))
                .is_none()
        );
    }

    #[test]
    fn counts_restart_on_a_new_day_limits_stay_and_config_limits_apply_per_day() {
        let mut u = MachineUsage::default();
        u.record_session("a", ts("2026-01-31T23:00:00Z"), 10);
        u.set_limit(
            "a",
            ts("2026-01-31T23:10:00Z"),
            Limit {
                kind: "weekly".into(),
                resets_at: Some(ts("2026-02-02T00:00:00Z")),
                message: "You've hit your weekly limit · resets Mon 12:00am".into(),
            },
        );
        let next_day = u.today("a", ts("2026-02-01T00:30:00Z"));
        assert_eq!(next_day.sessions_today, 0);
        assert!(next_day.limit.is_some());
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
