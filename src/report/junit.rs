//! JUnit XML for Jenkins' junit step (and any other JUnit consumer), through quick-junit: one
//! testsuite, one testcase per script × variant (× `--compare` target, named in the case). Failures carry the message and the whole
//! failure text; timeouts and crashes are errors; expected failures and runs an interruption
//! stopped are skipped with the reason; a pass that needed a retry keeps its failed attempts as
//! flaky failures. How the suite was started (command, version, start time) and the kernel's
//! release and TCP settings the runs recorded are `<properties>`.

use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::{Invocation, RunRecord, Status, SuiteResult};

/// The report as XML text; `invocation` (how the suite was started) as `stackdrill.*`
/// properties.
pub fn render(suite: &SuiteResult, invocation: Option<&Invocation>) -> String {
    let mut report = Report::new("stackdrill");
    let mut test_suite = TestSuite::new("stackdrill");
    test_suite.set_time(suite.wall);
    if let Some(invocation) = invocation {
        test_suite.add_properties([
            Property::new("stackdrill.command", invocation.command.as_str()),
            Property::new("stackdrill.version", invocation.version.as_str()),
            Property::new(
                "stackdrill.started",
                super::utc_text(invocation.started).as_str(),
            ),
        ]);
    }
    // The setting every run shared as the suite's properties; what a run had otherwise, as
    // its own.
    let common = suite.common_environment();
    test_suite.add_properties(
        common
            .iter()
            .map(|(name, value)| Property::new(name.as_str(), value.as_str())),
    );
    test_suite.add_test_cases(suite.runs.iter().map(|run| {
        let mut case = test_case(run);
        case.add_properties(
            run.environment
                .iter()
                .filter(|(name, value)| common.get(*name) != Some(value))
                .map(|(name, value)| Property::new(name.as_str(), value.as_str())),
        );
        case
    }));
    report.add_test_suite(test_suite);
    report.set_time(suite.wall);
    let xml = report
        .to_string()
        .expect("serializing an in-memory JUnit report cannot fail");
    without_root_skipped_count(xml)
}

/// quick-junit writes a `skipped` count on `<testsuites>`, which the schema Jenkins' xUnit
/// plugin validates against (junit-10.xsd) does not allow there (only on `<testsuite>`).
fn without_root_skipped_count(xml: String) -> String {
    let Some(start) = xml.find("<testsuites ") else {
        return xml;
    };
    let end = start + xml[start..].find('>').unwrap_or(0);
    let root = &xml[start..end];
    let Some(attribute) = root.find(" skipped=\"") else {
        return xml;
    };
    let value_end = root[attribute + 10..]
        .find('"')
        .map_or(root.len(), |i| attribute + 10 + i + 1);
    format!(
        "{}{}{}",
        &xml[..start + attribute],
        &root[value_end..],
        &xml[end..]
    )
}

/// Jenkins shows `classname` as package.class: the script's directory, dotted.
fn class_name(run: &RunRecord) -> String {
    match run.script.rsplit_once('/') {
        Some((directory, _)) => directory.replace('/', "."),
        None => "stackdrill".to_string(),
    }
}

/// `file.pkt`, `file.pkt (VARIANT)`, then ` on TARGET` when comparing targets.
fn case_name(run: &RunRecord) -> String {
    let file = run.script.rsplit('/').next().unwrap_or(&run.script);
    let name = match &run.variant {
        Some(variant) => format!("{file} ({variant})"),
        None => file.to_string(),
    };
    name + &run.target_suffix()
}

fn test_case(run: &RunRecord) -> TestCase {
    let failure_text = || format!("{}\n\nreproduce: {}\n", run.errors.trim_end(), run.command);
    let status = match run.status {
        Status::Passed => {
            let mut status = TestCaseStatus::success();
            for message in &run.earlier_failures {
                let mut rerun = TestRerun::new(NonSuccessKind::Failure);
                rerun.set_type("timing");
                rerun.set_message(message.as_str());
                status.add_rerun(rerun);
            }
            status
        }
        Status::Failed | Status::TimedOut | Status::Crashed => {
            let kind = if run.status == Status::Failed {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut status = TestCaseStatus::non_success(kind);
            status.set_type(match run.status {
                Status::TimedOut => "timeout",
                Status::Crashed => "crash",
                _ => "failure",
            });
            status.set_message(run.message.as_str());
            status.set_description(failure_text());
            status
        }
        Status::ExpectedFailure | Status::NotRun => {
            let mut status = TestCaseStatus::skipped();
            let why = if run.status == Status::NotRun {
                "not run: the suite was interrupted".to_string()
            } else {
                format!("expected failure ({}): {}", run.expected, run.message)
            };
            status.set_message(why);
            status
        }
    };
    let mut case = TestCase::new(case_name(run), status);
    case.set_classname(class_name(run));
    case.set_time(run.duration);
    if !run.transcript.is_empty() {
        case.set_system_out_lossy(run.transcript.as_bytes());
    }
    case
}

#[cfg(test)]
mod tests {
    use quick_junit::Report;

    use super::*;
    use crate::report::tests::{compared_sample, sample};

    #[test]
    fn one_testcase_per_run_with_failures_and_errors() {
        let xml = render(&sample(), Some(&crate::report::tests::sample_invocation()));
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(parsed.tests, 5);
        assert_eq!((parsed.failures, parsed.errors), (1, 1));
        let cases = &parsed.test_suites[0].test_cases;
        assert_eq!(cases[1].name.as_str(), "a.pkt (ipv6)");
        assert_eq!(cases[1].classname.as_ref().unwrap().as_str(), "tcp");
        assert!(xml.contains("message=\"a.pkt:14: error handling packet: live packet field tcp_ack: expected 1001 vs actual 1\""));
        assert!(xml.contains("type=\"timeout\""));
        assert!(xml.contains("<flakyFailure"));
        assert!(xml.contains("<skipped message=\"expected failure (fail matching /errno 93/)"));
        assert!(xml.contains("time=\"1.250\""));
        assert!(
            xml.contains("<testsuites name=\"stackdrill\" tests=\"5\" failures=\"1\" errors=\"1\"")
        );
        assert!(xml.contains("<testsuite name=\"stackdrill\" tests=\"5\" skipped=\"1\""));
        // The setting every run shared, once, as the suite's properties.
        let suite = &parsed.test_suites[0];
        let properties: Vec<(&str, &str)> = suite
            .properties
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            properties,
            [
                ("stackdrill.command", "stackdrill '--html=a b.html' tests"),
                ("stackdrill.version", "0.1.0"),
                ("stackdrill.started", "2026-12-05 14:47:59 UTC"),
                ("kernel", "6.18"),
                ("net.ipv4.tcp_rmem", "4096 131072 6291456")
            ]
        );
        assert!(cases.iter().all(|case| case.properties.is_empty()));
    }

    #[test]
    fn compared_targets_are_in_the_case_names() {
        let parsed = Report::deserialize_from_str(&render(&compared_sample(), None)).unwrap();
        let names: Vec<&str> = parsed.test_suites[0].test_cases[..2]
            .iter()
            .map(|case| case.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["a.pkt on kernel", "a.pkt on libstackdrill_smoltcp.so"]
        );
    }
}
