//! The claim order of `tasks/pending/` as a derived index, so that a claim among 100,000
//! pending tasks neither lists the folder nor loads its cache (issue 18).
//!
//! Two files under `.brain/cache/`:
//! - `pending.order`: every pending task's name and [`OrderKey`], sorted by priority, then
//!   `created`, then name, with the range of each priority and the agents its tasks prefer;
//! - `pending.order-log`: what locked sections changed since (a task's new key, or its
//!   removal), each change followed by the stamp of `tasks/pending/` after it.
//!
//! The index describes the folder as of its last stamp, and is used only while the folder's
//! stamp (inode, size, mtime, ctime) is still that one: a file added, removed or renamed by
//! anyone (a person, an editor, git) changes it, and the claim then lists the folder as before
//! and writes the index anew. Like the cache, it is used only for [`TRUST_SECS`] after a full
//! stat pass, and a claim reads each task it considers from its file, so an index that missed
//! a change (made in the same clock tick as a locked section's, or a file rewritten in place)
//! costs at most the order of the claims until the next full pass; never a task, and never a
//! claim made twice: the no-overwrite rename decides. Any unreadable, foreign or torn file is
//! simply not used, and deleting `.brain/cache/` is always safe.
//!
//! [`TRUST_SECS`]: crate::store::scan::TRUST_SECS

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::store::cache::{OrderKey, Stamp};
use crate::store::codec::{Dec, Enc};
use crate::task::Priority;

const MAGIC: &[u8; 8] = b"BRNORD01";
const LOG_MAGIC: &[u8; 8] = b"BRNORDL1";
/// More agents preferred within one priority than this are not listed (the claim then looks
/// through that priority for its own).
const PREFS: usize = 32;
/// A log longer than this is not appended to: the next claim writes the index anew.
const LOG_LIMIT: u64 = 1 << 20;

const UPSERT: u8 = 1;
const REMOVE: u8 = 2;
const STAMP: u8 = 3;

/// The index's two files for the cache file of `pending/` (`.brain/cache/pending.bin`).
#[derive(Debug, Clone)]
pub struct Files {
    base: PathBuf,
    log: PathBuf,
}

impl Files {
    /// The index's files next to the folder cache `cache` (`…/pending.bin`).
    pub fn beside(cache: &Path) -> Files {
        Files {
            base: cache.with_extension("order"),
            log: cache.with_extension("order-log"),
        }
    }
}

/// The stamp of a folder (`None` when it cannot be read).
pub fn dir_stamp(dir: &Path) -> Option<Stamp> {
    fs::symlink_metadata(dir).ok().map(|m| Stamp::of(&m))
}

fn put_stamp(e: &mut Enc, s: &Stamp) {
    let (ino, size, m, c) = s.parts();
    e.u64(ino);
    e.u64(size);
    e.i128(m);
    e.i128(c);
}

fn get_stamp(d: &mut Dec<'_>) -> Option<Stamp> {
    Some(Stamp::new(d.u64()?, d.u64()?, d.i128()?, d.i128()?))
}

fn put_rec(e: &mut Enc, name: &str, k: &OrderKey) {
    e.u8(k.priority as u8);
    e.u8(k.created.is_some() as u8);
    e.i128(k.created.unwrap_or(0));
    e.u64(k.prefer);
    e.str(name);
}

fn get_rec<'a>(d: &mut Dec<'a>) -> Option<(&'a str, OrderKey)> {
    let priority = priority_of(d.u8()?)?;
    let has = d.u8()? != 0;
    let created = d.i128()?;
    let prefer = d.u64()?;
    let n = d.u32()? as usize;
    let name = std::str::from_utf8(d.take(n)?).ok()?;
    Some((
        name,
        OrderKey {
            priority,
            created: has.then_some(created),
            prefer,
        },
    ))
}

fn priority_of(v: u8) -> Option<Priority> {
    Priority::ALL.get(v as usize).copied()
}

/// The order of two tasks of one priority, without regard to preference: `created` (none
/// last), then name.
fn within(a: (&str, &OrderKey), b: (&str, &OrderKey)) -> std::cmp::Ordering {
    fn key<'a>((n, k): (&'a str, &OrderKey)) -> (Priority, bool, Option<i128>, &'a str) {
        (k.priority, k.created.is_none(), k.created, n)
    }
    key(a).cmp(&key(b))
}

/// Writes the index of a folder whose stamp was `stamp` before it was listed, with the key of
/// each task in it. Best effort: the index is only an accelerator.
pub fn write(files: &Files, stamp: Stamp, mut tasks: Vec<(&str, OrderKey)>) {
    tasks.sort_unstable_by(|a, b| within((a.0, &a.1), (b.0, &b.1)));
    let generation = generation();
    let mut body = Enc(Vec::with_capacity(tasks.len() * 48));
    let mut classes = Vec::new();
    for p in Priority::ALL {
        let start = body.0.len();
        let mut prefs: Vec<u64> = Vec::new();
        for (name, k) in tasks.iter().filter(|(_, k)| k.priority == p) {
            put_rec(&mut body, name, k);
            if k.prefer != 0 && prefs.len() <= PREFS && !prefs.contains(&k.prefer) {
                prefs.push(k.prefer);
            }
        }
        classes.push((start, body.0.len(), prefs));
    }
    let mut e = Enc(Vec::with_capacity(body.0.len() + 1024));
    e.0.extend_from_slice(MAGIC);
    e.u64(generation);
    put_stamp(&mut e, &stamp);
    for (start, end, prefs) in &classes {
        e.u64(*start as u64);
        e.u64(*end as u64);
        // More than PREFS: the count says so, and the claim looks through the priority.
        e.u32(prefs.len() as u32);
        for p in prefs.iter().take(PREFS) {
            e.u64(*p);
        }
    }
    e.0.extend_from_slice(&body.0);
    if let Some(dir) = files.base.parent() {
        let _ = fs::create_dir_all(dir);
    }
    // The base first: a reader between the two renames sees a log of another generation.
    let mut log = Enc(Vec::with_capacity(16));
    log.0.extend_from_slice(LOG_MAGIC);
    log.u64(generation);
    if fsutil::write_atomic_nosync(&files.base, &e.0).is_ok() {
        let _ = fsutil::write_atomic_nosync(&files.log, &log.0);
    }
}

/// Records what a locked section changed in `pending/` (each name with its new key, or `None`
/// when it left), if the index described the folder as it was when the section began
/// (`before`); `after` is the folder's stamp now. Otherwise the index is left as it is, no
/// longer matching the folder, and the next claim writes it anew.
pub fn append(files: &Files, before: Stamp, after: Stamp, changes: &[(String, Option<OrderKey>)]) {
    use std::io::Read;
    // The log is read and appended through one open file: if a claim writes the index anew
    // meanwhile, this lands in the log it replaced, and the new index no longer matches the
    // folder (rather than taking changes it was not written after).
    let Ok(mut log) = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(&files.log)
    else {
        return;
    };
    let mut bytes = Vec::new();
    if log.read_to_end(&mut bytes).is_err() {
        return;
    }
    let Some((generation, stamp)) = last_stamp(files, &bytes) else {
        return;
    };
    if stamp != before || generation == 0 {
        return;
    }
    if bytes.len() as u64 > LOG_LIMIT {
        let _ = fs::remove_file(&files.base);
        return;
    }
    let mut e = Enc(Vec::with_capacity(64 * changes.len() + 64));
    for (name, key) in changes {
        match key {
            Some(k) => {
                e.u8(UPSERT);
                put_rec(&mut e, name, k);
            }
            None => {
                e.u8(REMOVE);
                e.str(name);
            }
        }
    }
    e.u8(STAMP);
    put_stamp(&mut e, &after);
    // One write: a reader sees all of it or a log that does not end in a stamp.
    let _ = log.write_all(&e.0);
}

/// The generation and last stamp of the index whose log is `log`.
fn last_stamp(files: &Files, log: &[u8]) -> Option<(u64, Stamp)> {
    let mut head = [0u8; 8 + 8 + 48];
    use std::io::Read;
    fs::File::open(&files.base)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    let mut d = Dec(&head);
    (d.take(8)? == MAGIC).then_some(())?;
    let generation = d.u64()?;
    let base_stamp = get_stamp(&mut d)?;
    let (g, _, last) = read_log(log)?;
    (g == generation).then_some(())?;
    Some((generation, last.unwrap_or(base_stamp)))
}

type Changes<'a> = HashMap<&'a str, Option<OrderKey>>;

/// A log's generation, its changes (the last for each name) and the stamp it ends with;
/// `None` when it is torn or foreign.
fn read_log(bytes: &[u8]) -> Option<(u64, Changes<'_>, Option<Stamp>)> {
    let mut d = Dec(bytes);
    (d.take(8)? == LOG_MAGIC).then_some(())?;
    let generation = d.u64()?;
    let mut changes = HashMap::new();
    let mut last = None;
    let mut ends_in_stamp = true;
    while !d.0.is_empty() {
        match d.u8()? {
            UPSERT => {
                let (name, k) = get_rec(&mut d)?;
                changes.insert(name, Some(k));
                ends_in_stamp = false;
            }
            REMOVE => {
                let n = d.u32()? as usize;
                let name = std::str::from_utf8(d.take(n)?).ok()?;
                changes.insert(name, None);
                ends_in_stamp = false;
            }
            STAMP => {
                last = Some(get_stamp(&mut d)?);
                ends_in_stamp = true;
            }
            _ => return None,
        }
    }
    ends_in_stamp.then_some((generation, changes, last))
}

/// The index, when it describes the folder whose stamp is `now`. Its records are read from the
/// file as a claim reaches them (a claim usually needs the first few of 100,000).
pub struct Order {
    file: fs::File,
    /// Byte range of each priority's records in the file, and the agents they prefer (`None`:
    /// too many to list).
    classes: Vec<(usize, usize, Option<Vec<u64>>)>,
    /// The log's changes: names whose base record no longer counts, and the keys of those
    /// that are pending now, sorted as the base is.
    changed: std::collections::HashSet<String>,
    added: Vec<(String, OrderKey)>,
}

/// The most the header can take: magic, generation, stamp, and four priorities' ranges and
/// agents.
const HEAD_MAX: usize = 8 + 8 + 48 + 4 * (8 + 8 + 4 + 8 * PREFS);

/// How much of the base a claim reads at a time.
const CHUNK: usize = 64 * 1024;

/// A window on the base file, read as records are reached.
struct Window {
    file: fs::File,
    /// File offset of `buf[0]`.
    at: usize,
    buf: Vec<u8>,
}

impl Window {
    /// The bytes from `at` to at most `end`, at least `want` of them when there are that many.
    fn get(&mut self, at: usize, end: usize, want: usize) -> Option<&[u8]> {
        let have = self.at <= at && at + want.min(end - at) <= self.at + self.buf.len();
        if !have {
            use std::io::{Read, Seek, SeekFrom};
            let len = want.max(CHUNK).min(end - at);
            self.buf.resize(len, 0);
            self.file.seek(SeekFrom::Start(at as u64)).ok()?;
            self.file.read_exact(&mut self.buf).ok()?;
            self.at = at;
        }
        let from = at - self.at;
        Some(&self.buf[from..(end - self.at).min(self.buf.len())])
    }
}

impl Order {
    /// Opens the index; `None` unless it describes the folder as it is (`now`).
    pub fn load(files: &Files, now: &Stamp) -> Option<Order> {
        use std::io::Read;
        let mut file = fs::File::open(&files.base).ok()?;
        let size = file.metadata().ok()?.len() as usize;
        let mut head = vec![0u8; HEAD_MAX.min(size)];
        file.read_exact(&mut head).ok()?;
        let log = fs::read(&files.log).ok()?;
        let mut d = Dec(&head);
        (d.take(8)? == MAGIC).then_some(())?;
        let generation = d.u64()?;
        let base_stamp = get_stamp(&mut d)?;
        let (g, changes, last) = read_log(&log)?;
        if g != generation || last.unwrap_or(base_stamp) != *now {
            return None;
        }
        let mut classes = Vec::new();
        for _ in Priority::ALL {
            let (start, end) = (d.u64()? as usize, d.u64()? as usize);
            let n = d.u32()? as usize;
            let mut prefs = Vec::new();
            for _ in 0..n.min(PREFS) {
                prefs.push(d.u64()?);
            }
            classes.push((start, end, (n <= PREFS).then_some(prefs)));
        }
        let offset = head.len() - d.0.len();
        for (s, e, _) in &mut classes {
            (*s <= *e && offset + *e <= size).then_some(())?;
            *s += offset;
            *e += offset;
        }
        let mut added: Vec<(String, OrderKey)> = changes
            .iter()
            .filter_map(|(n, k)| Some((n.to_string(), (*k)?)))
            .collect();
        added.sort_unstable_by(|a, b| within((&a.0, &a.1), (&b.0, &b.1)));
        let changed = changes.keys().map(|n| n.to_string()).collect();
        Some(Order {
            file,
            classes,
            changed,
            added,
        })
    }

    /// The names of the pending tasks in claim order for the agent whose name hashes to `mine`
    /// ([`crate::store::cache::agent_hash`]; `u64::MAX` for none): by priority, the ones it
    /// prefers first, then `created`, then name.
    pub fn names(&self, mine: u64) -> Names<'_> {
        Names {
            window: self.file.try_clone().ok().map(|file| Window {
                file,
                at: 0,
                buf: Vec::new(),
            }),
            order: self,
            mine,
            class: 0,
            preferred: true,
            at: None,
            added: 0,
        }
    }

    /// How many pending tasks it holds (reads the whole index).
    pub fn len(&self) -> usize {
        use std::io::{Read, Seek, SeekFrom};
        let mut n = self.added.len();
        let mut file = &self.file;
        let mut base = Vec::new();
        if file.seek(SeekFrom::Start(0)).is_err() || file.read_to_end(&mut base).is_err() {
            return n;
        }
        for (start, end, _) in &self.classes {
            let mut d = Dec(&base[*start..*end]);
            while !d.0.is_empty() {
                match get_rec(&mut d) {
                    Some((name, _)) => n += usize::from(!self.changed.contains(name)),
                    None => break,
                }
            }
        }
        n
    }

    /// Whether it holds no pending task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The names of [`Order::names`], one at a time.
pub struct Names<'a> {
    order: &'a Order,
    /// `None` when the file could not be opened again: no names then.
    window: Option<Window>,
    mine: u64,
    class: usize,
    /// In the pass over the tasks `mine` prefers (then over the others).
    preferred: bool,
    /// Position in the base within the class (`None`: the pass has not started).
    at: Option<usize>,
    /// Position in `order.added`.
    added: usize,
}

impl Names<'_> {
    /// The record at `at` (before `end`): its length, name and key.
    fn record(&mut self, at: usize, end: usize) -> Option<(usize, String, OrderKey)> {
        let window = self.window.as_mut()?;
        let mut want = 256;
        loop {
            let bytes = window.get(at, end, want)?;
            let mut d = Dec(bytes);
            if let Some((name, k)) = get_rec(&mut d) {
                return Some((bytes.len() - d.0.len(), name.to_string(), k));
            }
            // Cut off by the window's end, or torn.
            if bytes.len() >= end - at || want > 1 << 20 {
                return None;
            }
            want *= 4;
        }
    }

    fn matches(&self, k: &OrderKey) -> bool {
        (k.prefer == self.mine) == self.preferred
    }

    /// Whether the pass over the tasks `mine` prefers in the current class can find any.
    fn worth_it(&self) -> bool {
        let p = Priority::ALL[self.class];
        let (_, _, prefs) = &self.order.classes[self.class];
        self.mine != u64::MAX
            && (prefs.as_ref().is_none_or(|v| v.contains(&self.mine))
                || self
                    .order
                    .added
                    .iter()
                    .any(|(_, k)| k.priority == p && k.prefer == self.mine))
    }
}

impl Iterator for Names<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if self.class >= self.order.classes.len() {
                return None;
            }
            let p = Priority::ALL[self.class];
            let (start, end, _) = self.order.classes[self.class];
            if self.at.is_none() {
                if self.preferred && !self.worth_it() {
                    self.preferred = false;
                }
                self.at = Some(start);
                self.added = 0;
            }
            // The next base record of this pass that the log did not change.
            let mut at = self.at.unwrap_or(start);
            let mut from_base = None;
            while at < end {
                let Some(rec) = self.record(at, end) else {
                    at = end;
                    break;
                };
                let (len, name, k) = rec;
                if self.matches(&k) && !self.order.changed.contains(&name) {
                    from_base = Some((at, len, name, k));
                    break;
                }
                at += len;
            }
            self.at = Some(at);
            // The next changed task of this class and pass.
            let added = &self.order.added;
            while self.added < added.len()
                && (added[self.added].1.priority != p || !self.matches(&added[self.added].1))
            {
                self.added += 1;
            }
            let from_log = added.get(self.added);
            match (from_base, from_log) {
                (None, None) => {
                    if self.preferred {
                        self.preferred = false;
                    } else {
                        self.preferred = true;
                        self.class += 1;
                    }
                    self.at = None;
                }
                (Some((at, len, name, k)), log)
                    if log.is_none_or(|(n, lk)| within((&name, &k), (n, lk)).is_lt()) =>
                {
                    self.at = Some(at + len);
                    return Some(name);
                }
                (_, Some((n, _))) => {
                    self.added += 1;
                    return Some(n.clone());
                }
                (Some(_), None) => unreachable!("handled by the guard above"),
            }
        }
    }
}

/// A number that tells one index from the next (0 is never used).
fn generation() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ (u64::from(std::process::id()) << 40)).max(1)
}

#[cfg(test)]
mod tests;
