//! The shared-object ABI between stackdrill and userspace stacks, as Rust types: packetdrill's
//! 33-slot `struct packetdrill_interface`, stackdrill's extension structs
//! (`struct stackdrill_network`, `struct stackdrill_socket`, `struct stackdrill_dpdk_port`), the
//! extension symbols' names and
//! signatures, laid out field for field like `stacks/include/packetdrill.h`. stackdrill loads
//! libraries with these types and Rust adapters (stacks/smoltcp) export them, so both sides
//! agree by construction; the tests pin sizes and offsets against the header.

use libc::{
    c_char, c_int, c_uint, c_ulong, c_void, epoll_event, iovec, loff_t, msghdr, nfds_t, pollfd,
    size_t, sockaddr, socklen_t, ssize_t, timeval, useconds_t,
};

/// `struct packetdrill_interface`. A `None` entry is a NULL pointer: "not implemented".
///
/// `fcntl` and `ioctl` are variadic in C. On the System V x86-64 and AArch64 Linux ABIs a
/// variadic caller passes its arguments where a fixed-argument callee reads them, so they are
/// declared here with their one optional argument as a fixed parameter, which the library only
/// reads for the commands that take it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PacketdrillInterface {
    pub userdata: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub socket: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub accept:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    pub connect:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t) -> ssize_t>,
    pub readv: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub recv:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t) -> ssize_t>,
    pub writev: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub send:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *const msghdr, c_int) -> ssize_t>,
    pub fcntl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_ulong, *mut c_int) -> c_int>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub getsockopt: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            c_int,
            c_int,
            *mut c_void,
            *mut socklen_t,
        ) -> c_int,
    >,
    pub setsockopt: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int,
    >,
    pub poll: Option<unsafe extern "C" fn(*mut c_void, *mut pollfd, nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(*mut c_void, *const c_void, size_t) -> c_int>,
    pub netdev_receive:
        Option<unsafe extern "C" fn(*mut c_void, *mut c_void, *mut size_t, *mut i64) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(*mut c_void, useconds_t) -> c_int>,
    /// The `struct timezone *` argument is ignored, so it is typed as an opaque pointer.
    pub gettimeofday: Option<unsafe extern "C" fn(*mut c_void, *mut timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub epoll_ctl:
        Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut epoll_event) -> c_int>,
    pub epoll_wait:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut epoll_event, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int>,
    pub splice: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut loff_t,
            c_int,
            *mut loff_t,
            size_t,
            c_uint,
        ) -> c_int,
    >,
}

impl Default for PacketdrillInterface {
    /// The zeroed table handed to `packetdrill_interface_init`: NULL everywhere.
    fn default() -> Self {
        // SAFETY: a null pointer and `None` function pointers are all-zero bit patterns.
        unsafe { std::mem::zeroed() }
    }
}

/// `struct stackdrill_network`: the test network, addresses in network byte order (IPv4 in the
/// first four bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackdrillNetwork {
    pub family: c_int,
    pub local_ip: [u8; 16],
    pub prefix_len: c_int,
    pub gateway_ip: [u8; 16],
    pub remote_ip: [u8; 16],
    pub mtu: c_int,
}

/// Bytes of `struct tcp_info` a [`StackdrillSocket`] carries.
pub const SOCKET_TCP_INFO_LEN: usize = 256;

/// `struct stackdrill_socket`: one socket of the stack, for `stackdrill_sockets`. Addresses in
/// network byte order (IPv4 in the first four bytes), ports in host order.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StackdrillSocket {
    /// The stack's fd for it, or -1.
    pub fd: c_int,
    /// AF_INET or AF_INET6, of the addresses below.
    pub family: c_int,
    pub protocol: c_int,
    /// Linux's TCP state numbers.
    pub state: c_int,
    pub local_ip: [u8; 16],
    pub remote_ip: [u8; 16],
    pub local_port: u16,
    pub remote_port: u16,
    /// Bytes not yet read; a listener: connections waiting for accept().
    pub recv_queue: u32,
    /// Bytes not yet acknowledged; a listener: its backlog.
    pub send_queue: u32,
    /// Congestion control name, NUL-terminated, or empty.
    pub congestion: [c_char; 16],
    /// Bytes of `tcp_info` filled.
    pub tcp_info_len: u32,
    /// `struct tcp_info`, Linux layout.
    pub tcp_info: [u8; SOCKET_TCP_INFO_LEN],
}

impl StackdrillSocket {
    /// An entry with every field zero.
    pub fn zeroed() -> Self {
        StackdrillSocket {
            fd: 0,
            family: 0,
            protocol: 0,
            state: 0,
            local_ip: [0; 16],
            remote_ip: [0; 16],
            local_port: 0,
            remote_port: 0,
            recv_queue: 0,
            send_queue: 0,
            congestion: [0; 16],
            tcp_info_len: 0,
            tcp_info: [0; SOCKET_TCP_INFO_LEN],
        }
    }
}

impl Default for StackdrillSocket {
    fn default() -> Self {
        Self::zeroed()
    }
}

/// `struct stackdrill_dpdk_port`: the DPDK port stackdrill hands a stack with
/// `stackdrill_dpdk_attach` (`--netdev=dpdk`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StackdrillDpdkPort {
    /// A started ethdev port, in the process's one EAL.
    pub port_id: u16,
    /// The rx and tx queue of that port for the stack.
    pub queue_id: u16,
    /// The stack's MAC: frames from the peer are addressed to it.
    pub mac: [u8; 6],
    /// The simulated peer's (and gateway's) MAC.
    pub peer_mac: [u8; 6],
    /// A `struct rte_mempool *` the stack may allocate the mbufs it sends from.
    pub mempool: *mut c_void,
}

/// `packetdrill_interface_init`, the one required symbol.
pub type InterfaceInit = unsafe extern "C" fn(*const c_char, *mut PacketdrillInterface);
/// `stackdrill_network_setup`.
pub type NetworkSetup = unsafe extern "C" fn(*mut c_void, *const StackdrillNetwork) -> c_int;
/// `stackdrill_poll`.
pub type Poll = unsafe extern "C" fn(*mut c_void, *mut i64) -> c_int;
/// `stackdrill_profile_defines`.
pub type ProfileDefines = unsafe extern "C" fn(*const c_char, *mut c_char, size_t) -> c_int;
/// `stackdrill_dpdk_attach`.
pub type DpdkAttach = unsafe extern "C" fn(*mut c_void, *const StackdrillDpdkPort) -> c_int;
/// `stackdrill_sockets`.
pub type Sockets = unsafe extern "C" fn(*mut c_void, *mut StackdrillSocket, c_int) -> c_int;

/// Symbol names, NUL-terminated, as looked up with dlsym.
pub const INIT_SYMBOL: &[u8] = b"packetdrill_interface_init\0";
pub const NETWORK_SETUP_SYMBOL: &[u8] = b"stackdrill_network_setup\0";
pub const POLL_SYMBOL: &[u8] = b"stackdrill_poll\0";
pub const PROFILE_DEFINES_SYMBOL: &[u8] = b"stackdrill_profile_defines\0";
pub const SOCKETS_SYMBOL: &[u8] = b"stackdrill_sockets\0";
pub const DPDK_ATTACH_SYMBOL: &[u8] = b"stackdrill_dpdk_attach\0";

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn interface_table_has_33_pointer_slots_in_packetdrill_order() {
        let ptr = size_of::<*const c_void>();
        assert_eq!(size_of::<PacketdrillInterface>(), 33 * ptr);
        assert_eq!(offset_of!(PacketdrillInterface, free), ptr);
        assert_eq!(offset_of!(PacketdrillInterface, poll), 23 * ptr);
        assert_eq!(offset_of!(PacketdrillInterface, netdev_send), 24 * ptr);
        assert_eq!(offset_of!(PacketdrillInterface, gettimeofday), 27 * ptr);
        assert_eq!(offset_of!(PacketdrillInterface, splice), 32 * ptr);
    }

    #[test]
    fn network_struct_matches_c_layout() {
        // int, 16 bytes, int, 16 bytes, 16 bytes, int: no padding anywhere.
        assert_eq!(
            std::mem::size_of::<StackdrillNetwork>(),
            4 + 16 + 4 + 16 + 16 + 4
        );
    }

    #[test]
    fn dpdk_port_struct_matches_c_layout() {
        // Two shorts and two 6-byte arrays fill 16 bytes; the pointer follows, aligned.
        assert_eq!(offset_of!(StackdrillDpdkPort, port_id), 0);
        assert_eq!(offset_of!(StackdrillDpdkPort, queue_id), 2);
        assert_eq!(offset_of!(StackdrillDpdkPort, mac), 4);
        assert_eq!(offset_of!(StackdrillDpdkPort, peer_mac), 10);
        assert_eq!(offset_of!(StackdrillDpdkPort, mempool), 16);
        assert_eq!(
            size_of::<StackdrillDpdkPort>(),
            16 + size_of::<*const c_void>()
        );
    }

    #[test]
    fn socket_struct_matches_c_layout() {
        assert_eq!(size_of::<StackdrillSocket>(), 336);
        assert_eq!(std::mem::align_of::<StackdrillSocket>(), 4);
        assert_eq!(offset_of!(StackdrillSocket, fd), 0);
        assert_eq!(offset_of!(StackdrillSocket, family), 4);
        assert_eq!(offset_of!(StackdrillSocket, protocol), 8);
        assert_eq!(offset_of!(StackdrillSocket, state), 12);
        assert_eq!(offset_of!(StackdrillSocket, local_ip), 16);
        assert_eq!(offset_of!(StackdrillSocket, remote_ip), 32);
        assert_eq!(offset_of!(StackdrillSocket, local_port), 48);
        assert_eq!(offset_of!(StackdrillSocket, remote_port), 50);
        assert_eq!(offset_of!(StackdrillSocket, recv_queue), 52);
        assert_eq!(offset_of!(StackdrillSocket, send_queue), 56);
        assert_eq!(offset_of!(StackdrillSocket, congestion), 60);
        assert_eq!(offset_of!(StackdrillSocket, tcp_info_len), 76);
        assert_eq!(offset_of!(StackdrillSocket, tcp_info), 80);
    }
}
