//! [`Mempool`]: a DPDK pool of packet buffers (`rte_pktmbuf_pool_create`), freed on drop.

use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::{eal, ffi, DpdkError};

/// Longest pool name DPDK takes: RTE_MEMPOOL_NAMESIZE (27, a macro bindgen cannot evaluate)
/// less its NUL.
const MAX_NAME: usize = 26;

/// Room for one frame in each mbuf: RTE_MBUF_DEFAULT_BUF_SIZE (2048 bytes of data after the
/// 128-byte headroom), enough for a 1518-byte Ethernet frame in one segment.
const DATA_ROOM: u16 = 2048 + ffi::RTE_PKTMBUF_HEADROOM as u16;

/// A pool of packet buffers. Created as an `Arc`: each started [`crate::Port`] keeps a clone,
/// so the pool is freed (`rte_mempool_free`) only after the last port using it is dropped.
///
/// Mbufs are taken and returned without a per-lcore cache (cache size 0): stackdrill's threads
/// are not EAL lcores, for which DPDK uses no cache anyway, and no buffers sit stranded in one.
#[derive(Debug)]
pub struct Mempool {
    raw: NonNull<ffi::rte_mempool>,
    name: String,
}

// SAFETY: an rte_mempool created with default flags is multi-producer/multi-consumer: any
// thread may take mbufs from it or return them concurrently. Freeing happens only in Drop,
// when no other reference (Arc) remains.
unsafe impl Send for Mempool {}
// SAFETY: see Send; shared access only takes and returns mbufs, which DPDK makes thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `mbufs` packet buffers named `name` (unique in the process, at most 26
    /// bytes). net_af_xdp needs at least 8191 mbufs; net_tap and ring ports need about twice
    /// their descriptor count.
    pub fn new(name: &str, mbufs: u32) -> Result<Arc<Mempool>, DpdkError> {
        const CALL: &str = "rte_pktmbuf_pool_create";
        eal::ready(CALL)?;
        if name.is_empty() || name.len() > MAX_NAME {
            return Err(DpdkError::new(
                CALL,
                format!("pool name {name:?} must be 1 to {MAX_NAME} bytes long"),
            ));
        }
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new(CALL, format!("pool name {name:?} contains a NUL")))?;
        // SAFETY: EAL is initialised (checked above); cname is a valid C string that DPDK
        // copies.
        let raw = unsafe {
            ffi::rte_pktmbuf_pool_create(cname.as_ptr(), mbufs, 0, 0, DATA_ROOM, ffi::SOCKET_ID_ANY)
        };
        let raw = NonNull::new(raw)
            .ok_or_else(|| DpdkError::errno(CALL, &format!("pool {name:?} of {mbufs} mbufs")))?;
        Ok(Arc::new(Mempool {
            raw,
            name: name.to_owned(),
        }))
    }

    /// The name given to [`Mempool::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many mbufs are free in the pool now.
    pub fn available(&self) -> u32 {
        // SAFETY: self.raw is a live pool (freed only in Drop).
        unsafe { ffi::rte_mempool_avail_count(self.raw.as_ptr()) }
    }

    /// The raw pool, for C code that allocates from it. It stays valid while `self` lives.
    pub fn raw(&self) -> *mut ffi::rte_mempool {
        self.raw.as_ptr()
    }

    /// Bytes one mbuf holds after its headroom: the longest frame a single segment carries.
    pub(crate) fn max_frame(&self) -> usize {
        // SAFETY: self.raw is a live packet-mbuf pool (created by rte_pktmbuf_pool_create).
        let room = unsafe { ffi::rte_pktmbuf_data_room_size(self.raw.as_ptr()) };
        usize::from(room).saturating_sub(ffi::RTE_PKTMBUF_HEADROOM as usize)
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: this is the last reference to the pool; every port that used it held an Arc
        // and has been stopped and closed, so no queue still owns its mbufs.
        unsafe { ffi::rte_mempool_free(self.raw.as_ptr()) };
    }
}
