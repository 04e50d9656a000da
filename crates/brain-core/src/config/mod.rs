//! `brain.toml`: agents and queue settings. Unknown keys and wrong types are errors that name
//! the key and the line.

mod machine;
pub use machine::machine_name;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::task::names;
use crate::task::time::parse_duration;

/// The file name that marks a brain repo's root.
pub const CONFIG_FILE: &str = "brain.toml";

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub queue: QueueConfig,
    #[serde(default)]
    pub agents: BTreeMap<String, AgentConfig>,
    #[serde(default)]
    pub git: GitConfig,
    #[serde(default)]
    pub run: RunConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub claude: ClaudeConfig,
}

/// `[claude]`: interactive Claude Code sessions (`brain hook`, `brain setup claude`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClaudeConfig {
    /// The agent a Claude Code session is when `BRAIN_AGENT` does not say (default
    /// `claude-code`).
    #[serde(default)]
    pub agent: Option<String>,
}

/// When a kind of event is sent (`[notify]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// As it happens.
    Immediate,
    /// In one message at the end of the run, with the morning review.
    Morning,
    /// Never.
    Off,
}

/// `[notify]`: tell the person what a run met, through a command and/or an HTTP POST.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// A command (an argument list, never a shell) that gets each message as JSON on stdin.
    #[serde(default)]
    pub command: Vec<String>,
    /// A URL to POST each message to, ntfy-style: the text as the body, `Title` and `Tags`
    /// headers (`https://ntfy.sh/my-topic`; `https://` needs `curl`).
    #[serde(default)]
    pub url: Option<String>,
    /// How long a notifier may take before it is stopped (`"10s"`); it never holds up the run.
    #[serde(default = "default_notify_timeout", deserialize_with = "duration")]
    pub timeout: u64,
    /// A question or an approval waits for the person.
    #[serde(default = "morning")]
    pub question: When,
    /// A task failed for good (no attempts left).
    #[serde(default = "morning")]
    pub failed: When,
    /// The plan's usage limit was hit (with its reset time).
    #[serde(default = "immediate")]
    pub limit: When,
    /// The run finished (its summary).
    #[serde(default = "morning")]
    pub run: When,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            command: Vec::new(),
            url: None,
            timeout: default_notify_timeout(),
            question: When::Morning,
            failed: When::Morning,
            limit: When::Immediate,
            run: When::Morning,
        }
    }
}

fn default_notify_timeout() -> u64 {
    10
}

fn morning() -> When {
    When::Morning
}

fn immediate() -> When {
    When::Immediate
}

/// `[run]`: the scheduled run (`brain run`, `brain schedule`, `brain daemon`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The agent `brain run` runs when `--agent` is not given.
    #[serde(default)]
    pub agent: Option<String>,
    /// How long an agent may work on a task whose file sets no `timeout` (`"2h"`).
    #[serde(default = "default_run_timeout", deserialize_with = "duration")]
    pub timeout: u64,
    /// After the polite stop (SIGTERM), how long an agent has before it is killed (`"10s"`).
    #[serde(default = "default_kill_grace", deserialize_with = "duration")]
    pub kill_grace: u64,
    /// When `brain daemon` (and the default of `brain schedule install`) runs, as a cron
    /// expression in local time: minute hour day-of-month month day-of-week.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// What of each agent's output goes into git (see [`CommitOutput`]).
    #[serde(default)]
    pub commit_output: CommitOutput,
    /// With `commit_output = "full"`, the largest output committed whole (`"1MiB"`); a larger
    /// one is committed as a summary.
    #[serde(default = "default_max_committed", deserialize_with = "size")]
    pub max_committed_output: u64,
}

/// What of an agent's output `brain run` commits. The whole output is always kept in
/// `logs/runs/<id>@<epoch>.log` on the machine that ran it; git gets:
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitOutput {
    /// A summary (`<id>@<epoch>.summary.md`: the first and last lines, at most 16 KiB). An
    /// agent's whole output can be large, and can hold secrets it printed; it stays local.
    #[default]
    Summary,
    /// The whole output, up to `max_committed_output`; a larger one as a summary.
    Full,
    /// Nothing (the task's `## Result` still holds the end of it).
    None,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            agent: None,
            timeout: default_run_timeout(),
            kill_grace: default_kill_grace(),
            schedule: default_schedule(),
            commit_output: CommitOutput::default(),
            max_committed_output: default_max_committed(),
        }
    }
}

fn default_run_timeout() -> u64 {
    2 * 3600
}

fn default_kill_grace() -> u64 {
    10
}

fn default_schedule() -> String {
    "0 2 * * *".into()
}

fn default_max_committed() -> u64 {
    1024 * 1024
}

fn size<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    parse_size(&s).map_err(serde::de::Error::custom)
}

/// Parses a size such as `1MiB`, `512KiB`, `2MB`, `4096` (bytes) into bytes.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (n, unit) = t.split_at(digits);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}` is not a size; write it like 1MiB, 512KiB or 4096"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" => 1000,
        "kib" => 1024,
        "m" | "mb" => 1_000_000,
        "mib" => 1024 * 1024,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1024 * 1024 * 1024,
        other => {
            return Err(format!(
                "`{s}` has an unknown unit `{other}`; write it like 1MiB, 512KiB or 4096"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large a size"))
}

/// `[git]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// Commit every transition (when the brain repo is in a git work tree).
    #[serde(default = "yes")]
    pub commit: bool,
    /// A task's heartbeat is written to its file, and committed, at most once per this long
    /// (`"10m"`, and at most every quarter of `stale_after`); the ones in between change
    /// nothing.
    #[serde(default = "default_heartbeat_every", deserialize_with = "duration")]
    pub heartbeat_every: u64,
    /// The git remote that arbitrates the queue between machines (`"origin"`). When set, a
    /// transition is real only once a fast-forward push of it is accepted.
    #[serde(default)]
    pub remote: Option<String>,
    /// The branch on the remote (default: the branch checked out here).
    #[serde(default)]
    pub branch: Option<String>,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig {
            commit: true,
            heartbeat_every: default_heartbeat_every(),
            remote: None,
            branch: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn default_heartbeat_every() -> u64 {
    600
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Seconds after the last heartbeat when a claim is stale (`stale_after = "2h"`).
    #[serde(default = "default_stale", deserialize_with = "duration")]
    pub stale_after: u64,
    /// Claims by agents that brain.toml does not name are allowed (`brain claim --agent X`
    /// without `--capabilities`); by default they are refused as a likely typo.
    #[serde(default)]
    pub ad_hoc_agents: bool,
    /// Attempts before a task fails for good (a task's own `max_attempts` wins).
    #[serde(default = "default_attempts", deserialize_with = "at_least_one")]
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            ad_hoc_agents: false,
            stale_after: default_stale(),
            max_attempts: default_attempts(),
        }
    }
}

fn default_stale() -> u64 {
    2 * 3600
}

fn default_attempts() -> u32 {
    3
}

/// `[agents.NAME]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// What this agent can do; a task's `requires` must all be here.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The command `brain run` starts, as an argument list (never through a shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// The prompt file, relative to the repo.
    #[serde(default)]
    pub prompt: Option<String>,
    /// `brain run` starts no new session for this agent once this many ran today (UTC).
    #[serde(default)]
    pub max_sessions_per_day: Option<u32>,
    /// `brain run` starts no new session for this agent once its sessions used this many
    /// tokens today (UTC; counted from what the agent reported, else estimated).
    #[serde(default)]
    pub max_tokens_per_day: Option<u64>,
    /// The `{max_turns}` of a task that sets no `max_turns`.
    #[serde(default)]
    pub max_turns: Option<u32>,
    /// The `{max_budget_usd}` of a task that sets no `max_budget_usd`.
    #[serde(default)]
    pub max_budget_usd: Option<f64>,
    /// A session that ended well but was denied tool uses (Claude Code's
    /// `permission_denials`) still completes its task; by default the task fails with them.
    #[serde(default)]
    pub accept_denials: bool,
    /// After a usage limit, the task's next attempt resumes the session the limit cut short
    /// (Claude Code's `--resume <session_id>`, added to the command).
    #[serde(default)]
    pub resume: bool,
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n).ok().filter(|&n| n >= 1).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "`{n}` is not allowed: write a whole number, 1 or more"
        ))
    })
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

impl Config {
    /// Checks that `agent` may claim: one of brain.toml's agents, or any name with extra
    /// capabilities given (`capabilities`) or `[queue] ad_hoc_agents = true`. The error names
    /// the closest agent.
    pub fn check_claimant(&self, agent: &str, capabilities: bool) -> Result<()> {
        names::validate_agent(agent)?;
        // With no [agents] at all there is no roster to check a name against.
        if self.agents.is_empty()
            || self.agents.contains_key(agent)
            || capabilities
            || self.queue.ad_hoc_agents
        {
            return Ok(());
        }
        let known: Vec<&str> = self.agents.keys().map(String::as_str).collect();
        Err(Error::Invalid(format!(
            "no agent `{agent}` in brain.toml{}; agents there: {}. To claim as another agent, give its --capabilities, or set ad_hoc_agents = true under [queue]",
            names::did_you_mean(agent, known.iter().copied()),
            known.join(", ")
        )))
    }

    /// The capabilities of `requires` that no agent of brain.toml has, each with the closest
    /// one some agent has (for a warning: a task that needs one can never be claimed by them).
    /// With no [agents] at all there is nothing to check against, and nothing is unknown.
    pub fn unknown_capabilities(&self, requires: &[String]) -> Vec<String> {
        // The usual answer, without building anything (a listing asks for every task).
        let known = |r: &String| self.agents.values().any(|a| a.capabilities.contains(r));
        if self.agents.is_empty() || requires.iter().all(known) {
            return Vec::new();
        }
        let all: std::collections::BTreeSet<&str> = self
            .agents
            .values()
            .flat_map(|a| a.capabilities.iter().map(String::as_str))
            .collect();
        requires
            .iter()
            .filter(|r| !all.contains(r.as_str()))
            .map(|r| format!("`{r}`{}", names::did_you_mean(r, all.iter().copied())))
            .collect()
    }

    /// The agent a run (or a schedule) runs when none is named: `[run] agent`, else the only
    /// agent there is.
    pub fn default_agent(&self) -> Option<&str> {
        self.run.agent.as_deref().or_else(|| {
            let mut names = self.agents.keys();
            match (names.next(), names.next()) {
                (Some(only), None) => Some(only.as_str()),
                _ => None,
            }
        })
    }

    /// Parses the text of `brain.toml` at `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: toml_message(text, &e),
        })?;
        for name in config.agents.keys() {
            names::validate_agent(name).map_err(|e| Error::Config {
                path: path.to_path_buf(),
                message: format!("[agents.{name}]: {e}"),
            })?;
        }
        for (name, a) in &config.agents {
            if a.max_turns == Some(0) {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    message: format!("[agents.{name}] max_turns must be at least 1"),
                });
            }
            if a.max_budget_usd
                .is_some_and(|b| !(b > 0.0 && b.is_finite()))
            {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    message: format!(
                        "[agents.{name}] max_budget_usd must be a number of US dollars above 0, like 2.5"
                    ),
                });
            }
        }
        if let Some(url) = &config.notify.url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: format!(
                    "[notify] url = \"{url}\" is not an http:// or https:// URL (like https://ntfy.sh/my-topic)"
                ),
            });
        }
        if config.git.remote.is_some() && config.git.heartbeat_every >= config.queue.stale_after {
            return Err(Error::Config {
                path: path.to_path_buf(),
                message: "[git] heartbeat_every must be shorter than [queue] stale_after: with a remote, only the heartbeats that are pushed (one per heartbeat_every) keep a claim alive".into(),
            });
        }
        for (key, value) in [
            ("remote", &config.git.remote),
            ("branch", &config.git.branch),
        ] {
            if let Some(v) = value
                && (v.is_empty()
                    || v.starts_with('-')
                    || v.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(Error::Config {
                    path: path.to_path_buf(),
                    message: format!(
                        "[git] {key} = {v:?} is not a git {key} name; use the name git knows it by (`git remote -v` lists remotes)"
                    ),
                });
            }
        }
        Ok(config)
    }

    /// Reads and parses `brain.toml` in `root`.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).at("reading", &path)?;
        Config::parse(&text, &path)
    }
}

/// `line N: message` from a TOML error.
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let msg = in_words(e.message().trim_end());
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            if msg.starts_with("duplicate key")
                && let Some(m) = duplicate(text, line)
            {
                return m;
            }
            // Which setting: the key on that line, and its table.
            let here = text.lines().nth(line - 1).unwrap_or_default();
            let key = here
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty() && !k.starts_with('[') && !msg.contains(k));
            let table = text
                .lines()
                .take(line)
                .map(str::trim)
                .filter(|l| l.starts_with('['))
                .last();
            match (key, table) {
                (Some(k), Some(t)) => format!("line {line} (`{k}` in {t}): {msg}"),
                (Some(k), None) => format!("line {line} (`{k}`): {msg}"),
                _ => format!("line {line}: {msg}"),
            }
        }
        None => msg,
    }
}

/// serde's names for types, in words a person reads (`expected u32` is `expected a whole
/// number, 0 or more`).
fn in_words(msg: &str) -> String {
    let words = [
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number, like 2.5"),
        ("expected a boolean", "expected true or false"),
        (
            "expected a sequence",
            "expected a list, like [\"a\", \"b\"]",
        ),
        ("expected a string", "expected text in quotes"),
        ("expected a map", "expected a table"),
    ];
    let mut out = msg.to_string();
    for (from, to) in words {
        if let Some(at) = out.find(from) {
            let end = at + from.len();
            // Only the whole word: `expected u32` but not `expected u32x`.
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(at..end, to);
            }
        }
    }
    out
}

/// The message for a key or table set twice, the second time on `line`: both lines, and what
/// to do.
fn duplicate(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line - 1)?.trim();
    if here.starts_with('[') {
        let first = lines[..line - 1].iter().position(|l| l.trim() == here)? + 1;
        return Some(format!(
            "the table {here} is on line {first} and again on line {line}: keep one, with all its settings"
        ));
    }
    let key = here.split_once('=')?.0.trim();
    // The table the key is in starts at the last header above it.
    let start = lines[..line - 1]
        .iter()
        .rposition(|l| l.trim_start().starts_with('['))
        .map_or(0, |i| i + 1);
    let table = if start == 0 {
        "the top of the file".to_string()
    } else {
        lines[start - 1].trim().to_string()
    };
    let first = lines[start..line - 1]
        .iter()
        .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))?
        + start
        + 1;
    Some(format!(
        "`{key}` in {table} is set on line {first} and again on line {line}: keep one"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Config> {
        Config::parse(s, Path::new("brain.toml"))
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_key_and_line() {
        let e = parse("[queue]\nstale_after = \"2h\"\nmax_attemps = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("max_attemps"), "{e}");
        let e = parse("[agents.a]\ncapabilities = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse("[queue]\nstale_after = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("soon"), "{e}");
        let e = parse("[agents.\"a/b\"]\n").unwrap_err().to_string();
        assert!(e.contains("agents.a/b"), "{e}");
    }

    #[test]
    fn a_setting_or_table_given_twice_names_both_lines() {
        let e = parse("[run]\nagent = \"a\"\n\n[git]\ncommit = true\n\n[run]\ntimeout = \"1h\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the table [run] is on line 1 and again on line 7: keep one"),
            "{e}"
        );
        let e = parse("[run]\n# agent = \"x\"\nagent = \"a\"\ntimeout = \"1h\"\nagent = \"b\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`agent` in [run] is set on line 3 and again on line 5: keep one"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_are_said_in_words() {
        let e = parse("[queue]\nmax_attempts = \"3\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`max_attempts` in [queue]"), "{e}");
        assert!(!e.contains("u32") && !e.contains("i64"), "{e}");
        let e = parse("[queue]\nmax_attempts = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`0` is not allowed: write a whole number, 1 or more"),
            "{e}"
        );
        let e = parse("[agents.a]\nmax_sessions_per_day = -2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a whole number, 0 or more"), "{e}");
        let e = parse("[git]\ncommit = \"yes\"\n").unwrap_err().to_string();
        assert!(e.contains("expected true or false"), "{e}");
        let e = parse("[agents.a]\ncapabilities = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a list"), "{e}");
    }
}
