//! [`DpdkError`]: which DPDK call failed and why, in words (`rte_strerror`).

use std::ffi::CStr;

use crate::ffi;

/// A DPDK call that failed: which call, and rte_strerror(rte_errno) or the return code's meaning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{call}: {message}")]
pub struct DpdkError {
    /// The DPDK function that failed (or that would have been called), e.g. `"rte_vdev_init"`.
    pub call: &'static str,
    /// What was asked and why it failed, e.g. `"net_tap0 (iface=tun0): File exists"`.
    pub message: String,
}

impl DpdkError {
    pub(crate) fn new(call: &'static str, message: impl Into<String>) -> Self {
        Self {
            call,
            message: message.into(),
        }
    }

    /// `call` failed and set `rte_errno`: "`what`: <its meaning>".
    pub(crate) fn errno(call: &'static str, what: &str) -> Self {
        // SAFETY: shim_rte_errno only reads the calling thread's rte_errno.
        let errno = unsafe { ffi::shim_rte_errno() };
        Self::new(call, format!("{what}: {}", strerror(errno)))
    }

    /// `call`, a system call, failed and set the thread's errno: "`what`: <its meaning>".
    pub(crate) fn os(call: &'static str, what: &str) -> Self {
        Self::new(call, format!("{what}: {}", std::io::Error::last_os_error()))
    }

    /// `call` returned `ret`, a negative errno: "`what`: <its meaning>".
    pub(crate) fn code(call: &'static str, what: &str, ret: i32) -> Self {
        Self::new(call, format!("{what}: {}", strerror(ret.saturating_abs())))
    }
}

/// `rte_strerror(errno)` (which also knows DPDK's own codes above `__ELASTERROR`).
pub(crate) fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror returns a NUL-terminated string, static or in a thread-local buffer
    // that stays valid until the next call on this thread; it is copied out at once.
    let text = unsafe { CStr::from_ptr(ffi::rte_strerror(errno)) };
    format!("{} (errno {errno})", text.to_string_lossy())
}
