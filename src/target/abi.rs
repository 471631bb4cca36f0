//! The shared-object ABI as Rust types: packetdrill's `struct packetdrill_interface` (33
//! pointer-sized fields, in order, bit-compatible with stacks/include/packetdrill.h) and the
//! signatures of stackdrill's optional extension symbols.
//!
//! Every entry is an `Option<extern "C" fn>`: NULL is `None`, so a missing entry is seen before
//! it is called. The variadic `fcntl` and `ioctl` are declared with their one optional argument
//! as a fixed third parameter: on x86-64 and aarch64 Linux a variadic callee reads an `int` or a
//! pointer passed this way exactly as if it had been passed variadically.

use libc::{
    c_char, c_int, c_longlong, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd,
    size_t, sockaddr, socklen_t, ssize_t, timeval,
};

type Ud = *mut c_void;

/// packetdrill's interface table. The library fills it in `packetdrill_interface_init`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct PacketdrillInterface {
    pub userdata: Option<std::ptr::NonNull<c_void>>,
    pub free: Option<unsafe extern "C" fn(Ud)>,
    pub socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(Ud, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub accept: Option<unsafe extern "C" fn(Ud, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    pub connect: Option<unsafe extern "C" fn(Ud, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, size_t) -> ssize_t>,
    pub readv: Option<unsafe extern "C" fn(Ud, c_int, *const iovec, c_int) -> ssize_t>,
    pub recv: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, size_t) -> ssize_t>,
    pub writev: Option<unsafe extern "C" fn(Ud, c_int, *const iovec, c_int) -> ssize_t>,
    pub send: Option<unsafe extern "C" fn(Ud, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const msghdr, c_int) -> ssize_t>,
    pub fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(Ud, c_int, c_ulong, *mut c_int) -> c_int>,
    pub close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub getsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void, *mut socklen_t) -> c_int>,
    pub setsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(Ud, *mut pollfd, nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(Ud, *const c_void, size_t) -> c_int>,
    pub netdev_receive:
        Option<unsafe extern "C" fn(Ud, *mut c_void, *mut size_t, *mut c_longlong) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(Ud, c_uint) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(Ud, *mut timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut epoll_event) -> c_int>,
    pub epoll_wait:
        Option<unsafe extern "C" fn(Ud, c_int, *mut epoll_event, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    pub splice: Option<
        unsafe extern "C" fn(
            Ud,
            c_int,
            *mut libc::loff_t,
            c_int,
            *mut libc::loff_t,
            size_t,
            c_uint,
        ) -> c_int,
    >,
}

/// `packetdrill_interface_init`, the one required symbol.
pub type InterfaceInit = unsafe extern "C" fn(*const c_char, *mut PacketdrillInterface);

/// `struct stackdrill_network`: the test network, for `stackdrill_network_setup`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StackdrillNetwork {
    pub family: c_int,
    pub local_ip: [u8; 16],
    pub prefix_len: c_int,
    pub gateway_ip: [u8; 16],
    pub remote_ip: [u8; 16],
    pub mtu: c_int,
}

pub type NetworkSetup = unsafe extern "C" fn(Ud, *const StackdrillNetwork) -> c_int;
pub type Poll = unsafe extern "C" fn(Ud, *mut c_longlong) -> c_int;
pub type ProfileDefines = unsafe extern "C" fn(*const c_char, *mut c_char, size_t) -> c_int;

/// Extension symbol names, as looked up with dlsym.
pub const NETWORK_SETUP_SYMBOL: &[u8] = b"stackdrill_network_setup\0";
pub const POLL_SYMBOL: &[u8] = b"stackdrill_poll\0";
pub const PROFILE_DEFINES_SYMBOL: &[u8] = b"stackdrill_profile_defines\0";
pub const INIT_SYMBOL: &[u8] = b"packetdrill_interface_init\0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_33_pointers_in_packetdrill_order() {
        let ptr = std::mem::size_of::<usize>();
        assert_eq!(std::mem::size_of::<PacketdrillInterface>(), 33 * ptr);
        let offset = |f: usize| f * ptr;
        assert_eq!(std::mem::offset_of!(PacketdrillInterface, free), offset(1));
        assert_eq!(std::mem::offset_of!(PacketdrillInterface, poll), offset(23));
        assert_eq!(
            std::mem::offset_of!(PacketdrillInterface, netdev_send),
            offset(24)
        );
        assert_eq!(
            std::mem::offset_of!(PacketdrillInterface, gettimeofday),
            offset(27)
        );
        assert_eq!(
            std::mem::offset_of!(PacketdrillInterface, splice),
            offset(32)
        );
    }

    #[test]
    fn the_network_struct_matches_the_header() {
        // int, 16 bytes, int, 16, 16, int: no padding in C either.
        assert_eq!(
            std::mem::size_of::<StackdrillNetwork>(),
            4 + 16 + 4 + 16 + 16 + 4
        );
        assert_eq!(std::mem::offset_of!(StackdrillNetwork, gateway_ip), 24);
        assert_eq!(std::mem::offset_of!(StackdrillNetwork, mtu), 56);
    }
}
