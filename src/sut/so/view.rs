//! A userspace stack's side of introspection: its socket table, one socket's tcp_info and the
//! polling hang, all asked of its stack thread (the only one that calls into the library).

use super::driver::{ask, Query, Requests};
use crate::sut::view::{Refusal, SocketRecord, StackView};

/// A userspace stack as introspection and code blocks see it.
pub struct LibraryView {
    pub requests: Requests,
}

impl StackView for LibraryView {
    fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal> {
        ask(&self.requests, Query::Sockets)
            .map_err(Refusal::Failed)?
            .ok_or_else(|| {
                Refusal::NotImplemented(
                    "this stack does not export stackdrill_sockets, so it cannot list its sockets"
                        .to_string(),
                )
            })
    }

    fn socket_info(&self, live_fd: i32) -> Result<Vec<(String, i64)>, Refusal> {
        ask(&self.requests, |answer| Query::Snapshot(live_fd, answer)).map_err(Refusal::Failed)
    }

    fn polling_hang(&self, millis: u64) -> Result<(), Refusal> {
        ask(&self.requests, |answer| Query::PollingHang(millis, answer)).map_err(Refusal::Failed)
    }
}
