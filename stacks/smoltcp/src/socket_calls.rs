//! The BSD socket calls as the stack sees them, independent of C pointers: creating sockets
//! and dispatching each call on the descriptor's kind (TCP, UDP, epoll), plus the descriptor
//! controls `fcntl` and `ioctl`.

use libc::{c_int, c_ulong};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;

use crate::errno::{fail, Errno, SysResult};
use crate::sockaddr::{SocketAddress, SocketDomain};
use crate::socket_options::SocketOptions;
use crate::stack::{Attempt, FdEntry, Stack};
use crate::tcp_socket::{ConnectStart, FdFlags, TcpFd, TcpRole};
use crate::udp_socket::Received;

/// Linux's SIOCOUTQNSD: bytes not yet sent.
const SIOCOUTQNSD: c_ulong = 0x894b;

impl Stack {
    pub fn socket(&mut self, domain: c_int, kind: c_int, protocol: c_int) -> SysResult<c_int> {
        let domain = SocketDomain::from_c(domain).ok_or(Errno(libc::EAFNOSUPPORT))?;
        let flags = FdFlags {
            nonblocking: kind & libc::SOCK_NONBLOCK != 0,
            cloexec: kind & libc::SOCK_CLOEXEC != 0,
        };
        match kind & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
            libc::SOCK_STREAM => {
                if protocol != 0 && protocol != libc::IPPROTO_TCP {
                    return fail(libc::EPROTONOSUPPORT);
                }
                let options = SocketOptions::new(&self.config);
                Ok(self
                    .fds
                    .insert(FdEntry::Tcp(TcpFd::new(domain, flags, options))))
            }
            libc::SOCK_DGRAM => {
                if protocol != 0 && protocol != libc::IPPROTO_UDP {
                    return fail(libc::EPROTONOSUPPORT);
                }
                Ok(self.udp_open(domain, flags))
            }
            libc::SOCK_RAW | libc::SOCK_SEQPACKET | libc::SOCK_RDM => fail(libc::ESOCKTNOSUPPORT),
            _ => fail(libc::EINVAL),
        }
    }

    /// The address family of a socket descriptor.
    pub fn domain_of(&self, fd: c_int) -> SysResult<SocketDomain> {
        match self.fds.get(fd) {
            Some(FdEntry::Tcp(tcp)) => Ok(tcp.domain),
            Some(FdEntry::Udp(udp)) => Ok(udp.domain),
            Some(FdEntry::Epoll(_)) => fail(libc::ENOTSOCK),
            None => fail(libc::EBADF),
        }
    }

    fn is_tcp(&self, fd: c_int) -> SysResult<bool> {
        match self.fds.get(fd) {
            Some(FdEntry::Tcp(_)) => Ok(true),
            Some(FdEntry::Udp(_)) => Ok(false),
            Some(FdEntry::Epoll(_)) => fail(libc::ENOTSOCK),
            None => fail(libc::EBADF),
        }
    }

    pub fn bind(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<()> {
        if self.is_tcp(fd)? {
            self.tcp_bind(fd, addr)
        } else {
            self.udp_bind(fd, addr)
        }
    }

    pub fn listen(&mut self, fd: c_int, backlog: c_int) -> SysResult<()> {
        if self.is_tcp(fd)? {
            self.tcp_listen(fd, backlog)
        } else {
            fail(libc::EOPNOTSUPP)
        }
    }

    pub fn connect_start(&mut self, fd: c_int, addr: SocketAddress) -> SysResult<ConnectStart> {
        if self.is_tcp(fd)? {
            self.tcp_connect_start(fd, addr)
        } else {
            self.udp_connect(fd, addr).map(|()| ConnectStart::Done)
        }
    }

    /// One try of a receive of any kind.
    pub fn recv(
        &mut self,
        fd: c_int,
        dst: &mut [&mut [u8]],
        flags: c_int,
        started: Instant,
    ) -> Attempt<Received> {
        match self.is_tcp(fd) {
            Err(errno) => Attempt::Done(Err(errno)),
            Ok(true) => self.tcp_recv(fd, dst, flags, started).map(|len| Received {
                len,
                from: None,
                truncated: false,
            }),
            Ok(false) => self.udp_recv(fd, dst, flags, started),
        }
    }

    /// One try of a send of any kind; `sent` keeps a stream send's progress across tries.
    pub fn send(
        &mut self,
        fd: c_int,
        data: &[u8],
        sent: &mut usize,
        dest: Option<SocketAddress>,
        flags: c_int,
        started: Instant,
    ) -> Attempt<usize> {
        match self.is_tcp(fd) {
            Err(errno) => Attempt::Done(Err(errno)),
            // TCP ignores a destination address, as Linux does for a connected socket.
            Ok(true) => self.tcp_send(fd, data, sent, flags, started),
            Ok(false) => self.udp_send(fd, data, dest, flags, started),
        }
    }

    pub fn shutdown(&mut self, fd: c_int, how: c_int) -> SysResult<()> {
        if self.is_tcp(fd)? {
            self.tcp_shutdown(fd, how)
        } else {
            self.udp_shutdown(fd, how)
        }
    }

    pub fn close(&mut self, fd: c_int) -> SysResult<()> {
        let entry = self.fds.remove(fd).ok_or(Errno(libc::EBADF))?;
        self.forget_in_epoll_sets(fd);
        match entry {
            FdEntry::Tcp(tcp) => self.tcp_close(tcp),
            FdEntry::Udp(udp) => self.udp_close(udp),
            FdEntry::Epoll(_) => {}
        }
        Ok(())
    }

    fn flags_mut(&mut self, fd: c_int) -> SysResult<&mut FdFlags> {
        Ok(match self.entry_mut(fd)? {
            FdEntry::Tcp(tcp) => &mut tcp.flags,
            FdEntry::Udp(udp) => &mut udp.flags,
            FdEntry::Epoll(epoll) => &mut epoll.flags,
        })
    }

    /// fcntl; `arg` is only meaningful for the commands that take one.
    pub fn fcntl(&mut self, fd: c_int, cmd: c_int, arg: c_int) -> SysResult<c_int> {
        let flags = self.flags_mut(fd)?;
        match cmd {
            libc::F_GETFL => Ok(libc::O_RDWR
                | if flags.nonblocking {
                    libc::O_NONBLOCK
                } else {
                    0
                }),
            libc::F_SETFL => {
                flags.nonblocking = arg & libc::O_NONBLOCK != 0;
                Ok(0)
            }
            libc::F_GETFD => Ok(if flags.cloexec { libc::FD_CLOEXEC } else { 0 }),
            libc::F_SETFD => {
                flags.cloexec = arg & libc::FD_CLOEXEC != 0;
                Ok(0)
            }
            _ => fail(libc::EINVAL),
        }
    }

    /// ioctl: `input` is `*arg` when the caller passed a pointer; a returned value is written
    /// back to it.
    pub fn ioctl(
        &mut self,
        fd: c_int,
        request: c_ulong,
        input: Option<c_int>,
    ) -> SysResult<Option<c_int>> {
        match request {
            libc::FIONBIO => {
                let value = input.ok_or(Errno(libc::EFAULT))?;
                self.flags_mut(fd)?.nonblocking = value != 0;
                return Ok(None);
            }
            libc::FIOCLEX | libc::FIONCLEX => {
                self.flags_mut(fd)?.cloexec = request == libc::FIOCLEX;
                return Ok(None);
            }
            _ => {}
        }
        let queued = match self.fds.get(fd).ok_or(Errno(libc::EBADF))? {
            FdEntry::Epoll(_) => return fail(libc::ENOTTY),
            FdEntry::Udp(udp) => {
                let socket = self.sockets.get::<smoltcp::socket::udp::Socket>(udp.handle);
                match request {
                    libc::FIONREAD => self.udp_next_datagram_len(fd)?,
                    libc::TIOCOUTQ => socket.send_queue(),
                    _ => return fail(libc::ENOTTY),
                }
            }
            FdEntry::Tcp(tcp) => {
                if !matches!(request, libc::FIONREAD | libc::TIOCOUTQ | SIOCOUTQNSD) {
                    return fail(libc::ENOTTY);
                }
                let connection = match &tcp.role {
                    TcpRole::Listening(_) => return fail(libc::EINVAL),
                    TcpRole::Idle => None,
                    TcpRole::Connection(connection) => connection
                        .handle
                        .map(|handle| (connection, self.sockets.get::<tcp::Socket>(handle))),
                };
                match (request, connection) {
                    (_, None) => 0,
                    (libc::FIONREAD, Some((_, socket))) => socket.recv_queue(),
                    (libc::TIOCOUTQ, Some((_, socket))) => socket.send_queue(),
                    (_, Some((connection, socket))) => {
                        let in_flight = self
                            .network
                            .as_ref()
                            .and_then(|network| {
                                network.link.egress.tap.observations(&connection.tuple)
                            })
                            .map_or(0, |seen| seen.bytes_in_flight() as usize);
                        socket.send_queue().saturating_sub(in_flight)
                    }
                }
            }
        };
        Ok(Some(queued as c_int))
    }
}
