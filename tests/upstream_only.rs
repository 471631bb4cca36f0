//! An adapter as written for upstream packetdrill, in stackdrill: the smoltcp adapter behind
//! tests/solib/upstream_only.c, which exports nothing but `packetdrill_interface_init`, so
//! stackdrill finds none of its extensions and the adapter runs on upstream's terms (its
//! default network at 192.168.0.2, real time; stacks/README.md "Under upstream packetdrill").
//! The check against upstream packetdrill itself is manual (scripts/check-upstream-interop.sh).

use std::time::{Duration, Instant};

mod common;

#[test]
fn an_upstream_only_table_runs_the_interop_script_on_real_time() {
    let shim = common::build_c_library("upstream_only.c", "libupstream_only.so");
    let adapter = common::smoltcp_adapter();
    let started = Instant::now();
    let output = common::stackdrill_command(&[
        &format!("--so_filename={}", shim.display()),
        "--local_ip=192.168.0.2",
        // Real time on a loaded 2-core machine: what is checked here is that the packets and
        // calls are right, not the scheduler's punctuality.
        "--tolerance_usecs=100000",
        "tests/portable/handshake_data_close.pkt",
    ])
    .env("STACKDRILL_REAL_ADAPTER", &adapter)
    .output()
    .expect("run stackdrill");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");
    // The script spans 0.34 s of script time: in virtual time (extensions found) it would take
    // milliseconds.
    assert!(
        elapsed >= Duration::from_millis(300),
        "ran in {elapsed:?}: not on real time"
    );
}
