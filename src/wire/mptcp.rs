//! The MPTCP option (TCP option kind 30) as values: its fields in RFC 8684's layouts, packed
//! into option bytes and read back out of them, plus the hashes its values come from (tokens,
//! initial data sequence numbers, HMACs, the DSS checksum).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Subtype numbers (RFC 8684 §3, IANA "MPTCP Option Subtypes").
pub mod subtype {
    pub const MP_CAPABLE: u8 = 0;
    pub const MP_JOIN: u8 = 1;
    pub const DSS: u8 = 2;
    pub const ADD_ADDR: u8 = 3;
    pub const REMOVE_ADDR: u8 = 4;
    pub const MP_PRIO: u8 = 5;
    pub const MP_FAIL: u8 = 6;
    pub const MP_FASTCLOSE: u8 = 7;
    pub const MP_TCPRST: u8 = 8;
}

/// The script's name of a subtype.
pub fn subtype_name(subtype: u8) -> &'static str {
    match subtype {
        subtype::MP_CAPABLE => "mpcapable",
        subtype::MP_JOIN => "mp_join",
        subtype::DSS => "dss",
        subtype::ADD_ADDR => "add_address",
        subtype::REMOVE_ADDR => "remove_address",
        subtype::MP_PRIO => "mp_prio",
        subtype::MP_FAIL => "mp_fail",
        subtype::MP_FASTCLOSE => "mp_fastclose",
        subtype::MP_TCPRST => "mp_reset",
        _ => "unknown",
    }
}

/// A field's value: a number, or bytes for fields wider than 64 bits (IPv6 addresses,
/// MP_JOIN's 160-bit HMAC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Number(u64),
    Bytes(Vec<u8>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Number(n) => write!(f, "{n}"),
            Value::Bytes(b) => {
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// One field of an option, in wire order; `value` None where a script leaves it open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub bits: u16,
    pub value: Option<Value>,
}

impl Field {
    pub fn new(name: &'static str, bits: u16, value: Option<u64>) -> Self {
        Field {
            name,
            bits,
            value: value.map(Value::Number),
        }
    }

    pub fn bytes(name: &'static str, bits: u16, value: Option<Vec<u8>>) -> Self {
        Field {
            name,
            bits,
            value: value.map(Value::Bytes),
        }
    }
}

/// Packs fields (every value given; a missing one is zero) into option data (after the kind
/// and length bytes).
pub fn encode(fields: &[Field]) -> Vec<u8> {
    let total_bits: usize = fields.iter().map(|f| usize::from(f.bits)).sum();
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    let mut bit = 0usize;
    for field in fields {
        let bits = usize::from(field.bits);
        match &field.value {
            Some(Value::Bytes(bytes)) => {
                // Wide fields are byte-aligned in every MPTCP layout.
                let start = bit / 8;
                let len = bits / 8;
                let take = bytes.len().min(len);
                out[start + len - take..start + len].copy_from_slice(&bytes[bytes.len() - take..]);
            }
            value => {
                let n = match value {
                    Some(Value::Number(n)) => *n,
                    _ => 0,
                };
                for i in 0..bits {
                    if bits - 1 - i < 64 && (n >> (bits - 1 - i)) & 1 == 1 {
                        let at = bit + i;
                        out[at / 8] |= 0x80 >> (at % 8);
                    }
                }
            }
        }
        bit += bits;
    }
    out
}

/// Reads option data back into fields of `layout` (names and widths).
fn unpack(data: &[u8], layout: &[(&'static str, u16)]) -> Vec<Field> {
    let mut bit = 0usize;
    let mut out = Vec::new();
    for &(name, bits) in layout {
        let width = usize::from(bits);
        let value = if width > 64 {
            Value::Bytes(data[bit / 8..(bit + width) / 8].to_vec())
        } else {
            let mut n = 0u64;
            for i in 0..width {
                let at = bit + i;
                n = (n << 1) | u64::from((data[at / 8] >> (7 - at % 8)) & 1);
            }
            Value::Number(n)
        };
        out.push(Field {
            name,
            bits,
            value: Some(value),
        });
        bit += width;
    }
    out
}

/// The layout of an option whose data (after kind and length) is `data`: RFC 8684's field
/// names and widths, chosen by subtype, length and flags. Err for a length no layout has.
pub fn layout(data: &[u8]) -> Result<Vec<(&'static str, u16)>, String> {
    let Some(&first) = data.first() else {
        return Err("MPTCP option without a subtype".into());
    };
    let len = data.len() + 2;
    let sub = first >> 4;
    let bad = || {
        Err(format!(
            "{} option of length {len} has no RFC 8684 layout",
            subtype_name(sub)
        ))
    };
    let mut fields: Vec<(&'static str, u16)> = vec![("subtype", 4)];
    match sub {
        subtype::MP_CAPABLE => {
            fields.extend([("version", 4), ("flags", 8)]);
            match len {
                4 => {}
                12 => fields.push(("sender key", 64)),
                20 | 22 | 24 => {
                    fields.extend([("sender key", 64), ("receiver key", 64)]);
                    if len >= 22 {
                        fields.push(("data-level length", 16));
                    }
                    if len == 24 {
                        fields.push(("checksum", 16));
                    }
                }
                _ => return bad(),
            }
        }
        subtype::MP_JOIN => match len {
            12 => fields.extend([
                ("reserved", 3),
                ("backup", 1),
                ("address_id", 8),
                ("token", 32),
                ("rand", 32),
            ]),
            16 => fields.extend([
                ("reserved", 3),
                ("backup", 1),
                ("address_id", 8),
                ("sender_hmac", 64),
                ("rand", 32),
            ]),
            24 => fields.extend([("reserved", 12), ("sender_hmac", 160)]),
            _ => return bad(),
        },
        subtype::DSS => {
            if data.len() < 2 {
                return bad();
            }
            let flags = data[1];
            fields.extend([
                ("reserved", 7),
                ("fin", 1),
                ("dsn8 flag", 1),
                ("dsn flag", 1),
                ("dack8 flag", 1),
                ("dack flag", 1),
            ]);
            let mut used = 4;
            if flags & 0x01 != 0 {
                if flags & 0x02 != 0 {
                    fields.push(("dack8", 64));
                    used += 8;
                } else {
                    fields.push(("dack4", 32));
                    used += 4;
                }
            }
            if flags & 0x04 != 0 {
                if flags & 0x08 != 0 {
                    fields.push(("dsn8", 64));
                    used += 8;
                } else {
                    fields.push(("dsn4", 32));
                    used += 4;
                }
                fields.extend([("ssn", 32), ("dll", 16)]);
                used += 6;
                if len == used + 2 {
                    fields.push(("checksum", 16));
                    used += 2;
                }
            }
            if len != used {
                return bad();
            }
        }
        subtype::ADD_ADDR => {
            fields.extend([("reserved", 3), ("echo", 1), ("address_id", 8)]);
            let (address_bits, rest) = match len {
                8 | 10 | 16 | 18 => (32, len - 8),
                20 | 22 | 28 | 30 => (128, len - 20),
                _ => return bad(),
            };
            fields.push(("address", address_bits));
            if rest == 2 || rest == 10 {
                fields.push(("port", 16));
            }
            if rest >= 8 {
                fields.push(("hmac", 64));
            }
        }
        subtype::REMOVE_ADDR => {
            if len < 4 {
                return bad();
            }
            fields.push(("reserved", 4));
            fields.extend(std::iter::repeat_n(("address_id", 8), len - 3));
        }
        subtype::MP_PRIO => {
            fields.extend([("reserved", 3), ("backup", 1)]);
            match len {
                3 => {}
                4 => fields.push(("address_id", 8)),
                _ => return bad(),
            }
        }
        subtype::MP_FAIL if len == 12 => fields.extend([("reserved", 12), ("dsn8", 64)]),
        subtype::MP_FASTCLOSE if len == 12 => {
            fields.extend([("reserved", 12), ("receiver key", 64)])
        }
        subtype::MP_TCPRST if len == 4 => {
            fields.extend([("flags", 3), ("transient", 1), ("reason", 8)])
        }
        _ => return bad(),
    }
    Ok(fields)
}

/// The fields of an option's data.
pub fn decode(data: &[u8]) -> Result<Vec<Field>, String> {
    Ok(unpack(data, &layout(data)?))
}

/// An option in the fork's script syntax with raw (live) numbers, for "actual packet:" lines.
pub fn describe(data: &[u8]) -> String {
    let Ok(fields) = decode(data) else {
        let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
        return format!("mptcp {hex}");
    };
    let sub = data[0] >> 4;
    let value = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .and_then(|f| f.value.clone())
    };
    let number = |name: &str| match value(name) {
        Some(Value::Number(n)) => Some(n),
        _ => None,
    };
    let mut parts: Vec<String> = vec![subtype_name(sub).to_string()];
    match sub {
        subtype::MP_CAPABLE => {
            parts.push(format!("v{}", number("version").unwrap_or(0)));
            parts.push(format!("flags 0x{:x}", number("flags").unwrap_or(0)));
            let keys: Vec<String> = ["sender key", "receiver key"]
                .iter()
                .filter_map(|k| number(k).map(|n| format!("0x{n:016x}")))
                .collect();
            parts.push(if keys.is_empty() {
                "nokey".into()
            } else {
                format!("key[{}]", keys.join(", "))
            });
            if let Some(n) = number("data-level length") {
                parts.push(format!("mpcdatalen {n}"));
            }
        }
        subtype::MP_JOIN => {
            let len = data.len() + 2;
            parts[0] = match len {
                12 => "mp_join_syn",
                16 => "mp_join_syn_ack",
                _ => "mp_join_ack",
            }
            .into();
            if len != 24 {
                parts.push(format!("backup={}", number("backup").unwrap_or(0)));
                parts.push(format!("address_id={}", number("address_id").unwrap_or(0)));
            }
            if let Some(token) = number("token") {
                parts.push(format!("token={token}"));
            }
            if let Some(hmac) = value("sender_hmac") {
                parts.push(format!("sender_hmac={hmac}"));
            }
            if let Some(nonce) = number("rand") {
                parts.push(format!("rand={nonce}"));
            }
        }
        _ => {
            for field in &fields {
                if field.name == "subtype"
                    || field.name == "reserved"
                    || field.name.ends_with(" flag")
                {
                    continue;
                }
                match (field.name, &field.value) {
                    ("fin", Some(Value::Number(1))) => parts.push("fin".into()),
                    ("fin", _) => {}
                    ("address", Some(Value::Bytes(b))) if b.len() == 4 => parts.push(format!(
                        "addr[{}]",
                        std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])
                    )),
                    ("address", Some(Value::Number(n))) => {
                        parts.push(format!("addr[{}]", std::net::Ipv4Addr::from(*n as u32)))
                    }
                    ("address", Some(Value::Bytes(b))) if b.len() == 16 => {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(b);
                        parts.push(format!("addr[{}]", std::net::Ipv6Addr::from(octets)));
                    }
                    (name, Some(v)) => parts.push(format!("{}={v}", name.replace(' ', "_"))),
                    (_, None) => {}
                }
            }
        }
    }
    parts.join(" ")
}

fn sha256_of_key(key: u64) -> [u8; 32] {
    Sha256::digest(key.to_be_bytes()).into()
}

/// The token of a key: the most significant 32 bits of SHA-256 of the key (RFC 8684 §3.1).
pub fn token(key: u64) -> u32 {
    let h = sha256_of_key(key);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// The initial data sequence number of a key: the least significant 64 bits of SHA-256.
pub fn idsn(key: u64) -> u64 {
    let h = sha256_of_key(key);
    u64::from_be_bytes(h[24..32].try_into().expect("8 bytes"))
}

/// HMAC-SHA256 keyed by the two keys (the sender's first), over `message` (RFC 8684 §3.2).
pub fn hmac(first_key: u64, second_key: u64, message: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&first_key.to_be_bytes());
    key[8..].copy_from_slice(&second_key.to_be_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// MP_JOIN's HMAC over the two nonces (the sender's first).
pub fn join_hmac(
    sender_key: u64,
    receiver_key: u64,
    sender_nonce: u32,
    receiver_nonce: u32,
) -> [u8; 32] {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&sender_nonce.to_be_bytes());
    message[4..].copy_from_slice(&receiver_nonce.to_be_bytes());
    hmac(sender_key, receiver_key, &message)
}

/// ADD_ADDR's truncated HMAC: the rightmost 64 bits of the HMAC over address ID, address and
/// port (0 when the option carries none) (RFC 8684 §3.4.1).
pub fn add_addr_hmac(
    sender_key: u64,
    receiver_key: u64,
    address_id: u8,
    address: std::net::IpAddr,
    port: u16,
) -> u64 {
    let mut message = vec![address_id];
    match address {
        std::net::IpAddr::V4(a) => message.extend_from_slice(&a.octets()),
        std::net::IpAddr::V6(a) => message.extend_from_slice(&a.octets()),
    }
    message.extend_from_slice(&port.to_be_bytes());
    let h = hmac(sender_key, receiver_key, &message);
    u64::from_be_bytes(h[24..32].try_into().expect("8 bytes"))
}

/// The DSS checksum over the mapping's pseudo-header and an all-zero payload (scripts' payloads
/// are zero bytes, which add nothing to a ones' complement sum) (RFC 8684 §3.3.1).
pub fn dss_checksum(dsn: u64, ssn: u32, data_len: u16) -> u16 {
    let mut header = Vec::with_capacity(16);
    header.extend_from_slice(&dsn.to_be_bytes());
    header.extend_from_slice(&ssn.to_be_bytes());
    header.extend_from_slice(&data_len.to_be_bytes());
    header.extend_from_slice(&[0, 0]);
    let mut sum = 0u32;
    for pair in header.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dss_with_data_ack_and_mapping_round_trips() {
        let fields = vec![
            Field::new("subtype", 4, Some(2)),
            Field::new("reserved", 7, Some(0)),
            Field::new("fin", 1, Some(0)),
            Field::new("dsn8 flag", 1, Some(1)),
            Field::new("dsn flag", 1, Some(1)),
            Field::new("dack8 flag", 1, Some(0)),
            Field::new("dack flag", 1, Some(1)),
            Field::new("dack4", 32, Some(7)),
            Field::new("dsn8", 64, Some(0x0102_0304_0506_0708)),
            Field::new("ssn", 32, Some(1)),
            Field::new("dll", 16, Some(1000)),
        ];
        let data = encode(&fields);
        assert_eq!(data.len() + 2, 22);
        assert_eq!(&data[..2], &[0x20, 0x0d]); // m, M and A set
        assert_eq!(decode(&data).unwrap(), fields);
        assert_eq!(
            describe(&data),
            "dss dack4=7 dsn8=72623859790382856 ssn=1 dll=1000"
        );
    }

    #[test]
    fn token_and_idsn_are_the_two_ends_of_sha256() {
        // SHA-256 of eight zero bytes: af5570f5a1810b7a … e5b2328de0e83dfc.
        assert_eq!(token(0), 0xaf55_70f5);
        assert_eq!(idsn(0), 0xe5b2_328d_e0e8_3dfc);
    }

    #[test]
    fn hmacs_key_with_the_senders_key_first() {
        // Reference values from Python's hmac module over the same bytes: key = 1 ‖ 2 (64 bits
        // each, network order); MP_JOIN message = nonces 3 ‖ 4; ADD_ADDR message = ID 1,
        // 192.0.2.2, port 0.
        let join = join_hmac(1, 2, 3, 4);
        assert_eq!(&join[..8], &0xe5c5_265e_f877_e594u64.to_be_bytes());
        assert_eq!(join[31], 0xdf);
        let address = std::net::IpAddr::from([192, 0, 2, 2]);
        assert_eq!(add_addr_hmac(1, 2, 1, address, 0), 0xa67d_c78c_cb23_08eb);
        assert_eq!(token(2), 0xcd04_a475);
    }

    #[test]
    fn lengths_without_a_layout_are_refused() {
        assert!(layout(&[0x00, 0x81, 0, 0, 0]).is_err());
        assert!(layout(&[0x20, 0x01]).is_err());
    }
}
