//! A scripted stand-in for the stack under test, for unit tests of the executor: a virtual
//! clock that jumps instead of sleeping, a netdev that records every injected packet and hands
//! out the packets the "stack" sends at scripted times, a call thread and target that answer
//! the script's system calls with scripted results at scripted times, and a view that refuses
//! everything; with [`FakeStack::with_link`] the netdev is a layer-2 wire too, recording the
//! frames injected and handing out scripted frames. One [`FakeStack`] owns the script of the fake and what it observed; the tests
//! build the executor's `StackUnderTest` from it. Everything runs on the test's thread, so a
//! run is deterministic and takes no real time.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t,
};

use crate::sut::calls::{CallThread, Job, JobEnd};
use crate::sut::clock::Clock;
use crate::sut::netdev::{LinkLayer, Netdev};
use crate::sut::target::{SysResult, Target};
use crate::sut::view::{Refusal, SocketRecord, StackView};
use crate::wire::link::{Mac, PEER_MAC};
use crate::wire::{self, tcp_flags, IpRepr, L4Repr, PacketRepr, TcpRepr};

/// Script time 0 on the fake clock (µs): any value far from 0 catches a missed offset.
pub const START_USECS: i64 = 1_000_000_000;
/// The fake stack's initial sequence number: an outbound segment's live sequence number is
/// this plus its script-space one.
pub const FAKE_ISN: u32 = 1_000_000;
/// The local port the fake stack picks for an active open.
pub const EPHEMERAL_PORT: u16 = 45_000;
/// The receive window the fake stack advertises unless told otherwise.
pub const FAKE_WINDOW: u16 = 1000;

/// A virtual clock: `wait_until` jumps to the deadline, so waiting takes no real time.
pub struct FakeClock {
    now: AtomicI64,
    /// From this time on (µs), the clock reports a fault.
    fault: Mutex<Option<(i64, String)>>,
}

impl FakeClock {
    fn script_now(&self) -> i64 {
        self.now_usecs() - START_USECS
    }

    fn advance_by(&self, usecs: i64) {
        self.wait_until(self.now_usecs() + usecs);
    }
}

impl Clock for FakeClock {
    fn now_usecs(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn wait_until(&self, deadline_usecs: i64) {
        self.now.fetch_max(deadline_usecs, Ordering::SeqCst);
    }

    fn start_usecs(&self) -> i64 {
        START_USECS
    }

    fn fault(&self) -> Option<String> {
        let fault = lock(&self.fault);
        let (since, reason) = fault.as_ref()?;
        (self.now_usecs() >= START_USECS + since).then(|| reason.clone())
    }
}

/// When a scripted call returns (script times in µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Returns {
    /// At once, at the time it started.
    Now,
    /// At this script time (or at once, when it has passed).
    At(i64),
    /// When the N-th packet injected after the call started arrives.
    AfterInjections(usize),
    /// Never: the call sleeps in the stack for good.
    Never,
    /// The backend fails the call itself (`JobEnd::Failed`) with this reason; the target is
    /// never reached.
    Fails(String),
}

/// One system call the fake expects, in the order the script makes them, and its answer.
#[derive(Debug, Clone)]
struct ScriptedCall {
    name: &'static str,
    result: SysResult,
    returns: Returns,
}

/// A TCP segment the fake stack sends at a script time, in script space: its live sequence
/// number is [`FAKE_ISN`] plus `seq`; its addresses and ports answer the last injected TCP
/// packet (or, before any, go from the local address's [`EPHEMERAL_PORT`] to the configured
/// remote end).
#[derive(Debug, Clone)]
pub struct Outbound {
    at: i64,
    flags: u16,
    seq: u32,
    len: usize,
    ack: u32,
    window: u16,
    local_port: Option<u16>,
    remote_port: Option<u16>,
    /// Raw TCP option bytes (a multiple of 4).
    options: Vec<u8>,
    checksum_ok: bool,
}

impl Outbound {
    /// `flags` in script syntax ("S.", "P.", "."), `len` payload bytes (zeros).
    pub fn tcp(at: i64, flags: &str, seq: u32, len: usize, ack: u32) -> Self {
        Outbound {
            at,
            flags: flag_bits(flags),
            seq,
            len,
            ack,
            window: FAKE_WINDOW,
            local_port: None,
            remote_port: None,
            options: Vec::new(),
            checksum_ok: true,
        }
    }

    /// With these raw TCP option bytes (a multiple of 4).
    pub fn options(self, options: &[u8]) -> Self {
        Outbound {
            options: options.to_vec(),
            ..self
        }
    }

    /// With a wrong TCP checksum.
    pub fn bad_checksum(self) -> Self {
        Outbound {
            checksum_ok: false,
            ..self
        }
    }

    pub fn window(self, window: u16) -> Self {
        Outbound { window, ..self }
    }

    /// Sent from another local port: a packet of another connection.
    pub fn with_local_port(self, port: u16) -> Self {
        Outbound {
            local_port: Some(port),
            ..self
        }
    }

    /// Sent to another remote port: a packet of another connection.
    pub fn with_remote_port(self, port: u16) -> Self {
        Outbound {
            remote_port: Some(port),
            ..self
        }
    }
}

fn flag_bits(text: &str) -> u16 {
    text.chars()
        .map(|c| match c {
            'F' => tcp_flags::FIN,
            'S' => tcp_flags::SYN,
            'R' => tcp_flags::RST,
            'P' => tcp_flags::PSH,
            '.' => tcp_flags::ACK,
            other => panic!("flag {other:?} is not one the fake knows"),
        })
        .fold(0, |bits, bit| bits | bit)
}

/// A packet the executor injected, decoded, with the script time it was written at.
#[derive(Debug, Clone)]
pub struct Injected {
    pub at: i64,
    pub packet: PacketRepr,
    pub gso_size: Option<u16>,
}

impl Injected {
    /// The TCP flags in script syntax ("S", ".", "R."), for assertions.
    pub fn flags(&self) -> String {
        let flags = self.packet.tcp().map_or(0, |t| t.flags);
        [
            (tcp_flags::FIN, 'F'),
            (tcp_flags::SYN, 'S'),
            (tcp_flags::RST, 'R'),
            (tcp_flags::PSH, 'P'),
            (tcp_flags::ACK, '.'),
        ]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, c)| *c)
        .collect()
    }
}

/// A call that reached the fake target: its name, the live fd it was made on, and the script
/// times it started (was handed to the call thread) and returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub name: String,
    pub fd: Option<i32>,
    pub started: i64,
    pub returned: i64,
}

/// Where the fake stack sits on the network (set by the test harness from the run's
/// `Addresses`).
#[derive(Debug, Clone, Copy)]
struct Endpoints {
    local_ip: IpAddr,
    remote_ip: IpAddr,
    connect_port: u16,
}

#[derive(Default)]
struct State {
    endpoints: Option<Endpoints>,
    calls_due: VecDeque<ScriptedCall>,
    /// The answer for the job in progress.
    current: Option<ScriptedCall>,
    /// When the job in progress started and returns (absolute µs).
    job_times: (i64, i64),
    outbound: VecDeque<Outbound>,
    injected: Vec<Injected>,
    calls: Vec<CallRecord>,
    /// How long writing one packet takes (µs of the fake clock).
    send_latency: i64,
    /// The layer-2 side, if the wire has one.
    link: Option<FakeLink>,
}

/// The fake's link layer: frames the stack sends (script µs, bytes), frames injected (the
/// same), and the last neighbour-answers setting.
#[derive(Default)]
struct FakeLink {
    frames_out: VecDeque<(i64, Vec<u8>)>,
    frames_in: Vec<(i64, Vec<u8>)>,
    answers: Option<bool>,
}

/// The fake stack's MAC on a layer-2 wire.
pub const FAKE_STACK_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];

/// The fake stack: its script (calls and outbound packets) and what it observed. Cloning it
/// gives another handle on the same stack.
#[derive(Clone)]
pub struct FakeStack {
    clock: Arc<FakeClock>,
    state: Arc<Mutex<State>>,
}

impl Default for FakeStack {
    fn default() -> Self {
        FakeStack::started_late_by(0)
    }
}

impl FakeStack {
    /// A stack whose clock already reads `usecs` past script time 0 when the run begins (a
    /// backend whose set-up overran the start time).
    pub fn started_late_by(usecs: i64) -> Self {
        FakeStack {
            clock: Arc::new(FakeClock {
                now: AtomicI64::new(START_USECS + usecs),
                fault: Mutex::new(None),
            }),
            state: Arc::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Expects the system call `name` next; it returns `result` at once.
    pub fn call(self, name: &'static str, result: SysResult) -> Self {
        self.call_returning(name, result, Returns::Now)
    }

    /// Expects the system call `name` next; it returns `result` as `returns` says.
    pub fn call_returning(self, name: &'static str, result: SysResult, returns: Returns) -> Self {
        self.state().calls_due.push_back(ScriptedCall {
            name,
            result,
            returns,
        });
        self
    }

    /// The stack sends `packet` at its time.
    pub fn sends(self, packet: Outbound) -> Self {
        {
            let mut state = self.state();
            let at = state.outbound.partition_point(|o| o.at <= packet.at);
            state.outbound.insert(at, packet);
        }
        self
    }

    /// The stack sends each of `packets` at its time.
    pub fn sending(self, packets: &[Outbound]) -> Self {
        packets
            .iter()
            .fold(self, |stack, packet| stack.sends(packet.clone()))
    }

    /// The wire is a layer-2 one (it has a link layer).
    pub fn with_link(self) -> Self {
        self.state().link = Some(FakeLink::default());
        self
    }

    /// The stack sends the Ethernet frame `frame` at script time `at` (a layer-2 wire).
    pub fn sends_frame(self, at: i64, frame: Vec<u8>) -> Self {
        {
            let mut state = self.state();
            let link = state.link.get_or_insert_with(FakeLink::default);
            let index = link.frames_out.partition_point(|(t, _)| *t <= at);
            link.frames_out.insert(index, (at, frame));
        }
        self
    }

    /// Every frame injected so far, with its script time.
    pub fn injected_frames(&self) -> Vec<(i64, Vec<u8>)> {
        self.state()
            .link
            .as_ref()
            .map_or_else(Vec::new, |l| l.frames_in.clone())
    }

    /// The neighbour-answers setting the run gave the link, if any.
    pub fn neighbour_answers(&self) -> Option<bool> {
        self.state().link.as_ref().and_then(|l| l.answers)
    }

    /// Writing a packet into the stack takes `usecs`.
    pub fn send_latency(self, usecs: i64) -> Self {
        self.state().send_latency = usecs;
        self
    }

    /// From script time `at` on, the clock reports `reason` as its fault.
    pub fn clock_fails_at(self, at: i64, reason: &str) -> Self {
        *lock(&self.clock.fault) = Some((at, reason.to_string()));
        self
    }

    /// Where the stack sits on the network.
    pub fn place(&self, local_ip: IpAddr, remote_ip: IpAddr, connect_port: u16) {
        self.state().endpoints = Some(Endpoints {
            local_ip,
            remote_ip,
            connect_port,
        });
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    pub fn netdev(&self) -> Box<dyn Netdev> {
        Box::new(FakeNetdev {
            stack: self.clone(),
        })
    }

    pub fn call_thread(&self) -> Box<dyn CallThread> {
        Box::new(FakeCalls {
            stack: self.clone(),
            pending: Mutex::new(None),
        })
    }

    pub fn view(&self) -> Arc<dyn StackView> {
        Arc::new(FakeView)
    }

    /// Script time now (µs).
    pub fn now(&self) -> i64 {
        self.clock.script_now()
    }

    /// Every packet injected so far.
    pub fn injected(&self) -> Vec<Injected> {
        self.state().injected.clone()
    }

    /// Every call that reached the target so far.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.state().calls.clone()
    }

    /// When the job in progress ends (absolute µs), if it is known to end.
    fn end_of(&self, pending: &Pending) -> Option<i64> {
        match &pending.returns {
            Returns::Now => Some(pending.started),
            Returns::At(t) => Some((START_USECS + t).max(pending.started)),
            Returns::AfterInjections(n) => self
                .state()
                .injected
                .get(pending.injected_before + n.saturating_sub(1))
                .map(|p| START_USECS + p.at),
            Returns::Never | Returns::Fails(_) => None,
        }
    }

    /// The answer to the target call `name` on `fd`, recorded.
    fn answer(&self, name: &str, fd: Option<i32>) -> SysResult {
        let mut state = self.state();
        let result = match state.current.take() {
            Some(call) if call.name == name => call.result,
            Some(call) => panic!("the target got {name}() while {}() was due", call.name),
            // The closing of every fd at the end of a run.
            None if name == "close" => Ok(0),
            None => panic!("the fake stack has no answer for {name}()"),
        };
        let (started, returned) = state.job_times;
        state.calls.push(CallRecord {
            name: name.to_string(),
            fd,
            started: started - START_USECS,
            returned: returned - START_USECS,
        });
        result
    }

    /// The peer of the last connection opened from outside (the source of the last injected
    /// SYN without ACK): what accept() reports.
    fn passive_peer(&self) -> Option<SocketAddr> {
        self.state()
            .injected
            .iter()
            .rev()
            .find_map(|p| match &p.packet.l4 {
                L4Repr::Tcp(t) if t.flags & (tcp_flags::SYN | tcp_flags::ACK) == tcp_flags::SYN => {
                    Some(SocketAddr::new(p.packet.ip.src, t.src_port))
                }
                _ => None,
            })
    }

    /// The wire packet for a scripted outbound segment.
    fn wire_packet(&self, o: &Outbound) -> Vec<u8> {
        let state = self.state();
        let endpoints = state
            .endpoints
            .expect("the harness places the fake stack before the run");
        let last_tcp = state.injected.iter().rev().find_map(|p| {
            p.packet
                .tcp()
                .map(|t| ((p.packet.ip.dst, t.dst_port), (p.packet.ip.src, t.src_port)))
        });
        let ((src_ip, src_port), (dst_ip, dst_port)) = last_tcp.unwrap_or((
            (endpoints.local_ip, EPHEMERAL_PORT),
            (endpoints.remote_ip, endpoints.connect_port),
        ));
        wire::encode(&PacketRepr {
            ip: IpRepr::new(src_ip, dst_ip),
            l4: L4Repr::Tcp(TcpRepr {
                src_port: o.local_port.unwrap_or(src_port),
                dst_port: o.remote_port.unwrap_or(dst_port),
                seq: FAKE_ISN.wrapping_add(o.seq),
                ack: o.ack,
                flags: o.flags,
                window: o.window,
                urgent: 0,
                options: o.options.clone(),
                header_len: 0,
                reserved: 0,
                checksum_ok: o.checksum_ok,
            }),
            payload: vec![0; o.len],
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The fake's wire: injected packets are decoded and recorded; the scripted outbound packets
/// come out in time order, each captured at its scripted time.
struct FakeNetdev {
    stack: FakeStack,
}

impl Netdev for FakeNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> std::io::Result<()> {
        let packet = wire::decode(packet)
            .unwrap_or_else(|e| panic!("the executor injected an undecodable packet: {e:?}"));
        let at = self.stack.now();
        let latency = {
            let mut state = self.stack.state();
            state.injected.push(Injected {
                at,
                packet,
                gso_size,
            });
            state.send_latency
        };
        self.stack.clock.advance_by(latency);
        Ok(())
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> std::io::Result<Option<(Vec<u8>, i64)>> {
        let clock = &self.stack.clock;
        let next = self.stack.state().outbound.front().cloned();
        let Some(next) = next else {
            let deadline = deadline_usecs
                .expect("the executor waits forever for a packet the fake never sends");
            clock.wait_until(deadline);
            return Ok(None);
        };
        let captured = START_USECS + next.at;
        if let Some(deadline) = deadline_usecs.filter(|d| captured > *d) {
            clock.wait_until(deadline);
            return Ok(None);
        }
        clock.wait_until(captured);
        self.stack.state().outbound.pop_front();
        Ok(Some((self.stack.wire_packet(&next), captured)))
    }

    fn link(&mut self) -> Option<&mut dyn LinkLayer> {
        let layer2 = self.stack.state().link.is_some();
        if layer2 {
            Some(self)
        } else {
            None
        }
    }
}

impl LinkLayer for FakeNetdev {
    fn send_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let at = self.stack.now();
        let mut state = self.stack.state();
        let link = state.link.as_mut().expect("a layer-2 wire");
        link.frames_in.push((at, frame.to_vec()));
        Ok(())
    }

    fn receive_frame(
        &mut self,
        deadline_usecs: Option<i64>,
    ) -> std::io::Result<Option<(Vec<u8>, i64)>> {
        let clock = &self.stack.clock;
        let next = self
            .stack
            .state()
            .link
            .as_ref()
            .and_then(|l| l.frames_out.front().cloned());
        let Some((at, frame)) = next else {
            let deadline = deadline_usecs
                .expect("the executor waits forever for a frame the fake never sends");
            clock.wait_until(deadline);
            return Ok(None);
        };
        let captured = START_USECS + at;
        if let Some(deadline) = deadline_usecs.filter(|d| captured > *d) {
            clock.wait_until(deadline);
            return Ok(None);
        }
        clock.wait_until(captured);
        if let Some(link) = self.stack.state().link.as_mut() {
            link.frames_out.pop_front();
        }
        Ok(Some((frame, captured)))
    }

    fn set_neighbour_answers(&mut self, on: bool) {
        if let Some(link) = self.stack.state().link.as_mut() {
            link.answers = Some(on);
        }
    }

    fn stack_mac(&self) -> Mac {
        FAKE_STACK_MAC
    }

    fn peer_mac(&self) -> Mac {
        PEER_MAC
    }
}

/// The job in progress on the fake call thread.
struct Pending {
    job: Job,
    returns: Returns,
    /// When it started (absolute µs).
    started: i64,
    /// How many packets had been injected when it started.
    injected_before: usize,
}

/// The fake call thread: a job runs on the test's thread, inside `wait`, once the time it
/// returns at has come; waiting for it moves the fake clock to that time (or by the whole
/// timeout when it does not return within it).
struct FakeCalls {
    stack: FakeStack,
    pending: Mutex<Option<Pending>>,
}

impl CallThread for FakeCalls {
    fn start(&self, job: Job) {
        let started = self.stack.clock.now_usecs();
        let (returns, injected_before) = {
            let mut state = self.stack.state();
            let due = match state.calls_due.front() {
                Some(call) if call.name == job.name => state.calls_due.pop_front(),
                // The end of a run closes every fd the script left open, unscripted.
                Some(call) if job.name != "close" => {
                    panic!(
                        "the executor started {}() while {}() was due",
                        job.name, call.name
                    )
                }
                _ => None,
            };
            let returns = due.as_ref().map_or(Returns::Now, |c| c.returns.clone());
            state.current = due.filter(|_| !matches!(returns, Returns::Fails(_)));
            (returns, state.injected.len())
        };
        let previous = lock(&self.pending).replace(Pending {
            job,
            returns,
            started,
            injected_before,
        });
        assert!(
            previous.is_none(),
            "the executor started a job while another was in progress"
        );
    }

    fn wait(&self, timeout: Option<Duration>) -> Result<Option<JobEnd>, String> {
        let clock = &self.stack.clock;
        let limit = timeout.map(|t| clock.now_usecs() + t.as_micros() as i64);
        let mut slot = lock(&self.pending);
        let Some(pending) = slot.take() else {
            clock.wait_until(limit.expect("the executor waits forever for no job"));
            return Ok(None);
        };
        if let Returns::Fails(reason) = &pending.returns {
            return Ok(Some(JobEnd::Failed {
                reason: reason.clone(),
            }));
        }
        match (self.stack.end_of(&pending), limit) {
            (Some(end), limit) if limit.is_none_or(|l| end <= l) => {
                drop(slot);
                clock.wait_until(end);
                self.stack.state().job_times = (pending.started, end);
                (pending.job.work)(&mut FakeTarget {
                    stack: self.stack.clone(),
                });
                Ok(Some(JobEnd::Returned { at_usecs: end }))
            }
            (_, Some(limit)) => {
                *slot = Some(pending);
                clock.wait_until(limit);
                Ok(None)
            }
            (_, None) => panic!(
                "the executor waits forever for {}(), which never returns",
                pending.job.name
            ),
        }
    }

    fn asleep_in_job(&self) -> bool {
        let slot = lock(&self.pending);
        slot.as_ref().is_some_and(|p| {
            !matches!(p.returns, Returns::Fails(_))
                && self
                    .stack
                    .end_of(p)
                    .is_none_or(|end| end > self.stack.clock.now_usecs())
        })
    }
}

/// The fake target: each call takes the scripted answer of the job in progress.
struct FakeTarget {
    stack: FakeStack,
}

/// Target methods that only answer (their name, and their fd when the first argument is one),
/// written as `name(TYPES OF THE OTHER ARGUMENTS);`.
macro_rules! answer_on_fd {
    ($($name:ident($($arg:ty),*);)*) => {$(
        unsafe fn $name(&mut self, fd: c_int, $(_: $arg),*) -> SysResult {
            self.stack.answer(stringify!($name), Some(fd))
        }
    )*};
}

macro_rules! answer_without_fd {
    ($($name:ident($($arg:ty),*);)*) => {$(
        unsafe fn $name(&mut self, $(_: $arg),*) -> SysResult {
            self.stack.answer(stringify!($name), None)
        }
    )*};
}

// SAFETY: the fake dereferences no pointer it is given, except accept()'s address and length,
// which it writes only within the length the caller says the address has room for.
unsafe impl Target for FakeTarget {
    fn name(&self) -> String {
        "fake".to_string()
    }

    /// Answers, and gives the peer of the last connection opened from outside.
    unsafe fn accept(&mut self, fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> SysResult {
        let result = self.stack.answer("accept", Some(fd));
        if let (Ok(_), Some(SocketAddr::V4(peer))) = (result, self.stack.passive_peer()) {
            let size = std::mem::size_of::<libc::sockaddr_in>();
            // SAFETY: a non-NULL `len` points at the room `addr` has (accept(2)'s contract);
            // sockaddr_in is written only when it fits, and `addr` is a sockaddr_storage
            // (aligned for any sockaddr) in the executor's calls.
            unsafe {
                if !addr.is_null() && !len.is_null() && *len as usize >= size {
                    addr.cast::<libc::sockaddr_in>().write(libc::sockaddr_in {
                        sin_family: libc::AF_INET as libc::sa_family_t,
                        sin_port: peer.port().to_be(),
                        sin_addr: libc::in_addr {
                            s_addr: u32::from_ne_bytes(peer.ip().octets()),
                        },
                        sin_zero: [0; 8],
                    });
                    *len = size as socklen_t;
                }
            }
        }
        result
    }

    answer_on_fd! {
        bind(*const sockaddr, socklen_t);
        listen(c_int);
        connect(*const sockaddr, socklen_t);
        read(*mut c_void, size_t);
        readv(*const iovec, c_int);
        recv(*mut c_void, size_t, c_int);
        recvfrom(*mut c_void, size_t, c_int, *mut sockaddr, *mut socklen_t);
        recvmsg(*mut msghdr, c_int);
        write(*const c_void, size_t);
        writev(*const iovec, c_int);
        send(*const c_void, size_t, c_int);
        sendto(*const c_void, size_t, c_int, *const sockaddr, socklen_t);
        sendmsg(*const msghdr, c_int);
        fcntl(c_int, Option<c_int>);
        ioctl(c_ulong, *mut c_int);
        close();
        shutdown(c_int);
        getsockopt(c_int, c_int, *mut c_void, *mut socklen_t);
        setsockopt(c_int, c_int, *const c_void, socklen_t);
        epoll_ctl(c_int, c_int, *mut epoll_event);
        epoll_wait(*mut epoll_event, c_int, c_int);
        splice(*mut libc::loff_t, c_int, *mut libc::loff_t, size_t, c_uint);
    }

    answer_without_fd! {
        socket(c_int, c_int, c_int);
        poll(*mut pollfd, nfds_t, c_int);
        epoll_create(c_int);
        pipe(*mut c_int);
    }
}

/// Code blocks and introspection read nothing of the fake stack.
struct FakeView;

impl StackView for FakeView {
    fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal> {
        Err(refusal())
    }

    fn socket_info(&self, _: i32) -> Result<Vec<(String, i64)>, Refusal> {
        Err(refusal())
    }

    fn polling_hang(&self, _: u64) -> Result<(), Refusal> {
        Err(refusal())
    }
}

fn refusal() -> Refusal {
    Refusal::NotImplemented("the fake stack has no view".to_string())
}
