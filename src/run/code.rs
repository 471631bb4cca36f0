//! `%{ … }%` code (Python) blocks: running them after the script finished.
//!
//! Semantics follow packetdrill (spec §11, §7.7): at each code event the executor takes a snapshot
//! of the socket under test (a list of `(name, value)` pairs such as `tcpi_snd_cwnd`) and records
//! the block as a [`CodeRun`]; nothing runs then. After the script finished (after the cleanup
//! command), [`run_code_blocks`] runs all recorded blocks, in order, in one Python namespace, so
//! globals persist from block to block. Before each block the packetdrill symbols ([`SYMBOLS`]:
//! `TCP_ESTABLISHED`, `TCP_CA_Loss`, `TCPI_OPT_SACK`, …), then the block's snapshot, then
//! `_file` (the script path) and `_line` (the block's script line) are assigned as globals.
//! As in packetdrill, every block is compiled before any runs, so a syntax error anywhere means
//! no block runs.
//!
//! Two engines, chosen by `--code_command`:
//! * `python3` or `python` (the default): an interpreter embedded with pyo3 runs the blocks in
//!   this process, with a fresh namespace dict per call (so runs never see each other's globals;
//!   imported modules and `sys` changes do stay in the shared interpreter). `sys` and
//!   `traceback` are pre-imported, as packetdrill's generated file imports them.
//! * anything else (`python3.11`, `/usr/bin/python3`, `python3 -X dev`, …): as packetdrill does,
//!   all blocks are written into one temporary Python file (a preamble installing a
//!   `sys.excepthook`, then per block the symbols and snapshot as `name = value` lines, `_file`,
//!   `_line` and the text) and `/bin/sh -c "CODE_COMMAND FILE"` runs it (like `system(3)`); the
//!   file is deleted afterwards. The hook prints the same report as the embedded engine; stdout
//!   is inherited, stderr is captured, parsed for that report and otherwise passed through.
//!
//! Both engines report a Python exception the same way ([`CodeError`]'s `Display`):
//! ```text
//! tests/x.pkt:42: error in Python code
//!   assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd
//! AssertionError: 11
//! ```
//! The line is the script line of the failing source line (for an exception raised in a function
//! defined by an earlier block, the line inside that function; the callers follow as
//! `  called from FILE:LINE: SOURCE` lines). Syntax errors show Python's source and caret lines.
//!
//! Line counting: [`CodeRun::script_line`] is the 1-based script line of the `%{`, and `text` is
//! [`CodeBlock::text`] (the characters between `%{` and `}%` with spaces and tabs — not newlines
//! — trimmed from both ends), so the text starts on the `%{` line. Line `i` (0-based) of the
//! text, splitting at `\n` (`\r\n` and `\r` count as one line end too), is script line
//! `script_line + i`. A block may start on the `%{` line or on the next line; the text is
//! dedented by the whitespace common to all its non-blank lines (a no-op when code starts on the
//! `%{` line, as in upstream), so an indented multi-line block runs, and a newline is appended
//! (upstream writes `TEXT\n\n`), so a block ending in a backslash continuation compiles.
//!
//! Build: pyo3 links against libpython; `.cargo/config.toml` pins `PYO3_PYTHON=/usr/bin/python3`
//! (Debian 12: `python3-dev`, i.e. `libpython3.11-dev`, to build; `libpython3.11` to run).

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::script::ast::CodeBlock;

/// One recorded code block, ready to run after the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRun {
    /// 1-based script line of the `%{` (where `text` starts); see the module docs.
    pub script_line: usize,
    /// The block's text as parsed ([`CodeBlock::text`]).
    pub text: String,
    /// Variables snapshotted at the block's time (`tcpi_*`, …), assigned before the block runs
    /// as unsigned integers (an `i64` is converted with `as u64`, like packetdrill's `%llu`).
    pub snapshot: Vec<(String, i64)>,
}

impl CodeRun {
    /// A run for `block` parsed from `source` (the whole script text the spans refer to).
    pub fn from_block(block: &CodeBlock, source: &str, snapshot: Vec<(String, i64)>) -> CodeRun {
        let start = block.span.start.min(source.len());
        let script_line = 1 + source.as_bytes()[..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        CodeRun {
            script_line,
            text: block.text.clone(),
            snapshot,
        }
    }
}

/// A failure of the code blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeError {
    /// The script path, as given to [`run_code_blocks`].
    pub path: String,
    /// Script line of the failing source line; `None` for failures not tied to a line (the
    /// code command could not run, exited with a non-zero status, `sys.exit(N)`, …).
    pub line: Option<usize>,
    /// Script line of the `%{` of the block that failed: packetdrill reports errors there, so
    /// the header names it (and the failing line follows when it differs).
    pub block_line: Option<usize>,
    /// With a line: the report after the `FILE:LINE: error in Python code` header (source line,
    /// `ExceptionType: message`, …). Without: e.g. `error executing code: 'python3' returned
    /// non-zero status 2`. No trailing newline.
    pub message: String,
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.block_line.or(self.line), self.line) {
            (Some(header), Some(line)) => {
                write!(f, "{}:{}: error in Python code", self.path, header)?;
                if !self.message.is_empty() {
                    f.write_str("\n")?;
                    if line != header {
                        write!(f, "{}:{}:", self.path, line)?;
                    }
                    f.write_str(&self.message)?;
                }
                Ok(())
            }
            _ => {
                write!(f, "{}:", self.path)?;
                if !self.message.is_empty() {
                    write!(f, " {}", self.message)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CodeError {}

/// Symbols packetdrill defines for code blocks (Linux values), assigned before every block.
pub const SYMBOLS: &[(&str, u64)] = &[
    // tcpi_state values (Linux tcp_states.h).
    ("TCP_ESTABLISHED", 1),
    ("TCP_SYN_SENT", 2),
    ("TCP_SYN_RECV", 3),
    ("TCP_FIN_WAIT1", 4),
    ("TCP_FIN_WAIT2", 5),
    ("TCP_TIME_WAIT", 6),
    ("TCP_CLOSE", 7),
    ("TCP_CLOSE_WAIT", 8),
    ("TCP_LAST_ACK", 9),
    ("TCP_LISTEN", 10),
    ("TCP_CLOSING", 11),
    // tcpi_ca_state values.
    ("TCP_CA_Open", 0),
    ("TCP_CA_Disorder", 1),
    ("TCP_CA_CWR", 2),
    ("TCP_CA_Recovery", 3),
    ("TCP_CA_Loss", 4),
    // tcpi_options flags.
    ("TCPI_OPT_TIMESTAMPS", 1),
    ("TCPI_OPT_SACK", 2),
    ("TCPI_OPT_WSCALE", 4),
    ("TCPI_OPT_ECN", 8),
    ("TCPI_OPT_ECN_SEEN", 16),
    ("TCPI_OPT_SYN_DATA", 32),
    ("TCPI_OPT_USEC_TS", 64),
    ("TCPI_OPT_TFO_CHILD", 128),
];

/// Which engine runs the blocks for a `--code_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The interpreter embedded with pyo3.
    Embedded,
    /// `/bin/sh -c "CODE_COMMAND FILE"`, as packetdrill.
    External,
}

/// `python3` and `python` (exactly) run embedded; anything else runs as an external command.
pub fn engine_for(code_command: &str) -> Engine {
    match code_command.trim() {
        "python3" | "python" => Engine::Embedded,
        _ => Engine::External,
    }
}

/// Runs all `blocks` (in order, one namespace) with the engine [`engine_for`] `code_command`
/// picks. `script_path` is used in messages and as `_file`. No blocks: nothing runs, `Ok`.
pub fn run_code_blocks(
    script_path: &str,
    code_command: &str,
    blocks: &[CodeRun],
) -> Result<(), CodeError> {
    if blocks.is_empty() {
        return Ok(());
    }
    let result = match engine_for(code_command) {
        Engine::Embedded => run_embedded(script_path, code_command.trim(), blocks),
        Engine::External => run_external(script_path, code_command, blocks),
    };
    result.map_err(|e| with_block_line(e, blocks))
}

/// Names the block an error happened in (the last block starting at or before its line).
fn with_block_line(mut e: CodeError, blocks: &[CodeRun]) -> CodeError {
    e.block_line = e.line.and_then(|line| {
        blocks
            .iter()
            .rev()
            .find(|b| b.script_line <= line)
            .map(|b| b.script_line)
    });
    e
}

/// Compiles every block with the embedded interpreter (after the same normalisation as for
/// running) without running anything: `Err` reports the first syntax error.
pub fn check_syntax(script_path: &str, blocks: &[CodeRun]) -> Result<(), CodeError> {
    embedded_call(script_path, "python3", blocks, false).map_err(|e| with_block_line(e, blocks))
}

/// The block text as it is compiled: line ends normalised to `\n`, the whitespace common to all
/// non-blank lines removed (whitespace-only lines become empty), and one `\n` appended. The
/// number of lines before the appended newline is unchanged.
pub fn normalize_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    let mut common: Option<&str> = None;
    for line in &lines {
        if line.trim().is_empty() {
            continue;
        }
        let indent_len = line.len() - line.trim_start_matches([' ', '\t']).len();
        let indent = &line[..indent_len];
        common = Some(match common {
            None => indent,
            Some(c) => {
                let n = c
                    .bytes()
                    .zip(indent.bytes())
                    .take_while(|(a, b)| a == b)
                    .count();
                &c[..n]
            }
        });
    }
    let common = common.unwrap_or("");
    let mut out = String::with_capacity(text.len() + 1);
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim().is_empty() {
            continue;
        }
        out.push_str(&line[common.len()..]);
    }
    out.push('\n');
    out
}

/// Number of script lines a block's text spans (its `\n`-separated lines).
fn text_lines(normalized: &str) -> usize {
    normalized.matches('\n').count()
}

// ---------------------------------------------------------------------------------------------
// Python shared by both engines.

/// Report formatting. `_sd_report` returns `(script_line, body)` for a runtime exception; frames
/// are mapped to script lines by `locate(filename, lineno) -> (script_line, source) | None`.
const PY_COMMON: &str = r#"
def _sd_src(source):
    source = (source or "").strip()
    return ("  %s\n" % source) if source else ""

def _sd_syntax_body(etype, value):
    out = []
    for chunk in traceback.format_exception_only(etype, value):
        for l in chunk.splitlines():
            if l.startswith("  File "):
                continue
            out.append(l[2:] if l.startswith("    ") else l)
    return "\n".join(out) + "\n"

def _sd_report(etype, value, tb, locate, default_line, path):
    hits = []
    for frame, lineno in traceback.walk_tb(tb):
        hit = locate(frame.f_code.co_filename, lineno)
        if hit is not None:
            hits.append(hit)
    if hits:
        line, source = hits[-1]
    else:
        line, source = default_line, None
    body = _sd_src(source)
    body += "".join(traceback.format_exception_only(etype, value)).rstrip("\n") + "\n"
    for l, s in reversed(hits[:-1]):
        body += "  called from %s:%d: %s\n" % (path, l, (s or "").strip())
    return line, body
"#;

/// Embedded engine: `_sd_run(path, blocks, symbols, execute)` with blocks as
/// `[(script_line, text, [(name, value)])]`; returns `None`, `("error", line, body)` or
/// `("exit", status)`.
const PY_EMBEDDED: &str = r#"
import builtins
import sys
import traceback

def _sd_run(path, blocks, symbols, execute):
    names = {}
    codes = []
    for i, (first, text, snap) in enumerate(blocks):
        fname = "<stackdrill code block %d>" % i
        lines = text.split("\n")[:-1]
        names[fname] = (first, lines)
        try:
            codes.append(compile("\n" * (first - 1) + text, fname, "exec", dont_inherit=True))
        except SyntaxError as e:
            line = e.lineno if e.lineno is not None else first
            line = max(first, min(line, first + max(len(lines), 1) - 1))
            return ("error", line, _sd_syntax_body(type(e), e))
    if not execute:
        return None

    def locate(filename, lineno):
        if lineno is None or filename not in names:
            return None
        first, lines = names[filename]
        if first <= lineno < first + len(lines):
            return (lineno, lines[lineno - first])
        return None

    ns = {"__name__": "__main__", "__builtins__": builtins, "sys": sys,
          "traceback": traceback}
    try:
        for code, (first, text, snap) in zip(codes, blocks):
            for name, value in symbols:
                ns[name] = value
            for name, value in snap:
                ns[name] = value
            ns["_file"] = path
            ns["_line"] = first
            try:
                exec(code, ns)
            except SystemExit as e:
                status = e.code
                if status is None:
                    return ("exit", 0)
                if isinstance(status, int):
                    return ("exit", status & 0xff)
                sys.stderr.write("%s\n" % (status,))
                return ("exit", 1)
            except BaseException as e:
                line, body = _sd_report(type(e), e, e.__traceback__, locate, first, path)
                return ("error", line, body)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    return None
"#;

/// External engine preamble (before the one-line `_sd_blocks` table): packetdrill's hook,
/// printing the same report as the embedded engine. `_sd_blocks` rows are
/// `(file_first_line, line_count, script_first_line)`.
const PY_EXTERNAL_PREAMBLE: &str = r#"import sys
import traceback
import linecache
"#;

const PY_EXTERNAL_HOOK: &str = r#"
def _sd_locate(filename, lineno):
    if lineno is None or filename != _sd_self:
        return None
    for first, count, script_first in _sd_blocks:
        if first <= lineno < first + count:
            return (script_first + lineno - first, linecache.getline(filename, lineno))
    return None

def excepthook(etype, value, tb):
    line, body = _sd_report(etype, value, tb, _sd_locate, globals().get("_line", 0), _sd_file)
    sys.stderr.write("%s:%d: error in Python code\n%s" % (_sd_file, line, body))
    sys.stderr.flush()

sys.excepthook = excepthook
_sd_self = __file__
"#;

// ---------------------------------------------------------------------------------------------
// Embedded engine.

fn run_embedded(script_path: &str, command: &str, blocks: &[CodeRun]) -> Result<(), CodeError> {
    embedded_call(script_path, command, blocks, true)
}

/// What the embedded driver's `_sd_run` returned.
enum Outcome {
    /// `None`: every block ran.
    Done,
    /// `("exit", status)`: `SystemExit`.
    Exit(i32),
    /// `("error", line, body)`: an exception (or syntax error) at script line `line`.
    Error(usize, String),
}

/// A block as handed to `_sd_run`: `(script_line, normalised text, [(name, value)])`.
type PyBlock = (usize, String, Vec<(String, u64)>);

fn embedded_call(
    script_path: &str,
    command: &str,
    blocks: &[CodeRun],
    execute: bool,
) -> Result<(), CodeError> {
    let py_blocks: Vec<PyBlock> = blocks
        .iter()
        .map(|b| {
            let snap = b
                .snapshot
                .iter()
                .map(|(n, v)| (n.clone(), *v as u64))
                .collect();
            (b.script_line.max(1), normalize_text(&b.text), snap)
        })
        .collect();
    let symbols: Vec<(&str, u64)> = SYMBOLS.to_vec();
    let driver =
        CString::new(format!("{PY_EMBEDDED}{PY_COMMON}")).expect("driver source has no NUL bytes");
    let internal = |e: PyErr| CodeError {
        path: script_path.to_string(),
        line: None,
        block_line: None,
        message: format!("error executing code: internal error in embedded Python: {e}"),
    };
    let outcome = Python::attach(|py| -> PyResult<Outcome> {
        // A fresh dict per call for the driver; `_sd_run` makes a fresh one for the blocks.
        let helpers = PyDict::new(py);
        py.run(&driver, Some(&helpers), None)?;
        let run = helpers
            .get_item("_sd_run")?
            .expect("driver defines _sd_run");
        let result = run.call1((script_path, py_blocks, symbols, execute))?;
        if result.is_none() {
            return Ok(Outcome::Done);
        }
        let kind: String = result.get_item(0)?.extract()?;
        if kind == "exit" {
            return Ok(Outcome::Exit(result.get_item(1)?.extract()?));
        }
        Ok(Outcome::Error(
            result.get_item(1)?.extract()?,
            result.get_item(2)?.extract()?,
        ))
    })
    .map_err(internal)?;
    match outcome {
        Outcome::Done | Outcome::Exit(0) => Ok(()),
        Outcome::Exit(status) => Err(CodeError {
            path: script_path.to_string(),
            line: None,
            block_line: None,
            message: format!("error executing code: '{command}' returned non-zero status {status}"),
        }),
        Outcome::Error(line, body) => Err(CodeError {
            path: script_path.to_string(),
            line: Some(line),
            block_line: None,
            message: body.trim_end_matches('\n').to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// External engine.

/// One block's place in the generated file: text lines `file_first..file_first+count` are script
/// lines `script_first..`.
#[derive(Debug, Clone, Copy)]
struct Placement {
    file_first: usize,
    count: usize,
    script_first: usize,
}

/// The generated file, packetdrill's layout plus the report hook; and where each block landed.
fn external_source(script_path: &str, blocks: &[CodeRun]) -> (String, Vec<Placement>) {
    let mut head = String::new();
    head.push_str(PY_EXTERNAL_PREAMBLE);
    head.push_str(PY_COMMON);
    head.push_str(PY_EXTERNAL_HOOK);
    head.push_str(&format!("_sd_file = {}\n", py_str_literal(script_path)));
    // Lines so far, plus the table line; the body starts on the line after.
    let head_lines = head.matches('\n').count() + 1;

    let mut body = String::new();
    let mut line = head_lines + 1; // 1-based file line `body`'s next line will be on.
    let mut placements = Vec::with_capacity(blocks.len());
    let push = |body: &mut String, line: &mut usize, s: &str| {
        body.push_str(s);
        body.push('\n');
        *line += 1 + s.matches('\n').count();
    };
    for b in blocks {
        push(&mut body, &mut line, "");
        for (name, value) in SYMBOLS {
            push(&mut body, &mut line, &format!("{name} = {value}"));
        }
        for (name, value) in &b.snapshot {
            push(&mut body, &mut line, &format!("{name} = {}", *value as u64));
        }
        push(&mut body, &mut line, "");
        push(
            &mut body,
            &mut line,
            &format!("_file = {}", py_str_literal(script_path)),
        );
        push(
            &mut body,
            &mut line,
            &format!("_line = {}", b.script_line.max(1)),
        );
        let text = normalize_text(&b.text);
        let count = text_lines(&text);
        placements.push(Placement {
            file_first: line,
            count,
            script_first: b.script_line.max(1),
        });
        // `text` ends with its own newline; upstream writes "TEXT\n\n".
        body.push_str(&text);
        line += count;
        push(&mut body, &mut line, "");
    }
    let table: Vec<String> = placements
        .iter()
        .map(|p| format!("({}, {}, {})", p.file_first, p.count, p.script_first))
        .collect();
    head.push_str(&format!("_sd_blocks = [{}]\n", table.join(", ")));
    debug_assert_eq!(head.matches('\n').count(), head_lines);
    head.push_str(&body);
    (head, placements)
}

/// A Python string literal for `s`.
fn py_str_literal(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates a new temporary file `code_XXXXXX` (exclusively) and writes `contents` into it.
fn write_temp_file(contents: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir();
    loop {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u64 ^ d.as_secs())
            .unwrap_or(0);
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = (u64::from(std::process::id()) << 32) ^ (n << 20) ^ nanos;
        let path = dir.join(format!("code_{:012x}", tag & 0xffff_ffff_ffff));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(contents.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn run_external(
    script_path: &str,
    code_command: &str,
    blocks: &[CodeRun],
) -> Result<(), CodeError> {
    let fail = |line: Option<usize>, message: String| CodeError {
        path: script_path.to_string(),
        line,
        block_line: None,
        message,
    };
    let (source, placements) = external_source(script_path, blocks);
    let file = write_temp_file(&source)
        .map_err(|e| fail(None, format!("error making temp output file for code: {e}")))?;
    let file_str = file.to_string_lossy().into_owned();
    let _ = std::io::stdout().flush();
    let output = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("{code_command} {file_str}"))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|child| child.wait_with_output());
    let _ = fs::remove_file(&file);
    let output = output.map_err(|e| {
        fail(
            None,
            format!("error executing code: error running '{code_command}': {e}"),
        )
    })?;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let status = output.status;
    if status.success() {
        eprint!("{stderr}");
        return Ok(());
    }
    // The hook's report.
    let header_prefix = format!("{script_path}:");
    let mut offset = 0;
    for l in stderr.split_inclusive('\n') {
        let t = l.trim_end_matches('\n');
        if let Some(rest) = t
            .strip_prefix(&header_prefix)
            .and_then(|r| r.strip_suffix(": error in Python code"))
        {
            if let Ok(line) = rest.parse::<usize>() {
                eprint!("{}", &stderr[..offset]);
                let body = &stderr[offset + l.len()..];
                return Err(fail(Some(line), body.trim_end_matches('\n').to_string()));
            }
        }
        offset += l.len();
    }
    // A syntax error: Python printed it before the hook was installed.
    let file_prefix = format!("  File \"{file_str}\", line ");
    let mut offset = 0;
    for l in stderr.split_inclusive('\n') {
        let t = l.trim_end_matches('\n');
        if let Some(n) = t
            .strip_prefix(&file_prefix)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
        {
            if let Some(p) = placements.iter().rev().find(|p| p.file_first <= n) {
                let line = p.script_first + (n - p.file_first).min(p.count.saturating_sub(1));
                eprint!("{}", &stderr[..offset]);
                let body: Vec<&str> = stderr[offset + l.len()..]
                    .lines()
                    .map(|x| if x.starts_with("    ") { &x[2..] } else { x })
                    .collect();
                return Err(fail(Some(line), body.join("\n").trim_end().to_string()));
            }
        }
        offset += l.len();
    }
    eprint!("{stderr}");
    use std::os::unix::process::ExitStatusExt;
    let message = match (status.code(), status.signal()) {
        (Some(code), _) => format!("'{code_command}' returned non-zero status {code}"),
        (None, Some(sig)) => format!("'{code_command}' got signal {sig}"),
        (None, None) => format!("'{code_command}' failed"),
    };
    Err(fail(None, format!("error executing code: {message}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_dedents_and_appends_newline() {
        assert_eq!(normalize_text("assert x"), "assert x\n");
        assert_eq!(
            normalize_text("\n    a = 1\n    if a:\n      b = 2\n"),
            "\na = 1\nif a:\n  b = 2\n\n"
        );
        assert_eq!(normalize_text("a = 1\\\n   + 2"), "a = 1\\\n   + 2\n");
        assert_eq!(normalize_text("\n\ta\r\n  \n\tb"), "\na\n\nb\n");
    }

    #[test]
    fn text_line_count() {
        assert_eq!(text_lines(&normalize_text("a")), 1);
        assert_eq!(text_lines(&normalize_text("\na\n")), 3);
    }

    #[test]
    fn literal_escapes() {
        assert_eq!(py_str_literal("a'b\\c\n"), "'a\\'b\\\\c\\n'");
    }

    #[test]
    fn engines() {
        assert_eq!(engine_for("python3"), Engine::Embedded);
        assert_eq!(engine_for("python"), Engine::Embedded);
        assert_eq!(engine_for("python3.11"), Engine::External);
        assert_eq!(engine_for("/usr/bin/python3"), Engine::External);
    }
}
