use crate::support::Repo;

#[test]
fn a_gated_task_waits_for_approval() {
    let r = Repo::new();
    let id = r.add(&["delete old notes", "--approval", "-p", "critical"]);
    let plain = r.add(&["plain"]);
    let open: serde_json::Value = r.brain(&["questions", "--open", "--json"]).json();
    assert_eq!(open[0]["task"], id.as_str());
    assert_eq!(open[0]["kind"], "approval");
    assert_eq!(open[0]["state"], "open");
    assert_eq!(r.claim("claude-code").0, plain, "the gated task is skipped");
    let err = r.brain(&["claim", "--agent", "claude-code", &id]).fails(3);
    assert!(err.contains("waits for approval"), "{err}");
    r.brain(&["approve", &id]).ok();
    assert!(
        r.read(&format!("tasks/pending/{id}.md"))
            .contains("approval: approved\n")
    );
    let answered: serde_json::Value = r.brain(&["questions", "--json"]).json();
    assert_eq!(answered[0]["state"], "answered");
    assert_eq!(r.claim("claude-code").0, id);
}

#[test]
fn deny_sends_it_to_failed_with_the_reason() {
    let r = Repo::new();
    let id = r.add(&["risky", "--approval"]);
    let out = r.brain(&["deny", &id, "--reason", "too risky"]).ok();
    assert!(out.trim().ends_with(&format!("tasks/failed/{id}.md")));
    let text = r.read(&format!("tasks/failed/{id}.md"));
    assert!(
        text.contains("approval: denied\n")
            && text.contains("status: failed\n")
            && text.ends_with("too risky\n"),
        "{text}"
    );
    let qs: serde_json::Value = r.brain(&["questions", "--json"]).json();
    assert_eq!(qs[0]["answer"], "denied: too risky");
    r.brain(&["claim", "--agent", "claude-code"]).fails(3);
}

/// A person moves the entry to answered.md and writes the answer: that answers it.
#[test]
fn answers_written_by_hand_count() {
    let r = Repo::new();
    let yes = r.add(&["yes please", "--approval"]);
    let no = r.add(&["no thanks", "--approval"]);
    let q = r
        .brain(&[
            "ask",
            "Where is the vault?",
            "--agent",
            "claude-code",
            "--task",
            &yes,
        ])
        .ok();
    let pending = r.read("prompts/pending.md");
    // Cut every entry out of pending.md by hand and paste it into answered.md with an answer.
    let (head, entries) = pending.split_once("\n## q-").unwrap();
    let mut answered = r.read("prompts/answered.md");
    for e in format!("## q-{entries}").split("\n## q-").map(|e| {
        if e.starts_with("## q-") {
            e.to_string()
        } else {
            format!("## q-{e}")
        }
    }) {
        let answer = if e.contains(&yes) && e.contains("kind: approval") {
            "Yes, go ahead."
        } else if e.contains(&no) {
            "No."
        } else {
            "D:\\Obsidian"
        };
        answered.push_str(&format!("\n{}\n\n{answer}\n", e.trim_end()));
    }
    r.write("prompts/pending.md", &format!("{head}\n"));
    r.write("prompts/answered.md", &answered);
    let qs: serde_json::Value = r.brain(&["questions", "--json"]).json();
    let find = |id: &str| {
        qs.as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(find(q.trim())["answer"], "D:\\Obsidian");
    assert_eq!(find(q.trim())["state"], "answered");
    assert_eq!(r.claim("claude-code").0, yes);
    r.brain(&["claim", "--agent", "claude-code"]).fails(3);
    assert_eq!(
        r.where_is(&no),
        [format!("failed/{no}.md")],
        "the hand-written no denied it"
    );
}

#[test]
fn doctor_fix_asks_for_approval_of_a_hand_written_gated_task() {
    let r = Repo::new();
    r.hand_task(
        "pending",
        "task-2026-01-31-050.md",
        "id: task-2026-01-31-050\nstatus: pending\napproval: required\n",
    );
    let out = r.brain(&["doctor"]);
    assert_eq!(out.code(), 5, "{}", out.stdout());
    assert!(
        out.stdout().contains("no approval request"),
        "{}",
        out.stdout()
    );
    r.brain(&["doctor", "--fix"]).ok();
    let open: serde_json::Value = r.brain(&["questions", "--open", "--json"]).json();
    assert_eq!(open[0]["task"], "task-2026-01-31-050");
    r.brain(&["doctor"]).ok();
}

#[test]
fn ask_and_answer() {
    let r = Repo::new();
    let q1 = r.brain(&["ask", "First?"]).ok().trim().to_string();
    let q2 = r
        .brain(&["ask", "Second?", "--agent", "claude-code"])
        .ok()
        .trim()
        .to_string();
    assert_eq!(q1, "q-2026-01-31-001");
    assert_eq!(q2, "q-2026-01-31-002");
    r.brain(&["answer", &q1, "Because."]).ok();
    let err = r.brain(&["answer", &q1, "again"]).fails(1);
    assert!(err.contains("already answered"), "{err}");
    r.brain(&["answer", "q-1999-01-01-001", "x"]).fails(1);
    let open: Vec<serde_json::Value> = r.brain(&["questions", "--open", "--json"]).json();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["id"], q2.as_str());
    assert_eq!(open[0]["from"], "claude-code");
    let pending = r.read("prompts/pending.md");
    assert!(
        pending.starts_with("# Pending questions")
            && !pending.contains("First?")
            && pending.contains("Second?"),
        "{pending}"
    );
    assert!(r.read("prompts/answered.md").contains(
        "First?\n\n- asked: 2026-01-31T02:30:00Z\n- answered: 2026-01-31T02:30:00Z\n\nBecause.\n"
    ));
    r.brain(&["ask", "x", "--task", "task-1999-01-01-001"])
        .fails(1);
}

#[test]
fn handoffs_replace_only_their_section() {
    let r = Repo::new();
    let id = r.add(&["Run overnight vault analysis"]);
    let by_hand =
        "## For Claude Desktop\n\n### Task\nReview the plan\n\n### Notes\n- written by a person\n";
    let text = format!("{}\n{by_hand}", r.read("context/handoff.md"));
    r.write("context/handoff.md", &text);
    r.brain(&[
        "handoff",
        "--to",
        "claude-code",
        "--agent",
        "claude-desktop",
        "--task",
        &id,
        "--file",
        "tasks/pending/x.md",
        "--note",
        "Use AIM memory MCP",
        "--note",
        "Commit frequently",
    ])
    .ok();
    r.brain(&[
        "handoff",
        "--to",
        "claude-code",
        "--agent",
        "claude-desktop",
        "--note",
        "replaced",
        "--blocking",
        "waiting on the vault path",
    ])
    .ok();
    let after = r.read("context/handoff.md");
    assert!(
        after.starts_with(&text),
        "the existing text changed:\n{after}"
    );
    assert_eq!(after.matches("\n## For Claude Code\n").count(), 1);
    assert!(
        !after.contains("Use AIM") && after.contains("- replaced\n"),
        "{after}"
    );
    let all: serde_json::Value = r.brain(&["handoff", "show", "--json"]).json();
    assert_eq!(all[0]["agent"], "claude-desktop");
    assert_eq!(all[0]["notes"][0], "written by a person");
    assert_eq!(all[1]["agent"], "claude-code");
    assert_eq!(all[1]["blocking"][0], "waiting on the vault path");
    assert_eq!(all[1]["from"], "claude-desktop");
    let mine: Vec<serde_json::Value> = r
        .brain(&["handoff", "show", "--for", "claude-code", "--json"])
        .json();
    assert_eq!(mine.len(), 1);
    r.brain(&["handoff", "--to", "../x"]).fails(1);
    r.brain(&["handoff", "--note", "x"]).fails(2);
}
