//! Where system calls go: the `Target` seam. One implementation per backend: the kernel (libc,
//! `kernel/target.rs`) and a userspace stack behind packetdrill's shared-object ABI
//! (`so/target.rs`).
//!
//! The methods mirror packetdrill's `struct packetdrill_interface` entry points (without the
//! `userdata` argument) and take raw pointers, so a shared-object target can pass them through
//! unchanged. Each returns the call's result, or the `errno` it set.

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t,
};

/// A call's return value, or the errno it failed with.
pub type SysResult = Result<i64, i32>;

/// The stack under test's socket API.
///
/// # Safety
/// (For every method as for the trait.)
/// Every pointer argument must be valid for the access the corresponding libc call makes
/// (or deliberately invalid, e.g. NULL, when a script tests bad arguments).
#[allow(clippy::missing_safety_doc)] // one contract for all methods, stated above
pub unsafe trait Target: Send {
    /// A short name for messages ("kernel", "so:libfoo.so").
    fn name(&self) -> String;

    /// A fault the last call revealed in the target itself rather than in the script's
    /// expectations (an entry point it does not implement, a result that cannot be true): it
    /// fails the call's script line whatever the script expected. Cleared when taken.
    fn take_fault(&mut self) -> Option<String> {
        None
    }

    unsafe fn socket(&mut self, domain: c_int, ty: c_int, protocol: c_int) -> SysResult;
    unsafe fn bind(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult;
    unsafe fn listen(&mut self, fd: c_int, backlog: c_int) -> SysResult;
    unsafe fn accept(&mut self, fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> SysResult;
    unsafe fn connect(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult;
    unsafe fn read(&mut self, fd: c_int, buf: *mut c_void, count: size_t) -> SysResult;
    unsafe fn readv(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult;
    unsafe fn recv(&mut self, fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> SysResult;
    unsafe fn recvfrom(
        &mut self,
        fd: c_int,
        buf: *mut c_void,
        len: size_t,
        flags: c_int,
        addr: *mut sockaddr,
        addrlen: *mut socklen_t,
    ) -> SysResult;
    unsafe fn recvmsg(&mut self, fd: c_int, msg: *mut msghdr, flags: c_int) -> SysResult;
    unsafe fn write(&mut self, fd: c_int, buf: *const c_void, count: size_t) -> SysResult;
    unsafe fn writev(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult;
    unsafe fn send(
        &mut self,
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
    ) -> SysResult;
    unsafe fn sendto(
        &mut self,
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
        addr: *const sockaddr,
        addrlen: socklen_t,
    ) -> SysResult;
    unsafe fn sendmsg(&mut self, fd: c_int, msg: *const msghdr, flags: c_int) -> SysResult;
    /// `fcntl(fd, cmd)` when `arg` is None, else `fcntl(fd, cmd, arg)`.
    unsafe fn fcntl(&mut self, fd: c_int, cmd: c_int, arg: Option<c_int>) -> SysResult;
    /// `ioctl(fd, request)` when `arg` is NULL, else `ioctl(fd, request, arg)`.
    unsafe fn ioctl(&mut self, fd: c_int, request: c_ulong, arg: *mut c_int) -> SysResult;
    unsafe fn close(&mut self, fd: c_int) -> SysResult;
    unsafe fn shutdown(&mut self, fd: c_int, how: c_int) -> SysResult;
    unsafe fn getsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> SysResult;
    unsafe fn setsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> SysResult;
    unsafe fn poll(&mut self, fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> SysResult;
    unsafe fn epoll_create(&mut self, size: c_int) -> SysResult;
    unsafe fn epoll_ctl(
        &mut self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> SysResult;
    unsafe fn epoll_wait(
        &mut self,
        epfd: c_int,
        events: *mut epoll_event,
        maxevents: c_int,
        timeout: c_int,
    ) -> SysResult;
    unsafe fn pipe(&mut self, fds: *mut c_int) -> SysResult;
    unsafe fn splice(
        &mut self,
        fd_in: c_int,
        off_in: *mut libc::loff_t,
        fd_out: c_int,
        off_out: *mut libc::loff_t,
        len: size_t,
        flags: c_uint,
    ) -> SysResult;
}

/// The errno of the last failed libc call on this thread.
pub fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A libc-style return value (negative = failure with errno) as a [`SysResult`].
pub fn from_libc(ret: i64) -> SysResult {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret)
    }
}
