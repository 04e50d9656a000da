//! Git's object store, read and written as git does: object ids, loose objects (zlib, checked
//! against their id), and `git cat-file --batch` for the rest.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha1::{Digest, Sha1};

use crate::error::{Error, IoContext, Result};

/// A SHA-1 object id.
pub(crate) type Oid = [u8; 20];

/// The largest loose tree brain reads itself (a tree of a million entries is about 60 MB).
pub(crate) const MAX_TREE: usize = 256 << 20;

/// The 40 hex digits of `oid`.
pub(crate) fn hex(oid: &Oid) -> String {
    oid.iter().map(|b| format!("{b:02x}")).collect()
}

/// `s` as an object id, if it is exactly 40 hex digits.
pub(crate) fn parse_oid(s: &str) -> Option<Oid> {
    let s = s.as_bytes();
    if s.len() != 40 {
        return None;
    }
    let mut oid = [0u8; 20];
    for (i, pair) in s.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        oid[i] = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(oid)
}

/// The id git gives an object of `kind` with `data`.
pub(crate) fn object_id(kind: &str, data: &[u8]) -> Oid {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", data.len()).as_bytes());
    h.update(data);
    h.finalize().into()
}

/// The path of the loose object `oid` in the object store at `objects`.
pub(crate) fn loose_path(objects: &Path, oid: &Oid) -> (PathBuf, PathBuf) {
    let name = hex(oid);
    let dir = objects.join(&name[..2]);
    let file = dir.join(&name[2..]);
    (dir, file)
}

/// The content of the loose object `oid` when there is one of `kind` that holds what its name
/// says; `None` otherwise (packed, or not there: git is asked instead).
pub(crate) fn read_loose(objects: &Path, oid: &Oid, kind: &str) -> Option<Vec<u8>> {
    let packed = std::fs::read(loose_path(objects, oid).1).ok()?;
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&packed, MAX_TREE).ok()?;
    let nul = raw.iter().position(|&b| b == 0)?;
    let header = format!("{kind} {}", raw.len() - nul - 1);
    let data = raw[nul + 1..].to_vec();
    (raw[..nul] == *header.as_bytes() && object_id(kind, &data) == *oid).then_some(data)
}

/// Writes an object into the object store at `objects` as git writes a loose one: the
/// zlib-compressed `<kind> <size>\0<data>` (at git's default level for loose objects, the
/// fastest) in `objects/<2 hex digits>/<38 more>`, read-only, through a temporary file that
/// `git gc` would clean up if brain were killed halfway. Not synced, as git does not sync
/// loose objects by default. The fan-out folder, when new, gets the permissions of `objects`
/// (a repository shared with a group keeps its group's write access), and the file the read
/// permissions of `objects`.
pub(crate) fn write_loose(objects: &Path, oid: &Oid, kind: &str, data: &[u8]) -> Result<()> {
    let (dir, target) = loose_path(objects, oid);
    if target.exists() {
        // Freshened, as git does, so that a `git gc` does not prune it as old and unreferenced
        // before the commit refers to it.
        if let Ok(f) = std::fs::File::open(&target) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        return Ok(());
    }
    let shape = std::fs::metadata(objects).at("reading", objects)?;
    if !dir.is_dir() {
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                return Err(Error::io("creating", &dir, e));
            }
            _ => {}
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = shape.permissions().mode() & 0o7777;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
        }
    }
    let mut raw = Vec::with_capacity(data.len() + 32);
    raw.extend_from_slice(format!("{kind} {}\0", data.len()).as_bytes());
    raw.extend_from_slice(data);
    let packed = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 1);
    let tmp = dir.join(format!("tmp_obj_brain_{:016x}", crate::random_u64()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(&packed)?;
        let mut perms = shape.permissions();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            perms = std::fs::Permissions::from_mode(0o400 | (perms.mode() & 0o044));
        }
        #[cfg(not(unix))]
        perms.set_readonly(true);
        f.set_permissions(perms)?;
        drop(f);
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        // Another process wrote the same object first: it is the same bytes.
        if !target.exists() {
            return Err(Error::io("writing", &target, e));
        }
    }
    Ok(())
}

/// Runs `cmd` with `input` on its standard input and returns its standard output.
pub(crate) fn feed(mut cmd: Command, input: &[u8], what: &str) -> Result<Vec<u8>> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let fail = |message: String| Error::Git {
        command: what.to_string(),
        message,
    };
    let mut child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    // The input is a few lines; git reads it all before its output could fill the pipe.
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input).map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(out.stdout)
}

/// `git cat-file --batch` for `input` (one object name per line): for each, its kind and
/// content, or `(None, None)` when git has no such object.
pub(crate) type Batch = Vec<(Option<String>, Option<Vec<u8>>)>;

pub(crate) fn batch(root: &Path, input: &[u8]) -> Result<Batch> {
    let mut c = crate::git::cmd::command(root);
    c.args(["cat-file", "--batch"]);
    let out = feed(c, input, "cat-file")?;
    let mut rest = &out[..];
    let mut result = Vec::new();
    let malformed = || Error::Git {
        command: "cat-file".into(),
        message: "its output was not in the form brain expects".into(),
    };
    while !rest.is_empty() {
        let eol = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(malformed)?;
        let header = String::from_utf8_lossy(&rest[..eol]).into_owned();
        rest = &rest[eol + 1..];
        let mut words = header.rsplitn(3, ' ');
        let (size, kind) = (words.next(), words.next());
        match (size.and_then(|s| s.parse::<usize>().ok()), kind) {
            (Some(size), Some(kind)) if words.next().is_some() => {
                let data = rest.get(..size).ok_or_else(malformed)?.to_vec();
                rest = rest.get(size + 1..).ok_or_else(malformed)?;
                result.push((Some(kind.to_string()), Some(data)));
            }
            // `<name> missing`, `<name> ambiguous`.
            _ => result.push((None, None)),
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_match_git() {
        // `git hash-object -t blob --stdin <<< hello` and the empty tree.
        assert_eq!(
            hex(&object_id("blob", b"hello\n")),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert_eq!(
            hex(&object_id("tree", b"")),
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        );
        let oid = object_id("blob", b"x");
        assert_eq!(parse_oid(&hex(&oid)), Some(oid));
        assert_eq!(parse_oid("xyz"), None);
        assert_eq!(parse_oid(&"g".repeat(40)), None);
    }
}
