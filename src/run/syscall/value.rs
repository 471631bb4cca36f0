//! Evaluating script expressions: symbols resolved, `|` folded, struct forms recognised by
//! their field names (packetdrill's `evaluate()` plus the typed expression kinds of its parser).

use crate::catalog::symbols;
use crate::script::ast::{Expr, ExprKind, GreHeader, MplsEntry};

/// How `epoll_event.data` was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EpollData {
    Ptr,
    Fd,
    U32,
    U64,
}

/// A fully evaluated expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Ellipsis,
    Int(i64),
    /// String bytes (without a terminating NUL).
    Str(Vec<u8>),
    /// `[ … ]` or a `{ … }` that is no known struct form.
    List(Vec<Value>),
    /// `NAME = value` where NAME is a symbol (opt-stats lists).
    Binary {
        key: i64,
        value: Box<Value>,
    },
    /// `{..., LEN}`.
    Iovec {
        len: i64,
    },
    Msghdr(Box<MsghdrValue>),
    Cmsg(Box<CmsgValue>),
    /// `{scm_sec=N, scm_nsec=N}`.
    ScmTimestamping {
        sec: i64,
        nsec: i64,
    },
    /// `{ee_errno=, ee_origin=, ee_type=, ee_code=, ee_info=, ee_data=}`.
    ExtendedErr(Box<[Value; 6]>),
    Pollfd {
        fd: Box<Value>,
        events: Box<Value>,
        revents: Box<Value>,
    },
    Epollev {
        events: Box<Value>,
        kind: EpollData,
        data: Box<Value>,
    },
    Linger {
        onoff: Box<Value>,
        linger: Box<Value>,
    },
    /// packetdrill's `struct gre` (16 bytes).
    Gre([u8; 16]),
    /// packetdrill's `struct mpls_stack` (6 entries + int length, 28 bytes).
    Mpls(Vec<u8>),
    In6Addr([u8; 16]),
    /// `{sa_family=…, sin_port=htons(N), sin_addr=inet_addr("…")}` (nplab's spelling;
    /// `inet6_addr` for AF_INET6): the address bind() and connect() pass (a stackdrill
    /// extension).
    Sockaddr(std::net::SocketAddr),
    /// Linux's `struct tcp_md5sig` for TCP_MD5SIG(_EXT): `{tcpm_addr=SOCKADDR, [tcpm_flags=N,]
    /// [tcpm_prefixlen=N,] [tcpm_keylen=N,] [tcpm_ifindex=N,] tcpm_key="KEY"}` (a stackdrill
    /// extension: packetdrill has no form for it). `keylen` defaults to the key's length.
    TcpMd5Sig(Box<TcpMd5SigValue>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TcpMd5SigValue {
    pub addr: std::net::SocketAddr,
    pub flags: u8,
    pub prefixlen: u8,
    pub keylen: u16,
    pub ifindex: i32,
    pub key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MsghdrValue {
    pub name: Value,
    pub namelen: Value,
    pub iov: Value,
    /// `msg_iov(N)`: None when the script left it out.
    pub iovlen: Option<Value>,
    pub flags: Value,
    pub control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CmsgValue {
    pub level: Value,
    pub ty: Value,
    pub data: Value,
}

impl Value {
    /// packetdrill's `expression_type_to_string` names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Ellipsis => "ellipsis",
            Value::Int(_) => "integer",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Binary { .. } => "binary_expression",
            Value::Iovec { .. } => "iovec",
            Value::Msghdr(_) => "msghdr",
            Value::Cmsg(_) => "cmsg",
            Value::ScmTimestamping { .. } => "scm_timestamping",
            Value::ExtendedErr(_) => "sock_extended_err",
            Value::Pollfd { .. } => "pollfd",
            Value::Epollev { .. } => "epollev",
            Value::Linger { .. } => "linger",
            Value::Gre(_) => "gre",
            Value::Mpls(_) => "mpls_stack",
            Value::In6Addr(_) => "in6_addr",
            Value::Sockaddr(a) if a.is_ipv4() => "sockaddr_in",
            Value::Sockaddr(_) => "sockaddr_in6",
            Value::TcpMd5Sig(_) => "tcp_md5sig",
        }
    }
}

/// `Bad type; actual: T expected: T`.
pub(crate) fn bad_type(actual: &Value, expected: &str) -> String {
    format!(
        "Bad type; actual: {} expected: {}",
        actual.type_name(),
        expected
    )
}

/// The integer of an `Int`, else a type error.
pub(crate) fn get_int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(n) => Ok(*n),
        other => Err(bad_type(other, "integer")),
    }
}

/// A C `int` argument: an integer within [INT_MIN, UINT_MAX], wrapped to 32 bits as C does.
pub(crate) fn get_s32(v: &Value) -> Result<i32, String> {
    let n = get_int(v)?;
    if n > u32::MAX as i64 || n < i32::MIN as i64 {
        return Err(format!("Value out of range for 32-bit integer: {n}"));
    }
    Ok(n as i32)
}

/// An 8-bit field: an integer within [CHAR_MIN, UCHAR_MAX].
pub(crate) fn get_s8(v: &Value) -> Result<u8, String> {
    let n = get_int(v)?;
    if n > u8::MAX as i64 || n < i8::MIN as i64 {
        return Err(format!("Value out of range for 8-bit integer: {n}"));
    }
    Ok(n as u8)
}

/// Evaluates every expression of a list, in order.
pub(crate) fn evaluate_all(exprs: &[Expr]) -> Result<Vec<Value>, String> {
    exprs.iter().map(evaluate).collect()
}

/// Evaluates one expression.
pub(crate) fn evaluate(expr: &Expr) -> Result<Value, String> {
    match &expr.kind {
        ExprKind::Ellipsis => Ok(Value::Ellipsis),
        ExprKind::Integer(n) => Ok(Value::Int(*n)),
        ExprKind::Word(word) => lookup(word).map(Value::Int),
        ExprKind::Bytes { bytes, .. } => Ok(Value::Str(bytes.0.clone())),
        ExprKind::BitOr(items) => {
            let mut acc = 0i64;
            for (i, item) in items.iter().enumerate() {
                match evaluate(item)? {
                    Value::Int(n) => acc |= n,
                    _ if i == 0 => return Err("left hand side of | not an integer".to_string()),
                    _ => return Err("right hand side of | not an integer".to_string()),
                }
            }
            Ok(Value::Int(acc))
        }
        ExprKind::Array(items) => Ok(Value::List(evaluate_all(items)?)),
        ExprKind::Struct(items) => evaluate_struct(items),
        ExprKind::Field { name, value, .. } => {
            let key = lookup(&name.value)?;
            Ok(Value::Binary {
                key,
                value: Box::new(evaluate(value)?),
            })
        }
        ExprKind::Gre(gre) => Ok(Value::Gre(gre_bytes(gre))),
        ExprKind::Mpls(entries) => mpls_bytes(entries).map(Value::Mpls),
        ExprKind::Call { function, args } => evaluate_call(&function.value, args),
    }
}

fn lookup(word: &str) -> Result<i64, String> {
    symbols::lookup(word).ok_or_else(|| format!("unknown symbol: '{word}'"))
}

fn evaluate_call(function: &str, args: &[Expr]) -> Result<Value, String> {
    let [arg] = args else {
        return Err(format!("{function}() takes exactly one argument"));
    };
    match function {
        "inet_addr" | "inet6_addr" => {
            let ExprKind::Bytes { bytes, .. } = &arg.kind else {
                return Err(format!("{function}() takes a quoted address"));
            };
            let text = String::from_utf8_lossy(&bytes.0);
            if function == "inet_addr" {
                let addr: std::net::Ipv4Addr = text
                    .parse()
                    .map_err(|_| format!("bad IPv4 address \"{text}\""))?;
                // in_addr_t in network byte order, as an integer.
                Ok(Value::Int(u32::from_ne_bytes(addr.octets()) as i64))
            } else {
                let addr: std::net::Ipv6Addr = text
                    .parse()
                    .map_err(|_| format!("bad IPv6 address \"{text}\""))?;
                Ok(Value::In6Addr(addr.octets()))
            }
        }
        "htons" => {
            let n = get_int(&evaluate(arg)?)?;
            Ok(Value::Int((n as u16).to_be() as i64))
        }
        "htonl" => {
            let n = get_int(&evaluate(arg)?)?;
            Ok(Value::Int((n as u32).to_be() as i64))
        }
        other => Err(format!("unknown function '{other}'")),
    }
}

/// The field names of a `{ … }` whose items are all `name=value`.
fn field_names(items: &[Expr]) -> Option<Vec<&str>> {
    items
        .iter()
        .map(|item| match &item.kind {
            ExprKind::Field { name, .. } => Some(name.value.as_str()),
            _ => None,
        })
        .collect()
}

/// (index, value) of a field item.
fn field_parts(item: &Expr) -> (Option<&Expr>, &Expr) {
    match &item.kind {
        ExprKind::Field { index, value, .. } => (index.as_deref(), value),
        _ => (None, item),
    }
}

fn field_value(item: &Expr) -> Result<Value, String> {
    evaluate(field_parts(item).1)
}

fn boxed(item: &Expr) -> Result<Box<Value>, String> {
    field_value(item).map(Box::new)
}

fn evaluate_struct(items: &[Expr]) -> Result<Value, String> {
    // iovec: `{..., LEN}`.
    if let [base, len] = items {
        if matches!(base.kind, ExprKind::Ellipsis) && !matches!(len.kind, ExprKind::Field { .. }) {
            if let Value::Int(len) = evaluate(len)? {
                return Ok(Value::Iovec { len });
            }
        }
    }
    let Some(names) = field_names(items) else {
        return Ok(Value::List(evaluate_all(items)?));
    };
    match names.as_slice() {
        ["msg_name", "msg_iov", "msg_flags"]
        | ["msg_name", "msg_iov", "msg_flags", "msg_control"] => {
            let (name_index, name) = field_parts(&items[0]);
            let (iov_index, iov) = field_parts(&items[1]);
            let namelen = match name_index {
                Some(e) => evaluate(e)?,
                None => Value::Ellipsis,
            };
            Ok(Value::Msghdr(Box::new(MsghdrValue {
                name: evaluate(name)?,
                namelen,
                iov: evaluate(iov)?,
                iovlen: iov_index.map(evaluate).transpose()?,
                flags: field_value(&items[2])?,
                control: items.get(3).map(field_value).transpose()?,
            })))
        }
        ["cmsg_level", "cmsg_type", "cmsg_data"] => Ok(Value::Cmsg(Box::new(CmsgValue {
            level: field_value(&items[0])?,
            ty: field_value(&items[1])?,
            data: field_value(&items[2])?,
        }))),
        ["scm_sec", "scm_nsec"] => Ok(Value::ScmTimestamping {
            sec: get_int(&field_value(&items[0])?)?,
            nsec: get_int(&field_value(&items[1])?)?,
        }),
        ["ee_errno", "ee_origin", "ee_type", "ee_code", "ee_info", "ee_data"] => {
            let values: Vec<Value> = items.iter().map(field_value).collect::<Result<_, _>>()?;
            let values: [Value; 6] = values
                .try_into()
                .map_err(|_| "bad sock_extended_err".to_string())?;
            Ok(Value::ExtendedErr(Box::new(values)))
        }
        ["fd", "events"] | ["fd", "events", "revents"] => Ok(Value::Pollfd {
            fd: boxed(&items[0])?,
            events: boxed(&items[1])?,
            revents: match items.get(2) {
                Some(item) => boxed(item)?,
                None => Box::new(Value::Int(0)),
            },
        }),
        ["events", data] if matches!(*data, "fd" | "ptr" | "u32" | "u64") => {
            let kind = match *data {
                "fd" => EpollData::Fd,
                "ptr" => EpollData::Ptr,
                "u32" => EpollData::U32,
                _ => EpollData::U64,
            };
            Ok(Value::Epollev {
                events: boxed(&items[0])?,
                kind,
                data: boxed(&items[1])?,
            })
        }
        ["onoff", "linger"] => Ok(Value::Linger {
            onoff: boxed(&items[0])?,
            linger: boxed(&items[1])?,
        }),
        ["sa_family", "sin_port", "sin_addr"] => sockaddr(items),
        ["tcpm_addr", ..] => tcp_md5sig(&names, items),
        _ => Ok(Value::List(evaluate_all(items)?)),
    }
}

/// `{sa_family=F, sin_port=htons(N), sin_addr=inet_addr("A")}`: F is AF_INET or AF_INET6 and
/// must fit A, given by `inet_addr` (IPv4) or `inet6_addr` (IPv6; the parser checks each).
fn sockaddr(items: &[Expr]) -> Result<Value, String> {
    let family = get_int(&field_value(&items[0])?)?;
    let port = get_int(&field_value(&items[1])?)?;
    let port = u16::try_from(port).map_err(|_| format!("sin_port out of range: {port}"))?;
    // htons() gave the port in network byte order, as C stores it.
    let port = u16::from_be(port);
    let address = field_parts(&items[2]).1;
    let text = match &address.kind {
        ExprKind::Call { function, args }
            if matches!(function.value.as_str(), "inet_addr" | "inet6_addr") =>
        {
            match args.as_slice() {
                [Expr {
                    kind: ExprKind::Bytes { bytes, .. },
                    ..
                }] => String::from_utf8_lossy(&bytes.0).into_owned(),
                _ => return Err(format!("{}() takes a quoted address", function.value)),
            }
        }
        _ => {
            return Err("sin_addr must be inet_addr(\"ADDRESS\") or inet6_addr(\"ADDRESS\")".into())
        }
    };
    let ip: std::net::IpAddr = text
        .parse()
        .map_err(|_| format!("bad IP address \"{text}\" in sin_addr"))?;
    let fits = match family {
        f if f == libc::AF_INET as i64 => ip.is_ipv4(),
        f if f == libc::AF_INET6 as i64 => ip.is_ipv6(),
        _ => {
            return Err(format!(
                "sa_family must be AF_INET or AF_INET6, not {family}"
            ))
        }
    };
    if !fits {
        return Err(format!(
            "sin_addr {ip} does not fit the sockaddr's sa_family"
        ));
    }
    Ok(Value::Sockaddr(std::net::SocketAddr::new(ip, port)))
}

/// Longest key `struct tcp_md5sig` holds (TCP_MD5SIG_MAXKEYLEN).
const TCP_MD5_MAX_KEY: usize = crate::wire::tcp_md5::MAX_KEY_LEN;

/// `{tcpm_addr=…, …, tcpm_key="KEY"}`: see [`Value::TcpMd5Sig`].
fn tcp_md5sig(names: &[&str], items: &[Expr]) -> Result<Value, String> {
    let Value::Sockaddr(addr) = field_value(&items[0])? else {
        return Err("tcpm_addr must be {sa_family=…, sin_port=…, sin_addr=…}".into());
    };
    let mut md5sig = TcpMd5SigValue {
        addr,
        flags: 0,
        prefixlen: 0,
        keylen: 0,
        ifindex: 0,
        key: Vec::new(),
    };
    let mut keylen = None;
    for (name, item) in names.iter().zip(items).skip(1) {
        let value = field_value(item)?;
        let small = |max: i64| {
            let n = get_int(&value)?;
            if (0..=max).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{name} out of range: {n} (0..={max})"))
            }
        };
        match *name {
            "tcpm_flags" => md5sig.flags = small(255)? as u8,
            "tcpm_prefixlen" => md5sig.prefixlen = small(128)? as u8,
            "tcpm_keylen" => keylen = Some(small(TCP_MD5_MAX_KEY as i64)? as u16),
            "tcpm_ifindex" => md5sig.ifindex = small(i64::from(i32::MAX))? as i32,
            "tcpm_key" => match value {
                Value::Str(key) if key.len() <= TCP_MD5_MAX_KEY => md5sig.key = key,
                Value::Str(key) => {
                    return Err(format!(
                        "tcpm_key is {} bytes: at most {TCP_MD5_MAX_KEY}",
                        key.len()
                    ))
                }
                other => return Err(bad_type(&other, "string")),
            },
            other => {
                return Err(format!(
                    "unknown struct tcp_md5sig field '{other}' (tcpm_addr, tcpm_flags, \
                     tcpm_prefixlen, tcpm_keylen, tcpm_ifindex, tcpm_key)"
                ))
            }
        }
    }
    md5sig.keylen = keylen.unwrap_or(md5sig.key.len() as u16);
    Ok(Value::TcpMd5Sig(Box::new(md5sig)))
}

/// packetdrill's `struct gre`: flags, proto (0), then sum/off in be16[0..2], key in be32[1],
/// seq in be32[2], all in network byte order.
pub(crate) fn gre_bytes(gre: &GreHeader) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[0..2].copy_from_slice(&gre.flags.unwrap_or(0).to_be_bytes());
    out[4..6].copy_from_slice(&gre.checksum.unwrap_or(0).to_be_bytes());
    out[6..8].copy_from_slice(&gre.offset.unwrap_or(0).to_be_bytes());
    out[8..12].copy_from_slice(&gre.key.unwrap_or(0).to_be_bytes());
    out[12..16].copy_from_slice(&gre.sequence.unwrap_or(0).to_be_bytes());
    out
}

/// Maximum entries of packetdrill's `struct mpls_stack`.
const MPLS_STACK_MAX_ENTRIES: usize = 6;

/// packetdrill's `struct mpls_stack`: 6 label stack entries (network order) and an int length.
pub(crate) fn mpls_bytes(entries: &[MplsEntry]) -> Result<Vec<u8>, String> {
    if entries.len() > MPLS_STACK_MAX_ENTRIES {
        return Err(format!(
            "MPLS label stack too deep: {} entries (at most {MPLS_STACK_MAX_ENTRIES})",
            entries.len()
        ));
    }
    let mut out = vec![0u8; MPLS_STACK_MAX_ENTRIES * 4 + 4];
    for (i, e) in entries.iter().enumerate() {
        let word = ((e.label & 0xfffff) << 12)
            | ((e.traffic_class as u32 & 0x7) << 9)
            | ((e.bottom_of_stack as u32) << 8)
            | e.ttl as u32;
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    let n = MPLS_STACK_MAX_ENTRIES * 4;
    out[n..n + 4].copy_from_slice(&(entries.len() as i32).to_ne_bytes());
    Ok(out)
}
