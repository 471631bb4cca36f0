//! JSON: the whole suite result (how it was started, summary counts, then every run with its texts, with
//! `--compare` the comparison matrix, and with tagged scripts the requirement matrix) for
//! scripts and dashboards.

use serde::Serialize;

use super::matrix::CompareMatrix;
use super::requirements::RequirementMatrix;
use super::{Counts, Invocation, RunRecord, SuiteResult};

#[derive(Serialize)]
struct JsonReport<'a> {
    /// The command line, stackdrill's version, the kernel and the start time, as the HTML
    /// header shows them.
    #[serde(skip_serializing_if = "Option::is_none")]
    invocation: Option<&'a Invocation>,
    summary: Summary,
    /// With `--compare`: the targets and the matrix rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    compare: Option<CompareMatrix>,
    /// When scripts carry requirement tags: the requirement × target matrix.
    #[serde(skip_serializing_if = "Option::is_none")]
    requirements: Option<RequirementMatrix>,
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
    /// What every run recorded alike of its stack's setting (kernel release, TCP settings);
    /// each run has its own under `runs[].environment`.
    environment: std::collections::BTreeMap<String, String>,
}

/// The report as pretty-printed JSON, with `invocation` (how the suite was started) first.
pub fn render(suite: &SuiteResult, invocation: Option<&Invocation>) -> String {
    let report = JsonReport {
        invocation,
        summary: Summary {
            line: suite.summary_line(),
            counts: suite.counts(),
            wall_secs: suite.wall.as_secs_f64(),
            environment: suite.common_environment(),
            cpu_secs: suite.cpu().as_secs_f64(),
            jobs: suite.jobs,
            interrupted: suite.interrupted,
        },
        compare: CompareMatrix::of(suite),
        requirements: RequirementMatrix::of(suite),
        runs: &suite.runs,
    };
    serde_json::to_string_pretty(&report).expect("serializing plain data cannot fail") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{compared_sample, sample};

    #[test]
    fn summary_and_runs() {
        let value: serde_json::Value = serde_json::from_str(&render(&sample(), None)).unwrap();
        assert!(value.get("invocation").is_none());
        assert_eq!(value["summary"]["total"], 5);
        assert_eq!(value["summary"]["timed_out"], 1);
        assert_eq!(value["runs"][1]["status"], "failed");
        assert_eq!(value["runs"][1]["variant"], "ipv6");
        assert_eq!(value["runs"][1]["duration"], 1.25);
        assert_eq!(value["runs"][4]["status"], "expected_failure");
        assert_eq!(value["runs"][2]["attempts"], 2);
        assert!(value.get("compare").is_none());
        assert_eq!(value["runs"][0]["target"], serde_json::Value::Null);
        assert_eq!(value["summary"]["environment"]["kernel"], "6.18");
        assert_eq!(
            value["runs"][3]["environment"]["net.ipv4.tcp_rmem"],
            "4096 131072 6291456"
        );
    }

    #[test]
    fn invocation_as_in_the_html_header() {
        let invocation = crate::report::tests::sample_invocation();
        let value: serde_json::Value =
            serde_json::from_str(&render(&sample(), Some(&invocation))).unwrap();
        assert_eq!(
            value["invocation"],
            serde_json::json!({
                "command": "stackdrill '--html=a b.html' tests",
                "version": "0.1.0",
                "kernel": "6.18.0-test",
                "started": crate::report::utc_text(invocation.started),
            })
        );
    }

    #[test]
    fn comparison_matrix() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&compared_sample(), None)).unwrap();
        let compare = &value["compare"];
        assert_eq!(
            compare["targets"],
            serde_json::json!(["kernel", "libstackdrill_smoltcp.so"])
        );
        assert_eq!(
            (compare["agree"].as_u64(), compare["disagree"].as_u64()),
            (Some(2), Some(2))
        );
        let row = &compare["rows"][1];
        assert_eq!(row["script"], "tcp/fastopen.pkt");
        assert_eq!(row["agree"], false);
        assert_eq!(row["cells"][0]["verdict"], "pass");
        assert_eq!(row["cells"][1]["status"], "failed");
        assert_eq!(row["cells"][1]["target"], "libstackdrill_smoltcp.so");
        assert!(row["cells"][1]["difference"]
            .as_str()
            .unwrap()
            .starts_with("4: setsockopt: Expected result 0"));
        assert_eq!(value["runs"][3]["target"], "libstackdrill_smoltcp.so");
    }
}
