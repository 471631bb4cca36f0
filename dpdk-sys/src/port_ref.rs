//! [`PortRef`]: a port this code did not create and does not own, used by its raw id — the
//! side of a userspace stack that stackdrill hands a started port (`stackdrill_dpdk_attach`):
//! frames in with rx_burst, frames out with tx_burst in mbufs of a pool it is given.

use crate::port::receive_bursts;
use crate::{ffi, DpdkError, BURST};

/// A started port's queue, borrowed by id: it neither configures, starts nor closes the port,
/// and makes no check that EAL was initialised (the copy of this crate that did it may be
/// another one in the same process: stackdrill's, while this one is in a shared object).
///
/// `Send` but not `Sync`: the queue must not be polled from two threads at once.
pub struct PortRef {
    id: u16,
    queue: u16,
    pool: *mut ffi::rte_mempool,
    /// rx_burst's output, reused.
    rx: [*mut ffi::rte_mbuf; BURST],
    /// Contiguous copy of a multi-segment frame, reused.
    scratch: Vec<u8>,
}

// SAFETY: the pointers are the pool (multi-producer/multi-consumer: any thread may allocate
// from it) and mbufs owned only during one call; a PortRef is used through &mut self, so one
// thread at a time polls its queue, as DPDK requires.
unsafe impl Send for PortRef {}

impl PortRef {
    /// The queue `queue` of port `id`, sending mbufs allocated from `pool`.
    ///
    /// # Safety
    /// EAL must be initialised in this process; port `id` must be started with a queue
    /// `queue` for rx and tx, and stay started while this `PortRef` is used; nothing else may
    /// use that queue meanwhile; `pool` must be a live packet-mbuf pool
    /// (`rte_pktmbuf_pool_create`) that outlives this `PortRef`.
    pub unsafe fn from_raw(id: u16, queue: u16, pool: *mut ffi::rte_mempool) -> PortRef {
        PortRef {
            id,
            queue,
            pool,
            rx: [std::ptr::null_mut(); BURST],
            scratch: Vec::new(),
        }
    }

    /// The port's id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Takes up to `max` frames from the queue now (rx_burst, never blocks) and hands each to
    /// `each` as a borrowed slice; returns how many.
    pub fn receive_with(&mut self, max: usize, mut each: impl FnMut(&[u8])) -> usize {
        // SAFETY: per from_raw's contract the port is started with this queue and only we poll
        // it.
        unsafe {
            receive_bursts(
                self.id,
                self.queue,
                &mut self.rx,
                &mut self.scratch,
                max,
                &mut each,
            )
        }
    }

    /// Sends one frame, copied into an mbuf of the pool, with one tx_burst: a queue that
    /// takes nothing now (full) gets no retry, as the one who empties it may be waiting for
    /// this very call to return; the frame is then freed and Err says so.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), DpdkError> {
        let len = u16::try_from(frame.len()).map_err(|_| {
            DpdkError::new(
                "rte_pktmbuf_append",
                format!("port {}: a {}-byte frame is too long", self.id, frame.len()),
            )
        })?;
        // SAFETY: the pool is live (from_raw's contract); frame is valid for len bytes.
        let mut mbuf = unsafe { ffi::shim_pktmbuf_from(self.pool, frame.as_ptr().cast(), len) };
        if mbuf.is_null() {
            return Err(DpdkError::new(
                "rte_pktmbuf_alloc",
                format!(
                    "port {}: no free mbuf for a {}-byte frame, or it does not fit one",
                    self.id,
                    frame.len()
                ),
            ));
        }
        // SAFETY: the port is started with this queue and only we use it; mbuf is one valid
        // mbuf, which DPDK takes when it returns 1.
        let taken = unsafe { ffi::rte_eth_tx_burst(self.id, self.queue, &mut mbuf, 1) };
        if taken == 0 {
            // SAFETY: DPDK did not take the mbuf; it is freed once.
            unsafe { ffi::shim_pktmbuf_free_bulk(&mut mbuf, 1) };
            return Err(DpdkError::new(
                "rte_eth_tx_burst",
                format!(
                    "port {} queue {}: the tx queue is full",
                    self.id, self.queue
                ),
            ));
        }
        Ok(())
    }
}
