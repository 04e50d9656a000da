//! Rewriting a file someone else may be writing at the same moment (a person in an editor, a
//! script appending), without losing what they write: see [`replace_merging`].

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

use super::read::open_regular;
use super::write_tmp;

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
    /// `None` when the old file had to be closed before the replace (see `rename_checked`).
    file: Option<File>,
    len: u64,
}

impl Replaced {
    /// What was appended to the replaced file since brain read it (an `echo >>` that opened
    /// it a moment before the replace and wrote a moment after): to be appended to the new
    /// file, so that it is not lost. Empty when nothing came.
    pub fn appended(&self) -> io::Result<Vec<u8>> {
        use std::io::{Read, Seek};
        let Some(file) = &self.file else {
            return Ok(Vec::new());
        };
        let now = file.metadata()?.len();
        if now <= self.len {
            return Ok(Vec::new());
        }
        let mut f = file;
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
                let (prev, file) = read?;
                let len = prev.len() as u64;
                (
                    prev,
                    Replaced {
                        file: Some(file),
                        len,
                    },
                )
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
fn read_open(path: &Path, limit: usize) -> Result<(Vec<u8>, File)> {
    use std::io::Read;
    let (file, _) = open_regular(path)?;
    let mut buf = Vec::new();
    (&file)
        .take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .at("reading", path)?;
    Ok((buf, file))
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
        // Where a file that is open cannot be replaced (Windows without POSIX rename
        // semantics, as under wine): close it and rename again. What a writer appends between
        // the compare above and the rename is then not read back; the compare was the last
        // look.
        #[cfg(windows)]
        if e.kind() == io::ErrorKind::PermissionDenied {
            drop(old);
            return match fs::rename(tmp, target) {
                // The old file is closed and gone: nothing of it to carry over.
                Ok(()) => Ok(Checked::Replaced(now, Replaced { file: None, len: 0 })),
                Err(e) => {
                    let _ = fs::remove_file(tmp);
                    Err(Error::io("replacing", target, e))
                }
            };
        }
        let _ = fs::remove_file(tmp);
        return Err(Error::io("replacing", target, e));
    }
    let mut after = Vec::new();
    let mut f = &old;
    f.seek(io::SeekFrom::Start(0)).at("reading", target)?;
    f.take(limit as u64 + 1)
        .read_to_end(&mut after)
        .at("reading", target)?;
    let len = after.len() as u64;
    Ok(Checked::Replaced(
        after,
        Replaced {
            file: Some(old),
            len,
        },
    ))
}
