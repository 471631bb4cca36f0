//! End-to-end tests of the adapter through its C ABI, the way stackdrill drives it: a peer
//! (the test) injects IPv4 packets with netdev_send, reads the stack's packets with
//! netdev_receive, and moves the virtual clock with usleep, while socket calls run on the
//! test thread or, when they block, on a second thread.

mod harness;

use std::ffi::CString;
use std::sync::mpsc;
use std::sync::Arc;

use harness::*;
use smoltcp::wire::TcpControl;
use stackdrill_smoltcp::stackdrill_profile_defines;

const SECOND: i64 = 1_000_000;

#[test]
fn bad_flags_leave_the_table_empty() {
    for flags in ["bogus=1", "mss=abc", "sack=maybe", "cc=vegas", "nagle"] {
        let table = init_table(Some(flags));
        assert!(table.userdata.is_null(), "{flags}");
        assert!(
            table.socket.is_none() && table.netdev_send.is_none(),
            "{flags}"
        );
        assert!(table.free.is_none() && table.usleep.is_none(), "{flags}");
    }
    let table = init_table(None);
    assert!(!table.userdata.is_null());
    assert!(table.pipe.is_none() && table.splice.is_none());
    // SAFETY: userdata from init, freed once.
    unsafe { (table.free.unwrap())(table.userdata) };
}

#[test]
fn profile_defines_are_snprintf_like() {
    let mut buf = vec![0x55u8; 512];
    // SAFETY: a writable buffer of 512 bytes and a NULL flags string.
    let len =
        unsafe { stackdrill_profile_defines(std::ptr::null(), buf.as_mut_ptr() as _, buf.len()) };
    assert!(len > 0);
    let text = std::str::from_utf8(&buf[..len as usize]).unwrap();
    assert!(text.lines().any(|line| line == "SMOLTCP=1"), "{text}");
    assert_eq!(buf[len as usize], 0, "NUL-terminated");

    let mut small = vec![0x55u8; 4];
    // SAFETY: a writable buffer of 4 bytes.
    let needed = unsafe {
        stackdrill_profile_defines(std::ptr::null(), small.as_mut_ptr() as _, small.len())
    };
    assert_eq!(needed, len, "returns the full length");
    assert_eq!(&small, b"SMO\0");

    let bad = CString::new("wscale=sideways").unwrap();
    // SAFETY: a valid C string and a writable buffer.
    let result =
        unsafe { stackdrill_profile_defines(bad.as_ptr(), buf.as_mut_ptr() as _, buf.len()) };
    assert_eq!(result, -1);
}

#[test]
fn clock_is_virtual_and_usleep_is_exact() {
    let stack = Stack::new(None);
    let start = stack.now_us();
    assert_eq!(start, 1_700_000_000 * SECOND);
    assert_eq!(stack.now_us(), start, "the clock does not move by itself");
    stack.usleep(1234);
    assert_eq!(stack.now_us(), start + 1234);
    assert_eq!(stack.next_timer(), -1, "an idle stack has no timer");
}

#[test]
fn descriptors_start_at_three_and_reuse_the_lowest() {
    let stack = Stack::new(None);
    assert_eq!(stack.socket(libc::AF_INET, libc::SOCK_STREAM), 3);
    assert_eq!(stack.socket(libc::AF_INET, libc::SOCK_DGRAM), 4);
    assert_eq!(stack.close(3), 0);
    assert_eq!(stack.socket(libc::AF_INET6, libc::SOCK_STREAM), 3);
    assert_eq!(stack.close(9), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(stack.socket(99, libc::SOCK_STREAM), -1);
    assert_eq!(errno(), libc::EAFNOSUPPORT);
    assert_eq!(stack.socket(libc::AF_INET, 77), -1);
    assert_eq!(errno(), libc::EINVAL);
}

#[test]
fn passive_open_answers_with_options_and_virtual_timestamps() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    stack.usleep(250_000);

    let mut syn = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    syn.mss = Some(1000);
    syn.sack_permitted = true;
    syn.timestamp = Some((100, 0));
    syn.wscale = Some(7);
    stack.inject_tcp(&syn);

    let now = stack.now_us();
    let (syn_ack, sent_at) = stack.receive_tcp();
    assert_eq!(sent_at, now, "answered in the same instant");
    assert_eq!(syn_ack.flags(), "S.");
    assert_eq!((syn_ack.src_port, syn_ack.dst_port), (8080, PEER_PORT));
    assert_eq!(syn_ack.ack, Some(1));
    assert_eq!(syn_ack.mss, Some(1460));
    assert_eq!(syn_ack.wscale, Some(1), "64 KiB receive buffer");
    assert!(syn_ack.sack_permitted);
    assert_eq!(syn_ack.timestamp, Some(((now / 1000) as u32, 100)));
    assert_eq!(syn_ack.window, 65535);
    // smoltcp's option layout: mss, wscale, sackOK, timestamp, end of list.
    assert_eq!(syn_ack.option_kinds, vec![2, 3, 4, 8, 0]);
    stack.assert_silent();

    // A half-open connection is not accepted.
    assert_eq!(stack.accept(listener).0, -1);
    assert_eq!(errno(), libc::EAGAIN);

    stack.usleep(5000);
    let mut ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    ack.timestamp = Some((105, syn_ack.timestamp.unwrap().0));
    stack.inject_tcp(&ack);
    let (fd, peer) = stack.accept(listener);
    assert_eq!(fd, 4);
    assert_eq!(
        peer,
        Some((libc::AF_INET, REMOTE.octets().to_vec(), PEER_PORT))
    );
    assert_eq!(stack.accept(listener).0, -1);
    assert_eq!(errno(), libc::EAGAIN);
    stack.assert_silent();

    // TCP_INFO reports the negotiated connection.
    let (result, info) = stack.getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 512);
    assert_eq!(result, 0);
    assert_eq!(info.len(), 280);
    assert_eq!(info[0], 1, "TCP_ESTABLISHED");
    assert_eq!(info[5], 1 | 2 | 4, "timestamps, SACK, window scaling");
    assert_eq!(info[6], 7 | (1 << 4), "snd_wscale 7, rcv_wscale 1");
    let snd_mss = u32::from_ne_bytes(info[16..20].try_into().unwrap());
    assert_eq!(snd_mss, 1000 - 12);
    assert_eq!(
        stack.getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG),
        988
    );
}

#[test]
fn data_is_sent_at_once_and_retransmitted_at_the_rto() {
    for polling in BOTH_POLLINGS {
        data_is_sent_at_once_and_retransmitted_at_the_rto_with(polling);
    }
}

fn data_is_sent_at_once_and_retransmitted_at_the_rto_with(polling: Polling) {
    let stack = Stack::with_polling(Some("timestamps=on"), polling);
    let (fd, isn) = stack.passive_open(8080);
    stack.usleep(10_000);
    assert_eq!(stack.write(fd, &[7u8; 500]), 500);
    let sent = stack.now_us();
    let (data, at) = stack.receive_tcp();
    assert_eq!(at, sent);
    assert_eq!(data.flags(), "P.");
    assert_eq!(data.seq, isn);
    assert_eq!(data.payload, vec![7u8; 500]);
    stack.assert_silent();

    // The first RTO is 1 s (smoltcp's minimum), on the virtual clock.
    assert_eq!(stack.next_timer(), SECOND);
    stack.usleep(999_999);
    stack.assert_silent();
    stack.usleep(1);
    let (again, at) = stack.receive_tcp();
    assert_eq!(at, sent + SECOND);
    assert_eq!(again.seq, isn);
    assert_eq!(again.payload.len(), 500);

    // Then 2 s later (exponential backoff), found by stepping like stackdrill does.
    let (bytes, at) = stack.wait_for_packet(10 * SECOND).unwrap();
    assert_eq!(at, sent + 3 * SECOND);
    assert_eq!(parse_tcp(&bytes).seq, isn);

    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(isn.wrapping_add(500)));
    stack.inject_tcp(&ack);
    assert_eq!(stack.next_timer(), -1, "nothing left to retransmit");
    assert_eq!(stack.wait_for_packet(100 * SECOND), None);
}

#[test]
fn peer_fin_gives_eof_and_close_sends_fin() {
    for polling in BOTH_POLLINGS {
        peer_fin_gives_eof_and_close_sends_fin_with(polling);
    }
}

fn peer_fin_gives_eof_and_close_sends_fin_with(polling: Polling) {
    let stack = Stack::with_polling(None, polling);
    let (fd, isn) = stack.passive_open(8080);
    let mut data = Segment::to_stack(8080, TcpControl::Psh, 1, Some(isn));
    data.payload = b"hello".to_vec();
    stack.inject_tcp(&data);
    let fin = Segment::to_stack(8080, TcpControl::Fin, 6, Some(isn));
    stack.inject_tcp(&fin);
    // smoltcp holds the ACK of a FIN while a delayed ACK (for the data) is pending.
    let data_at = stack.now_us();
    stack.assert_silent();
    let (bytes, at) = stack.wait_for_packet(SECOND).unwrap();
    let ack = parse_tcp(&bytes);
    assert_eq!(at, data_at + 40_000, "after the 40 ms ACK delay");
    assert_eq!(ack.flags(), ".");
    assert_eq!(ack.ack, Some(7), "data and FIN acknowledged together");

    let (n, bytes) = stack.read(fd, 100);
    assert_eq!((n, bytes.as_slice()), (5, &b"hello"[..]));
    assert_eq!(stack.read(fd, 100).0, 0, "EOF after the data");
    assert_eq!(stack.read(fd, 100).0, 0);

    let mut poll = [libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP,
        revents: 0,
    }];
    assert_eq!(stack.poll(&mut poll, 0), 1);
    assert_eq!(
        poll[0].revents,
        libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP
    );

    assert_eq!(stack.close(fd), 0);
    let (our_fin, _) = stack.receive_tcp();
    assert_eq!(our_fin.flags(), "F.");
    assert_eq!(our_fin.seq, isn);
    let last_ack = Segment::to_stack(8080, TcpControl::None, 7, Some(isn.wrapping_add(1)));
    stack.inject_tcp(&last_ack);
    stack.assert_silent();
    assert_eq!(stack.next_timer(), -1, "the closed connection is gone");
}

#[test]
fn rst_gives_econnreset_then_eof_and_epipe() {
    let stack = Stack::new(None);
    let (fd, isn) = stack.passive_open(8080);
    let rst = Segment::to_stack(8080, TcpControl::Rst, 1, Some(isn));
    stack.inject_tcp(&rst);
    stack.assert_silent();
    let mut poll = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    assert_eq!(stack.poll(&mut poll, 0), 1);
    assert_eq!(
        poll[0].revents,
        libc::POLLIN | libc::POLLERR | libc::POLLHUP
    );
    assert_eq!(stack.read(fd, 10).0, -1);
    assert_eq!(errno(), libc::ECONNRESET);
    assert_eq!(stack.read(fd, 10).0, 0);
    assert_eq!(stack.write(fd, b"x"), -1);
    assert_eq!(errno(), libc::EPIPE);
    assert_eq!(stack.shutdown(fd, libc::SHUT_WR), -1);
    assert_eq!(errno(), libc::ENOTCONN);
}

#[test]
fn close_with_unread_data_resets() {
    let stack = Stack::new(None);
    let (fd, isn) = stack.passive_open(8080);
    let mut data = Segment::to_stack(8080, TcpControl::Psh, 1, Some(isn));
    data.payload = vec![1; 100];
    stack.inject_tcp(&data);
    assert_eq!(stack.close(fd), 0);
    let (rst, _) = stack.receive_tcp();
    assert_eq!(rst.control, TcpControl::Rst);
    assert_eq!(rst.seq, isn);
}

#[test]
fn linger_zero_close_resets() {
    let stack = Stack::new(None);
    let (fd, isn) = stack.passive_open(8080);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: linger is plain old data without padding.
    let bytes: [u8; 8] = unsafe { std::mem::transmute(linger) };
    assert_eq!(
        stack.setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &bytes),
        0
    );
    let (result, got) = stack.getsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, 8);
    assert_eq!((result, got), (0, bytes.to_vec()));
    assert_eq!(stack.close(fd), 0);
    let (rst, _) = stack.receive_tcp();
    assert_eq!(rst.control, TcpControl::Rst);
    assert_eq!(rst.seq, isn);
}

#[test]
fn blocking_connect_completes_when_the_syn_ack_arrives() {
    for polling in BOTH_POLLINGS {
        blocking_connect_completes_when_the_syn_ack_arrives_with(polling);
    }
}

fn blocking_connect_completes_when_the_syn_ack_arrives_with(polling: Polling) {
    let stack = Arc::new(Stack::with_polling(None, polling));
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            let result = stack.connect_v4(fd, REMOTE, 80);
            (result, errno())
        })
    };
    let tid = tid_rx.recv().unwrap();
    wait_until_asleep(tid);
    // stackdrill polls once the call sleeps (driving the polling, that sends the SYN).
    stack.poll_stack();
    let now = stack.now_us();
    let (syn, at) = stack.receive_tcp();
    assert_eq!(at, now);
    assert_eq!(syn.flags(), "S");
    assert_eq!(syn.dst_port, 80);
    assert_eq!(syn.src_port, 32768, "first ephemeral port");
    assert_eq!(syn.mss, Some(1460));
    assert!(syn.sack_permitted);
    assert_eq!(syn.timestamp, Some(((now / 1000) as u32, 0)));
    assert!(!worker.is_finished(), "connect is still waiting");

    stack.usleep(20_000);
    let mut syn_ack = Segment::to_stack(0, TcpControl::Syn, 5000, Some(syn.seq.wrapping_add(1)));
    syn_ack.src_port = 80;
    syn_ack.dst_port = syn.src_port;
    syn_ack.mss = Some(1400);
    stack.inject_tcp(&syn_ack);
    assert_eq!(worker.join().unwrap(), (0, 0));
    let (ack, at) = stack.receive_tcp();
    assert_eq!(at, now + 20_000);
    assert_eq!(ack.flags(), ".");
    assert_eq!(ack.ack, Some(5001));
    assert_eq!(ack.timestamp, None, "the peer did not offer timestamps");
    // Connected: a second connect is EISCONN.
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EISCONN);
}

#[test]
fn blocking_accept_sleeps_until_the_handshake_completes() {
    for polling in BOTH_POLLINGS {
        blocking_accept_sleeps_until_the_handshake_completes_with(polling);
    }
}

fn blocking_accept_sleeps_until_the_handshake_completes_with(polling: Polling) {
    let stack = Arc::new(Stack::with_polling(None, polling));
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 5), 0);
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            stack.accept(listener)
        })
    };
    let tid = tid_rx.recv().unwrap();
    wait_until_asleep(tid);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    let (syn_ack, _) = stack.receive_tcp();
    // Still asleep after the SYN: SYN-RECEIVED connections are not accepted.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(!worker.is_finished());
    wait_until_asleep(tid);
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    stack.inject_tcp(&ack);
    let (fd, peer) = worker.join().unwrap();
    assert_eq!(fd, listener + 1);
    assert_eq!(
        peer,
        Some((libc::AF_INET, REMOTE.octets().to_vec(), PEER_PORT))
    );
}

#[test]
fn nonblocking_connect_reports_progress_and_refusal() {
    for polling in BOTH_POLLINGS {
        nonblocking_connect_reports_progress_and_refusal_with(polling);
    }
}

fn nonblocking_connect_reports_progress_and_refusal_with(polling: Polling) {
    let stack = Stack::with_polling(None, polling);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.fcntl(fd, libc::F_GETFL, 0), libc::O_RDWR);
    assert_eq!(stack.fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK), 0);
    assert_eq!(
        stack.fcntl(fd, libc::F_GETFL, 0),
        libc::O_RDWR | libc::O_NONBLOCK
    );
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EINPROGRESS);
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EALREADY);
    let (syn, _) = stack.receive_tcp();
    let mut rst = Segment::to_stack(0, TcpControl::Rst, 0, Some(syn.seq.wrapping_add(1)));
    rst.src_port = 80;
    rst.dst_port = syn.src_port;
    stack.inject_tcp(&rst);
    stack.assert_silent();
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR),
        libc::ECONNREFUSED
    );
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR),
        0
    );
}

#[test]
fn nonblocking_connect_succeeds_once_then_eisconn() {
    let stack = Stack::new(None);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EINPROGRESS);
    let (syn, _) = stack.receive_tcp();
    let mut syn_ack = Segment::to_stack(0, TcpControl::Syn, 0, Some(syn.seq.wrapping_add(1)));
    syn_ack.src_port = 80;
    syn_ack.dst_port = syn.src_port;
    stack.inject_tcp(&syn_ack);
    let mut poll = [libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }];
    assert_eq!(stack.poll(&mut poll, 0), 1);
    assert_eq!(poll[0].revents, libc::POLLOUT);
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR),
        0
    );
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), 0);
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EISCONN);
}

#[test]
fn unanswered_syn_times_out_silently() {
    for polling in BOTH_POLLINGS {
        unanswered_syn_times_out_silently_with(polling);
    }
}

fn unanswered_syn_times_out_silently_with(polling: Polling) {
    let stack = Stack::with_polling(Some("syn_timeout=20000"), polling);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    let start = stack.now_us();
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    let mut sent_at = Vec::new();
    while let Some((bytes, at)) = stack.wait_for_packet(30 * SECOND) {
        assert_eq!(parse_tcp(&bytes).flags(), "S");
        sent_at.push((at - start) / SECOND);
    }
    assert_eq!(
        sent_at,
        vec![0, 1, 3, 7, 15],
        "exponential backoff from 1 s"
    );
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR),
        libc::ETIMEDOUT
    );
    // Linux: the failure was already reported by SO_ERROR, so connect says ECONNABORTED,
    // and the next connect starts over.
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::ECONNABORTED);
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EINPROGRESS, "a new attempt");
    let (syn, at) = stack.receive_tcp();
    assert_eq!((syn.flags(), at), ("S".to_string(), stack.now_us()));
}

#[test]
fn poll_timeout_waits_for_the_virtual_deadline() {
    for polling in BOTH_POLLINGS {
        poll_timeout_waits_for_the_virtual_deadline_with(polling);
    }
}

fn poll_timeout_waits_for_the_virtual_deadline_with(polling: Polling) {
    let stack = Arc::new(Stack::with_polling(None, polling));
    let (fd, _) = stack.passive_open(8080);
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            let mut fds = [libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            }];
            let start = stack.now_us();
            let result = stack.poll(&mut fds, 250);
            (result, stack.now_us() - start)
        })
    };
    wait_until_asleep(tid_rx.recv().unwrap());
    assert_eq!(
        stack.next_timer(),
        250_000,
        "the poll deadline is the next timer"
    );
    stack.usleep(250_000);
    assert_eq!(worker.join().unwrap(), (0, 250_000));
}

#[test]
fn recv_timeout_returns_eagain_at_the_deadline() {
    for polling in BOTH_POLLINGS {
        recv_timeout_returns_eagain_at_the_deadline_with(polling);
    }
}

fn recv_timeout_returns_eagain_at_the_deadline_with(polling: Polling) {
    let stack = Arc::new(Stack::with_polling(None, polling));
    let (fd, _) = stack.passive_open(8080);
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 300_000,
    };
    // SAFETY: timeval is two i64s, no padding.
    let bytes: [u8; 16] = unsafe { std::mem::transmute(timeout) };
    assert_eq!(
        stack.setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &bytes),
        0
    );
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            let (n, _) = stack.read(fd, 10);
            (n, errno())
        })
    };
    wait_until_asleep(tid_rx.recv().unwrap());
    assert_eq!(stack.next_timer(), 300_000);
    stack.usleep(300_000);
    assert_eq!(worker.join().unwrap(), (-1, libc::EAGAIN));
}

#[test]
fn udp_sendto_and_recvfrom() {
    let stack = Stack::new(None);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_NONBLOCK);
    assert_eq!(stack.bind_v4(fd, LOCAL, 5353), 0);
    assert_eq!(stack.sendto_v4(fd, b"query", REMOTE, 53), 5);
    let (bytes, _) = stack.receive().unwrap();
    assert_eq!(bytes.len(), 20 + 8 + 5);
    assert_eq!(&bytes[20..22], &5353u16.to_be_bytes());
    assert_eq!(&bytes[22..24], &53u16.to_be_bytes());
    assert_eq!(&bytes[28..], b"query");

    assert_eq!(stack.recvfrom(fd, 100, 0).0, -1);
    assert_eq!(errno(), libc::EAGAIN);
    stack.inject(&build_udp(53, 5353, b"answer"));
    assert_eq!(stack.ioctl_int(fd, libc::FIONREAD), (0, 6));
    let (n, data, from) = stack.recvfrom(fd, 3, 0);
    assert_eq!(
        (n, data.as_slice()),
        (3, &b"ans"[..]),
        "truncated like Linux"
    );
    assert_eq!(from, Some((libc::AF_INET, REMOTE.octets().to_vec(), 53)));
}

#[test]
fn ipv4_mapped_ipv6_sockets_work_on_an_ipv4_wire() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    // SAFETY: sockaddr_in6 is plain old data.
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = 8080u16.to_be();
    sin6.sin6_addr.s6_addr = LOCAL.to_ipv6_mapped().octets();
    // SAFETY: viewing a plain-old-data struct as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            &sin6 as *const _ as *const u8,
            std::mem::size_of::<libc::sockaddr_in6>(),
        )
    };
    assert_eq!(stack.bind_raw(listener, bytes), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    let (syn_ack, _) = stack.receive_tcp();
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    stack.inject_tcp(&ack);
    let (fd, peer) = stack.accept(listener);
    assert!(fd >= 0);
    assert_eq!(
        peer,
        Some((
            libc::AF_INET6,
            REMOTE.to_ipv6_mapped().octets().to_vec(),
            PEER_PORT
        ))
    );
}

#[test]
fn option_knobs_shape_the_syn_ack() {
    let stack = Stack::new(Some("sack=off,wscale=off timestamps=off mss=1000"));
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    let mut syn = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    syn.mss = Some(1460);
    syn.sack_permitted = true;
    syn.timestamp = Some((100, 0));
    syn.wscale = Some(7);
    stack.inject_tcp(&syn);
    let (syn_ack, _) = stack.receive_tcp();
    assert_eq!(syn_ack.mss, Some(1000));
    assert_eq!(syn_ack.wscale, None);
    assert!(!syn_ack.sack_permitted);
    assert_eq!(syn_ack.timestamp, None);
    assert_eq!(syn_ack.option_kinds, vec![2]);

    // And the MSS ceiling holds for what the stack sends.
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    stack.inject_tcp(&ack);
    let (fd, _) = stack.accept(listener);
    assert_eq!(
        stack.setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1),
        0
    );
    assert_eq!(stack.write(fd, &[0u8; 2500]), 2500);
    let (first, _) = stack.receive_tcp();
    assert_eq!(first.payload.len(), 1000);
}

#[test]
fn socket_options_follow_linux_conventions() {
    let stack = Stack::new(None);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE),
        libc::SOCK_STREAM
    );
    assert_eq!(
        stack.getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG),
        536
    );
    assert_eq!(
        stack.getsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
        7200
    );
    assert_eq!(
        stack.setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 0),
        -1
    );
    assert_eq!(errno(), libc::EINVAL);
    assert_eq!(stack.setsockopt_int(fd, libc::IPPROTO_TCP, 9999, 1), -1);
    assert_eq!(errno(), libc::ENOPROTOOPT);
    assert_eq!(stack.getsockopt(fd, 1234, 1, 4).0, -1);
    assert_eq!(errno(), libc::EOPNOTSUPP);
    assert_eq!(
        stack.setsockopt(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, &[1]),
        -1
    );
    assert_eq!(errno(), libc::EINVAL, "short optlen");
    let (result, short) = stack.getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, 2);
    assert_eq!((result, short.len()), (0, 2), "copies at most optlen");
    assert_eq!(
        stack.setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 10000),
        0
    );
    assert_eq!(
        stack.getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF),
        20000
    );
    assert_eq!(
        stack.getsockopt(77, libc::SOL_SOCKET, libc::SO_TYPE, 4).0,
        -1
    );
    assert_eq!(errno(), libc::EBADF);
    // A fresh socket polls as hung up and writable, like Linux.
    let mut poll = [libc::pollfd {
        fd,
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    }];
    assert_eq!(stack.poll(&mut poll, 0), 1);
    assert_eq!(poll[0].revents, libc::POLLOUT | libc::POLLHUP);
    assert_eq!(stack.read(fd, 1).0, -1);
    assert_eq!(errno(), libc::ENOTCONN);
    assert_eq!(stack.write(fd, b"x"), -1);
    assert_eq!(errno(), libc::EPIPE);
}

#[test]
fn write_blocks_until_everything_is_queued() {
    for polling in BOTH_POLLINGS {
        write_blocks_until_everything_is_queued_with(polling);
    }
}

fn write_blocks_until_everything_is_queued_with(polling: Polling) {
    let stack = Arc::new(Stack::with_polling(Some("sndbuf=4096"), polling));
    let (fd, isn) = stack.passive_open(8080);
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            stack.write(fd, &[3u8; 10000])
        })
    };
    let tid = tid_rx.recv().unwrap();
    let mut acked = isn;
    let mut wakeups = 0;
    while !worker.is_finished() {
        // The write has queued what fits (4 KiB) and sleeps; stackdrill polls, and everything
        // the stack sent is queued.
        wait_until_asleep(tid);
        stack.poll_stack();
        wakeups += 1;
        while let Some((bytes, _)) = stack.receive() {
            let segment = parse_tcp(&bytes);
            assert_eq!(segment.seq, acked, "in order, no retransmission");
            acked = acked.wrapping_add(segment.payload.len() as u32);
        }
        stack.inject_tcp(&Segment::to_stack(8080, TcpControl::None, 1, Some(acked)));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(worker.join().unwrap(), 10000);
    assert!(
        wakeups >= 3,
        "10000 bytes through a 4 KiB buffer need several rounds"
    );
    // The rest of the queued data follows as the peer acknowledges.
    for _ in 0..20 {
        while let Some((bytes, _)) = stack.receive() {
            acked = acked.wrapping_add(parse_tcp(&bytes).payload.len() as u32);
        }
        stack.inject_tcp(&Segment::to_stack(8080, TcpControl::None, 1, Some(acked)));
    }
    assert_eq!(acked.wrapping_sub(isn), 10000);
}

#[test]
fn keepalive_switched_on_later_probes_keepidle_after_the_peer_was_last_heard() {
    for polling in BOTH_POLLINGS {
        keepalive_switched_on_later_probes_keepidle_after_the_peer_was_last_heard_with(polling);
    }
}

fn keepalive_switched_on_later_probes_keepidle_after_the_peer_was_last_heard_with(
    polling: Polling,
) {
    let stack = Stack::with_polling(None, polling);
    let (fd, isn) = stack.passive_open(8080);
    let heard = stack.now_us();
    stack.usleep(500_000);
    assert_eq!(
        stack.setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, 3),
        0
    );
    assert_eq!(
        stack.setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1),
        0
    );
    stack.assert_silent();
    assert_eq!(stack.next_timer(), 3 * SECOND - 500_000);
    let (bytes, at) = stack.wait_for_packet(10 * SECOND).unwrap();
    let probe = parse_tcp(&bytes);
    assert_eq!(
        at,
        heard + 3 * SECOND,
        "KEEPIDLE after the last packet from the peer"
    );
    assert_eq!(probe.seq, isn.wrapping_sub(1));
    // The peer answers; the next probe is KEEPIDLE after the answer.
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::None, 1, Some(isn)));
    let answered = stack.now_us();
    let (_, at) = stack.wait_for_packet(10 * SECOND).unwrap();
    assert_eq!(at, answered + 3 * SECOND);
}

#[test]
fn epoll_reports_a_ready_listener() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    let ud = stack.table.userdata;
    // SAFETY: valid userdata and argument.
    let epfd = unsafe { (stack.table.epoll_create.unwrap())(ud, 1) };
    assert_eq!(epfd, listener + 1);
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0xfeed,
    };
    let epoll_ctl = stack.table.epoll_ctl.unwrap();
    // SAFETY: a valid epoll_event.
    let added = unsafe { epoll_ctl(ud, epfd, libc::EPOLL_CTL_ADD, listener, &mut event) };
    assert_eq!(added, 0);
    // SAFETY: as above.
    let added_again = unsafe { epoll_ctl(ud, epfd, libc::EPOLL_CTL_ADD, listener, &mut event) };
    assert_eq!(added_again, -1);
    assert_eq!(errno(), libc::EEXIST);
    let epoll_wait = stack.table.epoll_wait.unwrap();
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: a writable array of 4 events.
    let ready_before = unsafe { epoll_wait(ud, epfd, events.as_mut_ptr(), 4, 0) };
    assert_eq!(ready_before, 0);

    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    let (syn_ack, _) = stack.receive_tcp();
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    stack.inject_tcp(&ack);
    // SAFETY: as above.
    let ready_after = unsafe { epoll_wait(ud, epfd, events.as_mut_ptr(), 4, 0) };
    assert_eq!(ready_after, 1);
    let (ready, data) = (events[0].events, events[0].u64);
    assert_eq!((ready, data), (libc::EPOLLIN as u32, 0xfeed));
}
