//! What several integration tests share: whether kernel runs are possible here, the smoltcp
//! adapter they load, the deliberately broken C adapter (tests/solib/broken_stack.c) they
//! build, and what a run could leave behind on the machine.

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

/// Compiles tests/solib/broken_stack.c against stacks/include/packetdrill.h (warnings are
/// errors) into `file_name` in the tests' scratch directory, and returns its path. Each test
/// binary passes its own name, so binaries running side by side never share the file.
pub fn build_broken_library(file_name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(file_name);
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&compiler)
        .args(["-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I"])
        .arg(root.join("stacks/include"))
        .arg("-o")
        .arg(&out)
        .arg(root.join("tests/solib/broken_stack.c"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {compiler}: {e}"));
    assert!(status.success(), "compiling broken_stack.c failed");
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

/// Runs stackdrill with `args` from the repository's root and waits for it.
pub fn stackdrill(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .output()
        .expect("run stackdrill")
}

/// What a run could leave behind in the root namespace: its interfaces, addresses and routes,
/// the named network namespaces, and DPDK's runtime files.
pub fn root_state() -> String {
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dpdk_files = std::fs::read_dir("/var/run/dpdk")
        .map(|dir| dir.count())
        .unwrap_or(0);
    format!(
        "{}{}{}{}dpdk files: {dpdk_files}",
        ip(&["-o", "link"]),
        ip(&["-o", "addr"]),
        ip(&["route"]),
        ip(&["netns", "list"]),
    )
}

/// stackdrill's files in /tmp (a run in suite mode has its scratch directory there while it
/// runs), sorted.
pub fn stackdrill_tmp_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/tmp")
        .map(|dir| {
            dir.filter_map(|entry| entry.ok())
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("stackdrill"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
