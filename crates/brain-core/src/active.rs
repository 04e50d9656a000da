//! `context/active-agent.md`: one block per active claim, in the seed's format, rewritten from
//! `tasks/active/` after every transition.

use jiff::SignedDuration;

use crate::error::Result;
use crate::fsutil;
use crate::repo::LockedRepo;
use crate::templates;
use crate::time::format_ts;

/// The path, relative to the root.
pub const ACTIVE_AGENT: &str = "context/active-agent.md";

/// The file's text for the current claims.
pub fn render(repo: &LockedRepo<'_>) -> Result<String> {
    let mut tasks = repo.active_tasks()?;
    tasks.sort_by(|a, b| (a.meta.claimed_at, &a.id).cmp(&(b.meta.claimed_at, &b.id)));
    let mut out = templates::ACTIVE_AGENT_HEADER.to_string();
    for t in tasks {
        let agent = t.claimant().unwrap_or_else(|| "unknown".into());
        out.push_str("---\n");
        out.push_str(&format!("agent: {agent}\n"));
        if let Some(s) = t.meta.claimed_at {
            out.push_str(&format!("started: {}\n", format_ts(s)));
        }
        out.push_str(&format!("task: {}\n", t.id));
        if let (Some(s), Some(secs)) = (t.meta.claimed_at, t.meta.timeout)
            && let Ok(end) = s.checked_add(SignedDuration::from_secs(secs as i64))
        {
            out.push_str(&format!("expected_completion: {}\n", format_ts(end)));
        }
        out.push_str("---\n");
    }
    Ok(out)
}

/// Rewrites the file when it differs from the claims.
pub fn update(repo: &LockedRepo<'_>) -> Result<()> {
    let text = render(repo)?;
    let path = repo.root().join(ACTIVE_AGENT);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::Error::io("creating", dir, e))?;
        }
        // Derived from tasks/active/ and rewritten by every transition: atomic, not fsynced.
        // Listed first: a process killed right after the rewrite leaves it to the next commit.
        repo.touch(&path);
        let spare = repo.local_dir().join("active-agent.spare");
        fsutil::rewrite_with_spare(&path, &spare, text.as_bytes())?;
    }
    Ok(())
}
