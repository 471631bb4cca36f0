//! `stackdrill_sockets` through the C ABI: the socket table at each step of a passive open, an
//! active close (FIN_WAIT1, FIN_WAIT2, TIME_WAIT without an fd) and a passive close
//! (CLOSE_WAIT, LAST_ACK), with queues, congestion control and the same tcp_info bytes as
//! getsockopt(TCP_INFO).

mod harness;

use std::mem::offset_of;
use std::net::{Ipv4Addr, Ipv6Addr};

use harness::*;
use smoltcp::wire::TcpControl;
use stackdrill_smoltcp::abi::StackdrillSocket;
use stackdrill_smoltcp::stackdrill_sockets;
use stackdrill_smoltcp::tcp_info::LinuxTcpInfo;

const SECOND: i64 = 1_000_000;

/// One entry as `netstat -tan` would show it, plus its fd.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    fd: i32,
    state: &'static str,
    local: String,
    remote: String,
    recv_q: u32,
    send_q: u32,
}

fn row(fd: i32, state: &'static str, local: &str, remote: &str, queues: (u32, u32)) -> Row {
    Row {
        fd,
        state,
        local: local.to_string(),
        remote: remote.to_string(),
        recv_q: queues.0,
        send_q: queues.1,
    }
}

fn state_name(state: i32) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => panic!("state {state}"),
    }
}

fn address(family: i32, ip: &[u8; 16], port: u16) -> String {
    match family {
        libc::AF_INET => {
            assert_eq!(ip[4..], [0u8; 12], "IPv4 in the first 4 bytes only");
            format!("{}:{port}", Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]))
        }
        libc::AF_INET6 => format!("[{}]:{port}", Ipv6Addr::from(*ip)),
        _ => panic!("family {family}"),
    }
}

fn congestion(entry: &StackdrillSocket) -> String {
    let bytes: Vec<u8> = entry.congestion.iter().map(|&c| c as u8).collect();
    let end = bytes.iter().position(|&b| b == 0).expect("NUL-terminated");
    String::from_utf8(bytes[..end].to_vec()).unwrap()
}

fn u32_at(info: &[u8], offset: usize) -> u32 {
    u32::from_ne_bytes(info[offset..offset + 4].try_into().unwrap())
}

/// The table as rows, checking what every entry must have: TCP, reno, a full tcp_info whose
/// state is the entry's.
fn rows(stack: &Stack) -> Vec<Row> {
    stack
        .sockets()
        .iter()
        .map(|entry| {
            assert_eq!(entry.protocol, libc::IPPROTO_TCP);
            assert_eq!(congestion(entry), "reno");
            assert_eq!(entry.tcp_info_len, 256);
            assert_eq!(i32::from(entry.tcp_info[0]), entry.state, "tcpi_state");
            Row {
                fd: entry.fd,
                state: state_name(entry.state),
                local: address(entry.family, &entry.local_ip, entry.local_port),
                remote: address(entry.family, &entry.remote_ip, entry.remote_port),
                recv_q: entry.recv_queue,
                send_q: entry.send_queue,
            }
        })
        .collect()
}

/// The entry of fd `fd`.
fn entry_of(stack: &Stack, fd: i32) -> StackdrillSocket {
    *stack
        .sockets()
        .iter()
        .find(|entry| entry.fd == fd)
        .expect("an entry for the fd")
}

/// The entry's tcp_info is getsockopt(TCP_INFO)'s, byte for byte (the first 256 bytes).
fn assert_same_tcp_info(stack: &Stack, fd: i32) {
    let entry = entry_of(stack, fd);
    let (result, info) = stack.getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 512);
    assert_eq!(result, 0);
    assert_eq!(info.len(), 280);
    assert_eq!(entry.tcp_info[..], info[..256], "fd {fd}");
}

const LISTEN_ANY: &str = "0.0.0.0:8080";
const LOCAL_8080: &str = "192.168.0.1:8080";
const NOBODY: &str = "0.0.0.0:0";

/// A handshake from peer port `peer_port` to 8080, `rtt_us` between SYN-ACK and ACK; returns
/// the stack's ISN + 1.
fn handshake(stack: &Stack, peer_port: u16, rtt_us: u32, before_ack: impl FnOnce()) -> u32 {
    let mut syn = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    syn.src_port = peer_port;
    syn.mss = Some(1000);
    stack.inject_tcp(&syn);
    let (syn_ack, _) = stack.receive_tcp();
    assert_eq!(syn_ack.flags(), "S.");
    before_ack();
    stack.usleep(rtt_us);
    let isn = syn_ack.seq.wrapping_add(1);
    let mut ack = Segment::to_stack(8080, TcpControl::None, 1, Some(isn));
    ack.src_port = peer_port;
    stack.inject_tcp(&ack);
    isn
}

#[test]
fn the_table_follows_a_connection_through_open_and_both_closes() {
    let stack = Stack::new(None);
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(stack.bind_v4(listener, Ipv4Addr::UNSPECIFIED, 8080), 0);
    assert_eq!(stack.listen(listener, 5), 0);
    // One LISTEN entry for the fd, not one per pooled smoltcp socket; Send-Q is the backlog.
    assert_eq!(
        rows(&stack),
        vec![row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5))]
    );
    assert_same_tcp_info(&stack, listener);

    // SYN: a half-open connection, without an fd, like Linux's request socket.
    let peer = "192.0.2.1:40000";
    let isn = handshake(&stack, PEER_PORT, 5000, || {
        assert_eq!(
            rows(&stack),
            vec![
                row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5)),
                row(-1, "SYN_RECV", LOCAL_8080, peer, (0, 0)),
            ]
        );
    });
    // Established, waiting for accept(): Recv-Q of the listener counts it.
    assert_eq!(
        rows(&stack),
        vec![
            row(3, "LISTEN", LISTEN_ANY, NOBODY, (1, 5)),
            row(-1, "ESTABLISHED", LOCAL_8080, peer, (0, 0)),
        ]
    );
    let (fd, _) = stack.accept(listener);
    assert_eq!(fd, 4);
    assert_eq!(
        rows(&stack),
        vec![
            row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5)),
            row(4, "ESTABLISHED", LOCAL_8080, peer, (0, 0)),
        ]
    );

    // Queues: 100 bytes received and not read, 1000 sent and not acknowledged.
    let mut data = Segment::to_stack(8080, TcpControl::Psh, 1, Some(isn));
    data.payload = vec![1; 100];
    stack.inject_tcp(&data);
    assert_eq!(stack.write(fd, &[2; 1000]), 1000);
    let (sent, _) = stack.receive_tcp();
    assert_eq!(sent.payload.len(), 1000);
    assert_eq!(
        rows(&stack)[1],
        row(4, "ESTABLISHED", LOCAL_8080, peer, (100, 1000))
    );
    assert_same_tcp_info(&stack, fd);
    let info = entry_of(&stack, fd).tcp_info;
    // smoltcp's own congestion window (2048 bytes) in segments of the 1000-byte MSS, its RTO
    // and the RTT sampled on the handshake (5 ms).
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_snd_mss)), 1000);
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_snd_cwnd)), 2);
    assert_eq!(
        u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_snd_ssthresh)),
        0x7fff_ffff
    );
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_rto)), 1_000_000);
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_rtt)), 5000);
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_rttvar)), 2000);

    let ack = Segment::to_stack(8080, TcpControl::None, 101, Some(isn.wrapping_add(1000)));
    stack.inject_tcp(&ack);
    assert_eq!(stack.read(fd, 1000).0, 100);
    assert_eq!(
        rows(&stack)[1],
        row(4, "ESTABLISHED", LOCAL_8080, peer, (0, 0))
    );
    // Slow start: the window grows by the bytes acknowledged, at most one MSS (3048 bytes).
    let info = entry_of(&stack, fd).tcp_info;
    assert_eq!(u32_at(&info, offset_of!(LinuxTcpInfo, tcpi_snd_cwnd)), 3);

    // Active close: the connection outlives its fd.
    assert_eq!(stack.close(fd), 0);
    let (fin, _) = stack.receive_tcp();
    assert_eq!(fin.flags(), "F.");
    assert_eq!(
        rows(&stack)[1],
        row(-1, "FIN_WAIT1", LOCAL_8080, peer, (0, 0))
    );
    let fin_acked = Segment::to_stack(8080, TcpControl::None, 101, Some(fin.seq.wrapping_add(1)));
    stack.inject_tcp(&fin_acked);
    assert_eq!(
        rows(&stack)[1],
        row(-1, "FIN_WAIT2", LOCAL_8080, peer, (0, 0))
    );

    // A second connection gets fd 4 again: entries with an fd come first.
    let peer2 = "192.0.2.1:40001";
    let isn2 = handshake(&stack, PEER_PORT + 1, 0, || {});
    let (fd2, _) = stack.accept(listener);
    assert_eq!(fd2, 4);
    assert_eq!(
        rows(&stack),
        vec![
            row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5)),
            row(4, "ESTABLISHED", LOCAL_8080, peer2, (0, 0)),
            row(-1, "FIN_WAIT2", LOCAL_8080, peer, (0, 0)),
        ]
    );

    // The peer's FIN ends the first one in TIME_WAIT.
    let peer_fin = Segment::to_stack(8080, TcpControl::Fin, 101, Some(fin.seq.wrapping_add(1)));
    stack.inject_tcp(&peer_fin);
    assert_eq!(stack.receive_tcp().0.flags(), ".");
    assert_eq!(
        rows(&stack)[2],
        row(-1, "TIME_WAIT", LOCAL_8080, peer, (0, 0))
    );

    // Passive close of the second: CLOSE_WAIT with its fd, then LAST_ACK without.
    let mut fin2 = Segment::to_stack(8080, TcpControl::Fin, 1, Some(isn2));
    fin2.src_port = PEER_PORT + 1;
    stack.inject_tcp(&fin2);
    assert_eq!(
        rows(&stack)[1],
        row(4, "CLOSE_WAIT", LOCAL_8080, peer2, (0, 0))
    );
    assert_same_tcp_info(&stack, fd2);
    assert_eq!(stack.close(fd2), 0);
    let (our_fin2, _) = loop {
        let (segment, at) = stack.receive_tcp();
        if segment.control == TcpControl::Fin {
            break (segment, at);
        }
    };
    assert_eq!(
        rows(&stack),
        vec![
            row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5)),
            row(-1, "TIME_WAIT", LOCAL_8080, peer, (0, 0)),
            row(-1, "LAST_ACK", LOCAL_8080, peer2, (0, 0)),
        ]
    );
    let mut last_ack = Segment::to_stack(8080, TcpControl::None, 2, Some(our_fin2.seq + 1));
    last_ack.src_port = PEER_PORT + 1;
    stack.inject_tcp(&last_ack);
    assert_eq!(
        rows(&stack),
        vec![
            row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5)),
            row(-1, "TIME_WAIT", LOCAL_8080, peer, (0, 0)),
        ]
    );

    // TIME_WAIT ends after smoltcp's 10 s; closing the listener empties the table.
    stack.usleep(10 * SECOND as u32);
    assert_eq!(
        rows(&stack),
        vec![row(3, "LISTEN", LISTEN_ANY, NOBODY, (0, 5))]
    );
    assert_eq!(stack.close(listener), 0);
    assert_eq!(rows(&stack), vec![]);
}

#[test]
fn connecting_and_ipv6_sockets_and_the_count_protocol() {
    let stack = Stack::new(None);
    // A socket that is neither listening nor connected is not in the table.
    let idle = stack.socket(libc::AF_INET, libc::SOCK_STREAM);
    assert_eq!(rows(&stack), vec![]);
    let fd = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    assert_eq!(stack.connect_v4(fd, REMOTE, 80), -1);
    assert_eq!(errno(), libc::EINPROGRESS);
    assert_eq!(
        rows(&stack),
        vec![row(
            fd,
            "SYN_SENT",
            "192.168.0.1:32768",
            "192.0.2.1:80",
            (0, 0)
        )]
    );
    assert_same_tcp_info(&stack, fd);

    // An AF_INET6 listener shows its family's addresses: the wildcard ::, and IPv4-mapped
    // addresses for its connections on the IPv4 wire.
    let v6 = stack.socket(libc::AF_INET6, libc::SOCK_STREAM);
    // SAFETY: sockaddr_in6 is plain old data.
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = 8080u16.to_be();
    // SAFETY: viewing a plain-old-data struct as bytes.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            &sin6 as *const _ as *const u8,
            std::mem::size_of::<libc::sockaddr_in6>(),
        )
    };
    assert_eq!(stack.bind_raw(v6, bytes), 0);
    // Linux takes a negative backlog as somaxconn (4096).
    assert_eq!(stack.listen(v6, -1), 0);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Syn, 0, None));
    let table = rows(&stack);
    assert_eq!(
        table[1..],
        [
            row(v6, "LISTEN", "[::]:8080", "[::]:0", (0, 4096)),
            row(
                -1,
                "SYN_RECV",
                "[::ffff:192.168.0.1]:8080",
                "[::ffff:192.0.2.1]:40000",
                (0, 0)
            ),
        ]
    );

    // The count protocol: the total whatever `max` is; at most `max` entries written.
    // SAFETY: valid userdata; NULL with max 0.
    let count = unsafe { stackdrill_sockets(stack.table.userdata, std::ptr::null_mut(), 0) };
    assert_eq!(count, 3);
    let mut one = [StackdrillSocket::zeroed(); 2];
    // SAFETY: a writable array of 2 entries, of which 1 is offered.
    let listed = unsafe { stackdrill_sockets(stack.table.userdata, one.as_mut_ptr(), 1) };
    assert_eq!(listed, 3);
    assert_eq!(one[0].fd, fd);
    assert_eq!(one[1].fd, 0, "nothing written past max");
    // SAFETY: a negative max and a NULL array with room are refused.
    unsafe {
        assert_eq!(
            stackdrill_sockets(stack.table.userdata, one.as_mut_ptr(), -1),
            -1
        );
        assert_eq!(
            stackdrill_sockets(stack.table.userdata, std::ptr::null_mut(), 4),
            -1
        );
        assert_eq!(
            stackdrill_sockets(std::ptr::null_mut(), std::ptr::null_mut(), 0),
            -1
        );
    }
    assert_eq!(stack.close(idle), 0);
}
