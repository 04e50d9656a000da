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

/// How long a git command that talks to a remote (fetch, push) may take before it is stopped:
/// a remote that never answers (an SSH host that hangs, a proxy) must not hang the queue.
pub const NETWORK_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// `cmd.output()`, stopped when it takes longer than `limit` (then an error that says so).
pub(crate) fn output_within(
    mut cmd: Command,
    limit: std::time::Duration,
) -> std::io::Result<Output> {
    use std::io::Read;
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let (tx, rx) = std::sync::mpsc::channel();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .map(|pipe| {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            let _ = tx.send(());
            buf
        })
    })
    .collect();
    drop(tx);
    // Both pipes at their end: git has exited (or closed them, which it does only to exit).
    let deadline = std::time::Instant::now() + limit;
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if rx.recv_timeout(left).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "git did not finish within {} s and was stopped",
                    limit.as_secs()
                ),
            ));
        }
    }
    let status = child.wait()?;
    let mut outs = readers.into_iter().map(|r| r.join().unwrap_or_default());
    Ok(Output {
        status,
        stdout: outs.next().unwrap_or_default(),
        stderr: outs.next().unwrap_or_default(),
    })
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

#[cfg(all(test, unix))]
mod tests {
    use std::process::Command;

    use crate::git::cmd::output_within;

    #[test]
    fn a_command_past_its_limit_is_stopped_and_one_within_it_gives_its_output() {
        let t = std::time::Instant::now();
        let mut slow = Command::new("sh");
        slow.args(["-c", "sleep 30"]);
        let err = output_within(slow, std::time::Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let mut quick = Command::new("sh");
        quick.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = output_within(quick, std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(
            (out.status.code(), &out.stdout[..], &out.stderr[..]),
            (Some(3), &b"out\n"[..], &b"err\n"[..])
        );
    }
}
