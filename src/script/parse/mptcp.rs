//! Building the MPTCP parts of a TCP packet (the fork's option syntax and `addr[NAME]`
//! subflow ends) from the grammar's pairs, with range errors at `FILE:LINE:COL`.

use pest::iterators::Pair;

use super::{Builder, Result, Rule};
use crate::script::mptcp::*;

impl Builder<'_> {
    pub(super) fn mptcp_tuple(&self, pair: Pair<Rule>) -> MptcpTuple {
        let names: Vec<String> = pair
            .into_inner()
            .map(|endpoint| endpoint.into_inner().nth(1).unwrap().as_str().to_string())
            .collect();
        match names.as_slice() {
            [destination] => MptcpTuple {
                source: None,
                destination: destination.clone(),
            },
            [source, destination, ..] => MptcpTuple {
                source: Some(source.clone()),
                destination: destination.clone(),
            },
            [] => unreachable!("the grammar requires a destination"),
        }
    }

    /// An unsigned number of up to 64 bits (keys, data sequence numbers).
    fn mptcp_u64(&self, pair: &Pair<Rule>, what: &str) -> Result<u64> {
        let text = pair.as_str();
        let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse::<u64>().ok(),
        };
        parsed.ok_or_else(|| {
            self.error(
                pair,
                format!("{what} {text} is out of range (0..=18446744073709551615)"),
            )
        })
    }

    fn mptcp_var(&self, pair: Pair<Rule>) -> Result<MptcpVar> {
        let mut parts = pair.into_inner();
        let name = parts.next().unwrap().as_str().to_string();
        let value = match parts.next() {
            Some(number) => Some(self.mptcp_u64(&number, "MPTCP key")?),
            None => None,
        };
        Ok(MptcpVar { name, value })
    }

    fn mptcp_flag_bit(&self, pair: &Pair<Rule>) -> Result<u8> {
        let text = pair.as_str();
        if text == "no_flags" {
            return Ok(0);
        }
        let letter = text.as_bytes()[5];
        if !(b'a'..=b'h').contains(&letter) {
            return Err(self.error(
                pair,
                format!("unknown MP_CAPABLE flag '{text}' (flag_a … flag_h, no_flags)"),
            ));
        }
        Ok(0x80 >> (letter - b'a'))
    }

    fn mptcp_backup(&self, pair: &Pair<Rule>) -> Result<bool> {
        let number = pair.clone().into_inner().nth(1).unwrap();
        match self.integer::<u8>(&number, "backup")? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.error(&number, "MPTCP backup flag must be 0 or 1")),
        }
    }

    /// `address_id=N` (None for `address_id=auto`).
    fn mptcp_address_id(&self, pair: &Pair<Rule>) -> Result<Option<u8>> {
        let value = pair.clone().into_inner().nth(1).unwrap();
        if value.as_rule() == Rule::kw_auto {
            return Ok(None);
        }
        Ok(Some(self.integer(&value, "address_id")?))
    }

    fn mptcp_seq(&self, pair: Pair<Rule>) -> Result<MptcpSeq> {
        let mut parts = pair.into_inner();
        let keyword = parts.next().unwrap();
        let wide = keyword.as_str().ends_with('8');
        let value = match parts.next() {
            None => None,
            Some(number) => {
                let value = self.mptcp_u64(&number, keyword.as_str())?;
                if !wide && value > u64::from(u32::MAX) {
                    return Err(self.error(
                        &number,
                        format!(
                            "{} {value} is out of range (0..=4294967295)",
                            keyword.as_str()
                        ),
                    ));
                }
                Some(value)
            }
        };
        Ok(MptcpSeq { wide, value })
    }

    fn mptcp_hmac(&self, pair: Pair<Rule>) -> Result<MptcpHmac> {
        let value = pair.into_inner().nth(1).unwrap();
        Ok(match value.as_rule() {
            Rule::kw_auto => MptcpHmac::Auto,
            Rule::mptcp_hmac_of => {
                let parts: Vec<Pair<Rule>> = value.into_inner().skip(1).collect();
                match parts.as_slice() {
                    [number] => MptcpHmac::Value(self.mptcp_u64(number, "HMAC")?),
                    [first, second] => MptcpHmac::OfKeys {
                        first: first.as_str().to_string(),
                        second: second.as_str().to_string(),
                    },
                    _ => unreachable!("the grammar gives one number or two names"),
                }
            }
            _ => MptcpHmac::Value(self.mptcp_u64(&value, "HMAC")?),
        })
    }

    fn mptcp_nonce(&self, pair: &Pair<Rule>) -> Result<u32> {
        self.integer(&pair.clone().into_inner().nth(1).unwrap(), "rand")
    }

    pub(super) fn mptcp_option(&self, whole: Pair<Rule>) -> Result<MptcpOption> {
        let pair = whole.into_inner().next().unwrap();
        let rule = pair.as_rule();
        let span_pair = pair.clone();
        let parts: Vec<Pair<Rule>> = pair.into_inner().skip(1).collect();
        let find = |r: Rule| parts.iter().find(|p| p.as_rule() == r).cloned();
        Ok(match rule {
            Rule::mptcp_capable => {
                let version = match find(Rule::mpc_version).as_ref().map(|p| p.as_str()) {
                    Some("v0") => 0,
                    _ => 1,
                };
                let flags_pair = find(Rule::mpc_flags).unwrap();
                let mut flags = 0u8;
                for item in flags_pair.into_inner().skip(1) {
                    if item.as_rule() == Rule::mpc_flag {
                        flags |= self.mptcp_flag_bit(&item)?;
                    } else {
                        flags = self.integer(&item, "MP_CAPABLE flags")?;
                    }
                }
                let keys = find(Rule::mpc_keys)
                    .unwrap()
                    .into_inner()
                    .filter(|p| p.as_rule() == Rule::mptcp_var)
                    .map(|p| self.mptcp_var(p))
                    .collect::<Result<Vec<_>>>()?;
                let data_len = match find(Rule::mpc_datalen) {
                    Some(p) => Some(self.integer(&p.into_inner().nth(1).unwrap(), "mpcdatalen")?),
                    None => None,
                };
                if data_len.is_some() && keys.len() != 2 {
                    return Err(self.error(
                        &span_pair,
                        "mpcdatalen needs both keys (key[SENDER, RECEIVER])",
                    ));
                }
                MptcpOption::Capable {
                    version,
                    flags,
                    keys,
                    data_len,
                }
            }
            Rule::mptcp_capable_legacy => {
                // The fork's first syntax (MPTCP v0): `mp_capable a [b] [flag_…]`, and
                // `mp_capable_no_cs` without the checksum-required flag A.
                let no_checksum = span_pair.as_str().starts_with("mp_capable_no_cs");
                let keys = parts
                    .iter()
                    .filter(|p| p.as_rule() == Rule::mptcp_var)
                    .map(|p| self.mptcp_var(p.clone()))
                    .collect::<Result<Vec<_>>>()?;
                let mut flags = 0u8;
                let mut no_flags = false;
                for p in parts.iter().filter(|p| p.as_rule() == Rule::mpc_flag) {
                    no_flags |= p.as_str() == "no_flags";
                    flags |= self.mptcp_flag_bit(p)?;
                }
                if no_flags {
                    flags = 0;
                } else if flags == 0 {
                    flags = if no_checksum { 0x01 } else { 0x81 };
                }
                MptcpOption::Capable {
                    version: 0,
                    flags,
                    keys,
                    data_len: None,
                }
            }
            Rule::mptcp_join_syn => {
                let token_pair = find(Rule::mptcp_token).unwrap();
                let value: Vec<Pair<Rule>> = token_pair.into_inner().skip(1).collect();
                let token = match value.as_slice() {
                    [auto] if auto.as_rule() == Rule::kw_auto => MptcpToken::Auto,
                    [number] => MptcpToken::Value(self.integer(number, "token")?),
                    [hash, name] => MptcpToken::OfKey {
                        name: name.as_str().to_string(),
                        sha1: hash.as_str() == "sha1_32",
                    },
                    _ => unreachable!("token forms"),
                };
                MptcpOption::JoinSyn {
                    backup: find(Rule::mptcp_backup)
                        .map_or(Ok(false), |p| self.mptcp_backup(&p))?,
                    address_id: find(Rule::mptcp_address_id)
                        .map_or(Ok(None), |p| self.mptcp_address_id(&p))?,
                    token,
                    nonce: find(Rule::mptcp_rand)
                        .map(|p| self.mptcp_nonce(&p))
                        .transpose()?,
                }
            }
            Rule::mptcp_join_syn_ack => MptcpOption::JoinSynAck {
                backup: find(Rule::mptcp_backup).map_or(Ok(false), |p| self.mptcp_backup(&p))?,
                address_id: find(Rule::mptcp_address_id)
                    .map_or(Ok(None), |p| self.mptcp_address_id(&p))?,
                hmac: self.mptcp_hmac(find(Rule::mptcp_hmac).unwrap())?,
                nonce: find(Rule::mptcp_rand)
                    .map(|p| self.mptcp_nonce(&p))
                    .transpose()?,
            },
            Rule::mptcp_join_ack => MptcpOption::JoinAck {
                hmac: self.mptcp_hmac(find(Rule::mptcp_hmac).unwrap())?,
            },
            Rule::mptcp_dss => {
                let data_ack = find(Rule::mptcp_dack)
                    .map(|p| self.mptcp_seq(p))
                    .transpose()?;
                let dsn = find(Rule::mptcp_dsn)
                    .map(|p| self.mptcp_seq(p))
                    .transpose()?;
                if data_ack.is_none() && dsn.is_none() {
                    return Err(self.error(
                        &span_pair,
                        "dss needs a data ACK (dack4/dack8) or a mapping (dsn4/dsn8)",
                    ));
                }
                let ssn = match find(Rule::mptcp_ssn) {
                    Some(p) => Some(self.integer(&p.into_inner().nth(1).unwrap(), "ssn")?),
                    None => None,
                };
                let data_len = match find(Rule::mptcp_dll) {
                    Some(p) => Some(self.integer(&p.into_inner().nth(1).unwrap(), "dll")?),
                    None => None,
                };
                let checksum = match find(Rule::mptcp_checksum) {
                    None => Some(None),
                    Some(p) => match p.into_inner().nth(1) {
                        None => None,
                        Some(n) => Some(Some(self.integer(&n, "cksum")?)),
                    },
                };
                MptcpOption::Dss {
                    data_ack,
                    dsn,
                    ssn,
                    data_len,
                    checksum,
                    fin: find(Rule::kw_fin).is_some(),
                }
            }
            Rule::mptcp_add_address => {
                let addr = find(Rule::mptcp_add_addr).unwrap();
                let mut addr_parts = addr.into_inner().skip(1);
                let address = addr_parts.next().unwrap().as_str().to_string();
                let address_value = match addr_parts.next() {
                    None => None,
                    Some(function) => {
                        let string = addr_parts.next().unwrap();
                        let text = string.as_str().trim_matches('"');
                        let parsed: Option<std::net::IpAddr> = match function.as_str() {
                            "inet_addr" => text.parse::<std::net::Ipv4Addr>().ok().map(Into::into),
                            "inet6_addr" => text.parse::<std::net::Ipv6Addr>().ok().map(Into::into),
                            other => {
                                return Err(self.error(
                                    &function,
                                    format!(
                                        "{other}() is not an address (inet_addr or inet6_addr)"
                                    ),
                                ))
                            }
                        };
                        Some(parsed.ok_or_else(|| {
                            self.error(&string, format!("bad IP address {}", string.as_str()))
                        })?)
                    }
                };
                let hmac = match find(Rule::mptcp_add_addr_hmac) {
                    None => AddAddrHmac::None,
                    Some(p) => {
                        let inner: Vec<Pair<Rule>> = p.into_inner().collect();
                        match inner.as_slice() {
                            [echo] if echo.as_rule() == Rule::kw_addr_echo => AddAddrHmac::Echo,
                            [_, auto] if auto.as_rule() == Rule::kw_auto => AddAddrHmac::Auto,
                            [_, number] => AddAddrHmac::Value(self.mptcp_u64(number, "hmac")?),
                            _ => unreachable!("add_address hmac forms"),
                        }
                    }
                };
                MptcpOption::AddAddress {
                    address_id: find(Rule::mptcp_address_id)
                        .map_or(Ok(None), |p| self.mptcp_address_id(&p))?,
                    address,
                    address_value,
                    port: match find(Rule::mptcp_port) {
                        Some(p) => Some(self.integer(&p.into_inner().nth(1).unwrap(), "port")?),
                        None => None,
                    },
                    hmac,
                }
            }
            Rule::mptcp_remove_address => MptcpOption::RemoveAddress {
                ids: parts
                    .iter()
                    .filter(|p| p.as_rule() == Rule::mptcp_number)
                    .map(|p| self.integer(p, "address_id"))
                    .collect::<Result<Vec<u8>>>()?,
            },
            Rule::mptcp_prio => MptcpOption::Prio {
                backup: find(Rule::mptcp_backup).map_or(Ok(false), |p| self.mptcp_backup(&p))?,
                address_id: find(Rule::mptcp_address_id)
                    .map_or(Ok(None), |p| self.mptcp_address_id(&p))?,
            },
            Rule::mptcp_fail => {
                let dsn = find(Rule::mptcp_dsn)
                    .map(|p| self.mptcp_seq(p))
                    .transpose()?;
                if dsn.is_some_and(|d| !d.wide) {
                    return Err(self.error(&span_pair, "mp_fail carries a 64-bit DSN (dsn8)"));
                }
                MptcpOption::Fail {
                    dsn: dsn.and_then(|d| d.value),
                }
            }
            Rule::mptcp_fastclose => MptcpOption::FastClose {
                key: find(Rule::mptcp_var)
                    .map(|p| self.mptcp_var(p))
                    .transpose()?,
            },
            Rule::mptcp_reset => {
                let reason = self.integer(&find(Rule::mptcp_number).unwrap(), "mp_reset reason")?;
                let transient = match find(Rule::mpc_flag) {
                    None => false,
                    Some(flag) if flag.as_str() == "flag_t" => true,
                    Some(flag) if flag.as_str() == "no_flags" => false,
                    Some(flag) => {
                        return Err(self.error(
                            &flag,
                            format!(
                                "unknown MP_TCPRST flag '{}' (flag_t, no_flags)",
                                flag.as_str()
                            ),
                        ))
                    }
                };
                MptcpOption::Reset { reason, transient }
            }
            other => unreachable!("unexpected {other:?} as MPTCP option"),
        })
    }
}
