//! The comparison matrix of a `--compare` suite: one row per script × variant, one column per
//! target, each cell the run's verdict and, in a row where the targets disagree, the first
//! error of each run that did not pass (the first difference). Targets agree on a row when
//! every run got the same verdict and, where they failed, the same first error: two stacks
//! failing one script for different reasons is a difference, not an agreement. Built from the suite result,
//! rendered here as the plain-text table printed after the summary line; the JSON and HTML
//! reports render the same rows.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{RunRecord, Status, SuiteResult};
use crate::verdict::{Failure, FailureKind};

/// Text cells longer than this many characters are cut, ending in `…`.
pub const TEXT_CELL_WIDTH: usize = 90;

/// Columns of the text table are this far apart.
const COLUMN_GAP: &str = "  ";

/// Every row of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareMatrix {
    /// The targets' labels, in `--compare` order (the columns).
    pub targets: Vec<String>,
    /// Rows where every target gave the same verdict.
    pub agree: usize,
    /// Rows where they did not.
    pub disagree: usize,
    /// The rows shown: every row, or with [`CompareMatrix::only_disagreements`] the rows where
    /// the targets disagree.
    pub rows: Vec<MatrixRow>,
    /// Whether rows where the targets agree were left out.
    #[serde(skip)]
    pub agreeing_rows_hidden: bool,
}

/// One script × variant.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixRow {
    pub script: String,
    pub variant: Option<String>,
    /// Whether every target gave the same verdict.
    pub agree: bool,
    /// One per target, in column order.
    pub cells: Vec<MatrixCell>,
}

/// One run of a row.
#[derive(Debug, Clone, Serialize)]
pub struct MatrixCell {
    pub target: String,
    pub status: Status,
    /// `pass`, `FAIL`, `TIMEOUT`, `CRASH`, `xfail` or `not run`.
    pub verdict: &'static str,
    /// In a row where the targets disagree, a run that did not pass: its failure as
    /// `LINE: message` (`Failure::brief`), or why it has none (timed out, crashed).
    pub difference: Option<String>,
    /// The run's full one-line message (empty on a pass).
    pub message: String,
    /// The failure as the cell shows it, should the targets disagree.
    #[serde(skip)]
    brief: String,
    /// What two failures must share to be the same first error (see [`first_error`]).
    #[serde(skip)]
    first_error: String,
    /// The run's index in the suite's runs (for links to its details).
    #[serde(skip)]
    pub run_index: Option<usize>,
}

impl MatrixRow {
    /// `SCRIPT` or `SCRIPT (VARIANT)`.
    pub fn label(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{} ({variant})", self.script),
            None => self.script.clone(),
        }
    }
}

/// The cell's verdict word: failures in capitals, so that they stand out in a column.
pub fn verdict_word(status: Status) -> &'static str {
    match status {
        Status::Passed => "pass",
        Status::Failed => "FAIL",
        Status::TimedOut => "TIMEOUT",
        Status::Crashed => "CRASH",
        Status::ExpectedFailure => "xfail",
        Status::NotRun => "not run",
    }
}

impl CompareMatrix {
    /// The matrix of a suite that compared targets; `None` when it did not.
    pub fn of(suite: &SuiteResult) -> Option<Self> {
        if suite.targets.is_empty() {
            return None;
        }
        let mut rows: Vec<MatrixRow> = Vec::new();
        let mut row_of: BTreeMap<(String, Option<String>), usize> = BTreeMap::new();
        for (index, run) in suite.runs.iter().enumerate() {
            let Some(column) = run
                .target
                .as_ref()
                .and_then(|target| suite.targets.iter().position(|t| t == target))
            else {
                continue;
            };
            let key = (run.script.clone(), run.variant.clone());
            let row = *row_of.entry(key).or_insert_with(|| {
                rows.push(empty_row(run, &suite.targets));
                rows.len() - 1
            });
            let cell = &mut rows[row].cells[column];
            cell.status = run.status;
            cell.verdict = verdict_word(run.status);
            cell.message = run.message.clone();
            // An expected failure's message says why it was expected (a stack's mark).
            cell.brief = match (&run.failure, run.status) {
                (Some(failure), status) if status != Status::ExpectedFailure => failure.brief(),
                _ => run.message.clone(),
            };
            cell.first_error = match &run.failure {
                Some(failure) => first_error(failure),
                None => cell.brief.clone(),
            };
            cell.run_index = Some(index);
        }
        for row in &mut rows {
            row.agree = row
                .cells
                .windows(2)
                .all(|pair| same_outcome(&pair[0], &pair[1]));
            if !row.agree {
                for cell in &mut row.cells {
                    if cell.status != Status::Passed && cell.run_index.is_some() {
                        cell.difference = Some(cell.brief.clone());
                    }
                }
            }
        }
        let agree = rows.iter().filter(|row| row.agree).count();
        Some(Self {
            targets: suite.targets.clone(),
            agree,
            disagree: rows.len() - agree,
            rows,
            agreeing_rows_hidden: false,
        })
    }

    /// The same matrix showing only the rows where the targets disagree (the counts still
    /// count every row).
    pub fn only_disagreements(mut self) -> Self {
        self.rows.retain(|row| !row.agree);
        self.agreeing_rows_hidden = true;
        self
    }

    /// `The 2 targets agree on 24 of 26 scripts and disagree on 2`, then `; rows where they
    /// agree are not shown` when they were left out.
    pub fn agreement_line(&self) -> String {
        let noun = if self.rows.iter().any(|row| row.variant.is_some()) {
            "script variants"
        } else {
            "scripts"
        };
        let mut line = format!(
            "The {} targets agree on {} of {} {noun} and disagree on {}",
            self.targets.len(),
            self.agree,
            self.agree + self.disagree,
            self.disagree
        );
        if self.agreeing_rows_hidden {
            line.push_str("; rows where they agree are not shown");
        }
        line
    }

    /// The table (aligned columns, long cells cut with `…`) and the agreement line; the line
    /// alone when no row is shown.
    pub fn render_text(&self) -> String {
        if self.rows.is_empty() {
            return format!("{}\n", self.agreement_line());
        }
        let mut table: Vec<Vec<String>> = Vec::with_capacity(self.rows.len() + 1);
        let mut header = vec!["script".to_string()];
        header.extend(self.targets.iter().cloned());
        table.push(header);
        for row in &self.rows {
            let mut line = vec![row.label()];
            line.extend(row.cells.iter().map(|cell| {
                let text = match &cell.difference {
                    Some(difference) => format!("{} {difference}", cell.verdict),
                    None => cell.verdict.to_string(),
                };
                shortened(&text, TEXT_CELL_WIDTH)
            }));
            table.push(line);
        }
        let columns = table[0].len();
        let widths: Vec<usize> = (0..columns)
            .map(|column| {
                table
                    .iter()
                    .map(|line| line[column].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for line in &table {
            let mut out = String::new();
            for (column, cell) in line.iter().enumerate() {
                if column > 0 {
                    out.push_str(COLUMN_GAP);
                }
                out.push_str(cell);
                let padding = widths[column] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', padding));
            }
            text.push_str(out.trim_end());
            text.push('\n');
        }
        text.push_str(&self.agreement_line());
        text.push('\n');
        text
    }
}

/// Whether two runs of a row came out the same: one verdict, and for failures one first error.
fn same_outcome(a: &MatrixCell, b: &MatrixCell) -> bool {
    a.status == b.status && (a.status != Status::Failed || a.first_error == b.first_error)
}

/// A failure as a comparison tells first errors apart: its line and message
/// ([`Failure::brief`]), except that a timing error is its line and [`timing_kind`].
fn first_error(failure: &Failure) -> String {
    match timing_kind(failure) {
        Some(kind) => format!("{}: {kind}", failure.line.unwrap_or_default()),
        None => failure.brief(),
    }
}

/// A timing error without its times: `timing error: outbound packet too late` (or `too
/// early`); None for other failures. The times differ from run to run (and between a real and
/// a virtual clock), so two runs answering late at one line fail the same way.
pub fn timing_kind(failure: &Failure) -> Option<String> {
    match &*failure.kind {
        FailureKind::Timing {
            event,
            expected_usecs,
            actual_usecs,
            ..
        } => Some(format!(
            "timing error: {} too {}",
            event.describe(),
            if actual_usecs < expected_usecs {
                "early"
            } else {
                "late"
            }
        )),
        _ => None,
    }
}

fn empty_row(run: &RunRecord, targets: &[String]) -> MatrixRow {
    MatrixRow {
        script: run.script.clone(),
        variant: run.variant.clone(),
        agree: true,
        cells: targets
            .iter()
            .map(|target| MatrixCell {
                target: target.clone(),
                status: Status::NotRun,
                verdict: verdict_word(Status::NotRun),
                difference: None,
                message: String::new(),
                brief: String::new(),
                first_error: String::new(),
                run_index: None,
            })
            .collect(),
    }
}

/// `text` cut to at most `width` characters, the last of them `…` when it was cut.
pub fn shortened(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{compared_sample, sample};

    #[test]
    fn cells_verdicts_and_first_differences() {
        let matrix = CompareMatrix::of(&compared_sample()).unwrap();
        assert_eq!(matrix.targets, ["kernel", "libstackdrill_smoltcp.so"]);
        assert_eq!((matrix.agree, matrix.disagree), (2, 2));
        let fastopen = &matrix.rows[1];
        assert_eq!(fastopen.label(), "tcp/fastopen.pkt");
        assert!(!fastopen.agree);
        assert_eq!(fastopen.cells[0].verdict, "pass");
        assert_eq!(fastopen.cells[0].difference, None);
        assert_eq!(fastopen.cells[1].verdict, "FAIL");
        assert_eq!(
            fastopen.cells[1].difference.as_deref(),
            Some("4: setsockopt: Expected result 0 but got -1 with errno 92 (Protocol not available)")
        );
        // Both fail the same way: they agree, and no message is repeated.
        assert!(matrix.rows[2].agree);
        assert_eq!(matrix.rows[2].cells[1].difference, None);
        // The first target alone fails: its error is the difference.
        assert_eq!(
            matrix.rows[3].cells[0].difference.as_deref(),
            Some("7: timing error: expected outbound packet at 0.100000 sec but happened at 0.300000 sec; tolerance 0.004000 sec")
        );
        assert!(CompareMatrix::of(&sample()).is_none());
    }

    #[test]
    fn text_table_is_aligned_and_cut() {
        let text = CompareMatrix::of(&compared_sample()).unwrap().render_text();
        assert_eq!(
            text,
            "\
script            kernel                                                                                      libstackdrill_smoltcp.so
tcp/a.pkt         pass                                                                                        pass
tcp/fastopen.pkt  pass                                                                                        FAIL 4: setsockopt: Expected result 0 but got -1 with errno 92 (Protocol not available)
tcp/b.pkt         FAIL                                                                                        FAIL
tcp/c.pkt         FAIL 7: timing error: expected outbound packet at 0.100000 sec but happened at 0.300000 s…  pass
The 2 targets agree on 2 of 4 scripts and disagree on 2
"
        );
    }

    #[test]
    fn failing_for_different_reasons_is_a_disagreement() {
        let mut suite = compared_sample();
        // tcp/b.pkt fails on both, now at another line on the library.
        let library_run = &mut suite.runs[5];
        let failure = library_run.failure.as_mut().unwrap();
        failure.line = Some(11);
        library_run.message = failure.headline();
        let matrix = CompareMatrix::of(&suite).unwrap();
        let both_fail = &matrix.rows[2];
        assert_eq!(both_fail.label(), "tcp/b.pkt");
        assert!(!both_fail.agree);
        let differences: Vec<_> = both_fail
            .cells
            .iter()
            .map(|cell| cell.difference.as_deref())
            .collect();
        assert_eq!(differences, [Some("9: bad ack"), Some("11: bad ack")]);
        assert_eq!((matrix.agree, matrix.disagree), (1, 3));
        assert!(matrix
            .render_text()
            .contains("\ntcp/b.pkt         FAIL 9: bad ack"));

        // Late at one line on both, by other amounts: the same first error.
        let mut suite = compared_sample();
        suite.runs[7].status = Status::Failed;
        suite.runs[7].failure = suite.runs[6].failure.clone();
        if let Some(FailureKind::Timing { actual_usecs, .. }) =
            suite.runs[7].failure.as_mut().map(|f| &mut *f.kind)
        {
            *actual_usecs = 1_010_000;
        }
        assert!(CompareMatrix::of(&suite).unwrap().rows[3].agree);
        // Early on one of them: not the same.
        if let Some(FailureKind::Timing { actual_usecs, .. }) =
            suite.runs[7].failure.as_mut().map(|f| &mut *f.kind)
        {
            *actual_usecs = 0;
        }
        assert!(!CompareMatrix::of(&suite).unwrap().rows[3].agree);
    }

    #[test]
    fn only_disagreements_are_shown_when_asked() {
        let matrix = CompareMatrix::of(&compared_sample())
            .unwrap()
            .only_disagreements();
        let labels: Vec<String> = matrix.rows.iter().map(MatrixRow::label).collect();
        assert_eq!(labels, ["tcp/fastopen.pkt", "tcp/c.pkt"]);
        let text = matrix.render_text();
        assert!(text.starts_with("script            kernel"), "{text}");
        assert!(!text.contains("tcp/a.pkt"));
        assert!(text.ends_with(
            "The 2 targets agree on 2 of 4 scripts and disagree on 2; \
             rows where they agree are not shown\n"
        ));
        // Nothing to show: the line alone.
        let mut agreeing = compared_sample();
        agreeing.runs.truncate(2);
        let matrix = CompareMatrix::of(&agreeing).unwrap().only_disagreements();
        assert_eq!(
            matrix.render_text(),
            "The 2 targets agree on 1 of 1 scripts and disagree on 0; \
             rows where they agree are not shown\n"
        );
    }

    #[test]
    fn long_cells_are_cut() {
        assert_eq!(shortened("abcdef", 6), "abcdef");
        assert_eq!(shortened("abc defg", 5), "abc…");
        assert_eq!(shortened("abcdefg", 6), "abcde…");
    }
}
