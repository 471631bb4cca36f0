//! The tun device as a `Netdev`: injects packets by writing them (with a virtio-net header) to
//! the tun file descriptor; sniffs what the stack sends through a packet socket bound to the
//! device, with kernel capture timestamps.
//!
//! Made by [`crate::sut::kernel::netns::create_tun`]. Details:
//! - **Injection** ([`Netdev::send`]): one `writev` of a 10-byte `struct virtio_net_hdr` and the
//!   IP packet. A plain packet gets an all-zero header, so the kernel verifies every checksum as
//!   it would for a real NIC without receive offload. A GSO super-packet (TCP, `gso_size` given,
//!   payload longer than `gso_size`) gets `gso_type` TCPV4/TCPV6 (| ECN when CWR is set),
//!   `gso_size`, `hdr_len` = IP + TCP header length, and `VIRTIO_NET_HDR_F_NEEDS_CSUM` with
//!   `csum_start` = the TCP header offset and `csum_offset` = 16, as the virtio spec requires
//!   for GSO. Per that contract the TCP checksum field then holds the (uncomplemented, folded)
//!   pseudo-header sum over the super-packet's full TCP length, as Linux's own
//!   `tcp_v4_send_check` leaves it; `send` writes that value into a copy of the packet, so the
//!   caller's TCP checksum is ignored (neither needed nor checked). The kernel marks the packet
//!   `CHECKSUM_PARTIAL`, which local delivery trusts; the IPv4 header checksum is still
//!   verified. (packetdrill itself sets only `gso_type`/`gso_size` and leaves the full checksum
//!   in place; the kernel accepts that too, but the virtio spec requires `NEEDS_CSUM` for GSO.)
//! - **Sniffing** ([`Netdev::receive`]): an `AF_PACKET`/`SOCK_DGRAM` socket bound to the tun
//!   device, with a BPF filter that keeps only `PACKET_OUTGOING` packets (the kernel's
//!   transmissions; our injected packets appear there as incoming and are dropped in the
//!   kernel), `SO_TIMESTAMPNS` capture times (CLOCK_REALTIME), a 2 MiB receive buffer
//!   (`SO_RCVBUFFORCE`, falling back to `SO_RCVBUF`, which `net.core.rmem_max` caps) and
//!   `PACKET_AUXDATA`. The device has checksum offload, so the kernel hands it TCP/UDP packets
//!   whose checksum is not yet computed (`TP_STATUS_CSUMNOTREADY`); `receive` completes that
//!   checksum, so callers see the bytes a NIC would have put on the wire.
//! - **Draining**: every packet the kernel transmits is also queued on the tun fd; `receive`
//!   reads and discards those, so transmit completion runs (TCP small queues, "tcp: avoid
//!   retransmits of TCP packets hanging in host queues") and the tun queue never overflows.
//!
//! System calls go through `nix`; raw libc remains for the two socket options nix does not
//! know (`SO_ATTACH_FILTER`, `PACKET_AUXDATA`) and for reading a timestamp out of its control
//! message. Checksums are [`crate::wire::checksum`]'s.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::{ppoll, PollFd, PollFlags};
use nix::sys::socket::{
    bind, recvmsg, setsockopt, socket, sockopt, AddressFamily, LinkAddr, MsgFlags, SockFlag,
    SockType, SockaddrLike,
};
use nix::sys::time::TimeSpec;
use nix::sys::uio::writev;
use nix::time::{clock_gettime, ClockId};

use crate::sut::netdev::Netdev;
use crate::wire::checksum::{self, TransportAt};
use crate::wire::PROTO_TCP;

/// Size of `struct virtio_net_hdr` (no `num_buffers`): what `TUNSETVNETHDRSZ` is set to.
pub const VIRTIO_NET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// The CWR bit in the TCP header's flags byte.
const TCP_FLAG_CWR: u8 = crate::wire::tcp_flags::CWR as u8;

/// Largest packet the sniffer takes: above the 64 KiB TSO limit, with room to spare.
const SNIFF_BUF_LEN: usize = 256 * 1024;
/// Scratch for draining the tun fd: a virtio header and one byte consume a packet.
const DRAIN_BUF_LEN: usize = VIRTIO_NET_HDR_LEN + 1;
const SNIFF_RCVBUF: usize = 2 * 1024 * 1024;

/// Room for the sniffer's control messages (a `timespec` and a `tpacket_auxdata`, 80 bytes on
/// a 64-bit kernel), aligned as `struct cmsghdr` is.
#[repr(C, align(8))]
struct ControlBuf([u8; 256]);

pub struct TunNetdev {
    tun: OwnedFd,
    sniffer: OwnedFd,
    name: String,
    ifindex: u32,
    buf: Vec<u8>,
}

impl TunNetdev {
    /// Wraps an already configured tun fd (opened with `IFF_VNET_HDR`, header size 10, and
    /// `O_NONBLOCK`) and a sniffer from [`open_sniffer`].
    pub fn new(tun: OwnedFd, sniffer: OwnedFd, name: String, ifindex: u32) -> TunNetdev {
        TunNetdev {
            tun,
            sniffer,
            name,
            ifindex,
            buf: vec![0; SNIFF_BUF_LEN],
        }
    }

    /// The tun file descriptor (non-blocking).
    pub fn tun_fd(&self) -> RawFd {
        self.tun.as_raw_fd()
    }

    /// The sniffing packet socket.
    pub fn sniffer_fd(&self) -> RawFd {
        self.sniffer.as_raw_fd()
    }

    /// The interface index of the tun device.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface name ("tun0").
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads and discards everything queued on the tun fd; returns how many packets.
    pub fn drain(&mut self) -> io::Result<usize> {
        let mut scratch = [0u8; DRAIN_BUF_LEN];
        let mut n = 0;
        loop {
            match nix::unistd::read(&self.tun, &mut scratch) {
                Ok(_) => n += 1,
                Err(Errno::EAGAIN) => return Ok(n),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One sniffed outgoing packet if one is queued (never blocks).
    fn try_sniff(&mut self) -> io::Result<Option<(Vec<u8>, i64)>> {
        loop {
            // Zeroed for every packet: `control_messages` stops at the first zero length.
            let mut control = ControlBuf([0; 256]);
            let mut iov = [IoSliceMut::new(&mut self.buf)];
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
            let msg = match recvmsg::<LinkAddr>(
                self.sniffer.as_raw_fd(),
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
            let outgoing = msg
                .address
                .is_some_and(|from| from.pkttype() == libc::PACKET_OUTGOING);
            if !outgoing {
                continue; // the filter should have dropped it already
            }
            if n > self.buf.len() || truncated {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "sniffed a {n}-byte packet, larger than the {SNIFF_BUF_LEN}-byte buffer"
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
            let mut packet = self.buf[..n].to_vec();
            if csum_not_ready {
                checksum::complete_transport(&mut packet);
            }
            let stamp = stamp.unwrap_or_else(realtime_usecs);
            return Ok(Some((packet, stamp)));
        }
    }
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

impl Netdev for TunNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        let mut hdr = [0u8; VIRTIO_NET_HDR_LEN];
        let mut gso_copy;
        let mut data = packet;
        if let Some(gso) = gso_size.filter(|&g| g > 0) {
            if let Some(t) = tcp_layout(packet) {
                if packet.len() - t.hdr_len > usize::from(gso) {
                    gso_copy = packet.to_vec();
                    let pseudo = checksum::partial(packet, &t.at);
                    let check = t.at.offset + 16;
                    gso_copy[check..check + 2].copy_from_slice(&pseudo.to_be_bytes());
                    data = &gso_copy;

                    let mut gso_type = if t.at.ipv6 {
                        VIRTIO_NET_HDR_GSO_TCPV6
                    } else {
                        VIRTIO_NET_HDR_GSO_TCPV4
                    };
                    if packet[t.at.offset + 13] & TCP_FLAG_CWR != 0 {
                        gso_type |= VIRTIO_NET_HDR_GSO_ECN;
                    }
                    // The header is in the host's byte order (legacy virtio, no TUNSETVNETLE).
                    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
                    hdr[1] = gso_type;
                    hdr[2..4].copy_from_slice(&(t.hdr_len as u16).to_ne_bytes());
                    hdr[4..6].copy_from_slice(&gso.to_ne_bytes());
                    hdr[6..8].copy_from_slice(&(t.at.offset as u16).to_ne_bytes());
                    hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
                }
            }
        }
        let iov = [IoSlice::new(&hdr), IoSlice::new(data)];
        loop {
            match writev(&self.tun, &iov) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    let err = io::Error::from(e);
                    return Err(io::Error::new(
                        err.kind(),
                        format!(
                            "writing a {}-byte packet to {}: {err}",
                            data.len(),
                            self.name
                        ),
                    ));
                }
            }
        }
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        loop {
            self.drain()?;
            if let Some(got) = self.try_sniff()? {
                // The tun copy of this packet was queued right after the sniffer's.
                self.drain()?;
                return Ok(Some(got));
            }
            let timeout = match deadline_usecs {
                None => None,
                Some(deadline) => {
                    let left = deadline - realtime_usecs();
                    if left <= 0 {
                        return Ok(None);
                    }
                    Some(TimeSpec::new(left / 1_000_000, (left % 1_000_000) * 1_000))
                }
            };
            let mut fds = [
                PollFd::new(self.sniffer.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.tun.as_fd(), PollFlags::POLLIN),
            ];
            match ppoll(&mut fds, timeout, None) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Opens the sniffing packet socket on interface `ifindex` (see the module documentation).
pub fn open_sniffer(ifindex: u32) -> io::Result<OwnedFd> {
    let ctx = |e: Errno, what: &str| {
        let e = io::Error::from(e);
        io::Error::new(e.kind(), format!("{what}: {e}"))
    };
    // Protocol 0 first: the socket receives nothing until bound, so no packet from another
    // interface is ever queued on it.
    let sock = socket(
        AddressFamily::Packet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .map_err(|e| ctx(e, "opening a packet socket"))?;

    // ldb [pkttype]; jeq PACKET_OUTGOING ? accept : drop
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
            k: u32::MAX,
        },
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    set_raw_option(&sock, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
        .map_err(|e| ctx(e, "SO_ATTACH_FILTER"))?;
    if setsockopt(&sock, sockopt::RcvBufForce, &SNIFF_RCVBUF).is_err() {
        setsockopt(&sock, sockopt::RcvBuf, &SNIFF_RCVBUF).map_err(|e| ctx(e, "SO_RCVBUF"))?;
    }
    setsockopt(&sock, sockopt::ReceiveTimestampns, &true).map_err(|e| ctx(e, "SO_TIMESTAMPNS"))?;
    set_raw_option(
        &sock,
        libc::SOL_PACKET,
        libc::PACKET_AUXDATA,
        &1 as &libc::c_int,
    )
    .map_err(|e| ctx(e, "PACKET_AUXDATA"))?;

    let ll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: (libc::ETH_P_ALL as u16).to_be(),
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: the pointer is to a whole, initialized `sockaddr_ll`, and the length is its size.
    let addr = unsafe {
        LinkAddr::from_raw(
            (&ll as *const libc::sockaddr_ll).cast(),
            Some(std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t),
        )
    }
    .expect("an AF_PACKET address of the right size");
    bind(sock.as_raw_fd(), &addr).map_err(|e| ctx(e, "binding the packet socket"))?;
    Ok(sock)
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

fn realtime_usecs() -> i64 {
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
