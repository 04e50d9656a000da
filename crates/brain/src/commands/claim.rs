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
    /// The agent claiming (its brain.toml capabilities apply).
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
    let now = super::now()?;
    brain_core::names::validate_agent(&args.agent)?;
    // The longest part of a claim, done before taking the lock (see LockedRepo::claim_from).
    // With a remote, the queue is only known once the lock has brought it up to date.
    let mut queue = match args.id {
        None if repo.remote().is_none() => Some(repo.queue(Some(&args.agent), &mut Vec::new())?),
        _ => None,
    };
    let outcome = super::locked(&repo, now, |locked| {
        for id in brain_core::questions::apply_hand_denials(locked, now)? {
            super::note(format!(
                "brain: {id} was denied in prompts/answered.md; moved to tasks/failed/"
            ));
        }
        for r in locked.reclaim(now, false)? {
            // The queue was listed before the reclaim: a task it just freed is not in it.
            if r.to == brain_core::State::Pending {
                queue = None;
            }
            super::note(format!(
                "brain: reclaimed {} to tasks/{}/: {}",
                r.id, r.to, r.reason
            ));
        }
        Ok(locked.claim_from(
            queue.take(),
            &args.agent,
            &args.capabilities,
            args.id.as_deref(),
            now,
        )?)
    })?;
    match outcome {
        Ok(c) => {
            if args.json {
                output::json(&c)
            } else {
                eprintln!(
                    "Claimed {} (attempt {}): {}",
                    c.id,
                    c.attempt,
                    output::clean_err(&c.title)
                );
                output::line(format_args!("{} {} {}", c.id, c.token, c.path.display()))
            }
        }
        Err(why) => {
            let message = match (why, &args.id) {
                (Some(b), Some(id)) => format!("{id} cannot be claimed by {} now: {b}", args.agent),
                (_, Some(id)) => format!("{id} cannot be claimed by {} now", args.agent),
                (_, None) => format!("nothing to claim for {}", args.agent),
            };
            Err(exit::Exit {
                code: exit::NOTHING_TO_CLAIM,
                message,
            }
            .into())
        }
    }
}
