//! The system under test, behind two seams: `Target` (where system calls go) and `Netdev`
//! (where packets travel), with the run's `Clock` and the `StackView` introspection reads.
//! One folder per kind of backend: `kernel/` (the Linux kernel over tun) and `so/` (a userspace
//! stack in a shared object).

/// The shared-object ABI as Rust types (the `stackdrill-abi` crate, shared with Rust adapters).
pub use stackdrill_abi as abi;

pub mod capture;
pub mod clock;
pub mod kernel;
pub mod netdev;
pub mod network;
pub mod so;
pub mod socket_info;
pub mod target;
pub mod view;
