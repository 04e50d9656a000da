use std::collections::HashSet;

use serde::Deserialize;

use crate::support::{Repo, TODAY};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Added {
    id: String,
    path: String,
}

#[test]
fn add_writes_the_seeds_shape_and_prints_the_id() {
    let r = Repo::new();
    let id = r
        .brain(&[
            "add",
            "Analyze vault folder structure",
            "--requires",
            "code_execution,file_access",
            "--prefer",
            "claude-code",
            "--timeout",
            "60m",
            "--body",
            "## Input\nThe vault.",
        ])
        .ok();
    assert_eq!(id.trim(), format!("task-{TODAY}-001"));
    let text = r.read(&format!("tasks/pending/{}.md", id.trim()));
    assert_eq!(
        text,
        format!(
            "---\nid: task-{TODAY}-001\ncreated: 2026-01-31T02:30:00Z\npriority: medium\nrequires:\n  - code_execution\n  - file_access\npreferred_interface: claude-code\ntimeout: 1h\nstatus: pending\n---\n\n# Task: Analyze vault folder structure\n\n## Input\nThe vault.\n"
        )
    );
}

#[test]
fn add_with_every_flag() {
    let r = Repo::new();
    let first: Added = r.brain(&["add", "First", "--json"]).json();
    assert!(
        first
            .path
            .ends_with(&format!("tasks/pending/{}.md", first.id))
    );
    let out = r.brain_stdin(
        &[
            "add",
            "Second",
            "-p",
            "critical",
            "--depends-on",
            &first.id,
            "--approval",
            "--no-unattended",
            "--not-before",
            "2026-02-01T09:00:00Z",
            "--body-file",
            "-",
        ],
        "from stdin\n",
    );
    let id = out.ok();
    let text = r.read(&format!("tasks/pending/{}.md", id.trim()));
    for line in [
        "priority: critical\n",
        &format!("depends_on:\n  - {}\n", first.id),
        "approval: required\n",
        "unattended: false\n",
        "not_before: 2026-02-01T09:00:00Z\n",
        "requires: []\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from\n{text}");
    }
    assert!(text.ends_with("# Task: Second\n\nfrom stdin\n"), "{text}");
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let r = Repo::new();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["add", ""], 1, "title is empty"),
        (&["add", "x", "--priority", "urgent"], 2, "not a priority"),
        (&["add", "x", "--timeout", "90"], 2, "without a unit"),
        (
            &["add", "x", "--depends-on", "task-1999-01-01-001"],
            1,
            "no such task",
        ),
        (&["add", "x", "--depends-on", "../x"], 1, "contains `.`"),
        (&["add", "x", "--prefer", "a/b"], 1, "agent name"),
        (&["add", "x", "--not-before", "someday"], 2, "not a time"),
        (
            &["add", "x", "--body", "a", "--body-file", "f"],
            2,
            "cannot be used with",
        ),
        (
            &["add", "x", "--body-file", "/nonexistent/file"],
            1,
            "/nonexistent/file",
        ),
        (&["add", "two\nlines"], 1, "line break"),
    ];
    for (args, code, msg) in cases {
        let err = r.brain(args).fails(*code);
        assert!(err.contains(msg), "{args:?}: {err}");
    }
    assert!(r.tasks_in("pending").is_empty());
}

/// Many processes adding at once never share an id (full size: scripts/stress-add.sh).
#[test]
fn concurrent_adds_get_distinct_ids() {
    let r = Repo::without_commits();
    let (procs, each) = (8, 40);
    let children: Vec<_> = (0..procs)
        .map(|p| {
            let script =
                format!("for i in $(seq {each}); do \"$BRAIN\" add \"p{p} t$i\" || exit 1; done");
            r.shell(&script)
                .env_remove("BRAIN_NOW")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ids = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        ids.extend(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .map(str::to_string),
        );
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), procs * each);
    assert_eq!(unique.len(), procs * each, "duplicate ids");
    assert_eq!(r.tasks_in("pending").len(), procs * each);
}
