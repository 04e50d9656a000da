//! `brain`: a git repository as a work queue that AI agents and their human share through plain
//! files. This binary is a thin shell around `brain-core`: it parses arguments, prints, and maps
//! errors to exit codes (see `exit.rs`).

/// `eprintln!` that never panics: a message that cannot be written (a full disk behind
/// `2>file`, a closed standard error) is lost, and the exit code still says what happened.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

mod claude_settings;
mod commands;
mod exit;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

#[cfg(unix)]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A work queue of Markdown task files in a git repo, shared by AI agents and their human.
///
/// Tasks are Markdown files with YAML frontmatter under tasks/pending, active, completed and
/// failed. Agents claim them, finish or fail them; a person reads and edits the same files.
/// Run `brain init` to start, then `brain add "…"` and `brain list`.
#[derive(Debug, Parser)]
#[command(name = "brain", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// The brain repo (or any folder inside it). Default: found from the current folder upward,
    /// like git.
    #[arg(long, global = true, env = "BRAIN_REPO", value_name = "DIR")]
    repo: Option<PathBuf>,

    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ctx = commands::Context { repo: cli.repo };
    exit::finish(commands::run(cli.command, &ctx))
}
