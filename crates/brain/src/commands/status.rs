//! `brain status`.

use std::io::Write;

use super::Context;
use crate::output;

/// Summarize the queue: tasks per state, active claims with agent and age, stale claims, open
/// questions.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the status as a JSON object.
    #[arg(long)]
    json: bool,
    /// Do not ask the remote; count ahead/behind from the last fetch.
    #[arg(long)]
    offline: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let (status, problems) = brain_core::status::status(&repo, super::now()?, !args.offline)?;
    for p in &problems {
        output::warn(format_args!("skipped {p}"));
    }
    if args.json {
        return output::json(&status);
    }
    let c = &status.counts;
    let mut out = output::stdout();
    writeln!(out, "pending    {}", c.pending)?;
    writeln!(out, "active     {}", c.active)?;
    writeln!(out, "completed  {}", c.completed)?;
    writeln!(out, "failed     {}", c.failed)?;
    if !status.claims.is_empty() {
        writeln!(out, "\nactive claims:")?;
        let mut table = output::Table::new();
        for cl in &status.claims {
            let age = cl
                .age_secs
                .map(|s| format!("claimed {} ago", output::age(s)))
                .unwrap_or_else(|| "claim time unknown".into());
            let hb = cl
                .idle_secs
                .map(|s| format!("last heartbeat {} ago", output::age(s)))
                .unwrap_or_else(|| "no heartbeat".into());
            table.row([
                &format!("  {}", cl.id),
                cl.agent.as_deref().unwrap_or("?"),
                &age,
                &hb,
                if cl.stale { "STALE" } else { "" },
                &output::clean(&cl.title),
            ]);
        }
        table.write(&mut out)?;
    }
    if status.stale > 0 {
        writeln!(
            out,
            "\nstale claims: {} (their heartbeat is older than stale_after)",
            status.stale
        )?;
    }
    writeln!(out, "\nopen questions: {}", status.open_questions)?;
    for l in &status.limits {
        writeln!(
            out,
            "usage limit: {} on {} hit its {} limit; no new session before {}",
            l.agent, l.machine, l.kind, l.until
        )?;
    }
    if let Some(r) = &status.remote {
        let when = if r.fetched {
            ""
        } else {
            " (as of the last fetch)"
        };
        writeln!(
            out,
            "remote {}/{}: {} ahead, {} behind{when}",
            r.remote, r.branch, r.ahead, r.behind
        )?;
        if let Some(e) = &r.error {
            writeln!(out, "  the remote could not be reached: {e}")?;
        }
    }
    if !status.warnings.is_empty() {
        writeln!(out, "\nwarnings:")?;
        for w in &status.warnings {
            writeln!(out, "  {}", output::clean(w))?;
        }
    }
    if status.problems > 0 {
        writeln!(
            out,
            "unreadable files: {} (run `brain doctor`)",
            status.problems
        )?;
    }
    out.flush()?;
    Ok(())
}
