//! What a person watching a suite sees while it runs: on a terminal, a live progress bar
//! (indicatif) with failures printed above it as they happen; otherwise (Jenkins logs, pipes)
//! one plain line per finished run.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::{RunRecord, Status};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    finished: AtomicUsize,
}

impl Progress {
    /// Progress on stderr: a bar when stderr is a terminal, lines otherwise.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {wide_msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            total,
            finished: AtomicUsize::new(0),
        }
    }

    /// A run ended (or was retried): show it.
    pub fn finished(&self, run: &RunRecord, retry: bool) {
        let number = if retry {
            self.finished.load(Ordering::SeqCst)
        } else {
            self.finished.fetch_add(1, Ordering::SeqCst) + 1
        };
        let mut line = format!(
            "[{number:>width$}/{}] {:<7} {} {:.2}s",
            self.total,
            run.status.label(),
            run.label(),
            run.duration.as_secs_f64(),
            width = self.total.to_string().len()
        );
        if retry {
            line.push_str(&format!(" (retried alone, attempt {})", run.attempts));
        }
        if !run.message.is_empty() && run.status != Status::Passed {
            line.push_str(": ");
            line.push_str(&run.message);
        }
        match &self.bar {
            Some(bar) => {
                if run.status != Status::Passed || retry {
                    bar.println(line);
                }
                if !retry {
                    bar.inc(1);
                }
                bar.set_message(run.label());
            }
            None => eprintln!("{line}"),
        }
    }

    /// A note for the person watching (interruption, retries starting).
    pub fn note(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
