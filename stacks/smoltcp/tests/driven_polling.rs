//! Who runs the stack: once stackdrill_poll is called before anything else, netdev_send only
//! queues, usleep only moves the clock and socket calls only change socket state, and
//! everything happens at the next stackdrill_poll; without that first call (upstream
//! packetdrill), the stack runs itself as before.

mod harness;

use std::sync::{mpsc, Arc};

use harness::*;
use smoltcp::wire::TcpControl;

const SECOND: i64 = 1_000_000;

fn listen_on_8080(stack: &Stack) -> i32 {
    let listener = stack.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    assert_eq!(stack.bind_v4(listener, LOCAL, 8080), 0);
    assert_eq!(stack.listen(listener, 1), 0);
    listener
}

#[test]
fn a_packet_is_not_answered_until_stackdrill_poll() {
    let stack = Stack::new(None);
    let listener = listen_on_8080(&stack);
    let syn = Segment::to_stack(8080, TcpControl::Syn, 0, None);
    let arrived = stack.now_us();
    stack.unpolled(|stack| {
        stack.inject_tcp(&syn);
        stack.assert_silent();
        stack.usleep(3000);
        stack.assert_silent();
        // The socket table only reads: the SYN is still waiting.
        assert_eq!(stack.sockets().len(), 1, "only the listener");
    });
    assert_eq!(stack.now_us(), arrived + 3000, "usleep moved the clock");
    assert!(stack.poll_stack() > 0, "the SYN-ACK's retransmission timer");
    let (syn_ack, at) = stack.receive_tcp();
    assert_eq!(syn_ack.flags(), "S.");
    assert_eq!(
        at,
        arrived + 3000,
        "sent by the poll, stamped with its time"
    );

    // Socket calls do not run the stack either: the data leaves at the poll.
    let ack = Segment::to_stack(8080, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
    stack.inject_tcp(&ack);
    let (fd, _) = stack.accept(listener);
    assert!(fd >= 0);
    stack.unpolled(|stack| {
        assert_eq!(stack.write(fd, b"hello"), 5);
        stack.assert_silent();
        stack.usleep(1000);
        stack.assert_silent();
    });
    stack.poll_stack();
    let (data, at) = stack.receive_tcp();
    assert_eq!(data.payload, b"hello");
    assert_eq!(at, arrived + 4000);
}

#[test]
fn a_timer_due_during_a_long_usleep_fires_at_the_next_poll() {
    let stack = Stack::new(Some("timestamps=off"));
    let (fd, isn) = stack.passive_open(8080);
    assert_eq!(stack.write(fd, &[7u8; 500]), 500);
    let sent = stack.now_us();
    assert_eq!(stack.receive_tcp().1, sent);
    // The RTO (1 s) comes due during a 5 s usleep: nothing happens until the poll.
    stack.unpolled(|stack| stack.usleep(5 * SECOND as u32));
    stack.assert_silent();
    let next = stack.poll_stack();
    let (again, at) = stack.receive_tcp();
    assert_eq!((again.seq, again.payload.len()), (isn, 500));
    assert_eq!(at, sent + 5 * SECOND, "stamped with the poll's time");
    stack.assert_silent();
    assert_eq!(next, 2 * SECOND, "the backed-off RTO, from the poll's time");
}

#[test]
fn in_legacy_mode_usleep_fires_timers_at_their_due_time() {
    let stack = Stack::legacy(Some("timestamps=off"));
    let (fd, isn) = stack.passive_open(8080);
    assert_eq!(stack.write(fd, &[7u8; 500]), 500);
    let sent = stack.now_us();
    // The write itself sent the data (no poll).
    assert_eq!(stack.receive_tcp().1, sent);
    stack.usleep(5 * SECOND as u32);
    let retransmitted: Vec<_> = std::iter::from_fn(|| stack.receive())
        .map(|(bytes, at)| (parse_tcp(&bytes).seq, at - sent))
        .collect();
    assert_eq!(retransmitted, vec![(isn, SECOND), (isn, 3 * SECOND)]);
    // A later stackdrill_poll does not take the polling over.
    assert_eq!(stack.next_timer(), 2 * SECOND);
    stack.inject_tcp(&Segment::to_stack(8080, TcpControl::Fin, 1, Some(isn)));
    assert!(
        stack.receive().is_some(),
        "netdev_send still runs the stack"
    );
}

#[test]
fn a_blocked_call_is_woken_by_the_poll() {
    let stack = Arc::new(Stack::new(None));
    let (fd, isn) = stack.passive_open(8080);
    let (tid_tx, tid_rx) = mpsc::channel();
    let worker = {
        let stack = Arc::clone(&stack);
        std::thread::spawn(move || {
            tid_tx.send(current_tid()).unwrap();
            stack.read(fd, 100)
        })
    };
    let tid = tid_rx.recv().unwrap();
    wait_until_asleep(tid);
    let mut data = Segment::to_stack(8080, TcpControl::Psh, 1, Some(isn));
    data.payload = b"wake".to_vec();
    stack.unpolled(|stack| stack.inject_tcp(&data));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(!worker.is_finished(), "the packet waits for the poll");
    wait_until_asleep(tid);
    stack.poll_stack();
    assert_eq!(worker.join().unwrap(), (4, b"wake".to_vec()));
}

#[test]
fn same_inputs_give_the_same_outputs() {
    let run = || {
        let stack = Stack::new(None);
        let (fd, isn) = stack.passive_open(8080);
        assert_eq!(stack.write(fd, &[1u8; 3000]), 3000);
        stack.unpolled(|stack| stack.usleep(1_500_000));
        let mut packets = Vec::new();
        while let Some(packet) = stack.wait_for_packet(10 * SECOND) {
            packets.push(packet);
            if packets.len() == 6 {
                stack.inject_tcp(&Segment::to_stack(8080, TcpControl::None, 1, Some(isn)));
            }
        }
        (packets, stack.now_us())
    };
    assert_eq!(run(), run());
}
