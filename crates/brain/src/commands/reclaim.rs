//! `brain reclaim`.

use super::Context;
use crate::output;

/// Move stale claims (no heartbeat for `stale_after`) back to pending/, or to failed/ once their
/// attempts are used up, with the reason written in the file. `brain claim` does this first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only say what would be reclaimed: nothing is written, moved or committed.
    #[arg(long)]
    dry_run: bool,
    /// Print the reclaimed tasks as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let done = super::said(brain_core::ops::reclaim(&repo, now, args.dry_run))?;
    if args.json {
        return output::json(&done);
    }
    if done.is_empty() {
        say!("No stale claims.");
    }
    let verb = if args.dry_run { "would move" } else { "moved" };
    for r in &done {
        output::line(format_args!(
            "{}: {verb} to tasks/{}/: {}",
            r.id, r.to, r.reason
        ))?;
    }
    Ok(())
}
