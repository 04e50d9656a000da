//! `brain hook EVENT`: Claude Code's hooks (`brain setup claude` installs them).
//!
//! A hook is never in the way: it reads the event's JSON on stdin, always exits 0 and prints
//! one JSON object on stdout and nothing else, also outside a brain repo, with a broken
//! brain.toml or an unreadable task file (it says so in the context instead), and gives up
//! after a fixed time with an answer that says so. It never touches the network.

use std::io::{Read, Write};
use std::sync::Mutex;
use std::time::Duration;

use brain_core::primer::{self, Session};
use serde_json::{Value, json};

use super::Context;

/// Answer one of Claude Code's hook events (stdin: its JSON; stdout: the hook's JSON).
///
/// The brain repo comes from --repo or BRAIN_REPO (Claude Code runs hooks in the code
/// project's folder), else from the current folder. The agent is BRAIN_AGENT, else `[claude]
/// agent` in brain.toml, else `claude-code`. `brain setup claude` installs these hooks.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    event: Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Event {
    /// SessionStart: a primer (what this agent could claim, holds, has waiting) as context;
    /// writes BRAIN_AGENT, BRAIN_REPO and BRAIN_SESSION to CLAUDE_ENV_FILE.
    SessionStart,
    /// Stop: while the session still holds a claim, asks it (once per claim in a session) to
    /// finish it, give it back or hand off.
    Stop,
    /// SessionEnd: nothing (claims are left to their leases); answers at once.
    SessionEnd,
    /// StopFailure (matcher `rate_limit`): records the usage limit as `brain run` does.
    StopFailure,
}

impl Event {
    /// How long the hook may take before it answers that it gave up. SessionEnd hooks share
    /// 1.5 s in Claude Code.
    fn budget(self) -> Duration {
        match self {
            Event::SessionEnd => Duration::from_millis(500),
            _ => Duration::from_secs(3),
        }
    }
}

/// Only one answer is ever printed: the hook's, or the watchdog's when it took too long.
static ANSWERED: Mutex<bool> = Mutex::new(false);

fn answer(value: &Value) {
    let mut done = ANSWERED.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    *done = true;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// The answer that carries `text` as context for the model (events that take context), or an
/// empty object.
fn context(event: Event, text: Option<String>) -> Value {
    match (event, text) {
        (Event::SessionStart, Some(t)) => json!({
            "hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": t}
        }),
        _ => json!({}),
    }
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let event = args.event;
    let budget = event.budget();
    std::thread::spawn(move || {
        std::thread::sleep(budget);
        answer(&context(
            event,
            Some(format!(
                "brain: the queue did not answer within {} s (another brain command may hold it); `brain status` shows it.",
                budget.as_secs_f32()
            )),
        ));
        std::process::exit(0);
    });
    let repo_arg = ctx.repo.clone();
    let outcome = std::panic::catch_unwind(move || respond(event, repo_arg.as_deref()));
    let value = match outcome {
        Ok(v) => v,
        Err(_) => context(
            event,
            Some("brain: the hook failed unexpectedly; `brain status` shows the queue.".into()),
        ),
    };
    answer(&value);
    Ok(())
}

/// At most this much of stdin is read (an event's JSON is a few hundred bytes).
const MAX_INPUT: u64 = 1 << 20;

fn respond(event: Event, repo_arg: Option<&std::path::Path>) -> Value {
    let mut input = String::new();
    let _ = std::io::stdin().take(MAX_INPUT).read_to_string(&mut input);
    let input: Value = serde_json::from_str(&input).unwrap_or(Value::Null);
    let start = match repo_arg {
        Some(r) => r.to_path_buf(),
        None => std::env::current_dir().unwrap_or_default(),
    };
    let repo = match brain_core::Repo::discover(&start) {
        Ok(r) => r,
        Err(brain_core::Error::NotARepo { .. }) if event == Event::SessionStart => {
            return context(
                event,
                Some(
                    "brain: no brain repo is set for this session, so no queue is shown. Set BRAIN_REPO (or run `brain setup claude --repo DIR`) to share a brain repo's tasks with Claude Code."
                        .into(),
                ),
            );
        }
        Err(e) if event == Event::SessionStart => {
            return context(
                event,
                Some(format!(
                    "brain: the brain repo cannot be used now: {e}. `brain doctor` there says more."
                )),
            );
        }
        Err(_) => return json!({}),
    };
    let env_agent = std::env::var("BRAIN_AGENT").ok();
    let agent = primer::session_agent(&repo, env_agent.as_deref());
    let task = std::env::var("BRAIN_TASK").ok().filter(|t| !t.is_empty());
    let machine = brain_core::usage::machine_name();
    let now = match super::now() {
        Ok(n) => n,
        Err(e) => return context(event, Some(format!("brain: {e}"))),
    };
    let session = Session {
        agent: &agent,
        task: task.as_deref(),
        machine: &machine,
        now,
    };
    match event {
        Event::SessionStart => {
            let id = input["session_id"].as_str().unwrap_or_default();
            write_env_file(&agent, repo.root(), id);
            let text = primer::session_start(&repo, &session)
                .unwrap_or_else(|e| format!("brain: the queue cannot be read now: {e}."));
            context(event, Some(text))
        }
        Event::Stop => {
            // A stop right after brain's reminder is let through.
            if input["stop_hook_active"].as_bool() == Some(true) {
                return json!({});
            }
            match primer::stop_reminder(&repo, &session) {
                // Stop comes at the end of every reply: each claim is reminded of once in a
                // session, not at every turn.
                Ok(Some((reason, claims))) if first_reminder(&repo, &input, &claims) => {
                    json!({"decision": "block", "reason": reason})
                }
                _ => json!({}),
            }
        }
        Event::SessionEnd => {
            if let Some(f) = reminded_file(&repo, &input) {
                let _ = std::fs::remove_file(f);
            }
            json!({})
        }
        Event::StopFailure => {
            let error = [&input["error"], &input["error_details"]]
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Null => None,
                    other => Some(other.to_string()),
                })
                .collect::<Vec<_>>()
                .join("\n");
            let tz = jiff::tz::TimeZone::system();
            let (result, notes) = primer::record_limit(&repo, &session, &error, &tz).into_parts();
            for n in notes {
                say!("brain: {n}");
            }
            if let Err(e) = result {
                say!("brain: the usage limit was not recorded: {e}");
            }
            json!({})
        }
    }
}

/// `.brain/hooks/<session>.reminded`: the claims a session was reminded of at a stop.
fn reminded_file(repo: &brain_core::Repo, input: &Value) -> Option<std::path::PathBuf> {
    let id: String = input["session_id"]
        .as_str()?
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect();
    (!id.is_empty()).then(|| {
        repo.local_dir()
            .join("hooks")
            .join(format!("{id}.reminded"))
    })
}

/// Whether one of `claims` (`id@epoch`) was not reminded of yet in this session; notes them.
/// Without a session id, every stop reminds.
fn first_reminder(repo: &brain_core::Repo, input: &Value, claims: &[String]) -> bool {
    let Some(path) = reminded_file(repo, input) else {
        return true;
    };
    let seen = std::fs::read_to_string(&path).unwrap_or_default();
    let new: Vec<&String> = claims
        .iter()
        .filter(|c| !seen.lines().any(|l| l == c.as_str()))
        .collect();
    if new.is_empty() {
        return false;
    }
    let noted = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            new.iter().try_for_each(|c| writeln!(f, "{c}"))
        });
    if let Err(e) = noted {
        say!(
            "brain: could not note the reminder in {}: {e}",
            path.display()
        );
    }
    true
}

/// Tells the session's later commands who they are (`CLAUDE_ENV_FILE`: `export` lines that
/// Claude Code applies to its Bash tool).
fn write_env_file(agent: &str, root: &std::path::Path, session: &str) {
    let Some(path) = std::env::var_os("CLAUDE_ENV_FILE").filter(|p| !p.is_empty()) else {
        return;
    };
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut lines = format!(
        "export BRAIN_AGENT={}\nexport BRAIN_REPO={}\n",
        quote(agent),
        quote(&root.display().to_string())
    );
    if !session.is_empty() {
        lines.push_str(&format!("export BRAIN_SESSION={}\n", quote(session)));
    }
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(lines.as_bytes()));
    if let Err(e) = written {
        say!(
            "brain: could not write {}: {e}",
            std::path::Path::new(&path).display()
        );
    }
}
