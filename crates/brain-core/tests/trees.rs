//! brain builds its commits' trees in process (`gittree.rs`); git's own index is the oracle.
//! Random sequences of writes, deletions, folders that empty out, executables, line-ending
//! attributes, commits the user makes meanwhile and packed objects, each committed through
//! `Git::commit_paths`, must give exactly the tree `git update-index` + `git write-tree` give
//! for the same paths on the same parent. Real git, real files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use brain_core::git::Git;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

fn git(cwd: &Path, args: &[&str]) -> String {
    git_with(cwd, args, None)
}

/// `git args` in `cwd` (with `index` as its index, if given), which must succeed.
fn git_with(cwd: &Path, args: &[&str], index: Option<&Path>) -> String {
    let mut c = Command::new("git");
    c.args(args)
        .current_dir(cwd)
        .env_remove("GIT_TRACE")
        .env_remove("GIT_INDEX_FILE")
        .env_remove("GIT_DIR");
    if let Some(index) = index {
        c.env("GIT_INDEX_FILE", index);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The tree git's index gives for `paths` (relative to `root`) on top of `parent`.
fn oracle(top: &Path, root: &Path, parent: &str, paths: &[PathBuf]) -> String {
    let index = top.join(".git").join("oracle-index");
    git_with(root, &["read-tree", parent], Some(&index));
    let mut add = vec!["update-index", "--add", "--remove", "--"];
    add.extend(paths.iter().map(|p| p.to_str().unwrap()));
    git_with(root, &add, Some(&index));
    let tree = git_with(root, &["write-tree"], Some(&index));
    fs::remove_file(&index).unwrap();
    tree
}

/// Whether git's index must build the commit of `paths` on `parent`: one of them is an
/// executable on disk, or is a file on disk whose entry in `parent` is not a plain file.
fn needs_index(root: &Path, parent: &str, paths: &[PathBuf]) -> bool {
    paths.iter().any(|p| {
        let Ok(md) = fs::metadata(root.join(p)) else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if md.permissions().mode() & 0o111 != 0 {
                return true;
            }
        }
        let _ = md;
        let entry = git(root, &["ls-tree", parent, "--", p.to_str().unwrap()]);
        !entry.is_empty() && !entry.starts_with("100644 ")
    })
}

/// One step: something the user does (commit, `git gc`), or files brain writes and commits.
#[derive(Debug, Clone)]
enum Step {
    /// The user commits a file of their own: HEAD moves under brain.
    UserCommit,
    /// Every object packed: brain reads the trees it needs through `git cat-file`.
    Gc,
    /// Every file in these folders removed: their trees, and maybe their parents', disappear.
    Empty(Vec<usize>),
    /// Files written or removed (folder, name, what, content), then committed by brain.
    Files(Vec<(usize, usize, Write, u64)>),
}

#[derive(Debug, Clone, Copy)]
enum Write {
    Remove,
    Text,
    CrLf,
    Executable,
}

fn step() -> impl Strategy<Value = Step> {
    let dir = 0..DIRS.len();
    let write = prop_oneof![
        3 => Just(Write::Remove),
        5 => Just(Write::Text),
        2 => Just(Write::CrLf),
        1 => Just(Write::Executable),
    ];
    prop_oneof![
        1 => Just(Step::UserCommit),
        1 => Just(Step::Gc),
        1 => vec(dir.clone(), 1..3).prop_map(Step::Empty),
        17 => vec((dir, 0..NAMES.len(), write, any::<u64>()), 1..5).prop_map(Step::Files),
    ]
}

// Folders and names chosen so that git's order (a folder sorts as if its name ended in `/`)
// matters: `a.b` < `a/` < `a0` at the top, `b.md` < `b/` in `a`.
const DIRS: &[&str] = &[
    "tasks/pending",
    "tasks/active",
    "tasks/completed",
    "context",
    "a",
    "a/b",
    "a.b",
    "a0",
    "deep/x/y/z",
];
const NAMES: &[&str] = &[
    "t1.md",
    "t2.md",
    "a.md",
    "a0",
    "b.md",
    "x",
    "task-1.agent.md",
];

/// Runs `steps` in a new repository with the brain root at `prefix` in its work tree, and
/// checks each commit against git's. `trace`: where `GIT_TRACE` has git's commands written.
fn run(steps: &[Step], prefix: &str, trace: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path();
    git(top, &["init", "-q", "-b", "main"]);
    git(top, &["config", "user.name", "test"]);
    git(top, &["config", "user.email", "test@localhost"]);
    let root = top.join(prefix);
    fs::create_dir_all(&root).unwrap();
    // The user's own files, and an attribute that changes what a blob holds.
    fs::write(top.join("README.md"), "user's notes\n").unwrap();
    fs::write(root.join(".gitattributes"), "*.md text=auto\n").unwrap();
    git(top, &["add", "-A"]);
    git(top, &["commit", "-qm", "start"]);
    let g = Git::detect(&root, &root.join(".brain"))
        .unwrap()
        .with_tree_editing();
    for (step, what) in steps.iter().enumerate() {
        g.check_ready().unwrap();
        let mut paths = Vec::new();
        match what {
            Step::UserCommit => {
                fs::write(top.join("README.md"), format!("notes {step}\n")).unwrap();
                git(top, &["commit", "-qam", "user"]);
                continue;
            }
            Step::Gc => {
                git(top, &["gc", "-q", "--prune=now"]);
                continue;
            }
            Step::Empty(dirs) => {
                for d in dirs.iter().map(|&d| DIRS[d]) {
                    for e in fs::read_dir(root.join(d)).into_iter().flatten().flatten() {
                        if e.path().is_file() {
                            fs::remove_file(e.path()).unwrap();
                            paths.push(Path::new(d).join(e.file_name()));
                        }
                    }
                }
            }
            Step::Files(files) => {
                for &(d, name, write, content) in files {
                    let rel = Path::new(DIRS[d]).join(NAMES[name]);
                    let at = root.join(&rel);
                    let text = match write {
                        Write::Remove => None,
                        Write::Text => Some(format!("content {content}\n")),
                        Write::CrLf => Some(format!("line {content}\r\nline two\r\n")),
                        Write::Executable => Some(format!("#!/bin/sh\necho {content}\n")),
                    };
                    match text {
                        None => {
                            let _ = fs::remove_file(&at);
                        }
                        Some(text) => {
                            fs::create_dir_all(at.parent().unwrap()).unwrap();
                            fs::write(&at, text).unwrap();
                        }
                    }
                    #[cfg(unix)]
                    if let Write::Executable = write {
                        use std::os::unix::fs::PermissionsExt;
                        fs::set_permissions(&at, fs::Permissions::from_mode(0o755)).unwrap();
                    }
                    paths.push(rel);
                }
            }
        }
        let parent = git(top, &["rev-parse", "HEAD"]);
        fs::write(trace, "").unwrap();
        let made = g
            .commit_paths(&paths, &format!("step {step}"))
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        let expected = oracle(top, &root, &parent, &paths);
        let head = git(top, &["rev-parse", "HEAD"]);
        let tree = git(top, &["rev-parse", "HEAD^{tree}"]);
        assert_eq!(
            tree, expected,
            "step {step}: the tree of brain's commit differs from git's for {paths:?}"
        );
        match &made {
            Some(c) => {
                assert_eq!(*c, head);
                assert_eq!(git(top, &["rev-parse", "HEAD~1"]), parent);
            }
            None => assert_eq!(head, parent, "step {step}"),
        }
        // Built in process unless an executable is involved, on disk or in HEAD: git's index
        // takes those.
        let commands = fs::read_to_string(trace).unwrap();
        let by_index = commands.contains("write-tree");
        assert_eq!(
            by_index,
            needs_index(&root, &parent, &paths),
            "step {step}: {commands}"
        );
        // The user's index follows for brain's paths: `git status` is clean for them.
        let status = git(&root, &["status", "--porcelain", "--", "."]);
        assert!(
            status.lines().all(|l| l.starts_with("??")),
            "step {step}: {status}"
        );
    }
    // Everything brain wrote is a well-formed object.
    git(top, &["fsck", "--strict", "--no-dangling"]);
}

#[test]
fn trees_match_git_at_the_top_of_the_work_tree_and_in_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    // SAFETY: the only test in this binary, and no other thread reads the environment.
    unsafe { std::env::set_var("GIT_TRACE", &trace) };
    // Found by this test once: nothing to commit, with every object packed.
    let nothing = [
        Step::Files(vec![(0, 0, Write::Text, 1)]),
        Step::Gc,
        Step::Empty(vec![2]),
    ];
    run(&nothing, "", &trace);
    // Each case is a repository and 60 commits with real git: a few cases, and a short
    // shrink (a failing case names its step and paths anyway).
    for (prefix, cases) in [("", 4), ("sub/brain", 2)] {
        let mut runner = TestRunner::new(Config {
            cases,
            max_shrink_iters: 8,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&vec(step(), 60), |steps| {
                run(&steps, prefix, &trace);
                Ok(())
            })
            .unwrap();
    }
    sha256(&trace);
}

/// A repository that names its objects with SHA-256: brain's commits go through git's index.
fn sha256(trace: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path();
    git(top, &["init", "-q", "--object-format=sha256"]);
    git(top, &["config", "user.name", "test"]);
    git(top, &["config", "user.email", "test@localhost"]);
    fs::write(top.join("README.md"), "notes\n").unwrap();
    git(top, &["add", "-A"]);
    git(top, &["commit", "-qm", "start"]);
    let g = Git::detect(top, &top.join(".brain"))
        .unwrap()
        .with_tree_editing();
    for step in 0..3 {
        g.check_ready().unwrap();
        fs::create_dir_all(top.join("tasks/pending")).unwrap();
        fs::write(top.join(format!("tasks/pending/t{step}.md")), "task\n").unwrap();
        fs::write(trace, "").unwrap();
        let paths = [PathBuf::from(format!("tasks/pending/t{step}.md"))];
        assert!(g.commit_paths(&paths, "add").unwrap().is_some());
        assert!(fs::read_to_string(trace).unwrap().contains("write-tree"));
    }
    assert_eq!(
        git(top, &["ls-tree", "-r", "--name-only", "HEAD"]),
        "README.md\ntasks/pending/t0.md\ntasks/pending/t1.md\ntasks/pending/t2.md"
    );
    git(top, &["fsck", "--strict"]);
}
