//! Failures are reported clearly: unknown drivers, bad devargs, bad names, and a second
//! `eal_init` that returns the first one's result.

mod common;

use dpdk_sys::{eal_init, Mempool, Port};

#[test]
fn an_unknown_driver_is_named_in_the_error() {
    common::eal();
    let error = Port::attach_vdev("net_nosuch0", "").expect_err("no such driver");
    assert_eq!(error.call, "rte_vdev_init");
    assert!(error.message.contains("net_nosuch0"), "{error}");
    assert!(error.message.contains("no driver found"), "{error}");
    // The failed attempt left nothing behind: the same error again, not "already attached".
    let again = Port::attach_vdev("net_nosuch0", "").expect_err("still no such driver");
    assert_eq!(again, error);
}

#[test]
fn bad_devargs_are_refused_by_probe() {
    common::eal();
    for devargs in [
        "definitely-not-a-device",
        "0000:ff:1f.7",
        "",
        "net_nosuch1,iface=x",
    ] {
        let error = Port::probe(devargs).expect_err(devargs);
        assert_eq!(error.call, "rte_dev_probe", "{devargs}: {error}");
        assert!(error.message.contains(&format!("{devargs:?}")), "{error}");
    }
}

#[test]
fn a_second_eal_init_returns_the_first_result_whatever_its_args() {
    common::eal();
    let bogus = vec!["--no-such-eal-option".to_owned()];
    assert_eq!(eal_init(&bogus), Ok(()));
    assert_eq!(eal_init(&[]), Ok(()));
}

#[test]
fn bad_names_are_refused_before_dpdk_sees_them() {
    common::eal();
    let error = Mempool::new("", 255).expect_err("empty name");
    assert!(error.message.contains("1 to 26 bytes"), "{error}");
    let error = Mempool::new(&"p".repeat(27), 255).expect_err("long name");
    assert!(error.message.contains("1 to 26 bytes"), "{error}");
    let error = Mempool::new("nul\0name", 255).expect_err("NUL");
    assert!(error.message.contains("NUL"), "{error}");
    let error = Port::ring_pair(&"r".repeat(21)).expect_err("long ring pair name");
    assert!(error.message.contains("1 to 20 bytes"), "{error}");
    let error = Port::attach_vdev("net_tap\0", "").expect_err("NUL");
    assert!(error.message.contains("NUL"), "{error}");
}

#[test]
fn a_pool_name_in_use_is_an_error_from_dpdk() {
    common::eal();
    let name = common::unique("dup");
    let _pool = Mempool::new(&name, 255).expect("first pool");
    let error = Mempool::new(&name, 255).expect_err("second pool of the same name");
    assert_eq!(error.call, "rte_pktmbuf_pool_create");
    assert!(error.message.contains(&name), "{error}");
    assert!(error.message.contains("exists"), "{error}");
}
