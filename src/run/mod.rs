//! Running a script against the stack under test: the executor. The main thread owns time and
//! the wire (packets in and out, timing checks); the backend's stack thread owns the target and
//! runs the system calls. This file wires one run together: the backend (`crate::sut`), init
//! command, introspection server, start time, events, cleanup command, code blocks, final
//! resets.

pub mod code;
pub mod command;
pub mod dialect;
pub mod executor;
pub mod link;
pub mod mptcp;
pub mod outbound;
pub mod packets;
pub mod sockets;
pub mod stack;
pub mod syscall;

#[cfg(test)]
mod executor_tests;
#[cfg(test)]
mod fake_backend;

use std::path::Path;

use crate::introspect::server::HttpServer;
use crate::introspect::ScriptFds;
use crate::load::LoadedScript;
use crate::sched::{prefer_realtime_scheduling, realtime_for_this_thread};
use crate::sut::network::Addresses;

use crate::verdict::{CommandRole, Failure, FailureKind};
use executor::Executor;
use stack::ScriptCalls;
use syscall::SyscallEnv;

/// Runs one script in a fresh private network namespace against the stack under test the
/// configuration chose (the kernel over tun, or a userspace stack). Returns the first failure
/// when the script fails.
pub fn run_script(path: &Path, loaded: &LoadedScript) -> Result<(), Failure> {
    let name = path.display().to_string();
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let config = &loaded.config;
    let script = &loaded.script;
    let whole = |kind: FailureKind| Failure::whole(&name, kind);
    let setup = |message: String| whole(FailureKind::Setup { message });
    let command_failed = |role: CommandRole, command: &str, message: String| {
        let command = command.to_string();
        whole(FailureKind::Command {
            role,
            command,
            message,
        })
    };
    let _run_files = RunFiles; // removed on every exit path
    let network = Addresses::from_config(config).map_err(setup)?;
    if config.psp_udp_port != 0 && !(config.wire_client || config.wire_server) {
        let message = "PSP requires wireserver mode (use --wire_client or --wire_server)";
        return Err(whole(FailureKind::Unsupported {
            message: message.to_string(),
        }));
    }
    // From loading the stack on: a stack that calls exit() fails the run instead of ending it
    // with its own status.
    let loads_a_stack = matches!(loaded.backend, crate::sut::Choice::SharedObject { .. });
    let _exit_guard = loads_a_stack.then(|| crate::sut::so::exit_guard::arm(&name));
    let backend =
        crate::sut::open(&loaded.backend, config, &network, &host_files(path)).map_err(setup)?;

    crate::verdict::write_environment_for_parent(&backend.environment);
    let mut command_env = command::network_env(config, &network);
    let defines = command::defines_for_commands(&loaded.defines());
    command_env.retain(|(name, _)| !defines.iter().any(|(d, _)| d == name));
    command_env.extend(defines);
    // As packetdrill: `--init_scripts` before each script, here inside the run's namespaces.
    for init_script in &config.init_scripts {
        command::run_shell_command(init_script, directory, &command_env)
            .map_err(|e| command_failed(CommandRole::InitScript, init_script, e))?;
    }
    if let Some(init) = &script.init_command {
        command::run_shell_command(&init.text, directory, &command_env)
            .map_err(|e| command_failed(CommandRole::Init, &init.text, e))?;
    }

    // The HTTP server starts before time 0 is chosen, so none of that work falls inside the
    // script's timeline (and its threads are not real-time ones).
    let script_fds = ScriptFds::default();
    let _http = match config.http_port {
        Some(port) => Some(
            HttpServer::start(port, backend.view.clone(), script_fds.clone()).map_err(|e| {
                setup(format!(
                    "{e} (--http_port=PORT picks another, --no_http turns it off)"
                ))
            })?,
        ),
        None => None,
    };

    // Before choosing time 0: locking memory takes milliseconds, which must not eat into the
    // script's first events (alignment only sleeps, so real-time priority costs others nothing).
    // On a virtual clock no page fault can make an event late: memory stays unlocked (a tenth
    // of such a run's CPU time), but the priority keeps busy processes from slowing it.
    if backend.clock.is_virtual() {
        realtime_for_this_thread();
    } else {
        prefer_realtime_scheduling();
    }
    let script_start_usecs = backend.clock.start_usecs();
    if let Some(message) = backend.clock.fault() {
        return Err(whole(FailureKind::Stack { message }));
    }
    let env = SyscallEnv {
        socket_domain: network.socket_domain(),
        local_ip: network.socket_view(network.local_ip),
        remote_ip: network.socket_view(network.remote_ip),
        bind_port: config.bind_port,
        connect_port: config.connect_port,
        script_start_usecs,
        tolerance_usecs: i64::from(config.tolerance_usecs),
    };
    let mut executor = Executor::new(
        &name,
        script,
        &loaded.source,
        config,
        network,
        directory,
        executor::StackUnderTest {
            netdev: backend.netdev,
            calls: ScriptCalls::new(backend.calls, env, script_fds),
            clock: backend.clock,
            view: backend.view,
        },
        script_start_usecs,
    );
    executor.command_env = command_env;

    let outcome = executor.run_events();
    write_injection_log(&executor.injection_log);
    let cleanup = script.cleanup_command.as_ref().map(|cleanup| {
        command::run_shell_command(&cleanup.text, directory, &executor.command_env)
            .map_err(|e| command_failed(CommandRole::Cleanup, &cleanup.text, e))
    });
    outcome?;
    if let Some(result) = cleanup {
        result?;
    }
    let runs = executor.take_code_runs();
    if !runs.is_empty() {
        code::run_code_blocks(&name, &config.code_command, &runs).map_err(|e| {
            let line = e.block_line.or(e.line);
            Failure {
                line,
                ..whole(FailureKind::Code {
                    block_line: e.block_line,
                    failing_line: e.line,
                    message: e.message,
                })
            }
        })?;
    }
    executor.finish()?;
    if loads_a_stack {
        crate::sut::so::descriptors_left()
            .map_err(|message| whole(FailureKind::Stack { message }))?;
    }
    Ok(())
}

/// Removes per-run files the scripts' commands left behind (when dropped, on every path).
struct RunFiles;

impl Drop for RunFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(command::nstat_history_path());
    }
}

/// What the run must still reach in the host's /tmp once it has its own (see
/// `sut::private_tmp`): the script's directory (its commands run there and name files next to
/// it; the script alone when it sits directly in /tmp), and the files a suite's runner reads
/// back (verdict, injection log).
fn host_files(script_path: &Path) -> Vec<std::path::PathBuf> {
    let script = std::path::absolute(script_path).unwrap_or_else(|_| script_path.to_path_buf());
    let mut keep = match script.parent() {
        Some(directory) if directory != Path::new("/tmp") => vec![directory.to_path_buf()],
        _ => vec![script],
    };
    keep.extend(
        [crate::verdict::VERDICT_FILE_ENV, INJECTION_LOG_ENV]
            .iter()
            .filter_map(|variable| std::env::var_os(variable).map(std::path::PathBuf::from)),
    );
    keep
}

/// Names the file of [`write_injection_log`].
pub const INJECTION_LOG_ENV: &str = "STACKDRILL_INJECTION_LOG";

/// With `STACKDRILL_INJECTION_LOG=FILE`, every inbound packet's scheduled and actual script
/// time (µs) is appended to FILE, one `scheduled actual` line each (scripts/bench-injection.sh).
fn write_injection_log(log: &[(i64, i64)]) {
    let Some(path) = std::env::var_os(INJECTION_LOG_ENV) else {
        return;
    };
    let text: String = log
        .iter()
        .map(|(scheduled, actual)| format!("{scheduled} {actual}\n"))
        .collect();
    use std::io::Write;
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = file.write_all(text.as_bytes());
    }
}
