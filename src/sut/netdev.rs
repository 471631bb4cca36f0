//! Where packets travel: the `Netdev` seam. One implementation per backend: a tun device in a
//! private network namespace (`kernel/tun.rs`), a userspace stack's own netdev
//! (`so/netdev.rs`); the pcap writer (`capture.rs`) wraps either.

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
}
