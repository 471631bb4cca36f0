//! The `stackdrill` command: flags → configuration → run (or, with `--dry_run`, validate) each
//! script → exit status 0 when every script passed, 1 otherwise, as packetdrill.
//! A failing run stops at the first failing script; a dry run reports every invalid one.
//! A directory among the paths, or a suite flag (`--jobs`, `--junit`, ...), selects suite mode:
//! every script in its own child process, in parallel, with reports (`stackdrill::suite`).
//! `stackdrill report SHARD.json...` merges the JSON reports of a suite's shards
//! (`stackdrill::suite::merge`).

use std::process::ExitCode;

use stackdrill::cli::suite::SuiteOptions;
use stackdrill::cli::{self, parse_command_line};
use stackdrill::load::load_script;
use stackdrill::run::run_script;
use stackdrill::suite;
use stackdrill::verdict::{self, Failure, FailureKind, Verdict};

fn main() -> ExitCode {
    // A suite's janitor only waits for its runner to end, then removes its scratch folder.
    suite::janitor::serve_if_janitor();
    // First, while single-threaded: a suite's zygote serves until the suite ends, returning
    // only in each run it forks, with that run's command line.
    let args = suite::zygote::serve_if_zygote().unwrap_or_else(|| std::env::args_os().collect());
    // A suite's child enters its sandbox (it may fork here).
    suite::sandbox::enter_if_suite_child();
    // `stackdrill report SHARD.json...`: merges the reports of a suite's shards.
    if args.get(1).is_some_and(|arg| arg == suite::merge::COMMAND) {
        let rest: Vec<String> = args[2..]
            .iter()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        return ExitCode::from(suite::merge::run(&rest).clamp(0, 255) as u8);
    }
    verdict::reserve_for_parent();
    let command_line = match parse_command_line(args) {
        Ok(c) => c,
        Err(e) => return refuse(format!("error: {e}; see --help")),
    };
    if command_line.help {
        print!("{}", cli::usage());
        return ExitCode::SUCCESS;
    }
    if command_line.version {
        println!("{}", cli::version_text());
        return ExitCode::SUCCESS;
    }
    if command_line.scripts.is_empty() {
        return refuse(
            "error: missing script path (usage: stackdrill [OPTIONS] SCRIPT...)".to_string(),
        );
    }

    // A write to a closed connection must return EPIPE to the script, not kill us.
    // SAFETY: setting a signal disposition has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };

    let dry_run = command_line.settings.iter().any(|s| s.name == "dry_run");
    if suite::is_requested(&command_line) && !dry_run {
        let options = match SuiteOptions::from_settings(&command_line.suite_settings) {
            Ok(options) => options,
            Err(e) => {
                eprintln!("stackdrill: error: {e}; see --help");
                return ExitCode::FAILURE;
            }
        };
        return ExitCode::from(suite::run_suite(&command_line, &options).clamp(0, 255) as u8);
    }
    let scripts = match expand_directories(&command_line.scripts) {
        Ok(scripts) => scripts,
        Err(e) => return refuse(format!("error: {e}")),
    };

    let mut first_failure = None;
    for path in &scripts {
        match load_script(path, &command_line) {
            Ok(loaded) if loaded.config.dry_run => {
                for missing in &loaded.missing_defines {
                    eprintln!("{}", missing.as_warning());
                }
            }
            // Like packetdrill, the first failing script ends the run.
            Ok(loaded) => {
                if let Err(failure) = run_script(path, &loaded) {
                    return fail(failure);
                }
            }
            Err(e) => {
                eprintln!("{e}");
                let message = e.to_string();
                let script = path.display().to_string();
                first_failure
                    .get_or_insert(Failure::whole(&script, FailureKind::Script { message }));
            }
        }
    }
    match first_failure {
        None => {
            verdict::write_for_parent(&Verdict::Passed);
            ExitCode::SUCCESS
        }
        Some(failure) => {
            verdict::write_for_parent(&Verdict::Failed(failure));
            ExitCode::FAILURE
        }
    }
}

/// Ends a run that failed: its text as packetdrill prints it, its verdict for a suite.
fn fail(failure: Failure) -> ExitCode {
    eprintln!("{failure}");
    verdict::write_for_parent(&Verdict::Failed(failure));
    ExitCode::FAILURE
}

/// Ends a command line that cannot run: `stackdrill: MESSAGE`.
fn refuse(message: String) -> ExitCode {
    fail(Failure::whole("stackdrill", FailureKind::Other { message }))
}

/// A dry run validates every script under the directories given.
fn expand_directories(paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>, String> {
    let mut scripts = Vec::new();
    for path in paths {
        scripts.extend(
            suite::scripts_under(path)
                .map_err(|e| format!("{}: cannot read directory: {e}", path.display()))?,
        );
    }
    Ok(scripts)
}
