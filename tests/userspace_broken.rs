//! Defensive loading of userspace stacks: runs scripts against a deliberately broken shared
//! object (tests/solib/broken_stack.c, built here with the system C compiler against
//! stacks/include/packetdrill.h) and checks that each misbehaviour fails its script line with
//! a message that names it, quickly, and never hangs or crashes stackdrill. Misbehaviours that
//! take the whole process down (a crash, an abort, exit(), a deadlock, a spin, leaked
//! descriptors, a buffer overrun, an init that never returns) run as suites of two scripts: the
//! first fails with its reason, and the suite goes on to the second.

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
fn a_write_past_the_end_of_a_buffer_fails_the_line() {
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 read(3, ..., 100) = 100\n";
    let r = run("overrun.pkt", "overruns", script);
    assert_fails(
        &r,
        "overrun.pkt:2: runtime error in read call: the stack wrote past the end of the \
         100-byte buffer read() was given",
        QUICK,
    );
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n";
    let r = run("overrun_optval.pkt", "overruns", script);
    assert_fails(
        &r,
        "overrun_optval.pkt:2: runtime error in getsockopt call: the stack wrote past the end \
         of the 4-byte option value getsockopt() was given",
        QUICK,
    );
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 readv(3, [{..., 10}, {..., 20}], 2) = 20\n";
    let r = run("overrun_iovec.pkt", "overruns", script);
    assert_fails(
        &r,
        "overrun_iovec.pkt:2: runtime error in readv call: the stack wrote past the end of the \
         20-byte iov[1] buffer readv() was given",
        QUICK,
    );
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, \
                  msg_control=[]}, 0) = 0\n";
    let r = run("overrun_control.pkt", "overruns", script);
    assert_fails(
        &r,
        "overrun_control.pkt:2: runtime error in recvmsg call: the stack wrote past the end of \
         the 0-byte control buffer recvmsg() was given",
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

/// One run of a suite: its script, status and message, as the JSON report has them.
#[derive(Debug, PartialEq, Eq)]
struct SuiteRun {
    script: String,
    status: String,
    message: String,
}

/// A script that only opens and closes a socket: it passes on the broken library whatever its
/// flags, unless they break socket() or the library's start.
const HARMLESS: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 close(3) = 0\n";

/// Runs a suite of two scripts against the broken library with `flags` (`first` as
/// 1_broken.pkt, then [`HARMLESS`] as 2_next.pkt), in the tests' scratch directory under
/// `test`; returns each run as the JSON report has it, in order, after checking the suite
/// took less than `limit` and failed (exit status 1: every caller's first script fails).
fn suite(test: &str, flags: &str, first: &str, limit: Duration) -> Vec<SuiteRun> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("userspace_broken_suites");
    let dir = root.join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("1_broken.pkt"), first).unwrap();
    std::fs::write(dir.join("2_next.pkt"), HARMLESS).unwrap();
    let json = root.join(format!("{test}.json"));
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .arg(format!("--so_filename={}", broken_library().display()))
        .arg(format!("--so_flags={flags}"))
        .args(["--jobs=2", "--timeout_secs=60"])
        .arg(format!("--json={}", json.display()))
        .arg(&dir)
        .output()
        .expect("run stackdrill");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        elapsed < limit,
        "took {elapsed:?}, more than {limit:?}: {stderr}"
    );
    let report = std::fs::read_to_string(&json).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    let text = |run: &serde_json::Value, key: &str| run[key].as_str().unwrap_or("").to_string();
    let runs = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| SuiteRun {
            script: text(run, "script"),
            status: text(run, "status"),
            message: text(run, "message"),
        })
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_file(&json).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    runs
}

fn suite_run(script: &str, status: &str, message: &str) -> SuiteRun {
    SuiteRun {
        script: script.into(),
        status: status.into(),
        message: message.into(),
    }
}

/// The suite's first script failed with `status` and exactly `message`, and the suite went on
/// to the second, which passed.
fn assert_first_fails_and_suite_goes_on(runs: &[SuiteRun], status: &str, message: &str) {
    let expected = [
        suite_run("1_broken.pkt", status, message),
        suite_run("2_next.pkt", "passed", ""),
    ];
    assert_eq!(runs, expected);
}

/// Both scripts of the suite ran and failed with `reason` (after the script's name).
fn assert_every_script_fails(runs: &[SuiteRun], reason: &str) {
    let failed = |script: &str| suite_run(script, "failed", &format!("{script}: {reason}"));
    assert_eq!(runs, [failed("1_broken.pkt"), failed("2_next.pkt")]);
}

fn suites_usable() -> bool {
    common::tun_usable("suite runs of the broken library")
}

/// The time a suite of two scripts against a stack that fails at once may take.
const SUITE_QUICK: Duration = Duration::from_secs(15);

#[test]
fn a_stack_that_segfaults_or_aborts_is_that_scripts_crash() {
    if !suites_usable() {
        return;
    }
    for (flags, signal) in [("segfault", "11 (SIGSEGV)"), ("aborts", "6 (SIGABRT)")] {
        let runs = suite(flags, flags, LISTEN, SUITE_QUICK);
        let message = format!("stackdrill was killed by signal {signal}");
        assert_first_fails_and_suite_goes_on(&runs, "crashed", &message);
    }
}

#[test]
fn a_stack_that_exits_fails_its_script_even_with_status_0() {
    if !suites_usable() {
        return;
    }
    let runs = suite("exits", "exits", LISTEN, SUITE_QUICK);
    let message = "1_broken.pkt: the stack under test called exit() in the middle of the run";
    assert_first_fails_and_suite_goes_on(&runs, "failed", message);
    // _exit(0) skips exit handlers: the run ends with status 0 but without a verdict.
    let runs = suite("exits_at_once", "exits_at_once", LISTEN, SUITE_QUICK);
    let message = "stackdrill exited with status 0 without a verdict";
    assert_first_fails_and_suite_goes_on(&runs, "crashed", message);
    // Alone, the exit is the run's failure too.
    let r = run("exits.pkt", "exits", LISTEN);
    assert_fails(
        &r,
        "exits.pkt: the stack under test called exit() in the middle of the run",
        QUICK,
    );
}

#[test]
fn a_stack_thread_stuck_in_the_stack_is_named_not_waited_for() {
    if !suites_usable() {
        return;
    }
    // listen() returns holding the stack's lock: the stack thread's next entry never returns.
    let runs = suite("deadlock", "deadlock", LISTEN, Duration::from_secs(30));
    let message = "1_broken.pkt:3: the stack's gettimeofday has not returned for 10 s: it spins \
                   or is deadlocked";
    assert_first_fails_and_suite_goes_on(&runs, "failed", message);
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
                  +0 connect(3, ..., ...) = -1 EINPROGRESS\n\
                  +0 > S 0:0(0) <...>\n";
    let runs = suite(
        "spin_receive",
        "spin_receive",
        script,
        Duration::from_secs(30),
    );
    let message = "1_broken.pkt:3: error handling packet: error reading packet: the stack's \
                   netdev_receive has not returned for 10 s: it spins or is deadlocked";
    assert_first_fails_and_suite_goes_on(&runs, "failed", message);
    // A code block's snapshot of the socket calls getsockopt on the stack thread.
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 %{ print(tcpi_state) }%\n";
    let runs = suite(
        "spin_getsockopt",
        "spin_getsockopt",
        script,
        Duration::from_secs(30),
    );
    let message = "1_broken.pkt:2: runtime error in code: the stack's getsockopt for a %{ }% \
                   snapshot has not returned for 10 s: it spins or is deadlocked";
    assert_first_fails_and_suite_goes_on(&runs, "failed", message);
}

#[test]
fn a_stack_whose_init_never_returns_fails_every_script_in_time() {
    if !suites_usable() {
        return;
    }
    let runs = suite(
        "never_inits",
        "never_inits",
        LISTEN,
        Duration::from_secs(45),
    );
    assert_every_script_fails(
        &runs,
        "the stack's packetdrill_interface_init has not returned for 20 s: it spins or is \
         deadlocked",
    );
}

#[test]
fn a_stack_that_leaks_every_fd_or_overruns_a_buffer_fails_only_its_script() {
    if !suites_usable() {
        return;
    }
    // socket() leaks: the run has passed otherwise, but it must not.
    let runs = suite("leak_fds", "leak_fds", LISTEN, SUITE_QUICK);
    let reason = format!(
        "the stack under test has used up every file descriptor (the limit is {}): it leaks them",
        descriptor_limit()
    );
    assert_every_script_fails(&runs, &reason);
    let script = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 read(3, ..., 100) = 100\n";
    let runs = suite("overflow", "overflow", script, SUITE_QUICK);
    assert_first_fails_and_suite_goes_on(
        &runs,
        "crashed",
        "stackdrill was killed by signal 11 (SIGSEGV)",
    );
}

/// The soft RLIMIT_NOFILE runs inherit from this test.
fn descriptor_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct it is given.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    assert_eq!(status, 0);
    limit.rlim_cur
}
