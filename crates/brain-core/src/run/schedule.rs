//! What each platform's scheduler needs to start `brain run` (SPEC §6): a systemd user service
//! and timer, a crontab line (the seed's Option B), or a Windows Task Scheduler task with the
//! PowerShell script it runs (the seed's Option A). Pure text: `brain schedule` writes and
//! installs it. Every path is quoted for the syntax it lands in, so paths with spaces (and
//! quotes, `%` and `$`) survive.

use std::path::{Path, PathBuf};

/// What to schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `brain` executable, absolute.
    pub brain: PathBuf,
    /// The brain repo, absolute.
    pub repo: PathBuf,
    /// `--agent` for `brain run` (none: `[run] agent` from brain.toml).
    pub agent: Option<String>,
    /// Local time of day.
    pub hour: u8,
    pub minute: u8,
    /// Folders the scheduled run needs on PATH (the agent's program, its interpreter, brain
    /// itself for the agent's `brain ask`), put before the scheduler's own PATH.
    pub path: Vec<PathBuf>,
}

/// The PATH a scheduler gives its jobs on Linux and macOS (cron's is shorter still); the
/// folders a run needs go before it.
pub const SCHEDULER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Where a scheduled run finds an agent's program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub program: PathBuf,
    /// The interpreter of a script (`#!/usr/bin/env node`: where `node` is).
    pub interpreter: Option<PathBuf>,
}

impl Found {
    /// The folders of the program and its interpreter.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = Vec::new();
        for p in std::iter::once(&self.program).chain(self.interpreter.as_ref()) {
            if let Some(d) = p.parent()
                && !v.iter().any(|x| x == d)
            {
                v.push(d.to_path_buf());
            }
        }
        v
    }
}

/// Finds `program` (an agent command's first word) as a scheduled run would: a path (relative
/// ones from the repo, where `brain run` starts agents), else a name in the folders of
/// `search` (the PATH `brain schedule install` runs with); then the interpreter its `#!` line
/// names. The error says what is missing and how to fix it.
pub fn find_agent(program: &str, search: &std::ffi::OsStr, repo: &Path) -> Result<Found, String> {
    let path = Path::new(program);
    let found = if path.components().count() > 1 || path.is_absolute() {
        let p = if path.is_absolute() {
            path.to_path_buf()
        } else {
            repo.join(path)
        };
        if !p.is_file() {
            return Err(format!(
                "`{program}` does not exist ({}); fix the agent's `command` in brain.toml",
                p.display()
            ));
        }
        p
    } else {
        crate::fsutil::find_on(program, search).ok_or_else(|| {
            format!(
                "`{program}` is not on your PATH, so the scheduled run could not start it either; install it, or write its full path as the first word of the agent's `command` in brain.toml"
            )
        })?
    };
    let interpreter = match shebang(&found) {
        None => None,
        Some(i) if Path::new(&i).is_absolute() => {
            if !Path::new(&i).is_file() {
                return Err(format!(
                    "`{}` starts with #!{i}, which does not exist; install it",
                    found.display()
                ));
            }
            Some(PathBuf::from(i))
        }
        Some(name) => Some(crate::fsutil::find_on(&name, search).ok_or_else(|| {
            format!(
                "`{}` is run by `{name}` (its #! line), which is not on your PATH; install it, or put its folder on PATH before installing the schedule",
                found.display()
            )
        })?),
    };
    Ok(Found {
        program: found,
        interpreter,
    })
}

/// The interpreter a script's `#!` line runs: the program after `/usr/bin/env` (and its
/// `-S`), else the path itself; `None` for a file that is not a script.
fn shebang(file: &Path) -> Option<String> {
    use std::io::Read;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(file).ok()?.read(&mut head).ok()?;
    let text = std::str::from_utf8(&head[..n]).ok().or_else(|| {
        // A binary (or a long first line cut in a character): only its start matters.
        std::str::from_utf8(&head[..n.min(2)]).ok()
    })?;
    let line = text.strip_prefix("#!")?.lines().next()?.trim();
    let mut words = line.split_whitespace();
    let first = words.next()?;
    if first.rsplit('/').next() == Some("env") {
        words.find(|w| !w.starts_with('-')).map(str::to_string)
    } else {
        Some(first.to_string())
    }
}

/// Parses `HH:MM` (24-hour).
pub fn parse_at(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && !s.trim().starts_with('+')).then_some((h, m))
}

impl Plan {
    /// The PATH of the scheduled run on Linux and macOS.
    fn unix_path(&self) -> String {
        let mut parts: Vec<String> = self.path.iter().map(|p| p.display().to_string()).collect();
        parts.push(SCHEDULER_PATH.to_string());
        parts.join(":")
    }

    /// `brain run`'s arguments after the executable.
    fn run_args(&self) -> Vec<String> {
        let mut v = vec![
            "--repo".to_string(),
            self.repo.display().to_string(),
            "run".to_string(),
        ];
        if let Some(a) = &self.agent {
            v.push("--agent".into());
            v.push(a.clone());
        }
        v
    }

    /// A name that tells this repo's schedule from another's: `brain-run-<folder>-<hash>`.
    pub fn name(&self) -> String {
        let folder: String = self
            .repo
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("repo")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        format!(
            "brain-run-{}-{:08x}",
            folder.trim_matches('-'),
            fnv(&self.repo.display().to_string())
        )
    }

    /// The marker that identifies this repo's crontab line.
    pub fn cron_marker(&self) -> String {
        format!("# {}", self.name())
    }

    /// The systemd user service (`~/.config/systemd/user/<name>.service`).
    pub fn systemd_service(&self) -> String {
        let mut exec = vec![systemd_quote(&self.brain.display().to_string())];
        exec.extend(self.run_args().iter().map(|a| systemd_quote(a)));
        format!(
            "# Written by `brain schedule install --systemd`; `brain schedule remove --systemd` removes it.\n\
             [Unit]\n\
             Description=brain overnight run for {repo}\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             WorkingDirectory={workdir}\n\
             # Where the agent's program (and brain, for the agent's `brain ask`) is found.\n\
             Environment={env}\n\
             ExecStart={exec}\n\
             # brain stops its agents itself on SIGTERM; give it time to release their tasks.\n\
             TimeoutStopSec=60\n",
            repo = systemd_escape(&self.repo.display().to_string()),
            workdir = systemd_escape(&self.repo.display().to_string()),
            exec = exec.join(" "),
            env = systemd_quote(&format!("PATH={}", self.unix_path())),
        )
    }

    /// The systemd user timer that starts the service daily.
    pub fn systemd_timer(&self) -> String {
        format!(
            "# Written by `brain schedule install --systemd`.\n\
             [Unit]\n\
             Description=brain overnight run for {repo}, daily at {h:02}:{m:02}\n\
             \n\
             [Timer]\n\
             OnCalendar=*-*-* {h:02}:{m:02}:00\n\
             # A run missed while the machine was off starts when it is back.\n\
             Persistent=true\n\
             Unit={name}.service\n\
             \n\
             [Install]\n\
             WantedBy=timers.target\n",
            repo = systemd_escape(&self.repo.display().to_string()),
            h = self.hour,
            m = self.minute,
            name = self.name(),
        )
    }

    /// The crontab line (the seed's Option B), ending with this repo's marker.
    pub fn cron_line(&self) -> String {
        let repo = self.repo.display().to_string();
        let mut cmd = vec![sh_quote(&self.brain.display().to_string())];
        cmd.extend(self.run_args().iter().map(|a| sh_quote(a)));
        let log = sh_quote(&format!("{repo}/logs/cron.log"));
        let line = format!(
            "{m} {h} * * * cd {dir} && PATH={path} {cmd} >> {log} 2>&1 {marker}",
            m = self.minute,
            h = self.hour,
            dir = sh_quote(&repo),
            path = sh_quote(&self.unix_path()),
            cmd = cmd.join(" "),
            marker = self.cron_marker(),
        );
        // In a crontab, an unescaped % ends the command.
        line.replace('%', "\\%")
    }

    /// The PowerShell script the Windows task runs: the seed's `overnight-brain.ps1`, calling
    /// `brain run`.
    pub fn powershell_script(&self) -> String {
        let agent = match &self.agent {
            Some(a) => format!(" --agent {}", ps_quote(a)),
            None => String::new(),
        };
        format!(
            "# overnight-brain.ps1: written by `brain schedule install --windows`; Task Scheduler runs it.\n\
             # The seed's Option A, with `brain run` doing the work: it claims each eligible task,\n\
             # runs the agent with a timeout, and writes logs\\YYYY-MM-DD-overnight.log itself.\n\
             $ErrorActionPreference = 'Stop'\n\
             $repo = {repo}\n\
             $brain = {brain}\n\
             $logFile = Join-Path $repo ('logs\\' + (Get-Date -Format 'yyyy-MM-dd') + '-scheduler.log')\n\
             # Where the agent's program (and brain, for the agent's `brain ask`) is found.\n\
             $env:Path = {path} + $env:Path\n\
             Set-Location -LiteralPath $repo\n\
             \"Starting scheduled run at $(Get-Date)\" | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             & $brain --repo $repo run{agent} *>&1 | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             $code = $LASTEXITCODE\n\
             \"Completed at $(Get-Date) with exit code $code\" | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             exit $code\n",
            repo = ps_quote(&self.repo.display().to_string()),
            brain = ps_quote(&self.brain.display().to_string()),
            path = ps_quote(
                &self
                    .path
                    .iter()
                    .map(|p| format!("{};", p.display()))
                    .collect::<String>()
            ),
        )
    }

    /// The Task Scheduler task (for `schtasks /Create /XML`): daily at the time, running the
    /// script with PowerShell in the repo. Returned as text; it declares UTF-16, and
    /// [`utf16_with_bom`] gives the bytes to write.
    pub fn task_xml(&self, script: &Path) -> String {
        let args = format!(
            "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File \"{}\"",
            script.display()
        );
        format!(
            r#"<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{desc}</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-01-01T{h:02}:{m:02}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <ExecutionTimeLimit>PT12H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>powershell.exe</Command>
      <Arguments>{args}</Arguments>
      <WorkingDirectory>{dir}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"#,
            desc = xml_escape(&format!(
                "brain overnight run for {}, daily at {:02}:{:02}",
                self.repo.display(),
                self.hour,
                self.minute
            )),
            h = self.hour,
            m = self.minute,
            args = xml_escape(&args),
            dir = xml_escape(&self.repo.display().to_string()),
        )
    }
}

/// The text as UTF-16 little-endian with a byte-order mark, as `schtasks /XML` expects.
pub fn utf16_with_bom(text: &str) -> Vec<u8> {
    let mut v = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

/// A POSIX shell word: single quotes, with `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A PowerShell string literal: single quotes, with `'` doubled.
pub fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Escapes systemd's specifiers (`%`) in a unit file value.
fn systemd_escape(s: &str) -> String {
    s.replace('%', "%%")
}

/// One `ExecStart=` word: double quotes with C-style escapes; `%` and `$` escaped so systemd
/// neither expands specifiers nor variables.
fn systemd_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// FNV-1a, for a short stable name per repo path.
fn fnv(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            brain: "/opt/my tools/brain".into(),
            repo: "/home/me/it's 100% brain".into(),
            agent: Some("claude-code".into()),
            hour: 2,
            minute: 5,
            path: vec!["/opt/my tools".into(), "/home/me/.npm global/bin".into()],
        }
    }

    #[test]
    fn finds_the_agent_and_the_interpreter_its_script_names() {
        let tmp = tempfile::tempdir().unwrap();
        let (bin, node_dir) = (tmp.path().join("npm bin"), tmp.path().join("node"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&node_dir).unwrap();
        std::fs::write(bin.join("claude"), "#!/usr/bin/env -S node --no-warnings\n").unwrap();
        std::fs::write(node_dir.join("node"), [0x7f, b'E', b'L', b'F', 0xff, 0xfe]).unwrap();
        let search = std::env::join_paths([&bin, &node_dir]).unwrap();
        let f = find_agent("claude", &search, tmp.path()).unwrap();
        assert_eq!(f.program, bin.join("claude"));
        assert_eq!(f.interpreter, Some(node_dir.join("node")));
        assert_eq!(f.dirs(), [bin.clone(), node_dir.clone()]);
        // A binary has no interpreter.
        assert_eq!(
            find_agent("node", &search, tmp.path()).unwrap().interpreter,
            None
        );
        let only_bin = std::env::join_paths([&bin]).unwrap();
        let e = find_agent("claude", &only_bin, tmp.path()).unwrap_err();
        assert!(
            e.contains("run by `node`") && e.contains("not on your PATH"),
            "{e}"
        );
        let e = find_agent("nothere", &search, tmp.path()).unwrap_err();
        assert!(e.contains("full path"), "{e}");
        let e = find_agent("agents/missing.sh", &search, tmp.path()).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn parses_times_of_day() {
        assert_eq!(parse_at("02:00"), Some((2, 0)));
        assert_eq!(parse_at("23:59"), Some((23, 59)));
        for bad in ["24:00", "2", "02:60", "-1:00", "+1:00", "ab:cd"] {
            assert_eq!(parse_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn cron_line_escapes_percent_and_quotes() {
        let line = plan().cron_line();
        assert!(
            line.starts_with(
                "5 2 * * * cd '/home/me/it'\\''s 100\\% brain' && PATH='/opt/my tools:/home/me/.npm global/bin:/usr/local/bin:/usr/bin:/bin' '/opt/my tools/brain' '--repo'"
            ),
            "{line}"
        );
        assert!(line.ends_with(&plan().cron_marker()), "{line}");
        assert!(!line.contains(" 100% "), "{line}");
    }

    #[test]
    fn systemd_words_are_quoted_and_escaped() {
        let s = plan().systemd_service();
        assert!(s.contains("ExecStart=\"/opt/my tools/brain\" \"--repo\" \"/home/me/it's 100%% brain\" \"run\" \"--agent\" \"claude-code\""), "{s}");
        assert!(
            s.contains("WorkingDirectory=/home/me/it's 100%% brain\n"),
            "{s}"
        );
        assert!(
            s.contains("Environment=\"PATH=/opt/my tools:/home/me/.npm global/bin:/usr/local/bin:/usr/bin:/bin\"\n"),
            "{s}"
        );
        assert!(plan().systemd_timer().contains("OnCalendar=*-*-* 02:05:00"));
    }

    #[test]
    fn powershell_strings_double_their_quotes() {
        let s = plan().powershell_script();
        assert!(s.contains("$repo = '/home/me/it''s 100% brain'"), "{s}");
        assert!(s.contains("run --agent 'claude-code'"), "{s}");
        assert!(
            s.contains("$env:Path = '/opt/my tools;/home/me/.npm global/bin;' + $env:Path\n"),
            "{s}"
        );
    }

    #[test]
    fn names_differ_per_repo_and_are_stable() {
        let mut other = plan();
        other.repo = "/home/me/other".into();
        assert_ne!(plan().name(), other.name());
        assert_eq!(plan().name(), plan().name());
        assert!(
            plan().name().starts_with("brain-run-it-s-100--brain-"),
            "{}",
            plan().name()
        );
    }
}
