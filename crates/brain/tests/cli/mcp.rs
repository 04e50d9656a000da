//! `brain mcp` driven by a real client: the official MCP Python SDK (tests/mcp/client.py),
//! which starts it as Claude Desktop does (a child process in `/`, the repo in BRAIN_REPO).
//! What each call did is checked against the files and the git log.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Repo, python_tools};

/// The strings of a JSON array.
fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

/// Runs tests/mcp/client.py SCENARIO ARGS against `brain mcp` on `r`; what it saw.
fn client(r: &Repo, scenario: &str, args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp/client.py");
    let out = Command::new(python_tools())
        .arg(script)
        .args([
            env!("CARGO_BIN_EXE_brain"),
            r.root.to_str().unwrap(),
            scenario,
        ])
        .arg(r.home())
        .args(args)
        .env("BRAIN_NOW", crate::support::NOW)
        .env("BRAIN_MACHINE", crate::support::MACHINE)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_real_client_adds_lists_reads_answers_and_approves_and_each_is_a_commit() {
    let r = Repo::new();
    let q = r
        .brain(&["ask", "Which folder?", "--agent", "claude-code"])
        .ok();
    let q = q.trim();
    r.brain(&[
        "handoff",
        "--to",
        "claude-code",
        "--agent",
        "desktop",
        "--note",
        "look at March",
    ])
    .ok();
    let before = r.log().len();
    let seen = client(&r, "person", &[q]);
    // A small tool set, read-only ones marked, and a description of what brain is.
    let tools: Vec<&str> = strings(&seen["tools"]);
    assert_eq!(
        tools,
        [
            "add_task",
            "answer",
            "get_task",
            "list_tasks",
            "status",
            "update_task"
        ]
    );
    let read_only: Vec<&str> = strings(&seen["read_only"]);
    assert_eq!(read_only, ["get_task", "list_tasks", "status"]);
    assert!(
        seen["instructions"]
            .as_str()
            .unwrap()
            .contains("work queue")
    );
    // The whole tools/list answer: at most about 2,500 tokens (7,500 characters at a cautious
    // 3 characters a token).
    let size = seen["tools_json"].as_str().unwrap().len();
    assert!(size <= 7500, "tools/list is {size} characters");

    // add_task: a file in tasks/pending with every field, and its commit.
    let add = &seen["add"];
    assert_eq!(add["error"], false, "{add}");
    let id = add["data"]["id"].as_str().unwrap();
    let text = r.read(&format!("tasks/pending/{id}.md"));
    assert!(
        text.contains("priority: low"),
        "the update later set it low: {text}"
    );
    assert!(
        text.contains("requires:\n  - file_access\n") && text.contains("timeout: 30m"),
        "{text}"
    );
    assert!(
        text.contains("# Task: From Desktop") && text.contains("Write the summary."),
        "{text}"
    );
    assert!(
        text.contains("## Note") && text.contains("Use the March files."),
        "{text}"
    );
    let gated = seen["add_gated"]["data"]["id"].as_str().unwrap();
    // A bad argument is a tool error the model can read, and the server goes on.
    assert_eq!(seen["bad_add"]["error"], true);
    assert!(
        seen["bad_add"]["text"]
            .as_str()
            .unwrap()
            .contains("the title is empty"),
        "{}",
        seen["bad_add"]
    );
    assert!(
        seen["bad_priority"]["text"]
            .as_str()
            .unwrap()
            .contains("`urgent` is not one of"),
        "{}",
        seen["bad_priority"]
    );
    assert!(
        seen["get_missing"]["text"]
            .as_str()
            .unwrap()
            .contains("task-1999-01-01-001"),
        "{}",
        seen["get_missing"]
    );
    assert!(
        seen["cancel_wrong"]["text"]
            .as_str()
            .unwrap()
            .contains("only a failed task can be requeued"),
        "{}",
        seen["cancel_wrong"]
    );
    // list and get say what the files say.
    let list = &seen["list"]["data"];
    assert_eq!(list["total"], 2);
    let listed: Vec<&str> = list["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [id, gated], "queue order: high before medium");
    assert_eq!(list["tasks"][1]["ready"], "needs approval");
    assert_eq!(seen["list_limited"]["data"]["total"], 2);
    assert_eq!(seen["list_limited"]["data"]["shown"], 1);
    assert_eq!(seen["get"]["data"]["id"], id);
    assert!(
        seen["get"]["data"]["body"]
            .as_str()
            .unwrap()
            .contains("Write the summary.")
    );
    // answer and approve wrote prompts/ as `brain answer` and `brain approve` do.
    assert_eq!(seen["answer"]["error"], false, "{}", seen["answer"]);
    let answered = r.read("prompts/answered.md");
    assert!(
        answered.contains(q) && answered.contains("the notes folder"),
        "{answered}"
    );
    assert_eq!(seen["approve"]["error"], false, "{}", seen["approve"]);
    assert!(
        r.read(&format!("tasks/pending/{gated}.md"))
            .contains("approval: approved")
    );
    assert_eq!(seen["status"]["data"]["counts"]["pending"], 2);
    // One commit per change: two adds (and the approval request), the answer, the approval, the
    // update.
    let log = r.log();
    let new: Vec<&String> = log.iter().take(log.len() - before).collect();
    let has = |prefix: &str| new.iter().any(|m| m.starts_with(prefix));
    assert!(
        has(&format!("add {id}")) && has(&format!("add {gated}")),
        "{new:?}"
    );
    assert!(has(&format!("update {id}: priority low, note")), "{new:?}");
    assert!(
        new.iter().any(|m| m.contains("answer") && m.contains(q)),
        "{new:?}"
    );
    assert!(
        new.iter()
            .any(|m| m.contains("approve") && m.contains(gated)),
        "{new:?}"
    );
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    // Resources and the prompt.
    let resources: Vec<&str> = strings(&seen["resources"]);
    assert_eq!(
        resources,
        ["brain://context/handoff.md", "brain://context/usage.md"]
    );
    assert!(seen["handoff"].as_str().unwrap().contains("look at March"));
    assert_eq!(seen["prompts"][0], "plan_tasks");
    assert!(seen["prompt"].as_str().unwrap().contains("depends_on"));
}

#[test]
fn the_agent_profile_claims_renews_hands_off_and_finishes() {
    let r = Repo::new();
    let id = r.add(&["for an MCP agent", "--requires", "file_access"]);
    let seen = client(&r, "agent", &[]);
    let tools: Vec<&str> = strings(&seen["tools"]);
    for t in ["claim", "heartbeat", "finish", "handoff", "add_task"] {
        assert!(tools.contains(&t), "{tools:?}");
    }
    assert_eq!(
        seen["claim"]["data"]["claimed"]["id"],
        id.as_str(),
        "{}",
        seen["claim"]
    );
    assert_eq!(seen["finish"]["error"], false, "{}", seen["finish"]);
    let done = r.read(&format!("tasks/completed/{id}.md"));
    assert!(
        done.contains("Summarized.") && done.contains("- agent: desktop-agent"),
        "{done}"
    );
    assert!(
        r.read("context/handoff.md")
            .contains("the summary is half done")
    );
    assert!(
        seen["finish_again_wrong"]["text"]
            .as_str()
            .unwrap()
            .contains("is not one brain gave"),
        "{}",
        seen["finish_again_wrong"]
    );
}

/// CLI claimers and an MCP client adding tasks and answering questions at the same time: every
/// task is there once, every answer recorded, and nothing is left uncommitted.
#[test]
fn mcp_writes_and_cli_claimers_at_once_lose_nothing() {
    let r = Repo::new();
    let questions: Vec<String> = (0..5)
        .map(|i| {
            r.brain(&["ask", &format!("question {i}")])
                .ok()
                .trim()
                .to_string()
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let claimed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let claimers: Vec<_> = (0..3)
        .map(|k| {
            let (root, home) = (r.root.clone(), r.home().to_path_buf());
            let (stop, claimed) = (stop.clone(), claimed.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let out = crate::support::brain_cmd(&root, &home)
                        .args(["claim", "--agent", &format!("cli-{k}")])
                        .output()
                        .unwrap();
                    if out.status.success() {
                        let line = String::from_utf8_lossy(&out.stdout).to_string();
                        let mut parts = line.split_whitespace();
                        let (id, token) = (
                            parts.next().unwrap().to_string(),
                            parts.next().unwrap().to_string(),
                        );
                        let done = crate::support::brain_cmd(&root, &home)
                            .args(["done", &id, "--token", &token, "--result", "ok"])
                            .output()
                            .unwrap();
                        assert!(
                            done.status.success(),
                            "{}",
                            String::from_utf8_lossy(&done.stderr)
                        );
                        claimed.lock().unwrap().push(id);
                    } else {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            })
        })
        .collect();
    let mut args = vec!["20".to_string()];
    args.extend(questions.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let seen = client(&r, "many", &args);
    // Let the claimers take what is left.
    let t = Instant::now();
    while r.tasks_in("pending").len() + r.tasks_in("active").len() > 0
        && t.elapsed() < Duration::from_secs(60)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for c in claimers {
        c.join().unwrap();
    }
    let ids: Vec<String> = seen["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 20);
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 20, "{ids:?}");
    let mut done = claimed.lock().unwrap().clone();
    done.sort();
    assert_eq!(
        done, distinct,
        "each task claimed and finished exactly once"
    );
    for id in &ids {
        assert_eq!(r.where_is(id), [format!("completed/{id}.md")]);
    }
    let answered = r.read("prompts/answered.md");
    for (i, q) in questions.iter().enumerate() {
        assert!(
            answered.contains(q) && answered.contains(&format!("answer {i}")),
            "{answered}"
        );
    }
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// Claude Desktop does not always say goodbye: when stdin closes the server ends, and stdout
/// carries nothing but the protocol.
#[test]
fn closing_stdin_ends_the_server() {
    let r = Repo::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_brain"))
        .args(["mcp"])
        .current_dir("/")
        .env("BRAIN_REPO", &r.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{init}").unwrap();
    drop(stdin);
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON-RPC on stdout: {e}: {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
    }
}

#[test]
fn setup_desktop_adds_brain_to_claude_desktops_config_and_keeps_the_rest() {
    let r = Repo::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("claude_desktop_config.json");
    let theirs = r#"{"mcpServers": {"files": {"command": "/usr/bin/files-mcp", "args": []}}, "theme": "dark"}"#;
    std::fs::write(&config, theirs).unwrap();
    let env = [("BRAIN_DESKTOP_CONFIG_DIR", dir.path().to_str().unwrap())];
    let printed = r.brain_env(&env, &["setup", "desktop", "--print"]).ok();
    assert!(printed.contains("\"brain\""), "{printed}");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        theirs,
        "--print changes nothing"
    );
    r.brain_env(&env, &["setup", "desktop"]).ok();
    let once = std::fs::read_to_string(&config).unwrap();
    let v: Value = serde_json::from_str(&once).unwrap();
    let brain = std::fs::canonicalize(env!("CARGO_BIN_EXE_brain")).unwrap();
    assert_eq!(v["mcpServers"]["brain"]["command"], brain.to_str().unwrap());
    assert_eq!(v["mcpServers"]["brain"]["args"], serde_json::json!(["mcp"]));
    assert_eq!(
        v["mcpServers"]["brain"]["env"]["BRAIN_REPO"],
        r.root.to_str().unwrap()
    );
    assert_eq!(v["mcpServers"]["files"]["command"], "/usr/bin/files-mcp");
    assert_eq!(v["theme"], "dark");
    r.brain_env(&env, &["setup", "desktop"]).ok();
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        once,
        "twice is once"
    );
    r.brain_env(&env, &["setup", "desktop", "--remove"]).ok();
    let after: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(after, serde_json::from_str::<Value>(theirs).unwrap());
}

/// The Claude Desktop extension: its manifest passes the real `mcpb validate`, and the packed
/// bundle holds the manifest and the program, which `mcpb info` reads.
#[cfg(target_os = "linux")]
#[test]
fn the_desktop_extension_validates_and_packs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mcpb = crate::support::npm_tool("mcpb");
    let manifest = root.join("integrations/claude-desktop/manifest.json");
    let out = Command::new(&mcpb)
        .arg("validate")
        .arg(&manifest)
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("validation passes"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("brain.mcpb");
    let packed = Command::new("python3")
        .arg(root.join("scripts/pack-mcpb.py"))
        .args(["--binary", env!("CARGO_BIN_EXE_brain"), "--out"])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let unpacked = dir.path().join("unpacked");
    let out = Command::new(&mcpb)
        .arg("unpack")
        .arg(&bundle)
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let program = unpacked.join("server/brain");
    let version = Command::new(&program).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("brain "));
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(unpacked.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(shipped["server"]["type"], "binary");
    assert_eq!(shipped["user_config"]["repo"]["type"], "directory");
    assert_eq!(
        shipped["server"]["mcp_config"]["env"]["BRAIN_REPO"],
        "${user_config.repo}"
    );
}
