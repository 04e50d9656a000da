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
/// then the task file, the task's questions with their answers from prompts/, then AGENT's
/// section of context/handoff.md), starts the agent's `command` from brain.toml, heartbeats
/// while it runs, and finishes the task. Exit 0 is `done` with the agent's result; anything
/// else is `fail` (back to pending while attempts remain), and so is a Claude Code session
/// that was denied tools (`permission_denials`; see accept_denials) or stopped at the task's
/// max_turns or max_budget_usd.
///
/// Two ends are not the task's fault, and spend no attempt: the plan's usage limit (in any
/// of the forms Claude Code prints) sends the task back with a note, starts nothing more and
/// records until when (exit 7; with --wait the run sleeps until the reset and carries on; a
/// later run before the reset starts nothing); an agent that cannot work at all (its program
/// is missing, it is not logged in, it cannot reach its API) sends the task back and stops the
/// run with what to fix (exit 8). At the end the run writes the morning review,
/// logs/YYYY-MM-DD-review.md, and sends what [notify] in brain.toml asks for.
///
/// A task's `timeout` (else [run] timeout) stops the agent's whole process tree, politely and
/// then for good ([run] kill_grace later). Ctrl-C or SIGTERM stops the agents the same way and
/// releases their tasks. The day's log is logs/YYYY-MM-DD-overnight.log; each attempt's output
/// is kept in logs/runs/<id>@<epoch>.log; context/usage/<machine>.md counts sessions and
/// tokens (summed over the machines in context/usage.md).
///
/// The command is an argument list, never run through a shell, with placeholders {prompt},
/// {prompt_file}, {task_file}, {task_id}, {repo}, {max_turns} and {max_budget_usd}. The agent
/// gets BRAIN_REPO, BRAIN_AGENT, BRAIN_TASK and BRAIN_TOKEN, and this brain on PATH, so it can
/// call brain itself; a task it finishes itself is left as it left it.
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
    /// When the plan's usage limit is hit (or still holds), sleep until it resets (plus a
    /// little jitter) and carry on, instead of ending with exit code 7.
    #[arg(long)]
    wait: bool,
    /// Start nothing after this local time (HH:MM, its next occurrence), and wait for a
    /// limit's reset only if it comes before.
    #[arg(long, value_name = "HH:MM", value_parser = parse_clock)]
    until: Option<jiff::civil::Time>,
    /// Print what would run, in order, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

fn parse_clock(s: &str) -> Result<jiff::civil::Time, String> {
    let bad = || format!("`{s}` is not a time of day; write it as HH:MM, like 06:30");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i8, i8) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    jiff::civil::Time::new(h, m, 0, 0).map_err(|_| bad())
}

/// The next time the local clock shows `t`, after `now`.
fn next_local(t: jiff::civil::Time, now: jiff::Timestamp) -> anyhow::Result<jiff::Timestamp> {
    let tz = jiff::tz::TimeZone::system();
    let today = now.to_zoned_datetime(tz.clone()).date();
    for ahead in 0..3 {
        let date = today.checked_add(jiff::Span::new().days(ahead))?;
        let at = jiff::civil::DateTime::from_parts(date, t)
            .to_zoned_datetime(tz.clone())?
            .timestamp();
        if at > now {
            return Ok(at);
        }
    }
    anyhow::bail!("cannot place --until {t} after {now}")
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
    let mut print = |e: &run::Event| say!("brain: {}", output::clean_err(&e.line));
    let name = agent.clone();
    let mut runner = Runner::new(&repo, agent, config, &clock, stop, &mut print)?;
    let until = args.until.map(|t| next_local(t, clock())).transpose()?;
    let outcome = runner.run(&Options {
        max_tasks: args.max_tasks,
        parallel: usize::from(args.parallel),
        wait: args.wait,
        until,
        transcripts: super::usage::transcript_roots(&[]),
    })?;
    let t = &outcome.tally;
    if let Some(b) = &outcome.broken {
        return Err(crate::exit::Exit {
            code: crate::exit::AGENT_BROKEN,
            message: format!(
                "the agent cannot work: {}\nTo fix: {}\n{} task{} went back to pending without spending an attempt; the reason is in the day's log ({})",
                b.message,
                b.fix,
                t.broken,
                if t.broken == 1 { "" } else { "s" },
                brain_core::fsutil::shown_in(repo.root(), &outcome.log)
            ),
        }
        .into());
    }
    if outcome.interrupted {
        return Err(crate::exit::Exit {
            code: crate::exit::ERROR,
            message: "interrupted; the tasks that were running went back to pending".into(),
        }
        .into());
    }
    if let Some(hit) = &outcome.limit {
        let cut = if t.limited > 0 {
            format!(
                "{} task{} went back to pending without spending an attempt",
                t.limited,
                if t.limited == 1 { "" } else { "s" }
            )
        } else if t.started == 0 {
            "nothing was started".to_string()
        } else {
            "nothing more was started".to_string()
        };
        return Err(crate::exit::Exit {
            code: crate::exit::USAGE_LIMIT,
            message: format!(
                "usage limit: {} hit {}; no new session before {} (in {}); {cut}. {}",
                name,
                hit.limit.describe(),
                brain_core::task::time::format_ts(hit.until),
                brain_core::task::time::format_age(
                    hit.until.duration_since(clock()).as_secs().max(0)
                ),
                if args.wait {
                    "It resets after --until."
                } else {
                    "`brain run --wait` sleeps until the reset and carries on."
                }
            ),
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
    let now = now()?;
    let plan = super::said(run::prompt::plan(repo, agent, config, args.max_tasks, now))?;
    let machine = brain_core::usage::machine_name();
    if let Some(hit) =
        brain_core::usage::MachineUsage::load(repo, &machine)?.active_limit(agent, now)
    {
        say!(
            "{agent} hit {} at {}: a run now would start nothing before {} (or wait for it with --wait)",
            hit.limit.describe(),
            brain_core::task::time::format_ts(hit.hit_at),
            brain_core::task::time::format_ts(hit.until)
        );
    }
    for r in &plan.reclaims {
        say!("would reclaim {} to tasks/{}/: {}", r.id, r.to, r.reason);
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
