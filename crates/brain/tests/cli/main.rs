//! End-to-end tests: the real `brain` binary, real files in temporary folders, the real `git`.

mod add;
mod board;
#[cfg(target_os = "linux")] // the agents are sh scripts (and the run helpers of run.rs)
mod claude;
mod discovery;
mod doctor;
mod gates;
mod git;
mod hooks;
mod ids;
mod init;
mod lifecycle;
mod list;
#[cfg(unix)] // the MCP SDK in a Python venv
mod mcp;
#[cfg(target_os = "linux")] // as claude.rs
mod morning;
mod order;
mod races;
mod readonly;
#[cfg(target_os = "linux")] // the Claude Code CLI installed for this platform by npm
mod real_claude;
mod remote;
#[cfg(target_os = "linux")] // agents are sh scripts; process checks read /proc
mod run;
#[cfg(unix)] // the stand-ins for systemctl and crontab are sh scripts
mod schedule;
#[cfg(unix)] // a real bash loads the completion script
mod shell;
mod support;
#[cfg(unix)] // npm's .bin links and the python3 corpus generator
mod usage;
mod why;
#[cfg(target_os = "linux")] // bash, /proc, mount namespaces
mod world;
