//! The HTML report: a page and its stylesheet, written side by side (`--html=DIR/REPORT.html`
//! writes `DIR/REPORT.css` too). The page has no script, no `<style>` element and no `style=`
//! attribute, and every link is relative to its folder, so it shows as meant where a Content
//! Security Policy forbids inline styles (Jenkins serves archived files with `sandbox;
//! default-src 'none'; img-src 'self'; style-src 'self';`) and still works once the folder is
//! archived or moved.
//!
//! In order: a header (the command line, stackdrill's version, the kernel's release, when the
//! suite started and how long it took, the environment its runs share) and the summary; the
//! requirement matrix when scripts are tagged; the comparison matrix with `--compare`; the
//! failures, one group per distinct first error with the scripts × variants that share it; a
//! table of every run with its capture; and for each run that did not pass its failure text,
//! its timeline (the --verbose transcript), the command that reproduces it, its capture and its
//! ladder diagram (an `<img>` of the SVG beside the capture, see [`super::ladder`]).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Component, Path, PathBuf};

use super::matrix::{self, CompareMatrix};
use super::requirements::RequirementMatrix;
use super::{Invocation, RunRecord, Status, SuiteResult};

/// Characters of a run's first difference shown in a matrix cell (all of it in the title).
const MATRIX_CELL_WIDTH: usize = 120;

/// The stylesheet, written beside the page ([`stylesheet_path`]).
pub const STYLESHEET: &str = "\
body{font-family:sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:0 0 1em 0}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
header table th{background:#f0f0f0}
pre{background:#f6f6f6;padding:8px;overflow-x:auto;white-space:pre}
.passed{background:#d9f2d9}
.failed,.crashed{background:#f7d4d4}
.timed_out{background:#f7e3c4}
.expected_failure{background:#e6e6f7}
.not_run{background:#eee}
details{margin:0 0 1em 0}
summary{cursor:pointer;font-weight:bold}
.matrix small{display:block;max-width:30em;white-space:normal}
.group{border-left:4px solid #c33;padding:0 0 0 1em;margin:0 0 1.5em 0}
.group h3{margin:0.2em 0;padding:2px 6px}
.group ul{margin:0.3em 0}
.run h3{padding:2px 6px}
.ladder{overflow:auto;max-height:60em;border:1px solid #ccc;margin:0 0 1em 0}
.ladder img{display:block;max-width:none}
";

/// What the page needs beyond the suite's result.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// How the suite was started, for the header (none: no header lines).
    pub invocation: Option<Invocation>,
    /// The folder the page is written to: links to captures are relative to it (none: links
    /// are the captures' paths as recorded).
    pub directory: Option<PathBuf>,
    /// The stylesheet's link, relative to the page.
    pub stylesheet: String,
    /// `--compare_only_disagreements`: the comparison shows only the rows where the targets
    /// disagree.
    pub compare_only_disagreements: bool,
}

/// Where the page at `page` keeps its stylesheet: beside it, named after it (`r.html`: `r.css`).
pub fn stylesheet_path(page: &Path) -> PathBuf {
    let css = page.with_extension("css");
    if css == page {
        let mut name = page.as_os_str().to_owned();
        name.push(".css");
        PathBuf::from(name)
    } else {
        css
    }
}

/// Writes the page to `path` and its stylesheet beside it.
pub fn write(
    path: &Path,
    suite: &SuiteResult,
    invocation: Option<Invocation>,
    compare_only_disagreements: bool,
) -> std::io::Result<()> {
    let css = stylesheet_path(path);
    let directory = std::path::absolute(path)?
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
    let options = PageOptions {
        invocation,
        directory: Some(directory),
        stylesheet: css
            .file_name()
            .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
        compare_only_disagreements,
    };
    std::fs::write(&css, STYLESHEET)?;
    std::fs::write(path, render_page(suite, &options))
}

/// The page as HTML text, its stylesheet `stackdrill.css` and its links as recorded.
pub fn render(suite: &SuiteResult) -> String {
    render_page(
        suite,
        &PageOptions {
            stylesheet: "stackdrill.css".to_string(),
            ..PageOptions::default()
        },
    )
}

/// The page as HTML text.
pub fn render_page(suite: &SuiteResult, options: &PageOptions) -> String {
    let mut page = String::new();
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = writeln!(
        page,
        "<title>stackdrill report</title><link rel=\"stylesheet\" href=\"{}\"></head><body>",
        escape(&url_path(&options.stylesheet))
    );
    render_header(suite, options.invocation.as_ref(), &mut page);

    if let Some(matrix) = RequirementMatrix::of(suite) {
        render_requirements(&matrix, &mut page);
    }
    if let Some(mut matrix) = CompareMatrix::of(suite) {
        if options.compare_only_disagreements {
            matrix = matrix.only_disagreements();
        }
        render_matrix(&matrix, suite, &mut page);
    }
    render_failure_groups(suite, &mut page);
    render_runs(suite, options, &mut page);
    render_details(suite, options, &mut page);
    page.push_str("</body></html>\n");
    page
}

/// The title, how the suite ran, the environment its runs share, and the summary.
fn render_header(suite: &SuiteResult, invocation: Option<&Invocation>, page: &mut String) {
    page.push_str("<header>\n<h1>stackdrill report</h1>\n");
    if let Some(invocation) = invocation {
        page.push_str("<table class=\"about\">");
        for (name, value) in [
            ("command", invocation.command.clone()),
            ("stackdrill", invocation.version.clone()),
            ("kernel", invocation.kernel.clone()),
            ("started", super::utc_text(invocation.started)),
            ("duration", format!("{:.1} s", suite.wall.as_secs_f64())),
        ] {
            let _ = write!(
                page,
                "<tr><th>{name}</th><td>{}</td></tr>",
                if name == "command" {
                    format!("<code>{}</code>", escape(&value))
                } else {
                    escape(&value)
                }
            );
        }
        page.push_str("</table>\n");
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
    let counts = suite.counts();
    let _ = writeln!(page, "<p>{}</p>", escape(&suite.summary_line()));
    let _ = writeln!(
        page,
        "<table><tr><th>runs</th><th>passed</th><th>failed</th><th>timed out</th>\
         <th>crashed</th><th>expected failures</th><th>not run</th><th>jobs</th>\
         <th>wall</th><th>CPU</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{:.1} s</td></tr>\
         </table>\n</header>",
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
}

/// The runs that did not pass (nor fail as expected), one group per distinct first error
/// (the failure's message without its script and line, a timing error without its times, or
/// why the run has none: a timeout, a crash), most runs first; in a group one line per script (and line), its variants (and
/// targets) linked to their details.
fn render_failure_groups(suite: &SuiteResult, page: &mut String) {
    // first error → (status of its first run, (script, line) → [(label, run index)])
    type Members = BTreeMap<(String, Option<usize>), Vec<(String, usize)>>;
    let mut groups: BTreeMap<String, (Status, Members)> = BTreeMap::new();
    for (index, run) in suite.runs.iter().enumerate() {
        if run.status.is_ok() {
            continue;
        }
        let (message, line) = match (&run.failure, run.status) {
            (Some(failure), Status::Failed) => (
                matrix::timing_kind(failure).unwrap_or_else(|| {
                    let message = failure.message();
                    message.lines().next().unwrap_or_default().to_string()
                }),
                failure.line,
            ),
            _ => (
                run.message.lines().next().unwrap_or_default().to_string(),
                None,
            ),
        };
        let (_, members) = groups
            .entry(message)
            .or_insert_with(|| (run.status, Members::new()));
        members
            .entry((run.script.clone(), line))
            .or_default()
            .push((variant_and_target(run), index));
    }
    if groups.is_empty() {
        return;
    }
    let mut groups: Vec<(String, (Status, Members))> = groups.into_iter().collect();
    let size = |members: &Members| members.values().map(Vec::len).sum::<usize>();
    groups.sort_by_key(|(_, (_, members))| std::cmp::Reverse(size(members)));
    let _ = writeln!(
        page,
        "<h2>Failures</h2>\n<p>{} distinct first error{}</p>",
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    );
    for (message, (status, members)) in &groups {
        let runs = size(members);
        let _ = write!(
            page,
            "<section class=\"group\"><h3 class=\"{}\">{}</h3><p>{runs} run{}:</p><ul>",
            status_class(*status),
            escape(if message.is_empty() {
                "(no message)"
            } else {
                message
            }),
            if runs == 1 { "" } else { "s" }
        );
        for ((script, line), variants) in members {
            let at = line.map_or_else(String::new, |line| format!(":{line}"));
            let links: Vec<String> = variants
                .iter()
                .map(|(label, index)| {
                    format!(
                        "<a href=\"#run{index}\">{}</a>",
                        escape(if label.is_empty() { "details" } else { label })
                    )
                })
                .collect();
            let _ = write!(
                page,
                "<li>{}{at}: {}</li>",
                escape(script),
                links.join(", ")
            );
        }
        page.push_str("</ul></section>\n");
    }
}

/// `ipv4`, `ipv4 on kernel`, `on kernel` or nothing.
fn variant_and_target(run: &RunRecord) -> String {
    let variant = run.variant.clone().unwrap_or_default();
    match &run.target {
        Some(target) if variant.is_empty() => format!("on {target}"),
        Some(target) => format!("{variant} on {target}"),
        None => variant,
    }
}

/// A row per run: its verdict, time, message, and capture.
fn render_runs(suite: &SuiteResult, options: &PageOptions, page: &mut String) {
    let comparing = !suite.targets.is_empty();
    page.push_str("<h2>Runs</h2>\n<table><tr><th>script</th><th>variant</th>");
    if comparing {
        page.push_str("<th>target</th>");
    }
    page.push_str("<th>verdict</th><th>time</th><th>message</th><th>capture</th></tr>\n");
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
        let links: Vec<String> = [
            (run.pcap.as_deref(), "pcap"),
            (run.ladder.as_deref(), "ladder"),
        ]
        .into_iter()
        .filter_map(|(path, name)| {
            let href = relative_href(path?, options.directory.as_deref());
            Some(format!("<a href=\"{}\">{name}</a>", escape(&href)))
        })
        .collect();
        let pcap = links.join(" ");
        let _ = writeln!(
            page,
            "<tr class=\"{}\"><td>{script}</td><td>{}</td>{target}<td>{}</td><td>{:.2} s</td><td>{}</td><td>{pcap}</td></tr>",
            status_class(run.status),
            escape(run.variant.as_deref().unwrap_or("")),
            verdict_text(run),
            run.duration.as_secs_f64(),
            escape(&run.message)
        );
    }
    page.push_str("</table>\n");
}

/// For each run that did not pass, or passed after retries: what it expected, its failure text,
/// its earlier attempts, its timeline, how to reproduce it and its capture.
fn render_details(suite: &SuiteResult, options: &PageOptions, page: &mut String) {
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
            "<section class=\"run\"><h3 id=\"run{index}\" class=\"{}\">{} — {}</h3>",
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
            let href = relative_href(pcap, options.directory.as_deref());
            let _ = writeln!(
                page,
                "<p>capture: <a href=\"{}\">{}</a></p>",
                escape(&href),
                escape(&percent_decoded_for_display(&href))
            );
        }
        if let Some(ladder) = &run.ladder {
            let href = escape(&relative_href(ladder, options.directory.as_deref()));
            let _ = writeln!(
                page,
                "<p>ladder diagram: <a href=\"{href}\">{}</a></p>\n<div class=\"ladder\">\
                 <img src=\"{href}\" alt=\"ladder diagram of {}\"></div>",
                escape(&percent_decoded_for_display(&relative_href(
                    ladder,
                    options.directory.as_deref()
                ))),
                escape(&run.label())
            );
        }
        page.push_str("</section>\n");
    }
}

/// A link from a page in `directory` to the file at `path`: relative when both are absolute,
/// each part percent-encoded as a URL path needs.
fn relative_href(path: &str, directory: Option<&Path>) -> String {
    let target = Path::new(path);
    let relative = match directory {
        Some(directory) if target.is_absolute() && directory.is_absolute() => {
            relative_path(target, directory)
        }
        _ => target.to_path_buf(),
    };
    url_path(&relative.to_string_lossy())
}

/// `target` as seen from `directory` (both absolute): `..` for each of the directory's parts
/// the two do not share, then the rest of the target.
fn relative_path(target: &Path, directory: &Path) -> PathBuf {
    let (target_parts, directory_parts) = (parts(target), parts(directory));
    let shared = target_parts
        .iter()
        .zip(&directory_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in shared..directory_parts.len() {
        relative.push("..");
    }
    for part in &target_parts[shared..] {
        relative.push(part.as_os_str());
    }
    relative
}

/// The path's parts without `.`.
fn parts(path: &Path) -> Vec<Component<'_>> {
    path.components()
        .filter(|part| !matches!(part, Component::CurDir))
        .collect()
}

/// A path as a URL path: bytes other than unreserved characters and `/` percent-encoded.
fn url_path(path: &str) -> String {
    let mut url = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            url.push(char::from(byte));
        } else {
            let _ = write!(url, "%{byte:02X}");
        }
    }
    url
}

/// The link as a person reads it (the path before [`url_path`]).
fn percent_decoded_for_display(href: &str) -> String {
    let bytes = href.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The comparison: a row per script × variant, a column per target, each cell colored by its
/// verdict, with the first difference in it and the run's whole message as its title; cells of
/// runs with details link to them.
fn render_matrix(matrix: &CompareMatrix, suite: &SuiteResult, page: &mut String) {
    page.push_str("<h2>Comparison</h2>\n");
    let _ = writeln!(page, "<p>{}</p>", escape(&matrix.agreement_line()));
    if matrix.rows.is_empty() {
        return;
    }
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

/// Text made safe inside HTML elements and quoted attributes.
pub(crate) fn escape(text: &str) -> String {
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
pub(crate) mod tests {
    use super::*;
    use crate::report::tests::{compared_sample, sample};

    /// Every opening tag of the page: none may carry a style or be a script or a style.
    pub(crate) fn assert_no_inline_style_or_script(page: &str) {
        for tag in page.split('<').skip(1) {
            let tag = tag
                .split('>')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            assert!(!tag.starts_with("script"), "<{tag}>");
            assert!(!tag.starts_with("style"), "<{tag}>");
            assert!(!tag.contains("style="), "<{tag}>");
            assert!(!tag.contains(" on"), "an event handler: <{tag}>");
        }
    }

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
        assert_no_inline_style_or_script(&page);
        assert!(!page.contains("<h2>Comparison</h2>"));
        assert!(page.contains(
            "<h2>Environment</h2>\n<table><tr><th>kernel</th><td>6.18</td></tr>\
             <tr><th>net.ipv4.tcp_rmem</th><td>4096 131072 6291456</td></tr></table>"
        ));
    }

    #[test]
    fn header_says_how_and_where_the_suite_ran() {
        let options = PageOptions {
            invocation: Some(crate::report::tests::sample_invocation()),
            stylesheet: "my report.css".to_string(),
            ..PageOptions::default()
        };
        let page = render_page(&sample(), &options);
        assert!(page.contains("<link rel=\"stylesheet\" href=\"my%20report.css\">"));
        assert!(page.contains(
            "<table class=\"about\"><tr><th>command</th><td><code>stackdrill &#39;--html=a b.html&#39; tests</code></td></tr>\
             <tr><th>stackdrill</th><td>0.1.0</td></tr>\
             <tr><th>kernel</th><td>6.18.0-test</td></tr>\
             <tr><th>started</th><td>2026-12-05 14:47:59 UTC</td></tr>\
             <tr><th>duration</th><td>52.4 s</td></tr></table>"
        ));
        // The header, then the summary, then the sections.
        let header_end = page.find("</header>").unwrap();
        assert!(page.find("<h2>Environment</h2>").unwrap() < header_end);
        assert!(page.find("<p>Ran 5 tests").unwrap() < header_end);
        assert!(header_end < page.find("<h2>Failures</h2>").unwrap());
        assert_no_inline_style_or_script(&page);
    }

    #[test]
    fn failures_come_first_grouped_by_first_error() {
        let mut suite = sample();
        // Both variants of one script, and another script, fail with one first error.
        let bad_ack = crate::verdict::Failure::at(
            "a.pkt",
            14,
            crate::verdict::FailureKind::Packet {
                mismatch: "bad ack".into(),
            },
        );
        suite.runs[0].status = Status::Failed;
        suite.runs[0].failure = Some(bad_ack.clone());
        suite.runs[1].failure = Some(bad_ack.clone());
        let mut other = crate::report::tests::sample_run(
            "tcp/z.pkt",
            None,
            Status::Failed,
            "z.pkt:3: error handling packet: bad ack",
        );
        other.failure = Some(crate::verdict::Failure {
            line: Some(3),
            ..bad_ack
        });
        suite.runs.push(other);
        let page = render(&suite);
        let failures = page.find("<h2>Failures</h2>").unwrap();
        assert!(failures < page.find("<h2>Runs</h2>").unwrap());
        assert!(page.contains("<h2>Failures</h2>\n<p>2 distinct first errors</p>\n"));
        // The largest group first: three runs of two scripts, the variants folded together.
        assert!(page.contains(
            "<section class=\"group\"><h3 class=\"failed\">error handling packet: bad ack</h3>\
             <p>3 runs:</p><ul><li>tcp/a.pkt:14: <a href=\"#run0\">ipv4</a>, \
             <a href=\"#run1\">ipv6</a></li><li>tcp/z.pkt:3: <a href=\"#run5\">details</a></li>\
             </ul></section>\n\
             <section class=\"group\"><h3 class=\"timed_out\">timed out after 180 s</h3>\
             <p>1 run:</p><ul><li>tcp/slow.pkt: <a href=\"#run3\">ipv4</a></li></ul></section>\n"
        ));
        // Passing runs and expected failures are no failures.
        let groups = &page[failures..page.find("<h2>Runs</h2>").unwrap()];
        assert!(!groups.contains("tcp/b.pkt") && !groups.contains("self/err.pkt"));
    }

    #[test]
    fn timing_errors_group_without_their_times() {
        let late = |actual_usecs| {
            crate::verdict::Failure::at(
                "c.pkt",
                7,
                crate::verdict::FailureKind::Timing {
                    event: crate::verdict::TimedEvent::OutboundPacket,
                    expected_usecs: 100_000,
                    expected_end_usecs: None,
                    actual_usecs,
                    tolerance_usecs: 4_000,
                },
            )
        };
        let mut suite = sample();
        suite.runs.truncate(2);
        for (run, actual) in suite.runs.iter_mut().zip([300_000, 223_746]) {
            run.status = Status::Failed;
            run.failure = Some(late(actual));
        }
        let page = render(&suite);
        assert!(page.contains(
            "<h3 class=\"failed\">timing error: outbound packet too late</h3><p>2 runs:</p>\
             <ul><li>tcp/a.pkt:7: <a href=\"#run0\">ipv4</a>, <a href=\"#run1\">ipv6</a></li>"
        ));
    }

    #[test]
    fn captures_and_ladders_are_linked_relative_to_the_page() {
        let mut suite = sample();
        suite.runs[0].pcap = Some("/ci/job/out/pcaps/tcp/a.ipv4.pcap".to_string());
        suite.runs[1].pcap = Some("/ci/job/pcaps/tcp/a #1.ipv6.pcap".to_string());
        suite.runs[1].ladder = Some("/ci/job/pcaps/tcp/a #1.ipv6.svg".to_string());
        let options = PageOptions {
            directory: Some(PathBuf::from("/ci/job/out")),
            ..PageOptions::default()
        };
        let page = render_page(&suite, &options);
        // A passing run's capture too.
        assert!(page.contains(
            "<td>1.25 s</td><td></td><td><a href=\"pcaps/tcp/a.ipv4.pcap\">pcap</a></td></tr>"
        ));
        assert!(page.contains(
            "<td><a href=\"../pcaps/tcp/a%20%231.ipv6.pcap\">pcap</a> \
             <a href=\"../pcaps/tcp/a%20%231.ipv6.svg\">ladder</a></td></tr>"
        ));
        assert!(page.contains(
            "<p>capture: <a href=\"../pcaps/tcp/a%20%231.ipv6.pcap\">../pcaps/tcp/a #1.ipv6.pcap</a></p>"
        ));
        // A failing run's ladder diagram: linked, and shown as an image.
        assert!(page.contains(
            "<p>ladder diagram: <a href=\"../pcaps/tcp/a%20%231.ipv6.svg\">../pcaps/tcp/a #1.ipv6.svg</a></p>\n\
             <div class=\"ladder\"><img src=\"../pcaps/tcp/a%20%231.ipv6.svg\" \
             alt=\"ladder diagram of tcp/a.pkt (ipv6)\"></div>"
        ));
        assert!(!page.contains("/ci/job"));
        assert_no_inline_style_or_script(&page);
    }

    #[test]
    fn written_with_its_stylesheet_beside_it() {
        let dir = std::env::temp_dir().join(format!("stackdrill-html-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.html");
        write(
            &path,
            &sample(),
            Some(crate::report::tests::sample_invocation()),
            false,
        )
        .unwrap();
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(page.contains("<link rel=\"stylesheet\" href=\"r.css\">"));
        assert_eq!(
            std::fs::read_to_string(dir.join("r.css")).unwrap(),
            STYLESHEET
        );
        assert_eq!(
            stylesheet_path(Path::new("out/report")),
            Path::new("out/report.css")
        );
        assert_eq!(stylesheet_path(Path::new("x.css")), Path::new("x.css.css"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn comparison_matrix_comes_first() {
        let page = render(&compared_sample());
        let matrix = page.find("<h2>Comparison</h2>").unwrap();
        assert!(matrix < page.find("<h2>Failures</h2>").unwrap());
        assert!(matrix < page.find("<h2>Runs</h2>").unwrap());
        assert!(page.contains("<p>The 2 targets agree on 2 of 4 scripts and disagree on 2</p>"));
        assert!(page.contains("<tr><td>tcp/fastopen.pkt</td><td class=\"passed\">pass</td><td class=\"failed\" title=\"fastopen.pkt:4: runtime error in setsockopt call: Expected result 0 but got -1 with errno 92 (Protocol not available)\"><a href=\"#run3\">FAIL</a><small>4: setsockopt: Expected result 0 but got -1 with errno 92 (Protocol not available)</small></td></tr>"));
        assert!(page.contains("<th>target</th>"));
        assert!(page.contains("<h3 id=\"run3\" class=\"failed\">tcp/fastopen.pkt on libstackdrill_smoltcp.so — failed</h3>"));
        // Failures name the target they failed on.
        assert!(page.contains("<li>tcp/b.pkt:9: <a href=\"#run4\">on kernel</a>, <a href=\"#run5\">on libstackdrill_smoltcp.so</a></li>"));
        assert!(page.contains("<tr><td>tcp/a.pkt</td>"));
        assert_no_inline_style_or_script(&page);
    }

    #[test]
    fn comparison_can_show_only_disagreements() {
        let options = PageOptions {
            compare_only_disagreements: true,
            ..PageOptions::default()
        };
        let page = render_page(&compared_sample(), &options);
        assert!(page.contains(
            "<p>The 2 targets agree on 2 of 4 scripts and disagree on 2; rows where they agree are not shown</p>"
        ));
        let matrix = &page
            [page.find("<h2>Comparison</h2>").unwrap()..page.find("<h2>Failures</h2>").unwrap()];
        assert!(matrix.contains("<tr><td>tcp/fastopen.pkt</td>"));
        assert!(matrix.contains("<tr><td>tcp/c.pkt</td>"));
        assert!(!matrix.contains("tcp/a.pkt") && !matrix.contains("tcp/b.pkt"));
    }
}
