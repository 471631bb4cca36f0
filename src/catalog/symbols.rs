//! Symbolic constants of the packetdrill language (Linux values), looked up by name.
//!
//! The authoritative list of names is §9.5 of the packetdrill language spec
//! ("Symbolic constants (upstream Linux build)"): a small cross-platform table
//! plus the upstream Linux table (402 names). On top of that comes a clearly
//! separated list of stackdrill extensions: useful Linux constants upstream lacks.
//!
//! Values are the Linux x86_64 UAPI values. Each one is taken from the `libc`
//! constant of the same name wherever `libc` defines it for linux-gnu x86_64;
//! only where `libc` lacks the constant is the number written literally, with a
//! comment naming the header it comes from.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// Which table a symbol comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolOrigin {
    /// The cross-platform names every upstream build knows.
    CrossPlatform,
    /// The upstream Linux table.
    Linux,
    /// stackdrill additions upstream lacks.
    Extension,
    /// Names of nplab's dialect (SCTP socket API, UDP-Lite, BSD names glibc also has) with
    /// their Linux values.
    Nplab,
}

/// One table row: the symbol and its value.
type Entry = (&'static str, i64);

/// Names every upstream build knows (spec §9.5 "Cross-platform").
static CROSS_PLATFORM: &[Entry] = &[
    ("AF_INET", libc::AF_INET as i64),
    ("AF_INET6", libc::AF_INET6 as i64),
    ("AF_PACKET", libc::AF_PACKET as i64),
    ("PF_INET", libc::PF_INET as i64),
    ("PF_INET6", libc::PF_INET6 as i64),
    ("SOCK_RAW", libc::SOCK_RAW as i64),
    ("SOCK_STREAM", libc::SOCK_STREAM as i64),
    ("SOCK_DGRAM", libc::SOCK_DGRAM as i64),
    ("SOCK_NONBLOCK", libc::SOCK_NONBLOCK as i64),
    ("IPPROTO_RAW", libc::IPPROTO_RAW as i64),
    ("IPPROTO_IP", libc::IPPROTO_IP as i64),
    ("IPPROTO_IPV6", libc::IPPROTO_IPV6 as i64),
    ("IPPROTO_ICMP", libc::IPPROTO_ICMP as i64),
    ("IPPROTO_ICMPV6", libc::IPPROTO_ICMPV6 as i64),
    ("IPPROTO_TCP", libc::IPPROTO_TCP as i64),
    ("IPPROTO_UDP", libc::IPPROTO_UDP as i64),
    ("SHUT_RD", libc::SHUT_RD as i64),
    ("SHUT_WR", libc::SHUT_WR as i64),
    ("SHUT_RDWR", libc::SHUT_RDWR as i64),
    ("SOL_SOCKET", libc::SOL_SOCKET as i64),
    ("NULL", 0), // C null pointer constant
];

/// Linux table, category "levels" (4).
static LINUX_LEVELS: &[Entry] = &[
    ("SOL_IP", libc::SOL_IP as i64),
    ("SOL_IPV6", libc::SOL_IPV6 as i64),
    ("SOL_TCP", libc::SOL_TCP as i64),
    ("SOL_UDP", libc::SOL_UDP as i64),
];

/// Linux table, category "SO_* socket options" (38).
static LINUX_SO: &[Entry] = &[
    ("SO_ACCEPTCONN", libc::SO_ACCEPTCONN as i64),
    ("SO_ATTACH_FILTER", libc::SO_ATTACH_FILTER as i64),
    ("SO_BINDTODEVICE", libc::SO_BINDTODEVICE as i64),
    ("SO_BROADCAST", libc::SO_BROADCAST as i64),
    ("SO_BSDCOMPAT", libc::SO_BSDCOMPAT as i64),
    ("SO_DEBUG", libc::SO_DEBUG as i64),
    ("SO_DETACH_FILTER", libc::SO_DETACH_FILTER as i64),
    ("SO_DONTROUTE", libc::SO_DONTROUTE as i64),
    ("SO_ERROR", libc::SO_ERROR as i64),
    ("SO_KEEPALIVE", libc::SO_KEEPALIVE as i64),
    ("SO_LINGER", libc::SO_LINGER as i64),
    ("SO_MARK", libc::SO_MARK as i64),
    ("SO_NO_CHECK", libc::SO_NO_CHECK as i64),
    ("SO_OOBINLINE", libc::SO_OOBINLINE as i64),
    ("SO_PASSCRED", libc::SO_PASSCRED as i64),
    ("SO_PEERCRED", libc::SO_PEERCRED as i64),
    ("SO_PEERNAME", libc::SO_PEERNAME as i64),
    ("SO_PEERSEC", libc::SO_PEERSEC as i64),
    ("SO_PRIORITY", libc::SO_PRIORITY as i64),
    ("SO_RCVBUF", libc::SO_RCVBUF as i64),
    ("SO_RCVLOWAT", libc::SO_RCVLOWAT as i64),
    ("SO_RCVTIMEO", libc::SO_RCVTIMEO as i64),
    ("SO_REUSEADDR", libc::SO_REUSEADDR as i64),
    ("SO_REUSEPORT", libc::SO_REUSEPORT as i64),
    (
        "SO_SECURITY_AUTHENTICATION",
        libc::SO_SECURITY_AUTHENTICATION as i64,
    ),
    (
        "SO_SECURITY_ENCRYPTION_NETWORK",
        libc::SO_SECURITY_ENCRYPTION_NETWORK as i64,
    ),
    (
        "SO_SECURITY_ENCRYPTION_TRANSPORT",
        libc::SO_SECURITY_ENCRYPTION_TRANSPORT as i64,
    ),
    ("SO_SNDBUF", libc::SO_SNDBUF as i64),
    ("SO_SNDLOWAT", libc::SO_SNDLOWAT as i64),
    ("SO_SNDTIMEO", libc::SO_SNDTIMEO as i64),
    ("SO_TIMESTAMP", libc::SO_TIMESTAMP as i64),
    ("SO_TIMESTAMPING", libc::SO_TIMESTAMPING as i64),
    ("SO_TYPE", libc::SO_TYPE as i64),
    ("SO_MAX_PACING_RATE", libc::SO_MAX_PACING_RATE as i64),
    ("SO_ZEROCOPY", libc::SO_ZEROCOPY as i64),
    (
        "SO_EE_ORIGIN_TIMESTAMPING",
        libc::SO_EE_ORIGIN_TIMESTAMPING as i64,
    ),
    ("SO_EE_ORIGIN_ZEROCOPY", 5),      // include/uapi/linux/errqueue.h
    ("SO_EE_CODE_ZEROCOPY_COPIED", 1), // include/uapi/linux/errqueue.h
];

/// Linux table, category "SOF_TIMESTAMPING_* flags" (14).
static LINUX_SOF_TIMESTAMPING: &[Entry] = &[
    (
        "SOF_TIMESTAMPING_TX_HARDWARE",
        libc::SOF_TIMESTAMPING_TX_HARDWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_TX_SOFTWARE",
        libc::SOF_TIMESTAMPING_TX_SOFTWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_RX_HARDWARE",
        libc::SOF_TIMESTAMPING_RX_HARDWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_RX_SOFTWARE",
        libc::SOF_TIMESTAMPING_RX_SOFTWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_SOFTWARE",
        libc::SOF_TIMESTAMPING_SOFTWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_SYS_HARDWARE",
        libc::SOF_TIMESTAMPING_SYS_HARDWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_RAW_HARDWARE",
        libc::SOF_TIMESTAMPING_RAW_HARDWARE as i64,
    ),
    (
        "SOF_TIMESTAMPING_OPT_ID",
        libc::SOF_TIMESTAMPING_OPT_ID as i64,
    ),
    (
        "SOF_TIMESTAMPING_TX_SCHED",
        libc::SOF_TIMESTAMPING_TX_SCHED as i64,
    ),
    (
        "SOF_TIMESTAMPING_TX_ACK",
        libc::SOF_TIMESTAMPING_TX_ACK as i64,
    ),
    (
        "SOF_TIMESTAMPING_OPT_CMSG",
        libc::SOF_TIMESTAMPING_OPT_CMSG as i64,
    ),
    (
        "SOF_TIMESTAMPING_OPT_TSONLY",
        libc::SOF_TIMESTAMPING_OPT_TSONLY as i64,
    ),
    (
        "SOF_TIMESTAMPING_OPT_STATS",
        libc::SOF_TIMESTAMPING_OPT_STATS as i64,
    ),
    (
        "SOF_TIMESTAMPING_OPT_ID_TCP",
        libc::SOF_TIMESTAMPING_OPT_ID_TCP as i64,
    ),
];

/// Linux table, category "SCM_* cmsg types" (5).
static LINUX_SCM: &[Entry] = &[
    ("SCM_TIMESTAMPING", libc::SCM_TIMESTAMPING as i64),
    ("SCM_TSTAMP_SND", 0),   // include/uapi/linux/errqueue.h enum
    ("SCM_TSTAMP_SCHED", 1), // include/uapi/linux/errqueue.h enum
    ("SCM_TSTAMP_ACK", 2),   // include/uapi/linux/errqueue.h enum
    (
        "SCM_TIMESTAMPING_OPT_STATS",
        libc::SCM_TIMESTAMPING_OPT_STATS as i64,
    ),
];

/// Linux table, category "TCP_* (options, NLA ids, CA states)" (54).
static LINUX_TCP: &[Entry] = &[
    ("TCP_NLA_BUSY", 1),           // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_RWND_LIMITED", 2),   // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_SNDBUF_LIMITED", 3), // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DATA_SEGS_OUT", 4),  // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_TOTAL_RETRANS", 5),  // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_PACING_RATE", 6),    // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DELIVERY_RATE", 7),  // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_SND_CWND", 8),       // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_REORDERING", 9),     // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_MIN_RTT", 10),       // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_RECUR_RETRANS", 11), // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DELIVERY_RATE_APP_LMT", 12), // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_SNDQ_SIZE", 13),     // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_CA_STATE", 14),      // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_SND_SSTHRESH", 15),  // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DELIVERED", 16),     // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DELIVERED_CE", 17),  // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_BYTES_SENT", 18),    // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_BYTES_RETRANS", 19), // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_DSACK_DUPS", 20),    // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_REORD_SEEN", 21),    // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_NLA_SRTT", 22),          // include/uapi/linux/tcp.h enum (TCP_NLA_PAD = 0)
    ("TCP_CA_OPEN", 0),            // include/uapi/linux/tcp.h enum tcp_ca_state (TCP_CA_Open)
    ("TCP_CA_DISORDER", 1),        // include/uapi/linux/tcp.h enum tcp_ca_state (TCP_CA_Disorder)
    ("TCP_CA_CWR", 2),             // include/uapi/linux/tcp.h enum tcp_ca_state (TCP_CA_CWR)
    ("TCP_CA_RECOVERY", 3),        // include/uapi/linux/tcp.h enum tcp_ca_state (TCP_CA_Recovery)
    ("TCP_CA_LOSS", 4),            // include/uapi/linux/tcp.h enum tcp_ca_state (TCP_CA_Loss)
    ("TCP_INFINITE_SSTHRESH", 0x7fff_ffff), // include/net/tcp.h (kernel-internal)
    ("TCP_NODELAY", libc::TCP_NODELAY as i64),
    ("TCP_MAXSEG", libc::TCP_MAXSEG as i64),
    ("TCP_CORK", libc::TCP_CORK as i64),
    ("TCP_KEEPIDLE", libc::TCP_KEEPIDLE as i64),
    ("TCP_KEEPINTVL", libc::TCP_KEEPINTVL as i64),
    ("TCP_KEEPCNT", libc::TCP_KEEPCNT as i64),
    ("TCP_SYNCNT", libc::TCP_SYNCNT as i64),
    ("TCP_LINGER2", libc::TCP_LINGER2 as i64),
    ("TCP_DEFER_ACCEPT", libc::TCP_DEFER_ACCEPT as i64),
    ("TCP_INFO", libc::TCP_INFO as i64),
    ("TCP_QUICKACK", libc::TCP_QUICKACK as i64),
    ("TCP_CONGESTION", libc::TCP_CONGESTION as i64),
    ("TCP_MD5SIG", libc::TCP_MD5SIG as i64),
    (
        "TCP_COOKIE_TRANSACTIONS",
        libc::TCP_COOKIE_TRANSACTIONS as i64,
    ),
    (
        "TCP_THIN_LINEAR_TIMEOUTS",
        libc::TCP_THIN_LINEAR_TIMEOUTS as i64,
    ),
    ("TCP_THIN_DUPACK", libc::TCP_THIN_DUPACK as i64),
    ("TCP_USER_TIMEOUT", libc::TCP_USER_TIMEOUT as i64),
    ("TCP_FASTOPEN", libc::TCP_FASTOPEN as i64),
    ("TCP_FASTOPEN_CONNECT", libc::TCP_FASTOPEN_CONNECT as i64),
    ("TCP_FASTOPEN_KEY", libc::TCP_FASTOPEN_KEY as i64),
    (
        "TCP_FASTOPEN_NO_COOKIE",
        libc::TCP_FASTOPEN_NO_COOKIE as i64,
    ),
    ("TCP_TIMESTAMP", libc::TCP_TIMESTAMP as i64),
    ("TCP_NOTSENT_LOWAT", libc::TCP_NOTSENT_LOWAT as i64),
    ("TCP_INQ", libc::TCP_INQ as i64),
    ("TCP_CM_INQ", libc::TCP_CM_INQ as i64),
    ("TCP_TX_DELAY", 37), // include/uapi/linux/tcp.h
];

/// Linux table, category "IP_* / IPV6_*" (15).
static LINUX_IP: &[Entry] = &[
    ("IP_TOS", libc::IP_TOS as i64),
    ("IP_MTU_DISCOVER", libc::IP_MTU_DISCOVER as i64),
    ("IPV6_MTU_DISCOVER", libc::IPV6_MTU_DISCOVER as i64),
    ("IP_PMTUDISC_WANT", libc::IP_PMTUDISC_WANT as i64),
    ("IP_PMTUDISC_DONT", libc::IP_PMTUDISC_DONT as i64),
    ("IP_PMTUDISC_DO", libc::IP_PMTUDISC_DO as i64),
    ("IP_PMTUDISC_PROBE", libc::IP_PMTUDISC_PROBE as i64),
    ("IP_RECVERR", libc::IP_RECVERR as i64),
    ("IPV6_RECVERR", libc::IPV6_RECVERR as i64),
    ("IP_FREEBIND", libc::IP_FREEBIND as i64),
    ("IP_TTL", libc::IP_TTL as i64),
    ("IP_MTU", libc::IP_MTU as i64),
    ("IPV6_MTU", libc::IPV6_MTU as i64),
    ("IPV6_TCLASS", libc::IPV6_TCLASS as i64),
    ("IPV6_HOPLIMIT", libc::IPV6_HOPLIMIT as i64),
];

/// Linux table, category "O_* open/fcntl flags" (10).
static LINUX_O: &[Entry] = &[
    ("O_RDONLY", libc::O_RDONLY as i64),
    ("O_WRONLY", libc::O_WRONLY as i64),
    ("O_RDWR", libc::O_RDWR as i64),
    ("O_ACCMODE", libc::O_ACCMODE as i64),
    ("O_CREAT", libc::O_CREAT as i64),
    ("O_EXCL", libc::O_EXCL as i64),
    ("O_NOCTTY", libc::O_NOCTTY as i64),
    ("O_TRUNC", libc::O_TRUNC as i64),
    ("O_APPEND", libc::O_APPEND as i64),
    ("O_NONBLOCK", libc::O_NONBLOCK as i64),
];

/// Linux table, category "F_* fcntl commands" (25).
static LINUX_F: &[Entry] = &[
    ("F_DUPFD", libc::F_DUPFD as i64),
    ("F_GETFD", libc::F_GETFD as i64),
    ("F_SETFD", libc::F_SETFD as i64),
    ("F_GETFL", libc::F_GETFL as i64),
    ("F_SETFL", libc::F_SETFL as i64),
    ("F_GETLK", libc::F_GETLK as i64),
    ("F_SETLK", libc::F_SETLK as i64),
    ("F_SETLKW", libc::F_SETLKW as i64),
    ("F_GETOWN", libc::F_GETOWN as i64),
    ("F_SETOWN", libc::F_SETOWN as i64),
    ("F_SETSIG", 10),  // include/uapi/asm-generic/fcntl.h
    ("F_GETSIG", 11),  // include/uapi/asm-generic/fcntl.h
    ("F_SETLK64", 6),  // glibc x86_64 <bits/fcntl.h>: same as F_SETLK on 64-bit
    ("F_SETLKW64", 7), // glibc x86_64 <bits/fcntl.h>: same as F_SETLKW on 64-bit
    ("F_GETLK64", 5),  // glibc x86_64 <bits/fcntl.h>: same as F_GETLK on 64-bit
    ("F_SETLEASE", libc::F_SETLEASE as i64),
    ("F_GETLEASE", libc::F_GETLEASE as i64),
    ("F_NOTIFY", libc::F_NOTIFY as i64),
    ("F_DUPFD_CLOEXEC", libc::F_DUPFD_CLOEXEC as i64),
    ("FD_CLOEXEC", libc::FD_CLOEXEC as i64),
    ("F_RDLCK", libc::F_RDLCK as i64),
    ("F_WRLCK", libc::F_WRLCK as i64),
    ("F_UNLCK", libc::F_UNLCK as i64),
    ("F_EXLCK", 4), // include/uapi/asm-generic/fcntl.h
    ("F_SHLCK", 8), // include/uapi/asm-generic/fcntl.h
];

/// Linux table, category "flock / lock constants" (7).
static LINUX_LOCK_SEEK: &[Entry] = &[
    ("LOCK_SH", libc::LOCK_SH as i64),
    ("LOCK_EX", libc::LOCK_EX as i64),
    ("LOCK_NB", libc::LOCK_NB as i64),
    ("LOCK_UN", libc::LOCK_UN as i64),
    ("SEEK_SET", libc::SEEK_SET as i64),
    ("SEEK_CUR", libc::SEEK_CUR as i64),
    ("SEEK_END", libc::SEEK_END as i64),
];

/// Linux table, category "MSG_* flags" (19).
static LINUX_MSG: &[Entry] = &[
    ("MSG_OOB", libc::MSG_OOB as i64),
    ("MSG_DONTROUTE", libc::MSG_DONTROUTE as i64),
    ("MSG_PEEK", libc::MSG_PEEK as i64),
    ("MSG_CTRUNC", libc::MSG_CTRUNC as i64),
    ("MSG_PROXY", 0x10), // include/linux/socket.h
    ("MSG_EOR", libc::MSG_EOR as i64),
    ("MSG_WAITALL", libc::MSG_WAITALL as i64),
    ("MSG_TRUNC", libc::MSG_TRUNC as i64),
    ("MSG_ERRQUEUE", libc::MSG_ERRQUEUE as i64),
    ("MSG_DONTWAIT", libc::MSG_DONTWAIT as i64),
    ("MSG_CONFIRM", libc::MSG_CONFIRM as i64),
    ("MSG_FIN", libc::MSG_FIN as i64),
    ("MSG_SYN", libc::MSG_SYN as i64),
    ("MSG_RST", libc::MSG_RST as i64),
    ("MSG_NOSIGNAL", libc::MSG_NOSIGNAL as i64),
    ("MSG_MORE", libc::MSG_MORE as i64),
    ("MSG_CMSG_CLOEXEC", libc::MSG_CMSG_CLOEXEC as i64),
    ("MSG_FASTOPEN", libc::MSG_FASTOPEN as i64),
    ("MSG_ZEROCOPY", libc::MSG_ZEROCOPY as i64),
];

/// Linux table, category "ioctl" (2).
static LINUX_IOCTL: &[Entry] = &[
    ("SIOCINQ", 0x541B), // include/uapi/linux/sockios.h: SIOCINQ = FIONREAD
    ("FIONREAD", libc::FIONREAD as i64),
];

/// Linux table, category "POLL* flags" (13).
static LINUX_POLL: &[Entry] = &[
    ("POLLIN", libc::POLLIN as i64),
    ("POLLPRI", libc::POLLPRI as i64),
    ("POLLOUT", libc::POLLOUT as i64),
    ("POLLRDNORM", libc::POLLRDNORM as i64),
    ("POLLRDBAND", libc::POLLRDBAND as i64),
    ("POLLWRNORM", libc::POLLWRNORM as i64),
    ("POLLWRBAND", libc::POLLWRBAND as i64),
    ("POLLMSG", 0x0400),    // include/uapi/asm-generic/poll.h
    ("POLLREMOVE", 0x1000), // include/uapi/asm-generic/poll.h
    ("POLLRDHUP", libc::POLLRDHUP as i64),
    ("POLLERR", libc::POLLERR as i64),
    ("POLLHUP", libc::POLLHUP as i64),
    ("POLLNVAL", libc::POLLNVAL as i64),
];

/// Linux table, category "errno names" (132).
static LINUX_ERRNO: &[Entry] = &[
    ("EPERM", libc::EPERM as i64),
    ("ENOENT", libc::ENOENT as i64),
    ("ESRCH", libc::ESRCH as i64),
    ("EINTR", libc::EINTR as i64),
    ("EIO", libc::EIO as i64),
    ("ENXIO", libc::ENXIO as i64),
    ("E2BIG", libc::E2BIG as i64),
    ("ENOEXEC", libc::ENOEXEC as i64),
    ("EBADF", libc::EBADF as i64),
    ("ECHILD", libc::ECHILD as i64),
    ("EAGAIN", libc::EAGAIN as i64),
    ("ENOMEM", libc::ENOMEM as i64),
    ("EACCES", libc::EACCES as i64),
    ("EFAULT", libc::EFAULT as i64),
    ("ENOTBLK", libc::ENOTBLK as i64),
    ("EBUSY", libc::EBUSY as i64),
    ("EEXIST", libc::EEXIST as i64),
    ("EXDEV", libc::EXDEV as i64),
    ("ENODEV", libc::ENODEV as i64),
    ("ENOTDIR", libc::ENOTDIR as i64),
    ("EISDIR", libc::EISDIR as i64),
    ("EINVAL", libc::EINVAL as i64),
    ("ENFILE", libc::ENFILE as i64),
    ("EMFILE", libc::EMFILE as i64),
    ("ENOTTY", libc::ENOTTY as i64),
    ("ETXTBSY", libc::ETXTBSY as i64),
    ("EFBIG", libc::EFBIG as i64),
    ("ENOSPC", libc::ENOSPC as i64),
    ("ESPIPE", libc::ESPIPE as i64),
    ("EROFS", libc::EROFS as i64),
    ("EMLINK", libc::EMLINK as i64),
    ("EPIPE", libc::EPIPE as i64),
    ("EDOM", libc::EDOM as i64),
    ("ERANGE", libc::ERANGE as i64),
    ("EDEADLK", libc::EDEADLK as i64),
    ("ENAMETOOLONG", libc::ENAMETOOLONG as i64),
    ("ENOLCK", libc::ENOLCK as i64),
    ("ENOSYS", libc::ENOSYS as i64),
    ("ENOTEMPTY", libc::ENOTEMPTY as i64),
    ("ELOOP", libc::ELOOP as i64),
    ("EWOULDBLOCK", libc::EWOULDBLOCK as i64),
    ("ENOMSG", libc::ENOMSG as i64),
    ("EIDRM", libc::EIDRM as i64),
    ("ECHRNG", libc::ECHRNG as i64),
    ("EL2NSYNC", libc::EL2NSYNC as i64),
    ("EL3HLT", libc::EL3HLT as i64),
    ("EL3RST", libc::EL3RST as i64),
    ("ELNRNG", libc::ELNRNG as i64),
    ("EUNATCH", libc::EUNATCH as i64),
    ("ENOCSI", libc::ENOCSI as i64),
    ("EL2HLT", libc::EL2HLT as i64),
    ("EBADE", libc::EBADE as i64),
    ("EBADR", libc::EBADR as i64),
    ("EXFULL", libc::EXFULL as i64),
    ("ENOANO", libc::ENOANO as i64),
    ("EBADRQC", libc::EBADRQC as i64),
    ("EBADSLT", libc::EBADSLT as i64),
    ("EDEADLOCK", libc::EDEADLOCK as i64),
    ("EBFONT", libc::EBFONT as i64),
    ("ENOSTR", libc::ENOSTR as i64),
    ("ENODATA", libc::ENODATA as i64),
    ("ETIME", libc::ETIME as i64),
    ("ENOSR", libc::ENOSR as i64),
    ("ENONET", libc::ENONET as i64),
    ("ENOPKG", libc::ENOPKG as i64),
    ("EREMOTE", libc::EREMOTE as i64),
    ("ENOLINK", libc::ENOLINK as i64),
    ("EADV", libc::EADV as i64),
    ("ESRMNT", libc::ESRMNT as i64),
    ("ECOMM", libc::ECOMM as i64),
    ("EPROTO", libc::EPROTO as i64),
    ("EMULTIHOP", libc::EMULTIHOP as i64),
    ("EDOTDOT", libc::EDOTDOT as i64),
    ("EBADMSG", libc::EBADMSG as i64),
    ("EOVERFLOW", libc::EOVERFLOW as i64),
    ("ENOTUNIQ", libc::ENOTUNIQ as i64),
    ("EBADFD", libc::EBADFD as i64),
    ("EREMCHG", libc::EREMCHG as i64),
    ("ELIBACC", libc::ELIBACC as i64),
    ("ELIBBAD", libc::ELIBBAD as i64),
    ("ELIBSCN", libc::ELIBSCN as i64),
    ("ELIBMAX", libc::ELIBMAX as i64),
    ("ELIBEXEC", libc::ELIBEXEC as i64),
    ("EILSEQ", libc::EILSEQ as i64),
    ("ERESTART", libc::ERESTART as i64),
    ("ESTRPIPE", libc::ESTRPIPE as i64),
    ("EUSERS", libc::EUSERS as i64),
    ("ENOTSOCK", libc::ENOTSOCK as i64),
    ("EDESTADDRREQ", libc::EDESTADDRREQ as i64),
    ("EMSGSIZE", libc::EMSGSIZE as i64),
    ("EPROTOTYPE", libc::EPROTOTYPE as i64),
    ("ENOPROTOOPT", libc::ENOPROTOOPT as i64),
    ("EPROTONOSUPPORT", libc::EPROTONOSUPPORT as i64),
    ("ESOCKTNOSUPPORT", libc::ESOCKTNOSUPPORT as i64),
    ("EOPNOTSUPP", libc::EOPNOTSUPP as i64),
    ("EPFNOSUPPORT", libc::EPFNOSUPPORT as i64),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT as i64),
    ("EADDRINUSE", libc::EADDRINUSE as i64),
    ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL as i64),
    ("ENETDOWN", libc::ENETDOWN as i64),
    ("ENETUNREACH", libc::ENETUNREACH as i64),
    ("ENETRESET", libc::ENETRESET as i64),
    ("ECONNABORTED", libc::ECONNABORTED as i64),
    ("ECONNRESET", libc::ECONNRESET as i64),
    ("ENOBUFS", libc::ENOBUFS as i64),
    ("EISCONN", libc::EISCONN as i64),
    ("ENOTCONN", libc::ENOTCONN as i64),
    ("ESHUTDOWN", libc::ESHUTDOWN as i64),
    ("ETOOMANYREFS", libc::ETOOMANYREFS as i64),
    ("ETIMEDOUT", libc::ETIMEDOUT as i64),
    ("ECONNREFUSED", libc::ECONNREFUSED as i64),
    ("EHOSTDOWN", libc::EHOSTDOWN as i64),
    ("EHOSTUNREACH", libc::EHOSTUNREACH as i64),
    ("EALREADY", libc::EALREADY as i64),
    ("EINPROGRESS", libc::EINPROGRESS as i64),
    ("ESTALE", libc::ESTALE as i64),
    ("EUCLEAN", libc::EUCLEAN as i64),
    ("ENOTNAM", libc::ENOTNAM as i64),
    ("ENAVAIL", libc::ENAVAIL as i64),
    ("EISNAM", libc::EISNAM as i64),
    ("EREMOTEIO", libc::EREMOTEIO as i64),
    ("EDQUOT", libc::EDQUOT as i64),
    ("ENOMEDIUM", libc::ENOMEDIUM as i64),
    ("EMEDIUMTYPE", libc::EMEDIUMTYPE as i64),
    ("ECANCELED", libc::ECANCELED as i64),
    ("ENOKEY", libc::ENOKEY as i64),
    ("EKEYEXPIRED", libc::EKEYEXPIRED as i64),
    ("EKEYREVOKED", libc::EKEYREVOKED as i64),
    ("EKEYREJECTED", libc::EKEYREJECTED as i64),
    ("EOWNERDEAD", libc::EOWNERDEAD as i64),
    ("ENOTRECOVERABLE", libc::ENOTRECOVERABLE as i64),
    ("ERFKILL", libc::ERFKILL as i64),
];

/// Linux table, category "CAP_* (libcap)" (42).
static LINUX_CAP: &[Entry] = &[
    ("CAP_EFFECTIVE", 0),         // libcap <sys/capability.h> cap_flag_t
    ("CAP_PERMITTED", 1),         // libcap <sys/capability.h> cap_flag_t
    ("CAP_INHERITABLE", 2),       // libcap <sys/capability.h> cap_flag_t
    ("CAP_SET", 1),               // libcap <sys/capability.h> cap_flag_value_t
    ("CAP_CLEAR", 0),             // libcap <sys/capability.h> cap_flag_value_t
    ("CAP_CHOWN", 0),             // include/uapi/linux/capability.h
    ("CAP_DAC_OVERRIDE", 1),      // include/uapi/linux/capability.h
    ("CAP_DAC_READ_SEARCH", 2),   // include/uapi/linux/capability.h
    ("CAP_FOWNER", 3),            // include/uapi/linux/capability.h
    ("CAP_FSETID", 4),            // include/uapi/linux/capability.h
    ("CAP_KILL", 5),              // include/uapi/linux/capability.h
    ("CAP_SETGID", 6),            // include/uapi/linux/capability.h
    ("CAP_SETUID", 7),            // include/uapi/linux/capability.h
    ("CAP_SETPCAP", 8),           // include/uapi/linux/capability.h
    ("CAP_LINUX_IMMUTABLE", 9),   // include/uapi/linux/capability.h
    ("CAP_NET_BIND_SERVICE", 10), // include/uapi/linux/capability.h
    ("CAP_NET_BROADCAST", 11),    // include/uapi/linux/capability.h
    ("CAP_NET_ADMIN", 12),        // include/uapi/linux/capability.h
    ("CAP_NET_RAW", 13),          // include/uapi/linux/capability.h
    ("CAP_IPC_LOCK", 14),         // include/uapi/linux/capability.h
    ("CAP_IPC_OWNER", 15),        // include/uapi/linux/capability.h
    ("CAP_SYS_MODULE", 16),       // include/uapi/linux/capability.h
    ("CAP_SYS_RAWIO", 17),        // include/uapi/linux/capability.h
    ("CAP_SYS_CHROOT", 18),       // include/uapi/linux/capability.h
    ("CAP_SYS_PTRACE", 19),       // include/uapi/linux/capability.h
    ("CAP_SYS_PACCT", 20),        // include/uapi/linux/capability.h
    ("CAP_SYS_ADMIN", 21),        // include/uapi/linux/capability.h
    ("CAP_SYS_BOOT", 22),         // include/uapi/linux/capability.h
    ("CAP_SYS_NICE", 23),         // include/uapi/linux/capability.h
    ("CAP_SYS_RESOURCE", 24),     // include/uapi/linux/capability.h
    ("CAP_SYS_TIME", 25),         // include/uapi/linux/capability.h
    ("CAP_SYS_TTY_CONFIG", 26),   // include/uapi/linux/capability.h
    ("CAP_MKNOD", 27),            // include/uapi/linux/capability.h
    ("CAP_LEASE", 28),            // include/uapi/linux/capability.h
    ("CAP_AUDIT_WRITE", 29),      // include/uapi/linux/capability.h
    ("CAP_AUDIT_CONTROL", 30),    // include/uapi/linux/capability.h
    ("CAP_SETFCAP", 31),          // include/uapi/linux/capability.h
    ("CAP_MAC_OVERRIDE", 32),     // include/uapi/linux/capability.h
    ("CAP_MAC_ADMIN", 33),        // include/uapi/linux/capability.h
    ("CAP_SYSLOG", 34),           // include/uapi/linux/capability.h
    ("CAP_WAKE_ALARM", 35),       // include/uapi/linux/capability.h
    ("CAP_BLOCK_SUSPEND", 36),    // include/uapi/linux/capability.h
];

/// Linux table, category "EPOLL* flags/ops" (17).
static LINUX_EPOLL: &[Entry] = &[
    ("EPOLLIN", libc::EPOLLIN as i64),
    ("EPOLLPRI", libc::EPOLLPRI as i64),
    ("EPOLLOUT", libc::EPOLLOUT as i64),
    ("EPOLLRDNORM", libc::EPOLLRDNORM as i64),
    ("EPOLLRDBAND", libc::EPOLLRDBAND as i64),
    ("EPOLLWRNORM", libc::EPOLLWRNORM as i64),
    ("EPOLLWRBAND", libc::EPOLLWRBAND as i64),
    ("EPOLLMSG", libc::EPOLLMSG as i64),
    ("EPOLLERR", libc::EPOLLERR as i64),
    ("EPOLLHUP", libc::EPOLLHUP as i64),
    ("EPOLLRDHUP", libc::EPOLLRDHUP as i64),
    ("EPOLLONESHOT", libc::EPOLLONESHOT as i64),
    ("EPOLLET", libc::EPOLLET as u32 as i64), // 1 << 31 as unsigned
    ("EPOLLEXCLUSIVE", libc::EPOLLEXCLUSIVE as i64),
    ("EPOLL_CTL_ADD", libc::EPOLL_CTL_ADD as i64),
    ("EPOLL_CTL_MOD", libc::EPOLL_CTL_MOD as i64),
    ("EPOLL_CTL_DEL", libc::EPOLL_CTL_DEL as i64),
];

/// Linux table, category "SPLICE_F_*" (4).
static LINUX_SPLICE: &[Entry] = &[
    ("SPLICE_F_MOVE", libc::SPLICE_F_MOVE as i64),
    ("SPLICE_F_NONBLOCK", libc::SPLICE_F_NONBLOCK as i64),
    ("SPLICE_F_MORE", libc::SPLICE_F_MORE as i64),
    ("SPLICE_F_GIFT", libc::SPLICE_F_GIFT as i64),
];

/// Linux table, category "misc" (1).
static LINUX_MISC: &[Entry] = &[("AF_UNSPEC", libc::AF_UNSPEC as i64)];

/// The upstream Linux table as (category, entries), in spec §9.5 order.
static LINUX_CATEGORIES: &[(&str, &[Entry])] = &[
    ("levels", LINUX_LEVELS),
    ("SO_* socket options", LINUX_SO),
    ("SOF_TIMESTAMPING_* flags", LINUX_SOF_TIMESTAMPING),
    ("SCM_* cmsg types", LINUX_SCM),
    ("TCP_* (options, NLA ids, CA states)", LINUX_TCP),
    ("IP_* / IPV6_*", LINUX_IP),
    ("O_* open/fcntl flags", LINUX_O),
    ("F_* fcntl commands", LINUX_F),
    ("flock / lock constants", LINUX_LOCK_SEEK),
    ("MSG_* flags", LINUX_MSG),
    ("ioctl", LINUX_IOCTL),
    ("POLL* flags", LINUX_POLL),
    ("errno names", LINUX_ERRNO),
    ("CAP_* (libcap)", LINUX_CAP),
    ("EPOLL* flags/ops", LINUX_EPOLL),
    ("SPLICE_F_*", LINUX_SPLICE),
    ("misc", LINUX_MISC),
];

// ---------------------------------------------------------------------------
// stackdrill extensions: useful Linux constants upstream packetdrill lacks.
// ---------------------------------------------------------------------------

/// stackdrill extensions (not in upstream packetdrill; scripts there need a define).
static EXTENSIONS: &[Entry] = &[
    ("IPPROTO_SCTP", libc::IPPROTO_SCTP as i64),
    ("IPPROTO_UDPLITE", libc::IPPROTO_UDPLITE as i64),
    ("IPPROTO_GRE", libc::IPPROTO_GRE as i64),
    ("TCP_MD5SIG_EXT", libc::TCP_MD5SIG_EXT as i64),
    ("TCP_ULP", libc::TCP_ULP as i64),
    ("TCP_REPAIR", libc::TCP_REPAIR as i64),
    ("TCP_WINDOW_CLAMP", libc::TCP_WINDOW_CLAMP as i64),
    ("TCP_SAVE_SYN", libc::TCP_SAVE_SYN as i64),
    ("IPV6_V6ONLY", libc::IPV6_V6ONLY as i64),
    ("SO_BUSY_POLL", libc::SO_BUSY_POLL as i64),
    ("TCP_ZEROCOPY_RECEIVE", libc::TCP_ZEROCOPY_RECEIVE as i64),
    ("IP_OPTIONS", libc::IP_OPTIONS as i64),
];

// ---------------------------------------------------------------------------
// nplab dialect: SCTP socket API and UDP-Lite names with their Linux values.
// ---------------------------------------------------------------------------

/// SCTP socket API names as Linux defines them (include/uapi/linux/sctp.h, values as this
/// kernel's header gives them), SO_EE_ORIGIN_ICMP* (include/uapi/linux/errqueue.h) and the
/// UDP-Lite socket options (include/net/udplite.h). Scripts of nplab's dialect use them
/// without a define; a Linux build of nplab's packetdrill knows them.
static NPLAB_LINUX: &[Entry] = &[
    ("MSG_NOTIFICATION", 32768),
    ("SCTP_ACTIVE", 2),
    ("SCTP_ADAPTATION_INDICATION", 32775),
    ("SCTP_ADAPTATION_LAYER", 7),
    ("SCTP_ADDR_AVAILABLE", 0),
    ("SCTP_ADDR_UNREACHABLE", 1),
    ("SCTP_ADD_STREAMS", 121),
    ("SCTP_ASSOCINFO", 1),
    ("SCTP_ASSOC_CHANGE", 32769),
    ("SCTP_ASSOC_RESET_EVENT", 32779),
    ("SCTP_AUTHENTICATION_EVENT", 32776),
    ("SCTP_AUTHINFO", 6),
    ("SCTP_AUTH_ACTIVE_KEY", 24),
    ("SCTP_AUTH_CHUNK", 21),
    ("SCTP_AUTH_DEACTIVATE_KEY", 35),
    ("SCTP_AUTH_DELETE_KEY", 25),
    ("SCTP_AUTH_HMAC_ID_SHA1", 1),
    ("SCTP_AUTH_HMAC_ID_SHA256", 3),
    ("SCTP_AUTH_KEY", 23),
    ("SCTP_AUTH_NO_AUTH", 2),
    ("SCTP_AUTOCLOSE", 4),
    ("SCTP_AUTO_ASCONF", 30),
    ("SCTP_BINDX_ADD_ADDR", 1),
    ("SCTP_COMM_UP", 0),
    ("SCTP_CONTEXT", 17),
    ("SCTP_DATA_SENT", 1),
    ("SCTP_DEFAULT_PRINFO", 114),
    ("SCTP_DEFAULT_SEND_PARAM", 10),
    ("SCTP_DEFAULT_SNDINFO", 34),
    ("SCTP_DELAYED_SACK", 16),
    ("SCTP_DISABLE_FRAGMENTS", 8),
    ("SCTP_DSTADDRV4", 7),
    ("SCTP_DSTADDRV6", 8),
    ("SCTP_ENABLE_CHANGE_ASSOC_REQ", 4),
    ("SCTP_ENABLE_RESET_ASSOC_REQ", 2),
    ("SCTP_ENABLE_RESET_STREAM_REQ", 1),
    ("SCTP_ENABLE_STREAM_RESET", 118),
    ("SCTP_ESTABLISHED", 4),
    ("SCTP_EVENT", 127),
    ("SCTP_EVENTS", 11),
    ("SCTP_FRAGMENT_INTERLEAVE", 18),
    ("SCTP_GET_ASSOC_ID_LIST", 29),
    ("SCTP_GET_ASSOC_NUMBER", 28),
    ("SCTP_GET_PEER_ADDR_INFO", 15),
    ("SCTP_HMAC_IDENT", 22),
    ("SCTP_INIT", 0),
    ("SCTP_INITMSG", 2),
    ("SCTP_INTERLEAVING_SUPPORTED", 125),
    ("SCTP_I_WANT_MAPPED_V4_ADDR", 12),
    ("SCTP_LOCAL_AUTH_CHUNKS", 27),
    ("SCTP_MAXSEG", 13),
    ("SCTP_MAX_BURST", 20),
    ("SCTP_NODELAY", 3),
    ("SCTP_NXTINFO", 4),
    ("SCTP_PARTIAL_DELIVERY_ABORTED", 0),
    ("SCTP_PARTIAL_DELIVERY_EVENT", 32774),
    ("SCTP_PARTIAL_DELIVERY_POINT", 19),
    ("SCTP_PEER_ADDR_CHANGE", 32770),
    ("SCTP_PEER_ADDR_PARAMS", 9),
    ("SCTP_PEER_AUTH_CHUNKS", 26),
    ("SCTP_PRIMARY_ADDR", 6),
    ("SCTP_PRINFO", 5),
    ("SCTP_PR_SCTP_TTL", 16),
    ("SCTP_RCVINFO", 3),
    ("SCTP_RECVNXTINFO", 33),
    ("SCTP_RECVRCVINFO", 32),
    ("SCTP_REMOTE_ERROR", 32772),
    ("SCTP_RESET_ASSOC", 120),
    ("SCTP_RESET_STREAMS", 119),
    ("SCTP_REUSE_PORT", 36),
    ("SCTP_RTOINFO", 0),
    ("SCTP_SENDALL", 64),
    ("SCTP_SENDER_DRY_EVENT", 32777),
    ("SCTP_SEND_FAILED", 32771),
    ("SCTP_SEND_FAILED_EVENT", 32781),
    ("SCTP_SET_PEER_PRIMARY_ADDR", 5),
    ("SCTP_SHUTDOWN_COMP", 3),
    ("SCTP_SHUTDOWN_EVENT", 32773),
    ("SCTP_SNDINFO", 2),
    ("SCTP_SNDRCV", 1),
    ("SCTP_STATUS", 14),
    ("SCTP_STREAM_CHANGE_EVENT", 32780),
    ("SCTP_STREAM_RESET_EVENT", 32778),
    ("SCTP_STREAM_RESET_INCOMING", 1),
    ("SCTP_STREAM_RESET_OUTGOING", 2),
    ("SCTP_UNORDERED", 1),
    ("SO_EE_ORIGIN_ICMP", 2),
    ("SO_EE_ORIGIN_ICMP6", 3),
    ("SPP_DSCP", 512),
    ("SPP_HB_DISABLE", 2),
    ("SPP_HB_ENABLE", 1),
    ("SPP_PMTUD_DISABLE", 16),
    ("SPP_PMTUD_ENABLE", 8),
    ("SPP_SACKDELAY_ENABLE", 32),
    ("UDPLITE_SEND_CSCOV", 10), // include/net/udplite.h
    ("UDPLITE_RECV_CSCOV", 11), // include/net/udplite.h
    // RFC 6458 sctp_sendv()/sctp_recvv() info types and sctp_sendv_spa flags (lksctp-tools'
    // netinet/sctp.h; the same numbers on every platform).
    ("SCTP_SENDV_NOINFO", 0),
    ("SCTP_SENDV_SNDINFO", 1),
    ("SCTP_SENDV_PRINFO", 2),
    ("SCTP_SENDV_AUTHINFO", 3),
    ("SCTP_SENDV_SPA", 4),
    ("SCTP_RECVV_NOINFO", 0),
    ("SCTP_RECVV_RCVINFO", 1),
    ("SCTP_RECVV_NXTINFO", 2),
    ("SCTP_RECVV_RN", 3),
    ("SCTP_SEND_SNDINFO_VALID", 1),
    ("SCTP_SEND_PRINFO_VALID", 2),
    ("SCTP_SEND_AUTHINFO_VALID", 4),
];

/// BSD names glibc's headers also define with these numbers (netinet/ip.h, netinet/ip_icmp.h,
/// netinet/icmp6.h, netinet/in.h), used by FreeBSD's and nplab's suites.
static BSD_NAMES_ON_LINUX: &[Entry] = &[
    ("IPTOS_DSCP_CS0", 0x00),     // netinet/ip.h
    ("IPTOS_DSCP_CS1", 0x20),     // netinet/ip.h
    ("IPTOS_DSCP_CS2", 0x40),     // netinet/ip.h
    ("IPTOS_DSCP_CS3", 0x60),     // netinet/ip.h
    ("IPTOS_DSCP_CS4", 0x80),     // netinet/ip.h
    ("IPTOS_DSCP_CS5", 0xa0),     // netinet/ip.h
    ("IPTOS_DSCP_CS6", 0xc0),     // netinet/ip.h
    ("IPTOS_DSCP_CS7", 0xe0),     // netinet/ip.h
    ("IPTOS_DSCP_EF", 0xb8),      // netinet/ip.h
    ("ICMP_UNREACH", 3),          // netinet/ip_icmp.h
    ("ICMP_UNREACH_NEEDFRAG", 4), // netinet/ip_icmp.h
    ("ICMP6_DST_UNREACH", 1),     // netinet/icmp6.h
    ("ICMP6_PACKET_TOO_BIG", 2),  // netinet/icmp6.h
    ("IPV6_UNICAST_HOPS", libc::IPV6_UNICAST_HOPS as i64),
];

// ---------------------------------------------------------------------------
// Names of other platforms: known to a dry run, an error when a run on Linux uses them.
// ---------------------------------------------------------------------------

/// An operating system whose packetdrill builds know names Linux lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    FreeBsd,
    NetBsd,
    OpenBsd,
    MacOs,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Platform::FreeBsd => "FreeBSD",
            Platform::NetBsd => "NetBSD",
            Platform::OpenBsd => "OpenBSD",
            Platform::MacOs => "macOS",
        }
    }
}

/// FreeBSD-only names with FreeBSD's values (netinet/tcp.h, sys/socket.h, netinet6/in6.h,
/// netinet/sctp.h, netinet/sctp_uio.h, netinet/udplite.h).
static FREEBSD_ONLY: &[Entry] = &[
    ("TCP_NOPUSH", 4),
    ("TCP_NOOPT", 8),
    ("TCP_LOG", 34),
    ("TCP_CCALGOOPT", 65),
    ("TCP_REMOTE_UDP_ENCAPS_PORT", 71),
    ("TCP_DELACK", 72),
    ("TCP_FIN_IS_RST", 73),
    ("TCP_KEEPINIT", 128),
    ("TCP_PCAP_OUT", 2048),
    ("TCP_PCAP_IN", 4096),
    ("TCP_FUNCTION_BLK", 8192),
    ("TCP_FUNCTION_ALIAS", 8193),
    ("TCP_RACK_PACE_MAX_SEG", 1054),
    ("TCP_RACK_PACE_ALWAYS", 1055),
    ("TCP_RACK_PACE_RATE_CA", 1118),
    ("TCP_RACK_PACE_RATE_SS", 1119),
    ("TCP_RACK_PACE_RATE_REC", 1120),
    ("SO_ACCEPTFILTER", 0x1000),
    ("SO_NOSIGPIPE", 0x0800),
    ("SO_SETFIB", 0x1008),
    ("SO_USER_COOKIE", 0x1015),
    ("SO_REUSEPORT_LB", 0x10000),
    ("IPV6_USE_MIN_MTU", 42),
    ("SCTP_USE_EXT_RCVINFO", 0x17),
    ("SCTP_EXPLICIT_EOR", 0x1b),
    ("SCTP_REMOTE_UDP_ENCAPS_PORT", 0x24),
    ("SCTP_ACCEPT_ZERO_CHECKSUM", 0x33),
    ("SCTP_EXTRCV", 0x0003),
    ("SCTP_COMPLETE", 0x0020),
    ("SCTP_NOTIFICATIONS_STOPPED_EVENT", 0x000b),
    ("SCTP_ASSOC_SUPPORTS_MULTIBUF", 0x04),
    ("SCTP_NEXT_MSG_AVAIL", 0x0001),
    ("SCTP_NEXT_MSG_ISCOMPLETE", 0x0002),
    ("SCTP_NEXT_MSG_IS_UNORDERED", 0x0004),
    ("SCTP_NEXT_MSG_IS_NOTIFICATION", 0x0008),
];

/// NetBSD-only names (netinet/tcp.h, sys/socket.h).
static NETBSD_ONLY: &[Entry] = &[("TCP_KEEPINIT", 7), ("SO_NOSIGPIPE", 0x0800)];

/// OpenBSD-only names (netinet/tcp.h).
static OPENBSD_ONLY: &[Entry] = &[("TCP_SACK_ENABLE", 0x08)];

/// macOS-only names (netinet/tcp.h, sys/socket.h).
static MACOS_ONLY: &[Entry] = &[
    ("TCP_KEEPALIVE", 0x10),
    ("TCP_CONNECTIONTIMEOUT", 0x20),
    ("TCP_SENDMOREACKS", 0x103),
    ("SO_NOSIGPIPE", 0x1022),
    ("SO_NREAD", 0x1020),
];

static PLATFORMS: &[(Platform, &[Entry])] = &[
    (Platform::FreeBsd, FREEBSD_ONLY),
    (Platform::NetBsd, NETBSD_ONLY),
    (Platform::OpenBsd, OPENBSD_ONLY),
    (Platform::MacOs, MACOS_ONLY),
];

/// A name Linux lacks but another platform's packetdrill knows: the first platform (FreeBSD
/// first, as most such scripts are FreeBSD's) and its value there.
pub fn other_platform(name: &str) -> Option<(Platform, i64)> {
    if lookup(name).is_some() {
        return None;
    }
    PLATFORMS.iter().find_map(|&(platform, entries)| {
        entries
            .iter()
            .find(|&&(n, _)| n == name)
            .map(|&(_, value)| (platform, value))
    })
}

/// Every platform-only name with its platform and value.
pub fn other_platforms() -> impl Iterator<Item = (&'static str, Platform, i64)> {
    PLATFORMS.iter().flat_map(|&(platform, entries)| {
        entries
            .iter()
            .map(move |&(name, value)| (name, platform, value))
    })
}

/// stackdrill extensions for MPTCP scripts (the multipath-tcp/packetdrill fork's names; the
/// values of Linux's uapi headers, which the libc crate does not carry).
static MPTCP_EXTENSIONS: &[Entry] = &[
    ("IPPROTO_MPTCP", 262),
    ("SOL_MPTCP", 284),
    ("MPTCP_INFO", 1),
    ("MPTCP_TCPINFO", 2),
    ("MPTCP_SUBFLOW_ADDRS", 3),
    ("MPTCP_FULL_INFO", 4),
];

/// Errno symbols that alias a canonical name with the same number.
const ERRNO_ALIASES: &[&str] = &["EWOULDBLOCK", "EDEADLOCK"];

fn linux_entries() -> impl Iterator<Item = &'static Entry> {
    LINUX_CATEGORIES
        .iter()
        .flat_map(|&(_, entries)| entries.iter())
}

fn symbol_map() -> &'static HashMap<&'static str, (i64, SymbolOrigin)> {
    static MAP: OnceLock<HashMap<&'static str, (i64, SymbolOrigin)>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut map = HashMap::new();
        for (name, value, origin) in all() {
            // First table wins should a name ever appear twice (tests forbid it).
            map.entry(name).or_insert((value, origin));
        }
        map
    })
}

fn errno_map() -> &'static HashMap<i64, &'static str> {
    static MAP: OnceLock<HashMap<i64, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        LINUX_ERRNO
            .iter()
            .filter(|(name, _)| !ERRNO_ALIASES.contains(name))
            .map(|&(name, value)| (value, name))
            .collect()
    })
}

fn errno_names() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| LINUX_ERRNO.iter().map(|&(name, _)| name).collect())
}

/// Value of a symbolic constant, or None when the name is unknown.
pub fn lookup(name: &str) -> Option<i64> {
    symbol_map().get(name).map(|&(value, _)| value)
}

/// Every known name with its value and origin, in table order.
pub fn all() -> impl Iterator<Item = (&'static str, i64, SymbolOrigin)> {
    let cross = CROSS_PLATFORM
        .iter()
        .map(|&(name, value)| (name, value, SymbolOrigin::CrossPlatform));
    let linux = linux_entries().map(|&(name, value)| (name, value, SymbolOrigin::Linux));
    let ext = EXTENSIONS
        .iter()
        .chain(MPTCP_EXTENSIONS)
        .map(|&(name, value)| (name, value, SymbolOrigin::Extension));
    let nplab = NPLAB_LINUX
        .iter()
        .chain(BSD_NAMES_ON_LINUX)
        .map(|&(name, value)| (name, value, SymbolOrigin::Nplab));
    cross.chain(linux).chain(ext).chain(nplab)
}

/// The errno symbol (e.g. "ECONNREFUSED") for a number, preferring the canonical name
/// (EAGAIN over EWOULDBLOCK, EDEADLK over EDEADLOCK).
pub fn errno_name(errno: i64) -> Option<&'static str> {
    errno_map().get(&errno).copied()
}

/// True when `name` is one of the errno symbols.
pub fn is_errno_name(name: &str) -> bool {
    errno_names().contains(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-category counts of spec §9.5.
    const SPEC_COUNTS: &[(&str, usize)] = &[
        ("levels", 4),
        ("SO_* socket options", 38),
        ("SOF_TIMESTAMPING_* flags", 14),
        ("SCM_* cmsg types", 5),
        ("TCP_* (options, NLA ids, CA states)", 54),
        ("IP_* / IPV6_*", 15),
        ("O_* open/fcntl flags", 10),
        ("F_* fcntl commands", 25),
        ("flock / lock constants", 7),
        ("MSG_* flags", 19),
        ("ioctl", 2),
        ("POLL* flags", 13),
        ("errno names", 132),
        ("CAP_* (libcap)", 42),
        ("EPOLL* flags/ops", 17),
        ("SPLICE_F_*", 4),
        ("misc", 1),
    ];

    /// Spec §9.5 cross-platform names, verbatim.
    const SPEC_CROSS_PLATFORM: &str = "\
        AF_INET AF_INET6 AF_PACKET PF_INET PF_INET6 SOCK_RAW SOCK_STREAM SOCK_DGRAM \
        SOCK_NONBLOCK IPPROTO_RAW IPPROTO_IP IPPROTO_IPV6 IPPROTO_ICMP IPPROTO_ICMPV6 \
        IPPROTO_TCP IPPROTO_UDP SHUT_RD SHUT_WR SHUT_RDWR SOL_SOCKET NULL";

    /// Spec §9.5 Linux table names, verbatim and in order.
    const SPEC_LINUX: &str = "\
        SOL_IP SOL_IPV6 SOL_TCP SOL_UDP SO_ACCEPTCONN SO_ATTACH_FILTER SO_BINDTODEVICE \
        SO_BROADCAST SO_BSDCOMPAT SO_DEBUG SO_DETACH_FILTER SO_DONTROUTE SO_ERROR SO_KEEPALIVE \
        SO_LINGER SO_MARK SO_NO_CHECK SO_OOBINLINE SO_PASSCRED SO_PEERCRED SO_PEERNAME \
        SO_PEERSEC SO_PRIORITY SO_RCVBUF SO_RCVLOWAT SO_RCVTIMEO SO_REUSEADDR SO_REUSEPORT \
        SO_SECURITY_AUTHENTICATION SO_SECURITY_ENCRYPTION_NETWORK \
        SO_SECURITY_ENCRYPTION_TRANSPORT SO_SNDBUF SO_SNDLOWAT SO_SNDTIMEO SO_TIMESTAMP \
        SO_TIMESTAMPING SO_TYPE SO_MAX_PACING_RATE SO_ZEROCOPY SO_EE_ORIGIN_TIMESTAMPING \
        SO_EE_ORIGIN_ZEROCOPY SO_EE_CODE_ZEROCOPY_COPIED SOF_TIMESTAMPING_TX_HARDWARE \
        SOF_TIMESTAMPING_TX_SOFTWARE SOF_TIMESTAMPING_RX_HARDWARE SOF_TIMESTAMPING_RX_SOFTWARE \
        SOF_TIMESTAMPING_SOFTWARE SOF_TIMESTAMPING_SYS_HARDWARE SOF_TIMESTAMPING_RAW_HARDWARE \
        SOF_TIMESTAMPING_OPT_ID SOF_TIMESTAMPING_TX_SCHED SOF_TIMESTAMPING_TX_ACK \
        SOF_TIMESTAMPING_OPT_CMSG SOF_TIMESTAMPING_OPT_TSONLY SOF_TIMESTAMPING_OPT_STATS \
        SOF_TIMESTAMPING_OPT_ID_TCP SCM_TIMESTAMPING SCM_TSTAMP_SND SCM_TSTAMP_SCHED \
        SCM_TSTAMP_ACK SCM_TIMESTAMPING_OPT_STATS TCP_NLA_BUSY TCP_NLA_RWND_LIMITED \
        TCP_NLA_SNDBUF_LIMITED TCP_NLA_DATA_SEGS_OUT TCP_NLA_TOTAL_RETRANS TCP_NLA_PACING_RATE \
        TCP_NLA_DELIVERY_RATE TCP_NLA_SND_CWND TCP_NLA_REORDERING TCP_NLA_MIN_RTT \
        TCP_NLA_RECUR_RETRANS TCP_NLA_DELIVERY_RATE_APP_LMT TCP_NLA_SNDQ_SIZE TCP_NLA_CA_STATE \
        TCP_NLA_SND_SSTHRESH TCP_NLA_DELIVERED TCP_NLA_DELIVERED_CE TCP_NLA_BYTES_SENT \
        TCP_NLA_BYTES_RETRANS TCP_NLA_DSACK_DUPS TCP_NLA_REORD_SEEN TCP_NLA_SRTT TCP_CA_OPEN \
        TCP_CA_DISORDER TCP_CA_CWR TCP_CA_RECOVERY TCP_CA_LOSS TCP_INFINITE_SSTHRESH TCP_NODELAY \
        TCP_MAXSEG TCP_CORK TCP_KEEPIDLE TCP_KEEPINTVL TCP_KEEPCNT TCP_SYNCNT TCP_LINGER2 \
        TCP_DEFER_ACCEPT TCP_INFO TCP_QUICKACK TCP_CONGESTION TCP_MD5SIG TCP_COOKIE_TRANSACTIONS \
        TCP_THIN_LINEAR_TIMEOUTS TCP_THIN_DUPACK TCP_USER_TIMEOUT TCP_FASTOPEN \
        TCP_FASTOPEN_CONNECT TCP_FASTOPEN_KEY TCP_FASTOPEN_NO_COOKIE TCP_TIMESTAMP \
        TCP_NOTSENT_LOWAT TCP_INQ TCP_CM_INQ TCP_TX_DELAY IP_TOS IP_MTU_DISCOVER \
        IPV6_MTU_DISCOVER IP_PMTUDISC_WANT IP_PMTUDISC_DONT IP_PMTUDISC_DO IP_PMTUDISC_PROBE \
        IP_RECVERR IPV6_RECVERR IP_FREEBIND IP_TTL IP_MTU IPV6_MTU IPV6_TCLASS IPV6_HOPLIMIT \
        O_RDONLY O_WRONLY O_RDWR O_ACCMODE O_CREAT O_EXCL O_NOCTTY O_TRUNC O_APPEND O_NONBLOCK \
        F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_GETLK F_SETLK F_SETLKW F_GETOWN F_SETOWN \
        F_SETSIG F_GETSIG F_SETLK64 F_SETLKW64 F_GETLK64 F_SETLEASE F_GETLEASE F_NOTIFY \
        F_DUPFD_CLOEXEC FD_CLOEXEC F_RDLCK F_WRLCK F_UNLCK F_EXLCK F_SHLCK LOCK_SH LOCK_EX \
        LOCK_NB LOCK_UN SEEK_SET SEEK_CUR SEEK_END MSG_OOB MSG_DONTROUTE MSG_PEEK MSG_CTRUNC \
        MSG_PROXY MSG_EOR MSG_WAITALL MSG_TRUNC MSG_ERRQUEUE MSG_DONTWAIT MSG_CONFIRM MSG_FIN \
        MSG_SYN MSG_RST MSG_NOSIGNAL MSG_MORE MSG_CMSG_CLOEXEC MSG_FASTOPEN MSG_ZEROCOPY SIOCINQ \
        FIONREAD POLLIN POLLPRI POLLOUT POLLRDNORM POLLRDBAND POLLWRNORM POLLWRBAND POLLMSG \
        POLLREMOVE POLLRDHUP POLLERR POLLHUP POLLNVAL EPERM ENOENT ESRCH EINTR EIO ENXIO E2BIG \
        ENOEXEC EBADF ECHILD EAGAIN ENOMEM EACCES EFAULT ENOTBLK EBUSY EEXIST EXDEV ENODEV \
        ENOTDIR EISDIR EINVAL ENFILE EMFILE ENOTTY ETXTBSY EFBIG ENOSPC ESPIPE EROFS EMLINK \
        EPIPE EDOM ERANGE EDEADLK ENAMETOOLONG ENOLCK ENOSYS ENOTEMPTY ELOOP EWOULDBLOCK ENOMSG \
        EIDRM ECHRNG EL2NSYNC EL3HLT EL3RST ELNRNG EUNATCH ENOCSI EL2HLT EBADE EBADR EXFULL \
        ENOANO EBADRQC EBADSLT EDEADLOCK EBFONT ENOSTR ENODATA ETIME ENOSR ENONET ENOPKG EREMOTE \
        ENOLINK EADV ESRMNT ECOMM EPROTO EMULTIHOP EDOTDOT EBADMSG EOVERFLOW ENOTUNIQ EBADFD \
        EREMCHG ELIBACC ELIBBAD ELIBSCN ELIBMAX ELIBEXEC EILSEQ ERESTART ESTRPIPE EUSERS \
        ENOTSOCK EDESTADDRREQ EMSGSIZE EPROTOTYPE ENOPROTOOPT EPROTONOSUPPORT ESOCKTNOSUPPORT \
        EOPNOTSUPP EPFNOSUPPORT EAFNOSUPPORT EADDRINUSE EADDRNOTAVAIL ENETDOWN ENETUNREACH \
        ENETRESET ECONNABORTED ECONNRESET ENOBUFS EISCONN ENOTCONN ESHUTDOWN ETOOMANYREFS \
        ETIMEDOUT ECONNREFUSED EHOSTDOWN EHOSTUNREACH EALREADY EINPROGRESS ESTALE EUCLEAN \
        ENOTNAM ENAVAIL EISNAM EREMOTEIO EDQUOT ENOMEDIUM EMEDIUMTYPE ECANCELED ENOKEY \
        EKEYEXPIRED EKEYREVOKED EKEYREJECTED EOWNERDEAD ENOTRECOVERABLE ERFKILL CAP_EFFECTIVE \
        CAP_PERMITTED CAP_INHERITABLE CAP_SET CAP_CLEAR CAP_CHOWN CAP_DAC_OVERRIDE \
        CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID CAP_SETUID CAP_SETPCAP \
        CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW \
        CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE \
        CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME \
        CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP \
        CAP_MAC_OVERRIDE CAP_MAC_ADMIN CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND EPOLLIN \
        EPOLLPRI EPOLLOUT EPOLLRDNORM EPOLLRDBAND EPOLLWRNORM EPOLLWRBAND EPOLLMSG EPOLLERR \
        EPOLLHUP EPOLLRDHUP EPOLLONESHOT EPOLLET EPOLLEXCLUSIVE EPOLL_CTL_ADD EPOLL_CTL_MOD \
        EPOLL_CTL_DEL SPLICE_F_MOVE SPLICE_F_NONBLOCK SPLICE_F_MORE SPLICE_F_GIFT AF_UNSPEC";

    #[test]
    fn names_match_spec_lists() {
        let cross: Vec<_> = CROSS_PLATFORM.iter().map(|&(n, _)| n).collect();
        let spec_cross: Vec<_> = SPEC_CROSS_PLATFORM.split_whitespace().collect();
        assert_eq!(cross, spec_cross);
        let linux: Vec<_> = linux_entries().map(|&(n, _)| n).collect();
        let spec_linux: Vec<_> = SPEC_LINUX.split_whitespace().collect();
        assert_eq!(spec_linux.len(), 402);
        assert_eq!(linux, spec_linux);
    }

    #[test]
    fn table_sizes_match_spec() {
        assert_eq!(CROSS_PLATFORM.len(), 21);
        assert_eq!(linux_entries().count(), 402);
        assert_eq!(EXTENSIONS.len(), 12);
        assert_eq!(LINUX_CATEGORIES.len(), SPEC_COUNTS.len());
        for (&(cat, entries), &(spec_cat, n)) in LINUX_CATEGORIES.iter().zip(SPEC_COUNTS) {
            assert_eq!(cat, spec_cat);
            assert_eq!(entries.len(), n, "category {cat}");
        }
        let nplab = NPLAB_LINUX.len() + BSD_NAMES_ON_LINUX.len();
        assert_eq!(
            all().count(),
            21 + 402 + 12 + MPTCP_EXTENSIONS.len() + nplab
        );
    }

    #[test]
    fn nplab_names_have_linux_values() {
        let origin = |name: &str| all().find(|(n, ..)| *n == name).map(|(_, _, o)| o);
        assert_eq!(origin("SCTP_RTOINFO"), Some(SymbolOrigin::Nplab));
        // include/uapi/linux/sctp.h
        assert_eq!(lookup("SCTP_RTOINFO"), Some(0));
        assert_eq!(lookup("SCTP_EVENT"), Some(127));
        assert_eq!(lookup("SCTP_ASSOC_CHANGE"), Some(0x8001));
        assert_eq!(lookup("SPP_HB_DISABLE"), Some(2));
        assert_eq!(lookup("UDPLITE_SEND_CSCOV"), Some(10));
        assert_eq!(lookup("IPV6_UNICAST_HOPS"), Some(16));
    }

    #[test]
    fn other_platforms_names_are_not_linux_names() {
        assert_eq!(lookup("TCP_NOOPT"), None);
        assert_eq!(other_platform("TCP_NOOPT"), Some((Platform::FreeBsd, 8)));
        assert_eq!(
            other_platform("TCP_KEEPINIT"),
            Some((Platform::FreeBsd, 128))
        );
        assert_eq!(
            other_platform("TCP_CONNECTIONTIMEOUT"),
            Some((Platform::MacOs, 0x20))
        );
        // A Linux name is never another platform's, whatever the tables say.
        assert_eq!(other_platform("TCP_NODELAY"), None);
        assert_eq!(other_platform("NO_SUCH"), None);
        for (name, platform, _) in other_platforms() {
            assert!(
                lookup(name).is_none(),
                "{name} ({}) is a Linux name",
                platform.name()
            );
        }
    }

    #[test]
    fn mptcp_numbers_are_linuxs() {
        // linux/in.h, linux/socket.h, linux/mptcp.h.
        assert_eq!(lookup("IPPROTO_MPTCP"), Some(262));
        assert_eq!(lookup("SOL_MPTCP"), Some(284));
        assert_eq!(lookup("MPTCP_FULL_INFO"), Some(4));
    }

    #[test]
    fn no_duplicate_names_across_tables() {
        let mut seen = HashSet::new();
        for (name, _, origin) in all() {
            assert!(seen.insert(name), "{name} ({origin:?}) listed twice");
        }
        assert_eq!(symbol_map().len(), all().count());
    }

    #[test]
    fn spec_names_all_present() {
        // A sample across every category, spelled as in the spec.
        for name in [
            "AF_INET",
            "NULL",
            "SOL_SOCKET",
            "SOL_UDP",
            "SO_MAX_PACING_RATE",
            "SO_EE_CODE_ZEROCOPY_COPIED",
            "SOF_TIMESTAMPING_OPT_ID_TCP",
            "SCM_TIMESTAMPING_OPT_STATS",
            "TCP_NLA_SRTT",
            "TCP_CA_LOSS",
            "TCP_TX_DELAY",
            "IPV6_HOPLIMIT",
            "O_ACCMODE",
            "F_SHLCK",
            "SEEK_END",
            "MSG_ZEROCOPY",
            "FIONREAD",
            "POLLNVAL",
            "ERFKILL",
            "CAP_BLOCK_SUSPEND",
            "EPOLL_CTL_DEL",
            "SPLICE_F_GIFT",
            "AF_UNSPEC",
        ] {
            assert!(lookup(name).is_some(), "{name} missing");
        }
    }

    #[test]
    fn origins() {
        let origin = |n: &str| symbol_map().get(n).map(|&(_, o)| o);
        assert_eq!(origin("SOCK_STREAM"), Some(SymbolOrigin::CrossPlatform));
        assert_eq!(origin("SOL_TCP"), Some(SymbolOrigin::Linux));
        assert_eq!(origin("TCP_ULP"), Some(SymbolOrigin::Extension));
        let order: Vec<_> = all().map(|(_, _, o)| o).collect();
        assert!(
            order.windows(2).all(|w| w[0] as u8 <= w[1] as u8),
            "table order"
        );
    }

    #[test]
    fn values_from_kernel_headers() {
        // Numbers checked against the Linux UAPI headers (x86_64), not this table.
        let expect: &[(&str, i64)] = &[
            ("AF_INET", 2),
            ("AF_INET6", 10),
            ("AF_PACKET", 17),
            ("AF_UNSPEC", 0),
            ("SOCK_STREAM", 1),
            ("SOCK_NONBLOCK", 0o4000),
            ("IPPROTO_TCP", 6),
            ("IPPROTO_ICMPV6", 58),
            ("SHUT_RDWR", 2),
            ("SOL_SOCKET", 1),
            ("NULL", 0),
            ("SOL_TCP", 6),
            ("SOL_IPV6", 41),
            ("SOL_UDP", 17),
            ("SO_REUSEPORT", 15),
            ("SO_TIMESTAMP", 29),
            ("SO_TIMESTAMPING", 37),
            ("SO_MAX_PACING_RATE", 47),
            ("SO_ZEROCOPY", 60),
            ("SO_EE_ORIGIN_TIMESTAMPING", 4),
            ("SO_EE_ORIGIN_ZEROCOPY", 5),
            ("SO_EE_CODE_ZEROCOPY_COPIED", 1),
            ("SOF_TIMESTAMPING_TX_SOFTWARE", 1 << 1),
            ("SOF_TIMESTAMPING_OPT_ID", 1 << 7),
            ("SOF_TIMESTAMPING_OPT_STATS", 1 << 12),
            ("SOF_TIMESTAMPING_OPT_ID_TCP", 1 << 16),
            ("SCM_TIMESTAMPING", 37),
            ("SCM_TSTAMP_SND", 0),
            ("SCM_TSTAMP_SCHED", 1),
            ("SCM_TSTAMP_ACK", 2),
            ("SCM_TIMESTAMPING_OPT_STATS", 54),
            ("TCP_NODELAY", 1),
            ("TCP_MAXSEG", 2),
            ("TCP_CONGESTION", 13),
            ("TCP_FASTOPEN", 23),
            ("TCP_FASTOPEN_CONNECT", 30),
            ("TCP_INQ", 36),
            ("TCP_CM_INQ", 36),
            ("TCP_TX_DELAY", 37),
            ("TCP_NLA_BUSY", 1),
            ("TCP_NLA_CA_STATE", 14),
            ("TCP_NLA_REORD_SEEN", 21),
            ("TCP_NLA_SRTT", 22),
            ("TCP_CA_OPEN", 0),
            ("TCP_CA_DISORDER", 1),
            ("TCP_CA_CWR", 2),
            ("TCP_CA_RECOVERY", 3),
            ("TCP_CA_LOSS", 4),
            ("TCP_INFINITE_SSTHRESH", 0x7fff_ffff),
            ("IP_TOS", 1),
            ("IP_RECVERR", 11),
            ("IPV6_RECVERR", 25),
            ("IPV6_TCLASS", 67),
            ("O_NONBLOCK", 0o4000),
            ("F_SETFL", 4),
            ("F_GETLK64", 5),
            ("F_SETLK64", 6),
            ("F_SETLKW64", 7),
            ("F_SETSIG", 10),
            ("F_GETSIG", 11),
            ("F_DUPFD_CLOEXEC", 1030),
            ("F_EXLCK", 4),
            ("F_SHLCK", 8),
            ("LOCK_NB", 4),
            ("SEEK_END", 2),
            ("MSG_PEEK", 2),
            ("MSG_PROXY", 0x10),
            ("MSG_DONTWAIT", 0x40),
            ("MSG_ERRQUEUE", 0x2000),
            ("MSG_FASTOPEN", 0x2000_0000),
            ("MSG_ZEROCOPY", 0x400_0000),
            ("SIOCINQ", 0x541B),
            ("FIONREAD", 0x541B),
            ("POLLMSG", 0x400),
            ("POLLREMOVE", 0x1000),
            ("POLLRDHUP", 0x2000),
            ("EAGAIN", 11),
            ("EWOULDBLOCK", 11),
            ("EDEADLK", 35),
            ("EDEADLOCK", 35),
            ("EINPROGRESS", 115),
            ("ECONNREFUSED", 111),
            ("ERFKILL", 132),
            ("CAP_EFFECTIVE", 0),
            ("CAP_PERMITTED", 1),
            ("CAP_INHERITABLE", 2),
            ("CAP_CLEAR", 0),
            ("CAP_SET", 1),
            ("CAP_CHOWN", 0),
            ("CAP_NET_ADMIN", 12),
            ("CAP_NET_RAW", 13),
            ("CAP_BLOCK_SUSPEND", 36),
            ("EPOLLRDHUP", 0x2000),
            ("EPOLLEXCLUSIVE", 1 << 28),
            ("EPOLLONESHOT", 1 << 30),
            ("EPOLLET", 2_147_483_648),
            ("EPOLL_CTL_MOD", 3),
            ("SPLICE_F_GIFT", 8),
            ("IPPROTO_SCTP", 132),
            ("IPPROTO_UDPLITE", 136),
            ("IPPROTO_GRE", 47),
            ("TCP_MD5SIG_EXT", 32),
            ("TCP_ULP", 31),
            ("TCP_REPAIR", 19),
            ("TCP_WINDOW_CLAMP", 10),
            ("TCP_SAVE_SYN", 27),
            ("IPV6_V6ONLY", 26),
            ("SO_BUSY_POLL", 46),
            ("TCP_ZEROCOPY_RECEIVE", 35),
            ("IP_OPTIONS", 4),
        ];
        for &(name, value) in expect {
            assert_eq!(lookup(name), Some(value), "{name}");
        }
    }

    #[test]
    fn values_agree_with_libc() {
        assert_eq!(lookup("AF_INET6"), Some(libc::AF_INET6 as i64));
        assert_eq!(lookup("TCP_NODELAY"), Some(libc::TCP_NODELAY as i64));
        assert_eq!(lookup("EINPROGRESS"), Some(libc::EINPROGRESS as i64));
        assert_eq!(lookup("MSG_ZEROCOPY"), Some(libc::MSG_ZEROCOPY as i64));
        assert_eq!(lookup("POLLRDHUP"), Some(libc::POLLRDHUP as i64));
        // Literal values that mirror a libc constant of another name.
        assert_eq!(lookup("SIOCINQ"), Some(libc::FIONREAD as i64));
        assert_eq!(lookup("F_GETLK64"), Some(libc::F_GETLK as i64));
        assert_eq!(lookup("F_SETLK64"), Some(libc::F_SETLK as i64));
        assert_eq!(lookup("F_SETLKW64"), Some(libc::F_SETLKW as i64));
        assert_eq!(lookup("EPOLLET"), Some(libc::EPOLLET as u32 as i64));
    }

    #[test]
    fn no_negative_values() {
        for (name, value, _) in all() {
            assert!(value >= 0, "{name} = {value}");
        }
    }

    #[test]
    fn errno_names_round_trip() {
        for &(name, value) in LINUX_ERRNO {
            assert!(is_errno_name(name), "{name}");
            if ERRNO_ALIASES.contains(&name) {
                continue;
            }
            assert_eq!(errno_name(value), Some(name), "{name} = {value}");
        }
        assert_eq!(errno_name(11), Some("EAGAIN"));
        assert_eq!(errno_name(35), Some("EDEADLK"));
        assert_eq!(errno_name(111), Some("ECONNREFUSED"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(100_000), None);
        assert!(is_errno_name("EWOULDBLOCK"));
        assert!(!is_errno_name("TCP_NODELAY"));
        assert!(!is_errno_name("NO_SUCH"));
        // Aliases share the canonical number.
        assert_eq!(lookup("EWOULDBLOCK"), lookup("EAGAIN"));
        assert_eq!(lookup("EDEADLOCK"), lookup("EDEADLK"));
    }

    #[test]
    fn unknown_names() {
        assert_eq!(lookup("NO_SUCH"), None);
        assert_eq!(lookup(""), None);
        assert_eq!(lookup("tcp_nodelay"), None);
        assert_eq!(lookup("TCP_AO_ADD_KEY"), None);
    }
}
