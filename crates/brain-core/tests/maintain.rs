//! `Git::maintain` packs loose objects sooner than git would, unless the user set `gc.auto`.
//! Real git: git estimates the loose objects from the ones whose id starts with `17`, so the
//! test writes a few of exactly those.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use brain_core::git::{GC_AUTO, Git};
use sha1::{Digest, Sha1};

fn git(cwd: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env_remove("GIT_DIR")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.unwrap_or_default())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A repository with `n` loose blobs whose ids start with `17`, committed: git reads that as
/// about `n * 256` loose objects.
fn repo_with_loose(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"], None);
    let mut found = 0;
    for i in 0u64.. {
        let content = format!("object {i}\n");
        let mut h = Sha1::new();
        h.update(format!("blob {}\0{content}", content.len()).as_bytes());
        if h.finalize()[0] == 0x17 {
            let id = git(
                dir.path(),
                &["hash-object", "-w", "--stdin"],
                Some(content.as_bytes()),
            );
            assert!(id.starts_with("17"));
            // Committed, as brain's objects are: git packs only what is reachable.
            let info = format!("100644,{id},file-{i}");
            git(
                dir.path(),
                &["update-index", "--add", "--cacheinfo", &info],
                None,
            );
            found += 1;
            if found == n {
                break;
            }
        }
    }
    git(
        dir.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "blobs",
        ],
        None,
    );
    dir
}

fn loose(dir: &Path) -> String {
    let counts = git(dir, &["count-objects", "-v"], None);
    counts.lines().next().unwrap().to_string()
}

#[test]
fn loose_objects_are_packed_at_brains_threshold() {
    // Past brain's threshold, below git's own (6,700, which would need 27 here).
    let n = (GC_AUTO as usize).div_ceil(256) + 2;
    assert!(n * 256 < 6_700);
    let dir = repo_with_loose(n);
    assert_ne!(loose(dir.path()), "count: 0");
    let g = Git::detect(dir.path(), &dir.path().join(".brain")).unwrap();
    g.maintain();
    assert_eq!(loose(dir.path()), "count: 0");
}

#[test]
fn the_users_gc_auto_is_respected() {
    let n = (GC_AUTO as usize).div_ceil(256) + 2;
    let dir = repo_with_loose(n);
    git(dir.path(), &["config", "gc.auto", "0"], None);
    let before = loose(dir.path());
    let g = Git::detect(dir.path(), &dir.path().join(".brain")).unwrap();
    g.maintain();
    assert_eq!(loose(dir.path()), before);
}
