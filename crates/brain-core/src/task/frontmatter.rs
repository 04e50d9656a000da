//! Byte-exact frontmatter documents: split a task file into its YAML frontmatter and body, and
//! patch single top-level fields without touching any other byte.
//!
//! The file's text is kept as it was read. Editing a field replaces only the lines of that
//! field's block (its key line and the indented or `- ` lines under it); unknown keys, comments,
//! key order, quoting, line endings (CRLF), a byte-order mark and the body are never re-serialized.

use std::ops::Range;

/// The largest task file brain reads, in bytes.
pub const MAX_TASK_BYTES: usize = 1024 * 1024;

const BOM: &str = "\u{feff}";

/// Why a text could not be split into frontmatter and body. Lines are 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitError {
    pub line: usize,
    pub message: String,
}

/// A field value brain writes into frontmatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// A string, written plain when that is unambiguous and double-quoted otherwise.
    Str(String),
    /// An unsigned integer.
    Int(u64),
    /// A boolean.
    Bool(bool),
    /// A list of strings, written as a block sequence (`  - item`) as in the seed.
    List(Vec<String>),
}

/// A task file's text with the position of its frontmatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    text: String,
    /// Byte range of the frontmatter's content: after the opening `---` line, up to the start of
    /// the closing `---` line.
    fm: Range<usize>,
    /// The line ending of the opening line, used for every line brain writes.
    newline: &'static str,
}

/// Checks size and encoding, then splits. The error's line is where the problem is.
pub fn decode(bytes: Vec<u8>) -> Result<Document, SplitError> {
    if bytes.len() > MAX_TASK_BYTES {
        return Err(SplitError {
            line: 1,
            message: format!(
                "the file is {} bytes; task files are limited to {} bytes (1 MiB): move large material to a separate file and link it from the task",
                bytes.len(),
                MAX_TASK_BYTES
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..good].iter().filter(|b| **b == b'\n').count() + 1;
        SplitError {
            line,
            message: format!(
                "the file is not valid UTF-8 (byte {good} is 0x{:02x}): save it as UTF-8",
                bytes[good]
            ),
        }
    })?;
    Document::parse(text)
}

impl Document {
    /// Splits `text` into frontmatter and body.
    pub fn parse(text: String) -> Result<Document, SplitError> {
        let start = if text.starts_with(BOM) { BOM.len() } else { 0 };
        let rest = &text[start..];
        let (first, first_nl) = match rest.find('\n') {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        if first.trim_end_matches([' ', '\t', '\r']) != "---" {
            return Err(SplitError {
                line: 1,
                message: "the file does not start with a `---` line; a task file begins with YAML frontmatter between two `---` lines".into(),
            });
        }
        let newline = if first.ends_with('\r') { "\r\n" } else { "\n" };
        let fm_start = start + first_nl;
        let mut pos = fm_start;
        let mut line_no = 2;
        while pos < text.len() {
            let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
            let line = text[pos..end].trim_end_matches(['\n', '\r', ' ', '\t']);
            if line == "---" {
                return Ok(Document {
                    fm: fm_start..pos,
                    text,
                    newline,
                });
            }
            pos = end;
            line_no += 1;
        }
        let _ = line_no;
        Err(SplitError {
            line: 1,
            message: "the frontmatter opened on line 1 is never closed: add a line `---` after the last field".into(),
        })
    }

    /// The whole text, exactly as it will be written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The frontmatter's YAML text.
    pub fn frontmatter(&self) -> &str {
        &self.text[self.fm.clone()]
    }

    /// The body: everything after the closing `---` line.
    pub fn body(&self) -> &str {
        let close = &self.text[self.fm.end..];
        let skip = close.find('\n').map_or(close.len(), |i| i + 1);
        &close[skip..]
    }

    /// The line ending this file uses.
    pub fn newline(&self) -> &'static str {
        self.newline
    }

    /// The 1-based file line on which the frontmatter's first line stands.
    pub fn frontmatter_first_line(&self) -> usize {
        2
    }

    /// The 1-based file line of the top-level `key`, if present.
    pub fn key_line(&self, key: &str) -> Option<usize> {
        let block = self.find_block(key)?;
        Some(self.text[..block.start].matches('\n').count() + 1)
    }

    /// Sets top-level `key` to `value`, replacing only that key's lines (and keeping a trailing
    /// `# comment` on a one-line value). A key that is absent is added at the end of the
    /// frontmatter.
    pub fn set(&mut self, key: &str, value: &FieldValue) {
        let nl = self.newline;
        match self.find_block(key) {
            Some(block) => {
                let old = &self.text[block.clone()];
                let comment = match value {
                    FieldValue::List(_) => None,
                    _ => trailing_comment(old),
                };
                let mut new = render(key, value, nl);
                if let Some(c) = comment {
                    // `render` ended the (single) line with `nl`; put the comment before it.
                    new.truncate(new.len() - nl.len());
                    new.push_str(c);
                    new.push_str(nl);
                }
                self.replace(block, &new);
            }
            None => {
                let at = self.fm.end;
                let new = render(key, value, nl);
                self.replace(at..at, &new);
            }
        }
    }

    /// Removes top-level `key` and its lines, if present.
    pub fn remove(&mut self, key: &str) {
        if let Some(block) = self.find_block(key) {
            self.replace(block, "");
        }
    }

    /// Appends `text` to the body, converting its line endings to the file's own and making sure
    /// it starts on a line of its own.
    pub fn append_body(&mut self, text: &str) {
        let nl = self.newline;
        let mut add = String::new();
        if !self.text.ends_with('\n') {
            add.push_str(nl);
        }
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n').trim_end_matches('\r');
            add.push_str(bare);
            if line.ends_with('\n') {
                add.push_str(nl);
            }
        }
        if !add.ends_with('\n') {
            add.push_str(nl);
        }
        self.text.push_str(&add);
    }

    fn replace(&mut self, range: Range<usize>, new: &str) {
        let removed = range.end - range.start;
        self.text.replace_range(range, new);
        self.fm.end = self.fm.end + new.len() - removed;
    }

    /// Byte range of `key`'s block: the key line plus its continuation lines (indented lines,
    /// `- ` items at column 0, and blank lines between them), each with its line ending.
    fn find_block(&self, key: &str) -> Option<Range<usize>> {
        let fm = self.fm.clone();
        let mut pos = fm.start;
        while pos < fm.end {
            let end = line_end(&self.text, pos, fm.end);
            if is_key_line(&self.text[pos..end], key) {
                let start = pos;
                let mut block_end = end;
                let mut p = end;
                while p < fm.end {
                    let e = line_end(&self.text, p, fm.end);
                    let line = &self.text[p..e];
                    if is_continuation(line) {
                        block_end = e;
                    } else if !line.trim().is_empty() {
                        break;
                    }
                    p = e;
                }
                return Some(start..block_end);
            }
            pos = end;
        }
        None
    }
}

/// End of the line starting at `pos` (after its `\n`), bounded by `limit`.
fn line_end(text: &str, pos: usize, limit: usize) -> usize {
    text[pos..limit].find('\n').map_or(limit, |i| pos + i + 1)
}

/// Whether `line` is the key line of `key`, in any case (`Priority:` is `priority`, as the
/// parser reads it).
fn is_key_line(line: &str, key: &str) -> bool {
    let Some(rest) = line
        .get(..key.len())
        .filter(|k| k.eq_ignore_ascii_case(key))
        .map(|_| &line[key.len()..])
    else {
        return false;
    };
    let rest = rest.trim_start_matches([' ', '\t']);
    let Some(after) = rest.strip_prefix(':') else {
        return false;
    };
    after.is_empty() || after.starts_with([' ', '\t', '\r', '\n'])
}

fn is_continuation(line: &str) -> bool {
    line.starts_with([' ', '\t']) || (line.starts_with('-') && !line.starts_with("---"))
}

/// The ` # comment` at the end of a one-line `key: value` block, outside quotes.
fn trailing_comment(block: &str) -> Option<&str> {
    let line = block.trim_end_matches(['\n', '\r']);
    if line.contains('\n') {
        return None;
    }
    let colon = line.find(':')?;
    let bytes = line.as_bytes();
    let (mut single, mut double) = (false, false);
    let mut i = colon + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if double => i += 1,
            b'"' if !single => double = !double,
            b'\'' if !double => single = !single,
            b'#' if !single && !double && matches!(bytes[i - 1], b' ' | b'\t') => {
                let mut start = i;
                while start > colon + 1 && matches!(bytes[start - 1], b' ' | b'\t') {
                    start -= 1;
                }
                return Some(&line[start..]);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn render(key: &str, value: &FieldValue, nl: &str) -> String {
    match value {
        FieldValue::Str(s) => format!("{key}: {}{nl}", scalar(s)),
        FieldValue::Int(n) => format!("{key}: {n}{nl}"),
        FieldValue::Bool(b) => format!("{key}: {b}{nl}"),
        FieldValue::List(items) if items.is_empty() => format!("{key}: []{nl}"),
        FieldValue::List(items) => {
            let mut out = format!("{key}:{nl}");
            for item in items {
                out.push_str("  - ");
                out.push_str(&scalar(item));
                out.push_str(nl);
            }
            out
        }
    }
}

/// Renders a string as a YAML scalar: plain where a YAML 1.2 reader reads it back as the same
/// string, double-quoted otherwise.
pub fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if !(first.is_alphanumeric() || first == '_' || first == '/' || first == '.') {
        return false;
    }
    if s.ends_with([' ', '\t', ':']) || s.contains(": ") || s.contains(" #") {
        return false;
    }
    if s.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                ',' | '['
                    | ']'
                    | '{'
                    | '}'
                    | '"'
                    | '\''
                    | '`'
                    | '\u{feff}'
                    | '\u{2028}'
                    | '\u{2029}'
            )
    }) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~"
    ) {
        return false;
    }
    // Anything that could read as a number stays a string only when quoted.
    let numeric = s.parse::<f64>().is_ok()
        || lower.starts_with("0x")
        || lower.starts_with("0o")
        || lower.starts_with(".inf")
        || lower.starts_with(".nan")
        || (s
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '_' | '.' | '+' | '-' | 'e' | 'E' | ':'))
            && s.chars().any(|c| c.is_ascii_digit())
            && !s.contains('-'));
    !numeric
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{2028}' | '\u{2029}' | '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Document {
        Document::parse(s.to_string()).unwrap()
    }

    #[test]
    fn splits_frontmatter_and_body() {
        let d = doc("---\nid: a\n---\n# T\n---\nmore\n");
        assert_eq!(d.frontmatter(), "id: a\n");
        assert_eq!(d.body(), "# T\n---\nmore\n");
    }

    #[test]
    fn keeps_crlf_and_bom() {
        let mut d =
            doc("\u{feff}---\r\nid: a\r\n# keep\r\nstatus: pending # why\r\n---\r\nbody\r\n");
        d.set("status", &FieldValue::Str("active".into()));
        d.set("epoch", &FieldValue::Int(2));
        assert_eq!(
            d.text(),
            "\u{feff}---\r\nid: a\r\n# keep\r\nstatus: active # why\r\nepoch: 2\r\n---\r\nbody\r\n"
        );
    }

    #[test]
    fn replaces_block_lists_and_removes() {
        let mut d = doc("---\nrequires:\n  - a\n  - b\nx: 1\nlist:\n- q\n\n- r\n# c\n---\n");
        d.set("requires", &FieldValue::List(vec!["c".into()]));
        d.remove("list");
        assert_eq!(d.text(), "---\nrequires:\n  - c\nx: 1\n# c\n---\n");
    }

    #[test]
    fn key_prefix_is_not_a_match() {
        let mut d = doc("---\nstatus_note: x\n---\n");
        d.set("status", &FieldValue::Str("done".into()));
        assert_eq!(d.text(), "---\nstatus_note: x\nstatus: done\n---\n");
    }

    #[test]
    fn empty_frontmatter_and_missing_close() {
        let mut d = doc("---\n---\n");
        d.set("id", &FieldValue::Str("x".into()));
        assert_eq!(d.text(), "---\nid: x\n---\n");
        assert!(Document::parse("---\nid: x\n".into()).is_err());
        assert!(Document::parse("id: x\n".into()).is_err());
    }

    #[test]
    fn quotes_what_needs_quoting() {
        for (s, want) in [
            ("medium", "medium"),
            ("task-2026-01-31-001", "task-2026-01-31-001"),
            ("2026-01-31T02:30:00Z", "2026-01-31T02:30:00Z"),
            ("true", "\"true\""),
            ("123", "\"123\""),
            ("1.5", "\"1.5\""),
            ("a: b", "\"a: b\""),
            ("a #b", "\"a #b\""),
            ("", "\"\""),
            ("-x", "\"-x\""),
            ("line\nbreak", "\"line\\nbreak\""),
            ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ] {
            assert_eq!(scalar(s), want, "{s:?}");
        }
    }

    #[test]
    fn append_body_uses_file_newlines() {
        let mut d = doc("---\r\n---\r\nx");
        d.append_body("## Result\nok\n");
        assert_eq!(d.text(), "---\r\n---\r\nx\r\n## Result\r\nok\r\n");
    }
}
