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
}

/// Parses `HH:MM` (24-hour).
pub fn parse_at(s: &str) -> Option<(u8, u8)> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u8, u8) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && !s.trim().starts_with('+')).then_some((h, m))
}

impl Plan {
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
             ExecStart={exec}\n\
             # brain stops its agents itself on SIGTERM; give it time to release their tasks.\n\
             TimeoutStopSec=60\n",
            repo = systemd_escape(&self.repo.display().to_string()),
            workdir = systemd_escape(&self.repo.display().to_string()),
            exec = exec.join(" "),
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
            "{m} {h} * * * cd {dir} && {cmd} >> {log} 2>&1 {marker}",
            m = self.minute,
            h = self.hour,
            dir = sh_quote(&repo),
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
             Set-Location -LiteralPath $repo\n\
             \"Starting scheduled run at $(Get-Date)\" | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             & $brain --repo $repo run{agent} *>&1 | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             $code = $LASTEXITCODE\n\
             \"Completed at $(Get-Date) with exit code $code\" | Out-File -FilePath $logFile -Append -Encoding utf8\n\
             exit $code\n",
            repo = ps_quote(&self.repo.display().to_string()),
            brain = ps_quote(&self.brain.display().to_string()),
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
        }
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
                "5 2 * * * cd '/home/me/it'\\''s 100\\% brain' && '/opt/my tools/brain' '--repo'"
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
        assert!(plan().systemd_timer().contains("OnCalendar=*-*-* 02:05:00"));
    }

    #[test]
    fn powershell_strings_double_their_quotes() {
        let s = plan().powershell_script();
        assert!(s.contains("$repo = '/home/me/it''s 100% brain'"), "{s}");
        assert!(s.contains("run --agent 'claude-code'"), "{s}");
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
