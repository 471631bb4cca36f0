//! Test harness: drives the adapter through its extern "C" functions exactly as stackdrill
//! does (init with flags, network setup, the table's entries), and builds/parses the IPv4 TCP
//! and UDP packets the simulated peer exchanges with it.
//!
//! A [`Stack`] is driven like stackdrill drives polling ([`Polling::Driven`]: stackdrill_poll
//! right after network setup, and after every netdev_send, usleep and socket call), or like
//! upstream packetdrill ([`Polling::Legacy`]: stackdrill_poll only when a test asks).

#![allow(dead_code)]

use std::ffi::{c_void, CString};
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration as RealDuration, Instant as RealInstant};

use libc::{c_int, sockaddr, sockaddr_in, socklen_t};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    IpAddress, IpProtocol, Ipv4Packet, Ipv4Repr, TcpControl, TcpOption, TcpPacket, TcpRepr,
    TcpSeqNumber, TcpTimestampRepr, UdpPacket, UdpRepr,
};
use stackdrill_smoltcp::abi::{PacketdrillInterface, StackdrillSocket};
use stackdrill_smoltcp::stack::ipv4_network;
use stackdrill_smoltcp::{
    packetdrill_interface_init, stackdrill_network_setup, stackdrill_poll, stackdrill_sockets,
};

pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 0, 1);
pub const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PEER_PORT: u16 = 40000;

/// A socket address as (family, address bytes, port).
pub type PeerAddress = (c_int, Vec<u8>, u16);

/// Who polls the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polling {
    /// stackdrill's way: a first stackdrill_poll right after network setup, then one after
    /// every netdev_send, usleep and socket call.
    Driven,
    /// Upstream packetdrill's way: the stack runs itself; stackdrill_poll only when asked.
    Legacy,
}

pub const BOTH_POLLINGS: [Polling; 2] = [Polling::Driven, Polling::Legacy];

/// The adapter's table, shared with helper threads the way stackdrill's call worker shares it.
pub struct Stack {
    pub table: PacketdrillInterface,
    pub polling: Polling,
    /// Set while [`Stack::unpolled`] runs: no automatic stackdrill_poll.
    hold_polls: AtomicBool,
}

// SAFETY: the adapter serialises every entry behind its own mutex (that is its contract with
// stackdrill's two threads); the table itself is only read.
unsafe impl Send for Stack {}
// SAFETY: as above.
unsafe impl Sync for Stack {}

pub fn errno() -> c_int {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() }
}

/// The table filled by `packetdrill_interface_init(flags)` (possibly left empty).
pub fn init_table(flags: Option<&str>) -> PacketdrillInterface {
    // SAFETY: PacketdrillInterface is pointers and Option<fn>: all-zero is NULL everywhere.
    let mut table: PacketdrillInterface = unsafe { std::mem::zeroed() };
    let flags = flags.map(|flags| CString::new(flags).unwrap());
    // SAFETY: a valid C string (or NULL) and a writable zeroed table.
    unsafe {
        packetdrill_interface_init(
            flags
                .as_ref()
                .map_or(std::ptr::null(), |flags| flags.as_ptr()),
            &mut table,
        )
    };
    table
}

/// An IPv4 TCP segment, as built or parsed by the tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub src_port: u16,
    pub dst_port: u16,
    pub control: TcpControl,
    pub seq: u32,
    pub ack: Option<u32>,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    pub timestamp: Option<(u32, u32)>,
    pub payload: Vec<u8>,
    /// Option kinds in wire order (filled when parsing).
    pub option_kinds: Vec<u8>,
}

impl Segment {
    /// A segment from the peer to the stack's `port`.
    pub fn to_stack(port: u16, control: TcpControl, seq: u32, ack: Option<u32>) -> Segment {
        Segment {
            src_port: PEER_PORT,
            dst_port: port,
            control,
            seq,
            ack,
            window: 65535,
            mss: None,
            wscale: None,
            sack_permitted: false,
            timestamp: None,
            payload: Vec::new(),
            option_kinds: Vec::new(),
        }
    }

    pub fn flags(&self) -> String {
        let mut flags = match self.control {
            TcpControl::Syn => "S",
            TcpControl::Fin => "F",
            TcpControl::Rst => "R",
            TcpControl::Psh => "P",
            TcpControl::None => "",
        }
        .to_string();
        if self.ack.is_some() {
            flags.push('.');
        }
        flags
    }
}

pub fn build_tcp(src: Ipv4Addr, dst: Ipv4Addr, segment: &Segment) -> Vec<u8> {
    let tcp = TcpRepr {
        src_port: segment.src_port,
        dst_port: segment.dst_port,
        control: segment.control,
        seq_number: TcpSeqNumber(segment.seq as i32),
        ack_number: segment.ack.map(|ack| TcpSeqNumber(ack as i32)),
        window_len: segment.window,
        window_scale: segment.wscale,
        max_seg_size: segment.mss,
        sack_permitted: segment.sack_permitted,
        sack_ranges: [None, None, None],
        timestamp: segment
            .timestamp
            .map(|(tsval, tsecr)| TcpTimestampRepr::new(tsval, tsecr)),
        payload: &segment.payload,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp.buffer_len(),
        hop_limit: 64,
    };
    let mut bytes = vec![0u8; ip.buffer_len() + tcp.buffer_len()];
    let checksums = ChecksumCapabilities::default();
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..]), &checksums);
    tcp.emit(
        &mut TcpPacket::new_unchecked(&mut bytes[20..]),
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        &checksums,
    );
    bytes
}

pub fn parse_tcp(bytes: &[u8]) -> Segment {
    parse_tcp_from(LOCAL, bytes)
}

/// [`parse_tcp`] of a segment the stack sent from `local` (to [`REMOTE`]).
pub fn parse_tcp_from(local: Ipv4Addr, bytes: &[u8]) -> Segment {
    let ip = Ipv4Packet::new_checked(bytes).expect("an IPv4 packet");
    assert!(ip.verify_checksum(), "IPv4 checksum");
    assert_eq!(ip.next_header(), IpProtocol::Tcp, "a TCP segment");
    assert_eq!(ip.src_addr(), local);
    assert_eq!(ip.dst_addr(), REMOTE);
    let tcp_bytes = ip.payload();
    let packet = TcpPacket::new_checked(tcp_bytes).expect("a TCP header");
    let repr = TcpRepr::parse(
        &packet,
        &IpAddress::Ipv4(ip.src_addr()),
        &IpAddress::Ipv4(ip.dst_addr()),
        &ChecksumCapabilities::default(),
    )
    .expect("a valid TCP segment with a good checksum");
    let mut option_kinds = Vec::new();
    let mut options = packet.options();
    while !options.is_empty() {
        let (rest, option) = TcpOption::parse(options).expect("valid options");
        option_kinds.push(match option {
            TcpOption::EndOfList => 0,
            TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 2,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 4,
            TcpOption::SackRange(_) => 5,
            TcpOption::TimeStamp { .. } => 8,
            TcpOption::Unknown { kind, .. } => kind,
        });
        if matches!(option, TcpOption::EndOfList) {
            break;
        }
        options = rest;
    }
    Segment {
        src_port: repr.src_port,
        dst_port: repr.dst_port,
        control: repr.control,
        seq: repr.seq_number.0 as u32,
        ack: repr.ack_number.map(|ack| ack.0 as u32),
        window: repr.window_len,
        mss: repr.max_seg_size,
        wscale: repr.window_scale,
        sack_permitted: repr.sack_permitted,
        timestamp: repr.timestamp.map(|ts| (ts.tsval, ts.tsecr)),
        payload: repr.payload.to_vec(),
        option_kinds,
    }
}

pub fn build_udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let udp = UdpRepr { src_port, dst_port };
    let ip = Ipv4Repr {
        src_addr: REMOTE,
        dst_addr: LOCAL,
        next_header: IpProtocol::Udp,
        payload_len: udp.header_len() + payload.len(),
        hop_limit: 64,
    };
    let mut bytes = vec![0u8; ip.buffer_len() + udp.header_len() + payload.len()];
    let checksums = ChecksumCapabilities::default();
    ip.emit(&mut Ipv4Packet::new_unchecked(&mut bytes[..]), &checksums);
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut bytes[20..]),
        &IpAddress::Ipv4(REMOTE),
        &IpAddress::Ipv4(LOCAL),
        payload.len(),
        |buf| buf.copy_from_slice(payload),
        &checksums,
    );
    bytes
}

pub fn sockaddr_v4(addr: Ipv4Addr, port: u16) -> sockaddr_in {
    // SAFETY: sockaddr_in is plain old data.
    let mut sin: sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = port.to_be();
    sin.sin_addr.s_addr = u32::from(addr).to_be();
    sin
}

/// Reads a sockaddr_in/sockaddr_in6 written by the adapter: (family, address bytes, port).
pub fn decode_sockaddr(storage: &libc::sockaddr_storage, len: socklen_t) -> PeerAddress {
    let family = c_int::from(storage.ss_family);
    // SAFETY: the storage is large enough for either struct and fully initialised.
    unsafe {
        match family {
            libc::AF_INET => {
                assert_eq!(len as usize, size_of::<sockaddr_in>());
                let sin = &*(storage as *const _ as *const sockaddr_in);
                (
                    family,
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes().to_vec(),
                    u16::from_be(sin.sin_port),
                )
            }
            libc::AF_INET6 => {
                assert_eq!(len as usize, size_of::<libc::sockaddr_in6>());
                let sin6 = &*(storage as *const _ as *const libc::sockaddr_in6);
                (
                    family,
                    sin6.sin6_addr.s6_addr.to_vec(),
                    u16::from_be(sin6.sin6_port),
                )
            }
            _ => panic!("unexpected family {family}"),
        }
    }
}

fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno.
    unsafe { *libc::__errno_location() = value };
}

impl Stack {
    /// A stack set up like stackdrill's default test network, driven by stackdrill_poll.
    pub fn new(flags: Option<&str>) -> Stack {
        Stack::with_polling(flags, Polling::Driven)
    }

    /// A stack that runs itself, as under upstream packetdrill.
    pub fn legacy(flags: Option<&str>) -> Stack {
        Stack::with_polling(flags, Polling::Legacy)
    }

    /// A stack loaded the way upstream packetdrill loads it: init, and no extension ever
    /// (no network setup, no stackdrill_poll).
    pub fn under_upstream(flags: Option<&str>) -> Stack {
        let table = init_table(flags);
        assert!(!table.userdata.is_null(), "init filled the table");
        Stack {
            table,
            polling: Polling::Legacy,
            hold_polls: AtomicBool::new(false),
        }
    }

    pub fn with_polling(flags: Option<&str>, polling: Polling) -> Stack {
        let table = init_table(flags);
        assert!(!table.userdata.is_null(), "init filled the table");
        let net = ipv4_network(LOCAL.octets(), LOCAL.octets(), REMOTE.octets());
        // SAFETY: userdata from init and a valid network description.
        assert_eq!(unsafe { stackdrill_network_setup(table.userdata, &net) }, 0);
        let stack = Stack {
            table,
            polling,
            hold_polls: AtomicBool::new(false),
        };
        if polling == Polling::Driven {
            stack.poll_stack();
        }
        stack
    }

    fn ud(&self) -> *mut c_void {
        self.table.userdata
    }

    /// What stackdrill does after a netdev_send, usleep or socket call when it drives the
    /// polling: stackdrill_poll (the call's errno is kept).
    fn after_call<T>(&self, result: T) -> T {
        if self.polling == Polling::Driven && !self.hold_polls.load(Ordering::SeqCst) {
            let saved = errno();
            self.poll_stack();
            set_errno(saved);
        }
        result
    }

    /// Runs `calls` without the automatic stackdrill_poll after each call (driven mode).
    pub fn unpolled<T>(&self, calls: impl FnOnce(&Stack) -> T) -> T {
        self.hold_polls.store(true, Ordering::SeqCst);
        let result = calls(self);
        self.hold_polls.store(false, Ordering::SeqCst);
        result
    }

    pub fn socket(&self, domain: c_int, kind: c_int) -> c_int {
        // SAFETY: valid userdata; plain integer arguments.
        self.after_call(unsafe { (self.table.socket.unwrap())(self.ud(), domain, kind, 0) })
    }

    pub fn bind_v4(&self, fd: c_int, addr: Ipv4Addr, port: u16) -> c_int {
        let sin = sockaddr_v4(addr, port);
        // SAFETY: a valid sockaddr_in and its size.
        self.after_call(unsafe {
            (self.table.bind.unwrap())(
                self.ud(),
                fd,
                &sin as *const _ as *const sockaddr,
                size_of::<sockaddr_in>() as socklen_t,
            )
        })
    }

    pub fn bind_raw(&self, fd: c_int, addr: &[u8]) -> c_int {
        // SAFETY: a readable buffer and its size.
        self.after_call(unsafe {
            (self.table.bind.unwrap())(
                self.ud(),
                fd,
                addr.as_ptr() as *const sockaddr,
                addr.len() as socklen_t,
            )
        })
    }

    pub fn listen(&self, fd: c_int, backlog: c_int) -> c_int {
        // SAFETY: valid userdata.
        self.after_call(unsafe { (self.table.listen.unwrap())(self.ud(), fd, backlog) })
    }

    /// accept, with the peer address decoded.
    pub fn accept(&self, fd: c_int) -> (c_int, Option<PeerAddress>) {
        // SAFETY: sockaddr_storage is plain old data.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as socklen_t;
        // SAFETY: a writable sockaddr_storage and its size.
        let result = self.after_call(unsafe {
            (self.table.accept.unwrap())(
                self.ud(),
                fd,
                &mut storage as *mut _ as *mut sockaddr,
                &mut len,
            )
        });
        (
            result,
            (result >= 0).then(|| decode_sockaddr(&storage, len)),
        )
    }

    pub fn connect_v4(&self, fd: c_int, addr: Ipv4Addr, port: u16) -> c_int {
        let sin = sockaddr_v4(addr, port);
        // SAFETY: a valid sockaddr_in and its size.
        self.after_call(unsafe {
            (self.table.connect.unwrap())(
                self.ud(),
                fd,
                &sin as *const _ as *const sockaddr,
                size_of::<sockaddr_in>() as socklen_t,
            )
        })
    }

    pub fn read(&self, fd: c_int, len: usize) -> (isize, Vec<u8>) {
        let mut buf = vec![0u8; len];
        // SAFETY: a writable buffer of `len` bytes.
        let n = self.after_call(unsafe {
            (self.table.read.unwrap())(self.ud(), fd, buf.as_mut_ptr() as _, len)
        });
        buf.truncate(n.max(0) as usize);
        (n, buf)
    }

    pub fn write(&self, fd: c_int, data: &[u8]) -> isize {
        // SAFETY: a readable buffer of data.len() bytes.
        self.after_call(unsafe {
            (self.table.write.unwrap())(self.ud(), fd, data.as_ptr() as _, data.len())
        })
    }

    pub fn close(&self, fd: c_int) -> c_int {
        // SAFETY: valid userdata.
        self.after_call(unsafe { (self.table.close.unwrap())(self.ud(), fd) })
    }

    pub fn shutdown(&self, fd: c_int, how: c_int) -> c_int {
        // SAFETY: valid userdata.
        self.after_call(unsafe { (self.table.shutdown.unwrap())(self.ud(), fd, how) })
    }

    pub fn fcntl(&self, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
        // SAFETY: valid userdata; the int argument is passed as the variadic one.
        self.after_call(unsafe { (self.table.fcntl.unwrap())(self.ud(), fd, cmd, arg) })
    }

    pub fn ioctl_int(&self, fd: c_int, request: libc::c_ulong) -> (c_int, c_int) {
        let mut value: c_int = -7;
        // SAFETY: a writable int.
        let result = self
            .after_call(unsafe { (self.table.ioctl.unwrap())(self.ud(), fd, request, &mut value) });
        (result, value)
    }

    pub fn getsockopt(&self, fd: c_int, level: c_int, name: c_int, len: usize) -> (c_int, Vec<u8>) {
        let mut buf = vec![0u8; len + 1];
        let mut optlen = len as socklen_t;
        // SAFETY: a writable buffer of len + 1 bytes and its length.
        let result = self.after_call(unsafe {
            (self.table.getsockopt.unwrap())(
                self.ud(),
                fd,
                level,
                name,
                buf.as_mut_ptr() as _,
                &mut optlen,
            )
        });
        buf.truncate(optlen as usize);
        (result, buf)
    }

    pub fn getsockopt_int(&self, fd: c_int, level: c_int, name: c_int) -> c_int {
        let (result, bytes) = self.getsockopt(fd, level, name, 4);
        assert_eq!(result, 0, "getsockopt({level}, {name}) errno {}", errno());
        c_int::from_ne_bytes(bytes[..4].try_into().unwrap())
    }

    pub fn setsockopt(&self, fd: c_int, level: c_int, name: c_int, value: &[u8]) -> c_int {
        // SAFETY: a readable buffer and its length.
        self.after_call(unsafe {
            (self.table.setsockopt.unwrap())(
                self.ud(),
                fd,
                level,
                name,
                value.as_ptr() as _,
                value.len() as socklen_t,
            )
        })
    }

    pub fn setsockopt_int(&self, fd: c_int, level: c_int, name: c_int, value: c_int) -> c_int {
        self.setsockopt(fd, level, name, &value.to_ne_bytes())
    }

    pub fn poll(&self, fds: &mut [libc::pollfd], timeout: c_int) -> c_int {
        // SAFETY: a writable pollfd array.
        self.after_call(unsafe {
            (self.table.poll.unwrap())(self.ud(), fds.as_mut_ptr(), fds.len() as _, timeout)
        })
    }

    pub fn sendto_v4(&self, fd: c_int, data: &[u8], addr: Ipv4Addr, port: u16) -> isize {
        let sin = sockaddr_v4(addr, port);
        // SAFETY: readable data and a valid sockaddr_in.
        self.after_call(unsafe {
            (self.table.sendto.unwrap())(
                self.ud(),
                fd,
                data.as_ptr() as _,
                data.len(),
                0,
                &sin as *const _ as *const sockaddr,
                size_of::<sockaddr_in>() as socklen_t,
            )
        })
    }

    pub fn recvfrom(
        &self,
        fd: c_int,
        len: usize,
        flags: c_int,
    ) -> (isize, Vec<u8>, Option<PeerAddress>) {
        let mut buf = vec![0u8; len];
        // SAFETY: sockaddr_storage is plain old data.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut addrlen = size_of::<libc::sockaddr_storage>() as socklen_t;
        // SAFETY: writable buffers and lengths.
        let n = self.after_call(unsafe {
            (self.table.recvfrom.unwrap())(
                self.ud(),
                fd,
                buf.as_mut_ptr() as _,
                len,
                flags,
                &mut storage as *mut _ as *mut sockaddr,
                &mut addrlen,
            )
        });
        buf.truncate(n.max(0) as usize);
        let from = (n >= 0 && addrlen > 0).then(|| decode_sockaddr(&storage, addrlen));
        (n, buf, from)
    }

    /// Injects a packet from the peer (netdev_send).
    pub fn inject(&self, packet: &[u8]) {
        // SAFETY: a readable packet.
        let result = unsafe {
            (self.table.netdev_send.unwrap())(self.ud(), packet.as_ptr() as _, packet.len())
        };
        assert_eq!(result, 0, "netdev_send");
        self.after_call(());
    }

    pub fn inject_tcp(&self, segment: &Segment) {
        self.inject(&build_tcp(REMOTE, LOCAL, segment));
    }

    /// The next packet the stack sent and its send time (netdev_receive).
    pub fn receive(&self) -> Option<(Vec<u8>, i64)> {
        let mut buf = vec![0u8; 65536];
        let mut count = buf.len();
        let mut time = 0i64;
        // SAFETY: a writable 64 KiB buffer, its size and a time slot.
        let result = unsafe {
            (self.table.netdev_receive.unwrap())(
                self.ud(),
                buf.as_mut_ptr() as _,
                &mut count,
                &mut time,
            )
        };
        (result == 0).then(|| {
            buf.truncate(count);
            (buf, time)
        })
    }

    /// The next TCP segment the stack sent, parsed, and its send time.
    pub fn receive_tcp(&self) -> (Segment, i64) {
        let (bytes, time) = self.receive().expect("a packet from the stack");
        (parse_tcp(&bytes), time)
    }

    /// Asserts that the stack sent nothing.
    pub fn assert_silent(&self) {
        if let Some((bytes, time)) = self.receive() {
            panic!("unexpected packet at {time}: {:?}", parse_tcp(&bytes));
        }
    }

    pub fn usleep(&self, usecs: u32) {
        // SAFETY: valid userdata.
        assert_eq!(unsafe { (self.table.usleep.unwrap())(self.ud(), usecs) }, 0);
        self.after_call(());
    }

    /// The virtual clock in µs.
    pub fn now_us(&self) -> i64 {
        // SAFETY: timeval is plain old data.
        let mut tv: libc::timeval = unsafe { std::mem::zeroed() };
        // SAFETY: a writable timeval and a NULL timezone.
        let result =
            unsafe { (self.table.gettimeofday.unwrap())(self.ud(), &mut tv, std::ptr::null_mut()) };
        assert_eq!(result, 0);
        tv.tv_sec * 1_000_000 + tv.tv_usec
    }

    /// stackdrill_poll: µs to the next timer, or -1.
    pub fn next_timer(&self) -> i64 {
        let mut next = 0i64;
        // SAFETY: valid userdata and an out slot.
        assert_eq!(unsafe { stackdrill_poll(self.ud(), &mut next) }, 0);
        next
    }

    /// stackdrill_poll, as stackdrill calls it between operations (e.g. once a blocking call
    /// sleeps).
    pub fn poll_stack(&self) -> i64 {
        self.next_timer()
    }

    /// stackdrill_sockets, asked twice the way stackdrill does: the count, then the entries.
    pub fn sockets(&self) -> Vec<StackdrillSocket> {
        // SAFETY: valid userdata; NULL with max 0 asks for the count only.
        let count = unsafe { stackdrill_sockets(self.ud(), std::ptr::null_mut(), 0) };
        assert!(count >= 0, "stackdrill_sockets failed");
        let mut entries = vec![StackdrillSocket::zeroed(); count as usize + 1];
        // SAFETY: a writable array of entries.len() entries.
        let again =
            unsafe { stackdrill_sockets(self.ud(), entries.as_mut_ptr(), entries.len() as c_int) };
        assert_eq!(again, count, "the table did not change between the calls");
        entries.truncate(count as usize);
        entries
    }

    /// Advances virtual time the way stackdrill waits for a packet: usleep by the smaller of
    /// the time left and the next timer, until a packet is queued or `limit_us` has passed.
    pub fn wait_for_packet(&self, limit_us: i64) -> Option<(Vec<u8>, i64)> {
        let deadline = self.now_us() + limit_us;
        loop {
            if let Some(packet) = self.receive() {
                return Some(packet);
            }
            let now = self.now_us();
            if now >= deadline {
                return None;
            }
            let next = self.next_timer();
            let step = if next < 0 {
                deadline - now
            } else {
                next.min(deadline - now)
            };
            self.usleep(step.max(1) as u32);
        }
    }

    /// A passive open on `port`: listen, handshake from the peer, accept. Returns the accepted
    /// fd and the stack's ISN.
    pub fn passive_open(&self, port: u16) -> (c_int, u32) {
        let listener = self.socket(libc::AF_INET, libc::SOCK_STREAM);
        assert_eq!(self.bind_v4(listener, LOCAL, port), 0);
        assert_eq!(self.listen(listener, 1), 0);
        let mut syn = Segment::to_stack(port, TcpControl::Syn, 0, None);
        syn.mss = Some(1000);
        self.inject_tcp(&syn);
        let (syn_ack, _) = self.receive_tcp();
        let mut ack =
            Segment::to_stack(port, TcpControl::None, 1, Some(syn_ack.seq.wrapping_add(1)));
        ack.window = 65535;
        self.inject_tcp(&ack);
        let (fd, peer) = self.accept(listener);
        assert!(fd >= 0, "accept errno {}", errno());
        assert_eq!(peer.unwrap().2, PEER_PORT);
        assert_eq!(self.close(listener), 0);
        (fd, syn_ack.seq.wrapping_add(1))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(free) = self.table.free {
            // SAFETY: userdata from init, freed once.
            unsafe { free(self.table.userdata) };
        }
    }
}

/// The scheduler state of a thread of this process ('S' when asleep in the kernel).
pub fn thread_state(tid: libc::pid_t) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|rest| rest.trim_start().chars().next())
        .unwrap_or('?')
}

/// Waits (real time, bounded) until the thread sleeps in the kernel (or has exited).
pub fn wait_until_asleep(tid: libc::pid_t) {
    let give_up = RealInstant::now() + RealDuration::from_secs(5);
    loop {
        if matches!(thread_state(tid), 'S' | '?') {
            return;
        }
        assert!(RealInstant::now() < give_up, "thread {tid} never slept");
        std::thread::sleep(RealDuration::from_millis(1));
    }
}

pub fn current_tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
