//! Git, through the `git` program (so credential helpers, `~/.ssh/config` and pre-push hooks
//! behave as the user expects): finding the work tree and checking it is ready (this file),
//! running git (`cmd`), brain's commits of exactly the paths it names (`commit`, with the trees
//! edited in process in `tree` and git's object store in `objects`), looking without changing
//! (`inspect`), and a remote (`sync`).
//!
//! Knows nothing of the queue: it uses only `fsutil` and `error`. Whatever the user staged or
//! left unstaged is never committed, reset or lost; HEAD and the user's index move together.

pub(crate) mod cmd;
mod commit;
mod history;
mod inspect;
pub(crate) mod objects;
mod sync;
pub(crate) mod tree;

pub use cmd::available;
pub use commit::GC_AUTO;
pub use history::{Commit, MACHINE_TRAILER};
pub use sync::Push;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::git::cmd::{command, run, stdout};

/// A git work tree that contains a brain repo.
#[derive(Debug, Clone)]
pub struct Git {
    /// The brain repo root; git runs here, and paths are relative to it.
    pub(crate) root: PathBuf,
    /// Where brain keeps its private index.
    pub(crate) scratch: PathBuf,
    /// Set once a commit failed for want of an identity: brain's own is used from then on.
    pub(crate) no_identity: std::sync::OnceLock<()>,
    /// HEAD as last seen by [`Git::check_ready`] or set by brain's own commits, saving a
    /// `rev-parse` per commit. A stale value is harmless: every ref update is a compare-and-swap.
    pub(crate) head_hint: std::sync::Arc<std::sync::Mutex<Option<Head>>>,
    /// Where the brain root is in the work tree (`sub/dir/`, or empty at its top), as
    /// [`Git::check_ready`] found it.
    pub(crate) prefix: std::sync::OnceLock<String>,
    /// The repository's object store, as [`Git::check_ready`] found it.
    pub(crate) objects: std::sync::OnceLock<PathBuf>,
    /// Edit commits' trees in process (only while the queue lock serializes commits; see
    /// `gittree.rs`).
    pub(crate) edit_trees: bool,
    /// The settings of the user's git configuration that brain honours, read once.
    pub(crate) settings: std::sync::OnceLock<Settings>,
}

/// What brain reads of the user's git configuration.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `commit.gpgSign`: brain signs its commits too.
    pub sign: bool,
    /// `gc.auto` is set.
    pub gc_auto: bool,
    /// `core.hooksPath`.
    pub hooks_path: Option<String>,
}

/// How long brain waits for the user's git index while another git command holds
/// `index.lock` (an IDE or a shell prompt running `git status` holds it for milliseconds at a
/// time) before it gives up on the command at hand.
pub const INDEX_WAIT: Duration = Duration::from_secs(3);

/// Whether a git error says the index is locked by another git command.
fn index_busy(message: &str) -> bool {
    message.contains("index.lock")
}

/// A commit, and its tree when known.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) commit: String,
    pub(crate) tree: Option<String>,
}

impl Git {
    /// The git work tree holding `root`, if `root` is inside one: a `.git` folder (or file, for
    /// a linked work tree or a submodule) in `root` or a folder above it. Found without running
    /// git, since every command needs to know; [`Git::check_ready`] runs git before anything
    /// is committed and reports what git says if it disagrees.
    pub fn detect(root: &Path, scratch: &Path) -> Option<Git> {
        (root.ancestors().any(|d| d.join(".git").exists()) && crate::fsutil::on_path("git"))
            .then(|| Git::at(root, scratch))
    }

    /// The work tree at `root`, with brain's scratch folder `scratch`, nothing known of it yet.
    fn at(root: &Path, scratch: &Path) -> Git {
        Git {
            root: root.to_path_buf(),
            scratch: scratch.to_path_buf(),
            no_identity: std::sync::OnceLock::new(),
            head_hint: Default::default(),
            prefix: std::sync::OnceLock::new(),
            objects: std::sync::OnceLock::new(),
            edit_trees: false,
            settings: std::sync::OnceLock::new(),
        }
    }

    /// Builds commits' trees in process (see `gittree.rs`), so that a commit does not read and
    /// write a whole index. Only for commits serialized by the queue lock.
    pub fn with_tree_editing(mut self) -> Git {
        self.edit_trees = true;
        self
    }

    /// Runs `git init` in `root` and returns the new work tree.
    pub fn init(root: &Path, scratch: &Path) -> Result<Git> {
        let mut c = command(root);
        c.args(["init", "-q"]);
        run(c, "init")?;
        Ok(Git::at(root, scratch))
    }

    pub(crate) fn cmd(&self) -> Command {
        command(&self.root)
    }

    /// Runs a git command that writes the user's index, again and again while another git
    /// command holds `index.lock`, for up to [`INDEX_WAIT`].
    pub(crate) fn run_on_index(&self, make: impl Fn() -> Command, what: &str) -> Result<Output> {
        let start = Instant::now();
        loop {
            match run(make(), what) {
                Err(Error::Git { message, .. })
                    if index_busy(&message) && start.elapsed() < INDEX_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(1 + crate::random_u64() % 8));
                }
                Err(Error::Git { command, message }) if index_busy(&message) => {
                    return Err(Error::Git {
                        command,
                        message: self.index_locked_message(),
                    });
                }
                other => return other,
            }
        }
    }

    fn index_locked_message(&self) -> String {
        let lock = self
            .git_dir()
            .map(|d| d.join("index.lock").display().to_string())
            .unwrap_or_else(|_| ".git/index.lock".into());
        format!(
            "the git index is locked: {lock} was there for all of {} s that brain waited (another git command is running, or one was killed and left it behind; if no git command is running, remove it)",
            INDEX_WAIT.as_secs()
        )
    }

    /// The settings of the user's git configuration that brain honours (one `git config`).
    pub fn settings(&self) -> &Settings {
        self.settings.get_or_init(|| {
            let mut c = self.cmd();
            c.args([
                "config",
                "-z",
                "--get-regexp",
                r"^(commit\.gpgsign|gc\.auto|core\.hookspath)$",
            ]);
            let mut s = Settings::default();
            let Ok(out) = c.stderr(Stdio::null()).output() else {
                return s;
            };
            for item in out.stdout.split(|&b| b == 0).filter(|i| !i.is_empty()) {
                let item = String::from_utf8_lossy(item);
                let (key, value) = item.split_once('\n').unwrap_or((&item, "true"));
                match key.to_ascii_lowercase().as_str() {
                    "commit.gpgsign" => {
                        s.sign = matches!(
                            value.trim().to_ascii_lowercase().as_str(),
                            "true" | "yes" | "on" | "1"
                        )
                    }
                    "gc.auto" => s.gc_auto = true,
                    "core.hookspath" => s.hooks_path = Some(value.to_string()),
                    _ => {}
                }
            }
            s
        })
    }

    pub(crate) fn rev(&self, spec: &str) -> Result<Option<String>> {
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

    /// Refuses to go on where a commit of brain's would land somewhere unexpected: in the
    /// middle of a merge, rebase, cherry-pick or revert, on a detached HEAD, or in a repository
    /// with no commits yet. Checked before a transition changes anything.
    pub fn check_ready(&self) -> Result<()> {
        let mut c = self.cmd();
        // Prints the git folder, where the brain root is in the work tree, the object store,
        // the commit of HEAD and its tree (failing on an unborn branch), and the name HEAD
        // points at (`HEAD` itself when detached).
        c.args([
            "rev-parse",
            "--absolute-git-dir",
            "--show-prefix",
            "--git-path",
            "objects",
            "HEAD",
            "HEAD^{tree}",
            "--symbolic-full-name",
            "HEAD",
        ]);
        let out = c.output().at("running git in", &self.root)?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let git_dir = PathBuf::from(lines.next().unwrap_or_default());
        let prefix = lines.next().unwrap_or_default().to_string();
        let objects = self.root.join(lines.next().unwrap_or_default());
        let head = lines.next().map(str::to_string);
        let tree = lines.next().map(str::to_string);
        let head_ref = lines.next().unwrap_or_default().to_string();
        if !out.status.success() && !git_dir.is_dir() {
            // Not a repository after all, or one git will not use (dubious ownership).
            return Err(Error::Git {
                command: "rev-parse".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
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
        if !out.status.success() || head.is_none() {
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
        // Paths in trees are bytes; one that does not read as UTF-8 is left to git's index.
        if std::str::from_utf8(&out.stdout).is_ok() {
            let _ = self.prefix.set(prefix);
        }
        let _ = self.objects.set(objects);
        self.set_head_hint(head.map(|commit| Head { commit, tree }));
        Ok(())
    }

    pub(crate) fn set_head_hint(&self, head: Option<Head>) {
        if let Ok(mut h) = self.head_hint.lock() {
            *h = head;
        }
    }

    /// HEAD and its tree, as brain last saw them or from git; `None` on an unborn branch.
    pub(crate) fn take_head(&self) -> Result<Option<Head>> {
        let hint = self.head_hint.lock().ok().and_then(|mut h| h.take());
        if let Some(Head { tree: Some(_), .. }) = hint {
            return Ok(hint);
        }
        // `HEAD`, or a commit id: never an option.
        let spec = hint.map_or_else(|| "HEAD".to_string(), |h| h.commit);
        let mut c = self.cmd();
        c.args(["rev-parse", &spec, &format!("{spec}^{{tree}}")]);
        let out = c.output().at("running git in", &self.root)?;
        if !out.status.success() {
            // An unborn branch: no commit yet.
            return Ok(None);
        }
        let text = stdout(&out);
        let mut lines = text.lines().map(str::to_string);
        Ok(lines.next().map(|commit| Head {
            commit,
            tree: lines.next(),
        }))
    }
}

impl Git {
    /// The commit HEAD points at, if any.
    pub fn head(&self) -> Result<Option<String>> {
        self.rev("HEAD")
    }
}
