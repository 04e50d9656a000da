//! Running the `git` program as brain always runs it: in the repository's folder, never asking
//! for a password, with background gc off, and with git's errors in one sentence.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::error::{Error, Result};

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

pub(crate) fn run(mut cmd: Command, what: &str) -> Result<Output> {
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

pub(crate) fn stdout(out: &Output) -> String {
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
