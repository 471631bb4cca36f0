//! The script's system calls as jobs for the backend's call thread (the stack thread): each call
//! runs against the target there, with the run's fd table, one after another, so a blocking call
//! never stops the main thread from injecting the packets it waits for. The main thread learns
//! each call's result and when it returned, and whether a blocking call has blocked.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::introspect::ScriptFds;
use crate::script::ast;
use crate::sut::calls::{CallThread, Job, JobEnd};
use crate::sut::target::Target;

use super::syscall::{execute, FdTable, SyscallEnv, SyscallOutcome};
use crate::verdict::CallMismatch;

/// A call's result and the time it returned (µs on the run's clock; None when the stack
/// failed the call itself).
pub struct CallReply {
    pub result: Result<SyscallOutcome, CallMismatch>,
    pub returned_usecs: Option<i64>,
}

/// What every call job shares: the run's parameters and the script's fds.
struct CallState {
    env: SyscallEnv,
    fds: FdTable,
}

/// The main thread's handle on the calls of one run.
pub struct ScriptCalls {
    thread: Box<dyn CallThread>,
    state: Arc<Mutex<CallState>>,
    /// Where the open fds are published after every call (for `/tcpinfo?fd=N`).
    published: ScriptFds,
    /// Each job's result, tagged with the job's number.
    results_tx: Sender<(u64, Result<SyscallOutcome, CallMismatch>)>,
    results: Receiver<(u64, Result<SyscallOutcome, CallMismatch>)>,
    /// The number of the last job started.
    started: u64,
}

impl ScriptCalls {
    pub fn new(thread: Box<dyn CallThread>, env: SyscallEnv, published: ScriptFds) -> Self {
        let (results_tx, results) = channel();
        ScriptCalls {
            thread,
            state: Arc::new(Mutex::new(CallState {
                env,
                fds: FdTable::default(),
            })),
            published,
            results_tx,
            results,
            started: 0,
        }
    }

    /// Starts one script call. `blocking`: the script marks it `...`, so it may sleep in the
    /// target while the run goes on.
    pub fn start(&mut self, call: &ast::Syscall, blocking: bool) {
        self.started += 1;
        let (number, call) = (self.started, call.clone());
        let (state, published, results) = (
            self.state.clone(),
            self.published.clone(),
            self.results_tx.clone(),
        );
        self.thread.start(Job {
            name: call.name.value.clone(),
            may_block: blocking,
            work: Box::new(move |target: &mut dyn Target| {
                let mut state = lock(&state);
                let CallState { env, fds } = &mut *state;
                let result = execute(&call, env, fds, target);
                publish(fds, &published);
                let _ = results.send((number, result));
            }),
        });
    }

    /// The reply to the call in progress, waiting at most `timeout` (None = until it ends).
    pub fn reply(&self, timeout: Option<Duration>) -> Result<Option<CallReply>, String> {
        let Some(end) = self.thread.wait(timeout)? else {
            return Ok(None);
        };
        Ok(Some(match end {
            JobEnd::Returned { at_usecs } => CallReply {
                result: self.result_of(self.started)?,
                returned_usecs: Some(at_usecs),
            },
            JobEnd::Failed { reason } => CallReply {
                result: Err(reason.into()),
                returned_usecs: None,
            },
        }))
    }

    /// The result job `number` sent (a stuck call's late result is skipped).
    fn result_of(&self, number: u64) -> Result<Result<SyscallOutcome, CallMismatch>, String> {
        loop {
            match self.results.try_recv() {
                Ok((n, result)) if n == number => return Ok(result),
                Ok(_) => continue,
                Err(_) => return Err("the stack thread lost a call's result".to_string()),
            }
        }
    }

    /// Whether the call in progress sleeps inside the target: a blocking call has blocked.
    pub fn blocked(&self) -> bool {
        self.thread.asleep_in_job()
    }

    /// Closes every fd the script still has open, waiting at most `timeout`.
    pub fn close_all(&mut self, timeout: Duration) {
        let (state, published) = (self.state.clone(), self.published.clone());
        self.started += 1;
        self.thread.start(Job {
            name: "close".to_string(),
            may_block: false,
            work: Box::new(move |target: &mut dyn Target| {
                let mut state = lock(&state);
                for entry in state.fds.entries.drain(..) {
                    // SAFETY: closing an fd the script opened; no pointers involved.
                    let _ = unsafe { target.close(entry.live_fd) };
                }
                publish(&state.fds, &published);
            }),
        });
        let _ = self.thread.wait(Some(timeout));
    }
}

fn lock(state: &Mutex<CallState>) -> MutexGuard<'_, CallState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn publish(fds: &FdTable, published: &ScriptFds) {
    let mut map = published.lock().unwrap_or_else(|e| e.into_inner());
    *map = fds
        .entries
        .iter()
        .map(|e| (e.script_fd, e.live_fd))
        .collect();
}
