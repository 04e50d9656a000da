//! Claude Code's hooks: `brain hook EVENT` fed the JSON Claude Code sends, and `brain setup
//! claude` on real settings files (`shared/notes/claude-code.md`, Hooks).

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{MACHINE, Repo, brain_cmd};

/// `brain hook EVENT` with `input` on stdin, in `cwd`, with `env`: its exit code, stdout and
/// stderr, and how long it took.
fn hook(
    r: &Repo,
    cwd: &std::path::Path,
    env: &[(&str, &str)],
    event: &str,
    input: &str,
) -> (i32, String, String, Duration) {
    let mut c = brain_cmd(cwd, &r.root.parent().unwrap().join("home"));
    c.args(["hook", event])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let t = Instant::now();
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        t.elapsed(),
    )
}

/// The one JSON object a hook printed (nothing else may be on stdout).
fn answer(stdout: &str) -> Value {
    assert_eq!(stdout.lines().count(), 1, "one line of JSON: {stdout:?}");
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn start_input() -> String {
    json!({"session_id": "sess-1", "transcript_path": "/tmp/t.jsonl", "cwd": "/tmp",
           "permission_mode": "default", "hook_event_name": "SessionStart", "source": "startup",
           "model": "claude-sonnet-4"})
    .to_string()
}

/// A handoff note from `desktop` to `to`.
fn handoff_from_desktop(r: &Repo, to: &str, note: &str) {
    r.brain(&["handoff", "--to", to, "--agent", "desktop", "--note", note])
        .ok();
}

/// The primer `session-start` gives in `dir` with `env`, after checking it exited 0.
fn start(r: &Repo, dir: &std::path::Path, env: &[(&str, &str)]) -> String {
    let (code, out, err, _) = hook(r, dir, env, "session-start", &start_input());
    assert_eq!(code, 0, "{err}");
    primer(&out)
}

fn primer(stdout: &str) -> String {
    let v = answer(stdout);
    assert_eq!(
        v["hookSpecificOutput"]["hookEventName"], "SessionStart",
        "{v}"
    );
    v["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn session_start_tells_the_agent_what_it_could_claim_holds_and_has_waiting() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let held = r.add(&["held by me", "-p", "critical"]);
    r.brain(&["claim", &held, "--agent", "claude-code"]).ok();
    let ready: Vec<String> = (0..8).map(|i| r.add(&[&format!("ready {i}")])).collect();
    r.add(&["gated", "--approval"]);
    let q = r
        .brain(&["ask", "Which folder?", "--agent", "claude-code"])
        .ok();
    r.brain(&["answer", q.trim(), "the notes folder"]).ok();
    r.brain(&["ask", "Open one", "--agent", "someone"]).ok();
    handoff_from_desktop(&r, "claude-code", "start with the plan");
    handoff_from_desktop(&r, "other", "not for you");
    // Elsewhere (the code project), with the repo from BRAIN_REPO.
    let project = tempfile::tempdir().unwrap();
    let env_file = project.path().join("env");
    let (code, out, err, _) = hook(
        &r,
        project.path(),
        &[
            ("BRAIN_REPO", &root),
            ("CLAUDE_ENV_FILE", env_file.to_str().unwrap()),
        ],
        "session-start",
        &start_input(),
    );
    assert_eq!(code, 0, "{err}");
    let text = primer(&out);
    assert!(
        text.contains("the agent claude-code of the brain repo at"),
        "{text}"
    );
    assert!(
        text.contains(&format!("You hold the claim on {held} \"held by me\"")),
        "{text}"
    );
    assert!(text.contains("its lease runs out in 2h"), "{text}");
    // The first five ready tasks, in queue order, of eight.
    assert!(text.contains("(5 of 9 pending shown)"), "{text}");
    assert!(
        text.contains(&ready[0]) && text.contains(&ready[4]) && !text.contains(&ready[5]),
        "{text}"
    );
    assert!(
        text.contains("1 open question(s) and 1 approval request(s)"),
        "{text}"
    );
    assert!(
        text.contains("\"Which folder?\": \"the notes folder\""),
        "{text}"
    );
    assert!(
        text.contains("start with the plan") && !text.contains("not for you"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "no usage limit holds for claude-code on {MACHINE}"
        )),
        "{text}"
    );
    assert!(
        text.contains("`brain claim --agent claude-code`")
            && text.contains("`brain done ID")
            && text.contains("`brain ask"),
        "{text}"
    );
    // The session's later commands know who they are.
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert_eq!(
        env,
        format!(
            "export BRAIN_AGENT='claude-code'\nexport BRAIN_REPO='{root}'\nexport BRAIN_SESSION='sess-1'\n"
        )
    );
    // BRAIN_AGENT, then [claude] agent, name the agent.
    let (_, out, _, _) = hook(
        &r,
        project.path(),
        &[("BRAIN_REPO", &root), ("BRAIN_AGENT", "desktop")],
        "session-start",
        &start_input(),
    );
    assert!(primer(&out).contains("the agent desktop of"));
    let config = r.read("brain.toml").replace("# [claude]\n# The agent a session claims as, when BRAIN_AGENT does not say.\n# agent = \"claude-code\"", "[claude]\nagent = \"reviewer\"");
    r.write("brain.toml", &config);
    let text = start(&r, project.path(), &[("BRAIN_REPO", &root)]);
    assert!(text.contains("the agent reviewer of"), "{text}");
    assert!(
        text.contains("brain.toml has no [agents.reviewer]"),
        "{text}"
    );
}

#[test]
fn the_primer_stays_short_however_much_waits() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let long = "a very long title that goes on and on ".repeat(20);
    for _ in 0..30 {
        r.add(&[&long]);
    }
    for i in 0..12 {
        let q = r
            .brain(&["ask", &format!("{long} {i}"), "--agent", "claude-code"])
            .ok();
        r.brain(&["answer", q.trim(), &long]).ok();
    }
    handoff_from_desktop(&r, "claude-code", &"note ".repeat(2000));
    let text = start(&r, &r.root, &[("BRAIN_REPO", &root)]);
    // At most about 1,500 tokens: 4,500 characters at a cautious 3 characters a token.
    assert!(
        text.chars().count() <= 4500,
        "{} characters",
        text.chars().count()
    );
    assert!(text.contains("Commands:") || text.ends_with('…'), "{text}");
}

#[test]
fn inside_a_brain_run_session_it_speaks_only_of_that_task() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let mine = r.add(&["the task of this session"]);
    let other = r.add(&["another task"]);
    r.brain(&["claim", &mine, "--agent", "claude-code"]).ok();
    r.brain(&[
        "ask",
        "About mine?",
        "--task",
        &mine,
        "--agent",
        "claude-code",
    ])
    .ok();
    let text = start(
        &r,
        &r.root,
        &[
            ("BRAIN_REPO", &root),
            ("BRAIN_TASK", &mine),
            ("BRAIN_AGENT", "claude-code"),
        ],
    );
    assert!(
        text.contains(&format!(
            "this session works on task {mine} \"the task of this session\""
        )),
        "{text}"
    );
    assert!(text.contains("1 question(s) about"), "{text}");
    assert!(
        text.contains(&format!("`brain done {mine} --result")),
        "{text}"
    );
    assert!(
        !text.contains(&other) && !text.contains("could claim"),
        "{text}"
    );
}

#[test]
fn a_hook_is_never_in_the_way() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let nowhere = tempfile::tempdir().unwrap();
    // Outside any brain repo, every event answers with valid JSON and exit 0.
    for event in ["session-start", "stop", "session-end", "stop-failure"] {
        for input in [
            start_input().as_str(),
            "",
            "not json",
            "{\"stop_hook_active\": true}",
        ] {
            let (code, out, _, _) = hook(&r, nowhere.path(), &[], event, input);
            assert_eq!(code, 0, "{event} {input}");
            answer(&out);
        }
    }
    let (_, out, _, _) = hook(&r, nowhere.path(), &[], "session-start", &start_input());
    assert!(primer(&out).contains("no brain repo is set"), "{out}");
    // A malformed task file is said, not fatal.
    r.add(&["fine"]);
    r.write(
        "tasks/pending/task-2026-01-31-099.md",
        "---\nid: [broken\n---\n",
    );
    let text = start(&r, nowhere.path(), &[("BRAIN_REPO", &root)]);
    assert!(
        text.contains("cannot be read") && text.contains("brain doctor"),
        "{text}"
    );
    // A broken brain.toml too.
    r.write("brain.toml", "[queue]\nmax_attempts = \"many\"\n");
    for event in ["session-start", "stop", "session-end", "stop-failure"] {
        let (code, out, _, _) = hook(
            &r,
            nowhere.path(),
            &[("BRAIN_REPO", &root)],
            event,
            &start_input(),
        );
        assert_eq!(code, 0, "{event}");
        let v = answer(&out);
        if event == "session-start" {
            let text = primer(&out);
            assert!(
                text.contains("cannot be used now") && text.contains("max_attempts"),
                "{text}"
            );
        } else {
            assert_eq!(v, json!({}), "{event}");
        }
    }
}

/// A hook that hangs hangs every Claude Code session: with the queue lock held by another
/// process and stdin never closed, each hook still answers within its budget.
#[cfg(target_os = "linux")] // flock(1)
#[test]
fn a_hook_gives_up_in_time_when_the_queue_is_held_or_stdin_never_closes() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    r.add(&["x"]);
    // stdin left open: the hook does not wait for it.
    let mut c = brain_cmd(&r.root, &r.root.parent().unwrap().join("home"));
    c.args(["hook", "session-start"])
        .env("BRAIN_REPO", &root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let t = Instant::now();
    let mut child = c.spawn().unwrap();
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(0));
    let text = primer(&String::from_utf8_lossy(&out.stdout));
    assert!(text.contains("did not answer within"), "{text}");
    // The queue lock held by another process: stop-failure (which records) gives up.
    std::fs::create_dir_all(r.path(".brain")).unwrap();
    let mut holder = std::process::Command::new("flock")
        .arg(r.path(".brain/lock"))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let input = json!({"hook_event_name": "StopFailure", "error": "rate_limit", "error_details": "You've hit your session limit · resets 4:20am (Europe/Warsaw)"}).to_string();
    let (code, out, _, took) = hook(
        &r,
        &r.root,
        &[("BRAIN_REPO", &root)],
        "stop-failure",
        &input,
    );
    holder.kill().unwrap();
    let _ = holder.wait();
    assert_eq!(code, 0);
    answer(&out);
    assert!(took < Duration::from_secs(6), "{took:?}");
    // It gave up waiting for the lock, and so recorded nothing (a later one will).
    let usage =
        std::fs::read_to_string(r.path(&format!("context/usage/{MACHINE}.md"))).unwrap_or_default();
    assert!(!usage.contains("session limit"), "{usage}");
}

#[test]
fn stop_reminds_once_of_a_claim_still_held() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let env = [
        ("BRAIN_REPO", root.as_str()),
        ("BRAIN_AGENT", "claude-code"),
    ];
    let stop = |active: bool| {
        json!({"session_id": "s1", "hook_event_name": "Stop", "stop_hook_active": active})
            .to_string()
    };
    let (_, out, _, _) = hook(&r, &r.root, &env, "stop", &stop(false));
    assert_eq!(answer(&out), json!({}), "no claim, nothing to say");
    let id = r.add(&["unfinished"]);
    r.brain(&["claim", "--agent", "claude-code"]).ok();
    let (code, out, _, _) = hook(&r, &r.root, &env, "stop", &stop(false));
    assert_eq!(code, 0);
    let v = answer(&out);
    assert_eq!(v["decision"], "block", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains(&id) && reason.contains("brain done") && reason.contains("brain handoff"),
        "{reason}"
    );
    // Claude Code says it is stopping after a block already: let it.
    let (_, out, _, _) = hook(&r, &r.root, &env, "stop", &stop(true));
    assert_eq!(answer(&out), json!({}));
    // Stop ends every reply: the same claim is not reminded of again in this session...
    let (_, out, _, _) = hook(&r, &r.root, &env, "stop", &stop(false));
    assert_eq!(answer(&out), json!({}));
    // ...but a new claim is, and so is the claim in another session.
    let second = r.add(&["second"]);
    r.brain(&["claim", &second, "--agent", "claude-code"]).ok();
    let (_, out, _, _) = hook(&r, &r.root, &env, "stop", &stop(false));
    assert_eq!(answer(&out)["decision"], "block");
    let other = json!({"session_id": "s2", "stop_hook_active": false}).to_string();
    let (_, out, _, _) = hook(&r, &r.root, &env, "stop", &other);
    assert_eq!(answer(&out)["decision"], "block");
    // Another agent's claims are not this session's.
    let (_, out, _, _) = hook(
        &r,
        &r.root,
        &[("BRAIN_REPO", root.as_str()), ("BRAIN_AGENT", "desktop")],
        "stop",
        &stop(false),
    );
    assert_eq!(answer(&out), json!({}));
    // SessionEnd leaves the claim to its lease, at once.
    let (code, out, _, took) = hook(
        &r,
        &r.root,
        &env,
        "session-end",
        &json!({"reason": "logout"}).to_string(),
    );
    assert_eq!((code, answer(&out)), (0, json!({})));
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(r.where_is(&id), [format!("active/{id}.claude-code.md")]);
}

#[test]
fn stop_failure_records_the_usage_limit_as_brain_run_does() {
    let r = Repo::new();
    let root = r.root.to_str().unwrap().to_string();
    let input = json!({"session_id": "s", "hook_event_name": "StopFailure", "error": "rate_limit",
                       "error_details": "You've hit your session limit · resets 4:20am (Europe/Warsaw)"})
    .to_string();
    let commits = r.log().len();
    let (code, out, err, _) = hook(
        &r,
        &r.root,
        &[("BRAIN_REPO", &root)],
        "stop-failure",
        &input,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(answer(&out), json!({}));
    let usage = r.read(&format!("context/usage/{MACHINE}.md"));
    assert!(usage.contains("session limit"), "{usage}");
    // 4:20 in Warsaw (UTC+1 in January) after 02:30 UTC: 03:20 UTC.
    let status: Value = r.brain(&["status", "--json"]).json();
    assert_eq!(status["limits"][0]["agent"], "claude-code", "{status}");
    assert_eq!(
        status["limits"][0]["until"], "2026-01-31T03:20:00Z",
        "{status}"
    );
    assert_eq!(r.log().len(), commits + 1, "{:?}", r.log());
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    // And the next session's primer says so.
    let (_, out, _, _) = hook(
        &r,
        &r.root,
        &[("BRAIN_REPO", &root)],
        "session-start",
        &start_input(),
    );
    assert!(primer(&out).contains("no new session should start before 2026-01-31T03:20:00Z"));
}

/// `brain setup claude` with HOME (and so ~/.claude) in the test's folder.
#[cfg(unix)]
fn setup(r: &Repo, args: &[&str]) -> crate::support::Run {
    let mut a = vec!["setup", "claude"];
    a.extend_from_slice(args);
    r.brain(&a)
}

#[cfg(unix)] // HOME; on Windows Claude Code's folder is under USERPROFILE
#[test]
fn setup_merges_the_hooks_keeps_the_rest_and_removes_exactly_its_own() {
    let r = Repo::new();
    let settings_path = r.home().join(".claude/settings.json");
    std::fs::create_dir_all(settings_path.parent().unwrap()).unwrap();
    let theirs = r#"{
  "model": "opus",
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}],
    "SessionStart": [{"hooks": [{"type": "command", "command": "echo hello"}]}]
  },
  "permissions": {"allow": ["Bash(ls:*)"]}
}
"#;
    std::fs::write(&settings_path, theirs).unwrap();
    let original: Value = serde_json::from_str(theirs).unwrap();
    // --print changes nothing.
    let printed = setup(&r, &["--print"]).ok();
    assert!(printed.contains("\"session-start\""), "{printed}");
    assert_eq!(std::fs::read_to_string(&settings_path).unwrap(), theirs);
    setup(&r, &[]).ok();
    let once = std::fs::read_to_string(&settings_path).unwrap();
    let v: Value = serde_json::from_str(&once).unwrap();
    let brain = std::fs::canonicalize(env!("CARGO_BIN_EXE_brain")).unwrap();
    let start = &v["hooks"]["SessionStart"][1]["hooks"][0];
    assert_eq!(start["command"], brain.to_str().unwrap());
    assert_eq!(
        start["args"],
        json!(["--repo", r.root.to_str().unwrap(), "hook", "session-start"])
    );
    assert_eq!(
        v["hooks"]["SessionStart"][0],
        original["hooks"]["SessionStart"][0]
    );
    assert_eq!(v["hooks"]["PreToolUse"], original["hooks"]["PreToolUse"]);
    assert_eq!(
        (v["model"].clone(), v["permissions"].clone()),
        (original["model"].clone(), original["permissions"].clone())
    );
    for e in ["Stop", "SessionEnd", "StopFailure"] {
        assert!(v["hooks"][e].is_array(), "{e}: {v}");
    }
    assert_eq!(v["hooks"]["StopFailure"][0]["matcher"], "rate_limit");
    // Twice is once.
    setup(&r, &[]).ok();
    assert_eq!(std::fs::read_to_string(&settings_path).unwrap(), once);
    // --check: all there.
    let check = setup(&r, &["--check"]).ok();
    assert!(
        check.contains("SessionStart: ") && !check.contains("BROKEN"),
        "{check}"
    );
    // doctor and --check see a hook whose program is gone.
    std::fs::write(
        &settings_path,
        once.replace(brain.to_str().unwrap(), "/nonexistent/brain"),
    )
    .unwrap();
    let check = setup(&r, &["--check"]);
    check.fails(1);
    assert!(
        check
            .stdout()
            .contains("BROKEN: the program /nonexistent/brain is not there"),
        "{}",
        check.stdout()
    );
    let doctor = r.brain(&["doctor"]).ok();
    assert!(
        doctor.contains("SessionStart hook for Claude Code is broken"),
        "{doctor}"
    );
    setup(&r, &[]).ok();
    // --remove: what was there before, nothing more, nothing less.
    setup(&r, &["--remove"]).ok();
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    assert_eq!(after, original);
    // A file that is not JSON is never overwritten.
    std::fs::write(&settings_path, "{ \"model\": ").unwrap();
    let err = setup(&r, &[]).fails(1);
    assert!(
        err.contains("settings.json: line 1: not valid JSON"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&settings_path).unwrap(),
        "{ \"model\": "
    );
}

#[cfg(unix)]
#[test]
fn setup_for_a_project_adds_claude_md_only_when_asked_and_skips_hooks_the_plugin_has() {
    let r = Repo::new();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().to_str().unwrap();
    std::fs::write(
        project.path().join("CLAUDE.md"),
        "# My project\n\nMy rules.\n",
    )
    .unwrap();
    let out = setup(&r, &["--project", dir]);
    out.ok();
    assert!(out.stderr().contains("--claude-md"), "{}", out.stderr());
    assert_eq!(
        std::fs::read_to_string(project.path().join("CLAUDE.md")).unwrap(),
        "# My project\n\nMy rules.\n"
    );
    assert!(project.path().join(".claude/settings.json").is_file());
    setup(&r, &["--project", dir, "--claude-md"]).ok();
    let md = std::fs::read_to_string(project.path().join("CLAUDE.md")).unwrap();
    assert!(
        md.starts_with("# My project\n\nMy rules.\n\n<!-- brain:begin"),
        "{md}"
    );
    assert!(md.contains("brain claim --agent claude-code"), "{md}");
    setup(&r, &["--project", dir, "--claude-md"]).ok();
    assert_eq!(
        std::fs::read_to_string(project.path().join("CLAUDE.md")).unwrap(),
        md
    );
    setup(&r, &["--project", dir, "--remove"]).ok();
    assert_eq!(
        std::fs::read_to_string(project.path().join("CLAUDE.md")).unwrap(),
        "# My project\n\nMy rules.\n"
    );
    assert!(
        !project.path().join(".claude/settings.json").exists(),
        "brain made it, brain took it"
    );
    // With the brain plugin enabled, its hooks run already: none go into settings, and those
    // installed before the plugin are taken out (both would fire).
    setup(&r, &["--project", dir]).ok();
    let user = r.home().join(".claude");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("settings.json"),
        r#"{"enabledPlugins": {"brain@brain-queue": true}}"#,
    )
    .unwrap();
    let out = setup(&r, &["--project", dir]);
    out.ok();
    assert!(
        out.stderr()
            .contains("plugin (brain@brain-queue) is enabled")
            && out.stderr().contains("Took brain's settings hooks"),
        "{}",
        out.stderr()
    );
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join(".claude/settings.json"))
            .unwrap_or_else(|_| "{}".into()),
    )
    .unwrap();
    assert!(v["hooks"].is_null(), "{v}");
}

/// The plugin and its marketplace have the shapes Claude Code documents; `claude plugin
/// validate` (the real CLI) accepts both.
#[cfg(target_os = "linux")] // the CLI installed for this platform by npm
#[test]
fn the_plugin_and_its_marketplace_are_valid() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let plugin = root.join("integrations/claude-code");
    let read = |p: &std::path::Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let manifest = read(&plugin.join(".claude-plugin/plugin.json"));
    assert_eq!(manifest["name"], "brain");
    let hooks = read(&plugin.join("hooks/hooks.json"));
    // The same hooks `brain setup claude` installs, with `brain` from PATH.
    for (event, arg) in [
        ("SessionStart", "session-start"),
        ("Stop", "stop"),
        ("SessionEnd", "session-end"),
        ("StopFailure", "stop-failure"),
    ] {
        let h = &hooks["hooks"][event][0]["hooks"][0];
        assert_eq!(h["command"], "brain", "{event}");
        assert_eq!(h["args"], json!(["hook", arg]), "{event}");
    }
    let skill = std::fs::read_to_string(plugin.join("skills/brain/SKILL.md")).unwrap();
    assert!(
        skill.starts_with("---\nname: brain\ndescription: "),
        "{skill}"
    );
    for c in ["next", "done", "ask"] {
        let text = std::fs::read_to_string(plugin.join(format!("commands/{c}.md"))).unwrap();
        assert!(text.starts_with("---\ndescription: "), "{c}");
    }
    let market = read(&root.join(".claude-plugin/marketplace.json"));
    assert_eq!(market["plugins"][0]["source"], "./integrations/claude-code");
    let claude = crate::support::npm_tool("claude");
    for target in [plugin.clone(), root.clone()] {
        let out = std::process::Command::new(&claude)
            .args(["plugin", "validate"])
            .arg(&target)
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Validation passed"),
            "{}: {text}{}",
            target.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The claim order index (issue 18) holds only readable tasks and cannot report the others: in
/// a queue large enough to keep it, an unreadable task file is still named by the primer.
#[test]
fn an_unreadable_task_in_a_large_queue_is_still_named_in_the_primer() {
    let r = Repo::new();
    for i in 0..brain_core::store::scan::INDEX_FROM + 10 {
        r.hand_task("pending", &format!("filler-{i:04}.md"), "priority: low\n");
    }
    // The first claim writes the index; the primer then reads it.
    r.claim("claude-code");
    let root = r.root.display().to_string();
    let text = start(&r, &r.root, &[("BRAIN_REPO", &root)]);
    assert!(!text.contains("cannot be read"), "{text}");
    r.write("tasks/pending/broken.md", "---\npriority: [\n---\n");
    // The first look lists the folder (its stamp changed); the ones after it must too.
    for look in 0..3 {
        let text = start(&r, &r.root, &[("BRAIN_REPO", &root)]);
        assert!(
            text.contains("1 task file(s) cannot be read"),
            "look {look}: {text}"
        );
        assert!(text.contains("broken.md"), "look {look}: {text}");
    }
    r.claim("claude-code");
    let text = start(&r, &r.root, &[("BRAIN_REPO", &root)]);
    assert!(text.contains("broken.md"), "after a claim: {text}");
}
