//! EAL initialisation, at most once per process ([`eal_init`]), and the check every other entry
//! point makes that it succeeded.

use std::ffi::{c_char, c_int, CString};
use std::sync::OnceLock;

use crate::{ffi, DpdkError};

/// The first `eal_init`'s result, shared by every later call.
static EAL: OnceLock<Result<(), DpdkError>> = OnceLock::new();

/// Initialises DPDK's EAL with `args` (without argv\[0\]; "stackdrill" is put first), at most
/// once per process: later calls return the first call's result (Ok or the same Err), whatever
/// their args. Concurrent first calls wait for the one that runs.
///
/// On this machine kind, `--no-huge -m 256 --no-shconf --no-pci` runs without hugepages or PCI
/// access (`--in-memory` cannot be combined with `--no-huge`).
///
/// `rte_eal_init` pins the calling thread to its main lcore's CPUs (`-l`/`--lcores`); this
/// function puts the calling thread's CPU affinity back as it was, so that a caller who pins
/// its own threads is not surprised. EAL's own control threads (interrupt handling, …) keep
/// the affinity EAL gave them.
pub fn eal_init(args: &[String]) -> Result<(), DpdkError> {
    EAL.get_or_init(|| init_once(args)).clone()
}

/// Ok when [`eal_init`] has succeeded; otherwise an Err naming `call`, which cannot run yet.
pub(crate) fn ready(call: &'static str) -> Result<(), DpdkError> {
    match EAL.get() {
        Some(Ok(())) => Ok(()),
        Some(Err(error)) => Err(DpdkError::new(
            call,
            format!("EAL initialisation failed earlier ({error})"),
        )),
        None => Err(DpdkError::new(
            call,
            "EAL is not initialised: call dpdk_sys::eal_init first",
        )),
    }
}

fn init_once(args: &[String]) -> Result<(), DpdkError> {
    let mut owned = Vec::with_capacity(args.len() + 1);
    for arg in std::iter::once("stackdrill").chain(args.iter().map(String::as_str)) {
        let arg = CString::new(arg).map_err(|_| {
            DpdkError::new(
                "rte_eal_init",
                format!("argument {arg:?} contains a NUL byte"),
            )
        })?;
        owned.push(arg);
    }
    // EAL reorders argv and may keep pointers into it: the strings and the array live for the
    // rest of the process (once per process, a few bytes).
    let owned: &'static mut [CString] = owned.leak();
    let argv: &'static mut [*mut c_char] = owned
        .iter_mut()
        .map(|arg| arg.as_ptr().cast_mut())
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect::<Vec<_>>()
        .leak();
    let argc = c_int::try_from(argv.len() - 1)
        .map_err(|_| DpdkError::new("rte_eal_init", "too many arguments"))?;

    let affinity = current_affinity();
    // SAFETY: argv holds argc valid NUL-terminated strings and a terminating null pointer, all
    // leaked above so they outlive EAL; the OnceLock makes this the process's only call.
    let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
    if let Some(set) = affinity {
        restore_affinity(&set);
    }
    if ret < 0 {
        return Err(DpdkError::errno(
            "rte_eal_init",
            &format!("EAL arguments {args:?} (DPDK's log above says which one it refused)"),
        ));
    }
    Ok(())
}

/// The calling thread's CPU affinity, or None if it cannot be read.
fn current_affinity() -> Option<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain old data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 means the calling thread; `set` is a valid, writable cpu_set_t of the size
    // passed.
    let ret = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    (ret == 0).then_some(set)
}

fn restore_affinity(set: &libc::cpu_set_t) {
    // SAFETY: pid 0 means the calling thread; `set` is a valid cpu_set_t of the size passed.
    let ret = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(set), set) };
    if ret != 0 {
        eprintln!(
            "dpdk-sys: could not restore the CPU affinity rte_eal_init changed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// EAL arguments that need no hugepages, PCI scan, shared configuration files or telemetry
/// socket (verified on Debian 12's DPDK 22.11 without hugepages): the main lcore allowed on
/// `cpus` (EAL would otherwise pin the calling thread to one CPU), only errors logged.
pub fn plain_eal_args(cpus: &[usize]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        "256",
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
        "--log-level=error",
    ]
    .map(str::to_owned)
    .to_vec();
    if !cpus.is_empty() {
        let cpus: Vec<String> = cpus.iter().map(usize::to_string).collect();
        args.push(format!("--lcores=0@({})", cpus.join(",")));
    }
    args
}
