//! `brain-core`: the library behind the `brain` command. It turns a folder (usually a git
//! repository) into a work queue of Markdown task files. It never writes to the terminal and
//! never reads configuration from the user's home: the front ends (the CLI, and later the
//! hooks, the MCP server and the board) do that.
//!
//! Its modules are layers, each using only those above it in this list (checked by
//! `tests/layers.rs`; drawn in `docs/ARCHITECTURE.md`):
//!
//! - [`error`]; [`fsutil`]: files, safely;
//! - [`task`]: the task file and its model; [`config`]: `brain.toml`;
//! - [`git`]: git, knowing nothing of the queue;
//! - [`store`]: the repo on disk and reading it;
//! - [`queue`]: the guard and the transitions, and [`Repo::transact`], the one way to change
//!   the queue;
//! - [`human`]: questions, approvals, handoffs;
//! - [`usage`]: what the agents used, the limits they met, Claude Code's transcripts;
//! - [`run`]: the overnight run;
//! - [`ops`], [`status`], [`doctor`], [`init`], [`primer`]: what a front end calls.

pub mod config;
pub mod doctor;
pub mod error;
pub mod fsutil;
pub mod git;
pub mod human;
pub mod init;
pub mod ops;
pub mod primer;
pub mod queue;
pub mod run;
pub mod status;
pub mod store;
pub mod task;
pub mod usage;

pub use config::Config;

/// A random number, for what needs no more than "unlikely to repeat": commit nonces, retry
/// pauses, sampling. (The standard library seeds each `RandomState` from the OS.)
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::hash::RandomState::new().build_hasher().finish()
}
pub use error::{Error, Result};
pub use queue::LockedRepo;
pub use store::{Entry, Repo};
pub use task::{Meta, Priority, State, Task, TaskFile};
