//! The system calls a script may make: packetdrill's (Linux) list, each with the one name the
//! parser accepts and the [`Syscall`] the run dispatches on. Because the run matches on
//! [`Syscall`] without a catch-all, a name added here does not build until it has a handler,
//! and no handler can exist for a name missing here.

/// Defines [`Syscall`] and its names from one list of `Variant = "name"` pairs.
macro_rules! syscalls {
    ($($variant:ident = $name:literal,)*) => {
        /// One system call packetdrill (Linux) knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Syscall {
            $($variant,)*
        }

        impl Syscall {
            /// Every system call, in packetdrill's order.
            pub const ALL: &[Syscall] = &[$(Syscall::$variant,)*];

            /// The name a script writes.
            pub fn name(self) -> &'static str {
                match self {
                    $(Syscall::$variant => $name,)*
                }
            }
        }
    };
}

syscalls! {
    Socket = "socket",
    Bind = "bind",
    Listen = "listen",
    Accept = "accept",
    Connect = "connect",
    Read = "read",
    Readv = "readv",
    Recv = "recv",
    Recvfrom = "recvfrom",
    Recvmsg = "recvmsg",
    Write = "write",
    Writev = "writev",
    Send = "send",
    Sendto = "sendto",
    Sendmsg = "sendmsg",
    Fcntl = "fcntl",
    Ioctl = "ioctl",
    Close = "close",
    Shutdown = "shutdown",
    Getsockopt = "getsockopt",
    Setsockopt = "setsockopt",
    Poll = "poll",
    CapSet = "cap_set",
    Open = "open",
    Sendfile = "sendfile",
    EpollCreate = "epoll_create",
    EpollCtl = "epoll_ctl",
    EpollWait = "epoll_wait",
    Pipe = "pipe",
    Splice = "splice",
    PspRxAssoc = "psp_rx_assoc",
    PspTxAssoc = "psp_tx_assoc",
}

impl Syscall {
    /// The system call a script's name stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|call| call.name() == name)
    }
}

/// (nplab) SCTP system calls: a script using them parses (a dry run accepts it); running one
/// fails at the call unless the kernel has SCTP.
pub const SCTP_SYSCALLS: &[&str] = &[
    "sctp_bindx",
    "sctp_peeloff",
    "sctp_getpaddrs",
    "sctp_freepaddrs",
    "sctp_getladdrs",
    "sctp_freeladdrs",
    "sctp_sendmsg",
    "sctp_recvmsg",
    "sctp_connectx",
    "sctp_send",
    "sctp_sendx",
    "sctp_sendv",
    "sctp_recvv",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for call in Syscall::ALL {
            assert_eq!(Syscall::from_name(call.name()), Some(*call));
            assert!(!SCTP_SYSCALLS.contains(&call.name()));
        }
        assert_eq!(Syscall::ALL.len(), 32);
        assert_eq!(Syscall::from_name("sctp_bindx"), None);
        assert_eq!(Syscall::from_name("Socket"), None);
    }
}
