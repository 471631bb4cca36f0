//! A pcap of a run (`--pcap=FILE`): a `Netdev` wrapper that writes every packet injected into
//! the stack and every packet sniffed from it, as raw IP (LINKTYPE_RAW), with the time it was
//! sent or captured. Each packet is written as it passes, so a run killed midway leaves a
//! readable file with everything up to that point.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};

use crate::sut::clock::Clock;
use crate::sut::netdev::Netdev;

/// Packets larger than this (GSO super-packets can reach 64 KiB) are still written whole.
const SNAPLEN: u32 = 262_144;

/// Forwards to the wrapped device and records both directions.
pub struct CapturingNetdev {
    inner: Box<dyn Netdev>,
    writer: PcapWriter<File>,
    /// The run's clock, which stamps injected packets (sniffed ones carry their own time).
    clock: Arc<dyn Clock>,
}

impl CapturingNetdev {
    /// Creates (truncates) `path` and wraps `inner`.
    pub fn create(inner: Box<dyn Netdev>, path: &Path, clock: Arc<dyn Clock>) -> io::Result<Self> {
        let file = File::create(path)?;
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            snaplen: SNAPLEN,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(file, header).map_err(io::Error::other)?;
        Ok(Self {
            inner,
            writer,
            clock,
        })
    }

    fn record(&mut self, packet: &[u8], usecs: i64) {
        let timestamp = Duration::from_micros(usecs.max(0) as u64);
        let length = packet.len() as u32;
        // A full disk must not change the verdict of the run; the pcap is a by-product.
        // Unbuffered: a few small writes per packet, and nothing lost if the run is killed.
        let _ = self
            .writer
            .write_packet(&PcapPacket::new(timestamp, length, packet));
    }
}

impl Netdev for CapturingNetdev {
    fn send(&mut self, packet: &[u8], gso_size: Option<u16>) -> io::Result<()> {
        let result = self.inner.send(packet, gso_size);
        if result.is_ok() {
            let now = self.clock.now_usecs();
            self.record(packet, now);
        }
        result
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        let received = self.inner.receive(deadline_usecs)?;
        if let Some((packet, captured)) = &received {
            self.record(packet, *captured);
        }
        Ok(received)
    }

    fn stand_by(&mut self, until_usecs: i64) -> io::Result<()> {
        self.inner.stand_by(until_usecs)
    }

    /// The link layer unrecorded: the pcap holds IP packets (LINKTYPE_RAW), not frames.
    fn link(&mut self) -> Option<&mut dyn crate::sut::netdev::LinkLayer> {
        self.inner.link()
    }
}
