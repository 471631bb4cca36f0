//! Readiness: the poll mask of each descriptor as Linux's `tcp_poll`/`udp_poll` compute it,
//! `poll`, and level-triggered epoll instances.

use libc::{c_int, pollfd};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::{Duration, Instant};

use crate::errno::{fail, SysResult};
use crate::stack::{Attempt, FdEntry, Stack};
use crate::tcp_socket::{FdFlags, TcpRole};

/// Poll bits (the EPOLL* bits have the same values).
const IN: u32 = libc::POLLIN as u32;
const OUT: u32 = libc::POLLOUT as u32;
const ERR: u32 = libc::POLLERR as u32;
const HUP: u32 = libc::POLLHUP as u32;
const RDNORM: u32 = libc::POLLRDNORM as u32;
const WRNORM: u32 = libc::POLLWRNORM as u32;
const RDHUP: u32 = libc::POLLRDHUP as u32;

/// One registration in an epoll instance.
#[derive(Clone, Copy, Debug)]
pub struct EpollInterest {
    pub fd: c_int,
    pub events: u32,
    pub data: u64,
    /// EPOLLONESHOT fired: reports nothing until re-armed with EPOLL_CTL_MOD.
    pub disarmed: bool,
}

/// An epoll instance.
#[derive(Debug, Default)]
pub struct EpollSet {
    pub interests: Vec<EpollInterest>,
    pub flags: FdFlags,
}

/// A reported epoll event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpollReport {
    pub events: u32,
    pub data: u64,
}

/// How long a poll/epoll_wait may wait, from its `timeout` argument in ms.
fn poll_deadline(timeout_ms: c_int, started: Instant) -> Option<Instant> {
    (timeout_ms >= 0).then(|| started + Duration::from_millis(timeout_ms as u64))
}

impl Stack {
    /// The full readiness mask of a descriptor (before filtering by the requested events).
    pub fn readiness(&self, fd: c_int) -> Option<u32> {
        Some(match self.fds.get(fd)? {
            FdEntry::Tcp(tcp) => match &tcp.role {
                // A fresh socket is CLOSE to Linux: hung up, and writable.
                TcpRole::Idle => OUT | WRNORM | HUP,
                TcpRole::Listening(listener) => {
                    if listener.ready.is_empty() {
                        0
                    } else {
                        IN | RDNORM
                    }
                }
                TcpRole::Connection(connection) => {
                    let state = connection.state(&self.sockets);
                    let socket = connection
                        .handle
                        .map(|handle| self.sockets.get::<tcp::Socket>(handle));
                    let over = matches!(state, tcp::State::Closed | tcp::State::TimeWait);
                    let read_shut = connection.shut_rd
                        || over
                        || matches!(
                            state,
                            tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing
                        );
                    let write_shut = connection.shut_wr || over;
                    let mut mask = 0;
                    if read_shut && write_shut {
                        mask |= HUP;
                    }
                    if read_shut {
                        mask |= IN | RDNORM | RDHUP;
                    }
                    if !matches!(state, tcp::State::SynSent | tcp::State::SynReceived) {
                        if socket.is_some_and(|socket| socket.recv_queue() > 0) {
                            mask |= IN | RDNORM;
                        }
                        let writable = socket.is_some_and(|socket| {
                            let queued = socket.send_queue();
                            socket.send_capacity() - queued >= queued / 2
                        });
                        if write_shut || writable {
                            mask |= OUT | WRNORM;
                        }
                    }
                    if connection.pending_error.is_some() {
                        mask |= ERR;
                    }
                    mask
                }
            },
            FdEntry::Udp(udp) => {
                let socket = self.sockets.get::<udp::Socket>(udp.handle);
                let mut mask = 0;
                if socket.can_recv() {
                    mask |= IN | RDNORM;
                }
                if socket.can_send() {
                    mask |= OUT | WRNORM;
                }
                if udp.pending_error.is_some() {
                    mask |= ERR;
                }
                mask
            }
            // Not evaluated (no nesting of epoll instances).
            FdEntry::Epoll(_) => 0,
        })
    }

    /// One try of poll over `fds` (revents written in place).
    pub fn poll(&self, fds: &mut [pollfd], timeout_ms: c_int, started: Instant) -> Attempt<c_int> {
        let mut ready = 0;
        for entry in fds.iter_mut() {
            entry.revents = if entry.fd < 0 {
                0
            } else {
                match self.readiness(entry.fd) {
                    None => libc::POLLNVAL,
                    Some(mask) => (mask & (entry.events as u16 as u32 | ERR | HUP)) as i16,
                }
            };
            if entry.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || timeout_ms == 0 {
            return Attempt::Done(Ok(ready));
        }
        match poll_deadline(timeout_ms, started) {
            Some(deadline) if self.now() >= deadline => Attempt::Done(Ok(0)),
            deadline => Attempt::Wait(deadline),
        }
    }

    fn epoll_ready(&self, epoll: &EpollSet) -> Vec<(usize, EpollReport)> {
        epoll
            .interests
            .iter()
            .enumerate()
            .filter(|(_, interest)| !interest.disarmed)
            .filter_map(|(index, interest)| {
                let mask = self.readiness(interest.fd)? & (interest.events | ERR | HUP);
                (mask != 0).then_some((
                    index,
                    EpollReport {
                        events: mask,
                        data: interest.data,
                    },
                ))
            })
            .collect()
    }

    pub fn epoll_create(&mut self, flags: FdFlags) -> c_int {
        self.fds.insert(FdEntry::Epoll(EpollSet {
            interests: Vec::new(),
            flags,
        }))
    }

    pub fn epoll_ctl(
        &mut self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: Option<(u32, u64)>,
    ) -> SysResult<()> {
        if self.fds.get(fd).is_none() {
            return fail(libc::EBADF);
        }
        if fd == epfd {
            return fail(libc::EINVAL);
        }
        let FdEntry::Epoll(epoll) = self.entry_mut(epfd)? else {
            return fail(libc::EINVAL);
        };
        let existing = epoll
            .interests
            .iter()
            .position(|interest| interest.fd == fd);
        match (op, existing, event) {
            (libc::EPOLL_CTL_ADD, Some(_), _) => fail(libc::EEXIST),
            (libc::EPOLL_CTL_ADD, None, Some((events, data))) => {
                epoll.interests.push(EpollInterest {
                    fd,
                    events,
                    data,
                    disarmed: false,
                });
                Ok(())
            }
            (libc::EPOLL_CTL_MOD, Some(index), Some((events, data))) => {
                epoll.interests[index] = EpollInterest {
                    fd,
                    events,
                    data,
                    disarmed: false,
                };
                Ok(())
            }
            (libc::EPOLL_CTL_ADD | libc::EPOLL_CTL_MOD, _, None) => fail(libc::EFAULT),
            (libc::EPOLL_CTL_MOD | libc::EPOLL_CTL_DEL, None, _) => fail(libc::ENOENT),
            (libc::EPOLL_CTL_DEL, Some(index), _) => {
                epoll.interests.remove(index);
                Ok(())
            }
            _ => fail(libc::EINVAL),
        }
    }

    /// One try of epoll_wait for at most `max_events` events.
    pub fn epoll_wait(
        &mut self,
        epfd: c_int,
        max_events: usize,
        timeout_ms: c_int,
        started: Instant,
    ) -> Attempt<Vec<EpollReport>> {
        let ready = match self.fds.get(epfd) {
            Some(FdEntry::Epoll(epoll)) => self.epoll_ready(epoll),
            Some(_) => return Attempt::Done(fail(libc::EINVAL)),
            None => return Attempt::Done(fail(libc::EBADF)),
        };
        if !ready.is_empty() {
            let reported: Vec<_> = ready.into_iter().take(max_events).collect();
            if let Some(FdEntry::Epoll(epoll)) = self.fds.get_mut(epfd) {
                for &(index, _) in &reported {
                    let interest = &mut epoll.interests[index];
                    if interest.events & libc::EPOLLONESHOT as u32 != 0 {
                        interest.disarmed = true;
                    }
                }
            }
            return Attempt::Done(Ok(reported.into_iter().map(|(_, report)| report).collect()));
        }
        if timeout_ms == 0 {
            return Attempt::Done(Ok(Vec::new()));
        }
        match poll_deadline(timeout_ms, started) {
            Some(deadline) if self.now() >= deadline => Attempt::Done(Ok(Vec::new())),
            deadline => Attempt::Wait(deadline),
        }
    }

    /// Forgets a closed descriptor in every epoll instance (Linux drops the registration when
    /// the file is closed).
    pub fn forget_in_epoll_sets(&mut self, fd: c_int) {
        for (_, entry) in self.fds.iter_mut() {
            if let FdEntry::Epoll(epoll) = entry {
                epoll.interests.retain(|interest| interest.fd != fd);
            }
        }
    }
}
