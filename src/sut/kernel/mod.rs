//! The Linux kernel as the stack under test: system calls through libc (`target.rs`), packets on
//! a tun device (`tun.rs`) in a private network namespace (`netns.rs`), its sockets read through
//! sock_diag (`sock_diag.rs`), a run kept on one CPU when asked (`cpu.rs`).

pub mod cpu;
pub mod netns;
pub mod rtnetlink;
pub mod sock_diag;
pub mod target;
pub mod tun;
