//! The kernel's wire over a veth whose far end is an AF_XDP socket (`--netdev=af_xdp`): the
//! pair made and the stack's end configured as for `--netdev=veth`, then the stack's end told to
//! compute its own checksums (AF_XDP frames carry no "checksum not ready" mark, and with
//! checksum offload off the kernel sends no TSO bursts either), and stackdrill's end opened as
//! an [`XdpPort`]. The peer's packets and the stack's frames travel through the socket's rings;
//! what an AF_XDP frame cannot carry (a GSO super-packet for `--mss`, a segment above the MTU,
//! which tun takes whole) goes through a send-only packet socket on the same end, as over
//! `--netdev=veth`. Packets are stamped when stackdrill takes them from the socket (it sleeps on
//! the socket until then).

use std::io;
use std::time::Duration;

use super::{turn_off_transmit_checksum_offload, XdpPort};
use crate::sut::kernel::netns::TunConfig;
use crate::sut::netdev::Netdev;
use crate::sut::packet_socket::{realtime_usecs, Keep};
use crate::sut::veth::{create_pair, PacketSender, PEER_INTERFACE};
use crate::wire::link::{self, PEER_MAC};
use crate::wire::link_peer::FromStack;

const FLAG: &str = "--netdev=af_xdp";
/// The longest single sleep on the socket while waiting without a deadline.
const WAIT_CAP: Duration = Duration::from_secs(1);

/// Sets the wire up in the current (the run's private) namespace.
pub fn open_kernel_wire(interface: &TunConfig) -> Result<Box<dyn Netdev>, String> {
    let pair = create_pair(interface, FLAG)?;
    turn_off_transmit_checksum_offload(&interface.name).map_err(|e| {
        format!(
            "{FLAG}: cannot turn checksum offload off on {}: {e}",
            interface.name
        )
    })?;
    let port = XdpPort::open(PEER_INTERFACE)?;
    let sender = pair.sender(Keep::Nothing, FLAG)?;
    Ok(Box::new(AfXdpNetdev {
        port,
        sender,
        frames: Vec::new(),
        arrived: std::collections::VecDeque::new(),
    }))
}

pub struct AfXdpNetdev {
    port: XdpPort,
    /// For what an AF_XDP frame cannot carry; also knows the link (MACs, MTU).
    sender: PacketSender,
    frames: Vec<Vec<u8>>,
    /// IP packets taken from the socket and not yet handed out, with the time they were taken.
    arrived: std::collections::VecDeque<(Vec<u8>, i64)>,
}

impl AfXdpNetdev {
    /// Takes everything the socket has: IP packets are kept, stamped now; neighbour queries
    /// are answered; anything else is dropped.
    fn take_arrivals(&mut self) -> io::Result<()> {
        self.frames.clear();
        if self.port.receive(&mut self.frames)? == 0 {
            return Ok(());
        }
        let now = realtime_usecs();
        for frame in std::mem::take(&mut self.frames) {
            match self.sender.link().from_stack(&frame) {
                FromStack::Packet(packet) => self.arrived.push_back((packet.to_vec(), now)),
                FromStack::Answered(answer) => self.port.send(&answer)?,
                FromStack::Ignored => {}
            }
        }
        Ok(())
    }
}

impl Netdev for AfXdpNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        // What arrived before this packet leaves was sent before it: stamp it now.
        self.take_arrivals()?;
        let link = self.sender.link();
        if gso_size.is_some() || packet.len() > link.mtu {
            return self.sender.send(packet, gso_size);
        }
        let frame = link::frame(link.stack_mac, PEER_MAC, packet);
        self.port.send(&frame)
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        loop {
            self.take_arrivals()?;
            if let Some(packet) = self.arrived.pop_front() {
                return Ok(Some(packet));
            }
            let wait = match deadline_usecs {
                None => WAIT_CAP,
                Some(deadline) => {
                    let left = deadline - realtime_usecs();
                    if left <= 0 {
                        return Ok(None);
                    }
                    WAIT_CAP.min(Duration::from_micros(left as u64))
                }
            };
            self.port.wait(wait)?;
        }
    }
}
