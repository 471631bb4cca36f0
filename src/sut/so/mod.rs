//! A userspace stack behind packetdrill's shared-object ABI (`--so_filename`): the library
//! (`library.rs`), its socket calls as a `Target` (`target.rs`), its netdev, clock and polling
//! (`stack.rs`), driven by a stack thread of its own (`driver.rs`) that the run's netdev
//! (`netdev.rs`), clock (`clock.rs`) and introspection (`view.rs`) ask.

pub mod clock;
pub mod driver;
pub mod library;
pub mod netdev;
pub mod stack;
pub mod target;
pub mod view;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::sut::target::Target;
use crate::sut::view::SocketRecord;

/// A userspace stack that is also the network and possibly the clock: stackdrill's stack thread
/// hands it packets, takes the ones it sends, keeps time on its clock and polls it between
/// operations. (The kernel target needs none of this: it has tun and the host clock.)
pub trait PolledStack: Send {
    /// For messages ("so:libfoo.so").
    fn name(&self) -> String;
    /// Hands one IP packet from the simulated peer to the stack.
    fn netdev_send(&mut self, packet: &[u8]) -> Result<(), String>;
    /// The next packet the stack sent, with its transmit time on the stack's clock (µs), or
    /// None when it has none queued. Never blocks.
    fn netdev_receive(&mut self) -> Result<Option<(Vec<u8>, i64)>, String>;
    /// Whether the stack keeps its own clock (`usleep` and `gettimeofday`); else the host's
    /// CLOCK_REALTIME is the clock.
    fn has_clock(&self) -> bool;
    /// The stack's clock, in µs (only when `has_clock`).
    fn now_usecs(&mut self) -> Result<i64, String>;
    /// Lets `usecs` pass on the stack's clock (only when `has_clock`).
    fn sleep_usecs(&mut self, usecs: u32) -> Result<(), String>;
    /// Lets the stack do the work due now; Some(µs) until it next needs a poll.
    fn poll(&mut self) -> Result<Option<i64>, String>;
    /// Whether `poll` reaches the stack at all (else it always says "nothing scheduled").
    fn has_poll(&self) -> bool;
    /// The stack's socket table (`stackdrill_sockets`); None when the stack cannot tell.
    fn sockets(&mut self) -> Result<Option<Vec<SocketRecord>>, String>;
    /// A `Target` making socket calls into the same stack, for the stack thread's call worker;
    /// it keeps `in_library` set while a call is inside the stack.
    fn call_target(&self, in_library: Arc<AtomicBool>) -> Box<dyn Target>;
    /// The end of the run: the stack frees its state. Called at most once.
    fn finish(&mut self);
}
