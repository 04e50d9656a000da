//! What an agent printed, read back: Claude Code's `--output-format json` result when it is
//! there, plain text otherwise.
//!
//! The result object (see `shared/notes/claude-code.md`): `type: "result"`, `subtype`,
//! `is_error`, `session_id`, `num_turns`, `total_cost_usd`, `usage` (`input_tokens`,
//! `output_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`), and `result` (the
//! final text) or `errors[]`. With `--verbose` the output is an array of messages, and the
//! result is its `type: "result"` element. Read defensively: any field may be missing.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

/// How much of the end of an agent's output brain reads back (a Claude Code result is the last
/// line of it): never the whole of an output that may be gigabytes.
pub const TAIL_BYTES: u64 = 1024 * 1024;

/// How much of an agent's output a summary keeps: its first and its last bytes.
pub const SUMMARY_HEAD: usize = 4 * 1024;
/// See [`SUMMARY_HEAD`].
pub const SUMMARY_TAIL: usize = 12 * 1024;

/// What brain read of an agent's output file.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The file's size in bytes.
    pub size: u64,
    /// Its first bytes (up to [`SUMMARY_HEAD`]).
    pub head: String,
    /// Its last bytes (up to [`TAIL_BYTES`]); all of it when it is that small.
    pub tail: String,
}

impl Output {
    /// Reads the start and the end of the output file at `path` (a missing one is empty).
    pub fn read(path: &Path) -> std::io::Result<Output> {
        let mut f = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Output::default()),
            Err(e) => return Err(e),
        };
        let size = f.metadata()?.len();
        let mut head = Vec::new();
        (&mut f).take(SUMMARY_HEAD as u64).read_to_end(&mut head)?;
        let from = size.saturating_sub(TAIL_BYTES);
        f.seek(SeekFrom::Start(from))?;
        let mut tail = Vec::new();
        f.take(TAIL_BYTES).read_to_end(&mut tail)?;
        Ok(Output {
            size,
            head: String::from_utf8_lossy(&head).into_owned(),
            tail: String::from_utf8_lossy(&tail).into_owned(),
        })
    }

    /// Whether [`Output::tail`] is all of it.
    pub fn whole(&self) -> bool {
        self.size <= TAIL_BYTES
    }

    /// A summary for git: a few lines about the output, then its first and last bytes.
    pub fn summary(&self, title: &str, facts: &[(&str, String)]) -> String {
        let mut out = format!("# {title}\n\n");
        for (k, v) in facts {
            out.push_str(&format!("- {k}: {v}\n"));
        }
        out.push_str(&format!(
            "- size: {} ({} bytes)\n\n",
            crate::fsutil::format_size(self.size),
            self.size
        ));
        let body = if self.size as usize <= SUMMARY_HEAD + SUMMARY_TAIL && self.whole() {
            self.tail.clone()
        } else {
            format!(
                "{}\n\n[… {} left out: the whole output is in the log named above …]\n\n{}",
                cut_at(&self.head, SUMMARY_HEAD, false),
                crate::fsutil::format_size(
                    self.size
                        .saturating_sub((SUMMARY_HEAD + SUMMARY_TAIL) as u64)
                ),
                cut_at(&self.tail, SUMMARY_TAIL, true)
            )
        };
        let fence = "`".repeat(longest_run(&body, '`').max(2) + 1);
        out.push_str(&format!("{fence}text\n{}\n{fence}\n", body.trim_end()));
        out
    }
}

/// At most `max` bytes of `text`, from its end (`from_end`) or its start, cut at a character
/// boundary.
fn cut_at(text: &str, max: usize, from_end: bool) -> &str {
    if text.len() <= max {
        return text;
    }
    if from_end {
        let mut at = text.len() - max;
        while !text.is_char_boundary(at) {
            at += 1;
        }
        &text[at..]
    } else {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        &text[..at]
    }
}

/// The end of `text`, at most `max` bytes, with a first line that says what was left out and
/// where the whole is (`where_`): for a task's result, which must stay a file brain can read.
pub fn keep_end(text: &str, max: usize, where_: &str) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let end = cut_at(text, max, true);
    format!(
        "[… the first {} are left out here; the whole is in {where_} …]\n\n{end}",
        crate::fsutil::format_size((text.len() - end.len()) as u64)
    )
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        run = if ch == c { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

/// Token counts an agent reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Tokens {
    /// Everything the session used.
    pub fn total(&self) -> u64 {
        self.input + self.output + self.cache_creation + self.cache_read
    }
}

/// A stream-json `rate_limit_event`'s `rate_limit_info` (Claude Code with
/// `--output-format stream-json --verbose`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// `allowed`, `allowed_warning` or `rejected`.
    pub status: String,
    /// When the limit resets (`resetsAt`, epoch seconds).
    pub resets_at: Option<i64>,
    /// `five_hour`, `seven_day`, `seven_day_opus`, `seven_day_sonnet`, `overage`.
    pub kind: Option<String>,
}

/// An agent's session as far as its output tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The text to record as the task's result (or error).
    pub text: String,
    /// Whether the agent said it failed (`is_error: true`), whatever its exit code.
    pub is_error: bool,
    /// The result's `subtype` (`success`, `error_max_turns`, `error_max_budget_usd`,
    /// `error_during_execution`).
    pub subtype: Option<String>,
    /// The HTTP status of the API error that ended the session (`api_error_status`).
    pub api_error_status: Option<u64>,
    /// Why the session ended (`terminal_reason`: `api_error`, ...), where Claude Code says.
    pub terminal_reason: Option<String>,
    /// The tool uses the agent was not allowed (`permission_denials`), each as
    /// `Tool(what)`: `Write(notes.md)`, `Bash(rm -r build)`.
    pub denials: Vec<String>,
    /// The last `rate_limit_event` of a stream-json output.
    pub rate_limit: Option<RateLimitInfo>,
    pub session_id: Option<String>,
    pub num_turns: Option<u64>,
    pub total_cost_usd: Option<f64>,
    /// `None` when the agent reported no token counts.
    pub tokens: Option<Tokens>,
    /// Whether this came from a Claude Code result object.
    pub structured: bool,
}

impl Report {
    /// Reads an agent's output. Plain text (or JSON that is not a result object) is kept as it
    /// is, trimmed.
    pub fn parse(output: &str) -> Report {
        let trimmed = output.trim();
        let result = serde_json::from_str::<Value>(trimmed)
            .ok()
            .and_then(find_result)
            .or_else(|| {
                // Some other line (a warning on stderr) around the object: try each line.
                trimmed
                    .lines()
                    .rev()
                    .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
                    .find_map(find_result)
            })
            .or_else(|| last_result_object(trimmed));
        let mut report = match result {
            Some(r) => from_result(&r),
            None => Report {
                text: trimmed.to_string(),
                ..Report::default()
            },
        };
        report.rate_limit = last_rate_limit(trimmed);
        report
    }

    /// The `- key: value` lines that record the session in the task.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let mut v = Vec::new();
        if let Some(s) = &self.session_id {
            v.push(("session_id", s.clone()));
        }
        if let Some(n) = self.num_turns {
            v.push(("num_turns", n.to_string()));
        }
        if let Some(c) = self.total_cost_usd {
            v.push(("total_cost_usd", format!("{c:.4}")));
        }
        if !self.denials.is_empty() {
            v.push(("denied", self.denials.join(", ")));
        }
        if let Some(t) = &self.tokens {
            v.push((
                "usage",
                format!(
                    "input_tokens {}, output_tokens {}, cache_creation_input_tokens {}, cache_read_input_tokens {}",
                    t.input, t.output, t.cache_creation, t.cache_read
                ),
            ));
        }
        v
    }
}

/// The last `rate_limit_event` line of a stream-json output.
fn last_rate_limit(text: &str) -> Option<RateLimitInfo> {
    text.lines().rev().take(10_000).find_map(|l| {
        if !l.contains("rate_limit_event") {
            return None;
        }
        let v: Value = serde_json::from_str(l.trim()).ok()?;
        if v.get("type").and_then(Value::as_str) != Some("rate_limit_event") {
            return None;
        }
        let info = v.get("rate_limit_info")?;
        Some(RateLimitInfo {
            status: info.get("status").and_then(Value::as_str)?.to_string(),
            resets_at: info.get("resetsAt").and_then(Value::as_i64),
            kind: info
                .get("rateLimitType")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    })
}

/// A denied tool use as `Tool(what)`: the file it would write, the command it would run.
fn denial(d: &Value) -> Option<String> {
    let tool = d.get("tool_name").and_then(Value::as_str)?;
    let input = d.get("tool_input");
    let what = input.and_then(|i| {
        [
            "file_path",
            "command",
            "path",
            "url",
            "pattern",
            "notebook_path",
        ]
        .iter()
        .find_map(|k| i.get(*k).and_then(Value::as_str))
    });
    Some(match what {
        Some(w) => {
            let w = w.lines().next().unwrap_or_default();
            let short: String = w.chars().take(80).collect();
            let more = if short.len() < w.len() { "…" } else { "" };
            format!("{tool}({short}{more})")
        }
        None => tool.to_string(),
    })
}

/// The last `{"type":"result",…}` object in `text`, parsed from where it starts: found also
/// when only the end of a long output was read, or inside an array too long to read whole.
fn last_result_object(text: &str) -> Option<Value> {
    let mut end = text.len();
    while let Some(at) = text[..end].rfind("\"type\"") {
        end = at;
        let Some(open) = text[..at].rfind('{') else {
            continue;
        };
        let mut values = serde_json::Deserializer::from_str(&text[open..]).into_iter::<Value>();
        if let Some(Ok(v)) = values.next()
            && let Some(r) = find_result(v)
        {
            return Some(r);
        }
    }
    None
}

/// The result object in a value: the value itself, or the `type: "result"` element of an array.
fn find_result(v: Value) -> Option<Value> {
    match v {
        Value::Object(ref m) if m.get("type").and_then(Value::as_str) == Some("result") => Some(v),
        Value::Array(items) => items
            .into_iter()
            .rev()
            .find(|i| i.get("type").and_then(Value::as_str) == Some("result")),
        _ => None,
    }
}

fn from_result(r: &Value) -> Report {
    let u64_at = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    let is_error = r.get("is_error").and_then(Value::as_bool).unwrap_or(false)
        || r.get("subtype")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with("error"));
    let text = match r.get("result").and_then(Value::as_str) {
        Some(t) => t.to_string(),
        None => {
            let errors: Vec<String> = r
                .get("errors")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|e| match e.as_str() {
                            Some(s) => s.to_string(),
                            None => e.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            match (errors.is_empty(), r.get("subtype").and_then(Value::as_str)) {
                (false, _) => errors.join("\n"),
                (true, Some(s)) => format!("the agent ended with `{s}` and no result text"),
                (true, None) => String::new(),
            }
        }
    };
    let tokens = r.get("usage").filter(|u| u.is_object()).map(|u| Tokens {
        input: u64_at(u, "input_tokens").unwrap_or(0),
        output: u64_at(u, "output_tokens").unwrap_or(0),
        cache_creation: u64_at(u, "cache_creation_input_tokens").unwrap_or(0),
        cache_read: u64_at(u, "cache_read_input_tokens").unwrap_or(0),
    });
    let str_at = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    let mut denials: Vec<String> = r
        .get("permission_denials")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(denial).collect())
        .unwrap_or_default();
    denials.dedup();
    Report {
        text: text.trim().to_string(),
        is_error,
        subtype: str_at("subtype"),
        api_error_status: u64_at(r, "api_error_status"),
        terminal_reason: str_at("terminal_reason"),
        denials,
        rate_limit: None,
        session_id: r
            .get("session_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        num_turns: u64_at(r, "num_turns"),
        total_cost_usd: r.get("total_cost_usd").and_then(Value::as_f64),
        tokens,
        structured: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESULT: &str = r#"{"type":"result","subtype":"success","is_error":false,"duration_ms":2841,"num_turns":4,"result":"Wrote the summary to knowledge/insights/vault.md.","session_id":"0b6c1c52-5a2f-4a3e-9f0e-1d2c3b4a5f60","total_cost_usd":0.0421,"usage":{"input_tokens":1200,"cache_creation_input_tokens":300,"cache_read_input_tokens":9000,"output_tokens":450}}"#;

    #[test]
    fn reads_claude_codes_result_object() {
        let r = Report::parse(RESULT);
        assert!(r.structured && !r.is_error);
        assert_eq!(r.text, "Wrote the summary to knowledge/insights/vault.md.");
        assert_eq!(
            r.session_id.as_deref(),
            Some("0b6c1c52-5a2f-4a3e-9f0e-1d2c3b4a5f60")
        );
        assert_eq!(r.num_turns, Some(4));
        assert_eq!(r.total_cost_usd, Some(0.0421));
        assert_eq!(r.tokens.as_ref().map(Tokens::total), Some(10_950));
    }

    #[test]
    fn reads_the_result_element_of_verbose_output_and_of_mixed_lines() {
        let verbose = format!(r#"[{{"type":"system","subtype":"init"}},{RESULT}]"#);
        assert_eq!(Report::parse(&verbose).num_turns, Some(4));
        let mixed = format!("warning: something on stderr\n{RESULT}\n");
        assert_eq!(Report::parse(&mixed).num_turns, Some(4));
    }

    #[test]
    fn an_error_result_is_an_error_with_its_messages() {
        let r = Report::parse(
            r#"{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["Reached max turns (3)"]}"#,
        );
        assert!(r.is_error);
        assert_eq!(r.text, "Reached max turns (3)");
        assert_eq!(r.tokens, None);
    }

    #[test]
    fn finds_the_result_at_the_end_of_a_long_output_read_from_its_middle() {
        // What reading the last part of a long verbose output gives: the start is cut.
        let cut =
            format!(r#"t":"a long line cut in the middle"}}]}},{{"type":"assistant"}},{RESULT}]"#);
        assert_eq!(Report::parse(&cut).num_turns, Some(4));
    }

    #[test]
    fn reads_denials_api_errors_and_rate_limit_events() {
        let r = Report::parse(
            r#"{"type":"result","subtype":"success","is_error":false,"result":"I could not write the file.","permission_denials":[{"tool_name":"Write","tool_use_id":"t1","tool_input":{"file_path":"/repo/notes.md","content":"x"}},{"tool_name":"Bash","tool_use_id":"t2","tool_input":{"command":"brain ask 'which one?'"}},{"tool_name":"WebFetch","tool_use_id":"t3","tool_input":{}}]}"#,
        );
        assert_eq!(
            r.denials,
            [
                "Write(/repo/notes.md)",
                "Bash(brain ask 'which one?')",
                "WebFetch"
            ]
        );
        assert!(
            r.fields()
                .iter()
                .any(|(k, v)| *k == "denied" && v.contains("Write("))
        );
        let r = Report::parse(
            r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":429,"terminal_reason":"api_error","result":"API Error: Request rejected (429)"}"#,
        );
        assert_eq!(r.api_error_status, Some(429));
        assert_eq!(r.terminal_reason.as_deref(), Some("api_error"));
        assert_eq!(r.subtype.as_deref(), Some("success"));
        let stream = concat!(
            r#"{"type":"system","subtype":"init"}"#,
            "\n",
            r#"{"type":"rate_limit_event","rate_limit_info":{"status":"rejected","resetsAt":1767322800,"rateLimitType":"five_hour"}}"#,
            "\n",
            r#"{"type":"result","subtype":"success","is_error":true,"result":"limit"}"#,
            "\n"
        );
        let r = Report::parse(stream);
        let info = r.rate_limit.unwrap();
        assert_eq!(info.status, "rejected");
        assert_eq!(info.resets_at, Some(1_767_322_800));
        assert_eq!(info.kind.as_deref(), Some("five_hour"));
        assert!(r.is_error);
    }

    #[test]
    fn other_output_is_kept_as_text() {
        let r = Report::parse("  done: 3 files\n");
        assert!(!r.structured && !r.is_error);
        assert_eq!(r.text, "done: 3 files");
        let json_but_not_a_result = Report::parse(r#"{"answer": 42}"#);
        assert_eq!(json_but_not_a_result.text, r#"{"answer": 42}"#);
        assert!(json_but_not_a_result.fields().is_empty());
    }
}
