//! `brain claim`.

use super::Context;
use crate::{exit, output};

/// Claim the next task for an agent (or the task ID), atomically.
///
/// Picks among pending tasks whose `requires` the agent has (its `capabilities` in brain.toml
/// plus --capabilities), whose dependencies are completed, whose approval gate is open and whose
/// `not_before` has passed: by priority, then `preferred_interface` = this agent, then created
/// time, then id. Stale claims are reclaimed first. Prints `ID TOKEN PATH`; keep the token and
/// pass it to heartbeat, done, fail and release. Exits 3 when nothing is eligible.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Claim this task only.
    id: Option<String>,
    /// The agent claiming: one of brain.toml's agents (its capabilities apply), or any name
    /// with --capabilities (or with ad_hoc_agents = true under [queue]).
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    agent: String,
    /// Extra capabilities for this claim, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "CAP,...")]
    capabilities: Vec<String>,
    /// Print the claim as JSON: id, token, epoch, attempt, agent, path, title.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    // A typo in the name would claim a real task under the wrong name.
    repo.config()
        .check_claimant(&args.agent, !args.capabilities.is_empty())?;
    let now = super::now()?;
    let outcome = super::said(brain_core::ops::claim(
        &repo,
        &args.agent,
        &args.capabilities,
        args.id.as_deref(),
        now,
    ))?;
    match outcome {
        Ok(c) => {
            if args.json {
                output::json(&c)
            } else {
                say!(
                    "Claimed {} (attempt {}): {}",
                    c.id,
                    c.attempt,
                    output::clean_err(&c.title)
                );
                output::line(format_args!("{} {} {}", c.id, c.token, c.path.display()))
            }
        }
        Err(why) => {
            let message = match (why.first(), &args.id) {
                (Some(p), Some(id)) => {
                    format!("{id} cannot be claimed by {} now: {}", args.agent, p.why)
                }
                (None, Some(id)) => format!("{id} cannot be claimed by {} now", args.agent),
                (None, None) => format!("nothing to claim for {}", args.agent),
                (Some(_), None) => {
                    let mut m = format!(
                        "nothing to claim for {}; first in the queue and why not:",
                        args.agent
                    );
                    for p in &why {
                        m.push_str(&format!("\n  {}: {}", p.id, p.why));
                    }
                    m
                }
            };
            Err(exit::Exit {
                code: exit::NOTHING_TO_CLAIM,
                message,
            }
            .into())
        }
    }
}
