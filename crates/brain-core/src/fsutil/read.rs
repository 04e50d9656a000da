//! Reading the files of the repo: only regular files, never through a symbolic link, never a
//! named pipe or a device, always with a limit.

#[cfg(windows)]
use std::fs::OpenOptions;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use crate::error::{Error, IoContext, Result};

use super::format_size;

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
