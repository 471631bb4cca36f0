//! Text passes before the grammar: `#ifdef` blocks, a nesting-depth guard, and packetdrill's
//! lexer-time `-D NAME=VALUE` substitution, with a map from the substituted text back to the
//! original offsets so that errors still point at what the user wrote.

use std::collections::BTreeMap;

/// Deepest bracket nesting accepted; deeper input is rejected instead of overflowing the stack.
pub const MAX_NESTING: usize = 64;

/// Words the packetdrill lexer treats as keywords: never replaced by a define.
const KEYWORDS: &[&str] = &[
    "sa_family",
    "sin_port",
    "sin_addr",
    "msg_name",
    "msg_iov",
    "msg_flags",
    "msg_control",
    "cmsg_data",
    "cmsg_level",
    "cmsg_type",
    "ee_errno",
    "ee_origin",
    "ee_type",
    "ee_code",
    "ee_info",
    "ee_data",
    "scm_sec",
    "scm_nsec",
    "fd",
    "u32",
    "u64",
    "ptr",
    "events",
    "revents",
    "onoff",
    "linger",
    "htons",
    "ipv4",
    "ipv6",
    "icmp",
    "udp",
    "GREv0",
    "gre",
    "raw",
    "sum",
    "off",
    "key",
    "seq",
    "none",
    "checksum",
    "present",
    "encap",
    "psp",
    "spi",
    "mpls",
    "label",
    "tc",
    "ttl",
    "inet_addr",
    "inet6_addr",
    "ack",
    "eol",
    "ecr",
    "mss",
    "mtu",
    "nop",
    "sack",
    "sackOK",
    "md5",
    "TS",
    "FO",
    "FOEXP",
    "ECN",
    "e0b",
    "e1b",
    "ceb",
    "tos",
    "flowlabel",
    "flags",
    "Flags",
    "val",
    "win",
    "urg",
    "wscale",
    "ect01",
    "ect0",
    "ect1",
    "noecn",
    "ce",
    "id",
];

/// A problem found by a text pass, at a byte offset of the text it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub offset: usize,
    pub message: String,
}

/// Kinds of region the scanner distinguishes; defines apply only in `Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Code,
    LineComment,
    BlockComment,
    String,
    Command,
    PythonCode,
}

/// Walks the text and calls `on_code_byte` for every byte outside comments, strings, commands
/// and `%{ }%` blocks, with the byte offset.
fn scan_code_bytes(
    text: &[u8],
    mut on_code_byte: impl FnMut(usize) -> Result<(), TextError>,
) -> Result<(), TextError> {
    let mut region = Region::Code;
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        let next = text.get(i + 1).copied();
        match region {
            Region::Code => match (b, next) {
                (b'/', Some(b'/')) => region = Region::LineComment,
                (b'/', Some(b'*')) => {
                    region = Region::BlockComment;
                    i += 1;
                }
                (b'"', _) => region = Region::String,
                (b'`', _) => region = Region::Command,
                (b'%', Some(b'{')) => {
                    region = Region::PythonCode;
                    i += 1;
                }
                _ => on_code_byte(i)?,
            },
            Region::LineComment if b == b'\n' => region = Region::Code,
            Region::BlockComment if b == b'*' && next == Some(b'/') => {
                region = Region::Code;
                i += 1;
            }
            Region::String | Region::Command if b == b'\\' => i += 1,
            Region::String if b == b'"' => region = Region::Code,
            Region::Command if b == b'`' => region = Region::Code,
            Region::PythonCode if b == b'}' && next == Some(b'%') => {
                region = Region::Code;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Rejects bracket nesting deeper than [`MAX_NESTING`].
pub fn check_nesting(text: &str) -> Result<(), TextError> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    scan_code_bytes(bytes, |i| {
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(TextError {
                        offset: i,
                        message: format!("brackets nested deeper than {MAX_NESTING} levels"),
                    });
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        Ok(())
    })
}

/// (nplab) Resolves `#ifdef NAME … #endif` blocks (one level): the lines are kept when NAME is
/// defined and blanked otherwise. Blanking keeps every byte offset and line number.
pub fn resolve_ifdefs(text: &str, defines: &BTreeMap<String, String>) -> Result<String, TextError> {
    if !text.contains("#ifdef") && !text.contains("#endif") {
        return Ok(text.to_string());
    }
    let mut out = text.as_bytes().to_vec();
    let mut open: Option<(usize, bool)> = None; // (offset of #ifdef, keep block)
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let directive_at = line_start + (line.len() - trimmed.len());
        let mut blank_line = false;
        if let Some(rest) = trimmed.strip_prefix("#ifdef") {
            if open.is_some() {
                return Err(TextError {
                    offset: directive_at,
                    message: "nested #ifdef is not supported".into(),
                });
            }
            let name = rest.split_whitespace().next().unwrap_or("");
            if name.is_empty() {
                return Err(TextError {
                    offset: directive_at,
                    message: "#ifdef needs a name".into(),
                });
            }
            open = Some((directive_at, defines.contains_key(name)));
            blank_line = true;
        } else if trimmed.starts_with("#endif") {
            if open.take().is_none() {
                return Err(TextError {
                    offset: directive_at,
                    message: "#endif without #ifdef".into(),
                });
            }
            blank_line = true;
        } else if let Some((_, keep)) = open {
            blank_line = !keep;
        }
        if blank_line {
            for b in &mut out[line_start..line_start + line.len()] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
        line_start += line.len();
    }
    if let Some((offset, _)) = open {
        return Err(TextError {
            offset,
            message: "#ifdef without #endif".into(),
        });
    }
    // Only ASCII bytes were replaced by spaces, whole characters at a time, so this stays UTF-8.
    String::from_utf8(out).map_err(|e| TextError {
        offset: e.utf8_error().valid_up_to(),
        message: "invalid UTF-8".into(),
    })
}

/// One replaced word: `original` in the user's text became `expanded` in the parsed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Substitution {
    original_start: usize,
    original_end: usize,
    expanded_start: usize,
    expanded_end: usize,
}

/// The text after define substitution, and how to map its offsets back.
#[derive(Debug, Clone)]
pub struct Expanded {
    pub text: String,
    substitutions: Vec<Substitution>,
}

impl Expanded {
    /// The offset in the original text for an offset in the expanded text. Offsets inside a
    /// replaced word map to the start of the word as written.
    pub fn original_offset(&self, expanded: usize) -> usize {
        let idx = self
            .substitutions
            .partition_point(|s| s.expanded_start <= expanded);
        if idx == 0 {
            return expanded;
        }
        let s = self.substitutions[idx - 1];
        if expanded < s.expanded_end {
            s.original_start
        } else {
            expanded - s.expanded_end + s.original_end
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// What a define's value becomes in the token stream, as packetdrill's lexer decides: a string if
/// it starts with `"`, a command if it starts with a back-quote, an integer if C `strtol` (base 0)
/// takes all of it, otherwise a word.
fn replacement_text(value: &str) -> String {
    if value.starts_with('"') {
        if value.len() > 1 && value.ends_with('"') {
            value.to_string()
        } else {
            format!("{value}\"")
        }
    } else if value.starts_with('`') {
        if value.len() > 1 && value.ends_with('`') {
            value.to_string()
        } else {
            format!("{value}`")
        }
    } else if let Some(n) = strtol_base0(value) {
        n.to_string()
    } else {
        value.to_string()
    }
}

/// C `strtol(value, &end, 0)` accepting only when all of `value` is consumed.
fn strtol_base0(value: &str) -> Option<i64> {
    let s = value.trim_start();
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, body) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    let v = if negative { -magnitude } else { magnitude };
    i64::try_from(v).ok()
}

/// Replaces every defined word outside comments, strings, commands and code blocks.
pub fn expand(text: &str, defines: &BTreeMap<String, String>) -> Expanded {
    let bytes = text.as_bytes();
    let mut words = Vec::new(); // (start, end) of word runs in code regions
    if !defines.is_empty() {
        let mut run_start: Option<usize> = None;
        let mut last_code = usize::MAX;
        let _ = scan_code_bytes(bytes, |i| {
            let contiguous = last_code != usize::MAX && last_code + 1 == i;
            last_code = i;
            match (is_word_byte(bytes[i]), run_start) {
                (true, None) => run_start = Some(i),
                (true, Some(_)) if !contiguous => {
                    let start = run_start.replace(i).unwrap();
                    words.push((start, last_word_end(bytes, start)));
                }
                (false, Some(start)) => {
                    words.push((start, i));
                    run_start = None;
                }
                _ => {}
            }
            Ok(())
        });
        if let Some(start) = run_start {
            words.push((start, last_word_end(bytes, start)));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut substitutions = Vec::new();
    let mut copied = 0;
    for (start, end) in words {
        let word = &text[start..end];
        let Some(value) = defines.get(word) else {
            continue;
        };
        if KEYWORDS.contains(&word) || on_option_line(bytes, start) {
            continue;
        }
        out.push_str(&text[copied..start]);
        let expanded_start = out.len();
        out.push_str(&replacement_text(value));
        substitutions.push(Substitution {
            original_start: start,
            original_end: end,
            expanded_start,
            expanded_end: out.len(),
        });
        copied = end;
    }
    out.push_str(&text[copied..]);
    Expanded {
        text: out,
        substitutions,
    }
}

fn last_word_end(bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_word_byte(bytes[end]) {
        end += 1;
    }
    end
}

/// True inside a `--name=value` option line: option lines are never substituted (their values,
/// `--define=` included, are the configuration's business).
fn on_option_line(bytes: &[u8], start: usize) -> bool {
    let line_start = bytes[..start]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    bytes[line_start..start]
        .trim_ascii_start()
        .starts_with(b"--")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_words_outside_strings_comments_and_keywords() {
        let d = defs(&[
            ("MSS", "0x10"),
            ("CODE", "host_unreachable"),
            ("mss", "9"),
            ("S", "\"str\""),
        ]);
        let text = "<mss MSS> // MSS\n icmp unreachable CODE \"MSS\" `echo MSS` S";
        let e = expand(text, &d);
        assert_eq!(
            e.text,
            "<mss 16> // MSS\n icmp unreachable host_unreachable \"MSS\" `echo MSS` \"str\""
        );
    }

    #[test]
    fn maps_offsets_back_to_the_original() {
        let d = defs(&[("LONGNAME", "1"), ("X", "host_unreachable")]);
        let text = "a LONGNAME b X c";
        let e = expand(text, &d);
        assert_eq!(e.text, "a 1 b host_unreachable c");
        assert_eq!(e.original_offset(0), 0);
        assert_eq!(e.original_offset(2), 2); // the "1"
        assert_eq!(e.original_offset(4), 11); // "b"
        assert_eq!(e.original_offset(10), 13); // inside host_unreachable → start of X
        assert_eq!(e.original_offset(e.text.len() - 1), text.len() - 1);
    }

    #[test]
    fn values_become_tokens_like_strtol() {
        assert_eq!(replacement_text("010"), "8");
        assert_eq!(replacement_text("-5"), "-5");
        assert_eq!(replacement_text("3021b9d889017eeb"), "3021b9d889017eeb");
        assert_eq!(replacement_text("`cmd`"), "`cmd`");
    }

    #[test]
    fn option_lines_are_not_substituted() {
        let d = defs(&[("mss", "1"), ("X", "\"reno\""), ("MSS", "1000")]);
        let e = expand("--mss=MSS\n--define=X=\"reno\"\n0 < S 0:0(0) <mss MSS>", &d);
        assert_eq!(
            e.text,
            "--mss=MSS\n--define=X=\"reno\"\n0 < S 0:0(0) <mss 1000>"
        );
    }

    #[test]
    fn nesting_guard() {
        assert!(check_nesting(&"[".repeat(MAX_NESTING)).is_ok());
        let err = check_nesting(&"[".repeat(MAX_NESTING + 1)).unwrap_err();
        assert_eq!(err.offset, MAX_NESTING);
        assert!(check_nesting(
            "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\""
        )
        .is_ok());
    }

    #[test]
    fn ifdef_blocks() {
        let text = "a\n#ifdef X\nb\n#endif\nc\n";
        assert_eq!(
            resolve_ifdefs(text, &defs(&[])).unwrap(),
            "a\n        \n \n      \nc\n"
        );
        assert_eq!(
            resolve_ifdefs(text, &defs(&[("X", "1")])).unwrap(),
            "a\n        \nb\n      \nc\n"
        );
        assert_eq!(
            resolve_ifdefs("#ifdef X\n", &defs(&[]))
                .unwrap_err()
                .message,
            "#ifdef without #endif"
        );
    }
}
