//! Suite mode's flags (`--jobs`, `--timeout_secs`, `--variants`, `--compare`, the reports), one
//! entry each in [`SUITE_FLAGS`], and the [`SuiteOptions`] they make.
//!
//! They live in `cli` rather than in `crate::suite` because the command line is one namespace:
//! a prefix such as `--ti` must be matched (or found ambiguous) against every flag, and
//! `--help` lists them all, so `cli` has to know each suite flag anyway. Keeping the typed
//! result here too lets each flag be written once while `cli` stays a leaf: `crate::suite`
//! reads [`SuiteOptions`] the way `crate::run` reads [`super::Config`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::flags::{Flag, Initial, Refusal};
use super::values::{self, Reason};
use super::{ConfigError, OptionSetting};

use Initial::{Unset, Value};

/// Jobs per CPU core by default. Scripts mostly sleep; measured on this 2-core machine with the
/// google corpus (docs/suites.md): 4 per core took 63-64 s, 6 per core brings it under 60 s
/// with the same verdicts. `--help` says so in [`SUITE_FLAGS`].
pub const DEFAULT_JOBS_PER_CORE: usize = 6;

/// One family a script runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Variant {
    Ipv4,
    Ipv4MappedIpv6,
    Ipv6,
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Ipv4, Variant::Ipv4MappedIpv6, Variant::Ipv6];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Ipv4 => "ipv4",
            Variant::Ipv4MappedIpv6 => "ipv4-mapped-ipv6",
            Variant::Ipv6 => "ipv6",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the variants of each script are chosen (`--variants`); what each choice means for a
/// run is in `crate::suite::variants`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum VariantSelection {
    /// Each script once, with the command line's flags and its own option lines.
    #[default]
    AsGiven,
    /// run_all.py: these variants, minus `*v4.pkt`/`*v6.pkt` exclusions, with its flags.
    RunAll(Vec<Variant>),
    /// kselftest: the script's `--ip_version` lines, else ipv4 and ipv6, with its flags.
    Kselftest,
}

impl VariantSelection {
    /// Parses `--variants`: `all`, `ksft`, or a comma list of variant names.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "all" => return Ok(Self::RunAll(Variant::ALL.to_vec())),
            "ksft" | "kselftest" => return Ok(Self::Kselftest),
            _ => {}
        }
        let mut chosen = Vec::new();
        for name in value.split(',').map(str::trim) {
            let variant = Variant::from_name(name).ok_or_else(|| {
                format!(
                    "unknown variant '{name}' (expected all, ksft, or a comma list of \
                     ipv4, ipv4-mapped-ipv6, ipv6)"
                )
            })?;
            if !chosen.contains(&variant) {
                chosen.push(variant);
            }
        }
        chosen.sort();
        Ok(Self::RunAll(chosen))
    }
}

/// Where a text report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    Stdout,
    File(PathBuf),
}

/// Everything suite mode needs beyond the packetdrill flags.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteOptions {
    pub jobs: usize,
    pub timeout: Duration,
    pub variants: VariantSelection,
    pub timing_retries: u32,
    pub junit: Option<PathBuf>,
    pub tap: Option<ReportTarget>,
    pub ktap: Option<ReportTarget>,
    pub json: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub pcap_dir: Option<PathBuf>,
    /// `--compare`'s LIST as given: checked against the file system and the command line's
    /// other flags when the suite starts (`compare::parse_targets`).
    pub compare: Option<String>,
    /// `--compare_only_disagreements`: the matrix (text and HTML) shows only the rows where
    /// the targets disagree.
    pub compare_only_disagreements: bool,
    /// `--shard=K/N`: run only the K-th of N balanced parts of the suite.
    pub shard: Option<Shard>,
    /// `--shard_durations`: a previous run's JSON report whose durations balance the shards.
    pub shard_durations: Option<PathBuf>,
    /// `--list_runs`: print the runs (of the shard) with their expected durations, run none.
    pub list_runs: bool,
}

/// `--shard=K/N`: the K-th (1-based) of N parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `K/N` with 1 <= K <= N <= 1024.
    pub fn parse(value: &str) -> Result<Self, Reason> {
        let expected = || "expected K/N, e.g. 2/4: part K (from 1) of N, N at most 1024";
        let (k, n) = value.split_once('/').ok_or_else(expected)?;
        let (index, count): (usize, usize) = match (k.trim().parse(), n.trim().parse()) {
            (Ok(k), Ok(n)) => (k, n),
            _ => return Err(expected().to_string()),
        };
        if count == 0 || count > 1024 {
            return Err(expected().to_string());
        }
        if index == 0 || index > count {
            return Err(format!("K must be from 1 to {count}"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Default for SuiteOptions {
    /// Every flag's default, from [`SUITE_FLAGS`].
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut options = Self {
            jobs: cores * DEFAULT_JOBS_PER_CORE,
            timeout: Duration::ZERO,
            variants: VariantSelection::AsGiven,
            timing_retries: 0,
            junit: None,
            tap: None,
            ktap: None,
            json: None,
            html: None,
            pcap_dir: None,
            compare: None,
            compare_only_disagreements: false,
            shard: None,
            shard_durations: None,
            list_runs: false,
        };
        for flag in SUITE_FLAGS {
            flag.apply_default(&mut options);
        }
        options
    }
}

impl SuiteOptions {
    /// Applies the suite settings in order (the last of each wins). Errors name the flag, in
    /// the form `bad --NAME: 'VALUE' (why)`.
    pub fn from_settings(settings: &[OptionSetting]) -> Result<Self, String> {
        let mut options = Self::default();
        for setting in settings {
            let name = setting.name.clone();
            let flag = SUITE_FLAGS
                .iter()
                .find(|flag| flag.name == name)
                .ok_or_else(|| {
                    ConfigError::unknown(&name, SUITE_FLAGS.iter().map(|flag| flag.name))
                        .to_string()
                })?;
            let value = setting.value.as_deref();
            flag.apply(&mut options, value)
                .map_err(|refusal| match refusal {
                    Refusal::Bad(why) => {
                        format!("bad --{name}: '{}' ({why})", value.unwrap_or_default())
                    }
                    Refusal::ForbidsArgument => ConfigError::ForbidsArgument { name }.to_string(),
                    Refusal::RequiresArgument => ConfigError::RequiresArgument { name }.to_string(),
                })?;
        }
        if options.compare_only_disagreements && options.compare.is_none() {
            return Err("--compare_only_disagreements needs --compare".to_string());
        }
        if options.shard_durations.is_some() && options.shard.is_none() {
            return Err("--shard_durations needs --shard=K/N".to_string());
        }
        if options.tap == Some(ReportTarget::Stdout) && options.ktap == Some(ReportTarget::Stdout) {
            return Err("--tap and --ktap cannot both write to stdout".to_string());
        }
        Ok(options)
    }

    /// The reports written to files, each with its flag's name: `("html", path)`.
    pub fn report_files(&self) -> Vec<(&'static str, &std::path::Path)> {
        fn in_file(target: &Option<ReportTarget>) -> Option<&PathBuf> {
            match target {
                Some(ReportTarget::File(path)) => Some(path),
                _ => None,
            }
        }
        [
            ("junit", self.junit.as_ref()),
            ("tap", in_file(&self.tap)),
            ("ktap", in_file(&self.ktap)),
            ("json", self.json.as_ref()),
            ("html", self.html.as_ref()),
        ]
        .into_iter()
        .filter_map(|(flag, path)| Some((flag, path?.as_path())))
        .collect()
    }

    /// Whether a report writes to stdout (then progress and the summary go to stderr).
    pub fn report_on_stdout(&self) -> bool {
        self.tap == Some(ReportTarget::Stdout) || self.ktap == Some(ReportTarget::Stdout)
    }
}

/// A text report's target: stdout without a value or with `-`, else a file.
fn target(value: Option<&str>) -> Result<ReportTarget, Reason> {
    match value {
        None | Some("-") => Ok(ReportTarget::Stdout),
        Some(name) => values::file_name(name).map(ReportTarget::File),
    }
}

/// Every suite-mode flag, in `--help` order: command line only, never valid in scripts.
pub const SUITE_FLAGS: &[Flag<SuiteOptions>] = &[
    Flag::value(
        "jobs",
        "N",
        Unset("6 per CPU core"),
        "scripts run at once, each in its own process and namespaces (1 = one after another)",
        |o, v| {
            let jobs = v.parse().ok().filter(|jobs| (1..=1024).contains(jobs));
            o.jobs = jobs.ok_or("expected a number of jobs from 1 to 1024")?;
            Ok(())
        },
    ),
    Flag::value(
        "timeout_secs",
        "SECS",
        Value("180"),
        "a run still going after SECS seconds is killed and counted as timed out",
        |o, v| {
            let secs = v
                .parse::<f64>()
                .ok()
                .filter(|secs| secs.is_finite() && *secs > 0.0 && *secs <= 86400.0)
                .ok_or("expected seconds, more than 0 and at most 86400")?;
            o.timeout = Duration::from_secs_f64(secs);
            Ok(())
        },
    ),
    Flag::value(
        "variants",
        "LIST|all|ksft",
        Unset("none (each script once, as the flags say)"),
        "comma list of ipv4,ipv4-mapped-ipv6,ipv6 run as run_all.py does (all = the three); \
         ksft = families from the script's --ip_version lines, else ipv4 and ipv6",
        |o, v| VariantSelection::parse(v).map(|variants| o.variants = variants),
    ),
    Flag::value(
        "compare",
        "LIST",
        Unset("none (one target, as the flags say)"),
        "run every script on each target of LIST and print a matrix of verdicts; LIST is a \
         comma list of kernel, so:PATH or so:PATH:FLAGS (FLAGS = the library's --so_flags, \
         which may hold spaces but no commas; PATH no colons; so:smoltcp, so:lwip and \
         so:gvisor name the bundled adapters)",
        |o, v| {
            o.compare = Some(v.to_string());
            Ok(())
        },
    ),
    Flag::switch(
        "compare_only_disagreements",
        "with --compare, show only the scripts where the targets disagree (another verdict, or \
         another first error) in the printed matrix and the HTML report",
        |o| o.compare_only_disagreements = true,
    ),
    Flag::value(
        "timing_retries",
        "N",
        Value("1"),
        "rerun, alone, a run that failed by a near miss in timing (<= 10 ms past tolerance)",
        |o, v| {
            let retries = v.parse().ok().filter(|n| *n <= 10);
            o.timing_retries = retries.ok_or("expected a number from 0 to 10")?;
            Ok(())
        },
    ),
    Flag::value(
        "junit",
        "FILE",
        Unset("none"),
        "write a JUnit XML report",
        |o, v| values::file_name(v).map(|path| o.junit = Some(path)),
    ),
    Flag::optional_value(
        "tap",
        "FILE",
        Unset("none"),
        "write a TAP 13 report (to stdout without =FILE)",
        |o, v| target(v).map(|to| o.tap = Some(to)),
    ),
    Flag::optional_value(
        "ktap",
        "FILE",
        Unset("none"),
        "write a KTAP report (to stdout without =FILE)",
        |o, v| target(v).map(|to| o.ktap = Some(to)),
    ),
    Flag::value(
        "json",
        "FILE",
        Unset("none"),
        "write a JSON report",
        |o, v| values::file_name(v).map(|path| o.json = Some(path)),
    ),
    Flag::value(
        "html",
        "FILE",
        Unset("none"),
        "write an HTML report (and its stylesheet, FILE's name with .css) with the failures grouped, \
         each one's diff and timeline",
        |o, v| values::file_name(v).map(|path| o.html = Some(path)),
    ),
    Flag::value(
        "pcap_dir",
        "DIR",
        Unset("none"),
        "write one pcap per script and variant into DIR",
        |o, v| values::file_name(v).map(|path| o.pcap_dir = Some(path)),
    ),
    Flag::value(
        "shard",
        "K/N",
        Unset("none (the whole suite)"),
        "run only part K (from 1) of N: the runs split deterministically and balanced by \
         expected duration (the script's last event, or --shard_durations); the N parts \
         together run every run exactly once (merge their --json with `stackdrill report`)",
        |o, v| Shard::parse(v).map(|shard| o.shard = Some(shard)),
    ),
    Flag::value(
        "shard_durations",
        "FILE",
        Unset("none (each run's script length)"),
        "with --shard: balance the parts by the durations in FILE, a previous run's --json \
         report (runs it does not list keep their estimate); every part must be given the same FILE",
        |o, v| values::file_name(v).map(|path| o.shard_durations = Some(path)),
    ),
    Flag::switch(
        "list_runs",
        "print the runs the suite (or its --shard) would make, one a line with its expected \
         duration, and run none",
        |o| o.list_runs = true,
    ),
];
