//! `brain run` with real agents: the scripts under `tests/agents/`, started as real processes.
//! (The `claude` CLI cannot run here; `claude-json.sh` prints its documented result object.)

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::Repo;

pub(crate) fn agent_script(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/agents")
        .join(name);
    p.canonicalize().unwrap().display().to_string()
}

/// A repo with `[agents.NAME]` running `sh tests/agents/SCRIPT ARGS...`, plus `extra` TOML.
pub(crate) fn repo_with_agent(name: &str, script: &str, args: &[&str], extra: &str) -> Repo {
    let r = Repo::without_commits();
    let mut command = vec!["sh".to_string(), agent_script(script)];
    command.extend(args.iter().map(|s| s.to_string()));
    let mut config = r.read("brain.toml");
    config.push_str(&format!(
        "\n[agents.{name}]\ncapabilities = [\"code_execution\", \"file_access\"]\ncommand = {command:?}\n{extra}"
    ));
    r.write("brain.toml", &config);
    r
}

/// Adds `[agents.tester]`, which writes a result and succeeds, to the repo's brain.toml.
fn add_tester(r: &Repo) {
    let mut config = r.read("brain.toml");
    config.push_str(&format!(
        "\n[agents.tester]\ncommand = {:?}\n",
        [
            "sh".to_string(),
            agent_script("writes-result.sh"),
            "{prompt_file}".into()
        ]
    ));
    r.write("brain.toml", &config);
}

pub(crate) fn overnight_log(r: &Repo) -> String {
    r.read(&format!("logs/{}-overnight.log", crate::support::TODAY))
}

/// Whether process `pid` is still running (a zombie, dead but not yet reaped, is not), after
/// giving a signal sent just now a moment to take effect.
fn pid_alive(pid: &str) -> bool {
    let running = || {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) else {
            return false;
        };
        // The state follows the command name in parentheses.
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        !matches!(state, Some(Some('Z' | 'X')))
    };
    let t = Instant::now();
    while running() {
        if t.elapsed() > Duration::from_secs(2) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn run_gives_each_task_to_the_agent_with_its_prompt_and_records_the_result() {
    let r = repo_with_agent("tester", "writes-result.sh", &["{prompt_file}"], "");
    r.write("agents/overnight.md", "OVERNIGHT PROMPT FIRST\n");
    let first = r.add(&["first thing", "--priority", "high"]);
    let second = r.add(&["second thing"]);
    let person = r.add(&["needs a person", "--no-unattended"]);
    r.brain(&["handoff", "--to", "tester", "--note", "HANDOFF NOTE LAST"])
        .ok();
    r.brain(&["run", "--agent", "tester"]).ok();
    for id in [&first, &second] {
        assert_eq!(r.where_is(id), [format!("completed/{id}.md")]);
        let text = r.read(&format!("tasks/completed/{id}.md"));
        let result = &text[text.find("## Result").expect("a result section")..];
        assert!(
            result.contains(&format!("Result for {id} by tester")),
            "{result}"
        );
        // The prompt: the agent's prompt file, then the task file, then its handoff.
        let (p, t, h) = (
            result.find("OVERNIGHT PROMPT FIRST").unwrap(),
            result.find(&format!("id: {id}")).unwrap(),
            result.find("HANDOFF NOTE LAST").unwrap(),
        );
        assert!(p < t && t < h, "{result}");
        assert!(
            result.contains(&format!("- output: logs/runs/{id}@1.log")),
            "{result}"
        );
        // Each attempt's output is kept, and `brain show` names it.
        assert!(
            r.read(&format!("logs/runs/{id}@1.log"))
                .contains("OVERNIGHT PROMPT FIRST")
        );
        let shown = r.brain(&["show", id]).ok();
        assert!(shown.contains(&format!("logs/runs/{id}@1.log")), "{shown}");
    }
    // A task marked `unattended: false` waits for a person.
    assert_eq!(r.where_is(&person), [format!("pending/{person}.md")]);
    let log = overnight_log(&r);
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("Starting overnight run at "), "{log}");
    assert!(
        lines[1].contains(&format!("claimed {first} (attempt 1): first thing")),
        "{log}"
    );
    assert!(lines[2].contains(&format!("{first} finished in ")), "{log}");
    assert!(lines[3].contains(&format!("claimed {second}")), "{log}");
    // The run's summary, then where the morning review is.
    let n = lines.len();
    assert!(lines[n - 2].starts_with("Completed at "), "{log}");
    assert!(lines[n - 2].contains("2 finished, 0 failed"), "{log}");
    assert!(
        lines[n - 1].ends_with("the morning review is in logs/2026-01-31-review.md"),
        "{log}"
    );
    let usage = r.read("context/usage/test-machine.md");
    assert!(
        usage.contains("tester:\n  day: 2026-01-31\n  sessions_today: 2\n"),
        "{usage}"
    );
    // The summary in the seed's shape, summed over the machines.
    let summary = r.read("context/usage.md");
    assert!(
        summary.contains("tester:\n  sessions_today: 2\n"),
        "{summary}"
    );
}

#[test]
fn a_failing_agent_sends_the_task_back_and_its_output_is_kept() {
    let r = repo_with_agent("tester", "fails.sh", &[], "");
    let id = r.add(&["will fail"]);
    r.brain(&["run", "--agent", "tester"]).ok();
    // Back to pending for another attempt, tried once in this run.
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    let text = r.read(&format!("tasks/pending/{id}.md"));
    assert!(text.contains("## Failure"), "{text}");
    assert!(text.contains("the agent ended with exit code 3"), "{text}");
    assert!(text.contains("- attempt: 1 of 3"), "{text}");
    // Both of its streams are in its output file.
    let out = r.read(&format!("logs/runs/{id}@1.log"));
    assert!(
        out.contains("working on") && out.contains("something broke"),
        "{out}"
    );
    assert!(overnight_log(&r).contains("0 finished, 1 failed"));
    // The last attempt sends it to failed/.
    r.brain(&["run", "--agent", "tester"]).ok();
    r.brain(&["run", "--agent", "tester"]).ok();
    assert_eq!(r.where_is(&id), [format!("failed/{id}.md")]);
    assert!(r.path(&format!("logs/runs/{id}@3.log")).exists());
}

#[test]
fn past_its_timeout_the_agents_whole_tree_is_stopped_even_one_that_ignores_sigterm() {
    let r = repo_with_agent("tester", "ignores-term.sh", &["{repo}/agent.pid"], "");
    let config = r.read("brain.toml");
    assert!(config.contains("\n# kill_grace = \"10s\"\n"));
    r.write(
        "brain.toml",
        &config.replace("# kill_grace = \"10s\"", "kill_grace = \"1s\""),
    );
    let id = r.add(&["takes too long", "--timeout", "1s"]);
    let t = Instant::now();
    r.brain(&["run", "--agent", "tester"]).ok();
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    let pid = r.read("agent.pid");
    assert!(!pid_alive(&pid), "the agent {pid} is still running");
    let text = r.read(&format!("tasks/pending/{id}.md"));
    assert!(text.contains("timed out after 1s"), "{text}");
    assert!(overnight_log(&r).contains(&format!("{id} timed out after 1s")));
    assert!(
        r.read(&format!("logs/runs/{id}@1.log"))
            .contains("ignoring SIGTERM")
    );
}

#[test]
fn a_child_the_agent_leaves_behind_does_not_outlive_it() {
    let r = repo_with_agent("tester", "spawns-child.sh", &["{repo}/child.pid"], "");
    let id = r.add(&["leaves a child"]);
    r.brain(&["run", "--agent", "tester"]).ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    let pid = r.read("child.pid");
    assert!(!pid_alive(&pid), "the agent's child {pid} is still running");
}

#[test]
fn claude_codes_json_result_is_recorded_in_the_task_and_in_usage() {
    let r = repo_with_agent("claude", "claude-json.sh", &[], "");
    let id = r.add(&["summarize the vault"]);
    r.brain(&["run", "--agent", "claude"]).ok();
    let text = r.read(&format!("tasks/completed/{id}.md"));
    for line in [
        "- session_id: 0b6c1c52-5a2f-4a3e-9f0e-1d2c3b4a5f60",
        "- num_turns: 4",
        "- total_cost_usd: 0.0421",
        "- usage: input_tokens 1200, output_tokens 450, cache_creation_input_tokens 300, cache_read_input_tokens 9000",
        "Summarized the vault into knowledge/insights/vault.md.",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // The JSON itself is not the result; it is in the output file.
    assert!(!text.contains("\"type\":\"result\""), "{text}");
    let usage = r.read("context/usage.md");
    assert!(usage.contains("estimated_tokens: 10950"), "{usage}");
}

#[test]
fn an_agent_that_finishes_its_own_task_is_left_as_it_left_it() {
    let r = repo_with_agent("tester", "finishes-itself.sh", &[], "");
    let id = r.add(&["self service"]);
    r.brain_env(
        &[("BRAIN", env!("CARGO_BIN_EXE_brain"))],
        &["run", "--agent", "tester"],
    )
    .ok();
    let text = r.read(&format!("tasks/completed/{id}.md"));
    assert!(text.contains("finished by the agent itself"), "{text}");
    assert_eq!(text.matches("## Result").count(), 1, "{text}");
    assert!(overnight_log(&r).contains(&format!(
        "{id} was finished by the agent itself, now in tasks/completed/"
    )));
}

#[test]
fn sigterm_stops_the_agents_releases_their_tasks_and_the_next_run_does_them() {
    let r = repo_with_agent("sleeper", "sleeps.sh", &["{repo}/agent.pid"], "");
    add_tester(&r);
    let id = r.add(&["interrupted"]);
    let child = r
        .cmd()
        .args(["run", "--agent", "sleeper"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !r.path("agent.pid").exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the agent never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !pid_alive(&r.read("agent.pid")),
        "the agent outlived brain run"
    );
    // Released: back in pending, the attempt not counted.
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    assert!(
        r.read(&format!("tasks/pending/{id}.md"))
            .contains("attempt: 0")
    );
    assert!(overnight_log(&r).contains(&format!("{id} interrupted after")));
    r.brain(&["run", "--agent", "tester"]).ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
}

#[test]
fn a_usage_limit_stops_new_sessions_with_a_warning() {
    let r = repo_with_agent(
        "tester",
        "writes-result.sh",
        &["{prompt_file}"],
        "max_sessions_per_day = 1\n",
    );
    let first = r.add(&["one", "--priority", "high"]);
    let second = r.add(&["two"]);
    r.brain(&["run", "--agent", "tester"]).ok();
    assert_eq!(r.where_is(&first), [format!("completed/{first}.md")]);
    assert_eq!(r.where_is(&second), [format!("pending/{second}.md")]);
    let usage = r.read("context/usage/test-machine.md");
    assert!(usage.contains("sessions_today: 1"), "{usage}");
    assert!(
        usage.contains("warning: \"1 sessions today reached max_sessions_per_day = 1"),
        "{usage}"
    );
    // The summary agents read carries it as its warning line.
    let summary = r.read("context/usage.md");
    assert!(
        summary.contains(
            "warning: \"tester on test-machine: 1 sessions today reached max_sessions_per_day = 1"
        ),
        "{summary}"
    );
    assert!(overnight_log(&r).contains("usage limit: "));
}

#[test]
fn parallel_keeps_several_agents_busy_on_distinct_tasks_in_queue_order() {
    let r = repo_with_agent("tester", "writes-result.sh", &["{prompt_file}"], "");
    let high = r.add(&["high", "--priority", "high"]);
    let others: Vec<String> = (0..4).map(|i| r.add(&[&format!("task {i}")])).collect();
    r.brain_env(
        &[("SLEEP", "1")],
        &["run", "--agent", "tester", "--parallel", "3"],
    )
    .ok();
    let log = overnight_log(&r);
    let lines: Vec<&str> = log.lines().skip(1).collect();
    // Three claims before anything finished, the high-priority task first.
    assert!(lines[0].contains(&format!("claimed {high}")), "{log}");
    assert!(
        lines[1].contains(&format!("claimed {}", others[0])),
        "{log}"
    );
    assert!(
        lines[2].contains(&format!("claimed {}", others[1])),
        "{log}"
    );
    assert!(lines[3].contains("finished in"), "{log}");
    for id in others.iter().chain([&high]) {
        assert_eq!(r.where_is(id), [format!("completed/{id}.md")]);
    }
    assert!(log.contains("5 finished"), "{log}");
}

/// Regression: a run with nothing to do still wrote the day's log and a review, and committed
/// them, every night.
#[test]
fn a_run_that_finds_nothing_to_do_writes_and_commits_nothing() {
    let r = Repo::new();
    add_tester(&r);
    r.git(&["add", "brain.toml"]);
    r.commit_as_user("agent");
    // Only a task the agent cannot take: gated.
    r.add(&["gated", "--approval"]);
    let commits = r.log().len();
    let out = r.brain(&["run", "--agent", "tester"]);
    out.ok();
    assert!(out.stderr().contains("0 finished"), "{}", out.stderr());
    assert_eq!(r.log().len(), commits, "{:?}", r.log());
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    assert!(
        !r.path("logs")
            .join(format!("{}-overnight.log", crate::support::TODAY))
            .exists()
    );
    assert!(
        !r.path("logs")
            .join(format!("{}-review.md", crate::support::TODAY))
            .exists()
    );
    // Once it has something to do, the night is logged, from its first line.
    r.add(&["work"]);
    r.brain(&["run", "--agent", "tester"]).ok();
    let log = overnight_log(&r);
    assert!(log.starts_with("Starting overnight run at"), "{log}");
    assert!(log.contains("1 finished"), "{log}");
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

#[test]
fn dry_run_lists_what_would_run_in_order_and_changes_nothing() {
    let r = repo_with_agent(
        "tester",
        "writes-result.sh",
        &["{prompt_file}", "{task_id}"],
        "",
    );
    let low = r.add(&["low", "--priority", "low"]);
    let high = r.add(&["high", "--priority", "high"]);
    r.add(&["attended", "--no-unattended"]);
    let before = r.git(&["status", "--porcelain"]);
    let out = r.brain(&["run", "--agent", "tester", "--dry-run"]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with(&format!("1. {high}")), "{out}");
    assert!(
        lines[1].contains("writes-result.sh") && lines[1].ends_with(&high),
        "{out}"
    );
    assert!(lines[2].starts_with(&format!("2. {low}")), "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(r.git(&["status", "--porcelain"]), before);
    assert_eq!(r.tasks_in("active"), Vec::<String>::new());
    assert!(
        !r.path(&format!("logs/{}-overnight.log", crate::support::TODAY))
            .exists()
    );
}

#[test]
fn an_agent_whose_program_is_missing_is_broken_and_leaves_the_task_unharmed() {
    let r = Repo::without_commits();
    let mut config = r.read("brain.toml");
    config.push_str("\n[agents.ghost]\ncommand = [\"/nonexistent/agent\"]\n");
    r.write("brain.toml", &config);
    let id = r.add(&["never starts"]);
    // A program that is not there is a broken agent: its own exit code, and the fix.
    let err = r.brain(&["run", "--agent", "ghost"]).fails(8);
    assert!(err.contains("`/nonexistent/agent` was not found"), "{err}");
    assert!(
        err.contains("full path") && err.contains("[agents.ghost]"),
        "{err}"
    );
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    assert!(
        r.read(&format!("tasks/pending/{id}.md"))
            .contains("attempt: 0")
    );
    let err = r.brain(&["run", "--agent", "nobody"]).fails(1);
    assert!(err.contains("no [agents.nobody]"), "{err}");
}

/// The README's main job: `brain init DIR --example && brain --repo DIR run`.
fn main_job(path_prefix: Option<&std::path::Path>) -> Repo {
    let r = Repo::empty();
    let path = match path_prefix {
        Some(p) => format!("{}:{}", p.display(), std::env::var("PATH").unwrap()),
        None => std::env::var("PATH").unwrap(),
    };
    let run = |args: &[&str]| r.brain_env(&[("PATH", &path)], args).ok();
    run(&["init", r.root.to_str().unwrap(), "--example"]);
    run(&["--repo", r.root.to_str().unwrap(), "run"]);
    r
}

#[test]
fn the_main_job_runs_end_to_end_with_the_example_agent_when_claude_is_not_installed() {
    let r = main_job(None);
    assert!(r.read("brain.toml").contains("agent = \"example-agent\""));
    let done = r.tasks_in("completed");
    assert_eq!(done.len(), 1, "{:?}", r.tasks_in("pending"));
    let text = r.read(&format!("tasks/completed/{}", done[0]));
    assert!(text.contains("Example agent: received task"), "{text}");
    assert!(text.contains("(\"Describe this brain repo\")"), "{text}");
    // The second example task is left for a real agent, and says why it was not run.
    let pending = r.tasks_in("pending");
    assert_eq!(pending.len(), 1, "{pending:?}");
    let second = r.read(&format!("tasks/pending/{}", pending[0]));
    assert!(second.contains("Plan the first real tasks"), "{second}");
    assert!(overnight_log(&r).contains("1 finished"));
    // Everything the run did is committed.
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

#[test]
fn the_main_job_uses_claude_code_when_it_is_installed() {
    // A stand-in `claude` that prints what `claude -p ... --output-format json` prints.
    let bin = tempfile::tempdir().unwrap();
    let claude = bin.path().join("claude");
    std::fs::copy(agent_script("claude-json.sh"), &claude).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&claude, std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = main_job(Some(bin.path()));
    assert!(r.read("brain.toml").contains("agent = \"claude-code\""));
    // Claude Code can write: it runs both example tasks.
    let done = r.tasks_in("completed");
    assert_eq!(done.len(), 2, "{:?}", r.tasks_in("pending"));
    let text = r.read(&format!("tasks/completed/{}", done[0]));
    assert!(text.contains("- agent: claude-code"), "{text}");
    assert!(text.contains("Summarized the vault"), "{text}");
}

#[test]
fn the_daemon_runs_brain_run_on_its_schedule() {
    let r = repo_with_agent("tester", "writes-result.sh", &["{prompt_file}"], "");
    let id = r.add(&["on schedule"]);
    // Every second (croner takes an optional seconds field), once.
    r.brain(&[
        "daemon",
        "--agent",
        "tester",
        "--schedule",
        "* * * * * *",
        "--once",
    ])
    .ok();
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    let err = r
        .brain(&["daemon", "--agent", "tester", "--schedule", "61 * * * *"])
        .fails(1);
    assert!(err.contains("is not a cron expression"), "{err}");
}

#[test]
fn max_tasks_stops_after_that_many() {
    let r = repo_with_agent("tester", "writes-result.sh", &["{prompt_file}"], "");
    let ids: Vec<String> = (0..3).map(|i| r.add(&[&format!("task {i}")])).collect();
    r.brain(&["run", "--agent", "tester", "--max-tasks", "2"])
        .ok();
    assert_eq!(r.tasks_in("completed").len(), 2);
    assert_eq!(r.where_is(&ids[2]), [format!("pending/{}.md", ids[2])]);
    assert!(overnight_log(&r).contains("at most 2 tasks"));
}
