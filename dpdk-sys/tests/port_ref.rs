//! [`PortRef`]: a ring-pair port used by its raw id, as a userspace stack uses the port
//! stackdrill hands it: frames go both ways unchanged, and a full tx queue is an error, not a
//! wait.

mod common;

use std::time::{Duration, Instant};

use dpdk_sys::{Mempool, Port, PortRef};

#[test]
fn frames_go_both_ways_through_a_borrowed_port() {
    common::eal();
    let pool = Mempool::new(&common::unique("refpool"), 2047).expect("pool");
    let (mut ours, mut theirs) = Port::ring_pair(&common::unique("ref")).expect("ring pair");
    ours.start(pool.clone(), 512).expect("start ours");
    theirs.start(pool.clone(), 512).expect("start theirs");
    // SAFETY: EAL is up, `theirs` is started with queue 0 and nothing else polls it while the
    // PortRef lives, and `pool` outlives it.
    let mut borrowed = unsafe { PortRef::from_raw(theirs.raw_id(), 0, pool.raw()) };
    assert_eq!(borrowed.id(), theirs.raw_id());

    let frame: Vec<u8> = (0..90u8).collect();
    ours.send(&frame).expect("send on ours");
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while got.is_empty() && Instant::now() < deadline {
        borrowed.receive_with(8, |bytes| got.push(bytes.to_vec()));
    }
    assert_eq!(got, vec![frame.clone()]);

    borrowed.send(&frame).expect("send on the borrowed port");
    let mut back = Vec::new();
    while back.is_empty() && Instant::now() < deadline {
        ours.receive(&mut back, 8).expect("receive on ours");
    }
    assert_eq!(back, vec![frame.clone()]);

    // The ring holds 1023 frames: the next one is refused at once, and freed.
    let free_before = pool.available();
    let mut refused = None;
    for sent in 0..2000 {
        if let Err(error) = borrowed.send(&frame) {
            refused = Some((sent, error));
            break;
        }
    }
    let (sent, error) = refused.expect("a full tx queue refuses a frame");
    assert_eq!(sent, 1023);
    assert!(
        error.to_string().contains("the tx queue is full"),
        "{error}"
    );
    assert_eq!(
        pool.available(),
        free_before - 1023,
        "the refused mbuf leaked"
    );
    drop(theirs);
}
