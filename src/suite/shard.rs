//! `--shard=K/N`: a suite split into N parts, balanced by expected duration, so that N
//! machines (CI agents, the pods of an indexed Job) each run one part. Every part computes the
//! same split from the same plan, with no coordination: runs are dealt longest first (ties in
//! report order) to the part with the least time so far (ties to the lowest part), so each run
//! is in exactly one part and the parts' totals differ by at most one run's length.
//!
//! A run's expected duration is its script's length (the time of its last event) plus a fixed
//! cost for its setup, or, with `--shard_durations=REPORT.json`, what it took in that earlier
//! run (runs the report does not list keep the estimate).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::cli::suite::Shard;
use crate::report::Status;

use super::plan::PlannedRun;
use super::report_in::{self, RunKey};

/// What a run costs besides its script's length: namespaces, device, process, init commands.
pub const SETUP_COST: Duration = Duration::from_millis(300);

/// A planned run's key, as reports name it.
pub fn key_of(run: &PlannedRun) -> RunKey {
    (
        run.name.clone(),
        run.variant.map(|v| v.name().to_string()),
        run.target.as_ref().map(|t| t.label.clone()),
    )
}

/// The durations an earlier JSON report recorded, by run (errors name the flag and the file).
pub fn durations_from_report(path: &Path) -> Result<BTreeMap<RunKey, Duration>, String> {
    let suite = report_in::read(path).map_err(|e| format!("bad --shard_durations: {e}"))?;
    // A run the earlier suite never finished (interrupted) says nothing of its length.
    Ok(suite
        .runs
        .iter()
        .filter(|run| run.status != Status::NotRun)
        .map(|run| (report_in::key_of(run), run.duration))
        .collect())
}

/// Each run's expected duration: the earlier report's, else its estimate plus [`SETUP_COST`].
pub fn expected_durations(
    runs: &[PlannedRun],
    recorded: &BTreeMap<RunKey, Duration>,
) -> Vec<Duration> {
    runs.iter()
        .map(|run| {
            recorded
                .get(&key_of(run))
                .copied()
                .unwrap_or(run.estimated + SETUP_COST)
        })
        .collect()
}

/// The part (0-based) of each run, for `count` parts, from the runs' expected `durations`.
pub fn assign(durations: &[Duration], count: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..durations.len()).collect();
    order.sort_by(|a, b| durations[*b].cmp(&durations[*a]).then(a.cmp(b)));
    let mut totals = vec![Duration::ZERO; count.max(1)];
    let mut part_of = vec![0; durations.len()];
    for run in order {
        let (lightest, _) = totals
            .iter()
            .enumerate()
            .min_by(|(a, x), (b, y)| x.cmp(y).then(a.cmp(b)))
            .expect("at least one part");
        part_of[run] = lightest;
        totals[lightest] += durations[run];
    }
    part_of
}

/// The runs of `shard`, in report order, each with its expected duration.
pub fn select(
    runs: Vec<PlannedRun>,
    shard: Shard,
    recorded: &BTreeMap<RunKey, Duration>,
) -> Vec<(PlannedRun, Duration)> {
    let durations = expected_durations(&runs, recorded);
    let parts = assign(&durations, shard.count);
    runs.into_iter()
        .zip(durations)
        .zip(parts)
        .filter(|(_, part)| *part == shard.index - 1)
        .map(|(run_and_duration, _)| run_and_duration)
        .collect()
}

/// The runs `--shard` (if given) selects, with their expected durations (from
/// `durations_file`, an earlier JSON report, when given).
pub fn select_for(
    runs: Vec<PlannedRun>,
    shard: Option<Shard>,
    durations_file: Option<&Path>,
) -> Result<Vec<(PlannedRun, Duration)>, String> {
    let recorded = match durations_file {
        Some(path) => durations_from_report(path)?,
        None => BTreeMap::new(),
    };
    Ok(match shard {
        Some(shard) => select(runs, shard, &recorded),
        None => {
            let durations = expected_durations(&runs, &recorded);
            runs.into_iter().zip(durations).collect()
        }
    })
}

/// `--list_runs`' lines: `SECONDS  SCRIPT [(VARIANT)] [on TARGET]`, then a total.
pub fn listing(runs: &[(PlannedRun, Duration)], shard: Option<Shard>) -> String {
    let mut out = String::new();
    for (run, duration) in runs {
        let (name, variant, target) = key_of(run);
        out.push_str(&format!("{:8.3}  {name}", duration.as_secs_f64()));
        if let Some(variant) = variant {
            out.push_str(&format!(" ({variant})"));
        }
        if let Some(target) = target {
            out.push_str(&format!(" on {target}"));
        }
        out.push('\n');
    }
    let total: Duration = runs.iter().map(|(_, d)| *d).sum();
    let part = shard.map_or_else(String::new, |s| format!(" in shard {s}"));
    out.push_str(&format!(
        "{} runs{part}, {:.1} s expected in all\n",
        runs.len(),
        total.as_secs_f64()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::suite::VariantSelection;
    use std::path::PathBuf;

    fn secs(list: &[u64]) -> Vec<Duration> {
        list.iter().map(|s| Duration::from_secs(*s)).collect()
    }

    #[test]
    fn every_run_is_in_one_part_and_the_parts_are_balanced() {
        let durations = secs(&[9, 1, 1, 5, 4, 3, 3, 2, 2, 2, 1, 0]);
        for count in 1..=5 {
            let parts = assign(&durations, count);
            assert_eq!(parts.len(), durations.len());
            assert!(parts.iter().all(|p| *p < count));
            let mut totals = vec![Duration::ZERO; count];
            for (d, p) in durations.iter().zip(&parts) {
                totals[*p] += *d;
            }
            let (max, min) = (totals.iter().max().unwrap(), totals.iter().min().unwrap());
            assert!(
                *max - *min <= Duration::from_secs(9),
                "{count} parts: {totals:?}"
            );
            assert_eq!(assign(&durations, count), parts, "deterministic");
        }
        // 33 s in 3 parts: 9+2+... each about 11 s.
        let parts = assign(&durations, 3);
        let total = |p: usize| -> u64 {
            durations
                .iter()
                .zip(&parts)
                .filter(|(_, q)| **q == p)
                .map(|(d, _)| d.as_secs())
                .sum()
        };
        assert_eq!([total(0), total(1), total(2)], [11, 11, 11]);
    }

    #[test]
    fn more_parts_than_runs_leaves_parts_empty() {
        assert_eq!(assign(&secs(&[1, 2]), 4), [1, 0]);
        assert!(assign(&[], 3).is_empty());
    }

    fn suite_dir(tag: &str, scripts: usize) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("stackdrill-shard-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for i in 0..scripts {
            let folder = if i % 3 == 0 {
                dir.join("sub")
            } else {
                dir.clone()
            };
            std::fs::write(
                folder.join(format!("s{i:02}.pkt")),
                format!(
                    "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+{}.{} close(3) = 0\n",
                    i % 4,
                    i
                ),
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn the_shards_of_a_directory_run_each_run_once() {
        let dir = suite_dir("a", 23);
        let selection = VariantSelection::parse("ipv4,ipv6").unwrap();
        let plan =
            || super::super::plan::plan_runs(std::slice::from_ref(&dir), &selection).unwrap();
        let all: Vec<RunKey> = plan().iter().map(key_of).collect();
        assert_eq!(all.len(), 46);
        let mut seen = Vec::new();
        for index in 1..=4 {
            let shard = Shard { index, count: 4 };
            let part = select(plan(), shard, &BTreeMap::new());
            assert!(!part.is_empty());
            let keys: Vec<RunKey> = part.iter().map(|(run, _)| key_of(run)).collect();
            let mut sorted = keys.clone();
            sorted.sort_by_key(|k| all.iter().position(|a| a == k));
            assert_eq!(keys, sorted, "report order within a shard");
            seen.extend(keys);
        }
        seen.sort();
        let mut expected = all.clone();
        expected.sort();
        assert_eq!(seen, expected, "every run in exactly one shard");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn recorded_durations_override_the_estimates() {
        let dir = suite_dir("b", 4);
        let runs =
            super::super::plan::plan_runs(std::slice::from_ref(&dir), &VariantSelection::AsGiven)
                .unwrap();
        let report = dir.join("earlier.json");
        let mut earlier = crate::report::tests::sample();
        earlier.runs.truncate(2);
        for (run, planned) in earlier.runs.iter_mut().zip(&runs[..2]) {
            (run.script, run.variant, run.target) = key_of(planned);
        }
        earlier.runs[1].duration = Duration::from_secs(60);
        earlier.runs[0].status = Status::NotRun;
        std::fs::write(&report, crate::report::json::render(&earlier, None)).unwrap();
        let recorded = durations_from_report(&report).unwrap();
        assert_eq!(recorded.len(), 1, "the run not run says nothing");
        let e = durations_from_report(&dir.join("none.json")).unwrap_err();
        assert!(e.starts_with("bad --shard_durations: "), "{e}");
        let durations = expected_durations(&runs, &recorded);
        assert_eq!(durations[1], Duration::from_secs(60));
        assert_eq!(durations[0], runs[0].estimated + SETUP_COST);
        // The 60 s run is alone in its part.
        let part = select(runs, Shard { index: 1, count: 2 }, &recorded);
        assert_eq!(part.len(), 1);
        assert!(listing(&part, Some(Shard { index: 1, count: 2 }))
            .ends_with("1 runs in shard 1/2, 60.0 s expected in all\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
