//! Claude Code's usage-limit messages (see `shared/notes/claude-limits-and-usage.md`), read
//! into a [`Limit`] with its reset time: from what a headless run printed, and from the
//! API-error entries of the transcripts.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::usage::Limit;

/// A usage limit in one line of what the agent said.
pub fn limit_in(line: &str, now: Timestamp, tz: &TimeZone) -> Option<Limit> {
    let lower = line.to_lowercase();
    if lower.contains("context limit")
        || lower.contains("not your usage limit")
        || lower.contains("temporarily limiting")
    {
        return None;
    }
    // Legacy: `Claude AI usage limit reached|1735776000`.
    if let Some(at) = lower.find("usage limit reached|") {
        let digits: String = lower[at + "usage limit reached|".len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let resets_at = digits
            .parse::<i64>()
            .ok()
            .filter(|&s| s > 0)
            .and_then(|s| Timestamp::from_second(s).ok());
        return Some(Limit {
            kind: "usage".into(),
            resets_at,
            message: line.to_string(),
        });
    }
    let kind = if let Some(at) = lower.find("hit your ") {
        // `You've hit your limit`, `... your session limit`, `... your Opus limit`.
        let rest = &line[at + "hit your ".len()..];
        let end = rest.to_lowercase().find("limit")?;
        let words = rest[..end].trim();
        if words.split_whitespace().count() > 3 {
            return None;
        }
        if words.is_empty() {
            "usage".to_string()
        } else {
            words.to_string()
        }
    } else if let Some(at) = lower.find(" limit reached") {
        // `5-hour limit reached ∙ resets 3am`, `Claude usage limit reached. Your limit will
        // reset at 3pm (Europe/London).`
        let before = line[..at].trim_end();
        let word = before.rsplit(' ').next().unwrap_or_default();
        let known = [
            "5-hour", "session", "weekly", "daily", "usage", "opus", "sonnet", "monthly",
        ];
        if !known.contains(&word.to_lowercase().as_str()) {
            return None;
        }
        word.to_string()
    } else {
        return None;
    };
    let kind = if kind.eq_ignore_ascii_case("opus") {
        "Opus".to_string()
    } else if kind.eq_ignore_ascii_case("sonnet") {
        "Sonnet".to_string()
    } else {
        kind.to_lowercase()
    };
    let spec = ["resets ", "reset at ", "resets at "]
        .iter()
        .filter_map(|w| lower.rfind(w).map(|i| i + w.len()))
        .max()
        .map(|i| &line[i..]);
    Some(Limit {
        kind,
        resets_at: spec.and_then(|s| parse_reset(s, now, tz)),
        message: line.to_string(),
    })
}

/// A reset time as Claude Code writes it, at its next occurrence after `now`: `4:20am
/// (Europe/Warsaw)`, `3am`, `Mon 12:00am`, `Apr 23 at 4pm (America/Recife)`, `Jan 18,
/// 11:30am (Asia/Calcutta)`, `15:00`. Without a zone, `tz` (the machine's) is meant.
pub fn parse_reset(spec: &str, now: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let (words, zone) = match (spec.find('('), spec.find(')')) {
        (Some(o), Some(c)) if o < c => (&spec[..o], TimeZone::get(spec[o + 1..c].trim()).ok()),
        _ => (spec, None),
    };
    let tz = zone.unwrap_or_else(|| tz.clone());
    let mut weekday = None;
    let mut month = None;
    let mut day = None;
    let mut time = None;
    for raw in words
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
    {
        let w = raw
            .trim_end_matches(['.', '·', '∙', ';'])
            .to_ascii_lowercase();
        if w.is_empty() || w == "at" || w == "on" {
            continue;
        }
        if let Some(t) = clock(&w) {
            time = Some(t);
            // Whatever follows the time is not part of it.
            break;
        }
        if let Some(d) = weekday_of(&w) {
            weekday = Some(d);
        } else if let Some(m) = month_of(&w) {
            month = Some(m);
        } else if let Ok(n) = w.parse::<i8>() {
            day = Some(n);
        } else {
            // Some other word (`in`, a sentence after the time): stop here.
            if time.is_none() && (weekday.is_some() || month.is_some()) {
                continue;
            }
            break;
        }
    }
    let time = time?;
    let here = now.to_zoned_datetime(tz.clone());
    let at = |date: Date| -> Option<Timestamp> {
        DateTime::from_parts(date, time)
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    // A reset a moment ago (the clocks differ a little) is that one, not tomorrow's.
    let slack = now.saturating_sub(2.minutes()).unwrap_or(now);
    let today = here.date();
    if let (Some(m), Some(d)) = (month, day) {
        for year in [today.year(), today.year() + 1] {
            let date = Date::new(year, m, d).ok()?;
            let t = at(date)?;
            if t >= slack.saturating_sub(12.hours()).unwrap_or(slack) {
                return Some(t);
            }
        }
        return None;
    }
    for ahead in 0..8 {
        let date = today.checked_add(ahead.days()).ok()?;
        if weekday.is_some_and(|w| date.weekday() != w) {
            continue;
        }
        let t = at(date)?;
        if t >= slack {
            return Some(t);
        }
    }
    None
}

/// `4:20am`, `3pm`, `12:00am`, `15:00`, `4:20:00pm`.
fn clock(w: &str) -> Option<Time> {
    let (digits, half) = if let Some(d) = w.strip_suffix("am") {
        (d, Some(false))
    } else if let Some(d) = w.strip_suffix("pm") {
        (d, Some(true))
    } else {
        (w, None)
    };
    let mut parts = digits.split(':');
    let h: i8 = parts.next()?.parse().ok()?;
    let m: i8 = match parts.next() {
        Some(m) => m.parse().ok()?,
        // `15` alone is a day of the month, not a time.
        None if half.is_none() => return None,
        None => 0,
    };
    let s: i8 = parts.next().map_or(Some(0), |s| s.parse().ok())?;
    if parts.next().is_some() {
        return None;
    }
    let h = match half {
        Some(pm) if (1..=12).contains(&h) => (h % 12) + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => h,
    };
    Time::new(h, m, s, 0).ok()
}

fn weekday_of(w: &str) -> Option<Weekday> {
    let days = [
        ("mon", Weekday::Monday),
        ("tue", Weekday::Tuesday),
        ("wed", Weekday::Wednesday),
        ("thu", Weekday::Thursday),
        ("fri", Weekday::Friday),
        ("sat", Weekday::Saturday),
        ("sun", Weekday::Sunday),
    ];
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    days.iter()
        .zip(full)
        .find(|((short, _), long)| {
            w == *short || w == *long || (w.len() >= 3 && long.starts_with(w))
        })
        .map(|((_, d), _)| *d)
}

fn month_of(w: &str) -> Option<i8> {
    let months = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if w.len() < 3 {
        return None;
    }
    months
        .iter()
        .position(|m| m.starts_with(w))
        .map(|i| i as i8 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn warsaw() -> TimeZone {
        TimeZone::get("Europe/Warsaw").unwrap()
    }

    fn limit(text: &str, now: &str) -> Limit {
        limit_in(text, ts(now), &TimeZone::UTC).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn every_form_of_the_limit_message_is_a_limit_with_its_reset() {
        // 2026-12-01 is a Tuesday.
        let now = "2026-12-01T01:00:00Z";
        let l = limit(
            "You've hit your session limit · resets 4:20am (Europe/Warsaw)",
            now,
        );
        assert_eq!(l.kind, "session");
        // 04:20 in Warsaw (UTC+1 in December) is 03:20 UTC.
        assert_eq!(l.resets_at, Some(ts("2026-12-01T03:20:00Z")));
        let l = limit("You've hit your limit · resets 1pm (Europe/Lisbon)", now);
        assert_eq!(
            (l.kind.as_str(), l.resets_at),
            ("usage", Some(ts("2026-12-01T13:00:00Z")))
        );
        let l = limit("You've hit your weekly limit · resets Mon 12:00am", now);
        assert_eq!(
            (l.kind.as_str(), l.resets_at),
            ("weekly", Some(ts("2026-12-07T00:00:00Z")))
        );
        let l = limit("You've hit your Opus limit · resets 3:45pm", now);
        assert_eq!(
            (l.kind.as_str(), l.resets_at),
            ("Opus", Some(ts("2026-12-01T15:45:00Z")))
        );
        let l = limit("5-hour limit reached ∙ resets 3am", now);
        assert_eq!(
            (l.kind.as_str(), l.resets_at),
            ("5-hour", Some(ts("2026-12-01T03:00:00Z")))
        );
        // Already past today: the next one is tomorrow's.
        let l = limit("5-hour limit reached ∙ resets 12am", now);
        assert_eq!(l.resets_at, Some(ts("2026-12-02T00:00:00Z")));
        let l = limit(
            "You've hit your limit · resets Apr 23 at 4pm (America/Recife)",
            now,
        );
        assert_eq!(l.resets_at, Some(ts("2027-04-23T19:00:00Z")));
        let l = limit(
            "You've hit your limit · resets Dec 18, 11:30am (Asia/Calcutta)",
            now,
        );
        assert_eq!(l.resets_at, Some(ts("2026-12-18T06:00:00Z")));
        let l = limit("Claude AI usage limit reached|1735776000", now);
        assert_eq!(l.resets_at, Some(ts("2025-01-02T00:00:00Z")));
        let l = limit(
            "Claude usage limit reached. Your limit will reset at 3pm (Europe/London).",
            now,
        );
        assert_eq!(
            (l.kind.as_str(), l.resets_at),
            ("usage", Some(ts("2026-12-01T15:00:00Z")))
        );
    }

    #[test]
    fn a_reset_without_a_zone_is_in_the_machines_zone() {
        let l = limit_in(
            "You've hit your session limit · resets 4:20am",
            ts("2026-12-01T01:00:00Z"),
            &warsaw(),
        )
        .unwrap();
        assert_eq!(l.resets_at, Some(ts("2026-12-01T03:20:00Z")));
    }

    #[test]
    fn clock_words() {
        assert_eq!(clock("4:20am"), Time::new(4, 20, 0, 0).ok());
        assert_eq!(clock("12am"), Time::new(0, 0, 0, 0).ok());
        assert_eq!(clock("12pm"), Time::new(12, 0, 0, 0).ok());
        assert_eq!(clock("15:00"), Time::new(15, 0, 0, 0).ok());
        assert_eq!(clock("13pm"), None);
        assert_eq!(clock("15"), None);
        assert!(parse_reset("soon", ts("2026-12-01T01:00:00Z"), &TimeZone::UTC).is_none());
    }
}
