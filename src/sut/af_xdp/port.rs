//! [`XdpPort`]: one AF_XDP socket bound to queue 0 of an interface, in copy mode, with its own
//! UMEM split between receiving (the fill ring) and sending (a free list refilled from the
//! completion ring). Works around libxdp 1.6.0 leaving a BPF map descriptor open per socket.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};
use nix::sys::time::TimeSpec;
use xsk_rs::config::{BindFlags, FrameSize, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Frames in the UMEM: half wait in the fill ring for received frames, half are for sending.
const UMEM_FRAMES: u32 = 4096;
/// Bytes a UMEM frame spans (a page: a frame of a 1500-byte link, or up to about 3800 bytes).
const FRAME_BYTES: u32 = 4096;
/// Entries in each of the four rings: each holds one half of the frames.
const RING_ENTRIES: u32 = UMEM_FRAMES / 2;
/// The queue of the interface the socket binds to (a veth has one).
const QUEUE_ID: u32 = 0;

/// Serialises opening sockets, so that the BPF maps appearing while one opens are its own
/// (nothing but libxdp opens BPF maps in this process).
static OPENING: Mutex<()> = Mutex::new(());

/// An AF_XDP socket on an interface, sending and receiving whole Ethernet frames.
///
/// Fields drop in order: the four queues hold the socket, whose deletion detaches libxdp's
/// program; only then is libxdp's leftover descriptor closed, and the UMEM freed.
pub struct XdpPort {
    interface_name: String,
    fill: FillQueue,
    completion: CompQueue,
    rx: RxQueue,
    tx: TxQueue,
    /// Closed after the socket is deleted (declared after the queues).
    _left_open_by_libxdp: LeftOpenByLibxdp,
    umem: Umem,
    /// Frames owned by us, free to fill with a frame to send.
    free_for_sending: Vec<FrameDesc>,
    /// Where received descriptors and completed ones land before they are handed on.
    scratch: Vec<FrameDesc>,
    /// The largest frame one UMEM frame holds.
    max_frame_len: usize,
}

impl std::fmt::Debug for XdpPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpPort")
            .field("interface_name", &self.interface_name)
            .field("free_for_sending", &self.free_for_sending.len())
            .finish_non_exhaustive()
    }
}

/// The one line an open failure gets: the flag, what failed, and why. An error that only a
/// process without root's capabilities gets says that AF_XDP needs root: EPERM or EACCES (the
/// XDP program and its XSKMAP need CAP_BPF and CAP_NET_ADMIN), and ENOBUFS when registering
/// the UMEM (its pages count against RLIMIT_MEMLOCK without CAP_IPC_LOCK).
fn open_error(interface_name: &str, what: &str, err: Option<&io::Error>) -> String {
    let needs_root = err.is_some_and(|err| {
        matches!(
            err.raw_os_error(),
            Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::ENOBUFS)
        )
    });
    let cause = err.map_or_else(String::new, |err| format!(": {err}"));
    if needs_root {
        format!(
            "--netdev=af_xdp: AF_XDP needs root (CAP_BPF, CAP_NET_ADMIN and CAP_IPC_LOCK in the \
             initial user namespace; a user namespace cannot grant them): {what} on \
             {interface_name}{cause}"
        )
    } else {
        format!("--netdev=af_xdp: {what} on {interface_name}{cause}")
    }
}

fn config_error(what: &str, err: impl std::fmt::Display) -> String {
    format!("--netdev=af_xdp: {what}: {err}")
}

/// Turns libxdp's and libbpf's logging off, once: their warnings on every socket ("No bpffs
/// found", "skipping unrecognized data section") would reach the run's stderr; failures reach
/// the caller as errors.
fn silence_libxdp_logging() {
    static SILENCED: Once = Once::new();
    SILENCED.call_once(|| {
        // SAFETY: both setters only store the (null) callback in a global that the libraries
        // check before logging; nothing else in this process sets them.
        unsafe {
            libxdp_sys::libxdp_set_print(None);
            libbpf_sys::libbpf_set_print(None);
        }
    });
}

/// The map id of `fd` if it is a BPF array map (the kind of libxdp's refcount map), from
/// /proc/self/fd and /proc/self/fdinfo.
fn bpf_array_map_id(fd: RawFd) -> Option<u32> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    if target.as_os_str() != "anon_inode:bpf-map" {
        return None;
    }
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<u32>().ok())
    };
    (field("map_type:")? == 2).then(|| field("map_id:"))?
}

/// This process's descriptors of BPF array maps, with their map ids.
fn bpf_array_maps() -> BTreeSet<(RawFd, u32)> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| {
            let fd: RawFd = entry.ok()?.file_name().to_str()?.parse().ok()?;
            Some((fd, bpf_array_map_id(fd)?))
        })
        .collect()
}

/// The BPF array-map descriptors that appeared while a socket was created: libxdp's program
/// object holds one for its `.data` map and closes it with the socket; the refcount map's,
/// on the same map, libxdp 1.6.0 never closes (fixed after 1.6.0, xdp-tools pull request
/// 576). Dropped after the socket, this closes whichever of them is still open on its map.
struct LeftOpenByLibxdp(Vec<(RawFd, u32)>);

impl Drop for LeftOpenByLibxdp {
    fn drop(&mut self) {
        for &(fd, map_id) in &self.0 {
            if bpf_array_map_id(fd) == Some(map_id) {
                // SAFETY: `fd` is still open on the same map it was opened on while the socket
                // was created; the socket is deleted, so libxdp no longer uses it. Another
                // socket's libxdp cannot hold a descriptor of this map: the map belongs to the
                // program loaded for this socket's interface.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
}

impl XdpPort {
    /// Opens an AF_XDP socket on queue 0 of `interface_name` in the calling thread's network
    /// namespace, in copy mode (a veth has no zero-copy). libxdp attaches its default program
    /// redirecting the interface's frames to the socket (native mode where the driver has it,
    /// as veth does) unless a program is attached already, and detaches it when the port is
    /// dropped. The interface should be up.
    pub fn open(interface_name: &str) -> Result<XdpPort, String> {
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_BYTES).map_err(|e| config_error("frame size", e))?)
            .fill_queue_size(
                QueueSize::new(RING_ENTRIES).map_err(|e| config_error("fill ring", e))?,
            )
            .comp_queue_size(
                QueueSize::new(RING_ENTRIES).map_err(|e| config_error("completion ring", e))?,
            )
            .build()
            .map_err(|e| config_error("UMEM", e))?;
        let max_frame_len = umem_config.mtu() as usize;
        let frames = NonZeroU32::new(UMEM_FRAMES).expect("UMEM_FRAMES is not 0");
        let (umem, mut frames) = Umem::new(umem_config, frames, false).map_err(|e| {
            open_error(
                interface_name,
                "creating the UMEM",
                std::error::Error::source(&e).and_then(|e| e.downcast_ref::<io::Error>()),
            )
        })?;

        let ring = QueueSize::new(RING_ENTRIES).map_err(|e| config_error("rx/tx ring", e))?;
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .bind_flags(BindFlags::XDP_COPY)
            .build();
        let interface = interface_name
            .parse()
            .map_err(|e| config_error("interface name", e))?;
        silence_libxdp_logging();
        let opening = OPENING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let maps_before = bpf_array_maps();
        // SAFETY: the UMEM is this socket's alone (not shared), so libxdp hands it the fill and
        // completion rings and the XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD requirement for a shared
        // UMEM does not apply.
        let (tx, rx, rings) = unsafe { Socket::new(socket_config, &umem, &interface, QUEUE_ID) }
            .map_err(|e| {
                open_error(
                    interface_name,
                    "creating the AF_XDP socket",
                    std::error::Error::source(&e).and_then(|e| e.downcast_ref::<io::Error>()),
                )
            })?;
        let left_open_by_libxdp =
            LeftOpenByLibxdp(bpf_array_maps().difference(&maps_before).copied().collect());
        drop(opening);
        let Some((fill, completion)) = rings else {
            return Err(open_error(
                interface_name,
                "libxdp gave the socket no fill and completion rings",
                None,
            ));
        };

        let free_for_sending = frames.split_off(RING_ENTRIES as usize);
        let mut port = XdpPort {
            interface_name: interface_name.to_string(),
            fill,
            completion,
            rx,
            tx,
            _left_open_by_libxdp: left_open_by_libxdp,
            umem,
            free_for_sending,
            scratch: vec![FrameDesc::default(); RING_ENTRIES as usize],
            max_frame_len,
        };
        // SAFETY: these descriptors are the UMEM's own frames, owned by us (not in any ring).
        let filled = unsafe { port.fill.produce(&frames) };
        if filled != frames.len() {
            return Err(open_error(
                interface_name,
                &format!("the fill ring took {filled} of {} frames", frames.len()),
                None,
            ));
        }
        Ok(port)
    }

    /// The interface the socket is bound to.
    pub fn interface_name(&self) -> &str {
        &self.interface_name
    }

    /// Sends one Ethernet frame. In copy mode the kernel transmits it within this call.
    pub fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.max_frame_len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--netdev=af_xdp: a {}-byte frame exceeds the {} bytes of an AF_XDP frame",
                    frame.len(),
                    self.max_frame_len
                ),
            ));
        }
        if self.free_for_sending.is_empty() {
            self.reclaim_sent_frames();
        }
        let Some(mut desc) = self.free_for_sending.pop() else {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "--netdev=af_xdp: every frame for sending is still in flight",
            ));
        };
        // SAFETY: `desc` is one of this UMEM's frames, taken off the free list: neither the
        // kernel nor any other descriptor uses it until it is produced to the tx ring.
        let mut data = unsafe { self.umem.data_mut(&mut desc) };
        let mut cursor = data.cursor();
        cursor.set_pos(0);
        cursor.write_all(frame)?;
        // SAFETY: the descriptor is this UMEM's and nobody else's (see above); after this the
        // frame is the kernel's until the completion ring hands it back.
        let sent = unsafe { self.tx.produce(std::slice::from_ref(&desc)) };
        if sent == 0 {
            self.free_for_sending.push(desc);
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "--netdev=af_xdp: the tx ring is full",
            ));
        }
        // Copy mode transmits in this sendto(); ask for it whatever the ring's flag says.
        self.tx.wakeup()?;
        self.reclaim_sent_frames();
        Ok(())
    }

    /// Moves the frames the kernel has finished sending back to the free list.
    fn reclaim_sent_frames(&mut self) {
        // SAFETY: the scratch descriptors are overwritten with frames of this UMEM that the
        // kernel has released from sending; they are ours again.
        let completed = unsafe { self.completion.consume(&mut self.scratch) };
        self.free_for_sending
            .extend_from_slice(&self.scratch[..completed]);
    }

    /// Appends every frame received so far to `out` without waiting; returns how many.
    pub fn receive(&mut self, out: &mut Vec<Vec<u8>>) -> io::Result<usize> {
        let mut total = 0;
        loop {
            // SAFETY: the scratch descriptors are overwritten with frames of this UMEM that
            // the kernel has filled and released to us.
            let received = unsafe { self.rx.consume(&mut self.scratch) };
            if received == 0 {
                return Ok(total);
            }
            for desc in &self.scratch[..received] {
                // SAFETY: `desc` is a received frame of this UMEM, ours until it goes back to
                // the fill ring below.
                let data = unsafe { self.umem.data(desc) };
                out.push(data.contents().to_vec());
            }
            // SAFETY: the frames were copied out above and are returned to the kernel; the
            // fill ring has room for all of them, holding at most the receiving half.
            let refilled = unsafe { self.fill.produce(&self.scratch[..received]) };
            if refilled != received {
                return Err(io::Error::other(format!(
                    "--netdev=af_xdp: the fill ring took back {refilled} of {received} frames"
                )));
            }
            total += received;
        }
    }

    /// Waits until a frame has arrived (true) or `timeout` has passed (false), in ppoll on
    /// the socket.
    pub fn wait(&mut self, timeout: Duration) -> io::Result<bool> {
        if self.rx.nb_avail_exact() > 0 {
            return Ok(true);
        }
        let deadline = Instant::now() + timeout;
        // SAFETY: the socket's fd stays open as long as `self.rx` holds the socket.
        let fd = unsafe { BorrowedFd::borrow_raw(self.rx.fd().as_raw_fd()) };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        loop {
            let left = TimeSpec::from_duration(deadline.saturating_duration_since(Instant::now()));
            match nix::poll::ppoll(&mut fds, Some(left), None) {
                Ok(ready) => return Ok(ready > 0),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(errno) => {
                    return Err(io::Error::new(
                        io::Error::from(errno).kind(),
                        format!("--netdev=af_xdp: ppoll on the AF_XDP socket: {errno}"),
                    ))
                }
            }
        }
    }

    /// The socket's drop counters, for a diagnostic: frames dropped for want of room in the rx
    /// ring or of frames in the fill ring.
    pub fn dropped(&self) -> io::Result<String> {
        let stats = self.rx.fd().xdp_statistics()?;
        Ok(format!(
            "rx_dropped {} rx_ring_full {} fill_ring_empty {} rx_invalid {} tx_invalid {}",
            stats.rx_dropped(),
            stats.rx_ring_full(),
            stats.rx_fill_ring_empty_descs(),
            stats.rx_invalid_descs(),
            stats.tx_invalid_descs()
        ))
    }
}
