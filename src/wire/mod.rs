//! Packets on the wire as values: IPv4/IPv6 with TCP, UDP or ICMP, encoded to bytes (lengths
//! and checksums filled in) and decoded from bytes. No knowledge of scripts or connections:
//! the executor maps script packets to these values and back. Checksums: `checksum.rs`.

pub mod checksum;
pub mod link;
pub mod link_peer;
pub mod mptcp;
pub mod tcp_md5;

use std::net::IpAddr;

use pnet_packet::icmp::IcmpPacket;
use pnet_packet::icmpv6::Icmpv6Packet;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::{Ipv4Packet, MutableIpv4Packet};
use pnet_packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet_packet::tcp::{MutableTcpPacket, TcpPacket};
use pnet_packet::udp::{MutableUdpPacket, UdpPacket};
use pnet_packet::Packet as _;

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_UDPLITE: u8 = 136;
/// IPv6 destination options extension header.
pub const PROTO_IPV6_DSTOPTS: u8 = 60;

/// TCP flag bits as in the header's 9-bit flags field (AE is the lowest reserved bit).
pub mod tcp_flags {
    pub const FIN: u16 = 0x001;
    pub const SYN: u16 = 0x002;
    pub const RST: u16 = 0x004;
    pub const PSH: u16 = 0x008;
    pub const ACK: u16 = 0x010;
    pub const URG: u16 = 0x020;
    pub const ECE: u16 = 0x040;
    pub const CWR: u16 = 0x080;
    pub const AE: u16 = 0x100;
}

/// The IP header fields stackdrill sets or checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRepr {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TOS byte or IPv6 traffic class (DSCP and ECN bits).
    pub tos: u8,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv6 only.
    pub flow_label: u32,
    /// IPv4 only.
    pub id: u16,
    /// IPv4: the option bytes after the fixed header (at most 40; encoded padded with zeros
    /// to a multiple of 4). IPv6: the options of a destination options header put before the
    /// transport header (encoded only; padded with Pad1/PadN to a multiple of 8).
    pub options: Vec<u8>,
    /// Decoded only: IPv4 header length in bytes (with options), 40 for IPv6.
    pub header_len: usize,
    /// Decoded only: IPv4 total length or IPv6 payload length as on the wire.
    pub length_field: usize,
    /// Decoded only: whether the IPv4 header checksum is right.
    pub checksum_ok: bool,
}

impl IpRepr {
    pub fn new(src: IpAddr, dst: IpAddr) -> Self {
        IpRepr {
            src,
            dst,
            tos: 0,
            ttl: 255,
            flow_label: 0,
            id: 0,
            options: Vec::new(),
            header_len: 0,
            length_field: 0,
            checksum_ok: true,
        }
    }

    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// [`tcp_flags`] bits.
    pub flags: u16,
    pub window: u16,
    pub urgent: u16,
    /// Raw option bytes (a multiple of 4 when encoded).
    pub options: Vec<u8>,
    /// Decoded only: the header's data offset in bytes.
    pub header_len: usize,
    /// Decoded only: the reserved bits other than AE.
    pub reserved: u8,
    /// Decoded: whether the checksum is right. Encoded: false writes a wrong checksum (the
    /// right one with its lowest bit flipped, never its one's-complement twin), for scripts
    /// that check that a stack drops such a segment (`bad_csum`).
    pub checksum_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Decoded only: the UDP length field.
    pub length_field: usize,
}

/// A UDP-Lite header (RFC 3828): the length field of UDP carries the checksum coverage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpLiteRepr {
    pub src_port: u16,
    pub dst_port: u16,
    /// Bytes of the datagram (header included) the checksum covers; 0 is all of it.
    pub coverage: u16,
    /// Encoding: whether to write the right checksum. Decoding: whether it was right.
    pub checksum_ok: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpRepr {
    pub icmp_type: u8,
    pub code: u8,
    /// The 4 bytes after the checksum (id/sequence, unused + MTU, …).
    pub rest_of_header: [u8; 4],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L4Repr {
    Tcp(TcpRepr),
    Udp(UdpRepr),
    UdpLite(UdpLiteRepr),
    Icmp(IcmpRepr),
    /// Any other protocol, with its number.
    Other(u8),
}

/// A whole packet: IP header, transport header, payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketRepr {
    pub ip: IpRepr,
    pub l4: L4Repr,
    pub payload: Vec<u8>,
}

impl PacketRepr {
    pub fn tcp(&self) -> Option<&TcpRepr> {
        match &self.l4 {
            L4Repr::Tcp(t) => Some(t),
            _ => None,
        }
    }

    pub fn protocol(&self) -> u8 {
        match &self.l4 {
            L4Repr::Tcp(_) => PROTO_TCP,
            L4Repr::Udp(_) => PROTO_UDP,
            L4Repr::UdpLite(_) => PROTO_UDPLITE,
            L4Repr::Icmp(_) if self.ip.is_ipv6() => PROTO_ICMPV6,
            L4Repr::Icmp(_) => PROTO_ICMP,
            L4Repr::Other(p) => *p,
        }
    }
}

/// Bytes of the packet, with IP lengths and all checksums computed.
pub fn encode(packet: &PacketRepr) -> Vec<u8> {
    let l4 = encode_l4(packet);
    let ip = &packet.ip;
    match (ip.src, ip.dst) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            let options = padded_ipv4_options(&ip.options);
            let header_len = 20 + options.len();
            let mut buf = vec![0u8; header_len + l4.len()];
            buf[20..header_len].copy_from_slice(&options);
            let mut h = MutableIpv4Packet::new(&mut buf).expect("buffer sized for the header");
            h.set_version(4);
            h.set_header_length((header_len / 4) as u8);
            h.set_dscp(ip.tos >> 2);
            h.set_ecn(ip.tos & 3);
            h.set_total_length((header_len + l4.len()) as u16);
            h.set_identification(ip.id);
            h.set_ttl(ip.ttl);
            h.set_next_level_protocol(pnet_packet::ip::IpNextHeaderProtocol(packet.protocol()));
            h.set_source(src);
            h.set_destination(dst);
            h.set_payload(&l4);
            h.set_checksum(checksum::checksum(&h.packet()[..header_len], 10));
            buf
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => {
            let mut payload = Vec::new();
            let mut next_header = packet.protocol();
            if !ip.options.is_empty() {
                payload = destination_options_header(next_header, &ip.options);
                next_header = PROTO_IPV6_DSTOPTS;
            }
            payload.extend_from_slice(&l4);
            let l4 = payload;
            let mut buf = vec![0u8; 40 + l4.len()];
            let mut h = MutableIpv6Packet::new(&mut buf).expect("buffer sized for the header");
            h.set_version(6);
            h.set_traffic_class(ip.tos);
            h.set_flow_label(ip.flow_label & 0xF_FFFF);
            h.set_payload_length(l4.len() as u16);
            h.set_next_header(pnet_packet::ip::IpNextHeaderProtocol(next_header));
            h.set_hop_limit(ip.ttl);
            h.set_source(src);
            h.set_destination(dst);
            h.set_payload(&l4);
            buf
        }
        _ => panic!("mixed IPv4/IPv6 addresses in one packet"),
    }
}

/// IPv4 option bytes padded with zeros (end of option list) to a whole number of 32-bit words.
pub fn padded_ipv4_options(options: &[u8]) -> Vec<u8> {
    let mut padded = options.to_vec();
    padded.resize(options.len().next_multiple_of(4), 0);
    padded
}

/// An IPv6 destination options header (RFC 8200 4.6) carrying `options`, padded to a multiple
/// of 8 bytes with one Pad1 or PadN option, followed by `next_header`.
fn destination_options_header(next_header: u8, options: &[u8]) -> Vec<u8> {
    let mut header = vec![next_header, 0];
    header.extend_from_slice(options);
    match header.len().next_multiple_of(8) - header.len() {
        0 => {}
        1 => header.push(0),
        pad => {
            header.extend_from_slice(&[1, (pad - 2) as u8]);
            header.resize(header.len() + pad - 2, 0);
        }
    }
    header[1] = (header.len() / 8 - 1) as u8;
    header
}

/// The transport header and payload, checksummed against the IP pseudo-header.
fn encode_l4(packet: &PacketRepr) -> Vec<u8> {
    let ip = &packet.ip;
    match &packet.l4 {
        L4Repr::Tcp(t) => {
            let header_len = 20 + t.options.len();
            let mut buf = vec![0u8; header_len + packet.payload.len()];
            {
                let mut h = MutableTcpPacket::new(&mut buf).expect("buffer sized for the header");
                h.set_source(t.src_port);
                h.set_destination(t.dst_port);
                h.set_sequence(t.seq);
                h.set_acknowledgement(t.ack);
                h.set_data_offset((header_len / 4) as u8);
                h.set_reserved(((t.flags >> 8) & 1) as u8);
                h.set_flags(t.flags as u8);
                h.set_window(t.window);
                h.set_urgent_ptr(t.urgent);
            }
            buf[20..header_len].copy_from_slice(&t.options);
            buf[header_len..].copy_from_slice(&packet.payload);
            let mut sum = checksum::transport(ip.src, ip.dst, PROTO_TCP, &buf, 16);
            if !t.checksum_ok {
                sum ^= 1;
            }
            buf[16..18].copy_from_slice(&sum.to_be_bytes());
            buf
        }
        L4Repr::Udp(u) => {
            let mut buf = vec![0u8; 8 + packet.payload.len()];
            {
                let mut h = MutableUdpPacket::new(&mut buf).expect("buffer sized for the header");
                h.set_source(u.src_port);
                h.set_destination(u.dst_port);
                h.set_length((8 + packet.payload.len()) as u16);
            }
            buf[8..].copy_from_slice(&packet.payload);
            let mut sum = checksum::transport(ip.src, ip.dst, PROTO_UDP, &buf, 6);
            if sum == 0 {
                sum = 0xffff;
            }
            buf[6..8].copy_from_slice(&sum.to_be_bytes());
            buf
        }
        L4Repr::UdpLite(u) => {
            let mut buf = vec![0u8; 8 + packet.payload.len()];
            buf[0..2].copy_from_slice(&u.src_port.to_be_bytes());
            buf[2..4].copy_from_slice(&u.dst_port.to_be_bytes());
            buf[4..6].copy_from_slice(&u.coverage.to_be_bytes());
            buf[8..].copy_from_slice(&packet.payload);
            let mut sum = checksum::udplite(ip.src, ip.dst, &buf);
            if sum == 0 {
                sum = 0xffff;
            }
            if !u.checksum_ok {
                sum ^= 1;
            }
            buf[6..8].copy_from_slice(&sum.to_be_bytes());
            buf
        }
        L4Repr::Icmp(i) => {
            let mut buf = vec![0u8; 8 + packet.payload.len()];
            buf[0] = i.icmp_type;
            buf[1] = i.code;
            buf[4..8].copy_from_slice(&i.rest_of_header);
            buf[8..].copy_from_slice(&packet.payload);
            let sum = if ip.is_ipv6() {
                checksum::transport(ip.src, ip.dst, PROTO_ICMPV6, &buf, 2)
            } else {
                checksum::checksum(&buf, 2)
            };
            buf[2..4].copy_from_slice(&sum.to_be_bytes());
            buf
        }
        L4Repr::Other(_) => packet.payload.clone(),
    }
}

/// Why bytes are not a packet we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

/// Reads an IPv4 or IPv6 packet (no link-layer header).
pub fn decode(bytes: &[u8]) -> Result<PacketRepr, DecodeError> {
    let err = |m: &str| DecodeError(m.to_string());
    let version = bytes.first().ok_or_else(|| err("empty packet"))? >> 4;
    let (ip, protocol, l4_bytes) = match version {
        4 => {
            let h = Ipv4Packet::new(bytes).ok_or_else(|| err("IPv4 header overflows packet"))?;
            let header_len = usize::from(h.get_header_length()) * 4;
            let total = usize::from(h.get_total_length());
            if header_len < 20 || total < header_len || total > bytes.len() {
                return Err(err("IPv4 header or total length overflows packet"));
            }
            if h.get_fragment_offset() != 0 || h.get_flags() & 1 != 0 {
                return Err(err("fragmented IPv4 packets are not supported"));
            }
            let checksum_ok = checksum::checksum(&bytes[..header_len], 10) == h.get_checksum();
            let ip = IpRepr {
                src: IpAddr::V4(h.get_source()),
                dst: IpAddr::V4(h.get_destination()),
                tos: (h.get_dscp() << 2) | h.get_ecn(),
                ttl: h.get_ttl(),
                flow_label: 0,
                id: h.get_identification(),
                options: bytes[20..header_len].to_vec(),
                header_len,
                length_field: total,
                checksum_ok,
            };
            (ip, h.get_next_level_protocol().0, &bytes[header_len..total])
        }
        6 => {
            let h = Ipv6Packet::new(bytes).ok_or_else(|| err("IPv6 header overflows packet"))?;
            let payload_len = usize::from(h.get_payload_length());
            if 40 + payload_len > bytes.len() {
                return Err(err("IPv6 payload length overflows packet"));
            }
            let ip = IpRepr {
                src: IpAddr::V6(h.get_source()),
                dst: IpAddr::V6(h.get_destination()),
                tos: h.get_traffic_class(),
                ttl: h.get_hop_limit(),
                flow_label: h.get_flow_label(),
                id: 0,
                options: Vec::new(),
                header_len: 40,
                length_field: payload_len,
                checksum_ok: true,
            };
            (ip, h.get_next_header().0, &bytes[40..40 + payload_len])
        }
        v => return Err(DecodeError(format!("unknown IP version {v}"))),
    };
    let (l4, payload) = match protocol {
        p if p == IpNextHeaderProtocols::Tcp.0 => {
            let h = TcpPacket::new(l4_bytes).ok_or_else(|| err("TCP header overflows packet"))?;
            let header_len = usize::from(h.get_data_offset()) * 4;
            if header_len < 20 || header_len > l4_bytes.len() {
                return Err(err("TCP data offset overflows packet"));
            }
            let tcp = TcpRepr {
                src_port: h.get_source(),
                dst_port: h.get_destination(),
                seq: h.get_sequence(),
                ack: h.get_acknowledgement(),
                flags: u16::from(h.get_flags()) | (u16::from(h.get_reserved() & 1) << 8),
                window: h.get_window(),
                urgent: h.get_urgent_ptr(),
                options: l4_bytes[20..header_len].to_vec(),
                header_len,
                reserved: h.get_reserved() >> 1,
                checksum_ok: checksum::transport_ok(ip.src, ip.dst, PROTO_TCP, l4_bytes, 16),
            };
            (L4Repr::Tcp(tcp), l4_bytes[header_len..].to_vec())
        }
        p if p == IpNextHeaderProtocols::Udp.0 => {
            let h = UdpPacket::new(l4_bytes).ok_or_else(|| err("UDP header overflows packet"))?;
            let udp = UdpRepr {
                src_port: h.get_source(),
                dst_port: h.get_destination(),
                length_field: usize::from(h.get_length()),
            };
            (L4Repr::Udp(udp), h.payload().to_vec())
        }
        PROTO_UDPLITE => {
            if l4_bytes.len() < 8 {
                return Err(err("UDP-Lite header overflows packet"));
            }
            let word = |at: usize| u16::from_be_bytes([l4_bytes[at], l4_bytes[at + 1]]);
            let found = word(6);
            let computed = checksum::udplite(ip.src, ip.dst, l4_bytes);
            let udplite = UdpLiteRepr {
                src_port: word(0),
                dst_port: word(2),
                coverage: word(4),
                checksum_ok: found == computed || (found == 0xffff && computed == 0),
            };
            (L4Repr::UdpLite(udplite), l4_bytes[8..].to_vec())
        }
        p if p == IpNextHeaderProtocols::Icmp.0 || p == IpNextHeaderProtocols::Icmpv6.0 => {
            let (icmp_type, code) = if p == IpNextHeaderProtocols::Icmp.0 {
                let h =
                    IcmpPacket::new(l4_bytes).ok_or_else(|| err("ICMP header overflows packet"))?;
                (h.get_icmp_type().0, h.get_icmp_code().0)
            } else {
                let h = Icmpv6Packet::new(l4_bytes)
                    .ok_or_else(|| err("ICMPv6 header overflows packet"))?;
                (h.get_icmpv6_type().0, h.get_icmpv6_code().0)
            };
            if l4_bytes.len() < 8 {
                return Err(err("ICMP header overflows packet"));
            }
            let mut rest_of_header = [0u8; 4];
            rest_of_header.copy_from_slice(&l4_bytes[4..8]);
            (
                L4Repr::Icmp(IcmpRepr {
                    icmp_type,
                    code,
                    rest_of_header,
                }),
                l4_bytes[8..].to_vec(),
            )
        }
        other => (L4Repr::Other(other), l4_bytes.to_vec()),
    };
    Ok(PacketRepr { ip, l4, payload })
}

/// One TCP option as kind and data (without the kind and length bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTcpOption {
    pub kind: u8,
    pub data: Vec<u8>,
}

/// Splits raw TCP option bytes into options; `Err` when a length runs past the end.
pub fn split_tcp_options(bytes: &[u8]) -> Result<Vec<RawTcpOption>, DecodeError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let kind = bytes[i];
        if kind == 0 || kind == 1 {
            out.push(RawTcpOption {
                kind,
                data: Vec::new(),
            });
            i += 1;
            continue;
        }
        let len = *bytes
            .get(i + 1)
            .ok_or_else(|| DecodeError(format!("TCP option (kind={kind}) has no length")))?
            as usize;
        if len < 2 || i + len > bytes.len() {
            return Err(DecodeError(format!(
                "TCP option (kind={kind}) length {len} overflows the options"
            )));
        }
        out.push(RawTcpOption {
            kind,
            data: bytes[i + 2..i + len].to_vec(),
        });
        i += len;
    }
    Ok(out)
}

/// Raw bytes of a list of options (kind, length, data; NOP and EOL as one byte).
pub fn join_tcp_options(options: &[RawTcpOption]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in options {
        out.push(o.kind);
        if o.kind > 1 {
            out.push((o.data.len() + 2) as u8);
            out.extend_from_slice(&o.data);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syn(src: &str, dst: &str) -> PacketRepr {
        PacketRepr {
            ip: IpRepr::new(src.parse().unwrap(), dst.parse().unwrap()),
            l4: L4Repr::Tcp(TcpRepr {
                src_port: 40000,
                dst_port: 8080,
                seq: 0x01020304,
                ack: 0,
                flags: tcp_flags::SYN | tcp_flags::ECE | tcp_flags::CWR | tcp_flags::AE,
                window: 32792,
                urgent: 0,
                options: vec![2, 4, 0x05, 0xb4],
                header_len: 0,
                reserved: 0,
                checksum_ok: true,
            }),
            payload: vec![0; 10],
        }
    }

    #[test]
    fn tcp_round_trips_with_valid_checksums_v4_and_v6() {
        for (src, dst) in [
            ("192.0.2.1", "192.168.0.1"),
            ("fd3d:fa7b:d17d::1", "fd3d:a0b:17d6::1"),
        ] {
            let p = syn(src, dst);
            let bytes = encode(&p);
            let back = decode(&bytes).unwrap();
            assert!(back.ip.checksum_ok);
            assert_eq!(back.tcp().unwrap().flags, p.tcp().unwrap().flags);
            assert_eq!(back.tcp().unwrap().options, vec![2, 4, 0x05, 0xb4]);
            assert_eq!(back.tcp().unwrap().header_len, 24);
            assert_eq!(back.payload.len(), 10);
            // A correct TCP checksum sums (with the pseudo-header) to zero.
            let l4 = &bytes[back.ip.header_len..];
            assert_eq!(
                checksum::transport(back.ip.src, back.ip.dst, PROTO_TCP, l4, 16),
                u16::from_be_bytes([l4[16], l4[17]])
            );
        }
    }

    #[test]
    fn icmp_and_udp_round_trip() {
        let mut p = syn("192.0.2.1", "192.168.0.1");
        p.l4 = L4Repr::Icmp(IcmpRepr {
            icmp_type: 3,
            code: 4,
            rest_of_header: [0, 0, 5, 0xdc],
        });
        let back = decode(&encode(&p)).unwrap();
        assert_eq!(back.l4, p.l4);
        p.l4 = L4Repr::Udp(UdpRepr {
            src_port: 1,
            dst_port: 2,
            length_field: 0,
        });
        let back = decode(&encode(&p)).unwrap();
        assert!(matches!(
            back.l4,
            L4Repr::Udp(UdpRepr {
                length_field: 18,
                ..
            })
        ));
    }

    /// A UDP-Lite datagram of 20 payload bytes whose checksum covers `coverage` bytes.
    fn udplite(src: &str, dst: &str, coverage: u16) -> PacketRepr {
        let mut p = syn(src, dst);
        p.payload = vec![0; 20];
        p.l4 = L4Repr::UdpLite(UdpLiteRepr {
            src_port: 1,
            dst_port: 2,
            coverage,
            checksum_ok: true,
        });
        p
    }

    #[test]
    fn udplite_checksum_covers_only_the_coverage() {
        for (src, dst) in [("192.0.2.1", "192.168.0.1"), ("fd3d::1", "fd3d::2")] {
            let p = udplite(src, dst, 12);
            let mut bytes = encode(&p);
            let back = decode(&bytes).unwrap();
            assert_eq!(back.l4, p.l4);
            assert_eq!(back.protocol(), PROTO_UDPLITE);
            assert_eq!(back.payload.len(), 20);
            // A byte past the coverage may change; one inside may not.
            let l4_start = back.ip.header_len;
            *bytes.last_mut().unwrap() ^= 0xff;
            let changed = decode(&bytes).unwrap();
            assert!(matches!(changed.l4, L4Repr::UdpLite(u) if u.checksum_ok));
            bytes[l4_start + 9] ^= 0xff;
            let broken = decode(&bytes).unwrap();
            assert!(matches!(broken.l4, L4Repr::UdpLite(u) if !u.checksum_ok));
        }
        // Coverage 0 is the whole datagram.
        let mut bytes = encode(&udplite("192.0.2.1", "192.168.0.1", 0));
        *bytes.last_mut().unwrap() ^= 0xff;
        assert!(matches!(decode(&bytes).unwrap().l4, L4Repr::UdpLite(u) if !u.checksum_ok));
    }

    #[test]
    fn options_split_and_join() {
        let raw = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 4, 2];
        let opts = split_tcp_options(&raw).unwrap();
        assert_eq!(opts.len(), 4);
        assert_eq!(join_tcp_options(&opts), raw);
        assert!(split_tcp_options(&[8, 10, 0]).is_err());
    }

    #[test]
    fn ipv4_options_and_a_wrong_tcp_checksum_round_trip() {
        let mut p = syn("192.0.2.1", "192.168.0.1");
        p.ip.options = vec![0x9e, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0];
        if let L4Repr::Tcp(t) = &mut p.l4 {
            t.checksum_ok = false;
        }
        let bytes = encode(&p);
        assert_eq!(bytes[0], 0x48, "IHL counts the options");
        let back = decode(&bytes).unwrap();
        assert!(back.ip.checksum_ok, "the IPv4 checksum covers the options");
        assert_eq!(back.ip.header_len, 32);
        assert_eq!(back.ip.options, p.ip.options);
        assert!(!back.tcp().unwrap().checksum_ok);
        // The wrong checksum is one bit off the right one, never its 0x0000/0xffff twin.
        let l4 = &bytes[32..];
        let right = checksum::transport(back.ip.src, back.ip.dst, PROTO_TCP, l4, 16);
        assert_eq!(u16::from_be_bytes([l4[16], l4[17]]), right ^ 1);
        assert!(
            decode(&encode(&syn("192.0.2.1", "192.168.0.1")))
                .unwrap()
                .tcp()
                .unwrap()
                .checksum_ok
        );
    }

    #[test]
    fn ipv6_options_go_into_a_padded_destination_options_header() {
        let mut p = syn("fd3d:fa7b:d17d::1", "fd3d:a0b:17d6::1");
        for (options, header) in [
            // 2 + 4 bytes: PadN of 2 (no data) fills the 8.
            (
                vec![0x1e, 2, 0xaa, 0xbb],
                vec![6, 0, 0x1e, 2, 0xaa, 0xbb, 1, 0],
            ),
            // 2 + 5 bytes: one Pad1.
            (vec![0x1e, 3, 1, 2, 3], vec![6, 0, 0x1e, 3, 1, 2, 3, 0]),
            // 2 + 6 bytes: no padding.
            (vec![0x1e, 4, 1, 2, 3, 4], vec![6, 0, 0x1e, 4, 1, 2, 3, 4]),
            // 2 + 7 bytes: PadN of 7 (5 zeros) to 16, header length 1.
            (
                vec![0x1e, 5, 1, 2, 3, 4, 5],
                vec![6, 1, 0x1e, 5, 1, 2, 3, 4, 5, 1, 5, 0, 0, 0, 0, 0],
            ),
        ] {
            p.ip.options = options;
            let bytes = encode(&p);
            assert_eq!(bytes[6], PROTO_IPV6_DSTOPTS, "next header");
            assert_eq!(bytes[40..40 + header.len()], header[..]);
            let at = checksum::transport_at(&bytes).unwrap();
            assert_eq!((at.offset, at.protocol), (40 + header.len(), PROTO_TCP));
            let tcp = &bytes[at.offset..];
            assert_eq!(
                usize::from(u16::from_be_bytes([bytes[4], bytes[5]])),
                header.len() + tcp.len()
            );
            assert!(checksum::transport_ok(
                p.ip.src, p.ip.dst, PROTO_TCP, tcp, 16
            ));
        }
    }

    #[test]
    fn ipv4_options_are_padded_to_whole_words() {
        let mut p = syn("192.0.2.1", "192.168.0.1");
        p.ip.options = vec![7, 3, 4];
        let back = decode(&encode(&p)).unwrap();
        assert_eq!(back.ip.options, [7, 3, 4, 0]);
        assert_eq!(back.ip.header_len, 24);
    }

    #[test]
    fn either_zero_is_a_right_checksum() {
        let p = syn("192.0.2.1", "192.168.0.1");
        let mut bytes = encode(&p);
        let l4 = &mut bytes[20..];
        let right = u16::from_be_bytes([l4[16], l4[17]]);
        let (src, dst) = (p.ip.src, p.ip.dst);
        assert!(checksum::transport_ok(src, dst, PROTO_TCP, l4, 16));
        // Make the computed checksum 0 by adjusting a payload word, then write 0xffff instead.
        let word = u16::from_be_bytes([l4[30], l4[31]]);
        let adjusted = {
            // Adding `right` to a word the checksum covers lowers the complement to zero.
            let sum = u32::from(word) + u32::from(right);
            ((sum & 0xffff) + (sum >> 16)) as u16
        };
        l4[30..32].copy_from_slice(&adjusted.to_be_bytes());
        assert_eq!(checksum::transport(src, dst, PROTO_TCP, l4, 16), 0);
        l4[16..18].copy_from_slice(&[0xff, 0xff]);
        assert!(checksum::transport_ok(src, dst, PROTO_TCP, l4, 16));
        l4[16..18].copy_from_slice(&[0xff, 0xfe]);
        assert!(!checksum::transport_ok(src, dst, PROTO_TCP, l4, 16));
    }

    #[test]
    fn truncated_packets_are_errors_not_panics() {
        let bytes = encode(&syn("192.0.2.1", "192.168.0.1"));
        for cut in 0..bytes.len() {
            let _ = decode(&bytes[..cut]);
        }
    }
}
