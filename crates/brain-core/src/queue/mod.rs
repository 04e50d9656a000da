//! The queue: the guard that alone can change it, and its transitions (SPEC §3).
//!
//! - `txn`: [`Repo::transact`](crate::store::Repo::transact), the one way in: lock, recover,
//!   the section, commit, push, retry when overtaken; what the section said comes back.
//! - `locked`: [`LockedRepo`], the guard: the queue lock, what a section touched and commits
//!   (with `journal`; `group`: transitions that meet at the lock share a commit), the claims in `active/`; `ids`: new tasks and their ids; `write`: its writes, which never
//!   lose a change someone else makes to the same file.
//! - `claim`, `settle` (heartbeat, done, fail, release), `moves` (between folders, reclaim),
//!   `ready` (why a pending task waits, for the listings), `edit` (a person's changes: priority,
//!   a note, requeue, cancel),
//!   `recover` (what killed processes and hand moves left).
//! - `remote`: the git remote as arbiter (catch up, publish, roll back); `active`:
//!   `context/active-agent.md`.
//!
//! Uses `store`, `task`, `git`, `config` and `fsutil`; never the human channels or the run.

pub mod active;
pub mod claim;
pub mod edit;
pub(crate) mod group;
pub mod ids;
mod journal;
pub mod locked;
pub mod moves;
pub mod ready;
pub mod recover;
pub mod remote;
pub mod settle;
pub mod txn;
pub mod write;

pub use claim::{
    CLAIMING, Claimant, Claimed, Eligibility, PASSED_OVER_SHOWN, PassedOver, Token, Unattended,
    blocked,
};
pub use edit::{Update, Updated};
pub use locked::{LockedRepo, Prepared};
pub use moves::Reclaimed;
pub use ready::{Blocked, Judge, Readiness, Reason, gate_open};
pub use recover::{is_hand_claim, unfinished_move};
pub use settle::{Conflict, Lost, Moved, Refused, heartbeat_window};
pub use txn::{Kind, Transaction};
