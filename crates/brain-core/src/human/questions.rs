//! Writing `prompts/pending.md` and `prompts/answered.md` (see [`crate::store::prompts`] for the
//! format): questions, answers, and the approval gate of SPEC §5.

use jiff::Timestamp;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::task::frontmatter::FieldValue;

use crate::queue::LockedRepo;
use crate::store::prompts::{
    self, ANSWERED, Kind, PENDING, QState, Question, read, read_all, verdict,
};
use crate::store::templates;
use crate::task::names;
use crate::task::time::format_ts;
use crate::task::{Approval, State};

fn next_qid(repo: &LockedRepo<'_>, now: Timestamp) -> Result<String> {
    let prefix = format!("q-{}-", now.strftime("%Y-%m-%d"));
    let max = read_all(repo)?
        .iter()
        .filter_map(|q| q.id.strip_prefix(&prefix)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    Ok(format!("{prefix}{:03}", max + 1))
}

fn entry_text(
    id: &str,
    text: &str,
    from: Option<&str>,
    task: Option<&str>,
    kind: Kind,
    now: Timestamp,
) -> String {
    let mut s = format!("\n## {id}\n\n{}\n\n", text.trim());
    if let Some(f) = from {
        s.push_str(&format!("- from: {f}\n"));
    }
    s.push_str(&format!("- asked: {}\n", format_ts(now)));
    if let Some(t) = task {
        s.push_str(&format!("- task: {t}\n"));
    }
    if kind == Kind::Approval {
        s.push_str("- kind: approval\n");
    }
    s
}

/// Appends `entry` to the prompts file `rel` (a missing one starts as `default`). A person's
/// edit made at the same moment is kept (see [`LockedRepo::rewrite`]).
fn append(repo: &LockedRepo<'_>, rel: &str, default: &str, entry: &str) -> Result<()> {
    repo.rewrite(&repo.root().join(rel), default, |text| {
        let mut text = text.to_string();
        if !text.ends_with('\n') && !text.is_empty() {
            text.push('\n');
        }
        text.push_str(entry);
        Ok(Some(text))
    })?;
    Ok(())
}

/// The longest question or answer brain writes into prompts/.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

fn check_entry_size(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_ENTRY_BYTES {
        return Err(Error::Invalid(format!(
            "the {what} is {} long, more than the {} brain writes into prompts/; nothing was changed. Put the long part in a file and name it in the {what}",
            fsutil::format_size(text.len() as u64),
            fsutil::format_size(MAX_ENTRY_BYTES as u64)
        )));
    }
    Ok(())
}

/// Adds a question to `prompts/pending.md`; returns its id. (Approval requests are written by
/// [`request_approval`].)
pub fn ask(
    repo: &LockedRepo<'_>,
    text: &str,
    from: Option<&str>,
    task: Option<&str>,
    now: Timestamp,
) -> Result<String> {
    let id = add_entry(repo, text, from, task, Kind::Question, now)?;
    let first = text.trim().lines().next().unwrap_or_default();
    repo.commit_point(&format!("ask {id}: {first}"))?;
    Ok(id)
}

/// Adds an entry of either kind, without a commit (an approval request is part of the
/// transition that needs it).
fn add_entry(
    repo: &LockedRepo<'_>,
    text: &str,
    from: Option<&str>,
    task: Option<&str>,
    kind: Kind,
    now: Timestamp,
) -> Result<String> {
    if text.trim().is_empty() {
        return Err(Error::Invalid("the question is empty".into()));
    }
    check_entry_size("question", text)?;
    if let Some(a) = from {
        names::validate_agent(a)?;
    }
    let spelled;
    let task = match task {
        Some(t) => {
            names::validate_task_id(t)?;
            match repo.locate(t)?.into_iter().next() {
                Some(e) => {
                    spelled = e.id;
                    Some(spelled.as_str())
                }
                None => return Err(Error::TaskNotFound(t.to_string())),
            }
        }
        None => None,
    };
    let id = next_qid(repo, now)?;
    append(
        repo,
        PENDING,
        templates::PROMPTS_PENDING,
        &entry_text(&id, text, from, task, kind, now),
    )?;
    Ok(id)
}

/// Splits `text` into (before, the entry `id` with its trailing text up to the next `## `
/// heading, after).
fn cut_entry<'a>(text: &'a str, id: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let mut pos = 0;
    let mut start = None;
    for line in text.split_inclusive('\n') {
        if let Some(s) = start {
            if line.starts_with("## ") || line.starts_with("# ") {
                return Some((&text[..s], &text[s..pos], &text[pos..]));
            }
        } else if prompts::entry_id(line).as_deref() == Some(id) {
            start = Some(pos);
        }
        pos += line.len();
    }
    start.map(|s| (&text[..s], &text[s..], ""))
}

/// Answers question `qid`: its entry moves from `pending.md` to `answered.md` with the answer
/// under it. Returns the question as answered.
pub fn answer(repo: &LockedRepo<'_>, qid: &str, answer: &str, now: Timestamp) -> Result<Question> {
    let q = move_to_answered(repo, qid, answer, now)?;
    repo.commit_point(&format!("answer {qid}"))?;
    Ok(q)
}

/// [`answer`] without the commit.
fn move_to_answered(
    repo: &LockedRepo<'_>,
    qid: &str,
    answer: &str,
    now: Timestamp,
) -> Result<Question> {
    if answer.trim().is_empty() {
        return Err(Error::Invalid("the answer is empty".into()));
    }
    check_entry_size("answer", answer)?;
    let pending = read(repo, PENDING, "")?;
    let Some((_, entry, _)) = cut_entry(&pending, qid) else {
        let answered = prompts::parse(&read(repo, ANSWERED, "")?, QState::Answered);
        return Err(Error::Invalid(if answered.iter().any(|q| q.id == qid) {
            format!("question {qid} is already answered (see prompts/answered.md)")
        } else {
            format!("no open question {qid} in prompts/pending.md (run `brain questions --open`)")
        }));
    };
    let moved = format!(
        "\n{}\n- answered: {}\n\n{}\n",
        entry.trim(),
        format_ts(now),
        answer.trim()
    );
    // Answered first: a crash in between leaves the entry in both files, and an entry in
    // answered.md wins.
    append(repo, ANSWERED, templates::PROMPTS_ANSWERED, &moved)?;
    repo.rewrite(&crate::fsutil::join_rel(repo.root(), PENDING), "", |text| {
        // Cut from the text as it is now, which a person may have edited meanwhile.
        Ok(cut_entry(text, qid).map(|(before, _, after)| {
            format!(
                "{}{}",
                before.trim_end_matches('\n'),
                if after.is_empty() {
                    "\n".to_string()
                } else {
                    format!("\n\n{after}")
                }
            )
        }))
    })?;
    let q = prompts::parse(&moved, QState::Answered).into_iter().next();
    q.ok_or_else(|| Error::Invalid(format!("question {qid} could not be read back")))
}

/// The open approval request of task `id`, if any.
fn open_request(repo: &LockedRepo<'_>, id: &str) -> Result<Option<Question>> {
    Ok(read_all(repo)?.into_iter().find(|q| {
        q.kind == Kind::Approval && q.task.as_deref() == Some(id) && q.state == QState::Open
    }))
}

/// Makes sure a gated pending task has an approval request; returns its id when one was added.
pub fn request_approval(
    repo: &LockedRepo<'_>,
    id: &str,
    title: &str,
    now: Timestamp,
) -> Result<Option<String>> {
    let has = read_all(repo)?
        .iter()
        .any(|q| q.kind == Kind::Approval && q.task.as_deref() == Some(id));
    if has {
        return Ok(None);
    }
    let text = format!(
        "May an agent work on {id} ({title})? Answer yes or no, or run `brain approve {id}` / `brain deny {id} --reason …`."
    );
    add_entry(repo, &text, None, Some(id), Kind::Approval, now).map(Some)
}

/// The pending task `id`, or an error saying where it is instead.
fn pending_task(
    repo: &LockedRepo<'_>,
    id: &str,
) -> Result<(crate::store::Entry, crate::task::TaskFile)> {
    let entry = repo.find(id)?;
    if entry.state != State::Pending {
        return Err(Error::Invalid(format!(
            "task {id} is not pending (it is in tasks/{}/)",
            entry.state
        )));
    }
    let f = repo.read(&entry)?;
    Ok((entry, f))
}

/// `brain approve`: opens the gate of a pending task. Returns its id as its file spells it.
pub fn approve(repo: &LockedRepo<'_>, id: &str, now: Timestamp) -> Result<String> {
    let id = &repo.spelled(id)?;
    let (_, mut f) = pending_task(repo, id)?;
    if f.task.meta.approval != Some(Approval::Approved) {
        f.set(
            "approval",
            FieldValue::Str(Approval::Approved.as_str().into()),
        )?;
        repo.save_task(&mut f)?;
    }
    if let Some(q) = open_request(repo, id)? {
        move_to_answered(
            repo,
            &q.id,
            &format!("approved (brain approve, {})", format_ts(now)),
            now,
        )?;
    }
    repo.commit_point(&format!("approve {id}"))?;
    Ok(id.clone())
}

/// `brain deny`: a gated task goes to `failed/` with the reason.
pub fn deny(
    repo: &LockedRepo<'_>,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> Result<std::path::PathBuf> {
    if reason.trim().is_empty() {
        return Err(Error::Invalid("give a reason with --reason".into()));
    }
    let id = &repo.spelled(id)?;
    let (_, mut f) = pending_task(repo, id)?;
    f.append_body(&format!(
        "\n## Failure\n\n- denied: {}\n\n{}\n",
        format_ts(now),
        reason.trim()
    ));
    f.set(
        "approval",
        FieldValue::Str(Approval::Denied.as_str().into()),
    )?;
    let to = repo.move_to_failed(&mut f, now)?;
    if let Some(q) = open_request(repo, id)? {
        move_to_answered(repo, &q.id, &format!("denied: {}", reason.trim()), now)?;
    }
    repo.commit_point(&format!(
        "deny {id}: {}",
        reason.trim().lines().next().unwrap_or_default()
    ))?;
    Ok(to)
}

/// Applies answers a person wrote by hand: a gated pending task whose approval request was
/// answered "no" is denied. Returns the ids denied.
pub fn apply_hand_denials(repo: &LockedRepo<'_>, now: Timestamp) -> Result<Vec<String>> {
    let mut denied = Vec::new();
    let answered = prompts::parse(&read(repo, ANSWERED, "")?, QState::Answered);
    for q in answered.iter().filter(|q| q.kind == Kind::Approval) {
        let (Some(task), Some(ans)) = (&q.task, &q.answer) else {
            continue;
        };
        if verdict(ans) != Some(false) {
            continue;
        }
        let path = repo.task_path(State::Pending, task, None);
        if !path.is_file() {
            continue;
        }
        let f = repo.read(&crate::store::Entry {
            id: task.clone(),
            state: State::Pending,
            agent: None,
            path,
        })?;
        if f.task.meta.approval == Some(Approval::Required) {
            deny(
                repo,
                task,
                &format!("denied in prompts/answered.md ({}): {ans}", q.id),
                now,
            )?;
            denied.push(task.clone());
        }
    }
    Ok(denied)
}
