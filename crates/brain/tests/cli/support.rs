//! A small builder so tests read like a story: `Repo::new().brain(&["add", "x"]).ok()`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The time every test runs at, unless it says otherwise.
pub const NOW: &str = "2026-01-31T02:30:00Z";
pub const TODAY: &str = "2026-01-31";

/// A brain repo in a temporary folder.
pub struct Repo {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    home: PathBuf,
}

/// The outcome of one `brain` run.
pub struct Run {
    pub out: Output,
    pub args: Vec<String>,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert!(
            self.out.status.success(),
            "brain {:?} failed ({}):\nstdout: {}\nstderr: {}",
            self.args,
            self.code(),
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts the exit code and returns stderr.
    #[track_caller]
    pub fn fails(&self, code: i32) -> String {
        assert_eq!(
            self.code(),
            code,
            "brain {:?}:\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout(),
            self.stderr()
        );
        assert!(!self.stderr().contains("panicked"), "{}", self.stderr());
        self.stderr()
    }
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout()))
    }
}

/// A `brain` command with a clean environment: pinned time, no user git config.
pub fn brain_cmd(cwd: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_brain"));
    clean_env(&mut c, cwd, home);
    c
}

/// `bash -c SCRIPT` where the script calls brain as "$BRAIN", with the same environment.
pub fn shell_cmd(cwd: &Path, home: &Path, script: &str) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(script)
        .env("BRAIN", env!("CARGO_BIN_EXE_brain"));
    clean_env(&mut c, cwd, home);
    c
}

/// The machine name brain records usage under in tests (`context/usage/<it>.md`).
pub const MACHINE: &str = "test-machine";

fn clean_env(c: &mut Command, cwd: &Path, home: &Path) {
    c.current_dir(cwd)
        .env_remove("BRAIN_REPO")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env("BRAIN_MACHINE", MACHINE)
        .env("BRAIN_NOW", NOW)
        .env("HOME", home)
        .env("GIT_CONFIG_GLOBAL", home.join("gitconfig"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(Stdio::null());
}

impl Repo {
    /// An empty temporary folder (no repo yet).
    pub fn empty() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("brain");
        let home = tmp.path().join("home");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&home).unwrap();
        fs::write(home.join("gitconfig"), "").unwrap();
        Repo {
            _tmp: tmp,
            root,
            home,
        }
    }

    /// The HOME brain runs with.
    #[cfg(unix)]
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// A clone of the git repository at `url` (a brain repo shared through a remote).
    pub fn clone_of(url: &Path) -> Repo {
        let r = Repo::empty();
        r.git(&["clone", "-q", url.to_str().unwrap(), "."]);
        r
    }

    /// A new brain repo made by `brain init`.
    /// The tests claim as many agents (`a`, `b`, ...) that brain.toml does not name, as hand
    /// claims by any name may: `ad_hoc_agents = true` allows that (`strict` does not).
    pub fn new() -> Repo {
        let r = Repo::strict();
        r.write("brain.toml", &ad_hoc(&r.read("brain.toml")));
        if r.root.join(".git").exists() {
            // Into init's own commit, so that the repo starts as clean as `brain init` leaves it.
            let who = r.git(&["log", "-1", "--format=%an%n%ae"]);
            let (name, email) = who.trim().split_once('\n').unwrap();
            r.git(&[
                "-c",
                &format!("user.name={name}"),
                "-c",
                &format!("user.email={email}"),
                "commit",
                "-q",
                "--amend",
                "--no-edit",
                "--",
                "brain.toml",
            ]);
        }
        r
    }

    /// A new brain repo made by `brain init`, as it comes.
    pub fn strict() -> Repo {
        let r = Repo::empty();
        r.brain(&["init"]).ok();
        r
    }

    /// A new brain repo whose transitions are not committed (`[git] commit = false`), for tests
    /// of the queue itself under load.
    pub fn without_commits() -> Repo {
        let r = Repo::new();
        let config = r
            .read("brain.toml")
            .replace("commit = true", "commit = false");
        r.write("brain.toml", &config);
        r
    }

    /// The subjects of the commits on HEAD, newest first.
    pub fn log(&self) -> Vec<String> {
        self.git(&["log", "--format=%s"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The paths the commit at HEAD touched.
    pub fn last_commit_paths(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .git(&["show", "--name-only", "--format=", "--no-renames", "HEAD"])
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    pub fn cmd(&self) -> Command {
        brain_cmd(&self.root, &self.home)
    }

    /// A bash script run in the repo; it calls brain as "$BRAIN".
    pub fn shell(&self, script: &str) -> Command {
        shell_cmd(&self.root, &self.home, script)
    }

    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let out = brain_cmd(cwd, &self.home).args(args).output().unwrap();
        Run {
            out,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn brain(&self, args: &[&str]) -> Run {
        self.run_in(&self.root, args)
    }

    pub fn brain_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Run {
            out: child.wait_with_output().unwrap(),
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    /// Files under `tasks/<state>/` that are tasks (not `.gitkeep`).
    pub fn tasks_in(&self, state: &str) -> Vec<String> {
        let Ok(dir) = fs::read_dir(self.path(&format!("tasks/{state}"))) else {
            return Vec::new();
        };
        let mut v: Vec<String> = dir
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".md"))
            .collect();
        v.sort();
        v
    }

    /// `git` in the repo, with the same clean environment.
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(&self.root)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_GLOBAL", self.home.join("gitconfig"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `git commit` of what is staged, as the person would make it (their own identity).
    pub fn commit_as_user(&self, message: &str) {
        self.git(&[
            "-c",
            "user.name=me",
            "-c",
            "user.email=me@example.com",
            "commit",
            "-qm",
            message,
        ]);
    }

    /// Writes a task file by hand, as a person or an agent without brain would.
    pub fn hand_task(&self, state: &str, name: &str, fields: &str) {
        self.write(
            &format!("tasks/{state}/{name}"),
            &format!("---\n{fields}---\n\n# Task: by hand\n"),
        );
    }
}

/// `brain.toml` as `brain init` wrote it, with `[queue] ad_hoc_agents = true`: the tests claim as
/// agents (`a`, `b`, ...) that it does not name.
pub fn ad_hoc(config: &str) -> String {
    assert!(config.contains("\n# ad_hoc_agents = false\n"), "{config}");
    config.replacen("\n# ad_hoc_agents = false\n", "\nad_hoc_agents = true\n", 1)
}

/// The fixtures corpus folder.
pub fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/tasks")
        .join(kind)
}

impl Repo {
    /// `brain` at another time (RFC 3339).
    pub fn at(&self, now: &str, args: &[&str]) -> Run {
        self.brain_env(&[("BRAIN_NOW", now)], args)
    }

    /// `brain` with more environment variables.
    pub fn brain_env(&self, env: &[(&str, &str)], args: &[&str]) -> Run {
        let out = self
            .cmd()
            .envs(env.iter().copied())
            .args(args)
            .output()
            .unwrap();
        Run {
            out,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Adds a task and returns its id.
    pub fn add(&self, args: &[&str]) -> String {
        let mut a = vec!["add"];
        a.extend_from_slice(args);
        self.brain(&a).ok().trim().to_string()
    }

    /// Claims for `agent` and returns (id, token).
    pub fn claim(&self, agent: &str) -> (String, String) {
        let c: serde_json::Value = self.brain(&["claim", "--agent", agent, "--json"]).json();
        (
            c["id"].as_str().unwrap().to_string(),
            c["token"].as_str().unwrap().to_string(),
        )
    }

    /// The one file of task `id` under tasks/ and its state folder.
    pub fn where_is(&self, id: &str) -> Vec<String> {
        let mut found = Vec::new();
        for state in ["pending", "active", "completed", "failed"] {
            for name in self.tasks_in(state) {
                if name == format!("{id}.md") || name.starts_with(&format!("{id}.")) {
                    found.push(format!("{state}/{name}"));
                }
            }
        }
        found
    }
}

/// A real client the tests run against, from npm, pinned in `tests/tools/package.json`
/// (`claude` for Claude Code, `ccusage`): `.ci/run` installs them with `npm ci`; when they are
/// missing, the first test that needs one installs them the same way (npm's registry must be
/// reachable), and fails saying so when it cannot.
#[cfg(unix)]
pub fn npm_tool(name: &str) -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools");
    let bin = dir.join("node_modules/.bin").join(name);
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !bin.exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "installing the test tools (npm ci in {}) failed: {}",
                dir.display(),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!(
                "the tests need Node.js and npm for {name} (tests/tools/package.json): {e}; install them, or run .ci/run"
            ),
        }
    }
    assert!(bin.exists(), "{} is missing after npm ci", bin.display());
    bin
}

/// `scripts/bench/gen_transcripts.py`, the corpus of Claude Code transcripts the usage tests
/// and the benchmark share: writes about `bytes` of them under `root`.
#[cfg(unix)]
pub fn transcripts(root: &Path, bytes: u64, seed: u64) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/bench/gen_transcripts.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(root)
        .args(["--bytes", &bytes.to_string(), "--seed", &seed.to_string()])
        .output()
        .expect("python3 runs the transcript generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python of `tests/tools/.venv`, with the packages of `tests/tools/requirements.txt` (the
/// official MCP SDK, Selenium) installed in it if they are not yet (`.ci/run` installs them first).
#[cfg(unix)]
pub fn python_tools() -> PathBuf {
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/tools");
    let python = dir.join(".venv/bin/python");
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let ready = || {
        Command::new(&python)
            .args(["-c", "import mcp, selenium"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !ready() {
        let steps: [&[&str]; 2] = [
            &["python3", "-m", "venv", ".venv"],
            &[".venv/bin/pip", "install", "-q", "-r", "requirements.txt"],
        ];
        for step in steps {
            let out = Command::new(step[0])
                .args(&step[1..])
                .current_dir(&dir)
                .output();
            match out {
                Ok(o) if o.status.success() => {}
                Ok(o) => panic!(
                    "installing the Python test tools ({step:?} in {}) failed: {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => panic!("the tests need python3 with venv for the MCP client: {e}"),
            }
        }
    }
    assert!(ready(), "the MCP SDK is missing from {}", python.display());
    python
}
