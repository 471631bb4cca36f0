//! Expected failures: what a script declares about its own outcome. Upstream's self-tests
//! carry a `// Failure: REGEX` comment (the failure message must match); the FreeBSD suite puts
//! a `NAME.exfail` (any failure) or `NAME.extimeout` (a timeout) file beside the script.
//! stackdrill's own `// cannot-pass: STACK: REASON` marks a script one stack cannot pass (a
//! feature it lacks, a clause it breaks), so that on that stack it is an expected failure
//! shown with its reason, and a pass there is reported (the mark is stale).

use std::path::Path;

use regex::Regex;

/// What a script is expected to do.
#[derive(Debug, Clone, Default)]
pub enum Expectation {
    #[default]
    Pass,
    /// Fail; with a pattern, with a failure text that matches it.
    Fail(Option<Regex>),
    /// Run until killed by the timeout.
    Timeout,
    /// Fail (or time out) on this stack, for the mark's reason.
    CannotPass(CannotPass),
}

/// A `// cannot-pass: STACK: REASON` line: the script cannot pass on STACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannotPass {
    /// `kernel`, or an adapter's name as [`stack_name`] gives it (`lwip`, `gvisor`...).
    pub stack: String,
    pub reason: String,
}

/// The comment that marks a script a stack cannot pass.
const CANNOT_PASS: &str = "// cannot-pass:";

/// The name `// cannot-pass:` lines use for the stack a run targets: `kernel` without a
/// library, else the library's file name without `lib`, `stackdrill_` and the extension
/// (`libstackdrill_lwip.so` is `lwip`, `/opt/libluna.so.1` is `luna`).
pub fn stack_name(library: Option<&Path>) -> String {
    let Some(library) = library else {
        return "kernel".to_string();
    };
    let file = library
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = file.split(".so").next().unwrap_or(&file);
    let base = base.strip_prefix("lib").unwrap_or(base);
    let base = base
        .strip_prefix("stackdrill_")
        .or_else(|| base.strip_prefix("stackdrill-"))
        .unwrap_or(base);
    base.to_string()
}

/// The `// cannot-pass: STACK: REASON` marks of `script` (text `source`); a mark without a
/// stack name or a reason is an error naming `FILE:LINE:COL`.
pub fn cannot_pass_marks(script: &Path, source: &str) -> Result<Vec<CannotPass>, String> {
    let mut marks = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let Some(start) = line.find(CANNOT_PASS) else {
            continue;
        };
        let rest_start = start + CANNOT_PASS.len();
        let rest = &line[rest_start..];
        let column = rest_start + (rest.len() - rest.trim_start().len()) + 1;
        let place = format!("{}:{}:{column}", script.display(), number + 1);
        let Some((stack, reason)) = rest.split_once(':') else {
            return Err(format!(
                "{place}: error: bad '{CANNOT_PASS}' mark: expected '{CANNOT_PASS} STACK: REASON'"
            ));
        };
        let stack = stack.trim();
        let valid_name = !stack.is_empty()
            && stack
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid_name {
            return Err(format!(
                "{place}: error: bad '{CANNOT_PASS}' mark: '{stack}' is no stack name \
                 (kernel, or an adapter's name such as lwip)"
            ));
        }
        if reason.trim().is_empty() {
            return Err(format!(
                "{place}: error: bad '{CANNOT_PASS}' mark: no reason after '{stack}:'"
            ));
        }
        marks.push(CannotPass {
            stack: stack.to_string(),
            reason: reason.trim().to_string(),
        });
    }
    Ok(marks)
}

impl Expectation {
    /// Reads the expectation of `script` (whose text is `source`). A `// Failure:` comment
    /// whose pattern is not a valid regex is an error naming `FILE:LINE:COL`.
    pub fn of_script(script: &Path, source: &str) -> Result<Self, String> {
        for (number, line) in source.lines().enumerate() {
            let Some(start) = line.find("// Failure:") else {
                continue;
            };
            let pattern_start = start + "// Failure:".len();
            let pattern = line[pattern_start..].trim();
            let column = pattern_start
                + (line[pattern_start..].len() - line[pattern_start..].trim_start().len());
            return Regex::new(pattern)
                .map(|regex| Self::Fail(Some(regex)))
                .map_err(|e| {
                    let why = e.to_string().lines().last().unwrap_or_default().to_string();
                    format!(
                        "{}:{}:{}: error: bad regex in '// Failure:' comment: {why}",
                        script.display(),
                        number + 1,
                        column + 1
                    )
                });
        }
        if script.with_extension("exfail").exists() {
            return Ok(Self::Fail(None));
        }
        if script.with_extension("extimeout").exists() {
            return Ok(Self::Timeout);
        }
        Ok(Self::Pass)
    }

    /// Whether a failure with `failure_text` (the run's error output) is the expected one.
    pub fn accepts_failure(&self, failure_text: &str) -> bool {
        match self {
            Self::Fail(None) | Self::CannotPass(_) => true,
            Self::Fail(Some(regex)) => regex.is_match(failure_text),
            Self::Pass | Self::Timeout => false,
        }
    }

    /// For reports: what was expected, in words.
    pub fn describe(&self) -> String {
        match self {
            Self::Pass => "pass".to_string(),
            Self::Fail(None) => "fail".to_string(),
            Self::Fail(Some(regex)) => format!("fail matching /{}/", regex.as_str()),
            Self::Timeout => "time out".to_string(),
            Self::CannotPass(mark) => {
                format!("fail on {} (cannot pass: {})", mark.stack, mark.reason)
            }
        }
    }

    /// Whether a timeout is what was expected.
    pub fn accepts_timeout(&self) -> bool {
        matches!(self, Self::Timeout | Self::CannotPass(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_comment_is_a_regex() {
        let source = "0 socket(...) = 3\n// Failure: errno 93 \\(Protocol\n";
        let expectation = Expectation::of_script(Path::new("/nonexistent/x.pkt"), source).unwrap();
        assert!(
            expectation.accepts_failure("x.pkt:6: got -1 with errno 93 (Protocol not supported)")
        );
        assert!(!expectation.accepts_failure("x.pkt:6: timing error"));
        assert_eq!(
            expectation.describe(),
            "fail matching /errno 93 \\(Protocol/"
        );
    }

    #[test]
    fn bad_regex_names_the_place() {
        let source = "\n   // Failure: (unclosed\n";
        let error = Expectation::of_script(Path::new("t/x.pkt"), source).unwrap_err();
        assert!(
            error.starts_with("t/x.pkt:2:16: error: bad regex"),
            "{error}"
        );
    }

    #[test]
    fn cannot_pass_marks_name_a_stack_and_a_reason() {
        let source = "// cannot-pass: lwip: no SYN backoff (RFC 6298 5.5)\n\
                      // cannot-pass: gvisor : keep-alive not inherited\n0 socket(...) = 3\n";
        let marks = cannot_pass_marks(Path::new("x.pkt"), source).unwrap();
        assert_eq!(
            marks,
            [
                CannotPass {
                    stack: "lwip".into(),
                    reason: "no SYN backoff (RFC 6298 5.5)".into()
                },
                CannotPass {
                    stack: "gvisor".into(),
                    reason: "keep-alive not inherited".into()
                }
            ]
        );
        let error =
            cannot_pass_marks(Path::new("t/x.pkt"), "\n// cannot-pass: lwip\n").unwrap_err();
        assert_eq!(
            error,
            "t/x.pkt:2:17: error: bad '// cannot-pass:' mark: expected \
             '// cannot-pass: STACK: REASON'"
        );
        let error = cannot_pass_marks(Path::new("x.pkt"), "// cannot-pass: lwip:  \n").unwrap_err();
        assert!(error.ends_with("no reason after 'lwip:'"), "{error}");
        let error =
            cannot_pass_marks(Path::new("x.pkt"), "// cannot-pass: my stack: why\n").unwrap_err();
        assert!(error.contains("'my stack' is no stack name"), "{error}");
    }

    #[test]
    fn stacks_are_named_after_their_library() {
        assert_eq!(stack_name(None), "kernel");
        let named = |path: &str| stack_name(Some(Path::new(path)));
        assert_eq!(named("target/debug/libstackdrill_lwip.so"), "lwip");
        assert_eq!(named("/x/libstackdrill_smoltcp.so"), "smoltcp");
        assert_eq!(named("/opt/libluna.so.1"), "luna");
        assert_eq!(named("fstack.so"), "fstack");
    }

    #[test]
    fn no_marker_expects_a_pass() {
        let expectation = Expectation::of_script(Path::new("/nonexistent/x.pkt"), "").unwrap();
        assert!(matches!(expectation, Expectation::Pass));
        assert!(!expectation.accepts_failure("anything"));
    }
}
