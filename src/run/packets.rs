//! Script packets made live: an inbound script packet becomes wire bytes for the socket under
//! test (tuple filled in, numbers remapped); any packet can be shown in script syntax for
//! messages (`S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 8>`).

use std::net::IpAddr;

use crate::catalog::icmp::{icmp_code_number, icmp_type_number};
use crate::script::ast::{
    AccEcnCounter, Ecn, IcmpEchoed, IcmpPacket, IpInfo, Packet, PacketBody, TcpFlags, TcpOption,
    TcpOptions, TcpPacket, TcpSequence,
};
use crate::wire::{
    tcp_flags, IcmpRepr, IpRepr, L4Repr, PacketRepr, RawTcpOption, TcpRepr, UdpLiteRepr, UdpRepr,
};

use super::sockets::TrackedSocket;

/// The 9 TCP flag bits a script's flags stand for.
pub fn flag_bits(flags: &TcpFlags) -> u16 {
    let mut bits = 0;
    for (set, bit) in [
        (flags.fin, tcp_flags::FIN),
        (flags.syn, tcp_flags::SYN),
        (flags.rst, tcp_flags::RST),
        (flags.psh, tcp_flags::PSH),
        (flags.ack, tcp_flags::ACK),
        (flags.urg, tcp_flags::URG),
        (flags.ece, tcp_flags::ECE),
        (flags.cwr, tcp_flags::CWR),
        (flags.ae, tcp_flags::AE),
    ] {
        if set {
            bits |= bit;
        }
    }
    if let Some(ace) = flags.ace {
        let ace = u16::from(ace);
        bits |= if ace & 4 != 0 { tcp_flags::AE } else { 0 }
            | if ace & 2 != 0 { tcp_flags::CWR } else { 0 }
            | if ace & 1 != 0 { tcp_flags::ECE } else { 0 };
    }
    bits
}

/// The two ECN bits of an ECN annotation (ect01 has no single value: ECT(0) is used).
pub fn ecn_bits(ecn: Ecn) -> u8 {
    match ecn {
        Ecn::NotEct => 0,
        Ecn::Ect1 => 1,
        Ecn::Ect0 | Ecn::Ect0OrEct1 => 2,
        Ecn::Ce => 3,
    }
}

/// Option bytes of a script option list. `map_sack` turns script SACK edges into wire values;
/// `map_ecr` script TS ecr values (it may refuse).
pub fn encode_options(
    options: &[TcpOption],
    map_sack: &dyn Fn(u32) -> u32,
    map_ecr: &mut dyn FnMut(u32) -> Result<u32, String>,
) -> Result<Vec<RawTcpOption>, String> {
    let mut out = Vec::new();
    for option in options {
        let (kind, data) = match option {
            TcpOption::Eol => (0, vec![]),
            TcpOption::Nop => (1, vec![]),
            TcpOption::Mss(mss) => (2, mss.to_be_bytes().to_vec()),
            TcpOption::WindowScale(shift) => (3, vec![*shift]),
            TcpOption::SackPermitted => (4, vec![]),
            TcpOption::Sack(blocks) => {
                let mut data = Vec::new();
                for (left, right) in blocks {
                    data.extend_from_slice(&map_sack(*left).to_be_bytes());
                    data.extend_from_slice(&map_sack(*right).to_be_bytes());
                }
                (5, data)
            }
            TcpOption::Timestamp {
                val,
                ecr,
                ecr_absolute,
            } => {
                let mut data = val.unwrap_or(0).to_be_bytes().to_vec();
                let ecr = if *ecr_absolute { *ecr } else { map_ecr(*ecr)? };
                data.extend_from_slice(&ecr.to_be_bytes());
                (8, data)
            }
            TcpOption::Md5(digest) => (19, digest.clone()),
            // Filled in once the segment it signs is known (see `wire::tcp_md5`).
            TcpOption::Md5Valid => (19, vec![0; crate::wire::tcp_md5::DIGEST_LEN]),
            TcpOption::FastOpen(cookie) => (34, cookie.clone().unwrap_or_default()),
            TcpOption::FastOpenExp(cookie) => {
                let mut data = vec![0xF9, 0x89];
                data.extend(cookie.clone().unwrap_or_default());
                (254, data)
            }
            TcpOption::AccEcn(counters) => {
                let kind = if counters[0].0 == AccEcnCounter::E1b {
                    174
                } else {
                    172
                };
                let mut data = Vec::new();
                for (_, value) in counters {
                    data.extend_from_slice(&value.to_be_bytes()[1..]);
                }
                (kind, data)
            }
            TcpOption::Generic {
                kind,
                experiment_id,
                data,
            } => {
                let mut bytes = experiment_id
                    .map(|id| id.to_be_bytes().to_vec())
                    .unwrap_or_default();
                bytes.extend_from_slice(data);
                (*kind, bytes)
            }
            TcpOption::Mptcp(option) => (30, super::mptcp::template(option)),
        };
        out.push(RawTcpOption { kind, data });
    }
    Ok(out)
}

/// What an inbound packet needs besides the script: where it goes and run options.
pub struct InboundContext<'a> {
    pub socket: &'a TrackedSocket,
    /// Wire addresses of the stack (local) and the simulated peer (remote).
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub ipv6: bool,
    pub tcp_ts_ecr_scaled: bool,
    /// `--tcp_md5_secret`: the key `md5 valid` options are signed with.
    pub tcp_md5_secret: Option<&'a [u8]>,
}

impl InboundContext<'_> {
    /// The live (local, remote) ends of the socket under test.
    fn tuple(&self) -> Result<(std::net::SocketAddr, std::net::SocketAddr), String> {
        let local = self
            .socket
            .local
            .ok_or("socket under test has no local address")?;
        let remote = self
            .socket
            .remote
            .ok_or("socket under test has no remote address")?;
        Ok((local, remote))
    }
}

/// The wire packet for an inbound script packet.
pub fn build_inbound(packet: &Packet, ctx: &InboundContext) -> Result<PacketRepr, String> {
    if !packet.encapsulations.is_empty() {
        return Err(
            "encapsulated packets (ipv4/ipv6/gre/mpls prefixes) are not supported yet".into(),
        );
    }
    let socket = ctx.socket;
    let (local, remote) = ctx.tuple()?;
    let mut ip = IpRepr::new(ctx.remote_ip, ctx.local_ip);
    apply_ip_info(&mut ip, &packet.ip)?;
    let (l4, payload) = match &packet.body {
        PacketBody::Tcp(tcp) => {
            let (src_port, dst_port) = match tcp.ports {
                Some(p) => (p.source, p.destination),
                None => (remote.port(), local.port()),
            };
            let flags = flag_bits(&tcp.flags);
            let syn = tcp.flags.syn;
            let ack_flag = flags & tcp_flags::ACK != 0;
            let (seq, len) = match tcp.sequence {
                TcpSequence::Range {
                    start,
                    len,
                    absolute: true,
                    ..
                } => (start, len),
                TcpSequence::Range { start, len, .. } => (socket.inbound_seq(start, syn), len),
                TcpSequence::Ignored { len } => (socket.inbound_seq(0, syn), len),
            };
            // As packetdrill: with the ACK flag the field is mapped even when the line gives
            // no `ack N` (script value 0, the stack's ISN on the wire).
            let ack = match tcp.ack {
                _ if ack_flag => socket.inbound_ack(tcp.ack.unwrap_or(0), syn),
                Some(ack) => ack,
                None => 0,
            };
            let options = match &tcp.options {
                TcpOptions::None => vec![],
                TcpOptions::Ignored(_) => {
                    return Err("<...> can only be used with outbound packets".into())
                }
                TcpOptions::List(list) => {
                    let values: Vec<TcpOption> = list.iter().map(|o| o.value.clone()).collect();
                    let map_sack = |edge: u32| socket.inbound_ack(edge, syn);
                    let mut map_ecr = |ecr: u32| {
                        if ack_flag {
                            socket.inbound_ts_ecr(ecr, ctx.tcp_ts_ecr_scaled)
                        } else {
                            Ok(ecr)
                        }
                    };
                    crate::wire::join_tcp_options(&encode_options(
                        &values,
                        &map_sack,
                        &mut map_ecr,
                    )?)
                }
            };
            let mut repr = TcpRepr {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window: tcp.window.unwrap_or(0),
                urgent: tcp.urgent.unwrap_or(0),
                options,
                header_len: 0,
                reserved: 0,
                checksum_ok: !tcp.bad_checksum,
            };
            let payload = vec![0u8; usize::from(len)];
            if wants_md5_valid(tcp) {
                let key = md5_key(ctx.tcp_md5_secret)?;
                crate::wire::tcp_md5::sign(ip.src, ip.dst, &mut repr, &payload, key)?;
            }
            (L4Repr::Tcp(repr), payload)
        }
        PacketBody::Udp(udp) => {
            let (src_port, dst_port) = match udp.ports {
                Some(p) => (p.source, p.destination),
                None => (remote.port(), local.port()),
            };
            (
                L4Repr::Udp(UdpRepr {
                    src_port,
                    dst_port,
                    length_field: 0,
                }),
                vec![0u8; usize::from(udp.payload_len)],
            )
        }
        PacketBody::UdpLite(udplite) => {
            let (src_port, dst_port) = match udplite.ports {
                Some(p) => (p.source, p.destination),
                None => (remote.port(), local.port()),
            };
            (
                L4Repr::UdpLite(UdpLiteRepr {
                    src_port,
                    dst_port,
                    coverage: udplite.checksum_coverage,
                    checksum_ok: true,
                }),
                vec![0u8; usize::from(udplite.payload_len)],
            )
        }
        PacketBody::Icmp(icmp) => build_icmp(icmp, ctx)?,
        PacketBody::Sctp(_) => return Err("SCTP packets are not supported yet".into()),
    };
    Ok(PacketRepr { ip, l4, payload })
}

/// Whether the segment's option list has an `md5 valid`.
fn wants_md5_valid(tcp: &TcpPacket) -> bool {
    matches!(&tcp.options, TcpOptions::List(list) if list.iter().any(|o| o.value == TcpOption::Md5Valid))
}

fn md5_key(secret: Option<&[u8]>) -> Result<&[u8], String> {
    secret.ok_or_else(|| {
        "'md5 valid' needs --tcp_md5_secret=KEY (the key the segment is signed with)".to_string()
    })
}

/// An outbound script packet whose `md5 valid` options read as the digest the `live` segment
/// must carry: RFC 2385's digest of that segment under `secret`. Other packets unchanged.
pub fn sign_expected_md5(
    mut packet: Packet,
    live: &PacketRepr,
    secret: Option<&str>,
) -> Result<Packet, String> {
    let (PacketBody::Tcp(tcp), L4Repr::Tcp(live_tcp)) = (&mut packet.body, &live.l4) else {
        return Ok(packet);
    };
    if !wants_md5_valid(tcp) {
        return Ok(packet);
    }
    let key = md5_key(secret.map(str::as_bytes))?;
    let digest =
        crate::wire::tcp_md5::digest(live.ip.src, live.ip.dst, live_tcp, &live.payload, key);
    if let TcpOptions::List(list) = &mut tcp.options {
        for option in list.iter_mut().filter(|o| o.value == TcpOption::Md5Valid) {
            option.value = TcpOption::Md5(digest.to_vec());
        }
    }
    Ok(packet)
}

/// Sets what the script's IP info says; the stackdrill extensions (`src`, `dst`,
/// `ip_options`) must fit the run's IP version.
fn apply_ip_info(ip: &mut IpRepr, info: &IpInfo) -> Result<(), String> {
    let version = |a: &IpAddr| if a.is_ipv4() { "IPv4" } else { "IPv6" };
    for (given, slot, name) in [
        (info.src, &mut ip.src, "src"),
        (info.dst, &mut ip.dst, "dst"),
    ] {
        if let Some(addr) = given {
            if addr.is_ipv4() != slot.is_ipv4() {
                return Err(format!(
                    "{name} {addr} is an {} address in an {} run",
                    version(&addr),
                    version(slot)
                ));
            }
            *slot = addr;
        }
    }
    if let Some(options) = &info.options {
        ip.options = options.clone();
    }
    if let Some(tos) = info.tos {
        ip.tos = tos;
    }
    if let Some(dscp) = info.dscp {
        ip.tos = (dscp << 2) | (ip.tos & 3);
    }
    if let Some(ecn) = info.ecn {
        ip.tos = (ip.tos & !3) | ecn_bits(ecn);
    }
    if let Some(ttl) = info.ttl {
        ip.ttl = ttl;
    }
    if let Some(label) = info.flow_label {
        ip.flow_label = label;
    }
    Ok(())
}

/// The ICMP number for a type or code name (`type_N`/`code_N` or a name of the family's table).
pub fn icmp_numbers(icmp: &IcmpPacket, ipv6: bool) -> Result<(u8, u8), String> {
    let type_name = icmp.icmp_type.value.as_str();
    let icmp_type = match type_name.strip_prefix("type_") {
        Some(n) => n
            .parse()
            .map_err(|_| format!("bad ICMP type {type_name}"))?,
        None => {
            icmp_type_number(type_name, ipv6).ok_or_else(|| format!("bad ICMP type {type_name}"))?
        }
    };
    let code = match &icmp.code {
        None => 0,
        Some(code) => match code.value.strip_prefix("code_") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("bad ICMP code {}", code.value))?,
            None => icmp_code_number(type_name, &code.value, ipv6)
                .ok_or_else(|| format!("bad ICMP code {}", code.value))?,
        },
    };
    Ok((icmp_type, code))
}

fn build_icmp(icmp: &IcmpPacket, ctx: &InboundContext) -> Result<(L4Repr, Vec<u8>), String> {
    let (icmp_type, code) = icmp_numbers(icmp, ctx.ipv6)?;
    let mut rest_of_header = [0u8; 4];
    if let Some(mtu) = icmp.mtu {
        if ctx.ipv6 {
            rest_of_header = mtu.to_be_bytes();
        } else {
            rest_of_header[2..].copy_from_slice(&(mtu as u16).to_be_bytes());
        }
    }
    if let Some(id) = icmp.id {
        rest_of_header[..2].copy_from_slice(&id.to_be_bytes());
    }
    let socket = ctx.socket;
    let (local, remote) = ctx.tuple()?;
    // The echoed packet is one the stack sent: from the local to the remote end.
    let echoed_inner = |l4: L4Repr, payload_len: u16| {
        let inner = PacketRepr {
            ip: IpRepr {
                ttl: 64,
                ..IpRepr::new(ctx.local_ip, ctx.remote_ip)
            },
            l4,
            payload: vec![0; usize::from(payload_len)],
        };
        let bytes = crate::wire::encode(&inner);
        let header_len = if ctx.ipv6 { 40 } else { 20 };
        bytes[..(header_len + 8).min(bytes.len())].to_vec()
    };
    let tcp_inner = |start: u32, len: u16| {
        let tcp = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: start.wrapping_add(socket.live_local_isn.unwrap_or(0)),
            ack: 0,
            flags: 0,
            window: 0,
            urgent: 0,
            options: vec![],
            header_len: 0,
            reserved: 0,
            checksum_ok: true,
        };
        echoed_inner(L4Repr::Tcp(tcp), len)
    };
    let payload = match &icmp.echoed {
        IcmpEchoed::Default => tcp_inner(0, 0),
        IcmpEchoed::Tcp {
            udp_encapsulation: Some(_),
            ..
        } => return Err("an echoed TCP-over-UDP segment is not supported yet".into()),
        IcmpEchoed::Tcp { start, len, .. } => tcp_inner(*start, *len),
        IcmpEchoed::UdpLite {
            len,
            checksum_coverage,
        } => {
            let udplite = UdpLiteRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                coverage: *checksum_coverage,
                checksum_ok: true,
            };
            echoed_inner(L4Repr::UdpLite(udplite), *len)
        }
        IcmpEchoed::Sctp { .. } => return Err("SCTP packets are not supported yet".into()),
        IcmpEchoed::Udp { len } => {
            let udp = UdpRepr {
                src_port: local.port(),
                dst_port: remote.port(),
                length_field: 0,
            };
            echoed_inner(L4Repr::Udp(udp), *len)
        }
        IcmpEchoed::Raw { len } => vec![0; usize::from(*len)],
    };
    Ok((
        L4Repr::Icmp(IcmpRepr {
            icmp_type,
            code,
            rest_of_header,
        }),
        payload,
    ))
}

/// A TCP packet in script syntax: `S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 8>`.
pub fn describe_tcp(
    flags: u16,
    seq: u32,
    payload_len: u32,
    ack: Option<u32>,
    window: Option<u16>,
    options: &str,
) -> String {
    let mut text = String::new();
    for (bit, ch) in [
        (tcp_flags::FIN, 'F'),
        (tcp_flags::SYN, 'S'),
        (tcp_flags::RST, 'R'),
        (tcp_flags::PSH, 'P'),
        (tcp_flags::ACK, '.'),
        (tcp_flags::URG, 'U'),
        (tcp_flags::ECE, 'E'),
        (tcp_flags::CWR, 'W'),
        (tcp_flags::AE, 'A'),
    ] {
        if flags & bit != 0 {
            text.push(ch);
        }
    }
    if text.is_empty() {
        text.push('-');
    }
    text.push_str(&format!(
        " {seq}:{}({payload_len})",
        seq.wrapping_add(payload_len)
    ));
    if let Some(ack) = ack {
        text.push_str(&format!(" ack {ack}"));
    }
    if let Some(window) = window {
        text.push_str(&format!(" win {window}"));
    }
    if !options.is_empty() {
        text.push_str(&format!(" <{options}>"));
    }
    text
}

/// One option in script syntax (`mss 1460`, `TS val 1 ecr 0`, `FO 0123abcd`, `sack 1:1001`).
pub fn describe_option(option: &RawTcpOption) -> String {
    let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let u32_at = |d: &[u8], i: usize| {
        d.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let d = &option.data;
    match (option.kind, d.len()) {
        (0, _) => "eol".into(),
        (1, _) => "nop".into(),
        (2, 2) => format!("mss {}", u16::from_be_bytes([d[0], d[1]])),
        (3, 1) => format!("wscale {}", d[0]),
        (4, 0) => "sackOK".into(),
        (5, n) if n % 8 == 0 => {
            let blocks: Vec<String> = (0..n / 8)
                .map(|i| {
                    format!(
                        "{}:{}",
                        u32_at(d, i * 8).unwrap(),
                        u32_at(d, i * 8 + 4).unwrap()
                    )
                })
                .collect();
            format!("sack {}", blocks.join(" "))
        }
        (8, 8) => format!(
            "TS val {} ecr {}",
            u32_at(d, 0).unwrap(),
            u32_at(d, 4).unwrap()
        ),
        (19, _) => format!("md5 {}", hex(d)),
        (34, 0) => "FO".into(),
        (34, _) => format!("FO {}", hex(d)),
        (254, n) if n >= 2 && d[..2] == [0xF9, 0x89] => {
            if n == 2 {
                "FOEXP".into()
            } else {
                format!("FOEXP {}", hex(&d[2..]))
            }
        }
        (172 | 174, n) if n % 3 == 0 => {
            let names: [&str; 3] = if option.kind == 172 {
                ["e0b", "ceb", "e1b"]
            } else {
                ["e1b", "ceb", "e0b"]
            };
            let counters: Vec<String> = d
                .chunks(3)
                .zip(names)
                .map(|(c, name)| format!("{name} {}", u32::from_be_bytes([0, c[0], c[1], c[2]])))
                .collect();
            format!("ECN {}", counters.join(" "))
        }
        (30, _) => crate::wire::mptcp::describe(d),
        (kind, _) => format!("gen-{kind} {}", hex(d)).trim_end().to_string(),
    }
}

/// The script packet as written, in script syntax (for "script packet:" lines).
pub fn describe_script_packet(packet: &Packet) -> String {
    match &packet.body {
        PacketBody::Tcp(tcp) => describe_script_tcp(tcp),
        PacketBody::Udp(udp) => format!("udp ({})", udp.payload_len),
        PacketBody::UdpLite(u) => format!("udplite ({}, {})", u.payload_len, u.checksum_coverage),
        PacketBody::Sctp(sctp) => match &sctp.chunks {
            crate::script::ast::SctpChunks::List(chunks) => {
                let names: Vec<&str> = chunks.iter().map(|c| c.name.value.as_str()).collect();
                format!("sctp: {}", names.join("; "))
            }
            crate::script::ast::SctpChunks::Raw(bytes) => format!("sctp: [{} bytes]", bytes.len()),
        },
        PacketBody::Icmp(icmp) => format!(
            "icmp {}{}",
            icmp.icmp_type.value,
            icmp.code
                .as_ref()
                .map(|c| format!(" {}", c.value))
                .unwrap_or_default()
        ),
    }
}

fn describe_script_tcp(tcp: &TcpPacket) -> String {
    let options = match &tcp.options {
        TcpOptions::None => String::new(),
        TcpOptions::Ignored(_) => "...".into(),
        TcpOptions::List(list) => {
            let values: Vec<TcpOption> = list.iter().map(|o| o.value.clone()).collect();
            let raw = encode_options(&values, &|x| x, &mut Ok).unwrap_or_default();
            raw.iter()
                .zip(&values)
                .map(|(raw, value)| match value {
                    TcpOption::Mptcp(option) => option.to_string(),
                    TcpOption::Md5Valid => "md5 valid".into(),
                    _ => describe_option(raw),
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let (start, len) = match tcp.sequence {
        TcpSequence::Range { start, len, .. } => (start, len),
        TcpSequence::Ignored { len } => (0, len),
    };
    describe_tcp(
        flag_bits(&tcp.flags),
        start,
        u32::from(len),
        tcp.ack,
        tcp.window,
        &options,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_like_packetdrill() {
        let opts = [
            RawTcpOption {
                kind: 2,
                data: vec![5, 0xb4],
            },
            RawTcpOption {
                kind: 1,
                data: vec![],
            },
            RawTcpOption {
                kind: 3,
                data: vec![8],
            },
        ];
        let text: Vec<String> = opts.iter().map(describe_option).collect();
        let line = describe_tcp(
            tcp_flags::SYN | tcp_flags::ACK,
            0,
            0,
            Some(1),
            Some(65535),
            &text.join(","),
        );
        assert_eq!(line, "S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 8>");
        let fo = RawTcpOption {
            kind: 254,
            data: vec![0xF9, 0x89, 0x00, 0xab],
        };
        assert_eq!(describe_option(&fo), "FOEXP 00ab");
    }

    #[test]
    fn ace_digits_set_ae_cwr_ece() {
        let flags = TcpFlags {
            ack: true,
            psh: true,
            ace: Some(5),
            ..TcpFlags::default()
        };
        assert_eq!(
            flag_bits(&flags),
            tcp_flags::ACK | tcp_flags::PSH | tcp_flags::AE | tcp_flags::ECE
        );
    }
}
