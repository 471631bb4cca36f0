//! Introspection over HTTP: the socket table of the stack under test, read through the
//! backend's `StackView` (whichever stack it is), served from inside the run's private
//! namespace as `netstat -tan` and `ss -tni` text or JSON, one script fd's full tcp_info, and
//! the `/pollinghang` control, so one script inspects any stack with `curl`.

pub mod render;
pub mod server;

use std::sync::{Arc, Mutex};

pub use crate::sut::view::{Refusal, SocketRecord, StackView};

/// The script's open fds as (script fd, live fd), published by the run after every call, for
/// `/tcpinfo?fd=N`.
pub type ScriptFds = Arc<Mutex<Vec<(i64, i32)>>>;

/// The live fd behind a script fd, or a 400 naming it.
pub(crate) fn live_fd_of(fd_map: &ScriptFds, script_fd: i64) -> Result<i32, Refusal> {
    let map = fd_map.lock().unwrap_or_else(|e| e.into_inner());
    map.iter()
        .find(|(script, _)| *script == script_fd)
        .map(|(_, live)| *live)
        .ok_or_else(|| Refusal::BadRequest(format!("fd={script_fd}: no such script fd is open")))
}
