//! The task-file corpus in `tests/fixtures/tasks/`: every valid file parses and survives an
//! edit byte for byte; every invalid file gets an error naming the file and the right line.

use std::fs;
use std::path::{Path, PathBuf};

use brain_core::task::frontmatter::FieldValue;
use brain_core::{State, TaskFile};

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tasks")
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the {kind} corpus at {} is too small",
        dir.display()
    );
    files
}

fn parse(path: &Path) -> brain_core::Result<TaskFile> {
    let id = path.file_stem().unwrap().to_str().unwrap().to_string();
    TaskFile::parse(path, fs::read(path).unwrap(), id, State::Pending, None)
}

#[test]
fn valid_files_parse() {
    for path in corpus("valid") {
        let f = parse(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!f.task.title.is_empty(), "{}", path.display());
    }
}

#[test]
fn every_timeout_form() {
    for path in corpus("valid").into_iter().filter(|p| {
        p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("timeout-")
    }) {
        let f = parse(&path).unwrap();
        // The title says what the timeout is: "Timeout 1h30m is 5400 seconds".
        let want: u64 = f
            .task
            .title
            .split(' ')
            .rev()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(f.task.meta.timeout, Some(want), "{}", path.display());
    }
}

#[test]
fn typed_values_of_special_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tasks/valid");
    let quoted = parse(&dir.join("quoted.md")).unwrap();
    assert_eq!(quoted.task.title, "It's \"quoted\": yes");
    assert_eq!(quoted.task.meta.timeout, Some(7200));
    assert_eq!(quoted.task.meta.requires, ["file_access", "code_execution"]);
    let uni = parse(&dir.join("unicode.md")).unwrap();
    assert_eq!(uni.task.title, "Zusammenfassung der Notizen — 日本語 ✓");
    let all = parse(&dir.join("all-fields.md")).unwrap();
    let m = &all.task.meta;
    assert_eq!(m.requires, ["file_access"]);
    assert_eq!(m.approval, Some(brain_core::task::Approval::Required));
    assert!(!m.unattended);
    assert_eq!(m.max_attempts, Some(5));
    assert_eq!(m.depends_on, ["task-2026-02-01-001"]);
    let body = parse(&dir.join("dashes-in-body.md")).unwrap();
    assert!(body.doc.body().contains("Between rules.\n---\nBelow."));
    let crlf = parse(&dir.join("crlf.md")).unwrap();
    let seed = parse(&dir.join("seed.md")).unwrap();
    assert_eq!(crlf.task.meta, seed.task.meta);
    assert_eq!(crlf.task.title, seed.task.title);
}

/// What setting single-line `key: value` fields should produce, computed line by line,
/// independently of the editor: an existing line keeps its place and its trailing comment, a
/// new one goes just before the closing `---`.
fn expected_after_set(original: &str, fields: &[(&str, &str)]) -> String {
    let nl = if original.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let lines: Vec<&str> = original.split_inclusive('\n').collect();
    let close = 1 + lines[1..]
        .iter()
        .position(|l| l.trim_end() == "---")
        .unwrap();
    let mut out = String::new();
    let mut missing: Vec<(&str, &str)> = fields.to_vec();
    for (i, line) in lines.iter().enumerate() {
        if i == close {
            for (k, v) in &missing {
                out.push_str(&format!("{k}: {v}{nl}"));
            }
        }
        let hit = (1..close)
            .contains(&i)
            .then(|| {
                missing
                    .iter()
                    .position(|(k, _)| line.starts_with(&format!("{k}:")))
            })
            .flatten();
        match hit {
            Some(j) => {
                let (k, v) = missing.remove(j);
                let comment = line.find(" #").map(|c| line[c..].trim_end()).unwrap_or("");
                let pad = &line[..line.find(" #").unwrap_or(0)];
                let spaces = pad.len() - pad.trim_end().len();
                let comment = if comment.is_empty() {
                    String::new()
                } else {
                    format!("{}{}", " ".repeat(spaces), comment)
                };
                out.push_str(&format!("{k}: {v}{comment}{nl}"));
            }
            None => out.push_str(line),
        }
    }
    out
}

/// Setting fields changes those fields' lines and nothing else.
#[test]
fn edits_are_lossless_on_every_valid_file() {
    for path in corpus("valid") {
        let original = fs::read_to_string(&path).unwrap();
        let mut f = parse(&path).unwrap();
        f.set("epoch", FieldValue::Int(7)).unwrap();
        f.set("claimed_by", FieldValue::Str("claude-code".into()))
            .unwrap();
        f.set("status", FieldValue::Str("active".into())).unwrap();
        assert_eq!(f.task.meta.epoch, 7);
        assert_eq!(f.task.meta.status.as_deref(), Some("active"));
        // Re-read from the text: the typed view and the file agree.
        let again = TaskFile::parse(
            &path,
            f.doc.text().as_bytes().to_vec(),
            "x".into(),
            State::Active,
            None,
        )
        .unwrap();
        assert_eq!(again.task.meta, f.task.meta, "{}", path.display());
        let want = expected_after_set(
            &original,
            &[
                ("epoch", "7"),
                ("claimed_by", "claude-code"),
                ("status", "active"),
            ],
        );
        assert_eq!(f.doc.text(), want, "{}", path.display());
    }
}

#[test]
fn invalid_files_name_file_and_line() {
    let expected = [
        ("bad-created.md", 3, "created"),
        ("bad-depends.md", 3, "depends_on"),
        ("bad-id-field.md", 2, "id"),
        ("bad-indent.md", 5, ""),
        ("bad-priority.md", 3, "priority"),
        // Regression: an unclosed `[` was reported on the line after it.
        (
            "bad-yaml.md",
            3,
            "`requires`: the `[` opened here is never closed",
        ),
        ("closed-then-wrong.md", 5, ""),
        ("duplicate-key.md", 4, "`status` appears twice"),
        ("missing-close.md", 1, "never closed"),
        ("no-frontmatter.md", 1, "`---`"),
        ("non-utf8.md", 3, "UTF-8"),
        ("not-a-map.md", 2, ""),
        ("oversized.md", 1, "limited"),
        ("timeout-bad-unit.md", 3, "unit"),
        ("timeout-no-unit.md", 3, "no unit"),
        (
            "unclosed-quote.md",
            4,
            "`notes`: invalid value: unclosed quote",
        ),
        ("wrong-type-attempt.md", 3, "attempt"),
        ("wrong-type-requires.md", 4, "requires"),
        ("wrong-type-unattended.md", 3, "unattended"),
        ("zero-attempts.md", 3, "max_attempts"),
    ];
    let files = corpus("invalid");
    assert_eq!(
        files.len(),
        expected.len(),
        "every invalid fixture has an expectation"
    );
    for (name, line, word) in expected {
        let path = files.iter().find(|p| p.ends_with(name)).unwrap();
        let err = parse(path).expect_err(name).to_string();
        let prefix = format!("{}:{line}: ", path.display());
        assert!(
            err.starts_with(&prefix),
            "{name}: `{err}` does not start with `{prefix}`"
        );
        assert!(
            err.contains(word),
            "{name}: `{err}` does not mention `{word}`"
        );
        println!("{err}");
    }
}
