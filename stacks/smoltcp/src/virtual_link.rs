//! The smoltcp network device: a point-to-point IP link (`Medium::Ip`) whose far end is
//! stackdrill. `netdev_send` packets queue on the inbound side; packets smoltcp transmits queue
//! on the outbound side, stamped with the virtual time they left, until `netdev_receive` takes
//! them. Once stackdrill hands over a port of Ethernet frames (`stackdrill_dpdk_attach`, see
//! [`FramePort`]), the link is `Medium::Ethernet` on that port instead: smoltcp reads frames
//! from it and writes frames to it, and resolves its neighbours by ARP/NDP over it. Both
//! directions pass through the [`WireTap`] (the IP packet of a frame, on a port).

use std::collections::VecDeque;

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetFrame, EthernetProtocol};

use crate::wire_tap::{describe_packet, WireTap};

/// A packet the stack sent, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampedPacket {
    pub bytes: Vec<u8>,
    pub sent_at: Instant,
}

/// A port that carries Ethernet frames, polled by the stack itself (a DPDK port).
pub trait FramePort: Send {
    /// Hands every frame waiting on the port now to `each`; never blocks.
    fn receive(&mut self, each: &mut dyn FnMut(&[u8]));
    /// Sends one frame; Err says why it was dropped.
    fn send(&mut self, frame: &[u8]) -> Result<(), String>;
}

/// The outbound half: what transmit tokens write into.
pub struct Egress {
    queue: VecDeque<StampedPacket>,
    pub tap: WireTap,
    debug: bool,
    /// The port frames go out on, once stackdrill handed one over.
    port: Option<Box<dyn FramePort>>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("queue", &self.queue)
            .field("tap", &self.tap)
            .field("on_port", &self.port.is_some())
            .finish()
    }
}

impl Egress {
    fn emit(&mut self, bytes: Vec<u8>, sent_at: Instant) {
        let Some(port) = self.port.as_mut() else {
            let bytes = self.tap.outbound(bytes, sent_at);
            trace(self.debug, sent_at, "out:", || describe_packet(&bytes));
            self.queue.push_back(StampedPacket { bytes, sent_at });
            return;
        };
        let tap = &mut self.tap;
        let frame = through_ip_payload(bytes, |packet| tap.outbound(packet, sent_at));
        trace(self.debug, sent_at, "out:", || describe_frame(&frame));
        if let Err(why) = port.send(&frame) {
            eprintln!("stackdrill-smoltcp: a frame was dropped: {why}");
        }
    }
}

/// With `debug=on`, says on stderr what crossed the link at `at`, in which `direction`.
fn trace(debug: bool, at: Instant, direction: &str, what: impl FnOnce() -> String) {
    if debug {
        eprintln!("stackdrill-smoltcp: {at} {direction} {}", what());
    }
}

/// `frame` with the IP packet it carries (if any) replaced by `change(packet)`.
fn through_ip_payload(mut frame: Vec<u8>, change: impl FnOnce(Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let carries_ip = EthernetFrame::new_checked(&frame[..]).is_ok_and(|ethernet| {
        matches!(
            ethernet.ethertype(),
            EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6
        )
    });
    if !carries_ip {
        return frame;
    }
    let packet = frame.split_off(EthernetFrame::<&[u8]>::header_len());
    frame.extend_from_slice(&change(packet));
    frame
}

/// A frame for debug output: its IP packet, or its ethertype.
fn describe_frame(frame: &[u8]) -> String {
    match EthernetFrame::new_checked(frame) {
        Ok(ethernet)
            if matches!(
                ethernet.ethertype(),
                EthernetProtocol::Ipv4 | EthernetProtocol::Ipv6
            ) =>
        {
            describe_packet(ethernet.payload())
        }
        Ok(ethernet) => format!("{} frame, {} bytes", ethernet.ethertype(), frame.len()),
        Err(_) => format!("runt frame, {} bytes", frame.len()),
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
                port: None,
            },
            mtu,
        }
    }

    /// From now on, frames travel on `port` (`Medium::Ethernet`).
    pub fn attach_port(&mut self, port: Box<dyn FramePort>) {
        self.egress.port = Some(port);
    }

    /// Whether the link is a port of Ethernet frames.
    pub fn on_port(&self) -> bool {
        self.egress.port.is_some()
    }

    /// Moves every frame waiting on the port (if any) to the inbound queue, through the tap.
    fn take_from_port(&mut self, now: Instant) {
        let Some(port) = self.egress.port.as_mut() else {
            return;
        };
        let (inbound, tap, debug) = (&mut self.inbound, &mut self.egress.tap, self.egress.debug);
        port.receive(&mut |frame| {
            let frame = through_ip_payload(frame.to_vec(), |packet| tap.inbound(packet, now));
            trace(debug, now, "in: ", || describe_frame(&frame));
            inbound.push_back(frame);
        });
    }

    /// A packet from the peer; the stack reads it at its next poll.
    pub fn inject(&mut self, bytes: Vec<u8>, now: Instant) {
        let bytes = self.egress.tap.inbound(bytes, now);
        trace(self.egress.debug, now, "in: ", || describe_packet(&bytes));
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
        if self.inbound.is_empty() {
            self.take_from_port(timestamp);
        }
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
        if self.on_port() {
            // smoltcp's Ethernet MTU counts the Ethernet header.
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = self.mtu + EthernetFrame::<&[u8]>::header_len();
        } else {
            caps.medium = Medium::Ip;
            caps.max_transmission_unit = self.mtu;
        }
        caps.max_burst_size = None;
        caps
    }
}
