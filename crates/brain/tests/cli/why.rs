//! What a new user meets in the first hour: typos that are caught with the name meant, and a
//! queue that says why a pending task is not being taken.

use crate::support::{Repo, TODAY};

#[test]
fn a_misspelt_agent_is_refused_with_the_name_it_meant_and_nothing_is_claimed() {
    let r = Repo::strict();
    let id = r.add(&["real work"]);
    let err = r.brain(&["claim", "--agent", "claude-cod"]).fails(1);
    assert!(err.contains("no agent `claude-cod`"), "{err}");
    assert!(err.contains("did you mean `claude-code`?"), "{err}");
    assert!(
        err.contains("--capabilities") && err.contains("ad_hoc_agents"),
        "{err}"
    );
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    // A hand claim by any name stays valid when it says what it can do...
    let c: serde_json::Value = r
        .brain(&[
            "claim",
            "--agent",
            "helper",
            "--capabilities",
            "file_access",
            "--json",
        ])
        .json();
    assert_eq!(c["agent"], "helper");
    // ...or when brain.toml allows agents it does not name.
    let other = r.add(&["more work"]);
    r.write("brain.toml", &crate::support::ad_hoc(&r.read("brain.toml")));
    let (claimed, _) = r.claim("someone");
    assert_eq!(claimed, other);
}

#[test]
fn a_capability_no_agent_has_is_a_warning_at_add_in_status_and_in_doctor() {
    let r = Repo::strict();
    let out = r.brain(&["add", "compile it", "--requires", "code_exec"]);
    let id = out.ok().trim().to_string();
    let err = out.stderr();
    assert!(
        err.contains("no agent in brain.toml has `code_exec`"),
        "{err}"
    );
    assert!(err.contains("did you mean `code_execution`?"), "{err}");
    // The task is added as asked: the person may be about to add such an agent.
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    let status = r.brain(&["status"]).ok();
    assert!(
        status.contains(&format!(
            "tasks/pending/{id}.md: no agent in brain.toml has `code_exec`"
        )),
        "{status}"
    );
    let doctor = r.brain(&["doctor"]).ok();
    assert!(
        doctor.contains("code_exec") && doctor.contains("no agent can claim it"),
        "{doctor}"
    );
    // A capability some agent has is no warning.
    let fine = r.brain(&["add", "write it", "--requires", "writing"]);
    fine.ok();
    assert!(!fine.stderr().contains("no agent"), "{}", fine.stderr());
}

/// Regression: `brain init` never set `[run] agent`, so `brain run` asked "which agent should
/// run?" with `claude-code` the only agent there is.
#[test]
fn the_only_agent_is_the_default_of_a_run() {
    let r = Repo::strict();
    r.add(&["something"]);
    // The dry run shows the command it would start: Claude Code's.
    let out = r.brain(&["run", "--dry-run"]).ok();
    assert!(
        out.contains("something") && out.contains("claude -p"),
        "{out}"
    );
    // With two, the run asks which.
    let mut config = r.read("brain.toml");
    config.push_str("\n[agents.other]\ncommand = [\"true\"]\n");
    r.write("brain.toml", &config);
    let err = r.brain(&["run", "--dry-run"]).fails(1);
    assert!(err.contains("which agent"), "{err}");
}

#[test]
fn list_show_and_claim_say_why_a_pending_task_waits() {
    let r = Repo::strict();
    let gated = r.add(&["gated", "--approval", "-p", "critical"]);
    let after = r.add(&[
        "after the gated one",
        "--depends-on",
        &gated,
        "-p",
        "critical",
    ]);
    let later = r.add(&[
        "tomorrow",
        "--not-before",
        "2026-02-01T09:00:00Z",
        "-p",
        "high",
    ]);
    let nobody = r.add(&["nobody can", "--requires", "telepathy", "-p", "high"]);
    let ready = r.add(&["ready", "--no-unattended"]);

    let items: Vec<serde_json::Value> = r.brain(&["list", "--json"]).json();
    let get = |id: &str| items.iter().find(|i| i["id"] == id).unwrap().clone();
    let reasons = |id: &str| -> Vec<String> {
        get(id)["why"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["reason"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(get(&gated)["ready"], false);
    assert_eq!(reasons(&gated), ["approval"]);
    assert_eq!(reasons(&after), ["dependency"]);
    assert_eq!(get(&after)["why"][0]["id"], gated.as_str());
    assert_eq!(reasons(&later), ["not_before"]);
    assert_eq!(get(&later)["why"][0]["at"], "2026-02-01T09:00:00Z");
    assert_eq!(reasons(&nobody), ["no_agent"]);
    assert!(
        get(&nobody)["why"][0]["message"]
            .as_str()
            .unwrap()
            .contains("telepathy")
    );
    assert_eq!(get(&ready)["ready"], true);
    assert_eq!(get(&ready)["attempts_left"], 3);
    assert_eq!(get(&ready)["attended"], true);

    // The list's column says the same in a few words.
    let text = r.brain(&["list"]).ok();
    let line = |id: &str| {
        text.lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .to_string()
    };
    assert!(line(&gated).contains("needs approval"), "{text}");
    assert!(line(&after).contains(&format!("after {gated}")), "{text}");
    assert!(
        line(&later).contains("not before 2026-02-01T09:00:00Z"),
        "{text}"
    );
    assert!(line(&nobody).contains("no agent has telepathy"), "{text}");
    assert!(line(&ready).contains("ready, attended only"), "{text}");

    // show says it in words.
    let shown = r.brain(&["show", &after]).ok();
    assert!(
        shown.contains(&format!(
            "waits:     it depends on {gated}, which is not completed"
        )),
        "{shown}"
    );
    assert!(shown.contains("attempts:  0 used, 3 left"), "{shown}");
    let shown: serde_json::Value = r.brain(&["show", &gated, "--json"]).json();
    assert_eq!(shown["ready"], false);
    assert_eq!(shown["why"][0]["reason"], "approval");

    // A claim that finds nothing says why for the first few in the queue.
    r.brain(&["claim", &ready, "--agent", "claude-code"]).ok();
    let err = r.brain(&["claim", "--agent", "claude-code"]).fails(3);
    assert!(err.contains("nothing to claim for claude-code"), "{err}");
    assert!(
        err.contains(&format!("{gated}: it waits for approval")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{after}: it depends on {gated}, which is not completed"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{later}: not before")), "{err}");
    // Three tasks named, one of them twice (the dependency): the fourth is not.
    assert_eq!(err.matches(&format!("task-{TODAY}-")).count(), 4, "{err}");
    assert!(!err.contains(&nobody), "{err}");
}

#[test]
fn tables_line_up_whatever_the_width_of_their_cells() {
    let r = Repo::new();
    let wide = r.add(&["日本語のタスク"]);
    r.add(&["café au lait", "--approval"]);
    r.add(&["🚀 launch"]);
    r.brain(&["claim", &wide, "--agent", "an-agent-with-a-long-name"])
        .ok();
    // The titles, the last column, all start in one terminal column.
    let list = r.brain(&["list"]).ok();
    let starts: Vec<usize> = ["日本語のタスク", "café au lait", "🚀 launch"]
        .iter()
        .map(|t| {
            let l = list.lines().find(|l| l.contains(t)).unwrap();
            width(&l[..l.find(t).unwrap()])
        })
        .collect();
    assert_eq!(starts, vec![starts[0]; 3], "{list}");
    // Questions with and without a task: the question starts in one column.
    r.brain(&["ask", "Which colour? 色は？", "--task", &wide])
        .ok();
    r.brain(&["ask", "plain question"]).ok();
    let questions = r.brain(&["questions"]).ok();
    let starts: Vec<usize> = ["Which colour?", "plain question"]
        .iter()
        .map(|q| {
            let l = questions.lines().find(|l| l.contains(q)).unwrap();
            width(&l[..l.find(q).unwrap()])
        })
        .collect();
    assert_eq!(starts, vec![starts[0]; 2], "{questions}");
}

/// Display width of `s` in terminal cells (wide CJK and emoji count two).
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF => 2,
            0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF => 2,
            _ => 1,
        })
        .sum()
}
