//! De-duplicating and summing the entries of the transcripts, by ccusage's rules (see
//! [`crate::usage::import`]): per day, per 5-hour block, per session.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::usage::transcript::{Counts, Entry, FileData};

/// One day's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    pub date: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub total_tokens: u64,
    pub models_used: Vec<String>,
}

/// A 5-hour block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Block {
    #[serde(with = "crate::task::time::ts")]
    pub start: Timestamp,
    /// When the block ends (and the plan's 5-hour window resets).
    #[serde(with = "crate::task::time::ts")]
    pub end: Timestamp,
    #[serde(with = "crate::task::time::ts")]
    pub last_entry: Timestamp,
    #[serde(flatten)]
    pub counts: Counts,
    pub total_tokens: u64,
    pub entries: usize,
}

impl Block {
    /// Whether the block is the current one at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        now < self.end && now.duration_since(self.last_entry).as_secs() < BLOCK_SECS as i64
    }
}

/// One session's tokens, and the task brain ran it for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub session_id: String,
    #[serde(with = "crate::task::time::ts")]
    pub first: Timestamp,
    #[serde(with = "crate::task::time::ts")]
    pub last: Timestamp,
    #[serde(flatten)]
    pub counts: Counts,
    pub total_tokens: u64,
    pub task: Option<String>,
}

/// A usage-limit message found among the transcripts' API errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenLimit {
    #[serde(with = "crate::task::time::ts")]
    pub at: Timestamp,
    pub message: String,
}

/// What an import counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    pub files: usize,
    /// Entries counted, after de-duplication.
    pub entries: usize,
    /// Files read (wholly or from where they grew) this time; the others came from the cache.
    pub files_read: usize,
    pub days: Vec<Day>,
    pub blocks: Vec<Block>,
    pub sessions: Vec<Session>,
    pub last_limit: Option<SeenLimit>,
}

/// The length of a block, in seconds.
pub const BLOCK_SECS: u64 = 5 * 3600;

impl Totals {
    /// The tokens of the (local) day `day`.
    pub fn tokens_on(&self, day: &str) -> u64 {
        self.days
            .iter()
            .find(|d| d.date == day)
            .map_or(0, |d| d.total_tokens)
    }

    /// The 5-hour block open at `now`, if one is.
    pub fn current_block(&self, now: Timestamp) -> Option<&Block> {
        self.blocks.last().filter(|b| b.active(now))
    }
}

/// The day of `now` in `tz` (`2026-01-31`).
pub fn local_day(now: Timestamp, tz: &TimeZone) -> String {
    now.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d")
        .to_string()
}

/// Whether `candidate` should replace `existing`, a copy of the same message (ccusage's
/// rule: the parent's copy over a sidechain's, else the larger count).
fn replaces(candidate: &Entry, existing: &Entry) -> bool {
    if candidate.sidechain != existing.sidechain {
        return existing.sidechain;
    }
    candidate.counts.total() > existing.counts.total()
}

/// A kept entry and the file it came from.
type Kept<'a> = (&'a Entry, &'a FileData);

/// De-duplicates and sums the entries of `files`.
pub(crate) fn aggregate(
    files: &[FileData],
    tz: &TimeZone,
    tasks: &HashMap<String, String>,
) -> Totals {
    let n: usize = files.iter().map(|f| f.entries.len()).sum();
    let mut kept: Vec<Kept<'_>> = Vec::with_capacity(n);
    let mut exact: HashMap<(u64, u64), usize> = HashMap::with_capacity(n);
    // The first kept copy of each message, and (rarely) the others under other request ids.
    let mut by_msg: HashMap<u64, usize> = HashMap::with_capacity(n);
    let mut more: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut last_limit: Option<(i64, &str)> = None;
    for f in files {
        if let Some((t, m)) = &f.limit
            && last_limit.is_none_or(|(lt, _)| *t > lt)
        {
            last_limit = Some((*t, m));
        }
        for e in &f.entries {
            if e.msg == 0 {
                kept.push((e, f));
                continue;
            }
            let same = exact.get(&(e.msg, e.req)).copied().or_else(|| {
                by_msg
                    .get(&e.msg)
                    .into_iter()
                    .chain(more.get(&e.msg).into_iter().flatten())
                    .copied()
                    .find(|&i| e.sidechain || kept[i].0.sidechain)
            });
            match same {
                Some(i) => {
                    if replaces(e, kept[i].0) {
                        kept[i] = (e, f);
                        // Later copies under the new request id are the same message too.
                        exact.insert((e.msg, e.req), i);
                    }
                }
                None => {
                    let at = kept.len();
                    exact.insert((e.msg, e.req), at);
                    match by_msg.entry(e.msg) {
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(at);
                        }
                        std::collections::hash_map::Entry::Occupied(_) => {
                            more.entry(e.msg).or_default().push(at)
                        }
                    }
                    kept.push((e, f));
                }
            }
        }
    }
    let mut totals = Totals {
        files: files.len(),
        entries: kept.len(),
        days: days(&kept, tz),
        sessions: sessions(&kept, tasks),
        last_limit: last_limit.and_then(|(t, m)| {
            Some(SeenLimit {
                at: Timestamp::from_millisecond(t).ok()?,
                message: m.to_string(),
            })
        }),
        ..Totals::default()
    };
    kept.sort_by_key(|(e, _)| e.ts_ms);
    totals.blocks = blocks(&kept);
    totals
}

fn days(kept: &[Kept<'_>], tz: &TimeZone) -> Vec<Day> {
    // Every time zone's offset is a whole number of quarter hours: one conversion per
    // quarter hour of entries, not one per entry.
    const SLOT_MS: i64 = 15 * 60 * 1000;
    let mut per_day: BTreeMap<String, (Counts, Vec<String>)> = BTreeMap::new();
    let mut slot_day: HashMap<i64, String> = HashMap::new();
    for (e, f) in kept {
        let slot = e.ts_ms.div_euclid(SLOT_MS);
        let date = slot_day.entry(slot).or_insert_with(|| {
            Timestamp::from_millisecond(slot * SLOT_MS)
                .map(|t| {
                    t.to_zoned_datetime(tz.clone())
                        .strftime("%Y-%m-%d")
                        .to_string()
                })
                .unwrap_or_default()
        });
        let d = per_day.entry(date.clone()).or_default();
        d.0.add(&e.counts);
        if let Some(m) = f.models.get(e.model as usize)
            && !d.1.contains(m)
        {
            d.1.push(m.clone());
        }
    }
    per_day
        .into_iter()
        .map(|(date, (counts, mut models))| {
            models.sort();
            Day {
                date,
                total_tokens: counts.total(),
                counts,
                models_used: models,
            }
        })
        .collect()
}

fn sessions(kept: &[Kept<'_>], tasks: &HashMap<String, String>) -> Vec<Session> {
    let mut map: HashMap<&str, (i64, i64, Counts)> = HashMap::new();
    for (e, f) in kept {
        let Some(id) = f.sessions.get(e.session as usize) else {
            continue;
        };
        let s = map
            .entry(id)
            .or_insert((e.ts_ms, e.ts_ms, Counts::default()));
        s.0 = s.0.min(e.ts_ms);
        s.1 = s.1.max(e.ts_ms);
        s.2.add(&e.counts);
    }
    let mut out: Vec<Session> = map
        .into_iter()
        .filter_map(|(id, (first, last, counts))| {
            Some(Session {
                session_id: id.to_string(),
                first: Timestamp::from_millisecond(first).ok()?,
                last: Timestamp::from_millisecond(last).ok()?,
                total_tokens: counts.total(),
                counts,
                task: tasks.get(id).cloned(),
            })
        })
        .collect();
    out.sort_by(|a, b| (a.last, &a.session_id).cmp(&(b.last, &b.session_id)));
    out
}

fn blocks(sorted: &[Kept<'_>]) -> Vec<Block> {
    const HOUR_MS: i64 = 3600 * 1000;
    let len = BLOCK_SECS as i64 * 1000;
    let mut out = Vec::new();
    let mut cur: Option<(i64, i64, Counts, usize)> = None;
    let close = |(start, last, counts, n): (i64, i64, Counts, usize)| -> Option<Block> {
        Some(Block {
            start: Timestamp::from_millisecond(start).ok()?,
            end: Timestamp::from_millisecond(start + len).ok()?,
            last_entry: Timestamp::from_millisecond(last).ok()?,
            total_tokens: counts.total(),
            counts,
            entries: n,
        })
    };
    for (e, _) in sorted {
        let t = e.ts_ms;
        if let Some(c) = cur
            && (t - c.0 > len || t - c.1 > len)
        {
            out.extend(close(c));
            cur = None;
        }
        let c = cur.get_or_insert((t.div_euclid(HOUR_MS) * HOUR_MS, t, Counts::default(), 0));
        c.1 = t;
        c.2.add(&e.counts);
        c.3 += 1;
    }
    out.extend(cur.and_then(close));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cache::Stamp;
    use crate::task::time::format_ts;
    use crate::usage::transcript::parse_into;
    use crate::usage::transcript::tests::line;

    fn count(text: &str) -> Totals {
        let mut f = FileData::new("s1.jsonl".into(), Stamp::new(0, 0, 0, 0));
        parse_into(text.as_bytes(), &mut f);
        aggregate(&[f], &TimeZone::UTC, &HashMap::new())
    }

    #[test]
    fn copies_of_a_message_count_once_the_larger_one() {
        let t = count(
            &(line(Some("m1"), Some("r1"), 5, "")
                + &line(Some("m1"), Some("r1"), 50, "")
                + &line(Some("m1"), Some("r1"), 20, "")),
        );
        assert_eq!(t.entries, 1);
        assert_eq!(t.days[0].counts.output_tokens, 50);
        // Entries without ids are each counted.
        let t = count(&(line(None, None, 5, "") + &line(None, None, 5, "")));
        assert_eq!(t.days[0].counts.output_tokens, 10);
    }

    #[test]
    fn a_sidechain_replay_of_a_message_is_dropped_for_the_parents_copy() {
        let t = count(
            &(line(Some("m1"), Some("r1"), 30, "")
                + &line(Some("m1"), Some("r-replay"), 99, r#""isSidechain":true,"#)
                + &line(Some("m2"), Some("r2"), 7, r#""isSidechain":true,"#)),
        );
        // The replay (same message, new request id) is dropped; the sidechain's own answer
        // counts.
        assert_eq!(t.entries, 2);
        assert_eq!(t.days[0].counts.output_tokens, 37);
    }

    #[test]
    fn synthetic_malformed_and_null_lines_count_nothing() {
        let synthetic = line(Some("m9"), None, 500, r#""isApiErrorMessage":true,"#)
            .replace("claude-sonnet-4-5", "<synthetic>")
            .replace(
                r#""usage""#,
                r#""content":[{"type":"text","text":"Claude AI usage limit reached|1764590400"}],"usage""#,
            );
        let t = count(
            &(line(Some("m1"), Some("r1"), 1, "")
                + &synthetic
                + "not json\n"
                + &line(Some("m2"), Some("r2"), 1000, "").replace(r#","output_tokens":1000"#, "")
                + &line(Some("m3"), Some("r3"), 1000, "")
                    .replace(r#""requestId":"r3""#, r#""requestId":"""#)
                + &line(Some("m4"), Some("r4"), 1000, "").replace(r#""id":"m4""#, r#""id":null"#)
                + &line(Some("m5"), Some("r5"), 1000, "").replace(
                    r#""cache_read_input_tokens":100"#,
                    r#""cache_read_input_tokens":null"#,
                )
                + &line(Some("m6"), Some("r6"), 1000, "").replace(".000Z", "+00:00")
                + &line(Some("m7"), Some("r7"), 1000, "").replace("2.1.332", "next")),
        );
        assert_eq!(t.entries, 1);
        assert_eq!(t.days[0].counts.output_tokens, 1);
        // The limit among the API errors is kept.
        let l = t.last_limit.unwrap();
        assert!(
            l.message.contains("usage limit reached|1764590400"),
            "{l:?}"
        );
    }

    #[test]
    fn an_agents_progress_line_counts_its_message_once() {
        let inner = line(Some("m1"), Some("r1"), 42, r#""isSidechain":true,"#);
        let progress = format!(
            r#"{{"type":"progress","data":{{"message":{}}},"timestamp":"2026-11-30T10:00:01.000Z"}}"#,
            inner.trim()
        ) + "\n";
        let t = count(&(progress.clone() + &inner));
        assert_eq!(t.entries, 1);
        assert_eq!(t.days[0].counts.output_tokens, 42);
    }

    #[test]
    fn days_follow_the_time_zone_and_blocks_start_on_the_hour() {
        let at =
            |t: &str, m: &str| line(Some(m), Some(m), 1, "").replace("2026-11-30T10:00:00.000Z", t);
        let text = at("2026-11-30T18:20:00.000Z", "a")
            + &at("2026-11-30T19:00:00.000Z", "b")
            + &at("2026-12-01T02:00:00.000Z", "c");
        let mut f = FileData::new("s.jsonl".into(), Stamp::new(0, 0, 0, 0));
        parse_into(text.as_bytes(), &mut f);
        let kolkata = TimeZone::get("Asia/Kolkata").unwrap();
        let t = aggregate(&[f], &kolkata, &HashMap::new());
        // 18:20 UTC is 23:50 in Kolkata; 19:00 UTC is 00:30 the next day.
        let days: Vec<(&str, u64)> = t
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.counts.output_tokens))
            .collect();
        assert_eq!(days, [("2026-11-30", 1), ("2026-12-01", 2)]);
        let b: Vec<(String, String, usize)> = t
            .blocks
            .iter()
            .map(|b| (format_ts(b.start), format_ts(b.end), b.entries))
            .collect();
        assert_eq!(
            b,
            [
                (
                    "2026-11-30T18:00:00Z".to_string(),
                    "2026-11-30T23:00:00Z".to_string(),
                    2
                ),
                (
                    "2026-12-01T02:00:00Z".to_string(),
                    "2026-12-01T07:00:00Z".to_string(),
                    1
                ),
            ]
        );
    }
}
