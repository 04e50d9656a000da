//! brain's commits: exactly the paths a transition touched, the user's index brought in line
//! for them first, the tree edited in process where it can be (see `tree.rs`), and git's
//! housekeeping that plumbing does not do by itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::git::cmd::{run, stdout};
use crate::git::{Git, Head, objects, tree};

impl Git {
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

    /// The tree of HEAD with `paths` changed as they are on disk, built in process (see
    /// `gittree.rs`); `None` where only git's index can build it exactly.
    fn edit_trees<P: AsRef<OsStr>>(
        &self,
        head: &Head,
        paths: &[P],
    ) -> Result<Option<(String, tree::Edited)>> {
        let (Some(base), Some(prefix), Some(objects)) = (
            head.tree.as_deref().and_then(objects::parse_oid),
            self.prefix.get(),
            self.objects.get(),
        ) else {
            return Ok(None);
        };
        let mut changes: Vec<(Vec<u8>, tree::Change)> = Vec::new();
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
            changes.push((full, tree::Change::Remove));
        }
        if !files.is_empty() {
            // Written by git, so that the user's attributes and filters apply as `git add`
            // applies them.
            let mut c = self.cmd();
            c.args(["hash-object", "-w", "--"])
                .args(files.iter().map(|(p, _)| p));
            let out = stdout(&run(c, "hash-object")?);
            let oids: Vec<_> = out.lines().map(objects::parse_oid).collect();
            if oids.len() != files.len() || oids.iter().any(Option::is_none) {
                return Ok(None);
            }
            for ((_, at), oid) in files.iter().zip(oids.into_iter().flatten()) {
                changes[*at].1 = tree::Change::File(oid);
            }
        }
        let trees = tree::Trees::new(&self.root, objects.clone(), base);
        match trees.edit(&changes) {
            Ok(edited) => Ok(Some((objects::hex(&edited.root), edited))),
            Err(tree::Stop::Unsupported) => Ok(None),
            Err(tree::Stop::Failed(e)) => Err(e),
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

/// The number of loose objects past which brain's `git gc --auto` packs them (git's default is
/// 6,700), about a hundred transitions.
pub const GC_AUTO: u32 = 700;

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
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
