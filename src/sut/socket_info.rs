//! The values `%{ }%` code blocks and introspection see: TCP_INFO, TCP_CC_INFO and SO_MEMINFO of one socket,
//! decoded by hand from the Linux UAPI layouts (include/uapi/linux/tcp.h, sock_diag.h,
//! inet_diag.h) so that fields newer than the build's libc are available too.

use crate::sut::target::Target;

/// `TCP_INFO` buffer size: larger than any `struct tcp_info` so far (280 bytes in 7.0).
const TCP_INFO_BUFFER: usize = 512;
/// `TCP_CC_INFO` buffer size (the union is 20 bytes).
const TCP_CC_INFO_BUFFER: usize = 64;
/// `SK_MEMINFO_VARS`.
const SK_MEMINFO_VARS: usize = 9;
/// `TCP_CA_NAME_MAX`.
const TCP_CA_NAME_MAX: usize = 16;

/// Where a `struct tcp_info` field lives.
#[derive(Clone, Copy)]
enum Field {
    U8(usize),
    U16(usize),
    U32(usize),
    U64(usize),
    /// A bit field: `width` bits from bit `shift` of the little-endian unit of `size` bytes at
    /// `offset` (x86-64 and other little-endian ABIs allocate bit fields from bit 0).
    Bits {
        offset: usize,
        size: usize,
        shift: u32,
        width: u32,
    },
}

impl Field {
    fn end(self) -> usize {
        match self {
            Field::U8(o) => o + 1,
            Field::U16(o) => o + 2,
            Field::U32(o) => o + 4,
            Field::U64(o) => o + 8,
            Field::Bits { offset, size, .. } => offset + size,
        }
    }

    /// The value, or None when the kernel's struct is too short to hold it.
    fn read(self, buf: &[u8]) -> Option<u64> {
        if self.end() > buf.len() {
            return None;
        }
        let le = |offset: usize, size: usize| {
            buf[offset..offset + size]
                .iter()
                .rev()
                .fold(0u64, |acc, b| (acc << 8) | *b as u64)
        };
        Some(match self {
            Field::U8(o) => le(o, 1),
            Field::U16(o) => le(o, 2),
            Field::U32(o) => le(o, 4),
            Field::U64(o) => le(o, 8),
            Field::Bits {
                offset,
                size,
                shift,
                width,
            } => (le(offset, size) >> shift) & ((1u64 << width) - 1),
        })
    }
}

/// `struct tcp_info` (Linux 7.0 layout; older kernels return a prefix of it), in the order
/// packetdrill emits the fields.
const TCP_INFO_FIELDS: &[(&str, Field)] = &[
    ("tcpi_state", Field::U8(0)),
    ("tcpi_ca_state", Field::U8(1)),
    ("tcpi_retransmits", Field::U8(2)),
    ("tcpi_probes", Field::U8(3)),
    ("tcpi_backoff", Field::U8(4)),
    ("tcpi_options", Field::U8(5)),
    (
        "tcpi_snd_wscale",
        Field::Bits {
            offset: 6,
            size: 1,
            shift: 0,
            width: 4,
        },
    ),
    (
        "tcpi_rcv_wscale",
        Field::Bits {
            offset: 6,
            size: 1,
            shift: 4,
            width: 4,
        },
    ),
    (
        "tcpi_delivery_rate_app_limited",
        Field::Bits {
            offset: 7,
            size: 1,
            shift: 0,
            width: 1,
        },
    ),
    ("tcpi_rto", Field::U32(8)),
    ("tcpi_ato", Field::U32(12)),
    ("tcpi_snd_mss", Field::U32(16)),
    ("tcpi_rcv_mss", Field::U32(20)),
    ("tcpi_unacked", Field::U32(24)),
    ("tcpi_sacked", Field::U32(28)),
    ("tcpi_lost", Field::U32(32)),
    ("tcpi_retrans", Field::U32(36)),
    ("tcpi_fackets", Field::U32(40)),
    ("tcpi_last_data_sent", Field::U32(44)),
    ("tcpi_last_ack_sent", Field::U32(48)),
    ("tcpi_last_data_recv", Field::U32(52)),
    ("tcpi_last_ack_recv", Field::U32(56)),
    ("tcpi_pmtu", Field::U32(60)),
    ("tcpi_rcv_ssthresh", Field::U32(64)),
    ("tcpi_rtt", Field::U32(68)),
    ("tcpi_rttvar", Field::U32(72)),
    ("tcpi_snd_ssthresh", Field::U32(76)),
    ("tcpi_snd_cwnd", Field::U32(80)),
    ("tcpi_advmss", Field::U32(84)),
    ("tcpi_reordering", Field::U32(88)),
    ("tcpi_total_retrans", Field::U32(100)),
    ("tcpi_pacing_rate", Field::U64(104)),
    ("tcpi_max_pacing_rate", Field::U64(112)),
    ("tcpi_rcv_rtt", Field::U32(92)),
    ("tcpi_rcv_space", Field::U32(96)),
    ("tcpi_bytes_acked", Field::U64(120)),
    ("tcpi_bytes_received", Field::U64(128)),
    ("tcpi_segs_out", Field::U32(136)),
    ("tcpi_segs_in", Field::U32(140)),
    ("tcpi_notsent_bytes", Field::U32(144)),
    ("tcpi_min_rtt", Field::U32(148)),
    ("tcpi_data_segs_in", Field::U32(152)),
    ("tcpi_data_segs_out", Field::U32(156)),
    ("tcpi_delivery_rate", Field::U64(160)),
    ("tcpi_busy_time", Field::U64(168)),
    ("tcpi_rwnd_limited", Field::U64(176)),
    ("tcpi_sndbuf_limited", Field::U64(184)),
    ("tcpi_delivered", Field::U32(192)),
    ("tcpi_delivered_ce", Field::U32(196)),
    ("tcpi_bytes_sent", Field::U64(200)),
    ("tcpi_bytes_retrans", Field::U64(208)),
    ("tcpi_dsack_dups", Field::U32(216)),
    ("tcpi_reord_seen", Field::U32(220)),
    ("tcpi_rcv_ooopack", Field::U32(224)),
    ("tcpi_snd_wnd", Field::U32(228)),
    ("tcpi_rcv_wnd", Field::U32(232)),
    ("tcpi_rehash", Field::U32(236)),
    ("tcpi_total_rto", Field::U16(240)),
    ("tcpi_total_rto_recoveries", Field::U16(242)),
    ("tcpi_total_rto_time", Field::U32(244)),
    (
        "tcpi_ecn_mode",
        Field::Bits {
            offset: 276,
            size: 4,
            shift: 0,
            width: 2,
        },
    ),
    (
        "tcpi_accecn_opt_seen",
        Field::Bits {
            offset: 276,
            size: 4,
            shift: 2,
            width: 2,
        },
    ),
    (
        "tcpi_accecn_fail_mode",
        Field::Bits {
            offset: 276,
            size: 4,
            shift: 4,
            width: 4,
        },
    ),
    (
        "tcpi_options2",
        Field::Bits {
            offset: 276,
            size: 4,
            shift: 8,
            width: 24,
        },
    ),
    ("tcpi_received_ce", Field::U32(248)),
    ("tcpi_delivered_e1_bytes", Field::U32(252)),
    ("tcpi_delivered_e0_bytes", Field::U32(256)),
    ("tcpi_delivered_ce_bytes", Field::U32(260)),
    ("tcpi_received_e1_bytes", Field::U32(264)),
    ("tcpi_received_e0_bytes", Field::U32(268)),
    ("tcpi_received_ce_bytes", Field::U32(272)),
];

/// `SK_MEMINFO_*` in index order.
const MEMINFO_NAMES: [&str; SK_MEMINFO_VARS] = [
    "SK_MEMINFO_RMEM_ALLOC",
    "SK_MEMINFO_RCVBUF",
    "SK_MEMINFO_WMEM_ALLOC",
    "SK_MEMINFO_SNDBUF",
    "SK_MEMINFO_FWD_ALLOC",
    "SK_MEMINFO_WMEM_QUEUED",
    "SK_MEMINFO_OPTMEM",
    "SK_MEMINFO_BACKLOG",
    "SK_MEMINFO_DROPS",
];

/// getsockopt into a zeroed buffer of `size` bytes; the bytes the kernel returned.
fn get_option(
    target: &mut dyn Target,
    fd: i32,
    level: i32,
    name: i32,
    size: usize,
) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut len = size as libc::socklen_t;
    // SAFETY: `buf` holds `len` writable bytes and `len` is a valid socklen_t.
    let result = unsafe { target.getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) };
    result.ok()?;
    buf.truncate((len as usize).min(size));
    Some(buf)
}

fn u32_at(buf: &[u8], offset: usize) -> Option<u64> {
    Field::U32(offset).read(buf)
}

/// Congestion-control fields of `union tcp_cc_info`, by the algorithm's name.
fn cc_fields(name: &str, info: &[u8], out: &mut Vec<(String, i64)>) {
    let mut push = |n: &str, v: Option<u64>| {
        if let Some(v) = v {
            out.push((n.to_string(), v as i64));
        }
    };
    if name.starts_with("bbr") {
        // struct tcp_bbr_info: bw_lo, bw_hi, min_rtt, pacing_gain, cwnd_gain (u32 each).
        if info.len() < 20 {
            return;
        }
        let lo = u32_at(info, 0);
        let hi = u32_at(info, 4);
        push("bbr_bw_lo", lo);
        push("bbr_bw_hi", hi);
        push("bbr_bw", Some((hi.unwrap_or(0) << 32) + lo.unwrap_or(0)));
        push("bbr_min_rtt", u32_at(info, 8));
        push("bbr_pacing_gain", u32_at(info, 12));
        push("bbr_cwnd_gain", u32_at(info, 16));
    } else if name == "dctcp" {
        // struct tcp_dctcp_info: u16 enabled, u16 ce_state, u32 alpha, ab_ecn, ab_tot.
        if info.len() < 16 {
            return;
        }
        push("dctcp_enabled", Field::U16(0).read(info));
        push("dctcp_ce_state", Field::U16(2).read(info));
        push("dctcp_alpha", u32_at(info, 4));
        push("dctcp_ab_ecn", u32_at(info, 8));
        push("dctcp_ab_tot", u32_at(info, 12));
    } else if name == "vegas" {
        // struct tcpvegas_info: enabled, rttcnt, rtt, minrtt (u32 each).
        if info.len() < 16 {
            return;
        }
        push("tcpv_enabled", u32_at(info, 0));
        push("tcpv_rttcnt", u32_at(info, 4));
        push("tcp_rtt", u32_at(info, 8));
        push("tcp_minrtt", u32_at(info, 12));
    }
}

/// The fields of a `struct tcp_info` given as bytes (as long as the stack filled it), by their
/// `tcpi_*` names, in declaration order.
pub fn decode_tcp_info(info: &[u8]) -> Vec<(&'static str, u64)> {
    TCP_INFO_FIELDS
        .iter()
        .filter_map(|(name, field)| field.read(info).map(|value| (*name, value)))
        .collect()
}

/// The values `%{ }%` code blocks (and `/tcpinfo`) see for one socket: every `tcpi_*` field of
/// TCP_INFO, the congestion-control fields of TCP_CC_INFO (bbr_*, dctcp_*, tcpv_*) when
/// available, and the SK_MEMINFO_* entries of SO_MEMINFO, as (python name, value) pairs.
///
/// The symbolic names (`TCP_ESTABLISHED`…) are not included (the code writer emits them).
/// TCP_INFO fields beyond the length the kernel returned are left out (the layout is Linux
/// 7.0's, with the AccECN fields); the congestion-control fields are chosen by the socket's
/// TCP_CONGESTION name (bbr*, dctcp, vegas; none for others). Failures carry packetdrill's
/// messages (`can't find getsockopt to get TCP info`, `… TCP_CC_INFO`, `… sk_meminfo`).
///
/// A userspace stack (`only_tcp_info_required`) must answer TCP_INFO; the congestion-control
/// and memory fields are left out when it does not have them.
pub fn snapshot(
    target: &mut dyn Target,
    live_fd: i32,
    only_tcp_info_required: bool,
) -> Result<Vec<(String, i64)>, String> {
    let info = get_option(
        target,
        live_fd,
        libc::SOL_TCP,
        libc::TCP_INFO,
        TCP_INFO_BUFFER,
    )
    .ok_or_else(|| "can't find getsockopt to get TCP info".to_string())?;
    let mut out: Vec<(String, i64)> = Vec::new();
    for (name, field) in TCP_INFO_FIELDS {
        if let Some(v) = field.read(&info) {
            out.push((name.to_string(), v as i64));
        }
    }

    let cc_name = get_option(
        target,
        live_fd,
        libc::SOL_TCP,
        libc::TCP_CONGESTION,
        TCP_CA_NAME_MAX,
    )
    .map(|b| {
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..end]).into_owned()
    })
    .unwrap_or_default();
    let cc_info = get_option(
        target,
        live_fd,
        libc::SOL_TCP,
        libc::TCP_CC_INFO,
        TCP_CC_INFO_BUFFER,
    );
    match cc_info {
        Some(cc_info) => cc_fields(&cc_name, &cc_info, &mut out),
        None if only_tcp_info_required => {}
        None => return Err("can't find getsockopt to get TCP_CC_INFO".to_string()),
    }

    let meminfo = match get_option(
        target,
        live_fd,
        libc::SOL_SOCKET,
        libc::SO_MEMINFO,
        SK_MEMINFO_VARS * 4,
    ) {
        Some(meminfo) => meminfo,
        None if only_tcp_info_required => return Ok(out),
        None => return Err("can't find getsockopt to get sk_meminfo".to_string()),
    };
    for (i, name) in MEMINFO_NAMES.iter().enumerate() {
        if let Some(v) = u32_at(&meminfo, i * 4) {
            out.push((name.to_string(), v as i64));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_little_endian_and_respect_length() {
        let mut buf = vec![0u8; 280];
        buf[6] = 0x97; // snd_wscale 7, rcv_wscale 9
        buf[80..84].copy_from_slice(&10u32.to_le_bytes());
        buf[104..112].copy_from_slice(&0x1_0000_0002u64.to_le_bytes());
        buf[276..280]
            .copy_from_slice(&((0xabcdu32 << 8) | (0x5 << 4) | (0x2 << 2) | 0x1).to_le_bytes());
        let get = |name: &str, buf: &[u8]| {
            let (_, f) = TCP_INFO_FIELDS.iter().find(|(n, _)| *n == name).unwrap();
            f.read(buf)
        };
        assert_eq!(get("tcpi_snd_wscale", &buf), Some(7));
        assert_eq!(get("tcpi_rcv_wscale", &buf), Some(9));
        assert_eq!(get("tcpi_snd_cwnd", &buf), Some(10));
        assert_eq!(get("tcpi_pacing_rate", &buf), Some(0x1_0000_0002));
        assert_eq!(get("tcpi_ecn_mode", &buf), Some(1));
        assert_eq!(get("tcpi_accecn_opt_seen", &buf), Some(2));
        assert_eq!(get("tcpi_accecn_fail_mode", &buf), Some(5));
        assert_eq!(get("tcpi_options2", &buf), Some(0xabcd));
        assert_eq!(get("tcpi_options2", &buf[..248]), None);
        assert_eq!(get("tcpi_total_rto_time", &buf[..248]), Some(0));
    }

    #[test]
    fn field_list_matches_spec_names() {
        assert_eq!(TCP_INFO_FIELDS.len(), 71);
        let mut names: Vec<_> = TCP_INFO_FIELDS.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 71);
    }
}
