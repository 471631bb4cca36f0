//! [`Port`]: one ethdev port (1 rx queue, 1 tx queue) that stackdrill sends Ethernet frames on
//! and receives them from; how it was created (hot-plugged vdev, probed device, ring pair) and
//! how it is torn down again.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{eal, ffi, DpdkError, Mempool};

/// Frames moved per `rte_eth_rx_burst` / `rte_eth_tx_burst` call.
pub const BURST: usize = 32;

/// How long [`Port::send`] retries a full tx ring before giving up.
const TX_RETRY: Duration = Duration::from_millis(20);

/// Slots in each ring of a [`Port::ring_pair`] (a power of two; one stays empty).
const RING_SIZE: u32 = 1024;

/// Longest [`Port::ring_pair`] name: `rte_eth_from_rings` names its device `net_ring_<name>_a`
/// in a 32-byte buffer.
const MAX_RING_PAIR_NAME: usize = 20;

/// One ethdev port with one rx queue and one tx queue.
///
/// `Send` (a port may move to the thread that polls it) but not `Sync`: DPDK's burst functions
/// on one queue must not run concurrently, which `&mut self` on [`Port::send`] and
/// [`Port::receive`] guarantees.
///
/// Dropping a port stops and closes it and detaches the device that [`Port::attach_vdev`],
/// [`Port::probe`] or [`Port::ring_pair`] created; then it releases its [`Mempool`].
pub struct Port {
    id: u16,
    origin: Origin,
    /// Set once the rx queue holds mbufs of this pool (which net_tap fills at queue setup).
    pool: Option<Arc<Mempool>>,
    started: bool,
    detached: bool,
    /// Longest frame one mbuf of `pool` carries.
    max_frame: usize,
    /// rx_burst's output, reused: no allocation per burst.
    rx: [*mut ffi::rte_mbuf; BURST],
    /// Contiguous copy of a multi-segment frame for [`Port::receive_with`], reused.
    scratch: Vec<u8>,
    /// net_tap's signal-driven rx trigger, steered to the polling thread (see [`RxSignal`]).
    rx_signal: Option<RxSignal>,
}

/// net_tap reads its queue only after a signal said data arrived: it sets `O_ASYNC` on the
/// queue's fd with a real-time signal (`F_SETSIG`) owned by the *process*, whose handler bumps
/// a counter that `rte_eth_rx_burst` compares. The kernel hands a process-directed signal to
/// the main thread when it does not block it, so a poller on any other thread waits for the
/// main thread to be woken up (about 10 µs here, 3× the whole round trip). Owning the signal
/// with the polling thread (`F_SETOWN_EX`, `F_OWNER_TID`) makes it run in the thread that
/// polls, like a single-threaded C program.
struct RxSignal {
    /// The rx queue's fd (`rte_eth_dev_rx_intr_ctl_q_get_fd`).
    fd: std::os::fd::RawFd,
    /// The signal net_tap chose (`F_GETSIG`, SIGIO by default; a real-time one in 22.11).
    signo: i32,
    /// The thread that owns it now (0: the process, as net_tap left it).
    owner: libc::pid_t,
}

thread_local! {
    /// The calling thread's kernel thread id, looked up once per thread.
    static TID: libc::pid_t = {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    };
}

// SAFETY: the raw pointers a Port holds (its rx scratch array, its rte_device, its rings) are
// owned by the port and used only through &mut self or in Drop; DPDK lets any thread use a
// port's queues as long as no two threads use one queue at once, which `!Sync` and &mut self
// ensure.
unsafe impl Send for Port {}

/// What created the port, and so what detaches it.
enum Origin {
    /// `rte_vdev_init(name)`; detached with `rte_vdev_uninit(name)`.
    Vdev(CString),
    /// `rte_dev_probe`; detached with `rte_dev_remove(device)`.
    Probed(*mut ffi::rte_device),
    /// One end of a ring pair: the vdev `rte_eth_from_rings` created, and the shared rings.
    Ring { vdev: CString, pair: Arc<RingPair> },
}

/// The two rings a ring pair's ports share, and the pools whose mbufs may sit in them. Freed
/// when the second port of the pair is dropped: undelivered mbufs go back to their pools,
/// which are still alive because they are kept here.
struct RingPair {
    rings: [*mut ffi::rte_ring; 2],
    pools: Mutex<Vec<Arc<Mempool>>>,
}

// SAFETY: the rings are touched only in Drop, by the last owner of the Arc; the rest is Sync.
unsafe impl Send for RingPair {}
// SAFETY: see Send: shared references never touch the rings.
unsafe impl Sync for RingPair {}

impl Drop for RingPair {
    fn drop(&mut self) {
        let mut mbufs = [std::ptr::null_mut::<std::ffi::c_void>(); BURST];
        for ring in self.rings.into_iter().filter(|ring| !ring.is_null()) {
            loop {
                // SAFETY: both ports of the pair are closed (each held an Arc to this pair),
                // so this thread is the ring's only user; `mbufs` has room for BURST pointers.
                let n = unsafe {
                    ffi::rte_ring_dequeue_burst(
                        ring,
                        mbufs.as_mut_ptr(),
                        BURST as u32,
                        std::ptr::null_mut(),
                    )
                };
                if n == 0 {
                    break;
                }
                // SAFETY: the ring held mbufs a port sent and nobody received; their pools are
                // alive (self.pools), and they are freed exactly once.
                unsafe { ffi::shim_pktmbuf_free_bulk(mbufs.as_mut_ptr().cast(), n) };
            }
            // SAFETY: no port uses the ring any more (see above).
            unsafe { ffi::rte_ring_free(ring) };
        }
    }
}

impl RxSignal {
    /// The signal net_tap set up on `port`'s rx queue 0, if any.
    fn of(port: u16) -> Option<RxSignal> {
        // SAFETY: port is a started port with rx interrupts configured.
        let fd = unsafe { ffi::rte_eth_dev_rx_intr_ctl_q_get_fd(port, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is the open rx queue fd; the call only reads its flags.
        let signo = unsafe { ffi::shim_async_signal(fd) };
        (signo > 0).then_some(RxSignal {
            fd,
            signo,
            owner: 0,
        })
    }

    /// Directs the signal to thread `tid`, then runs net_tap's handler once on it, in case a
    /// signal went to a previous owner that has exited since (it would be lost, and frames
    /// already queued would wait for the next one).
    fn steer(&mut self, tid: libc::pid_t) {
        // SAFETY: fd is the port's open rx queue fd; the call only changes its signal owner.
        if unsafe { ffi::shim_async_signal_to_thread(self.fd, tid) } != 0 {
            return;
        }
        self.owner = tid;
        self.raise();
    }

    /// Runs net_tap's rx signal handler on the signal's owner thread, so that the next
    /// rx_burst reads the queue.
    fn raise(&self) {
        let signo = self.signo;
        // SAFETY: a null new action only reads the current one into `action`.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: signo is a valid signal number; action is a valid sigaction to fill.
        let read = unsafe { libc::sigaction(signo, std::ptr::null(), &mut action) } == 0;
        if read && action.sa_sigaction != libc::SIG_DFL && action.sa_sigaction != libc::SIG_IGN {
            // SAFETY: the signal has a handler (net_tap's), so delivering it to the owner
            // thread (this process's) only runs that handler.
            unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), self.owner, signo) };
        }
    }
}

impl Port {
    /// Hot-plugs a virtual device (e.g. name "net_tap0", args "iface=tun0") — rte_vdev_init —
    /// and returns its port.
    ///
    /// A net_tap's kernel interface is created in the calling thread's network namespace, and
    /// [`Port::start`] must run in that same namespace (its queue setup re-opens the interface
    /// by name).
    pub fn attach_vdev(name: &str, args: &str) -> Result<Port, DpdkError> {
        const CALL: &str = "rte_vdev_init";
        eal::ready(CALL)?;
        let what = format!("{name} ({args:?})");
        let cname = c_string(CALL, name)?;
        let cargs = c_string(CALL, args)?;
        // SAFETY: EAL is initialised; both strings are valid C strings that DPDK copies.
        let ret = unsafe { ffi::rte_vdev_init(cname.as_ptr(), cargs.as_ptr()) };
        if ret == -libc::EEXIST {
            return Err(DpdkError::new(
                CALL,
                format!("{what}: a device of that name is already attached"),
            ));
        }
        if ret != 0 {
            // DPDK 22.11 returns -1 both when no driver matches and when the driver's probe
            // fails: ask the bus whether it knows the name.
            // SAFETY: cname is a valid C string; the call only parses it.
            if unsafe { ffi::shim_devargs_known(cname.as_ptr()) } < 0 {
                return Err(DpdkError::new(
                    CALL,
                    format!(
                        "{what}: no driver found: no virtual-device driver's name starts the \
                         device name (e.g. net_tap0, net_ring0, net_af_packet0)"
                    ),
                ));
            }
            return Err(DpdkError::code(
                CALL,
                &format!("{what}: the driver refused the device (DPDK's log says why)"),
                ret,
            ));
        }
        let port = port_by_name(&cname).map_err(|error| {
            // SAFETY: the device was created just above and has no port to close.
            unsafe { ffi::rte_vdev_uninit(cname.as_ptr()) };
            DpdkError::new(error.call, format!("{what}: {}", error.message))
        })?;
        Ok(Port::new(port, Origin::Vdev(cname)))
    }

    /// Probes any device by devargs string (a PCI address "0000:00:04.0", or
    /// "net_tap1,iface=x") — rte_dev_probe — and returns its port (the first, for a device with
    /// several). Dropping the port removes the whole device (`rte_dev_remove`).
    pub fn probe(devargs: &str) -> Result<Port, DpdkError> {
        const CALL: &str = "rte_dev_probe";
        eal::ready(CALL)?;
        let cdevargs = c_string(CALL, devargs)?;
        // SAFETY: EAL is initialised; cdevargs is a valid C string that DPDK copies.
        let ret = unsafe { ffi::rte_dev_probe(cdevargs.as_ptr()) };
        if ret == -libc::EEXIST {
            return Err(DpdkError::new(
                CALL,
                format!("{devargs:?}: this device is already attached"),
            ));
        }
        if ret < 0 {
            // SAFETY: cdevargs is a valid C string; the call only parses it.
            let known = unsafe { ffi::shim_devargs_known(cdevargs.as_ptr()) } == 0;
            let why = if known {
                "the device was not found, or its driver refused it (DPDK's log says which)"
            } else {
                "no bus or driver recognises this device name"
            };
            return Err(DpdkError::code(CALL, &format!("{devargs:?}: {why}"), ret));
        }
        let port = port_by_devargs(&cdevargs).map_err(|error| {
            DpdkError::new(error.call, format!("{devargs:?}: {}", error.message))
        })?;
        let device = device_of(port);
        if device.is_null() {
            return Err(DpdkError::new(
                "rte_eth_dev_info_get",
                format!("{devargs:?}: port {port} has no device"),
            ));
        }
        Ok(Port::new(port, Origin::Probed(device)))
    }

    /// Two in-process ports cross-wired with rte_ring (rte_eth_from_rings): a frame sent on one
    /// is received on the other. Names must be unique per process (at most 20 bytes).
    pub fn ring_pair(name: &str) -> Result<(Port, Port), DpdkError> {
        const CALL: &str = "rte_eth_from_rings";
        eal::ready(CALL)?;
        if name.is_empty() || name.len() > MAX_RING_PAIR_NAME || name.contains([',', '=']) {
            return Err(DpdkError::new(
                CALL,
                format!("ring pair name {name:?} must be 1 to {MAX_RING_PAIR_NAME} bytes, without ',' or '='"),
            ));
        }
        let mut pair = RingPair {
            rings: [std::ptr::null_mut(); 2],
            pools: Mutex::new(Vec::new()),
        };
        for (slot, suffix) in pair.rings.iter_mut().zip(["ab", "ba"]) {
            let ring_name = c_string("rte_ring_create", &format!("{name}_{suffix}"))?;
            // SAFETY: EAL is initialised; ring_name is a valid C string that DPDK copies. Each
            // ring has one producer (one port's tx queue) and one consumer (the other's rx).
            let ring = unsafe {
                ffi::rte_ring_create(
                    ring_name.as_ptr(),
                    RING_SIZE,
                    ffi::SOCKET_ID_ANY,
                    ffi::RING_F_SP_ENQ | ffi::RING_F_SC_DEQ,
                )
            };
            if ring.is_null() {
                // `pair` frees the ring made so far.
                return Err(DpdkError::errno(
                    "rte_ring_create",
                    &format!("ring {name}_{suffix} (is the ring pair name {name:?} in use?)"),
                ));
            }
            *slot = ring;
        }
        let pair = Arc::new(pair);
        let [ab, ba] = pair.rings;
        let a = Port::from_rings(name, "a", ab, ba, &pair)?;
        let b = Port::from_rings(name, "b", ba, ab, &pair)?;
        Ok((a, b))
    }

    /// One end of a ring pair: receives from `rx`, sends into `tx`.
    fn from_rings(
        name: &str,
        end: &str,
        rx: *mut ffi::rte_ring,
        tx: *mut ffi::rte_ring,
        pair: &Arc<RingPair>,
    ) -> Result<Port, DpdkError> {
        const CALL: &str = "rte_eth_from_rings";
        let cname = c_string(CALL, &format!("{name}_{end}"))?;
        let vdev = c_string(CALL, &format!("net_ring_{name}_{end}"))?;
        // SAFETY: EAL is initialised; cname is a valid C string; rx and tx point to one live
        // ring each (owned by `pair`, which the port keeps); DPDK copies the pointers.
        let ret = unsafe {
            ffi::rte_eth_from_rings(cname.as_ptr(), &rx, 1, &tx, 1, ffi::SOCKET_ID_ANY as u32)
        };
        let id = u16::try_from(ret).map_err(|_| {
            DpdkError::errno(
                CALL,
                &format!("{vdev:?} (is the ring pair name {name:?} in use?)"),
            )
        })?;
        Ok(Port::new(
            id,
            Origin::Ring {
                vdev,
                pair: Arc::clone(pair),
            },
        ))
    }

    fn new(id: u16, origin: Origin) -> Port {
        Port {
            id,
            origin,
            pool: None,
            started: false,
            detached: false,
            max_frame: 0,
            rx: [std::ptr::null_mut(); BURST],
            scratch: Vec::new(),
            rx_signal: None,
        }
    }

    /// Configures 1 rx + 1 tx queue with `descriptors` each over `pool`, starts the port
    /// (promiscuous on).
    pub fn start(&mut self, pool: Arc<Mempool>, descriptors: u16) -> Result<(), DpdkError> {
        let id = self.id;
        if self.started {
            return Err(DpdkError::new(
                "rte_eth_dev_start",
                format!("port {id} is already started"),
            ));
        }
        let tap = self.driver_name() == "net_tap";
        let mut conf = ffi::rte_eth_conf::default();
        // net_tap hands out its rx queue's fd through the rx interrupt API (see RxSignal);
        // nothing else changes, as nobody waits on the interrupt.
        conf.intr_conf.set_rxq(u32::from(tap));
        // SAFETY: id is a port this Port owns; conf is a valid configuration.
        let ret = unsafe { ffi::rte_eth_dev_configure(id, 1, 1, &conf) };
        check("rte_eth_dev_configure", ret, || {
            format!("port {id}, 1 rx + 1 tx queue")
        })?;
        let (mut nb_rx, mut nb_tx) = (descriptors, descriptors);
        // SAFETY: id is a configured port; both pointers are valid u16s.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx) };
        check("rte_eth_dev_adjust_nb_rx_tx_desc", ret, || {
            format!("port {id}, {descriptors} descriptors")
        })?;
        // SAFETY: id is a valid port.
        let socket = unsafe { ffi::rte_eth_dev_socket_id(id) };
        // SOCKET_ID_ANY (-1) when the device has no NUMA node: DPDK takes it as u32::MAX.
        let socket = socket as u32;
        // SAFETY: id is a configured port; a null rxconf means the driver's defaults; the pool
        // is alive, and stays so while the port is (self.pool below).
        let ret = unsafe {
            ffi::rte_eth_rx_queue_setup(id, 0, nb_rx, socket, std::ptr::null(), pool.raw())
        };
        check("rte_eth_rx_queue_setup", ret, || {
            format!("port {id}, {nb_rx} descriptors over pool {:?}", pool.name())
        })?;
        self.max_frame = pool.max_frame();
        if let Origin::Ring { pair, .. } = &self.origin {
            pair.pools
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(Arc::clone(&pool));
        }
        // From here on the rx queue may own mbufs of the pool.
        let pool = self.pool.insert(pool);
        // SAFETY: id is a configured port; a null txconf means the driver's defaults.
        let ret = unsafe { ffi::rte_eth_tx_queue_setup(id, 0, nb_tx, socket, std::ptr::null()) };
        check("rte_eth_tx_queue_setup", ret, || {
            format!("port {id}, {nb_tx} descriptors (pool {:?})", pool.name())
        })?;
        // SAFETY: id is a configured port with both queues set up.
        let ret = unsafe { ffi::rte_eth_dev_start(id) };
        check("rte_eth_dev_start", ret, || format!("port {id}"))?;
        self.started = true;
        if tap {
            self.rx_signal = RxSignal::of(id);
        }
        // SAFETY: id is a started port.
        let ret = unsafe { ffi::rte_eth_promiscuous_enable(id) };
        if ret != -libc::ENOTSUP {
            check("rte_eth_promiscuous_enable", ret, || format!("port {id}"))?;
        }
        Ok(())
    }

    /// The ethdev port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The raw port id (queue 0 is its only rx and tx queue), for code that hands the port to
    /// a C library (a userspace stack that polls it itself). That code must not use the port
    /// while this `Port` sends or receives, nor after it is dropped.
    pub fn raw_id(&self) -> u16 {
        self.id
    }

    /// The port's MAC address (rte_eth_macaddr_get); all zeros if DPDK cannot tell.
    pub fn mac(&self) -> [u8; 6] {
        let mut addr = ffi::rte_ether_addr::default();
        // SAFETY: id is a port this Port owns; addr is a valid rte_ether_addr to fill.
        let ret = unsafe { ffi::rte_eth_macaddr_get(self.id, &mut addr) };
        if ret == 0 {
            addr.addr_bytes
        } else {
            [0; 6]
        }
    }

    /// The driver's name, e.g. "net_tap" or "net_ring"; empty if DPDK cannot tell.
    pub fn driver_name(&self) -> String {
        let Some(info) = dev_info(self.id) else {
            return String::new();
        };
        if info.driver_name.is_null() {
            return String::new();
        }
        // SAFETY: driver_name points to the driver's static, NUL-terminated name.
        unsafe { CStr::from_ptr(info.driver_name) }
            .to_string_lossy()
            .into_owned()
    }

    /// Whether the link is up now (rte_eth_link_get_nowait).
    pub fn link_up(&self) -> bool {
        let mut link = ffi::rte_eth_link::default();
        // SAFETY: id is a port this Port owns; link is a valid rte_eth_link to fill.
        let ret = unsafe { ffi::rte_eth_link_get_nowait(self.id, &mut link) };
        ret == 0 && u32::from(link.link_status()) == ffi::RTE_ETH_LINK_UP
    }

    /// Waits (polling, sleeping between polls) until the link is up; Err naming the timeout.
    pub fn wait_link_up(&self, timeout: Duration) -> Result<(), DpdkError> {
        let deadline = Instant::now() + timeout;
        while !self.link_up() {
            if Instant::now() >= deadline {
                return Err(DpdkError::new(
                    "rte_eth_link_get_nowait",
                    format!(
                        "port {} ({}): link still down after {timeout:?}",
                        self.id,
                        self.driver_name()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Sends one Ethernet frame (copied into an mbuf from the port's pool); retries a full tx
    /// ring briefly, then Err.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), DpdkError> {
        self.send_burst(&[frame])
    }

    /// Sends frames in bursts of up to [`BURST`] (each copied into an mbuf from the port's
    /// pool); retries a full tx ring briefly, then Err saying how many were not sent. Frames
    /// go out in order; after an Err, those before the failing one have been sent.
    pub fn send_burst(&mut self, frames: &[&[u8]]) -> Result<(), DpdkError> {
        let pool = self.started_pool("rte_eth_tx_burst")?.raw();
        // The kernel's answer to what is sent here often arrives during the send itself.
        self.poll_here();
        let mut mbufs = [std::ptr::null_mut::<ffi::rte_mbuf>(); BURST];
        for (chunk_index, chunk) in frames.chunks(BURST).enumerate() {
            for (i, frame) in chunk.iter().enumerate() {
                let mbuf = self.mbuf_from(pool, frame);
                match mbuf {
                    Ok(mbuf) => mbufs[i] = mbuf,
                    Err(error) => {
                        // SAFETY: mbufs[..i] were allocated above and not handed to DPDK.
                        unsafe { ffi::shim_pktmbuf_free_bulk(mbufs.as_mut_ptr(), i as u32) };
                        let sent = chunk_index * BURST;
                        return Err(DpdkError::new(
                            error.call,
                            format!("{} ({sent} of {} frames sent)", error.message, frames.len()),
                        ));
                    }
                }
            }
            self.transmit(&mut mbufs[..chunk.len()]).map_err(|unsent| {
                DpdkError::new(
                    "rte_eth_tx_burst",
                    format!(
                        "port {}: the driver took no frame for {TX_RETRY:?} (tx queue full, or \
                         a frame it refuses, e.g. longer than the MTU); {} of {} frames not sent",
                        self.id,
                        unsent + frames.len() - chunk_index * BURST - chunk.len(),
                        frames.len()
                    ),
                )
            })?;
        }
        Ok(())
    }

    /// One frame, copied into a new mbuf of `pool`.
    fn mbuf_from(
        &self,
        pool: *mut ffi::rte_mempool,
        frame: &[u8],
    ) -> Result<*mut ffi::rte_mbuf, DpdkError> {
        let len = match u16::try_from(frame.len()) {
            Ok(len) if frame.len() <= self.max_frame => len,
            _ => {
                return Err(DpdkError::new(
                    "rte_pktmbuf_append",
                    format!(
                        "port {}: a {}-byte frame does not fit one {}-byte mbuf",
                        self.id,
                        frame.len(),
                        self.max_frame
                    ),
                ))
            }
        };
        // SAFETY: pool is the live pool of this started port; frame is valid for len bytes.
        let mbuf = unsafe { ffi::shim_pktmbuf_from(pool, frame.as_ptr().cast(), len) };
        if mbuf.is_null() {
            let name = self.pool.as_ref().map_or("", |pool| pool.name());
            return Err(DpdkError::new(
                "rte_pktmbuf_alloc",
                format!("port {}: pool {name:?} has no free mbuf", self.id),
            ));
        }
        Ok(mbuf)
    }

    /// Hands `mbufs` to the tx queue, retrying for up to TX_RETRY while it is full. On
    /// timeout, frees what was not taken and returns how many that was.
    fn transmit(&mut self, mbufs: &mut [*mut ffi::rte_mbuf]) -> Result<(), usize> {
        let mut sent = 0;
        let mut deadline = None;
        while sent < mbufs.len() {
            let rest = &mut mbufs[sent..];
            // SAFETY: the port is started; queue 0 exists; rest holds rest.len() (≤ BURST) valid
            // mbufs, of which DPDK takes ownership of the first n it returns.
            let n =
                unsafe { ffi::rte_eth_tx_burst(self.id, 0, rest.as_mut_ptr(), rest.len() as u16) };
            sent += usize::from(n);
            if sent == mbufs.len() {
                break;
            }
            if n == 0 {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + TX_RETRY);
                if Instant::now() >= deadline {
                    let unsent = mbufs.len() - sent;
                    // SAFETY: DPDK did not take these mbufs; they are freed exactly once.
                    unsafe {
                        ffi::shim_pktmbuf_free_bulk(mbufs[sent..].as_mut_ptr(), unsent as u32)
                    };
                    return Err(unsent);
                }
                std::thread::yield_now();
            }
        }
        Ok(())
    }

    /// Receives up to `max` frames now (rx_burst, never blocks), appending copies to `out`;
    /// returns how many.
    pub fn receive(&mut self, out: &mut Vec<Vec<u8>>, max: usize) -> Result<usize, DpdkError> {
        self.receive_with(max, |frame| out.push(frame.to_vec()))
    }

    /// Receives up to `max` frames now (rx_burst, never blocks) and hands each to `each` as a
    /// borrowed slice (no copy for a single-segment frame); returns how many.
    pub fn receive_with(
        &mut self,
        max: usize,
        mut each: impl FnMut(&[u8]),
    ) -> Result<usize, DpdkError> {
        self.started_pool("rte_eth_rx_burst")?;
        self.poll_here();
        // SAFETY: the port is started (checked above) with rx queue 0, which only this Port
        // (&mut self) polls.
        Ok(unsafe { receive_bursts(self.id, 0, &mut self.rx, &mut self.scratch, max, &mut each) })
    }

    /// The file descriptor that becomes readable when a frame waits in the rx queue: net_tap's
    /// queue fd; None for drivers without one (rings, physical ports).
    pub fn rx_fd(&self) -> Option<RawFd> {
        self.rx_signal.as_ref().map(|signal| signal.fd)
    }

    /// Waits until a [`Port::receive`] may find a frame, or `timeout` passes (Ok(false)),
    /// without spinning: for a port with an [`Port::rx_fd`], sleeps in ppoll(2) on it. A frame
    /// already waiting that net_tap has not noticed (its rx signal came while it was reading
    /// another) is pointed out to it again, so the next receive takes it. Err for a port
    /// without an rx fd.
    pub fn wait_rx(&mut self, timeout: Duration) -> Result<bool, DpdkError> {
        self.poll_here();
        let signal = self.tap_queue("ppoll", "no rx file descriptor to wait on")?;
        if readable(signal.fd, Duration::ZERO) {
            // rx_burst found nothing although the queue holds a frame: net_tap missed it.
            signal.raise();
            return Ok(true);
        }
        Ok(readable(signal.fd, timeout))
    }

    /// net_tap only: writes one frame straight into the tap device's queue, past the driver's
    /// own length check, which refuses a frame above the port's MTU (1500 bytes, and DPDK
    /// caps net_tap's frames at 1522). The kernel takes a frame of up to 64 KiB from a tap
    /// device whatever its interface's MTU, as it does from a tun device: this is how a test
    /// injects such a packet. Frames sent before it through [`Port::send`] are already in the
    /// kernel (net_tap writes them during rte_eth_tx_burst).
    pub fn write_to_tap(&mut self, frame: &[u8]) -> Result<(), DpdkError> {
        const CALL: &str = "writev";
        let signal = self.tap_queue(CALL, "no tap queue to write to (net_tap only)")?;
        // net_tap opens its queues without IFF_NO_PI and starts every write with a struct
        // tun_pi (flags, then the ethertype, which a tap device ignores): so does this.
        let mut info = [0u8; 4];
        info[2..].copy_from_slice(frame.get(12..14).unwrap_or(&[0, 0]));
        let parts = [
            libc::iovec {
                iov_base: info.as_mut_ptr().cast(),
                iov_len: info.len(),
            },
            libc::iovec {
                iov_base: frame.as_ptr().cast_mut().cast(),
                iov_len: frame.len(),
            },
        ];
        let whole: usize = parts.iter().map(|part| part.iov_len).sum();
        // SAFETY: fd is the tap queue's open fd; every iovec points to live memory of its
        // length (the kernel only reads it).
        let written = unsafe { libc::writev(signal.fd, parts.as_ptr(), parts.len() as i32) };
        match usize::try_from(written) {
            Ok(n) if n == whole => Ok(()),
            Ok(n) => Err(DpdkError::new(
                CALL,
                format!("port {}: wrote {n} of {whole} bytes", self.id),
            )),
            Err(_) => Err(DpdkError::os(
                CALL,
                &format!("port {}: a {}-byte frame", self.id, frame.len()),
            )),
        }
    }

    /// Makes the calling thread the one net_tap's rx signal runs on (see `RxSignal` in the
    /// source): without it, a poller that is not the process's main thread
    /// waits for the main thread to wake up on every received frame. [`Port::receive`],
    /// [`Port::receive_with`], [`Port::send`] and [`Port::send_burst`] call it themselves; code that polls the port through
    /// [`Port::raw_id`] calls it once from its polling thread (again after moving threads).
    /// Costs a thread-local read when nothing changed; does nothing for other drivers.
    pub fn poll_here(&mut self) {
        if let Some(signal) = &mut self.rx_signal {
            let tid = TID.with(|tid| *tid);
            if signal.owner != tid {
                signal.steer(tid);
            }
        }
    }

    /// Stops, closes and detaches the port now, reporting what failed (dropping does the same
    /// and prints failures to stderr).
    pub fn close(mut self) -> Result<(), DpdkError> {
        self.teardown()
    }

    /// The started port's tap queue (its fd and rx signal); Err for `call`, saying `lacking`,
    /// on a port without one.
    fn tap_queue(&self, call: &'static str, lacking: &str) -> Result<&RxSignal, DpdkError> {
        self.started_pool(call)?;
        self.rx_signal.as_ref().ok_or_else(|| {
            DpdkError::new(
                call,
                format!("port {} ({}) has {lacking}", self.id, self.driver_name()),
            )
        })
    }

    fn started_pool(&self, call: &'static str) -> Result<&Arc<Mempool>, DpdkError> {
        match &self.pool {
            Some(pool) if self.started => Ok(pool),
            _ => Err(DpdkError::new(
                call,
                format!("port {} is not started (call Port::start first)", self.id),
            )),
        }
    }

    fn teardown(&mut self) -> Result<(), DpdkError> {
        if self.detached {
            return Ok(());
        }
        self.detached = true;
        let id = self.id;
        let mut result = Ok(());
        if self.started {
            self.started = false;
            // SAFETY: id is a started port this Port owns.
            let ret = unsafe { ffi::rte_eth_dev_stop(id) };
            result = result.and(check("rte_eth_dev_stop", ret, || format!("port {id}")));
        }
        // SAFETY: id is a stopped port this Port owns; nothing uses it afterwards.
        let ret = unsafe { ffi::rte_eth_dev_close(id) };
        result = result.and(check("rte_eth_dev_close", ret, || format!("port {id}")));
        let detached = match &self.origin {
            Origin::Vdev(name) | Origin::Ring { vdev: name, .. } => {
                // SAFETY: name is the vdev this Port created; its port is closed.
                let ret = unsafe { ffi::rte_vdev_uninit(name.as_ptr()) };
                check("rte_vdev_uninit", ret, || format!("{name:?}"))
            }
            Origin::Probed(device) => {
                // SAFETY: device is the rte_device this Port probed; its port is closed.
                let ret = unsafe { ffi::rte_dev_remove(*device) };
                check("rte_dev_remove", ret, || format!("port {id}'s device"))
            }
        };
        result.and(detached)
    }
}

impl Drop for Port {
    /// Stops, closes, and detaches what attach_vdev/probe/ring_pair created (rte_vdev_uninit /
    /// rte_dev_remove), so a net_tap's kernel interface disappears; then the port's pool
    /// reference (and, for the last port of a ring pair, the rings) is released.
    fn drop(&mut self) {
        if let Err(error) = self.teardown() {
            eprintln!("dpdk-sys: dropping a port: {error}");
        }
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.id)
            .field("started", &self.started)
            .field("pool", &self.pool.as_ref().map(|pool| pool.name()))
            .finish_non_exhaustive()
    }
}

/// Receives up to `max` frames now from `queue` of port `id`, in bursts into `rx`, handing
/// each to `each` (multi-segment frames copied into `scratch`) and freeing its mbuf; returns
/// how many.
///
/// # Safety
/// The port must be started with that rx queue, and nobody else may poll the queue meanwhile.
pub(crate) unsafe fn receive_bursts(
    id: u16,
    queue: u16,
    rx: &mut [*mut ffi::rte_mbuf; BURST],
    scratch: &mut Vec<u8>,
    max: usize,
    each: &mut dyn FnMut(&[u8]),
) -> usize {
    let mut total = 0;
    while total < max {
        let want = (max - total).min(BURST);
        // SAFETY: per this function's contract the queue exists and is ours to poll; rx has
        // room for want ≤ BURST mbuf pointers, which DPDK fills and hands over to us.
        let got =
            usize::from(unsafe { ffi::rte_eth_rx_burst(id, queue, rx.as_mut_ptr(), want as u16) });
        for &mbuf in &rx[..got] {
            each(frame_of(mbuf, scratch));
        }
        if got > 0 {
            // SAFETY: the mbufs are ours (rx_burst returned them) and are not used again.
            unsafe { ffi::shim_pktmbuf_free_bulk(rx.as_mut_ptr(), got as u32) };
        }
        total += got;
        if got < want {
            break;
        }
    }
    total
}

/// The bytes of a received mbuf: borrowed from it when it has one segment, else copied into
/// `scratch`.
fn frame_of(mbuf: *mut ffi::rte_mbuf, scratch: &mut Vec<u8>) -> &[u8] {
    // SAFETY: mbuf is a valid received mbuf owned by the caller until it frees it, after the
    // returned slice's last use (the slice borrows `scratch`'s lifetime, which the caller
    // bounds to the loop body that frees the mbuf afterwards).
    unsafe {
        let data_len = usize::from(ffi::shim_pktmbuf_data_len(mbuf));
        let pkt_len = ffi::shim_pktmbuf_pkt_len(mbuf) as usize;
        if data_len == pkt_len {
            return std::slice::from_raw_parts(ffi::shim_pktmbuf_mtod(mbuf).cast::<u8>(), data_len);
        }
        scratch.clear();
        scratch.reserve(pkt_len);
        let copied = ffi::shim_pktmbuf_copy_out(mbuf, scratch.as_mut_ptr().cast(), pkt_len as u32);
        scratch.set_len(copied as usize);
        scratch
    }
}

/// Whether `fd` is readable within `timeout` (ppoll(2)); a signal arriving meanwhile (net_tap's
/// rx signal, typically) counts as readable.
fn readable(fd: RawFd, timeout: Duration) -> bool {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: pollfd and timeout are valid for the call; a null sigmask keeps the thread's.
    let ret = unsafe { libc::ppoll(&mut pollfd, 1, &timeout, std::ptr::null()) };
    ret > 0 || (ret < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR))
}

/// Ok for `ret >= 0`, else an Err for `call` with `what` and the errno's meaning.
fn check(call: &'static str, ret: i32, what: impl FnOnce() -> String) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::code(call, &what(), ret))
    } else {
        Ok(())
    }
}

fn c_string(call: &'static str, text: &str) -> Result<CString, DpdkError> {
    CString::new(text).map_err(|_| DpdkError::new(call, format!("{text:?} contains a NUL byte")))
}

/// The port of an ethdev named `name` (a vdev's port has the vdev's name).
fn port_by_name(name: &CStr) -> Result<u16, DpdkError> {
    let mut port = 0u16;
    // SAFETY: name is a valid C string; port is a valid u16 to fill.
    let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(name.as_ptr(), &mut port) };
    check("rte_eth_dev_get_port_by_name", ret, || {
        "the device has no ethdev port".to_owned()
    })?;
    Ok(port)
}

/// The first port of the device `devargs` names (rte_eth_iterator), falling back to the port
/// named like the devargs' device part (before the first ',').
fn port_by_devargs(devargs: &CStr) -> Result<u16, DpdkError> {
    // SAFETY: rte_dev_iterator is plain old data; rte_eth_iterator_init fills it.
    let mut iter: ffi::rte_dev_iterator = unsafe { std::mem::zeroed() };
    // SAFETY: iter is a valid iterator to fill; devargs is a valid C string.
    if unsafe { ffi::rte_eth_iterator_init(&mut iter, devargs.as_ptr()) } == 0 {
        // SAFETY: iter was initialised by rte_eth_iterator_init.
        let port = unsafe { ffi::rte_eth_iterator_next(&mut iter) };
        if u32::from(port) < ffi::RTE_MAX_ETHPORTS {
            // SAFETY: iter was initialised and not exhausted; cleanup frees what it holds.
            unsafe { ffi::rte_eth_iterator_cleanup(&mut iter) };
            return Ok(port);
        }
    }
    let text = devargs.to_bytes();
    let name = text.split(|&b| b == b',').next().unwrap_or(text);
    let name = CString::new(name).expect("a part of a C string has no NUL");
    port_by_name(&name)
}

fn dev_info(port: u16) -> Option<ffi::rte_eth_dev_info> {
    // SAFETY: rte_eth_dev_info is plain old data; rte_eth_dev_info_get fills it.
    let mut info: ffi::rte_eth_dev_info = unsafe { std::mem::zeroed() };
    // SAFETY: port is a valid port id; info is a valid struct to fill.
    let ret = unsafe { ffi::rte_eth_dev_info_get(port, &mut info) };
    (ret == 0).then_some(info)
}

fn device_of(port: u16) -> *mut ffi::rte_device {
    dev_info(port).map_or(std::ptr::null_mut(), |info| info.device)
}
