//! The Internet checksum (RFC 1071): stackdrill's one implementation of it. The packet encoder
//! and decoder (the parent module) checksum IP headers and transport segments with it; the
//! kernel's tun device (`sut::kernel::tun`) finishes with it the checksums the kernel leaves to
//! the "hardware" (checksum offload) and prepares GSO super-packets' partial checksums.

use std::net::IpAddr;

use super::{PROTO_TCP, PROTO_UDP};

/// `sum` plus the big-endian 16-bit words of `data` (an odd last byte padded with zero), as a
/// one's-complement sum not yet folded to 16 bits.
fn sum_words(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for w in &mut chunks {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// `sum` folded to 16 bits (end-around carry), not complemented.
fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The sum of `data`'s words with the 16-bit field at byte `field` (even) counted as zero.
fn sum_without(data: &[u8], field: usize) -> u64 {
    let before = &data[..field.min(data.len())];
    let after = data.get(field + 2..).unwrap_or(&[]);
    sum_words(sum_words(0, before), after)
}

/// The sum of the transport pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1): both addresses, the
/// protocol and the transport length. (A 32-bit length added whole folds the same as its two
/// 16-bit halves.)
fn pseudo_header(src: &[u8], dst: &[u8], protocol: u8, len: usize) -> u64 {
    sum_words(sum_words(0, src), dst) + u64::from(protocol) + len as u64
}

/// The checksum of `segment` whose pseudo-header sums to `pseudo`, its checksum field (at byte
/// `field`) counted as zero.
fn segment_checksum(pseudo: u64, segment: &[u8], field: usize) -> u16 {
    !fold(pseudo + sum_without(segment, field))
}

/// The checksum of `data` with its checksum field (the 16 bits at byte `field`, even) counted
/// as zero: an IPv4 header's (`field` 10) or an ICMPv4 message's (`field` 2).
pub fn checksum(data: &[u8], field: usize) -> u16 {
    !fold(sum_without(data, field))
}

/// The TCP, UDP or ICMPv6 checksum of `segment` sent from `src` to `dst`, its checksum field
/// (at byte `field`) counted as zero. 0 for addresses of different families. (UDP sends a
/// computed 0 as 0xffff: the caller's business.)
pub fn transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8], field: usize) -> u16 {
    match pseudo_header_of(src, dst, protocol, segment.len()) {
        Some(pseudo) => segment_checksum(pseudo, segment, field),
        None => 0,
    }
}

/// The pseudo-header sum for `src` and `dst`; None for addresses of different families.
fn pseudo_header_of(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> Option<u64> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            Some(pseudo_header(&s.octets(), &d.octets(), protocol, len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            Some(pseudo_header(&s.octets(), &d.octets(), protocol, len))
        }
        _ => None,
    }
}

/// The UDP-Lite checksum (RFC 3828 §3.1) of `datagram` sent from `src` to `dst`: the
/// pseudo-header with the datagram's whole length, then the bytes its coverage field (bytes
/// 4..6) says, all when 0 (or beyond the datagram), the checksum field counted as zero.
pub fn udplite(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    let coverage = match datagram.get(4..6) {
        Some(c) => usize::from(u16::from_be_bytes([c[0], c[1]])),
        None => datagram.len(),
    };
    let covered = if coverage == 0 || coverage > datagram.len() {
        datagram.len()
    } else {
        coverage
    };
    match pseudo_header_of(src, dst, super::PROTO_UDPLITE, datagram.len()) {
        Some(pseudo) => segment_checksum(pseudo, &datagram[..covered], 6),
        None => 0,
    }
}

/// Whether the TCP, UDP or ICMPv6 checksum in `segment` (at byte `field`) is right for `src`
/// and `dst`: the computed value or its one's-complement twin (0x0000 and 0xffff are both
/// zero, RFC 1071).
pub fn transport_ok(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8], field: usize) -> bool {
    let Some(found) = segment.get(field..field + 2) else {
        return false;
    };
    let found = u16::from_be_bytes([found[0], found[1]]);
    let computed = transport(src, dst, protocol, segment, field);
    found == computed || matches!((found, computed), (0, 0xffff) | (0xffff, 0))
}

/// Where the transport header of a raw IP packet starts, and which protocol it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportAt {
    pub ipv6: bool,
    /// Byte offset of the transport header (past IPv4 options and IPv6 extension headers).
    pub offset: usize,
    pub protocol: u8,
}

/// The transport header of an IPv4 or IPv6 `packet`; None for a packet too short to say, or an
/// IPv4 fragment other than the first (which has none).
pub fn transport_at(packet: &[u8]) -> Option<TransportAt> {
    match packet.first()? >> 4 {
        4 => {
            let ihl = usize::from(packet[0] & 0x0f) * 4;
            if ihl < 20 || packet.len() < ihl {
                return None;
            }
            if u16::from_be_bytes([packet[6], packet[7]]) & 0x1fff != 0 {
                return None;
            }
            Some(TransportAt {
                ipv6: false,
                offset: ihl,
                protocol: packet[9],
            })
        }
        6 => {
            if packet.len() < 40 {
                return None;
            }
            let mut next = packet[6];
            let mut offset = 40;
            // Hop-by-hop, routing, destination options: skip to the transport header.
            while matches!(next, 0 | 43 | 60) {
                let ext = packet.get(offset..offset + 2)?;
                next = ext[0];
                offset += (usize::from(ext[1]) + 1) * 8;
            }
            Some(TransportAt {
                ipv6: true,
                offset,
                protocol: next,
            })
        }
        _ => None,
    }
}

/// The pseudo-header sum of `packet`'s transport segment at `at.offset` (running to the end of
/// `packet`), with `at.protocol`, unfolded. `packet` must hold the whole IP header.
fn raw_pseudo_header(packet: &[u8], at: &TransportAt) -> u64 {
    let len = packet.len() - at.offset;
    if at.ipv6 {
        pseudo_header(&packet[8..24], &packet[24..40], at.protocol, len)
    } else {
        pseudo_header(&packet[12..16], &packet[16..20], at.protocol, len)
    }
}

/// What a checksum-offloading sender leaves in the checksum field of the transport segment at
/// `at` (Linux's `CHECKSUM_PARTIAL`, as `tcp_v4_send_check` leaves it; what a virtio GSO
/// super-packet must carry): the pseudo-header sum, folded, not complemented.
pub fn partial(packet: &[u8], at: &TransportAt) -> u16 {
    fold(raw_pseudo_header(packet, at))
}

/// Replaces the TCP or UDP checksum of `packet` by the correct one: what a NIC computes for a
/// packet handed to it with checksum offload. Other packets are left alone.
pub fn complete_transport(packet: &mut [u8]) {
    let Some(at) = transport_at(packet) else {
        return;
    };
    let field = match at.protocol {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => return,
    };
    let pos = at.offset + field;
    if packet.len() < pos + 2 {
        return;
    }
    let pseudo = raw_pseudo_header(packet, &at);
    let mut check = segment_checksum(pseudo, &packet[at.offset..], field);
    if check == 0 && at.protocol == PROTO_UDP {
        check = 0xffff;
    }
    packet[pos..pos + 2].copy_from_slice(&check.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{encode, IpRepr, L4Repr, PacketRepr};
    use pnet_packet::ip::IpNextHeaderProtocol;

    /// A SYN from 192.0.2.1:40000 to 192.168.0.1:8080, TCP checksum zero.
    fn syn_v4() -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 168, 0, 1,
        ];
        p.extend_from_slice(&[
            0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        p
    }

    /// Bytes that are not all alike, of any length.
    fn bytes(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8)
            .collect()
    }

    #[test]
    fn completes_a_partial_tcp_checksum() {
        let mut good = syn_v4();
        complete_transport(&mut good);
        let at = transport_at(&good).unwrap();
        assert_eq!((at.ipv6, at.offset, at.protocol), (false, 20, PROTO_TCP));
        // Verifying: the sum over pseudo header and segment, checksum included, is 0xffff.
        let sum = raw_pseudo_header(&good, &at) + sum_words(0, &good[20..]);
        assert_eq!(fold(sum), 0xffff);
        // A CHECKSUM_PARTIAL packet carries the pseudo-header sum; completing gives the same.
        let mut partial_packet = good.clone();
        let pseudo = partial(&partial_packet, &at);
        partial_packet[36..38].copy_from_slice(&pseudo.to_be_bytes());
        complete_transport(&mut partial_packet);
        assert_eq!(partial_packet, good);
    }

    #[test]
    fn finds_the_transport_header_behind_ipv6_extension_headers() {
        let mut p = vec![0u8; 40 + 8 + 20];
        p[0] = 0x60;
        p[6] = 0; // hop-by-hop
        p[40] = 6; // then TCP
        p[41] = 0; // 8 bytes
        let at = transport_at(&p).unwrap();
        assert_eq!((at.ipv6, at.offset, at.protocol), (true, 48, PROTO_TCP));
        // A later IPv4 fragment has no transport header.
        let mut frag = syn_v4();
        frag[7] = 1;
        assert_eq!(transport_at(&frag), None);
    }

    /// The checksums agree with pnet's (what the encoder used before), odd lengths included.
    #[test]
    fn agrees_with_pnet() {
        let (s4, d4) = ("192.0.2.1".parse().unwrap(), "192.168.0.1".parse().unwrap());
        let (s6, d6) = (
            "fd3d:fa7b:d17d::1".parse().unwrap(),
            "fd3d:a0b:17d6::1".parse().unwrap(),
        );
        for len in [8, 9, 20, 21, 57, 1460, 65515] {
            let data = bytes(len, len as u32);
            for (field, proto) in [(16, PROTO_TCP), (6, PROTO_UDP), (2, 58)] {
                if len < field + 2 {
                    continue;
                }
                let p = IpNextHeaderProtocol(proto);
                assert_eq!(
                    transport(IpAddr::V4(s4), IpAddr::V4(d4), proto, &data, field),
                    pnet_packet::util::ipv4_checksum(&data, field / 2, &[], &s4, &d4, p),
                    "IPv4, {len} bytes, protocol {proto}"
                );
                assert_eq!(
                    transport(IpAddr::V6(s6), IpAddr::V6(d6), proto, &data, field),
                    pnet_packet::util::ipv6_checksum(&data, field / 2, &[], &s6, &d6, p),
                    "IPv6, {len} bytes, protocol {proto}"
                );
            }
            assert_eq!(
                checksum(&data, 2),
                pnet_packet::util::checksum(&data, 1),
                "{len} bytes"
            );
        }
        assert_eq!(
            transport(IpAddr::V4(s4), IpAddr::V6(d6), PROTO_TCP, &[0; 20], 16),
            0
        );
    }

    #[test]
    fn completed_checksums_match_the_encoders() {
        for (src, dst) in [
            ("192.0.2.1", "192.168.0.1"),
            ("fd3d:fa7b:d17d::1", "fd3d:a0b:17d6::1"),
        ] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            for (proto, len) in [(PROTO_TCP, 20 + 333), (PROTO_UDP, 8 + 77), (PROTO_UDP, 8)] {
                let header = encode(&PacketRepr {
                    ip: IpRepr::new(src, dst),
                    l4: L4Repr::Other(proto),
                    payload: bytes(len, 7),
                });
                let at = transport_at(&header).unwrap();
                let field = if proto == PROTO_TCP { 16 } else { 6 };
                let mut packet = header.clone();
                complete_transport(&mut packet);
                let mut want = transport(src, dst, proto, &header[at.offset..], field);
                if want == 0 && proto == PROTO_UDP {
                    want = 0xffff;
                }
                let pos = at.offset + field;
                assert_eq!(packet[pos..pos + 2], want.to_be_bytes());
            }
        }
    }
}
