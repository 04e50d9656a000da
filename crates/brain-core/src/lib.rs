//! `brain-core`: the library behind the `brain` command. It turns a folder (usually a git
//! repository) into a work queue of Markdown task files. It never writes to the terminal and
//! never reads configuration from the user's home: the CLI does that.

pub mod active;
pub mod cache;
pub mod config;
pub mod dirscan;
pub mod doctor;
pub mod error;
pub mod frontmatter;
pub mod fsutil;
pub mod git;
mod gittree;
pub mod handoff;
pub mod init;
pub mod lifecycle;
pub mod names;
pub mod newtask;
pub mod process;
pub mod prompts;
pub mod questions;
pub mod remote;
pub mod repo;
pub mod report;
pub mod schedule;

pub mod status;
pub mod task;
pub mod templates;
pub mod time;
pub mod usage;

pub use config::Config;

/// A random number, for what needs no more than "unlikely to repeat": commit nonces, retry
/// pauses, sampling. (The standard library seeds each `RandomState` from the OS.)
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::hash::RandomState::new().build_hasher().finish()
}
pub use error::{Error, Result};
pub use repo::{Entry, LockedRepo, Repo};
pub use task::{Meta, Priority, State, Task, TaskFile};
