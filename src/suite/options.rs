//! Suite mode's own settings (`--jobs`, `--timeout_secs`, `--variants`, `--compare`, the report
//! files). Their flags are defined, checked and turned into [`SuiteOptions`] in
//! `crate::cli::suite`, next to every other flag, so each is written once; suite mode reads
//! them from here.

pub use crate::cli::suite::{ReportTarget, SuiteOptions};
