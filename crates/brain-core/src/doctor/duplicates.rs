//! `brain doctor`'s handling of one id with several files (a copy, an editor's save to an old
//! path, a case-only twin): which file is the task, and what becomes of the others.

use std::fs;
use std::io;
use std::path::Path;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::queue::LockedRepo;
use crate::store::Entry;
use crate::task::frontmatter::FieldValue;
use crate::task::{State, TaskFile};

use super::{CONFLICTS_DIR, Check, Report};

/// How far along a file of a task is: the one furthest along (by epoch, then by state) is
/// the task; the others are copies.
fn rank(f: &TaskFile) -> (u64, u8) {
    let stage = match f.task.state {
        State::Pending => 0,
        State::Active => 1,
        State::Completed | State::Failed => 2,
    };
    (f.task.meta.epoch, stage)
}

/// One id with several files: names them, says which one is the task and what becomes of the
/// others, and with `fix` does it. A pending copy of a finished task (a person who copied it
/// back to run it again) becomes a new task with a new id; any other older copy (an editor
/// that saved a path brain had moved, a case-only twin) is moved to `tasks/conflicts/`, kept.
pub(super) fn duplicates(
    repo: &LockedRepo<'_>,
    entries: &[Entry],
    fix: bool,
    now: jiff::Timestamp,
    report: &mut Report,
) -> Result<()> {
    let root = repo.root();
    let rel = |p: &Path| crate::fsutil::shown_in(root, p);
    let list = entries
        .iter()
        .map(|e| rel(&e.path))
        .collect::<Vec<_>>()
        .join(", ");
    let id = &entries[0].id;
    let files: Vec<TaskFile> = match entries.iter().map(|e| repo.read(e)).collect() {
        Ok(f) => f,
        Err(_) => {
            report.add(
                Check::Duplicate,
                entries[0].path.clone(),
                format!(
                    "task `{id}` has {} files: {list}; one of them cannot be read, so brain does not choose: keep the right one and move the others out of tasks/",
                    entries.len()
                ),
                false,
            );
            return Ok(());
        }
    };
    let winner = (0..files.len())
        .max_by(|&a, &b| {
            rank(&files[a])
                .cmp(&rank(&files[b]))
                .then_with(|| files[b].task.path.cmp(&files[a].task.path))
        })
        .unwrap_or(0);
    let w = &files[winner];
    for (i, f) in files.iter().enumerate() {
        if i == winner {
            continue;
        }
        let here = rel(&f.task.path);
        let copy_to_rerun = f.task.state == State::Pending
            && matches!(w.task.state, State::Completed | State::Failed)
            && f.task.meta.epoch == w.task.meta.epoch;
        let (message, fixed) = if copy_to_rerun {
            let new = if fix {
                rerun_as_new(repo, f, now)?
            } else {
                None
            };
            let done = new
                .as_deref()
                .map(|n| format!("; it is now the new task {n}"))
                .unwrap_or_default();
            (
                format!(
                    "task `{id}` has {} files: {list}. {here} is a copy of the finished {}: `--fix` makes it a new task with an id of its own, so that it can run again (or delete it){done}",
                    entries.len(),
                    rel(&w.task.path)
                ),
                new.is_some(),
            )
        } else {
            let fixed = fix && set_aside(repo, f)?;
            (
                format!(
                    "task `{id}` has {} files: {list}. The task is {} (epoch {}); {here} (epoch {}) is an older copy: `--fix` moves it to {CONFLICTS_DIR}/, where it is kept out of the queue",
                    entries.len(),
                    rel(&w.task.path),
                    w.task.meta.epoch,
                    f.task.meta.epoch
                ),
                fixed,
            )
        };
        report.add(Check::Duplicate, f.task.path.clone(), message, fixed);
    }
    Ok(())
}

/// Makes the pending copy `f` of a finished task a new task: a new id, no claim, no attempt
/// counted; its text is otherwise kept. Returns the new id.
fn rerun_as_new(
    repo: &LockedRepo<'_>,
    f: &TaskFile,
    now: jiff::Timestamp,
) -> Result<Option<String>> {
    let mut copy = f.clone();
    for k in [
        "claimed_by",
        "claimed_at",
        "heartbeat_at",
        "completed_at",
        "failed_at",
    ] {
        copy.remove(k)?;
    }
    copy.set_all(&[
        ("status", FieldValue::Str("pending".into())),
        ("attempt", FieldValue::Int(0)),
        ("epoch", FieldValue::Int(0)),
    ])?;
    let keep_id = copy.task.meta.id.is_some();
    let (id, _) = repo.create_pending(now, |new_id| {
        let mut c = copy.clone();
        if keep_id {
            let _ = c.set("id", FieldValue::Str(new_id.to_string()));
        }
        c.doc.text().to_string()
    })?;
    repo.touch(&f.task.path);
    fs::remove_file(&f.task.path).at("removing", &f.task.path)?;
    repo.defer_sync(&f.task.path);
    Ok(Some(id))
}

/// Moves the older copy `f` out of the queue, into [`CONFLICTS_DIR`] (never over a file).
fn set_aside(repo: &LockedRepo<'_>, f: &TaskFile) -> Result<bool> {
    let dir = crate::fsutil::join_rel(repo.root(), CONFLICTS_DIR);
    fs::create_dir_all(&dir).at("creating", &dir)?;
    let name = f
        .task
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let rest = name.split_once('.').map_or("md", |(_, r)| r);
    for n in 0..1000 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let to = dir.join(format!("{}@{}{suffix}.{rest}", f.task.id, f.task.state));
        repo.touch(&f.task.path);
        repo.touch(&to);
        match fsutil::rename_noreplace(&f.task.path, &to) {
            Ok(()) => {
                repo.defer_sync(&to);
                repo.defer_sync(&f.task.path);
                repo.forget_active();
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("moving", &f.task.path, e)),
        }
    }
    Ok(false)
}
