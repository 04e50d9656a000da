//! The human channels (SPEC §5): questions and approval gates written to `prompts/`
//! (`questions`; reading them is [`crate::store::prompts`]), and handoff notes in
//! `context/handoff.md` (`handoff`). Every write is part of a transaction.
//!
//! Uses the queue (its guard, and a denied task's move to `failed/`), the store and the task
//! model; never the run.

pub mod handoff;
pub mod questions;
