//! The stack's TCP sockets as `stackdrill_sockets` lists them for stackdrill's `/netstat` and
//! `/ss` pages, the way Linux's socket tables show them:
//!
//! - a listening fd is one LISTEN entry (its bound address, maybe the wildcard), however many
//!   smoltcp sockets its pool holds; Recv-Q is the accept queue, Send-Q the backlog;
//! - a pool socket in a handshake is a SYN_RECV entry, and a connection established but not yet
//!   accepted an entry of its own, both without an fd (Linux's request and child sockets);
//! - a connection (connect()ed or accepted) is an entry with its fd and its state;
//! - a connection whose fd was closed and which is still going through FIN-WAIT, CLOSING,
//!   LAST-ACK or TIME-WAIT is an entry without an fd.
//!
//! Order: entries with an fd by fd, then the others (per listening fd: handshakes, then the
//! accept queue; then closed fds' connections, oldest first). UDP sockets and TCP sockets
//! that are idle or CLOSED are not listed (Linux's tables do not have them either). Addresses
//! are given in the family of the fd the socket belongs to (or belonged to): an AF_INET6
//! socket on an IPv4 wire shows IPv4-mapped addresses (`::ffff:a.b.c.d`), as Linux does.

use std::ffi::c_char;

use libc::c_int;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{self, State};
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::abi::{StackdrillSocket, SOCKET_TCP_INFO_LEN};
use crate::config::CongestionChoice;
use crate::sockaddr::SocketDomain;
use crate::socket_options::{tcp_info, tcp_info_of, CONGESTION_NAME_LEN};
use crate::stack::{FdEntry, Stack};
use crate::tcp_info::{linux_tcp_state, LinuxTcpInfo};
use crate::tcp_socket::{TcpFd, TcpRole};
use crate::wire_tap::TcpTuple;

/// No descriptor.
const NO_FD: c_int = -1;

/// An address as a socket of `domain` reports it, in the 16 bytes of the C struct.
fn address_bytes(domain: SocketDomain, addr: Option<IpAddress>) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    match (domain, addr) {
        (_, None) => {}
        (SocketDomain::Inet, Some(IpAddress::Ipv4(v4))) => bytes[..4].copy_from_slice(&v4.octets()),
        (SocketDomain::Inet6, Some(IpAddress::Ipv4(v4))) => {
            bytes = v4.to_ipv6_mapped().octets();
        }
        (_, Some(IpAddress::Ipv6(v6))) => bytes = v6.octets(),
    }
    bytes
}

/// The name TCP_CONGESTION reports for smoltcp's algorithm.
fn congestion_name(control: tcp::CongestionControl) -> &'static str {
    match control {
        tcp::CongestionControl::None => CongestionChoice::None.name(),
        tcp::CongestionControl::Reno => CongestionChoice::Reno.name(),
        tcp::CongestionControl::Cubic => CongestionChoice::Cubic.name(),
    }
}

/// One entry, before queues, congestion control and tcp_info are filled.
fn entry(
    fd: c_int,
    domain: SocketDomain,
    state: State,
    local: (Option<IpAddress>, u16),
    remote: Option<IpEndpoint>,
) -> StackdrillSocket {
    let mut entry = StackdrillSocket::zeroed();
    entry.fd = fd;
    entry.family = domain.to_c();
    entry.protocol = libc::IPPROTO_TCP;
    entry.state = c_int::from(linux_tcp_state(state));
    entry.local_ip = address_bytes(domain, local.0);
    entry.local_port = local.1;
    if let Some(remote) = remote {
        entry.remote_ip = address_bytes(domain, Some(remote.addr));
        entry.remote_port = remote.port;
    }
    entry
}

fn set_congestion(entry: &mut StackdrillSocket, name: &str) {
    for (slot, byte) in entry
        .congestion
        .iter_mut()
        .zip(name.bytes().take(CONGESTION_NAME_LEN - 1))
    {
        *slot = byte as c_char;
    }
}

fn set_tcp_info(entry: &mut StackdrillSocket, info: &LinuxTcpInfo) {
    let bytes = info.to_bytes();
    let len = bytes.len().min(SOCKET_TCP_INFO_LEN);
    entry.tcp_info[..len].copy_from_slice(&bytes[..len]);
    entry.tcp_info_len = len as u32;
}

impl Stack {
    /// Every TCP socket, in the order described in the module documentation.
    pub fn socket_table(&self) -> Vec<StackdrillSocket> {
        let mut with_fd = Vec::new();
        let mut without_fd = Vec::new();
        for (fd, entry) in self.fds.iter() {
            let FdEntry::Tcp(tcp) = entry else {
                continue;
            };
            match &tcp.role {
                TcpRole::Idle => {}
                TcpRole::Listening(listener) => {
                    with_fd.push(self.listener_entry(fd, tcp));
                    for &handle in &listener.pool {
                        let socket = self.sockets.get::<tcp::Socket>(handle);
                        let (Some(local), Some(remote)) =
                            (socket.local_endpoint(), socket.remote_endpoint())
                        else {
                            continue;
                        };
                        let tuple = TcpTuple { local, remote };
                        without_fd.extend(self.connection_entry(
                            NO_FD,
                            tcp.domain,
                            &tuple,
                            Some(handle),
                        ));
                    }
                    for connection in &listener.ready {
                        without_fd.extend(self.connection_entry(
                            NO_FD,
                            tcp.domain,
                            &connection.tuple,
                            connection.handle,
                        ));
                    }
                }
                TcpRole::Connection(connection) => {
                    with_fd.extend(self.connection_entry(
                        fd,
                        tcp.domain,
                        &connection.tuple,
                        connection.handle,
                    ));
                }
            }
        }
        for socket in &self.closing {
            without_fd.extend(self.connection_entry(
                NO_FD,
                socket.domain,
                &socket.tuple,
                Some(socket.handle),
            ));
        }
        with_fd.extend(without_fd);
        with_fd
    }

    fn listener_entry(&self, fd: c_int, tcp: &TcpFd) -> StackdrillSocket {
        let TcpRole::Listening(listener) = &tcp.role else {
            return StackdrillSocket::zeroed();
        };
        let local = (listener.endpoint.addr, listener.endpoint.port);
        let mut entry = entry(fd, tcp.domain, State::Listen, local, None);
        entry.recv_queue = listener.ready.len() as u32;
        entry.send_queue = listener.backlog;
        set_congestion(&mut entry, tcp.options.congestion.name());
        set_tcp_info(&mut entry, &tcp_info(self, tcp));
        entry
    }

    /// A connection's entry; `None` when it is CLOSED (its smoltcp socket gone, or about to
    /// be) or still in LISTEN (a pool socket without a peer yet).
    fn connection_entry(
        &self,
        fd: c_int,
        domain: SocketDomain,
        tuple: &TcpTuple,
        handle: Option<SocketHandle>,
    ) -> Option<StackdrillSocket> {
        let socket = self.sockets.get::<tcp::Socket>(handle?);
        let state = socket.state();
        if matches!(state, State::Closed | State::Listen) {
            return None;
        }
        let local = (Some(tuple.local.addr), tuple.local.port);
        let mut entry = entry(fd, domain, state, local, Some(tuple.remote));
        entry.recv_queue = socket.recv_queue() as u32;
        entry.send_queue = socket.send_queue() as u32;
        set_congestion(&mut entry, congestion_name(socket.congestion_control()));
        set_tcp_info(&mut entry, &tcp_info_of(self, state, Some((tuple, handle))));
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn addresses_follow_the_sockets_family() {
        let v4 = Some(IpAddress::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        let mut expected = [0u8; 16];
        expected[..4].copy_from_slice(&[192, 0, 2, 1]);
        assert_eq!(address_bytes(SocketDomain::Inet, v4), expected);
        assert_eq!(
            address_bytes(SocketDomain::Inet6, v4),
            Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets()
        );
        assert_eq!(address_bytes(SocketDomain::Inet6, None), [0u8; 16]);
    }

    #[test]
    fn congestion_names_are_nul_terminated() {
        let mut entry = StackdrillSocket::zeroed();
        set_congestion(&mut entry, "cubic");
        let name: Vec<u8> = entry.congestion.iter().map(|&c| c as u8).collect();
        assert_eq!(&name[..6], b"cubic\0");
        set_congestion(&mut entry, "a-name-longer-than-sixteen");
        assert_eq!(entry.congestion[15], 0);
    }
}
