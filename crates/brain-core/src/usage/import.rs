//! Claude Code's transcripts, counted the way ccusage counts them (see
//! `shared/notes/claude-limits-and-usage.md` and ccusage's `adapter/claude`):
//!
//! - every `*.jsonl` under `<root>/projects/` for each root (the front end gives the roots:
//!   each of `CLAUDE_CONFIG_DIR`'s, else `~/.config/claude` and `~/.claude`);
//! - a line counts when it has a `message.usage` object (also inside an agent's `progress`
//!   line); malformed lines, and lines whose ids are empty or null, are skipped; model
//!   `<synthetic>` (Claude Code's own error messages) counts nothing;
//! - de-duplication on (`message.id`, `requestId`): of two copies the one with the larger
//!   token total stays; a sidechain copy (`isSidechain: true`) of a message already seen,
//!   even under a new request id, is dropped in favour of the parent's;
//! - days by the entry's time in the given time zone; 5-hour blocks that start at an entry's
//!   hour (UTC) and end 5 hours later; the next entry after a block's end, or after a 5-hour
//!   gap, starts a new one.
//!
//! It is incremental: each file's entries are kept in `.brain/usage/transcripts.cache` with
//! the file's stamp; an unchanged file is not read again, a grown one only from where it was
//! read up to (transcripts are only ever appended to).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::store::cache::Stamp;
use crate::task::time::format_ts;
use crate::usage::aggregate::aggregate;
pub use crate::usage::aggregate::{BLOCK_SECS, Block, Day, SeenLimit, Session, Totals, local_day};
use crate::usage::cache;
pub use crate::usage::transcript::Counts;

/// The transcript roots of a front end's environment: each directory of `config_dir`
/// (`CLAUDE_CONFIG_DIR`, comma-separated) if given, else `~/.config/claude` and `~/.claude`;
/// only those with a `projects` folder.
pub fn roots(config_dir: Option<&str>, home: Option<&Path>) -> Vec<PathBuf> {
    let candidates: Vec<PathBuf> = match config_dir.map(str::trim).filter(|s| !s.is_empty()) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect(),
        None => home
            .map(|h| vec![h.join(".config").join("claude"), h.join(".claude")])
            .unwrap_or_default(),
    };
    let mut out: Vec<PathBuf> = Vec::new();
    for c in candidates {
        let c = std::path::absolute(&c).unwrap_or(c);
        if c.join("projects").is_dir() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Counts the transcripts under `roots`, using and updating the cache at `cache_path`.
/// `tasks` maps session ids to the tasks brain ran them for; `tz` places days.
/// Files that cannot be read count as empty.
pub fn import(
    roots: &[PathBuf],
    cache_path: &Path,
    tz: &TimeZone,
    tasks: &HashMap<String, String>,
) -> Result<Totals> {
    let mut found = Vec::new();
    for r in roots {
        walk(&r.join("projects"), &mut found);
    }
    // By their bytes: as good an order as any, and much cheaper than comparing components.
    found.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    found.dedup();
    let index = cache::load_index(cache_path);
    let key = totals_key(tz, tasks);
    let totals_path = cache_path.with_extension("totals.json");
    // Nothing changed since the last import: its totals, without reading the entries.
    if let (Some(index), Some(key)) = (&index, &key)
        && unchanged(&found, index)
        && let Some(t) = load_totals(&totals_path, index.generation, key)
    {
        return Ok(t);
    }
    let listed = index.as_ref().is_some_and(|i| same_list(&found, i));
    let old = cache::load(cache_path);
    let (files, read, gone) = cache::refresh(found, old);
    let generation = match &index {
        Some(i) if read == 0 && gone == 0 && listed => i.generation,
        _ => cache::save(cache_path, &files),
    };
    let mut totals = aggregate(&files, tz, tasks);
    if let Some(key) = &key {
        save_totals(&totals_path, generation, key, &totals);
    }
    totals.files_read = read;
    Ok(totals)
}

/// Whether `index` lists the files `found`, in that order.
fn same_list(found: &[PathBuf], index: &cache::Index) -> bool {
    found.len() == index.files.len() && found.iter().zip(&index.files).all(|(p, (q, _, _))| p == q)
}

/// Whether the files `found` are exactly those of `index`, each with the stamp it had.
fn unchanged(found: &[PathBuf], index: &cache::Index) -> bool {
    same_list(found, index)
        && index
            .files
            .iter()
            .all(|(_, stamp, _)| stamp.parts() != (0, 0, 0, 0))
        && crate::store::scan::parallel_map(&index.files, |(p, stamp, _)| {
            std::fs::metadata(p).is_ok_and(|md| Stamp::of(&md) == *stamp)
        })
        .into_iter()
        .all(|same| same)
}

/// What the totals depend on besides the entries: the time zone and the sessions brain ran.
fn totals_key(tz: &TimeZone, tasks: &HashMap<String, String>) -> Option<String> {
    use sha1::Digest;
    let zone = tz.iana_name()?;
    let mut pairs: Vec<_> = tasks.iter().collect();
    pairs.sort();
    let mut h = sha1::Sha1::new();
    for (s, t) in pairs {
        h.update(s.as_bytes());
        h.update(b"\t");
        h.update(t.as_bytes());
        h.update(b"\n");
    }
    let d = h.finalize();
    Some(format!(
        "{zone} {:016x}",
        u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
    ))
}

#[derive(Serialize, Deserialize)]
struct SavedTotals {
    generation: u64,
    key: String,
    totals: Totals,
}

fn load_totals(path: &Path, generation: u64, key: &str) -> Option<Totals> {
    let saved: SavedTotals = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    (saved.generation == generation && saved.key == key).then_some(Totals {
        files_read: 0,
        ..saved.totals
    })
}

fn save_totals(path: &Path, generation: u64, key: &str, totals: &Totals) {
    let saved = SavedTotals {
        generation,
        key: key.to_string(),
        totals: totals.clone(),
    };
    if let Ok(bytes) = serde_json::to_vec(&saved) {
        let _ = crate::fsutil::write_atomic_nosync(path, &bytes);
    }
}

/// Every `*.jsonl` below `dir` (symbolic links to folders are not followed).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let p = e.path();
        if kind.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

/// What the machine's usage file keeps of an import.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Imported {
    pub imported_at: Option<String>,
    /// The local day of `tokens_today`.
    pub day: String,
    pub tokens_today: u64,
    /// The current 5-hour block, if one is open: its start, end and tokens.
    pub block_start: Option<String>,
    pub block_end: Option<String>,
    pub block_tokens: u64,
}

impl Imported {
    /// The summary of `t` at `now` (days in `tz`).
    pub fn of(t: &Totals, tz: &TimeZone, now: Timestamp) -> Imported {
        let day = local_day(now, tz);
        let block = t.current_block(now);
        Imported {
            imported_at: Some(format_ts(now)),
            tokens_today: t.tokens_on(&day),
            day,
            block_start: block.map(|b| format_ts(b.start)),
            block_end: block.map(|b| format_ts(b.end)),
            block_tokens: block.map_or(0, |b| b.total_tokens),
        }
    }

    pub(crate) fn from_value(v: &Value) -> Option<Imported> {
        let o = v.as_object()?;
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        let num = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
        Some(Imported {
            imported_at: text("imported_at"),
            day: text("day").unwrap_or_default(),
            tokens_today: num("tokens_today"),
            block_start: text("block_start"),
            block_end: text("block_end"),
            block_tokens: num("block_tokens"),
        })
    }

    pub(crate) fn render(&self) -> String {
        let mut s = String::from("transcripts:\n");
        if let Some(t) = &self.imported_at {
            s.push_str(&format!("  imported_at: {t}\n"));
        }
        s.push_str(&format!(
            "  day: {}\n  tokens_today: {}\n",
            self.day, self.tokens_today
        ));
        if let (Some(a), Some(b)) = (&self.block_start, &self.block_end) {
            s.push_str(&format!(
                "  block_start: {a}\n  block_end: {b}\n  block_tokens: {}\n",
                self.block_tokens
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::transcript::tests::line;

    #[test]
    fn an_import_reads_only_what_changed_and_what_grew() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("projects/p");
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
        std::fs::write(&a, line(Some("m1"), Some("r1"), 1, "")).unwrap();
        // b ends in the middle of a line, as a file Claude Code is writing does.
        let whole = line(Some("m2"), Some("r2"), 2, "");
        std::fs::write(&b, &whole[..40]).unwrap();
        let cache = tmp.path().join("cache");
        let roots = [tmp.path().to_path_buf()];
        let run = || import(&roots, &cache, &TimeZone::UTC, &HashMap::new()).unwrap();
        let t = run();
        assert_eq!((t.files, t.files_read, t.entries), (2, 2, 1));
        // Files changed this recently are read again (their stamp could be shared by a later
        // change); once they are older, not.
        std::thread::sleep(std::time::Duration::from_millis(150));
        let t = run();
        assert_eq!(t.files_read, 2);
        let t = run();
        assert_eq!((t.files_read, t.entries), (0, 1));
        // b grows: its line is completed and another follows; only b is read, from where
        // it was read up to.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&b).unwrap();
        f.write_all(&whole.as_bytes()[40..]).unwrap();
        f.write_all(line(Some("m3"), Some("r3"), 4, "").as_bytes())
            .unwrap();
        drop(f);
        let settle = || std::thread::sleep(std::time::Duration::from_millis(150));
        settle();
        let t = run();
        assert_eq!((t.files_read, t.entries), (1, 3));
        assert_eq!(t.days[0].counts.output_tokens, 7);
        // a is rewritten (not appended to): read again whole, its old entry gone.
        std::fs::write(&a, line(Some("m4"), Some("r4"), 8, "")).unwrap();
        settle();
        let t = run();
        assert_eq!((t.files_read, t.entries), (1, 3));
        assert_eq!(t.days[0].counts.output_tokens, 14);
        // A corrupt cache is only a slower import.
        std::fs::write(&cache, b"BRNUSE01garbage").unwrap();
        let t = run();
        assert_eq!((t.files_read, t.entries), (2, 3));
    }
}
