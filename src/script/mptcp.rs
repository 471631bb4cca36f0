//! MPTCP in scripts, as the multipath-tcp/packetdrill fork writes it: the AST of the MPTCP
//! option (TCP option kind 30, RFC 8684) in every subtype's syntax, and the named subflow ends
//! (`addr[caddr0] > addr[saddr0]`). Values left open or named (`key[ckey]`, `hmac=auto`,
//! `dack8` without a number) are filled in at run time (`run::mptcp`).

/// TCP option kind of MPTCP (RFC 8684 §3).
pub const MPTCP_KIND: u8 = 30;

/// A named MPTCP value (`ckey`, `skey=2`): a key the script names, learned from the stack's
/// packets, generated for the peer, or given (`= N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpVar {
    pub name: String,
    pub value: Option<u64>,
}

/// A width-tagged sequence value: `dack4=N`, `dsn8=N`, or `dack8` with no number (outbound:
/// any value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MptcpSeq {
    /// true for the 8-byte form (`dack8`, `dsn8`).
    pub wide: bool,
    /// Relative to the sender's initial data sequence number.
    pub value: Option<u64>,
}

/// The token of an MP_JOIN SYN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpToken {
    /// `token=auto`: the receiver's token from the connection's keys.
    Auto,
    /// `token=sha256_32(skey)` (or `sha1_32`, MPTCP v0): the token of a named key.
    OfKey { name: String, sha1: bool },
    /// `token=N`.
    Value(u32),
}

/// The HMAC of an MP_JOIN SYN/ACK or ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpHmac {
    /// `sender_hmac=auto`: from the connection's keys and the subflow's nonces.
    Auto,
    /// `sender_hmac=trunc_l64_hmac(K1 K2)` / `full_160_hmac(K1 K2)`: from two named keys.
    OfKeys { first: String, second: String },
    /// `sender_hmac=N` or `trunc_l64_hmac(N)`.
    Value(u64),
}

/// What follows the address of an ADD_ADDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddAddrHmac {
    /// `addr_echo`: the echo form (E flag, no HMAC).
    Echo,
    /// `hmac=auto`: the truncated HMAC from the connection's keys.
    Auto,
    /// `hmac=N`.
    Value(u64),
    /// Neither: the fork's plain form (E flag set, no HMAC).
    None,
}

/// An MPTCP option in a script's option list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MptcpOption {
    /// `mpcapable v1 flags[flag_h] key[ckey, skey] mpcdatalen 100` (no key: `nokey`), or the
    /// fork's older `mp_capable a b` form.
    Capable {
        version: u8,
        flags: u8,
        /// 0, 1 or 2 keys, in wire order (sender's, receiver's).
        keys: Vec<MptcpVar>,
        /// `mpcdatalen N`: the data-level length of the data the packet carries.
        data_len: Option<u16>,
    },
    JoinSyn {
        backup: bool,
        address_id: Option<u8>,
        token: MptcpToken,
        nonce: Option<u32>,
    },
    JoinSynAck {
        backup: bool,
        address_id: Option<u8>,
        hmac: MptcpHmac,
        nonce: Option<u32>,
    },
    JoinAck {
        hmac: MptcpHmac,
    },
    /// `dss dack8=N dsn8=N ssn=N dll=N nocs fin`.
    Dss {
        data_ack: Option<MptcpSeq>,
        dsn: Option<MptcpSeq>,
        ssn: Option<u32>,
        data_len: Option<u16>,
        /// `None`: no checksum field (`nocs`); `Some(None)`: a checksum field computed
        /// (inbound) or not checked (outbound); `Some(Some(n))`: `cksum=N`.
        checksum: Option<Option<u16>>,
        fin: bool,
    },
    /// `add_address address_id=1 addr[saddr1] port=N hmac=auto|addr_echo`.
    AddAddress {
        address_id: Option<u8>,
        /// The address's name; `addr[ep=inet_addr("198.51.100.2")]` also gives its value.
        address: String,
        address_value: Option<std::net::IpAddr>,
        port: Option<u16>,
        hmac: AddAddrHmac,
    },
    /// `remove_address address_id=[1,2]`.
    RemoveAddress {
        ids: Vec<u8>,
    },
    /// `mp_prio backup=1 address_id=1`.
    Prio {
        backup: bool,
        address_id: Option<u8>,
    },
    /// `mp_fail dsn8=N`.
    Fail {
        dsn: Option<u64>,
    },
    /// `mp_fastclose [KEY[=N]]`: the receiver's key (inbound default: the stack's key;
    /// outbound default: not checked).
    FastClose {
        key: Option<MptcpVar>,
    },
    /// `mp_reset REASON [flags[flag_t]]`.
    Reset {
        reason: u8,
        transient: bool,
    },
}

impl MptcpOption {
    /// The option's length on the wire, kind and length bytes included (RFC 8684 §3).
    pub fn wire_len(&self) -> usize {
        match self {
            MptcpOption::Capable { keys, data_len, .. } => match (keys.len(), data_len) {
                (_, Some(_)) => 22,
                (0, None) => 4,
                (1, None) => 12,
                _ => 20,
            },
            MptcpOption::JoinSyn { .. } => 12,
            MptcpOption::JoinSynAck { .. } => 16,
            MptcpOption::JoinAck { .. } => 24,
            MptcpOption::Dss {
                data_ack,
                dsn,
                checksum,
                ..
            } => {
                let width = |s: &Option<MptcpSeq>| s.map_or(0, |s| if s.wide { 8 } else { 4 });
                let mapping = if dsn.is_some() {
                    width(dsn) + 6 + if checksum.is_some() { 2 } else { 0 }
                } else {
                    0
                };
                4 + width(data_ack) + mapping
            }
            MptcpOption::AddAddress {
                address_value,
                port,
                hmac,
                ..
            } => {
                let address = match address_value {
                    Some(std::net::IpAddr::V6(_)) => 16,
                    _ => 4,
                };
                let hmac = match hmac {
                    AddAddrHmac::Auto | AddAddrHmac::Value(_) => 8,
                    _ => 0,
                };
                4 + address + if port.is_some() { 2 } else { 0 } + hmac
            }
            MptcpOption::RemoveAddress { ids } => 3 + ids.len(),
            MptcpOption::Prio { address_id, .. } => 3 + usize::from(address_id.is_some()),
            MptcpOption::Fail { .. } | MptcpOption::FastClose { .. } => 12,
            MptcpOption::Reset { .. } => 4,
        }
    }

    /// The subtype's script name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            MptcpOption::Capable { .. } => "mpcapable",
            MptcpOption::JoinSyn { .. } => "mp_join_syn",
            MptcpOption::JoinSynAck { .. } => "mp_join_syn_ack",
            MptcpOption::JoinAck { .. } => "mp_join_ack",
            MptcpOption::Dss { .. } => "dss",
            MptcpOption::AddAddress { .. } => "add_address",
            MptcpOption::RemoveAddress { .. } => "remove_address",
            MptcpOption::Prio { .. } => "mp_prio",
            MptcpOption::Fail { .. } => "mp_fail",
            MptcpOption::FastClose { .. } => "mp_fastclose",
            MptcpOption::Reset { .. } => "mp_reset",
        }
    }
}

/// `addr[caddr0] > addr[saddr0]` before a TCP packet's flags: the names of the subflow's
/// source and destination ends (the source may be left out: the packet's usual one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MptcpTuple {
    pub source: Option<String>,
    pub destination: String,
}

impl std::fmt::Display for MptcpVar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value {
            Some(v) => write!(f, "{}={v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// The option in the fork's script syntax.
impl std::fmt::Display for MptcpOption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seq = |name: &str, s: &Option<MptcpSeq>| match s {
            None => String::new(),
            Some(s) => {
                let width = if s.wide { 8 } else { 4 };
                match s.value {
                    Some(v) => format!(" {name}{width}={v}"),
                    None => format!(" {name}{width}"),
                }
            }
        };
        let opt =
            |name: &str, v: Option<String>| v.map(|v| format!(" {name}={v}")).unwrap_or_default();
        let hmac = |h: &MptcpHmac| match h {
            MptcpHmac::Auto => "auto".to_string(),
            MptcpHmac::OfKeys { first, second } => format!("trunc_l64_hmac({first} {second})"),
            MptcpHmac::Value(v) => v.to_string(),
        };
        match self {
            MptcpOption::Capable {
                version,
                flags,
                keys,
                data_len,
            } => {
                write!(f, "mpcapable v{version} flags 0x{flags:x} ")?;
                if keys.is_empty() {
                    write!(f, "nokey")?;
                } else {
                    let keys: Vec<String> = keys.iter().map(ToString::to_string).collect();
                    write!(f, "key[{}]", keys.join(", "))?;
                }
                if let Some(len) = data_len {
                    write!(f, " mpcdatalen {len}")?;
                }
                Ok(())
            }
            MptcpOption::JoinSyn {
                backup,
                address_id,
                token,
                nonce,
            } => {
                let token = match token {
                    MptcpToken::Auto => "auto".to_string(),
                    MptcpToken::OfKey { name, sha1 } => {
                        format!("{}({name})", if *sha1 { "sha1_32" } else { "sha256_32" })
                    }
                    MptcpToken::Value(v) => v.to_string(),
                };
                write!(
                    f,
                    "mp_join_syn backup={}{} token={token}{}",
                    u8::from(*backup),
                    opt("address_id", address_id.map(|a| a.to_string())),
                    opt("rand", nonce.map(|n| n.to_string()))
                )
            }
            MptcpOption::JoinSynAck {
                backup,
                address_id,
                hmac: h,
                nonce,
            } => write!(
                f,
                "mp_join_syn_ack backup={}{} sender_hmac={}{}",
                u8::from(*backup),
                opt("address_id", address_id.map(|a| a.to_string())),
                hmac(h),
                opt("rand", nonce.map(|n| n.to_string()))
            ),
            MptcpOption::JoinAck { hmac: h } => write!(f, "mp_join_ack sender_hmac={}", hmac(h)),
            MptcpOption::Dss {
                data_ack,
                dsn,
                ssn,
                data_len,
                checksum,
                fin,
            } => {
                write!(
                    f,
                    "dss{}{}{}{}",
                    seq("dack", data_ack),
                    seq("dsn", dsn),
                    opt("ssn", ssn.map(|s| s.to_string())),
                    opt("dll", data_len.map(|d| d.to_string()))
                )?;
                match checksum {
                    None => write!(f, " nocs")?,
                    Some(Some(c)) => write!(f, " cksum={c}")?,
                    Some(None) => {}
                }
                if *fin {
                    write!(f, " fin")?;
                }
                Ok(())
            }
            MptcpOption::AddAddress {
                address_id,
                address,
                address_value,
                port,
                hmac,
            } => {
                write!(
                    f,
                    "add_address{}",
                    opt("address_id", address_id.map(|a| a.to_string()))
                )?;
                match address_value {
                    Some(std::net::IpAddr::V4(a)) => {
                        write!(f, " addr[{address}=inet_addr(\"{a}\")]")?
                    }
                    Some(std::net::IpAddr::V6(a)) => {
                        write!(f, " addr[{address}=inet6_addr(\"{a}\")]")?
                    }
                    None => write!(f, " addr[{address}]")?,
                }
                write!(f, "{}", opt("port", port.map(|p| p.to_string())))?;
                match hmac {
                    AddAddrHmac::Echo => write!(f, " addr_echo"),
                    AddAddrHmac::Auto => write!(f, " hmac=auto"),
                    AddAddrHmac::Value(v) => write!(f, " hmac={v}"),
                    AddAddrHmac::None => Ok(()),
                }
            }
            MptcpOption::RemoveAddress { ids } => {
                let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
                write!(f, "remove_address address_id=[{}]", ids.join(","))
            }
            MptcpOption::Prio { backup, address_id } => write!(
                f,
                "mp_prio backup={}{}",
                u8::from(*backup),
                opt("address_id", address_id.map(|a| a.to_string()))
            ),
            MptcpOption::Fail { dsn } => match dsn {
                Some(d) => write!(f, "mp_fail dsn8={d}"),
                None => write!(f, "mp_fail"),
            },
            MptcpOption::FastClose { key } => match key {
                Some(k) => write!(f, "mp_fastclose {k}"),
                None => write!(f, "mp_fastclose"),
            },
            MptcpOption::Reset { reason, transient } => {
                write!(f, "mp_reset {reason}")?;
                if *transient {
                    write!(f, " flags[flag_t]")?;
                }
                Ok(())
            }
        }
    }
}
