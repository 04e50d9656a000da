//! `brain ask`.

use super::Context;
use crate::output;

/// Ask the human a question: adds an entry to prompts/pending.md and prints its id.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question.
    text: String,
    /// The task it concerns.
    #[arg(long, env = "BRAIN_TASK", value_name = "ID")]
    task: Option<String>,
    /// Who asks.
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    agent: Option<String>,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let id = super::transact(&repo, now, |l| {
        brain_core::human::questions::ask(
            l,
            &args.text,
            args.agent.as_deref(),
            args.task.as_deref(),
            now,
        )
    })?;
    output::line(id)
}
