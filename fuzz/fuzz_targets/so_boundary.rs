//! Fuzz target: the shared-object boundary. A fake userspace stack, in this process, fills in a
//! packetdrill interface table whose every entry answers from the fuzz input: return values,
//! errnos, the lengths it writes back (`*len`, `*addrlen`, `msg_namelen`, `msg_controllen`,
//! `*count`), the bytes it writes into the buffers it is given (addresses, option values, cmsgs),
//! `revents`, epoll events, its clock, its next timer and its socket table. stackdrill drives it
//! as it drives a loaded library: script calls through `run::syscall::execute` on the library's
//! `SoTarget`, the `%{ }%` snapshot through `socket_info::snapshot`, and the stack thread's
//! netdev, clock, polling and socket table through `SoStack`. Whatever the stack answers, the
//! call must fail or pass with a message, never panic, read out of bounds or hang.
//!
//! The fake stack stays within the buffers it is handed (a library that writes past them is
//! outside what any check can catch; the suite survives it, see tests/userspace_broken.rs).
#![no_main]

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use libc::{
    c_int, c_uint, c_ulong, c_void, epoll_event, iovec, loff_t, msghdr, nfds_t, pollfd, size_t,
    sockaddr, socklen_t, ssize_t, timeval, useconds_t,
};
use libfuzzer_sys::fuzz_target;
use stackdrill::run::syscall::{self, FdEntry, FdTable, SyscallEnv};
use stackdrill::script::ast::{self, Action};
use stackdrill::sut::abi::{PacketdrillInterface, StackdrillSocket};
use stackdrill::sut::so::library::{SharedObject, StackEntries};
use stackdrill::sut::so::stack::SoStack;
use stackdrill::sut::so::target::SoTarget;
use stackdrill::sut::so::PolledStack;
use stackdrill::sut::socket_info;
use stackdrill::sut::target::Target;

/// The script calls the fuzz input picks from: every entry of the table, with the buffers,
/// addresses, iovecs, msghdrs, cmsgs, pollfds and epoll events stackdrill hands a stack.
const CALLS: &str = r#"
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 9
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 accept(3, ..., ...) = 4
+0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0 read(4, ..., 1000) = 1000
+0 readv(4, [{..., 300}, {..., 300}], 2) = 600
+0 recv(4, ..., 100, 0) = 100
+0 recv(9, ..., 100, MSG_TRUNC) = 100
+0 recvfrom(9, ..., 2000, 0, ..., ...) = 0
+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0}, 0) = 10
+0 recvmsg(4, {msg_name(...)=...,
              msg_iov(1)=[{..., 0}],
              msg_flags=MSG_ERRQUEUE,
              msg_control=[
                {cmsg_level=SOL_SOCKET,
                 cmsg_type=SCM_TIMESTAMPING,
                 cmsg_data={scm_sec=0,scm_nsec=10000000}},
                {cmsg_level=SOL_SOCKET,
                 cmsg_type=SCM_TIMESTAMPING_OPT_STATS,
                 cmsg_data=[TCP_NLA_BUSY=0, TCP_NLA_RWND_LIMITED=0,
                            TCP_NLA_SNDBUF_LIMITED=0, TCP_NLA_DATA_SEGS_OUT=1,
                            TCP_NLA_TOTAL_RETRANS=0, TCP_NLA_PACING_RATE=...]},
                {cmsg_level=SOL_IP,
                 cmsg_type=IP_RECVERR,
                 cmsg_data={ee_errno=ENOMSG, ee_origin=SO_EE_ORIGIN_TIMESTAMPING,
                            ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_SND, ee_data=999}}
              ]}, MSG_ERRQUEUE) = 0
+0 write(4, ..., 100) = 100
+0 writev(4, [{..., 500}, {..., 700}], 2) = 1200
+0 send(4, ..., 100, 0) = 100
+0 sendto(9, ..., 100, 0, ..., ...) = 100
+0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0}, 0) = 100
+0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)
+0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0
+0 ioctl(4, SIOCINQ, [0]) = 0
+0 getsockopt(3, SOL_SOCKET, SO_ERROR, [0], [4]) = 0
+0 getsockopt(4, SOL_TCP, TCP_CONGESTION, "reno", [4]) = 0
+0 setsockopt(4, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0
+0 poll([{fd=4, events=POLLIN|POLLOUT, revents=POLLOUT}, {fd=3, events=POLLIN, revents=0}], 2, 0) = 1
+0 epoll_create(8) = 5
+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN, fd=4}) = 0
+0 epoll_wait(5, {events=EPOLLIN, fd=4}, 1, 0) = 1
+0 pipe([6, 7]) = 0
+0 splice(4, NULL, 7, NULL, 400, SPLICE_F_MOVE|SPLICE_F_NONBLOCK) = 400
+0 shutdown(4, SHUT_WR) = 0
+0 close(4) = 0
"#;

/// The script calls of [`CALLS`], parsed once.
fn calls() -> &'static [ast::Syscall] {
    static CALLS_PARSED: OnceLock<Vec<ast::Syscall>> = OnceLock::new();
    CALLS_PARSED.get_or_init(|| {
        let script = stackdrill::script::parse_source("calls.pkt", CALLS, &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        script
            .events
            .into_iter()
            .filter_map(|event| match event.action {
                Action::Syscall(call) => Some(call),
                _ => None,
            })
            .collect()
    })
}

/// What the fake stack answers next: the fuzz input, read front to back; zeros once it runs out.
struct Feed {
    data: Vec<u8>,
    at: usize,
}

thread_local! {
    static FEED: RefCell<Feed> = const { RefCell::new(Feed { data: Vec::new(), at: 0 }) };
}

fn left() -> usize {
    FEED.with(|f| {
        let f = f.borrow();
        f.data.len() - f.at
    })
}

/// Copies the next bytes of the input into `out` (zeros past its end).
fn take(out: &mut [u8]) {
    FEED.with(|f| {
        let mut f = f.borrow_mut();
        let n = out.len().min(f.data.len() - f.at);
        out[..n].copy_from_slice(&f.data[f.at..f.at + n]);
        out[n..].fill(0);
        f.at += n;
    })
}

fn byte() -> u8 {
    let mut b = [0u8; 1];
    take(&mut b);
    b[0]
}

fn word() -> u32 {
    let mut b = [0u8; 4];
    take(&mut b);
    u32::from_le_bytes(b)
}

fn wide() -> u64 {
    let mut b = [0u8; 8];
    take(&mut b);
    u64::from_le_bytes(b)
}

/// A length the stack claims: near the usual sizes or anything at all.
fn length() -> u64 {
    match byte() % 4 {
        0 => u64::from(byte()),
        1 => u64::from(word() % 1024),
        2 => u64::from(word()),
        _ => wide(),
    }
}

/// A call's result: -1 with any errno, a small count, any value, or 0.
fn result() -> i64 {
    match byte() % 4 {
        0 => {
            // SAFETY: __errno_location returns this thread's errno slot.
            unsafe { *libc::__errno_location() = word() as c_int };
            -1
        }
        1 => i64::from(byte()),
        2 => wide() as i64,
        _ => 0,
    }
}

fn int_result() -> c_int {
    result() as c_int
}

fn size_result() -> ssize_t {
    result() as ssize_t
}

/// Fills `len` bytes at `buf` (when not NULL) from the input.
///
/// # Safety
/// `buf` is NULL or valid for `len` bytes of writes.
unsafe fn fill(buf: *mut c_void, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    // SAFETY: the caller's contract.
    let out = unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
    take(out);
}

/// Fills the buffers of `count` iovecs.
///
/// # Safety
/// `iov` is NULL or points to `count` iovecs, each NULL or valid for its length.
unsafe fn fill_iov(iov: *const iovec, count: usize) {
    if iov.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    for v in unsafe { std::slice::from_raw_parts(iov, count) } {
        // SAFETY: as above.
        unsafe { fill(v.iov_base, v.iov_len) };
    }
}

/// Writes an address into `addr` (as long as `*len` said) and any length into `*len`.
///
/// # Safety
/// `len` is NULL or valid; `addr` is NULL or valid for `*len` bytes.
unsafe fn fill_address(addr: *mut sockaddr, len: *mut socklen_t) {
    if len.is_null() {
        return;
    }
    // SAFETY: the caller's contract.
    unsafe {
        fill(addr.cast(), *len as usize);
        *len = length() as socklen_t;
    }
}

// The table's entries. Each one's safety contract is packetdrill.h's for that entry, which
// stackdrill keeps (its pointers are valid for the sizes it passes).

unsafe extern "C" fn fake_free(_: *mut c_void) {}

unsafe extern "C" fn fake_socket(_: *mut c_void, _: c_int, _: c_int, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_address_in(
    _: *mut c_void,
    _: c_int,
    _: *const sockaddr,
    _: socklen_t,
) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_listen(_: *mut c_void, _: c_int, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_accept(
    _: *mut c_void,
    _: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    // SAFETY: accept's contract.
    unsafe { fill_address(addr, len) };
    int_result()
}

unsafe extern "C" fn fake_read(
    _: *mut c_void,
    _: c_int,
    buf: *mut c_void,
    count: size_t,
) -> ssize_t {
    // SAFETY: read's contract: `buf` holds `count` bytes.
    unsafe { fill(buf, count) };
    size_result()
}

unsafe extern "C" fn fake_readv(_: *mut c_void, _: c_int, iov: *const iovec, n: c_int) -> ssize_t {
    // SAFETY: readv's contract.
    unsafe { fill_iov(iov, n.max(0) as usize) };
    size_result()
}

unsafe extern "C" fn fake_recv(
    _: *mut c_void,
    _: c_int,
    buf: *mut c_void,
    len: size_t,
    _: c_int,
) -> ssize_t {
    // SAFETY: recv's contract.
    unsafe { fill(buf, len) };
    size_result()
}

unsafe extern "C" fn fake_recvfrom(
    _: *mut c_void,
    _: c_int,
    buf: *mut c_void,
    len: size_t,
    _: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    // SAFETY: recvfrom's contract.
    unsafe {
        fill(buf, len);
        fill_address(addr, addrlen);
    }
    size_result()
}

unsafe extern "C" fn fake_recvmsg(_: *mut c_void, _: c_int, msg: *mut msghdr, _: c_int) -> ssize_t {
    // SAFETY: recvmsg's contract: a valid msghdr whose buffers hold the lengths it gives.
    if let Some(m) = unsafe { msg.as_mut() } {
        // SAFETY: as above.
        unsafe {
            fill_iov(m.msg_iov, m.msg_iovlen);
            fill(m.msg_name, m.msg_namelen as usize);
            fill(m.msg_control, m.msg_controllen);
        }
        m.msg_namelen = length() as socklen_t;
        m.msg_controllen = length() as usize;
        m.msg_flags = word() as c_int;
    }
    size_result()
}

unsafe extern "C" fn fake_write(_: *mut c_void, _: c_int, _: *const c_void, _: size_t) -> ssize_t {
    size_result()
}

unsafe extern "C" fn fake_writev(_: *mut c_void, _: c_int, _: *const iovec, _: c_int) -> ssize_t {
    size_result()
}

unsafe extern "C" fn fake_send(
    _: *mut c_void,
    _: c_int,
    _: *const c_void,
    _: size_t,
    _: c_int,
) -> ssize_t {
    size_result()
}

unsafe extern "C" fn fake_sendto(
    _: *mut c_void,
    _: c_int,
    _: *const c_void,
    _: size_t,
    _: c_int,
    _: *const sockaddr,
    _: socklen_t,
) -> ssize_t {
    size_result()
}

unsafe extern "C" fn fake_sendmsg(_: *mut c_void, _: c_int, _: *const msghdr, _: c_int) -> ssize_t {
    size_result()
}

unsafe extern "C" fn fake_fcntl(_: *mut c_void, _: c_int, _: c_int, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_ioctl(_: *mut c_void, _: c_int, _: c_ulong, arg: *mut c_int) -> c_int {
    // SAFETY: ioctl's contract: `arg` is NULL or an int.
    if let Some(arg) = unsafe { arg.as_mut() } {
        *arg = word() as c_int;
    }
    int_result()
}

unsafe extern "C" fn fake_fd_op(_: *mut c_void, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_shutdown(_: *mut c_void, _: c_int, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_getsockopt(
    _: *mut c_void,
    _: c_int,
    _: c_int,
    _: c_int,
    value: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    if !len.is_null() {
        // SAFETY: getsockopt's contract: `value` holds `*len` bytes.
        unsafe {
            fill(value, *len as usize);
            *len = length() as socklen_t;
        }
    }
    int_result()
}

unsafe extern "C" fn fake_setsockopt(
    _: *mut c_void,
    _: c_int,
    _: c_int,
    _: c_int,
    _: *const c_void,
    _: socklen_t,
) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_poll(_: *mut c_void, fds: *mut pollfd, nfds: nfds_t, _: c_int) -> c_int {
    if !fds.is_null() {
        // SAFETY: poll's contract: `nfds` pollfds.
        for fd in unsafe { std::slice::from_raw_parts_mut(fds, nfds as usize) } {
            fd.revents = word() as i16;
        }
    }
    int_result()
}

unsafe extern "C" fn fake_netdev_send(_: *mut c_void, _: *const c_void, _: size_t) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_netdev_receive(
    _: *mut c_void,
    buf: *mut c_void,
    count: *mut size_t,
    time: *mut i64,
) -> c_int {
    // SAFETY: netdev_receive's contract: `buf` holds `*count` bytes; both out-pointers valid.
    unsafe {
        fill(buf, (*count).min(left()));
        *count = length() as size_t;
        *time = wide() as i64;
    }
    int_result()
}

unsafe extern "C" fn fake_usleep(_: *mut c_void, _: useconds_t) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_gettimeofday(_: *mut c_void, tv: *mut timeval, _: *mut c_void) -> c_int {
    // SAFETY: gettimeofday's contract: a valid timeval.
    unsafe {
        (*tv).tv_sec = wide() as i64;
        (*tv).tv_usec = wide() as i64;
    }
    int_result()
}

unsafe extern "C" fn fake_epoll_create(_: *mut c_void, _: c_int) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_epoll_ctl(
    _: *mut c_void,
    _: c_int,
    _: c_int,
    _: c_int,
    _: *mut epoll_event,
) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_epoll_wait(
    _: *mut c_void,
    _: c_int,
    events: *mut epoll_event,
    max: c_int,
    _: c_int,
) -> c_int {
    if !events.is_null() {
        // SAFETY: epoll_wait's contract: `max` events.
        for event in unsafe { std::slice::from_raw_parts_mut(events, max.max(0) as usize) } {
            event.events = word();
            event.u64 = wide();
        }
    }
    int_result()
}

unsafe extern "C" fn fake_pipe(_: *mut c_void, fds: *mut c_int) -> c_int {
    if !fds.is_null() {
        // SAFETY: pipe's contract: two ints.
        unsafe {
            *fds = word() as c_int;
            *fds.add(1) = word() as c_int;
        }
    }
    int_result()
}

unsafe extern "C" fn fake_splice(
    _: *mut c_void,
    _: c_int,
    _: *mut loff_t,
    _: c_int,
    _: *mut loff_t,
    _: size_t,
    _: c_uint,
) -> c_int {
    int_result()
}

unsafe extern "C" fn fake_stack_poll(_: *mut c_void, next: *mut i64) -> c_int {
    // SAFETY: stackdrill_poll's contract: a valid out-pointer.
    unsafe { *next = wide() as i64 };
    int_result()
}

unsafe extern "C" fn fake_sockets(
    _: *mut c_void,
    out: *mut StackdrillSocket,
    room: c_int,
) -> c_int {
    if !out.is_null() {
        // SAFETY: stackdrill_sockets' contract: `room` entries.
        let table = unsafe { std::slice::from_raw_parts_mut(out, room.max(0) as usize) };
        let filled = usize::from(byte()).min(table.len());
        for entry in &mut table[..filled] {
            entry.family = [libc::AF_INET, libc::AF_INET6, word() as c_int][byte() as usize % 3];
            entry.state = word() as c_int;
            entry.tcp_info_len = word();
            let mut congestion = [0u8; 16];
            take(&mut congestion);
            entry.congestion = congestion.map(|c| c as libc::c_char);
        }
    }
    int_result()
}

/// The fake stack as a shared object would fill in its table.
fn fake_stack() -> Arc<SharedObject> {
    let table = PacketdrillInterface {
        userdata: std::ptr::null_mut(),
        free: Some(fake_free),
        socket: Some(fake_socket),
        bind: Some(fake_address_in),
        listen: Some(fake_listen),
        accept: Some(fake_accept),
        connect: Some(fake_address_in),
        read: Some(fake_read),
        readv: Some(fake_readv),
        recv: Some(fake_recv),
        recvfrom: Some(fake_recvfrom),
        recvmsg: Some(fake_recvmsg),
        write: Some(fake_write),
        writev: Some(fake_writev),
        send: Some(fake_send),
        sendto: Some(fake_sendto),
        sendmsg: Some(fake_sendmsg),
        fcntl: Some(fake_fcntl),
        ioctl: Some(fake_ioctl),
        close: Some(fake_fd_op),
        shutdown: Some(fake_shutdown),
        getsockopt: Some(fake_getsockopt),
        setsockopt: Some(fake_setsockopt),
        poll: Some(fake_poll),
        netdev_send: Some(fake_netdev_send),
        netdev_receive: Some(fake_netdev_receive),
        usleep: Some(fake_usleep),
        gettimeofday: Some(fake_gettimeofday),
        epoll_create: Some(fake_epoll_create),
        epoll_ctl: Some(fake_epoll_ctl),
        epoll_wait: Some(fake_epoll_wait),
        pipe: Some(fake_pipe),
        splice: Some(fake_splice),
    };
    let entries = StackEntries {
        table,
        poll: Some(fake_stack_poll),
        network_setup: None,
        sockets: Some(fake_sockets),
        dpdk_attach: None,
    };
    // SAFETY: every entry above has packetdrill.h's signature and stays within the buffers it
    // is given.
    unsafe { SharedObject::from_table("fuzz", entries) }
}

/// The fds a script has open by the time it makes these calls.
fn open_fds() -> FdTable {
    let tcp = Some((libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP));
    let udp = Some((libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_UDP));
    let mut fds = FdTable::default();
    for (script_fd, socket) in [
        (3, tcp),
        (4, tcp),
        (5, None),
        (6, None),
        (7, None),
        (9, udp),
    ] {
        fds.insert(FdEntry {
            script_fd,
            live_fd: script_fd as i32,
            socket,
        });
    }
    fds
}

fn environment() -> SyscallEnv {
    SyscallEnv {
        socket_domain: libc::AF_INET,
        local_ip: IpAddr::V4(Ipv4Addr::new(192, 168, 0, 1)),
        remote_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        bind_port: 8080,
        connect_port: 8080,
        script_start_usecs: 1_000_000_000_000_000,
        tolerance_usecs: 4_000,
    }
}

/// Most operations one input makes (keeps every input quick).
const MOST_OPERATIONS: usize = 32;

fuzz_target!(|data: &[u8]| {
    FEED.with(|f| {
        *f.borrow_mut() = Feed {
            data: data.to_vec(),
            at: 0,
        }
    });
    let library = fake_stack();
    let mut target = SoTarget::new(library.clone(), Arc::new(AtomicBool::new(false)));
    let mut stack = SoStack::new(library);
    let (calls, env, mut fds) = (calls(), environment(), open_fds());
    for _ in 0..MOST_OPERATIONS {
        if left() == 0 {
            break;
        }
        let choice = byte() as usize % (calls.len() + 7);
        // What stackdrill would show of it: the failure's text; the rest is only kept.
        match choice.checked_sub(calls.len()) {
            None => match syscall::execute(&calls[choice], &env, &mut fds, &mut target) {
                Ok(outcome) => drop(std::hint::black_box(outcome)),
                Err(mismatch) => drop(std::hint::black_box(mismatch.to_string())),
            },
            Some(0) => drop(std::hint::black_box(stack.netdev_receive())),
            Some(1) => drop(std::hint::black_box(stack.now_usecs())),
            Some(2) => drop(std::hint::black_box(stack.sleep_usecs(word()))),
            Some(3) => drop(std::hint::black_box(stack.poll())),
            Some(4) => drop(std::hint::black_box(stack.sockets())),
            Some(5) => drop(std::hint::black_box(stack.netdev_send(&[0x45; 40]))),
            Some(_) => {
                let live = byte() & 1 == 0;
                drop(std::hint::black_box(socket_info::snapshot(
                    &mut target,
                    4,
                    live,
                )))
            }
        }
        let _ = target.take_fault();
    }
    stack.finish();
});
