//! JSON: the whole suite result (summary counts, then every run with its texts) for scripts
//! and dashboards.

use serde::Serialize;

use super::{Counts, RunRecord, SuiteResult};

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: Summary,
    runs: &'a [RunRecord],
}

#[derive(Serialize)]
struct Summary {
    line: String,
    #[serde(flatten)]
    counts: Counts,
    wall_secs: f64,
    cpu_secs: f64,
    jobs: usize,
    interrupted: bool,
}

/// The report as pretty-printed JSON.
pub fn render(suite: &SuiteResult) -> String {
    let report = JsonReport {
        summary: Summary {
            line: suite.summary_line(),
            counts: suite.counts(),
            wall_secs: suite.wall.as_secs_f64(),
            cpu_secs: suite.cpu().as_secs_f64(),
            jobs: suite.jobs,
            interrupted: suite.interrupted,
        },
        runs: &suite.runs,
    };
    serde_json::to_string_pretty(&report).expect("serializing plain data cannot fail") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn summary_and_runs() {
        let value: serde_json::Value = serde_json::from_str(&render(&sample())).unwrap();
        assert_eq!(value["summary"]["total"], 5);
        assert_eq!(value["summary"]["timed_out"], 1);
        assert_eq!(value["runs"][1]["status"], "failed");
        assert_eq!(value["runs"][1]["variant"], "ipv6");
        assert_eq!(value["runs"][1]["duration"], 1.25);
        assert_eq!(value["runs"][4]["status"], "expected_failure");
        assert_eq!(value["runs"][2]["attempts"], 2);
    }
}
