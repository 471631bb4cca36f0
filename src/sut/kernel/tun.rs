//! The tun device as a `Netdev`: injects packets by writing them (with a virtio-net header) to
//! the tun file descriptor; sniffs what the stack sends through a packet socket bound to the
//! device, with kernel capture timestamps.
//!
//! Made by [`crate::sut::kernel::netns::create_tun`]. Details:
//! - **Injection** ([`Netdev::send`]): one `writev` of a 10-byte `struct virtio_net_hdr` and the
//!   IP packet. A plain packet gets an all-zero header, so the kernel verifies every checksum as
//!   it would for a real NIC without receive offload. With `gso_size` (`--mss`) every TCP
//!   packet gets the header upstream packetdrill writes: `gso_type` TCPV4/TCPV6 and `gso_size`,
//!   nothing else (no `NEEDS_CSUM`, `hdr_len` 0, the full checksum kept and verified). The
//!   kernel makes a GSO packet of one whose bytes past the bare IP and TCP headers exceed
//!   `gso_size` and leaves a shorter one plain, and the tun driver lays the skb out as it does
//!   for upstream (up to a page linear), so truesize and the windows the kernel advertises
//!   match upstream's runs (see `sut::packet_socket::packetdrill_gso_header`). The veth and
//!   AF_XDP paths use the spec-conforming `NEEDS_CSUM` header of
//!   `sut::packet_socket::gso_header` instead, with an `hdr_len` that gets them tun's layout
//!   (`sut/veth/netdev.rs`).
//! - **Sniffing** ([`Netdev::receive`]): a [`PacketSocket`] bound to the tun device that keeps
//!   only `PACKET_OUTGOING` packets (the kernel's transmissions; our injected packets appear
//!   there as incoming and are dropped in the kernel), with capture times and completed
//!   checksums (see `sut/packet_socket.rs`).
//! - **Draining**: every packet the kernel transmits is also queued on the tun fd; `receive`
//!   reads and discards those, so transmit completion runs (TCP small queues, "tcp: avoid
//!   retransmits of TCP packets hanging in host queues") and the tun queue never overflows.
//!
//! System calls go through `nix`; the GSO header is
//! `sut::packet_socket::packetdrill_gso_header`'s.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::uio::writev;

use crate::sut::netdev::Netdev;
use crate::sut::packet_socket::{
    packetdrill_gso_header, wait_readable, Framing, Keep, PacketSocket, VIRTIO_NET_HDR_LEN,
};

/// Scratch for draining the tun fd: a virtio header and one byte consume a packet.
const DRAIN_BUF_LEN: usize = VIRTIO_NET_HDR_LEN + 1;

pub struct TunNetdev {
    tun: OwnedFd,
    sniffer: PacketSocket,
    name: String,
    ifindex: u32,
}

impl TunNetdev {
    /// Wraps an already configured tun fd (opened with `IFF_VNET_HDR`, header size 10, and
    /// `O_NONBLOCK`) and a sniffer from [`open_sniffer`].
    pub fn new(tun: OwnedFd, sniffer: PacketSocket, name: String, ifindex: u32) -> TunNetdev {
        TunNetdev {
            tun,
            sniffer,
            name,
            ifindex,
        }
    }

    /// The tun file descriptor (non-blocking).
    pub fn tun_fd(&self) -> RawFd {
        self.tun.as_raw_fd()
    }

    /// The sniffing packet socket.
    pub fn sniffer_fd(&self) -> RawFd {
        self.sniffer.fd().as_raw_fd()
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
}

impl Netdev for TunNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        let hdr = gso_size
            .and_then(|gso| packetdrill_gso_header(packet, gso))
            .unwrap_or([0u8; VIRTIO_NET_HDR_LEN]);
        let data = packet;
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
            if let Some(got) = self.sniffer.try_receive()? {
                // The tun copy of this packet was queued right after the sniffer's.
                self.drain()?;
                return Ok(Some((got.bytes, got.stamp_usecs)));
            }
            let fds = [self.sniffer.fd().as_fd(), self.tun.as_fd()];
            if !wait_readable(&fds, deadline_usecs)? {
                return Ok(None);
            }
        }
    }
}

/// Opens the sniffing packet socket on interface `ifindex` (see the module documentation).
pub fn open_sniffer(ifindex: u32) -> io::Result<PacketSocket> {
    PacketSocket::open(ifindex, Keep::Outgoing, Framing::Ip)
}
