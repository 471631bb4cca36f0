//! The system under test, chosen once from the configuration into one [`Backend`] that owns
//! everything target- or wire-specific: where system calls go ([`calls::CallThread`], over a
//! [`target::Target`]), where packets travel ([`netdev::Netdev`]), whose clock runs the script
//! ([`clock::Clock`]), what introspection and code blocks read ([`view::StackView`]), and the
//! profile of defines that comes with it. Nothing outside this module asks which kind of
//! backend it is.
//!
//! One folder per kind of backend: `kernel/` (the Linux kernel over a tun device), `dpdk/` (a
//! DPDK port as the kernel's wire, with the `dpdk` cargo feature), `af_xdp/` (an AF_XDP port on
//! a veth, with the `af_xdp` cargo feature) and `so/` (a userspace stack in a shared object).
//! A new wire or target is one folder plus one arm in [`choose`] and [`open`].

/// The shared-object ABI as Rust types (the `stackdrill-abi` crate, shared with Rust adapters).
pub use stackdrill_abi as abi;

#[cfg(feature = "af_xdp")]
pub mod af_xdp;
pub mod calls;
pub mod capture;
pub mod clock;
#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod kernel;
pub mod netdev;
pub mod network;
pub mod packet_socket;
pub mod private_tmp;
pub mod so;
pub mod socket_info;
pub mod target;
pub mod veth;
pub mod view;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{Config, NetdevKind};

use calls::CallThread;
use capture::CapturingNetdev;
use clock::Clock;
use netdev::Netdev;
use network::Addresses;
use view::StackView;

/// The kind of stack under test the configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The Linux kernel (default), its packets on `wire`.
    Kernel { wire: Wire },
    /// A userspace stack behind packetdrill's shared-object ABI (`--so_filename`, with
    /// `--so_flags`), its packets on `wire`: through its own netdev entries (`Wire::Tun`), or
    /// on a DPDK port it polls itself (`Wire::Dpdk`, without devargs: stackdrill makes the
    /// port).
    SharedObject {
        library: PathBuf,
        flags: Option<String>,
        wire: Wire,
    },
}

/// Where the stack's packets travel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// A tun device (default, as packetdrill).
    Tun,
    /// A DPDK port (`--netdev=dpdk`): `devargs` names it (None: a net_tap device named tun0 in
    /// the run's namespace); `eal_args` are added to EAL's.
    Dpdk {
        devargs: Option<String>,
        eal_args: Vec<String>,
    },
    /// A veth pair in the run's namespace (`--netdev=veth`): the stack's end is tun0,
    /// stackdrill's is read and written through AF_PACKET (no device file, no root needed).
    Veth,
    /// The same veth pair, stackdrill's end an AF_XDP socket (`--netdev=af_xdp`).
    AfXdp,
}

/// The one line a run with `--netdev=dpdk` gets from a stackdrill built without DPDK.
#[cfg(not(feature = "dpdk"))]
pub(crate) const WITHOUT_DPDK: &str =
    "--netdev=dpdk: this stackdrill was built without DPDK (cargo build --features dpdk)";

/// Which stack the configuration puts under test, and on which wire: the one place that
/// decides.
pub fn choose(config: &Config) -> Result<Choice, String> {
    let wire = match config.netdev {
        NetdevKind::Tun => Wire::Tun,
        NetdevKind::Dpdk => Wire::Dpdk {
            devargs: config.dpdk_devargs.clone(),
            eal_args: config.dpdk_eal_args.clone(),
        },
        NetdevKind::Veth => Wire::Veth,
        NetdevKind::AfXdp => Wire::AfXdp,
    };
    match &config.so_filename {
        Some(_) if config.dpdk_devargs.is_some() && wire != Wire::Tun => Err(
            "--dpdk_devargs: a userspace stack under test gets a port stackdrill makes (an \
             in-process ring pair), not a device"
                .to_string(),
        ),
        Some(_) if matches!(wire, Wire::Veth | Wire::AfXdp) => Err(format!(
            "--netdev={}: a userspace stack under test brings its own netdev (use --netdev=tun \
             or --netdev=dpdk with --so_filename)",
            if wire == Wire::Veth { "veth" } else { "af_xdp" }
        )),
        Some(library) => Ok(Choice::SharedObject {
            library: library.clone(),
            flags: config.so_flags.clone(),
            wire,
        }),
        None if config.userspace_stack => {
            Err("--userspace_stack needs --so_filename=PATH (the stack to test)".to_string())
        }
        None => Ok(Choice::Kernel { wire }),
    }
}

/// The stack's profile of defines: the values portable scripts name where stacks legitimately
/// differ (the script's own and `-D` defines win over them).
pub fn profile_defines(choice: &Choice) -> Result<BTreeMap<String, String>, String> {
    let pairs = match choice {
        Choice::Kernel { .. } => kernel::target::PROFILE_DEFINES
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect(),
        Choice::SharedObject { library, flags, .. } => {
            so::library::profile_defines(library, flags.as_deref())?
        }
    };
    Ok(pairs.into_iter().collect())
}

/// Whether runs of this configuration share a process-wide start-up ([`prepare_process`]) that
/// a suite does once and forks its runs from (DPDK's EAL, ~0.2 s).
pub fn has_process_startup(config: &Config) -> bool {
    cfg!(feature = "dpdk") && config.netdev == NetdevKind::Dpdk
}

/// Does the process-wide start-up of this configuration's stack now (see
/// [`has_process_startup`]); runs in this process, or forked from it, then skip it.
pub fn prepare_process(config: &Config) -> Result<(), String> {
    #[cfg(feature = "dpdk")]
    if config.netdev == NetdevKind::Dpdk {
        return dpdk::start_eal(&config.dpdk_eal_args);
    }
    let _ = config;
    Ok(())
}

/// In a process forked after [`prepare_process`]: makes the prepared state this process's own,
/// so that runs forked from one parent never share it (DPDK's memory is a shared mapping).
pub fn own_process_state() -> Result<(), String> {
    #[cfg(feature = "dpdk")]
    dpdk_sys::privatise_memory()
        .map_err(|e| format!("cannot take a private copy of DPDK's memory: {e}"))?;
    Ok(())
}

/// Everything a run uses of the stack under test. Dropping it tears the stack down (a
/// userspace stack frees its state; the kernel's sockets go with the process and its
/// namespace).
pub struct Backend {
    /// Where the script's calls run.
    pub calls: Box<dyn CallThread>,
    /// Where packets travel (wrapped by the pcap writer with `--pcap`).
    pub netdev: Box<dyn Netdev>,
    /// Whose time runs the script.
    pub clock: Arc<dyn Clock>,
    /// What introspection and `%{ }%` code blocks read.
    pub view: Arc<dyn StackView>,
    /// What the reports record of the stack's setting for this run (the kernel's release and
    /// TCP settings; empty for a userspace stack).
    pub environment: std::collections::BTreeMap<String, String>,
}

/// Sets up the chosen stack for one run: keeps the run on a CPU if asked, enters a private
/// network namespace (every run has its own, whatever the stack: it also isolates the scripts'
/// commands), then builds the backend. Call it before starting any other thread, so that they
/// all inherit the CPU and the namespace.
pub fn open(
    choice: &Choice,
    config: &Config,
    network: &Addresses,
    keep: &[std::path::PathBuf],
) -> Result<Backend, String> {
    // `--pin_cpu=start` is for the kernel's timers; a userspace stack keeps its own time.
    let kernel = matches!(choice, Choice::Kernel { .. });
    crate::sched::cpu::pin_run(config.pin_cpu, kernel)?;
    kernel::netns::enter_private_namespace()
        .map_err(|e| format!("cannot create a private network namespace: {e}"))?;
    private_tmp::enter(&paths_the_run_keeps(choice, config, keep))
        .map_err(|e| format!("cannot give the run a private /tmp: {e}"))?;
    let backend = match choice {
        Choice::Kernel { wire } => kernel::open(wire, config, network)?,
        Choice::SharedObject {
            library,
            flags,
            wire,
        } => so::open(library, flags.as_deref(), wire, config, network)?,
    };
    match &config.pcap_file {
        Some(pcap) => backend
            .captured(pcap)
            .map_err(|e| format!("cannot write the pcap {}: {e}", pcap.display())),
        None => Ok(backend),
    }
}

/// The host paths a run reads or writes after [`private_tmp::enter`]: its pcap, the library it
/// loads, and the caller's `keep`.
fn paths_the_run_keeps(
    choice: &Choice,
    config: &Config,
    keep: &[std::path::PathBuf],
) -> Vec<std::path::PathBuf> {
    let mut paths: Vec<std::path::PathBuf> = config.pcap_file.iter().cloned().collect();
    if let Choice::SharedObject { library, .. } = choice {
        paths.push(library.clone());
    }
    paths.extend_from_slice(keep);
    paths
}

impl Backend {
    /// The same backend with every packet written to the pcap file `path` as it passes.
    fn captured(self, path: &std::path::Path) -> std::io::Result<Backend> {
        let Backend {
            calls,
            netdev,
            clock,
            view,
            environment,
        } = self;
        let netdev = Box::new(CapturingNetdev::create(netdev, path, clock.clone())?);
        Ok(Backend {
            calls,
            netdev,
            clock,
            view,
            environment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dpdk_config(so_filename: Option<&str>, devargs: Option<&str>) -> Config {
        Config {
            netdev: NetdevKind::Dpdk,
            so_filename: so_filename.map(PathBuf::from),
            dpdk_devargs: devargs.map(str::to_string),
            dpdk_eal_args: vec!["--log-level=*:debug".to_string()],
            ..Config::default()
        }
    }

    #[test]
    fn a_userspace_stack_may_take_a_dpdk_port_but_not_a_device() {
        let wire = Wire::Dpdk {
            devargs: None,
            eal_args: vec!["--log-level=*:debug".to_string()],
        };
        assert_eq!(
            choose(&dpdk_config(Some("libx.so"), None)),
            Ok(Choice::SharedObject {
                library: PathBuf::from("libx.so"),
                flags: None,
                wire: wire.clone(),
            })
        );
        assert_eq!(
            choose(&dpdk_config(None, None)),
            Ok(Choice::Kernel { wire })
        );
        let refused = choose(&dpdk_config(Some("libx.so"), Some("net_tap1"))).unwrap_err();
        assert!(refused.starts_with("--dpdk_devargs: "), "{refused}");
    }
}
