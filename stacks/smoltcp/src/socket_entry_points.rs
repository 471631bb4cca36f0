//! The socket-call entries of the `packetdrill_interface` table (`socket` … `epoll_wait`):
//! checking and converting the C arguments (pointers, lengths, iovecs, msghdr), running the
//! call on the [`Adapter`], and returning the libc convention: the result, or -1 with the
//! thread's errno set.

use std::ffi::c_void;

use libc::{
    c_int, c_ulong, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, socklen_t,
    ssize_t,
};

use crate::adapter::{without_unwinding, Adapter};
use crate::errno::{fail, set_thread_errno, Errno, SysResult};
use crate::sockaddr::{read_socket_address, write_socket_address, Ipv4OnInet6, SocketDomain};
use crate::stack::Attempt;
use crate::tcp_socket::{ConnectStart, FdFlags};
use crate::udp_socket::Received;

/// Linux's UIO_MAXIOV.
const MAX_IOVECS: usize = 1024;
/// Most pollfds one poll call takes (Linux's default RLIMIT_NOFILE).
const MAX_POLL_FDS: usize = 1024;

/// The adapter behind `userdata`.
///
/// # Safety
/// `userdata` must be NULL or the pointer `packetdrill_interface_init` stored in the table,
/// not yet passed to `free`.
pub(crate) unsafe fn adapter_from<'a>(userdata: *mut c_void) -> Option<&'a Adapter> {
    // SAFETY: per the contract above, a non-null `userdata` is a live Box<Adapter> pointer.
    unsafe { (userdata as *const Adapter).as_ref() }
}

/// Runs a socket entry point: finds the adapter, catches panics, and converts the result to
/// the libc convention (`-1` and errno on failure).
fn socket_entry<T: TryInto<R>, R: From<i8>>(
    name: &str,
    userdata: *mut c_void,
    body: impl FnOnce(&Adapter) -> SysResult<T>,
) -> R {
    let result = without_unwinding(name, fail(libc::EIO), || {
        // SAFETY: stackdrill passes back the userdata this library stored in the table.
        match unsafe { adapter_from(userdata) } {
            Some(adapter) => body(adapter),
            None => fail(libc::EINVAL),
        }
    });
    match result.map(|value| value.try_into()) {
        Ok(Ok(value)) => value,
        Ok(Err(_)) => {
            set_thread_errno(Errno(libc::EOVERFLOW));
            R::from(-1)
        }
        Err(errno) => {
            set_thread_errno(errno);
            R::from(-1)
        }
    }
}

/// A C buffer as a mutable slice; NULL (or a zero length) gives a scratch buffer of that
/// length, since stackdrill passes NULL when the script ignores the contents.
///
/// # Safety
/// `buf` must be NULL or point to `len` writable bytes that stay valid while the result lives.
unsafe fn buffer_mut(buf: *mut c_void, len: usize, scratch: &mut Vec<u8>) -> &mut [u8] {
    if buf.is_null() || len == 0 {
        scratch.resize(len, 0);
        scratch.as_mut_slice()
    } else {
        // SAFETY: non-null and `len` writable bytes per the contract above.
        unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) }
    }
}

/// A copy of a C buffer; NULL reads as zeros (packetdrill's payloads are zeros).
///
/// # Safety
/// `buf` must be NULL or point to `len` readable bytes.
unsafe fn buffer_copy(buf: *const c_void, len: usize) -> Vec<u8> {
    if buf.is_null() || len == 0 {
        vec![0u8; len]
    } else {
        // SAFETY: non-null and `len` readable bytes per the contract above.
        unsafe { std::slice::from_raw_parts(buf as *const u8, len) }.to_vec()
    }
}

/// The iovec array as a slice.
///
/// # Safety
/// `iov` must be NULL or point to `count` iovecs.
unsafe fn iovecs<'a>(iov: *const iovec, count: c_int) -> SysResult<&'a [iovec]> {
    let count = usize::try_from(count).map_err(|_| Errno(libc::EINVAL))?;
    if count > MAX_IOVECS {
        return fail(libc::EINVAL);
    }
    if count == 0 {
        return Ok(&[]);
    }
    if iov.is_null() {
        return fail(libc::EFAULT);
    }
    // SAFETY: non-null and `count` iovecs per the contract above.
    Ok(unsafe { std::slice::from_raw_parts(iov, count) })
}

/// Scatter buffers for the iovecs (NULL bases get scratch space).
///
/// # Safety
/// Each iovec must describe NULL or `iov_len` writable bytes valid for `'a`.
unsafe fn iovec_buffers<'a>(iov: &[iovec], scratch: &'a mut [Vec<u8>]) -> Vec<&'a mut [u8]> {
    iov.iter()
        .zip(scratch.iter_mut())
        // SAFETY: each iovec describes NULL or writable memory per the contract above.
        .map(|(entry, scratch)| unsafe { buffer_mut(entry.iov_base, entry.iov_len, scratch) })
        .collect()
}

/// The concatenated bytes of the iovecs.
///
/// # Safety
/// Each iovec must describe NULL or `iov_len` readable bytes.
unsafe fn gather(iov: &[iovec]) -> Vec<u8> {
    iov.iter()
        // SAFETY: each iovec describes NULL or readable memory per the contract above.
        .flat_map(|entry| unsafe { buffer_copy(entry.iov_base, entry.iov_len) })
        .collect()
}

/// Receives into `dst`; also returns the socket's family, to report the source address.
fn blocking_recv(
    adapter: &Adapter,
    name: &str,
    fd: c_int,
    dst: &mut [&mut [u8]],
    flags: c_int,
) -> SysResult<(Received, SocketDomain)> {
    adapter.blocking_call(name, |stack, started| {
        match stack.recv(fd, dst, flags, started) {
            Attempt::Done(Ok(received)) => {
                Attempt::Done(stack.domain_of(fd).map(|domain| (received, domain)))
            }
            Attempt::Done(Err(errno)) => Attempt::Done(Err(errno)),
            Attempt::Wait(deadline) => Attempt::Wait(deadline),
        }
    })
}

/// Sends `data` to `dest` (a C sockaddr, or NULL).
///
/// # Safety
/// `dest` must be NULL or point to `dest_len` readable bytes.
unsafe fn blocking_send(
    adapter: &Adapter,
    name: &str,
    fd: c_int,
    data: &[u8],
    flags: c_int,
    dest: *const sockaddr,
    dest_len: socklen_t,
) -> SysResult<usize> {
    let mut sent = 0;
    let mut destination = None;
    let mut first = true;
    adapter.blocking_call(name, |stack, started| {
        if first {
            first = false;
            if !dest.is_null() {
                let decoded = stack.domain_of(fd).and_then(|domain| {
                    // SAFETY: `dest` is non-null with `dest_len` readable bytes per the
                    // contract of this function.
                    unsafe { read_socket_address(domain, dest, dest_len, Ipv4OnInet6::Accept) }
                });
                match decoded {
                    Ok(address) => destination = Some(address),
                    Err(errno) => return Attempt::Done(Err(errno)),
                }
            }
        }
        stack.send(fd, data, &mut sent, destination, flags, started)
    })
}

/// Writes a received datagram's source address (or a zero length for streams).
///
/// # Safety
/// `addr`/`addrlen` as for [`write_socket_address`].
unsafe fn report_source(
    domain: SocketDomain,
    received: &Received,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) {
    if addrlen.is_null() {
        return;
    }
    match received.from {
        // SAFETY: forwarded contract of this function.
        Some(from) => unsafe { write_socket_address(domain, from, addr, addrlen) },
        // SAFETY: `addrlen` is non-null and valid per the contract.
        None => unsafe { *addrlen = 0 },
    }
}

pub(crate) unsafe extern "C" fn socket(
    userdata: *mut c_void,
    domain: c_int,
    kind: c_int,
    protocol: c_int,
) -> c_int {
    socket_entry("socket", userdata, |adapter| {
        adapter.call("socket", |stack| stack.socket(domain, kind, protocol))
    })
}

pub(crate) unsafe extern "C" fn bind(
    userdata: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    socket_entry("bind", userdata, |adapter| {
        adapter.call("bind", |stack| {
            let domain = stack.domain_of(fd)?;
            // SAFETY: stackdrill passes a sockaddr of `addrlen` bytes (or NULL, refused).
            let address =
                unsafe { read_socket_address(domain, addr, addrlen, Ipv4OnInet6::Reject) }?;
            stack.bind(fd, address).map(|()| 0)
        })
    })
}

pub(crate) unsafe extern "C" fn listen(userdata: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    socket_entry("listen", userdata, |adapter| {
        adapter.call("listen", |stack| stack.listen(fd, backlog).map(|()| 0))
    })
}

pub(crate) unsafe extern "C" fn accept(
    userdata: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> c_int {
    socket_entry("accept", userdata, |adapter| {
        let (new_fd, domain, peer) =
            adapter.blocking_call("accept", |stack, started| stack.tcp_accept(fd, started))?;
        // SAFETY: stackdrill passes a sockaddr_storage and its size (or NULLs).
        unsafe { write_socket_address(domain, peer, addr, addrlen) };
        Ok(new_fd)
    })
}

pub(crate) unsafe extern "C" fn connect(
    userdata: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> c_int {
    socket_entry("connect", userdata, |adapter| {
        let mut first = true;
        adapter.blocking_call("connect", |stack, started| {
            if first {
                first = false;
                let start = stack.domain_of(fd).and_then(|domain| {
                    // SAFETY: stackdrill passes a sockaddr of `addrlen` bytes (or NULL).
                    let address =
                        unsafe { read_socket_address(domain, addr, addrlen, Ipv4OnInet6::Accept) }?;
                    stack.connect_start(fd, address)
                });
                match start {
                    Err(errno) => return Attempt::Done(Err(errno)),
                    Ok(ConnectStart::Done) => return Attempt::Done(Ok(0)),
                    Ok(ConnectStart::InProgress { blocking: false }) => {
                        return Attempt::Done(fail(libc::EINPROGRESS))
                    }
                    Ok(ConnectStart::InProgress { blocking: true }) => {}
                }
            }
            stack.tcp_connect_wait(fd, started).map(|()| 0)
        })
    })
}

pub(crate) unsafe extern "C" fn read(
    userdata: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
) -> ssize_t {
    // SAFETY: same contract as recv with no flags.
    unsafe { recv(userdata, fd, buf, count, 0) }
}

pub(crate) unsafe extern "C" fn recv(
    userdata: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    socket_entry("recv", userdata, |adapter| {
        let mut scratch = Vec::new();
        // SAFETY: stackdrill passes a buffer of `len` writable bytes, or NULL.
        let buffer = unsafe { buffer_mut(buf, len, &mut scratch) };
        blocking_recv(adapter, "recv", fd, &mut [buffer], flags).map(|(received, _)| received.len)
    })
}

pub(crate) unsafe extern "C" fn recvfrom(
    userdata: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    src_addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    socket_entry("recvfrom", userdata, |adapter| {
        let mut scratch = Vec::new();
        // SAFETY: stackdrill passes a buffer of `len` writable bytes, or NULL.
        let buffer = unsafe { buffer_mut(buf, len, &mut scratch) };
        let (received, domain) = blocking_recv(adapter, "recvfrom", fd, &mut [buffer], flags)?;
        // SAFETY: stackdrill passes a sockaddr buffer and its length (or NULLs).
        unsafe { report_source(domain, &received, src_addr, addrlen) };
        Ok(received.len)
    })
}

pub(crate) unsafe extern "C" fn readv(
    userdata: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
) -> ssize_t {
    socket_entry("readv", userdata, |adapter| {
        // SAFETY: stackdrill passes `iovcnt` iovecs of writable buffers.
        let iov = unsafe { iovecs(iov, iovcnt) }?;
        let mut scratch = vec![Vec::new(); iov.len()];
        // SAFETY: as above.
        let mut buffers = unsafe { iovec_buffers(iov, &mut scratch) };
        blocking_recv(adapter, "readv", fd, &mut buffers, 0).map(|(received, _)| received.len)
    })
}

pub(crate) unsafe extern "C" fn recvmsg(
    userdata: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    socket_entry("recvmsg", userdata, |adapter| {
        // SAFETY: stackdrill passes a valid msghdr (or NULL, refused).
        let msg = unsafe { msg.as_mut() }.ok_or(Errno(libc::EFAULT))?;
        let iovcnt = c_int::try_from(msg.msg_iovlen).map_err(|_| Errno(libc::EMSGSIZE))?;
        // SAFETY: the msghdr's iovecs describe writable buffers.
        let iov = unsafe { iovecs(msg.msg_iov, iovcnt) }?;
        let mut scratch = vec![Vec::new(); iov.len()];
        // SAFETY: as above.
        let mut buffers = unsafe { iovec_buffers(iov, &mut scratch) };
        let (received, domain) = blocking_recv(adapter, "recvmsg", fd, &mut buffers, flags)?;
        let name = msg.msg_name as *mut sockaddr;
        let mut name_len = msg.msg_namelen;
        // SAFETY: msg_name has msg_namelen bytes (or is NULL); name_len is a local.
        unsafe { report_source(domain, &received, name, &mut name_len) };
        msg.msg_namelen = if name.is_null() { 0 } else { name_len };
        msg.msg_controllen = 0;
        msg.msg_flags = if received.truncated {
            libc::MSG_TRUNC
        } else {
            0
        };
        Ok(received.len)
    })
}

pub(crate) unsafe extern "C" fn write(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    count: size_t,
) -> ssize_t {
    // SAFETY: same contract as send with no flags.
    unsafe { send(userdata, fd, buf, count, 0) }
}

pub(crate) unsafe extern "C" fn send(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    // SAFETY: same contract as sendto without a destination.
    unsafe { sendto(userdata, fd, buf, len, flags, std::ptr::null(), 0) }
}

pub(crate) unsafe extern "C" fn sendto(
    userdata: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    dest_addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    socket_entry("sendto", userdata, |adapter| {
        // Copied before anything else: stackdrill frees the buffer when the call returns.
        // SAFETY: stackdrill passes `len` readable bytes, or NULL.
        let data = unsafe { buffer_copy(buf, len) };
        // SAFETY: stackdrill passes a sockaddr of `addrlen` bytes, or NULL.
        unsafe { blocking_send(adapter, "send", fd, &data, flags, dest_addr, addrlen) }
    })
}

pub(crate) unsafe extern "C" fn writev(
    userdata: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    iovcnt: c_int,
) -> ssize_t {
    socket_entry("writev", userdata, |adapter| {
        // SAFETY: stackdrill passes `iovcnt` iovecs of readable buffers.
        let data = unsafe { gather(iovecs(iov, iovcnt)?) };
        // SAFETY: no destination.
        unsafe { blocking_send(adapter, "writev", fd, &data, 0, std::ptr::null(), 0) }
    })
}

pub(crate) unsafe extern "C" fn sendmsg(
    userdata: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    socket_entry("sendmsg", userdata, |adapter| {
        // SAFETY: stackdrill passes a valid msghdr (or NULL, refused).
        let msg = unsafe { msg.as_ref() }.ok_or(Errno(libc::EFAULT))?;
        let iovcnt = c_int::try_from(msg.msg_iovlen).map_err(|_| Errno(libc::EMSGSIZE))?;
        // SAFETY: the msghdr's iovecs describe readable buffers.
        let data = unsafe { gather(iovecs(msg.msg_iov, iovcnt)?) };
        let dest = msg.msg_name as *const sockaddr;
        // SAFETY: msg_name has msg_namelen bytes, or is NULL.
        unsafe { blocking_send(adapter, "sendmsg", fd, &data, flags, dest, msg.msg_namelen) }
    })
}

pub(crate) unsafe extern "C" fn fcntl(
    userdata: *mut c_void,
    fd: c_int,
    cmd: c_int,
    arg: c_int,
) -> c_int {
    socket_entry("fcntl", userdata, |adapter| {
        adapter.call("fcntl", |stack| stack.fcntl(fd, cmd, arg))
    })
}

pub(crate) unsafe extern "C" fn ioctl(
    userdata: *mut c_void,
    fd: c_int,
    request: c_ulong,
    arg: *mut c_int,
) -> c_int {
    socket_entry("ioctl", userdata, |adapter| {
        // Only FIONBIO reads its argument; the pointer is read only when non-null.
        let input = if arg.is_null() || request != libc::FIONBIO {
            None
        } else {
            // SAFETY: stackdrill passes NULL or a pointer to an int.
            Some(unsafe { *arg })
        };
        let output = adapter.call("ioctl", |stack| stack.ioctl(fd, request, input))?;
        if let Some(value) = output {
            if arg.is_null() {
                return fail(libc::EFAULT);
            }
            // SAFETY: non-null pointer to an int, per stackdrill.
            unsafe { *arg = value };
        }
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn close(userdata: *mut c_void, fd: c_int) -> c_int {
    socket_entry("close", userdata, |adapter| {
        adapter.call("close", |stack| stack.close(fd).map(|()| 0))
    })
}

pub(crate) unsafe extern "C" fn shutdown(userdata: *mut c_void, fd: c_int, how: c_int) -> c_int {
    socket_entry("shutdown", userdata, |adapter| {
        adapter.call("shutdown", |stack| stack.shutdown(fd, how).map(|()| 0))
    })
}

pub(crate) unsafe extern "C" fn getsockopt(
    userdata: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *mut c_void,
    optlen: *mut socklen_t,
) -> c_int {
    socket_entry("getsockopt", userdata, |adapter| {
        if optlen.is_null() {
            return fail(libc::EFAULT);
        }
        // SAFETY: non-null pointer to a socklen_t, per stackdrill.
        let room = c_int::try_from(unsafe { *optlen }).map_err(|_| Errno(libc::EINVAL))?;
        let value = adapter.call("getsockopt", |stack| stack.getsockopt(fd, level, name))?;
        let copied = value.len().min(room as usize);
        if copied > 0 {
            if optval.is_null() {
                return fail(libc::EFAULT);
            }
            // SAFETY: optval has *optlen (>= copied) writable bytes, per stackdrill.
            unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), optval as *mut u8, copied) };
        }
        // SAFETY: non-null pointer to a socklen_t.
        unsafe { *optlen = copied as socklen_t };
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn setsockopt(
    userdata: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    optval: *const c_void,
    optlen: socklen_t,
) -> c_int {
    socket_entry("setsockopt", userdata, |adapter| {
        let len = optlen as usize;
        if optval.is_null() && len > 0 {
            return fail(libc::EFAULT);
        }
        // SAFETY: optval has optlen readable bytes (checked non-null when optlen > 0).
        let value = unsafe { buffer_copy(optval, len) };
        adapter.call("setsockopt", |stack| {
            stack.setsockopt(fd, level, name, &value).map(|()| 0)
        })
    })
}

pub(crate) unsafe extern "C" fn poll(
    userdata: *mut c_void,
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
) -> c_int {
    socket_entry("poll", userdata, |adapter| {
        let count = usize::try_from(nfds).map_err(|_| Errno(libc::EINVAL))?;
        if count > MAX_POLL_FDS {
            return fail(libc::EINVAL);
        }
        let entries: &mut [pollfd] = if count == 0 {
            &mut []
        } else if fds.is_null() {
            return fail(libc::EFAULT);
        } else {
            // SAFETY: stackdrill passes `nfds` pollfds.
            unsafe { std::slice::from_raw_parts_mut(fds, count) }
        };
        adapter.blocking_call("poll", |stack, started| {
            stack.poll(entries, timeout, started)
        })
    })
}

pub(crate) unsafe extern "C" fn epoll_create(userdata: *mut c_void, size: c_int) -> c_int {
    socket_entry("epoll_create", userdata, |adapter| {
        if size <= 0 {
            return fail(libc::EINVAL);
        }
        adapter.call("epoll_create", |stack| {
            Ok(stack.epoll_create(FdFlags::default()))
        })
    })
}

pub(crate) unsafe extern "C" fn epoll_ctl(
    userdata: *mut c_void,
    epfd: c_int,
    op: c_int,
    fd: c_int,
    event: *mut epoll_event,
) -> c_int {
    socket_entry("epoll_ctl", userdata, |adapter| {
        let event = if event.is_null() {
            None
        } else {
            // SAFETY: non-null pointer to an epoll_event (packed on x86-64: read unaligned).
            let event = unsafe { std::ptr::read_unaligned(event) };
            Some((event.events, event.u64))
        };
        adapter.call("epoll_ctl", |stack| {
            stack.epoll_ctl(epfd, op, fd, event).map(|()| 0)
        })
    })
}

pub(crate) unsafe extern "C" fn epoll_wait(
    userdata: *mut c_void,
    epfd: c_int,
    events: *mut epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    socket_entry("epoll_wait", userdata, |adapter| {
        let max_events = usize::try_from(maxevents)
            .ok()
            .filter(|&max| max > 0)
            .ok_or(Errno(libc::EINVAL))?;
        if events.is_null() {
            return fail(libc::EFAULT);
        }
        let reports = adapter.blocking_call("epoll_wait", |stack, started| {
            stack.epoll_wait(epfd, max_events, timeout, started)
        })?;
        for (index, report) in reports.iter().enumerate() {
            let event = epoll_event {
                events: report.events,
                u64: report.data,
            };
            // SAFETY: `events` has `maxevents` entries and index < reports.len() <= maxevents;
            // write_unaligned copes with the packed layout.
            unsafe { std::ptr::write_unaligned(events.add(index), event) };
        }
        Ok(reports.len() as c_int)
    })
}
