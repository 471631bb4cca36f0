//! A pcap of a run (`--pcap=FILE`): a `Netdev` wrapper that writes every packet injected into
//! the stack and every packet sniffed from it, as raw IP (LINKTYPE_RAW), with the time it was
//! sent or captured. Each packet is written as it passes, so a run killed midway leaves a
//! readable file with everything up to that point.
//!
//! Time order: an injected packet is stamped just before it is handed to the stack, since the
//! stack may answer within the send itself (a tun write runs the kernel's receive path), and
//! the answer's capture time then precedes the moment the send returns. A sniffed packet can
//! still be read after a later injection (it waited in the socket's queue while stackdrill
//! sent), so its time can precede the last one written; when that happened, the file is
//! rewritten in time order when the capture ends (Wireshark's `capinfos` then says
//! "Strict time order: True").

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
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
    path: PathBuf,
    /// The time of the packet written last (µs).
    latest_usecs: i64,
    /// Whether a packet was written with a time before an earlier one's.
    out_of_order: bool,
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
            path: path.to_path_buf(),
            latest_usecs: i64::MIN,
            out_of_order: false,
        })
    }

    fn record(&mut self, packet: &[u8], usecs: i64) {
        self.out_of_order |= usecs < self.latest_usecs;
        self.latest_usecs = self.latest_usecs.max(usecs);
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
        let sent_at = self.clock.now_usecs();
        let result = self.inner.send(packet, gso_size);
        if result.is_ok() {
            self.record(packet, sent_at);
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

impl Drop for CapturingNetdev {
    /// Puts the file in time order if a packet was written out of it (see the module's
    /// documentation). A failure leaves the file as it was written: every packet, in the order
    /// they passed.
    fn drop(&mut self) {
        if self.out_of_order {
            let _ = sort_by_time(&self.path);
        }
    }
}

/// Rewrites the pcap at `path` with its packets in time order (packets with equal times keep
/// their order), through a temporary file beside it renamed over it.
fn sort_by_time(path: &Path) -> io::Result<()> {
    let bytes = std::fs::read(path)?;
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).map_err(io::Error::other)?;
    let header = reader.header();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        match packet {
            Ok(packet) => packets.push(packet.into_owned()),
            // A packet cut short (a full disk): keep what came before it.
            Err(_) => break,
        }
    }
    packets.sort_by_key(|packet| packet.timestamp);
    let mut name = path.as_os_str().to_owned();
    name.push(".sorting");
    let sorted = PathBuf::from(name);
    let result = (|| {
        let mut writer =
            PcapWriter::with_header(File::create(&sorted)?, header).map_err(io::Error::other)?;
        for packet in &packets {
            writer.write_packet(packet).map_err(io::Error::other)?;
        }
        std::fs::rename(&sorted, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&sorted);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A clock that reads what the test sets.
    struct SetClock(AtomicI64);

    impl Clock for SetClock {
        fn now_usecs(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
        fn wait_until(&self, _deadline_usecs: i64) {}
        fn start_usecs(&self) -> i64 {
            0
        }
    }

    /// A wire whose stack answers every injected packet at once, its answer stamped 5 µs after
    /// the send began, and advances the clock by 10 µs per send; `queued` packets wait to be
    /// received with the times given.
    struct Wire {
        clock: Arc<SetClock>,
        queued: std::collections::VecDeque<(Vec<u8>, i64)>,
    }

    impl Netdev for Wire {
        fn send(&mut self, packet: &[u8], _gso_size: Option<u16>) -> io::Result<()> {
            let began = self.clock.0.fetch_add(10, Ordering::SeqCst);
            self.queued
                .push_back((packet.iter().map(|b| b + 1).collect(), began + 5));
            Ok(())
        }
        fn receive(&mut self, _deadline: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
            Ok(self.queued.pop_front())
        }
    }

    fn written(path: &Path) -> Vec<(u128, u8)> {
        let bytes = std::fs::read(path).unwrap();
        let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
        let mut packets = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.unwrap();
            packets.push((packet.timestamp.as_micros(), packet.data[0]));
        }
        packets
    }

    #[test]
    fn packets_are_in_time_order() {
        let path =
            std::env::temp_dir().join(format!("stackdrill-capture-{}.pcap", std::process::id()));
        let clock = Arc::new(SetClock(AtomicI64::new(1_000)));
        let wire = Wire {
            clock: Arc::clone(&clock),
            queued: [(vec![50], 990)].into_iter().collect(),
        };
        let mut netdev = CapturingNetdev::create(Box::new(wire), &path, clock.clone()).unwrap();
        // The answer to an injection within the send comes after it.
        netdev.send(&[10], None).unwrap();
        // A packet captured before the injection but read after it.
        assert_eq!(netdev.receive(None).unwrap(), Some((vec![50], 990)));
        assert_eq!(netdev.receive(None).unwrap(), Some((vec![11], 1_005)));
        netdev.send(&[20], None).unwrap();
        assert_eq!(netdev.receive(None).unwrap(), Some((vec![21], 1_015)));
        // Written as they passed while the run goes on...
        assert_eq!(
            written(&path),
            [
                (1_000, 10),
                (990, 50),
                (1_005, 11),
                (1_010, 20),
                (1_015, 21)
            ]
        );
        // ...and in time order once it ends.
        drop(netdev);
        assert_eq!(
            written(&path),
            [
                (990, 50),
                (1_000, 10),
                (1_005, 11),
                (1_010, 20),
                (1_015, 21)
            ]
        );
        std::fs::remove_file(&path).unwrap();
    }
}
