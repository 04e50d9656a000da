//! Property: setting one field of a task file leaves every other byte unchanged.
//!
//! The generator builds frontmatter from known pieces (scalars with and without comments and
//! quotes, block lists in both indentations, nested maps, comments, blank lines), with LF or
//! CRLF, with or without a BOM, and a body that may contain `---` lines. Because it knows which
//! lines belong to which key, it can say what must be left untouched without asking the editor.

use proptest::prelude::*;

use brain_core::task::frontmatter::FieldValue;
use brain_core::{State, TaskFile};

#[derive(Debug, Clone)]
enum Piece {
    Scalar {
        key: String,
        value: String,
        comment: bool,
    },
    List {
        key: String,
        items: Vec<String>,
        indented: bool,
    },
    Map {
        key: String,
        sub: Vec<(String, String)>,
    },
    Comment(String),
    Blank,
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,12}",
        "[0-9]{1,4}",
        Just("\"quoted: with colon\"".to_string()),
        Just("'single ''quoted'''".to_string()),
        Just("2026-01-31T02:30:00Z".to_string()),
        Just("ünïcödé ✓ 日本".to_string()),
        Just("true".to_string()),
    ]
}

/// Keys brain does not know, so any value type is fine for them.
fn unknown_key() -> impl Strategy<Value = String> {
    "(x|note|owner|meta|tag)_[a-z]{1,6}"
}

fn piece() -> impl Strategy<Value = Piece> {
    prop_oneof![
        (unknown_key(), value(), any::<bool>()).prop_map(|(key, value, comment)| Piece::Scalar {
            key,
            value,
            comment
        }),
        (
            unknown_key(),
            prop::collection::vec("[a-z]{1,8}", 0..4),
            any::<bool>()
        )
            .prop_map(|(key, items, indented)| Piece::List {
                key,
                items,
                indented
            }),
        // Sub-keys are unique, as YAML requires.
        (
            unknown_key(),
            prop::collection::btree_map("[a-z]{1,6}", value(), 1..3)
        )
            .prop_map(|(key, sub)| Piece::Map {
                key,
                sub: sub.into_iter().collect()
            }),
        "[ a-zA-Z0-9:#-]{0,20}".prop_map(Piece::Comment),
        Just(Piece::Blank),
    ]
}

/// A field brain writes, with the value to set and how it may already appear.
#[derive(Debug, Clone)]
struct Target {
    key: &'static str,
    new: FieldValue,
    /// The field's existing lines, if present (each without a line ending).
    existing: Option<Vec<String>>,
}

fn target() -> impl Strategy<Value = Target> {
    let scalar_keys = prop_oneof![Just("status"), Just("claimed_by"), Just("claimed_at")];
    let int_keys = prop_oneof![Just("epoch"), Just("attempt")];
    let list_keys = prop_oneof![Just("requires"), Just("depends_on")];
    let existing = |lines: Vec<String>| prop::option::of(Just(lines));
    prop_oneof![
        (
            scalar_keys,
            prop_oneof![
                Just("active"),
                Just("claude-code"),
                Just("2026-02-01T00:00:00Z")
            ],
            any::<bool>()
        )
            .prop_flat_map(move |(key, v, comment)| {
                let old = if comment {
                    format!("{key}: old-value  # keep me")
                } else {
                    format!("{key}: old-value")
                };
                let old = if key == "claimed_at" {
                    old.replace("old-value", "2025-01-01T00:00:00Z")
                } else {
                    old
                };
                (Just(key), Just(v.to_string()), existing(vec![old]))
            })
            .prop_map(|(key, v, existing)| {
                let v = if key == "claimed_at" {
                    "2026-02-01T00:00:00Z".to_string()
                } else if key == "claimed_by" {
                    "claude-code".to_string()
                } else {
                    v
                };
                Target {
                    key,
                    new: FieldValue::Str(v),
                    existing,
                }
            }),
        (int_keys, 0u64..1000, existing(vec!["KEY: 3".into()])).prop_map(|(key, n, existing)| {
            Target {
                key,
                new: FieldValue::Int(n),
                existing: existing.map(|l| l.into_iter().map(|s| s.replace("KEY", key)).collect()),
            }
        }),
        (
            list_keys,
            prop::collection::vec("[a-z][a-z0-9_]{0,8}", 0..4),
            prop_oneof![
                existing(vec![
                    "KEY:".into(),
                    "  - old_one".into(),
                    "  - old_two".into()
                ]),
                existing(vec![
                    "KEY:".into(),
                    "- old_one".into(),
                    "".into(),
                    "- old_two".into()
                ]),
                existing(vec!["KEY: [old_one, old_two]".into()]),
            ],
        )
            .prop_map(|(key, items, existing)| Target {
                key,
                new: FieldValue::List(items),
                existing: existing.map(|l| l.into_iter().map(|s| s.replace("KEY", key)).collect()),
            }),
    ]
}

fn lines_of(p: &Piece) -> Vec<String> {
    match p {
        Piece::Scalar {
            key,
            value,
            comment,
        } => {
            vec![if *comment {
                format!("{key}: {value} # note")
            } else {
                format!("{key}: {value}")
            }]
        }
        Piece::List {
            key,
            items,
            indented,
        } => {
            let mut v = vec![if items.is_empty() {
                format!("{key}: []")
            } else {
                format!("{key}:")
            }];
            v.extend(items.iter().map(|i| {
                if *indented {
                    format!("  - {i}")
                } else {
                    format!("- {i}")
                }
            }));
            v
        }
        Piece::Map { key, sub } => {
            let mut v = vec![format!("{key}:")];
            v.extend(sub.iter().map(|(k, val)| format!("  {k}: {val}")));
            v
        }
        Piece::Comment(c) => vec![format!("#{c}")],
        Piece::Blank => vec![String::new()],
    }
}

fn key_of(p: &Piece) -> Option<&str> {
    match p {
        Piece::Scalar { key, .. } | Piece::List { key, .. } | Piece::Map { key, .. } => Some(key),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn setting_one_field_changes_only_its_lines(
        pieces in prop::collection::vec(piece(), 0..12),
        target in target(),
        at in 0usize..12,
        crlf in any::<bool>(),
        bom in any::<bool>(),
        body in prop::collection::vec(prop_oneof!["[ -~]{0,30}", Just("---".to_string()), Just("ü ✓".to_string())], 0..6),
    ) {
        let nl = if crlf { "\r\n" } else { "\n" };
        // Unique keys: YAML forbids duplicates.
        let mut seen = std::collections::HashSet::new();
        let pieces: Vec<Piece> = pieces.into_iter().filter(|p| key_of(p).is_none_or(|k| seen.insert(k.to_string()))).collect();
        // Frontmatter lines, and where the target's block is.
        let mut fm: Vec<String> = Vec::new();
        let mut block: Option<(usize, usize)> = None;
        let at = at.min(pieces.len());
        for i in 0..=pieces.len() {
            if i == at
                && let Some(existing) = &target.existing
            {
                block = Some((fm.len(), fm.len() + existing.len()));
                fm.extend(existing.iter().cloned());
            }
            if let Some(p) = pieces.get(i) {
                fm.extend(lines_of(p));
            }
        }
        let join = |ls: &[String]| ls.iter().map(|l| format!("{l}{nl}")).collect::<String>();
        let head = format!("{}---{nl}", if bom { "\u{feff}" } else { "" });
        let tail = format!("---{nl}{}", join(&body));
        let original = format!("{head}{}{tail}", join(&fm));

        let mut f = TaskFile::parse(std::path::Path::new("t.md"), original.clone().into_bytes(), "t".into(), State::Pending, None)
            .map_err(|e| TestCaseError::fail(format!("generated file did not parse: {e}\n{original}")))?;
        f.set(target.key, target.new.clone()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = f.doc.text().to_string();

        // Everything outside the target's block is byte-identical, in place.
        let (before, after) = match block {
            Some((a, b)) => (format!("{head}{}", join(&fm[..a])), format!("{}{tail}", join(&fm[b..]))),
            None => (format!("{head}{}", join(&fm)), tail.clone()),
        };
        prop_assert!(text.starts_with(&before), "prefix changed:\n{original:?}\n=>\n{text:?}");
        prop_assert!(text.ends_with(&after), "suffix changed:\n{original:?}\n=>\n{text:?}");
        let middle = &text[before.len()..text.len() - after.len()];
        prop_assert!(middle.starts_with(&format!("{}:", target.key)), "{middle:?}");
        prop_assert!(middle.split_inclusive('\n').all(|l| l.ends_with(nl)), "line endings: {middle:?}");
        if target.existing.as_ref().is_some_and(|e| e[0].contains("# keep me")) {
            prop_assert!(middle.trim_end().ends_with("# keep me"), "comment lost: {middle:?}");
        }

        // The new value reads back, and every other field reads as before.
        let again = TaskFile::parse(std::path::Path::new("t.md"), text.into_bytes(), "t".into(), State::Pending, None)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m = &again.task.meta;
        match (&target.key, &target.new) {
            (&"status", FieldValue::Str(v)) => prop_assert_eq!(m.status.as_deref(), Some(v.as_str())),
            (&"claimed_by", FieldValue::Str(v)) => prop_assert_eq!(m.claimed_by.as_deref(), Some(v.as_str())),
            (&"claimed_at", FieldValue::Str(v)) => prop_assert_eq!(m.claimed_at.map(brain_core::task::time::format_ts), Some(v.clone())),
            (&"epoch", FieldValue::Int(n)) => prop_assert_eq!(m.epoch, *n),
            (&"attempt", FieldValue::Int(n)) => prop_assert_eq!(u64::from(m.attempt), *n),
            (&"requires", FieldValue::List(v)) => prop_assert_eq!(&m.requires, v),
            (&"depends_on", FieldValue::List(v)) => prop_assert_eq!(&m.depends_on, v),
            other => prop_assert!(false, "unexpected target {other:?}"),
        }
        prop_assert_eq!(again.doc.body(), f.doc.body());
    }
}
