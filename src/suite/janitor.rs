//! The suite's janitor: a small process the runner starts beside itself, which removes the
//! suite's scratch folder once the runner is gone, however it went (a runner killed with
//! SIGKILL cannot remove its own). It waits for end-of-file on a pipe only the runner holds,
//! and ignores the signals a terminal sends the whole process group, so that it outlives the
//! runner by as long as the removal takes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use nix::sys::signal::{signal, SigHandler, Signal};

/// Environment variable naming the folder a janitor process removes.
const JANITOR_ENV: &str = "STACKDRILL_SUITE_JANITOR";

/// The runner's end: dropping it (or the runner's death) closes the pipe, and the janitor
/// removes the folder and ends.
pub struct Janitor {
    pipe: Option<ChildStdin>,
    child: Child,
}

impl Janitor {
    /// Starts `program` as the janitor of `scratch`; None when it cannot start (the runner
    /// still removes the folder itself when it ends normally).
    pub fn start(program: &Path, scratch: &Path) -> Option<Janitor> {
        let mut child = Command::new(program)
            .env(JANITOR_ENV, scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let pipe = child.stdin.take();
        Some(Janitor { pipe, child })
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// In a janitor process (the runner's marker is in the environment): waits for the runner to
/// be gone, removes its scratch folder, and ends the process. Returns in any other process.
pub fn serve_if_janitor() {
    let Some(scratch) = std::env::var_os(JANITOR_ENV).map(PathBuf::from) else {
        return;
    };
    for number in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: SigIgn installs no handler code; nothing else runs in this process yet.
        let _ = unsafe { signal(number, SigHandler::SigIgn) };
    }
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    if is_suite_scratch(&scratch) {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    std::process::exit(0);
}

/// Only a suite's own scratch folder is ever removed: `stackdrill-suite-PID` in the temporary
/// directory.
fn is_suite_scratch(path: &Path) -> bool {
    path.parent() == Some(std::env::temp_dir().as_path())
        && path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_prefix("stackdrill-suite-"))
            .is_some_and(|pid| !pid.is_empty() && pid.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_suite_scratch_folders_are_removed() {
        let temp = std::env::temp_dir();
        assert!(is_suite_scratch(&temp.join("stackdrill-suite-42")));
        assert!(!is_suite_scratch(&temp.join("stackdrill-suite-")));
        assert!(!is_suite_scratch(&temp.join("stackdrill-suite-4x")));
        assert!(!is_suite_scratch(&temp.join("other")));
        assert!(!is_suite_scratch(Path::new("/home/stackdrill-suite-42")));
        assert!(!is_suite_scratch(&temp.join("a/stackdrill-suite-42")));
    }
}
