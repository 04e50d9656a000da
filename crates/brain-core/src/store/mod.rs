//! The brain repo on disk: finding it, its folders and file names, reading one task, and
//! (in `scan`, `cache`, `dirscan`) reading many fast; the prompts files as brain reads them
//! (`prompts`), the files of a new repo (`templates`).
//!
//! Uses `task`, `config`, `git` (to know the work tree it commits to) and `fsutil`. Nothing
//! here changes the queue: that is the queue layer's guard, [`crate::queue::LockedRepo`].

pub mod cache;
pub(crate) mod codec;
pub mod dirscan;
pub mod order;
pub mod prompts;
pub mod scan;
pub mod templates;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::{CONFIG_FILE, Config};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::git::Git;
use crate::task::names;
use crate::task::{State, Task, TaskFile};

pub use scan::{Queue, Scan, parallel_map, queue_order, rank};

/// The folder, under the repo root, that holds the task folders.
pub const TASKS_DIR: &str = "tasks";
/// The folder brain keeps for itself on this machine (lock, scratch); ignored by git.
pub const LOCAL_DIR: &str = ".brain";
/// Paths changed but not committed yet, under [`LOCAL_DIR`].
pub const UNCOMMITTED: &str = "uncommitted";

/// An open brain repo.
#[derive(Debug, Clone)]
pub struct Repo {
    root: PathBuf,
    config: Config,
    /// The git work tree holding the repo, when transitions are committed (found once).
    git: std::sync::OnceLock<Option<Git>>,
    /// Lazy commits (`brain run`; see `queue::group`), shared by the clones.
    pub(crate) lazy: std::sync::Arc<Lazy>,
}

/// Set by a caller that commits waiting transitions itself, now and then (`brain run`; see
/// `queue::group`): a section then leaves its commit to the batch and returns at once.
#[derive(Debug, Default)]
pub(crate) struct Lazy {
    pub(crate) on: std::sync::atomic::AtomicBool,
    /// Since when a transition of this process waits for its commit.
    pub(crate) since: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Lazy {
    /// Since when a transition waits (a poisoned lock still holds a valid instant).
    pub(crate) fn since(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        self.since.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A file under `tasks/` whose name names a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub state: State,
    /// The agent suffix of an active file.
    pub agent: Option<String>,
    pub path: PathBuf,
}

impl From<&Task> for Entry {
    /// The file a task was read from.
    fn from(t: &Task) -> Entry {
        Entry {
            id: t.id.clone(),
            state: t.state,
            agent: t.agent.clone(),
            path: t.path.clone(),
        }
    }
}

/// What a file name under a task folder is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// A task file.
    Task { id: String, agent: Option<String> },
    /// One of brain's temporary files (left over if its writer died).
    Temporary,
    /// Something brain does not read (`.gitkeep`, a hidden file, a non-`.md` file).
    Ignored,
    /// A `.md` file whose name is not a valid task name; the reason says why.
    Bad(String),
}

/// Classifies a file name found in the folder of `state`.
pub fn classify(state: State, name: &str) -> Name {
    if fsutil::is_tmp_name(name) {
        return Name::Temporary;
    }
    if name.starts_with('.') {
        return Name::Ignored;
    }
    let Some(stem) = name.strip_suffix(".md") else {
        return Name::Ignored;
    };
    let (id, agent) = match (state, stem.split_once('.')) {
        (State::Active, Some((id, agent))) => (id, Some(agent)),
        (_, Some(_)) => {
            return Name::Bad(
                "only files in tasks/active/ carry an agent suffix; rename it to `<id>.md`".into(),
            );
        }
        (_, None) => (stem, None),
    };
    if let Err(e) = names::validate_task_id(id) {
        return Name::Bad(e.to_string());
    }
    if let Some(Err(e)) = agent.map(names::validate_agent) {
        return Name::Bad(e.to_string());
    }
    Name::Task {
        id: id.to_string(),
        agent: agent.map(str::to_string),
    }
}

impl Repo {
    /// Finds the repo containing `start` by walking up to a folder with `brain.toml`.
    pub fn discover(start: &Path) -> Result<Repo> {
        let start = std::path::absolute(start).at("resolving", start)?;
        let mut dir = start.as_path();
        loop {
            if dir.join(CONFIG_FILE).is_file() {
                return Repo::open(dir);
            }
            match dir.parent() {
                Some(p) => dir = p,
                None => return Err(Error::NotARepo { start }),
            }
        }
    }

    /// Opens the repo whose root (the folder with `brain.toml`) is `root`.
    pub fn open(root: &Path) -> Result<Repo> {
        let root = std::path::absolute(root).at("resolving", root)?;
        if !root.join(CONFIG_FILE).is_file() {
            return Err(Error::NotARepo { start: root });
        }
        let config = Config::load(&root)?;
        Ok(Repo {
            root,
            config,
            git: std::sync::OnceLock::new(),
            lazy: Default::default(),
        })
    }

    /// The repo root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The parsed `brain.toml`.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This repo with commits per transition switched off, for a caller that commits what it
    /// changed itself (`brain init`).
    pub fn without_commits(self) -> Repo {
        let _ = self.git.set(None);
        self
    }

    /// The git work tree transitions are committed to: none when `[git] commit = false`, when
    /// the repo is not in a git work tree, or when git is not installed.
    pub fn git(&self) -> Option<&Git> {
        self.git
            .get_or_init(|| {
                self.config
                    .git
                    .commit
                    .then(|| Git::detect(&self.root, &self.local_dir()))
                    .flatten()
                    .map(Git::with_tree_editing)
            })
            .as_ref()
    }

    /// The remote that arbitrates the queue (`[git] remote`), when commits are on.
    pub fn remote(&self) -> Option<&str> {
        self.git()?;
        self.config.git.remote.as_deref()
    }

    /// `tasks/<state>/`.
    pub fn state_dir(&self, state: State) -> PathBuf {
        self.root.join(TASKS_DIR).join(state.as_str())
    }

    /// Whether `tasks/<state>/` is a real folder (see [`real_dir`]).
    pub fn check_state_dir(&self, state: State) -> Result<bool> {
        real_dir(&self.root, &Path::new(TASKS_DIR).join(state.as_str()))
    }

    /// `tasks/<state>/`, created if missing, for a transition that writes into it: refused
    /// when it is a symbolic link (or not a folder).
    pub fn writable_state_dir(&self, state: State) -> Result<PathBuf> {
        let dir = self.state_dir(state);
        if !self.check_state_dir(state)? {
            fs::create_dir_all(&dir).at("creating", &dir)?;
        }
        Ok(dir)
    }

    /// The path a task file has in `state` (`active/<id>.<agent>.md` when active).
    pub fn task_path(&self, state: State, id: &str, agent: Option<&str>) -> PathBuf {
        let name = match agent {
            Some(a) => format!("{id}.{a}.md"),
            None => format!("{id}.md"),
        };
        self.state_dir(state).join(name)
    }

    /// `.brain/` for this machine's own files.
    pub fn local_dir(&self) -> PathBuf {
        self.root.join(LOCAL_DIR)
    }

    /// The task files in `state`'s folder, by name; temporary, ignored and badly named files are
    /// left out (bad names are reported in `bad`).
    pub fn entries(&self, state: State, bad: &mut Vec<Error>) -> Result<Vec<Entry>> {
        let dir = self.state_dir(state);
        match self.check_state_dir(state) {
            Ok(true) => {}
            Ok(false) => return Ok(Vec::new()),
            Err(e) => {
                bad.push(e);
                return Ok(Vec::new());
            }
        }
        let read = match fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("reading folder", &dir, e)),
        };
        let mut out = Vec::new();
        for ent in read {
            let ent = ent.at("reading folder", &dir)?;
            let name = ent.file_name();
            let Some(name) = name.to_str() else {
                bad.push(Error::parse(
                    dir.join(&name),
                    1,
                    "the file name is not valid UTF-8; rename it",
                ));
                continue;
            };
            match classify(state, name) {
                Name::Task { id, agent } => out.push(Entry {
                    id,
                    state,
                    agent,
                    path: dir.join(name),
                }),
                Name::Bad(why) => bad.push(Error::parse(dir.join(name), 1, why)),
                Name::Temporary | Name::Ignored => {}
            }
        }
        Ok(out)
    }

    /// Reads and parses one task file.
    pub fn read(&self, entry: &Entry) -> Result<TaskFile> {
        let bytes = read_limited(&entry.path)?;
        TaskFile::parse(
            &entry.path,
            bytes,
            entry.id.clone(),
            entry.state,
            entry.agent.clone(),
        )
    }

    /// Creates `.brain/` with a `.gitignore` that ignores the folder itself. Best effort: a
    /// read-only repo still reads.
    pub fn ensure_local_dir(&self) {
        let local = self.local_dir();
        let ignore = local.join(".gitignore");
        if !ignore.exists() && fs::create_dir_all(&local).is_ok() {
            let _ =
                fsutil::write_atomic(&ignore, crate::store::templates::LOCAL_GITIGNORE.as_bytes());
        }
    }

    /// Every file of the task `id`, in any folder. More than one means the repo needs
    /// `brain doctor`. Ids that differ only in case are one id (NTFS and APFS ignore case, so
    /// `TASK-1.md` and `task-1.md` cannot both exist there): each entry carries the id as its
    /// file spells it, whatever spelling was asked for. The lookup costs a few stats and the
    /// listing of `active/`; only an id found nowhere by its own spelling or in lower case
    /// lists the other folders.
    pub fn locate(&self, id: &str) -> Result<Vec<Entry>> {
        names::validate_task_id(id)?;
        let mut spellings = vec![id.to_string()];
        let lower = id.to_ascii_lowercase();
        if lower != id {
            spellings.push(lower);
        }
        let mut found: Vec<Entry> = Vec::new();
        let inactive = [State::Pending, State::Completed, State::Failed];
        for state in inactive {
            if !self.check_state_dir(state).unwrap_or(false) {
                continue;
            }
            for name in &spellings {
                let path = self.task_path(state, name, None);
                if fs::symlink_metadata(&path).is_err()
                    || found.iter().any(|e| fsutil::same_file(&e.path, &path))
                {
                    continue;
                }
                let id = fsutil::spelling_on_disk(&path)
                    .and_then(|n| n.strip_suffix(".md").map(str::to_string))
                    .unwrap_or_else(|| name.clone());
                let path = self.task_path(state, &id, None);
                found.push(Entry {
                    id,
                    state,
                    agent: None,
                    path,
                });
            }
        }
        let mut ignored = Vec::new();
        let active: Vec<Entry> = self
            .entries(State::Active, &mut ignored)?
            .into_iter()
            .filter(|e| e.id.eq_ignore_ascii_case(id))
            .collect();
        if found.is_empty() && active.is_empty() {
            // `Task-1.md` on a file system that tells case apart: found by listing (only for
            // an id found nowhere else, so a claimed task's lookup stays a few stats).
            for state in inactive {
                if !self.check_state_dir(state).unwrap_or(false) {
                    continue;
                }
                let mut ignored = Vec::new();
                found.extend(
                    self.entries(state, &mut ignored)?
                        .into_iter()
                        .filter(|e| e.id.eq_ignore_ascii_case(id)),
                );
            }
        }
        found.extend(active);
        Ok(found)
    }

    /// The id of task `id` as its file spells it (`TASK-1` finds `task-1`), or `id` itself
    /// when there is no such task (the caller's own error then names what was asked for).
    pub fn spelled(&self, id: &str) -> Result<String> {
        Ok(self
            .locate(id)?
            .into_iter()
            .next()
            .map_or_else(|| id.to_string(), |e| e.id))
    }

    /// The one file of task `id`.
    pub fn find(&self, id: &str) -> Result<Entry> {
        let mut found = self.locate(id)?;
        match found.len() {
            0 => Err(Error::TaskNotFound(id.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Invalid(format!(
                "task `{id}` is in more than one folder ({}); run `brain doctor` to see and repair it",
                found
                    .iter()
                    .map(|e| e.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// Whether `completed` (the `tasks/completed/` folder) holds task `id`: one stat, or two when
/// `id` is not in lower case (a dependency written `TASK-1` is met by `task-1.md` on every
/// file system, not only on those that ignore case).
pub fn completed_in(completed: &Path, id: &str) -> bool {
    completed.join(format!("{id}.md")).is_file()
        || (id.bytes().any(|b| b.is_ascii_uppercase())
            && completed
                .join(format!("{}.md", id.to_ascii_lowercase()))
                .is_file())
}

/// The largest prompts, handoff or usage file brain reads or writes.
pub const TEXT_LIMIT: usize = 16 * 1024 * 1024;
pub(crate) const TEXT_HINT: &str = "move old entries out of it (git keeps them)";

/// Refuses a task file that would be over the size limit, before anything is written.
pub fn check_task_size(f: &TaskFile) -> Result<()> {
    let len = f.doc.text().len();
    if len > crate::task::frontmatter::MAX_TASK_BYTES {
        return Err(Error::TooLarge {
            path: f.task.path.clone(),
            message: format!(
                "the task file would be {} ({len} bytes), over the limit of {} for task files, so brain did not change it; put large output in a file of its own and name it in the text",
                fsutil::format_size(len as u64),
                fsutil::format_size(crate::task::frontmatter::MAX_TASK_BYTES as u64)
            ),
        });
    }
    Ok(())
}

pub(crate) fn check_text_size(path: &Path, text: &str) -> Result<()> {
    if text.len() > TEXT_LIMIT {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            message: format!(
                "the file would be {}, over brain's limit of {}, so brain did not change it; {TEXT_HINT}",
                fsutil::format_size(text.len() as u64),
                fsutil::format_size(TEXT_LIMIT as u64)
            ),
        });
    }
    Ok(())
}

/// Reads a task file: a regular file (never through a symbolic link, never a pipe or a
/// device) of at most the task size limit.
pub fn read_limited(path: &Path) -> Result<Vec<u8>> {
    fsutil::read_regular(
        path,
        crate::task::frontmatter::MAX_TASK_BYTES,
        "move large material to a separate file and link it from the task",
    )
}

/// Whether `rel` (a folder path under `root`) is a real folder: `Ok(false)` when it does not
/// exist, an error when it, or a folder on the way to it, is a symbolic link or not a folder.
/// brain never follows a link out of the repo.
pub fn real_dir(root: &Path, rel: &Path) -> Result<bool> {
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(md) if md.is_dir() => {}
            Ok(md) => {
                return Err(Error::Special {
                    path: at,
                    what: if md.file_type().is_symlink() {
                        "a symbolic link"
                    } else {
                        "not a folder"
                    },
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(Error::io("reading", &at, e)),
        }
    }
    Ok(true)
}

/// The folder of results and errors that arrived for claims that were no longer current.
pub const LATE_DIR: &str = "tasks/late";

/// Late results and errors kept for task `id` (`tasks/late/<id>@…`).
pub fn late_files(root: &Path, id: &str) -> Result<Vec<PathBuf>> {
    files_of(&crate::fsutil::join_rel(root, LATE_DIR), id)
}

/// Where `brain run` keeps each attempt's output, `<id>@<epoch>.log`, under the repo.
pub const OUTPUTS_DIR: &str = "logs/runs";

/// The output files of task `id`'s attempts under `brain run`, oldest first.
pub fn output_files(root: &Path, id: &str) -> Result<Vec<PathBuf>> {
    let mut v = files_of(&crate::fsutil::join_rel(root, OUTPUTS_DIR), id)?;
    // By epoch, as a number (`@10` after `@9`).
    v.sort_by_key(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once('@'))
            .and_then(|(_, e)| e.split('.').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    });
    Ok(v)
}

/// The files in `dir` named `<id>@…`, sorted by name.
fn files_of(dir: &Path, id: &str) -> Result<Vec<PathBuf>> {
    let read = match fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("reading folder", dir, e)),
    };
    let prefix = format!("{id}@");
    let mut out: Vec<PathBuf> = read
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .map(|e| e.path())
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(
            classify(State::Active, "t-1.claude-code.md"),
            Name::Task {
                id: "t-1".into(),
                agent: Some("claude-code".into())
            }
        );
        assert_eq!(
            classify(State::Pending, "t-1.md"),
            Name::Task {
                id: "t-1".into(),
                agent: None
            }
        );
        assert!(matches!(classify(State::Pending, "t-1.a.md"), Name::Bad(_)));
        assert!(matches!(
            classify(State::Pending, "bad name.md"),
            Name::Bad(_)
        ));
        assert_eq!(classify(State::Pending, ".gitkeep"), Name::Ignored);
        assert_eq!(classify(State::Pending, "notes.txt"), Name::Ignored);
        assert_eq!(
            classify(State::Pending, ".t-1.md.brain-tmp.12.0"),
            Name::Temporary
        );
    }
}
