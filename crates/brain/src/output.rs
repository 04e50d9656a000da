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
    eprintln!("brain: warning: {message}");
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
    brain_core::time::format_duration(secs - secs % 60)
}
