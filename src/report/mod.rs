//! Reports of a suite: the verdict of every run as data ([`SuiteResult`]), rendered as the
//! summary line, JUnit XML, TAP/KTAP, JSON and an HTML page with its stylesheet. Renderers only
//! read the result (and [`Invocation`], how the suite was started); nothing here runs anything.

pub mod html;
pub mod json;
pub mod junit;
pub mod ladder;
pub mod matrix;
pub mod requirements;
pub mod tap;

use std::time::Duration;

use crate::verdict::Failure;
use serde::Serialize;

/// The verdict of one script × variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Failed (or timed out) as its `// Failure:`, `.exfail` or `.extimeout` marker says.
    ExpectedFailure,
    TimedOut,
    /// Ended by a signal it did not ask for (a crash of stackdrill itself).
    Crashed,
    /// Never ran to the end: the suite was interrupted.
    NotRun,
}

impl Status {
    /// Whether the suite still succeeds with this verdict.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Passed | Status::ExpectedFailure)
    }

    /// Short upper-case label for text output.
    pub fn label(self) -> &'static str {
        match self {
            Status::Passed => "PASS",
            Status::Failed => "FAIL",
            Status::ExpectedFailure => "XFAIL",
            Status::TimedOut => "TIMEOUT",
            Status::Crashed => "CRASH",
            Status::NotRun => "NOTRUN",
        }
    }
}

/// Everything known about one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    /// The script as given (relative to the directory named on the command line).
    pub script: String,
    /// ipv4, ipv4-mapped-ipv6, ipv6, or none when run once as given.
    pub variant: Option<String>,
    /// The `--compare` target's label (`kernel`, a library's file name), or none when the
    /// suite compares no targets.
    pub target: Option<String>,
    /// The requirements the script's tags say it checks (`RFC9293 MUST-13`).
    pub requirements: Vec<String>,
    pub status: Status,
    /// What the script declared (pass, fail matching /…/, time out).
    pub expected: String,
    /// One line: the failure message, or why the verdict is what it is; empty on a pass.
    pub message: String,
    /// The run's error output (packetdrill's failure text: script line, expected vs actual).
    pub errors: String,
    /// The run's --verbose transcript: every packet and call as it happened.
    pub transcript: String,
    #[serde(serialize_with = "seconds")]
    pub duration: Duration,
    #[serde(serialize_with = "seconds")]
    pub cpu: Duration,
    /// Runs made: more than 1 when a near miss in timing was retried alone.
    pub attempts: u32,
    /// Messages of the attempts before the last one.
    pub earlier_failures: Vec<String>,
    /// How to run it again by hand.
    pub command: String,
    /// The stack's setting the run recorded: for the kernel its release (`kernel`) and the TCP
    /// settings of the run's namespace (`net.ipv4.tcp_rmem`...).
    pub environment: std::collections::BTreeMap<String, String>,
    /// How late (µs) the run injected its latest inbound packet, when it injected any.
    pub injection_delay_max_us: Option<i64>,
    /// The run's capture, when `--pcap_dir` was given.
    pub pcap: Option<String>,
    /// The run's ladder diagram (SVG), written for runs that did not pass: beside the capture,
    /// or beside the HTML report without one ([`ladder`]).
    pub ladder: Option<String>,
    /// The failure the run reported, as data (none for passes, time-outs and crashes).
    pub failure: Option<Failure>,
}

impl RunRecord {
    /// `SCRIPT` or `SCRIPT (VARIANT)`, then ` on TARGET` when comparing targets.
    pub fn label(&self) -> String {
        format!("{}{}", self.script_and_variant(), self.target_suffix())
    }

    /// `SCRIPT` or `SCRIPT (VARIANT)`: a row of the comparison matrix.
    pub fn script_and_variant(&self) -> String {
        match &self.variant {
            Some(variant) => format!("{} ({variant})", self.script),
            None => self.script.clone(),
        }
    }

    /// ` on TARGET` when comparing targets, else nothing.
    pub fn target_suffix(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(String::new, |target| format!(" on {target}"))
    }
}

/// The whole suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    /// Runs in report order (scripts sorted, variants in order).
    pub runs: Vec<RunRecord>,
    #[serde(serialize_with = "seconds")]
    pub wall: Duration,
    pub jobs: usize,
    /// Stopped by Ctrl-C or SIGTERM.
    pub interrupted: bool,
    /// The `--compare` targets' labels in the order given; empty when not comparing.
    pub targets: Vec<String>,
}

/// Counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub timed_out: usize,
    pub crashed: usize,
    pub not_run: usize,
    /// Passed only when retried alone.
    pub passed_on_retry: usize,
}

impl SuiteResult {
    /// The environment entries every run that recorded one agrees on (the kernel's release and
    /// TCP settings, as a whole suite on one machine normally shares them).
    pub fn common_environment(&self) -> std::collections::BTreeMap<String, String> {
        let mut recorded = self
            .runs
            .iter()
            .map(|run| &run.environment)
            .filter(|environment| !environment.is_empty());
        let Some(first) = recorded.next() else {
            return Default::default();
        };
        let mut common = first.clone();
        for environment in recorded {
            common.retain(|name, value| environment.get(name) == Some(value));
        }
        common
    }

    pub fn counts(&self) -> Counts {
        let mut counts = Counts {
            total: self.runs.len(),
            ..Counts::default()
        };
        for run in &self.runs {
            match run.status {
                Status::Passed => counts.passed += 1,
                Status::Failed => counts.failed += 1,
                Status::ExpectedFailure => counts.expected_failures += 1,
                Status::TimedOut => counts.timed_out += 1,
                Status::Crashed => counts.crashed += 1,
                Status::NotRun => counts.not_run += 1,
            }
            if run.status == Status::Passed && run.attempts > 1 {
                counts.passed_on_retry += 1;
            }
        }
        counts
    }

    /// Total CPU time of all runs.
    pub fn cpu(&self) -> Duration {
        self.runs.iter().map(|run| run.cpu).sum()
    }

    /// Whether every run passed or failed as expected (the exit status is 0 then).
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.runs.iter().all(|run| run.status.is_ok())
    }

    /// run_all.py's summary line, `Ran N tests: P passing, F failing, T timed out (S sec)`,
    /// with stackdrill's extra counts before the time when there are any. Crashes count as
    /// failing.
    pub fn summary_line(&self) -> String {
        let counts = self.counts();
        let mut line = format!(
            "Ran {} tests: {} passing, {} failing, {} timed out",
            counts.total - counts.not_run,
            counts.passed,
            counts.failed + counts.crashed,
            counts.timed_out
        );
        if counts.expected_failures > 0 {
            line.push_str(&format!(
                ", {} failing as expected",
                counts.expected_failures
            ));
        }
        if counts.passed_on_retry > 0 {
            line.push_str(&format!(
                ", {} of the passing after a retry alone",
                counts.passed_on_retry
            ));
        }
        if counts.not_run > 0 {
            line.push_str(&format!(", {} not run (interrupted)", counts.not_run));
        }
        line.push_str(&format!(" ({:.0} sec)", self.wall.as_secs_f64()));
        line
    }
}

/// How and where a suite ran, for a report's header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invocation {
    /// The command line, as a shell line.
    pub command: String,
    /// stackdrill's version (`CARGO_PKG_VERSION`).
    pub version: String,
    /// The kernel's release (`uname -r`).
    pub kernel: String,
    /// When the suite started.
    #[serde(serialize_with = "utc")]
    pub started: std::time::SystemTime,
}

fn utc<S: serde::Serializer>(
    time: &std::time::SystemTime,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&utc_text(*time))
}

/// `2026-12-05 14:45:13 UTC` (times before 1970 as 1970-01-01 00:00:00 UTC).
pub fn utc_text(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let days = (secs / 86_400) as i64;
    let of_day = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((duration.as_secs_f64() * 1000.0).round() / 1000.0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A run of the sample suites, its error text made from `message`.
    pub(crate) fn sample_run(
        script: &str,
        variant: Option<&str>,
        status: Status,
        message: &str,
    ) -> RunRecord {
        RunRecord {
            script: script.to_string(),
            variant: variant.map(str::to_string),
            target: None,
            requirements: Vec::new(),
            status,
            expected: "pass".to_string(),
            message: message.to_string(),
            errors: if message.is_empty() {
                String::new()
            } else {
                format!("{message}\n  script:  +0.200 > . 1:1(0) ack 1001 <&>\n")
            },
            transcript: "0.000000 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n".to_string(),
            duration: Duration::from_millis(1250),
            cpu: Duration::from_millis(40),
            attempts: 1,
            earlier_failures: Vec::new(),
            command: format!("cd /s && stackdrill {script}"),
            environment: [
                ("kernel", "6.18"),
                ("net.ipv4.tcp_rmem", "4096 131072 6291456"),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
            injection_delay_max_us: Some(12),
            pcap: None,
            ladder: None,
            failure: None,
        }
    }

    /// A small suite with one run of each kind, shared by the renderers' tests.
    /// How a sample suite was started, for the reports' headers and properties.
    pub fn sample_invocation() -> Invocation {
        Invocation {
            command: "stackdrill '--html=a b.html' tests".to_string(),
            version: "0.1.0".to_string(),
            kernel: "6.18.0-test".to_string(),
            started: std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_482_079),
        }
    }

    pub fn sample() -> SuiteResult {
        let run = sample_run;
        let mut retried = run("tcp/b.pkt", Some("ipv6"), Status::Passed, "");
        retried.attempts = 2;
        retried.earlier_failures =
            vec!["b.pkt:9: error handling packet: timing error: …".to_string()];
        let mut expected = run(
            "self/err.pkt",
            None,
            Status::ExpectedFailure,
            "err.pkt:6: runtime error in socket call: errno 93",
        );
        expected.expected = "fail matching /errno 93/".to_string();
        SuiteResult {
            runs: vec![
                run("tcp/a.pkt", Some("ipv4"), Status::Passed, ""),
                run(
                    "tcp/a.pkt",
                    Some("ipv6"),
                    Status::Failed,
                    "a.pkt:14: error handling packet: live packet field tcp_ack: expected 1001 vs actual 1",
                ),
                retried,
                run("tcp/slow.pkt", Some("ipv4"), Status::TimedOut, "timed out after 180 s"),
                expected,
            ],
            wall: Duration::from_millis(52_400),
            jobs: 8,
            interrupted: false,
            targets: Vec::new(),
        }
    }

    /// Four scripts run on two targets: both pass, the library alone fails, both fail, the
    /// kernel alone fails.
    pub fn compared_sample() -> SuiteResult {
        use crate::verdict::{CallMismatch, FailureKind, TimedEvent};
        let targets = ["kernel", "libstackdrill_smoltcp.so"];
        let setsockopt = Failure::at(
            "fastopen.pkt",
            4,
            FailureKind::Syscall {
                call: "setsockopt".into(),
                mismatch: CallMismatch::Result {
                    expected: Some(0),
                    actual: -1,
                    errno: 92,
                },
            },
        );
        let bad_ack = Failure::at(
            "b.pkt",
            9,
            FailureKind::Packet {
                mismatch: "bad ack".into(),
            },
        );
        let late = Failure::at(
            "c.pkt",
            7,
            FailureKind::Timing {
                event: TimedEvent::OutboundPacket,
                expected_usecs: 100_000,
                expected_end_usecs: None,
                actual_usecs: 300_000,
                tolerance_usecs: 4_000,
            },
        );
        let rows = [
            ("tcp/a.pkt", [None, None]),
            ("tcp/fastopen.pkt", [None, Some(setsockopt)]),
            ("tcp/b.pkt", [Some(bad_ack.clone()), Some(bad_ack)]),
            ("tcp/c.pkt", [Some(late), None]),
        ];
        let mut runs = Vec::new();
        for (script, failures) in rows {
            for (target, failure) in targets.iter().zip(failures) {
                let (status, message) = match &failure {
                    None => (Status::Passed, String::new()),
                    Some(failure) => (Status::Failed, failure.headline()),
                };
                let mut run = sample_run(script, None, status, &message);
                run.target = Some(target.to_string());
                run.failure = failure;
                runs.push(run);
            }
        }
        SuiteResult {
            runs,
            wall: Duration::from_millis(3_100),
            jobs: 4,
            interrupted: false,
            targets: targets.map(str::to_string).to_vec(),
        }
    }

    #[test]
    fn dates_are_utc() {
        let at = |secs: u64| utc_text(std::time::UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_796_482_079), "2026-12-05 14:47:59 UTC");
        assert_eq!(at(4_107_542_399), "2100-02-28 23:59:59 UTC");
    }

    #[test]
    fn summary_counts_like_run_all() {
        let suite = sample();
        assert_eq!(
            suite.summary_line(),
            "Ran 5 tests: 2 passing, 1 failing, 1 timed out, 1 failing as expected, \
             1 of the passing after a retry alone (52 sec)"
        );
        assert!(!suite.succeeded());
        let mut plain = sample();
        plain.runs.truncate(1);
        assert_eq!(
            plain.summary_line(),
            "Ran 1 tests: 1 passing, 0 failing, 0 timed out (52 sec)"
        );
        assert!(plain.succeeded());
    }
}
