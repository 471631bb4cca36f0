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
    common::suite_passes_cleanly("the portable suite over DPDK", || {
        common::stackdrill(&["--netdev=dpdk", "tests/portable"])
    });
}

#[test]
fn a_packet_above_the_mtu_reaches_the_kernel_whole_as_over_tun() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let script = common::big_segment_script("dpdk");
    let out = common::stackdrill(&[
        "--netdev=dpdk",
        "--ip_version=ipv4",
        script.to_str().unwrap(),
    ]);
    std::fs::remove_file(&script).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
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

/// Runs a suite of two scripts that check, from a command, whether the stackdrill process
/// running them holds DPDK's memory privately — the mark of a run forked from the suite's
/// zygote, which started EAL once (a run that starts EAL itself maps it shared) — with `env`
/// added; returns its exit status and output.
fn suite_checking_eal_memory(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("stackdrill-dpdk-zygote-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["first.pkt", "second.pkt"] {
        std::fs::write(
            dir.join(name),
            "0 `grep -q 'rw-p .*/memfd:nohuge' /proc/$PPID/maps`\n\
             +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        )
        .unwrap();
    }
    let out =
        common::stackdrill_command(&["--netdev=dpdk", "--ip_version=ipv4", dir.to_str().unwrap()])
            .envs(env.iter().copied())
            .output()
            .expect("run stackdrill");
    std::fs::remove_dir_all(&dir).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[test]
fn a_suite_forks_its_runs_from_one_eal_start() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let before = common::root_state();
    let (code, text) = suite_checking_eal_memory(&[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 passing, 0 failing"), "{text}");
    // Runs that start EAL themselves map its memory shared: the check does see the difference.
    let (code, text) = suite_checking_eal_memory(&[("STACKDRILL_NO_ZYGOTE", "1")]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("0 passing, 2 failing"), "{text}");
    assert_eq!(
        common::root_state(),
        before,
        "a DPDK suite left something behind"
    );
}

#[test]
fn an_early_packet_is_reported_when_it_left() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    common::early_packet_is_reported_when_it_left("dpdk");
}
