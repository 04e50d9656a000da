//! Crash-safe file operations: write to a temporary file in the same folder, fsync, rename into
//! place, fsync the folder (the Maildir discipline); renames that never overwrite.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, IoContext, Result};

/// Marker in the names of brain's temporary files. They start with a dot and do not end in
/// `.md`, so no listing ever reads one as a task.
pub const TMP_MARKER: &str = ".brain-tmp.";

/// Whether a file name is one of brain's temporary files.
pub fn is_tmp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TMP_MARKER)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary path next to `target`.
pub fn tmp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file");
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    target.with_file_name(format!(".{name}{TMP_MARKER}{}.{n}", std::process::id()))
}

/// Whether `program` is a file in a folder on PATH (`program.exe`, `.cmd` or `.bat` on
/// Windows), found without running it.
pub fn on_path(program: &str) -> bool {
    let names: Vec<String> = if cfg!(windows) {
        ["exe", "cmd", "bat"]
            .iter()
            .map(|e| format!("{program}.{e}"))
            .collect()
    } else {
        vec![program.to_string()]
    };
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| names.iter().any(|n| dir.join(n).is_file()))
    })
}

/// Writes `data` to a new temporary file next to `target` and fsyncs it. The caller renames it.
pub fn write_tmp(target: &Path, data: &[u8]) -> Result<PathBuf> {
    let tmp = tmp_path_for(target);
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e).at("writing", &tmp);
    }
    Ok(tmp)
}

/// Replaces (or creates) `target` with `data` atomically: a reader sees the old or the new
/// content, never a mix, and a crash leaves one of the two.
pub fn write_atomic(target: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_tmp(target, data)?;
    if let Err(e) = fs::rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(e).at("replacing", target);
    }
    sync_parent(target)
}

/// Replaces `target` atomically without fsync: for derived files (caches) that may be lost
/// in a power cut but must never be read half-written.
pub fn write_atomic_nosync(target: &Path, data: &[u8]) -> Result<()> {
    let tmp = tmp_path_for(target);
    let res = fs::write(&tmp, data).and_then(|()| fs::rename(&tmp, target));
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res.at("writing", target)
}

/// [`write_atomic_nosync`] for a file that is rewritten over and over while the queue lock is
/// held (`context/active-agent.md`), reusing one spare file (`spare`, on the same file system)
/// instead of making and deleting a file each time: the new text goes into the spare, and the
/// two are swapped with one atomic `renameat2(RENAME_EXCHANGE)`, so the old text becomes the
/// next spare. Creating and deleting files is what costs most on a busy queue. Readers see the
/// old file or the new one, as with a rename; one that still holds the old file open while the
/// next rewrite reuses it may read that rewrite, which is fine for a derived summary but is why
/// task files are never written this way. Elsewhere, and whenever the swap is refused, it is a
/// plain [`write_atomic_nosync`].
pub fn rewrite_with_spare(target: &Path, spare: &Path, data: &[u8]) -> Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        if fs::write(spare, data).is_ok()
            && renameat_with(CWD, spare, CWD, target, RenameFlags::EXCHANGE).is_ok()
        {
            return Ok(());
        }
    }
    let _ = spare;
    write_atomic_nosync(target, data)
}

/// Creates `target` with `data` atomically, failing with `AlreadyExists` if it exists.
pub fn create_atomic(target: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_tmp(target, data)?;
    match rename_noreplace(&tmp, target) {
        Ok(()) => sync_parent(target),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e).at("creating", target)
        }
    }
}

/// fsyncs the folder holding `path`, so a rename into it survives a power cut.
pub fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// fsyncs a folder. A file system that cannot fsync folders (some network ones) is not an
/// error; on Windows, where folders cannot be opened for this, it does nothing.
pub fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    match File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(22) => {} // EINVAL: not supported (CIFS)
        Err(e) => return Err(e).at("syncing folder", dir),
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Renames `from` to `to` only if `to` does not exist; `AlreadyExists` otherwise. Of several
/// processes racing for one target, exactly one wins.
///
/// Linux uses `renameat2(RENAME_NOREPLACE)`, macOS `renameatx_np(RENAME_EXCL)`, Windows
/// `MoveFileExW` without `MOVEFILE_REPLACE_EXISTING`. Where the file system refuses the flag,
/// a hard link (which never overwrites) followed by removing the source does the same job; a
/// crash between the two leaves both names, which `brain doctor` reports.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    match native_rename_noreplace(from, to) {
        Ok(()) => Ok(()),
        Err(e) if fallback_wanted(&e) => {
            fs::hard_link(from, to)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

fn fallback_wanted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || matches!(e.raw_os_error(), Some(22) | Some(38) | Some(95))
}

#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn native_rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

#[cfg(windows)]
fn native_rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::windows::ffi::OsStrExt;
    use windows_sys::Win32::Storage::FileSystem::{MOVEFILE_WRITE_THROUGH, MoveFileExW};
    let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain(Some(0)).collect() };
    let (f, t) = (wide(from), wide(to));
    // SAFETY: both buffers are NUL-terminated UTF-16 strings that outlive the call.
    let ok = unsafe { MoveFileExW(f.as_ptr(), t.as_ptr(), MOVEFILE_WRITE_THROUGH) };
    if ok == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    windows
)))]
fn native_rename_noreplace(_from: &Path, _to: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// `1.6 MiB`-style size of a number of bytes, for messages.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Whether `a` and `b` name the same file (on a case-insensitive file system two spellings of
/// a name do). `false` when either is missing.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::symlink_metadata(a), fs::symlink_metadata(b)) {
            (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        match (fs::canonicalize(a), fs::canonicalize(b)) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

/// What a directory entry is, when it is not a regular file (for [`Error::Special`]).
fn special_kind(ft: &fs::FileType) -> Option<&'static str> {
    if ft.is_file() {
        return None;
    }
    if ft.is_symlink() {
        return Some("a symbolic link");
    }
    if ft.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return Some("a named pipe (FIFO)");
        }
        if ft.is_socket() {
            return Some("a socket");
        }
        if ft.is_block_device() || ft.is_char_device() {
            return Some("a device");
        }
    }
    Some("not a regular file")
}

/// Opens `path` for reading only if it is a regular file: never through a symbolic link,
/// never a named pipe (which would block the open or the read forever) or a device. Returns
/// the open file and its size.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    // Checked before opening, so that a device or a pipe is never opened at all...
    let md = fs::symlink_metadata(path).at("reading", path)?;
    if let Some(what) = special_kind(&md.file_type()) {
        return Err(Error::Special {
            path: path.to_path_buf(),
            what,
        });
    }
    let file = open_nofollow(path)?;
    // ...and again on what was opened, in case the path was swapped in between.
    let md = file.metadata().at("reading", path)?;
    if let Some(what) = special_kind(&md.file_type()) {
        return Err(Error::Special {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok((file, md.len()))
}

#[cfg(unix)]
fn open_nofollow(path: &Path) -> Result<File> {
    use rustix::fs::{Mode, OFlags, open};
    // O_NONBLOCK: opening a pipe for reading would otherwise wait for a writer.
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY;
    match open(path, flags | OFlags::CLOEXEC, Mode::empty()) {
        Ok(fd) => Ok(File::from(fd)),
        Err(rustix::io::Errno::LOOP) => Err(Error::Special {
            path: path.to_path_buf(),
            what: "a symbolic link",
        }),
        Err(e) => Err(Error::io("reading", path, e.into())),
    }
}

#[cfg(windows)]
fn open_nofollow(path: &Path) -> Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
        .at("reading", path)?;
    if file
        .metadata()
        .at("reading", path)?
        .file_type()
        .is_symlink()
    {
        return Err(Error::Special {
            path: path.to_path_buf(),
            what: "a symbolic link",
        });
    }
    Ok(file)
}

#[cfg(not(any(unix, windows)))]
fn open_nofollow(path: &Path) -> Result<File> {
    File::open(path).at("reading", path)
}

/// Reads `path` whole if it is a regular file of at most `limit` bytes (see
/// [`open_regular`]); a larger file is [`Error::TooLarge`], with `hint` saying what to do.
pub fn read_regular(path: &Path, limit: usize, hint: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let (file, size) = open_regular(path)?;
    let too_large = |size: u64| Error::TooLarge {
        path: path.to_path_buf(),
        message: format!(
            "the file is {} ({size} bytes); brain reads files like it of at most {} ({limit} bytes): {hint}",
            format_size(size),
            format_size(limit as u64),
        ),
    };
    if size > limit as u64 {
        return Err(too_large(size));
    }
    let mut buf = Vec::with_capacity(size as usize + 1);
    // Bounded even if the file grows while it is read.
    file.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .at("reading", path)?;
    if buf.len() > limit {
        return Err(too_large(buf.len() as u64));
    }
    Ok(buf)
}

/// [`read_regular`] of a text file: `None` when it does not exist.
pub fn read_text(path: &Path, limit: usize, hint: &str) -> Result<Option<String>> {
    match read_regular(path, limit, hint) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::parse(path, 1, "the file is not valid UTF-8: save it as UTF-8")),
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Swaps the names `a` and `b` in one atomic step (`renameat2(RENAME_EXCHANGE)` on Linux,
/// `renameatx_np(RENAME_SWAP)` on macOS). `Unsupported` elsewhere and on file systems that
/// cannot.
fn swap(a: &Path, b: &Path) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), 22 | 38 | 95) => {
                Err(io::Error::from(io::ErrorKind::Unsupported))
            }
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    {
        let _ = (a, b);
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// How many times [`replace_merging`] redoes its edit before it gives up on a file that keeps
/// changing under it.
const MERGE_ROUNDS: usize = 50;

/// The file [`replace_merging`] replaced, still open, and how much of it brain had read: a
/// writer that opened it just before the replace may still append to it (see
/// [`Replaced::appended`]).
#[derive(Debug)]
pub struct Replaced {
    file: File,
    len: u64,
}

impl Replaced {
    /// What was appended to the replaced file since brain read it (an `echo >>` that opened
    /// it a moment before the replace and wrote a moment after): to be appended to the new
    /// file, so that it is not lost. Empty when nothing came.
    pub fn appended(&self) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let now = self.file.metadata()?.len();
        if now <= self.len {
            return Ok(Vec::new());
        }
        let mut f = &self.file;
        f.seek(io::SeekFrom::Start(self.len))?;
        let mut buf = Vec::new();
        f.take(now - self.len).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

/// Replaces `target`, whose text was `expected` when the caller read it, with `new`, without
/// losing what someone else writes to it meanwhile (a person appending in an editor, a script):
/// when the file turns out to have changed between the caller's read and the replace, `redo`
/// is applied to the text that is there now and the result is written instead. Returns the
/// text left in place, and the replaced file (see [`Replaced`]). `tmp` is a file already
/// holding `new` (see [`write_tmp`]), if any.
///
/// Where the platform can swap two names atomically, the new file is swapped in and the old
/// one read back from where the new one was, so that nothing written before the swap can be
/// missed; elsewhere the file is compared just before the rename, and its old copy (still
/// open) read again just after it. What a writer that opened the old file before the replace
/// writes after it is in the returned [`Replaced`] for the caller to carry over.
pub fn replace_merging(
    target: &Path,
    expected: &[u8],
    new: Vec<u8>,
    tmp: Option<PathBuf>,
    limit: usize,
    redo: &mut dyn FnMut(&[u8]) -> Result<Vec<u8>>,
) -> Result<(Vec<u8>, Option<Replaced>)> {
    let mut expected = expected.to_vec();
    let mut new = new;
    let mut tmp = tmp;
    // Whether `expected` is a text this call wrote (then a change to it already holds the
    // caller's edit, and is kept as it is rather than edited again).
    let mut ours = false;
    for _ in 0..MERGE_ROUNDS {
        if new == expected {
            if let Some(t) = tmp.take() {
                let _ = fs::remove_file(t);
            }
            return Ok((new, None));
        }
        let path = match tmp.take() {
            Some(t) => t,
            None => write_tmp(target, &new)?,
        };
        let (prev, old) = match swap(&path, target) {
            Ok(()) => {
                // `path` now holds what `target` held at the instant of the swap.
                let read = read_open(&path, limit);
                let _ = fs::remove_file(&path);
                read?
            }
            Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                match rename_checked(&path, target, &expected, limit)? {
                    Checked::Replaced(after, old) => (after, old),
                    Checked::Changed(now) => {
                        let _ = fs::remove_file(&path);
                        expected = now;
                        new = redo(&expected)?;
                        ours = false;
                        continue;
                    }
                }
            }
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(Error::io("replacing", target, e));
            }
        };
        if prev == expected {
            return Ok((new, Some(old)));
        }
        // Changed between the caller's read and the replace: `target` holds `new`, which is
        // missing that change. Write it with the change in: what was appended (a note, a log
        // line) is appended to `new`; a text edited in place gets the edit made again on it,
        // unless it was edited on top of a text of this call's own, which has the edit already.
        let next = match prev.strip_prefix(expected.as_slice()) {
            Some(appended) => [new.as_slice(), appended].concat(),
            None if ours => prev,
            None => redo(&prev)?,
        };
        expected = std::mem::replace(&mut new, next);
        ours = true;
    }
    Err(Error::Invalid(format!(
        "{} kept changing while brain was writing it ({MERGE_ROUNDS} tries); nothing of it was lost, but brain's change may be missing: run the command again",
        target.display()
    )))
}

/// Reads the regular file at `path` whole and keeps it open.
fn read_open(path: &Path, limit: usize) -> Result<(Vec<u8>, Replaced)> {
    use std::io::Read;
    let (file, _) = open_regular(path)?;
    let mut buf = Vec::new();
    (&file)
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .at("reading", path)?;
    let len = buf.len() as u64;
    Ok((buf, Replaced { file, len }))
}

enum Checked {
    /// Renamed; what the old file held by then, and the old file.
    Replaced(Vec<u8>, Replaced),
    /// Not renamed: the file holds this instead of what was expected.
    Changed(Vec<u8>),
}

/// The rename of [`replace_merging`] where names cannot be swapped: `target` is compared with
/// `expected` just before, and its old copy, still open, read again just after.
fn rename_checked(tmp: &Path, target: &Path, expected: &[u8], limit: usize) -> Result<Checked> {
    use std::io::{Read, Seek};
    let (now, old) = read_open(target, limit)?;
    if now != expected {
        return Ok(Checked::Changed(now));
    }
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_file(tmp);
        return Err(Error::io("replacing", target, e));
    }
    let mut after = Vec::new();
    let mut f = &old.file;
    f.seek(io::SeekFrom::Start(0)).at("reading", target)?;
    f.take(limit as u64 + 1)
        .read_to_end(&mut after)
        .at("reading", target)?;
    let len = after.len() as u64;
    Ok(Checked::Replaced(
        after,
        Replaced {
            file: old.file,
            len,
        },
    ))
}

/// An exclusive OS lock on a file, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` (created if missing) is held.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).at("creating", dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .at("opening lock file", path)?;
        file.lock().at("locking", path)?;
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noreplace_refuses_existing_target() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read_to_string(&b).unwrap(), "b");
        fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert!(!a.exists());
        assert_eq!(fs::read_to_string(&b).unwrap(), "a");
    }

    #[test]
    fn atomic_writes_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("x.md");
        create_atomic(&t, b"1").unwrap();
        assert!(create_atomic(&t, b"2").is_err());
        write_atomic(&t, b"3").unwrap();
        assert_eq!(fs::read_to_string(&t).unwrap(), "3");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
