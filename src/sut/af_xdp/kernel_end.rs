//! What the kernel's end of the veth needs for an AF_XDP peer: checksums computed in software.
//! A frame the kernel sends with checksum offload carries only the pseudo-header sum in its
//! TCP or UDP checksum (CHECKSUM_PARTIAL); AF_PACKET marks such a frame (TP_STATUS_CSUMNOTREADY)
//! and the peer can complete it, but an AF_XDP frame carries no such mark, so the kernel end
//! must not offload. Turning transmit checksumming off also turns TSO off (it depends on it).

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

use crate::sut::kernel::netns::ifreq_named;

/// `ETHTOOL_STXCSUM` (`<linux/ethtool.h>`): set transmit checksum offload on or off.
const ETHTOOL_SET_TRANSMIT_CHECKSUM: u32 = 0x17;

/// `struct ethtool_value`: an ethtool command and its one value.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

nix::ioctl_write_ptr_bad!(ethtool_request, libc::SIOCETHTOOL, libc::ifreq);

/// `ethtool -K INTERFACE tx off` in the current network namespace.
pub fn turn_off_transmit_checksum_offload(interface_name: &str) -> io::Result<()> {
    let annotate = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!(
                "--netdev=af_xdp: turning transmit checksum offload off on {interface_name}: {e}"
            ),
        )
    };
    let control = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| annotate(e.into()))?;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_SET_TRANSMIT_CHECKSUM,
        data: 0,
    };
    let mut request = ifreq_named(interface_name).map_err(annotate)?;
    request.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq, whose ifru_data points at `value`, a live
    // ethtool_value for the duration of the call; the socket is open.
    unsafe { ethtool_request(control.as_raw_fd(), &request) }.map_err(|e| annotate(e.into()))?;
    Ok(())
}
