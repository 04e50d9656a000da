//! One file per command; this file dispatches.

use std::path::PathBuf;

use anyhow::Context as _;
use brain_core::Repo;
use jiff::Timestamp;

mod add;
mod doctor;
mod init;
mod list;
mod show;
mod status;

/// What every command may need.
pub struct Context {
    /// `--repo` / `BRAIN_REPO`.
    pub repo: Option<PathBuf>,
}

impl Context {
    /// Finds the brain repo from `--repo` or the current folder, walking up like git.
    pub fn repo(&self) -> anyhow::Result<Repo> {
        let start = match &self.repo {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("the current folder cannot be read")?,
        };
        Ok(Repo::discover(&start)?)
    }
}

/// The time now. `BRAIN_NOW` (RFC 3339) pins it, for tests and reproducible examples.
pub fn now() -> anyhow::Result<Timestamp> {
    match std::env::var("BRAIN_NOW") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("BRAIN_NOW=`{v}` is not an RFC 3339 time")),
        _ => Ok(Timestamp::now()),
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Init(init::Args),
    Add(add::Args),
    List(list::Args),
    Show(show::Args),
    Status(status::Args),
    Doctor(doctor::Args),
}

/// Runs one command.
pub fn run(command: Command, ctx: &Context) -> anyhow::Result<()> {
    match command {
        Command::Init(a) => init::run(a, ctx),
        Command::Add(a) => add::run(a, ctx),
        Command::List(a) => list::run(a, ctx),
        Command::Show(a) => show::run(a, ctx),
        Command::Status(a) => status::run(a, ctx),
        Command::Doctor(a) => doctor::run(a, ctx),
    }
}
