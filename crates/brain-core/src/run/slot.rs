//! One running agent of a run: claiming its task (after the usage limits), starting its
//! command on it, and renewing its claim while it works.

use std::fs;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::error::{Error, IoContext, Result};
use crate::queue::{Claimant, Claimed, Moved, Refused, Token, Unattended};
use crate::run::event::What;
use crate::run::process::{self, Tree};
use crate::run::prompt::{Fill, build_prompt, command_line, prompt_file, resumable};
use crate::run::runner::Runner;
use crate::run::verdict::{self, Broken};
use crate::store::{Entry, OUTPUTS_DIR};
use crate::task::State;
use crate::usage::MachineUsage;

/// A running agent.
pub(super) struct Slot {
    pub(super) claim: Claimed,
    pub(super) tree: Tree,
    pub(super) started: Instant,
    pub(super) started_at: Timestamp,
    pub(super) deadline: Instant,
    pub(super) timeout: u64,
    pub(super) next_heartbeat: Instant,
    /// When the polite stop was sent: the hard stop follows after the grace period.
    pub(super) stopping: Option<(Instant, Stop)>,
    pub(super) output: PathBuf,
    pub(super) prompt_chars: usize,
    /// `{max_turns}` and `{max_budget_usd}` as the agent got them.
    pub(super) max_turns: Option<String>,
    pub(super) max_budget_usd: Option<String>,
}

/// Why an agent was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    Timeout,
    Interrupted,
    Lost,
}

/// The start of the mark every agent process of this run carries (see [`process::MARK`]).
fn run_mark() -> String {
    format!("{}-", std::process::id())
}

/// A started agent.
struct Launched {
    child: std::process::Child,
    tree: Tree,
    output: PathBuf,
    prompt_chars: usize,
    timeout: u64,
    /// `{max_turns}` and `{max_budget_usd}` as the agent got them.
    caps: (Option<String>, Option<String>),
}

/// PATH with this `brain`'s folder first, when it is not on PATH already: the agent runs
/// `brain ask` and the like, also from a scheduler that started brain by its full path.
fn brain_on_path() -> Option<std::ffi::OsString> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_stem()? != "brain" {
        return None;
    }
    let dir = exe.parent()?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    if std::env::split_paths(&path).any(|p| p == dir) {
        return None;
    }
    std::env::join_paths(std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&path)))
        .ok()
}

/// What a finished wait thread reports: the slot's claim token and how the agent exited.
pub(super) type Exited = (String, std::io::Result<std::process::ExitStatus>);

impl Runner<'_> {
    /// Claims the next task and starts the agent on it; `None` when nothing is left to do.
    pub(super) fn start_one(
        &mut self,
        tx: &mpsc::Sender<Exited>,
        beat_every: Duration,
    ) -> Result<Option<Slot>> {
        let now = self.now();
        let agent = self.agent.clone();
        // Limits first: a session that may not start must not claim.
        let machine = self.machine.clone();
        // An unreadable usage file is no usage known (`brain doctor` names it).
        let usage = MachineUsage::load(self.repo, &machine).unwrap_or_default();
        if let Some(why) = usage.limit_reached(&agent, &self.config, now) {
            let already = usage.today(&agent, now).warning.as_deref() == Some(why.as_str());
            if !already {
                self.transact(now, |l| {
                    let mut u = MachineUsage::load(l, &machine)?;
                    u.set_warning(&agent, now, Some(why.clone()));
                    u.save_and_summarize(l, now)?;
                    l.commit_point(&format!("usage: {agent} reached its daily limit"))
                })?;
            }
            let line = format!("{} usage limit: {why}", self.stamp());
            self.emit(What::LimitReached, line)?;
            return Ok(None);
        }
        // A task this run already tried waits for the next run.
        let filter = Unattended {
            only: true,
            skip: self.tried.clone(),
        };
        let claimed = self.transact(now, |l| l.claim_for(None, &agent, &[], None, &filter, now))?;
        let Ok(claim) = claimed else {
            return Ok(None);
        };
        self.tried.push(claim.id.clone());
        self.tally.started += 1;
        let line = format!(
            "{} claimed {} (attempt {}): {}",
            self.stamp(),
            claim.id,
            claim.attempt,
            claim.title
        );
        self.emit(
            What::Claimed {
                id: claim.id.clone(),
                attempt: claim.attempt,
            },
            line,
        )?;
        let launched = match self.launch(&claim) {
            Ok(Ok(launched)) => launched,
            Ok(Err(broken)) => {
                // The agent's program is not there: nothing ran, the task waits unharmed,
                // and the run stops (every task would meet the same).
                let _ = self.give_back_because(
                    &claim,
                    &format!("the agent cannot work: {}", broken.message),
                    &[],
                )?;
                self.tried.retain(|t| t != &claim.id);
                self.tally.broken += 1;
                let line = format!(
                    "{} {}; {} released without spending an attempt. To fix: {}",
                    self.stamp(),
                    broken.message,
                    claim.id,
                    broken.fix
                );
                self.emit(
                    What::Broken {
                        id: claim.id.clone(),
                    },
                    line,
                )?;
                self.broken = Some(broken);
                return Ok(None);
            }
            Err(e) => {
                // Nothing ran: give the task back (the attempt does not count) and stop the
                // run, since the next task would meet the same problem.
                // Lost meanwhile is fine too: either way the task is not ours to run.
                let _ = self.give_back(&claim)?;
                let line = format!("{} {e}; {} released", self.stamp(), claim.id);
                self.emit(
                    What::LaunchFailed {
                        id: claim.id.clone(),
                    },
                    line,
                )?;
                return Err(e);
            }
        };
        let Launched {
            mut child,
            tree,
            output,
            prompt_chars,
            timeout,
            caps,
        } = launched;
        let token = claim.token.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send((token, status));
        });
        let started = Instant::now();
        Ok(Some(Slot {
            claim,
            tree,
            started,
            started_at: now,
            deadline: started + Duration::from_secs(timeout),
            timeout,
            next_heartbeat: started + beat_every,
            stopping: None,
            output,
            prompt_chars,
            max_turns: caps.0,
            max_budget_usd: caps.1,
        }))
    }

    /// Builds the prompt and the output file for `claim` and starts the agent on it; a
    /// program that is not found is a broken agent.
    fn launch(&self, claim: &Claimed) -> Result<std::result::Result<Launched, Broken>> {
        let agent = &self.agent;
        let task = self.repo.read(&Entry {
            id: claim.id.clone(),
            state: State::Active,
            agent: Some(agent.to_string()),
            path: claim.path.clone(),
        })?;
        let timeout = task
            .task
            .meta
            .timeout
            .unwrap_or(self.repo.config().run.timeout)
            .max(1);
        let text = build_prompt(self.repo, agent, &self.prompt, &claim.id, &claim.path)?;
        let prompt_file = prompt_file(self.repo, &claim.token);
        if let Some(dir) = prompt_file.parent() {
            fs::create_dir_all(dir).at("creating", dir)?;
        }
        fs::write(&prompt_file, &text).at("writing", &prompt_file)?;
        let out_dir = crate::fsutil::join_rel(self.repo.root(), OUTPUTS_DIR);
        fs::create_dir_all(&out_dir).at("creating", &out_dir)?;
        let output = out_dir.join(format!("{}.log", claim.token));
        let out_file = fs::File::create(&output).at("creating", &output)?;
        let err_file = out_file.try_clone().at("opening", &output)?;
        let fill = Fill {
            prompt: &text,
            prompt_file: &prompt_file,
            task_file: &claim.path,
            task_id: &claim.id,
            repo: self.repo.root(),
            max_turns: None,
            max_budget_usd: None,
        }
        .caps(&task.task, &self.config);
        let mut argv = command_line(&self.config.command, &fill);
        if self.config.resume
            && let Some(session) = resumable(&claim.path)
        {
            argv.extend(["--resume".to_string(), session]);
        }
        let mut cmd =
            std::process::Command::new(crate::fsutil::program_in(self.repo.root(), &argv[0]));
        cmd.args(&argv[1..])
            .current_dir(self.repo.root())
            .env("BRAIN_REPO", self.repo.root())
            .env("BRAIN_AGENT", agent)
            .env("BRAIN_TASK", &claim.id)
            .env("BRAIN_TOKEN", &claim.token)
            .envs(brain_on_path().map(|p| ("PATH", p)))
            .stdin(std::process::Stdio::null())
            .stdout(out_file)
            .stderr(err_file);
        let mark = format!("{}{}", run_mark(), claim.token);
        let (child, tree) = match process::spawn(cmd, &mark) {
            Ok(spawned) => spawned,
            Err(e) => {
                let _ = fs::remove_file(&prompt_file);
                if let Some(broken) = verdict::not_started(&argv[0], agent, &e) {
                    return Ok(Err(broken));
                }
                return Err(Error::Invalid(format!(
                    "cannot start `{}` for {agent}: {e}; check `command` under [agents.{agent}] in brain.toml",
                    argv[0]
                )));
            }
        };
        Ok(Ok(Launched {
            child,
            tree,
            output,
            prompt_chars: text.chars().count(),
            timeout,
            caps: (fill.max_turns.clone(), fill.max_budget_usd.clone()),
        }))
    }

    /// Releases `claim`'s task back to pending (the attempt does not count).
    pub(super) fn give_back(
        &mut self,
        claim: &Claimed,
    ) -> Result<std::result::Result<Moved, Refused>> {
        self.give_back_because(claim, "", &[])
    }

    /// [`Runner::give_back`] with the reason, and more `- key: value` lines, in the task.
    pub(super) fn give_back_because(
        &mut self,
        claim: &Claimed,
        reason: &str,
        extra: &[(&str, String)],
    ) -> Result<std::result::Result<Moved, Refused>> {
        let who = self.claimant(claim)?;
        let now = self.now();
        self.transact(now, |l| l.release_with(&claim.id, &who, reason, extra, now))
    }

    pub(super) fn claimant(&self, claim: &Claimed) -> Result<Claimant> {
        Ok(Claimant {
            agent: Some(self.agent.clone()),
            token: Some(Token::parse(&claim.token)?),
        })
    }

    /// Renews the claim; `false` when it is no longer ours.
    pub(super) fn heartbeat(&mut self, s: &Slot) -> Result<bool> {
        let who = self.claimant(&s.claim)?;
        let now = self.now();
        let id = s.claim.id.clone();
        match self.transact(now, |l| l.heartbeat(&who, Some(&id), now)) {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(lost)) => {
                let line = format!(
                    "{} lost the claim of {}: {}; stopping the agent",
                    self.stamp(),
                    id,
                    lost.reason
                );
                self.emit(What::ClaimLost { id }, line)?;
                Ok(false)
            }
            // A heartbeat that fails (the remote is down) is not a reason to stop working.
            Err(e) => {
                let line = format!("{} heartbeat of {id} failed: {e}", self.stamp());
                self.emit(What::HeartbeatFailed { id }, line)?;
                Ok(true)
            }
        }
    }
}
