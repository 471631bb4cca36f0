//! Layer-2 statements against the kernel (`tests/layer2/*.pkt`): ARP and neighbour discovery
//! behaviour every Linux must show, over each layer-2 wire (`--netdev=veth`, and `dpdk` and
//! `af_xdp` when built in); a mutated script fails naming the field that differs; on tun a
//! layer-2 line fails with one line naming it.

mod common;

/// `script` in the run's own temporary directory, run with `args`; (exit status, output).
fn run_text(name: &str, script: &str, args: &[&str]) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("stackdrill-layer2-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.pkt"));
    std::fs::write(&path, script).unwrap();
    let mut all = args.to_vec();
    all.push(path.to_str().unwrap());
    let out = common::stackdrill(&all);
    std::fs::remove_dir_all(&dir).unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code(),
        text.replace(path.to_str().unwrap(), "x.pkt"),
    )
}

#[test]
fn a_layer2_line_on_tun_fails_naming_its_line() {
    if !common::tun_usable("tun runs") {
        return;
    }
    let (code, text) = run_text(
        "tun",
        "--ip_version=ipv4\n0 < arp request\n",
        &["--netdev=tun"],
    );
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(
        text.trim_end(),
        "x.pkt:2: error handling packet: arp and ndp lines need a layer-2 wire (--netdev=veth, \
         af_xdp or dpdk); tun carries IP packets only"
    );
}

/// Runs every script of tests/layer2 over `netdev`: all pass, and nothing is left behind.
fn layer2_scripts_pass(netdev: &str) {
    let text = common::suite_passes_cleanly(&format!("the layer-2 scripts over {netdev}"), || {
        common::stackdrill(&[&format!("--netdev={netdev}"), "tests/layer2"])
    });
    let scripts = std::fs::read_dir("tests/layer2").unwrap().count();
    assert!(scripts >= 8, "at least eight layer-2 scripts");
    assert!(
        text.contains(&format!("{scripts} passing, 0 failing")),
        "{text}"
    );
}

#[cfg(feature = "dpdk")]
#[test]
fn the_arp_and_ndp_scripts_pass_over_a_net_tap_port() {
    if common::tun_usable("DPDK net_tap runs") {
        layer2_scripts_pass("dpdk");
    }
}

#[test]
fn the_arp_and_ndp_scripts_pass_over_a_veth_pair() {
    if nix::unistd::geteuid().is_root() {
        layer2_scripts_pass("veth");
    } else {
        eprintln!("SKIPPED: veth runs as root here");
    }
}

#[cfg(feature = "af_xdp")]
#[test]
fn the_arp_and_ndp_scripts_pass_over_af_xdp() {
    if nix::unistd::geteuid().is_root() {
        layer2_scripts_pass("af_xdp");
    } else {
        eprintln!("SKIPPED: AF_XDP runs need root");
    }
}

#[cfg(feature = "dpdk")]
#[test]
fn a_mutated_arp_script_fails_with_the_field_that_differs() {
    if !common::tun_usable("DPDK net_tap runs") {
        return;
    }
    let script =
        std::fs::read_to_string("tests/layer2/arp-request-for-local-address-is-answered.pkt")
            .unwrap();
    // The reply's target protocol address is the asker's (the gateway's), not 192.168.0.9.
    let mutated = script.replace("tpa gateway", "tpa 192.168.0.9");
    assert_ne!(mutated, script);
    let (code, text) = run_text("mutated", &mutated, &["--netdev=dpdk"]);
    assert_eq!(code, Some(1), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "x.pkt:7: error handling packet: live packet field arp_tpa: expected: 192.168.0.9 vs \
         actual: 192.168.0.1"
    );
    assert!(lines[1].starts_with("script frame: "), "{text}");
    assert!(
        lines[1].ends_with("tpa 192.168.0.9 eth_src stack eth_dst peer"),
        "{text}"
    );
    assert!(lines[2].starts_with("actual frame: "), "{text}");
    assert!(lines[2].contains(" tpa 192.168.0.1 "), "{text}");
}
