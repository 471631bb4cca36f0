//! From script text to [`Script`]: runs the text passes, the pest grammar, then builds and
//! checks the AST, reporting every problem at its `FILE:LINE:COL`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use pest::iterators::Pair;
use pest::Parser as _;

use crate::catalog::{icmp, suggest, symbols, syscalls};

use super::ast::*;
use super::defines::{self, Expanded};
use super::error::{LineIndex, ScriptError};

mod mptcp;
mod sctp;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/packetdrill.pest"]
struct PacketdrillParser;

type Result<T> = std::result::Result<T, ScriptError>;

/// Largest TCP option space.
const MAX_TCP_OPTIONS_LEN: usize = 40;
/// At most 40 bytes of options fit in an IPv4 header (RFC 791); the same bound serves the
/// options of an IPv6 destination options header.
const MAX_IP_OPTIONS_LEN: usize = 40;

/// Parses a script. `defines` are the command line's `-D` values; the script's own
/// `--define=` lines are applied first and the command line's win.
pub fn parse_source(
    path: &str,
    source: &str,
    defines: &BTreeMap<String, String>,
) -> Result<Script> {
    parse_source_with_profile(path, source, &BTreeMap::new(), defines)
}

/// [`parse_source`] under a target's profile of defines, which the script's `--define=` lines
/// and then the command line's `-D` values override.
pub fn parse_source_with_profile(
    path: &str,
    source: &str,
    profile: &BTreeMap<String, String>,
    defines: &BTreeMap<String, String>,
) -> Result<Script> {
    let text_error =
        |e: defines::TextError| ScriptError::at(path, source.as_bytes(), e.offset, e.message);
    defines::check_nesting(source).map_err(text_error)?;

    // First pass: the option lines, for in-script defines.
    let mut all_defines = profile.clone();
    for (name, value) in script_defines(path, source)? {
        all_defines.insert(name, value);
    }
    all_defines.extend(defines.iter().map(|(k, v)| (k.clone(), v.clone())));

    let prepared = defines::resolve_ifdefs(source, &all_defines).map_err(text_error)?;
    let expanded = defines::expand(&prepared, &all_defines);
    let builder = Builder {
        path,
        source,
        expanded: &expanded,
        source_lines: LineIndex::new(source),
        define_names: all_defines.keys().cloned().collect(),
    };
    let mut pairs = PacketdrillParser::parse(Rule::script, &expanded.text).map_err(|_| {
        // Parse again, slower, recording which tokens would have been accepted where it failed.
        pest::set_error_detail(true);
        let detailed = PacketdrillParser::parse(Rule::script, &expanded.text)
            .expect_err("the same input fails again");
        pest::set_error_detail(false);
        builder.syntax_error(detailed)
    })?;
    let script = pairs
        .next()
        .expect("the script rule always yields one pair");
    builder.script(script)
}

/// `--define=NAME=VALUE` lines of the option header, in order.
fn script_defines(path: &str, source: &str) -> Result<Vec<(String, String)>> {
    let Ok(mut pairs) = PacketdrillParser::parse(Rule::prelude, source) else {
        return Ok(Vec::new()); // the full parse reports the problem
    };
    let mut out = Vec::new();
    for line in pairs
        .next()
        .unwrap()
        .into_inner()
        .filter(|p| p.as_rule() == Rule::option_line)
    {
        let mut inner = line.into_inner();
        let name = inner.next().unwrap();
        if name.as_str() != "define" {
            continue;
        }
        let Some(value) = inner.next() else { continue };
        match value.as_str().split_once('=') {
            Some((n, v)) if !n.is_empty() => out.push((n.to_string(), v.to_string())),
            _ => {
                return Err(ScriptError::at(
                    path,
                    source.as_bytes(),
                    value.as_span().start(),
                    format!("bad --define: {} (expected NAME=VALUE)", value.as_str()),
                ))
            }
        }
    }
    Ok(out)
}

/// Builds the AST from pest pairs, mapping spans back to the original text for errors.
struct Builder<'a> {
    path: &'a str,
    source: &'a str,
    expanded: &'a Expanded,
    /// Line starts of the original text.
    source_lines: LineIndex,
    /// The names of every define given (profile, script, command line), for "did you mean".
    define_names: Vec<String>,
}

impl<'a> Builder<'a> {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span {
            start: self.expanded.original_offset(s.start()),
            end: self.expanded.original_offset(s.end()),
        }
    }

    fn error(&self, pair: &Pair<Rule>, message: impl Into<String>) -> ScriptError {
        self.error_at(self.span(pair), message)
    }

    fn error_at(&self, span: Span, message: impl Into<String>) -> ScriptError {
        ScriptError::at(self.path, self.source.as_bytes(), span.start, message)
    }

    fn syntax_error(&self, e: pest::error::Error<Rule>) -> ScriptError {
        let mut pos = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        };
        let text = &self.expanded.text;
        let attempts = e.parse_attempts();
        let expected_tokens: Vec<String> = attempts
            .as_ref()
            .map(|a| a.expected_tokens().iter().map(|t| t.to_string()).collect())
            .unwrap_or_default();
        if expected_tokens == ["*/"] {
            return ScriptError::at(
                self.path,
                self.source.as_bytes(),
                self.expanded.original_offset(pos),
                "unterminated comment: /* has no closing */",
            );
        }
        let deepest_rules: Vec<String> = attempts
            .as_ref()
            .map(|a| {
                a.call_stacks()
                    .iter()
                    .map(|stack| format!("{:?}", stack.deepest))
                    .collect()
            })
            .unwrap_or_default();
        let at_end = attempts
            .as_ref()
            .is_some_and(|a| a.max_position >= text.len());
        if at_end && deepest_rules.iter().any(|r| r == "Rule(string_body)") {
            return ScriptError::at(
                self.path,
                self.source.as_bytes(),
                self.expanded.original_offset(pos),
                "unterminated string: no closing double quote (\")",
            );
        }
        // Inside a system call the literal punctuation expected is the most precise hint.
        let mut message = None;
        if let Some(attempts) = &attempts {
            // pest does not export the type of `deepest`; its Debug form is `Rule(name)`.
            let in_expression = deepest_rules.iter().any(|deepest| {
                EXPRESSION_RULES
                    .iter()
                    .any(|r| *deepest == format!("Rule({r:?})"))
            });
            let punctuation: Vec<String> = expected_tokens
                .iter()
                .filter(|t| EXPECTED_PUNCTUATION.contains(&t.as_str()))
                .map(|t| format!("'{t}'"))
                .collect();
            if in_expression && !punctuation.is_empty() && attempts.max_position >= pos {
                pos = attempts.max_position;
                let found = describe_found(&text[pos.min(text.len())..]);
                message = Some(format!(
                    "syntax error: expected {} but found {found}",
                    join_or(&punctuation)
                ));
            }
        }
        let message = message.unwrap_or_else(|| {
            let found = describe_found(&text[pos.min(text.len())..]);
            match &e.variant {
                pest::error::ErrorVariant::ParsingError { positives, .. } => {
                    let mut wanted: Vec<&str> =
                        positives.iter().filter_map(|r| describe_rule(*r)).collect();
                    wanted.sort_unstable();
                    wanted.dedup();
                    if wanted.is_empty() {
                        format!("syntax error at {found}")
                    } else {
                        let wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
                        format!(
                            "syntax error: expected {} but found {found}",
                            join_or(&wanted)
                        )
                    }
                }
                pest::error::ErrorVariant::CustomError { message } => message.clone(),
            }
        });
        ScriptError::at(
            self.path,
            self.source.as_bytes(),
            self.expanded.original_offset(pos),
            message,
        )
    }

    // -----------------------------------------------------------------------------------------
    // Layout

    fn script(&self, pair: Pair<Rule>) -> Result<Script> {
        let mut options = Vec::new();
        let mut init_command = None;
        let mut events: Vec<Event> = Vec::new();
        let mut trailing_commands: Vec<Command> = Vec::new();
        for item in pair.into_inner() {
            match item.as_rule() {
                Rule::option_line => {
                    if init_command.is_some() || !events.is_empty() {
                        return Err(self.error(
                            &item,
                            "option lines must come before the first event and the init command",
                        ));
                    }
                    options.push(self.option_line(item));
                }
                Rule::untimed_command => {
                    let command = self.command(item.into_inner().next().unwrap())?;
                    if events.is_empty() {
                        if init_command.is_some() {
                            return Err(self.error_at(command.span, "only one init command (without a time) may come before the first event"));
                        }
                        init_command = Some(command);
                    } else {
                        trailing_commands.push(command);
                    }
                }
                Rule::event => {
                    if let Some(command) = trailing_commands.first() {
                        return Err(self.error_at(
                            command.span,
                            "a command without a time may only come before the first event or after the last one",
                        ));
                    }
                    events.push(self.event(item)?);
                }
                Rule::EOI => {}
                other => unreachable!("unexpected {other:?} in script"),
            }
        }
        if trailing_commands.len() > 1 {
            return Err(self.error_at(
                trailing_commands[1].span,
                "only one cleanup command (without a time) may follow the last event",
            ));
        }
        if events.is_empty() {
            return Err(ScriptError::at(
                self.path,
                self.source.as_bytes(),
                self.source.len(),
                "script has no events (a script needs at least one timed event)",
            ));
        }
        self.check_times(&events)?;
        Ok(Script {
            options,
            init_command,
            events,
            cleanup_command: trailing_commands.pop(),
        })
    }

    fn option_line(&self, pair: Pair<Rule>) -> OptionLine {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = inner.next().unwrap();
        let name = Spanned {
            value: name.as_str().to_string(),
            span: self.span(&name),
        };
        // A value written as one quoted string means its contents (`--ip_version="ipv6"`).
        let value = inner.next().map(|v| {
            let text = v.as_str();
            let unquoted = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.contains('"'));
            Spanned {
                value: unquoted.unwrap_or(text).to_string(),
                span: self.span(&v),
            }
        });
        OptionLine { name, value, span }
    }

    fn command(&self, pair: Pair<Rule>) -> Result<Command> {
        match pair.as_rule() {
            Rule::command => {
                let span = self.span(&pair);
                let text = pair.into_inner().next().unwrap().as_str().to_string();
                Ok(Command { text, span })
            }
            Rule::unterminated_command => {
                Err(self.error(&pair, "unterminated command: no closing back-quote (`)"))
            }
            other => unreachable!("unexpected {other:?} as command"),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Events and times

    fn event(&self, pair: Pair<Rule>) -> Result<Event> {
        let span = self.span(&pair);
        let line = self.source_lines.line(span.start);
        let mut inner = pair.into_inner();
        let time_pair = inner.next().unwrap();
        let mut next = inner.next().unwrap();
        let blocking_end = if next.as_rule() == Rule::blocking_end {
            let end = self.time_point(next.clone().into_inner().next().unwrap())?;
            next = inner.next().unwrap();
            Some((end, self.span(&next)))
        } else {
            None
        };
        let time = self.event_time(time_pair)?;
        let action_pair = next.into_inner().next().unwrap();
        let action = match self.action(action_pair) {
            Ok(action) => action,
            Err(e) => match e.undefined_word.clone() {
                Some(word) => {
                    let span = self.word_span(&e, &word);
                    Action::NeedsDefine(MissingDefine {
                        name: Spanned { value: word, span },
                        message: e.message,
                    })
                }
                None => return Err(e),
            },
        };
        let time = match (blocking_end, time) {
            (Some((mut end, _)), EventTime::At(start)) => {
                // E is measured from the same anchor as T: relative when T is relative.
                end.relative = start.relative;
                if !matches!(action, Action::Syscall(_) | Action::NeedsDefine(_)) {
                    return Err(self.error_at(
                        start.span,
                        "a blocking time (T...E) can only be used with system calls",
                    ));
                }
                if end.relative == start.relative && end.micros < start.micros {
                    return Err(
                        self.error_at(end.span, "blocking system call ends before it starts")
                    );
                }
                EventTime::Blocking { start, end }
            }
            (Some((end, _)), _) => {
                return Err(self.error_at(
                    end.span,
                    "a blocking time (T...E) needs a single start time",
                ))
            }
            (None, time) => time,
        };
        let outbound = match &action {
            Action::Packet(p) => p.direction == Direction::Outbound,
            Action::Link(l) => l.direction == Direction::Outbound,
            _ => false,
        };
        match &time {
            EventTime::Any(s) if !outbound => {
                return Err(self.error_at(*s, "event time * can only be used with outbound packets"))
            }
            EventTime::Range { start, .. } if !outbound => {
                return Err(self.error_at(
                    start.span,
                    "time ranges can only be used with outbound packets",
                ))
            }
            _ => {}
        }
        Ok(Event {
            line,
            time,
            action,
            span,
        })
    }

    fn event_time(&self, pair: Pair<Rule>) -> Result<EventTime> {
        let inner = pair.into_inner().next().unwrap();
        match inner.as_rule() {
            Rule::time_any => Ok(EventTime::Any(self.span(&inner))),
            Rule::time_point => Ok(EventTime::At(self.time_point(inner)?)),
            Rule::time_range => {
                let mut points = inner.into_inner();
                let start = self.time_point(points.next().unwrap())?;
                let end = self.time_point(points.next().unwrap())?;
                if start.relative != end.relative {
                    return Err(self.error_at(
                        end.span,
                        "both ends of a time range must be relative (+A~+B) or both absolute (A~B)",
                    ));
                }
                if end.micros < start.micros {
                    return Err(self.error_at(start.span, "time range is backwards"));
                }
                Ok(EventTime::Range { start, end })
            }
            other => unreachable!("unexpected {other:?} as time"),
        }
    }

    fn time_point(&self, pair: Pair<Rule>) -> Result<TimePoint> {
        let span = self.span(&pair);
        let mut relative = false;
        let mut micros = 0;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::relative_mark => relative = true,
                Rule::time_value => {
                    micros = parse_seconds(part.as_str()).ok_or_else(|| {
                        self.error(&part, format!("time {} is out of range", part.as_str()))
                    })?;
                    if micros < 0 {
                        return Err(self.error(
                            &part,
                            format!("negative time {} is not allowed", part.as_str()),
                        ));
                    }
                }
                other => unreachable!("unexpected {other:?} in time"),
            }
        }
        Ok(TimePoint {
            micros,
            relative,
            span,
        })
    }

    /// Script-wide time rules: the first event at 0, absolute times never going backwards.
    fn check_times(&self, events: &[Event]) -> Result<()> {
        let first = &events[0];
        match first.time.start() {
            Some(t) if t.micros == 0 => {}
            Some(t) => return Err(self.error_at(t.span, "first event should be at time 0")),
            None => {
                return Err(self.error_at(first.span, "first event should be at time 0 (not *)"))
            }
        }
        let mut last_absolute: Option<i64> = None;
        for event in events {
            let points: Vec<&TimePoint> = match &event.time {
                EventTime::At(t) => vec![t],
                EventTime::Any(_) => vec![],
                EventTime::Range { start, end } | EventTime::Blocking { start, end } => {
                    vec![start, end]
                }
            };
            for t in points.into_iter().filter(|t| !t.relative).take(1) {
                if let Some(prev) = last_absolute {
                    if t.micros < prev {
                        return Err(self.error_at(
                            t.span,
                            format!(
                                "time goes backward in script from {prev} usec to {} usec",
                                t.micros
                            ),
                        ));
                    }
                }
                last_absolute = Some(t.micros);
            }
        }
        Ok(())
    }

    fn action(&self, pair: Pair<Rule>) -> Result<Action> {
        match pair.as_rule() {
            Rule::packet => Ok(Action::Packet(self.packet(pair)?)),
            Rule::link_frame => Ok(Action::Link(self.link_frame(pair)?)),
            Rule::syscall => Ok(Action::Syscall(self.syscall(pair)?)),
            Rule::command | Rule::unterminated_command => Ok(Action::Command(self.command(pair)?)),
            Rule::code_block => {
                let span = self.span(&pair);
                let text = pair
                    .into_inner()
                    .next()
                    .unwrap()
                    .as_str()
                    .trim_matches(|c| c == ' ' || c == '\t')
                    .to_string();
                Ok(Action::Code(CodeBlock { text, span }))
            }
            Rule::unterminated_code => {
                Err(self.error(&pair, "unterminated code block: no closing }%"))
            }
            other => unreachable!("unexpected {other:?} as action"),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Layer-2 frames

    fn link_frame(&self, pair: Pair<Rule>) -> Result<LinkFrame> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let direction = match inner.next().unwrap().as_str() {
            "<" => Direction::Inbound,
            _ => Direction::Outbound,
        };
        let keyword = inner.next().unwrap();
        let operation = inner.next().unwrap();
        let protocol = format!("{} {}", keyword.as_str(), operation.as_str());
        match (keyword.as_str(), operation.as_str()) {
            ("arp", "request" | "reply") | ("ndp", "ns" | "na") => {}
            ("arp", other) => {
                return Err(self.error(
                    &operation,
                    format!(
                        "an ARP operation is request or reply (op N sets any other), not '{other}'"
                    ),
                ))
            }
            (_, other) => {
                return Err(self.error(
                    &operation,
                    format!("a neighbour discovery message is ns or na, not '{other}'"),
                ))
            }
        }
        let mut frame = LinkFrame {
            direction,
            eth_src: None,
            eth_dst: None,
            body: match operation.as_str() {
                "request" => LinkBody::Arp(ArpFrame::new(1)),
                "reply" => LinkBody::Arp(ArpFrame::new(2)),
                "ns" => LinkBody::Ndp(NdpFrame::new(NdpKind::Solicitation)),
                _ => LinkBody::Ndp(NdpFrame::new(NdpKind::Advertisement)),
            },
            span,
        };
        let mut seen: Vec<String> = Vec::new();
        for field in inner {
            let mut parts = field.into_inner();
            let name_pair = parts.next().unwrap();
            let value = parts.next().unwrap().into_inner().next().unwrap();
            let name = name_pair.as_str();
            if seen.iter().any(|s| s == name) {
                return Err(self.error(&name_pair, format!("field {name} given twice")));
            }
            seen.push(name.to_string());
            if value.as_rule() == Rule::link_ignored {
                if direction == Direction::Inbound {
                    return Err(self.error(
                        &value,
                        format!("{name} ...: an inbound frame needs a value (leave the field out for its default)"),
                    ));
                }
                // `hlim ...` is any hop limit, where leaving it out means 255.
                if let (LinkBody::Ndp(ndp), "hlim") = (&mut frame.body, name) {
                    ndp.hop_limit = None;
                }
                continue;
            }
            self.link_field(&mut frame, &protocol, &name_pair, value)?;
        }
        Ok(frame)
    }

    /// One `NAME VALUE` of a layer-2 frame, checked against the message it is in.
    fn link_field(
        &self,
        frame: &mut LinkFrame,
        protocol: &str,
        name_pair: &Pair<Rule>,
        value: Pair<Rule>,
    ) -> Result<()> {
        let name = name_pair.as_str();
        let fields = match frame.body {
            LinkBody::Arp(_) => {
                "eth_src, eth_dst, htype, ptype, hlen, plen, op, sha, spa, tha, tpa"
            }
            LinkBody::Ndp(NdpFrame {
                kind: NdpKind::Advertisement,
                ..
            }) => "eth_src, eth_dst, src, dst, hlim, tgt, flags, sll, tll",
            LinkBody::Ndp(_) => "eth_src, eth_dst, src, dst, hlim, tgt, sll, tll",
        };
        let wrong_message = || {
            self.error(
                name_pair,
                format!("{protocol} has no field {name} (its fields: {fields})"),
            )
        };
        match (&mut frame.body, name) {
            (_, "eth_src") => frame.eth_src = Some(self.mac_value(&value, name)?),
            (_, "eth_dst") => frame.eth_dst = Some(self.mac_value(&value, name)?),
            (LinkBody::Arp(arp), "htype") => arp.htype = Some(self.link_number(&value, name)?),
            (LinkBody::Arp(arp), "ptype") => arp.ptype = Some(self.link_number(&value, name)?),
            (LinkBody::Arp(arp), "hlen") => arp.hlen = Some(self.link_number(&value, name)?),
            (LinkBody::Arp(arp), "plen") => arp.plen = Some(self.link_number(&value, name)?),
            (LinkBody::Arp(arp), "op") => arp.op = self.link_number(&value, name)?,
            (LinkBody::Arp(arp), "sha") => arp.sha = Some(self.mac_value(&value, name)?),
            (LinkBody::Arp(arp), "tha") => arp.tha = Some(self.mac_value(&value, name)?),
            (LinkBody::Arp(arp), "spa") => arp.spa = Some(self.address_value(&value, name, false)?),
            (LinkBody::Arp(arp), "tpa") => arp.tpa = Some(self.address_value(&value, name, false)?),
            (LinkBody::Ndp(ndp), "src") => ndp.src = Some(self.address_value(&value, name, true)?),
            (LinkBody::Ndp(ndp), "dst") => ndp.dst = Some(self.address_value(&value, name, true)?),
            (LinkBody::Ndp(ndp), "tgt") => {
                ndp.target = Some(self.address_value(&value, name, true)?)
            }
            (LinkBody::Ndp(ndp), "hlim") => ndp.hop_limit = Some(self.link_number(&value, name)?),
            (LinkBody::Ndp(ndp), "flags") if ndp.kind == NdpKind::Advertisement => {
                ndp.flags = Some(self.ndp_flags(&value)?)
            }
            (LinkBody::Ndp(ndp), "sll") => {
                ndp.source_link_address = Some(self.link_option(&value, name)?)
            }
            (LinkBody::Ndp(ndp), "tll") => {
                ndp.target_link_address = Some(self.link_option(&value, name)?)
            }
            _ => return Err(wrong_message()),
        }
        Ok(())
    }

    fn mac_value(&self, value: &Pair<Rule>, field: &str) -> Result<MacValue> {
        match (value.as_rule(), value.as_str()) {
            (Rule::mac_address, text) => {
                let mut mac = [0u8; 6];
                for (byte, hex) in mac.iter_mut().zip(text.split(':')) {
                    *byte = u8::from_str_radix(hex, 16).expect("the grammar gives two hex digits");
                }
                Ok(MacValue::Literal(mac))
            }
            (Rule::link_name, "stack") => Ok(MacValue::Stack),
            (Rule::link_name, "peer") => Ok(MacValue::Peer),
            (Rule::link_name, "broadcast") => Ok(MacValue::Broadcast),
            _ => Err(self.error(
                value,
                format!(
                    "{field} is a MAC address (xx:xx:xx:xx:xx:xx, stack, peer or broadcast), not '{}'",
                    value.as_str()
                ),
            )),
        }
    }

    fn link_option(&self, value: &Pair<Rule>, field: &str) -> Result<LinkOption> {
        if value.as_rule() == Rule::link_name && value.as_str() == "none" {
            return Ok(LinkOption::Absent);
        }
        self.mac_value(value, field)
            .map(LinkOption::Mac)
            .map_err(|e| {
                self.error(
                    value,
                    e.message
                        .replacen(" or broadcast)", ", broadcast or none)", 1),
                )
            })
    }

    fn address_value(&self, value: &Pair<Rule>, field: &str, v6: bool) -> Result<AddressValue> {
        let family = if v6 { "IPv6" } else { "IPv4" };
        match (value.as_rule(), value.as_str()) {
            (Rule::ip_address, _) => {
                let ip = self.ip_address(value)?;
                if ip.is_ipv6() != v6 {
                    return Err(self.error(
                        value,
                        format!("{field} is an {family} address, not {ip}"),
                    ));
                }
                Ok(AddressValue::Literal(ip))
            }
            (Rule::link_name, "local") => Ok(AddressValue::Local),
            (Rule::link_name, "remote") => Ok(AddressValue::Remote),
            (Rule::link_name, "gateway") => Ok(AddressValue::Gateway),
            _ => Err(self.error(
                value,
                format!(
                    "{field} is an {family} address (an address, local, remote or gateway), not '{}'",
                    value.as_str()
                ),
            )),
        }
    }

    fn link_number<T: TryFrom<i64> + Bounded>(&self, value: &Pair<Rule>, field: &str) -> Result<T> {
        if value.as_rule() != Rule::link_number {
            return Err(self.error(
                value,
                format!("{field} is a number, not '{}'", value.as_str()),
            ));
        }
        self.integer(&value.clone().into_inner().next().unwrap(), field)
    }

    /// `R,S,O` in any order, `none`, or a number (the flag byte).
    fn ndp_flags(&self, value: &Pair<Rule>) -> Result<u8> {
        match value.as_rule() {
            Rule::ndp_flags => {
                let mut flags = 0u8;
                for flag in value.as_str().split(',') {
                    let bit = match flag {
                        "R" => 0x80,
                        "S" => 0x40,
                        "O" => 0x20,
                        _ => {
                            return Err(self.error(
                                value,
                                format!("no NA flag {flag}: the flags are R, S and O"),
                            ))
                        }
                    };
                    if flags & bit != 0 {
                        return Err(self.error(value, format!("flag {flag} given twice")));
                    }
                    flags |= bit;
                }
                Ok(flags)
            }
            Rule::link_name if value.as_str() == "none" => Ok(0),
            Rule::link_number => self.link_number(value, "flags"),
            _ => Err(self.error(
                value,
                format!(
                    "flags are R, S and O, comma-separated (e.g. S,O), or none, not '{}'",
                    value.as_str()
                ),
            )),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Packets

    fn packet(&self, pair: Pair<Rule>) -> Result<Packet> {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().peekable();
        let direction = match inner.next().unwrap().as_str() {
            "<" => Direction::Inbound,
            _ => Direction::Outbound,
        };
        let mut encapsulations = Vec::new();
        let mut ip = IpInfo::default();
        let mut body = None;
        for part in inner {
            match part.as_rule() {
                Rule::encapsulation => {
                    encapsulations.push(self.encapsulation(part.into_inner().next().unwrap())?)
                }
                Rule::ip_info => ip = self.ip_info(part)?,
                Rule::l4_packet => {
                    body = Some(self.l4_packet(part.into_inner().next().unwrap(), direction)?)
                }
                other => unreachable!("unexpected {other:?} in packet"),
            }
        }
        let body = body.expect("grammar guarantees a protocol part");
        self.check_ip_info(&ip, &body, direction)?;
        Ok(Packet {
            direction,
            encapsulations,
            ip,
            body,
            span,
        })
    }

    fn check_ip_info(&self, ip: &IpInfo, body: &PacketBody, direction: Direction) -> Result<()> {
        let Some(span) = ip.span else { return Ok(()) };
        if ip.ecn == Some(Ecn::Ect0OrEct1) && direction == Direction::Inbound {
            return Err(self.error_at(
                span,
                "ect01 (ECT(0) or ECT(1)) can only be used with outbound packets",
            ));
        }
        if let (Some(src), Some(dst)) = (ip.src, ip.dst) {
            if src.is_ipv4() != dst.is_ipv4() {
                return Err(self.error_at(span, "src and dst are of different IP versions"));
            }
        }
        let ipv6 = [ip.src, ip.dst].iter().flatten().any(IpAddr::is_ipv6);
        if ip.options.is_some() && ipv6 && direction == Direction::Outbound {
            return Err(self.error_at(
                span,
                "ip_options of an IPv6 packet (a destination options header) can only be inbound",
            ));
        }
        if ip.same_id && direction == Direction::Inbound {
            return Err(self.error_at(
                span,
                "same_id compares an outbound packet's IPv4 identification: outbound packets only",
            ));
        }
        let plain_ecn = matches!(ip.ecn, Some(Ecn::NotEct | Ecn::Ect0 | Ecn::Ect1 | Ecn::Ce));
        if plain_ecn && matches!(body, PacketBody::Udp(_) | PacketBody::UdpLite(_)) {
            return Err(self.error_at(span, "ECN can only be used with TCP packets"));
        }
        Ok(())
    }

    fn ip_info(&self, pair: Pair<Rule>) -> Result<IpInfo> {
        let mut info = IpInfo {
            span: Some(self.span(&pair)),
            ..IpInfo::default()
        };
        for item in pair.into_inner() {
            let mut parts = item.into_inner();
            let first = parts.next().unwrap();
            let value = parts.next();
            match first.as_rule() {
                Rule::ecn_name => info.ecn = Some(ecn_from(first.as_str())),
                Rule::kw_ecn => info.ecn = Some(ecn_from(value.unwrap().as_str())),
                Rule::kw_tos | Rule::kw_class => {
                    info.tos = Some(self.integer(&value.unwrap(), "tos")?)
                }
                Rule::kw_ttl | Rule::kw_hlim => {
                    info.ttl = Some(self.integer(&value.unwrap(), "ttl")?)
                }
                Rule::kw_flowlabel => {
                    let v = value.unwrap();
                    let label: u32 = self.integer(&v, "flowlabel")?;
                    if label > 0xF_FFFF {
                        return Err(self.error(
                            &v,
                            format!(
                                "flowlabel {label:#x} is out of range (20 bits, at most 0xfffff)"
                            ),
                        ));
                    }
                    info.flow_label = Some(label);
                }
                Rule::kw_dscp => {
                    let v = value.unwrap();
                    let dscp = match v.as_rule() {
                        Rule::dscp_name => dscp_from_name(v.as_str()).ok_or_else(|| {
                            self.error(&v, format!("unknown DSCP name '{}'", v.as_str()))
                        })?,
                        _ => self.integer(&v, "dscp")?,
                    };
                    if dscp > 63 {
                        return Err(self.error(&v, format!("dscp {dscp} is out of range (6 bits)")));
                    }
                    info.dscp = Some(dscp);
                }
                Rule::kw_ip_options => {
                    let v = value.unwrap();
                    let bytes = self.hex_bytes(&v, "ip_options")?;
                    if bytes.is_empty() || bytes.len() > MAX_IP_OPTIONS_LEN {
                        return Err(self.error(
                            &v,
                            format!(
                                "ip_options has {} bytes; it takes 1 to {MAX_IP_OPTIONS_LEN}",
                                bytes.len()
                            ),
                        ));
                    }
                    info.options = Some(bytes);
                }
                Rule::kw_src => info.src = Some(self.ip_address(&value.unwrap())?),
                Rule::kw_dst => info.dst = Some(self.ip_address(&value.unwrap())?),
                Rule::kw_same_id => info.same_id = true,
                other => unreachable!("unexpected {other:?} in IP info"),
            }
        }
        Ok(info)
    }

    fn encapsulation(&self, pair: Pair<Rule>) -> Result<Encapsulation> {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::ip_encap => {
                let mut ip = IpInfo::default();
                let mut addresses = Vec::new();
                let mut family = "";
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::ip_encap_family => family = part.as_str(),
                        Rule::ip_info => ip = self.ip_info(part)?,
                        Rule::ip_address => addresses.push(self.ip_address(&part)?),
                        other => unreachable!("unexpected {other:?} in IP encapsulation"),
                    }
                }
                let (source, destination) = (addresses[0], addresses[1]);
                if source.is_ipv4() != (family == "ipv4")
                    || destination.is_ipv4() != (family == "ipv4")
                {
                    return Err(
                        self.error_at(span, format!("{family} header needs {family} addresses"))
                    );
                }
                Ok(Encapsulation::Ip {
                    ip,
                    source,
                    destination,
                    span,
                })
            }
            Rule::gre_encap => Ok(Encapsulation::Gre(self.gre_header(pair)?)),
            Rule::mpls_encap => Ok(Encapsulation::Mpls {
                entries: self.mpls_entries(pair)?,
                span,
            }),
            other => unreachable!("unexpected {other:?} as encapsulation"),
        }
    }

    /// The fields of a GRE header (encapsulation prefix or socket option value).
    fn gre_header(&self, pair: Pair<Rule>) -> Result<GreHeader> {
        let span = self.span(&pair);
        let mut gre = GreHeader {
            span,
            ..GreHeader::default()
        };
        for field in pair.into_inner().filter(|p| p.as_rule() == Rule::gre_field) {
            let field = field.into_inner().next().unwrap();
            let mut parts = field.clone().into_inner();
            let head = parts.next().unwrap();
            match field.as_rule() {
                Rule::gre_flags => {
                    let mut flags = 0u16;
                    for flag in parts {
                        match flag.as_rule() {
                            Rule::integer => flags = self.integer(&flag, "GRE flags")?,
                            _ => flags |= gre_flag_bit(flag.as_str()),
                        }
                    }
                    gre.flags = Some(flags);
                }
                _ => {
                    let value = parts.next().unwrap();
                    match head.as_rule() {
                        Rule::kw_sum => gre.checksum = Some(self.integer(&value, "GRE checksum")?),
                        Rule::kw_off => gre.offset = Some(self.integer(&value, "GRE offset")?),
                        Rule::kw_key => gre.key = Some(self.integer(&value, "GRE key")?),
                        _ => gre.sequence = Some(self.integer(&value, "GRE sequence")?),
                    }
                }
            }
        }
        Ok(gre)
    }

    /// MPLS label stack entries (encapsulation prefix or socket option value).
    fn mpls_entries(&self, pair: Pair<Rule>) -> Result<Vec<MplsEntry>> {
        let mut entries = Vec::new();
        for entry in pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::mpls_entry)
        {
            let mut numbers = Vec::new();
            let mut bottom_of_stack = false;
            for part in entry.into_inner() {
                match part.as_rule() {
                    Rule::integer => numbers.push(part),
                    Rule::mpls_bottom => bottom_of_stack = true,
                    _ => {}
                }
            }
            let label: u32 = self.integer(&numbers[0], "MPLS label")?;
            if label > 0xF_FFFF {
                return Err(self.error(
                    &numbers[0],
                    format!("MPLS label {label} is out of range (20 bits)"),
                ));
            }
            let traffic_class: u8 = self.integer(&numbers[1], "MPLS tc")?;
            if traffic_class > 7 {
                return Err(self.error(
                    &numbers[1],
                    format!("MPLS tc {traffic_class} is out of range (3 bits)"),
                ));
            }
            let ttl = self.integer(&numbers[2], "MPLS ttl")?;
            entries.push(MplsEntry {
                label,
                traffic_class,
                bottom_of_stack,
                ttl,
            });
        }
        Ok(entries)
    }

    fn l4_packet(&self, pair: Pair<Rule>, direction: Direction) -> Result<PacketBody> {
        match pair.as_rule() {
            Rule::udp_packet => {
                let mut ports = None;
                let mut len = 0;
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::port_pair => ports = Some(self.ports(part)?),
                        Rule::integer => len = self.integer(&part, "UDP payload length")?,
                        _ => {}
                    }
                }
                Ok(PacketBody::Udp(UdpPacket {
                    ports,
                    payload_len: len,
                }))
            }
            Rule::udplite_packet => {
                let mut ports = None;
                let mut numbers = Vec::new();
                for part in pair.into_inner() {
                    match part.as_rule() {
                        Rule::port_pair => ports = Some(self.ports(part)?),
                        Rule::integer => numbers.push(part),
                        _ => {}
                    }
                }
                Ok(PacketBody::UdpLite(UdpLitePacket {
                    ports,
                    payload_len: self.integer(&numbers[0], "UDPLite payload length")?,
                    checksum_coverage: self.integer(&numbers[1], "UDPLite checksum coverage")?,
                }))
            }
            Rule::icmp_packet => Ok(PacketBody::Icmp(self.icmp(pair)?)),
            Rule::sctp_packet => Ok(PacketBody::Sctp(self.sctp_packet(pair)?)),
            Rule::tcp_packet => Ok(PacketBody::Tcp(self.tcp(pair, direction)?)),
            other => unreachable!("unexpected {other:?} as protocol"),
        }
    }

    /// `/ udp(SPORT > DPORT)`: the UDP header a packet is carried in (nplab).
    fn udp_encap(&self, pair: Pair<Rule>) -> Result<Ports> {
        let numbers: Vec<_> = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::integer)
            .collect();
        Ok(Ports {
            source: self.integer(&numbers[0], "port")?,
            destination: self.integer(&numbers[1], "port")?,
        })
    }

    fn ports(&self, pair: Pair<Rule>) -> Result<Ports> {
        let mut numbers = pair.into_inner();
        Ok(Ports {
            source: self.integer(&numbers.next().unwrap(), "port")?,
            destination: self.integer(&numbers.next().unwrap(), "port")?,
        })
    }

    fn icmp(&self, pair: Pair<Rule>) -> Result<IcmpPacket> {
        let mut names = Vec::new();
        let mut mtu = None;
        let mut id = None;
        let mut echoed = IcmpEchoed::Default;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::icmp_name => names.push(Spanned {
                    value: part.as_str().to_string(),
                    span: self.span(&part),
                }),
                Rule::icmp_field => {
                    let mut kv = part.into_inner();
                    let key = kv.next().unwrap();
                    let value = kv.next().unwrap();
                    match key.as_rule() {
                        Rule::kw_mtu => mtu = Some(self.integer(&value, "ICMP mtu")?),
                        _ => id = Some(self.integer(&value, "ICMP id")?),
                    }
                }
                Rule::icmp_echoed => {
                    echoed = self.icmp_echoed(part.into_inner().next().unwrap())?
                }
                _ => {}
            }
        }
        let mut names = names.into_iter();
        let icmp_type = names.next().unwrap();
        let code = names.next();
        check_icmp_names(&icmp_type, code.as_ref())
            .map_err(|(span, message)| self.error_at(span, message))?;
        Ok(IcmpPacket {
            icmp_type,
            code,
            mtu,
            id,
            echoed,
        })
    }

    fn icmp_echoed(&self, pair: Pair<Rule>) -> Result<IcmpEchoed> {
        let rule = pair.as_rule();
        let len_of = |p: Pair<Rule>| -> Result<u16> {
            let n = p
                .into_inner()
                .find(|x| x.as_rule() == Rule::integer)
                .unwrap();
            self.integer(&n, "length")
        };
        let udp_encapsulation = |p: Option<Pair<Rule>>| p.map(|p| self.udp_encap(p)).transpose();
        Ok(match rule {
            Rule::echoed_udp => IcmpEchoed::Udp { len: len_of(pair)? },
            Rule::echoed_raw => IcmpEchoed::Raw { len: len_of(pair)? },
            Rule::echoed_udplite => {
                let numbers: Vec<_> = pair
                    .into_inner()
                    .filter(|x| x.as_rule() == Rule::integer)
                    .collect();
                IcmpEchoed::UdpLite {
                    len: self.integer(&numbers[0], "UDPLite payload length")?,
                    checksum_coverage: self.integer(&numbers[1], "UDPLite checksum coverage")?,
                }
            }
            Rule::echoed_sctp => {
                let mut inner = pair.into_inner().filter(|x| x.as_rule() != Rule::kw_sctp);
                let tag = self.integer(&inner.next().unwrap(), "SCTP tag")?;
                IcmpEchoed::Sctp {
                    tag,
                    udp_encapsulation: udp_encapsulation(inner.next())?,
                }
            }
            _ => {
                let mut inner = pair.into_inner();
                match self.sequence(inner.next().unwrap())? {
                    TcpSequence::Range {
                        start, end, len, ..
                    } => IcmpEchoed::Tcp {
                        start,
                        end,
                        len,
                        udp_encapsulation: udp_encapsulation(inner.next())?,
                    },
                    TcpSequence::Ignored { .. } => {
                        unreachable!("echoed TCP always has numbers")
                    }
                }
            }
        })
    }

    fn tcp(&self, pair: Pair<Rule>, direction: Direction) -> Result<TcpPacket> {
        let packet_span = self.span(&pair);
        let mut packet = TcpPacket {
            psp_spi: None,
            ports: None,
            flags: TcpFlags::default(),
            sequence: TcpSequence::Ignored { len: 0 },
            ack: None,
            window: None,
            urgent: None,
            options: TcpOptions::None,
            udp_encapsulation: None,
            bad_checksum: false,
            subflow: None,
        };
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::psp_encap => {
                    let spi = part
                        .into_inner()
                        .find(|p| p.as_rule() == Rule::integer)
                        .unwrap();
                    packet.psp_spi = Some(self.integer(&spi, "PSP spi")?);
                }
                Rule::port_pair => packet.ports = Some(self.ports(part)?),
                Rule::mptcp_tuple => packet.subflow = Some(self.mptcp_tuple(part)),
                Rule::tcp_flags => packet.flags = self.tcp_flags(&part)?,
                Rule::sequence => packet.sequence = self.sequence(part)?,
                Rule::tcp_field => {
                    let mut kv = part.into_inner();
                    let key = kv.next().unwrap();
                    let Some(value) = kv.next() else {
                        // `bad_csum`, the one field without a value.
                        if direction == Direction::Outbound {
                            return Err(
                                self.error(&key, "bad_csum can only be used with inbound packets")
                            );
                        }
                        packet.bad_checksum = true;
                        continue;
                    };
                    let (slot_name, duplicate) = match key.as_rule() {
                        Rule::kw_ack => (
                            "ack",
                            packet.ack.replace(self.integer(&value, "ack")?).is_some(),
                        ),
                        Rule::kw_win => (
                            "win",
                            packet
                                .window
                                .replace(self.integer(&value, "window")?)
                                .is_some(),
                        ),
                        _ => (
                            "urg",
                            packet
                                .urgent
                                .replace(self.integer(&value, "urgent pointer")?)
                                .is_some(),
                        ),
                    };
                    if duplicate {
                        return Err(self.error(&key, format!("'{slot_name}' given twice")));
                    }
                }
                Rule::tcp_options => packet.options = self.tcp_options(part, direction)?,
                Rule::udp_encap => packet.udp_encapsulation = Some(self.udp_encap(part)?),
                other => unreachable!("unexpected {other:?} in TCP packet"),
            }
        }
        if direction == Direction::Inbound && packet.window.is_none() {
            return Err(self.error_at(
                packet_span,
                "window must be specified for inbound packets (add 'win N')",
            ));
        }
        Ok(packet)
    }

    fn tcp_flags(&self, pair: &Pair<Rule>) -> Result<TcpFlags> {
        let text = pair.as_str();
        let mut flags = TcpFlags::default();
        if text == "-" {
            return Ok(flags);
        }
        for ch in text.chars().filter(|c| !c.is_ascii_whitespace()) {
            match ch {
                'F' => flags.fin = true,
                'S' => flags.syn = true,
                'R' => flags.rst = true,
                'P' => flags.psh = true,
                '.' => flags.ack = true,
                'U' => flags.urg = true,
                'E' => flags.ece = true,
                'W' => flags.cwr = true,
                'A' => flags.ae = true,
                '0'..='7' => {
                    if flags.ace.replace(ch as u8 - b'0').is_some() {
                        return Err(self.error(pair, format!("conflicting TCP flags '{text}': only one AccECN ACE digit is allowed")));
                    }
                }
                other => {
                    return Err(self.error(pair, format!("invalid TCP flag '{other}' in '{text}' (flags are F S R P . U E W A, an ACE digit 0-7, or -)")))
                }
            }
        }
        if flags.ace.is_some() && (flags.ece || flags.cwr || flags.ae) {
            return Err(self.error(pair, format!("conflicting TCP flags '{text}': an ACE digit cannot be combined with E, W or A")));
        }
        Ok(flags)
    }

    fn sequence(&self, pair: Pair<Rule>) -> Result<TcpSequence> {
        let span = self.span(&pair);
        let mut numbers = Vec::new();
        let mut ignored = false;
        let mut absolute = false;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::integer => numbers.push(part),
                Rule::ignored_seq => ignored = true,
                Rule::absolute_mark => absolute = true,
                _ => {}
            }
        }
        if ignored {
            return Ok(TcpSequence::Ignored {
                len: self.integer(&numbers[0], "payload length")?,
            });
        }
        let start: u32 = self.integer(&numbers[0], "sequence number")?;
        let end: u32 = self.integer(&numbers[1], "sequence number")?;
        let len: u16 = self.integer(&numbers[2], "payload length")?;
        if start.wrapping_add(u32::from(len)) != end {
            return Err(self.error_at(span, format!("inconsistent TCP sequence numbers and payload size: {start} + {len} is not {end}")));
        }
        Ok(TcpSequence::Range {
            start,
            end,
            len,
            absolute,
        })
    }

    fn tcp_options(&self, pair: Pair<Rule>, direction: Direction) -> Result<TcpOptions> {
        let list_span = self.span(&pair);
        let mut list = Vec::new();
        let mut total_len = 0usize;
        for option in pair.into_inner() {
            if option.as_rule() == Rule::options_ignored {
                if direction == Direction::Inbound {
                    return Err(self.error(
                        &option,
                        "<...> (options not checked) can only be used with outbound packets",
                    ));
                }
                return Ok(TcpOptions::Ignored(list_span));
            }
            let span = self.span(&option);
            let value = self.tcp_option(option.into_inner().next().unwrap())?;
            total_len += tcp_option_len(&value);
            list.push(Spanned { value, span });
        }
        if total_len > MAX_TCP_OPTIONS_LEN {
            return Err(self.error_at(
                list_span,
                format!("TCP options too long: {total_len} bytes (at most {MAX_TCP_OPTIONS_LEN})"),
            ));
        }
        if !total_len.is_multiple_of(4) {
            return Err(self.error_at(list_span, format!("TCP options are not padded correctly: {total_len} bytes is not a multiple of 4 (pad with nop)")));
        }
        Ok(TcpOptions::List(list))
    }

    fn tcp_option(&self, pair: Pair<Rule>) -> Result<TcpOption> {
        let rule = pair.as_rule();
        let whole = pair.clone();
        let mut parts = pair.into_inner();
        let _keyword = parts.next();
        Ok(match rule {
            Rule::opt_nop => TcpOption::Nop,
            Rule::opt_eol => TcpOption::Eol,
            Rule::opt_sack_permitted => TcpOption::SackPermitted,
            Rule::opt_mss => TcpOption::Mss(self.integer(&parts.next().unwrap(), "mss")?),
            Rule::opt_wscale => {
                TcpOption::WindowScale(self.integer(&parts.next().unwrap(), "wscale")?)
            }
            Rule::opt_sack => {
                let mut blocks = Vec::new();
                for block in parts {
                    let mut edges = block.clone().into_inner();
                    let left = self.integer(&edges.next().unwrap(), "SACK block edge")?;
                    let right = self.integer(&edges.next().unwrap(), "SACK block edge")?;
                    blocks.push((left, right));
                    if blocks.len() > 4 {
                        return Err(self.error(&block, "at most 4 SACK blocks fit in a TCP header"));
                    }
                }
                TcpOption::Sack(blocks)
            }
            Rule::opt_timestamp => {
                let _val_kw = parts.next();
                let val_pair = parts.next().unwrap();
                let val = match val_pair.as_rule() {
                    Rule::ts_ignored => None,
                    _ => Some(self.integer(&val_pair, "TS val")?),
                };
                let _ecr_kw = parts.next();
                let ecr = self.integer(&parts.next().unwrap(), "TS ecr")?;
                TcpOption::Timestamp {
                    val,
                    ecr,
                    ecr_absolute: parts.next().is_some(),
                }
            }
            Rule::opt_md5 => {
                let blob = parts.next().unwrap();
                if blob.as_rule() == Rule::md5_valid {
                    return Ok(TcpOption::Md5Valid);
                }
                let bytes = self.hex_bytes(&blob, "md5 digest")?;
                if bytes.len() > 16 {
                    return Err(self.error(
                        &blob,
                        format!("md5 digest too long: {} bytes (at most 16)", bytes.len()),
                    ));
                }
                TcpOption::Md5(bytes)
            }
            Rule::opt_fastopen | Rule::opt_fastopen_exp => {
                let cookie = match parts.next() {
                    Some(blob) => Some(self.hex_bytes(&blob, "TCP Fast Open cookie")?),
                    None => None,
                };
                if rule == Rule::opt_fastopen {
                    TcpOption::FastOpen(cookie)
                } else {
                    TcpOption::FastOpenExp(cookie)
                }
            }
            Rule::opt_accecn => {
                let mut counters = Vec::new();
                for field in parts {
                    let mut kv = field.clone().into_inner();
                    let name = match kv.next().unwrap().as_str() {
                        "e0b" => AccEcnCounter::E0b,
                        "e1b" => AccEcnCounter::E1b,
                        _ => AccEcnCounter::Ceb,
                    };
                    let value_pair = kv.next().unwrap();
                    let value: u32 = self.integer(&value_pair, "AccECN counter")?;
                    if value > 0xFF_FFFF {
                        return Err(self.error(
                            &value_pair,
                            format!("AccECN counter {value} is out of range (24 bits)"),
                        ));
                    }
                    if counters.iter().any(|(n, _)| *n == name) {
                        return Err(self.error(&field, "AccECN counter given twice"));
                    }
                    counters.push((name, value));
                }
                if counters[0].0 == AccEcnCounter::Ceb {
                    return Err(self.error(
                        &whole,
                        "AccECN option must start with e0b (order 0) or e1b (order 1)",
                    ));
                }
                TcpOption::AccEcn(counters)
            }
            Rule::opt_generic => {
                let text = whole.as_str();
                let data = match parts.next() {
                    Some(blob) => self.hex_bytes(&blob, "option data")?,
                    None => Vec::new(),
                };
                let id_text =
                    &text[4..text.find(|c: char| c.is_whitespace()).unwrap_or(text.len())];
                if text.starts_with("gen-") {
                    let kind = id_text.parse::<u8>().map_err(|_| {
                        self.error(&whole, format!("bad TCP option kind '{id_text}' (0-255)"))
                    })?;
                    TcpOption::Generic {
                        kind,
                        experiment_id: None,
                        data,
                    }
                } else {
                    let id = u16::from_str_radix(id_text, 16).map_err(|_| {
                        self.error(
                            &whole,
                            format!("bad experiment id '{id_text}' (4 hex digits)"),
                        )
                    })?;
                    TcpOption::Generic {
                        kind: 254,
                        experiment_id: Some(id),
                        data,
                    }
                }
            }
            Rule::opt_mptcp => TcpOption::Mptcp(self.mptcp_option(whole)?),
            Rule::unsupported_tcp_option => return Err(self.unsupported_option(&whole)),
            other => unreachable!("unexpected {other:?} as TCP option"),
        })
    }

    fn unsupported_option(&self, pair: &Pair<Rule>) -> ScriptError {
        let text = pair.as_str().trim();
        let first = text.split_whitespace().next().unwrap_or(text);
        let known_nplab = [
            "AccECN0",
            "AccECN1",
            "exp-AccECN0",
            "exp-AccECN1",
            "exp-FO",
            "EXP-FO",
            "exp-tarr",
        ];
        if known_nplab.contains(&first) {
            return self.error(
                pair,
                format!("not supported: TCP option '{text}' (nplab dialect)"),
            );
        }
        let known = [
            "nop", "eol", "mss", "wscale", "sackOK", "sack", "TS", "md5", "FO", "FOEXP", "ECN",
        ];
        if known.contains(&first) {
            self.error(
                pair,
                format!("malformed TCP option '{text}'{}", option_usage(first)),
            )
        } else {
            self.error(pair, format!("unknown TCP option '{text}' (known: nop, eol, mss N, wscale N, sackOK, sack L:R…, TS val N ecr N, md5 HEX, FO [HEX], FOEXP [HEX], ECN e0b|e1b N…)"))
        }
    }

    fn hex_bytes(&self, pair: &Pair<Rule>, what: &str) -> Result<Vec<u8>> {
        let text = pair.as_str();
        let looks_like_a_name = text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && text.contains(|c: char| !c.is_ascii_hexdigit());
        if looks_like_a_name {
            return Err(self.undefined_word(pair));
        }
        if !text.len().is_multiple_of(2) {
            return Err(self.error(
                pair,
                format!("{what} '{text}' has an odd number of hex digits"),
            ));
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| self.error(pair, format!("{what} '{text}' is not hexadecimal")))
    }

    // -----------------------------------------------------------------------------------------
    // System calls

    fn syscall(&self, pair: Pair<Rule>) -> Result<Syscall> {
        let mut parts = pair.into_inner();
        let name_pair = parts.next().unwrap();
        let name = name_pair.as_str();
        // (nplab) SCTP calls parse; running one needs SCTP (run/executor.rs says so).
        if syscalls::Syscall::from_name(name).is_none() && !syscalls::SCTP_SYSCALLS.contains(&name)
        {
            let names = syscalls::Syscall::ALL.iter().map(|call| call.name());
            let hint = suggest::did_you_mean(name, names, "");
            return Err(self.error(&name_pair, format!("unknown system call '{name}'{hint}")));
        }
        let mut args = Vec::new();
        let mut result = None;
        let mut errno = None;
        let mut note = None;
        for part in parts {
            match part.as_rule() {
                Rule::arguments => {
                    for arg in part.into_inner() {
                        args.push(self.expression(arg)?);
                    }
                }
                Rule::expression => result = Some(self.expression(part)?),
                Rule::errno_name => {
                    if !symbols::is_errno_name(part.as_str()) {
                        let errno = part.as_str();
                        let names = symbols::all().map(|(name, ..)| name);
                        let errnos = names.filter(|name| symbols::is_errno_name(name));
                        let hint = suggest::did_you_mean(errno, errnos, "");
                        return Err(self.error(&part, format!("unknown errno '{errno}'{hint}")));
                    }
                    errno = Some(Spanned {
                        value: part.as_str().to_string(),
                        span: self.span(&part),
                    });
                }
                Rule::syscall_note => {
                    note = Some(
                        part.into_inner()
                            .next()
                            .unwrap()
                            .as_str()
                            .trim()
                            .to_string(),
                    )
                }
                other => unreachable!("unexpected {other:?} in system call"),
            }
        }
        let syscall = Syscall {
            name: Spanned {
                value: name.to_string(),
                span: self.span(&name_pair),
            },
            args,
            result: result.unwrap(),
            errno,
            note,
        };
        for expr in syscall.args.iter().chain(std::iter::once(&syscall.result)) {
            self.check_symbols(expr)?;
        }
        Ok(syscall)
    }

    /// Every bare word used as a value must be a known symbolic constant.
    fn check_symbols(&self, expr: &Expr) -> Result<()> {
        match &expr.kind {
            // Another platform's name parses (a dry run accepts the script); running it on
            // Linux fails at the name (run/executor.rs).
            ExprKind::Word(word)
                if symbols::lookup(word).is_none() && symbols::other_platform(word).is_none() =>
            {
                let names = symbols::all().map(|(name, ..)| name);
                let names = names.chain(self.define_names.iter().map(String::as_str));
                let hint = suggest::did_you_mean(word, names, "");
                // Like a word where a number is needed, most likely a `-D` define the command
                // line did not give (CMSG_LEVEL_IP): a dry run warns, a run fails at the event.
                let message = if hint.is_empty() {
                    format!("unknown symbol '{word}': give -D {word}=VALUE if it is a define")
                } else {
                    format!("unknown symbol '{word}'{hint}")
                };
                let mut e = self.error_at(expr.span, message);
                e.undefined_word = Some(word.clone());
                Err(e)
            }
            ExprKind::BitOr(items) | ExprKind::Array(items) | ExprKind::Struct(items) => {
                items.iter().try_for_each(|e| self.check_symbols(e))
            }
            ExprKind::Field { index, value, .. } => {
                if let Some(index) = index {
                    self.check_symbols(index)?;
                }
                self.check_symbols(value)
            }
            ExprKind::Call { args, .. } => args.iter().try_for_each(|e| self.check_symbols(e)),
            _ => Ok(()),
        }
    }

    fn expression(&self, pair: Pair<Rule>) -> Result<Expr> {
        let span = self.span(&pair);
        let mut terms: Vec<Expr> = pair
            .into_inner()
            .map(|t| self.term(t))
            .collect::<Result<_>>()?;
        if terms.len() == 1 {
            return Ok(terms.pop().unwrap());
        }
        for t in &terms {
            if !matches!(t.kind, ExprKind::Integer(_) | ExprKind::Word(_)) {
                return Err(self.error_at(
                    t.span,
                    "only integers and symbolic constants can be combined with |",
                ));
            }
        }
        Ok(Expr {
            kind: ExprKind::BitOr(terms),
            span,
        })
    }

    fn expressions(&self, pair: Pair<Rule>) -> Result<Vec<Expr>> {
        pair.into_inner()
            .filter(|p| p.as_rule() == Rule::expression)
            .map(|p| self.expression(p))
            .collect()
    }

    fn term(&self, pair: Pair<Rule>) -> Result<Expr> {
        let inner = pair.into_inner().next().unwrap();
        let span = self.span(&inner);
        let kind = match inner.as_rule() {
            Rule::ellipsis => ExprKind::Ellipsis,
            Rule::hex_integer | Rule::decimal_integer => {
                ExprKind::Integer(self.integer_value(&inner)?)
            }
            Rule::word => ExprKind::Word(inner.as_str().to_string()),
            Rule::strings => {
                let mut bytes = Vec::new();
                let mut trailing_ellipsis = false;
                for part in inner.into_inner() {
                    match part.as_rule() {
                        Rule::string => {
                            let body = part.into_inner().next().unwrap();
                            bytes.extend(self.unescape(&body)?);
                        }
                        _ => trailing_ellipsis = true,
                    }
                }
                ExprKind::Bytes {
                    bytes: ByteString(bytes),
                    trailing_ellipsis,
                }
            }
            Rule::gre_value => ExprKind::Gre(self.gre_header(inner)?),
            Rule::mpls_value => ExprKind::Mpls(self.mpls_entries(inner)?),
            Rule::array => ExprKind::Array(self.expressions(inner)?),
            Rule::braces => ExprKind::Struct(self.expressions(inner)?),
            Rule::field => {
                let mut parts: Vec<Pair<Rule>> = inner.into_inner().collect();
                let name = parts.remove(0);
                let value = self.expression(parts.pop().unwrap())?;
                let index = match parts.pop() {
                    Some(p) => Some(Box::new(self.expression(p)?)),
                    None => None,
                };
                if let (Some(index), "msg_iov", ExprKind::Array(items)) =
                    (&index, name.as_str(), &value.kind)
                {
                    if let ExprKind::Integer(n) = index.kind {
                        if n != items.len() as i64 {
                            return Err(self.error_at(
                                index.span,
                                format!(
                                    "msg_iov({n}) does not match the {} iovec(s) given",
                                    items.len()
                                ),
                            ));
                        }
                    }
                }
                ExprKind::Field {
                    name: Spanned {
                        value: name.as_str().to_string(),
                        span: self.span(&name),
                    },
                    index,
                    value: Box::new(value),
                }
            }
            Rule::function_call => {
                let mut parts = inner.clone().into_inner();
                let function = parts.next().unwrap();
                let args: Vec<Expr> = parts.map(|p| self.expression(p)).collect::<Result<_>>()?;
                let name = function.as_str();
                if args.len() != 1 {
                    return Err(self.error(&inner, format!("{name}() takes exactly one argument")));
                }
                match (name, &args[0].kind) {
                    ("inet_addr", ExprKind::Bytes { bytes, .. }) => {
                        self.check_address_string(&args[0], &bytes.0, false)?
                    }
                    ("inet6_addr", ExprKind::Bytes { bytes, .. }) => {
                        self.check_address_string(&args[0], &bytes.0, true)?
                    }
                    ("inet_addr" | "inet6_addr", _) => {
                        return Err(
                            self.error_at(args[0].span, format!("{name}() takes a quoted address"))
                        )
                    }
                    (_, ExprKind::Integer(_) | ExprKind::Word(_)) => {}
                    _ => {
                        return Err(
                            self.error_at(args[0].span, format!("{name}() takes an integer"))
                        )
                    }
                }
                ExprKind::Call {
                    function: Spanned {
                        value: name.to_string(),
                        span: self.span(&function),
                    },
                    args,
                }
            }
            other => unreachable!("unexpected {other:?} as term"),
        };
        Ok(Expr { kind, span })
    }

    fn check_address_string(&self, arg: &Expr, bytes: &[u8], v6: bool) -> Result<()> {
        let text = String::from_utf8_lossy(bytes);
        let ok = if v6 {
            text.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            text.parse::<std::net::Ipv4Addr>().is_ok()
        };
        if ok {
            Ok(())
        } else {
            Err(self.error_at(
                arg.span,
                format!(
                    "bad {} address \"{text}\"",
                    if v6 { "IPv6" } else { "IPv4" }
                ),
            ))
        }
    }

    /// String escapes: `\n \r \t \v \f \xHH`, plus `\\` and `\"` (which upstream mangles).
    fn unescape(&self, body: &Pair<Rule>) -> Result<Vec<u8>> {
        let text = body.as_str().as_bytes();
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        while i < text.len() {
            if text[i] != b'\\' {
                out.push(text[i]);
                i += 1;
                continue;
            }
            let escape_at = Span {
                start: self.expanded.original_offset(body.as_span().start() + i),
                end: self
                    .expanded
                    .original_offset(body.as_span().start() + i + 1),
            };
            match text.get(i + 1) {
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(b'v') => out.push(0x0b),
                Some(b'f') => out.push(0x0c),
                Some(b'\\') => out.push(b'\\'),
                Some(b'"') => out.push(b'"'),
                Some(b'x') => {
                    let digits = text
                        .get(i + 2..i + 4)
                        .and_then(|d| std::str::from_utf8(d).ok());
                    match digits.and_then(|d| u8::from_str_radix(d, 16).ok()) {
                        Some(b) => out.push(b),
                        None => {
                            return Err(self.error_at(escape_at, "\\x escape needs two hex digits"))
                        }
                    }
                    i += 2;
                }
                Some(&c) => {
                    return Err(self.error_at(
                        escape_at,
                        format!("unsupported escape code '\\{}' in string", c as char),
                    ));
                }
                None => return Err(self.error_at(escape_at, "string ends with a lone backslash")),
            }
            i += 2;
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Tokens

    /// A word where a number is needed: most likely a `-D` define that was not given.
    fn undefined_word(&self, pair: &Pair<Rule>) -> ScriptError {
        let word = pair.as_str();
        let names = self.define_names.iter().map(String::as_str);
        let hint = suggest::did_you_mean(word, names, "");
        let mut e = self.error(
            pair,
            format!(
                "'{word}' is not defined: give -D {word}=VALUE (a number is needed here){hint}"
            ),
        );
        e.undefined_word = Some(word.to_string());
        e
    }

    /// The span of the word an undefined-word error is about (its location is its start).
    fn word_span(&self, e: &ScriptError, word: &str) -> Span {
        let loc = e
            .location
            .as_ref()
            .expect("undefined-word errors have a location");
        let (line_start, _) = self.source_lines.line_range(loc.line, self.source.len());
        let prefix: String = self.source[line_start..]
            .chars()
            .take(loc.column - 1)
            .collect();
        let start = line_start + prefix.len();
        Span {
            start,
            end: start + word.len(),
        }
    }

    fn ip_address(&self, pair: &Pair<Rule>) -> Result<IpAddr> {
        pair.as_str()
            .parse()
            .map_err(|_| self.error(pair, format!("bad IP address '{}'", pair.as_str())))
    }

    fn integer_value(&self, pair: &Pair<Rule>) -> Result<i64> {
        let text = pair.as_str();
        if pair.as_rule() == Rule::undefined_word {
            return Err(self.undefined_word(pair));
        }
        let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X"))
        {
            u64::from_str_radix(hex, 16).ok().map(|v| v as i64)
        } else {
            text.parse::<i64>().ok()
        };
        parsed.ok_or_else(|| self.error(pair, format!("integer {text} is out of range (64 bits)")))
    }

    /// An integer token converted to a field of type T, with a range error naming the field.
    fn integer<T: TryFrom<i64> + Bounded>(&self, pair: &Pair<Rule>, what: &str) -> Result<T> {
        let pair = if pair.as_rule() == Rule::integer {
            pair.clone().into_inner().next().unwrap()
        } else {
            pair.clone()
        };
        let value = self.integer_value(&pair)?;
        T::try_from(value).map_err(|_| {
            self.error(
                &pair,
                format!(
                    "{what} {} is out of range ({}..={})",
                    pair.as_str(),
                    T::MIN_TEXT,
                    T::MAX_TEXT
                ),
            )
        })
    }
}

/// Range bounds of integer field types, for error messages.
trait Bounded {
    const MIN_TEXT: &'static str;
    const MAX_TEXT: &'static str;
}
impl Bounded for u8 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "255";
}
impl Bounded for u16 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "65535";
}
impl Bounded for u32 {
    const MIN_TEXT: &'static str = "0";
    const MAX_TEXT: &'static str = "4294967295";
}

/// Script seconds ("1", "0.25", ".002") to microseconds, truncating below a microsecond.
fn parse_seconds(text: &str) -> Option<i64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut micros_digits: String = fraction.chars().take(6).collect();
    while micros_digits.len() < 6 {
        micros_digits.push('0');
    }
    let micros = whole
        .checked_mul(1_000_000)?
        .checked_add(micros_digits.parse::<i64>().ok()?)?;
    Some(if negative { -micros } else { micros })
}

fn ecn_from(name: &str) -> Ecn {
    match name {
        "noecn" => Ecn::NotEct,
        "ect0" => Ecn::Ect0,
        "ect1" => Ecn::Ect1,
        "ce" => Ecn::Ce,
        _ => Ecn::Ect0OrEct1,
    }
}

fn dscp_from_name(name: &str) -> Option<u8> {
    let class_selector = |n: &str| {
        n.strip_prefix("cs")
            .and_then(|d| d.parse::<u8>().ok())
            .filter(|d| *d <= 7)
            .map(|d| d << 3)
    };
    let assured = |n: &str| {
        let d = n.strip_prefix("af")?.as_bytes();
        match d {
            [c @ b'1'..=b'4', p @ b'1'..=b'3'] => Some(((c - b'0') << 3) | ((p - b'0') << 1)),
            _ => None,
        }
    };
    match name {
        "ef" => Some(46),
        "le" => Some(1),
        _ => class_selector(name).or_else(|| assured(name)),
    }
}

fn gre_flag_bit(name: &str) -> u16 {
    if name.starts_with("checksum") {
        0x8000
    } else if name.starts_with("key") {
        0x2000
    } else if name.starts_with("sequence") {
        0x1000
    } else {
        0
    }
}

fn tcp_option_len(option: &TcpOption) -> usize {
    match option {
        TcpOption::Eol | TcpOption::Nop => 1,
        TcpOption::Mss(_) => 4,
        TcpOption::WindowScale(_) => 3,
        TcpOption::SackPermitted => 2,
        TcpOption::Sack(blocks) => 2 + 8 * blocks.len(),
        TcpOption::Timestamp { .. } => 10,
        TcpOption::Md5(digest) => 2 + digest.len(),
        TcpOption::Md5Valid => 18,
        TcpOption::FastOpen(cookie) => 2 + cookie.as_ref().map_or(0, Vec::len),
        TcpOption::FastOpenExp(cookie) => 4 + cookie.as_ref().map_or(0, Vec::len),
        TcpOption::AccEcn(counters) => 2 + 3 * counters.len(),
        TcpOption::Generic {
            experiment_id,
            data,
            ..
        } => 2 + data.len() + if experiment_id.is_some() { 2 } else { 0 },
        TcpOption::Mptcp(option) => option.wire_len(),
    }
}

fn option_usage(name: &str) -> &'static str {
    match name {
        "mss" => " (expected 'mss N')",
        "wscale" => " (expected 'wscale N')",
        "sack" => " (expected 'sack L:R [L:R …]')",
        "TS" => " (expected 'TS val N ecr N')",
        "md5" => " (expected 'md5 HEX' or 'md5 valid')",
        "FO" | "FOEXP" => " (expected an even number of hex digits as cookie)",
        "ECN" => " (expected 'ECN e0b N [ceb N [e1b N]]' or 'ECN e1b N …')",
        _ => "",
    }
}

/// ICMP names are checked against the v4 and v6 tables; the run picks the table for its family.
fn check_icmp_names(
    icmp_type: &Spanned<String>,
    code: Option<&Spanned<String>>,
) -> std::result::Result<(), (Span, String)> {
    let numeric =
        |name: &str, prefix: &str| name.strip_prefix(prefix).map(|n| n.parse::<u8>().is_ok());
    let type_name = icmp_type.value.as_str();
    match numeric(type_name, "type_") {
        Some(true) => {}
        Some(false) => {
            return Err((
                icmp_type.span,
                format!("bad ICMP type '{type_name}' (type_N needs N in 0..=255)"),
            ))
        }
        None => {
            if !icmp::is_type_name(type_name) {
                return Err((icmp_type.span, format!("bad ICMP type '{type_name}'")));
            }
        }
    }
    let Some(code) = code else { return Ok(()) };
    let code_name = code.value.as_str();
    match numeric(code_name, "code_") {
        Some(true) => Ok(()),
        Some(false) => Err((
            code.span,
            format!("bad ICMP code '{code_name}' (code_N needs N in 0..=255)"),
        )),
        None if icmp::is_code_name(code_name) => Ok(()),
        None => Err((code.span, format!("bad ICMP code '{code_name}'"))),
    }
}

/// ICMP type and code names of one address family (packetdrill resolves `icmp` as ICMPv4 on
/// IPv4 wire packets and as ICMPv6 on IPv6 ones).
pub fn check_icmp_family(script: &Script, ipv6: bool) -> std::result::Result<(), (Span, String)> {
    for event in &script.events {
        let Action::Packet(Packet {
            body: PacketBody::Icmp(icmp),
            ..
        }) = &event.action
        else {
            continue;
        };
        let family = if ipv6 { "ICMPv6" } else { "ICMPv4" };
        let name = icmp.icmp_type.value.as_str();
        let type_known = name.starts_with("type_") || icmp::icmp_type_number(name, ipv6).is_some();
        if !type_known {
            return Err((
                icmp.icmp_type.span,
                format!("bad ICMP type '{name}' ({family} has no such type)"),
            ));
        }
        if let Some(code) = &icmp.code {
            if !code.value.starts_with("code_")
                && icmp::icmp_code_number(name, &code.value, ipv6).is_none()
            {
                return Err((
                    code.span,
                    format!(
                        "bad ICMP code '{}' ({family} {name} has no such code)",
                        code.value
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A short description of the text at an error position.
fn describe_found(rest: &str) -> String {
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() {
        return "end of file".to_string();
    }
    if rest.starts_with('\n') || rest.starts_with("\r\n") {
        return "end of line".to_string();
    }
    let token: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .take(24)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    format!("'{token}'")
}

/// Human words for grammar rules in "expected …" messages.
fn describe_rule(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::option_line | Rule::untimed_command | Rule::EOI | Rule::event | Rule::event_time => {
            "a new event (a time such as +0)"
        }
        Rule::option_name => "an option name after --",
        Rule::option_value => "an option value after =",
        Rule::time_point | Rule::time_value => "an event time (N, +N, *, A~B)",
        Rule::command => "a command in back-quotes",
        Rule::blocking_end => "'...END' (blocking call end time)",
        Rule::action => "a packet (< or >), a system call, a `command` or %{ code }%",
        Rule::packet => "a packet",
        Rule::link_frame => "a layer-2 frame (arp request|reply, ndp ns|na)",
        Rule::arp_operation => "an ARP operation (request or reply)",
        Rule::ndp_message => "a neighbour discovery message (ns or na)",
        Rule::link_field | Rule::link_field_name => "a layer-2 field (sha, spa, tha, tpa, htype, ptype, op, src, dst, tgt, flags, sll, tll, hlim, eth_src, eth_dst)",
        Rule::link_value
        | Rule::mac_address
        | Rule::link_number
        | Rule::link_name
        | Rule::ndp_flags
        | Rule::link_ignored => "a field value (a MAC, an address, a number, a name, ...)",
        Rule::direction => "'<' or '>'",
        Rule::ip_info | Rule::ip_info_item => {
            "IP info ([ect0], [tos 0x..], [ttl N], [ip_options HEX], [src A, dst A], …)"
        }
        Rule::ecn_name => "an ECN name (noecn, ect0, ect1, ce, ect01)",
        Rule::encapsulation | Rule::ip_encap | Rule::gre_encap | Rule::mpls_encap => {
            "an encapsulation header"
        }
        Rule::l4_packet => "a packet type (TCP flags, udp, icmp)",
        Rule::tcp_packet | Rule::tcp_flags => "TCP flags (S, S., P., F., R, ., -)",
        Rule::sequence => "a sequence range START:END(LEN)",
        Rule::tcp_field => "'ack N', 'win N', 'urg N' or 'bad_csum'",
        Rule::tcp_options => "TCP options <...>",
        Rule::tcp_option => "a TCP option",
        Rule::sack_block => "a SACK block L:R",
        Rule::hex_blob => "hex digits",
        Rule::accecn_field | Rule::accecn_name => "an AccECN counter (e0b N, e1b N, ceb N)",
        Rule::udp_packet | Rule::udplite_packet => "a UDP packet",
        Rule::icmp_packet | Rule::icmp_name => "an ICMP type or code name",
        Rule::icmp_field => "'mtu N' or 'id N'",
        Rule::icmp_echoed => "an echoed header [START:END(LEN)], [udp (LEN)] or [raw (LEN)]",
        Rule::port_pair => "ports SPORT > DPORT",
        Rule::syscall | Rule::syscall_name => "a system call",
        Rule::arguments => "system call arguments",
        Rule::errno_name => "an errno name (e.g. EAGAIN)",
        Rule::syscall_note => "a note in parentheses",
        Rule::expression | Rule::term => "an expression",
        Rule::field | Rule::field_name => "a field (name=value)",
        Rule::function_call | Rule::function_name => "a function call",
        Rule::strings | Rule::string => "a string",
        Rule::array => "a list [ ... ]",
        Rule::braces => "a struct { ... }",
        Rule::integer | Rule::hex_integer | Rule::decimal_integer | Rule::undefined_word => {
            "a number"
        }
        Rule::word => "a name",
        Rule::ip_address | Rule::ipv4_address | Rule::ipv6_address => "an IP address",
        Rule::code_block => "a code block %{ ... }%",
        Rule::sctp_packet | Rule::sctp_header | Rule::sctp_header_item => {
            "an SCTP header (sctp: or sctp(tag=N, bad_crc32c, zero_checksum):)"
        }
        Rule::sctp_chunks | Rule::sctp_item | Rule::sctp_item_name => {
            "an SCTP chunk (DATA[...], INIT[...], SACK[...], ...)"
        }
        Rule::sctp_element | Rule::sctp_field | Rule::sctp_field_name => {
            "an SCTP field (name=value), parameter or cause"
        }
        Rule::sctp_value | Rule::sctp_list | Rule::sctp_list_entry => "an SCTP field value",
        _ => return None,
    })
}

/// Literal tokens worth naming in an "expected …" message.
const EXPECTED_PUNCTUATION: &[&str] = &[
    "=", ")", "(", ",", "}", "{", "]", "[", "|", ">", ":", "~", "...",
];

/// Rules inside which the expected punctuation is the best hint.
const EXPRESSION_RULES: &[Rule] = &[
    Rule::syscall,
    Rule::arguments,
    Rule::expression,
    Rule::term,
    Rule::field,
    Rule::function_call,
    Rule::array,
    Rule::braces,
    Rule::gre_value,
    Rule::mpls_value,
    Rule::decimal_integer,
    Rule::hex_integer,
    Rule::word,
    Rule::sequence,
    Rule::sack_block,
    Rule::port_pair,
];

/// "a", "a or b", "a, b or c".
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Script> {
        parse_source("t.pkt", text, &BTreeMap::new())
    }

    #[test]
    fn seconds_to_micros() {
        assert_eq!(parse_seconds("0"), Some(0));
        assert_eq!(parse_seconds(".002"), Some(2000));
        assert_eq!(parse_seconds("1.5"), Some(1_500_000));
        assert_eq!(parse_seconds("0.1234567"), Some(123_456));
        assert_eq!(parse_seconds("-1"), Some(-1_000_000));
        assert_eq!(parse_seconds("99999999999999999999"), None);
    }

    #[test]
    fn minimal_script() {
        let s = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n").unwrap();
        assert_eq!(s.events.len(), 1);
        assert_eq!(s.events[0].line, 1);
    }

    #[test]
    fn handshake_packets() {
        let s = parse("0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n+0 > S. 0:0(0) ack 1 <mss 1460,nop,nop,sackOK,nop,wscale 8>\n").unwrap();
        let Action::Packet(p) = &s.events[1].action else {
            panic!()
        };
        let PacketBody::Tcp(tcp) = &p.body else {
            panic!()
        };
        assert!(tcp.flags.syn && tcp.flags.ack);
        assert_eq!(tcp.ack, Some(1));
        assert_eq!(s.events[1].line, 2);
    }

    #[test]
    fn ace_digit_flags_glue() {
        for flags in ["P.5", "P5.", ".5", "F5.", "SEWA", "-"] {
            parse(&format!("0 > {flags} 1:1(0) ack 1\n"))
                .unwrap_or_else(|e| panic!("{flags}: {e}"));
        }
    }

    #[test]
    fn nested_calls_that_never_close_fail_in_linear_time() {
        // Found by the parse_script fuzzer (a 622-byte input took 14 s under ASan): every
        // `htons(` was parsed twice, as a call and as a `name(...)=` field, so each level of
        // nesting doubled the work (a dry run took 1.1 s at 16 levels, 22 s at 20). At 40
        // levels this test would never end.
        let nested = "htons(a=".repeat(40);
        let e = parse(&format!("0 connect(3, {{sin_port={nested}1, ...) = 0\n")).unwrap_err();
        let first = e.to_string().lines().next().unwrap().to_string();
        assert!(first.starts_with("t.pkt:1:"), "{first}");
        // A function's name is never a field's: `htons(1)=2` is no field.
        assert!(parse("0 connect(3, {htons(1)=2}, 16) = 0\n").is_err());
    }

    #[test]
    fn nested_fields_that_never_close_fail_in_linear_time() {
        // Found by the parse_script fuzzer (a 703-byte `poll([{fd=4, events=POLLIN|[…` took
        // over 10 s under ASan, 2.0 s natively; then, with fields first in an expression
        // fixed, 1,120 bytes of `…pLIN|s=P=LLIN|[…` 16.5 s): after a field `a=b|…` whose
        // value stopped at a `|` it could not continue, the enclosing expression tried that
        // `|` again, so each nesting level doubled the work (1.5 s for 16 levels of `{a=b|`,
        // 3.4 s for 16 of `x|s=P|[` in the fuzz build). At 60 levels this test would never end.
        let shapes = ["{a=b|", "[{fd=4, events=POLLIN|", "x|s=P|[", "x|s=P=L|{"];
        for nested in shapes.map(|shape| shape.repeat(60)) {
            let e = parse(&format!("0 poll({nested}) = 0\n")).unwrap_err();
            let first = e.to_string().lines().next().unwrap().to_string();
            assert!(first.starts_with("t.pkt:1:"), "{first}");
        }
        // A field's value still takes `|`, and a field still ends where its value does.
        let script =
            parse("0 poll([{fd=4, events=POLLIN|POLLOUT, revents=0}], 1, 0) = 0\n").unwrap();
        assert!(format!("{:?}", script.events[0].action).contains("BitOr"));
        let e = parse("0 poll([{fd=4, events=POLLIN|x=2|3}], 1, 0) = 0\n").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "t.pkt:1:30: error: only integers and symbolic constants can be combined with |"
            ),
            "{e}"
        );
    }

    #[test]
    fn errors_point_at_the_culprit() {
        let e = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 frob(3) = 0\n").unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "t.pkt:2:4: error: unknown system call 'frob'"
        );
    }

    #[test]
    fn defines_substitute_and_errors_map_back() {
        let mut d = BTreeMap::new();
        d.insert("MSS".to_string(), "70000".to_string());
        let e = parse_source("t.pkt", "0 > S 0:0(0) <mss MSS>\n", &d).unwrap_err();
        assert_eq!(
            e.to_string().lines().next().unwrap(),
            "t.pkt:1:19: error: mss 70000 is out of range (0..=65535)"
        );
    }

    /// The deliberate differences listed in docs/compatibility.md.
    #[test]
    fn documented_leniencies() {
        let crlf =
            parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\r\n+0 close(3) = 0\r\n").unwrap();
        assert_eq!(crlf.events.len(), 2);
        let note = parse("0 close(3) = -1 EBADF (bad fd id ack win)\n").unwrap();
        let Action::Syscall(call) = &note.events[0].action else {
            panic!()
        };
        assert_eq!(call.note.as_deref(), Some("bad fd id ack win"));
        let escapes =
            parse("0 setsockopt(3, SOL_TCP, TCP_CONGESTION, \"a\\\\b\\\"c\", 5) = 0\n").unwrap();
        let Action::Syscall(call) = &escapes.events[0].action else {
            panic!()
        };
        assert_eq!(
            call.args[3].kind,
            ExprKind::Bytes {
                bytes: ByteString(b"a\\b\"c".to_vec()),
                trailing_ellipsis: false
            }
        );
        parse("0 close(3) = 0\n// last line without newline").unwrap();
        parse("0 < [tos 16] S 0:0(0) win 100\n").unwrap();
    }
}
