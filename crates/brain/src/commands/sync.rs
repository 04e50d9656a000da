//! `brain sync`.

use super::Context;
use crate::output;

/// Bring this copy of the queue up to date with the remote, and publish what waits here.
///
/// Needs `[git] remote` in brain.toml. Fetches the remote branch and fast-forwards the working
/// tree to it (only brain's files and whatever else changed there; your staged and unstaged
/// work is carried over, and git refuses rather than overwrite a file you changed). Commits
/// made here and not pushed yet are pushed. Brain never merges or rebases: when both sides have
/// moved on, it says so and changes nothing. Every command that changes the queue does the same
/// first, so `sync` is for bringing a copy up to date before reading it (list, show, status).
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let Some(remote) = repo.remote().map(str::to_string) else {
        anyhow::bail!(
            "no remote to sync with: set `remote = \"origin\"` under [git] in {} (and commit it) to share this queue between machines",
            repo.root().join(brain_core::config::CONFIG_FILE).display()
        );
    };
    let now = super::now()?;
    // Taking the lock catches up and publishes; the section itself has nothing to add.
    let (fetched, published) = super::transact(&repo, now, |l| Ok(l.synced().unwrap_or_default()))?;
    let head = repo
        .git()
        .map(|g| g.head())
        .transpose()?
        .flatten()
        .unwrap_or_default();
    let short = head.get(..10).unwrap_or(&head);
    output::line(format_args!(
        "in step with {remote} at {short}: {fetched} commit(s) brought in, {published} published"
    ))
}
