//! `context/active-agent.md`: one block per active claim, in the seed's format, rewritten from
//! `tasks/active/` after every transition.

use jiff::SignedDuration;

use crate::store::templates;
use crate::task::Task;
use crate::task::time::format_ts;

/// The path, relative to the root.
pub const ACTIVE_AGENT: &str = "context/active-agent.md";

/// The file's text for the claims `tasks` (the tasks in `active/`).
pub fn render(tasks: &[Task]) -> String {
    let mut tasks: Vec<&Task> = tasks.iter().collect();
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
    out
}
