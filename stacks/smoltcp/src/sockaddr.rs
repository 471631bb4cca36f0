//! Socket addresses across the C boundary: reading `sockaddr_in`/`sockaddr_in6` into smoltcp
//! endpoints and writing them back, including IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) so
//! AF_INET6 sockets work over an IPv4 wire.

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};

use libc::{c_int, sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, socklen_t};
use smoltcp::wire::{IpAddress, IpEndpoint};

use crate::errno::{fail, SysResult};

/// Linux's SIN6_LEN_RFC2133: the shortest `sockaddr_in6` it accepts.
const MIN_SOCKADDR_IN6_LEN: usize = 24;

/// The address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketDomain {
    Inet,
    Inet6,
}

impl SocketDomain {
    pub fn from_c(domain: c_int) -> Option<Self> {
        match domain {
            libc::AF_INET => Some(SocketDomain::Inet),
            libc::AF_INET6 => Some(SocketDomain::Inet6),
            _ => None,
        }
    }

    pub fn to_c(self) -> c_int {
        match self {
            SocketDomain::Inet => libc::AF_INET,
            SocketDomain::Inet6 => libc::AF_INET6,
        }
    }
}

/// A socket address as given to bind/connect/sendto.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketAddress {
    /// `AF_UNSPEC` (connect: dissolve the association).
    Unspecified,
    /// An address and port; `addr` is `None` for the wildcard address.
    Endpoint { addr: Option<IpAddress>, port: u16 },
}

/// Whether an AF_INET6 socket may be given a plain `sockaddr_in` (connect and sendto accept
/// it, bind does not).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ipv4OnInet6 {
    Accept,
    Reject,
}

fn from_mapped_or_native(v6: Ipv6Addr) -> Option<IpAddress> {
    if v6.is_unspecified() {
        None
    } else if let Some(v4) = v6.to_ipv4_mapped() {
        Some(IpAddress::Ipv4(v4))
    } else {
        Some(IpAddress::Ipv6(v6))
    }
}

fn from_v4(v4: Ipv4Addr) -> Option<IpAddress> {
    (!v4.is_unspecified()).then_some(IpAddress::Ipv4(v4))
}

/// Reads the address at `addr` (`len` bytes) for a socket of `domain`.
///
/// # Safety
/// `addr` must be NULL or point to `len` readable bytes.
pub unsafe fn read_socket_address(
    domain: SocketDomain,
    addr: *const sockaddr,
    len: socklen_t,
    ipv4_on_inet6: Ipv4OnInet6,
) -> SysResult<SocketAddress> {
    if addr.is_null() {
        return fail(libc::EFAULT);
    }
    let len = len as usize;
    if len < size_of::<sa_family_t>() {
        return fail(libc::EINVAL);
    }
    // SAFETY: the caller guarantees `len` readable bytes, and len >= sizeof(sa_family_t).
    let family = unsafe { std::ptr::read_unaligned(addr as *const sa_family_t) };
    match c_int::from(family) {
        libc::AF_UNSPEC => Ok(SocketAddress::Unspecified),
        libc::AF_INET
            if domain == SocketDomain::Inet
                || (domain == SocketDomain::Inet6 && ipv4_on_inet6 == Ipv4OnInet6::Accept) =>
        {
            if len < size_of::<sockaddr_in>() {
                return fail(libc::EINVAL);
            }
            // SAFETY: len >= sizeof(sockaddr_in) readable bytes, read without alignment needs.
            let sin = unsafe { std::ptr::read_unaligned(addr as *const sockaddr_in) };
            Ok(SocketAddress::Endpoint {
                addr: from_v4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                port: u16::from_be(sin.sin_port),
            })
        }
        libc::AF_INET6 if domain == SocketDomain::Inet6 => {
            if len < MIN_SOCKADDR_IN6_LEN {
                return fail(libc::EINVAL);
            }
            let mut sin6 = empty_sockaddr_in6();
            // SAFETY: at least MIN_SOCKADDR_IN6_LEN (<= sizeof(sockaddr_in6)) bytes are readable
            // at `addr`, and `sin6` is a distinct local of at least that size.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    addr as *const u8,
                    &mut sin6 as *mut sockaddr_in6 as *mut u8,
                    len.min(size_of::<sockaddr_in6>()),
                )
            };
            Ok(SocketAddress::Endpoint {
                addr: from_mapped_or_native(Ipv6Addr::from(sin6.sin6_addr.s6_addr)),
                port: u16::from_be(sin6.sin6_port),
            })
        }
        _ => fail(libc::EAFNOSUPPORT),
    }
}

fn empty_sockaddr_in6() -> sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// The bytes of `endpoint` as a socket of `domain` reports it.
pub fn encode_socket_address(domain: SocketDomain, endpoint: IpEndpoint) -> Vec<u8> {
    match (domain, endpoint.addr) {
        (SocketDomain::Inet, IpAddress::Ipv4(v4)) => {
            // SAFETY: sockaddr_in is plain old data; all-zero bytes are a valid value.
            let mut sin: sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as sa_family_t;
            sin.sin_port = endpoint.port.to_be();
            sin.sin_addr.s_addr = u32::from(v4).to_be();
            as_bytes(&sin)
        }
        (_, addr) => {
            let v6 = match addr {
                IpAddress::Ipv4(v4) => v4.to_ipv6_mapped(),
                IpAddress::Ipv6(v6) => v6,
            };
            let mut sin6 = empty_sockaddr_in6();
            sin6.sin6_family = libc::AF_INET6 as sa_family_t;
            sin6.sin6_port = endpoint.port.to_be();
            sin6.sin6_addr.s6_addr = v6.octets();
            as_bytes(&sin6)
        }
    }
}

fn as_bytes<T>(value: &T) -> Vec<u8> {
    // SAFETY: `value` is a live reference to a plain-old-data struct of size_of::<T>() bytes
    // (sockaddr_in/sockaddr_in6, fully initialised by zeroing first).
    unsafe { std::slice::from_raw_parts(value as *const T as *const u8, size_of::<T>()).to_vec() }
}

/// Writes `endpoint` to a caller's `(addr, addrlen)` pair like the kernel: copies at most
/// `*addrlen` bytes and sets `*addrlen` to the full length. Does nothing when either is NULL.
///
/// # Safety
/// `addr` must be NULL or point to `*addrlen` writable bytes; `addrlen` must be NULL or valid.
pub unsafe fn write_socket_address(
    domain: SocketDomain,
    endpoint: IpEndpoint,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) {
    if addr.is_null() || addrlen.is_null() {
        return;
    }
    let bytes = encode_socket_address(domain, endpoint);
    // SAFETY: `addrlen` is non-null and valid per the caller.
    let room = unsafe { *addrlen } as usize;
    // SAFETY: `addr` has `room` writable bytes per the caller; we copy at most that many.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, room.min(bytes.len()));
        *addrlen = bytes.len() as socklen_t;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(domain: SocketDomain, bytes: &[u8]) -> SysResult<SocketAddress> {
        // SAFETY: the slice is readable for its length.
        unsafe {
            read_socket_address(
                domain,
                bytes.as_ptr() as *const sockaddr,
                bytes.len() as socklen_t,
                Ipv4OnInet6::Reject,
            )
        }
    }

    #[test]
    fn ipv4_round_trip() {
        let endpoint = IpEndpoint::new(IpAddress::v4(192, 0, 2, 1), 8080);
        let bytes = encode_socket_address(SocketDomain::Inet, endpoint);
        assert_eq!(bytes.len(), size_of::<sockaddr_in>());
        assert_eq!(
            read(SocketDomain::Inet, &bytes),
            Ok(SocketAddress::Endpoint {
                addr: Some(endpoint.addr),
                port: 8080
            })
        );
    }

    #[test]
    fn mapped_addresses_become_ipv4() {
        let endpoint = IpEndpoint::new(IpAddress::v4(192, 0, 2, 1), 8080);
        let bytes = encode_socket_address(SocketDomain::Inet6, endpoint);
        assert_eq!(bytes.len(), size_of::<sockaddr_in6>());
        assert_eq!(
            &bytes[8..24],
            &Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets()
        );
        assert_eq!(
            read(SocketDomain::Inet6, &bytes),
            Ok(SocketAddress::Endpoint {
                addr: Some(endpoint.addr),
                port: 8080
            })
        );
    }

    #[test]
    fn wrong_family_and_short_lengths_fail_like_linux() {
        let v4 = encode_socket_address(
            SocketDomain::Inet,
            IpEndpoint::new(IpAddress::v4(1, 2, 3, 4), 1),
        );
        assert_eq!(read(SocketDomain::Inet6, &v4), fail(libc::EAFNOSUPPORT));
        assert_eq!(read(SocketDomain::Inet, &v4[..8]), fail(libc::EINVAL));
    }
}
