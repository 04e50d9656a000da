//! `brain init`.

use std::path::PathBuf;

use super::Context;
use crate::output;

/// Create a brain repo: task folders, brain.toml, context/, prompts/, agents/overnight.md.
///
/// Runs `git init` where the folder is not in a git repository yet and commits exactly the
/// files it created. On an existing brain repo it only adds files that are missing, never
/// overwriting one, and says when there was nothing to do.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The folder to create the repo in (default: --repo, else the current folder).
    dir: Option<PathBuf>,
    /// Also add two example tasks to an empty queue, the example agent (agents/example-agent.sh
    /// and .ps1, set under [run] unless `claude` is installed) and context/priorities.md. The
    /// first task is one any agent can run; the second waits for Claude Code.
    #[arg(long)]
    example: bool,
    /// Print what was done as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let dir = match (args.dir, &ctx.repo) {
        (Some(d), _) => d,
        (None, Some(r)) => r.clone(),
        (None, None) => std::env::current_dir()?,
    };
    let report = brain_core::init::init(&dir, args.example, super::now()?)?;
    if args.json {
        return output::json(&report);
    }
    let root = report.root.display();
    if report.created.is_empty() {
        say!("{root} is already a brain repo; nothing to do.");
        return Ok(());
    }
    if report.git_initialized {
        say!("Initialized a git repository in {root}");
    }
    say!("Created in {root}:");
    for p in &report.created {
        say!("  {}", p.display());
    }
    if !report.example.is_empty() {
        say!("Added the example tasks {}.", report.example.join(" and "));
    }
    match (&report.commit, report.git_missing) {
        (Some(c), _) => say!("Committed as {}.", &c[..c.len().min(10)]),
        (None, true) => say!("git is not installed, so nothing was committed."),
        (None, false) => {}
    }
    if !report.example.is_empty() {
        let agent = match &report.run_agent {
            Some(a) => format!("the agent {a}, set under [run] in brain.toml"),
            None => "the agent set under [run] in brain.toml".into(),
        };
        say!(
            "Next: `brain --repo {root} run` runs the first example task with {agent}. The second \
             needs an agent that can write (Claude Code): it waits in tasks/pending/ until one runs."
        );
    } else {
        say!("Next: `brain add \"a task\"`, then `brain list`.");
    }
    Ok(())
}
