//! Library errors. Every variant that involves a file carries its path, and every message is a
//! sentence a person can act on.

use std::io;
use std::path::{Path, PathBuf};

/// Errors from `brain-core`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation failed on a path.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A task file could not be parsed. It is left untouched.
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A path brain reads is not a regular file (a symbolic link, a named pipe, a folder, a
    /// device). brain never follows a link out of the repo or opens a special file.
    #[error(
        "{path}: is {what}, not a regular file; brain reads only regular files inside the repo (it never follows a symbolic link or opens a pipe or device): replace it with a regular file, or remove it"
    )]
    Special { path: PathBuf, what: &'static str },
    /// A file is larger than brain reads (or writes) for its kind.
    #[error("{path}: {message}")]
    TooLarge { path: PathBuf, message: String },
    /// One task id has files in two places, so a move cannot be made without losing one.
    #[error(
        "task {id} has a file at {there} already, so brain did not move {here} there (a copy, or an editor that saved an old path?); nothing was changed. `brain doctor` shows both files, and `brain doctor --fix` sorts them out"
    )]
    Duplicate {
        id: String,
        here: PathBuf,
        there: PathBuf,
    },
    /// `brain.toml` is invalid.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// No brain repo was found.
    #[error(
        "no brain repo found in {start} or any parent folder (looked for brain.toml); run `brain init` to create one, or pass --repo DIR"
    )]
    NotARepo { start: PathBuf },
    /// A value given on the command line or in a file is invalid.
    #[error("{0}")]
    Invalid(String),
    /// No task with this id exists.
    #[error("no task with id `{0}` (run `brain list` to see the ids)")]
    TaskNotFound(String),
    /// A git command failed.
    #[error("git {command}: {message}")]
    Git { command: String, message: String },
    /// The git remote that arbitrates the queue could not be reached (or refused brain).
    #[error(
        "the remote `{remote}` cannot be used: {message}\nNothing was changed; run the command again once the remote can be used. Commands that only read (list, show, status, questions, handoff show) work offline"
    )]
    Remote { remote: String, message: String },
    /// The local copy and the remote both have commits the other has not.
    #[error("{0}")]
    Diverged(String),
    /// A push was rejected because the remote moved; the transition was undone here and is to
    /// be tried again against the new remote tip.
    #[error(
        "the remote kept moving: {0} attempts in a row were overtaken by other machines; nothing was changed, run the command again"
    )]
    Overtaken(u32),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A parse error in `path` at 1-based `line`.
    pub fn parse(path: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.as_ref().to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Extension to attach a path to `io::Result`s.
pub trait IoContext<T> {
    /// Attaches the action and the path to an I/O error.
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, action: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(action, path, e))
    }
}
