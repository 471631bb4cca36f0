//! The smoltcp network device: a point-to-point IP link (`Medium::Ip`) whose far end is
//! stackdrill. `netdev_send` packets queue on the inbound side; packets smoltcp transmits queue
//! on the outbound side, stamped with the virtual time they left, until `netdev_receive` takes
//! them. Both directions pass through the [`WireTap`].

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

use crate::wire_tap::{describe_packet, WireTap};

/// A packet the stack sent, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampedPacket {
    pub bytes: Vec<u8>,
    pub sent_at: Instant,
}

/// The outbound half: what transmit tokens write into.
#[derive(Debug)]
pub struct Egress {
    queue: VecDeque<StampedPacket>,
    pub tap: WireTap,
    debug: bool,
}

impl Egress {
    fn emit(&mut self, bytes: Vec<u8>, sent_at: Instant) {
        let bytes = self.tap.outbound(bytes, sent_at);
        if self.debug {
            eprintln!(
                "stackdrill-smoltcp: {} out: {}",
                sent_at,
                describe_packet(&bytes)
            );
        }
        self.queue.push_back(StampedPacket { bytes, sent_at });
    }
}

/// The device.
#[derive(Debug)]
pub struct VirtualLink {
    inbound: VecDeque<Vec<u8>>,
    pub egress: Egress,
    mtu: usize,
}

impl VirtualLink {
    pub fn new(mtu: usize, tap: WireTap, debug: bool) -> Self {
        VirtualLink {
            inbound: VecDeque::new(),
            egress: Egress {
                queue: VecDeque::new(),
                tap,
                debug,
            },
            mtu,
        }
    }

    /// A packet from the peer; the stack reads it at its next poll.
    pub fn inject(&mut self, bytes: Vec<u8>, now: Instant) {
        let bytes = self.egress.tap.inbound(bytes, now);
        if self.egress.debug {
            eprintln!(
                "stackdrill-smoltcp: {} in:  {}",
                now,
                describe_packet(&bytes)
            );
        }
        self.inbound.push_back(bytes);
    }

    /// The oldest packet the stack sent that nobody has taken yet.
    pub fn take_outbound(&mut self) -> Option<StampedPacket> {
        self.egress.queue.pop_front()
    }

    pub fn tap(&mut self) -> &mut WireTap {
        &mut self.egress.tap
    }

    pub fn mtu(&self) -> usize {
        self.mtu
    }
}

/// A received packet, handed to smoltcp.
pub struct InboundPacket {
    bytes: Vec<u8>,
}

impl phy::RxToken for InboundPacket {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.bytes)
    }
}

/// Room for one packet smoltcp sends.
pub struct OutboundSlot<'a> {
    egress: &'a mut Egress,
    now: Instant,
}

impl phy::TxToken for OutboundSlot<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut bytes = vec![0u8; len];
        let result = f(&mut bytes);
        self.egress.emit(bytes, self.now);
        result
    }
}

impl phy::Device for VirtualLink {
    type RxToken<'a> = InboundPacket;
    type TxToken<'a> = OutboundSlot<'a>;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let bytes = self.inbound.pop_front()?;
        Some((
            InboundPacket { bytes },
            OutboundSlot {
                egress: &mut self.egress,
                now: timestamp,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(OutboundSlot {
            egress: &mut self.egress,
            now: timestamp,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.max_burst_size = None;
        caps
    }
}
