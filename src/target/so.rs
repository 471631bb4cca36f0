//! A userspace stack behind packetdrill's shared-object ABI (`--so_filename`): loading the
//! library with libloading, its interface table and stackdrill's extension symbols, and the
//! `Target` (socket calls) and `PolledStack` (packets, clock, polling) over them.
//!
//! Nothing the library returns is trusted: a NULL entry becomes "this stack does not implement
//! NAME" at the line that needs it, and lengths, counts and address sizes are checked against
//! the buffers handed over before anything reads them.

use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t,
};

use super::abi::{self, PacketdrillInterface, StackdrillNetwork, StackdrillSocket};
use super::{last_errno, PolledStack, SysResult, Target};
use crate::introspect::SocketRecord;

/// Largest packet `netdev_receive` may return (packetdrill's buffer size).
const RECEIVE_BUFFER: usize = 64 * 1024;

/// A loaded and initialised shared object.
pub struct SharedObject {
    /// For messages: `so:FILE_NAME`.
    name: String,
    table: PacketdrillInterface,
    poll: Option<abi::Poll>,
    network_setup: Option<abi::NetworkSetup>,
    sockets: Option<abi::Sockets>,
    /// Kept open for the run (the object stays mapped after that: RTLD_NODELETE, as upstream).
    _library: libloading::os::unix::Library,
}

// SAFETY: the table is plain function pointers and an opaque userdata pointer. The library's
// contract (stacks/README.md "Threads", the same as upstream packetdrill's) is that it is called
// from the stack thread and one call worker, never from both at once except while a call
// sleeps inside it; stackdrill's stack thread enforces that ordering.
unsafe impl Send for SharedObject {}
// SAFETY: as above: shared between the stack thread and its call worker only.
unsafe impl Sync for SharedObject {}

fn open_library(path: &Path) -> Result<libloading::os::unix::Library, String> {
    let flags = libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NODELETE | libc::RTLD_DEEPBIND;
    // SAFETY: loading runs the library's initialisers; choosing to run the stack under test is
    // the point of --so_filename.
    unsafe { libloading::os::unix::Library::open(Some(path), flags) }
        .map_err(|e| format!("cannot load --so_filename={}: {e}", path.display()))
}

fn c_flags(flags: Option<&str>) -> Result<Option<CString>, String> {
    flags
        .map(|f| CString::new(f).map_err(|_| "--so_flags contains a NUL byte".to_string()))
        .transpose()
}

/// The defines the library's profile gives scripts (`stackdrill_profile_defines`), as
/// (name, value) pairs; none when it does not export the symbol.
pub fn profile_defines(path: &Path, flags: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let library = open_library(path)?;
    // SAFETY: the symbol, when present, has the documented signature (packetdrill.h).
    let Ok(profile) = (unsafe { library.get::<abi::ProfileDefines>(abi::PROFILE_DEFINES_SYMBOL) })
    else {
        return Ok(Vec::new());
    };
    let flags = c_flags(flags)?;
    let flags_ptr = flags.as_ref().map_or(std::ptr::null(), |f| f.as_ptr());
    let mut buffer = vec![0u8; 4096];
    for _ in 0..2 {
        // SAFETY: the buffer has `len` bytes; the function writes at most that many.
        let needed = unsafe { profile(flags_ptr, buffer.as_mut_ptr().cast(), buffer.len()) };
        if needed < 0 {
            return Err(format!(
                "{}: stackdrill_profile_defines rejected --so_flags",
                path.display()
            ));
        }
        let needed = needed as usize;
        if needed < buffer.len() {
            let text = String::from_utf8_lossy(&buffer[..needed]);
            return parse_profile(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
        buffer = vec![0u8; needed + 1];
    }
    Err(format!(
        "{}: stackdrill_profile_defines keeps asking for a bigger buffer",
        path.display()
    ))
}

/// "NAME=VALUE" lines; blank lines and `#` comments are skipped.
fn parse_profile(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(format!(
                "stackdrill_profile_defines: expected NAME=VALUE, got {line:?}"
            )),
        })
        .collect()
}

impl SharedObject {
    /// Loads the library and calls `packetdrill_interface_init(flags, &table)`.
    pub fn load(path: &Path, flags: Option<&str>) -> Result<Arc<Self>, String> {
        let library = open_library(path)?;
        // SAFETY: the symbol has the ABI's signature (packetdrill.h).
        let init =
            unsafe { library.get::<abi::InterfaceInit>(abi::INIT_SYMBOL) }.map_err(|_| {
                format!(
                    "{} does not export packetdrill_interface_init",
                    path.display()
                )
            })?;
        let flags = c_flags(flags)?;
        let mut table = PacketdrillInterface::default();
        // SAFETY: a zeroed table for the library to fill in, and a NUL-terminated flags string
        // (or NULL) that outlives the call.
        unsafe {
            init(
                flags.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
                &mut table,
            )
        };
        for (entry, present) in [
            ("netdev_send", table.netdev_send.is_some()),
            ("netdev_receive", table.netdev_receive.is_some()),
        ] {
            if !present {
                return Err(format!(
                    "{}: the stack does not implement {entry}, which every run needs",
                    path.display()
                ));
            }
        }
        // SAFETY: optional extensions with the documented signatures.
        let poll = unsafe { library.get::<abi::Poll>(abi::POLL_SYMBOL) }
            .ok()
            .map(|s| *s);
        // SAFETY: as above.
        let network_setup = unsafe { library.get::<abi::NetworkSetup>(abi::NETWORK_SETUP_SYMBOL) }
            .ok()
            .map(|s| *s);
        // SAFETY: as above.
        let sockets = unsafe { library.get::<abi::Sockets>(abi::SOCKETS_SYMBOL) }
            .ok()
            .map(|s| *s);
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(Arc::new(SharedObject {
            name: format!("so:{file_name}"),
            table,
            poll,
            network_setup,
            sockets,
            _library: library,
        }))
    }

    fn userdata(&self) -> *mut c_void {
        self.table.userdata
    }

    /// Tells the stack its network (`stackdrill_network_setup`), when it wants to know.
    pub fn set_network(&self, network: &StackdrillNetwork) -> Result<(), String> {
        let Some(setup) = self.network_setup else {
            return Ok(());
        };
        // SAFETY: a valid struct for the duration of the call.
        let status = unsafe { setup(self.userdata(), network) };
        if status != 0 {
            return Err(format!(
                "{}: stackdrill_network_setup refused the test network (returned {status})",
                self.name
            ));
        }
        Ok(())
    }
}

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
        let ret = self.inside(|ud| f(ud, fd, addr, len));
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
        let ret = self.inside(|ud| f(ud, fd, buf, count));
        self.checked("read", ret as i64, Some((count as u64, "bytes")))
    }

    unsafe fn readv(&mut self, fd: c_int, iov: *const iovec, iovcnt: c_int) -> SysResult {
        let f = entry!(self, readv);
        let ret = self.inside(|ud| f(ud, fd, iov, iovcnt));
        self.checked("readv", ret as i64, Some((iov_total(iov, iovcnt), "bytes")))
    }

    unsafe fn recv(&mut self, fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> SysResult {
        let f = entry!(self, recv);
        let ret = self.inside(|ud| f(ud, fd, buf, len, flags));
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
        let ret = self.inside(|ud| f(ud, fd, buf, len, flags, addr, addrlen));
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
        let ret = self.inside(|ud| f(ud, fd, msg, flags));
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
        let ret = self.inside(|ud| f(ud, fd, level, name, value, len));
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

/// The stack thread's side of a shared object: its network device, clock and polling.
pub struct SoStack {
    library: Arc<SharedObject>,
    receive_buffer: Vec<u8>,
    freed: bool,
}

impl SoStack {
    pub fn new(library: Arc<SharedObject>) -> Self {
        SoStack {
            library,
            receive_buffer: vec![0; RECEIVE_BUFFER],
            freed: false,
        }
    }
}

impl PolledStack for SoStack {
    fn name(&self) -> String {
        self.library.name.clone()
    }

    fn netdev_send(&mut self, packet: &[u8]) -> Result<(), String> {
        let f = self.library.table.netdev_send.expect("checked at load");
        // SAFETY: the packet is valid for `len` bytes during the call.
        let status = unsafe {
            f(
                self.library.userdata(),
                packet.as_ptr().cast(),
                packet.len(),
            )
        };
        if status != 0 {
            return Err(format!(
                "the stack's netdev_send refused the packet ({status})"
            ));
        }
        Ok(())
    }

    fn netdev_receive(&mut self) -> Result<Option<(Vec<u8>, i64)>, String> {
        let f = self.library.table.netdev_receive.expect("checked at load");
        let mut count: size_t = self.receive_buffer.len();
        let mut time_usecs: libc::c_longlong = 0;
        // SAFETY: the buffer has `count` bytes; count and time are valid out-pointers.
        let status = unsafe {
            f(
                self.library.userdata(),
                self.receive_buffer.as_mut_ptr().cast(),
                &mut count,
                &mut time_usecs,
            )
        };
        if status != 0 {
            return Ok(None);
        }
        if count > self.receive_buffer.len() {
            return Err(format!(
                "the stack's netdev_receive reported a {count}-byte packet for a {}-byte buffer",
                self.receive_buffer.len()
            ));
        }
        Ok(Some((self.receive_buffer[..count].to_vec(), time_usecs)))
    }

    fn has_clock(&self) -> bool {
        self.library.table.usleep.is_some() && self.library.table.gettimeofday.is_some()
    }

    fn now_usecs(&mut self) -> Result<i64, String> {
        let f = self.library.table.gettimeofday.expect("has_clock checked");
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: a valid timeval; tz is NULL as upstream passes it.
        let status = unsafe { f(self.library.userdata(), &mut tv, std::ptr::null_mut()) };
        if status < 0 {
            return Err(format!("the stack's gettimeofday failed ({status})"));
        }
        Ok(tv.tv_sec * 1_000_000 + tv.tv_usec)
    }

    fn sleep_usecs(&mut self, usecs: u32) -> Result<(), String> {
        let f = self.library.table.usleep.expect("has_clock checked");
        // SAFETY: plain value arguments.
        let status = unsafe { f(self.library.userdata(), usecs) };
        if status < 0 {
            return Err(format!("the stack's usleep({usecs}) failed ({status})"));
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<i64>, String> {
        let Some(poll) = self.library.poll else {
            return Ok(None);
        };
        let mut next: libc::c_longlong = -1;
        // SAFETY: a valid out-pointer.
        let status = unsafe { poll(self.library.userdata(), &mut next) };
        if status != 0 {
            return Err(format!("the stack's stackdrill_poll failed ({status})"));
        }
        Ok((next >= 0).then_some(next))
    }

    fn has_poll(&self) -> bool {
        self.library.poll.is_some()
    }

    fn sockets(&mut self) -> Result<Option<Vec<SocketRecord>>, String> {
        let Some(list) = self.library.sockets else {
            return Ok(None);
        };
        let mut entries = vec![StackdrillSocket::default(); 64];
        for _ in 0..4 {
            let room = entries.len() as c_int;
            // SAFETY: `entries` holds `room` writable structs.
            let count = unsafe { list(self.library.userdata(), entries.as_mut_ptr(), room) };
            if count < 0 {
                return Err("the stack's stackdrill_sockets failed".to_string());
            }
            if count <= room {
                return entries[..count as usize]
                    .iter()
                    .map(socket_record)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some);
            }
            entries = vec![StackdrillSocket::default(); count as usize];
        }
        Err("the stack's stackdrill_sockets keeps growing".to_string())
    }

    fn call_target(&self, in_library: Arc<AtomicBool>) -> Box<dyn Target> {
        Box::new(SoTarget::new(self.library.clone(), in_library))
    }

    fn finish(&mut self) {
        if self.freed {
            return;
        }
        self.freed = true;
        if let Some(free) = self.library.table.free {
            // SAFETY: called once, at the end of the run, as the ABI says.
            unsafe { free(self.library.userdata()) };
        }
    }
}

/// One `struct stackdrill_socket` as a record, checking what cannot be trusted.
fn socket_record(entry: &StackdrillSocket) -> Result<SocketRecord, String> {
    let address = |ip: &[u8; 16], port: u16| -> Result<std::net::SocketAddr, String> {
        let ip: std::net::IpAddr = match entry.family {
            libc::AF_INET => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).into(),
            libc::AF_INET6 => std::net::Ipv6Addr::from(*ip).into(),
            other => return Err(format!("stackdrill_sockets: unknown family {other}")),
        };
        Ok(std::net::SocketAddr::new(ip, port))
    };
    if !(0..=255).contains(&entry.state) {
        return Err(format!(
            "stackdrill_sockets: state {} is not a TCP state",
            entry.state
        ));
    }
    let info_len = (entry.tcp_info_len as usize).min(entry.tcp_info.len());
    let name_end = entry.congestion.iter().position(|&c| c == 0).unwrap_or(16);
    let congestion: Vec<u8> = entry.congestion[..name_end]
        .iter()
        .map(|&c| c as u8)
        .collect();
    Ok(SocketRecord {
        protocol: entry.protocol,
        local: address(&entry.local_ip, entry.local_port)?,
        remote: address(&entry.remote_ip, entry.remote_port)?,
        state: entry.state as u8,
        recv_queue: entry.recv_queue,
        send_queue: entry.send_queue,
        congestion: (!congestion.is_empty()).then(|| String::from_utf8_lossy(&congestion).into()),
        tcp_info: entry.tcp_info[..info_len].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_lines_parse_and_bad_ones_are_named() {
        let parsed = parse_profile("# comment\nRTO_MIN_MS=10\n\n IW = 4 \n").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("RTO_MIN_MS".to_string(), "10".to_string()),
                ("IW".to_string(), "4".to_string())
            ]
        );
        let e = parse_profile("JUNK\n").unwrap_err();
        assert!(e.contains("expected NAME=VALUE, got \"JUNK\""), "{e}");
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let e = SharedObject::load(Path::new("/nonexistent/libx.so"), None)
            .err()
            .unwrap();
        assert!(
            e.starts_with("cannot load --so_filename=/nonexistent/libx.so: "),
            "{e}"
        );
    }
}
