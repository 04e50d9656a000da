//! Every transition is one commit of exactly the files it touched; the user's own work is never
//! committed, reset or lost.

use crate::support::Repo;

#[test]
fn each_transition_is_one_commit_of_its_files() {
    let r = Repo::new();
    let id = r.add(&["first"]);
    assert_eq!(r.log()[0], format!("add {id}: first"));
    assert_eq!(r.last_commit_paths(), [format!("tasks/pending/{id}.md")]);

    let (_, token) = r.claim("claude-code");
    assert_eq!(r.log()[0], format!("claim {id} by claude-code (epoch 1)"));
    assert_eq!(
        r.last_commit_paths(),
        [
            "context/active-agent.md".to_string(),
            format!("tasks/active/{id}.claude-code.md"),
            format!("tasks/pending/{id}.md")
        ]
    );
    r.brain(&["done", &id, "--token", &token, "--result", "ok"])
        .ok();
    assert_eq!(r.log()[0], format!("done {id} by claude-code (attempt 1)"));
    assert_eq!(
        r.last_commit_paths(),
        [
            "context/active-agent.md".to_string(),
            format!("tasks/active/{id}.claude-code.md"),
            format!("tasks/completed/{id}.md")
        ]
    );
    let gated = r.add(&["gated", "--approval"]);
    assert_eq!(
        r.last_commit_paths(),
        [
            "prompts/pending.md".to_string(),
            format!("tasks/pending/{gated}.md")
        ]
    );
    r.brain(&["approve", &gated]).ok();
    assert_eq!(r.log()[0], format!("approve {gated}"));
    let q = r.brain(&["ask", "Where?"]).ok();
    assert_eq!(r.log()[0], format!("ask {}: Where?", q.trim()));
    r.brain(&["answer", q.trim(), "Here."]).ok();
    assert_eq!(r.log()[0], format!("answer {}", q.trim()));
    r.brain(&["handoff", "--to", "claude-desktop", "--note", "hi"])
        .ok();
    assert_eq!(r.log()[0], "handoff to claude-desktop");
    assert_eq!(
        r.git(&["status", "--porcelain"]),
        "",
        "brain left nothing uncommitted"
    );
}

#[test]
fn reclaim_and_fail_say_what_happened() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    r.claim("a");
    r.at("2026-01-31T05:00:00Z", &["reclaim"]).ok();
    assert!(
        r.log()[0].starts_with(&format!(
            "reclaim {id}: back to pending (no heartbeat from a since"
        )),
        "{:?}",
        r.log()
    );
    let (_, tok) = r.claim("b");
    r.brain(&["fail", &id, "--token", &tok, "--error", "no", "--retry"])
        .ok();
    assert_eq!(
        r.log()[0],
        format!("fail {id} by b (attempt 2 of 3): back to pending")
    );
}

/// A staged change and an unstaged one, elsewhere in the repo, are exactly as they were after
/// claim and done, and in no brain commit.
#[test]
fn the_users_staged_and_unstaged_work_is_untouched() {
    let r = Repo::new();
    r.write("notes/staged.md", "v1\n");
    r.write("notes/edited.md", "v1\n");
    r.git(&["add", "notes"]);
    r.git(&[
        "-c",
        "user.name=me",
        "-c",
        "user.email=me@x",
        "commit",
        "-qm",
        "my notes",
    ]);
    r.write("notes/staged.md", "v2 staged\n");
    r.git(&["add", "notes/staged.md"]);
    r.write("notes/edited.md", "v2 not staged\n");
    r.write("notes/new.md", "untracked\n");
    let before = r.git(&["status", "--porcelain"]);
    let staged_diff = r.git(&["diff", "--cached"]);

    let id = r.add(&["work"]);
    let (_, tok) = r.claim("claude-code");
    r.brain(&["done", &id, "--token", &tok, "--result", "ok"])
        .ok();

    assert_eq!(r.git(&["status", "--porcelain"]), before);
    assert_eq!(r.git(&["diff", "--cached"]), staged_diff);
    assert_eq!(r.read("notes/staged.md"), "v2 staged\n");
    assert_eq!(r.read("notes/edited.md"), "v2 not staged\n");
    assert_eq!(r.read("notes/new.md"), "untracked\n");
    let brain_commits = r.git(&["log", "--format=%H", "-3"]);
    for c in brain_commits.lines() {
        let files = r.git(&["show", "--name-only", "--format=", c]);
        assert!(
            !files.contains("notes/"),
            "a brain commit took the user's files: {files}"
        );
    }
}

#[test]
fn works_without_a_git_identity() {
    let r = Repo::new();
    // No user.name/user.email anywhere, and git may not guess one from the host.
    r.git(&["config", "user.useConfigOnly", "true"]);
    r.add(&["x"]);
    assert_eq!(
        r.git(&["log", "-1", "--format=%an <%ae>"]).trim(),
        "brain <brain@localhost>"
    );
    // With an identity, it is used.
    r.git(&["config", "user.name", "Ana"]);
    r.git(&["config", "user.email", "ana@example.com"]);
    r.add(&["y"]);
    assert_eq!(
        r.git(&["log", "-1", "--format=%an <%ae>"]).trim(),
        "Ana <ana@example.com>"
    );
}

#[test]
fn a_repo_mid_merge_or_detached_or_empty_is_refused_and_nothing_changes() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    let head = r.git(&["rev-parse", "HEAD"]);
    // Detached HEAD.
    r.git(&["checkout", "-q", "--detach"]);
    let err = r.brain(&["claim", "--agent", "a"]).fails(1);
    assert!(
        err.contains("detached HEAD") && err.contains("git switch"),
        "{err}"
    );
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    r.git(&["checkout", "-q", "-"]);
    // In the middle of a merge.
    let git_dir = r.git(&["rev-parse", "--absolute-git-dir"]);
    std::fs::write(
        std::path::Path::new(git_dir.trim()).join("MERGE_HEAD"),
        &head,
    )
    .unwrap();
    let err = r.brain(&["claim", "--agent", "a"]).fails(1);
    assert!(err.contains("in the middle of a merge"), "{err}");
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    std::fs::remove_file(std::path::Path::new(git_dir.trim()).join("MERGE_HEAD")).unwrap();
    r.brain(&["claim", "--agent", "a"]).ok();

    // A brain repo inside a git repository that has no commit yet.
    let e = Repo::empty();
    e.write("brain.toml", "");
    e.git(&["init", "-q"]);
    let err = e.brain(&["add", "x"]).fails(1);
    assert!(err.contains("without any commit yet"), "{err}");
    assert!(!e.path("tasks/pending").exists() || e.tasks_in("pending").is_empty());
}

#[test]
fn without_git_or_with_commits_off_it_still_works() {
    let r = Repo::empty();
    r.write("brain.toml", "[git]\ncommit = false\n");
    let id = r.add(&["x"]);
    let (_, tok) = r.claim("a");
    r.brain(&["done", &id, "--token", &tok, "--result", "ok"])
        .ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    assert!(!r.path(".git").exists());
    // A git repo with commits switched off makes none.
    let g = Repo::without_commits();
    let n = g.log().len();
    g.add(&["y"]);
    assert_eq!(g.log().len(), n);
}

#[test]
fn heartbeats_are_committed_at_most_once_per_window() {
    let r = Repo::new();
    let id = r.add(&["long"]);
    r.claim("a");
    let n = r.log().len();
    let before = r.read(&format!("tasks/active/{id}.a.md"));
    // 02:30 claim; heartbeats at 02:31 and 02:35 are in the claim's 10-minute window, 02:41 is
    // not. Those within it change nothing: not the file (which a person may be editing), not
    // the history; the lease is judged on one heartbeat per window.
    for t in ["2026-01-31T02:31:00Z", "2026-01-31T02:35:00Z"] {
        r.at(t, &["heartbeat", "--agent", "a"]).ok();
    }
    assert_eq!(
        r.log().len(),
        n,
        "heartbeats within the window made commits"
    );
    assert_eq!(r.read(&format!("tasks/active/{id}.a.md")), before);
    r.at("2026-01-31T02:41:00Z", &["heartbeat", "--agent", "a"])
        .ok();
    assert_eq!(r.log().len(), n + 1);
    assert_eq!(r.log()[0], format!("heartbeat {id} by a"));
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// A git command killed mid-commit leaves a lock file, and commits fail while it is there:
/// doctor reports it, `--fix` removes it once it is clearly stale, and the next commit takes in
/// what the failed one left.
#[test]
fn doctor_removes_a_stale_git_lock_and_nothing_is_left_uncommitted() {
    let r = Repo::new();
    r.add(&["x"]);
    let git_dir = r.git(&["rev-parse", "--absolute-git-dir"]);
    let branch = r.git(&["symbolic-ref", "--short", "HEAD"]);
    let lock = std::path::Path::new(git_dir.trim())
        .join("refs/heads")
        .join(format!("{}.lock", branch.trim()));
    std::fs::write(&lock, "").unwrap();
    // The claim is made (it is on disk, and its token is the caller's); its commit waits, and
    // the command says why.
    let claim = r.brain(&["claim", "--agent", "a"]);
    let err = claim.stderr();
    assert_eq!(claim.code(), 0, "{err}");
    assert!(
        err.contains(".lock") && err.contains("its commit has to wait"),
        "{err}"
    );
    // A fresh lock may belong to a running git command: reported, left alone.
    let out = r.brain(&["doctor"]);
    assert_eq!(out.code(), 5, "{}", out.stderr());
    assert!(
        out.stdout().contains("a git command holds it"),
        "{}",
        out.stdout()
    );
    r.brain(&["doctor", "--fix"]).fails(5);
    assert!(lock.exists());
    // Once it is old, --fix removes it, and the claim's changes are committed.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let out = r.brain(&["doctor", "--fix"]);
    assert_eq!(out.code(), 0, "{}\n{}", out.stdout(), out.stderr());
    assert!(!lock.exists());
    assert_eq!(
        r.git(&["status", "--porcelain"]),
        "",
        "the failed claim's changes are committed now"
    );
    assert_eq!(r.tasks_in("active").len(), 1);
}
