//! Time for the executor: microseconds of CLOCK_REALTIME (the clock of kernel packet capture
//! timestamps) with precise waiting (sleep most of the way, spin the last stretch), or a
//! userspace stack's own clock, kept by its stack thread.

/// Where time comes from: the host's real clock, or the stack under test's.
pub trait Clock: Send + Sync {
    /// Now, in microseconds.
    fn now_usecs(&self) -> i64;
    /// Returns at `deadline_usecs` (or at once when it has passed).
    fn wait_until(&self, deadline_usecs: i64);
    /// Whether this is the host's clock, on which waiting is sleeping (else time is the
    /// stack's, and only its thread can move it).
    fn is_host_clock(&self) -> bool {
        true
    }
    /// Why the clock stopped working, if it did (a userspace stack's clock can fail).
    fn fault(&self) -> Option<String> {
        None
    }
}

/// How long before a deadline sleeping stops and spinning starts. A real-time thread wakes
/// within tens of µs on an idle VM; 150 µs absorbs that, and keeps the spin (which other
/// real-time runs cannot preempt) short. scripts/bench-injection.sh measures the result.
const SPIN_MARGIN_USECS: i64 = 150;

/// The host's CLOCK_REALTIME.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now_usecs(&self) -> i64 {
        realtime_usecs()
    }

    fn wait_until(&self, deadline_usecs: i64) {
        loop {
            let left = deadline_usecs - realtime_usecs();
            if left <= 0 {
                return;
            }
            if left > SPIN_MARGIN_USECS {
                std::thread::sleep(std::time::Duration::from_micros(
                    (left - SPIN_MARGIN_USECS) as u64,
                ));
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

/// CLOCK_REALTIME in microseconds.
pub fn realtime_usecs() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000 + ts.tv_nsec / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_returns_before_the_deadline() {
        let clock = RealClock;
        for wait in [0, 50, 500, 2_000] {
            let target = clock.now_usecs() + wait;
            clock.wait_until(target);
            assert!(clock.now_usecs() >= target);
        }
    }
}
