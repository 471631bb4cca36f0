//! Back-quoted shell commands: run with `/bin/sh -c` in the script's directory, with
//! `PACKETDRILL_PID` set to this process, as packetdrill runs them, and the run's defines in
//! the environment (a stackdrill addition: a portable script's command can use a value the
//! target's profile supplies, `grep "cwnd:$INITIAL_CWND"`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Runs `text`; Err carries packetdrill's wording after "error executing …": the exit status or
/// the signal.
pub fn run_shell_command(
    text: &str,
    directory: &Path,
    defines: &[(String, String)],
) -> Result<(), String> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(text)
        .current_dir(directory)
        .envs(defines.iter().map(|(name, value)| (name, value)))
        .env("PACKETDRILL_PID", std::process::id().to_string())
        .env("NSTAT_HISTORY", nstat_history_path())
        .status()
        .map_err(|e| format!("cannot start /bin/sh: {e}"))?;
    if status.success() {
        return Ok(());
    }
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Err(format!("non-zero status {code}")),
        (None, Some(signal)) => Err(format!("killed by signal {signal}")),
        _ => Err("failed".to_string()),
    }
}

/// The defines a command sees as environment variables: those whose names can be variable
/// names, and never one that would replace PATH, HOME and the like (names already set in
/// stackdrill's own environment are left alone).
pub fn defines_for_commands(defines: &BTreeMap<String, String>) -> Vec<(String, String)> {
    defines
        .iter()
        .filter(|(name, _)| {
            let mut chars = name.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
                && std::env::var_os(name.as_str()).is_none()
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// The run's network settings as packetdrill exports them to commands (`OPT_IP_VERSION`,
/// `OPT_LOCAL_IP`, …; the MPTCP fork's helper scripts read them), plus `OPT_LOCAL_DEV`, the
/// test device's name. Defines of the same name win.
pub fn network_env(
    config: &crate::cli::Config,
    network: &crate::sut::network::Addresses,
) -> Vec<(String, String)> {
    let netmask = match network.local_ip {
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::from(
            u32::MAX
                .checked_shl(32 - u32::from(network.local_prefix_len))
                .unwrap_or(0),
        )
        .to_string(),
        std::net::IpAddr::V6(_) => config.netmask_ip.to_string(),
    };
    [
        ("OPT_IP_VERSION", network.ip_version.as_str().to_string()),
        (
            "OPT_LOCAL_IP",
            network.socket_view(network.local_ip).to_string(),
        ),
        (
            "OPT_REMOTE_IP",
            network.socket_view(network.remote_ip).to_string(),
        ),
        (
            "OPT_GATEWAY_IP",
            network.socket_view(network.gateway_ip).to_string(),
        ),
        ("OPT_NETMASK_IP", netmask),
        (
            "OPT_LOCAL_DEV",
            config.tun_dev.clone().unwrap_or_else(|| "tun0".to_string()),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// Where `nstat` keeps its counter history for this run. Its default is one file per user in
/// /tmp, which parallel runs would share (and corrupt each other's deltas); each run has its
/// own namespace and so its own counters, and gets its own history file.
pub fn nstat_history_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("stackdrill-{}.nstat", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_environment() {
        let dir = std::env::temp_dir();
        assert_eq!(run_shell_command("true", &dir, &[]), Ok(()));
        assert_eq!(
            run_shell_command("exit 3", &dir, &[]),
            Err("non-zero status 3".into())
        );
        let check_pid = format!(
            "test \"$PACKETDRILL_PID\" = {} && test \"$PPID\" = {}",
            std::process::id(),
            std::process::id()
        );
        assert_eq!(run_shell_command(&check_pid, &dir, &[]), Ok(()));
        assert_eq!(
            run_shell_command("kill -TERM $$", &dir, &[]),
            Err("killed by signal 15".into())
        );
    }

    #[test]
    fn defines_become_environment_variables_but_never_replace_one() {
        let defines: BTreeMap<String, String> = [
            ("INITIAL_CWND", "10"),
            ("PATH", "/nowhere"),
            ("NOT-A-NAME", "x"),
            ("CMD", "`true`"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        let env = defines_for_commands(&defines);
        let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["CMD", "INITIAL_CWND"]);
        let dir = std::env::temp_dir();
        assert_eq!(
            run_shell_command("test \"$INITIAL_CWND\" = 10", &dir, &env),
            Ok(())
        );
    }
}
