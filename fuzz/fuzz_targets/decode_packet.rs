//! Fuzz target: the packet decoder, on bytes as a sniffer hands them over. An IP packet goes
//! through `stackdrill::wire::decode`, its TCP options through `split_tcp_options`, and the
//! decoded packet is described as an "actual packet:" line would show it (sequence numbers,
//! SACK edges and timestamps mapped into script space); the same bytes as an Ethernet frame go
//! through the layer-2 decoder and its description. Nothing may panic or hang.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use stackdrill::run::sockets::{SocketRole, TrackedSocket};
use stackdrill::run::{link, outbound, packets};
use stackdrill::wire::{self, L4Repr};

/// A connected socket whose script-space mapping comes from the packet's own first bytes, so the
/// mapping's arithmetic sees every kind of number.
fn socket(bytes: &[u8]) -> TrackedSocket {
    let word = |i: usize| {
        let mut b = [0u8; 4];
        for (k, slot) in b.iter_mut().enumerate() {
            *slot = bytes.get(i + k).copied().unwrap_or(0);
        }
        u32::from_be_bytes(b)
    };
    TrackedSocket {
        script_fd: Some(3),
        live_fd: Some(3),
        protocol: libc::IPPROTO_TCP,
        role: SocketRole::Active,
        local: None,
        remote: None,
        remote_isn: Some(word(4)),
        script_local_isn: Some(word(8)),
        live_local_isn: Some(word(12)),
        last_injected: None,
        last_sent: None,
        ts_vals: HashMap::from([(word(16), word(20))]),
        first_ts: Some((word(16), word(20))),
        flow_label: None,
        last_outbound_ip_id: None,
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = wire::decode(data) {
        if let L4Repr::Tcp(tcp) = &packet.l4 {
            if let Ok(options) = wire::split_tcp_options(&tcp.options) {
                for option in &options {
                    let _ = packets::describe_option(option);
                }
                let _ = wire::join_tcp_options(&options);
            }
        }
        let ipv6 = packet.ip.is_ipv6();
        let _ = outbound::describe_live(&packet, &socket(data), ipv6);
    }
    if let Some(frame) = link::decode(data) {
        let _ = link::describe_live(&frame);
    }
});
