//! `brain doctor`: check every file of the repo, and repair what is safe to repair.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::init;
use crate::queue::{Kind, LockedRepo, Transaction};
use crate::store::{Entry, Name, classify};
use crate::task::State;
use crate::task::frontmatter::FieldValue;

mod duplicates;
use duplicates::duplicates;

/// What kind of problem a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// A folder or file of the repo's layout is missing.
    Missing,
    /// A task file does not parse.
    Parse,
    /// A path brain reads is a symbolic link, a named pipe, a device: brain never follows or
    /// opens those.
    Special,
    /// `status` disagrees with the folder.
    Status,
    /// The `id` field disagrees with the file name.
    IdField,
    /// One id has files in more than one place (ids that differ only in case are one id).
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
    /// HEAD, the user's git index and the folder disagree about one of brain's files: the
    /// user's next `git commit` would record an old view of the queue, or a clone would not
    /// see what is here.
    Drift,
    /// Git commit hooks that do not run for brain's own commits.
    Hooks,
    /// Something in a task file or in prompts/ that brain reads differently than a person
    /// might expect (a misspelt field, an answer that is neither yes nor no).
    Reading,
    /// A usage file in context/ that cannot be read: usage is not recorded there.
    Usage,
    /// A pending task requires a capability no agent of brain.toml has.
    Capability,
    /// A Claude Code hook (in a settings file the front end reads) names a program that is not
    /// there: Claude Code would fail it silently at every session.
    Hook,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something is wrong; the repo is unhealthy until it is repaired.
    Problem,
    /// Worth knowing; nothing is wrong with the queue.
    Warning,
}

/// A git lock file older than this (seconds) was left by a killed command: a running git
/// command holds one for milliseconds.
pub const STALE_GIT_LOCK_SECS: u64 = 60;

/// Where `doctor --fix` puts a file it takes out of the queue because its id has a newer file
/// elsewhere (kept, never deleted; nothing in it is read as a task).
pub const CONFLICTS_DIR: &str = "tasks/conflicts";

/// brain's own files, as git pathspecs relative to the root: what must be the same in HEAD,
/// the user's index and the folder.
pub const OWN_PATHS: &[&str] = &[
    "tasks",
    "context/active-agent.md",
    "context/handoff.md",
    "context/usage.md",
    "context/usage",
    "prompts/pending.md",
    "prompts/answered.md",
    "logs/runs",
    ":(glob)logs/*-overnight.log",
    ":(glob)logs/*-review.md",
    // brain's temporary files are reported (and removed) as such, not as changes.
    ":(exclude,glob)**/.*.brain-tmp.*",
];

/// One problem, and whether `--fix` repaired it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub level: Level,
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
    /// Healthy when every problem was fixed (or there were none); warnings do not count.
    pub fn healthy(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.fixed || f.level == Level::Warning)
    }

    fn add(&mut self, check: Check, path: PathBuf, message: impl Into<String>, fixed: bool) {
        self.findings.push(Finding {
            check,
            level: Level::Problem,
            path,
            message: message.into(),
            fixed,
        });
    }

    /// A warning; front ends add their own (a Claude Code hook naming a missing program).
    pub fn warn(&mut self, check: Check, path: PathBuf, message: impl Into<String>) {
        self.findings.push(Finding {
            check,
            level: Level::Warning,
            path,
            message: message.into(),
            fixed: false,
        });
    }
}

/// `brain doctor` as a transaction: [`doctor`] under the lock, a repair ([`Kind::Repair`],
/// which catches up with the remote and commits) with `fix`, else only a look ([`Kind::Look`],
/// offline, committing nothing).
pub fn run(repo: &crate::store::Repo, fix: bool, now: jiff::Timestamp) -> Transaction<Report> {
    let kind = if fix { Kind::Repair } else { Kind::Look };
    repo.section(kind, now, |l| {
        let report = doctor(l, fix, now)?;
        if fix {
            l.forget_active();
        }
        Ok(report)
    })
}

/// Checks the repo; with `fix`, repairs what is safe: missing folders and files, leftover
/// temporary files, `status` and `id` fields that disagree with the file's place, an id in
/// two places, brain's files that no commit records. It never rewrites, moves or deletes a
/// task file it cannot parse, and leaves bad names and special files to a person.
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
    } else if let Some(rel) = cut_short_claim(repo) {
        report.add(
            Check::Interrupted,
            root.join(&rel),
            "a claim was cut short before its fields were written (nobody got its token); `--fix` (or the next command that changes the queue) puts the task back in pending/",
            false,
        );
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
        let hooks = git.commit_hooks();
        if !hooks.is_empty() {
            let names: Vec<String> = hooks
                .iter()
                .filter_map(|h| h.file_name()?.to_str().map(str::to_string))
                .collect();
            report.warn(
                Check::Hooks,
                hooks[0].parent().unwrap_or(&root).to_path_buf(),
                format!(
                    "the commit hooks {} do not run for brain's own commits (brain commits with `git commit-tree`: a hook would run on every claim and heartbeat, and one that fails or waits for input would stop the queue at night). Your own `git commit` runs them as usual, and `git push` runs pre-push for brain's pushes too",
                    names.join(", ")
                ),
            );
        }
    }
    let approvals: std::collections::HashSet<String> = crate::store::prompts::read_all(repo)?
        .into_iter()
        .filter(|q| q.kind == crate::store::prompts::Kind::Approval)
        .filter_map(|q| q.task)
        .collect();
    for (rel, content) in init::skeleton(None) {
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
    // Every task file by id, ids compared without regard to case.
    let mut seen: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for state in State::ALL {
        let dir = repo.state_dir(state);
        if let Err(e) = repo.check_state_dir(state) {
            report.add(Check::Special, dir, special_message(&e), false);
            continue;
        }
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
                Name::Ignored => {
                    // A link or a pipe that does not even look like a task is still reported:
                    // brain never opens it, and a person should know it is there.
                    if let Err(e) = fsutil::open_regular(&path)
                        && matches!(e, Error::Special { .. })
                        && !name.starts_with('.')
                    {
                        report.add(Check::Special, path, special_message(&e), false);
                    }
                    continue;
                }
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
            report.tasks_checked += 1;
            let entry = Entry {
                id: id.clone(),
                state,
                agent,
                path: path.clone(),
            };
            seen.entry(id.to_ascii_lowercase())
                .or_default()
                .push(entry.clone());
            let mut file = match repo.read(&entry) {
                Ok(f) => f,
                Err(e @ Error::Special { .. }) => {
                    report.add(Check::Special, path, special_message(&e), false);
                    continue;
                }
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
            for w in crate::task::reading_warnings(&file) {
                report.warn(Check::Reading, path.clone(), w);
            }
            if state == State::Pending {
                let unknown = repo.config().unknown_capabilities(&file.task.meta.requires);
                if !unknown.is_empty() {
                    report.warn(
                        Check::Capability,
                        path.clone(),
                        format!(
                            "no agent in brain.toml has {}, so no agent can claim it: give an agent the capability, or fix `requires`",
                            unknown.join(", ")
                        ),
                    );
                }
            }
            let interrupted = if state == State::Active {
                crate::queue::unfinished_move(&file.task)
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
            } else if crate::queue::is_hand_claim(&file.task) {
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
                report.add(Check::Status, path.clone(), msg, fixed);
            }
            if let Some(field) = file.task.meta.id.clone().filter(|f| *f != id) {
                let fixed = fix && file.set("id", FieldValue::Str(id.clone())).is_ok();
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
                    repo.save_task(&mut file)?;
                    crate::human::questions::request_approval(repo, &id, &file.task.title, now)?
                        .is_some()
                };
                report.add(
                    Check::Approval,
                    path.clone(),
                    "`approval: required` but no approval request in prompts/; `--fix` adds one",
                    fixed,
                );
            }
            repo.save_task(&mut file)?;
        }
    }
    for w in crate::store::prompts::reading_warnings(repo)? {
        report.warn(
            Check::Reading,
            crate::fsutil::join_rel(&root, crate::store::prompts::ANSWERED),
            w,
        );
    }
    let (_, usage_problems) = crate::usage::MachineUsage::load_all(&root);
    for p in usage_problems {
        report.warn(
            Check::Usage,
            crate::fsutil::join_rel(&root, crate::usage::MACHINES_DIR),
            p,
        );
    }
    for entries in seen.into_values().filter(|e| e.len() > 1) {
        duplicates(repo, &entries, fix, now, &mut report)?;
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
    if let Some(git) = repo.git() {
        let mut drift = git.drift(OWN_PATHS)?;
        if fix && !drift.is_empty() && !locked_git {
            for (path, _) in &drift {
                repo.touch(&root.join(path));
            }
            repo.commit_leftovers(&format!(
                "doctor: record {} change(s) to brain's files that no commit had",
                drift.len()
            ))?;
            let left = git.drift(OWN_PATHS)?;
            for (path, what) in &drift {
                let fixed = !left.iter().any(|(p, _)| p == path);
                report.add(Check::Drift, root.join(path), drift_message(what), fixed);
            }
            drift.clear();
        }
        let on_their_way = repo.on_their_way();
        for (path, what) in drift {
            if on_their_way.contains(&path) {
                continue;
            }
            report.add(Check::Drift, root.join(path), drift_message(&what), false);
        }
    }
    Ok(report)
}

fn drift_message(what: &str) -> String {
    format!(
        "{what}; `brain doctor --fix` commits brain's files as they are in the folder and brings your git index in line"
    )
}

fn special_message(e: &Error) -> String {
    match e {
        Error::Special { what, .. } => format!(
            "is {what}, not a regular file: brain never follows it or opens it; replace it with a regular file, or remove it"
        ),
        other => other.to_string(),
    }
}

/// The active file `.brain/claiming` names while a claim is under way, when that claim was
/// cut short (see `LockedRepo::claim_one`).
fn cut_short_claim(repo: &LockedRepo<'_>) -> Option<String> {
    let text =
        fs::read_to_string(repo.local_dir().join(crate::queue::CLAIMING)).unwrap_or_default();
    let rel = text.trim();
    if rel.is_empty() {
        return None;
    }
    let path = repo.root().join(rel);
    let name = path.file_name()?.to_str()?;
    let Name::Task { id, agent } = classify(State::Active, name) else {
        return None;
    };
    let f = repo
        .read(&Entry {
            id,
            state: State::Active,
            agent,
            path: path.clone(),
        })
        .ok()?;
    crate::queue::is_hand_claim(&f.task).then(|| rel.to_string())
}
