//! `brain approve`.

use super::Context;

/// Approve a gated task (`approval: required`) so agents may claim it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let id = super::transact(&repo, now, |l| {
        brain_core::human::questions::approve(l, &args.id, now)
    })?;
    say!("Approved {id}.");
    Ok(())
}
