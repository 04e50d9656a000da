//! One Claude Code transcript (`*.jsonl`) read into usage entries, by ccusage's rules (see
//! [`crate::usage::import`]): what counts as an entry, and what is skipped.

use std::borrow::Cow;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::store::cache::Stamp;

/// Token counts, as ccusage names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cache_read_tokens: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_creation_tokens + self.cache_read_tokens
    }

    pub(crate) fn add(&mut self, o: &Counts) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_creation_tokens += o.cache_creation_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
    }
}

/// One usage entry of a transcript, as the cache keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub ts_ms: i64,
    /// Hashes of `message.id` and `requestId` (0: none).
    pub msg: u64,
    pub req: u64,
    pub sidechain: bool,
    pub counts: Counts,
    /// Indexes into the file's sessions and models (`u32::MAX`: none).
    pub session: u32,
    pub model: u32,
}

/// One transcript as read so far.
#[derive(Debug, Clone)]
pub(crate) struct FileData {
    pub path: PathBuf,
    pub stamp: Stamp,
    /// How far the file was read (whole lines).
    pub parsed_upto: u64,
    /// A digest of the [`TAIL`] bytes before `parsed_upto`.
    pub tail: u64,
    pub sessions: Vec<String>,
    pub models: Vec<String>,
    pub entries: Vec<Entry>,
    /// The last usage-limit message among the file's API errors (its time in ms).
    pub limit: Option<(i64, String)>,
}

impl FileData {
    pub(crate) fn new(path: PathBuf, stamp: Stamp) -> FileData {
        FileData {
            path,
            stamp,
            parsed_upto: 0,
            tail: 0,
            sessions: Vec::new(),
            models: Vec::new(),
            entries: Vec::new(),
            limit: None,
        }
    }
}

/// A string field that must be a non-empty string when present (ccusage skips a line whose
/// id, model or version is null or empty).
fn strict<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: serde::de::Error>(
            self,
            v: &'de str,
        ) -> std::result::Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_string()))
        }
    }
    let s = d.deserialize_str(V)?;
    if s.is_empty() {
        return Err(serde::de::Error::custom("empty"));
    }
    Ok(Some(s))
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default, deserialize_with = "strict")]
    timestamp: Option<Cow<'a, str>>,
    #[serde(rename = "sessionId", borrow, default, deserialize_with = "strict")]
    session_id: Option<Cow<'a, str>>,
    #[serde(rename = "requestId", borrow, default, deserialize_with = "strict")]
    request_id: Option<Cow<'a, str>>,
    #[serde(rename = "isSidechain", default)]
    is_sidechain: Option<bool>,
    #[serde(borrow, default, deserialize_with = "strict")]
    version: Option<Cow<'a, str>>,
    // Checked, not used: a line where these are null or empty is not an entry.
    #[serde(rename = "cwd", borrow, default, deserialize_with = "strict")]
    _cwd: Option<Cow<'a, str>>,
    #[serde(rename = "costUSD", default, deserialize_with = "present")]
    _cost_usd: Option<f64>,
    #[serde(rename = "isApiErrorMessage", default, deserialize_with = "present")]
    _is_api_error: Option<bool>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    data: Option<Progress<'a>>,
}

#[derive(Deserialize)]
struct Progress<'a> {
    #[serde(borrow)]
    message: Box<Line<'a>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    usage: Usage,
    #[serde(borrow, default, deserialize_with = "strict")]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "strict")]
    id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    #[serde(default, deserialize_with = "present")]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    cache_read_input_tokens: Option<u64>,
}

/// A field that may be missing but, when present, must be a `T` (ccusage skips a line whose
/// token count or flag is null).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Whether `t` is a time as Claude Code writes it (and ccusage accepts):
/// `2026-01-31T02:30:00Z` or `2026-01-31T02:30:00.123Z`.
fn iso(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = |len: usize| {
        b.len() == len
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19)
            && b[len - 1] == b'Z'
    };
    shape(20) || (shape(24) && b[19] == b'.' && digits(20..23))
}

#[derive(Deserialize)]
struct ErrorLine {
    message: ErrorMessage,
}

#[derive(Deserialize)]
struct ErrorMessage {
    #[serde(default)]
    content: Vec<Value>,
}

/// A 64-bit digest of an id (SHA-1's first bytes: ids that differ never collide in practice).
fn digest(s: &str) -> u64 {
    use sha1::Digest;
    let h = sha1::Sha1::digest(s.as_bytes());
    u64::from_le_bytes(h[..8].try_into().unwrap_or_default()).max(1)
}

fn semver_prefix(v: &str) -> bool {
    let mut parts = v.splitn(3, '.');
    let num =
        |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let (a, b) = (parts.next(), parts.next());
    let c = parts.next().map(|c| {
        c.split(|ch: char| !ch.is_ascii_digit())
            .next()
            .unwrap_or("")
    });
    num(a) && num(b) && num(c)
}

fn index_of(table: &mut Vec<String>, s: &str) -> u32 {
    match table.iter().rposition(|t| t == s) {
        Some(i) => i as u32,
        None => {
            table.push(s.to_string());
            (table.len() - 1) as u32
        }
    }
}

/// Reads the lines of `bytes` (a file's content from some offset) into `data`; returns how
/// many bytes were whole lines (or a last line that parsed whole).
pub(crate) fn parse_into(bytes: &[u8], data: &mut FileData) -> usize {
    let usage = memchr::memmem::Finder::new(br#""usage":{"#);
    let api_error = memchr::memmem::Finder::new(br#""isApiErrorMessage":true"#);
    let stem = data
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut at = 0;
    let mut consumed = 0;
    while at < bytes.len() {
        let (line, next, whole) = match memchr::memchr(b'\n', &bytes[at..]) {
            Some(i) => (&bytes[at..at + i], at + i + 1, true),
            None => (&bytes[at..], bytes.len(), false),
        };
        at = next;
        if usage.find(line).is_none() {
            if whole {
                consumed = at;
            }
            continue;
        }
        let parsed = serde_json::from_slice::<Line<'_>>(line);
        if whole || parsed.is_ok() {
            consumed = at;
        }
        let Ok(mut l) = parsed else { continue };
        if l.message.is_none()
            && let Some(p) = l.data.take()
        {
            l = *p.message;
        }
        let Some(m) = &l.message else { continue };
        let Some(ts) = l
            .timestamp
            .as_deref()
            .filter(|t| iso(t))
            .and_then(|t| t.parse::<Timestamp>().ok())
        else {
            continue;
        };
        if l.version.as_deref().is_some_and(|v| !semver_prefix(v)) {
            continue;
        }
        if m.model.as_deref() == Some("<synthetic>") {
            if api_error.find(line).is_some()
                && let Ok(e) = serde_json::from_slice::<ErrorLine>(line)
                && let Some(text) = e
                    .message
                    .content
                    .iter()
                    .find_map(|c| c.get("text").and_then(Value::as_str))
            {
                data.limit = Some((ts.as_millisecond(), text.to_string()));
            }
            continue;
        }
        let counts = Counts {
            input_tokens: m.usage.input_tokens,
            output_tokens: m.usage.output_tokens,
            cache_creation_tokens: m.usage.cache_creation_input_tokens.unwrap_or(0),
            cache_read_tokens: m.usage.cache_read_input_tokens.unwrap_or(0),
        };
        let session = index_of(&mut data.sessions, l.session_id.as_deref().unwrap_or(&stem));
        let model = m
            .model
            .as_deref()
            .map_or(u32::MAX, |x| index_of(&mut data.models, x));
        data.entries.push(Entry {
            ts_ms: ts.as_millisecond(),
            msg: m.id.as_deref().map_or(0, digest),
            req: l.request_id.as_deref().map_or(0, digest),
            sidechain: l.is_sidechain == Some(true),
            counts,
            session,
            model,
        });
    }
    consumed
}

#[cfg(test)]
pub(crate) mod tests {
    /// A transcript line of an assistant message with usage, as Claude Code writes it:
    /// `message.id` `msg`, `requestId` `req`, `out` output tokens, and `more` fields.
    pub(crate) fn line(msg: Option<&str>, req: Option<&str>, out: u64, more: &str) -> String {
        let ids = msg.map(|m| format!(r#""id":"{m}","#)).unwrap_or_default();
        let req = req
            .map(|r| format!(r#""requestId":"{r}","#))
            .unwrap_or_default();
        format!(
            r#"{{"type":"assistant","sessionId":"s1","version":"2.1.332",{req}"timestamp":"2026-11-30T10:00:00.000Z",{more}"message":{{{ids}"model":"claude-sonnet-4-5","usage":{{"input_tokens":10,"output_tokens":{out},"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}}}}}"#
        ) + "\n"
    }
}
