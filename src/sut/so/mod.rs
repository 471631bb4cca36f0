//! A userspace stack behind packetdrill's shared-object ABI (`--so_filename`): the library
//! (`library.rs`), its socket calls as a `Target` (`target.rs`), its netdev, clock and polling
//! (`stack.rs`), driven by a stack thread of its own (`driver.rs`) that the run's netdev
//! (`netdev.rs`), clock (`clock.rs`) and introspection (`view.rs`) ask, giving up on it when it
//! is stuck inside the stack (`watch.rs`); a stack that exits the process fails the run
//! (`exit_guard.rs`). With `--netdev=dpdk` the stack polls a DPDK port of its own instead of
//! its netdev entries (`dpdk_wire.rs`).

pub mod clock;
#[cfg(feature = "dpdk")]
pub mod dpdk_wire;
pub mod driver;
pub mod exit_guard;
pub mod guard;
pub mod library;
pub mod netdev;
pub mod stack;
pub mod target;
pub mod view;
pub mod watch;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::cli::Config;
use crate::sut::abi::StackdrillNetwork;
use crate::sut::network::Addresses;
use crate::sut::target::Target;
use crate::sut::view::SocketRecord;
use crate::sut::{Backend, Wire};

use clock::StackClock;
use driver::StackThread;
use library::SharedObject;
use netdev::LibraryNetdev;
use stack::SoStack;
use view::LibraryView;

/// The backend of the userspace stack in `library`, in the run's (already entered) private
/// network namespace: its stack thread loads the library, initialises it with `flags`, tells
/// it the test network and puts it on `wire`; the run's calls, packets, clock and
/// introspection all go through that thread.
pub fn open(
    library: &Path,
    flags: Option<&str>,
    wire: &Wire,
    config: &Config,
    network: &Addresses,
) -> Result<Backend, String> {
    // Scripts written for the kernel configure tun0 in their commands (tc, ethtool, ip link):
    // a userspace stack's run gets one too, so those commands work, but nothing reads or
    // writes it (upstream creates none, so they fail there). Best effort: without the
    // privilege the run goes on without it.
    let _ = crate::sut::kernel::create_unused_tun(config, network);
    let setup = stack_network(config, network);
    let (library, flags) = (library.to_path_buf(), flags.map(str::to_string));
    let on_wire = stack_on_wire(wire, config, network)?;
    let watch = Arc::new(watch::EntryWatch::default());
    let thread_watch = watch.clone();
    let thread = StackThread::spawn(
        move || {
            let object = SharedObject::load(&library, flags.as_deref(), thread_watch)?;
            object.set_network(&setup)?;
            on_wire(object)
        },
        watch,
    )?;
    let requests = thread.requests();
    Ok(Backend {
        netdev: Box::new(LibraryNetdev::new(requests.clone())),
        clock: Arc::new(StackClock::new(requests.clone())),
        view: Arc::new(LibraryView { requests }),
        calls: Box::new(thread),
        environment: Default::default(),
    })
}

/// Fails when the process has no file descriptor left: a stack under test that leaks them
/// would otherwise pass while starving stackdrill (and the next run, were it in the same
/// process). Called when a run with a loaded stack has otherwise passed.
pub fn descriptors_left() -> Result<(), String> {
    match std::fs::File::open("/dev/null") {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct it is given.
            let limit = match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
                0 => limit.rlim_cur.to_string(),
                _ => "?".to_string(),
            };
            Err(format!(
                "the stack under test has used up every file descriptor (the limit is {limit}): \
                 it leaks them"
            ))
        }
        _ => Ok(()),
    }
}

/// What puts a loaded, set-up stack on `wire`, on the stack thread: its own netdev entries on
/// tun; a DPDK port it polls itself with `--netdev=dpdk`.
type StackOnWire =
    Box<dyn FnOnce(Arc<SharedObject>) -> Result<Box<dyn PolledStack>, String> + Send>;

fn stack_on_wire(wire: &Wire, config: &Config, network: &Addresses) -> Result<StackOnWire, String> {
    match wire {
        Wire::Tun => Ok(Box::new(|object| {
            Ok(Box::new(SoStack::new(object)) as Box<dyn PolledStack>)
        })),
        Wire::Dpdk { eal_args, .. } => dpdk_port(eal_args, config, network),
        // sut::choose refuses it.
        Wire::Veth | Wire::AfXdp => {
            Err("--netdev=veth and af_xdp: not for a userspace stack".to_string())
        }
    }
}

#[cfg(feature = "dpdk")]
fn dpdk_port(
    eal_args: &[String],
    config: &Config,
    network: &Addresses,
) -> Result<StackOnWire, String> {
    let setup = dpdk_wire::DpdkWireSetup {
        eal_args: eal_args.to_vec(),
        stack_address: network.local_ip,
        mtu: config.mtu as usize,
    };
    Ok(Box::new(move |object| {
        let stack = Box::new(SoStack::new(object.clone()));
        dpdk_wire::attach(object, stack, &setup)
    }))
}

#[cfg(not(feature = "dpdk"))]
fn dpdk_port(_: &[String], _: &Config, _: &Addresses) -> Result<StackOnWire, String> {
    Err(crate::sut::WITHOUT_DPDK.to_string())
}

/// The test network as `stackdrill_network_setup` describes it.
fn stack_network(config: &Config, network: &Addresses) -> StackdrillNetwork {
    let bytes = |ip: std::net::IpAddr| {
        let mut out = [0u8; 16];
        match ip {
            std::net::IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
            std::net::IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
        }
        out
    };
    StackdrillNetwork {
        family: if network.wire_ipv6() {
            libc::AF_INET6
        } else {
            libc::AF_INET
        },
        local_ip: bytes(network.local_ip),
        prefix_len: i32::from(network.local_prefix_len),
        gateway_ip: bytes(network.gateway_ip),
        remote_ip: bytes(network.remote_ip),
        mtu: config.mtu as i32,
    }
}

/// A userspace stack that is also the network and possibly the clock: stackdrill's stack thread
/// hands it packets, takes the ones it sends, keeps time on its clock and polls it between
/// operations. (The kernel target needs none of this: it has tun and the host clock.)
pub trait PolledStack: Send {
    /// For messages ("so:libfoo.so").
    fn name(&self) -> String;
    /// Hands one IP packet from the simulated peer to the stack.
    fn netdev_send(&mut self, packet: &[u8]) -> Result<(), String>;
    /// The next packet the stack sent, with its transmit time on the stack's clock (µs), or
    /// None when it has none queued. Never blocks.
    fn netdev_receive(&mut self) -> Result<Option<(Vec<u8>, i64)>, String>;
    /// Whether the stack keeps its own clock (`usleep` and `gettimeofday`); else the host's
    /// CLOCK_REALTIME is the clock.
    fn has_clock(&self) -> bool;
    /// The stack's clock, in µs (only when `has_clock`).
    fn now_usecs(&mut self) -> Result<i64, String>;
    /// Lets `usecs` pass on the stack's clock (only when `has_clock`).
    fn sleep_usecs(&mut self, usecs: u32) -> Result<(), String>;
    /// Lets the stack do the work due now; Some(µs) until it next needs a poll.
    fn poll(&mut self) -> Result<Option<i64>, String>;
    /// Whether `poll` reaches the stack at all (else it always says "nothing scheduled").
    fn has_poll(&self) -> bool;
    /// The stack's socket table (`stackdrill_sockets`); None when the stack cannot tell.
    fn sockets(&mut self) -> Result<Option<Vec<SocketRecord>>, String>;
    /// A `Target` making socket calls into the same stack, for the stack thread's call worker;
    /// it keeps `in_library` set while a call is inside the stack.
    fn call_target(&self, in_library: Arc<AtomicBool>) -> Box<dyn Target>;
    /// The end of the run: the stack frees its state. Called at most once.
    fn finish(&mut self);
}
