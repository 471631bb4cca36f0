//! The C structures this library exchanges with stackdrill (and packetdrill), laid out field for
//! field like `stacks/include/packetdrill.h`: the 33-slot `struct packetdrill_interface` and the
//! `struct stackdrill_network` extension.

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, loff_t, msghdr, nfds_t, pollfd, size_t,
    sockaddr, socklen_t, ssize_t, timeval, useconds_t,
};

/// `struct packetdrill_interface`. A `None` entry is a NULL pointer: "not implemented".
///
/// `fcntl` and `ioctl` are variadic in C. On the System V x86-64 and AArch64 Linux ABIs a
/// variadic caller passes its arguments where a fixed-argument callee reads them, so they are
/// declared here with their one optional argument as a fixed parameter, which the library only
/// reads for the commands that take it.
#[repr(C)]
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
        ) -> ssize_t,
    >,
}

/// `struct stackdrill_network`: the test network, addresses in network byte order (IPv4 in the
/// first four bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct StackdrillNetwork {
    pub family: c_int,
    pub local_ip: [u8; 16],
    pub prefix_len: c_int,
    pub gateway_ip: [u8; 16],
    pub remote_ip: [u8; 16],
    pub mtu: c_int,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_table_has_33_pointer_slots() {
        assert_eq!(
            std::mem::size_of::<PacketdrillInterface>(),
            33 * std::mem::size_of::<*const c_void>()
        );
    }

    #[test]
    fn network_struct_matches_c_layout() {
        // int, 16 bytes, int, 16 bytes, 16 bytes, int: no padding anywhere.
        assert_eq!(
            std::mem::size_of::<StackdrillNetwork>(),
            4 + 16 + 4 + 16 + 16 + 4
        );
    }
}
