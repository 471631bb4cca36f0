//! How stackdrill's own threads are scheduled, so that packets and calls happen on time: real
//! time priority and locked memory for the threads that keep the script's time (this file), and
//! which CPU a run uses (`cpu.rs`). Best effort: without the privilege a run goes on unchanged.

pub mod cpu;

/// Like packetdrill: real-time round-robin scheduling (lowest priority) when there is more than
/// one CPU, so busy ordinary processes cannot delay injections; memory locked so page faults
/// cannot either ([`lock_memory`]).
pub fn prefer_realtime_scheduling() {
    lock_memory();
    realtime_for_this_thread();
}

/// Locks the process's memory as pages are first touched (MCL_ONFAULT, which nix does not
/// offer): locking everything up front faults in all of libpython, ~7 ms of kernel time per
/// run that parallel runs pay for. Even so it walks every mapping (~0.7 ms of CPU a run), which
/// a run on a virtual clock, where no page fault can make an event late, skips.
pub fn lock_memory() {
    // SAFETY: mlockall takes only flags and changes no memory.
    unsafe {
        libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT);
    }
}

/// Real-time round-robin for the calling thread only, and not for anything it starts: the
/// scripts' shell commands (sysctl, tc, python...) run at normal priority, because at real-time
/// priority one of them busy for 50 ms would hold a CPU away from every parallel run's
/// injections (measured: inbound packets 5-8 ms late with 8 runs on 2 cores). Threads and
/// processes created later start as normal ones (SCHED_RESET_ON_FORK); the kernel's call thread
/// calls this itself.
pub fn realtime_for_this_thread() {
    // CPUs online, not the ones this thread may use: a run pinned to one CPU still wants its
    // threads at real-time priority there.
    let online = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN);
    if online.ok().flatten().unwrap_or(1) < 2 {
        return;
    }
    // SAFETY: sched_get_priority_min takes a policy number; sched_setscheduler reads the
    // sched_param we own, for the calling thread (0). Neither nix nor rustix wraps them.
    unsafe {
        let param = libc::sched_param {
            sched_priority: libc::sched_get_priority_min(libc::SCHED_RR),
        };
        libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param);
    }
}
