//! The Linux kernel as the `Target`: every call is the libc call of the same name.

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t,
};

use crate::sut::target::{from_libc, SysResult, Target};

/// The kernel's profile of script defines: the values portable scripts (tests/portable/) name
/// where stacks legitimately differ; docs/stacks.md lists each stack's.
pub const PROFILE_DEFINES: &[(&str, &str)] = &[
    // Linux probes a zero window with snd_una - 1 and no data (tcp_xmit_probe_skb).
    ("ZERO_WINDOW_PROBE_START", "0"),
    ("ZERO_WINDOW_PROBE_END", "0"),
    ("ZERO_WINDOW_PROBE_LEN", "0"),
    // A new connection's congestion window, in segments (RFC 6928's IW10).
    ("INITIAL_CWND", "10"),
    // Keep-alive probes are the same kind of segment.
    ("KEEPALIVE_PROBE_END", "0"),
    ("KEEPALIVE_PROBE_LEN", "0"),
    // Recent kernels retry the first SYNs at linear intervals unless this is 0; the run's
    // private namespace keeps the change to itself.
    (
        "EXPONENTIAL_SYN_BACKOFF",
        "`sysctl -q -e net.ipv4.tcp_syn_linear_timeouts=0`",
    ),
];

/// The running kernel, through libc.
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelTarget;

// SAFETY: every method forwards its arguments unchanged to the libc function of the same name;
// the caller guarantees the pointers are valid for that call (see `Target`).
unsafe impl Target for KernelTarget {
    fn name(&self) -> String {
        "kernel".to_string()
    }

    unsafe fn socket(&mut self, domain: c_int, ty: c_int, protocol: c_int) -> SysResult {
        from_libc(libc::socket(domain, ty, protocol) as i64)
    }

    unsafe fn bind(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
        from_libc(libc::bind(fd, addr, len) as i64)
    }

    unsafe fn listen(&mut self, fd: c_int, backlog: c_int) -> SysResult {
        from_libc(libc::listen(fd, backlog) as i64)
    }

    unsafe fn accept(&mut self, fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> SysResult {
        from_libc(libc::accept(fd, addr, len) as i64)
    }

    unsafe fn connect(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
        from_libc(libc::connect(fd, addr, len) as i64)
    }

    unsafe fn read(&mut self, fd: c_int, buf: *mut c_void, count: size_t) -> SysResult {
        from_libc(libc::read(fd, buf, count) as i64)
    }

    unsafe fn readv(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult {
        from_libc(libc::readv(fd, iov, iovcnt) as i64)
    }

    unsafe fn recv(&mut self, fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> SysResult {
        from_libc(libc::recv(fd, buf, len, flags) as i64)
    }

    unsafe fn recvfrom(
        &mut self,
        fd: c_int,
        buf: *mut c_void,
        len: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        addrlen: *mut socklen_t,
    ) -> SysResult {
        from_libc(libc::recvfrom(fd, buf, len, flags, addr, addrlen) as i64)
    }

    unsafe fn recvmsg(&mut self, fd: c_int, msg: *mut msghdr, flags: c_int) -> SysResult {
        from_libc(libc::recvmsg(fd, msg, flags) as i64)
    }

    unsafe fn write(&mut self, fd: c_int, buf: *const c_void, count: size_t) -> SysResult {
        from_libc(libc::write(fd, buf, count) as i64)
    }

    unsafe fn writev(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult {
        from_libc(libc::writev(fd, iov, iovcnt) as i64)
    }

    unsafe fn send(
        &mut self,
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
    ) -> SysResult {
        from_libc(libc::send(fd, buf, len, flags) as i64)
    }

    unsafe fn sendto(
        &mut self,
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
        addr: *const sockaddr,
        addrlen: socklen_t,
    ) -> SysResult {
        from_libc(libc::sendto(fd, buf, len, flags, addr, addrlen) as i64)
    }

    unsafe fn sendmsg(&mut self, fd: c_int, msg: *const msghdr, flags: c_int) -> SysResult {
        from_libc(libc::sendmsg(fd, msg, flags) as i64)
    }

    unsafe fn fcntl(&mut self, fd: c_int, cmd: c_int, arg: Option<c_int>) -> SysResult {
        let ret = match arg {
            None => libc::fcntl(fd, cmd),
            Some(arg) => libc::fcntl(fd, cmd, arg),
        };
        from_libc(ret as i64)
    }

    unsafe fn ioctl(&mut self, fd: c_int, request: c_ulong, arg: *mut c_int) -> SysResult {
        let ret = if arg.is_null() {
            libc::ioctl(fd, request)
        } else {
            libc::ioctl(fd, request, arg)
        };
        from_libc(ret as i64)
    }

    unsafe fn close(&mut self, fd: c_int) -> SysResult {
        from_libc(libc::close(fd) as i64)
    }

    unsafe fn shutdown(&mut self, fd: c_int, how: c_int) -> SysResult {
        from_libc(libc::shutdown(fd, how) as i64)
    }

    unsafe fn getsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> SysResult {
        from_libc(libc::getsockopt(fd, level, name, value, len) as i64)
    }

    unsafe fn setsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> SysResult {
        from_libc(libc::setsockopt(fd, level, name, value, len) as i64)
    }

    unsafe fn poll(&mut self, fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> SysResult {
        from_libc(libc::poll(fds, nfds, timeout) as i64)
    }

    unsafe fn epoll_create(&mut self, size: c_int) -> SysResult {
        from_libc(libc::epoll_create(size) as i64)
    }

    unsafe fn epoll_ctl(
        &mut self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> SysResult {
        from_libc(libc::epoll_ctl(epfd, op, fd, event) as i64)
    }

    unsafe fn epoll_wait(
        &mut self,
        epfd: c_int,
        events: *mut epoll_event,
        maxevents: c_int,
        timeout: c_int,
    ) -> SysResult {
        from_libc(libc::epoll_wait(epfd, events, maxevents, timeout) as i64)
    }

    unsafe fn pipe(&mut self, fds: *mut c_int) -> SysResult {
        from_libc(libc::pipe(fds) as i64)
    }

    unsafe fn splice(
        &mut self,
        fd_in: c_int,
        off_in: *mut libc::loff_t,
        fd_out: c_int,
        off_out: *mut libc::loff_t,
        len: size_t,
        flags: c_uint,
    ) -> SysResult {
        from_libc(libc::splice(fd_in, off_in, fd_out, off_out, len, flags) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_kernel() {
        assert_eq!(KernelTarget.name(), "kernel");
    }

    #[test]
    fn pipe_write_read_close() {
        let mut k = KernelTarget;
        let mut fds = [-1 as c_int; 2];
        // SAFETY: every pointer is to a live local of the size passed with it (`fds` holds
        // the two ints pipe writes, `buf` 8 bytes, `data` 3, `inq` one int); the fds closed are
        // the pipe's own.
        unsafe {
            assert_eq!(k.pipe(fds.as_mut_ptr()), Ok(0));
            let data = [1u8, 2, 3];
            assert_eq!(k.write(fds[1], data.as_ptr().cast(), 3), Ok(3));
            let mut inq: c_int = -1;
            assert_eq!(k.ioctl(fds[0], libc::FIONREAD as c_ulong, &mut inq), Ok(0));
            assert_eq!(inq, 3);
            let mut buf = [0u8; 8];
            assert_eq!(k.read(fds[0], buf.as_mut_ptr().cast(), 8), Ok(3));
            assert_eq!(&buf[..3], &data);
            let flags = k.fcntl(fds[0], libc::F_GETFL, None).unwrap();
            assert_eq!(flags as c_int & libc::O_NONBLOCK, 0);
            assert_eq!(
                k.fcntl(
                    fds[0],
                    libc::F_SETFL,
                    Some(flags as c_int | libc::O_NONBLOCK)
                ),
                Ok(0)
            );
            assert_eq!(
                k.read(fds[0], buf.as_mut_ptr().cast(), 8),
                Err(libc::EAGAIN)
            );
            assert_eq!(k.close(fds[0]), Ok(0));
            assert_eq!(k.close(fds[1]), Ok(0));
            assert_eq!(k.close(fds[1]), Err(libc::EBADF));
        }
    }

    #[test]
    fn socket_errors_carry_errno() {
        let mut k = KernelTarget;
        // SAFETY: no pointers are passed; socket and listen on a bad fd only return errors.
        unsafe {
            assert_eq!(
                k.socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP),
                Err(libc::EPROTONOSUPPORT)
            );
            assert_eq!(k.listen(-1, 1), Err(libc::EBADF));
        }
    }
}
