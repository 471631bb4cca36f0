//! The TCP settings of a kernel run's network namespace: a new namespace copies some of them
//! from the host's (its default congestion control, tcp_rmem and tcp_wmem), so a tuned host
//! would change verdicts. Here they are reset to the running kernel's own defaults before the
//! script runs, and the settings scripts depend on are read back for the reports.

use std::collections::BTreeMap;
use std::path::Path;

/// The sysctls (below /proc/sys/net/ipv4) a run's reports record: those that change what the
/// kernel puts on the wire in common scripts.
const RECORDED: [&str; 17] = [
    "tcp_congestion_control",
    "tcp_allowed_congestion_control",
    "tcp_rmem",
    "tcp_wmem",
    "tcp_timestamps",
    "tcp_sack",
    "tcp_dsack",
    "tcp_window_scaling",
    "tcp_ecn",
    "tcp_syn_retries",
    "tcp_synack_retries",
    "tcp_syn_linear_timeouts",
    "tcp_early_retrans",
    "tcp_recovery",
    "tcp_slow_start_after_idle",
    "tcp_fastopen",
    "tcp_mtu_probing",
];

const SYSCTL_DIR: &str = "/proc/sys/net/ipv4";

/// The kernel release and the recorded settings as they are now in this namespace (a setting
/// this kernel does not have is left out).
pub fn snapshot() -> BTreeMap<String, String> {
    let mut settings: BTreeMap<String, String> = RECORDED
        .iter()
        .filter_map(|name| {
            let value = std::fs::read_to_string(Path::new(SYSCTL_DIR).join(name)).ok()?;
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            Some((format!("net.ipv4.{name}"), value))
        })
        .collect();
    if let Ok(release) = nix::sys::utsname::uname() {
        settings.insert(
            "kernel".to_string(),
            release.release().to_string_lossy().into_owned(),
        );
    }
    settings
}

/// Resets what a new namespace copied from the host to the running kernel's defaults: the
/// default congestion control to the one the kernel was built with (its config's
/// CONFIG_DEFAULT_TCP_CONG, when /proc/config.gz or /boot/config-RELEASE says it), tcp_rmem and
/// tcp_wmem to what the kernel computes at boot. Must run in the run's own namespace.
pub fn reset_to_kernel_defaults() -> Result<(), String> {
    let write = |name: &str, value: &str| {
        std::fs::write(Path::new(SYSCTL_DIR).join(name), value)
            .map_err(|e| format!("cannot set net.ipv4.{name} to '{value}': {e}"))
    };
    let memory = total_memory_bytes().unwrap_or(u64::MAX);
    let (rmem, wmem) = buffer_defaults(memory);
    write("tcp_rmem", &rmem)?;
    write("tcp_wmem", &wmem)?;
    if let Some(congestion_control) = built_in_congestion_control() {
        write("tcp_congestion_control", &congestion_control)?;
    }
    Ok(())
}

/// tcp_rmem and tcp_wmem as the kernel sets them at boot (tcp_init): minimum 4096, default
/// 131072 and 16384, maximum 6 MiB and 4 MiB, or less on a machine with little memory (a
/// 128th of it, at least the default).
fn buffer_defaults(memory_bytes: u64) -> (String, String) {
    let limit = memory_bytes / 128;
    let rmem_max = limit.clamp(131_072, 6 * 1024 * 1024);
    let wmem_max = limit.clamp(65_536, 4 * 1024 * 1024);
    (
        format!("4096 131072 {rmem_max}"),
        format!("4096 16384 {wmem_max}"),
    )
}

fn total_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// CONFIG_DEFAULT_TCP_CONG of the running kernel, from its config (/boot/config-RELEASE, or
/// /proc/config.gz through gzip); None when neither is there.
fn built_in_congestion_control() -> Option<String> {
    let release = nix::sys::utsname::uname().ok()?;
    let boot_config =
        Path::new("/boot").join(format!("config-{}", release.release().to_string_lossy()));
    let config = std::fs::read_to_string(boot_config).ok().or_else(|| {
        let output = std::process::Command::new("gzip")
            .args(["-dc", "/proc/config.gz"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    })?;
    default_congestion_control(&config)
}

fn default_congestion_control(config: &str) -> Option<String> {
    config.lines().find_map(|line| {
        let value = line.strip_prefix("CONFIG_DEFAULT_TCP_CONG=")?;
        Some(value.trim().trim_matches('"').to_string()).filter(|name| !name.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_follow_the_kernels_boot_formula() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(
            buffer_defaults(24 * gib),
            (
                "4096 131072 6291456".to_string(),
                "4096 16384 4194304".to_string()
            )
        );
        // 256 MiB: a 128th is 2 MiB.
        assert_eq!(
            buffer_defaults(256 * 1024 * 1024),
            (
                "4096 131072 2097152".to_string(),
                "4096 16384 2097152".to_string()
            )
        );
    }

    #[test]
    fn the_default_congestion_control_is_read_from_the_config() {
        let config =
            "CONFIG_TCP_CONG_BBR=y\nCONFIG_DEFAULT_BBR=y\nCONFIG_DEFAULT_TCP_CONG=\"bbr\"\n";
        assert_eq!(default_congestion_control(config).as_deref(), Some("bbr"));
        assert_eq!(default_congestion_control("CONFIG_X=y\n"), None);
    }
}
