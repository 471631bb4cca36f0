//! A userspace stack's network device, clock and polling, as its stack thread drives them
//! (`PolledStack`), and its socket table for introspection.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use libc::{c_int, size_t};

use super::guard::Guarded;
use super::library::SharedObject;
use super::target::SoTarget;
use super::watch::ENTRY_DEADLINE;
use super::PolledStack;
use crate::sut::abi::StackdrillSocket;
use crate::sut::target::Target;
use crate::sut::view::SocketRecord;

/// Largest packet `netdev_receive` may return (packetdrill's buffer size).
const RECEIVE_BUFFER: usize = 64 * 1024;

/// Most sockets `stackdrill_sockets` may report: room for more is never made (a count beyond
/// it is not a table anyone means, and would be an allocation of many gigabytes).
const MOST_SOCKETS: c_int = 65_536;

/// The stack thread's side of a shared object: its network device, clock and polling.
pub struct SoStack {
    library: Arc<SharedObject>,
    /// Guarded: a stack that writes past its end is named (`guard.rs`).
    receive_buffer: Guarded,
    freed: bool,
}

impl SoStack {
    pub fn new(library: Arc<SharedObject>) -> Self {
        SoStack {
            library,
            receive_buffer: Guarded::zeroed(RECEIVE_BUFFER),
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
        let _inside = self.library.watch.inside("netdev_send", ENTRY_DEADLINE);
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
        let mut count: size_t = self.receive_buffer.size();
        let mut time_usecs: libc::c_longlong = 0;
        let inside = self.library.watch.inside("netdev_receive", ENTRY_DEADLINE);
        // SAFETY: the buffer has `count` bytes; count and time are valid out-pointers.
        let status = unsafe {
            f(
                self.library.userdata(),
                self.receive_buffer.as_mut_ptr().cast(),
                &mut count,
                &mut time_usecs,
            )
        };
        drop(inside);
        if self.receive_buffer.overrun() {
            return Err(format!(
                "the stack's netdev_receive wrote past the end of the {}-byte buffer it was given",
                self.receive_buffer.size()
            ));
        }
        if status != 0 {
            return Ok(None);
        }
        if count > self.receive_buffer.size() {
            return Err(format!(
                "the stack's netdev_receive reported a {count}-byte packet for a {}-byte buffer",
                self.receive_buffer.size()
            ));
        }
        Ok(Some((
            self.receive_buffer.bytes()[..count].to_vec(),
            time_usecs,
        )))
    }

    fn has_clock(&self) -> bool {
        self.library.table.usleep.is_some() && self.library.table.gettimeofday.is_some()
    }

    fn now_usecs(&mut self) -> Result<i64, String> {
        let f = self.library.table.gettimeofday.expect("has_clock checked");
        let _inside = self.library.watch.inside("gettimeofday", ENTRY_DEADLINE);
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        // SAFETY: a valid timeval; tz is NULL as upstream passes it.
        let status = unsafe { f(self.library.userdata(), &mut tv, std::ptr::null_mut()) };
        if status < 0 {
            return Err(format!("the stack's gettimeofday failed ({status})"));
        }
        tv.tv_sec
            .checked_mul(1_000_000)
            .and_then(|usecs| usecs.checked_add(tv.tv_usec))
            .ok_or_else(|| {
                format!(
                    "the stack's gettimeofday returned a time beyond any clock ({} s and {} µs)",
                    tv.tv_sec, tv.tv_usec
                )
            })
    }

    fn sleep_usecs(&mut self, usecs: u32) -> Result<(), String> {
        let f = self.library.table.usleep.expect("has_clock checked");
        // A stack may really sleep in usleep: that long is its due.
        let allowed = ENTRY_DEADLINE + std::time::Duration::from_micros(u64::from(usecs));
        let _inside = self.library.watch.inside("usleep", allowed);
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
        let _inside = self.library.watch.inside("stackdrill_poll", ENTRY_DEADLINE);
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
            let inside = self
                .library
                .watch
                .inside("stackdrill_sockets", ENTRY_DEADLINE);
            // SAFETY: `entries` holds `room` writable structs.
            let count = unsafe { list(self.library.userdata(), entries.as_mut_ptr(), room) };
            drop(inside);
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
            if count > MOST_SOCKETS {
                return Err(format!(
                    "the stack's stackdrill_sockets reported {count} sockets, more than the \
                     {MOST_SOCKETS} stackdrill reads"
                ));
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
            let _inside = self.library.watch.inside("free", ENTRY_DEADLINE);
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
    use crate::sut::abi::PacketdrillInterface;
    use crate::sut::so::library::StackEntries;

    /// A stack with only the entries given in `table` and, of the extensions, `sockets`.
    fn stack(table: PacketdrillInterface, sockets: Option<crate::sut::abi::Sockets>) -> SoStack {
        let entries = StackEntries {
            table,
            poll: None,
            network_setup: None,
            sockets,
            dpdk_attach: None,
        };
        // SAFETY: the tests' entries have packetdrill.h's signatures.
        SoStack::new(unsafe { SharedObject::from_table("test", entries) })
    }

    unsafe extern "C" fn far_future(
        _: *mut libc::c_void,
        tv: *mut libc::timeval,
        _: *mut libc::c_void,
    ) -> c_int {
        // SAFETY: stackdrill passes a valid timeval.
        unsafe {
            (*tv).tv_sec = i64::MAX / 2;
            (*tv).tv_usec = 7;
        }
        0
    }

    /// Found by fuzz/fuzz_targets/so_boundary.rs: the µs count overflowed (a panic in the
    /// stack thread) for a huge tv_sec.
    #[test]
    fn a_time_beyond_any_clock_is_the_stacks_fault_not_a_panic() {
        let table = PacketdrillInterface {
            gettimeofday: Some(far_future),
            ..Default::default()
        };
        let e = stack(table, None).now_usecs().unwrap_err();
        assert_eq!(
            e,
            "the stack's gettimeofday returned a time beyond any clock (4611686018427387903 s \
             and 7 µs)"
        );
    }

    unsafe extern "C" fn countless(
        _: *mut libc::c_void,
        _: *mut StackdrillSocket,
        _: c_int,
    ) -> c_int {
        16_777_217
    }

    /// Found by fuzz/fuzz_targets/so_boundary.rs (its count): a huge count made room for that
    /// many sockets, an allocation of 5.6 GB here (of up to 720 GB) that aborts the run.
    #[test]
    fn a_socket_count_beyond_any_table_is_the_stacks_fault() {
        let mut stack = stack(PacketdrillInterface::default(), Some(countless));
        assert_eq!(
            stack.sockets().unwrap_err(),
            "the stack's stackdrill_sockets reported 16777217 sockets, more than the 65536 \
             stackdrill reads"
        );
    }
}
