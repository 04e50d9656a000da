//! brain's hooks in Claude Code's `settings.json`: adding them, finding them and taking them
//! out again, leaving every other key and hook as it was (key order included).
//!
//! A hook of brain's is a handler in the exec form (`command` + `args`, no shell) whose program
//! is named `brain` (`brain.exe`) and whose arguments run `hook EVENT`.

use serde_json::{Map, Value, json};

/// The events brain hooks, with their matcher and time limit in seconds.
pub const EVENTS: &[(&str, &str, Option<&str>, u64)] = &[
    (
        "SessionStart",
        "session-start",
        Some("startup|resume|clear|compact"),
        10,
    ),
    ("Stop", "stop", None, 10),
    // Claude Code gives SessionEnd hooks 1.5 s between them.
    ("SessionEnd", "session-end", None, 2),
    ("StopFailure", "stop-failure", Some("rate_limit"), 10),
];

/// brain's handler for `event` (`session-start`, ...): `brain --repo REPO hook EVENT`.
pub fn handler(brain: &str, repo: Option<&str>, event: &str, timeout: u64) -> Value {
    let mut args: Vec<Value> = Vec::new();
    if let Some(r) = repo {
        args.extend([json!("--repo"), json!(r)]);
    }
    args.extend([json!("hook"), json!(event)]);
    json!({"type": "command", "command": brain, "args": args, "timeout": timeout})
}

/// Whether `h` is one of brain's handlers.
pub fn is_ours(h: &Value) -> bool {
    let program = h["command"].as_str().unwrap_or_default();
    let name = program
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let args: Vec<&str> = h["args"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    (name == "brain" || name == "brain.exe")
        && args
            .windows(2)
            .any(|w| w[0] == "hook" && EVENTS.iter().any(|(_, e, _, _)| *e == w[1]))
}

/// brain's handlers in `settings`, with their event.
pub fn ours(settings: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    if let Some(hooks) = settings["hooks"].as_object() {
        for (event, groups) in hooks {
            for g in groups.as_array().into_iter().flatten() {
                for h in g["hooks"].as_array().into_iter().flatten() {
                    if is_ours(h) {
                        out.push((event.clone(), h.clone()));
                    }
                }
            }
        }
    }
    out
}

/// `settings` without brain's handlers: a group left with no handler goes, an event left with
/// no group goes, and `hooks` goes when nothing is left in it.
pub fn remove(settings: &Value) -> Value {
    let mut s = settings.clone();
    let Some(hooks) = s.get_mut("hooks").and_then(Value::as_object_mut) else {
        return s;
    };
    let mut emptied = Vec::new();
    for (event, groups) in hooks.iter_mut() {
        let Some(list) = groups.as_array_mut() else {
            continue;
        };
        let before = list.len();
        for g in list.iter_mut() {
            if let Some(hs) = g.get_mut("hooks").and_then(Value::as_array_mut) {
                hs.retain(|h| !is_ours(h));
            }
        }
        list.retain(|g| g["hooks"].as_array().is_none_or(|h| !h.is_empty()));
        if list.is_empty() && before > 0 {
            emptied.push(event.clone());
        }
    }
    let had_any = !emptied.is_empty();
    for e in emptied {
        hooks.shift_remove(&e);
    }
    if had_any && hooks.is_empty() {
        s.as_object_mut().map(|o| o.shift_remove("hooks"));
    }
    s
}

/// `settings` with brain's handlers (`brain` is the program's absolute path, `repo` the brain
/// repo): any earlier ones of brain's are replaced, nothing else changes.
pub fn install(settings: &Value, brain: &str, repo: Option<&str>) -> Value {
    let mut s = remove(settings);
    if !s.is_object() {
        s = Value::Object(Map::new());
    }
    let root = s.as_object_mut().expect("an object");
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    if !hooks.is_object() {
        *hooks = Value::Object(Map::new());
    }
    let hooks = hooks.as_object_mut().expect("an object");
    for (event, arg, matcher, timeout) in EVENTS {
        let mut group = Map::new();
        if let Some(m) = matcher {
            group.insert("matcher".into(), json!(m));
        }
        group.insert("hooks".into(), json!([handler(brain, repo, arg, *timeout)]));
        let list = hooks
            .entry(*event)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        list.as_array_mut()
            .expect("an array")
            .push(Value::Object(group));
    }
    s
}

/// The brain plugin enabled in `settings` (`enabledPlugins: {"brain@...": true}`), if it is.
pub fn plugin(settings: &Value) -> Option<String> {
    settings["enabledPlugins"]
        .as_object()?
        .iter()
        .find(|(k, v)| k.split('@').next() == Some("brain") && v.as_bool() == Some(true))
        .map(|(k, _)| k.clone())
}

/// The section `brain setup claude --claude-md` adds to a CLAUDE.md, between its markers.
pub const CLAUDE_MD_BEGIN: &str = "<!-- brain:begin (added by `brain setup claude --claude-md`; `brain setup claude --remove` takes it out) -->";
pub const CLAUDE_MD_END: &str = "<!-- brain:end -->";

pub fn claude_md_section(agent: &str) -> String {
    format!(
        "{CLAUDE_MD_BEGIN}
## The shared task queue (brain)

Work for this session may wait in a brain repo, a queue of task files shared with other agents
and a person. At the start of a session brain's hook says what is there: the tasks you could
claim, the claims you hold, answers and handoff notes for you.

- Before starting something of your own, take a waiting task that matches what you can do:
  `brain claim --agent {agent}`.
- While you work on a claimed task, renew its lease now and then with `brain heartbeat`; finish
  with `brain done ID --result \"...\"`, or `brain fail ID --error \"...\" --retry`.
- When you need the person, ask with `brain ask \"...\" --task ID` instead of guessing.
- Before you stop, leave the next agent what it needs: `brain handoff --to AGENT --note \"...\"`.
{CLAUDE_MD_END}
"
    )
}

/// `text` (a CLAUDE.md) with brain's section in it, added at the end or replacing an older one.
pub fn with_claude_md(text: &str, section: &str) -> String {
    let without = without_claude_md(text);
    let mut out = without.trim_end().to_string();
    if !out.is_empty() {
        out.push_str("\n\n");
    }
    out.push_str(section);
    out
}

/// `text` without brain's section (and the blank line that set it apart).
pub fn without_claude_md(text: &str) -> String {
    let (Some(b), Some(e)) = (text.find("<!-- brain:begin"), text.find(CLAUDE_MD_END)) else {
        return text.to_string();
    };
    if e < b {
        return text.to_string();
    }
    let end = e + CLAUDE_MD_END.len();
    let end = end + text[end..].find('\n').map_or(text.len() - end, |n| n + 1);
    let before = text[..b].trim_end_matches('\n');
    let after = &text[end..];
    match (before.is_empty(), after.is_empty()) {
        (true, _) => after.to_string(),
        (false, true) => format!("{before}\n"),
        (false, false) => format!("{before}\n\n{after}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn theirs() -> Value {
        serde_json::from_str(
            r#"{
  "model": "opus",
  "hooks": {
    "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}],
    "SessionStart": [{"hooks": [{"type": "command", "command": "echo hi"}]}]
  },
  "permissions": {"allow": ["Bash(ls:*)"]}
}"#,
        )
        .unwrap()
    }

    #[test]
    fn install_keeps_everything_else_and_twice_is_once() {
        let s = theirs();
        let once = install(&s, "/usr/bin/brain", Some("/home/me/brain"));
        let twice = install(&once, "/usr/bin/brain", Some("/home/me/brain"));
        assert_eq!(once, twice);
        assert_eq!(ours(&once).len(), EVENTS.len());
        assert_eq!(once["model"], "opus");
        assert_eq!(once["permissions"], s["permissions"]);
        assert_eq!(once["hooks"]["PreToolUse"], s["hooks"]["PreToolUse"]);
        // Their SessionStart hook stays, brain's comes after it.
        assert_eq!(
            once["hooks"]["SessionStart"][0],
            s["hooks"]["SessionStart"][0]
        );
        assert_eq!(
            once["hooks"]["SessionStart"][1]["hooks"][0]["args"],
            json!(["--repo", "/home/me/brain", "hook", "session-start"])
        );
        // The order of their keys is kept.
        let keys: Vec<&String> = once.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["model", "hooks", "permissions"]);
        // remove takes out exactly what install added.
        assert_eq!(remove(&once), s);
        // A new binary path replaces the old handlers instead of adding more.
        let moved = install(&once, "/opt/brain/brain", Some("/home/me/brain"));
        assert_eq!(ours(&moved).len(), EVENTS.len());
    }

    #[test]
    fn remove_from_settings_brain_created_leaves_them_as_they_were() {
        let empty = json!({});
        assert_eq!(remove(&install(&empty, "brain", None)), empty);
        let other_hooks = json!({"hooks": {}});
        assert_eq!(remove(&other_hooks), other_hooks);
    }

    #[test]
    fn only_brains_own_handlers_are_ours() {
        assert!(is_ours(&handler("C:\\bin\\brain.exe", None, "stop", 10)));
        assert!(!is_ours(
            &json!({"command": "brainstorm", "args": ["hook", "stop"]})
        ));
        assert!(!is_ours(
            &json!({"command": "/usr/bin/brain", "args": ["list"]})
        ));
        assert!(!is_ours(&json!({"command": "echo brain hook stop"})));
    }

    #[test]
    fn the_claude_md_section_is_added_once_and_taken_out_exactly() {
        let mine = "# My project\n\nRules of mine.\n";
        let section = claude_md_section("claude-code");
        let added = with_claude_md(mine, &section);
        assert!(
            added.starts_with(mine) && added.ends_with(&section),
            "{added}"
        );
        assert_eq!(with_claude_md(&added, &section), added);
        assert_eq!(without_claude_md(&added), mine);
        assert_eq!(without_claude_md(&with_claude_md("", &section)), "");
    }

    #[test]
    fn the_plugin_is_found_by_its_name() {
        assert_eq!(
            plugin(&json!({"enabledPlugins": {"brain@brain-queue": true}})).as_deref(),
            Some("brain@brain-queue")
        );
        assert_eq!(plugin(&json!({"enabledPlugins": {"brain@x": false}})), None);
        assert_eq!(plugin(&json!({"enabledPlugins": {"brainy@x": true}})), None);
    }
}
