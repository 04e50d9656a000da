//! The brain repo on disk: finding it, reading its tasks, and the lock that every mutation holds.

use std::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::cache::{self, FolderCache, OrderKey, Source, Stamp};
use crate::config::{CONFIG_FILE, Config};
use crate::dirscan::Listing;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, FileLock};
use crate::git::Git;
use crate::names;
use crate::task::{Priority, State, Task, TaskFile};

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

/// Changed files a scan parses again rather than rewrite the folder cache.
pub const REPARSE_LIMIT: usize = 16;

/// How long after a full stat pass of `pending/` a claim may order by the cache alone (see
/// [`Repo::queue`]).
pub const TRUST_SECS: u64 = 10;

/// One task file after the stat pass of [`Repo::read_folder`].
enum Got {
    /// The cache holds it (entry `idx`); its name is the listing's `i`th.
    Hit { i: usize, stamp: Stamp, idx: u32 },
    /// Read from the file (boxed: misses are rare, hits are many and small).
    Miss(Result<Box<(Task, Stamp)>>),
    /// Not a task, or gone.
    Skip,
}

/// A folder's cache and its task files after the stat pass.
struct Folder {
    cache: FolderCache,
    got: Vec<Got>,
    listing: Option<Listing>,
}

impl Folder {
    fn name<'a>(&'a self, g: &'a Got) -> &'a str {
        match (g, &self.listing) {
            (Got::Hit { i, .. }, Some(l)) => l.name(*i),
            (Got::Miss(Ok(b)), _) => file_name(&b.0.path),
            _ => "",
        }
    }

    /// Queue order ([`rank`]) of two entries with their order keys, for the agent whose name
    /// hashes to `mine`.
    fn order(
        &self,
        mine: u64,
        (a, ia): &(OrderKey, usize),
        (b, ib): &(OrderKey, usize),
    ) -> Ordering {
        let key = |k: &OrderKey, i: usize| {
            (
                rank(k.priority, k.prefer == mine, k.created),
                self.name(&self.got[i]),
            )
        };
        key(a, *ia).cmp(&key(b, *ib))
    }

    fn decode(&self, g: &Got) -> Option<Task> {
        match g {
            Got::Hit { idx, .. } => self.cache.decode(*idx, self.name(g)),
            Got::Miss(Ok(b)) => Some(b.0.clone()),
            _ => None,
        }
    }
}

/// Pending tasks in queue order, decoded on demand (see [`Repo::queue`]).
pub struct Queue {
    folder: Folder,
    /// Order keys and positions in `folder.got`; `order[..head]` is sorted and comes before
    /// everything after it, which is sorted only if a claim gets that far.
    order: Vec<(OrderKey, usize)>,
    head: usize,
    mine: u64,
}

impl Queue {
    /// How many tasks it holds.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The tasks, in order.
    pub fn tasks(&mut self) -> impl Iterator<Item = Task> + '_ {
        let (head, rest) = self.order.split_at_mut(self.head);
        let (folder, mine) = (&self.folder, self.mine);
        let mut rest = Some(rest);
        head.iter()
            .map(|&(_, i)| i)
            .chain(
                std::iter::from_fn(move || {
                    // Reached only when none of the first ones could be claimed.
                    let rest = rest.take()?;
                    rest.sort_unstable_by(|a, b| folder.order(mine, a, b));
                    Some(rest.iter().map(|&(_, i)| i))
                })
                .flatten(),
            )
            .filter_map(move |i| folder.decode(&folder.got[i]))
    }
}

/// The result of reading many task files: the good ones, and an error for each bad one.
#[derive(Debug, Default)]
pub struct Scan {
    pub tasks: Vec<Task>,
    pub problems: Vec<Error>,
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

    /// Writes `data` for `target` ahead of a transition (see [`Prepared`]).
    pub fn prepare(&self, target: &Path, data: Vec<u8>) -> Result<Prepared> {
        let tmp = fsutil::write_tmp(target, &data)?;
        Ok(Prepared {
            target: target.to_path_buf(),
            data,
            tmp: Some(tmp),
        })
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

    /// Reads every task in `states`, in parallel, through the folder caches (see
    /// [`crate::cache`]). Bad files are reported in `problems` and never stop the others from
    /// being read.
    pub fn scan(&self, states: &[State]) -> Result<Scan> {
        let mut scan = Scan::default();
        for &state in states {
            let folder = self.read_folder(state, false, &mut scan.problems)?;
            let tasks = parallel_map(&folder.got, |g| folder.decode(g));
            scan.tasks.extend(tasks.into_iter().flatten());
        }
        Ok(scan)
    }

    /// The pending tasks in queue order for `agent` (priority, then `preferred_interface ==
    /// agent`, then `created`, then id), decoded one at a time as they are asked for: a claim
    /// usually reads one task, not all of them.
    ///
    /// Ordering may use the cache without a stat of every file for [`TRUST_SECS`] after a full
    /// pass: files that are new, renamed, or replaced (brain's own writes, most editors' saves)
    /// change their inode and are read at once; a file rewritten in place by an editor is seen
    /// by the next full pass. Callers re-read a task before acting on it.
    pub fn queue(&self, agent: Option<&str>, problems: &mut Vec<Error>) -> Result<Queue> {
        let checked = self.cache_path(State::Pending).with_extension("checked");
        let fresh = fs::metadata(&checked)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() < TRUST_SECS);
        let folder = self.read_folder(State::Pending, fresh, problems)?;
        let mine = agent.map_or(u64::MAX, cache::agent_hash);
        let mut order: Vec<(OrderKey, usize)> = folder
            .got
            .iter()
            .enumerate()
            .filter_map(|(i, g)| match g {
                Got::Hit { idx, .. } => folder.cache.key(*idx).map(|k| (k, i)),
                Got::Miss(Ok(b)) => Some((OrderKey::of(&b.0), i)),
                Got::Miss(Err(_)) | Got::Skip => None,
            })
            .collect();
        let cmp = |a: &(OrderKey, usize), b: &(OrderKey, usize)| folder.order(mine, a, b);
        // A claim usually takes one of the first few: put those in order in linear time, and
        // sort the rest only if it gets that far.
        const HEAD: usize = 16;
        let head = if order.len() > HEAD {
            order.select_nth_unstable_by(HEAD, cmp);
            HEAD
        } else {
            order.len()
        };
        order[..head].sort_unstable_by(cmp);
        Ok(Queue {
            order,
            head,
            mine,
            folder,
        })
    }

    /// Lists a folder, stats every task file (in parallel, through the open folder), and parses
    /// the ones the cache does not hold; then refreshes the cache if that is worth it.
    fn read_folder(
        &self,
        state: State,
        trust_ino: bool,
        problems: &mut Vec<Error>,
    ) -> Result<Folder> {
        let dir = self.state_dir(state);
        let cache_path = self.cache_path(state);
        let mut bad_names = Vec::new();
        let empty = || Folder {
            cache: FolderCache::default(),
            got: Vec::new(),
            listing: None,
        };
        match self.check_state_dir(state) {
            Ok(true) => {}
            Ok(false) => return Ok(empty()),
            Err(e) => {
                // Reported as unreadable, as any bad file is; the other folders are served.
                problems.push(e);
                return Ok(empty());
            }
        }
        let listing = match Listing::read(&dir, &mut bad_names) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty()),
            Err(e) => return Err(Error::io("reading folder", &dir, e)),
        };
        for p in bad_names {
            problems.push(Error::parse(
                p,
                1,
                "the file name is not valid UTF-8; rename it",
            ));
        }
        let cache = FolderCache::load(&cache_path, &dir, state);
        let indices: Vec<usize> = (0..listing.len()).collect();
        let got = parallel_map(&indices, |&i| {
            let name = listing.name(i);
            if !name.ends_with(".md") || name.starts_with('.') {
                return Got::Skip;
            }
            if trust_ino
                && let Some((idx, stamp)) =
                    listing.ino(i).and_then(|ino| cache.lookup_ino(name, ino))
            {
                return Got::Hit { i, stamp, idx };
            }
            let stamp = match listing.stamp(i) {
                Ok(s) => s,
                // Moved on between listing and reading: not a problem.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Got::Skip,
                Err(e) => return Got::Miss(Err(Error::io("reading", dir.join(name), e))),
            };
            // Only valid names are ever cached, so a hit needs no further checks.
            if let Some(idx) = cache.lookup(name, &stamp) {
                return Got::Hit { i, stamp, idx };
            }
            let (id, agent) = match classify(state, name) {
                Name::Task { id, agent } => (id, agent),
                Name::Bad(why) => return Got::Miss(Err(Error::parse(dir.join(name), 1, why))),
                Name::Temporary | Name::Ignored => return Got::Skip,
            };
            let entry = Entry {
                id,
                state,
                agent,
                path: dir.join(name),
            };
            match self.read(&entry) {
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    Got::Skip
                }
                r => Got::Miss(r.map(|f| Box::new((f.task, stamp)))),
            }
        });
        let mut hits = 0;
        let mut misses = 0;
        let mut got: Vec<Got> = got
            .into_iter()
            .filter_map(|g| match g {
                Got::Skip => None,
                Got::Miss(Err(e)) => {
                    problems.push(e);
                    None
                }
                g => {
                    match &g {
                        Got::Hit { .. } => hits += 1,
                        _ => misses += 1,
                    }
                    Some(g)
                }
            })
            .collect();
        got.shrink_to_fit();
        // Rewriting the cache costs a new file (and, on ext4, an inode allocation), so it is
        // rewritten only when that saves more than it costs: a handful of changed files is
        // cheaper to parse again next time, and entries of files that are gone are harmless
        // (a name that comes back has a new stamp) until they pile up.
        let dead = cache.len().saturating_sub(hits);
        if !trust_ino && state == State::Pending {
            self.ensure_local_dir();
            let _ = fsutil::write_atomic_nosync(&cache_path.with_extension("checked"), b"");
        }
        if misses > REPARSE_LIMIT || dead > 64 + cache.len() / 8 {
            self.ensure_local_dir();
            cache::save(
                &cache_path,
                got.iter().filter_map(|g| match g {
                    Got::Hit { i, stamp, idx } => {
                        Some((listing.name(*i), *stamp, Source::Raw(cache.raw(*idx)?)))
                    }
                    Got::Miss(Ok(b)) => Some((file_name(&b.0.path), b.1, Source::Task(&b.0))),
                    _ => None,
                }),
            );
        }
        Ok(Folder {
            cache,
            got,
            listing: Some(listing),
        })
    }

    fn cache_path(&self, state: State) -> PathBuf {
        self.local_dir()
            .join("cache")
            .join(format!("{}.bin", state.as_str()))
    }

    /// Creates `.brain/` with a `.gitignore` that ignores the folder itself. Best effort: a
    /// read-only repo still reads.
    pub fn ensure_local_dir(&self) {
        let local = self.local_dir();
        let ignore = local.join(".gitignore");
        if !ignore.exists() && fs::create_dir_all(&local).is_ok() {
            let _ = fsutil::write_atomic(&ignore, crate::templates::LOCAL_GITIGNORE.as_bytes());
        }
    }

    /// Every file of the task `id`, in any folder. More than one means the repo needs
    /// `brain doctor`.
    pub fn locate(&self, id: &str) -> Result<Vec<Entry>> {
        names::validate_task_id(id)?;
        let mut found = Vec::new();
        for state in [State::Pending, State::Completed, State::Failed] {
            let path = self.task_path(state, id, None);
            if self.check_state_dir(state).unwrap_or(false) && fs::symlink_metadata(&path).is_ok() {
                found.push(Entry {
                    id: id.to_string(),
                    state,
                    agent: None,
                    path,
                });
            }
        }
        let mut ignored = Vec::new();
        found.extend(
            self.entries(State::Active, &mut ignored)?
                .into_iter()
                .filter(|e| e.id == id),
        );
        Ok(found)
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

    /// Takes the queue lock: every mutation of the queue on this machine happens while holding
    /// it, so mutations are serialized.
    pub fn lock(&self) -> Result<LockedRepo<'_>> {
        self.lock_with(true)
    }

    /// [`Repo::lock`] for a caller that only reads and must work offline (`brain doctor`
    /// without `--fix`, `brain run --dry-run`): no catching up with the remote, and no commit
    /// (not even of `context/active-agent.md`), since a commit that is never pushed would make
    /// this copy diverge from the remote.
    pub fn lock_offline(&self) -> Result<LockedRepo<'_>> {
        self.lock_with(false)
    }

    fn lock_with(&self, catch_up: bool) -> Result<LockedRepo<'_>> {
        self.ensure_local_dir();
        let lock = FileLock::acquire(&self.local_dir().join("lock"))?;
        // Before anything changes: a transition that cannot be committed is not made.
        if let Some(git) = self.git() {
            git.check_ready()?;
        }
        let locked = LockedRepo {
            repo: self,
            lock: Some(lock),
            unsynced: std::cell::RefCell::new(Vec::new()),
            touched: std::cell::RefCell::new(Vec::new()),
            active: std::cell::RefCell::new(None),
            remote: std::cell::RefCell::new(None),
            prepared: std::cell::RefCell::new(Vec::new()),
            read_only: !catch_up,
            notes: std::cell::RefCell::new(Vec::new()),
            deferred: std::cell::Cell::new(false),
            replaced: std::cell::RefCell::new(Vec::new()),
        };
        // With a remote, the queue is first brought to the remote's tip (see `remote.rs`).
        if let Some(remote) = self.remote().filter(|_| catch_up) {
            let state = locked.catch_up(remote)?;
            *locked.remote.borrow_mut() = Some(state);
        }
        Ok(locked)
    }
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

/// The largest prompts, handoff or usage file brain reads or writes.
pub const TEXT_LIMIT: usize = 16 * 1024 * 1024;
const TEXT_HINT: &str = "move old entries out of it (git keeps them)";

/// Refuses a task file that would be over the size limit, before anything is written.
pub fn check_task_size(f: &TaskFile) -> Result<()> {
    let len = f.doc.text().len();
    if len > crate::frontmatter::MAX_TASK_BYTES {
        return Err(Error::TooLarge {
            path: f.task.path.clone(),
            message: format!(
                "the task file would be {} ({len} bytes), over the limit of {} for task files, so brain did not change it; put large output in a file of its own and name it in the text",
                fsutil::format_size(len as u64),
                fsutil::format_size(crate::frontmatter::MAX_TASK_BYTES as u64)
            ),
        });
    }
    Ok(())
}

fn check_text_size(path: &Path, text: &str) -> Result<()> {
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
        crate::frontmatter::MAX_TASK_BYTES,
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

/// Maps `f` over `items` on all cores, keeping order.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    // Asked once: on Linux the answer comes from reading cgroup files.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads =
        *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    // Threads cost about as much to start as a few dozen stats.
    if threads <= 1 || items.len() < 64 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The queue order of SPEC §3 as a sortable key, for everything that orders tasks: priority,
/// then preferred by the claiming agent, then `created` (a task without one after those with
/// one). Ties are broken by id (the file name).
pub fn rank(
    priority: Priority,
    preferred: bool,
    created: Option<i128>,
) -> (Priority, bool, bool, Option<i128>) {
    (priority, !preferred, created.is_none(), created)
}

/// Queue order within a state (see [`rank`]) for tasks in hand; `agent` is the claimer.
pub fn queue_order(a: &Task, b: &Task, agent: Option<&str>) -> Ordering {
    fn key<'t>(t: &'t Task, agent: Option<&str>) -> (impl Ord, &'t str) {
        let preferred = agent.is_some() && t.meta.preferred_interface.as_deref() == agent;
        let created = t.meta.created.map(|c| c.as_nanosecond());
        (rank(t.meta.priority, preferred, created), t.id.as_str())
    }
    key(a, agent).cmp(&key(b, agent))
}

/// The repo while this process holds the queue lock. Only this type can change the queue.
pub struct LockedRepo<'a> {
    repo: &'a Repo,
    /// Released before the deferred folder fsyncs run (see [`LockedRepo::finish`]).
    lock: Option<FileLock>,
    /// Folders whose renames still need an fsync to be durable.
    unsynced: std::cell::RefCell<Vec<PathBuf>>,
    /// Paths changed since the last commit (see [`LockedRepo::commit_point`]).
    touched: std::cell::RefCell<Vec<PathBuf>>,
    /// The active claims, read once per locked section and kept exact by every transition
    /// (see [`LockedRepo::active_tasks`]).
    active: std::cell::RefCell<Option<Vec<Task>>>,
    /// With a remote: where this section started and the commits it made, not yet pushed.
    pub(crate) remote: std::cell::RefCell<Option<crate::remote::Section>>,
    /// Files written and fsynced before the lock was taken (see [`Prepared`]).
    prepared: std::cell::RefCell<Vec<Prepared>>,
    /// Taken by [`Repo::lock_offline`]: commits nothing.
    read_only: bool,
    /// What the section has to say (see [`LockedRepo::say`]).
    notes: std::cell::RefCell<Vec<String>>,
    /// Set once a commit of this section could not be made (see [`LockedRepo::commit_point`]).
    deferred: std::cell::Cell<bool>,
    /// Files this section replaced, still open, with where their text is now (see
    /// [`LockedRepo::carry_late_appends`]).
    replaced: std::cell::RefCell<Vec<(PathBuf, fsutil::Replaced)>>,
}

/// A file's next content, written to a temporary file and fsynced *before* the queue lock is
/// taken, so that the transition under the lock only renames it into place. It is used only if
/// the transition, computed under the lock as always, writes exactly these bytes to exactly
/// this path; otherwise it is thrown away. This takes an fsync out of the lock without
/// trusting anything read outside it.
#[derive(Debug)]
pub struct Prepared {
    target: PathBuf,
    data: Vec<u8>,
    tmp: Option<PathBuf>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

impl std::ops::Deref for LockedRepo<'_> {
    type Target = Repo;
    fn deref(&self) -> &Repo {
        self.repo
    }
}

impl Drop for LockedRepo<'_> {
    fn drop(&mut self) {
        // With a remote, commits that were never pushed were never real: undo them. Only while
        // the lock is still held (an early return): once `finish` released it, the working
        // tree and `.brain/uncommitted` belong to the next process.
        if self.lock.is_some() {
            let _ = self.roll_back();
        }
        // On an early return (an error) the renames made so far are still made durable.
        let _ = self.sync_deferred();
    }
}

impl LockedRepo<'_> {
    /// Releases the lock, then fsyncs the folders whose renames it made, so that the next
    /// process can go on while this one waits for the disk. A command reports success only
    /// after this returns: every transition is durable before it is acknowledged, and the lock
    /// only orders them.
    ///
    /// Returns what the section said (see [`LockedRepo::say`]) that was not taken yet.
    pub fn finish(mut self) -> Result<Vec<String>> {
        self.carry_late_appends()?;
        self.commit_point("brain: update the queue")?;
        self.publish()?;
        self.sync_deferred()?;
        Ok(self.take_notes())
    }

    /// Hands a file prepared before the lock to this transition (see [`Prepared`]).
    pub fn offer(&self, prepared: Prepared) {
        self.prepared.borrow_mut().push(prepared);
    }

    /// Records that `path` changed, for the next commit. The path is also appended to
    /// `.brain/uncommitted` first, so that a process killed before its commit leaves the list
    /// behind and the next commit takes those changes in too.
    pub fn touch(&self, path: &Path) {
        if self.git().is_none() {
            return;
        }
        let rel = path.strip_prefix(self.root()).unwrap_or(path).to_path_buf();
        if self.touched.borrow().contains(&rel) {
            return;
        }
        use std::io::Write;
        let list = self.local_dir().join(UNCOMMITTED);
        if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(&list) {
            let _ = writeln!(f, "{}", rel.display());
        }
        self.touched.borrow_mut().push(rel);
    }

    /// Empties `.brain/uncommitted` once its paths are committed or undone. Emptied rather than
    /// removed: creating a file costs more than truncating one, on every transition.
    pub(crate) fn clear_uncommitted(&self) {
        let _ = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(self.local_dir().join(UNCOMMITTED));
    }

    /// The paths listed in `.brain/uncommitted`: changed by a transition, and not committed
    /// yet.
    pub(crate) fn uncommitted_paths(&self) -> std::collections::HashSet<PathBuf> {
        fs::read_to_string(self.local_dir().join(UNCOMMITTED))
            .map(|t| {
                t.lines()
                    .filter(|l| !l.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes the paths changed since the last commit: this section's, and those an earlier
    /// process listed in `.brain/uncommitted` and never committed. For a commit, or for undoing
    /// them (see `remote.rs`).
    pub(crate) fn take_changed(&self) -> Vec<PathBuf> {
        let mut paths = std::mem::take(&mut *self.touched.borrow_mut());
        if let Ok(text) = fs::read_to_string(self.local_dir().join(UNCOMMITTED)) {
            for line in text.lines().filter(|l| !l.is_empty()) {
                let p = PathBuf::from(line);
                if !paths.contains(&p) {
                    paths.push(p);
                }
            }
        }
        paths
    }

    /// Ends a transition: brings `context/active-agent.md` up to date and commits exactly the
    /// paths the transition touched (plus any a killed process left uncommitted), with
    /// `message`. Does nothing to git when the repo is not committed to.
    pub fn commit_point(&self, message: &str) -> Result<()> {
        self.commit(message, false)
    }

    /// Commits what earlier commits that failed (or were killed) left uncommitted, with
    /// whatever this transition touched (`brain doctor --fix`).
    pub fn commit_leftovers(&self, message: &str) -> Result<()> {
        self.commit(message, true)
    }

    fn commit(&self, message: &str, leftovers: bool) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        crate::active::update(self)?;
        let Some(git) = self.git() else {
            self.touched.borrow_mut().clear();
            return Ok(());
        };
        // Changes an earlier, failed commit left are taken in by the next transition that
        // changes something, not by a command that only looked.
        if self.touched.borrow().is_empty() && !leftovers {
            return Ok(());
        }
        let paths = self.take_changed();
        if paths.is_empty() {
            return Ok(());
        }
        let remote = self.remote.borrow().is_some();
        if self.deferred.get() && !remote {
            // An earlier commit of this section had to wait: so does this one (the paths stay
            // listed in .brain/uncommitted), without waiting for git a second time.
            return Ok(());
        }
        let made = match remote {
            // Two machines making the same change in the same second (same title, same
            // fallback identity) would make the same commit, and both pushes would be
            // "accepted"; a nonce keeps every attempt its own commit.
            true => {
                git.commit_paths(&paths, &format!("{message}\n\n{}", crate::remote::nonce()))?
            }
            false => match git.commit_paths(&paths, message) {
                Ok(made) => made,
                // Without a remote a transition is real once it is on disk, as any change of
                // the working tree is: the change stays, listed in .brain/uncommitted, and the
                // next commit takes it in. The command reports what happened, and why the
                // commit waits.
                Err(e) => {
                    self.deferred.set(true);
                    self.say(format!(
                        "warning: the change is made, but its commit has to wait: {e}\nThe next brain command that changes the queue commits it; `brain doctor` shows what is waiting."
                    ));
                    return Ok(());
                }
            },
        };
        self.clear_uncommitted();
        if let Some(commit) = made {
            self.note_commit(commit);
            // Commits are made with plumbing, which never packs objects: about once every 100
            // commits, let git decide whether it is time.
            if crate::random_u64().is_multiple_of(100) {
                git.maintain();
            }
        }
        Ok(())
    }

    fn sync_deferred(&mut self) -> Result<()> {
        drop(self.lock.take());
        let dirs = std::mem::take(&mut *self.unsynced.borrow_mut());
        for dir in dirs {
            fsutil::sync_dir(&dir)?;
        }
        Ok(())
    }

    /// Notes that a rename into or out of `path`'s folder must be made durable before the
    /// transition is acknowledged (by [`LockedRepo::finish`]).
    pub fn defer_sync(&self, path: &Path) {
        if let Some(dir) = path.parent() {
            let mut v = self.unsynced.borrow_mut();
            if !v.iter().any(|d| d == dir) {
                v.push(dir.to_path_buf());
            }
        }
    }

    /// Records something the section has to tell the person (a reclaim, a task skipped, a
    /// commit that has to wait), for the front end to show once the section is through: with
    /// a remote a section that is overtaken runs again, and must not say things twice.
    pub fn say(&self, text: impl Into<String>) {
        self.notes.borrow_mut().push(text.into());
    }

    /// What the section said so far (see [`LockedRepo::say`]).
    pub fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }

    /// Replaces `target` atomically (the new text fsynced before the rename); the folder's
    /// fsync is deferred to [`LockedRepo::finish`]. For files only brain writes; a file a
    /// person may edit at the same moment is written with [`LockedRepo::save_task`] or
    /// [`LockedRepo::rewrite`], which never lose that edit.
    pub fn replace_file(&self, target: &Path, data: &[u8]) -> Result<()> {
        // Listed first: a process killed right after the replace leaves it to the next commit.
        self.touch(target);
        let tmp = match self.take_prepared(target, data) {
            Some(tmp) => tmp,
            None => fsutil::write_tmp(target, data)?,
        };
        if let Err(e) = fs::rename(&tmp, target) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("replacing", target, e));
        }
        self.defer_sync(target);
        Ok(())
    }

    /// The temporary file prepared before the lock for exactly `data` at `target`, if any.
    fn take_prepared(&self, target: &Path, data: &[u8]) -> Option<PathBuf> {
        let mut prepared = self.prepared.borrow_mut();
        prepared
            .iter()
            .position(|p| p.target == target && p.data == data)
            .and_then(|i| prepared.swap_remove(i).tmp.take())
    }

    /// Writes a task file's edits to its file, which must hold the text it was read with.
    /// When someone changed the file since (a person appending a note, an editor saving), the
    /// same edits are made on their text instead, so nothing they wrote is lost (see
    /// [`fsutil::replace_merging`]). Afterwards `f` holds what was written.
    pub fn save_task(&self, f: &mut TaskFile) -> Result<()> {
        if !f.changed() {
            return Ok(());
        }
        let path = f.task.path.clone();
        self.touch(&path);
        let new = f.doc.text().as_bytes().to_vec();
        let tmp = self.take_prepared(&path, &new);
        let (written, replaced) = {
            let this: &TaskFile = f;
            fsutil::replace_merging(
                &path,
                this.original().as_bytes(),
                new,
                tmp,
                crate::frontmatter::MAX_TASK_BYTES,
                &mut |now| {
                    let redone = this.redo(now)?;
                    check_task_size(&redone)?;
                    Ok(redone.doc.text().as_bytes().to_vec())
                },
            )?
        };
        f.written(written)?;
        self.keep_replaced(&path, replaced);
        self.defer_sync(&path);
        Ok(())
    }

    fn keep_replaced(&self, path: &Path, replaced: Option<fsutil::Replaced>) {
        if let Some(r) = replaced {
            self.replaced.borrow_mut().push((path.to_path_buf(), r));
        }
    }

    /// Records that a file this section replaced was moved from `from` to `to`.
    pub(crate) fn note_moved(&self, from: &Path, to: &Path) {
        for (p, _) in self.replaced.borrow_mut().iter_mut() {
            if p == from {
                *p = to.to_path_buf();
            }
        }
    }

    /// What was appended to the files this section replaced, after brain read them back (a
    /// writer that opened one a moment before the replace and wrote a moment after; the
    /// section's work since, often a commit, gave such a write time to land): appended to the
    /// file where its text is now, so that nothing a person or a script wrote is lost.
    fn carry_late_appends(&self) -> Result<()> {
        // The rewrite below replaces a file in its turn; what is appended to that one is
        // carried too, for a few rounds (a writer that never stops is not waited for).
        for _ in 0..8 {
            let replaced = std::mem::take(&mut *self.replaced.borrow_mut());
            if replaced.is_empty() {
                break;
            }
            for (path, r) in replaced {
                let late = r.appended().at("reading", &path)?;
                if late.is_empty() {
                    continue;
                }
                let late = String::from_utf8_lossy(&late).into_owned();
                self.rewrite(&path, "", |text| Ok(Some(format!("{text}{late}"))))?;
            }
        }
        self.replaced.borrow_mut().clear();
        Ok(())
    }

    /// Rewrites the text file `target` (prompts, handoffs, usage: files a person edits too) to
    /// `edit` of its current text (`None`: nothing to change; a missing file reads as
    /// `default`). Like [`LockedRepo::save_task`], a change someone makes meanwhile is kept:
    /// `edit` is applied to it again. Returns the text written, if any.
    pub fn rewrite(
        &self,
        target: &Path,
        default: &str,
        mut edit: impl FnMut(&str) -> Result<Option<String>>,
    ) -> Result<Option<String>> {
        let current = fsutil::read_text(target, TEXT_LIMIT, TEXT_HINT)?;
        let base = current.as_deref().unwrap_or(default);
        let Some(new) = edit(base)? else {
            return Ok(None);
        };
        check_text_size(target, &new)?;
        self.touch(target);
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir).at("creating", dir)?;
        }
        if current.is_none() {
            match fsutil::create_atomic(target, new.as_bytes()) {
                Ok(()) => return Ok(Some(new)),
                // Created by someone else meanwhile: edit theirs.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    return self.rewrite(target, default, edit);
                }
                Err(e) => return Err(e),
            }
        }
        let (written, replaced) = fsutil::replace_merging(
            target,
            base.as_bytes(),
            new.into_bytes(),
            None,
            TEXT_LIMIT,
            &mut |now| {
                let text = String::from_utf8_lossy(now);
                let new = edit(&text)?.unwrap_or_else(|| text.into_owned());
                check_text_size(target, &new)?;
                Ok(new.into_bytes())
            },
        )?;
        self.keep_replaced(target, replaced);
        self.defer_sync(target);
        Ok(Some(String::from_utf8_lossy(&written).into_owned()))
    }

    /// The tasks in `active/`. Read once while the lock is held; transitions keep the copy
    /// exact through [`LockedRepo::note_active`] and [`LockedRepo::note_gone`], so a claim
    /// reads the folder once instead of once per step.
    pub fn active_tasks(&self) -> Result<Vec<Task>> {
        if let Some(tasks) = self.active.borrow().as_ref() {
            return Ok(tasks.clone());
        }
        let tasks = self.scan(&[State::Active])?.tasks;
        *self.active.borrow_mut() = Some(tasks.clone());
        Ok(tasks)
    }

    /// Records that `task` is (now) in `active/` as given.
    pub fn note_active(&self, task: &Task) {
        if let Some(tasks) = self.active.borrow_mut().as_mut() {
            tasks.retain(|t| t.id != task.id);
            tasks.push(task.clone());
        }
    }

    /// Records that task `id` left `active/`.
    pub fn note_gone(&self, id: &str) {
        if let Some(tasks) = self.active.borrow_mut().as_mut() {
            tasks.retain(|t| t.id != id);
        }
    }

    /// Forgets the copy of `active/` (after changes made outside the transitions).
    pub fn forget_active(&self) {
        *self.active.borrow_mut() = None;
    }

    /// The next free id `task-YYYY-MM-DD-NNN` for the UTC date of `now`, looking at every
    /// folder (case-insensitively, for case-insensitive file systems).
    pub fn next_id(&self, now: Timestamp) -> Result<String> {
        let date = now.strftime("%Y-%m-%d").to_string();
        let prefix = format!("task-{date}-");
        let mut max = 0u64;
        for state in State::ALL {
            let dir = self.state_dir(state);
            let read = match fs::read_dir(&dir) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("reading folder", &dir, e)),
            };
            for ent in read {
                let ent = ent.at("reading folder", &dir)?;
                let name = ent.file_name();
                let Some(name) = name.to_str() else { continue };
                let lower = name.to_ascii_lowercase();
                if let Some(rest) = lower.strip_prefix(&prefix) {
                    let digits: &str = rest.split(['.', '-']).next().unwrap_or("");
                    if let Ok(n) = digits.parse::<u64>() {
                        max = max.max(n);
                    }
                }
            }
        }
        Ok(format!("{prefix}{:03}", max + 1))
    }

    /// Writes a new pending task. `render` gets the allocated id and returns the file's text.
    /// The file appears atomically and never replaces another.
    pub fn create_pending(
        &self,
        now: Timestamp,
        render: impl Fn(&str) -> String,
    ) -> Result<(String, PathBuf)> {
        self.writable_state_dir(State::Pending)?;
        loop {
            let id = self.next_id(now)?;
            let path = self.task_path(State::Pending, &id, None);
            self.touch(&path);
            match fsutil::create_atomic(&path, render(&id).as_bytes()) {
                Ok(()) => return Ok((id, path)),
                // Someone outside brain wrote this name meanwhile: take the next one.
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
    }
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
