//! Runs every script of `tests/scripts/` against the Linux kernel with the real binary.
//!
//! - `tests/scripts/pass/*.pkt` must exit 0;
//! - `tests/scripts/fail/*.pkt` must exit 1, and their stderr — with the numbers that change from
//!   run to run replaced — must match the insta snapshot named after the script.
//!
//! A script's first line may be `// flags: ARG ARG …` (whitespace-separated command-line
//! arguments, e.g. `// flags: -D MSS=1000`). Each run gets the script's directory as working
//! directory and the bare file name as argument, as packetdrill's runners do.
//!
//! Every run creates its own private network namespace, so a few run side by side. The root
//! network namespace must not change: `root_namespace_is_unchanged` compares it (and the test
//! process's children) before and after the whole batch.
//!
//! Creating tun devices needs root (or CAP_NET_ADMIN): when `/dev/net/tun` cannot be opened the
//! tests print why and pass without running anything.

use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// At most this many scripts run at the same time (each in its own namespace), and never more
/// than there are CPUs: stackdrill spins for the last microseconds before each event, and runs
/// starved of CPU time miss their 4 ms timing tolerance.
const MAX_PARALLEL_RUNS: usize = 4;
/// A run that takes longer than this is killed and counts as a failure.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

/// What happened when one script ran.
#[derive(Debug)]
struct Outcome {
    /// Path relative to `tests/scripts`, e.g. `fail/wrong_ack.pkt`.
    rel_path: String,
    /// File name without `.pkt`.
    name: String,
    /// True for `pass/`, false for `fail/`.
    must_pass: bool,
    flags: Vec<String>,
    /// Exit code; `None` when killed (timeout or signal).
    code: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Outcome {
    fn command_line(&self) -> String {
        let mut parts = vec!["stackdrill".to_string()];
        parts.extend(self.flags.iter().cloned());
        parts.push(format!("{}.pkt", self.name));
        parts.join(" ")
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}, in tests/scripts/{}): {} after {:.2} s\n--- stderr ---\n{}--- stdout ---\n{}",
            self.rel_path,
            self.command_line(),
            Path::new(&self.rel_path).parent().unwrap().display(),
            match (self.timed_out, self.code) {
                (true, _) => format!("killed after the {} s timeout", RUN_TIMEOUT.as_secs()),
                (false, Some(c)) => format!("exit status {c}"),
                (false, None) => "killed by a signal".to_string(),
            },
            self.elapsed.as_secs_f64(),
            self.stderr,
            self.stdout,
        )
    }
}

/// The root network namespace (and our children) as seen from the test process.
#[derive(Debug, PartialEq, Eq)]
struct RootState {
    /// (command, normalised output) pairs.
    network: Vec<(String, String)>,
    /// `pid comm` of every process whose parent is the test process.
    children: Vec<String>,
}

/// The whole batch: every script's outcome, and the root namespace around it.
struct Batch {
    outcomes: Vec<Outcome>,
    /// The pass/ scripts that failed only on timing beside the others and were run again
    /// alone, with their first error.
    retried: Vec<String>,
    before: RootState,
    after: RootState,
    elapsed: Duration,
}

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts")
}

/// `None` (after printing why) when this machine cannot create tun devices.
fn batch() -> Option<&'static Batch> {
    static BATCH: OnceLock<Option<Batch>> = OnceLock::new();
    BATCH
        .get_or_init(|| {
            if let Err(e) = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
            {
                eprintln!(
                    "SKIPPED: cannot open /dev/net/tun ({e}); running scripts against the \
                     kernel needs root or CAP_NET_ADMIN"
                );
                return None;
            }
            let before = root_state();
            let start = Instant::now();
            let mut outcomes = run_all(&collect_scripts());
            let retried = retry_timing_failures_alone(&mut outcomes);
            let elapsed = start.elapsed();
            let after = root_state();
            Some(Batch {
                outcomes,
                retried,
                before,
                after,
                elapsed,
            })
        })
        .as_ref()
}

/// Every `.pkt` under `pass/` and `fail/`, sorted, as (relative path, must pass).
fn collect_scripts() -> Vec<(String, bool)> {
    let mut scripts = Vec::new();
    for (dir, must_pass) in [("pass", true), ("fail", false)] {
        let mut names: Vec<String> = std::fs::read_dir(scripts_dir().join(dir))
            .unwrap_or_else(|e| panic!("reading tests/scripts/{dir}: {e}"))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".pkt"))
            .collect();
        names.sort();
        scripts.extend(names.into_iter().map(|n| (format!("{dir}/{n}"), must_pass)));
    }
    assert!(!scripts.is_empty(), "no scripts under tests/scripts");
    scripts
}

/// The arguments of a `// flags: …` first line.
fn script_flags(text: &str) -> Vec<String> {
    text.lines()
        .next()
        .and_then(|line| line.trim().strip_prefix("// flags:"))
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Runs a pass/ script again, alone, when its run beside the others failed only on timing
/// (a packet a few ms off, as load on two cores gives), as a suite retries such a run: the
/// second outcome stands. Returns each retried script with its first failure.
fn retry_timing_failures_alone(outcomes: &mut [Outcome]) -> Vec<String> {
    let mut retried = Vec::new();
    for outcome in outcomes.iter_mut() {
        let first_error = outcome.stderr.lines().next().unwrap_or("");
        if outcome.must_pass && outcome.code != Some(0) && first_error.contains("timing error") {
            retried.push(format!("{}: {first_error}", outcome.rel_path));
            *outcome = run_script(&outcome.rel_path, true);
        }
    }
    retried
}

/// Runs the scripts on a few threads; outcomes in script order.
fn run_all(scripts: &[(String, bool)]) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(scripts.iter().map(|_| None).collect());
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_PARALLEL_RUNS);
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((rel_path, must_pass)) = scripts.get(i) else {
                    break;
                };
                let outcome = run_script(rel_path, *must_pass);
                results.lock().unwrap()[i] = Some(outcome);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.expect("every script ran"))
        .collect()
}

fn run_script(rel_path: &str, must_pass: bool) -> Outcome {
    let path = scripts_dir().join(rel_path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel_path}: {e}"));
    let flags = script_flags(&text);
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    let name = file_name.trim_end_matches(".pkt").to_string();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .args(&flags)
        .arg(&file_name)
        .current_dir(path.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting stackdrill for {rel_path}: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let (code, timed_out) = wait_with_timeout(&mut child, RUN_TIMEOUT);
    Outcome {
        rel_path: rel_path.to_string(),
        name,
        must_pass,
        flags,
        code,
        timed_out,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        elapsed: start.elapsed(),
    }
}

/// Reads a pipe to its end on a thread of its own (so a full pipe never blocks the child).
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).ok();
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child`; kills it (that process only) once `timeout` has passed.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> (Option<i32>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for stackdrill") {
            return (status.code(), false);
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            let status = child.wait().expect("reaping stackdrill");
            return (status.code(), true);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// stderr with what differs from run to run replaced: every time (a number with six decimals,
/// as all times and tolerances are printed: `0.123456 sec` → `T sec`) and live TCP timestamp
/// values (`TS val 3141592653` → `TS val V`).
fn normalize(stderr: &str) -> String {
    let mut out = String::with_capacity(stderr.len());
    let bytes = stderr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if let Some(len) = time_at(bytes, i) {
            out.push('T');
            i += len;
            continue;
        }
        if stderr[i..].starts_with("TS val ") {
            let digits = bytes[i + 7..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if digits > 0 {
                out.push_str("TS val V");
                i += 7 + digits;
                continue;
            }
        }
        let c = stderr[i..].chars().next().unwrap();
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Length of a time (`DIGITS.DDDDDD`, exactly six decimals) starting at `i`, if one does.
fn time_at(bytes: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (bytes[i - 1].is_ascii_digit() || bytes[i - 1] == b'.') {
        return None;
    }
    let int_len = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if int_len == 0 || bytes.get(i + int_len) != Some(&b'.') {
        return None;
    }
    let frac = &bytes[i + int_len + 1..];
    let frac_len = frac.iter().take_while(|b| b.is_ascii_digit()).count();
    (frac_len == 6).then_some(int_len + 1 + frac_len)
}

/// Output of `ip ARGS`, with address lifetimes and route expiry times (which count down)
/// replaced.
fn ip_output(args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        words.clear();
        let mut tokens = line.split(' ').peekable();
        while let Some(token) = tokens.next() {
            words.push(token.to_string());
            if matches!(token, "valid_lft" | "preferred_lft" | "expires") && tokens.peek().is_some()
            {
                tokens.next();
                words.push("N".to_string());
            }
        }
        lines.push(words.join(" "));
    }
    lines.join("\n")
}

fn root_state() -> RootState {
    let network = [
        &["-o", "link"][..],
        &["-o", "addr"][..],
        &["route"][..],
        &["-6", "route"][..],
    ]
    .iter()
    .map(|args| (format!("ip {}", args.join(" ")), ip_output(args)))
    .collect();
    RootState {
        network,
        children: children_of(std::process::id()),
    }
}

/// `pid comm` of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<String> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // exited meanwhile
        };
        // "PID (COMM) STATE PPID …"; COMM may contain spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat[stat.find('(').map_or(0, |p| p + 1)..close].to_string();
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if ppid.and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            children.push(format!("{pid} {comm}"));
        }
    }
    children.sort();
    children
}

#[test]
fn pass_scripts_pass() {
    let Some(batch) = batch() else { return };
    let mut failures = Vec::new();
    let mut count = 0;
    for outcome in batch.outcomes.iter().filter(|o| o.must_pass) {
        count += 1;
        if outcome.code != Some(0) {
            failures.push(outcome.describe());
        }
    }
    println!(
        "{count} pass/ scripts ran (the whole batch took {:.1} s)",
        batch.elapsed.as_secs_f64()
    );
    for retried in &batch.retried {
        println!("run again alone after a timing error beside the others: {retried}");
    }
    assert!(
        failures.is_empty(),
        "{} of {count} pass/ scripts failed:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn fail_scripts_fail_as_recorded() {
    let Some(batch) = batch() else { return };
    let mut failures = Vec::new();
    for outcome in batch.outcomes.iter().filter(|o| !o.must_pass) {
        if outcome.code != Some(1) {
            failures.push(format!("expected exit status 1: {}", outcome.describe()));
            continue;
        }
        let normalized = normalize(&outcome.stderr);
        let mut settings = insta::Settings::clone_current();
        settings.set_description(format!(
            "stderr of `{}` in tests/scripts/{}, times replaced by T",
            outcome.command_line(),
            Path::new(&outcome.rel_path).parent().unwrap().display()
        ));
        settings.set_omit_expression(true);
        let checked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(outcome.name.as_str(), normalized))
        }));
        if checked.is_err() {
            failures.push(format!(
                "{}: stderr differs from its snapshot:\n{normalized}",
                outcome.rel_path
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} fail/ scripts did not fail as recorded:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn root_namespace_is_unchanged() {
    let Some(batch) = batch() else { return };
    for ((cmd, before), (_, after)) in batch.before.network.iter().zip(&batch.after.network) {
        assert_eq!(
            before, after,
            "`{cmd}` in the root network namespace changed while the scripts ran"
        );
    }
    assert_eq!(
        batch.before.children, batch.after.children,
        "child processes of the test process before and after the scripts ran"
    );
}

#[test]
fn normalize_replaces_only_times_and_ts_values() {
    assert_eq!(
        normalize(
            "x.pkt:7: error handling packet: timing error: expected outbound packet at \
             0.500237 sec but happened at 12.000232 sec; tolerance 0.062510 sec\n\
             actual packet:  0.010484 . 1:1(0) ack 101 win 502 <nop,nop,TS val 3141 ecr 100>\n\
             mss 1460 1.5 0.1234567"
        ),
        "x.pkt:7: error handling packet: timing error: expected outbound packet at \
         T sec but happened at T sec; tolerance T sec\n\
         actual packet:  T . 1:1(0) ack 101 win 502 <nop,nop,TS val V ecr 100>\n\
         mss 1460 1.5 0.1234567"
    );
    assert_eq!(
        script_flags("// flags: -D MSS=1000  -v\n0 socket"),
        ["-D", "MSS=1000", "-v"]
    );
    assert!(script_flags("// a comment\n// flags: -v\n").is_empty());
}
