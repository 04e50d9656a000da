//! `brain run`: the scheduled run (SPEC §6). The run itself is `brain_core::run::Runner`; this
//! file parses the arguments, prints what the run reports, and maps its end to an exit code.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use brain_core::run::{self, Options, Runner};

use super::{Context, now};
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

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let (agent, config) = run::agent_for(&repo, args.agent.as_deref())?;
    if args.dry_run {
        // The prompt file is read as the run would, so that a missing one is said now.
        run::prompt::read_prompt(&repo, &config)?;
        return dry_run(&repo, &agent, &config, &args);
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Ctrl-C, and SIGTERM from a scheduler: stop starting, stop the agents, release.
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    // BRAIN_NOW pins the clock of the whole run (for tests and reproducible examples).
    now()?;
    let clock = || now().unwrap_or_else(|_| jiff::Timestamp::now());
    let mut print = |e: &run::Event| eprintln!("brain: {}", output::clean_err(&e.line));
    let mut runner = Runner::new(&repo, agent, config, &clock, stop, &mut print)?;
    let outcome = runner.run(&Options {
        max_tasks: args.max_tasks,
        parallel: usize::from(args.parallel),
    })?;
    if outcome.interrupted {
        return Err(crate::exit::Exit {
            code: crate::exit::ERROR,
            message: "interrupted; the tasks that were running went back to pending".into(),
        }
        .into());
    }
    Ok(())
}

fn dry_run(
    repo: &brain_core::Repo,
    agent: &str,
    config: &brain_core::config::AgentConfig,
    args: &Args,
) -> anyhow::Result<()> {
    let plan = super::said(run::prompt::plan(
        repo,
        agent,
        config,
        args.max_tasks,
        now()?,
    ))?;
    for r in &plan.reclaims {
        eprintln!("would reclaim {} to tasks/{}/: {}", r.id, r.to, r.reason);
    }
    let mut out = output::stdout();
    for (n, (t, argv)) in plan.tasks.iter().enumerate() {
        writeln!(out, "{}. {}  {}", n + 1, t.id, output::clean(&t.title))?;
        writeln!(out, "   {}", shell_words(argv))?;
    }
    if plan.tasks.is_empty() {
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
