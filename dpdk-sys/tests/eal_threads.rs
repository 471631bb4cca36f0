//! What `eal_init` does to the process's threads: the calling thread keeps its CPU affinity
//! (EAL pins it to the main lcore; `eal_init` undoes that), and EAL's own threads are listed
//! for the record.

mod common;

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

fn thread_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn eal_init_leaves_the_calling_threads_affinity_alone() {
    let cpus = common::allowed_cpus();
    // Run on the last allowed CPU only, and ask EAL to put the main lcore on the first: with
    // two or more CPUs EAL's pinning would show.
    let mut mine = CpuSet::new();
    mine.set(*cpus.last().expect("a CPU")).expect("cpu");
    sched_setaffinity(Pid::from_raw(0), &mine).expect("set affinity");
    let before_threads = thread_names();

    let mut args = common::eal_args();
    args.retain(|arg| !arg.starts_with("--lcores"));
    args.push(format!("--lcores=0@{}", cpus[0]));
    dpdk_sys::eal_init(&args).expect("EAL");

    let after = sched_getaffinity(Pid::from_raw(0)).expect("get affinity");
    assert_eq!(
        after, mine,
        "eal_init changed the calling thread's affinity"
    );
    eprintln!("threads before eal_init: {before_threads:?}");
    eprintln!("threads after eal_init:  {:?}", thread_names());
}
