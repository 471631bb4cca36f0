//! The kernel over a veth pair (`--netdev=veth`): the portable scripts pass, also as user
//! nobody (no capabilities, in a user namespace the run makes itself); a segment above the MTU
//! and a GSO super-packet reach the kernel whole, as over tun, and leave it the receive window
//! they leave over tun; a run that cannot open /dev/net/tun says in its one line how to run
//! without it; nothing is left behind.

mod common;

use std::process::{Command, Output};

/// Whether this test process is root (the as-nobody tests switch users with setpriv); when
/// not, says on stderr what is skipped and why.
fn root_or_skip(why: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED: {why}");
    }
    root
}

/// stackdrill with `args` from the repository's root as user nobody, through `setpriv`, after
/// `prelude` (shell commands run as root first, in a private mount namespace).
fn stackdrill_as_nobody(prelude: &str, args: &[&str]) -> Output {
    let line = format!(
        "{prelude} exec setpriv --reuid=nobody --regid=nogroup --clear-groups -- {} {}",
        env!("CARGO_BIN_EXE_stackdrill"),
        args.join(" ")
    );
    Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &line])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run unshare")
}

fn text(out: &Output) -> String {
    common::output_text(out)
}

/// One portable suite at a time: two at once on a small machine turn timing into near misses
/// (and an unprivileged run cannot raise its priority).
static ONE_SUITE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the portable suite with `run`: every script passes and nothing is left behind.
fn portable_suite_passes(run: impl FnOnce() -> Output) {
    let _alone = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    common::suite_passes_cleanly("the portable suite over veth", run);
}

#[test]
fn portable_scripts_pass_over_a_veth_pair() {
    if !root_or_skip("veth runs as root (the as-nobody test covers unprivileged runs)") {
        return;
    }
    portable_suite_passes(|| common::stackdrill(&["--netdev=veth", "tests/portable"]));
}

#[test]
fn user_nobody_runs_the_portable_scripts_over_veth() {
    if !root_or_skip("switching to user nobody needs root") {
        return;
    }
    portable_suite_passes(|| stackdrill_as_nobody("", &["--netdev=veth", "tests/portable"]));
}

#[test]
fn without_tun_the_error_says_how_to_run_without_root() {
    if !root_or_skip("hiding /dev/net/tun from user nobody needs root") {
        return;
    }
    // A private mount namespace where /dev/net/tun is root's alone (mode 0600), as on
    // machines that ship it so.
    let hide =
        "f=$(mktemp) && chmod 600 \"$f\" && mount --bind \"$f\" /dev/net/tun && rm \"$f\" &&";
    let out = stackdrill_as_nobody(hide, &["tests/portable/active_open.pkt"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("opening /dev/net/tun") && lines[0].contains("--netdev=veth"),
        "{stderr}"
    );
}

#[test]
fn a_segment_above_the_mtu_and_a_gso_packet_reach_the_kernel_whole() {
    if !root_or_skip("veth runs as root here") {
        return;
    }
    let big = common::big_segment_script("veth");
    let out = common::stackdrill(&["--netdev=veth", "--ip_version=ipv4", big.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // With --mss, the same segment is a GSO super-packet the kernel takes as one.
    let out = common::stackdrill(&[
        "--netdev=veth",
        "--ip_version=ipv4",
        "--mss=1000",
        big.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::remove_file(&big).unwrap();
}

#[test]
fn a_gso_packet_leaves_the_kernel_the_window_it_leaves_over_tun() {
    if !root_or_skip("veth runs as root here") {
        return;
    }
    // The window after a 12000-byte --mss segment depends on the skb's layout; over tun the
    // kernel script suite checks it (tests/scripts/pass/mss_gso_window.pkt).
    let out = common::stackdrill(&[
        "--netdev=veth",
        "--mss=1000",
        "--tolerance_usecs=20000",
        "tests/scripts/pass/mss_gso_window.pkt",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_early_packet_is_reported_when_it_left() {
    if !root_or_skip("veth runs as root here") {
        return;
    }
    common::early_packet_is_reported_when_it_left("veth");
}
