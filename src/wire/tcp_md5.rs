//! The TCP MD5 signature option (RFC 2385, kind 19): the digest of a segment under a key, and
//! signing a segment whose option list already holds a kind-19 option of 16 digest bytes.
//!
//! The digest covers, in this order: the pseudo-header (IPv4: addresses, a zero byte, the
//! protocol and the segment length; IPv6: RFC 2460's, as Linux and FreeBSD sign it), the
//! 20-byte fixed TCP header with its checksum zeroed (options excluded, data offset as sent),
//! the payload, then the key.

use std::net::IpAddr;

use md5::{Digest, Md5};

use super::{split_tcp_options, TcpRepr, PROTO_TCP};

/// TCP option kind of the MD5 signature.
pub const KIND: u8 = 19;
/// Bytes of the digest the option carries.
pub const DIGEST_LEN: usize = 16;
/// Longest key Linux and FreeBSD take (`TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_KEY_LEN: usize = 80;

/// An MD5 option with a zero digest after two NOPs (4-byte aligned, the layout Linux sends), for
/// [`sign`] to fill in.
pub fn unsigned_option() -> Vec<u8> {
    let mut option = vec![1, 1, KIND, 2 + DIGEST_LEN as u8];
    option.extend([0; DIGEST_LEN]);
    option
}

/// The RFC 2385 digest of `tcp` + `payload` between `src` and `dst` under `key`.
pub fn digest(src: IpAddr, dst: IpAddr, tcp: &TcpRepr, payload: &[u8], key: &[u8]) -> [u8; 16] {
    // Encoded segments leave `header_len` 0 (the encoder derives it from the options); decoded
    // ones carry the data offset they arrived with.
    let header_len = if tcp.header_len == 0 {
        20 + tcp.options.len()
    } else {
        tcp.header_len
    };
    let segment_len = header_len + payload.len();
    let mut md5 = Md5::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            md5.update(s.octets());
            md5.update(d.octets());
            md5.update([0, PROTO_TCP]);
            md5.update((segment_len as u16).to_be_bytes());
        }
        _ => {
            md5.update(v6_octets(src));
            md5.update(v6_octets(dst));
            md5.update((segment_len as u32).to_be_bytes());
            md5.update([0, 0, 0, PROTO_TCP]);
        }
    }
    let mut header = [0u8; 20];
    header[0..2].copy_from_slice(&tcp.src_port.to_be_bytes());
    header[2..4].copy_from_slice(&tcp.dst_port.to_be_bytes());
    header[4..8].copy_from_slice(&tcp.seq.to_be_bytes());
    header[8..12].copy_from_slice(&tcp.ack.to_be_bytes());
    // Data offset, the three reserved bits, AE; then the eight flags.
    header[12] =
        ((header_len / 4) as u8) << 4 | (tcp.reserved & 7) << 1 | (tcp.flags >> 8) as u8 & 1;
    header[13] = tcp.flags as u8;
    header[14..16].copy_from_slice(&tcp.window.to_be_bytes());
    // 16..18: the checksum, zero.
    header[18..20].copy_from_slice(&tcp.urgent.to_be_bytes());
    md5.update(header);
    md5.update(payload);
    md5.update(key);
    md5.finalize().into()
}

fn v6_octets(address: IpAddr) -> [u8; 16] {
    match address {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// Byte offset, within `options`, of the digest of the first kind-19 option of full length.
fn digest_offset(options: &[u8]) -> Option<usize> {
    let mut at = 0;
    for option in split_tcp_options(options).ok()? {
        let len = if option.kind > 1 {
            option.data.len() + 2
        } else {
            1
        };
        if option.kind == KIND && option.data.len() == DIGEST_LEN {
            return Some(at + 2);
        }
        at += len;
    }
    None
}

/// The digest bytes `tcp` carries in its MD5 option, if it has one of full length.
pub fn carried(tcp: &TcpRepr) -> Option<&[u8]> {
    let at = digest_offset(&tcp.options)?;
    Some(&tcp.options[at..at + DIGEST_LEN])
}

/// Writes the segment's digest into its MD5 option; `Err` when it has none of 16 bytes.
pub fn sign(
    src: IpAddr,
    dst: IpAddr,
    tcp: &mut TcpRepr,
    payload: &[u8],
    key: &[u8],
) -> Result<(), String> {
    let at =
        digest_offset(&tcp.options).ok_or("the segment has no 18-byte TCP MD5 option to sign")?;
    let digest = digest(src, dst, tcp, payload, key);
    tcp.options[at..at + DIGEST_LEN].copy_from_slice(&digest);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{decode, encode, IpRepr, L4Repr, PacketRepr};

    fn segment(options: Vec<u8>) -> TcpRepr {
        TcpRepr {
            src_port: 8080,
            dst_port: 40000,
            seq: 1000,
            ack: 2000,
            flags: crate::wire::tcp_flags::ACK | crate::wire::tcp_flags::PSH,
            window: 502,
            urgent: 0,
            options,
            header_len: 0,
            reserved: 0,
            checksum_ok: true,
        }
    }

    /// The digest written computed by hand from RFC 2385's list, independent of `digest()`.
    #[test]
    fn signs_as_rfc_2385_lists_the_inputs() {
        let (src, dst): (IpAddr, IpAddr) =
            ("192.168.0.1".parse().unwrap(), "192.0.2.1".parse().unwrap());
        let payload = b"hello";
        let mut tcp = segment(unsigned_option());
        sign(src, dst, &mut tcp, payload, b"secret").unwrap();
        let mut input = vec![192, 168, 0, 1, 192, 0, 2, 1, 0, 6, 0, 20 + 20 + 5];
        input.extend([0x1f, 0x90, 0x9c, 0x40, 0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0]);
        input.extend([(40 / 4) << 4, 0x18, 0x01, 0xf6, 0, 0, 0, 0]);
        input.extend(payload);
        input.extend(b"secret");
        let expected: [u8; 16] = Md5::digest(&input).into();
        assert_eq!(carried(&tcp), Some(&expected[..]));
    }

    /// A segment signed, encoded and decoded again verifies; changing the key, a header field
    /// or the payload changes the digest; the options themselves are not covered.
    #[test]
    fn decoded_segments_give_the_digest_they_were_signed_with() {
        for (src, dst) in [("192.168.0.1", "192.0.2.1"), ("fd3d::1", "2001:db8::1")] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut tcp = segment(unsigned_option());
            sign(src, dst, &mut tcp, b"abc", b"key").unwrap();
            let packet = PacketRepr {
                ip: IpRepr::new(src, dst),
                l4: L4Repr::Tcp(tcp),
                payload: b"abc".to_vec(),
            };
            let live = decode(&encode(&packet)).unwrap();
            let L4Repr::Tcp(live_tcp) = &live.l4 else {
                panic!("not TCP")
            };
            let signed = carried(live_tcp).unwrap();
            assert_eq!(signed, digest(src, dst, live_tcp, &live.payload, b"key"));
            assert_ne!(signed, digest(src, dst, live_tcp, &live.payload, b"kex"));
            assert_ne!(signed, digest(src, dst, live_tcp, b"abd", b"key"));
            let mut other = live_tcp.clone();
            other.window += 1;
            assert_ne!(signed, digest(src, dst, &other, &live.payload, b"key"));
            let mut reordered = live_tcp.clone();
            reordered.options.rotate_left(2);
            assert_eq!(signed, digest(src, dst, &reordered, &live.payload, b"key"));
        }
    }

    #[test]
    fn a_segment_without_a_full_md5_option_is_not_signed() {
        let mut tcp = segment(vec![1, 1, KIND, 6, 0, 0, 0, 0]);
        let error = sign(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            &mut tcp,
            b"",
            b"k",
        )
        .unwrap_err();
        assert!(error.contains("no 18-byte TCP MD5 option"), "{error}");
    }
}
