//! `brain deny`.

use super::Context;
use crate::output;

/// Deny a gated task: it goes to failed/ with the reason.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    /// Why.
    #[arg(long)]
    reason: String,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let path = super::transact(&repo, now, |l| {
        brain_core::human::questions::deny(l, &args.id, &args.reason, now)
    })?;
    output::line(path.display())
}
