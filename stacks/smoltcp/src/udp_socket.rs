//! UDP sockets with Linux semantics over smoltcp UDP sockets: bind (explicit or automatic on
//! first send), connect (a default destination and a receive filter), sendto and recvfrom.

use libc::c_int;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::udp;
use smoltcp::time::Instant;
use smoltcp::wire::{IpEndpoint, IpListenEndpoint, UDP_HEADER_LEN};

use crate::errno::{fail, Errno, SysResult};
use crate::sockaddr::{SocketAddress, SocketDomain};
use crate::socket_options::SocketOptions;
use crate::stack::{Attempt, FdEntry, Stack};
use crate::tcp_socket::{scatter, wait_until, FdFlags, LocalBinding};

/// Datagrams one smoltcp UDP socket queues in each direction.
const DATAGRAM_SLOTS: usize = 64;

/// A UDP descriptor.
#[derive(Debug)]
pub struct UdpFd {
    pub domain: SocketDomain,
    pub flags: FdFlags,
    pub options: SocketOptions,
    pub handle: SocketHandle,
    pub binding: Option<LocalBinding>,
    /// The connected peer.
    pub peer: Option<IpEndpoint>,
    pub pending_error: Option<c_int>,
}

/// A datagram (or stream bytes) handed to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes returned (the full datagram length with MSG_TRUNC).
    pub len: usize,
    /// The sender, for UDP.
    pub from: Option<IpEndpoint>,
    /// The datagram did not fit.
    pub truncated: bool,
}

impl UdpFd {
    pub fn local_port(&self) -> Option<u16> {
        self.binding.map(|binding| binding.port)
    }
}

/// A smoltcp UDP socket with the descriptor's buffer sizes.
pub fn new_smoltcp_udp_socket(options: &SocketOptions) -> udp::Socket<'static> {
    let rx = udp::PacketBuffer::new(
        vec![udp::PacketMetadata::EMPTY; DATAGRAM_SLOTS],
        vec![0u8; options.rcvbuf],
    );
    let tx = udp::PacketBuffer::new(
        vec![udp::PacketMetadata::EMPTY; DATAGRAM_SLOTS],
        vec![0u8; options.sndbuf],
    );
    udp::Socket::new(rx, tx)
}

fn udp_fd(stack: &mut Stack, fd: c_int) -> SysResult<&mut UdpFd> {
    match stack.entry_mut(fd)? {
        FdEntry::Udp(udp) => Ok(udp),
        _ => fail(libc::EOPNOTSUPP),
    }
}

impl Stack {
    pub fn udp_open(&mut self, domain: SocketDomain, flags: FdFlags) -> c_int {
        let options = SocketOptions::new(&self.config);
        let handle = self.sockets.add(new_smoltcp_udp_socket(&options));
        self.fds.insert(FdEntry::Udp(UdpFd {
            domain,
            flags,
            options,
            handle,
            binding: None,
            peer: None,
            pending_error: None,
        }))
    }

    pub fn udp_bind(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<()> {
        let (addr, port) = match addr {
            SocketAddress::Endpoint { addr, port } => (addr, port),
            SocketAddress::Unspecified => (None, 0),
        };
        let udp = udp_fd(self, fd)?;
        if udp.binding.is_some() {
            return fail(libc::EINVAL);
        }
        let reuse_addr = udp.options.reuse_addr;
        self.check_local_address(addr)?;
        let port = if port == 0 {
            self.allocate_ephemeral_port(false)?
        } else {
            self.check_port_free(port, false, reuse_addr)?;
            port
        };
        self.bind_udp_socket(fd, LocalBinding { addr, port })
    }

    fn bind_udp_socket(&mut self, fd: c_int, binding: LocalBinding) -> SysResult<()> {
        let udp = udp_fd(self, fd)?;
        let handle = udp.handle;
        udp.binding = Some(binding);
        self.sockets
            .get_mut::<udp::Socket>(handle)
            .bind(IpListenEndpoint {
                addr: binding.addr,
                port: binding.port,
            })
            .map_err(|_| Errno(libc::EINVAL))
    }

    fn udp_autobind(&mut self, fd: c_int) -> SysResult<()> {
        if udp_fd(self, fd)?.binding.is_none() {
            let port = self.allocate_ephemeral_port(false)?;
            self.bind_udp_socket(fd, LocalBinding { addr: None, port })?;
        }
        Ok(())
    }

    pub fn udp_connect(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<()> {
        match addr {
            SocketAddress::Unspecified => {
                udp_fd(self, fd)?.peer = None;
                Ok(())
            }
            SocketAddress::Endpoint { addr, port } => {
                let remote = addr.ok_or(Errno(libc::ENETUNREACH))?;
                if remote.version() != self.network()?.local_addr.version() {
                    return fail(libc::ENETUNREACH);
                }
                self.udp_autobind(fd)?;
                udp_fd(self, fd)?.peer = Some(IpEndpoint::new(remote, port));
                Ok(())
            }
        }
    }

    /// One try of a UDP send of `data` to `dest` (or the connected peer).
    pub fn udp_send(
        &mut self,
        fd: c_int,
        data: &[u8],
        dest: Option<SocketAddress>,
        flags: c_int,
        started: Instant,
    ) -> Attempt<usize> {
        match self.udp_send_checked(fd, data, dest, flags, started) {
            Ok(attempt) => attempt,
            Err(errno) => Attempt::Done(Err(errno)),
        }
    }

    fn udp_send_checked(
        &mut self,
        fd: c_int,
        data: &[u8],
        dest: Option<SocketAddress>,
        flags: c_int,
        started: Instant,
    ) -> SysResult<Attempt<usize>> {
        let now = self.now();
        let peer = udp_fd(self, fd)?.peer;
        let remote = match dest {
            Some(SocketAddress::Endpoint {
                addr: Some(addr),
                port,
            }) => IpEndpoint::new(addr, port),
            Some(SocketAddress::Endpoint { addr: None, .. }) => return fail(libc::ENETUNREACH),
            Some(SocketAddress::Unspecified) | None => peer.ok_or(Errno(libc::EDESTADDRREQ))?,
        };
        let network = self.network()?;
        if remote.addr.version() != network.local_addr.version() {
            return fail(libc::ENETUNREACH);
        }
        let ip_header_len = match network.wire {
            SocketDomain::Inet => 20,
            SocketDomain::Inet6 => 40,
        };
        if data.len() + UDP_HEADER_LEN + ip_header_len > network.link.mtu() {
            return fail(libc::EMSGSIZE);
        }
        self.udp_autobind(fd)?;
        let udp = udp_fd(self, fd)?;
        if data.len() > udp.options.sndbuf {
            return fail(libc::EMSGSIZE);
        }
        let nonblocking = udp.flags.nonblocking || flags & libc::MSG_DONTWAIT != 0;
        let send_timeout = udp.options.send_timeout;
        let local_address = udp.binding.and_then(|binding| binding.addr);
        let handle = udp.handle;
        let socket = self.sockets.get_mut::<udp::Socket>(handle);
        let meta = udp::UdpMetadata {
            endpoint: remote,
            local_address,
            meta: Default::default(),
        };
        match socket.send_slice(data, meta) {
            Ok(()) => Ok(Attempt::Done(Ok(data.len()))),
            Err(udp::SendError::Unaddressable) => fail(libc::EINVAL),
            Err(udp::SendError::BufferFull) if nonblocking => fail(libc::EAGAIN),
            Err(udp::SendError::BufferFull) => {
                Ok(wait_until(send_timeout, started, now, libc::EAGAIN))
            }
        }
    }

    /// One try of a UDP receive into `dst`.
    pub fn udp_recv(
        &mut self,
        fd: c_int,
        dst: &mut [&mut [u8]],
        flags: c_int,
        started: Instant,
    ) -> Attempt<Received> {
        let now = self.now();
        let Stack { fds, sockets, .. } = self;
        let Some(FdEntry::Udp(udp)) = fds.get_mut(fd) else {
            return Attempt::Done(fail(libc::EBADF));
        };
        let nonblocking = udp.flags.nonblocking || flags & libc::MSG_DONTWAIT != 0;
        let socket = sockets.get_mut::<udp::Socket>(udp.handle);
        // A connected socket only hears from its peer.
        while let (Some(peer), Ok((_, meta))) = (udp.peer, socket.peek()) {
            if meta.endpoint == peer {
                break;
            }
            let _ = socket.recv();
        }
        let wanted: usize = dst.iter().map(|buf| buf.len()).sum();
        let datagram = if flags & libc::MSG_PEEK != 0 {
            socket.peek().map(|(payload, meta)| (payload, *meta))
        } else {
            socket.recv()
        };
        if let Ok((payload, meta)) = datagram {
            let copied = payload.len().min(wanted);
            scatter(&payload[..copied], dst);
            let truncated = copied < payload.len();
            let len = if flags & libc::MSG_TRUNC != 0 {
                payload.len()
            } else {
                copied
            };
            return Attempt::Done(Ok(Received {
                len,
                from: Some(meta.endpoint),
                truncated,
            }));
        }
        if let Some(errno) = udp.pending_error.take() {
            return Attempt::Done(fail(errno));
        }
        if nonblocking {
            return Attempt::Done(fail(libc::EAGAIN));
        }
        wait_until(udp.options.recv_timeout, started, now, libc::EAGAIN)
    }

    pub fn udp_shutdown(&mut self, fd: c_int, how: c_int) -> SysResult<()> {
        let udp = udp_fd(self, fd)?;
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return fail(libc::EINVAL);
        }
        if udp.peer.is_none() {
            return fail(libc::ENOTCONN);
        }
        Ok(())
    }

    pub fn udp_close(&mut self, udp: UdpFd) {
        self.sockets.remove(udp.handle);
    }

    /// Bytes of the next datagram (FIONREAD on UDP).
    pub fn udp_next_datagram_len(&mut self, fd: c_int) -> SysResult<usize> {
        let handle = udp_fd(self, fd)?.handle;
        Ok(self
            .sockets
            .get_mut::<udp::Socket>(handle)
            .peek()
            .map_or(0, |(payload, _)| payload.len()))
    }
}
