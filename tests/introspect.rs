//! Introspection over HTTP with the real binary: what only one target can do (a polling hang on
//! the smoltcp, lwIP and gVisor adapters, its refusal on the kernel, 501 from a library without a
//! socket table), the flags that move or remove the server, and that the server never listens
//! outside the run's private namespace. The scripts that read state through `/netstat` and `/ss` on both
//! targets are in tests/portable/ (tests/portable.rs runs them).
//!
//! Needs root for network namespaces and tun devices, like the other kernel tests, and the
//! smoltcp adapter built (`cargo build -p stackdrill-smoltcp`; scripts/test.sh does).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;
use common::{gvisor_adapter, smoltcp_adapter};

const BIN: &str = env!("CARGO_BIN_EXE_stackdrill");

/// Writes `script` as `name` in a directory of its own and runs it with `args`.
fn run(name: &str, script: &str, args: &[String]) -> Output {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("introspect");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), script).unwrap();
    Command::new(BIN)
        .current_dir(&dir)
        .args(args)
        .arg(name)
        .stdin(Stdio::null())
        .output()
        .expect("run stackdrill")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn so(library: &Path) -> String {
    format!("--so_filename={}", library.display())
}

/// Runs tests/introspect/pollinghang.pkt on `library` (it must pass: the segments reach the
/// stack only when the hang ends), then the script without its hang, which must fail with the
/// stack's own first ACK, `ack_without_hang` (so the hang is what made the script pass).
fn assert_polling_hang_holds_packets(label: &str, library: &Path, ack_without_hang: &str) {
    let script_path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/introspect/pollinghang.pkt");
    let script = std::fs::read_to_string(&script_path).unwrap();
    let output = run(&format!("{label}_hang.pkt"), &script, &[so(library)]);
    assert!(output.status.success(), "{}", stderr(&output));
    let without_hang: String = script
        .lines()
        .filter(|l| !l.contains("curl"))
        .map(|l| format!("{l}\n"))
        .collect();
    let output = run(
        &format!("{label}_no_hang.pkt"),
        &without_hang,
        &[so(library)],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains(&format!("actual packet:  {ack_without_hang}")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn polling_hang_holds_packets_until_it_ends() {
    // Without the hang smoltcp ACKs the first segment at 0.24 s (its delayed ACK).
    assert_polling_hang_holds_packets("smoltcp", &smoltcp_adapter(), "0.240000 . 1:1(0) ack 1001");
}

#[test]
fn polling_hang_holds_packets_on_gvisor_too() {
    let Some(library) = gvisor_adapter() else {
        return;
    };
    // Without the hang gVisor ACKs the first segment as it arrives.
    assert_polling_hang_holds_packets("gvisor", &library, "0.200000 . 1:1(0) ack 1001");
}

#[test]
fn polling_hang_holds_packets_on_lwip_too() {
    // Without the hang lwIP ACKs the first segment at its next 10 ms timer tick.
    assert_polling_hang_holds_packets(
        "lwip",
        &common::lwip_adapter(),
        "0.210000 . 1:1(0) ack 1001",
    );
}

const OPEN_AND_ASK: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";

#[test]
fn the_kernel_refuses_a_polling_hang_with_a_reason() {
    let script = format!(
        "{OPEN_AND_ASK}+0 `curl -s -w ' %{{http_code}}' 'http://127.0.0.1:8899/pollinghang?time=5'`\n"
    );
    let output = run("kernel_hang.pkt", &script, &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "/pollinghang stops a userspace stack's polling; the kernel target is not polled\n 400"
    );
}

#[test]
fn a_library_without_a_socket_table_answers_501_naming_the_symbol() {
    // The deliberately broken adapter of tests/userspace_broken.rs exports no stackdrill_sockets.
    let library = common::build_broken_library("libbroken_for_introspect.so");
    let script =
        format!("{OPEN_AND_ASK}+0 `curl -s -w ' %{{http_code}}' http://127.0.0.1:8899/netstat`\n");
    let output = run("no_table.pkt", &script, &[so(&library)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "this stack does not export stackdrill_sockets, so it cannot list its sockets\n 501"
    );
}

#[test]
fn the_port_can_be_moved_or_the_server_turned_off() {
    let moved = format!("{OPEN_AND_ASK}+0 `curl -sf http://127.0.0.1:9123/netstat >/dev/null`\n");
    let output = run("moved.pkt", &moved, &["--http_port=9123".to_string()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let off = format!("{OPEN_AND_ASK}+0 `! curl -s http://127.0.0.1:8899/netstat`\n");
    let output = run("off.pkt", &off, &["--no_http".to_string()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = run("off_bad.pkt", OPEN_AND_ASK, &["--http_port=0".to_string()]);
    assert_eq!(output.status.code(), Some(1));
}

/// Listening TCP ports (hex) of the test process's network namespace, from /proc/net/tcp*.
fn listening_ports() -> Vec<String> {
    let mut ports = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .skip(1)
        {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDR:PORT; state 0A is LISTEN.
            if fields.len() > 3 && fields[3] == "0A" {
                ports.push(fields[1].rsplit(':').next().unwrap_or("").to_string());
            }
        }
    }
    ports
}

#[test]
fn the_server_listens_only_inside_the_runs_namespace() {
    let port_hex = format!("{:04X}", 8899);
    assert!(
        !listening_ports().contains(&port_hex),
        "something already listens on 8899 here"
    );
    // A run that proves its server answers, then stays alive for a second.
    let script = format!(
        "{OPEN_AND_ASK}+0 `curl -sf http://127.0.0.1:8899/netstat >/dev/null`\n+1 close(3) = 0\n"
    );
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("introspect");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("alive.pkt"), script).unwrap();
    let child = Command::new(BIN)
        .current_dir(&dir)
        .arg("alive.pkt")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let during = listening_ports();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        !during.contains(&port_hex),
        "port 8899 listened in the root namespace during a run: {during:?}"
    );
}
