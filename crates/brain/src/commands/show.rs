//! `brain show`.

use std::io::Write;

use super::Context;
use crate::output;

/// Show one task: where it is, whether a pending task can be claimed now and why not, its
/// fields and its text, and any result or error that arrived after its claim was lost (kept in
/// tasks/late/).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    /// Print the task as a JSON object (the fields of `list --json` plus `meta` and `body`).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let detail = brain_core::status::detail(&repo, &args.id, super::now()?)?;
    if args.json {
        return output::json(&brain_core::status::DetailView::from(&detail));
    }
    let (file, late, outputs) = (&detail.file, &detail.late, &detail.outputs);
    let t = &file.task;
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
    if let Some(r) = &detail.readiness {
        if r.ready {
            writeln!(out, "ready:     yes, an agent may claim it now")?;
        } else {
            for (i, why) in r.why.iter().enumerate() {
                let label = if i == 0 { "waits:" } else { "" };
                writeln!(out, "{label:<10} {}", why.0)?;
            }
        }
        if r.attended {
            writeln!(
                out,
                "{:<10} marked `unattended: false`: a scheduled run passes it over",
                ""
            )?;
        }
        writeln!(
            out,
            "attempts:  {} used, {} left",
            t.meta.attempt, r.attempts_left
        )?;
    }
    writeln!(out, "file:      {}", t.path.display())?;
    for l in late {
        writeln!(
            out,
            "late:      {} (sent after its claim was lost)",
            l.display()
        )?;
    }
    for o in outputs {
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
