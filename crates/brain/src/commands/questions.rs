//! `brain questions`.

use std::io::Write;

use brain_core::store::prompts::QState;

use super::Context;
use crate::output;

/// List the questions and approval requests in prompts/, open ones first.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only the open ones.
    #[arg(long)]
    open: bool,
    /// Print a JSON array: id, text, kind, from, asked, task, state, answer.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let mut qs = brain_core::store::prompts::read_all(&repo)?;
    if args.open {
        qs.retain(|q| q.state == QState::Open);
    }
    if args.json {
        return output::json(&qs);
    }
    let mut out = output::stdout();
    let mut table = output::Table::new();
    for q in &qs {
        let state = match q.state {
            QState::Open => "open",
            QState::Answered => "answered",
        };
        let first = q.text.lines().next().unwrap_or("");
        table.row([
            q.id.as_str(),
            state,
            q.task.as_deref().unwrap_or("-"),
            &output::clean(first),
        ]);
        if let Some(a) = &q.answer {
            table.note(format!(
                "    -> {}",
                output::clean(a.lines().next().unwrap_or(""))
            ));
        }
    }
    table.write(&mut out)?;
    if qs.is_empty() {
        say!("No questions.");
    }
    out.flush()?;
    Ok(())
}
