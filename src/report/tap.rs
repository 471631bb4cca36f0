//! TAP version 13 and KTAP (the kernel selftests' dialect) for test harnesses that read them.
//! One test point per script × variant (× `--compare` target, named in the description);
//! an expected failure is `not ok … # TODO REASON` in TAP (a failing TODO point does not fail
//! the suite, as TAP consumers know) and `# XFAIL` in KTAP; failures carry their message as a
//! comment and their text as diagnostics.

use super::{RunRecord, Status, SuiteResult};

/// TAP 13 text.
pub fn render_tap(suite: &SuiteResult) -> String {
    render(suite, false)
}

/// KTAP version 1 text.
pub fn render_ktap(suite: &SuiteResult) -> String {
    render(suite, true)
}

fn render(suite: &SuiteResult, ktap: bool) -> String {
    let mut text = String::new();
    text.push_str(if ktap {
        "KTAP version 1\n"
    } else {
        "TAP version 13\n"
    });
    text.push_str(&format!("1..{}\n", suite.runs.len()));
    for (index, run) in suite.runs.iter().enumerate() {
        text.push_str(&test_point(index + 1, run, ktap));
    }
    text.push_str(&format!("# {}\n", suite.summary_line()));
    if ktap {
        let counts = suite.counts();
        text.push_str(&format!(
            "# Totals: pass:{} fail:{} xfail:{} xpass:0 skip:{} error:{}\n",
            counts.passed,
            counts.failed + counts.timed_out,
            counts.expected_failures,
            counts.not_run,
            counts.crashed
        ));
    }
    text
}

fn test_point(number: usize, run: &RunRecord, ktap: bool) -> String {
    let description = run.label().replace('#', "\\#");
    let directive = match run.status {
        Status::Passed | Status::Failed | Status::Crashed => String::new(),
        Status::TimedOut => " # timed out".to_string(),
        Status::ExpectedFailure if ktap => format!(" # XFAIL {}", one_line(&run.message)),
        Status::ExpectedFailure => format!(" # TODO expected failure: {}", one_line(&run.message)),
        Status::NotRun => " # SKIP not run: interrupted".to_string(),
    };
    // KTAP's XFAIL is an `ok` point; TAP's TODO is a `not ok` point that a harness forgives.
    let ok = match run.status {
        Status::Passed | Status::NotRun => true,
        Status::ExpectedFailure => ktap,
        Status::Failed | Status::TimedOut | Status::Crashed => false,
    };
    let mut text = format!(
        "{} {number} {description}{directive}\n",
        if ok { "ok" } else { "not ok" }
    );
    if !run.status.is_ok() {
        for line in run.errors.lines().chain(std::iter::once(
            format!("reproduce: {}", run.command).as_str(),
        )) {
            text.push_str("# ");
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

fn one_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().replace('#', "\\#")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{compared_sample, sample};

    #[test]
    fn tap_and_ktap_points() {
        let tap = render_tap(&sample());
        let lines: Vec<&str> = tap.lines().collect();
        assert_eq!(lines[0], "TAP version 13");
        assert_eq!(lines[1], "1..5");
        assert_eq!(lines[2], "ok 1 tcp/a.pkt (ipv4)");
        assert_eq!(lines[3], "not ok 2 tcp/a.pkt (ipv6)");
        assert_eq!(
            lines[4],
            "# a.pkt:14: error handling packet: live packet field tcp_ack: expected 1001 vs actual 1"
        );
        assert!(tap.contains("not ok 4 tcp/slow.pkt (ipv4) # timed out\n"));
        assert!(tap.contains(
            "\nnot ok 5 self/err.pkt # TODO expected failure: err.pkt:6: runtime error in socket call: errno 93\n# Ran"
        ));
        let ktap = render_ktap(&sample());
        assert!(ktap.starts_with("KTAP version 1\n1..5\n"));
        assert!(ktap.contains("\nok 5 self/err.pkt # XFAIL err.pkt:6:"));
        assert!(ktap.contains("# Totals: pass:2 fail:2 xfail:1 xpass:0 skip:0 error:0\n"));
    }

    #[test]
    fn compared_targets_are_in_the_descriptions() {
        let tap = render_tap(&compared_sample());
        assert!(tap.contains("\nok 3 tcp/fastopen.pkt on kernel\nnot ok 4 tcp/fastopen.pkt on libstackdrill_smoltcp.so\n"));
    }
}
