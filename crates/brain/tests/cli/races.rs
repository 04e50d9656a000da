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
    // Until `kills` rounds are done and at least a third of them killed a run mid-way (on a
    // busy machine, run times vary and more rounds can be needed), within a bound.
    for round in 0..kills * 4 {
        if round >= kills && killed * 3 >= round {
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
        let started = std::time::Instant::now();
        let mut child = r
            .cmd()
            .env("BRAIN_NOW", &now)
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // One round in four runs to the end, so the queue moves and the length of a run is
        // known; the others are killed at a random instant within that length.
        let wait = std::time::Duration::from_micros(rng.below(typical_us * 6 / 5 + 1));
        if rng.below(4) != 0 {
            std::thread::sleep(wait);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed += 1;
            }
            child.wait().unwrap();
        } else {
            child.wait().unwrap();
            typical_us = (typical_us * 3 + started.elapsed().as_micros() as u64) / 4;
        }
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
        killed * 3 >= rounds,
        "too few kills landed mid-run ({killed} of {rounds}, runs take about {typical_us} us)"
    );
    let done = r.tasks_in("completed").len() + r.tasks_in("failed").len();
    println!(
        "crash: {done} of {} tasks finished along the way",
        ids.len()
    );
}
