//! Suite mode's own settings (`--jobs`, `--timeout_secs`, `--variants`, `--compare`, the report
//! files): validated from the command line's suite settings into one value.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::OptionSetting;

use super::variants::VariantSelection;

/// Jobs per CPU core by default. Scripts mostly sleep; measured on this 2-core machine with the
/// google corpus (docs/suites.md): 4 per core took 63-64 s, 6 per core brings it under 60 s
/// with the same verdicts.
pub const DEFAULT_JOBS_PER_CORE: usize = 6;

/// run_all.py's per-test limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

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
}

impl Default for SuiteOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            jobs: cores * DEFAULT_JOBS_PER_CORE,
            timeout: DEFAULT_TIMEOUT,
            variants: VariantSelection::AsGiven,
            timing_retries: 1,
            junit: None,
            tap: None,
            ktap: None,
            json: None,
            html: None,
            pcap_dir: None,
            compare: None,
        }
    }
}

impl SuiteOptions {
    /// Applies the suite settings in order (the last of each wins). Errors name the flag, in
    /// the form `bad --NAME: 'VALUE' (why)`.
    pub fn from_settings(settings: &[OptionSetting]) -> Result<Self, String> {
        let mut options = Self::default();
        for setting in settings {
            let value = setting.value.as_deref();
            let bad = |why: &str| {
                format!(
                    "bad --{}: '{}' ({why})",
                    setting.name,
                    value.unwrap_or_default()
                )
            };
            let file = || -> Result<PathBuf, String> {
                match value {
                    Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                    _ => Err(bad("expected a file name")),
                }
            };
            let target = || -> Result<ReportTarget, String> {
                match value {
                    None | Some("-") => Ok(ReportTarget::Stdout),
                    Some(_) => file().map(ReportTarget::File),
                }
            };
            match setting.name.as_str() {
                "jobs" => {
                    options.jobs = value
                        .and_then(|v| v.parse().ok())
                        .filter(|jobs| (1..=1024).contains(jobs))
                        .ok_or_else(|| bad("expected a number of jobs from 1 to 1024"))?
                }
                "timeout_secs" => {
                    let secs: f64 = value
                        .and_then(|v| v.parse().ok())
                        .filter(|secs: &f64| secs.is_finite() && *secs > 0.0 && *secs <= 86400.0)
                        .ok_or_else(|| bad("expected seconds, more than 0 and at most 86400"))?;
                    options.timeout = Duration::from_secs_f64(secs);
                }
                "variants" => {
                    options.variants =
                        VariantSelection::parse(value.unwrap_or_default()).map_err(|e| bad(&e))?
                }
                "timing_retries" => {
                    options.timing_retries = value
                        .and_then(|v| v.parse().ok())
                        .filter(|n| *n <= 10)
                        .ok_or_else(|| bad("expected a number from 0 to 10"))?
                }
                "junit" => options.junit = Some(file()?),
                "tap" => options.tap = Some(target()?),
                "ktap" => options.ktap = Some(target()?),
                "json" => options.json = Some(file()?),
                "html" => options.html = Some(file()?),
                "pcap_dir" => options.pcap_dir = Some(file()?),
                "compare" => options.compare = Some(value.unwrap_or_default().to_string()),
                other => unreachable!("suite option '{other}' is in the table but not handled"),
            }
        }
        if options.tap == Some(ReportTarget::Stdout) && options.ktap == Some(ReportTarget::Stdout) {
            return Err("--tap and --ktap cannot both write to stdout".to_string());
        }
        Ok(options)
    }

    /// Whether a report writes to stdout (then progress and the summary go to stderr).
    pub fn report_on_stdout(&self) -> bool {
        self.tap == Some(ReportTarget::Stdout) || self.ktap == Some(ReportTarget::Stdout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, Option<&str>)]) -> Result<SuiteOptions, String> {
        let settings: Vec<OptionSetting> = pairs
            .iter()
            .map(|(name, value)| OptionSetting::new(*name, *value))
            .collect();
        SuiteOptions::from_settings(&settings)
    }

    #[test]
    fn values_are_checked_and_named() {
        assert_eq!(
            parse(&[("jobs", Some("0"))]).unwrap_err(),
            "bad --jobs: '0' (expected a number of jobs from 1 to 1024)"
        );
        assert_eq!(
            parse(&[("timeout_secs", Some("-1"))]).unwrap_err(),
            "bad --timeout_secs: '-1' (expected seconds, more than 0 and at most 86400)"
        );
        assert_eq!(
            parse(&[("junit", Some(""))]).unwrap_err(),
            "bad --junit: '' (expected a file name)"
        );
        assert!(parse(&[("tap", None), ("ktap", Some("-"))]).is_err());
    }

    #[test]
    fn last_setting_wins() {
        let options = parse(&[
            ("jobs", Some("3")),
            ("jobs", Some("7")),
            ("timeout_secs", Some("0.5")),
            ("tap", None),
            ("ktap", Some("out.ktap")),
        ])
        .unwrap();
        assert_eq!(options.jobs, 7);
        assert_eq!(options.timeout, Duration::from_millis(500));
        assert_eq!(options.tap, Some(ReportTarget::Stdout));
        assert_eq!(
            options.ktap,
            Some(ReportTarget::File(PathBuf::from("out.ktap")))
        );
    }
}
