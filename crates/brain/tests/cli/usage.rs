//! `brain usage`: the counts `brain run` keeps per machine, and Claude Code's transcripts
//! counted as ccusage counts them, checked against the real ccusage (npm, pinned in
//! tests/tools) on a corpus of transcripts the test generates.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use crate::support::{Repo, npm_tool, transcripts};

/// Per day: input, output, cache creation, cache read, total.
type Days = BTreeMap<String, [u64; 5]>;

fn days_of(v: &Value, key: &str) -> Days {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap_or_else(|| panic!("{k} in {d}"));
            (
                d["date"].as_str().unwrap().to_string(),
                [
                    n("inputTokens"),
                    n("outputTokens"),
                    n("cacheCreationTokens"),
                    n("cacheReadTokens"),
                    n("totalTokens"),
                ],
            )
        })
        .collect()
}

/// `ccusage daily --json` with `CLAUDE_CONFIG_DIR=roots` (one folder, or several with commas).
fn ccusage_daily(roots: impl AsRef<std::ffi::OsStr>, tz: &str) -> Days {
    let out = Command::new(npm_tool("ccusage"))
        .args(["daily", "--json", "--offline"])
        .env("CLAUDE_CONFIG_DIR", roots)
        .env("TZ", tz)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    days_of(&serde_json::from_slice(&out.stdout).unwrap(), "daily")
}

#[test]
fn import_gives_the_daily_totals_of_ccusage_in_each_time_zone() {
    let r = Repo::without_commits();
    let claude = r.home().join(".claude");
    transcripts(&claude, 3_000_000, 11);
    for tz in ["UTC", "Asia/Kolkata", "America/Los_Angeles"] {
        let ours = r
            .brain_env(&[("TZ", tz)], &["usage", "import", "--json"])
            .ok();
        let ours = days_of(&serde_json::from_str(&ours).unwrap(), "days");
        let theirs = ccusage_daily(&claude, tz);
        assert!(theirs.len() >= 3, "{theirs:?}");
        assert_eq!(ours, theirs, "in {tz}");
    }
    // CLAUDE_CONFIG_DIR is honoured, with several roots (comma-separated, as ccusage reads it).
    let other = r.home().join("other config");
    transcripts(&other, 1_000_000, 12);
    let list = format!("{},{}", claude.display(), other.display());
    let ours = r
        .brain_env(
            &[("CLAUDE_CONFIG_DIR", list.as_str()), ("TZ", "UTC")],
            &["usage", "import", "--json"],
        )
        .ok();
    let ours = days_of(&serde_json::from_str(&ours).unwrap(), "days");
    assert_eq!(ours, ccusage_daily(&list, "UTC"));
}

#[test]
fn sessions_brain_ran_are_attributed_to_their_tasks_and_today_is_recorded() {
    let r = Repo::without_commits();
    let claude = r.home().join(".claude");
    transcripts(&claude, 300_000, 5);
    // A session of the corpus, as if `brain run` had recorded it in a task.
    let session = std::fs::read_dir(claude.join("projects"))
        .unwrap()
        .flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).unwrap().flatten())
        .map(|f| f.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .and_then(|p| {
            std::fs::read_to_string(&p).unwrap().lines().find_map(|l| {
                serde_json::from_str::<Value>(l).ok()?["sessionId"]
                    .as_str()
                    .map(str::to_string)
            })
        })
        .unwrap();
    let id = r.add(&["ran overnight"]);
    let path = r.path(&format!("tasks/pending/{id}.md"));
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(&format!("\n## Result\n\n- session_id: {session}\n"));
    std::fs::write(&path, text).unwrap();
    // The corpus is of late November; "today" is the last day of it.
    let now = "2026-11-28T12:00:00Z";
    let utc = [("BRAIN_NOW", now), ("TZ", "UTC")];
    let out = r.brain_env(&utc, &["usage", "import", "--json"]).ok();
    let v: Value = serde_json::from_str(&out).unwrap();
    let s = v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sessionId"] == session.as_str())
        .unwrap();
    assert_eq!(s["task"], id.as_str());
    assert!(s["totalTokens"].as_u64().unwrap() > 0);
    // Today's figures are in this machine's file, and `brain usage` shows them.
    let file = r.read("context/usage/test-machine.md");
    assert!(
        file.contains("transcripts:\n  imported_at: 2026-11-28T12:00:00Z\n"),
        "{file}"
    );
    let today = v["days"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["date"] == "2026-11-28")
        .map_or(0, |d| d["totalTokens"].as_u64().unwrap());
    assert!(
        file.contains(&format!("  day: 2026-11-28\n  tokens_today: {today}\n")),
        "{file}"
    );
    let shown = r.brain_env(&utc, &["usage"]).ok();
    assert!(
        shown.contains("Claude Code on this machine (test-machine), today (2026-11-28, local)"),
        "{shown}"
    );
    let json: Value = serde_json::from_str(&r.brain_env(&utc, &["usage", "--json"]).ok()).unwrap();
    assert_eq!(json["machine"], "test-machine");
    assert_eq!(json["transcripts"]["tokens_today"], today);
}

#[test]
fn usage_shows_todays_sessions_the_last_limit_and_the_config_limits() {
    let r = Repo::without_commits();
    let mut config = r.read("brain.toml");
    config = config.replace("# max_sessions_per_day = 20", "max_sessions_per_day = 20");
    r.write("brain.toml", &config);
    std::fs::create_dir_all(r.path("context/usage")).unwrap();
    r.write(
        "context/usage/laptop.md",
        "machine: laptop\nlast_updated: 2026-01-31T02:00:00Z\n\nclaude-code:\n  day: 2026-01-31\n  sessions_today: 3\n  estimated_tokens: 50000\n  last_session: 2026-01-31T01:30:00Z\n  limit:\n    kind: \"session\"\n    message: \"You've hit your session limit · resets 4:20am (Europe/Warsaw)\"\n    hit_at: 2026-01-31T02:00:00Z\n    resets_at: 2026-01-31T03:20:00Z\n    until: 2026-01-31T03:20:00Z\n",
    );
    let out = r.brain(&["usage"]).ok();
    assert!(
        out.contains(
            "claude-code on laptop: 3 sessions, 50,000 tokens (of max_sessions_per_day 20)"
        ),
        "{out}"
    );
    assert!(out.contains("Last known limit: claude-code hit the session limit (resets 2026-01-31T03:20:00Z) on laptop at 2026-01-31T02:00:00Z; no new session before 2026-01-31T03:20:00Z (in 50m)"), "{out}");
    let v: Value = serde_json::from_str(&r.brain(&["usage", "--json"]).ok()).unwrap();
    assert_eq!(v["limits"][0]["holds"], true);
    assert_eq!(v["limits"][0]["until"], "2026-01-31T03:20:00Z");
    assert_eq!(v["config"]["claude-code"]["max_sessions_per_day"], 20);
    let later = r.at("2026-01-31T04:00:00Z", &["usage"]).ok();
    assert!(later.contains("it has reset"), "{later}");
}
