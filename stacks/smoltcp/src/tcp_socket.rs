//! TCP sockets with Linux semantics over smoltcp TCP sockets: bind, listen (a pool of smoltcp
//! sockets in LISTEN per listening fd, plus a queue of established connections), accept,
//! connect, recv, send, shutdown, close, and the per-connection outcome tracking that turns
//! smoltcp state changes into Linux errors (ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT).

use std::collections::VecDeque;

use libc::c_int;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp::{self, State};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{IpEndpoint, IpListenEndpoint, TcpTimestampGenerator};

use crate::clock::tsval_from_virtual_clock;
use crate::config::{CongestionChoice, StackConfig};
use crate::errno::{fail, Errno, SysResult};
use crate::fd_table::FdTable;
use crate::sockaddr::{SocketAddress, SocketDomain};
use crate::socket_options::SocketOptions;
use crate::stack::{Attempt, ClosingSocket, FdEntry, Stack};
use crate::wire_tap::{TcpTuple, WireTap};

/// Most smoltcp sockets kept in LISTEN for one listening fd.
const MAX_LISTEN_POOL: usize = 32;
/// Most connections one listener queues (established, plus in handshake).
const MAX_BACKLOG: usize = 128;
/// Linux's default net.core.somaxconn: the largest backlog listen() keeps.
const SOMAXCONN: u32 = 4096;

/// Descriptor flags shared by every socket kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct FdFlags {
    pub nonblocking: bool,
    pub cloexec: bool,
}

/// The local address a socket is bound to (`addr` `None`: the wildcard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalBinding {
    pub addr: Option<smoltcp::wire::IpAddress>,
    pub port: u16,
}

/// A TCP descriptor.
#[derive(Debug)]
pub struct TcpFd {
    pub domain: SocketDomain,
    pub flags: FdFlags,
    pub options: SocketOptions,
    pub binding: Option<LocalBinding>,
    pub role: TcpRole,
}

/// What a TCP descriptor is doing.
#[derive(Debug)]
pub enum TcpRole {
    /// Fresh (or bound) and not yet listening or connected.
    Idle,
    Listening(Listener),
    Connection(TcpConnection),
}

/// How far `connect` has got, as Linux's socket state (SS_*) tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectPhase {
    Connecting,
    Connected,
    Failed,
}

/// A connection (active, or accepted from a listener) and what happened to it.
#[derive(Debug)]
pub struct TcpConnection {
    /// The smoltcp socket; `None` once it was dropped (a connect that timed out).
    pub handle: Option<SocketHandle>,
    pub tuple: TcpTuple,
    /// smoltcp's state at the last look, to see transitions.
    pub last_state: State,
    /// Linux's `sk_err`: reported once, by the next call that looks.
    pub pending_error: Option<c_int>,
    pub phase: ConnectPhase,
    /// When a connect still in SYN-SENT gives up.
    pub syn_deadline: Option<Instant>,
    /// Keep-alive switched on while the connection was open, and the interval, held back
    /// until the first probe is due: smoltcp would send a probe at once.
    pub keep_alive_due: Option<(Instant, Duration)>,
    pub shut_rd: bool,
    pub shut_wr: bool,
}

/// A listening descriptor's pool of smoltcp sockets and its accept queue.
#[derive(Debug)]
pub struct Listener {
    pub endpoint: IpListenEndpoint,
    /// Connections queued plus in handshake, at most (from the backlog).
    pub capacity: usize,
    /// The backlog as Linux keeps it (`sk_max_ack_backlog`), for the socket table.
    pub backlog: u32,
    /// smoltcp sockets in LISTEN or SYN-RECEIVED.
    pub pool: Vec<SocketHandle>,
    /// Established connections, oldest first.
    pub ready: VecDeque<TcpConnection>,
}

/// How a connect call goes on after its first step.
#[derive(Debug, PartialEq, Eq)]
pub enum ConnectStart {
    /// Finished (connected, or a no-op).
    Done,
    /// SYN sent: a blocking socket waits, a non-blocking one reports EINPROGRESS.
    InProgress { blocking: bool },
}

fn is_handshaking(state: State) -> bool {
    matches!(state, State::SynSent | State::SynReceived)
}

/// States where the peer's FIN has been received.
fn peer_finished(state: State) -> bool {
    matches!(
        state,
        State::CloseWait | State::LastAck | State::Closing | State::TimeWait
    )
}

/// States where the connection is over as far as its descriptor is concerned (Linux moves
/// the socket to CLOSE when it enters TIME-WAIT).
fn connection_over(state: State) -> bool {
    matches!(state, State::Closed | State::TimeWait)
}

/// Builds a smoltcp TCP socket with the configuration and a descriptor's options.
pub fn new_smoltcp_socket(config: &StackConfig, options: &SocketOptions) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0u8; options.rcvbuf]);
    let tx = tcp::SocketBuffer::new(vec![0u8; options.sndbuf]);
    let mut socket = tcp::Socket::new(rx, tx);
    socket.set_nagle_enabled(!options.nodelay);
    socket.set_ack_delay(
        (config.ack_delay_ms > 0).then(|| Duration::from_millis(config.ack_delay_ms)),
    );
    let generator: TcpTimestampGenerator = tsval_from_virtual_clock;
    socket.set_tsval_generator(config.timestamps.then_some(generator));
    socket.set_congestion_control(smoltcp_congestion(options.congestion));
    apply_liveness(&mut socket, options);
    socket
}

pub fn smoltcp_congestion(choice: CongestionChoice) -> tcp::CongestionControl {
    match choice {
        CongestionChoice::None => tcp::CongestionControl::None,
        CongestionChoice::Reno => tcp::CongestionControl::Reno,
        CongestionChoice::Cubic => tcp::CongestionControl::Cubic,
    }
}

/// The keep-alive interval from SO_KEEPALIVE and TCP_KEEPIDLE. smoltcp has one keep-alive
/// interval, used between every two probes.
fn keep_alive_interval(options: &SocketOptions) -> Option<Duration> {
    options
        .keepalive
        .then(|| Duration::from_secs(u64::from(options.keep_idle_secs)))
}

/// smoltcp's "no answer for this long" timeout: TCP_USER_TIMEOUT when set, else, with
/// keep-alive, TCP_KEEPIDLE + TCP_KEEPINTVL * TCP_KEEPCNT (when Linux gives up on probes).
fn abort_timeout(options: &SocketOptions) -> Option<Duration> {
    if options.user_timeout_ms > 0 {
        Some(Duration::from_millis(u64::from(options.user_timeout_ms)))
    } else if options.keepalive {
        Some(Duration::from_secs(
            u64::from(options.keep_idle_secs)
                + u64::from(options.keep_intvl_secs) * u64::from(options.keep_cnt),
        ))
    } else {
        None
    }
}

/// Applies keep-alive and the abort timeout to a socket that has no connection yet (smoltcp
/// starts the keep-alive timer itself when the connection is established).
pub fn apply_liveness(socket: &mut tcp::Socket<'static>, options: &SocketOptions) {
    let keep_alive = keep_alive_interval(options);
    if socket.keep_alive() != keep_alive {
        socket.set_keep_alive(keep_alive);
    }
    let timeout = abort_timeout(options);
    if socket.timeout() != timeout {
        socket.set_timeout(timeout);
    }
}

impl TcpConnection {
    fn new(handle: SocketHandle, tuple: TcpTuple, state: State, phase: ConnectPhase) -> Self {
        TcpConnection {
            handle: Some(handle),
            tuple,
            last_state: state,
            pending_error: None,
            phase,
            syn_deadline: None,
            keep_alive_due: None,
            shut_rd: false,
            shut_wr: false,
        }
    }

    /// smoltcp's state of the connection (CLOSED once the socket is gone).
    pub fn state(&self, sockets: &SocketSet<'static>) -> State {
        match self.handle {
            Some(handle) => sockets.get::<tcp::Socket>(handle).state(),
            None => State::Closed,
        }
    }

    /// Looks at the smoltcp socket after a poll: records how the connection ended, and gives
    /// up a connect whose SYN was never answered in time.
    pub fn observe(
        &mut self,
        sockets: &mut SocketSet<'static>,
        resets: &[TcpTuple],
        now: Instant,
        tap: Option<&mut WireTap>,
    ) {
        let Some(handle) = self.handle else {
            return;
        };
        let state = sockets.get::<tcp::Socket>(handle).state();
        if state == State::SynSent && self.syn_deadline.is_some_and(|deadline| now >= deadline) {
            // Linux gives up silently (no RST): drop the socket instead of aborting it.
            sockets.remove(handle);
            if let Some(tap) = tap {
                tap.forget(&self.tuple);
            }
            self.handle = None;
            self.syn_deadline = None;
            self.pending_error = Some(libc::ETIMEDOUT);
            self.last_state = State::Closed;
            return;
        }
        if state == self.last_state {
            return;
        }
        if state == State::Closed {
            if resets.contains(&self.tuple) {
                self.pending_error = Some(match self.last_state {
                    State::SynSent => libc::ECONNREFUSED,
                    State::CloseWait => libc::EPIPE,
                    _ => libc::ECONNRESET,
                });
            } else if !matches!(
                self.last_state,
                State::LastAck | State::TimeWait | State::Closing
            ) {
                // smoltcp's timeout (keep-alive or TCP_USER_TIMEOUT) expired.
                self.pending_error = Some(libc::ETIMEDOUT);
            }
        }
        if !is_handshaking(state) {
            self.syn_deadline = None;
        }
        self.last_state = state;
    }

    /// Work of the adapter's own timers (held-back keep-alive), after a poll.
    pub fn run_timers(
        &mut self,
        sockets: &mut SocketSet<'static>,
        now: Instant,
        tap: Option<&WireTap>,
    ) {
        self.release_keep_alive(sockets, now, tap);
    }

    /// The adapter's next timer for this connection.
    pub fn next_timer(&self) -> Option<Instant> {
        let keep_alive = self.keep_alive_due.map(|(due, _)| due);
        match (self.syn_deadline, keep_alive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies keep-alive and the abort timeout to the live connection. Switching keep-alive
    /// on is held back until the first probe is due (TCP_KEEPIDLE after the last packet from
    /// the peer, as Linux does), because smoltcp probes at once when it is switched on.
    pub fn apply_liveness(
        &mut self,
        sockets: &mut SocketSet<'static>,
        options: &SocketOptions,
        now: Instant,
        tap: Option<&WireTap>,
    ) {
        let Some(handle) = self.handle else {
            return;
        };
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        let timeout = abort_timeout(options);
        if socket.timeout() != timeout {
            socket.set_timeout(timeout);
        }
        let wanted = keep_alive_interval(options);
        match (wanted, socket.keep_alive()) {
            (Some(interval), None) if !is_handshaking(socket.state()) => {
                let last_heard = tap
                    .and_then(|tap| tap.observations(&self.tuple))
                    .and_then(|seen| seen.last_inbound)
                    .unwrap_or(now);
                self.keep_alive_due = Some((last_heard + interval, interval));
            }
            (wanted, current) => {
                self.keep_alive_due = None;
                if wanted != current {
                    socket.set_keep_alive(wanted);
                }
            }
        }
    }

    /// Switches keep-alive on once its first probe is due (or postpones it when the peer was
    /// heard from since).
    fn release_keep_alive(
        &mut self,
        sockets: &mut SocketSet<'static>,
        now: Instant,
        tap: Option<&WireTap>,
    ) {
        let (Some((due, interval)), Some(handle)) = (self.keep_alive_due, self.handle) else {
            return;
        };
        let last_heard = tap
            .and_then(|tap| tap.observations(&self.tuple))
            .and_then(|seen| seen.last_inbound);
        let due = match last_heard {
            Some(heard) if heard + interval > due => heard + interval,
            _ => due,
        };
        if now < due {
            self.keep_alive_due = Some((due, interval));
            return;
        }
        self.keep_alive_due = None;
        sockets
            .get_mut::<tcp::Socket>(handle)
            .set_keep_alive(Some(interval));
    }

    /// Takes the pending error (Linux's `sock_error`).
    fn take_error(&mut self) -> Option<Errno> {
        self.pending_error.take().map(Errno)
    }
}

impl Listener {
    /// Moves pool sockets that completed their handshake to the accept queue.
    pub fn collect_established(&mut self, sockets: &mut SocketSet<'static>) {
        let mut index = 0;
        while index < self.pool.len() {
            let handle = self.pool[index];
            let socket = sockets.get::<tcp::Socket>(handle);
            let state = socket.state();
            match (state, socket.local_endpoint(), socket.remote_endpoint()) {
                (State::Listen | State::SynReceived, _, _) => index += 1,
                (State::Closed, _, _) | (_, None, _) | (_, _, None) => {
                    self.pool.remove(index);
                    sockets.remove(handle);
                }
                (_, Some(local), Some(remote)) => {
                    self.pool.remove(index);
                    let tuple = TcpTuple { local, remote };
                    self.ready.push_back(TcpConnection::new(
                        handle,
                        tuple,
                        state,
                        ConnectPhase::Connected,
                    ));
                }
            }
        }
    }

    /// Tops the pool up to what the backlog allows.
    pub fn refill(
        &mut self,
        sockets: &mut SocketSet<'static>,
        config: &StackConfig,
        options: &SocketOptions,
    ) {
        let wanted = self
            .capacity
            .saturating_sub(self.ready.len())
            .min(MAX_LISTEN_POOL);
        while self.pool.len() < wanted {
            let mut socket = new_smoltcp_socket(config, options);
            if socket.listen(self.endpoint).is_err() {
                return;
            }
            self.pool.push(sockets.add(socket));
        }
    }

    /// Drops the pool and aborts queued connections (they get an RST, like Linux).
    fn tear_down(
        self,
        domain: SocketDomain,
        sockets: &mut SocketSet<'static>,
        closing: &mut Vec<ClosingSocket>,
    ) {
        for handle in self.pool {
            sockets.remove(handle);
        }
        for connection in self.ready {
            close_connection(connection, domain, true, sockets, closing);
        }
    }
}

/// Closes a connection whose descriptor goes away: FIN, or RST when `abort` (SO_LINGER 0) or
/// when received data was never read. The smoltcp socket lives on until it reaches CLOSED.
fn close_connection(
    connection: TcpConnection,
    domain: SocketDomain,
    abort: bool,
    sockets: &mut SocketSet<'static>,
    closing: &mut Vec<ClosingSocket>,
) {
    let Some(handle) = connection.handle else {
        return;
    };
    let socket = sockets.get_mut::<tcp::Socket>(handle);
    match socket.state() {
        // Linux sends nothing when closing a socket that is still connecting.
        State::SynSent | State::Listen => {
            sockets.remove(handle);
            return;
        }
        State::Closed if socket.remote_endpoint().is_none() => {
            sockets.remove(handle);
            return;
        }
        State::Closed | State::TimeWait => {}
        _ if abort || socket.recv_queue() > 0 => socket.abort(),
        _ => socket.close(),
    }
    closing.push(ClosingSocket {
        handle,
        tuple: connection.tuple,
        domain,
    });
}

impl TcpFd {
    pub fn new(domain: SocketDomain, flags: FdFlags, options: SocketOptions) -> Self {
        TcpFd {
            domain,
            flags,
            options,
            binding: None,
            role: TcpRole::Idle,
        }
    }

    pub fn local_port(&self) -> Option<u16> {
        match &self.role {
            TcpRole::Connection(connection) => Some(connection.tuple.local.port),
            _ => self.binding.map(|binding| binding.port),
        }
    }

    pub fn connection(&self) -> Option<&TcpConnection> {
        match &self.role {
            TcpRole::Connection(connection) => Some(connection),
            _ => None,
        }
    }
}

fn tcp_entry(fds: &mut FdTable<FdEntry>, fd: c_int) -> SysResult<&mut TcpFd> {
    match fds.get_mut(fd) {
        Some(FdEntry::Tcp(tcp)) => Ok(tcp),
        Some(_) => fail(libc::EOPNOTSUPP),
        None => fail(libc::EBADF),
    }
}

fn tcp_fd(stack: &mut Stack, fd: c_int) -> SysResult<&mut TcpFd> {
    tcp_entry(&mut stack.fds, fd)
}

/// A stream send's result once it stops: the bytes queued so far, or the error if none were.
fn progress_or(sent: usize, errno: Errno) -> Attempt<usize> {
    if sent > 0 {
        Attempt::Done(Ok(sent))
    } else {
        Attempt::Done(Err(errno))
    }
}

impl Stack {
    pub fn tcp_bind(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<()> {
        let (addr, port) = match addr {
            SocketAddress::Endpoint { addr, port } => (addr, port),
            SocketAddress::Unspecified => (None, 0),
        };
        let tcp = tcp_fd(self, fd)?;
        if tcp.binding.is_some() || !matches!(tcp.role, TcpRole::Idle) {
            return fail(libc::EINVAL);
        }
        let reuse_addr = tcp.options.reuse_addr;
        self.check_local_address(addr)?;
        let port = if port == 0 {
            self.allocate_ephemeral_port(true)?
        } else {
            self.check_port_free(port, true, reuse_addr)?;
            port
        };
        tcp_fd(self, fd)?.binding = Some(LocalBinding { addr, port });
        Ok(())
    }

    pub fn tcp_listen(&mut self, fd: c_int, backlog: c_int) -> SysResult<()> {
        let capacity = (backlog.max(0) as usize + 1).min(MAX_BACKLOG);
        // Linux compares the backlog as unsigned: a negative one means somaxconn.
        let linux_backlog = (backlog as u32).min(SOMAXCONN);
        let binding = match &mut tcp_fd(self, fd)?.role {
            TcpRole::Connection(_) => return fail(libc::EINVAL),
            TcpRole::Listening(listener) => {
                listener.capacity = capacity;
                listener.backlog = linux_backlog;
                return Ok(());
            }
            TcpRole::Idle => tcp_fd(self, fd)?.binding,
        };
        let binding = match binding {
            Some(binding) => binding,
            None => LocalBinding {
                addr: None,
                port: self.allocate_ephemeral_port(true)?,
            },
        };
        if let (Some(mss), Some(network)) = (tcp_fd(self, fd)?.options.max_seg, &mut self.network) {
            network.link.tap().policy.port_mss.insert(binding.port, mss);
        }
        let Stack {
            config,
            sockets,
            fds,
            ..
        } = self;
        let Some(FdEntry::Tcp(tcp)) = fds.get_mut(fd) else {
            return fail(libc::EBADF);
        };
        tcp.binding = Some(binding);
        let mut listener = Listener {
            endpoint: IpListenEndpoint {
                addr: binding.addr,
                port: binding.port,
            },
            capacity,
            backlog: linux_backlog,
            pool: Vec::new(),
            ready: VecDeque::new(),
        };
        listener.refill(sockets, config, &tcp.options);
        tcp.role = TcpRole::Listening(listener);
        Ok(())
    }

    /// One try of accept: the oldest established connection as a new descriptor, and its peer.
    pub fn tcp_accept(
        &mut self,
        fd: c_int,
        started: Instant,
    ) -> Attempt<(c_int, SocketDomain, IpEndpoint)> {
        let now = self.now();
        let tcp = match tcp_fd(self, fd) {
            Ok(tcp) => tcp,
            Err(errno) => return Attempt::Done(Err(errno)),
        };
        let TcpRole::Listening(listener) = &mut tcp.role else {
            return Attempt::Done(fail(libc::EINVAL));
        };
        let Some(connection) = listener.ready.pop_front() else {
            if tcp.flags.nonblocking {
                return Attempt::Done(fail(libc::EAGAIN));
            }
            return wait_until(tcp.options.recv_timeout, started, now, libc::EAGAIN);
        };
        let domain = tcp.domain;
        let peer = connection.tuple.remote;
        let accepted = TcpFd {
            domain,
            flags: FdFlags::default(),
            options: tcp.options.clone(),
            binding: Some(LocalBinding {
                addr: Some(connection.tuple.local.addr),
                port: connection.tuple.local.port,
            }),
            role: TcpRole::Connection(connection),
        };
        let new_fd = self.fds.insert(FdEntry::Tcp(accepted));
        Attempt::Done(Ok((new_fd, domain, peer)))
    }

    /// The first step of connect: checks, and sends the SYN.
    pub fn tcp_connect_start(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<ConnectStart> {
        let now = self.now();
        let syn_timeout = Duration::from_millis(self.config.syn_timeout_ms);
        let Stack {
            fds,
            sockets,
            closing,
            ..
        } = self;
        let tcp = tcp_entry(fds, fd)?;
        let nonblocking = tcp.flags.nonblocking;
        match (&mut tcp.role, addr) {
            (TcpRole::Listening(_), _) => return fail(libc::EISCONN),
            (TcpRole::Connection(_), SocketAddress::Unspecified) => {
                // connect(AF_UNSPEC) dissolves the connection (tcp_disconnect sends an RST).
                let TcpRole::Connection(connection) =
                    std::mem::replace(&mut tcp.role, TcpRole::Idle)
                else {
                    return Ok(ConnectStart::Done);
                };
                close_connection(connection, tcp.domain, true, sockets, closing);
                return Ok(ConnectStart::Done);
            }
            (TcpRole::Idle, SocketAddress::Unspecified) => return Ok(ConnectStart::Done),
            (TcpRole::Connection(connection), _) => match connection.phase {
                ConnectPhase::Connected => return fail(libc::EISCONN),
                ConnectPhase::Connecting => {
                    let state = connection.state(sockets);
                    return if is_handshaking(state) {
                        fail(libc::EALREADY)
                    } else if connection_over(state) {
                        connection.phase = ConnectPhase::Failed;
                        Err(connection.take_error().unwrap_or(Errno(libc::ECONNABORTED)))
                    } else {
                        // The connection completed since the EINPROGRESS: Linux reports
                        // success once, then EISCONN.
                        connection.phase = ConnectPhase::Connected;
                        Ok(ConnectStart::Done)
                    };
                }
                ConnectPhase::Failed => {
                    if let Some(handle) = connection.handle.take() {
                        sockets.remove(handle);
                    }
                }
            },
            (TcpRole::Idle, _) => {}
        }

        let SocketAddress::Endpoint { addr, port } = addr else {
            return Ok(ConnectStart::Done);
        };
        let network = self.network()?;
        let remote_addr = addr.ok_or(Errno(libc::ECONNREFUSED))?;
        if port == 0 {
            return fail(libc::ECONNREFUSED);
        }
        if remote_addr.version() != network.local_addr.version() {
            return fail(libc::ENETUNREACH);
        }
        let default_local = network.local_addr;
        let binding = match tcp_fd(self, fd)?.binding {
            Some(binding) => binding,
            None => LocalBinding {
                addr: None,
                port: self.allocate_ephemeral_port(true)?,
            },
        };
        let local = IpEndpoint::new(binding.addr.unwrap_or(default_local), binding.port);
        let remote = IpEndpoint::new(remote_addr, port);
        let options = tcp_fd(self, fd)?.options.clone();
        let mut socket = new_smoltcp_socket(&self.config, &options);
        let network = self.network.as_mut().ok_or(Errno(libc::ENETUNREACH))?;
        if let Some(mss) = options.max_seg {
            network.link.tap().policy.port_mss.insert(local.port, mss);
        }
        socket
            .connect(network.iface.context(), remote, local)
            .map_err(|_| Errno(libc::EADDRNOTAVAIL))?;
        let handle = self.sockets.add(socket);
        let mut connection = TcpConnection::new(
            handle,
            TcpTuple { local, remote },
            State::SynSent,
            ConnectPhase::Connecting,
        );
        connection.syn_deadline = Some(now + syn_timeout);
        let tcp = tcp_fd(self, fd)?;
        tcp.binding = Some(binding);
        tcp.role = TcpRole::Connection(connection);
        Ok(ConnectStart::InProgress {
            blocking: !nonblocking,
        })
    }

    /// One try of a blocking connect's wait for the handshake.
    pub fn tcp_connect_wait(&mut self, fd: c_int, started: Instant) -> Attempt<()> {
        let now = self.now();
        let Stack { fds, sockets, .. } = self;
        let Some(FdEntry::Tcp(tcp)) = fds.get_mut(fd) else {
            return Attempt::Done(fail(libc::EBADF));
        };
        let send_timeout = tcp.options.send_timeout;
        let TcpRole::Connection(connection) = &mut tcp.role else {
            return Attempt::Done(fail(libc::ECONNABORTED));
        };
        let state = connection.state(sockets);
        if is_handshaking(state) {
            return wait_until(send_timeout, started, now, libc::EINPROGRESS);
        }
        if connection_over(state) {
            connection.phase = ConnectPhase::Failed;
            return Attempt::Done(Err(connection
                .take_error()
                .unwrap_or(Errno(libc::ECONNABORTED))));
        }
        connection.phase = ConnectPhase::Connected;
        Attempt::Done(Ok(()))
    }

    /// One try of a TCP receive into `dst` (scattered over several buffers).
    pub fn tcp_recv(
        &mut self,
        fd: c_int,
        dst: &mut [&mut [u8]],
        flags: c_int,
        started: Instant,
    ) -> Attempt<usize> {
        let now = self.now();
        let Stack { fds, sockets, .. } = self;
        let call = match data_call(fds, fd, flags, libc::ENOTCONN) {
            Ok(call) => call,
            Err(errno) => return Attempt::Done(Err(errno)),
        };
        let (connection, nonblocking) = (call.connection, call.nonblocking);
        let recv_timeout = call.recv_timeout;
        let wanted: usize = dst.iter().map(|buf| buf.len()).sum();
        let state = connection.state(sockets);
        if let Some(handle) = connection.handle {
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            let available = socket.recv_queue();
            if available > 0 && !is_handshaking(state) && wanted > 0 {
                let mut data = vec![0u8; wanted.min(available)];
                let copied = if flags & libc::MSG_PEEK != 0 {
                    socket.peek_slice(&mut data)
                } else {
                    socket.recv_slice(&mut data)
                };
                let copied = match copied {
                    Ok(copied) => copied,
                    Err(_) => return Attempt::Done(fail(libc::ENOTCONN)),
                };
                scatter(&data[..copied], dst);
                return Attempt::Done(Ok(copied));
            }
        }
        if wanted == 0 && !is_handshaking(state) {
            return Attempt::Done(Ok(0));
        }
        if let Some(errno) = connection.take_error() {
            return Attempt::Done(Err(errno));
        }
        if connection.shut_rd || peer_finished(state) || state == State::Closed {
            return Attempt::Done(Ok(0));
        }
        if nonblocking {
            return Attempt::Done(fail(libc::EAGAIN));
        }
        wait_until(recv_timeout, started, now, libc::EAGAIN)
    }

    /// One try of a TCP send of `data[*sent..]`; `sent` keeps the progress across tries.
    pub fn tcp_send(
        &mut self,
        fd: c_int,
        data: &[u8],
        sent: &mut usize,
        flags: c_int,
        started: Instant,
    ) -> Attempt<usize> {
        let now = self.now();
        let Stack { fds, sockets, .. } = self;
        let call = match data_call(fds, fd, flags, libc::EPIPE) {
            Ok(call) => call,
            Err(errno) => return Attempt::Done(Err(errno)),
        };
        let (connection, nonblocking) = (call.connection, call.nonblocking);
        let send_timeout = call.send_timeout;
        if *sent == 0 {
            if let Some(errno) = connection.take_error() {
                return Attempt::Done(Err(errno));
            }
        }
        let state = connection.state(sockets);
        let Some(handle) = connection.handle else {
            return progress_or(*sent, Errno(libc::EPIPE));
        };
        if connection.shut_wr
            || matches!(
                state,
                State::FinWait1
                    | State::FinWait2
                    | State::Closing
                    | State::LastAck
                    | State::TimeWait
                    | State::Closed
                    | State::Listen
            )
        {
            return progress_or(*sent, Errno(libc::EPIPE));
        }
        if !is_handshaking(state) {
            if data.is_empty() {
                return Attempt::Done(Ok(0));
            }
            let socket = sockets.get_mut::<tcp::Socket>(handle);
            match socket.send_slice(&data[*sent..]) {
                Ok(queued) => *sent += queued,
                Err(_) => return progress_or(*sent, Errno(libc::EPIPE)),
            }
            if *sent == data.len() {
                return Attempt::Done(Ok(*sent));
            }
        }
        if nonblocking {
            return progress_or(*sent, Errno(libc::EAGAIN));
        }
        match wait_until(send_timeout, started, now, libc::EAGAIN) {
            Attempt::Done(_) => progress_or(*sent, Errno(libc::EAGAIN)),
            wait => wait,
        }
    }

    pub fn tcp_shutdown(&mut self, fd: c_int, how: c_int) -> SysResult<()> {
        let Stack {
            fds,
            sockets,
            closing,
            ..
        } = self;
        let Some(FdEntry::Tcp(tcp)) = fds.get_mut(fd) else {
            return fail(libc::EBADF);
        };
        let (read, write) = match how {
            libc::SHUT_RD => (true, false),
            libc::SHUT_WR => (false, true),
            libc::SHUT_RDWR => (true, true),
            _ => return fail(libc::EINVAL),
        };
        match &mut tcp.role {
            TcpRole::Idle => fail(libc::ENOTCONN),
            TcpRole::Listening(_) => {
                if read {
                    let TcpRole::Listening(listener) =
                        std::mem::replace(&mut tcp.role, TcpRole::Idle)
                    else {
                        return Ok(());
                    };
                    listener.tear_down(tcp.domain, sockets, closing);
                }
                Ok(())
            }
            TcpRole::Connection(connection) => {
                let state = connection.state(sockets);
                if connection_over(state) {
                    return fail(libc::ENOTCONN);
                }
                if read {
                    connection.shut_rd = true;
                }
                if write && !connection.shut_wr {
                    connection.shut_wr = true;
                    if let Some(handle) = connection.handle {
                        sockets.get_mut::<tcp::Socket>(handle).close();
                    }
                }
                Ok(())
            }
        }
    }

    /// Closes a TCP descriptor's socket side (the descriptor itself is already removed).
    pub fn tcp_close(&mut self, tcp: TcpFd) {
        let abort = tcp.options.linger == Some(0);
        match tcp.role {
            TcpRole::Idle => {}
            TcpRole::Listening(listener) => {
                listener.tear_down(tcp.domain, &mut self.sockets, &mut self.closing)
            }
            TcpRole::Connection(connection) => close_connection(
                connection,
                tcp.domain,
                abort,
                &mut self.sockets,
                &mut self.closing,
            ),
        }
    }
}

/// Copies `src` into consecutive buffers.
pub fn scatter(src: &[u8], dst: &mut [&mut [u8]]) {
    let mut rest = src;
    for buf in dst.iter_mut() {
        if rest.is_empty() {
            break;
        }
        let n = buf.len().min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        rest = &rest[n..];
    }
}

/// Waits (until `started + timeout` when a timeout is set), or fails with `on_timeout` once
/// that time has come.
pub fn wait_until<T>(
    timeout: Option<Duration>,
    started: Instant,
    now: Instant,
    on_timeout: c_int,
) -> Attempt<T> {
    match timeout.map(|timeout| started + timeout) {
        Some(deadline) if now >= deadline => Attempt::Done(fail(on_timeout)),
        deadline => Attempt::Wait(deadline),
    }
}

/// What a data call (receive or send) on a TCP fd works with.
struct DataCall<'a> {
    connection: &'a mut TcpConnection,
    /// O_NONBLOCK on the fd, or MSG_DONTWAIT on the call.
    nonblocking: bool,
    recv_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
}

/// The connection behind `fd` for a data call with `flags`; EBADF for an fd that is not a TCP
/// socket, `unconnected` for one that is not a connection.
fn data_call(
    fds: &mut FdTable<FdEntry>,
    fd: c_int,
    flags: c_int,
    unconnected: c_int,
) -> Result<DataCall<'_>, Errno> {
    let Some(FdEntry::Tcp(tcp)) = fds.get_mut(fd) else {
        return Err(Errno(libc::EBADF));
    };
    let nonblocking = tcp.flags.nonblocking || flags & libc::MSG_DONTWAIT != 0;
    let (recv_timeout, send_timeout) = (tcp.options.recv_timeout, tcp.options.send_timeout);
    match &mut tcp.role {
        TcpRole::Connection(connection) => Ok(DataCall {
            connection,
            nonblocking,
            recv_timeout,
            send_timeout,
        }),
        _ => Err(Errno(unconnected)),
    }
}
