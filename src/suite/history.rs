//! The history of a suite over several runs, from their JSON reports (oldest first): each
//! run's counts and wall time, each script's duration over the runs, and the flaky ones, whose
//! verdict changed from one run to another. As text for the terminal, and as an HTML page for
//! CI that keeps to a strict Content Security Policy: no script, no `<style>` element and no
//! `style=` attribute, only classes, with its stylesheet written beside it; the charts are
//! inline SVG shapes with classes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::report::{Counts, Status, SuiteResult};

use super::report_in::{self, RunKey};

/// One report of the history.
#[derive(Debug, Clone)]
pub struct Point {
    pub label: String,
    pub counts: Counts,
    pub wall: Duration,
}

impl Point {
    /// Runs made, passed, failed (crashes too), timed out, failed as expected.
    fn columns(&self) -> [usize; 5] {
        let c = &self.counts;
        [
            c.total - c.not_run,
            c.passed,
            c.failed + c.crashed,
            c.timed_out,
            c.expected_failures,
        ]
    }
}

/// One run (script × variant × target) across the reports.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    /// Per report: its status and duration, if the report has the run.
    pub results: Vec<Option<(Status, Duration)>>,
}

impl Series {
    /// Whether the run's verdict changed between reports (runs not run are left out).
    pub fn is_flaky(&self) -> bool {
        let mut statuses = self
            .results
            .iter()
            .flatten()
            .map(|(status, _)| *status)
            .filter(|status| *status != Status::NotRun);
        let Some(first) = statuses.next() else {
            return false;
        };
        statuses.any(|status| status != first)
    }
}

/// The history of `reports` (label, result), oldest first.
#[derive(Debug, Clone)]
pub struct History {
    pub points: Vec<Point>,
    pub series: Vec<Series>,
}

impl History {
    pub fn of(reports: &[(String, SuiteResult)]) -> Self {
        let points = reports
            .iter()
            .map(|(label, suite)| Point {
                label: label.clone(),
                counts: suite.counts(),
                wall: suite.wall,
            })
            .collect();
        let mut by_run: BTreeMap<RunKey, Series> = BTreeMap::new();
        for (i, (_, suite)) in reports.iter().enumerate() {
            for run in &suite.runs {
                let series = by_run
                    .entry(report_in::key_of(run))
                    .or_insert_with(|| Series {
                        name: run.label(),
                        results: vec![None; reports.len()],
                    });
                series.results[i] = Some((run.status, run.duration));
            }
        }
        History {
            points,
            series: by_run.into_values().collect(),
        }
    }

    pub fn flaky(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().filter(|s| s.is_flaky())
    }

    /// The history as text: a line per report, then the flaky runs with their verdicts.
    pub fn render_text(&self) -> String {
        let width = self.points.iter().map(|p| p.label.len()).max().unwrap_or(0);
        let mut out = String::from("History (oldest first):\n");
        for p in &self.points {
            let [runs, passed, failed, timed_out, xfail] = p.columns();
            let _ = writeln!(
                out,
                "  {:width$}  {runs:4} runs  {passed:4} passed  {failed:4} failed  {timed_out:4} timed out  {xfail:4} xfail  {:7.1} s",
                p.label,
                p.wall.as_secs_f64()
            );
        }
        let flaky: Vec<&Series> = self.flaky().collect();
        if flaky.is_empty() {
            out.push_str("No flaky runs: every run kept its verdict.\n");
        } else {
            let _ = writeln!(
                out,
                "Flaky ({}): the verdict changed between runs:",
                flaky.len()
            );
            for series in flaky {
                let _ = writeln!(out, "  {}: {}", series.name, verdicts(series));
            }
        }
        out
    }
}

/// `PASS FAIL - PASS`: a series' verdict per report (`-`: not in that report).
fn verdicts(series: &Series) -> String {
    series
        .results
        .iter()
        .map(|r| r.map_or("-", |(status, _)| status.label()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The stylesheet of the history page.
const STYLESHEET: &str = "\
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; }
td.name, th.name { text-align: left; font-family: monospace; }
.flaky td.name { font-weight: bold; }
td.passed, td.expected_failure { background: #e6f4e6; }
td.failed, td.crashed, td.timed_out { background: #fbe3e3; }
td.not_run, td.absent { color: #888; }
svg.chart { display: block; margin-bottom: 1.5em; }
svg .bar-passed { fill: #4a9a4a; }
svg .bar-failed { fill: #c44; }
svg .bar-other { fill: #aaa; }
svg .axis { stroke: #666; }
svg .label { font-size: 10px; fill: #333; }
svg.spark polyline { fill: none; stroke: #36c; stroke-width: 1.5; }
";

/// The stylesheet beside the page at `page` (`h.html`: `h.css`).
pub fn stylesheet_path(page: &Path) -> PathBuf {
    page.with_extension("css")
}

/// The page: the counts as a stacked bar chart and a table, the flaky runs, and every run's
/// verdict and duration per report with a sparkline of its durations.
pub fn render_html(history: &History, stylesheet: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>stackdrill history</title><link rel=\"stylesheet\" href=\"{}\"></head><body>\n\
         <h1>stackdrill history</h1>\n",
        escape(stylesheet)
    );
    out.push_str(&counts_chart(&history.points));
    out.push_str("<table class=\"counts\"><tr><th class=\"name\">report</th><th>runs</th><th>passed</th><th>failed</th><th>timed out</th><th>expected failures</th><th>wall (s)</th></tr>\n");
    for p in &history.points {
        let cells: String = p
            .columns()
            .iter()
            .map(|n| format!("<td>{n}</td>"))
            .collect();
        let _ = writeln!(
            out,
            "<tr><td class=\"name\">{}</td>{cells}<td>{:.1}</td></tr>",
            escape(&p.label),
            p.wall.as_secs_f64()
        );
    }
    out.push_str("</table>\n");
    let flaky: Vec<&Series> = history.flaky().collect();
    let _ = writeln!(
        out,
        "<h2>Flaky runs ({})</h2>\n<p>Runs whose verdict changed between reports.</p>",
        flaky.len()
    );
    out.push_str(&series_table(history, &flaky));
    out.push_str("<h2>Every run</h2>\n");
    let all: Vec<&Series> = history.series.iter().collect();
    out.push_str(&series_table(history, &all));
    out.push_str("</body></html>\n");
    out
}

/// A stacked bar per report: passed (and expected failures), failed, the rest.
fn counts_chart(points: &[Point]) -> String {
    let (bar, gap, height) = (28.0, 12.0, 120.0);
    let most = points
        .iter()
        .map(|p| p.counts.total)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let width = points.len() as f64 * (bar + gap) + gap;
    let mut out = format!(
        "<svg class=\"chart\" width=\"{width}\" height=\"{}\" viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"pass counts per report\">",
        height + 16.0,
        height + 16.0
    );
    for (i, p) in points.iter().enumerate() {
        let x = gap + i as f64 * (bar + gap);
        let c = &p.counts;
        let passed = (c.passed + c.expected_failures) as f64;
        let failed = (c.failed + c.crashed + c.timed_out) as f64;
        let other = c.total as f64 - passed - failed;
        let mut top = height;
        for (class, count) in [
            ("bar-passed", passed),
            ("bar-failed", failed),
            ("bar-other", other),
        ] {
            let h = count / most * height;
            top -= h;
            if h > 0.0 {
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar}\" height=\"{h:.1}\"><title>{}: {count} {}</title></rect>",
                    escape(&p.label),
                    class.trim_start_matches("bar-")
                );
            }
        }
        let _ = write!(
            out,
            "<text class=\"label\" x=\"{x:.1}\" y=\"{:.1}\">{}</text>",
            height + 12.0,
            i + 1
        );
    }
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"0\" y1=\"{height}\" x2=\"{width}\" y2=\"{height}\"/></svg>"
    );
    out
}

/// A row per series: its verdict and duration in each report, and a sparkline.
fn series_table(history: &History, rows: &[&Series]) -> String {
    if rows.is_empty() {
        return "<p>None.</p>\n".to_string();
    }
    let mut out = String::from("<table class=\"runs\"><tr><th class=\"name\">run</th>");
    for (i, p) in history.points.iter().enumerate() {
        let _ = write!(out, "<th title=\"{}\">{}</th>", escape(&p.label), i + 1);
    }
    out.push_str("<th>duration</th></tr>\n");
    for series in rows {
        let class = if series.is_flaky() {
            " class=\"flaky\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr{class}><td class=\"name\">{}</td>",
            escape(&series.name)
        );
        for result in &series.results {
            match result {
                Some((status, duration)) => {
                    let _ = write!(
                        out,
                        "<td class=\"{}\">{} {:.2}</td>",
                        status_class(*status),
                        status.label(),
                        duration.as_secs_f64()
                    );
                }
                None => out.push_str("<td class=\"absent\">-</td>"),
            }
        }
        let _ = writeln!(out, "<td>{}</td></tr>", sparkline(series));
    }
    out.push_str("</table>\n");
    out
}

/// The status as the reports spell it (`timed_out`), a class of the page.
fn status_class(status: Status) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The series' durations as a small line (reports without the run left out).
fn sparkline(series: &Series) -> String {
    let (w, h) = (80.0, 18.0);
    let durations: Vec<(usize, f64)> = series
        .results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|(_, d)| (i, d.as_secs_f64())))
        .collect();
    let most = durations
        .iter()
        .map(|(_, d)| *d)
        .fold(0.0, f64::max)
        .max(1e-3);
    let steps = (series.results.len().max(2) - 1) as f64;
    let points: Vec<String> = durations
        .iter()
        .map(|(i, d)| {
            format!(
                "{:.1},{:.1}",
                *i as f64 / steps * w,
                h - d / most * (h - 2.0) - 1.0
            )
        })
        .collect();
    format!(
        "<svg class=\"spark\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\"><polyline points=\"{}\"/></svg>",
        points.join(" ")
    )
}

/// Writes the page to `path` and its stylesheet beside it; errors name the flag.
pub fn write_html(history: &History, path: &Path) -> Result<(), String> {
    let css = stylesheet_path(path);
    let href = css
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let fail = |p: &Path, e: std::io::Error| {
        format!("bad --history_html: cannot write '{}' ({e})", p.display())
    };
    std::fs::write(path, render_html(history, &href)).map_err(|e| fail(path, e))?;
    std::fs::write(&css, STYLESHEET).map_err(|e| fail(&css, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    fn history() -> History {
        let first = sample();
        let mut second = sample();
        // One run changes its verdict, one its duration.
        second.runs[0].status = Status::Failed;
        second.runs[1].duration = Duration::from_secs(3);
        History::of(&[("a.json".into(), first), ("b.json".into(), second)])
    }

    #[test]
    fn a_changed_verdict_is_flaky() {
        let h = history();
        let flaky: Vec<&str> = h.flaky().map(|s| s.name.as_str()).collect();
        assert_eq!(flaky, [sample().runs[0].label().as_str()]);
        let text = h.render_text();
        assert!(
            text.starts_with("History (oldest first):\n  a.json  "),
            "{text}"
        );
        assert!(
            text.contains("Flaky (1): the verdict changed between runs:\n"),
            "{text}"
        );
        assert!(text.contains(": PASS FAIL\n"), "{text}");
    }

    #[test]
    fn the_page_has_no_inline_style_or_script() {
        let page = render_html(&history(), "h.css");
        assert!(page.contains("<link rel=\"stylesheet\" href=\"h.css\">"));
        assert!(page.contains("<svg class=\"chart\""));
        assert!(page.contains("<polyline points="));
        crate::report::html::tests::assert_no_inline_style_or_script(&page);
    }
}
