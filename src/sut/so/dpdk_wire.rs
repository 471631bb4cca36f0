//! A userspace stack on a DPDK port (`--netdev=dpdk --so_filename=...`, cargo feature `dpdk`):
//! stackdrill starts EAL (once per process), makes two ethdev ports wired to each other
//! in-process (a net_ring pair), hands one to the library (`stackdrill_dpdk_attach`), which
//! polls it itself, and keeps the other as the simulated peer's end ([`DpdkWiredStack`]).
//!
//! The peer's end is driven from the stack thread, between two calls into the stack, never
//! concurrently with them: a frame the stack sends during a poll is taken right after that
//! poll and stamped with the stack's clock then, which has not moved since (time only moves in
//! `usleep`, and the stack thread polls right after each), so virtual time stays exact. The
//! stack's neighbour queries (it asks for its gateway) are answered in the same step, and the
//! stack is polled again at once, so the packet that waited for the answer leaves at the same
//! instant as without a link layer.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use dpdk_sys::{Mempool, Port};

use super::library::SharedObject;
use super::PolledStack;
use crate::sut::abi::StackdrillDpdkPort;
use crate::sut::clock::realtime_usecs;
use crate::sut::dpdk::{quietly, start_eal};
use crate::sut::target::Target;
use crate::sut::view::SocketRecord;
use crate::wire::link::{Mac, PEER_MAC};
use crate::wire::link_peer::{FromStack, LinkPeer};

/// The stack's MAC on the link: locally administered, next to the peer's. (A ring port
/// delivers every frame, so its own MAC means nothing.)
const STACK_MAC: Mac = [0x02, 0x00, 0x5d, 0x00, 0x00, 0x02];
/// Buffers in each end's pool: more than a ring (1023 frames) holds.
const MBUFS: u32 = 4095;
/// Descriptors of each port's queues.
const DESCRIPTORS: u16 = 512;
/// Frames taken from the peer's port in one go, at most.
const BURST: usize = 64;
/// How many times one poll of the stack is repeated because the peer answered a neighbour
/// query meanwhile (each answer lets a waiting packet go, which may need another neighbour).
const NEIGHBOUR_ROUNDS: usize = 4;

/// Numbers the ring pairs and pools of this process (DPDK names must be unique).
static NEXT_PAIR: AtomicU32 = AtomicU32::new(0);

/// What the peer's end needs to know of the run.
pub struct DpdkWireSetup {
    /// `--dpdk_eal_args`.
    pub eal_args: Vec<String>,
    /// The stack's own address (the peer answers neighbour queries for every other).
    pub stack_address: IpAddr,
    /// `--mtu`.
    pub mtu: usize,
}

/// Puts the loaded, set-up stack in `library` on a DPDK port: fails first, touching nothing,
/// when the library cannot take one; then starts EAL, makes the port pair and attaches the
/// stack's end. Runs on the stack thread, before its first poll.
pub fn attach(
    library: Arc<SharedObject>,
    stack: Box<dyn PolledStack>,
    setup: &DpdkWireSetup,
) -> Result<Box<dyn PolledStack>, String> {
    library.dpdk_attach_entry()?;
    start_eal(&setup.eal_args)?;
    let (pair, _) = quietly(start_pair);
    let (peer_port, stack_port, stack_pool) = pair?;
    library.attach_dpdk_port(&StackdrillDpdkPort {
        port_id: stack_port.raw_id(),
        queue_id: 0,
        mac: STACK_MAC,
        peer_mac: PEER_MAC,
        mempool: stack_pool.raw().cast(),
    })?;
    Ok(Box::new(DpdkWiredStack {
        stack,
        peer_port,
        stack_port: Some(stack_port),
        peer: LinkPeer::new(STACK_MAC, vec![setup.stack_address], setup.mtu),
        arrived: VecDeque::new(),
        finished: false,
    }))
}

/// A started ring pair: the peer's port, the stack's port and the stack's pool.
fn start_pair() -> Result<(Port, Port, Arc<Mempool>), String> {
    let number = NEXT_PAIR.fetch_add(1, Ordering::Relaxed);
    let failed = |what: &str, e: dpdk_sys::DpdkError| format!("--netdev=dpdk: cannot {what}: {e}");
    let (mut peer_port, mut stack_port) =
        Port::ring_pair(&format!("stack{number}")).map_err(|e| failed("make a port pair", e))?;
    let mut pools = Vec::with_capacity(2);
    for (port, end) in [(&mut peer_port, "peer"), (&mut stack_port, "stack")] {
        let pool = Mempool::new(&format!("{end}{number}"), MBUFS)
            .map_err(|e| failed("create a buffer pool", e))?;
        port.start(pool.clone(), DESCRIPTORS)
            .map_err(|e| failed(&format!("start the {end}'s port"), e))?;
        pools.push(pool);
    }
    let stack_pool = pools.pop().expect("two pools");
    Ok((peer_port, stack_port, stack_pool))
}

/// A userspace stack that polls its own DPDK port, with the simulated peer at the other end:
/// the script's packets go out on the peer's port, the stack's come back from it.
pub struct DpdkWiredStack {
    stack: Box<dyn PolledStack>,
    peer_port: Port,
    /// The library's port, kept open until the library is freed.
    stack_port: Option<Port>,
    peer: LinkPeer,
    /// IP packets the stack sent, with their time on its clock, not yet handed out.
    arrived: VecDeque<(Vec<u8>, i64)>,
    finished: bool,
}

impl DpdkWiredStack {
    /// Takes every frame waiting on the peer's port: IP packets are kept, stamped now;
    /// neighbour queries are answered. Returns whether any was answered.
    fn take_arrivals(&mut self) -> Result<bool, String> {
        let now = if self.stack.has_clock() {
            self.stack.now_usecs()?
        } else {
            realtime_usecs()
        };
        let mut answers = Vec::new();
        loop {
            let (peer, arrived) = (&self.peer, &mut self.arrived);
            let taken = self
                .peer_port
                .receive_with(BURST, |frame| match peer.from_stack(frame) {
                    FromStack::Packet(packet) => arrived.push_back((packet.to_vec(), now)),
                    FromStack::Answered(answer) => answers.push(answer),
                    // No layer-2 statements on a userspace stack's port (yet).
                    FromStack::Link(_) | FromStack::Ignored => {}
                })
                .map_err(|e| e.to_string())?;
            if taken < BURST {
                break;
            }
        }
        for answer in &answers {
            self.peer_port.send(answer).map_err(|e| e.to_string())?;
        }
        Ok(!answers.is_empty())
    }
}

impl PolledStack for DpdkWiredStack {
    fn name(&self) -> String {
        self.stack.name()
    }

    fn netdev_send(&mut self, packet: &[u8]) -> Result<(), String> {
        // What the stack sent before this packet left was sent before it.
        self.take_arrivals()?;
        let frame = self.peer.frame_to_stack(packet)?;
        self.peer_port.send(&frame).map_err(|e| e.to_string())
    }

    fn netdev_receive(&mut self) -> Result<Option<(Vec<u8>, i64)>, String> {
        if self.arrived.is_empty() && self.take_arrivals()? {
            // The stack waits for that answer to send something: let it, at this instant.
            self.poll()?;
        }
        Ok(self.arrived.pop_front())
    }

    fn has_clock(&self) -> bool {
        self.stack.has_clock()
    }

    fn now_usecs(&mut self) -> Result<i64, String> {
        self.stack.now_usecs()
    }

    fn sleep_usecs(&mut self, usecs: u32) -> Result<(), String> {
        self.stack.sleep_usecs(usecs)
    }

    /// Polls the stack, then takes what it sent; when that included neighbour queries, the
    /// answers go back and the stack is polled again at once.
    fn poll(&mut self) -> Result<Option<i64>, String> {
        // Every poll is followed by a take, so no frame waits on the port for a later stamp.
        let mut next = self.stack.poll()?;
        let mut rounds = 0;
        while self.take_arrivals()? && rounds < NEIGHBOUR_ROUNDS {
            next = self.stack.poll()?;
            rounds += 1;
        }
        Ok(next)
    }

    fn has_poll(&self) -> bool {
        self.stack.has_poll()
    }

    fn sockets(&mut self) -> Result<Option<Vec<SocketRecord>>, String> {
        self.stack.sockets()
    }

    fn call_target(&self, in_library: Arc<AtomicBool>) -> Box<dyn Target> {
        self.stack.call_target(in_library)
    }

    fn finish(&mut self) {
        self.stack.finish();
        self.finished = true;
        // The library no longer polls its port.
        self.stack_port = None;
    }
}

impl Drop for DpdkWiredStack {
    fn drop(&mut self) {
        if !self.finished {
            // A call may still sleep inside the stack and poll the port when it wakes: the
            // port stays open until the process ends.
            std::mem::forget(self.stack_port.take());
        }
    }
}
