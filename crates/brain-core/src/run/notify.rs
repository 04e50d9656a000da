//! `[notify]`: what a run tells the person, and when (the seed's open question "should failed
//! tasks notify you immediately or batch for morning review?": per kind of event, the person
//! chooses; by default a usage limit is said at once, the rest in one message at the end of
//! the run, with the morning review).
//!
//! A message goes to a command (an argument list, never a shell, with the message as JSON on
//! its stdin) and/or an HTTP POST in ntfy's style (the text as the body; `Title`, `Tags` and
//! `Priority` headers). `http://` is spoken here; `https://` goes through `curl`, so that
//! brain carries no TLS stack. Each delivery is time-boxed: a notifier that fails or hangs is
//! stopped and logged, and never holds up the run.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{NotifyConfig, When};
use crate::run::process;
use crate::task::time::format_ts;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A question or an approval waits for the person.
    Question,
    /// A task failed for good.
    Failed,
    /// The plan's usage limit was hit.
    Limit,
    /// The run finished.
    Run,
    /// The batch sent at the end of a run: the events of kind `morning`.
    Morning,
}

/// One message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub kind: Kind,
    pub title: String,
    /// The text, as a person reads it.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// For a limit: when it resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    pub at: String,
    pub repo: String,
    pub machine: String,
    /// For the morning batch: what it gathers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Message>,
    /// For the morning batch: the review file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review: Option<String>,
}

/// The notifications of one run.
pub struct Notifier {
    config: NotifyConfig,
    repo: String,
    machine: String,
    batch: Vec<Message>,
}

impl Notifier {
    pub fn new(config: &NotifyConfig, repo: &std::path::Path, machine: &str) -> Notifier {
        Notifier {
            config: config.clone(),
            repo: repo.display().to_string(),
            machine: machine.to_string(),
            batch: Vec::new(),
        }
    }

    /// Whether anything is to be sent at all.
    pub fn enabled(&self) -> bool {
        !self.config.command.is_empty() || self.config.url.is_some()
    }

    fn when(&self, kind: Kind) -> When {
        match kind {
            Kind::Question => self.config.question,
            Kind::Failed => self.config.failed,
            Kind::Limit => self.config.limit,
            Kind::Run => self.config.run,
            Kind::Morning => When::Immediate,
        }
    }

    /// A message of `kind` now; sent at once or kept for the end of the run, by `[notify]`.
    /// Returns what went wrong sending it, for the log.
    pub fn event(
        &mut self,
        kind: Kind,
        title: String,
        message: String,
        task: Option<String>,
        resets_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Vec<String> {
        if !self.enabled() {
            return Vec::new();
        }
        let m = Message {
            kind,
            title,
            message,
            task,
            resets_at: resets_at.map(format_ts),
            at: format_ts(now),
            repo: self.repo.clone(),
            machine: self.machine.clone(),
            events: Vec::new(),
            review: None,
        };
        match self.when(kind) {
            When::Off => Vec::new(),
            When::Morning => {
                self.batch.push(m);
                Vec::new()
            }
            When::Immediate => self.send(&m),
        }
    }

    /// The end of the run: the kept messages in one, with the review; what went wrong.
    pub fn finish(&mut self, review: Option<String>, now: Timestamp) -> Vec<String> {
        if self.batch.is_empty() {
            return Vec::new();
        }
        let events = std::mem::take(&mut self.batch);
        let mut text: Vec<String> = events.iter().map(|e| format!("- {}", e.message)).collect();
        if let Some(r) = &review {
            text.push(format!("The morning review: {r}"));
        }
        let m = Message {
            kind: Kind::Morning,
            title: format!("brain: {} from the night", plural(events.len(), "note")),
            message: text.join("\n"),
            task: None,
            resets_at: None,
            at: format_ts(now),
            repo: self.repo.clone(),
            machine: self.machine.clone(),
            events,
            review,
        };
        self.send(&m)
    }

    /// Delivers `m` to the command and the URL; what went wrong.
    fn send(&self, m: &Message) -> Vec<String> {
        let timeout = Duration::from_secs(self.config.timeout.max(1));
        let mut errors = Vec::new();
        if !self.config.command.is_empty() {
            let json = serde_json::to_string(m).unwrap_or_default();
            if let Err(e) = run_command(&self.config.command, json.as_bytes(), timeout) {
                errors.push(format!(
                    "notify: the command `{}` {e}",
                    self.config.command[0]
                ));
            }
        }
        if let Some(url) = &self.config.url {
            let result = if let Some(rest) = url.strip_prefix("http://") {
                post_http(rest, m, timeout)
            } else {
                post_curl(url, m, timeout)
            };
            if let Err(e) = result {
                errors.push(format!("notify: POST {url} {e}"));
            }
        }
        errors
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Runs `argv` with `input` on its stdin, for at most `timeout`.
fn run_command(argv: &[String], input: &[u8], timeout: Duration) -> Result<(), String> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let (mut child, tree) = process::spawn(cmd, &format!("{}-notify", std::process::id()))
        .map_err(|e| format!("cannot be started: {e}"))?;
    // Written from a thread: a notifier that never reads must not block the run.
    let mut stdin = child.stdin.take();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = stdin.as_mut() {
            let _ = s.write_all(&data);
        }
    });
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(4096).read_to_end(&mut text);
        }
        String::from_utf8_lossy(&text).trim().to_string()
    });
    let until = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        tree.kill();
        let _ = child.wait();
        return Err(format!(
            "took longer than {}s and was stopped",
            timeout.as_secs()
        ));
    };
    let _ = writer.join();
    // Whatever it left running goes too.
    tree.kill();
    let said = reader.join().unwrap_or_default();
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "failed ({status}){}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ))
    }
}

/// A header value: one line of ASCII, else RFC 2047 (`=?UTF-8?B?...?=`, which ntfy reads).
fn header(value: &str) -> String {
    let one_line = value.replace(['\r', '\n'], " ");
    if one_line.is_ascii() {
        one_line
    } else {
        format!("=?UTF-8?B?{}?=", base64(one_line.as_bytes()))
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn tags(m: &Message) -> &'static str {
    match m.kind {
        Kind::Question => "question",
        Kind::Failed => "x",
        Kind::Limit => "hourglass",
        Kind::Run | Kind::Morning => "sunrise",
    }
}

/// POST to `http://<rest>` with the standard library, within `timeout`.
fn post_http(rest: &str, m: &Message, timeout: Duration) -> Result<(), String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| format!("failed: {e}"))?
        .next()
        .ok_or("failed: the host has no address")?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).map_err(|e| format!("failed: {e}"))?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let body = m.message.as_bytes();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {hostport}\r\nUser-Agent: brain/{}\r\nContent-Type: text/plain; charset=utf-8\r\nTitle: {}\r\nTags: {}\r\nPriority: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION"),
        header(&m.title),
        tags(m),
        if m.kind == Kind::Limit {
            "high"
        } else {
            "default"
        },
        body.len()
    );
    s.write_all(req.as_bytes())
        .and_then(|_| s.write_all(body))
        .map_err(|e| format!("failed: {e}"))?;
    let mut reply = Vec::new();
    let _ = (&mut s).take(16 * 1024).read_to_end(&mut reply);
    let status = String::from_utf8_lossy(&reply)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code.starts_with('2') {
        Ok(())
    } else if status.is_empty() {
        Err("failed: no reply".into())
    } else {
        Err(format!("failed: {status}"))
    }
}

/// POST to an `https://` URL through `curl`, within `timeout`.
fn post_curl(url: &str, m: &Message, timeout: Duration) -> Result<(), String> {
    let argv: Vec<String> = [
        "curl",
        "-fsS",
        "--max-time",
        &timeout.as_secs().to_string(),
        "-X",
        "POST",
        "-H",
        &format!("Title: {}", header(&m.title)),
        "-H",
        &format!("Tags: {}", tags(m)),
        "--data-binary",
        "@-",
        url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run_command(
        &argv,
        m.message.as_bytes(),
        timeout + Duration::from_secs(2),
    )
    .map_err(|e| {
        if e.starts_with("cannot be started") {
            "failed: https:// needs curl on PATH".to_string()
        } else {
            format!("(curl) {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stay_one_line_and_non_ascii_is_encoded() {
        assert_eq!(header("a\nb"), "a b");
        assert_eq!(
            header("Zażółć"),
            format!("=?UTF-8?B?{}?=", base64("Zażółć".as_bytes()))
        );
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
