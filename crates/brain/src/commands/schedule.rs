//! `brain schedule install|remove`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use brain_core::Repo;
use brain_core::run::schedule::{self, Plan};

use super::Context;
use crate::output;

/// Run `brain run` every night: a systemd user timer, a crontab line, or a Windows Task
/// Scheduler task.
///
/// `install --systemd` writes a user service and timer to ~/.config/systemd/user and enables
/// the timer; `install --cron` adds one line to your crontab (the seed's Option B) and leaves
/// every other line as it was; `install --windows` writes the seed's overnight-brain.ps1 (calling
/// `brain run`) and a task definition to .brain/schedule/ and registers it with `schtasks`.
/// `--print` shows what would be written and changes nothing. `remove` undoes `install`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Install the schedule for this brain repo.
    Install {
        #[command(flatten)]
        target: Target,
        /// The time of day (24-hour, local time).
        #[arg(long, value_name = "HH:MM", default_value = "02:00")]
        at: String,
        /// The agent `brain run` runs (default: [run] agent in brain.toml).
        #[arg(long, value_name = "AGENT")]
        agent: Option<String>,
        /// Print what would be installed; change nothing.
        #[arg(long)]
        print: bool,
    },
    /// Remove the schedule of this brain repo.
    Remove {
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct Target {
    /// A systemd user service and timer (Linux).
    #[arg(long)]
    systemd: bool,
    /// A line in your crontab (Linux, macOS, WSL).
    #[arg(long)]
    cron: bool,
    /// A Task Scheduler task and its PowerShell script (Windows).
    #[arg(long)]
    windows: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    let repo = ctx.repo()?;
    match args.action {
        Action::Install {
            target,
            at,
            agent,
            print,
        } => {
            let plan = plan(&repo, &at, agent, true)?;
            if target.systemd {
                systemd_install(&plan, print)
            } else if target.cron {
                cron_install(&plan, print)
            } else {
                windows_install(&repo, &plan, print)
            }
        }
        Action::Remove { target } => {
            // The name depends on the repo only.
            let plan = plan(&repo, "02:00", None, false)?;
            if target.systemd {
                systemd_remove(&plan)
            } else if target.cron {
                cron_remove(&plan)
            } else {
                windows_remove(&repo, &plan)
            }
        }
    }
}

/// What to install; `install` checks that the agent can be run, so that a mistake shows now
/// rather than at 2 a.m.
fn plan(repo: &Repo, at: &str, agent: Option<String>, install: bool) -> anyhow::Result<Plan> {
    let Some((hour, minute)) = schedule::parse_at(at) else {
        bail!("--at {at}: give a time of day as HH:MM, 24-hour (02:00)");
    };
    let agent = agent.or_else(|| repo.config().default_agent().map(str::to_string));
    // Plain paths: PowerShell 5.1 and Task Scheduler trip on the `\\?\` that canonicalize
    // adds on Windows.
    let brain = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map(|p| brain_core::fsutil::plain_path(&p))
        .context("finding the brain executable")?;
    let root = repo
        .root()
        .canonicalize()
        .map(|p| brain_core::fsutil::plain_path(&p))
        .with_context(|| format!("resolving {}", repo.root().display()))?;
    let mut path: Vec<PathBuf> = brain.parent().map(Path::to_path_buf).into_iter().collect();
    if install {
        let Some(a) = &agent else {
            bail!(
                "which agent should run? give --agent AGENT, or set `agent = \"...\"` under [run] in brain.toml"
            );
        };
        brain_core::task::names::validate_agent(a)?;
        let program = match repo.config().agents.get(a) {
            Some(c) if !c.command.is_empty() => c.command[0].clone(),
            _ => bail!(
                "[agents.{a}] in brain.toml has no `command`, so `brain run --agent {a}` could not start it; add one first"
            ),
        };
        // A scheduler starts jobs with a short PATH: find the agent (and what runs it) now,
        // and give the job the folders it needs, so that it does not fail at 2 a.m.
        let search = std::env::var_os("PATH").unwrap_or_default();
        let found = schedule::find_agent(&program, &search, &root)
            .map_err(|e| anyhow::anyhow!("[agents.{a}]: {e}"))?;
        for d in found.dirs() {
            if !path.contains(&d) {
                path.push(d);
            }
        }
        let mut found_at = format!("{}", found.program.display());
        if let Some(i) = &found.interpreter {
            found_at.push_str(&format!(", run by {}", i.display()));
        }
        say!("brain: the agent's program is {found_at}; the schedule puts its folder on PATH");
    }
    Ok(Plan {
        brain,
        repo: root,
        agent,
        hour,
        minute,
        path,
    })
}

fn write(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    brain_core::fsutil::write_atomic(path, data)?;
    Ok(())
}

/// Runs a command; `Err` with what it said when it fails or cannot start.
fn call(program: &str, args: &[&str], input: Option<&str>) -> Result<String, String> {
    let mut c = Command::new(program);
    c.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c
        .spawn()
        .map_err(|e| format!("`{program}` cannot be run: {e}"))?;
    if let Some(text) = input
        && let Some(mut stdin) = child.stdin.take()
    {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing to `{program}`: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`{program}`: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn systemd_dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME") {
            Some(h) => PathBuf::from(h).join(".config"),
            None => {
                bail!("neither XDG_CONFIG_HOME nor HOME is set; cannot find ~/.config/systemd/user")
            }
        },
    };
    Ok(base.join("systemd").join("user"))
}

fn systemd_install(plan: &Plan, print: bool) -> anyhow::Result<()> {
    let dir = systemd_dir()?;
    let name = plan.name();
    let service = dir.join(format!("{name}.service"));
    let timer = dir.join(format!("{name}.timer"));
    if print {
        output::line(format_args!(
            "# {}\n{}",
            service.display(),
            plan.systemd_service()
        ))?;
        return output::line(format_args!(
            "# {}\n{}",
            timer.display(),
            plan.systemd_timer()
        ));
    }
    write(&service, plan.systemd_service().as_bytes())?;
    write(&timer, plan.systemd_timer().as_bytes())?;
    output::line(format_args!(
        "wrote {} and {}",
        service.display(),
        timer.display()
    ))?;
    let enabled = call("systemctl", &["--user", "daemon-reload"], None).and_then(|_| {
        call(
            "systemctl",
            &["--user", "enable", "--now", &format!("{name}.timer")],
            None,
        )
    });
    match enabled {
        Ok(_) => output::line(format_args!(
            "enabled {name}.timer: brain runs daily at {:02}:{:02} (`systemctl --user list-timers` shows it)",
            plan.hour, plan.minute
        )),
        Err(why) => {
            output::warn(format_args!(
                "the timer is written but not enabled ({why}); run: systemctl --user daemon-reload && systemctl --user enable --now {name}.timer"
            ));
            Ok(())
        }
    }
}

fn systemd_remove(plan: &Plan) -> anyhow::Result<()> {
    let dir = systemd_dir()?;
    let name = plan.name();
    let _ = call(
        "systemctl",
        &["--user", "disable", "--now", &format!("{name}.timer")],
        None,
    );
    let mut removed = 0;
    for ext in ["timer", "service"] {
        let p = dir.join(format!("{name}.{ext}"));
        match std::fs::remove_file(&p) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    let _ = call("systemctl", &["--user", "daemon-reload"], None);
    output::line(if removed > 0 {
        format!("removed {name}.timer and {name}.service")
    } else {
        format!("no systemd schedule for this repo ({name}) was installed")
    })
}

/// The user's crontab (empty when they have none).
fn crontab() -> anyhow::Result<String> {
    match call("crontab", &["-l"], None) {
        Ok(text) => Ok(text),
        Err(why) if why.to_lowercase().contains("no crontab") => Ok(String::new()),
        Err(why) => bail!("reading your crontab (crontab -l): {why}"),
    }
}

fn set_crontab(text: &str) -> anyhow::Result<()> {
    call("crontab", &["-"], Some(text))
        .map(|_| ())
        .map_err(|why| anyhow::anyhow!("writing your crontab (crontab -): {why}"))
}

/// `text` without the lines that carry `marker`, every other line exactly as it was.
fn without_marker(text: &str, marker: &str) -> String {
    text.split_inclusive('\n')
        .filter(|l| !l.trim_end().ends_with(marker))
        .collect()
}

fn cron_install(plan: &Plan, print: bool) -> anyhow::Result<()> {
    let line = plan.cron_line();
    if print {
        return output::line(&line);
    }
    let current = crontab()?;
    let mut next = without_marker(&current, &plan.cron_marker());
    if !next.is_empty() && !next.ends_with('\n') {
        next.push('\n');
    }
    next.push_str(&line);
    next.push('\n');
    set_crontab(&next)?;
    output::line(format_args!("added to your crontab:\n{line}"))
}

fn cron_remove(plan: &Plan) -> anyhow::Result<()> {
    let current = crontab()?;
    let next = without_marker(&current, &plan.cron_marker());
    if next == current {
        return output::line("no crontab line for this repo was installed");
    }
    set_crontab(&next)?;
    output::line("removed this repo's line from your crontab")
}

fn windows_files(repo: &Repo, plan: &Plan) -> (PathBuf, PathBuf) {
    let dir = repo.local_dir().join("schedule");
    (
        dir.join("overnight-brain.ps1"),
        dir.join(format!("{}.xml", plan.name())),
    )
}

fn windows_install(repo: &Repo, plan: &Plan, print: bool) -> anyhow::Result<()> {
    let (script, xml) = windows_files(repo, plan);
    let task = plan.task_xml(&script);
    if print {
        output::line(format_args!(
            "# {}\n{}",
            script.display(),
            plan.powershell_script()
        ))?;
        return output::line(format_args!("# {}\n{}", xml.display(), task));
    }
    if !cfg!(windows) {
        bail!(
            "Task Scheduler exists only on Windows; run this there, or use --print to see the files (--cron or --systemd schedule here)"
        );
    }
    // PowerShell reads a script with a BOM as UTF-8 whatever the system code page.
    let mut ps = vec![0xEF, 0xBB, 0xBF];
    ps.extend_from_slice(plan.powershell_script().replace('\n', "\r\n").as_bytes());
    write(&script, &ps)?;
    write(&xml, &schedule::utf16_with_bom(&task.replace('\n', "\r\n")))?;
    let tn = format!("\\brain\\{}", plan.name());
    let xml_s = xml.display().to_string();
    call(
        "schtasks",
        &["/Create", "/TN", &tn, "/XML", &xml_s, "/F"],
        None,
    )
    .map_err(|why| anyhow::anyhow!("schtasks /Create failed: {why}"))?;
    output::line(format_args!(
        "created the Task Scheduler task {tn}: brain runs daily at {:02}:{:02} while you are logged on ({})",
        plan.hour,
        plan.minute,
        script.display()
    ))
}

fn windows_remove(repo: &Repo, plan: &Plan) -> anyhow::Result<()> {
    if !cfg!(windows) {
        bail!("Task Scheduler exists only on Windows; run this there");
    }
    let tn = format!("\\brain\\{}", plan.name());
    let deleted = call("schtasks", &["/Delete", "/TN", &tn, "/F"], None);
    let (script, xml) = windows_files(repo, plan);
    let _ = std::fs::remove_file(script);
    let _ = std::fs::remove_file(xml);
    match deleted {
        Ok(_) => output::line(format_args!("deleted the Task Scheduler task {tn}")),
        Err(why) => bail!("schtasks /Delete {tn}: {why}"),
    }
}
