//! What `brain usage` shows (and the board, and the morning review): today per agent and
//! machine, the current 5-hour block and when it resets, the last known limit, and the limits
//! `brain.toml` sets.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::error::Result;
use crate::store::Repo;
use crate::task::time::format_ts;
use crate::usage::LimitHit;
use crate::usage::import::{self, Block, Totals};
use crate::usage::machine::{self, MachineUsage};
use crate::usage::summary::{self, AgentTotal};

/// The usage folder under `.brain/`: the transcripts' cache and the sessions brain ran.
pub const LOCAL_USAGE_DIR: &str = "usage";

/// One agent on one machine, today.
#[derive(Debug, Clone, Serialize)]
pub struct AgentToday {
    pub agent: String,
    pub machine: String,
    /// The UTC day.
    pub day: String,
    pub sessions: u64,
    pub tokens: u64,
    pub last_session: Option<String>,
    pub warning: Option<String>,
}

/// A limit an agent hit, where.
#[derive(Debug, Clone, Serialize)]
pub struct KnownLimit {
    pub agent: String,
    pub machine: String,
    #[serde(flatten)]
    pub hit: LimitHit,
    /// Whether it still holds.
    pub holds: bool,
}

/// The limits of `[agents.NAME]`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigLimits {
    pub max_sessions_per_day: Option<u32>,
    pub max_tokens_per_day: Option<u64>,
}

/// This machine's transcripts.
#[derive(Debug, Clone, Serialize)]
pub struct Transcripts {
    pub roots: Vec<PathBuf>,
    /// The local day.
    pub day: String,
    pub tokens_today: u64,
    /// The current 5-hour block, if one is open.
    pub block: Option<Block>,
    pub files: usize,
    pub entries: usize,
}

/// Everything `brain usage` shows.
#[derive(Debug, Clone, Serialize)]
pub struct UsageReport {
    pub machine: String,
    #[serde(with = "crate::task::time::ts")]
    pub now: Timestamp,
    pub today: Vec<AgentToday>,
    /// Today over all machines, per agent.
    pub totals: BTreeMap<String, AgentTotal>,
    pub transcripts: Option<Transcripts>,
    /// The last limit each agent hit on each machine, newest first.
    pub limits: Vec<KnownLimit>,
    pub config: BTreeMap<String, ConfigLimits>,
    /// What `context/usage.md` warns of now.
    pub warnings: Vec<String>,
    /// Files in `context/usage/` that could not be read.
    pub problems: Vec<String>,
}

/// The report at `now` for this `machine`; `transcripts` is this machine's import, if any.
pub fn report(
    repo: &Repo,
    machine: &str,
    transcripts: Option<(&[PathBuf], &Totals)>,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<UsageReport> {
    let (mut machines, problems) = MachineUsage::load_all(repo.root());
    if !machines.iter().any(|m| m.machine == machine) {
        // Not written yet (or only the older single file): what this machine would write.
        machines.push(MachineUsage::load(repo, machine)?);
    }
    let today_day = machine::day(now);
    let mut today = Vec::new();
    let mut limits = Vec::new();
    for m in &machines {
        for (agent, u) in &m.agents {
            if u.day == today_day {
                today.push(AgentToday {
                    agent: agent.clone(),
                    machine: m.machine.clone(),
                    day: u.day.clone(),
                    sessions: u.sessions_today,
                    tokens: u.estimated_tokens,
                    last_session: u.last_session.clone(),
                    warning: u.warning.clone(),
                });
            }
            if let Some(hit) = &u.limit {
                limits.push(KnownLimit {
                    agent: agent.clone(),
                    machine: m.machine.clone(),
                    hit: hit.clone(),
                    holds: hit.holds(now),
                });
            }
        }
    }
    limits.sort_by_key(|l| std::cmp::Reverse(l.hit.hit_at));
    let config = repo
        .config()
        .agents
        .iter()
        .map(|(name, a)| {
            (
                name.clone(),
                ConfigLimits {
                    max_sessions_per_day: a.max_sessions_per_day,
                    max_tokens_per_day: a.max_tokens_per_day,
                },
            )
        })
        .collect();
    let transcripts = transcripts.map(|(roots, t)| {
        let day = import::local_day(now, tz);
        Transcripts {
            roots: roots.to_vec(),
            tokens_today: t.tokens_on(&day),
            day,
            block: t.current_block(now).cloned(),
            files: t.files,
            entries: t.entries,
        }
    });
    Ok(UsageReport {
        machine: machine.to_string(),
        now,
        totals: summary::totals(&machines, now),
        warnings: summary::warnings(&machines, repo.config(), now),
        today,
        transcripts,
        limits,
        config,
        problems,
    })
}

/// The sessions brain ran, by session id: their tasks. Kept in `.brain/usage/sessions.tsv`
/// (one `session<TAB>task` line per session, written by `brain run`); built from the task files'
/// `- session_id:` lines when it is missing.
pub fn sessions(repo: &Repo) -> HashMap<String, String> {
    let path = sessions_file(repo);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            let built = scan_sessions(repo);
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::fsutil::write_atomic_nosync(&path, built.as_bytes());
            built
        }
    };
    text.lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(s, t)| (s.to_string(), t.to_string()))
        .collect()
}

/// Records that brain ran `session` for `task` (errors are ignored: the file is rebuilt from
/// the task files when it is missing).
pub fn record_session(repo: &Repo, session: &str, task: &str) {
    use std::io::Write;
    if session.contains(['\t', '\n']) {
        return;
    }
    let path = sessions_file(repo);
    if !path.exists() {
        // Built whole, with this session (its task file already names it, or soon will).
        let _ = sessions(repo);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = writeln!(f, "{session}\t{task}");
    }
}

fn sessions_file(repo: &Repo) -> PathBuf {
    repo.local_dir().join(LOCAL_USAGE_DIR).join("sessions.tsv")
}

/// The `- session_id:` lines of every task file.
fn scan_sessions(repo: &Repo) -> String {
    let mut out = String::new();
    for state in crate::task::State::ALL {
        let dir = repo.root().join("tasks").join(state.as_str());
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "md") {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&p) else {
                continue;
            };
            let id = p
                .file_stem()
                .and_then(|s| s.to_str())
                .map(|s| s.split('.').next().unwrap_or(s).to_string())
                .unwrap_or_default();
            for l in text.lines() {
                if let Some(s) = l.trim().strip_prefix("- session_id:") {
                    out.push_str(&format!("{}\t{id}\n", s.trim()));
                }
            }
        }
    }
    out
}

/// Imports this machine's transcripts under `roots` (see [`import::import`]), with the cache
/// in `.brain/usage/` and brain's sessions attributed to their tasks.
pub fn import_transcripts(repo: &Repo, roots: &[PathBuf], tz: &TimeZone) -> Result<Totals> {
    let cache = repo
        .local_dir()
        .join(LOCAL_USAGE_DIR)
        .join("transcripts.cache");
    import::import(roots, &cache, tz, &sessions(repo))
}

/// A one-line description of the current block: "02:00–07:00 UTC, 234567 tokens".
pub fn describe_block(b: &Block) -> String {
    format!(
        "{} to {}, {} tokens in {} entries",
        format_ts(b.start),
        format_ts(b.end),
        b.total_tokens,
        b.entries
    )
}

/// Writes what `totals` says of today and the current block into this machine's usage file
/// (and the summary), in the current transition; `false` when nothing changed.
pub fn record_import(
    locked: &crate::queue::LockedRepo<'_>,
    machine: &str,
    totals: &Totals,
    tz: &TimeZone,
    now: Timestamp,
) -> Result<bool> {
    let mut u = MachineUsage::load(locked, machine)?;
    let new = import::Imported::of(totals, tz, now);
    let same = u.transcripts.as_ref().is_some_and(|old| {
        import::Imported {
            imported_at: None,
            ..old.clone()
        } == import::Imported {
            imported_at: None,
            ..new.clone()
        }
    });
    if same {
        return Ok(false);
    }
    u.transcripts = Some(new);
    u.save_and_summarize(locked, now)?;
    Ok(true)
}
