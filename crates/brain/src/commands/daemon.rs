//! `brain daemon`.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::Context;

/// Run `brain run` on the schedule in brain.toml, for machines without cron, systemd or Task
/// Scheduler (or where you would rather keep it in a terminal).
///
/// Waits for the next time `[run] schedule` (a cron expression in local time, default
/// "0 2 * * *") names, runs `brain run` as a child process, and waits again, until Ctrl-C or
/// SIGTERM, which also stops a run in progress the way `brain run` stops on its own.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent `brain run` runs (default: [run] agent in brain.toml).
    #[arg(long, value_name = "AGENT")]
    agent: Option<String>,
    /// A cron expression to use instead of [run] schedule (minute hour day month weekday).
    #[arg(long, value_name = "CRON")]
    schedule: Option<String>,
    /// Run once at the next scheduled time, then exit.
    #[arg(long)]
    once: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let expr = args
        .schedule
        .clone()
        .unwrap_or_else(|| repo.config().run.schedule.clone());
    let cron = croner::Cron::from_str(&expr).map_err(|e| {
        anyhow::anyhow!(
            "the schedule `{expr}` ([run] schedule in {}, or --schedule) is not a cron expression: {e}; write minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\"",
            repo.root().join("brain.toml").display()
        )
    })?;
    let agent = args
        .agent
        .clone()
        .or(repo.config().default_agent().map(str::to_string));
    if agent.is_none() {
        bail!(
            "which agent should run? give --agent AGENT, or set `agent = \"...\"` under [run] in brain.toml"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let exe = std::env::current_exe().context("finding the brain executable")?;
    loop {
        let now = chrono::Local::now();
        let next = cron
            .find_next_occurrence(&now, false)
            .map_err(|e| anyhow::anyhow!("the schedule `{expr}` has no next time: {e}"))?;
        say!("brain: next run at {}", next.format("%Y-%m-%d %H:%M %Z"));
        while chrono::Local::now() < next {
            if stop.load(Ordering::SeqCst) {
                say!("brain: stopped");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("--repo").arg(repo.root()).arg("run");
        if let Some(a) = &agent {
            cmd.args(["--agent", a]);
        }
        let mark = format!("daemon-{}", std::process::id());
        let (mut child, tree) = brain_core::run::process::spawn(cmd, &mark)
            .with_context(|| format!("starting {} run", exe.display()))?;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for brain run")? {
                break status;
            }
            if stop.load(Ordering::SeqCst) {
                // brain run releases its tasks on SIGTERM; wait for it to do so.
                tree.stop_politely();
                break child.wait().context("waiting for brain run")?;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        if !status.success() {
            say!("brain: the run ended with {status}; the next one is scheduled as usual");
        }
        if args.once || stop.load(Ordering::SeqCst) {
            return Ok(());
        }
    }
}
