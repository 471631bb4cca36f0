//! A userspace stack's socket calls as a `Target`: each entry of its packetdrill interface table.
//!
//! Nothing the library returns is trusted: a NULL entry becomes "this stack does not implement
//! NAME" at the line that needs it, and lengths, counts and address sizes are checked against
//! the buffers handed over before anything reads them. The buffers of `read`, `readv`, `recv`,
//! `recvfrom`, `recvmsg` (its name, control and every iovec buffer), `accept` and `getsockopt`
//! go over as guarded copies (`guard.rs`): a stack that writes past their end fails the line
//! instead of corrupting stackdrill's memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t,
};

use super::guard::Guarded;
use super::library::SharedObject;
use crate::sut::target::{last_errno, SysResult, Target};

/// The `Target` over a shared object: one per thread that makes calls.
pub struct SoTarget {
    library: Arc<SharedObject>,
    fault: Option<String>,
    /// Set while this target's thread is inside the library (the stack thread reads it to
    /// tell a call asleep in the stack from one busy in stackdrill's own code).
    in_library: Arc<AtomicBool>,
}

impl SoTarget {
    pub fn new(library: Arc<SharedObject>, in_library: Arc<AtomicBool>) -> Self {
        SoTarget {
            library,
            fault: None,
            in_library,
        }
    }

    /// Runs one library call with `in_library` set around it.
    fn inside<T>(&self, call: impl FnOnce(*mut c_void) -> T) -> T {
        self.in_library.store(true, Ordering::SeqCst);
        let result = call(self.library.userdata());
        self.in_library.store(false, Ordering::SeqCst);
        result
    }

    fn not_implemented(&mut self, call: &str) -> SysResult {
        self.fault = Some(format!("this stack does not implement {call}"));
        Err(libc::ENOSYS)
    }

    /// A result that cannot be true: fails the line with `what`.
    fn impossible(&mut self, what: String) -> SysResult {
        self.fault = Some(format!("the stack returned {what}"));
        Err(libc::EIO)
    }

    /// After the call: puts the guarded copy of `buf` back, or fails the call when the stack
    /// wrote past the end of the `what` it was given.
    ///
    /// # Safety
    /// `buf` is valid for writes of the guarded copy's length.
    unsafe fn unguard(
        &mut self,
        guarded: Option<Guarded>,
        buf: *mut c_void,
        call: &str,
        what: &str,
    ) -> Option<SysResult> {
        let guarded = guarded?;
        if guarded.overrun() {
            self.fault = Some(format!(
                "the stack wrote past the end of the {}-byte {what} {call}() was given",
                guarded.size()
            ));
            return Some(Err(libc::EIO));
        }
        // SAFETY: the caller's contract.
        unsafe { guarded.copy_to(buf.cast()) };
        None
    }

    /// After the call: puts the guarded copies of the buffers `iov` points at back, or fails
    /// the call when the stack wrote past the end of one.
    ///
    /// # Safety
    /// `iov` is the array the copies were made from, its buffers valid for writes.
    unsafe fn unguard_iovecs(
        &mut self,
        guarded: Option<GuardedIovecs>,
        iov: *const iovec,
        call: &str,
    ) -> Option<SysResult> {
        let guarded = guarded?;
        // SAFETY: the caller's contract: as many iovecs as were copied.
        let given = unsafe { std::slice::from_raw_parts(iov, guarded.copies.len()) };
        for (i, (copy, vector)) in guarded.copies.into_iter().zip(given).enumerate() {
            // SAFETY: the caller's contract, for this iovec's buffer.
            let fault =
                unsafe { self.unguard(copy, vector.iov_base, call, &format!("iov[{i}] buffer")) };
            if fault.is_some() {
                return fault;
            }
        }
        None
    }

    /// The call's result as a `SysResult`, rejecting a success above `limit`.
    fn checked(&mut self, call: &str, ret: i64, limit: Option<(u64, &str)>) -> SysResult {
        if ret < 0 {
            let errno = last_errno();
            return Err(errno);
        }
        match limit {
            Some((limit, unit)) if ret as u64 > limit => {
                let room = match unit {
                    "bytes" => format!("a {limit}-byte buffer"),
                    entries => format!("{limit} {entries}"),
                };
                self.impossible(format!("{ret} from {call}() for {room}"))
            }
            _ => Ok(ret),
        }
    }
}

/// Clears errno, so a library that fails without setting it reports 0, not a stale value.
fn clear_errno() {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
}

/// The entry point `$name` of the table, or a "does not implement" fault from the method.
macro_rules! entry {
    ($self:ident, $name:ident) => {
        match $self.library.table.$name {
            Some(f) => {
                clear_errno();
                f
            }
            None => return $self.not_implemented(stringify!($name)),
        }
    };
}

/// A guarded copy of the `len` bytes at `buf` (None for NULL), and where the stack is to write:
/// the copy, or `buf` itself when NULL.
///
/// # Safety
/// `buf` is NULL or valid for reads of `len` bytes (Target's contract: valid for the access the
/// call makes; stackdrill's buffers are initialised).
unsafe fn guard<T>(buf: *mut T, len: usize) -> (Option<Guarded>, *mut T) {
    // SAFETY: the caller's contract.
    let mut guarded = unsafe { Guarded::of(buf.cast::<u8>().cast_const(), len) };
    let place = guarded.as_mut().map_or(buf, |g| g.as_mut_ptr().cast());
    (guarded, place)
}

/// Guarded copies of the buffers an iovec array points at, and the array the stack gets, which
/// points at the copies.
struct GuardedIovecs {
    copies: Vec<Option<Guarded>>,
    iovecs: Vec<iovec>,
}

impl GuardedIovecs {
    /// None for a NULL array or a count of 0 or less (passed as they are: the stack must
    /// reject them).
    ///
    /// # Safety
    /// `iov` is NULL or valid for reads of `count` iovecs, each with a NULL base or one valid
    /// for reads of its `iov_len` bytes (Target's contract).
    unsafe fn of(iov: *const iovec, count: c_int) -> Option<Self> {
        if iov.is_null() || count <= 0 {
            return None;
        }
        // SAFETY: the caller's contract.
        let given = unsafe { std::slice::from_raw_parts(iov, count as usize) };
        let mut copies = Vec::with_capacity(given.len());
        let mut iovecs = Vec::with_capacity(given.len());
        for vector in given {
            // SAFETY: the caller's contract, for this iovec's buffer.
            let (copy, place) = unsafe { guard(vector.iov_base, vector.iov_len) };
            copies.push(copy);
            iovecs.push(iovec {
                iov_base: place,
                iov_len: vector.iov_len,
            });
        }
        Some(GuardedIovecs { copies, iovecs })
    }

    /// The array for the stack: the copies', or `iov` itself when nothing was copied.
    fn place(guarded: &Option<Self>, iov: *const iovec) -> *const iovec {
        guarded.as_ref().map_or(iov, |g| g.iovecs.as_ptr())
    }
}

fn iov_total(iov: *const iovec, iovcnt: c_int) -> u64 {
    if iov.is_null() || iovcnt <= 0 {
        return 0;
    }
    // SAFETY: the caller passes `iovcnt` valid iovecs (Target's contract).
    unsafe { std::slice::from_raw_parts(iov, iovcnt as usize) }
        .iter()
        .map(|v| v.iov_len as u64)
        .sum()
}

/// Fails when the library grew an in-out length beyond the space it was given.
fn length_grew(
    target: &mut SoTarget,
    call: &str,
    what: &str,
    given: u64,
    returned: u64,
) -> Option<SysResult> {
    (returned > given).then(|| {
        target.impossible(format!(
            "{what} {returned} from {call}() for a {given}-byte buffer"
        ))
    })
}

// SAFETY: every method passes its arguments unchanged to the library's entry point of the same
// name, after checking the entry exists; results are checked against the buffers given.
unsafe impl Target for SoTarget {
    fn name(&self) -> String {
        self.library.name.clone()
    }

    fn take_fault(&mut self) -> Option<String> {
        self.fault.take()
    }

    unsafe fn socket(&mut self, domain: c_int, ty: c_int, protocol: c_int) -> SysResult {
        let f = entry!(self, socket);
        let ret = self.inside(|ud| f(ud, domain, ty, protocol));
        self.checked("socket", ret.into(), None)
    }

    unsafe fn bind(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
        let f = entry!(self, bind);
        let ret = self.inside(|ud| f(ud, fd, addr, len));
        self.checked("bind", ret.into(), None)
    }

    unsafe fn listen(&mut self, fd: c_int, backlog: c_int) -> SysResult {
        let f = entry!(self, listen);
        let ret = self.inside(|ud| f(ud, fd, backlog));
        self.checked("listen", ret.into(), None)
    }

    unsafe fn accept(&mut self, fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> SysResult {
        let f = entry!(self, accept);
        let given = if len.is_null() { 0 } else { *len };
        let (guarded, place) = guard(addr, given as usize);
        let ret = self.inside(|ud| f(ud, fd, place, len));
        if let Some(fault) = self.unguard(guarded, addr.cast(), "accept", "address") {
            return fault;
        }
        if ret >= 0 && !len.is_null() {
            // A too-small buffer may legitimately get a larger length back (truncation), but
            // never more than any address needs.
            let limit = given.max(std::mem::size_of::<libc::sockaddr_storage>() as socklen_t);
            if let Some(fault) = length_grew(
                self,
                "accept",
                "address length",
                limit.into(),
                (*len).into(),
            ) {
                return fault;
            }
        }
        self.checked("accept", ret.into(), None)
    }

    unsafe fn connect(&mut self, fd: c_int, addr: *const sockaddr, len: socklen_t) -> SysResult {
        let f = entry!(self, connect);
        let ret = self.inside(|ud| f(ud, fd, addr, len));
        self.checked("connect", ret.into(), None)
    }

    unsafe fn read(&mut self, fd: c_int, buf: *mut c_void, count: size_t) -> SysResult {
        let f = entry!(self, read);
        let (guarded, place) = guard(buf, count);
        let ret = self.inside(|ud| f(ud, fd, place, count));
        if let Some(fault) = self.unguard(guarded, buf, "read", "buffer") {
            return fault;
        }
        self.checked("read", ret as i64, Some((count as u64, "bytes")))
    }

    unsafe fn readv(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult {
        let f = entry!(self, readv);
        let guarded = GuardedIovecs::of(iov, iovcnt);
        let place = GuardedIovecs::place(&guarded, iov);
        let ret = self.inside(|ud| f(ud, fd, place, iovcnt));
        if let Some(fault) = self.unguard_iovecs(guarded, iov, "readv") {
            return fault;
        }
        self.checked("readv", ret as i64, Some((iov_total(iov, iovcnt), "bytes")))
    }

    unsafe fn recv(&mut self, fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> SysResult {
        let f = entry!(self, recv);
        let (guarded, place) = guard(buf, len);
        let ret = self.inside(|ud| f(ud, fd, place, len, flags));
        if let Some(fault) = self.unguard(guarded, buf, "recv", "buffer") {
            return fault;
        }
        // MSG_TRUNC legitimately reports the full datagram length.
        let limit = (flags & libc::MSG_TRUNC == 0).then_some((len as u64, "bytes"));
        self.checked("recv", ret as i64, limit)
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
        let f = entry!(self, recvfrom);
        let given = if addrlen.is_null() { 0 } else { *addrlen };
        let (guarded, place) = guard(buf, len);
        let (guarded_addr, addr_place) = guard(addr, given as usize);
        let ret = self.inside(|ud| f(ud, fd, place, len, flags, addr_place, addrlen));
        let overrun = self
            .unguard(guarded, buf, "recvfrom", "buffer")
            .or_else(|| self.unguard(guarded_addr, addr.cast(), "recvfrom", "address"));
        if let Some(fault) = overrun {
            return fault;
        }
        if ret >= 0 && !addrlen.is_null() {
            let limit = std::mem::size_of::<libc::sockaddr_storage>() as u64;
            if let Some(fault) =
                length_grew(self, "recvfrom", "address length", limit, (*addrlen).into())
            {
                return fault;
            }
        }
        let limit = (flags & libc::MSG_TRUNC == 0).then_some((len as u64, "bytes"));
        self.checked("recvfrom", ret as i64, limit)
    }

    unsafe fn recvmsg(&mut self, fd: c_int, msg: *mut msghdr, flags: c_int) -> SysResult {
        let f = entry!(self, recvmsg);
        let (name_given, control_given, data_given) = match msg.as_ref() {
            Some(m) => (
                u64::from(m.msg_namelen),
                m.msg_controllen as u64,
                iov_total(m.msg_iov, m.msg_iovlen as c_int),
            ),
            None => (0, 0, 0),
        };
        // The stack gets a copy of the msghdr whose name, control and iovec buffers are
        // guarded copies; what it wrote goes back when no guard was touched.
        let mut guarded = None;
        let mut shadow = None;
        if let Some(m) = msg.as_ref() {
            let (name, name_place) = guard(m.msg_name, m.msg_namelen as usize);
            let (control, control_place) = guard(m.msg_control, m.msg_controllen);
            let iovecs = GuardedIovecs::of(m.msg_iov, m.msg_iovlen as c_int);
            let mut copy = *m;
            copy.msg_name = name_place;
            copy.msg_control = control_place;
            copy.msg_iov = GuardedIovecs::place(&iovecs, m.msg_iov).cast_mut();
            guarded = Some((name, control, iovecs));
            shadow = Some(copy);
        }
        let place = shadow.as_mut().map_or(msg, |copy| copy as *mut msghdr);
        let ret = self.inside(|ud| f(ud, fd, place, flags));
        if let (Some((name, control, iovecs)), Some(m), Some(copy)) =
            (guarded, msg.as_mut(), shadow)
        {
            let overrun = self
                .unguard(name, m.msg_name, "recvmsg", "address")
                .or_else(|| self.unguard(control, m.msg_control, "recvmsg", "control buffer"))
                .or_else(|| self.unguard_iovecs(iovecs, m.msg_iov, "recvmsg"));
            if let Some(fault) = overrun {
                return fault;
            }
            m.msg_namelen = copy.msg_namelen;
            m.msg_controllen = copy.msg_controllen;
            m.msg_flags = copy.msg_flags;
        }
        if let (true, Some(m)) = (ret >= 0, msg.as_ref()) {
            let name = length_grew(
                self,
                "recvmsg",
                "msg_namelen",
                name_given,
                m.msg_namelen.into(),
            );
            if let Some(fault) = name.or_else(|| {
                length_grew(
                    self,
                    "recvmsg",
                    "msg_controllen",
                    control_given,
                    m.msg_controllen as u64,
                )
            }) {
                return fault;
            }
        }
        let limit = (flags & libc::MSG_TRUNC == 0).then_some((data_given, "bytes"));
        self.checked("recvmsg", ret as i64, limit)
    }

    unsafe fn write(&mut self, fd: c_int, buf: *const c_void, count: size_t) -> SysResult {
        let f = entry!(self, write);
        let ret = self.inside(|ud| f(ud, fd, buf, count));
        self.checked("write", ret as i64, Some((count as u64, "bytes")))
    }

    unsafe fn writev(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult {
        let f = entry!(self, writev);
        let ret = self.inside(|ud| f(ud, fd, iov, iovcnt));
        self.checked(
            "writev",
            ret as i64,
            Some((iov_total(iov, iovcnt), "bytes")),
        )
    }

    unsafe fn send(
        &mut self,
        fd: c_int,
        buf: *const c_void,
        len: size_t,
        flags: c_int,
    ) -> SysResult {
        let f = entry!(self, send);
        let ret = self.inside(|ud| f(ud, fd, buf, len, flags));
        self.checked("send", ret as i64, Some((len as u64, "bytes")))
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
        let f = entry!(self, sendto);
        let ret = self.inside(|ud| f(ud, fd, buf, len, flags, addr, addrlen));
        self.checked("sendto", ret as i64, Some((len as u64, "bytes")))
    }

    unsafe fn sendmsg(&mut self, fd: c_int, msg: *const msghdr, flags: c_int) -> SysResult {
        let f = entry!(self, sendmsg);
        let data = msg
            .as_ref()
            .map_or(0, |m| iov_total(m.msg_iov, m.msg_iovlen as c_int));
        let ret = self.inside(|ud| f(ud, fd, msg, flags));
        self.checked("sendmsg", ret as i64, Some((data, "bytes")))
    }

    unsafe fn fcntl(&mut self, fd: c_int, cmd: c_int, arg: Option<c_int>) -> SysResult {
        let f = entry!(self, fcntl);
        let ret = self.inside(|ud| f(ud, fd, cmd, arg.unwrap_or(0)));
        self.checked("fcntl", ret.into(), None)
    }

    unsafe fn ioctl(&mut self, fd: c_int, request: c_ulong, arg: *mut c_int) -> SysResult {
        let f = entry!(self, ioctl);
        let ret = self.inside(|ud| f(ud, fd, request, arg));
        self.checked("ioctl", ret.into(), None)
    }

    unsafe fn close(&mut self, fd: c_int) -> SysResult {
        let f = entry!(self, close);
        let ret = self.inside(|ud| f(ud, fd));
        self.checked("close", ret.into(), None)
    }

    unsafe fn shutdown(&mut self, fd: c_int, how: c_int) -> SysResult {
        let f = entry!(self, shutdown);
        let ret = self.inside(|ud| f(ud, fd, how));
        self.checked("shutdown", ret.into(), None)
    }

    unsafe fn getsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *mut c_void,
        len: *mut socklen_t,
    ) -> SysResult {
        let f = entry!(self, getsockopt);
        let given = if len.is_null() { 0 } else { *len };
        let (guarded, place) = guard(value, given as usize);
        let ret = self.inside(|ud| f(ud, fd, level, name, place, len));
        if let Some(fault) = self.unguard(guarded, value, "getsockopt", "option value") {
            return fault;
        }
        if ret >= 0 && !len.is_null() {
            if let Some(fault) = length_grew(
                self,
                "getsockopt",
                "option length",
                given.into(),
                (*len).into(),
            ) {
                return fault;
            }
        }
        self.checked("getsockopt", ret.into(), None)
    }

    unsafe fn setsockopt(
        &mut self,
        fd: c_int,
        level: c_int,
        name: c_int,
        value: *const c_void,
        len: socklen_t,
    ) -> SysResult {
        let f = entry!(self, setsockopt);
        let ret = self.inside(|ud| f(ud, fd, level, name, value, len));
        self.checked("setsockopt", ret.into(), None)
    }

    unsafe fn poll(&mut self, fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> SysResult {
        let f = entry!(self, poll);
        let ret = self.inside(|ud| f(ud, fds, nfds, timeout));
        self.checked("poll", ret.into(), Some((nfds, "pollfd entries")))
    }

    unsafe fn epoll_create(&mut self, size: c_int) -> SysResult {
        let f = entry!(self, epoll_create);
        let ret = self.inside(|ud| f(ud, size));
        self.checked("epoll_create", ret.into(), None)
    }

    unsafe fn epoll_ctl(
        &mut self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: *mut epoll_event,
    ) -> SysResult {
        let f = entry!(self, epoll_ctl);
        let ret = self.inside(|ud| f(ud, epfd, op, fd, event));
        self.checked("epoll_ctl", ret.into(), None)
    }

    unsafe fn epoll_wait(
        &mut self,
        epfd: c_int,
        events: *mut epoll_event,
        maxevents: c_int,
        timeout: c_int,
    ) -> SysResult {
        let f = entry!(self, epoll_wait);
        let ret = self.inside(|ud| f(ud, epfd, events, maxevents, timeout));
        let limit = maxevents.max(0) as u64;
        self.checked("epoll_wait", ret.into(), Some((limit, "events")))
    }

    unsafe fn pipe(&mut self, fds: *mut c_int) -> SysResult {
        let f = entry!(self, pipe);
        let ret = self.inside(|ud| f(ud, fds));
        self.checked("pipe", ret.into(), None)
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
        let f = entry!(self, splice);
        let ret = self.inside(|ud| f(ud, fd_in, off_in, fd_out, off_out, len, flags));
        self.checked("splice", ret.into(), Some((len as u64, "bytes")))
    }
}
