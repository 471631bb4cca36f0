//! The kernel's wire over a veth pair (`--netdev=veth`): both ends in the run's namespace, the
//! stack's end named tun0 and configured as tun0 is (sysctls, MTU, address, route, the
//! gateway's MAC known in advance), stackdrill's end (`tun0-peer`, the peer's MAC) read and
//! written through an AF_PACKET socket (`netdev.rs`). No device file is opened: a user
//! namespace is all a run needs, so a normal user runs kernel scripts this way.

pub mod netdev;

use std::io;

use crate::sut::kernel::netns::{self, TunConfig};
use crate::sut::kernel::rtnetlink::Rtnetlink;
use crate::sut::netdev::Netdev;
use crate::sut::packet_socket::{Framing, Keep, PacketSocket};
use crate::wire::link::PEER_MAC;
use crate::wire::link_peer::LinkPeer;

pub use netdev::PacketSender;
use netdev::VethNetdev;

/// The name of stackdrill's end of the pair.
pub const PEER_INTERFACE: &str = "tun0-peer";

/// Creates the pair in the current (the run's private) namespace, configures the stack's end
/// as `interface` says and opens stackdrill's end.
pub fn open_kernel_wire(
    interface: &TunConfig,
    neighbour_answers: bool,
) -> Result<Box<dyn Netdev>, String> {
    let pair = create_pair(interface, "--netdev=veth", neighbour_answers)?;
    let sender = pair.sender(Keep::Incoming, "--netdev=veth")?;
    Ok(Box::new(VethNetdev::new(sender)))
}

/// A veth pair set up for a run: the stack's end configured, stackdrill's end up.
pub struct VethPair {
    /// stackdrill's end.
    pub peer_ifindex: u32,
    /// The peer's view of the link (the stack's MAC, addresses, MTU).
    pub link: LinkPeer,
}

impl VethPair {
    /// A packet socket on stackdrill's end that sends the peer's packets (GSO ones too) and
    /// keeps `keep` of what arrives.
    pub fn sender(&self, keep: Keep, flag: &str) -> Result<PacketSender, String> {
        // Opened on a link that is up (bound to a link that is down, it reports ENETDOWN once).
        let socket = PacketSocket::open(self.peer_ifindex, keep, Framing::EthernetWithVnetHeader)
            .map_err(|e| {
            format!("{flag}: cannot open a packet socket on {PEER_INTERFACE}: {e}")
        })?;
        Ok(PacketSender::new(socket, self.link.clone()))
    }
}

/// Creates the pair in the current (the run's private) namespace: the stack's end configured
/// as `interface` says, stackdrill's end (`PEER_INTERFACE`, the peer's MAC) up and quiet. With
/// `neighbour_answers`, the stack knows the gateway's MAC in advance (as tun needs none);
/// without, it has to ask, and the script answers. Errors name `flag`.
pub fn create_pair(
    interface: &TunConfig,
    flag: &str,
    neighbour_answers: bool,
) -> Result<VethPair, String> {
    let failed = |what: &str, e: io::Error| format!("{flag}: cannot {what}: {e}");
    let mut netlink = Rtnetlink::open().map_err(|e| failed("open rtnetlink", e))?;
    netlink
        .add_veth((&interface.name, None), (PEER_INTERFACE, Some(PEER_MAC)))
        .map_err(|e| failed(&format!("create the veth pair {}", interface.name), e))?;
    let peer = if_index(PEER_INTERFACE).map_err(|e| failed("find the peer's end", e))?;
    // stackdrill's end sends nothing of its own: no IPv6 (router solicitations, DAD).
    let sysctl = format!("/proc/sys/net/ipv6/conf/{PEER_INTERFACE}/disable_ipv6");
    match std::fs::write(&sysctl, "1") {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(failed(&format!("write {sysctl}"), e))
        }
        _ => {}
    }
    netlink
        .set_link_up(peer, Some(interface.mtu))
        .map_err(|e| failed(&format!("bring {PEER_INTERFACE} up"), e))?;
    let configure = |e: io::Error| failed(&format!("configure {}", interface.name), e);
    let stack = netns::configure_interface(interface).map_err(configure)?;
    if !interface.is_anyip && neighbour_answers {
        netlink
            .add_neighbour(stack, interface.gateway_ip, PEER_MAC)
            .map_err(configure)?;
    }
    let stack_mac: [u8; 6] = netlink
        .link_address(stack)
        .map_err(configure)?
        .try_into()
        .map_err(|mac: Vec<u8>| configure(io::Error::other(format!("odd MAC {mac:02x?}"))))?;
    let addresses = (!interface.is_anyip)
        .then_some(interface.local_ip)
        .into_iter()
        .collect();
    let mut link = LinkPeer::new(stack_mac, addresses, interface.mtu as usize);
    link.answers = neighbour_answers;
    Ok(VethPair {
        peer_ifindex: peer,
        link,
    })
}

fn if_index(name: &str) -> io::Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(io::Error::from)
}
