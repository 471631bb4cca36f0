//! Linux's `struct tcp_info` (the full layout of Linux 6.18, 280 bytes; `libc::tcp_info` stops
//! at `tcpi_total_retrans`), and filling it from what smoltcp and the wire tap know.

use smoltcp::socket::tcp::State;

/// `struct tcp_info` from `include/uapi/linux/tcp.h`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxTcpInfo {
    pub tcpi_state: u8,
    pub tcpi_ca_state: u8,
    pub tcpi_retransmits: u8,
    pub tcpi_probes: u8,
    pub tcpi_backoff: u8,
    pub tcpi_options: u8,
    /// `tcpi_snd_wscale:4` (low bits), `tcpi_rcv_wscale:4` (high bits).
    pub tcpi_snd_rcv_wscale: u8,
    /// `tcpi_delivery_rate_app_limited:1`, `tcpi_fastopen_client_fail:2`.
    pub tcpi_delivery_fastopen_bits: u8,
    pub tcpi_rto: u32,
    pub tcpi_ato: u32,
    pub tcpi_snd_mss: u32,
    pub tcpi_rcv_mss: u32,
    pub tcpi_unacked: u32,
    pub tcpi_sacked: u32,
    pub tcpi_lost: u32,
    pub tcpi_retrans: u32,
    pub tcpi_fackets: u32,
    pub tcpi_last_data_sent: u32,
    pub tcpi_last_ack_sent: u32,
    pub tcpi_last_data_recv: u32,
    pub tcpi_last_ack_recv: u32,
    pub tcpi_pmtu: u32,
    pub tcpi_rcv_ssthresh: u32,
    pub tcpi_rtt: u32,
    pub tcpi_rttvar: u32,
    pub tcpi_snd_ssthresh: u32,
    pub tcpi_snd_cwnd: u32,
    pub tcpi_advmss: u32,
    pub tcpi_reordering: u32,
    pub tcpi_rcv_rtt: u32,
    pub tcpi_rcv_space: u32,
    pub tcpi_total_retrans: u32,
    pub tcpi_pacing_rate: u64,
    pub tcpi_max_pacing_rate: u64,
    pub tcpi_bytes_acked: u64,
    pub tcpi_bytes_received: u64,
    pub tcpi_segs_out: u32,
    pub tcpi_segs_in: u32,
    pub tcpi_notsent_bytes: u32,
    pub tcpi_min_rtt: u32,
    pub tcpi_data_segs_in: u32,
    pub tcpi_data_segs_out: u32,
    pub tcpi_delivery_rate: u64,
    pub tcpi_busy_time: u64,
    pub tcpi_rwnd_limited: u64,
    pub tcpi_sndbuf_limited: u64,
    pub tcpi_delivered: u32,
    pub tcpi_delivered_ce: u32,
    pub tcpi_bytes_sent: u64,
    pub tcpi_bytes_retrans: u64,
    pub tcpi_dsack_dups: u32,
    pub tcpi_reord_seen: u32,
    pub tcpi_rcv_ooopack: u32,
    pub tcpi_snd_wnd: u32,
    pub tcpi_rcv_wnd: u32,
    pub tcpi_rehash: u32,
    pub tcpi_total_rto: u16,
    pub tcpi_total_rto_recoveries: u16,
    pub tcpi_total_rto_time: u32,
    /// The AccECN counters of Linux 6.18 (`tcpi_received_ce` …); always 0 here.
    pub tcpi_accecn_counters: [u32; 7],
    /// Explicit tail padding (the kernel struct is 8-byte aligned), so no byte is padding.
    pub tcpi_tail_padding: u32,
}

pub const TCPI_OPT_TIMESTAMPS: u8 = 1;
pub const TCPI_OPT_SACK: u8 = 2;
pub const TCPI_OPT_WSCALE: u8 = 4;

/// Linux's TCP state numbers (`TCP_ESTABLISHED` = 1 …).
pub fn linux_tcp_state(state: State) -> u8 {
    match state {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

impl LinuxTcpInfo {
    /// The struct's bytes, as getsockopt copies them out.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0u8; std::mem::size_of::<LinuxTcpInfo>()];
        // SAFETY: `bytes` has exactly size_of::<LinuxTcpInfo>() bytes and does not overlap
        // `self`; write_unaligned has no alignment requirement. The struct has no implicit
        // padding (every field is naturally aligned and the tail padding is a field), so every
        // byte written is initialised.
        unsafe { std::ptr::write_unaligned(bytes.as_mut_ptr() as *mut LinuxTcpInfo, *self) };
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layout_matches_linux() {
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_rto), 8);
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_total_retrans), 100);
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_pacing_rate), 104);
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_delivery_rate), 160);
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_snd_wnd), 228);
        assert_eq!(offset_of!(LinuxTcpInfo, tcpi_total_rto_time), 244);
        assert_eq!(size_of::<LinuxTcpInfo>(), 280);
        // The libc prefix agrees.
        assert_eq!(
            offset_of!(LinuxTcpInfo, tcpi_total_retrans),
            offset_of!(libc::tcp_info, tcpi_total_retrans)
        );
    }
}
