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
use crate::sut::netdev::{LinkLayer, Netdev};
use crate::sut::packet_socket::{realtime_usecs, Keep};
use crate::sut::veth::{create_pair, PacketSender, PEER_INTERFACE};
use crate::wire::link::{self, Mac, PEER_MAC};
use crate::wire::link_peer::FromStack;

const FLAG: &str = "--netdev=af_xdp";
/// The longest single sleep on the socket while waiting without a deadline.
const WAIT_CAP: Duration = Duration::from_secs(1);

/// Sets the wire up in the current (the run's private) namespace.
pub fn open_kernel_wire(
    interface: &TunConfig,
    neighbour_answers: bool,
) -> Result<Box<dyn Netdev>, String> {
    let pair = create_pair(interface, FLAG, neighbour_answers)?;
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
    arrived: std::collections::VecDeque<Stamped>,
}

/// A frame or packet with the time it was taken (µs).
type Stamped = (Vec<u8>, i64);

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
                FromStack::Link(frame) => self.sender.link_mut().keep_link_frame(frame, now),
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

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<Stamped>> {
        self.wait_for(deadline_usecs, |netdev| netdev.arrived.pop_front())
    }

    fn stand_by(&mut self, until_usecs: i64) -> io::Result<()> {
        self.wait_for(Some(until_usecs), |_| None).map(drop)
    }

    fn link(&mut self) -> Option<&mut dyn LinkLayer> {
        Some(self)
    }
}

impl LinkLayer for AfXdpNetdev {
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.take_arrivals()?;
        self.port.send(frame)
    }

    fn receive_frame(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<Stamped>> {
        self.wait_for(deadline_usecs, |netdev| {
            netdev.sender.link_mut().next_link_frame()
        })
    }

    fn set_neighbour_answers(&mut self, on: bool) {
        self.sender.link_mut().answers = on;
    }

    fn stack_mac(&self) -> Mac {
        self.sender.link().stack_mac
    }

    fn peer_mac(&self) -> Mac {
        PEER_MAC
    }
}

impl AfXdpNetdev {
    /// What `take` finds among the socket's arrivals, waiting at most until the deadline.
    fn wait_for(
        &mut self,
        deadline_usecs: Option<i64>,
        take: fn(&mut Self) -> Option<Stamped>,
    ) -> io::Result<Option<Stamped>> {
        loop {
            self.take_arrivals()?;
            if let Some(found) = take(self) {
                return Ok(Some(found));
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
