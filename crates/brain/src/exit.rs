//! Exit codes, in one place. Documented in docs/cli.md.

use std::io;
use std::process::ExitCode;

/// Success.
pub const OK: u8 = 0;
/// An error: bad input, an unreadable file, a failed git command. The message says what to do.
pub const ERROR: u8 = 1;
// 2 is clap's code for a usage error (unknown flag, missing argument).
/// `brain claim`: no task is eligible for this agent now.
pub const NOTHING_TO_CLAIM: u8 = 3;
/// The claim is not (or no longer) the caller's: reclaimed, released, finished, or another
/// agent's. What the caller brought is kept (see `brain show`).
pub const CLAIM_LOST: u8 = 4;
/// `brain doctor` found problems it did not (or could not) repair.
pub const UNHEALTHY: u8 = 5;
/// The git remote that arbitrates the queue (`[git] remote`) could not be reached; nothing was
/// changed. Try again later.
pub const OFFLINE: u8 = 6;

/// `brain run`: the plan's usage limit was hit (or still holds): the tasks it cut short went
/// back to pending without spending an attempt, and nothing more was started. The message
/// says when it resets; `brain run --wait` waits for that instead.
pub const USAGE_LIMIT: u8 = 7;
/// `brain run`: the agent cannot work at all (its program is not found, it is not logged in,
/// it cannot reach its API). Its task went back to pending without spending an attempt and the
/// run stopped; the message says what to fix.
pub const AGENT_BROKEN: u8 = 8;

/// An error that carries its own exit code (the message may be empty when everything was said).
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// An exit with `code` and nothing more to say.
pub fn quiet(code: u8) -> anyhow::Error {
    Exit {
        code,
        message: String::new(),
    }
    .into()
}

/// Prints the error (if any) and turns the result into the process exit code.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::from(OK);
    };
    // `brain list | head`: the reader went away; that is not an error.
    if let Some(e) = err.downcast_ref::<io::Error>()
        && e.kind() == io::ErrorKind::BrokenPipe
    {
        return ExitCode::from(OK);
    }
    if let Some(exit) = err.downcast_ref::<Exit>() {
        if !exit.message.is_empty() {
            say!("brain: {}", crate::output::clean_err(&exit.message));
        }
        return ExitCode::from(exit.code);
    }
    say!(
        "brain: error: {}",
        crate::output::clean_err(&err.to_string())
    );
    let offline = matches!(
        err.downcast_ref::<brain_core::Error>(),
        Some(brain_core::Error::Remote { .. })
    );
    for cause in err.chain().skip(1) {
        say!(
            "  caused by: {}",
            crate::output::clean_err(&cause.to_string())
        );
    }
    ExitCode::from(if offline { OFFLINE } else { ERROR })
}
