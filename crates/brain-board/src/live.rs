//! Live updates: a version number that grows whenever what the board shows may have changed.
//! File events (notify) are hints that make a rescan happen at once; the rescan, a fingerprint
//! of the queue's folders and files, is the truth, and it also runs every two seconds, so a
//! change that sent no event (a pull on a network drive, an event queue that overflowed) still
//! shows.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::watch;

/// How often the rescan runs without an event.
const RESCAN: Duration = Duration::from_secs(2);
/// Events this close together make one rescan.
const SETTLE: Duration = Duration::from_millis(60);
/// At most this often a new version: an agent that prints all the time (its log's tail is on
/// the board) does not make every page read the board ten times a second.
const MIN_GAP: Duration = Duration::from_millis(400);

/// What the board reads, relative to the repo root: a change anywhere else is not a change of
/// the board (`.git/objects`, `.brain/` caches).
fn relevant(root: &Path, p: &Path) -> bool {
    let Ok(rel) = p.strip_prefix(root) else {
        return false;
    };
    let mut parts = rel.components().map(|c| c.as_os_str().to_string_lossy());
    match parts.next().as_deref() {
        Some("tasks" | "prompts" | "context" | "logs" | "brain.toml") => true,
        Some(".git") => !matches!(parts.next().as_deref(), Some("objects") | Some("logs")),
        _ => false,
    }
}

/// Starts watching `root`; the receiver's value grows with every change.
pub fn start(root: PathBuf) -> watch::Receiver<u64> {
    let (tx, rx) = watch::channel(0u64);
    let (hint, hints) = mpsc::channel::<()>();
    let watched = root.clone();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res
            && ev.paths.iter().any(|p| relevant(&watched, p))
        {
            let _ = hint.send(());
        }
    })
    .and_then(|mut w| w.watch(&root, RecursiveMode::Recursive).map(|()| w));
    if let Err(e) = &watcher {
        eprintln!(
            "brain board: no file events ({e}); changes show within {} s",
            RESCAN.as_secs()
        );
    }
    std::thread::spawn(move || {
        let _watcher = watcher;
        let mut last = fingerprint(&root);
        let mut bumped: Option<Instant> = None;
        loop {
            match hints.recv_timeout(RESCAN) {
                Ok(()) => {
                    // Let a burst of events (a commit, a move) settle into one rescan.
                    let until = Instant::now() + SETTLE;
                    while let Some(left) = until.checked_duration_since(Instant::now()) {
                        if hints.recv_timeout(left).is_err() {
                            break;
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    // No watcher: rescans only.
                    std::thread::sleep(RESCAN);
                }
            }
            if let Some(wait) =
                bumped.and_then(|b| (b + MIN_GAP).checked_duration_since(Instant::now()))
            {
                std::thread::sleep(wait);
            }
            let now = fingerprint(&root);
            if now != last {
                bumped = Some(Instant::now());
                last = now;
                if tx.is_closed() {
                    return;
                }
                tx.send_modify(|v| *v += 1);
            }
        }
    });
    rx
}

/// A hash of the names, sizes and times of everything the board reads.
pub fn fingerprint(root: &Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for rel in [
        "brain.toml",
        "tasks/pending",
        "tasks/active",
        "tasks/completed",
        "tasks/failed",
        "prompts",
        "context",
        "context/usage",
        "logs",
        "logs/runs",
        ".git/HEAD",
    ] {
        let p = brain_core::fsutil::join_rel(root, rel);
        stamp(&p, &mut h);
        if let Ok(rd) = std::fs::read_dir(&p) {
            let mut names: Vec<_> = rd.flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                e.file_name().hash(&mut h);
                stamp(&e.path(), &mut h);
            }
        }
    }
    // The branch HEAD names (a commit or a pull moves it).
    if let Ok(head) = std::fs::read_to_string(root.join(".git").join("HEAD"))
        && let Some(r) = head.trim().strip_prefix("ref: ")
    {
        stamp(&brain_core::fsutil::join_rel(&root.join(".git"), r), &mut h);
    }
    h.finish()
}

fn stamp(p: &Path, h: &mut impl Hasher) {
    if let Ok(md) = std::fs::symlink_metadata(p) {
        md.len().hash(h);
        if let Ok(t) = md.modified() {
            t.hash(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_board_watches_the_queue_not_gits_objects() {
        let root = Path::new("/r");
        let r = |p: &str| crate::live::relevant(root, &root.join(p));
        assert!(r("tasks/pending/a.md"));
        assert!(r("prompts/pending.md"));
        assert!(r(".git/refs/heads/main"));
        assert!(!r(".git/objects/ab/cdef"));
        assert!(!r(".brain/cache"));
        assert!(!r("notes.md"));
    }

    #[test]
    fn an_edit_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let pending = dir.path().join("tasks").join("pending");
        std::fs::create_dir_all(&pending).unwrap();
        let before = crate::live::fingerprint(dir.path());
        assert_eq!(before, crate::live::fingerprint(dir.path()), "stable");
        std::fs::write(pending.join("t.md"), "---\n---\n").unwrap();
        let added = crate::live::fingerprint(dir.path());
        assert_ne!(before, added);
        std::fs::write(pending.join("t.md"), "---\npriority: high\n---\n").unwrap();
        assert_ne!(
            added,
            crate::live::fingerprint(dir.path()),
            "an edit in place"
        );
    }
}
