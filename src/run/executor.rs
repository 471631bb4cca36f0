//! The main thread's event loop: schedules every event at its script time, injects inbound
//! packets, sniffs and verifies outbound ones, dispatches system calls to the stack thread,
//! runs commands and collects code snapshots, and checks every time against the tolerance.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::Config;
use crate::script::ast::{
    Action, Direction, Event, EventTime, Expr, ExprKind, LinkFrame, Packet, PacketBody, Script,
    Syscall, TcpSequence, TimePoint,
};
use crate::sut::clock::Clock;
use crate::sut::netdev::{LinkLayer, Netdev};
use crate::sut::network::Addresses;
use crate::sut::view::StackView;
use crate::wire::{self, tcp_flags, L4Repr, PacketRepr, TcpRepr};

use super::code::CodeRun;
use super::command::run_shell_command;
use super::link::{self as link_frames, LinkNames};
use super::outbound::{
    describe_live, differences, render_differences, script_payload_len, verify, OutboundRules,
};
use super::packets::{build_inbound, describe_script_packet, sign_expected_md5, InboundContext};
use super::sockets::{Endpoints, SeenSegment, Sockets, TrackedSocket};
use super::stack::{CallReply, ScriptCalls};
use super::syscall::{SocketEffect, SyscallOutcome};
use crate::verdict::{CallMismatch, CommandRole, Failure, FailureKind, PacketMismatch, TimedEvent};

type Result<T> = std::result::Result<T, Failure>;

/// A blocking call that has not returned yet.
struct PendingBlocking {
    line: usize,
    name: String,
    /// Script time the call should return at, and the tolerance for it.
    end_script_usecs: i64,
    tolerance_usecs: i64,
}

/// An inbound packet ready to be written.
struct PreparedInbound {
    socket: usize,
    repr: PacketRepr,
}

/// The stack under test as the executor uses it: packets, calls, time and what code blocks
/// read. The run builds it from the backend (`crate::sut::Backend`); tests build it from fakes.
pub struct StackUnderTest {
    pub netdev: Box<dyn Netdev>,
    pub calls: ScriptCalls,
    pub clock: Arc<dyn Clock>,
    pub view: Arc<dyn StackView>,
}

/// Longest time a non-blocking call waits for an outstanding blocking call (packetdrill: 1 s).
const BLOCKING_WAIT: Duration = Duration::from_secs(1);
/// How long before an event's time the wire stops taking packets (`Netdev::stand_by`), leaving
/// the clock to end the wait precisely; a packet arriving in that stretch is stamped when the
/// event's own send or receive reads the wire.
const STAND_BY_MARGIN_USECS: i64 = 300;

pub struct Executor<'a> {
    /// The script path as given, for messages.
    pub path: &'a str,
    pub script: &'a Script,
    /// The script text (code block line numbers are computed from it).
    pub source: &'a str,
    pub config: &'a Config,
    pub addresses: Addresses,
    pub directory: &'a Path,
    pub sut: StackUnderTest,
    pub script_start_usecs: i64,
    sockets: Sockets,
    /// The MPTCP connection's keys, nonces and named addresses (`run::mptcp`).
    mptcp: super::mptcp::MptcpState,
    endpoints: Endpoints,
    /// Script time of the previous event, and whether it was an inbound packet.
    previous: Option<(i64, bool)>,
    pending_blocking: Option<PendingBlocking>,
    code_runs: Vec<CodeRun>,
    /// Packets sniffed for the socket under test but not yet matched.
    backlog: VecDeque<(PacketRepr, i64)>,
    /// Packets sniffed while waiting for the current `>` line that were not the socket under
    /// test's (capture time, one-line description), for a "Timed out" failure's details.
    passed_by: Vec<(i64, String)>,
    /// Sockets kept bound to reserve remote ephemeral port numbers.
    reserved_ports: Vec<std::net::UdpSocket>,
    warnings: Vec<String>,
    /// (scheduled, actual) script times of every injection, for the timing benchmark.
    pub injection_log: Vec<(i64, i64)>,
    /// The run's defines, as the environment of its commands.
    pub command_env: Vec<(String, String)>,
    /// Addresses packets used in place of the local and remote ones (`[dst A]`, `[src A]`):
    /// the stack's answers to them (from A, to A) count as the socket under test's, so a
    /// script sees a reply the stack should not have sent, or one it expects at such an
    /// address (`> [dst A] ...`).
    stand_ins: StandIns,
}

/// See [`Executor::stand_ins`].
#[derive(Debug, Default)]
struct StandIns {
    local: Vec<std::net::IpAddr>,
    remote: Vec<std::net::IpAddr>,
}

impl StandIns {
    /// Remembers the addresses a packet names for the local and the remote end, when they are
    /// not the run's own.
    fn add(
        &mut self,
        local: Option<std::net::IpAddr>,
        remote: Option<std::net::IpAddr>,
        addresses: &Addresses,
    ) {
        for (given, run, list) in [
            (local, addresses.local_ip, &mut self.local),
            (remote, addresses.remote_ip, &mut self.remote),
        ] {
            if let Some(address) = given.filter(|a| *a != run && !list.contains(a)) {
                list.push(address);
            }
        }
    }
}

impl<'a> Executor<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        path: &'a str,
        script: &'a Script,
        source: &'a str,
        config: &'a Config,
        addresses: Addresses,
        directory: &'a Path,
        sut: StackUnderTest,
        script_start_usecs: i64,
    ) -> Self {
        let endpoints = Endpoints {
            local_ip: addresses.local_ip,
            remote_ip: addresses.remote_ip,
            bind_port: config.bind_port,
            connect_port: config.connect_port,
        };
        Executor {
            path,
            script,
            source,
            config,
            addresses,
            directory,
            sut,
            script_start_usecs,
            sockets: Sockets::default(),
            mptcp: Default::default(),
            endpoints,
            previous: None,
            pending_blocking: None,
            code_runs: Vec::new(),
            backlog: VecDeque::new(),
            passed_by: Vec::new(),
            reserved_ports: Vec::new(),
            warnings: Vec::new(),
            injection_log: Vec::new(),
            command_env: Vec::new(),
            stand_ins: StandIns::default(),
        }
    }

    /// Warnings collected with `--non_fatal=packet`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn now_script(&self) -> i64 {
        self.sut.clock.now_usecs() - self.script_start_usecs
    }

    /// The failure of the event at `line`.
    fn fail(&self, line: usize, kind: FailureKind) -> Failure {
        Failure::at(self.path, line, kind)
    }

    /// `FILE:LINE:COL: error: MESSAGE` for a problem at `span` of the event at `line`.
    fn located(&self, span: crate::script::ast::Span, line: usize, message: &str) -> String {
        let at = crate::script::ScriptError::at_span(self.path, self.source, span, "");
        let (line, column) = at.location.map_or((line, 1), |l| (l.line, l.column));
        format!("{}:{line}:{column}: error: {message}", self.path)
    }

    /// A failure of the call at `line`.
    fn call_failed(&self, line: usize, call: &str, mismatch: CallMismatch) -> Failure {
        self.fail(
            line,
            FailureKind::Syscall {
                call: call.to_string(),
                mismatch,
            },
        )
    }

    /// A packet that could not be built, injected or sniffed.
    fn packet_failed(&self, line: usize, message: String) -> Failure {
        self.fail(line, FailureKind::PacketHandling { message })
    }

    fn verbose(&self, text: impl FnOnce() -> String) {
        if self.config.verbose > 0 {
            println!("{}", text());
        }
    }

    /// Runs every event, then the end-of-script steps that follow a successful run.
    pub fn run_events(&mut self) -> Result<()> {
        let answers = self.config.neighbour_answers;
        if let Some(link) = self.sut.netdev.link() {
            link.set_neighbour_answers(answers);
        }
        for event in &self.script.events {
            self.collect_blocking(Some(Duration::ZERO))?;
            let outcome = self.run_event(event);
            // A stack's clock that failed makes every time after it meaningless.
            if let Some(message) = self.sut.clock.fault() {
                return Err(self.fail(event.line, FailureKind::Stack { message }));
            }
            outcome?;
        }
        Ok(())
    }

    /// Script time of a time point: absolute, or relative to the anchor.
    fn resolve(&self, point: &TimePoint, anchor: i64) -> i64 {
        if point.relative {
            anchor + point.micros
        } else {
            point.micros
        }
    }

    /// The anchor for relative times: now, or the previous inbound packet's script time when
    /// this event is an inbound packet too (so back-to-back injections do not drift).
    fn anchor(&self, event: &Event) -> i64 {
        let inbound = is_inbound(event);
        match self.previous {
            Some((t, true)) if inbound => t,
            _ => self.now_script().max(self.previous.map_or(0, |p| p.0)),
        }
    }

    fn tolerance(&self, script_time: i64, since: i64) -> i64 {
        let percent =
            (self.config.tolerance_percent / 100.0 * (script_time - since).max(0) as f64) as i64;
        i64::from(self.config.tolerance_usecs).max(percent)
    }

    fn run_event(&mut self, event: &Event) -> Result<()> {
        if let Some(problem) =
            super::dialect::check_event(event, &mut super::dialect::kernel_has_sctp)
        {
            let message = self.located(problem.span, event.line, &problem.message);
            return Err(self.fail(event.line, FailureKind::Unsupported { message }));
        }
        let anchor = self.anchor(event);
        let previous_time = self.previous.map_or(0, |p| p.0);
        let (start, range_end) = match &event.time {
            EventTime::At(t) | EventTime::Blocking { start: t, .. } => {
                (Some(self.resolve(t, anchor)), None)
            }
            EventTime::Range { start, end } => (
                Some(self.resolve(start, anchor)),
                Some(self.resolve(end, anchor)),
            ),
            EventTime::Any(_) => (None, None),
        };
        let line = event.line;
        let event_time = start.unwrap_or_else(|| self.now_script());
        match &event.action {
            Action::Packet(packet) if packet.direction == Direction::Inbound => {
                // Build first, so only the write itself happens at the scheduled time.
                let prepared = self.prepare_inbound(packet, line)?;
                self.wait_for(event_time, line)?;
                let injected_at = self.now_script();
                self.send_inbound(prepared, packet, line)?;
                self.injected(line, event_time, injected_at, previous_time)?;
            }
            Action::Packet(packet) => {
                let timeout = self.outbound_deadline(start, previous_time);
                let happened = self.expect_outbound(packet, line, event_time, timeout)?;
                self.sniffed(line, start, range_end, happened, previous_time)?;
            }
            Action::Link(frame) if frame.direction == Direction::Inbound => {
                let bytes = self.prepare_link_frame(frame, line)?;
                self.wait_for(event_time, line)?;
                let injected_at = self.now_script();
                self.send_link_frame(&bytes, frame, line, injected_at)?;
                self.injected(line, event_time, injected_at, previous_time)?;
            }
            Action::Link(frame) => {
                let timeout = self.outbound_deadline(start, previous_time);
                let happened = self.expect_link_frame(frame, line, event_time, timeout)?;
                self.sniffed(line, start, range_end, happened, previous_time)?;
            }
            Action::Syscall(call) => {
                self.start_at(event_time, TimedEvent::SyscallStart, line, previous_time)?;
                let end = match &event.time {
                    EventTime::Blocking { end, .. } => Some(self.resolve(end, anchor)),
                    _ => None,
                };
                self.syscall(call, line, event_time, end)?;
                self.previous = Some((event_time, false));
            }
            Action::Command(command) => {
                let started =
                    self.start_at(event_time, TimedEvent::Command, line, previous_time)?;
                self.verbose(|| format!("{:.6} `{}`", started as f64 / 1e6, command.text));
                run_shell_command(&command.text, self.directory, &self.command_env).map_err(
                    |message| {
                        self.fail(
                            line,
                            FailureKind::Command {
                                role: CommandRole::Event,
                                command: command.text.clone(),
                                message,
                            },
                        )
                    },
                )?;
                self.previous = Some((event_time, false));
            }
            Action::Code(code) => {
                self.start_at(event_time, TimedEvent::CodeData, line, previous_time)?;
                let live_fd = self
                    .sockets
                    .socket_under_test()
                    .and_then(|s| s.live_fd)
                    .ok_or_else(|| {
                        let message = "no socket to use for code".to_string();
                        self.fail(line, FailureKind::CodeData { message })
                    })?;
                let snapshot = self.sut.view.socket_info(live_fd).map_err(|e| {
                    let message = e.reason().to_string();
                    self.fail(line, FailureKind::CodeData { message })
                })?;
                self.code_runs
                    .push(CodeRun::from_block(code, self.source, snapshot));
                self.previous = Some((event_time, false));
            }
            Action::NeedsDefine(missing) => {
                let message = self.located(missing.name.span, line, &missing.message);
                return Err(self.fail(line, FailureKind::Script { message }));
            }
        }
        Ok(())
    }

    /// After an injection (packet or frame) at script time `injected_at`: logs it and checks
    /// its time.
    fn injected(
        &mut self,
        line: usize,
        event_time: i64,
        injected_at: i64,
        previous_time: i64,
    ) -> Result<()> {
        self.injection_log.push((event_time, injected_at));
        self.check_time(
            TimedEvent::InboundPacket,
            line,
            event_time,
            None,
            injected_at,
            previous_time,
        )?;
        self.previous = Some((event_time, true));
        Ok(())
    }

    /// How long an outbound line waits (absolute µs): two seconds past its time's gap from the
    /// previous event; forever for `*`.
    fn outbound_deadline(&self, start: Option<i64>, previous_time: i64) -> Option<i64> {
        start.map(|t| {
            let gap_secs = ((t - previous_time).max(0)) / 1_000_000;
            self.sut.clock.now_usecs() + (gap_secs + 2) * 1_000_000
        })
    }

    /// After an outbound line's packet or frame came at script time `happened`: checks its
    /// time against the line's (`start`, `range_end`; none for `*`).
    fn sniffed(
        &mut self,
        line: usize,
        start: Option<i64>,
        range_end: Option<i64>,
        happened: i64,
        previous_time: i64,
    ) -> Result<()> {
        if let Some(expected) = start {
            self.check_time(
                TimedEvent::OutboundPacket,
                line,
                expected,
                range_end,
                happened,
                previous_time,
            )?;
        }
        self.previous = Some((start.unwrap_or(happened), false));
        Ok(())
    }

    /// Waits for an event's time, then checks that it starts within the tolerance; returns the
    /// script time it started at.
    fn start_at(
        &mut self,
        event_time: i64,
        event: TimedEvent,
        line: usize,
        previous_time: i64,
    ) -> Result<i64> {
        self.wait_for(event_time, line)?;
        let started = self.now_script();
        self.check_time(event, line, event_time, None, started, previous_time)?;
        Ok(started)
    }

    /// Waits until script time `t` (for the event on `line`), then collects a blocking call
    /// that returned meanwhile (its reply carries the time it returned, so when it is
    /// collected does not matter).
    fn wait_for(&mut self, t: i64, line: usize) -> Result<()> {
        let deadline = self.script_start_usecs + t;
        // The wire takes what the stack sends meanwhile (so each packet gets the time it
        // arrived), leaving the clock the last stretch, which it keeps precisely.
        if let Err(e) = self.sut.netdev.stand_by(deadline - STAND_BY_MARGIN_USECS) {
            return Err(self.packet_failed(line, format!("error reading packet: {e}")));
        }
        self.sut.clock.wait_until(deadline);
        self.collect_blocking(Some(Duration::ZERO))
    }

    /// Checks one event time: `|actual − expected| ≤ tolerance`, or within a range ± tolerance.
    fn check_time(
        &self,
        event: TimedEvent,
        line: usize,
        expected: i64,
        range_end: Option<i64>,
        actual: i64,
        previous: i64,
    ) -> Result<()> {
        if self.previous.is_none() {
            return Ok(()); // the first event is not checked
        }
        let tolerance = self.tolerance(expected, previous);
        let high = range_end.unwrap_or(expected);
        if actual >= expected - tolerance && actual <= high + tolerance {
            return Ok(());
        }
        Err(self.fail(
            line,
            FailureKind::Timing {
                event,
                expected_usecs: expected,
                expected_end_usecs: range_end,
                actual_usecs: actual,
                tolerance_usecs: tolerance,
            },
        ))
    }

    // -----------------------------------------------------------------------------------------
    // Packets

    fn reserve_remote_port(
        reserved: &mut Vec<std::net::UdpSocket>,
    ) -> std::result::Result<u16, String> {
        // A bound socket keeps the kernel from choosing this port for a connection of its own.
        let socket = std::net::UdpSocket::bind("0.0.0.0:0")
            .map_err(|e| format!("cannot reserve a port: {e}"))?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        reserved.push(socket);
        Ok(port)
    }

    /// The wire packet for an inbound script packet, with the socket it goes to.
    fn prepare_inbound(&mut self, packet: &Packet, line: usize) -> Result<PreparedInbound> {
        let (protocol, syn, ack, seq) = match &packet.body {
            PacketBody::Tcp(t) => {
                let seq = match t.sequence {
                    TcpSequence::Range { start, .. } => start,
                    TcpSequence::Ignored { .. } => 0,
                };
                (libc::IPPROTO_TCP, t.flags.syn, t.flags.ack, seq)
            }
            PacketBody::Udp(_) => (libc::IPPROTO_UDP, false, false, 0),
            PacketBody::UdpLite(_) => (libc::IPPROTO_UDPLITE, false, false, 0),
            PacketBody::Sctp(_) => (libc::IPPROTO_SCTP, false, false, 0),
            PacketBody::Icmp(_) => (
                if self.addresses.wire_ipv6() {
                    libc::IPPROTO_ICMPV6
                } else {
                    libc::IPPROTO_ICMP
                },
                false,
                false,
                0,
            ),
        };
        let syn_without_ack = syn && !ack;
        let protocol_for_socket = if matches!(packet.body, PacketBody::Icmp(_)) {
            self.sockets
                .socket_under_test()
                .map_or(libc::IPPROTO_TCP, |s| s.protocol)
        } else {
            protocol
        };
        let subflow = self
            .mptcp
            .subflow_ips(
                packet,
                true,
                self.addresses.local_ip,
                self.addresses.remote_ip,
            )
            .map_err(|e| self.packet_failed(line, e))?;
        if let Some((source, destination)) = subflow {
            let main = source.is_none_or(|s| s == self.addresses.remote_ip)
                && destination == self.addresses.local_ip;
            if !self.sockets.select_subflow(destination, source) && !main {
                if !syn_without_ack {
                    let message = "no MPTCP subflow between these addresses yet (a SYN opens one)";
                    return Err(self.packet_failed(line, message.to_string()));
                }
                let port = Self::reserve_remote_port(&mut self.reserved_ports)
                    .map_err(|e| self.packet_failed(line, e))?;
                let local = std::net::SocketAddr::new(destination, self.endpoints.bind_port);
                let remote =
                    std::net::SocketAddr::new(source.unwrap_or(self.addresses.remote_ip), port);
                self.sockets.new_subflow(local, remote, seq);
            }
        }
        let reserved = &mut self.reserved_ports;
        let index = self
            .sockets
            .for_inbound(
                protocol_for_socket,
                syn_without_ack,
                seq,
                &self.endpoints,
                || Self::reserve_remote_port(reserved),
            )
            .map_err(|e| self.packet_failed(line, e))?;
        if syn && self.sockets.all[index].remote_isn.is_none() {
            // The first SYN-ACK of an active open carries the peer's ISN (a passive child got
            // it from its SYN); later SYNs, e.g. into an established connection, do not change it.
            self.sockets.all[index].remote_isn = Some(seq);
        }
        let resolved;
        let packet = if super::mptcp::uses_mptcp(packet) {
            resolved = self
                .mptcp
                .resolve_inbound(packet, self.addresses.remote_ip, self.addresses.wire_ipv6())
                .map_err(|e| self.packet_failed(line, e))?;
            &resolved
        } else {
            packet
        };
        // Once a script names MPTCP subflow ends, a line goes between its subflow's addresses.
        let (local_ip, remote_ip) = match (self.mptcp.names_subflows(), &self.sockets.all[index]) {
            (true, s) => (
                s.local.map_or(self.addresses.local_ip, |a| a.ip()),
                s.remote.map_or(self.addresses.remote_ip, |a| a.ip()),
            ),
            (false, _) => (self.addresses.local_ip, self.addresses.remote_ip),
        };
        let ctx = InboundContext {
            socket: &self.sockets.all[index],
            local_ip,
            remote_ip,
            ipv6: self.addresses.wire_ipv6(),
            tcp_ts_ecr_scaled: self.config.tcp_ts_ecr_scaled,
            tcp_md5_secret: self.config.tcp_md5_secret.as_deref().map(str::as_bytes),
        };
        let repr = build_inbound(packet, &ctx).map_err(|e| self.packet_failed(line, e))?;
        self.stand_ins
            .add(packet.ip.dst, packet.ip.src, &self.addresses);
        Ok(PreparedInbound {
            socket: index,
            repr,
        })
    }

    /// Injects a prepared packet and remembers it as the socket's last injected segment.
    fn send_inbound(
        &mut self,
        prepared: PreparedInbound,
        packet: &Packet,
        line: usize,
    ) -> Result<()> {
        let PreparedInbound {
            socket: index,
            repr,
        } = prepared;
        let bytes = wire::encode(&repr);
        let gso = (self.config.mss > 0 && matches!(packet.body, PacketBody::Tcp(_)))
            .then_some(self.config.mss as u16);
        self.sut
            .netdev
            .send(&bytes, gso)
            .map_err(|e| self.packet_failed(line, format!("error writing packet: {e}")))?;
        if let L4Repr::Tcp(t) = &repr.l4 {
            self.sockets.all[index].last_injected = Some(seen(t, repr.payload.len()));
        }
        self.verbose(|| {
            format!(
                "inbound injected packet: {:.6} {}",
                self.now_script() as f64 / 1e6,
                describe_script_packet(packet)
            )
        });
        Ok(())
    }

    /// The next live packet of the socket under test, from the backlog or the wire.
    fn next_outbound(
        &mut self,
        deadline: Option<i64>,
    ) -> std::io::Result<Option<(PacketRepr, i64)>> {
        if let Some(p) = self.backlog.pop_front() {
            return Ok(Some(p));
        }
        loop {
            let Some((bytes, captured)) = self.sut.netdev.receive(deadline)? else {
                return Ok(None);
            };
            let Ok(packet) = wire::decode(&bytes) else {
                self.passed_by
                    .push((captured, format!("undecodable ({} bytes)", bytes.len())));
                continue;
            };
            if self.belongs_to_socket_under_test(&packet) {
                return Ok(Some((packet, captured)));
            }
            if self.passed_by.len() < MAX_PASSED_BY {
                self.passed_by.push((captured, describe_passing(&packet)));
            }
        }
    }

    fn belongs_to_socket_under_test(&mut self, packet: &PacketRepr) -> bool {
        let ports = match &packet.l4 {
            L4Repr::Tcp(t) => Some((t.src_port, t.dst_port)),
            L4Repr::Udp(u) => Some((u.src_port, u.dst_port)),
            L4Repr::UdpLite(u) => Some((u.src_port, u.dst_port)),
            L4Repr::Icmp(_) => None,
            L4Repr::Other(_) => return false,
        };
        // An answer to a packet sent with stand-in addresses is seen as if to the real ones.
        let src_ip = if self.stand_ins.local.contains(&packet.ip.src) {
            self.addresses.local_ip
        } else {
            packet.ip.src
        };
        let dst_ip = if self.stand_ins.remote.contains(&packet.ip.dst) {
            self.addresses.remote_ip
        } else {
            packet.ip.dst
        };
        // A packet of another tracked socket (an earlier connection's retransmission or FIN)
        // is never the socket under test's, even before its local port is known.
        if let (Some((src_port, dst_port)), Some(under_test)) = (ports, self.sockets.under_test) {
            let (src, dst) = (
                SocketAddr::new(src_ip, src_port),
                SocketAddr::new(dst_ip, dst_port),
            );
            let other_owner = self
                .sockets
                .all
                .iter()
                .enumerate()
                .any(|(i, s)| i != under_test && s.local == Some(src) && s.remote == Some(dst));
            if other_owner {
                return false;
            }
        }
        let Some(socket) = self.sockets.socket_under_test_mut() else {
            return false;
        };
        let Some((src_port, dst_port)) = ports else {
            // ICMP the stack sends: addressed to the peer.
            return dst_ip == self.addresses.remote_ip;
        };
        let protocol_matches = match &packet.l4 {
            L4Repr::Tcp(_) => socket.protocol == libc::IPPROTO_TCP,
            L4Repr::Udp(_) => socket.protocol == libc::IPPROTO_UDP,
            L4Repr::UdpLite(_) => socket.protocol == libc::IPPROTO_UDPLITE,
            _ => false,
        };
        let src = SocketAddr::new(src_ip, src_port);
        let dst = SocketAddr::new(dst_ip, dst_port);
        let opens = match &packet.l4 {
            L4Repr::Tcp(t) => t.flags & tcp_flags::SYN != 0,
            _ => true,
        };
        if !protocol_matches || !socket.matches_outbound(src, dst, opens) {
            return false;
        }
        if socket.local.is_none() {
            socket.local = Some(src); // an active open teaches the local address and port
        }
        true
    }

    // -----------------------------------------------------------------------------------------
    // Layer-2 frames

    /// The wire's link layer, or the line's failure on a wire without one (tun).
    fn link_layer(&mut self, line: usize) -> Result<&mut dyn LinkLayer> {
        let path = self.path;
        self.sut.netdev.link().ok_or_else(|| {
            let message = "arp and ndp lines need a layer-2 wire (--netdev=veth, af_xdp or \
                           dpdk); tun carries IP packets only"
                .to_string();
            Failure::at(path, line, FailureKind::PacketHandling { message })
        })
    }

    /// The names a layer-2 line may use, for this run.
    fn link_names(&mut self, line: usize) -> Result<LinkNames> {
        let link = self.link_layer(line)?;
        let (stack_mac, peer_mac) = (link.stack_mac(), link.peer_mac());
        Ok(LinkNames {
            stack_mac,
            peer_mac,
            local_ip: self.addresses.local_ip,
            remote_ip: self.addresses.remote_ip,
            gateway_ip: self.addresses.gateway_ip,
        })
    }

    fn prepare_link_frame(&mut self, frame: &LinkFrame, line: usize) -> Result<Vec<u8>> {
        let names = self.link_names(line)?;
        link_frames::build_inbound(frame, &names).map_err(|e| self.packet_failed(line, e))
    }

    /// Writes an inbound line's frame (at script time `injected_at`).
    fn send_link_frame(
        &mut self,
        bytes: &[u8],
        frame: &LinkFrame,
        line: usize,
        injected_at: i64,
    ) -> Result<()> {
        let path = self.path;
        self.link_layer(line)?.send_frame(bytes).map_err(|e| {
            let message = format!("error writing frame: {e}");
            Failure::at(path, line, FailureKind::PacketHandling { message })
        })?;
        self.verbose(|| {
            format!(
                "inbound injected frame: {:.6} {}",
                injected_at as f64 / 1e6,
                self.script_text(frame.span)
            )
        });
        Ok(())
    }

    /// The script's text of a line's action, on one line.
    fn script_text(&self, span: crate::script::ast::Span) -> String {
        let text = self.source.get(span.start..span.end).unwrap_or("?");
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// Waits for the next frame of the kind an outbound layer-2 line names (frames of other
    /// kinds pass by), verifies it and returns its capture time in script time.
    fn expect_link_frame(
        &mut self,
        frame: &LinkFrame,
        line: usize,
        expected: i64,
        deadline: Option<i64>,
    ) -> Result<i64> {
        let names = self.link_names(line)?;
        let path = self.path;
        let mut passed_by = Vec::new();
        let (live, captured) = loop {
            let received = self
                .link_layer(line)?
                .receive_frame(deadline)
                .map_err(|e| {
                    let message = format!("error reading frame: {e}");
                    Failure::at(path, line, FailureKind::PacketHandling { message })
                })?;
            let Some((bytes, captured)) = received else {
                let mut failure = self.fail(line, FailureKind::PacketMissing);
                failure.details = missing_details(
                    format!(
                        "script frame: {:9.6} {}",
                        expected as f64 / 1e6,
                        self.script_text(frame.span)
                    ),
                    passed_by,
                    "frames",
                    "of the kind awaited",
                );
                return Err(failure);
            };
            match link_frames::decode(&bytes) {
                Some(live) if link_frames::is_awaited(frame, &live) => break (live, captured),
                other => {
                    let what = other.map_or("an unknown frame".to_string(), |live| {
                        link_frames::describe_live(&live)
                    });
                    self.verbose(|| format!("outbound frame passed by: {what}"));
                    if passed_by.len() < MAX_PASSED_BY {
                        passed_by.push((captured - self.script_start_usecs, what));
                    }
                }
            }
        };
        let happened = captured - self.script_start_usecs;
        let secs = |u: i64| format!("{:9.6}", u as f64 / 1e6);
        let described = link_frames::describe_live(&live);
        self.verbose(|| format!("outbound sniffed frame: {} {described}", secs(happened)));
        if let Err(mismatch) = link_frames::verify(frame, &live, &names) {
            let mut failure = self.fail(line, FailureKind::Packet { mismatch });
            failure.details = vec![
                format!(
                    "script frame: {} {}",
                    secs(expected),
                    self.script_text(frame.span)
                ),
                format!("actual frame: {} {described}", secs(happened)),
            ];
            return self.packet_mismatch(failure, happened);
        }
        Ok(happened)
    }

    /// An outbound line's mismatch: its failure, or with `--non_fatal=packet` a warning, and
    /// the run goes on from `happened`.
    fn packet_mismatch(&mut self, failure: Failure, happened: i64) -> Result<i64> {
        if !self.config.non_fatal_packet {
            return Err(failure);
        }
        let warning =
            |text: String| text.replacen("error handling packet", "warning handling packet", 1);
        eprintln!("{}", warning(failure.render()));
        self.warnings.push(warning(failure.message()));
        Ok(happened)
    }

    /// Sniffs the packet a `>` line expects (merging TSO/GSO pieces unless
    /// --strict_segments), verifies it and returns its capture time in script time.
    fn expect_outbound(
        &mut self,
        packet: &Packet,
        line: usize,
        expected: i64,
        deadline: Option<i64>,
    ) -> Result<i64> {
        if self.sockets.socket_under_test().is_none() {
            let message = "no socket under test to expect packets from".to_string();
            return Err(self.packet_failed(line, message));
        }
        // A line naming an MPTCP subflow's ends expects a packet of that subflow.
        match self.mptcp.subflow_ips(
            packet,
            false,
            self.addresses.local_ip,
            self.addresses.remote_ip,
        ) {
            Ok(Some((source, destination))) => {
                if let Some(source) = source {
                    self.sockets.select_subflow(source, Some(destination));
                }
            }
            Ok(None) => {}
            Err(message) => return Err(self.packet_failed(line, message)),
        }
        // Addresses the line names in place of the run's (checked by `verify`).
        self.stand_ins
            .add(packet.ip.src, packet.ip.dst, &self.addresses);
        let path = self.path;
        let io_error = |e: std::io::Error| {
            let message = format!("error reading packet: {e}");
            Failure::at(path, line, FailureKind::PacketHandling { message })
        };
        self.passed_by.clear();
        let secs = |u: i64| format!("{:9.6}", u as f64 / 1e6);
        let Some((mut live, captured)) = self.next_outbound(deadline).map_err(io_error)? else {
            let mut failure = Failure::at(path, line, FailureKind::PacketMissing);
            let start = self.script_start_usecs;
            let passed_by = std::mem::take(&mut self.passed_by);
            failure.details = missing_details(
                format!(
                    "script packet: {} {}",
                    secs(expected),
                    describe_script_packet(packet)
                ),
                passed_by
                    .into_iter()
                    .map(|(at, what)| (at - start, what))
                    .collect(),
                "packets",
                "of the socket under test",
            );
            return Err(failure);
        };
        let wanted = script_payload_len(packet);
        let mut captured = captured;
        if !self.config.strict_segments {
            // A merged packet happened when its last piece left (as upstream times it).
            if let Some(last) = self
                .merge_segments(&mut live, wanted, deadline)
                .map_err(io_error)?
            {
                captured = last;
            }
        }
        let happened = captured - self.script_start_usecs;
        // MPTCP options are compared (and their keys learned) here; the TCP-level comparison
        // sees the live option bytes in their place.
        let (checked, mptcp_differences) = if super::mptcp::uses_mptcp(packet) {
            self.mptcp
                .check_outbound(packet, &live, self.addresses.wire_ipv6())
        } else {
            (packet.clone(), Vec::new())
        };
        // `md5 valid`: the digest this live segment must carry under --tcp_md5_secret.
        let checked = sign_expected_md5(checked, &live, self.config.tcp_md5_secret.as_deref())
            .map_err(|message| self.packet_failed(line, message))?;
        let (script_packet, packet) = (packet, &checked);
        let socket = self.sockets.socket_under_test_mut().expect("checked above");
        if let L4Repr::Tcp(t) = &live.l4 {
            socket.last_sent = Some(seen(t, live.payload.len()));
        }
        let rules = OutboundRules {
            ipv6: self.addresses.wire_ipv6(),
            ts_tick_usecs: self.config.tcp_ts_tick_usecs,
            strict_ts_ecr: self.config.strict_ts_ecr,
            ts_tolerance_usecs: i64::from(self.config.tolerance_usecs)
                .max((self.config.tolerance_percent / 100.0 * expected.max(0) as f64) as i64),
        };
        let result = if live.payload.len() > wanted
            && matches!(packet.body, PacketBody::Tcp(_) | PacketBody::Udp(_))
        {
            Err(PacketMismatch::PayloadLength {
                expected: wanted,
                actual: live.payload.len(),
            })
        } else {
            verify(packet, &live, socket, &rules).and_then(|()| {
                mptcp_differences
                    .first()
                    .map_or(Ok(()), |d| Err(super::mptcp::mismatch(d)))
            })
        };
        let socket: &TrackedSocket = self.sockets.socket_under_test().expect("checked above");
        let shown = self.mptcp.script_space(&live);
        self.verbose(|| {
            format!(
                "outbound sniffed packet: {} {}",
                secs(happened),
                describe_live(&shown, socket, rules.ipv6)
            )
        });
        if let Err(mismatch) = result {
            let mut failure = self.fail(line, FailureKind::Packet { mismatch });
            failure.details = vec![
                format!(
                    "script packet: {} {}",
                    secs(expected),
                    describe_script_packet(script_packet)
                ),
                format!(
                    "actual packet: {} {}",
                    secs(happened),
                    describe_live(&shown, socket, rules.ipv6)
                ),
            ];
            let mut all = differences(packet, &live, socket, rules.ipv6);
            all.extend(mptcp_differences);
            failure.details.extend(render_differences(&all));
            return self.packet_mismatch(failure, happened);
        }
        Ok(happened)
    }

    /// Merges consecutive segments of one TSO/GSO burst until `wanted` payload bytes.
    /// Returns the capture time of the last piece merged, if any.
    fn merge_segments(
        &mut self,
        live: &mut PacketRepr,
        wanted: usize,
        deadline: Option<i64>,
    ) -> std::io::Result<Option<i64>> {
        let mut last_captured = None;
        let mut previous_len = live.payload.len();
        while live.payload.len() < wanted && previous_len > 0 {
            let Some((next, captured)) = self.next_outbound(deadline)? else {
                return Ok(last_captured);
            };
            let mergeable = match (&live.l4, &next.l4) {
                (L4Repr::Tcp(a), L4Repr::Tcp(b)) => {
                    let ignore = tcp_flags::FIN | tcp_flags::PSH | tcp_flags::CWR;
                    a.flags & !ignore == b.flags & !ignore
                        && a.ack == b.ack
                        && a.window == b.window
                        && a.header_len == b.header_len
                        && a.seq.wrapping_add(live.payload.len() as u32) == b.seq
                        && next.payload.len() <= previous_len
                }
                _ => false,
            };
            if !mergeable {
                self.backlog.push_front((next, captured));
                return Ok(last_captured);
            }
            previous_len = next.payload.len();
            last_captured = Some(captured);
            let (L4Repr::Tcp(first), L4Repr::Tcp(last)) = (&mut live.l4, next.l4) else {
                unreachable!()
            };
            let cwr = first.flags & tcp_flags::CWR;
            let (seq, ip_id) = (first.seq, live.ip.id);
            *first = TcpRepr {
                seq,
                flags: (last.flags & !tcp_flags::CWR) | cwr,
                checksum_ok: first.checksum_ok && last.checksum_ok,
                ..last
            };
            live.payload.extend_from_slice(&next.payload);
            live.ip = crate::wire::IpRepr {
                id: ip_id,
                ..next.ip
            };
            live.ip.length_field += live.payload.len() - next.payload.len();
        }
        Ok(last_captured)
    }

    // -----------------------------------------------------------------------------------------
    // System calls

    fn syscall(&mut self, call: &Syscall, line: usize, start: i64, end: Option<i64>) -> Result<()> {
        if self.pending_blocking.is_some() {
            // Calls run one after another on the stack thread: wait for the outstanding one
            // (through the backend's call thread, which returns as soon as the call does).
            self.collect_blocking(Some(BLOCKING_WAIT))?;
            if self.pending_blocking.is_some() {
                let what = if end.is_some() {
                    "blocking system call while another blocking system call is already in progress"
                } else {
                    "system call while a blocking system call is in progress"
                };
                return Err(self.call_failed(line, &call.name.value, what.into()));
            }
        }
        self.verbose(|| {
            format!(
                "{:.6} {}",
                self.now_script() as f64 / 1e6,
                self.call_text(call)
            )
        });
        // A call that starts a connection must be known before it returns: a blocking
        // connect() sends its SYN while it is still blocked.
        if let Some(script_fd) = connecting_fd(call) {
            self.sockets
                .apply(&SocketEffect::Connecting { script_fd }, &self.endpoints);
        }
        self.sut.calls.start(call, end.is_some());
        let Some(end) = end else {
            let reply = self
                .sut
                .calls
                .reply(None)
                .map_err(|message| self.fail(line, FailureKind::Stack { message }))?
                .ok_or_else(|| {
                    let message = "the stack thread did not answer".to_string();
                    self.fail(line, FailureKind::Stack { message })
                })?;
            return self
                .apply_syscall_reply(&call.name.value, line, reply)
                .map(|_| ());
        };
        // Blocking: go on once the call sleeps in the kernel, or has returned.
        let tolerance = self.tolerance(end, start);
        self.pending_blocking = Some(PendingBlocking {
            line,
            name: call.name.value.clone(),
            end_script_usecs: end,
            tolerance_usecs: tolerance,
        });
        loop {
            if let Some(reply) = self
                .sut
                .calls
                .reply(Some(Duration::from_micros(20)))
                .map_err(|message| self.fail(line, FailureKind::Stack { message }))?
            {
                return self.finish_blocking(reply);
            }
            if self.sut.calls.blocked() {
                return Ok(());
            }
        }
    }

    /// Collects the reply of an outstanding blocking call if it arrives within `wait`.
    fn collect_blocking(&mut self, wait: Option<Duration>) -> Result<()> {
        if self.pending_blocking.is_none() {
            return Ok(());
        }
        let line = self.pending_blocking.as_ref().map_or(0, |p| p.line);
        match self
            .sut
            .calls
            .reply(wait)
            .map_err(|message| self.fail(line, FailureKind::Stack { message }))?
        {
            Some(reply) => self.finish_blocking(reply),
            None => Ok(()),
        }
    }

    fn finish_blocking(&mut self, reply: CallReply) -> Result<()> {
        let pending = self
            .pending_blocking
            .take()
            .expect("a blocking call is pending");
        let name = pending.name.clone();
        let returned = self.apply_syscall_reply(&name, pending.line, reply)?;
        let (expected, tolerance) = (pending.end_script_usecs, pending.tolerance_usecs);
        if (returned - expected).abs() > tolerance {
            return Err(self.fail(
                pending.line,
                FailureKind::Timing {
                    event: TimedEvent::SyscallReturn,
                    expected_usecs: expected,
                    expected_end_usecs: None,
                    actual_usecs: returned,
                    tolerance_usecs: tolerance,
                },
            ));
        }
        Ok(())
    }

    /// A system call as the script wrote it, on one line (for --verbose).
    fn call_text(&self, call: &Syscall) -> String {
        let end = call.errno.as_ref().map_or(call.result.span.end, |e| {
            e.span.end.max(call.result.span.end)
        });
        let text = self
            .source
            .get(call.name.span.start..end)
            .unwrap_or(&call.name.value);
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The call's verdict from the stack thread; on success its socket effects are applied
    /// and the script time it returned at is returned.
    fn apply_syscall_reply(&mut self, name: &str, line: usize, reply: CallReply) -> Result<i64> {
        let outcome: SyscallOutcome = reply
            .result
            .map_err(|mismatch| self.call_failed(line, name, mismatch))?;
        let returned = reply
            .returned_usecs
            .map_or_else(|| self.now_script(), |t| t - self.script_start_usecs);
        self.verbose(|| {
            format!(
                "{:.6} {name}() returned {}",
                returned as f64 / 1e6,
                outcome.result
            )
        });
        for effect in &outcome.effects {
            self.sockets.apply(effect, &self.endpoints);
        }
        Ok(returned)
    }

    // -----------------------------------------------------------------------------------------
    // End of script

    /// Code blocks collected during the run, for running after the cleanup command.
    pub fn take_code_runs(&mut self) -> Vec<CodeRun> {
        std::mem::take(&mut self.code_runs)
    }

    /// Waits (≤ 1 s) for an outstanding blocking call, closes every fd, and resets every TCP
    /// connection with a known tuple so no kernel state lingers (packetdrill's final RSTs).
    pub fn finish(&mut self) -> Result<()> {
        if self.pending_blocking.is_some() {
            self.collect_blocking(Some(BLOCKING_WAIT))?;
            if let Some(p) = &self.pending_blocking {
                let message = "exiting while a blocking system call is in progress".to_string();
                return Err(self.fail(p.line, FailureKind::Other { message }));
            }
        }
        self.sut.calls.close_all(BLOCKING_WAIT);
        let resets: Vec<PacketRepr> = self
            .sockets
            .all
            .iter()
            .filter_map(|s| reset_for(s, &self.addresses, self.config.tcp_md5_secret.as_deref()))
            .collect();
        for reset in resets {
            let _ = self.sut.netdev.send(&wire::encode(&reset), None);
        }
        Ok(())
    }
}

/// The script fd of a call that opens a connection to the configured remote end: `connect(fd,
/// ..., ...)`, `sendto(fd, …, ..., ...)`, `sendmsg(fd, {msg_name(...)=..., …}, …)`.
fn connecting_fd(call: &Syscall) -> Option<i64> {
    let fd = match call.args.first()?.kind {
        ExprKind::Integer(fd) => fd,
        _ => return None,
    };
    let is_ellipsis = |e: Option<&Expr>| matches!(e.map(|e| &e.kind), Some(ExprKind::Ellipsis));
    let to_configured_remote = match call.name.value.as_str() {
        "connect" => is_ellipsis(call.args.get(1)),
        "sendto" => is_ellipsis(call.args.get(4)),
        "sendmsg" => match call.args.get(1).map(|e| &e.kind) {
            Some(ExprKind::Struct(fields)) => fields.iter().any(|f| {
                matches!(&f.kind, ExprKind::Field { name, value, .. } if name.value == "msg_name" && matches!(value.kind, ExprKind::Ellipsis))
            }),
            _ => false,
        },
        _ => false,
    };
    to_configured_remote.then_some(fd)
}

fn is_inbound(event: &Event) -> bool {
    match &event.action {
        Action::Packet(p) => p.direction == Direction::Inbound,
        Action::Link(l) => l.direction == Direction::Inbound,
        _ => false,
    }
}

fn seen(t: &TcpRepr, payload_len: usize) -> SeenSegment {
    SeenSegment {
        seq: t.seq,
        ack: t.ack,
        flags: t.flags,
        window: t.window,
        payload_len: payload_len as u32,
        md5_signed: wire::tcp_md5::carried(t).is_some(),
    }
}

/// packetdrill's purge RST for a TCP socket with a known tuple (live space); signed with
/// `--tcp_md5_secret` when the stack's last segment was signed (it would drop an unsigned one).
fn reset_for(
    socket: &TrackedSocket,
    addresses: &Addresses,
    md5_secret: Option<&str>,
) -> Option<PacketRepr> {
    if socket.protocol != libc::IPPROTO_TCP {
        return None;
    }
    let (local, remote) = (socket.local?, socket.remote?);
    let (seq, ack, window) = match (socket.last_injected, socket.last_sent) {
        (Some(inj), _) if inj.flags & tcp_flags::ACK != 0 => {
            let advance = u32::from(inj.flags & tcp_flags::SYN != 0)
                + u32::from(inj.flags & tcp_flags::FIN != 0)
                + inj.payload_len;
            (inj.seq.wrapping_add(advance), inj.ack, inj.window)
        }
        (_, Some(out)) if out.flags & tcp_flags::ACK != 0 => (out.ack, out.seq, 0),
        (_, Some(out)) => (0, out.seq.wrapping_add(1), 0),
        _ => return None,
    };
    let mut tcp = TcpRepr {
        src_port: remote.port(),
        dst_port: local.port(),
        seq,
        ack,
        flags: tcp_flags::RST | tcp_flags::ACK,
        window,
        urgent: 0,
        options: vec![],
        header_len: 0,
        reserved: 0,
        checksum_ok: true,
    };
    let ip = crate::wire::IpRepr::new(addresses.remote_ip, addresses.local_ip);
    if let (Some(key), Some(out)) = (md5_secret, socket.last_sent) {
        if out.md5_signed {
            tcp.options = wire::tcp_md5::unsigned_option();
            wire::tcp_md5::sign(ip.src, ip.dst, &mut tcp, &[], key.as_bytes()).ok()?;
        }
    }
    Some(PacketRepr {
        ip,
        l4: L4Repr::Tcp(tcp),
        payload: vec![],
    })
}

/// A "Timed out" failure's details: the line awaited (`script`), then what arrived meanwhile
/// (`passed_by`: script time, description) that was not `awaited`, or that nothing did.
fn missing_details(
    script: String,
    passed_by: Vec<(i64, String)>,
    what: &str,
    awaited: &str,
) -> Vec<String> {
    let mut details = vec![script];
    if passed_by.is_empty() {
        details.push(format!(
            "  no {} arrived while waiting for it",
            &what[..what.len() - 1]
        ));
        return details;
    }
    details.push(format!(
        "  {what} that arrived while waiting for it (none {awaited}):"
    ));
    for (at, described) in passed_by {
        details.push(format!("    {:9.6} {described}", at as f64 / 1e6));
    }
    details
}

/// At most this many passing packets are kept for a "Timed out" failure's details.
const MAX_PASSED_BY: usize = 20;

/// A packet that is not the socket under test's, on one line: addresses, ports and what it is.
fn describe_passing(packet: &PacketRepr) -> String {
    let (src, dst) = (packet.ip.src, packet.ip.dst);
    match &packet.l4 {
        L4Repr::Tcp(t) => {
            let flags = super::packets::describe_tcp(
                t.flags,
                t.seq,
                packet.payload.len() as u32,
                (t.flags & tcp_flags::ACK != 0).then_some(t.ack),
                Some(t.window),
                "",
            );
            format!("{src}:{} > {dst}:{} {flags}", t.src_port, t.dst_port)
        }
        L4Repr::Udp(u) => format!(
            "{src}:{} > {dst}:{} udp ({})",
            u.src_port,
            u.dst_port,
            packet.payload.len()
        ),
        L4Repr::UdpLite(u) => format!(
            "{src}:{} > {dst}:{} udplite ({}, {})",
            u.src_port,
            u.dst_port,
            packet.payload.len(),
            u.coverage
        ),
        L4Repr::Icmp(i) => format!("{src} > {dst} icmp type {} code {}", i.icmp_type, i.code),
        L4Repr::Other(p) => format!("{src} > {dst} protocol {p}"),
    }
}
