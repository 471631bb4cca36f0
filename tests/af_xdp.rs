//! The kernel over a veth whose far end is an AF_XDP socket (`--netdev=af_xdp`, built with the
//! `af_xdp` feature): the portable scripts pass, a segment above the MTU reaches the kernel
//! whole as over tun, a normal user is told in one line that AF_XDP needs root, and nothing is
//! left behind.

#![cfg(feature = "af_xdp")]

mod common;

use std::process::Command;

fn root_or_skip() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED: AF_XDP runs need root");
    }
    root
}

fn text(out: &std::process::Output) -> String {
    common::output_text(out)
}

#[test]
fn portable_scripts_and_a_big_segment_pass_over_af_xdp() {
    if !root_or_skip() {
        return;
    }
    common::suite_passes_cleanly("the portable suite over AF_XDP", || {
        common::stackdrill(&["--netdev=af_xdp", "tests/portable"])
    });
    let before = common::root_state();
    let big = common::big_segment_script("af_xdp");
    let out = common::stackdrill(&[
        "--netdev=af_xdp",
        "--ip_version=ipv4",
        big.to_str().unwrap(),
    ]);
    std::fs::remove_file(&big).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        common::root_state(),
        before,
        "an AF_XDP run left something behind"
    );
}

#[test]
fn a_normal_user_is_told_in_one_line_that_af_xdp_needs_root() {
    if !root_or_skip() {
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_stackdrill"))
        .args(["--netdev=af_xdp", "tests/portable/active_open.pkt"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("--netdev=af_xdp") && lines[0].contains("needs root"),
        "{stderr}"
    );
}

#[test]
fn an_early_packet_is_reported_when_it_left() {
    if !root_or_skip() {
        return;
    }
    common::early_packet_is_reported_when_it_left("af_xdp");
}
