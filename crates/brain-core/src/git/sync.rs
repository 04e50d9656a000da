//! Git and a remote: fetch, push (a fast-forward, or rejected), and moving the checked-out
//! branch from one commit to another the way `git checkout` does.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::git::cmd::{NETWORK_LIMIT, output_within, run, stdout};
use crate::git::{Git, Head};

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
        let out = output_within(c, NETWORK_LIMIT).at("running git fetch in", &self.root)?;
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
        let out = output_within(c, NETWORK_LIMIT).at("running git push in", &self.root)?;
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
