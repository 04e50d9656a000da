//! End-to-end tests: the real `brain` binary, real files in temporary folders, the real `git`.

mod add;
mod discovery;
mod doctor;
mod gates;
mod git;
mod init;
mod lifecycle;
mod list;
mod races;
mod remote;
#[cfg(target_os = "linux")] // agents are sh scripts; process checks read /proc
mod run;
#[cfg(unix)] // the stand-ins for systemctl and crontab are sh scripts
mod schedule;
mod support;
#[cfg(target_os = "linux")] // bash, /proc, mount namespaces
mod world;
