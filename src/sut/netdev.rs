//! Where packets travel: the `Netdev` seam. One implementation per backend: a tun device in a
//! private network namespace (`kernel/tun.rs`), a userspace stack's own netdev
//! (`so/netdev.rs`); the pcap writer (`capture.rs`) wraps either. A wire that carries Ethernet
//! frames (a DPDK port, a veth) also offers its link layer ([`LinkLayer`]) to the scripts' ARP and
//! neighbour discovery statements.

use crate::wire::link::Mac;

/// Moves layer-3 IP packets between stackdrill (the simulated peer) and the stack under test.
pub trait Netdev: Send {
    /// Injects one IP packet (IPv4 or IPv6 header first) into the stack under test. With
    /// `gso_size`, a TCP packet is handed over as a GSO super-packet of that segment size
    /// (packetdrill's `--mss`).
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> std::io::Result<()>;

    /// The next IP packet the stack under test sent, with its capture time in microseconds of
    /// the run's clock (CLOCK_REALTIME, or a userspace stack's own), waiting at most until
    /// `deadline_usecs` (same clock; None = forever).
    /// Returns Ok(None) at the deadline.
    fn receive(&mut self, deadline_usecs: Option<i64>) -> std::io::Result<Option<(Vec<u8>, i64)>>;

    /// Lets time pass until `until_usecs` (the run's clock), returning at the latest then,
    /// while taking what the stack sends so that each packet gets the time it arrived: for
    /// wires whose packets are stamped when stackdrill reads them (a DPDK port, an AF_XDP
    /// socket). Wires whose packets the kernel stamps on arrival (tun, veth) need nothing: the
    /// default returns at once.
    fn stand_by(&mut self, until_usecs: i64) -> std::io::Result<()> {
        let _ = until_usecs;
        Ok(())
    }

    /// The wire's link layer, if it has one (tun carries bare IP packets: None).
    fn link(&mut self) -> Option<&mut dyn LinkLayer> {
        None
    }
}

/// The peer's end of an Ethernet link, for layer-2 statements. A wire implements it by
/// forwarding to its [`crate::wire::link_peer::LinkPeer`], which sorts the stack's frames.
pub trait LinkLayer {
    /// Sends one whole Ethernet frame to the stack, as the script built it.
    fn send_frame(&mut self, frame: &[u8]) -> std::io::Result<()>;

    /// The next link-layer frame the stack sent (ARP, or IPv6 neighbour discovery: ICMPv6
    /// types 133-137), whole, with its capture time in microseconds of the run's clock,
    /// waiting at most until `deadline_usecs` (None = forever). Ok(None) at the deadline.
    fn receive_frame(
        &mut self,
        deadline_usecs: Option<i64>,
    ) -> std::io::Result<Option<(Vec<u8>, i64)>>;

    /// Whether the peer answers the stack's ARP requests and neighbour solicitations itself
    /// (on: they never reach [`LinkLayer::receive_frame`]).
    fn set_neighbour_answers(&mut self, on: bool);

    /// The stack's MAC address on the link.
    fn stack_mac(&self) -> Mac;

    /// The peer's MAC address.
    fn peer_mac(&self) -> Mac;
}
