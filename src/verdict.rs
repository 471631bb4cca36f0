//! What a run concluded, as data. A failed run is a [`Failure`]: which script and line, what
//! kind of event failed with its expected and actual values ([`FailureKind`]), and the detail
//! lines packetdrill prints after it. [`Failure::render`] gives packetdrill's exact text. A
//! suite's child hands its parent the whole [`Verdict`] as JSON ([`write_for_parent`]); the
//! suite, its retries and its reports read the fields, never the text.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The environment variable through which a suite asks its child for the verdict file.
pub const VERDICT_FILE_ENV: &str = "STACKDRILL_VERDICT_FILE";

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed(Failure),
}

/// The first thing that went wrong in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The script path as given (packetdrill's messages start with it).
    pub script: String,
    /// The script line of the event that failed; None for the run as a whole.
    pub line: Option<usize>,
    /// Boxed: a run's `Result` stays small while its failure is rare.
    pub kind: Box<FailureKind>,
    /// Lines printed after the message (the script's packet and the live one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// What failed, with the values that disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureKind {
    /// An event happened outside its time window (all times in µs of script time).
    Timing {
        event: TimedEvent,
        expected_usecs: i64,
        /// The end of a time range (`0.1~0.2`), if the script gave one.
        expected_end_usecs: Option<i64>,
        actual_usecs: i64,
        tolerance_usecs: i64,
    },
    /// A packet the stack sent differs from the script's.
    Packet { mismatch: PacketMismatch },
    /// The stack sent no packet before the deadline.
    PacketMissing,
    /// A packet could not be built, injected or sniffed (`error handling packet: ...`).
    PacketHandling { message: String },
    /// A system call's result, errno or outputs differ from the script's, or it could not run.
    Syscall {
        call: String,
        mismatch: CallMismatch,
    },
    /// A shell command failed.
    Command {
        role: CommandRole,
        command: String,
        message: String,
    },
    /// Collecting the data of a `%{ }%` block failed (`runtime error in code: ...`).
    CodeData { message: String },
    /// A `%{ }%` block failed (a Python assertion, an exception, the interpreter's status).
    Code {
        /// The line of the block's `%{`, where packetdrill reports it.
        block_line: Option<usize>,
        /// The failing source line, when known.
        failing_line: Option<usize>,
        /// The report after the header (source line, `ExceptionType: message`, ...).
        message: String,
    },
    /// The run could not be set up (namespace, device, library, HTTP port).
    Setup { message: String },
    /// The stack under test failed in itself (its clock stopped, a call stuck inside it).
    Stack { message: String },
    /// The script could not be loaded: the loader's whole text (it names file, line, column).
    Script { message: String },
    /// The run needs something stackdrill does not offer; printed as is, like upstream.
    Unsupported { message: String },
    /// Anything else, in packetdrill's words.
    Other { message: String },
}

impl FailureKind {
    /// For a timing failure: the event, and how far (µs) past its tolerance it happened,
    /// before the time given or after it (or after a range's end).
    pub fn beyond_tolerance_usecs(&self) -> Option<(TimedEvent, i64)> {
        let (event, early, late, tolerance) = self.timing_window()?;
        Some((event, early.max(late) - tolerance))
    }

    /// For a timing failure: the event, how early (µs) it happened before the time given and
    /// how late after it (or a range's end), one of them negative or both when inside, and the
    /// tolerance.
    fn timing_window(&self) -> Option<(TimedEvent, i64, i64, i64)> {
        let FailureKind::Timing {
            event,
            expected_usecs,
            expected_end_usecs,
            actual_usecs,
            tolerance_usecs,
        } = self
        else {
            return None;
        };
        let end = expected_end_usecs.unwrap_or(*expected_usecs);
        Some((
            *event,
            expected_usecs - actual_usecs,
            actual_usecs - end,
            *tolerance_usecs,
        ))
    }
}

impl FailureKind {
    /// For a timing failure, the line under packetdrill's message that says how early or late
    /// the event was and against which tolerance:
    /// `  happened 1.022000 sec early; tolerance 0.253899 sec, exceeded by 0.768101 sec`.
    pub fn timing_offset(&self) -> Option<String> {
        let (_, early, late, tolerance_usecs) = self.timing_window()?;
        let (by, how) = if early > 0 {
            (early, "early")
        } else if late > 0 {
            (late, "late")
        } else {
            return None;
        };
        let range = if matches!(
            self,
            FailureKind::Timing {
                expected_end_usecs: Some(_),
                ..
            }
        ) {
            " (from the nearest end of the range)"
        } else {
            ""
        };
        Some(format!(
            "  happened {} sec {how}{range}; tolerance {} sec, exceeded by {} sec",
            seconds(by),
            seconds(tolerance_usecs),
            seconds(by - tolerance_usecs)
        ))
    }
}

/// The events whose times are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimedEvent {
    InboundPacket,
    OutboundPacket,
    SyscallStart,
    SyscallReturn,
    Command,
    CodeData,
}

impl TimedEvent {
    /// packetdrill's words for it.
    pub fn describe(self) -> &'static str {
        match self {
            TimedEvent::InboundPacket => "inbound packet",
            TimedEvent::OutboundPacket => "outbound packet",
            TimedEvent::SyscallStart => "system call start",
            TimedEvent::SyscallReturn => "system call return",
            TimedEvent::Command => "command",
            TimedEvent::CodeData => "data collection for code",
        }
    }

    /// Whether stackdrill itself makes the event happen (so lateness is stackdrill's, not the
    /// stack's).
    pub fn is_stackdrills_own(self) -> bool {
        matches!(
            self,
            TimedEvent::InboundPacket | TimedEvent::SyscallStart | TimedEvent::CodeData
        )
    }
}

/// How a sniffed packet differs from the script's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mismatch", rename_all = "snake_case")]
pub enum PacketMismatch {
    /// A header field with another value.
    Field {
        name: String,
        expected: u64,
        actual: u64,
    },
    /// A field whose values read better as text (a MAC or IP address of a layer-2 frame).
    FieldText {
        name: String,
        expected: String,
        actual: String,
    },
    /// More payload than the script's packet has.
    PayloadLength { expected: usize, actual: usize },
    /// Anything else (options, checksums, ECN, flow labels), in packetdrill's words.
    Other { message: String },
}

impl From<String> for PacketMismatch {
    fn from(message: String) -> Self {
        PacketMismatch::Other { message }
    }
}

impl From<&str> for PacketMismatch {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl fmt::Display for PacketMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PacketMismatch::Field {
                name,
                expected,
                actual,
            } => write!(
                f,
                "live packet field {name}: expected: {expected} ({expected:#x}) vs actual: {actual} ({actual:#x})"
            ),
            PacketMismatch::FieldText {
                name,
                expected,
                actual,
            } => write!(
                f,
                "live packet field {name}: expected: {expected} vs actual: {actual}"
            ),
            PacketMismatch::PayloadLength { expected, actual } => write!(
                f,
                "live packet payload: expected {expected} bytes vs actual {actual} bytes"
            ),
            PacketMismatch::Other { message } => f.write_str(message),
        }
    }
}

/// How a system call's outcome differs from the script's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mismatch", rename_all = "snake_case")]
pub enum CallMismatch {
    /// Another return value (`expected: None`: any non-negative one).
    Result {
        expected: Option<i64>,
        actual: i64,
        errno: i32,
    },
    /// The right failure with another errno.
    Errno { expected: i32, actual: i32 },
    /// A timestamp the stack reported (SCM_TIMESTAMPING) is off by more than the tolerance
    /// (absolute µs of CLOCK_REALTIME; `start` is script time 0).
    Timestamp {
        index: usize,
        cmsg: usize,
        expected_usecs: i64,
        actual_usecs: i64,
        start_usecs: i64,
    },
    /// Anything else (arguments, outputs, a blocked call), in packetdrill's words.
    Other { message: String },
}

impl From<String> for CallMismatch {
    fn from(message: String) -> Self {
        CallMismatch::Other { message }
    }
}

impl From<&str> for CallMismatch {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

impl fmt::Display for CallMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallMismatch::Result {
                expected: Some(expected),
                actual,
                errno,
            } => write!(
                f,
                "Expected result {expected} but got {actual} with errno {errno} ({})",
                strerror(*errno)
            ),
            CallMismatch::Result {
                expected: None,
                actual,
                errno,
            } => write!(
                f,
                "Expected non-negative result but got {actual} with errno {errno} ({})",
                strerror(*errno)
            ),
            CallMismatch::Errno { expected, actual } => write!(
                f,
                "Expected errno {expected} ({}) but got {actual} ({})",
                strerror(*expected),
                strerror(*actual)
            ),
            CallMismatch::Timestamp {
                index,
                cmsg,
                expected_usecs,
                actual_usecs,
                start_usecs,
            } => write!(
                f,
                "Bad timestamp {index} in scm_timestamping {cmsg}: expected={expected_usecs} ({}) actual={actual_usecs} ({}) start={start_usecs}",
                expected_usecs.wrapping_sub(*start_usecs),
                actual_usecs.wrapping_sub(*start_usecs),
            ),
            CallMismatch::Other { message } => f.write_str(message),
        }
    }
}

/// Which command failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandRole {
    /// A backtick command among the script's events.
    Event,
    /// The script's init command (before time 0).
    Init,
    /// One of `--init_scripts`' commands (before the script's own init command).
    InitScript,
    /// The script's cleanup command (after the events).
    Cleanup,
}

/// strerror(3) text.
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn seconds(usecs: i64) -> String {
    format!("{:.6}", usecs as f64 / 1e6)
}

impl Failure {
    /// A failure of the event at `line` of `script`.
    pub fn at(script: &str, line: usize, kind: FailureKind) -> Self {
        Failure {
            script: script.to_string(),
            line: Some(line),
            kind: Box::new(kind),
            details: Vec::new(),
        }
    }

    /// A failure of the run as a whole.
    pub fn whole(script: &str, kind: FailureKind) -> Self {
        Failure {
            script: script.to_string(),
            line: None,
            kind: Box::new(kind),
            details: Vec::new(),
        }
    }

    /// The message after `FILE:LINE: `, as packetdrill words it.
    pub fn message(&self) -> String {
        match &*self.kind {
            FailureKind::Timing {
                event,
                expected_usecs,
                expected_end_usecs,
                actual_usecs,
                tolerance_usecs,
            } => {
                let when = match expected_end_usecs {
                    None => format!("at {} sec", seconds(*expected_usecs)),
                    Some(end) => format!(
                        "in time range {}~{} sec",
                        seconds(*expected_usecs),
                        seconds(*end)
                    ),
                };
                let timing = format!(
                    "timing error: expected {} {when} but happened at {} sec; tolerance {} sec",
                    event.describe(),
                    seconds(*actual_usecs),
                    seconds(*tolerance_usecs)
                );
                if *event == TimedEvent::OutboundPacket {
                    format!("error handling packet: {timing}")
                } else {
                    timing
                }
            }
            FailureKind::Packet { mismatch } => format!("error handling packet: {mismatch}"),
            FailureKind::PacketMissing => {
                "error handling packet: Timed out waiting for packet".to_string()
            }
            FailureKind::PacketHandling { message } => format!("error handling packet: {message}"),
            FailureKind::Syscall { call, mismatch } => {
                format!("runtime error in {call} call: {mismatch}")
            }
            FailureKind::Command {
                role,
                command,
                message,
            } => match role {
                CommandRole::Event => format!("error executing `{command}` command: {message}"),
                CommandRole::Init => format!("error executing init command: {message}"),
                CommandRole::InitScript => {
                    format!("error executing --init_scripts command `{command}`: {message}")
                }
                CommandRole::Cleanup => format!("error executing cleanup command: {message}"),
            },
            FailureKind::CodeData { message } => format!("runtime error in code: {message}"),
            FailureKind::Code { message, .. } => message.clone(),
            FailureKind::Setup { message }
            | FailureKind::Stack { message }
            | FailureKind::Script { message }
            | FailureKind::Unsupported { message }
            | FailureKind::Other { message } => message.clone(),
        }
    }

    /// The whole text packetdrill prints: `FILE:LINE: MESSAGE` (or `FILE: MESSAGE`), then the
    /// detail lines.
    pub fn render(&self) -> String {
        let mut out = match (&*self.kind, self.line) {
            (FailureKind::Script { message }, _) | (FailureKind::Unsupported { message }, _) => {
                message.clone()
            }
            (
                FailureKind::Code {
                    block_line,
                    failing_line,
                    message,
                },
                _,
            ) => render_code(&self.script, *block_line, *failing_line, message),
            (_, Some(line)) => format!("{}:{line}: {}", self.script, self.message()),
            (_, None) => format!("{}: {}", self.script, self.message()),
        };
        if let Some(offset) = self.kind.timing_offset() {
            out.push('\n');
            out.push_str(&offset);
        }
        for detail in &self.details {
            out.push('\n');
            out.push_str(detail);
        }
        out
    }

    /// The failure as a comparison cell shows it: `LINE: ` and the message without the words
    /// every failure of its kind repeats (`error handling packet: ` left out, `runtime error in
    /// NAME call: ` as `NAME: `), on one line.
    pub fn brief(&self) -> String {
        let what = match &*self.kind {
            FailureKind::Packet { mismatch } => mismatch.to_string(),
            FailureKind::PacketMissing => "Timed out waiting for packet".to_string(),
            FailureKind::PacketHandling { message } => message.clone(),
            FailureKind::Syscall { call, mismatch } => format!("{call}: {mismatch}"),
            FailureKind::Timing { .. } => {
                let message = self.message();
                match message.strip_prefix("error handling packet: ") {
                    Some(timing) => timing.to_string(),
                    None => message,
                }
            }
            _ => self.message(),
        };
        let what = what.lines().next().unwrap_or_default();
        match self.line {
            Some(line) => format!("{line}: {what}"),
            None => what.to_string(),
        }
    }

    /// The first line of [`Self::render`], for one-line summaries.
    pub fn headline(&self) -> String {
        self.render().lines().next().unwrap_or_default().to_string()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

/// A `%{ }%` failure as packetdrill prints it: the block's line in the header, the failing
/// line before the report when it differs.
fn render_code(
    script: &str,
    block_line: Option<usize>,
    failing_line: Option<usize>,
    message: &str,
) -> String {
    match (block_line.or(failing_line), failing_line) {
        (Some(header), Some(line)) => {
            let mut out = format!("{script}:{header}: error in Python code");
            if !message.is_empty() {
                out.push('\n');
                if line != header {
                    out.push_str(&format!("{script}:{line}:"));
                }
                out.push_str(message);
            }
            out
        }
        _ if message.is_empty() => format!("{script}:"),
        _ => format!("{script}: {message}"),
    }
}

/// The verdict file, opened before the run (`reserve_for_parent`).
static RESERVED: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// Opens the verdict file the suite asked for (`STACKDRILL_VERDICT_FILE`) now, before the run:
/// a stack under test that uses up every file descriptor must not keep the verdict from its
/// parent. Nothing when run by hand.
pub fn reserve_for_parent() {
    let Some(path) = std::env::var_os(VERDICT_FILE_ENV) else {
        return;
    };
    if let Ok(file) = std::fs::File::create(path) {
        *RESERVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
    }
}

/// Writes `verdict` as JSON where the suite asked for it (`STACKDRILL_VERDICT_FILE`), in the
/// file reserved for it when there is one; nothing when run by hand. A verdict that cannot be
/// written leaves the parent to say so.
pub fn write_for_parent(verdict: &Verdict) {
    let Some(path) = std::env::var_os(VERDICT_FILE_ENV) else {
        return;
    };
    let Ok(json) = serde_json::to_string(verdict) else {
        return;
    };
    if let Some(file) = RESERVED.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        use std::io::{Seek, Write};
        let rewritten = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(json.as_bytes()));
        if rewritten.is_ok() {
            return;
        }
    }
    let _ = std::fs::write(path, json);
}

/// Writes what the run recorded of its stack's setting (kernel release, TCP settings) beside
/// the verdict file the suite asked for (`FILE.environment`); nothing when run by hand.
pub fn write_environment_for_parent(environment: &std::collections::BTreeMap<String, String>) {
    let Some(path) = std::env::var_os(VERDICT_FILE_ENV) else {
        return;
    };
    if let Ok(json) = serde_json::to_string(environment) {
        let _ = std::fs::write(environment_path(Path::new(&path)), json);
    }
}

/// What a child wrote with [`write_environment_for_parent`] beside `verdict_file` (empty when
/// nothing), removing the file.
pub fn take_environment_from_child(
    verdict_file: &Path,
) -> std::collections::BTreeMap<String, String> {
    let path = environment_path(verdict_file);
    let environment = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    let _ = std::fs::remove_file(path);
    environment
}

fn environment_path(verdict_file: &Path) -> std::path::PathBuf {
    let mut name = verdict_file.as_os_str().to_owned();
    name.push(".environment");
    name.into()
}

/// The verdict a child wrote to `path`, if it wrote one that reads back.
pub fn read_from_child(path: &Path) -> Option<Verdict> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(event: TimedEvent, end: Option<i64>) -> Failure {
        Failure::at(
            "x.pkt",
            20,
            FailureKind::Timing {
                event,
                expected_usecs: 11_591,
                expected_end_usecs: end,
                actual_usecs: 15_761,
                tolerance_usecs: 4_000,
            },
        )
    }

    #[test]
    fn renders_packetdrills_texts() {
        assert_eq!(
            timing(TimedEvent::OutboundPacket, None).render(),
            "x.pkt:20: error handling packet: timing error: expected outbound packet at 0.011591 sec but happened at 0.015761 sec; tolerance 0.004000 sec\n  happened 0.004170 sec late; tolerance 0.004000 sec, exceeded by 0.000170 sec"
        );
        assert_eq!(
            timing(TimedEvent::InboundPacket, Some(20_000)).render(),
            "x.pkt:20: timing error: expected inbound packet in time range 0.011591~0.020000 sec but happened at 0.015761 sec; tolerance 0.004000 sec"
        );
        let early = Failure::at(
            "x.pkt",
            7,
            FailureKind::Timing {
                event: TimedEvent::OutboundPacket,
                expected_usecs: 3_077_730,
                expected_end_usecs: None,
                actual_usecs: 2_055_831,
                tolerance_usecs: 253_899,
            },
        );
        assert_eq!(
            early.render(),
            "x.pkt:7: error handling packet: timing error: expected outbound packet at 3.077730 sec but happened at 2.055831 sec; tolerance 0.253899 sec\n  happened 1.021899 sec early; tolerance 0.253899 sec, exceeded by 0.768000 sec"
        );
        assert_eq!(early.headline().lines().count(), 1);
        let mut field = Failure::at(
            "x.pkt",
            14,
            FailureKind::Packet {
                mismatch: PacketMismatch::Field {
                    name: "tcp_ack".into(),
                    expected: 1001,
                    actual: 1,
                },
            },
        );
        field.details = vec!["script packet: ...".into(), "actual packet: ...".into()];
        assert_eq!(field.render(), "x.pkt:14: error handling packet: live packet field tcp_ack: expected: 1001 (0x3e9) vs actual: 1 (0x1)\nscript packet: ...\nactual packet: ...");
        assert_eq!(field.headline(), "x.pkt:14: error handling packet: live packet field tcp_ack: expected: 1001 (0x3e9) vs actual: 1 (0x1)");
        let call = Failure::at(
            "s.pkt",
            5,
            FailureKind::Syscall {
                call: "socket".into(),
                mismatch: CallMismatch::Result {
                    expected: None,
                    actual: -1,
                    errno: 93,
                },
            },
        );
        assert_eq!(call.render(), "s.pkt:5: runtime error in socket call: Expected non-negative result but got -1 with errno 93 (Protocol not supported)");
        let cleanup = Failure::whole(
            "c.pkt",
            FailureKind::Command {
                role: CommandRole::Cleanup,
                command: "false".into(),
                message: "non-zero status 1".into(),
            },
        );
        assert_eq!(
            cleanup.render(),
            "c.pkt: error executing cleanup command: non-zero status 1"
        );
        let code = Failure::at(
            "p.pkt",
            8,
            FailureKind::Code {
                block_line: Some(8),
                failing_line: Some(10),
                message: " assert x == 1\nAssertionError".into(),
            },
        );
        assert_eq!(
            code.render(),
            "p.pkt:8: error in Python code\np.pkt:10: assert x == 1\nAssertionError"
        );
    }

    #[test]
    fn a_verdict_survives_json() {
        let mut failure = timing(TimedEvent::SyscallReturn, None);
        failure.details.push("detail".into());
        for verdict in [Verdict::Passed, Verdict::Failed(failure)] {
            let json = serde_json::to_string(&verdict).unwrap();
            assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), verdict);
        }
        let json = serde_json::to_string(&Verdict::Failed(Failure::at(
            "t.pkt",
            3,
            FailureKind::Syscall {
                call: "recvmsg".into(),
                mismatch: CallMismatch::Timestamp {
                    index: 0,
                    cmsg: 0,
                    expected_usecs: 1_010_000,
                    actual_usecs: 1_014_667,
                    start_usecs: 1_000_000,
                },
            },
        )))
        .unwrap();
        assert!(json.contains(r#""kind":"syscall""#), "{json}");
        assert!(json.contains(r#""mismatch":"timestamp""#), "{json}");
    }
}
