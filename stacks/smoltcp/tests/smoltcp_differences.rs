//! Pins the smoltcp behaviours that differ from Linux (listed in README.md), so a smoltcp
//! upgrade or an adapter change that alters one is noticed.

mod harness;

use harness::*;
use smoltcp::wire::TcpControl;

const SECOND: i64 = 1_000_000;

/// tcpi_snd_cwnd of a descriptor.
fn snd_cwnd(stack: &Stack, fd: i32) -> u32 {
    let (result, info) = stack.getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 280);
    assert_eq!(result, 0);
    let offset = std::mem::offset_of!(stackdrill_smoltcp::tcp_info::LinuxTcpInfo, tcpi_snd_cwnd);
    u32::from_ne_bytes(info[offset..offset + 4].try_into().unwrap())
}

/// Reads every segment the stack has queued.
fn drain(stack: &Stack) -> Vec<(Segment, i64)> {
    std::iter::from_fn(|| stack.receive())
        .map(|(bytes, at)| (parse_tcp(&bytes), at))
        .collect()
}

#[test]
fn reno_starts_with_a_2048_byte_window() {
    let stack = Stack::new(Some("timestamps=off"));
    let (fd, isn) = stack.passive_open(8080);
    assert_eq!(stack.write(fd, &[0u8; 10_000]), 10_000);
    let flight: Vec<_> = drain(&stack)
        .into_iter()
        .map(|(s, _)| s.payload.len())
        .collect();
    // Two 1000-byte segments; Nagle holds the 48 bytes the window still allows.
    assert_eq!(flight, vec![1000, 1000]);
    assert_eq!(snd_cwnd(&stack, fd), 2, "2048 bytes in 1000-byte segments");
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(isn.wrapping_add(2000)));
    stack.inject_tcp(&ack);
    let next: Vec<_> = drain(&stack)
        .into_iter()
        .map(|(s, _)| s.payload.len())
        .collect();
    // Slow start adds one MSS per ACK, however much it acknowledges (Linux: per segment).
    assert_eq!(next, vec![1000, 1000, 1000]);
    assert_eq!(snd_cwnd(&stack, fd), 3, "3048 bytes");
}

#[test]
fn congestion_control_none_fills_the_peer_window() {
    let stack = Stack::new(Some("timestamps=off cc=none"));
    let (fd, _) = stack.passive_open(8080);
    assert_eq!(stack.write(fd, &[0u8; 10_000]), 10_000);
    assert_eq!(drain(&stack).len(), 10);
}

#[test]
fn fin_rides_on_the_last_data_segment_without_psh() {
    let stack = Stack::new(None);
    let (fd, isn) = stack.passive_open(8080);
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(isn));
    stack.inject_tcp(&ack);
    assert_eq!(
        stack.setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1),
        0
    );
    // Queue data and close before the stack polls: one segment carries both.
    let mut fds = [libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    }];
    let _ = stack.poll(&mut fds, 0);
    assert_eq!(stack.write(fd, b"bye"), 3);
    let (data, _) = stack.receive_tcp();
    assert_eq!(data.flags(), "P.");
    assert_eq!(stack.close(fd), 0);
    let (fin, _) = stack.receive_tcp();
    assert_eq!(fin.flags(), "F.", "an empty FIN once the data left");
    assert_eq!(fin.seq, isn.wrapping_add(3));
}

#[test]
fn time_wait_lasts_ten_seconds() {
    let stack = Stack::new(None);
    let (fd, isn) = stack.passive_open(8080);
    assert_eq!(stack.close(fd), 0);
    let (fin, _) = stack.receive_tcp();
    assert_eq!(fin.flags(), "F.");
    let fin_ack = Segment::to_stack(8080, TcpControl::Fin, 1, Some(isn.wrapping_add(1)));
    stack.inject_tcp(&fin_ack);
    let (last_ack, _) = stack.receive_tcp();
    assert_eq!(last_ack.ack, Some(2));
    assert_eq!(stack.next_timer(), 10 * SECOND, "TIME-WAIT");
    stack.usleep(10 * SECOND as u32);
    assert_eq!(stack.next_timer(), -1, "gone after 10 s (Linux: 60 s)");
    stack.assert_silent();
}

#[test]
fn zero_window_probe_is_one_new_byte_sent_at_once() {
    let stack = Stack::new(Some("timestamps=off"));
    let (fd, isn) = stack.passive_open(8080);
    let mut closed = Segment::to_stack(8080, TcpControl::None, 1, Some(isn));
    closed.window = 0;
    stack.inject_tcp(&closed);
    let start = stack.now_us();
    assert_eq!(stack.write(fd, &[0u8; 1000]), 1000);
    let (probe, at) = stack.receive_tcp();
    assert_eq!((probe.seq, probe.payload.len(), at), (isn, 1, start));
    // Then after 2 RTO, 4 RTO, ... with the 1 s RTO.
    let (bytes, at) = stack.wait_for_packet(10 * SECOND).unwrap();
    assert_eq!(parse_tcp(&bytes).payload.len(), 1);
    assert_eq!(at - start, 2 * SECOND);
}

#[test]
fn keepalive_probe_carries_one_byte_every_keepidle() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(
        stack.setsockopt_int(listener, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        0
    );
    assert_eq!(
        stack.setsockopt_int(listener, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 2),
        0
    );
    assert_eq!(
        stack.setsockopt_int(listener, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, 1),
        0
    );
    assert_eq!(
        stack.setsockopt_int(listener, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3),
        0
    );
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    let (syn_ack, _) = stack.receive_tcp();
    let isn = syn_ack.seq.wrapping_add(1);
    let start = stack.now_us();
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::None, 1, Some(isn)));
    let (fd, _) = stack.accept(listener);
    assert!(fd >= 0);
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        1
    );

    let mut probes = Vec::new();
    while let Some((bytes, at)) = stack.wait_for_packet(10 * SECOND) {
        let segment = parse_tcp(&bytes);
        probes.push((
            segment.flags(),
            segment.seq.wrapping_sub(isn) as i32,
            segment.payload.len(),
            (at - start) / SECOND,
        ));
    }
    // Probes at 2 and 4 s (every KEEPIDLE: smoltcp has one interval); no answer for
    // KEEPIDLE + KEEPINTVL * KEEPCNT = 5 s aborts with an RST at 5 s.
    assert_eq!(
        probes,
        vec![
            (".".to_string(), -1, 1, 2),
            (".".to_string(), -1, 1, 4),
            ("R.".to_string(), 0, 0, 5),
        ]
    );
    assert_eq!(stack.read(fd, 1).0, -1);
    assert_eq!(errno(), libc::ETIMEDOUT);
}

#[test]
fn full_listener_pool_resets_extra_syns() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 0), 0);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    assert_eq!(stack.receive_tcp().0.flags(), "S.");
    let mut second = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    second.src_port = PEER_PORT + 1;
    stack.inject_tcp(&second);
    let (answer, _) = stack.receive_tcp();
    assert_eq!(answer.flags(), "R.", "Linux would drop the SYN instead");
}

#[test]
fn syn_retries_back_off_to_the_60_second_cap_then_fail_silently() {
    let stack = Stack::new(None);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    let start = stack.now_us();
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    let mut sent_at = Vec::new();
    while let Some((bytes, at)) = stack.wait_for_packet(200 * SECOND) {
        assert_eq!(parse_tcp(&bytes).flags(), "S", "no RST when giving up");
        sent_at.push((at - start) / SECOND);
    }
    assert_eq!(sent_at, vec![0, 1, 3, 7, 15, 31, 63, 123]);
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR),
        libc::ETIMEDOUT
    );
}
