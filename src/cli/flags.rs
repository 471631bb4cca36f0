//! The packetdrill flags, one entry each: name, short letter, value placeholder, default,
//! help text, and how the value is checked and applied to [`Config`]. Adding a flag means
//! adding its [`Flag`] to [`FLAGS`] (and its field to [`Config`]); parsing, script option
//! lines, defaults and `--help` all read this table.

use std::path::PathBuf;

use super::values::{
    self, CodeFormat, CodeSockopt, CpuPin, IpVersion, NetdevKind, Reason, UdpEncapsulation,
};
use super::Config;

use Initial::{Unset, Value, ValueMeaning};

/// Largest `--tcp_ts_tick_usecs`.
pub const MAX_TCP_TS_TICK_USECS: u32 = 1_000_000;
/// Longest TCP MD5 key (Linux/BSD `TCP_MD5SIG_MAXKEYLEN`).
pub const MAX_TCP_MD5_SECRET_LEN: usize = crate::wire::tcp_md5::MAX_KEY_LEN;

// ---------------------------------------------------------------------------
// What a flag is
// ---------------------------------------------------------------------------

/// One flag of a settings type `T` ([`Config`], or suite mode's `SuiteOptions`).
pub struct Flag<T: 'static> {
    /// Long name without dashes.
    pub name: &'static str,
    /// Short letter, if any (`-v`, `-D`).
    pub short: Option<char>,
    /// Whether it takes a value, its default, and how it applies.
    pub takes: Takes<T>,
    /// One-line meaning.
    pub help: &'static str,
    /// Only in the nplab fork (accepted for compatibility; listed apart by `--help`).
    pub nplab: bool,
}

/// What a flag takes, and how it changes the settings.
pub enum Takes<T: 'static> {
    /// `--name` alone: a value is an error; off unless given.
    Nothing(fn(&mut T)),
    /// `--name=VALUE` or `--name VALUE`.
    Required {
        placeholder: &'static str,
        default: Initial,
        apply: fn(&mut T, &str) -> Result<(), Reason>,
    },
    /// `--name` or `--name=VALUE`, never `--name VALUE`.
    Optional {
        placeholder: &'static str,
        default: Initial,
        apply: fn(&mut T, Option<&str>) -> Result<(), Reason>,
    },
}

/// A flag's default: what the settings hold before the flag is given, and what `--help` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initial {
    /// This text, applied through the flag's own parser when the settings are created, so
    /// `--help` shows exactly the value used.
    Value(&'static str),
    /// As `Value`, shown with what the value means: `VALUE (MEANING)`.
    ValueMeaning(&'static str, &'static str),
    /// The field starts unset (`None`, empty, 0) and whoever reads it decides; the text says
    /// what that means (`auto`, `primary NIC`, the family's address).
    Unset(&'static str),
}

/// How an application of a flag failed; the owner of the settings words the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    ForbidsArgument,
    RequiresArgument,
    Bad(Reason),
}

impl<T> Flag<T> {
    /// A flag taking no value.
    pub const fn switch(name: &'static str, help: &'static str, apply: fn(&mut T)) -> Self {
        Self::new(name, Takes::Nothing(apply), help)
    }

    /// A flag taking a value.
    pub const fn value(
        name: &'static str,
        placeholder: &'static str,
        default: Initial,
        help: &'static str,
        apply: fn(&mut T, &str) -> Result<(), Reason>,
    ) -> Self {
        let takes = Takes::Required {
            placeholder,
            default,
            apply,
        };
        Self::new(name, takes, help)
    }

    /// A flag whose value may be left out (`--name` or `--name=VALUE`).
    pub const fn optional_value(
        name: &'static str,
        placeholder: &'static str,
        default: Initial,
        help: &'static str,
        apply: fn(&mut T, Option<&str>) -> Result<(), Reason>,
    ) -> Self {
        let takes = Takes::Optional {
            placeholder,
            default,
            apply,
        };
        Self::new(name, takes, help)
    }

    const fn new(name: &'static str, takes: Takes<T>, help: &'static str) -> Self {
        Self {
            name,
            short: None,
            takes,
            help,
            nplab: false,
        }
    }

    /// The value's placeholder in `--help`; `None` for a switch.
    pub fn placeholder(&self) -> Option<&'static str> {
        match self.takes {
            Takes::Nothing(_) => None,
            Takes::Required { placeholder, .. } | Takes::Optional { placeholder, .. } => {
                Some(placeholder)
            }
        }
    }

    /// Whether the flag needs a value (then `--name VALUE` takes the next argument).
    pub fn requires_value(&self) -> bool {
        matches!(self.takes, Takes::Required { .. })
    }

    /// The default as `--help` shows it.
    pub fn default_text(&self) -> String {
        match self.initial() {
            None => "off".to_string(),
            Some(Initial::Value(text) | Initial::Unset(text)) => text.to_string(),
            Some(Initial::ValueMeaning(text, meaning)) => format!("{text} ({meaning})"),
        }
    }

    /// The default of a flag taking a value; a switch is off unless given.
    fn initial(&self) -> Option<Initial> {
        match self.takes {
            Takes::Nothing(_) => None,
            Takes::Required { default, .. } | Takes::Optional { default, .. } => Some(default),
        }
    }

    /// Applies the flag as written (`value` is `None` for `--name` alone). On error `target`
    /// is unchanged.
    pub fn apply(&self, target: &mut T, value: Option<&str>) -> Result<(), Refusal> {
        match (&self.takes, value) {
            (Takes::Nothing(apply), None) => {
                apply(target);
                Ok(())
            }
            (Takes::Nothing(_), Some(_)) => Err(Refusal::ForbidsArgument),
            (Takes::Required { apply, .. }, Some(value)) => {
                apply(target, value).map_err(Refusal::Bad)
            }
            (Takes::Required { .. }, None) => Err(Refusal::RequiresArgument),
            (Takes::Optional { apply, .. }, value) => apply(target, value).map_err(Refusal::Bad),
        }
    }

    /// Applies the flag's default value, if it has one (see [`Initial::Value`]).
    ///
    /// # Panics
    /// When the table's default fails the flag's own check: a mistake in the table, which
    /// any test creating the settings finds.
    pub fn apply_default(&self, target: &mut T) {
        let (Some(Initial::Value(text)) | Some(Initial::ValueMeaning(text, _))) = self.initial()
        else {
            return;
        };
        if let Err(refusal) = self.apply(target, Some(text)) {
            panic!(
                "the default of --{} ({text}) is refused: {refusal:?}",
                self.name
            );
        }
    }
}

/// The flag of `table` with exactly this long name (no dashes, no abbreviation).
pub fn find<T>(table: &'static [Flag<T>], name: &str) -> Option<&'static Flag<T>> {
    table.iter().find(|flag| flag.name == name)
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// Every packetdrill flag (upstream, stackdrill's own, then nplab's), in `--help` order.
pub const FLAGS: &[Flag<Config>] = &[
    Flag::value(
        "ip_version",
        "ipv4|ipv4-mapped-ipv6|ipv6",
        Unset("auto (IPv6 if the host's primary address is IPv6, else IPv4)"),
        "address family of sockets and wire packets",
        |c, v| {
            let version =
                IpVersion::from_name(v).ok_or("expected ipv4, ipv4-mapped-ipv6 or ipv6")?;
            c.ip_version = Some(version);
            Ok(())
        },
    ),
    Flag::value(
        "bind_port",
        "PORT",
        Value("8080"),
        "local port for bind() and passive connections (1-65535)",
        |c, v| values::port(v, 1).map(|port| c.bind_port = port),
    ),
    Flag::value(
        "code_command",
        "COMMAND",
        Value("python3"),
        "interpreter for %{ }% code blocks",
        |c, v| values::non_empty(v, "command").map(|command| c.code_command = command),
    ),
    Flag::value(
        "code_format",
        "python",
        Value("python"),
        "language of code blocks (only python)",
        |c, v| match v {
            "python" => {
                c.code_format = CodeFormat::Python;
                Ok(())
            }
            _ => Err("only python is supported".into()),
        },
    ),
    Flag::value(
        "code_sockopt",
        "TCP_INFO|TCP_CC_INFO|SO_MEMINFO",
        Unset("auto"),
        "socket information collected for code blocks",
        |c, v| {
            let sockopt =
                CodeSockopt::from_name(v).ok_or("expected TCP_INFO, TCP_CC_INFO or SO_MEMINFO")?;
            c.code_sockopt = Some(sockopt);
            Ok(())
        },
    ),
    Flag::value(
        "connect_port",
        "PORT",
        Value("8080"),
        "remote port for connect()/sendto()/sendmsg() (1-65535)",
        |c, v| values::port(v, 1).map(|port| c.connect_port = port),
    ),
    Flag::value(
        "remote_ip",
        "ADDR[/PREFIX]",
        Unset("v4 192.0.2.1/24, v6 2001:DB8::1/32"),
        "peer address of test traffic; the prefix is routed into the tun device",
        |c, v| values::ip_prefix(v).map(|prefix| c.remote_ip = Some(prefix)),
    ),
    Flag::value(
        "local_ip",
        "ADDR",
        Unset("v4 random in 192.168.0.0/16, v6 fd3d:fa7b:d17d::<random>"),
        "address assigned to the tun device and used by bind()",
        |c, v| values::ip(v).map(|ip| c.local_ip = Some(ip)),
    ),
    Flag::value(
        "gateway_ip",
        "ADDR",
        Unset("v4 192.168.0.1, v6 fd3d:fa7b:d17d:8888::0"),
        "next hop of the route to the remote prefix",
        |c, v| values::ip(v).map(|ip| c.gateway_ip = Some(ip)),
    ),
    Flag::value(
        "netmask_ip",
        "MASK",
        Value("255.255.0.0"),
        "IPv4 netmask of the tun device (dotted)",
        |c, v| values::netmask(v).map(|mask| c.netmask_ip = mask),
    ),
    Flag::value(
        "speed",
        "MBPS",
        ValueMeaning("0", "leave unchanged"),
        "set the tun device's link speed in Mbps",
        |c, v| values::u32_in(v, 0, u32::MAX).map(|mbps| c.speed = mbps),
    ),
    Flag::value(
        "mss",
        "BYTES",
        Unset("0 (off)"),
        "inject inbound TCP packets as GSO with this segment size (>0)",
        |c, v| values::u32_in(v, 1, u32::MAX).map(|bytes| c.mss = bytes),
    ),
    Flag::value(
        "mtu",
        "BYTES",
        Value("1500"),
        "MTU of the tun device",
        |c, v| values::u32_in(v, 0, u32::MAX).map(|bytes| c.mtu = bytes),
    ),
    Flag::value(
        "init_scripts",
        "CMD[,CMD...]",
        Unset("none"),
        "comma-separated shell commands run before each script",
        |c, v| {
            let pieces = v.split(',').filter(|piece| !piece.trim().is_empty());
            c.init_scripts = pieces.map(str::to_string).collect();
            Ok(())
        },
    ),
    Flag::value(
        "tolerance_usecs",
        "USECS",
        Value("4000"),
        "absolute timing tolerance in microseconds (>0)",
        |c, v| values::u32_in(v, 1, u32::MAX).map(|usecs| c.tolerance_usecs = usecs),
    ),
    Flag::value(
        "tolerance_percent",
        "PERCENT",
        Value("12.5"),
        "relative timing tolerance, % of the gap since the previous event (0-100)",
        |c, v| values::percent(v).map(|percent| c.tolerance_percent = percent),
    ),
    Flag::switch(
        "wire_client",
        "remote mode: this side runs the syscalls",
        |c| c.wire_client = true,
    ),
    Flag::switch(
        "wire_server",
        "remote mode: run as the packet server daemon",
        |c| c.wire_server = true,
    ),
    Flag::value(
        "wire_server_ip",
        "HOST",
        Unset("none"),
        "wire server to contact (implies --wire_client)",
        set_wire_server,
    ),
    Flag::value(
        "wire_server_at",
        "HOST",
        Unset("none"),
        "same as --wire_server_ip",
        set_wire_server,
    ),
    Flag::value(
        "wire_server_port",
        "PORT",
        Value("8081"),
        "TCP control port of the wire server (1-65535)",
        |c, v| values::port(v, 1).map(|port| c.wire_server_port = port),
    ),
    Flag::value(
        "wire_client_dev",
        "IFACE",
        Unset("primary NIC"),
        "NIC used for test traffic on the wire client",
        |c, v| values::interface(v).map(|dev| c.wire_client_dev = Some(dev)),
    ),
    Flag::value(
        "wire_server_dev",
        "IFACE",
        Unset("primary NIC"),
        "NIC used for test traffic on the wire server",
        |c, v| values::interface(v).map(|dev| c.wire_server_dev = Some(dev)),
    ),
    Flag::value(
        "so_filename",
        "PATH",
        Unset("none (test the kernel)"),
        "shared object implementing the stack under test",
        |c, v| values::non_empty(v, "path").map(|path| c.so_filename = Some(PathBuf::from(path))),
    ),
    Flag::value(
        "http_port",
        "PORT",
        Value("8899"),
        "serve /netstat, /ss, /tcpinfo, /pollinghang on 127.0.0.1:PORT in the run's namespace",
        |c, v| values::port(v, 1).map(|port| c.http_port = Some(port)),
    ),
    Flag::switch("no_http", "do not serve introspection over HTTP", |c| {
        c.http_port = None
    }),
    Flag::switch(
        "userspace_stack",
        "test the userspace stack of --so_filename (which implies it)",
        |c| c.userspace_stack = true,
    ),
    Flag::value(
        "so_flags",
        "STRING",
        Unset("none"),
        "opaque string passed to the shared object's init",
        |c, v| {
            c.so_flags = Some(v.to_string());
            Ok(())
        },
    ),
    Flag::switch(
        "tcp_ts_ecr_scaled",
        "allow inbound TS ecr values never sent, by offset from the first TS pair",
        |c| c.tcp_ts_ecr_scaled = true,
    ),
    Flag::value(
        "tcp_ts_tick_usecs",
        "USECS",
        ValueMeaning("0", "don't check"),
        "microseconds per TCP TS val tick; enables outbound TS val checks (0-1000000)",
        |c, v| values::u32_in(v, 0, MAX_TCP_TS_TICK_USECS).map(|usecs| c.tcp_ts_tick_usecs = usecs),
    ),
    Flag::switch(
        "strict_ts_ecr",
        "(stackdrill) check outbound TS ecr: it must echo the script's inbound TS val",
        |c| c.strict_ts_ecr = true,
    ),
    Flag::switch(
        "strict_segments",
        "one live packet per script packet (no TSO/GSO aggregation)",
        |c| c.strict_segments = true,
    ),
    Flag::value(
        "non_fatal",
        "packet,syscall",
        Unset("none"),
        "comma/space list of error kinds that become warnings",
        |c, v| {
            let (mut packet, mut syscall) = (false, false);
            for token in v.split([',', ' ']).filter(|t| !t.is_empty()) {
                match token {
                    "packet" => packet = true,
                    "syscall" => syscall = true,
                    _ => {
                        return Err(format!(
                            "unknown kind '{}'; expected packet or syscall",
                            values::one_line(token)
                        ))
                    }
                }
            }
            // Like upstream, kinds accumulate over several --non_fatal options.
            c.non_fatal_packet |= packet;
            c.non_fatal_syscall |= syscall;
            Ok(())
        },
    ),
    Flag::switch("dry_run", "parse the script(s) only; do not run", |c| {
        c.dry_run = true
    }),
    Flag::switch(
        "is_anyip",
        "do not assign the local IP to the tun device (AnyIP tests)",
        |c| c.is_anyip = true,
    ),
    Flag::switch(
        "send_omit_free",
        "never free send/sendto/sendmsg buffers (for MSG_ZEROCOPY)",
        |c| c.send_omit_free = true,
    ),
    Flag::value(
        "psp_udp_port",
        "PORT",
        ValueMeaning("0", "off"),
        "enable PSP encapsulation on this UDP port (wire mode only)",
        |c, v| values::port(v, 0).map(|port| c.psp_udp_port = port),
    ),
    Flag::switch("debug", "debug logging (repeatable)", |c| {
        c.debug = c.debug.saturating_add(1)
    }),
    Flag {
        short: Some('D'),
        ..Flag::value(
            "define",
            "SYM=VAL",
            Unset("none"),
            "replace the word SYM by VAL when lexing scripts; last definition wins",
            |c, v| {
                let (symbol, definition) = v
                    .split_once('=')
                    .filter(|(symbol, _)| values::is_word(symbol))
                    .ok_or("expected SYM=VAL with SYM made of [A-Za-z0-9_]")?;
                c.defines.push((symbol.to_string(), definition.to_string()));
                Ok(())
            },
        )
    },
    Flag {
        short: Some('v'),
        ..Flag::switch(
            "verbose",
            "print every injected/sniffed packet and syscall completion (repeatable)",
            |c| c.verbose = c.verbose.saturating_add(1),
        )
    },
    Flag::value(
        "pcap",
        "FILE",
        Unset("none"),
        "(stackdrill) write every injected and sniffed packet of the run to FILE (pcap)",
        |c, v| values::file_name(v).map(|path| c.pcap_file = Some(path)),
    ),
    Flag::value(
        "pin_cpu",
        "CPU|start|none",
        Value("none"),
        "(stackdrill) run all of a kernel run's threads on one CPU (start: the one it starts on)",
        |c, v| {
            c.pin_cpu = match v {
                "none" => CpuPin::Off,
                "start" => CpuPin::StartingCpu,
                _ => match values::decimal(v) {
                    Some(n) if n < libc::CPU_SETSIZE as u64 => CpuPin::Cpu(n as usize),
                    _ => {
                        return Err(format!(
                            "expected a CPU number 0-{}, start or none",
                            libc::CPU_SETSIZE - 1
                        ))
                    }
                },
            };
            Ok(())
        },
    ),
    Flag::value(
        "netdev",
        "tun|dpdk|veth|af_xdp",
        Value("tun"),
        "(stackdrill) where packets travel: a tun device, a DPDK port (see --dpdk_devargs), a \
         veth pair read and written through AF_PACKET (needs no root), or one whose far end is \
         an AF_XDP socket",
        |c, v| {
            c.netdev = NetdevKind::from_name(v).ok_or("expected tun, dpdk, veth or af_xdp")?;
            Ok(())
        },
    ),
    Flag::value(
        "dpdk_eal_args",
        "ARGS",
        Unset("none"),
        "(stackdrill) more DPDK EAL arguments, space-separated (with --netdev=dpdk)",
        |c, v| {
            c.dpdk_eal_args = v.split_whitespace().map(str::to_string).collect();
            Ok(())
        },
    ),
    Flag::value(
        "dpdk_devargs",
        "DEVARGS",
        Unset("a net_tap device named tun0 in the run's namespace"),
        "(stackdrill) the DPDK device: any vdev (net_tap0,iface=x) or a PCI address",
        |c, v| values::non_empty(v, "a device").map(|d| c.dpdk_devargs = Some(d)),
    ),
    Flag::switch(
        "inherit_sysctls",
        "(stackdrill) keep the TCP settings a new network namespace copies from the host \
         (default congestion control, tcp_rmem, tcp_wmem) instead of resetting them to the \
         kernel's own defaults",
        |c| c.inherit_sysctls = true,
    ),
    Flag::value(
        "neighbour_answers",
        "on|off",
        Value("on"),
        "(stackdrill) on a layer-2 wire, the peer answers the stack's ARP requests and neighbour \
         solicitations itself; off: the stack's queries go to the script's arp/ndp lines, and \
         no neighbour entry is set up in advance",
        |c, v| {
            c.neighbour_answers = match v {
                "on" => true,
                "off" => false,
                _ => return Err("expected on or off".into()),
            };
            Ok(())
        },
    ),
    Flag {
        nplab: true,
        ..Flag::value(
            "local_linklocal_ip",
            "ADDR",
            Unset("none"),
            "(nplab) link-local address of the local side",
            |c, v| values::ip(v).map(|ip| c.local_linklocal_ip = Some(ip)),
        )
    },
    Flag {
        nplab: true,
        ..Flag::value(
            "gateway_linklocal_ip",
            "ADDR",
            Unset("none"),
            "(nplab) link-local address of the gateway",
            |c, v| values::ip(v).map(|ip| c.gateway_linklocal_ip = Some(ip)),
        )
    },
    Flag {
        nplab: true,
        ..Flag::value(
            "tcp_md5_secret",
            "SECRET",
            Unset("none"),
            "(nplab) key of the RFC 2385 digests `md5 valid` TCP options carry",
            |c, v| {
                if v.len() > MAX_TCP_MD5_SECRET_LEN {
                    return Err(format!("longer than {MAX_TCP_MD5_SECRET_LEN} bytes"));
                }
                c.tcp_md5_secret = Some(v.to_string());
                Ok(())
            },
        )
    },
    Flag {
        nplab: true,
        ..Flag::value(
            "udp_encapsulation",
            "sctp|tcp",
            Unset("none"),
            "(nplab) UDP-encapsulate SCTP or TCP packets",
            |c, v| {
                let encapsulation = UdpEncapsulation::from_name(v).ok_or("expected sctp or tcp")?;
                c.udp_encapsulation = Some(encapsulation);
                Ok(())
            },
        )
    },
    Flag {
        nplab: true,
        ..Flag::value(
            "tun_dev",
            "NAME",
            Unset("tun0"),
            "(nplab) name of the tun device",
            |c, v| values::interface(v).map(|dev| c.tun_dev = Some(dev)),
        )
    },
    Flag {
        nplab: true,
        ..Flag::switch(
            "persistent_tun_dev",
            "(nplab) use an existing tun device and keep it",
            |c| c.persistent_tun_dev = true,
        )
    },
    Flag {
        nplab: true,
        ..Flag::switch(
            "no_cleanup",
            "(nplab) skip the final RST/ABORT injection",
            |c| c.no_cleanup = true,
        )
    },
];

/// `--wire_server_ip` and its synonym `--wire_server_at`.
fn set_wire_server(config: &mut Config, value: &str) -> Result<(), Reason> {
    config.wire_server_ip = Some(values::host(value)?);
    config.wire_client = true;
    Ok(())
}
