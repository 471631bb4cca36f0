//! A DPDK port as a `Netdev`: the peer's IP packets go out in Ethernet frames from the peer's
//! MAC to the stack's, and frames the stack sends come back as IP packets, stamped when they are
//! taken from the port; ARP requests and neighbour solicitations for the peer's addresses are
//! answered on the spot and never reach the script (unless the script turned the answers off);
//! other ARP and neighbour discovery frames wait for its layer-2 statements ([`LinkLayer`]). A packet above the MTU, which tun takes whole
//! (the kernel treats it as one received segment), goes to a net_tap port's kernel side whole,
//! written into the tap device's queue past the driver's length check (DPDK's net_tap refuses
//! frames above 1522 bytes); on any other port it is refused with a reason, as the port would
//! drop it, and cut into segments it would be other packets (the kernel answers the first
//! alone).
//!
//! Waiting for the stack's packets sleeps on the port's rx file descriptor where it has one
//! (net_tap), so a packet is taken, and stamped, as soon as the kernel sent it; other ports are
//! looked at every [`POLL_GAP`].

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use dpdk_sys::Port;

use crate::sut::clock::realtime_usecs;
use crate::sut::netdev::{LinkLayer, Netdev};
use crate::wire::link::{self, Mac, PEER_MAC};
use crate::wire::link_peer::{FromStack, LinkPeer};

/// Frames taken from the port in one burst, at most.
const BURST: usize = 32;
/// The pause between two looks at an empty port without an rx file descriptor while waiting: a waiting run stays off the CPU
/// that parallel runs need, at the cost of up to this much error in a packet's time.
const POLL_GAP: Duration = Duration::from_micros(50);
/// The longest single sleep on a port's rx file descriptor.
const FD_WAIT_CAP: Duration = Duration::from_secs(1);

/// A packet or frame with its capture time.
type Stamped = (Vec<u8>, i64);

pub struct DpdkNetdev {
    port: Port,
    /// The peer's end of the link: framing, and what each of the stack's frames is.
    peer: LinkPeer,
    /// IP packets taken from the port and not yet handed out, with the time they were taken.
    arrived: VecDeque<(Vec<u8>, i64)>,
    frames: Vec<Vec<u8>>,
}

impl DpdkNetdev {
    pub fn new(port: Port, peer: LinkPeer) -> Self {
        DpdkNetdev {
            port,
            peer,
            arrived: VecDeque::new(),
            frames: Vec::with_capacity(BURST),
        }
    }

    /// Takes everything the port has: IP packets are kept, stamped now; neighbour queries are
    /// answered; anything else is dropped.
    fn take_arrivals(&mut self) -> io::Result<()> {
        loop {
            self.frames.clear();
            let got = self
                .port
                .receive(&mut self.frames, BURST)
                .map_err(io::Error::other)?;
            if got == 0 {
                return Ok(());
            }
            let now = realtime_usecs();
            for frame in std::mem::take(&mut self.frames) {
                match self.peer.from_stack(&frame) {
                    FromStack::Packet(packet) => self.arrived.push_back((packet.to_vec(), now)),
                    FromStack::Answered(answer) => {
                        self.port.send(&answer).map_err(io::Error::other)?
                    }
                    FromStack::Link(frame) => self.peer.keep_link_frame(frame, now),
                    FromStack::Ignored => {}
                }
            }
        }
    }
}

impl Netdev for DpdkNetdev {
    /// GSO (`--mss`) is refused: a frame on a DPDK port is one packet.
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        if gso_size.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "--mss (GSO packets) cannot travel on a DPDK port",
            ));
        }
        // What arrived before this packet leaves was sent before it: stamp it now.
        self.take_arrivals()?;
        match self.peer.frame_to_stack(packet) {
            Ok(frame) => self.port.send(&frame).map_err(io::Error::other),
            // net_tap's kernel side takes it whole, as tun does.
            Err(_) if self.port.rx_fd().is_some() => {
                let frame = link::frame(self.peer.stack_mac, PEER_MAC, packet);
                self.port.write_to_tap(&frame).map_err(io::Error::other)
            }
            Err(why) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "{why} ({} cannot take it whole, as tun does)",
                    self.port.driver_name()
                ),
            )),
        }
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        self.wait_for(deadline_usecs, |netdev| netdev.arrived.pop_front())
    }

    fn stand_by(&mut self, until_usecs: i64) -> io::Result<()> {
        self.wait_for(Some(until_usecs), |_| None).map(drop)
    }

    fn link(&mut self) -> Option<&mut dyn LinkLayer> {
        Some(self)
    }
}

impl LinkLayer for DpdkNetdev {
    fn send_frame(&mut self, frame: &[u8]) -> io::Result<()> {
        self.take_arrivals()?;
        self.port.send(frame).map_err(io::Error::other)
    }

    fn receive_frame(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        self.wait_for(deadline_usecs, |netdev| netdev.peer.next_link_frame())
    }

    fn set_neighbour_answers(&mut self, on: bool) {
        self.peer.answers = on;
    }

    fn stack_mac(&self) -> Mac {
        self.peer.stack_mac
    }

    fn peer_mac(&self) -> Mac {
        PEER_MAC
    }
}

impl DpdkNetdev {
    /// What `take` finds among the port's arrivals, waiting at most until the deadline.
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
            let left = deadline_usecs.map(|deadline| deadline - realtime_usecs());
            if left.is_some_and(|left| left <= 0) {
                return Ok(None);
            }
            let left = left.map(|left| Duration::from_micros(left as u64));
            if self.port.rx_fd().is_some() {
                // At most a second at a time: a deadline-less wait still notices a frame that
                // net_tap's signal failed to point out.
                let wait = left.map_or(FD_WAIT_CAP, |left| left.min(FD_WAIT_CAP));
                self.port.wait_rx(wait).map_err(io::Error::other)?;
            } else {
                std::thread::sleep(left.map_or(POLL_GAP, |left| POLL_GAP.min(left)));
            }
        }
    }
}
