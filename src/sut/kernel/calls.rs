//! The kernel's call thread: runs each of the script's calls in place, through libc, at
//! real-time priority, so a blocking call sleeps in the kernel while the main thread goes on
//! injecting the packets it waits for.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::target::KernelTarget;
use crate::sched::realtime_for_this_thread;
use crate::sut::calls::{next_end, thread_sleeps, CallThread, CallWatch, Job, JobEnd};
use crate::sut::clock::realtime_usecs;

/// The run's handle on the kernel's call thread.
pub struct KernelCalls {
    jobs: Sender<Job>,
    ends: Receiver<JobEnd>,
    /// The call thread, inside a job while one runs.
    watch: CallWatch,
    _handle: JoinHandle<()>,
}

impl KernelCalls {
    /// Starts the call thread and waits until it runs.
    pub fn spawn() -> Result<Self, String> {
        let (jobs, job_rx) = channel::<Job>();
        let (ends_tx, ends) = channel::<JobEnd>();
        let watch = CallWatch::default();
        let thread_watch = watch.clone();
        // Block (never spin: the caller runs at real-time priority and the new thread does not
        // yet) until the thread is up and has said who it is.
        let (started_tx, started_rx) = sync_channel::<()>(1);
        let handle = std::thread::Builder::new()
            .name("stack".into())
            .spawn(move || {
                thread_watch.watch_this_thread();
                realtime_for_this_thread();
                let _ = started_tx.send(());
                let mut target = KernelTarget;
                for job in job_rx {
                    thread_watch.inside.store(true, Ordering::SeqCst);
                    (job.work)(&mut target);
                    thread_watch.inside.store(false, Ordering::SeqCst);
                    let end = JobEnd::Returned {
                        at_usecs: realtime_usecs(),
                    };
                    if ends_tx.send(end).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the stack thread: {e}"))?;
        started_rx
            .recv()
            .map_err(|_| "the stack thread died while starting".to_string())?;
        Ok(KernelCalls {
            jobs,
            ends,
            watch,
            _handle: handle,
        })
    }
}

impl CallThread for KernelCalls {
    fn start(&self, job: Job) {
        // A send error means the thread ended; the next wait reports it.
        let _ = self.jobs.send(job);
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<Option<JobEnd>, String> {
        next_end(&self.ends, timeout)
    }

    /// Asleep in the kernel (state S or D) while inside the job.
    fn asleep_in_job(&self) -> bool {
        self.watch.asleep_inside(thread_sleeps)
    }
}
