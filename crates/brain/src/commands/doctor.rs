//! `brain doctor`.

use std::io::Write;

use brain_core::doctor::{self, Report};

use super::Context;
use crate::{exit, output};

/// Check every file of the repo; exit 5 when it is unhealthy.
///
/// Finds task files that do not parse, `status` fields that disagree with the folder, an id in
/// two folders, temporary files and transitions left half-done by a killed process, gated tasks
/// without an approval request, bad file names and missing parts of the layout. `--fix`
/// repairs what is safe (completes interrupted transitions, creates missing parts and approval
/// requests, removes temporary files, sets `status` and `id` fields) and lists what it left for
/// you.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Repair what is safe to repair.
    #[arg(long)]
    fix: bool,
    /// Print the findings as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = super::now()?;
    let mut report: Report = super::said(doctor::run(&repo, args.fix, now))?;
    // Claude Code fails a hook whose program is missing silently, at every session.
    for path in super::setup::hook_settings_files(repo.root()) {
        let Ok(settings) = super::setup::read_settings(&path) else {
            continue;
        };
        for (event, h) in crate::claude_settings::ours(&settings) {
            for p in super::setup::hook_problems(&h) {
                report.warn(
                    doctor::Check::Hook,
                    path.clone(),
                    format!("brain's {event} hook for Claude Code is broken: {p}; run `brain setup claude` again"),
                );
            }
        }
    }
    if args.json {
        output::json(&report)?;
    } else {
        let mut out = output::stdout();
        for f in &report.findings {
            let tag = match (f.fixed, f.level) {
                (true, _) => "fixed",
                (false, doctor::Level::Warning) => "warning",
                (false, doctor::Level::Problem) => "problem",
            };
            let line = format!("{tag}: {}: {}", f.path.display(), f.message);
            writeln!(out, "{}", output::clean(&line))?;
        }
        let left = report
            .findings
            .iter()
            .filter(|f| !f.fixed && f.level == doctor::Level::Problem)
            .count();
        let fixed = report.findings.iter().filter(|f| f.fixed).count();
        let warnings = report
            .findings
            .iter()
            .filter(|f| f.level == doctor::Level::Warning)
            .count();
        if report.findings.len() == warnings {
            writeln!(
                out,
                "healthy: {} task files checked, no problems{}.",
                report.tasks_checked,
                match warnings {
                    0 => String::new(),
                    n => format!(" ({n} warning(s))"),
                }
            )?;
        } else if left == 0 {
            writeln!(
                out,
                "healthy: fixed {fixed} problem(s) in {} task files.",
                report.tasks_checked
            )?;
        } else {
            let hint = if args.fix {
                "fix them by hand"
            } else {
                "`brain doctor --fix` repairs what is safe"
            };
            writeln!(
                out,
                "unhealthy: {left} problem(s) left, {fixed} fixed; {hint}."
            )?;
        }
        out.flush()?;
    }
    if report.healthy() {
        Ok(())
    } else {
        Err(exit::quiet(exit::UNHEALTHY))
    }
}
