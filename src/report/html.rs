//! A self-contained HTML page (no scripts, no external files): the summary, with `--compare`
//! the comparison matrix (a row per script, a column per target), a table of every run's
//! verdict, and for each run that did not pass its failure text (the script line,
//! expected vs actual, the differing fields), its timeline (the --verbose transcript of every
//! packet and call as it happened), and the command that reproduces it.

use std::fmt::Write;

use super::matrix::{self, CompareMatrix};
use super::requirements::RequirementMatrix;
use super::{RunRecord, Status, SuiteResult};

/// Characters of a run's first difference shown in a matrix cell (all of it in the title).
const MATRIX_CELL_WIDTH: usize = 120;

const STYLE: &str = "body{font-family:sans-serif;margin:2em}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}\
pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre}\
.passed{background:#d9f2d9}.failed,.crashed{background:#f7d4d4}.timed_out{background:#f7e3c4}\
.expected_failure{background:#e6e6f7}.not_run{background:#eee}\
details{margin:0 0 1em 0}summary{cursor:pointer;font-weight:bold}\
.matrix small{display:block;max-width:30em;white-space:normal}";

/// The page as HTML text.
pub fn render(suite: &SuiteResult) -> String {
    let counts = suite.counts();
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    page.push_str("<title>stackdrill report</title><style>");
    page.push_str(STYLE);
    page.push_str("</style></head><body>\n<h1>stackdrill report</h1>\n");
    let _ = writeln!(page, "<p>{}</p>", escape(&suite.summary_line()));
    let _ = writeln!(
        page,
        "<table><tr><th>runs</th><th>passed</th><th>failed</th><th>timed out</th>\
         <th>crashed</th><th>expected failures</th><th>not run</th><th>jobs</th>\
         <th>wall</th><th>CPU</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{:.1} s</td></tr>\
         </table>",
        counts.total,
        counts.passed,
        counts.failed,
        counts.timed_out,
        counts.crashed,
        counts.expected_failures,
        counts.not_run,
        suite.jobs,
        suite.wall.as_secs_f64(),
        suite.cpu().as_secs_f64()
    );

    if let Some(matrix) = RequirementMatrix::of(suite) {
        render_requirements(&matrix, &mut page);
    }
    if let Some(matrix) = CompareMatrix::of(suite) {
        render_matrix(&matrix, suite, &mut page);
    }
    let environment = suite.common_environment();
    if !environment.is_empty() {
        page.push_str("<h2>Environment</h2>\n<table>");
        for (name, value) in &environment {
            let _ = write!(
                page,
                "<tr><th>{}</th><td>{}</td></tr>",
                escape(name),
                escape(value)
            );
        }
        page.push_str("</table>\n");
    }

    let comparing = !suite.targets.is_empty();
    page.push_str("<h2>Runs</h2>\n<table><tr><th>script</th><th>variant</th>");
    if comparing {
        page.push_str("<th>target</th>");
    }
    page.push_str("<th>verdict</th><th>time</th><th>message</th></tr>\n");
    for (index, run) in suite.runs.iter().enumerate() {
        let script = if has_details(run) {
            format!("<a href=\"#run{index}\">{}</a>", escape(&run.script))
        } else {
            escape(&run.script)
        };
        let target = if comparing {
            format!("<td>{}</td>", escape(run.target.as_deref().unwrap_or("")))
        } else {
            String::new()
        };
        let _ = writeln!(
            page,
            "<tr class=\"{}\"><td>{script}</td><td>{}</td>{target}<td>{}</td><td>{:.2} s</td><td>{}</td></tr>",
            status_class(run.status),
            escape(run.variant.as_deref().unwrap_or("")),
            verdict_text(run),
            run.duration.as_secs_f64(),
            escape(&run.message)
        );
    }
    page.push_str("</table>\n");

    let details: Vec<(usize, &RunRecord)> = suite
        .runs
        .iter()
        .enumerate()
        .filter(|(_, run)| has_details(run))
        .collect();
    if !details.is_empty() {
        page.push_str("<h2>Failures and retries</h2>\n");
    }
    for (index, run) in details {
        let _ = writeln!(
            page,
            "<h3 id=\"run{index}\" class=\"{}\">{} — {}</h3>",
            status_class(run.status),
            escape(&run.label()),
            verdict_text(run)
        );
        let _ = writeln!(page, "<p>expected: {}</p>", escape(&run.expected));
        if !run.errors.trim().is_empty() {
            page.push_str("<p>expected vs actual:</p>\n");
            let _ = writeln!(page, "<pre>{}</pre>", escape(run.errors.trim_end()));
        }
        for (attempt, message) in run.earlier_failures.iter().enumerate() {
            let _ = writeln!(
                page,
                "<p>attempt {} (in parallel): {}</p>",
                attempt + 1,
                escape(message)
            );
        }
        if !run.transcript.trim().is_empty() {
            let _ = writeln!(
                page,
                "<details><summary>timeline</summary><pre>{}</pre></details>",
                escape(run.transcript.trim_end())
            );
        }
        let _ = writeln!(page, "<p>reproduce:</p><pre>{}</pre>", escape(&run.command));
        if let Some(pcap) = &run.pcap {
            let _ = writeln!(
                page,
                "<p>capture: <a href=\"{0}\">{0}</a></p>",
                escape(pcap)
            );
        }
    }
    page.push_str("</body></html>\n");
    page
}

/// The comparison: a row per script × variant, a column per target, each cell colored by its
/// verdict, with the first difference in it and the run's whole message as its title; cells of
/// runs with details link to them.
fn render_matrix(matrix: &CompareMatrix, suite: &SuiteResult, page: &mut String) {
    page.push_str("<h2>Comparison</h2>\n");
    let _ = writeln!(page, "<p>{}</p>", escape(&matrix.agreement_line()));
    page.push_str("<table class=\"matrix\"><tr><th>script</th>");
    for target in &matrix.targets {
        let _ = write!(page, "<th>{}</th>", escape(target));
    }
    page.push_str("</tr>\n");
    for row in &matrix.rows {
        let _ = write!(page, "<tr><td>{}</td>", escape(&row.label()));
        for cell in &row.cells {
            let has_details = cell
                .run_index
                .and_then(|index| suite.runs.get(index))
                .is_some_and(has_details);
            let verdict = match cell.run_index {
                Some(index) if has_details => {
                    format!("<a href=\"#run{index}\">{}</a>", cell.verdict)
                }
                _ => cell.verdict.to_string(),
            };
            let difference = cell.difference.as_deref().map_or_else(String::new, |text| {
                format!(
                    "<small>{}</small>",
                    escape(&matrix::shortened(text, MATRIX_CELL_WIDTH))
                )
            });
            let title = if cell.message.is_empty() {
                String::new()
            } else {
                format!(" title=\"{}\"", escape(&cell.message))
            };
            let _ = write!(
                page,
                "<td class=\"{}\"{title}>{verdict}{difference}</td>",
                status_class(cell.status),
            );
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
}

/// Whether the page has a details section for the run (a failure, or a pass after retries).
fn has_details(run: &RunRecord) -> bool {
    run.status != Status::Passed || run.attempts > 1
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::ExpectedFailure => "expected_failure",
        Status::TimedOut => "timed_out",
        Status::Crashed => "crashed",
        Status::NotRun => "not_run",
    }
}

fn verdict_text(run: &RunRecord) -> String {
    let base = match run.status {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::ExpectedFailure => "failed as expected",
        Status::TimedOut => "timed out",
        Status::Crashed => "crashed",
        Status::NotRun => "not run",
    };
    if run.attempts > 1 {
        format!("{base} (attempt {})", run.attempts)
    } else {
        base.to_string()
    }
}

/// Text made safe inside HTML elements and quoted attributes.
/// The requirement × target matrix: a row per requirement, its verdict on each target, and
/// the first failing run's error where it failed; then what no script covers.
fn render_requirements(matrix: &RequirementMatrix, page: &mut String) {
    page.push_str("<h2>Requirements</h2>\n<table><tr><th>requirement</th><th>scripts</th>");
    for target in &matrix.targets {
        let _ = write!(page, "<th>{}</th>", escape(target));
    }
    page.push_str("</tr>\n");
    for row in &matrix.rows {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td>",
            escape(&row.requirement),
            escape(&row.scripts.join(", "))
        );
        for cell in &row.cells {
            let class = if cell.verdict == "pass" {
                "passed"
            } else {
                "failed"
            };
            let why = cell
                .evidence
                .as_deref()
                .map(|why| format!("<br><small>{}</small>", escape(why)))
                .unwrap_or_default();
            let _ = write!(page, "<td class=\"{class}\">{}{why}</td>", cell.verdict);
        }
        page.push_str("</tr>\n");
    }
    let _ = writeln!(
        page,
        "</table>\n<p>Not covered (RFC 9293): {}</p>\n<p>Not testable (internal): {}</p>",
        escape(&matrix.not_covered.join(", ")),
        escape(&matrix.not_testable.join(", "))
    );
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{compared_sample, sample};

    #[test]
    fn page_has_summary_table_and_failure_details() {
        let page = render(&sample());
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<p>Ran 5 tests: 2 passing, 1 failing, 1 timed out"));
        assert!(page.contains("<tr class=\"failed\"><td><a href=\"#run1\">tcp/a.pkt</a></td><td>ipv6</td><td>failed</td>"));
        // The failure text is escaped, the timeline and the reproduce line are there.
        assert!(page.contains("+0.200 &gt; . 1:1(0) ack 1001 &lt;&amp;&gt;"));
        assert!(page.contains("<summary>timeline</summary>"));
        assert!(page.contains("cd /s &amp;&amp; stackdrill tcp/a.pkt"));
        assert!(page.contains("passed (attempt 2)"));
        assert!(!page.contains("<script"));
        assert!(!page.contains("<h2>Comparison</h2>"));
        assert!(page.contains(
            "<h2>Environment</h2>\n<table><tr><th>kernel</th><td>6.18</td></tr>\
             <tr><th>net.ipv4.tcp_rmem</th><td>4096 131072 6291456</td></tr></table>"
        ));
    }

    #[test]
    fn comparison_matrix_comes_first() {
        let page = render(&compared_sample());
        let matrix = page.find("<h2>Comparison</h2>").unwrap();
        assert!(matrix < page.find("<h2>Runs</h2>").unwrap());
        assert!(page.contains("<p>The 2 targets agree on 2 of 4 scripts and disagree on 2</p>"));
        assert!(page.contains("<tr><td>tcp/fastopen.pkt</td><td class=\"passed\">pass</td><td class=\"failed\" title=\"fastopen.pkt:4: runtime error in setsockopt call: Expected result 0 but got -1 with errno 92 (Protocol not available)\"><a href=\"#run3\">FAIL</a><small>4: setsockopt: Expected result 0 but got -1 with errno 92 (Protocol not available)</small></td></tr>"));
        assert!(page.contains("<th>target</th>"));
        assert!(page.contains("<h3 id=\"run3\" class=\"failed\">tcp/fastopen.pkt on libstackdrill_smoltcp.so — failed</h3>"));
    }
}
