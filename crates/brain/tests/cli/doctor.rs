use serde::Deserialize;

use crate::support::Repo;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    findings: Vec<Finding>,
    tasks_checked: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Finding {
    check: String,
    level: String,
    path: String,
    #[allow(dead_code)]
    message: String,
    fixed: bool,
}

#[test]
fn healthy_repo() {
    let r = Repo::new();
    r.brain(&["add", "x"]).ok();
    let out = r.brain(&["doctor"]).ok();
    assert!(out.starts_with("healthy: 1 task files checked"), "{out}");
}

#[test]
fn finds_problems_and_fixes_what_is_safe() {
    let r = Repo::new();
    let id = r.brain(&["add", "x"]).ok().trim().to_string();
    // status disagrees with the folder
    r.hand_task(
        "completed",
        "task-2026-01-01-001.md",
        "id: task-2026-01-01-001\nstatus: pending # moved by hand\n",
    );
    // id field disagrees with the name
    r.hand_task(
        "failed",
        "task-2026-01-01-002.md",
        "id: task-2026-01-01-099\nstatus: failed\n",
    );
    // an id in two folders
    r.hand_task("completed", &format!("{id}.md"), "status: completed\n");
    // a leftover temporary file, a bad name, an unparsable file
    r.write("tasks/pending/.task-x.md.brain-tmp.123.0", "half");
    r.write("tasks/pending/has space.md", "---\n---\n");
    r.write(
        "tasks/failed/task-2026-01-01-003.md",
        "---\npriority: [\n---\n",
    );
    std::fs::remove_file(r.path("context/usage.md")).unwrap();

    let run = r.brain(&["doctor", "--json"]);
    assert_eq!(run.code(), 5, "{}", run.stderr());
    let report: Report = serde_json::from_str(&run.stdout()).unwrap();
    let checks = |fixed: bool| {
        let mut v: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.fixed == fixed)
            .map(|f| f.check.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    assert!(checks(true).is_empty());
    assert_eq!(
        checks(false),
        [
            "bad-name",
            // The files written by hand (and usage.md, deleted) are not what HEAD has.
            "drift",
            "duplicate",
            "id-field",
            "missing",
            "parse",
            "status",
            "temporary"
        ]
    );
    assert!(report.findings.iter().all(|f| f.level == "problem"));
    assert_eq!(report.tasks_checked, 5);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.check == "duplicate" && f.path.contains(&id))
    );

    let out = r.brain(&["doctor", "--fix"]);
    assert_eq!(out.code(), 5);
    let text = out.stdout();
    assert!(text.contains("unhealthy: 2 problem(s) left"), "{text}");
    assert_eq!(
        r.read("tasks/completed/task-2026-01-01-001.md"),
        "---\nid: task-2026-01-01-001\nstatus: completed # moved by hand\n---\n\n# Task: by hand\n"
    );
    assert!(
        r.read("tasks/failed/task-2026-01-01-002.md")
            .contains("id: task-2026-01-01-002\n")
    );
    assert!(!r.path("tasks/pending/.task-x.md.brain-tmp.123.0").exists());
    assert!(r.path("context/usage.md").exists());
    assert_eq!(
        r.read("tasks/failed/task-2026-01-01-003.md"),
        "---\npriority: [\n---\n"
    );
    // The pending copy of a finished task became a task of its own, and everything is
    // committed as it is in the folder.
    assert_eq!(
        r.tasks_in("pending"),
        ["has space.md", "task-2026-01-31-002.md"]
    );
    assert!(
        text.contains("it is now the new task task-2026-01-31-002"),
        "{text}"
    );
    assert_eq!(r.git(&["status", "--porcelain"]), "");

    // Once a person has dealt with the rest (and --fix recorded their deletions), the repo
    // is healthy.
    std::fs::remove_file(r.path("tasks/pending/has space.md")).unwrap();
    std::fs::remove_file(r.path("tasks/failed/task-2026-01-01-003.md")).unwrap();
    let out = r.brain(&["doctor"]);
    assert_eq!(out.code(), 5, "{}", out.stdout());
    assert!(
        out.stdout()
            .contains("deleted from the folder, but still in HEAD")
    );
    r.brain(&["doctor", "--fix"]).ok();
    let out = r.brain(&["doctor"]).ok();
    assert!(out.starts_with("healthy"), "{out}");
}

/// A transition between its two lock sections of a group commit (or in a `brain run`, which
/// commits about once a second) is on its way to a commit: doctor does not call its file a
/// change no commit had. Left by a process killed before its commit, it is reported again once
/// it is a few seconds old.
#[test]
fn a_transition_on_its_way_to_its_group_commit_is_not_drift() {
    let r = Repo::new();
    let id = r.add(&["On its way"]);
    let rel = format!("tasks/pending/{id}.md");
    let text = r.read(&rel);
    r.write(&rel, &format!("{text}\nMore.\n"));
    // What a section leaves for the batch: its path listed, its message under a ticket.
    r.write(".brain/uncommitted", &format!("{rel}\n"));
    // (Tickets count up from the last one handled, which `.brain/committed` starts with.)
    let handled: u64 = r
        .read(".brain/committed")
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let ticket = handled + 1;
    r.write(".brain/messages", &format!("{ticket}\tupdate {id}: more\n"));
    let drift = |r: &Repo| {
        let report: Report =
            serde_json::from_str(&r.brain(&["doctor", "--json"]).stdout()).unwrap();
        report
            .findings
            .iter()
            .filter(|f| f.check == "drift")
            .map(|f| f.path.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(drift(&r), Vec::<String>::new());
    // Killed before the commit: the message grows old, and doctor reports the file.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(30);
    std::fs::File::options()
        .write(true)
        .open(r.path(".brain/messages"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let paths = drift(&r);
    assert!(
        paths.len() == 1 && paths[0].ends_with(&format!("{id}.md")),
        "{paths:?}"
    );
    // The next transition commits it, with its message.
    r.add(&["Next"]);
    assert!(
        r.git(&["log", "-1", "--format=%B"])
            .contains(&format!("update {id}: more"))
    );
    assert_eq!(drift(&r), Vec::<String>::new());
}
