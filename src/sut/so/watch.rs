//! Which of a userspace stack's entry points its stack thread is inside, and since when: what
//! lets the run give up on a stack that spins or deadlocks in `packetdrill_interface_init`,
//! `netdev_receive`, `stackdrill_poll` or its clock, with a message naming the entry, instead of
//! waiting for the stack thread forever. (A script call that never returns is the call worker's
//! and is watched by the stack thread itself: `driver.rs`.)

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest real time one entry of the stack thread may take (a `usleep` gets its own sleep on
/// top). Generous: the stack thread's entries return in microseconds.
pub const ENTRY_DEADLINE: Duration = Duration::from_secs(10);

/// Longest real time loading the library and its `packetdrill_interface_init` may take.
pub const INIT_DEADLINE: Duration = Duration::from_secs(20);

/// The stack thread's current entry into the stack, if any.
#[derive(Debug, Default)]
pub struct EntryWatch {
    inside: Mutex<Option<Inside>>,
}

#[derive(Debug, Clone, Copy)]
struct Inside {
    entry: &'static str,
    since: Instant,
    allowed: Duration,
}

/// Marks the stack thread inside an entry until dropped.
pub struct InsideEntry<'a> {
    watch: &'a EntryWatch,
}

impl Drop for InsideEntry<'_> {
    fn drop(&mut self) {
        *self.watch.lock() = None;
    }
}

impl EntryWatch {
    /// Marks the calling (stack) thread inside `entry`, which may take `allowed`, until the
    /// returned guard is dropped.
    pub fn inside(&self, entry: &'static str, allowed: Duration) -> InsideEntry<'_> {
        *self.lock() = Some(Inside {
            entry,
            since: Instant::now(),
            allowed,
        });
        InsideEntry { watch: self }
    }

    /// Why the stack thread must be given up on: it has been inside one entry for longer than
    /// that entry may take. None while it is not.
    pub fn stuck(&self) -> Option<String> {
        let inside = (*self.lock())?;
        let took = inside.since.elapsed();
        (took > inside.allowed).then(|| {
            format!(
                "the stack's {} has not returned for {} s: it spins or is deadlocked",
                inside.entry,
                took.as_secs()
            )
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Inside>> {
        // Nothing can panic while the lock is held: a poisoned lock is still a valid value.
        self.inside.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_stuck_only_past_its_allowance_and_while_inside() {
        let watch = EntryWatch::default();
        assert_eq!(watch.stuck(), None);
        {
            let _inside = watch.inside("netdev_receive", Duration::ZERO);
            std::thread::sleep(Duration::from_millis(2));
            assert_eq!(
                watch.stuck().as_deref(),
                Some("the stack's netdev_receive has not returned for 0 s: it spins or is deadlocked")
            );
        }
        assert_eq!(watch.stuck(), None);
        let _inside = watch.inside("stackdrill_poll", ENTRY_DEADLINE);
        assert_eq!(watch.stuck(), None);
    }
}
