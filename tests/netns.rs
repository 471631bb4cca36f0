//! The private namespace and its tun device, against the real kernel.
//!
//! Nothing here touches the root network namespace. Each test re-executes this test binary for
//! itself alone (`--exact NAME`, marked by an environment variable); that child forks, and the
//! grandchild — single-threaded, as `unshare(CLONE_NEWUSER)` requires — calls
//! `enter_private_namespace()` first thing, then does all its work there. The namespace dies
//! with the grandchild. The test process itself never leaves the root namespace, which lets
//! `root_namespace_is_untouched` compare the root namespace before and after.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use stackdrill::sut::kernel::netns::{create_tun, enter_private_namespace, TunConfig};
use stackdrill::sut::kernel::tun::TunNetdev;
use stackdrill::sut::netdev::Netdev;

const CHILD_ENV: &str = "STACKDRILL_NETNS_TEST_CHILD";
const PARENT_NETNS_ENV: &str = "STACKDRILL_NETNS_TEST_PARENT_NETNS";

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

// ---------------------------------------------------------------------------------------------
// Plumbing: child processes and the namespace.

fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

fn netns_id() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Runs test `name` of this binary in a child process, optionally through `wrapper` (a command
/// and its arguments, e.g. setpriv), with `exe` as the binary.
fn spawn_child_with(exe: &std::path::Path, name: &str, wrapper: &[&str]) -> Output {
    let args = [name, "--exact", "--nocapture", "--test-threads=1"];
    let mut cmd = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = Command::new(prog);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    cmd.args(args)
        .env(CHILD_ENV, name)
        .env(PARENT_NETNS_ENV, netns_id());
    cmd.output().expect("spawning the child test process")
}

fn spawn_child(name: &str) -> Output {
    spawn_child_with(&std::env::current_exe().unwrap(), name, &[])
}

fn check_child(name: &str, out: &Output) {
    println!(
        "---- child {name}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "child {name} failed: {}", out.status);
    // The harness filtered to exactly one test: make sure it ran.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "child {name} did not run its test"
    );
}

/// In the child: forks; the single-threaded grandchild enters a private namespace and runs
/// `body`. Panics if the grandchild fails.
fn run_in_namespace(body: fn()) {
    std::io::stdout().flush().ok();
    std::io::stderr().flush().ok();
    // SAFETY: the child only runs this test's body, whose namespace setup is what it checks;
    // it ends with _exit and never returns into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let ok = std::panic::catch_unwind(|| {
            let euid = nix::unistd::geteuid().as_raw();
            let t = Instant::now();
            enter_private_namespace().expect("enter_private_namespace");
            println!(
                "enter_private_namespace: {} µs (euid {euid} outside, {} inside)",
                t.elapsed().as_micros(),
                nix::unistd::geteuid().as_raw()
            );
            let parent = std::env::var(PARENT_NETNS_ENV).unwrap_or_default();
            assert!(!parent.is_empty());
            assert_ne!(
                netns_id(),
                parent,
                "still in the parent's network namespace"
            );
            body();
        })
        .is_ok();
        std::io::stdout().flush().ok();
        std::io::stderr().flush().ok();
        // SAFETY: _exit ends the forked child at once, without running the harness's exit
        // handlers (which belong to the parent).
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    assert!(
        matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))),
        "namespace process failed ({status:?})"
    );
}

/// A test whose body runs in a private namespace.
macro_rules! netns_test {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            if is_child(stringify!($name)) {
                run_in_namespace($body);
            } else {
                check_child(stringify!($name), &spawn_child(stringify!($name)));
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Configurations: run_all.py's values.

fn v4_config() -> TunConfig {
    TunConfig {
        name: "tun0".into(),
        ipv6: false,
        local_ip: "192.168.0.1".parse().unwrap(),
        local_prefix_len: 16,
        remote_ip: "192.0.2.1".parse().unwrap(),
        remote_prefix_len: 24,
        gateway_ip: "192.168.0.1".parse().unwrap(),
        mtu: 1500,
        is_anyip: false,
    }
}

fn v6_config() -> TunConfig {
    TunConfig {
        name: "tun0".into(),
        ipv6: true,
        local_ip: "fd3d:0a0b:17d6::1".parse().unwrap(),
        local_prefix_len: 48,
        remote_ip: "fd3d:fa7b:d17d::1".parse().unwrap(),
        remote_prefix_len: 48,
        gateway_ip: "fd3d:0a0b:17d6:8888::1".parse().unwrap(),
        mtu: 1520,
        is_anyip: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Packets, built and parsed by hand.

fn sum_words(mut sum: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        sum += u32::from(c[0]) << 8 | c.get(1).map_or(0, |&b| u32::from(b));
    }
    sum
}

fn checksum(sum: u32) -> u16 {
    let mut s = sum;
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn ip_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

struct Seg {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    options: Vec<u8>,
    payload: Vec<u8>,
}

/// An IPv4 or IPv6 packet carrying `seg`, all checksums correct.
fn build(seg: &Seg) -> Vec<u8> {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&seg.sport.to_be_bytes());
    tcp.extend_from_slice(&seg.dport.to_be_bytes());
    tcp.extend_from_slice(&seg.seq.to_be_bytes());
    tcp.extend_from_slice(&seg.ack.to_be_bytes());
    assert_eq!(seg.options.len() % 4, 0);
    tcp.push((((20 + seg.options.len()) / 4) << 4) as u8);
    tcp.push(seg.flags);
    tcp.extend_from_slice(&seg.window.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(&seg.options);
    tcp.extend_from_slice(&seg.payload);
    let (src, dst) = (ip_bytes(seg.src), ip_bytes(seg.dst));
    let pseudo = sum_words(sum_words(6 + tcp.len() as u32, &src), &dst);
    let c = checksum(sum_words(pseudo, &tcp));
    tcp[16..18].copy_from_slice(&c.to_be_bytes());

    let mut ip = Vec::new();
    if seg.src.is_ipv4() {
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&((20 + tcp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        let c = checksum(sum_words(0, &ip));
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    } else {
        ip.extend_from_slice(&[0x60, 0, 0, 0]);
        ip.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
        ip.extend_from_slice(&[6, 64]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
    }
    ip.extend_from_slice(&tcp);
    ip
}

/// Parses a sniffed IPv4/IPv6 TCP packet (no IPv6 extension headers), checking both checksums.
fn parse(p: &[u8]) -> Option<Seg> {
    let (src, dst, l4): (IpAddr, IpAddr, usize) = match p[0] >> 4 {
        4 => {
            if p[9] != 6 {
                return None;
            }
            let ihl = usize::from(p[0] & 15) * 4;
            assert_eq!(checksum(sum_words(0, &p[..ihl])), 0, "bad IPv4 checksum");
            assert_eq!(
                usize::from(u16::from_be_bytes([p[2], p[3]])),
                p.len(),
                "IPv4 total length"
            );
            let s: [u8; 4] = p[12..16].try_into().unwrap();
            let d: [u8; 4] = p[16..20].try_into().unwrap();
            (s.into(), d.into(), ihl)
        }
        6 => {
            if p[6] != 6 {
                return None;
            }
            assert_eq!(
                usize::from(u16::from_be_bytes([p[4], p[5]])) + 40,
                p.len(),
                "IPv6 payload length"
            );
            let s: [u8; 16] = p[8..24].try_into().unwrap();
            let d: [u8; 16] = p[24..40].try_into().unwrap();
            (s.into(), d.into(), 40)
        }
        _ => return None,
    };
    let t = &p[l4..];
    let pseudo = sum_words(
        sum_words(6 + t.len() as u32, &ip_bytes(src)),
        &ip_bytes(dst),
    );
    assert_eq!(
        checksum(sum_words(pseudo, t)),
        0,
        "bad TCP checksum in a sniffed packet"
    );
    let doff = usize::from(t[12] >> 4) * 4;
    Some(Seg {
        src,
        dst,
        sport: u16::from_be_bytes([t[0], t[1]]),
        dport: u16::from_be_bytes([t[2], t[3]]),
        seq: u32::from_be_bytes(t[4..8].try_into().unwrap()),
        ack: u32::from_be_bytes(t[8..12].try_into().unwrap()),
        flags: t[13],
        window: u16::from_be_bytes([t[14], t[15]]),
        options: t[20..doff].to_vec(),
        payload: t[doff..].to_vec(),
    })
}

fn now_usecs() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    d.as_micros() as i64
}

/// The next sniffed TCP segment (within 5 s), with its capture time; other packets are printed
/// and skipped.
fn next_tcp(dev: &mut TunNetdev) -> (Seg, i64) {
    let deadline = now_usecs() + 5_000_000;
    loop {
        let (bytes, stamp) = dev
            .receive(Some(deadline))
            .expect("receive")
            .unwrap_or_else(|| {
                dump_namespace();
                panic!("timed out waiting for a TCP packet")
            });
        match parse(&bytes) {
            Some(seg) => return (seg, stamp),
            None => println!(
                "skipping a non-TCP packet: {} bytes, starts {:02x?}",
                bytes.len(),
                &bytes[..bytes.len().min(48)]
            ),
        }
    }
}

/// Prints the namespace's addresses, routes and IPv6 counters (on a failure).
fn dump_namespace() {
    let script = "ip -o addr; ip route; ip -6 route; ip route show table local; \
                  grep -v ' 0$' /proc/net/snmp6";
    match Command::new("sh").args(["-c", script]).output() {
        Ok(out) => println!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("(cannot run ip: {e})"),
    }
}

fn setup(config: &TunConfig) -> TunNetdev {
    let t = Instant::now();
    let dev = create_tun(config).expect("create_tun");
    println!(
        "create_tun ({}): {} µs",
        if config.ipv6 { "IPv6" } else { "IPv4" },
        t.elapsed().as_micros()
    );
    assert_eq!(dev.name(), "tun0");
    assert!(dev.ifindex() > 0);
    dev
}

const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];

/// Sends a SYN to the listener at local:8080 and checks the SYN-ACK. Returns the SYN-ACK.
fn handshake_syn(dev: &mut TunNetdev, config: &TunConfig, sport: u16) -> Seg {
    let syn = build(&Seg {
        src: config.remote_ip,
        dst: config.local_ip,
        sport,
        dport: 8080,
        seq: 1000,
        ack: 0,
        flags: SYN,
        window: 65535,
        options: MSS_1460.to_vec(),
        payload: vec![],
    });
    let sent = now_usecs();
    dev.send(&syn, None).expect("send SYN");
    let (synack, stamp) = next_tcp(dev);
    let received = now_usecs();
    println!(
        "SYN -> SYN-ACK: captured {} µs after the send, returned {} µs after",
        stamp - sent,
        received - sent
    );
    assert_eq!(synack.flags, SYN | ACK, "expected a SYN-ACK");
    assert_eq!(synack.src, config.local_ip);
    assert_eq!(synack.dst, config.remote_ip);
    assert_eq!((synack.sport, synack.dport), (8080, sport));
    assert_eq!(synack.ack, 1001);
    assert!(synack.payload.is_empty());
    // The capture time is the kernel's, between our send and our return.
    assert!(
        stamp >= sent - 1_000 && stamp <= received + 1_000,
        "capture time {stamp} outside [{sent}, {received}]"
    );
    synack
}

fn handshake_test(config: TunConfig) {
    let mut dev = setup(&config);
    let _listener = TcpListener::bind((config.local_ip, 8080)).expect("binding the local address");
    handshake_syn(&mut dev, &config, 40000);
    // Reset the embryonic connection; nothing else may be sent (no retransmitted SYN-ACK
    // within 100 ms, no stray packets on an IPv4 run).
    let rst = build(&Seg {
        src: config.remote_ip,
        dst: config.local_ip,
        sport: 40000,
        dport: 8080,
        seq: 1001,
        ack: 0,
        flags: RST,
        window: 0,
        options: vec![],
        payload: vec![],
    });
    dev.send(&rst, None).expect("send RST");
    let quiet = dev.receive(Some(now_usecs() + 100_000)).expect("receive");
    if let Some((bytes, _)) = quiet {
        assert!(
            config.ipv6 && parse(&bytes).is_none(),
            "unexpected packet after RST: {:02x?}",
            &bytes[..bytes.len().min(64)]
        );
        println!(
            "(IPv6 run: a non-TCP packet after the RST: {:02x?})",
            &bytes[..bytes.len().min(64)]
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The tests.

netns_test!(ipv4_syn_gets_syn_ack, || handshake_test(v4_config()));

netns_test!(ipv6_syn_gets_syn_ack, || handshake_test(v6_config()));

netns_test!(setup_is_fast, || {
    // Median of several setups; each tun0 is deleted when its fd closes, so the name is free
    // for the next one.
    let mut times = Vec::new();
    for config in [v4_config(), v6_config()] {
        for _ in 0..10 {
            let t = Instant::now();
            let dev = create_tun(&config).expect("create_tun");
            times.push(t.elapsed());
            drop(dev);
            // The device goes away asynchronously; wait until the name is free.
            let deadline = Instant::now() + Duration::from_secs(2);
            while std::path::Path::new("/sys/class/net/tun0").exists() {
                assert!(Instant::now() < deadline, "tun0 did not go away");
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    times.sort();
    println!(
        "create_tun over {} runs: min {} µs, median {} µs, max {} µs",
        times.len(),
        times[0].as_micros(),
        times[times.len() / 2].as_micros(),
        times[times.len() - 1].as_micros()
    );
    assert!(times[times.len() / 2] < Duration::from_millis(50));
});

netns_test!(tso_and_gso, || {
    let config = v4_config();
    let mut dev = setup(&config);
    let listener = TcpListener::bind((config.local_ip, 8080)).unwrap();
    let synack = handshake_syn(&mut dev, &config, 40001);
    let (remote, local) = (config.remote_ip, config.local_ip);
    let seg = |seq: u32, ack: u32, flags: u8, payload: Vec<u8>| Seg {
        src: remote,
        dst: local,
        sport: 40001,
        dport: 8080,
        seq,
        ack,
        flags,
        window: 65535,
        options: vec![],
        payload,
    };
    let mut kernel_seq = synack.seq.wrapping_add(1);
    dev.send(&build(&seg(1001, kernel_seq, ACK, vec![])), None)
        .unwrap();
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream: TcpStream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "accept timed out");
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();

    // TSO: 10000 bytes in one write leave as (at least one) super-packet.
    stream.write_all(&[0x5a; 10000]).unwrap();
    let mut total = 0;
    let mut sizes = Vec::new();
    while total < 10000 {
        let (s, _) = next_tcp(&mut dev);
        assert_eq!(s.seq, kernel_seq.wrapping_add(total as u32));
        assert!(s.payload.iter().all(|&b| b == 0x5a));
        total += s.payload.len();
        sizes.push(s.payload.len());
    }
    println!("10000 bytes left in packets of {sizes:?}");
    assert_eq!(total, 10000);
    assert!(
        sizes.iter().any(|&n| n >= 2 * 1460),
        "no TSO super-packet: {sizes:?}"
    );
    kernel_seq = kernel_seq.wrapping_add(10000);

    // GSO injection: 3000 bytes as one super-packet with gso_size 1000.
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    dev.send(
        &build(&seg(1001, kernel_seq, PSH | ACK, data.clone())),
        Some(1000),
    )
    .unwrap();
    let mut got = vec![0; 3000];
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.read_exact(&mut got).unwrap();
    assert_eq!(got, data);
    let (ack, _) = next_tcp(&mut dev);
    println!(
        "after the GSO packet the kernel sent ack {} (flags {:#x})",
        ack.ack, ack.flags
    );
    assert_eq!(ack.ack, 4001);

    // A plain packet with a wrong checksum is dropped (the kernel verifies it).
    let mut bad = build(&seg(4001, kernel_seq, PSH | ACK, vec![1, 2, 3]));
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    dev.send(&bad, None).unwrap();
    stream.set_nonblocking(true).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut one = [0u8; 1];
    assert!(
        matches!(stream.read(&mut one), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a packet with a bad checksum was delivered"
    );
});

/// Whether /dev/net/tun is mode rw for everyone (as most distributions ship it).
fn tun_is_world_usable() -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata("/dev/net/tun").is_ok_and(|m| m.permissions().mode() & 0o006 == 0o006)
}

/// Whether everyone may search each directory above `path` and execute `path`.
fn world_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.permissions().mode());
    mode(path) & 0o001 != 0 && path.ancestors().skip(1).all(|d| mode(d) & 0o001 != 0)
}

#[test]
fn unprivileged_ipv4_syn_gets_syn_ack() {
    const NAME: &str = "unprivileged_ipv4_syn_gets_syn_ack";
    if is_child(NAME) {
        assert_ne!(
            nix::unistd::geteuid().as_raw(),
            0,
            "the child must not be root"
        );
        run_in_namespace(|| {
            // Inside the user namespace we are root, and own the network namespace.
            assert_eq!(nix::unistd::geteuid().as_raw(), 0);
            // Loopback is up.
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            TcpStream::connect(l.local_addr().unwrap()).unwrap();
            if tun_is_world_usable() {
                handshake_test(v4_config());
            } else {
                let err = create_tun(&v4_config())
                    .err()
                    .expect("create_tun without access");
                assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
                println!(
                    "SKIPPED the tun part: /dev/net/tun is not world read-writable here, \
                     so an unprivileged run cannot open it; create_tun says: {err}"
                );
            }
        });
        return;
    }
    if nix::unistd::geteuid().as_raw() != 0 {
        // Every other test already runs unprivileged.
        check_child(NAME, &spawn_child(NAME));
        return;
    }
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(setpriv) = setpriv else {
        println!("SKIPPED {NAME}: running as root and setpriv is not installed");
        return;
    };
    let exe = std::env::current_exe().unwrap();
    // nobody must be able to run the binary: copy it somewhere world-readable if needed.
    let mut tmp_dir = None;
    let exe = if world_executable(&exe) {
        exe
    } else {
        let dir = std::env::temp_dir().join(format!("stackdrill-netns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join("netns-test");
        std::fs::copy(&exe, &copy).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        tmp_dir = Some(dir);
        copy
    };
    if !world_executable(&exe) {
        println!("SKIPPED {NAME}: no place nobody can execute the test binary from");
        return;
    }
    let out = spawn_child_with(
        &exe,
        NAME,
        &[
            setpriv,
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ],
    );
    if let Some(dir) = tmp_dir {
        std::fs::remove_dir_all(dir).ok();
    }
    check_child(NAME, &out);
}

/// The root namespace's links, addresses and routes, minus address lifetimes (which count
/// down).
fn root_snapshot() -> String {
    let mut all = String::new();
    for args in [
        &["-o", "link"][..],
        &["-o", "addr"],
        &["-4", "route", "show", "table", "all"],
        &["-6", "route", "show", "table", "all"],
    ] {
        let out = Command::new("ip").args(args).output().expect("running ip");
        assert!(out.status.success(), "ip {args:?} failed");
        let text = String::from_utf8_lossy(&out.stdout);
        for line in text.lines() {
            let kept: Vec<&str> = line
                .split_whitespace()
                .filter(|w| !w.ends_with("sec") && *w != "valid_lft" && *w != "preferred_lft")
                .collect();
            all.push_str(&kept.join(" "));
            all.push('\n');
        }
    }
    all
}

#[test]
fn root_namespace_is_untouched() {
    let before = root_snapshot();
    let root_ns = netns_id();
    for name in [
        "ipv4_syn_gets_syn_ack",
        "ipv6_syn_gets_syn_ack",
        "tso_and_gso",
    ] {
        check_child(name, &spawn_child(name));
    }
    let after = root_snapshot();
    assert_eq!(netns_id(), root_ns);
    assert!(
        !after.contains("tun0"),
        "tun0 appeared in the root namespace"
    );
    assert_eq!(before, after, "the root namespace changed");
}
