//! `brain mcp`: the queue as a small MCP server over stdio, for Claude Desktop (which has no
//! shell) and any other MCP client. Built on the official Rust SDK (`rmcp`); the async runtime
//! lives here, never in brain-core. Every tool is one call of brain-core's library, so a write
//! is one transaction (one commit, the remote's arbitration, the same checks and messages as
//! the CLI); a bad argument or a refused change is a tool error the model can read.
//!
//! stdout carries nothing but the protocol (messages go to stderr); git, the only child
//! process, runs with stdin closed (and a time limit when it talks to a remote); the server
//! ends when its stdin closes.

use std::path::PathBuf;

use brain_core::queue::{Claimant, Update};
use brain_core::task::newtask::NewTaskInput;
use brain_core::{Repo, State};
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::*;
use rmcp::service::RequestContext;
use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt, prompt, prompt_handler,
    prompt_router, tool, tool_handler, tool_router,
};
use serde_json::{Value, json};

mod args;
pub use args::*;

/// Which tools the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A person's assistant: look, add, edit, answer.
    Person,
    /// Also what an agent that speaks only MCP needs: claim, heartbeat, finish, handoff.
    Agent,
}

/// The tools only the agent profile has.
const AGENT_TOOLS: &[&str] = &["claim", "heartbeat", "finish", "handoff"];

/// How many tasks `list_tasks` returns in full before it answers with the total only.
const LIST_LIMIT: usize = 50;

/// Runs the server on stdin and stdout until stdin closes.
pub fn serve(repo: Option<PathBuf>, profile: Profile) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = Brain::new(repo, profile);
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("starting the MCP server: {e}"))?;
        running.waiting().await?;
        Ok(())
    })
}

#[derive(Clone)]
pub struct Brain {
    repo: Option<PathBuf>,
    tool_router: ToolRouter<Brain>,
    prompt_router: PromptRouter<Brain>,
}

const INSTRUCTIONS: &str = "brain is a work queue in a git repository, shared by AI agents and a person: tasks are Markdown files in tasks/pending, active, completed and failed; agents claim and finish them; the person approves gated tasks and answers questions. Use status for an overview, list_tasks and get_task to read, add_task to give work to the agents (one task per piece of work, with what it requires), update_task to change priority, add a note, requeue a failed task or cancel a pending one, and answer to answer a question or approve or deny a gated task. Every change is one git commit.";

/// A tool's failure, in words the model can act on.
fn refused(e: impl std::fmt::Display) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(e.to_string())])
}

fn ok(v: Value) -> CallToolResult {
    CallToolResult::structured(v)
}

fn now() -> jiff::Timestamp {
    brain_core::task::time::now_or_pinned().unwrap_or_else(|_| jiff::Timestamp::now())
}

/// A transaction's result, with what it said kept for the model.
fn said<T: serde::Serialize>(t: brain_core::queue::Transaction<T>) -> CallToolResult {
    let (result, notes) = t.into_parts();
    match result {
        Ok(v) => {
            let mut v = serde_json::to_value(v).unwrap_or(Value::Null);
            if !notes.is_empty()
                && let Value::Object(m) = &mut v
            {
                m.insert("notes".into(), json!(notes));
            }
            ok(v)
        }
        Err(e) => {
            let mut text = e.to_string();
            for n in notes {
                text.push_str(&format!("\n{n}"));
            }
            refused(text)
        }
    }
}

impl Brain {
    pub fn new(repo: Option<PathBuf>, profile: Profile) -> Brain {
        let mut tool_router = Self::tool_router();
        if profile == Profile::Person {
            for t in AGENT_TOOLS {
                tool_router.remove_route(t);
            }
        }
        Brain {
            repo,
            tool_router,
            prompt_router: Self::prompt_router(),
        }
    }

    fn open(&self) -> Result<Repo, String> {
        let Some(path) = &self.repo else {
            return Err(
                "no brain repo is set for this server: start it as `brain mcp --repo DIR`, or set BRAIN_REPO in the client's configuration".into(),
            );
        };
        Repo::discover(path).map_err(|e| e.to_string())
    }
}

/// Runs `f` on the repo, turning a repo that cannot be opened into a tool error.
fn with_repo(
    b: &Brain,
    f: impl FnOnce(Repo) -> CallToolResult,
) -> Result<CallToolResult, McpError> {
    Ok(match b.open() {
        Ok(r) => f(r),
        Err(e) => refused(e),
    })
}

fn parse_priority(p: &str) -> Result<brain_core::Priority, String> {
    brain_core::Priority::parse(p)
        .ok_or_else(|| format!("priority `{p}` is not one of critical, high, medium, low"))
}

#[tool_router]
impl Brain {
    #[tool(
        description = "The queue at a glance: tasks per state, active claims, open questions, usage limits, warnings.",
        annotations(read_only_hint = true)
    )]
    fn status(&self) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            match brain_core::status::status(&repo, now(), false) {
                Ok((s, _)) => ok(serde_json::to_value(s).unwrap_or(Value::Null)),
                Err(e) => refused(e),
            }
        })
    }

    #[tool(
        description = "Tasks in queue order, each with whether it is ready and why not; past the limit only the total.",
        annotations(read_only_hint = true)
    )]
    fn list_tasks(&self, Parameters(a): Parameters<ListArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let mut states = Vec::new();
            for s in &a.state {
                match State::parse(s) {
                    Some(st) => states.push(st),
                    None => {
                        return refused(format!(
                            "state `{s}` is not one of pending, active, completed, failed"
                        ));
                    }
                }
            }
            if a.ready_only {
                states = vec![State::Pending];
            }
            if states.is_empty() {
                states = State::ALL.to_vec();
            }
            let judge = match brain_core::queue::Judge::new(&repo, now()) {
                Ok(j) => j,
                Err(e) => return refused(e),
            };
            let limit = a.limit.unwrap_or(LIST_LIMIT);
            let keep = |t: &brain_core::Task| {
                a.agent
                    .as_deref()
                    .is_none_or(|ag| t.claimant().as_deref() == Some(ag))
            };
            let mut items: Vec<Value> = Vec::new();
            let mut total = 0usize;
            let mut unreadable = Vec::new();
            let item = |t: &brain_core::Task, items: &mut Vec<Value>| {
                let r = judge.judge(t);
                if a.ready_only && !r.as_ref().is_some_and(|r| r.ready) {
                    return false;
                }
                if items.len() < limit {
                    let mut v = json!({
                        "id": t.id, "state": t.state, "title": t.title,
                        "priority": t.meta.priority.as_str(),
                    });
                    if let Some(agent) = t.claimant() {
                        v["agent"] = json!(agent);
                    }
                    if let Some(r) = r {
                        v["ready"] = json!(r.summary());
                    }
                    items.push(v);
                }
                true
            };
            for state in State::ALL.iter().filter(|s| states.contains(s)) {
                if *state == State::Pending && a.agent.is_none() && !a.ready_only {
                    // In claim order, decoded only as far as shown: the total is the folder's.
                    let mut problems = Vec::new();
                    let mut queue = match repo.queue_at_a_glance(None, &mut problems) {
                        Ok(q) => q,
                        Err(e) => return refused(e),
                    };
                    total += queue.len();
                    let room = limit.saturating_sub(items.len());
                    for t in queue.tasks().take(room) {
                        item(&t, &mut items);
                    }
                    unreadable.extend(problems.iter().map(|p| p.to_string()));
                    continue;
                }
                let listing = match brain_core::status::listing(&repo, &[*state]) {
                    Ok(l) => l,
                    Err(e) => return refused(e),
                };
                unreadable.extend(listing.scan.problems.iter().map(|p| p.to_string()));
                for t in listing.ordered().into_iter().filter(|t| keep(t)) {
                    if item(t, &mut items) {
                        total += 1;
                    }
                }
            }
            ok(json!({
                "total": total,
                "shown": items.len(),
                "tasks": items,
                "unreadable": unreadable,
            }))
        })
    }

    #[tool(
        description = "One task: its fields, whether it waits and why, its text and results.",
        annotations(read_only_hint = true)
    )]
    fn get_task(&self, Parameters(a): Parameters<IdArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            match brain_core::status::detail(&repo, &a.id, now()) {
                Ok(d) => ok(
                    serde_json::to_value(brain_core::status::DetailView::from(&d))
                        .unwrap_or(Value::Null),
                ),
                Err(e) => refused(e),
            }
        })
    }

    #[tool(description = "Add a task to tasks/pending for the agents; returns its id.")]
    fn add_task(&self, Parameters(a): Parameters<AddArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let input = NewTaskInput {
                title: a.title,
                body: a.body,
                priority: a.priority,
                requires: a.requires,
                prefer: a.prefer,
                timeout: a.timeout,
                depends_on: a.depends_on,
                approval: a.approval,
                unattended: a.unattended,
                not_before: a.not_before,
                max_turns: a.max_turns,
                max_budget_usd: a.max_budget_usd,
            };
            let task = match input.into_task(&jiff::tz::TimeZone::system()) {
                Ok(t) => t,
                Err(e) => return refused(e),
            };
            said(brain_core::ops::add(&repo, &task, now()))
        })
    }

    #[tool(
        description = "Change a task: priority, a note, requeue a failed task, or cancel a pending one."
    )]
    fn update_task(
        &self,
        Parameters(a): Parameters<UpdateArgs>,
    ) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let priority = match a.priority.as_deref().map(parse_priority).transpose() {
                Ok(p) => p,
                Err(e) => return refused(e),
            };
            let u = Update {
                priority,
                note: a.note,
                requeue: a.requeue,
                cancel: a.cancel,
                by: "the person (through MCP)".into(),
            };
            said(brain_core::ops::update(&repo, &a.id, &u, now()))
        })
    }

    #[tool(description = "Answer a question (id q-…), or approve or deny a gated task (its id).")]
    fn answer(&self, Parameters(a): Parameters<AnswerArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let t = now();
            match (a.answer, a.approve) {
                (Some(text), None) => said(repo.transact(t, |l| {
                    brain_core::human::questions::answer(l, &a.id, &text, t)
                })),
                (None, Some(true)) => said(repo.transact(t, |l| {
                    brain_core::human::questions::approve(l, &a.id, t)
                        .map(|id| json!({"id": id, "approved": true}))
                })),
                (None, Some(false)) => {
                    let reason = a.reason.clone().unwrap_or_else(|| "denied".into());
                    said(repo.transact(t, |l| {
                        brain_core::human::questions::deny(l, &a.id, &reason, t)
                            .map(|_| json!({"id": a.id, "approved": false}))
                    }))
                }
                _ => {
                    refused("give either `answer` (for a question) or `approve` (for a gated task)")
                }
            }
        })
    }

    #[tool(
        description = "Claim the next task an agent may take (or task `id`); returns its token."
    )]
    fn claim(&self, Parameters(a): Parameters<ClaimArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            if let Err(e) = repo
                .config()
                .check_claimant(&a.agent, !a.capabilities.is_empty())
            {
                return refused(e);
            }
            let (result, notes) =
                brain_core::ops::claim(&repo, &a.agent, &a.capabilities, a.id.as_deref(), now())
                    .into_parts();
            match result {
                Ok(Ok(c)) => ok(json!({"claimed": c, "notes": notes})),
                Ok(Err(why)) => ok(json!({"claimed": null, "why_not": why, "notes": notes})),
                Err(e) => refused(e),
            }
        })
    }

    #[tool(description = "Renew a claim's lease.")]
    fn heartbeat(
        &self,
        Parameters(a): Parameters<HeartbeatArgs>,
    ) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let token = match brain_core::queue::Token::parse(&a.token) {
                Ok(t) => t,
                Err(e) => return refused(e),
            };
            let who = Claimant {
                agent: None,
                token: Some(token.clone()),
            };
            let t = now();
            let (result, _) = repo
                .transact(t, |l| l.heartbeat(&who, Some(&token.id), t))
                .into_parts();
            match result {
                Ok(Ok(ids)) => ok(json!({"renewed": ids})),
                Ok(Err(lost)) => refused(format!("claim lost: {}", lost.reason)),
                Err(e) => refused(e),
            }
        })
    }

    #[tool(
        description = "Finish a claimed task: done with a result, fail with an error, or release it."
    )]
    fn finish(&self, Parameters(a): Parameters<FinishArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let token = match brain_core::queue::Token::parse(&a.token) {
                Ok(t) => t,
                Err(e) => return refused(e),
            };
            let id = token.id.clone();
            let who = Claimant {
                agent: None,
                token: Some(token),
            };
            let t = now();
            let (result, notes) = match a.outcome.as_str() {
                "done" => brain_core::ops::done(&repo, &id, &who, &a.text, t).into_parts(),
                "fail" => repo
                    .transact(t, |l| l.fail(&id, &who, &a.text, a.retry, t))
                    .into_parts(),
                "release" => repo.transact(t, |l| l.release(&id, &who, t)).into_parts(),
                other => return refused(format!("outcome `{other}` is not done, fail or release")),
            };
            match result {
                Ok(Ok(m)) => ok(json!({"moved": m, "notes": notes})),
                Ok(Err(r)) => refused(r.reason()),
                Err(e) => refused(e),
            }
        })
    }

    #[tool(description = "Leave a handoff note for another agent in context/handoff.md.")]
    fn handoff(&self, Parameters(a): Parameters<HandoffArgs>) -> Result<CallToolResult, McpError> {
        with_repo(self, |repo| {
            let new = brain_core::human::handoff::NewHandoff {
                to: a.to,
                from: Some(a.from),
                task: a.task,
                files: Vec::new(),
                notes: a.notes,
                blocking: a.blocking,
            };
            let t = now();
            said(repo.transact(t, |l| brain_core::human::handoff::write(l, &new, t)))
        })
    }
}

#[prompt_router]
impl Brain {
    /// Break a plan into well-formed brain tasks.
    #[prompt(name = "plan_tasks")]
    async fn plan_tasks(
        &self,
        Parameters(a): Parameters<PlanArgs>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<Vec<PromptMessage>, McpError> {
        Ok(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Break this plan into tasks for brain's queue, then add each with add_task.\n\n\
                 A good task is one piece of work one agent can finish in a session: a one-line \
                 title that starts with a verb; a body that says the input, the expected output \
                 (files, where) and the context; `requires` with the capabilities it needs \
                 (code_execution, file_access, writing); a priority (critical, high, medium, low); \
                 and `depends_on` for a task that needs another's result (add that one first and \
                 use its id). Set `approval` for a task a person should look at before it runs, \
                 and `unattended: false` for one that needs a person present.\n\nThe plan:\n{}",
                a.plan
            ),
        )])
    }
}

/// The resources: the handoff notes and the usage summary.
const RESOURCES: &[(&str, &str, &str)] = &[
    (
        "brain://context/handoff.md",
        "context/handoff.md",
        "Handoff notes between agents",
    ),
    (
        "brain://context/usage.md",
        "context/usage.md",
        "Usage and limits, summed over the machines",
    ),
];

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for Brain {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("brain", env!("CARGO_PKG_VERSION")))
        .with_instructions(INSTRUCTIONS)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult {
            resources: RESOURCES
                .iter()
                .map(|(uri, name, description)| {
                    Resource::new(*uri, *name)
                        .with_description(*description)
                        .with_mime_type("text/markdown")
                })
                .collect(),
            ..Default::default()
        })
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let Some((uri, rel, _)) = RESOURCES.iter().find(|(u, _, _)| *u == request.uri) else {
            return Err(McpError::resource_not_found(
                format!("no resource {}", request.uri),
                None,
            ));
        };
        let repo = self
            .open()
            .map_err(|_| McpError::invalid_request("no brain repo is set for this server", None))?;
        let text = brain_core::fsutil::read_text(&repo.root().join(rel), 1 << 20, "")
            .ok()
            .flatten()
            .unwrap_or_default();
        Ok(ReadResourceResult::new(vec![ResourceContents::text(text, *uri)]).into())
    }
}
