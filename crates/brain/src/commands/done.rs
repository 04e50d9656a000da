//! `brain done`.

use std::path::PathBuf;

use super::{ClaimantArgs, Context};
use crate::output;

/// Finish a claimed task: append the result under `## Result` and move it to completed/.
///
/// Refused (exit 4) when the claim is not the caller's any more; the result is then kept in
/// tasks/late/, and `brain show ID` points to it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The task id.
    id: String,
    #[command(flatten)]
    who: ClaimantArgs,
    /// The result (Markdown).
    #[arg(
        long,
        required_unless_present = "result_file",
        conflicts_with = "result_file"
    )]
    result: Option<String>,
    /// Read the result from a file, or from standard input with `-`.
    #[arg(long, value_name = "FILE|-")]
    result_file: Option<PathBuf>,
    /// Print where the task went as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let who = args.who.claimant()?;
    let result = super::text_or_file(
        args.result,
        args.result_file.as_deref(),
        "result",
        super::TEXT_LIMIT,
    )?
    .unwrap_or_default();
    let repo = ctx.repo()?;
    let now = super::now()?;
    match super::said(brain_core::ops::done(&repo, &args.id, &who, &result, now))? {
        Ok(m) if args.json => output::json(&m),
        Ok(m) => output::line(m.path.display()),
        Err(r) => super::refused(r, args.json),
    }
}
