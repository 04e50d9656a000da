//! What an agent printed, read back: Claude Code's `--output-format json` result when it is
//! there, plain text otherwise.
//!
//! The result object (see `shared/notes/claude-code.md`): `type: "result"`, `subtype`,
//! `is_error`, `session_id`, `num_turns`, `total_cost_usd`, `usage` (`input_tokens`,
//! `output_tokens`, `cache_creation_input_tokens`, `cache_read_input_tokens`), and `result` (the
//! final text) or `errors[]`. With `--verbose` the output is an array of messages, and the
//! result is its `type: "result"` element. Read defensively: any field may be missing.

use serde_json::Value;

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

/// An agent's session as far as its output tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The text to record as the task's result (or error).
    pub text: String,
    /// Whether the agent said it failed (`is_error: true`), whatever its exit code.
    pub is_error: bool,
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
            });
        match result {
            Some(r) => from_result(&r),
            None => Report {
                text: trimmed.to_string(),
                ..Report::default()
            },
        }
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
    Report {
        text: text.trim().to_string(),
        is_error,
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
    fn other_output_is_kept_as_text() {
        let r = Report::parse("  done: 3 files\n");
        assert!(!r.structured && !r.is_error);
        assert_eq!(r.text, "done: 3 files");
        let json_but_not_a_result = Report::parse(r#"{"answer": 42}"#);
        assert_eq!(json_but_not_a_result.text, r#"{"answer": 42}"#);
        assert!(json_but_not_a_result.fields().is_empty());
    }
}
