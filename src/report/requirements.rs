//! The requirement × target matrix of a suite of tagged conformance scripts
//! (`--requirements`): one row per requirement the scripts' tags name, one column per target
//! (the `--compare` targets, or the one target the flags chose), each cell `pass` when every
//! run of every script tagged with it passed on that target, else `FAIL` with the first failing
//! run (script, variant, its first error); then the RFC 9293 requirements no script covers,
//! and those no script can (internal to a stack). Built from the suite result; printed after
//! the summary line and written into the JSON report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::catalog::requirements::{Observable, Requirement};

use super::{RunRecord, Status, SuiteResult};

/// The column name when the suite compares no targets.
const THE_TARGET: &str = "result";

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementMatrix {
    /// The columns.
    pub targets: Vec<String>,
    pub rows: Vec<RequirementRow>,
    /// RFC 9293 requirements a script could check (on the wire or through the socket API)
    /// that no script's tags name.
    pub not_covered: Vec<String>,
    /// RFC 9293 requirements internal to a stack, which no script can check.
    pub not_testable: Vec<String>,
}

/// One requirement.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementRow {
    pub requirement: String,
    /// The scripts tagged with it.
    pub scripts: Vec<String>,
    /// One per target, in column order.
    pub cells: Vec<RequirementCell>,
}

/// One requirement on one target.
#[derive(Debug, Clone, Serialize)]
pub struct RequirementCell {
    pub target: String,
    /// `pass`, `FAIL`, `xfail` (a failure the script expects on this stack) or `not run`.
    pub verdict: &'static str,
    /// The first run that did not pass: `SCRIPT (VARIANT): MESSAGE`.
    pub evidence: Option<String>,
}

impl RequirementMatrix {
    /// The matrix of `suite`, or None when no run's script carries a requirement tag.
    pub fn of(suite: &SuiteResult) -> Option<Self> {
        if suite.runs.iter().all(|run| run.requirements.is_empty()) {
            return None;
        }
        let targets = if suite.targets.is_empty() {
            vec![THE_TARGET.to_string()]
        } else {
            suite.targets.clone()
        };
        let mut by_requirement: BTreeMap<Requirement, Vec<&RunRecord>> = BTreeMap::new();
        for run in &suite.runs {
            for tag in &run.requirements {
                if let Ok(requirement) = Requirement::parse(tag) {
                    by_requirement.entry(requirement).or_default().push(run);
                }
            }
        }
        let rows = by_requirement
            .iter()
            .map(|(requirement, runs)| RequirementRow::of(requirement, runs, &targets))
            .collect();
        let all = Requirement::all_rfc9293();
        let missing = |wanted: &dyn Fn(Observable) -> bool| -> Vec<String> {
            all.iter()
                .filter(|r| r.observable().is_some_and(wanted))
                .filter(|r| !by_requirement.contains_key(r))
                .map(ToString::to_string)
                .collect()
        };
        Some(RequirementMatrix {
            targets,
            rows,
            not_covered: missing(&|o| o != Observable::Internal),
            not_testable: missing(&|o| o == Observable::Internal),
        })
    }

    /// The plain-text table: a row per requirement, a column per target, then what is not
    /// covered.
    pub fn render_text(&self) -> String {
        let width = self
            .rows
            .iter()
            .map(|row| row.requirement.len())
            .max()
            .unwrap_or(0)
            .max("requirement".len());
        let mut text = format!("{:<width$}", "requirement");
        for target in &self.targets {
            text.push_str(&format!("  {target:<8}"));
        }
        text.push('\n');
        let mut evidence = Vec::new();
        for row in &self.rows {
            text.push_str(&format!("{:<width$}", row.requirement));
            for cell in &row.cells {
                text.push_str(&format!(
                    "  {:<width$}",
                    cell.verdict,
                    width = cell.target.len().max(8)
                ));
                if let Some(why) = &cell.evidence {
                    evidence.push(format!("{} on {}: {why}", row.requirement, cell.target));
                }
            }
            text.push('\n');
        }
        for line in evidence {
            text.push_str(&format!("  {line}\n"));
        }
        let covered = self.rows.len();
        text.push_str(&format!(
            "{covered} requirements covered; RFC 9293 not covered: {}; not testable (internal): {}\n",
            list_or_none(&self.not_covered),
            list_or_none(&self.not_testable)
        ));
        text
    }
}

impl RequirementRow {
    fn of(requirement: &Requirement, runs: &[&RunRecord], targets: &[String]) -> Self {
        let mut scripts: Vec<String> = runs.iter().map(|run| run.script.clone()).collect();
        scripts.dedup();
        let cells = targets
            .iter()
            .map(|target| {
                let on_target: Vec<&&RunRecord> = runs
                    .iter()
                    .filter(|run| run.target.as_deref().unwrap_or(THE_TARGET) == target)
                    .collect();
                // A failure first; else a failure the script expected on this stack (its
                // `// cannot-pass:` reason is the message): the requirement is not met either.
                let failing = on_target
                    .iter()
                    .find(|run| !run.status.is_ok())
                    .or_else(|| {
                        on_target
                            .iter()
                            .find(|run| run.status == Status::ExpectedFailure)
                    });
                let (verdict, evidence) = match failing {
                    _ if on_target.is_empty() => ("not run", None),
                    Some(run) => {
                        let variant = run
                            .variant
                            .as_ref()
                            .map(|v| format!(" ({v})"))
                            .unwrap_or_default();
                        let word = match run.status {
                            Status::ExpectedFailure => "xfail",
                            _ => "FAIL",
                        };
                        (
                            word,
                            Some(format!("{}{variant}: {}", run.script, run.message)),
                        )
                    }
                    None => ("pass", None),
                };
                RequirementCell {
                    target: target.clone(),
                    verdict,
                    evidence,
                }
            })
            .collect();
        RequirementRow {
            requirement: requirement.to_string(),
            scripts,
            cells,
        }
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        format!("{} ({})", items.len(), items.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample_run;
    use super::*;

    #[test]
    fn a_requirement_fails_on_a_target_where_one_of_its_runs_failed() {
        let mut passed = sample_run("rst.pkt", Some("ipv4"), Status::Passed, "");
        passed.requirements = vec!["RFC9293 MUST-13".into(), "RFC5961 3.2".into()];
        let mut failed = sample_run("rst.pkt", Some("ipv6"), Status::Failed, "7: bad ack");
        failed.requirements = passed.requirements.clone();
        let untagged = sample_run("plain.pkt", None, Status::Failed, "1: whatever");
        let suite = SuiteResult {
            runs: vec![passed, failed, untagged],
            wall: std::time::Duration::ZERO,
            jobs: 1,
            interrupted: false,
            targets: Vec::new(),
        };
        let matrix = RequirementMatrix::of(&suite).unwrap();
        let rows: Vec<(&str, &str)> = matrix
            .rows
            .iter()
            .map(|row| (row.requirement.as_str(), row.cells[0].verdict))
            .collect();
        assert_eq!(rows, [("RFC9293 MUST-13", "FAIL"), ("RFC5961 3.2", "FAIL")]);
        assert_eq!(
            matrix.rows[0].cells[0].evidence.as_deref(),
            Some("rst.pkt (ipv6): 7: bad ack")
        );
        assert!(!matrix.not_covered.contains(&"RFC9293 MUST-13".to_string()));
        assert_eq!(matrix.not_covered.len(), 93 + 20 - 1);
        assert_eq!(matrix.not_testable.len(), 6);
        let text = matrix.render_text();
        assert!(text.contains("RFC9293 MUST-13  FAIL"), "{text}");
        let page = super::super::html::render(&suite);
        assert!(page.contains("<h2>Requirements</h2>"), "{page}");
        assert!(
            page.contains("<td class=\"failed\">FAIL<br><small>rst.pkt (ipv6): 7: bad ack"),
            "{page}"
        );
        assert!(
            text.contains("2 requirements covered; RFC 9293 not covered: 112 ("),
            "{text}"
        );
        // No tags, no matrix.
        let plain = SuiteResult {
            runs: vec![sample_run("plain.pkt", None, Status::Passed, "")],
            ..suite
        };
        assert!(RequirementMatrix::of(&plain).is_none());
    }
}
