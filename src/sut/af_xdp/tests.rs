//! XdpPort against the real kernel: each test makes a private network namespace on a thread of
//! its own, a veth pair in it (the kernel's end with 198.51.100.1/24 and a permanent neighbour
//! for the peer, 198.51.100.2), and an AF_XDP port on the other end. They need root (without
//! it they skip); one checks the refusal as nobody in a user namespace.

use std::io;
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};

use super::{turn_off_transmit_checksum_offload, XdpPort};
use crate::sut::kernel::rtnetlink::Rtnetlink;
use crate::wire::checksum;
use crate::wire::link::{self, Mac, PEER_MAC};

const KERNEL_END: &str = "xdp0";
const PEER_END: &str = "xdp0-peer";
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// One AF_XDP test at a time: the leak check counts the process's BPF file descriptors.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The veth pair in the thread's own namespace, and the port on its peer end.
struct Link {
    port: XdpPort,
    kernel_mac: Mac,
}

fn interface_index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| io::Error::other(format!("{name}: {e}")))
}

/// Runs `test` on a new thread in a new network namespace, which goes when the thread ends.
fn in_private_namespace<T: Send + 'static>(test: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
        test()
    })
    .join()
    .expect("the namespace thread panicked")
}

/// Makes the veth pair in the current namespace and opens the port on its peer end.
fn open_link() -> Result<Link, String> {
    let mut rtnetlink = Rtnetlink::open().map_err(|e| e.to_string())?;
    rtnetlink
        .add_veth((KERNEL_END, None), (PEER_END, None))
        .map_err(|e| e.to_string())?;
    let kernel = interface_index(KERNEL_END).map_err(|e| e.to_string())?;
    let peer = interface_index(PEER_END).map_err(|e| e.to_string())?;
    // No IPv6 chatter (router solicitations, MLD reports) on the link.
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{KERNEL_END}/disable_ipv6"),
        "1",
    )
    .map_err(|e| e.to_string())?;
    turn_off_transmit_checksum_offload(KERNEL_END).map_err(|e| e.to_string())?;
    rtnetlink
        .add_address(kernel, IpAddr::V4(KERNEL_IP), 24)
        .map_err(|e| e.to_string())?;
    rtnetlink
        .add_neighbour(kernel, IpAddr::V4(PEER_IP), PEER_MAC)
        .map_err(|e| e.to_string())?;
    rtnetlink
        .set_link_up(kernel, None)
        .map_err(|e| e.to_string())?;
    rtnetlink
        .set_link_up(peer, None)
        .map_err(|e| e.to_string())?;
    let kernel_mac: Mac = rtnetlink
        .link_address(kernel)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "the kernel's end has no 6-byte MAC".to_string())?;
    let port = XdpPort::open(PEER_END)?;
    Ok(Link { port, kernel_mac })
}

/// Whether this process may use AF_XDP (root); if not, the test says on stderr that it skips.
fn running_as_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: AF_XDP needs root");
    }
    root
}

/// Runs `test` on a port over a fresh veth pair in a private namespace, one test at a time;
/// None (skipped) without root.
fn on_a_link<T: Send + 'static>(test: impl FnOnce(Link) -> T + Send + 'static) -> Option<T> {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !running_as_root() {
        return None;
    }
    Some(in_private_namespace(|| test(open_link().unwrap())))
}

/// Set in the environment of [`opening_as_nobody_in_a_user_namespace`]'s child.
const REFUSAL_PROBE: &str = "STACKDRILL_AF_XDP_REFUSAL_PROBE";

/// Run by [`opening_without_root_says_af_xdp_needs_root`] as nobody in a user namespace
/// (mapped to root there): prints the refusal of opening a port.
#[test]
#[ignore = "run by opening_without_root_says_af_xdp_needs_root"]
fn opening_as_nobody_in_a_user_namespace() {
    if std::env::var_os(REFUSAL_PROBE).is_none() {
        return;
    }
    let refusal = in_private_namespace(|| open_link().err());
    println!("refusal: {}", refusal.unwrap_or_default());
}

/// As nobody in a user namespace (as `unshare -Urn` makes one), opening fails in one line that
/// says AF_XDP needs root: the user namespace's root has no capability in the initial one.
#[test]
fn opening_without_root_says_af_xdp_needs_root() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !running_as_root() {
        return;
    }
    let test_binary = std::env::current_exe().unwrap();
    let as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let executable = std::process::Command::new(as_nobody[0])
        .args(&as_nobody[1..])
        .arg("test")
        .arg("-x")
        .arg(&test_binary)
        .status();
    if !executable.is_ok_and(|status| status.success()) {
        eprintln!("skipped: nobody cannot run {}", test_binary.display());
        return;
    }
    let out = std::process::Command::new(as_nobody[0])
        .args(&as_nobody[1..])
        .args(["unshare", "--user", "--map-root-user", "--net"])
        .arg(&test_binary)
        .args([
            "sut::af_xdp::tests::opening_as_nobody_in_a_user_namespace",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(REFUSAL_PROBE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refusal = stdout
        .lines()
        .find_map(|line| line.strip_prefix("refusal: "))
        .unwrap_or_else(|| panic!("no refusal from the child:\n{stdout}"));
    assert!(
        refusal.starts_with("--netdev=af_xdp: AF_XDP needs root"),
        "{refusal}"
    );
}

/// An IPv4 header for `payload` from the peer to the kernel, its checksum filled in.
fn ipv4_packet(protocol: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut packet = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        protocol,
        0,
        0,
    ];
    packet.extend_from_slice(&PEER_IP.octets());
    packet.extend_from_slice(&KERNEL_IP.octets());
    let header_checksum = checksum::checksum(&packet, 10);
    packet[10..12].copy_from_slice(&header_checksum.to_be_bytes());
    packet.extend_from_slice(payload);
    packet
}

fn echo_request(kernel_mac: Mac, sequence: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34];
    icmp.extend_from_slice(&sequence.to_be_bytes());
    icmp.extend_from_slice(b"stackdrill af_xdp");
    let icmp_checksum = checksum::checksum(&icmp, 2);
    icmp[2..4].copy_from_slice(&icmp_checksum.to_be_bytes());
    link::frame(kernel_mac, PEER_MAC, &ipv4_packet(1, &icmp))
}

/// A TCP segment (no options) from the peer's `port` to the kernel's `listener_port`.
fn tcp_segment(kernel_mac: Mac, port: u16, listener_port: u16, seq: u32, flags: u8) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20);
    tcp.extend_from_slice(&port.to_be_bytes());
    tcp.extend_from_slice(&listener_port.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&0u32.to_be_bytes());
    tcp.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    let tcp_checksum = checksum::transport(IpAddr::V4(PEER_IP), IpAddr::V4(KERNEL_IP), 6, &tcp, 16);
    tcp[16..18].copy_from_slice(&tcp_checksum.to_be_bytes());
    link::frame(kernel_mac, PEER_MAC, &ipv4_packet(6, &tcp))
}

fn arp_request_for_kernel() -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&PEER_MAC);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&PEER_MAC);
    frame.extend_from_slice(&PEER_IP.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&KERNEL_IP.octets());
    frame
}

/// Receives until a frame `wanted` accepts arrives; panics after [`ANSWER_TIMEOUT`].
fn receive_until(port: &mut XdpPort, wanted: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    let mut frames = Vec::new();
    loop {
        port.receive(&mut frames).expect("receive");
        if let Some(found) = frames.drain(..).find(|frame| wanted(frame)) {
            return found;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "no answer within {ANSWER_TIMEOUT:?} ({})",
            port.dropped().unwrap_or_default()
        );
        port.wait(left).expect("wait");
    }
}

fn is_echo_reply(frame: &[u8], sequence: u16) -> bool {
    let Some(packet) = link::ip_packet(frame) else {
        return false;
    };
    packet.len() >= 28
        && packet[9] == 1
        && packet[12..16] == KERNEL_IP.octets()
        && packet[20] == 0
        && packet[26..28] == sequence.to_be_bytes()
}

fn is_syn_ack_to(frame: &[u8], port: u16) -> bool {
    let Some(packet) = link::ip_packet(frame) else {
        return false;
    };
    packet.len() >= 40 && packet[9] == 6 && packet[22..24] == port.to_be_bytes() && {
        packet[33] & 0x12 == 0x12
    }
}

#[test]
fn the_kernel_answers_an_echo_request_through_the_port() {
    on_a_link(
        |Link {
             mut port,
             kernel_mac,
         }| {
            port.send(&echo_request(kernel_mac, 7)).unwrap();
            let reply = receive_until(&mut port, |frame| is_echo_reply(frame, 7));
            assert_eq!(reply[0..6], PEER_MAC, "the reply goes to the peer's MAC");
            let icmp = &link::ip_packet(&reply).unwrap()[20..];
            assert_eq!(
                checksum::checksum(icmp, 2).to_be_bytes(),
                icmp[2..4],
                "the reply's ICMP checksum"
            );
        },
    );
}

#[test]
fn the_kernel_answers_an_arp_request_through_the_port() {
    on_a_link(
        |Link {
             mut port,
             kernel_mac,
         }| {
            port.send(&arp_request_for_kernel()).unwrap();
            let reply = receive_until(&mut port, |frame| {
                frame.len() >= 42 && frame[12..14] == [0x08, 0x06] && frame[20..22] == [0, 2]
            });
            assert_eq!(reply[22..28], kernel_mac, "the sender is the kernel's end");
            assert_eq!(reply[28..32], KERNEL_IP.octets());
            assert_eq!(reply[32..38], PEER_MAC, "the target is the asker");
        },
    );
}

#[test]
fn a_frame_larger_than_a_umem_frame_is_refused_in_one_line() {
    on_a_link(|Link { mut port, .. }| {
        let refusal = port.send(&[0; 9014]).unwrap_err().to_string();
        assert!(refusal.starts_with("--netdev=af_xdp: "), "{refusal}");
        assert!(!refusal.contains('\n'), "{refusal}");
    });
}

/// File descriptors of this process that are BPF programs or maps (libxdp's program and its
/// XSKMAP while a port is open).
fn bpf_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("anon_inode:bpf-"))
        .count()
}

fn root_namespace_interfaces() -> Vec<String> {
    nix::net::if_::if_nameindex()
        .unwrap()
        .iter()
        .map(|interface| interface.name().to_string_lossy().into_owned())
        .collect()
}

fn bpffs_entries() -> Vec<String> {
    std::fs::read_dir("/sys/fs/bpf")
        .map(|entries| {
            entries
                .filter_map(|entry| Some(entry.ok()?.file_name().to_string_lossy().into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn nothing_is_left_once_the_port_and_its_namespace_are_gone() {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    if !running_as_root() {
        return;
    }
    let interfaces = root_namespace_interfaces();
    let pins = bpffs_entries();
    let descriptors = bpf_descriptors();
    let while_open = in_private_namespace(|| {
        let link = open_link().unwrap();
        let while_open = bpf_descriptors();
        drop(link);
        while_open
    });
    assert!(
        while_open > descriptors,
        "an open port holds libxdp's program"
    );
    assert_eq!(bpf_descriptors(), descriptors, "a BPF descriptor leaked");
    assert_eq!(
        root_namespace_interfaces(),
        interfaces,
        "an interface appeared in the root namespace"
    );
    assert_eq!(bpffs_entries(), pins, "something was pinned in /sys/fs/bpf");
}

/// The round trip through the port, SYN to SYN-ACK from a listening socket of the kernel's,
/// and ICMP echo: reported on stderr (median of a few hundred), not judged.
#[test]
fn round_trips_through_the_port() {
    const ITERATIONS: u16 = 300;
    let Some((echo, syn)) = on_a_link(
        |Link {
             mut port,
             kernel_mac,
         }| {
            let listener = TcpListener::bind((KERNEL_IP, 0)).unwrap();
            let listener_port = listener.local_addr().unwrap().port();
            let mut echo = Vec::new();
            let mut syn = Vec::new();
            for i in 0..ITERATIONS {
                let start = Instant::now();
                port.send(&echo_request(kernel_mac, i)).unwrap();
                receive_until(&mut port, |frame| is_echo_reply(frame, i));
                echo.push(start.elapsed());

                let peer_port = 20000 + i;
                let start = Instant::now();
                port.send(&tcp_segment(
                    kernel_mac,
                    peer_port,
                    listener_port,
                    1000,
                    0x02,
                ))
                .unwrap();
                let syn_ack = receive_until(&mut port, |frame| is_syn_ack_to(frame, peer_port));
                syn.push(start.elapsed());
                let packet = link::ip_packet(&syn_ack).unwrap();
                let tcp = &packet[20..];
                assert_eq!(
                    checksum::transport(IpAddr::V4(KERNEL_IP), IpAddr::V4(PEER_IP), 6, tcp, 16)
                        .to_be_bytes(),
                    tcp[16..18],
                    "the SYN-ACK's TCP checksum is complete"
                );
                port.send(&tcp_segment(
                    kernel_mac,
                    peer_port,
                    listener_port,
                    1001,
                    0x04,
                ))
                .unwrap();
            }
            (echo, syn)
        },
    ) else {
        return;
    };
    let median = |mut times: Vec<Duration>| {
        times.sort();
        times[times.len() / 2]
    };
    eprintln!(
        "AF_XDP round trip over a veth, median of {ITERATIONS}: ICMP echo {:?}, SYN to SYN-ACK {:?}",
        median(echo),
        median(syn)
    );
}
