//! The paths a locked section changed and did not commit yet: kept in memory, and appended to
//! `.brain/uncommitted` *before* each change, so that a process killed between a change and its
//! commit leaves the list for the next commit (or, with a remote, for the next catch-up to
//! undo).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::store::UNCOMMITTED;

/// See the module's documentation.
#[derive(Debug)]
pub(crate) struct Journal {
    root: PathBuf,
    file: PathBuf,
    /// Off where nothing is committed (no git): then nothing needs listing.
    enabled: bool,
    touched: RefCell<Vec<PathBuf>>,
}

impl Journal {
    pub(crate) fn new(root: &Path, local_dir: &Path, enabled: bool) -> Journal {
        Journal {
            root: root.to_path_buf(),
            file: local_dir.join(UNCOMMITTED),
            enabled,
            touched: RefCell::new(Vec::new()),
        }
    }

    /// Records that `path` is about to change: appended to the file first.
    pub(crate) fn touch(&self, path: &Path) {
        if !self.enabled {
            return;
        }
        let rel = path.strip_prefix(&self.root).unwrap_or(path).to_path_buf();
        if self.touched.borrow().contains(&rel) {
            return;
        }
        use std::io::Write;
        if let Ok(mut f) = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
        {
            let _ = writeln!(f, "{}", rel.display());
        }
        self.touched.borrow_mut().push(rel);
    }

    /// Whether this section touched nothing since the last commit.
    pub(crate) fn untouched(&self) -> bool {
        self.touched.borrow().is_empty()
    }

    /// Forgets what this section touched (where nothing is committed).
    pub(crate) fn forget(&self) {
        self.touched.borrow_mut().clear();
    }

    /// Takes the paths changed since the last commit: this section's, and those an earlier
    /// process listed and never committed. For a commit, or for undoing them.
    pub(crate) fn take(&self) -> Vec<PathBuf> {
        let mut paths = std::mem::take(&mut *self.touched.borrow_mut());
        for p in self.listed() {
            if !paths.contains(&p) {
                paths.push(p);
            }
        }
        paths
    }

    /// The paths listed in the file.
    pub(crate) fn listed(&self) -> HashSet<PathBuf> {
        fs::read_to_string(&self.file)
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Empties the file once its paths are committed or undone. Emptied rather than removed:
    /// creating a file costs more than truncating one, on every transition.
    pub(crate) fn clear(&self) {
        let _ = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.file);
    }
}
