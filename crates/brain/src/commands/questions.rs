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
    for q in &qs {
        let state = match q.state {
            QState::Open => "open",
            QState::Answered => "answered",
        };
        let task = q
            .task
            .as_deref()
            .map(|t| format!(" [{t}]"))
            .unwrap_or_default();
        let first = q.text.lines().next().unwrap_or("");
        writeln!(out, "{}  {state:<8}{task}  {}", q.id, output::clean(first))?;
        if let Some(a) = &q.answer {
            writeln!(
                out,
                "    -> {}",
                output::clean(a.lines().next().unwrap_or(""))
            )?;
        }
    }
    if qs.is_empty() {
        eprintln!("No questions.");
    }
    out.flush()?;
    Ok(())
}
