//! The link layer, for wires that carry Ethernet frames instead of tun's bare IP packets (a
//! DPDK port, a veth): framing an IP packet, taking the IP packet out of a frame, and the
//! answers the simulated peer gives to the stack's ARP requests and IPv6 neighbour
//! solicitations, so layer-3 scripts run unchanged. Frames as values; no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{NdpOptionTypes, NeighborSolicitPacket};
use pnet_packet::icmpv6::{Icmpv6Packet, Icmpv6Types};
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::Packet as _;

use super::checksum;

/// A MAC address.
pub type Mac = [u8; 6];

/// The length of an Ethernet header (no VLAN tag).
pub const ETHERNET_HEADER_LEN: usize = 14;

/// The simulated peer's MAC address: locally administered, unicast.
pub const PEER_MAC: Mac = [0x02, 0x00, 0x5d, 0x00, 0x00, 0x01];

/// `packet` (IPv4 or IPv6, by its version nibble) in an Ethernet frame from `src` to `dst`.
pub fn frame(dst: Mac, src: Mac, packet: &[u8]) -> Vec<u8> {
    let ether_type = match packet.first().map(|b| b >> 4) {
        Some(6) => EtherTypes::Ipv6,
        _ => EtherTypes::Ipv4,
    };
    ethernet_frame(dst, src, ether_type, packet)
}

/// The IP packet a frame carries (IPv4 or IPv6), or None for anything else (ARP, LLDP, ...).
pub fn ip_packet(frame: &[u8]) -> Option<&[u8]> {
    let ethernet = EthernetPacket::new(frame)?;
    let ether_type = ethernet.get_ethertype();
    (ether_type == EtherTypes::Ipv4 || ether_type == EtherTypes::Ipv6)
        .then(|| &frame[ETHERNET_HEADER_LEN..])
}

/// Whether a frame is an ARP message.
pub fn is_arp(frame: &[u8]) -> bool {
    EthernetPacket::new(frame).is_some_and(|e| e.get_ethertype() == EtherTypes::Arp)
}

/// The answer the peer (`peer_mac`) gives to a frame the stack sent, if it asks for a
/// neighbour: an ARP reply to an ARP request (Ethernet, IPv4) for any address but `own`, the
/// stack's own (RFC 826: the reply goes to the asker; an unknown hardware or protocol type is
/// ignored); a neighbour advertisement (solicited, override) to a neighbour solicitation for
/// any target but `own` (RFC 4861 §7.2.4). Everything else: None.
pub fn neighbour_answer(frame: &[u8], peer_mac: Mac, own: &[IpAddr]) -> Option<Vec<u8>> {
    let ethernet = EthernetPacket::new(frame)?;
    match ethernet.get_ethertype() {
        EtherTypes::Arp => arp_reply(&ethernet, peer_mac, own),
        EtherTypes::Ipv6 => neighbour_advertisement(&ethernet, peer_mac, own),
        _ => None,
    }
}

fn arp_reply(ethernet: &EthernetPacket, peer_mac: Mac, own: &[IpAddr]) -> Option<Vec<u8>> {
    let arp = ArpPacket::new(ethernet.payload())?;
    let wanted = arp.get_target_proto_addr();
    if arp.get_operation() != ArpOperations::Request
        || arp.get_hardware_type() != ArpHardwareTypes::Ethernet
        || arp.get_protocol_type() != EtherTypes::Ipv4
        || arp.get_hw_addr_len() != 6
        || arp.get_proto_addr_len() != 4
        || own.contains(&IpAddr::V4(wanted))
    {
        return None;
    }
    let asker_mac = arp.get_sender_hw_addr();
    let asker_ip: Ipv4Addr = arp.get_sender_proto_addr();
    let mut body = vec![0u8; 28];
    let mut reply = MutableArpPacket::new(&mut body)?;
    reply.set_hardware_type(ArpHardwareTypes::Ethernet);
    reply.set_protocol_type(EtherTypes::Ipv4);
    reply.set_hw_addr_len(6);
    reply.set_proto_addr_len(4);
    reply.set_operation(ArpOperations::Reply);
    reply.set_sender_hw_addr(peer_mac.into());
    reply.set_sender_proto_addr(wanted);
    reply.set_target_hw_addr(asker_mac);
    reply.set_target_proto_addr(asker_ip);
    Some(ethernet_frame(
        asker_mac.octets(),
        peer_mac,
        EtherTypes::Arp,
        &body,
    ))
}

fn neighbour_advertisement(
    ethernet: &EthernetPacket,
    peer_mac: Mac,
    own: &[IpAddr],
) -> Option<Vec<u8>> {
    let ipv6 = Ipv6Packet::new(ethernet.payload())?;
    if ipv6.get_next_header().0 != super::PROTO_ICMPV6 || ipv6.get_hop_limit() != 255 {
        return None;
    }
    let icmp = Icmpv6Packet::new(ipv6.payload())?;
    if icmp.get_icmpv6_type() != Icmpv6Types::NeighborSolicit {
        return None;
    }
    let solicit = NeighborSolicitPacket::new(ipv6.payload())?;
    let target: Ipv6Addr = solicit.get_target_addr();
    if own.contains(&IpAddr::V6(target)) || target.is_multicast() {
        return None;
    }
    // A solicitation from the unspecified address (DAD) is answered to all nodes, unsolicited.
    let asker = ipv6.get_source();
    let solicited = !asker.is_unspecified();
    let destination = if solicited {
        asker
    } else {
        Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)
    };
    // ICMPv6 type 136, code 0, checksum, flags (router 0x80, solicited 0x40, override 0x20),
    // reserved, target, and the target link-layer address option (type 2, 8 bytes).
    let mut advert = vec![0u8; 32];
    advert[0] = Icmpv6Types::NeighborAdvert.0;
    advert[4] = if solicited { 0x60 } else { 0x20 };
    advert[8..24].copy_from_slice(&target.octets());
    advert[24] = NdpOptionTypes::TargetLLAddr.0;
    advert[25] = 1;
    advert[26..32].copy_from_slice(&peer_mac);
    let sum = checksum::transport(
        IpAddr::V6(target),
        IpAddr::V6(destination),
        super::PROTO_ICMPV6,
        &advert,
        2,
    );
    advert[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut packet = vec![0u8; 40];
    packet[0] = 0x60;
    packet[4..6].copy_from_slice(&(advert.len() as u16).to_be_bytes());
    packet[6] = super::PROTO_ICMPV6;
    packet[7] = 255;
    packet[8..24].copy_from_slice(&target.octets());
    packet[24..40].copy_from_slice(&destination.octets());
    packet.extend_from_slice(&advert);
    let dst_mac = if solicited {
        ethernet.get_source().octets()
    } else {
        [0x33, 0x33, 0, 0, 0, 1]
    };
    Some(frame(dst_mac, peer_mac, &packet))
}

/// `payload` in an Ethernet frame of `ether_type` from `src` to `dst`.
pub fn ethernet_frame(dst: Mac, src: Mac, ether_type: EtherType, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; ETHERNET_HEADER_LEN + payload.len()];
    let mut ethernet = MutableEthernetPacket::new(&mut out).expect("room for the header");
    ethernet.set_destination(dst.into());
    ethernet.set_source(src.into());
    ethernet.set_ethertype(ether_type);
    out[ETHERNET_HEADER_LEN..].copy_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK_MAC: Mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    fn arp_request(sender: Ipv4Addr, target: Ipv4Addr, hardware_type: u16) -> Vec<u8> {
        let mut body = vec![0u8; 28];
        body[0..2].copy_from_slice(&hardware_type.to_be_bytes());
        body[2..4].copy_from_slice(&0x0800u16.to_be_bytes());
        body[4] = 6;
        body[5] = 4;
        body[6..8].copy_from_slice(&1u16.to_be_bytes());
        body[8..14].copy_from_slice(&STACK_MAC);
        body[14..18].copy_from_slice(&sender.octets());
        body[24..28].copy_from_slice(&target.octets());
        ethernet_frame([0xff; 6], STACK_MAC, EtherTypes::Arp, &body)
    }

    #[test]
    fn ip_packets_are_framed_and_unframed() {
        let v4 = [0x45, 0, 0, 20];
        let framed = frame(STACK_MAC, PEER_MAC, &v4);
        assert_eq!(&framed[12..14], &[0x08, 0x00]);
        assert_eq!(ip_packet(&framed), Some(&v4[..]));
        let v6 = [0x60, 0, 0, 0];
        assert_eq!(&frame(STACK_MAC, PEER_MAC, &v6)[12..14], &[0x86, 0xdd]);
        let arp = arp_request([192, 168, 0, 1].into(), [192, 168, 0, 2].into(), 1);
        assert_eq!(ip_packet(&arp), None);
    }

    #[test]
    fn an_arp_request_for_the_peer_is_answered_and_one_for_the_stack_is_not() {
        let stack_ip = Ipv4Addr::new(192, 168, 0, 1);
        let own = [IpAddr::V4(stack_ip)];
        let gateway = Ipv4Addr::new(192, 168, 0, 254);
        let reply =
            neighbour_answer(&arp_request(stack_ip, gateway, 1), PEER_MAC, &own).expect("answered");
        assert_eq!(&reply[..6], &STACK_MAC);
        assert_eq!(&reply[6..12], &PEER_MAC);
        let arp = ArpPacket::new(&reply[14..]).unwrap();
        assert_eq!(arp.get_operation(), ArpOperations::Reply);
        assert_eq!(arp.get_sender_hw_addr().octets(), PEER_MAC);
        assert_eq!(arp.get_sender_proto_addr(), gateway);
        assert_eq!(arp.get_target_proto_addr(), stack_ip);
        assert_eq!(
            neighbour_answer(&arp_request(gateway, stack_ip, 1), PEER_MAC, &own),
            None
        );
        // RFC 826: an unknown hardware type is not answered.
        assert_eq!(
            neighbour_answer(&arp_request(stack_ip, gateway, 6), PEER_MAC, &own),
            None
        );
    }

    #[test]
    fn a_neighbour_solicitation_gets_a_solicited_advertisement() {
        let stack: Ipv6Addr = "fd3d:fa7b:d17d::1".parse().unwrap();
        let gateway: Ipv6Addr = "fd3d:fa7b:d17d:8888::".parse().unwrap();
        let mut solicit = vec![0u8; 32];
        solicit[0] = 135;
        solicit[8..24].copy_from_slice(&gateway.octets());
        solicit[24] = 1;
        solicit[25] = 1;
        solicit[26..32].copy_from_slice(&STACK_MAC);
        let mut packet = vec![0u8; 40];
        packet[0] = 0x60;
        packet[4..6].copy_from_slice(&32u16.to_be_bytes());
        packet[6] = 58;
        packet[7] = 255;
        packet[8..24].copy_from_slice(&stack.octets());
        packet[24..40].copy_from_slice(&"ff02::1:ff00:0".parse::<Ipv6Addr>().unwrap().octets());
        packet.extend_from_slice(&solicit);
        let request = frame([0x33, 0x33, 0xff, 0, 0, 0], STACK_MAC, &packet);
        let own = [IpAddr::V6(stack)];
        let answer = neighbour_answer(&request, PEER_MAC, &own).expect("answered");
        assert_eq!(&answer[..6], &STACK_MAC);
        let ipv6 = Ipv6Packet::new(ip_packet(&answer).unwrap()).unwrap();
        assert_eq!(ipv6.get_source(), gateway);
        assert_eq!(ipv6.get_destination(), stack);
        let advert = ipv6.payload();
        assert_eq!((advert[0], advert[4]), (136, 0x60));
        assert_eq!(&advert[8..24], &gateway.octets());
        assert_eq!(&advert[26..32], &PEER_MAC);
        let sum = checksum::transport(IpAddr::V6(gateway), IpAddr::V6(stack), 58, advert, 2);
        assert_eq!(u16::from_be_bytes([advert[2], advert[3]]), sum);
        // A solicitation for the stack's own address is its own business.
        solicit[8..24].copy_from_slice(&stack.octets());
        packet.truncate(40);
        packet.extend_from_slice(&solicit);
        let own_request = frame([0x33, 0x33, 0xff, 0, 0, 1], STACK_MAC, &packet);
        assert_eq!(neighbour_answer(&own_request, PEER_MAC, &own), None);
    }
}
