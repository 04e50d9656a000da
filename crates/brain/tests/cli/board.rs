//! `brain board` (issue 17): what a request must pass, checked over plain HTTP on a socket, and
//! the page in a real browser (headless Chromium through Selenium: tests/board/browser.py),
//! whose approvals, answers and added tasks are checked here in the files and the commits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use crate::support::Repo;

struct Board {
    child: Child,
    port: u16,
    /// What it printed: the address.
    url: String,
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn board(r: &Repo, args: &[&str]) -> Board {
    let mut child = r
        .cmd()
        .args(["board", "--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("brain board: ")
        .unwrap_or("")
        .to_string();
    let port = url
        .split(':')
        .nth(2)
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no address printed: {line:?}"));
    Board { child, port, url }
}

/// One HTTP/1.1 request: the status and the body.
fn http(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request.replace('\n', "\r\n").as_bytes())
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

fn get(port: u16, host: &str, path: &str) -> (u16, String) {
    http(
        port,
        &format!("GET {path} HTTP/1.1\nHost: {host}\nConnection: close\n\n"),
    )
}

fn post(port: u16, path: &str, headers: &str, body: &str) -> (u16, String) {
    http(
        port,
        &format!(
            "POST {path} HTTP/1.1\nHost: 127.0.0.1:{port}\nContent-Type: application/json\n{headers}Content-Length: {}\nConnection: close\n\n{body}",
            body.len()
        ),
    )
}

fn session_of(page: &str) -> String {
    let at = page.find("name=\"brain-session\" content=\"").unwrap() + 30;
    page[at..at + 32].to_string()
}

#[test]
fn the_board_answers_only_its_own_address_and_changes_need_the_pages_token() {
    let r = Repo::new();
    let gated = r.add(&["Gated", "--approval"]);
    let b = board(&r, &[]);
    let port = b.port;
    assert!(b.url.starts_with("http://127.0.0.1:"), "{}", b.url);

    let (code, page) = get(port, &format!("127.0.0.1:{port}"), "/");
    assert_eq!(code, 200, "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'none'; script-src 'self'"),
        "{page}"
    );
    let (code, _) = get(port, &format!("localhost:{port}"), "/api/board");
    assert_eq!(code, 200);
    // DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
    let (code, body) = get(port, &format!("evil.example:{port}"), "/api/board");
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("answers only to the address it printed"),
        "{body}"
    );

    let session = session_of(&page);
    let approve = format!(r#"{{"id":"{gated}"}}"#);
    let (code, body) = post(port, "/api/approve", "", &approve);
    assert_eq!(code, 403, "without the token: {body}");
    let (code, body) = post(
        port,
        "/api/approve",
        &format!("X-Brain-Session: {session}\nOrigin: http://evil.example\n"),
        &approve,
    );
    assert_eq!(code, 403, "from another site: {body}");
    assert!(
        r.read(&format!("tasks/pending/{gated}.md"))
            .contains("approval: required")
    );

    let (code, body) = post(
        port,
        "/api/approve",
        &format!("X-Brain-Session: {session}\nOrigin: http://127.0.0.1:{port}\n"),
        &approve,
    );
    assert_eq!(code, 200, "{body}");
    assert!(
        r.read(&format!("tasks/pending/{gated}.md"))
            .contains("approval: approved")
    );
    assert_eq!(r.log()[0], format!("approve {gated}"));

    // The same action again, now that the state changed: refused, with why, nothing written.
    let (code, body) = post(
        port,
        "/api/deny",
        &format!("X-Brain-Session: {session}\n"),
        r#"{"id":"no-such-task","reason":"x"}"#,
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("no task with id `no-such-task`"), "{body}");
    let (code, body) = post(
        port,
        "/api/add",
        &format!("X-Brain-Session: {session}\n"),
        r#"{"title":"Bad","timeout":"90"}"#,
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("timeout"), "a bad field is named: {body}");
}

#[test]
fn beyond_loopback_the_board_needs_the_printed_key() {
    let r = Repo::new();
    let b = board(&r, &["--host", "0.0.0.0"]);
    let port = b.port;
    let key = b
        .url
        .split("key=")
        .nth(1)
        .expect("the printed address carries a key");
    assert_eq!(key.len(), 32, "{}", b.url);
    let (code, body) = get(port, &format!("127.0.0.1:{port}"), "/api/board");
    assert_eq!(code, 401, "{body}");
    let (code, resp) = get(port, &format!("127.0.0.1:{port}"), &format!("/?key={key}"));
    assert_eq!(code, 303, "{resp}");
    let cookie = resp
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a cookie")
        .to_string();
    let (code, _) = http(
        port,
        &format!(
            "GET /api/board HTTP/1.1\nHost: 127.0.0.1:{port}\nCookie: {cookie}\nConnection: close\n\n"
        ),
    );
    assert_eq!(code, 200);
    let (code, _) = get(
        port,
        &format!("127.0.0.1:{port}"),
        "/?key=0123456789abcdef0123456789abcdef",
    );
    assert_eq!(code, 401, "a wrong key");
    let (code, _) = get(port, &format!("evil.example:{port}"), "/api/board");
    assert_eq!(
        code, 401,
        "another site, rebound to this address, has no key"
    );

    // A phone reaches the machine by its address on the network, which brain cannot know.
    let (code, page) = http(
        port,
        &format!(
            "GET / HTTP/1.1\nHost: 192.168.1.5:{port}\nCookie: {cookie}\nConnection: close\n\n"
        ),
    );
    assert_eq!(code, 200, "{page}");
    let session = session_of(&page);
    let change = |origin: &str| {
        let body = r#"{"title":"phone 1"}"#;
        http(
            port,
            &format!(
                "POST /api/add HTTP/1.1\nHost: 192.168.1.5:{port}\nCookie: {cookie}\nX-Brain-Session: {session}\nOrigin: {origin}\nContent-Type: application/json\nContent-Length: {}\nConnection: close\n\n{body}",
                body.len()
            ),
        )
        .0
    };
    assert_eq!(change("http://evil.example"), 403, "from another site");
    assert_eq!(
        change(&format!("http://192.168.1.5:{port}")),
        200,
        "from the page itself"
    );
    assert!(r.log()[0].ends_with(": phone 1"), "{:?}", r.log());
}

#[cfg(target_os = "linux")] // Debian's chromium and chromium-driver (.ci/run installs them)
#[test]
fn the_board_in_a_real_browser() {
    let r = Repo::new();
    let ready = r.add(&["Ready one"]);
    let blocked = r.add(&["Blocked", "--depends-on", &ready]);
    let hostile = r#"Gated <img src=x onerror="window.pwned=1"> & <b>bold</b>"#;
    let gated = r.add(&[hostile, "--approval"]);
    let gated2 = r.add(&["Second gate", "--approval"]);
    let asked = r.brain(&["ask", "Which database?", "--agent", "a"]);
    let all = format!("{}{}", asked.stdout(), asked.stderr());
    let question = all
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| w.starts_with("q-"))
        .unwrap_or_else(|| panic!("no question id in {all}"))
        .to_string();
    let failed = r.add(&["Fails"]);
    r.brain(&["claim", "--agent", "b", &failed]).ok();
    r.brain(&[
        "fail",
        &failed,
        "--agent",
        "b",
        "--error",
        "the disk was full",
    ])
    .ok();
    let done = r.add(&["Done one"]);
    r.brain(&["claim", "--agent", "b", &done]).ok();
    r.brain(&["done", &done, "--agent", "b", "--result", "ok"])
        .ok();

    let ids = serde_json::json!({
        "ready": ready, "blocked": blocked, "gated": gated, "gated2": gated2,
        "hostile_title": hostile, "question": question, "failed": failed, "done": done,
    });
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("board-screenshots");
    let out = std::process::Command::new(crate::support::python_tools())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/board/browser.py"
        ))
        .arg(env!("CARGO_BIN_EXE_brain"))
        .arg(&r.root)
        .arg(&shots)
        .arg(ids.to_string())
        .env("HOME", r.home())
        .env("GIT_CONFIG_GLOBAL", r.home().join("gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("BRAIN_MACHINE", crate::support::MACHINE)
        .env_remove("BRAIN_NOW")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    eprintln!("{said}");

    // What the page did is in the files and in the history, one commit each.
    let log = r.log();
    assert!(log.contains(&format!("approve {gated}")), "{log:?}");
    assert!(log.contains(&format!("approve {gated2}")), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with(&format!("answer {question}"))),
        "{log:?}"
    );
    assert!(
        log.iter().any(|l| l.ends_with(": From the board")),
        "{log:?}"
    );
    assert!(
        log.contains(&format!("update {failed}: requeued")),
        "{log:?}"
    );
    assert!(r.read("prompts/answered.md").contains("Use Postgres 16"));
    assert!(
        r.read(&format!("tasks/pending/{gated}.md"))
            .contains("approval: approved")
    );
    assert!(r.tasks_in("pending").contains(&format!("{failed}.md")));
    assert!(shots.join("board-desktop.png").is_file() && shots.join("board-phone.png").is_file());
    // Everything the board did is committed; the one change left is the test's own hand edit.
    assert_eq!(
        r.git(&["status", "--porcelain"]).trim(),
        format!("M tasks/pending/{blocked}.md"),
    );
}
