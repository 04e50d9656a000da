//! One file per command; this file dispatches.

use std::path::PathBuf;

use anyhow::Context as _;
use brain_core::Repo;
use jiff::Timestamp;

mod add;
mod answer;
mod approve;
mod ask;
mod board;
mod claim;
mod daemon;
mod deny;
mod doctor;
mod done;
mod fail;
mod handoff;
mod heartbeat;
mod hook;
mod init;
mod list;
mod mcp;
mod questions;
mod reclaim;
mod release;
mod review;
mod run;
mod schedule;
pub mod setup;
mod shell;
mod show;
mod status;
mod sync;
mod usage;

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
    brain_core::task::time::now_or_pinned().map_err(anyhow::Error::msg)
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    Init(init::Args),
    Add(add::Args),
    List(list::Args),
    Show(show::Args),
    Status(status::Args),
    Sync(sync::Args),

    Claim(claim::Args),
    Heartbeat(heartbeat::Args),
    Done(done::Args),
    Fail(fail::Args),
    Release(release::Args),
    Reclaim(reclaim::Args),
    Run(run::Args),
    Daemon(daemon::Args),
    Schedule(schedule::Args),
    Ask(ask::Args),
    Answer(answer::Args),
    Questions(questions::Args),
    Approve(approve::Args),
    Deny(deny::Args),
    Handoff(handoff::Args),
    Usage(usage::Args),
    Review(review::Args),
    Doctor(doctor::Args),
    Mcp(mcp::Args),
    Board(board::Args),
    Setup(setup::Args),
    Hook(hook::Args),
    Completions(shell::CompletionsArgs),
    Man(shell::ManArgs),
}

/// Runs one command.
pub fn run(command: Command, ctx: &Context) -> anyhow::Result<()> {
    match command {
        Command::Init(a) => init::run(a, ctx),
        Command::Add(a) => add::run(a, ctx),
        Command::List(a) => list::run(a, ctx),
        Command::Show(a) => show::run(a, ctx),
        Command::Status(a) => status::run(a, ctx),
        Command::Sync(a) => sync::run(a, ctx),

        Command::Claim(a) => claim::run(a, ctx),
        Command::Heartbeat(a) => heartbeat::run(a, ctx),
        Command::Done(a) => done::run(a, ctx),
        Command::Fail(a) => fail::run(a, ctx),
        Command::Release(a) => release::run(a, ctx),
        Command::Reclaim(a) => reclaim::run(a, ctx),
        Command::Run(a) => run::run(a, ctx),
        Command::Daemon(a) => daemon::run(a, ctx),
        Command::Schedule(a) => schedule::run(a, ctx),
        Command::Ask(a) => ask::run(a, ctx),
        Command::Answer(a) => answer::run(a, ctx),
        Command::Questions(a) => questions::run(a, ctx),
        Command::Approve(a) => approve::run(a, ctx),
        Command::Deny(a) => deny::run(a, ctx),
        Command::Handoff(a) => handoff::run(a, ctx),
        Command::Usage(a) => usage::run(a, ctx),
        Command::Review(a) => review::run(a, ctx),
        Command::Doctor(a) => doctor::run(a, ctx),
        Command::Mcp(a) => mcp::run(a, ctx),
        Command::Board(a) => board::run(a, ctx),
        Command::Setup(a) => setup::run(a, ctx),
        Command::Hook(a) => hook::run(a, ctx),
        Command::Completions(a) => shell::completions(a),
        Command::Man(a) => shell::man(a),
    }
}

/// Runs `f` as one transaction (see `brain_core::queue::txn`) and says what it said, on
/// stderr, once it is through.
pub fn transact<T>(
    repo: &Repo,
    now: Timestamp,
    f: impl FnMut(&brain_core::LockedRepo<'_>) -> brain_core::Result<T>,
) -> anyhow::Result<T> {
    said(repo.transact(now, f))
}

/// The result of a transaction, after saying its notes on stderr.
pub fn said<T>(t: brain_core::queue::Transaction<T>) -> anyhow::Result<T> {
    Ok(brain_core::ops::said(t, |n| {
        say!("brain: {}", crate::output::clean_err(n))
    })?)
}

/// Text from a flag, a file, or standard input (`-`), refused (before anything changes) when
/// it is larger than `limit` bytes: a task file must stay one brain can read back. A file or
/// a stream that never ends (`/dev/zero`) is read only up to the limit.
pub fn text_or_file(
    text: Option<String>,
    file: Option<&std::path::Path>,
    what: &str,
    limit: usize,
) -> anyhow::Result<Option<String>> {
    use std::io::Read;
    let too_large = |size: String| {
        anyhow::anyhow!(
            "the {what} is {size}, more than a task file can hold ({}); nothing was changed. Put large output in a file of its own and name it in the {what}",
            brain_core::fsutil::format_size(limit as u64)
        )
    };
    let read = |r: &mut dyn Read, from: &str| -> anyhow::Result<String> {
        let mut buf = Vec::new();
        r.take(limit as u64 + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("reading the {what} from {from}"))?;
        if buf.len() > limit {
            return Err(too_large(format!(
                "over {}",
                brain_core::fsutil::format_size(limit as u64)
            )));
        }
        String::from_utf8(buf)
            .map_err(|_| anyhow::anyhow!("the {what} in {from} is not UTF-8 text"))
    };
    let text = match (text, file) {
        (Some(t), _) => t,
        (None, Some(p)) if p.as_os_str() == "-" => read(&mut std::io::stdin(), "standard input")?,
        (None, Some(p)) => {
            let mut f = std::fs::File::open(p)
                .with_context(|| format!("reading the {what} from {}", p.display()))?;
            if let Ok(md) = f.metadata()
                && md.is_file()
                && md.len() > limit as u64
            {
                return Err(too_large(format!(
                    "{} ({} bytes, in {})",
                    brain_core::fsutil::format_size(md.len()),
                    md.len(),
                    p.display()
                )));
            }
            read(&mut f, &p.display().to_string())?
        }
        (None, None) => return Ok(None),
    };
    if text.len() > limit {
        return Err(too_large(format!(
            "{} ({} bytes)",
            brain_core::fsutil::format_size(text.len() as u64),
            text.len()
        )));
    }
    Ok(Some(text))
}

/// The most a text given to a command (a body, a result, an error) may be: what fits in a
/// task file.
pub const TEXT_LIMIT: usize = brain_core::task::frontmatter::MAX_TASK_BYTES;

/// `--agent` and `--token`, shared by the commands that act on a claim.
#[derive(Debug, clap::Args)]
pub struct ClaimantArgs {
    /// The agent acting; without --token it must be the agent that holds the claim.
    #[arg(long, env = "BRAIN_AGENT", value_name = "AGENT")]
    pub agent: Option<String>,
    /// The claim token (`<id>@<epoch>`) that `brain claim` printed; refused when the claim is
    /// no longer the current one.
    #[arg(long, env = "BRAIN_TOKEN", value_name = "TOKEN")]
    pub token: Option<String>,
}

impl ClaimantArgs {
    pub fn claimant(&self) -> anyhow::Result<brain_core::queue::Claimant> {
        if self.agent.is_none() && self.token.is_none() {
            anyhow::bail!("say who you are: give --agent AGENT (or set BRAIN_AGENT), or --token");
        }
        if let Some(a) = &self.agent {
            brain_core::task::names::validate_agent(a)?;
        }
        Ok(brain_core::queue::Claimant {
            agent: self.agent.clone(),
            token: self
                .token
                .as_deref()
                .map(brain_core::queue::Token::parse)
                .transpose()?,
        })
    }
}

/// Reports a transition on a claim that was refused: a lost claim is exit code 4, a task
/// whose id has a file where it would go an error (exit 1).
pub fn refused(r: brain_core::queue::Refused, json: bool) -> anyhow::Result<()> {
    match r {
        brain_core::queue::Refused::Lost(l) => lost(l, json),
        brain_core::queue::Refused::Conflict(c) => {
            if json {
                crate::output::json(&c)?;
            }
            let kept = c
                .kept
                .as_ref()
                .map(|p| format!("\nWhat you sent is kept in {}.", p.display()))
                .unwrap_or_default();
            Err(crate::exit::Exit {
                code: crate::exit::ERROR,
                message: format!("{}{kept}", c.reason),
            }
            .into())
        }
    }
}

/// Reports a lost claim and turns it into exit code 4.
pub fn lost(l: brain_core::queue::Lost, json: bool) -> anyhow::Result<()> {
    if json {
        crate::output::json(&l)?;
    }
    let kept = l
        .kept
        .as_ref()
        .map(|p| format!("; what you sent is kept in {}", p.display()))
        .unwrap_or_default();
    Err(crate::exit::Exit {
        code: crate::exit::CLAIM_LOST,
        message: format!("claim lost: {}{kept}", l.reason),
    }
    .into())
}
