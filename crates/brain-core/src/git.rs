//! Git through the `git` binary, so credential helpers, `~/.ssh/config` and hooks behave as the
//! user expects. Commits hold exactly the paths brain names: they are built in a private index
//! (`GIT_INDEX_FILE`), so whatever the user has staged or left unstaged is never committed,
//! reset or lost.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, IoContext, Result};
use crate::gittree;

/// A git work tree that contains a brain repo.
#[derive(Debug, Clone)]
pub struct Git {
    /// The brain repo root; git runs here, and paths are relative to it.
    root: PathBuf,
    /// Where brain keeps its private index.
    scratch: PathBuf,
    /// Set once a commit failed for want of an identity: brain's own is used from then on.
    no_identity: std::sync::OnceLock<()>,
    /// HEAD as last seen by [`Git::check_ready`] or set by brain's own commits, saving a
    /// `rev-parse` per commit. A stale value is harmless: every ref update is a compare-and-swap.
    head_hint: std::sync::Arc<std::sync::Mutex<Option<Head>>>,
    /// Where the brain root is in the work tree (`sub/dir/`, or empty at its top), as
    /// [`Git::check_ready`] found it.
    prefix: std::sync::OnceLock<String>,
    /// The repository's object store, as [`Git::check_ready`] found it.
    objects: std::sync::OnceLock<PathBuf>,
    /// Edit commits' trees in process (only while the queue lock serializes commits; see
    /// `gittree.rs`).
    edit_trees: bool,
    /// The settings of the user's git configuration that brain honours, read once.
    settings: std::sync::OnceLock<Settings>,
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
struct Head {
    commit: String,
    tree: Option<String>,
}

/// A `git` command that runs in `cwd`, as every git command brain runs.
pub(crate) fn command(cwd: &Path) -> Command {
    let mut c = Command::new("git");
    // An automatic gc that git starts (or brain's own, see `Git::maintain`) runs to its end
    // inside brain's locked section instead of going on in the background, where it would pack
    // refs and objects under the next transition's feet.
    c.args([
        "-c",
        "gc.autoDetach=false",
        "-c",
        "maintenance.autoDetach=false",
    ]);
    c.current_dir(cwd)
        .env("GIT_TERMINAL_PROMPT", "0")
        // The repository is the one at `cwd`, even when brain runs from a git hook.
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
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
            message: short_message(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(out)
}

/// Git's message, with its paragraph about a lock file (`Unable to create '….lock': File
/// exists. Another git process seems to be running…`) put in one sentence.
fn short_message(stderr: &str) -> String {
    let text = stderr.trim();
    if let Some(start) = text.find("Unable to create '")
        && let Some(len) = text[start + 18..].find("': File exists")
    {
        let lock = &text[start + 18..start + 18 + len];
        return format!(
            "{lock} exists: another git command is running, or one was killed and left it behind (`brain doctor` tells which, and `--fix` removes a stale one)"
        );
    }
    text.to_string()
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

    fn cmd(&self) -> Command {
        command(&self.root)
    }

    /// Runs a git command that writes the user's index, again and again while another git
    /// command holds `index.lock`, for up to [`INDEX_WAIT`].
    fn run_on_index(&self, make: impl Fn() -> Command, what: &str) -> Result<Output> {
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

    /// The commit hooks of this repository that exist (`pre-commit`, `prepare-commit-msg`,
    /// `commit-msg`, `post-commit`): git runs them for `git commit`, not for the plumbing
    /// brain commits with.
    pub fn commit_hooks(&self) -> Vec<PathBuf> {
        let dir = match &self.settings().hooks_path {
            Some(p) => {
                let p = PathBuf::from(p);
                if p.is_absolute() {
                    p
                } else {
                    self.root.join(p)
                }
            }
            None => match self.git_dir() {
                Ok(d) => d.join("hooks"),
                Err(_) => return Vec::new(),
            },
        };
        [
            "pre-commit",
            "prepare-commit-msg",
            "commit-msg",
            "post-commit",
        ]
        .iter()
        .map(|h| dir.join(h))
        .filter(|p| p.is_file())
        .collect()
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

    fn set_head_hint(&self, head: Option<Head>) {
        if let Ok(mut h) = self.head_hint.lock() {
            *h = head;
        }
    }

    /// HEAD and its tree, as brain last saw them or from git; `None` on an unborn branch.
    fn take_head(&self) -> Result<Option<Head>> {
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

    /// `git commit-tree` with the user's identity, or brain's own where the user has none, so
    /// that brain works without one.
    fn commit_tree(&self, tree: &str, parent: Option<&str>, message: &str) -> Result<String> {
        let attempt = |fallback: bool| {
            let mut c = self.cmd();
            c.args(["commit-tree", tree, "-m", message]);
            // Plumbing does not read commit.gpgSign; a user who signs their commits gets brain's
            // signed as well.
            if self.settings().sign {
                c.arg("-S");
            }
            if let Some(p) = parent {
                c.args(["-p", p]);
            }
            if fallback {
                for (k, v) in [
                    ("GIT_AUTHOR_NAME", "brain"),
                    ("GIT_AUTHOR_EMAIL", "brain@localhost"),
                    ("GIT_COMMITTER_NAME", "brain"),
                    ("GIT_COMMITTER_EMAIL", "brain@localhost"),
                ] {
                    c.env(k, v);
                }
            }
            run(c, "commit-tree")
        };
        let out = match attempt(self.no_identity.get().is_some()) {
            Err(Error::Git { message, .. })
                if self.no_identity.get().is_none()
                    && (message.contains("tell me who you are")
                        || message.contains("auto-detect")
                        || message.contains("ident")) =>
            {
                let _ = self.no_identity.set(());
                attempt(true)?
            }
            other => other?,
        };
        Ok(stdout(&out))
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
        // The user's index is brought in line for brain's paths first, while the tree is
        // built, and HEAD moves only once that is done: HEAD and the user's index never
        // disagree about brain's paths, so the user's next `git commit` (which commits the
        // index) records brain's files as they are. Whatever the user staged, left unstaged
        // or never added elsewhere is not read or changed.
        let index_args = |c: &mut Command| {
            c.args(["update-index", "--add", "--remove", "--"])
                .args(paths);
        };
        let mut first = self.cmd();
        index_args(&mut first);
        let syncing = first
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok();
        let head = self.take_head()?;
        let edited = match &head {
            Some(h) if self.edit_trees => self.edit_trees(h, paths)?,
            _ => None,
        };
        let (tree, edited) = match edited {
            Some((tree, edited)) => (tree, Some(edited)),
            None => (self.index_tree(head.as_ref(), paths)?, None),
        };
        let synced = || -> Result<()> {
            let ok = syncing
                .and_then(|c| c.wait_with_output().ok())
                .is_some_and(|o| o.status.success());
            if !ok {
                // Busy (another git command holds index.lock), or it could not start: again,
                // for a while.
                self.run_on_index(
                    || {
                        let mut c = self.cmd();
                        index_args(&mut c);
                        c
                    },
                    "update-index",
                )?;
            }
            Ok(())
        };
        let head_tree = head.as_ref().and_then(|h| h.tree.clone());
        if head.is_some() && head_tree.as_deref() == Some(tree.as_str()) {
            self.set_head_hint(head);
            // Nothing to commit; the index was still brought in line, as far as it can be.
            let _ = synced();
            return Ok(None);
        }
        let head = head.map(|h| h.commit);
        if let Some(edited) = edited {
            edited.store()?;
        }
        let new = self.commit_tree(&tree, head.as_deref(), message)?;
        synced()?;
        let mut update = self.cmd();
        update.args(["update-ref", "-m", message, "HEAD", &new]);
        // Compare-and-swap: refuse if HEAD moved since we read it.
        update.arg(
            head.as_deref()
                .unwrap_or("0000000000000000000000000000000000000000"),
        );
        if let Err(e) = run(update, "update-ref") {
            // HEAD stays; so must the user's index for these paths.
            let _ = self.run_on_index(
                || {
                    let mut c = self.cmd();
                    c.args(["reset", "-q", "--"]).args(paths);
                    c
                },
                "reset",
            );
            return Err(e);
        }
        self.set_head_hint(Some(Head {
            commit: new.clone(),
            tree: Some(tree),
        }));
        Ok(Some(new))
    }

    /// Where brain's own files (`pathspecs`, relative to the brain root) differ between HEAD,
    /// the user's index and the working tree: `(path, what)` for each, from `git status`
    /// (which, with `--no-optional-locks`, never takes the index lock).
    pub fn drift(&self, pathspecs: &[&str]) -> Result<Vec<(String, String)>> {
        let mut c = self.cmd();
        c.args([
            "--no-optional-locks",
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--no-renames",
            "--",
        ])
        .args(pathspecs);
        let out = run(c, "status")?;
        let mut found = Vec::new();
        for item in out.stdout.split(|&b| b == 0).filter(|i| i.len() > 3) {
            let (x, y) = (item[0], item[1]);
            let path = String::from_utf8_lossy(&item[3..]).into_owned();
            let what = match (x, y) {
                (b'?', _) => "in the folder, but in no commit".to_string(),
                (b' ', b'D') => "deleted from the folder, but still in HEAD".to_string(),
                (b' ', _) => "changed in the folder since the last commit".to_string(),
                (b'A', _) | (b'M', _) | (b'D', _) | (b'R', _) | (b'T', _) => {
                    "your git index (staging area) holds another version than HEAD: the next `git commit` would record it".to_string()
                }
                _ => format!("git status says `{}{}`", x as char, y as char),
            };
            found.push((path, what));
        }
        Ok(found)
    }

    /// The names of the files in the folder `rel` (relative to the brain root) as HEAD has it;
    /// `None` when HEAD has no such folder (or no commit).
    pub fn names_in_head(&self, rel: &str) -> Result<Option<Vec<String>>> {
        let hint = self
            .head_hint
            .lock()
            .ok()
            .and_then(|h| h.as_ref().and_then(|h| h.tree.clone()));
        let tree = match hint {
            Some(t) => Some(t),
            None => self.rev("HEAD^{tree}")?,
        };
        let Some(tree) = tree.as_deref().and_then(gittree::parse_oid) else {
            return Ok(None);
        };
        match (self.prefix.get(), self.objects.get()) {
            (Some(prefix), Some(objects)) => {
                let path = format!("{prefix}{rel}");
                gittree::file_names(&self.root, objects, tree, path.as_bytes())
            }
            _ => {
                let mut c = self.cmd();
                c.args(["ls-tree", "-z", "--name-only", "HEAD", "--"])
                    .arg(format!("{}/", rel.trim_end_matches('/')));
                let out = run(c, "ls-tree")?;
                let names: Vec<String> = out
                    .stdout
                    .split(|&b| b == 0)
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        let n = String::from_utf8_lossy(n);
                        n.rsplit('/').next().unwrap_or_default().to_string()
                    })
                    .collect();
                Ok(Some(names))
            }
        }
    }

    /// The tree of HEAD with `paths` changed as they are on disk, built in process (see
    /// `gittree.rs`); `None` where only git's index can build it exactly.
    fn edit_trees<P: AsRef<OsStr>>(
        &self,
        head: &Head,
        paths: &[P],
    ) -> Result<Option<(String, gittree::Edited)>> {
        let (Some(base), Some(prefix), Some(objects)) = (
            head.tree.as_deref().and_then(gittree::parse_oid),
            self.prefix.get(),
            self.objects.get(),
        ) else {
            return Ok(None);
        };
        let mut changes: Vec<(Vec<u8>, gittree::Change)> = Vec::new();
        // The paths whose blobs git is to write, and where their change is.
        let mut files: Vec<(&Path, usize)> = Vec::new();
        for p in paths {
            let rel = Path::new(p.as_ref());
            let mut full = prefix.as_bytes().to_vec();
            for (i, c) in rel.components().enumerate() {
                let (std::path::Component::Normal(_), Some(name)) = (c, c.as_os_str().to_str())
                else {
                    return Ok(None);
                };
                if i > 0 {
                    full.push(b'/');
                }
                full.extend_from_slice(name.as_bytes());
            }
            if changes.iter().any(|(f, _)| *f == full) {
                continue;
            }
            let at = self.root.join(rel);
            match std::fs::symlink_metadata(&at) {
                Ok(md) if md.is_file() && !executable(&md) => files.push((rel, changes.len())),
                // A link, a folder, an executable: git's index knows what to make of them.
                Ok(_) => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                    ) => {}
                Err(e) => return Err(Error::io("reading", at, e)),
            }
            changes.push((full, gittree::Change::Remove));
        }
        if !files.is_empty() {
            // Written by git, so that the user's attributes and filters apply as `git add`
            // applies them.
            let mut c = self.cmd();
            c.args(["hash-object", "-w", "--"])
                .args(files.iter().map(|(p, _)| p));
            let out = stdout(&run(c, "hash-object")?);
            let oids: Vec<_> = out.lines().map(gittree::parse_oid).collect();
            if oids.len() != files.len() || oids.iter().any(Option::is_none) {
                return Ok(None);
            }
            for ((_, at), oid) in files.iter().zip(oids.into_iter().flatten()) {
                changes[*at].1 = gittree::Change::File(oid);
            }
        }
        let trees = gittree::Trees::new(&self.root, objects.clone(), base);
        match trees.edit(&changes) {
            Ok(edited) => Ok(Some((gittree::hex(&edited.root), edited))),
            Err(gittree::Stop::Unsupported) => Ok(None),
            Err(gittree::Stop::Failed(e)) => Err(e),
        }
    }

    /// The tree of HEAD with `paths` changed as they are on disk, built in a private index:
    /// `read-tree`, `update-index`, `write-tree`.
    fn index_tree<P: AsRef<OsStr>>(&self, head: Option<&Head>, paths: &[P]) -> Result<String> {
        let index = self.scratch.join(format!("index.{}", std::process::id()));
        let _cleanup = RemoveOnDrop(index.clone());
        let with_index = |args: &[&OsStr]| {
            let mut c = self.cmd();
            // Only brain reads this index, so it need not carry a checksum: writing one costs
            // a hash of the whole file (about 1 MB at 10,000 tasks) on every write. Git before
            // 2.40 ignores the setting.
            c.env("GIT_INDEX_FILE", &index)
                .args(["-c", "index.skipHash=true"])
                .args(args);
            c
        };
        let read_tree = match head {
            Some(h) => with_index(&["read-tree".as_ref(), h.commit.as_ref()]),
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
        // Every blob was just written by update-index: no need to check that each exists.
        Ok(stdout(&run(
            with_index(&["write-tree".as_ref(), "--missing-ok".as_ref()]),
            "write-tree",
        )?))
    }
}

/// Whether git would record `md`'s file as executable.
fn executable(md: &std::fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        md.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        false
    }
}

impl Git {
    /// `git gc --auto`, which `git commit` runs and plumbing does not: packs loose objects once
    /// there are many, so that the repository stays fast and small. It returns at once when
    /// there is nothing to do; when there is, it runs to its end (a fraction of a second at
    /// 10,000 tasks, under the queue lock) rather than in the background, where it would race
    /// the next transition.
    ///
    /// Every transition rewrites the trees above the files it touched, and at 10,000 pending
    /// tasks that is 250 KB of loose objects per commit: git's own threshold (about 6,700 loose
    /// objects) would let that grow to over 200 MB before packing it into a few hundred KB.
    /// Unless the user set `gc.auto`, brain packs at [`GC_AUTO`] loose objects instead.
    pub fn maintain(&self) {
        let mut c = self.cmd();
        if !self.settings().gc_auto {
            c.args(["-c", &format!("gc.auto={GC_AUTO}")]);
        }
        c.args(["gc", "--auto", "--quiet"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = c.status();
    }
}

/// The number of loose objects past which brain's `git gc --auto` packs them (git's default is
/// 6,700), about a hundred transitions.
pub const GC_AUTO: u32 = 700;

/// How a push ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The remote took it: the commits pushed are now the remote's.
    Accepted,
    /// The remote has commits this clone does not (not a fast-forward); nothing was changed
    /// there.
    Rejected,
}

/// Why the remote could not be used.
fn unreachable(remote: &str, what: &str, out: &Output) -> Error {
    Error::Remote {
        remote: remote.to_string(),
        message: format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

impl Git {
    /// The commit HEAD points at, if any.
    pub fn head(&self) -> Result<Option<String>> {
        self.rev("HEAD")
    }

    /// The short name of the checked-out branch.
    pub fn branch(&self) -> Result<String> {
        let mut c = self.cmd();
        c.args(["symbolic-ref", "--short", "-q", "HEAD"]);
        let out = run(c, "symbolic-ref")?;
        Ok(stdout(&out))
    }

    /// The remote-tracking ref that mirrors `branch` of `remote`.
    fn tracking_ref(remote: &str, branch: &str) -> String {
        format!("refs/remotes/{remote}/{branch}")
    }

    /// Fetches `branch` from `remote` into its remote-tracking ref and returns its tip (`None`
    /// when the remote has no such branch yet). An unreachable remote is [`Error::Remote`].
    pub fn fetch(&self, remote: &str, branch: &str) -> Result<Option<String>> {
        let tracking = Self::tracking_ref(remote, branch);
        let mut c = self.cmd();
        // No automatic gc after each fetch: brain runs one now and then (`Git::maintain`).
        c.args([
            "fetch",
            "-q",
            "--no-tags",
            "--no-write-fetch-head",
            "--no-auto-gc",
            remote,
        ])
        .arg(format!("+refs/heads/{branch}:{tracking}"));
        let out = c.output().at("running git in", &self.root)?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            if err.contains("couldn't find remote ref") {
                return Ok(None);
            }
            return Err(unreachable(remote, "git fetch", &out));
        }
        self.rev(&tracking)
    }

    /// The tip of `branch` on `remote` as of the last fetch, without the network.
    pub fn last_fetched(&self, remote: &str, branch: &str) -> Result<Option<String>> {
        self.rev(&Self::tracking_ref(remote, branch))
    }

    /// Whether commit `a` is `b` or one of its ancestors.
    pub fn is_ancestor(&self, a: &str, b: &str) -> Result<bool> {
        let mut c = self.cmd();
        c.args(["merge-base", "--is-ancestor", a, b]);
        let out = c.output().at("running git in", &self.root)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(Error::Git {
                command: "merge-base".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            }),
        }
    }

    /// How many commits `local` has that `remote` has not, and the other way round.
    pub fn ahead_behind(&self, local: &str, remote: &str) -> Result<(u64, u64)> {
        let mut c = self.cmd();
        c.args(["rev-list", "--left-right", "--count"])
            .arg(format!("{local}...{remote}"));
        let text = stdout(&run(c, "rev-list")?);
        let mut n = text
            .split_whitespace()
            .map(|s| s.parse::<u64>().unwrap_or(0));
        Ok((n.next().unwrap_or(0), n.next().unwrap_or(0)))
    }

    /// Moves the checked-out branch from commit `from` to commit `to` the way `git checkout`
    /// does: only the files that differ between the two are written, and the user's staged and
    /// unstaged work elsewhere is carried over untouched. Git refuses (and nothing changes)
    /// when a file to be written has local changes; the error names it.
    pub fn switch(&self, from: &str, to: &str) -> Result<()> {
        // Files whose stat changed but whose content did not are not local changes.
        let mut refresh = self.cmd();
        refresh.args(["update-index", "-q", "--refresh"]);
        let _ = refresh.stdout(Stdio::null()).stderr(Stdio::null()).status();
        self.run_on_index(
            || {
                let mut c = self.cmd();
                c.args(["read-tree", "-m", "-u", from, to]);
                c
            },
            "read-tree",
        )
        .map_err(|e| match e {
            Error::Git { message, .. } => Error::Git {
                command: "read-tree".into(),
                message: format!(
                    "{message}\n(brain will not overwrite local changes: commit or stash them, then run `brain sync`)"
                ),
            },
            e => e,
        })?;
        let mut update = self.cmd();
        update.args([
            "update-ref",
            "-m",
            "brain: follow the remote",
            "HEAD",
            to,
            from,
        ]);
        run(update, "update-ref")?;
        self.set_head_hint(Some(Head {
            commit: to.to_string(),
            tree: None,
        }));
        Ok(())
    }

    /// Restores `paths` (relative to the brain root) to their content in HEAD, deleting the
    /// ones HEAD does not have: undoes changes that were never committed.
    pub fn restore<P: AsRef<Path>>(&self, paths: &[P]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut ls = self.cmd();
        ls.args(["ls-tree", "-r", "-z", "--name-only", "HEAD", "--"]);
        ls.args(paths.iter().map(AsRef::as_ref));
        let out = run(ls, "ls-tree")?;
        let in_head: Vec<PathBuf> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
            .collect();
        if !in_head.is_empty() {
            self.run_on_index(
                || {
                    let mut co = self.cmd();
                    co.args(["checkout", "-q", "HEAD", "--"]).args(&in_head);
                    co
                },
                "checkout",
            )?;
        }
        for p in paths {
            let p = p.as_ref();
            if !in_head.iter().any(|h| h == p) {
                match std::fs::remove_file(self.root.join(p)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::io("removing", self.root.join(p), e));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Pushes HEAD to `branch` on `remote`, as a fast-forward only.
    pub fn push(&self, remote: &str, branch: &str) -> Result<Push> {
        let mut c = self.cmd();
        c.args(["push", "--porcelain", "-q", remote])
            .arg(format!("HEAD:refs/heads/{branch}"));
        let out = c.output().at("running git in", &self.root)?;
        if out.status.success() {
            // The remote-tracking ref follows, so `brain status` counts from here.
            let mut t = self.cmd();
            t.args(["update-ref", &Self::tracking_ref(remote, branch), "HEAD"]);
            let _ = t.status();
            return Ok(Push::Accepted);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // Not a fast-forward, or another push updated the branch at the same instant: either
        // way another machine got there first.
        let rejected = text.lines().any(|l| {
            l.starts_with('!')
                && ((l.contains("[rejected]")
                    && (l.contains("fetch first") || l.contains("non-fast-forward")))
                    || (l.contains("[remote rejected]")
                        && (l.contains("failed to update ref")
                            || l.contains("cannot lock ref")
                            || l.contains("incorrect old value"))))
        });
        if rejected {
            return Ok(Push::Rejected);
        }
        if text.lines().any(|l| l.contains("[remote rejected]")) {
            return Err(Error::Remote {
                remote: remote.to_string(),
                message: format!("the remote refused the push: {}", text.trim()),
            });
        }
        Err(unreachable(remote, "git push", &out))
    }
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
