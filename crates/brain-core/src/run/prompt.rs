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
use crate::store::prompts::{self, Kind as QKind, QState, Question};
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

/// What fills the placeholders of an agent's command.
#[derive(Debug, Clone)]
pub struct Fill<'a> {
    pub prompt: &'a str,
    pub prompt_file: &'a Path,
    pub task_file: &'a Path,
    pub task_id: &'a str,
    pub repo: &'a Path,
    /// `{max_turns}`: the task's, else the agent's; none leaves the argument out.
    pub max_turns: Option<String>,
    /// `{max_budget_usd}`: the task's, else the agent's; none leaves the argument out.
    pub max_budget_usd: Option<String>,
}

impl Fill<'_> {
    /// The caps of `task` (else of `config`) for the fill.
    pub fn caps(mut self, task: &Task, config: &AgentConfig) -> Self {
        self.max_turns = task
            .meta
            .max_turns
            .or(config.max_turns)
            .map(|n| n.to_string());
        self.max_budget_usd = task
            .meta
            .max_budget_usd
            .clone()
            .or(config.max_budget_usd.map(|b| b.to_string()));
        self
    }
}

/// The argument list with its placeholders filled in: `{prompt}`, `{prompt_file}`,
/// `{task_file}`, `{task_id}`, `{repo}`, `{max_turns}`, `{max_budget_usd}`. An argument with
/// an optional placeholder that has no value is left out; when it is only the placeholder,
/// so is a flag (`--max-turns`) right before it.
pub fn command_line(template: &[String], fill: &Fill<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(template.len());
    // Whether the last argument out came from a template argument with no placeholder (only
    // such a flag goes with a left-out value).
    let mut last_plain = false;
    for arg in template {
        let optional = [
            ("{max_turns}", &fill.max_turns),
            ("{max_budget_usd}", &fill.max_budget_usd),
        ];
        let missing = optional
            .iter()
            .find(|(p, v)| v.is_none() && arg.contains(p));
        if let Some((p, _)) = missing {
            if arg == p && last_plain && out.last().is_some_and(|f| f.starts_with('-')) {
                out.pop();
            }
            last_plain = false;
            continue;
        }
        let mut a = arg
            .replace("{prompt_file}", &fill.prompt_file.display().to_string())
            .replace("{task_file}", &fill.task_file.display().to_string())
            .replace("{task_id}", fill.task_id)
            .replace("{repo}", &fill.repo.display().to_string());
        for (p, v) in optional {
            if let Some(v) = v {
                a = a.replace(p, v);
            }
        }
        last_plain = !arg.contains('{');
        // Last, so that a prompt that contains `{task_id}` stays as it is.
        out.push(a.replace("{prompt}", fill.prompt));
    }
    out
}

/// The prompt: the agent's prompt file, the task file, the questions about the task (with
/// their answers), and the agent's handoff section.
pub fn build_prompt(
    repo: &Repo,
    agent: &str,
    prompt: &str,
    task_id: &str,
    task_file: &Path,
) -> Result<String> {
    let task = String::from_utf8_lossy(&crate::store::read_limited(task_file)?).into_owned();
    let mut text = String::new();
    if !prompt.trim().is_empty() {
        text.push_str(prompt.trim_end());
        text.push_str("\n\n---\n\n");
    }
    text.push_str(task.trim_end());
    text.push('\n');
    let questions: Vec<Question> = prompts::read_all(repo)?
        .into_iter()
        .filter(|q| q.task.as_deref() == Some(task_id))
        .collect();
    if !questions.is_empty() {
        text.push_str("\n---\n\n");
        text.push_str(&render_questions(&questions));
    }
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

/// The questions about a task and their answers, for its prompt.
fn render_questions(questions: &[Question]) -> String {
    let mut s = String::from(
        "# Questions about this task\n\nAsked in prompts/ (earlier attempts, or the person); the answers are the person's.\n",
    );
    for q in questions {
        let kind = match q.kind {
            QKind::Question => "question",
            QKind::Approval => "approval request",
        };
        let who = q
            .from
            .as_deref()
            .map(|f| format!(", asked by {f}"))
            .unwrap_or_default();
        let when = q
            .asked
            .as_deref()
            .map(|a| format!(" on {a}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "\n## {} ({kind}{who}{when})\n\n{}\n\n",
            q.id,
            q.text.trim()
        ));
        match (&q.state, q.answer.as_deref().map(str::trim)) {
            (QState::Answered, Some(a)) if !a.is_empty() => {
                s.push_str(&format!("Answer: {a}\n"));
            }
            _ => s.push_str("Not answered yet: do not guess the answer.\n"),
        }
    }
    s
}

/// The session a usage limit cut short in this task's last attempt, to resume (see
/// `[agents.NAME] resume`): the `session_id` of its last section when that is the release
/// after a usage limit.
pub fn resumable(task_file: &Path) -> Option<String> {
    let text = String::from_utf8_lossy(&crate::store::read_limited(task_file).ok()?).into_owned();
    let at = text.rfind("\n## ")?;
    let last = &text[at + 1..];
    if !last.starts_with("## Released") || !last.contains("\n- reason: usage limit") {
        return None;
    }
    last.lines()
        .find_map(|l| l.trim().strip_prefix("- session_id:"))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
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
                let prompt_at = prompt_file(repo, &t.id);
                let fill = Fill {
                    prompt: "<prompt>",
                    prompt_file: &prompt_at,
                    task_file: &active,
                    task_id: &t.id,
                    repo: repo.root(),
                    max_turns: None,
                    max_budget_usd: None,
                }
                .caps(&t, config);
                let mut argv = command_line(&config.command, &fill);
                if config.resume
                    && let Some(session) = resumable(&t.path)
                {
                    argv.extend(["--resume".to_string(), session]);
                }
                (t, argv)
            })
            .collect();
        Ok(Plan { reclaims, tasks })
    })
}
