//! `brain add`.

use std::path::PathBuf;

use brain_core::Priority;
use brain_core::task::newtask::NewTask;
use brain_core::task::time::{parse_duration, parse_time};
use jiff::tz::TimeZone;

use super::Context;
use crate::output;

/// Add a task to tasks/pending/ and print its id.
///
/// The file is written in the seed's shape (frontmatter, then `# Task: TITLE` and the body) and
/// appears atomically; ids (`task-YYYY-MM-DD-NNN`) never collide, even when many processes add
/// at once.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task's title, one line.
    title: String,
    /// critical, high, medium or low.
    #[arg(long, short, default_value = "medium", value_parser = parse_priority)]
    priority: Priority,
    /// Capabilities an agent needs to claim it, comma-separated (e.g. code_execution,file_access).
    #[arg(long, value_delimiter = ',', value_name = "CAP,...")]
    requires: Vec<String>,
    /// The agent that should get it first (`preferred_interface`).
    #[arg(long, value_name = "AGENT")]
    prefer: Option<String>,
    /// How long an agent may work on it: 90s, 60m, 2h, 1h30m.
    #[arg(long, value_parser = parse_timeout, value_name = "DURATION")]
    timeout: Option<u64>,
    /// A task that must be completed first (repeat for several).
    #[arg(long = "depends-on", value_name = "ID")]
    depends_on: Vec<String>,
    /// A person must approve it (`brain approve`) before any agent may claim it.
    #[arg(long)]
    approval: bool,
    /// Never run it from a scheduled, unattended run.
    #[arg(long)]
    no_unattended: bool,
    /// Not before this time: 2026-02-01T09:00:00Z, or local 2026-02-01 09:00 or 2026-02-01.
    #[arg(long, value_parser = parse_local_time, value_name = "TIME")]
    not_before: Option<jiff::Timestamp>,
    /// The most turns the agent may take on it (Claude Code's --max-turns, through the
    /// {max_turns} placeholder of the agent's command).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_turns: Option<u32>,
    /// The most the agent may spend on it, in US dollars (Claude Code's --max-budget-usd,
    /// through the {max_budget_usd} placeholder).
    #[arg(long, value_name = "USD", value_parser = parse_budget)]
    max_budget_usd: Option<String>,
    /// The task's body (Markdown), after the title.
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    /// Read the body from a file, or from standard input with `-`.
    #[arg(long, value_name = "FILE|-")]
    body_file: Option<PathBuf>,
    /// Print {"id": …, "path": …} as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s)
        .ok_or_else(|| format!("`{s}` is not a priority; use critical, high, medium or low"))
}

fn parse_timeout(s: &str) -> Result<u64, String> {
    parse_duration(s)
}

fn parse_budget(s: &str) -> Result<String, String> {
    brain_core::task::parse::parse_budget(s)
}

fn parse_local_time(s: &str) -> Result<jiff::Timestamp, String> {
    parse_time(s, &TimeZone::system())
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let body = super::text_or_file(
        args.body.clone(),
        args.body_file.as_deref(),
        "body",
        super::TEXT_LIMIT,
    )?
    .unwrap_or_default();
    let task = NewTask {
        title: args.title,
        priority: args.priority,
        requires: args
            .requires
            .into_iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect(),
        preferred_interface: args.prefer,
        timeout: args.timeout,
        depends_on: args.depends_on,
        approval: args.approval,
        unattended: !args.no_unattended,
        not_before: args.not_before,
        max_turns: args.max_turns,
        max_budget_usd: args.max_budget_usd,
        body,
    };
    task.validate()?;
    let repo = ctx.repo()?;
    let now = super::now()?;
    let added = super::said(brain_core::ops::add(&repo, &task, now))?;
    if let Some(q) = &added.approval_asked {
        say!(
            "Asked for approval in prompts/pending.md ({q}); run `brain approve {}` to open the gate.",
            added.id
        );
    }
    if args.json {
        output::json(&added)
    } else {
        output::line(&added.id)
    }
}
