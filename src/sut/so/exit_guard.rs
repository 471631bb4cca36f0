//! A userspace stack that calls `exit()` in the middle of a run: without this, the process
//! would end with the stack's status (0 looks like a pass) and no verdict. While a run with a
//! loaded stack is armed, an `atexit` handler turns any exit into that script's failure: it
//! prints it, hands the verdict to a suite (`verdict::write_for_parent`) and ends the process
//! with status 1. (`_exit()` skips exit handlers: a suite counts a run that ends without a
//! verdict as crashed, `suite::Runner::record`.)

use std::sync::{Mutex, Once};

use crate::verdict::{self, Failure, FailureKind, Verdict};

/// The script of the armed run, if one is.
static ARMED: Mutex<Option<String>> = Mutex::new(None);

/// What the run reports when the stack exits the process.
pub const EXITED: &str = "the stack under test called exit() in the middle of the run";

/// Keeps the guard armed for `script`'s run until dropped.
pub struct Armed(());

impl Drop for Armed {
    fn drop(&mut self) {
        *armed() = None;
    }
}

fn armed() -> std::sync::MutexGuard<'static, Option<String>> {
    // Nothing panics while the lock is held: a poisoned lock still holds a valid value.
    ARMED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Arms the guard for the run of `script` (a file name, for the failure).
pub fn arm(script: &str) -> Armed {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: registers a function with no preconditions; atexit only stores the pointer.
        unsafe { libc::atexit(exit_during_run) };
    });
    *armed() = Some(script.to_string());
    Armed(())
}

/// The failure a run ends with when the stack exits during it; None when no run is armed.
fn failure_if_armed() -> Option<Failure> {
    let script = armed().take()?;
    let message = EXITED.to_string();
    Some(Failure::whole(&script, FailureKind::Stack { message }))
}

extern "C" fn exit_during_run() {
    let Some(failure) = failure_if_armed() else {
        return;
    };
    eprintln!("{failure}");
    verdict::write_for_parent(&Verdict::Failed(failure));
    // SAFETY: ends the process at once; exit handlers may call _exit.
    unsafe { libc::_exit(1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_armed_run_fails() {
        assert!(failure_if_armed().is_none());
        let guard = arm("t.pkt");
        let failure = failure_if_armed().expect("armed");
        assert_eq!(
            failure.headline(),
            format!("t.pkt: {EXITED}"),
            "{failure:?}"
        );
        // Taken once, and disarmed when the guard goes.
        assert!(failure_if_armed().is_none());
        *armed() = Some("u.pkt".into());
        drop(guard);
        assert!(failure_if_armed().is_none());
    }
}
