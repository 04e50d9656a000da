//! `.brain/usage/transcripts.cache`: each transcript's entries, with the stamp of the file
//! they were read from and how far it was read, so that an import reads only what is new; and
//! `transcripts.totals.json`, the totals last computed from them, so that an import of files
//! that did not change reads neither the entries nor the files. Only accelerators: a missing,
//! corrupt or old-version cache is ignored and rebuilt.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::store::cache::Stamp;
use crate::store::codec::{Dec, Enc};
use crate::usage::transcript::{Counts, Entry, FileData, parse_into};

const MAGIC: &[u8; 8] = b"BRNUSE03";
/// How many bytes before the read-up-to point are checked to tell a grown file from a
/// rewritten one.
const TAIL: u64 = 256;

fn digest(bytes: &[u8]) -> u64 {
    use sha1::Digest;
    let h = sha1::Sha1::digest(bytes);
    u64::from_le_bytes(h[..8].try_into().unwrap_or_default())
}

/// The digest of the [`TAIL`] bytes of `f` before `upto`.
fn tail_of(f: &mut std::fs::File, upto: u64) -> Option<u64> {
    let from = upto.saturating_sub(TAIL);
    f.seek(SeekFrom::Start(from)).ok()?;
    let mut buf = Vec::with_capacity(TAIL as usize);
    f.take(upto - from).read_to_end(&mut buf).ok()?;
    (buf.len() as u64 == upto - from).then(|| digest(&buf))
}

/// Brings `old` up to date for the files `found`: unchanged ones as they are, grown ones read
/// from where they were read up to, others read whole. Returns them in `found`'s order, how
/// many were read, and how many of `old` are gone.
pub(crate) fn refresh(
    found: Vec<PathBuf>,
    mut old: HashMap<PathBuf, FileData>,
) -> (Vec<FileData>, usize, usize) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let mut out: Vec<Option<FileData>> = Vec::with_capacity(found.len());
    let mut work: Vec<(usize, FileData)> = Vec::new();
    for path in found {
        let Ok(md) = std::fs::metadata(&path) else {
            continue;
        };
        let stamp = Stamp::of(&md);
        match old.remove(&path) {
            Some(d) if d.stamp == stamp && !stamp.racy(now) => out.push(Some(d)),
            Some(mut d) if md.len() >= d.parsed_upto => {
                d.stamp = stamp;
                work.push((out.len(), d));
                out.push(None);
            }
            _ => {
                work.push((out.len(), FileData::new(path, stamp)));
                out.push(None);
            }
        }
    }
    let read = work.len();
    // The largest first, shared out between the threads as they free up.
    work.sort_by_key(|(_, d)| {
        std::cmp::Reverse(d.stamp.parts().1 - d.parsed_upto.min(d.stamp.parts().1))
    });
    let next = AtomicUsize::new(0);
    let done = Mutex::new(Vec::with_capacity(work.len()));
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(work.len().max(1));
    let work = Mutex::new(work.into_iter().map(Some).collect::<Vec<_>>());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let item = match work.lock() {
                        Ok(mut w) => match w.get_mut(i) {
                            Some(slot) => slot.take(),
                            None => break,
                        },
                        Err(_) => break,
                    };
                    let Some((at, d)) = item else { break };
                    let d = read_file(d);
                    if let Ok(mut done) = done.lock() {
                        done.push((at, d));
                    }
                }
            });
        }
    });
    for (at, d) in done.into_inner().unwrap_or_default() {
        out[at] = Some(d);
    }
    (out.into_iter().flatten().collect(), read, old.len())
}

/// Reads what is new in `d`'s file (all of it when it was rewritten).
fn read_file(mut d: FileData) -> FileData {
    let Ok(mut f) = std::fs::File::open(&d.path) else {
        return FileData::new(d.path, d.stamp);
    };
    if d.parsed_upto > 0 && tail_of(&mut f, d.parsed_upto) != Some(d.tail) {
        d = FileData::new(d.path, d.stamp);
    }
    if f.seek(SeekFrom::Start(d.parsed_upto)).is_err() {
        return FileData::new(d.path, d.stamp);
    }
    let mut bytes = Vec::new();
    if f.read_to_end(&mut bytes).is_err() {
        return FileData::new(d.path, d.stamp);
    }
    let consumed = parse_into(&bytes, &mut d) as u64;
    d.parsed_upto += consumed;
    d.tail = tail_of(&mut f, d.parsed_upto).unwrap_or(0);
    d
}

/// The bytes of one encoded entry.
const ENTRY_BYTES: usize = 8 * 3 + 1 + 8 * 4 + 4 * 2;

/// A count of items of at least `each` bytes, no more than what is left could hold (a corrupt
/// count is not an allocation to try).
fn count(d: &mut Dec<'_>, each: usize) -> Option<usize> {
    let n = usize::try_from(d.u64()?).ok()?;
    (n.checked_mul(each)? <= d.0.len()).then_some(n)
}

/// The stamps part of the cache: what each file was when it was read.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// Changes whenever the entries do: the totals computed from them are kept under it.
    pub generation: u64,
    pub files: Vec<(PathBuf, Stamp, u64)>,
}

/// Writes the cache (errors are ignored: it is only an accelerator) under a new generation,
/// which it returns. A file changed so recently that a later change could share its stamp is
/// kept with no stamp: the next import checks it again (from where it was read up to, so that
/// costs little).
///
/// Layout: magic, generation, the index's length, the index (per file: path, stamp, how far
/// it was read, the digest of its tail, where its data is), then the data (per file: its
/// sessions, models, last limit message and entries).
pub(crate) fn save(path: &Path, files: &[FileData]) -> u64 {
    let generation = crate::random_u64();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    let mut data = Enc(Vec::with_capacity(
        files
            .iter()
            .map(|f| 256 + f.entries.len() * ENTRY_BYTES)
            .sum::<usize>(),
    ));
    let mut index = Enc(Vec::with_capacity(files.len() * 160));
    index.u64(files.len() as u64);
    for f in files {
        index.str(&f.path.to_string_lossy());
        let (ino, size, m, c) = if f.stamp.racy(now) {
            (0, 0, 0, 0)
        } else {
            f.stamp.parts()
        };
        index.u64(ino);
        index.u64(size);
        index.i128(m);
        index.i128(c);
        index.u64(f.parsed_upto);
        index.u64(f.tail);
        index.u64(data.0.len() as u64);
        encode_data(&mut data, f);
    }
    let mut out = Vec::with_capacity(24 + index.0.len() + data.0.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&(index.0.len() as u64).to_le_bytes());
    out.extend_from_slice(&index.0);
    out.extend_from_slice(&data.0);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = crate::fsutil::write_atomic_nosync(path, &out);
    generation
}

fn encode_data(e: &mut Enc, f: &FileData) {
    e.list(&f.sessions);
    e.list(&f.models);
    match &f.limit {
        Some((t, m)) => {
            e.u8(1);
            e.i64(*t);
            e.str(m);
        }
        None => e.u8(0),
    }
    e.u64(f.entries.len() as u64);
    for x in &f.entries {
        e.i64(x.ts_ms);
        e.u64(x.msg);
        e.u64(x.req);
        e.u8(u8::from(x.sidechain));
        let c = &x.counts;
        for v in [
            c.input_tokens,
            c.output_tokens,
            c.cache_creation_tokens,
            c.cache_read_tokens,
        ] {
            e.u64(v);
        }
        e.u32(x.session);
        e.u32(x.model);
    }
}

/// The index part of the cache only (a small read, however many entries there are).
pub(crate) fn load_index(path: &Path) -> Option<Index> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 24];
    f.read_exact(&mut head).ok()?;
    if &head[..8] != MAGIC {
        return None;
    }
    let generation = u64::from_le_bytes(head[8..16].try_into().ok()?);
    let len = u64::from_le_bytes(head[16..24].try_into().ok()?);
    if len > f.metadata().ok()?.len() {
        return None;
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.take(len).read_to_end(&mut bytes).ok()?;
    let mut d = Dec(&bytes);
    let n = count(&mut d, 40)?;
    let mut files = Vec::with_capacity(n);
    for _ in 0..n {
        let path = PathBuf::from(d.str()?);
        let stamp = Stamp::new(d.u64()?, d.u64()?, d.i128()?, d.i128()?);
        let parsed_upto = d.u64()?;
        let _tail = d.u64()?;
        let _at = d.u64()?;
        files.push((path, stamp, parsed_upto));
    }
    Some(Index { generation, files })
}

/// Reads the whole cache; a missing or unreadable one is empty.
pub(crate) fn load(path: &Path) -> HashMap<PathBuf, FileData> {
    std::fs::read(path)
        .ok()
        .and_then(|b| decode(&b))
        .unwrap_or_default()
}

fn decode(bytes: &[u8]) -> Option<HashMap<PathBuf, FileData>> {
    let mut d = Dec(bytes);
    if d.take(MAGIC.len())? != MAGIC {
        return None;
    }
    let _generation = d.u64()?;
    let index_len = count(&mut d, 1)?;
    let mut index = Dec(d.take(index_len)?);
    let data = d.0;
    let n = count(&mut index, 40)?;
    let mut out = HashMap::with_capacity(n);
    for _ in 0..n {
        let path = PathBuf::from(index.str()?);
        let stamp = Stamp::new(index.u64()?, index.u64()?, index.i128()?, index.i128()?);
        let mut f = FileData::new(path, stamp);
        f.parsed_upto = index.u64()?;
        f.tail = index.u64()?;
        let at = usize::try_from(index.u64()?).ok()?;
        decode_data(&mut Dec(data.get(at..)?), &mut f)?;
        out.insert(f.path.clone(), f);
    }
    Some(out)
}

fn decode_data(d: &mut Dec<'_>, f: &mut FileData) -> Option<()> {
    f.sessions = d.list()?;
    f.models = d.list()?;
    if d.u8()? == 1 {
        f.limit = Some((d.i64()?, d.str()?));
    }
    let n = count(d, ENTRY_BYTES)?;
    f.entries.reserve_exact(n);
    for _ in 0..n {
        let ts_ms = d.i64()?;
        let msg = d.u64()?;
        let req = d.u64()?;
        let sidechain = d.u8()? == 1;
        let counts = Counts {
            input_tokens: d.u64()?,
            output_tokens: d.u64()?,
            cache_creation_tokens: d.u64()?,
            cache_read_tokens: d.u64()?,
        };
        f.entries.push(Entry {
            ts_ms,
            msg,
            req,
            sidechain,
            counts,
            session: d.u32()?,
            model: d.u32()?,
        });
    }
    Some(())
}
