//! `--pin_cpu`: where a run's threads, and the commands they start, may run. By default the
//! scheduler decides; `start` keeps a kernel run (not a userspace stack's) on the CPU it starts
//! on, N on CPU N. The scripts check the affinity their own shell commands inherit
//! (`Cpus_allowed_list` of /proc/self/status).
//!
//! Needs root (tun devices, namespaces): without /dev/net/tun access the tests print why and
//! pass without running anything.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A script whose only event is a command that succeeds when its CPU list matches `pattern`
/// (an extended regular expression for what follows `Cpus_allowed_list:`).
fn affinity_script(name: &str, pattern: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let text = format!(
        "0 `grep -E '^Cpus_allowed_list:[[:space:]]+{pattern}$' /proc/self/status`\n\
         +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
    );
    std::fs::write(&path, text).expect("write the script");
    path
}

/// Exit code and stderr of one run.
fn run(args: &[&str], script: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .args(args)
        .arg(script)
        .output()
        .expect("run stackdrill");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The CPUs this test may use, from its own /proc/self/status (`0-1`, `0,2-3`...).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    list.split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).collect::<Vec<usize>>(),
            None => vec![part.parse().unwrap()],
        })
        .collect()
}

#[test]
fn a_kernel_run_keeps_to_one_cpu_when_told() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let cpus = allowed_cpus();
    let one_cpu = affinity_script("pin_one_cpu.pkt", "[0-9]+");
    let (code, stderr) = run(&["--pin_cpu=start"], &one_cpu);
    assert_eq!(
        code, 0,
        "--pin_cpu=start did not keep the run on one CPU:\n{stderr}"
    );

    let last = *cpus.last().unwrap();
    let on_last = affinity_script("pin_last_cpu.pkt", &last.to_string());
    let (code, stderr) = run(&[&format!("--pin_cpu={last}")], &on_last);
    assert_eq!(
        code, 0,
        "--pin_cpu={last} did not put the run on CPU {last}:\n{stderr}"
    );

    if cpus.len() < 2 {
        eprintln!("SKIPPED the unpinned part: this test may use one CPU only");
        return;
    }
    for unpinned in [&[][..], &["--pin_cpu=none"][..]] {
        let (code, stderr) = run(unpinned, &one_cpu);
        assert_eq!(code, 1, "{unpinned:?} pinned the run:\n{stderr}");
        assert!(
            stderr.contains("pin_one_cpu.pkt:1: error executing `grep -E"),
            "unexpected failure:\n{stderr}"
        );
    }
}

#[test]
fn a_cpu_the_process_may_not_use_is_refused_before_the_run() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let script = affinity_script("pin_refused.pkt", "[0-9]+");
    let (code, stderr) = run(&["--pin_cpu=1023"], &script);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with(&format!(
            "{}: --pin_cpu=1023: this process may not run on CPU 1023 (it may use ",
            script.display()
        )),
        "unexpected error:\n{stderr}"
    );
}

#[test]
fn start_leaves_a_userspace_stack_run_alone() {
    if allowed_cpus().len() < 2 {
        eprintln!("SKIPPED: this test may use one CPU only");
        return;
    }
    let library = common::smoltcp_adapter();
    let one_cpu = affinity_script("pin_userspace.pkt", "[0-9]+");
    let so_filename = format!("--so_filename={}", library.display());
    let (code, stderr) = run(&[&so_filename, "--pin_cpu=start"], &one_cpu);
    assert_eq!(code, 1, "the userspace run was pinned:\n{stderr}");
    assert!(stderr.contains("error executing `grep -E"), "{stderr}");
}
