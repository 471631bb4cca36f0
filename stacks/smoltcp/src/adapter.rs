//! The adapter object behind `userdata`: the stack under one mutex, one condition variable for
//! blocked socket calls, and the rules of the threads contract (stacks/README.md "Threads"):
//!
//! - every entry point takes the mutex for its whole run, so only one thread works on the stack;
//! - a socket call that cannot complete waits on the condition variable, which releases the
//!   mutex and sleeps in the kernel (stackdrill sees the thread asleep and goes on);
//! - every entry point that may have changed socket state notifies the condition variable when
//!   it leaves, so blocked calls look again (when stackdrill drives the polling, that is
//!   `stackdrill_poll` and the socket calls, not `netdev_send` or `usleep`);
//! - panics never cross the C boundary: they are caught at each entry point.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use smoltcp::time::Instant;

use crate::config::StackConfig;
use crate::errno::{Errno, SysResult};
use crate::stack::{Attempt, Stack};

/// The object `userdata` points to.
pub struct Adapter {
    stack: Mutex<Stack>,
    wakeup: Condvar,
    /// Threads waiting in [`Adapter::lock`]: the entries upstream packetdrill spins on give
    /// way to them (see [`Adapter::lock_giving_way`]).
    waiting: AtomicUsize,
}

/// Longest a spinning entry point gives way to threads waiting for the stack.
const GIVE_WAY_LIMIT: Duration = Duration::from_millis(2);

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "unknown panic"
    }
}

/// Runs an entry point's body, turning a panic into `on_panic` and a message on stderr.
pub fn without_unwinding<R>(entry_point: &str, on_panic: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            eprintln!(
                "stackdrill-smoltcp: internal error in {entry_point}: {} (the stack is unusable from now on)",
                panic_text(payload.as_ref())
            );
            on_panic
        }
    }
}

impl Adapter {
    pub fn new(config: StackConfig) -> Self {
        Adapter {
            stack: Mutex::new(Stack::new(config)),
            wakeup: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// The stack, or EIO when an earlier entry point panicked while holding it.
    fn lock(&self) -> SysResult<MutexGuard<'_, Stack>> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let stack = self.stack.lock();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        stack.map_err(|_| Errno(libc::EIO))
    }

    /// The stack, for the entries upstream packetdrill calls in a tight loop (gettimeofday,
    /// netdev_receive): std's mutex is not fair, so a thread that spins on it can keep out
    /// another one for as long as it spins, e.g. upstream's syscall thread reading the clock
    /// when a blocking call returns. Threads already waiting go first (for at most
    /// [`GIVE_WAY_LIMIT`]).
    fn lock_giving_way(&self) -> SysResult<MutexGuard<'_, Stack>> {
        let started = std::time::Instant::now();
        while self.waiting.load(Ordering::SeqCst) > 0 && started.elapsed() < GIVE_WAY_LIMIT {
            std::thread::yield_now();
        }
        self.stack.lock().map_err(|_| Errno(libc::EIO))
    }

    /// [`Adapter::stack_thread_step`] for the entries upstream spins on, which give way to
    /// waiting threads first.
    pub fn spinning_step<T>(&self, op: impl FnOnce(&mut Stack) -> (T, bool)) -> SysResult<T> {
        let (result, ran) = op(&mut *self.lock_giving_way()?);
        if ran {
            self.wakeup.notify_all();
        }
        Ok(result)
    }

    /// A call of the stack thread that may change socket state (netdev_send, usleep, poll):
    /// runs `op`, then wakes blocked calls.
    pub fn stack_thread_call<T>(&self, op: impl FnOnce(&mut Stack) -> T) -> SysResult<T> {
        let result = op(&mut *self.lock()?);
        self.wakeup.notify_all();
        Ok(result)
    }

    /// A call of the stack thread that runs the stack only when it runs itself (netdev_send,
    /// usleep; gettimeofday and netdev_receive under upstream packetdrill): `op` says whether
    /// it did, and only then are blocked calls woken.
    pub fn stack_thread_step<T>(&self, op: impl FnOnce(&mut Stack) -> (T, bool)) -> SysResult<T> {
        let (result, ran) = op(&mut *self.lock()?);
        if ran {
            self.wakeup.notify_all();
        }
        Ok(result)
    }

    /// A call of the stack thread that changes no socket state (stackdrill_sockets): blocked
    /// calls are not woken for it.
    pub fn stack_thread_query<T>(&self, op: impl FnOnce(&mut Stack) -> T) -> SysResult<T> {
        Ok(op(&mut *self.lock()?))
    }

    /// `usleep` under upstream packetdrill: sleeps `usecs` of real time, waking at each of the
    /// stack's timers on the way to run it (and wake blocked calls), without holding the stack.
    pub fn sleep_in_real_time(&self, usecs: u64) -> SysResult<()> {
        let until = {
            let mut stack = self.lock()?;
            stack.enter();
            stack.now() + smoltcp::time::Duration::from_micros(usecs)
        };
        loop {
            let pause = {
                let mut stack = self.lock()?;
                stack.enter();
                let now = stack.now();
                let next = stack.next_wakeup().map_or(until, |when| when.min(until));
                (now < until).then(|| (next - now).total_micros())
            };
            self.wakeup.notify_all();
            match pause {
                Some(micros) => std::thread::sleep(std::time::Duration::from_micros(micros)),
                None => return Ok(()),
            }
        }
    }

    /// A socket call that never blocks: runs `op`, lets the stack react at once (e.g. send
    /// the SYN or the data just queued) unless stackdrill drives the polling, then wakes
    /// blocked calls.
    pub fn call<T: std::fmt::Debug>(
        &self,
        name: &str,
        op: impl FnOnce(&mut Stack) -> SysResult<T>,
    ) -> SysResult<T> {
        let mut stack = self.lock()?;
        stack.enter();
        let result = op(&mut stack);
        stack.after_socket_call();
        stack.debug(|| format!("{name} -> {result:?}"));
        drop(stack);
        self.wakeup.notify_all();
        result
    }

    /// A socket call that may block: `op` is tried (with the virtual time the call started),
    /// and while it says [`Attempt::Wait`] the thread sleeps on the condition variable until
    /// the stack changes or stackdrill moves the clock to the deadline (on real time, also
    /// until the next timer or the deadline comes by itself).
    pub fn blocking_call<T: std::fmt::Debug>(
        &self,
        name: &str,
        mut op: impl FnMut(&mut Stack, Instant) -> Attempt<T>,
    ) -> SysResult<T> {
        let mut stack = self.lock()?;
        stack.enter();
        let started = stack.now();
        loop {
            stack.enter();
            let attempt = op(&mut stack, started);
            stack.after_socket_call();
            match attempt {
                Attempt::Done(result) => {
                    stack.debug(|| format!("{name} -> {result:?}"));
                    drop(stack);
                    self.wakeup.notify_all();
                    return result;
                }
                Attempt::Wait(deadline) => {
                    stack.debug(|| format!("{name} blocks (deadline {deadline:?})"));
                    let wait = stack.register_wait(deadline);
                    self.wakeup.notify_all();
                    // On real time (under upstream) nobody may call in while this call blocks
                    // (upstream may be waiting for it), so it wakes itself at the stack's next
                    // timer or its own deadline, whichever comes first, and runs the stack then.
                    let pause = stack.real_time_pause();
                    stack = match pause {
                        Some(pause) => self
                            .wakeup
                            .wait_timeout(stack, pause)
                            .map(|(stack, _)| stack)
                            .map_err(|_| Errno(libc::EIO))?,
                        None => self.wakeup.wait(stack).map_err(|_| Errno(libc::EIO))?,
                    };
                    stack.unregister_wait(wait);
                }
            }
        }
    }
}
