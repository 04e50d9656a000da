//! Git through the `git` binary, so credential helpers, `~/.ssh/config` and hooks behave as the
//! user expects. Commits hold exactly the paths brain names: they are built in a private index
//! (`GIT_INDEX_FILE`), so whatever the user has staged or left unstaged is never committed,
//! reset or lost.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::{Error, IoContext, Result};

/// A git work tree that contains a brain repo.
#[derive(Debug, Clone)]
pub struct Git {
    /// The brain repo root; git runs here, and paths are relative to it.
    root: PathBuf,
    /// Where brain keeps its private index.
    scratch: PathBuf,
    /// Whether the user has a git identity (asked once).
    has_identity: std::sync::OnceLock<bool>,
    /// Keep the private index between commits (only while the queue lock serializes them).
    persistent: bool,
}

fn git_cmd(cwd: &Path) -> Command {
    let mut c = Command::new("git");
    c.current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null());
    c
}

fn run(mut cmd: Command, what: &str) -> Result<Output> {
    let out = cmd.output().map_err(|e| Error::Git {
        command: what.to_string(),
        message: if e.kind() == std::io::ErrorKind::NotFound {
            "the `git` program was not found; install git or put it on PATH".into()
        } else {
            e.to_string()
        },
    })?;
    if !out.status.success() {
        return Err(Error::Git {
            command: what.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the `git` program can be run.
pub fn available() -> bool {
    Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Git {
    /// The git work tree holding `root`, if `root` is inside one (and git is installed).
    pub fn detect(root: &Path, scratch: &Path) -> Option<Git> {
        let mut c = git_cmd(root);
        c.args(["rev-parse", "--is-inside-work-tree"]);
        let out = c.stderr(Stdio::null()).output().ok()?;
        (out.status.success() && stdout(&out) == "true").then(|| Git {
            root: root.to_path_buf(),
            scratch: scratch.to_path_buf(),
            has_identity: std::sync::OnceLock::new(),
            persistent: false,
        })
    }

    /// Keeps the private index in the scratch folder between commits, so that a commit does not
    /// read the whole tree of HEAD again; it is re-read only when HEAD moved (a commit that was
    /// not brain's). Only for commits serialized by the queue lock.
    pub fn with_persistent_index(mut self) -> Git {
        self.persistent = true;
        self
    }

    /// Runs `git init` in `root` and returns the new work tree.
    pub fn init(root: &Path, scratch: &Path) -> Result<Git> {
        let mut c = git_cmd(root);
        c.args(["init", "-q"]);
        run(c, "init")?;
        Ok(Git {
            root: root.to_path_buf(),
            scratch: scratch.to_path_buf(),
            has_identity: std::sync::OnceLock::new(),
            persistent: false,
        })
    }

    fn cmd(&self) -> Command {
        git_cmd(&self.root)
    }

    fn rev(&self, spec: &str) -> Result<Option<String>> {
        let mut c = self.cmd();
        c.args(["rev-parse", "-q", "--verify", spec]);
        let out = c.output().at("running git in", &self.root)?;
        Ok(out.status.success().then(|| stdout(&out)))
    }

    /// The repository's git folder (`.git`, or where a work tree's `.git` file points).
    pub fn git_dir(&self) -> Result<PathBuf> {
        let mut c = self.cmd();
        c.args(["rev-parse", "--absolute-git-dir"]);
        Ok(PathBuf::from(stdout(&run(c, "rev-parse")?)))
    }

    /// Lock files git leaves when one of its commands is killed (`index.lock`, `HEAD.lock`,
    /// `refs/heads/<branch>.lock`), with their age in seconds. While one is there, commits fail.
    pub fn lock_files(&self) -> Result<Vec<(PathBuf, u64)>> {
        let dir = self.git_dir()?;
        let mut found = Vec::new();
        let mut candidates = vec![dir.join("index.lock"), dir.join("HEAD.lock")];
        let heads = dir.join("refs").join("heads");
        let mut stack = vec![heads];
        while let Some(d) = stack.pop() {
            let Ok(read) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in read.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "lock") {
                    candidates.push(p);
                }
            }
        }
        for p in candidates {
            if let Ok(md) = std::fs::metadata(&p) {
                let age = md
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .map_or(0, |a| a.as_secs());
                found.push((p, age));
            }
        }
        Ok(found)
    }

    /// Refuses to go on where a commit of brain's would land somewhere unexpected: in the
    /// middle of a merge, rebase, cherry-pick or revert, on a detached HEAD, or in a repository
    /// with no commits yet. Checked before a transition changes anything.
    pub fn check_ready(&self) -> Result<()> {
        let mut c = self.cmd();
        c.args([
            "rev-parse",
            "--absolute-git-dir",
            "--symbolic-full-name",
            "HEAD",
        ]);
        let out = c.output().at("running git in", &self.root)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let git_dir = PathBuf::from(lines.next().unwrap_or_default());
        let head_ref = lines.next().unwrap_or_default().to_string();
        let refuse = |what: &str, fix: &str| Error::Git {
            command: "status".into(),
            message: format!(
                "the repository at {} is {what}; brain commits every change to the queue and will not do so now. {fix}, then run the command again",
                self.root.display()
            ),
        };
        for (marker, what, fix) in [
            (
                "MERGE_HEAD",
                "in the middle of a merge",
                "Finish it (git commit) or abort it (git merge --abort)",
            ),
            (
                "rebase-merge",
                "in the middle of a rebase",
                "Finish it (git rebase --continue) or abort it (git rebase --abort)",
            ),
            (
                "rebase-apply",
                "in the middle of a rebase or `git am`",
                "Finish or abort it",
            ),
            (
                "CHERRY_PICK_HEAD",
                "in the middle of a cherry-pick",
                "Finish it or abort it (git cherry-pick --abort)",
            ),
            (
                "REVERT_HEAD",
                "in the middle of a revert",
                "Finish it or abort it (git revert --abort)",
            ),
        ] {
            if git_dir.join(marker).exists() {
                return Err(refuse(what, fix));
            }
        }
        // An unborn branch also reads as `HEAD` here, so "no commit yet" is checked first.
        if !out.status.success() || self.rev("HEAD")?.is_none() {
            return Err(refuse(
                "without any commit yet",
                "Make a first commit (git commit --allow-empty -m init)",
            ));
        }
        if head_ref == "HEAD" {
            return Err(refuse(
                "on a detached HEAD",
                "Check out a branch (git switch <branch>)",
            ));
        }
        Ok(())
    }

    /// Sets a fallback identity where the user has none, so brain works without one.
    fn identity(&self, c: &mut Command) {
        let has_ident = *self.has_identity.get_or_init(|| {
            let mut probe = self.cmd();
            probe
                .args(["var", "GIT_COMMITTER_IDENT"])
                .stderr(Stdio::null());
            probe.output().is_ok_and(|o| o.status.success())
        });
        if !has_ident {
            for (k, v) in [
                ("GIT_AUTHOR_NAME", "brain"),
                ("GIT_AUTHOR_EMAIL", "brain@localhost"),
                ("GIT_COMMITTER_NAME", "brain"),
                ("GIT_COMMITTER_EMAIL", "brain@localhost"),
            ] {
                c.env(k, v);
            }
        }
    }

    /// Commits exactly `paths` (relative to the brain root; added, changed or deleted) on top of
    /// HEAD with `message`, and updates the user's index for those paths only. Returns the new
    /// commit, or `None` when the paths were unchanged.
    pub fn commit_paths<P: AsRef<OsStr>>(
        &self,
        paths: &[P],
        message: &str,
    ) -> Result<Option<String>> {
        std::fs::create_dir_all(&self.scratch).at("creating", &self.scratch)?;
        let index = if self.persistent {
            // The queue lock is held, so a lock file left here was left by a killed process.
            let _ = std::fs::remove_file(self.scratch.join("index.lock"));
            self.scratch.join("index")
        } else {
            self.scratch.join(format!("index.{}", std::process::id()))
        };
        let base_file = self.scratch.join("index.base");
        let _cleanup = (!self.persistent).then(|| RemoveOnDrop(index.clone()));
        // Until this commit is through, the index is not known to match any commit.
        let base = if self.persistent {
            let b = std::fs::read_to_string(&base_file).unwrap_or_default();
            let _ = std::fs::remove_file(&base_file);
            b
        } else {
            String::new()
        };
        let with_index = |args: &[&OsStr]| {
            let mut c = self.cmd();
            c.env("GIT_INDEX_FILE", &index).args(args);
            c
        };
        let head = self.rev("HEAD")?;
        // `index.base` holds "<commit> <tree>" of the commit the persistent index matches.
        let mut base_parts = base.split_whitespace();
        let (base_commit, base_tree) = (base_parts.next(), base_parts.next().map(str::to_string));
        let head_tree = if head.is_some() && base_commit == head.as_deref() && index.exists() {
            base_tree
        } else {
            let read_tree = match &head {
                Some(h) => with_index(&["read-tree".as_ref(), h.as_ref()]),
                None => with_index(&["read-tree".as_ref(), "--empty".as_ref()]),
            };
            run(read_tree, "read-tree")?;
            match &head {
                Some(h) => self.rev(&format!("{h}^{{tree}}"))?,
                None => None,
            }
        };
        let mut add = with_index(&[
            "update-index".as_ref(),
            "--add".as_ref(),
            "--remove".as_ref(),
            "--".as_ref(),
        ]);
        add.args(paths);
        run(add, "update-index")?;
        let tree = stdout(&run(with_index(&["write-tree".as_ref()]), "write-tree")?);
        let remember = |commit: &str| {
            if self.persistent {
                let _ = std::fs::write(&base_file, format!("{commit} {tree}"));
            }
        };
        if let Some(h) = &head
            && head_tree.as_deref() == Some(tree.as_str())
        {
            remember(h);
            return Ok(None);
        }
        let mut commit = self.cmd();
        commit.args(["commit-tree", &tree, "-m", message]);
        if let Some(h) = &head {
            commit.args(["-p", h]);
        }
        self.identity(&mut commit);
        let new = stdout(&run(commit, "commit-tree")?);
        let mut update = self.cmd();
        update.args(["update-ref", "-m", message, "HEAD", &new]);
        // Compare-and-swap: refuse if HEAD moved since we read it.
        update.arg(
            head.as_deref()
                .unwrap_or("0000000000000000000000000000000000000000"),
        );
        run(update, "update-ref")?;
        remember(&new);
        // Bring the user's index in line for brain's paths only, so `git status` stays clean
        // for them and shows the user's own work exactly as before.
        let mut sync = self.cmd();
        sync.args(["update-index", "--add", "--remove", "--"])
            .args(paths);
        // Best effort: the commit is made; if the user's index is busy (their own git command
        // holds index.lock), `git status` shows brain's paths as changed until the next commit.
        let _ = sync.stderr(Stdio::null()).status();
        Ok(Some(new))
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
