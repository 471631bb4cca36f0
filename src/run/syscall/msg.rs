//! Control messages: building them from the script (sendmsg, and the expected side of
//! recvmsg) and comparing what recvmsg returned with what the script expects.

use super::value::{bad_type, get_s32, get_s8, Value};
use crate::verdict::CallMismatch;

/// packetdrill's `MSGHDR_MAX_CONTROLLEN`: the control buffer allocated for a msghdr.
pub(crate) const MSGHDR_MAX_CONTROLLEN: usize = 2000;

/// `sizeof(struct cmsghdr)` (= CMSG_ALIGN of it) on LP64 Linux.
const CMSG_HDR: usize = std::mem::size_of::<libc::cmsghdr>();

fn cmsg_align(len: usize) -> usize {
    let align = std::mem::size_of::<usize>();
    (len + align - 1) & !(align - 1)
}

fn cmsg_space(len: usize) -> usize {
    CMSG_HDR + cmsg_align(len)
}

/// `sizeof(struct sock_extended_err)`.
const SOCK_EE_LEN: usize = 16;
/// `sizeof(struct scm_timestamping)`: three `struct timespec`.
const SCM_TIMESTAMPING_LEN: usize = 48;
/// `NLA_HDRLEN`.
const NLA_HDRLEN: usize = 4;
/// The value an ellipsis stands for in an opt-stats list (`OPT_NLA_IGNORE_VAL`, `~0U`).
const NLA_IGNORE: u64 = 0xffff_ffff;

fn nla_align(len: usize) -> usize {
    (len + 3) & !3
}

/// Name and value size of the `TCP_NLA_*` attributes packetdrill knows, by type.
const TCP_NLA: &[(&str, usize)] = &[
    ("TCP_NLA_PAD", 4),
    ("TCP_NLA_BUSY", 8),
    ("TCP_NLA_RWND_LIMITED", 8),
    ("TCP_NLA_SNDBUF_LIMITED", 8),
    ("TCP_NLA_DATA_SEGS_OUT", 8),
    ("TCP_NLA_TOTAL_RETRANS", 8),
    ("TCP_NLA_PACING_RATE", 8),
    ("TCP_NLA_DELIVERY_RATE", 8),
    ("TCP_NLA_SND_CWND", 4),
    ("TCP_NLA_REORDERING", 4),
    ("TCP_NLA_MIN_RTT", 4),
    ("TCP_NLA_RECUR_RETRANS", 1),
    ("TCP_NLA_DELIVERY_RATE_APP_LMT", 1),
    ("TCP_NLA_SNDQ_SIZE", 4),
    ("TCP_NLA_CA_STATE", 1),
    ("TCP_NLA_SND_SSTHRESH", 4),
    ("TCP_NLA_DELIVERED", 4),
    ("TCP_NLA_DELIVERED_CE", 4),
    ("TCP_NLA_BYTES_SENT", 8),
    ("TCP_NLA_BYTES_RETRANS", 8),
    ("TCP_NLA_DSACK_DUPS", 4),
    ("TCP_NLA_REORD_SEEN", 4),
    ("TCP_NLA_SRTT", 4),
];

const TCP_NLA_BUSY: u16 = 1;
const TCP_NLA_RWND_LIMITED: u16 = 2;
const TCP_NLA_SNDBUF_LIMITED: u16 = 3;

/// A control buffer of `MSGHDR_MAX_CONTROLLEN` bytes and the length the cmsgs in it use.
pub(crate) struct Control {
    pub buf: Vec<u8>,
    pub len: usize,
}

/// Builds the control messages of `msg_control=[…]` (packetdrill's `cmsg_new`).
pub(crate) fn build_control(list: &Value) -> Result<Control, String> {
    let Value::List(items) = list else {
        return Err(bad_type(list, "list"));
    };
    let mut buf = vec![0u8; MSGHDR_MAX_CONTROLLEN];
    let mut offset = 0usize;
    for item in items {
        let Value::Cmsg(cmsg) = item else {
            return Err(bad_type(item, "cmsg"));
        };
        let level = get_s32(&cmsg.level)?;
        let ty = get_s32(&cmsg.ty)?;
        let data = match &cmsg.data {
            Value::Int(_) => get_s32(&cmsg.data)?.to_ne_bytes().to_vec(),
            Value::ScmTimestamping { sec, nsec } => {
                let mut d = vec![0u8; SCM_TIMESTAMPING_LEN];
                d[0..8].copy_from_slice(&sec.to_ne_bytes());
                d[8..16].copy_from_slice(&nsec.to_ne_bytes());
                d
            }
            Value::List(stats) => nla_list(stats)?,
            Value::ExtendedErr(fields) => {
                let addr_len = if level == libc::SOL_IP {
                    std::mem::size_of::<libc::sockaddr_in>()
                } else {
                    std::mem::size_of::<libc::sockaddr_in6>()
                };
                let mut d = vec![0u8; SOCK_EE_LEN + addr_len];
                d[0..4].copy_from_slice(&get_s32(&fields[0])?.to_ne_bytes());
                d[4] = get_s8(&fields[1])?;
                d[5] = get_s8(&fields[2])?;
                d[6] = get_s8(&fields[3])?;
                d[8..12].copy_from_slice(&get_s32(&fields[4])?.to_ne_bytes());
                d[12..16].copy_from_slice(&get_s32(&fields[5])?.to_ne_bytes());
                d
            }
            _ => return Err("Unrecognized type for cmsg_data".to_string()),
        };
        let space = cmsg_space(data.len());
        if offset + space > MSGHDR_MAX_CONTROLLEN {
            return Err(format!(
                "control messages do not fit in {MSGHDR_MAX_CONTROLLEN} bytes"
            ));
        }
        let len = CMSG_HDR + data.len();
        buf[offset..offset + 8].copy_from_slice(&(len as u64).to_ne_bytes());
        buf[offset + 8..offset + 12].copy_from_slice(&level.to_ne_bytes());
        buf[offset + 12..offset + 16].copy_from_slice(&ty.to_ne_bytes());
        buf[offset + CMSG_HDR..offset + len].copy_from_slice(&data);
        offset += space;
    }
    Ok(Control { buf, len: offset })
}

/// `[TCP_NLA_X=v, …]` as netlink attributes (packetdrill's `nla_expr_list_to_nla`).
fn nla_list(items: &[Value]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for item in items {
        let Value::Binary { key, value } = item else {
            return Err(bad_type(item, "binary_expression"));
        };
        let value: u64 = match value.as_ref() {
            Value::Int(n) => *n as u64,
            Value::Ellipsis => NLA_IGNORE,
            _ => return Err("values must be numeric or ellipsis".to_string()),
        };
        let Some(&(_, size)) = usize::try_from(*key).ok().and_then(|k| TCP_NLA.get(k)) else {
            return Err(format!("bad NLA type {key}"));
        };
        match size {
            1 if value != NLA_IGNORE && value > u8::MAX as u64 => {
                return Err("out of bound u8 value specified".to_string())
            }
            4 if value > u32::MAX as u64 => {
                return Err("out of bound u32 value specified".to_string())
            }
            _ => {}
        }
        let attr_len = NLA_HDRLEN + size;
        out.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        out.extend_from_slice(&(*key as u16).to_ne_bytes());
        out.extend_from_slice(&value.to_le_bytes()[..size]);
        out.resize(out.len() + nla_align(attr_len) - attr_len, 0);
    }
    Ok(out)
}

/// Bounded little-endian reads (missing bytes read as 0).
fn read_le(buf: &[u8], offset: usize, size: usize) -> u64 {
    (0..size).rev().fold(0u64, |acc, i| {
        (acc << 8)
            | offset
                .checked_add(i)
                .and_then(|o| buf.get(o))
                .copied()
                .unwrap_or(0) as u64
    })
}

fn cmsg_len_at(buf: &[u8], offset: usize) -> usize {
    read_le(buf, offset, 8) as usize
}

/// `CMSG_FIRSTHDR`.
fn first(controllen: usize) -> Option<usize> {
    (controllen >= CMSG_HDR).then_some(0)
}

/// glibc's `CMSG_NXTHDR`.
fn next(buf: &[u8], controllen: usize, offset: usize) -> Option<usize> {
    let len = cmsg_len_at(buf, offset);
    if len < CMSG_HDR {
        return None;
    }
    let next = offset.checked_add(cmsg_align(len))?;
    if next.checked_add(CMSG_HDR)? > controllen {
        return None;
    }
    if next.checked_add(cmsg_align(cmsg_len_at(buf, next)))? > controllen {
        return None;
    }
    Some(next)
}

/// What cmsg comparisons need to know about the run.
pub(crate) struct CmsgCheck {
    pub script_start_usecs: i64,
    pub tolerance_usecs: i64,
}

/// Compares the cmsgs recvmsg returned with the expected ones (packetdrill's `cmsg_expect_eq`).
pub(crate) fn compare(
    expected: &Control,
    actual: &[u8],
    actual_len: usize,
    check: &CmsgCheck,
) -> Result<(), CallMismatch> {
    let actual_len = actual_len.min(actual.len());
    let mut e = first(expected.len);
    let mut a = first(actual_len);
    let mut i = 0usize;
    while let (Some(ao), Some(eo)) = (a, e) {
        let alen = cmsg_len_at(actual, ao);
        let elen = cmsg_len_at(&expected.buf, eo);
        if alen == 0 || elen == 0 {
            break;
        }
        let alevel = read_le(actual, ao + 8, 4) as i32;
        let elevel = read_le(&expected.buf, eo + 8, 4) as i32;
        let atype = read_le(actual, ao + 12, 4) as i32;
        let etype = read_le(&expected.buf, eo + 12, 4) as i32;
        if alevel != elevel {
            return Err(format!("Bad level in cmsg {i}: expected={elevel} actual={alevel}").into());
        }
        if atype != etype {
            return Err(format!("Bad type in cmsg {i}: expected={etype} actual={atype}").into());
        }
        if alen != elen {
            return Err(format!("Bad len in cmsg {i}: expected={elen} actual={alen}").into());
        }
        let data_len = alen.saturating_sub(CMSG_HDR);
        let adata = slice(actual, ao + CMSG_HDR, data_len);
        let edata = slice(&expected.buf, eo + CMSG_HDR, data_len);
        if (alevel == libc::SOL_IP && atype == libc::IP_RECVERR)
            || (alevel == libc::SOL_IPV6 && atype == libc::IPV6_RECVERR)
        {
            compare_extended_err(&edata, &adata, i)?;
        } else if alevel == libc::SOL_SOCKET && atype == libc::SCM_TIMESTAMPING {
            compare_timestamping(&edata, &adata, i, check)?;
        } else if alevel == libc::SOL_SOCKET && atype == libc::SCM_TIMESTAMPING_OPT_STATS {
            compare_opt_stats(&edata, &adata, i, check)?;
        } else if adata != edata {
            return Err(format!(
                "Bad data in cmsg {i}: expected={} actual={}",
                hex(&edata),
                hex(&adata)
            )
            .into());
        }
        a = next(actual, actual_len, ao);
        e = next(&expected.buf, expected.len, eo);
        i += 1;
    }
    match (a, e) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(format!("received more than {i} cmsgs").into()),
        (None, Some(_)) => Err(format!("received only {i} cmsgs").into()),
        (Some(_), Some(_)) => Err("cmsgs do not match".into()),
    }
}

/// `len` bytes from `offset`, zero-padded where the buffer ends.
fn slice(buf: &[u8], offset: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            offset
                .checked_add(i)
                .and_then(|o| buf.get(o))
                .copied()
                .unwrap_or(0)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn compare_extended_err(expected: &[u8], actual: &[u8], i: usize) -> Result<(), String> {
    let fields: [(&str, usize, usize); 6] = [
        ("errno", 0, 4),
        ("origin", 4, 1),
        ("type", 5, 1),
        ("code", 6, 1),
        ("info", 8, 4),
        ("data", 12, 4),
    ];
    for (name, offset, size) in fields {
        let e = read_le(expected, offset, size);
        let a = read_le(actual, offset, size);
        if e != a {
            return Err(format!(
                "Bad {name} in extended err {i}: expected={e} actual={a}"
            ));
        }
    }
    Ok(())
}

fn timespec_usecs(buf: &[u8], index: usize) -> (i64, i64, i64) {
    let sec = read_le(buf, index * 16, 8) as i64;
    let nsec = read_le(buf, index * 16 + 8, 8) as i64;
    (
        sec,
        nsec,
        sec.wrapping_mul(1_000_000).wrapping_add(nsec / 1000),
    )
}

fn compare_timestamping(
    expected: &[u8],
    actual: &[u8],
    i: usize,
    check: &CmsgCheck,
) -> Result<(), CallMismatch> {
    for ts in 0..3 {
        let (sec, nsec, script_usecs) = timespec_usecs(expected, ts);
        if sec == 0 && nsec == 0 {
            continue;
        }
        let exp = check.script_start_usecs.wrapping_add(script_usecs);
        let (_, _, act) = timespec_usecs(actual, ts);
        if exp.wrapping_sub(act).unsigned_abs() > check.tolerance_usecs.max(0) as u64 {
            return Err(CallMismatch::Timestamp {
                index: ts,
                cmsg: i,
                expected_usecs: exp,
                actual_usecs: act,
                start_usecs: check.script_start_usecs,
            });
        }
    }
    Ok(())
}

fn compare_opt_stats(
    expected: &[u8],
    actual: &[u8],
    i: usize,
    check: &CmsgCheck,
) -> Result<(), String> {
    let len = actual.len();
    let mut offset = 0usize;
    while offset < len {
        let elen = read_le(expected, offset, 2) as usize;
        let etype = read_le(expected, offset + 2, 2) as u16;
        let alen = read_le(actual, offset, 2) as usize;
        let atype = read_le(actual, offset + 2, 2) as u16;
        if etype != atype {
            return Err(format!("Bad nla_type {i}: expected={etype} actual={atype}"));
        }
        if elen != alen {
            return Err(format!("Bad nla_len {i}: expected={elen} actual={alen}"));
        }
        if elen < NLA_HDRLEN {
            return Err(format!(
                "Bad nla_len {i}: {elen} is shorter than a netlink attribute header"
            ));
        }
        let value_len = elen - NLA_HDRLEN;
        let name = TCP_NLA.get(etype as usize).map(|(n, _)| *n);
        let size = TCP_NLA.get(etype as usize).map(|(_, s)| *s);
        let v_at = offset + NLA_HDRLEN;
        match (name, size) {
            (Some(name), Some(size)) if etype != 0 && value_len == size => {
                let ev = read_le(expected, v_at, size);
                let av = read_le(actual, v_at, size);
                let ignore = match size {
                    8 => NLA_IGNORE,
                    4 => u32::MAX as u64,
                    _ => u8::MAX as u64,
                };
                let ok = if ev == ignore {
                    true
                } else if matches!(
                    etype,
                    TCP_NLA_BUSY | TCP_NLA_RWND_LIMITED | TCP_NLA_SNDBUF_LIMITED
                ) {
                    if ev != 0 {
                        (ev.wrapping_sub(av) as i64).unsigned_abs()
                            <= check.tolerance_usecs.max(0) as u64
                    } else {
                        av == 0
                    }
                } else {
                    ev == av
                };
                if !ok {
                    return Err(format!("Bad {name}: expected={ev} actual={av}"));
                }
            }
            _ => {
                let e = slice(expected, v_at, value_len);
                let a = slice(actual, v_at, value_len);
                if e != a {
                    return Err(format!(
                        "Bad value of netlink attribute type {etype} in cmsg {i}: expected={} actual={}",
                        hex(&e),
                        hex(&a)
                    ));
                }
            }
        }
        offset += nla_align(elen);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::syscall::value::CmsgValue;

    fn cmsg(level: i32, ty: i32, data: Value) -> Value {
        Value::Cmsg(Box::new(CmsgValue {
            level: Value::Int(level as i64),
            ty: Value::Int(ty as i64),
            data,
        }))
    }

    fn check() -> CmsgCheck {
        CmsgCheck {
            script_start_usecs: 1_000_000_000,
            tolerance_usecs: 4000,
        }
    }

    #[test]
    fn extended_err_and_timestamping_layout() {
        let ee = Value::ExtendedErr(Box::new([
            Value::Int(libc::ENOMSG as i64),
            Value::Int(4),
            Value::Int(0),
            Value::Int(0),
            Value::Int(1),
            Value::Int(1999),
        ]));
        let list = Value::List(vec![
            cmsg(
                libc::SOL_SOCKET,
                libc::SCM_TIMESTAMPING,
                Value::ScmTimestamping {
                    sec: 0,
                    nsec: 10_000_000,
                },
            ),
            cmsg(libc::SOL_IP, libc::IP_RECVERR, ee),
        ]);
        let expected = build_control(&list).unwrap();
        assert_eq!(expected.len, cmsg_space(48) + cmsg_space(32));

        // The kernel's answer: the same, with the live timestamp 1000 us late.
        let mut actual = expected.buf.clone();
        let live = 1_000_000_000i64 + 10_000 + 1000;
        actual[16..24].copy_from_slice(&(live / 1_000_000).to_ne_bytes());
        actual[24..32].copy_from_slice(&((live % 1_000_000) * 1000).to_ne_bytes());
        compare(&expected, &actual, expected.len, &check()).unwrap();

        // Too late.
        let late = live + 5000;
        actual[16..24].copy_from_slice(&(late / 1_000_000).to_ne_bytes());
        actual[24..32].copy_from_slice(&((late % 1_000_000) * 1000).to_ne_bytes());
        let err = compare(&expected, &actual, expected.len, &check()).unwrap_err();
        assert!(
            matches!(
                err,
                CallMismatch::Timestamp {
                    index: 0,
                    cmsg: 0,
                    expected_usecs: 1_000_010_000,
                    actual_usecs: 1_000_016_000,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("Bad timestamp 0 in scm_timestamping 0: expected=1000010000 (10000)"),
            "{err}"
        );

        // Wrong ee_data.
        let mut actual = expected.buf.clone();
        actual[16..24].copy_from_slice(&(live / 1_000_000).to_ne_bytes());
        actual[24..32].copy_from_slice(&((live % 1_000_000) * 1000).to_ne_bytes());
        let ee_at = cmsg_space(48) + CMSG_HDR;
        actual[ee_at + 12..ee_at + 16].copy_from_slice(&2000u32.to_ne_bytes());
        assert_eq!(
            compare(&expected, &actual, expected.len, &check()).unwrap_err(),
            "Bad data in extended err 1: expected=1999 actual=2000".into()
        );

        // Fewer or more cmsgs.
        assert_eq!(
            compare(&expected, &actual, cmsg_space(48), &check()).unwrap_err(),
            "received only 1 cmsgs".into()
        );
        let one = build_control(&Value::List(vec![cmsg(
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMPING,
            Value::ScmTimestamping { sec: 0, nsec: 0 },
        )]))
        .unwrap();
        assert_eq!(
            compare(&one, &actual, expected.len, &check()).unwrap_err(),
            "received more than 1 cmsgs".into()
        );
    }

    #[test]
    fn opt_stats() {
        let stats = Value::List(vec![
            Value::Binary {
                key: 1,
                value: Box::new(Value::Int(10_000)),
            },
            Value::Binary {
                key: 8,
                value: Box::new(Value::Ellipsis),
            },
            Value::Binary {
                key: 14,
                value: Box::new(Value::Int(0)),
            },
        ]);
        let list = Value::List(vec![cmsg(
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMPING_OPT_STATS,
            stats,
        )]);
        let expected = build_control(&list).unwrap();
        // 12 + 8 + 8 (u8 padded) bytes of attributes.
        assert_eq!(cmsg_len_at(&expected.buf, 0), CMSG_HDR + 28);
        let mut actual = expected.buf.clone();
        let d = CMSG_HDR;
        actual[d + 4..d + 12].copy_from_slice(&12_000u64.to_ne_bytes()); // busy within 4 ms
        actual[d + 16..d + 20].copy_from_slice(&10u32.to_ne_bytes()); // cwnd ignored
        actual[d + 24] = 0; // ca_state 0
        compare(&expected, &actual, expected.len, &check()).unwrap();
        actual[d + 4..d + 12].copy_from_slice(&20_000u64.to_ne_bytes());
        assert_eq!(
            compare(&expected, &actual, expected.len, &check()).unwrap_err(),
            "Bad TCP_NLA_BUSY: expected=10000 actual=20000".into()
        );
        actual[d + 4..d + 12].copy_from_slice(&10_000u64.to_ne_bytes());
        actual[d + 24] = 1;
        assert_eq!(
            compare(&expected, &actual, expected.len, &check()).unwrap_err(),
            "Bad TCP_NLA_CA_STATE: expected=0 actual=1".into()
        );
    }

    #[test]
    fn bad_cmsg_forms() {
        assert_eq!(
            build_control(&Value::List(vec![Value::Int(1)]))
                .err()
                .unwrap(),
            "Bad type; actual: integer expected: cmsg"
        );
        let bad_key = Value::List(vec![cmsg(
            libc::SOL_SOCKET,
            libc::SCM_TIMESTAMPING_OPT_STATS,
            Value::List(vec![Value::Binary {
                key: 99,
                value: Box::new(Value::Int(0)),
            }]),
        )]);
        assert_eq!(build_control(&bad_key).err().unwrap(), "bad NLA type 99");
        let too_many = Value::List(vec![cmsg(1, 2, Value::Int(3)); 200]);
        assert!(build_control(&too_many).is_err());
    }
}
