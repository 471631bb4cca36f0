//! The private network namespace a run lives in, and its tun device configured as packetdrill
//! configures tun0. The namespace belongs to this process alone, so it (and everything in it)
//! disappears when the process exits, whatever the exit path.
//!
//! Everything here talks to the kernel directly (ioctls, rtnetlink, sysctl files): no `ip`
//! subprocess, so the whole setup costs about a millisecond.
//!
//! Setup order in [`create_tun`] (packetdrill's `local_netdev_new`, see
//! `spec/packetdrill-cli.md` §3):
//! 1. `/dev/net/tun`, `TUNSETIFF` (`IFF_TUN|IFF_NO_PI|IFF_VNET_HDR`), `TUNSETVNETHDRSZ` 10,
//!    `TUNSETOFFLOAD` (`TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6|TUN_F_TSO_ECN`);
//! 2. per-device IPv6 sysctls (IPv4 wire: `disable_ipv6=1`, so the kernel sends no stray IPv6
//!    traffic; IPv6 wire: `disable_ipv6=0`, `accept_dad=0`, no router solicitations);
//! 3. MTU, link up;
//! 4. the local address (`RTM_NEWADDR`, IPv6 with `IFA_F_NODAD` so it is usable at once —
//!    a tentative address makes `bind()` fail with `EADDRNOTAVAIL`), unless `is_anyip`;
//! 5. `REMOTE/PREFIX via GATEWAY dev tun0` (`RTM_NEWROUTE` with `NLM_F_REPLACE`, which is
//!    packetdrill's `ip route del; ip route add`), without a gateway for `is_anyip`;
//! 6. the sniffing packet socket (see [`TunNetdev`]).

use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::sut::kernel::tun::TunNetdev;

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
    let euid = unsafe { libc::geteuid() };
    let egid = unsafe { libc::getegid() };
    if euid != 0 {
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
    let control = control_socket(libc::AF_INET)?;
    set_link_up(&control, "lo").map_err(|e| annotate(e, "bringing lo up"))
}

fn enter_user_namespace(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        let err = io::Error::last_os_error();
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
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let err = io::Error::last_os_error();
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
    // SAFETY: TUNSETPERSIST takes its argument by value; the fd is a tun device.
    if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETPERSIST, 1) } < 0 {
        return Err(annotate(io::Error::last_os_error(), "TUNSETPERSIST"));
    }
    Ok(())
}

/// Steps 1-5 of [`create_tun`]: the device, its sysctls, MTU, link, address and route.
fn configure_tun(config: &TunConfig) -> io::Result<(OwnedFd, u32)> {
    check_config(config)?;
    let name = config.name.as_str();

    // 1. The device.
    let path = b"/dev/net/tun\0";
    let raw = unsafe {
        libc::open(
            path.as_ptr().cast(),
            libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if raw < 0 {
        let err = io::Error::last_os_error();
        let hint = if err.kind() == io::ErrorKind::PermissionDenied {
            " (unprivileged runs need /dev/net/tun to be world read-writable, mode 0666, \
             as most distributions ship it; or run as root)"
        } else {
            ""
        };
        return Err(annotate(err, &format!("opening /dev/net/tun{hint}")));
    }
    let tun = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut ifr = ifreq_named(name)?;
    ifr.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as i16;
    ioctl_ptr(tun.as_raw_fd(), libc::TUNSETIFF, &mut ifr)
        .map_err(|e| annotate(e, &format!("TUNSETIFF {name}")))?;
    let got = ifr_name(&ifr);
    if got != name {
        return Err(io::Error::other(format!(
            "TUNSETIFF asked for {name} but the kernel named the device {got}"
        )));
    }
    let mut hdr_len: libc::c_int = crate::sut::kernel::tun::VIRTIO_NET_HDR_LEN as libc::c_int;
    ioctl_ptr(tun.as_raw_fd(), libc::TUNSETVNETHDRSZ, &mut hdr_len)
        .map_err(|e| annotate(e, "TUNSETVNETHDRSZ"))?;
    let offload = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6 | libc::TUN_F_TSO_ECN;
    // TUNSETOFFLOAD takes its argument by value.
    if unsafe {
        libc::ioctl(
            tun.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            offload as libc::c_ulong,
        )
    } != 0
    {
        return Err(annotate(io::Error::last_os_error(), "TUNSETOFFLOAD"));
    }

    let control = control_socket(libc::AF_INET)?;
    let ifindex = if_index(&control, name)?;

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
    let mut ifr = ifreq_named(name)?;
    ifr.ifr_ifru.ifru_mtu = i32::try_from(config.mtu)
        .map_err(|_| invalid(format!("MTU {} out of range", config.mtu)))?;
    ioctl_ptr(control.as_raw_fd(), libc::SIOCSIFMTU, &mut ifr)
        .map_err(|e| annotate(e, &format!("setting MTU {} on {name}", config.mtu)))?;
    set_link_up(&control, name).map_err(|e| annotate(e, &format!("bringing {name} up")))?;

    // 4 and 5. Address and route.
    let mut nl = Netlink::open()?;
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
    Ok((tun, ifindex))
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

fn control_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    let fd = unsafe { libc::socket(family, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(annotate(
            io::Error::last_os_error(),
            "opening a control socket",
        ));
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ifreq_named(name: &str) -> io::Result<libc::ifreq> {
    let c = CString::new(name).map_err(|_| invalid(format!("bad interface name {name:?}")))?;
    let bytes = c.as_bytes_with_nul();
    if bytes.len() > libc::IFNAMSIZ {
        return Err(invalid(format!("interface name {name:?} too long")));
    }
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

fn ioctl_ptr<T>(fd: RawFd, request: libc::Ioctl, arg: &mut T) -> io::Result<()> {
    if unsafe { libc::ioctl(fd, request, arg as *mut T) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_link_up(control: &OwnedFd, name: &str) -> io::Result<()> {
    let mut ifr = ifreq_named(name)?;
    ioctl_ptr(control.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr)?;
    unsafe {
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as i16;
    }
    ioctl_ptr(control.as_raw_fd(), libc::SIOCSIFFLAGS, &mut ifr)
}

fn if_index(control: &OwnedFd, name: &str) -> io::Result<u32> {
    let mut ifr = ifreq_named(name)?;
    ioctl_ptr(control.as_raw_fd(), libc::SIOCGIFINDEX, &mut ifr)
        .map_err(|e| annotate(e, &format!("SIOCGIFINDEX {name}")))?;
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex } as u32)
}

// rtnetlink, just the two requests needed: RTM_NEWADDR and RTM_NEWROUTE, each acknowledged.

const NLMSG_HDRLEN: usize = 16;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTNH_F_ONLINK: u32 = 4;

struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(annotate(
                io::Error::last_os_error(),
                "opening a NETLINK_ROUTE socket",
            ));
        }
        Ok(Netlink {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: 0,
        })
    }

    /// `ip addr add ADDR/LEN dev IFINDEX` (IPv6: `nodad`).
    fn add_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let (family, bytes, flags) = match addr {
            IpAddr::V4(a) => (libc::AF_INET, a.octets().to_vec(), 0),
            IpAddr::V6(a) => (libc::AF_INET6, a.octets().to_vec(), IFA_F_NODAD),
        };
        // struct ifaddrmsg
        let mut body = vec![family as u8, prefix_len, flags as u8, 0];
        body.extend_from_slice(&ifindex.to_ne_bytes());
        push_attr(&mut body, IFA_LOCAL, &bytes);
        push_attr(&mut body, IFA_ADDRESS, &bytes);
        if flags != 0 {
            push_attr(&mut body, IFA_FLAGS, &flags.to_ne_bytes());
        }
        self.request(
            libc::RTM_NEWADDR,
            libc::NLM_F_CREATE | libc::NLM_F_REPLACE,
            &body,
        )
    }

    /// `ip route replace DST/LEN dev IFINDEX [via GATEWAY]`. A gateway the kernel does not
    /// consider reachable is retried as `onlink` (the device is point-to-point: every gateway
    /// is on it).
    fn add_route(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        dst_len: u8,
        gateway: Option<IpAddr>,
    ) -> io::Result<()> {
        match self.route(ifindex, dst, dst_len, gateway, 0) {
            Err(e)
                if gateway.is_some()
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::ENETUNREACH) | Some(libc::EINVAL) | Some(libc::EHOSTUNREACH)
                    ) =>
            {
                self.route(ifindex, dst, dst_len, gateway, RTNH_F_ONLINK)
                    .map_err(|e2| io::Error::new(e.kind(), format!("{e} (and onlink: {e2})")))
            }
            other => other,
        }
    }

    fn route(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        dst_len: u8,
        gateway: Option<IpAddr>,
        flags: u32,
    ) -> io::Result<()> {
        let (family, dst_bytes) = match dst {
            IpAddr::V4(a) => (libc::AF_INET, a.octets().to_vec()),
            IpAddr::V6(a) => (libc::AF_INET6, a.octets().to_vec()),
        };
        let scope = if gateway.is_some() {
            libc::RT_SCOPE_UNIVERSE
        } else {
            libc::RT_SCOPE_LINK
        };
        // struct rtmsg
        let mut body = vec![
            family as u8,
            dst_len,
            0, // src_len
            0, // tos
            libc::RT_TABLE_MAIN,
            libc::RTPROT_BOOT,
            scope,
            libc::RTN_UNICAST,
        ];
        body.extend_from_slice(&flags.to_ne_bytes());
        push_attr(&mut body, RTA_DST, &dst_bytes);
        if let Some(gw) = gateway {
            let gw_bytes = match gw {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            push_attr(&mut body, RTA_GATEWAY, &gw_bytes);
        }
        push_attr(&mut body, RTA_OIF, &ifindex.to_ne_bytes());
        self.request(
            libc::RTM_NEWROUTE,
            libc::NLM_F_CREATE | libc::NLM_F_REPLACE,
            &body,
        )
    }

    /// Waits until `addr` is a usable local address: the kernel's route lookup for it yields a
    /// local route. IPv6 needs this even with `IFA_F_NODAD`: the kernel finishes adding the
    /// address (clears "tentative", inserts the local route) in a workqueue after
    /// acknowledging `RTM_NEWADDR`, so a packet injected right away can find no local route
    /// and be dropped (seen here as `Ip6InAddrErrors`, under load).
    fn wait_local(&mut self, addr: IpAddr, timeout: std::time::Duration) -> io::Result<()> {
        let (family, bytes, len) = match addr {
            IpAddr::V4(a) => (libc::AF_INET, a.octets().to_vec(), 32),
            IpAddr::V6(a) => (libc::AF_INET6, a.octets().to_vec(), 128),
        };
        let start = std::time::Instant::now();
        loop {
            let mut body = vec![family as u8, len, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            push_attr(&mut body, RTA_DST, &bytes);
            // An unroutable address is an error reply; treat it like "not local yet".
            let reply = self.transact(libc::RTM_GETROUTE, 0, &body, false);
            if let Ok(Some(msg)) = &reply {
                // struct rtmsg: rtm_type is its 8th byte.
                if msg.get(7) == Some(&libc::RTN_LOCAL) {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{addr} did not become a usable local address within {timeout:?}"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    }

    /// Sends one request with NLM_F_ACK and waits for its acknowledgement.
    fn request(&mut self, msg_type: u16, flags: libc::c_int, body: &[u8]) -> io::Result<()> {
        self.transact(msg_type, flags, body, true).map(drop)
    }

    /// Sends one request; returns the body of the first reply message (None for a bare
    /// acknowledgement), or the error the kernel answered.
    fn transact(
        &mut self,
        msg_type: u16,
        flags: libc::c_int,
        body: &[u8],
        ack: bool,
    ) -> io::Result<Option<Vec<u8>>> {
        self.seq += 1;
        let len = NLMSG_HDRLEN + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&msg_type.to_ne_bytes());
        let ack_flag = if ack { libc::NLM_F_ACK } else { 0 };
        let flags = (libc::NLM_F_REQUEST | ack_flag | flags) as u16;
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it in
        msg.extend_from_slice(body);

        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(annotate(io::Error::last_os_error(), "netlink send"));
        }

        let mut buf = [0u8; 8192];
        loop {
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(annotate(err, "netlink receive"));
            }
            let mut rest = &buf[..n as usize];
            while rest.len() >= NLMSG_HDRLEN {
                let mlen = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
                let mtype = u16::from_ne_bytes(rest[4..6].try_into().unwrap());
                let mseq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
                if mlen < NLMSG_HDRLEN || mlen > rest.len() {
                    break;
                }
                if mseq == self.seq {
                    if mtype == libc::NLMSG_ERROR as u16 && mlen >= 20 {
                        let errno = i32::from_ne_bytes(rest[16..20].try_into().unwrap());
                        return if errno == 0 {
                            Ok(None)
                        } else {
                            Err(io::Error::from_raw_os_error(-errno))
                        };
                    }
                    if mtype != libc::NLMSG_NOOP as u16 && mtype != libc::NLMSG_DONE as u16 {
                        // A data reply (RTM_GETROUTE). Anything left over from an earlier
                        // request carries an older sequence number and is skipped later.
                        return Ok(Some(rest[NLMSG_HDRLEN..mlen].to_vec()));
                    }
                }
                rest = &rest[(mlen + 3) & !3..];
            }
        }
    }
}

fn push_attr(buf: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize((buf.len() + 3) & !3, 0);
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
