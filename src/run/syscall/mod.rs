//! System calls from the script: evaluating and encoding arguments, calling the `Target`,
//! checking the result, errno and outputs (getsockopt values, msg_flags, cmsgs, revents…).
//! Runs on the stack thread; reports socket life-cycle changes back as `SocketEffect`s.

mod msg;
mod value;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{c_int, c_void, socklen_t};

use crate::catalog::symbols;
use crate::script::ast;
use crate::sut::target::{SysResult, Target};
use crate::verdict::CallMismatch;

use self::msg::{CmsgCheck, Control};
use self::value::{bad_type, get_int, get_s32, EpollData, TcpMd5SigValue, Value};

/// What the executor knows that system calls need.
#[derive(Debug, Clone)]
pub struct SyscallEnv {
    /// AF_INET or AF_INET6: the domain `socket(..., ...)` uses, and the family of the sockaddrs
    /// passed to bind/connect/sendto (IPv4-mapped IPv6 addresses in ipv4-mapped-ipv6 mode).
    pub socket_domain: i32,
    /// Addresses as the socket API sees them (already mapped to IPv6 in ipv4-mapped-ipv6 mode).
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    /// `--bind_port` and `--connect_port`.
    pub bind_port: u16,
    pub connect_port: u16,
    /// Live CLOCK_REALTIME microseconds of script time 0, to map script times in expected
    /// SCM_TIMESTAMPING values to live times.
    pub script_start_usecs: i64,
    /// `--tolerance_usecs`, for timestamps and opt-stats durations.
    pub tolerance_usecs: i64,
}

/// One script fd and what it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdEntry {
    pub script_fd: i64,
    pub live_fd: i32,
    /// For sockets: (domain, type without flags, protocol); None for files, pipes, epoll fds.
    pub socket: Option<(i32, i32, i32)>,
}

/// Script fd → live fd mapping, plus memory that must outlive the calls that used it.
#[derive(Debug, Default)]
pub struct FdTable {
    pub entries: Vec<FdEntry>,
    /// Send buffers are kept for the whole run (MSG_ZEROCOPY may read them after the call).
    pub retained_buffers: Vec<Vec<u8>>,
}

/// A socket life-cycle change the main thread must know about (it owns the packet tuple
/// mapping of the "socket under test").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEffect {
    /// `socket()` succeeded: a new socket under test.
    Opened {
        script_fd: i64,
        live_fd: i32,
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    Listening {
        script_fd: i64,
    },
    /// `connect()`, `sendto()`/`sendmsg()` with a destination (TCP Fast Open or UDP), on `script_fd`.
    Connecting {
        script_fd: i64,
    },
    /// `connect(fd, AF_UNSPEC, ...)` (or another explicit family): the association is dissolved.
    Disconnected {
        script_fd: i64,
    },
    /// `accept()` returned `live_fd` for a connection from `peer`.
    Accepted {
        listener_script_fd: i64,
        script_fd: i64,
        live_fd: i32,
        peer: Option<std::net::SocketAddr>,
    },
    Closed {
        script_fd: i64,
        live_fd: i32,
    },
}

/// A call that ran and matched the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallOutcome {
    /// The live return value.
    pub result: i64,
    pub effects: Vec<SocketEffect>,
}

impl FdTable {
    /// The live fd of an open script fd.
    pub fn live_fd(&self, script_fd: i64) -> Option<i32> {
        self.entries
            .iter()
            .find(|e| e.script_fd == script_fd)
            .map(|e| e.live_fd)
    }

    /// The entry of an open script fd.
    pub fn get(&self, script_fd: i64) -> Option<&FdEntry> {
        self.entries.iter().find(|e| e.script_fd == script_fd)
    }

    /// The script fd a live fd stands for.
    pub fn script_fd(&self, live_fd: i32) -> Option<i64> {
        self.entries
            .iter()
            .find(|e| e.live_fd == live_fd)
            .map(|e| e.script_fd)
    }

    /// Records a new fd, replacing any entry with the same script fd.
    pub fn insert(&mut self, entry: FdEntry) {
        self.entries.retain(|e| e.script_fd != entry.script_fd);
        self.entries.push(entry);
    }

    /// Forgets a script fd (after close); returns its entry.
    pub fn remove(&mut self, script_fd: i64) -> Option<FdEntry> {
        let i = self.entries.iter().position(|e| e.script_fd == script_fd)?;
        Some(self.entries.remove(i))
    }
}

/// Runs one script system call on `target`.
///
/// Notes for the caller:
/// - `SocketEffect::Connecting` is reported for every `connect()` and every `sendto()`/
///   `sendmsg()` with a destination; as in packetdrill, it starts a new connection only when the
///   socket is still new (not yet connecting/connected/listening).
/// - `SocketEffect::Accepted::peer` is the address as accept() returned it (an IPv4-mapped IPv6
///   address in ipv4-mapped-ipv6 mode).
/// - `open`, `sendfile` and `cap_set` go to the kernel directly (the `Target` has no such
///   entry points), like packetdrill does even with a shared-object stack.
pub fn execute(
    call: &ast::Syscall,
    env: &SyscallEnv,
    fds: &mut FdTable,
    target: &mut dyn Target,
) -> Result<SyscallOutcome, CallMismatch> {
    let result = run(call, env, fds, target);
    if let Some(message) = target.take_fault() {
        return Err(message.into());
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Common machinery

type Handler = fn(&mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch>;

/// The handler of a system call named in the catalog; the match has no catch-all, so every
/// catalog entry has exactly one handler.
fn handler(name: &str) -> Option<Handler> {
    use crate::catalog::syscalls::Syscall as Call;
    Some(match Call::from_name(name)? {
        Call::Socket => sys_socket,
        Call::Bind => sys_bind,
        Call::Listen => sys_listen,
        Call::Accept => sys_accept,
        Call::Connect => sys_connect,
        Call::Read => sys_read,
        Call::Readv => sys_readv,
        Call::Recv => sys_recv,
        Call::Recvfrom => sys_recvfrom,
        Call::Recvmsg => sys_recvmsg,
        Call::Write => sys_write,
        Call::Writev => sys_writev,
        Call::Send => sys_send,
        Call::Sendto => sys_sendto,
        Call::Sendmsg => sys_sendmsg,
        Call::Fcntl => sys_fcntl,
        Call::Ioctl => sys_ioctl,
        Call::Close => sys_close,
        Call::Shutdown => sys_shutdown,
        Call::Getsockopt => sys_getsockopt,
        Call::Setsockopt => sys_setsockopt,
        Call::Poll => sys_poll,
        Call::CapSet => sys_cap_set,
        Call::Open => sys_open,
        Call::Sendfile => sys_sendfile,
        Call::EpollCreate => sys_epoll_create,
        Call::EpollCtl => sys_epoll_ctl,
        Call::EpollWait => sys_epoll_wait,
        Call::Pipe => sys_pipe,
        Call::Splice => sys_splice,
        Call::PspRxAssoc | Call::PspTxAssoc => sys_psp,
    })
}

fn run(
    call: &ast::Syscall,
    env: &SyscallEnv,
    fds: &mut FdTable,
    target: &mut dyn Target,
) -> Result<SyscallOutcome, CallMismatch> {
    let name = call.name.value.as_str();
    let handler = handler(name).ok_or_else(|| format!("Unknown system call: '{name}'"))?;
    let args = value::evaluate_all(&call.args)?;
    let mut cx = Ctx {
        call,
        env,
        fds,
        target,
        args,
    };
    handler(&mut cx)
}

/// How the live result is compared with the script's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Must equal the script's value.
    Exact,
    /// fd-creating call: a non-negative script value means "any non-negative result".
    Fd,
}

/// A call whose result matched the script.
struct Checked {
    /// The live result.
    result: i64,
    /// The script's result value (the script fd for fd-creating calls).
    expected: i32,
}

struct Ctx<'a> {
    call: &'a ast::Syscall,
    env: &'a SyscallEnv,
    fds: &'a mut FdTable,
    target: &'a mut dyn Target,
    args: Vec<Value>,
}

impl Ctx<'_> {
    fn check_arg_count(&self, expected: usize) -> Result<(), String> {
        if self.args.len() != expected {
            return Err(format!(
                "Expected {expected} args but got {}",
                self.args.len()
            ));
        }
        Ok(())
    }

    fn arg(&self, index: usize) -> Result<&Value, String> {
        self.args
            .get(index)
            .ok_or_else(|| "Argument list too short".to_string())
    }

    fn s32_arg(&self, index: usize) -> Result<i32, String> {
        get_s32(self.arg(index)?)
    }

    fn is_ellipsis(&self, index: usize) -> bool {
        matches!(self.args.get(index), Some(Value::Ellipsis))
    }

    /// A sockaddr struct in argument `index` and its length in the next (`...` for the
    /// struct's own size, else the integer the script gives, at most the storage's size); None
    /// when the argument is no sockaddr.
    fn sockaddr_arg(
        &self,
        index: usize,
    ) -> Result<Option<(libc::sockaddr_storage, socklen_t)>, String> {
        let Value::Sockaddr(addr) = self.arg(index)? else {
            return Ok(None);
        };
        let (storage, own_len) = encode_sockaddr(addr);
        let len = match self.arg(index + 1)? {
            Value::Ellipsis => own_len,
            other => {
                let len = get_s32(other)?;
                let max = std::mem::size_of::<libc::sockaddr_storage>() as i32;
                if !(0..=max).contains(&len) {
                    return Err(format!("sockaddr length {len} is not within 0..={max}"));
                }
                len as socklen_t
            }
        };
        Ok(Some((storage, len)))
    }

    fn ellipsis_arg(&self, index: usize) -> Result<(), String> {
        match self.arg(index)? {
            Value::Ellipsis => Ok(()),
            other => Err(bad_type(other, "ellipsis")),
        }
    }

    /// `[X]`: the single element.
    fn bracketed_arg(&self, index: usize) -> Result<&Value, String> {
        match self.arg(index)? {
            Value::List(items) if items.len() == 1 => Ok(&items[0]),
            Value::List(_) => Err("Expected [<element>] but got multiple elements".into()),
            other => Err(bad_type(other, "list")),
        }
    }

    fn s32_bracketed_arg(&self, index: usize) -> Result<i32, String> {
        get_s32(self.bracketed_arg(index)?)
    }

    fn s64_bracketed_arg(&self, index: usize) -> Result<i64, String> {
        get_int(self.bracketed_arg(index)?)
    }

    /// A buffer argument: `...` (a real buffer) or `0` (NULL). True for NULL.
    fn buffer_arg(&self, index: usize) -> Result<bool, String> {
        match self.args.get(index) {
            Some(Value::Ellipsis) => Ok(false),
            Some(Value::Int(0)) => Ok(true),
            _ => Err("Expected ... or NULL for buffer".into()),
        }
    }

    /// The script fd in argument `index` and its live fd.
    fn fd_arg(&self, index: usize) -> Result<(i32, i32), String> {
        let script_fd = self.s32_arg(index)?;
        Ok((script_fd, self.to_live_fd(script_fd)?))
    }

    fn to_live_fd(&self, script_fd: i32) -> Result<i32, String> {
        self.fds
            .live_fd(script_fd as i64)
            .ok_or_else(|| format!("unable to find fd with script fd {script_fd}"))
    }

    /// packetdrill's `end_syscall`: the result (and errno, when the script names one) must match.
    fn end(&self, mode: Mode, outcome: SysResult) -> Result<Checked, CallMismatch> {
        let (result, errno) = match outcome {
            Ok(v) => (v, 0),
            Err(e) => (-1, e),
        };
        let actual = result as i32;
        let expected = get_s32(&value::evaluate(&self.call.result)?)?;
        if mode == Mode::Fd && expected >= 0 {
            if actual < 0 {
                return Err(CallMismatch::Result {
                    expected: None,
                    actual: i64::from(actual),
                    errno,
                });
            }
        } else if actual != expected {
            return Err(CallMismatch::Result {
                expected: Some(i64::from(expected)),
                actual: i64::from(actual),
                errno,
            });
        }
        if let Some(name) = &self.call.errno {
            let expected_errno = symbols::lookup(&name.value)
                .ok_or_else(|| format!("unknown symbol: '{}'", name.value))?
                as i32;
            if errno != expected_errno {
                return Err(CallMismatch::Errno {
                    expected: expected_errno,
                    actual: errno,
                });
            }
        }
        Ok(Checked { result, expected })
    }

    fn check(&self, mode: Mode, outcome: SysResult) -> Result<SyscallOutcome, CallMismatch> {
        let checked = self.end(mode, outcome)?;
        Ok(done(checked.result, Vec::new()))
    }

    fn cmsg_check(&self) -> CmsgCheck {
        CmsgCheck {
            script_start_usecs: self.env.script_start_usecs,
            tolerance_usecs: self.env.tolerance_usecs,
        }
    }
}

fn done(result: i64, effects: Vec<SocketEffect>) -> SyscallOutcome {
    SyscallOutcome { result, effects }
}

/// A zero-filled buffer of `count` bytes (none for NULL or a negative count) and the pointer to
/// pass: NULL for `0`, else the buffer (dangling but non-NULL when empty).
fn alloc_buffer(is_null: bool, count: i32) -> Vec<u8> {
    if is_null || count <= 0 {
        Vec::new()
    } else {
        vec![0u8; count as usize]
    }
}

fn buffer_ptr(is_null: bool, buf: &mut [u8]) -> *mut c_void {
    if is_null {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    }
}

/// A C `int` count passed as `size_t` (negative values sign-extend, as in C).
fn size_arg(count: i32) -> usize {
    count as isize as usize
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// The sockaddr for `ip:port` as a socket of `domain` needs it: IPv4-mapped IPv6 for an IPv4
/// address on an AF_INET6 socket, plain IPv4 for a mapped address on an AF_INET socket.
fn sockaddr_for(ip: IpAddr, port: u16, domain: i32) -> (libc::sockaddr_storage, socklen_t) {
    let addr: SocketAddr = match ip {
        IpAddr::V4(v4) if domain == libc::AF_INET6 => {
            SocketAddr::V6(SocketAddrV6::new(v4.to_ipv6_mapped(), port, 0, 0))
        }
        IpAddr::V6(v6) if domain != libc::AF_INET6 => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
            None => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, 0)),
        },
        IpAddr::V4(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, 0, 0)),
    };
    encode_sockaddr(&addr)
}

fn encode_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(a.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: sockaddr_storage is larger than and suitably aligned for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as socklen_t)
}

/// Linux's `struct tcp_md5sig` (216 bytes): the peer's sockaddr_storage, flags, prefix length,
/// key length, ifindex, then the key in 80 bytes.
fn encode_tcp_md5sig(md5sig: &TcpMd5SigValue) -> Vec<u8> {
    let (storage, _) = encode_sockaddr(&md5sig.addr);
    // SAFETY: sockaddr_storage is plain old data of exactly 128 bytes, every byte initialised
    // (zeroed, then the address written).
    let addr: [u8; std::mem::size_of::<libc::sockaddr_storage>()] =
        unsafe { std::mem::transmute(storage) };
    let mut out = addr.to_vec();
    out.push(md5sig.flags);
    out.push(md5sig.prefixlen);
    out.extend_from_slice(&md5sig.keylen.to_ne_bytes());
    out.extend_from_slice(&md5sig.ifindex.to_ne_bytes());
    let mut key = [0u8; crate::wire::tcp_md5::MAX_KEY_LEN];
    key[..md5sig.key.len()].copy_from_slice(&md5sig.key);
    out.extend_from_slice(&key);
    out
}

/// A zeroed sockaddr whose family is the script's integer (e.g. AF_UNSPEC to disconnect).
fn zeroed_sockaddr(family: i32, domain: i32) -> (libc::sockaddr_storage, socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    storage.ss_family = family as libc::sa_family_t;
    let len = if family == libc::AF_INET6 || domain == libc::AF_INET6 {
        std::mem::size_of::<libc::sockaddr_in6>()
    } else {
        std::mem::size_of::<libc::sockaddr_in>()
    };
    (storage, len as socklen_t)
}

/// The address in a sockaddr the stack filled in.
fn decode_sockaddr(storage: &libc::sockaddr_storage, len: socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match storage.ss_family as i32 {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn sockaddr_ptr(storage: &libc::sockaddr_storage) -> *const libc::sockaddr {
    (storage as *const libc::sockaddr_storage).cast()
}

fn sockaddr_mut_ptr(storage: &mut libc::sockaddr_storage) -> *mut libc::sockaddr {
    (storage as *mut libc::sockaddr_storage).cast()
}

/// The destination of connect/sendto: the configured remote, or a zeroed sockaddr of the
/// script's family.
fn destination(env: &SyscallEnv, family: Option<i32>) -> (libc::sockaddr_storage, socklen_t) {
    match family {
        Some(family) => zeroed_sockaddr(family, env.socket_domain),
        None => sockaddr_for(env.remote_ip, env.connect_port, env.socket_domain),
    }
}

// ---------------------------------------------------------------------------------------------
// iovecs and msghdrs

/// Zero-filled iovec buffers and the iovec array pointing at them.
struct Iovecs {
    bufs: Vec<Vec<u8>>,
    iov: Vec<libc::iovec>,
}

impl Iovecs {
    fn new(v: &Value) -> Result<Iovecs, String> {
        let Value::List(items) = v else {
            return Err(bad_type(v, "list"));
        };
        let mut bufs = Vec::with_capacity(items.len());
        for item in items {
            let Value::Iovec { len } = item else {
                return Err(bad_type(item, "iovec"));
            };
            let len = usize::try_from(*len)
                .ok()
                .filter(|&l| l <= i32::MAX as usize)
                .ok_or_else(|| format!("iovec length {len} out of range"))?;
            bufs.push(vec![0u8; len]);
        }
        let iov = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        Ok(Iovecs { bufs, iov })
    }
}

/// The memory behind a `struct msghdr` built from the script (packetdrill's `msghdr_new`).
struct Msg {
    name: Option<libc::sockaddr_storage>,
    namelen: socklen_t,
    iovecs: Iovecs,
    control: Option<Control>,
    flags: i32,
}

impl Msg {
    fn new(v: &Value) -> Result<Msg, String> {
        let Value::Msghdr(m) = v else {
            return Err(bad_type(v, "msghdr"));
        };
        if m.name != Value::Ellipsis || m.namelen != Value::Ellipsis {
            return Err("Expected msg_name(...)=... in msghdr".into());
        }
        let iovecs = Iovecs::new(&m.iov)?;
        let iovlen = match &m.iovlen {
            Some(n) => get_s32(n)? as i64,
            None => iovecs.iov.len() as i64,
        };
        if iovlen != iovecs.iov.len() as i64 {
            return Err(format!(
                "msg_iovlen {iovlen} does not match {}-element iovec array",
                iovecs.iov.len()
            ));
        }
        let control = m.control.as_ref().map(msg::build_control).transpose()?;
        let flags = get_s32(&m.flags)?;
        Ok(Msg {
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            name: Some(unsafe { std::mem::zeroed() }),
            namelen: std::mem::size_of::<libc::sockaddr_storage>() as socklen_t,
            iovecs,
            control,
            flags,
        })
    }

    /// The C msghdr; valid while `self` is neither moved nor changed.
    fn msghdr(&mut self) -> libc::msghdr {
        // SAFETY: msghdr is plain old data; all-zero is a valid (empty) value.
        let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
        if let Some(name) = &mut self.name {
            m.msg_name = (name as *mut libc::sockaddr_storage).cast();
            m.msg_namelen = self.namelen;
        }
        m.msg_iov = self.iovecs.iov.as_mut_ptr();
        m.msg_iovlen = self.iovecs.iov.len();
        if let Some(control) = &mut self.control {
            m.msg_control = control.buf.as_mut_ptr().cast();
            m.msg_controllen = control.len;
        }
        m.msg_flags = self.flags;
        m
    }
}

// ---------------------------------------------------------------------------------------------
// The calls

fn sys_socket(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let domain = if cx.is_ellipsis(0) {
        cx.env.socket_domain
    } else {
        cx.s32_arg(0)?
    };
    let ty = cx.s32_arg(1)?;
    let protocol = cx.s32_arg(2)?;
    // SAFETY: no pointers.
    let outcome = unsafe { cx.target.socket(domain, ty, protocol) };
    let checked = cx.end(Mode::Fd, outcome)?;
    let mut effects = Vec::new();
    if checked.result >= 0 {
        let script_fd = checked.expected as i64;
        let live_fd = checked.result as i32;
        let ty = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
        cx.fds.insert(FdEntry {
            script_fd,
            live_fd,
            socket: Some((domain, ty, protocol)),
        });
        effects.push(SocketEffect::Opened {
            script_fd,
            live_fd,
            domain,
            ty,
            protocol,
        });
    }
    Ok(done(checked.result, effects))
}

/// Linux's protocol number of MPTCP sockets (uapi `linux/in.h`).
const IPPROTO_MPTCP: i32 = 262;

fn sys_bind(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    let (addr, len) = match cx.sockaddr_arg(1)? {
        Some(given) => given,
        None => {
            cx.ellipsis_arg(1)?;
            cx.ellipsis_arg(2)?;
            // As the MPTCP fork: an MPTCP listener takes every local address, so that a
            // subflow can join at an address the stack announced (ADD_ADDR).
            let mptcp = cx
                .fds
                .get(i64::from(script_fd))
                .and_then(|e| e.socket)
                .is_some_and(|(_, _, protocol)| protocol == IPPROTO_MPTCP);
            let ip = match mptcp {
                true if cx.env.socket_domain == libc::AF_INET6 => {
                    IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                }
                true => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                false => cx.env.local_ip,
            };
            sockaddr_for(ip, cx.env.bind_port, cx.env.socket_domain)
        }
    };
    // SAFETY: `addr` holds `len` bytes of sockaddr.
    let outcome = unsafe { cx.target.bind(live_fd, sockaddr_ptr(&addr), len) };
    cx.check(Mode::Exact, outcome)
}

fn sys_listen(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(2)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    let backlog = cx.s32_arg(1)?;
    // SAFETY: no pointers.
    let outcome = unsafe { cx.target.listen(live_fd, backlog) };
    let checked = cx.end(Mode::Exact, outcome)?;
    Ok(done(
        checked.result,
        vec![SocketEffect::Listening {
            script_fd: script_fd as i64,
        }],
    ))
}

fn sys_accept(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    cx.ellipsis_arg(1)?;
    cx.ellipsis_arg(2)?;
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: `addr` has room for `len` bytes.
    let outcome = unsafe {
        cx.target
            .accept(live_fd, sockaddr_mut_ptr(&mut addr), &mut len)
    };
    let checked = cx.end(Mode::Fd, outcome)?;
    let mut effects = Vec::new();
    if checked.result >= 0 {
        let accepted = checked.expected as i64;
        let accepted_live = checked.result as i32;
        let socket = cx.fds.get(script_fd as i64).and_then(|e| e.socket);
        cx.fds.insert(FdEntry {
            script_fd: accepted,
            live_fd: accepted_live,
            socket,
        });
        effects.push(SocketEffect::Accepted {
            listener_script_fd: script_fd as i64,
            script_fd: accepted,
            live_fd: accepted_live,
            peer: decode_sockaddr(&addr, len),
        });
    }
    Ok(done(checked.result, effects))
}

fn sys_connect(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    let script_fd = script_fd as i64;
    if let Some((addr, len)) = cx.sockaddr_arg(1)? {
        // SAFETY: `addr` holds the sockaddr; the stack reads at most `len` bytes of it, and
        // `sockaddr_arg` caps `len` at the storage's size.
        let outcome = unsafe { cx.target.connect(live_fd, sockaddr_ptr(&addr), len) };
        let checked = cx.end(Mode::Exact, outcome)?;
        // Only a connection to the script's remote end is one whose packets the script sees.
        let to_remote = decode_sockaddr(&addr, len).is_some_and(|a| a.ip() == cx.env.remote_ip);
        let effects = if to_remote {
            vec![SocketEffect::Connecting { script_fd }]
        } else {
            Vec::new()
        };
        return Ok(done(checked.result, effects));
    }
    let family = if cx.is_ellipsis(1) {
        None
    } else {
        Some(cx.s32_arg(1)?)
    };
    cx.ellipsis_arg(2)?;
    let (addr, len) = destination(cx.env, family);
    // SAFETY: `addr` holds `len` bytes of sockaddr.
    let outcome = unsafe { cx.target.connect(live_fd, sockaddr_ptr(&addr), len) };
    let checked = cx.end(Mode::Exact, outcome)?;
    let effect = match family {
        Some(_) => SocketEffect::Disconnected { script_fd },
        None => SocketEffect::Connecting { script_fd },
    };
    Ok(done(checked.result, vec![effect]))
}

fn sys_read(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let mut buf = alloc_buffer(is_null, count);
    // SAFETY: the buffer is NULL (deliberately) or has `count` bytes (or is empty for a
    // negative count, which the stack must reject).
    let outcome = unsafe {
        cx.target
            .read(live_fd, buffer_ptr(is_null, &mut buf), size_arg(count))
    };
    cx.check(Mode::Exact, outcome)
}

/// `(fd, [IOVEC, …], iovcnt)` of readv/writev: the live fd, the iovecs, and the count, which
/// must equal the number of iovecs.
fn iovec_args(cx: &mut Ctx<'_>) -> Result<(i32, Iovecs, i32), String> {
    cx.check_arg_count(3)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let iovecs = Iovecs::new(cx.arg(1)?)?;
    let count = cx.s32_arg(2)?;
    if count as i64 != iovecs.iov.len() as i64 {
        return Err(format!(
            "iov_count {count} does not match {}-element iovec array",
            iovecs.iov.len()
        ));
    }
    Ok((live_fd, iovecs, count))
}

fn sys_readv(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    let (live_fd, iovecs, count) = iovec_args(cx)?;
    // SAFETY: every iovec points into a live buffer of its length.
    let outcome = unsafe { cx.target.readv(live_fd, iovecs.iov.as_ptr(), count) };
    cx.check(Mode::Exact, outcome)
}

fn sys_recv(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(4)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let flags = cx.s32_arg(3)?;
    let mut buf = alloc_buffer(is_null, count);
    // SAFETY: as for read.
    let outcome = unsafe {
        cx.target.recv(
            live_fd,
            buffer_ptr(is_null, &mut buf),
            size_arg(count),
            flags,
        )
    };
    cx.check(Mode::Exact, outcome)
}

fn sys_recvfrom(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(6)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let flags = cx.s32_arg(3)?;
    cx.ellipsis_arg(4)?;
    cx.ellipsis_arg(5)?;
    let mut buf = alloc_buffer(is_null, count);
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
    // SAFETY: as for read; `addr` has room for `len` bytes.
    let outcome = unsafe {
        cx.target.recvfrom(
            live_fd,
            buffer_ptr(is_null, &mut buf),
            size_arg(count),
            flags,
            sockaddr_mut_ptr(&mut addr),
            &mut len,
        )
    };
    cx.check(Mode::Exact, outcome)
}

fn sys_recvmsg(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let mut live = Msg::new(cx.arg(1)?)?;
    let expected = Msg::new(cx.arg(1)?)?;
    let flags = cx.s32_arg(2)?;
    let mut hdr = live.msghdr();
    // SAFETY: `hdr` points into `live`, which outlives the call.
    let outcome = unsafe { cx.target.recvmsg(live_fd, &mut hdr, flags) };
    let checked = cx.end(Mode::Exact, outcome)?;
    if hdr.msg_flags != expected.flags {
        return Err(format!(
            "Expected msg_flags 0x{:08X} but got 0x{:08X}",
            expected.flags, hdr.msg_flags
        )
        .into());
    }
    let empty = Control {
        buf: Vec::new(),
        len: 0,
    };
    let expected_control = expected.control.as_ref().unwrap_or(&empty);
    let actual_control: &[u8] = live
        .control
        .as_ref()
        .map(|c| c.buf.as_slice())
        .unwrap_or(&[]);
    let actual_len = if live.control.is_some() {
        hdr.msg_controllen
    } else {
        0
    };
    msg::compare(
        expected_control,
        actual_control,
        actual_len,
        &cx.cmsg_check(),
    )?;
    Ok(done(checked.result, Vec::new()))
}

/// write/send: the zero-filled buffer is kept for the rest of the run.
fn retain(cx: &mut Ctx<'_>, buf: Vec<u8>) {
    if !buf.is_empty() {
        cx.fds.retained_buffers.push(buf);
    }
}

fn sys_write(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let mut buf = alloc_buffer(is_null, count);
    let ptr = buffer_ptr(is_null, &mut buf);
    retain(cx, buf);
    // SAFETY: the buffer (moved, not reallocated) stays alive in `retained_buffers`.
    let outcome = unsafe { cx.target.write(live_fd, ptr, size_arg(count)) };
    cx.check(Mode::Exact, outcome)
}

fn sys_writev(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    let (live_fd, iovecs, count) = iovec_args(cx)?;
    let Iovecs { bufs, iov } = iovecs;
    for buf in bufs {
        retain(cx, buf);
    }
    // SAFETY: every iovec points into a buffer kept alive in `retained_buffers`.
    let outcome = unsafe { cx.target.writev(live_fd, iov.as_ptr(), count) };
    cx.check(Mode::Exact, outcome)
}

fn sys_send(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(4)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let flags = cx.s32_arg(3)?;
    let mut buf = alloc_buffer(is_null, count);
    let ptr = buffer_ptr(is_null, &mut buf);
    retain(cx, buf);
    // SAFETY: the buffer stays alive in `retained_buffers`.
    let outcome = unsafe { cx.target.send(live_fd, ptr, size_arg(count), flags) };
    cx.check(Mode::Exact, outcome)
}

/// True for ping sockets: SOCK_DGRAM with IPPROTO_ICMP (AF_INET) or IPPROTO_ICMPV6 (AF_INET6).
fn is_ping_socket(entry: Option<&FdEntry>) -> bool {
    matches!(
        entry.and_then(|e| e.socket),
        Some((libc::AF_INET, libc::SOCK_DGRAM, libc::IPPROTO_ICMP))
            | Some((libc::AF_INET6, libc::SOCK_DGRAM, libc::IPPROTO_ICMPV6))
    )
}

fn sys_sendto(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(6)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    let is_null = cx.buffer_arg(1)?;
    let count = cx.s32_arg(2)?;
    let flags = cx.s32_arg(3)?;
    let entry = cx.fds.get(script_fd as i64).cloned();
    let ping = is_ping_socket(entry.as_ref());
    let family = if cx.is_ellipsis(4) || ping {
        cx.ellipsis_arg(4)?;
        None
    } else {
        Some(cx.s32_arg(4)?)
    };
    cx.ellipsis_arg(5)?;
    let (addr, len) = destination(cx.env, family);
    let mut buf = alloc_buffer(is_null, count);
    if ping && buf.len() >= 8 {
        // ICMP_ECHO / ICMPV6_ECHO_REQUEST: the kernel insists on an echo request.
        let protocol = entry.and_then(|e| e.socket).map(|s| s.2);
        buf[0] = if protocol == Some(libc::IPPROTO_ICMPV6) {
            128
        } else {
            8
        };
    }
    let ptr = buffer_ptr(is_null, &mut buf);
    retain(cx, buf);
    // SAFETY: the buffer stays alive in `retained_buffers`; `addr` holds `len` bytes.
    let outcome = unsafe {
        cx.target.sendto(
            live_fd,
            ptr,
            size_arg(count),
            flags,
            sockaddr_ptr(&addr),
            len,
        )
    };
    let checked = cx.end(Mode::Exact, outcome)?;
    let script_fd = script_fd as i64;
    let effect = if family == Some(libc::AF_UNSPEC) {
        SocketEffect::Disconnected { script_fd }
    } else {
        SocketEffect::Connecting { script_fd }
    };
    Ok(done(checked.result, vec![effect]))
}

fn sys_sendmsg(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    let mut msg = Msg::new(cx.arg(1)?)?;
    let flags = cx.s32_arg(2)?;
    let (addr, len) = destination(cx.env, None);
    msg.name = Some(addr);
    msg.namelen = len;
    if msg.flags != 0 {
        return Err("sendmsg ignores msg_flags field in msghdr".into());
    }
    // The data stays alive for the rest of the run (MSG_ZEROCOPY); moving a Vec keeps its heap
    // buffer where the iovecs point.
    for buf in std::mem::take(&mut msg.iovecs.bufs) {
        retain(cx, buf);
    }
    let hdr = msg.msghdr();
    // SAFETY: every pointer in `hdr` points at memory alive for the call (or kept for the run).
    let outcome = unsafe { cx.target.sendmsg(live_fd, &hdr, flags) };
    let checked = cx.end(Mode::Exact, outcome)?;
    Ok(done(
        checked.result,
        vec![SocketEffect::Connecting {
            script_fd: script_fd as i64,
        }],
    ))
}

fn sys_fcntl(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    let n = cx.args.len();
    if n != 2 && n != 3 {
        return Err(format!("fcntl expected 2-3 args but got {n}").into());
    }
    let (_, live_fd) = cx.fd_arg(0)?;
    let command = cx.s32_arg(1)?;
    let arg = if n == 3 { Some(cx.s32_arg(2)?) } else { None };
    // SAFETY: the optional argument is an int, never a pointer we made up.
    let outcome = unsafe { cx.target.fcntl(live_fd, command, arg) };
    cx.check(Mode::Exact, outcome)
}

fn sys_ioctl(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    let n = cx.args.len();
    if n != 2 && n != 3 {
        return Err(format!("ioctl expected 2-3 args but got {n}").into());
    }
    let (_, live_fd) = cx.fd_arg(0)?;
    let command = cx.s32_arg(1)?;
    let request = command as libc::c_ulong;
    if n == 2 {
        // SAFETY: NULL selects the two-argument form.
        let outcome = unsafe { cx.target.ioctl(live_fd, request, std::ptr::null_mut()) };
        return cx.check(Mode::Exact, outcome);
    }
    let script_optval = cx.s32_bracketed_arg(2)?;
    let mut live_optval: c_int = 0;
    // SAFETY: the argument points at a live int.
    let outcome = unsafe { cx.target.ioctl(live_fd, request, &mut live_optval) };
    let checked = cx.end(Mode::Exact, outcome)?;
    if live_optval != script_optval {
        return Err(
            format!("Bad ioctl optval: expected: {script_optval} actual: {live_optval}").into(),
        );
    }
    Ok(done(checked.result, Vec::new()))
}

fn sys_close(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(1)?;
    let (script_fd, live_fd) = cx.fd_arg(0)?;
    // SAFETY: no pointers.
    let outcome = unsafe { cx.target.close(live_fd) };
    let checked = cx.end(Mode::Exact, outcome)?;
    cx.fds.remove(script_fd as i64);
    Ok(done(
        checked.result,
        vec![SocketEffect::Closed {
            script_fd: script_fd as i64,
            live_fd,
        }],
    ))
}

fn sys_shutdown(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(2)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let how = cx.s32_arg(1)?;
    // SAFETY: no pointers.
    let outcome = unsafe { cx.target.shutdown(live_fd, how) };
    cx.check(Mode::Exact, outcome)
}

/// Printable form of option bytes for messages.
fn printable(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Largest option buffer we pad to the script's optlen (larger ones are passed as they are).
const MAX_OPTION_PAD: usize = 1 << 20;

fn sys_getsockopt(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(5)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let level = cx.s32_arg(1)?;
    let optname = cx.s32_arg(2)?;
    let val = cx.arg(3)?.clone();
    let script_optlen = cx.s32_bracketed_arg(4)?;
    let mut live_optlen = script_optlen as socklen_t;
    let mut live_optval = vec![0u8; (script_optlen.max(0) as usize).min(MAX_OPTION_PAD) + 1];
    // SAFETY: the buffer has optlen+1 bytes (or is capped for absurd lengths, which the stack
    // rejects or truncates to its option size).
    let outcome = unsafe {
        cx.target.getsockopt(
            live_fd,
            level,
            optname,
            live_optval.as_mut_ptr().cast(),
            &mut live_optlen,
        )
    };
    let checked = cx.end(Mode::Exact, outcome)?;
    if live_optlen as i32 != script_optlen {
        return Err(format!(
            "Bad getsockopt optlen: expected: {script_optlen} actual: {}",
            live_optlen as i32
        )
        .into());
    }
    let live = &live_optval[..(script_optlen.max(0) as usize).min(live_optval.len())];
    match &val {
        Value::Str(expected) => {
            if script_optlen as i64 != expected.len() as i64 {
                return Err(format!(
                    "Bad getsockopt optval: expected optlen ({script_optlen} bytes) does not match \
                     length of expected optval string '{}' ({} bytes)",
                    printable(expected),
                    expected.len()
                )
                .into());
            }
            if live != expected.as_slice() {
                return Err(format!(
                    "Bad getsockopt optval: expected: '{}' actual: '{}'",
                    printable(expected),
                    printable(live)
                )
                .into());
            }
        }
        Value::List(_) => {
            if script_optlen != 4 {
                return Err(format!("Unsupported getsockopt optlen: {script_optlen}").into());
            }
            let expected = cx.s32_bracketed_arg(3)?;
            let actual = i32::from_ne_bytes([
                live_optval[0],
                live_optval[1],
                live_optval[2],
                live_optval[3],
            ]);
            if actual != expected {
                return Err(format!(
                    "Bad getsockopt optval: expected: {expected} actual: {actual}"
                )
                .into());
            }
        }
        Value::Gre(expected) => {
            if script_optlen != 16 {
                return Err(format!("Unsupported getsockopt optlen: {script_optlen}").into());
            }
            // flags, be16[0], be16[1], be32[1], be32[2] (the protocol is not compared).
            if live[0..2] != expected[0..2] || live[4..16] != expected[4..16] {
                return Err("Bad getsockopt optval.".into());
            }
        }
        Value::In6Addr(expected) => {
            if script_optlen != 16 {
                return Err(format!("Unsupported getsockopt optlen: {script_optlen}").into());
            }
            if live != expected.as_slice() {
                let mut a = [0u8; 16];
                a.copy_from_slice(live);
                return Err(format!(
                    "Bad getsockopt optval: expected: {} actual: {} ",
                    Ipv6Addr::from(*expected),
                    Ipv6Addr::from(a)
                )
                .into());
            }
        }
        other => {
            return Err(format!("unsupported getsockopt value type: {}", other.type_name()).into());
        }
    }
    Ok(done(checked.result, Vec::new()))
}

fn sys_setsockopt(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(5)?;
    let (_, live_fd) = cx.fd_arg(0)?;
    let level = cx.s32_arg(1)?;
    let optname = cx.s32_arg(2)?;
    let optlen = cx.s32_arg(4)?;
    let mut optval: Vec<u8> = match cx.arg(3)? {
        Value::Linger { onoff, linger } => {
            let mut v = get_s32(onoff)?.to_ne_bytes().to_vec();
            v.extend_from_slice(&get_s32(linger)?.to_ne_bytes());
            v
        }
        Value::Gre(bytes) => bytes.to_vec(),
        Value::TcpMd5Sig(md5sig) => encode_tcp_md5sig(md5sig),
        Value::In6Addr(bytes) => bytes.to_vec(),
        Value::Mpls(bytes) => bytes.clone(),
        Value::Str(bytes) => {
            let mut v = bytes.clone();
            v.push(0);
            v
        }
        Value::List(_) => cx.s32_bracketed_arg(3)?.to_ne_bytes().to_vec(),
        other => {
            return Err(format!("unsupported setsockopt value type: {}", other.type_name()).into());
        }
    };
    // The stack reads `optlen` bytes: never let it read past our buffer.
    let want = (optlen.max(0) as usize).min(MAX_OPTION_PAD);
    if optval.len() < want {
        optval.resize(want, 0);
    }
    // SAFETY: the buffer holds at least `optlen` bytes (up to a sane cap).
    let outcome = unsafe {
        cx.target.setsockopt(
            live_fd,
            level,
            optname,
            optval.as_ptr().cast(),
            optlen as socklen_t,
        )
    };
    cx.check(Mode::Exact, outcome)
}

/// Names of poll flags, for revents messages (packetdrill's `poll_flags`).
const POLL_FLAGS: &[(i32, &str)] = &[
    (libc::POLLIN as i32, "POLLIN"),
    (libc::POLLPRI as i32, "POLLPRI"),
    (libc::POLLOUT as i32, "POLLOUT"),
    (libc::POLLRDNORM as i32, "POLLRDNORM"),
    (libc::POLLRDBAND as i32, "POLLRDBAND"),
    (libc::POLLWRNORM as i32, "POLLWRNORM"),
    (libc::POLLWRBAND as i32, "POLLWRBAND"),
    (0x400, "POLLMSG"),
    (0x1000, "POLLREMOVE"),
    (libc::POLLRDHUP as i32, "POLLRDHUP"),
    (libc::POLLERR as i32, "POLLERR"),
    (libc::POLLHUP as i32, "POLLHUP"),
    (libc::POLLNVAL as i32, "POLLNVAL"),
];

/// `POLLIN|POLLOUT`; unknown bits as `???`; empty for 0.
fn poll_flags_to_string(flags: i32) -> String {
    (0..32)
        .map(|bit| 1i32 << bit)
        .filter(|b| flags & b != 0)
        .map(|b| {
            POLL_FLAGS
                .iter()
                .find(|(f, _)| *f == b)
                .map(|(_, n)| *n)
                .unwrap_or("???")
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn sys_poll(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let list = cx.arg(0)?.clone();
    let Value::List(items) = &list else {
        return Err(bad_type(&list, "list").into());
    };
    let mut pollfds = Vec::with_capacity(items.len());
    let mut expected_revents = Vec::with_capacity(items.len());
    for item in items {
        let Value::Pollfd {
            fd,
            events,
            revents,
        } = item
        else {
            return Err(bad_type(item, "pollfd").into());
        };
        let fd = get_int(fd)?;
        let events = get_int(events)?;
        let revents = get_int(revents)?;
        pollfds.push(libc::pollfd {
            fd: cx.to_live_fd(fd as i32)?,
            events: events as i16,
            revents: revents as i16,
        });
        expected_revents.push(revents as i32);
    }
    let nfds = cx.s32_arg(1)?;
    let timeout = cx.s32_arg(2)?;
    if nfds as i64 != pollfds.len() as i64 {
        return Err(format!(
            "nfds {nfds} does not match {}-element pollfd array",
            pollfds.len()
        )
        .into());
    }
    // SAFETY: `pollfds` holds `nfds` entries.
    let outcome = unsafe {
        cx.target
            .poll(pollfds.as_mut_ptr(), nfds as libc::nfds_t, timeout)
    };
    let checked = cx.end(Mode::Exact, outcome)?;
    for (i, (pfd, expected)) in pollfds.iter().zip(&expected_revents).enumerate() {
        let actual = pfd.revents as i32;
        if actual != *expected {
            return Err(format!(
                "Expected revents of {} but got {} for pollfd {i}",
                poll_flags_to_string(*expected),
                poll_flags_to_string(actual)
            )
            .into());
        }
    }
    Ok(done(checked.result, Vec::new()))
}

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3` (two 32-bit words per set).
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

fn sys_cap_set(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(3)?;
    let flag = cx.s32_arg(0)?;
    let cap = cx.s32_arg(1)?;
    let op = cx.s32_arg(2)?;
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) requires for version 3.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if ret != 0 {
        return Err("Error in cap_get_proc()".into());
    }
    if !(0..64).contains(&cap) || !(0..=1).contains(&op) {
        return Err("Error in cap_set_flag()".into());
    }
    let word = &mut data[(cap / 32) as usize];
    let set = match flag {
        0 => &mut word.effective,
        1 => &mut word.permitted,
        2 => &mut word.inheritable,
        _ => return Err("Error in cap_set_flag()".into()),
    };
    let bit = 1u32 << (cap % 32);
    if op == 1 {
        *set |= bit;
    } else {
        *set &= !bit;
    }
    // SAFETY: as for capget.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    let outcome = crate::sut::target::from_libc(ret);
    cx.check(Mode::Fd, outcome)
}

fn sys_open(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(2)?;
    let path = match cx.arg(0)? {
        Value::Str(bytes) => bytes.clone(),
        other => return Err(bad_type(other, "string").into()),
    };
    let flags = cx.s32_arg(1)?;
    let path =
        std::ffi::CString::new(path).map_err(|_| "open path contains a NUL byte".to_string())?;
    // SAFETY: a NUL-terminated path; the mode only matters with O_CREAT.
    let ret = unsafe { libc::open(path.as_ptr(), flags, 0o644 as libc::c_uint) };
    let outcome = crate::sut::target::from_libc(ret as i64);
    let checked = cx.end(Mode::Fd, outcome)?;
    if checked.result >= 0 {
        cx.fds.insert(FdEntry {
            script_fd: checked.expected as i64,
            live_fd: checked.result as i32,
            socket: None,
        });
    }
    Ok(done(checked.result, Vec::new()))
}

fn sys_sendfile(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(4)?;
    let (_, live_out) = cx.fd_arg(0)?;
    let (_, live_in) = cx.fd_arg(1)?;
    let mut offset: libc::off_t = cx.s64_bracketed_arg(2)?;
    let count = cx.s32_arg(3)?;
    // SAFETY: `offset` is a live off_t.
    let ret = unsafe { libc::sendfile(live_out, live_in, &mut offset, size_arg(count)) };
    let outcome = crate::sut::target::from_libc(ret as i64);
    cx.check(Mode::Exact, outcome)
}

fn sys_epoll_create(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(1)?;
    let size = cx.s32_arg(0)?;
    // SAFETY: no pointers.
    let outcome = unsafe { cx.target.epoll_create(size) };
    let checked = cx.end(Mode::Fd, outcome)?;
    if checked.result >= 0 {
        cx.fds.insert(FdEntry {
            script_fd: checked.expected as i64,
            live_fd: checked.result as i32,
            socket: None,
        });
    }
    Ok(done(checked.result, Vec::new()))
}

/// The script's epoll_event: the live event, which data member it uses, and for `fd=` the
/// script fd. `fixed` is (script fd, live fd) of epoll_ctl's fd argument, which `fd=` must name.
fn epoll_event_from(
    cx: &Ctx<'_>,
    v: &Value,
    fixed: Option<(i32, i32)>,
) -> Result<(libc::epoll_event, EpollData, i32), String> {
    let Value::Epollev { events, kind, data } = v else {
        return Err(bad_type(v, "epollev"));
    };
    let events = get_int(events)? as u32;
    let n = get_int(data)?;
    let mut script_fd = -1;
    let u64 = match kind {
        EpollData::Ptr | EpollData::U64 => n as u64,
        EpollData::U32 => n as u32 as u64,
        EpollData::Fd => {
            let live = match fixed {
                Some((fd, live)) => {
                    if n != fd as i64 {
                        return Err("wrong fd specified in epoll_event".into());
                    }
                    live
                }
                None => cx.to_live_fd(n as i32)?,
            };
            script_fd = n as i32;
            live as u32 as u64
        }
    };
    Ok((libc::epoll_event { events, u64 }, *kind, script_fd))
}

fn sys_epoll_ctl(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(4)?;
    let (_, live_epfd) = cx.fd_arg(0)?;
    let op = cx.s32_arg(1)?;
    let (script_fd, live_fd) = cx.fd_arg(2)?;
    let (mut event, _, _) = epoll_event_from(cx, cx.arg(3)?, Some((script_fd, live_fd)))?;
    // SAFETY: `event` is a live epoll_event.
    let outcome = unsafe { cx.target.epoll_ctl(live_epfd, op, live_fd, &mut event) };
    cx.check(Mode::Exact, outcome)
}

fn sys_epoll_wait(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(4)?;
    let (_, live_epfd) = cx.fd_arg(0)?;
    let (expected, kind, script_fd) = epoll_event_from(cx, cx.arg(1)?, None)?;
    let maxevents = cx.s32_arg(2)?;
    let timeout = cx.s32_arg(3)?;
    let slots = (maxevents.max(1) as usize).min(1 << 16);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; slots];
    // SAFETY: `events` has room for `maxevents` entries (capped; the kernel never returns more
    // than it was asked for, and rejects maxevents <= 0).
    let outcome = unsafe {
        cx.target.epoll_wait(
            live_epfd,
            events.as_mut_ptr(),
            maxevents.min(slots as i32),
            timeout,
        )
    };
    let checked = cx.end(Mode::Exact, outcome)?;
    let live = events[0];
    let (expected_events, actual_events) = (expected.events, live.events);
    if expected_events != actual_events {
        return Err(format!(
            "epoll_event->events does not match script: expected: 0x{expected_events:x} actual: 0x{actual_events:x}"
        ).into());
    }
    let (expected_data, actual_data) = (expected.u64, live.u64);
    let mismatch = |e: String, a: String| {
        Err(format!("epoll_event->data does not match script: expected: {e} actual: {a}").into())
    };
    match kind {
        EpollData::Ptr if expected_data != actual_data => {
            return mismatch(format!("0x{expected_data:x}"), format!("0x{actual_data:x}"));
        }
        EpollData::U64 if expected_data != actual_data => {
            return mismatch(expected_data.to_string(), actual_data.to_string());
        }
        EpollData::U32 if expected_data as u32 != actual_data as u32 => {
            return mismatch(
                (expected_data as u32).to_string(),
                (actual_data as u32).to_string(),
            );
        }
        EpollData::Fd if expected_data as u32 != actual_data as u32 => {
            let live_fd = actual_data as u32 as i32;
            let actual = match cx.fds.script_fd(live_fd) {
                Some(fd) => fd.to_string(),
                None => format!("(live fd {live_fd})"),
            };
            return mismatch(script_fd.to_string(), actual);
        }
        _ => {}
    }
    Ok(done(checked.result, Vec::new()))
}

fn sys_pipe(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(1)?;
    let script_fds = match cx.arg(0)? {
        Value::List(items) if items.len() == 2 => {
            [get_int(&items[0])? as i32, get_int(&items[1])? as i32]
        }
        Value::List(items) => {
            return Err(format!("{} pipe file descriptors instead of 2", items.len()).into())
        }
        other => return Err(bad_type(other, "list").into()),
    };
    let mut live = [-1 as c_int; 2];
    // SAFETY: room for two ints.
    let outcome = unsafe { cx.target.pipe(live.as_mut_ptr()) };
    let checked = cx.end(Mode::Exact, outcome)?;
    if checked.result >= 0 {
        for (script_fd, live_fd) in script_fds.into_iter().zip(live) {
            cx.fds.insert(FdEntry {
                script_fd: script_fd as i64,
                live_fd,
                socket: None,
            });
        }
    }
    Ok(done(checked.result, Vec::new()))
}

fn sys_splice(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(6)?;
    let (_, live_in) = cx.fd_arg(0)?;
    let off_in = get_int(cx.arg(1)?)?;
    let (_, live_out) = cx.fd_arg(2)?;
    let off_out = get_int(cx.arg(3)?)?;
    let len = cx.s32_arg(4)?;
    let flags = cx.s32_arg(5)?;
    let mut off_in_copy: libc::loff_t = off_in;
    let mut off_out_copy: libc::loff_t = off_out;
    let ptr = |v: i64, copy: &mut libc::loff_t| {
        if v == 0 {
            std::ptr::null_mut()
        } else {
            copy as *mut libc::loff_t
        }
    };
    let (p_in, p_out) = (
        ptr(off_in, &mut off_in_copy),
        ptr(off_out, &mut off_out_copy),
    );
    // SAFETY: offsets are NULL or point at live loff_t copies.
    let outcome = unsafe {
        cx.target
            .splice(live_in, p_in, live_out, p_out, size_arg(len), flags as u32)
    };
    cx.check(Mode::Exact, outcome)
}

fn sys_psp(cx: &mut Ctx<'_>) -> Result<SyscallOutcome, CallMismatch> {
    cx.check_arg_count(2)?;
    cx.fd_arg(0)?;
    Err("PSP is not supported: it needs a PSP-capable NIC and wire mode".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ast::{Action, Expr, ExprKind};
    use crate::sut::kernel::target::KernelTarget;

    /// The system calls of a small script, in order.
    fn calls(text: &str) -> Vec<ast::Syscall> {
        let script = crate::script::parse_source("t.pkt", text, &Default::default())
            .unwrap_or_else(|e| panic!("parse error: {e:?}"));
        script
            .events
            .into_iter()
            .filter_map(|e| match e.action {
                Action::Syscall(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn env() -> SyscallEnv {
        SyscallEnv {
            socket_domain: libc::AF_INET,
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            remote_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            bind_port: 0,
            connect_port: 0,
            script_start_usecs: 0,
            tolerance_usecs: 4000,
        }
    }

    /// Runs every call of a script; all but the last must succeed. Returns the last result.
    struct Runner {
        env: SyscallEnv,
        fds: FdTable,
        target: KernelTarget,
    }

    impl Runner {
        /// A runner whose bind and connect port is a free loopback port.
        fn on_free_port() -> Self {
            let mut r = Runner::new();
            let port = free_port();
            r.env.bind_port = port;
            r.env.connect_port = port;
            r
        }

        fn new() -> Runner {
            Runner {
                env: env(),
                fds: FdTable::default(),
                target: KernelTarget,
            }
        }

        fn run(&mut self, text: &str) -> Result<SyscallOutcome, CallMismatch> {
            let calls = calls(text);
            let (last, rest) = calls.split_last().expect("a call");
            for call in rest {
                execute(call, &self.env, &mut self.fds, &mut self.target)
                    .unwrap_or_else(|e| panic!("{}: {e}", call.name.value));
            }
            execute(last, &self.env, &mut self.fds, &mut self.target)
        }

        fn ok(&mut self, text: &str) -> SyscallOutcome {
            self.run(text).unwrap_or_else(|e| panic!("{e}"))
        }

        fn err(&mut self, text: &str) -> String {
            match self.run(text) {
                Ok(o) => panic!("expected an error, got {o:?}"),
                Err(e) => e.to_string(),
            }
        }

        fn live(&self, script_fd: i64) -> i32 {
            self.fds.live_fd(script_fd).expect("mapped")
        }
    }

    impl Drop for Runner {
        fn drop(&mut self) {
            for e in &self.fds.entries {
                // SAFETY: closing fds this test opened.
                unsafe { libc::close(e.live_fd) };
            }
        }
    }

    #[test]
    fn socket_maps_fds_and_reports_opened() {
        let mut r = Runner::new();
        let out = r.ok("0 socket(..., SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP) = 3\n");
        let live = r.live(3);
        assert_eq!(out.result, live as i64);
        assert_eq!(
            out.effects,
            vec![SocketEffect::Opened {
                script_fd: 3,
                live_fd: live,
                domain: libc::AF_INET,
                ty: libc::SOCK_STREAM,
                protocol: libc::IPPROTO_TCP,
            }]
        );
        assert_eq!(
            r.fds.get(3).unwrap().socket,
            Some((libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP))
        );
        // The same script fd again replaces the entry; the old live fd is closed by hand here.
        let out = r.ok("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n");
        // SAFETY: closing an fd this test opened and no longer uses.
        unsafe { libc::close(live) };
        assert_eq!(r.fds.entries.len(), 1);
        assert_eq!(r.live(3) as i64, out.result);
    }

    #[test]
    fn socket_failure_messages() {
        let mut r = Runner::new();
        assert_eq!(
            r.err("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = 3\n"),
            "Expected non-negative result but got -1 with errno 93 (Protocol not supported)"
        );
        assert_eq!(
            r.err("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -99\n"),
            "Expected result -99 but got -1 with errno 93 (Protocol not supported)"
        );
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1 EPROTONOSUPPORT (Protocol not supported)\n");
        assert_eq!(
            r.err("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1 EINVAL (Invalid argument)\n"),
            "Expected errno 22 (Invalid argument) but got 93 (Protocol not supported)"
        );
        // A note without an errno: errno not checked.
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_UDP) = -1 (whatever)\n");
    }

    #[test]
    fn fcntl_get_and_set_flags() {
        let mut r = Runner::new();
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        let live = r.live(3);
        let out = r.ok("0 fcntl(3, F_GETFL) = 0x2 (flags O_RDWR)\n");
        assert_eq!(out.result, 2);
        r.ok("0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n");
        r.ok("0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n");
        // SAFETY: F_GETFL takes no argument and only reads the fd's flags.
        let flags = unsafe { libc::fcntl(live, libc::F_GETFL) };
        assert_ne!(flags & libc::O_NONBLOCK, 0);
        assert_eq!(
            r.err("0 fcntl(3, F_SETFL, O_NONBLOCK) = 0 EINPROGRESS (Operation now in progress)\n"),
            "Expected errno 115 (Operation now in progress) but got 0 (Success)"
        );
        assert_eq!(
            r.err("0 fcntl(3) = 0\n"),
            "fcntl expected 2-3 args but got 1"
        );
        assert_eq!(
            r.err("0 fcntl(3, 0x100000000) = 0\n"),
            "Value out of range for 32-bit integer: 4294967296"
        );
    }

    #[test]
    fn sockopt_int_values() {
        let mut r = Runner::new();
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        r.ok("0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [0], [4]) = 0\n");
        assert_eq!(
            r.err("0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], [4]) = 0\n"),
            "Bad getsockopt optval: expected: 1 actual: 0"
        );
        r.ok("0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n");
        r.ok("0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], [4]) = 0\n");
        assert_eq!(
            r.err("0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], [8]) = 0\n"),
            "Bad getsockopt optlen: expected: 8 actual: 4"
        );
        assert_eq!(
            r.err("0 getsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n"),
            "Bad type; actual: integer expected: list"
        );
        // Strings: TCP_CONGESTION of a new socket is the system default; a wrong one fails.
        let err = r.err("0 getsockopt(3, SOL_TCP, TCP_CONGESTION, \"nosuchcc\", [8]) = 0\n");
        assert!(
            err.starts_with("Bad getsockopt optval: expected: 'nosuchcc' actual: '"),
            "{err}"
        );
        r.ok("0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=5}, 8) = 0\n");
        r.ok("0 setsockopt(3, SOL_IP, IP_TOS, [4], 1) = 0\n");
        assert_eq!(
            r.err("0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 1, 4) = 0\n"),
            "unsupported setsockopt value type: integer"
        );
        assert_eq!(
            r.err("0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_KEY, \"\", 0) = -1 EBADF (Bad file descriptor)\n"),
            "Expected errno 9 (Bad file descriptor) but got 22 (Invalid argument)"
        );
    }

    #[test]
    fn bind_and_connect_take_sockaddr_structs() {
        let mut r = Runner::new();
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        let port = free_port();
        let sockaddr = |ip: &str| {
            format!("{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{ip}\")}}")
        };
        r.ok(&format!("0 bind(3, {}, 16) = 0\n", sockaddr("127.0.0.1")));
        let live = r.live(3);
        // SAFETY: sockaddr_storage is plain old data; getsockname writes at most `len` bytes.
        let mut bound: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
        // SAFETY: `bound` has room for `len` bytes.
        unsafe { libc::getsockname(live, sockaddr_mut_ptr(&mut bound), &mut len) };
        assert_eq!(
            decode_sockaddr(&bound, len),
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        );
        // A connect() elsewhere than the remote end starts no tracked connection.
        let out = r.ok(&format!(
            "0 connect(3, {}, ...) = -1 ENETUNREACH\n",
            sockaddr("224.0.0.1")
        ));
        assert!(out.effects.is_empty());
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n");
        assert_eq!(
            r.err(&format!(
                "0 bind(4, {}, 99999) = 0\n",
                sockaddr("127.0.0.1")
            )),
            "sockaddr length 99999 is not within 0..=128"
        );
        assert_eq!(
            r.err("0 bind(4, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet6_addr(\"::1\")}, 16) = 0\n"),
            "sin_addr ::1 does not fit the sockaddr's sa_family"
        );
        assert_eq!(
            r.err("0 bind(4, {sa_family=AF_INET6, sin_port=htons(1), sin_addr=7}, 28) = 0\n"),
            "sin_addr must be inet_addr(\"ADDRESS\") or inet6_addr(\"ADDRESS\")"
        );
    }

    #[test]
    fn evaluation_errors() {
        let mut r = Runner::new();
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        let mut call = calls("0 fcntl(3, F_GETFL) = 2\n").remove(0);
        call.args[1] = Expr {
            kind: ExprKind::Word("NO_SUCH_THING".to_string()),
            span: Default::default(),
        };
        let err = execute(&call, &r.env, &mut r.fds, &mut r.target).unwrap_err();
        assert_eq!(err.to_string(), "unknown symbol: 'NO_SUCH_THING'");
        call.name.value = "frobnicate".to_string();
        let err = execute(&call, &r.env, &mut r.fds, &mut r.target).unwrap_err();
        assert_eq!(err.to_string(), "Unknown system call: 'frobnicate'");
        assert_eq!(r.err("0 listen(3) = 0\n"), "Expected 2 args but got 1");
        assert_eq!(
            r.err("0 listen(3, \"x\") = 0\n"),
            "Bad type; actual: string expected: integer"
        );
        assert_eq!(
            r.err("0 bind(3, 1, ...) = 0\n"),
            "Bad type; actual: integer expected: ellipsis"
        );
        assert_eq!(
            r.err("0 close(7) = 0\n"),
            "unable to find fd with script fd 7"
        );
        assert_eq!(
            r.err("0 write(3, \"abc\", 3) = 3\n"),
            "Expected ... or NULL for buffer"
        );
        assert_eq!(
            r.err("0 psp_tx_assoc(3, 1) = 0\n"),
            "PSP is not supported: it needs a PSP-capable NIC and wire mode"
        );
    }

    #[test]
    fn pipe_write_read_close() {
        let mut r = Runner::new();
        r.ok("0 pipe([5, 6]) = 0\n");
        let (rd, wr) = (r.live(5), r.live(6));
        assert!(rd >= 0 && wr >= 0 && rd != wr);
        let before = r.fds.retained_buffers.len();
        r.ok("0 write(6, ..., 100) = 100\n");
        assert_eq!(r.fds.retained_buffers.len(), before + 1);
        r.ok("0 ioctl(5, FIONREAD, [100]) = 0\n");
        assert_eq!(
            r.err("0 ioctl(5, SIOCINQ, [1]) = 0\n"),
            "Bad ioctl optval: expected: 1 actual: 100"
        );
        r.ok("0 writev(6, [{..., 10}, {..., 20}], 2) = 30\n");
        assert_eq!(
            r.err("0 writev(6, [{..., 10}], 2) = 10\n"),
            "iov_count 2 does not match 1-element iovec array"
        );
        r.ok("0 read(5, ..., 60) = 60\n");
        r.ok("0 readv(5, [{..., 50}, {..., 50}], 2) = 70\n");
        r.ok("0 fcntl(5, F_SETFL, O_NONBLOCK) = 0\n");
        assert_eq!(
            r.err("0 read(5, ..., 10) = -1 EINVAL (Invalid argument)\n"),
            "Expected errno 22 (Invalid argument) but got 11 (Resource temporarily unavailable)"
        );
        r.ok("0 write(6, 0, 10) = -1 EFAULT (Bad address)\n");
        let out = r.ok("0 close(6) = 0\n");
        assert_eq!(
            out.effects,
            vec![SocketEffect::Closed {
                script_fd: 6,
                live_fd: wr
            }]
        );
        assert_eq!(r.fds.live_fd(6), None);
        assert_eq!(
            r.err("0 write(6, ..., 1) = 1\n"),
            "unable to find fd with script fd 6"
        );
        r.ok("0 read(5, ..., 10) = 0\n");
        // Reusing the script fd after close is fine.
        r.ok("0 pipe([6, 7]) = 0\n");
        assert_eq!(
            r.err("0 pipe([8]) = 0\n"),
            "1 pipe file descriptors instead of 2"
        );
    }

    #[test]
    fn epoll_on_a_pipe() {
        let mut r = Runner::new();
        r.ok("0 pipe([3, 4]) = 0\n");
        r.ok("0 epoll_create(1) = 5\n");
        r.ok("0 epoll_ctl(5, EPOLL_CTL_ADD, 3, {events=EPOLLIN, fd=3}) = 0\n");
        assert_eq!(
            r.err("0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLOUT, fd=3}) = 0\n"),
            "wrong fd specified in epoll_event"
        );
        r.ok("0 epoll_wait(5, {events=0, ptr=0}, 1, 0) = 0\n");
        r.ok("0 write(4, ..., 1) = 1\n");
        r.ok("0 epoll_wait(5, {events=EPOLLIN, fd=3}, 1, 0) = 1\n");
        assert_eq!(
            r.err("0 epoll_wait(5, {events=EPOLLIN|EPOLLOUT, fd=3}, 1, 0) = 1\n"),
            "epoll_event->events does not match script: expected: 0x5 actual: 0x1"
        );
        r.ok("0 epoll_ctl(5, EPOLL_CTL_MOD, 3, {events=EPOLLIN, u64=1234567890123}) = 0\n");
        r.ok("0 epoll_wait(5, {events=EPOLLIN, u64=1234567890123}, 1, 0) = 1\n");
        assert_eq!(
            r.err("0 epoll_wait(5, {events=EPOLLIN, u64=7}, 4, 0) = 1\n"),
            "epoll_event->data does not match script: expected: 7 actual: 1234567890123"
        );
    }

    #[test]
    fn poll_revents() {
        let mut r = Runner::new();
        r.ok("0 pipe([3, 4]) = 0\n");
        r.ok(
            "0 poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT, revents=POLLOUT}], 2, 0) = 1\n",
        );
        assert_eq!(
            r.err("0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 0) = 0\n"),
            "Expected revents of POLLIN but got  for pollfd 0"
        );
        assert_eq!(
            r.err("0 poll([{fd=3, events=POLLIN}], 2, 0) = 0\n"),
            "nfds 2 does not match 1-element pollfd array"
        );
        r.ok("0 close(4) = 0\n");
        assert_eq!(
            r.err("0 poll([{fd=3, events=POLLIN}], 1, 0) = 1\n"),
            "Expected revents of  but got POLLHUP for pollfd 0"
        );
    }

    /// A port that was free a moment ago on 127.0.0.1.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[test]
    fn loopback_listen_connect_accept_and_snapshot() {
        let mut r = Runner::on_free_port();
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
        r.ok("0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0\n");
        r.ok("0 bind(3, ..., ...) = 0\n");
        let out = r.ok("0 listen(3, 1) = 0\n");
        assert_eq!(out.effects, vec![SocketEffect::Listening { script_fd: 3 }]);
        r.ok("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 4\n");
        r.ok("0 fcntl(4, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n");
        let out = r.ok("0 connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n");
        assert_eq!(out.effects, vec![SocketEffect::Connecting { script_fd: 4 }]);
        r.ok("0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 5000) = 1\n");
        let out = r.ok("0 accept(3, ..., ...) = 7\n");
        let live7 = r.live(7);
        let client_port = {
            // SAFETY: sockaddr_storage is plain data, for which all zeroes is a valid value.
            let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as socklen_t;
            // SAFETY: getsockname writes at most `len` bytes into the storage we own.
            unsafe { libc::getsockname(r.live(4), sockaddr_mut_ptr(&mut ss), &mut len) };
            decode_sockaddr(&ss, len).unwrap().port()
        };
        assert_eq!(
            out.effects,
            vec![SocketEffect::Accepted {
                listener_script_fd: 3,
                script_fd: 7,
                live_fd: live7,
                peer: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, client_port))),
            }]
        );
        assert_eq!(
            r.fds.get(7).unwrap().socket,
            Some((libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_TCP))
        );
        r.ok("0 poll([{fd=4, events=POLLOUT, revents=POLLOUT}], 1, 5000) = 1\n");
        r.ok("0 getsockopt(4, SOL_SOCKET, SO_ERROR, [0], [4]) = 0\n");

        // Data both ways, with sendto/recvfrom/sendmsg/recvmsg on the connected pair.
        r.ok("0 write(4, ..., 1000) = 1000\n");
        r.ok("0 poll([{fd=7, events=POLLIN, revents=POLLIN}], 1, 5000) = 1\n");
        r.ok("0 ioctl(7, SIOCINQ, [1000]) = 0\n");
        r.ok("0 recv(7, ..., 400, 0) = 400\n");
        r.ok("0 recvfrom(7, ..., 100, 0, ..., ...) = 100\n");
        r.ok("0 recvmsg(7, {msg_name(...)=..., msg_iov(1)=[{..., 500}], msg_flags=0}, 0) = 500\n");
        let out = r.ok("0 sendmsg(4, {msg_name(...)=..., msg_iov(2)=[{..., 10}, {..., 20}], msg_flags=0}, 0) = 30\n");
        assert_eq!(out.effects, vec![SocketEffect::Connecting { script_fd: 4 }]);
        assert_eq!(
            r.err("0 sendmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=MSG_EOR}, 0) = 10\n"),
            "sendmsg ignores msg_flags field in msghdr"
        );
        r.ok("0 poll([{fd=7, events=POLLIN, revents=POLLIN}], 1, 5000) = 1\n");
        assert_eq!(
            r.err("0 recvmsg(7, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=MSG_TRUNC}, MSG_PEEK) = 10\n"),
            "Expected msg_flags 0x00000020 but got 0x00000000"
        );
        r.ok("0 recvmsg(7, {msg_name(...)=..., msg_iov(1)=[{..., 100}], msg_flags=0, msg_control=[]}, 0) = 30\n");
        r.ok(
            "0 recvmsg(7, {msg_name(...)=..., msg_iov(1)=[{..., 0}], msg_flags=MSG_ERRQUEUE, \
             msg_control=[]}, MSG_ERRQUEUE) = -1 EAGAIN (Resource temporarily unavailable)\n",
        );
        r.ok("0 sendto(7, ..., 10, 0, ..., ...) = 10\n");
        r.ok("0 shutdown(7, SHUT_WR) = 0\n");

        // The %{ }% snapshot of the connected client.
        let live4 = r.live(4);
        let snap = crate::sut::socket_info::snapshot(&mut r.target, live4, false).unwrap();
        let get = |name: &str| snap.iter().find(|(n, _)| n == name).map(|(_, v)| *v);
        assert_eq!(get("TCP_ESTABLISHED"), None);
        assert!(
            matches!(get("tcpi_state"), Some(1) | Some(8)),
            "{:?}",
            get("tcpi_state")
        );
        assert!(get("tcpi_snd_cwnd").unwrap() > 0);
        assert!(get("tcpi_bytes_acked").is_some());
        assert!(get("SK_MEMINFO_RCVBUF").unwrap() > 0);
        assert!(get("SK_MEMINFO_DROPS").is_some());
        let live7 = r.live(7);
        let snap = crate::sut::socket_info::snapshot(&mut r.target, live7, false).unwrap();
        // Shut down for writing: FIN_WAIT1 or FIN_WAIT2.
        assert!(snap
            .iter()
            .any(|(n, v)| n == "tcpi_state" && matches!(*v, 4 | 5)));

        // Disconnect with AF_UNSPEC.
        let out = r.ok("0 connect(4, AF_UNSPEC, ...) = 0\n");
        assert_eq!(
            out.effects,
            vec![SocketEffect::Disconnected { script_fd: 4 }]
        );
        assert_eq!(
            crate::sut::socket_info::snapshot(&mut r.target, -1, false).unwrap_err(),
            "can't find getsockopt to get TCP info"
        );
    }

    #[test]
    fn udp_sendto_recvfrom_loopback() {
        let mut r = Runner::on_free_port();
        r.ok("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 3\n");
        r.ok("0 bind(3, ..., ...) = 0\n");
        r.ok("0 socket(..., SOCK_DGRAM, IPPROTO_UDP) = 4\n");
        let out = r.ok("0 sendto(4, ..., 100, 0, ..., ...) = 100\n");
        assert_eq!(out.effects, vec![SocketEffect::Connecting { script_fd: 4 }]);
        r.ok("0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 5000) = 1\n");
        r.ok("0 recvfrom(3, ..., 1000, 0, ..., ...) = 100\n");
        r.ok("0 connect(4, ..., ...) = 0\n");
        r.ok("0 send(4, ..., 10, 0) = 10\n");
        r.ok("0 poll([{fd=3, events=POLLIN, revents=POLLIN}], 1, 5000) = 1\n");
        r.ok("0 recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{..., 4}], msg_flags=MSG_TRUNC}, 0) = 4\n");
        let out = r.ok("0 sendto(4, ..., 10, 0, AF_UNSPEC, ...) = -1 EINVAL (Invalid argument)\n");
        assert_eq!(
            out.effects,
            vec![SocketEffect::Disconnected { script_fd: 4 }]
        );
    }

    #[test]
    fn sockaddrs() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let (ss, len) = sockaddr_for(v4, 8080, libc::AF_INET);
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in>());
        assert_eq!(
            decode_sockaddr(&ss, len),
            Some("192.0.2.1:8080".parse().unwrap())
        );
        let (ss, len) = sockaddr_for(v4, 8080, libc::AF_INET6);
        assert_eq!(len as usize, std::mem::size_of::<libc::sockaddr_in6>());
        assert_eq!(
            decode_sockaddr(&ss, len),
            Some("[::ffff:192.0.2.1]:8080".parse().unwrap())
        );
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let (ss, len) = sockaddr_for(mapped, 1, libc::AF_INET);
        assert_eq!(
            decode_sockaddr(&ss, len),
            Some("192.0.2.1:1".parse().unwrap())
        );
        let (ss, len) = zeroed_sockaddr(libc::AF_UNSPEC, libc::AF_INET6);
        assert_eq!((ss.ss_family as i32, len as usize), (libc::AF_UNSPEC, 28));
    }

    #[test]
    fn poll_flag_names() {
        assert_eq!(poll_flags_to_string(0), "");
        assert_eq!(
            poll_flags_to_string(libc::POLLIN as i32 | libc::POLLOUT as i32),
            "POLLIN|POLLOUT"
        );
        assert_eq!(poll_flags_to_string(1 << 20), "???");
    }

    #[test]
    fn value_forms() {
        let call = calls(
            "0 recvmsg(3, {msg_name(...)=..., msg_iov(1)=[{...,0}], msg_flags=MSG_ERRQUEUE, \
             msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_RECVERR, cmsg_data={ee_errno=ENOMSG, \
             ee_origin=SO_EE_ORIGIN_TIMESTAMPING, ee_type=0, ee_code=0, ee_info=SCM_TSTAMP_SND, \
             ee_data=1999}}, {cmsg_level=SOL_SOCKET, cmsg_type=SCM_TIMESTAMPING_OPT_STATS, \
             cmsg_data=[TCP_NLA_BUSY=...,TCP_NLA_CA_STATE=0]}]}, MSG_ERRQUEUE) = 0\n",
        )
        .remove(0);
        let args = value::evaluate_all(&call.args).unwrap();
        let msg = Msg::new(&args[1]).unwrap();
        assert_eq!(msg.flags, libc::MSG_ERRQUEUE);
        assert_eq!(msg.iovecs.iov.len(), 1);
        assert_eq!(msg.control.as_ref().unwrap().len, 48 + 16 + 24);
        let call = calls("0 setsockopt(3, SOL_IPV6, 99, inet6_addr(\"::1\"), 16) = 0\n").remove(0);
        let args = value::evaluate_all(&call.args).unwrap();
        assert_eq!(args[3], Value::In6Addr(Ipv6Addr::LOCALHOST.octets()));
        let call =
            calls("0 setsockopt(3, SOL_IP, 99, [inet_addr(\"1.2.3.4\")], 4) = 0\n").remove(0);
        let args = value::evaluate_all(&call.args).unwrap();
        assert_eq!(
            args[3],
            Value::List(vec![Value::Int(u32::from_ne_bytes([1, 2, 3, 4]) as i64)])
        );
    }
}

#[cfg(test)]
mod tcp_md5sig_tests {
    use super::*;

    /// The argument of a one-call script, evaluated.
    fn argument(text: &str, index: usize) -> Result<Value, String> {
        let script = crate::script::parse_source("t.pkt", text, &Default::default())
            .unwrap_or_else(|e| panic!("parse error: {e:?}"));
        let crate::script::ast::Action::Syscall(call) = &script.events[0].action else {
            panic!("not a call")
        };
        value::evaluate(&call.args[index])
    }

    #[test]
    fn struct_tcp_md5sig_has_linuxs_layout() {
        let text = "0 setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, {tcpm_addr={sa_family=AF_INET, \
                    sin_port=htons(0), sin_addr=inet_addr(\"192.0.2.1\")}, tcpm_prefixlen=24, \
                    tcpm_key=\"secret\"}, 216) = 0\n";
        let Value::TcpMd5Sig(md5sig) = argument(text, 3).unwrap() else {
            panic!("not a tcp_md5sig")
        };
        let bytes = encode_tcp_md5sig(&md5sig);
        assert_eq!(bytes.len(), 216);
        assert_eq!(
            &bytes[..8],
            &[
                libc::AF_INET.to_ne_bytes()[0],
                libc::AF_INET.to_ne_bytes()[1],
                0,
                0,
                192,
                0,
                2,
                1
            ]
        );
        assert_eq!(bytes[128..130], [0, 24]);
        assert_eq!(bytes[130..132], 6u16.to_ne_bytes());
        assert_eq!(bytes[132..136], [0; 4]);
        assert_eq!(&bytes[136..142], b"secret");
        assert!(bytes[142..].iter().all(|b| *b == 0));
    }

    #[test]
    fn bad_tcp_md5sig_fields_are_named() {
        let with = |fields: &str| {
            argument(
                &format!(
                    "0 setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, {{tcpm_addr={{sa_family=AF_INET, \
                     sin_port=htons(0), sin_addr=inet_addr(\"192.0.2.1\")}}, {fields}}}, 216) = 0\n"
                ),
                3,
            )
            .unwrap_err()
        };
        assert!(with("tcpm_keylen=81").contains("tcpm_keylen out of range: 81"));
        assert!(with(&format!("tcpm_key=\"{}\"", "k".repeat(81))).contains("at most 80"));
        assert!(with("tcpm_secret=\"x\"").contains("unknown struct tcp_md5sig field 'tcpm_secret'"));
    }
}
