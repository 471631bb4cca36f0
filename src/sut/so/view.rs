//! A userspace stack's side of introspection: its socket table, tcp_info and polling hang, all
//! asked of its stack thread (the only one that calls into the library).

use std::sync::mpsc::Sender;
use std::sync::Arc;

use crate::introspect::live_fd_of;
use crate::run::stack::{ask, FdMap, PolledRequest, StackRequest};
use crate::sut::so::driver::NO_SOCKET_TABLE;
use crate::sut::view::{Refusal, SocketRecord, StackView};

/// A userspace stack as the HTTP server sees it.
pub struct PolledView {
    requests: Sender<StackRequest>,
    fd_map: FdMap,
}

impl StackView for PolledView {
    fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal> {
        ask(&self.requests, PolledRequest::Sockets).map_err(|e| {
            if e == NO_SOCKET_TABLE {
                Refusal::NotImplemented(e)
            } else {
                Refusal::Failed(e)
            }
        })
    }

    fn tcp_info(&self, script_fd: i64) -> Result<Vec<(String, i64)>, Refusal> {
        let live_fd = live_fd_of(&self.fd_map, script_fd)?;
        ask(&self.requests, |answer| {
            PolledRequest::CodeSnapshot(live_fd, answer)
        })
        .map_err(Refusal::Failed)
    }

    fn polling_hang(&self, millis: u64) -> Result<(), Refusal> {
        ask(&self.requests, |answer| {
            PolledRequest::PollingHang(millis, answer)
        })
        .map_err(Refusal::Failed)
    }
}

/// A view for a userspace stack's thread.
pub fn polled_view(requests: Sender<StackRequest>, fd_map: FdMap) -> Arc<dyn StackView> {
    Arc::new(PolledView { requests, fd_map })
}
