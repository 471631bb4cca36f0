//! Every packetdrill flag: command line and script option lines, defaults, validation; one place.
//!
//! The option table ([`options`]) is the single source of truth for names, whether an
//! option takes a value, the help text and the default. [`Config::apply`] turns one
//! [`OptionSetting`] into typed configuration (validating it), and is used both for
//! script option lines (`--name[=value]`, exact names only) and for the command line.
//! [`parse_command_line`] only *collects* settings (in order) and script paths; the caller
//! applies script settings first and then the command-line settings to the same
//! [`Config`], so the command line wins, exactly as packetdrill does.
//!
//! # Why a hand-written command-line parser and not clap
//!
//! packetdrill parses its command line with GNU `getopt_long`, and we need the same
//! behaviour. clap 4 (even with `infer_long_args`, `allow_hyphen_values`) cannot express it
//! exactly:
//! - an ambiguous prefix (`--tol`) must be reported *naming the candidates*; clap's
//!   `infer_long_args` silently falls back to a generic "unexpected argument" error;
//! - the *relative order* of every occurrence of every option must be kept (the last
//!   `--ip_version`, and the interleaving with `--define`s, matters); clap only offers
//!   per-argument index lists that would have to be merged back together;
//! - the diagnostics must be packetdrill's one-line texts (`option 'X' forbids an
//!   argument`, …), whereas clap renders multi-line errors with usage;
//! - the very same table must also validate script option lines, where prefixes are not
//!   allowed, so the table has to exist independently of clap anyway.
//!
//! The getopt_long subset implemented here is small: long options with `=value` or a
//! separate value (the next argument is taken verbatim, even if it starts with `-`),
//! unambiguous prefixes, argument permutation (options may follow script paths), `--`
//! ends the options, short options `-v`, `-h` and `-D VAL`/`-DVAL` (groupable: `-vv`,
//! `-vDX=1`), a lone `-` is a path.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

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

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// Default `--bind_port` / `--connect_port`.
pub const DEFAULT_PORT: u16 = 8080;
/// Default `--wire_server_port`.
pub const DEFAULT_WIRE_SERVER_PORT: u16 = 8081;
/// Default `--mtu` (the tun driver's default; only a different value is applied).
pub const DEFAULT_MTU: u32 = 1500;
/// Default `--tolerance_usecs`.
pub const DEFAULT_TOLERANCE_USECS: u32 = 4000;
/// Default `--tolerance_percent`.
pub const DEFAULT_TOLERANCE_PERCENT: f64 = 12.5;
/// Default `--netmask_ip`.
pub const DEFAULT_NETMASK: Ipv4Addr = Ipv4Addr::new(255, 255, 0, 0);
/// Default `--code_command`.
pub const DEFAULT_CODE_COMMAND: &str = "python3";
/// Largest `--tcp_ts_tick_usecs`.
pub const MAX_TCP_TS_TICK_USECS: u32 = 1_000_000;
/// Longest TCP MD5 key (Linux/BSD `TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_TCP_MD5_SECRET_LEN: usize = 80;

/// One field per packetdrill option. Address defaults that depend on the address family
/// (remote/local/gateway) are `None` here and filled in when the run is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--ip_version`; `None` = auto (IPv6 if the host's primary address is IPv6).
    pub ip_version: Option<IpVersion>,
    /// `--bind_port` (8080).
    pub bind_port: u16,
    /// `--connect_port` (8080).
    pub connect_port: u16,
    /// `--remote_ip` `addr[/prefix]`; `None` = v4 `192.0.2.1/24`, v6 `2001:DB8::1/32`.
    pub remote_ip: Option<IpPrefix>,
    /// `--local_ip`; `None` = random address in the family's local range.
    pub local_ip: Option<IpAddr>,
    /// `--gateway_ip`; `None` = v4 `192.168.0.1`, v6 `fd3d:fa7b:d17d:8888::0`.
    pub gateway_ip: Option<IpAddr>,
    /// `--netmask_ip` (255.255.0.0), IPv4 only.
    pub netmask_ip: Ipv4Addr,
    /// `--speed` in Mbps; 0 = leave the link speed alone.
    pub speed: u32,
    /// `--mss`; 0 = no GSO injection.
    pub mss: u32,
    /// `--mtu` (1500).
    pub mtu: u32,
    /// `--init_scripts`, split at commas (empty pieces dropped).
    pub init_scripts: Vec<String>,
    /// `--tolerance_usecs` (4000).
    pub tolerance_usecs: u32,
    /// `--tolerance_percent` (12.5).
    pub tolerance_percent: f64,
    /// `--tcp_ts_ecr_scaled`.
    pub tcp_ts_ecr_scaled: bool,
    /// `--tcp_ts_tick_usecs`; 0 = don't check outbound TS val.
    pub tcp_ts_tick_usecs: u32,
    /// `--strict_segments`.
    pub strict_segments: bool,
    /// `--non_fatal=packet`.
    pub non_fatal_packet: bool,
    /// `--non_fatal=syscall`.
    pub non_fatal_syscall: bool,
    /// `--wire_client` (also set by `--wire_server_ip` / `--wire_server_at`).
    pub wire_client: bool,
    /// `--wire_server`.
    pub wire_server: bool,
    /// `--wire_server_ip` / `--wire_server_at`: host name or address, resolved at run time.
    pub wire_server_ip: Option<String>,
    /// `--wire_server_port` (8081).
    pub wire_server_port: u16,
    /// `--wire_client_dev`; `None` = primary NIC.
    pub wire_client_dev: Option<String>,
    /// `--wire_server_dev`; `None` = primary NIC.
    pub wire_server_dev: Option<String>,
    /// `--so_filename`.
    pub so_filename: Option<PathBuf>,
    /// `--userspace_stack`: the stack under test is the `--so_filename` library (which that
    /// flag implies already); without it the flag is an error.
    pub userspace_stack: bool,
    /// `--so_flags`.
    pub so_flags: Option<String>,
    /// `--dry_run`.
    pub dry_run: bool,
    /// `--is_anyip`.
    pub is_anyip: bool,
    /// `--send_omit_free`.
    pub send_omit_free: bool,
    /// `--psp_udp_port`; 0 = PSP off.
    pub psp_udp_port: u16,
    /// `--http_port`: where the introspection server listens (127.0.0.1, in the run's
    /// namespace); `--no_http` turns it off (None).
    pub http_port: Option<u16>,
    /// `--code_command` (`python3`).
    pub code_command: String,
    /// `--code_format` (python).
    pub code_format: CodeFormat,
    /// `--code_sockopt`; `None` = auto.
    pub code_sockopt: Option<CodeSockopt>,
    /// Number of `--debug` flags.
    pub debug: u32,
    /// Number of `--verbose` / `-v` flags.
    pub verbose: u32,
    /// `--define` / `-D`, in order given (last definition of a name wins; see
    /// [`Config::define_map`]).
    pub defines: Vec<(String, String)>,
    /// (nplab) `--local_linklocal_ip`.
    pub local_linklocal_ip: Option<IpAddr>,
    /// (nplab) `--gateway_linklocal_ip`.
    pub gateway_linklocal_ip: Option<IpAddr>,
    /// (nplab) `--tcp_md5_secret`.
    pub tcp_md5_secret: Option<String>,
    /// (nplab) `--udp_encapsulation`.
    pub udp_encapsulation: Option<UdpEncapsulation>,
    /// (nplab) `--tun_dev`; `None` = `tun0`.
    pub tun_dev: Option<String>,
    /// (nplab) `--persistent_tun_dev`.
    pub persistent_tun_dev: bool,
    /// (nplab) `--no_cleanup`.
    pub no_cleanup: bool,
    /// (stackdrill) `--pcap`: where to write the run's packets.
    pub pcap_file: Option<PathBuf>,
    /// (stackdrill) `--pin_cpu`: which CPU a run's threads share.
    pub pin_cpu: CpuPin,
}

/// Where a run's threads (injection, sniffing, system calls) run; why one CPU is the default
/// for kernel runs is in `crate::sut::kernel::cpu`.
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

impl Default for Config {
    fn default() -> Self {
        Self {
            ip_version: None,
            bind_port: DEFAULT_PORT,
            connect_port: DEFAULT_PORT,
            remote_ip: None,
            local_ip: None,
            gateway_ip: None,
            netmask_ip: DEFAULT_NETMASK,
            speed: 0,
            mss: 0,
            mtu: DEFAULT_MTU,
            init_scripts: Vec::new(),
            tolerance_usecs: DEFAULT_TOLERANCE_USECS,
            tolerance_percent: DEFAULT_TOLERANCE_PERCENT,
            tcp_ts_ecr_scaled: false,
            tcp_ts_tick_usecs: 0,
            strict_segments: false,
            non_fatal_packet: false,
            non_fatal_syscall: false,
            wire_client: false,
            wire_server: false,
            wire_server_ip: None,
            wire_server_port: DEFAULT_WIRE_SERVER_PORT,
            wire_client_dev: None,
            wire_server_dev: None,
            so_filename: None,
            userspace_stack: false,
            so_flags: None,
            dry_run: false,
            is_anyip: false,
            send_omit_free: false,
            psp_udp_port: 0,
            http_port: Some(crate::introspect::DEFAULT_HTTP_PORT),
            code_command: DEFAULT_CODE_COMMAND.to_string(),
            code_format: CodeFormat::Python,
            code_sockopt: None,
            debug: 0,
            verbose: 0,
            defines: Vec::new(),
            local_linklocal_ip: None,
            gateway_linklocal_ip: None,
            tcp_md5_secret: None,
            udp_encapsulation: None,
            tun_dev: None,
            persistent_tun_dev: false,
            no_cleanup: false,
            pcap_file: None,
            pin_cpu: CpuPin::Off,
        }
    }
}

// ---------------------------------------------------------------------------
// Option table
// ---------------------------------------------------------------------------

/// Static description of one packetdrill option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// Long name without dashes.
    pub name: &'static str,
    /// Short letter, if any (`v`, `D`).
    pub short: Option<char>,
    /// Placeholder for the value; `None` for flag-only options (which forbid a value).
    pub value_name: Option<&'static str>,
    /// Default, as shown by `--help`.
    pub default: &'static str,
    /// One-line meaning.
    pub help: &'static str,
    /// Only in the nplab fork (accepted for compatibility).
    pub nplab: bool,
    /// The value may be left out (`--name` or `--name=VALUE`, never `--name VALUE`).
    pub value_optional: bool,
}

impl OptionSpec {
    /// Whether the option requires a value.
    pub fn takes_value(&self) -> bool {
        self.value_name.is_some()
    }
}

const fn opt(
    name: &'static str,
    value_name: Option<&'static str>,
    default: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: None,
        value_name,
        default,
        help,
        nplab: false,
        value_optional: false,
    }
}

const fn nplab(
    name: &'static str,
    value_name: Option<&'static str>,
    default: &'static str,
    help: &'static str,
) -> OptionSpec {
    OptionSpec {
        name,
        short: None,
        value_name,
        default,
        help,
        nplab: true,
        value_optional: false,
    }
}

const fn short(mut spec: OptionSpec, letter: char) -> OptionSpec {
    spec.short = Some(letter);
    spec
}

const fn value_optional(mut spec: OptionSpec) -> OptionSpec {
    spec.value_optional = true;
    spec
}

const OPTIONS: &[OptionSpec] = &[
    opt(
        "ip_version",
        Some("ipv4|ipv4-mapped-ipv6|ipv6"),
        "auto (IPv6 if the host's primary address is IPv6, else IPv4)",
        "address family of sockets and wire packets",
    ),
    opt(
        "bind_port",
        Some("PORT"),
        "8080",
        "local port for bind() and passive connections (1-65535)",
    ),
    opt(
        "code_command",
        Some("COMMAND"),
        "python3",
        "interpreter for %{ }% code blocks",
    ),
    opt(
        "code_format",
        Some("python"),
        "python",
        "language of code blocks (only python)",
    ),
    opt(
        "code_sockopt",
        Some("TCP_INFO|TCP_CC_INFO|SO_MEMINFO"),
        "auto",
        "socket information collected for code blocks",
    ),
    opt(
        "connect_port",
        Some("PORT"),
        "8080",
        "remote port for connect()/sendto()/sendmsg() (1-65535)",
    ),
    opt(
        "remote_ip",
        Some("ADDR[/PREFIX]"),
        "v4 192.0.2.1/24, v6 2001:DB8::1/32",
        "peer address of test traffic; the prefix is routed into the tun device",
    ),
    opt(
        "local_ip",
        Some("ADDR"),
        "v4 random in 192.168.0.0/16, v6 fd3d:fa7b:d17d::<random>",
        "address assigned to the tun device and used by bind()",
    ),
    opt(
        "gateway_ip",
        Some("ADDR"),
        "v4 192.168.0.1, v6 fd3d:fa7b:d17d:8888::0",
        "next hop of the route to the remote prefix",
    ),
    opt(
        "netmask_ip",
        Some("MASK"),
        "255.255.0.0",
        "IPv4 netmask of the tun device (dotted)",
    ),
    opt(
        "speed",
        Some("MBPS"),
        "0 (leave unchanged)",
        "set the tun device's link speed in Mbps",
    ),
    opt(
        "mss",
        Some("BYTES"),
        "0 (off)",
        "inject inbound TCP packets as GSO with this segment size (>0)",
    ),
    opt("mtu", Some("BYTES"), "1500", "MTU of the tun device"),
    opt(
        "init_scripts",
        Some("CMD[,CMD...]"),
        "none",
        "comma-separated shell commands run before each script",
    ),
    opt(
        "tolerance_usecs",
        Some("USECS"),
        "4000",
        "absolute timing tolerance in microseconds (>0)",
    ),
    opt(
        "tolerance_percent",
        Some("PERCENT"),
        "12.5",
        "relative timing tolerance, % of the gap since the previous event (0-100)",
    ),
    opt(
        "wire_client",
        None,
        "off",
        "remote mode: this side runs the syscalls",
    ),
    opt(
        "wire_server",
        None,
        "off",
        "remote mode: run as the packet server daemon",
    ),
    opt(
        "wire_server_ip",
        Some("HOST"),
        "none",
        "wire server to contact (implies --wire_client)",
    ),
    opt(
        "wire_server_at",
        Some("HOST"),
        "none",
        "same as --wire_server_ip",
    ),
    opt(
        "wire_server_port",
        Some("PORT"),
        "8081",
        "TCP control port of the wire server (1-65535)",
    ),
    opt(
        "wire_client_dev",
        Some("IFACE"),
        "primary NIC",
        "NIC used for test traffic on the wire client",
    ),
    opt(
        "wire_server_dev",
        Some("IFACE"),
        "primary NIC",
        "NIC used for test traffic on the wire server",
    ),
    opt(
        "so_filename",
        Some("PATH"),
        "none (test the kernel)",
        "shared object implementing the stack under test",
    ),
    opt(
        "http_port",
        Some("PORT"),
        "8899",
        "serve /netstat, /ss, /tcpinfo, /pollinghang on 127.0.0.1:PORT in the run's namespace",
    ),
    opt(
        "no_http",
        None,
        "off",
        "do not serve introspection over HTTP",
    ),
    opt(
        "userspace_stack",
        None,
        "off",
        "test the userspace stack of --so_filename (which implies it)",
    ),
    opt(
        "so_flags",
        Some("STRING"),
        "none",
        "opaque string passed to the shared object's init",
    ),
    opt(
        "tcp_ts_ecr_scaled",
        None,
        "off",
        "allow inbound TS ecr values never sent, by offset from the first TS pair",
    ),
    opt(
        "tcp_ts_tick_usecs",
        Some("USECS"),
        "0 (don't check)",
        "microseconds per TCP TS val tick; enables outbound TS val checks (0-1000000)",
    ),
    opt(
        "strict_segments",
        None,
        "off",
        "one live packet per script packet (no TSO/GSO aggregation)",
    ),
    opt(
        "non_fatal",
        Some("packet,syscall"),
        "none",
        "comma/space list of error kinds that become warnings",
    ),
    opt(
        "dry_run",
        None,
        "off",
        "parse the script(s) only; do not run",
    ),
    opt(
        "is_anyip",
        None,
        "off",
        "do not assign the local IP to the tun device (AnyIP tests)",
    ),
    opt(
        "send_omit_free",
        None,
        "off",
        "never free send/sendto/sendmsg buffers (for MSG_ZEROCOPY)",
    ),
    opt(
        "psp_udp_port",
        Some("PORT"),
        "0 (off)",
        "enable PSP encapsulation on this UDP port (wire mode only)",
    ),
    opt("debug", None, "off", "debug logging (repeatable)"),
    short(
        opt(
            "define",
            Some("SYM=VAL"),
            "none",
            "replace the word SYM by VAL when lexing scripts; last definition wins",
        ),
        'D',
    ),
    short(
        opt(
            "verbose",
            None,
            "off",
            "print every injected/sniffed packet and syscall completion (repeatable)",
        ),
        'v',
    ),
    opt(
        "pcap",
        Some("FILE"),
        "none",
        "(stackdrill) write every injected and sniffed packet of the run to FILE (pcap)",
    ),
    opt(
        "pin_cpu",
        Some("CPU|start|none"),
        "none",
        "(stackdrill) run all of a kernel run's threads on one CPU (start: the one it starts on)",
    ),
    nplab(
        "local_linklocal_ip",
        Some("ADDR"),
        "none",
        "(nplab) link-local address of the local side",
    ),
    nplab(
        "gateway_linklocal_ip",
        Some("ADDR"),
        "none",
        "(nplab) link-local address of the gateway",
    ),
    nplab(
        "tcp_md5_secret",
        Some("SECRET"),
        "none",
        "(nplab) TCP MD5 signature key",
    ),
    nplab(
        "udp_encapsulation",
        Some("sctp|tcp"),
        "none",
        "(nplab) UDP-encapsulate SCTP or TCP packets",
    ),
    nplab(
        "tun_dev",
        Some("NAME"),
        "tun0",
        "(nplab) name of the tun device",
    ),
    nplab(
        "persistent_tun_dev",
        None,
        "off",
        "(nplab) use an existing tun device and keep it",
    ),
    nplab(
        "no_cleanup",
        None,
        "off",
        "(nplab) skip the final RST/ABORT injection",
    ),
];

/// Options of stackdrill's suite mode (directories, many scripts, reports): command line only,
/// never valid in scripts. Validated and applied by `crate::suite::options`.
const SUITE_OPTIONS: &[OptionSpec] = &[
    opt(
        "jobs",
        Some("N"),
        "6 per CPU core",
        "scripts run at once, each in its own process and namespaces (1 = one after another)",
    ),
    opt(
        "timeout_secs",
        Some("SECS"),
        "180",
        "a run still going after SECS seconds is killed and counted as timed out",
    ),
    opt(
        "variants",
        Some("LIST|all|ksft"),
        "none (each script once, as the flags say)",
        "comma list of ipv4,ipv4-mapped-ipv6,ipv6 run as run_all.py does (all = the three); \
         ksft = families from the script's --ip_version lines, else ipv4 and ipv6",
    ),
    opt(
        "compare",
        Some("LIST"),
        "none (one target, as the flags say)",
        "run every script on each target of LIST and print a matrix of verdicts; LIST is a \
         comma list of kernel, so:PATH or so:PATH:FLAGS (FLAGS = the library's --so_flags, \
         which may hold spaces but no commas; PATH no colons)",
    ),
    opt(
        "timing_retries",
        Some("N"),
        "1",
        "rerun, alone, a run that failed by a near miss in timing (<= 10 ms past tolerance)",
    ),
    opt("junit", Some("FILE"), "none", "write a JUnit XML report"),
    value_optional(opt(
        "tap",
        Some("FILE"),
        "none",
        "write a TAP 13 report (to stdout without =FILE)",
    )),
    value_optional(opt(
        "ktap",
        Some("FILE"),
        "none",
        "write a KTAP report (to stdout without =FILE)",
    )),
    opt("json", Some("FILE"), "none", "write a JSON report"),
    opt(
        "html",
        Some("FILE"),
        "none",
        "write a self-contained HTML report with each failure's diff and timeline",
    ),
    opt(
        "pcap_dir",
        Some("DIR"),
        "none",
        "write one pcap per script and variant into DIR",
    ),
];

/// Every suite-mode option, in `--help` order.
pub fn suite_options() -> &'static [OptionSpec] {
    SUITE_OPTIONS
}

/// Every packetdrill option (upstream and nplab), in `--help` order.
pub fn options() -> &'static [OptionSpec] {
    OPTIONS
}

/// Look up an option by its exact long name (no dashes, no abbreviation), as script option
/// lines require.
pub fn lookup_option(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|spec| spec.name == name)
}

// ---------------------------------------------------------------------------
// Settings and errors
// ---------------------------------------------------------------------------

/// One option as written: name without dashes, optional value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OptionSetting {
    pub name: String,
    pub value: Option<String>,
}

impl OptionSetting {
    pub fn new(name: impl Into<String>, value: Option<impl Into<String>>) -> Self {
        Self {
            name: name.into(),
            value: value.map(Into::into),
        }
    }

    /// A setting without a value (`--name`).
    pub fn flag(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// A setting with a value (`--name=value`).
    pub fn with_value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }
}

impl fmt::Display for OptionSetting {
    /// As it would be written: `--name` or `--name=value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "--{}={}", self.name, value),
            None => write!(f, "--{}", self.name),
        }
    }
}

/// A configuration problem. Every `Display` text is one line without trailing newline and
/// without location; the caller prefixes `FILE:LINE:COL: error: ` or `stackdrill: error: `.
/// Option names appear as written by the user minus the leading dashes (for short options:
/// the letter), except in `forbids`/`requires`, which name the full option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No such option.
    #[error("option '{}' unknown", one_line(.name))]
    Unknown { name: String },
    /// Command line only: a prefix matching several long options.
    #[error(
        "option '{}' is ambiguous; possibilities:{}",
        one_line(.name),
        .candidates.iter().map(|c| format!(" '{c}'")).collect::<String>()
    )]
    Ambiguous {
        name: String,
        candidates: Vec<String>,
    },
    /// A flag-only option was given a value.
    #[error("option '{name}' forbids an argument")]
    ForbidsArgument { name: String },
    /// An option needing a value was given none.
    #[error("option '{name}' requires an argument")]
    RequiresArgument { name: String },
    /// The value failed validation: `bad --NAME: VALUE[ (reason)]`.
    #[error(
        "bad --{name}: {}{}",
        one_line(.value),
        .reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    BadValue {
        name: String,
        value: String,
        reason: Option<String>,
    },
    /// A command-line option or value that is not valid UTF-8 (shown lossily).
    #[error("argument is not valid UTF-8: '{}'", one_line(.arg))]
    NotUnicode { arg: String },
}

/// Make user text printable on one line (control characters escaped).
fn one_line(text: &str) -> String {
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

fn bad(name: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::BadValue {
        name: name.to_string(),
        value: value.to_string(),
        reason: Some(reason.to_string()),
    }
}

// ---------------------------------------------------------------------------
// Value parsers
// ---------------------------------------------------------------------------

/// Strict unsigned decimal (no sign, no hex, no trailing junk).
fn parse_decimal(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_u32_in(name: &str, value: &str, min: u32, max: u32) -> Result<u32, ConfigError> {
    let reason = if max == u32::MAX {
        format!("expected an integer >= {min}")
    } else {
        format!("expected an integer {min}-{max}")
    };
    match parse_decimal(value) {
        Some(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(n as u32),
        _ => Err(bad(name, value, &reason)),
    }
}

fn parse_port(name: &str, value: &str, min: u16) -> Result<u16, ConfigError> {
    match parse_decimal(value) {
        Some(n) if n >= u64::from(min) && n <= u64::from(u16::MAX) => Ok(n as u16),
        _ => Err(bad(
            name,
            value,
            &format!("port must be an integer {min}-65535"),
        )),
    }
}

fn parse_ip(name: &str, value: &str) -> Result<IpAddr, ConfigError> {
    value
        .parse::<IpAddr>()
        .map_err(|_| bad(name, value, "not an IPv4 or IPv6 address"))
}

fn parse_ip_prefix(name: &str, value: &str) -> Result<IpPrefix, ConfigError> {
    let (addr_text, prefix_text) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr = parse_ip(name, addr_text).map_err(|_| {
        bad(
            name,
            value,
            "not an IPv4 or IPv6 address with optional /prefix",
        )
    })?;
    let prefix_len = match prefix_text {
        None => None,
        Some(p) => {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            match parse_decimal(p) {
                Some(n) if n <= max => Some(n as u8),
                _ => return Err(bad(name, value, &format!("prefix length must be 0-{max}"))),
            }
        }
    };
    Ok(IpPrefix { addr, prefix_len })
}

fn parse_netmask(name: &str, value: &str) -> Result<Ipv4Addr, ConfigError> {
    let mask: Ipv4Addr = value
        .parse()
        .map_err(|_| bad(name, value, "not a dotted IPv4 netmask"))?;
    let inverted = !u32::from(mask);
    if inverted & inverted.wrapping_add(1) != 0 {
        return Err(bad(name, value, "netmask bits are not contiguous"));
    }
    Ok(mask)
}

fn is_word(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_host(name: &str, value: &str) -> Result<String, ConfigError> {
    let is_host_name = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if value.parse::<IpAddr>().is_ok() || is_host_name {
        Ok(value.to_string())
    } else {
        Err(bad(name, value, "not a host name or IP address"))
    }
}

fn parse_interface(name: &str, value: &str) -> Result<String, ConfigError> {
    // IFNAMSIZ is 16 including the NUL on Linux and the BSDs.
    let ok = !value.is_empty()
        && value.len() <= 15
        && !value
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err(bad(name, value, "not a network interface name"))
    }
}

fn parse_non_empty(name: &str, value: &str, what: &str) -> Result<String, ConfigError> {
    if value.is_empty() {
        Err(bad(name, value, &format!("{what} must not be empty")))
    } else {
        Ok(value.to_string())
    }
}

// ---------------------------------------------------------------------------
// Applying settings
// ---------------------------------------------------------------------------

impl Config {
    /// Apply one option (same names as the long flags, without "--"). Used for script option
    /// lines (exact names only, no prefix abbreviation) and for the command line.
    ///
    /// Checks, in this order: the name is known, a flag-only option has no value, an option
    /// needing a value has one, the value is valid. On error `self` is unchanged.
    pub fn apply(&mut self, setting: &OptionSetting) -> Result<(), ConfigError> {
        let name = setting.name.as_str();
        let spec = lookup_option(name).ok_or_else(|| ConfigError::Unknown {
            name: name.to_string(),
        })?;
        let value = match (&setting.value, spec.takes_value()) {
            (Some(_), false) => {
                return Err(ConfigError::ForbidsArgument {
                    name: name.to_string(),
                })
            }
            (None, true) => {
                return Err(ConfigError::RequiresArgument {
                    name: name.to_string(),
                })
            }
            (Some(value), true) => value.as_str(),
            (None, false) => "",
        };

        match name {
            // ---- flags ----
            "wire_client" => self.wire_client = true,
            "wire_server" => self.wire_server = true,
            "tcp_ts_ecr_scaled" => self.tcp_ts_ecr_scaled = true,
            "strict_segments" => self.strict_segments = true,
            "dry_run" => self.dry_run = true,
            "is_anyip" => self.is_anyip = true,
            "send_omit_free" => self.send_omit_free = true,
            "userspace_stack" => self.userspace_stack = true,
            "no_http" => self.http_port = None,
            "debug" => self.debug = self.debug.saturating_add(1),
            "verbose" => self.verbose = self.verbose.saturating_add(1),
            "persistent_tun_dev" => self.persistent_tun_dev = true,
            "no_cleanup" => self.no_cleanup = true,

            // ---- valued options ----
            "ip_version" => {
                self.ip_version =
                    Some(IpVersion::from_name(value).ok_or_else(|| {
                        bad(name, value, "expected ipv4, ipv4-mapped-ipv6 or ipv6")
                    })?)
            }
            "bind_port" => self.bind_port = parse_port(name, value, 1)?,
            "connect_port" => self.connect_port = parse_port(name, value, 1)?,
            "wire_server_port" => self.wire_server_port = parse_port(name, value, 1)?,
            "psp_udp_port" => self.psp_udp_port = parse_port(name, value, 0)?,
            "http_port" => self.http_port = Some(parse_port(name, value, 1)?),
            "code_command" => self.code_command = parse_non_empty(name, value, "command")?,
            "code_format" => {
                self.code_format = match value {
                    "python" => CodeFormat::Python,
                    _ => return Err(bad(name, value, "only python is supported")),
                }
            }
            "code_sockopt" => {
                self.code_sockopt = Some(CodeSockopt::from_name(value).ok_or_else(|| {
                    bad(name, value, "expected TCP_INFO, TCP_CC_INFO or SO_MEMINFO")
                })?)
            }
            "remote_ip" => self.remote_ip = Some(parse_ip_prefix(name, value)?),
            "local_ip" => self.local_ip = Some(parse_ip(name, value)?),
            "gateway_ip" => self.gateway_ip = Some(parse_ip(name, value)?),
            "netmask_ip" => self.netmask_ip = parse_netmask(name, value)?,
            "speed" => self.speed = parse_u32_in(name, value, 0, u32::MAX)?,
            "mss" => self.mss = parse_u32_in(name, value, 1, u32::MAX)?,
            "mtu" => self.mtu = parse_u32_in(name, value, 0, u32::MAX)?,
            "init_scripts" => {
                self.init_scripts = value
                    .split(',')
                    .filter(|piece| !piece.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "tolerance_usecs" => self.tolerance_usecs = parse_u32_in(name, value, 1, u32::MAX)?,
            "tolerance_percent" => {
                let percent = value
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
                    .ok_or_else(|| bad(name, value, "expected a number 0-100"))?;
                self.tolerance_percent = percent;
            }
            "tcp_ts_tick_usecs" => {
                self.tcp_ts_tick_usecs = parse_u32_in(name, value, 0, MAX_TCP_TS_TICK_USECS)?
            }
            "non_fatal" => {
                let (mut packet, mut syscall) = (false, false);
                for token in value.split([',', ' ']).filter(|t| !t.is_empty()) {
                    match token {
                        "packet" => packet = true,
                        "syscall" => syscall = true,
                        _ => {
                            return Err(bad(
                                name,
                                value,
                                &format!(
                                    "unknown kind '{}'; expected packet or syscall",
                                    one_line(token)
                                ),
                            ))
                        }
                    }
                }
                // Like upstream, kinds accumulate over several --non_fatal options.
                self.non_fatal_packet |= packet;
                self.non_fatal_syscall |= syscall;
            }
            "wire_server_ip" | "wire_server_at" => {
                self.wire_server_ip = Some(parse_host(name, value)?);
                self.wire_client = true;
            }
            "wire_client_dev" => self.wire_client_dev = Some(parse_interface(name, value)?),
            "wire_server_dev" => self.wire_server_dev = Some(parse_interface(name, value)?),
            "so_filename" => {
                self.so_filename = Some(PathBuf::from(parse_non_empty(name, value, "path")?))
            }
            "so_flags" => self.so_flags = Some(value.to_string()),
            "define" => {
                let (symbol, definition) = value
                    .split_once('=')
                    .filter(|(symbol, _)| is_word(symbol))
                    .ok_or_else(|| {
                        bad(
                            name,
                            value,
                            "expected SYM=VAL with SYM made of [A-Za-z0-9_]",
                        )
                    })?;
                self.defines
                    .push((symbol.to_string(), definition.to_string()));
            }
            "local_linklocal_ip" => self.local_linklocal_ip = Some(parse_ip(name, value)?),
            "gateway_linklocal_ip" => self.gateway_linklocal_ip = Some(parse_ip(name, value)?),
            "tcp_md5_secret" => {
                if value.len() > MAX_TCP_MD5_SECRET_LEN {
                    return Err(bad(
                        name,
                        value,
                        &format!("longer than {MAX_TCP_MD5_SECRET_LEN} bytes"),
                    ));
                }
                self.tcp_md5_secret = Some(value.to_string());
            }
            "udp_encapsulation" => {
                self.udp_encapsulation = Some(
                    UdpEncapsulation::from_name(value)
                        .ok_or_else(|| bad(name, value, "expected sctp or tcp"))?,
                )
            }
            "tun_dev" => self.tun_dev = Some(parse_interface(name, value)?),
            "pcap" if value.is_empty() => return Err(bad(name, value, "expected a file name")),
            "pcap" => self.pcap_file = Some(PathBuf::from(value)),
            "pin_cpu" if value == "none" => self.pin_cpu = CpuPin::Off,
            "pin_cpu" if value == "start" => self.pin_cpu = CpuPin::StartingCpu,
            "pin_cpu" => {
                self.pin_cpu = match parse_decimal(value) {
                    Some(n) if n < libc::CPU_SETSIZE as u64 => CpuPin::Cpu(n as usize),
                    _ => {
                        return Err(bad(
                            name,
                            value,
                            &format!(
                                "expected a CPU number 0-{}, start or none",
                                libc::CPU_SETSIZE - 1
                            ),
                        ))
                    }
                }
            }
            other => unreachable!("option '{other}' is in the table but not handled"),
        }
        Ok(())
    }

    /// Apply several settings in order; stops at the first error.
    pub fn apply_all<'a>(
        &mut self,
        settings: impl IntoIterator<Item = &'a OptionSetting>,
    ) -> Result<(), ConfigError> {
        settings.into_iter().try_for_each(|s| self.apply(s))
    }

    /// Defines from `--define`/`-D`, in order, as a map where the last definition wins.
    pub fn define_map(&self) -> BTreeMap<String, String> {
        self.defines.iter().cloned().collect()
    }

    /// Prefix length of `netmask_ip` (e.g. 16 for 255.255.0.0).
    pub fn netmask_prefix_len(&self) -> u8 {
        u32::from(self.netmask_ip).leading_ones() as u8
    }
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

/// What the command line says: the scripts and the settings in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// Script paths, in order (may be empty; the caller decides whether that is an error).
    pub scripts: Vec<PathBuf>,
    /// Every option setting in command-line order (names are the full long names).
    pub settings: Vec<OptionSetting>,
    /// Suite-mode settings (see [`suite_options`]), in command-line order.
    pub suite_settings: Vec<OptionSetting>,
    /// `-h`/`--help` was given: print [`usage`] and exit 0. Parsing stops there.
    pub help: bool,
    /// `--version` was given: print [`version_text`] and exit 0. Parsing stops there.
    pub version: bool,
}

/// The `--version` text (one line, no newline).
pub fn version_text() -> String {
    format!("stackdrill {}", env!("CARGO_PKG_VERSION"))
}

/// Command-line-only long options (not packetdrill options; never valid in scripts).
const HELP: &str = "help";
const VERSION: &str = "version";

enum LongMatch {
    Option(&'static OptionSpec),
    Suite(&'static OptionSpec),
    Help,
    Version,
}

/// getopt_long's lookup: exact name first, then a unique prefix. Prefixes are matched
/// against the packetdrill options first, then the suite options, and only then against
/// `help`/`version`, so that `--ver` keeps meaning `--verbose` as in packetdrill.
fn match_long(written: &str) -> Result<LongMatch, ConfigError> {
    if let Some(spec) = lookup_option(written) {
        return Ok(LongMatch::Option(spec));
    }
    if let Some(spec) = SUITE_OPTIONS.iter().find(|spec| spec.name == written) {
        return Ok(LongMatch::Suite(spec));
    }
    match written {
        HELP => return Ok(LongMatch::Help),
        VERSION => return Ok(LongMatch::Version),
        _ => {}
    }
    if !written.is_empty() {
        for (table, suite) in [(OPTIONS, false), (SUITE_OPTIONS, true)] {
            let candidates: Vec<&'static OptionSpec> = table
                .iter()
                .filter(|spec| spec.name.starts_with(written))
                .collect();
            match candidates.as_slice() {
                [one] if suite => return Ok(LongMatch::Suite(one)),
                [one] => return Ok(LongMatch::Option(one)),
                [] => {}
                many => {
                    return Err(ConfigError::Ambiguous {
                        name: written.to_string(),
                        candidates: many.iter().map(|spec| spec.name.to_string()).collect(),
                    })
                }
            }
        }
        if HELP.starts_with(written) {
            return Ok(LongMatch::Help);
        }
        if VERSION.starts_with(written) {
            return Ok(LongMatch::Version);
        }
    }
    Err(ConfigError::Unknown {
        name: written.to_string(),
    })
}

fn to_utf8(arg: &OsString) -> Result<&str, ConfigError> {
    arg.to_str().ok_or_else(|| ConfigError::NotUnicode {
        arg: arg.to_string_lossy().into_owned(),
    })
}

/// Parse argv (`argv[0]` included) the way packetdrill's getopt_long does.
///
/// Settings are validated (applied to a scratch [`Config`]) so a bad value is reported
/// immediately, like packetdrill's `Command Line: bad --NAME: VALUE`; they are returned
/// unapplied so the caller can apply them after each script's own option lines.
pub fn parse_command_line<I, T>(args: I) -> Result<CommandLine, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut line = CommandLine::default();
    let mut scratch = Config::default();
    let mut push = |line: &mut CommandLine, setting: OptionSetting| -> Result<(), ConfigError> {
        scratch.apply(&setting)?;
        line.settings.push(setting);
        Ok(())
    };

    let mut index = 1; // skip argv[0]
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        let bytes = arg.as_encoded_bytes();

        if bytes == b"--" {
            line.scripts.extend(args[index..].iter().map(PathBuf::from));
            break;
        }
        if bytes.starts_with(b"--") {
            let text = to_utf8(arg)?;
            let body = &text[2..];
            let (written, attached) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let (spec, suite) = match match_long(written)? {
                LongMatch::Option(spec) => (spec, false),
                LongMatch::Suite(spec) => (spec, true),
                LongMatch::Help if attached.is_some() => {
                    return Err(ConfigError::ForbidsArgument { name: HELP.into() })
                }
                LongMatch::Version if attached.is_some() => {
                    return Err(ConfigError::ForbidsArgument {
                        name: VERSION.into(),
                    })
                }
                LongMatch::Help => {
                    line.help = true;
                    return Ok(line);
                }
                LongMatch::Version => {
                    line.version = true;
                    return Ok(line);
                }
            };
            let value = if !spec.takes_value() {
                if attached.is_some() {
                    return Err(ConfigError::ForbidsArgument {
                        name: spec.name.to_string(),
                    });
                }
                None
            } else if let Some(v) = attached {
                Some(v.to_string())
            } else if spec.value_optional {
                None
            } else if index < args.len() {
                // getopt_long takes the next argument verbatim, even if it starts with '-'.
                let v = to_utf8(&args[index])?.to_string();
                index += 1;
                Some(v)
            } else {
                return Err(ConfigError::RequiresArgument {
                    name: spec.name.to_string(),
                });
            };
            let setting = OptionSetting {
                name: spec.name.to_string(),
                value,
            };
            if suite {
                line.suite_settings.push(setting);
            } else {
                push(&mut line, setting)?;
            }
            continue;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            let text = to_utf8(arg)?;
            for (offset, letter) in text[1..].char_indices() {
                match letter {
                    'h' => {
                        line.help = true;
                        return Ok(line);
                    }
                    'v' => push(&mut line, OptionSetting::flag("verbose"))?,
                    'D' => {
                        let rest = &text[1 + offset + 1..];
                        let value = if !rest.is_empty() {
                            rest.to_string()
                        } else if index < args.len() {
                            let v = to_utf8(&args[index])?.to_string();
                            index += 1;
                            v
                        } else {
                            return Err(ConfigError::RequiresArgument {
                                name: "D".to_string(),
                            });
                        };
                        push(&mut line, OptionSetting::with_value("define", value))?;
                        break;
                    }
                    other => {
                        return Err(ConfigError::Unknown {
                            name: other.to_string(),
                        })
                    }
                }
            }
            continue;
        }
        // A non-option (including a lone "-"): a script path. getopt_long permutes, so
        // options may follow.
        line.scripts.push(PathBuf::from(arg));
    }
    Ok(line)
}

/// Help text (every flag with its default and one-line meaning) for --help.
pub fn usage() -> String {
    let mut text = String::new();
    text.push_str("Usage: stackdrill [OPTIONS] SCRIPT [SCRIPT...]\n");
    text.push_str("       stackdrill --wire_server [OPTIONS]\n");
    text.push_str("\nRun packetdrill scripts against a TCP/IP stack.\n");
    text.push_str(
        "Long options take --name=VALUE or --name VALUE and may be abbreviated to any\n\
         unambiguous prefix; options may follow script paths; -- ends the options.\n\
         The same options (exact names) may appear as --name[=VALUE] lines at the top of\n\
         a script; the command line overrides them.\n",
    );
    let section = |title: &str, specs: &mut dyn Iterator<Item = &OptionSpec>, text: &mut String| {
        text.push('\n');
        text.push_str(title);
        text.push('\n');
        for spec in specs {
            text.push_str("  ");
            if let Some(letter) = spec.short {
                text.push('-');
                text.push(letter);
                if let Some(value) = spec.value_name {
                    text.push(' ');
                    text.push_str(value);
                }
                text.push_str(", ");
            }
            text.push_str("--");
            text.push_str(spec.name);
            match spec.value_name {
                Some(value) if spec.value_optional => {
                    text.push_str("[=");
                    text.push_str(value);
                    text.push(']');
                }
                Some(value) => {
                    text.push('=');
                    text.push_str(value);
                }
                None => {}
            }
            text.push_str("\n        ");
            text.push_str(spec.help);
            text.push_str(" [default: ");
            text.push_str(spec.default);
            text.push_str("]\n");
        }
    };
    section(
        "Options:",
        &mut OPTIONS.iter().filter(|spec| !spec.nplab),
        &mut text,
    );
    section(
        "Options of the nplab fork (accepted for compatibility):",
        &mut OPTIONS.iter().filter(|spec| spec.nplab),
        &mut text,
    );
    section(
        "Suite mode (a directory among the paths, or any of these options; command line only):",
        &mut SUITE_OPTIONS.iter(),
        &mut text,
    );
    text.push_str("\nOther:\n");
    text.push_str("  -h, --help\n        print this help and exit\n");
    text.push_str("  --version\n        print the version and exit\n");
    text
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn cli(args: &[&str]) -> Result<CommandLine, ConfigError> {
        parse_command_line(std::iter::once("stackdrill").chain(args.iter().copied()))
    }

    fn set(name: &str, value: &str) -> OptionSetting {
        OptionSetting::with_value(name, value)
    }

    fn apply(name: &str, value: Option<&str>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        config.apply(&OptionSetting::new(name, value))?;
        Ok(config)
    }

    fn err(name: &str, value: Option<&str>) -> String {
        apply(name, value).unwrap_err().to_string()
    }

    #[test]
    fn defaults_match_spec_table() {
        let c = Config::default();
        assert_eq!(c.ip_version, None);
        assert_eq!((c.bind_port, c.connect_port), (8080, 8080));
        assert_eq!((c.remote_ip, c.local_ip, c.gateway_ip), (None, None, None));
        assert_eq!(c.netmask_ip, Ipv4Addr::new(255, 255, 0, 0));
        assert_eq!(c.netmask_prefix_len(), 16);
        assert_eq!((c.speed, c.mss, c.mtu), (0, 0, 1500));
        assert!(c.init_scripts.is_empty());
        assert_eq!(c.tolerance_usecs, 4000);
        assert_eq!(c.tolerance_percent, 12.5);
        assert!(!c.tcp_ts_ecr_scaled);
        assert_eq!(c.tcp_ts_tick_usecs, 0);
        assert!(!c.strict_segments && !c.non_fatal_packet && !c.non_fatal_syscall);
        assert!(!c.wire_client && !c.wire_server);
        assert_eq!(c.wire_server_ip, None);
        assert_eq!(c.wire_server_port, 8081);
        assert_eq!(
            (c.wire_client_dev.as_deref(), c.wire_server_dev.as_deref()),
            (None, None)
        );
        assert_eq!((c.so_filename.clone(), c.so_flags.clone()), (None, None));
        assert!(!c.dry_run && !c.is_anyip && !c.send_omit_free);
        assert_eq!(c.psp_udp_port, 0);
        assert_eq!(c.code_command, "python3");
        assert_eq!(c.code_format, CodeFormat::Python);
        assert_eq!(c.code_sockopt, None);
        assert_eq!((c.debug, c.verbose), (0, 0));
        assert!(c.defines.is_empty());
        assert_eq!(c.tcp_md5_secret, None);
        assert_eq!(c.udp_encapsulation, None);
        assert_eq!(c.tun_dev, None);
        assert!(!c.persistent_tun_dev && !c.no_cleanup);
        assert_eq!((c.local_linklocal_ip, c.gateway_linklocal_ip), (None, None));
    }

    #[test]
    fn every_table_option_is_handled_and_documented() {
        let help = usage();
        for spec in options() {
            let value = spec.value_name.map(|_| "x");
            // Must never be "unknown" (and never hit the unreachable! arm).
            let result = apply(spec.name, value);
            assert!(
                !matches!(result, Err(ConfigError::Unknown { .. })),
                "{}",
                spec.name
            );
            assert!(help.contains(&format!("--{}", spec.name)), "{}", spec.name);
        }
        assert!(help.contains("[default: 4000]"));
        assert!(help.contains("[default: 12.5]"));
        assert!(help.contains("-D SYM=VAL, --define=SYM=VAL"));
        assert!(help.contains("-v, --verbose"));
    }

    #[test]
    fn long_option_with_separate_and_attached_value() {
        let line = cli(&["--bind_port", "9000", "--connect_port=9001", "a.pkt"]).unwrap();
        assert_eq!(line.scripts, vec![PathBuf::from("a.pkt")]);
        assert_eq!(
            line.settings,
            vec![set("bind_port", "9000"), set("connect_port", "9001")]
        );
        let mut c = Config::default();
        c.apply_all(&line.settings).unwrap();
        assert_eq!((c.bind_port, c.connect_port), (9000, 9001));
    }

    #[test]
    fn separate_value_is_taken_verbatim_even_with_dash() {
        let line = cli(&["--so_flags", "--dry_run", "x.pkt"]).unwrap();
        assert_eq!(line.settings, vec![set("so_flags", "--dry_run")]);
        assert_eq!(line.scripts, vec![PathBuf::from("x.pkt")]);
        // Empty attached value is a value.
        let line = cli(&["--so_flags="]).unwrap();
        assert_eq!(line.settings, vec![set("so_flags", "")]);
    }

    #[test]
    fn unambiguous_prefix_is_accepted() {
        let line = cli(&["--tolerance_u=5000", "--dry", "--ver", "s.pkt"]).unwrap();
        assert_eq!(
            line.settings,
            vec![
                set("tolerance_usecs", "5000"),
                OptionSetting::flag("dry_run"),
                OptionSetting::flag("verbose"),
            ]
        );
        // An exact name wins even if it is a prefix of other names.
        let line = cli(&["--wire_server", "--wire_server_i=10.0.0.1"]).unwrap();
        assert_eq!(
            line.settings,
            vec![
                OptionSetting::flag("wire_server"),
                set("wire_server_ip", "10.0.0.1")
            ]
        );
    }

    #[test]
    fn ambiguous_prefix_names_candidates() {
        let e = cli(&["--tol=5", "s.pkt"]).unwrap_err();
        assert_eq!(
            e,
            ConfigError::Ambiguous {
                name: "tol".into(),
                candidates: vec!["tolerance_usecs".into(), "tolerance_percent".into()],
            }
        );
        assert_eq!(
            e.to_string(),
            "option 'tol' is ambiguous; possibilities: 'tolerance_usecs' 'tolerance_percent'"
        );
        assert!(matches!(
            cli(&["--wire_server_"]),
            Err(ConfigError::Ambiguous { .. })
        ));
    }

    #[test]
    fn short_options() {
        let line = cli(&["-v", "-D", "A=B", "-DC=D", "-vvDE=F", "s.pkt"]).unwrap();
        assert_eq!(
            line.settings,
            vec![
                OptionSetting::flag("verbose"),
                set("define", "A=B"),
                set("define", "C=D"),
                OptionSetting::flag("verbose"),
                OptionSetting::flag("verbose"),
                set("define", "E=F"),
            ]
        );
        let mut c = Config::default();
        c.apply_all(&line.settings).unwrap();
        assert_eq!(c.verbose, 3);
        assert_eq!(
            c.defines,
            vec![
                ("A".into(), "B".into()),
                ("C".into(), "D".into()),
                ("E".into(), "F".into())
            ]
        );
        assert_eq!(cli(&["-x"]).unwrap_err().to_string(), "option 'x' unknown");
        assert_eq!(
            cli(&["-D"]).unwrap_err().to_string(),
            "option 'D' requires an argument"
        );
        assert_eq!(
            cli(&["-D", "=x"]).unwrap_err().to_string(),
            "bad --define: =x (expected SYM=VAL with SYM made of [A-Za-z0-9_])"
        );
    }

    #[test]
    fn options_after_scripts_and_double_dash() {
        let line = cli(&["a.pkt", "--dry_run", "b.pkt", "-v", "--", "--c.pkt", "-v"]).unwrap();
        assert_eq!(
            line.scripts,
            vec![
                PathBuf::from("a.pkt"),
                PathBuf::from("b.pkt"),
                PathBuf::from("--c.pkt"),
                PathBuf::from("-v"),
            ]
        );
        assert_eq!(
            line.settings,
            vec![
                OptionSetting::flag("dry_run"),
                OptionSetting::flag("verbose")
            ]
        );
        // A lone dash is a path; no scripts is not an error here.
        assert_eq!(cli(&["-"]).unwrap().scripts, vec![PathBuf::from("-")]);
        assert_eq!(cli(&[]).unwrap(), CommandLine::default());
    }

    #[test]
    fn help_and_version() {
        assert!(cli(&["-h"]).unwrap().help);
        assert!(cli(&["a.pkt", "--help"]).unwrap().help);
        assert!(cli(&["--he"]).unwrap().help);
        assert!(cli(&["--version"]).unwrap().version);
        assert!(cli(&["--vers"]).unwrap().version);
        assert!(!cli(&["--ver"]).unwrap().version); // = --verbose, as in packetdrill
        assert_eq!(
            cli(&["--help=1"]).unwrap_err().to_string(),
            "option 'help' forbids an argument"
        );
        // Not packetdrill options: unknown inside scripts.
        assert_eq!(err("help", None), "option 'help' unknown");
        assert!(version_text().starts_with("stackdrill "));
    }

    #[test]
    fn forbids_requires_unknown() {
        for flag in [
            "dry_run",
            "strict_segments",
            "tcp_ts_ecr_scaled",
            "send_omit_free",
            "is_anyip",
            "wire_client",
            "wire_server",
            "verbose",
            "debug",
            "persistent_tun_dev",
            "no_cleanup",
        ] {
            assert_eq!(
                err(flag, Some("1")),
                format!("option '{flag}' forbids an argument")
            );
            assert!(apply(flag, None).is_ok());
        }
        assert_eq!(
            err("tolerance_usecs", None),
            "option 'tolerance_usecs' requires an argument"
        );
        assert_eq!(err("bogus", Some("1")), "option 'bogus' unknown");
        // Scripts: exact names only, no prefixes.
        assert_eq!(
            err("tolerance_u", Some("5")),
            "option 'tolerance_u' unknown"
        );

        assert_eq!(
            cli(&["--dry_run=yes"]).unwrap_err().to_string(),
            "option 'dry_run' forbids an argument"
        );
        assert_eq!(
            cli(&["--dry=yes"]).unwrap_err().to_string(),
            "option 'dry_run' forbids an argument"
        );
        assert_eq!(
            cli(&["s.pkt", "--mtu"]).unwrap_err().to_string(),
            "option 'mtu' requires an argument"
        );
        assert_eq!(
            cli(&["--bogus"]).unwrap_err().to_string(),
            "option 'bogus' unknown"
        );
    }

    #[test]
    fn port_validation() {
        for name in ["bind_port", "connect_port", "wire_server_port"] {
            assert_eq!(
                err(name, Some("0")),
                format!("bad --{name}: 0 (port must be an integer 1-65535)")
            );
            assert!(err(name, Some("70000")).starts_with(&format!("bad --{name}: 70000")));
            assert!(err(name, Some("8o")).starts_with(&format!("bad --{name}: 8o")));
            assert!(err(name, Some("-1")).starts_with(&format!("bad --{name}: -1")));
            assert!(apply(name, Some("65535")).is_ok());
        }
        assert_eq!(apply("psp_udp_port", Some("0")).unwrap().psp_udp_port, 0);
        assert_eq!(
            apply("psp_udp_port", Some("1000")).unwrap().psp_udp_port,
            1000
        );
        assert!(apply("psp_udp_port", Some("65536")).is_err());
        // Validated on the command line too.
        assert!(cli(&["--bind_port=0", "s.pkt"])
            .unwrap_err()
            .to_string()
            .starts_with("bad --bind_port: 0"));
        assert!(cli(&["s.pkt", "--connect_p", "70000"])
            .unwrap_err()
            .to_string()
            .starts_with("bad --connect_port: 70000"));
    }

    #[test]
    fn ip_validation() {
        assert_eq!(
            err("local_ip", Some("192.168.0.256")),
            "bad --local_ip: 192.168.0.256 (not an IPv4 or IPv6 address)"
        );
        assert!(err("gateway_ip", Some("host")).starts_with("bad --gateway_ip: host"));
        assert_eq!(
            apply("local_ip", Some("fd3d:0a0b:17d6::1"))
                .unwrap()
                .local_ip,
            Some(IpAddr::V6("fd3d:a0b:17d6::1".parse::<Ipv6Addr>().unwrap()))
        );
        let c = apply("remote_ip", Some("192.0.2.1/24")).unwrap();
        assert_eq!(
            c.remote_ip,
            Some(IpPrefix {
                addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                prefix_len: Some(24)
            })
        );
        assert_eq!(c.remote_ip.unwrap().to_string(), "192.0.2.1/24");
        let c = apply("remote_ip", Some("2001:DB8::1")).unwrap();
        assert_eq!(c.remote_ip.unwrap().prefix_len, None);
        assert!(apply("remote_ip", Some("2001:db8::1/128")).is_ok());
        assert_eq!(
            err("remote_ip", Some("192.0.2.1/33")),
            "bad --remote_ip: 192.0.2.1/33 (prefix length must be 0-32)"
        );
        assert!(err("remote_ip", Some("nope/24")).starts_with("bad --remote_ip: nope/24"));
        assert!(err("local_ip", Some("1.2.3.4/24")).starts_with("bad --local_ip"));
        assert!(apply("local_linklocal_ip", Some("fe80::1")).is_ok());
        assert!(apply("gateway_linklocal_ip", Some("zz")).is_err());

        assert_eq!(
            apply("netmask_ip", Some("255.255.255.0"))
                .unwrap()
                .netmask_prefix_len(),
            24
        );
        assert!(err("netmask_ip", Some("255.0.255.0")).contains("not contiguous"));
        assert!(err("netmask_ip", Some("24")).starts_with("bad --netmask_ip: 24"));

        assert_eq!(
            apply("wire_server_at", Some("server.example"))
                .unwrap()
                .wire_server_ip
                .as_deref(),
            Some("server.example")
        );
        let c = apply("wire_server_ip", Some("10.0.0.2")).unwrap();
        assert!(c.wire_client);
        assert!(apply("wire_server_ip", Some("a b")).is_err());
    }

    #[test]
    fn ip_version_values() {
        assert_eq!(
            apply("ip_version", Some("ipv4")).unwrap().ip_version,
            Some(IpVersion::Ipv4)
        );
        assert_eq!(
            apply("ip_version", Some("ipv6")).unwrap().ip_version,
            Some(IpVersion::Ipv6)
        );
        for mapped in ["ipv4-mapped-ipv6", "ipv4_mapped_ipv6"] {
            assert_eq!(
                apply("ip_version", Some(mapped)).unwrap().ip_version,
                Some(IpVersion::Ipv4MappedIpv6)
            );
        }
        assert_eq!(
            err("ip_version", Some("ipv5")),
            "bad --ip_version: ipv5 (expected ipv4, ipv4-mapped-ipv6 or ipv6)"
        );
        assert_eq!(IpVersion::Ipv4MappedIpv6.to_string(), "ipv4-mapped-ipv6");
    }

    #[test]
    fn numeric_validation() {
        assert_eq!(
            apply("tolerance_usecs", Some("75000"))
                .unwrap()
                .tolerance_usecs,
            75000
        );
        assert!(err("tolerance_usecs", Some("0")).starts_with("bad --tolerance_usecs: 0"));
        assert!(err("tolerance_usecs", Some("-5")).starts_with("bad --tolerance_usecs: -5"));

        let line = cli(&["--tolerance_percent=2.5", "s.pkt"]).unwrap();
        let mut c = Config::default();
        c.apply_all(&line.settings).unwrap();
        assert_eq!(c.tolerance_percent, 2.5);
        assert_eq!(
            apply("tolerance_percent", Some("100"))
                .unwrap()
                .tolerance_percent,
            100.0
        );
        assert_eq!(
            apply("tolerance_percent", Some("0"))
                .unwrap()
                .tolerance_percent,
            0.0
        );
        assert_eq!(
            err("tolerance_percent", Some("101")),
            "bad --tolerance_percent: 101 (expected a number 0-100)"
        );
        assert!(apply("tolerance_percent", Some("-1")).is_err());
        assert!(apply("tolerance_percent", Some("NaN")).is_err());
        assert!(cli(&["--tolerance_percent=101"]).is_err());

        assert_eq!(
            apply("tcp_ts_tick_usecs", Some("1000000"))
                .unwrap()
                .tcp_ts_tick_usecs,
            1_000_000
        );
        assert!(apply("tcp_ts_tick_usecs", Some("0")).is_ok());
        assert!(err("tcp_ts_tick_usecs", Some("1000001")).starts_with("bad --tcp_ts_tick_usecs"));

        assert!(err("mss", Some("0")).starts_with("bad --mss: 0"));
        assert_eq!(apply("mss", Some("1000")).unwrap().mss, 1000);
        assert_eq!(apply("mtu", Some("1520")).unwrap().mtu, 1520);
        assert!(err("mtu", Some("-1")).starts_with("bad --mtu: -1"));
        assert_eq!(apply("speed", Some("100")).unwrap().speed, 100);
        assert!(apply("speed", Some("4294967296")).is_err());
        assert!(apply("speed", Some("0x10")).is_err());
    }

    #[test]
    fn enumerated_and_list_values() {
        let c = apply("non_fatal", Some("packet, syscall")).unwrap();
        assert!(c.non_fatal_packet && c.non_fatal_syscall);
        let c = apply("non_fatal", Some("packet")).unwrap();
        assert!(c.non_fatal_packet && !c.non_fatal_syscall);
        assert_eq!(
            err("non_fatal", Some("packet,timing")),
            "bad --non_fatal: packet,timing (unknown kind 'timing'; expected packet or syscall)"
        );

        assert!(apply("code_format", Some("python")).is_ok());
        assert_eq!(
            err("code_format", Some("perl")),
            "bad --code_format: perl (only python is supported)"
        );
        for (text, value) in [
            ("TCP_INFO", CodeSockopt::TcpInfo),
            ("TCP_CC_INFO", CodeSockopt::TcpCcInfo),
            ("SO_MEMINFO", CodeSockopt::SoMeminfo),
        ] {
            assert_eq!(
                apply("code_sockopt", Some(text)).unwrap().code_sockopt,
                Some(value)
            );
        }
        assert!(err("code_sockopt", Some("tcp_info")).starts_with("bad --code_sockopt"));

        assert_eq!(
            apply("udp_encapsulation", Some("sctp"))
                .unwrap()
                .udp_encapsulation,
            Some(UdpEncapsulation::Sctp)
        );
        assert!(apply("udp_encapsulation", Some("quic")).is_err());

        let c = apply("init_scripts", Some("a.sh,b.sh arg,")).unwrap();
        assert_eq!(
            c.init_scripts,
            vec!["a.sh".to_string(), "b.sh arg".to_string()]
        );

        assert_eq!(
            apply("tun_dev", Some("tun3")).unwrap().tun_dev.as_deref(),
            Some("tun3")
        );
        assert!(apply("tun_dev", Some("")).is_err());
        assert!(apply("wire_client_dev", Some("a-very-long-interface-name")).is_err());
        assert!(apply("code_command", Some("")).is_err());
        assert_eq!(
            apply("so_filename", Some("libstack.so"))
                .unwrap()
                .so_filename,
            Some(PathBuf::from("libstack.so"))
        );
        assert!(apply("tcp_md5_secret", Some(&"k".repeat(81))).is_err());
        assert!(apply("tcp_md5_secret", Some("secret")).is_ok());
    }

    #[test]
    fn define_validation_and_last_wins() {
        assert!(err("define", Some("NOEQUALS")).starts_with("bad --define: NOEQUALS"));
        assert!(err("define", Some("A-B=1")).starts_with("bad --define: A-B=1"));
        let mut c = Config::default();
        for v in ["X=1", "Y=\"s\"", "X=2", "EMPTY=", "Z=a=b"] {
            c.apply(&set("define", v)).unwrap();
        }
        assert_eq!(c.defines.len(), 5);
        let map = c.define_map();
        assert_eq!(map.get("X").map(String::as_str), Some("2"));
        assert_eq!(map.get("Y").map(String::as_str), Some("\"s\""));
        assert_eq!(map.get("EMPTY").map(String::as_str), Some(""));
        assert_eq!(map.get("Z").map(String::as_str), Some("a=b"));
        assert_eq!(map.len(), 4);
    }

    #[test]
    fn command_line_overrides_script() {
        let script = vec![
            set("tolerance_usecs", "75000"),
            set("ip_version", "ipv6"),
            set("define", "X=script"),
            OptionSetting::flag("send_omit_free"),
        ];
        let line = cli(&[
            "--ip_version=ipv4",
            "-D",
            "X=cli",
            "s.pkt",
            "--tolerance_usecs",
            "14000",
            "--ip_version=ipv4-mapped-ipv6",
        ])
        .unwrap();
        let mut c = Config::default();
        c.apply_all(&script).unwrap();
        c.apply_all(&line.settings).unwrap();
        assert_eq!(c.tolerance_usecs, 14000);
        assert_eq!(c.ip_version, Some(IpVersion::Ipv4MappedIpv6));
        assert_eq!(c.define_map()["X"], "cli");
        assert!(c.send_omit_free);
    }

    #[test]
    fn failed_apply_leaves_config_unchanged() {
        let mut c = Config::default();
        assert!(c.apply(&set("non_fatal", "packet,bogus")).is_err());
        assert!(c.apply(&set("define", "=1")).is_err());
        assert_eq!(c, Config::default());
    }

    #[test]
    fn errors_are_one_line() {
        let errors = [
            err("local_ip", Some("a\nb")),
            err("bogus\n", None),
            cli(&["--x\ny"]).unwrap_err().to_string(),
        ];
        for e in errors {
            assert!(!e.contains('\n') && !e.ends_with('\n'), "{e:?}");
        }
        assert_eq!(
            err("local_ip", Some("a\nb")),
            "bad --local_ip: a\\nb (not an IPv4 or IPv6 address)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_arguments() {
        use std::os::unix::ffi::OsStringExt;
        let bad_path = OsString::from_vec(vec![b'a', 0xff, b'.', b'p']);
        let line =
            parse_command_line(vec![OsString::from("stackdrill"), bad_path.clone()]).unwrap();
        assert_eq!(line.scripts, vec![PathBuf::from(bad_path)]);
        let bad_opt = OsString::from_vec(vec![b'-', b'-', b'x', 0xff]);
        assert!(matches!(
            parse_command_line(vec![OsString::from("stackdrill"), bad_opt]),
            Err(ConfigError::NotUnicode { .. })
        ));
    }

    #[test]
    fn option_setting_display() {
        assert_eq!(set("mtu", "1520").to_string(), "--mtu=1520");
        assert_eq!(OptionSetting::flag("dry_run").to_string(), "--dry_run");
    }
}
