//! A derived, per-folder cache of parsed tasks, so that listing 100,000 tasks does not parse
//! 100,000 YAML documents.
//!
//! Like git's index, an entry is trusted only while the file's inode, size, mtime and ctime are
//! unchanged, and a file modified just before the cache was written is never cached (its mtime
//! could be shared with a later edit of the same size): within [`RACY_FINE_MS`] on file systems
//! with sub-second timestamps (a Linux timestamp tick is 1 to 10 ms), within [`RACY_COARSE_SECS`]
//! where timestamps are whole seconds (FAT, HFS+). The cache is only an
//! accelerator: a missing, corrupt or old-version cache is ignored and rebuilt, and deleting
//! `.brain/cache/` is always safe.

use std::collections::HashMap;
use std::fs::Metadata;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::fsutil;
use crate::store::codec::{Dec, Enc};
use crate::task::{Approval, Meta, Priority, State, Task};

const MAGIC: &[u8; 8] = b"BRNCACH6";
/// Files changed this recently (milliseconds) are not cached, where timestamps are fine-grained.
pub const RACY_FINE_MS: i128 = 100;
/// Files changed this recently (seconds) are not cached, where timestamps are whole seconds.
pub const RACY_COARSE_SECS: i128 = 2;

/// What identifies one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

fn ns(t: std::io::Result<SystemTime>) -> i128 {
    match t {
        Ok(t) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        },
        Err(_) => 0,
    }
}

impl Stamp {
    /// A stamp from its parts (nanoseconds since the epoch).
    pub fn new(ino: u64, size: u64, mtime_ns: i128, ctime_ns: i128) -> Stamp {
        Stamp {
            ino,
            size,
            mtime_ns,
            ctime_ns,
        }
    }

    /// Its parts: inode, size, mtime and ctime (nanoseconds since the epoch).
    pub fn parts(&self) -> (u64, u64, i128, i128) {
        (self.ino, self.size, self.mtime_ns, self.ctime_ns)
    }

    /// The stamp of a file's metadata.
    pub fn of(md: &Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                ino: md.ino(),
                size: md.size(),
                mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
                ctime_ns: md.ctime() as i128 * 1_000_000_000 + md.ctime_nsec() as i128,
            }
        }
        #[cfg(not(unix))]
        {
            Stamp {
                ino: 0,
                size: md.len(),
                mtime_ns: ns(md.modified()),
                ctime_ns: ns(md.created()),
            }
        }
    }

    /// Whether the file changed so close to `now_ns` that a later change could share its stamp.
    pub fn racy(&self, now_ns: i128) -> bool {
        let coarse = self.mtime_ns % 1_000_000_000 == 0 && self.ctime_ns % 1_000_000_000 == 0;
        let window = if coarse {
            RACY_COARSE_SECS * 1_000_000_000
        } else {
            RACY_FINE_MS * 1_000_000
        };
        self.mtime_ns > now_ns - window || self.ctime_ns > now_ns - window
    }
}

/// The cached tasks of one folder: the raw cache bytes and an index by file name. A
/// task is decoded only when asked for, so lookups can run in parallel without copying.
#[derive(Debug, Default)]
pub struct FolderCache {
    bytes: Vec<u8>,
    /// (name range, stamp, task range) into `bytes`.
    index: Vec<IndexEntry>,
    /// Hash of a name to its position in `index`; `u32::MAX` marks a hash shared by two names
    /// (those are simply not served from the cache).
    by_hash: HashMap<u64, u32, Hashed>,
    dir: PathBuf,
    state: Option<State>,
}

impl FolderCache {
    /// Loads the cache at `path` for the folder `dir` in `state`; an unreadable or foreign file
    /// gives an empty cache.
    pub fn load(path: &Path, dir: &Path, state: State) -> FolderCache {
        let Ok(bytes) = std::fs::read(path) else {
            return FolderCache::default();
        };
        match index(&bytes) {
            Some(index) => FolderCache {
                by_hash: by_hash(&bytes, &index),
                bytes,
                index,
                dir: dir.to_path_buf(),
                state: Some(state),
            },
            None => FolderCache::default(),
        }
    }

    /// The position of `name`'s entry, if the file still has `stamp`.
    pub fn lookup(&self, name: &str, stamp: &Stamp) -> Option<u32> {
        let i = *self.by_hash.get(&fnv1a(name.as_bytes()))?;
        let (n, s, _) = self.index.get(i as usize)?;
        (s == stamp && &self.bytes[n.clone()] == name.as_bytes()).then_some(i)
    }

    /// The position and stamp of `name`'s entry if its inode is still `ino` (no stat needed:
    /// see [`crate::store::Repo::queue`] for when that is trusted).
    pub fn lookup_ino(&self, name: &str, ino: u64) -> Option<(u32, Stamp)> {
        let i = *self.by_hash.get(&fnv1a(name.as_bytes()))?;
        let (n, s, _) = self.index.get(i as usize)?;
        (s.ino == ino && ino != 0 && &self.bytes[n.clone()] == name.as_bytes()).then_some((i, *s))
    }

    /// The ordering key of entry `i`.
    pub fn key(&self, i: u32) -> Option<OrderKey> {
        let (_, _, body) = self.index.get(i as usize)?;
        decode_key(&mut Dec(&self.bytes[body.clone()]))
    }

    /// The task of entry `i`, whose file is `name`.
    pub fn decode(&self, i: u32, name: &str) -> Option<Task> {
        let state = self.state?;
        let (_, _, body) = self.index.get(i as usize)?;
        let mut d = Dec(&self.bytes[body.clone()]);
        decode_key(&mut d)?;
        decode_task(&mut d, self.dir.join(name), state)
    }

    /// The encoded key and task of entry `i`, to copy into a new cache unchanged.
    pub fn raw(&self, i: u32) -> Option<&[u8]> {
        let (_, _, body) = self.index.get(i as usize)?;
        Some(&self.bytes[body.clone()])
    }

    /// The cached task for `name`, if the file still has `stamp` (lookups in brain decode
    /// lazily through [`FolderCache::lookup`] and [`FolderCache::decode`]).
    #[cfg(test)]
    fn get(&self, name: &str, stamp: &Stamp) -> Option<Task> {
        self.decode(self.lookup(name, stamp)?, name)
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

/// What a new cache entry is made from: a parsed task, or the bytes of an old entry.
pub enum Source<'a> {
    Task(&'a Task),
    Raw(&'a [u8]),
}

/// Writes the cache of one folder (errors are ignored: the cache is optional). Racy entries
/// are left out.
pub fn save<'a>(path: &Path, items: impl Iterator<Item = (&'a str, Stamp, Source<'a>)>) {
    let now = ns(Ok(SystemTime::now()));
    let items: Vec<_> = items.filter(|(_, s, _)| !s.racy(now)).collect();
    let mut e = Enc(Vec::with_capacity(64 + items.len() * 300));
    e.0.extend_from_slice(MAGIC);
    e.u64(items.len() as u64);
    let mut body = Enc(Vec::with_capacity(512));
    for (name, stamp, source) in items {
        e.str(name);
        e.u64(stamp.ino);
        e.u64(stamp.size);
        e.i128(stamp.mtime_ns);
        e.i128(stamp.ctime_ns);
        let bytes = match source {
            Source::Raw(b) => b,
            Source::Task(t) => {
                body.0.clear();
                encode_key(&mut body, &OrderKey::of(t));
                encode_task(&mut body, t);
                &body.0
            }
        };
        e.u32(bytes.len() as u32);
        e.0.extend_from_slice(bytes);
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = fsutil::write_atomic_nosync(path, &e.0);
}

/// What queue order needs of a task, small enough to sort 100,000 of them quickly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderKey {
    pub priority: Priority,
    /// `created` in nanoseconds; `None` sorts last.
    pub created: Option<i128>,
    /// Hash of `preferred_interface` ([`agent_hash`]), 0 when there is none.
    pub prefer: u64,
}

impl OrderKey {
    /// The key of a task.
    pub fn of(t: &Task) -> OrderKey {
        OrderKey {
            priority: t.meta.priority,
            created: t.meta.created.map(|c| c.as_nanosecond()),
            prefer: t.meta.preferred_interface.as_deref().map_or(0, agent_hash),
        }
    }
}

/// The hash an [`OrderKey`] keeps of an agent name (never 0).
pub fn agent_hash(agent: &str) -> u64 {
    fnv1a(agent.as_bytes()).max(1)
}

fn encode_key(e: &mut Enc, k: &OrderKey) {
    e.u8(k.priority as u8);
    match k.created {
        Some(c) => {
            e.u8(1);
            e.i128(c);
        }
        None => e.u8(0),
    }
    e.u64(k.prefer);
}

fn decode_key(d: &mut Dec<'_>) -> Option<OrderKey> {
    Some(OrderKey {
        priority: priority_of(d.u8()?)?,
        created: match d.u8()? {
            0 => None,
            _ => Some(d.i128()?),
        },
        prefer: d.u64()?,
    })
}

fn priority_of(v: u8) -> Option<Priority> {
    Some(match v {
        0 => Priority::Critical,
        1 => Priority::High,
        2 => Priority::Medium,
        3 => Priority::Low,
        _ => return None,
    })
}

fn encode_task(e: &mut Enc, t: &Task) {
    let m = &t.meta;
    e.str(&t.id);
    e.opt_str(&t.agent);
    e.str(&t.title);
    e.opt_str(&m.id);
    e.ts(m.created);
    e.u8(m.priority as u8);
    e.list(&m.requires);
    e.opt_str(&m.preferred_interface);
    e.opt_u64(m.timeout);
    e.opt_str(&m.status);
    e.opt_str(&m.title);
    e.list(&m.depends_on);
    e.u8(match m.approval {
        None => 0,
        Some(Approval::Required) => 1,
        Some(Approval::Approved) => 2,
        Some(Approval::Denied) => 3,
    });
    e.u8(m.unattended as u8);
    e.ts(m.not_before);
    e.opt_u64(m.max_attempts.map(u64::from));
    e.opt_u64(m.max_turns.map(u64::from));
    e.opt_str(&m.max_budget_usd);
    e.u32(m.attempt);
    e.u64(m.epoch);
    e.opt_str(&m.claimed_by);
    e.ts(m.claimed_at);
    e.ts(m.heartbeat_at);
    e.ts(m.completed_at);
    e.ts(m.failed_at);
    e.list(&t.warnings);
}

fn decode_task(d: &mut Dec<'_>, path: PathBuf, state: State) -> Option<Task> {
    let id = d.str()?;
    let agent = d.opt_str()?;
    let title = d.str()?;
    let meta = Meta {
        id: d.opt_str()?,
        created: d.ts()?,
        priority: priority_of(d.u8()?)?,
        requires: d.list()?,
        preferred_interface: d.opt_str()?,
        timeout: d.opt_u64()?,
        status: d.opt_str()?,
        title: d.opt_str()?,
        depends_on: d.list()?,
        approval: match d.u8()? {
            0 => None,
            1 => Some(Approval::Required),
            2 => Some(Approval::Approved),
            3 => Some(Approval::Denied),
            _ => return None,
        },
        unattended: d.u8()? != 0,
        not_before: d.ts()?,
        max_attempts: match d.opt_u64()? {
            Some(v) => Some(u32::try_from(v).ok()?),
            None => None,
        },
        max_turns: match d.opt_u64()? {
            Some(v) => Some(u32::try_from(v).ok()?),
            None => None,
        },
        max_budget_usd: d.opt_str()?,
        attempt: d.u32()?,
        epoch: d.u64()?,
        claimed_by: d.opt_str()?,
        claimed_at: d.ts()?,
        heartbeat_at: d.ts()?,
        completed_at: d.ts()?,
        failed_at: d.ts()?,
    };
    Some(Task {
        id,
        state,
        agent,
        title,
        path,
        meta,
        warnings: d.list()?,
    })
}

type IndexEntry = (Range<usize>, Stamp, Range<usize>);

fn index(bytes: &[u8]) -> Option<Vec<IndexEntry>> {
    let mut d = Dec(bytes);
    if d.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let count = d.u64()?;
    let mut out = Vec::with_capacity(count.min(1 << 22) as usize);
    let at = |d: &Dec<'_>| bytes.len() - d.0.len();
    for _ in 0..count {
        let n = d.u32()? as usize;
        let name_start = at(&d);
        d.take(n)?;
        let name = name_start..name_start + n;
        let stamp = Stamp {
            ino: d.u64()?,
            size: d.u64()?,
            mtime_ns: d.i128()?,
            ctime_ns: d.i128()?,
        };
        let len = d.u32()? as usize;
        let task_start = at(&d);
        d.take(len)?;
        out.push((name, stamp, task_start..task_start + len));
    }
    d.0.is_empty().then_some(out)
}

/// The map's keys are hashes already ([`fnv1a`]): they are used as they are.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Hashed;

impl std::hash::BuildHasher for Hashed {
    type Hasher = Unhashed;
    fn build_hasher(&self) -> Unhashed {
        Unhashed(0)
    }
}

/// The hasher of [`Hashed`]: the `u64` it is given.
pub(crate) struct Unhashed(u64);

impl std::hash::Hasher for Unhashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; anything else still gets a valid (if slow) hash.
        self.0 = bytes
            .iter()
            .fold(self.0, |h, b| h.rotate_left(8) ^ u64::from(*b));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn by_hash(bytes: &[u8], index: &[IndexEntry]) -> HashMap<u64, u32, Hashed> {
    let mut map = HashMap::with_capacity_and_hasher(index.len(), Hashed);
    for (i, (name, _, _)) in index.iter().enumerate() {
        map.entry(fnv1a(&bytes[name.clone()]))
            .and_modify(|v| *v = u32::MAX)
            .or_insert(i as u32);
    }
    map
}

/// FNV-1a: a fast hash for short names (the map is keyed by it, names are compared on lookup).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn round_trips_every_field_and_rejects_garbage() {
        let ts = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        let task = Task {
            id: "t-1".into(),
            state: State::Active,
            agent: Some("a".into()),
            title: "Title ü".into(),
            path: PathBuf::from("/r/tasks/active/t-1.a.md"),
            meta: Meta {
                id: Some("t-1".into()),
                created: ts("2026-01-31T02:30:00.5Z"),
                priority: Priority::Low,
                requires: vec!["x".into(), "y".into()],
                preferred_interface: Some("a".into()),
                timeout: Some(90),
                status: Some("active".into()),
                title: Some("Title ü".into()),
                depends_on: vec!["t-0".into()],
                approval: Some(Approval::Approved),
                unattended: false,
                not_before: ts("2026-02-01T00:00:00Z"),
                max_attempts: Some(5),
                max_turns: Some(30),
                max_budget_usd: Some("0.50".into()),
                attempt: 2,
                epoch: 7,
                claimed_by: Some("a".into()),
                claimed_at: ts("2026-01-31T03:00:00Z"),
                heartbeat_at: ts("2026-01-31T03:05:00Z"),
                completed_at: None,
                failed_at: ts("2026-01-31T03:06:00Z"),
            },
            warnings: vec!["a warning".into()],
        };
        let stamp = Stamp {
            ino: 1,
            size: 2,
            mtime_ns: 3,
            ctime_ns: 4,
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        save(
            &path,
            std::iter::once(("t-1.a.md", stamp, Source::Task(&task))),
        );
        let c = FolderCache::load(&path, Path::new("/r/tasks/active"), State::Active);
        assert_eq!(c.get("t-1.a.md", &stamp), Some(task.clone()));
        let i = c.lookup("t-1.a.md", &stamp).unwrap();
        assert_eq!(c.key(i), Some(OrderKey::of(&task)));
        // An entry copied raw reads back the same.
        let raw = c.raw(i).unwrap().to_vec();
        let copy = dir.path().join("c2");
        save(
            &copy,
            std::iter::once(("t-1.a.md", stamp, Source::Raw(&raw))),
        );
        let c2 = FolderCache::load(&copy, Path::new("/r/tasks/active"), State::Active);
        assert_eq!(c2.get("t-1.a.md", &stamp), Some(task.clone()));
        assert_eq!(c.get("t-1.a.md", &Stamp { size: 3, ..stamp }), None);
        std::fs::write(&path, b"BRNCACH3\x01\0\0\0\0\0\0\0\x05").unwrap();
        assert!(FolderCache::load(&path, Path::new("/r"), State::Active).is_empty());
    }

    #[test]
    fn racy_entries_are_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.md");
        std::fs::write(&file, "x").unwrap();
        let stamp = Stamp::of(&std::fs::metadata(&file).unwrap());
        let task = Task {
            id: "t".into(),
            state: State::Pending,
            agent: None,
            title: "t".into(),
            path: file.clone(),
            meta: crate::task::Meta::parse(
                &crate::task::frontmatter::Document::parse("---\n---\n".into()).unwrap(),
                &file,
            )
            .unwrap(),
            warnings: Vec::new(),
        };
        let path = dir.path().join("c");
        save(&path, std::iter::once(("t.md", stamp, Source::Task(&task))));
        let c = FolderCache::load(&path, dir.path(), State::Pending);
        assert!(c.is_empty(), "a file written just now was cached");
    }
}
