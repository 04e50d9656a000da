//! Several machines, one queue (SPEC §4): clones of a real bare repository, real `brain` and
//! `git` processes, the remote as the arbiter.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::support::{Repo, ad_hoc};

/// A bare repository holding a brain repo with `[git] remote = "origin"` and `tasks` pending
/// tasks written by hand, and `clones` clones of it.
struct Fleet {
    _tmp: tempfile::TempDir,
    remote: PathBuf,
    clones: Vec<Repo>,
}

impl Fleet {
    fn new(tasks: usize, clones: usize) -> Fleet {
        let tmp = tempfile::tempdir().unwrap();
        let remote = tmp.path().join("remote.git");
        let status = std::process::Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&remote)
            .status()
            .unwrap();
        assert!(status.success());
        let seed = Repo::clone_of(&remote);
        seed.git(&["checkout", "-q", "-b", "main"]);
        seed.brain(&["init"]).ok();
        let config = ad_hoc(&seed.read("brain.toml"))
            .replace("# remote = \"origin\"", "remote = \"origin\"");
        assert!(config.contains("\nremote = \"origin\""));
        seed.write("brain.toml", &config);
        for i in 1..=tasks {
            let id = format!("task-2026-01-30-{i:03}");
            seed.hand_task(
                "pending",
                &format!("{id}.md"),
                &format!("id: {id}\nstatus: pending\ncreated: 2026-01-30T00:00:00Z\n"),
            );
        }
        seed.git(&["add", "-A"]);
        seed.git(&[
            "-c",
            "user.name=seed",
            "-c",
            "user.email=seed@example.invalid",
            "commit",
            "-qm",
            "the queue",
        ]);
        seed.git(&["push", "-q", "origin", "main"]);
        Fleet {
            _tmp: tmp,
            clones: (0..clones).map(|_| Repo::clone_of(&remote)).collect(),
            remote,
        }
    }

    /// `git` in the bare remote.
    fn remote_git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(&self.remote)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Commit subjects on the remote, oldest first, after the seed's commit.
    fn remote_log(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .remote_git(&["log", "--format=%s", "main"])
            .lines()
            .map(str::to_string)
            .collect();
        v.reverse();
        v.split_off(v.iter().position(|s| s == "the queue").unwrap() + 1)
    }

    /// The task files on the remote's tip, as `state/name`.
    fn remote_tasks(&self) -> Vec<String> {
        self.remote_git(&["ls-tree", "-r", "--name-only", "main", "tasks"])
            .lines()
            .filter(|l| l.ends_with(".md"))
            .map(|l| l.trim_start_matches("tasks/").to_string())
            .collect()
    }

    fn remote_tip(&self) -> String {
        self.remote_git(&["rev-parse", "main"]).trim().to_string()
    }
}

/// Brain's own files changed in the working tree but not committed, and files it left behind.
#[track_caller]
fn assert_no_residue(clone: &Repo, fleet: &Fleet) {
    let status = clone.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert_eq!(status, "", "the working tree is not clean");
    assert_eq!(clone.git(&["rev-parse", "HEAD"]).trim(), fleet.remote_tip());
    assert!(!clone.path(".brain/unpublished").exists());
    // Emptied, not removed, once its paths are committed or undone.
    let uncommitted = std::fs::read_to_string(clone.path(".brain/uncommitted")).unwrap_or_default();
    assert_eq!(uncommitted, "", "paths listed as uncommitted");
}

/// A pre-push hook in `clone` that runs `script` once (the first push), in the clone's folder.
fn pre_push_once(clone: &Repo, script: &str) {
    let marker = clone.path(".git/hook-ran");
    let hook = clone.path(".git/hooks/pre-push");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n[ -e '{m}' ] && exit 0\ntouch '{m}'\nunset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE\n{script}\n",
            m = marker.display()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Starts every command at once, waits for all, asserts each succeeded, and returns the lines
/// they printed.
fn all_at_once(commands: impl Iterator<Item = std::process::Command>) -> Vec<String> {
    use std::process::Stdio;
    let children: Vec<_> = commands
        .map(|mut c| {
            c.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut lines = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a process failed: {stderr}");
        lines.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    lines
}

/// Makes `b` claim (and push) while `a` pushes its next transition, so that `a`'s push is
/// rejected.
fn b_claims_while_a_pushes(a: &Repo, b: &Repo) {
    pre_push_once(
        a,
        &format!(
            "cd '{}' && '{}' claim --agent b >/dev/null 2>&1",
            b.root.display(),
            env!("CARGO_BIN_EXE_brain")
        ),
    );
}

#[test]
fn eight_claimers_in_four_clones_drain_one_queue_each_task_once() {
    const TASKS: usize = 200;
    let fleet = Fleet::new(TASKS, 4);
    let script = r#"
        while true; do
          out=$("$BRAIN" claim --agent "$AGENT") ; rc=$?
          [ $rc -eq 3 ] && exit 0
          [ $rc -ne 0 ] && { echo "claim failed: $rc" >&2; exit 1; }
          set -- $out
          echo "$1"
          "$BRAIN" done "$1" --token "$2" --agent "$AGENT" --result ok >/dev/null || { echo "done $1 failed" >&2; exit 1; }
        done"#;
    let claimers = fleet.clones.iter().enumerate().flat_map(|(c, clone)| {
        (0..2).map(move |k| {
            let mut cmd = clone.shell(script);
            cmd.env("AGENT", format!("m{c}-a{k}"));
            cmd
        })
    });
    let claimed = all_at_once(claimers);
    // Every task was claimed by exactly one claimer, across all clones.
    let distinct: BTreeSet<&String> = claimed.iter().collect();
    assert_eq!(claimed.len(), TASKS, "claims reported");
    assert_eq!(distinct.len(), TASKS, "a task was claimed twice");
    // The remote has every id once, in completed/.
    let tasks = fleet.remote_tasks();
    assert_eq!(tasks.len(), TASKS, "{tasks:?}");
    assert!(
        tasks.iter().all(|t| t.starts_with("completed/")),
        "{tasks:?}"
    );
    // One commit per transition: a claim and a done per task, and a claim per task only once.
    let log = fleet.remote_log();
    assert_eq!(log.len(), 2 * TASKS, "{log:#?}");
    let claims: Vec<&String> = log.iter().filter(|s| s.starts_with("claim ")).collect();
    let claimed_in_log: BTreeSet<&str> = claims
        .iter()
        .map(|s| s.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(claims.len(), TASKS);
    assert_eq!(claimed_in_log.len(), TASKS);
    assert_eq!(log.iter().filter(|s| s.starts_with("done ")).count(), TASKS);
    // And every clone can catch up to that state, with nothing left over.
    for clone in &fleet.clones {
        clone.brain(&["sync"]).ok();
        assert_no_residue(clone, &fleet);
        assert_eq!(clone.tasks_in("completed").len(), TASKS);
    }
}

#[test]
fn a_push_overtaken_mid_claim_is_undone_and_the_claim_moves_on() {
    let fleet = Fleet::new(2, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    // While a's claim of the first task is being pushed, b claims that same task and pushes
    // first, so a's push is rejected.
    b_claims_while_a_pushes(a, b);
    let out = a.brain(&["claim", "--agent", "a", "--json"]);
    let claimed: serde_json::Value = out.json();
    assert_eq!(claimed["id"], "task-2026-01-30-002", "{}", out.stderr());
    assert_eq!(
        fleet.remote_log(),
        [
            "claim task-2026-01-30-001 by b (epoch 1)",
            "claim task-2026-01-30-002 by a (epoch 1)"
        ]
    );
    assert_no_residue(a, &fleet);
    assert_eq!(
        a.tasks_in("active"),
        ["task-2026-01-30-001.b.md", "task-2026-01-30-002.a.md"]
    );
    assert!(a.tasks_in("pending").is_empty());
}

#[test]
fn a_section_done_again_after_an_overtaken_push_says_things_once() {
    let fleet = Fleet::new(1, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    b_claims_while_a_pushes(a, b);
    let out = a.brain(&["add", "Gated", "--approval"]);
    out.ok();
    assert_eq!(
        out.stderr().matches("Asked for approval").count(),
        1,
        "{}",
        out.stderr()
    );
    let log = fleet.remote_log();
    assert_eq!(log[0], "claim task-2026-01-30-001 by b (epoch 1)");
    assert!(log[1].starts_with("add "), "{log:?}");
    assert_no_residue(a, &fleet);
}

#[test]
fn when_the_only_task_is_taken_elsewhere_mid_claim_nothing_is_left_to_claim() {
    let fleet = Fleet::new(1, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    b_claims_while_a_pushes(a, b);
    a.brain(&["claim", "--agent", "a"]).fails(3);
    assert_no_residue(a, &fleet);
    assert_eq!(a.tasks_in("active"), ["task-2026-01-30-001.b.md"]);
    assert_eq!(
        fleet.remote_log(),
        ["claim task-2026-01-30-001 by b (epoch 1)"]
    );
}

#[test]
#[cfg(target_os = "linux")] // the hook finds brain's pid through /proc
fn a_claim_killed_before_its_push_never_happened() {
    let fleet = Fleet::new(1, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    // The hook's parent is `git push`, whose parent is brain: kill brain outright.
    pre_push_once(
        a,
        "brain_pid=$(awk '{print $4}' /proc/$PPID/stat)\nkill -9 \"$brain_pid\"\nsleep 1\nexit 1",
    );
    let run = a.brain(&["claim", "--agent", "a"]);
    assert_ne!(run.code(), 0, "brain was not killed: {}", run.stderr());
    // a's claim is committed here but never reached the remote...
    assert!(a.path(".brain/unpublished").exists());
    assert_eq!(a.tasks_in("active"), ["task-2026-01-30-001.a.md"]);
    // ...so b may claim the task, and a's next command undoes its own claim.
    b.brain(&["claim", "--agent", "b"]).ok();
    a.brain(&["sync"]).ok();
    assert_no_residue(a, &fleet);
    assert_eq!(a.tasks_in("active"), ["task-2026-01-30-001.b.md"]);
    assert_eq!(
        fleet.remote_log(),
        ["claim task-2026-01-30-001 by b (epoch 1)"]
    );
}

#[test]
fn offline_a_change_fails_clearly_and_changes_nothing_while_reading_works() {
    let fleet = Fleet::new(1, 1);
    let a = &fleet.clones[0];
    a.git(&["remote", "set-url", "origin", "/nonexistent/remote.git"]);
    let before = a.git(&["rev-parse", "HEAD"]);
    let err = a.brain(&["claim", "--agent", "a"]).fails(6);
    assert!(err.contains("the remote `origin` cannot be used"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    let err = a.brain(&["add", "offline task"]).fails(6);
    assert!(err.contains("cannot be used"), "{err}");
    assert_eq!(a.git(&["rev-parse", "HEAD"]), before);
    assert_eq!(
        a.git(&["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
    assert_eq!(a.tasks_in("pending"), ["task-2026-01-30-001.md"]);
    // Reading works offline.
    assert!(a.brain(&["list"]).ok().contains("task-2026-01-30-001"));
    a.brain(&["show", "task-2026-01-30-001"]).ok();
    let status = a.brain(&["status"]).ok();
    assert!(
        status.contains("the remote could not be reached"),
        "{status}"
    );
    a.brain(&["doctor"]).ok();
    // Back online, the same command works.
    a.git(&[
        "remote",
        "set-url",
        "origin",
        fleet.remote.to_str().unwrap(),
    ]);
    a.brain(&["claim", "--agent", "a"]).ok();
    assert_no_residue(a, &fleet);
}

#[test]
fn catching_up_keeps_the_users_staged_unstaged_and_untracked_work() {
    let fleet = Fleet::new(0, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    a.write("notes/plan.md", "plan v1\n");
    a.write("notes/ideas.md", "ideas v1\n");
    a.git(&["add", "notes"]);
    a.git(&[
        "-c",
        "user.name=me",
        "-c",
        "user.email=me@example.invalid",
        "commit",
        "-qm",
        "my notes",
    ]);
    a.git(&["push", "-q", "origin", "main"]);
    a.write("notes/plan.md", "plan v2, staged\n");
    a.git(&["add", "notes/plan.md"]);
    a.write("notes/ideas.md", "ideas v2, not staged\n");
    a.write("scratch.txt", "untracked\n");
    let before = a.git(&["status", "--porcelain"]);
    // Another machine adds tasks; this one catches up when it adds its own.
    b.brain(&["sync"]).ok();
    let from_b = b.add(&["from b"]);
    let from_a = a.add(&["from a"]);
    assert_ne!(from_a, from_b, "ids are unique across machines");
    assert_eq!(a.git(&["status", "--porcelain"]), before);
    assert_eq!(a.read("notes/plan.md"), "plan v2, staged\n");
    assert_eq!(a.git(&["show", ":notes/plan.md"]), "plan v2, staged\n");
    assert_eq!(a.read("notes/ideas.md"), "ideas v2, not staged\n");
    assert_eq!(a.read("scratch.txt"), "untracked\n");
    // No brain commit carries the user's work.
    let touched = fleet.remote_git(&[
        "log",
        "--format=",
        "--name-only",
        "main",
        "--",
        "notes",
        "scratch.txt",
    ]);
    assert_eq!(
        touched.lines().filter(|l| !l.is_empty()).count(),
        2,
        "{touched}"
    );
    assert_eq!(a.git(&["rev-parse", "HEAD"]).trim(), fleet.remote_tip());
}

#[test]
fn when_both_sides_moved_on_brain_refuses_instead_of_merging() {
    let fleet = Fleet::new(1, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    a.write("notes.md", "mine\n");
    a.git(&["add", "notes.md"]);
    a.git(&[
        "-c",
        "user.name=me",
        "-c",
        "user.email=me@example.invalid",
        "commit",
        "-qm",
        "my note",
    ]);
    b.add(&["elsewhere"]);
    let head = a.git(&["rev-parse", "HEAD"]);
    let err = a.brain(&["claim", "--agent", "a"]).fails(1);
    assert!(err.contains("have both moved on"), "{err}");
    assert!(err.contains("never merges or rebases"), "{err}");
    assert_eq!(a.git(&["rev-parse", "HEAD"]), head);
    assert_eq!(a.tasks_in("pending"), ["task-2026-01-30-001.md"]);
    assert_eq!(a.git(&["status", "--porcelain"]), "");
}

#[test]
fn sync_brings_in_and_publishes_and_status_counts_both_ways() {
    let fleet = Fleet::new(0, 2);
    let (a, b) = (&fleet.clones[0], &fleet.clones[1]);
    b.add(&["one"]);
    b.add(&["two"]);
    let status = a.brain(&["status"]).ok();
    assert!(
        status.contains("remote origin/main: 0 ahead, 2 behind"),
        "{status}"
    );
    // A commit of the user's waits here, unpushed.
    a.write("notes.md", "mine\n");
    a.git(&["add", "notes.md"]);
    let err = a.brain(&["sync"]);
    // Local changes that are only staged do not stop a fast-forward of other files.
    let out = err.ok();
    assert!(out.contains("2 commit(s) brought in, 0 published"), "{out}");
    a.git(&[
        "-c",
        "user.name=me",
        "-c",
        "user.email=me@example.invalid",
        "commit",
        "-qm",
        "my note",
    ]);
    let status = a.brain(&["status", "--json"]).ok();
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["remote"]["ahead"], 1, "{status}");
    assert_eq!(v["remote"]["behind"], 0, "{status}");
    let out = a.brain(&["sync"]).ok();
    assert!(out.contains("0 commit(s) brought in, 1 published"), "{out}");
    assert_eq!(a.tasks_in("pending").len(), 2);
    assert_no_residue(a, &fleet);
}

#[test]
fn ids_stay_unique_when_four_machines_add_at_once() {
    let fleet = Fleet::new(0, 4);
    let ids = all_at_once(
        fleet
            .clones
            .iter()
            .map(|c| c.shell(r#"for i in 1 2 3 4 5; do "$BRAIN" add "task $i" || exit 1; done"#)),
    );
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (20, 20), "{ids:?}");
    let tasks = fleet.remote_tasks();
    assert_eq!(tasks.len(), 20, "{tasks:?}");
    for id in &ids {
        assert!(
            tasks.contains(&format!("pending/{id}.md")),
            "{id} not on the remote"
        );
    }
}

#[test]
fn without_a_remote_sync_says_how_to_set_one() {
    let r = Repo::new();
    let err = r.brain(&["sync"]).fails(1);
    assert!(err.contains("remote = \"origin\""), "{err}");
}
