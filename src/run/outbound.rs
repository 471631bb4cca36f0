//! Checking a packet the stack sent against the script's `>` line: learn what the first SYN
//! and timestamps teach, map the live packet into script space, compare field by field in
//! packetdrill's order, and say which field differs (`live packet field tcp_ack_seq: …`).

use crate::script::ast::{
    Ecn, IpInfo, Packet, PacketBody, TcpOption, TcpOptions, TcpPacket, TcpSequence,
};
use crate::verdict::PacketMismatch;
use crate::wire::{split_tcp_options, tcp_flags, L4Repr, PacketRepr, RawTcpOption, TcpRepr};

use super::packets::{
    describe_option, describe_tcp, ecn_bits, encode_options, flag_bits, icmp_numbers,
};
use super::sockets::TrackedSocket;

/// Run settings the comparison needs.
pub struct OutboundRules {
    pub ipv6: bool,
    /// `--tcp_ts_tick_usecs` (0: TS val not checked).
    pub ts_tick_usecs: u32,
    /// `--strict_ts_ecr`: TS ecr compared (packetdrill never compares it).
    pub strict_ts_ecr: bool,
    /// The tolerance for TS val checks: max(tolerance_usecs, percent × event time).
    pub ts_tolerance_usecs: i64,
}

/// Payload bytes the script packet carries.
pub fn script_payload_len(packet: &Packet) -> usize {
    match &packet.body {
        PacketBody::Tcp(t) => usize::from(t.sequence.payload_len()),
        PacketBody::Udp(u) => usize::from(u.payload_len),
        PacketBody::UdpLite(u) => usize::from(u.payload_len),
        PacketBody::Icmp(_) | PacketBody::Sctp(_) => 0,
    }
}

fn field(name: &str, expected: u64, actual: u64) -> Result<(), PacketMismatch> {
    if expected == actual {
        Ok(())
    } else {
        Err(PacketMismatch::Field {
            name: name.to_string(),
            expected,
            actual,
        })
    }
}

/// Learns from a live packet what the script leaves open (ISNs, TS pairs), then compares.
pub fn verify(
    script: &Packet,
    live: &PacketRepr,
    socket: &mut TrackedSocket,
    rules: &OutboundRules,
) -> Result<(), PacketMismatch> {
    if !live.ip.checksum_ok {
        return Err("bad outbound IP checksum".into());
    }
    // Unlike packetdrill (which leaves TCP checksums to offload unchecked), stackdrill sees
    // every checksum complete (the tun wire finishes offloaded ones as a NIC would), so a
    // wrong one is the stack's (RFC 9293 MUST-2).
    if matches!(&live.l4, L4Repr::Tcp(t) if !t.checksum_ok) {
        return Err("bad outbound TCP checksum".into());
    }
    if !script.encapsulations.is_empty() {
        return Err(
            "encapsulated packets (ipv4/ipv6/gre/mpls prefixes) are not supported yet".into(),
        );
    }
    let expected_protocol = match &script.body {
        PacketBody::Tcp(_) => crate::wire::PROTO_TCP,
        PacketBody::Udp(_) => crate::wire::PROTO_UDP,
        PacketBody::UdpLite(_) => 136,
        PacketBody::Sctp(_) => 132,
        PacketBody::Icmp(_) if rules.ipv6 => crate::wire::PROTO_ICMPV6,
        PacketBody::Icmp(_) => crate::wire::PROTO_ICMP,
    };
    let version = if rules.ipv6 { "ipv6" } else { "ipv4" };
    let protocol_field = if rules.ipv6 {
        "ipv6_next_header"
    } else {
        "ipv4_protocol"
    };
    field(
        protocol_field,
        u64::from(expected_protocol),
        u64::from(live.protocol()),
    )?;

    if let (PacketBody::Tcp(tcp), L4Repr::Tcp(live_tcp)) = (&script.body, &live.l4) {
        learn(tcp, live_tcp, socket);
    }

    // IP header.
    let l4_header_len = match (&script.body, &live.l4) {
        (PacketBody::Tcp(tcp), L4Repr::Tcp(live_tcp)) => match &tcp.options {
            TcpOptions::Ignored(_) => live_tcp.header_len,
            TcpOptions::List(list) => {
                20 + script_options_len(&list.iter().map(|o| o.value.clone()).collect::<Vec<_>>())
            }
            TcpOptions::None => 20,
        },
        _ => 8,
    };
    let icmp_extra = match &script.body {
        PacketBody::Icmp(_) => live.payload.len(),
        _ => 0,
    };
    let expected_l4_len = l4_header_len + script_payload_len(script) + icmp_extra;
    if rules.ipv6 {
        field(
            "ipv6_payload_len",
            expected_l4_len as u64,
            live.ip.length_field as u64,
        )?;
    } else {
        field(
            "ipv4_total_length",
            (live.ip.header_len + expected_l4_len) as u64,
            live.ip.length_field as u64,
        )?;
    }
    check_ip_info(&script.ip, live, version, socket)?;

    match (&script.body, &live.l4) {
        (PacketBody::Tcp(tcp), L4Repr::Tcp(live_tcp)) => verify_tcp(tcp, live_tcp, socket, rules)?,
        (PacketBody::Udp(udp), L4Repr::Udp(live_udp)) => {
            field(
                "udp_len",
                8 + u64::from(udp.payload_len),
                live_udp.length_field as u64,
            )?;
        }
        (PacketBody::UdpLite(udplite), L4Repr::UdpLite(live_udplite)) => {
            if !live_udplite.checksum_ok {
                return Err("bad outbound UDP-Lite checksum".into());
            }
            // Coverage 0 and coverage = the datagram's length both mean "all of it" (RFC 3828
            // §3.1): FreeBSD writes 0, Linux the length.
            let whole = 8 + u64::from(udplite.payload_len);
            let full = |c: u64| if c == whole { 0 } else { c };
            field(
                "udplite_checksum_coverage",
                full(u64::from(udplite.checksum_coverage)),
                full(u64::from(live_udplite.coverage)),
            )?;
        }
        (PacketBody::Icmp(icmp), L4Repr::Icmp(live_icmp)) => {
            let (icmp_type, code) = icmp_numbers(icmp, rules.ipv6)?;
            let prefix = if rules.ipv6 { "icmpv6" } else { "icmpv4" };
            field(
                &format!("{prefix}_type"),
                u64::from(icmp_type),
                u64::from(live_icmp.icmp_type),
            )?;
            field(
                &format!("{prefix}_code"),
                u64::from(code),
                u64::from(live_icmp.code),
            )?;
            return Ok(());
        }
        _ => {
            return Err("live packet has another transport protocol than the script packet".into())
        }
    }
    if live.payload.iter().any(|b| *b != 0) {
        return Err(
            "live packet payload: expected all-zero bytes (the script's buffers are zero-filled)"
                .into(),
        );
    }
    Ok(())
}

/// ISNs from SYNs; TS val pairs.
fn learn(tcp: &TcpPacket, live: &TcpRepr, socket: &mut TrackedSocket) {
    if tcp.flags.syn && live.flags & tcp_flags::SYN != 0 {
        if let TcpSequence::Range { start, .. } = tcp.sequence {
            socket.script_local_isn = Some(start);
            socket.live_local_isn = Some(live.seq);
        }
    }
    let script_ts = match &tcp.options {
        TcpOptions::List(list) => list.iter().find_map(|o| match o.value {
            TcpOption::Timestamp { val: Some(val), .. } => Some(val),
            _ => None,
        }),
        _ => None,
    };
    let live_ts = split_tcp_options(&live.options)
        .ok()
        .and_then(|opts| opts.into_iter().find(|o| o.kind == 8 && o.data.len() == 8))
        .map(|o| u32::from_be_bytes([o.data[0], o.data[1], o.data[2], o.data[3]]));
    if let (Some(script_val), Some(live_val)) = (script_ts, live_ts) {
        socket.record_outbound_ts(script_val, live_val);
    }
}

fn check_ip_info(
    info: &IpInfo,
    live: &PacketRepr,
    version: &str,
    socket: &mut TrackedSocket,
) -> Result<(), PacketMismatch> {
    for (name, expected, actual) in [
        ("src", info.src, live.ip.src),
        ("dst", info.dst, live.ip.dst),
    ] {
        match expected {
            Some(e) if e != actual => {
                return Err(format!(
                    "live packet field {version}_{name}: expected: {e} vs actual: {actual}"
                )
                .into())
            }
            _ => {}
        }
    }
    let previous_id = socket.last_outbound_ip_id.replace(live.ip.id);
    if info.same_id {
        match (version, previous_id) {
            ("ipv6", _) => {
                return Err("same_id: an IPv6 packet has no identification to compare".into())
            }
            (_, None) => {
                return Err("same_id: no outbound packet was matched before this one".into())
            }
            (_, Some(previous)) if previous != live.ip.id => {
                return Err(format!(
                    "live packet field ipv4_id: expected: {previous} (the previous outbound \
                     packet's) vs actual: {}",
                    live.ip.id
                )
                .into())
            }
            _ => {}
        }
    }
    if info.options.is_some() && version == "ipv6" {
        return Err(
            "ip_options of an IPv6 packet (a destination options header) can only be inbound"
                .into(),
        );
    }
    let padded = info
        .options
        .as_ref()
        .map(|o| crate::wire::padded_ipv4_options(o));
    if let Some(options) = padded.filter(|o| *o != live.ip.options) {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        return Err(format!(
            "live packet field ipv4_options: expected: {} vs actual: {}",
            hex(&options),
            if live.ip.options.is_empty() {
                "none".to_string()
            } else {
                hex(&live.ip.options)
            }
        )
        .into());
    }
    let live_ecn = live.ip.tos & 3;
    match info.ecn {
        Some(Ecn::Ect0OrEct1) if live_ecn == 1 || live_ecn == 2 => {}
        Some(Ecn::Ect0OrEct1) => {
            return Err(format!("live packet field {version}_ecn: expected: ECT(0) or ECT(1) vs actual: {live_ecn} ({live_ecn:#x})").into())
        }
        Some(ecn) => field(&format!("{version}_ecn"), u64::from(ecn_bits(ecn)), u64::from(live_ecn))?,
        None => {}
    }
    if let Some(tos) = info.tos {
        let name = if version == "ipv6" {
            "ipv6_traffic_class"
        } else {
            "ipv4_tos"
        };
        field(name, u64::from(tos), u64::from(live.ip.tos))?;
    }
    if let Some(ttl) = info.ttl.filter(|t| *t != 255) {
        let name = if version == "ipv6" {
            "ipv6_hop_limit"
        } else {
            "ipv4_ttl"
        };
        field(name, u64::from(ttl), u64::from(live.ip.ttl))?;
    }
    if let Some(script_label) = info.flow_label.filter(|l| *l != 0) {
        let live_label = live.ip.flow_label;
        if live_label == 0 {
            return Err(
                "live packet field ipv6_flow_label: expected a non-zero flow label vs actual: 0"
                    .into(),
            );
        }
        match socket.flow_label {
            Some((s, l)) if s == script_label && l != live_label => {
                return Err(format!(
                    "live packet field ipv6_flow_label: expected: {l:#x} (as before for script label {s:#x}) vs actual: {live_label:#x}"
                ).into())
            }
            Some((s, l)) if s != script_label && l == live_label => {
                return Err(format!(
                    "live packet field ipv6_flow_label: expected a label other than {l:#x} (script label changed) vs actual: {live_label:#x}"
                ).into())
            }
            _ => socket.flow_label = Some((script_label, live_label)),
        }
    }
    Ok(())
}

fn script_options_len(options: &[TcpOption]) -> usize {
    encode_options(options, &|x| x, &mut Ok)
        .map(|raw| crate::wire::join_tcp_options(&raw).len())
        .unwrap_or(0)
}

/// The TCP flags in packetdrill's order of checking: its field name, the flag's name, the bit.
const TCP_FLAGS: [(&str, &str, u16); 9] = [
    ("tcp_fin", "FIN", tcp_flags::FIN),
    ("tcp_syn", "SYN", tcp_flags::SYN),
    ("tcp_rst", "RST", tcp_flags::RST),
    ("tcp_psh", "PSH", tcp_flags::PSH),
    ("tcp_ack", "ACK", tcp_flags::ACK),
    ("tcp_urg", "URG", tcp_flags::URG),
    ("tcp_ece", "ECE", tcp_flags::ECE),
    ("tcp_cwr", "CWR", tcp_flags::CWR),
    ("tcp_ae", "AE", tcp_flags::AE),
];

fn verify_tcp(
    tcp: &TcpPacket,
    live: &TcpRepr,
    socket: &TrackedSocket,
    rules: &OutboundRules,
) -> Result<(), PacketMismatch> {
    let script_options: Option<Vec<TcpOption>> = match &tcp.options {
        TcpOptions::Ignored(_) => None,
        TcpOptions::None => Some(vec![]),
        TcpOptions::List(list) => Some(list.iter().map(|o| o.value.clone()).collect()),
    };
    if let Some(options) = &script_options {
        field(
            "tcp_data_offset",
            ((20 + script_options_len(options)) / 4) as u64,
            (live.header_len / 4) as u64,
        )?;
    }
    let expected = flag_bits(&tcp.flags);
    for (name, _, bit) in &TCP_FLAGS[..6] {
        let bit = *bit;
        field(
            name,
            u64::from(expected & bit != 0),
            u64::from(live.flags & bit != 0),
        )?;
    }
    let ace = |flags: u16| {
        u64::from(flags & tcp_flags::AE != 0) << 2
            | u64::from(flags & tcp_flags::CWR != 0) << 1
            | u64::from(flags & tcp_flags::ECE != 0)
    };
    if tcp.flags.ace.is_some() {
        field("tcp_ace", ace(expected), ace(live.flags))?;
    } else {
        for (name, _, bit) in &TCP_FLAGS[6..] {
            let bit = *bit;
            field(
                name,
                u64::from(expected & bit != 0),
                u64::from(live.flags & bit != 0),
            )?;
        }
    }
    field("tcp_reserved_bits", 0, u64::from(live.reserved))?;
    let syn = live.flags & tcp_flags::SYN != 0;
    if let TcpSequence::Range {
        start, absolute, ..
    } = tcp.sequence
    {
        let live_seq = if absolute {
            live.seq
        } else {
            socket.outbound_seq(live.seq, syn)
        };
        field("tcp_seq", u64::from(start), u64::from(live_seq))?;
    }
    let live_ack = if live.flags & tcp_flags::ACK != 0 {
        socket.outbound_ack(live.ack, syn)
    } else {
        live.ack
    };
    field(
        "tcp_ack_seq",
        u64::from(tcp.ack.unwrap_or(0)),
        u64::from(live_ack),
    )?;
    if let Some(window) = tcp.window {
        field("tcp_window", u64::from(window), u64::from(live.window))?;
    }
    field(
        "tcp_urg_ptr",
        u64::from(tcp.urgent.unwrap_or(0)),
        u64::from(live.urgent),
    )?;
    if let Some(options) = script_options {
        verify_options(&options, live, socket, rules)?;
    }
    Ok(())
}

fn verify_options(
    options: &[TcpOption],
    live: &TcpRepr,
    socket: &TrackedSocket,
    rules: &OutboundRules,
) -> Result<(), PacketMismatch> {
    let syn = live.flags & tcp_flags::SYN != 0;
    let expected = encode_options(options, &|edge| edge, &mut Ok)?;
    let actual =
        split_tcp_options(&live.options).map_err(|e| format!("bad outbound TCP options: {e}"))?;
    let kinds = |o: &[RawTcpOption]| o.iter().map(|x| x.kind).collect::<Vec<_>>();
    if kinds(&expected) != kinds(&actual) {
        let show = |o: &[RawTcpOption]| o.iter().map(describe_option).collect::<Vec<_>>().join(",");
        return Err(format!(
            "bad outbound TCP options: expected: <{}> vs actual: <{}>",
            show(&expected),
            show(&actual)
        )
        .into());
    }
    for (e, a) in expected.iter().zip(&actual) {
        if a.kind == 8 {
            check_ts_val(e, a, socket, rules)?;
            if rules.strict_ts_ecr {
                check_ts_ecr(e, a)?;
            }
            continue;
        }
        // Compare in script space (SACK edges remapped).
        let mapped = script_space_option(a, socket, syn);
        if matches!(a.kind, 0 | 1) {
            continue;
        }
        if e.data.len() != mapped.data.len() {
            return Err(format!(
                "bad length in outbound TCP option (kind={}): expected: {} actual: {}",
                a.kind,
                describe_option(e),
                describe_option(&mapped)
            )
            .into());
        }
        if e.data != mapped.data {
            return Err(format!(
                "bad value in outbound TCP option (kind={}): expected: {} actual: {}",
                a.kind,
                describe_option(e),
                describe_option(&mapped)
            )
            .into());
        }
    }
    Ok(())
}

/// TS val is only checked with `--tcp_ts_tick_usecs`; TS ecr never (as packetdrill).
fn check_ts_val(
    expected: &RawTcpOption,
    actual: &RawTcpOption,
    socket: &TrackedSocket,
    rules: &OutboundRules,
) -> Result<(), PacketMismatch> {
    if rules.ts_tick_usecs == 0 || actual.data.len() != 8 {
        return Ok(());
    }
    let script_val = u32::from_be_bytes([
        expected.data[0],
        expected.data[1],
        expected.data[2],
        expected.data[3],
    ]);
    let live_val = u32::from_be_bytes([
        actual.data[0],
        actual.data[1],
        actual.data[2],
        actual.data[3],
    ]);
    let Some(in_script_space) = socket.outbound_ts_val_in_script_space(live_val) else {
        return Ok(());
    };
    let off_ticks = i64::from(in_script_space.wrapping_sub(script_val) as i32).abs();
    if off_ticks * i64::from(rules.ts_tick_usecs) > rules.ts_tolerance_usecs {
        return Err(format!(
            "bad outbound TCP timestamp value: expected TS val {script_val} vs actual {in_script_space} (script space); {off_ticks} ticks of {} usecs exceed the tolerance of {} usecs",
            rules.ts_tick_usecs, rules.ts_tolerance_usecs
        ).into());
    }
    Ok(())
}

/// `--strict_ts_ecr`: the live TS ecr must be the script's. The peer's TS vals go out as the
/// script writes them, so an ecr echoing one is the same number in both spaces.
fn check_ts_ecr(expected: &RawTcpOption, actual: &RawTcpOption) -> Result<(), PacketMismatch> {
    let ecr = |o: &RawTcpOption| {
        o.data
            .get(4..8)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match (ecr(expected), ecr(actual)) {
        (Some(e), Some(a)) if e != a => Err(format!(
            "bad outbound TCP timestamp echo: expected TS ecr {e} vs actual {a} (--strict_ts_ecr)"
        )
        .into()),
        _ => Ok(()),
    }
}

/// The live packet mapped into script space, in script syntax (for "actual packet:" lines).
pub fn describe_live(live: &PacketRepr, socket: &TrackedSocket, ipv6: bool) -> String {
    match &live.l4 {
        L4Repr::Tcp(t) => {
            let syn = t.flags & tcp_flags::SYN != 0;
            let seq = socket.outbound_seq(t.seq, syn);
            let ack = (t.flags & tcp_flags::ACK != 0).then(|| socket.outbound_ack(t.ack, syn));
            let options = split_tcp_options(&t.options)
                .map(|opts| {
                    opts.iter()
                        .map(|o| describe_option(&script_space_option(o, socket, syn)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_else(|e| format!("unparseable: {e}"));
            describe_tcp(
                t.flags,
                seq,
                live.payload.len() as u32,
                ack,
                Some(t.window),
                &options,
            )
        }
        L4Repr::Udp(_) => format!("udp ({})", live.payload.len()),
        L4Repr::UdpLite(u) => format!("udplite ({}, {})", live.payload.len(), u.coverage),
        L4Repr::Icmp(i) => format!(
            "{} type {} code {}",
            if ipv6 { "icmpv6" } else { "icmpv4" },
            i.icmp_type,
            i.code
        ),
        L4Repr::Other(p) => format!("protocol {p} ({} bytes)", live.payload.len()),
    }
}

/// A live option with its numbers in script space: SACK edges remapped, TS val translated.
fn script_space_option(option: &RawTcpOption, socket: &TrackedSocket, syn: bool) -> RawTcpOption {
    let words = |d: &[u8]| {
        d.chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect::<Vec<_>>()
    };
    let data = match option.kind {
        5 if option.data.len().is_multiple_of(8) => words(&option.data)
            .into_iter()
            .flat_map(|w| socket.outbound_ack(w, syn).to_be_bytes())
            .collect(),
        8 if option.data.len() == 8 => {
            let w = words(&option.data);
            let val = socket.outbound_ts_val_in_script_space(w[0]).unwrap_or(w[0]);
            [val.to_be_bytes(), w[1].to_be_bytes()].concat()
        }
        _ => option.data.clone(),
    };
    RawTcpOption {
        kind: option.kind,
        data,
    }
}

/// One field where a live packet differs from the script's, in script space, for the lines
/// below packetdrill's message (`differs: tcp option wscale  expected 8  actual 7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub expected: String,
    pub actual: String,
}

impl Difference {
    pub fn new(field: impl Into<String>, expected: impl ToString, actual: impl ToString) -> Self {
        Difference {
            field: field.into(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        }
    }
}

/// Every field where `live` differs from `script`, not only the first one [`verify`] stops
/// at: the IP length and the IP fields the script gives, each TCP flag, sequence, ack,
/// window, urgent pointer and payload length, and each TCP option by name. Fields the script
/// leaves open (`<...>`, no `win`) and TS values (checked only with `--tcp_ts_tick_usecs`)
/// are not compared. Reads `socket`'s mappings without learning anything.
pub fn differences(
    script: &Packet,
    live: &PacketRepr,
    socket: &TrackedSocket,
    ipv6: bool,
) -> Vec<Difference> {
    let mut out = Vec::new();
    let mut cmp = |name: &str, expected: u64, actual: u64| {
        if expected != actual {
            out.push(Difference::new(name, expected, actual));
        }
    };
    let (PacketBody::Tcp(tcp), L4Repr::Tcp(live_tcp)) = (&script.body, &live.l4) else {
        let wanted = script_payload_len(script);
        cmp("payload length", wanted as u64, live.payload.len() as u64);
        return out;
    };
    let script_options: Option<Vec<TcpOption>> = match &tcp.options {
        TcpOptions::Ignored(_) => None,
        TcpOptions::None => Some(vec![]),
        TcpOptions::List(list) => Some(list.iter().map(|o| o.value.clone()).collect()),
    };
    let header_len = match &script_options {
        Some(options) => 20 + script_options_len(options),
        None => live_tcp.header_len,
    };
    let expected_l4 = (header_len + script_payload_len(script)) as u64;
    if ipv6 {
        cmp("ipv6_payload_len", expected_l4, live.ip.length_field as u64);
    } else {
        cmp(
            "ipv4_total_length",
            live.ip.header_len as u64 + expected_l4,
            live.ip.length_field as u64,
        );
    }
    let version = if ipv6 { "ipv6" } else { "ipv4" };
    if let Some(Ecn::Ect0OrEct1) = script.ip.ecn {
    } else if let Some(ecn) = script.ip.ecn {
        cmp(
            &format!("{version}_ecn"),
            u64::from(ecn_bits(ecn)),
            u64::from(live.ip.tos & 3),
        );
    }
    if let Some(tos) = script.ip.tos {
        cmp(
            &format!("{version}_tos"),
            u64::from(tos),
            u64::from(live.ip.tos),
        );
    }
    if let Some(ttl) = script.ip.ttl.filter(|t| *t != 255) {
        cmp(
            &format!("{version}_ttl"),
            u64::from(ttl),
            u64::from(live.ip.ttl),
        );
    }
    if let Some(options) = &script_options {
        cmp(
            "tcp header length",
            (20 + script_options_len(options)) as u64,
            live_tcp.header_len as u64,
        );
    }
    let expected_flags = flag_bits(&tcp.flags);
    let set = |on: bool| if on { "set" } else { "clear" };
    for (_, name, bit) in TCP_FLAGS {
        let (e, a) = (expected_flags & bit != 0, live_tcp.flags & bit != 0);
        if e != a {
            out.push(Difference::new(format!("tcp flag {name}"), set(e), set(a)));
        }
    }
    let syn = live_tcp.flags & tcp_flags::SYN != 0;
    let mut cmp = |name: &str, expected: u64, actual: u64| {
        if expected != actual {
            out.push(Difference::new(name, expected, actual));
        }
    };
    if let TcpSequence::Range {
        start, absolute, ..
    } = tcp.sequence
    {
        let live_seq = if absolute {
            live_tcp.seq
        } else {
            socket.outbound_seq(live_tcp.seq, syn)
        };
        cmp("tcp seq", u64::from(start), u64::from(live_seq));
    }
    let live_ack = if live_tcp.flags & tcp_flags::ACK != 0 {
        socket.outbound_ack(live_tcp.ack, syn)
    } else {
        live_tcp.ack
    };
    cmp(
        "tcp ack",
        u64::from(tcp.ack.unwrap_or(0)),
        u64::from(live_ack),
    );
    if let Some(window) = tcp.window {
        cmp("tcp window", u64::from(window), u64::from(live_tcp.window));
    }
    cmp(
        "tcp urgent pointer",
        u64::from(tcp.urgent.unwrap_or(0)),
        u64::from(live_tcp.urgent),
    );
    cmp(
        "payload length",
        script_payload_len(script) as u64,
        live.payload.len() as u64,
    );
    if let Some(options) = script_options {
        out.extend(option_differences(&options, live_tcp, socket, syn));
    }
    out
}

/// The options of both packets by kind (NOP and EOL, padding, left out): one difference per
/// option missing, extra or with another value; then their order, if only that differs.
fn option_differences(
    options: &[TcpOption],
    live: &TcpRepr,
    socket: &TrackedSocket,
    syn: bool,
) -> Vec<Difference> {
    let Ok(expected) = encode_options(options, &|edge| edge, &mut Ok) else {
        return Vec::new();
    };
    let Ok(actual) = split_tcp_options(&live.options) else {
        return vec![Difference::new(
            "tcp options",
            "(as scripted)",
            "unparseable",
        )];
    };
    let actual: Vec<RawTcpOption> = actual
        .iter()
        .map(|o| script_space_option(o, socket, syn))
        .collect();
    let real = |o: &&RawTcpOption| !matches!(o.kind, 0 | 1);
    let (expected_real, actual_real): (Vec<_>, Vec<_>) = (
        expected.iter().filter(real).collect(),
        actual.iter().filter(real).collect(),
    );
    let mut out = Vec::new();
    let mut kinds: Vec<u8> = expected_real.iter().map(|o| o.kind).collect();
    for o in &actual_real {
        if !kinds.contains(&o.kind) {
            kinds.push(o.kind);
        }
    }
    for kind in kinds {
        let e = expected_real.iter().find(|o| o.kind == kind);
        let a = actual_real.iter().find(|o| o.kind == kind);
        let name = option_name(kind);
        // The value without the option's name (`wscale 7` → `7`); an option without one
        // (sackOK) reads `present`.
        let value = |o: Option<&&RawTcpOption>| match o {
            None => "absent".to_string(),
            Some(o) => {
                let text = describe_option(o);
                match text.strip_prefix(name.as_str()) {
                    Some("") => "present".to_string(),
                    Some(rest) => rest.trim_start().to_string(),
                    None => text,
                }
            }
        };
        if kind == 8 {
            // TS val is checked only with --tcp_ts_tick_usecs, TS ecr only with
            // --strict_ts_ecr: here only whether the option is there.
            if e.is_some() != a.is_some() {
                out.push(Difference::new(
                    "tcp option TS",
                    if e.is_some() { "present" } else { "absent" },
                    value(a),
                ));
            }
            continue;
        }
        if e.map(|o| &o.data) != a.map(|o| &o.data) {
            out.push(Difference::new(
                format!("tcp option {name}"),
                value(e),
                value(a),
            ));
        }
    }
    let show = |o: &[RawTcpOption]| o.iter().map(describe_kind).collect::<Vec<_>>().join(",");
    if out.is_empty() && show(&expected) != show(&actual) {
        out.push(Difference::new(
            "tcp option layout",
            show(&expected),
            show(&actual),
        ));
    }
    out
}

fn describe_kind(option: &RawTcpOption) -> String {
    match option.kind {
        0 => "eol".into(),
        1 => "nop".into(),
        kind => option_name(kind),
    }
}

/// The script's name of an option kind (`wscale` for 3).
fn option_name(kind: u8) -> String {
    let name = match kind {
        0 => "eol",
        1 => "nop",
        2 => "mss",
        3 => "wscale",
        4 => "sackOK",
        5 => "sack",
        8 => "TS",
        19 => "md5",
        34 => "FO",
        172 | 174 => "ECN",
        254 => "FOEXP",
        30 => "mptcp",
        _ => return format!("gen-{kind}"),
    };
    name.to_string()
}

/// The differences as aligned lines under packetdrill's message:
/// `  differs: tcp option wscale  expected: 8     actual: 7`.
pub fn render_differences(differences: &[Difference]) -> Vec<String> {
    let name_width = differences.iter().map(|d| d.field.len()).max().unwrap_or(0);
    let value_width = differences
        .iter()
        .map(|d| d.expected.len())
        .max()
        .unwrap_or(0);
    differences
        .iter()
        .map(|d| {
            format!(
                "  differs: {:name_width$}  expected: {:value_width$}  actual: {}",
                d.field, d.expected, d.actual
            )
        })
        .collect()
}
