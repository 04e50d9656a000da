//! `brain list`.

use std::io::Write;
use std::path::PathBuf;

use brain_core::repo::queue_order;
use brain_core::{Priority, State, Task};
use serde::Serialize;

use super::Context;
use crate::output;

/// List tasks, in queue order: by state, then priority, created time and id.
///
/// A file that cannot be read is reported on stderr and skipped; it never stops the listing.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only tasks in this state: pending, active, completed or failed (repeatable).
    #[arg(long, short, value_parser = parse_state)]
    state: Vec<State>,
    /// Print a JSON array of tasks.
    #[arg(long)]
    json: bool,
}

pub fn parse_state(s: &str) -> Result<State, String> {
    State::parse(s)
        .ok_or_else(|| format!("`{s}` is not a state; use pending, active, completed or failed"))
}

/// One task in `list --json`.
#[derive(Serialize)]
pub struct Item<'a> {
    pub id: &'a str,
    pub state: State,
    pub title: &'a str,
    pub priority: Priority,
    pub requires: &'a [String],
    pub preferred_interface: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub created: Option<brain_core::time::Rfc3339>,
    pub depends_on: &'a [String],
    pub approval: Option<&'static str>,
    pub attempt: u32,
    pub path: &'a PathBuf,
    /// What brain reads differently than a person may expect in the file (a misspelt field).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub warnings: &'a [String],
}

impl<'a> From<&'a Task> for Item<'a> {
    fn from(t: &'a Task) -> Self {
        Item {
            id: &t.id,
            state: t.state,
            title: &t.title,
            priority: t.meta.priority,
            requires: &t.meta.requires,
            preferred_interface: t.meta.preferred_interface.as_deref(),
            agent: t.agent.as_deref(),
            created: t.meta.created.map(brain_core::time::Rfc3339),
            depends_on: &t.meta.depends_on,
            approval: t.meta.approval.map(|a| a.as_str()),
            attempt: t.meta.attempt,
            path: &t.path,
            warnings: &t.warnings,
        }
    }
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let states = if args.state.is_empty() {
        State::ALL.to_vec()
    } else {
        args.state
    };
    let scan = repo.scan(&states)?;
    for p in &scan.problems {
        output::warn(format_args!("skipped {p}"));
    }
    for w in brain_core::status::warnings(&repo, &scan.tasks)? {
        output::warn(w);
    }
    // Sort references: tasks are large, and moving them dominated the sort.
    let mut tasks: Vec<&Task> = scan.tasks.iter().collect();
    tasks.sort_unstable_by(|a, b| a.state.cmp(&b.state).then_with(|| queue_order(a, b, None)));
    let mut out = output::stdout();
    if args.json {
        write_json_array(&mut out, &tasks)?;
    } else {
        let width = tasks.iter().map(|t| t.id.len()).max().unwrap_or(2);
        for t in &tasks {
            let who = t
                .agent
                .as_deref()
                .map(|a| format!(" [{a}]"))
                .unwrap_or_default();
            writeln!(
                out,
                "{:<width$}  {:<9}  {:<8}  {}{who}",
                t.id,
                t.state.as_str(),
                t.meta.priority.as_str(),
                output::clean(&t.title)
            )?;
        }
        if tasks.is_empty() {
            eprintln!(
                "No tasks{}.",
                if states.len() < 4 {
                    " in that state"
                } else {
                    ""
                }
            );
        }
    }
    out.flush()?;
    // Freeing a million small allocations one by one takes longer than the listing's output;
    // the process ends right after this, and the OS takes the memory back at once.
    std::mem::forget(scan);
    Ok(())
}

/// Writes `[item,item,...]`, serializing on all cores in waves of one chunk per core, so
/// memory stays small however many tasks there are.
fn write_json_array(out: &mut impl Write, tasks: &[&Task]) -> anyhow::Result<()> {
    const CHUNK: usize = 1024;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks: Vec<&[&Task]> = tasks.chunks(CHUNK).collect();
    out.write_all(b"[")?;
    let mut first = true;
    for wave in chunks.chunks(cores) {
        let parts = brain_core::repo::parallel_map(wave, |chunk| {
            let mut buf = Vec::with_capacity(chunk.len() * 400);
            for t in chunk.iter() {
                buf.push(b',');
                serde_json::to_writer(&mut buf, &Item::from(*t))?;
            }
            Ok::<_, serde_json::Error>(buf)
        });
        for part in parts {
            let part = part?;
            // Each part starts with a comma; the array's first item has none.
            let skip = usize::from(first && !part.is_empty());
            first &= part.is_empty();
            out.write_all(&part[skip..])?;
        }
    }
    out.write_all(b"]\n")?;
    Ok(())
}
