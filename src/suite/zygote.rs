//! A suite's zygote: one process that does the stack's process-wide start-up once (DPDK's EAL,
//! ~0.2 s, see [`crate::sut::prepare_process`]) and then forks every run of the suite from
//! that state, so no run pays it again. The runner starts it with its own command line, asks it
//! for runs over a socket (the same command line a child process would get, its directory,
//! environment and output files) and watches each forked run as it watches a child process
//! (pidfd, process group, timeout); the zygote reaps the runs and reports how each ended.
//!
//! In a forked run, `main` goes on as in a freshly started `stackdrill` with the run's
//! arguments: the suite child's sandbox (PID namespace, parent-death signal), then the script.
//! Only the zygote's own thread exists in the run (fork copies one thread); EAL's interrupt
//! thread stays behind, which stackdrill's DPDK ports do not use (they poll, and net_tap's rx
//! signal is a process signal).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::child::{self, ChildCommand, ChildExit, OutputFiles, Spawner};
use super::sandbox::CHILD_ENV;

/// Environment variable that makes `stackdrill` a zygote (its value is the runner's PID).
pub const ZYGOTE_ENV: &str = "STACKDRILL_ZYGOTE";

/// The largest message on the socket.
const MAX_MESSAGE: usize = 1 << 20;
/// How long the zygote may take to fork a run before the run counts as not started.
const FORK_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the zygote looks for ended runs even without a SIGCHLD, in ms.
const REAP_EVERY_MS: i32 = 100;
/// How long after a run's process ended its report may take.
const REPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// One run the runner asks for.
#[derive(Debug, Serialize, Deserialize)]
struct Request {
    id: u64,
    args: Vec<String>,
    directory: PathBuf,
    env: Vec<(String, String)>,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// What the zygote tells the runner.
#[derive(Debug, Serialize, Deserialize)]
enum Report {
    /// Run `id` is process `pid` (the leader of its own process group).
    Started { id: u64, pid: i32 },
    /// Run `id` could not be forked.
    NotStarted { id: u64, why: String },
    /// Process `pid` ended with wait status `status`, having used `cpu_usecs` of CPU time.
    Exited {
        pid: i32,
        status: i32,
        cpu_usecs: u64,
    },
}

// ---- The zygote's side ----------------------------------------------------------------------

/// In a zygote (the runner's marker in the environment): prepares the stack's process-wide
/// state, then serves the runner's requests until it goes away, and never returns — except in
/// each forked run, where it returns the run's command line, with the run's directory,
/// environment and output already in place. Elsewhere it returns None at once. Called first
/// thing in `main`, while the process has one thread.
pub fn serve_if_zygote() -> Option<Vec<OsString>> {
    let runner: libc::pid_t = std::env::var(ZYGOTE_ENV).ok()?.parse().unwrap_or(0);
    std::env::remove_var(ZYGOTE_ENV);
    // SAFETY: prctl/getppid have no memory-safety preconditions.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != runner {
            libc::_exit(1);
        }
    }
    // The runner's socket is our standard input; runs get /dev/null there.
    let socket = match take_stdin() {
        Ok(socket) => socket,
        Err(_) => exit_now(1),
    };
    // Before the start-up starts threads (DPDK's interrupt thread), which inherit the mask: a
    // thread that let SIGCHLD through would take it, and the zygote would not see runs end.
    let children = match ChildSignal::block() {
        Ok(children) => children,
        Err(_) => exit_now(1),
    };
    prepare(std::env::args_os().collect());
    match serve(&socket, children) {
        Ok(Some(run)) => Some(run),
        Ok(None) => exit_now(0),
        Err(_) => exit_now(1),
    }
}

/// The stack's process-wide start-up, from the suite's command line. A failure is not the
/// zygote's to report: each run meets it again and says why.
fn prepare(args: Vec<OsString>) {
    let Ok(command_line) = crate::cli::parse_command_line(args) else {
        return;
    };
    let mut config = crate::cli::Config::default();
    if config.apply_all(&command_line.settings).is_ok() {
        let _ = crate::sut::prepare_process(&config);
    }
}

/// Moves standard input (the socket) to a descriptor of its own, and opens /dev/null there.
fn take_stdin() -> io::Result<OwnedFd> {
    let socket = nix::unistd::dup(std::io::stdin())?;
    let null = File::open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    set_cloexec(socket.as_raw_fd());
    Ok(socket)
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// Ends this process at once, without running destructors shared with forked runs.
fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions.
    unsafe { libc::_exit(code) }
}

/// The zygote's loop: forks a run per request and reports each end. Returns Ok(None) when the
/// runner closed the socket, and Some(args) in a forked run.
fn serve(socket: &OwnedFd, children: ChildSignal) -> io::Result<Option<Vec<OsString>>> {
    let mut buffer = vec![0u8; MAX_MESSAGE];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: socket.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: children.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds. The timeout only guards against a lost SIGCHLD.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, REAP_EVERY_MS) };
        if ready < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io::Error::last_os_error());
        }
        children.drain();
        report_ended_children(socket)?;
        if fds[0].revents == 0 {
            continue;
        }
        let n = nix::unistd::read(socket, &mut buffer)?;
        if n == 0 {
            return Ok(None);
        }
        let Ok(request) = serde_json::from_slice::<Request>(&buffer[..n]) else {
            continue;
        };
        // SAFETY: the zygote's other threads (DPDK's interrupt thread) hold no lock the run
        // needs: it waits in epoll, and glibc's fork re-initialises malloc's locks. The run
        // goes on single-threaded, as after a fresh exec, with a copy of the prepared state.
        match unsafe { libc::fork() } {
            -1 => send(
                socket,
                &Report::NotStarted {
                    id: request.id,
                    why: format!("fork: {}", io::Error::last_os_error()),
                },
            )?,
            0 => {
                // The socket closes as serve_if_zygote returns: the run must not hold the
                // runner's end open.
                drop(children);
                return Ok(Some(become_run(request)));
            }
            pid => send(
                socket,
                &Report::Started {
                    id: request.id,
                    pid,
                },
            )?,
        }
    }
}

/// Reports every child that has ended, reaping it.
fn report_ended_children(socket: &OwnedFd) -> io::Result<()> {
    loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it and status.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid out-pointers.
        let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, &mut usage) };
        if pid <= 0 {
            return Ok(());
        }
        let usecs = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        send(
            socket,
            &Report::Exited {
                pid,
                status,
                cpu_usecs: usecs(usage.ru_utime) + usecs(usage.ru_stime),
            },
        )?;
    }
}

/// In the forked run: its own process group, death with the zygote, the default signal mask,
/// its output files, directory and environment (the suite child's marker naming the zygote,
/// its parent). Returns its command line.
fn become_run(request: Request) -> Vec<OsString> {
    // SAFETY: plain system calls on our own process.
    unsafe {
        libc::setpgid(0, 0);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
    }
    ChildSignal::unblock();
    if let Err(e) = crate::sut::own_process_state() {
        eprintln!("stackdrill: error: {e}");
        exit_now(1);
    }
    let output = |path: &Path| File::options().write(true).truncate(true).open(path);
    match (output(&request.stdout), output(&request.stderr)) {
        (Ok(out), Ok(err)) => {
            let _ = nix::unistd::dup2_stdout(&out);
            let _ = nix::unistd::dup2_stderr(&err);
        }
        _ => exit_now(1),
    }
    if std::env::set_current_dir(&request.directory).is_err() {
        eprintln!(
            "stackdrill: error: cannot enter {}",
            request.directory.display()
        );
        exit_now(1);
    }
    for (key, value) in &request.env {
        std::env::set_var(key, value);
    }
    // SAFETY: getppid has no preconditions.
    std::env::set_var(CHILD_ENV, unsafe { libc::getppid() }.to_string());
    request.args.into_iter().map(OsString::from).collect()
}

/// SIGCHLD, blocked and read from a signalfd, so the zygote's loop sees ended runs.
struct ChildSignal {
    fd: OwnedFd,
}

impl ChildSignal {
    fn block() -> io::Result<ChildSignal> {
        let set = Self::set();
        // SAFETY: set is a valid signal set; changing our own mask.
        unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        // SAFETY: set is valid; -1 asks for a new descriptor.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is new and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(ChildSignal { fd })
    }

    /// Restores the default mask (a run's commands must get their SIGCHLD).
    fn unblock() {
        let set = Self::set();
        // SAFETY: set is a valid signal set; changing our own mask.
        unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }

    fn set() -> libc::sigset_t {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: set is a valid sigset_t.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
        }
        set
    }

    /// Empties the signalfd (the reaping loop finds every ended child anyway).
    fn drain(&self) {
        let mut info = [0u8; 128];
        while nix::unistd::read(&self.fd, &mut info).is_ok_and(|n| n > 0) {}
    }
}

fn send(socket: &OwnedFd, message: &impl Serialize) -> io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(io::Error::other)?;
    nix::unistd::write(socket, &bytes)?;
    Ok(())
}

// ---- The runner's side ----------------------------------------------------------------------

/// A forked run's pid, or why it could not be forked.
type ForkResult = Result<i32, String>;
/// How a run's process ended: its wait status and CPU time.
type RunEnd = (i32, Duration);

/// The runner's handle on its zygote. Runs may be asked for from several threads at once.
pub struct Zygote {
    socket: Arc<OwnedFd>,
    next_id: Mutex<u64>,
    /// Per request id: where its Started/NotStarted report goes.
    starting: Arc<Mutex<HashMap<u64, Sender<ForkResult>>>>,
    /// Ended runs by pid: (wait status, CPU time), until their runner takes them.
    ended: Arc<(Mutex<HashMap<i32, RunEnd>>, Condvar)>,
    process: std::process::Child,
}

impl Zygote {
    /// Starts `program` as a zygote with this process's own arguments, and waits for nothing:
    /// requests queue on the socket while it prepares.
    pub fn start(program: &Path) -> io::Result<Zygote> {
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )?;
        let mut command = Command::new(program);
        command
            .args(std::env::args_os().skip(1))
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env(ZYGOTE_ENV, std::process::id().to_string());
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let process = command.spawn()?;
        let zygote = Zygote {
            socket: Arc::new(ours),
            next_id: Mutex::new(0),
            starting: Arc::default(),
            ended: Arc::default(),
            process,
        };
        zygote.listen()?;
        Ok(zygote)
    }

    /// The thread that reads the zygote's reports and hands them to the runs waiting for them.
    fn listen(&self) -> io::Result<()> {
        let socket = Arc::clone(&self.socket);
        let starting = Arc::clone(&self.starting);
        let ended = Arc::clone(&self.ended);
        std::thread::Builder::new()
            .name("zygote-reports".into())
            .spawn(move || {
                let mut buffer = vec![0u8; MAX_MESSAGE];
                while let Ok(n @ 1..) = nix::unistd::read(&*socket, &mut buffer) {
                    let Ok(report) = serde_json::from_slice::<Report>(&buffer[..n]) else {
                        continue;
                    };
                    let (id, started) = match report {
                        Report::Started { id, pid } => (id, Ok(pid)),
                        Report::NotStarted { id, why } => (id, Err(why)),
                        Report::Exited {
                            pid,
                            status,
                            cpu_usecs,
                        } => {
                            let (lock, changed) = &*ended;
                            lock.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .insert(pid, (status, Duration::from_micros(cpu_usecs)));
                            changed.notify_all();
                            continue;
                        }
                    };
                    let waiting = starting
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .remove(&id);
                    if let Some(waiting) = waiting {
                        let _ = waiting.send(started);
                    }
                }
                // The zygote is gone: wake every waiter (they time out and say so).
                ended.1.notify_all();
                starting
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
            })?;
        Ok(())
    }

    /// Asks for the run; its pid.
    fn fork(&self, command: &ChildCommand, output: &OutputFiles) -> Result<i32, String> {
        let id = {
            let mut next = self
                .next_id
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *next += 1;
            *next
        };
        let (answer, answered): (Sender<_>, Receiver<_>) = mpsc::channel();
        self.starting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, answer);
        let request = Request {
            id,
            args: std::iter::once(command.program.display().to_string())
                .chain(command.args.iter().cloned())
                .collect(),
            directory: command.directory.clone(),
            env: command.env.clone(),
            stdout: output.stdout.0.clone(),
            stderr: output.stderr.0.clone(),
        };
        send(&self.socket, &request).map_err(|e| format!("cannot ask the zygote: {e}"))?;
        match answered.recv_timeout(FORK_TIMEOUT) {
            Ok(result) => result,
            Err(_) => Err("the zygote did not start the run".into()),
        }
    }

    /// Waits for the report of `pid`'s end.
    fn ended(&self, pid: i32) -> Option<RunEnd> {
        let (lock, changed) = &*self.ended;
        let deadline = Instant::now() + REPORT_TIMEOUT;
        let mut ended = lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(found) = ended.remove(&pid) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            ended = changed
                .wait_timeout(ended, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

/// Runs are forks of the zygote (`command`'s program is this stackdrill).
impl Spawner for Zygote {
    fn start(&self, command: &ChildCommand, output: OutputFiles) -> Result<libc::pid_t, String> {
        self.fork(command, &output)
    }

    fn reap(&self, pid: libc::pid_t) -> (ChildExit, Duration) {
        match self.ended(pid) {
            Some((status, cpu)) => (child::exit_of(status), cpu),
            None => (
                ChildExit::NotStarted("the zygote did not report the run's end".into()),
                Duration::ZERO,
            ),
        }
    }
}

impl Drop for Zygote {
    /// Closing our end ends the zygote's loop; it is then reaped.
    fn drop(&mut self) {
        // SAFETY: shutdown on our own socket; the reports thread sees the end and exits.
        unsafe { libc::shutdown(self.socket.as_raw_fd(), libc::SHUT_RDWR) };
        let _ = self.process.wait();
    }
}
