//! `brain setup claude`: brain's hooks in Claude Code's settings, and a CLAUDE.md section.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::Context;
use crate::claude_settings as cs;
use crate::output;

/// Connect brain to the tools you already use.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    Claude(ClaudeArgs),
    Desktop(DesktopArgs),
}

/// Add brain's MCP server (`brain mcp`) to Claude Desktop's configuration.
///
/// Merges a `brain` entry into `mcpServers` of claude_desktop_config.json (Windows:
/// %APPDATA%\Claude\, macOS: ~/Library/Application Support/Claude/, Linux: ~/.config/Claude/),
/// with the absolute path of this brain and the repo in BRAIN_REPO, keeping every other server
/// and key. Restart Claude Desktop afterwards. For Claude Code the same server is
/// `claude mcp add --scope user brain -e BRAIN_REPO=DIR -- brain mcp`.
#[derive(Debug, clap::Args)]
struct DesktopArgs {
    /// Print the configuration it would write; change nothing.
    #[arg(long)]
    print: bool,
    /// Take brain's entry out again.
    #[arg(long)]
    remove: bool,
    /// Offer the agent tools too (claim, heartbeat, finish, handoff).
    #[arg(long)]
    agent_tools: bool,
}

/// Claude Desktop's configuration file on this platform.
fn desktop_config() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BRAIN_DESKTOP_CONFIG_DIR").filter(|d| !d.is_empty()) {
        // For tests and unusual installs.
        return Ok(PathBuf::from(dir).join("claude_desktop_config.json"));
    }
    let dir = if cfg!(windows) {
        PathBuf::from(std::env::var_os("APPDATA").context("APPDATA is not set")?).join("Claude")
    } else if cfg!(target_os = "macos") {
        home()?.join("Library/Application Support/Claude")
    } else {
        std::env::var_os("XDG_CONFIG_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or(home()?.join(".config"))
            .join("Claude")
    };
    Ok(dir.join("claude_desktop_config.json"))
}

fn desktop(a: DesktopArgs, ctx: &Context) -> anyhow::Result<()> {
    let path = desktop_config()?;
    let config = read_settings(&path)?;
    let mut new = config.clone();
    if a.remove {
        if let Some(servers) = new.get_mut("mcpServers").and_then(Value::as_object_mut) {
            servers.shift_remove("brain");
            if servers.is_empty() {
                new.as_object_mut().map(|o| o.shift_remove("mcpServers"));
            }
        }
    } else {
        let brain = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("finding this brain program")?;
        let repo = ctx.repo().context(
            "give --repo DIR (or BRAIN_REPO): the brain repo Claude Desktop works on (it starts servers in `/`)",
        )?;
        let mut args = vec![serde_json::json!("mcp")];
        if a.agent_tools {
            args.extend([serde_json::json!("--tools"), serde_json::json!("agent")]);
        }
        let entry = serde_json::json!({
            "command": plain(&brain),
            "args": args,
            "env": {"BRAIN_REPO": plain(repo.root())},
        });
        let root = new.as_object_mut().expect("an object");
        let servers = root
            .entry("mcpServers")
            .or_insert_with(|| Value::Object(Default::default()));
        if !servers.is_object() {
            bail!(
                "{}: `mcpServers` is not a JSON object; fix it first",
                path.display()
            );
        }
        servers
            .as_object_mut()
            .expect("an object")
            .insert("brain".into(), entry);
    }
    if a.print {
        return output::line(format_args!(
            "# {}\n{}",
            path.display(),
            pretty(&new).trim_end()
        ));
    }
    if new == config {
        say!("{}: nothing to change.", path.display());
    } else if a.remove && new.as_object().is_some_and(|o| o.is_empty()) {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        say!(
            "Removed brain from Claude Desktop: {} held nothing else, so it is gone.",
            path.display()
        );
    } else {
        write_text(&path, &pretty(&new))?;
        say!(
            "{} {}. Restart Claude Desktop to {} it.",
            if a.remove {
                "Removed brain from"
            } else {
                "Added brain's MCP server to"
            },
            path.display(),
            if a.remove { "drop" } else { "load" }
        );
    }
    Ok(())
}

/// Install brain's hooks into Claude Code, so that every session knows the queue.
///
/// Adds to ~/.claude/settings.json (--user, the default; CLAUDE_CONFIG_DIR moves it) or to
/// DIR/.claude/settings.json (--project DIR) four hooks, each `brain --repo REPO hook EVENT`
/// run without a shell: SessionStart (a primer: what this agent could claim, holds and has
/// waiting), Stop (a reminder of claims still held), SessionEnd, and StopFailure for a usage
/// limit (recorded as `brain run` records one). Every other setting and hook is kept; running
/// it twice changes nothing; --remove takes out exactly what it added. Where the brain plugin
/// is enabled, its hooks already run and none are added.
#[derive(Debug, clap::Args)]
struct ClaudeArgs {
    /// Install for every session of this user (the default).
    #[arg(long, conflicts_with = "project")]
    user: bool,
    /// Install for the sessions in the project folder DIR (DIR/.claude/settings.json).
    #[arg(long, value_name = "DIR")]
    project: Option<PathBuf>,
    /// Report what is installed, and whether the program and the repo it names exist (exit 1
    /// when a hook is missing or broken).
    #[arg(long, conflicts_with_all = ["remove", "print"])]
    check: bool,
    /// Take out brain's hooks (and its CLAUDE.md section), and nothing else.
    #[arg(long)]
    remove: bool,
    /// Print the settings (and the CLAUDE.md section) it would write; change nothing.
    #[arg(long)]
    print: bool,
    /// Also add brain's short section to CLAUDE.md (~/.claude/CLAUDE.md, or DIR/CLAUDE.md).
    #[arg(long)]
    claude_md: bool,
}

pub fn run(args: Args, ctx: &Context) -> anyhow::Result<()> {
    match args.what {
        What::Claude(a) => claude(a, ctx),
        What::Desktop(a) => desktop(a, ctx),
    }
}

/// Claude Code's user folder: the first of CLAUDE_CONFIG_DIR, else ~/.claude.
fn user_dir() -> anyhow::Result<PathBuf> {
    if let Some(dirs) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        let first = dirs
            .to_string_lossy()
            .split(',')
            .next()
            .unwrap_or("")
            .to_string();
        if !first.trim().is_empty() {
            return Ok(PathBuf::from(first.trim()));
        }
    }
    home().map(|h| h.join(".claude"))
}

fn home() -> anyhow::Result<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var)
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .with_context(|| format!("{var} is not set, so Claude Code's folder cannot be found"))
}

/// A settings file as JSON (an absent one is `{}`); a file that is not JSON is an error that
/// names it and the line, and is never overwritten.
pub fn read_settings(path: &Path) -> anyhow::Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(Value::Object(Default::default())),
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: line {}: not valid JSON ({e}); fix it first, brain does not overwrite it",
                    path.display(),
                    e.line()
                )
            })?;
            if !v.is_object() {
                bail!("{}: the settings are not a JSON object", path.display());
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Default::default())),
        Err(e) => Err(anyhow::anyhow!("reading {}: {e}", path.display())),
    }
}

fn write_text(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    brain_core::fsutil::write_atomic(path, text.as_bytes())?;
    Ok(())
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON");
    s.push('\n');
    s
}

fn claude(a: ClaudeArgs, ctx: &Context) -> anyhow::Result<()> {
    let (settings_path, claude_md_path) = match &a.project {
        Some(dir) => {
            let dir = std::path::absolute(dir)?;
            (
                brain_core::fsutil::join_rel(&dir, ".claude/settings.json"),
                dir.join("CLAUDE.md"),
            )
        }
        None => {
            let d = user_dir()?;
            (d.join("settings.json"), d.join("CLAUDE.md"))
        }
    };
    let settings = read_settings(&settings_path)?;
    // The plugin is enabled in the user's settings, or in the project's.
    let user_settings = user_dir()
        .ok()
        .and_then(|d| read_settings(&d.join("settings.json")).ok());
    let plugin = cs::plugin(&settings).or_else(|| user_settings.as_ref().and_then(cs::plugin));

    if a.check {
        return check(&settings_path, &settings, plugin.as_deref());
    }

    let (new_settings, new_md) = if a.remove {
        let md = std::fs::read_to_string(&claude_md_path).ok();
        (cs::remove(&settings), md.map(|t| cs::without_claude_md(&t)))
    } else {
        let brain = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("finding this brain program")?;
        let brain = plain(&brain);
        let repo = ctx.repo().context(
            "give --repo DIR (or BRAIN_REPO): the brain repo the hooks show, since Claude Code runs them in the code project's folder",
        )?;
        let root = plain(repo.root());
        let new = match &plugin {
            Some(p) => {
                say!(
                    "The brain plugin ({p}) is enabled: its hooks run already, so none are added to {} (hooks from a plugin and from settings would both run).",
                    settings_path.display()
                );
                cs::remove(&settings)
            }
            None => cs::install(&settings, &brain, Some(&root)),
        };
        let agent = brain_core::primer::session_agent(&repo, None);
        let md = a.claude_md.then(|| {
            let old = std::fs::read_to_string(&claude_md_path).unwrap_or_default();
            cs::with_claude_md(&old, &cs::claude_md_section(&agent))
        });
        (new, md)
    };

    if a.print {
        output::line(format_args!(
            "# {}\n{}",
            settings_path.display(),
            pretty(&new_settings).trim_end()
        ))?;
        if let Some(md) = &new_md {
            output::line(format_args!(
                "# {}\n{}",
                claude_md_path.display(),
                md.trim_end()
            ))?;
        }
        return Ok(());
    }

    if new_settings == settings {
        say!("{}: nothing to change.", settings_path.display());
    } else if a.remove && new_settings.as_object().is_some_and(|o| o.is_empty()) {
        // Nothing but brain's hooks was in it: it goes with them.
        std::fs::remove_file(&settings_path)
            .with_context(|| format!("removing {}", settings_path.display()))?;
        say!(
            "Removed brain's hooks: {} was only theirs, so it is gone.",
            settings_path.display()
        );
    } else {
        write_text(&settings_path, &pretty(&new_settings))?;
        let verb = match (a.remove, plugin.is_some()) {
            (true, _) => "Removed brain's hooks from",
            // Settings hooks beside the plugin's would run twice.
            (false, true) => "Took brain's settings hooks (the plugin has them) out of",
            (false, false) => "Installed brain's hooks in",
        };
        say!("{verb} {}.", settings_path.display());
    }
    match new_md {
        Some(md) => {
            let old = std::fs::read_to_string(&claude_md_path).ok();
            if old.as_deref() != Some(md.as_str()) && !(old.is_none() && md.is_empty()) {
                if md.is_empty() {
                    std::fs::remove_file(&claude_md_path)
                        .with_context(|| format!("removing {}", claude_md_path.display()))?;
                } else {
                    write_text(&claude_md_path, &md)?;
                }
                say!(
                    "{} brain's section {} {}.",
                    if a.remove { "Took" } else { "Added" },
                    if a.remove { "out of" } else { "to" },
                    claude_md_path.display()
                );
            }
        }
        None if !a.remove => say!(
            "A short section for {} that tells Claude when to use the queue is offered: `brain setup claude --claude-md` adds it (`--print` shows it).",
            claude_md_path.display()
        ),
        None => {}
    }
    Ok(())
}

/// A path as a person writes it (on Windows without the `\\?\` of `canonicalize`).
fn plain(p: &Path) -> String {
    brain_core::fsutil::plain_path(p).display().to_string()
}

fn check(path: &Path, settings: &Value, plugin: Option<&str>) -> anyhow::Result<()> {
    let found = cs::ours(settings);
    let mut ok = true;
    if let Some(p) = plugin {
        println!("the brain plugin ({p}) is enabled: its hooks run in every session");
    }
    for (event, _, _, _) in cs::EVENTS {
        match found.iter().find(|(e, _)| e == event) {
            Some((_, h)) => {
                let problems = hook_problems(h);
                ok &= problems.is_empty();
                let program = h["command"].as_str().unwrap_or_default();
                if problems.is_empty() {
                    println!("{event}: {program} {}", args_of(h).join(" "));
                } else {
                    println!("{event}: BROKEN: {}", problems.join("; "));
                }
            }
            None if plugin.is_some() => println!("{event}: from the plugin"),
            None => {
                ok = false;
                println!("{event}: not installed in {}", path.display());
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(crate::exit::Exit {
            code: crate::exit::ERROR,
            message: format!(
                "brain's hooks in {} are missing or broken: run `brain setup claude` again",
                path.display()
            ),
        }
        .into())
    }
}

fn args_of(h: &Value) -> Vec<String> {
    h["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// What is wrong with one of brain's handlers: a program or a repo that is not there.
pub fn hook_problems(h: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let program = h["command"].as_str().unwrap_or_default();
    if !Path::new(program).is_file() {
        out.push(format!("the program {program} is not there"));
    }
    let args = args_of(h);
    if let Some(i) = args.iter().position(|a| a == "--repo")
        && let Some(repo) = args.get(i + 1)
        && !Path::new(repo).join("brain.toml").is_file()
    {
        out.push(format!("{repo} is not a brain repo (no brain.toml)"));
    }
    out
}

/// The settings files doctor looks at for brain's hooks: the user's, and the brain repo's
/// own project settings.
pub fn hook_settings_files(repo_root: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(d) = user_dir() {
        v.push(d.join("settings.json"));
    }
    v.push(brain_core::fsutil::join_rel(
        repo_root,
        ".claude/settings.json",
    ));
    v
}
