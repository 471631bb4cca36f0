//! The Linux kernel as the stack under test: system calls through libc (`target.rs`) on a
//! real-time call thread (`calls.rs`), packets on a tun device (`tun.rs`) configured in the
//! run's private network namespace (`netns.rs`), the host's real clock, and its sockets read
//! through sock_diag (`sock_diag.rs`); the namespace's TCP settings reset to the kernel's own
//! defaults and recorded (`tcp_settings.rs`).

pub mod calls;
pub mod netns;
pub mod rtnetlink;
pub mod sock_diag;
pub mod target;
pub mod tcp_settings;
pub mod tun;

use std::sync::Arc;

use super::clock::RealClock;
use super::netdev::Netdev;
use super::network::Addresses;
use super::{Backend, Wire};
use crate::cli::Config;

use calls::KernelCalls;
use netns::TunConfig;
use sock_diag::KernelView;

/// The kernel's backend, in the run's (already entered) private network namespace: its wire
/// (`tun0` configured as packetdrill configures it, or a DPDK port standing in for it), a call
/// thread, the real clock.
pub fn open(wire: &Wire, config: &Config, network: &Addresses) -> Result<Backend, String> {
    if !config.inherit_sysctls {
        tcp_settings::reset_to_kernel_defaults()?;
    }
    let environment = tcp_settings::snapshot();
    let netdev: Box<dyn Netdev> = match wire {
        Wire::Tun => Box::new(
            netns::create_tun(&tun_config(config, network))
                .map_err(|e| format!("cannot set up the tun device: {e}"))?,
        ),
        Wire::Dpdk { devargs, eal_args } => {
            let interface = tun_config(config, network);
            open_dpdk(
                devargs.as_deref(),
                eal_args,
                &interface,
                config.neighbour_answers,
            )?
        }
        Wire::Veth => crate::sut::veth::open_kernel_wire(
            &tun_config(config, network),
            config.neighbour_answers,
        )?,
        Wire::AfXdp => open_af_xdp(&tun_config(config, network), config.neighbour_answers)?,
    };
    Ok(Backend {
        calls: Box::new(KernelCalls::spawn()?),
        netdev,
        clock: Arc::new(RealClock),
        view: Arc::new(KernelView {
            http_port: config.http_port,
        }),
        environment,
    })
}

#[cfg(feature = "dpdk")]
fn open_dpdk(
    devargs: Option<&str>,
    eal_args: &[String],
    interface: &TunConfig,
    neighbour_answers: bool,
) -> Result<Box<dyn Netdev>, String> {
    crate::sut::dpdk::open_kernel_wire(devargs, eal_args, interface, neighbour_answers)
}

#[cfg(not(feature = "dpdk"))]
fn open_dpdk(
    _: Option<&str>,
    _: &[String],
    _: &TunConfig,
    _: bool,
) -> Result<Box<dyn Netdev>, String> {
    Err(crate::sut::WITHOUT_DPDK.to_string())
}

#[cfg(feature = "af_xdp")]
fn open_af_xdp(interface: &TunConfig, neighbour_answers: bool) -> Result<Box<dyn Netdev>, String> {
    crate::sut::af_xdp::netdev::open_kernel_wire(interface, neighbour_answers)
}

#[cfg(not(feature = "af_xdp"))]
fn open_af_xdp(_: &TunConfig, _: bool) -> Result<Box<dyn Netdev>, String> {
    Err(
        "--netdev=af_xdp: this stackdrill was built without AF_XDP (cargo build --features \
         af_xdp)"
            .to_string(),
    )
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

#[cfg(all(test, not(feature = "dpdk")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_a_dpdk_wire_is_refused_naming_the_flag() {
        let interface = TunConfig {
            name: "tun0".to_string(),
            ipv6: false,
            local_ip: [192, 168, 0, 1].into(),
            local_prefix_len: 16,
            remote_ip: [192, 0, 2, 1].into(),
            remote_prefix_len: 24,
            gateway_ip: [192, 168, 0, 2].into(),
            mtu: 1500,
            is_anyip: false,
        };
        let refused = open_dpdk(None, &[], &interface, true).err().unwrap();
        assert_eq!(
            refused,
            "--netdev=dpdk: this stackdrill was built without DPDK (cargo build --features dpdk)"
        );
    }
}
