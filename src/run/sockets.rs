//! The sockets a script creates and the one "under test" that script packets are mapped to:
//! its live tuple, and packetdrill's remapping of sequence numbers, acknowledgments, SACK edges
//! and TCP timestamps between script space and live space.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::syscall::SocketEffect;

/// Linux's protocol number of MPTCP sockets (uapi `linux/in.h`).
const IPPROTO_MPTCP: i32 = 262;

/// How a tracked socket came to be and where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketRole {
    /// `socket()` returned it; nothing else known yet.
    Fresh,
    Listening,
    /// A passive connection created by an inbound SYN to a listener.
    PassiveChild,
    /// `connect()` (or a TFO `sendto`) was called on it.
    Active,
    /// `connect(fd, AF_UNSPEC, ...)` dissolved its association. Its tuple and sequence-number
    /// mapping stay, as upstream's do, so the RST the kernel sends for the old connection
    /// still maps to it; the next `connect()` starts a new connection from scratch.
    Disconnected,
}

/// A TCP header as last seen on the wire for a socket (live space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenSegment {
    pub seq: u32,
    pub ack: u32,
    pub flags: u16,
    pub window: u16,
    pub payload_len: u32,
    /// Whether it carried a TCP MD5 signature option (RFC 2385).
    pub md5_signed: bool,
}

/// One socket of the script.
#[derive(Debug, Clone)]
pub struct TrackedSocket {
    pub script_fd: Option<i64>,
    pub live_fd: Option<i32>,
    /// IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP(V6).
    pub protocol: i32,
    pub role: SocketRole,
    /// Live addresses on the wire: the stack's side and the simulated peer's side.
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// The peer's ISN: the script value, used verbatim on the wire.
    pub remote_isn: Option<u32>,
    pub script_local_isn: Option<u32>,
    pub live_local_isn: Option<u32>,
    pub last_injected: Option<SeenSegment>,
    pub last_sent: Option<SeenSegment>,
    /// Script TS val → live TS val, latest pair per script value.
    pub ts_vals: HashMap<u32, u32>,
    /// The first (script, live) TS val pair.
    pub first_ts: Option<(u32, u32)>,
    /// The (script, live) IPv6 flow label pair last seen.
    pub flow_label: Option<(u32, u32)>,
    /// The IPv4 identification of the last outbound packet matched (for `same_id`).
    pub last_outbound_ip_id: Option<u16>,
}

impl TrackedSocket {
    fn new(protocol: i32, role: SocketRole) -> Self {
        TrackedSocket {
            script_fd: None,
            live_fd: None,
            protocol,
            role,
            local: None,
            remote: None,
            remote_isn: None,
            script_local_isn: None,
            live_local_isn: None,
            last_injected: None,
            last_sent: None,
            ts_vals: HashMap::new(),
            first_ts: None,
            flow_label: None,
            last_outbound_ip_id: None,
        }
    }

    /// Forgets everything learned about the socket's connection (tuple, ISNs, timestamps),
    /// keeping its descriptors: a fresh socket again.
    fn forget_connection(&mut self) {
        let (script_fd, live_fd) = (self.script_fd, self.live_fd);
        *self = TrackedSocket::new(self.protocol, SocketRole::Fresh);
        self.script_fd = script_fd;
        self.live_fd = live_fd;
    }

    // ---- inbound: script → live ----

    /// Live sequence number of an inbound segment: SYNs carry absolute numbers.
    pub fn inbound_seq(&self, seq: u32, syn: bool) -> u32 {
        if syn {
            seq
        } else {
            seq.wrapping_add(self.remote_isn.unwrap_or(0))
        }
    }

    /// Live acknowledgment of an inbound segment with the ACK flag (also for SACK edges).
    pub fn inbound_ack(&self, ack: u32, syn: bool) -> u32 {
        let live = self.live_local_isn.unwrap_or(0);
        let offset = if syn {
            live.wrapping_sub(self.script_local_isn.unwrap_or(0))
        } else {
            live
        };
        ack.wrapping_add(offset)
    }

    /// Live TS ecr for an inbound segment with the ACK flag.
    pub fn inbound_ts_ecr(&self, script_ecr: u32, ecr_scaled: bool) -> Result<u32, String> {
        if let Some(live) = self.ts_vals.get(&script_ecr) {
            return Ok(*live);
        }
        match (ecr_scaled, self.first_ts) {
            (true, Some((first_script, first_live))) => {
                Ok(script_ecr.wrapping_sub(first_script).wrapping_add(first_live))
            }
            _ => Err(format!(
                "unable to infer live TS ecr for script TS ecr {script_ecr}; no matching or preceding outbound TS val"
            )),
        }
    }

    // ---- outbound: live → script ----

    /// Script-space sequence number of an outbound segment.
    pub fn outbound_seq(&self, live_seq: u32, syn: bool) -> u32 {
        let live = self.live_local_isn.unwrap_or(0);
        let offset = if syn {
            live.wrapping_sub(self.script_local_isn.unwrap_or(0))
        } else {
            live
        };
        live_seq.wrapping_sub(offset)
    }

    /// Script-space acknowledgment (and SACK edge) of an outbound segment.
    pub fn outbound_ack(&self, live_ack: u32, syn: bool) -> u32 {
        if syn {
            live_ack
        } else {
            live_ack.wrapping_sub(self.remote_isn.unwrap_or(0))
        }
    }

    /// Script-space TS val of an outbound segment, after recording the pair.
    pub fn record_outbound_ts(&mut self, script_val: u32, live_val: u32) {
        self.ts_vals.insert(script_val, live_val);
        if self.first_ts.is_none() {
            self.first_ts = Some((script_val, live_val));
        }
    }

    /// The live TS val translated into script space (first pair as the baseline).
    pub fn outbound_ts_val_in_script_space(&self, live_val: u32) -> Option<u32> {
        self.first_ts.map(|(first_script, first_live)| {
            first_script.wrapping_add(live_val.wrapping_sub(first_live))
        })
    }

    /// Whether a live outbound packet from `src` to `dst` belongs to this socket. While an
    /// active open has not been seen yet, the first packet towards the remote end that can
    /// open a connection (`opens`: a TCP SYN, or any UDP datagram) teaches the local address;
    /// other connections to the same remote end (an earlier socket's FIN) are not it.
    pub fn matches_outbound(&self, src: SocketAddr, dst: SocketAddr, opens: bool) -> bool {
        match (self.local, self.remote) {
            (Some(local), Some(remote)) => local == src && remote == dst,
            (None, Some(remote)) => opens && remote == dst,
            _ => false,
        }
    }
}

/// All sockets of a run and which one is under test.
#[derive(Debug, Default)]
pub struct Sockets {
    pub all: Vec<TrackedSocket>,
    pub under_test: Option<usize>,
}

/// What the tracker needs from the configuration.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub local_ip: IpAddr,
    pub remote_ip: IpAddr,
    pub bind_port: u16,
    pub connect_port: u16,
}

impl Sockets {
    pub fn socket_under_test(&self) -> Option<&TrackedSocket> {
        self.under_test.map(|i| &self.all[i])
    }

    pub fn socket_under_test_mut(&mut self) -> Option<&mut TrackedSocket> {
        self.under_test.map(|i| &mut self.all[i])
    }

    fn by_script_fd(&mut self, script_fd: i64) -> Option<usize> {
        self.all
            .iter()
            .rposition(|s| s.script_fd == Some(script_fd))
    }

    /// Applies what a system call did to the socket table.
    pub fn apply(&mut self, effect: &SocketEffect, endpoints: &Endpoints) {
        match effect {
            SocketEffect::Opened {
                script_fd,
                live_fd,
                protocol,
                ty,
                ..
            } => {
                let protocol = match (*protocol, *ty) {
                    (0, libc::SOCK_STREAM) => libc::IPPROTO_TCP,
                    (0, libc::SOCK_DGRAM) => libc::IPPROTO_UDP,
                    // An MPTCP socket's packets are TCP segments (RFC 8684).
                    (IPPROTO_MPTCP, _) => libc::IPPROTO_TCP,
                    (p, _) => p,
                };
                let mut socket = TrackedSocket::new(protocol, SocketRole::Fresh);
                socket.script_fd = Some(*script_fd);
                socket.live_fd = Some(*live_fd);
                self.all.push(socket);
                self.under_test = Some(self.all.len() - 1);
            }
            SocketEffect::Listening { script_fd } => {
                if let Some(i) = self.by_script_fd(*script_fd) {
                    let s = &mut self.all[i];
                    s.role = SocketRole::Listening;
                    s.local = Some(SocketAddr::new(endpoints.local_ip, endpoints.bind_port));
                    self.under_test = Some(i);
                }
            }
            SocketEffect::Connecting { script_fd } => {
                // Only a socket without a peer starts a connection; sendto() on a connected or
                // accepted socket keeps its tuple.
                if let Some(i) = self.by_script_fd(*script_fd) {
                    let s = &mut self.all[i];
                    if s.role == SocketRole::Disconnected {
                        s.forget_connection();
                    }
                    if s.remote.is_none() {
                        s.role = SocketRole::Active;
                        s.remote =
                            Some(SocketAddr::new(endpoints.remote_ip, endpoints.connect_port));
                    }
                    self.under_test = Some(i);
                }
            }
            SocketEffect::Disconnected { script_fd } => {
                if let Some(i) = self.by_script_fd(*script_fd) {
                    self.all[i].role = SocketRole::Disconnected;
                }
            }
            SocketEffect::Accepted {
                script_fd,
                live_fd,
                peer,
                ..
            } => {
                let child = self.all.iter().rposition(|s| {
                    s.role == SocketRole::PassiveChild
                        && s.live_fd.is_none()
                        && peer.is_none_or(|p| s.remote.map(|r| r.port()) == Some(p.port()))
                });
                match child {
                    Some(i) => {
                        self.all[i].script_fd = Some(*script_fd);
                        self.all[i].live_fd = Some(*live_fd);
                        self.under_test = Some(i);
                    }
                    None => {
                        let mut s = TrackedSocket::new(libc::IPPROTO_TCP, SocketRole::PassiveChild);
                        s.script_fd = Some(*script_fd);
                        s.live_fd = Some(*live_fd);
                        s.local = Some(SocketAddr::new(endpoints.local_ip, endpoints.bind_port));
                        s.remote = peer.map(|p| SocketAddr::new(endpoints.remote_ip, p.port()));
                        self.all.push(s);
                        self.under_test = Some(self.all.len() - 1);
                    }
                }
            }
            SocketEffect::Closed { script_fd, .. } => {
                if let Some(i) = self.by_script_fd(*script_fd) {
                    self.all[i].script_fd = None;
                    self.all[i].live_fd = None;
                }
            }
        }
    }

    /// Makes the latest connection between `local` and `remote` (any remote when None) the
    /// socket under test; false when there is none. For MPTCP lines that name a subflow's ends.
    pub fn select_subflow(&mut self, local: IpAddr, remote: Option<IpAddr>) -> bool {
        let found = self.all.iter().rposition(|s| {
            s.local.is_some_and(|l| l.ip() == local)
                && s.remote
                    .is_some_and(|r| remote.is_none_or(|ip| r.ip() == ip))
        });
        if let Some(i) = found {
            self.under_test = Some(i);
        }
        found.is_some()
    }

    /// A new passive connection (an MPTCP subflow joining from another address) started by an
    /// inbound SYN with `seq`, made the socket under test.
    pub fn new_subflow(&mut self, local: SocketAddr, remote: SocketAddr, seq: u32) -> usize {
        let mut child = TrackedSocket::new(libc::IPPROTO_TCP, SocketRole::PassiveChild);
        child.local = Some(local);
        child.remote = Some(remote);
        child.remote_isn = Some(seq);
        self.all.push(child);
        self.under_test = Some(self.all.len() - 1);
        self.all.len() - 1
    }

    /// The socket an inbound packet goes to. An inbound SYN (without ACK) while a listener (or
    /// nothing) is under test starts a new passive connection from `remote_port`; `seq` of that
    /// SYN becomes the peer's ISN.
    pub fn for_inbound(
        &mut self,
        protocol: i32,
        syn_without_ack: bool,
        seq: u32,
        endpoints: &Endpoints,
        mut new_remote_port: impl FnMut() -> Result<u16, String>,
    ) -> Result<usize, String> {
        let starts_connection = match self.socket_under_test() {
            None => true,
            // Only a listener spawns passive children (as upstream); a SYN to a socket that is
            // merely bound goes to it and draws the kernel's RST.
            Some(s) => s.role == SocketRole::Listening,
        };
        if protocol == libc::IPPROTO_TCP && syn_without_ack && starts_connection {
            let mut child = TrackedSocket::new(libc::IPPROTO_TCP, SocketRole::PassiveChild);
            child.local = Some(SocketAddr::new(endpoints.local_ip, endpoints.bind_port));
            child.remote = Some(SocketAddr::new(endpoints.remote_ip, new_remote_port()?));
            child.remote_isn = Some(seq);
            self.all.push(child);
            self.under_test = Some(self.all.len() - 1);
        }
        let index = match self.under_test {
            Some(i) => i,
            None => {
                self.all
                    .push(TrackedSocket::new(protocol, SocketRole::Fresh));
                self.all.len() - 1
            }
        };
        let s = &mut self.all[index];
        if s.local.is_none() {
            s.local = Some(SocketAddr::new(endpoints.local_ip, endpoints.bind_port));
        }
        if s.remote.is_none() {
            s.remote = Some(SocketAddr::new(endpoints.remote_ip, new_remote_port()?));
        }
        self.under_test = Some(index);
        Ok(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            local_ip: "192.168.0.1".parse().unwrap(),
            remote_ip: "192.0.2.1".parse().unwrap(),
            bind_port: 8080,
            connect_port: 8080,
        }
    }

    /// A table with script fd 3 listening on 8080.
    fn listener() -> (Sockets, Endpoints) {
        let mut sockets = Sockets::default();
        let e = endpoints();
        let opened = SocketEffect::Opened {
            script_fd: 3,
            live_fd: 7,
            domain: 2,
            ty: 1,
            protocol: 6,
        };
        sockets.apply(&opened, &e);
        sockets.apply(&SocketEffect::Listening { script_fd: 3 }, &e);
        (sockets, e)
    }

    /// The listener's table after a SYN from port 40000 and `accept()` returning script fd 4.
    fn accepted_from_port_40000() -> (Sockets, Endpoints) {
        let (mut sockets, e) = listener();
        sockets.for_inbound(6, true, 0, &e, || Ok(40000)).unwrap();
        let accepted = SocketEffect::Accepted {
            listener_script_fd: 3,
            script_fd: 4,
            live_fd: 8,
            peer: None,
        };
        sockets.apply(&accepted, &e);
        (sockets, e)
    }

    #[test]
    fn passive_open_remaps_like_packetdrill() {
        let (mut sockets, e) = listener();
        let i = sockets
            .for_inbound(6, true, 1000, &e, || Ok(40000))
            .unwrap();
        let child = &mut sockets.all[i];
        assert_eq!(child.remote, Some("192.0.2.1:40000".parse().unwrap()));
        assert_eq!(child.inbound_seq(1000, true), 1000);
        // The stack answers with a SYN-ACK whose ISN is 5555; the script wrote 0.
        child.script_local_isn = Some(0);
        child.live_local_isn = Some(5555);
        assert_eq!(child.outbound_seq(5555, true), 0);
        assert_eq!(child.outbound_ack(1001, true), 1001);
        // Then the script's `< . 1:1(0) ack 1`.
        assert_eq!(child.inbound_seq(1, false), 1001);
        assert_eq!(child.inbound_ack(1, false), 5556);
        assert_eq!(child.outbound_seq(5556 + 100, false), 101);
        assert_eq!(child.outbound_ack(1001 + 50, false), 51);
        sockets.apply(
            &SocketEffect::Accepted {
                listener_script_fd: 3,
                script_fd: 4,
                live_fd: 8,
                peer: Some("192.0.2.1:40000".parse().unwrap()),
            },
            &e,
        );
        assert_eq!(sockets.socket_under_test().unwrap().script_fd, Some(4));
    }

    #[test]
    fn active_open_learns_the_local_port_and_maps_syn_ack() {
        let mut sockets = Sockets::default();
        let e = endpoints();
        sockets.apply(
            &SocketEffect::Opened {
                script_fd: 3,
                live_fd: 7,
                domain: 2,
                ty: 1,
                protocol: 0,
            },
            &e,
        );
        sockets.apply(&SocketEffect::Connecting { script_fd: 3 }, &e);
        let s = sockets.socket_under_test().unwrap();
        assert_eq!(s.protocol, libc::IPPROTO_TCP);
        let (src, dst) = (
            "192.168.0.1:51000".parse().unwrap(),
            "192.0.2.1:8080".parse().unwrap(),
        );
        assert!(s.matches_outbound(src, dst, true));
        assert!(
            !s.matches_outbound(src, dst, false),
            "only a SYN teaches the local port"
        );
        let s = sockets.socket_under_test_mut().unwrap();
        s.script_local_isn = Some(0);
        s.live_local_isn = Some(777);
        // `< S. 0:0(0) ack 1`: ack maps to live ISN + 1.
        assert_eq!(s.inbound_ack(1, true), 778);
    }

    #[test]
    fn sendto_on_an_accepted_socket_keeps_its_tuple() {
        let (mut sockets, e) = accepted_from_port_40000();
        sockets.apply(&SocketEffect::Connecting { script_fd: 4 }, &e);
        assert_eq!(
            sockets.socket_under_test().unwrap().remote,
            Some("192.0.2.1:40000".parse().unwrap())
        );
    }

    /// After `connect(fd, AF_UNSPEC, ...)` the kernel's RST for the old connection still maps
    /// (old tuple, old ISNs); the next `connect()` starts from scratch.
    #[test]
    fn disconnect_keeps_the_old_tuple_until_the_next_connect() {
        let (mut sockets, e) = accepted_from_port_40000();
        sockets.socket_under_test_mut().unwrap().live_local_isn = Some(5555);
        sockets.apply(&SocketEffect::Disconnected { script_fd: 4 }, &e);
        let s = sockets.socket_under_test().unwrap();
        let (local, old_peer) = (
            "192.168.0.1:8080".parse().unwrap(),
            "192.0.2.1:40000".parse().unwrap(),
        );
        assert!(s.matches_outbound(local, old_peer, false), "the RST maps");
        assert_eq!(s.outbound_seq(5556, false), 1);

        sockets.apply(&SocketEffect::Connecting { script_fd: 4 }, &e);
        let s = sockets.socket_under_test().unwrap();
        assert_eq!(s.role, SocketRole::Active);
        assert_eq!(s.remote, Some("192.0.2.1:8080".parse().unwrap()));
        assert_eq!((s.local, s.live_local_isn), (None, None));
        assert!(s.matches_outbound("192.168.0.1:8080".parse().unwrap(), s.remote.unwrap(), true));
    }

    #[test]
    fn timestamps() {
        let mut s = TrackedSocket::new(6, SocketRole::Active);
        assert!(s
            .inbound_ts_ecr(100, false)
            .unwrap_err()
            .contains("unable to infer live TS ecr for script TS ecr 100"));
        s.record_outbound_ts(100, 9_000_000);
        assert_eq!(s.inbound_ts_ecr(100, false), Ok(9_000_000));
        assert_eq!(s.inbound_ts_ecr(150, true), Ok(9_000_050));
        assert_eq!(s.outbound_ts_val_in_script_space(9_000_010), Some(110));
    }
}
