//! Read-only means read-only: the commands that only look, and every `--dry-run`, leave every
//! byte of the repo and its git history as they were, also when there is something a change
//! would clean up first (a hand-moved task, a transition a killed process left half done).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::support::Repo;

/// Every file outside `.git/` and `.brain/` (this machine's caches, which are brain's own and
/// never committed), with its bytes; and what git has: the history, the index and the refs.
fn snapshot(r: &Repo) -> (BTreeMap<String, Vec<u8>>, String) {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".git" || rel == ".brain" {
                continue;
            }
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &path, out);
            } else {
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(&r.root, &r.root, &mut files);
    let git = [
        r.git(&["log", "--all", "--format=%H %s"]),
        r.git(&["ls-files", "--stage"]),
        r.git(&["for-each-ref"]),
        r.git(&["stash", "list"]),
    ]
    .join("\n");
    (files, git)
}

#[test]
fn read_commands_and_dry_runs_change_nothing_even_with_a_hand_move_and_a_killed_claim() {
    let r = Repo::new();
    let stale = r.add(&["claimed long ago"]);
    let moved = r.add(&["moved by hand"]);
    let cut = r.add(&["claim cut short"]);
    let gated = r.add(&["gated", "--approval"]);
    r.add(&["waiting"]);
    r.at("2026-01-31T00:00:00Z", &["claim", &stale, "--agent", "a"])
        .ok();
    r.brain(&["ask", "Which folder?"]).ok();
    r.brain(&[
        "handoff",
        "--to",
        "b",
        "--agent",
        "a",
        "--note",
        "notes for b",
    ])
    .ok();
    // A person moved a task into active/ (a hand claim brain has not seen yet)...
    fs::rename(
        r.path(&format!("tasks/pending/{moved}.md")),
        r.path(&format!("tasks/active/{moved}.md")),
    )
    .unwrap();
    // ...and a claim was killed after its rename, before its fields (`.brain/claiming` names it).
    let cut_to = format!("tasks/active/{cut}.b.md");
    fs::rename(r.path(&format!("tasks/pending/{cut}.md")), r.path(&cut_to)).unwrap();
    fs::write(r.path(".brain/claiming"), &cut_to).unwrap();
    let before = snapshot(&r);

    // Hours later: the old claim is stale, so a change would reclaim it first.
    let later = "2026-01-31T09:00:00Z";
    let commands: &[&[&str]] = &[
        &["list"],
        &["list", "--json"],
        &["list", "--state", "active"],
        &["show", &stale],
        &["show", &moved, "--json"],
        &["show", &gated],
        &["status"],
        &["status", "--json"],
        &["questions"],
        &["questions", "--json"],
        &["handoff", "show"],
        &["usage"],
        &["usage", "--json"],
        &["review"],
        &["review", "--json"],
        &["run", "--dry-run", "--agent", "claude-code"],
        &["reclaim", "--dry-run"],
        &["doctor"],
        &["doctor", "--json"],
        &[
            "schedule",
            "install",
            "--cron",
            "--print",
            "--agent",
            "claude-code",
        ],
        &["hook", "session-start"],
        &["hook", "stop"],
        &["setup", "claude", "--print"],
        &["setup", "claude", "--check"],
        &["setup", "desktop", "--print"],
        &["completions", "bash"],
        &["man"],
    ];
    for args in commands {
        let out = r.at(later, args);
        assert!(
            !out.stderr().contains("panicked"),
            "{args:?}: {}",
            out.stderr()
        );
        let after = snapshot(&r);
        assert!(
            before.1 == after.1,
            "brain {args:?} changed git:\n{}\n---\n{}",
            before.1,
            after.1
        );
        for (path, bytes) in &before.0 {
            assert!(
                after.0.get(path) == Some(bytes),
                "brain {args:?} changed or removed {path}"
            );
        }
        for path in after.0.keys() {
            assert!(before.0.contains_key(path), "brain {args:?} created {path}");
        }
    }
    // What they saw is what a change will find: the dry run names the stale claim.
    let dry = r.at(later, &["reclaim", "--dry-run"]).ok();
    assert!(dry.contains(&stale), "{dry}");
    // And the next change does clean up: the killed claim goes back, the hand move is kept.
    r.at(later, &["reclaim"]).ok();
    assert_eq!(r.where_is(&cut), [format!("pending/{cut}.md")]);
    assert_eq!(r.where_is(&moved), [format!("active/{moved}.md")]);
}
