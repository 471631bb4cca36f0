//! The `CallThread` seam: where the script's system calls run. The run hands each call over as a
//! [`Job`] (a closure that gets the backend's `Target`), one at a time, and learns when it ended
//! and whether it is asleep inside the target (a blocking call that blocked). Each backend owns
//! the thread(s) behind it: the kernel runs jobs on one thread, a userspace stack on a call
//! worker its stack thread watches. Also here: reading a thread's scheduler state, which both use
//! to tell a call asleep in the target from one still busy.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::target::Target;

/// What a job does with the target; it reports its own results (e.g. through a channel it owns).
pub type Work = Box<dyn FnOnce(&mut dyn Target) + Send>;

/// One script call (or the end-of-run closing of every fd) for the thread that owns the target.
pub struct Job {
    /// The call's name, for messages ("accept", "close").
    pub name: String,
    /// The script marks the call `...`: it may sleep in the target while the run goes on.
    pub may_block: bool,
    pub work: Work,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEnd {
    /// Its work ran to the end; the call returned at this time on the run's clock (µs).
    Returned { at_usecs: i64 },
    /// The target failed the call itself (stuck in it, a dead worker): its work did not finish,
    /// and the reason fails the script line.
    Failed { reason: String },
}

/// The thread that makes the script's calls into the stack under test.
pub trait CallThread: Send {
    /// Starts `job`. The run starts one job at a time and waits for its end before the next.
    fn start(&self, job: Job);
    /// The end of the job in progress, waiting at most `timeout` (None = until it ends);
    /// Ok(None) when it has not ended by then, Err when the thread itself is gone.
    fn wait(&self, timeout: Option<Duration>) -> Result<Option<JobEnd>, String>;
    /// Whether the job in progress sleeps inside the target: a blocking call has blocked.
    fn asleep_in_job(&self) -> bool;
}

/// The next job end on `ends`, waiting at most `timeout` (None = forever).
pub fn next_end(
    ends: &Receiver<JobEnd>,
    timeout: Option<Duration>,
) -> Result<Option<JobEnd>, String> {
    let dead = || "the stack thread died".to_string();
    match timeout {
        None => ends.recv().map(Some).map_err(|_| dead()),
        Some(t) => match ends.recv_timeout(t) {
            Ok(end) => Ok(Some(end)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(dead()),
        },
    }
}

/// Where a call thread is: its Linux thread id, and whether it is inside the target now (set
/// by the thread around the part of a job that may sleep in the target).
#[derive(Debug, Clone, Default)]
pub struct CallWatch {
    pub tid: Arc<AtomicI32>,
    pub inside: Arc<AtomicBool>,
}

impl CallWatch {
    /// Records the calling thread as the one watched.
    pub fn watch_this_thread(&self) {
        self.tid.store(this_tid(), Ordering::SeqCst);
    }

    /// Whether the thread sleeps inside the target, as `asleep` judges its state: inside
    /// before and after the sleep was seen, so not back in its own wait for the next job,
    /// having just returned.
    pub fn asleep_inside(&self, asleep: fn(i32) -> bool) -> bool {
        self.inside.load(Ordering::SeqCst)
            && asleep(self.tid.load(Ordering::SeqCst))
            && self.inside.load(Ordering::SeqCst)
    }
}

/// The calling thread's Linux thread id.
pub fn this_tid() -> i32 {
    nix::unistd::gettid().as_raw()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_asleep_on_a_channel_is_seen_asleep_and_a_busy_one_is_not() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let sleeper = std::thread::spawn(move || {
            tid_tx.send(this_tid()).unwrap();
            let _ = wake_rx.recv();
        });
        let tid = tid_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert!(thread_sleeps(tid));
        assert!(thread_asleep_steadily(tid));
        wake_tx.send(()).unwrap();
        sleeper.join().unwrap();
        assert!(!thread_sleeps(this_tid()), "the calling thread is running");
    }
}
