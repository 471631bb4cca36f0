//! What stackdrill knows by name, each list written once.
//!
//! Both sides read the same list: the script parser checks names against it, and the run
//! turns the same names into numbers and calls. Nothing here parses script text or touches a
//! socket; it is tables and lookups only.

pub mod icmp;
pub mod requirements;
pub mod sctp;
pub mod suggest;
pub mod symbols;
pub mod syscalls;
