//! Introspection over HTTP: the socket table of the stack under test — the kernel's, read
//! through netlink sock_diag, or a userspace stack's, through its `stackdrill_sockets`
//! extension — served from inside the run's private namespace as `netstat -tan` and
//! `ss -tni` text or JSON, one script fd's full tcp_info, and the `/pollinghang` control, so
//! one script inspects any stack with `curl`.

pub mod render;
pub mod server;

use crate::run::stack::FdMap;
pub use crate::sut::view::{Refusal, SocketRecord, StackView};

/// The live fd behind a script fd, or a 400 naming it.
pub(crate) fn live_fd_of(fd_map: &FdMap, script_fd: i64) -> Result<i32, Refusal> {
    let map = fd_map.lock().unwrap_or_else(|e| e.into_inner());
    map.iter()
        .find(|(script, _)| *script == script_fd)
        .map(|(_, live)| *live)
        .ok_or_else(|| Refusal::BadRequest(format!("fd={script_fd}: no such script fd is open")))
}
