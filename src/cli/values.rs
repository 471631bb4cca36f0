//! The typed values flags parse into (address family, addresses, code-block settings, CPU
//! pinning) and the parsers that check a flag's text. A parser returns the value or the reason
//! it is bad; the caller names the flag and the text (`bad --NAME: VALUE (reason)`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Why a flag's value is bad (the part in parentheses of `bad --NAME: VALUE (reason)`).
pub type Reason = String;

// ---------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------

/// Address family flavour of the test (`--ip_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// AF_INET sockets, IPv4 packets.
    Ipv4,
    /// AF_INET6 sockets using IPv4-mapped addresses, IPv4 packets.
    Ipv4MappedIpv6,
    /// AF_INET6 sockets, IPv6 packets.
    Ipv6,
}

impl IpVersion {
    /// Parse the option value (`ipv4`, `ipv4-mapped-ipv6` — also nplab's `ipv4_mapped_ipv6` —
    /// or `ipv6`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ipv4" => Some(Self::Ipv4),
            "ipv4-mapped-ipv6" | "ipv4_mapped_ipv6" => Some(Self::Ipv4MappedIpv6),
            "ipv6" => Some(Self::Ipv6),
            _ => None,
        }
    }

    /// Canonical (upstream) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipv4 => "ipv4",
            Self::Ipv4MappedIpv6 => "ipv4-mapped-ipv6",
            Self::Ipv6 => "ipv6",
        }
    }
}

impl fmt::Display for IpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An address with an optional prefix length, as accepted by `--remote_ip` (`addr[/prefix]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpPrefix {
    pub addr: IpAddr,
    /// `None` when no `/prefix` was written.
    pub prefix_len: Option<u8>,
}

impl fmt::Display for IpPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix_len {
            Some(len) => write!(f, "{}/{}", self.addr, len),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// Language of `%{ }%` code blocks (`--code_format`); only python exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CodeFormat {
    #[default]
    Python,
}

impl CodeFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python => "python",
        }
    }
}

/// Socket information handed to code blocks (`--code_sockopt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeSockopt {
    TcpInfo,
    TcpCcInfo,
    SoMeminfo,
}

impl CodeSockopt {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "TCP_INFO" => Some(Self::TcpInfo),
            "TCP_CC_INFO" => Some(Self::TcpCcInfo),
            "SO_MEMINFO" => Some(Self::SoMeminfo),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TcpInfo => "TCP_INFO",
            Self::TcpCcInfo => "TCP_CC_INFO",
            Self::SoMeminfo => "SO_MEMINFO",
        }
    }
}

/// nplab `--udp_encapsulation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UdpEncapsulation {
    Sctp,
    Tcp,
}

impl UdpEncapsulation {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sctp" => Some(Self::Sctp),
            "tcp" => Some(Self::Tcp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sctp => "sctp",
            Self::Tcp => "tcp",
        }
    }
}

/// Where a run's threads (injection, sniffing, system calls) run; why one CPU is the default
/// for kernel runs is in `crate::sched::cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuPin {
    /// `--pin_cpu=start`: a kernel run stays on the CPU it starts on (a userspace stack, on its
    /// virtual clock, is left alone).
    StartingCpu,
    /// `--pin_cpu=N`: every run on CPU N.
    Cpu(usize),
    /// `--pin_cpu=none` (default): the scheduler decides, as for upstream's threads.
    Off,
}

/// Where a run's packets travel (`--netdev`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetdevKind {
    /// A tun device in the run's namespace (packetdrill's wire).
    Tun,
    /// A DPDK port: by default a net_tap virtual device named tun0 in the run's namespace.
    Dpdk,
    /// A veth pair in the run's namespace, its stack end named tun0, stackdrill's end read and
    /// written through AF_PACKET.
    Veth,
    /// The same veth pair, stackdrill's end an AF_XDP socket.
    AfXdp,
}

impl NetdevKind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "tun" => Some(Self::Tun),
            "dpdk" => Some(Self::Dpdk),
            "veth" => Some(Self::Veth),
            "af_xdp" => Some(Self::AfXdp),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------
// Parsers
// ---------------------------------------------------------------------------

/// Strict unsigned decimal (no sign, no hex, no trailing junk).
pub fn decimal(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// A decimal from `min` to `max`.
pub fn u32_in(value: &str, min: u32, max: u32) -> Result<u32, Reason> {
    match decimal(value) {
        Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(n as u32),
        _ if max == u32::MAX => Err(format!("expected an integer >= {min}")),
        _ => Err(format!("expected an integer {min}-{max}")),
    }
}

/// A port from `min` to 65535.
pub fn port(value: &str, min: u16) -> Result<u16, Reason> {
    match decimal(value) {
        Some(n) if n >= u64::from(min) && n <= u64::from(u16::MAX) => Ok(n as u16),
        _ => Err(format!("port must be an integer {min}-65535")),
    }
}

/// A number from 0 to 100, fractions allowed.
pub fn percent(value: &str) -> Result<f64, Reason> {
    value
        .parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
        .ok_or_else(|| "expected a number 0-100".to_string())
}

/// An IPv4 or IPv6 address.
pub fn ip(value: &str) -> Result<IpAddr, Reason> {
    value
        .parse::<IpAddr>()
        .map_err(|_| "not an IPv4 or IPv6 address".to_string())
}

/// `addr[/prefix]`.
pub fn ip_prefix(value: &str) -> Result<IpPrefix, Reason> {
    let (addr_text, prefix_text) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr = ip(addr_text)
        .map_err(|_| "not an IPv4 or IPv6 address with optional /prefix".to_string())?;
    let prefix_len = match prefix_text {
        None => None,
        Some(p) => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            match decimal(p) {
                Some(n) if n <= max => Some(n as u8),
                _ => return Err(format!("prefix length must be 0-{max}")),
            }
        }
    };
    Ok(IpPrefix { addr, prefix_len })
}

/// A dotted IPv4 netmask with contiguous bits.
pub fn netmask(value: &str) -> Result<Ipv4Addr, Reason> {
    let mask: Ipv4Addr = value
        .parse()
        .map_err(|_| "not a dotted IPv4 netmask".to_string())?;
    let inverted = !u32::from(mask);
    if inverted & inverted.wrapping_add(1) != 0 {
        return Err("netmask bits are not contiguous".to_string());
    }
    Ok(mask)
}

/// Letters, digits and `_`, at least one.
pub fn is_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A host name or an IP address, resolved later.
pub fn host(value: &str) -> Result<String, Reason> {
    let is_host_name = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if value.parse::<IpAddr>().is_ok() || is_host_name {
        Ok(value.to_string())
    } else {
        Err("not a host name or IP address".to_string())
    }
}

/// A network interface name.
pub fn interface(value: &str) -> Result<String, Reason> {
    // IFNAMSIZ is 16 including the NUL on Linux and the BSDs.
    let ok = !value.is_empty()
        && value.len() <= 15
        && !value
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err("not a network interface name".to_string())
    }
}

/// Any text but the empty one; `what` names it in the reason.
pub fn non_empty(value: &str, what: &str) -> Result<String, Reason> {
    if value.is_empty() {
        Err(format!("{what} must not be empty"))
    } else {
        Ok(value.to_string())
    }
}

/// A file to write, named by any text but the empty one.
pub fn file_name(value: &str) -> Result<PathBuf, Reason> {
    match value {
        "" => Err("expected a file name".to_string()),
        _ => Ok(PathBuf::from(value)),
    }
}

/// Make user text printable on one line (control characters escaped).
pub fn one_line(text: &str) -> String {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        text.to_string()
    }
}
