//! The child side of a suite run: makes sure nothing a run starts can outlive it. Called first
//! thing in `main` (while the process has one thread) when the runner's marker is in the
//! environment. The child asks for SIGKILL when the runner dies, then, when it may (root, or
//! root in its user namespace), forks into a private PID namespace with its own /proc. The
//! forked process is that namespace's init: it forks once more the process that runs the
//! script, reaps whatever the script's commands orphan, and ends with the script's status. When
//! init ends — normally, by the runner's SIGKILL, or because the runner died — the kernel kills
//! every process left in the namespace; the run's network namespace goes with them.
//!
//! The script's process gets the outer process's PID inside the namespace too: scripts name
//! shared files after PACKETDRILL_PID (Google's /tmp/sysctl_restore_PID.sh), and parallel runs
//! that were all PID 2 would overwrite and execute each other's files.

use std::ffi::CString;

/// Environment variable the runner sets in each child: the runner's PID.
pub const CHILD_ENV: &str = "STACKDRILL_SUITE_CHILD";

/// Enters the sandbox if this process is a suite child. Returns only in the process that
/// should run the script; the outer process waits for it and exits with its status.
pub fn enter_if_suite_child() {
    let Ok(runner) = std::env::var(CHILD_ENV) else {
        return;
    };
    // Not inherited further: a script's own stackdrill invocations are not suite children.
    std::env::remove_var(CHILD_ENV);
    let runner: libc::pid_t = runner.parse().unwrap_or(0);
    // SAFETY: prctl/getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != runner {
            // The runner died before we armed the signal.
            libc::_exit(1);
        }
    }
    // SAFETY: unshare only changes this process's namespace for children it creates.
    if unsafe { libc::unshare(libc::CLONE_NEWPID) } != 0 {
        return; // not permitted: run without the PID namespace (process group kill only)
    }
    let outer = std::process::id() as libc::pid_t;
    // SAFETY: single-threaded here (called first in main), so fork is sound.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {}
        0 => {
            become_namespace_init(outer);
            // The next PID this namespace hands out is the outer PID (unique among live
            // processes, like upstream's); without the privilege it is simply the next one.
            let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", (outer - 1).to_string());
            // SAFETY: still single-threaded.
            match unsafe { libc::fork() } {
                -1 => fail_setup("cannot start the run inside the PID namespace"),
                0 => {
                    // SAFETY: as above; the run dies with init.
                    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
                }
                run => reap_until(run),
            }
        }
        child => wait_and_exit_like(child),
    }
}

/// As the namespace's init: reap every child (orphans are re-parented to us) until `run` ends,
/// then end with its status (a signal N as exit status 128+N: init cannot raise on itself).
fn reap_until(run: libc::pid_t) -> ! {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let reaped = unsafe { libc::waitpid(-1, &mut status, 0) };
        if reaped == run {
            let code = if libc::WIFSIGNALED(status) {
                128 + libc::WTERMSIG(status)
            } else {
                libc::WEXITSTATUS(status)
            };
            // SAFETY: ending init ends the namespace.
            unsafe { libc::_exit(code) };
        }
        if reaped < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: no children left at all.
            unsafe { libc::_exit(1) };
        }
    }
}

/// In the forked child (PID 1 of the new namespace): die with the outer process, and mount a
/// /proc that shows this namespace, so PIDs (PACKETDRILL_PID, /proc/PID/...) agree.
fn become_namespace_init(outer: libc::pid_t) {
    // SAFETY: plain system calls on our own process; strings outlive the calls.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != outer && libc::getppid() != 0 {
            libc::_exit(1);
        }
        if libc::unshare(libc::CLONE_NEWNS) != 0 {
            fail_setup("cannot create a private mount namespace");
        }
        let root = CString::new("/").unwrap();
        let proc_path = CString::new("/proc").unwrap();
        let proc_type = CString::new("proc").unwrap();
        if libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail_setup("cannot make the mount namespace private");
        }
        if libc::mount(
            proc_type.as_ptr(),
            proc_path.as_ptr(),
            proc_type.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            fail_setup("cannot mount /proc for the private PID namespace");
        }
    }
}

fn fail_setup(what: &str) -> ! {
    let error = std::io::Error::last_os_error();
    eprintln!("stackdrill: error: {what}: {error}");
    // SAFETY: ends this process without running destructors shared with the parent.
    unsafe { libc::_exit(1) }
}

/// In the outer process: wait for the namespace's init and end as it ended.
fn wait_and_exit_like(child: libc::pid_t) -> ! {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid out-pointer; child is ours.
        let reaped = unsafe { libc::waitpid(child, &mut status, 0) };
        if reaped == child {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: ending the process.
            unsafe { libc::_exit(1) };
        }
    }
    // stackdrill itself exits 0 or 1; init reports the run's death by signal N as 128+N.
    let signal = if libc::WIFSIGNALED(status) {
        Some(libc::WTERMSIG(status))
    } else {
        Some(libc::WEXITSTATUS(status) - 128).filter(|n| (1..=64).contains(n))
    };
    if let Some(signal) = signal {
        // SAFETY: restore the default action and re-raise, so the runner sees the same signal.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
            libc::_exit(128 + signal);
        }
    }
    // SAFETY: ending the process with the child's code.
    unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
}
