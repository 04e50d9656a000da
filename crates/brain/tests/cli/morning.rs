//! The end of a night: `[notify]` (a command with the message as JSON on stdin, an ntfy-style
//! HTTP POST; immediate or batched into one morning message; a notifier that hangs or fails
//! never stops the run), and the morning review (`logs/YYYY-MM-DD-review.md`, `brain review`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

use serde_json::Value;

use crate::claude::{Says, result};
use crate::run::overnight_log;

/// A notifier command that appends each message it gets to `<dir>/notified`, one per line.
fn notifier(s: &Says) -> String {
    let script = s.dir.join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >> '{0}'\necho >> '{0}'\n",
            s.dir.join("notified").display()
        ),
    )
    .unwrap();
    format!("[\"sh\", \"{}\"]", script.display())
}

fn notified(s: &Says) -> Vec<Value> {
    std::fs::read_to_string(s.dir.join("notified"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn configure(s: &Says, text: &str) {
    let mut config =
        s.r.read("brain.toml")
            .replace("max_attempts = 3", "max_attempts = 1");
    config.push_str(text);
    s.r.write("brain.toml", &config);
}

#[test]
fn a_limit_is_told_at_once_and_the_rest_in_one_morning_message() {
    let s = Says::new(&[], "");
    configure(&s, &format!("\n[notify]\ncommand = {}\n", notifier(&s)));
    let failing = s.r.add(&["will fail", "--priority", "critical"]);
    let asking = s.r.add(&["asks", "--priority", "high"]);
    let limited = s.r.add(&["meets the limit"]);
    s.say(1, "Error: the build is broken\n", 1);
    std::fs::write(s.dir.join("2.ask"), "Which folder holds the drafts?").unwrap();
    s.say(
        2,
        &result("success", false, "asked, and did the rest", ""),
        0,
    );
    s.say(3, "You've hit your session limit · resets 4am\n", 1);
    s.run(&[]).fails(7);
    let got = notified(&s);
    assert_eq!(got.len(), 2, "{got:?}");
    // At once: the limit, with its reset time and the task that waits.
    assert_eq!(got[0]["kind"], "limit");
    assert_eq!(got[0]["resets_at"], "2026-01-31T04:00:00Z");
    assert_eq!(got[0]["task"], limited.as_str());
    assert_eq!(got[0]["machine"], "test-machine");
    // At the end, in one message: the failure for good, the question, the run's summary.
    assert_eq!(got[1]["kind"], "morning");
    let kinds: Vec<&str> = got[1]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["failed", "question", "run"]);
    let text = got[1]["message"].as_str().unwrap();
    assert!(
        text.contains(&format!("{failing} will fail failed for good")),
        "{text}"
    );
    assert!(
        text.contains(&format!("about {asking}"))
            && text.contains("Which folder holds the drafts?"),
        "{text}"
    );
    assert!(
        text.contains("The morning review: logs/2026-01-31-review.md"),
        "{text}"
    );
    assert_eq!(got[1]["review"], "logs/2026-01-31-review.md");
}

#[test]
fn each_kind_can_be_immediate_morning_or_off() {
    let s = Says::new(&[], "");
    configure(
        &s,
        &format!(
            "\n[notify]\ncommand = {}\nfailed = \"immediate\"\nrun = \"off\"\nlimit = \"morning\"\n",
            notifier(&s)
        ),
    );
    s.r.add(&["will fail", "--priority", "high"]);
    s.r.add(&["meets the limit"]);
    s.say(1, "boom\n", 1);
    s.say(2, "5-hour limit reached ∙ resets 3am\n", 1);
    s.run(&[]).fails(7);
    let got = notified(&s);
    let kinds: Vec<&str> = got.iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["failed", "morning"], "{got:?}");
    assert_eq!(got[1]["events"].as_array().unwrap().len(), 1);
    assert_eq!(got[1]["events"][0]["kind"], "limit");
    // A bad setting is refused with the key named.
    configure(&s, "");
    let text =
        s.r.read("brain.toml")
            .replace("failed = \"immediate\"", "failed = \"sometimes\"");
    s.r.write("brain.toml", &text);
    let err = s.r.brain(&["status"]).fails(1);
    assert!(err.contains("failed") && err.contains("sometimes"), "{err}");
}

#[test]
fn a_notifier_that_hangs_or_fails_never_stops_the_run() {
    for (setting, said) in [
        (
            r#"command = ["sleep", "30"]"#,
            "notify: the command `sleep` took longer than 1s and was stopped",
        ),
        (
            r#"command = ["false"]"#,
            "notify: the command `false` failed (exit status: 1)",
        ),
        (
            r#"command = ["/nonexistent/notifier"]"#,
            "notify: the command `/nonexistent/notifier` cannot be started",
        ),
        // Nothing listens there: the POST fails (through curl, for https).
        (
            r#"url = "http://127.0.0.1:9/brain""#,
            "notify: POST http://127.0.0.1:9/brain failed: ",
        ),
        (
            r#"url = "https://127.0.0.1:9/brain""#,
            "notify: POST https://127.0.0.1:9/brain ",
        ),
    ] {
        let s = Says::new(&[], "");
        configure(
            &s,
            &format!("\n[notify]\n{setting}\ntimeout = \"1s\"\nrun = \"immediate\"\n"),
        );
        let id = s.r.add(&["one"]);
        s.say(0, &result("success", false, "done", ""), 0);
        let t = std::time::Instant::now();
        s.run(&[]).ok();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(15),
            "{setting}"
        );
        assert_eq!(s.r.where_is(&id), [format!("completed/{id}.md")]);
        let log = overnight_log(&s.r);
        assert!(log.contains(said), "{setting}: {log}");
    }
}

#[test]
fn an_http_url_gets_an_ntfy_style_post() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        // Read the head, then the body its Content-Length gives.
        loop {
            let n = c.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                if got.len() >= end + 4 + len || n == 0 {
                    break;
                }
            }
        }
        c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        String::from_utf8(got).unwrap()
    });
    let s = Says::new(&[], "");
    configure(
        &s,
        &format!(
            "\n[notify]\nurl = \"http://127.0.0.1:{port}/brain-night\"\nrun = \"immediate\"\n"
        ),
    );
    s.r.add(&["one"]);
    s.say(0, &result("success", false, "done", ""), 0);
    s.run(&[]).ok();
    let req = server.join().unwrap();
    assert!(req.starts_with("POST /brain-night HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains("\r\nTitle: brain: the run of claude finished\r\n"),
        "{req}"
    );
    assert!(req.contains("\r\nTags: sunrise\r\n"), "{req}");
    let body = &req[req.find("\r\n\r\n").unwrap() + 4..];
    assert!(
        body.starts_with("Completed at 2026-01-31T02:30:00Z: 1 finished"),
        "{body}"
    );
    assert!(!overnight_log(&s.r).contains("notify:"));
}

#[test]
fn the_morning_review_tells_the_night_and_brain_review_prints_the_same() {
    let s = Says::new(&[], "");
    configure(&s, "");
    let done = s.r.add(&["summarise the vault", "--priority", "critical"]);
    let failing = s.r.add(&["fix the build", "--priority", "high"]);
    let asking = s.r.add(&["pick a folder", "--priority", "high"]);
    let held = s.r.add(&["meets the limit", "--priority", "medium"]);
    let later = s.r.add(&["later", "--priority", "low"]);
    s.say(
        1,
        &result(
            "success",
            false,
            "Wrote knowledge/vault.md.\nIt has 12 sections.\nMore.",
            "",
        ),
        0,
    );
    s.say(2, "Error: the build is broken\n", 1);
    std::fs::write(s.dir.join("3.ask"), "Which folder holds the drafts?").unwrap();
    s.say(
        3,
        &result("success", false, "Asked where the drafts are.", ""),
        0,
    );
    s.say(4, "You've hit your session limit · resets 4am\n", 1);
    s.run(&[]).fails(7);
    let file = s.r.read("logs/2026-01-31-review.md");
    let section = |title: &str| -> String {
        let at = file
            .find(&format!("\n## {title}\n"))
            .unwrap_or_else(|| panic!("{title}: {file}"));
        let rest = &file[at + title.len() + 5..];
        rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
    };
    assert!(section("Finished").contains(&format!(
        "- [{done}](../tasks/completed/{done}.md) summarise the vault: Wrote knowledge/vault.md. It has 12 sections. More."
    )), "{file}");
    assert!(section("Failed for good").contains(&format!("[{failing}](../tasks/failed/{failing}.md) fix the build: the agent ended with exit code 1")), "{file}");
    assert!(section("Waiting, no attempt spent").contains(&format!("[{held}](../tasks/pending/{held}.md) meets the limit: usage limit: the session limit (resets 2026-01-31T04:00:00Z)")), "{file}");
    assert!(section("Waiting for you").contains(&format!("about [{asking}](../tasks/completed/{asking}.md): Which folder holds the drafts?. Answer with `brain answer q-2026-01-31-001")), "{file}");
    assert!(section("Limits").contains("claude on test-machine hit the session limit (resets 2026-01-31T04:00:00Z) at 2026-01-31T02:30:00Z; no new session before 2026-01-31T04:00:00Z (in 1h30m)."), "{file}");
    assert!(
        section("Usage").contains("claude on test-machine: 4 sessions"),
        "{file}"
    );
    let next = section("Next in the queue");
    assert!(
        next.find(&held).unwrap() < next.find(&later).unwrap(),
        "{next}"
    );
    // Every link leads to the task's file.
    for link in file.split("](../").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        assert!(Path::new(&s.r.path(target)).exists(), "{target}");
    }
    // `brain review` prints the same.
    let printed = s.r.brain(&["review"]).ok();
    assert_eq!(printed.trim_end(), file.trim_end());
    let json: Value = serde_json::from_str(&s.r.brain(&["review", "--json"]).ok()).unwrap();
    assert_eq!(json["finished"][0]["id"], done.as_str());
}
