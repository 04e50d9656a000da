//! `brain heartbeat`.

use super::{ClaimantArgs, Context};
use crate::output;

/// Tell the queue the agent is still working, so its claims do not go stale.
///
/// Renews the claim named by --token or ID, else every claim of --agent. A claim that is no
/// longer the caller's exits 4.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this task.
    id: Option<String>,
    #[command(flatten)]
    who: ClaimantArgs,
    /// Print the renewed ids as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let who = args.who.claimant()?;
    let repo = ctx.repo()?;
    let now = super::now()?;
    match super::transact(&repo, now, |l| l.heartbeat(&who, args.id.as_deref(), now))? {
        Ok(ids) if args.json => output::json(&ids),
        Ok(ids) => {
            if ids.is_empty() {
                say!("No claims to renew.");
            }
            ids.iter().try_for_each(output::line)
        }
        Err(l) => super::lost(l, args.json),
    }
}
