//! The portable scripts (tests/portable/*.pkt): behaviour Linux and smoltcp share, written once.
//! Every script must pass unchanged against the kernel (over tun, in a private namespace) and
//! against the smoltcp adapter (stacks/smoltcp, through the shared-object ABI, in virtual
//! time), each target supplying its own profile of defines. The lwIP adapter (stacks/lwip)
//! and the gVisor adapter (stacks/gvisor) pass them all but the ones a `// cannot-pass: lwip:`
//! or `// cannot-pass: gvisor:` line marks, which fail as expected with the line's reason
//! (docs/stacks.md has each).
//!
//! Both runs use suite mode, as a user would (`stackdrill [--so_filename=...] tests/portable`),
//! and read its JSON report. The adapter must be built first (`cargo build -p
//! stackdrill-smoltcp`; scripts/test.sh does); the kernel run needs root for tun devices, and is
//! skipped with a message without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;
use common::{gvisor_adapter, lwip_adapter, smoltcp_adapter};

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
            let detail_field = if status == "expected_failure" {
                "message"
            } else {
                "errors"
            };
            let detail = run[detail_field]
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

/// Every portable script passes on the target, except those its `// cannot-pass: STACK:`
/// marks name for the target's stack: those fail as expected, their reason in the report (and
/// a marked script that passes is a failure of the suite: the mark is stale). `expected_marks`
/// are the scripts the test knows to be marked for the stack, so that a mark lost or misnamed
/// shows up too.
fn assert_pass_except(label: &str, args: &[String], expected_marks: &[&str]) {
    let (statuses, stderr) = run_suite(label, args);
    let names: Vec<String> = statuses.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(
        names,
        portable_scripts(),
        "every script ran once; stderr:\n{stderr}"
    );
    let failures: Vec<String> = statuses
        .iter()
        .filter(|(name, status)| status != "passed" && !expected_marks.contains(&name.as_str()))
        .map(|(name, status)| format!("{name}: {status}"))
        .collect();
    assert!(
        failures.is_empty(),
        "{label}: {} of {} portable scripts failed:\n{}",
        failures.len(),
        statuses.len(),
        failures.join("\n")
    );
    for marked in expected_marks {
        let (_, status) = statuses
            .iter()
            .find(|(name, _)| name == marked)
            .unwrap_or_else(|| panic!("{marked} did not run"));
        assert!(
            status.starts_with("expected_failure: cannot pass on "),
            "{label}: {marked} should fail as its cannot-pass mark says: {status}"
        );
    }
}

fn assert_all_pass(label: &str, args: &[String]) {
    assert_pass_except(label, args, &[]);
}

/// The portable scripts marked `// cannot-pass: lwip:` (docs/stacks.md, lwIP's deviations).
const MARKED_FOR_LWIP: &[&str] = &["syn_retransmission_backoff.pkt", "zero_window_probe.pkt"];

/// The portable scripts marked `// cannot-pass: gvisor:` (docs/stacks.md, gVisor's bugs).
const MARKED_FOR_GVISOR: &[&str] = &["keepalive.pkt"];

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
fn portable_scripts_pass_on_lwip_except_the_marked_ones() {
    let library = lwip_adapter();
    assert_pass_except(
        "lwip",
        &[format!("--so_filename={}", library.display())],
        MARKED_FOR_LWIP,
    );
}

/// The same with AF_INET6 sockets over IPv4 (lwIP's dual-stack pcbs and the adapter's mapped
/// addresses).
#[test]
fn portable_scripts_pass_on_lwip_with_ipv4_mapped_sockets() {
    let library = lwip_adapter();
    assert_pass_except(
        "lwip-mapped",
        &[
            format!("--so_filename={}", library.display()),
            "--ip_version=ipv4-mapped-ipv6".to_string(),
        ],
        MARKED_FOR_LWIP,
    );
}

/// stacks/lwip/tests: scripts that pin lwIP's own behaviour where it deviates (the reasons of
/// [`MARKED_FOR_LWIP`]), all passing on lwIP.
#[test]
fn lwip_deviation_scripts_pass_on_lwip() {
    let library = lwip_adapter();
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/lwip/tests");
    let output = Command::new(BIN)
        .arg(format!("--so_filename={}", library.display()))
        .arg(&scripts)
        .stdin(Stdio::null())
        .output()
        .expect("run stackdrill");
    assert!(
        output.status.success(),
        "stacks/lwip/tests failed on lwIP:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Kernel scripts (tests/scripts/pass) the lwIP adapter passes as well, with a timing tolerance
/// of 20 ms: lwIP's TCP timers tick every 10 and 20 ms, where Linux ACKs at once. They cover
/// what the portable scripts do not: epoll, connect's and listen's errors, poll after a reset.
const KERNEL_SCRIPTS_LWIP_PASSES: &[&str] = &[
    "connect_nonblocking.pkt",
    "connect_refused.pkt",
    "enotconn.pkt",
    "epoll_readiness.pkt",
    "poll_readiness.pkt",
    "reset_econnreset_epipe.pkt",
    "rst_linger_zero.pkt",
    "shutdown_wr.pkt",
    "syn_in_established.pkt",
    "udp_recvfrom.pkt",
    "udp_sendto.pkt",
];

#[test]
fn kernel_scripts_pass_on_lwip_too() {
    let library = lwip_adapter();
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/pass");
    let failures: Vec<String> = KERNEL_SCRIPTS_LWIP_PASSES
        .iter()
        .filter_map(|name| {
            let output = Command::new(BIN)
                .arg(format!("--so_filename={}", library.display()))
                .arg("--tolerance_usecs=20000")
                .arg(folder.join(name))
                .stdin(Stdio::null())
                .output()
                .expect("run stackdrill");
            (!output.status.success())
                .then(|| format!("{name}: {}", String::from_utf8_lossy(&output.stderr).trim()))
        })
        .collect();
    assert!(failures.is_empty(), "on lwIP:\n{}", failures.join("\n"));
}

/// Without stackdrill's extensions (as upstream packetdrill drives it) the lwIP adapter runs
/// itself on real time and learns its address: stacks/lwip/tests/upstream_mode.c checks it,
/// through `make -C stacks/lwip check`.
#[test]
fn lwip_adapter_works_without_stackdrills_extensions() {
    common::lwip_make(Some("check"));
}

#[test]
fn portable_scripts_pass_on_gvisor_except_the_marked_ones() {
    let Some(library) = gvisor_adapter() else {
        return;
    };
    assert_pass_except(
        "gvisor",
        &[format!("--so_filename={}", library.display())],
        MARKED_FOR_GVISOR,
    );
}
