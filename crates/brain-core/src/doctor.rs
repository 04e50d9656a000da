//! `brain doctor`: check every file of the repo, and repair what is safe to repair.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::frontmatter::FieldValue;
use crate::fsutil;
use crate::init;
use crate::repo::{LockedRepo, Name, classify};
use crate::task::State;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A folder or file of the repo's layout is missing.
    Missing,
    /// A task file does not parse.
    Parse,
    /// `status` disagrees with the folder.
    Status,
    /// The `id` field disagrees with the file name.
    IdField,
    /// One id has files in more than one place.
    Duplicate,
    /// A temporary file left by an interrupted write.
    Temporary,
    /// A file name that is not a valid task name.
    BadName,
    /// A transition that was interrupted half-way (the file's `status` names the folder it was
    /// going to); `--fix` completes it.
    Interrupted,
    /// A gated task without an approval request in prompts/.
    Approval,
    /// A lock file left in `.git` by a git command that was killed; commits fail while it is
    /// there.
    GitLock,
}

/// A git lock file older than this (seconds) was left by a killed command: a running git
/// command holds one for milliseconds.
pub const STALE_GIT_LOCK_SECS: u64 = 60;

/// One problem, and whether `--fix` repaired it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub path: PathBuf,
    pub message: String,
    pub fixed: bool,
}

/// The outcome of a check.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub tasks_checked: usize,
}

impl Report {
    /// Healthy when every finding was fixed (or there were none).
    pub fn healthy(&self) -> bool {
        self.findings.iter().all(|f| f.fixed)
    }

    fn add(&mut self, check: Check, path: PathBuf, message: impl Into<String>, fixed: bool) {
        self.findings.push(Finding {
            check,
            path,
            message: message.into(),
            fixed,
        });
    }
}

/// Checks the repo; with `fix`, repairs what is safe: missing folders and files, leftover
/// temporary files, `status` and `id` fields that disagree with the file's place. It never
/// rewrites, moves or deletes a task file it cannot parse, and leaves duplicates and bad names
/// to a person.
pub fn doctor(repo: &LockedRepo<'_>, fix: bool, now: jiff::Timestamp) -> Result<Report> {
    let mut report = Report::default();
    let root = repo.root().to_path_buf();
    if fix {
        repo.forget_active();
        for note in repo.recover(now)? {
            report.add(
                Check::Interrupted,
                repo.state_dir(State::Active),
                note,
                true,
            );
        }
    }
    if let Some(git) = repo.git() {
        for (path, age) in git.lock_files()? {
            let stale = age >= STALE_GIT_LOCK_SECS;
            let fixed = fix && stale && fs::remove_file(&path).is_ok();
            let what = if stale {
                format!(
                    "left by a git command that was killed ({age} s old); commits fail while it is there; `--fix` removes it"
                )
            } else {
                format!("a git command holds it ({age} s old); if none is running, remove it")
            };
            report.add(Check::GitLock, path, what, fixed);
        }
    }
    let approvals: std::collections::HashSet<String> = crate::questions::all(repo)?
        .into_iter()
        .filter(|q| q.kind == crate::prompts::Kind::Approval)
        .filter_map(|q| q.task)
        .collect();
    for (rel, content) in init::skeleton(false) {
        let path = root.join(&rel);
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        let fixed = fix && {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).at("creating", parent)?;
            }
            repo.touch(&path);
            match fsutil::create_atomic(&path, content.as_bytes()) {
                Ok(()) => true,
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    true
                }
                Err(e) => return Err(e),
            }
        };
        report.add(
            Check::Missing,
            rel,
            "missing; `brain doctor --fix` creates it",
            fixed,
        );
    }
    let mut seen: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for state in State::ALL {
        let dir = repo.state_dir(state);
        let read = match fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("reading folder", &dir, e)),
        };
        let mut names = Vec::new();
        for ent in read {
            names.push(ent.at("reading folder", &dir)?.file_name());
        }
        names.sort();
        for os_name in names {
            let path = dir.join(&os_name);
            let Some(name) = os_name.to_str() else {
                report.add(
                    Check::BadName,
                    path,
                    "the file name is not valid UTF-8; rename it",
                    false,
                );
                continue;
            };
            let (id, agent) = match classify(state, name) {
                Name::Task { id, agent } => (id, agent),
                Name::Ignored => continue,
                Name::Temporary => {
                    let fixed = fix && fs::remove_file(&path).is_ok();
                    report.add(
                        Check::Temporary,
                        path,
                        "a temporary file left by an interrupted write; `--fix` removes it",
                        fixed,
                    );
                    continue;
                }
                Name::Bad(why) => {
                    report.add(Check::BadName, path, why, false);
                    continue;
                }
            };
            seen.entry(id.clone()).or_default().push(path.clone());
            report.tasks_checked += 1;
            let entry = crate::repo::Entry {
                id: id.clone(),
                state,
                agent,
                path: path.clone(),
            };
            let mut file = match repo.read(&entry) {
                Ok(f) => f,
                Err(e) => {
                    let what = match e {
                        Error::Parse { line, message, .. } => format!("line {line}: {message}"),
                        other => other.to_string(),
                    };
                    report.add(
                        Check::Parse,
                        path,
                        format!(
                            "{what}; fix it by hand (brain never rewrites a file it cannot parse)"
                        ),
                        false,
                    );
                    continue;
                }
            };
            let mut changed = false;
            let interrupted = if state == State::Active {
                crate::lifecycle::unfinished_move(&file.task)
            } else {
                None
            };
            if let Some(to) = interrupted {
                report.add(
                    Check::Interrupted,
                    path.clone(),
                    format!("a move to tasks/{to}/ was interrupted; `--fix` completes it"),
                    false,
                );
            } else if crate::lifecycle::is_hand_claim(&file.task) {
                // Moved in by hand: a valid claim, which the next transition fills in.
            } else if file.task.meta.status.as_deref() != Some(state.as_str()) {
                let msg = format!(
                    "`status` is {} but the file is in tasks/{state}/ (the folder wins)",
                    file.task
                        .meta
                        .status
                        .as_deref()
                        .map_or("missing".into(), |s| format!("`{s}`"))
                );
                let fixed = fix
                    && file
                        .set("status", FieldValue::Str(state.as_str().into()))
                        .is_ok();
                changed |= fixed;
                report.add(Check::Status, path.clone(), msg, fixed);
            }
            if let Some(field) = file.task.meta.id.clone().filter(|f| *f != id) {
                let fixed = fix && file.set("id", FieldValue::Str(id.clone())).is_ok();
                changed |= fixed;
                report.add(
                    Check::IdField,
                    path.clone(),
                    format!("`id` is `{field}` but the file name says `{id}` (the name wins)"),
                    fixed,
                );
            }
            if state == State::Pending
                && file.task.meta.approval == Some(crate::task::Approval::Required)
                && !approvals.contains(&id)
            {
                let fixed = fix && {
                    if changed {
                        repo.replace_file(&path, file.doc.text().as_bytes())?;
                        changed = false;
                    }
                    crate::questions::request_approval(repo, &id, &file.task.title, now)?.is_some()
                };
                report.add(
                    Check::Approval,
                    path.clone(),
                    "`approval: required` but no approval request in prompts/; `--fix` adds one",
                    fixed,
                );
            }
            if changed {
                repo.replace_file(&path, file.doc.text().as_bytes())?;
            }
        }
    }
    for (id, paths) in seen.into_iter().filter(|(_, p)| p.len() > 1) {
        let list = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        report.add(
            Check::Duplicate,
            paths[0].clone(),
            format!("task `{id}` has {} files: {list}; keep the right one and move the others out of tasks/", paths.len()),
            false,
        );
    }
    let fixed = report.findings.iter().filter(|f| f.fixed).count();
    // While a git lock file is still there, a commit would fail: the repairs wait on disk
    // (listed in .brain/uncommitted) for the next commit.
    let locked_git = report
        .findings
        .iter()
        .any(|f| f.check == Check::GitLock && !f.fixed);
    if fix && !locked_git {
        repo.commit_leftovers(&format!("doctor: repair {fixed} problem(s)"))?;
    }
    Ok(report)
}
