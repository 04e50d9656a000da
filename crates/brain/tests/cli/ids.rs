//! Ids that differ only in case are one id (issue 16): NTFS and APFS ignore case, so a queue
//! shared between a Windows or Mac machine and a Linux one must mean the same task by
//! `TASK-1` and `task-1` everywhere. The file's own spelling is kept: brain never renames a
//! task to the spelling someone typed. (scripts/wine-smoke.py runs the same under wine.)

use crate::support::Repo;

#[test]
fn an_id_typed_in_another_case_finds_the_task_and_keeps_its_spelling() {
    let r = Repo::new();
    let id = r.add(&["One"]);
    let up = id.to_ascii_uppercase();
    let show = r
        .brain(&["show", &up, "--json"])
        .json::<serde_json::Value>();
    assert_eq!(show["id"], id.as_str());

    // A dependency typed in upper case is stored as the file spells it, so the check that it
    // completed finds it on a file system that tells case apart.
    let second = r.add(&["Two", "--depends-on", &up]);
    let text = r.read(&format!("tasks/pending/{second}.md"));
    assert!(text.contains(&format!("depends_on:\n  - {id}\n")), "{text}");

    let claim = r
        .brain(&["claim", "--agent", "a", &up, "--json"])
        .json::<serde_json::Value>();
    assert_eq!(claim["id"], id.as_str());
    assert_eq!(claim["token"], format!("{id}@1"));
    assert_eq!(r.tasks_in("active"), [format!("{id}.a.md")]);
    r.brain(&["heartbeat", &up, "--agent", "a"]).ok();
    r.brain(&["done", &up, "--agent", "a", "--result", "ok"])
        .ok();
    assert_eq!(r.tasks_in("completed"), [format!("{id}.md")]);
    let log = r.log();
    assert!(
        log.iter()
            .any(|l| l == &format!("done {id} by a (attempt 1)")),
        "the history names the task as its file does: {log:?}"
    );
    // The dependency is met: the second task is claimable now.
    assert_eq!(r.claim("b").0, second);
}

#[test]
fn a_file_named_with_capitals_is_found_by_any_spelling() {
    let r = Repo::new();
    r.hand_task("pending", "Fix-Login.md", "priority: high\n");
    for spelling in ["Fix-Login", "fix-login", "FIX-LOGIN"] {
        let show = r
            .brain(&["show", spelling, "--json"])
            .json::<serde_json::Value>();
        assert_eq!(show["id"], "Fix-Login", "{spelling}");
    }
    let gated = r.add(&["Gated", "--approval"]);
    let approved = r.brain(&["approve", &gated.to_ascii_uppercase()]).stderr();
    assert!(
        approved.contains(&format!("Approved {gated}.")),
        "{approved}"
    );
    let asked = r.brain(&["ask", "Which one?", "--task", "fix-LOGIN", "--agent", "a"]);
    asked.ok();
    let pending = r.read("prompts/pending.md");
    assert!(pending.contains("Fix-Login"), "{pending}");
    assert!(!pending.contains("fix-LOGIN"), "{pending}");

    r.brain(&["claim", "--agent", "a", "fix-login"]).ok();
    assert_eq!(r.tasks_in("active"), ["Fix-Login.a.md"]);
    r.brain(&[
        "fail",
        "FIX-login",
        "--agent",
        "a",
        "--error",
        "no",
        "--retry",
    ])
    .ok();
    assert!(r.tasks_in("pending").contains(&"Fix-Login.md".to_string()));
    let missing = r.brain(&["show", "fix-logout"]).fails(1);
    assert!(
        missing.contains("no task with id `fix-logout`"),
        "{missing}"
    );
}
