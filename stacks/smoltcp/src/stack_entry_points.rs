//! The symbols this library exports (`packetdrill_interface_init`, `stackdrill_network_setup`,
//! `stackdrill_poll`, `stackdrill_sockets`, `stackdrill_profile_defines`) and the stack-thread
//! entries of the table: `free`, `netdev_send`, `netdev_receive`, `usleep`, `gettimeofday`.

use std::ffi::{c_char, c_void, CStr};

use libc::{c_int, size_t, timeval, useconds_t};

use crate::abi::{PacketdrillInterface, StackdrillNetwork, StackdrillSocket};
use crate::adapter::{without_unwinding, Adapter};
use crate::config::{ConfigError, StackConfig};
use crate::errno::{set_thread_errno, Errno, SysResult};
use crate::profile::render_profile;
use crate::socket_entry_points::{self as socket_api, adapter_from};

/// Reads `--so_flags` (NULL: none).
///
/// # Safety
/// `flags` must be NULL or a NUL-terminated string.
unsafe fn read_flags(flags: *const c_char) -> Result<StackConfig, ConfigError> {
    if flags.is_null() {
        return StackConfig::from_so_flags(None);
    }
    // SAFETY: non-null and NUL-terminated per the contract above.
    let text = unsafe { CStr::from_ptr(flags) };
    let text = text.to_str().map_err(|_| ConfigError {
        key: text.to_string_lossy().into_owned(),
        problem: "not valid UTF-8".to_string(),
    })?;
    StackConfig::from_so_flags(Some(text))
}

/// Fills the table stackdrill (or packetdrill) hands over zeroed. On bad `--so_flags` it
/// prints why to stderr and leaves the table zeroed, so the run stops cleanly.
///
/// # Safety
/// `flags` must be NULL or a NUL-terminated string; `ifc` must be NULL or point to a writable
/// `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    without_unwinding("packetdrill_interface_init", (), || {
        // SAFETY: stackdrill passes a writable table (or NULL, ignored).
        let Some(table) = (unsafe { ifc.as_mut() }) else {
            return;
        };
        // SAFETY: stackdrill passes --so_flags as a C string, or NULL.
        let config = match unsafe { read_flags(flags) } {
            Ok(config) => config,
            Err(error) => {
                eprintln!("{error}");
                return;
            }
        };
        let adapter = Box::new(Adapter::new(config));
        *table = PacketdrillInterface {
            userdata: Box::into_raw(adapter) as *mut c_void,
            free: Some(free),
            socket: Some(socket_api::socket),
            bind: Some(socket_api::bind),
            listen: Some(socket_api::listen),
            accept: Some(socket_api::accept),
            connect: Some(socket_api::connect),
            read: Some(socket_api::read),
            readv: Some(socket_api::readv),
            recv: Some(socket_api::recv),
            recvfrom: Some(socket_api::recvfrom),
            recvmsg: Some(socket_api::recvmsg),
            write: Some(socket_api::write),
            writev: Some(socket_api::writev),
            send: Some(socket_api::send),
            sendto: Some(socket_api::sendto),
            sendmsg: Some(socket_api::sendmsg),
            fcntl: Some(socket_api::fcntl),
            ioctl: Some(socket_api::ioctl),
            close: Some(socket_api::close),
            shutdown: Some(socket_api::shutdown),
            getsockopt: Some(socket_api::getsockopt),
            setsockopt: Some(socket_api::setsockopt),
            poll: Some(socket_api::poll),
            netdev_send: Some(netdev_send),
            netdev_receive: Some(netdev_receive),
            usleep: Some(usleep),
            gettimeofday: Some(gettimeofday),
            epoll_create: Some(socket_api::epoll_create),
            epoll_ctl: Some(socket_api::epoll_ctl),
            epoll_wait: Some(socket_api::epoll_wait),
            pipe: None,
            splice: None,
        };
    })
}

/// Runs a stack-thread entry: finds the adapter and catches panics; `failed` is returned when
/// there is no adapter, it is unusable, or the body panicked.
pub(crate) fn stack_entry<R: Copy>(
    name: &str,
    userdata: *mut c_void,
    failed: R,
    body: impl FnOnce(&Adapter) -> R,
) -> R {
    without_unwinding(name, failed, || {
        // SAFETY: stackdrill passes back the userdata this library stored in the table.
        match unsafe { adapter_from(userdata) } {
            Some(adapter) => body(adapter),
            None => failed,
        }
    })
}

/// An extension's status for a setup step of the stack thread: 0 when it went through, else -1,
/// saying on stderr why (`failure`: what could not be done).
pub(crate) fn setup_status(outcome: SysResult<Result<(), String>>, failure: &str) -> c_int {
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(problem)) => {
            eprintln!("stackdrill-smoltcp: {failure}: {problem}");
            -1
        }
        Err(_) => -1,
    }
}

/// Tells the stack its network; non-zero when it cannot work on it.
///
/// # Safety
/// `userdata` must come from `packetdrill_interface_init`; `net` must be NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn stackdrill_network_setup(
    userdata: *mut c_void,
    net: *const StackdrillNetwork,
) -> c_int {
    stack_entry("stackdrill_network_setup", userdata, -1, |adapter| {
        // SAFETY: stackdrill passes a valid network description (or NULL, refused).
        let Some(net) = (unsafe { net.as_ref() }) else {
            return -1;
        };
        let set_up = adapter.stack_thread_call(|stack| stack.setup_network(net));
        setup_status(set_up, "cannot use this network")
    })
}

/// Does all work due now, and reports the µs until the stack next needs a poll (-1: none). A
/// first call before any netdev_send, usleep or socket call hands the polling to stackdrill
/// (see [`crate::stack::Polling`]).
///
/// # Safety
/// `userdata` must come from `packetdrill_interface_init`; `next_timer_usecs` must be NULL or
/// valid.
#[no_mangle]
pub unsafe extern "C" fn stackdrill_poll(
    userdata: *mut c_void,
    next_timer_usecs: *mut i64,
) -> c_int {
    stack_entry("stackdrill_poll", userdata, -1, |adapter| {
        let next = adapter.stack_thread_call(|stack| stack.poll_due_work().unwrap_or(-1));
        match next {
            Ok(next) => {
                // SAFETY: stackdrill passes a valid pointer (NULL is skipped).
                if let Some(out) = unsafe { next_timer_usecs.as_mut() } {
                    *out = next;
                }
                0
            }
            Err(_) => -1,
        }
    })
}

/// The stack's TCP sockets (see [`crate::socket_table`]): fills up to `max` entries of `out`
/// and returns how many there are, or -1 on error. Only reads: the stack does not run.
///
/// # Safety
/// `userdata` must come from `packetdrill_interface_init`; `out` must have `max` writable
/// entries (it may be NULL when `max` is 0).
#[no_mangle]
pub unsafe extern "C" fn stackdrill_sockets(
    userdata: *mut c_void,
    out: *mut StackdrillSocket,
    max: c_int,
) -> c_int {
    stack_entry("stackdrill_sockets", userdata, -1, |adapter| {
        let Ok(room) = usize::try_from(max) else {
            return -1;
        };
        if out.is_null() && room > 0 {
            return -1;
        }
        let Ok(table) = adapter.stack_thread_query(|stack| stack.socket_table()) else {
            return -1;
        };
        for (index, entry) in table.iter().take(room).enumerate() {
            // SAFETY: `out` has `max` writable entries and index < max; write_unaligned copes
            // with a caller's array that is not 4-byte aligned.
            unsafe { std::ptr::write_unaligned(out.add(index), *entry) };
        }
        c_int::try_from(table.len()).unwrap_or(c_int::MAX)
    })
}

/// The profile of script defines for these flags, snprintf-style.
///
/// # Safety
/// `flags` must be NULL or a NUL-terminated string; `buf` must be NULL or have `len` writable
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn stackdrill_profile_defines(
    flags: *const c_char,
    buf: *mut c_char,
    len: size_t,
) -> c_int {
    without_unwinding("stackdrill_profile_defines", -1, || {
        // SAFETY: stackdrill passes --so_flags as a C string, or NULL.
        let config = match unsafe { read_flags(flags) } {
            Ok(config) => config,
            Err(error) => {
                eprintln!("{error}");
                return -1;
            }
        };
        let text = render_profile(&config);
        if !buf.is_null() && len > 0 {
            let copied = text.len().min(len - 1);
            // SAFETY: `buf` has `len` writable bytes; we write copied + 1 <= len of them.
            unsafe {
                std::ptr::copy_nonoverlapping(text.as_ptr(), buf as *mut u8, copied);
                *buf.add(copied) = 0;
            }
        }
        c_int::try_from(text.len()).unwrap_or(-1)
    })
}

/// Drops the adapter.
///
/// # Safety
/// `userdata` must come from `packetdrill_interface_init` and not be used afterwards.
unsafe extern "C" fn free(userdata: *mut c_void) {
    without_unwinding("free", (), || {
        if userdata.is_null() {
            return;
        }
        // SAFETY: `userdata` is the Box<Adapter> pointer made by packetdrill_interface_init,
        // and stackdrill calls free once, after every other call.
        let adapter = unsafe { Box::from_raw(userdata as *mut Adapter) };
        let _ = adapter.stack_thread_call(|stack| stack.shut_down());
    })
}

/// A packet from the peer, processed at once (only queued when stackdrill drives the polling).
unsafe extern "C" fn netdev_send(
    userdata: *mut c_void,
    buf: *const c_void,
    count: size_t,
) -> c_int {
    stack_entry("netdev_send", userdata, -1, |adapter| {
        if buf.is_null() || count == 0 {
            return -1;
        }
        // SAFETY: stackdrill passes `count` readable bytes.
        let packet = unsafe { std::slice::from_raw_parts(buf as *const u8, count) }.to_vec();
        let injected = adapter.stack_thread_step(|stack| {
            let caught_up = stack.enter();
            match stack.inject(packet) {
                Ok(ran) => (Ok(()), ran || caught_up),
                Err(errno) => (Err(errno), caught_up),
            }
        });
        match injected {
            Ok(Ok(())) => 0,
            _ => -1,
        }
    })
}

/// The next packet the stack sent, with its send time; non-zero when none is queued. Under
/// upstream packetdrill, which calls nothing else while it waits for a packet, it first runs
/// the stack up to the real time now.
unsafe extern "C" fn netdev_receive(
    userdata: *mut c_void,
    buf: *mut c_void,
    count: *mut size_t,
    time_usecs: *mut i64,
) -> c_int {
    stack_entry("netdev_receive", userdata, -1, |adapter| {
        if buf.is_null() || count.is_null() {
            return -1;
        }
        let outbound = adapter.spinning_step(|stack| {
            let caught_up = stack.enter();
            (stack.take_outbound(), caught_up)
        });
        let Ok(Some(packet)) = outbound else {
            return 1;
        };
        // SAFETY: `count` is non-null and points to the buffer size, per stackdrill.
        let room = unsafe { *count };
        let copied = packet.bytes.len().min(room);
        // SAFETY: `buf` has `room` writable bytes; `count` and `time_usecs` are valid pointers
        // (time_usecs may be NULL).
        unsafe {
            std::ptr::copy_nonoverlapping(packet.bytes.as_ptr(), buf as *mut u8, copied);
            *count = copied;
            if let Some(time) = time_usecs.as_mut() {
                *time = packet.sent_at.total_micros();
            }
        }
        0
    })
}

/// Advances the virtual clock by `usec`, running every timer due on the way (only moving the
/// clock when stackdrill drives the polling); under upstream packetdrill, sleeps that long.
unsafe extern "C" fn usleep(userdata: *mut c_void, usec: useconds_t) -> c_int {
    stack_entry("usleep", userdata, -1, |adapter| {
        let on_real_time = adapter.stack_thread_step(|stack| {
            let caught_up = stack.enter();
            (stack.on_real_time(), caught_up)
        });
        let slept = match on_real_time {
            Ok(true) => adapter.sleep_in_real_time(u64::from(usec)),
            Ok(false) => adapter.stack_thread_step(|stack| ((), stack.advance(u64::from(usec)))),
            Err(errno) => Err(errno),
        };
        match slept {
            Ok(()) => 0,
            Err(errno) => {
                set_thread_errno(errno);
                -1
            }
        }
    })
}

/// The virtual clock; under upstream packetdrill, real time (the stack runs up to it first).
unsafe extern "C" fn gettimeofday(
    userdata: *mut c_void,
    tv: *mut timeval,
    _tz: *mut c_void,
) -> c_int {
    stack_entry("gettimeofday", userdata, -1, |adapter| {
        let now = adapter.spinning_step(|stack| {
            let caught_up = stack.enter();
            (stack.now(), caught_up)
        });
        let Ok(now) = now else {
            set_thread_errno(Errno(libc::EIO));
            return -1;
        };
        // SAFETY: stackdrill passes a valid timeval (NULL is skipped).
        if let Some(tv) = unsafe { tv.as_mut() } {
            let micros = now.total_micros();
            tv.tv_sec = (micros / 1_000_000) as libc::time_t;
            tv.tv_usec = (micros % 1_000_000) as libc::suseconds_t;
        }
        0
    })
}
