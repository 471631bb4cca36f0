//! The stack's profile of script defines (`stackdrill_profile_defines`): values where smoltcp
//! legitimately differs from Linux, kept in one table so a portable script can name them.

use crate::config::{CongestionChoice, StackConfig};

/// One define: its name and its value under a given configuration (flags may change values).
pub struct ProfileDefine {
    pub name: &'static str,
    pub value: fn(&StackConfig) -> String,
}

/// Every define this stack provides, in output order.
pub const PROFILE_DEFINES: &[ProfileDefine] = &[
    ProfileDefine {
        name: "SMOLTCP",
        value: |_| "1".to_string(),
    },
    // A keep-alive probe repeats the last acknowledged byte with one byte of data
    // (relative sequence 0:1(1)); Linux sends no data (0:0(0)).
    ProfileDefine {
        name: "KEEPALIVE_PROBE_END",
        value: |_| "1".to_string(),
    },
    ProfileDefine {
        name: "KEEPALIVE_PROBE_LEN",
        value: |_| "1".to_string(),
    },
    // A zero-window probe is the next new byte (relative 1:2(1)); Linux probes with an old
    // sequence number and no data (0:0(0)).
    ProfileDefine {
        name: "ZERO_WINDOW_PROBE_START",
        value: |_| "1".to_string(),
    },
    ProfileDefine {
        name: "ZERO_WINDOW_PROBE_END",
        value: |_| "2".to_string(),
    },
    ProfileDefine {
        name: "ZERO_WINDOW_PROBE_LEN",
        value: |_| "1".to_string(),
    },
    // The congestion window of a new connection, in segments of 1000 bytes (the MSS the
    // portable scripts negotiate): smoltcp's Reno and Cubic start at 2048 bytes; without
    // congestion control there is no window (0). Linux: 10 segments.
    ProfileDefine {
        name: "INITIAL_CWND",
        value: |config| match config.congestion {
            CongestionChoice::None => "0".to_string(),
            CongestionChoice::Reno | CongestionChoice::Cubic => "2".to_string(),
        },
    },
    // A command that makes the stack back off SYN retransmissions exponentially from 1 s:
    // smoltcp always does (Linux needs net.ipv4.tcp_syn_linear_timeouts=0).
    ProfileDefine {
        name: "EXPONENTIAL_SYN_BACKOFF",
        value: |_| "`true`".to_string(),
    },
];

/// The profile as `NAME=VALUE\n` lines.
pub fn render_profile(config: &StackConfig) -> String {
    PROFILE_DEFINES
        .iter()
        .map(|define| format!("{}={}\n", define.name, (define.value)(config)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_smoltcp() {
        let text = render_profile(&StackConfig::default());
        assert!(text.lines().any(|line| line == "SMOLTCP=1"));
        assert!(text.lines().any(|line| line == "KEEPALIVE_PROBE_LEN=1"));
        assert!(text.ends_with('\n'));
    }
}
