//! `brain run`: the scheduled run (SPEC §6).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use brain_core::config::AgentConfig;
use brain_core::lifecycle::{Claimant, Claimed, Token};
use brain_core::process::{self, Tree};
use brain_core::report::Report;
use brain_core::usage::{self, Usage};
use brain_core::{LockedRepo, Repo, State, handoff};
use jiff::Timestamp;

use super::{Context, locked, now};
use crate::output;

/// Hand each eligible task to an agent, watch it, and record what happened (the overnight run).
///
/// Reclaims stale claims, then, while AGENT has eligible tasks (not marked `unattended: false`)
/// and its usage limits allow: claims the best one, builds the prompt (the agent's prompt file,
/// then the task file, then AGENT's section of context/handoff.md), starts the agent's
/// `command` from brain.toml, heartbeats while it runs, and finishes the task. Exit 0 is `done`
/// with the agent's result; anything else is `fail` (back to pending while attempts remain).
/// A task's `timeout` (else [run] timeout) stops the agent's whole process tree, politely and
/// then for good ([run] kill_grace later). Ctrl-C or SIGTERM stops the agents the same way and
/// releases their tasks. The day's log is logs/YYYY-MM-DD-overnight.log; each attempt's output
/// is kept in logs/runs/<id>@<epoch>.log; context/usage.md counts sessions and tokens.
///
/// The command is an argument list, never run through a shell, with placeholders {prompt},
/// {prompt_file}, {task_file}, {task_id} and {repo}. The agent gets BRAIN_REPO, BRAIN_AGENT,
/// BRAIN_TASK and BRAIN_TOKEN, so it can call brain itself; a task it finishes itself is left
/// as it left it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent to run ([agents.NAME] in brain.toml); default: [run] agent.
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    agent: Option<String>,
    /// Stop after starting this many tasks.
    #[arg(long, value_name = "N")]
    max_tasks: Option<usize>,
    /// Keep N agents busy at once, on distinct tasks, still in queue order.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: u16,
    /// Print what would run, in order, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A running agent.
struct Slot {
    claim: Claimed,
    tree: Tree,
    started: Instant,
    started_at: Timestamp,
    deadline: Instant,
    timeout: u64,
    next_heartbeat: Instant,
    /// When the polite stop was sent: the hard stop follows after the grace period.
    stopping: Option<(Instant, Stop)>,
    output: PathBuf,
    prompt_chars: usize,
}

/// Why an agent was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Timeout,
    Interrupted,
    Lost,
}

/// How a task's session ended.
enum Outcome {
    Done,
    ByItself(State),
    Failed,
    TimedOut,
    Interrupted,
    Lost,
}

#[derive(Debug, Default)]
struct Tally {
    started: usize,
    finished: usize,
    failed: usize,
    timed_out: usize,
    interrupted: usize,
    lost: usize,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let config = repo.config().clone();
    let Some(agent) = args.agent.clone().or(config.run.agent.clone()) else {
        bail!(
            "which agent? give --agent AGENT (or set BRAIN_AGENT, or `agent = \"...\"` under [run] in brain.toml); agents: {}",
            agent_names(&repo)
        );
    };
    brain_core::names::validate_agent(&agent)?;
    let Some(agent_config) = config.agents.get(&agent).cloned() else {
        bail!(
            "no [agents.{agent}] in {}; agents there: {}",
            repo.root().join("brain.toml").display(),
            agent_names(&repo)
        );
    };
    if agent_config.command.is_empty() {
        bail!(
            "[agents.{agent}] in brain.toml has no `command`; add one, e.g. command = [\"claude\", \"-p\", \"{{prompt}}\", \"--output-format\", \"json\"]"
        );
    }
    let prompt = read_prompt(&repo, &agent_config)?;
    if args.dry_run {
        return dry_run(&repo, &agent, &agent_config, &args);
    }
    // Whatever an agent leaves running, a daemon that left its process group included, is
    // re-parented to this process and stopped with its agent (Linux; see process.rs).
    let _ = process::adopt_orphans();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C, and SIGTERM from a scheduler: stop starting, stop the agents, release.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let log = RunLog::new(&repo, now()?);
    log.line(&format!(
        "Starting overnight run at {} (agent {agent}{}{})",
        stamp()?,
        args.max_tasks
            .map(|n| format!(", at most {n} tasks"))
            .unwrap_or_default(),
        if args.parallel > 1 {
            format!(", {} at once", args.parallel)
        } else {
            String::new()
        }
    ))?;
    let mut runner = Runner {
        repo: &repo,
        agent: &agent,
        config: &agent_config,
        prompt,
        log,
        stop,
        tally: Tally::default(),
        tried: Vec::new(),
    };
    let result = runner.go(&args);
    // Nothing an agent started outlives the run.
    process::stop_leftovers();
    let t = &runner.tally;
    let summary = format!(
        "Completed at {}: {} finished, {} failed, {} timed out, {} interrupted, {} lost",
        stamp()?,
        t.finished,
        t.failed,
        t.timed_out,
        t.interrupted,
        t.lost
    );
    runner.log.line(&summary)?;
    // The log's last lines belong to no transition: commit them on their own.
    locked(&repo, now()?, |l| {
        l.touch(&runner.log.path);
        l.commit_point(&format!("run: log of {agent}'s run"))?;
        Ok(())
    })?;
    result?;
    if runner.stop.load(Ordering::SeqCst) {
        return Err(crate::exit::Exit {
            code: crate::exit::ERROR,
            message: "interrupted; the tasks that were running went back to pending".into(),
        }
        .into());
    }
    Ok(())
}

/// The start of the mark every agent process of this run carries (see
/// `brain_core::process::MARK`).
fn run_mark() -> String {
    format!("{}-", std::process::id())
}

fn agent_names(repo: &Repo) -> String {
    let names: Vec<&str> = repo.config().agents.keys().map(String::as_str).collect();
    if names.is_empty() {
        "none yet".into()
    } else {
        names.join(", ")
    }
}

fn stamp() -> anyhow::Result<String> {
    Ok(brain_core::time::format_ts(now()?))
}

/// The agent's prompt file (`[agents.NAME] prompt`, else `agents/overnight.md` if it exists).
fn read_prompt(repo: &Repo, config: &AgentConfig) -> anyhow::Result<String> {
    let (rel, required) = match &config.prompt {
        Some(p) => (p.clone(), true),
        None => ("agents/overnight.md".to_string(), false),
    };
    let path = repo.root().join(&rel);
    match fs::read_to_string(&path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(String::new()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "reading the agent's prompt file {} (`prompt` in brain.toml)",
                path.display()
            )
        }),
    }
}

/// The day's log, `logs/YYYY-MM-DD-overnight.log` (UTC date of the run's start).
struct RunLog {
    path: PathBuf,
}

impl RunLog {
    fn new(repo: &Repo, started: Timestamp) -> RunLog {
        RunLog {
            path: repo
                .root()
                .join("logs")
                .join(format!("{}-overnight.log", started.strftime("%Y-%m-%d"))),
        }
    }

    /// Appends a line, and says it on stderr.
    fn line(&self, text: &str) -> anyhow::Result<()> {
        eprintln!("brain: {text}");
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        writeln!(f, "{text}").with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }
}

/// The argument list with its placeholders filled in.
fn command_line(
    template: &[String],
    prompt: &str,
    prompt_file: &Path,
    task_file: &Path,
    task_id: &str,
    repo: &Path,
) -> Vec<String> {
    template
        .iter()
        .map(|arg| {
            arg.replace("{prompt_file}", &prompt_file.display().to_string())
                .replace("{task_file}", &task_file.display().to_string())
                .replace("{task_id}", task_id)
                .replace("{repo}", &repo.display().to_string())
                // Last, so that a prompt that contains `{task_id}` stays as it is.
                .replace("{prompt}", prompt)
        })
        .collect()
}

/// The prompt: the agent's prompt file, the task file, and the agent's handoff section.
fn build_prompt(
    repo: &Repo,
    agent: &str,
    prompt: &str,
    task_file: &Path,
) -> anyhow::Result<String> {
    let task = fs::read_to_string(task_file)
        .with_context(|| format!("reading {}", task_file.display()))?;
    let mut text = String::new();
    if !prompt.trim().is_empty() {
        text.push_str(prompt.trim_end());
        text.push_str("\n\n---\n\n");
    }
    text.push_str(task.trim_end());
    text.push('\n');
    let handoffs = fs::read_to_string(repo.root().join(handoff::HANDOFF)).unwrap_or_default();
    if let Some(h) = handoff::parse(&handoffs)
        .into_iter()
        .find(|h| h.agent == handoff::agent_of(agent))
    {
        text.push_str("\n---\n\n");
        text.push_str(&handoff::render(&h));
    }
    Ok(text)
}

fn dry_run(repo: &Repo, agent: &str, config: &AgentConfig, args: &Args) -> anyhow::Result<()> {
    let now = now()?;
    // Read under the lock, so that what is listed is one consistent state; nothing changes.
    let l = repo.lock_offline()?;
    for r in l.reclaim(now, true)? {
        eprintln!("would reclaim {} to tasks/{}/: {}", r.id, r.to, r.reason);
    }
    let unattended = brain_core::lifecycle::Unattended {
        only: true,
        skip: Vec::new(),
    };
    let mut out = output::stdout();
    let mut n = 0;
    for t in l.would_claim(agent, &[], &unattended, now, args.max_tasks)? {
        n += 1;
        let prompt_file = repo
            .local_dir()
            .join("run")
            .join(format!("{}.prompt.md", t.id));
        let active = repo.task_path(State::Active, &t.id, Some(agent));
        let argv = command_line(
            &config.command,
            "<prompt>",
            &prompt_file,
            &active,
            &t.id,
            repo.root(),
        );
        writeln!(out, "{n}. {}  {}", t.id, t.title)?;
        writeln!(out, "   {}", shell_words(&argv))?;
    }
    if n == 0 {
        writeln!(out, "nothing to run for {agent}")?;
    }
    out.flush()?;
    Ok(())
}

/// An argument list as a person would type it (for display only; nothing runs it).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@{}<>".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

struct Runner<'a> {
    repo: &'a Repo,
    agent: &'a str,
    config: &'a AgentConfig,
    prompt: String,
    log: RunLog,
    stop: Arc<AtomicBool>,
    tally: Tally,
    /// The tasks this run claimed.
    tried: Vec<String>,
}

/// What a finished wait thread reports: the slot's claim token and how the agent exited.
type Exited = (String, std::io::Result<std::process::ExitStatus>);

impl Runner<'_> {
    fn go(&mut self, args: &Args) -> anyhow::Result<()> {
        let config = self.repo.config();
        let grace = Duration::from_secs(config.run.kill_grace);
        let beat_every = Duration::from_secs(
            (config.queue.stale_after / 4)
                .min(config.git.heartbeat_every)
                .max(1),
        );
        let now0 = now()?;
        let reclaimed = locked(self.repo, now0, |l| Ok(l.reclaim(now0, false)?))?;
        for r in reclaimed {
            self.log.line(&format!(
                "{} reclaimed {} to tasks/{}/: {}",
                stamp()?,
                r.id,
                r.to,
                r.reason
            ))?;
        }
        let (tx, rx) = mpsc::channel::<Exited>();
        let mut running: Vec<Slot> = Vec::new();
        let result = self.drive(args, &tx, &rx, &mut running, grace, beat_every);
        if result.is_err() {
            // Whatever went wrong, no agent is left running and no task stays claimed.
            self.abort(running, grace);
        }
        result
    }

    /// Stops every running agent (politely, then for good after `grace`) and releases its task.
    fn abort(&mut self, running: Vec<Slot>, grace: Duration) {
        for s in &running {
            s.tree.stop_politely();
        }
        let until = Instant::now() + grace;
        while running.iter().any(|s| s.tree.alive()) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        for s in running {
            s.tree.kill();
            let id = s.claim.id.clone();
            let what = match self.give_back(&s.claim) {
                Ok(Ok(_)) => "released back to pending".to_string(),
                Ok(Err(lost)) => format!("not ours any more: {}", lost.reason()),
                Err(e) => {
                    format!("could not be released ({e:#}); the next run reclaims it once stale")
                }
            };
            self.tally.interrupted += 1;
            let _ = self.log.line(&format!(
                "{} {id} stopped because the run failed: {what}",
                stamp().unwrap_or_default()
            ));
        }
    }

    /// The run's loop: start agents while there are slots and tasks, and watch them.
    fn drive(
        &mut self,
        args: &Args,
        tx: &mpsc::Sender<Exited>,
        rx: &mpsc::Receiver<Exited>,
        running: &mut Vec<Slot>,
        grace: Duration,
        beat_every: Duration,
    ) -> anyhow::Result<()> {
        let mut no_more = false;
        loop {
            let stopping = self.stop.load(Ordering::SeqCst);
            // Start agents while there are free slots, tasks and budget.
            while !stopping
                && !no_more
                && running.len() < usize::from(args.parallel)
                && args.max_tasks.is_none_or(|m| self.tally.started < m)
            {
                match self.start_one(tx, beat_every)? {
                    Some(slot) => running.push(slot),
                    None => no_more = true,
                }
            }
            if running.is_empty() {
                return Ok(());
            }
            let wake = running
                .iter()
                .map(|s| match s.stopping {
                    Some((at, _)) => at + grace,
                    None => s.deadline.min(s.next_heartbeat),
                })
                .min()
                .unwrap_or_else(Instant::now);
            // Wake at least every 100 ms to notice Ctrl-C.
            let wait = wake
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100));
            match rx.recv_timeout(wait) {
                Ok((token, status)) => {
                    if let Some(i) = running.iter().position(|s| s.claim.token == token) {
                        let slot = running.swap_remove(i);
                        self.finish(slot, status)?;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
            }
            let now_i = Instant::now();
            let interrupted = self.stop.load(Ordering::SeqCst);
            for s in running.iter_mut() {
                match s.stopping {
                    Some((at, _)) if now_i >= at + grace => s.tree.kill(),
                    Some(_) => {}
                    None if interrupted => {
                        s.tree.stop_politely();
                        s.stopping = Some((now_i, Stop::Interrupted));
                    }
                    None if now_i >= s.deadline => {
                        s.tree.stop_politely();
                        s.stopping = Some((now_i, Stop::Timeout));
                    }
                    None if now_i >= s.next_heartbeat => {
                        s.next_heartbeat = now_i + beat_every;
                        if !self.heartbeat(s)? {
                            s.tree.stop_politely();
                            s.stopping = Some((now_i, Stop::Lost));
                        }
                    }
                    None => {}
                }
            }
        }
    }

    /// Claims the next task and starts the agent on it; `None` when nothing is left to do.
    fn start_one(
        &mut self,
        tx: &mpsc::Sender<Exited>,
        beat_every: Duration,
    ) -> anyhow::Result<Option<Slot>> {
        let now = now()?;
        let agent = self.agent;
        // Limits first: a session that may not start must not claim.
        let usage = Usage::load(self.repo)?;
        if let Some(why) = usage.limit_reached(agent, self.config, now) {
            let already = usage.today(agent, now).warning.as_deref() == Some(why.as_str());
            if !already {
                locked(self.repo, now, |l| {
                    let mut u = Usage::load(l)?;
                    u.set_warning(agent, now, Some(why.clone()));
                    u.save(l, now)?;
                    l.commit_point(&format!("usage: {agent} reached its daily limit"))?;
                    Ok(())
                })?;
            }
            self.log.line(&format!("{} usage limit: {why}", stamp()?))?;
            return Ok(None);
        }
        // A task this run already tried waits for the next run.
        let filter = brain_core::lifecycle::Unattended {
            only: true,
            skip: self.tried.clone(),
        };
        let claimed = locked(self.repo, now, |l| {
            Ok(l.claim_for(None, agent, &[], None, &filter, now)?)
        })?;
        let Ok(claim) = claimed else {
            return Ok(None);
        };
        self.tried.push(claim.id.clone());
        self.tally.started += 1;
        self.log.line(&format!(
            "{} claimed {} (attempt {}): {}",
            stamp()?,
            claim.id,
            claim.attempt,
            claim.title
        ))?;
        let (mut child, tree, output, prompt_chars, timeout) = match self.launch(&claim) {
            Ok(launched) => launched,
            Err(e) => {
                // Nothing ran: give the task back (the attempt does not count) and stop the
                // run, since the next task would meet the same problem.
                // Lost meanwhile is fine too: either way the task is not ours to run.
                let _ = self.give_back(&claim)?;
                self.log
                    .line(&format!("{} {e:#}; {} released", stamp()?, claim.id))?;
                return Err(e);
            }
        };
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
        }))
    }

    /// Builds the prompt and the output file for `claim` and starts the agent on it.
    #[allow(clippy::type_complexity)]
    fn launch(
        &self,
        claim: &Claimed,
    ) -> anyhow::Result<(std::process::Child, Tree, PathBuf, usize, u64)> {
        let agent = self.agent;
        let task = self.repo.read(&brain_core::Entry {
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
        let text = build_prompt(self.repo, agent, &self.prompt, &claim.path)?;
        let run_dir = self.repo.local_dir().join("run");
        fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let prompt_file = run_dir.join(format!("{}.prompt.md", claim.token));
        fs::write(&prompt_file, &text)
            .with_context(|| format!("writing {}", prompt_file.display()))?;
        let out_dir = self.repo.root().join(brain_core::lifecycle::OUTPUTS_DIR);
        fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
        let output = out_dir.join(format!("{}.log", claim.token));
        let out_file =
            fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
        let err_file = out_file
            .try_clone()
            .with_context(|| format!("opening {}", output.display()))?;
        let argv = command_line(
            &self.config.command,
            &text,
            &prompt_file,
            &claim.path,
            &claim.id,
            self.repo.root(),
        );
        let mut cmd = std::process::Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(self.repo.root())
            .env("BRAIN_REPO", self.repo.root())
            .env("BRAIN_AGENT", agent)
            .env("BRAIN_TASK", &claim.id)
            .env("BRAIN_TOKEN", &claim.token)
            .stdin(std::process::Stdio::null())
            .stdout(out_file)
            .stderr(err_file);
        let mark = format!("{}{}", run_mark(), claim.token);
        let (child, tree) = process::spawn(cmd, &mark).map_err(|e| {
            anyhow::anyhow!(
                "cannot start `{}` for {agent}: {e}; check `command` under [agents.{agent}] in brain.toml",
                argv[0]
            )
        })?;
        Ok((child, tree, output, text.chars().count(), timeout))
    }

    /// Releases `claim`'s task back to pending (the attempt does not count).
    fn give_back(
        &self,
        claim: &Claimed,
    ) -> anyhow::Result<Result<brain_core::lifecycle::Moved, brain_core::lifecycle::Refused>> {
        let who = self.claimant(claim)?;
        let now = now()?;
        locked(self.repo, now, |l| Ok(l.release(&claim.id, &who, now)?))
    }

    fn claimant(&self, claim: &Claimed) -> anyhow::Result<Claimant> {
        Ok(Claimant {
            agent: Some(self.agent.to_string()),
            token: Some(Token::parse(&claim.token)?),
        })
    }

    /// Renews the claim; `false` when it is no longer ours.
    fn heartbeat(&mut self, s: &Slot) -> anyhow::Result<bool> {
        let who = self.claimant(&s.claim)?;
        let now = now()?;
        let id = s.claim.id.clone();
        match locked(self.repo, now, |l| Ok(l.heartbeat(&who, Some(&id), now)?)) {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(lost)) => {
                self.log.line(&format!(
                    "{} lost the claim of {}: {}; stopping the agent",
                    stamp()?,
                    id,
                    lost.reason
                ))?;
                Ok(false)
            }
            // A heartbeat that fails (the remote is down) is not a reason to stop working.
            Err(e) => {
                self.log
                    .line(&format!("{} heartbeat of {id} failed: {e:#}", stamp()?))?;
                Ok(true)
            }
        }
    }

    /// Records how the agent ended and finishes the task.
    fn finish(
        &mut self,
        s: Slot,
        status: std::io::Result<std::process::ExitStatus>,
    ) -> anyhow::Result<()> {
        // Whatever the agent left running goes with it.
        if s.tree.alive() {
            s.tree.stop_politely();
            let until = Instant::now() + Duration::from_millis(200);
            while s.tree.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
            s.tree.kill();
            // Signals are delivered asynchronously: wait (a little) until they took effect.
            let until = Instant::now() + Duration::from_secs(2);
            while s.tree.alive() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let took = output::age(s.started.elapsed().as_secs() as i64);
        // Only the start and the end of what the agent printed are read: it may be gigabytes.
        let printed = brain_core::report::Output::read(&s.output).unwrap_or_default();
        let report = Report::parse(&printed.tail);
        let rel = s
            .output
            .strip_prefix(self.repo.root())
            .unwrap_or(&s.output)
            .display()
            .to_string();
        let mut fields: Vec<(&str, String)> =
            vec![("output", rel.clone()), ("duration", took.clone())];
        fields.extend(report.fields());
        let tokens = report.tokens.as_ref().map_or_else(
            || usage::estimate_tokens(s.prompt_chars + printed.size as usize),
            |t| t.total(),
        );
        let who = self.claimant(&s.claim)?;
        let id = s.claim.id.clone();
        let agent = self.agent;
        let code = match &status {
            Ok(st) => st.code().map_or_else(
                || "killed by a signal".to_string(),
                |c| format!("exit code {c}"),
            ),
            Err(e) => format!("waiting for it failed: {e}"),
        };
        let ok = status.as_ref().is_ok_and(|st| st.success()) && !report.is_error;
        let stop = s.stopping.map(|(_, why)| why);
        let now = now()?;
        let text = if report.text.is_empty() {
            "(the agent printed nothing)".to_string()
        } else {
            // A task file must stay one brain can read back: a long result keeps its end.
            brain_core::report::keep_end(&report.text, RESULT_BYTES, &rel)
        };
        let committed = self.committed_output(&s, &printed, &code, &rel)?;
        let log_path = self.log.path.clone();
        let (line, outcome) = locked(self.repo, now, |l| {
            for p in &committed {
                l.touch(p);
            }
            // The log's lines so far go into this transition's commit.
            l.touch(&log_path);
            let mut u = Usage::load(l)?;
            u.record_session(agent, s.started_at, tokens);
            u.save(l, now)?;
            if !still_ours(l, &id, &s.claim)? {
                // Settled under this claim (same epoch: done, fail, release) by the agent
                // itself, not by another agent after a reclaim.
                let settled = match l.locate(&id)?.first() {
                    Some(e) if stop.is_none() && l.read(e)?.task.meta.epoch == s.claim.epoch => {
                        Some(e.state)
                    }
                    _ => None,
                };
                return Ok(if let Some(state) = settled {
                    let verb = if state == State::Completed {
                        "finished"
                    } else {
                        "settled"
                    };
                    (
                        format!(
                            "{id} was {verb} by the agent itself, now in tasks/{state}/ ({code}, {took}); output in {rel}"
                        ),
                        Outcome::ByItself(state),
                    )
                } else {
                    (
                        format!(
                            "{id}: the claim was lost meanwhile ({code}, {took}); output in {rel}"
                        ),
                        Outcome::Lost,
                    )
                });
            }
            Ok(match stop {
                Some(Stop::Interrupted) => {
                    if let Err(lost) = l.release(&id, &who, now)? {
                        bail!("releasing {id}: {}", lost.reason());
                    }
                    (
                        format!(
                            "{id} interrupted after {took}: released back to pending; output in {rel}"
                        ),
                        Outcome::Interrupted,
                    )
                }
                Some(Stop::Timeout) => {
                    let limit = output::age(s.timeout as i64);
                    let error = format!(
                        "timed out after {limit}: the agent's process tree was stopped\n\n{}",
                        tail(&report.text)
                    );
                    let m = l.fail_with(&id, &who, &error, true, &fields, now)?;
                    (
                        format!(
                            "{id} timed out after {limit}: {}; output in {rel}",
                            moved(&m)
                        ),
                        Outcome::TimedOut,
                    )
                }
                Some(Stop::Lost) => (
                    format!("{id}: the claim was lost meanwhile ({code}, {took}); output in {rel}"),
                    Outcome::Lost,
                ),
                None if ok => match l.done_with(&id, &who, &text, &fields, now)? {
                    Ok(_) => (
                        format!("{id} finished in {took}; output in {rel}"),
                        Outcome::Done,
                    ),
                    Err(lost) => (
                        format!(
                            "{id}: the claim was lost meanwhile ({}); output in {rel}",
                            lost.reason()
                        ),
                        Outcome::Lost,
                    ),
                },
                None => {
                    let error = format!("the agent ended with {code}\n\n{}", tail(&report.text));
                    let m = l.fail_with(&id, &who, &error, true, &fields, now)?;
                    (
                        format!(
                            "{id} failed in {took} ({code}): {}; output in {rel}",
                            moved(&m)
                        ),
                        Outcome::Failed,
                    )
                }
            })
        })?;
        self.log
            .line(&format!("{} {line}", brain_core::time::format_ts(now)))?;
        let _ = fs::remove_file(
            self.repo
                .local_dir()
                .join("run")
                .join(format!("{}.prompt.md", s.claim.token)),
        );
        match outcome {
            Outcome::Done | Outcome::ByItself(State::Completed) => self.tally.finished += 1,
            Outcome::ByItself(_) => self.tally.failed += 1,
            Outcome::Failed => self.tally.failed += 1,
            Outcome::TimedOut => self.tally.timed_out += 1,
            Outcome::Interrupted => self.tally.interrupted += 1,
            Outcome::Lost => self.tally.lost += 1,
        }
        Ok(())
    }
}

/// The most of an agent's result that goes into its task file (the whole output is in its
/// log): a task file must stay under brain's 1 MiB limit.
const RESULT_BYTES: usize = 64 * 1024;

impl Runner<'_> {
    /// What of the agent's output goes into git, by `[run] commit_output`: the paths to
    /// commit (the summary written now, or the whole log). The whole output stays in its log.
    fn committed_output(
        &self,
        s: &Slot,
        printed: &brain_core::report::Output,
        code: &str,
        rel: &str,
    ) -> anyhow::Result<Vec<PathBuf>> {
        use brain_core::config::CommitOutput;
        let run = &self.repo.config().run;
        // Without git nothing is committed: the whole log is all there is to keep.
        if self.repo.git().is_none() {
            return Ok(Vec::new());
        }
        let dir = s.output.parent().unwrap_or(self.repo.root());
        // The whole logs are not for git unless asked for (a secret an agent printed stays
        // on this machine); this file says so to git, and to a person reading the folder.
        let ignore = dir.join(".gitignore");
        let mut paths = Vec::new();
        if run.commit_output != CommitOutput::Full && !ignore.exists() {
            brain_core::fsutil::write_atomic_nosync(&ignore, RUNS_GITIGNORE.as_bytes())?;
            paths.push(ignore);
        }
        let whole =
            run.commit_output == CommitOutput::Full && printed.size <= run.max_committed_output;
        match run.commit_output {
            CommitOutput::None => {}
            _ if whole => paths.push(s.output.clone()),
            _ => {
                let summary = s.output.with_extension("summary.md");
                let text = printed.summary(
                    &format!("Output of {} for {}", self.agent, s.claim.token),
                    &[
                        ("task", s.claim.id.clone()),
                        ("ended", code.to_string()),
                        (
                            "whole output",
                            format!("{rel} (kept on the machine that ran it, not in git)"),
                        ),
                    ],
                );
                // Derived from the log, and committed right after: no fsync of its own.
                brain_core::fsutil::write_atomic_nosync(&summary, text.as_bytes())?;
                paths.push(summary);
            }
        }
        Ok(paths)
    }
}

/// `logs/runs/.gitignore`, written by `brain run` (see `[run] commit_output`).
const RUNS_GITIGNORE: &str =
    "# Written by brain run: each agent's whole output (*.log) stays on the machine that ran
# it, since it can be large and can hold a secret an agent printed; git gets a summary of
# it (*.summary.md). See commit_output under [run] in brain.toml.
*.log
";

/// Whether the claim `c` of task `id` is still the current one.
fn still_ours(l: &LockedRepo<'_>, id: &str, c: &Claimed) -> anyhow::Result<bool> {
    let Some(entry) = l.active_entry(id)? else {
        return Ok(false);
    };
    let f = l.read(&entry)?;
    Ok(f.task.meta.epoch == c.epoch && entry.agent.as_deref() == Some(c.agent.as_str()))
}

fn moved(m: &Result<brain_core::lifecycle::Moved, brain_core::lifecycle::Refused>) -> String {
    match m {
        Ok(m) if m.state == State::Pending => "back to pending for another attempt".into(),
        Ok(_) => "moved to failed (no attempts left)".into(),
        Err(brain_core::lifecycle::Refused::Lost(l)) => format!("claim lost: {}", l.reason),
        Err(r) => format!("not moved: {}", r.reason()),
    }
}

/// The end of an agent's output, for a failure note (the whole of it is in the output file).
fn tail(text: &str) -> String {
    const KEEP: usize = 2000;
    let t = text.trim();
    if t.chars().count() <= KEEP {
        return t.to_string();
    }
    let start = t.char_indices().rev().nth(KEEP - 1).map_or(0, |(i, _)| i);
    format!("…{}", &t[start..])
}
