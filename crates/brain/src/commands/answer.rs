//! `brain answer`.

use super::Context;

/// Answer a question: its entry moves from prompts/pending.md to prompts/answered.md with the
/// answer under it. (Moving the entry by hand and writing the answer does the same.)
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The question id (q-YYYY-MM-DD-NNN).
    id: String,
    /// The answer.
    text: String,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let q = super::transact(&repo, now, |l| {
        brain_core::human::questions::answer(l, &args.id, &args.text, now)
    })?;
    say!("Answered {}.", q.id);
    Ok(())
}
