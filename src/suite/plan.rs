//! The plan of a suite: every script found under the given paths × its variants (× the
//! `--compare` targets), with what each is expected to do and how long it should take (its last
//! event's script time), so that the longest runs start first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::requirements::Requirement;
use crate::cli::OptionSetting;
use crate::script::ast::EventTime;

use super::compare::CompareTarget;
use super::expect::{self, CannotPass, Expectation};
use super::scripts_under;
use super::variants::{Variant, VariantSelection};

/// One script × variant to run.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// Absolute path of the script.
    pub script: PathBuf,
    /// The script as reports name it: relative to the directory given on the command line,
    /// or the path as given for a file.
    pub name: String,
    pub variant: Option<Variant>,
    /// The `--compare` target, or `None` when the suite compares none.
    pub target: Option<CompareTarget>,
    pub expectation: Expectation,
    /// The stacks the script says it cannot pass (`// cannot-pass: STACK: REASON`).
    pub cannot_pass: Vec<CannotPass>,
    /// The requirements the script's tags say it checks (`// requirement: ...`).
    pub requirements: Vec<Requirement>,
    /// The script's own length (time of its last event).
    pub estimated: Duration,
}

/// Lists the runs for `paths` (files or directories), in report order: paths as given,
/// scripts sorted within a directory, variants in ipv4, mapped, ipv6 order.
pub fn plan_runs(
    paths: &[PathBuf],
    selection: &VariantSelection,
) -> Result<Vec<PlannedRun>, String> {
    let mut runs = Vec::new();
    for path in paths {
        let scripts = scripts_under(path)
            .map_err(|e| format!("{}: cannot read directory: {e}", path.display()))?;
        if path.is_dir() && scripts.is_empty() {
            return Err(format!(
                "{}: no *.pkt scripts below this directory",
                path.display()
            ));
        }
        for script in scripts {
            let name = match script.strip_prefix(path) {
                Ok(relative) if path.is_dir() => relative.display().to_string(),
                _ => script.display().to_string(),
            };
            let source = std::fs::read_to_string(&script)
                .map_err(|e| format!("{}: cannot read script: {e}", script.display()))?;
            let expectation = Expectation::of_script(&script, &source)?;
            let cannot_pass = expect::cannot_pass_marks(&script, &source)?;
            let requirements = super::requirement_tags::of_script(&script, &source)?;
            let absolute =
                std::path::absolute(&script).map_err(|e| format!("{}: {e}", script.display()))?;
            for variant in selection.variants_of(&name, &source) {
                let defines = variant.map_or_else(Vec::new, |v| selection.flags(v));
                let estimated = estimated_length(&script, &defines);
                runs.push(PlannedRun {
                    script: absolute.clone(),
                    name: name.clone(),
                    variant,
                    target: None,
                    expectation: expectation.clone(),
                    cannot_pass: cannot_pass.clone(),
                    requirements: requirements.clone(),
                    estimated,
                });
            }
        }
    }
    Ok(runs)
}

/// Each run once per target, the targets of a run next to each other in `targets`' order;
/// `runs` unchanged without targets.
pub fn on_targets(runs: Vec<PlannedRun>, targets: &[CompareTarget]) -> Vec<PlannedRun> {
    if targets.is_empty() {
        return runs;
    }
    runs.into_iter()
        .flat_map(|run| {
            targets.iter().map(move |target| PlannedRun {
                target: Some(target.clone()),
                ..run.clone()
            })
        })
        .collect()
}

/// Each run expected to fail where its script is marked `// cannot-pass:` for the stack it
/// runs on: its `--compare` target's, else the suite's (`suite_library`, or the kernel).
pub fn for_stacks(mut runs: Vec<PlannedRun>, suite_library: Option<&Path>) -> Vec<PlannedRun> {
    for run in &mut runs {
        let library = match &run.target {
            Some(target) => target.library.as_deref(),
            None => suite_library,
        };
        let stack = expect::stack_name(library);
        if let Some(mark) = run.cannot_pass.iter().find(|mark| mark.stack == stack) {
            run.expectation = Expectation::CannotPass(mark.clone());
        }
    }
    runs
}

/// The script time of the last event, parsed with the `--define`s among the variant's
/// `flags` (which scripts like zerocopy/maxfrags.pkt need); 0 when the script does not parse:
/// the run will say why.
fn estimated_length(script: &Path, flags: &[OptionSetting]) -> Duration {
    let defines: BTreeMap<String, String> = flags
        .iter()
        .filter(|flag| flag.name == "define")
        .filter_map(|flag| flag.value.as_deref()?.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let Ok(parsed) = crate::script::parse_file(script, &defines) else {
        return Duration::ZERO;
    };
    let mut now: i64 = 0;
    let mut latest: i64 = 0;
    for event in &parsed.events {
        let point = match &event.time {
            EventTime::At(point) => Some(point),
            EventTime::Any(_) => None,
            EventTime::Range { end, .. } | EventTime::Blocking { end, .. } => Some(end),
        };
        if let Some(point) = point {
            now = if point.relative {
                now + point.micros
            } else {
                point.micros
            };
            latest = latest.max(now);
        }
    }
    Duration::from_micros(latest.max(0) as u64)
}

/// Indexes of `runs` in the order to start them: longest first (ties in report order), which
/// keeps the last minutes of a parallel suite from waiting on one long script.
pub fn start_order(runs: &[PlannedRun]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..runs.len()).collect();
    order.sort_by(|a, b| runs[*b].estimated.cmp(&runs[*a].estimated).then(a.cmp(b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_script_that_needs_its_variants_defines_is_estimated_with_them() {
        let dir = std::env::temp_dir().join(format!("stackdrill-plan-d-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            "errqueue.pkt",
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +3 setsockopt(3, CMSG_LEVEL_IP, CMSG_TYPE_RECVERR, [1], 4) = 0\n",
        );
        let runs = plan_runs(
            std::slice::from_ref(&dir),
            &VariantSelection::parse("ipv4,ipv6").unwrap(),
        )
        .unwrap();
        let estimates: Vec<Duration> = runs.iter().map(|run| run.estimated).collect();
        assert_eq!(estimates, [Duration::from_secs(3); 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cannot_pass_mark_applies_on_its_stack_only() {
        let dir = std::env::temp_dir().join(format!("stackdrill-plan-x-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            "backoff.pkt",
            "// cannot-pass: lwip: no backoff\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        );
        let runs = plan_runs(std::slice::from_ref(&dir), &VariantSelection::AsGiven).unwrap();
        let target = |label: &str, library: Option<&str>| CompareTarget {
            label: label.to_string(),
            library: library.map(PathBuf::from),
            flags: None,
        };
        let compared = for_stacks(
            on_targets(
                runs.clone(),
                &[
                    target("kernel", None),
                    target("so:lwip", Some("/x/libstackdrill_lwip.so")),
                ],
            ),
            None,
        );
        let expected: Vec<String> = compared.iter().map(|r| r.expectation.describe()).collect();
        assert_eq!(expected, ["pass", "fail on lwip (cannot pass: no backoff)"]);
        let on_lwip = for_stacks(runs.clone(), Some(Path::new("build/libstackdrill_lwip.so")));
        assert!(matches!(on_lwip[0].expectation, Expectation::CannotPass(_)));
        let on_smoltcp = for_stacks(runs, Some(Path::new("libstackdrill_smoltcp.so")));
        assert!(matches!(on_smoltcp[0].expectation, Expectation::Pass));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plans_variants_names_and_longest_first() {
        let dir = std::env::temp_dir().join(format!("stackdrill-plan-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write(
            &dir,
            "b/short.pkt",
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n",
        );
        write(
            &dir,
            "a/long-v4.pkt",
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+2 close(3) = 0\n+0.5 `true`\n",
        );
        write(&dir, "notes.txt", "not a script");
        let runs = plan_runs(
            std::slice::from_ref(&dir),
            &VariantSelection::parse("all").unwrap(),
        )
        .unwrap();
        let labels: Vec<String> = runs
            .iter()
            .map(|run| format!("{} ({})", run.name, run.variant.unwrap()))
            .collect();
        assert_eq!(
            labels,
            [
                "a/long-v4.pkt (ipv4)",
                "a/long-v4.pkt (ipv4-mapped-ipv6)",
                "b/short.pkt (ipv4)",
                "b/short.pkt (ipv4-mapped-ipv6)",
                "b/short.pkt (ipv6)"
            ]
        );
        assert_eq!(runs[0].estimated, Duration::from_millis(2500));
        assert_eq!(start_order(&runs)[..2], [0, 1]);
        let target = |label: &str| CompareTarget {
            label: label.to_string(),
            library: None,
            flags: None,
        };
        let compared = on_targets(runs[..2].to_vec(), &[target("kernel"), target("lib.so")]);
        let labels: Vec<String> = compared
            .iter()
            .map(|run| {
                format!(
                    "{} {}",
                    run.variant.unwrap(),
                    run.target.as_ref().unwrap().label
                )
            })
            .collect();
        assert_eq!(
            labels,
            [
                "ipv4 kernel",
                "ipv4 lib.so",
                "ipv4-mapped-ipv6 kernel",
                "ipv4-mapped-ipv6 lib.so"
            ]
        );
        assert_eq!(on_targets(runs.clone(), &[]).len(), runs.len());
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        let error = plan_runs(&[empty], &VariantSelection::AsGiven).unwrap_err();
        assert!(
            error.ends_with("empty: no *.pkt scripts below this directory"),
            "{error}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
