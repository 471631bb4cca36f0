//! Back-quoted shell commands: run with `/bin/sh -c` in the script's directory, with
//! `PACKETDRILL_PID` set to this process, as packetdrill runs them.

use std::path::Path;
use std::process::Command;

/// Runs `text`; Err carries packetdrill's wording after "error executing …": the exit status or
/// the signal.
pub fn run_shell_command(text: &str, directory: &Path) -> Result<(), String> {
    let status = Command::new("/bin/sh")
        .arg("-c")
        .arg(text)
        .current_dir(directory)
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
        assert_eq!(run_shell_command("true", &dir), Ok(()));
        assert_eq!(
            run_shell_command("exit 3", &dir),
            Err("non-zero status 3".into())
        );
        let check_pid = format!(
            "test \"$PACKETDRILL_PID\" = {} && test \"$PPID\" = {}",
            std::process::id(),
            std::process::id()
        );
        assert_eq!(run_shell_command(&check_pid, &dir), Ok(()));
        assert_eq!(
            run_shell_command("kill -TERM $$", &dir),
            Err("killed by signal 15".into())
        );
    }
}
