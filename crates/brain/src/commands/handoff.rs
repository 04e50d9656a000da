//! `brain handoff`.

use std::io::Write;

use brain_core::human::handoff::{self, NewHandoff};

use super::Context;
use crate::output;

/// Leave a handoff note for another agent in context/handoff.md, or read them.
///
/// Writes the recipient's section in the seed's shape (`## For Claude Code` with Task, Files
/// Modified, Notes and Blocking Issues), replacing its previous section; other sections stay as
/// they are, and git keeps the replaced text.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    show: Option<Show>,
    /// The recipient agent (e.g. claude-code).
    #[arg(long, value_name = "AGENT", required = true)]
    to: Option<String>,
    /// Who is handing off.
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    agent: Option<String>,
    /// The task the handoff is about.
    #[arg(long, value_name = "ID")]
    task: Option<String>,
    /// A file created or changed (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<String>,
    /// A note (repeatable).
    #[arg(long = "note", value_name = "TEXT")]
    notes: Vec<String>,
    /// Something that blocks the recipient (repeatable).
    #[arg(long = "blocking", value_name = "TEXT")]
    blocking: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
enum Show {
    /// Read the handoffs (hand-written sections included).
    Show {
        /// Only the section for this agent.
        #[arg(long = "for", value_name = "AGENT")]
        for_agent: Option<String>,
        /// Print a JSON array of sections.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    if let Some(Show::Show { for_agent, json }) = args.show {
        let mut all = handoff::read_all(repo.root())?;
        if let Some(a) = &for_agent {
            all.retain(|h| h.agent == handoff::agent_of(a));
        }
        if json {
            return output::json(&all);
        }
        let mut out = output::stdout();
        for h in &all {
            out.write_all(output::clean(&handoff::render(h)).as_bytes())?;
            writeln!(out)?;
        }
        if all.is_empty() {
            say!(
                "No handoffs{}.",
                for_agent.map(|a| format!(" for {a}")).unwrap_or_default()
            );
        }
        out.flush()?;
        return Ok(());
    }
    let now = super::now()?;
    let new = NewHandoff {
        to: args.to.unwrap_or_default(),
        from: args.agent,
        task: args.task,
        files: args.files,
        notes: args.notes,
        blocking: args.blocking,
    };
    let h = super::transact(&repo, now, |l| handoff::write(l, &new, now))?;
    say!(
        "Wrote the handoff for {} in {}.",
        h.recipient,
        handoff::HANDOFF
    );
    Ok(())
}
