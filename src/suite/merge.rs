//! `stackdrill report`: the JSON reports of a suite's shards (`--shard=K/N --json=...`)
//! merged into one suite result and written with the suite's own reports (`--junit`,
//! `--json`, `--html`, `--tap`, `--ktap`), and, given earlier runs' JSON reports
//! (`--previous`), their history: pass counts and durations over time and the flaky runs,
//! whose verdict changed between runs (`history`).
//!
//! ```text
//! stackdrill report [--junit=F] [--json=F] [--html=F] [--tap[=F]] [--ktap[=F]]
//!                   [--previous=OLD.json]... [--history_html=F] SHARD.json...
//! ```

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cli::suite::SUITE_FLAGS;
use crate::cli::{OptionSetting, SuiteOptions};
use crate::report::{RunRecord, SuiteResult};

use super::history::{self, History};
use super::report_in::{self, RunKey};

/// The subcommand's name: `stackdrill report ...`.
pub const COMMAND: &str = "report";

/// The suite report flags `report` takes, as suite mode spells them.
const REPORT_FLAGS: [&str; 5] = ["junit", "json", "html", "tap", "ktap"];

/// `report`'s own flags.
const OWN_FLAGS: [&str; 3] = ["previous", "history_html", "help"];

/// What `stackdrill report` was asked.
#[derive(Debug, Default)]
pub struct ReportCommand {
    pub shards: Vec<PathBuf>,
    pub previous: Vec<PathBuf>,
    pub history_html: Option<PathBuf>,
    pub options: SuiteOptions,
    pub help: bool,
}

/// `stackdrill report --help`.
pub const USAGE: &str = "\
usage: stackdrill report [OPTIONS] SHARD.json...
Merges the --json reports of a suite's shards (--shard=K/N) into one report, and with
--previous draws the history of earlier runs.
  --junit=FILE          write the merged JUnit XML report
  --json=FILE           write the merged JSON report
  --html=FILE           write the merged HTML report
  --tap[=FILE]          write the merged TAP 13 report (to stdout without =FILE)
  --ktap[=FILE]         write the merged KTAP report (to stdout without =FILE)
  --previous=FILE       an earlier run's JSON report, for the history (repeat it, oldest first)
  --history_html=FILE   write the history as an HTML page (and FILE's .css beside it)
";

/// Reads `report`'s arguments (those after `report`). Errors name the flag.
pub fn parse_args(args: &[String]) -> Result<ReportCommand, String> {
    let mut command = ReportCommand::default();
    let mut settings = Vec::new();
    for arg in args {
        let Some(flag) = arg.strip_prefix("--") else {
            command.shards.push(PathBuf::from(arg));
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        let file = |value: Option<&str>| match value {
            Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
            _ => Err(format!("bad --{name}: expected --{name}=FILE")),
        };
        match name {
            "previous" => command.previous.push(file(value)?),
            "history_html" => command.history_html = Some(file(value)?),
            "help" => command.help = true,
            _ if REPORT_FLAGS.contains(&name) => settings.push(match value {
                Some(value) => OptionSetting::with_value(name, value),
                None => OptionSetting::flag(name),
            }),
            _ => {
                let known = REPORT_FLAGS.iter().chain(&OWN_FLAGS).copied();
                let hint = crate::catalog::suggest::closest(name, known)
                    .map(|s| format!(" (did you mean --{s}?)"))
                    .unwrap_or_default();
                return Err(format!("option '{name}' unknown to report{hint}"));
            }
        }
    }
    debug_assert!(REPORT_FLAGS
        .iter()
        .all(|name| SUITE_FLAGS.iter().any(|flag| flag.name == *name)));
    command.options = SuiteOptions::from_settings(&settings)?;
    if command.shards.is_empty() && !command.help {
        return Err(
            "missing the shards' reports (usage: stackdrill report [OPTIONS] SHARD.json...)".into(),
        );
    }
    Ok(command)
}

/// Runs `stackdrill report ARGS`: the exit status, 0 when the merged suite succeeded.
pub fn run(args: &[String]) -> i32 {
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("stackdrill: error: {e}; see stackdrill report --help");
            return 1;
        }
    };
    if command.help {
        print!("{USAGE}");
        return 0;
    }
    match execute(&command) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("stackdrill: error: {e}");
            1
        }
    }
}

fn execute(command: &ReportCommand) -> Result<i32, String> {
    let shards = command
        .shards
        .iter()
        .map(|path| Ok((path.clone(), report_in::read(path)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let suite = merge(&shards)?;
    super::write_reports(
        &suite,
        &command.options,
        super::invocation(std::time::SystemTime::now()),
    )?;
    let mut closing = format!("{}\n", suite.summary_line());
    if !command.previous.is_empty() || command.history_html.is_some() {
        let mut reports = Vec::new();
        for path in &command.previous {
            reports.push((label(path), report_in::read(path)?));
        }
        reports.push(("this run".to_string(), suite.clone()));
        let history = History::of(&reports);
        closing.push('\n');
        closing.push_str(&history.render_text());
        if let Some(path) = &command.history_html {
            history::write_html(&history, path)?;
        }
    }
    if command.options.report_on_stdout() {
        eprint!("{closing}");
    } else {
        print!("{closing}");
    }
    Ok(if suite.succeeded() { 0 } else { 1 })
}

/// A report's name in the history: its file name.
fn label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The shards' runs as one suite, in report order (scripts by path, variants in ipv4,
/// ipv4-mapped-ipv6, ipv6 order, targets in the order compared). A run in two shards, or
/// shards comparing other targets, are errors naming the files.
pub fn merge(shards: &[(PathBuf, SuiteResult)]) -> Result<SuiteResult, String> {
    let mut targets: Option<(&Path, &Vec<String>)> = None;
    let mut seen: BTreeMap<RunKey, &Path> = BTreeMap::new();
    let mut runs: Vec<RunRecord> = Vec::new();
    for (path, shard) in shards {
        match targets {
            Some((first, t)) if *t != shard.targets => {
                return Err(format!(
                    "{} compares {:?} but {} compares {:?}: not shards of one suite",
                    first.display(),
                    t,
                    path.display(),
                    shard.targets
                ))
            }
            Some(_) => {}
            None => targets = Some((path, &shard.targets)),
        }
        for run in &shard.runs {
            if let Some(other) = seen.insert(report_in::key_of(run), path) {
                return Err(format!(
                    "{} is in both {} and {}: not shards of one suite",
                    run.label(),
                    other.display(),
                    path.display()
                ));
            }
            runs.push(run.clone());
        }
    }
    let targets = targets.map(|(_, t)| t.clone()).unwrap_or_default();
    runs.sort_by(|a, b| report_order(a, b, &targets));
    Ok(SuiteResult {
        runs,
        wall: shards.iter().map(|(_, s)| s.wall).max().unwrap_or_default(),
        jobs: shards.iter().map(|(_, s)| s.jobs).sum(),
        interrupted: shards.iter().any(|(_, s)| s.interrupted),
        targets,
    })
}

/// The order a suite reports runs in.
fn report_order(a: &RunRecord, b: &RunRecord, targets: &[String]) -> Ordering {
    let variant = |run: &RunRecord| {
        let names = ["ipv4", "ipv4-mapped-ipv6", "ipv6"];
        run.variant
            .as_deref()
            .map(|v| names.iter().position(|n| *n == v).unwrap_or(names.len()))
    };
    let target = |run: &RunRecord| {
        run.target
            .as_ref()
            .map(|t| targets.iter().position(|x| x == t).unwrap_or(targets.len()))
    };
    Path::new(&a.script)
        .cmp(Path::new(&b.script))
        .then(variant(a).cmp(&variant(b)))
        .then(target(a).cmp(&target(b)))
        .then(a.variant.cmp(&b.variant))
        .then(a.target.cmp(&b.target))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;
    use crate::report::Status;

    fn split(suite: &SuiteResult, parts: usize) -> Vec<(PathBuf, SuiteResult)> {
        (0..parts)
            .map(|k| {
                let runs = suite
                    .runs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (i * 7 + 3) % parts == k)
                    .map(|(_, r)| r.clone())
                    .collect();
                let shard = SuiteResult {
                    runs,
                    ..suite.clone()
                };
                // Through JSON, as the shards hand their results over.
                let json = crate::report::json::render(&shard, None);
                (
                    PathBuf::from(format!("shard{k}.json")),
                    report_in::parse(&json).unwrap(),
                )
            })
            .collect()
    }

    fn verdicts(suite: &SuiteResult) -> Vec<(RunKey, Status, String)> {
        suite
            .runs
            .iter()
            .map(|r| (report_in::key_of(r), r.status, r.message.clone()))
            .collect()
    }

    #[test]
    fn merged_shards_have_the_unsharded_verdicts_in_report_order() {
        // A suite of one directory reports its runs by path (the sample lists two paths).
        let mut whole = sample();
        whole
            .runs
            .sort_by(|a, b| Path::new(&a.script).cmp(Path::new(&b.script)));
        for parts in [1, 2, 3] {
            let merged = merge(&split(&whole, parts)).unwrap();
            assert_eq!(verdicts(&merged), verdicts(&whole), "{parts} shards");
            assert_eq!(merged.counts(), whole.counts());
            assert_eq!(merged.jobs, whole.jobs * parts);
        }
    }

    #[test]
    fn a_run_in_two_shards_is_refused() {
        let whole = sample();
        let shards = vec![
            (PathBuf::from("a.json"), whole.clone()),
            (PathBuf::from("b.json"), whole),
        ];
        let e = merge(&shards).unwrap_err();
        assert!(
            e.ends_with(" is in both a.json and b.json: not shards of one suite"),
            "{e}"
        );
    }

    #[test]
    fn arguments_name_their_flag() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let c = args(&[
            "--junit=j.xml",
            "--previous=o.json",
            "--history_html=h.html",
            "a.json",
        ])
        .unwrap();
        assert_eq!(c.options.junit, Some(PathBuf::from("j.xml")));
        assert_eq!(c.previous, [PathBuf::from("o.json")]);
        assert_eq!(c.shards, [PathBuf::from("a.json")]);
        assert_eq!(
            args(&["--junti=j.xml", "a.json"]).unwrap_err(),
            "option 'junti' unknown to report (did you mean --junit?)"
        );
        assert_eq!(
            args(&["--previous", "a.json"]).unwrap_err(),
            "bad --previous: expected --previous=FILE"
        );
        assert!(args(&[])
            .unwrap_err()
            .starts_with("missing the shards' reports"));
    }
}
