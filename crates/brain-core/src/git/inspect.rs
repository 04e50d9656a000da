//! Looking at the repository without changing it: git's lock files, where brain's files differ
//! between HEAD, the user's index and the folder, what HEAD holds in a folder, the commit
//! hooks.

use std::path::PathBuf;

use crate::error::Result;
use crate::git::cmd::run;
use crate::git::{Git, objects, tree};

impl Git {
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
        let Some(tree) = tree.as_deref().and_then(objects::parse_oid) else {
            return Ok(None);
        };
        match (self.prefix.get(), self.objects.get()) {
            (Some(prefix), Some(objects)) => {
                let path = format!("{prefix}{rel}");
                tree::file_names(&self.root, objects, tree, path.as_bytes())
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
}
