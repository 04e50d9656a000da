//! The trees of brain's commits, edited in process.
//!
//! A transition changes two or three files, but the trees above them can be large: with 10,000
//! pending tasks, `tasks/pending` is a 500 KB tree. Built through an index, every commit reads
//! and writes the whole index (1 MB) twice and has git look at every entry again. Here brain
//! edits the trees itself: it reads the trees on the way from the top of the work tree down to
//! the changed paths (from the loose objects its last commits wrote, or from one
//! `git cat-file --batch` when they are packed or someone else's), changes only the entries the
//! commit touches, and writes the new trees as loose objects, exactly as git writes them. The
//! blobs are written by `git hash-object -w` from the files themselves, so the user's
//! attributes (`eol`, `text`, clean filters) apply exactly as `git add` applies them.
//!
//! What this cannot do exactly as git would is left to the index route in `git.rs`: a symbolic
//! link or an executable among the paths, an entry of another kind where a file or folder is
//! expected, a repository that names objects with SHA-256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::git::objects::{Oid, batch, hex, object_id, read_loose, write_loose};

const TREE_MODE: &[u8] = b"40000";
const FILE_MODE: &[u8] = b"100644";

/// One entry of a tree object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry<'a> {
    mode: &'a [u8],
    name: &'a [u8],
    oid: Oid,
}

impl Entry<'_> {
    fn is_tree(&self) -> bool {
        self.mode == TREE_MODE
    }
}

/// The entries of a tree object, in the order they are stored; `None` when `data` is not one.
fn parse(data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::with_capacity(data.len() / 60);
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let (mode, after) = (&rest[..space], &rest[space + 1..]);
        let nul = after.iter().position(|&b| b == 0)?;
        let name = &after[..nul];
        let oid: Oid = after.get(nul + 1..nul + 21)?.try_into().ok()?;
        out.push(Entry { mode, name, oid });
        rest = &after[nul + 21..];
    }
    Some(out)
}

fn serialize(entries: &[Entry]) -> Vec<u8> {
    let size = entries
        .iter()
        .map(|e| e.mode.len() + e.name.len() + 22)
        .sum();
    let mut out = Vec::with_capacity(size);
    for e in entries {
        out.extend_from_slice(e.mode);
        out.push(b' ');
        out.extend_from_slice(e.name);
        out.push(0);
        out.extend_from_slice(&e.oid);
    }
    out
}

/// Git's order of tree entries: by name, a folder's name compared as if it ended in `/`.
fn git_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let n = a.name.len().min(b.name.len());
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let next = |e: &Entry| {
            e.name
                .get(n)
                .copied()
                .unwrap_or(if e.is_tree() { b'/' } else { 0 })
        };
        next(a).cmp(&next(b))
    })
}

/// What a commit does to one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// The path holds a regular, non-executable file with this blob.
    File(Oid),
    /// The path is gone.
    Remove,
}

/// Why an edit stopped.
pub(crate) enum Stop {
    /// Git would do something here that this module does not; the index route takes over.
    Unsupported,
    /// Something failed.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Failed(e)
    }
}

/// The trees of a commit being built.
pub(crate) struct Trees<'a> {
    /// The repository, where git runs.
    root: &'a Path,
    /// The repository's object store.
    objects: PathBuf,
    /// The tree of the commit being built on.
    base: Oid,
    /// Every folder the commit changes something in, from the top of the work tree.
    needed: Vec<Vec<u8>>,
    /// Trees `git cat-file` gave, by id.
    fetched: BTreeMap<Oid, Vec<u8>>,
    /// The trees this commit writes.
    written: Vec<(Oid, Vec<u8>)>,
}

/// The new trees of a commit, not yet in the object store.
pub(crate) struct Edited {
    /// The new top tree (the same as the base when nothing changed).
    pub root: Oid,
    written: Vec<(Oid, Vec<u8>)>,
    objects: PathBuf,
}

impl<'a> Trees<'a> {
    /// Edits trees for a commit on top of `base` (a tree id) in the work tree at `root`, with
    /// the object store at `objects`.
    pub(crate) fn new(root: &'a Path, objects: PathBuf, base: Oid) -> Trees<'a> {
        Trees {
            root,
            objects,
            base,
            needed: Vec::new(),
            fetched: BTreeMap::new(),
            written: Vec::new(),
        }
    }

    /// Applies `changes` (paths from the top of the work tree, `/`-separated) to the base tree.
    pub(crate) fn edit(mut self, changes: &[(Vec<u8>, Change)]) -> Result<Edited, Stop> {
        if changes.is_empty() {
            return Ok(Edited {
                root: self.base,
                written: Vec::new(),
                objects: self.objects,
            });
        }
        for (path, _) in changes {
            if path.is_empty()
                || path.split(|&b| b == b'/').any(|c| {
                    c.is_empty() || c == b"." || c == b".." || c.eq_ignore_ascii_case(b".git")
                })
            {
                // A path git would not store as it is.
                return Err(Stop::Unsupported);
            }
            let mut at = 0;
            self.needed.push(Vec::new());
            while let Some(i) = path[at..].iter().position(|&b| b == b'/') {
                self.needed.push(path[..at + i].to_vec());
                at += i + 1;
            }
        }
        self.needed.sort();
        self.needed.dedup();
        let list: Vec<(&[u8], Change)> = changes.iter().map(|(p, c)| (&p[..], *c)).collect();
        let base = self.base;
        let root = match self.edit_tree(b"", Some(base), &list)? {
            Some(oid) => oid,
            // Everything was removed: the empty tree.
            None => {
                let oid = object_id("tree", &[]);
                self.written.push((oid, Vec::new()));
                oid
            }
        };
        Ok(Edited {
            root,
            written: self.written,
            objects: self.objects,
        })
    }

    /// The tree `oid`, found at `path`: read from its loose object when there is one (and it
    /// holds what its name says), else from git (with every other tree this commit needs below
    /// `path`, in one call).
    fn tree(&mut self, oid: Oid, path: &[u8]) -> Result<Vec<u8>, Stop> {
        if let Some(data) = self.fetched.remove(&oid) {
            return Ok(data);
        }
        if let Some(data) = read_loose(&self.objects, &oid, "tree") {
            return Ok(data);
        }
        let mut below: Vec<&[u8]> = vec![path];
        below.extend(self.needed.iter().map(Vec::as_slice).filter(|p| {
            p.len() > path.len()
                && p.starts_with(path)
                && (path.is_empty() || p[path.len()] == b'/')
        }));
        let base = hex(&self.base);
        let mut input = Vec::new();
        for p in &below {
            input.extend_from_slice(base.as_bytes());
            input.push(b':');
            input.extend_from_slice(p);
            input.push(b'\n');
        }
        let out = batch(self.root, &input)?;
        for (kind, data) in out {
            if let Some((kind, data)) = kind.zip(data)
                && kind == "tree"
            {
                self.fetched.insert(object_id("tree", &data), data);
            }
        }
        // Git did not give it: a shallow or partial clone, say.
        self.fetched.remove(&oid).ok_or(Stop::Unsupported)
    }

    /// The new id of the tree `tree` at `dir` with `changes` (paths relative to `dir`), or
    /// `None` when nothing is left in it.
    fn edit_tree(
        &mut self,
        dir: &[u8],
        tree: Option<Oid>,
        changes: &[(&[u8], Change)],
    ) -> Result<Option<Oid>, Stop> {
        let data = match tree {
            Some(oid) => self.tree(oid, dir)?,
            None => Vec::new(),
        };
        let mut entries = parse(&data).ok_or(Stop::Unsupported)?;
        let mut changed = false;
        let mut below: BTreeMap<&[u8], Vec<(&[u8], Change)>> = BTreeMap::new();
        for &(path, change) in changes {
            if let Some(i) = path.iter().position(|&b| b == b'/') {
                below
                    .entry(&path[..i])
                    .or_default()
                    .push((&path[i + 1..], change));
                continue;
            }
            let at = entries.iter().position(|e| e.name == path);
            match (change, at) {
                (Change::Remove, None) => {}
                (Change::Remove, Some(i)) if !entries[i].is_tree() => {
                    entries.remove(i);
                    changed = true;
                }
                (Change::File(oid), Some(i)) if entries[i].mode == FILE_MODE => {
                    if entries[i].oid != oid {
                        entries[i].oid = oid;
                        changed = true;
                    }
                }
                (Change::File(oid), None) => {
                    insert(
                        &mut entries,
                        Entry {
                            mode: FILE_MODE,
                            name: path,
                            oid,
                        },
                    );
                    changed = true;
                }
                _ => {
                    // In HEAD, the path is a folder, a link, an executable or a submodule.
                    return Err(Stop::Unsupported);
                }
            }
        }
        for (name, sub) in below {
            let at = entries.iter().position(|e| e.name == name);
            let current = match at {
                Some(i) if entries[i].is_tree() => Some(entries[i].oid),
                // A file where a folder is to be.
                Some(_) => return Err(Stop::Unsupported),
                None => None,
            };
            let mut path = dir.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let new = self.edit_tree(&path, current, &sub)?;
            match (at, new) {
                (_, new) if new == current => {}
                (Some(i), None) => {
                    entries.remove(i);
                    changed = true;
                }
                (Some(i), Some(oid)) => {
                    entries[i].oid = oid;
                    changed = true;
                }
                (None, Some(oid)) => {
                    insert(
                        &mut entries,
                        Entry {
                            mode: TREE_MODE,
                            name,
                            oid,
                        },
                    );
                    changed = true;
                }
                (None, None) => {}
            }
        }
        if !changed {
            return Ok(tree);
        }
        if entries.is_empty() {
            return Ok(None);
        }
        let bytes = serialize(&entries);
        let oid = object_id("tree", &bytes);
        self.written.push((oid, bytes));
        Ok(Some(oid))
    }
}

/// Puts `entry` where git's order has it, among entries already in that order.
fn insert<'e>(entries: &mut Vec<Entry<'e>>, entry: Entry<'e>) {
    let at = entries
        .iter()
        .position(|e| git_order(e, &entry) == std::cmp::Ordering::Greater)
        .unwrap_or(entries.len());
    entries.insert(at, entry);
}

impl Edited {
    /// Writes the new trees into the object store.
    pub(crate) fn store(self) -> Result<()> {
        for (oid, bytes) in &self.written {
            write_loose(&self.objects, oid, "tree", bytes)?;
        }
        Ok(())
    }
}

/// The names of the files (not the folders) in the folder `path` (`/`-separated, from the top
/// of the work tree) of the tree `base`; `None` when there is no such folder. Trees are read
/// from their loose objects, each checked against its id, else from git.
pub(crate) fn file_names(
    root: &Path,
    objects: &Path,
    base: Oid,
    path: &[u8],
) -> Result<Option<Vec<String>>> {
    let read = |oid: Oid| -> Result<Vec<u8>> {
        if let Some(data) = read_loose(objects, &oid, "tree") {
            return Ok(data);
        }
        let mut input = hex(&oid).into_bytes();
        input.push(b'\n');
        match batch(root, &input)?.pop() {
            Some((Some(kind), Some(data))) if kind == "tree" => Ok(data),
            _ => Err(Error::Git {
                command: "cat-file".into(),
                message: format!("the tree {} could not be read", hex(&oid)),
            }),
        }
    };
    let malformed = || Error::Git {
        command: "cat-file".into(),
        message: "a tree was not in the form brain expects".into(),
    };
    let mut oid = base;
    for name in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let data = read(oid)?;
        let entries = parse(&data).ok_or_else(malformed)?;
        match entries.iter().find(|e| e.name == name && e.is_tree()) {
            Some(e) => oid = e.oid,
            None => return Ok(None),
        }
    }
    let data = read(oid)?;
    let entries = parse(&data).ok_or_else(malformed)?;
    Ok(Some(
        entries
            .iter()
            .filter(|e| !e.is_tree())
            .map(|e| String::from_utf8_lossy(e.name).into_owned())
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::objects::loose_path;

    #[test]
    fn loose_objects_are_what_git_reads() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = crate::git::cmd::command(dir.path())
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        git(&["init", "-q"]);
        let objects = dir.path().join(".git").join("objects");
        let blob = object_id("blob", b"hello\n");
        let tree = serialize(&[Entry {
            mode: FILE_MODE,
            name: b"hello.md",
            oid: blob,
        }]);
        let oid = object_id("tree", &tree);
        write_loose(&objects, &blob, "blob", b"hello\n").unwrap();
        write_loose(&objects, &oid, "tree", &tree).unwrap();
        // Again: already there, nothing to do.
        write_loose(&objects, &oid, "tree", &tree).unwrap();
        assert_eq!(git(&["cat-file", "-t", &hex(&oid)]), "tree");
        assert_eq!(
            git(&["ls-tree", &hex(&oid)]),
            format!("100644 blob {}\thello.md", hex(&blob))
        );
        git(&["fsck", "--strict"]);
        assert_eq!(read_loose(&objects, &oid, "tree"), Some(tree.clone()));
        // Read-only, as git leaves its objects; no temporary file left behind.
        let (fan, file) = loose_path(&objects, &oid);
        assert!(std::fs::metadata(&file).unwrap().permissions().readonly());
        assert_eq!(std::fs::read_dir(&fan).unwrap().count(), 1);
        // An object that does not hold what its name says is not used.
        assert_eq!(read_loose(&objects, &oid, "blob"), None);
        let other = object_id("tree", b"");
        let (fan, wrong) = loose_path(&objects, &other);
        std::fs::create_dir_all(fan).unwrap();
        std::fs::copy(&file, &wrong).unwrap();
        assert_eq!(read_loose(&objects, &other, "tree"), None);
    }

    #[test]
    fn folders_sort_as_if_they_ended_in_a_slash() {
        let oid = [0u8; 20];
        let file = |name: &'static [u8]| Entry {
            mode: FILE_MODE,
            name,
            oid,
        };
        let folder = |name: &'static [u8]| Entry {
            mode: TREE_MODE,
            name,
            oid,
        };
        let mut entries = vec![file(b"a.md"), file(b"a0")];
        insert(&mut entries, folder(b"a"));
        // "a/" sorts after "a.md" ('.' < '/') and before "a0" ('/' < '0').
        assert_eq!(entries, [file(b"a.md"), folder(b"a"), file(b"a0")]);
        insert(&mut entries, file(b"a"));
        assert_eq!(entries[0], file(b"a"));
        let data = serialize(&entries);
        assert_eq!(parse(&data).unwrap(), entries);
        assert!(parse(b"100644 broken").is_none());
    }
}
