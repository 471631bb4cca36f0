//! Every run starts from a known state and leaves nothing behind: its own empty /tmp (what a
//! script writes there never reaches the host's /tmp, nor another run's; the files a run must
//! write to the host, its pcap, still arrive), a suite leaves no scratch folder, `--init_scripts`
//! run inside the run, and the namespace's TCP settings are the kernel's own defaults, not the
//! host's tuning, and are recorded in the reports.

use std::path::{Path, PathBuf};

mod common;

/// A script that lists its /tmp on stderr, writes a file there named after `marker`, and
/// checks that no host file of that name is visible.
fn writing_script(dir: &Path, marker: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("writes_tmp.pkt");
    std::fs::write(
        &script,
        format!(
            "0 `test ! -e /tmp/{marker} && echo run > /tmp/{marker} && ls -A /tmp >&2`\n\
             +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
        ),
    )
    .unwrap();
    script
}

fn host_tmp_entries() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn what_a_script_writes_to_tmp_stays_in_its_run() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let marker = format!("stackdrill-private-tmp-{}", std::process::id());
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("private-tmp");
    let script = writing_script(&dir, &marker);
    let pcaps = dir.join("pcaps");
    let smoltcp = format!("--so_filename={}", common::smoltcp_adapter().display());
    // A host file of the marker's name, which the runs must not see (the script checks).
    let host_marker = Path::new("/tmp").join(&marker);
    std::fs::write(&host_marker, "host").unwrap();
    let runs: [Vec<String>; 4] = [
        vec![script.display().to_string()],
        vec![smoltcp.clone(), script.display().to_string()],
        vec![
            format!("--pcap_dir={}", pcaps.display()),
            dir.display().to_string(),
        ],
        vec![smoltcp, dir.display().to_string()],
    ];
    for args in &runs {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::stackdrill(&args);
        assert!(
            out.status.success(),
            "{args:?}:\n{}",
            common::output_text(&out)
        );
    }
    assert_eq!(std::fs::read_to_string(&host_marker).unwrap(), "host");
    std::fs::remove_file(&host_marker).unwrap();
    // The pcap (the script sends no packet: its header alone) left the run's namespace.
    assert_eq!(pcaps.join("writes_tmp.pcap").metadata().unwrap().len(), 24);
    // A run's /tmp holds only what stackdrill keeps: nothing of the host's but the paths the
    // run itself needs (here none is below /tmp, so it is empty but for the marker).
    let out = common::stackdrill(&["--verbose", &script.display().to_string()]);
    let listed = String::from_utf8_lossy(&out.stderr);
    assert!(listed.lines().any(|line| line.trim() == marker), "{listed}");
    assert!(
        !listed
            .lines()
            .any(|line| line.starts_with("stackdrill-suite-")),
        "{listed}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_suite_leaves_no_scratch_folder_behind() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("private-tmp-suite");
    writing_script(&dir, "stackdrill-suite-scratch-check");
    let child = common::stackdrill_command(&[&dir.display().to_string()])
        .spawn()
        .unwrap();
    let scratch = format!("stackdrill-suite-{}", child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
    assert!(
        !host_tmp_entries().contains(&scratch),
        "{scratch} left in /tmp"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_scripts_run_before_each_script_inside_its_run() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("init-scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("sees_init.pkt");
    std::fs::write(
        &script,
        "0 `test \"$(cat /proc/sys/net/ipv4/tcp_syn_retries)\" = 3 && test -e /tmp/init-mark`\n\
         +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    )
    .unwrap();
    let host_retries = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syn_retries").unwrap();
    let out = common::stackdrill(&[
        "--init_scripts=sysctl -qw net.ipv4.tcp_syn_retries=3,touch /tmp/init-mark",
        &script.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", common::output_text(&out));
    // Both happened in the run's namespaces, not the host's.
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syn_retries").unwrap(),
        host_retries
    );
    assert!(!Path::new("/tmp/init-mark").exists());
    let out = common::stackdrill(&["--init_scripts=true,exit 3", &script.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        common::output_text(&out).contains(
            "sees_init.pkt: error executing --init_scripts command `exit 3`: non-zero status 3"
        ),
        "{}",
        common::output_text(&out)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The kernel's boot-time tcp_rmem for this machine's memory (tcp_init's formula).
fn kernel_default_rmem() -> String {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: u64 = meminfo
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap();
    let max = (kib * 1024 / 128).clamp(131_072, 6 * 1024 * 1024);
    format!("4096 131072 {max}")
}

#[test]
fn a_run_has_the_kernels_tcp_settings_and_reports_them() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tcp-settings");
    std::fs::create_dir_all(&dir).unwrap();
    let seen = dir.join("seen.txt");
    let script = dir.join("prints_settings.pkt");
    std::fs::write(
        &script,
        format!(
            "0 `tr '\\t' ' ' < /proc/sys/net/ipv4/tcp_rmem > {}`\n\
             +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
            seen.display()
        ),
    )
    .unwrap();
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem")
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let report = dir.join("report.json");
    let out = common::stackdrill(&[
        &format!("--json={}", report.display()),
        &dir.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", common::output_text(&out));
    let inside = std::fs::read_to_string(&seen).unwrap().trim().to_string();
    assert_eq!(inside, kernel_default_rmem(), "host has {host}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let environment = &json["summary"]["environment"];
    assert_eq!(environment["net.ipv4.tcp_rmem"], inside.as_str());
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(environment["kernel"], release.trim());
    assert!(environment["net.ipv4.tcp_congestion_control"].is_string());
    // How the suite was started, as the HTML header shows it.
    let invocation = &json["invocation"];
    assert_eq!(invocation["kernel"], release.trim());
    assert!(invocation["command"]
        .as_str()
        .is_some_and(|command| command.contains("--json=")));
    assert_eq!(invocation["version"], env!("CARGO_PKG_VERSION"));
    // Kept as the namespace copied them from the host when asked.
    let out = common::stackdrill(&["--inherit_sysctls", &script.display().to_string()]);
    assert!(out.status.success(), "{}", common::output_text(&out));
    assert_eq!(std::fs::read_to_string(&seen).unwrap().trim(), host);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_suite_killed_with_sigkill_leaves_no_scratch_folder() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("killed-suite");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sleeps.pkt"),
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 `sleep 5`\n",
    )
    .unwrap();
    let mut child = common::stackdrill_command(&[&dir.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let scratch = Path::new("/tmp").join(format!("stackdrill-suite-{}", child.id()));
    let started = std::time::Instant::now();
    while !scratch.exists() && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(scratch.exists(), "the suite made no scratch folder");
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    // The janitor removes it once the runner is gone.
    let killed = std::time::Instant::now();
    while scratch.exists() && killed.elapsed() < std::time::Duration::from_secs(3) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!scratch.exists(), "{} left behind", scratch.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_script_in_a_folder_of_tmp_still_reaches_its_neighbours() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    // As Google's corpus does: `../common/defaults.sh` from the script's own folder, here one
    // prepared in the host's /tmp (scripts/prepare-google-corpus.sh puts it there).
    let root = Path::new("/tmp").join(format!("stackdrill-isolation-{}", std::process::id()));
    let case = root.join("tcp/case");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::create_dir_all(root.join("tcp/common")).unwrap();
    std::fs::write(root.join("tcp/common/defaults.sh"), "#!/bin/sh\nexit 0\n").unwrap();
    let script = case.join("uses_common.pkt");
    std::fs::write(
        &script,
        "0 `sh ../common/defaults.sh && sh \"$(pwd)/../common/defaults.sh\"`\n\
         +0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
    )
    .unwrap();
    let single = common::stackdrill(&[&script.display().to_string()]);
    let suite = common::stackdrill(&[&root.display().to_string()]);
    std::fs::remove_dir_all(&root).unwrap();
    assert!(single.status.success(), "{}", common::output_text(&single));
    assert!(suite.status.success(), "{}", common::output_text(&suite));
}
