//! Reading a task file's frontmatter into [`Meta`]: loosely typed (a number where text is
//! expected is text, `requires: x` a one-item list, keys in any case), then validated, with
//! errors that name the line; and the warnings for what reads differently than a person may
//! expect (a misspelt field).

use std::fmt;
use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::error::{Error, Result};
use crate::task::frontmatter::Document;
use crate::task::model::{Approval, Meta, Priority};
use crate::task::names;
use crate::task::time::{parse_duration, parse_time};

/// A scalar read as text, whatever YAML type it has (`id: 123` reads as `"123"`).
#[derive(Debug, Clone)]
struct Text(String, bool);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a single value (text, number or time), not a list or a map")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string(), false))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Text, E> {
                Ok(Text(v, false))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string(), true))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string(), true))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string(), true))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Text, E> {
                Ok(Text(v.to_string(), false))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of them (`requires: file_access` is read as a one-item list).
#[derive(Debug, Clone, Default)]
struct List(Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = List;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<List, E> {
                Ok(List(split_names(v)))
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<List, E> {
                Ok(List(Vec::new()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<List, A::Error> {
                let mut out = Vec::new();
                while let Some(Text(t, _)) = seq.next_element::<Text>()? {
                    out.extend(split_names(&t));
                }
                Ok(List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `code_execution, file_access` (natural to type, and a capability or an id never has a
/// comma) is two names, not one.
fn split_names(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The fields brain reads, by their names in a task file.
pub const FIELDS: &[&str] = &[
    "id",
    "created",
    "priority",
    "requires",
    "preferred_interface",
    "timeout",
    "status",
    "title",
    "depends_on",
    "approval",
    "unattended",
    "not_before",
    "max_attempts",
    "max_turns",
    "max_budget_usd",
    "attempt",
    "epoch",
    "claimed_by",
    "claimed_at",
    "heartbeat_at",
    "completed_at",
    "failed_at",
];

#[derive(Deserialize, Default)]
#[serde(default)]
struct Raw {
    id: Option<Text>,
    created: Option<Text>,
    priority: Option<Text>,
    requires: Option<List>,
    preferred_interface: Option<Text>,
    timeout: Option<Text>,
    status: Option<Text>,
    title: Option<Text>,
    depends_on: Option<List>,
    approval: Option<Text>,
    unattended: Option<Text>,
    not_before: Option<Text>,
    max_attempts: Option<Text>,
    max_turns: Option<Text>,
    max_budget_usd: Option<Text>,
    attempt: Option<Text>,
    epoch: Option<Text>,
    claimed_by: Option<Text>,
    claimed_at: Option<Text>,
    heartbeat_at: Option<Text>,
    completed_at: Option<Text>,
    failed_at: Option<Text>,
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { with_snippet: false }
}

impl Meta {
    /// Parses the frontmatter of `doc`. Errors name `path` and the file line.
    pub fn parse(doc: &Document, path: &Path) -> Result<Meta> {
        let fm = doc.frontmatter();
        let raw: Raw = if fm.lines().all(|l| {
            let t = l.trim();
            t.is_empty() || t.starts_with('#')
        }) {
            Raw::default()
        } else {
            // `Priority:` and `Requires:` are read as the fields they name (brain's field
            // names are lower case, and a person typing them capitalised means them).
            let normalized = normalize_keys(fm);
            serde_saphyr::from_str_with_options(&normalized, yaml_options()).map_err(|e| {
                let found = e.location().map_or(1, |l| l.line() as usize);
                // A bracket or quote left open is only found on a later line: the mistake is
                // where it was opened.
                let first = doc.frontmatter_first_line() - 1;
                match opened_before(fm, found) {
                    Some((at, open)) => {
                        let key = key_above(fm, at).unwrap_or("the field");
                        let close = match open {
                            '[' => "`]`",
                            '{' => "`}`",
                            _ => "the closing quote",
                        };
                        Error::parse(
                            path,
                            at + first,
                            format!(
                                "`{key}`: the `{open}` opened here is never closed: add {close}"
                            ),
                        )
                    }
                    None => {
                        Error::parse(path, found + first, yaml_message(&e, key_above(fm, found)))
                    }
                }
            })?
        };
        let field_err = |key: &str, msg: String| {
            Error::parse(
                path,
                doc.key_line(key).unwrap_or(1),
                format!("`{key}`: {msg}"),
            )
        };
        let time = |key: &str, v: Option<Text>| -> Result<Option<Timestamp>> {
            v.map(|Text(t, _)| parse_time(&t, &TimeZone::UTC).map_err(|m| field_err(key, m)))
                .transpose()
        };
        let name =
            |key: &str, v: Option<Text>, check: fn(&str) -> Result<()>| -> Result<Option<String>> {
                v.map(|Text(t, _)| {
                    check(&t)
                        .map(|_| t)
                        .map_err(|e| field_err(key, e.to_string()))
                })
                .transpose()
            };
        let priority = match raw.priority {
            None => Priority::default(),
            Some(Text(p, _)) => Priority::parse(&p).ok_or_else(|| {
                field_err(
                    "priority",
                    format!("`{p}` is not a priority; use critical, high, medium or low"),
                )
            })?,
        };
        let timeout = match raw.timeout {
            None => None,
            Some(Text(t, true)) => {
                return Err(field_err(
                    "timeout",
                    format!("`{t}` has no unit; write it with one, like {t}m or {t}s"),
                ));
            }
            Some(Text(t, false)) => Some(parse_duration(&t).map_err(|m| field_err("timeout", m))?),
        };
        let approval = match raw.approval {
            None => None,
            Some(Text(a, _)) => match a.trim().to_ascii_lowercase().as_str() {
                "required" | "true" | "yes" => Some(Approval::Required),
                "approved" => Some(Approval::Approved),
                "denied" => Some(Approval::Denied),
                "" | "none" | "false" | "no" => None,
                _ => {
                    return Err(field_err(
                        "approval",
                        format!(
                            "`{a}` is not a gate; use `required` (brain writes approved or denied)"
                        ),
                    ));
                }
            },
        };
        let depends_on = raw.depends_on.unwrap_or_default().0;
        for d in &depends_on {
            names::validate_task_id(d).map_err(|e| field_err("depends_on", e.to_string()))?;
        }
        let whole = |key: &str, v: Option<Text>, min: u64| -> Result<Option<u64>> {
            let Some(Text(t, _)) = v else {
                return Ok(None);
            };
            match t.trim().parse::<u64>() {
                Ok(n) if n >= min => Ok(Some(n)),
                _ => Err(field_err(
                    key,
                    format!(
                        "`{t}` is not allowed here; write a whole number{}",
                        if min > 0 {
                            format!(", at least {min}")
                        } else {
                            String::new()
                        }
                    ),
                )),
            }
        };
        let max_attempts = whole("max_attempts", raw.max_attempts, 1)?
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| field_err("max_attempts", format!("{n} is too large a number")))
            })
            .transpose()?;
        let max_turns = whole("max_turns", raw.max_turns, 1)?
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| field_err("max_turns", format!("{n} is too large a number")))
            })
            .transpose()?;
        let max_budget_usd = raw
            .max_budget_usd
            .map(|Text(t, _)| parse_budget(&t).map_err(|m| field_err("max_budget_usd", m)))
            .transpose()?;
        let attempt = whole("attempt", raw.attempt, 0)?
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| field_err("attempt", format!("{n} is too large a number")))
            })
            .transpose()?;
        let epoch = whole("epoch", raw.epoch, 0)?;
        let unattended = match raw.unattended {
            None => true,
            Some(Text(t, _)) => match t.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => true,
                "false" | "no" | "off" => false,
                _ => {
                    return Err(field_err(
                        "unattended",
                        format!(
                            "`{t}` is not true or false; write `unattended: false` to keep the task out of unattended runs"
                        ),
                    ));
                }
            },
        };
        Ok(Meta {
            id: name("id", raw.id, names::validate_task_id)?,
            created: time("created", raw.created)?,
            priority,
            requires: raw.requires.unwrap_or_default().0,
            preferred_interface: name(
                "preferred_interface",
                raw.preferred_interface,
                names::validate_agent,
            )?,
            timeout,
            status: raw.status.map(|t| t.0),
            title: raw.title.map(|t| t.0),
            depends_on,
            approval,
            unattended,
            not_before: time("not_before", raw.not_before)?,
            max_attempts,
            max_turns,
            max_budget_usd,
            attempt: attempt.unwrap_or(0),
            epoch: epoch.unwrap_or(0),
            claimed_by: name("claimed_by", raw.claimed_by, names::validate_agent)?,
            claimed_at: time("claimed_at", raw.claimed_at)?,
            heartbeat_at: time("heartbeat_at", raw.heartbeat_at)?,
            completed_at: time("completed_at", raw.completed_at)?,
            failed_at: time("failed_at", raw.failed_at)?,
        })
    }
}

/// A budget in US dollars as a task or `brain add` writes it (`2`, `0.50`, `$1.5`): the
/// number, as written without the dollar sign.
pub fn parse_budget(text: &str) -> std::result::Result<String, String> {
    let t = text.trim().trim_start_matches('$').trim();
    let ok = !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.chars().filter(|&c| c == '.').count() <= 1
        && t.parse::<f64>().is_ok_and(|v| v > 0.0 && v.is_finite());
    if ok {
        Ok(t.to_string())
    } else {
        Err(format!(
            "`{text}` is not a budget; write a number of US dollars above 0, like 2 or 0.50"
        ))
    }
}

/// The top-level key of a frontmatter line (`key: value`, `key:`), if it is one.
pub fn top_level_key(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    plain.then_some(key)
}

/// `fm` with the keys that name one of brain's fields in another case (`Priority:`) written
/// in lower case, for parsing; nothing else changes (line numbers stay).
fn normalize_keys(fm: &str) -> std::borrow::Cow<'_, str> {
    let needs = fm.lines().any(|l| {
        top_level_key(l).is_some_and(|k| {
            k.bytes().any(|b| b.is_ascii_uppercase())
                && FIELDS.contains(&k.to_ascii_lowercase().as_str())
        })
    });
    if !needs {
        return fm.into();
    }
    let mut out = String::with_capacity(fm.len());
    for line in fm.split_inclusive('\n') {
        match top_level_key(line) {
            Some(k) if FIELDS.contains(&k.to_ascii_lowercase().as_str()) => {
                out.push_str(&k.to_ascii_lowercase());
                out.push_str(&line[k.len()..]);
            }
            _ => out.push_str(line),
        }
    }
    out.into()
}

/// What brain reads differently than a person may expect in `doc`: a key that is not one of
/// brain's fields but looks like a misspelling of one (`require:`, `depends-on:`, `prioirty:`)
/// is kept as the person's own key and does nothing. One sentence each, saying what to write.
pub(crate) fn field_warnings(doc: &Document) -> Vec<String> {
    let mut out = Vec::new();
    for line in doc.frontmatter().lines() {
        let Some(key) = top_level_key(line) else {
            continue;
        };
        let lower = key.to_ascii_lowercase();
        if FIELDS.contains(&lower.as_str()) {
            continue;
        }
        let folded = lower.replace('-', "_");
        let near = FIELDS.iter().find(|f| {
            let limit = if f.len() >= 6 { 2 } else { 1 };
            **f == folded || edit_distance(&folded, f) <= limit
        });
        if let Some(f) = near {
            out.push(format!(
                "`{key}` is not a field brain reads, so it does nothing (brain keeps it as your own key); did you mean `{f}`?"
            ));
        }
    }
    out
}

/// The number of single-character edits between two short words.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The 1-based line of the frontmatter `fm` where the field before line `line` opened a flow
/// list or map (`[`, `{`) or a quote it never closed, if it did, and what it opened.
fn opened_before(fm: &str, line: usize) -> Option<(usize, char)> {
    let lines: Vec<&str> = fm.lines().take(line.saturating_sub(1)).collect();
    let start = lines.iter().rposition(|l| top_level_key(l).is_some())?;
    let (mut open, mut quote) = (Vec::new(), None::<char>);
    // A quote opens a quoted scalar only where a value starts (an apostrophe inside a plain
    // value, `it's`, is just a letter).
    let mut at_value_start = true;
    for (i, l) in lines[start..].iter().enumerate() {
        let text = match i {
            0 => l.split_once(':').map_or("", |(_, v)| v),
            _ => l,
        };
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let starts = at_value_start;
            at_value_start =
                c.is_whitespace() && at_value_start || matches!(c, '[' | '{' | ',' | ':');
            match (quote, c) {
                (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') if open.is_empty() => break,
                (None, '\'' | '"') if starts => quote = Some(c),
                (None, '[' | '{') => open.push(c),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
        }
    }
    quote.or(open.first().copied()).map(|c| (start + 1, c))
}

/// The top-level key whose block holds 1-based line `line` of the frontmatter `fm`.
fn key_above(fm: &str, line: usize) -> Option<&str> {
    fm.lines()
        .take(line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|l| top_level_key(l))
}

/// The message of a YAML error without its location (which brain reports as `file:line`),
/// naming the key it concerns.
fn yaml_message(e: &serde_saphyr::Error, key: Option<&str>) -> String {
    let msg = e.to_string();
    let first = msg.lines().next().unwrap_or("invalid YAML").trim();
    // serde-saphyr appends " at line N column M"; the line is already in our prefix.
    let mut text = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    }
    .to_string();
    if let Some(dup) = text.strip_prefix("duplicate mapping key: ") {
        let dup = dup.split(',').next().unwrap_or(dup).trim();
        return format!("the key `{dup}` appears twice; keep one of them");
    }
    if text.contains("recursion limit") || text.contains("Depth") {
        return "the frontmatter nests lists or maps too deeply for brain to read (more than 64 levels); a task's fields need one or two".into();
    }
    if text.starts_with("budget breached") {
        return "the frontmatter is too large or too complex for brain to read (too many aliases, nodes or levels); keep it to plain `key: value` fields".into();
    }
    if text.contains("expected mapping start") {
        return "the frontmatter must be `key: value` lines (a YAML mapping)".into();
    }
    if text.starts_with("invalid u32") || text.starts_with("invalid u64") {
        text = "expected a whole number".into();
    }
    match key {
        Some(k) => format!("`{k}`: invalid value: {text}"),
        None => format!("invalid frontmatter: {text}"),
    }
}
