//! The virtual clock: a time that starts at a fixed epoch and only moves when stackdrill calls
//! `usleep`, and the TCP timestamp generator that reads it.
//!
//! Under upstream packetdrill (stacks/README.md "Under upstream packetdrill") the clock follows
//! real time instead: [`VirtualClock::follow_real_time`] anchors it to the host's clock, and the
//! stack then moves it to [`VirtualClock::real_now`] at each entry point.
//!
//! smoltcp's timestamp generator is a plain `fn() -> u32` with no context, so the clock value
//! the stack is being polled at is published in a thread-local right before every poll, on the
//! polling thread, and the generator reads it from there.

use std::cell::Cell;

use smoltcp::time::{Duration, Instant};

/// Where real time was when the clock started following it.
#[derive(Clone, Copy, Debug)]
struct RealTimeAnchor {
    /// The host's monotonic clock at the anchor (elapsed time is measured on it, so a step of
    /// the wall clock does not move the stack's time backwards).
    monotonic: std::time::Instant,
    /// The stack's time at the anchor: the wall clock then.
    stack: Instant,
}

/// Where the virtual clock starts: 2023-11-14T22:13:20Z, as seconds since the Unix epoch.
pub const CLOCK_EPOCH_SECS: i64 = 1_700_000_000;

/// The stack's clock. smoltcp's [`Instant`] is microseconds, here counted from the Unix epoch,
/// so the same value is what `gettimeofday` reports and what packets are stamped with.
#[derive(Debug)]
pub struct VirtualClock {
    now: Instant,
    real_time: Option<RealTimeAnchor>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock {
            now: Instant::from_secs(CLOCK_EPOCH_SECS),
            real_time: None,
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

    /// From now on the clock follows real time: it jumps to the wall clock's time, and
    /// [`VirtualClock::real_now`] says where real time has got to since.
    pub fn follow_real_time(&mut self) {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let stack = Instant::from_micros(i64::try_from(wall.as_micros()).unwrap_or(i64::MAX));
        self.real_time = Some(RealTimeAnchor {
            monotonic: std::time::Instant::now(),
            stack,
        });
        self.advance_to(stack);
    }

    /// The real time now on the stack's scale, when the clock follows real time.
    pub fn real_now(&self) -> Option<Instant> {
        let anchor = self.real_time?;
        let elapsed = anchor.monotonic.elapsed();
        let elapsed = Duration::from_micros(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        Some(anchor.stack + elapsed)
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
    fn real_time_moves_by_itself() {
        let mut clock = VirtualClock::default();
        assert_eq!(clock.real_now(), None, "virtual unless told");
        clock.follow_real_time();
        let start = clock.now();
        assert!(
            start > Instant::from_secs(CLOCK_EPOCH_SECS),
            "jumps to the wall clock"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later = clock.real_now().unwrap();
        assert!(
            later >= start + Duration::from_millis(2),
            "{later} vs {start}"
        );
        assert_eq!(clock.now(), start, "the stack's time moves only when told");
    }

    #[test]
    fn tsval_is_published_milliseconds() {
        let when = Instant::from_micros(1_700_000_123_456_789i64);
        publish_tsval_clock(when);
        assert_eq!(tsval_from_virtual_clock(), 1_700_000_123_456u64 as u32);
    }
}
