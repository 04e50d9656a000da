//! The world around the queue (SPEC §9): an IDE polling `git status`, people moving, copying
//! and editing files, agents that print without end or leave daemons behind. Each test is
//! named after what broke, and runs real processes against the real `git`.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::Repo;

/// Waits for `child` at most `secs` seconds; a command that hangs fails the test (and is
/// killed) instead of hanging the suite.
fn within(mut child: Child, secs: u64, what: &str) -> std::process::Output {
    let until = Instant::now() + Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > until {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} hung for {secs} s\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn piped(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The paths HEAD holds under `dir`.
fn in_head(r: &Repo, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .git(&["ls-tree", "-r", "--name-only", "HEAD", "--", dir])
        .lines()
        .map(str::to_string)
        .filter(|p| !p.ends_with(".gitkeep"))
        .collect();
    v.sort();
    v
}

/// Claims for `agent` with more arguments (`--capabilities x`) and returns (id, token).
fn claim_with(r: &Repo, agent: &str, more: &[&str]) -> (String, String) {
    let mut args = vec!["claim", "--agent", agent, "--json"];
    args.extend_from_slice(more);
    let c: serde_json::Value = r.brain(&args).json();
    (
        c["id"].as_str().unwrap().to_string(),
        c["token"].as_str().unwrap().to_string(),
    )
}

fn git_dir(r: &Repo) -> PathBuf {
    PathBuf::from(r.git(&["rev-parse", "--absolute-git-dir"]).trim())
}

// 1. The user's index never goes stale.

/// `touch .git/index.lock; brain add x; rm .git/index.lock; git add mine; git commit` deleted
/// the new task from the user's commit: brain had moved HEAD without the user's index.
#[test]
fn a_held_index_lock_never_lets_the_users_commit_undo_the_queue() {
    let r = Repo::new();
    let lock = git_dir(&r).join("index.lock");
    fs::write(&lock, "").unwrap();
    let add = r.brain(&["add", "x"]);
    assert_eq!(add.code(), 0, "{}", add.stderr());
    let id = add.stdout().trim().to_string();
    assert!(
        add.stderr().contains("its commit has to wait") && add.stderr().contains("index.lock"),
        "{}",
        add.stderr()
    );
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    fs::remove_file(&lock).unwrap();
    r.write("mine.txt", "my own work\n");
    r.git(&["add", "mine.txt"]);
    r.commit_as_user("mine");
    assert_eq!(
        r.last_commit_paths(),
        ["mine.txt"],
        "the user's commit touched the queue"
    );
    // What waits is reported, and --fix commits it (so does the next transition).
    let doctor = r.brain(&["doctor"]);
    assert_eq!(doctor.code(), 5, "{}", doctor.stdout());
    assert!(
        doctor.stdout().contains(&format!(
            "tasks/pending/{id}.md: in the folder, but in no commit"
        )),
        "{}",
        doctor.stdout()
    );
    r.brain(&["doctor", "--fix"]).ok();
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    assert_eq!(
        in_head(&r, "tasks/pending"),
        [format!("tasks/pending/{id}.md")]
    );
}

/// With a loop running `git status` (what VS Code, lazygit and prompt themes do), two
/// claimers draining 40 tasks left the user's index with an old view of 32 queue files; the
/// user's next commit put completed tasks back in pending, and a clone showed 20 of 40.
#[test]
fn a_busy_index_from_git_status_in_a_loop_leaves_the_users_commit_clean() {
    let r = Repo::new();
    for i in 0..40 {
        r.add(&[&format!("t{i}")]);
    }
    let mut status = r
        .shell("while :; do git status >/dev/null 2>&1; done")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let claimers: Vec<Child> = ["a", "b"]
        .iter()
        .map(|agent| {
            let script = format!(
                r#"while line=$("$BRAIN" claim --agent {agent} 2>/dev/null); do
                     set -- $line
                     "$BRAIN" done "$1" --token "$2" --result ok >/dev/null || exit 1
                   done
                   [ $? -eq 3 ] || [ -z "$(ls tasks/pending | grep -v gitkeep)" ]"#
            );
            piped(r.shell(&script))
        })
        .collect();
    for c in claimers {
        let out = within(c, 240, "a claimer");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = status.kill();
    let _ = status.wait();
    assert_eq!(r.tasks_in("completed").len(), 40);
    // HEAD and the user's index agree with the folder for every queue file...
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    assert_eq!(r.git(&["diff", "--cached", "--name-only"]), "");
    // ...so the user's ordinary commit touches none of them,
    r.write("mine.txt", "mine\n");
    r.git(&["add", "mine.txt"]);
    r.commit_as_user("mine");
    assert_eq!(r.last_commit_paths(), ["mine.txt"]);
    // and a clone shows exactly the queue in the folder.
    let clone = Repo::clone_of(&r.root);
    assert_eq!(clone.tasks_in("completed").len(), 40);
    assert!(clone.tasks_in("pending").is_empty());
    assert!(clone.tasks_in("active").is_empty());
}

// 2. A move brain did not make is committed as a move.

/// A person claiming by hand (the seed's protocol) left the task in pending/ in HEAD too.
#[test]
fn a_hand_claim_is_committed_as_a_move() {
    let r = Repo::new();
    let id = r.add(&["by hand"]);
    fs::rename(
        r.path(&format!("tasks/pending/{id}.md")),
        r.path(&format!("tasks/active/{id}.person.md")),
    )
    .unwrap();
    let out = r.brain(&["add", "another"]);
    assert!(
        out.stderr()
            .contains("took the file moved into active/ by hand"),
        "{}",
        out.stderr()
    );
    assert!(!in_head(&r, "tasks").contains(&format!("tasks/pending/{id}.md")));
    assert!(in_head(&r, "tasks").contains(&format!("tasks/active/{id}.person.md")));
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// An agent that moved its own task to completed/, or deleted it, left HEAD holding it in
/// active/ as well.
#[test]
fn a_task_that_leaves_active_without_brain_is_recorded_and_reported() {
    let r = Repo::new();
    let moved = r.add(&["moved by its agent"]);
    let deleted = r.add(&["deleted by its agent"]);
    r.claim("a");
    r.claim("a");
    fs::rename(
        r.path(&format!("tasks/active/{moved}.a.md")),
        r.path(&format!("tasks/completed/{moved}.md")),
    )
    .unwrap();
    fs::remove_file(r.path(&format!("tasks/active/{deleted}.a.md"))).unwrap();
    let out = r.brain(&["add", "next"]);
    let err = out.stderr();
    assert!(
        err.contains(&format!(
            "{moved} left tasks/active/ without brain: {moved}.a.md is now in tasks/completed/"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{deleted} left tasks/active/ without brain: {deleted}.a.md was deleted"
        )),
        "{err}"
    );
    assert!(in_head(&r, "tasks/active").is_empty());
    assert_eq!(
        in_head(&r, "tasks/completed"),
        [format!("tasks/completed/{moved}.md")]
    );
    assert!(r.log().iter().any(|l| l.starts_with("recover: ")));
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// With a remote, a second clone claimed the task a person had moved by hand in the first.
#[test]
fn a_hand_claim_in_one_clone_is_never_claimed_by_another() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().join("queue.git");
    let seed = Repo::new();
    seed.git(&["init", "-q", "--bare", url.to_str().unwrap()]);
    seed.git(&["remote", "add", "origin", url.to_str().unwrap()]);
    let config = seed
        .read("brain.toml")
        .replace("# remote = \"origin\"", "remote = \"origin\"");
    seed.write("brain.toml", &config);
    seed.git(&["add", "brain.toml"]);
    seed.commit_as_user("share");
    seed.git(&["push", "-q", "origin", "HEAD"]);
    let id = seed.add(&["the one"]);
    let a = Repo::clone_of(&url);
    let b = Repo::clone_of(&url);
    fs::rename(
        a.path(&format!("tasks/pending/{id}.md")),
        a.path(&format!("tasks/active/{id}.person.md")),
    )
    .unwrap();
    // Any command that changes the queue in A takes the hand claim in and publishes it.
    a.brain(&["sync"]).ok();
    let claim = b.brain(&["claim", "--agent", "b"]);
    assert_eq!(claim.code(), 3, "{}{}", claim.stdout(), claim.stderr());
    b.brain(&["sync"]).ok();
    assert_eq!(b.where_is(&id), [format!("active/{id}.person.md")]);
}

// 3. One id in two places never wedges the queue.

/// Copying a completed task back into pending/ (to run it again) let claim take it, `done`
/// fail with "a file with that name exists", and every later command fail the same way,
/// `doctor --fix` included.
#[test]
fn a_finished_task_copied_back_to_pending_never_wedges_the_queue() {
    let r = Repo::new();
    let old = r.add(&["run me again"]);
    let (_, tok) = r.claim("a");
    r.brain(&["done", &old, "--token", &tok, "--result", "first run"])
        .ok();
    fs::copy(
        r.path(&format!("tasks/completed/{old}.md")),
        r.path(&format!("tasks/pending/{old}.md")),
    )
    .unwrap();
    let other = r.add(&["another"]);
    // claim skips the copy, says which files it saw, and takes the other task.
    let claim = r.brain(&["claim", "--agent", "a", "--json"]);
    let c: serde_json::Value = claim.json();
    assert_eq!(c["id"], other.as_str());
    assert!(
        claim.stderr().contains(&format!(
            "skipped {old}: it also has tasks/completed/{old}.md"
        )),
        "{}",
        claim.stderr()
    );
    r.brain(&[
        "done",
        &other,
        "--token",
        c["token"].as_str().unwrap(),
        "--result",
        "ok",
    ])
    .ok();
    // doctor names both files, and --fix gives a way out that works: the copy becomes a new
    // task that can run again.
    let doctor = r.brain(&["doctor"]);
    assert_eq!(doctor.code(), 5);
    assert!(
        doctor
            .stdout()
            .contains(&format!("tasks/pending/{old}.md, tasks/completed/{old}.md")),
        "{}",
        doctor.stdout()
    );
    let fix = r.brain(&["doctor", "--fix"]);
    assert_eq!(fix.code(), 0, "{}", fix.stdout());
    let (again, tok) = r.claim("a");
    assert_ne!(again, old);
    assert!(
        r.read(&format!("tasks/active/{again}.a.md"))
            .contains("first run")
    );
    r.brain(&["done", &again, "--token", &tok, "--result", "second run"])
        .ok();
    r.brain(&["doctor"]).ok();
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// An editor that auto-saved a task's old path after `done` moved it put the id in two
/// folders; a transition that then could not finish its move failed again in every command.
#[test]
fn an_editor_saving_an_old_path_after_done_never_wedges_the_queue() {
    let r = Repo::new();
    let id = r.add(&["edited while running"]);
    r.add(&["the next one"]);
    let (_, tok) = r.claim("a");
    let active = r.path(&format!("tasks/active/{id}.a.md"));
    let open_in_editor = fs::read_to_string(&active).unwrap();
    r.brain(&["done", &id, "--token", &tok, "--result", "ok"])
        .ok();
    fs::write(&active, format!("{open_in_editor}\nmy note\n")).unwrap();
    // Later its claim goes stale: reclaim cannot move it to pending (the id is finished), and
    // the queue goes on.
    let (next, tok2) = {
        let out = r.at("2026-01-31T09:00:00Z", &["claim", "--agent", "b", "--json"]);
        let c: serde_json::Value = out.json();
        (
            c["id"].as_str().unwrap().to_string(),
            c["token"].as_str().unwrap().to_string(),
        )
    };
    assert_ne!(next, id);
    r.at(
        "2026-01-31T09:01:00Z",
        &["done", &next, "--token", &tok2, "--result", "ok"],
    )
    .ok();
    let doctor = r.at("2026-01-31T09:02:00Z", &["doctor"]);
    assert!(
        doctor.stdout().contains(&format!("tasks/active/{id}.a.md"))
            && doctor
                .stdout()
                .contains(&format!("tasks/completed/{id}.md")),
        "{}",
        doctor.stdout()
    );
    // --fix keeps the editor's copy (with the person's note) out of the queue.
    r.at("2026-01-31T09:03:00Z", &["doctor", "--fix"]).ok();
    assert!(r.tasks_in("active").is_empty());
    let kept = fs::read_dir(r.path("tasks/conflicts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(kept.len(), 1);
    assert!(fs::read_to_string(&kept[0]).unwrap().contains("my note"));
    r.at("2026-01-31T09:04:00Z", &["doctor"]).ok();
}

/// A transition interrupted on its way to a folder where the id already has a file used to
/// be retried, and fail, by every command (doctor --fix included).
#[test]
fn an_impossible_interrupted_move_is_not_retried_forever() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    let other = r.add(&["y"]);
    r.claim("a");
    // What a `done` killed between its two steps leaves, with a copy already in completed/.
    let active = r.path(&format!("tasks/active/{id}.a.md"));
    let text = fs::read_to_string(&active).unwrap().replace(
        "status: active",
        "status: completed\ncompleted_at: 2026-01-31T02:31:00Z",
    );
    fs::write(&active, text).unwrap();
    r.hand_task("completed", &format!("{id}.md"), "status: completed\n");
    let (got, _) = r.claim("b");
    assert_eq!(got, other);
    r.brain(&["add", "z"]).ok();
    let fix = r.brain(&["doctor", "--fix"]);
    assert!(
        fix.stdout().contains(&format!("task `{id}` has 2 files")),
        "{}",
        fix.stdout()
    );
}

/// Ids that differ only in case are one id on NTFS and APFS: they count as one everywhere.
#[test]
fn ids_that_differ_only_in_case_are_one_id() {
    let r = Repo::new();
    r.hand_task("pending", "Task-7.md", "priority: high\n");
    r.hand_task("completed", "task-7.md", "status: completed\n");
    let list = r.brain(&["list"]);
    assert!(
        list.stderr().contains("task Task-7 has files in 2 places")
            || list.stderr().contains("task task-7 has files in 2 places"),
        "{}",
        list.stderr()
    );
    let claim = r.brain(&["claim", "--agent", "a"]);
    assert_eq!(claim.code(), 3, "{}", claim.stderr());
    assert!(
        claim.stderr().contains("skipped Task-7"),
        "{}",
        claim.stderr()
    );
    let doctor = r.brain(&["doctor", "--json"]);
    assert!(
        doctor.stdout().contains("\"duplicate\""),
        "{}",
        doctor.stdout()
    );
}

// 4. brain never writes a file it cannot read back.

/// An agent printing 200 MB made a 200 MB task file (unreadable: the limit is 1 MiB), `brain
/// run` peaked at 1.3 GiB, and both were committed to git.
#[test]
fn an_agent_printing_200_mb_leaves_a_readable_task_and_a_small_commit() {
    let r = Repo::new();
    let config = r.read("brain.toml").replace(
        "[agents.claude-code]",
        "[agents.chatty]\ncapabilities = [\"code_execution\", \"file_access\"]\ncommand = [\"sh\", \"-c\", \"yes 'a line the agent prints, over and over' | head -c 200000000\"]\n\n[agents.claude-code]",
    );
    r.write("brain.toml", &config);
    r.git(&["add", "brain.toml"]);
    r.commit_as_user("chatty agent");
    let id = r.add(&["talk a lot"]);
    // The peak memory of `brain run`, measured by the kernel (getrusage of the child).
    let brain = env!("CARGO_BIN_EXE_brain");
    let script = format!(
        "import resource, subprocess, sys\n\
         p = subprocess.run([{brain:?}, 'run', '--agent', 'chatty'], capture_output=True)\n\
         sys.stderr.write(p.stderr.decode())\n\
         print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    );
    let mut py = Command::new("python3");
    py.args(["-c", &script]);
    let run_env = r.cmd();
    for (k, v) in run_env.get_envs() {
        match v {
            Some(v) => py.env(k, v),
            None => py.env_remove(k),
        };
    }
    py.current_dir(&r.root);
    let out = within(piped(py), 300, "brain run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    assert_eq!(
        words.next(),
        Some("0"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peak_kib: u64 = words.next().unwrap().parse().unwrap();
    assert!(peak_kib < 200 * 1024, "brain run peaked at {peak_kib} KiB");
    // The task is readable, its result bounded, naming the log.
    let show: serde_json::Value = r.brain(&["show", &id, "--json"]).json();
    assert_eq!(show["state"], "completed");
    let task = fs::metadata(r.path(&format!("tasks/completed/{id}.md"))).unwrap();
    assert!(
        task.len() < 100 * 1024,
        "the task file is {} bytes",
        task.len()
    );
    assert!(show["body"].as_str().unwrap().contains("logs/runs/"));
    let log = r.path(&format!("logs/runs/{id}@1.log"));
    assert_eq!(fs::metadata(&log).unwrap().len(), 200_000_000);
    // Git has a summary, not the 200 MB.
    let committed: Vec<String> = r
        .git(&["log", "--name-only", "--format=", "--", "logs/runs"])
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    assert!(
        committed.contains(&format!("logs/runs/{id}@1.summary.md")),
        "{committed:?}"
    );
    assert!(
        !committed.iter().any(|p| p.ends_with(".log")),
        "{committed:?}"
    );
    let summary = fs::metadata(r.path(&format!("logs/runs/{id}@1.summary.md"))).unwrap();
    assert!(summary.len() < 20 * 1024);
    assert_eq!(r.git(&["status", "--porcelain"]), "");
}

/// `done --result-file`, `fail --error-file --retry` and `add --body-file` with a 1.6 MB file
/// made task files brain could not read back; `add --body-file /dev/zero` never ended.
#[test]
fn inputs_over_the_task_limit_are_refused_before_anything_changes() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    let (_, tok) = r.claim("a");
    let big = r.path("big.txt");
    fs::write(&big, "y".repeat(1_600_000)).unwrap();
    let active = r.path(&format!("tasks/active/{id}.a.md"));
    let before = fs::read(&active).unwrap();
    let log = r.log();
    for args in [
        vec![
            "done",
            &id,
            "--token",
            &tok,
            "--result-file",
            big.to_str().unwrap(),
        ],
        vec![
            "fail",
            &id,
            "--token",
            &tok,
            "--retry",
            "--error-file",
            big.to_str().unwrap(),
        ],
        vec!["add", "y", "--body-file", big.to_str().unwrap()],
    ] {
        let err = r.brain(&args).fails(1);
        assert!(
            err.contains("1.5 MiB") && err.contains("nothing was changed"),
            "{args:?}: {err}"
        );
    }
    let zero = within(
        piped({
            let mut c = r.cmd();
            c.args(["add", "z", "--body-file", "/dev/zero"]);
            c
        }),
        20,
        "add --body-file /dev/zero",
    );
    assert_eq!(zero.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&zero.stderr).contains("more than a task file can hold"));
    assert_eq!(fs::read(&active).unwrap(), before);
    assert_eq!(r.log(), log);
    assert_eq!(r.tasks_in("pending").len(), 0);
}

// 5. A person's edits are never lost to a rewrite by brain.

/// A person appending to an active task while its agent heartbeats lost 310 of 1,329
/// appends in 15 s: the heartbeat read the file, wrote a new one and renamed it over the old.
#[test]
fn a_person_appending_to_a_task_while_it_is_rewritten_loses_nothing() {
    let r = Repo::new();
    let config = r
        .read("brain.toml")
        .replace("heartbeat_every = \"10m\"", "heartbeat_every = \"1m\"");
    r.write("brain.toml", &config);
    let id = r.add(&["edited by hand"]);
    let (_, tok) = r.claim("a");
    let file = format!("tasks/active/{id}.a.md");
    const N: usize = 800;
    // Appends, as `echo >>` does (open, write at the end, close), spread over the seconds the
    // heartbeats take.
    let person = piped(r.shell(&format!(
        "for i in $(seq 1 {N}); do echo \"- note $i\" >> {file}; sleep 0.004; done"
    )));
    // Every heartbeat falls in a window of its own, so every one rewrites the file.
    let agent = piped(r.shell(&format!(
        r#"for m in $(seq 1 300); do
             BRAIN_NOW=$(date -u -d "2026-01-31T02:30:00Z + $m minutes" +%Y-%m-%dT%H:%M:%SZ) \
               "$BRAIN" heartbeat --token {tok} >/dev/null || exit 1
           done"#
    )));
    let p = within(person, 120, "the person's appends");
    assert!(p.status.success());
    let a = within(agent, 300, "the heartbeats");
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let text = r.read(&file);
    let lost: Vec<usize> = (1..=N)
        .filter(|i| !text.contains(&format!("- note {i}\n")))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {N} appends lost: {lost:?}",
        lost.len()
    );
    assert!(
        text.contains("heartbeat_at: 2026-01-31T07:30:00Z"),
        "the last heartbeat is missing"
    );
}

/// An append a person made to prompts/answered.md was lost to a `brain answer` at the same
/// moment.
#[test]
fn a_person_appending_to_answered_md_while_brain_answers_loses_nothing() {
    let r = Repo::new();
    const N: usize = 500;
    let person = piped(r.shell(&format!(
        "for i in $(seq 1 {N}); do echo \"my line $i\" >> prompts/answered.md; sleep 0.004; done"
    )));
    let brain = piped(r.shell(
        r#"for i in $(seq 1 40); do
             q=$("$BRAIN" ask "question $i") || exit 1
             "$BRAIN" answer "$q" "answer $i" || exit 1
           done"#,
    ));
    assert!(within(person, 120, "the person's appends").status.success());
    let b = within(brain, 300, "ask and answer");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let text = r.read("prompts/answered.md");
    let lost = (1..=N)
        .filter(|i| !text.contains(&format!("my line {i}\n")))
        .count();
    assert_eq!(lost, 0, "{lost} of {N} lines lost");
    for i in 1..=40 {
        assert!(text.contains(&format!("answer {i}\n")), "answer {i} lost");
    }
}

/// Notes a person typed (not committed) into a handoff section were destroyed by the next
/// handoff to that recipient, though the docs say git keeps the replaced text.
#[test]
fn notes_typed_into_a_handoff_section_stay_in_git_when_it_is_replaced() {
    let r = Repo::new();
    r.brain(&["handoff", "--to", "claude-code", "--note", "first"])
        .ok();
    let typed = r.read("context/handoff.md").replace(
        "- first",
        "- first\n- typed by a person: the vault moved to D:\\vault",
    );
    r.write("context/handoff.md", &typed);
    r.brain(&["handoff", "--to", "claude-code", "--note", "second"])
        .ok();
    assert!(!r.read("context/handoff.md").contains("typed by a person"));
    let history = r.git(&["log", "-p", "--", "context/handoff.md"]);
    assert!(
        history.contains("+- typed by a person: the vault moved to D:\\vault"),
        "{history}"
    );
}

// 6. brain reads only regular files inside the repo.

/// A symlink in tasks/pending/ to a file outside the repo that parses as a task: its content
/// was committed on claim (and would be pushed).
#[test]
fn a_symlink_to_a_file_outside_the_repo_is_never_read_or_committed() {
    let r = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.md");
    fs::write(
        &secret,
        "---\npriority: high\n---\n\n# Task: SECRET CONTENT 1234\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&secret, r.path("tasks/pending/task-2026-01-31-900.md")).unwrap();
    let claim = r.brain(&["claim", "--agent", "a"]);
    assert_eq!(claim.code(), 3, "{}", claim.stderr());
    let list = r.brain(&["list"]);
    assert!(
        list.stderr()
            .contains("is a symbolic link, not a regular file"),
        "{}",
        list.stderr()
    );
    let doctor = r.brain(&["doctor", "--json"]);
    assert!(
        doctor.stdout().contains("\"special\""),
        "{}",
        doctor.stdout()
    );
    r.brain(&["add", "something"]).ok();
    let everything = r.git(&["log", "--all", "-p"]);
    assert!(
        !everything.contains("SECRET CONTENT"),
        "the outside file was committed"
    );
    assert!(secret.exists());
}

/// tasks/pending itself a symlink to a folder outside the repo: claim moved files out of it.
#[test]
fn a_task_folder_that_is_a_symlink_is_neither_read_nor_written() {
    let r = Repo::new();
    let outside = tempfile::tempdir().unwrap();
    fs::write(
        outside.path().join("task-2026-01-31-500.md"),
        "---\n---\n\n# Task: outside\n",
    )
    .unwrap();
    fs::remove_dir_all(r.path("tasks/pending")).unwrap();
    std::os::unix::fs::symlink(outside.path(), r.path("tasks/pending")).unwrap();
    let claim = r.brain(&["claim", "--agent", "a"]);
    assert_eq!(claim.code(), 3, "{}", claim.stderr());
    assert!(outside.path().join("task-2026-01-31-500.md").exists());
    assert!(r.tasks_in("active").is_empty());
    let add = r.brain(&["add", "x"]).fails(1);
    assert!(add.contains("is a symbolic link"), "{add}");
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 1);
    let list = r.brain(&["list"]);
    assert!(
        list.stderr().contains("tasks/pending: is a symbolic link"),
        "{}",
        list.stderr()
    );
    assert_eq!(r.brain(&["doctor"]).code(), 5);
}

/// A named pipe in a task folder hung list, status, doctor and claim forever; one in
/// active/ hung `add` while it held the queue lock.
#[test]
fn a_named_pipe_in_a_task_folder_hangs_nothing() {
    let r = Repo::new();
    r.add(&["a real task"]);
    for state in ["pending", "active", "completed", "failed"] {
        let fifo = r.path(&format!(
            "tasks/{state}/task-2026-01-31-0{}.md",
            state.len()
        ));
        let fifo = if state == "active" {
            r.path("tasks/active/task-2026-01-31-077.a.md")
        } else {
            fifo
        };
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
    }
    // The readers report it as unreadable, as any bad file; nothing waits on it.
    for (args, reports) in [
        (vec!["list"], true),
        (vec!["status"], true),
        (vec!["doctor"], true),
        (vec!["show", "task-2026-01-31-077"], true),
        (vec!["add", "another"], false),
        (vec!["claim", "--agent", "a"], false),
    ] {
        let mut c = r.cmd();
        c.args(&args);
        let out = within(piped(c), 30, &format!("brain {args:?}"));
        let err = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        assert_eq!(err.contains("named pipe"), reports, "brain {args:?}: {err}");
    }
    assert_eq!(
        r.tasks_in("active").len(),
        2,
        "the claim was made beside the pipe"
    );
}

/// A dangling symlink was skipped silently by `list`, but reported by `doctor`.
#[test]
fn a_dangling_symlink_is_reported_by_every_reader() {
    let r = Repo::new();
    std::os::unix::fs::symlink(
        "/nonexistent/x.md",
        r.path("tasks/pending/task-2026-01-31-300.md"),
    )
    .unwrap();
    assert!(r.brain(&["list"]).stderr().contains("is a symbolic link"));
    let status: serde_json::Value = r.brain(&["status", "--json"]).json();
    assert_eq!(status["problems"], 1);
    assert!(r.brain(&["doctor"]).stdout().contains("is a symbolic link"));
}

// 7. Nothing an agent starts outlives its run.

fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn run_with_agent(r: &Repo, agent: &str, script: &str) -> Vec<u32> {
    r.write(&format!("agents/{agent}.sh"), script);
    let config = r.read("brain.toml").replace(
        "[agents.claude-code]",
        &format!(
            "[agents.{agent}]\ncapabilities = [\"code_execution\", \"file_access\"]\ncommand = [\"sh\", \"agents/{agent}.sh\"]\n\n[agents.claude-code]"
        ),
    );
    r.write("brain.toml", &config);
    r.add(&["start a daemon", "--timeout", "3s"]);
    let mut c = r.cmd();
    c.args(["run", "--agent", agent]);
    let out = within(piped(c), 60, "brain run");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Completed at"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids: Vec<u32> = fs::read_to_string(r.path("pids"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(!pids.is_empty(), "the agent wrote no pids");
    pids
}

/// An agent that starts a daemon with `setsid` escaped its process group: the daemon
/// survived the agent's exit.
#[test]
fn a_daemon_started_with_setsid_does_not_outlive_its_agent() {
    let r = Repo::new();
    let pids = run_with_agent(
        &r,
        "daemonizer",
        // A new session that ignores SIGTERM; a double fork; and one that also clears its
        // environment (so it carries no mark of its agent).
        "setsid sh -c 'echo $$ >> pids; trap \"\" TERM; while :; do sleep 0.2; done' </dev/null >/dev/null 2>&1 &\n\
         sh -c '(setsid sh -c \"echo \\$\\$ >> pids; exec sleep 300\" </dev/null >/dev/null 2>&1 &)'\n\
         env -i /bin/sh -c '(/usr/bin/setsid /bin/sh -c \"echo \\$\\$ >> pids; exec /bin/sleep 300\" </dev/null >/dev/null 2>&1 &)'\n\
         sleep 0.5\necho done\n",
    );
    assert_eq!(pids.len(), 3);
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the run");
    }
}

/// The same daemon, from an agent that runs past its timeout.
#[test]
fn a_daemon_started_with_setsid_does_not_outlive_a_timeout() {
    let r = Repo::new();
    let pids = run_with_agent(
        &r,
        "slow",
        "setsid sh -c 'echo $$ >> pids; exec sleep 300' </dev/null >/dev/null 2>&1 &\n\
         echo $$ >> pids\nsleep 300\n",
    );
    for pid in pids {
        assert!(!alive(pid), "process {pid} outlived the timeout");
    }
}

// 8. A claim that frees a stale task can take it.

/// With one task whose claim was stale, `claim` printed "reclaimed …" and then "nothing to
/// claim" (exit 3); only a second call got it.
#[test]
fn a_claim_that_reclaims_a_stale_task_takes_it() {
    let r = Repo::new();
    let id = r.add(&["only one"]);
    r.claim("a");
    let out = r.at("2026-01-31T06:00:00Z", &["claim", "--agent", "b", "--json"]);
    assert!(
        out.stderr().contains(&format!("reclaimed {id}")),
        "{}",
        out.stderr()
    );
    let c: serde_json::Value = out.json();
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["agent"], "b");
}

// 9. What happened is reported as having happened.

/// On a full disk, a claim that failed after its rename left the file in active/ with no
/// claimant, and the next command adopted it as a hand claim of an agent that never got a
/// token. Run on a real full disk: a 1 MiB tmpfs in a mount namespace of its own.
#[test]
fn a_claim_on_a_full_disk_leaves_the_task_pending() {
    let r = Repo::empty();
    let script = r#"
        set -u
        mount -t tmpfs -o size=1m none "$D" || exit 90
        cd "$D"
        "$BRAIN" init >/dev/null 2>&1
        sed -i 's/^commit = true/commit = false/; s/^# ad_hoc_agents = false/ad_hoc_agents = true/' brain.toml
        id=$("$BRAIN" add x)
        # Fill the disk, then free one page: enough for brain's note that a claim is under
        # way, not for the claimed file.
        dd if=/dev/zero of=fill bs=4096 >/dev/null 2>&1
        truncate -s -4096 fill
        "$BRAIN" claim --agent a >/dev/null 2>claim.err
        echo "claim=$?"
        echo "pending=$(ls tasks/pending | grep -c task-)"
        echo "active=$(ls tasks/active | grep -c task-)"
        rm fill
        "$BRAIN" status --json | grep -c '"active": 0' | sed 's/^/status_active0=/'
        "$BRAIN" claim --agent b | cut -d' ' -f2 | sed 's/^/token=/'
        cat claim.err >&2
    "#;
    let dir = r.root.join("disk");
    fs::create_dir_all(&dir).unwrap();
    let mut c = Command::new("unshare");
    c.args(["-m", "bash", "-c", script])
        .env("D", &dir)
        .env("BRAIN", env!("CARGO_BIN_EXE_brain"))
        .env("BRAIN_NOW", crate::support::NOW)
        .env("GIT_CONFIG_NOSYSTEM", "1");
    let out = within(piped(c), 60, "the full-disk claim");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(90),
        "could not mount a tmpfs: {err}"
    );
    assert!(text.contains("claim=1\n"), "{text}{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(text.contains("pending=1\nactive=0\n"), "{text}{err}");
    assert!(text.contains("status_active0=1\n"), "{text}{err}");
    assert!(
        text.contains("token=task-2026-01-31-001@1\n"),
        "{text}{err}"
    );
}

/// A claim whose process was killed between its rename and its fields: nobody got the
/// token, so the next command puts the task back rather than adopt it as a hand claim.
#[test]
fn a_claim_cut_short_before_its_fields_goes_back_to_pending() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    // What `claim` leaves when killed right after its rename.
    fs::write(r.path(".brain/claiming"), format!("tasks/active/{id}.a.md")).unwrap();
    fs::rename(
        r.path(&format!("tasks/pending/{id}.md")),
        r.path(&format!("tasks/active/{id}.a.md")),
    )
    .unwrap();
    let doctor = r.brain(&["doctor"]);
    assert!(
        doctor.stdout().contains("a claim was cut short"),
        "{}",
        doctor.stdout()
    );
    let out = r.brain(&["add", "y"]);
    assert!(out.stderr().contains("was cut short"), "{}", out.stderr());
    assert_eq!(r.where_is(&id), [format!("pending/{id}.md")]);
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    let (got, tok) = r.claim("b");
    assert_eq!((got.as_str(), tok), (id.as_str(), format!("{id}@1")));
}

/// `done` exited 1 although the move happened (only its commit failed); the agent retried
/// and got exit 4 "claim lost", and its result was stored a second time in tasks/late/.
#[test]
fn a_done_whose_commit_fails_reports_success_and_a_repeat_is_not_a_lost_claim() {
    let r = Repo::new();
    let id = r.add(&["x"]);
    let (_, tok) = r.claim("a");
    // Commits fail: signing is on, and the signing program fails (as gpg does with no agent
    // at 3 am).
    let tools = tempfile::tempdir().unwrap();
    let sign = tools.path().join("fail-sign.sh");
    fs::write(
        &sign,
        "#!/bin/sh\necho 'gpg: signing failed: No pinentry' >&2\nexit 2\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&sign).status().unwrap();
    r.git(&["config", "commit.gpgsign", "true"]);
    r.git(&["config", "gpg.program", sign.to_str().unwrap()]);
    let done = r.brain(&["done", &id, "--token", &tok, "--result", "the result"]);
    assert_eq!(done.code(), 0, "{}", done.stderr());
    assert!(
        done.stderr().contains("its commit has to wait"),
        "{}",
        done.stderr()
    );
    assert_eq!(r.where_is(&id), [format!("completed/{id}.md")]);
    // The agent, unsure, says it again: success, nothing stored twice.
    let again = r.brain(&[
        "done",
        &id,
        "--token",
        &tok,
        "--result",
        "the result",
        "--json",
    ]);
    assert_eq!(again.code(), 0, "{}", again.stderr());
    let m: serde_json::Value = serde_json::from_str(&again.stdout()).unwrap();
    assert_eq!(m["again"], true);
    assert!(!r.path("tasks/late").exists());
    // Once commits work again, the next command commits it all.
    r.git(&["config", "--unset", "commit.gpgsign"]);
    r.brain(&["add", "y"]).ok();
    assert_eq!(r.git(&["status", "--porcelain"]), "");
    assert!(in_head(&r, "tasks/completed").contains(&format!("tasks/completed/{id}.md")));
}

// 10. Git commit hooks and signing.

/// brain's commits skipped `commit.gpgsign` without a word.
#[test]
fn brains_commits_are_signed_when_the_user_signs_theirs() {
    let r = Repo::new();
    let key = r.path("key");
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "me", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(keygen.success());
    r.git(&["config", "gpg.format", "ssh"]);
    r.git(&["config", "user.signingkey", key.to_str().unwrap()]);
    r.git(&["config", "commit.gpgsign", "true"]);
    r.add(&["signed"]);
    let commit = r.git(&["cat-file", "commit", "HEAD"]);
    assert!(
        commit.contains("gpgsig -----BEGIN SSH SIGNATURE-----"),
        "{commit}"
    );
}

/// brain's commits skip pre-commit and commit-msg hooks, while the README said hooks behave
/// as the user expects: doctor says so where it matters.
#[test]
fn doctor_says_commit_hooks_do_not_run_for_brains_commits() {
    let r = Repo::new();
    let hook = git_dir(&r).join("hooks/pre-commit");
    fs::create_dir_all(hook.parent().unwrap()).unwrap();
    fs::write(&hook, "#!/bin/sh\nexit 1\n").unwrap();
    let out = r.brain(&["doctor"]).ok();
    assert!(
        out.contains("warning:") && out.contains("pre-commit do not run for brain's own commits"),
        "{out}"
    );
    assert!(out.contains("healthy"), "{out}");
}

// 11. No silent surprises in task files.

/// `requires: code_execution, file_access` became one requirement no agent has, so the task
/// was never claimable; `Requires: [gpu]` was kept as an unknown key, so any agent claimed a
/// GPU-only task.
#[test]
fn comma_lists_and_capitalised_keys_mean_what_they_say() {
    let r = Repo::new();
    r.hand_task(
        "pending",
        "task-2026-01-31-101.md",
        "requires: code_execution, file_access\n",
    );
    r.hand_task(
        "pending",
        "task-2026-01-31-102.md",
        "Requires: [gpu]\nPriority: critical\n",
    );
    let (id, _) = r.claim("claude-code");
    assert_eq!(id, "task-2026-01-31-101");
    let out = r.brain(&["claim", "--agent", "claude-code"]);
    assert_eq!(
        out.code(),
        3,
        "a GPU-only task was claimed: {}",
        out.stdout()
    );
    let t: serde_json::Value = r.brain(&["show", "task-2026-01-31-102", "--json"]).json();
    assert_eq!(t["priority"], "critical");
    assert_eq!(t["requires"], serde_json::json!(["gpu"]));
    // An edit by brain replaces the capitalised key rather than adding a second one.
    let (gpu, tok) = claim_with(&r, "gpu-box", &["--capabilities", "gpu"]);
    assert_eq!(gpu, "task-2026-01-31-102");
    r.brain(&["fail", &gpu, "--token", &tok, "--error", "no", "--retry"])
        .ok();
    let text = r.read("tasks/pending/task-2026-01-31-102.md");
    assert!(text.contains("Requires: [gpu]"), "{text}");
    assert_eq!(text.matches("riority:").count(), 1, "{text}");
}

/// A misspelt field is a warning in list, status and doctor, saying what to write instead.
#[test]
fn a_misspelt_field_is_a_warning_everywhere() {
    let r = Repo::new();
    r.hand_task(
        "pending",
        "task-2026-01-31-103.md",
        "prioirty: high\ndepends-on: [x]\n",
    );
    let list = r.brain(&["list"]).stderr();
    assert!(
        list.contains("`prioirty` is not a field brain reads")
            && list.contains("did you mean `priority`?"),
        "{list}"
    );
    assert!(list.contains("did you mean `depends_on`?"), "{list}");
    let status: serde_json::Value = r.brain(&["status", "--json"]).json();
    assert_eq!(status["warnings"].as_array().unwrap().len(), 2);
    let doctor = r.brain(&["doctor"]).stdout();
    assert!(
        doctor.contains("warning:") && doctor.contains("did you mean `priority`?"),
        "{doctor}"
    );
}

/// An approval answered "Nope, not this one" left the task gated forever while `questions`
/// said "answered".
#[test]
fn an_approval_answered_in_words_is_read_or_flagged() {
    let r = Repo::new();
    let no = r.add(&["risky", "--approval"]);
    let unclear = r.add(&["unclear", "--approval"]);
    let qs: Vec<serde_json::Value> = r.brain(&["questions", "--json"]).json();
    let q_of = |task: &str| {
        qs.iter().find(|q| q["task"] == task).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    r.brain(&["answer", &q_of(&no), "Nope, not this one"]).ok();
    r.brain(&["answer", &q_of(&unclear), "Maybe after the release"])
        .ok();
    let claim = r.brain(&["claim", "--agent", "a"]);
    assert!(
        claim.stderr().contains(&format!("{no} was denied")),
        "{}",
        claim.stderr()
    );
    assert_eq!(r.where_is(&no), [format!("failed/{no}.md")]);
    let status = r.brain(&["status"]).ok();
    assert!(
        status.contains("reads as neither yes nor no")
            && status.contains(&format!("brain approve {unclear}")),
        "{status}"
    );
}

// 12. Messages.

#[test]
fn messages_say_what_is_wrong_in_words() {
    let r = Repo::new();
    r.write(
        "tasks/pending/task-2026-01-31-201.md",
        &format!("---\n---\n{}", "x".repeat(3_000_000)),
    );
    r.hand_task("pending", "task-2026-01-31-202.md", "timeout: 1.5h\n");
    r.hand_task("pending", "task-2026-01-31-203.md", "max_attempts: -1\n");
    r.write(
        "tasks/pending/task-2026-01-31-204.md",
        &format!("---\nx: {}{}\n---\n", "[".repeat(200), "]".repeat(200)),
    );
    let list = r.brain(&["list"]);
    let err = list.stderr();
    assert!(err.contains("the file is 2.9 MiB (3000008 bytes)"), "{err}");
    assert!(
        err.contains("`max_attempts`: `-1` is not allowed here; write a whole number, at least 1"),
        "{err}"
    );
    assert!(err.contains("nests lists or maps too deeply"), "{err}");
    assert!(
        !err.contains("Depth {") && !err.contains("budget breached"),
        "{err}"
    );
    let t: serde_json::Value = r.brain(&["show", "task-2026-01-31-202", "--json"]).json();
    assert_eq!(t["meta"]["timeout"], 5400);
    let far = r
        .brain(&["add", "x", "--not-before", "9999-12-31T23:59:59Z"])
        .fails(2);
    assert!(far.contains("outside the times brain can handle"), "{far}");
}

/// Titles and ids were printed raw, so a task file could put terminal escape sequences on
/// the user's screen. Run on a real terminal (`script` gives brain a pty).
#[test]
fn control_characters_in_a_title_are_escaped_on_a_terminal() {
    let r = Repo::new();
    r.write(
        "tasks/pending/task-2026-01-31-301.md",
        "---\ntitle: \"evil \\e]0;owned\\a\\e[2J title\"\n---\n",
    );
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("{} list", env!("CARGO_BIN_EXE_brain")),
        "/dev/null",
    ])
    .current_dir(&r.root)
    .env("BRAIN_NOW", crate::support::NOW);
    let out = within(piped(c), 30, "brain list on a pty");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(
        screen.contains("evil \\u{1b}]0;owned\\u{7}\\u{1b}[2J title"),
        "{screen:?}"
    );
    assert!(!screen.contains('\u{1b}'), "{screen:?}");
    // Piped, the text is left as it is (for scripts), and JSON escapes it.
    assert!(r.brain(&["list"]).stdout().contains("evil \u{1b}]0;owned"));
}
