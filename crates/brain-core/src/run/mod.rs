//! The overnight run (SPEC §6): the runner (`runner`, with `slot` and `finish`), what it
//! gives an agent (`prompt`) and reports (`event`), an agent's process tree (`process`), what
//! an agent printed read back (`report`) and what its end means (`verdict`), and what the
//! platform's scheduler runs (`schedule`).
//!
//! Uses the queue (every step is a transaction), the human channels (an agent's handoff goes
//! into its prompt), the store and the task model.

mod drive;
pub mod event;
mod finish;
pub mod notify;
pub mod process;
pub mod prompt;
pub mod report;
pub mod review;
pub mod runner;
pub mod schedule;
mod slot;
pub mod verdict;

pub use event::{Ended, Event, What};
pub use runner::{Options, Outcome, Runner, Tally, agent_for};
