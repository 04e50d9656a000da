//! The real Claude Code CLI (npm `@anthropic-ai/claude-code`, pinned in tests/tools) as the
//! agent of `brain run`, with the command `brain init` writes, pointed at a scripted Messages
//! API server on 127.0.0.1 that this file runs (`shared/notes/claude-code.md`, last section):
//! no login, no network. The script decides each reply from the conversation the CLI sends,
//! so the CLI's side requests (titles, token counts) do not shift it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::support::{Repo, npm_tool};

/// One reply of the model: text, and tool calls (`name`, `input`).
#[derive(Clone)]
struct Turn {
    text: String,
    tools: Vec<(String, Value)>,
}

fn say(text: &str) -> Turn {
    Turn {
        text: text.into(),
        tools: Vec::new(),
    }
}

fn call(name: &str, input: Value) -> Turn {
    Turn {
        text: String::new(),
        tools: vec![(name.into(), input)],
    }
}

/// What the server does with a request of the agent's loop.
#[derive(Clone)]
enum Script {
    /// The Nth reply after N tool round trips; the last one for any later step.
    Turns(Vec<Turn>),
    /// Refuse every request with this HTTP status and error body.
    Refuse(u16, &'static str),
}

/// The scripted Messages API server; it keeps the requests of the agent's loop.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    fn start(script: Script) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (script, seen) = (script.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &script, &seen);
                });
            }
        });
        Server { port, seen }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The requests of the agent's loop (those that offer tools), in order.
    fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, script: &Script, seen: &Mutex<Vec<Value>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let reply = |out: &mut TcpStream, status: u16, kind: &str, body: &str| {
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if path.starts_with("/v1/messages/count_tokens") {
        return reply(&mut out, 200, "application/json", r#"{"input_tokens":10}"#);
    }
    if !path.starts_with("/v1/messages") {
        return reply(&mut out, 404, "application/json", "{}");
    }
    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let main_loop = req["tools"].as_array().is_some_and(|t| !t.is_empty());
    if let Script::Refuse(status, error) = script {
        return reply(&mut out, *status, "application/json", error);
    }
    let turn = match script {
        Script::Turns(turns) if main_loop => {
            seen.lock().unwrap().push(req.clone());
            let step = req["messages"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
            turns[step.min(turns.len() - 1)].clone()
        }
        _ => say("ok"),
    };
    let model = req["model"].as_str().unwrap_or("claude-test").to_string();
    let mut sse = String::new();
    let mut ev =
        |name: &str, data: Value| sse.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    ev(
        "message_start",
        json!({"type":"message_start","message":{"id":format!("msg_test_{}", crate_random()),"type":"message","role":"assistant","model":model,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":120,"output_tokens":1}}}),
    );
    let mut index = 0;
    if !turn.text.is_empty() {
        ev(
            "content_block_start",
            json!({"type":"content_block_start","index":index,"content_block":{"type":"text","text":""}}),
        );
        ev(
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"text_delta","text":turn.text}}),
        );
        ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":index}),
        );
        index += 1;
    }
    for (name, input) in &turn.tools {
        ev(
            "content_block_start",
            json!({"type":"content_block_start","index":index,"content_block":{"type":"tool_use","id":format!("toolu_test_{}", crate_random()),"name":name,"input":{}}}),
        );
        ev(
            "content_block_delta",
            json!({"type":"content_block_delta","index":index,"delta":{"type":"input_json_delta","partial_json":input.to_string()}}),
        );
        ev(
            "content_block_stop",
            json!({"type":"content_block_stop","index":index}),
        );
        index += 1;
    }
    let stop = if turn.tools.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    ev(
        "message_delta",
        json!({"type":"message_delta","delta":{"stop_reason":stop,"stop_sequence":null},"usage":{"output_tokens":30}}),
    );
    ev("message_stop", json!({"type":"message_stop"}));
    write!(
        out,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n{sse}"
    )
}

fn crate_random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::hash::RandomState::new().build_hasher().finish()
}

/// A brain repo made by `brain init` (its default `claude-code` agent), and the environment
/// that finds the real `claude`, not logged in at all (see [`logged_in`]).
fn setup() -> (Repo, Vec<(String, String)>) {
    let claude = npm_tool("claude");
    let r = Repo::new();
    let bin: PathBuf = claude.parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = vec![
        ("PATH".to_string(), path),
        ("TZ".to_string(), "UTC".to_string()),
        ("DISABLE_AUTOUPDATER".to_string(), "1".to_string()),
        ("DISABLE_TELEMETRY".to_string(), "1".to_string()),
        (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_string(),
            "1".to_string(),
        ),
        ("CLAUDE_CODE_MAX_RETRIES".to_string(), "0".to_string()),
        // The real clock: claude's own checks of time must not meet a pinned one.
        ("BRAIN_NOW".to_string(), String::new()),
    ];
    (r, env)
}

/// `env` with `claude` logged in with a key, and pointed at `server`.
fn logged_in(mut env: Vec<(String, String)>, server: &Server) -> Vec<(String, String)> {
    env.push(("ANTHROPIC_BASE_URL".to_string(), server.url()));
    env.push((
        "ANTHROPIC_API_KEY".to_string(),
        "sk-ant-test-key".to_string(),
    ));
    env
}

fn run(r: &Repo, env: &[(String, String)]) -> crate::support::Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    r.brain_env(&env, &["run", "--agent", "claude-code"])
}

fn task_text(r: &Repo, id: &str) -> String {
    let at = r.where_is(id);
    assert_eq!(at.len(), 1, "{at:?}");
    r.read(&format!("tasks/{}", at[0]))
}

/// The tool results the CLI sent back to the model, as text.
fn tool_results(requests: &[Value]) -> String {
    requests
        .last()
        .map(|r| r["messages"].to_string())
        .unwrap_or_default()
}

#[test]
fn the_default_command_writes_the_file_the_task_asks_for_and_asks_the_person() {
    let (r, env) = setup();
    // Claude Code's Write takes an absolute path.
    let out_file = r.path("notes/drafts.md");
    let id = r.add(&[
        "Sort the drafts",
        "--body",
        "Write notes/drafts.md, and ask which folder the drafts are in.",
    ]);
    let server = Server::start(Script::Turns(vec![
        call(
            "Write",
            json!({"file_path": out_file.display().to_string(), "content": "# Drafts\n\nSorted by claude.\n"}),
        ),
        call(
            "Bash",
            json!({"command": format!("brain ask \"Which folder are the drafts in?\" --task {id}"), "description": "Ask the person"}),
        ),
        say("Wrote notes/drafts.md and asked which folder the drafts are in."),
    ]));
    let env = logged_in(env, &server);
    run(&r, &env).ok();
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "# Drafts\n\nSorted by claude.\n"
    );
    let pending = r.read("prompts/pending.md");
    assert!(
        pending.contains("Which folder are the drafts in?"),
        "{pending}"
    );
    assert!(pending.contains(&id), "{pending}");
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    let text = task_text(&r, &id);
    assert!(
        text.contains("Wrote notes/drafts.md and asked which folder the drafts are in."),
        "{text}"
    );
    assert!(text.contains("- session_id: "), "{text}");
    assert!(!text.contains("- denied:"), "{text}");
    // The prompt reached the model: the overnight instructions and the task.
    let first = &server.requests()[0];
    let sent = first["messages"].to_string();
    assert!(
        sent.contains("Overnight run") && sent.contains("Sort the drafts"),
        "{sent}"
    );
}

#[test]
fn a_denied_tool_fails_the_task_with_the_denial() {
    let server = Server::start(Script::Turns(vec![
        call(
            "Bash",
            json!({"command": "npm test", "description": "Run the tests"}),
        ),
        say("I could not run the tests."),
    ]));
    let (r, env) = setup();
    let env = logged_in(env, &server);
    let id = r.add(&["Run the tests"]);
    run(&r, &env).ok();
    let results = tool_results(&server.requests());
    assert!(results.contains("tool_result"), "{results}");
    let text = task_text(&r, &id);
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")], "{text}");
    assert!(text.contains("## Failure"), "{text}");
    assert!(
        text.contains("the agent was denied 1 tool use: Bash(npm test)"),
        "{text}"
    );
    assert!(text.contains("attempt: 1"), "{text}");
}

#[test]
fn not_logged_in_stops_the_run_and_leaves_the_queue_as_it_was() {
    let (r, env) = setup();
    let ids: Vec<String> = (0..3).map(|i| r.add(&[&format!("task {i}")])).collect();
    let err = run(&r, &env).fails(8);
    assert!(
        err.contains("claude is not logged in: run `claude` once and log in"),
        "{err}"
    );
    assert!(err.contains("Not logged in"), "{err}");
    for id in &ids {
        assert_eq!(r.where_is(id), [format!("pending/{id}.md")]);
        assert!(!task_text(&r, id).contains("attempt: 1"));
    }
    // The day's log (of today: these runs keep the real clock).
    let log = std::fs::read_dir(r.path("logs"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with("-overnight.log"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("the day's log");
    assert!(log.contains("claude is not logged in"), "{log}");
}

#[test]
fn a_429_from_the_api_is_a_usage_limit_not_a_failure() {
    let server = Server::start(Script::Refuse(
        429,
        r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit. Please try again later."}}"#,
    ));
    let (r, env) = setup();
    let env = logged_in(env, &server);
    let id = r.add(&["one"]);
    let err = run(&r, &env).fails(7);
    assert!(err.contains("usage limit"), "{err}");
    let text = task_text(&r, &id);
    assert!(
        text.contains("attempt: 0") && text.contains("- reason: usage limit"),
        "{text}"
    );
}

#[test]
fn a_tasks_max_turns_reaches_claude_and_a_capped_session_fails() {
    let (r, env) = setup();
    let marker = r.path("notes/turn.md");
    // The model would go on writing forever.
    let server = Server::start(Script::Turns(vec![call(
        "Write",
        json!({"file_path": marker.display().to_string(), "content": "again\n"}),
    )]));
    let env = logged_in(env, &server);
    let id = r.add(&["Loop", "--max-turns", "2"]);
    run(&r, &env).ok();
    let text = task_text(&r, &id);
    assert!(text.contains("## Failure"), "{text}");
    assert!(
        text.contains("the task's turn limit (max_turns = 2"),
        "{text}"
    );
    assert!(server.requests().len() <= 3, "{}", server.requests().len());
}

/// The real CLI loads the hooks `brain setup claude --project` wrote into a code project's
/// settings and runs brain's SessionStart hook: its primer reaches the model.
#[test]
fn the_real_cli_runs_the_session_start_hook_and_its_primer_reaches_the_model() {
    let (r, env) = setup();
    let id = r.add(&["Waiting for Claude Code"]);
    let project = tempfile::tempdir().unwrap();
    let config_dir = tempfile::tempdir().unwrap();
    r.brain(&[
        "setup",
        "claude",
        "--project",
        project.path().to_str().unwrap(),
    ])
    .ok();
    let server = Server::start(Script::Turns(vec![say("Hello.")]));
    let env = logged_in(env, &server);
    let out = std::process::Command::new(npm_tool("claude"))
        .args(["-p", "Say hello", "--output-format", "json"])
        .current_dir(project.path())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("HOME", r.home())
        .env("CLAUDE_CONFIG_DIR", config_dir.path())
        .env_remove("BRAIN_REPO")
        .env_remove("BRAIN_AGENT")
        .env_remove("CLAUDE_ENV_FILE")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: String = server.requests().iter().map(|r| r.to_string()).collect();
    assert!(
        sent.contains(
            "brain: this Claude Code session is the agent claude-code of the brain repo at"
        ),
        "the primer did not reach the model: {sent}"
    );
    assert!(sent.contains(&id), "{sent}");
    // Claude Code gave the hook a CLAUDE_ENV_FILE (in its config folder), and the hook told it
    // who the session's later commands are.
    let mut found = Vec::new();
    let mut dirs = vec![config_dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if std::fs::read_to_string(&p)
                .is_ok_and(|t| t.contains("export BRAIN_AGENT='claude-code'"))
            {
                found.push(p);
            }
        }
    }
    assert!(
        !found.is_empty(),
        "no CLAUDE_ENV_FILE with BRAIN_AGENT under {}",
        config_dir.path().display()
    );
}
