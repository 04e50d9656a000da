//! `brain board`.

use super::Context;

/// Serve a live web page of the queue on 127.0.0.1, for the person who owns the agents.
///
/// First what needs you: approvals (Approve, or Deny with a reason) and questions (an answer
/// box). Then the four columns: pending in queue order, with why a task waits; active, with its
/// agent, machine, heartbeat, the time left on its lease and its timeout and the end of its log;
/// completed and failed, newest first, in pages, a failed task with its reason and a Requeue
/// button. A task opens with its fields, its text and its log. Beside them: the last and next
/// run, usage limits and usage today, the remote, the warnings `brain status` gives, the
/// history, and a form with every field of `brain add`. Each action is one commit, made by the same library
/// calls as `brain approve`, `deny`, `answer` and `add`; the board never claims a task.
///
/// The page follows every change (a claim from the CLI, an edit in your editor, a pull)
/// within a second, without reloading. It listens on loopback only, unless --host is given;
/// then the printed address carries an access key. Requests naming another host are refused,
/// and every change needs the page's own session token.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The port (0: any free one; the address is printed).
    #[arg(long, default_value_t = brain_board::DEFAULT_PORT)]
    port: u16,
    /// Listen on this address instead of 127.0.0.1 (e.g. 0.0.0.0 for your phone on the same
    /// network); the printed address then carries an access key, and only it opens the board.
    #[arg(long, value_name = "ADDRESS")]
    host: Option<String>,
    /// Open the page in your default browser.
    #[arg(long)]
    open: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    brain_board::serve(brain_board::Options {
        repo: repo.root().to_path_buf(),
        host: args.host,
        port: args.port,
        open: args.open,
    })
}
