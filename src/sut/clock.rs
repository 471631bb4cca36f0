//! The `Clock` seam: whose time runs the script. `RealClock` is microseconds of CLOCK_REALTIME
//! (the clock of kernel packet capture timestamps) with precise waiting (sleep most of the way,
//! spin the last stretch); a userspace stack's own clock is in `so/clock.rs`.

/// Where time comes from: the host's real clock, or the stack under test's.
pub trait Clock: Send + Sync {
    /// Now, in microseconds.
    fn now_usecs(&self) -> i64;
    /// Returns at `deadline_usecs` (or at once when it has passed).
    fn wait_until(&self, deadline_usecs: i64);
    /// Picks script time 0 (now, or a moment close to it that suits the stack).
    fn start_usecs(&self) -> i64;
    /// Whether stackdrill moves this clock itself (a userspace stack's virtual time): then
    /// nothing waits for the host's time, and real-time scheduling buys nothing.
    fn is_virtual(&self) -> bool {
        false
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

    /// Just after a kernel clock tick, as packetdrill does, so the kernel's jiffy-granular
    /// timers line up the same way on every run.
    fn start_usecs(&self) -> i64 {
        // Poll with short sleeps, not a spin: parallel runs must not hold a CPU for a whole
        // tick.
        let mut changes = 0;
        let mut last = clock_ticks();
        while changes < 2 {
            std::thread::sleep(std::time::Duration::from_micros(20));
            let now = clock_ticks();
            if now != last {
                changes += 1;
                last = now;
            }
        }
        self.now_usecs() + 250
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

/// The kernel's clock ticks since boot (times(2); neither nix nor rustix wraps it).
fn clock_ticks() -> libc::clock_t {
    let mut usage = libc::tms {
        tms_utime: 0,
        tms_stime: 0,
        tms_cutime: 0,
        tms_cstime: 0,
    };
    // SAFETY: times() only writes into the struct we own.
    unsafe { libc::times(&mut usage) }
}

/// CLOCK_REALTIME in microseconds.
pub fn realtime_usecs() -> i64 {
    // CLOCK_REALTIME cannot fail to be read on Linux.
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME)
        .map_or(0, |now| now.tv_sec() * 1_000_000 + now.tv_nsec() / 1_000)
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
