//! The kernel's side of introspection: its TCP sockets in the run's namespace, read through
//! netlink sock_diag (the messages built and parsed by netlink-packet-sock-diag), and tcp_info
//! of a script fd through getsockopt. The kernel is not polled, so `/pollinghang` is refused.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket, SocketAddr as NetlinkAddr};

use super::target::KernelTarget;
use crate::sut::socket_info;
use crate::sut::view::{Refusal, SocketRecord, StackView};

/// Every TCP socket of the current network namespace, IPv4 and IPv6, with tcp_info and the
/// congestion control name (request sockets of listeners included, as SYN_RECV).
pub fn tcp_sockets() -> std::io::Result<Vec<SocketRecord>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    let mut records = Vec::new();
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        dump_family(&socket, family, &mut records)?;
    }
    Ok(records)
}

fn dump_family(socket: &Socket, family: u8, out: &mut Vec<SocketRecord>) -> std::io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == libc::AF_INET as u8 {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut request = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol: libc::IPPROTO_TCP as u8,
            extensions: ExtensionFlags::INFO | ExtensionFlags::CONG,
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    request.finalize();
    let mut bytes = vec![0; request.buffer_len()];
    request.serialize(&mut bytes);
    socket.send(&bytes, 0)?;

    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let received = socket.recv(&mut &mut buffer[..], 0)?;
        let mut offset = 0;
        while offset < received {
            let message = <NetlinkMessage<SockDiagMessage>>::deserialize(&buffer[offset..received])
                .map_err(|e| std::io::Error::other(format!("sock_diag answer: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                    out.push(record_of(&response));
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("sock_diag: {e}")));
                }
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

fn record_of(response: &netlink_packet_sock_diag::inet::InetResponse) -> SocketRecord {
    let header = &response.header;
    let id = &header.socket_id;
    let mut record = SocketRecord {
        protocol: libc::IPPROTO_TCP,
        local: SocketAddr::new(id.source_address, id.source_port),
        remote: SocketAddr::new(id.destination_address, id.destination_port),
        state: header.state,
        recv_queue: header.recv_queue,
        send_queue: header.send_queue,
        congestion: None,
        tcp_info: Vec::new(),
    };
    for nla in &response.nlas {
        match nla {
            Nla::TcpInfo(bytes) => record.tcp_info = bytes.clone(),
            Nla::Congestion(name) => record.congestion = Some(name.clone()),
            _ => {}
        }
    }
    record
}

/// Whether a socket belongs to stackdrill's own HTTP server or its clients (curl): not the
/// stack under test's, so not shown.
fn is_introspection(record: &SocketRecord, http_port: u16) -> bool {
    let loopback = |ip: IpAddr| ip.is_loopback();
    (record.local.port() == http_port && loopback(record.local.ip()))
        || (record.remote.port() == http_port && loopback(record.remote.ip()))
}

/// The kernel target as introspection and code blocks see it.
pub struct KernelView {
    /// The introspection server's port: its own sockets (and its clients') are not listed.
    pub http_port: Option<u16>,
}

impl StackView for KernelView {
    fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal> {
        let mut records =
            tcp_sockets().map_err(|e| Refusal::Failed(format!("reading sock_diag: {e}")))?;
        if let Some(port) = self.http_port {
            records.retain(|r| !is_introspection(r, port));
        }
        Ok(records)
    }

    /// Through getsockopt on the calling thread: the kernel's sockets may be read from any
    /// thread, even while a call blocks in the kernel on another.
    fn socket_info(&self, live_fd: i32) -> Result<Vec<(String, i64)>, Refusal> {
        socket_info::snapshot(&mut KernelTarget, live_fd, false).map_err(Refusal::Failed)
    }

    fn polling_hang(&self, _millis: u64) -> Result<(), Refusal> {
        Err(Refusal::BadRequest(
            "/pollinghang stops a userspace stack's polling; the kernel target is not polled"
                .to_string(),
        ))
    }
}
