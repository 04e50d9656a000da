//! `brain run` meets what Claude Code really prints (`shared/notes/claude-limits-and-usage.md`):
//! usage limits in each of their forms, an agent that cannot work, denied tools, caps, and the
//! prompt an answered question must reach. The agent is `tests/agents/says.sh`, a real process
//! that prints exactly the text a test gives it, call by call.

use std::path::{Path, PathBuf};

use crate::run::{agent_script, overnight_log};
use crate::support::Repo;

/// A repo whose agent `claude` is `says.sh`, with `extra` TOML for its table, and the folder
/// the agent takes its lines from.
pub(crate) struct Says {
    pub(crate) r: Repo,
    pub(crate) dir: PathBuf,
}

impl Says {
    pub(crate) fn new(args: &[&str], extra: &str) -> Says {
        let r = Repo::without_commits();
        let dir = r.path(".says");
        std::fs::create_dir_all(&dir).unwrap();
        // Started as `claude`, as the real one would be (brain names it in its messages).
        let claude = dir.join("claude");
        #[cfg(unix)]
        std::os::unix::fs::symlink(agent_script("says.sh"), &claude).unwrap();
        let mut command = vec![claude.display().to_string(), "{prompt_file}".to_string()];
        command.extend(args.iter().map(|s| s.to_string()));
        let mut config = r.read("brain.toml");
        config.push_str(&format!(
            "\n[agents.claude]\ncapabilities = [\"code_execution\", \"file_access\"]\ncommand = {command:?}\n{extra}"
        ));
        r.write("brain.toml", &config);
        Says { r, dir }
    }

    /// Call `n` (or every call, with `n = 0`) prints `out` and exits with `code`.
    pub(crate) fn say(&self, n: usize, out: &str, code: i32) {
        let stem = if n == 0 {
            "default".to_string()
        } else {
            n.to_string()
        };
        std::fs::write(self.dir.join(format!("{stem}.out")), out).unwrap();
        std::fs::write(self.dir.join(format!("{stem}.exit")), code.to_string()).unwrap();
    }

    pub(crate) fn calls(&self) -> usize {
        std::fs::read_to_string(self.dir.join("calls")).map_or(0, |s| s.trim().parse().unwrap())
    }

    pub(crate) fn args(&self, n: usize) -> Vec<String> {
        read(&self.dir.join(format!("{n}.args")))
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub(crate) fn prompt(&self, n: usize) -> String {
        read(&self.dir.join(format!("{n}.prompt")))
    }

    /// `brain run --agent claude ARGS` at `now`, in the UTC time zone.
    pub(crate) fn run_at(&self, now: &str, args: &[&str]) -> crate::support::Run {
        let mut a = vec!["run", "--agent", "claude"];
        a.extend_from_slice(args);
        let says = self.dir.display().to_string();
        self.r.brain_env(
            &[("SAYS", says.as_str()), ("BRAIN_NOW", now), ("TZ", "UTC")],
            &a,
        )
    }

    pub(crate) fn run(&self, args: &[&str]) -> crate::support::Run {
        self.run_at(crate::support::NOW, args)
    }

    pub(crate) fn task(&self, id: &str) -> String {
        let at = self.r.where_is(id);
        assert_eq!(at.len(), 1, "{id}: {at:?}");
        self.r.read(&format!("tasks/{}", at[0]))
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A Claude Code JSON result, as `claude -p --output-format json` prints it.
pub(crate) fn result(subtype: &str, is_error: bool, text: &str, more: &str) -> String {
    format!(
        r#"{{"type":"result","subtype":"{subtype}","is_error":{is_error},"duration_ms":812,"duration_api_ms":0,"num_turns":1,"result":{},"stop_reason":null,"session_id":"5f0c2a8e-1b7d-4c55-9a61-0d3e4f5a6b7c","total_cost_usd":0,"usage":{{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}},"permission_denials":[]{more}}}"#,
        serde_json::Value::String(text.into())
    ) + "\n"
}

/// The machine's usage file.
fn machine_usage(r: &Repo) -> String {
    r.read("context/usage/test-machine.md")
}

/// NOW is 2026-01-31T02:30:00Z, a Saturday.
#[test]
fn each_form_of_the_usage_limit_sends_the_task_back_without_spending_an_attempt() {
    let forms: &[(&str, &str, &str)] = &[
        (
            "You've hit your session limit · resets 4:20am (Europe/Warsaw)\n",
            "session",
            // 04:20 in Warsaw is 03:20 UTC in winter.
            "2026-01-31T03:20:00Z",
        ),
        (
            "You've hit your weekly limit · resets Mon 12:00am\n",
            "weekly",
            "2026-02-02T00:00:00Z",
        ),
        (
            "You've hit your Opus limit · resets 3:45pm\n",
            "Opus",
            "2026-01-31T15:45:00Z",
        ),
        (
            "5-hour limit reached ∙ resets 3am\n",
            "5-hour",
            "2026-01-31T03:00:00Z",
        ),
        (
            "You've hit your limit · resets Feb 3 at 4pm (America/Recife)\n",
            "usage",
            "2026-02-03T19:00:00Z",
        ),
        (
            "Claude AI usage limit reached|1769835600\n",
            "usage",
            "2026-01-31T05:00:00Z",
        ),
    ];
    for (said, kind, until) in forms {
        let s = Says::new(&[], "");
        let first = s.r.add(&["first", "--priority", "high"]);
        let second = s.r.add(&["second"]);
        s.say(0, said, 1);
        let err = s.run(&[]).fails(7);
        assert!(
            err.contains(&format!("no new session before {until}")),
            "{said}: {err}"
        );
        assert!(
            err.contains("1 task went back to pending without spending an attempt"),
            "{err}"
        );
        assert_eq!(s.calls(), 1, "{said}: no further task is started");
        let text = s.task(&first);
        assert!(text.contains("attempt: 0"), "{said}: {text}");
        assert!(text.contains("- reason: usage limit: "), "{said}: {text}");
        assert!(text.contains(said.trim()), "{said}: {text}");
        assert_eq!(s.r.where_is(&first), [format!("pending/{first}.md")]);
        assert!(!s.task(&second).contains("## Released"), "never claimed");
        // Recorded where status, the hooks and the board read it.
        let usage = machine_usage(&s.r);
        assert!(
            usage.contains(&format!("    until: {until}\n")),
            "{said}: {usage}"
        );
        assert!(
            usage.contains(&format!("    kind: \"{kind}\"\n")),
            "{said}: {usage}"
        );
        assert!(
            s.r.read("context/usage.md")
                .contains("warning: \"claude hit the")
        );
        assert!(overnight_log(&s.r).contains("usage limit: claude hit the"));
    }
}

#[test]
fn a_json_429_result_and_a_rejected_rate_limit_event_are_usage_limits() {
    let s = Says::new(&[], "");
    let id = s.r.add(&["one"]);
    s.say(
        0,
        &result(
            "success",
            true,
            "API Error: Request rejected (429) · Rate limited",
            r#","api_error_status":429,"terminal_reason":"api_error""#,
        ),
        1,
    );
    let err = s.run(&[]).fails(7);
    assert!(err.contains("the rate (HTTP 429) limit"), "{err}");
    // No reset time given: brain waits an hour.
    assert!(
        err.contains("no new session before 2026-01-31T03:30:00Z"),
        "{err}"
    );
    assert!(s.task(&id).contains("attempt: 0"));

    let s = Says::new(&[], "");
    let id = s.r.add(&["one"]);
    let stream = concat!(
        r#"{"type":"system","subtype":"init","session_id":"5f0c2a8e"}"#,
        "\n",
        r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1769839200,"rateLimitType":"five_hour"},"session_id":"5f0c2a8e"}"#,
        "\n",
    )
    .to_string()
        + &result("success", true, "Claude usage limit", "");
    s.say(0, &stream, 1);
    let err = s.run(&[]).fails(7);
    assert!(
        err.contains("the 5-hour limit (resets 2026-01-31T06:00:00Z)"),
        "{err}"
    );
    assert!(s.task(&id).contains("attempt: 0"));
}

#[test]
fn the_context_limit_and_a_throttle_are_not_usage_limits() {
    for said in [
        "You've hit your context limit\n",
        "API Error: Server is temporarily limiting requests (not your usage limit) · Rate limited\n",
    ] {
        let s = Says::new(&[], "");
        let id = s.r.add(&["one"]);
        s.say(0, said, 1);
        s.run(&[]).ok();
        let text = s.task(&id);
        assert!(
            text.contains("## Failure") && text.contains("attempt: 1"),
            "{said}: {text}"
        );
        assert!(!machine_usage(&s.r).contains("limit:"), "{said}");
    }
}

#[test]
fn a_later_run_before_the_reset_starts_nothing_and_says_until_when() {
    let s = Says::new(&[], "");
    let id = s.r.add(&["one"]);
    s.say(0, "You've hit your session limit · resets 4am\n", 1);
    s.run(&[]).fails(7);
    // `brain status` says it, and `--json` gives it to the hooks and the board.
    let status = s.r.brain(&["status"]).ok();
    assert!(
        status.contains("usage limit: claude on test-machine hit its session limit; no new session before 2026-01-31T04:00:00Z"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&s.r.brain(&["status", "--json"]).ok()).unwrap();
    assert_eq!(json["limits"][0]["until"], "2026-01-31T04:00:00Z");
    let err = s.run_at("2026-01-31T03:00:00Z", &[]).fails(7);
    assert!(
        err.contains("no new session before 2026-01-31T04:00:00Z (in 1h)"),
        "{err}"
    );
    assert!(err.contains("nothing was started"), "{err}");
    assert_eq!(s.calls(), 1);
    // After the reset the task runs.
    s.say(0, &result("success", false, "done it", ""), 0);
    s.run_at("2026-01-31T04:00:00Z", &[]).ok();
    assert_eq!(s.r.where_is(&id), [format!("completed/{id}.md")]);
}

#[test]
fn wait_sleeps_until_the_reset_and_carries_on() {
    let s = Says::new(&[], "");
    let first = s.r.add(&["first", "--priority", "high"]);
    let second = s.r.add(&["second"]);
    // The pinned clock is NOW; the limit resets 2 seconds later.
    s.say(1, "Claude AI usage limit reached|1769826602\n", 1);
    s.say(0, &result("success", false, "done it", ""), 0);
    let t = std::time::Instant::now();
    let out = s.run(&["--wait"]);
    out.ok();
    let err = out.stderr();
    assert!(t.elapsed() >= std::time::Duration::from_secs(2), "{err}");
    assert!(err.contains("waiting until 2026-01-31T02:30:02Z"), "{err}");
    assert!(err.contains("has reset; carrying on"), "{err}");
    assert_eq!(s.r.where_is(&first), [format!("completed/{first}.md")]);
    assert_eq!(s.r.where_is(&second), [format!("completed/{second}.md")]);
    // The first task was tried again after the reset, as its first attempt.
    assert_eq!(s.calls(), 3);
    assert!(s.task(&first).contains("attempt: 1"));
}

#[test]
fn wait_does_not_wait_past_until() {
    let s = Says::new(&[], "");
    let id = s.r.add(&["one"]);
    s.say(0, "You've hit your weekly limit · resets Mon 12:00am\n", 1);
    // NOW is 02:30 UTC (TZ=UTC): 06:00 comes long before Monday.
    let err = s.run(&["--wait", "--until", "06:00"]).fails(7);
    assert!(
        err.contains("after --until 2026-01-31T06:00:00Z: not waiting"),
        "{err}"
    );
    assert!(s.task(&id).contains("attempt: 0"));
    let err =
        s.r.brain(&["run", "--agent", "claude", "--until", "6am"])
            .fails(2);
    assert!(err.contains("HH:MM"), "{err}");
}

#[test]
fn resume_continues_the_session_the_limit_cut_short() {
    let s = Says::new(&[], "resume = true\n");
    let id = s.r.add(&["one"]);
    s.say(
        1,
        &result(
            "success",
            true,
            "You've hit your session limit · resets 3am",
            "",
        ),
        1,
    );
    s.say(0, &result("success", false, "finished", ""), 0);
    s.run(&[]).fails(7);
    assert!(
        s.task(&id)
            .contains("- session_id: 5f0c2a8e-1b7d-4c55-9a61-0d3e4f5a6b7c")
    );
    s.run_at("2026-01-31T03:00:00Z", &[]).ok();
    let args = s.args(2);
    assert_eq!(
        args,
        ["--resume", "5f0c2a8e-1b7d-4c55-9a61-0d3e4f5a6b7c"],
        "{args:?}"
    );
    assert_eq!(s.r.where_is(&id), [format!("completed/{id}.md")]);
    // Without the setting, nothing is resumed.
    let s = Says::new(&[], "");
    s.r.add(&["one"]);
    s.say(1, "You've hit your session limit · resets 3am\n", 1);
    s.run(&[]).fails(7);
    s.run_at("2026-01-31T03:00:00Z", &[]).ok();
    assert!(s.args(2).is_empty());
}

#[test]
fn a_broken_agent_leaves_every_task_pending_and_stops_the_run_with_the_fix() {
    let cases: &[(&str, &str)] = &[
        (
            &result(
                "success",
                true,
                "Not logged in · Please run /login",
                r#","terminal_reason":"api_error""#,
            ),
            "claude is not logged in: run `claude` once and log in",
        ),
        (
            &result(
                "success",
                true,
                "Invalid API key · Fix external API key",
                r#","api_error_status":401,"terminal_reason":"api_error""#,
            ),
            "API key was refused",
        ),
        (
            "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)\n",
            "cannot reach its API",
        ),
    ];
    for (said, fix) in cases {
        let s = Says::new(&[], "");
        let ids: Vec<String> = (0..3).map(|i| s.r.add(&[&format!("task {i}")])).collect();
        let before: Vec<String> = ids.iter().map(|id| s.task(id)).collect();
        s.say(0, said, 1);
        let err = s.run(&[]).fails(8);
        assert!(err.contains(fix), "{err}");
        assert!(
            err.contains("went back to pending without spending an attempt"),
            "{err}"
        );
        assert_eq!(s.calls(), 1, "the run stops after the first");
        for (id, was) in ids.iter().zip(&before) {
            assert_eq!(s.r.where_is(id), [format!("pending/{id}.md")]);
            let now = s.task(id);
            // Untouched, or released with the reason and no attempt spent.
            if now != *was {
                assert!(now.contains("attempt: 0"), "{now}");
                assert!(now.contains("- reason: the agent cannot work: "), "{now}");
            }
        }
        assert!(
            overnight_log(&s.r).contains(fix),
            "the reason is in the day's log"
        );
    }
}

#[test]
fn a_session_with_denied_tools_fails_with_them_unless_accepted() {
    let denied = result(
        "success",
        false,
        "I could not write the file or ask my question.",
        r#","permission_denials":[{"tool_name":"Write","tool_use_id":"toolu_01","tool_input":{"file_path":"/repo/notes/out.md","content":"x"}},{"tool_name":"Bash","tool_use_id":"toolu_02","tool_input":{"command":"brain ask \"which folder?\""}}]"#,
    );
    let s = Says::new(&[], "");
    let id = s.r.add(&["write notes"]);
    s.say(0, &denied, 0);
    s.run(&[]).ok();
    let text = s.task(&id);
    assert!(text.contains("## Failure"), "{text}");
    assert!(
        text.contains("the agent was denied 2 tool uses: Write(/repo/notes/out.md), Bash(brain ask \"which folder?\")"),
        "{text}"
    );
    assert!(text.contains("accept_denials = true"), "{text}");

    let s = Says::new(&[], "accept_denials = true\n");
    let id = s.r.add(&["write notes"]);
    s.say(0, &denied, 0);
    s.run(&[]).ok();
    assert_eq!(s.r.where_is(&id), [format!("completed/{id}.md")]);
    assert!(
        s.task(&id)
            .contains("- denied: Write(/repo/notes/out.md), Bash(")
    );
}

#[test]
fn caps_reach_the_agent_through_placeholders_and_a_capped_session_fails() {
    let s = Says::new(
        &[
            "--max-turns",
            "{max_turns}",
            "--max-budget-usd",
            "{max_budget_usd}",
            "--verbose",
        ],
        "max_budget_usd = 2.5\n",
    );
    let capped = s.r.add(&[
        "capped",
        "--priority",
        "high",
        "--max-turns",
        "3",
        "--max-budget-usd",
        "0.50",
    ]);
    let plain = s.r.add(&["plain"]);
    assert!(
        s.task(&capped)
            .contains("max_turns: 3\nmax_budget_usd: 0.50\n")
    );
    s.say(
        1,
        &result(
            "error_max_turns",
            true,
            "",
            r#","errors":["Reached max turns (3)"]"#,
        ),
        1,
    );
    s.say(0, &result("success", false, "ok", ""), 0);
    s.run(&[]).ok();
    assert_eq!(
        s.args(1),
        ["--max-turns", "3", "--max-budget-usd", "0.5", "--verbose"]
    );
    // No max_turns anywhere: the flag goes with it; the agent's budget fills in.
    assert_eq!(s.args(2), ["--max-budget-usd", "2.5", "--verbose"]);
    let text = s.task(&capped);
    assert!(
        text.contains("attempt: 1") && text.contains("## Failure"),
        "{text}"
    );
    assert!(
        text.contains("the task's turn limit (max_turns = 3"),
        "{text}"
    );
    assert_eq!(s.r.where_is(&plain), [format!("completed/{plain}.md")]);
    // Bad caps are refused with the field named.
    let err =
        s.r.brain(&["add", "x", "--max-budget-usd", "lots"])
            .fails(2);
    assert!(err.contains("not a budget"), "{err}");
}

#[test]
fn the_prompt_carries_the_tasks_questions_and_their_answers() {
    let s = Says::new(&[], "");
    let id = s.r.add(&["pick a folder"]);
    let asked =
        s.r.brain(&[
            "ask",
            "Which folder holds the drafts?",
            "--task",
            &id,
            "--agent",
            "claude",
        ])
        .ok();
    let q = asked.trim().to_string();
    s.r.brain(&["ask", "Keep the old names?", "--task", &id])
        .ok();
    s.r.brain(&["answer", &q, "The one called Drafts, at the top."])
        .ok();
    s.say(0, &result("success", false, "ok", ""), 0);
    s.run(&[]).ok();
    let prompt = s.prompt(1);
    let (qat, aat) = (
        prompt
            .find("Which folder holds the drafts?")
            .expect("the question"),
        prompt
            .find("Answer: The one called Drafts, at the top.")
            .expect("its answer"),
    );
    assert!(qat < aat, "{prompt}");
    assert!(prompt.contains(&q), "{prompt}");
    assert!(
        prompt.contains("Keep the old names?\n\nNot answered yet"),
        "{prompt}"
    );
}

#[test]
fn an_unreadable_usage_file_does_not_keep_a_task_from_finishing() {
    let s = Says::new(&[], "");
    let id = s.r.add(&["one"]);
    std::fs::create_dir_all(s.r.path("context/usage")).unwrap();
    // A merge that left its markers in this machine's file.
    s.r.write(
        "context/usage/test-machine.md",
        "<<<<<<< HEAD\nclaude:\n  day: [\n=======\n>>>>>>> other\n",
    );
    s.say(0, &result("success", false, "done", ""), 0);
    let out = s.run(&[]);
    out.ok();
    assert!(
        out.stderr()
            .contains("this session's usage is not recorded"),
        "{}",
        out.stderr()
    );
    assert_eq!(s.r.where_is(&id), [format!("completed/{id}.md")]);
    // Left as it was, for the person; doctor says so.
    assert!(
        s.r.read("context/usage/test-machine.md")
            .starts_with("<<<<<<< HEAD")
    );
    let doctor: serde_json::Value =
        serde_json::from_str(&s.r.brain(&["doctor", "--json"]).stdout()).unwrap();
    let found = doctor["findings"].as_array().unwrap().iter().any(|f| {
        f["check"] == "usage" && f["message"].as_str().unwrap().contains("test-machine.md")
    });
    assert!(found, "{doctor}");
}
