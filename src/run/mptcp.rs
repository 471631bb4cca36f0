//! MPTCP options made live, as the multipath-tcp/packetdrill fork does: the connection's keys
//! (named by the script, learned from the stack's packets or generated for the peer), the
//! tokens, IDSNs and HMACs that follow from them, inbound options built as RFC 8684 bytes, and
//! outbound options compared field by field in script space (data sequence numbers relative to
//! their sender's IDSN).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::script::ast::{Packet, PacketBody, TcpOption, TcpOptions, TcpSequence};
use crate::script::mptcp::{AddAddrHmac, MptcpHmac, MptcpOption, MptcpToken, MptcpVar, MPTCP_KIND};
use crate::verdict::PacketMismatch;
use crate::wire::mptcp::{self as layout, subtype, Field, Value};
use crate::wire::{split_tcp_options, L4Repr, PacketRepr};

use super::outbound::Difference;

/// What the run knows of the MPTCP connection.
#[derive(Debug, Default)]
pub struct MptcpState {
    /// Keys by the script's names.
    vars: HashMap<String, u64>,
    /// Addresses by the script's names (`addr[saddr1]`).
    addresses: HashMap<String, IpAddr>,
    /// The stack's key and the simulated peer's.
    kernel_key: Option<u64>,
    peer_key: Option<u64>,
    /// The nonces of the subflow being joined.
    kernel_nonce: Option<u32>,
    peer_nonce: Option<u32>,
    /// Whether a packet named subflow ends yet (the first names the run's own).
    subflows_named: bool,
    /// Addresses made up for the peer so far (the next is the run's remote address plus one).
    peer_addresses: u8,
}

/// A random number from the kernel's generator (keys and nonces of the simulated peer).
fn random_u64() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    u64::from_be_bytes(bytes)
}

fn mask(value: u64, wide: bool) -> u64 {
    if wide {
        value
    } else {
        value & 0xffff_ffff
    }
}

/// The MPTCP options of a script packet, in order.
fn script_options(packet: &Packet) -> Vec<&MptcpOption> {
    match &packet.body {
        PacketBody::Tcp(tcp) => match &tcp.options {
            TcpOptions::List(list) => list
                .iter()
                .filter_map(|o| match &o.value {
                    TcpOption::Mptcp(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Whether a script packet carries MPTCP options or names subflow ends.
pub fn uses_mptcp(packet: &Packet) -> bool {
    matches!(&packet.body, PacketBody::Tcp(t) if t.subflow.is_some())
        || !script_options(packet).is_empty()
}

/// The packet with each MPTCP option replaced by the given option bytes (kind 30).
fn with_option_bytes(packet: &Packet, mut bytes: Vec<Vec<u8>>) -> Packet {
    let mut out = packet.clone();
    bytes.reverse();
    if let PacketBody::Tcp(tcp) = &mut out.body {
        if let TcpOptions::List(list) = &mut tcp.options {
            for option in list.iter_mut() {
                if matches!(option.value, TcpOption::Mptcp(_)) {
                    let data = bytes.pop().unwrap_or_default();
                    option.value = TcpOption::Generic {
                        kind: MPTCP_KIND,
                        experiment_id: None,
                        data,
                    };
                }
            }
        }
    }
    out
}

/// The flags and address ID of an MP_JOIN SYN or SYN/ACK (inbound, the address ID defaults to 0).
fn join_header(backup: bool, address_id: Option<u8>, inbound: bool) -> [Field; 3] {
    [
        Field::new("reserved", 3, Some(0)),
        Field::new("backup", 1, Some(u64::from(backup))),
        Field::new(
            "address_id",
            8,
            address_id.map(u64::from).or(inbound.then_some(0)),
        ),
    ]
}

/// A script option's layout with its literal values and nothing resolved (for lengths and
/// option lists shown before a run knows the keys).
pub fn template(option: &MptcpOption) -> Vec<u8> {
    let mut state = MptcpState::default();
    let fields = state
        .fields(option, Side::Template, false)
        .unwrap_or_default();
    layout::encode(&fields)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side<'a> {
    /// Built for injection: every value resolved.
    Inbound {
        payload_len: u16,
        relative_seq: u32,
        remote_ip: IpAddr,
    },
    /// Expected from the stack: open values None, learning from the live option.
    Outbound {
        live: &'a [Field],
    },
    Template,
}

impl MptcpState {
    fn key(&self, name: &str) -> Result<u64, String> {
        self.vars
            .get(name)
            .copied()
            .ok_or_else(|| format!("MPTCP key '{name}' has no value yet"))
    }

    fn keys(&self) -> Result<(u64, u64), String> {
        match (self.kernel_key, self.peer_key) {
            (Some(k), Some(p)) => Ok((k, p)),
            _ => Err("MPTCP keys not known yet (no MP_CAPABLE handshake with keys seen)".into()),
        }
    }

    fn kernel_idsn(&self) -> Result<u64, String> {
        Ok(layout::idsn(self.keys()?.0))
    }

    fn peer_idsn(&self) -> Result<u64, String> {
        Ok(layout::idsn(self.keys()?.1))
    }

    /// Binds a key variable: its script value, its earlier value, the live one, or (inbound) a
    /// new random key.
    fn bind_key(&mut self, var: &MptcpVar, live: Option<u64>, generate: bool) -> Option<u64> {
        if let Some(value) = var.value {
            self.vars.insert(var.name.clone(), value);
        }
        if let Some(value) = self.vars.get(&var.name) {
            return Some(*value);
        }
        let value = live.or_else(|| generate.then(random_u64))?;
        self.vars.insert(var.name.clone(), value);
        Some(value)
    }

    /// The next address made up for the peer: the run's remote address plus one, two, ….
    fn new_peer_address(&mut self, remote_ip: IpAddr) -> IpAddr {
        self.peer_addresses = self.peer_addresses.saturating_add(1);
        match remote_ip {
            IpAddr::V4(a) => {
                IpAddr::V4((u32::from(a).wrapping_add(u32::from(self.peer_addresses))).into())
            }
            IpAddr::V6(a) => {
                IpAddr::V6((u128::from(a).wrapping_add(u128::from(self.peer_addresses))).into())
            }
        }
    }

    /// The fields of a script option, in its RFC 8684 layout. Outbound, open values are None
    /// and data sequence numbers stay relative (the live option is mapped to match).
    fn fields(
        &mut self,
        option: &MptcpOption,
        side: Side,
        ipv6: bool,
    ) -> Result<Vec<Field>, String> {
        let inbound = matches!(side, Side::Inbound { .. });
        let template = side == Side::Template;
        let live_number = |name: &str| match side {
            Side::Outbound { live } => {
                live.iter()
                    .find(|f| f.name == name)
                    .and_then(|f| match f.value {
                        Some(Value::Number(n)) => Some(n),
                        _ => None,
                    })
            }
            _ => None,
        };
        let live_bytes = |name: &str| match side {
            Side::Outbound { live } => live.iter().find(|f| f.name == name).and_then(|f| match &f
                .value
            {
                Some(Value::Bytes(b)) => Some(b.clone()),
                _ => None,
            }),
            _ => None,
        };
        let mut f = vec![Field::new("subtype", 4, None)];
        let sub = |n: u64| Field::new("subtype", 4, Some(n));
        match option {
            MptcpOption::Capable {
                version,
                flags,
                keys,
                data_len,
            } => {
                f[0] = sub(u64::from(subtype::MP_CAPABLE));
                f.push(Field::new("version", 4, Some(u64::from(*version))));
                f.push(Field::new("flags", 8, Some(u64::from(*flags))));
                let names = ["sender key", "receiver key"];
                let mut values = Vec::new();
                for (var, name) in keys.iter().zip(names) {
                    let value = if template {
                        var.value.or(Some(0))
                    } else {
                        self.bind_key(var, live_number(name), inbound)
                    };
                    values.push(value);
                    f.push(Field::new(name, 64, value));
                }
                if !template {
                    // The stack's key is the sender's of its options, the peer's of ours.
                    let (own, other) = if inbound {
                        (&mut self.peer_key, &mut self.kernel_key)
                    } else {
                        (&mut self.kernel_key, &mut self.peer_key)
                    };
                    if let Some(Some(v)) = values.first() {
                        own.get_or_insert(*v);
                    }
                    if let Some(Some(v)) = values.get(1) {
                        other.get_or_insert(*v);
                    }
                }
                if let Some(len) = data_len {
                    f.push(Field::new("data-level length", 16, Some(u64::from(*len))));
                }
            }
            MptcpOption::JoinSyn {
                backup,
                address_id,
                token,
                nonce,
            } => {
                f[0] = sub(u64::from(subtype::MP_JOIN));
                f.extend(join_header(*backup, *address_id, inbound));
                let token = if template {
                    Some(0)
                } else {
                    Some(u64::from(match token {
                        MptcpToken::Value(v) => *v,
                        MptcpToken::OfKey { name, sha1: false } => layout::token(self.key(name)?),
                        MptcpToken::OfKey { sha1: true, .. } => {
                            return Err("not supported: MPTCP v0 tokens (sha1_32)".into())
                        }
                        // The receiver's token.
                        MptcpToken::Auto if inbound => layout::token(self.keys()?.0),
                        MptcpToken::Auto => layout::token(self.keys()?.1),
                    }))
                };
                f.push(Field::new("token", 32, token));
                let nonce = self.join_nonce(*nonce, inbound, live_number("rand"));
                f.push(Field::new("rand", 32, nonce.map(u64::from)));
            }
            MptcpOption::JoinSynAck {
                backup,
                address_id,
                hmac,
                nonce,
            } => {
                f[0] = sub(u64::from(subtype::MP_JOIN));
                f.extend(join_header(*backup, *address_id, inbound));
                let nonce = self.join_nonce(*nonce, inbound, live_number("rand"));
                let hmac = if template {
                    Some(0)
                } else {
                    self.join_hmac(hmac, inbound)?
                        .map(|h| u64::from_be_bytes(h[..8].try_into().expect("8 bytes")))
                };
                f.push(Field::new("sender_hmac", 64, hmac));
                f.push(Field::new("rand", 32, nonce.map(u64::from)));
            }
            MptcpOption::JoinAck { hmac } => {
                f[0] = sub(u64::from(subtype::MP_JOIN));
                f.push(Field::new("reserved", 12, Some(0)));
                let hmac = if template {
                    Some(vec![0; 20])
                } else {
                    self.join_hmac(hmac, inbound)?.map(|h| h[..20].to_vec())
                };
                f.push(Field::bytes("sender_hmac", 160, hmac));
            }
            MptcpOption::Dss {
                data_ack,
                dsn,
                ssn,
                data_len,
                checksum,
                fin,
            } => {
                f[0] = sub(u64::from(subtype::DSS));
                f.push(Field::new("reserved", 7, Some(0)));
                f.push(Field::new("fin", 1, Some(u64::from(*fin))));
                f.push(Field::new(
                    "dsn8 flag",
                    1,
                    Some(u64::from(dsn.is_some_and(|d| d.wide))),
                ));
                f.push(Field::new("dsn flag", 1, Some(u64::from(dsn.is_some()))));
                f.push(Field::new(
                    "dack8 flag",
                    1,
                    Some(u64::from(data_ack.is_some_and(|d| d.wide))),
                ));
                f.push(Field::new(
                    "dack flag",
                    1,
                    Some(u64::from(data_ack.is_some())),
                ));
                if let Some(ack) = data_ack {
                    let name = if ack.wide { "dack8" } else { "dack4" };
                    let value = match (side, ack.value) {
                        (Side::Template, v) => Some(v.unwrap_or(0)),
                        (Side::Inbound { .. }, Some(v)) => {
                            Some(mask(self.kernel_idsn()?.wrapping_add(v), ack.wide))
                        }
                        (Side::Inbound { .. }, None) => {
                            return Err(format!("{name} needs a value in an inbound packet"))
                        }
                        (Side::Outbound { .. }, v) => v,
                    };
                    f.push(Field::new(name, if ack.wide { 64 } else { 32 }, value));
                }
                if let Some(map) = dsn {
                    let name = if map.wide { "dsn8" } else { "dsn4" };
                    let full_dsn = match (side, map.value) {
                        (Side::Inbound { .. }, Some(v)) => Some(self.peer_idsn()?.wrapping_add(v)),
                        (Side::Inbound { .. }, None) => {
                            return Err(format!("{name} needs a value in an inbound packet"))
                        }
                        _ => None,
                    };
                    let value = match side {
                        Side::Inbound { .. } => full_dsn.map(|d| mask(d, map.wide)),
                        Side::Template => Some(map.value.unwrap_or(0)),
                        Side::Outbound { .. } => map.value,
                    };
                    f.push(Field::new(name, if map.wide { 64 } else { 32 }, value));
                    let (ssn, dll) = match side {
                        Side::Inbound {
                            payload_len,
                            relative_seq,
                            ..
                        } => (
                            Some(ssn.unwrap_or(relative_seq)),
                            Some(data_len.unwrap_or(payload_len + u16::from(*fin))),
                        ),
                        Side::Template => (Some(ssn.unwrap_or(0)), Some(data_len.unwrap_or(0))),
                        Side::Outbound { .. } => (*ssn, *data_len),
                    };
                    f.push(Field::new("ssn", 32, ssn.map(u64::from)));
                    f.push(Field::new("dll", 16, dll.map(u64::from)));
                    if let Some(given) = checksum {
                        let value = match (side, given, full_dsn, ssn, dll) {
                            (_, Some(v), ..) => Some(u64::from(*v)),
                            (Side::Inbound { .. }, None, Some(d), Some(s), Some(l)) => {
                                Some(u64::from(layout::dss_checksum(d, s, l)))
                            }
                            (Side::Template, ..) => Some(0),
                            _ => None,
                        };
                        f.push(Field::new("checksum", 16, value));
                    }
                }
            }
            MptcpOption::AddAddress {
                address_id,
                address,
                address_value,
                port,
                hmac,
            } => {
                f[0] = sub(u64::from(subtype::ADD_ADDR));
                f.push(Field::new("reserved", 3, Some(0)));
                let echo = matches!(hmac, AddAddrHmac::Echo | AddAddrHmac::None);
                f.push(Field::new("echo", 1, Some(u64::from(echo))));
                if let Some(value) = address_value {
                    self.addresses.insert(address.clone(), *value);
                }
                let live_address = live_bytes("address")
                    .and_then(|b| match b.len() {
                        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b.as_slice()).ok()?)),
                        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b.as_slice()).ok()?)),
                        _ => None,
                    })
                    .or_else(|| live_number("address").map(|n| IpAddr::V4((n as u32).into())));
                let resolved = match (self.addresses.get(address), side) {
                    (Some(a), _) => Some(*a),
                    (None, Side::Inbound { remote_ip, .. }) => {
                        Some(self.new_peer_address(remote_ip))
                    }
                    (None, Side::Outbound { .. }) => live_address,
                    (None, Side::Template) => None,
                };
                if let (Some(a), false) = (resolved, template) {
                    self.addresses.entry(address.clone()).or_insert(a);
                }
                let id = match (address_id, side) {
                    (Some(id), _) => Some(u64::from(*id)),
                    (None, Side::Inbound { .. }) => Some(u64::from(self.peer_addresses)),
                    (None, Side::Outbound { .. }) => None,
                    (None, Side::Template) => Some(0),
                };
                f.push(Field::new("address_id", 8, id));
                let v6 = resolved.map_or(ipv6 || address_value.is_some_and(|a| a.is_ipv6()), |a| {
                    a.is_ipv6()
                });
                let address_bytes = resolved.map(|a| match a {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                });
                if v6 {
                    f.push(Field::bytes(
                        "address",
                        128,
                        address_bytes.or(template.then(|| vec![0; 16])),
                    ));
                } else {
                    f.push(Field::new(
                        "address",
                        32,
                        address_bytes
                            .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                            .or(template.then_some(0)),
                    ));
                }
                if let Some(p) = port {
                    f.push(Field::new("port", 16, Some(u64::from(*p))));
                }
                match hmac {
                    AddAddrHmac::Echo | AddAddrHmac::None => {}
                    AddAddrHmac::Value(v) => f.push(Field::new("hmac", 64, Some(*v))),
                    AddAddrHmac::Auto if template => f.push(Field::new("hmac", 64, Some(0))),
                    AddAddrHmac::Auto => {
                        let (kernel, peer) = self.keys()?;
                        let (first, second) = if inbound {
                            (peer, kernel)
                        } else {
                            (kernel, peer)
                        };
                        let id = id.or_else(|| live_number("address_id"));
                        let value = match (id, resolved) {
                            (Some(id), Some(a)) => Some(layout::add_addr_hmac(
                                first,
                                second,
                                id as u8,
                                a,
                                port.unwrap_or(0),
                            )),
                            _ => None,
                        };
                        f.push(Field::new("hmac", 64, value));
                    }
                }
            }
            MptcpOption::RemoveAddress { ids } => {
                f[0] = sub(u64::from(subtype::REMOVE_ADDR));
                f.push(Field::new("reserved", 4, Some(0)));
                for id in ids {
                    f.push(Field::new("address_id", 8, Some(u64::from(*id))));
                }
            }
            MptcpOption::Prio { backup, address_id } => {
                f[0] = sub(u64::from(subtype::MP_PRIO));
                f.push(Field::new("reserved", 3, Some(0)));
                f.push(Field::new("backup", 1, Some(u64::from(*backup))));
                if let Some(id) = address_id {
                    f.push(Field::new("address_id", 8, Some(u64::from(*id))));
                }
            }
            MptcpOption::Fail { dsn } => {
                f[0] = sub(u64::from(subtype::MP_FAIL));
                f.push(Field::new("reserved", 12, Some(0)));
                let value = match side {
                    Side::Inbound { .. } => Some(self.peer_idsn()?.wrapping_add(dsn.unwrap_or(0))),
                    Side::Template => Some(dsn.unwrap_or(0)),
                    Side::Outbound { .. } => *dsn,
                };
                f.push(Field::new("dsn8", 64, value));
            }
            MptcpOption::FastClose { key } => {
                f[0] = sub(u64::from(subtype::MP_FASTCLOSE));
                f.push(Field::new("reserved", 12, Some(0)));
                let value = match (key, side) {
                    (_, Side::Template) => Some(0),
                    (Some(var), _) => self.bind_key(var, live_number("receiver key"), inbound),
                    (None, Side::Inbound { .. }) => Some(self.keys()?.0),
                    (None, _) => None,
                };
                f.push(Field::new("receiver key", 64, value));
            }
            MptcpOption::Reset { reason, transient } => {
                f[0] = sub(u64::from(subtype::MP_TCPRST));
                f.push(Field::new("flags", 3, Some(0)));
                f.push(Field::new("transient", 1, Some(u64::from(*transient))));
                f.push(Field::new("reason", 8, Some(u64::from(*reason))));
            }
        }
        Ok(f)
    }

    /// The nonce of an MP_JOIN SYN or SYN/ACK: the peer's (given or random) inbound, expected
    /// (if given) and learned from the live option outbound.
    fn join_nonce(&mut self, given: Option<u32>, inbound: bool, live: Option<u64>) -> Option<u32> {
        if inbound {
            let n = given.unwrap_or_else(|| random_u64() as u32);
            self.peer_nonce = Some(n);
            return Some(n);
        }
        if let Some(n) = live {
            self.kernel_nonce = Some(n as u32);
        }
        given
    }

    /// MP_JOIN's HMAC as the sender computes it (the stack when outbound, the peer inbound).
    fn join_hmac(&self, hmac: &MptcpHmac, inbound: bool) -> Result<Option<[u8; 32]>, String> {
        let nonces = || match (self.kernel_nonce, self.peer_nonce) {
            (Some(k), Some(p)) => Ok(if inbound { (p, k) } else { (k, p) }),
            _ => Err("MP_JOIN nonces not known yet (no MP_JOIN SYN seen)".to_string()),
        };
        Ok(match hmac {
            MptcpHmac::Value(v) => {
                let mut out = [0u8; 32];
                out[..8].copy_from_slice(&v.to_be_bytes());
                Some(out)
            }
            MptcpHmac::Auto => {
                let (kernel, peer) = self.keys()?;
                let (first, second) = if inbound {
                    (peer, kernel)
                } else {
                    (kernel, peer)
                };
                let (n1, n2) = nonces()?;
                Some(layout::join_hmac(first, second, n1, n2))
            }
            MptcpHmac::OfKeys { first, second } => {
                let (n1, n2) = nonces()?;
                Some(layout::join_hmac(
                    self.key(first)?,
                    self.key(second)?,
                    n1,
                    n2,
                ))
            }
        })
    }

    /// The inbound packet with its MPTCP options as bytes; Err names what is missing.
    pub fn resolve_inbound(
        &mut self,
        packet: &Packet,
        remote_ip: IpAddr,
        ipv6: bool,
    ) -> Result<Packet, String> {
        let options = script_options(packet);
        if options.is_empty() {
            return Ok(packet.clone());
        }
        let PacketBody::Tcp(tcp) = &packet.body else {
            return Ok(packet.clone());
        };
        let relative_seq = match tcp.sequence {
            TcpSequence::Range { start, .. } => start,
            TcpSequence::Ignored { .. } => 0,
        };
        let side = Side::Inbound {
            payload_len: tcp.sequence.payload_len(),
            relative_seq,
            remote_ip,
        };
        let mut bytes = Vec::new();
        for option in options {
            let fields = self
                .fields(option, side, ipv6)
                .map_err(|e| format!("{}: {e}", option.name()))?;
            bytes.push(layout::encode(&fields));
        }
        let resolved = with_option_bytes(packet, bytes);
        if let PacketBody::Tcp(tcp) = &resolved.body {
            if let TcpOptions::List(list) = &tcp.options {
                let values: Vec<TcpOption> = list.iter().map(|o| o.value.clone()).collect();
                let raw = super::packets::encode_options(&values, &|x| x, &mut Ok)?;
                let len = crate::wire::join_tcp_options(&raw).len();
                if len > 40 {
                    return Err(format!(
                        "TCP options too long once the MPTCP values are known: {len} bytes (at most 40; an IPv6 address in ADD_ADDR takes 12 more bytes than an IPv4 one)"
                    ));
                }
            }
        }
        Ok(resolved)
    }

    /// Compares the MPTCP options of an outbound packet with the live one's, learning keys,
    /// nonces and addresses as it goes. Returns the script packet with the live option bytes
    /// in place of its MPTCP options (for the TCP-level comparison) and every MPTCP field
    /// that differs, in script space.
    pub fn check_outbound(
        &mut self,
        packet: &Packet,
        live: &PacketRepr,
        ipv6: bool,
    ) -> (Packet, Vec<Difference>) {
        let options = script_options(packet);
        let mut differences = Vec::new();
        if options.is_empty() {
            return (packet.clone(), differences);
        }
        let live_options: Vec<Vec<u8>> = match &live.l4 {
            L4Repr::Tcp(t) => split_tcp_options(&t.options)
                .map(|opts| {
                    opts.into_iter()
                        .filter(|o| o.kind == MPTCP_KIND)
                        .map(|o| o.data)
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut bytes = Vec::new();
        for (i, option) in options.iter().enumerate() {
            let Some(live_data) = live_options.get(i) else {
                bytes.push(template(option));
                continue;
            };
            bytes.push(live_data.clone());
            let prefix = format!("mptcp {}", option.name());
            let live_fields = match layout::decode(live_data) {
                Ok(f) => f,
                Err(e) => {
                    differences.push(Difference::new(format!("{prefix} layout"), "RFC 8684", e));
                    continue;
                }
            };
            let expected = match self.fields(option, Side::Outbound { live: &live_fields }, ipv6) {
                Ok(f) => f,
                Err(e) => {
                    differences.push(Difference::new(prefix, "computable", e));
                    continue;
                }
            };
            let shape = |f: &[Field]| f.iter().map(|x| (x.name, x.bits)).collect::<Vec<_>>();
            if shape(&expected) != shape(&live_fields) {
                let names = |f: &[Field]| {
                    let len: u16 = f.iter().map(|x| x.bits).sum::<u16>() / 8 + 2;
                    let sub = match f.first().and_then(|x| x.value.clone()) {
                        Some(Value::Number(n)) => layout::subtype_name(n as u8),
                        _ => "?",
                    };
                    format!(
                        "{sub} ({len} bytes: {})",
                        f.iter()
                            .skip(1)
                            .filter(|x| x.name != "reserved" && !x.name.ends_with(" flag"))
                            .map(|x| x.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                differences.push(Difference::new(
                    format!("{prefix} layout"),
                    names(&expected),
                    names(&live_fields),
                ));
                continue;
            }
            for (e, a) in expected.iter().zip(&live_fields) {
                let Some(want) = &e.value else { continue };
                let actual = match (e.name, &a.value) {
                    // Data sequence numbers compare relative to their sender's IDSN.
                    ("dack4" | "dack8", Some(Value::Number(n))) => match self.peer_idsn() {
                        Ok(base) => Value::Number(mask(n.wrapping_sub(base), e.name == "dack8")),
                        Err(_) => Value::Number(*n),
                    },
                    ("dsn4" | "dsn8", Some(Value::Number(n))) => match self.kernel_idsn() {
                        Ok(base) => Value::Number(mask(n.wrapping_sub(base), e.name == "dsn8")),
                        Err(_) => Value::Number(*n),
                    },
                    (_, Some(v)) => v.clone(),
                    (_, None) => continue,
                };
                if *want != actual {
                    differences.push(Difference::new(
                        format!("{prefix} {}", e.name),
                        want,
                        actual,
                    ));
                }
            }
        }
        (with_option_bytes(packet, bytes), differences)
    }

    /// The live packet with the data sequence numbers of its MPTCP options made relative to
    /// their sender's IDSN, as scripts write them (for "actual packet:" lines).
    pub fn script_space(&self, live: &PacketRepr) -> PacketRepr {
        let mut out = live.clone();
        let (Ok(kernel), Ok(peer)) = (self.kernel_idsn(), self.peer_idsn()) else {
            return out;
        };
        let L4Repr::Tcp(tcp) = &mut out.l4 else {
            return out;
        };
        let Ok(mut options) = split_tcp_options(&tcp.options) else {
            return out;
        };
        for option in options.iter_mut().filter(|o| o.kind == MPTCP_KIND) {
            let Ok(mut fields) = layout::decode(&option.data) else {
                continue;
            };
            for field in &mut fields {
                let base = match field.name {
                    "dack4" | "dack8" => peer,
                    "dsn4" | "dsn8" => kernel,
                    _ => continue,
                };
                if let Some(Value::Number(n)) = field.value {
                    field.value = Some(Value::Number(mask(n.wrapping_sub(base), field.bits == 64)));
                }
            }
            option.data = layout::encode(&fields);
        }
        tcp.options = crate::wire::join_tcp_options(&options);
        out
    }

    /// Whether the script has named subflow ends (its packets then go between their subflow's
    /// own addresses).
    pub fn names_subflows(&self) -> bool {
        self.subflows_named
    }

    /// The addresses a packet's `addr[A] > addr[B]` names, as (source, destination); None
    /// without a tuple. The first tuple's names are the run's own two ends; later, a name is
    /// what it was bound to (here or by an ADD_ADDR), and an unbound inbound source is a new
    /// address of the peer (the run's remote address plus one, two, …).
    pub fn subflow_ips(
        &mut self,
        packet: &Packet,
        inbound: bool,
        local_ip: IpAddr,
        remote_ip: IpAddr,
    ) -> Result<Option<(Option<IpAddr>, IpAddr)>, String> {
        let PacketBody::Tcp(tcp) = &packet.body else {
            return Ok(None);
        };
        let Some(tuple) = &tcp.subflow else {
            return Ok(None);
        };
        let (own_source, own_destination) = if inbound {
            (remote_ip, local_ip)
        } else {
            (local_ip, remote_ip)
        };
        if !self.subflows_named {
            self.subflows_named = true;
            if let Some(source) = &tuple.source {
                self.addresses.entry(source.clone()).or_insert(own_source);
            }
            self.addresses
                .entry(tuple.destination.clone())
                .or_insert(own_destination);
        }
        let source = match &tuple.source {
            None => None,
            Some(name) => Some(match self.addresses.get(name) {
                Some(ip) => *ip,
                None if inbound => {
                    let ip = self.new_peer_address(remote_ip);
                    self.addresses.insert(name.clone(), ip);
                    ip
                }
                None => {
                    return Err(format!(
                        "not supported yet: a subflow the stack opens from a new address (addr[{name}])"
                    ))
                }
            }),
        };
        let destination = match self.addresses.get(&tuple.destination) {
            Some(ip) => *ip,
            None if inbound => {
                return Err(format!(
                    "addr[{}] has no address yet (no ADD_ADDR or earlier packet named it)",
                    tuple.destination
                ))
            }
            None => {
                return Err(format!(
                    "not supported yet: a subflow the stack opens to a new address (addr[{}])",
                    tuple.destination
                ))
            }
        };
        Ok(Some((source, destination)))
    }
}

/// The first difference as a packet mismatch (`live packet field mptcp dss dack8: …`).
pub fn mismatch(difference: &Difference) -> PacketMismatch {
    PacketMismatch::FieldText {
        name: difference.field.clone(),
        expected: difference.expected.clone(),
        actual: difference.actual.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ast::Action;
    use crate::wire::{IpRepr, RawTcpOption, TcpRepr};

    fn packets(text: &str) -> Vec<Packet> {
        crate::script::parse_source("t.pkt", text, &Default::default())
            .unwrap()
            .events
            .into_iter()
            .filter_map(|e| match e.action {
                Action::Packet(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    /// A live segment from the stack carrying one MPTCP option.
    fn live_with(option: Vec<u8>) -> PacketRepr {
        let options = crate::wire::join_tcp_options(&[RawTcpOption {
            kind: MPTCP_KIND,
            data: option,
        }]);
        PacketRepr {
            ip: IpRepr::new("192.168.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap()),
            l4: L4Repr::Tcp(TcpRepr {
                src_port: 8080,
                dst_port: 40000,
                seq: 1,
                ack: 1,
                flags: crate::wire::tcp_flags::SYN | crate::wire::tcp_flags::ACK,
                window: 1000,
                urgent: 0,
                options,
                header_len: 0,
                reserved: 0,
                checksum_ok: true,
            }),
            payload: vec![],
        }
    }

    fn option_bytes(packet: &Packet) -> Vec<u8> {
        let PacketBody::Tcp(tcp) = &packet.body else {
            panic!("tcp")
        };
        let TcpOptions::List(list) = &tcp.options else {
            panic!("options")
        };
        list.iter()
            .find_map(|o| match &o.value {
                TcpOption::Generic { kind: 30, data, .. } => Some(data.clone()),
                _ => None,
            })
            .unwrap()
    }

    const SCRIPT: &str = "\
0 socket(..., SOCK_STREAM, IPPROTO_MPTCP) = 3
+0 > S. 0:0(0) ack 1 <mpcapable v1 flags[flag_h] key[skey]>
+0 < . 1:1(0) ack 1 win 257 <mpcapable v1 flags[flag_h] key[ckey=2, skey]>
+0 < P. 1:11(10) ack 1 win 257 <dss dack8=1 dsn8=1 ssn=1 dll=10 nocs, nop, nop>
+0 > . 1:1(0) ack 11 <dss dack8=12 nocs>
";

    #[test]
    fn the_kernel_key_is_learned_and_data_numbers_count_from_each_idsn() {
        let p = packets(SCRIPT);
        let kernel_key = 0x0102_0304_0506_0708u64;
        let mut syn_ack = vec![0x01, 0x01];
        syn_ack.extend_from_slice(&kernel_key.to_be_bytes());
        let mut state = MptcpState::default();
        let (_, differences) = state.check_outbound(&p[0], &live_with(syn_ack), false);
        assert!(differences.is_empty(), "{differences:?}");

        // The third ACK carries the peer's key (2) then the learned one.
        let ack = state
            .resolve_inbound(&p[1], "192.0.2.1".parse().unwrap(), false)
            .unwrap();
        let mut expected = vec![0x01, 0x01];
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(&kernel_key.to_be_bytes());
        assert_eq!(option_bytes(&ack), expected);

        // Data: DATA_ACK = the kernel's IDSN + 1, DSN = the peer's IDSN + 1.
        let data = state
            .resolve_inbound(&p[2], "192.0.2.1".parse().unwrap(), false)
            .unwrap();
        let bytes = option_bytes(&data);
        assert_eq!(&bytes[..2], &[0x20, 0x0f]);
        let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(word(2), layout::idsn(kernel_key).wrapping_add(1));
        assert_eq!(word(10), layout::idsn(2).wrapping_add(1));
        assert_eq!(&bytes[18..24], &[0, 0, 0, 1, 0, 10]);

        // The kernel acknowledges 11: the script's 12 is named as the MPTCP field, relative.
        let mut dack = vec![0x20, 0x03];
        dack.extend_from_slice(&layout::idsn(2).wrapping_add(11).to_be_bytes());
        let (_, differences) = state.check_outbound(&p[3], &live_with(dack), false);
        assert_eq!(
            differences,
            vec![Difference::new("mptcp dss dack8", 12, 11)]
        );
    }

    #[test]
    fn subflow_names_bind_to_the_run_then_to_new_peer_addresses() {
        let p = packets(
            "0 socket(..., SOCK_STREAM, IPPROTO_MPTCP) = 3\n\
             +0 < addr[c0] > addr[s0] S 0:0(0) win 1000\n\
             +0 < addr[c1] > addr[s0] S 0:0(0) win 1000\n\
             +0 < addr[c2] > addr[s9] S 0:0(0) win 1000\n",
        );
        let (local, remote): (IpAddr, IpAddr) =
            ("192.168.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap());
        let mut state = MptcpState::default();
        let first = state.subflow_ips(&p[0], true, local, remote).unwrap();
        assert_eq!(first, Some((Some(remote), local)));
        let second = state.subflow_ips(&p[1], true, local, remote).unwrap();
        assert_eq!(second, Some((Some("192.0.2.2".parse().unwrap()), local)));
        let error = state.subflow_ips(&p[2], true, local, remote).unwrap_err();
        assert!(error.contains("addr[s9] has no address yet"), "{error}");
    }

    #[test]
    fn an_inbound_dss_before_the_keys_is_refused_with_a_reason() {
        let p = packets(SCRIPT);
        let mut state = MptcpState::default();
        let error = state
            .resolve_inbound(&p[2], "192.0.2.1".parse().unwrap(), false)
            .unwrap_err();
        assert!(error.contains("MPTCP keys not known yet"), "{error}");
    }
}
