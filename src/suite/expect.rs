//! Expected failures: what a script declares about its own outcome. Upstream's self-tests
//! carry a `// Failure: REGEX` comment (the failure message must match); the FreeBSD suite puts
//! a `NAME.exfail` (any failure) or `NAME.extimeout` (a timeout) file beside the script.

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
            Self::Fail(None) => true,
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
        }
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
    fn no_marker_expects_a_pass() {
        let expectation = Expectation::of_script(Path::new("/nonexistent/x.pkt"), "").unwrap();
        assert!(matches!(expectation, Expectation::Pass));
        assert!(!expectation.accepts_failure("anything"));
    }
}
