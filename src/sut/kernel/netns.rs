//! The private network namespace a run lives in, and its tun device configured as packetdrill
//! configures tun0. The namespace belongs to this process alone, so it (and everything in it)
//! disappears when the process exits, whatever the exit path.
//!
//! Everything here talks to the kernel directly (system calls and tun ioctls through `nix`,
//! rtnetlink through [`super::rtnetlink`], sysctl files): no `ip` subprocess, so the whole
//! setup costs about a millisecond.
//!
//! Setup order in [`create_tun`] (packetdrill's `local_netdev_new`, see
//! `spec/packetdrill-cli.md` §3):
//! 1. `/dev/net/tun`, `TUNSETIFF` (`IFF_TUN|IFF_NO_PI|IFF_VNET_HDR`), `TUNSETVNETHDRSZ` 10,
//!    `TUNSETOFFLOAD` (`TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6|TUN_F_TSO_ECN`);
//! 2. per-device IPv6 sysctls (IPv4 wire: `disable_ipv6=1`, so the kernel sends no stray IPv6
//!    traffic; IPv6 wire: `disable_ipv6=0`, `accept_dad=0`, no router solicitations);
//! 3. MTU and link up (`RTM_SETLINK`);
//! 4. the local address (`RTM_NEWADDR`, IPv6 with `IFA_F_NODAD` so it is usable at once —
//!    a tentative address makes `bind()` fail with `EADDRNOTAVAIL`), unless `is_anyip`;
//! 5. `REMOTE/PREFIX via GATEWAY dev tun0` (`RTM_NEWROUTE` with `NLM_F_REPLACE`, which is
//!    packetdrill's `ip route del; ip route add`), without a gateway for `is_anyip`;
//! 6. the sniffing packet socket (see [`TunNetdev`]).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::errno::Errno;
use nix::net::if_::if_nametoindex;
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{getegid, geteuid, Gid, Uid};

use crate::sut::kernel::rtnetlink::Rtnetlink;
use crate::sut::kernel::tun::TunNetdev;

/// The tun driver's ioctls (`<linux/if_tun.h>`), on a `/dev/net/tun` fd. "Bad" because their
/// request numbers do not encode the argument's type (`TUNSETIFF` is declared with an `int`
/// but takes a `struct ifreq`), so the macros take libc's numbers as they are.
mod tun_ioctl {
    nix::ioctl_readwrite_bad!(set_iff, libc::TUNSETIFF, libc::ifreq);
    nix::ioctl_write_ptr_bad!(set_vnet_hdr_sz, libc::TUNSETVNETHDRSZ, libc::c_int);
    nix::ioctl_write_int_bad!(set_offload, libc::TUNSETOFFLOAD);
    nix::ioctl_write_int_bad!(set_persist, libc::TUNSETPERSIST);
}

/// How to configure the test interface (all values already resolved from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunConfig {
    /// "tun0": scripts name it in their shell commands.
    pub name: String,
    /// Wire family: false = IPv4 (also for ipv4-mapped-ipv6), true = IPv6.
    pub ipv6: bool,
    pub local_ip: IpAddr,
    /// Prefix length of `local_ip` on the interface (IPv4: from --netmask_ip; IPv6: 48).
    pub local_prefix_len: u8,
    pub remote_ip: IpAddr,
    /// The remote prefix routed into the tun device.
    pub remote_prefix_len: u8,
    pub gateway_ip: IpAddr,
    pub mtu: u32,
    /// `--is_anyip`: the local address is not assigned; the route has no gateway.
    pub is_anyip: bool,
}

/// Moves this process into a new, private network namespace with loopback up. Without root
/// (effective uid != 0), a user namespace is entered first, mapping the caller to root inside it
/// (as `unshare -Urn` does); as root, the same is tried if the plain `unshare(CLONE_NEWNET)` is
/// refused (a root without `CAP_SYS_ADMIN`, e.g. in a container).
///
/// Must be called before any other thread is started: `unshare(CLONE_NEWUSER)` fails with
/// `EINVAL` in a multi-threaded process, and `unshare(CLONE_NEWNET)` moves only the calling
/// thread (threads started later inherit its namespace; threads started earlier stay outside).
pub fn enter_private_namespace() -> io::Result<()> {
    let euid = geteuid();
    let egid = getegid();
    if !euid.is_root() {
        enter_user_namespace(euid, egid)?;
        unshare_net()?;
    } else if let Err(err) = unshare_net() {
        if err.raw_os_error() != Some(libc::EPERM) {
            return Err(err);
        }
        enter_user_namespace(euid, egid).map_err(|userns_err| {
            io::Error::new(
                err.kind(),
                format!("{err}; entering a user namespace first failed too: {userns_err}"),
            )
        })?;
        unshare_net()?;
    }
    let lo = if_index("lo")?;
    Rtnetlink::open()?
        .set_link_up(lo, None)
        .map_err(|e| annotate(e, "bringing lo up"))
}

fn enter_user_namespace(uid: Uid, gid: Gid) -> io::Result<()> {
    if let Err(errno) = unshare(CloneFlags::CLONE_NEWUSER) {
        let err = io::Error::from(errno);
        let hint = match err.raw_os_error() {
            Some(libc::EINVAL) => {
                "the process has more than one thread; \
                 enter_private_namespace must run before any thread is started"
            }
            Some(libc::EPERM) | Some(libc::ENOSPC) | Some(libc::EUSERS) => {
                "unprivileged user namespaces may be disabled here \
                 (user.max_user_namespaces, kernel.unprivileged_userns_clone, \
                 kernel.apparmor_restrict_unprivileged_userns, or a seccomp filter); \
                 run as root or enable them"
            }
            _ => "cannot create a user namespace",
        };
        return Err(io::Error::new(
            err.kind(),
            format!("unshare(CLONE_NEWUSER): {err}: {hint}"),
        ));
    }
    // Only one thread exists (unshare(CLONE_NEWUSER) checked that), so /proc/self is ours.
    match std::fs::write("/proc/self/setgroups", "deny") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(annotate(e, "writing /proc/self/setgroups"));
        }
        _ => {}
    }
    std::fs::write("/proc/self/uid_map", format!("0 {uid} 1"))
        .map_err(|e| annotate(e, "writing /proc/self/uid_map"))?;
    std::fs::write("/proc/self/gid_map", format!("0 {gid} 1"))
        .map_err(|e| annotate(e, "writing /proc/self/gid_map"))?;
    Ok(())
}

fn unshare_net() -> io::Result<()> {
    if let Err(errno) = unshare(CloneFlags::CLONE_NEWNET) {
        let err = io::Error::from(errno);
        let hint = if err.raw_os_error() == Some(libc::EPERM) {
            ": needs CAP_SYS_ADMIN (run as root, or unprivileged with user namespaces enabled)"
        } else {
            ""
        };
        return Err(io::Error::new(
            err.kind(),
            format!("unshare(CLONE_NEWNET): {err}{hint}"),
        ));
    }
    Ok(())
}

/// Creates and configures the tun device in the current namespace (which should be the private
/// one [`enter_private_namespace`] made: this adds addresses and routes).
pub fn create_tun(config: &TunConfig) -> io::Result<TunNetdev> {
    let (tun, ifindex) = configure_tun(config)?;
    // 6. The sniffer.
    let sniffer = crate::sut::kernel::tun::open_sniffer(ifindex)?;
    Ok(TunNetdev::new(tun, sniffer, config.name.clone(), ifindex))
}

/// Creates and configures the tun device as [`create_tun`] does, for nobody to use: scripts'
/// commands may configure it. It is made persistent and left to the namespace, which the kernel
/// tears down after the last process in it has exited, so this process's exit does not wait
/// for it (closing a tun fd, or a packet socket bound to it, waits for an RCU grace period:
/// 10-30 ms).
pub fn create_unused_tun(config: &TunConfig) -> io::Result<()> {
    let (tun, _) = configure_tun(config)?;
    // SAFETY: the fd is an open tun device; TUNSETPERSIST takes its argument by value.
    unsafe { tun_ioctl::set_persist(tun.as_raw_fd(), 1) }
        .map_err(|e| annotate(e.into(), "TUNSETPERSIST"))?;
    Ok(())
}

/// Steps 1-5 of [`create_tun`]: the device, its sysctls, MTU, link, address and route.
fn configure_tun(config: &TunConfig) -> io::Result<(OwnedFd, u32)> {
    check_config(config)?;
    let tun = open_tun_device(&config.name)?;
    let ifindex = configure_interface(config)?;
    Ok((tun, ifindex))
}

/// Step 1: the tun device named `name`, with a virtio-net header and TSO.
fn open_tun_device(name: &str) -> io::Result<OwnedFd> {
    // 1. The device.
    let tun: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/net/tun")
        .map_err(|err| {
            let hint = if err.kind() == io::ErrorKind::PermissionDenied {
                " (unprivileged runs need /dev/net/tun to be world read-writable, mode 0666, \
                 as most distributions ship it, or root; or run with --netdev=veth, which needs \
                 no device file and no root)"
            } else {
                ""
            };
            annotate(err, &format!("opening /dev/net/tun{hint}"))
        })?
        .into();
    let mut ifr = ifreq_named(name)?;
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;
    // SAFETY: the fd is an open tun device and `ifr` a whole `ifreq`, which TUNSETIFF reads
    // and writes (the name the kernel chose).
    unsafe { tun_ioctl::set_iff(tun.as_raw_fd(), &mut ifr) }
        .map_err(|e| annotate(e.into(), &format!("TUNSETIFF {name}")))?;
    let got = ifr_name(&ifr);
    if got != name {
        return Err(io::Error::other(format!(
            "TUNSETIFF asked for {name} but the kernel named the device {got}"
        )));
    }
    let hdr_len = crate::sut::packet_socket::VIRTIO_NET_HDR_LEN as libc::c_int;
    // SAFETY: the fd is an open tun device; TUNSETVNETHDRSZ reads the `int` pointed to.
    unsafe { tun_ioctl::set_vnet_hdr_sz(tun.as_raw_fd(), &hdr_len) }
        .map_err(|e| annotate(e.into(), "TUNSETVNETHDRSZ"))?;
    let offload = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
    // SAFETY: the fd is an open tun device; TUNSETOFFLOAD takes its argument by value.
    unsafe { tun_ioctl::set_offload(tun.as_raw_fd(), offload as libc::c_int) }
        .map_err(|e| annotate(e.into(), "TUNSETOFFLOAD"))?;
    Ok(tun)
}

/// Steps 2-5 for the interface `config.name`, which exists already (a tun device, or another
/// device standing in for it): its IPv6 sysctls, MTU, link up, address and route. Returns its
/// interface index.
pub fn configure_interface(config: &TunConfig) -> io::Result<u32> {
    check_config(config)?;
    let name = config.name.as_str();
    let ifindex = if_index(name)?;

    // 2. IPv6 sysctls, before the link comes up (so no IPv6 packet is ever sent on an IPv4 run,
    // and an IPv6 run sends no DAD probes or router solicitations).
    let conf = format!("/proc/sys/net/ipv6/conf/{name}");
    if config.ipv6 {
        for (key, value) in [
            ("disable_ipv6", "0"),
            ("accept_dad", "0"),
            ("dad_transmits", "0"),
            ("router_solicitations", "0"),
        ] {
            let file = format!("{conf}/{key}");
            std::fs::write(&file, value).map_err(|e| annotate(e, &format!("writing {file}")))?;
        }
    } else {
        let file = format!("{conf}/disable_ipv6");
        match std::fs::write(&file, "1") {
            // No IPv6 in this kernel: nothing to disable.
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(annotate(e, &format!("writing {file}")));
            }
            _ => {}
        }
    }

    // 3. MTU and link up.
    let mut nl = Rtnetlink::open()?;
    nl.set_link_up(ifindex, Some(config.mtu)).map_err(|e| {
        annotate(
            e,
            &format!("setting MTU {} on {name} and bringing it up", config.mtu),
        )
    })?;

    // 4 and 5. Address and route.
    if !config.is_anyip {
        nl.add_address(ifindex, config.local_ip, config.local_prefix_len)
            .map_err(|e| {
                annotate(
                    e,
                    &format!(
                        "adding address {}/{} to {name}",
                        config.local_ip, config.local_prefix_len
                    ),
                )
            })?;
        nl.wait_local(config.local_ip, std::time::Duration::from_secs(2))?;
    }
    let gateway = (!config.is_anyip).then_some(config.gateway_ip);
    let prefix = mask(config.remote_ip, config.remote_prefix_len);
    nl.add_route(ifindex, prefix, config.remote_prefix_len, gateway)
        .map_err(|e| {
            let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
            annotate(
                e,
                &format!(
                    "adding route {prefix}/{}{via} dev {name}",
                    config.remote_prefix_len
                ),
            )
        })?;
    Ok(ifindex)
}

fn check_config(config: &TunConfig) -> io::Result<()> {
    let v6 = |a: &IpAddr| a.is_ipv6();
    if config.name.is_empty() || config.name.len() >= libc::IFNAMSIZ {
        return Err(invalid(format!("bad interface name {:?}", config.name)));
    }
    let mut addrs = vec![config.remote_ip];
    if !config.is_anyip {
        addrs.push(config.local_ip);
        addrs.push(config.gateway_ip);
    }
    if addrs.iter().any(|a| v6(a) != config.ipv6) {
        return Err(invalid(format!(
            "addresses {addrs:?} do not match the {} wire family",
            if config.ipv6 { "IPv6" } else { "IPv4" }
        )));
    }
    let max = if config.ipv6 { 128 } else { 32 };
    if config.local_prefix_len > max || config.remote_prefix_len > max {
        return Err(invalid(format!(
            "prefix lengths /{} and /{} must be at most /{max}",
            config.local_prefix_len, config.remote_prefix_len
        )));
    }
    if config.remote_ip == config.local_ip || config.remote_ip.is_loopback() {
        return Err(invalid(format!(
            "error: live_remote_ip {} is not remote",
            config.remote_ip
        )));
    }
    Ok(())
}

/// `addr` with the bits beyond `len` cleared (the kernel rejects IPv4 routes with host bits).
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Keeps the error kind (and so the errno's meaning) and prefixes what was being done.
fn annotate(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

/// A zeroed `ifreq` carrying `name`.
pub(crate) fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.contains(&0) || bytes.len() >= libc::IFNAMSIZ {
        return Err(invalid(format!("bad interface name {name:?}")));
    }
    // SAFETY: `ifreq` is plain data (a byte array and a union of integers, arrays and a
    // sockaddr), for which all zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in ifr.ifr_name.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    Ok(ifr)
}

fn ifr_name(ifr: &libc::ifreq) -> String {
    let bytes: Vec<u8> = ifr
        .ifr_name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn if_index(name: &str) -> io::Result<u32> {
    if_nametoindex(name).map_err(|e: Errno| annotate(e.into(), &format!("if_nametoindex {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_prefixes() {
        assert_eq!(
            mask("192.0.2.1".parse().unwrap(), 24),
            "192.0.2.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("fd3d:fa7b:d17d::1".parse().unwrap(), 48),
            "fd3d:fa7b:d17d::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("10.1.2.3".parse().unwrap(), 0),
            "0.0.0.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            mask("10.1.2.3".parse().unwrap(), 32),
            "10.1.2.3".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn rejects_mismatched_families() {
        let cfg = TunConfig {
            name: "tun0".into(),
            ipv6: true,
            local_ip: "192.168.0.1".parse().unwrap(),
            local_prefix_len: 16,
            remote_ip: "192.0.2.1".parse().unwrap(),
            remote_prefix_len: 24,
            gateway_ip: "192.168.0.1".parse().unwrap(),
            mtu: 1500,
            is_anyip: false,
        };
        assert!(check_config(&cfg).is_err());
        let cfg = TunConfig { ipv6: false, ..cfg };
        assert!(check_config(&cfg).is_ok());
        let cfg = TunConfig {
            remote_ip: cfg.local_ip,
            ..cfg
        };
        assert!(check_config(&cfg).is_err());
    }
}
