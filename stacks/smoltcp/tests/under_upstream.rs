//! The adapter under upstream packetdrill (stacks/README.md "Under upstream packetdrill"): no
//! extension is ever called, so it takes upstream's default network with the local host at
//! 192.168.0.2, its clock follows real time, and the calls upstream spins on (gettimeofday,
//! netdev_receive) run the stack themselves.

mod harness;

use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::*;
use smoltcp::wire::TcpControl;

/// The stack's address when nobody gives it one.
const DEFAULT_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 2);

fn wall_clock_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// What upstream does while it waits for a packet: netdev_receive, and nothing else.
fn spin_for_packet(stack: &Stack, limit: Duration) -> Option<(Vec<u8>, i64)> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(packet) = stack.receive() {
            return Some(packet);
        }
    }
    None
}

/// A listening socket on the default address, port 8080.
fn listen_on_8080(stack: &Stack) -> i32 {
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, DEFAULT_LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    listener
}

#[test]
fn the_clock_moves_by_itself_on_real_time() {
    let stack = Stack::under_upstream(None);
    let before = wall_clock_us();
    let first = stack.now_us();
    assert!(
        (first - before).abs() < 1_000_000,
        "{first} is the wall clock"
    );
    std::thread::sleep(Duration::from_millis(3));
    let second = stack.now_us();
    assert!(second >= first + 3_000, "{first} then {second}");

    let slept = Instant::now();
    stack.usleep(20_000);
    assert!(
        slept.elapsed() >= Duration::from_millis(20),
        "usleep sleeps"
    );
    assert!(stack.now_us() >= second + 20_000);
}

#[test]
fn the_default_network_and_timers_run_by_netdev_receive() {
    let stack = Stack::under_upstream(None);
    let listener = listen_on_8080(&stack);

    let mut syn = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    syn.mss = Some(1000);
    stack.inject(&build_tcp(REMOTE, DEFAULT_LOCAL, &syn));
    let (bytes, _) = spin_for_packet(&stack, Duration::from_secs(1)).expect("a SYN-ACK");
    let syn_ack = parse_tcp_from(DEFAULT_LOCAL, &bytes);
    assert_eq!(syn_ack.flags(), "S.");

    let isn = syn_ack.seq.wrapping_add(1);
    stack.inject(&build_tcp(
        REMOTE,
        DEFAULT_LOCAL,
        &Segment::to_stack(8080, TcpControl::None, 1, Some(isn)),
    ));
    let (fd, _) = stack.accept(listener);
    assert!(fd >= 0, "accept errno {}", errno());

    // Data the stack ACKs only after its delayed-ACK timer (40 ms): the ACK must come out of
    // netdev_receive alone, stamped on the gettimeofday clock.
    let mut data = Segment::to_stack(8080, TcpControl::Psh, 1, Some(isn));
    data.payload = vec![7; 100];
    let sent = stack.now_us();
    stack.inject(&build_tcp(REMOTE, DEFAULT_LOCAL, &data));
    let (bytes, at) = spin_for_packet(&stack, Duration::from_secs(2)).expect("the delayed ACK");
    let ack = parse_tcp_from(DEFAULT_LOCAL, &bytes);
    assert_eq!(ack.ack, Some(101));
    assert!(at - sent >= 39_000, "ACK delayed {} µs", at - sent);
    assert!(at <= stack.now_us(), "stamped on the same clock");

    assert_eq!(stack.close(fd), 0);
    assert_eq!(stack.close(listener), 0);
}

#[test]
fn a_blocked_call_times_out_by_itself_on_real_time() {
    let stack = Stack::under_upstream(None);
    let listener = listen_on_8080(&stack);
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    // SAFETY: timeval is two i64s, no padding.
    let bytes: [u8; 16] = unsafe { std::mem::transmute(timeout) };
    assert_eq!(
        stack.setsockopt(listener, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &bytes),
        0
    );
    // Nothing else calls into the stack meanwhile (upstream may be waiting for the call).
    let started = Instant::now();
    let (fd, _) = stack.accept(listener);
    let waited = started.elapsed();
    assert_eq!((fd, errno()), (-1, libc::EAGAIN));
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}
