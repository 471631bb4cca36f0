//! Packet sockets (`AF_PACKET`) bound to one interface, as the kernel-side wires use them: the
//! tun wire sniffs the kernel's transmissions on tun0 with one, the veth wire sends and receives
//! whole Ethernet frames on its end of the pair with one. Also the `struct virtio_net_hdr` both
//! put before a GSO super-packet (packetdrill's `--mss`), and the control messages (capture
//! time, checksum state) a received packet comes with.
//!
//! Details of a [`PacketSocket`]:
//! - A BPF filter keeps only the packets of one direction ([`Keep`]): the tun wire wants the
//!   kernel's transmissions (`PACKET_OUTGOING`), the veth wire everything but its own.
//! - `SO_TIMESTAMPNS` capture times (CLOCK_REALTIME), a 2 MiB receive buffer
//!   (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`, which `net.core.rmem_max` caps) and
//!   `PACKET_AUXDATA`: a device with checksum offload hands over TCP/UDP packets whose checksum
//!   is not computed yet (`TP_STATUS_CSUMNOTREADY`); [`PacketSocket::try_receive`] completes
//!   it, so callers see the bytes a NIC would have put on the wire.
//! - With `PACKET_VNET_HDR` (veth), every packet sent and received starts with a
//!   `struct virtio_net_hdr`, which is how a GSO super-packet is sent.
//!
//! System calls go through `nix`; raw libc remains for the socket options nix does not know
//! (`SO_ATTACH_FILTER`, `PACKET_AUXDATA`, `PACKET_VNET_HDR`) and for reading a timestamp out
//! of its control message.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, LinkAddr, MsgFlags, SockFlag,
    SockType, SockaddrLike,
};
use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, ClockId};

use crate::wire::checksum::{self, TransportAt};
use crate::wire::PROTO_TCP;

/// Size of `struct virtio_net_hdr` (no `num_buffers`).
pub const VIRTIO_NET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// The CWR bit in the TCP header's flags byte.
const TCP_FLAG_CWR: u8 = crate::wire::tcp_flags::CWR as u8;

/// Largest packet a socket takes: above the 64 KiB TSO limit, with room to spare.
const RECEIVE_BUF_LEN: usize = 256 * 1024;
const RCVBUF: usize = 2 * 1024 * 1024;

/// Room for a packet's control messages (a `timespec` and a `tpacket_auxdata`, 80 bytes on a
/// 64-bit kernel), aligned as `struct cmsghdr` is.
#[repr(C, align(8))]
struct ControlBuf([u8; 256]);

/// Which packets a [`PacketSocket`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Only what the interface transmits (`PACKET_OUTGOING`).
    Outgoing,
    /// Everything but what the interface transmits (what arrives on it).
    Incoming,
    /// Nothing: a socket only to send on.
    Nothing,
}

/// What a packet socket carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// IP packets (`SOCK_DGRAM`): the link-layer header stripped.
    Ip,
    /// Whole Ethernet frames (`SOCK_RAW`), each after a `struct virtio_net_hdr`.
    EthernetWithVnetHeader,
}

/// One received packet: its bytes (checksum completed), capture time and whether it is what
/// the kernel transmits.
pub struct Received {
    pub bytes: Vec<u8>,
    pub stamp_usecs: i64,
}

/// A non-blocking packet socket bound to one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    framing: Framing,
    buf: Vec<u8>,
}

impl PacketSocket {
    /// Opens the socket on interface `ifindex`, keeping `keep` (see the module documentation).
    pub fn open(ifindex: u32, keep: Keep, framing: Framing) -> io::Result<PacketSocket> {
        let ctx = |e: Errno, what: &str| {
            let e = io::Error::from(e);
            io::Error::new(e.kind(), format!("{what}: {e}"))
        };
        let kind = match framing {
            Framing::Ip => SockType::Datagram,
            Framing::EthernetWithVnetHeader => SockType::Raw,
        };
        // Protocol 0 first: the socket receives nothing until bound, so no packet from another
        // interface is ever queued on it.
        let fd = socket(
            AddressFamily::Packet,
            kind,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )
        .map_err(|e| ctx(e, "opening a packet socket"))?;

        // ldb [pkttype]; jeq PACKET_OUTGOING ? (keep outgoing) : (keep the rest)
        let (outgoing, other) = match keep {
            Keep::Outgoing => (u32::MAX, 0),
            Keep::Incoming => (0, u32::MAX),
            Keep::Nothing => (0, 0),
        };
        let mut filter = [
            libc::sock_filter {
                code: (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16,
                jt: 0,
                jf: 0,
                k: (libc::SKF_AD_OFF + libc::SKF_AD_PKTTYPE) as u32,
            },
            libc::sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
                jt: 0,
                jf: 1,
                k: u32::from(libc::PACKET_OUTGOING),
            },
            libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: outgoing,
            },
            libc::sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: other,
            },
        ];
        let prog = libc::sock_fprog {
            len: filter.len() as u16,
            filter: filter.as_mut_ptr(),
        };
        set_raw_option(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
            .map_err(|e| ctx(e, "SO_ATTACH_FILTER"))?;
        if setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF).is_err() {
            setsockopt(&fd, sockopt::RcvBuf, &RCVBUF).map_err(|e| ctx(e, "SO_RCVBUF"))?;
        }
        setsockopt(&fd, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| ctx(e, "SO_TIMESTAMPNS"))?;
        let mut packet_options = vec![(libc::PACKET_AUXDATA, "PACKET_AUXDATA")];
        if framing == Framing::EthernetWithVnetHeader {
            // Frames go straight to the device, past the qdisc, which would only add delay.
            packet_options.push((libc::PACKET_VNET_HDR, "PACKET_VNET_HDR"));
            packet_options.push((libc::PACKET_QDISC_BYPASS, "PACKET_QDISC_BYPASS"));
        }
        for (option, name) in packet_options {
            set_raw_option(&fd, libc::SOL_PACKET, option, &1 as &libc::c_int)
                .map_err(|e| ctx(e, name))?;
        }

        let ll = libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
            sll_ifindex: ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 0,
            sll_addr: [0; 8],
        };
        // SAFETY: the pointer is to a whole, initialized `sockaddr_ll`, and the length is its
        // size.
        let addr = unsafe {
            LinkAddr::from_raw(
                (&ll as *const libc::sockaddr_ll).cast(),
                Some(std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t),
            )
        }
        .expect("an AF_PACKET address of the right size");
        bind(fd.as_raw_fd(), &addr).map_err(|e| ctx(e, "binding the packet socket"))?;
        Ok(PacketSocket {
            fd,
            framing,
            buf: vec![0; RECEIVE_BUF_LEN],
        })
    }

    /// The socket, to wait on.
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// One packet if one is queued (never blocks): its bytes after any virtio-net header, with
    /// the transport checksum completed where the kernel left it to the device.
    pub fn try_receive(&mut self) -> io::Result<Option<Received>> {
        loop {
            // Zeroed for every packet: `control_messages` stops at the first zero length.
            let mut control = ControlBuf([0; 256]);
            let mut iov = [IoSliceMut::new(&mut self.buf)];
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
            let msg = match recvmsg::<LinkAddr>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut control.0),
                flags,
            ) {
                Ok(msg) => msg,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            // With MSG_TRUNC, the packet's real length even when it did not fit.
            let n = msg.bytes;
            let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
            if n > RECEIVE_BUF_LEN || truncated {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "received a {n}-byte packet, larger than the {RECEIVE_BUF_LEN}-byte buffer"
                    ),
                ));
            }
            let mut stamp = None;
            let mut csum_not_ready = false;
            for (level, kind, data) in control_messages(&control.0) {
                if level == libc::SOL_SOCKET && kind == libc::SCM_TIMESTAMPNS {
                    stamp = timespec_usecs(data);
                } else if level == libc::SOL_PACKET && kind == libc::PACKET_AUXDATA {
                    // tpacket_auxdata starts with tp_status, a u32.
                    if let Some(status) = data.get(..4) {
                        let status = u32::from_ne_bytes(status.try_into().expect("4 bytes"));
                        csum_not_ready = status & libc::TP_STATUS_CSUMNOTREADY != 0;
                    }
                }
            }
            let (skip, link_header) = match self.framing {
                Framing::Ip => (0, 0),
                Framing::EthernetWithVnetHeader => (VIRTIO_NET_HDR_LEN, ETHERNET_HEADER_LEN),
            };
            let Some(bytes) = self.buf.get(skip..n) else {
                continue;
            };
            let mut bytes = bytes.to_vec();
            if csum_not_ready && bytes.len() > link_header {
                checksum::complete_transport(&mut bytes[link_header..]);
            }
            let stamp_usecs = stamp.unwrap_or_else(realtime_usecs);
            return Ok(Some(Received { bytes, stamp_usecs }));
        }
    }

    /// Sends one whole frame (Ethernet framing only), after `header` (a plain frame: all zero).
    pub fn send_frame(&self, header: &[u8; VIRTIO_NET_HDR_LEN], frame: &[u8]) -> io::Result<()> {
        let iov = [io::IoSlice::new(header), io::IoSlice::new(frame)];
        loop {
            match nix::sys::uio::writev(&self.fd, &iov) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The length of an Ethernet header (no VLAN tag).
const ETHERNET_HEADER_LEN: usize = 14;

/// The virtio-net header that makes `packet` (an IP packet, `link_header` bytes into the
/// buffer the kernel gets) a TCP GSO super-packet of `gso_size`-byte segments, with the copy
/// of the packet to send in its place; None when it is no TCP packet longer than one segment.
///
/// The header: `gso_type` TCPV4/TCPV6 (| ECN when CWR is set), `gso_size`, `hdr_len` = IP +
/// TCP header length, and `VIRTIO_NET_HDR_F_NEEDS_CSUM` with `csum_start` = the TCP header's
/// offset and `csum_offset` = 16, as the virtio spec requires for GSO. Per that contract the
/// TCP checksum field then holds the (uncomplemented, folded) pseudo-header sum over the
/// super-packet's full TCP length, as Linux's own `tcp_v4_send_check` leaves it: the copy
/// carries that value, so the caller's checksum is ignored. The header is in the host's byte
/// order (legacy virtio).
pub fn gso_header(
    packet: &[u8],
    gso_size: u16,
    link_header: usize,
) -> Option<([u8; VIRTIO_NET_HDR_LEN], Vec<u8>)> {
    let t = tcp_layout(packet)?;
    if gso_size == 0 || packet.len() - t.hdr_len <= usize::from(gso_size) {
        return None;
    }
    let mut copy = packet.to_vec();
    let pseudo = checksum::partial(packet, &t.at);
    let check = t.at.offset + 16;
    copy[check..check + 2].copy_from_slice(&pseudo.to_be_bytes());

    let mut gso_type = if t.at.ipv6 {
        VIRTIO_NET_HDR_GSO_TCPV6
    } else {
        VIRTIO_NET_HDR_GSO_TCPV4
    };
    if packet[t.at.offset + 13] & TCP_FLAG_CWR != 0 {
        gso_type |= VIRTIO_NET_HDR_GSO_ECN;
    }
    let mut hdr = [0u8; VIRTIO_NET_HDR_LEN];
    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    hdr[1] = gso_type;
    hdr[2..4].copy_from_slice(&((link_header + t.hdr_len) as u16).to_ne_bytes());
    hdr[4..6].copy_from_slice(&gso_size.to_ne_bytes());
    hdr[6..8].copy_from_slice(&((link_header + t.at.offset) as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
    Some((hdr, copy))
}

/// The virtio-net header upstream packetdrill writes to its tun device under `--mss`: for
/// every TCP packet, whatever its length, only `gso_type` (TCPV4/TCPV6) and `gso_size`; no
/// `NEEDS_CSUM`, `hdr_len` 0, and the packet's own full checksum, which the kernel then
/// verifies. None when `packet` is no TCP packet or `gso_size` is 0.
///
/// The kernel itself decides from that header: a packet whose bytes past the bare IP and TCP
/// headers exceed `gso_size` becomes a GSO packet (its receiver measures `gso_size` as the
/// peer's MSS), a shorter one stays plain. And with `hdr_len` 0 the tun driver copies up to a
/// page of the packet into the skb's linear part where [`gso_header`]'s `hdr_len` puts only
/// the headers there: the skb's truesize, and with it the receive window the kernel
/// advertises after a large segment, is then the one upstream's runs see (the kernel's
/// selftests assert those windows).
pub fn packetdrill_gso_header(packet: &[u8], gso_size: u16) -> Option<[u8; VIRTIO_NET_HDR_LEN]> {
    let t = tcp_layout(packet)?;
    if gso_size == 0 {
        return None;
    }
    let mut hdr = [0u8; VIRTIO_NET_HDR_LEN];
    hdr[1] = if t.at.ipv6 {
        VIRTIO_NET_HDR_GSO_TCPV6
    } else {
        VIRTIO_NET_HDR_GSO_TCPV4
    };
    hdr[4..6].copy_from_slice(&gso_size.to_ne_bytes());
    Some(hdr)
}

/// The TCP payload length of `packet`, if it is a TCP packet.
pub fn tcp_payload_len(packet: &[u8]) -> Option<usize> {
    tcp_layout(packet).map(|t| packet.len() - t.hdr_len)
}

/// The control messages recvmsg left at the start of `buf` (zeroed before the call), as
/// (level, type, data). nix's own decoding copies a kind it does not know (`PACKET_AUXDATA`)
/// into a new `Vec` on every packet, so this walks the buffer as `CMSG_FIRSTHDR` and
/// `CMSG_NXTHDR` do: a kernel `struct cmsghdr` (a `size_t` length that includes the header,
/// an `int` level, an `int` type), its data, the next message at the length rounded up to a
/// `size_t`. The kernel writes no zero length, so one marks the end of what it wrote.
fn control_messages(buf: &[u8]) -> impl Iterator<Item = (i32, i32, &[u8])> {
    const WORD: usize = std::mem::size_of::<usize>();
    const HEADER: usize = (WORD + 8).next_multiple_of(WORD);
    let mut rest = buf;
    std::iter::from_fn(move || {
        let int_at = |at: usize| i32::from_ne_bytes(rest[at..at + 4].try_into().expect("4 bytes"));
        let len = usize::from_ne_bytes(rest.get(..WORD)?.try_into().expect("a word"));
        if len < HEADER || len > rest.len() {
            return None;
        }
        let message = (int_at(WORD), int_at(WORD + 4), &rest[HEADER..len]);
        rest = rest.get(len.next_multiple_of(WORD)..).unwrap_or(&[]);
        Some(message)
    })
}

/// The time in an `SCM_TIMESTAMPNS` message's data, in microseconds.
fn timespec_usecs(data: &[u8]) -> Option<i64> {
    if data.len() < std::mem::size_of::<libc::timespec>() {
        return None;
    }
    // SAFETY: `data` holds at least a `timespec` (checked above), which the kernel wrote;
    // `read_unaligned` copes with the control buffer's alignment, and a `timespec` is two
    // integers, valid for any bit pattern.
    let ts: libc::timespec = unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
    Some(ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000)
}

/// `setsockopt` for an option nix has no type for: the kernel reads `value` as the option's
/// struct or int.
fn set_raw_option<T>(
    sock: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> nix::Result<()> {
    // SAFETY: `value` is a live reference, so the kernel may read `size_of::<T>()` bytes from
    // it; it writes nothing back. Whatever pointers `T` holds (a filter program) stay valid
    // for the call, as the caller keeps what they point to alive.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    Errno::result(r).map(drop)
}

/// Sleeps until one of `fds` is readable, a signal arrives, or `deadline_usecs` (the real
/// clock; None: no deadline) passes; false when the deadline had passed.
pub fn wait_readable(fds: &[BorrowedFd<'_>], deadline_usecs: Option<i64>) -> io::Result<bool> {
    let timeout = match deadline_usecs {
        None => None,
        Some(deadline) => {
            let left = deadline - realtime_usecs();
            if left <= 0 {
                return Ok(false);
            }
            Some(TimeSpec::new(left / 1_000_000, (left % 1_000_000) * 1_000))
        }
    };
    let mut polled: Vec<PollFd> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    match ppoll(&mut polled, timeout, None) {
        Ok(_) | Err(Errno::EINTR) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

/// The real clock (CLOCK_REALTIME), in µs.
pub fn realtime_usecs() -> i64 {
    clock_gettime(ClockId::CLOCK_REALTIME)
        .map_or(0, |ts| ts.tv_sec() * 1_000_000 + ts.tv_nsec() / 1_000)
}

struct TcpLayout {
    at: TransportAt,
    /// IP + TCP header length.
    hdr_len: usize,
}

fn tcp_layout(packet: &[u8]) -> Option<TcpLayout> {
    let at = checksum::transport_at(packet)?;
    if at.protocol != PROTO_TCP || packet.len() < at.offset + 20 {
        return None;
    }
    let doff = usize::from(packet[at.offset + 12] >> 4) * 4;
    if doff < 20 || packet.len() < at.offset + doff {
        return None;
    }
    Some(TcpLayout {
        hdr_len: at.offset + doff,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The GSO header's lengths: IP options and TCP options both count.
    #[test]
    fn measures_tcp_headers_with_options() {
        let mut p = vec![0u8; 24 + 32 + 100];
        p[0] = 0x46; // IPv4, 24-byte header
        p[9] = PROTO_TCP;
        p[24 + 12] = 0x80; // 32-byte TCP header
        let t = tcp_layout(&p).unwrap();
        assert!(!t.at.ipv6);
        assert_eq!(t.at.offset, 24);
        assert_eq!(t.hdr_len, 56);
        // A data offset past the packet's end is no TCP header.
        assert!(tcp_layout(&p[..50]).is_none());
        // Behind an Ethernet header, the offsets count it.
        let (hdr, _) = gso_header(&p, 50, ETHERNET_HEADER_LEN).unwrap();
        assert_eq!(u16::from_ne_bytes([hdr[2], hdr[3]]), 14 + 56);
        assert_eq!(u16::from_ne_bytes([hdr[6], hdr[7]]), 14 + 24);
        assert!(
            gso_header(&p, 100, 0).is_none(),
            "one segment is no GSO packet"
        );
    }

    /// Upstream's header under `--mss`: type and size only, for short TCP packets too.
    #[test]
    fn packetdrill_header_marks_every_tcp_packet() {
        let mut p = vec![0u8; 20 + 20 + 10];
        p[0] = 0x45;
        p[9] = PROTO_TCP;
        p[20 + 12] = 0x50;
        let hdr = packetdrill_gso_header(&p, 1000).unwrap();
        let mut expected = [0u8; VIRTIO_NET_HDR_LEN];
        expected[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        expected[4..6].copy_from_slice(&1000u16.to_ne_bytes());
        assert_eq!(hdr, expected);
        assert!(packetdrill_gso_header(&p, 0).is_none());
        p[9] = 17; // UDP
        assert!(packetdrill_gso_header(&p, 1000).is_none());
    }

    /// Control messages as the kernel lays them out: walked in order, data cut to length,
    /// stopping at the zeroed rest of the buffer.
    #[test]
    fn walks_control_messages() {
        const WORD: usize = std::mem::size_of::<usize>();
        let mut buf = ControlBuf([0; 256]);
        let mut at = 0;
        for (level, kind, data) in [(1, 35, &[7u8; 16][..]), (263, 8, &[9u8; 20][..])] {
            let len = 2 * WORD + data.len();
            buf.0[at..at + WORD].copy_from_slice(&len.to_ne_bytes());
            buf.0[at + WORD..at + WORD + 4].copy_from_slice(&i32::to_ne_bytes(level));
            buf.0[at + WORD + 4..at + WORD + 8].copy_from_slice(&i32::to_ne_bytes(kind));
            buf.0[at + 2 * WORD..at + len].copy_from_slice(data);
            at += len.next_multiple_of(WORD);
        }
        let got: Vec<_> = control_messages(&buf.0).collect();
        assert_eq!(got, vec![(1, 35, &[7u8; 16][..]), (263, 8, &[9u8; 20][..])]);
        assert_eq!(control_messages(&[0; 64]).count(), 0);
        // A length running past the buffer ends the walk instead of panicking.
        let mut bad = [0u8; 32];
        bad[..WORD].copy_from_slice(&100usize.to_ne_bytes());
        assert_eq!(control_messages(&bad).count(), 0);
    }
}
