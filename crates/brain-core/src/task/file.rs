//! [`TaskFile`]: a task and the text of its file, edited together and losslessly, with the
//! edits remembered so that they can be made again on a newer text.

use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::error::{Error, Result};
use crate::task::frontmatter::{self, Document, FieldValue};
use crate::task::model::{Meta, State, Task};
use crate::task::parse::field_warnings;
use crate::task::time::format_ts;

/// A parsed task file that can be edited losslessly.
///
/// It remembers the text it was read from and the edits made since, so that an edit can be
/// made again on a newer text when someone changed the file meanwhile (see
/// [`crate::queue::LockedRepo::save_task`]).
#[derive(Debug, Clone)]
pub struct TaskFile {
    pub task: Task,
    pub doc: Document,
    /// The text as read.
    original: String,
    /// The edits made since, in order.
    edits: Vec<Edit>,
}

/// One edit of a task file.
#[derive(Debug, Clone)]
enum Edit {
    Set(String, FieldValue),
    Remove(String),
    Append(String),
}

impl TaskFile {
    /// Parses the bytes of the file at `path`, whose place in the repo gave `id`, `state` and
    /// `agent`.
    pub fn parse(
        path: &Path,
        bytes: Vec<u8>,
        id: String,
        state: State,
        agent: Option<String>,
    ) -> Result<TaskFile> {
        let doc = frontmatter::decode(bytes).map_err(|e| Error::parse(path, e.line, e.message))?;
        let meta = Meta::parse(&doc, path)?;
        let title = meta
            .title
            .clone()
            .or_else(|| heading(doc.body()))
            .unwrap_or_else(|| id.clone());
        Ok(TaskFile {
            original: doc.text().to_string(),
            task: Task {
                id,
                state,
                agent,
                title,
                path: path.to_path_buf(),
                meta,
                warnings: field_warnings(&doc),
            },
            doc,
            edits: Vec::new(),
        })
    }

    /// The text the file had when it was read.
    pub fn original(&self) -> &str {
        &self.original
    }

    /// Whether an edit changed the text.
    pub fn changed(&self) -> bool {
        self.doc.text() != self.original
    }

    /// The same edits made on `text`, a newer text of the same file: the file as it will be
    /// written when someone changed it since it was read.
    pub fn redo(&self, text: &[u8]) -> Result<TaskFile> {
        let t = &self.task;
        let mut f = TaskFile::parse(
            &t.path,
            text.to_vec(),
            t.id.clone(),
            t.state,
            t.agent.clone(),
        )?;
        for e in &self.edits {
            match e {
                Edit::Set(k, v) => f.doc.set(k, v),
                Edit::Remove(k) => f.doc.remove(k),
                Edit::Append(a) => f.doc.append_body(a),
            }
        }
        f.reread(f.doc.clone())?;
        f.edits = self.edits.clone();
        Ok(f)
    }

    /// Takes `text`, now on disk and written by brain with this file's edits in it, as the
    /// file's text (its new original, with no edits pending).
    pub fn written(&mut self, text: Vec<u8>) -> Result<()> {
        if text != self.doc.text().as_bytes() {
            let t = &self.task;
            *self = TaskFile::parse(&t.path, text, t.id.clone(), t.state, t.agent.clone())?;
        }
        self.original = self.doc.text().to_string();
        self.edits.clear();
        Ok(())
    }

    /// Records that the file was moved to `path` in `state`'s folder (its text unchanged).
    pub fn moved_to(&mut self, path: PathBuf, state: State) {
        self.task.path = path;
        self.task.state = state;
        if state != State::Active {
            self.task.agent = None;
        }
    }

    /// Appends a section to the body (see [`Document::append_body`]).
    pub fn append_body(&mut self, text: &str) {
        self.doc.append_body(text);
        self.edits.push(Edit::Append(text.to_string()));
    }

    /// Sets a field in the text and re-reads the typed view from it, so the two never disagree.
    /// An edit that would make the file unparsable is refused and leaves it as it was.
    pub fn set(&mut self, key: &str, value: FieldValue) -> Result<()> {
        let before = self.doc.clone();
        self.doc.set(key, &value);
        self.reread(before)?;
        self.edits.push(Edit::Set(key.to_string(), value));
        Ok(())
    }

    /// Sets several fields, re-reading the typed view once at the end. All or nothing: if the
    /// result would not parse, the file keeps its old text.
    pub fn set_all(&mut self, fields: &[(&str, FieldValue)]) -> Result<()> {
        let before = self.doc.clone();
        for (key, value) in fields {
            self.doc.set(key, value);
        }
        self.reread(before)?;
        self.edits.extend(
            fields
                .iter()
                .map(|(k, v)| Edit::Set(k.to_string(), v.clone())),
        );
        Ok(())
    }

    /// Sets a time field.
    pub fn set_time(&mut self, key: &str, ts: Timestamp) -> Result<()> {
        self.set(key, FieldValue::Str(format_ts(ts)))
    }

    /// Removes a field.
    pub fn remove(&mut self, key: &str) -> Result<()> {
        let before = self.doc.clone();
        self.doc.remove(key);
        self.reread(before)?;
        self.edits.push(Edit::Remove(key.to_string()));
        Ok(())
    }

    fn reread(&mut self, before: Document) -> Result<()> {
        match Meta::parse(&self.doc, &self.task.path) {
            Ok(meta) => {
                self.task.meta = meta;
                Ok(())
            }
            Err(e) => {
                self.doc = before;
                Err(e)
            }
        }
    }
}

/// What brain reads differently than a person may expect in a task file (see
/// `field_warnings`), for `list`, `status` and `doctor`.
pub fn reading_warnings(f: &TaskFile) -> Vec<String> {
    f.task.warnings.clone()
}

/// The first `# ` heading of a body, without a `Task: ` prefix.
pub fn heading(body: &str) -> Option<String> {
    let mut in_fence = false;
    for line in body.lines() {
        let t = line.trim_end();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(h) = t.strip_prefix("# ") {
            let h = h.trim();
            let h = h.strip_prefix("Task:").map_or(h, str::trim);
            if !h.is_empty() {
                return Some(h.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TaskFile> {
        TaskFile::parse(
            Path::new("t.md"),
            text.as_bytes().to_vec(),
            "t".into(),
            State::Pending,
            None,
        )
    }

    #[test]
    fn seed_task_parses() {
        let f = parse(
            "---\nid: task-2026-01-31-001\ncreated: 2026-01-31T02:30:00Z\npriority: medium\nrequires:\n  - code_execution\n  - file_access\npreferred_interface: claude-code\ntimeout: 60m\nstatus: pending\n---\n\n# Task: Analyze vault folder structure\n",
        )
        .unwrap();
        let m = &f.task.meta;
        assert_eq!(m.requires, ["code_execution", "file_access"]);
        assert_eq!(m.timeout, Some(3600));
        assert_eq!(f.task.title, "Analyze vault folder structure");
        assert_eq!(m.preferred_interface.as_deref(), Some("claude-code"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("---\nid: a\npriority: urgent\n---\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.md:3: `priority`"), "{e}");
        let e = parse("---\nid: a\ntimeout: 90\n---\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.md:3: `timeout`") && e.contains("no unit"),
            "{e}"
        );
        let e = parse("---\nid: a\nattempt: many\n---\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.md:3:"), "{e}");
        let e = parse("---\nid: a\nid: b\n---\n").unwrap_err().to_string();
        assert!(e.starts_with("t.md:3:"), "{e}");
    }

    #[test]
    fn set_refuses_edits_that_break_the_file() {
        let mut f = parse("---\nid: a\n---\n").unwrap();
        assert!(f.set("attempt", FieldValue::Str("x".into())).is_err());
        assert_eq!(f.doc.text(), "---\nid: a\n---\n");
        f.set("attempt", FieldValue::Int(2)).unwrap();
        assert_eq!(f.task.meta.attempt, 2);
    }
}
