//! Listing a folder and stamping its files as cheaply as the platform allows.
//!
//! On Linux the names are read in one pass into a single buffer and each file is stat'ed with
//! `statx` relative to the open folder, asking only for what a [`Stamp`] needs; elsewhere the
//! standard library does the same work. Listing 100,000 tasks makes 100,000 of these calls, so
//! they are the floor of `brain list` and `brain claim`.

use std::io;
use std::path::{Path, PathBuf};

use crate::store::cache::Stamp;

/// The names in a folder, and the means to stamp each.
pub struct Listing {
    dir: PathBuf,
    buf: String,
    names: Vec<(u32, u32)>,
    /// Inode numbers from the listing itself, where the platform gives them.
    inos: Vec<u64>,
    #[cfg(target_os = "linux")]
    fd: rustix::fd::OwnedFd,
}

impl Listing {
    /// Lists `dir`. Names that are not valid UTF-8 are returned in `bad`.
    pub fn read(dir: &Path, bad: &mut Vec<PathBuf>) -> io::Result<Listing> {
        let mut buf = String::new();
        let mut names = Vec::new();
        let mut inos = Vec::new();
        let mut push = |name: &str, ino: Option<u64>| {
            names.push((buf.len() as u32, name.len() as u32));
            buf.push_str(name);
            if let Some(ino) = ino {
                inos.push(ino);
            }
        };
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{CWD, Dir, Mode, OFlags, openat};
            let fd = openat(
                CWD,
                dir,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut d = Dir::read_from(&fd)?;
            while let Some(e) = d.read() {
                let e = e?;
                let bytes = e.file_name().to_bytes();
                if bytes == b"." || bytes == b".." {
                    continue;
                }
                match std::str::from_utf8(bytes) {
                    Ok(n) => push(n, Some(e.ino())),
                    Err(_) => bad.push(dir.join(std::ffi::OsStr::new(
                        &String::from_utf8_lossy(bytes).into_owned(),
                    ))),
                }
            }
            Ok(Listing {
                dir: dir.to_path_buf(),
                buf,
                names,
                inos,
                fd,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            for e in std::fs::read_dir(dir)? {
                let e = e?;
                match e.file_name().to_str() {
                    Some(n) => push(n, None),
                    None => bad.push(e.path()),
                }
            }
            Ok(Listing {
                dir: dir.to_path_buf(),
                buf,
                names,
                inos,
            })
        }
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the folder is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The `i`th name.
    pub fn name(&self, i: usize) -> &str {
        let (at, len) = self.names[i];
        &self.buf[at as usize..(at + len) as usize]
    }

    /// The inode number of the `i`th file as the listing gave it, without a stat.
    pub fn ino(&self, i: usize) -> Option<u64> {
        self.inos.get(i).copied()
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The stamp of the `i`th file (not following symlinks).
    pub fn stamp(&self, i: usize) -> io::Result<Stamp> {
        let name = self.name(i);
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::{AtFlags, StatxFlags, statx};
            let mut small = [0u8; 256];
            let owned;
            let c: &std::ffi::CStr = if name.len() < small.len() {
                small[..name.len()].copy_from_slice(name.as_bytes());
                std::ffi::CStr::from_bytes_until_nul(&small)
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?
            } else {
                owned = std::ffi::CString::new(name)
                    .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
                &owned
            };
            let st = statx(
                &self.fd,
                c,
                AtFlags::SYMLINK_NOFOLLOW,
                StatxFlags::INO | StatxFlags::SIZE | StatxFlags::MTIME | StatxFlags::CTIME,
            )?;
            let ns = |t: rustix::fs::StatxTimestamp| {
                t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128
            };
            Ok(Stamp::new(
                st.stx_ino,
                st.stx_size,
                ns(st.stx_mtime),
                ns(st.stx_ctime),
            ))
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(Stamp::of(&std::fs::symlink_metadata(self.dir.join(name))?))
        }
    }
}
