//! Layer-2 statements (`docs/layer2.md`): an `arp` or `ndp` line as the Ethernet frame it
//! injects (every field the script leaves out takes its default), which frames the stack sent
//! an outbound line waits for (its own kind: ARP, or the neighbour discovery message it names),
//! and the comparison of such a frame with the line, field by field, naming the first field
//! that differs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::script::ast::{
    AddressValue, ArpFrame, LinkBody, LinkFrame, LinkOption, MacValue, NdpFrame, NdpKind,
};
use crate::verdict::PacketMismatch;
use crate::wire::checksum;
use crate::wire::link::{ethernet_frame, Mac, ETHERNET_HEADER_LEN};

const ETHERTYPE_ARP: u16 = 0x0806;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_ICMPV6: u8 = 58;
const ICMPV6_NS: u8 = 135;
const ICMPV6_NA: u8 = 136;
/// NDP option types (RFC 4861 §4.6.1).
const OPTION_SOURCE_LL: u8 = 1;
const OPTION_TARGET_LL: u8 = 2;
const IPV6_HEADER_LEN: usize = 40;
const BROADCAST: Mac = [0xff; 6];

/// The names a layer-2 line may use, resolved for this run.
#[derive(Debug, Clone, Copy)]
pub struct LinkNames {
    pub stack_mac: Mac,
    pub peer_mac: Mac,
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub gateway_ip: IpAddr,
}

impl LinkNames {
    fn mac(&self, value: MacValue) -> Mac {
        match value {
            MacValue::Literal(mac) => mac,
            MacValue::Stack => self.stack_mac,
            MacValue::Peer => self.peer_mac,
            MacValue::Broadcast => BROADCAST,
        }
    }

    fn address(&self, value: AddressValue) -> IpAddr {
        match value {
            AddressValue::Literal(ip) => ip,
            AddressValue::Local => self.local_ip,
            AddressValue::Remote => self.remote_ip,
            AddressValue::Gateway => self.gateway_ip,
        }
    }

    fn ipv4(&self, value: AddressValue, field: &str) -> Result<Ipv4Addr, String> {
        match self.address(value) {
            IpAddr::V4(ip) => Ok(ip),
            ip => Err(format!(
                "arp {field} is {ip}, an IPv6 address: ARP carries IPv4 addresses (an IPv6 run \
                 uses ndp)"
            )),
        }
    }

    fn ipv6(&self, value: AddressValue, field: &str) -> Result<Ipv6Addr, String> {
        match self.address(value) {
            IpAddr::V6(ip) => Ok(ip),
            ip => Err(format!(
                "ndp {field} is {ip}, an IPv4 address: neighbour discovery is IPv6's \
                 (--ip_version=ipv6)"
            )),
        }
    }
}

/// A MAC as the scripts write it.
pub fn mac_text(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

// ---------------------------------------------------------------------------------------------
// Inbound

/// The frame an inbound layer-2 line injects.
pub fn build_inbound(frame: &LinkFrame, names: &LinkNames) -> Result<Vec<u8>, String> {
    match &frame.body {
        LinkBody::Arp(arp) => build_arp(frame, arp, names),
        LinkBody::Ndp(ndp) => build_ndp(frame, ndp, names),
    }
}

fn build_arp(frame: &LinkFrame, arp: &ArpFrame, names: &LinkNames) -> Result<Vec<u8>, String> {
    let request = arp.op == 1;
    let sha = arp.sha.map_or(names.peer_mac, |m| names.mac(m));
    let spa = names.ipv4(arp.spa.unwrap_or(AddressValue::Gateway), "spa")?;
    let tha = match arp.tha {
        Some(mac) => names.mac(mac),
        None if request => [0; 6],
        None => names.stack_mac,
    };
    let tpa = names.ipv4(arp.tpa.unwrap_or(AddressValue::Local), "tpa")?;
    let mut body = Vec::with_capacity(28);
    body.extend_from_slice(&arp.htype.unwrap_or(1).to_be_bytes());
    body.extend_from_slice(&arp.ptype.unwrap_or(ETHERTYPE_IPV4).to_be_bytes());
    body.push(arp.hlen.unwrap_or(6));
    body.push(arp.plen.unwrap_or(4));
    body.extend_from_slice(&arp.op.to_be_bytes());
    body.extend_from_slice(&sha);
    body.extend_from_slice(&spa.octets());
    body.extend_from_slice(&tha);
    body.extend_from_slice(&tpa.octets());
    let eth_dst = match frame.eth_dst {
        Some(mac) => names.mac(mac),
        None if request => BROADCAST,
        None => names.stack_mac,
    };
    let eth_src = frame.eth_src.map_or(sha, |m| names.mac(m));
    Ok(ethernet_frame(
        eth_dst,
        eth_src,
        pnet_packet::ethernet::EtherType(ETHERTYPE_ARP),
        &body,
    ))
}

fn build_ndp(frame: &LinkFrame, ndp: &NdpFrame, names: &LinkNames) -> Result<Vec<u8>, String> {
    let solicitation = ndp.kind == NdpKind::Solicitation;
    let target = names.ipv6(
        ndp.target.unwrap_or(if solicitation {
            AddressValue::Local
        } else {
            AddressValue::Gateway
        }),
        "tgt",
    )?;
    let src = match ndp.src {
        Some(src) => names.ipv6(src, "src")?,
        None if solicitation => names.ipv6(AddressValue::Gateway, "src")?,
        None => target,
    };
    let dst = match ndp.dst {
        Some(dst) => names.ipv6(dst, "dst")?,
        None if solicitation => solicited_node(target),
        None => names.ipv6(AddressValue::Local, "dst")?,
    };
    // RFC 4861 §4.3: no source link-layer address from the unspecified address.
    let source_ll = ndp
        .source_link_address
        .unwrap_or(if solicitation && !src.is_unspecified() {
            LinkOption::Mac(MacValue::Peer)
        } else {
            LinkOption::Absent
        });
    let target_ll = ndp.target_link_address.unwrap_or(if solicitation {
        LinkOption::Absent
    } else {
        LinkOption::Mac(MacValue::Peer)
    });
    let mut icmp = vec![if solicitation { ICMPV6_NS } else { ICMPV6_NA }, 0, 0, 0];
    icmp.push(ndp.flags.unwrap_or(if solicitation { 0 } else { 0x60 }));
    icmp.extend_from_slice(&[0, 0, 0]);
    icmp.extend_from_slice(&target.octets());
    for (kind, option) in [(OPTION_SOURCE_LL, source_ll), (OPTION_TARGET_LL, target_ll)] {
        if let LinkOption::Mac(mac) = option {
            icmp.extend_from_slice(&[kind, 1]);
            icmp.extend_from_slice(&names.mac(mac));
        }
    }
    let sum = checksum::transport(IpAddr::V6(src), IpAddr::V6(dst), PROTO_ICMPV6, &icmp, 2);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    packet.push(PROTO_ICMPV6);
    packet.push(ndp.hop_limit.unwrap_or(255));
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(&icmp);
    let eth_dst = match frame.eth_dst {
        Some(mac) => names.mac(mac),
        None if dst.is_multicast() => multicast_mac(dst),
        None => names.stack_mac,
    };
    let eth_src = frame.eth_src.map_or(names.peer_mac, |m| names.mac(m));
    Ok(ethernet_frame(
        eth_dst,
        eth_src,
        pnet_packet::ethernet::EtherType(ETHERTYPE_IPV6),
        &packet,
    ))
}

/// The solicited-node multicast address of `target` (RFC 4291 §2.7.1).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    let mut octets = [0u8; 16];
    octets[..2].copy_from_slice(&[0xff, 0x02]);
    octets[11..].copy_from_slice(&[0x01, 0xff, t[13], t[14], t[15]]);
    Ipv6Addr::from(octets)
}

/// The Ethernet address of an IPv6 multicast group (RFC 2464 §7).
fn multicast_mac(group: Ipv6Addr) -> Mac {
    let g = group.octets();
    [0x33, 0x33, g[12], g[13], g[14], g[15]]
}

// ---------------------------------------------------------------------------------------------
// Outbound

/// A frame the stack sent, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFrame {
    pub eth_dst: Mac,
    pub eth_src: Mac,
    pub body: LiveBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveBody {
    Arp(LiveArp),
    Ndp(LiveNdp),
}

/// An ARP message, read in the Ethernet/IPv4 layout whatever its length fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveArp {
    pub htype: u16,
    pub ptype: u16,
    pub hlen: u8,
    pub plen: u8,
    pub op: u16,
    pub sha: Mac,
    pub spa: Ipv4Addr,
    pub tha: Mac,
    pub tpa: Ipv4Addr,
}

/// A neighbour solicitation or advertisement with its IPv6 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveNdp {
    pub icmp_type: u8,
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    pub target: Ipv6Addr,
    /// R, S and O bits (0xe0) of an advertisement.
    pub flags: u8,
    pub source_ll: Option<Mac>,
    pub target_ll: Option<Mac>,
    pub checksum_ok: bool,
}

/// A frame from the link queue taken apart: ARP or a neighbour solicitation or advertisement;
/// None for anything else (a router solicitation, a short frame).
pub fn decode(frame: &[u8]) -> Option<LiveFrame> {
    let eth_dst: Mac = frame.get(..6)?.try_into().ok()?;
    let eth_src: Mac = frame.get(6..12)?.try_into().ok()?;
    let ether_type = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let payload = &frame[ETHERNET_HEADER_LEN..];
    let body = match ether_type {
        ETHERTYPE_ARP => LiveBody::Arp(decode_arp(payload.get(..28)?)),
        ETHERTYPE_IPV6 => LiveBody::Ndp(decode_ndp(payload)?),
        _ => return None,
    };
    Some(LiveFrame {
        eth_dst,
        eth_src,
        body,
    })
}

fn decode_arp(b: &[u8]) -> LiveArp {
    let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    let mac_at = |i: usize| -> Mac { b[i..i + 6].try_into().expect("six bytes") };
    let ip_at = |i: usize| Ipv4Addr::new(b[i], b[i + 1], b[i + 2], b[i + 3]);
    LiveArp {
        htype: u16_at(0),
        ptype: u16_at(2),
        hlen: b[4],
        plen: b[5],
        op: u16_at(6),
        sha: mac_at(8),
        spa: ip_at(14),
        tha: mac_at(18),
        tpa: ip_at(24),
    }
}

fn decode_ndp(packet: &[u8]) -> Option<LiveNdp> {
    let header = packet.get(..IPV6_HEADER_LEN)?;
    if header[0] >> 4 != 6 || header[6] != PROTO_ICMPV6 {
        return None;
    }
    let length = usize::from(u16::from_be_bytes([header[4], header[5]]));
    let icmp = packet.get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + length)?;
    if icmp.len() < 24 || !matches!(icmp[0], ICMPV6_NS | ICMPV6_NA) {
        return None;
    }
    let address = |b: &[u8]| Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes"));
    let (src, dst) = (address(&header[8..24]), address(&header[24..40]));
    let sum = checksum::transport(IpAddr::V6(src), IpAddr::V6(dst), PROTO_ICMPV6, icmp, 2);
    let (mut source_ll, mut target_ll) = (None, None);
    let mut options = &icmp[24..];
    while options.len() >= 8 {
        let len = usize::from(options[1]) * 8;
        if len == 0 || len > options.len() {
            break;
        }
        let mac: Mac = options[2..8].try_into().expect("six bytes");
        match options[0] {
            OPTION_SOURCE_LL => source_ll = Some(mac),
            OPTION_TARGET_LL => target_ll = Some(mac),
            _ => {}
        }
        options = &options[len..];
    }
    Some(LiveNdp {
        icmp_type: icmp[0],
        src,
        dst,
        hop_limit: header[7],
        target: address(&icmp[8..24]),
        flags: icmp[4] & 0xe0,
        source_ll,
        target_ll,
        checksum_ok: u16::from_be_bytes([icmp[2], icmp[3]]) == sum,
    })
}

/// Whether a frame the stack sent is of the kind an outbound line waits for (any ARP message
/// for `arp`, the message `ndp ns` or `ndp na` names); other frames pass it by.
pub fn is_awaited(frame: &LinkFrame, live: &LiveFrame) -> bool {
    match (&frame.body, &live.body) {
        (LinkBody::Arp(_), LiveBody::Arp(_)) => true,
        (LinkBody::Ndp(ndp), LiveBody::Ndp(live)) => {
            live.icmp_type
                == match ndp.kind {
                    NdpKind::Solicitation => ICMPV6_NS,
                    NdpKind::Advertisement => ICMPV6_NA,
                }
        }
        _ => false,
    }
}

fn number(name: &str, expected: Option<u64>, actual: u64) -> Result<(), PacketMismatch> {
    match expected {
        Some(expected) if expected != actual => Err(PacketMismatch::Field {
            name: name.to_string(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

fn text<T: PartialEq + std::fmt::Display>(
    name: &str,
    expected: Option<T>,
    actual: T,
) -> Result<(), PacketMismatch> {
    match expected {
        Some(expected) if expected != actual => Err(PacketMismatch::FieldText {
            name: name.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Compares a frame the stack sent (of the awaited kind) with the outbound line: the first
/// field that differs, Ethernet header first.
pub fn verify(
    frame: &LinkFrame,
    live: &LiveFrame,
    names: &LinkNames,
) -> Result<(), PacketMismatch> {
    let address = |value: Option<AddressValue>| value.map(|v| names.address(v));
    let mac = |name: &str, expected: Option<MacValue>, actual: Mac| {
        text(
            name,
            expected.map(|m| mac_text(&names.mac(m))),
            mac_text(&actual),
        )
    };
    let option = |name: &str, expected: Option<LinkOption>, actual: Option<Mac>| {
        let shown = |mac: Option<Mac>| mac.map_or("none".to_string(), |m| mac_text(&m));
        let expected = expected.map(|o| match o {
            LinkOption::Mac(m) => Some(names.mac(m)),
            LinkOption::Absent => None,
        });
        text(name, expected.map(shown), shown(actual))
    };
    mac("eth_dst", frame.eth_dst, live.eth_dst)?;
    mac("eth_src", frame.eth_src, live.eth_src)?;
    match (&frame.body, &live.body) {
        (LinkBody::Arp(arp), LiveBody::Arp(live)) => {
            number("arp_htype", arp.htype.map(u64::from), u64::from(live.htype))?;
            number("arp_ptype", arp.ptype.map(u64::from), u64::from(live.ptype))?;
            number("arp_hlen", arp.hlen.map(u64::from), u64::from(live.hlen))?;
            number("arp_plen", arp.plen.map(u64::from), u64::from(live.plen))?;
            number("arp_op", Some(u64::from(arp.op)), u64::from(live.op))?;
            mac("arp_sha", arp.sha, live.sha)?;
            text("arp_spa", address(arp.spa), IpAddr::V4(live.spa))?;
            mac("arp_tha", arp.tha, live.tha)?;
            text("arp_tpa", address(arp.tpa), IpAddr::V4(live.tpa))
        }
        (LinkBody::Ndp(ndp), LiveBody::Ndp(live)) => {
            text("ipv6_src", address(ndp.src), IpAddr::V6(live.src))?;
            text("ipv6_dst", address(ndp.dst), IpAddr::V6(live.dst))?;
            let hop_limit = u64::from(live.hop_limit);
            number("ipv6_hop_limit", ndp.hop_limit.map(u64::from), hop_limit)?;
            if !live.checksum_ok {
                return Err("live packet field icmpv6_checksum: bad checksum".into());
            }
            text("ndp_target", address(ndp.target), IpAddr::V6(live.target))?;
            text(
                "ndp_flags",
                ndp.flags.map(flags_text),
                flags_text(live.flags),
            )?;
            option("ndp_sll", ndp.source_link_address, live.source_ll)?;
            option("ndp_tll", ndp.target_link_address, live.target_ll)
        }
        _ => Err("live frame is of another kind".into()),
    }
}

/// NA flags as the scripts write them: `R,S,O` (in that order), or `none`.
fn flags_text(flags: u8) -> String {
    let names: Vec<&str> = [(0x80, "R"), (0x40, "S"), (0x20, "O")]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(",")
    }
}

/// A frame the stack sent, in the scripts' words (for failures and --verbose).
pub fn describe_live(live: &LiveFrame) -> String {
    let ethernet = format!(
        "eth_src {} eth_dst {}",
        mac_text(&live.eth_src),
        mac_text(&live.eth_dst)
    );
    match &live.body {
        LiveBody::Arp(arp) => {
            let operation = match arp.op {
                1 => "request".to_string(),
                2 => "reply".to_string(),
                n => format!("request op {n}"),
            };
            format!(
                "arp {operation} sha {} spa {} tha {} tpa {} htype {} ptype {:#06x} hlen {} plen {} \
                 {ethernet}",
                mac_text(&arp.sha),
                arp.spa,
                mac_text(&arp.tha),
                arp.tpa,
                arp.htype,
                arp.ptype,
                arp.hlen,
                arp.plen,
            )
        }
        LiveBody::Ndp(ndp) => {
            let solicitation = ndp.icmp_type == ICMPV6_NS;
            let mut text = format!(
                "ndp {} src {} dst {} hlim {} tgt {}",
                if solicitation { "ns" } else { "na" },
                ndp.src,
                ndp.dst,
                ndp.hop_limit,
                ndp.target
            );
            if !solicitation {
                text += &format!(" flags {}", flags_text(ndp.flags));
            }
            for (name, option) in [("sll", ndp.source_ll), ("tll", ndp.target_ll)] {
                if let Some(mac) = option {
                    text += &format!(" {name} {}", mac_text(&mac));
                }
            }
            format!("{text} {ethernet}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ast::{Direction, Span};

    const STACK: Mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const PEER: Mac = [0x02, 0, 0x5d, 0, 0, 1];

    fn names(v6: bool) -> LinkNames {
        let (local, remote, gateway): (IpAddr, IpAddr, IpAddr) = if v6 {
            (
                "fd3d::2".parse().unwrap(),
                "2001:db8::1".parse().unwrap(),
                "fd3d::1".parse().unwrap(),
            )
        } else {
            (
                [192, 168, 0, 2].into(),
                [192, 0, 2, 1].into(),
                [192, 168, 0, 1].into(),
            )
        };
        LinkNames {
            stack_mac: STACK,
            peer_mac: PEER,
            local_ip: local,
            remote_ip: remote,
            gateway_ip: gateway,
        }
    }

    fn arp(direction: Direction, op: u16) -> (LinkFrame, ArpFrame) {
        let body = ArpFrame::new(op);
        (with_body(LinkBody::Arp(body.clone()), direction), body)
    }

    fn ndp(kind: NdpKind) -> NdpFrame {
        NdpFrame::new(kind)
    }

    fn with_body(body: LinkBody, direction: Direction) -> LinkFrame {
        LinkFrame {
            direction,
            eth_src: None,
            eth_dst: None,
            body,
            span: Span::default(),
        }
    }

    #[test]
    fn an_inbound_arp_request_takes_its_defaults_and_reads_back() {
        let (frame, _) = arp(Direction::Inbound, 1);
        let bytes = build_inbound(&frame, &names(false)).unwrap();
        assert_eq!(bytes.len(), 42);
        let live = decode(&bytes).unwrap();
        assert_eq!(
            live,
            LiveFrame {
                eth_dst: BROADCAST,
                eth_src: PEER,
                body: LiveBody::Arp(LiveArp {
                    htype: 1,
                    ptype: 0x0800,
                    hlen: 6,
                    plen: 4,
                    op: 1,
                    sha: PEER,
                    spa: Ipv4Addr::new(192, 168, 0, 1),
                    tha: [0; 6],
                    tpa: Ipv4Addr::new(192, 168, 0, 2),
                }),
            }
        );
        assert_eq!(
            describe_live(&live),
            "arp request sha 02:00:5d:00:00:01 spa 192.168.0.1 tha 00:00:00:00:00:00 tpa \
             192.168.0.2 htype 1 ptype 0x0800 hlen 6 plen 4 eth_src 02:00:5d:00:00:01 eth_dst \
             ff:ff:ff:ff:ff:ff"
        );
    }

    #[test]
    fn an_outbound_arp_line_names_the_first_field_that_differs() {
        let (_, mut body) = arp(Direction::Inbound, 2);
        body.sha = Some(MacValue::Stack);
        body.spa = Some(AddressValue::Local);
        body.tha = Some(MacValue::Peer);
        body.tpa = Some(AddressValue::Gateway);
        // The stack's answer to the peer's request.
        let live = LiveFrame {
            eth_dst: PEER,
            eth_src: STACK,
            body: LiveBody::Arp(LiveArp {
                htype: 1,
                ptype: 0x0800,
                hlen: 6,
                plen: 4,
                op: 2,
                sha: STACK,
                spa: Ipv4Addr::new(192, 168, 0, 2),
                tha: PEER,
                tpa: Ipv4Addr::new(192, 168, 0, 1),
            }),
        };
        let expected = with_body(LinkBody::Arp(body.clone()), Direction::Outbound);
        assert_eq!(verify(&expected, &live, &names(false)), Ok(()));
        body.spa = Some(AddressValue::Literal([192, 168, 0, 9].into()));
        let wrong = with_body(LinkBody::Arp(body.clone()), Direction::Outbound);
        assert_eq!(
            verify(&wrong, &live, &names(false))
                .unwrap_err()
                .to_string(),
            "live packet field arp_spa: expected: 192.168.0.9 vs actual: 192.168.0.2"
        );
        body.op = 1;
        let request = with_body(LinkBody::Arp(body), Direction::Outbound);
        assert_eq!(
            verify(&request, &live, &names(false))
                .unwrap_err()
                .to_string(),
            "live packet field arp_op: expected: 1 (0x1) vs actual: 2 (0x2)"
        );
        assert!(is_awaited(&request, &live));
    }

    #[test]
    fn an_inbound_solicitation_goes_to_the_solicited_node_group_with_its_source_address() {
        let frame = with_body(
            LinkBody::Ndp(ndp(NdpKind::Solicitation)),
            Direction::Inbound,
        );
        let bytes = build_inbound(&frame, &names(true)).unwrap();
        let live = decode(&bytes).unwrap();
        let eth_dst = live.eth_dst;
        let LiveBody::Ndp(LiveNdp {
            dst,
            hop_limit,
            target,
            source_ll,
            target_ll,
            checksum_ok,
            ..
        }) = live.body
        else {
            panic!("not NDP")
        };
        assert_eq!(dst, "ff02::1:ff00:2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(eth_dst, [0x33, 0x33, 0xff, 0, 0, 2]);
        assert_eq!((hop_limit, checksum_ok), (255, true));
        assert_eq!(target, "fd3d::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!((source_ll, target_ll), (Some(PEER), None));
        // From the unspecified address (DAD): no source link-layer address option.
        let mut dad = ndp(NdpKind::Solicitation);
        dad.src = Some(AddressValue::Literal(Ipv6Addr::UNSPECIFIED.into()));
        let frame = with_body(LinkBody::Ndp(dad), Direction::Inbound);
        let live = decode(&build_inbound(&frame, &names(true)).unwrap()).unwrap();
        assert!(matches!(
            live.body,
            LiveBody::Ndp(LiveNdp {
                source_ll: None,
                ..
            })
        ));
    }

    #[test]
    fn an_advertisement_is_checked_for_flags_and_options() {
        let frame = with_body(
            LinkBody::Ndp(ndp(NdpKind::Advertisement)),
            Direction::Inbound,
        );
        let live = decode(&build_inbound(&frame, &names(true)).unwrap()).unwrap();
        let mut expected = ndp(NdpKind::Advertisement);
        expected.flags = Some(0x60);
        expected.target_link_address = Some(LinkOption::Mac(MacValue::Peer));
        expected.source_link_address = Some(LinkOption::Absent);
        let outbound = with_body(LinkBody::Ndp(expected.clone()), Direction::Outbound);
        assert_eq!(verify(&outbound, &live, &names(true)), Ok(()));
        assert!(is_awaited(&outbound, &live));
        let solicitation = with_body(
            LinkBody::Ndp(ndp(NdpKind::Solicitation)),
            Direction::Outbound,
        );
        assert!(!is_awaited(&solicitation, &live));
        expected.flags = Some(0xe0);
        let outbound = with_body(LinkBody::Ndp(expected.clone()), Direction::Outbound);
        assert_eq!(
            verify(&outbound, &live, &names(true))
                .unwrap_err()
                .to_string(),
            "live packet field ndp_flags: expected: R,S,O vs actual: S,O"
        );
        expected.flags = None;
        expected.target_link_address = Some(LinkOption::Absent);
        let outbound = with_body(LinkBody::Ndp(expected), Direction::Outbound);
        assert_eq!(
            verify(&outbound, &live, &names(true))
                .unwrap_err()
                .to_string(),
            "live packet field ndp_tll: expected: none vs actual: 02:00:5d:00:00:01"
        );
    }

    #[test]
    fn an_ipv6_address_in_an_arp_line_is_refused() {
        let (frame, _) = arp(Direction::Inbound, 1);
        let refused = build_inbound(&frame, &names(true)).unwrap_err();
        assert!(
            refused.starts_with("arp spa is fd3d::1, an IPv6 address"),
            "{refused}"
        );
    }
}
