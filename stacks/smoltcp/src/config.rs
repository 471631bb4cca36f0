//! The adapter's knobs: parsing `--so_flags` (`key=value` pairs separated by spaces or commas)
//! into a [`StackConfig`], with the documented defaults.

use std::fmt;

/// Congestion control algorithm of new TCP sockets (`cc=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionChoice {
    None,
    Reno,
    Cubic,
}

impl CongestionChoice {
    pub fn name(self) -> &'static str {
        match self {
            CongestionChoice::None => "none",
            CongestionChoice::Reno => "reno",
            CongestionChoice::Cubic => "cubic",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "none" => Some(CongestionChoice::None),
            "reno" => Some(CongestionChoice::Reno),
            "cubic" => Some(CongestionChoice::Cubic),
            _ => None,
        }
    }
}

/// Largest socket buffer smoltcp accepts (its TCP window-scale limit).
pub const MAX_SOCKET_BUFFER: usize = 1 << 30;
/// Smallest socket buffer the adapter creates.
pub const MIN_SOCKET_BUFFER: usize = 256;
/// Largest `ack_delay=` (ms).
const MAX_ACK_DELAY_MS: u64 = 60_000;
/// Largest `syn_timeout=` (ms): one day.
const MAX_SYN_TIMEOUT_MS: u64 = 86_400_000;
/// Linux's TCP_MIN_MSS: the smallest MSS setsockopt(TCP_MAXSEG) and `mss=` accept.
pub const MIN_MSS: u16 = 88;

/// Everything `--so_flags` can change. See README.md for the meaning of each knob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackConfig {
    /// `mss=`: MSS advertised in SYNs and used as the largest segment; `None` derives it from
    /// the MTU.
    pub mss: Option<u16>,
    /// `rcvbuf=`: receive buffer bytes of each new socket.
    pub rcvbuf: usize,
    /// `sndbuf=`: send buffer bytes of each new socket.
    pub sndbuf: usize,
    /// `wscale=`: offer and accept the window scale option.
    pub window_scaling: bool,
    /// `timestamps=`: offer and accept the timestamp option.
    pub timestamps: bool,
    /// `sack=`: offer and accept SACK-permitted.
    pub sack: bool,
    /// `nagle=`: Nagle's algorithm on new TCP sockets (TCP_NODELAY turns it off).
    pub nagle: bool,
    /// `ack_delay=`: delayed-ACK timeout in ms, 0 for no delayed ACKs.
    pub ack_delay_ms: u64,
    /// `cc=`: congestion control of new TCP sockets.
    pub congestion: CongestionChoice,
    /// `seed=`: smoltcp's random seed (initial sequence numbers).
    pub seed: u64,
    /// `syn_timeout=`: ms a connect keeps retrying its SYN before failing with ETIMEDOUT.
    pub syn_timeout_ms: u64,
    /// `debug=`: log calls and packets to stderr.
    pub debug: bool,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            mss: None,
            rcvbuf: 65536,
            sndbuf: 65536,
            window_scaling: true,
            timestamps: true,
            sack: true,
            nagle: true,
            ack_delay_ms: 40,
            congestion: CongestionChoice::Reno,
            seed: 0x5eed_cafe,
            syn_timeout_ms: 127_000,
            debug: false,
        }
    }
}

/// The knob names, for error messages and the README.
pub const KNOWN_KEYS: &[&str] = &[
    "mss",
    "rcvbuf",
    "sndbuf",
    "wscale",
    "timestamps",
    "sack",
    "nagle",
    "ack_delay",
    "cc",
    "seed",
    "syn_timeout",
    "debug",
];

/// A `--so_flags` string that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stackdrill-smoltcp: bad --so_flags key '{}': {}",
            self.key, self.problem
        )
    }
}

impl StackConfig {
    /// Parses `--so_flags` (NULL is `None`): `key=value` pairs separated by spaces or commas.
    pub fn from_so_flags(flags: Option<&str>) -> Result<StackConfig, ConfigError> {
        let mut config = StackConfig::default();
        let Some(flags) = flags else {
            return Ok(config);
        };
        for pair in flags
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|pair| !pair.is_empty())
        {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(ConfigError {
                    key: pair.to_string(),
                    problem: "expected key=value".to_string(),
                });
            };
            config.apply(key, value).map_err(|problem| ConfigError {
                key: key.to_string(),
                problem,
            })?;
        }
        Ok(config)
    }

    fn apply(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "mss" => {
                let mss = parse_number(value)?;
                if !(u64::from(MIN_MSS)..=65535).contains(&mss) {
                    return Err(format!("{mss} is outside {MIN_MSS}..=65535"));
                }
                self.mss = Some(mss as u16);
            }
            "rcvbuf" => self.rcvbuf = parse_buffer_size(value)?,
            "sndbuf" => self.sndbuf = parse_buffer_size(value)?,
            "wscale" => self.window_scaling = parse_switch(value)?,
            "timestamps" => self.timestamps = parse_switch(value)?,
            "sack" => self.sack = parse_switch(value)?,
            "nagle" => self.nagle = parse_switch(value)?,
            "ack_delay" => self.ack_delay_ms = parse_bounded(value, MAX_ACK_DELAY_MS)?,
            "cc" => {
                self.congestion = CongestionChoice::from_name(value)
                    .ok_or_else(|| format!("'{value}' is not one of none, reno, cubic"))?
            }
            "seed" => self.seed = parse_number(value)?,
            "syn_timeout" => self.syn_timeout_ms = parse_bounded(value, MAX_SYN_TIMEOUT_MS)?,
            "debug" => self.debug = parse_switch(value)?,
            _ => {
                return Err(format!(
                    "unknown key (known keys: {})",
                    KNOWN_KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }
}

fn parse_number(value: &str) -> Result<u64, String> {
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => value.parse::<u64>(),
    };
    parsed.map_err(|_| format!("'{value}' is not a non-negative integer"))
}

fn parse_bounded(value: &str, max: u64) -> Result<u64, String> {
    let number = parse_number(value)?;
    if number > max {
        return Err(format!("{number} is above the maximum {max}"));
    }
    Ok(number)
}

fn parse_buffer_size(value: &str) -> Result<usize, String> {
    let bytes = parse_number(value)?;
    if !(MIN_SOCKET_BUFFER as u64..=MAX_SOCKET_BUFFER as u64).contains(&bytes) {
        return Err(format!(
            "{bytes} is outside {MIN_SOCKET_BUFFER}..={MAX_SOCKET_BUFFER} bytes"
        ));
    }
    Ok(bytes as usize)
}

fn parse_switch(value: &str) -> Result<bool, String> {
    match value {
        "on" | "1" | "yes" | "true" => Ok(true),
        "off" | "0" | "no" | "false" => Ok(false),
        _ => Err(format!("'{value}' is not on/off")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_and_empty_flags_give_defaults() {
        assert_eq!(StackConfig::from_so_flags(None), Ok(StackConfig::default()));
        assert_eq!(
            StackConfig::from_so_flags(Some(" ,, ")),
            Ok(StackConfig::default())
        );
    }

    #[test]
    fn pairs_split_on_spaces_and_commas() {
        let config =
            StackConfig::from_so_flags(Some("mss=1000,sack=off timestamps=0  cc=cubic,seed=0x10"))
                .unwrap();
        assert_eq!(config.mss, Some(1000));
        assert!(!config.sack);
        assert!(!config.timestamps);
        assert_eq!(config.congestion, CongestionChoice::Cubic);
        assert_eq!(config.seed, 16);
    }

    #[test]
    fn errors_name_the_key() {
        let err = StackConfig::from_so_flags(Some("mss=1000 bogus=1")).unwrap_err();
        assert_eq!(err.key, "bogus");
        assert!(err.to_string().contains("'bogus'"));
        let err = StackConfig::from_so_flags(Some("sack=maybe")).unwrap_err();
        assert_eq!(err.key, "sack");
        let err = StackConfig::from_so_flags(Some("rcvbuf=10")).unwrap_err();
        assert_eq!(err.key, "rcvbuf");
        let err = StackConfig::from_so_flags(Some("nagle")).unwrap_err();
        assert_eq!(err.key, "nagle");
    }
}
