//! smoltcp on DPDK (`--netdev=dpdk --so_filename=...`, built with the `dpdk` features of
//! stackdrill and of the adapter): the adapter takes the port stackdrill hands it through
//! `stackdrill_dpdk_attach` and polls it itself; the portable scripts pass unchanged, over IPv4
//! (ARP) and IPv6 (NDP); a library without the extension gets one line naming the flag, exit
//! status 1; and nothing is left behind (in the root namespace, or in the temporary directory).
//!
//! Needs the adapter built with its `dpdk` feature (`cargo build --workspace --features
//! stackdrill/dpdk,stackdrill-smoltcp/dpdk`; scripts/test.sh does).

#![cfg(feature = "dpdk")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The tests of this binary compare the root namespace before and after their runs: one at a
/// time, so that they do not see each other's DPDK files.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The dynamic symbols `object` defines, or the libraries it needs (`nm -D`, `ldd`).
fn tool_output(tool: &str, args: &[&str], object: &Path) -> String {
    let out = Command::new(tool)
        .args(args)
        .arg(object)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    assert!(out.status.success(), "{tool} {}", object.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The smoltcp adapter, checked to have its DPDK device mode.
fn dpdk_adapter() -> PathBuf {
    let library = common::smoltcp_adapter();
    let symbols = tool_output("nm", &["-D", "--defined-only"], &library);
    assert!(
        symbols.contains(" stackdrill_dpdk_attach\n"),
        "{} has no DPDK device mode: build it with `cargo build --workspace --features \
         stackdrill/dpdk,stackdrill-smoltcp/dpdk` (scripts/test.sh does)",
        library.display()
    );
    library
}

/// Runs stackdrill with `args`, asserting it leaves nothing behind: in the root namespace, and
/// in its temporary directory (TMPDIR, where it would otherwise use /tmp: a private one, so
/// that other processes' files there do not count); returns the output and stdout + stderr.
fn run_leaving_nothing(args: &[&str]) -> (Output, String) {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "dpdk_smoltcp-tmp-{}",
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&tmp).unwrap();
    let before = common::root_state();
    let out = common::stackdrill_command(args)
        .env("TMPDIR", &tmp)
        .output()
        .expect("run stackdrill");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        common::root_state(),
        before,
        "{args:?} left something behind:\n{text}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "{args:?} left {left:?} in TMPDIR:\n{text}");
    std::fs::remove_dir(&tmp).unwrap();
    (out, text)
}

#[test]
fn the_adapter_and_stackdrill_share_the_systems_dpdk() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let adapter = dpdk_adapter();
    let stackdrill = Path::new(env!("CARGO_BIN_EXE_stackdrill"));
    for object in [adapter.as_path(), stackdrill] {
        let needed = tool_output("ldd", &[], object);
        assert!(
            needed.contains("librte_eal.so") && needed.contains("librte_ethdev.so"),
            "{} does not link DPDK:\n{needed}",
            object.display()
        );
    }
}

#[test]
fn portable_scripts_pass_on_smoltcp_over_a_dpdk_port() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let adapter = dpdk_adapter();
    let so = format!("--so_filename={}", adapter.display());
    let (out, text) = run_leaving_nothing(&["--netdev=dpdk", &so, "tests/portable"]);
    assert!(out.status.success(), "smoltcp on DPDK failed:\n{text}");
    let scripts = std::fs::read_dir("tests/portable")
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            name.to_string_lossy().ends_with(".pkt")
        })
        .count();
    assert!(
        text.contains(&format!(
            "Ran {scripts} tests: {scripts} passing, 0 failing"
        )),
        "{text}"
    );
}

#[test]
fn ipv6_runs_find_the_gateway_by_neighbour_discovery() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let adapter = dpdk_adapter();
    let so = format!("--so_filename={}", adapter.display());
    // The portable scripts spell IPv4's MSS; these two do not depend on it.
    for script in ["active_open.pkt", "udp_exchange.pkt"] {
        let path = format!("tests/portable/{script}");
        let args = ["--netdev=dpdk", "--ip_version=ipv6", &so, &path];
        let (out, text) = run_leaving_nothing(&args);
        assert!(out.status.success(), "{script} over IPv6:\n{text}");
    }
}

#[test]
fn a_library_without_the_extension_is_one_line_naming_the_flag() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let library = common::build_broken_library("libbroken_for_dpdk.so");
    let so = format!("--so_filename={}", library.display());
    let script = "tests/portable/passive_open.pkt";
    let (out, _) = run_leaving_nothing(&["--netdev=dpdk", &so, script]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line:\n{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "{script}: --netdev=dpdk: so:libbroken_for_dpdk.so does not export \
             stackdrill_dpdk_attach, so it cannot take a DPDK port (run it without \
             --netdev=dpdk)"
        )
    );
}

#[test]
fn a_userspace_stack_takes_no_dpdk_device() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Refused before the library is loaded: any build of the adapter will do.
    let adapter = common::smoltcp_adapter();
    let so = format!("--so_filename={}", adapter.display());
    let args = [
        "--netdev=dpdk",
        "--dpdk_devargs=net_tap9,iface=x",
        &so,
        "tests/portable/passive_open.pkt",
    ];
    let (out, _) = run_leaving_nothing(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "not one line:\n{stderr}");
    assert!(
        stderr
            .contains("--dpdk_devargs: a userspace stack under test gets a port stackdrill makes"),
        "{stderr}"
    );
}
