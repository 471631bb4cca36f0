//! Shared by dpdk-sys's integration tests: the EAL arguments and the once-per-binary EAL
//! initialisation every test calls first, and process-unique device/pool names (the tests of
//! one binary run in parallel threads and share one EAL).
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::sync::atomic::{AtomicU32, Ordering};

/// EAL arguments that work on this machine kind: the main lcore may run on any CPU the test
/// process may use.
pub fn eal_args() -> Vec<String> {
    dpdk_sys::plain_eal_args(&allowed_cpus())
}

/// Initialises EAL with [`eal_args`] (once per process; later calls are cheap).
pub fn eal() {
    dpdk_sys::eal_init(&eal_args()).expect("EAL initialisation");
}

/// `prefix` followed by a number no other call in this process got.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).expect("affinity");
    (0..nix::sched::CpuSet::count())
        .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
        .collect()
}
