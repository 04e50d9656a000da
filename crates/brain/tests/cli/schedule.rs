//! `brain schedule`: what it writes for systemd, cron and Task Scheduler, checked with the real
//! tools where they run here (`systemd-analyze verify`, `sh`, a cron parser, an XML parser),
//! in folders whose names have spaces and quotes. `systemctl` and `crontab` are stand-in
//! scripts that speak their command lines, so the tests never touch this machine's own
//! scheduler.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr as _;

/// A brain repo at `<tmp>/my brain's repo` and a copy of brain at `<tmp>/bin dir/brain`, with
/// stand-ins for `systemctl` and `crontab` first on PATH.
struct Place {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    brain: PathBuf,
}

impl Place {
    fn new() -> Place {
        let tmp = tempfile::tempdir().unwrap();
        let bin = tmp.path().join("bin dir");
        fs::create_dir_all(&bin).unwrap();
        let brain = bin.join("brain");
        fs::copy(env!("CARGO_BIN_EXE_brain"), &brain).unwrap();
        let fake = tmp.path().join("fake");
        fs::create_dir_all(&fake).unwrap();
        let calls = tmp.path().join("calls");
        let tab = tmp.path().join("crontab.txt");
        script(
            &fake.join("systemctl"),
            &format!("echo \"systemctl $*\" >> '{}'", calls.display()),
        );
        script(
            &fake.join("crontab"),
            &format!(
                "echo \"crontab $*\" >> '{calls}'\ncase \"$1\" in\n  -l) [ -f '{tab}' ] || {{ echo 'no crontab for tester' >&2; exit 1; }}; cat '{tab}' ;;\n  -) cat > '{tab}' ;;\n  *) exit 2 ;;\nesac",
                calls = calls.display(),
                tab = tab.display()
            ),
        );
        // The agent of the default brain.toml, where an npm install puts it: a script run by
        // a `node` (here `brain-test-node`, so that no real one stands in), neither of them in a
        // folder a scheduler has on PATH.
        let npm = tmp.path().join("npm global/bin");
        let node = tmp.path().join("node dir");
        fs::create_dir_all(&npm).unwrap();
        fs::create_dir_all(&node).unwrap();
        script(&npm.join("claude"), "exit 0");
        fs::write(npm.join("claude"), "#!/usr/bin/env brain-test-node\n").unwrap();
        script(&node.join("brain-test-node"), "exit 0");
        let repo = tmp.path().join("my brain's repo");
        let p = Place { tmp, repo, brain };
        p.brain(&["init", p.repo.to_str().unwrap()]);
        p
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        let path = format!(
            "{}:{}:{}:{}",
            self.tmp.path().join("fake").display(),
            self.tmp.path().join("npm global/bin").display(),
            self.tmp.path().join("node dir").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(&self.brain)
            .args(args)
            .current_dir(if self.repo.exists() {
                &self.repo
            } else {
                self.tmp.path()
            })
            .env("PATH", path)
            .env("HOME", self.tmp.path())
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("BRAIN_REPO")
            .env_remove("BRAIN_AGENT")
            .output()
            .unwrap()
    }

    #[track_caller]
    fn brain(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "brain {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `brain schedule install --agent claude-code ARGS...`.
    #[track_caller]
    fn install(&self, args: &[&str]) -> String {
        let mut all = vec!["schedule", "install", "--agent", "claude-code"];
        all.extend_from_slice(args);
        self.brain(&all)
    }

    fn calls(&self) -> String {
        fs::read_to_string(self.tmp.path().join("calls")).unwrap_or_default()
    }

    fn crontab(&self) -> String {
        fs::read_to_string(self.tmp.path().join("crontab.txt")).unwrap_or_default()
    }
}

fn script(path: &Path, body: &str) {
    fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn systemd_units_pass_systemd_analyze_and_the_timer_is_enabled() {
    let p = Place::new();
    let out = p.install(&["--systemd", "--at", "02:30"]);
    let dir = p.tmp.path().join("config/systemd/user");
    let mut units: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    units.sort();
    assert_eq!(units.len(), 2, "{out}");
    let service = fs::read_to_string(&units[0]).unwrap();
    let timer = fs::read_to_string(&units[1]).unwrap();
    assert!(
        service.contains(&format!(
            "ExecStart=\"{}\" \"--repo\" \"{}\" \"run\" \"--agent\" \"claude-code\"",
            p.brain.canonicalize().unwrap().display(),
            p.repo.canonicalize().unwrap().display()
        )),
        "{service}"
    );
    assert!(timer.contains("OnCalendar=*-*-* 02:30:00"), "{timer}");
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze is needed for this test (.ci/run installs it)");
    assert!(
        verify.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let name = units[1].file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        p.calls()
            .contains(&format!("systemctl --user enable --now {name}")),
        "{}",
        p.calls()
    );
    // Remove undoes it.
    p.brain(&["schedule", "remove", "--systemd"]);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    assert!(
        p.calls()
            .contains(&format!("systemctl --user disable --now {name}"))
    );
}

#[test]
fn the_cron_line_parses_runs_with_its_quoting_and_leaves_other_lines_alone() {
    let p = Place::new();
    let mine = "# my own jobs\nMAILTO=me@example.com\n*/5 * * * * /usr/bin/backup --quiet\n";
    fs::write(p.tmp.path().join("crontab.txt"), mine).unwrap();
    p.install(&["--cron", "--at", "03:15"]);
    p.install(&["--cron", "--at", "03:15"]);
    let tab = p.crontab();
    assert!(tab.starts_with(mine), "{tab}");
    let added: Vec<&str> = tab[mine.len()..].lines().collect();
    assert_eq!(added.len(), 1, "installed twice, one line: {tab}");
    let line = added[0];
    // The schedule part is a cron expression for 03:15 every day.
    let fields: Vec<&str> = line.splitn(6, ' ').collect();
    let cron = croner::Cron::from_str(&fields[..5].join(" ")).unwrap();
    assert_eq!(fields[..5], ["15", "3", "*", "*", "*"]);
    assert!(
        cron.pattern.to_string().contains("15 3"),
        "{}",
        cron.pattern
    );
    // The command part, run by sh as cron would (cron turns `\%` into `%`), starts brain in the
    // repo with the right arguments, through paths with spaces and a quote.
    let command = fields[5].replace("\\%", "%");
    let args_file = p.tmp.path().join("args");
    let found_file = p.tmp.path().join("found");
    script(
        &p.brain,
        &format!(
            "pwd > '{f}'\nfor a in \"$@\"; do echo \"$a\" >> '{f}'; done\ncommand -v claude > '{found}'\ncommand -v brain-test-node >> '{found}'",
            f = args_file.display(),
            found = found_file.display()
        ),
    );
    // As cron runs it: an empty environment, whatever PATH the line sets.
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .env_clear()
        .status()
        .unwrap();
    assert!(status.success(), "{command}");
    // The agent (an npm script) and the node that runs it are found under cron's PATH.
    assert_eq!(
        fs::read_to_string(&found_file).unwrap(),
        format!(
            "{}\n{}\n",
            p.tmp.path().join("npm global/bin/claude").display(),
            p.tmp.path().join("node dir/brain-test-node").display()
        )
    );
    let got = fs::read_to_string(&args_file).unwrap();
    let repo = p.repo.canonicalize().unwrap();
    assert_eq!(
        got,
        format!(
            "{r}\n--repo\n{r}\nrun\n--agent\nclaude-code\n",
            r = repo.display()
        )
    );
    assert!(repo.join("logs/cron.log").exists());
    // Remove takes out exactly that line.
    fs::copy(env!("CARGO_BIN_EXE_brain"), &p.brain).unwrap();
    p.brain(&["schedule", "remove", "--cron"]);
    assert_eq!(p.crontab(), mine);
}

#[test]
fn the_windows_task_is_well_formed_xml_with_its_trigger_action_and_folder() {
    let p = Place::new();
    let out = p.install(&["--windows", "--at", "01:45", "--print"]);
    let repo = p.repo.canonicalize().unwrap();
    let script_path = repo.join(".brain/schedule/overnight-brain.ps1");
    assert!(
        out.contains(&format!("# {}", script_path.display())),
        "{out}"
    );
    assert!(
        out.contains("$repo = '") && out.contains("my brain''s repo'"),
        "{out}"
    );
    assert!(out.contains("run --agent 'claude-code'"), "{out}");
    let xml = &out[out.find("<?xml").unwrap()..];
    let doc = roxmltree::Document::parse(xml).expect("well-formed XML");
    let text = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("<{name}> missing"))
            .to_string()
    };
    assert_eq!(text("StartBoundary"), "2026-01-01T01:45:00");
    assert_eq!(text("DaysInterval"), "1");
    assert_eq!(text("Command"), "powershell.exe");
    assert_eq!(
        text("Arguments"),
        format!(
            "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File \"{}\"",
            script_path.display()
        )
    );
    assert_eq!(text("WorkingDirectory"), repo.display().to_string());
    // --print changed nothing; installing needs Windows.
    assert!(!script_path.exists());
    let fail = p.cmd(&["schedule", "install", "--windows", "--agent", "claude-code"]);
    assert_eq!(fail.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fail.stderr).contains("only on Windows"));
}

#[test]
fn install_refuses_an_agent_it_could_not_run_and_a_bad_time() {
    let p = Place::new();
    let out = p.cmd(&["schedule", "install", "--cron", "--agent", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[agents.nobody]"));
    let out = p.cmd(&[
        "schedule",
        "install",
        "--cron",
        "--agent",
        "claude-code",
        "--at",
        "25:00",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("HH:MM"));
    // With one agent in brain.toml, that is the one; with two, the schedule asks which.
    let printed = p.brain(&["schedule", "install", "--cron", "--print"]);
    assert!(printed.contains("'--agent' 'claude-code'"), "{printed}");
    let config = p.repo.join("brain.toml");
    let mut text = fs::read_to_string(&config).unwrap();
    text.push_str("\n[agents.other]\ncommand = [\"sh\", \"-c\", \"true\"]\n");
    fs::write(&config, text).unwrap();
    let out = p.cmd(&["schedule", "install", "--cron"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("which agent"));
    assert_eq!(p.crontab(), "");
}

#[test]
fn install_refuses_an_agent_program_the_scheduled_run_would_not_find() {
    let p = Place::new();
    // Without node, the npm-installed claude cannot run: said now, not at 2 a.m.
    fs::remove_file(p.tmp.path().join("node dir/brain-test-node")).unwrap();
    let out = p.cmd(&["schedule", "install", "--cron", "--agent", "claude-code"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[agents.claude-code]") && err.contains("run by `brain-test-node`"),
        "{err}"
    );
    fs::remove_file(p.tmp.path().join("npm global/bin/claude")).unwrap();
    let out = p.cmd(&["schedule", "install", "--systemd", "--agent", "claude-code"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`claude` is not on your PATH") && err.contains("full path"),
        "{err}"
    );
    assert_eq!(p.crontab(), "");
    assert!(!p.tmp.path().join("config/systemd").exists());
}
