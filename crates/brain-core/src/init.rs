//! `brain init`: create the brain repo of SPEC §1, never overwriting a file that exists.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::config::CONFIG_FILE;
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::git::{self, Git};
use crate::store::templates;
use crate::store::{LOCAL_DIR, Repo};
use crate::task::State;
use crate::task::newtask;

/// What `init` did.
#[derive(Debug, Default, serde::Serialize)]
pub struct InitReport {
    pub root: PathBuf,
    /// Files created, relative to the root.
    pub created: Vec<PathBuf>,
    /// Whether `git init` ran.
    pub git_initialized: bool,
    /// The commit made of the created files.
    pub commit: Option<String>,
    /// The ids of the example tasks, when they were added.
    pub example: Vec<String>,
    /// With `--example`, the agent brain.toml's `[run]` was set to (when brain.toml was new).
    pub run_agent: Option<String>,
    /// Set when git is not installed, so nothing was committed.
    pub git_missing: bool,
}

/// The agent `brain init --example` sets under `[run]`: Claude Code where `claude` is
/// installed, else the example agent.
pub fn example_run_agent() -> &'static str {
    if fsutil::on_path("claude") {
        "claude-code"
    } else {
        "example-agent"
    }
}

/// The files of a new brain repo, relative to its root. With `example` (the agent to set under
/// `[run]`), `brain.toml` also gets the example agent, whose scripts are added to `agents/`.
pub fn skeleton(example: Option<&str>) -> Vec<(PathBuf, std::borrow::Cow<'static, str>)> {
    let mut files: Vec<(PathBuf, std::borrow::Cow<'static, str>)> =
        vec![(CONFIG_FILE.into(), templates::brain_toml(example).into())];
    if example.is_some() {
        files.push((
            "agents/example-agent.sh".into(),
            templates::EXAMPLE_AGENT_SH.into(),
        ));
        files.push((
            "agents/example-agent.ps1".into(),
            templates::EXAMPLE_AGENT_PS1.into(),
        ));
        files.push(("context/priorities.md".into(), templates::PRIORITIES.into()));
    }
    for s in State::ALL {
        files.push((
            PathBuf::from(format!("tasks/{}/.gitkeep", s.as_str())),
            "".into(),
        ));
    }
    files.extend([
        (
            PathBuf::from("agents/overnight.md"),
            templates::OVERNIGHT_PROMPT.into(),
        ),
        (
            "context/active-agent.md".into(),
            templates::ACTIVE_AGENT_HEADER.into(),
        ),
        ("context/handoff.md".into(), templates::HANDOFF.into()),
        ("context/usage.md".into(), templates::USAGE.into()),
        (
            "prompts/pending.md".into(),
            templates::PROMPTS_PENDING.into(),
        ),
        (
            "prompts/answered.md".into(),
            templates::PROMPTS_ANSWERED.into(),
        ),
        ("logs/.gitkeep".into(), "".into()),
        (".gitignore".into(), templates::GITIGNORE.into()),
    ]);
    files
}

/// Creates (or completes) the brain repo in `dir`.
pub fn init(dir: &Path, example: bool, now: Timestamp) -> Result<InitReport> {
    fs::create_dir_all(dir).at("creating", dir)?;
    let root = std::path::absolute(dir).at("resolving", dir)?;
    let mut report = InitReport {
        root: root.clone(),
        ..Default::default()
    };
    let local = root.join(LOCAL_DIR);
    fs::create_dir_all(&local).at("creating", &local)?;
    let local_ignore = local.join(".gitignore");
    if !local_ignore.exists() {
        fsutil::write_atomic(&local_ignore, templates::LOCAL_GITIGNORE.as_bytes())?;
    }
    let run_agent = example.then(example_run_agent);
    for (rel, content) in skeleton(run_agent) {
        let path = fsutil::join_rel(&root, &rel.to_string_lossy());
        if fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).at("creating", parent)?;
        }
        match fsutil::create_atomic(&path, content.as_bytes()) {
            Ok(()) => {
                if rel == Path::new(CONFIG_FILE) {
                    report.run_agent = run_agent.map(str::to_string);
                }
                report.created.push(rel)
            }
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    // init commits what it created itself, below, in a repository that may have no commit yet.
    let repo = Repo::open(&root)?.without_commits();
    if example {
        let mut ignored = Vec::new();
        let mut empty = true;
        for s in State::ALL {
            empty &= repo.entries(s, &mut ignored)?.is_empty();
        }
        if empty {
            let locked = repo.lock()?;
            for task in newtask::examples() {
                let (id, path) = locked.create_pending(now, |id| task.render(id, now))?;
                report
                    .created
                    .push(PathBuf::from(crate::fsutil::shown_in(&root, &path)));
                report.example.push(id);
            }
        }
    }
    if report.created.is_empty() {
        return Ok(report);
    }
    if !git::available() {
        report.git_missing = true;
        return Ok(report);
    }
    let git = match Git::detect(&root, &local) {
        Some(g) => g,
        None => {
            report.git_initialized = true;
            Git::init(&root, &local)?
        }
    };
    let message = if report.created.iter().any(|p| p == Path::new(CONFIG_FILE)) {
        "brain init: create the brain repo".to_string()
    } else {
        "brain init: add missing brain files".to_string()
    };
    report.commit = git.commit_paths(&report.created, &message)?;
    Ok(report)
}
