//! What several integration tests share: whether kernel runs are possible here, the smoltcp
//! lwIP and gVisor adapters they load, the C libraries of tests/solib they build (the
//! deliberately broken adapter, the upstream-only shim), what a run could leave behind on the
//! machine, and a script every wire must carry.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The adapter as `cargo build -p stackdrill-smoltcp` leaves it beside the test binaries.
pub fn smoltcp_adapter() -> PathBuf {
    // CARGO_TARGET_TMPDIR is TARGET/tmp; the debug build's artefacts are in TARGET/debug.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let library = target.join("debug/libstackdrill_smoltcp.so");
    assert!(
        library.exists(),
        "{} is missing: run `cargo build -p stackdrill-smoltcp` first (scripts/test.sh does)",
        library.display()
    );
    library
}

/// Runs `make -s -C stacks/lwip [target]` (the lwIP adapter's one build command; `check` also
/// runs its upstream-mode driver) and asserts it succeeded. Calls are serialised: tests running
/// side by side must not compile the same files at once.
pub fn lwip_make(target: Option<&str>) {
    static ONE_MAKE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_MAKE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/lwip");
    let output = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&folder)
        .args(target)
        .output()
        .unwrap_or_else(|e| panic!("cannot run make for stacks/lwip: {e}"));
    assert!(
        output.status.success(),
        "make -C stacks/lwip {} failed:\n{}{}",
        target.unwrap_or_default(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The lwIP adapter, built with its one command (`make -C stacks/lwip`, incremental: a no-op
/// when it is up to date), as stacks/lwip/build/libstackdrill_lwip.so.
pub fn lwip_adapter() -> PathBuf {
    lwip_make(None);
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stacks/lwip/build/libstackdrill_lwip.so")
}

/// Where the Go toolchain of Debian's golang-1.19-go is; stacks/gvisor builds with it.
const GO_1_19: &str = "/usr/lib/go-1.19/bin/go";

/// The gVisor adapter, built (incrementally) with its one command, `make -C stacks/gvisor`, or
/// None after saying on stderr why not, when Go or gVisor's sources are not installed
/// (scripts/install-system-deps.sh installs them, so CI always has them).
pub fn gvisor_adapter() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gvisor_sources = Path::new("/usr/share/gocode/src/gvisor.dev/gvisor/pkg/tcpip");
    if !Path::new(GO_1_19).exists() || !gvisor_sources.exists() {
        eprintln!(
            "SKIPPED: the gVisor adapter needs golang-1.19-go and golang-gvisor-gvisor-dev \
             (scripts/install-system-deps.sh installs them)"
        );
        return None;
    }
    // Test binaries run side by side: one make at a time in this process is enough, and make
    // does nothing when the library is up to date.
    static BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let output = Command::new("make")
        .arg("-C")
        .arg(root.join("stacks/gvisor"))
        .output()
        .expect("run make");
    assert!(
        output.status.success(),
        "make -C stacks/gvisor failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some(root.join("stacks/gvisor/build/libstackdrill_gvisor.so"))
}

/// Compiles tests/solib/broken_stack.c against stacks/include/packetdrill.h (warnings are
/// errors) into `file_name` in the tests' scratch directory, and returns its path. Each test
/// binary passes its own name, so binaries running side by side never share the file.
pub fn build_broken_library(file_name: &str) -> PathBuf {
    build_c_library("broken_stack.c", file_name)
}

/// Compiles `tests/solib/SOURCE` the same way into `file_name` and returns its path.
pub fn build_c_library(source: &str, file_name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file_name);
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(root.join("stacks/include"))
        .arg("-o")
        .arg(&out)
        .arg(root.join("tests/solib").join(source))
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {compiler}: {e}"));
    assert!(status.success(), "compiling {source} failed");
    out
}

/// Whether this process may create tun devices (kernel runs need root); when not, says so on
/// stderr, naming what is skipped, and the caller's test passes without running anything.
pub fn tun_usable(skipped: &str) -> bool {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED: cannot open /dev/net/tun ({e}); {skipped} need root");
            false
        }
    }
}

/// stackdrill with `args`, to run from the repository's root.
pub fn stackdrill_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackdrill"));
    command
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    command
}

/// Runs stackdrill with `args` from the repository's root and waits for it.
pub fn stackdrill(args: &[&str]) -> std::process::Output {
    stackdrill_command(args).output().expect("run stackdrill")
}

/// What a run could leave behind in the root namespace: its interfaces, addresses and routes,
/// and DPDK's runtime files.
pub fn root_state() -> String {
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dpdk_files = std::fs::read_dir("/var/run/dpdk")
        .map(|dir| dir.count())
        .unwrap_or(0);
    format!(
        "{}{}{}dpdk files: {dpdk_files}",
        ip(&["-o", "link"]),
        ip(&["-o", "addr"]),
        ip(&["route"])
    )
}

/// A passive open, then one 9000-byte segment on a 1500-byte link, which the kernel takes (and
/// acknowledges) as one, as from a tun device: every wire must deliver it whole.
pub const BIG_SEGMENT_SCRIPT: &str = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
     +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
     +0 bind(3, ..., ...) = 0\n\
     +0 listen(3, 1) = 0\n\
     +0 < S 0:0(0) win 65535 <mss 1460>\n\
     +0 > S. 0:0(0) ack 1 <mss 1460>\n\
     +0 < . 1:1(0) ack 1 win 65535\n\
     +0 accept(3, ..., ...) = 4\n\
     +0 < . 1:9001(9000) ack 1 win 65535\n\
     +0 > . 1:1(0) ack 9001\n\
     +0 read(4, ..., 10000) = 9000\n";

/// Writes [`BIG_SEGMENT_SCRIPT`] to a file of its own named after `label`; the caller removes
/// it.
pub fn big_segment_script(label: &str) -> PathBuf {
    let path =
        std::env::temp_dir().join(format!("stackdrill-{label}-big-{}.pkt", std::process::id()));
    std::fs::write(&path, BIG_SEGMENT_SCRIPT).expect("write the script");
    path
}

/// A SYN-ACK the kernel sends at once, which the script expects 0.5 s later, after a pause
/// before an inbound packet: a wire that only reads what the stack sent when the next event
/// comes would stamp it late and pass.
const EARLY_PACKET_SCRIPT: &str = "--ip_version=ipv4\n\
     0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
     +0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n\
     +0 bind(3, ..., ...) = 0\n\
     +0 listen(3, 1) = 0\n\
     +0 < S 0:0(0) win 65535 <mss 1460>\n\
     +0.5 < . 1:1(0) ack 1 win 65535\n\
     +0 > S. 0:0(0) ack 1 <mss 1460>\n";

/// Runs [`EARLY_PACKET_SCRIPT`] over `netdev` and checks that the SYN-ACK is reported at the
/// time it left (within 0.1 s of the SYN), not when the script looked.
pub fn early_packet_is_reported_when_it_left(netdev: &str) {
    let path = std::env::temp_dir().join(format!(
        "stackdrill-{netdev}-early-{}.pkt",
        std::process::id()
    ));
    std::fs::write(&path, EARLY_PACKET_SCRIPT).expect("write the script");
    let out = stackdrill(&[&format!("--netdev={netdev}"), path.to_str().unwrap()]);
    std::fs::remove_file(&path).expect("remove the script");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or("");
    assert!(
        first.contains(":8: error handling packet: timing error: expected outbound packet at 0.5")
            && first.contains("but happened at 0.0"),
        "{stderr}"
    );
}

/// stdout and stderr of a run, together.
pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a suite with `run` and asserts that every script passed and that the root namespace
/// (and DPDK's runtime files) are as before; returns the suite's output.
pub fn suite_passes_cleanly(what: &str, run: impl FnOnce() -> std::process::Output) -> String {
    let before = root_state();
    let out = run();
    let text = output_text(&out);
    assert!(out.status.success(), "{what} failed:\n{text}");
    assert!(text.contains(" passing, 0 failing"), "{what}:\n{text}");
    assert_eq!(root_state(), before, "{what} left something behind");
    text
}
