//! A userspace stack's clock as the run's `Clock`: asked of its stack thread, which keeps it.

use std::sync::Mutex;

use super::driver::{ask, Query, Requests};
use crate::sut::clock::Clock;

/// A userspace stack's clock: asks the stack thread, which keeps it (virtual time when the
/// stack's `usleep` advances its clock instead of sleeping).
pub struct StackClock {
    requests: Requests,
    fault: Mutex<Option<String>>,
}

impl StackClock {
    pub fn new(requests: Requests) -> Self {
        StackClock {
            requests,
            fault: Mutex::new(None),
        }
    }

    fn record(&self, error: String) {
        let mut fault = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        fault.get_or_insert(error);
    }
}

impl Clock for StackClock {
    fn now_usecs(&self) -> i64 {
        ask(&self.requests, Query::Now).unwrap_or_else(|e| {
            self.record(e);
            0
        })
    }

    fn wait_until(&self, deadline_usecs: i64) {
        if let Err(e) = ask(&self.requests, |answer| {
            Query::WaitUntil(deadline_usecs, answer)
        }) {
            self.record(e);
        }
    }

    /// Now: the stack's clock has no ticks to line up with.
    fn start_usecs(&self) -> i64 {
        self.now_usecs()
    }

    fn is_virtual(&self) -> bool {
        ask(&self.requests, Query::IsVirtual).unwrap_or_else(|e| {
            self.record(e);
            false
        })
    }

    fn fault(&self) -> Option<String> {
        self.fault.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
