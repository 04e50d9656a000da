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
        })
    }

    /// Runs `git init` in `root` and returns the new work tree.
    pub fn init(root: &Path, scratch: &Path) -> Result<Git> {
        let mut c = git_cmd(root);
        c.args(["init", "-q"]);
        run(c, "init")?;
        Ok(Git {
            root: root.to_path_buf(),
            scratch: scratch.to_path_buf(),
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

    /// Sets a fallback identity where the user has none, so brain works without one.
    fn identity(&self, c: &mut Command) {
        let mut probe = self.cmd();
        probe
            .args(["var", "GIT_COMMITTER_IDENT"])
            .stderr(Stdio::null());
        let has_ident = probe.output().is_ok_and(|o| o.status.success());
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
        let index = self.scratch.join(format!("index.{}", std::process::id()));
        let _cleanup = RemoveOnDrop(index.clone());
        let with_index = |args: &[&OsStr]| {
            let mut c = self.cmd();
            c.env("GIT_INDEX_FILE", &index).args(args);
            c
        };
        let head = self.rev("HEAD")?;
        let read_tree = match &head {
            Some(h) => with_index(&["read-tree".as_ref(), h.as_ref()]),
            None => with_index(&["read-tree".as_ref(), "--empty".as_ref()]),
        };
        run(read_tree, "read-tree")?;
        let mut add = with_index(&[
            "update-index".as_ref(),
            "--add".as_ref(),
            "--remove".as_ref(),
            "--".as_ref(),
        ]);
        add.args(paths);
        run(add, "update-index")?;
        let tree = stdout(&run(with_index(&["write-tree".as_ref()]), "write-tree")?);
        if let Some(h) = &head
            && self.rev(&format!("{h}^{{tree}}"))?.as_deref() == Some(tree.as_str())
        {
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
        // Bring the user's index in line for brain's paths only, so `git status` stays clean
        // for them and shows the user's own work exactly as before.
        let mut sync = self.cmd();
        sync.args(["update-index", "--add", "--remove", "--"])
            .args(paths);
        run(sync, "update-index")?;
        Ok(Some(new))
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
