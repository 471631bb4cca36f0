//! What several integration tests share: where the smoltcp adapter they load was built.

use std::path::{Path, PathBuf};

/// The adapter as `cargo build -p stackdrill-smoltcp` leaves it beside the test binaries.
pub fn smoltcp_adapter() -> PathBuf {
    // CARGO_TARGET_TMPDIR is TARGET/tmp; the debug build's artefacts are in TARGET/debug.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();
    let library = target.join("debug/libstackdrill_smoltcp.so");
    assert!(
        library.exists(),
        "{} is missing: run `cargo build -p stackdrill-smoltcp` first (scripts/test.sh does)",
        library.display()
    );
    library
}
