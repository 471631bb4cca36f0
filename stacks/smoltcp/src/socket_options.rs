//! getsockopt/setsockopt: the per-descriptor option values ([`SocketOptions`]), their Linux
//! encodings and errors, and applying them to the smoltcp sockets behind a descriptor.

use libc::{c_int, linger, timeval};
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};

use crate::config::{CongestionChoice, StackConfig, MAX_SOCKET_BUFFER, MIN_MSS, MIN_SOCKET_BUFFER};
use crate::errno::{fail, Errno, SysResult};
use crate::socket_internals::{self, CongestionWindow};
use crate::stack::{FdEntry, Network, Stack};
use crate::tcp_info::{
    linux_tcp_state, LinuxTcpInfo, TCPI_OPT_SACK, TCPI_OPT_TIMESTAMPS, TCPI_OPT_WSCALE,
};
use crate::tcp_socket::{apply_liveness, smoltcp_congestion, TcpFd, TcpRole};
use crate::wire_tap::{TcpTuple, WireTap};

/// Linux's TCP_MSS_DEFAULT: what TCP_MAXSEG reports before a connection exists.
const DEFAULT_REPORTED_MSS: u32 = 536;
/// Linux's MAX_TCP_KEEPIDLE / MAX_TCP_KEEPINTVL and MAX_TCP_KEEPCNT.
const MAX_KEEP_SECS: i32 = 32767;
const MAX_KEEP_COUNT: i32 = 127;
/// Linux's MAX_TCP_WINDOW, the largest TCP_MAXSEG.
const MAX_MAXSEG: i32 = 32767;
/// Longest SO_RCVTIMEO / SO_SNDTIMEO kept (a year); longer ones are that long.
const MAX_SOCKET_TIMEOUT_SECS: u64 = 365 * 24 * 3600;
/// Length of a congestion control name (TCP_CA_NAME_MAX).
pub const CONGESTION_NAME_LEN: usize = 16;
/// Linux's TCP_INFINITE_SSTHRESH: tcpi_snd_ssthresh before the first loss.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// Option values of one descriptor. Accepted connections inherit the listener's.
#[derive(Clone, Debug)]
pub struct SocketOptions {
    /// TCP_NODELAY.
    pub nodelay: bool,
    pub keepalive: bool,
    pub keep_idle_secs: u32,
    pub keep_intvl_secs: u32,
    pub keep_cnt: u32,
    /// TCP_USER_TIMEOUT in ms, 0 when unset.
    pub user_timeout_ms: u32,
    /// SO_LINGER: `Some(seconds)` when l_onoff is set.
    pub linger: Option<u32>,
    /// Buffer bytes for the smoltcp sockets created from now on.
    pub rcvbuf: usize,
    pub sndbuf: usize,
    /// What SO_RCVBUF / SO_SNDBUF report (Linux reports twice the value set).
    pub rcvbuf_reported: usize,
    pub sndbuf_reported: usize,
    pub reuse_addr: bool,
    pub reuse_port: bool,
    /// TCP_MAXSEG as set.
    pub max_seg: Option<u16>,
    pub recv_timeout: Option<Duration>,
    pub send_timeout: Option<Duration>,
    pub congestion: CongestionChoice,
}

impl SocketOptions {
    pub fn new(config: &StackConfig) -> Self {
        SocketOptions {
            nodelay: !config.nagle,
            keepalive: false,
            keep_idle_secs: 7200,
            keep_intvl_secs: 75,
            keep_cnt: 9,
            user_timeout_ms: 0,
            linger: None,
            rcvbuf: config.rcvbuf,
            sndbuf: config.sndbuf,
            rcvbuf_reported: config.rcvbuf,
            sndbuf_reported: config.sndbuf,
            reuse_addr: false,
            reuse_port: false,
            max_seg: None,
            recv_timeout: None,
            send_timeout: None,
            congestion: config.congestion,
        }
    }
}

fn int_bytes(value: c_int) -> Vec<u8> {
    value.to_ne_bytes().to_vec()
}

fn read_int(value: &[u8]) -> SysResult<c_int> {
    let bytes: [u8; 4] = value
        .get(..4)
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Errno(libc::EINVAL))?;
    Ok(c_int::from_ne_bytes(bytes))
}

fn read_struct<T: Copy>(value: &[u8]) -> SysResult<T> {
    if value.len() < std::mem::size_of::<T>() {
        return fail(libc::EINVAL);
    }
    // SAFETY: `value` has at least size_of::<T>() bytes; T is a plain-old-data libc struct
    // (linger, timeval) for which any bytes are a valid value; read_unaligned copes with any
    // alignment.
    Ok(unsafe { std::ptr::read_unaligned(value.as_ptr() as *const T) })
}

fn struct_bytes<T: Copy>(value: &T) -> Vec<u8> {
    let mut bytes = vec![0u8; std::mem::size_of::<T>()];
    // SAFETY: `bytes` has size_of::<T>() bytes; T is linger or timeval, which have no padding.
    unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut T, *value) };
    bytes
}

fn timeout_bytes(timeout: Option<Duration>) -> Vec<u8> {
    let micros = timeout.map_or(0, |timeout| timeout.total_micros());
    struct_bytes(&timeval {
        tv_sec: (micros / 1_000_000) as libc::time_t,
        tv_usec: (micros % 1_000_000) as libc::suseconds_t,
    })
}

fn read_timeout(value: &[u8]) -> SysResult<Option<Duration>> {
    let tv: timeval = read_struct(value)?;
    if tv.tv_sec < 0 {
        return Ok(None);
    }
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return fail(libc::EDOM);
    }
    // Capped at a year, which keeps deadlines far from overflowing the clock.
    let micros = (tv.tv_sec as u64)
        .min(MAX_SOCKET_TIMEOUT_SECS)
        .saturating_mul(1_000_000)
        + tv.tv_usec as u64;
    Ok((micros > 0).then(|| Duration::from_micros(micros)))
}

/// The MSS the stack sends with on a connection (what TCP_MAXSEG and tcpi_snd_mss report).
fn send_mss(network: &Network, tuple: &TcpTuple, config: &StackConfig) -> Option<u32> {
    let seen = network.link.egress.tap.observations(tuple)?;
    let local_mss = seen.local_syn?.mss?;
    let peer_mss = seen.peer_mss_seen_by_stack.unwrap_or(536);
    let options = if config.timestamps && seen.negotiated(|syn| syn.timestamps) {
        12
    } else {
        0
    };
    Some(u32::from(local_mss.min(peer_mss)).saturating_sub(options))
}

/// getsockopt(TCP_INFO) of a descriptor.
pub fn tcp_info(stack: &Stack, tcp: &TcpFd) -> LinuxTcpInfo {
    match &tcp.role {
        TcpRole::Idle => tcp_info_of(stack, tcp::State::Closed, None),
        TcpRole::Listening(_) => tcp_info_of(stack, tcp::State::Listen, None),
        TcpRole::Connection(connection) => tcp_info_of(
            stack,
            connection.state(&stack.sockets),
            Some((&connection.tuple, connection.handle)),
        ),
    }
}

/// tcp_info of a socket in `state`; for a connection (with or without a descriptor), from its
/// tuple (what the link saw) and its smoltcp socket, when it still has one.
pub fn tcp_info_of(
    stack: &Stack,
    state: tcp::State,
    connection: Option<(&TcpTuple, Option<SocketHandle>)>,
) -> LinuxTcpInfo {
    let mut info = LinuxTcpInfo {
        tcpi_state: linux_tcp_state(state),
        tcpi_ato: if stack.config.ack_delay_ms > 0 {
            (stack.config.ack_delay_ms * 1000) as u32
        } else {
            0
        },
        ..LinuxTcpInfo::default()
    };
    let (Some((tuple, handle)), Some(network)) = (connection, stack.network.as_ref()) else {
        return info;
    };
    let internals = handle.map_or_else(Default::default, |handle| {
        socket_internals::read(stack.sockets.get::<tcp::Socket>(handle))
    });
    if let Some(rtt) = internals.rtt {
        info.tcpi_rto = rtt.rto_ms.saturating_mul(1000);
        if rtt.have_measurement {
            info.tcpi_rtt = rtt.srtt_ms.saturating_mul(1000);
            info.tcpi_rttvar = rtt.rttvar_ms.saturating_mul(1000);
        }
    }
    info.tcpi_pmtu = network.link.mtu() as u32;
    let Some(seen) = network.link.egress.tap.observations(tuple) else {
        return info;
    };
    let snd_mss = send_mss(network, tuple, &stack.config).unwrap_or(DEFAULT_REPORTED_MSS);
    if let Some(CongestionWindow::Window { cwnd, ssthresh }) = internals.congestion {
        // Linux counts both in segments of snd_mss; smoltcp in bytes. Whole segments.
        let segments = |bytes: usize| {
            u32::try_from(bytes / snd_mss.max(1) as usize).unwrap_or(INFINITE_SSTHRESH)
        };
        info.tcpi_snd_cwnd = segments(cwnd);
        info.tcpi_snd_ssthresh = if ssthresh == usize::MAX {
            INFINITE_SSTHRESH
        } else {
            segments(ssthresh).min(INFINITE_SSTHRESH)
        };
    }
    let mut snd_wscale = 0;
    let mut rcv_wscale = 0;
    if seen.negotiated(|syn| syn.timestamps) && stack.config.timestamps {
        info.tcpi_options |= TCPI_OPT_TIMESTAMPS;
    }
    if seen.negotiated(|syn| syn.sack_permitted) {
        info.tcpi_options |= TCPI_OPT_SACK;
    }
    if seen.negotiated(|syn| syn.window_scale.is_some()) {
        info.tcpi_options |= TCPI_OPT_WSCALE;
        snd_wscale = seen.peer_syn.and_then(|syn| syn.window_scale).unwrap_or(0);
        rcv_wscale = seen.local_syn.and_then(|syn| syn.window_scale).unwrap_or(0);
    }
    info.tcpi_snd_rcv_wscale = (snd_wscale & 0x0f) | (rcv_wscale << 4);
    info.tcpi_snd_mss = snd_mss;
    let advmss = seen.local_syn.and_then(|syn| syn.mss).map_or(0, u32::from);
    info.tcpi_advmss = advmss;
    info.tcpi_rcv_mss = if seen.max_inbound_payload > 0 {
        seen.max_inbound_payload
    } else {
        advmss.min(snd_mss).min(DEFAULT_REPORTED_MSS)
    };
    let in_flight = seen.bytes_in_flight();
    info.tcpi_unacked = in_flight.div_ceil(snd_mss.max(1));
    info.tcpi_total_retrans = seen.total_retrans;
    info.tcpi_bytes_acked = seen.bytes_acked;
    info.tcpi_bytes_received = seen.bytes_received;
    info.tcpi_segs_out = seen.segs_out;
    info.tcpi_segs_in = seen.segs_in;
    info.tcpi_data_segs_in = seen.data_segs_in;
    info.tcpi_data_segs_out = seen.data_segs_out;
    info.tcpi_bytes_sent = seen.bytes_sent;
    info.tcpi_bytes_retrans = seen.bytes_retrans;
    info.tcpi_snd_wnd = u32::from(seen.peer_window) << snd_wscale.min(14);
    info.tcpi_rcv_wnd = u32::from(seen.local_window) << rcv_wscale.min(14);
    if let Some(handle) = handle {
        let queued = stack.sockets.get::<tcp::Socket>(handle).send_queue() as u32;
        info.tcpi_notsent_bytes = queued.saturating_sub(in_flight);
    }
    info
}

/// Applies a changed option to the live smoltcp sockets of a TCP descriptor.
fn apply_to_live_sockets(
    sockets: &mut SocketSet<'static>,
    tcp: &mut TcpFd,
    now: Instant,
    tap: Option<&WireTap>,
) {
    let handles: Vec<_> = match &mut tcp.role {
        TcpRole::Idle => Vec::new(),
        TcpRole::Connection(connection) => {
            connection.apply_liveness(sockets, &tcp.options, now, tap);
            connection.handle.into_iter().collect()
        }
        TcpRole::Listening(listener) => {
            for &handle in &listener.pool {
                apply_liveness(sockets.get_mut::<tcp::Socket>(handle), &tcp.options);
            }
            listener.pool.clone()
        }
    };
    for handle in handles {
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if socket.nagle_enabled() == tcp.options.nodelay {
            socket.set_nagle_enabled(!tcp.options.nodelay);
        }
        if socket.congestion_control() != smoltcp_congestion(tcp.options.congestion) {
            socket.set_congestion_control(smoltcp_congestion(tcp.options.congestion));
        }
    }
}

fn buffer_size(value: c_int) -> usize {
    (value.max(0) as usize).clamp(MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER)
}

impl Stack {
    /// getsockopt: the option's value as Linux encodes it (the caller copies what fits).
    pub fn getsockopt(&mut self, fd: c_int, level: c_int, name: c_int) -> SysResult<Vec<u8>> {
        let entry = self.fds.get(fd).ok_or(Errno(libc::EBADF))?;
        let (options, is_tcp) = match entry {
            FdEntry::Tcp(tcp) => (&tcp.options, true),
            FdEntry::Udp(udp) => (&udp.options, false),
            FdEntry::Epoll(_) => return fail(libc::ENOTSOCK),
        };
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => Ok(int_bytes(if is_tcp {
                libc::SOCK_STREAM
            } else {
                libc::SOCK_DGRAM
            })),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => Ok(int_bytes(if is_tcp {
                libc::IPPROTO_TCP
            } else {
                libc::IPPROTO_UDP
            })),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => Ok(int_bytes(match entry {
                FdEntry::Tcp(tcp) => tcp.domain.to_c(),
                FdEntry::Udp(udp) => udp.domain.to_c(),
                FdEntry::Epoll(_) => 0,
            })),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => Ok(int_bytes(matches!(
                entry,
                FdEntry::Tcp(TcpFd {
                    role: TcpRole::Listening(_),
                    ..
                })
            ) as c_int)),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => Ok(int_bytes(options.keepalive as c_int)),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => Ok(int_bytes(options.reuse_addr as c_int)),
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => Ok(int_bytes(options.reuse_port as c_int)),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => Ok(int_bytes(options.rcvbuf_reported as c_int)),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => Ok(int_bytes(options.sndbuf_reported as c_int)),
            (libc::SOL_SOCKET, libc::SO_LINGER) => Ok(struct_bytes(&linger {
                l_onoff: options.linger.is_some() as c_int,
                l_linger: options.linger.unwrap_or(0) as c_int,
            })),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => Ok(timeout_bytes(options.recv_timeout)),
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => Ok(timeout_bytes(options.send_timeout)),
            (libc::SOL_SOCKET, libc::SO_ERROR) => {
                let error = match self.entry_mut(fd)? {
                    FdEntry::Tcp(TcpFd {
                        role: TcpRole::Connection(connection),
                        ..
                    }) => connection.pending_error.take(),
                    FdEntry::Udp(udp) => udp.pending_error.take(),
                    _ => None,
                };
                Ok(int_bytes(error.unwrap_or(0)))
            }
            (libc::SOL_SOCKET, _) => fail(libc::ENOPROTOOPT),
            (libc::IPPROTO_TCP, _) => {
                let FdEntry::Tcp(tcp) = entry else {
                    return fail(libc::EOPNOTSUPP);
                };
                self.tcp_getsockopt(tcp, name)
            }
            (libc::IPPROTO_IP | libc::IPPROTO_IPV6, _) => fail(libc::ENOPROTOOPT),
            _ => fail(libc::EOPNOTSUPP),
        }
    }

    fn tcp_getsockopt(&self, tcp: &TcpFd, name: c_int) -> SysResult<Vec<u8>> {
        let options = &tcp.options;
        match name {
            libc::TCP_NODELAY => Ok(int_bytes(options.nodelay as c_int)),
            libc::TCP_MAXSEG => {
                let connected = tcp.connection().zip(self.network.as_ref()).and_then(
                    |(connection, network)| send_mss(network, &connection.tuple, &self.config),
                );
                let mss = connected
                    .or(options.max_seg.map(u32::from))
                    .unwrap_or(DEFAULT_REPORTED_MSS);
                Ok(int_bytes(mss as c_int))
            }
            libc::TCP_KEEPIDLE => Ok(int_bytes(options.keep_idle_secs as c_int)),
            libc::TCP_KEEPINTVL => Ok(int_bytes(options.keep_intvl_secs as c_int)),
            libc::TCP_KEEPCNT => Ok(int_bytes(options.keep_cnt as c_int)),
            libc::TCP_USER_TIMEOUT => Ok(int_bytes(options.user_timeout_ms as c_int)),
            libc::TCP_INFO => Ok(tcp_info(self, tcp).to_bytes()),
            libc::TCP_CONGESTION => {
                let mut name = options.congestion.name().as_bytes().to_vec();
                name.resize(CONGESTION_NAME_LEN, 0);
                Ok(name)
            }
            _ => fail(libc::ENOPROTOOPT),
        }
    }

    /// setsockopt with the option bytes the caller passed.
    pub fn setsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: &[u8],
    ) -> SysResult<()> {
        let now = self.clock.now();
        let Stack {
            fds,
            sockets,
            network,
            ..
        } = self;
        let entry = fds.get_mut(fd).ok_or(Errno(libc::EBADF))?;
        let (options, tcp) = match entry {
            FdEntry::Tcp(tcp) => (&mut tcp.options, true),
            FdEntry::Udp(udp) => (&mut udp.options, false),
            FdEntry::Epoll(_) => return fail(libc::ENOTSOCK),
        };
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => options.keepalive = read_int(value)? != 0,
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => options.reuse_addr = read_int(value)? != 0,
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => options.reuse_port = read_int(value)? != 0,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                let bytes = buffer_size(read_int(value)?);
                options.rcvbuf = bytes;
                options.rcvbuf_reported = bytes * 2;
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                let bytes = buffer_size(read_int(value)?);
                options.sndbuf = bytes;
                options.sndbuf_reported = bytes * 2;
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let linger: linger = read_struct(value)?;
                options.linger = (linger.l_onoff != 0).then_some(linger.l_linger.max(0) as u32);
            }
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO) => options.recv_timeout = read_timeout(value)?,
            (libc::SOL_SOCKET, libc::SO_SNDTIMEO) => options.send_timeout = read_timeout(value)?,
            (libc::IPPROTO_TCP, _) if !tcp => return fail(libc::ENOPROTOOPT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => options.nodelay = read_int(value)? != 0,
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let mss = read_int(value)?;
                if mss != 0 && !(c_int::from(MIN_MSS)..=MAX_MAXSEG).contains(&mss) {
                    return fail(libc::EINVAL);
                }
                options.max_seg = (mss != 0).then_some(mss as u16);
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                options.keep_idle_secs = read_bounded(value, MAX_KEEP_SECS)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => {
                options.keep_intvl_secs = read_bounded(value, MAX_KEEP_SECS)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => {
                options.keep_cnt = read_bounded(value, MAX_KEEP_COUNT)?;
            }
            (libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT) => {
                let ms = read_int(value)?;
                if ms < 0 {
                    return fail(libc::EINVAL);
                }
                options.user_timeout_ms = ms as u32;
            }
            (libc::IPPROTO_TCP, libc::TCP_CONGESTION) => {
                let name: Vec<u8> = value.iter().copied().take_while(|&b| b != 0).collect();
                let name = std::str::from_utf8(&name).map_err(|_| Errno(libc::ENOENT))?;
                options.congestion =
                    CongestionChoice::from_name(name).ok_or(Errno(libc::ENOENT))?;
            }
            _ => return fail(libc::ENOPROTOOPT),
        }
        if let FdEntry::Tcp(tcp) = entry {
            let tap = network.as_ref().map(|network| &network.link.egress.tap);
            apply_to_live_sockets(sockets, tcp, now, tap);
            if let (Some(mss), Some(port), Some(network)) =
                (tcp.options.max_seg, tcp.local_port(), network.as_mut())
            {
                network.link.tap().policy.port_mss.insert(port, mss);
            }
        }
        Ok(())
    }
}

fn read_bounded(value: &[u8], max: c_int) -> SysResult<u32> {
    let number = read_int(value)?;
    if !(1..=max).contains(&number) {
        return fail(libc::EINVAL);
    }
    Ok(number as u32)
}
