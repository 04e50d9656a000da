//! Printing: data to stdout (buffered, so a closed pipe is an error we can catch), messages to
//! stderr.

use std::io::{self, BufWriter, Write};

use serde::Serialize;

/// A buffered, locked stdout.
pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Prints `value` as JSON followed by a newline.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let mut out = stdout();
    serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints `line` to stdout.
pub fn line(line: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = stdout();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Reports a problem that did not stop the command (one bad file in a listing).
pub fn warn(message: impl std::fmt::Display) {
    say!("brain: warning: {}", clean_err(&message.to_string()));
}

/// `text` as it may be shown on a terminal: where standard output is one, control characters
/// (an escape sequence in a task's title could move the cursor, rewrite the screen, or set
/// the terminal's title) are shown escaped (`\u{1b}`); lines and tabs stay. Text for a pipe
/// or a file is left as it is.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    use std::io::IsTerminal;
    if io::stdout().is_terminal() {
        escape_controls(text)
    } else {
        text.into()
    }
}

/// [`clean`] for standard error.
pub fn clean_err(text: &str) -> std::borrow::Cow<'_, str> {
    use std::io::IsTerminal;
    if io::stderr().is_terminal() {
        escape_controls(text)
    } else {
        text.into()
    }
}

/// `text` with its control characters (C0, DEL and C1, but for line breaks and tabs)
/// escaped.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(bad) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            // A CRLF line ending is a line ending.
            continue;
        }
        if bad(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// `1h12m`-style age of a number of seconds.
pub fn age(secs: i64) -> String {
    if secs < 0 {
        return "in the future".into();
    }
    let secs = secs as u64;
    if secs < 60 {
        return format!("{secs}s");
    }
    // Minutes are precise enough for a person.
    brain_core::task::time::format_duration(secs - secs % 60)
}

/// Columns that line up on a terminal, also with wide characters (CJK, emoji) and accents:
/// each column as wide as its widest cell in display cells, two spaces between, the last one
/// not padded. A cell is one line; a tab or line break in it is shown as a space.
#[derive(Debug, Default)]
pub struct Table {
    cells: Vec<String>,
    columns: usize,
    /// Lines printed after a row (by its index) as they are, outside the columns.
    notes: Vec<(usize, String)>,
}

impl Table {
    pub fn new() -> Table {
        Table::default()
    }

    /// Adds a row; every row has the same number of cells.
    pub fn row<const N: usize>(&mut self, cells: [&str; N]) {
        debug_assert!(self.columns == 0 || self.columns == N);
        self.columns = N;
        self.cells.extend(cells.iter().map(|c| {
            if c.contains(['\t', '\n', '\r']) {
                c.replace(['\t', '\n', '\r'], " ")
            } else {
                c.to_string()
            }
        }));
    }

    /// A line of its own under the last row, outside the columns.
    pub fn note(&mut self, line: String) {
        let rows = self.cells.len() / self.columns.max(1);
        self.notes.push((rows.saturating_sub(1), line));
    }

    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        if self.columns == 0 {
            return Ok(());
        }
        let mut widths = vec![0; self.columns];
        for row in self.cells.chunks(self.columns) {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(c));
            }
        }
        let mut line = String::new();
        for (n, row) in self.cells.chunks(self.columns).enumerate() {
            line.clear();
            for (i, c) in row.iter().enumerate() {
                line.push_str(c);
                if i + 1 < row.len() {
                    let pad = widths[i] - width(c) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
            for (_, note) in self.notes.iter().filter(|(r, _)| *r == n) {
                writeln!(out, "{note}")?;
            }
        }
        Ok(())
    }
}

/// How many terminal cells `s` takes.
pub fn width(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        unicode_width::UnicodeWidthStr::width(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_wide_and_accented_text() {
        let mut t = Table::new();
        t.row(["task-1", "日本語のタスク", "end"]);
        t.row(["task-22", "café", "end"]);
        t.row(["t", "🚀 launch\tnow", "end"]);
        let mut out = Vec::new();
        t.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // Every `end` starts in the same terminal column.
        let at: Vec<usize> = text
            .lines()
            .map(|l| width(&l[..l.find("end").unwrap()]))
            .collect();
        assert_eq!(at, [at[0]; 3], "{text}");
        assert!(!text.contains('\t'), "{text}");
    }
}
