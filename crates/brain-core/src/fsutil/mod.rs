//! Files, safely: crash-safe writes (a temporary file in the same folder, fsync, rename into
//! place, fsync the folder: the Maildir discipline), renames that never overwrite, the OS file
//! lock; reading only regular files (`read.rs`); rewriting a file someone else may be writing
//! (`merge.rs`).
//!
//! The base layer: it uses nothing of brain but its errors.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

mod merge;
mod paths;
mod read;

pub use merge::{Replaced, replace_merging};
pub use paths::{join_rel, program_in, shown_in, slashed, spelling_on_disk};
pub use read::{open_regular, read_regular, read_text, same_file};

use crate::error::{IoContext, Result};

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
    std::env::var_os("PATH").is_some_and(|path| find_on(program, &path).is_some())
}

/// Where `program` is in the folders of `path` (a PATH value): the first file named it
/// (`program.exe`, `.cmd` or `.bat` on Windows, unless it has an extension already).
pub fn find_on(program: &str, path: &std::ffi::OsStr) -> Option<PathBuf> {
    let names: Vec<String> = if cfg!(windows) && Path::new(program).extension().is_none() {
        ["exe", "cmd", "bat"]
            .iter()
            .map(|e| format!("{program}.{e}"))
            .collect()
    } else {
        vec![program.to_string()]
    };
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .find_map(|dir| names.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
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

/// A path as a person (and PowerShell 5.1, Task Scheduler, Claude Desktop) writes it: without
/// the `\\?\` verbatim prefix that `canonicalize` gives on Windows (`\\?\C:\brain` is
/// `C:\brain`, `\\?\UNC\server\share` is `\\server\share`). Other paths are unchanged.
pub fn plain_path(p: &Path) -> PathBuf {
    match p.to_str() {
        Some(s) => PathBuf::from(strip_verbatim(s)),
        None => p.to_path_buf(),
    }
}

fn strip_verbatim(s: &str) -> String {
    if let Some(rest) = s.strip_prefix(r"\\?\UNC\") {
        format!(r"\\{rest}")
    } else if let Some(rest) = s
        .strip_prefix(r"\\?\")
        .filter(|r| r.as_bytes().get(1) == Some(&b':'))
    {
        rest.to_string()
    } else {
        s.to_string()
    }
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
    #[test]
    fn verbatim_paths_become_plain_ones() {
        use super::strip_verbatim;
        assert_eq!(strip_verbatim(r"\\?\C:\brain"), r"C:\brain");
        assert_eq!(
            strip_verbatim(r"\\?\UNC\nas\share\brain"),
            r"\\nas\share\brain"
        );
        assert_eq!(strip_verbatim(r"C:\brain"), r"C:\brain");
        assert_eq!(strip_verbatim("/home/me/brain"), "/home/me/brain");
        // A verbatim path with no drive letter has no plain form: kept.
        assert_eq!(
            strip_verbatim(r"\\?\Volume{x}\brain"),
            r"\\?\Volume{x}\brain"
        );
    }

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
