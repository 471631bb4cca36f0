//! Ladder (sequence) diagrams of failing runs, as SVG: stackdrill (the remote end) on the left,
//! the stack under test on the right, time running downward; one arrow per packet as the run
//! handled it (injected left to right, sniffed right to left) labelled as packetdrill prints
//! packets, system calls and commands as notes on the stack's lifeline, and the failing point
//! in red: the packet that differed with the names of its differing fields, the call or
//! command that failed, or a dashed arrow for the packet that never came. The run's error text
//! closes the diagram.
//!
//! The diagram is read from what a [`RunRecord`] carries: its `--verbose` transcript (the
//! packets and calls in the order the run handled them) and its [`Failure`] (the failing event
//! and its `script packet:`/`differs:` detail lines). The SVG uses presentation attributes
//! only (no `style=`, no CSS, no script), so it shows the same opened alone, as an `<img>` in
//! the HTML report, or under a Content Security Policy that forbids inline styles.

use std::fmt::Write;

use super::{RunRecord, Status};
use crate::verdict::{CallMismatch, Failure, FailureKind, PacketMismatch, TimedEvent};

/// Rows drawn at most; beyond, the first [`HEAD_ROWS`] and the last ones are kept with a
/// marker saying how many packets and calls between them are not shown.
pub const MAX_ROWS: usize = 400;

/// Rows kept from the start of a run too long to draw whole (the rest from its end, where
/// the failure is).
const HEAD_ROWS: usize = 40;

/// Width (px) of one character of the 12 px monospace font, a little generous.
const CHAR_WIDTH: f64 = 7.3;
/// Height (px) of a row, and of each extra line under a failing row.
const ROW_HEIGHT: f64 = 24.0;
const LINE_HEIGHT: f64 = 15.0;
/// Where the left lifeline stands (the time column is before it).
const LEFT: f64 = 96.0;
/// The first row's baseline.
const FIRST_ROW: f64 = 92.0;
/// Characters of a note or label kept (longer ones end in `…`).
const MAX_LABEL_CHARS: usize = 110;
/// Lines of the error text shown at the bottom (then `…`).
const MAX_ERROR_LINES: usize = 16;

const INK: &str = "#333";
const RED: &str = "#c00";
const GREY: &str = "#999";

/// What the diagram shows of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    /// The run, as the reports name it (`tcp/a.pkt (ipv4) on kernel`).
    pub title: String,
    /// The right lifeline's name: the stack under test.
    pub stack: String,
    pub rows: Vec<Row>,
    /// The run's error text, one entry per line.
    pub error: Vec<String>,
}

/// One line of the diagram, top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    Packet {
        /// Script time in seconds as printed (`0.010972`), when known.
        time: Option<String>,
        direction: Direction,
        /// packetdrill's text of it: `P. 1:101(100) ack 1 win 257 <nop,nop,TS val 1 ecr 0>`.
        text: String,
        mark: Mark,
    },
    /// A system call (as the script wrote it) and what it returned, or a shell command.
    Note {
        time: Option<String>,
        text: String,
        returned: Option<String>,
        mark: Mark,
    },
    /// Rows left out of a long run.
    Omitted { packets: usize, notes: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Injected by stackdrill: left to right.
    Inbound,
    /// Sniffed from the stack: right to left.
    Outbound,
}

/// How a row is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mark {
    Plain,
    /// Not the socket under test's, or not the kind awaited: grey.
    PassedBy,
    /// The failing event, in red, with lines saying why under it.
    Failed(Vec<String>),
    /// The packet the script awaited that never came: dashed, in red.
    Missing(Vec<String>),
}

impl Ladder {
    /// The diagram of `run`, its right lifeline named `stack` (the stack under test).
    pub fn of(run: &RunRecord, stack: &str) -> Ladder {
        let mut rows = transcript_rows(&run.transcript);
        if let Some(failure) = &run.failure {
            mark_failure(&mut rows, failure);
        }
        if run.status == Status::TimedOut {
            // A call that never returned, or a command (its line is printed as it starts),
            // last: what the run was doing when it was stopped.
            if let Some(Row::Note {
                returned: None,
                mark: mark @ Mark::Plain,
                ..
            }) = rows.last_mut()
            {
                *mark = Mark::Failed(vec!["still going when the run timed out".to_string()]);
            }
        }
        let error = match &run.failure {
            Some(failure) => failure.render(),
            None if !run.message.is_empty() => run.message.clone(),
            None => run.errors.trim_end().to_string(),
        };
        Ladder {
            title: format!("{} — {}", run.label(), run.status.label()),
            stack: stack.to_string(),
            rows: capped(rows, MAX_ROWS),
            error: error.lines().map(str::to_string).collect(),
        }
    }

    /// The diagram as an SVG document.
    pub fn render(&self) -> String {
        let label_chars = self
            .rows
            .iter()
            .map(|row| match row {
                Row::Packet { text, mark, .. } => {
                    let extra = match mark {
                        Mark::Failed(lines) | Mark::Missing(lines) => {
                            lines.iter().map(|l| l.chars().count()).max().unwrap_or(0)
                        }
                        _ => 0,
                    };
                    shortened(text).chars().count().max(extra)
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let note_chars = self
            .rows
            .iter()
            .map(|row| match row {
                Row::Note { mark, .. } => {
                    let extra = match mark {
                        Mark::Failed(lines) => {
                            lines.iter().map(|l| l.chars().count()).max().unwrap_or(0)
                        }
                        _ => 0,
                    };
                    note_text(row).chars().count().max(extra)
                }
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .max(self.stack.chars().count());
        let span = (label_chars as f64 * CHAR_WIDTH + 48.0).max(380.0);
        let right = LEFT + span;
        let note_width = note_chars as f64 * CHAR_WIDTH + 16.0;
        let mut width = right + 10.0 + note_width + 16.0;
        let error_chars = ((width - 24.0) / CHAR_WIDTH).max(100.0) as usize;
        let error = wrapped(&self.error, error_chars);
        let error_width = error
            .iter()
            .map(|l| l.chars().count() as f64 * CHAR_WIDTH + 24.0)
            .fold(0.0, f64::max);
        width = width.max(error_width).ceil();

        let mut body = String::new();
        let mut y = FIRST_ROW;
        for row in &self.rows {
            y = draw_row(&mut body, row, y, right);
        }
        let end = y - ROW_HEIGHT + 14.0;
        let mut error_y = end + 28.0;
        let mut bottom = String::new();
        for line in &error {
            let _ = writeln!(
                bottom,
                "<text x=\"12\" y=\"{error_y:.0}\" fill=\"{RED}\" xml:space=\"preserve\">{}</text>",
                xml(line)
            );
            error_y += LINE_HEIGHT;
        }
        let height = (error_y + 8.0).ceil();

        let mut svg = String::new();
        svg.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            svg,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"12\">"
        );
        let _ = writeln!(svg, "<title>{}</title>", xml(&self.title));
        svg.push_str("<defs>");
        for (id, colour) in [("ink", INK), ("red", RED), ("grey", GREY)] {
            let _ = write!(
                svg,
                "<marker id=\"head-{id}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
                 markerUnits=\"userSpaceOnUse\" markerWidth=\"9\" markerHeight=\"9\" orient=\"auto-start-reverse\">\
                 <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{colour}\"/></marker>"
            );
        }
        svg.push_str("</defs>\n");
        let _ = writeln!(
            svg,
            "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"12\" y=\"22\" font-size=\"14\" font-weight=\"bold\" fill=\"{INK}\">{}</text>",
            xml(&self.title)
        );
        for (x, name) in [(LEFT, "stackdrill (remote)"), (right, self.stack.as_str())] {
            let box_width = (name.chars().count() as f64 * CHAR_WIDTH + 16.0).max(120.0);
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"36\" width=\"{box_width:.1}\" height=\"24\" rx=\"3\" \
                 fill=\"#eee\" stroke=\"{INK}\"/><text x=\"{x:.1}\" y=\"52\" \
                 text-anchor=\"middle\" fill=\"{INK}\">{}</text>",
                x - box_width / 2.0,
                xml(name)
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{x:.1}\" y1=\"60\" x2=\"{x:.1}\" y2=\"{end:.0}\" stroke=\"{GREY}\"/>"
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"12\" y=\"76\" font-size=\"10\" fill=\"{GREY}\">time (s)</text>"
        );
        svg.push_str(&body);
        svg.push_str(&bottom);
        svg.push_str("</svg>\n");
        svg
    }
}

/// Draws `row` with its baseline at `y`; returns the next row's baseline.
fn draw_row(svg: &mut String, row: &Row, y: f64, right: f64) -> f64 {
    let time_text = |svg: &mut String, time: &Option<String>, colour: &str| {
        if let Some(time) = time {
            let _ = writeln!(
                svg,
                "<text x=\"12\" y=\"{:.0}\" fill=\"{colour}\">{}</text>",
                y + 4.0,
                xml(time)
            );
        }
    };
    match row {
        Row::Packet {
            time,
            direction,
            text,
            mark,
        } => {
            let (colour, head, dash, lines, weight) = match mark {
                Mark::Plain => (INK, "ink", "", &[][..], "1"),
                Mark::PassedBy => (GREY, "grey", "", &[][..], "1"),
                Mark::Failed(lines) => (RED, "red", "", &lines[..], "2"),
                Mark::Missing(lines) => (RED, "red", " stroke-dasharray=\"6 4\"", &lines[..], "2"),
            };
            time_text(svg, time, colour);
            let (from, to) = match direction {
                Direction::Inbound => (LEFT, right - 1.0),
                Direction::Outbound => (right, LEFT + 1.0),
            };
            let middle = (LEFT + right) / 2.0;
            let _ = writeln!(
                svg,
                "<text x=\"{middle:.1}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"{colour}\" \
                 xml:space=\"preserve\">{}</text>",
                y,
                xml(&shortened(text))
            );
            let _ = writeln!(
                svg,
                "<line x1=\"{from:.1}\" y1=\"{:.0}\" x2=\"{to:.1}\" y2=\"{:.0}\" stroke=\"{colour}\" \
                 stroke-width=\"{weight}\"{dash} marker-end=\"url(#head-{head})\"/>",
                y + 6.0,
                y + 6.0
            );
            let mut next = y + ROW_HEIGHT;
            for line in lines {
                let _ = writeln!(
                    svg,
                    "<text x=\"{middle:.1}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"11\" \
                     fill=\"{RED}\" xml:space=\"preserve\">{}</text>",
                    next - 4.0,
                    xml(&shortened(line))
                );
                next += LINE_HEIGHT;
            }
            next
        }
        Row::Note { time, mark, .. } => {
            let (fill, stroke, colour, lines) = match mark {
                Mark::Failed(lines) => ("#fdd", RED, RED, &lines[..]),
                _ => ("#eef", "#99b", INK, &[][..]),
            };
            time_text(svg, time, colour);
            let text = note_text(row);
            let box_width = text.chars().count() as f64 * CHAR_WIDTH + 12.0;
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.0}\" width=\"{box_width:.1}\" height=\"18\" rx=\"2\" \
                 fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{:.1}\" y=\"{:.0}\" \
                 fill=\"{colour}\" xml:space=\"preserve\">{}</text>",
                right + 6.0,
                y - 9.0,
                right + 12.0,
                y + 4.0,
                xml(&text)
            );
            let mut next = y + ROW_HEIGHT;
            for line in lines {
                let _ = writeln!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{:.0}\" font-size=\"11\" fill=\"{RED}\" \
                     xml:space=\"preserve\">{}</text>",
                    right + 12.0,
                    next - 4.0,
                    xml(&shortened(line))
                );
                next += LINE_HEIGHT;
            }
            next
        }
        Row::Omitted { packets, notes } => {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{y:.0}\" text-anchor=\"middle\" \
                 fill=\"{GREY}\">… {} not shown …</text>",
                (LEFT + right) / 2.0,
                omitted_text(*packets, *notes)
            );
            y + ROW_HEIGHT
        }
    }
}

/// `12 more packets and 3 calls`: what an [`Row::Omitted`] marker stands for (commands count
/// as calls).
fn omitted_text(packets: usize, notes: usize) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut text = format!("{packets} more packet{}", plural(packets));
    if notes > 0 {
        let _ = write!(text, " and {notes} call{}", plural(notes));
    }
    text
}

/// A note's one line: the call as the script wrote it, then what it returned when that is
/// another number (`accept(3, ..., ...) = 4 → 9`: the live descriptor).
fn note_text(row: &Row) -> String {
    match row {
        Row::Note { text, returned, .. } => {
            let scripted = text
                .rsplit_once(" = ")
                .and_then(|(_, result)| result.split_whitespace().next());
            let text = match returned {
                Some(returned) if scripted != Some(returned.as_str()) => {
                    format!("{text} → {returned}")
                }
                _ => text.clone(),
            };
            shortened(&text)
        }
        _ => String::new(),
    }
}

/// `text` cut to [`MAX_LABEL_CHARS`] characters.
fn shortened(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// The error's lines broken at `width` characters (at the last space before, if any), at most
/// [`MAX_ERROR_LINES`] of them.
fn wrapped(lines: &[String], width: usize) -> Vec<String> {
    let width = width.max(8);
    let mut out = Vec::new();
    for line in lines {
        let mut rest: Vec<char> = line.chars().collect();
        while rest.len() > width {
            let cut = rest[1..width]
                .iter()
                .rposition(|c| *c == ' ')
                .map_or(width, |space| space + 1);
            out.push(
                rest[..cut]
                    .iter()
                    .collect::<String>()
                    .trim_end()
                    .to_string(),
            );
            rest.drain(..cut);
            while rest.first() == Some(&' ') {
                rest.remove(0);
            }
        }
        out.push(rest.into_iter().collect::<String>().trim_end().to_string());
    }
    if out.len() > MAX_ERROR_LINES {
        out.truncate(MAX_ERROR_LINES - 1);
        out.push("…".to_string());
    }
    out
}

/// Text made safe in XML character data and quoted attributes: markup characters as entities,
/// and control characters (which XML 1.0 forbids) as U+FFFD.
fn xml(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    super::html::escape(&clean)
}

/// The packets, calls and commands of a `--verbose` transcript, in its order.
pub fn transcript_rows(transcript: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for line in transcript.lines() {
        let packet = [
            ("inbound injected packet:", Direction::Inbound),
            ("inbound injected frame:", Direction::Inbound),
            ("outbound sniffed packet:", Direction::Outbound),
            ("outbound sniffed frame:", Direction::Outbound),
        ]
        .into_iter()
        .find_map(|(prefix, direction)| Some((line.strip_prefix(prefix)?, direction)));
        if let Some((rest, direction)) = packet {
            let (time, text) = timed(rest);
            rows.push(Row::Packet {
                time,
                direction,
                text,
                mark: Mark::Plain,
            });
            continue;
        }
        if let Some(what) = line.strip_prefix("outbound frame passed by:") {
            rows.push(Row::Packet {
                time: None,
                direction: Direction::Outbound,
                text: what.trim().to_string(),
                mark: Mark::PassedBy,
            });
            continue;
        }
        let (Some(time), text) = timed(line) else {
            continue;
        };
        if let Some((name, result)) = text.split_once("() returned ") {
            // The call's result goes to its note: the latest one of that name still waiting.
            let waiting = rows.iter_mut().rev().find_map(|row| match row {
                Row::Note {
                    text,
                    returned: returned @ None,
                    ..
                } if text.starts_with(&format!("{name}(")) => Some(returned),
                _ => None,
            });
            if let Some(returned) = waiting {
                *returned = Some(result.trim().to_string());
            }
            continue;
        }
        // A call (`name(...)`) or a command (`` `...` ``); anything else is not the run's (a
        // stack under test may print to the same output).
        let is_call = text.split_once('(').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if is_call || text.starts_with('`') {
            rows.push(Row::Note {
                time: Some(time),
                text,
                returned: None,
                mark: Mark::Plain,
            });
        }
    }
    rows
}

/// `0.010972 . 1:1(0) ack 101` (the time may be space-padded) as the time and the rest; no
/// time when the line does not start with one.
fn timed(text: &str) -> (Option<String>, String) {
    let text = text.trim_start();
    match text.split_once(' ') {
        Some((time, rest)) if is_script_time(time) => {
            (Some(time.to_string()), rest.trim().to_string())
        }
        _ => (None, text.trim().to_string()),
    }
}

/// Whether `word` is a script time as the transcript prints it: `0.010972` (`-0.000100`).
fn is_script_time(word: &str) -> bool {
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match word.trim_start_matches('-').split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => false,
    }
}

/// The field names of a failure's `differs:` lines (`tcp ack`, `tcp option mss`).
pub fn differing_fields(details: &[String]) -> Vec<String> {
    details
        .iter()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("differs:")?;
            let name = rest.split(" expected:").next()?.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .collect()
}

/// The text after `PREFIX` in the first detail line that starts with it, without its time.
fn detail(
    failure: &Failure,
    prefixes: &[&'static str],
) -> Option<(&'static str, (Option<String>, String))> {
    failure.details.iter().find_map(|line| {
        prefixes
            .iter()
            .find_map(|prefix| Some((*prefix, timed(line.strip_prefix(prefix)?))))
    })
}

/// Marks the row where `failure` happened, or adds it when the transcript lacks it.
fn mark_failure(rows: &mut Vec<Row>, failure: &Failure) {
    match &*failure.kind {
        FailureKind::Packet { mismatch } => {
            let mut why = Vec::new();
            if let Some((_, (_, expected))) = detail(failure, &["script packet:", "script frame:"])
            {
                why.push(format!("expected: {expected}"));
            }
            let mut fields = differing_fields(&failure.details);
            if fields.is_empty() {
                fields = match mismatch {
                    PacketMismatch::Field { name, .. } | PacketMismatch::FieldText { name, .. } => {
                        vec![name.clone()]
                    }
                    PacketMismatch::PayloadLength { .. } => vec!["payload length".to_string()],
                    PacketMismatch::Other { message } => vec![message.clone()],
                };
            }
            why.push(format!("differs: {}", fields.join(", ")));
            match last_sniffed(rows) {
                Some(mark) => *mark = Mark::Failed(why),
                None => {
                    let (time, text) = detail(failure, &["actual packet:", "actual frame:"])
                        .map(|(_, timed)| timed)
                        .unwrap_or((None, "(the packet that differed)".to_string()));
                    rows.push(Row::Packet {
                        time,
                        direction: Direction::Outbound,
                        text,
                        mark: Mark::Failed(why),
                    });
                }
            }
        }
        FailureKind::PacketMissing => {
            let (prefix, (time, text)) = detail(failure, &["script packet:", "script frame:"])
                .unwrap_or(("", (None, "(the packet the script awaited)".to_string())));
            // Packets that came instead (frames are in the transcript already).
            if prefix == "script packet:" {
                let listed = failure
                    .details
                    .iter()
                    .skip_while(|line| !line.contains("that arrived while waiting"))
                    .skip(1)
                    .filter(|line| line.starts_with("    "));
                for line in listed {
                    let (time, text) = timed(line);
                    rows.push(Row::Packet {
                        time,
                        direction: Direction::Outbound,
                        text,
                        mark: Mark::PassedBy,
                    });
                }
            }
            rows.push(Row::Packet {
                time,
                direction: Direction::Outbound,
                text: format!("expected {text}"),
                mark: Mark::Missing(vec!["did not arrive".to_string()]),
            });
        }
        FailureKind::Timing {
            event,
            expected_usecs,
            expected_end_usecs,
            actual_usecs,
            ..
        } => {
            let when = match expected_end_usecs {
                Some(end) => format!("{}~{}", seconds(*expected_usecs), seconds(*end)),
                None => seconds(*expected_usecs),
            };
            let why = vec![format!(
                "expected at {when} s, happened at {} s",
                seconds(*actual_usecs)
            )];
            let mark = match event {
                TimedEvent::OutboundPacket => last_sniffed(rows),
                TimedEvent::SyscallReturn | TimedEvent::SyscallStart => last_note(rows, |_| true),
                TimedEvent::Command => last_note(rows, |text| text.starts_with('`')),
                _ => None,
            };
            if let Some(mark) = mark {
                *mark = Mark::Failed(why);
            }
        }
        FailureKind::Syscall { call, mismatch } => {
            let why = match mismatch {
                CallMismatch::Other { message } => message.clone(),
                other => other.to_string(),
            };
            let why = why.lines().map(str::to_string).collect();
            match last_note(rows, |text| text.starts_with(&format!("{call}("))) {
                Some(mark) => *mark = Mark::Failed(why),
                None => rows.push(Row::Note {
                    time: None,
                    text: format!("{call}()"),
                    returned: None,
                    mark: Mark::Failed(why),
                }),
            }
        }
        FailureKind::Command { message, .. } => {
            if let Some(mark) = last_note(rows, |text| text.starts_with('`')) {
                *mark = Mark::Failed(vec![message.clone()]);
            }
        }
        _ => {}
    }
}

/// The mark of the latest packet sniffed from the stack.
fn last_sniffed(rows: &mut [Row]) -> Option<&mut Mark> {
    rows.iter_mut().rev().find_map(|row| match row {
        Row::Packet {
            direction: Direction::Outbound,
            mark: mark @ Mark::Plain,
            ..
        } => Some(mark),
        _ => None,
    })
}

/// The mark of the latest note whose text `matches`.
fn last_note(rows: &mut [Row], matches: impl Fn(&str) -> bool) -> Option<&mut Mark> {
    rows.iter_mut().rev().find_map(|row| match row {
        Row::Note { text, mark, .. } if matches(text) => Some(mark),
        _ => None,
    })
}

fn seconds(usecs: i64) -> String {
    format!("{:.6}", usecs as f64 / 1e6)
}

/// `rows`, or when more than `limit` the first [`HEAD_ROWS`] and the last ones with a marker
/// between them.
fn capped(rows: Vec<Row>, limit: usize) -> Vec<Row> {
    if rows.len() <= limit {
        return rows;
    }
    let head = HEAD_ROWS.min(limit / 2);
    let tail = limit - head - 1;
    let left_out = &rows[head..rows.len() - tail];
    let packets = left_out
        .iter()
        .filter(|row| matches!(row, Row::Packet { .. }))
        .count();
    let marker = Row::Omitted {
        packets,
        notes: left_out.len() - packets,
    };
    let mut kept = rows[..head].to_vec();
    kept.push(marker);
    kept.extend_from_slice(&rows[rows.len() - tail..]);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample_run;

    /// An element of a parsed SVG: its name, attributes and the text directly in it.
    #[derive(Debug)]
    struct Element {
        name: String,
        attributes: std::collections::BTreeMap<String, String>,
        text: String,
    }

    impl Element {
        fn attribute(&self, name: &str) -> &str {
            self.attributes.get(name).map_or("", String::as_str)
        }

        fn number(&self, name: &str) -> f64 {
            self.attribute(name).parse().unwrap()
        }
    }

    /// Parses `svg` as XML (panicking unless well-formed: one `<svg>` root, end tags matching,
    /// only XML's own entities) into its elements in document order.
    fn parse(svg: &str) -> Vec<Element> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(svg);
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut roots = 0;
        loop {
            let event = reader
                .read_event()
                .unwrap_or_else(|e| panic!("{e}:\n{svg}"));
            let element = |start: &quick_xml::events::BytesStart| Element {
                name: String::from_utf8(start.name().as_ref().to_vec()).unwrap(),
                attributes: start
                    .attributes()
                    .map(|attribute| {
                        let attribute = attribute.unwrap();
                        (
                            String::from_utf8(attribute.key.as_ref().to_vec()).unwrap(),
                            attribute
                                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .into_owned(),
                        )
                    })
                    .collect(),
                text: String::new(),
            };
            match event {
                Event::Start(start) => {
                    roots += usize::from(open.is_empty());
                    elements.push(element(&start));
                    open.push(elements.len() - 1);
                }
                Event::Empty(start) => {
                    roots += usize::from(open.is_empty());
                    elements.push(element(&start));
                }
                Event::End(_) => {
                    open.pop().expect("an end tag without a start");
                }
                Event::Text(text) => {
                    let text = text.decode().unwrap();
                    match open.last() {
                        Some(&index) => elements[index].text.push_str(&text),
                        None => assert!(text.trim().is_empty(), "text outside the root"),
                    }
                }
                Event::GeneralRef(reference) => {
                    let resolved = match reference.resolve_char_ref().unwrap() {
                        Some(c) => c.to_string(),
                        None => match &*reference.decode().unwrap() {
                            "lt" => "<".to_string(),
                            "gt" => ">".to_string(),
                            "amp" => "&".to_string(),
                            "quot" => "\"".to_string(),
                            "apos" => "'".to_string(),
                            other => panic!("undefined entity &{other};"),
                        },
                    };
                    elements[*open.last().unwrap()].text.push_str(&resolved);
                }
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(open.is_empty(), "unclosed elements");
        assert_eq!(roots, 1);
        assert_eq!(elements[0].name, "svg");
        elements
    }

    /// The arrows (lines with a head) as (from x, to x, dashed, colour), top to bottom.
    fn arrows(elements: &[Element]) -> Vec<(f64, f64, bool, String)> {
        elements
            .iter()
            .filter(|e| e.name == "line" && !e.attribute("marker-end").is_empty())
            .map(|e| {
                (
                    e.number("x1"),
                    e.number("x2"),
                    !e.attribute("stroke-dasharray").is_empty(),
                    e.attribute("stroke").to_string(),
                )
            })
            .collect()
    }

    fn texts(elements: &[Element]) -> Vec<&str> {
        elements
            .iter()
            .filter(|e| e.name == "text")
            .map(|e| e.text.as_str())
            .collect()
    }

    const HANDSHAKE: &str = "\
0.000002 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
0.000217 socket() returned 7
inbound injected packet: 0.000563 S 0:0(0) win 32792 <mss 1000,nop,wscale 7>
outbound sniffed packet:  0.000558 S. 0:0(0) ack 1 win 64240 <mss 1460,nop,wscale 7>
0.010760 accept(3, ..., ...) = 4
0.010893 accept() returned 9
inbound injected packet: 0.010974 P. 1:101(100) ack 1 win 257
outbound sniffed packet:  0.010972 . 1:1(0) ack 101 win 502 <nop,nop,sack 1:2>
";

    /// A run whose last sniffed packet differs from the script's in two fields.
    fn differing_run() -> RunRecord {
        let mut run = sample_run("tcp/a.pkt", Some("ipv4"), Status::Failed, "");
        run.transcript = HANDSHAKE.to_string();
        let mut failure = Failure::at(
            "a.pkt",
            13,
            FailureKind::Packet {
                mismatch: PacketMismatch::Field {
                    name: "tcp_ack_seq".into(),
                    expected: 100,
                    actual: 101,
                },
            },
        );
        failure.details = vec![
            "script packet:  0.010979 . 1:1(0) ack 100 <sack 1:2 & more>".into(),
            "actual packet:  0.010972 . 1:1(0) ack 101 win 502 <nop,nop,sack 1:2>".into(),
            "  differs: tcp ack          expected: 100  actual: 101".into(),
            "  differs: tcp option sack  expected: 1:2  actual: absent".into(),
        ];
        run.message = failure.headline();
        run.failure = Some(failure);
        run
    }

    #[test]
    fn a_differing_packet_is_drawn_in_red_with_its_fields() {
        let svg = Ladder::of(&differing_run(), "kernel").render();
        let elements = parse(&svg);
        assert!(!svg.contains("style="), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        // Four arrows in the transcript's order: in, out, in, and the differing one out in red.
        let arrows = arrows(&elements);
        let directions: Vec<bool> = arrows.iter().map(|(from, to, ..)| from < to).collect();
        assert_eq!(directions, [true, false, true, false]);
        assert!(arrows[..3]
            .iter()
            .all(|(_, _, dashed, colour)| !dashed && colour == INK));
        assert_eq!(arrows[3].3, RED);
        let texts = texts(&elements);
        let position = |wanted: &str| {
            texts
                .iter()
                .position(|text| *text == wanted)
                .unwrap_or_else(|| panic!("no text {wanted:?} in {texts:#?}"))
        };
        let order = [
            "socket(..., SOCK_STREAM, IPPROTO_TCP) = 3 → 7",
            "S 0:0(0) win 32792 <mss 1000,nop,wscale 7>",
            "S. 0:0(0) ack 1 win 64240 <mss 1460,nop,wscale 7>",
            "accept(3, ..., ...) = 4 → 9",
            "P. 1:101(100) ack 1 win 257",
            ". 1:1(0) ack 101 win 502 <nop,nop,sack 1:2>",
            "expected: . 1:1(0) ack 100 <sack 1:2 & more>",
            "differs: tcp ack, tcp option sack",
        ];
        let positions: Vec<usize> = order.iter().map(|text| position(text)).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{texts:#?}");
        // Escaped in the file, the times in their column, the lifelines named.
        assert!(svg.contains("&lt;mss 1000,nop,wscale 7&gt;"));
        assert!(svg.contains("&lt;sack 1:2 &amp; more&gt;"));
        assert!(texts.contains(&"0.010972") && texts.contains(&"stackdrill (remote)"));
        assert!(texts.contains(&"kernel"));
        // The error text at the bottom.
        let error = position(
            "a.pkt:13: error handling packet: live packet field tcp_ack_seq: expected: 100 (0x64) vs actual: 101 (0x65)",
        );
        assert!(error > positions[7]);
        assert_eq!(
            elements[0].attribute("font-family"),
            "monospace",
            "presentation attributes, not CSS"
        );
    }

    #[test]
    fn a_missing_packet_is_a_dashed_arrow_after_what_came_instead() {
        let mut run = sample_run("t.pkt", None, Status::Failed, "");
        run.transcript = HANDSHAKE.to_string();
        let mut failure = Failure::at("t.pkt", 11, FailureKind::PacketMissing);
        failure.details = vec![
            "script packet:  0.110982 P. 1:101(100) ack 1".into(),
            "  packets that arrived while waiting for it (none of the socket under test):".into(),
            "     0.050000 192.0.2.1:8080 > 192.168.0.1:99 R 0:0(0) win 0".into(),
        ];
        run.failure = Some(failure);
        let elements = parse(&Ladder::of(&run, "libx.so").render());
        let arrows = arrows(&elements);
        assert_eq!(arrows.len(), 6);
        assert_eq!(arrows[4].3, GREY, "the packet that passed by");
        let (from, to, dashed, colour) = &arrows[5];
        assert!(from > to && *dashed && colour == RED);
        let texts = texts(&elements);
        let expected = texts
            .iter()
            .position(|t| *t == "expected P. 1:101(100) ack 1")
            .unwrap();
        assert_eq!(texts[expected - 1], "0.110982");
        assert_eq!(texts[expected + 1], "did not arrive");
        assert!(texts.contains(&"192.0.2.1:8080 > 192.168.0.1:99 R 0:0(0) win 0"));
        assert!(texts.contains(&"libx.so"));
    }

    #[test]
    fn a_failing_call_is_a_red_note_with_its_mismatch() {
        let mut run = sample_run("t.pkt", None, Status::Failed, "");
        run.transcript = format!("{HANDSHAKE}0.011199 read(4, ..., 1000) = 50\n");
        run.failure = Some(Failure::at(
            "t.pkt",
            12,
            FailureKind::Syscall {
                call: "read".into(),
                mismatch: CallMismatch::Result {
                    expected: Some(50),
                    actual: 100,
                    errno: 0,
                },
            },
        ));
        let elements = parse(&Ladder::of(&run, "kernel").render());
        let notes: Vec<&Element> = elements
            .iter()
            .filter(|e| e.name == "rect" && e.attribute("stroke") == RED)
            .collect();
        assert_eq!(notes.len(), 1);
        let texts = texts(&elements);
        let note = texts
            .iter()
            .position(|t| *t == "read(4, ..., 1000) = 50")
            .unwrap();
        assert_eq!(
            texts[note + 1],
            "Expected result 50 but got 100 with errno 0 (Success)"
        );
    }

    #[test]
    fn a_timed_out_run_shows_what_was_still_going() {
        let mut run = sample_run("t.pkt", None, Status::TimedOut, "timed out after 2 s");
        run.transcript = format!("{HANDSHAKE}0.011199 `sleep 20`\n");
        let elements = parse(&Ladder::of(&run, "kernel").render());
        let texts = texts(&elements);
        let note = texts.iter().position(|t| *t == "`sleep 20`").unwrap();
        assert_eq!(texts[note + 1], "still going when the run timed out");
        assert_eq!(texts.last(), Some(&"timed out after 2 s"));
        // A call that returned is no culprit.
        run.transcript = HANDSHAKE.replace("accept() returned 9", "accept() returned 4");
        run.transcript
            .push_str("0.02 close(4) = 0\n0.03 close() returned 0\n");
        let texts_of = |run: &RunRecord| {
            parse(&Ladder::of(run, "kernel").render())
                .into_iter()
                .filter(|e| e.name == "text")
                .map(|e| e.text)
                .collect::<Vec<String>>()
        };
        let texts = texts_of(&run);
        assert!(
            !texts.iter().any(|t| t.contains("still going")),
            "{texts:?}"
        );
        assert!(texts.contains(&"accept(3, ..., ...) = 4".to_string()));
    }

    #[test]
    fn a_long_run_keeps_its_start_and_its_end() {
        let mut run = differing_run();
        let mut transcript = String::new();
        for i in 0..1000 {
            transcript.push_str(&format!(
                "inbound injected packet: {:.6} . {i}:{}(1) ack 1 win 257\n",
                f64::from(i) / 1000.0,
                i + 1
            ));
        }
        transcript.push_str("outbound sniffed packet:  1.000000 . 1:1(0) ack 101 win 502\n");
        run.transcript = transcript;
        let ladder = Ladder::of(&run, "kernel");
        assert_eq!(ladder.rows.len(), MAX_ROWS);
        assert_eq!(
            ladder.rows[HEAD_ROWS],
            Row::Omitted {
                packets: 1001 - (MAX_ROWS - 1),
                notes: 0
            }
        );
        let svg = ladder.render();
        assert!(
            !svg.contains("style="),
            "not even font-style, a presentation attribute"
        );
        let elements = parse(&svg);
        let texts = texts(&elements);
        assert!(
            texts.contains(&"… 602 more packets not shown …"),
            "{texts:?}"
        );
        assert!(texts.contains(&". 0:1(1) ack 1 win 257"));
        assert!(!texts.contains(&". 500:501(1) ack 1 win 257"));
        assert!(texts.contains(&"differs: tcp ack, tcp option sack"));
        assert_eq!(arrows(&elements).len(), MAX_ROWS - 1);
    }

    #[test]
    fn control_characters_and_long_errors_stay_well_formed() {
        let mut run = sample_run("t.pkt", None, Status::Crashed, "");
        run.message = format!("killed \u{1b}[31m<&> {}", "word ".repeat(60));
        run.transcript =
            "0.000001 `echo \u{7}<b>`\n42 packets sent\n1.5 seconds (approx)\n".to_string();
        let svg = Ladder::of(&run, "kernel").render();
        let elements = parse(&svg);
        let texts = texts(&elements);
        assert!(texts.contains(&"`echo \u{fffd}<b>`"), "{texts:?}");
        // Lines of the transcript that are not the run's events are left out.
        assert_eq!(Ladder::of(&run, "kernel").rows.len(), 1);
        let error: Vec<&&str> = texts
            .iter()
            .filter(|t| t.starts_with("word") || t.starts_with("killed"))
            .collect();
        assert!(error.len() >= 2, "wrapped: {error:?}");
        assert!(error[0].starts_with("killed \u{fffd}[31m<&> word"));
        assert!(error
            .iter()
            .all(|line| !line.ends_with(' ') && !line.contains("wor\n")));
    }
}
