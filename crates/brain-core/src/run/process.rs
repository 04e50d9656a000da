//! Starting an agent so that its whole process tree can be stopped: a process group of its own
//! on Unix, a job object on Windows. Stopping is polite first (SIGTERM; CTRL_BREAK on Windows)
//! and then for good (SIGKILL to the group; the job is terminated).
//!
//! A process can leave its process group (`setsid`, or a daemon's double fork). On Linux
//! brain therefore also makes itself a child subreaper ([`adopt_orphans`]): whatever an
//! agent's processes leave behind is re-parented to brain rather than to init, stays among
//! brain's descendants, and carries the agent's mark in its environment (`BRAIN_RUN_MARK`), by
//! which each agent's tree is found and stopped with it. On macOS and the BSDs only the
//! process group is stopped: a process that calls `setsid` outlives its agent. On Windows the
//! job object holds every process the agent starts (a job brain creates allows no breakaway).

use std::io;
use std::process::{Child, Command};

/// The environment variable that marks every process of one agent's tree.
pub const MARK: &str = "BRAIN_RUN_MARK";

/// An agent's process tree.
#[derive(Debug)]
pub struct Tree {
    #[cfg(unix)]
    pgid: i32,
    /// The mark the agent's processes carry (see [`MARK`]).
    #[cfg(target_os = "linux")]
    mark: String,
    /// Processes found by their mark and signalled, to be reaped once they have exited.
    #[cfg(target_os = "linux")]
    signalled: std::sync::Mutex<Vec<i32>>,
    #[cfg(windows)]
    job: imp::Job,
    #[cfg(windows)]
    pid: u32,
}

/// Makes this process the one that inherits the orphans of its descendants (Linux:
/// `PR_SET_CHILD_SUBREAPER`), so that a daemon an agent starts is still found and stopped.
/// Elsewhere it does nothing. Call it once, before starting agents.
pub fn adopt_orphans() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    }
    Ok(())
}

/// Starts `cmd` as the root of a new process tree; every process of the tree carries `mark`
/// (unique to this agent) in its environment.
pub fn spawn(mut cmd: Command, mark: &str) -> io::Result<(Child, Tree)> {
    cmd.env(MARK, mark);
    imp::prepare(&mut cmd);
    let mut child = cmd.spawn()?;
    match imp::adopt(&child, mark) {
        Ok(tree) => Ok((child, tree)),
        Err(e) => {
            // Not watched, so not left running (on Windows it has not even started).
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
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

/// Stops for good every process still running below this one, and reaps the ones that were
/// re-parented to it: for the end of a run, when no agent and no git command of its own is
/// left, so that whatever an agent left behind (a daemon that also cleared its environment
/// included) does not outlive the run. Linux only; elsewhere it does nothing.
pub fn stop_leftovers() {
    #[cfg(target_os = "linux")]
    for pid in linux::all() {
        linux::signal(pid, None, rustix::process::Signal::KILL);
        linux::reap_later(pid);
    }
}

/// Finding an agent's processes on Linux: brain's descendants (through `/proc`), by the mark
/// in their environment.
#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashMap;

    use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions, pidfd_open, pidfd_send_signal};

    /// The live descendants of this process: (pid, parent). Found through each process's
    /// `/proc/<pid>/task/*/children`, which costs a read per descendant (usually none);
    /// where the kernel has no such files, through every process's `/proc/<pid>/stat`.
    fn descendants() -> Vec<(i32, i32)> {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let Some(first) = children(me) else {
            return descendants_by_scan(me);
        };
        let mut out = Vec::new();
        let mut frontier: Vec<(i32, i32)> = first.into_iter().map(|c| (c, me)).collect();
        while let Some((pid, parent)) = frontier.pop() {
            if matches!(stat(pid), Some((_, 'Z' | 'X')) | None) {
                continue;
            }
            out.push((pid, parent));
            frontier.extend(
                children(pid)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| (c, pid)),
            );
        }
        out
    }

    /// The children of `pid`, from its threads' `children` files; `None` when the kernel
    /// does not have them.
    fn children(pid: i32) -> Option<Vec<i32>> {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let mut out = Vec::new();
        let mut any = false;
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                any = true;
                out.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<i32>().ok()),
                );
            }
        }
        any.then_some(out)
    }

    /// [`descendants`] from a scan of every process's parent.
    fn descendants_by_scan(me: i32) -> Vec<(i32, i32)> {
        let mut parent: HashMap<i32, i32> = HashMap::new();
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            if let Some((ppid, state)) = stat(pid)
                && state != 'Z'
                && state != 'X'
            {
                parent.insert(pid, ppid);
            }
        }
        let mut out = Vec::new();
        let mut frontier = vec![me];
        while let Some(p) = frontier.pop() {
            for (&child, &pp) in &parent {
                if pp == p {
                    out.push((child, pp));
                    frontier.push(child);
                }
            }
        }
        out
    }

    /// The parent and state of `pid`, from `/proc/<pid>/stat`.
    fn stat(pid: i32) -> Option<(i32, char)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let rest = &text[text.rfind(')')? + 1..];
        let mut f = rest.split_whitespace();
        let state = f.next()?.chars().next()?;
        let ppid = f.next()?.parse().ok()?;
        Some((ppid, state))
    }

    /// Whether `pid`'s environment has a mark starting with `prefix`.
    fn has_mark(pid: i32, prefix: &str) -> bool {
        let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else {
            return false;
        };
        let want = format!("{}={prefix}", super::MARK);
        env.split(|&b| b == 0)
            .any(|v| v.starts_with(want.as_bytes()))
    }

    /// Every live descendant of this process.
    pub fn all() -> Vec<i32> {
        descendants().into_iter().map(|(pid, _)| pid).collect()
    }

    /// Whether `pid` is (still) a descendant of this process.
    fn below_me(pid: i32) -> bool {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let mut at = pid;
        for _ in 0..64 {
            match stat(at) {
                Some((parent, _)) if parent == me => return true,
                Some((parent, _)) if parent > 1 => at = parent,
                _ => return false,
            }
        }
        false
    }

    /// The descendants of this process that carry a mark starting with `prefix`.
    pub fn marked(prefix: &str) -> Vec<i32> {
        descendants()
            .into_iter()
            .map(|(pid, _)| pid)
            .filter(|&pid| has_mark(pid, prefix))
            .collect()
    }

    /// Sends `sig` to `pid` if, once it is pinned by a pidfd, it still carries the mark
    /// (`Some(prefix)`) or is still a descendant of this process (`None`): a process that took
    /// a dead one's number is never signalled.
    pub fn signal(pid: i32, mark: Option<&str>, sig: Signal) {
        let Some(p) = Pid::from_raw(pid) else { return };
        let Ok(fd) = pidfd_open(p, PidfdFlags::empty()) else {
            return;
        };
        let ours = match mark {
            Some(prefix) => has_mark(pid, prefix),
            None => below_me(pid),
        };
        if ours {
            let _ = pidfd_send_signal(&fd, sig);
        }
    }

    thread_local! {
        static TO_REAP: std::cell::RefCell<Vec<i32>> = const { std::cell::RefCell::new(Vec::new()) };
    }

    /// Notes `pid`, signalled, to be reaped once it has exited (see [`reap`]).
    pub fn reap_later(pid: i32) {
        TO_REAP.with(|r| r.borrow_mut().push(pid));
        reap();
    }

    /// Reaps the signalled processes that were re-parented to this one and have exited. Only
    /// those: a child this process waits for elsewhere (an agent, a git command) is never
    /// taken from its waiter.
    pub fn reap() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        TO_REAP.with(|r| {
            r.borrow_mut().retain(|&pid| match stat(pid) {
                Some((ppid, 'Z')) if ppid == me => {
                    if let Some(p) = Pid::from_raw(pid) {
                        let _ = rustix::process::waitpid(Some(p), WaitOptions::NOHANG);
                    }
                    false
                }
                Some(_) => true,
                None => false,
            })
        });
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

    pub fn adopt(child: &Child, mark: &str) -> io::Result<Tree> {
        let _ = mark;
        Ok(Tree {
            pgid: child.id() as i32,
            #[cfg(target_os = "linux")]
            mark: mark.to_string(),
            #[cfg(target_os = "linux")]
            signalled: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The processes of the tree that left its process group (Linux).
    #[cfg(target_os = "linux")]
    fn strays(t: &Tree) -> Vec<i32> {
        super::linux::marked(&t.mark)
            .into_iter()
            .filter(|&pid| pid != t.pgid)
            .collect()
    }

    fn signal_strays(t: &Tree, sig: Signal) {
        #[cfg(target_os = "linux")]
        for pid in strays(t) {
            super::linux::signal(pid, Some(&t.mark), sig);
            if let Ok(mut v) = t.signalled.lock()
                && !v.contains(&pid)
            {
                v.push(pid);
                super::linux::reap_later(pid);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (t, sig);
    }

    fn group(t: &Tree) -> Option<Pid> {
        Pid::from_raw(t.pgid)
    }

    pub fn polite(t: &Tree) {
        if let Some(p) = group(t) {
            let _ = kill_process_group(p, Signal::TERM);
        }
        signal_strays(t, Signal::TERM);
    }

    pub fn kill(t: &Tree) {
        if let Some(p) = group(t) {
            let _ = kill_process_group(p, Signal::KILL);
        }
        signal_strays(t, Signal::KILL);
    }

    pub fn alive(t: &Tree) -> bool {
        if group(t).is_some_and(|p| test_kill_process_group(p).is_ok()) {
            return true;
        }
        // The group is gone; what left it may not be.
        #[cfg(target_os = "linux")]
        {
            super::linux::reap();
            if !strays(t).is_empty() {
                return true;
            }
        }
        false
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
    use windows_sys::Win32::System::Diagnostics::ToolHelp::{
        CreateToolhelp32Snapshot, TH32CS_SNAPTHREAD, THREADENTRY32, Thread32First, Thread32Next,
    };
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_BASIC_ACCOUNTING_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
        JobObjectBasicAccountingInformation, JobObjectExtendedLimitInformation,
        QueryInformationJobObject, SetInformationJobObject, TerminateJobObject,
    };
    use windows_sys::Win32::System::Threading::{
        CREATE_NEW_PROCESS_GROUP, CREATE_SUSPENDED, OpenThread, ResumeThread, THREAD_SUSPEND_RESUME,
    };

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
        // A console process group of its own, so CTRL_BREAK reaches the agent and not brain;
        // suspended until it is in its job (`adopt`), or a process it starts at once could
        // escape the job (and outlive a timeout or a killed brain).
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_SUSPENDED);
    }

    /// Lets the suspended process `pid` start: resumes its threads (a process created
    /// suspended has one).
    fn resume(pid: u32) -> io::Result<()> {
        // SAFETY: plain Win32 calls; the snapshot and thread handles are closed once; the
        // entry is zeroed and sized.
        unsafe {
            let snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
            if snap.is_null() || snap == windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE {
                return Err(io::Error::last_os_error());
            }
            let mut entry: THREADENTRY32 = std::mem::zeroed();
            entry.dwSize = std::mem::size_of::<THREADENTRY32>() as u32;
            let mut resumed = 0;
            let mut more = Thread32First(snap, &mut entry) != 0;
            while more {
                if entry.th32OwnerProcessID == pid {
                    let thread = OpenThread(THREAD_SUSPEND_RESUME, 0, entry.th32ThreadID);
                    if !thread.is_null() {
                        if ResumeThread(thread) != u32::MAX {
                            resumed += 1;
                        }
                        CloseHandle(thread);
                    }
                }
                more = Thread32Next(snap, &mut entry) != 0;
            }
            CloseHandle(snap);
            if resumed == 0 {
                return Err(io::Error::other(format!(
                    "the agent (process {pid}) was started suspended and could not be resumed"
                )));
            }
            Ok(())
        }
    }

    pub fn adopt(child: &Child, _mark: &str) -> io::Result<Tree> {
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
            // In the job before its first instruction: every process it starts belongs to
            // the job too.
            if AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) == 0 {
                return Err(io::Error::last_os_error());
            }
            resume(child.id())?;
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
