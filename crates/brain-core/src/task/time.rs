//! Times and durations as they appear in task files and `brain.toml`.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// The time now, or the time `BRAIN_NOW` (RFC 3339) pins, for tests and reproducible
/// examples; every front end takes "now" from here.
pub fn now_or_pinned() -> std::result::Result<Timestamp, String> {
    match std::env::var("BRAIN_NOW") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("BRAIN_NOW=`{v}` is not an RFC 3339 time")),
        _ => Ok(Timestamp::now()),
    }
}

/// Formats a timestamp the way brain writes it: RFC 3339, UTC, whole seconds.
pub fn format_ts(ts: Timestamp) -> String {
    Rfc3339(ts).to_string()
}

/// Displays a timestamp as RFC 3339, UTC, whole seconds (`2026-01-31T02:30:00Z`), and
/// serializes as that string without an intermediate allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339(pub Timestamp);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Truncate to whole seconds; jiff prints no fraction when it is zero.
        match Timestamp::from_second(self.0.as_second()) {
            Ok(t) => t.fmt(f),
            Err(_) => self.0.fmt(f),
        }
    }
}

impl serde::Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses a time as written in a task file or given on the command line: RFC 3339
/// (`2026-01-31T02:30:00Z`, `2026-01-31T03:30:00+01:00`), a date (`2026-01-31`, midnight) or a
/// civil date-time (`2026-01-31T02:30` or with a space). Times without an offset are read in
/// `tz` (UTC in task files, the local zone on the command line).
pub fn parse_time(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    let s = s.trim();
    let rfc = match s.parse::<Timestamp>() {
        Ok(ts) => return Ok(ts),
        Err(e) => e.to_string(),
    };
    let civil = s.parse::<DateTime>().or_else(|_| {
        s.parse::<Date>()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    });
    let out_of_range = || {
        format!(
            "`{s}` is outside the times brain can handle (up to {}); write an earlier time",
            format_ts(Timestamp::MAX)
        )
    };
    match civil {
        Ok(dt) => tz.to_timestamp(dt).map_err(|e| {
            if e.to_string().contains("overflow") || e.to_string().contains("range") {
                out_of_range()
            } else {
                format!("`{s}` is not a valid time here: {e}")
            }
        }),
        Err(_) if rfc.contains("overflow") => Err(out_of_range()),
        Err(_) => Err(format!(
            "`{s}` is not a time; write RFC 3339 like 2026-01-31T02:30:00Z, or a date like 2026-01-31"
        )),
    }
}

/// Parses a duration such as `90s`, `60m`, `2h`, `1h30m`, `1d` or `1h 30m` into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let hint = "write a number with a unit, like 90s, 60m, 2h or 1h30m";
    if text.is_empty() {
        return Err(format!("the duration is empty; {hint}"));
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .len();
        if digits == 0 || rest.starts_with('.') {
            return Err(format!("`{text}` is not a duration; {hint}"));
        }
        // `1.5h` is 90 minutes; durations are whole seconds.
        let n: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration; {hint}"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.len()
            - rest
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .len();
        let unit = &rest[..unit_len];
        let mult = match unit {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            "" => return Err(format!("`{text}` has a number without a unit; {hint}")),
            _ => return Err(format!("`{text}` has an unknown unit `{unit}`; {hint}")),
        };
        let secs = (n * mult as f64).round();
        if !(0.0..1e15).contains(&secs) {
            return Err(format!("`{text}` is too large a duration"));
        }
        total = total
            .checked_add(secs as u64)
            .ok_or_else(|| format!("`{text}` is too large a duration"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `1h12m`-style age of a number of seconds, for a person: seconds under a minute, minutes
/// above; "in the future" for a negative one.
pub fn format_age(secs: i64) -> String {
    if secs < 0 {
        return "in the future".into();
    }
    let secs = secs as u64;
    if secs < 60 {
        return format!("{secs}s");
    }
    // Minutes are precise enough for a person.
    format_duration(secs - secs % 60)
}

/// Formats seconds compactly: `1h30m`, `90s` stays `1m30s`, `2h`.
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    for (n, u) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{u}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("60m"), Ok(3600));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("1h 30m"), Ok(5400));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        assert!(parse_duration("90").unwrap_err().contains("without a unit"));
        assert_eq!(parse_duration("1.5h"), Ok(5400));
        assert_eq!(parse_duration("0.5m"), Ok(30));
        assert!(
            parse_duration("1.2.3h")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(
            parse_duration(".5h")
                .unwrap_err()
                .contains("not a duration")
        );
        assert!(parse_duration("1w").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(90), "1m30s");
    }

    #[test]
    fn times() {
        let utc = TimeZone::UTC;
        let t = parse_time("2026-01-31T02:30:00Z", &utc).unwrap();
        assert_eq!(format_ts(t), "2026-01-31T02:30:00Z");
        assert_eq!(
            format_ts(parse_time("2026-01-31T03:30:00+01:00", &utc).unwrap()),
            "2026-01-31T02:30:00Z"
        );
        assert_eq!(
            format_ts(parse_time("2026-01-31", &utc).unwrap()),
            "2026-01-31T00:00:00Z"
        );
        assert_eq!(
            format_ts(parse_time("2026-01-31 02:30", &utc).unwrap()),
            "2026-01-31T02:30:00Z"
        );
        assert!(parse_time("tomorrow", &utc).is_err());
        let far = parse_time("9999-12-31T23:59:59Z", &utc).unwrap_err();
        assert!(far.contains("outside the times brain can handle"), "{far}");
        let far = parse_time("9999-12-31 23:59", &utc).unwrap_err();
        assert!(far.contains("outside the times brain can handle"), "{far}");
        let frac = parse_time("2026-01-31T02:30:00.75Z", &utc).unwrap();
        assert_eq!(format_ts(frac), "2026-01-31T02:30:00Z");
    }
}

/// Serializes an `Option<Timestamp>` as brain writes times (`2026-01-31T02:30:00Z`), or null.
pub mod opt_ts {
    use jiff::Timestamp;
    use serde::Serializer;

    pub fn serialize<S: Serializer>(v: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ts) => s.serialize_str(&super::format_ts(*ts)),
            None => s.serialize_none(),
        }
    }
}

/// Serializes a `Timestamp` as brain writes times (`2026-01-31T02:30:00Z`), and reads it back.
pub mod ts {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_ts(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        Timestamp::deserialize(d)
    }
}
