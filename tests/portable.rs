//! The portable scripts (tests/portable/*.pkt): behaviour Linux and smoltcp share, written once.
//! Every script must pass unchanged against the kernel (over tun, in a private namespace) and
//! against the smoltcp adapter (stacks/smoltcp, through the shared-object ABI, in virtual
//! time), each target supplying its own profile of defines. The gVisor adapter (stacks/gvisor)
//! runs them too: every one passes but those it lists, with the reason, in
//! GVISOR_KNOWN_FAILURES.
//!
//! Both runs use suite mode, as a user would (`stackdrill [--so_filename=...] tests/portable`),
//! and read its JSON report. The adapter must be built first (`cargo build -p
//! stackdrill-smoltcp`; scripts/test.sh does); the kernel run needs root for tun devices, and is
//! skipped with a message without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{gvisor_adapter, smoltcp_adapter};

const BIN: &str = env!("CARGO_BIN_EXE_stackdrill");

fn portable_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/portable")
}

fn portable_scripts() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(portable_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.ends_with(".pkt").then_some(name)
        })
        .collect();
    names.sort();
    names
}

/// Runs the portable directory as a suite with `args` and returns each script's status from
/// the JSON report, plus the run's stderr for messages.
fn run_suite(label: &str, args: &[String]) -> (Vec<(String, String)>, String) {
    let report = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("portable-{label}.json"));
    let output = Command::new(BIN)
        .args(args)
        .arg(format!("--json={}", report.display()))
        .arg(portable_dir())
        .stdin(Stdio::null())
        .output()
        .expect("run stackdrill");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(&report)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let statuses = json["runs"]
        .as_array()
        .expect("runs in the JSON report")
        .iter()
        .map(|run| {
            let script = run["script"].as_str().unwrap_or_default();
            let name = Path::new(script)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let status = run["status"].as_str().unwrap_or_default().to_string();
            let detail = run["errors"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_string();
            let shown = if status == "passed" {
                status
            } else {
                format!("{status}: {detail}")
            };
            (name, shown)
        })
        .collect();
    (statuses, stderr)
}

/// Runs the portable suite with `args` and asserts that every script passes, except those in
/// `known_failures` (name, reason), which must fail: a fixed stack shows up as a test failure
/// asking to take the script off the list.
fn assert_all_pass_except(label: &str, args: &[String], known_failures: &[(&str, &str)]) {
    let (statuses, stderr) = run_suite(label, args);
    let names: Vec<String> = statuses.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        names,
        portable_scripts(),
        "every script ran once; stderr:\n{stderr}"
    );
    let is_known = |name: &str| known_failures.iter().any(|(known, _)| *known == name);
    let failures: Vec<String> = statuses
        .iter()
        .filter(|(name, status)| status != "passed" && !is_known(name))
        .map(|(name, status)| format!("{name}: {status}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{label}: {} of {} portable scripts failed:\n{}",
        failures.len(),
        statuses.len(),
        failures.join("\n")
    );
    let fixed: Vec<String> = statuses
        .iter()
        .filter(|(name, status)| status == "passed" && is_known(name))
        .map(|(name, _)| name.clone())
        .collect();
    assert!(
        fixed.is_empty(),
        "{label}: known failures now pass, take them off the list: {fixed:?}"
    );
}

fn assert_all_pass(label: &str, args: &[String]) {
    assert_all_pass_except(label, args, &[]);
}

/// The portable scripts gVisor's netstack (Debian's 0.0~20221219) cannot pass, and why
/// (docs/stacks.md has each one in full).
const GVISOR_KNOWN_FAILURES: &[(&str, &str)] = &[(
    "keepalive.pkt",
    "an accepted connection does not inherit SO_KEEPALIVE, TCP_KEEPIDLE and TCP_KEEPINTVL \
     from its listener (Linux's does), so it is never probed",
)];

#[test]
fn there_are_at_least_twenty_portable_scripts() {
    assert!(portable_scripts().len() >= 20, "{:?}", portable_scripts());
}

#[test]
fn portable_scripts_pass_on_the_kernel() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    assert_all_pass("kernel", &[]);
}

#[test]
fn portable_scripts_pass_on_smoltcp() {
    let library = smoltcp_adapter();
    assert_all_pass("smoltcp", &[format!("--so_filename={}", library.display())]);
}

#[test]
fn portable_scripts_pass_on_gvisor() {
    let Some(library) = gvisor_adapter() else {
        return;
    };
    assert_all_pass_except(
        "gvisor",
        &[format!("--so_filename={}", library.display())],
        GVISOR_KNOWN_FAILURES,
    );
}
