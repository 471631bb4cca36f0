//! Loading a userspace stack's shared object (`--so_filename`) with libloading: its
//! packetdrill interface table, stackdrill's extension symbols, its profile of defines, its
//! network setup and the DPDK port it may be handed. `target.rs` makes socket calls through the table, `stack.rs` drives its
//! netdev, clock and polling.

use std::ffi::CString;
use std::path::Path;
use std::sync::Arc;

use libc::c_void;

use super::watch::{EntryWatch, ENTRY_DEADLINE, INIT_DEADLINE};
use crate::sut::abi::{self, PacketdrillInterface, StackdrillNetwork};

/// A loaded and initialised shared object.
pub struct SharedObject {
    /// For messages: `so:FILE_NAME`.
    pub(super) name: String,
    pub(super) table: PacketdrillInterface,
    pub(super) poll: Option<abi::Poll>,
    pub(super) network_setup: Option<abi::NetworkSetup>,
    pub(super) sockets: Option<abi::Sockets>,
    #[cfg_attr(not(feature = "dpdk"), allow(dead_code))]
    pub(super) dpdk_attach: Option<abi::DpdkAttach>,
    /// The stack thread's entry into the library, for the run to see one that never returns.
    pub(super) watch: Arc<EntryWatch>,
    /// Kept open for the run (the object stays mapped after that: RTLD_NODELETE, as upstream).
    /// None for a table made in-process ([`SharedObject::from_table`]).
    _library: Option<libloading::os::unix::Library>,
}

/// The entry points of a stack: its packetdrill interface table as `packetdrill_interface_init`
/// filled it, and stackdrill's optional extensions.
pub struct StackEntries {
    pub table: PacketdrillInterface,
    pub poll: Option<abi::Poll>,
    pub network_setup: Option<abi::NetworkSetup>,
    pub sockets: Option<abi::Sockets>,
    pub dpdk_attach: Option<abi::DpdkAttach>,
}

// SAFETY: the table is plain function pointers and an opaque userdata pointer. The library's
// contract (stacks/README.md "Threads", the same as upstream packetdrill's) is that it is called
// from the stack thread and one call worker, never from both at once except while a call
// sleeps inside it; stackdrill's stack thread enforces that ordering.
unsafe impl Send for SharedObject {}
// SAFETY: as above: shared between the stack thread and its call worker only.
unsafe impl Sync for SharedObject {}

fn open_library(path: &Path) -> Result<libloading::os::unix::Library, String> {
    let flags = libc::RTLD_NOW | libc::RTLD_LOCAL | libc::RTLD_NODELETE | libc::RTLD_DEEPBIND;
    // SAFETY: loading runs the library's initialisers; choosing to run the stack under test is
    // the point of --so_filename.
    unsafe { libloading::os::unix::Library::open(Some(path), flags) }
        .map_err(|e| format!("cannot load --so_filename={}: {e}", path.display()))
}

fn c_flags(flags: Option<&str>) -> Result<Option<CString>, String> {
    flags
        .map(|f| CString::new(f).map_err(|_| "--so_flags contains a NUL byte".to_string()))
        .transpose()
}

/// The defines the library's profile gives scripts (`stackdrill_profile_defines`), as
/// (name, value) pairs; none when it does not export the symbol.
pub fn profile_defines(path: &Path, flags: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let library = open_library(path)?;
    // SAFETY: the symbol, when present, has the documented signature (packetdrill.h).
    let Ok(profile) = (unsafe { library.get::<abi::ProfileDefines>(abi::PROFILE_DEFINES_SYMBOL) })
    else {
        return Ok(Vec::new());
    };
    let flags = c_flags(flags)?;
    let flags_ptr = flags.as_ref().map_or(std::ptr::null(), |f| f.as_ptr());
    let mut buffer = vec![0u8; 4096];
    for _ in 0..2 {
        // SAFETY: the buffer has `len` bytes; the function writes at most that many.
        let needed = unsafe { profile(flags_ptr, buffer.as_mut_ptr().cast(), buffer.len()) };
        if needed < 0 {
            return Err(format!(
                "{}: stackdrill_profile_defines rejected --so_flags",
                path.display()
            ));
        }
        let needed = needed as usize;
        if needed < buffer.len() {
            let text = String::from_utf8_lossy(&buffer[..needed]);
            return parse_profile(&text).map_err(|e| format!("{}: {e}", path.display()));
        }
        buffer = vec![0u8; needed + 1];
    }
    Err(format!(
        "{}: stackdrill_profile_defines keeps asking for a bigger buffer",
        path.display()
    ))
}

/// "NAME=VALUE" lines; blank lines and `#` comments are skipped.
fn parse_profile(text: &str) -> Result<Vec<(String, String)>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(format!(
                "stackdrill_profile_defines: expected NAME=VALUE, got {line:?}"
            )),
        })
        .collect()
}

impl SharedObject {
    /// Loads the library and calls `packetdrill_interface_init(flags, &table)`, marking the
    /// calling thread inside it on `watch` meanwhile (as every later entry of the stack thread
    /// is).
    pub fn load(
        path: &Path,
        flags: Option<&str>,
        watch: Arc<EntryWatch>,
    ) -> Result<Arc<Self>, String> {
        let inside = watch.inside("packetdrill_interface_init", INIT_DEADLINE);
        let library = open_library(path)?;
        // SAFETY: the symbol has the ABI's signature (packetdrill.h).
        let init =
            unsafe { library.get::<abi::InterfaceInit>(abi::INIT_SYMBOL) }.map_err(|_| {
                format!(
                    "{} does not export packetdrill_interface_init",
                    path.display()
                )
            })?;
        let flags = c_flags(flags)?;
        let mut table = PacketdrillInterface::default();
        // SAFETY: a zeroed table for the library to fill in, and a NUL-terminated flags string
        // (or NULL) that outlives the call.
        unsafe {
            init(
                flags.as_ref().map_or(std::ptr::null(), |f| f.as_ptr()),
                &mut table,
            )
        };
        drop(inside);
        for (entry, present) in [
            ("netdev_send", table.netdev_send.is_some()),
            ("netdev_receive", table.netdev_receive.is_some()),
        ] {
            if !present {
                return Err(format!(
                    "{}: the stack does not implement {entry}, which every run needs",
                    path.display()
                ));
            }
        }
        // SAFETY: optional extensions with the documented signatures.
        let poll = unsafe { library.get::<abi::Poll>(abi::POLL_SYMBOL) }
            .ok()
            .map(|s| *s);
        // SAFETY: as above.
        let network_setup = unsafe { library.get::<abi::NetworkSetup>(abi::NETWORK_SETUP_SYMBOL) }
            .ok()
            .map(|s| *s);
        // SAFETY: as above.
        let sockets = unsafe { library.get::<abi::Sockets>(abi::SOCKETS_SYMBOL) }
            .ok()
            .map(|s| *s);
        // SAFETY: as above.
        let dpdk_attach = unsafe { library.get::<abi::DpdkAttach>(abi::DPDK_ATTACH_SYMBOL) }
            .ok()
            .map(|s| *s);
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let entries = StackEntries {
            table,
            poll,
            network_setup,
            sockets,
            dpdk_attach,
        };
        Ok(Arc::new(Self::new(
            format!("so:{file_name}"),
            entries,
            watch,
            Some(library),
        )))
    }

    /// A stack whose entry points are functions of this process rather than of a loaded
    /// library (`name` as in messages, `so:NAME`): the shared-object fuzz target's fake stack
    /// (fuzz/fuzz_targets/so_boundary.rs) goes through every check a loaded library's results
    /// go through.
    ///
    /// # Safety
    /// Every entry must have the signature and behaviour packetdrill.h documents for it (as a
    /// loaded library's must); `table.userdata` is passed to each as it is.
    pub unsafe fn from_table(name: &str, entries: StackEntries) -> Arc<Self> {
        Arc::new(Self::new(
            format!("so:{name}"),
            entries,
            Arc::default(),
            None,
        ))
    }

    fn new(
        name: String,
        entries: StackEntries,
        watch: Arc<EntryWatch>,
        library: Option<libloading::os::unix::Library>,
    ) -> Self {
        let StackEntries {
            table,
            poll,
            network_setup,
            sockets,
            dpdk_attach,
        } = entries;
        SharedObject {
            name,
            table,
            poll,
            network_setup,
            sockets,
            dpdk_attach,
            watch,
            _library: library,
        }
    }

    pub(super) fn userdata(&self) -> *mut c_void {
        self.table.userdata
    }

    /// Tells the stack its network (`stackdrill_network_setup`), when it wants to know.
    pub fn set_network(&self, network: &StackdrillNetwork) -> Result<(), String> {
        let Some(setup) = self.network_setup else {
            return Ok(());
        };
        let _inside = self
            .watch
            .inside("stackdrill_network_setup", ENTRY_DEADLINE);
        // SAFETY: a valid struct for the duration of the call.
        let status = unsafe { setup(self.userdata(), network) };
        self.accepted(status, "stackdrill_network_setup refused the test network")
    }

    /// Ok for an extension's status 0; otherwise Err naming the stack, `refusal` and `status`.
    fn accepted(&self, status: libc::c_int, refusal: &str) -> Result<(), String> {
        match status {
            0 => Ok(()),
            _ => Err(format!("{}: {refusal} (returned {status})", self.name)),
        }
    }

    /// The stack's `stackdrill_dpdk_attach`, or the one-line error of a run that needs it.
    #[cfg(feature = "dpdk")]
    pub fn dpdk_attach_entry(&self) -> Result<abi::DpdkAttach, String> {
        self.dpdk_attach.ok_or_else(|| {
            format!(
                "--netdev=dpdk: {} does not export stackdrill_dpdk_attach, so it cannot take a \
                 DPDK port (run it without --netdev=dpdk)",
                self.name
            )
        })
    }

    /// Hands the stack its DPDK port (`stackdrill_dpdk_attach`); from then on it sends and
    /// receives its frames there.
    #[cfg(feature = "dpdk")]
    pub fn attach_dpdk_port(&self, port: &abi::StackdrillDpdkPort) -> Result<(), String> {
        let attach = self.dpdk_attach_entry()?;
        let _inside = self.watch.inside("stackdrill_dpdk_attach", INIT_DEADLINE);
        // SAFETY: a valid struct for the duration of the call; the port it names is started
        // and stays so until after the stack's free.
        let status = unsafe { attach(self.userdata(), port) };
        self.accepted(status, "stackdrill_dpdk_attach refused the port")
            .map_err(|e| format!("--netdev=dpdk: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_lines_parse_and_bad_ones_are_named() {
        let parsed = parse_profile("# comment\nRTO_MIN_MS=10\n\n IW = 4 \n").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("RTO_MIN_MS".to_string(), "10".to_string()),
                ("IW".to_string(), "4".to_string())
            ]
        );
        let e = parse_profile("JUNK\n").unwrap_err();
        assert!(e.contains("expected NAME=VALUE, got \"JUNK\""), "{e}");
    }

    #[test]
    fn a_missing_library_is_a_clear_error() {
        let e = SharedObject::load(Path::new("/nonexistent/libx.so"), None, Arc::default())
            .err()
            .unwrap();
        assert!(
            e.starts_with("cannot load --so_filename=/nonexistent/libx.so: "),
            "{e}"
        );
    }
}
