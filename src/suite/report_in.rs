//! A suite's JSON report (`--json`) read back into a [`SuiteResult`]: for `--shard_durations`
//! (each run's duration last time) and for `stackdrill report` (shards merged, earlier runs
//! drawn as history). The report's writer is `crate::report::json`; this reader accepts what
//! it writes and names the file and the entry when something else is found.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::report::{RunRecord, Status, SuiteResult};
use crate::verdict::Failure;

/// One run as the JSON report writes it.
#[derive(Deserialize)]
struct RunIn {
    script: String,
    variant: Option<String>,
    target: Option<String>,
    #[serde(default)]
    requirements: Vec<String>,
    status: String,
    #[serde(default)]
    expected: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: String,
    #[serde(default)]
    transcript: String,
    duration: f64,
    #[serde(default)]
    cpu: f64,
    #[serde(default = "one")]
    attempts: u32,
    #[serde(default)]
    earlier_failures: Vec<String>,
    #[serde(default)]
    command: String,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    injection_delay_max_us: Option<i64>,
    #[serde(default)]
    pcap: Option<String>,
    #[serde(default)]
    ladder: Option<String>,
    #[serde(default)]
    failure: Option<Failure>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct SummaryIn {
    #[serde(default)]
    wall_secs: f64,
    #[serde(default)]
    jobs: usize,
    #[serde(default)]
    interrupted: bool,
}

#[derive(Deserialize)]
struct CompareIn {
    #[serde(default)]
    targets: Vec<String>,
}

#[derive(Deserialize)]
struct ReportIn {
    summary: SummaryIn,
    #[serde(default)]
    compare: Option<CompareIn>,
    runs: Vec<RunIn>,
}

/// The status a report writes (`passed`, `expected_failure`...).
pub fn status_from_name(name: &str) -> Option<Status> {
    Some(match name {
        "passed" => Status::Passed,
        "failed" => Status::Failed,
        "expected_failure" => Status::ExpectedFailure,
        "timed_out" => Status::TimedOut,
        "crashed" => Status::Crashed,
        "not_run" => Status::NotRun,
        _ => return None,
    })
}

fn seconds(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or_default()
}

/// Reads the JSON report at `path`; errors name the file (and the run, for a bad status).
pub fn read(path: &Path) -> Result<SuiteResult, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read report: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a JSON report's text.
pub fn parse(text: &str) -> Result<SuiteResult, String> {
    let report: ReportIn = serde_json::from_str(text).map_err(|e| {
        format!(
            "not a stackdrill --json report (line {}, column {}: {e})",
            e.line(),
            e.column()
        )
    })?;
    let mut runs = Vec::with_capacity(report.runs.len());
    for (i, run) in report.runs.into_iter().enumerate() {
        let status = status_from_name(&run.status).ok_or_else(|| {
            format!(
                "runs[{i}] ({}): unknown status '{}'",
                run.script, run.status
            )
        })?;
        runs.push(RunRecord {
            script: run.script,
            variant: run.variant,
            target: run.target,
            requirements: run.requirements,
            status,
            expected: run.expected,
            message: run.message,
            errors: run.errors,
            transcript: run.transcript,
            duration: seconds(run.duration),
            cpu: seconds(run.cpu),
            attempts: run.attempts,
            earlier_failures: run.earlier_failures,
            command: run.command,
            environment: run.environment,
            injection_delay_max_us: run.injection_delay_max_us,
            pcap: run.pcap,
            ladder: run.ladder,
            failure: run.failure,
        });
    }
    Ok(SuiteResult {
        runs,
        wall: seconds(report.summary.wall_secs),
        jobs: report.summary.jobs,
        interrupted: report.summary.interrupted,
        targets: report.compare.map(|c| c.targets).unwrap_or_default(),
    })
}

/// What identifies a run across reports: script, variant, target.
pub type RunKey = (String, Option<String>, Option<String>);

/// A run's key.
pub fn key_of(run: &RunRecord) -> RunKey {
    (run.script.clone(), run.variant.clone(), run.target.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn a_report_reads_back_as_written() {
        let suite = sample();
        let back = parse(&crate::report::json::render(&suite, None)).unwrap();
        assert_eq!(back.runs.len(), suite.runs.len());
        for (a, b) in suite.runs.iter().zip(&back.runs) {
            assert_eq!(key_of(a), key_of(b));
            assert_eq!(a.status, b.status);
            assert_eq!(a.duration, b.duration);
            assert_eq!(a.message, b.message);
            assert_eq!(a.failure, b.failure);
        }
        assert_eq!(back.jobs, suite.jobs);
    }

    #[test]
    fn bad_reports_are_named() {
        let e = parse("{}").unwrap_err();
        assert!(e.starts_with("not a stackdrill --json report"), "{e}");
        let e = parse(
            r#"{"summary":{},"runs":[{"script":"a.pkt","variant":null,"target":null,"status":"great","duration":1}]}"#,
        )
        .unwrap_err();
        assert_eq!(e, "runs[0] (a.pkt): unknown status 'great'");
    }
}
