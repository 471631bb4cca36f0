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

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sut::netdev::Netdev;

/// Size of `struct virtio_net_hdr` (no `num_buffers`): what `TUNSETVNETHDRSZ` is set to.
pub const VIRTIO_NET_HDR_LEN: usize = 10;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV4: u8 = 1;
const VIRTIO_NET_HDR_GSO_TCPV6: u8 = 4;
const VIRTIO_NET_HDR_GSO_ECN: u8 = 0x80;

/// The CWR bit in the TCP header's flags byte.
const TCP_FLAG_CWR: u8 = crate::wire::tcp_flags::CWR as u8;
use crate::wire::{PROTO_TCP as IPPROTO_TCP, PROTO_UDP as IPPROTO_UDP};

/// Largest packet the sniffer takes: above the 64 KiB TSO limit, with room to spare.
const SNIFF_BUF_LEN: usize = 256 * 1024;
/// Scratch for draining the tun fd: a virtio header and one byte consume a packet.
const DRAIN_BUF_LEN: usize = VIRTIO_NET_HDR_LEN + 1;
const SNIFF_RCVBUF: libc::c_int = 2 * 1024 * 1024;

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
            let r = unsafe {
                libc::read(
                    self.tun.as_raw_fd(),
                    scratch.as_mut_ptr().cast(),
                    scratch.len(),
                )
            };
            if r >= 0 {
                n += 1;
                continue;
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::WouldBlock => return Ok(n),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(err),
            }
        }
    }

    /// One sniffed outgoing packet if one is queued (never blocks).
    fn try_sniff(&mut self) -> io::Result<Option<(Vec<u8>, i64)>> {
        loop {
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut control = [0u64; 32];
            let mut iov = libc::iovec {
                iov_base: self.buf.as_mut_ptr().cast(),
                iov_len: self.buf.len(),
            };
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            let n = unsafe {
                libc::recvmsg(
                    self.sniffer.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(err),
                }
            }
            let n = n as usize;
            if from.sll_pkttype != libc::PACKET_OUTGOING {
                continue; // the filter should have dropped it already
            }
            if n > self.buf.len() || msg.msg_flags & libc::MSG_TRUNC != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "sniffed a {n}-byte packet, larger than the {SNIFF_BUF_LEN}-byte buffer"
                    ),
                ));
            }

            let mut stamp = None;
            let mut csum_not_ready = false;
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                let c = unsafe { &*cmsg };
                let data = unsafe { libc::CMSG_DATA(cmsg) };
                if c.cmsg_level == libc::SOL_SOCKET && c.cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts: libc::timespec = unsafe { std::ptr::read_unaligned(data.cast()) };
                    stamp = Some(ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000);
                } else if c.cmsg_level == libc::SOL_PACKET && c.cmsg_type == libc::PACKET_AUXDATA {
                    let aux: libc::tpacket_auxdata =
                        unsafe { std::ptr::read_unaligned(data.cast()) };
                    csum_not_ready = aux.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0;
                }
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
            let mut packet = self.buf[..n].to_vec();
            if csum_not_ready {
                complete_l4_checksum(&mut packet);
            }
            let stamp = stamp.unwrap_or_else(realtime_usecs);
            return Ok(Some((packet, stamp)));
        }
    }
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
                    let pseudo = pseudo_header_sum(packet, t.l4_offset, IPPROTO_TCP);
                    let check = t.l4_offset + 16;
                    gso_copy[check..check + 2].copy_from_slice(&pseudo.to_be_bytes());
                    data = &gso_copy;

                    let mut gso_type = if t.ipv6 {
                        VIRTIO_NET_HDR_GSO_TCPV6
                    } else {
                        VIRTIO_NET_HDR_GSO_TCPV4
                    };
                    if packet[t.l4_offset + 13] & TCP_FLAG_CWR != 0 {
                        gso_type |= VIRTIO_NET_HDR_GSO_ECN;
                    }
                    // The header is in the host's byte order (legacy virtio, no TUNSETVNETLE).
                    hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
                    hdr[1] = gso_type;
                    hdr[2..4].copy_from_slice(&(t.hdr_len as u16).to_ne_bytes());
                    hdr[4..6].copy_from_slice(&gso.to_ne_bytes());
                    hdr[6..8].copy_from_slice(&(t.l4_offset as u16).to_ne_bytes());
                    hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
                }
            }
        }
        let iov = [
            libc::iovec {
                iov_base: hdr.as_ptr() as *mut libc::c_void,
                iov_len: hdr.len(),
            },
            libc::iovec {
                iov_base: data.as_ptr() as *mut libc::c_void,
                iov_len: data.len(),
            },
        ];
        loop {
            let n = unsafe { libc::writev(self.tun.as_raw_fd(), iov.as_ptr(), 2) };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
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
                    Some(libc::timespec {
                        tv_sec: left / 1_000_000,
                        tv_nsec: (left % 1_000_000) * 1_000,
                    })
                }
            };
            let mut fds = [
                libc::pollfd {
                    fd: self.sniffer.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.tun.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let tp = timeout
                .as_ref()
                .map_or(std::ptr::null(), |t| t as *const libc::timespec);
            let r = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, tp, std::ptr::null()) };
            if r < 0 {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

/// Opens the sniffing packet socket on interface `ifindex` (see the module documentation).
pub fn open_sniffer(ifindex: u32) -> io::Result<OwnedFd> {
    let ctx = |e: io::Error, what: &str| io::Error::new(e.kind(), format!("{what}: {e}"));
    // Protocol 0 first: the socket receives nothing until bound, so no packet from another
    // interface is ever queued on it.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(ctx(io::Error::last_os_error(), "opening a packet socket"));
    }
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = sock.as_raw_fd();

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
    setsockopt(raw, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
        .map_err(|e| ctx(e, "SO_ATTACH_FILTER"))?;
    if setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &SNIFF_RCVBUF).is_err() {
        setsockopt(raw, libc::SOL_SOCKET, libc::SO_RCVBUF, &SNIFF_RCVBUF)
            .map_err(|e| ctx(e, "SO_RCVBUF"))?;
    }
    setsockopt(
        raw,
        libc::SOL_SOCKET,
        libc::SO_TIMESTAMPNS,
        &1 as &libc::c_int,
    )
    .map_err(|e| ctx(e, "SO_TIMESTAMPNS"))?;
    setsockopt(
        raw,
        libc::SOL_PACKET,
        libc::PACKET_AUXDATA,
        &1 as &libc::c_int,
    )
    .map_err(|e| ctx(e, "PACKET_AUXDATA"))?;

    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as i32;
    let r = unsafe {
        libc::bind(
            raw,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(ctx(io::Error::last_os_error(), "binding the packet socket"));
    }
    Ok(sock)
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn realtime_usecs() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
}

/// Where the transport header of an IP packet is, and which protocol it is.
struct L4 {
    ipv6: bool,
    offset: usize,
    proto: u8,
}

fn l4_of(packet: &[u8]) -> Option<L4> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 || packet.len() < ihl {
                return None;
            }
            // A fragment other than the first has no transport header.
            if u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff != 0 {
                return None;
            }
            Some(L4 {
                ipv6: false,
                offset: ihl,
                proto: packet[9],
            })
        }
        6 => {
            if packet.len() < 40 {
                return None;
            }
            let mut next = packet[6];
            let mut offset = 40;
            // Hop-by-hop, routing, destination options: skip to the transport header.
            while matches!(next, 0 | 43 | 60) {
                let ext = packet.get(offset..offset + 2)?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 1) * 8;
            }
            Some(L4 {
                ipv6: true,
                offset,
                proto: next,
            })
        }
        _ => None,
    }
}

struct TcpLayout {
    ipv6: bool,
    l4_offset: usize,
    /// IP + TCP header length.
    hdr_len: usize,
}

fn tcp_layout(packet: &[u8]) -> Option<TcpLayout> {
    let l4 = l4_of(packet)?;
    if l4.proto != IPPROTO_TCP || packet.len() < l4.offset + 20 {
        return None;
    }
    let doff = usize::from(packet[l4.offset + 12] >> 4) * 4;
    if doff < 20 || packet.len() < l4.offset + doff {
        return None;
    }
    Some(TcpLayout {
        ipv6: l4.ipv6,
        l4_offset: l4.offset,
        hdr_len: l4.offset + doff,
    })
}

/// Adds 16-bit big-endian words of `data` to `sum` (one's-complement, unfolded).
fn sum_words(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The folded, uncomplemented pseudo-header sum for the transport segment at `l4_offset`
/// (which runs to the end of `packet`).
fn pseudo_header_sum(packet: &[u8], l4_offset: usize, proto: u8) -> u16 {
    let len = (packet.len() - l4_offset) as u64;
    let sum = if packet[0] >> 4 == 4 {
        sum_words(0, &packet[12..20])
    } else {
        sum_words(0, &packet[8..40])
    };
    fold(sum + len + u64::from(proto))
}

/// Replaces the TCP or UDP checksum of `packet` by the correct one (what the NIC computes for a
/// `CHECKSUM_PARTIAL` packet). Other packets are left alone.
fn complete_l4_checksum(packet: &mut [u8]) {
    let Some(l4) = l4_of(packet) else { return };
    let field = match l4.proto {
        IPPROTO_TCP => 16,
        IPPROTO_UDP => 6,
        _ => return,
    };
    let at = l4.offset + field;
    if packet.len() < at + 2 {
        return;
    }
    packet[at..at + 2].fill(0);
    let sum = sum_words(
        u64::from(pseudo_header_sum(packet, l4.offset, l4.proto)),
        &packet[l4.offset..],
    );
    let mut check = !fold(sum);
    if check == 0 && l4.proto == IPPROTO_UDP {
        check = 0xffff;
    }
    packet[at..at + 2].copy_from_slice(&check.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN from 192.0.2.1:40000 to 192.168.0.1:8080, TCP checksum zero.
    fn syn_v4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 168, 0, 1,
        ];
        p.extend_from_slice(&[
            0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p
    }

    #[test]
    fn completes_a_partial_tcp_checksum() {
        let mut good = syn_v4();
        complete_l4_checksum(&mut good);
        // Verifying: the sum over pseudo header and segment, checksum included, is 0xffff.
        let sum = sum_words(u64::from(pseudo_header_sum(&good, 20, 6)), &good[20..]);
        assert_eq!(fold(sum), 0xffff);
        // A CHECKSUM_PARTIAL packet carries the pseudo-header sum; completing gives the same.
        let mut partial = good.clone();
        let pseudo = pseudo_header_sum(&partial, 20, 6);
        partial[36..38].copy_from_slice(&pseudo.to_be_bytes());
        complete_l4_checksum(&mut partial);
        assert_eq!(partial, good);
    }

    #[test]
    fn finds_tcp_behind_ipv6_extension_headers() {
        let mut p = vec![0u8; 40 + 8 + 20];
        p[0] = 0x60;
        p[6] = 0; // hop-by-hop
        p[40] = 6; // then TCP
        p[41] = 0; // 8 bytes
        p[48 + 12] = 0x50;
        let t = tcp_layout(&p).unwrap();
        assert!(t.ipv6);
        assert_eq!(t.l4_offset, 48);
        assert_eq!(t.hdr_len, 68);
    }
}
