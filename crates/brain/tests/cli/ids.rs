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

/// `add` takes the number after the last one it gave from `.brain/next-id` instead of listing
/// every folder (issue 18). That hint is never trusted over the folders: an id some folder
/// holds, in any spelling and any folder, is not given again, and a stale, torn or old hint
/// only costs the listing.
#[test]
fn the_next_id_hint_never_gives_an_id_a_folder_holds() {
    let r = Repo::new();
    let first = r.add(&["One"]);
    let day = first
        .strip_suffix("001")
        .expect("the day's first id")
        .to_string();
    let id = |n: u32| format!("{day}{n:03}");

    // The hint is used: after a hole it goes on from the last id given, where the listing
    // would fill in from the highest file.
    r.write(".brain/next-id", &format!("{}\n", id(10)));
    assert_eq!(r.add(&["Two"]), id(11));

    // The next number, copied in by hand in capitals (one file name on NTFS and APFS), in
    // each folder in turn, or claimed by hand in active/.
    let taken = [
        (
            "pending",
            format!("{}.md", id(12).replacen("task", "TASK", 1)),
        ),
        (
            "completed",
            format!("{}.md", id(14).replacen("task", "Task", 1)),
        ),
        (
            "failed",
            format!("{}.md", id(16).replacen("task", "tASk", 1)),
        ),
        (
            "active",
            format!("{}.someone.md", id(18).replacen("task", "TASK", 1)),
        ),
    ];
    let mut expect = 13;
    for (folder, name) in &taken {
        r.hand_task(folder, name, "");
        let got = r.add(&["Next"]);
        assert_eq!(got, id(expect), "after {folder}/{name}");
        expect += 2;
    }

    // A task that arrived through the remote, with a higher number than the hint's next.
    r.hand_task("pending", &format!("{}.md", id(20)), "");
    assert_eq!(r.add(&["After the pull"]), id(21));

    // A torn hint, another day's, and one that is not brain's: the listing decides.
    let hints = ["task-20", "task-2020-01-01-900\n", "\u{0}\u{0}garbage"];
    for (next, hint) in (22..).zip(hints) {
        r.write(".brain/next-id", hint);
        assert_eq!(r.add(&["Again"]), id(next), "with the hint {hint:?}");
    }
    let all: Vec<String> = ["pending", "active", "completed", "failed"]
        .iter()
        .flat_map(|s| r.tasks_in(s))
        .map(|n| n.split('.').next().unwrap().to_ascii_lowercase())
        .collect();
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(all.len(), unique.len(), "an id given twice: {all:?}");
}
