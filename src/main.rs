//! The `stackdrill` command: flags → configuration → run (or, with `--dry_run`, validate) each
//! script → exit status 0 when every script passed, 1 otherwise, as packetdrill.
//! A failing run stops at the first failing script; a dry run reports every invalid one.

use std::process::ExitCode;

use stackdrill::config::{self, parse_command_line};
use stackdrill::load::load_script;
use stackdrill::run::run_script;

fn main() -> ExitCode {
    let command_line = match parse_command_line(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("stackdrill: error: {e}; see --help");
            return ExitCode::FAILURE;
        }
    };
    if command_line.help {
        print!("{}", config::usage());
        return ExitCode::SUCCESS;
    }
    if command_line.version {
        println!("{}", config::version_text());
        return ExitCode::SUCCESS;
    }
    if command_line.scripts.is_empty() {
        eprintln!("stackdrill: error: missing script path (usage: stackdrill [OPTIONS] SCRIPT...)");
        return ExitCode::FAILURE;
    }

    // A write to a closed connection must return EPIPE to the script, not kill us.
    // SAFETY: setting a signal disposition has no memory-safety preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };

    let mut all_valid = true;
    for path in &command_line.scripts {
        match load_script(path, &command_line) {
            Ok(loaded) if loaded.config.dry_run => {
                for missing in &loaded.missing_defines {
                    eprintln!("{}", missing.as_warning());
                }
            }
            // Like packetdrill, the first failing script ends the run.
            Ok(loaded) => {
                if let Err(message) = run_script(path, &loaded) {
                    eprintln!("{message}");
                    return ExitCode::FAILURE;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                all_valid = false;
            }
        }
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
