//! `brain show`.

use std::io::Write;

use serde::Serialize;

use super::Context;
use super::list::Item;
use crate::output;

/// Show one task: where it is, its fields and its text, and any result or error that arrived
/// after its claim was lost (kept in tasks/late/).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    /// Print the task as a JSON object (the fields of `list --json` plus `meta` and `body`).
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    item: Item<'a>,
    meta: &'a brain_core::Meta,
    body: &'a str,
    /// Results and errors that arrived after the claim that carried them was lost.
    late: Vec<std::path::PathBuf>,
    /// What the agent printed in each attempt under `brain run`, oldest first.
    outputs: Vec<std::path::PathBuf>,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let entry = repo.find(&args.id)?;
    let file = repo.read(&entry)?;
    let t = &file.task;
    let late = brain_core::lifecycle::late_files(repo.root(), &t.id)?;
    let outputs = brain_core::lifecycle::output_files(repo.root(), &t.id)?;
    if args.json {
        return output::json(&Shown {
            item: Item::from(t),
            meta: &t.meta,
            body: file.doc.body(),
            late,
            outputs,
        });
    }
    let mut out = output::stdout();
    writeln!(out, "{}  {}", t.id, output::clean(&t.title))?;
    writeln!(
        out,
        "state:     {}{}",
        t.state,
        t.agent
            .as_deref()
            .map(|a| format!(" (claimed by {a})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "file:      {}", t.path.display())?;
    for l in &late {
        writeln!(
            out,
            "late:      {} (sent after its claim was lost)",
            l.display()
        )?;
    }
    for o in &outputs {
        let what = if o.to_string_lossy().ends_with(".summary.md") {
            "a summary of an attempt's output, committed"
        } else {
            "what the agent printed, on the machine that ran it"
        };
        writeln!(out, "output:    {} ({what})", o.display())?;
    }
    writeln!(out)?;
    out.write_all(output::clean(file.doc.text()).as_bytes())?;
    out.flush()?;
    Ok(())
}
