//! A DPDK port as the kernel's wire (`--netdev=dpdk`): DPDK's EAL started once per process, a
//! net_tap virtual device created in the run's namespace under the tun device's name (so the
//! scripts' own `ethtool` and `tc` commands find it) and configured as tun0 is, or any device
//! `--dpdk_devargs` names; the peer's frames travel through it (`netdev.rs`). A userspace
//! stack's DPDK port (`so/dpdk_wire.rs`) starts EAL here too ([`start_eal`]).

pub mod netdev;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use dpdk_sys::{eal_init, plain_eal_args, Mempool, Port};
use nix::sys::memfd::MFdFlags;

use crate::sched::cpu::allowed_cpus;
use crate::sut::kernel::netns::{self, TunConfig};
use crate::sut::kernel::rtnetlink::Rtnetlink;
use crate::sut::netdev::Netdev;
use crate::wire::link::{Mac, PEER_MAC};

use crate::wire::link_peer::LinkPeer;
use netdev::DpdkNetdev;

/// Buffers in a port's pool: enough for a net_tap port's two 512-descriptor queues and a
/// script's bursts. Filling a pool costs about 4 µs a buffer, once per script.
const MBUFS: u32 = 2047;
/// Buffers in an AF_XDP port's pool: its fill queue needs at least 8191.
const AF_XDP_MBUFS: u32 = 8191;
/// Descriptors of each of the port's two queues.
const DESCRIPTORS: u16 = 512;
/// How long a port may take to report its link up.
const LINK_UP_TIMEOUT: Duration = Duration::from_secs(3);

/// Numbers the pools and virtual devices of this process (DPDK names must be unique).
static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// EAL's arguments: DPDK's plain set on the CPUs this process may use (no hugepages, no shared
/// configuration files, no PCI scan: a physical port that `--dpdk_devargs` names is probed by
/// itself), then `--dpdk_eal_args`, which may override any of them.
fn eal_arguments(extra: &[String]) -> Vec<String> {
    let mut args = plain_eal_args(&allowed_cpus());
    args.extend_from_slice(extra);
    args
}

/// The kernel's wire over DPDK: `interface` (tun0's configuration) says what the kernel side of
/// a net_tap device gets; `devargs` (`--dpdk_devargs`) replaces the default device.
pub fn open_kernel_wire(
    devargs: Option<&str>,
    eal_args: &[String],
    interface: &TunConfig,
    neighbour_answers: bool,
) -> Result<Box<dyn Netdev>, String> {
    start_eal(eal_args)?;
    let (wire, _) = quietly(|| open_port(devargs, interface, neighbour_answers));
    wire
}

/// Starts DPDK's EAL (once per process; later calls return the first one's result), with
/// `--dpdk_eal_args` added to its arguments; Err is one line naming the flag, with EAL's own
/// reason when it printed one.
pub fn start_eal(eal_args: &[String]) -> Result<(), String> {
    let (started, printed) = quietly(|| eal_init(&eal_arguments(eal_args)));
    started.map_err(|e| {
        let flag = if eal_args.is_empty() {
            "--netdev=dpdk"
        } else {
            "--dpdk_eal_args"
        };
        // EAL says why (an unknown option, a bad core list) before anything else it prints.
        match first_line(&printed) {
            Some(why) => format!("{flag}: cannot start DPDK's EAL: {why}"),
            None => format!("{flag}: cannot start DPDK's EAL: {e}"),
        }
    })
}

/// The port and its kernel side, set up and started; with `neighbour_answers` off the kernel
/// side gets no neighbour entry for the gateway (it must ask).
fn open_port(
    devargs: Option<&str>,
    interface: &TunConfig,
    neighbour_answers: bool,
) -> Result<Box<dyn Netdev>, String> {
    let number = NEXT_PORT.fetch_add(1, Ordering::Relaxed);
    let mbufs = match devargs {
        Some(devargs) if devargs.starts_with("net_af_xdp") => AF_XDP_MBUFS,
        _ => MBUFS,
    };
    let pool = Mempool::new(&format!("stackdrill{number}"), mbufs)
        .map_err(|e| format!("--netdev=dpdk: cannot create a buffer pool: {e}"))?;
    let (mut port, kernel_side) = match devargs {
        None => {
            let args = format!("iface={}", interface.name);
            let port = Port::attach_vdev(&format!("net_tap{number}"), &args).map_err(|e| {
                format!(
                    "--netdev=dpdk: cannot create the net_tap device {}: {e}",
                    interface.name
                )
            })?;
            (port, Some(interface.name.clone()))
        }
        Some(devargs) => {
            let (port, printed) = quietly(|| Port::probe(devargs));
            let port = port.map_err(|e| match first_line(&printed) {
                Some(log) => format!("--dpdk_devargs={devargs}: {e}; DPDK: {log}"),
                None => format!("--dpdk_devargs={devargs}: {e}"),
            })?;
            (port, tap_interface(devargs))
        }
    };
    // A net_tap device's kernel side stands in for tun0. Any other device (a physical port, a
    // vdev of another kind) leads to a stack stackdrill does not configure and whose MAC it
    // cannot know: frames go to the broadcast address, which every stack takes.
    let kernel_mac = match kernel_side {
        Some(name) => configure_kernel_side(
            &TunConfig {
                name,
                ..interface.clone()
            },
            neighbour_answers,
        )?,
        None => [0xff; 6],
    };
    port.start(pool, DESCRIPTORS)
        .map_err(|e| format!("--netdev=dpdk: cannot start port {}: {e}", port.id()))?;
    port.wait_link_up(LINK_UP_TIMEOUT)
        .map_err(|e| format!("--netdev=dpdk: port {} never came up: {e}", port.id()))?;
    let own: Vec<IpAddr> = (!interface.is_anyip)
        .then_some(interface.local_ip)
        .into_iter()
        .collect();
    let mtu = interface.mtu as usize;
    let peer = LinkPeer::new(kernel_mac, own, mtu);
    Ok(Box::new(DpdkNetdev::new(port, peer)))
}

/// The first line of `printed` that says something.
pub(crate) fn first_line(printed: &str) -> Option<&str> {
    printed.lines().map(str::trim).find(|line| !line.is_empty())
}

/// Runs `work` with this process's standard output and error going to a private file, and
/// returns its result with what was printed meanwhile. DPDK prints its logs there (a net_tap
/// device's missing qdisc, a secondary process it cannot reach), and EAL its whole usage on a
/// bad option; a run's output is the script's, and its errors one line each. Called while the
/// run sets up, when no other thread prints.
pub(crate) fn quietly<R>(work: impl FnOnce() -> R) -> (R, String) {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsFd;
    let saved = (
        nix::unistd::dup(std::io::stdout().as_fd()),
        nix::unistd::dup(std::io::stderr().as_fd()),
    );
    let file = nix::sys::memfd::memfd_create("stackdrill-dpdk", MFdFlags::MFD_CLOEXEC);
    let (Ok(saved_out), Ok(saved_err), Ok(file)) = (saved.0, saved.1, file) else {
        return (work(), String::new());
    };
    let _ = std::io::stdout().flush();
    let diverted = nix::unistd::dup2_stdout(&file).and(nix::unistd::dup2_stderr(&file));
    let result = work();
    // SAFETY: fflush(NULL) flushes every C stdio stream (EAL prints its usage through
    // stdout's buffer); it takes no pointer to memory of ours.
    unsafe { libc::fflush(std::ptr::null_mut()) };
    let restored = nix::unistd::dup2_stdout(&saved_out).and(nix::unistd::dup2_stderr(&saved_err));
    if diverted.is_err() || restored.is_err() {
        return (result, String::new());
    }
    let mut printed = String::new();
    let mut file = std::fs::File::from(file);
    if file.rewind().is_ok() {
        let _ = file.read_to_string(&mut printed);
    }
    (result, printed)
}

/// Configures the kernel side of a net_tap device as tun0 (sysctls, MTU, address, route), with
/// the gateway's MAC known in advance (`seed_gateway`), as tun needs none; returns the kernel
/// side's MAC. Without the seed the kernel asks for the gateway, as on a real link.
fn configure_kernel_side(config: &TunConfig, seed_gateway: bool) -> Result<Mac, String> {
    let failed = |e: std::io::Error| {
        format!(
            "--netdev=dpdk: cannot configure {} as the kernel's interface: {e}",
            config.name
        )
    };
    let ifindex = netns::configure_interface(config).map_err(failed)?;
    let mut netlink = Rtnetlink::open().map_err(failed)?;
    if !config.is_anyip && seed_gateway {
        netlink
            .add_neighbour(ifindex, config.gateway_ip, PEER_MAC)
            .map_err(failed)?;
    }
    let mac = netlink.link_address(ifindex).map_err(failed)?;
    mac.try_into()
        .map_err(|mac: Vec<u8>| failed(std::io::Error::other(format!("odd MAC {mac:02x?}"))))
}

/// The kernel interface a net_tap devargs string creates (`net_tapN,iface=NAME`), if it is one.
fn tap_interface(devargs: &str) -> Option<String> {
    let (driver, args) = devargs.split_once(',')?;
    if !driver.starts_with("net_tap") {
        return None;
    }
    args.split(',')
        .find_map(|arg| arg.strip_prefix("iface="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tap_devargs_string_names_its_interface() {
        assert_eq!(
            tap_interface("net_tap3,iface=tun0,mac=fixed").as_deref(),
            Some("tun0")
        );
        assert_eq!(tap_interface("net_tap3"), None);
        assert_eq!(tap_interface("0000:00:04.0"), None);
        assert_eq!(tap_interface("net_ring0,nodeaction=r1:0:CREATE"), None);
    }

    #[test]
    fn eal_arguments_come_before_the_users() {
        let args = eal_arguments(&["--log-level=*:debug".to_string()]);
        assert_eq!(args[0], "--no-huge");
        assert_eq!(args.last().unwrap(), "--log-level=*:debug");
        assert!(args.iter().any(|a| a.starts_with("--lcores=0@(")));
    }
}
