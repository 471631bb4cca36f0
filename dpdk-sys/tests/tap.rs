//! net_tap ports against the Linux kernel, each inside a network namespace the test creates
//! for itself (never the root one): ICMP echo and ARP round trips, how long a round trip takes,
//! frames reaching a port that changed threads, and that dropping the port removes the kernel
//! interface.

mod common;

use std::ffi::c_char;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use dpdk_sys::{Mempool, Port};
use nix::sched::{unshare, CloneFlags};

/// The kernel's address on the tap, and the fake peer's (the DPDK side); a documentation
/// range no interface of the machine uses.
const KERNEL_IP: [u8; 4] = [198, 51, 100, 1];
const PEER_IP: [u8; 4] = [198, 51, 100, 2];
/// The fake peer's MAC: the DPDK port impersonates it (promiscuous, it receives its frames).
/// net_tap gives the kernel interface the port's own MAC, so the peer needs one of its own.
const PEER_MAC: [u8; 6] = [0x02, 0x53, 0x44, 0, 0, 2];

/// Linux's ARP flags (<net/if_arp.h>): a complete, permanent entry.
const ATF_COM: i32 = 0x02;
const ATF_PERM: i32 = 0x04;

/// Runs `body` on a new thread inside a network namespace of its own, which goes away with
/// the thread. `body` gets a socket of the root namespace, to check nothing appears there.
fn in_private_netns<T: Send>(body: impl FnOnce(&Ifaces) -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let root = Ifaces::new();
                let root_ns = std::fs::read_link("/proc/thread-self/ns/net").expect("netns");
                unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
                let own_ns = std::fs::read_link("/proc/thread-self/ns/net").expect("netns");
                assert_ne!(own_ns, root_ns, "still in the root network namespace");
                body(&root)
            })
            .join()
            .expect("netns thread")
    })
}

/// Interface ioctls on an AF_INET socket, which act in the namespace the socket was made in.
struct Ifaces {
    socket: OwnedFd,
}

impl Ifaces {
    fn new() -> Ifaces {
        // SAFETY: plain socket(2) call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        Ifaces { socket }
    }

    fn request(name: &str) -> libc::ifreq {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        assert!(name.len() < req.ifr_name.len());
        for (slot, byte) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *slot = byte as c_char;
        }
        req
    }

    fn ioctl<T>(&self, request: libc::c_ulong, arg: &mut T) -> std::io::Result<()> {
        // SAFETY: every request used here takes a pointer to the struct type passed with it
        // (ifreq or arpreq), which is valid and writable for the call.
        let ret = unsafe { libc::ioctl(self.socket.as_raw_fd(), request, arg as *mut T) };
        if ret < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Whether an interface of that name exists in this socket's namespace.
    fn exists(&self, name: &str) -> bool {
        let mut req = Self::request(name);
        self.ioctl(libc::SIOCGIFINDEX, &mut req).is_ok()
    }

    fn mac(&self, name: &str) -> [u8; 6] {
        let mut req = Self::request(name);
        self.ioctl(libc::SIOCGIFHWADDR, &mut req)
            .expect("SIOCGIFHWADDR");
        // SAFETY: SIOCGIFHWADDR filled the hwaddr member.
        let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
        std::array::from_fn(|i| data[i] as u8)
    }

    /// Gives `name` the IPv4 address `ip`/24, turns IPv6 off on it and brings it up.
    fn configure(&self, name: &str, ip: [u8; 4]) {
        let mut req = Self::request(name);
        req.ifr_ifru.ifru_addr = sockaddr_in(ip);
        self.ioctl(libc::SIOCSIFADDR, &mut req)
            .expect("SIOCSIFADDR");
        req.ifr_ifru.ifru_netmask = sockaddr_in([255, 255, 255, 0]);
        self.ioctl(libc::SIOCSIFNETMASK, &mut req)
            .expect("SIOCSIFNETMASK");
        // /proc/sys/net is the opening thread's namespace's: no router solicitations or MLD
        // reports to wade through.
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1")
            .expect("disable IPv6");
        self.ioctl(libc::SIOCGIFFLAGS, &mut req)
            .expect("SIOCGIFFLAGS");
        // SAFETY: SIOCGIFFLAGS filled the flags member.
        unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
        self.ioctl(libc::SIOCSIFFLAGS, &mut req)
            .expect("SIOCSIFFLAGS");
    }

    /// A permanent neighbour entry on `name`: `ip` is at `mac`.
    fn add_neighbour(&self, name: &str, ip: [u8; 4], mac: [u8; 6]) {
        // SAFETY: arpreq is plain old data; all-zero is a valid value.
        let mut req: libc::arpreq = unsafe { std::mem::zeroed() };
        req.arp_pa = sockaddr_in(ip);
        req.arp_ha.sa_family = libc::ARPHRD_ETHER;
        for (slot, byte) in req.arp_ha.sa_data.iter_mut().zip(mac) {
            *slot = byte as c_char;
        }
        req.arp_flags = ATF_PERM | ATF_COM;
        for (slot, byte) in req.arp_dev.iter_mut().zip(name.bytes()) {
            *slot = byte as c_char;
        }
        self.ioctl(libc::SIOCSARP, &mut req).expect("SIOCSARP");
    }
}

/// An AF_INET sockaddr for `ip`, as the interface ioctls take it.
fn sockaddr_in(ip: [u8; 4]) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the kernel reads it as sockaddr_in.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

/// The Internet checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const ICMP_PAYLOAD: usize = 56;
const ECHO_LEN: usize = 14 + 20 + 8 + ICMP_PAYLOAD;

/// An Ethernet/IPv4/ICMP echo request from the peer to the kernel, sequence number 0.
fn echo_request(kernel_mac: [u8; 6], peer_mac: [u8; 6], id: u16) -> Vec<u8> {
    let mut frame = Vec::with_capacity(ECHO_LEN);
    frame.extend_from_slice(&kernel_mac);
    frame.extend_from_slice(&peer_mac);
    frame.extend_from_slice(&[0x08, 0x00]);
    let total = (ECHO_LEN - 14) as u16;
    frame.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        1,
    ]);
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&PEER_IP);
    frame.extend_from_slice(&KERNEL_IP);
    let ip_sum = checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&ip_sum.to_be_bytes());
    frame.extend_from_slice(&[8, 0, 0, 0]);
    frame.extend_from_slice(&id.to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend((0..ICMP_PAYLOAD).map(|i| i as u8));
    set_echo_sequence(&mut frame, 0);
    frame
}

/// Rewrites an echo request's sequence number and ICMP checksum.
fn set_echo_sequence(frame: &mut [u8], seq: u16) {
    frame[40..42].copy_from_slice(&seq.to_be_bytes());
    frame[36..38].copy_from_slice(&[0, 0]);
    let sum = checksum(&frame[34..]);
    frame[36..38].copy_from_slice(&sum.to_be_bytes());
}

/// Whether `frame` is the kernel's echo reply to `request`.
fn is_echo_reply(frame: &[u8], request: &[u8]) -> bool {
    frame.len() >= ECHO_LEN
        && frame[0..6] == request[6..12]
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 1
        && frame[26..30] == KERNEL_IP
        && frame[30..34] == PEER_IP
        && frame[34] == 0
        && frame[38..42] == request[38..42]
        && frame[42..ECHO_LEN] == request[42..]
}

/// A started net_tap port whose kernel side has KERNEL_IP and knows PEER_IP at PEER_MAC;
/// returns the kernel interface's MAC too.
fn tap_port(port: Port, ifaces: &Ifaces, iface: &str) -> (Port, [u8; 6]) {
    let mut port = port;
    let pool = Mempool::new(&common::unique("tappool"), 2047).expect("pool");
    port.start(pool, 512).expect("start");
    port.wait_link_up(Duration::from_secs(2)).expect("link up");
    assert_eq!(port.driver_name(), "net_tap");
    ifaces.configure(iface, KERNEL_IP);
    ifaces.add_neighbour(iface, PEER_IP, PEER_MAC);
    let kernel_mac = ifaces.mac(iface);
    (port, kernel_mac)
}

/// A net_tap device `vdev` hot-plugged as `iface` and started as [`tap_port`] does.
fn attached_tap(vdev: &str, iface: &str) -> (Port, [u8; 6]) {
    let port = Port::attach_vdev(vdev, &format!("iface={iface}")).expect("attach net_tap");
    tap_port(port, &Ifaces::new(), iface)
}

/// Initialises EAL and returns fresh names for a net_tap device and its kernel interface.
fn tap_names() -> (String, String) {
    common::eal();
    let n = common::unique("");
    (format!("net_tap{n}"), format!("dtap{n}"))
}

/// Sends `request` and waits up to a second for the kernel's echo reply.
fn echo_once(port: &mut Port, request: &[u8], copy: bool) -> Duration {
    let start = Instant::now();
    port.send(request).expect("send");
    let mut got = false;
    let mut copies = Vec::new();
    while !got {
        if copy {
            copies.clear();
            port.receive(&mut copies, dpdk_sys::BURST).expect("receive");
            got = copies.iter().any(|frame| is_echo_reply(frame, request));
        } else {
            port.receive_with(dpdk_sys::BURST, |frame| {
                got |= is_echo_reply(frame, request);
            })
            .expect("receive");
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "no echo reply within a second"
        );
    }
    start.elapsed()
}

/// Median and 99th percentile of `samples`, in µs.
fn summary(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    (
        micros(samples[samples.len() / 2]),
        micros(samples[samples.len() * 99 / 100]),
    )
}

#[test]
fn icmp_echo_to_the_kernel_through_net_tap_and_the_interface_goes_with_the_port() {
    let (vdev, iface) = tap_names();
    in_private_netns(|root| {
        let ifaces = Ifaces::new();
        let port = Port::attach_vdev(&vdev, &format!("iface={iface}")).expect("attach net_tap");
        assert!(
            ifaces.exists(&iface),
            "{iface} is not in the test's namespace"
        );
        assert!(
            !root.exists(&iface),
            "{iface} appeared in the root namespace"
        );
        let (mut port, kernel_mac) = tap_port(port, &ifaces, &iface);

        let mut request = echo_request(kernel_mac, PEER_MAC, 0x5d5d);
        for (copy, label) in [(false, "receive_with"), (true, "receive (copies)")] {
            let mut samples: Vec<Duration> = (0..2000u16)
                .map(|seq| {
                    set_echo_sequence(&mut request, seq);
                    echo_once(&mut port, &request, copy)
                })
                .collect();
            let (median, p99) = summary(&mut samples[100..]);
            eprintln!(
                "net_tap ICMP echo round trip via {label}: median {median:.1} µs, p99 {p99:.1} µs over {} frames",
                samples.len() - 100
            );
        }

        port.close().expect("close");
        assert!(
            !ifaces.exists(&iface),
            "{iface} is still there after the port closed"
        );
        // The name and the interface name are free again.
        let port = Port::attach_vdev(&vdev, &format!("iface={iface}")).expect("attach again");
        assert!(ifaces.exists(&iface));
        drop(port);
        assert!(
            !ifaces.exists(&iface),
            "{iface} is still there after the port dropped"
        );
    });
}

#[test]
fn arp_is_answered_on_a_probed_net_tap_and_the_interface_goes_with_the_port() {
    let (vdev, iface) = tap_names();
    in_private_netns(|root| {
        let ifaces = Ifaces::new();
        let port = Port::probe(&format!("{vdev},iface={iface}")).expect("probe net_tap");
        assert!(ifaces.exists(&iface) && !root.exists(&iface));
        let (mut port, kernel_mac) = tap_port(port, &ifaces, &iface);

        // Who has KERNEL_IP? Tell PEER_IP.
        let mut request = vec![0xff; 6];
        request.extend_from_slice(&PEER_MAC);
        request.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        request.extend_from_slice(&PEER_MAC);
        request.extend_from_slice(&PEER_IP);
        request.extend_from_slice(&[0; 6]);
        request.extend_from_slice(&KERNEL_IP);
        port.send(&request).expect("send ARP request");

        let deadline = Instant::now() + Duration::from_secs(1);
        let mut frames = Vec::new();
        let reply = loop {
            frames.clear();
            port.receive(&mut frames, 8).expect("receive");
            let reply = frames.iter().find(|frame| {
                frame.len() >= 42 && frame[12..14] == [0x08, 0x06] && frame[20..22] == [0, 2]
            });
            if let Some(reply) = reply {
                break reply.clone();
            }
            assert!(Instant::now() < deadline, "no ARP reply within a second");
        };
        assert_eq!(reply[0..6], PEER_MAC);
        assert_eq!(reply[22..28], kernel_mac, "sender hardware address");
        assert_eq!(reply[28..32], KERNEL_IP, "sender protocol address");
        assert_eq!(reply[38..42], PEER_IP, "target protocol address");

        drop(port);
        assert!(
            !ifaces.exists(&iface),
            "{iface} is still there after the port dropped"
        );
    });
}

#[test]
fn frames_reach_a_port_that_moved_to_another_thread() {
    let (vdev, iface) = tap_names();
    in_private_netns(|_root| {
        let ifaces = Ifaces::new();
        let port = Port::attach_vdev(&vdev, &format!("iface={iface}")).expect("attach net_tap");
        let (port, kernel_mac) = tap_port(port, &ifaces, &iface);
        // A poller thread does a round trip (net_tap's rx signal now goes to it, and has
        // fired) and exits.
        let mut port = std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let mut port = port;
                    let mut request = echo_request(kernel_mac, PEER_MAC, 0x7e7e);
                    for seq in 0..3 {
                        set_echo_sequence(&mut request, seq);
                        echo_once(&mut port, &request, false);
                    }
                    port
                })
                .join()
                .expect("poller thread")
        });
        // The kernel sends a datagram to the peer while the signal's owner is gone...
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("UDP socket");
        socket
            .send_to(b"stackdrill", (std::net::Ipv4Addr::from(PEER_IP), 9))
            .expect("send UDP");
        std::thread::sleep(Duration::from_millis(20));
        // ...and this thread still receives it.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut frames = Vec::new();
        while !frames
            .iter()
            .any(|frame: &Vec<u8>| frame.ends_with(b"stackdrill"))
        {
            assert!(
                Instant::now() < deadline,
                "the kernel's datagram never arrived"
            );
            port.receive(&mut frames, 8).expect("receive");
        }
    });
}

/// An Ethernet/IPv4/UDP frame from the peer to the kernel's `port`, carrying `payload` (UDP
/// checksum 0: none, which IPv4 allows).
fn udp_frame(kernel_mac: [u8; 6], port: u16, payload: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + payload.len()) as u16;
    let mut frame = Vec::with_capacity(14 + usize::from(total));
    frame.extend_from_slice(&kernel_mac);
    frame.extend_from_slice(&PEER_MAC);
    frame.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    frame.extend_from_slice(&total.to_be_bytes());
    frame.extend_from_slice(&[0, 2, 0x40, 0, 64, 17, 0, 0]);
    frame.extend_from_slice(&PEER_IP);
    frame.extend_from_slice(&KERNEL_IP);
    let ip_sum = checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&ip_sum.to_be_bytes());
    frame.extend_from_slice(&4242u16.to_be_bytes());
    frame.extend_from_slice(&port.to_be_bytes());
    frame.extend_from_slice(&(total - 20).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(payload);
    frame
}

#[test]
fn a_frame_above_the_mtu_reaches_the_kernel_whole_through_the_tap_queue() {
    let (vdev, iface) = tap_names();
    in_private_netns(|_root| {
        let (mut port, kernel_mac) = attached_tap(&vdev, &iface);
        let socket = std::net::UdpSocket::bind((std::net::Ipv4Addr::from(KERNEL_IP), 0))
            .expect("UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        let udp_port = socket.local_addr().expect("address").port();
        let payload: Vec<u8> = (0..9000u32).map(|i| (i % 251) as u8).collect();
        let frame = udp_frame(kernel_mac, udp_port, &payload);

        let refused = port
            .send(&frame)
            .expect_err("net_tap sends a 9042-byte frame");
        assert!(
            refused.to_string().contains("does not fit"),
            "unexpected error: {refused}"
        );
        port.write_to_tap(&frame).expect("write to the tap queue");
        let mut got = vec![0u8; 65536];
        let n = socket
            .recv(&mut got)
            .expect("the kernel delivers the datagram");
        assert_eq!(&got[..n], &payload[..], "the datagram arrived whole");
    });
}

#[test]
fn wait_rx_wakes_when_the_kernel_sends_and_times_out_when_it_does_not() {
    let (vdev, iface) = tap_names();
    in_private_netns(|_root| {
        let (mut port, kernel_mac) = attached_tap(&vdev, &iface);
        assert!(port.rx_fd().is_some(), "net_tap has an rx fd");
        // Whatever the kernel sent on its own (router solicitations...) is taken first.
        let mut frames = Vec::new();
        while port.wait_rx(Duration::from_millis(20)).expect("wait") {
            port.receive(&mut frames, dpdk_sys::BURST).expect("receive");
        }
        let request = echo_request(kernel_mac, PEER_MAC, 0x4b4b);
        for _ in 0..20 {
            port.send(&request).expect("send");
            let start = Instant::now();
            let mut replied = false;
            while !replied {
                assert!(
                    port.wait_rx(Duration::from_secs(1)).expect("wait"),
                    "no frame within a second"
                );
                frames.clear();
                port.receive(&mut frames, dpdk_sys::BURST).expect("receive");
                replied = frames.iter().any(|frame| is_echo_reply(frame, &request));
                assert!(start.elapsed() < Duration::from_secs(1), "no echo reply");
            }
        }
    });
}
