//! What a person watching a suite sees while it runs: on a terminal, a live progress bar
//! (indicatif) with a line under it per run going now, saying for how long, and failures
//! printed above it as they happen; otherwise (Jenkins logs, pipes) one plain `[N/M]` line per
//! finished run, numbered in the order they are printed. At the end, a recap of every run that
//! did not pass with its first error and the command that reproduces it.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{RunRecord, Status};

/// How often the terminal's lines are redrawn (the running times move on).
const TICK: Duration = Duration::from_millis(200);

pub struct Progress {
    /// On a terminal: the bars (the suite's, then one per run going now) and the suite's bar.
    live: Option<(MultiProgress, ProgressBar)>,
    total: usize,
    /// Runs finished so far, and where lines go without a terminal. A finished run's line is
    /// numbered and printed under this lock, so that the numbers come out in order whichever
    /// worker finished first.
    plain: Mutex<Plain>,
}

struct Plain {
    finished: usize,
    out: Box<dyn Write + Send>,
}

/// A run going now: on a terminal, its line under the suite's bar, removed when it ends.
pub struct Running<'a> {
    progress: &'a Progress,
    line: Option<ProgressBar>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let (Some((multi, _)), Some(line)) = (&self.progress.live, self.line.take()) {
            line.finish_and_clear();
            multi.remove(&line);
        }
    }
}

impl Progress {
    /// Progress on stderr: bars when stderr is a terminal, lines otherwise.
    pub fn new(total: usize) -> Self {
        let mut progress = Self::plain(total, Box::new(std::io::stderr()));
        let live = std::io::stderr().is_terminal().then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let bar = multi.add(ProgressBar::new(total as u64));
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(TICK);
            (multi, bar)
        });
        progress.live = live;
        progress
    }

    /// Progress as plain lines written to `out`.
    fn plain(total: usize, out: Box<dyn Write + Send>) -> Self {
        Self {
            live: None,
            total,
            plain: Mutex::new(Plain { finished: 0, out }),
        }
    }

    /// Writes `text` as plain output (a failure to write progress is no failure of the suite).
    fn print_plain(plain: &mut Plain, text: &str) {
        let _ = plain.out.write_all(text.as_bytes());
        let _ = plain.out.flush();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plain> {
        self.plain
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A run starts: on a terminal, a line `  12s tcp/a.pkt (ipv4)` under the bar until the
    /// returned guard is dropped.
    pub fn started(&self, label: String) -> Running<'_> {
        let line = self.live.as_ref().map(|(multi, _)| {
            let line = multi.add(ProgressBar::new_spinner());
            line.set_style(
                ProgressStyle::with_template("  {spinner} {elapsed:>4} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            line.set_message(label);
            line.enable_steady_tick(TICK);
            line
        });
        Running {
            progress: self,
            line,
        }
    }

    /// A run ended (or was retried): show it.
    pub fn finished(&self, run: &RunRecord, retry: bool) {
        let mut plain = self.lock();
        if !retry {
            plain.finished += 1;
        }
        let line = finished_line(plain.finished, self.total, run, retry);
        match &self.live {
            Some((multi, bar)) => {
                if run.status != Status::Passed || retry {
                    let _ = multi.println(line);
                }
                if !retry {
                    bar.inc(1);
                }
            }
            None => Self::print_plain(&mut plain, &format!("{line}\n")),
        }
    }

    /// A note for the person watching (interruption, retries starting).
    pub fn note(&self, text: &str) {
        match &self.live {
            Some((multi, _)) => {
                let _ = multi.println(text);
            }
            None => Self::print_plain(&mut self.lock(), &format!("{text}\n")),
        }
    }

    /// The runs are over: the bars go, and the recap of what did not pass is printed.
    pub fn done(&self, runs: &[RunRecord]) {
        if let Some((multi, bar)) = &self.live {
            bar.finish_and_clear();
            let _ = multi.clear();
        }
        Self::print_plain(&mut self.lock(), &recap(runs));
    }
}

/// `[ 3/12] FAIL    tcp/a.pkt (ipv6) 0.25s: MESSAGE`.
fn finished_line(number: usize, total: usize, run: &RunRecord, retry: bool) -> String {
    let mut line = format!(
        "[{number:>width$}/{total}] {:<7} {} {:.2}s",
        run.status.label(),
        run.label(),
        run.duration.as_secs_f64(),
        width = total.to_string().len()
    );
    if retry {
        line.push_str(&format!(" (retried alone, attempt {})", run.attempts));
    }
    if !run.message.is_empty() && run.status != Status::Passed {
        line.push_str(": ");
        line.push_str(&run.message);
    }
    line
}

/// Every run that did not pass nor fail as expected, in report order: its verdict, label and
/// first error, then how to run it again. Empty when there is none.
pub fn recap(runs: &[RunRecord]) -> String {
    let failed: Vec<&RunRecord> = runs.iter().filter(|run| !run.status.is_ok()).collect();
    if failed.is_empty() {
        return String::new();
    }
    let mut text = format!(
        "\n{} run{} did not pass:\n",
        failed.len(),
        if failed.len() == 1 { "" } else { "s" }
    );
    for run in failed {
        text.push_str(&format!("{:<7} {}", run.status.label(), run.label()));
        if let Some(first) = run.message.lines().next().filter(|line| !line.is_empty()) {
            text.push_str(": ");
            text.push_str(first);
        }
        text.push('\n');
        if !run.command.is_empty() {
            text.push_str(&format!("        reproduce: {}\n", run.command));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    #[test]
    fn recap_lists_each_failure_with_its_reproduce_command() {
        assert_eq!(
            recap(&sample().runs),
            "\n2 runs did not pass:\n\
             FAIL    tcp/a.pkt (ipv6): a.pkt:14: error handling packet: live packet field \
             tcp_ack: expected 1001 vs actual 1\n        reproduce: cd /s && stackdrill tcp/a.pkt\n\
             TIMEOUT tcp/slow.pkt (ipv4): timed out after 180 s\n        \
             reproduce: cd /s && stackdrill tcp/slow.pkt\n"
        );
        let mut passing = sample();
        passing.runs.retain(|run| run.status.is_ok());
        assert_eq!(recap(&passing.runs), "");
    }

    #[test]
    fn finished_lines_are_numbered() {
        let suite = sample();
        assert_eq!(
            finished_line(3, 12, &suite.runs[1], false),
            "[ 3/12] FAIL    tcp/a.pkt (ipv6) 1.25s: a.pkt:14: error handling packet: live \
             packet field tcp_ack: expected 1001 vs actual 1"
        );
        assert_eq!(
            finished_line(12, 12, &suite.runs[2], true),
            "[12/12] PASS    tcp/b.pkt (ipv6) 1.25s (retried alone, attempt 2)"
        );
    }

    /// Output shared with the test.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_numbered_in_order() {
        // Without a terminal, from many workers at once.
        let out = Shared::default();
        let progress = Progress::plain(64, Box::new(out.clone()));
        let suite = sample();
        std::thread::scope(|scope| {
            for worker in 0..8 {
                let (progress, run) = (&progress, &suite.runs[worker % 2]);
                scope.spawn(move || {
                    for _ in 0..8 {
                        let _running = progress.started(run.label());
                        progress.finished(run, false);
                    }
                });
            }
        });
        progress.done(&suite.runs[..2]);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .filter_map(|line| {
                line.strip_prefix('[')?
                    .split('/')
                    .next()?
                    .trim()
                    .parse()
                    .ok()
            })
            .collect();
        assert_eq!(numbers, (1..=64).collect::<Vec<_>>());
        assert!(text.ends_with(
            "\n1 run did not pass:\nFAIL    tcp/a.pkt (ipv6): a.pkt:14: error handling packet: \
             live packet field tcp_ack: expected 1001 vs actual 1\n        \
             reproduce: cd /s && stackdrill tcp/a.pkt\n"
        ));
    }
}
