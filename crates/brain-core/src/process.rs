//! Starting an agent so that its whole process tree can be stopped: a process group of its own
//! on Unix, a job object on Windows. Stopping is polite first (SIGTERM; CTRL_BREAK on Windows)
//! and then for good (SIGKILL to the group; the job is terminated).

use std::io;
use std::process::{Child, Command};

/// An agent's process tree.
#[derive(Debug)]
pub struct Tree {
    #[cfg(unix)]
    pgid: i32,
    #[cfg(windows)]
    job: imp::Job,
    #[cfg(windows)]
    pid: u32,
}

/// Starts `cmd` as the root of a new process tree.
pub fn spawn(mut cmd: Command) -> io::Result<(Child, Tree)> {
    imp::prepare(&mut cmd);
    let child = cmd.spawn()?;
    let tree = imp::adopt(&child)?;
    Ok((child, tree))
}

impl Tree {
    /// Asks every process of the tree to stop (SIGTERM; CTRL_BREAK on Windows).
    pub fn stop_politely(&self) {
        imp::polite(self);
    }

    /// Stops every process of the tree for good.
    pub fn kill(&self) {
        imp::kill(self);
    }

    /// Whether any process of the tree is still running.
    pub fn alive(&self) -> bool {
        imp::alive(self)
    }
}

#[cfg(unix)]
mod imp {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};

    use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

    use super::Tree;

    pub fn prepare(cmd: &mut Command) {
        // The agent leads a new process group, so a signal to the group reaches everything it
        // starts (unless a process leaves the group on purpose, with setsid).
        cmd.process_group(0);
    }

    pub fn adopt(child: &Child) -> io::Result<Tree> {
        Ok(Tree {
            pgid: child.id() as i32,
        })
    }

    fn group(t: &Tree) -> Option<Pid> {
        Pid::from_raw(t.pgid)
    }

    pub fn polite(t: &Tree) {
        if let Some(p) = group(t) {
            let _ = kill_process_group(p, Signal::TERM);
        }
    }

    pub fn kill(t: &Tree) {
        if let Some(p) = group(t) {
            let _ = kill_process_group(p, Signal::KILL);
        }
    }

    pub fn alive(t: &Tree) -> bool {
        group(t).is_some_and(|p| test_kill_process_group(p).is_ok())
    }
}

#[cfg(windows)]
mod imp {
    use std::io;
    use std::os::windows::io::AsRawHandle;
    use std::os::windows::process::CommandExt;
    use std::process::{Child, Command};

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
        QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
    };
    use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;

    use super::Tree;

    /// A job object handle, closed on drop (which also ends the processes still in it).
    #[derive(Debug)]
    pub struct Job(HANDLE);

    // SAFETY: a job handle may be used and closed from any thread.
    unsafe impl Send for Job {}
    unsafe impl Sync for Job {}

    impl Drop for Job {
        fn drop(&mut self) {
            // SAFETY: the handle came from CreateJobObjectW and is closed once.
            unsafe { CloseHandle(self.0) };
        }
    }

    pub fn prepare(cmd: &mut Command) {
        // A console process group of its own, so CTRL_BREAK reaches the agent and not brain.
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP);
    }

    pub fn adopt(child: &Child) -> io::Result<Tree> {
        // SAFETY: plain Win32 calls on handles we own; the structure is zeroed and sized.
        unsafe {
            let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
            if job.is_null() {
                return Err(io::Error::last_os_error());
            }
            let job = Job(job);
            let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            if SetInformationJobObject(
                job.0,
                JobObjectExtendedLimitInformation,
                &info as *const _ as *const core::ffi::c_void,
                std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
            ) == 0
            {
                return Err(io::Error::last_os_error());
            }
            // Processes the agent starts from now on belong to the job too.
            if AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Tree {
                job,
                pid: child.id(),
            })
        }
    }

    pub fn polite(t: &Tree) {
        // SAFETY: a plain Win32 call; failure (no shared console) just means no polite stop.
        unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, t.pid) };
    }

    pub fn kill(t: &Tree) {
        // SAFETY: the job handle is valid for the life of `t`.
        unsafe { TerminateJobObject(t.job.0, 1) };
    }

    pub fn alive(t: &Tree) -> bool {
        // SAFETY: the structure is zeroed and sized; the handle is valid.
        unsafe {
            let mut info: JOBOBJECT_BASIC_ACCOUNTING_INFORMATION = std::mem::zeroed();
            let ok = QueryInformationJobObject(
                t.job.0,
                JobObjectBasicAccountingInformation,
                &mut info as *mut _ as *mut core::ffi::c_void,
                std::mem::size_of::<JOBOBJECT_BASIC_ACCOUNTING_INFORMATION>() as u32,
                std::ptr::null_mut(),
            );
            ok != 0 && info.ActiveProcesses > 0
        }
    }
}
