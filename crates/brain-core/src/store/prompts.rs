//! `prompts/pending.md` and `prompts/answered.md`: questions and approval requests for the human.
//!
//! One entry per question, as Markdown a person edits comfortably:
//!
//! ```markdown
//! ## q-2026-01-31-001
//!
//! Where is your Obsidian vault located exactly?
//!
//! - from: claude-code
//! - asked: 2026-01-31T02:40:00Z
//! - task: task-2026-01-31-001
//! - kind: question
//! ```
//!
//! In `answered.md`, whatever follows the `- key: value` lines of an entry is its answer, so a
//! person who moves an entry there by hand and writes under it has answered it.
//!
//! This is the reading side (the queue's claims read approvals here); writing them is
//! [`crate::human::questions`].

use std::collections::HashMap;

use serde::Serialize;

use crate::error::Result;
use crate::fsutil;
use crate::store::Repo;
use crate::task::State;

/// Whether an entry is a question or an approval request for a gated task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Question,
    Approval,
}

/// Whether an entry waits for the human or has been answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QState {
    Open,
    Answered,
}

/// One entry of either file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub kind: Kind,
    pub from: Option<String>,
    pub asked: Option<String>,
    pub task: Option<String>,
    pub state: QState,
    pub answer: Option<String>,
}

/// The entries of one file, in order. Text outside entries (the file's heading and intro) is
/// not an entry.
pub fn parse(text: &str, state: QState) -> Vec<Question> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(id) = entry_id(line) else { continue };
        let mut body = Vec::new();
        while let Some(next) = lines.peek() {
            if entry_id(next).is_some() {
                break;
            }
            body.push(lines.next().unwrap_or_default());
        }
        out.push(entry(id, &body, state));
    }
    out
}

/// The id of a `## q-…` heading line (also `## q-…: text`).
pub fn entry_id(line: &str) -> Option<String> {
    let rest = line.strip_prefix("## ")?.trim();
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (id.starts_with("q-") && id.len() > 2).then_some(id)
}

fn entry(id: String, body: &[&str], state: QState) -> Question {
    let mut q = Question {
        id,
        text: String::new(),
        kind: Kind::Question,
        from: None,
        asked: None,
        task: None,
        state,
        answer: None,
    };
    let mut text = Vec::new();
    let mut after = Vec::new();
    let mut seen_meta = false;
    for line in body {
        let meta = line
            .strip_prefix("- ")
            .and_then(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| matches!(*k, "from" | "asked" | "task" | "kind" | "answered"));
        match meta {
            Some((k, v)) if after.iter().all(|l: &&str| l.trim().is_empty()) => {
                seen_meta = true;
                let v = (!v.is_empty()).then(|| v.to_string());
                match k {
                    "from" => q.from = v,
                    "asked" => q.asked = v,
                    "task" => q.task = v,
                    "answered" => {}
                    _ => {
                        if v.as_deref() == Some("approval") {
                            q.kind = Kind::Approval;
                        }
                    }
                }
            }
            _ if seen_meta => after.push(line),
            _ => text.push(*line),
        }
    }
    q.text = text.join("\n").trim().to_string();
    if state == QState::Answered {
        let answer = after.join("\n");
        let answer = answer.trim();
        let answer = ["**Answer:**", "**Answer**:", "Answer:", "**Answer**"]
            .iter()
            .find_map(|p| answer.strip_prefix(p))
            .unwrap_or(answer)
            .trim();
        q.answer = (!answer.is_empty()).then(|| answer.to_string());
    }
    q
}

/// Every question, open ones first. An entry in `answered.md` wins over the same id still in
/// `pending.md`.
pub fn merge(pending: &str, answered: &str) -> Vec<Question> {
    let answered = parse(answered, QState::Answered);
    let mut out: Vec<Question> = parse(pending, QState::Open)
        .into_iter()
        .filter(|q| !answered.iter().any(|a| a.id == q.id))
        .collect();
    out.extend(answered);
    out
}

/// `prompts/pending.md`, relative to the root.
pub const PENDING: &str = "prompts/pending.md";

/// `prompts/answered.md`, relative to the root.
pub const ANSWERED: &str = "prompts/answered.md";

pub(crate) fn read(repo: &Repo, rel: &str, default: &str) -> Result<String> {
    let path = repo.root().join(rel);
    Ok(fsutil::read_text(
        &path,
        crate::store::TEXT_LIMIT,
        "move old entries out of it",
    )?
    .unwrap_or_else(|| default.to_string()))
}

/// Every question in both files (a missing file has none).
pub fn read_all(repo: &Repo) -> Result<Vec<Question>> {
    Ok(merge(&read(repo, PENDING, "")?, &read(repo, ANSWERED, "")?))
}

/// Whether an answer to an approval request says yes (`Some(true)`), no (`Some(false)`), or
/// neither (then the task stays gated, and `brain status` and `doctor` say so).
pub fn verdict(answer: &str) -> Option<bool> {
    let lower = answer.to_lowercase();
    let mut words = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty());
    let first = words.next().unwrap_or_default();
    let second = words.next().unwrap_or_default();
    match (first, second) {
        ("do" | "please", "not" | "don't") => Some(false),
        (
            "yes" | "y" | "yep" | "yeah" | "yup" | "approve" | "approved" | "ok" | "okay" | "go"
            | "lgtm" | "sure" | "granted" | "fine" | "allowed" | "accept" | "accepted",
            _,
        ) => Some(true),
        (
            "no" | "n" | "nope" | "nah" | "not" | "deny" | "denied" | "reject" | "rejected"
            | "don't" | "dont" | "stop" | "never" | "decline" | "declined" | "refuse" | "refused"
            | "cancel" | "cancelled" | "canceled" | "negative",
            _,
        ) => Some(false),
        _ => None,
    }
}

/// Approval requests answered in `prompts/answered.md` with something brain reads as neither
/// yes nor no, for gated tasks still waiting: one sentence each, saying what to do.
pub fn reading_warnings(repo: &Repo) -> Result<Vec<String>> {
    let answered = parse(&read(repo, ANSWERED, "")?, QState::Answered);
    let mut out = Vec::new();
    for q in answered.iter().filter(|q| q.kind == Kind::Approval) {
        let (Some(task), Some(ans)) = (&q.task, &q.answer) else {
            continue;
        };
        if verdict(ans).is_some() || !repo.task_path(State::Pending, task, None).is_file() {
            continue;
        }
        let first = ans.lines().next().unwrap_or_default();
        out.push(format!(
            "{}: the answer to the approval request for {task} (`{first}`) reads as neither yes nor no, so {task} stays gated; start the answer with yes or no, or run `brain approve {task}` or `brain deny {task} --reason …`",
            q.id
        ));
    }
    Ok(out)
}

/// Approval answers by task: `true` approved, `false` denied (from `answered.md`, where a person
/// may have answered by hand).
pub fn approvals(repo: &Repo) -> Result<HashMap<String, bool>> {
    let answered = parse(&read(repo, ANSWERED, "")?, QState::Answered);
    Ok(answered
        .into_iter()
        .filter(|q| q.kind == Kind::Approval)
        .filter_map(|q| Some((q.task?, verdict(q.answer.as_deref()?)?)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_and_hand_written_answers() {
        let pending = "# Pending questions\n\nintro\n\n## q-2026-01-31-001\n\nWhere is the vault?\n\n- from: claude-code\n- asked: 2026-01-31T02:40:00Z\n- task: task-2026-01-31-001\n\n## q-2026-01-31-002\n\nApprove?\n\n- kind: approval\n";
        let answered =
            "# Answered\n\n## q-2026-01-31-002\n\nApprove?\n\n- kind: approval\n\nyes, go ahead\n";
        let qs = merge(pending, answered);
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].id, "q-2026-01-31-001");
        assert_eq!(qs[0].text, "Where is the vault?");
        assert_eq!(qs[0].task.as_deref(), Some("task-2026-01-31-001"));
        assert_eq!(qs[0].state, QState::Open);
        assert_eq!(qs[1].state, QState::Answered);
        assert_eq!(qs[1].kind, Kind::Approval);
        assert_eq!(qs[1].answer.as_deref(), Some("yes, go ahead"));
    }
}
