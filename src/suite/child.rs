//! One run as a child process, seen from the suite runner: started in its own process group
//! with its output in files (never pipes, so a chatty script never blocks on a full pipe and
//! loses time), watched through a pidfd until it exits, times out or the suite is interrupted,
//! then reaped with its CPU time. The child side (namespaces, parent-death signal) is
//! `sandbox.rs`.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::CHILD_ENV;

/// How often a waiting runner looks at the interrupt flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(100);

/// How the child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Interrupted,
    NotStarted(String),
}

/// What the runner keeps of one child.
#[derive(Debug, Clone)]
pub struct ChildOutcome {
    pub exit: ChildExit,
    pub wall: Duration,
    /// User + system time of the child and the processes it waited for.
    pub cpu: Duration,
    pub stdout: String,
    pub stderr: String,
}

/// A command to run as a child.
#[derive(Debug, Clone)]
pub struct ChildCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub directory: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl ChildCommand {
    /// A shell line that reproduces this run by hand.
    pub fn shell_line(&self) -> String {
        let quote = shell_quote;
        let mut line = format!("cd {} && ", quote(&self.directory.display().to_string()));
        for (key, value) in &self.env {
            line.push_str(&format!("{key}={} ", quote(value)));
        }
        line.push_str(&quote(&self.program.display().to_string()));
        for arg in &self.args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        line
    }
}

/// `text` as one word of a shell line: as it is when nothing in it is special, else in single
/// quotes.
pub fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=.,/:+@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// How a run's process comes to be, and how its end is learnt: a new process
/// ([`NewProcess`]), or a fork of the suite's zygote.
pub trait Spawner: Sync {
    /// Starts `command` with its standard output and error in these files (created empty);
    /// returns its pid, the leader of its own process group.
    fn start(&self, command: &ChildCommand, output: OutputFiles) -> Result<libc::pid_t, String>;
    /// Once `pid` has exited (or been killed): how it ended and its CPU time.
    fn reap(&self, pid: libc::pid_t) -> (ChildExit, Duration);
}

/// A run's output files: paths, and the files open for writing.
pub struct OutputFiles {
    pub stdout: (PathBuf, File),
    pub stderr: (PathBuf, File),
}

/// Runs are `stackdrill` processes of their own.
pub struct NewProcess;

impl Spawner for NewProcess {
    fn start(&self, command: &ChildCommand, output: OutputFiles) -> Result<libc::pid_t, String> {
        let mut process = Command::new(&command.program);
        process
            .args(&command.args)
            .current_dir(&command.directory)
            .stdin(Stdio::null())
            .stdout(output.stdout.1)
            .stderr(output.stderr.1)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .env(CHILD_ENV, std::process::id().to_string())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            process.pre_exec(|| {
                // If the runner dies (even by SIGKILL), so does the child.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match process.spawn() {
            Ok(child) => Ok(child.id() as libc::pid_t),
            Err(e) => Err(format!("cannot start {}: {e}", command.program.display())),
        }
    }

    fn reap(&self, pid: libc::pid_t) -> (ChildExit, Duration) {
        reap(pid)
    }
}

/// Runs `command` to completion, or until `timeout` or `interrupted`, as `spawner` starts it;
/// `scratch` is a private file-name prefix for the run's output.
pub fn run_child(
    command: &ChildCommand,
    spawner: &dyn Spawner,
    timeout: Duration,
    interrupted: &dyn Fn() -> bool,
    scratch: &Path,
) -> ChildOutcome {
    let started = Instant::now();
    let not_started = |why: String| ChildOutcome {
        exit: ChildExit::NotStarted(why),
        wall: started.elapsed(),
        cpu: Duration::ZERO,
        stdout: String::new(),
        stderr: String::new(),
    };
    let (stdout_path, stderr_path) = (scratch.with_extension("out"), scratch.with_extension("err"));
    let output = match (File::create(&stdout_path), File::create(&stderr_path)) {
        (Ok(out), Ok(err)) => OutputFiles {
            stdout: (stdout_path.clone(), out),
            stderr: (stderr_path.clone(), err),
        },
        (Err(e), _) | (_, Err(e)) => {
            return not_started(format!("cannot create output files: {e}"))
        }
    };
    let pid = match spawner.start(command, output) {
        Ok(pid) => pid,
        Err(why) => {
            read_output(&stdout_path);
            read_output(&stderr_path);
            return not_started(why);
        }
    };
    let mut exit = wait_for_exit(pid, started + timeout, interrupted);
    if exit.is_some() {
        kill_group(pid);
    }
    let (status, cpu) = spawner.reap(pid);
    // Whatever the leader left in its group (it normally leaves nothing: see sandbox.rs).
    kill_group(pid);
    let exit = exit.take().unwrap_or(status);
    ChildOutcome {
        exit,
        wall: started.elapsed(),
        cpu,
        stdout: read_output(&stdout_path),
        stderr: read_output(&stderr_path),
    }
}

/// What a run wrote to `path`, which is removed.
fn read_output(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Waits until process `pid` exits (None), or returns why it must be stopped.
fn wait_for_exit(
    pid: libc::pid_t,
    deadline: Instant,
    interrupted: &dyn Fn() -> bool,
) -> Option<ChildExit> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if raw < 0 && io_errno() == Some(libc::ESRCH) {
        // Gone already (a zygote's run can be reaped before we look).
        return None;
    }
    let pidfd = (raw >= 0).then(|| {
        // SAFETY: raw is a descriptor we just opened and own.
        unsafe { OwnedFd::from_raw_fd(raw) }
    });
    loop {
        if interrupted() {
            return Some(ChildExit::Interrupted);
        }
        let now = Instant::now();
        if now >= deadline {
            return Some(ChildExit::TimedOut);
        }
        let slice = (deadline - now).min(INTERRUPT_POLL);
        match &pidfd {
            Some(fd) => {
                let mut poll = libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                let ready = unsafe { libc::poll(&mut poll, 1, slice.as_millis() as i32 + 1) };
                if ready > 0 {
                    return None;
                }
            }
            None => {
                // No pidfd (old kernel): look without reaping.
                // SAFETY: siginfo_t is plain data, for which all zeroes is a valid value.
                let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
                // SAFETY: waitid with WNOWAIT only reports; info is a valid out-pointer.
                let found = unsafe {
                    libc::waitid(
                        libc::P_PID,
                        pid as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
                    )
                };
                // SAFETY: si_pid is valid to read after waitid filled the struct.
                if found == 0 && unsafe { info.si_pid() } == pid {
                    return None;
                }
                std::thread::sleep(slice.min(Duration::from_millis(10)));
            }
        }
    }
}

fn io_errno() -> Option<i32> {
    std::io::Error::last_os_error().raw_os_error()
}

/// Kills process group `pid` (a run and whatever it started).
fn kill_group(pid: libc::pid_t) {
    // SAFETY: signalling our own child's process group.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
}

/// Reaps the child: its exit and CPU time.
fn reap(pid: libc::pid_t) -> (ChildExit, Duration) {
    let mut status = 0;
    // SAFETY: rusage is a plain C struct; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid out-pointers; pid is our child.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return (
                ChildExit::NotStarted("lost track of the child".into()),
                Duration::ZERO,
            );
        }
    }
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    (exit_of(status), cpu)
}

/// How a process ended, from its wait status.
pub(super) fn exit_of(status: i32) -> ChildExit {
    if libc::WIFSIGNALED(status) {
        ChildExit::Signal(libc::WTERMSIG(status))
    } else {
        ChildExit::Code(libc::WEXITSTATUS(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(line: &str) -> ChildCommand {
        ChildCommand {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), line.into()],
            directory: std::env::temp_dir(),
            env: Vec::new(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("stackdrill-child-{}-{name}", std::process::id()))
    }

    #[test]
    fn exit_codes_signals_and_output() {
        let never = || false;
        let outcome = run_child(
            &shell("echo out; echo err >&2; exit 3"),
            &NewProcess,
            Duration::from_secs(10),
            &never,
            &scratch("codes"),
        );
        assert_eq!(outcome.exit, ChildExit::Code(3));
        assert_eq!(
            (outcome.stdout.as_str(), outcome.stderr.as_str()),
            ("out\n", "err\n")
        );
        let outcome = run_child(
            &shell("kill -SEGV $$"),
            &NewProcess,
            Duration::from_secs(10),
            &never,
            &scratch("sig"),
        );
        assert_eq!(outcome.exit, ChildExit::Signal(libc::SIGSEGV));
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let never = || false;
        let marker = scratch("grandchild");
        let line = format!("(sleep 1; touch {}) & sleep 30", marker.display());
        let started = Instant::now();
        let outcome = run_child(
            &shell(&line),
            &NewProcess,
            Duration::from_millis(300),
            &never,
            &scratch("timeout"),
        );
        assert_eq!(outcome.exit, ChildExit::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(1200));
        assert!(!marker.exists(), "a grandchild outlived the timeout");
    }

    #[test]
    fn shell_line_quotes_what_needs_it() {
        let command = ChildCommand {
            program: PathBuf::from("/usr/bin/stackdrill"),
            args: vec!["--define=A=b c".into(), "x.pkt".into()],
            directory: PathBuf::from("/t/it's"),
            env: Vec::new(),
        };
        assert_eq!(
            command.shell_line(),
            r"cd '/t/it'\''s' && /usr/bin/stackdrill '--define=A=b c' x.pkt"
        );
    }
}
