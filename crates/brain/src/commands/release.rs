//! `brain release`.

use super::{ClaimantArgs, Context};
use crate::output;

/// Give a claimed task back to pending/ without failing it (the attempt does not count).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    #[command(flatten)]
    who: ClaimantArgs,
    /// Print where the task went as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let who = args.who.claimant()?;
    let repo = ctx.repo()?;
    let now = super::now()?;
    match super::transact(&repo, now, |l| l.release(&args.id, &who, now))? {
        Ok(m) if args.json => output::json(&m),
        Ok(m) => output::line(m.path.display()),
        Err(r) => super::refused(r, args.json),
    }
}
