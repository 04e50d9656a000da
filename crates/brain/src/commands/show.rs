//! `brain show`.

use std::io::Write;

use serde::Serialize;

use super::Context;
use super::list::Item;
use crate::output;

/// Show one task: where it is, its fields and its text.
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
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let entry = repo.find(&args.id)?;
    let file = repo.read(&entry)?;
    let t = &file.task;
    if args.json {
        return output::json(&Shown {
            item: Item::from(t),
            meta: &t.meta,
            body: file.doc.body(),
        });
    }
    let mut out = output::stdout();
    writeln!(out, "{}  {}", t.id, t.title)?;
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
    writeln!(out)?;
    out.write_all(file.doc.text().as_bytes())?;
    out.flush()?;
    Ok(())
}
