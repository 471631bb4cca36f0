//! The gVisor adapter's own scripts (stacks/gvisor/tests/*.pkt): what docs/stacks.md says of
//! gVisor and the portable scripts cannot show, such as the bug that makes
//! tests/portable/keepalive.pkt fail there, and the adapter's epoll. The portable suite on gVisor is in tests/portable.rs.
//!
//! Skipped, with a message, where Go and gVisor's sources are not installed
//! (scripts/install-system-deps.sh installs them).

mod common;
use common::{gvisor_adapter, stackdrill};

#[test]
fn the_gvisor_adapters_own_scripts_pass() {
    let Some(library) = gvisor_adapter() else {
        return;
    };
    let so = format!("--so_filename={}", library.display());
    let output = stackdrill(&[&so, "stacks/gvisor/tests"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Ran 3 tests: 3 passing"), "{stdout}");
}
