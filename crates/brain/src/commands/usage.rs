//! `brain usage` and `brain usage import`.

use std::io::Write as _;
use std::path::PathBuf;

use brain_core::task::time::{format_age, format_ts};
use brain_core::usage::report::{self, UsageReport};
use brain_core::usage::{self, import};
use jiff::tz::TimeZone;

use super::{Context, now};
use crate::output;

/// Show usage: today per agent and machine, the current 5-hour block and when it resets, the
/// last known limit, and the limits in brain.toml.
///
/// brain counts the sessions `brain run` starts (context/usage/<machine>.md, one file per
/// machine, and their sum in context/usage.md). With Claude Code's transcripts on this machine
/// (~/.claude/projects, or each folder of CLAUDE_CONFIG_DIR), it also counts what every
/// session used, interactive ones too, as ccusage does: `brain usage import` records that.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    #[command(flatten)]
    show: ShowArgs,
}

#[derive(Debug, clap::Args)]
struct ShowArgs {
    /// A folder with Claude Code's `projects/` (repeat for several); default: each folder of
    /// CLAUDE_CONFIG_DIR, else ~/.config/claude and ~/.claude.
    #[arg(long = "root", value_name = "DIR")]
    roots: Vec<PathBuf>,
    /// Print it as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Count Claude Code's transcripts (tokens per day, per 5-hour block, per session, with
    /// the sessions brain ran attributed to their tasks) and record today's figures in this
    /// machine's usage file. Only files that changed are read again.
    Import {
        #[command(flatten)]
        args: ShowArgs,
    },
}

/// The transcript roots: `--root`, else the environment's.
pub fn transcript_roots(given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    import::roots(
        std::env::var("CLAUDE_CONFIG_DIR").ok().as_deref(),
        home.as_deref(),
    )
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    let now = now()?;
    let tz = TimeZone::system();
    let machine = usage::machine_name();
    match args.action {
        Some(Action::Import { args }) => {
            let roots = transcript_roots(&args.roots);
            for r in &args.roots {
                if !r.join("projects").is_dir() {
                    anyhow::bail!(
                        "{} has no projects/ folder: give the folder Claude Code keeps its transcripts in (its projects/ holds them), like ~/.claude",
                        r.display()
                    );
                }
            }
            if roots.is_empty() {
                anyhow::bail!(
                    "no Claude Code transcripts found: neither ~/.config/claude/projects nor ~/.claude/projects exists (or give --root DIR, or set CLAUDE_CONFIG_DIR)"
                );
            }
            let totals = report::import_transcripts(&repo, &roots, &tz)?;
            super::transact(&repo, now, |l| {
                if report::record_import(l, &machine, &totals, &tz, now)? {
                    l.commit_point(&format!("usage: transcripts of {machine}"))?;
                }
                Ok(())
            })?;
            if args.json {
                return output::json(&totals);
            }
            print_import(&roots, &totals, now)
        }
        None => {
            let roots = transcript_roots(&args.show.roots);
            let totals = if roots.is_empty() {
                None
            } else {
                Some(report::import_transcripts(&repo, &roots, &tz)?)
            };
            let r = report::report(
                &repo,
                &machine,
                totals.as_ref().map(|t| (roots.as_slice(), t)),
                &tz,
                now,
            )?;
            for p in &r.problems {
                output::warn(p);
            }
            if args.show.json {
                return output::json(&r);
            }
            print_report(&r)
        }
    }
}

fn tokens(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_report(r: &UsageReport) -> anyhow::Result<()> {
    let mut out = output::stdout();
    let day = r.now.strftime("%Y-%m-%d");
    writeln!(out, "Today ({day}, UTC), sessions brain ran:")?;
    if r.today.is_empty() {
        writeln!(out, "  none yet")?;
    }
    for a in &r.today {
        let limits = r.config.get(&a.agent).map(|c| {
            let mut v = Vec::new();
            if let Some(m) = c.max_sessions_per_day {
                v.push(format!("max_sessions_per_day {m}"));
            }
            if let Some(m) = c.max_tokens_per_day {
                v.push(format!("max_tokens_per_day {}", tokens(m)));
            }
            v
        });
        write!(
            out,
            "  {} on {}: {} session{}, {} tokens",
            a.agent,
            a.machine,
            a.sessions,
            if a.sessions == 1 { "" } else { "s" },
            tokens(a.tokens)
        )?;
        match limits {
            Some(v) if !v.is_empty() => writeln!(out, " (of {})", v.join(", "))?,
            _ => writeln!(out)?,
        }
    }
    let machines: std::collections::BTreeSet<&str> =
        r.today.iter().map(|a| a.machine.as_str()).collect();
    if machines.len() > 1 {
        for (agent, t) in &r.totals {
            writeln!(
                out,
                "  {agent}, all machines: {} sessions, {} tokens",
                t.sessions_today,
                tokens(t.estimated_tokens)
            )?;
        }
    }
    match &r.transcripts {
        Some(t) => {
            writeln!(
                out,
                "Claude Code on this machine ({}), today ({}, local): {} tokens",
                r.machine,
                t.day,
                tokens(t.tokens_today)
            )?;
            match &t.block {
                Some(b) => writeln!(
                    out,
                    "Current 5-hour block: since {}, {} tokens; resets {} (in {})",
                    format_ts(b.start),
                    tokens(b.total_tokens),
                    format_ts(b.end),
                    format_age(b.end.duration_since(r.now).as_secs().max(0))
                )?,
                None => writeln!(out, "Current 5-hour block: none open")?,
            }
        }
        None => writeln!(
            out,
            "Claude Code's transcripts: none on this machine (~/.claude/projects; see --root)"
        )?,
    }
    match r.limits.first() {
        Some(l) => writeln!(
            out,
            "Last known limit: {} hit {} on {} at {}; {}",
            l.agent,
            l.hit.limit.describe(),
            l.machine,
            format_ts(l.hit.hit_at),
            if l.holds {
                format!(
                    "no new session before {} (in {})",
                    format_ts(l.hit.until),
                    format_age(l.hit.until.duration_since(r.now).as_secs().max(0))
                )
            } else {
                "it has reset".to_string()
            }
        )?,
        None => writeln!(out, "Last known limit: none hit")?,
    }
    for w in &r.warnings {
        writeln!(out, "warning: {}", output::clean(w))?;
    }
    out.flush()?;
    Ok(())
}

fn print_import(roots: &[PathBuf], t: &import::Totals, now: jiff::Timestamp) -> anyhow::Result<()> {
    let mut out = output::stdout();
    let shown: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    writeln!(
        out,
        "Imported {} entries from {} transcript files ({} read now) in {}",
        t.entries,
        t.files,
        t.files_read,
        shown.join(", ")
    )?;
    writeln!(
        out,
        "\nDay (local)  input  output  cache write  cache read  total"
    )?;
    for d in t.days.iter().rev().take(14).rev() {
        writeln!(
            out,
            "{}  {}  {}  {}  {}  {}",
            d.date,
            tokens(d.counts.input_tokens),
            tokens(d.counts.output_tokens),
            tokens(d.counts.cache_creation_tokens),
            tokens(d.counts.cache_read_tokens),
            tokens(d.total_tokens)
        )?;
    }
    if let Some(b) = t.current_block(now) {
        writeln!(out, "\nCurrent 5-hour block: {}", report::describe_block(b))?;
    }
    let ran: Vec<_> = t.sessions.iter().filter(|s| s.task.is_some()).collect();
    if !ran.is_empty() {
        writeln!(out, "\nSessions brain ran:")?;
        for s in ran.iter().rev().take(20) {
            writeln!(
                out,
                "  {}  {}  {} tokens",
                s.task.as_deref().unwrap_or_default(),
                s.session_id,
                tokens(s.total_tokens)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
