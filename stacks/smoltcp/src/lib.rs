//! stackdrill's smoltcp adapter: a shared object that exposes the smoltcp TCP/IP stack through
//! packetdrill's `struct packetdrill_interface` (see `stacks/include/packetdrill.h`), with the
//! stackdrill extensions, so packetdrill scripts run against smoltcp on a virtual clock.
//!
//! Layers, from the C boundary inwards:
//! - [`stack_entry_points`], [`socket_entry_points`]: the exported symbols and table entries;
//!   C arguments in, libc return convention out, no panic crosses.
//! - [`adapter`]: the mutex, the condition variable and blocking calls.
//! - [`socket_calls`], [`tcp_socket`], [`udp_socket`], [`socket_options`], [`readiness`]: the
//!   BSD socket layer with Linux semantics.
//! - [`stack`]: smoltcp's interface and sockets, the virtual clock, who polls, post-poll
//!   bookkeeping; [`socket_table`]: the sockets as `stackdrill_sockets` lists them.
//! - [`virtual_link`], [`wire_tap`]: the network device and what it sees and adjusts;
//!   `dpdk_port` (cargo feature `dpdk`): the DPDK port stackdrill may hand over as the link.

/// The C structures exchanged with stackdrill: the shared `stackdrill-abi` crate.
pub use stackdrill_abi as abi;
pub mod adapter;
pub mod clock;
pub mod config;
#[cfg(feature = "dpdk")]
pub mod dpdk_port;
pub mod errno;
pub mod fd_table;
pub mod profile;
pub mod readiness;
pub mod sockaddr;
pub mod socket_calls;
pub mod socket_entry_points;
pub mod socket_internals;
pub mod socket_options;
pub mod socket_table;
pub mod stack;
pub mod stack_entry_points;
pub mod tcp_info;
pub mod tcp_socket;
pub mod udp_socket;
pub mod virtual_link;
pub mod wire_tap;

pub use stack_entry_points::{
    packetdrill_interface_init, stackdrill_network_setup, stackdrill_poll,
    stackdrill_profile_defines, stackdrill_sockets,
};

#[cfg(feature = "dpdk")]
pub use dpdk_port::stackdrill_dpdk_attach;
