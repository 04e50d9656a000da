//! The queue's history as a person reads it: the latest commits, who made them, when, from
//! which machine (the `Brain-Machine` trailer every transition's commit carries).

use serde::Serialize;

use crate::error::Result;
use crate::git::Git;
use crate::git::cmd::{run, stdout};

/// The trailer that names the machine a transition was made on.
pub const MACHINE_TRAILER: &str = "Brain-Machine";

/// One commit of the history.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub commit: String,
    pub author: String,
    /// RFC 3339, the committer's time.
    pub at: String,
    /// The machine it was made on, for brain's own commits.
    pub machine: Option<String>,
    /// The first line: what happened (`claim task-… by a (epoch 1)`).
    pub subject: String,
}

impl Git {
    /// The latest `n` commits of HEAD, newest first; none before the first commit.
    pub fn recent(&self, n: usize) -> Result<Vec<Commit>> {
        let mut c = self.cmd();
        c.args([
            "log",
            &format!("-n{n}"),
            &format!(
                "--format=%H%x1f%an%x1f%cI%x1f%(trailers:key={MACHINE_TRAILER},valueonly,separator=%x2c)%x1f%s%x1e"
            ),
        ]);
        let out = match run(c, "log") {
            Ok(out) => out,
            // A repository with no commit yet has no history.
            Err(crate::Error::Git { message, .. })
                if message.contains("does not have any commits")
                    || message.contains("bad default revision") =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        Ok(stdout(&out)
            .split('\x1e')
            .filter_map(|rec| {
                let mut f = rec.trim_start_matches('\n').split('\x1f');
                let commit = f.next()?.to_string();
                if commit.is_empty() {
                    return None;
                }
                let author = f.next()?.to_string();
                let at = f.next()?.to_string();
                let machine = f.next()?.trim().to_string();
                let subject = f.next()?.trim_end().to_string();
                Some(Commit {
                    commit,
                    author,
                    at,
                    machine: (!machine.is_empty()).then_some(machine),
                    subject,
                })
            })
            .collect())
    }
}
