//! Real processes racing for one queue (full sizes: scripts/race.sh and scripts/crash.sh).

use std::collections::HashMap;

use crate::support::Repo;

/// A claimer: claim and finish until nothing is left, printing each token it got.
const WORKER: &str = r#"
while true; do
  out=$("$BRAIN" claim --agent "$AGENT" --json) ; code=$?
  [ $code -eq 3 ] && exit 0
  [ $code -ne 0 ] && exit $code
  id=$(printf '%s' "$out" | sed -n 's/.*"id": "\([^"]*\)".*/\1/p')
  tok=$(printf '%s' "$out" | sed -n 's/.*"token": "\([^"]*\)".*/\1/p')
  echo "$tok"
  "$BRAIN" done "$id" --token "$tok" --result "by $AGENT" >/dev/null || exit 9
done
"#;

/// Sizes: the suite runs small; `scripts/race.sh` and `scripts/crash.sh` set these for the
/// full sizes.
fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sixteen_claimers_take_every_task_exactly_once() {
    let r = Repo::without_commits();
    let n = size("BRAIN_RACE_TASKS", 240);
    let started = std::time::Instant::now();
    for i in 0..n {
        r.hand_task(
            "pending",
            &format!("task-2026-01-01-{i:04}.md"),
            "status: pending\npriority: medium\n",
        );
    }
    let claims = sixteen_claimers(&r);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "race: 16 claimers, {n} tasks, {} claims in {secs:.2} s ({:.0} claims/s)",
        claims.len(),
        claims.len() as f64 / secs
    );
    assert_eq!(claims.len(), n, "every task claimed");
    assert!(claims.values().all(|&c| c == 1), "a task was claimed twice");
    assert!(
        claims.keys().all(|t| t.ends_with("@1")),
        "every claim was the first epoch"
    );
    assert_eq!(r.tasks_in("completed").len(), n);
    assert!(r.tasks_in("pending").is_empty() && r.tasks_in("active").is_empty());
    r.brain(&["doctor"]).ok();
}

/// With enough pending tasks for claims to use the claim order index (issue 18), while a
/// person drops more tasks into `pending/` by hand: every task is claimed exactly once, and
/// none is left behind.
#[test]
fn sixteen_claimers_with_the_order_index_and_a_person_adding_tasks_take_each_once() {
    let r = Repo::without_commits();
    let n = brain_core::store::scan::INDEX_FROM + 100;
    for i in 0..n {
        r.hand_task(
            "pending",
            &format!("task-2026-01-01-{i:04}.md"),
            "priority: medium\n",
        );
    }
    r.brain(&["list"]).ok();
    let root = r.root.clone();
    let person = std::thread::spawn(move || {
        for i in 0..40 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let path = root.join(format!("tasks/pending/by-hand-{i:02}.md"));
            std::fs::write(path, "---\npriority: high\n---\n\n# Task: by hand\n").unwrap();
        }
    });
    let mut claims = sixteen_claimers(&r);
    person.join().unwrap();
    // What the person added after the claimers found the queue empty.
    for (token, count) in sixteen_claimers(&r) {
        *claims.entry(token).or_default() += count;
    }
    assert_eq!(claims.len(), n + 40, "every task claimed");
    assert!(claims.values().all(|&c| c == 1), "a task was claimed twice");
    assert!(r.tasks_in("pending").is_empty() && r.tasks_in("active").is_empty());
    assert_eq!(r.tasks_in("completed").len(), n + 40);
    r.brain(&["doctor"]).ok();
}

/// Runs 16 [`WORKER`]s until the queue is empty; how many times each token was handed out.
fn sixteen_claimers(r: &Repo) -> HashMap<String, usize> {
    let children: Vec<_> = (0..16)
        .map(|p| {
            r.shell(WORKER)
                .env_remove("BRAIN_NOW")
                .env("AGENT", format!("agent-{p}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut claims: HashMap<String, usize> = HashMap::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for tok in String::from_utf8(out.stdout).unwrap().lines() {
            *claims.entry(tok.to_string()).or_default() += 1;
        }
    }
    claims
}

/// A small deterministic generator (xorshift), so a failing run can be repeated by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Every task id is in exactly one folder, and every file parses.
fn check_invariants(r: &Repo, ids: &[String], after: &str) {
    let mut places: HashMap<&str, Vec<String>> = HashMap::new();
    for state in ["pending", "active", "completed", "failed"] {
        for name in r.tasks_in(state) {
            let id = ids
                .iter()
                .find(|id| name.starts_with(id.as_str()))
                .unwrap_or_else(|| panic!("{after}: unknown file {state}/{name}"));
            places
                .entry(id.as_str())
                .or_default()
                .push(format!("{state}/{name}"));
        }
    }
    for id in ids {
        let p = places.get(id.as_str()).cloned().unwrap_or_default();
        assert_eq!(p.len(), 1, "{after}: task {id} is in {p:?}");
    }
    let list = r.brain(&["list", "--json"]);
    let items: Vec<serde_json::Value> = list.json();
    assert_eq!(items.len(), ids.len(), "{after}: {}", list.stderr());
    assert_eq!(list.stderr(), "", "{after}: a file does not parse");
}

/// `kill -9` at random instants during claim, heartbeat, done, fail and reclaim: afterwards
/// every task is in exactly one folder and parses, and `brain doctor --fix` leaves the repo
/// healthy.
#[test]
fn kill_9_at_random_instants_loses_nothing() {
    let r = Repo::without_commits();
    let kills = size("BRAIN_CRASH_KILLS", 60);
    let mut rng = Rng(size("BRAIN_CRASH_SEED", 0x9e37_79b9) as u64 | 1);
    let ids: Vec<String> = (0..(kills / 4).max(12))
        .map(|i| {
            r.add(&[
                &format!("task {i}"),
                "--body",
                "Some text.\r\nWith a second line.",
            ])
        })
        .collect();
    let mut clock = 0i64;
    // How long one run takes (debug builds are slower than release ones); updated as it goes.
    let mut typical_us: u64 = 12_000;
    let mut killed = 0;
    let mut ops: HashMap<&str, usize> = HashMap::new();
    let mut leftovers: HashMap<String, usize> = HashMap::new();
    let mut rounds = 0;
    // At least `kills` rounds, and on until a third that many killed a run mid-way (on a busy
    // machine, run times vary and more rounds can be needed), within a bound.
    for round in 0..kills * 4 {
        if round >= kills && killed * 3 >= kills {
            break;
        }
        rounds += 1;
        // Time moves on, so that claims go stale now and then.
        clock += rng.below(3600) as i64;
        let start: jiff::Timestamp = "2026-02-01T00:00:00Z".parse().unwrap();
        let now = (start + jiff::SignedDuration::from_secs(clock)).to_string();
        let active = r.tasks_in("active");
        let op = ["claim", "claim", "heartbeat", "done", "fail", "reclaim"][rng.below(6) as usize];
        let args: Vec<String> = match (op, active.first()) {
            ("claim", _) | (_, None) => vec![
                "claim".into(),
                "--agent".into(),
                format!("agent-{}", rng.below(3)),
            ],
            ("reclaim", _) => vec!["reclaim".into()],
            (op, Some(file)) => {
                let mut parts = file.trim_end_matches(".md").splitn(2, '.');
                let (id, agent) = (
                    parts.next().unwrap().to_string(),
                    parts.next().unwrap_or("x").to_string(),
                );
                match op {
                    "heartbeat" => vec!["heartbeat".into(), id, "--agent".into(), agent],
                    "done" => vec![
                        "done".into(),
                        id,
                        "--agent".into(),
                        agent,
                        "--result".into(),
                        "result text\nline 2".into(),
                    ],
                    _ => vec![
                        "fail".into(),
                        id,
                        "--agent".into(),
                        agent,
                        "--error".into(),
                        "broke".into(),
                        "--retry".into(),
                    ],
                }
            }
        };
        *ops.entry(op).or_default() += 1;
        let mut cmd = r.cmd();
        cmd.env("BRAIN_NOW", &now).args(&args);
        let (wait, landed) = run_or_kill(&mut rng, &mut typical_us, cmd, false);
        killed += usize::from(landed);
        let after = format!("round {round}, {args:?} killed after {wait:?}");
        check_invariants(&r, &ids, &after);
        // What a kill can leave is only what doctor --fix repairs.
        let report: serde_json::Value =
            serde_json::from_str(&r.brain(&["doctor", "--json"]).stdout()).unwrap();
        for f in report["findings"].as_array().unwrap() {
            let check = f["check"].as_str().unwrap().to_string();
            assert!(
                ["interrupted", "temporary"].contains(&check.as_str()),
                "{after}: {f}"
            );
            *leftovers.entry(check).or_default() += 1;
        }
    }
    println!(
        "crash: {rounds} rounds, {killed} processes killed mid-run, operations {ops:?}, left behind and repaired: {leftovers:?}"
    );
    let fix = r.brain(&["doctor", "--fix"]);
    assert!(
        fix.code() == 0,
        "doctor --fix left problems:\n{}",
        fix.stdout()
    );
    r.brain(&["doctor"]).ok();
    check_invariants(&r, &ids, "after doctor --fix");
    assert!(
        killed * 3 >= kills,
        "too few kills landed mid-run ({killed} in {rounds} rounds, runs take about {typical_us} us)"
    );
    let done = r.tasks_in("completed").len() + r.tasks_in("failed").len();
    println!(
        "crash: {done} of {} tasks finished along the way",
        ids.len()
    );
}

/// `kill -9` of brain and the git commands it runs (its whole process group, as when a service
/// is stopped) at random instants during claims and dones that commit: in the middle of git
/// writing objects, moving the branch or the user's index, and of brain writing trees.
/// Afterwards `brain doctor --fix` leaves every task in one folder, everything committed, the user's `git status` clean for brain's files, and `git fsck`
/// content.
#[test]
fn kill_9_during_commits_leaves_a_sound_repository() {
    let r = Repo::new();
    let rounds = size("BRAIN_CRASH_KILLS", 60) / 2;
    let mut rng = Rng(size("BRAIN_CRASH_SEED", 0x2545_f491) as u64 | 1);
    // Enough tasks that claims still find one when more rounds are needed.
    let ids: Vec<String> = (0..rounds + 4)
        .map(|i| r.add(&[&format!("task {i}")]))
        .collect();
    let mut typical_us: u64 = 40_000;
    let (mut killed, mut locks, mut done_rounds) = (0, 0, 0);
    // At least `rounds` rounds, and on until a quarter that many kills landed mid-run: on a
    // busy machine run times vary, so fewer random instants fall inside a run.
    for round in 0..rounds * 4 {
        if round >= rounds && killed * 4 >= rounds {
            break;
        }
        done_rounds += 1;
        let active = r.tasks_in("active");
        let args: Vec<String> = match active.first() {
            Some(file) if rng.below(2) == 0 => {
                let id = file.split('.').next().unwrap().to_string();
                ["done", &id, "--agent", "a", "--result", "ok"]
                    .map(String::from)
                    .to_vec()
            }
            _ => ["claim", "--agent", "a"].map(String::from).to_vec(),
        };
        let mut cmd = r.cmd();
        cmd.args(&args);
        let (wait, landed) = run_or_kill(&mut rng, &mut typical_us, cmd, true);
        killed += usize::from(landed);
        let after = format!("round {round}, {args:?} killed after {wait:?}");
        // A git command killed halfway leaves its lock file, which doctor --fix removes once it
        // is a minute old: make any such file that old.
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        for lock in walk(&r.path(".git")).filter(|p| p.extension().is_some_and(|e| e == "lock")) {
            locks += 1;
            let f = std::fs::File::options().append(true).open(&lock).unwrap();
            f.set_modified(old).unwrap();
        }
        // Commits what the killed process left uncommitted.
        r.brain(&["doctor", "--fix"]);
        check_invariants(&r, &ids, &after);
        let status = r.git(&["status", "--porcelain", "--", "tasks", "context", "prompts"]);
        assert_eq!(status, "", "{after}: not committed");
        r.git(&["fsck", "--strict", "--no-dangling"]);
    }
    println!(
        "commit crash: {done_rounds} rounds, {killed} killed mid-run, {locks} git lock files left"
    );
    assert!(
        killed * 4 >= rounds,
        "only {killed} kills landed mid-run in {done_rounds} rounds (runs take about {typical_us} us)"
    );
}

/// Runs `cmd` to its end one round in four, so that the queue moves and `typical_us` (how long
/// a run takes) is known; otherwise kills it with SIGKILL (its whole process group when
/// `group`, on Unix) at a random instant within a little more than that. Returns the instant,
/// and whether the kill landed before the run ended.
fn run_or_kill(
    rng: &mut Rng,
    typical_us: &mut u64,
    mut cmd: std::process::Command,
    group: bool,
) -> (std::time::Duration, bool) {
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    if group {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    // Elsewhere only brain itself is killed.
    #[cfg(not(unix))]
    let _ = group;
    let started = std::time::Instant::now();
    let mut child = cmd.spawn().unwrap();
    let wait = std::time::Duration::from_micros(rng.below(*typical_us * 6 / 5 + 1));
    if rng.below(4) == 0 {
        child.wait().unwrap();
        *typical_us = (*typical_us * 3 + started.elapsed().as_micros() as u64) / 4;
        return (wait, false);
    }
    std::thread::sleep(wait);
    let landed = child.try_wait().unwrap().is_none();
    if landed {
        #[cfg(unix)]
        if group {
            std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status()
                .unwrap();
        }
        let _ = child.kill();
    }
    child.wait().unwrap();
    (wait, landed)
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> impl Iterator<Item = std::path::PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.into_iter()
}

/// With git, claimers that meet at the queue lock share commits (group commit), and the
/// history still names every claim and every done, each once; nothing is left uncommitted.
#[test]
fn sixteen_claimers_with_git_share_commits_and_the_log_names_every_transition() {
    let r = Repo::new();
    let n = size("BRAIN_RACE_TASKS_GIT", 64);
    let ids: Vec<String> = (0..n).map(|i| format!("task-2026-01-01-{i:04}")).collect();
    for id in &ids {
        r.hand_task(
            "pending",
            &format!("{id}.md"),
            "status: pending\npriority: medium\n",
        );
    }
    r.git(&["add", "tasks"]);
    r.commit_as_user("tasks by hand");
    let count = || -> usize {
        let out = r.git(&["rev-list", "--count", "HEAD"]);
        out.trim().parse().unwrap()
    };
    let before = count();
    let claims = sixteen_claimers(&r).values().sum::<usize>();
    assert_eq!(claims, n, "every task claimed once");
    assert_eq!(r.tasks_in("completed").len(), n);
    let commits = count() - before;
    assert!(
        commits < 2 * n,
        "{commits} commits for {} transitions: none shared",
        2 * n
    );
    // One commit per entry; a shared commit's subject repeats its first line.
    let log = r.git(&["log", "--format=%x00%B"]);
    let commits_text: Vec<&str> = log.split('\0').skip(1).collect();
    for id in &ids {
        for verb in ["claim", "done"] {
            let prefix = format!("{verb} {id} by ");
            let naming = commits_text
                .iter()
                .filter(|c| c.lines().any(|l| l.starts_with(&prefix)))
                .count();
            assert_eq!(naming, 1, "`{verb} {id}` is named in {naming} commits");
        }
    }
    assert_eq!(
        r.git(&["status", "--porcelain", "--", "tasks"]),
        "",
        "every transition is committed"
    );
    assert!(
        r.read(".brain/messages").is_empty(),
        "no message left waiting"
    );
}
