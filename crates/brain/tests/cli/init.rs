use std::fs;

use crate::support::{Repo, TODAY};

const LAYOUT: &[&str] = &[
    "brain.toml",
    "tasks/pending/.gitkeep",
    "tasks/active/.gitkeep",
    "tasks/completed/.gitkeep",
    "tasks/failed/.gitkeep",
    "agents/overnight.md",
    "context/active-agent.md",
    "context/handoff.md",
    "context/usage.md",
    "prompts/pending.md",
    "prompts/answered.md",
    "logs/.gitkeep",
    ".gitignore",
];

#[test]
fn init_creates_the_layout_and_commits_it_once() {
    let r = Repo::new();
    for f in LAYOUT {
        assert!(r.path(f).is_file(), "{f} missing");
    }
    assert_eq!(r.git(&["rev-list", "--count", "HEAD"]).trim(), "1");
    let committed = r.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    let mut want: Vec<&str> = LAYOUT.to_vec();
    want.sort();
    let mut got: Vec<&str> = committed.lines().collect();
    got.sort();
    assert_eq!(got, want, "the commit holds exactly the created files");
    assert_eq!(
        r.git(&["status", "--porcelain"]),
        "",
        "nothing left uncommitted or staged"
    );
    // brain's own scratch folder is ignored.
    assert!(r.path(".brain").is_dir());
    assert!(r.read("brain.toml").contains("stale_after = \"2h\""));
    assert!(r.read("agents/overnight.md").contains("unattended"));
}

#[test]
fn init_again_changes_nothing_and_says_so() {
    let r = Repo::new();
    let head = r.git(&["rev-parse", "HEAD"]);
    let before = r.read("brain.toml");
    let err = r.brain(&["init"]);
    err.ok();
    assert!(
        err.stderr().contains("already a brain repo; nothing to do"),
        "{}",
        err.stderr()
    );
    assert_eq!(r.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(r.read("brain.toml"), before);
}

#[test]
fn init_never_overwrites_a_users_file() {
    let r = Repo::empty();
    r.write("context/handoff.md", "my own notes\n");
    r.write("notes/private.md", "not brain's\n");
    r.brain(&["init"]).ok();
    assert_eq!(r.read("context/handoff.md"), "my own notes\n");
    let committed = r.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(
        !committed.contains("handoff.md"),
        "a file brain did not create was committed"
    );
    assert!(!committed.contains("notes/private.md"));
    // A missing file is filled in later, without touching the rest.
    fs::remove_file(r.path("prompts/answered.md")).unwrap();
    r.git(&["rm", "-q", "--cached", "prompts/answered.md"]);
    r.git(&[
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@t",
        "commit",
        "-qm",
        "drop",
    ]);
    r.brain(&["init"]).ok();
    assert!(r.path("prompts/answered.md").is_file());
    assert_eq!(r.read("context/handoff.md"), "my own notes\n");
}

#[test]
fn init_inside_a_users_git_repo_keeps_their_staged_work_out() {
    let r = Repo::empty();
    r.git(&["init", "-q"]);
    r.write("mine.txt", "staged\n");
    r.git(&["add", "mine.txt"]);
    r.write("draft.txt", "untracked\n");
    r.brain(&["init"]).ok();
    let committed = r.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(!committed.contains("mine.txt") && !committed.contains("draft.txt"));
    let status = r.git(&["status", "--porcelain"]);
    assert!(
        status.contains("A  mine.txt"),
        "the staged file is still staged: {status}"
    );
    assert!(status.contains("?? draft.txt"), "{status}");
    assert_eq!(status.lines().count(), 2, "{status}");
}

#[test]
fn init_example_adds_two_tasks_once_and_the_file_they_point_to() {
    let r = Repo::empty();
    r.brain(&["init", "--example"]).ok();
    let (one, two) = (format!("task-{TODAY}-001"), format!("task-{TODAY}-002"));
    assert_eq!(
        r.tasks_in("pending"),
        [format!("{one}.md"), format!("{two}.md")]
    );
    let text = r.read(&format!("tasks/pending/{one}.md"));
    assert!(text.contains("# Task: Describe this brain repo"), "{text}");
    assert!(text.contains("requires:\n  - file_access\n"), "{text}");
    // Nothing in the example is for one platform only, and what it points to is there.
    for t in [&one, &two] {
        let text = r.read(&format!("tasks/pending/{t}.md"));
        assert!(!text.contains(":\\") && !text.contains("D:"), "{text}");
        assert!(text.contains("context/priorities.md"), "{text}");
    }
    assert!(r.read("context/priorities.md").starts_with("# Priorities"));
    let second = r.read(&format!("tasks/pending/{two}.md"));
    assert!(second.contains("  - writing\n"), "{second}");
    let committed = r.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    for f in [&one, &two, &"context/priorities.md".to_string()] {
        assert!(committed.contains(f.as_str()), "{committed}");
    }
    r.brain(&["init", "--example"]).ok();
    assert_eq!(r.tasks_in("pending").len(), 2);
}

/// Regression: in a repository that had no commit yet, `init --example` refused to add the
/// example (the queue lock's git check) after it had created the other files.
#[test]
fn init_example_in_a_repository_without_commits() {
    let r = Repo::empty();
    r.git(&["init", "-q"]);
    r.brain(&["init", "--example"]).ok();
    let committed = r.git(&["ls-tree", "-r", "--name-only", "HEAD"]);
    assert!(
        committed.contains(&format!("tasks/pending/task-{TODAY}-001.md")),
        "{committed}"
    );
    assert_eq!(r.git(&["rev-list", "--count", "HEAD"]).trim(), "1");
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

#[test]
fn init_into_a_new_folder_by_argument() {
    let r = Repo::empty();
    r.brain(&["init", "sub/dir"]).ok();
    assert!(r.path("sub/dir/brain.toml").is_file());
    assert!(r.path("sub/dir/.git").is_dir());
}
