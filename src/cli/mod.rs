//! Every flag stackdrill takes — packetdrill's, on the command line and in script option
//! lines, and suite mode's — with its default, check and meaning, each defined once.
//!
//! - [`flags`]: the packetdrill flags, one [`flags::Flag`] entry each (name, short letter,
//!   value placeholder, default, help, how the value is checked and applied to [`Config`]).
//! - [`suite`]: suite mode's flags, the same way, applied to [`SuiteOptions`].
//! - [`values`]: the typed values flags parse into and the parsers that check them.
//! - [`getopt`]: the command line, read the way packetdrill's `getopt_long` reads it.
//! - [`usage`](mod@usage): `--help` and `--version`, written from the tables.
//!
//! [`Config::apply`] turns one [`OptionSetting`] into typed configuration (validating it), and
//! is used both for script option lines (`--name[=value]`, exact names only) and for the
//! command line. [`parse_command_line`] only *collects* settings (in order) and script paths;
//! the caller applies script settings first and then the command-line settings to the same
//! [`Config`], so the command line wins, exactly as packetdrill does. [`Config::default`] is
//! built from the table too: every default that is a value is applied through its flag's own
//! parser, so `--help` cannot show a default other than the one used.
//!
//! Suite mode's flags are defined here, not in `crate::suite`, because the command line is one
//! namespace (prefixes and ambiguity span every flag, `--help` lists every flag); so that each
//! is written once, its typed result [`SuiteOptions`] lives here as well. `cli` stays a leaf:
//! it uses nothing of `run`, `sut`, `suite` or `introspect`, which read its results.
//!
//! To add a flag, add one entry to [`flags::FLAGS`] (and its field to [`Config`]) or, for suite
//! mode, to [`suite::SUITE_FLAGS`] (and its field to [`SuiteOptions`]); nothing else lists it.
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

pub mod flags;
pub mod getopt;
pub mod suite;
pub mod usage;
pub mod values;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

pub use getopt::parse_command_line;
pub use suite::SuiteOptions;
pub use usage::{usage, version_text};
pub use values::{
    CodeFormat, CodeSockopt, CpuPin, IpPrefix, IpVersion, NetdevKind, UdpEncapsulation,
};

use flags::{Refusal, FLAGS};
use values::one_line;

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// One field per packetdrill option; the defaults are the flags' (see [`flags::FLAGS`]).
/// Address defaults that depend on the address family (remote/local/gateway) are `None` here
/// and filled in when the run is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `--ip_version`; `None` = auto (IPv6 if the host's primary address is IPv6).
    pub ip_version: Option<IpVersion>,
    /// `--bind_port`.
    pub bind_port: u16,
    /// `--connect_port`.
    pub connect_port: u16,
    /// `--remote_ip` `addr[/prefix]`; `None` = v4 `192.0.2.1/24`, v6 `2001:DB8::1/32`.
    pub remote_ip: Option<IpPrefix>,
    /// `--local_ip`; `None` = random address in the family's local range.
    pub local_ip: Option<IpAddr>,
    /// `--gateway_ip`; `None` = v4 `192.168.0.1`, v6 `fd3d:fa7b:d17d:8888::0`.
    pub gateway_ip: Option<IpAddr>,
    /// `--netmask_ip`, IPv4 only.
    pub netmask_ip: Ipv4Addr,
    /// `--speed` in Mbps; 0 = leave the link speed alone.
    pub speed: u32,
    /// `--mss`; 0 = no GSO injection.
    pub mss: u32,
    /// `--mtu` (only a value other than the tun driver's default is applied).
    pub mtu: u32,
    /// `--init_scripts`, split at commas (empty pieces dropped).
    pub init_scripts: Vec<String>,
    /// `--tolerance_usecs`.
    pub tolerance_usecs: u32,
    /// `--tolerance_percent`.
    pub tolerance_percent: f64,
    /// `--tcp_ts_ecr_scaled`.
    pub tcp_ts_ecr_scaled: bool,
    /// `--tcp_ts_tick_usecs`; 0 = don't check outbound TS val.
    pub tcp_ts_tick_usecs: u32,
    /// `--strict_ts_ecr` (stackdrill): compare outbound TS ecr with the script's.
    pub strict_ts_ecr: bool,
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
    /// `--wire_server_port`.
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
    /// `--code_command`.
    pub code_command: String,
    /// `--code_format`.
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
    /// (nplab) `--tcp_md5_secret`: the key `md5 valid` options are signed and checked with.
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
    /// (stackdrill) `--netdev`: where packets travel.
    pub netdev: NetdevKind,
    /// (stackdrill) `--dpdk_eal_args`: more arguments for DPDK's EAL, split at spaces.
    pub dpdk_eal_args: Vec<String>,
    /// (stackdrill) `--dpdk_devargs`: the DPDK device; None = a net_tap vdev named tun0 in the
    /// run's namespace.
    pub dpdk_devargs: Option<String>,
    /// (stackdrill) `--neighbour_answers`: whether the peer of a layer-2 wire answers the
    /// stack's neighbour queries itself.
    pub neighbour_answers: bool,
    /// `--inherit_sysctls`: keep the TCP settings a new namespace copies from the host instead
    /// of the kernel's defaults.
    pub inherit_sysctls: bool,
}

impl Default for Config {
    /// Every flag's default, from [`flags::FLAGS`]: the fields start unset (`None`, `false`,
    /// 0, empty) and each default that is a value is applied through its flag.
    fn default() -> Self {
        let mut config = Self {
            ip_version: None,
            bind_port: 0,
            connect_port: 0,
            remote_ip: None,
            local_ip: None,
            gateway_ip: None,
            netmask_ip: Ipv4Addr::UNSPECIFIED,
            speed: 0,
            mss: 0,
            mtu: 0,
            init_scripts: Vec::new(),
            tolerance_usecs: 0,
            tolerance_percent: 0.0,
            tcp_ts_ecr_scaled: false,
            strict_ts_ecr: false,
            tcp_ts_tick_usecs: 0,
            strict_segments: false,
            non_fatal_packet: false,
            non_fatal_syscall: false,
            wire_client: false,
            wire_server: false,
            wire_server_ip: None,
            wire_server_port: 0,
            wire_client_dev: None,
            wire_server_dev: None,
            so_filename: None,
            userspace_stack: false,
            so_flags: None,
            dry_run: false,
            is_anyip: false,
            send_omit_free: false,
            psp_udp_port: 0,
            http_port: None,
            code_command: String::new(),
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
            netdev: NetdevKind::Tun,
            dpdk_eal_args: Vec::new(),
            dpdk_devargs: None,
            neighbour_answers: false,
            inherit_sysctls: false,
        };
        for flag in FLAGS {
            flag.apply_default(&mut config);
        }
        config
    }
}

impl Config {
    /// Apply one option (same names as the long flags, without "--"). Used for script option
    /// lines (exact names only, no prefix abbreviation) and for the command line.
    ///
    /// Checks, in this order: the name is known, a flag-only option has no value, an option
    /// needing a value has one, the value is valid. On error `self` is unchanged.
    pub fn apply(&mut self, setting: &OptionSetting) -> Result<(), ConfigError> {
        let name = setting.name.as_str();
        let flag = flags::find(FLAGS, name)
            .ok_or_else(|| ConfigError::unknown(name, FLAGS.iter().map(|flag| flag.name)))?;
        let value = setting.value.as_deref();
        flag.apply(self, value).map_err(|refusal| {
            let name = name.to_string();
            match refusal {
                Refusal::ForbidsArgument => ConfigError::ForbidsArgument { name },
                Refusal::RequiresArgument => ConfigError::RequiresArgument { name },
                Refusal::Bad(reason) => ConfigError::BadValue {
                    name,
                    value: value.unwrap_or_default().to_string(),
                    reason: Some(reason),
                },
            }
        })
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
// Settings, command line, errors
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

/// What the command line says: the scripts and the settings in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandLine {
    /// Script paths, in order (may be empty; the caller decides whether that is an error).
    pub scripts: Vec<PathBuf>,
    /// Every option setting in command-line order (names are the full long names).
    pub settings: Vec<OptionSetting>,
    /// Suite-mode settings (see [`suite::SUITE_FLAGS`]), in command-line order; checked by
    /// [`SuiteOptions::from_settings`] when suite mode runs.
    pub suite_settings: Vec<OptionSetting>,
    /// `-h`/`--help` was given: print [`usage()`] and exit 0. Parsing stops there.
    pub help: bool,
    /// `--version` was given: print [`version_text`] and exit 0. Parsing stops there.
    pub version: bool,
}

/// A configuration problem. Every `Display` text is one line without trailing newline and
/// without location; the caller prefixes `FILE:LINE:COL: error: ` or `stackdrill: error: `.
/// Option names appear as written by the user minus the leading dashes (for short options:
/// the letter), except in `forbids`/`requires`, which name the full option.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No such option; `suggestion`: the known option closest to it, if one is close.
    #[error(
        "option '{}' unknown{}",
        one_line(.name),
        .suggestion.as_deref().map(|s| format!(" (did you mean --{s}?)")).unwrap_or_default()
    )]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
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

impl ConfigError {
    /// An unknown option `name`, suggesting the closest of `known` (a typo's likely target).
    pub fn unknown<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Self {
        ConfigError::Unknown {
            name: name.to_string(),
            suggestion: crate::catalog::suggest::closest(name, known).map(str::to_string),
        }
    }
}
