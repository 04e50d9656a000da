//! `brain list`.

use std::io::Write;

use brain_core::{State, Task};

use super::Context;
use crate::output;

/// List tasks, in queue order: by state, then priority, created time and id.
///
/// The fourth column says of a pending task whether an agent may claim it now (`ready`) and if
/// not why (`needs approval`, `after <id>`, `not before <time>`, `no agent has <capability>`),
/// and of a claimed one who has it. `--json` has `ready`, `why` and `attempts_left`.
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

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let states = if args.state.is_empty() {
        State::ALL.to_vec()
    } else {
        args.state
    };
    let listing = brain_core::status::listing(&repo, &states)?;
    for p in &listing.scan.problems {
        output::warn(format_args!("skipped {p}"));
    }
    for w in &listing.warnings {
        output::warn(w);
    }
    let tasks = listing.ordered();
    let judge = brain_core::queue::Judge::new(&repo, super::now()?)?;
    let mut out = output::stdout();
    if args.json {
        write_json_array(&mut out, &tasks, &judge)?;
    } else {
        // Pending tasks say whether they can be claimed now; the others, who has them.
        let notes: Vec<String> = tasks
            .iter()
            .map(|t| match (judge.judge(t), t.agent.as_deref()) {
                (Some(r), _) => r.summary(),
                (None, Some(a)) => a.to_string(),
                (None, None) => String::new(),
            })
            .collect();
        let mut table = output::Table::new();
        for (t, note) in tasks.iter().zip(&notes) {
            table.row([
                t.id.as_str(),
                t.state.as_str(),
                t.meta.priority.as_str(),
                note.as_str(),
                &output::clean(&t.title),
            ]);
        }
        table.write(&mut out)?;
        if tasks.is_empty() {
            say!(
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
    drop(tasks);
    std::mem::forget(listing);
    Ok(())
}

/// Writes `[item,item,...]`, serializing on all cores in waves of one chunk per core, so
/// memory stays small however many tasks there are.
fn write_json_array(
    out: &mut impl Write,
    tasks: &[&Task],
    judge: &brain_core::queue::Judge,
) -> anyhow::Result<()> {
    const CHUNK: usize = 1024;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunks: Vec<&[&Task]> = tasks.chunks(CHUNK).collect();
    out.write_all(b"[")?;
    let mut first = true;
    for wave in chunks.chunks(cores) {
        let parts = brain_core::store::parallel_map(wave, |chunk| {
            let mut buf = Vec::with_capacity(chunk.len() * 400);
            for t in chunk.iter() {
                buf.push(b',');
                serde_json::to_writer(&mut buf, &brain_core::status::Item::judged(t, judge))?;
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
