//! The simulated peer's end of an Ethernet link to the stack under test, as values: the IP
//! packets it injects go out framed from the peer's MAC to the stack's (refused above the
//! MTU), and each frame the stack sends is an IP packet for the script, a neighbour query the
//! peer answers (ARP, NDP, for every address but the stack's own, unless the script turned
//! the answers off), a link-layer frame for the script's layer-2 statements (ARP, neighbour
//! discovery), or nothing it knows. Link-layer frames wait in a queue here until a statement
//! asks. No I/O: the port's owner sends and receives.

use std::collections::VecDeque;
use std::net::IpAddr;

use crate::wire::link::{self, Mac, PEER_MAC};

/// What a frame from the stack is to the peer.
#[derive(Debug, PartialEq, Eq)]
pub enum FromStack<'a> {
    /// An IP packet for the script.
    Packet(&'a [u8]),
    /// A neighbour query, and the peer's answer to send back.
    Answered(Vec<u8>),
    /// A link-layer frame (ARP, neighbour discovery) for the layer-2 statements: keep it with
    /// [`LinkPeer::keep_link_frame`].
    Link(&'a [u8]),
    /// Anything else (a query for the stack's own address, another protocol): dropped.
    Ignored,
}

/// Link-layer frames kept for the script at most; older ones go first (a script that never
/// asks for them must not fill the memory).
const LINK_QUEUE_LIMIT: usize = 1024;

/// The peer's side of one link.
#[derive(Debug, Clone)]
pub struct LinkPeer {
    /// The stack's MAC, which the peer's frames go to.
    pub stack_mac: Mac,
    /// The stack's own addresses, which the peer does not answer for.
    pub stack_addresses: Vec<IpAddr>,
    /// The largest IP packet a frame may carry.
    pub mtu: usize,
    /// Whether the peer answers neighbour queries itself (`--neighbour_answers`).
    pub answers: bool,
    /// Link-layer frames from the stack not yet taken by a layer-2 statement, with their
    /// capture times.
    pub link_frames: VecDeque<(Vec<u8>, i64)>,
}

impl LinkPeer {
    /// The peer of a link to a stack with `stack_mac` and `stack_addresses`, answering
    /// neighbour queries.
    pub fn new(stack_mac: Mac, stack_addresses: Vec<IpAddr>, mtu: usize) -> Self {
        LinkPeer {
            stack_mac,
            stack_addresses,
            mtu,
            answers: true,
            link_frames: VecDeque::new(),
        }
    }

    /// Keeps a link-layer frame the stack sent (captured at `captured_usecs`) for the script.
    pub fn keep_link_frame(&mut self, frame: &[u8], captured_usecs: i64) {
        if self.link_frames.len() == LINK_QUEUE_LIMIT {
            self.link_frames.pop_front();
        }
        self.link_frames.push_back((frame.to_vec(), captured_usecs));
    }

    /// The oldest link-layer frame kept, if any.
    pub fn next_link_frame(&mut self) -> Option<(Vec<u8>, i64)> {
        self.link_frames.pop_front()
    }

    /// `packet` in a frame to the stack; Err says why a packet above the MTU cannot go.
    pub fn frame_to_stack(&self, packet: &[u8]) -> Result<Vec<u8>, String> {
        if packet.len() > self.mtu {
            return Err(format!(
                "a {}-byte packet is larger than the MTU ({}): a frame carries one packet",
                packet.len(),
                self.mtu
            ));
        }
        Ok(link::frame(self.stack_mac, PEER_MAC, packet))
    }

    /// What the frame the stack sent is (neighbour queries first: an IPv6 neighbour
    /// solicitation is an IP packet too, but the script never sees it).
    pub fn from_stack<'a>(&self, frame: &'a [u8]) -> FromStack<'a> {
        if self.answers {
            if let Some(answer) = link::neighbour_answer(frame, PEER_MAC, &self.stack_addresses) {
                return FromStack::Answered(answer);
            }
        }
        if link::is_arp(frame) {
            return FromStack::Link(frame);
        }
        match link::ip_packet(frame) {
            Some(packet) if is_neighbour_discovery(packet) => FromStack::Link(frame),
            Some(packet) => FromStack::Packet(packet),
            None => FromStack::Ignored,
        }
    }
}

/// Whether an IP packet is IPv6 neighbour discovery (ICMPv6 types 133 to 137, hop limit 255):
/// the link's business, not the script's.
fn is_neighbour_discovery(packet: &[u8]) -> bool {
    const FIXED_HEADER: usize = 40;
    packet.first().map(|b| b >> 4) == Some(6)
        && packet.len() > FIXED_HEADER
        && packet[6] == crate::wire::PROTO_ICMPV6
        && packet[7] == 255
        && (133..=137).contains(&packet[FIXED_HEADER])
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK_MAC: Mac = [0x02, 0, 0x5d, 0, 0, 0x02];

    fn peer() -> LinkPeer {
        LinkPeer::new(STACK_MAC, vec!["192.168.0.1".parse().unwrap()], 1500)
    }

    #[test]
    fn a_packet_within_the_mtu_is_framed_and_a_bigger_one_refused() {
        let packet = vec![0x45; 1500];
        let frame = peer().frame_to_stack(&packet).unwrap();
        assert_eq!(&frame[..6], &STACK_MAC);
        assert_eq!(&frame[6..12], &PEER_MAC);
        let refused = peer().frame_to_stack(&[0x45; 1501]).unwrap_err();
        assert!(refused.starts_with("a 1501-byte packet is larger than the MTU (1500)"));
    }

    #[test]
    fn the_stacks_ip_packets_reach_the_script_and_other_frames_do_not() {
        let packet = [0x45, 0, 0, 20];
        let frame = link::frame(PEER_MAC, STACK_MAC, &packet);
        assert_eq!(peer().from_stack(&frame), FromStack::Packet(&packet[..]));
        let mut lldp = frame.clone();
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(peer().from_stack(&lldp), FromStack::Ignored);
        // A router solicitation: neighbour discovery the peer does not answer, and that IP
        // statements never see; layer-2 statements do.
        let mut solicitation = vec![0u8; 48];
        solicitation[0] = 0x60;
        solicitation[6] = crate::wire::PROTO_ICMPV6;
        solicitation[7] = 255;
        solicitation[40] = 133;
        let frame = link::frame(PEER_MAC, STACK_MAC, &solicitation);
        assert_eq!(peer().from_stack(&frame), FromStack::Link(&frame[..]));
    }

    #[test]
    fn with_answers_off_an_arp_request_is_the_scripts_and_kept_in_order() {
        let mut body = vec![0u8; 28];
        body[..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        body[8..14].copy_from_slice(&STACK_MAC);
        body[14..18].copy_from_slice(&[192, 168, 0, 1]);
        body[24..28].copy_from_slice(&[192, 168, 0, 254]);
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&STACK_MAC);
        request.extend_from_slice(&[0x08, 0x06]);
        request.extend_from_slice(&body);
        let mut peer = peer();
        assert!(matches!(peer.from_stack(&request), FromStack::Answered(_)));
        peer.answers = false;
        assert_eq!(peer.from_stack(&request), FromStack::Link(&request[..]));
        peer.keep_link_frame(&request, 7);
        peer.keep_link_frame(&request[..20], 8);
        assert_eq!(peer.next_link_frame(), Some((request.clone(), 7)));
        assert_eq!(peer.next_link_frame().map(|f| f.1), Some(8));
        assert_eq!(peer.next_link_frame(), None);
    }
}
