//! A userspace stack's own network device (`netdev_send`/`netdev_receive` of the shared
//! object) as a `Netdev`: packets go to and come from the stack thread, which owns the library
//! and waits on the stack's clock. GSO marking (`--mss`) is not conveyed: the ABI has no field
//! for it.

use std::io;

use super::driver::{ask, Query, Requests};
use crate::sut::netdev::Netdev;

pub struct LibraryNetdev {
    requests: Requests,
}

impl LibraryNetdev {
    pub fn new(requests: Requests) -> Self {
        LibraryNetdev { requests }
    }
}

impl Netdev for LibraryNetdev {
    fn send(&mut self, packet: &[u8], _gso_size: Option<u16>) -> io::Result<()> {
        ask(&self.requests, |answer| {
            Query::Send(packet.to_vec(), answer)
        })
        .map_err(io::Error::other)
    }

    fn receive(&mut self, deadline_usecs: Option<i64>) -> io::Result<Option<(Vec<u8>, i64)>> {
        ask(&self.requests, |answer| {
            Query::Receive(deadline_usecs, answer)
        })
        .map_err(io::Error::other)
    }
}
