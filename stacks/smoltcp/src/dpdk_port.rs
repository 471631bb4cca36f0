//! The DPDK device mode (cargo feature `dpdk`): `stackdrill_dpdk_attach` takes the port
//! stackdrill hands over (`stackdrill --netdev=dpdk`) and makes it the link, as a
//! [`FramePort`] over dpdk-sys's [`PortRef`]: smoltcp becomes an Ethernet host with the given
//! MAC, polls the port in its own polls, and finds its gateway by ARP/NDP over it. The library
//! links the same librte_* shared objects as stackdrill, so both use the process's one EAL.

use std::ffi::c_void;

use dpdk_sys::PortRef;
use libc::c_int;

use crate::abi::StackdrillDpdkPort;
use crate::stack_entry_points::{setup_status, stack_entry};
use crate::virtual_link::FramePort;

/// Frames taken from the port in one poll, at most (the rest wait for the next one).
const RECEIVE_BURST: usize = 256;

/// A DPDK port's queue as the link's frames.
struct DpdkFrames(PortRef);

impl FramePort for DpdkFrames {
    fn receive(&mut self, each: &mut dyn FnMut(&[u8])) {
        self.0.receive_with(RECEIVE_BURST, each);
    }

    fn send(&mut self, frame: &[u8]) -> Result<(), String> {
        self.0.send(frame).map_err(|e| e.to_string())
    }
}

/// Makes `port` the stack's link (see the module's documentation); non-zero when it cannot.
/// Called once, after `stackdrill_network_setup` and before the first `stackdrill_poll`.
///
/// # Safety
/// `userdata` must come from `packetdrill_interface_init`; `port` must be NULL or describe a
/// started port of this process's EAL and a live mbuf pool, both valid until `free`.
#[no_mangle]
pub unsafe extern "C" fn stackdrill_dpdk_attach(
    userdata: *mut c_void,
    port: *const StackdrillDpdkPort,
) -> c_int {
    stack_entry("stackdrill_dpdk_attach", userdata, -1, |adapter| {
        // SAFETY: stackdrill passes a valid description (or NULL, refused).
        let Some(port) = (unsafe { port.as_ref() }) else {
            return -1;
        };
        if port.mempool.is_null() {
            eprintln!("stackdrill-smoltcp: stackdrill_dpdk_attach needs a mempool to send from");
            return -1;
        }
        // SAFETY: per this function's contract the port is started with this queue and the
        // pool is live until free; only the stack, under its mutex, polls the queue.
        let frames = unsafe { PortRef::from_raw(port.port_id, port.queue_id, port.mempool.cast()) };
        let attached = adapter
            .stack_thread_call(|stack| stack.attach_port(Box::new(DpdkFrames(frames)), port.mac));
        setup_status(attached, "cannot use the DPDK port")
    })
}
