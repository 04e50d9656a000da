//! The files `brain init` writes. Each is created only where no file exists.

/// `agents/overnight.md`: the prompt an unattended run gives the agent before the task file.
pub const OVERNIGHT_PROMPT: &str = r#"# Overnight run

You are running unattended, on a schedule, on one task from this brain repo. Nobody is
watching and nobody can answer you until morning. The task file follows this prompt; its
sections (`## Input`, `## Expected Output`, `## Context`) say what to do. Questions asked about
this task before, with the person's answers, follow it under "Questions about this task".

## What you may do

- Read files, and create or edit files inside this repo (you cannot write outside it).
- Run these commands, and no others unless the task's agent was given more:
  - `brain ask "<question>" --task "$BRAIN_TASK"`: ask the person something only they can
    decide. Do not guess; finish what you can without the answer.
  - `brain handoff --to <agent> --task "$BRAIN_TASK" --note "<what and why>"`: leave a note
    for another agent about work outside your task.
  - `brain fail "$BRAIN_TASK" --error "<what stopped you>" --retry`: when you cannot do the
    task (say exactly what is missing), so it is retried or left for a person.
  - `brain done "$BRAIN_TASK" --result "<summary>"`: only if you need to finish before your
    last message; otherwise brain records your last message as the result.
- A tool you are not allowed is denied, and the task fails with the denied tool named, so the
  person can allow it. Do not work around a denial.

## How to work

- Work on this one task only. Read the files it names before you change anything.
- Write results where `## Expected Output` says. Do not touch files the task does not name, and
  never delete or overwrite a person's notes.
- Do nothing that cannot be undone: no deleting folders, no force pushes, no sending mail or
  messages, no purchases.
- Never edit files under `tasks/`, `context/` or `prompts/` yourself: brain keeps them.

## When you finish

End with a short summary: what you did, where the results are, and anything left open (a
question waiting for the person, say). brain records your final message as the task's result.
"#;

/// `context/active-agent.md` with no active claims.
pub const ACTIVE_AGENT_HEADER: &str =
    "<!-- context/active-agent.md: who is working on what, one block per active claim in the
     seed's format. brain rewrites this file on every claim and finish; edits here are lost. -->
";

/// `context/handoff.md`.
pub const HANDOFF: &str = "# Handoffs

Notes from one agent to another, one section per recipient (`## For Claude Code`) with
`### Task`, `### Files Modified`, `### Notes` and `### Blocking Issues`. A new handoff to the same
recipient replaces its section; git keeps the replaced text.
";

/// `context/usage.md`, in the seed's YAML shape.
pub const USAGE: &str = "# context/usage.md: sessions and tokens per agent, kept by `brain run`.
last_updated: null
";

/// `prompts/pending.md`.
pub const PROMPTS_PENDING: &str = "# Pending questions

Questions and approval requests waiting for you, one `## q-…` entry each. To answer one, run
`brain answer <id> \"…\"`, or move its entry to `prompts/answered.md` and write your answer under
it. To approve or deny a gated task, run `brain approve <task>` or `brain deny <task> --reason …`.
";

/// `prompts/answered.md`.
pub const PROMPTS_ANSWERED: &str = "# Answered questions

Answered entries, each with its question and the answer under it.
";

/// The root `.gitignore`, written only where the repo has none.
pub const GITIGNORE: &str = "# brain's files for this machine only (lock, caches, scratch files)
/.brain/
";

/// `.brain/.gitignore`: the folder ignores itself, so brain never needs to edit a user's
/// `.gitignore`.
pub const LOCAL_GITIGNORE: &str = "*\n";

/// `context/priorities.md`, which `brain init --example` creates (the example tasks point to it).
pub const PRIORITIES: &str = "# Priorities

What matters most right now, for the agents and for you. Tasks point agents here; keep it
short and current, and write it in your own words.

1. (The project this brain repo serves, and its goal for this week.)
2. (What must not break, and what an agent must never touch.)
3. (What you would like to find done in the morning.)
";

/// The example agent `brain init --example` puts in `agents/` (a POSIX shell script).
pub const EXAMPLE_AGENT_SH: &str = include_str!("../../../../examples/agents/example-agent.sh");

/// The example agent for Windows (PowerShell).
pub const EXAMPLE_AGENT_PS1: &str = include_str!("../../../../examples/agents/example-agent.ps1");

/// The `brain.toml` that `brain init` writes: every setting, each table in one place, what
/// is not set commented (so that uncommenting a line never repeats a key). With `example`,
/// the example agent's table follows the others and `[run] agent` is set to it (the default
/// agent `example` names).
pub fn brain_toml(example: Option<&str>) -> String {
    let mut s = String::from(CONFIG_HEAD);
    if example.is_some() {
        s.push_str(&example_agent());
    }
    s.push('\n');
    s.push_str(CONFIG_GIT);
    let agent = match example {
        Some(a) => format!(
            "agent = \"{a}\"   # {}",
            if a == "claude-code" {
                "Claude Code was found on PATH when this repo was made"
            } else {
                "Claude Code was not on PATH when this repo was made: set \"claude-code\" once it is"
            }
        ),
        None => "# agent = \"claude-code\"".to_string(),
    };
    s.push_str(&CONFIG_RUN.replace("{agent}", &agent));
    s.push_str(CONFIG_NOTIFY);
    s.push_str(CONFIG_CLAUDE);
    s
}

/// The start of brain.toml: the queue and the agents.
const CONFIG_HEAD: &str = r#"# brain.toml: the configuration of this brain repo. The repo root is where this file is.
# Every setting below shows its default; uncomment and change what you need.

[queue]
# A claim whose last heartbeat is older than this is stale and goes back to pending/
# (the seed's "if active-agent.md is stale > 2 hours, the task can be reclaimed").
stale_after = "2h"
# Attempts before a task goes to failed/ for good. A task's own `max_attempts` wins.
max_attempts = 3
# `brain claim --agent NAME` for a NAME with no [agents.NAME] below is refused, with the
# closest name (a typo would claim a real task), unless it gives --capabilities. true lets
# any name claim, with the capabilities it gives.
# ad_hoc_agents = false

# One table per agent. `capabilities` must cover a task's `requires` for the agent to claim it.
# `command` is an argument list that `brain run` starts (never through a shell); it may use
# {prompt}, {prompt_file}, {task_file}, {task_id}, {repo}, {max_turns} and {max_budget_usd}
# (an argument that is only {max_turns} or {max_budget_usd} is left out, with the flag before
# it, when neither the task nor this table sets one).
#
# Claude Code runs headless with the narrowest permissions that let it do a task: it may edit
# files inside this repo (--permission-mode acceptEdits) and run `brain ask`, `brain handoff`,
# `brain done` and `brain fail` (--allowedTools), nothing else. A tool use it is denied makes
# the task fail with the denied tools listed, so you see what to allow. To widen, add to
# --allowedTools, e.g. "Bash(brain ask:*),...,Bash(npm test:*),WebFetch".
[agents.claude-code]
capabilities = ["code_execution", "file_access", "writing"]
command = [
  "claude", "-p", "{prompt}", "--output-format", "json",
  "--permission-mode", "acceptEdits",
  "--allowedTools", "Bash(brain ask:*),Bash(brain handoff:*),Bash(brain done:*),Bash(brain fail:*)",
  "--max-turns", "{max_turns}", "--max-budget-usd", "{max_budget_usd}",
]
prompt = "agents/overnight.md"
# brain run starts no new session for this agent once a limit is reached today (UTC):
# max_sessions_per_day = 20
# max_tokens_per_day = 5000000
# The caps of a task that sets no max_turns / max_budget_usd of its own:
# max_turns = 50
# max_budget_usd = 5.0
# A session that was denied tool uses still completes its task (default: it fails):
# accept_denials = false
# After a usage limit, the next attempt resumes the session the limit cut short:
# resume = false

# [agents.claude-desktop]
# capabilities = ["file_access"]
"#;

/// brain.toml's `[git]`.
const CONFIG_GIT: &str = r#"[git]
# Commit every transition (claim, done, ...) with exactly the files it touched.
commit = true
# Write (and commit) a task's heartbeat at most this often (and at most every quarter of
# stale_after); a heartbeat in between changes nothing.
heartbeat_every = "10m"
# Share this queue between machines through a git remote: a transition is real only once a
# fast-forward push of it is accepted (brain fetches and tries again when another machine got
# there first). Commands that change the queue then need the remote; reading works offline.
# remote = "origin"
# The branch on the remote (default: the branch checked out here).
# branch = "main"

"#;

/// brain.toml's `[run]`; `{agent}` is its `agent` line.
const CONFIG_RUN: &str = r#"# The scheduled run: `brain run`, `brain schedule install`, `brain daemon`.
[run]
# The agent `brain run` runs when --agent is not given (with one agent above, that one).
{agent}
# How long an agent may work on a task whose file sets no `timeout`.
# timeout = "2h"
# After the polite stop (SIGTERM), how long before the agent's processes are killed.
# kill_grace = "10s"
# When `brain daemon` runs `brain run` (cron: minute hour day month weekday, local time).
# schedule = "0 2 * * *"
# What of each agent's output goes into git: "summary" (its first and last lines, at most
# 16 KiB), "full" (the whole output, up to max_committed_output; a larger one as a summary) or
# "none". The whole output always stays in logs/runs/ on this machine: it can be large, and
# it can hold a secret an agent printed.
# commit_output = "summary"
# max_committed_output = "1MiB"

"#;

/// brain.toml's `[claude]`, commented.
const CONFIG_CLAUDE: &str = r#"
# Interactive Claude Code sessions, with brain's hooks (`brain setup claude`): at its start a
# session is told what it could claim, what it holds and what waits for it.
# [claude]
# The agent a session claims as, when BRAIN_AGENT does not say.
# agent = "claude-code"
"#;

/// brain.toml's `[notify]`, commented.
const CONFIG_NOTIFY: &str = r#"# Tell the person what a run met: a command (an argument list; the message is JSON on its
# stdin) and/or an HTTP POST (ntfy-style; https:// needs curl). Each kind of event is sent
# "immediate"ly, in one message at the end of the run ("morning", with the morning review in
# logs/), or "off". A notifier that fails or hangs is stopped after `timeout` and logged; the
# run goes on.
# [notify]
# command = ["notify-send-brain"]
# url = "https://ntfy.sh/my-brain-topic"
# timeout = "10s"
# question = "morning"     # a question or approval waits for you
# failed = "morning"       # a task failed for good
# limit = "immediate"      # the plan's usage limit was hit (with when it resets)
# run = "morning"          # the run's summary
"#;

/// The example agent's table, which `brain init --example` adds to brain.toml.
fn example_agent() -> String {
    let command = if cfg!(windows) {
        r#"["powershell", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File", "agents/example-agent.ps1", "{prompt_file}"]"#
    } else {
        r#"["sh", "agents/example-agent.sh", "{prompt_file}"]"#
    };
    format!(
        "
# The EXAMPLE agent that `brain init --example` added: a small script in agents/ that reads its
# prompt and reports what it saw, so that `brain run` can be tried before a real agent is set
# up. It takes the tasks that need only file access; a task that needs `writing` waits for a
# real agent. Delete this table (and the script) once you have one.
[agents.example-agent]
capabilities = [\"file_access\"]
command = {command}
"
    )
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::store::templates::brain_toml;
    use std::path::Path;

    #[test]
    fn the_generated_config_parses_with_and_without_the_example() {
        for example in [None, Some("example-agent"), Some("claude-code")] {
            let text = brain_toml(example);
            let c = Config::parse(&text, Path::new("brain.toml")).unwrap();
            assert_eq!(c.queue.stale_after, 7200);
            assert!(c.agents.contains_key("claude-code"));
            assert_eq!(c.run.agent.as_deref(), example, "{text}");
        }
    }

    #[test]
    fn uncommenting_any_setting_never_repeats_a_key() {
        for example in [None, Some("example-agent")] {
            // Every commented table header and `key = value` line, uncommented at once.
            let text: String = brain_toml(example)
                .lines()
                .map(|l| {
                    let t = l.trim_start_matches("# ");
                    let setting = l.starts_with("# ")
                        && (t.starts_with('[') && t.trim_end().ends_with(']')
                            || t.split_once(" = ").is_some_and(|(k, _)| {
                                k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                            }));
                    if setting {
                        t.to_string()
                    } else {
                        l.to_string()
                    }
                })
                .map(|l| l + "\n")
                .collect();
            if let Err(e) = Config::parse(&text, Path::new("brain.toml")) {
                panic!("{e}\n{text}");
            }
        }
    }
}
