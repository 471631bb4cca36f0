//! The kernel over a DPDK port (`--netdev=dpdk`, built with the `dpdk` feature): the portable
//! scripts pass over a net_tap device standing in for tun0, and every way of getting the
//! device wrong ends in one line naming the flag, exit status 1, and nothing left behind.

#![cfg(feature = "dpdk")]

mod common;

#[test]
fn portable_scripts_pass_over_a_net_tap_port() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let before = common::root_state();
    let out = common::stackdrill(&["--netdev=dpdk", "tests/portable"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the portable suite failed over DPDK:\n{text}"
    );
    assert!(text.contains(" passing, 0 failing"), "{text}");
    assert_eq!(
        common::root_state(),
        before,
        "a DPDK run left something behind"
    );
}

#[test]
fn a_packet_above_the_mtu_is_refused_with_its_reason() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let script =
        std::env::temp_dir().join(format!("stackdrill-dpdk-big-{}.pkt", std::process::id()));
    std::fs::write(
        &script,
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
         +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
         +0 bind(3, ..., ...) = 0\n\
         +0 listen(3, 1) = 0\n\
         +0 < S 0:0(0) win 65535 <mss 1460>\n\
         +0 > S. 0:0(0) ack 1 <mss 1460>\n\
         +0 < . 1:1(0) ack 1 win 65535\n\
         +0 accept(3, ..., ...) = 4\n\
         +0 < . 1:3001(3000) ack 1 win 65535\n",
    )
    .unwrap();
    let out = common::stackdrill(&[
        "--netdev=dpdk",
        "--ip_version=ipv4",
        script.to_str().unwrap(),
    ]);
    std::fs::remove_file(&script).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.lines().next().unwrap_or("").ends_with(
            ":9: error handling packet: error writing packet: a 3040-byte packet is larger \
             than the MTU (1500): tun takes it whole, a DPDK port cannot"
        ),
        "{stderr}"
    );
}

#[test]
fn a_wrong_device_is_one_line_naming_the_flag() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let before = common::root_state();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--netdev=dpdk", "--dpdk_devargs=net_nosuch0"],
            "--dpdk_devargs=net_nosuch0: ",
        ),
        (
            &["--netdev=dpdk", "--dpdk_devargs=0000:99:00.0"],
            "--dpdk_devargs=0000:99:00.0: ",
        ),
        (
            &["--netdev=dpdk", "--dpdk_eal_args=--no-such-eal-flag"],
            "--dpdk_eal_args: cannot start DPDK's EAL: ",
        ),
    ];
    for (flags, start) in cases {
        let mut args = flags.to_vec();
        args.push("tests/portable/passive_open.pkt");
        let out = common::stackdrill(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{flags:?}: not one line:\n{stderr}"
        );
        assert!(
            stderr.starts_with("tests/portable/passive_open.pkt: ") && stderr.contains(start),
            "{flags:?}: expected a line with {start:?}, got:\n{stderr}"
        );
    }
    assert_eq!(
        common::root_state(),
        before,
        "a refused DPDK run left something behind"
    );
}
