//! `brain review`.

use brain_core::run::review;
use brain_core::usage::{self, report};
use jiff::tz::TimeZone;

use super::{Context, now};
use crate::output;

/// Print the morning review: what finished (with the first lines of each result), what failed
/// and why, what waits for you (questions, approvals), the limits hit, the usage, and what is
/// next in the queue.
///
/// Each `brain run` writes the same for its day to logs/YYYY-MM-DD-review.md (Markdown with a
/// link to each task file, for Obsidian or any editor). By default this covers the day of the
/// last run, from its first run on; --since gives another start.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// From this time: 2026-02-01T02:00:00Z, or local 2026-02-01 02:00 or 2026-02-01.
    #[arg(long, value_parser = parse_local_time, value_name = "TIME")]
    since: Option<jiff::Timestamp>,
    /// The agent whose queue "next" shows (default: [run] agent).
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    agent: Option<String>,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
}

fn parse_local_time(s: &str) -> Result<jiff::Timestamp, String> {
    brain_core::task::time::parse_time(s, &TimeZone::system())
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = now()?;
    let since = match args.since {
        Some(s) => s,
        None => last_day_start(&repo).unwrap_or_else(|| {
            now.saturating_sub(jiff::SignedDuration::from_hours(24))
                .unwrap_or(now)
        }),
    };
    let tz = TimeZone::system();
    let roots = super::usage::transcript_roots(&[]);
    let totals = if roots.is_empty() {
        None
    } else {
        report::import_transcripts(&repo, &roots, &tz).ok()
    };
    let usage = report::report(
        &repo,
        &usage::machine_name(),
        totals.as_ref().map(|t| (roots.as_slice(), t)),
        &tz,
        now,
    )?;
    let r = review::review(&repo, since, now, args.agent.as_deref(), Some(usage))?;
    if args.json {
        return output::json(&r);
    }
    output::line(output::clean(r.render().trim_end()))
}

/// When the first run of the latest day with a run log started.
fn last_day_start(repo: &brain_core::Repo) -> Option<jiff::Timestamp> {
    let mut logs: Vec<_> = std::fs::read_dir(repo.root().join("logs"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-overnight.log"))
        })
        .collect();
    logs.sort();
    review::first_run_of_day(logs.last()?)
}
