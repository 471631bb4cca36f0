//! The whole stack state behind the adapter's one mutex: smoltcp's interface and sockets, the
//! virtual clock, the descriptor table, and the bookkeeping that runs after every poll
//! (connection outcomes, listener pools, sockets still closing after their fd was closed).
//!
//! Time only moves in [`Stack::advance`] (and, under upstream packetdrill, [`Stack::enter`]).
//! Who runs the stack depends on [`Polling`]: as upstream packetdrill expects, `netdev_send`,
//! `usleep` (at every instant smoltcp asked for on the way, so each timer fires, and its
//! packets are stamped, at its exact due time) and every socket call run it themselves; once
//! stackdrill drives the polling, only `stackdrill_poll` does, and the other calls just queue a
//! packet, move the clock or change socket state.
//!
//! Under upstream packetdrill, which tells the stack no network and never polls it, the first
//! entry point ([`Stack::enter`]) finds neither and switches to upstream's terms for good: the
//! default network below, the clock following real time, and every entry point first running
//! the stack up to the real time now (stacks/README.md "Under upstream packetdrill").

use std::net::{Ipv4Addr, Ipv6Addr};

use libc::c_int;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use crate::abi::StackdrillNetwork;
use crate::clock::{publish_tsval_clock, VirtualClock};
use crate::config::StackConfig;
use crate::errno::{fail, Errno, SysResult};
use crate::fd_table::FdTable;
use crate::readiness::EpollSet;
use crate::sockaddr::SocketDomain;
use crate::tcp_socket::{TcpFd, TcpRole};
use crate::udp_socket::UdpFd;
use crate::virtual_link::{FramePort, StampedPacket, VirtualLink};
use crate::wire_tap::{SegmentPolicy, TcpTuple, WireTap};

/// How many times smoltcp is polled at one instant while it keeps asking to be polled at once.
const MAX_POLLS_PER_INSTANT: usize = 16;
/// Time step used when smoltcp keeps asking for an immediate poll that does nothing.
const STUCK_POLL_STEP: Duration = Duration::from_millis(1);
/// Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
const EPHEMERAL_PORTS: std::ops::RangeInclusive<u16> = 32768..=60999;

/// The network the stack takes when nobody describes one (under upstream packetdrill, run with
/// `--local_ip=192.168.0.2`): upstream's defaults, with the local host fixed at .2.
pub fn upstream_default_network() -> StackdrillNetwork {
    ipv4_network([192, 168, 0, 2], [192, 168, 0, 1], [192, 0, 2, 1])
}

/// An IPv4 network of packetdrill's shape (a /16 for the local host, MTU 1500).
pub fn ipv4_network(local: [u8; 4], gateway: [u8; 4], remote: [u8; 4]) -> StackdrillNetwork {
    let mut net = StackdrillNetwork {
        family: libc::AF_INET,
        local_ip: [0; 16],
        prefix_len: 16,
        gateway_ip: [0; 16],
        remote_ip: [0; 16],
        mtu: 1500,
    };
    net.local_ip[..4].copy_from_slice(&local);
    net.gateway_ip[..4].copy_from_slice(&gateway);
    net.remote_ip[..4].copy_from_slice(&remote);
    net
}

/// What one descriptor is.
#[derive(Debug)]
pub enum FdEntry {
    Tcp(TcpFd),
    Udp(UdpFd),
    Epoll(EpollSet),
}

/// A TCP socket whose fd was closed but which still has a FIN, RST or TIME-WAIT to go through.
#[derive(Debug)]
pub struct ClosingSocket {
    pub handle: SocketHandle,
    pub tuple: TcpTuple,
    /// The family of the fd it belonged to (its addresses in the socket table).
    pub domain: SocketDomain,
}

/// Who runs the stack (packetdrill.h, `stackdrill_poll`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polling {
    /// No call has decided yet.
    Undecided,
    /// Upstream packetdrill's contract, chosen by the first `netdev_send`, `usleep` or socket
    /// call: each of them runs the stack itself.
    SelfDriven,
    /// stackdrill called `stackdrill_poll` before any of those: only `stackdrill_poll` runs the
    /// stack; `netdev_send` only queues, `usleep` only moves the clock, and socket calls only
    /// change socket state.
    Driven,
}

/// The link and interface, once stackdrill has told the stack its network.
pub struct Network {
    pub iface: Interface,
    pub link: VirtualLink,
    pub local_addr: IpAddress,
    pub prefix_len: u8,
    /// The next hop for every address outside the local subnet.
    pub gateway: IpAddress,
    pub wire: SocketDomain,
}

/// Outcome of one try of a socket call that may block.
#[derive(Debug)]
pub enum Attempt<T> {
    /// The call is over.
    Done(SysResult<T>),
    /// The call must wait for the stack to change, at most until the deadline.
    Wait(Option<Instant>),
}

impl<T> Attempt<T> {
    /// Converts the value of a finished call.
    pub fn map<U>(self, convert: impl FnOnce(T) -> U) -> Attempt<U> {
        match self {
            Attempt::Done(result) => Attempt::Done(result.map(convert)),
            Attempt::Wait(deadline) => Attempt::Wait(deadline),
        }
    }
}

/// The stack.
pub struct Stack {
    pub config: StackConfig,
    pub clock: VirtualClock,
    pub sockets: SocketSet<'static>,
    pub network: Option<Network>,
    pub fds: FdTable<FdEntry>,
    pub closing: Vec<ClosingSocket>,
    pub polling: Polling,
    waits: Vec<(u64, Option<Instant>)>,
    next_wait_id: u64,
    next_ephemeral_port: u16,
}

impl Stack {
    pub fn new(config: StackConfig) -> Self {
        Stack {
            config,
            clock: VirtualClock::default(),
            sockets: SocketSet::new(Vec::new()),
            network: None,
            fds: FdTable::default(),
            closing: Vec::new(),
            polling: Polling::Undecided,
            waits: Vec::new(),
            next_wait_id: 0,
            next_ephemeral_port: *EPHEMERAL_PORTS.start(),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    pub fn debug(&self, what: impl FnOnce() -> String) {
        if self.config.debug {
            eprintln!("stackdrill-smoltcp: {} {}", self.clock.now(), what());
        }
    }

    /// Creates the interface for the network stackdrill describes.
    pub fn setup_network(&mut self, net: &StackdrillNetwork) -> Result<(), String> {
        let wire = SocketDomain::from_c(net.family)
            .ok_or_else(|| format!("unsupported address family {}", net.family))?;
        let to_addr = |bytes: &[u8; 16]| match wire {
            SocketDomain::Inet => {
                IpAddress::Ipv4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
            }
            SocketDomain::Inet6 => IpAddress::Ipv6(Ipv6Addr::from(*bytes)),
        };
        let local = to_addr(&net.local_ip);
        let remote = to_addr(&net.remote_ip);
        let gateway = match to_addr(&net.gateway_ip) {
            gateway if gateway.is_unspecified() => remote,
            gateway => gateway,
        };
        if !local.is_unicast() {
            return Err(format!("local address {local} is not a unicast address"));
        }
        let max_prefix = match wire {
            SocketDomain::Inet => 32,
            SocketDomain::Inet6 => 128,
        };
        let prefix_len = u8::try_from(net.prefix_len)
            .ok()
            .filter(|&len| len <= max_prefix)
            .ok_or_else(|| format!("bad prefix length {}", net.prefix_len))?;
        let min_mtu = match wire {
            SocketDomain::Inet => 576,
            SocketDomain::Inet6 => 1280,
        };
        let mtu = usize::try_from(net.mtu)
            .ok()
            .filter(|mtu| (min_mtu..=65535).contains(mtu))
            .ok_or_else(|| format!("MTU {} is outside {min_mtu}..=65535", net.mtu))?;

        let tap = WireTap::new(SegmentPolicy {
            sack: self.config.sack,
            window_scaling: self.config.window_scaling,
            default_mss: self.config.mss,
            ..SegmentPolicy::default()
        });
        let mut link = VirtualLink::new(mtu, tap, self.config.debug);
        let iface = self.interface(HardwareAddress::Ip, &mut link, local, prefix_len, gateway)?;
        self.debug(|| {
            format!("network: {local}/{prefix_len} gateway {gateway} peer {remote} mtu {mtu}")
        });
        self.network = Some(Network {
            iface,
            link,
            local_addr: local,
            prefix_len,
            gateway,
            wire,
        });
        Ok(())
    }

    /// A new interface with `hardware` on `link`, the local address and the default route.
    fn interface(
        &self,
        hardware: HardwareAddress,
        link: &mut VirtualLink,
        local: IpAddress,
        prefix_len: u8,
        gateway: IpAddress,
    ) -> Result<Interface, String> {
        let mut iface_config = Config::new(hardware);
        iface_config.random_seed = self.config.seed;
        let mut iface = Interface::new(iface_config, link, self.clock.now());
        let mut added = false;
        iface.update_ip_addrs(|addrs| added = addrs.push(IpCidr::new(local, prefix_len)).is_ok());
        if !added {
            return Err("cannot add the local address".to_string());
        }
        let routed = match gateway {
            IpAddress::Ipv4(gateway) => iface.routes_mut().add_default_ipv4_route(gateway).is_ok(),
            IpAddress::Ipv6(gateway) => iface.routes_mut().add_default_ipv6_route(gateway).is_ok(),
        };
        if !routed {
            return Err(format!("cannot route through gateway {gateway}"));
        }
        Ok(iface)
    }

    /// `stackdrill_dpdk_attach`: from now on the stack is an Ethernet host with `mac` on
    /// `port`, which it polls in its own polls, resolving its neighbours by ARP/NDP there. Only
    /// before the first poll (the interface is made anew, as smoltcp fixes its medium at
    /// creation).
    pub fn attach_port(&mut self, port: Box<dyn FramePort>, mac: [u8; 6]) -> Result<(), String> {
        if self.polling != Polling::Undecided {
            return Err("a port can only be attached before the stack first runs".to_string());
        }
        let mut network = self
            .network
            .take()
            .ok_or("a port can only be attached after stackdrill_network_setup")?;
        network.link.attach_port(port);
        let hardware = HardwareAddress::Ethernet(EthernetAddress(mac));
        network.iface = self.interface(
            hardware,
            &mut network.link,
            network.local_addr,
            network.prefix_len,
            network.gateway,
        )?;
        self.debug(|| format!("network: on an Ethernet port as {hardware}"));
        self.network = Some(network);
        Ok(())
    }

    pub fn network(&self) -> SysResult<&Network> {
        self.network.as_ref().ok_or(Errno(libc::ENETUNREACH))
    }

    /// Whether `netdev_send`, `usleep` and socket calls run the stack themselves. The first
    /// such call made before any `stackdrill_poll` settles it: they do, for good.
    pub fn runs_itself(&mut self) -> bool {
        if self.polling == Polling::Undecided {
            self.polling = Polling::SelfDriven;
            self.debug(|| "polling: self-driven (packetdrill's contract)".to_string());
        }
        self.polling == Polling::SelfDriven
    }

    /// `stackdrill_poll`: a first call before anything else hands the polling to stackdrill.
    pub fn note_driven_poll(&mut self) {
        if self.polling == Polling::Undecided {
            self.polling = Polling::Driven;
            self.debug(|| "polling: driven by stackdrill_poll".to_string());
        }
    }

    /// What follows a socket call: the stack reacts at once (sends the SYN or the data just
    /// queued), unless stackdrill drives the polling.
    pub fn after_socket_call(&mut self) {
        if self.runs_itself() {
            self.settle();
        }
    }

    /// A packet from the peer, queued; processed at once unless stackdrill drives the polling.
    /// Returns whether the stack ran.
    pub fn inject(&mut self, packet: Vec<u8>) -> SysResult<bool> {
        let now = self.clock.now();
        let network = self.network.as_mut().ok_or(Errno(libc::ENETDOWN))?;
        if network.link.on_port() {
            // The peer's packets arrive on the port.
            return Err(Errno(libc::EOPNOTSUPP));
        }
        network.link.inject(packet, now);
        let runs = self.runs_itself();
        if runs {
            self.settle();
        }
        Ok(runs)
    }

    /// The next packet the stack sent.
    pub fn take_outbound(&mut self) -> Option<StampedPacket> {
        self.network.as_mut()?.link.take_outbound()
    }

    /// Polls smoltcp once at the current time, then updates the adapter's bookkeeping.
    fn poll_once(&mut self) {
        let now = self.clock.now();
        if let Some(network) = self.network.as_mut() {
            publish_tsval_clock(now);
            network
                .iface
                .poll(now, &mut network.link, &mut self.sockets);
        }
        self.after_poll();
    }

    fn smoltcp_poll_delay(&mut self) -> Option<Duration> {
        let now = self.clock.now();
        let network = self.network.as_mut()?;
        network.iface.poll_delay(now, &self.sockets)
    }

    /// Does all work due at the current time: polls until smoltcp has nothing immediate left
    /// (bounded, in case it keeps asking).
    pub fn settle(&mut self) {
        for _ in 0..MAX_POLLS_PER_INSTANT {
            self.poll_once();
            if self.smoltcp_poll_delay() != Some(Duration::ZERO) {
                break;
            }
        }
    }

    /// The next instant after now at which something is due: a smoltcp timer, a blocked call's
    /// deadline, or an adapter timer (connect timeout).
    pub fn next_wakeup(&mut self) -> Option<Instant> {
        let now = self.clock.now();
        let smoltcp = self.smoltcp_poll_delay().map(|delay| {
            if delay == Duration::ZERO {
                now + STUCK_POLL_STEP
            } else {
                now + delay
            }
        });
        let waits = self.waits.iter().filter_map(|&(_, deadline)| deadline);
        let connects = self.fds.iter().filter_map(|(_, entry)| match entry {
            FdEntry::Tcp(TcpFd {
                role: TcpRole::Connection(connection),
                ..
            }) => connection.next_timer(),
            _ => None,
        });
        smoltcp
            .into_iter()
            .chain(waits)
            .chain(connects)
            .filter(|&when| when > now)
            .min()
    }

    /// What every table entry but `free` does first. The first one to find no network and no
    /// `stackdrill_poll` before it puts the stack under upstream packetdrill's terms (see the
    /// module's documentation); from then on each call runs the stack up to the real time now.
    /// Returns whether it ran the stack (only under upstream).
    pub fn enter(&mut self) -> bool {
        if self.network.is_none() && self.polling == Polling::Undecided {
            self.start_under_upstream();
        }
        match self.clock.real_now() {
            Some(now) => {
                self.run_until(now);
                true
            }
            None => false,
        }
    }

    /// Whether the stack is under upstream packetdrill, on real time.
    pub fn on_real_time(&self) -> bool {
        self.clock.real_now().is_some()
    }

    /// On real time, how long a blocked call may sleep before the stack (or a deadline) needs
    /// it: until the next wakeup; `None` on virtual time or with nothing scheduled.
    pub fn real_time_pause(&mut self) -> Option<std::time::Duration> {
        if !self.on_real_time() {
            return None;
        }
        let now = self.clock.now();
        let next = self.next_wakeup()?;
        Some(std::time::Duration::from_micros(
            (next - now).total_micros(),
        ))
    }

    fn start_under_upstream(&mut self) {
        self.clock.follow_real_time();
        self.polling = Polling::SelfDriven;
        if let Err(problem) = self.setup_network(&upstream_default_network()) {
            eprintln!("stackdrill-smoltcp: cannot use the default network: {problem}");
        }
        self.debug(|| "no stackdrill_network_setup: upstream packetdrill's terms".to_string());
    }

    /// `usleep`: moves the clock `usecs` forward, running everything due on the way at its time
    /// (only moving the clock when stackdrill drives the polling). Returns whether the stack
    /// ran.
    pub fn advance(&mut self, usecs: u64) -> bool {
        let target = self.clock.after(Duration::from_micros(usecs));
        if !self.runs_itself() {
            self.clock.advance_to(target);
            return false;
        }
        self.run_until(target);
        true
    }

    /// Moves the clock to `target`, running everything due on the way at its time.
    fn run_until(&mut self, target: Instant) {
        loop {
            self.settle();
            match self.next_wakeup() {
                Some(when) if when < target => self.clock.advance_to(when),
                _ => break,
            }
        }
        self.clock.advance_to(target);
        self.settle();
    }

    /// `stackdrill_poll`: does everything due at the current time (received packets, timers
    /// that came due, packets to send) and returns the µs until the stack next needs a poll.
    pub fn poll_due_work(&mut self) -> Option<i64> {
        self.note_driven_poll();
        self.settle();
        let now = self.now();
        self.next_wakeup()
            .map(|when| (when - now).total_micros() as i64)
    }

    /// Registers a blocked call's deadline (`None`: it waits for a state change only).
    pub fn register_wait(&mut self, deadline: Option<Instant>) -> u64 {
        self.next_wait_id += 1;
        self.waits.push((self.next_wait_id, deadline));
        self.next_wait_id
    }

    pub fn unregister_wait(&mut self, id: u64) {
        self.waits.retain(|&(wait, _)| wait != id);
    }

    /// Updates everything that depends on smoltcp's socket states.
    fn after_poll(&mut self) {
        let now = self.clock.now();
        let Stack {
            config,
            sockets,
            network,
            fds,
            closing,
            ..
        } = self;
        let resets = match network.as_mut() {
            Some(network) => network.link.tap().take_resets(),
            None => Vec::new(),
        };
        let mut tap = network.as_mut().map(|network| network.link.tap());
        for (_, entry) in fds.iter_mut() {
            let FdEntry::Tcp(tcp) = entry else {
                continue;
            };
            match &mut tcp.role {
                TcpRole::Idle => {}
                TcpRole::Connection(connection) => {
                    connection.observe(sockets, &resets, now, tap.as_deref_mut());
                    connection.run_timers(sockets, now, tap.as_deref());
                }
                TcpRole::Listening(listener) => {
                    listener.collect_established(sockets);
                    for connection in listener.ready.iter_mut() {
                        connection.observe(sockets, &resets, now, tap.as_deref_mut());
                    }
                    listener.refill(sockets, config, &tcp.options);
                }
            }
        }
        closing.retain(|socket| {
            let tcp_socket = sockets.get::<tcp::Socket>(socket.handle);
            let finished =
                tcp_socket.state() == tcp::State::Closed && tcp_socket.remote_endpoint().is_none();
            if finished {
                sockets.remove(socket.handle);
                if let Some(tap) = tap.as_deref_mut() {
                    tap.forget(&socket.tuple);
                }
            }
            !finished
        });
    }

    /// Whether a local port is taken (by an fd of the same kind, or a closing TCP socket).
    fn port_in_use(&self, port: u16, tcp: bool) -> bool {
        let by_fd = self.fds.iter().any(|(_, entry)| match entry {
            FdEntry::Tcp(socket) if tcp => socket.local_port() == Some(port),
            FdEntry::Udp(socket) if !tcp => socket.local_port() == Some(port),
            _ => false,
        });
        by_fd
            || (tcp
                && self
                    .closing
                    .iter()
                    .any(|socket| socket.tuple.local.port == port))
    }

    /// A free port from Linux's ephemeral range, handed out in order.
    pub fn allocate_ephemeral_port(&mut self, tcp: bool) -> SysResult<u16> {
        let range_len = usize::from(EPHEMERAL_PORTS.end() - EPHEMERAL_PORTS.start()) + 1;
        for _ in 0..range_len {
            let port = self.next_ephemeral_port;
            self.next_ephemeral_port = if port >= *EPHEMERAL_PORTS.end() {
                *EPHEMERAL_PORTS.start()
            } else {
                port + 1
            };
            if !self.port_in_use(port, tcp) {
                return Ok(port);
            }
        }
        fail(libc::EADDRNOTAVAIL)
    }

    /// Checks that `port` may be bound by a new socket. With SO_REUSEADDR, TCP connections
    /// still closing (FIN-WAIT, TIME-WAIT…) on the port do not count, as on Linux.
    pub fn check_port_free(&self, port: u16, tcp: bool, reuse_addr: bool) -> SysResult<()> {
        let taken = if reuse_addr {
            self.fds.iter().any(|(_, entry)| match entry {
                FdEntry::Tcp(socket) if tcp => socket.local_port() == Some(port),
                FdEntry::Udp(socket) if !tcp => socket.local_port() == Some(port),
                _ => false,
            })
        } else {
            self.port_in_use(port, tcp)
        };
        if taken {
            fail(libc::EADDRINUSE)
        } else {
            Ok(())
        }
    }

    /// Checks that `addr` is one of the stack's (or the wildcard).
    pub fn check_local_address(&self, addr: Option<IpAddress>) -> SysResult<()> {
        match (addr, self.network.as_ref()) {
            (None, _) => Ok(()),
            (Some(addr), Some(network)) if network.iface.has_ip_addr(addr) => Ok(()),
            (Some(_), _) => fail(libc::EADDRNOTAVAIL),
        }
    }

    /// Looks up a descriptor.
    pub fn entry_mut(&mut self, fd: c_int) -> SysResult<&mut FdEntry> {
        self.fds.get_mut(fd).ok_or(Errno(libc::EBADF))
    }

    /// Drops everything (the adapter's `free`).
    pub fn shut_down(&mut self) {
        for (fd, _) in self.fds.drain() {
            self.debug(|| format!("free: dropping fd {fd}"));
        }
        self.closing.clear();
        self.network = None;
        self.sockets = SocketSet::new(Vec::new());
    }
}
