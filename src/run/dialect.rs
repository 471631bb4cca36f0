//! What a script of another dialect or platform needs before an event can run here: SCTP (nplab
//! dialect) needs a kernel with SCTP, and a constant only another platform defines (FreeBSD's
//! `TCP_NOOPT`) has no meaning on Linux. Both parse (a dry run accepts the script); the run
//! fails at the first event that needs them, naming `FILE:LINE:COL`.

use crate::catalog::{symbols, syscalls};
use crate::script::ast::{Action, Event, Expr, ExprKind, IcmpEchoed, PacketBody, Span, Syscall};

/// Why an event cannot run on this system, and where the script says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrunnable {
    pub span: Span,
    pub message: String,
}

/// What an event uses that only SCTP provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SctpUse {
    /// `socket(..., IPPROTO_SCTP)`: runs when the kernel has SCTP.
    Socket,
    /// An `sctp_*` call or an SCTP packet: stackdrill cannot run these yet even then.
    Call,
    Packet,
}

/// The first reason `event` cannot run here: SCTP on a kernel without it (`has_sctp` probes the
/// kernel, only when the event uses SCTP), or another platform's constant.
pub fn check_event(
    event: &Event,
    has_sctp: &mut dyn FnMut() -> Result<(), String>,
) -> Option<Unrunnable> {
    if let Some((span, what)) = sctp_use(event) {
        if let Err(reason) = has_sctp() {
            return Some(Unrunnable {
                span,
                message: format!(
                    "this kernel has no SCTP (socket(..., IPPROTO_SCTP) failed: {reason})"
                ),
            });
        }
        match what {
            SctpUse::Socket => {}
            SctpUse::Call => {
                return Some(Unrunnable {
                    span,
                    message: "not supported: SCTP system calls (nplab dialect) do not run yet"
                        .to_string(),
                })
            }
            SctpUse::Packet => {
                return Some(Unrunnable {
                    span,
                    message: "not supported: SCTP packets (nplab dialect) cannot be sent or \
                              checked yet"
                        .to_string(),
                })
            }
        }
    }
    let Action::Syscall(call) = &event.action else {
        return None;
    };
    call.args
        .iter()
        .chain(std::iter::once(&call.result))
        .find_map(foreign_symbol)
}

fn sctp_use(event: &Event) -> Option<(Span, SctpUse)> {
    match &event.action {
        Action::Packet(packet) => match &packet.body {
            PacketBody::Sctp(sctp) => Some((sctp.keyword, SctpUse::Packet)),
            PacketBody::Icmp(icmp) if matches!(icmp.echoed, IcmpEchoed::Sctp { .. }) => {
                Some((packet.span, SctpUse::Packet))
            }
            _ => None,
        },
        Action::Syscall(call) => sctp_call(call),
        _ => None,
    }
}

fn sctp_call(call: &Syscall) -> Option<(Span, SctpUse)> {
    if syscalls::SCTP_SYSCALLS.contains(&call.name.value.as_str()) {
        return Some((call.name.span, SctpUse::Call));
    }
    if call.name.value != "socket" {
        return None;
    }
    let protocol = call.args.get(2)?;
    let is_sctp = match &protocol.kind {
        ExprKind::Word(word) => symbols::lookup(word) == Some(i64::from(libc::IPPROTO_SCTP)),
        ExprKind::Integer(n) => *n == i64::from(libc::IPPROTO_SCTP),
        _ => false,
    };
    is_sctp.then_some((protocol.span, SctpUse::Socket))
}

/// The first constant in `expr` that only another platform defines.
fn foreign_symbol(expr: &Expr) -> Option<Unrunnable> {
    match &expr.kind {
        ExprKind::Word(word) => {
            let (platform, value) = symbols::other_platform(word)?;
            Some(Unrunnable {
                span: expr.span,
                message: format!(
                    "{}-only symbol '{word}' ({value} there): Linux has no such constant",
                    platform.name()
                ),
            })
        }
        ExprKind::BitOr(items) | ExprKind::Array(items) | ExprKind::Struct(items) => {
            items.iter().find_map(foreign_symbol)
        }
        ExprKind::Field { index, value, .. } => index
            .as_deref()
            .and_then(foreign_symbol)
            .or_else(|| foreign_symbol(value)),
        ExprKind::Call { args, .. } => args.iter().find_map(foreign_symbol),
        _ => None,
    }
}

/// Whether this kernel has SCTP, probed once per process.
pub fn kernel_has_sctp() -> Result<(), String> {
    static PROBED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    PROBED.get_or_init(probe_sctp).clone()
}

/// Whether an SCTP socket can be made (it is closed again).
fn probe_sctp() -> Result<(), String> {
    // SAFETY: socket() takes no pointers; a valid descriptor is closed right away below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_SCTP) };
    if fd < 0 {
        // The reason as strerror words it, without Rust's "(os error N)".
        let reason = std::io::Error::last_os_error().to_string();
        let words = reason.split(" (os error").next().unwrap_or_default();
        return Err(words.to_string());
    }
    // SAFETY: `fd` is the descriptor socket() just returned, owned by nothing else.
    unsafe { libc::close(fd) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn first_problem(text: &str, sctp: Result<(), String>) -> Option<(usize, String)> {
        let script = crate::script::parse_source("t.pkt", text, &BTreeMap::new()).unwrap();
        let mut probe = || sctp.clone();
        script
            .events
            .iter()
            .find_map(|event| check_event(event, &mut probe).map(|u| (u.span.start, u.message)))
    }

    #[test]
    fn sctp_socket_needs_sctp_and_sctp_packets_do_not_run_yet() {
        let text = "0 socket(..., SOCK_STREAM, IPPROTO_SCTP) = 3\n+0 close(3) = 0\n";
        let no_sctp = Err("Protocol not supported".to_string());
        let (at, message) = first_problem(text, no_sctp).unwrap();
        assert_eq!(at, text.find("IPPROTO_SCTP").unwrap());
        assert_eq!(
            message,
            "this kernel has no SCTP (socket(..., IPPROTO_SCTP) failed: Protocol not supported)"
        );
        assert_eq!(first_problem(text, Ok(())), None);
        let text = "0 < sctp: COOKIE_ACK[flgs=0]\n";
        let (at, message) = first_problem(text, Ok(())).unwrap();
        assert_eq!(at, text.find("sctp").unwrap());
        assert!(
            message.starts_with("not supported: SCTP packets"),
            "{message}"
        );
    }

    #[test]
    fn another_platforms_symbol_is_named_with_its_platform() {
        let text = "0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0\n";
        let (at, message) = first_problem(text, Ok(())).unwrap();
        assert_eq!(at, text.find("TCP_NOOPT").unwrap());
        assert_eq!(
            message,
            "FreeBSD-only symbol 'TCP_NOOPT' (8 there): Linux has no such constant"
        );
        let linux = "0 setsockopt(3, IPPROTO_TCP, TCP_NODELAY, [1], 4) = 0\n";
        assert_eq!(first_problem(linux, Ok(())), None);
    }
}
