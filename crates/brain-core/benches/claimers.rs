//! Throughput of the queue: 16 claimer processes drain 2,000 tasks, each looping claim ->
//! done through brain-core with the real lock on one repo (no git). Run:
//! `cargo bench -p brain-core --bench claimers [-- TASKS PROCS]`.
//!
//! The claimers are real OS processes (this binary started again with `--worker`), so they
//! contend for the lock exactly as separate agents do; what is not measured is the start-up
//! of a `brain` process per step, which `scripts/bench/run.py` reports separately.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use brain_core::Repo;
use brain_core::queue::{Claimant, Token};
use jiff::Timestamp;

fn worker(root: &Path, agent: &str) -> usize {
    let repo = Repo::open(root).expect("open repo");
    let mut claims = 0;
    loop {
        // What `brain claim` and `brain done` do, each one transaction (the queue listed
        // before the lock; the finished file written and fsynced before it).
        let claimed = brain_core::ops::claim(&repo, agent, &[], None, Timestamp::now())
            .result
            .expect("claim");
        let Ok(c) = claimed else { return claims };
        claims += 1;
        let who = Claimant {
            agent: Some(agent.into()),
            token: Some(Token::parse(&c.token).expect("token")),
        };
        let done = brain_core::ops::done(&repo, &c.id, &who, "done", Timestamp::now())
            .result
            .expect("done");
        assert!(done.is_ok(), "claim {} lost", c.token);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--worker") {
        let n = worker(Path::new(&args[2]), &args[3]);
        println!("{n}");
        return;
    }
    let nums: Vec<usize> = args.iter().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (tasks, procs) = (
        nums.first().copied().unwrap_or(2000),
        nums.get(1).copied().unwrap_or(16),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    brain_core::init::init(root, false, Timestamp::now()).expect("init");
    // No git: this measures the queue itself (commits per transition are measured apart).
    std::fs::write(root.join("brain.toml"), "[git]\ncommit = false\n").expect("brain.toml");
    let repo = Repo::open(root).expect("open");
    let t = brain_core::task::newtask::NewTask {
        title: "bench".into(),
        unattended: true,
        ..Default::default()
    };
    repo.transact(Timestamp::now(), |l| {
        for _ in 0..tasks {
            let now = Timestamp::now();
            l.create_pending(now, |id| t.render(id, now))?;
        }
        Ok(())
    })
    .result
    .expect("add");
    // Past the racy window, and the cache warm, as in a queue that has existed for a while.
    std::thread::sleep(std::time::Duration::from_millis(200));
    repo.scan(&brain_core::State::ALL).expect("scan");
    let exe = std::env::current_exe().expect("exe");
    let start = Instant::now();
    let children: Vec<_> = (0..procs)
        .map(|p| {
            Command::new(&exe)
                .args([
                    "--worker",
                    root.to_str().expect("utf-8 path"),
                    &format!("agent-{p}"),
                ])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let mut total = 0;
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success());
        total += String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<usize>()
            .expect("count");
    }
    let secs = start.elapsed().as_secs_f64();
    let completed = std::fs::read_dir(root.join("tasks/completed"))
        .expect("read")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".md"))
        })
        .count();
    assert_eq!(total, tasks, "claims");
    assert_eq!(completed, tasks, "completed tasks");
    println!(
        "claimers: {procs} processes drained {tasks} tasks in {secs:.2} s: {:.0} claims/s (target >= 300)",
        tasks as f64 / secs
    );
}
