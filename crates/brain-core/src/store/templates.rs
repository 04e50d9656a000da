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

/// The example agent `brain init --example` puts in `agents/` (a POSIX shell script).
pub const EXAMPLE_AGENT_SH: &str = include_str!("../../../../examples/agents/example-agent.sh");

/// The example agent for Windows (PowerShell).
pub const EXAMPLE_AGENT_PS1: &str = include_str!("../../../../examples/agents/example-agent.ps1");

/// What `brain init --example` adds to `brain.toml`: the example agent, and `[run] agent`
/// set to `default_agent`.
pub fn example_config(default_agent: &str) -> String {
    let command = if cfg!(windows) {
        r#"["powershell", "-NoProfile", "-ExecutionPolicy", "Bypass", "-File", "agents/example-agent.ps1", "{prompt_file}"]"#
    } else {
        r#"["sh", "agents/example-agent.sh", "{prompt_file}"]"#
    };
    format!(
        "
# The EXAMPLE agent that `brain init --example` added: a small script in agents/ that reads its
# prompt and reports what it saw, so that `brain run` can be tried before a real agent is set
# up. Delete this table (and the script) once you have one.
[agents.example-agent]
capabilities = [\"code_execution\", \"file_access\"]
command = {command}

[run]
# The agent `brain run` runs when --agent is not given ({why}).
agent = \"{default_agent}\"
",
        why = if default_agent == "claude-code" {
            "Claude Code was found on PATH when this repo was made"
        } else {
            "Claude Code was not found on PATH when this repo was made; set \"claude-code\" once it is"
        }
    )
}
