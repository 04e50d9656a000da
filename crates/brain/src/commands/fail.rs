//! `brain fail`.

use std::path::PathBuf;

use super::{ClaimantArgs, Context};
use crate::output;

/// Fail a claimed task: append the error under `## Failure`; with --retry it goes back to
/// pending/ while attempts remain, else to failed/.
///
/// Refused (exit 4) when the claim is not the caller's any more; the error is then kept in
/// tasks/late/.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    #[command(flatten)]
    who: ClaimantArgs,
    /// What went wrong.
    #[arg(
        long,
        required_unless_present = "error_file",
        conflicts_with = "error_file"
    )]
    error: Option<String>,
    /// Read the error from a file, or from standard input with `-`.
    #[arg(long, value_name = "FILE|-")]
    error_file: Option<PathBuf>,
    /// Put it back in pending/ if it has attempts left (max_attempts).
    #[arg(long)]
    retry: bool,
    /// Print where the task went as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let who = args.who.claimant()?;
    let error = super::text_or_file(
        args.error,
        args.error_file.as_deref(),
        "error",
        super::TEXT_LIMIT,
    )?
    .unwrap_or_default();
    let repo = ctx.repo()?;
    let now = super::now()?;
    match super::transact(&repo, now, |l| {
        l.fail(&args.id, &who, &error, args.retry, now)
    })? {
        Ok(m) if args.json => output::json(&m),
        Ok(m) => output::line(m.path.display()),
        Err(r) => super::refused(r, args.json),
    }
}
