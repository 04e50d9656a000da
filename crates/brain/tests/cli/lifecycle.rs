use serde::Deserialize;

use crate::support::{NOW, Repo};

/// The shape of `claim --json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Claimed {
    id: String,
    token: String,
    epoch: u64,
    attempt: u32,
    agent: String,
    path: String,
    title: String,
}

#[test]
fn claim_takes_the_first_by_priority_preference_created_and_id() {
    let r = Repo::new();
    let low = r.add(&["low", "-p", "low"]);
    let med_other = r.add(&["medium for desktop", "--prefer", "claude-desktop"]);
    let med_mine = r.add(&["medium for code", "--prefer", "claude-code"]);
    let high_late = r
        .at("2026-01-31T03:00:00Z", &["add", "high later", "-p", "high"])
        .ok()
        .trim()
        .to_string();
    let high_early = r
        .at(
            "2026-01-31T01:00:00Z",
            &["add", "high earlier", "-p", "high"],
        )
        .ok()
        .trim()
        .to_string();
    let order: Vec<String> = (0..5).map(|_| r.claim("claude-code").0).collect();
    assert_eq!(order, [high_early, high_late, med_mine, med_other, low]);
    let err = r.brain(&["claim", "--agent", "claude-code"]).fails(3);
    assert!(err.contains("nothing to claim"), "{err}");
}

#[test]
fn claim_output_and_the_file_it_writes() {
    let r = Repo::new();
    let id = r.add(&["work", "--timeout", "30m"]);
    let c: Claimed = r
        .brain(&["claim", "--agent", "claude-code", "--json"])
        .json();
    assert_eq!((c.id.as_str(), c.epoch, c.attempt), (id.as_str(), 1, 1));
    assert_eq!(c.token, format!("{id}@1"));
    assert!(
        c.path
            .ends_with(&format!("tasks/active/{id}.claude-code.md"))
    );
    let text = r.read(&format!("tasks/active/{id}.claude-code.md"));
    for l in [
        "status: active\n",
        "claimed_by: claude-code\n",
        &format!("claimed_at: {NOW}\n"),
        &format!("heartbeat_at: {NOW}\n"),
        "epoch: 1\n",
        "attempt: 1\n",
    ] {
        assert!(text.contains(l), "{l:?} missing:\n{text}");
    }
    assert_eq!(
        r.read("context/active-agent.md")
            .split_once("-->\n")
            .unwrap()
            .1,
        format!(
            "---\nagent: claude-code\nstarted: {NOW}\ntask: {id}\nexpected_completion: 2026-01-31T03:00:00Z\n---\n"
        )
    );
    let line = r.brain(&["add", "second"]).ok();
    let out = r.brain(&["claim", "--agent", "claude-code"]).ok();
    let parts: Vec<&str> = out.trim().splitn(3, ' ').collect();
    assert_eq!(parts[0], line.trim());
    assert_eq!(parts[1], format!("{}@1", line.trim()));
    assert!(parts[2].ends_with(".claude-code.md"));
}

#[test]
fn eligibility_capabilities_dependencies_not_before() {
    let r = Repo::new();
    let needs_gpu = r.add(&["gpu", "--requires", "gpu", "-p", "critical"]);
    let first = r.add(&["first"]);
    let after = r.add(&["after first", "--depends-on", &first, "-p", "high"]);
    let later = r.add(&[
        "later",
        "--not-before",
        "2026-02-01T00:00:00Z",
        "-p",
        "critical",
    ]);
    // brain.toml gives claude-code code_execution and file_access, not gpu.
    let err = r
        .brain(&["claim", "--agent", "claude-code", &needs_gpu])
        .fails(3);
    assert!(err.contains("lacks gpu"), "{err}");
    let err = r
        .brain(&["claim", "--agent", "claude-code", &after])
        .fails(3);
    assert!(err.contains(&format!("depends on {first}")), "{err}");
    let err = r
        .brain(&["claim", "--agent", "claude-code", &later])
        .fails(3);
    assert!(err.contains("not before 2026-02-01T00:00:00Z"), "{err}");
    let (id, tok) = r.claim("claude-code");
    assert_eq!(id, first);
    r.brain(&["done", &id, "--token", &tok, "--result", "ok"])
        .ok();
    assert_eq!(
        r.claim("claude-code").0,
        after,
        "the dependency is completed now"
    );
    r.brain(&["claim", "--agent", "no-caps"]).fails(3);
    let c: Claimed = r
        .brain(&[
            "claim",
            "--agent",
            "claude-code",
            "--capabilities",
            "gpu",
            "--json",
        ])
        .json();
    assert_eq!(c.id, needs_gpu);
    assert_eq!(
        r.at(
            "2026-02-02T00:00:00Z",
            &["claim", "--agent", "claude-code", "--json"]
        )
        .json::<Claimed>()
        .id,
        later
    );
}

#[test]
fn done_fail_release_write_their_sections_and_move() {
    let r = Repo::new();
    let a = r.add(&["a"]);
    let b = r.add(&["b"]);
    let c = r.add(&["c"]);
    let (_, ta) = r.claim("claude-code");
    let (_, tb) = r.claim("claude-code");
    let (_, tc) = r.claim("claude-code");
    r.brain_stdin(
        &["done", &a, "--token", &ta, "--result-file", "-"],
        "The report is in knowledge/x.md\n",
    )
    .ok();
    let text = r.read(&format!("tasks/completed/{a}.md"));
    assert!(
        text.contains("status: completed\n") && text.contains(&format!("completed_at: {NOW}\n")),
        "{text}"
    );
    assert!(text.ends_with(&format!("\n## Result\n\n- agent: claude-code\n- finished: {NOW}\n- attempt: 1\n\nThe report is in knowledge/x.md\n")), "{text}");
    r.brain(&[
        "fail",
        &b,
        "--token",
        &tb,
        "--error",
        "no network",
        "--retry",
    ])
    .ok();
    let text = r.read(&format!("tasks/pending/{b}.md"));
    assert!(
        text.contains("## Failure\n\n- agent: claude-code\n")
            && text.contains("- attempt: 1 of 3\n- next: back to pending\n\nno network\n"),
        "{text}"
    );
    assert!(
        !text.contains("claimed_by")
            && text.contains("status: pending\n")
            && text.contains("attempt: 1\n"),
        "{text}"
    );
    r.brain(&["release", &c, "--token", &tc]).ok();
    let text = r.read(&format!("tasks/pending/{c}.md"));
    assert!(
        text.contains("attempt: 0\n") && text.contains("## Released"),
        "{text}"
    );
    assert_eq!(
        r.read("context/active-agent.md").matches("---\n").count(),
        0
    );
    // Without --retry, or with no attempts left, a failure is final.
    let (id, tok) = r.claim("claude-code");
    r.brain(&["fail", &id, "--token", &tok, "--error", "broken"])
        .ok();
    assert_eq!(r.where_is(&id), [format!("failed/{id}.md")]);
    assert!(
        r.read(&format!("tasks/failed/{id}.md"))
            .contains("- next: failed for good")
    );
}

#[test]
fn retries_stop_at_max_attempts() {
    let r = Repo::new();
    let id = r.add(&["flaky"]);
    for attempt in 1..=3 {
        let (got, tok) = r.claim("claude-code");
        assert_eq!(got, id);
        r.brain(&[
            "fail",
            &id,
            "--token",
            &tok,
            "--error",
            &format!("try {attempt}"),
            "--retry",
        ])
        .ok();
    }
    assert_eq!(r.where_is(&id), [format!("failed/{id}.md")]);
    let text = r.read(&format!("tasks/failed/{id}.md"));
    assert!(
        text.contains("- attempt: 3 of 3\n- next: failed for good"),
        "{text}"
    );
    assert!(text.contains("epoch: 3\n"));
}

#[test]
fn tokens_and_agents_are_checked() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    let (_, tok) = r.claim("claude-code");
    let err = r
        .brain(&["heartbeat", "--agent", "claude-desktop", &id])
        .fails(4);
    assert!(
        err.contains("claimed by claude-code, not claude-desktop"),
        "{err}"
    );
    let err = r
        .brain(&["done", &id, "--token", &format!("{id}@7"), "--result", "r"])
        .fails(4);
    assert!(
        err.contains(&format!("the token {id}@7 is not one brain gave"))
            && err.contains(&format!("current claim is {id}@1")),
        "{err}"
    );
    let err = r.brain(&["done", &id, "--result", "r"]).fails(1);
    assert!(err.contains("--agent"), "{err}");
    let err = r
        .brain(&["done", &id, "--token", "garbage", "--result", "r"])
        .fails(1);
    assert!(err.contains("not a claim token"), "{err}");
    r.at("2026-01-31T02:40:00Z", &["heartbeat", "--token", &tok])
        .ok();
    assert!(
        r.read(&format!("tasks/active/{id}.claude-code.md"))
            .contains("heartbeat_at: 2026-01-31T02:40:00Z\n")
    );
    assert_eq!(r.where_is(&id), [format!("active/{id}.claude-code.md")]);
    // Once it is finished, a wrong token hears what the task is now and what it had.
    r.brain(&["done", &id, "--token", &tok, "--result", "r"])
        .ok();
    let err = r
        .brain(&["fail", &id, "--token", &format!("{id}@7"), "--error", "e"])
        .fails(4);
    assert!(
        err.contains(&format!("the token {id}@7 is not one brain gave"))
            && err.contains(&format!("task {id} is at epoch 1"))
            && err.contains("tasks/completed/"),
        "{err}"
    );
}

/// A claim goes stale, is reclaimed and claimed by B; A's late `done` is refused, its result is
/// kept where `brain show` points, and B's claim is untouched.
#[test]
fn zombie_agent_is_refused_and_its_result_kept() {
    let r = Repo::new();
    let id = r.add(&["long job"]);
    let (_, token_a) = r.claim("agent-a");
    let dry = r.at("2026-01-31T05:00:00Z", &["reclaim", "--dry-run"]).ok();
    assert!(dry.contains("would move to tasks/pending/"), "{dry}");
    assert_eq!(r.where_is(&id), [format!("active/{id}.agent-a.md")]);
    let out = r.at("2026-01-31T05:00:00Z", &["reclaim"]).ok();
    assert!(
        out.contains(
            "no heartbeat from agent-a since 2026-01-31T02:30:00Z (2h30m ago; stale_after is 2h)"
        ),
        "{out}"
    );
    let pending = r.read(&format!("tasks/pending/{id}.md"));
    assert!(
        pending.contains("## Reclaimed") && pending.contains("- next: back to pending"),
        "{pending}"
    );
    let b: Claimed = r
        .at(
            "2026-01-31T05:01:00Z",
            &["claim", "--agent", "agent-b", "--json"],
        )
        .json();
    assert_eq!((b.id.as_str(), b.epoch, b.attempt), (id.as_str(), 2, 2));
    let before = r.read(&format!("tasks/active/{id}.agent-b.md"));

    let late = r.at(
        "2026-01-31T05:02:00Z",
        &[
            "done",
            &id,
            "--token",
            &token_a,
            "--agent",
            "agent-a",
            "--result",
            "A's late result",
        ],
    );
    let err = late.fails(4);
    assert!(
        err.contains("no longer current") && err.contains("tasks/late/"),
        "{err}"
    );
    assert_eq!(
        r.read(&format!("tasks/active/{id}.agent-b.md")),
        before,
        "B's claim was touched"
    );
    let shown: serde_json::Value = r.brain(&["show", &id, "--json"]).json();
    let kept = shown["late"][0].as_str().unwrap();
    let kept_text = std::fs::read_to_string(kept).unwrap();
    assert!(
        kept_text.contains("A's late result")
            && kept_text.contains("agent: agent-a")
            && kept_text.contains("epoch: 1"),
        "{kept_text}"
    );
    assert!(r.brain(&["show", &id]).ok().contains("late:"));
    // A's heartbeat and fail are refused too, and B finishes normally.
    r.at("2026-01-31T05:03:00Z", &["heartbeat", "--token", &token_a])
        .fails(4);
    r.at(
        "2026-01-31T05:03:00Z",
        &["fail", &id, "--token", &token_a, "--error", "A gives up"],
    )
    .fails(4);
    r.brain(&["done", &id, "--token", &b.token, "--result", "B's result"])
        .ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    assert_eq!(late_count(&r, &id), 2);
}

fn late_count(r: &Repo, id: &str) -> usize {
    std::fs::read_dir(r.path("tasks/late"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_str()
                .unwrap()
                .starts_with(id)
        })
        .count()
}

#[test]
fn stale_claim_with_no_attempts_left_fails_for_good() {
    let r = Repo::new();
    r.write(
        "brain.toml",
        "[queue]\nstale_after = \"10m\"\nmax_attempts = 1\n",
    );
    let id = r.add(&["once"]);
    r.claim("a");
    // claim reclaims first: the stale claim goes to failed/, and nothing is left to claim.
    let err = r
        .at("2026-01-31T03:00:00Z", &["claim", "--agent", "b"])
        .fails(3);
    assert!(
        err.contains(&format!("reclaimed {id} to tasks/failed/")),
        "{err}"
    );
    let text = r.read(&format!("tasks/failed/{id}.md"));
    assert!(
        text.contains("- attempt: 1 of 1\n- next: failed for good")
            && text.contains("failed_at: 2026-01-31T03:00:00Z"),
        "{text}"
    );
}

/// A file moved into active/ by hand (the seed's protocol) is that agent's claim.
#[test]
fn hand_moves_are_claims() {
    let r = Repo::new();
    let id = r.add(&["by hand"]);
    std::fs::rename(
        r.path(&format!("tasks/pending/{id}.md")),
        r.path(&format!("tasks/active/{id}.claude-desktop.md")),
    )
    .unwrap();
    // Nobody else can claim it, and the status shows who has it.
    r.brain(&["claim", "--agent", "claude-code"]).fails(3);
    let v: serde_json::Value = r.brain(&["status", "--json"]).json();
    assert_eq!(v["claims"][0]["agent"], "claude-desktop");
    let text = r.read(&format!("tasks/active/{id}.claude-desktop.md"));
    assert!(
        text.contains("claimed_by: claude-desktop\n")
            && text.contains("epoch: 1\n")
            && text.contains("status: active\n"),
        "brain filled in the claim:\n{text}"
    );
    assert!(
        r.read("context/active-agent.md")
            .contains("agent: claude-desktop\n")
    );
    r.brain(&["done", &id, "--agent", "claude-code", "--result", "x"])
        .fails(4);
    r.brain(&[
        "done",
        &id,
        "--agent",
        "claude-desktop",
        "--result",
        "done by hand",
    ])
    .ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    // A hand-made completion (moved to completed/ by a person) just counts.
    let id2 = r.add(&["also by hand"]);
    std::fs::rename(
        r.path(&format!("tasks/pending/{id2}.md")),
        r.path(&format!("tasks/completed/{id2}.md")),
    )
    .unwrap();
    let out = r.brain(&["doctor", "--fix"]).ok();
    assert!(
        out.contains("fixed") && out.contains("`status` is `pending`"),
        "{out}"
    );
}

/// Regression: a file moved into active/ without an agent in its name was taken in as a hand
/// claim again by every later transition, its epoch climbing each time.
#[test]
fn an_unnamed_hand_claim_is_taken_in_once() {
    let r = Repo::new();
    let id = r.add(&["by hand, no name"]);
    let other = r.add(&["other"]);
    std::fs::rename(
        r.path(&format!("tasks/pending/{id}.md")),
        r.path(&format!("tasks/active/{id}.md")),
    )
    .unwrap();
    for _ in 0..3 {
        r.brain(&["ask", "anything?"]).ok();
    }
    let text = r.read(&format!("tasks/active/{id}.md"));
    assert!(
        text.contains("epoch: 1\n") && text.contains("status: active\n"),
        "{text}"
    );
    r.brain(&["doctor"]).ok();
    // It can still go stale and come back.
    r.at("2026-01-31T06:00:00Z", &["reclaim"]).ok();
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    assert_eq!(r.where_is(&other), [format!("pending/{other}.md")]);
}
