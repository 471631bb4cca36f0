//! Inspects every TCP segment crossing the virtual link, in both directions, for the two things
//! smoltcp's API does not offer:
//!
//! - **option policy**: smoltcp always offers SACK-permitted and window scaling, and takes its
//!   MSS from the MTU. The `sack=off`, `wscale=off`, `mss=` knobs and `TCP_MAXSEG` are applied
//!   here by rewriting SYN segments: the option is removed from (or the MSS lowered in) both the
//!   stack's SYNs and the peer's SYNs before smoltcp sees them, so smoltcp negotiates exactly
//!   what appears on the wire.
//! - **observations**: which RSTs arrived (to tell a reset from a timeout when a connection
//!   closes), and per-connection counters and negotiated options for `TCP_INFO`.

use std::collections::HashMap;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::time::Instant;
use smoltcp::wire::{
    IpAddress, IpEndpoint, IpProtocol, Ipv4Packet, Ipv6Packet, TcpControl, TcpPacket, TcpRepr,
    TcpSeqNumber,
};

/// A TCP connection's endpoints, seen from the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpTuple {
    pub local: IpEndpoint,
    pub remote: IpEndpoint,
}

/// The options one side put in its SYN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynOptions {
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamps: bool,
}

/// What the wire showed of one connection.
#[derive(Clone, Debug, Default)]
pub struct WireObservations {
    /// The options of the stack's SYN (as sent, after the policy).
    pub local_syn: Option<SynOptions>,
    /// The options of the peer's SYN (as the peer sent them).
    pub peer_syn: Option<SynOptions>,
    /// The peer's MSS as smoltcp was told (after clamping).
    pub peer_mss_seen_by_stack: Option<u16>,
    pub segs_in: u32,
    pub segs_out: u32,
    pub data_segs_in: u32,
    pub data_segs_out: u32,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub total_retrans: u32,
    pub bytes_received: u64,
    pub bytes_acked: u64,
    /// Highest sequence number the stack has sent (end of segment).
    pub snd_nxt: Option<TcpSeqNumber>,
    /// Highest acknowledgment number the peer has sent.
    pub snd_una: Option<TcpSeqNumber>,
    /// End of the highest byte received from the peer.
    pub rcv_nxt: Option<TcpSeqNumber>,
    /// Raw window field of the last segment in each direction.
    pub peer_window: u16,
    pub local_window: u16,
    pub max_inbound_payload: u32,
    pub last_inbound: Option<Instant>,
    pub last_outbound: Option<Instant>,
}

impl WireObservations {
    /// Bytes sent and not yet acknowledged.
    pub fn bytes_in_flight(&self) -> u32 {
        match (self.snd_nxt, self.snd_una) {
            (Some(nxt), Some(una)) => nxt.0.wrapping_sub(una.0).max(0) as u32,
            _ => 0,
        }
    }

    /// Whether both SYNs carried the option.
    pub fn negotiated(&self, option: fn(&SynOptions) -> bool) -> bool {
        match (self.local_syn, self.peer_syn) {
            (Some(local), Some(peer)) => option(&local) && option(&peer),
            _ => false,
        }
    }
}

/// Which options the stack may negotiate.
#[derive(Clone, Debug, Default)]
pub struct SegmentPolicy {
    pub sack: bool,
    pub window_scaling: bool,
    /// `mss=`: the MSS ceiling of every connection.
    pub default_mss: Option<u16>,
    /// `TCP_MAXSEG`: the MSS ceiling of connections on one local port.
    pub port_mss: HashMap<u16, u16>,
}

impl SegmentPolicy {
    fn mss_ceiling(&self, local_port: u16) -> Option<u16> {
        match (self.port_mss.get(&local_port), self.default_mss) {
            (Some(&port), Some(default)) => Some(port.min(default)),
            (Some(&port), None) => Some(port),
            (None, default) => default,
        }
    }
}

/// The tap itself: policy, plus what it has seen.
#[derive(Debug, Default)]
pub struct WireTap {
    pub policy: SegmentPolicy,
    resets_received: Vec<TcpTuple>,
    connections: HashMap<TcpTuple, WireObservations>,
}

/// A TCP segment found in an IP packet.
struct TcpInIp<'a> {
    src: IpAddress,
    dst: IpAddress,
    ip_header_len: usize,
    tcp: TcpRepr<'a>,
}

fn find_tcp(packet: &[u8]) -> Option<TcpInIp<'_>> {
    let (src, dst, ip_header_len, segment) = match packet.first()? >> 4 {
        4 => {
            let ip = Ipv4Packet::new_checked(packet).ok()?;
            if ip.next_header() != IpProtocol::Tcp || ip.more_frags() || ip.frag_offset() != 0 {
                return None;
            }
            let header_len = usize::from(ip.header_len());
            let total_len = usize::from(ip.total_len());
            (
                IpAddress::Ipv4(ip.src_addr()),
                IpAddress::Ipv4(ip.dst_addr()),
                header_len,
                packet.get(header_len..total_len)?,
            )
        }
        6 => {
            let ip = Ipv6Packet::new_checked(packet).ok()?;
            if ip.next_header() != IpProtocol::Tcp {
                return None;
            }
            let header_len = 40;
            (
                IpAddress::Ipv6(ip.src_addr()),
                IpAddress::Ipv6(ip.dst_addr()),
                header_len,
                packet.get(header_len..ip.total_len())?,
            )
        }
        _ => return None,
    };
    let tcp_packet = TcpPacket::new_checked(segment).ok()?;
    let tcp = TcpRepr::parse(&tcp_packet, &src, &dst, &ChecksumCapabilities::default()).ok()?;
    Some(TcpInIp {
        src,
        dst,
        ip_header_len,
        tcp,
    })
}

/// The same IP packet with its TCP segment replaced by `tcp` (lengths and checksums redone).
fn rebuild(packet: &[u8], found: &TcpInIp<'_>, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let tcp_len = tcp.buffer_len();
    let mut rebuilt = packet[..found.ip_header_len].to_vec();
    rebuilt.resize(found.ip_header_len + tcp_len, 0);
    match found.src {
        IpAddress::Ipv4(_) => {
            let mut ip = Ipv4Packet::new_unchecked(&mut rebuilt[..]);
            ip.set_total_len((found.ip_header_len + tcp_len) as u16);
            ip.fill_checksum();
        }
        IpAddress::Ipv6(_) => {
            Ipv6Packet::new_unchecked(&mut rebuilt[..]).set_payload_len(tcp_len as u16);
        }
    }
    let mut segment = TcpPacket::new_unchecked(&mut rebuilt[found.ip_header_len..]);
    tcp.emit(
        &mut segment,
        &found.src,
        &found.dst,
        &ChecksumCapabilities::default(),
    );
    rebuilt
}

fn syn_options(tcp: &TcpRepr<'_>) -> SynOptions {
    SynOptions {
        mss: tcp.max_seg_size,
        window_scale: tcp.window_scale,
        sack_permitted: tcp.sack_permitted,
        timestamps: tcp.timestamp.is_some(),
    }
}

fn seq_after(a: TcpSeqNumber, b: TcpSeqNumber) -> bool {
    a.0.wrapping_sub(b.0) > 0
}

fn seq_distance(from: TcpSeqNumber, to: TcpSeqNumber) -> u64 {
    to.0.wrapping_sub(from.0).max(0) as u64
}

impl WireTap {
    pub fn new(policy: SegmentPolicy) -> Self {
        WireTap {
            policy,
            ..WireTap::default()
        }
    }

    /// A packet from the peer, before the stack sees it: records it and applies the policy.
    pub fn inbound(&mut self, packet: Vec<u8>, now: Instant) -> Vec<u8> {
        let Some(found) = find_tcp(&packet) else {
            return packet;
        };
        let tuple = TcpTuple {
            local: IpEndpoint::new(found.dst, found.tcp.dst_port),
            remote: IpEndpoint::new(found.src, found.tcp.src_port),
        };
        let tcp = found.tcp;
        if tcp.control == TcpControl::Rst {
            self.resets_received.push(tuple);
        }
        let mut adjusted = tcp;
        if tcp.control == TcpControl::Syn {
            if tcp.ack_number.is_none() {
                self.connections.insert(tuple, WireObservations::default());
            }
            self.apply_policy(&mut adjusted, tuple.local.port);
        }

        let seen = self.connections.entry(tuple).or_default();
        if tcp.control == TcpControl::Syn {
            seen.peer_syn = Some(syn_options(&tcp));
            seen.peer_mss_seen_by_stack = adjusted.max_seg_size;
        }
        seen.segs_in += 1;
        seen.last_inbound = Some(now);
        seen.peer_window = tcp.window_len;
        if !tcp.payload.is_empty() {
            seen.data_segs_in += 1;
            seen.max_inbound_payload = seen.max_inbound_payload.max(tcp.payload.len() as u32);
        }
        let data_start = tcp.seq_number + usize::from(tcp.control == TcpControl::Syn);
        let data_end = data_start + tcp.payload.len();
        match seen.rcv_nxt {
            None => seen.rcv_nxt = Some(data_end),
            Some(rcv_nxt) if seq_after(data_end, rcv_nxt) => {
                seen.bytes_received += seq_distance(rcv_nxt, data_end);
                seen.rcv_nxt = Some(data_end);
            }
            Some(_) => {}
        }
        if let Some(ack) = tcp.ack_number {
            match seen.snd_una {
                Some(una) if seq_after(ack, una) => {
                    seen.bytes_acked += seq_distance(una, ack);
                    seen.snd_una = Some(ack);
                }
                Some(_) => {}
                // The first ACK covers the SYN, which is not data.
                None => seen.snd_una = Some(ack),
            }
        }

        if adjusted == tcp {
            packet
        } else {
            rebuild(&packet, &found, &adjusted)
        }
    }

    /// A packet from the stack, before it leaves: applies the policy and records it.
    pub fn outbound(&mut self, packet: Vec<u8>, now: Instant) -> Vec<u8> {
        let Some(found) = find_tcp(&packet) else {
            return packet;
        };
        let tuple = TcpTuple {
            local: IpEndpoint::new(found.src, found.tcp.src_port),
            remote: IpEndpoint::new(found.dst, found.tcp.dst_port),
        };
        let mut adjusted = found.tcp;
        if adjusted.control == TcpControl::Syn {
            if adjusted.ack_number.is_none() {
                self.connections.insert(tuple, WireObservations::default());
            }
            self.apply_policy(&mut adjusted, tuple.local.port);
        }

        let seen = self.connections.entry(tuple).or_default();
        if adjusted.control == TcpControl::Syn {
            seen.local_syn = Some(syn_options(&adjusted));
        }
        seen.segs_out += 1;
        seen.last_outbound = Some(now);
        seen.local_window = adjusted.window_len;
        let segment_end = adjusted.seq_number + adjusted.segment_len();
        let payload_len = adjusted.payload.len() as u64;
        if payload_len > 0 {
            seen.data_segs_out += 1;
            seen.bytes_sent += payload_len;
        }
        match seen.snd_nxt {
            Some(snd_nxt) if !seq_after(segment_end, snd_nxt) && adjusted.segment_len() > 0 => {
                seen.total_retrans += 1;
                seen.bytes_retrans += payload_len;
            }
            Some(snd_nxt) if !seq_after(segment_end, snd_nxt) => {}
            _ => seen.snd_nxt = Some(segment_end),
        }

        if adjusted == found.tcp {
            packet
        } else {
            rebuild(&packet, &found, &adjusted)
        }
    }

    fn apply_policy(&self, syn: &mut TcpRepr<'_>, local_port: u16) {
        if !self.policy.sack {
            syn.sack_permitted = false;
        }
        if !self.policy.window_scaling {
            syn.window_scale = None;
        }
        if let (Some(mss), Some(ceiling)) = (syn.max_seg_size, self.policy.mss_ceiling(local_port))
        {
            syn.max_seg_size = Some(mss.min(ceiling));
        }
    }

    /// The RSTs that arrived since the last call.
    pub fn take_resets(&mut self) -> Vec<TcpTuple> {
        std::mem::take(&mut self.resets_received)
    }

    pub fn observations(&self, tuple: &TcpTuple) -> Option<&WireObservations> {
        self.connections.get(tuple)
    }

    /// Drops what was recorded of a connection that no longer exists.
    pub fn forget(&mut self, tuple: &TcpTuple) {
        self.connections.remove(tuple);
    }
}

/// A one-line description of an IP packet, for `debug=1`.
pub fn describe_packet(packet: &[u8]) -> String {
    match find_tcp(packet) {
        Some(found) => {
            let segment = &packet[found.ip_header_len..];
            match TcpPacket::new_checked(segment) {
                Ok(tcp) => format!("{} > {} {}", found.src, found.dst, tcp),
                Err(_) => format!("{} > {} malformed TCP", found.src, found.dst),
            }
        }
        None => format!("{} bytes (not TCP)", packet.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smoltcp::wire::{IpRepr, Ipv4Address, Ipv4Repr};

    fn syn_packet(sack: bool, wscale: Option<u8>, mss: Option<u16>) -> Vec<u8> {
        let tcp = TcpRepr {
            src_port: 5000,
            dst_port: 8080,
            control: TcpControl::Syn,
            seq_number: TcpSeqNumber(1),
            ack_number: None,
            window_len: 65535,
            window_scale: wscale,
            max_seg_size: mss,
            sack_permitted: sack,
            sack_ranges: [None, None, None],
            timestamp: None,
            payload: &[],
        };
        let ip = IpRepr::Ipv4(Ipv4Repr {
            src_addr: Ipv4Address::new(192, 0, 2, 1),
            dst_addr: Ipv4Address::new(192, 168, 0, 1),
            next_header: IpProtocol::Tcp,
            payload_len: tcp.buffer_len(),
            hop_limit: 64,
        });
        let mut bytes = vec![0u8; ip.buffer_len()];
        ip.emit(&mut bytes[..], &ChecksumCapabilities::default());
        let mut segment = TcpPacket::new_unchecked(&mut bytes[20..]);
        tcp.emit(
            &mut segment,
            &ip.src_addr(),
            &ip.dst_addr(),
            &ChecksumCapabilities::default(),
        );
        bytes
    }

    #[test]
    fn policy_strips_options_and_clamps_mss_in_inbound_syn() {
        let mut tap = WireTap::new(SegmentPolicy {
            sack: false,
            window_scaling: false,
            default_mss: Some(1000),
            port_mss: HashMap::new(),
        });
        let rewritten = tap.inbound(syn_packet(true, Some(7), Some(1460)), Instant::ZERO);
        let found = find_tcp(&rewritten).expect("still a valid TCP packet");
        assert!(!found.tcp.sack_permitted);
        assert_eq!(found.tcp.window_scale, None);
        assert_eq!(found.tcp.max_seg_size, Some(1000));
        assert!(Ipv4Packet::new_checked(&rewritten[..])
            .unwrap()
            .verify_checksum());
        let tuple = TcpTuple {
            local: IpEndpoint::new(found.dst, 8080),
            remote: IpEndpoint::new(found.src, 5000),
        };
        let seen = tap.observations(&tuple).unwrap();
        assert_eq!(seen.peer_syn.unwrap().mss, Some(1460));
        assert_eq!(seen.peer_mss_seen_by_stack, Some(1000));
    }

    #[test]
    fn default_policy_leaves_packets_untouched() {
        let mut tap = WireTap::new(SegmentPolicy {
            sack: true,
            window_scaling: true,
            ..SegmentPolicy::default()
        });
        let original = syn_packet(true, Some(7), Some(1460));
        assert_eq!(tap.inbound(original.clone(), Instant::ZERO), original);
    }
}
