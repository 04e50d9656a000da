//! The overnight run (SPEC §6): [`Runner`] hands each eligible task to an agent, watches it
//! (heartbeats, its timeout, a stop request) and records what happened, reporting each step
//! as an [`Event`]. It does no terminal I/O: a front end gives it a clock, a stop flag and a
//! callback for the events (the CLI prints them; the board will show them).
//!
//! ```text
//! reclaim (one transaction)
//! loop:
//!   while a slot is free:  usage limit?  -> warning in usage.md, stop starting
//!                          claim_for(agent, unattended only, skip tried)   (slot.rs)
//!                          prompt file in .brain/run/, output logs/runs/<id>@<epoch>.log
//!                          process::spawn: its own process tree, marked; a thread waits
//!   wait on the channel (at most 100 ms, to see a stop request), then per running agent:
//!     stop requested  -> SIGTERM now, SIGKILL after kill_grace
//!     deadline passed -> the same, ended "timed out"
//!     heartbeat due   -> heartbeat; lost -> stop the agent
//!   an agent exited  -> finish it (finish.rs): done / fail / release, in one transaction
//! stop whatever is left below this process; commit the log's last lines
//! ```

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::queue::{LockedRepo, Transaction};
use crate::run::event::{Event, RunLog, What};
use crate::run::prompt::read_prompt;
use crate::store::Repo;
use crate::task::names;
use crate::task::time::format_ts;

/// What a run did, by the end.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub started: usize,
    pub finished: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub interrupted: usize,
    pub lost: usize,
}

/// How a run ended (when it did not fail).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub tally: Tally,
    /// A stop was requested (Ctrl-C, SIGTERM): the tasks that were running went back to
    /// pending.
    pub interrupted: bool,
}

/// How a run is to go.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after starting this many tasks.
    pub max_tasks: Option<usize>,
    /// Keep this many agents busy at once.
    pub parallel: usize,
}

/// The agent a run runs: `agent`, else `[run] agent`; checked against brain.toml.
pub fn agent_for(repo: &Repo, agent: Option<&str>) -> Result<(String, AgentConfig)> {
    let config = repo.config();
    let names_list = || {
        let names: Vec<&str> = config.agents.keys().map(String::as_str).collect();
        if names.is_empty() {
            "none yet".to_string()
        } else {
            names.join(", ")
        }
    };
    let Some(agent) = agent.map(str::to_string).or(config.run.agent.clone()) else {
        return Err(Error::Invalid(format!(
            "which agent? give --agent AGENT (or set BRAIN_AGENT, or `agent = \"...\"` under [run] in brain.toml); agents: {}",
            names_list()
        )));
    };
    names::validate_agent(&agent)?;
    let Some(agent_config) = config.agents.get(&agent).cloned() else {
        return Err(Error::Invalid(format!(
            "no [agents.{agent}] in {}; agents there: {}",
            repo.root().join("brain.toml").display(),
            names_list()
        )));
    };
    if agent_config.command.is_empty() {
        return Err(Error::Invalid(format!(
            "[agents.{agent}] in brain.toml has no `command`; add one, e.g. command = [\"claude\", \"-p\", \"{{prompt}}\", \"--output-format\", \"json\"]"
        )));
    }
    Ok((agent, agent_config))
}

/// A run of one agent (see the module's documentation).
pub struct Runner<'a> {
    pub(super) repo: &'a Repo,
    pub(super) agent: String,
    pub(super) config: AgentConfig,
    pub(super) prompt: String,
    pub(super) log: RunLog,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) tally: Tally,
    /// The tasks this run claimed.
    pub(super) tried: Vec<String>,
    clock: &'a dyn Fn() -> Timestamp,
    events: &'a mut dyn FnMut(&Event),
}

impl<'a> Runner<'a> {
    /// A run of `agent` (see [`agent_for`]) in `repo`. `clock` gives the time (a front end may
    /// pin it); setting `stop` stops the run as Ctrl-C does; `events` receives what happens.
    pub fn new(
        repo: &'a Repo,
        agent: String,
        config: AgentConfig,
        clock: &'a dyn Fn() -> Timestamp,
        stop: Arc<AtomicBool>,
        events: &'a mut dyn FnMut(&Event),
    ) -> Result<Runner<'a>> {
        let prompt = read_prompt(repo, &config)?;
        Ok(Runner {
            repo,
            log: RunLog::new(repo, clock()),
            agent,
            config,
            prompt,
            stop,
            tally: Tally::default(),
            tried: Vec::new(),
            clock,
            events,
        })
    }

    /// The time now, by the run's clock.
    pub(super) fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// The time now, as the log writes it.
    pub(super) fn stamp(&self) -> String {
        format_ts(self.now())
    }

    /// Writes `line` to the day's log and reports it.
    pub(super) fn emit(&mut self, what: What, line: String) -> Result<()> {
        if !matches!(what, What::Note) {
            self.log.line(&line)?;
        }
        (self.events)(&Event { what, line });
        Ok(())
    }

    /// A transaction of the run: what it said is reported as notes.
    pub(super) fn transact<T>(
        &mut self,
        now: Timestamp,
        f: impl FnMut(&LockedRepo<'_>) -> Result<T>,
    ) -> Result<T> {
        let Transaction { result, notes } = self.repo.transact(now, f);
        for n in notes {
            self.emit(What::Note, n)?;
        }
        result
    }
}
