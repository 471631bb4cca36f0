//! An AF_XDP socket as the peer's end of a veth (`--netdev=af_xdp`, with the `af_xdp` cargo
//! feature): the UMEM, its fill and completion rings, the socket's rx and tx rings and the XDP
//! program that redirects the interface's frames to the socket, all through the xsk-rs crate
//! over libxdp (no ring code of our own, no BPF of our own: libxdp loads its default redirect
//! program when the interface has none). [`XdpPort`] sends and receives whole Ethernet frames;
//! framing and neighbour answers are `wire::link_peer`'s.
//!
//! Needs root: loading the XDP program takes CAP_BPF and CAP_NET_ADMIN in the initial user
//! namespace, and the UMEM's 16 MiB exceed RLIMIT_MEMLOCK without CAP_IPC_LOCK there; a user
//! namespace grants neither. Without a bpffs at /sys/fs/bpf libxdp attaches its program alone
//! (no dispatcher, nothing pinned); with one it uses its dispatcher, pinned under
//! /sys/fs/bpf/xdp while the port is open. The program is detached when the port is dropped,
//! and would go with the veth and its namespace anyway. The kernel's end of the veth must
//! compute its own checksums ([`turn_off_transmit_checksum_offload`]).

mod kernel_end;
pub mod netdev;
mod port;

pub use kernel_end::turn_off_transmit_checksum_offload;
pub use port::XdpPort;

#[cfg(test)]
mod tests;
