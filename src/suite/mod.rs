//! Many scripts at once (suite mode): every `*.pkt` under the given paths × its IP-version
//! variants (× the `--compare` targets), each run as a child process of this binary in its own process group, PID, mount
//! and network namespaces, `--jobs` at a time, longest first; near misses in timing retried
//! alone; the verdicts rendered as the reports asked for (and, comparing, as a matrix), with a ladder diagram per failing run. Ctrl-C or SIGTERM stops every child
//! and still writes the reports (with the runs that never ended marked not run).

pub mod child;
pub mod compare;
pub mod expect;
pub mod history;
pub mod janitor;
pub mod merge;
pub mod plan;
pub mod progress;
pub mod report_in;
pub mod requirement_tags;
pub mod sandbox;
pub mod shard;
pub mod variants;
pub mod zygote;

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cli::CommandLine;
use crate::report::matrix::CompareMatrix;
use crate::report::requirements::RequirementMatrix;
use crate::report::{self, RunRecord, Status, SuiteResult};
use crate::verdict::{self, CallMismatch, Failure, FailureKind, Verdict, VERDICT_FILE_ENV};

use crate::cli::suite::{ReportTarget, SuiteOptions};
use child::{ChildCommand, ChildExit, ChildOutcome};
use expect::Expectation;
use plan::PlannedRun;

/// A timing failure this close to the tolerance is retried alone: the kernel's timers fire on
/// jiffy boundaries (4 ms here), and a loaded machine can push one of them a tick late.
const NEAR_MISS: Duration = Duration::from_millis(10);

/// Runs start at least this far apart: every start is a burst of kernel work (namespaces, tun
/// device, the script's init commands), and a dozen at once delay the runs already going.
const LAUNCH_SPACING: Duration = Duration::from_millis(40);

/// Variants of scripts shorter than this run one after another (see [`Queue`]).
const SERIAL_VARIANTS_BELOW: Duration = Duration::from_secs(2);

/// Pause between the parallel phase and the retries.
const RETRY_SETTLE: Duration = Duration::from_millis(500);

/// Every `*.pkt` file at or below `path`, sorted; `path` itself if it is a file.
pub fn scripts_under(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry_path = entry?.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else if entry_path.extension().is_some_and(|e| e == "pkt") {
                found.push(entry_path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether the command line asks for suite mode: a directory among the paths, or a suite flag.
pub fn is_requested(command_line: &CommandLine) -> bool {
    !command_line.suite_settings.is_empty() || command_line.scripts.iter().any(|p| p.is_dir())
}

/// Runs the suite and writes its reports (and, with `--compare`, prints the matrix after the
/// summary line). Returns the exit status: 0 when every run passed or failed as expected (also
/// when comparing: the matrix is information), 1 otherwise, 128+N after signal N interrupted it.
pub fn run_suite(command_line: &CommandLine, options: &SuiteOptions) -> i32 {
    if options.variants != variants::VariantSelection::AsGiven
        && command_line.settings.iter().any(|s| s.name == "ip_version")
    {
        eprintln!("stackdrill: error: --variants and --ip_version cannot be combined");
        return 1;
    }
    for (flag, path) in options.report_files() {
        if let Err(e) = check_writable(path) {
            eprintln!(
                "stackdrill: error: bad --{flag}: cannot write '{}' ({e})",
                path.display()
            );
            return 1;
        }
    }
    let targets = match compare_targets(command_line, options) {
        Ok(targets) => targets,
        Err(e) => {
            eprintln!("stackdrill: error: --compare: {e}");
            return 1;
        }
    };
    let suite_library = command_line
        .settings
        .iter()
        .find(|setting| setting.name == "so_filename")
        .and_then(|setting| setting.value.as_deref())
        .map(Path::new);
    let runs = match plan::plan_runs(&command_line.scripts, &options.variants) {
        Ok(runs) => plan::for_stacks(plan::on_targets(runs, &targets), suite_library),
        Err(e) => {
            eprintln!("stackdrill: error: {e}");
            return 1;
        }
    };
    let runs = match shard::select_for(runs, options.shard, options.shard_durations.as_deref()) {
        Ok(runs) => runs,
        Err(e) => {
            eprintln!("stackdrill: error: {e}");
            return 1;
        }
    };
    if options.list_runs {
        print!("{}", shard::listing(&runs, options.shard));
        return 0;
    }
    let runs: Vec<PlannedRun> = runs.into_iter().map(|(run, _)| run).collect();
    let program = match std::env::current_exe() {
        Ok(program) => program,
        Err(e) => {
            eprintln!("stackdrill: error: cannot find the stackdrill binary: {e}");
            return 1;
        }
    };
    if let Some(dir) = &options.pcap_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!(
                "stackdrill: error: bad --pcap_dir: '{}' ({e})",
                dir.display()
            );
            return 1;
        }
    }
    sweep_stale_scratch(&std::env::temp_dir());
    let scratch = std::env::temp_dir().join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        eprintln!(
            "stackdrill: error: cannot create {}: {e}",
            scratch.display()
        );
        return 1;
    }

    // Removes the scratch folder should this process be killed before it can.
    let janitor = janitor::Janitor::start(&program, &scratch);

    let signal = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(AtomicBool::new(false));
    for number in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // Actions run in registration order: a second signal finds `seen` set and ends the
        // runner at once (its children die with it: PDEATHSIG); the first only sets flags.
        let _ = signal_hook::flag::register_conditional_shutdown(
            number,
            128 + number,
            Arc::clone(&seen),
        );
        let _ = signal_hook::flag::register(number, Arc::clone(&seen));
        let _ = signal_hook::flag::register_usize(number, Arc::clone(&signal), number as usize);
    }

    let zygote = start_zygote(command_line, &program);
    let runner = Runner {
        zygote,
        program,
        command_line,
        options,
        scratch: scratch.clone(),
        signal,
        progress: progress::Progress::new(runs.len()),
        machine_slow: variants::MachineSlow::of(
            &options.variants,
            std::env::var_os("KSFT_MACHINE_SLOW").as_deref(),
        ),
    };
    let started = Instant::now();
    let invocation = invocation(std::time::SystemTime::now());
    let mut records = runner.run_all(&runs);
    runner.retry_near_misses(&runs, &mut records);
    runner.progress.done(&records);
    write_ladders(&mut records, options.html.as_deref(), suite_library);
    let _ = std::fs::remove_dir_all(&scratch);
    drop(janitor);

    let interrupted_by = runner.signal.load(Ordering::SeqCst);
    let suite = SuiteResult {
        runs: records,
        wall: started.elapsed(),
        jobs: options.jobs,
        interrupted: interrupted_by != 0,
        targets: targets.into_iter().map(|target| target.label).collect(),
    };
    let mut status = if suite.succeeded() { 0 } else { 1 };
    if let Err(e) = write_reports(&suite, options, invocation) {
        eprintln!("stackdrill: error: {e}");
        status = 1;
    }
    let mut closing = format!("{}\n", suite.summary_line());
    if let Some(mut matrix) = CompareMatrix::of(&suite) {
        if options.compare_only_disagreements {
            matrix = matrix.only_disagreements();
        }
        closing.push('\n');
        closing.push_str(&matrix.render_text());
    }
    if let Some(matrix) = RequirementMatrix::of(&suite) {
        closing.push('\n');
        closing.push_str(&matrix.render_text());
    }
    if options.report_on_stdout() {
        eprint!("{closing}");
    } else {
        print!("{closing}");
    }
    if interrupted_by != 0 {
        status = 128 + interrupted_by as i32;
    }
    status
}

/// A suite's scratch folder in the temporary directory: this, then the runner's PID.
const SCRATCH_PREFIX: &str = "stackdrill-suite-";

/// Removes the scratch folders of suites whose runner is gone (killed with SIGKILL, it could
/// not remove its own); a folder whose PID is alive is left alone, whoever has the PID now.
fn sweep_stale_scratch(temp_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(temp_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(SCRATCH_PREFIX))
            .and_then(|pid| pid.parse::<i32>().ok())
        else {
            continue;
        };
        let gone = matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(nix::errno::Errno::ESRCH)
        );
        if gone && pid > 0 {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A zygote for the suite's runs when the stack has a process-wide start-up to share (DPDK's
/// EAL), unless `STACKDRILL_NO_ZYGOTE` is set (to measure what it saves); None otherwise, or
/// when it cannot start (each run then starts afresh).
fn start_zygote(command_line: &CommandLine, program: &Path) -> Option<zygote::Zygote> {
    let mut config = crate::cli::Config::default();
    config.apply_all(&command_line.settings).ok()?;
    if !crate::sut::has_process_startup(&config)
        || std::env::var_os("STACKDRILL_NO_ZYGOTE").is_some()
    {
        return None;
    }
    zygote::Zygote::start(program).ok()
}

/// The `--compare` targets (none without `--compare`), checked before anything runs.
fn compare_targets(
    command_line: &CommandLine,
    options: &SuiteOptions,
) -> Result<Vec<compare::CompareTarget>, String> {
    let Some(list) = &options.compare else {
        return Ok(Vec::new());
    };
    compare::check_no_conflicting_flags(&command_line.settings)?;
    let current_dir =
        std::env::current_dir().map_err(|e| format!("cannot find the current directory: {e}"))?;
    compare::parse_targets(list, &current_dir)
}

/// Runs not started yet, and the short scripts running now. Two variants of one short script
/// never run at the same time: scripts name their scratch files after themselves
/// (sendfile-simple.pkt rewrites /tmp/testfile), so concurrent variants would trip over each
/// other. Long scripts (from [`SERIAL_VARIANTS_BELOW`]) are exempt: the corpus's 20 s script
/// three times in a row would set the suite's length alone.
struct Queue {
    waiting: VecDeque<usize>,
    running: BTreeSet<PathBuf>,
    last_launch: Instant,
}

impl Queue {
    /// The next run whose script is not running.
    fn take(&mut self, runs: &[PlannedRun]) -> Take {
        if self.waiting.is_empty() {
            return Take::Done;
        }
        let eligible = self
            .waiting
            .iter()
            .position(|index| !self.running.contains(&runs[*index].script));
        match eligible.and_then(|position| self.waiting.remove(position)) {
            Some(index) => {
                if runs[index].estimated < SERIAL_VARIANTS_BELOW {
                    self.running.insert(runs[index].script.clone());
                }
                Take::Run(index)
            }
            None => Take::Wait,
        }
    }
}

/// Which part of the suite a run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Parallel,
    /// A near miss run again alone.
    Retry,
}

enum Take {
    Run(usize),
    /// Every waiting run's script is running: look again shortly.
    Wait,
    Done,
}

struct Runner<'a> {
    /// Forks the runs when the stack has a process-wide start-up to share (see zygote.rs).
    zygote: Option<zygote::Zygote>,
    program: PathBuf,
    command_line: &'a CommandLine,
    options: &'a SuiteOptions,
    scratch: PathBuf,
    /// The number of the signal that interrupted the suite, or 0.
    signal: Arc<AtomicUsize>,
    progress: progress::Progress,
    /// `KSFT_MACHINE_SLOW` under `--variants=ksft`: a wider tolerance, failures forgiven.
    machine_slow: variants::MachineSlow,
}

impl Runner<'_> {
    /// Whether Ctrl-C or SIGTERM arrived.
    fn interrupted(&self) -> bool {
        self.signal.load(Ordering::SeqCst) != 0
    }

    /// The parallel phase: `--jobs` workers take runs longest first.
    fn run_all(&self, runs: &[PlannedRun]) -> Vec<RunRecord> {
        let queue = Mutex::new(Queue {
            waiting: plan::start_order(runs).into_iter().collect(),
            running: BTreeSet::new(),
            last_launch: Instant::now() - LAUNCH_SPACING,
        });
        let records: Mutex<Vec<Option<RunRecord>>> = Mutex::new(vec![None; runs.len()]);
        std::thread::scope(|scope| {
            for _ in 0..self.options.jobs.min(runs.len()) {
                scope.spawn(|| loop {
                    if self.interrupted() {
                        break;
                    }
                    let take = {
                        let mut queue = queue.lock().unwrap();
                        let take = queue.take(runs);
                        if matches!(take, Take::Run(_)) {
                            // Held under the lock: the next start waits for the spacing.
                            let since = queue.last_launch.elapsed();
                            if since < LAUNCH_SPACING {
                                std::thread::sleep(LAUNCH_SPACING - since);
                            }
                            queue.last_launch = Instant::now();
                        }
                        take
                    };
                    let index = match take {
                        Take::Run(index) => index,
                        Take::Wait => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                        Take::Done => break,
                    };
                    let record = self.run_one(&runs[index], index, Phase::Parallel);
                    queue.lock().unwrap().running.remove(&runs[index].script);
                    self.progress.finished(&record, false);
                    records.lock().unwrap()[index] = Some(record);
                });
            }
        });
        if self.interrupted() {
            self.progress
                .note("interrupted: children stopped; writing the reports");
        }
        records
            .into_inner()
            .unwrap()
            .into_iter()
            .zip(runs)
            .map(|(record, run)| {
                record.unwrap_or_else(|| self.record(run, not_run_outcome(), None))
            })
            .collect()
    }

    /// Runs that failed by a near miss in timing run again, one at a time, with nothing else
    /// loading the machine: the verdict is then the one a serial run gives. The variants of one
    /// long script (from [`SERIAL_VARIANTS_BELOW`], whose variants share the parallel phase
    /// too) retry together: one after another, the corpus's 13 s script alone cost 39 s.
    fn retry_near_misses(&self, runs: &[PlannedRun], records: &mut [RunRecord]) {
        let candidates: Vec<usize> = (0..records.len())
            .filter(|i| deserves_retry(&records[*i]))
            .collect();
        if candidates.is_empty() || self.options.timing_retries == 0 {
            return;
        }
        self.progress.note(&format!(
            "retrying {} near misses in timing alone",
            candidates.len()
        ));
        // Let the kernel finish tearing down the last parallel runs' namespaces first.
        std::thread::sleep(RETRY_SETTLE);
        for group in retry_groups(runs, &candidates) {
            if self.interrupted() {
                return;
            }
            let retried: Vec<(usize, RunRecord)> = std::thread::scope(|scope| {
                let retrying: Vec<_> = group
                    .iter()
                    .map(|&index| {
                        let previous = records[index].clone();
                        scope.spawn(move || (index, self.retry(&runs[index], index, previous)))
                    })
                    .collect();
                retrying
                    .into_iter()
                    .filter_map(|thread| thread.join().ok())
                    .collect()
            });
            for (index, record) in retried {
                records[index] = record;
            }
        }
    }

    /// Runs `run` again (up to `--timing_retries` times while it keeps failing by a near
    /// miss); the record of its last attempt, carrying the earlier ones' messages.
    fn retry(&self, run: &PlannedRun, index: usize, mut previous: RunRecord) -> RunRecord {
        for _ in 0..self.options.timing_retries {
            if self.interrupted() {
                break;
            }
            let mut retried = self.run_one(run, index, Phase::Retry);
            retried.attempts = previous.attempts + 1;
            retried.earlier_failures = previous.earlier_failures.clone();
            retried.earlier_failures.push(previous.message.clone());
            retried.cpu += previous.cpu;
            self.progress.finished(&retried, true);
            let again = deserves_retry(&retried);
            previous = retried;
            if !again {
                break;
            }
        }
        previous
    }

    fn run_one(&self, run: &PlannedRun, index: usize, phase: Phase) -> RunRecord {
        let _running = self.progress.started(progress_label(run));
        let mut command = self.child_command(run, phase);
        let injection_log = self.scratch.join(format!("{index}.injections"));
        let verdict_file = self.scratch.join(format!("{index}.verdict"));
        let _ = std::fs::remove_file(&injection_log);
        let _ = std::fs::remove_file(&verdict_file);
        command.env.push((
            "STACKDRILL_INJECTION_LOG".to_string(),
            injection_log.display().to_string(),
        ));
        command.env.push((
            VERDICT_FILE_ENV.to_string(),
            verdict_file.display().to_string(),
        ));
        let scratch = self.scratch.join(index.to_string());
        let interrupted = || self.interrupted();
        let spawner: &dyn child::Spawner = match &self.zygote {
            Some(zygote) => zygote,
            None => &child::NewProcess,
        };
        let outcome = child::run_child(
            &command,
            spawner,
            self.options.timeout,
            &interrupted,
            &scratch,
        );
        let verdict = verdict::read_from_child(&verdict_file);
        let mut record = self.record(run, outcome, verdict);
        record.environment = verdict::take_environment_from_child(&verdict_file);
        record.injection_delay_max_us = largest_injection_delay(&injection_log);
        let _ = std::fs::remove_file(&injection_log);
        let _ = std::fs::remove_file(&verdict_file);
        command.env.clear();
        record.command = command.shell_line();
        record
    }

    /// `stackdrill [variant flags] [the command line's flags] --verbose [--pcap=F]
    /// [--pin_cpu=start] -- NAME`, run from the script's directory as run_all.py does.
    fn child_command(&self, run: &PlannedRun, phase: Phase) -> ChildCommand {
        let mut args: Vec<String> = Vec::new();
        if let Some(variant) = run.variant {
            args.extend(
                self.options
                    .variants
                    .flags(variant)
                    .iter()
                    .map(|s| s.to_string()),
            );
            args.extend(self.machine_slow.flags().iter().map(|s| s.to_string()));
        }
        args.extend(self.command_line.settings.iter().map(setting_for_child));
        if let Some(target) = &run.target {
            args.extend(target.child_args());
        }
        if !self
            .command_line
            .settings
            .iter()
            .any(|s| s.name == "verbose")
        {
            args.push("--verbose".to_string());
        }
        if let Some(pcap) = self.pcap_path(run) {
            args.push(format!("--pcap={}", pcap.display()));
        }
        // A run alone (a retry, or every run with --jobs=1) keeps to one CPU, which keeps the
        // kernel's timers on their tick (src/sut/kernel/cpu.rs). In parallel, each child's threads go
        // where the scheduler finds room: kept on one CPU each, 12 jobs on 2 cores had 25-29
        // near misses to retry instead of 1-9.
        let pinned_by_user = self
            .command_line
            .settings
            .iter()
            .any(|s| s.name == "pin_cpu");
        let alone = phase == Phase::Retry || self.options.jobs == 1;
        if alone && !pinned_by_user {
            args.push("--pin_cpu=start".to_string());
        }
        let directory = run.script.parent().unwrap_or(Path::new("/")).to_path_buf();
        let file = run.script.file_name().unwrap_or_default();
        args.push("--".to_string());
        args.push(file.to_string_lossy().into_owned());
        ChildCommand {
            program: self.program.clone(),
            args,
            directory,
            env: Vec::new(),
        }
    }

    /// `DIR/NAME-without-.pkt[.VARIANT][.TARGET].pcap` ([`run_file_stem`]).
    fn pcap_path(&self, run: &PlannedRun) -> Option<PathBuf> {
        let dir = self.options.pcap_dir.as_ref()?;
        let variant = run.variant.map(|variant| variant.to_string());
        let target = run.target.as_ref().map(|target| target.label.as_str());
        let name = format!(
            "{}.pcap",
            run_file_stem(&run.name, variant.as_deref(), target)
        );
        let path = std::path::absolute(dir.join(name)).ok()?;
        std::fs::create_dir_all(path.parent()?).ok()?;
        Some(path)
    }

    /// Turns a child's ending, and the verdict it handed over, into the suite's record.
    fn record(
        &self,
        run: &PlannedRun,
        outcome: ChildOutcome,
        verdict: Option<Verdict>,
    ) -> RunRecord {
        // A run passed when it says so: status 0 alone may be a stack under test that ended
        // the process with _exit(0) mid-run.
        let said_passed = matches!(verdict, Some(Verdict::Passed));
        let failure = match verdict {
            Some(Verdict::Failed(failure)) => Some(failure),
            _ => None,
        };
        let (status, message) = match (&outcome.exit, &run.expectation, &failure) {
            (ChildExit::Code(0), Expectation::Pass, _) if said_passed => {
                (Status::Passed, String::new())
            }
            (ChildExit::Code(0), expectation, _) if said_passed => (
                Status::Failed,
                format!("passed, but expected to {}", expectation.describe()),
            ),
            (ChildExit::Code(_), expectation, Some(failure))
                if expectation.accepts_failure(&failure.render()) =>
            {
                (Status::ExpectedFailure, failure.headline())
            }
            (ChildExit::Code(_), _, Some(failure)) => (Status::Failed, failure.headline()),
            (ChildExit::Code(code), _, None) => (
                Status::Crashed,
                format!("stackdrill exited with status {code} without a verdict"),
            ),
            (ChildExit::TimedOut, expectation, _) => {
                let message = format!("timed out after {} s", self.options.timeout.as_secs_f64());
                if expectation.accepts_timeout() {
                    (Status::ExpectedFailure, message)
                } else {
                    (Status::TimedOut, message)
                }
            }
            (ChildExit::Signal(number), _, _) => (
                Status::Crashed,
                format!(
                    "stackdrill was killed by signal {number} ({})",
                    signal_name(*number)
                ),
            ),
            (ChildExit::Interrupted, _, _) => (Status::NotRun, "interrupted".to_string()),
            (ChildExit::NotStarted(why), _, _) => (Status::Failed, why.clone()),
        };
        // ksft_runner.sh on a slow machine reports any run that did not pass as an expected
        // failure (a pass that a mark expected to fail stays a failure).
        let (status, message) = match status {
            Status::Failed | Status::TimedOut | Status::Crashed
                if run.variant.is_some() && !said_passed =>
            {
                match self.machine_slow.forgiven(&message) {
                    Some(forgiven) => (Status::ExpectedFailure, forgiven),
                    None => (status, message),
                }
            }
            _ => (status, message),
        };
        // An expected failure for a stack's known shortcoming says which, before its error.
        let message = match (&run.expectation, status) {
            (Expectation::CannotPass(mark), Status::ExpectedFailure) => {
                format!("cannot pass on {}: {}; {message}", mark.stack, mark.reason)
            }
            _ => message,
        };
        RunRecord {
            script: run.name.clone(),
            variant: run.variant.map(|v| v.name().to_string()),
            target: run.target.as_ref().map(|target| target.label.clone()),
            requirements: run.requirements.iter().map(ToString::to_string).collect(),
            status,
            expected: run.expectation.describe(),
            message,
            errors: outcome.stderr,
            transcript: outcome.stdout,
            duration: outcome.wall,
            cpu: outcome.cpu,
            attempts: 1,
            earlier_failures: Vec::new(),
            command: String::new(),
            environment: Default::default(),
            injection_delay_max_us: None,
            pcap: self
                .pcap_path(run)
                .filter(|p| p.exists())
                .map(|p| p.display().to_string()),
            ladder: None,
            failure,
        }
    }
}

/// `NAME-without-.pkt[.VARIANT][.TARGET]`: the name, before its extension, of a run's capture
/// and ladder diagram, keeping the script's subdirectories (the target's label with
/// characters other than letters, digits, `.`, `-` and `_` as `_`).
pub(crate) fn run_file_stem(script: &str, variant: Option<&str>, target: Option<&str>) -> String {
    let stem = script.strip_suffix(".pkt").unwrap_or(script);
    let mut name = stem
        .trim_start_matches("../")
        .trim_start_matches('/')
        .to_string();
    if let Some(variant) = variant {
        name.push_str(&format!(".{variant}"));
    }
    if let Some(target) = target {
        let safe: String = target
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        name.push_str(&format!(".{safe}"));
    }
    name
}

/// Writes a ladder diagram for every run that did not pass (nor fail as expected) and sets
/// its `ladder`: beside the run's capture (`a.ipv4.pcap`: `a.ipv4.svg`), or without one in
/// `REPORT-ladders/` beside the HTML report; nowhere without either. `library` is the
/// `--so_filename` the runs load, if any. A diagram that cannot be written is a warning: the
/// verdicts stand.
fn write_ladders(records: &mut [RunRecord], html: Option<&Path>, library: Option<&Path>) {
    let folder = html.map(ladder_folder);
    for record in records
        .iter_mut()
        .filter(|record| !record.status.is_ok() && record.status != Status::NotRun)
    {
        let path = match (&record.pcap, &folder) {
            (Some(pcap), _) => Path::new(pcap).with_extension("svg"),
            (None, Some(folder)) => folder.join(format!(
                "{}.svg",
                run_file_stem(
                    &record.script,
                    record.variant.as_deref(),
                    record.target.as_deref()
                )
            )),
            (None, None) => continue,
        };
        let stack = stack_name(record, library);
        let svg = report::ladder::Ladder::of(record, &stack).render();
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, svg));
        match written {
            Ok(()) => {
                let path = std::path::absolute(&path).unwrap_or(path);
                record.ladder = Some(path.display().to_string());
            }
            Err(e) => eprintln!(
                "stackdrill: warning: cannot write the ladder diagram '{}' ({e})",
                path.display()
            ),
        }
    }
}

/// `REPORT-ladders` beside `REPORT.html`.
fn ladder_folder(html: &Path) -> PathBuf {
    let stem = html
        .file_stem()
        .map_or_else(|| "report".into(), |stem| stem.to_string_lossy());
    html.with_file_name(format!("{stem}-ladders"))
}

/// The stack under test as a ladder names it: the run's `--compare` target, else the
/// library's file name, else the kernel with its release (`kernel 6.18.0`).
fn stack_name(record: &RunRecord, library: Option<&Path>) -> String {
    let name = match (&record.target, library) {
        (Some(target), _) => target.clone(),
        (None, Some(library)) => library.file_name().map_or_else(
            || library.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        ),
        (None, None) => "kernel".to_string(),
    };
    match record.environment.get("kernel") {
        Some(release) if name == "kernel" => format!("kernel {release}"),
        _ => name,
    }
}

/// The run as the progress names it, as the reports do: `SCRIPT (VARIANT) on TARGET`.
fn progress_label(run: &PlannedRun) -> String {
    let mut label = run.name.clone();
    if let Some(variant) = run.variant {
        label.push_str(&format!(" ({variant})"));
    }
    if let Some(target) = &run.target {
        label.push_str(&format!(" on {}", target.label));
    }
    label
}

/// The retries in the order they run, in groups that run at once: the variants of one long
/// script (on one target) together, every other run alone.
fn retry_groups(runs: &[PlannedRun], candidates: &[usize]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for &index in candidates {
        let run = &runs[index];
        let joins = groups.last().is_some_and(|group| {
            let first = &runs[group[0]];
            run.estimated >= SERIAL_VARIANTS_BELOW
                && first.script == run.script
                && first.target == run.target
        });
        match groups.last_mut() {
            Some(group) if joins => group.push(index),
            _ => groups.push(vec![index]),
        }
    }
    groups
}

/// The largest (actual − scheduled) time in µs of a run's injection log (`scheduled actual`
/// per line, written by the run when STACKDRILL_INJECTION_LOG names a file).
fn largest_injection_delay(log: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|line| {
            let (scheduled, actual) = line.split_once(' ')?;
            Some(actual.trim().parse::<i64>().ok()? - scheduled.parse::<i64>().ok()?)
        })
        .max()
}

/// A failure is retried alone when its verdict says its timing was disturbed. (A late
/// injection alone is not enough: retrying every such failure re-ran the corpus's 20 s scripts
/// for failures that have other causes, 59 s of retries measured.)
fn deserves_retry(record: &RunRecord) -> bool {
    record.status == Status::Failed && record.failure.as_ref().is_some_and(is_near_miss)
}

fn not_run_outcome() -> ChildOutcome {
    ChildOutcome {
        exit: ChildExit::Interrupted,
        wall: Duration::ZERO,
        cpu: Duration::ZERO,
        stdout: String::new(),
        stderr: String::new(),
    }
}

/// Whether a failure says the run's timing was disturbed rather than that the stack misbehaved:
/// - stackdrill itself acted late (an inbound packet, a call start, a code snapshot): on a
///   quiet machine that never happens, so any such miss is retried;
/// - the stack answered just outside the tolerance (within [`NEAR_MISS`] past it, or past a
///   time range's ends), or a packet timestamp it reports is within 4 ms + [`NEAR_MISS`].
fn is_near_miss(failure: &Failure) -> bool {
    let near = NEAR_MISS.as_micros() as i64;
    if let Some((event, beyond)) = failure.kind.beyond_tolerance_usecs() {
        return event.is_stackdrills_own() || beyond <= near;
    }
    match &*failure.kind {
        FailureKind::Syscall {
            mismatch:
                CallMismatch::Timestamp {
                    expected_usecs,
                    actual_usecs,
                    ..
                },
            ..
        } => (actual_usecs - expected_usecs).abs() <= 4_000 + near,
        _ => false,
    }
}

fn signal_name(number: i32) -> &'static str {
    match number {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        _ => "signal",
    }
}

/// Fails unless `path` can be written, checked before anything runs so that a typo in a report's
/// path does not cost the suite's whole run: an existing file is opened for appending (its
/// content kept), a new one created and removed again.
fn check_writable(path: &Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    std::fs::remove_file(path)
}

/// How this suite was started, for the reports' headers.
pub(crate) fn invocation(started: std::time::SystemTime) -> report::Invocation {
    report::Invocation {
        command: std::env::args()
            .map(|arg| child::shell_quote(&arg))
            .collect::<Vec<_>>()
            .join(" "),
        version: env!("CARGO_PKG_VERSION").to_string(),
        kernel: nix::sys::utsname::uname().map_or_else(
            |e| format!("unknown ({e})"),
            |uname| uname.release().to_string_lossy().into_owned(),
        ),
        started,
    }
}

/// Writes the reports `options` asks for (`--junit`, `--tap`, `--ktap`, `--json`, `--html`),
/// the HTML one with `invocation` in its header, JSON and JUnit with it as fields.
pub(crate) fn write_reports(
    suite: &SuiteResult,
    options: &SuiteOptions,
    invocation: report::Invocation,
) -> Result<(), String> {
    let write = |flag: &str, path: &Path, text: String| {
        std::fs::write(path, text)
            .map_err(|e| format!("bad --{flag}: cannot write '{}' ({e})", path.display()))
    };
    let write_target = |flag: &str, target: &ReportTarget, text: String| match target {
        ReportTarget::Stdout => {
            print!("{text}");
            Ok(())
        }
        ReportTarget::File(path) => write(flag, path, text),
    };
    if let Some(path) = &options.junit {
        write(
            "junit",
            path,
            report::junit::render(suite, Some(&invocation)),
        )?;
    }
    if let Some(target) = &options.tap {
        write_target("tap", target, report::tap::render_tap(suite))?;
    }
    if let Some(target) = &options.ktap {
        write_target("ktap", target, report::tap::render_ktap(suite))?;
    }
    if let Some(path) = &options.json {
        write("json", path, report::json::render(suite, Some(&invocation)))?;
    }
    if let Some(path) = &options.html {
        report::html::write(
            path,
            suite,
            Some(invocation),
            options.compare_only_disagreements,
        )
        .map_err(|e| format!("bad --html: cannot write '{}' ({e})", path.display()))?;
    }
    Ok(())
}

/// A command-line setting as a child, which runs in its script's directory, must see it: a
/// relative `--so_filename` path (one with a `/`; a bare name is looked up by the dynamic
/// loader) is made absolute against the runner's working directory.
fn setting_for_child(setting: &crate::cli::OptionSetting) -> String {
    match (setting.name.as_str(), &setting.value) {
        ("so_filename", Some(path)) if path.contains('/') && Path::new(path).is_relative() => {
            let absolute = std::env::current_dir()
                .map(|dir| dir.join(path))
                .unwrap_or_else(|_| PathBuf::from(path));
            format!("--so_filename={}", absolute.display())
        }
        _ => setting.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::TimedEvent;

    #[test]
    fn ladders_of_failing_runs_go_beside_their_capture_or_the_report() {
        let dir = std::env::temp_dir().join(format!("stackdrill-ladders-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let run = crate::report::tests::sample_run;
        let mut captured = run("tcp/a.pkt", Some("ipv4"), Status::Failed, "a.pkt:3: bad");
        captured.pcap = Some(dir.join("pcaps/tcp/a.ipv4.pcap").display().to_string());
        let mut compared = run("tcp/b.pkt", None, Status::TimedOut, "timed out after 2 s");
        compared.target = Some("so:/x/lib x.so".to_string());
        let records = &mut [
            captured,
            compared,
            run("tcp/c.pkt", None, Status::Passed, ""),
            run("tcp/d.pkt", None, Status::ExpectedFailure, "d.pkt:1: fine"),
        ];
        write_ladders(records, Some(&dir.join("r.html")), None);
        let svg = dir.join("pcaps/tcp/a.ipv4.svg");
        assert_eq!(records[0].ladder, Some(svg.display().to_string()));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains(">kernel 6.18</text>"), "{text}");
        let beside_report = dir.join("r-ladders/tcp/b.so__x_lib_x.so.svg");
        assert_eq!(records[1].ladder, Some(beside_report.display().to_string()));
        assert!(std::fs::read_to_string(&beside_report)
            .unwrap()
            .contains(">so:/x/lib x.so</text>"));
        assert_eq!((&records[2].ladder, &records[3].ladder), (&None, &None));
        // Without a capture or a report, nowhere; the library names the stack.
        let mut alone = run("e.pkt", None, Status::Failed, "e.pkt:1: bad");
        write_ladders(std::slice::from_mut(&mut alone), None, None);
        assert_eq!(alone.ladder, None);
        assert_eq!(
            stack_name(&alone, Some(Path::new("/opt/libtcp.so"))),
            "libtcp.so"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn children_get_an_absolute_library_path() {
        use crate::cli::OptionSetting;
        let relative = OptionSetting::new("so_filename", Some("target/libx.so"));
        let expected = std::env::current_dir().unwrap().join("target/libx.so");
        assert_eq!(
            setting_for_child(&relative),
            format!("--so_filename={}", expected.display())
        );
        for kept in ["libx.so", "/opt/libx.so"] {
            let setting = OptionSetting::new("so_filename", Some(kept));
            assert_eq!(setting_for_child(&setting), format!("--so_filename={kept}"));
        }
        let other = OptionSetting::new("mtu", Some("1400"));
        assert_eq!(setting_for_child(&other), "--mtu=1400");
    }

    fn timing(event: TimedEvent, expected: f64, actual: f64, tolerance: f64) -> Failure {
        let usecs = |secs: f64| (secs * 1e6).round() as i64;
        Failure::at(
            "x.pkt",
            20,
            FailureKind::Timing {
                event,
                expected_usecs: usecs(expected),
                expected_end_usecs: None,
                actual_usecs: usecs(actual),
                tolerance_usecs: usecs(tolerance),
            },
        )
    }

    fn timestamp(expected_usecs: i64, actual_usecs: i64) -> Failure {
        Failure::at(
            "x.pkt",
            39,
            FailureKind::Syscall {
                call: "recvmsg".to_string(),
                mismatch: CallMismatch::Timestamp {
                    index: 0,
                    cmsg: 0,
                    expected_usecs,
                    actual_usecs,
                    start_usecs: 0,
                },
            },
        )
    }

    #[test]
    fn stale_scratch_folders_are_swept_and_live_ones_kept() {
        let temp = std::env::temp_dir().join(format!("stackdrill-sweep-{}", std::process::id()));
        // PID 2^22+1 is above pid_max's largest value, so it is never alive.
        let dead = temp.join(format!("{SCRATCH_PREFIX}4194305"));
        let alive = temp.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        let other = temp.join("stackdrill-suite-notapid");
        for dir in [&dead, &alive, &other] {
            std::fs::create_dir_all(dir.join("0")).unwrap();
        }
        sweep_stale_scratch(&temp);
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists());
        std::fs::remove_dir_all(&temp).unwrap();
    }

    #[test]
    fn the_variants_of_a_long_script_retry_together() {
        let run = |script: &str, secs: u64| PlannedRun {
            script: PathBuf::from(script),
            name: script.to_string(),
            variant: None,
            target: None,
            expectation: Expectation::Pass,
            cannot_pass: Vec::new(),
            requirements: Vec::new(),
            estimated: Duration::from_secs(secs),
        };
        let runs = [
            run("short.pkt", 0),
            run("short.pkt", 0),
            run("long.pkt", 13),
            run("long.pkt", 13),
            run("long.pkt", 13),
            run("other.pkt", 13),
        ];
        assert_eq!(
            retry_groups(&runs, &[0, 1, 2, 3, 4, 5]),
            [vec![0], vec![1], vec![2, 3, 4], vec![5]]
        );
        assert_eq!(retry_groups(&runs, &[2, 4]), [vec![2, 4]]);
    }

    #[test]
    fn near_misses_are_small_timing_errors_only() {
        let outbound = TimedEvent::OutboundPacket;
        assert!(is_near_miss(&timing(outbound, 0.011591, 0.015761, 0.004)));
        assert!(is_near_miss(&timing(outbound, 0.2, 0.19, 0.004)));
        assert!(!is_near_miss(&timing(outbound, 3.028, 2.051, 0.25)));
        assert!(!is_near_miss(&timing(
            TimedEvent::SyscallReturn,
            1.0,
            1.5,
            0.004
        )));
        let payload = FailureKind::Packet {
            mismatch: crate::verdict::PacketMismatch::PayloadLength {
                expected: 1000,
                actual: 2000,
            },
        };
        assert!(!is_near_miss(&Failure::at("x.pkt", 25, payload)));
        // stackdrill's own lateness is always retried, however late.
        assert!(is_near_miss(&timing(
            TimedEvent::InboundPacket,
            0.120981,
            0.183455,
            0.004
        )));
        assert!(is_near_miss(&timestamp(20_000, 24_667)));
        assert!(!is_near_miss(&timestamp(20_000, 124_667)));
    }

    #[test]
    fn a_range_is_missed_by_its_nearest_end() {
        let mut failure = timing(TimedEvent::OutboundPacket, 0.1, 0.21, 0.004);
        assert!(!is_near_miss(&failure), "110 ms after the time given");
        if let FailureKind::Timing {
            expected_end_usecs, ..
        } = &mut *failure.kind
        {
            *expected_end_usecs = Some(200_000);
        }
        assert!(is_near_miss(&failure), "10 ms after the range's end");
    }
}
