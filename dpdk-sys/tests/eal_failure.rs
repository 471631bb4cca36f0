//! A failed first `eal_init` is final: later calls return the same error, whatever their args,
//! and everything that needs EAL says so instead of crashing.

mod common;

use dpdk_sys::{eal_init, Mempool, Port};

#[test]
fn a_failed_eal_init_is_returned_again_and_blocks_the_rest() {
    let bad = vec!["--no-such-eal-option".to_owned()];
    let error = eal_init(&bad).expect_err("unknown EAL option");
    assert_eq!(error.call, "rte_eal_init");
    assert!(error.message.contains("--no-such-eal-option"), "{error}");
    assert_eq!(eal_init(&common::eal_args()), Err(error.clone()));

    let pool_error = Mempool::new("afterfailure", 255).expect_err("no EAL, no pool");
    assert!(
        pool_error.message.contains("EAL initialisation failed"),
        "{pool_error}"
    );
    let port_error = Port::ring_pair("afterfailure").expect_err("no EAL, no port");
    assert!(port_error.message.contains(&error.message), "{port_error}");
}
