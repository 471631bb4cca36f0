//! What introspection reads of the stack under test: its sockets (`SocketRecord`), one socket's
//! tcp_info, and a polling hang, through the `StackView` seam each backend implements.

use std::net::SocketAddr;

/// One socket of the stack under test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRecord {
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub protocol: i32,
    pub local: SocketAddr,
    /// The unspecified address, port 0, for a listener.
    pub remote: SocketAddr,
    /// Linux's TCP state numbers (TCP_ESTABLISHED = 1 … TCP_LISTEN = 10).
    pub state: u8,
    /// Bytes not yet read (a listener: connections waiting for accept()).
    pub recv_queue: u32,
    /// Bytes not yet acknowledged (a listener: its backlog).
    pub send_queue: u32,
    /// The congestion control algorithm's name, when known.
    pub congestion: Option<String>,
    /// `struct tcp_info` as the stack filled it (Linux layout; empty when unknown).
    pub tcp_info: Vec<u8>,
}

/// Why a request could not be answered, with the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request itself is wrong (a bad fd, a non-numeric time).
    BadRequest(String),
    /// 404: no such path.
    NotFound(String),
    /// 501: the stack under test cannot answer this (a missing extension symbol).
    NotImplemented(String),
    /// 500: asking the stack failed.
    Failed(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::NotFound(_) => 404,
            Refusal::NotImplemented(_) => 501,
            Refusal::Failed(_) => 500,
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Refusal::BadRequest(r)
            | Refusal::NotFound(r)
            | Refusal::NotImplemented(r)
            | Refusal::Failed(r) => r,
        }
    }
}

/// Where the server's answers come from: the stack under test, as the target sees it.
pub trait StackView: Send + Sync {
    /// Every TCP socket of the stack.
    fn sockets(&self) -> Result<Vec<SocketRecord>, Refusal>;
    /// What `%{ }%` code blocks and `/tcpinfo` see of one live socket: its tcp_info (and, where
    /// the stack has them, congestion-control and memory fields) as name/value pairs
    /// (`crate::sut::socket_info`).
    fn socket_info(&self, live_fd: i32) -> Result<Vec<(String, i64)>, Refusal>;
    /// Stops polling the stack for `millis` ms of the stack's time; returns when the hang has
    /// begun.
    fn polling_hang(&self, millis: u64) -> Result<(), Refusal>;
}
