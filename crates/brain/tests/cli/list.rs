use std::fs;

use serde::Deserialize;

use crate::support::{Repo, fixtures};

/// The shape of `list --json`: any change to it fails here on purpose.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct Item {
    pub id: String,
    pub state: String,
    pub title: String,
    pub priority: String,
    pub requires: Vec<String>,
    pub preferred_interface: Option<String>,
    pub agent: Option<String>,
    pub created: Option<String>,
    pub depends_on: Vec<String>,
    pub approval: Option<String>,
    pub attempt: u32,
    pub path: String,
    /// Pending tasks only.
    pub ready: Option<bool>,
    #[serde(default)]
    pub why: Vec<serde_json::Value>,
    pub attempts_left: Option<u32>,
    #[serde(default)]
    pub attended: bool,
}

#[test]
fn list_json_in_queue_order() {
    let r = Repo::new();
    let low = r.brain(&["add", "low one", "-p", "low"]).ok();
    let crit = r
        .brain(&[
            "add",
            "critical one",
            "-p",
            "critical",
            "--requires",
            "file_access",
        ])
        .ok();
    let med = r.brain(&["add", "medium one"]).ok();
    r.hand_task(
        "active",
        "task-2026-01-30-009.claude-code.md",
        "status: active\nclaimed_by: claude-code\n",
    );
    let items: Vec<Item> = r.brain(&["list", "--json"]).json();
    let ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(
        ids,
        [crit.trim(), med.trim(), low.trim(), "task-2026-01-30-009"]
    );
    assert_eq!(items[0].requires, ["file_access"]);
    assert_eq!(items[0].priority, "critical");
    assert_eq!(items[0].title, "critical one");
    assert!(
        items[0]
            .path
            .ends_with(&format!("tasks/pending/{}.md", crit.trim()))
    );
    assert_eq!(items[3].state, "active");
    assert_eq!(items[3].agent.as_deref(), Some("claude-code"));
    let active: Vec<Item> = r.brain(&["list", "--state", "active", "--json"]).json();
    assert_eq!(active.len(), 1);
    let text = r.brain(&["list"]).ok();
    assert!(
        text.lines().next().unwrap().contains("critical one"),
        "{text}"
    );
}

#[test]
fn one_bad_file_is_reported_and_skipped_never_rewritten() {
    let r = Repo::new();
    r.brain(&["add", "good"]).ok();
    let mut bad = Vec::new();
    for e in fs::read_dir(fixtures("invalid")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let dest = format!(
            "tasks/pending/bad-{}",
            name.replace('.', "-").replace("-md", ".md")
        );
        fs::copy(e.path(), r.path(&dest)).unwrap();
        bad.push((dest, fs::read(e.path()).unwrap()));
    }
    let run = r.brain(&["list", "--json"]);
    let items: Vec<Item> = run.json();
    assert_eq!(items.len(), 1, "only the good task is listed");
    let err = run.stderr();
    for (dest, _) in &bad {
        assert!(
            err.contains(&dest.replace("tasks/pending/", "")),
            "{dest} not reported:\n{err}"
        );
    }
    assert!(err.contains("bad-missing-close.md:1:"), "{err}");
    r.brain(&["status"]).ok();
    r.brain(&["doctor", "--fix"]).fails(5);
    for (dest, bytes) in bad {
        assert_eq!(
            fs::read(r.path(&dest)).unwrap(),
            bytes,
            "{dest} was changed"
        );
    }
}

#[test]
fn valid_fixtures_are_all_listed() {
    let r = Repo::new();
    let mut n = 0;
    for e in fs::read_dir(fixtures("valid")).unwrap() {
        let e = e.unwrap();
        let name = e
            .file_name()
            .into_string()
            .unwrap()
            .replace('.', "-")
            .replacen("-md", ".md", 1);
        fs::copy(e.path(), r.path(&format!("tasks/pending/{name}"))).unwrap();
        n += 1;
    }
    let run = r.brain(&["list", "--json"]);
    let items: Vec<Item> = run.json();
    assert_eq!(items.len(), n, "{}", run.stderr());
    assert_eq!(run.stderr(), "");
}

#[test]
fn show_prints_one_task() {
    let r = Repo::new();
    let id = r.brain(&["add", "Show me", "--body", "body text"]).ok();
    let id = id.trim();
    let out = r.brain(&["show", id]).ok();
    assert!(out.contains("state:     pending"), "{out}");
    assert!(out.contains("body text"));
    let v: serde_json::Value = r.brain(&["show", id, "--json"]).json();
    assert_eq!(v["id"], id);
    assert_eq!(v["body"], "\n# Task: Show me\n\nbody text\n");
    assert_eq!(v["meta"]["status"], "pending");
    let err = r.brain(&["show", "task-1999-01-01-001"]).fails(1);
    assert!(err.contains("no task with id"), "{err}");
    let err = r.brain(&["show", "../etc"]).fails(1);
    assert!(err.contains("task id"), "{err}");
}

#[test]
fn status_counts_claims_and_questions() {
    let r = Repo::new();
    r.brain(&["add", "a"]).ok();
    r.brain(&["add", "b"]).ok();
    // A fresh claim and one whose heartbeat is 3 hours old (stale_after is 2h).
    r.hand_task(
        "active",
        "task-2026-01-30-001.claude-code.md",
        "status: active\nclaimed_at: 2026-01-31T02:00:00Z\nheartbeat_at: 2026-01-31T02:20:00Z\n",
    );
    r.hand_task(
        "active",
        "task-2026-01-30-002.desktop.md",
        "status: active\nclaimed_at: 2026-01-30T23:00:00Z\nheartbeat_at: 2026-01-30T23:30:00Z\n",
    );
    r.hand_task("completed", "task-2026-01-29-001.md", "status: completed\n");
    let pending = r.read("prompts/pending.md");
    r.write(
        "prompts/pending.md",
        &format!("{pending}\n## q-2026-01-31-001\n\nWhere is the vault?\n\n- from: claude-code\n"),
    );
    let v: serde_json::Value = r.brain(&["status", "--json"]).json();
    assert_eq!(v["counts"]["pending"], 2);
    assert_eq!(v["counts"]["active"], 2);
    assert_eq!(v["counts"]["completed"], 1);
    assert_eq!(v["counts"]["failed"], 0);
    assert_eq!(v["stale"], 1);
    assert_eq!(v["open_questions"], 1);
    assert_eq!(v["claims"][0]["agent"], "claude-code");
    assert_eq!(v["claims"][0]["age_secs"], 1800);
    assert_eq!(v["claims"][0]["stale"], false);
    assert_eq!(v["claims"][1]["stale"], true);
    let text = r.brain(&["status"]).ok();
    let claims: Vec<&str> = text.lines().filter(|l| l.contains("by hand")).collect();
    assert_eq!(claims.len(), 2, "{text}");
    assert!(
        claims[0].contains("claimed 30m ago") && claims[0].contains("last heartbeat 10m ago"),
        "{text}"
    );
    // The columns line up: the titles start in one column.
    assert_eq!(
        claims[0].find("by hand"),
        claims[1].find("by hand"),
        "{text}"
    );
    assert!(text.contains("STALE"), "{text}");
    assert!(text.contains("open questions: 1"), "{text}");
}

#[test]
fn broken_pipe_is_quiet() {
    let r = Repo::new();
    for i in 0..200 {
        r.hand_task(
            "pending",
            &format!("task-2026-01-01-{i:03}.md"),
            "status: pending\n",
        );
    }
    let out = r.shell("\"$BRAIN\" list | head -n 1").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.is_empty(), "{err}");
}
