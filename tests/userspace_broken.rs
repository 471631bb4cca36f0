//! Defensive loading of userspace stacks: runs scripts against a deliberately broken shared
//! object (tests/solib/broken_stack.c, built here with the system C compiler against
//! stacks/include/packetdrill.h) and checks that each misbehaviour fails its script line with
//! a message that names it, quickly, and never hangs or crashes stackdrill.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

/// The broken library, compiled once per test binary.
fn broken_library() -> &'static Path {
    static LIBRARY: OnceLock<PathBuf> = OnceLock::new();
    LIBRARY.get_or_init(|| common::build_broken_library("libbroken_stack.so"))
}

struct Run {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

/// Runs stackdrill with `args` in the tests' script directory, after writing `script` there
/// as `name`.
fn run_with(name: &str, script: &str, args: &[String]) -> Run {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("userspace_broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), script).unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .current_dir(&dir)
        .args(args)
        .arg(name)
        .output()
        .expect("run stackdrill");
    Run {
        code: output.status.code(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}

/// Runs `script` (written to a file named `name`) against the broken library with `flags`.
fn run(name: &str, flags: &str, script: &str) -> Run {
    let library = format!("--so_filename={}", broken_library().display());
    run_with(name, script, &[library, format!("--so_flags={flags}")])
}

/// The run failed (exit 1) with exactly `message` as its first line, within `limit`.
fn assert_fails(run: &Run, message: &str, limit: Duration) {
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(run.stderr.lines().next().unwrap_or(""), message);
    assert!(
        run.elapsed < limit,
        "took {:?}, more than {limit:?}",
        run.elapsed
    );
}

const QUICK: Duration = Duration::from_secs(5);

const LISTEN: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                      +0 bind(3, ..., ...) = 0\n\
                      +0 listen(3, 1) = 0\n";

#[test]
fn a_null_entry_fails_the_line_that_needs_it() {
    let r = run("null.pkt", "null_entries", LISTEN);
    assert_fails(
        &r,
        "null.pkt:2: runtime error in bind call: this stack does not implement bind",
        QUICK,
    );
}

#[test]
fn a_silent_netdev_times_out_on_the_stack_clock_without_waiting() {
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 connect(3, ..., ...) = -1 EINPROGRESS\n\
                  +0 > S 0:0(0) <...>\n";
    let r = run("silent.pkt", "", script);
    assert_fails(
        &r,
        "silent.pkt:3: error handling packet: Timed out waiting for packet",
        // The 2 s sniff timeout passes on the library's virtual clock.
        Duration::from_secs(1),
    );
}

#[test]
fn a_call_that_never_returns_is_failed_not_waited_for() {
    let script = format!("{LISTEN}+0 accept(3, ..., ...) = 4\n");
    let r = run("never.pkt", "never_returns", &script);
    assert_fails(
        &r,
        "never.pkt:4: runtime error in accept call: the accept call blocked, and nothing the \
         stack has scheduled can end it (if the script expects it to block, mark it with `...`)",
        QUICK,
    );
    // Marked as blocking, it may sleep, but the run cannot end while it does.
    let script = format!("{LISTEN}+0...0.5 accept(3, ..., ...) = 4\n");
    let r = run("never_blocking.pkt", "never_returns", &script);
    assert_fails(
        &r,
        "never_blocking.pkt:4: exiting while a blocking system call is in progress",
        QUICK,
    );
}

#[test]
fn a_call_that_spins_is_failed_after_its_deadline() {
    let script = format!("{LISTEN}+0...0.5 accept(3, ..., ...) = 4\n");
    let r = run("spins.pkt", "spins", &script);
    assert_fails(
        &r,
        "spins.pkt:4: runtime error in accept call: the accept call neither returned nor slept \
         within 10 s (a blocking call must sleep, not spin)",
        Duration::from_secs(20),
    );
}

#[test]
fn impossible_lengths_are_caught_before_use() {
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 read(3, ..., 100) = 100\n";
    let r = run("read.pkt", "bogus_lengths", script);
    assert_fails(
        &r,
        "read.pkt:2: runtime error in read call: the stack returned 1001 from read() for a \
         100-byte buffer",
        QUICK,
    );
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n";
    let r = run("optlen.pkt", "bogus_lengths", script);
    assert_fails(
        &r,
        "optlen.pkt:2: runtime error in getsockopt call: the stack returned option length 104 \
         from getsockopt() for a 4-byte buffer",
        QUICK,
    );
    let script = format!("{LISTEN}+0 accept(3, ..., ...) = 4\n");
    let r = run("address.pkt", "bogus_address", &script);
    assert_fails(
        &r,
        "address.pkt:4: runtime error in accept call: the stack returned address length 4096 \
         from accept() for a 128-byte buffer",
        QUICK,
    );
}

#[test]
fn an_oversized_packet_fails_the_packet_event() {
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 connect(3, ..., ...) = -1 EINPROGRESS\n\
                  +0 > S 0:0(0) <...>\n";
    let r = run("big.pkt", "big_packet", script);
    assert_fails(
        &r,
        "big.pkt:3: error handling packet: error reading packet: the stack's netdev_receive \
         reported a 131072-byte packet for a 65536-byte buffer",
        QUICK,
    );
}

#[test]
fn a_clock_that_never_advances_is_named() {
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+2 close(3) = 0\n";
    let r = run("frozen.pkt", "frozen_clock", script);
    assert_fails(
        &r,
        "frozen.pkt:2: the stack's clock does not advance: 1000 calls of usleep(2000000) left \
         gettimeofday at 1000000000000000 µs",
        QUICK,
    );
    // The same script on a working clock passes, in virtual time.
    let r = run("sleeps.pkt", "", script);
    assert_eq!(r.code, Some(0), "stderr: {}", r.stderr);
    assert!(r.elapsed < Duration::from_secs(1), "took {:?}", r.elapsed);
}

#[test]
fn a_refused_network_stops_the_run_before_the_first_event() {
    let r = run("refused.pkt", "refuse_network", LISTEN);
    assert_fails(
        &r,
        "refused.pkt: so:libbroken_stack.so: stackdrill_network_setup refused the test network \
         (returned -1)",
        QUICK,
    );
}

#[test]
fn a_missing_library_or_init_symbol_is_a_clear_error() {
    let missing = ["--so_filename=/nonexistent/libnothing.so".to_string()];
    let r = run_with("any.pkt", LISTEN, &missing);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("any.pkt: error: cannot load --so_filename=/nonexistent/libnothing.so: "),
        "{}",
        r.stderr
    );
    // A library without packetdrill_interface_init: libc itself.
    let r = run_with("any.pkt", LISTEN, &["--so_filename=libc.so.6".to_string()]);
    assert_fails(
        &r,
        "any.pkt: libc.so.6 does not export packetdrill_interface_init",
        QUICK,
    );
}

#[test]
fn userspace_stack_without_a_library_is_refused() {
    let r = run_with("any.pkt", LISTEN, &["--userspace_stack".to_string()]);
    assert_fails(
        &r,
        "any.pkt: error: bad command line: --userspace_stack needs --so_filename=PATH (the stack to test)",
        QUICK,
    );
}
