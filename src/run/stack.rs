//! The stack thread: owns the `Target` and runs the script's system calls one after another,
//! so a blocking call never stops the main thread from injecting the packets it waits for.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::script::ast;
use crate::target::Target;

use super::clock::realtime_usecs;
use super::syscall::{execute, FdTable, SyscallEnv, SyscallError, SyscallOutcome};

/// Work for the stack thread.
pub enum StackRequest {
    Syscall(Box<ast::Syscall>),
    /// Close every fd the script still has open (end of run).
    CloseAll,
}

/// What the stack thread answers, in request order.
pub enum StackReply {
    Syscall {
        result: Result<SyscallOutcome, SyscallError>,
        /// When the call returned (CLOCK_REALTIME µs).
        returned_usecs: i64,
    },
    /// The live fds that were closed.
    ClosedAll(Vec<i32>),
}

pub struct StackThread {
    requests: Sender<StackRequest>,
    replies: Receiver<StackReply>,
    /// Linux thread id of the stack thread, to read its scheduler state.
    tid: Arc<AtomicI32>,
    /// Set while a call into the target is in progress.
    in_call: Arc<AtomicBool>,
    _handle: JoinHandle<()>,
}

impl StackThread {
    pub fn spawn(mut target: Box<dyn Target>, env: SyscallEnv) -> Self {
        let (requests, request_rx) = channel::<StackRequest>();
        let (reply_tx, replies) = channel::<StackReply>();
        let tid = Arc::new(AtomicI32::new(0));
        let in_call = Arc::new(AtomicBool::new(false));
        let (thread_tid, thread_in_call) = (tid.clone(), in_call.clone());
        // Block (never spin: we run at real-time priority and the new thread does not yet)
        // until the thread is up and has said who it is.
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("stack".into())
            .spawn(move || {
                // SAFETY: gettid has no preconditions.
                thread_tid.store(unsafe { libc::gettid() }, Ordering::SeqCst);
                super::realtime_for_this_thread();
                let _ = started_tx.send(());
                let mut fds = FdTable::default();
                for request in request_rx {
                    let reply = match request {
                        StackRequest::Syscall(call) => {
                            thread_in_call.store(true, Ordering::SeqCst);
                            let result = execute(&call, &env, &mut fds, target.as_mut());
                            let returned_usecs = realtime_usecs();
                            thread_in_call.store(false, Ordering::SeqCst);
                            StackReply::Syscall {
                                result,
                                returned_usecs,
                            }
                        }
                        StackRequest::CloseAll => {
                            let mut closed = Vec::new();
                            for entry in fds.entries.drain(..) {
                                // SAFETY: closing an fd the script opened; no pointers involved.
                                let _ = unsafe { target.close(entry.live_fd) };
                                closed.push(entry.live_fd);
                            }
                            StackReply::ClosedAll(closed)
                        }
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
            _handle: handle,
        }
    }

    pub fn send(&self, request: StackRequest) {
        // The thread only stops when this side is dropped; a send error means it panicked,
        // which the next receive reports.
        let _ = self.requests.send(request);
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

    /// True when the thread is inside a target call and sleeping in the kernel (state S or D in
    /// /proc): a blocking call has blocked.
    pub fn blocked_in_call(&self) -> bool {
        if !self.in_call.load(Ordering::SeqCst) {
            return false;
        }
        let path = format!("/proc/self/task/{}/stat", self.tid.load(Ordering::SeqCst));
        let Ok(stat) = std::fs::read_to_string(path) else {
            return false;
        };
        // The state is the first field after the parenthesised command name.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        matches!(state, Some('S') | Some('D'))
    }
}
