//! The rtnetlink requests that configure the run's namespace: a veth pair, a link's MTU and up
//! state and MAC address, an address, a route, a permanent neighbour, and the route lookup that tells
//! when a local address is usable. The
//! messages are netlink-packet-route's, sent over a netlink-sys socket; each request is
//! answered (acknowledged, or with its reply) before the next is sent.

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE,
    NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A NETLINK_ROUTE socket and the sequence number of its last request.
pub struct Rtnetlink {
    socket: Socket,
    seq: u32,
}

fn family_of(addr: IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

impl Rtnetlink {
    pub fn open() -> io::Result<Rtnetlink> {
        let socket = Socket::new(NETLINK_ROUTE).map_err(|e| {
            io::Error::new(e.kind(), format!("opening a NETLINK_ROUTE socket: {e}"))
        })?;
        Ok(Rtnetlink { socket, seq: 0 })
    }

    /// `ip link set dev IFINDEX [mtu MTU] up` (the kernel sets the MTU before the flags).
    pub fn set_link_up(&mut self, ifindex: u32, mtu: Option<u32>) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = ifindex;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes.extend(mtu.map(LinkAttribute::Mtu));
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    /// `ip link add NAME address MAC type veth peer name PEER address PEER_MAC`: a veth pair in
    /// this namespace, both ends down.
    pub fn add_veth(
        &mut self,
        (name, mac): (&str, Option<[u8; 6]>),
        (peer, peer_mac): (&str, Option<[u8; 6]>),
    ) -> io::Result<()> {
        let named = |name: &str, mac: Option<[u8; 6]>| {
            let mut link = LinkMessage::default();
            link.attributes
                .push(LinkAttribute::IfName(name.to_string()));
            link.attributes
                .extend(mac.map(|mac| LinkAttribute::Address(mac.to_vec())));
            link
        };
        let mut link = named(name, mac);
        link.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(named(peer, peer_mac)))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|e| io::Error::new(e.kind(), format!("adding veth {name}/{peer}: {e}")))
    }

    /// `ip neigh replace IP lladdr MAC dev IFINDEX nud permanent`: the kernel knows the peer's
    /// link-layer address without asking (a layer-2 device standing in for tun).
    pub fn add_neighbour(&mut self, ifindex: u32, ip: IpAddr, mac: [u8; 6]) -> io::Result<()> {
        let mut neighbour = NeighbourMessage::default();
        neighbour.header.family = family_of(ip);
        neighbour.header.ifindex = ifindex;
        neighbour.header.state = NeighbourState::Permanent;
        neighbour.attributes = vec![
            NeighbourAttribute::Destination(match ip {
                IpAddr::V4(v4) => NeighbourAddress::Inet(v4),
                IpAddr::V6(v6) => NeighbourAddress::Inet6(v6),
            }),
            NeighbourAttribute::LinkLayerAddress(mac.to_vec()),
        ];
        self.request(
            RouteNetlinkMessage::NewNeighbour(neighbour),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// A link's link-layer (MAC) address (`ip link show dev IFINDEX`).
    pub fn link_address(&mut self, ifindex: u32) -> io::Result<Vec<u8>> {
        let mut link = LinkMessage::default();
        link.header.index = ifindex;
        let reply = self.transact(RouteNetlinkMessage::GetLink(link), 0, false)?;
        let Some(RouteNetlinkMessage::NewLink(link)) = reply else {
            return Err(io::Error::other(format!("no link with index {ifindex}")));
        };
        link.attributes
            .into_iter()
            .find_map(|attribute| match attribute {
                LinkAttribute::Address(mac) => Some(mac),
                _ => None,
            })
            .ok_or_else(|| io::Error::other(format!("link {ifindex} has no link-layer address")))
    }

    /// `ip addr replace ADDR/LEN dev IFINDEX` (IPv6: `nodad`, so the address is not tentative
    /// and `bind()` to it works at once).
    pub fn add_address(&mut self, ifindex: u32, addr: IpAddr, prefix_len: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = family_of(addr);
        message.header.prefix_len = prefix_len;
        message.header.index = ifindex;
        message.attributes = vec![
            AddressAttribute::Local(addr),
            AddressAttribute::Address(addr),
        ];
        if addr.is_ipv6() {
            message.header.flags = AddressHeaderFlags::Nodad;
            message
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// `ip route replace DST/LEN dev IFINDEX [via GATEWAY]`. A gateway the kernel does not
    /// consider reachable is retried as `onlink` (the device is point-to-point: every gateway
    /// is on it).
    pub fn add_route(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        dst_len: u8,
        gateway: Option<IpAddr>,
    ) -> io::Result<()> {
        match self.route(ifindex, dst, dst_len, gateway, RouteFlags::empty()) {
            Err(e)
                if gateway.is_some()
                    && matches!(
                        e.raw_os_error(),
                        Some(libc::ENETUNREACH) | Some(libc::EINVAL) | Some(libc::EHOSTUNREACH)
                    ) =>
            {
                self.route(ifindex, dst, dst_len, gateway, RouteFlags::Onlink)
                    .map_err(|e2| io::Error::new(e.kind(), format!("{e} (and onlink: {e2})")))
            }
            other => other,
        }
    }

    fn route(
        &mut self,
        ifindex: u32,
        dst: IpAddr,
        dst_len: u8,
        gateway: Option<IpAddr>,
        flags: RouteFlags,
    ) -> io::Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = family_of(dst);
        route.header.destination_prefix_length = dst_len;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = if gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        route.header.kind = RouteType::Unicast;
        route.header.flags = flags;
        route
            .attributes
            .push(RouteAttribute::Destination(dst.into()));
        if let Some(gw) = gateway {
            route.attributes.push(RouteAttribute::Gateway(gw.into()));
        }
        route.attributes.push(RouteAttribute::Oif(ifindex));
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_REPLACE,
        )
    }

    /// Waits until `addr` is a usable local address: the kernel's route lookup for it (`ip
    /// route get ADDR`) yields a local route. IPv6 needs this even with `IFA_F_NODAD`: the
    /// kernel finishes adding the address (clears "tentative", inserts the local route) in a
    /// workqueue after acknowledging `RTM_NEWADDR`, so a packet injected right away can find no
    /// local route and be dropped (seen here as `Ip6InAddrErrors`, under load).
    pub fn wait_local(&mut self, addr: IpAddr, timeout: Duration) -> io::Result<()> {
        let mut lookup = RouteMessage::default();
        lookup.header.address_family = family_of(addr);
        lookup.header.destination_prefix_length = if addr.is_ipv6() { 128 } else { 32 };
        lookup
            .attributes
            .push(RouteAttribute::Destination(addr.into()));
        let lookup = RouteNetlinkMessage::GetRoute(lookup);
        let start = Instant::now();
        loop {
            // An unroutable address is an error reply; treat it like "not local yet".
            let reply = self.transact(lookup.clone(), 0, false);
            if let Ok(Some(RouteNetlinkMessage::NewRoute(route))) = &reply {
                if route.header.kind == RouteType::Local {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{addr} did not become a usable local address within {timeout:?}"),
                ));
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    /// Sends one request with NLM_F_ACK and waits for its acknowledgement.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.transact(message, flags, true).map(drop)
    }

    /// Sends one request; returns the first reply message (None for a bare acknowledgement),
    /// or the error the kernel answered.
    fn transact(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
        ack: bool,
    ) -> io::Result<Option<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | if ack { NLM_F_ACK } else { 0 } | flags;
        header.sequence_number = self.seq;
        let mut request = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        request.finalize();
        let mut bytes = vec![0; request.buffer_len()];
        request.serialize(&mut bytes);
        // To the kernel; the socket binds itself on this first send.
        self.socket
            .send_to(&bytes, &SocketAddr::new(0, 0), 0)
            .map_err(|e| io::Error::new(e.kind(), format!("netlink send: {e}")))?;

        let mut buf = [0u8; 8192];
        loop {
            let n = match self.socket.recv(&mut &mut buf[..], 0) {
                Ok(n) => n.min(buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("netlink receive: {e}"))),
            };
            let mut rest = &buf[..n];
            while let Ok(frame) = NetlinkBuffer::new_checked(rest) {
                let len = frame.length() as usize;
                // Anything left over from an earlier request carries an older sequence
                // number and is skipped.
                if frame.sequence_number() == self.seq {
                    let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rest[..len])
                        .map_err(|e| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("netlink answer: {e}"),
                            )
                        })?;
                    match reply.payload {
                        NetlinkPayload::Error(e) if e.code.is_none() => return Ok(None),
                        NetlinkPayload::Error(e) => return Err(e.to_io()),
                        NetlinkPayload::InnerMessage(m) => return Ok(Some(m)),
                        _ => {}
                    }
                }
                rest = rest.get((len + 3) & !3..).unwrap_or(&[]);
            }
        }
    }
}
