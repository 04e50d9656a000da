//! What an agent is given: its prompt (the agent's prompt file, the task file, its handoff
//! section) and its command line, with the placeholders filled in; and what a run would do,
//! for `--dry-run`.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::config::AgentConfig;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::human::handoff;
use crate::queue::{Kind, Reclaimed, Transaction, Unattended};
use crate::store::{Repo, TEXT_LIMIT};
use crate::task::{State, Task};

/// The agent's prompt file (`[agents.NAME] prompt`, else `agents/overnight.md` if it exists).
pub fn read_prompt(repo: &Repo, config: &AgentConfig) -> Result<String> {
    let (rel, required) = match &config.prompt {
        Some(p) => (p.clone(), true),
        None => ("agents/overnight.md".to_string(), false),
    };
    let path = repo.root().join(&rel);
    match fsutil::read_text(&path, TEXT_LIMIT, "keep the prompt short")? {
        Some(t) => Ok(t),
        None if !required => Ok(String::new()),
        None => Err(Error::Invalid(format!(
            "the agent's prompt file {} (`prompt` in brain.toml) does not exist",
            path.display()
        ))),
    }
}

/// The argument list with its placeholders filled in: `{prompt}`, `{prompt_file}`,
/// `{task_file}`, `{task_id}`, `{repo}`.
pub fn command_line(
    template: &[String],
    prompt: &str,
    prompt_file: &Path,
    task_file: &Path,
    task_id: &str,
    repo: &Path,
) -> Vec<String> {
    template
        .iter()
        .map(|arg| {
            arg.replace("{prompt_file}", &prompt_file.display().to_string())
                .replace("{task_file}", &task_file.display().to_string())
                .replace("{task_id}", task_id)
                .replace("{repo}", &repo.display().to_string())
                // Last, so that a prompt that contains `{task_id}` stays as it is.
                .replace("{prompt}", prompt)
        })
        .collect()
}

/// The prompt: the agent's prompt file, the task file, and the agent's handoff section.
pub fn build_prompt(repo: &Repo, agent: &str, prompt: &str, task_file: &Path) -> Result<String> {
    let task = String::from_utf8_lossy(&crate::store::read_limited(task_file)?).into_owned();
    let mut text = String::new();
    if !prompt.trim().is_empty() {
        text.push_str(prompt.trim_end());
        text.push_str("\n\n---\n\n");
    }
    text.push_str(task.trim_end());
    text.push('\n');
    let handoffs = handoff::read_all(repo.root()).unwrap_or_default();
    if let Some(h) = handoffs
        .into_iter()
        .find(|h| h.agent == handoff::agent_of(agent))
    {
        text.push_str("\n---\n\n");
        text.push_str(&handoff::render(&h));
    }
    Ok(text)
}

/// Where a run keeps the prompt of claim `token` while its agent works.
pub fn prompt_file(repo: &Repo, token: &str) -> PathBuf {
    repo.local_dir()
        .join("run")
        .join(format!("{token}.prompt.md"))
}

/// What `brain run --dry-run` shows: the stale claims it would reclaim, and the tasks it would
/// run, in order, with their command lines (`<prompt>` standing for the prompt's text).
#[derive(Debug)]
pub struct Plan {
    pub reclaims: Vec<Reclaimed>,
    pub tasks: Vec<(Task, Vec<String>)>,
}

/// The plan of a run of `agent` now (at most `max_tasks`), read under the lock so that it is
/// one consistent state; nothing changes.
pub fn plan(
    repo: &Repo,
    agent: &str,
    config: &AgentConfig,
    max_tasks: Option<usize>,
    now: Timestamp,
) -> Transaction<Plan> {
    repo.section(Kind::Look, now, |l| {
        let reclaims = l.reclaim(now, true)?;
        let unattended = Unattended {
            only: true,
            skip: Vec::new(),
        };
        let tasks = l
            .would_claim(agent, &[], &unattended, now, max_tasks)?
            .into_iter()
            .map(|t| {
                let active = repo.task_path(State::Active, &t.id, Some(agent));
                let argv = command_line(
                    &config.command,
                    "<prompt>",
                    &prompt_file(repo, &t.id),
                    &active,
                    &t.id,
                    repo.root(),
                );
                (t, argv)
            })
            .collect();
        Ok(Plan { reclaims, tasks })
    })
}
