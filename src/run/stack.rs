//! The stack thread: owns the `Target` and runs the script's system calls one after another,
//! so a blocking call never stops the main thread from injecting the packets it waits for.
//!
//! This file holds the request protocol and the kernel's stack thread, which runs each call in
//! place. A userspace stack's stack thread (polling, its clock, a call worker) is in
//! `sut/so/driver.rs`; both answer the same requests through the same [`StackThread`] handle.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::script::ast;
use crate::sut::kernel::target::KernelTarget;
use crate::sut::target::Target;

use super::syscall::{execute, FdTable, SyscallEnv, SyscallError, SyscallOutcome};
use crate::sut::clock::realtime_usecs;

/// A value the stack thread sends back on a request's own channel.
pub type Answer<T> = SyncSender<Result<T, String>>;

/// The script's open fds as (script fd, live fd), published by the thread that owns them after
/// every call, for the HTTP server's `/tcpinfo?fd=N`.
pub type FdMap = Arc<Mutex<Vec<(i64, i32)>>>;

/// Work for the stack thread.
pub enum StackRequest {
    /// The run's parameters; sent once, before any call.
    Begin(Box<SyscallEnv>),
    /// A script call. `blocking`: the script marks it `...`, so it may sleep in the target.
    Syscall {
        call: Box<ast::Syscall>,
        blocking: bool,
    },
    /// Close every fd the script still has open (end of run).
    CloseAll,
    /// Only for a stack that is also the network and the clock (a userspace stack).
    Polled(PolledRequest),
    /// The run is over: the thread ends (a userspace stack frees its state first).
    End,
}

/// Packets and time, answered by a userspace stack's thread.
pub enum PolledRequest {
    /// Inject one IP packet.
    Send(Vec<u8>, Answer<()>),
    /// The next packet the stack sent and its time, waiting (on the stack's clock) at most
    /// until the deadline; None at the deadline.
    Receive(Option<i64>, Answer<Option<(Vec<u8>, i64)>>),
    /// The stack's clock now.
    Now(Answer<i64>),
    /// Let time pass until the deadline (on the stack's clock).
    WaitUntil(i64, Answer<()>),
    /// The `%{ }%` snapshot of one live fd, taken through the stack's getsockopt.
    CodeSnapshot(i32, Answer<Vec<(String, i64)>>),
    /// The stack's socket table (`stackdrill_sockets`).
    Sockets(Answer<Vec<crate::introspect::SocketRecord>>),
    /// Stop polling the stack for this many ms of its time; answered when the hang begins.
    PollingHang(u64, Answer<()>),
}

/// What the stack thread answers to calls, in request order.
pub enum StackReply {
    Syscall {
        result: Result<SyscallOutcome, SyscallError>,
        /// When the call returned (µs on the run's clock).
        returned_usecs: i64,
    },
    /// The live fds that were closed.
    ClosedAll(Vec<i32>),
}

/// The main thread's handle on the stack thread.
pub struct StackThread {
    pub(crate) requests: Sender<StackRequest>,
    pub(crate) replies: Receiver<StackReply>,
    /// Linux thread id of the thread that makes target calls, to read its scheduler state.
    pub(crate) tid: Arc<AtomicI32>,
    /// Set while a call into the target is in progress.
    pub(crate) in_call: Arc<AtomicBool>,
    /// Whether this is a userspace stack's thread (code snapshots go through it).
    pub(crate) polled: bool,
    /// The script's open fds, as the thread that runs the calls last saw them.
    pub(crate) fd_map: FdMap,
    /// Signalled when the thread has ended; waited for (briefly) on drop, so the stack's own
    /// teardown runs before the process exits.
    pub(crate) ended: Option<Receiver<()>>,
    pub(crate) _handle: JoinHandle<()>,
}

/// Runs one call, with `in_call` (when given) set around it for the main thread to read, and
/// publishes the fds open after it.
pub fn run_call(
    call: &ast::Syscall,
    env: Option<&SyscallEnv>,
    fds: &mut FdTable,
    target: &mut dyn Target,
    in_call: Option<&AtomicBool>,
    fd_map: &FdMap,
) -> Result<SyscallOutcome, SyscallError> {
    let Some(env) = env else {
        return Err(SyscallError {
            message: "the stack thread got a call before the run began".to_string(),
        });
    };
    in_call.inspect(|flag| flag.store(true, Ordering::SeqCst));
    let result = execute(call, env, fds, target);
    in_call.inspect(|flag| flag.store(false, Ordering::SeqCst));
    publish(fds, fd_map);
    result
}

fn publish(fds: &FdTable, fd_map: &FdMap) {
    let mut map = fd_map.lock().unwrap_or_else(|e| e.into_inner());
    *map = fds
        .entries
        .iter()
        .map(|e| (e.script_fd, e.live_fd))
        .collect();
}

/// Closes every fd the script still has open.
pub fn close_all(fds: &mut FdTable, target: &mut dyn Target, fd_map: &FdMap) -> Vec<i32> {
    let mut closed = Vec::new();
    for entry in fds.entries.drain(..) {
        // SAFETY: closing an fd the script opened; no pointers involved.
        let _ = unsafe { target.close(entry.live_fd) };
        closed.push(entry.live_fd);
    }
    publish(fds, fd_map);
    closed
}

/// The calling thread's Linux thread id.
pub fn this_tid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

impl StackThread {
    /// The kernel's stack thread: every call runs in place, on this thread.
    pub fn spawn_kernel() -> Self {
        let (requests, request_rx) = channel::<StackRequest>();
        let (reply_tx, replies) = channel::<StackReply>();
        let tid = Arc::new(AtomicI32::new(0));
        let in_call = Arc::new(AtomicBool::new(false));
        let (thread_tid, thread_in_call) = (tid.clone(), in_call.clone());
        let fd_map = FdMap::default();
        let thread_fd_map = fd_map.clone();
        // Block (never spin: we run at real-time priority and the new thread does not yet)
        // until the thread is up and has said who it is.
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("stack".into())
            .spawn(move || {
                thread_tid.store(this_tid(), Ordering::SeqCst);
                super::realtime_for_this_thread();
                let _ = started_tx.send(());
                let mut target = KernelTarget;
                let mut fds = FdTable::default();
                let mut env = None;
                for request in request_rx {
                    let reply = match request {
                        StackRequest::Begin(run_env) => {
                            env = Some(*run_env);
                            continue;
                        }
                        StackRequest::Syscall { call, .. } => {
                            let result = run_call(
                                &call,
                                env.as_ref(),
                                &mut fds,
                                &mut target,
                                Some(&thread_in_call),
                                &thread_fd_map,
                            );
                            StackReply::Syscall {
                                result,
                                returned_usecs: realtime_usecs(),
                            }
                        }
                        StackRequest::CloseAll => {
                            StackReply::ClosedAll(close_all(&mut fds, &mut target, &thread_fd_map))
                        }
                        // The kernel's packets travel on tun and its clock is the host's.
                        StackRequest::Polled(_) => continue,
                        StackRequest::End => break,
                    };
                    if reply_tx.send(reply).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn the stack thread");
        let _ = started_rx.recv();
        StackThread {
            requests,
            replies,
            tid,
            in_call,
            polled: false,
            fd_map,
            ended: None,
            _handle: handle,
        }
    }

    pub fn send(&self, request: StackRequest) {
        // The thread only stops when this side is dropped; a send error means it panicked,
        // which the next receive reports.
        let _ = self.requests.send(request);
    }

    /// Whether this is a userspace stack's thread (else the kernel's).
    pub fn is_polled(&self) -> bool {
        self.polled
    }

    /// The script's open fds, as last published.
    pub fn fd_map(&self) -> FdMap {
        self.fd_map.clone()
    }

    /// A sender for requests, for the netdev and clock of a userspace stack.
    pub fn requester(&self) -> Sender<StackRequest> {
        self.requests.clone()
    }

    /// The next reply, waiting at most `timeout` (None = forever).
    pub fn reply(&self, timeout: Option<Duration>) -> Result<Option<StackReply>, String> {
        match timeout {
            None => self
                .replies
                .recv()
                .map(Some)
                .map_err(|_| "the stack thread died".to_string()),
            Some(t) => match self.replies.recv_timeout(t) {
                Ok(r) => Ok(Some(r)),
                Err(RecvTimeoutError::Timeout) => Ok(None),
                Err(RecvTimeoutError::Disconnected) => Err("the stack thread died".to_string()),
            },
        }
    }

    /// The `%{ }%` snapshot of a live socket: the kernel's through getsockopt here; a userspace
    /// stack's through its own getsockopt, on its thread.
    pub fn code_snapshot(&self, live_fd: i32) -> Result<Vec<(String, i64)>, String> {
        if !self.polled {
            return crate::sut::socket_info::snapshot(&mut KernelTarget, live_fd, false);
        }
        ask(&self.requests, |answer| {
            PolledRequest::CodeSnapshot(live_fd, answer)
        })
    }

    /// True when the thread is inside a target call and sleeping in the kernel (state S or D in
    /// /proc; for a userspace stack, steadily asleep): a blocking call has blocked.
    pub fn blocked_in_call(&self) -> bool {
        let tid = self.tid.load(Ordering::SeqCst);
        // Still in the call after the sleep was seen: not asleep in the thread's own wait for
        // its next request, having just returned.
        self.in_call.load(Ordering::SeqCst)
            && if self.polled {
                thread_asleep_steadily(tid)
            } else {
                thread_sleeps(tid)
            }
            && self.in_call.load(Ordering::SeqCst)
    }
}

impl Drop for StackThread {
    fn drop(&mut self) {
        let Some(ended) = self.ended.take() else {
            return;
        };
        // Give the stack a moment for its teardown (free), but never hang on a stack stuck in
        // a call.
        let _ = self.requests.send(StackRequest::End);
        let _ = ended.recv_timeout(Duration::from_secs(1));
    }
}

/// Sends a polled request and waits for its answer.
pub fn ask<T>(
    requests: &Sender<StackRequest>,
    request: impl FnOnce(Answer<T>) -> PolledRequest,
) -> Result<T, String> {
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    requests
        .send(StackRequest::Polled(request(answer)))
        .map_err(|_| "the stack thread has ended".to_string())?;
    answered
        .recv()
        .map_err(|_| "the stack thread ended without answering".to_string())?
}

/// Whether thread `tid` of this process is asleep waiting for something (state S, not the
/// transient D of a page fault or lock), and stays so without running in between: a call
/// sleeping in a userspace stack until the stack wakes it, not one that paused on a lock for a
/// moment (which the kernel's own blocking calls need no protection from).
pub fn thread_asleep_steadily(tid: i32) -> bool {
    let Some(before) = ThreadProbe::read(tid) else {
        return false;
    };
    if before.state != 'S' {
        return false;
    }
    std::thread::sleep(STEADY_SLEEP);
    ThreadProbe::read(tid).is_some_and(|after| after.state == 'S' && after == before)
}

/// How long a thread must stay asleep, without a context switch, to count as blocked.
const STEADY_SLEEP: Duration = Duration::from_micros(100);

/// A thread's scheduler state and context-switch count, from /proc/self/task/TID/status.
#[derive(Debug, PartialEq, Eq)]
struct ThreadProbe {
    state: char,
    switches: u64,
}

impl ThreadProbe {
    fn read(tid: i32) -> Option<Self> {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).ok()?;
        let mut state = None;
        let mut switches = 0;
        for line in status.lines() {
            if let Some(value) = line.strip_prefix("State:") {
                state = value.trim_start().chars().next();
            } else if let Some(value) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += value.trim().parse::<u64>().ok()?;
            }
        }
        Some(ThreadProbe {
            state: state?,
            switches,
        })
    }
}

/// Whether thread `tid` of this process is asleep in the kernel (state S or D).
pub fn thread_sleeps(tid: i32) -> bool {
    let path = format!("/proc/self/task/{tid}/stat");
    let Ok(stat) = std::fs::read_to_string(path) else {
        return false;
    };
    // The state is the first field after the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('S') | Some('D'))
}
