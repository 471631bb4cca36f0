//! Running a script against a stack: the executor. The main thread owns time and the wire
//! (packets in and out, timing checks); the stack thread owns the target and runs the system
//! calls. This file wires one run together: namespace and tun device, init command, start time,
//! events, cleanup command, code blocks, final resets.

pub mod code;
pub mod command;
pub mod executor;
pub mod outbound;
pub mod packets;
pub mod sockets;
pub mod stack;
pub mod syscall;

use std::path::Path;
use std::sync::Arc;

use crate::cli::Config;
use crate::introspect::server::HttpServer;
use crate::load::LoadedScript;
use crate::sut::abi::StackdrillNetwork;
use crate::sut::capture::CapturingNetdev;
use crate::sut::kernel::cpu;
use crate::sut::kernel::sock_diag::kernel_view;
use crate::sut::kernel::tun::TunNetdev;
use crate::sut::netdev::Netdev;
use crate::sut::so::clock::StackClock;
use crate::sut::so::library::SharedObject;
use crate::sut::so::netdev::SoNetdev;
use crate::sut::so::stack::SoStack;
use crate::sut::so::view::polled_view;
use crate::sut::so::PolledStack;

use crate::sut::clock::{Clock, RealClock};
use crate::sut::network::Addresses;
use executor::{Executor, RunError};
use stack::{StackRequest, StackThread};
use syscall::SyscallEnv;

/// Runs one script in a fresh private network namespace, against the kernel (over a tun
/// device) or against the userspace stack of `--so_filename`. Returns the error text
/// (packetdrill's format) when the script fails.
pub fn run_script(path: &Path, loaded: &LoadedScript) -> Result<(), String> {
    let name = path.display().to_string();
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let config = &loaded.config;
    let script = &loaded.script;
    let fail = |e: RunError| e.render(&name);
    let _run_files = RunFiles; // removed on every exit path
    let addresses = Addresses::from_config(config).map_err(|e| format!("{name}: {e}"))?;
    if config.psp_udp_port != 0 && !(config.wire_client || config.wire_server) {
        return Err(
            "PSP requires wireserver mode (use --wire_client or --wire_server)".to_string(),
        );
    }

    if config.userspace_stack && config.so_filename.is_none() {
        return Err("--userspace_stack needs --so_filename=PATH (the stack to test)".to_string());
    }

    // Before any thread starts, so that they all inherit it.
    cpu::pin_run(config.pin_cpu, config.so_filename.is_none())
        .map_err(|e| format!("{name}: {e}"))?;

    // A userspace stack needs no tun device, but the namespace still isolates the scripts'
    // commands and the ports reserved for the simulated peer.
    crate::sut::kernel::netns::enter_private_namespace()
        .map_err(|e| format!("{name}: cannot create a private network namespace: {e}"))?;
    let (netdev, userspace, clock): (Box<dyn Netdev>, Option<StackThread>, Arc<dyn Clock>) =
        match &config.so_filename {
            None => {
                let tun: TunNetdev =
                    crate::sut::kernel::netns::create_tun(&addresses.tun_config(config))
                        .map_err(|e| format!("{name}: cannot set up the tun device: {e}"))?;
                (Box::new(tun), None, Arc::new(RealClock))
            }
            Some(library) => {
                // Scripts written for the kernel configure tun0 in their commands (tc, ethtool,
                // ip link): a userspace stack's run gets one too, so those commands work, but
                // nothing reads or writes it (upstream creates none, so they fail there). Best
                // effort: without the privilege the run goes on without it.
                let _ = crate::sut::kernel::netns::create_unused_tun(&addresses.tun_config(config));
                let stack = start_userspace_stack(library, config, &addresses)
                    .map_err(|e| format!("{name}: {e}"))?;
                let netdev = Box::new(SoNetdev::new(stack.requester()));
                let clock = Arc::new(StackClock::new(stack.requester()));
                (netdev, Some(stack), clock)
            }
        };
    let netdev: Box<dyn Netdev> = match &config.pcap_file {
        Some(pcap) => Box::new(
            CapturingNetdev::create(netdev, pcap, clock.clone())
                .map_err(|e| format!("{name}: cannot write the pcap {}: {e}", pcap.display()))?,
        ),
        None => netdev,
    };

    let command_env = command::defines_for_commands(&loaded.defines());
    if let Some(init) = &script.init_command {
        command::run_shell_command(&init.text, directory, &command_env)
            .map_err(|e| format!("{name}: error executing init command: {e}"))?;
    }

    // Threads and the HTTP server start before time 0 is chosen, so none of that work falls
    // inside the script's timeline (and the server's threads are not real-time ones).
    let stack = userspace.unwrap_or_else(StackThread::spawn_kernel);
    let _http = match config.http_port {
        Some(port) => Some(start_introspection(&stack, port).map_err(|e| format!("{name}: {e}"))?),
        None => None,
    };

    // Before choosing time 0: locking memory takes milliseconds, which must not eat into the
    // script's first events (alignment only sleeps, so real-time priority costs others nothing).
    prefer_realtime_scheduling();
    let script_start_usecs = if clock.is_host_clock() {
        align_start(clock.as_ref())
    } else {
        clock.now_usecs()
    };
    if let Some(fault) = clock.fault() {
        return Err(format!("{name}: {fault}"));
    }
    let env = SyscallEnv {
        socket_domain: addresses.socket_domain(),
        local_ip: addresses.socket_view(addresses.local_ip),
        remote_ip: addresses.socket_view(addresses.remote_ip),
        bind_port: config.bind_port,
        connect_port: config.connect_port,
        script_start_usecs,
        tolerance_usecs: i64::from(config.tolerance_usecs),
    };
    stack.send(StackRequest::Begin(Box::new(env)));
    let mut executor = Executor::new(
        &name,
        script,
        &loaded.source,
        config,
        addresses,
        directory,
        netdev,
        stack,
        clock,
        script_start_usecs,
    );
    executor.command_env = command_env;

    let outcome = executor.run_events();
    write_injection_log(&executor.injection_log);
    let cleanup = script.cleanup_command.as_ref().map(|cleanup| {
        command::run_shell_command(&cleanup.text, directory, &executor.command_env)
            .map_err(|e| format!("{name}: error executing cleanup command: {e}"))
    });
    outcome.map_err(fail)?;
    if let Some(result) = cleanup {
        result?;
    }
    let runs = executor.take_code_runs();
    if !runs.is_empty() {
        code::run_code_blocks(&name, &config.code_command, &runs).map_err(|e| e.to_string())?;
    }
    executor.finish().map_err(fail)
}

/// Serves the stack's sockets over HTTP on 127.0.0.1:`port` of the run's namespace.
fn start_introspection(stack: &StackThread, port: u16) -> Result<HttpServer, String> {
    let view = if stack.is_polled() {
        polled_view(stack.requester(), stack.fd_map())
    } else {
        kernel_view(stack.fd_map(), port)
    };
    HttpServer::start(port, view)
        .map_err(|e| format!("{e} (--http_port=PORT picks another, --no_http turns it off)"))
}

/// Starts the stack thread of a userspace stack: it loads the library, initialises it with
/// `--so_flags` and tells it the test network.
fn start_userspace_stack(
    library: &Path,
    config: &Config,
    addresses: &Addresses,
) -> Result<StackThread, String> {
    let network = stack_network(config, addresses);
    let (library, flags) = (library.to_path_buf(), config.so_flags.clone());
    StackThread::spawn_polled(move || {
        let object = SharedObject::load(&library, flags.as_deref())?;
        object.set_network(&network)?;
        Ok(Box::new(SoStack::new(object)) as Box<dyn PolledStack>)
    })
}

/// The test network as `stackdrill_network_setup` describes it.
fn stack_network(config: &Config, addresses: &Addresses) -> StackdrillNetwork {
    let bytes = |ip: std::net::IpAddr| {
        let mut out = [0u8; 16];
        match ip {
            std::net::IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
            std::net::IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
        }
        out
    };
    StackdrillNetwork {
        family: if addresses.wire_ipv6() {
            libc::AF_INET6
        } else {
            libc::AF_INET
        },
        local_ip: bytes(addresses.local_ip),
        prefix_len: i32::from(addresses.local_prefix_len),
        gateway_ip: bytes(addresses.gateway_ip),
        remote_ip: bytes(addresses.remote_ip),
        mtu: config.mtu as i32,
    }
}

/// Removes per-run files the scripts' commands left behind (when dropped, on every path).
struct RunFiles;

impl Drop for RunFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(command::nstat_history_path());
    }
}

/// Picks script time 0: just after a kernel clock tick, as packetdrill does, so the kernel's
/// jiffy-granular timers line up the same way on every run.
fn align_start(clock: &dyn Clock) -> i64 {
    let ticks = || {
        let mut t = libc::tms {
            tms_utime: 0,
            tms_stime: 0,
            tms_cutime: 0,
            tms_cstime: 0,
        };
        // SAFETY: times() writes into the struct we own.
        unsafe { libc::times(&mut t) }
    };
    // Poll with short sleeps, not a spin: parallel runs must not hold a CPU for a whole tick.
    let mut changes = 0;
    let mut last = ticks();
    while changes < 2 {
        std::thread::sleep(std::time::Duration::from_micros(20));
        let now = ticks();
        if now != last {
            changes += 1;
            last = now;
        }
    }
    clock.now_usecs() + 250
}

/// With `STACKDRILL_INJECTION_LOG=FILE`, every inbound packet's scheduled and actual script
/// time (µs) is appended to FILE, one `scheduled actual` line each (scripts/bench-injection.sh).
fn write_injection_log(log: &[(i64, i64)]) {
    let Some(path) = std::env::var_os("STACKDRILL_INJECTION_LOG") else {
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

/// Like packetdrill: real-time round-robin scheduling (lowest priority) when there is more than
/// one CPU, so busy ordinary processes cannot delay injections; memory locked so page faults
/// cannot either. Both are best effort: without the privilege the run goes on unchanged.
fn prefer_realtime_scheduling() {
    // SAFETY: plain system call on this process.
    unsafe {
        // Locked as pages are first touched (MCL_ONFAULT): locking everything up front faults
        // in all of libpython, ~7 ms of kernel time per run that parallel runs pay for.
        libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT);
    }
    realtime_for_this_thread();
}

/// Real-time round-robin for the calling thread only, and not for anything it starts: the
/// scripts' shell commands (sysctl, tc, python...) run at normal priority, because at real-time
/// priority one of them busy for 50 ms would hold a CPU away from every parallel run's
/// injections (measured: inbound packets 5-8 ms late with 8 runs on 2 cores). Threads and
/// processes created later start as normal ones (SCHED_RESET_ON_FORK); the stack thread calls
/// this itself.
pub fn realtime_for_this_thread() {
    // SAFETY: plain system calls on the calling thread with valid arguments.
    unsafe {
        if libc::sysconf(libc::_SC_NPROCESSORS_ONLN) > 1 {
            let param = libc::sched_param {
                sched_priority: libc::sched_get_priority_min(libc::SCHED_RR),
            };
            libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param);
        }
    }
}
