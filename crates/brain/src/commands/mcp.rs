//! `brain mcp`.

use super::Context;

/// Serve the queue to an MCP client (Claude Desktop) over stdin and stdout.
///
/// The repo is --repo or BRAIN_REPO (Desktop starts servers in `/`). Tools: status,
/// list_tasks, get_task, add_task, update_task, answer; `--tools agent` adds claim,
/// heartbeat, finish and handoff for agents that speak only MCP. Resources: the handoff notes
/// and the usage summary; a prompt that breaks a plan into tasks. It ends when stdin closes.
/// `brain setup desktop` adds it to Claude Desktop's configuration.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which tools: `person` (the default) or `agent` (also claim, heartbeat, finish,
    /// handoff).
    #[arg(long, value_parser = ["person", "agent"], default_value = "person")]
    tools: String,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let profile = match args.tools.as_str() {
        "agent" => brain_mcp::Profile::Agent,
        _ => brain_mcp::Profile::Person,
    };
    let repo = ctx
        .repo
        .clone()
        .map(|r| std::path::absolute(&r).unwrap_or(r));
    brain_mcp::serve(repo, profile)
}
