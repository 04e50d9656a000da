//! What a run reports as it goes: each [`Event`] is also a line of the day's log
//! (`logs/YYYY-MM-DD-overnight.log`), which the runner writes; a front end shows the events
//! (the CLI prints their lines; the board will show them live).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{IoContext, Result};
use crate::store::Repo;

/// How a task's session ended, as far as the run is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ended {
    /// The agent succeeded: the task is done.
    Done,
    /// The agent settled the task itself under its claim (done, fail, release).
    ByItself,
    /// The agent failed: the task failed (back to pending while attempts remain).
    Failed,
    /// The timeout stopped it.
    TimedOut,
    /// The run was interrupted (Ctrl-C, SIGTERM): released back to pending.
    Interrupted,
    /// The claim was lost meanwhile (reclaimed, or another agent's).
    Lost,
    /// The plan's usage limit was hit: released without spending an attempt.
    Limited,
    /// The agent cannot work (not logged in, no network): released without spending an
    /// attempt.
    Broken,
}

/// What happened, with its log line.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum What {
    /// The run started.
    Started,
    /// A stale claim went back to pending (or to failed).
    Reclaimed { id: String },
    /// A task was claimed for the agent.
    Claimed { id: String, attempt: u32 },
    /// A usage limit of brain.toml stops new sessions.
    LimitReached,
    /// The plan's usage limit holds (hit by task `id`, or recorded before the run): no new
    /// session before `until`.
    PlanLimit { id: Option<String>, until: String },
    /// With `--wait`, the run sleeps until the limit resets.
    Waiting { until: String },
    /// The limit reset; the run carries on.
    Resumed,
    /// The agent cannot work; its task `id` was released and the run stops.
    Broken { id: String },
    /// The agent's command could not be started (the run stops; the task was released).
    LaunchFailed { id: String },
    /// A heartbeat failed (the remote is down, say); the agent goes on.
    HeartbeatFailed { id: String },
    /// The claim was lost while the agent worked; the agent is stopped.
    ClaimLost { id: String },
    /// A task's session ended.
    Ended { id: String, how: Ended },
    /// The run failed, and this running task was stopped.
    Aborted { id: String },
    /// A notifier failed or hung (the run goes on).
    NotifyFailed,
    /// The morning review was written.
    Reviewed,
    /// Something a locked section of the run said (a recovery, a task skipped).
    Note,
    /// The run ended.
    Completed,
}

impl What {
    /// Whether the event is a change the run made to the queue or its usage (after one, the
    /// day's log is written and committed; a run with none leaves no trace).
    pub fn changes(&self) -> bool {
        matches!(
            self,
            What::Reclaimed { .. }
                | What::Claimed { .. }
                | What::LimitReached
                | What::PlanLimit { id: Some(_), .. }
        )
    }
}

/// One event of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(flatten)]
    pub what: What,
    /// Its line in the day's log (notes are not logged).
    pub line: String,
}

/// The day's log, `logs/YYYY-MM-DD-overnight.log` (UTC date of the run's start). Its lines are
/// held back until the run changes something ([`RunLog::keep`]): a run that found nothing to
/// do writes nothing and commits nothing.
#[derive(Debug)]
pub struct RunLog {
    pub path: PathBuf,
    /// The lines not written yet, while the run has changed nothing.
    held: Option<Vec<String>>,
}

impl RunLog {
    pub fn new(repo: &Repo, started: Timestamp) -> RunLog {
        RunLog {
            path: repo
                .root()
                .join("logs")
                .join(format!("{}-overnight.log", started.strftime("%Y-%m-%d"))),
            held: Some(Vec::new()),
        }
    }

    /// Appends a line (held back while the run has changed nothing).
    pub fn line(&mut self, text: &str) -> Result<()> {
        match &mut self.held {
            Some(held) => {
                held.push(text.to_string());
                Ok(())
            }
            None => append(&self.path, text),
        }
    }

    /// The run changed something: the lines held back are written, and every line after them.
    pub fn keep(&mut self) -> Result<()> {
        if let Some(held) = self.held.take() {
            for l in &held {
                append(&self.path, l)?;
            }
        }
        Ok(())
    }

    /// Whether the log is being written (the run changed something).
    pub fn kept(&self) -> bool {
        self.held.is_none()
    }
}

fn append(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).at("creating", dir)?;
    }
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .at("opening", path)?;
    writeln!(f, "{text}").at("writing", path)?;
    Ok(())
}
