//! The virtual clock: a time that starts at a fixed epoch and only moves when stackdrill calls
//! `usleep`, and the TCP timestamp generator that reads it.
//!
//! smoltcp's timestamp generator is a plain `fn() -> u32` with no context, so the clock value
//! the stack is being polled at is published in a thread-local right before every poll, on the
//! polling thread, and the generator reads it from there.

use std::cell::Cell;

use smoltcp::time::{Duration, Instant};

/// Where the virtual clock starts: 2023-11-14T22:13:20Z, as seconds since the Unix epoch.
pub const CLOCK_EPOCH_SECS: i64 = 1_700_000_000;

/// The stack's clock. smoltcp's [`Instant`] is microseconds, here counted from the Unix epoch,
/// so the same value is what `gettimeofday` reports and what packets are stamped with.
#[derive(Debug)]
pub struct VirtualClock {
    now: Instant,
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock {
            now: Instant::from_secs(CLOCK_EPOCH_SECS),
        }
    }
}

impl VirtualClock {
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the clock forward to `when` (never backwards).
    pub fn advance_to(&mut self, when: Instant) {
        if when > self.now {
            self.now = when;
        }
    }

    /// `now + duration`, for deadlines.
    pub fn after(&self, duration: Duration) -> Instant {
        self.now + duration
    }
}

thread_local! {
    static TSVAL_MILLIS: Cell<u32> = const { Cell::new(0) };
}

/// Publishes `now` for [`tsval_from_virtual_clock`]; call on the polling thread before polling.
pub fn publish_tsval_clock(now: Instant) {
    TSVAL_MILLIS.with(|millis| millis.set(now.total_millis() as u32));
}

/// smoltcp's TCP timestamp generator: the virtual clock in milliseconds, modulo 2^32.
pub fn tsval_from_virtual_clock() -> u32 {
    TSVAL_MILLIS.with(|millis| millis.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_only_moves_forward() {
        let mut clock = VirtualClock::default();
        let start = clock.now();
        clock.advance_to(start + Duration::from_micros(5));
        clock.advance_to(start);
        assert_eq!(clock.now(), start + Duration::from_micros(5));
    }

    #[test]
    fn tsval_is_published_milliseconds() {
        let when = Instant::from_micros(1_700_000_123_456_789i64);
        publish_tsval_clock(when);
        assert_eq!(tsval_from_virtual_clock(), 1_700_000_123_456u64 as u32);
    }
}
