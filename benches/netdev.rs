//! The wire's round trip and a script's setup, through stackdrill's own code path: for each
//! netdev (`--netdev=tun`, `--netdev=veth`, and `--netdev=dpdk` and `--netdev=af_xdp` with
//! their features) a
//! child process opens the backend exactly as a run does (`sut::choose`, `sut::open`: a private
//! network namespace, tun0, or a veth pair or net_tap port standing in for it), listens on the kernel's address, then, many
//! times, injects a SYN through the backend's `Netdev`, reads until the kernel's SYN-ACK and
//! sends a RST. Each child prints one line:
//!
//! `stackdrill mode=M iterations=N median_us=X p99_us=Y open_ms=A teardown_ms=B`
//!
//! (`open_ms`: `sut::open`, EAL included; `teardown_ms`: dropping the backend.)
//! `scripts/bench-netdev.sh` runs it beside a C reference doing the same on the same devices.
//!
//! `cargo bench --bench netdev [--features dpdk] -- [-n ITERATIONS]` runs it (as root: tun
//! devices and DPDK ports need it). Without `--bench` (as `cargo test --all-targets` runs every
//! bench) it measures nothing and succeeds.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use nix::sys::socket::{self, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn};
use stackdrill::cli::{Config, OptionSetting};
use stackdrill::sut::network::Addresses;
use stackdrill::sut::{self, Backend};
use stackdrill::wire::checksum;
use stackdrill::wire::PROTO_TCP;

/// The kernel's listening port.
const LISTEN_PORT: u16 = 8080;
/// Round trips done before measuring (first packets warm caches, neighbour entries, routes).
const WARMUP: usize = 20;
/// How long the kernel may take to answer one SYN.
const TIMEOUT: Duration = Duration::from_secs(1);
/// TCP flags.
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// The netdevs this build can open.
fn modes() -> Vec<&'static str> {
    let mut modes = vec!["tun", "veth"];
    if cfg!(feature = "dpdk") {
        modes.push("dpdk");
    }
    if cfg!(feature = "af_xdp") {
        modes.push("af_xdp");
    }
    modes
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let iterations = match value("-n").map(|n| n.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("netdev bench: -n takes a positive number of iterations");
            return ExitCode::from(2);
        }
    };
    if let Some(mode) = value("--child") {
        return match child(&mode, iterations) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("netdev bench ({mode}): {e}");
                ExitCode::FAILURE
            }
        };
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("netdev bench: measures only under `cargo bench` (scripts/bench-netdev.sh)");
        return ExitCode::SUCCESS;
    }
    let modes = value("--modes").map_or_else(
        || modes().into_iter().map(str::to_string).collect(),
        |list| list.split(',').map(str::to_string).collect::<Vec<_>>(),
    );
    let mut failed = false;
    for mode in modes {
        // One process per mode: sut::open moves its thread into a new namespace, and EAL
        // starts once per process, as in a run.
        let status = std::env::current_exe().and_then(|me| {
            Command::new(me)
                .args(["--child", &mode, "-n", &iterations.to_string()])
                .status()
        });
        match status {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("netdev bench: mode {mode} failed ({status})");
                failed = true;
            }
            Err(e) => {
                eprintln!("netdev bench: cannot start the {mode} child: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Opens the backend for `--netdev=MODE` as a run does, measures `iterations` round trips, tears
/// it down; the result line.
fn child(mode: &str, iterations: usize) -> Result<String, String> {
    let mut config = Config::default();
    for (name, value) in [("netdev", mode), ("ip_version", "ipv4")] {
        config
            .apply(&OptionSetting::with_value(name, value))
            .map_err(|e| e.to_string())?;
    }
    let addresses = Addresses::from_config(&config)?;
    let choice = sut::choose(&config)?;
    let opening = Instant::now();
    let mut backend = sut::open(&choice, &config, &addresses, &[])?;
    let open = opening.elapsed();
    let (IpAddr::V4(local), IpAddr::V4(remote)) = (addresses.local_ip, addresses.remote_ip) else {
        return Err("IPv4 addresses expected".to_string());
    };
    // This thread is in the run's namespace now: the kernel listens there.
    let listener = listen(local).map_err(|e| format!("cannot listen on {local}: {e}"))?;
    let mut round_trips = Vec::with_capacity(iterations);
    for i in 0..WARMUP + iterations {
        let source_port = 20000 + (i % 40000) as u16;
        let isn = 1_000_000u32.wrapping_mul(i as u32 + 1);
        let took = round_trip(&mut backend, remote, local, source_port, isn)
            .map_err(|e| format!("round trip {i}: {e}"))?;
        if i >= WARMUP {
            round_trips.push(took);
        }
    }
    let closing = Instant::now();
    drop(listener);
    drop(backend);
    let teardown = closing.elapsed();
    round_trips.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let p99 = round_trips[(iterations * 99 / 100).min(iterations - 1)];
    Ok(format!(
        "stackdrill mode={mode} iterations={iterations} median_us={:.2} p99_us={:.2} \
         open_ms={:.1} teardown_ms={:.1}",
        micros(round_trips[iterations / 2]),
        micros(p99),
        open.as_secs_f64() * 1e3,
        teardown.as_secs_f64() * 1e3,
    ))
}

/// A kernel TCP listener on `local`:LISTEN_PORT with a long queue.
fn listen(local: Ipv4Addr) -> nix::Result<std::os::fd::OwnedFd> {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    socket::setsockopt(&fd, socket::sockopt::ReuseAddr, &true)?;
    socket::bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(SocketAddrV4::new(local, LISTEN_PORT)),
    )?;
    socket::listen(&fd, Backlog::new(4096)?)?;
    Ok(fd)
}

/// One SYN in, read until its SYN-ACK comes out (the time between), then a RST so the listener
/// forgets the half-open connection.
fn round_trip(
    backend: &mut Backend,
    peer: Ipv4Addr,
    local: Ipv4Addr,
    source_port: u16,
    isn: u32,
) -> Result<Duration, String> {
    let syn = tcp_packet(peer, local, source_port, isn, SYN);
    let deadline = backend.clock.now_usecs() + TIMEOUT.as_micros() as i64;
    let sent = Instant::now();
    backend
        .netdev
        .send(&syn, None)
        .map_err(|e| format!("send: {e}"))?;
    loop {
        match backend.netdev.receive(Some(deadline)) {
            Ok(Some((packet, _))) if is_syn_ack(&packet, source_port) => break,
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("no SYN-ACK within {TIMEOUT:?}")),
            Err(e) => return Err(format!("receive: {e}")),
        }
    }
    let took = sent.elapsed();
    let rst = tcp_packet(peer, local, source_port, isn.wrapping_add(1), RST);
    backend
        .netdev
        .send(&rst, None)
        .map_err(|e| format!("send: {e}"))?;
    Ok(took)
}

/// An IPv4 TCP segment from the peer to the listener, checksummed; a SYN carries MSS 1460.
fn tcp_packet(src: Ipv4Addr, dst: Ipv4Addr, source_port: u16, seq: u32, flags: u8) -> Vec<u8> {
    let options: &[u8] = if flags & SYN != 0 {
        &[2, 4, 0x05, 0xb4]
    } else {
        &[]
    };
    let tcp_len = 20 + options.len();
    let mut packet = vec![0u8; 20 + tcp_len];
    packet[0] = 0x45;
    packet[2..4].copy_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
    packet[6] = 0x40; // don't fragment
    packet[8] = 64;
    packet[9] = PROTO_TCP;
    packet[12..16].copy_from_slice(&src.octets());
    packet[16..20].copy_from_slice(&dst.octets());
    let ip_sum = checksum::checksum(&packet[..20], 10);
    packet[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    let tcp = &mut packet[20..];
    tcp[0..2].copy_from_slice(&source_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&LISTEN_PORT.to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[12] = ((tcp_len / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    tcp[20..].copy_from_slice(options);
    let tcp_sum = checksum::transport(src.into(), dst.into(), PROTO_TCP, tcp, 16);
    tcp[16..18].copy_from_slice(&tcp_sum.to_be_bytes());
    packet
}

/// Whether `packet` is the listener's SYN-ACK to `source_port`.
fn is_syn_ack(packet: &[u8], source_port: u16) -> bool {
    let Some(at) = checksum::transport_at(packet) else {
        return false;
    };
    let Some(tcp) = packet.get(at.offset..at.offset + 20) else {
        return false;
    };
    at.protocol == PROTO_TCP
        && tcp[0..2] == LISTEN_PORT.to_be_bytes()
        && tcp[2..4] == source_port.to_be_bytes()
        && tcp[13] & (SYN | ACK) == SYN | ACK
}
