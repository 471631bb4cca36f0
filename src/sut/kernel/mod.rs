//! The Linux kernel as the stack under test: system calls through libc (`target.rs`) on a
//! real-time call thread (`calls.rs`), packets on a tun device (`tun.rs`) configured in the
//! run's private network namespace (`netns.rs`), the host's real clock, and its sockets read
//! through sock_diag (`sock_diag.rs`).

pub mod calls;
pub mod netns;
pub mod rtnetlink;
pub mod sock_diag;
pub mod target;
pub mod tun;

use std::sync::Arc;

use super::clock::RealClock;
use super::network::Addresses;
use super::Backend;
use crate::cli::Config;

use calls::KernelCalls;
use netns::TunConfig;
use sock_diag::KernelView;

/// The kernel's backend, in the run's (already entered) private network namespace: `tun0`
/// configured as packetdrill configures it, a call thread, the real clock.
pub fn open(config: &Config, network: &Addresses) -> Result<Backend, String> {
    let tun = netns::create_tun(&tun_config(config, network))
        .map_err(|e| format!("cannot set up the tun device: {e}"))?;
    Ok(Backend {
        calls: Box::new(KernelCalls::spawn()?),
        netdev: Box::new(tun),
        clock: Arc::new(RealClock),
        view: Arc::new(KernelView {
            http_port: config.http_port,
        }),
    })
}

/// Creates `tun0` as for a kernel run but leaves it unused, for a backend whose packets travel
/// elsewhere: scripts written for the kernel configure tun0 in their commands (tc, ethtool, ip
/// link), and those commands then still work.
pub fn create_unused_tun(config: &Config, network: &Addresses) -> std::io::Result<()> {
    netns::create_unused_tun(&tun_config(config, network))
}

/// The tun device for the run's addresses.
fn tun_config(config: &Config, network: &Addresses) -> TunConfig {
    TunConfig {
        name: "tun0".to_string(),
        ipv6: network.wire_ipv6(),
        local_ip: network.local_ip,
        local_prefix_len: network.local_prefix_len,
        remote_ip: network.remote_ip,
        remote_prefix_len: network.remote_prefix_len,
        gateway_ip: network.gateway_ip,
        mtu: config.mtu,
        is_anyip: config.is_anyip,
    }
}
