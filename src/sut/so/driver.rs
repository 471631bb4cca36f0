//! A userspace stack's stack thread: owns the stack (a `PolledStack`), polls it between
//! operations, keeps the run's time on the stack's clock, injects and collects its packets, and
//! hands the script's calls to a call worker, so that a blocking call never freezes polling.
//!
//! Ordering is what makes runs repeatable: after every operation that can wake a call sleeping
//! inside the stack (a packet, time passing, a poll), the thread waits until the worker has
//! either returned or gone back to sleep before doing anything else. So the library never runs
//! on two threads at once except while a call sleeps in it, and a call returns at the same
//! stack time on every run.

use std::collections::VecDeque;
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sut::calls::{
    next_end, thread_asleep_steadily, CallThread, CallWatch, Job, JobEnd, Work,
};
use crate::sut::clock::{realtime_usecs, Clock, RealClock};
use crate::sut::socket_info;
use crate::sut::target::Target;
use crate::sut::view::SocketRecord;

use super::watch::{EntryWatch, ENTRY_DEADLINE};
use super::PolledStack;

/// Longest real time a call may run without returning or sleeping, and a call the script does
/// not mark as blocking may take to return.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// Longest stack time a call the script does not mark as blocking may keep the run waiting.
const CALL_STACK_TIME_BUDGET_USECS: i64 = 3_600 * 1_000_000;
/// Time step when the stack does not say when it next needs a poll.
const BLIND_STEP_USECS: i64 = 1_000;
/// How many `usleep`s in a row may leave the stack's clock where it was.
const STALLED_SLEEPS: u32 = 1_000;
/// How often an idle thread polls the stack (for stacks on the real clock).
const IDLE_POLL: Duration = Duration::from_millis(1);
/// How often a thread waiting for the stack thread looks whether it is stuck in the stack.
const STUCK_CHECK: Duration = Duration::from_millis(100);

/// A value the stack thread sends back on a request's own channel.
pub type Answer<T> = SyncSender<Result<T, String>>;

/// Work for a userspace stack's thread: the script's calls (through [`CallThread`]), and the
/// questions of its netdev, clock and view.
pub enum Request {
    /// A script call for the call worker.
    Job(Job),
    /// A question, answered on its own channel.
    Ask(Query),
    /// The run is over: the stack frees its state and the thread ends.
    End,
}

/// The packets, time, snapshots and socket table the run's netdev, clock and view ask for.
pub enum Query {
    /// Inject one IP packet.
    Send(Vec<u8>, Answer<()>),
    /// The next packet the stack sent and its time, waiting (on the stack's clock) at most
    /// until the deadline; None at the deadline.
    Receive(Option<i64>, Answer<Option<(Vec<u8>, i64)>>),
    /// The stack's clock now.
    Now(Answer<i64>),
    /// Whether the stack's clock is virtual (moved by stackdrill, not by the host's time).
    IsVirtual(Answer<bool>),
    /// Let time pass until the deadline (on the stack's clock).
    WaitUntil(i64, Answer<()>),
    /// The `%{ }%` snapshot of one live fd, taken through the stack's getsockopt.
    Snapshot(i32, Answer<Vec<(String, i64)>>),
    /// The stack's socket table (`stackdrill_sockets`); None when the library has none.
    Sockets(Answer<Option<Vec<SocketRecord>>>),
    /// Stop polling the stack for this many ms of its time; answered when the hang begins.
    PollingHang(u64, Answer<()>),
}

/// Where the run's netdev, clock and view send their requests to a stack thread, and how they
/// tell one stuck inside the stack (spinning or deadlocked) from one that is merely busy.
#[derive(Clone)]
pub struct Requests {
    sender: Sender<Request>,
    watch: Arc<EntryWatch>,
}

/// Asks the stack thread and waits for its answer; fails when the stack thread is stuck in
/// the stack instead of answering.
pub fn ask<T>(requests: &Requests, query: impl FnOnce(Answer<T>) -> Query) -> Result<T, String> {
    let (answer, answered) = sync_channel(1);
    requests
        .sender
        .send(Request::Ask(query(answer)))
        .map_err(|_| "the stack thread has ended".to_string())?;
    loop {
        match answered.recv_timeout(STUCK_CHECK) {
            Ok(answer) => return answer,
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the stack thread ended without answering".to_string())
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(stuck) = requests.watch.stuck() {
                    return Err(stuck);
                }
            }
        }
    }
}

/// The run's handle on a userspace stack's thread: the run's calls go through it
/// ([`CallThread`]), and its netdev, clock and view send their requests on [`Self::requests`].
pub struct StackThread {
    requests: Requests,
    ends: Receiver<JobEnd>,
    /// The call worker, inside while it is in the library.
    worker: CallWatch,
    /// Signalled when the thread has ended; waited for (briefly) on drop, so the stack's own
    /// teardown runs before the process exits.
    ended: Receiver<()>,
    _handle: JoinHandle<()>,
}

/// A job handed to the worker and not yet answered.
struct InFlight {
    name: String,
    since: Instant,
}

struct Driver {
    stack: Box<dyn PolledStack>,
    jobs: Sender<Work>,
    done: Receiver<()>,
    worker: CallWatch,
    in_flight: Option<InFlight>,
    /// The worker is stuck in a call that missed its deadline: nothing more goes to it.
    worker_stuck: bool,
    ends: Sender<JobEnd>,
    /// For `%{ }%` snapshots, made while no call runs.
    snapshot_target: Box<dyn Target>,
    /// Where this thread says which entry it is inside (the stack's own entries mark it
    /// themselves; a snapshot's socket calls are marked here).
    watch: Arc<EntryWatch>,
    stalled_sleeps: u32,
    /// A `/pollinghang` in progress: until this time on the stack's clock, the stack is not
    /// polled, packets for it wait in `held`, and the ones it sent stay with it.
    hang_until: Option<i64>,
    held: VecDeque<Vec<u8>>,
}

impl StackThread {
    /// A userspace stack's thread. `open` runs on that thread and makes the stack (loading the
    /// library and telling it the network), so every call into it starts there. `watch` is
    /// where that thread says which entry of the stack it is inside (`open` too): the run
    /// gives up on it when it stays inside one too long.
    pub fn spawn(
        open: impl FnOnce() -> Result<Box<dyn PolledStack>, String> + Send + 'static,
        watch: Arc<EntryWatch>,
    ) -> Result<Self, String> {
        let (requests, request_rx) = channel::<Request>();
        let (ends_tx, ends) = channel::<JobEnd>();
        let worker = CallWatch::default();
        let thread_worker = worker.clone();
        let thread_watch = watch.clone();
        let (started_tx, started_rx) = sync_channel::<Result<(), String>>(1);
        let (ended_tx, ended) = channel::<()>();
        let handle = std::thread::Builder::new()
            .name("stack".into())
            .spawn(move || {
                let stack = match open() {
                    Ok(stack) => stack,
                    Err(e) => {
                        let _ = started_tx.send(Err(e));
                        return;
                    }
                };
                let worker_target = stack.call_target(thread_worker.inside.clone());
                let (jobs, done) = spawn_worker(worker_target, thread_worker.clone());
                let mut driver = Driver {
                    snapshot_target: stack.call_target(Arc::default()),
                    watch: thread_watch,
                    stack,
                    jobs,
                    done,
                    worker: thread_worker,
                    in_flight: None,
                    worker_stuck: false,
                    ends: ends_tx,
                    stalled_sleeps: 0,
                    hang_until: None,
                    held: VecDeque::new(),
                };
                // Right after the network setup, before anything else: the sign that
                // stackdrill drives the stack's polling (packetdrill.h, stackdrill_poll).
                if let Err(e) = driver.stack.poll() {
                    let _ = started_tx.send(Err(e));
                    return;
                }
                let _ = started_tx.send(Ok(()));
                driver.serve(request_rx);
                let _ = ended_tx.send(());
            })
            .map_err(|e| format!("cannot start the stack thread: {e}"))?;
        loop {
            match started_rx.recv_timeout(STUCK_CHECK) {
                Ok(started) => break started?,
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the stack thread died while loading the stack".to_string())
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(stuck) = watch.stuck() {
                        return Err(stuck);
                    }
                }
            }
        }
        Ok(StackThread {
            requests: Requests {
                sender: requests,
                watch,
            },
            ends,
            worker,
            ended,
            _handle: handle,
        })
    }

    /// Where the netdev, clock and view send their requests.
    pub fn requests(&self) -> Requests {
        self.requests.clone()
    }
}

impl CallThread for StackThread {
    fn start(&self, job: Job) {
        // A send error means the thread ended; the next wait reports it.
        let _ = self.requests.sender.send(Request::Job(job));
    }

    /// Fails when the stack thread is stuck in the stack instead of passing the job's end on.
    fn wait(&self, timeout: Option<Duration>) -> Result<Option<JobEnd>, String> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = deadline.map_or(STUCK_CHECK, |d| {
                STUCK_CHECK.min(d.saturating_duration_since(Instant::now()))
            });
            if let Some(end) = next_end(&self.ends, Some(slice))? {
                return Ok(Some(end));
            }
            if let Some(stuck) = self.requests.watch.stuck() {
                return Err(stuck);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
        }
    }

    /// Steadily asleep while inside the library.
    fn asleep_in_job(&self) -> bool {
        self.worker.asleep_inside(thread_asleep_steadily)
    }
}

impl Drop for StackThread {
    fn drop(&mut self) {
        // Give the stack a moment for its teardown (free), but never hang on a stack stuck in
        // a call.
        let _ = self.requests.sender.send(Request::End);
        let _ = self.ended.recv_timeout(Duration::from_secs(1));
    }
}

/// The call worker: runs the script's calls on its own target, one at a time, and says when
/// each is done.
fn spawn_worker(mut target: Box<dyn Target>, watch: CallWatch) -> (Sender<Work>, Receiver<()>) {
    let (jobs, job_rx) = channel::<Work>();
    let (done_tx, done) = channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("stack-calls".into())
        .spawn(move || {
            watch.watch_this_thread();
            for work in job_rx {
                work(target.as_mut());
                if done_tx.send(()).is_err() {
                    break;
                }
            }
        });
    // Without a worker every job goes unanswered; the driver reports that as a dead worker.
    drop(spawned);
    (jobs, done)
}

impl Driver {
    fn serve(&mut self, requests: Receiver<Request>) {
        loop {
            let request = match requests.recv_timeout(IDLE_POLL) {
                Ok(request) => request,
                Err(RecvTimeoutError::Timeout) => {
                    self.idle();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match request {
                Request::Job(job) => self.run_job(job),
                Request::End => break,
                Request::Ask(query) => self.answer(query),
            }
        }
        if self.in_flight.is_none() && !self.worker_stuck {
            // A call still asleep inside the stack would use freed state.
            self.stack.finish();
        }
    }

    /// Between requests: let a stack on the real clock run its timers, and pass on a call that
    /// finished meanwhile.
    fn idle(&mut self) {
        if self.stack.has_poll() && self.poll_stack().is_err() {
            return;
        }
        let _ = self.settle();
    }

    /// Polls the stack, unless a polling hang is in progress.
    fn poll_stack(&mut self) -> Result<Option<i64>, String> {
        if self.hang_until.is_some() {
            return Ok(None);
        }
        self.stack.poll()
    }

    /// Ends a polling hang whose time has come: the packets held back go to the stack, in
    /// order, and polling resumes.
    fn end_hang_if_over(&mut self) -> Result<(), String> {
        let Some(until) = self.hang_until else {
            return Ok(());
        };
        if self.now()? < until {
            return Ok(());
        }
        self.hang_until = None;
        while let Some(packet) = self.held.pop_front() {
            self.stack.netdev_send(&packet)?;
        }
        self.stack.poll()?;
        self.settle()
    }

    fn now(&mut self) -> Result<i64, String> {
        if self.stack.has_clock() {
            self.stack.now_usecs()
        } else {
            Ok(realtime_usecs())
        }
    }

    /// Lets `usecs` pass on the stack's clock, failing when the clock stays put.
    fn advance(&mut self, usecs: i64) -> Result<(), String> {
        let before = self.now()?;
        let step = usecs.clamp(1, i64::from(u32::MAX)) as u32;
        self.stack.sleep_usecs(step)?;
        let after = self.now()?;
        if after > before {
            self.stalled_sleeps = 0;
        } else {
            self.stalled_sleeps += 1;
            if self.stalled_sleeps >= STALLED_SLEEPS {
                return Err(format!(
                    "the stack's clock does not advance: {STALLED_SLEEPS} calls of usleep({step}) left gettimeofday at {after} µs"
                ));
            }
        }
        self.poll_stack()?;
        self.end_hang_if_over()
    }

    /// How far the stack's clock may move in one step toward `deadline`: to its next timer
    /// (so a call it wakes is seen at that time), in blind steps when it does not say.
    /// None: nothing is scheduled, so nothing can happen before the deadline.
    fn step_toward(&mut self, deadline: i64, now: i64) -> Result<Option<i64>, String> {
        let left = deadline.saturating_sub(now);
        if let Some(until) = self.hang_until {
            // Nothing may poll the stack before the hang ends.
            return Ok(Some(left.min(until - now).max(1)));
        }
        Ok(match self.stack.poll()? {
            Some(next) => Some(left.min(next.max(1))),
            None if self.stack.has_poll() => None,
            None => Some(left.min(BLIND_STEP_USECS)),
        })
    }

    /// Waits until the worker is idle or asleep inside the stack, passing on the answer of a
    /// call that finished. A call that neither returns nor sleeps within CALL_DEADLINE is
    /// failed, and the worker is given nothing more.
    fn settle(&mut self) -> Result<(), String> {
        // Short waits first (a call returns in microseconds), then up to 1 ms apart: a call
        // spinning for its whole deadline must not cost a core of /proc reads too. Waiting on
        // the channel, not sleeping, so that a call that returns is seen at once (a sleep of
        // 10 µs lasts 60 or more, and every call of a script paid it).
        let mut pause = Duration::from_micros(10);
        while let Some(flight) = &self.in_flight {
            match self.done.recv_timeout(pause) {
                Ok(()) => {
                    self.forward(Ok(()));
                    return Ok(());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let name = flight.name.clone();
                    self.worker_stuck = true;
                    self.forward(Err(format!(
                        "the stack's call worker died during the {name} call"
                    )));
                    return Ok(());
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if self.worker.asleep_inside(thread_asleep_steadily) {
                return Ok(());
            }
            if flight.since.elapsed() > CALL_DEADLINE {
                let message = format!(
                    "the {} call neither returned nor slept within {} s (a blocking call must sleep, not spin)",
                    flight.name,
                    CALL_DEADLINE.as_secs()
                );
                self.worker_stuck = true;
                self.forward(Err(message));
                return Ok(());
            }
            pause = (pause * 2).min(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Tells the run how the job in flight ended: when it returned (on the stack's clock), or
    /// why it failed.
    fn forward(&mut self, done: Result<(), String>) {
        self.in_flight = None;
        let end = match done.and_then(|()| self.now()) {
            Ok(at_usecs) => JobEnd::Returned { at_usecs },
            Err(reason) => JobEnd::Failed { reason },
        };
        let _ = self.ends.send(end);
    }

    fn run_job(&mut self, job: Job) {
        let Job {
            name,
            may_block,
            work,
        } = job;
        if self.in_flight.is_some() || self.worker_stuck || self.jobs.send(work).is_err() {
            let reason = "the stack's call worker is still inside an earlier call".to_string();
            let _ = self.ends.send(JobEnd::Failed { reason });
            return;
        }
        self.in_flight = Some(InFlight {
            name: name.clone(),
            since: Instant::now(),
        });
        // Returned or asleep, the call may have given the stack work (a SYN to send, data
        // to queue): a stack driven by stackdrill_poll does it now.
        let outcome = self
            .settle()
            .and_then(|()| self.poll_stack())
            .and_then(|_| self.settle());
        if let Err(e) = outcome {
            if self.in_flight.is_some() {
                self.forward(Err(e));
            }
            return;
        }
        if !may_block {
            self.wait_for_return(&name);
        }
    }

    /// A call the script expects to return before anything else happens has gone to sleep in
    /// the stack: time passes, as it would for a real process sitting in the call, until the
    /// stack wakes it.
    fn wait_for_return(&mut self, name: &str) {
        let started = Instant::now();
        let mut passed = 0;
        while self.in_flight.is_some() {
            let outcome = self.let_time_pass(&mut passed, name, started);
            if let Err(message) = outcome.and_then(|()| self.settle()) {
                if self.in_flight.is_some() {
                    self.worker_stuck = true;
                    self.forward(Err(message));
                }
                return;
            }
        }
    }

    fn let_time_pass(
        &mut self,
        passed: &mut i64,
        name: &str,
        started: Instant,
    ) -> Result<(), String> {
        let unmarked = "if the script expects it to block, mark it with `...`";
        if started.elapsed() > CALL_DEADLINE || *passed > CALL_STACK_TIME_BUDGET_USECS {
            return Err(format!(
                "the {name} call did not return within {} s ({unmarked})",
                CALL_DEADLINE.as_secs()
            ));
        }
        if !self.stack.has_clock() {
            self.stack.poll()?;
            std::thread::sleep(Duration::from_micros(100));
            return Ok(());
        }
        let now = self.now()?;
        let Some(step) = self.step_toward(now + CALL_STACK_TIME_BUDGET_USECS, now)? else {
            return Err(format!(
                "the {name} call blocked, and nothing the stack has scheduled can end it ({unmarked})"
            ));
        };
        self.advance(step)?;
        *passed += step;
        Ok(())
    }

    /// Answers a request of the run's netdev, clock or view.
    fn answer(&mut self, query: Query) {
        match query {
            Query::Send(packet, answer) => {
                let result = self.inject(&packet);
                let _ = answer.send(result);
            }
            Query::Receive(deadline, answer) => {
                let result = self.receive(deadline);
                let _ = answer.send(result);
            }
            Query::IsVirtual(answer) => {
                let _ = answer.send(Ok(self.stack.has_clock()));
            }
            Query::Now(answer) => {
                let result = self.now();
                let _ = answer.send(result);
            }
            Query::WaitUntil(deadline, answer) => {
                let result = self.wait_until(deadline);
                let _ = answer.send(result);
            }
            Query::Sockets(answer) => {
                let _ = answer.send(self.stack.sockets());
            }
            Query::PollingHang(millis, answer) => {
                let result = self.polling_hang(millis);
                let _ = answer.send(result);
            }
            Query::Snapshot(live_fd, answer) => {
                let _inside = self
                    .watch
                    .inside("getsockopt for a %{ }% snapshot", ENTRY_DEADLINE);
                let result = socket_info::snapshot(self.snapshot_target.as_mut(), live_fd, true);
                let _ = answer.send(result);
            }
        }
    }

    fn inject(&mut self, packet: &[u8]) -> Result<(), String> {
        self.end_hang_if_over()?;
        if self.hang_until.is_some() {
            self.held.push_back(packet.to_vec());
            return Ok(());
        }
        self.stack.netdev_send(packet)?;
        self.stack.poll()?;
        self.settle()
    }

    /// Starts a polling hang of `millis` ms on the stack's clock.
    fn polling_hang(&mut self, millis: u64) -> Result<(), String> {
        let now = self.now()?;
        let until = now.saturating_add(millis.saturating_mul(1_000) as i64);
        self.hang_until = Some(self.hang_until.map_or(until, |u| u.max(until)));
        Ok(())
    }

    fn receive(&mut self, deadline: Option<i64>) -> Result<Option<(Vec<u8>, i64)>, String> {
        let deadline = deadline.unwrap_or(i64::MAX);
        loop {
            self.end_hang_if_over()?;
            if self.hang_until.is_none() {
                if let Some(packet) = self.stack.netdev_receive()? {
                    return Ok(Some(packet));
                }
            }
            let now = self.now()?;
            if now >= deadline {
                return Ok(None);
            }
            if self.stack.has_clock() {
                let step = self.step_toward(deadline, now)?;
                // That poll may have sent something at this very time.
                if self.hang_until.is_none() {
                    if let Some(packet) = self.stack.netdev_receive()? {
                        return Ok(Some(packet));
                    }
                }
                match step {
                    Some(step) => self.advance(step)?,
                    None => {
                        // Nothing scheduled, so nothing will be sent: jump to the deadline.
                        if deadline == i64::MAX {
                            return Ok(None);
                        }
                        self.advance(deadline - now)?;
                    }
                }
            } else {
                self.poll_stack()?;
                let slice = (deadline - now).min(100);
                RealClock.wait_until(now + slice);
            }
            self.settle()?;
        }
    }

    fn wait_until(&mut self, deadline: i64) -> Result<(), String> {
        loop {
            let now = self.now()?;
            if now >= deadline {
                return Ok(());
            }
            if self.stack.has_clock() {
                let step = self.step_toward(deadline, now)?.unwrap_or(deadline - now);
                self.advance(step)?;
            } else {
                RealClock.wait_until(now + (deadline - now).min(1_000));
                if self.stack.has_poll() {
                    self.poll_stack()?;
                }
                self.end_hang_if_over()?;
            }
            self.settle()?;
        }
    }
}
