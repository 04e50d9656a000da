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
    eprintln!("brain: warning: {}", clean_err(&message.to_string()));
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
