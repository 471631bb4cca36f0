//! stackdrill's end of the veth pair as a `Netdev`: the peer's IP packets go out in Ethernet
//! frames (from the peer's MAC to the stack's) through an AF_PACKET socket, after a
//! virtio-net header; frames the stack sends come back as IP packets with the kernel's capture
//! time, the checksum the device would compute completed, and neighbour queries for the peer's
//! addresses answered on the spot (`wire::link_peer`).
//!
//! A GSO super-packet (`--mss`) goes out as one, marked in its virtio-net header, as over tun,
//! with as much of it in the skb's linear part as tun puts there for upstream packetdrill (so
//! the kernel's receive windows come out the same).
//! A TCP packet above the MTU, which tun takes whole, goes out the same way with segments one
//! byte short of its payload: a veth drops a plain frame above the receiving end's MTU, but
//! lets a GSO packet through whole, and TCP takes it as the one segment tun would give it.

use std::io;
use std::os::fd::AsFd;

use std::collections::VecDeque;

use crate::sut::netdev::{LinkLayer, Netdev};
use crate::sut::packet_socket::{
    gso_header, tcp_payload_len, wait_readable, PacketSocket, VIRTIO_NET_HDR_LEN,
};
use crate::wire::link::{self, Mac, PEER_MAC};
use crate::wire::link_peer::{FromStack, LinkPeer};

/// The Ethernet header's length, which the virtio-net header's offsets count.
const ETHERNET_HEADER_LEN: usize = 14;

/// The bytes of an IP packet the tun driver puts in an skb's linear part when packetdrill's
/// header leaves `hdr_len` 0: `SKB_MAX_HEAD(NET_SKB_PAD)`, a 4 KiB page less the skb's 64-byte
/// headroom and its 320-byte `skb_shared_info` (x86-64). The rest goes in page fragments.
const TUN_LINEAR_MAX: usize = 4096 - 64 - 320;

/// The `hdr_len` that makes the packet socket lay a GSO frame carrying an `ip_len`-byte packet
/// out as tun does for upstream packetdrill: `hdr_len` is how many bytes the socket copies
/// into the linear part. With only the headers there (the value `gso_header` computes) the
/// skb's truesize is another one, and so are the receive windows the kernel advertises after a
/// large segment (the kernel's tcp_rcv_* selftests check them).
fn tun_like_linear(ip_len: usize) -> u16 {
    (ETHERNET_HEADER_LEN + ip_len.min(TUN_LINEAR_MAX)) as u16
}

/// Sends the peer's packets on stackdrill's end of a veth through a packet socket (also used by
/// the AF_XDP wire for what AF_XDP frames cannot carry: GSO packets).
pub struct PacketSender {
    socket: PacketSocket,
    peer: LinkPeer,
}

impl PacketSender {
    pub fn new(socket: PacketSocket, peer: LinkPeer) -> Self {
        PacketSender { socket, peer }
    }

    /// The peer's view of the link.
    pub fn link(&self) -> &LinkPeer {
        &self.peer
    }

    /// The peer's view of the link, to keep link-layer frames in or turn answers off.
    pub fn link_mut(&mut self) -> &mut LinkPeer {
        &mut self.peer
    }

    /// Sends `packet` as [`Netdev::send`] does (see the module documentation).
    pub fn send(&self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        let gso = match gso_size {
            Some(gso) => gso_header(packet, gso, ETHERNET_HEADER_LEN),
            None if packet.len() > self.peer.mtu => {
                let whole = tcp_payload_len(packet)
                    .and_then(|payload| u16::try_from(payload.checked_sub(1)?).ok())
                    .and_then(|segment| gso_header(packet, segment, ETHERNET_HEADER_LEN));
                match whole {
                    Some(gso) => Some(gso),
                    None => {
                        let why = self.peer.frame_to_stack(packet).err().unwrap_or_default();
                        return Err(io::Error::new(io::ErrorKind::Unsupported, why));
                    }
                }
            }
            None => None,
        };
        match gso {
            Some((mut header, copy)) => {
                header[2..4].copy_from_slice(&tun_like_linear(copy.len()).to_ne_bytes());
                self.send_packet(header, &copy)
            }
            None => self.send_packet([0; VIRTIO_NET_HDR_LEN], packet),
        }
    }

    /// Sends a whole frame as it is (a neighbour answer).
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        self.socket.send_frame(&[0; VIRTIO_NET_HDR_LEN], frame)
    }

    /// `packet` in a frame to the stack, after its virtio-net header.
    fn send_packet(&self, header: [u8; VIRTIO_NET_HDR_LEN], packet: &[u8]) -> io::Result<()> {
        let frame = link::frame(self.peer.stack_mac, PEER_MAC, packet);
        self.socket.send_frame(&header, &frame).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("writing a {}-byte frame to the veth: {e}", frame.len()),
            )
        })
    }
}

/// A frame or packet with its capture time (µs).
type Stamped = (Vec<u8>, i64);

pub struct VethNetdev {
    sender: PacketSender,
    /// IP packets taken from the socket while waiting for a link-layer frame, in order.
    packets: VecDeque<Stamped>,
}

impl VethNetdev {
    pub fn new(sender: PacketSender) -> Self {
        VethNetdev {
            sender,
            packets: VecDeque::new(),
        }
    }
}

impl Netdev for VethNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        self.sender.send(packet, gso_size)
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        self.wait_for(deadline_usecs, |netdev| netdev.packets.pop_front())
    }

    fn link(&mut self) -> Option<&mut dyn LinkLayer> {
        Some(self)
    }
}

impl LinkLayer for VethNetdev {
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.sender.send_frame(frame)
    }

    fn receive_frame(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<Stamped>> {
        self.wait_for(deadline_usecs, |netdev| {
            netdev.sender.peer.next_link_frame()
        })
    }

    fn set_neighbour_answers(&mut self, on: bool) {
        self.sender.peer.answers = on;
    }

    fn stack_mac(&self) -> Mac {
        self.sender.peer.stack_mac
    }

    fn peer_mac(&self) -> Mac {
        PEER_MAC
    }
}

impl VethNetdev {
    /// What `take` finds among the frames the stack sent, waiting at most until the deadline:
    /// each frame taken from the socket is an IP packet (queued for [`Netdev::receive`]), a
    /// link-layer frame (kept for [`LinkLayer::receive_frame`]), a neighbour query answered
    /// here, or nothing.
    fn wait_for(
        &mut self,
        deadline_usecs: Option<i64>,
        take: fn(&mut Self) -> Option<Stamped>,
    ) -> io::Result<Option<Stamped>> {
        loop {
            while let Some(got) = self.sender.socket.try_receive()? {
                match self.sender.peer.from_stack(&got.bytes) {
                    FromStack::Packet(packet) => {
                        self.packets.push_back((packet.to_vec(), got.stamp_usecs))
                    }
                    FromStack::Link(frame) => {
                        self.sender.peer.keep_link_frame(frame, got.stamp_usecs)
                    }
                    FromStack::Answered(answer) => self.sender.send_frame(&answer)?,
                    FromStack::Ignored => {}
                }
            }
            if let Some(found) = take(self) {
                return Ok(Some(found));
            }
            if !wait_readable(&[self.sender.socket.fd().as_fd()], deadline_usecs)? {
                return Ok(None);
            }
        }
    }
}
