//! Reading many tasks fast: a folder's listing and stamps, the derived cache (see
//! [`crate::store::cache`]), in parallel; and the pending queue in claim order, decoded one
//! task at a time.

use std::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil;
use crate::store::cache::{self, FolderCache, OrderKey, Source, Stamp};
use crate::store::dirscan::Listing;
use crate::store::order::{self, Order};
use crate::store::{Entry, Name, Repo, classify};
use crate::task::{Priority, State, Task};

/// Changed files a scan parses again rather than rewrite the folder cache.
pub const REPARSE_LIMIT: usize = 16;

/// How long after a full stat pass of `pending/` a claim may order by the cache alone (see
/// [`Repo::queue`]).
pub const TRUST_SECS: u64 = 10;

/// The fewest pending tasks for which a claim keeps the claim order index (see
/// [`crate::store::order`]): below it, listing the folder costs about as much as the index.
pub const INDEX_FROM: usize = 500;

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
    kind: Kind,
}

enum Kind {
    /// From the folder and its cache.
    Scanned {
        folder: Folder,
        /// Order keys and positions in `folder.got`; `order[..head]` is sorted and comes
        /// before everything after it, which is sorted only if a claim gets that far.
        order: Vec<(OrderKey, usize)>,
        head: usize,
        mine: u64,
    },
    /// From the claim order index; each task is read from its file when it is reached.
    Indexed {
        order: Order,
        dir: PathBuf,
        mine: u64,
    },
}

impl Queue {
    /// How many tasks it holds.
    pub fn len(&self) -> usize {
        match &self.kind {
            Kind::Scanned { order, .. } => order.len(),
            Kind::Indexed { order, .. } => order.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tasks, in order.
    pub fn tasks(&mut self) -> Box<dyn Iterator<Item = Task> + '_> {
        match &mut self.kind {
            Kind::Scanned {
                folder,
                order,
                head,
                mine,
            } => {
                let (head, rest) = order.split_at_mut(*head);
                let (folder, mine) = (&*folder, *mine);
                let mut rest = Some(rest);
                Box::new(
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
                        .filter_map(move |i| folder.decode(&folder.got[i])),
                )
            }
            Kind::Indexed { order, dir, mine } => {
                let dir = &*dir;
                Box::new(order.names(*mine).filter_map(move |name| {
                    // Gone, renamed or unreadable since: the next one (the claim decides on
                    // the file as it is, and `brain doctor` reports bad files).
                    let Name::Task { id, agent } = classify(State::Pending, &name) else {
                        return None;
                    };
                    let entry = Entry {
                        id,
                        state: State::Pending,
                        agent,
                        path: dir.join(&name),
                    };
                    let bytes = crate::store::read_limited(&entry.path).ok()?;
                    crate::task::TaskFile::parse(&entry.path, bytes, entry.id, State::Pending, None)
                        .ok()
                        .map(|f| f.task)
                }))
            }
        }
    }
}

/// The result of reading many task files: the good ones, and an error for each bad one.
#[derive(Debug, Default)]
pub struct Scan {
    pub tasks: Vec<Task>,
    pub problems: Vec<Error>,
}

impl Repo {
    /// Reads every task in `states`, in parallel, through the folder caches (see
    /// [`crate::store::cache`]). Bad files are reported in `problems` and never stop the others from
    /// being read.
    pub fn scan(&self, states: &[State]) -> Result<Scan> {
        let mut scan = Scan::default();
        let mut parts: Vec<Vec<Task>> = Vec::new();
        for &state in states {
            let folder = self.read_folder(state, false, &mut scan.problems)?;
            let tasks = parallel_map(&folder.got, |g| folder.decode(g));
            // Collected in place (an `Option<Task>` is a `Task`'s size): 10,000 tasks are
            // 4 MB, and every copy of them touches fresh memory.
            // (`flatten` would copy them: it is not collected in place.)
            #[allow(clippy::filter_map_identity)]
            parts.push(tasks.into_iter().filter_map(|t| t).collect());
        }
        // One folder holds most tasks: its tasks are moved, not copied, when it is alone.
        scan.tasks = match parts.iter().filter(|p| !p.is_empty()).count() {
            0 | 1 => parts.into_iter().max_by_key(Vec::len).unwrap_or_default(),
            _ => {
                let mut all = Vec::with_capacity(parts.iter().map(Vec::len).sum());
                for p in parts {
                    all.extend(p);
                }
                all
            }
        };
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
        if fresh && let Some(q) = self.indexed(agent) {
            return Ok(q);
        }
        self.queue_with(agent, fresh, problems)
    }

    /// The queue from the claim order index, when it describes `pending/` as it is (see
    /// [`crate::store::order`]).
    fn indexed(&self, agent: Option<&str>) -> Option<Queue> {
        self.check_state_dir(State::Pending)
            .ok()
            .filter(|&real| real)?;
        let dir = self.state_dir(State::Pending);
        let now = order::dir_stamp(&dir)?;
        let order = Order::load(&self.order_files(), &now)?;
        Some(Queue {
            kind: Kind::Indexed {
                order,
                dir,
                mine: agent.map_or(u64::MAX, cache::agent_hash),
            },
        })
    }

    /// The files of the claim order index.
    pub(crate) fn order_files(&self) -> order::Files {
        order::Files::beside(&self.cache_path(State::Pending))
    }

    /// [`Repo::queue`] for a look that informs and decides nothing (a session's primer, the
    /// MCP server's list): it trusts the claim order index and the cache however old their
    /// last full pass, so a file an editor rewrote in place may keep its old place or show as
    /// it was; new, renamed and replaced files are read as always.
    pub fn queue_at_a_glance(
        &self,
        agent: Option<&str>,
        problems: &mut Vec<Error>,
    ) -> Result<Queue> {
        if let Some(q) = self.indexed(agent) {
            return Ok(q);
        }
        self.queue_with(agent, true, problems)
    }

    fn queue_with(
        &self,
        agent: Option<&str>,
        fresh: bool,
        problems: &mut Vec<Error>,
    ) -> Result<Queue> {
        // Taken before the listing: a change made while it runs leaves the index unused.
        let stamp = order::dir_stamp(&self.state_dir(State::Pending));
        let known = problems.len();
        let folder = self.read_folder(State::Pending, fresh, problems)?;
        // An index holds no unreadable files, and whoever reads it could not report them: a
        // folder with one is listed each time, so the primer and the MCP server still say so.
        let clean = problems.len() == known;
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
        if let (Some(stamp), Some(_), true) =
            (stamp, &folder.listing, clean && order.len() >= INDEX_FROM)
        {
            order::write(
                &self.order_files(),
                stamp,
                order
                    .iter()
                    .map(|(k, i)| (folder.name(&folder.got[*i]), *k))
                    .collect(),
            );
        }
        Ok(Queue {
            kind: Kind::Scanned {
                order,
                head,
                mine,
                folder,
            },
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
            // The first pass of a repo comes before any cache file: its folder too.
            if let Some(dir) = cache_path.parent() {
                let _ = fs::create_dir_all(dir);
            }
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
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
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
        // Sized once: growing it would copy everything so far at each doubling.
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            out.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        out
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
