//! Ring-pair ports (`Port::ring_pair`): frames sent on one end arrive on the other, byte for
//! byte, one at a time and in bursts, across threads; names are released on drop.

mod common;

use std::time::{Duration, Instant};

use dpdk_sys::{Mempool, Port};

/// A frame of `len` bytes whose content depends on `seed`.
fn frame(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seed * 31 + i * 7) as u8).collect()
}

/// Receives until `want` frames are in `out` or a second has passed.
fn receive_n(port: &mut Port, want: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while out.len() < want && Instant::now() < deadline {
        let missing = want - out.len();
        port.receive(&mut out, missing).expect("receive");
    }
    out
}

fn started_pair(name: &str) -> (Port, Port) {
    common::eal();
    let pool = Mempool::new(&common::unique("ringpool"), 2047).expect("pool");
    let (mut a, mut b) = Port::ring_pair(name).expect("ring pair");
    a.start(pool.clone(), 512).expect("start a");
    b.start(pool, 512).expect("start b");
    (a, b)
}

#[test]
fn a_frame_goes_there_and_back_unchanged() {
    let (mut a, mut b) = started_pair(&common::unique("rt"));
    assert_ne!(a.id(), b.id());
    assert_eq!(a.raw_id(), a.id());
    assert_eq!(a.driver_name(), "net_ring");
    assert!(a.link_up() && b.link_up());
    a.wait_link_up(Duration::from_secs(1)).expect("link");

    let sent = frame(1, 60);
    a.send(&sent).expect("send on a");
    let there = receive_n(&mut b, 1);
    assert_eq!(there, vec![sent.clone()]);
    b.send(&there[0]).expect("send back on b");
    assert_eq!(receive_n(&mut a, 1), vec![sent]);
    // Nothing else arrived, and receiving never blocks.
    let mut out = Vec::new();
    assert_eq!(a.receive(&mut out, 8).expect("receive"), 0);
    assert_eq!(b.receive(&mut out, 8).expect("receive"), 0);
}

#[test]
fn a_burst_of_many_frames_arrives_in_order() {
    let (mut a, mut b) = started_pair(&common::unique("burst"));
    let frames: Vec<Vec<u8>> = (0..600).map(|i| frame(i, 60 + i % 1400)).collect();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    a.send_burst(&refs[..500]).expect("send burst");
    for frame in &frames[500..] {
        a.send(frame).expect("send");
    }
    let got = receive_n(&mut b, frames.len());
    assert_eq!(got.len(), frames.len());
    assert!(got == frames, "frames differ or came out of order");

    // And all of them back the other way, with `receive_with` borrowing each frame.
    let refs: Vec<&[u8]> = got.iter().map(Vec::as_slice).collect();
    b.send_burst(&refs).expect("send back");
    let mut back = 0;
    let deadline = Instant::now() + Duration::from_secs(1);
    while back < frames.len() && Instant::now() < deadline {
        a.receive_with(64, |frame| {
            assert_eq!(frame, frames[back].as_slice());
            back += 1;
        })
        .expect("receive_with");
    }
    assert_eq!(back, frames.len());
}

#[test]
fn a_port_moves_to_another_thread() {
    let (mut a, mut b) = started_pair(&common::unique("thr"));
    let echo = std::thread::spawn(move || {
        for _ in 0..100 {
            let frame = receive_n(&mut b, 1).pop().expect("a frame to echo");
            b.send(&frame).expect("echo");
        }
        b
    });
    for i in 0..100 {
        let sent = frame(i, 64 + i);
        a.send(&sent).expect("send");
        assert_eq!(receive_n(&mut a, 1), vec![sent]);
    }
    drop(echo.join().expect("echo thread"));
}

#[test]
fn names_are_unique_while_in_use_and_free_again_after_drop() {
    let name = common::unique("name");
    let pair = started_pair(&name);
    let error = Port::ring_pair(&name).expect_err("a second pair of the same name");
    assert!(error.message.contains(&name), "{error}");
    drop(pair);
    // Dropping both ends released the rings and the devices: the name works again, and the
    // new pair starts empty.
    let (mut a, mut b) = started_pair(&name);
    a.send(&frame(9, 100)).expect("send");
    assert_eq!(receive_n(&mut b, 1), vec![frame(9, 100)]);
}

#[test]
fn unreceived_frames_go_back_to_their_pool_when_the_pair_is_dropped() {
    common::eal();
    let pool = Mempool::new(&common::unique("drain"), 255).expect("pool");
    let free_before = pool.available();
    {
        let (mut a, mut b) = Port::ring_pair(&common::unique("drain")).expect("pair");
        a.start(pool.clone(), 64).expect("start a");
        b.start(pool.clone(), 64).expect("start b");
        for i in 0..100 {
            a.send(&frame(i, 200)).expect("send");
        }
        assert_eq!(pool.available(), free_before - 100);
    }
    assert_eq!(pool.available(), free_before);
}

#[test]
fn ports_need_starting_and_frames_must_fit_an_mbuf() {
    common::eal();
    let (mut a, _b) = Port::ring_pair(&common::unique("nostart")).expect("pair");
    let error = a.send(&frame(0, 60)).expect_err("send before start");
    assert!(error.message.contains("not started"), "{error}");
    let error = a
        .receive(&mut Vec::new(), 1)
        .expect_err("receive before start");
    assert!(error.message.contains("not started"), "{error}");

    let pool = Mempool::new(&common::unique("fit"), 255).expect("pool");
    a.start(pool.clone(), 64).expect("start");
    let error = a.start(pool, 64).expect_err("second start");
    assert!(error.message.contains("already started"), "{error}");
    let error = a.send(&frame(0, 4000)).expect_err("jumbo frame");
    assert!(error.message.contains("4000-byte frame"), "{error}");
}
