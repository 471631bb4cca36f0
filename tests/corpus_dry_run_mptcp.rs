//! Every script of the MPTCP fork's corpus (../shared/corpus/mptcp, multipath-tcp/packetdrill)
//! passes `stackdrill --dry_run`: its option syntax, `addr[NAME]` subflow ends and MPTCP names
//! all parse (docs/compatibility.md, "MPTCP dialect").

use std::path::Path;
use std::process::Command;

#[test]
fn mptcp_corpus_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/mptcp/gtests/net/mptcp");
    let scripts = stackdrill::suite::scripts_under(&dir).expect("corpus directory");
    assert_eq!(scripts.len(), 41, "the MPTCP corpus has 41 scripts");
    let out = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .arg("--dry_run")
        .args(&scripts)
        .output()
        .expect("run stackdrill");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dry run failed:\n{stderr}");
}
