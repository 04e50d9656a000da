//! The overnight run (SPEC §6): [`Runner`] hands each eligible task to an agent, watches it
//! (heartbeats, its timeout, a stop request) and records what happened, reporting each step
//! as an [`Event`]. It does no terminal I/O: a front end gives it a clock, a stop flag and a
//! callback for the events (the CLI prints them; the board will show them).
//!
//! ```text
//! reclaim (one transaction); a plan limit recorded here that still holds -> start nothing
//! loop:
//!   while a slot is free:  brain.toml limit? -> warning in usage, stop starting
//!                          claim_for(agent, unattended only, skip tried)   (slot.rs)
//!                          prompt file in .brain/run/, output logs/runs/<id>@<epoch>.log
//!                          process::spawn: its own process tree, marked; a thread waits
//!   wait on the channel (at most 100 ms, to see a stop request), then per running agent:
//!     stop requested  -> SIGTERM now, SIGKILL after kill_grace
//!     deadline passed -> the same, ended "timed out"
//!     heartbeat due   -> heartbeat; lost -> stop the agent
//!   an agent exited  -> judge its end (verdict.rs) and finish it (finish.rs) in one
//!                       transaction: done / fail / release; a plan limit releases the task
//!                       (no attempt spent) and stops starting, or with --wait sleeps until
//!                       the reset; a broken agent releases it and stops starting
//! stop whatever is left below this process; commit the log's last lines and the review
//! (a run that reclaimed, claimed and recorded nothing writes and commits nothing: its log
//! lines are held back until its first change, see `RunLog`)
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::queue::{LockedRepo, Transaction};
use crate::run::event::{Event, RunLog, What};
use crate::run::notify::{self, Notifier};
use crate::run::prompt::read_prompt;
use crate::run::verdict::Broken;
use crate::store::Repo;
use crate::task::names;
use crate::task::time::format_ts;
use crate::usage::LimitHit;

/// What a run did, by the end.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    pub started: usize,
    pub finished: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub interrupted: usize,
    pub lost: usize,
    /// Released because the plan's usage limit was hit (no attempt spent).
    pub limited: usize,
    /// Released because the agent cannot work (no attempt spent).
    pub broken: usize,
}

/// How a run ended (when it did not fail).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub tally: Tally,
    /// A stop was requested (Ctrl-C, SIGTERM): the tasks that were running went back to
    /// pending.
    pub interrupted: bool,
    /// The plan's usage limit that stopped the run (it holds until `until`).
    pub limit: Option<LimitHit>,
    /// Why the agent cannot work, when that stopped the run.
    pub broken: Option<Broken>,
    /// The day's log the run wrote to.
    pub log: std::path::PathBuf,
}

/// How a run is to go.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stop after starting this many tasks.
    pub max_tasks: Option<usize>,
    /// Keep this many agents busy at once.
    pub parallel: usize,
    /// When a usage limit is hit (or still holds), sleep until it resets and carry on,
    /// instead of ending the run.
    pub wait: bool,
    /// Wait for a reset only if it comes before this; start nothing after it.
    pub until: Option<Timestamp>,
    /// Claude Code's transcript roots (see [`crate::usage::import::roots`]): at the end the
    /// run imports them, for the night's usage in the morning review.
    pub transcripts: Vec<std::path::PathBuf>,
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
    let Some(agent) = agent
        .map(str::to_string)
        .or(config.default_agent().map(str::to_string))
    else {
        return Err(Error::Invalid(format!(
            "which agent? give --agent AGENT (or set BRAIN_AGENT, or `agent = \"...\"` under [run] in brain.toml); agents there: {}",
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
    /// This machine's name in `context/usage/`.
    pub(super) machine: String,
    /// The plan limit in force, if one was hit (or still held when the run started).
    pub(super) limit: Option<LimitHit>,
    /// Set when the agent turned out unable to work: nothing more starts.
    pub(super) broken: Option<Broken>,
    /// When the run started.
    pub(super) started: Timestamp,
    pub(super) notifier: Notifier,
    /// The open questions already known (told of, or open before the run).
    pub(super) known_questions: HashSet<String>,
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
        let started = clock();
        let machine = crate::usage::machine_name();
        Ok(Runner {
            repo,
            log: RunLog::new(repo, started),
            started,
            notifier: Notifier::new(&repo.config().notify, repo.root(), &machine),
            known_questions: HashSet::new(),
            agent,
            config,
            prompt,
            stop,
            tally: Tally::default(),
            tried: Vec::new(),
            machine,
            limit: None,
            broken: None,
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
        if what.changes() {
            self.log.keep()?;
        }
        if !matches!(what, What::Note) {
            self.log.line(&line)?;
        }
        (self.events)(&Event { what, line });
        Ok(())
    }

    /// Tells the person (see [`Notifier`]); a notifier that failed is logged.
    pub(super) fn notify(
        &mut self,
        kind: notify::Kind,
        title: String,
        message: String,
        task: Option<String>,
        resets_at: Option<Timestamp>,
    ) -> Result<()> {
        let now = self.now();
        let errors = self
            .notifier
            .event(kind, title, message, task, resets_at, now);
        for e in errors {
            let line = format!("{} {e}", self.stamp());
            self.emit(What::NotifyFailed, line)?;
        }
        Ok(())
    }

    /// Questions and approvals opened since the last look, told of once each.
    pub(super) fn new_questions(&mut self) -> Result<()> {
        let open: Vec<_> = crate::store::prompts::read_all(self.repo)?
            .into_iter()
            .filter(|q| q.state == crate::store::prompts::QState::Open)
            .filter(|q| !self.known_questions.contains(&q.id))
            .collect();
        for q in open {
            self.known_questions.insert(q.id.clone());
            let what = match q.kind {
                crate::store::prompts::Kind::Approval => "An approval",
                crate::store::prompts::Kind::Question => "A question",
            };
            let about = q
                .task
                .as_deref()
                .map(|t| format!(" about {t}"))
                .unwrap_or_default();
            self.notify(
                notify::Kind::Question,
                format!("brain: {} waits for you", what.to_lowercase()),
                format!("{what} waits for you{about} ({}): {}", q.id, q.text.trim()),
                q.task.clone(),
                None,
            )?;
        }
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
