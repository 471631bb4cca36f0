//! Building the AST of nplab's SCTP packet lines: the common header options, the chunk list
//! or raw chunk bytes, and each chunk's, parameter's and error cause's fields, checked against
//! the names in `catalog::sctp`.

use pest::iterators::Pair;

use super::{Builder, Result, Rule};
use crate::catalog::sctp::{self, Holds, SctpKind, Table};
use crate::catalog::suggest;
use crate::script::ast::*;

impl Builder<'_> {
    pub(super) fn sctp_packet(&self, pair: Pair<Rule>) -> Result<SctpPacket> {
        let mut packet = SctpPacket {
            ports: None,
            bad_crc32c: false,
            zero_checksum: false,
            tag: None,
            udp_encapsulation: None,
            chunks: SctpChunks::List(Vec::new()),
            keyword: Span::default(),
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::port_pair => packet.ports = Some(self.ports(part)?),
                Rule::kw_sctp => packet.keyword = self.span(&part),
                Rule::sctp_header => {
                    for item in part.into_inner() {
                        let mut inner = item.into_inner();
                        let key = inner.next().unwrap();
                        match key.as_rule() {
                            Rule::kw_bad_crc32c => packet.bad_crc32c = true,
                            Rule::kw_zero_checksum => packet.zero_checksum = true,
                            _ => {
                                let value = inner.next().unwrap();
                                packet.tag = Some(self.integer(&value, "SCTP tag")?);
                            }
                        }
                    }
                    if packet.bad_crc32c && packet.zero_checksum {
                        return Err(self.error_at(
                            packet.keyword,
                            "an SCTP packet cannot have both bad_crc32c and zero_checksum",
                        ));
                    }
                }
                Rule::udp_encap => packet.udp_encapsulation = Some(self.udp_encap(part)?),
                Rule::sctp_raw => {
                    let bytes = part
                        .into_inner()
                        .map(|b| self.integer::<u8>(&b, "SCTP chunk byte"))
                        .collect::<Result<Vec<u8>>>()?;
                    packet.chunks = SctpChunks::Raw(bytes);
                }
                Rule::sctp_chunks => {
                    let chunks = part
                        .into_inner()
                        .map(|item| self.sctp_item(item, Table::Chunks))
                        .collect::<Result<Vec<_>>>()?;
                    packet.chunks = SctpChunks::List(chunks);
                }
                other => unreachable!("unexpected {other:?} in SCTP packet"),
            }
        }
        Ok(packet)
    }

    /// `NAME[...]` looked up in `table`, its fields and nested items checked.
    fn sctp_item(&self, pair: Pair<Rule>, table: Table) -> Result<SctpItem> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name_pair = inner.next().unwrap();
        let name = name_pair.as_str();
        let Some(kind) = sctp::find(table, name) else {
            let names = table.kinds().iter().map(|k| k.name);
            let hint = suggest::did_you_mean(name, names, "");
            return Err(self.error(
                &name_pair,
                format!("unknown {} '{name}'{hint}", table.what()),
            ));
        };
        let mut elements = Vec::new();
        for element in inner {
            let element = element.into_inner().next().unwrap();
            match element.as_rule() {
                Rule::sctp_ellipsis => elements.push(SctpElement::Ellipsis(self.span(&element))),
                Rule::sctp_item => {
                    let nested = match kind.holds {
                        Holds::Parameters => Table::Parameters,
                        Holds::Causes => Table::Causes,
                        Holds::Nothing => {
                            return Err(self.error(
                                &element,
                                format!("{name} takes no parameters or error causes"),
                            ))
                        }
                    };
                    elements.push(SctpElement::Item(self.sctp_item(element, nested)?));
                }
                _ => elements.push(self.sctp_field(element, kind, &elements)?),
            }
        }
        Ok(SctpItem {
            name: Spanned {
                value: name.to_string(),
                span: self.span(&name_pair),
            },
            elements,
            span,
        })
    }

    fn sctp_field(
        &self,
        pair: Pair<Rule>,
        kind: &SctpKind,
        before: &[SctpElement],
    ) -> Result<SctpElement> {
        let mut inner = pair.into_inner();
        let name_pair = inner.next().unwrap();
        let name = name_pair.as_str();
        if !kind.fields.contains(&name) {
            let hint = suggest::did_you_mean(name, kind.fields.iter().copied(), "");
            let takes = if kind.fields.is_empty() {
                "no fields".to_string()
            } else {
                kind.fields.join(", ")
            };
            return Err(self.error(
                &name_pair,
                format!(
                    "{} has no field '{name}' (it takes {takes}){hint}",
                    kind.name
                ),
            ));
        }
        let repeated = before
            .iter()
            .any(|e| matches!(e, SctpElement::Field { name: n, .. } if n.value == name));
        if repeated {
            return Err(self.error(&name_pair, format!("field '{name}' given twice")));
        }
        let value_pair = inner.next().unwrap();
        let value = self.sctp_value(value_pair.clone(), name)?;
        if name == "flgs" {
            self.check_sctp_flags(&value_pair, &value, kind)?;
        }
        Ok(SctpElement::Field {
            name: Spanned {
                value: name.to_string(),
                span: self.span(&name_pair),
            },
            value,
        })
    }

    /// `flgs=` is a number that fits 8 bits, `...`, or the letters the chunk defines.
    fn check_sctp_flags(
        &self,
        pair: &Pair<Rule>,
        value: &SctpValue,
        kind: &SctpKind,
    ) -> Result<()> {
        match value {
            SctpValue::Any => Ok(()),
            SctpValue::Integer(n) if (0..=255).contains(n) => Ok(()),
            SctpValue::Integer(n) => {
                Err(self.error(pair, format!("flgs {n} is out of range (0..=255)")))
            }
            SctpValue::Word(letters) if !kind.flag_letters.is_empty() => {
                let mut seen = 0u8;
                for c in letters.chars() {
                    let Some(&(_, bit)) = kind.flag_letters.iter().find(|&&(l, _)| l == c) else {
                        let allowed: String = kind.flag_letters.iter().map(|&(l, _)| l).collect();
                        return Err(self.error(
                            pair,
                            format!("{} flag '{c}' is unknown (flags are {allowed})", kind.name),
                        ));
                    };
                    if seen & bit != 0 {
                        return Err(self.error(pair, format!("flag '{c}' given twice")));
                    }
                    seen |= bit;
                }
                Ok(())
            }
            _ => Err(self.error(pair, format!("{} flags must be a number or ...", kind.name))),
        }
    }

    fn sctp_value(&self, pair: Pair<Rule>, field: &str) -> Result<SctpValue> {
        let pair = if pair.as_rule() == Rule::sctp_value {
            pair.into_inner().next().unwrap()
        } else {
            pair
        };
        Ok(match pair.as_rule() {
            Rule::sctp_ellipsis => SctpValue::Any,
            Rule::sctp_number => SctpValue::Integer(self.sctp_number(&pair)?),
            Rule::sctp_word => {
                let word = pair.as_str();
                let known = field == "flgs" || sctp::is_type_name(word) || word == "SCTP_OVER_DTLS";
                if !known {
                    return Err(self.undefined_word(&pair));
                }
                SctpValue::Word(word.to_string())
            }
            Rule::ip_address => SctpValue::Address(self.ip_address(&pair)?),
            Rule::strings => {
                let mut bytes = Vec::new();
                for part in pair.into_inner() {
                    if part.as_rule() == Rule::string {
                        let body = part.into_inner().next().unwrap();
                        bytes.extend(self.unescape(&body)?);
                    }
                }
                SctpValue::Bytes(ByteString(bytes))
            }
            Rule::sctp_item => {
                let table = match field {
                    "chk" => Table::Chunks,
                    _ => Table::Parameters,
                };
                SctpValue::Item(self.sctp_item(pair, table)?)
            }
            Rule::sctp_list => SctpValue::List(
                pair.into_inner()
                    .map(|entry| {
                        let entry = entry.into_inner().next().unwrap();
                        match entry.as_rule() {
                            Rule::sctp_gap => {
                                let mut ends = entry.into_inner();
                                let start = self.sctp_number(&ends.next().unwrap())?;
                                let end = self.sctp_number(&ends.next().unwrap())?;
                                Ok(SctpValue::Range(start, end))
                            }
                            Rule::sctp_tuple => Ok(SctpValue::Tuple(
                                entry
                                    .into_inner()
                                    .map(|n| self.sctp_number(&n))
                                    .collect::<Result<_>>()?,
                            )),
                            _ => self.sctp_value(entry, field),
                        }
                    })
                    .collect::<Result<_>>()?,
            ),
            other => unreachable!("unexpected {other:?} as SCTP value"),
        })
    }

    fn sctp_number(&self, pair: &Pair<Rule>) -> Result<i64> {
        self.integer_value(&pair.clone().into_inner().next().unwrap())
    }
}
