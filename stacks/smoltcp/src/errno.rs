//! Linux errno values as results: [`Errno`], [`SysResult`], and setting the calling thread's
//! `errno` when a socket call fails.

use libc::c_int;

/// A Linux errno value (`libc::E*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub c_int);

/// The outcome of a socket call: its value, or the errno it fails with.
pub type SysResult<T> = Result<T, Errno>;

/// Shorthand for `Err(Errno(code))`.
pub fn fail<T>(code: c_int) -> SysResult<T> {
    Err(Errno(code))
}

/// Sets the calling thread's `errno`.
pub fn set_thread_errno(errno: Errno) {
    // SAFETY: __errno_location returns a valid pointer to the calling thread's errno.
    unsafe { *libc::__errno_location() = errno.0 };
}
