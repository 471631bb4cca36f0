//! Script errors that point at the text: `FILE:LINE:COL: error: MESSAGE`, the source line, a caret.

use std::fmt;

use super::ast::Span;

/// Line starts of a text, to turn byte offsets into 1-based line and column numbers.
#[derive(Debug, Clone)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        Self::from_bytes(text.as_bytes())
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineIndex { line_starts }
    }

    /// 1-based line number of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// Byte range of a 1-based line, without its newline.
    pub fn line_range(&self, line: usize, text_len: usize) -> (usize, usize) {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .map(|next| next - 1)
            .unwrap_or(text_len);
        (start, end.max(start))
    }
}

/// Where an error is: file, line, column, and the line's text for the caret display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    /// 1-based, counted in characters.
    pub column: usize,
    /// The source line, made printable (control characters escaped, long lines cut).
    pub source_line: String,
    /// Column of the caret within `source_line` (1-based, in characters).
    pub caret_column: usize,
}

/// An error in a script, with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub path: String,
    pub location: Option<Location>,
    pub message: String,
    /// Set when the error is a word standing where a number is needed: a missing `-D` define.
    pub undefined_word: Option<String>,
}

impl ScriptError {
    /// An error at byte `offset` of `text`.
    pub fn at(path: &str, text: &[u8], offset: usize, message: impl Into<String>) -> Self {
        ScriptError {
            path: path.to_string(),
            location: Some(locate(text, offset)),
            message: message.into(),
            undefined_word: None,
        }
    }

    /// An error at the start of `span` in `text`.
    pub fn at_span(path: &str, text: &str, span: Span, message: impl Into<String>) -> Self {
        Self::at(path, text.as_bytes(), span.start, message)
    }

    /// An error about the whole file (unreadable, …).
    pub fn whole_file(path: &str, message: impl Into<String>) -> Self {
        ScriptError {
            path: path.to_string(),
            location: None,
            message: message.into(),
            undefined_word: None,
        }
    }

    /// The 1-based line of the error, if it has one.
    pub fn line(&self) -> Option<usize> {
        self.location.as_ref().map(|l| l.line)
    }
}

/// Longest source excerpt shown; longer lines are cut around the column.
const MAX_SHOWN_LINE: usize = 120;

fn locate(text: &[u8], offset: usize) -> Location {
    let offset = offset.min(text.len());
    let index = LineIndex::from_bytes(text);
    let line = index.line(offset);
    let (start, end) = index.line_range(line, text.len());
    let before = String::from_utf8_lossy(&text[start..offset]);
    let column = before.chars().count() + 1;
    let (source_line, caret_column) = printable_excerpt(&text[start..end], offset - start);
    Location {
        line,
        column,
        source_line,
        caret_column,
    }
}

/// The line made printable, cut to at most MAX_SHOWN_LINE characters around `byte_column`.
/// Returns the text and the 1-based character column of the caret within it.
fn printable_excerpt(line: &[u8], byte_column: usize) -> (String, usize) {
    let printable = |bytes: &[u8]| -> Vec<char> {
        String::from_utf8_lossy(bytes)
            .chars()
            .flat_map(|ch| match ch {
                '\t' => vec![' '],
                '\r' => vec![],
                c if c.is_control() => c.escape_default().collect(),
                c => vec![c],
            })
            .collect()
    };
    let before = printable(&line[..byte_column.min(line.len())]);
    let chars = printable(line);
    let caret = before.len() + 1;
    if chars.len() <= MAX_SHOWN_LINE {
        return (chars.into_iter().collect(), caret);
    }
    let first = caret
        .saturating_sub(MAX_SHOWN_LINE / 2)
        .min(chars.len() - MAX_SHOWN_LINE);
    let mut cut: String = chars[first..first + MAX_SHOWN_LINE].iter().collect();
    let mut caret = caret - first;
    if first > 0 {
        cut.insert(0, '…');
        caret += 1;
    }
    if first + MAX_SHOWN_LINE < chars.len() {
        cut.push('…');
    }
    (cut, caret)
}

impl ScriptError {
    /// The same report labelled as a warning (for problems that do not stop a dry run).
    pub fn as_warning(&self) -> String {
        let mut out = String::new();
        self.render(&mut out, "warning")
            .expect("writing to a String cannot fail");
        out
    }

    fn render(&self, f: &mut impl fmt::Write, label: &str) -> fmt::Result {
        match &self.location {
            None => write!(f, "{}: {label}: {}", self.path, self.message),
            Some(loc) => {
                writeln!(
                    f,
                    "{}:{}:{}: {label}: {}",
                    self.path, loc.line, loc.column, self.message
                )?;
                writeln!(f, "  {}", loc.source_line)?;
                write!(f, "  {}^", " ".repeat(loc.caret_column - 1))
            }
        }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "error")
    }
}

impl std::error::Error for ScriptError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_line_column_and_caret() {
        let text = "0 socket(..., SOCK_STREAM, 0) = 3\n+0 frob(3) = 0\n";
        let offset = text.find("frob").unwrap();
        let e = ScriptError::at(
            "t.pkt",
            text.as_bytes(),
            offset,
            "unknown system call 'frob'",
        );
        assert_eq!(
            e.to_string(),
            "t.pkt:2:4: error: unknown system call 'frob'\n  +0 frob(3) = 0\n     ^"
        );
    }

    #[test]
    fn escapes_control_characters_and_cuts_long_lines() {
        let mut text = "x".repeat(500);
        text.push('\0');
        text.push_str(&"y".repeat(500));
        let e = ScriptError::at("t.pkt", text.as_bytes(), 500, "bad byte");
        let loc = e.location.unwrap();
        assert_eq!(loc.column, 501);
        assert!(loc.source_line.chars().count() <= MAX_SHOWN_LINE + 2 + 4);
        assert!(loc.source_line.contains("\\u{0}"));
        let caret_char = loc.source_line.chars().nth(loc.caret_column - 1).unwrap();
        assert_eq!(caret_char, '\\');
    }

    #[test]
    fn offset_at_end_of_file() {
        let e = ScriptError::at("t.pkt", b"abc", 3, "unexpected end of file");
        assert_eq!(
            e.to_string(),
            "t.pkt:1:4: error: unexpected end of file\n  abc\n     ^"
        );
    }
}
