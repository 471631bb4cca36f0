//! `stackdrill --dry_run` on the corpora of ../shared/corpus: every script of google passes with
//! the `-D` defines upstream's run_all.py gives each IP-version variant; nplab's fork passes but
//! for the scripts its own packetdrill rejects and two stackdrill checks earlier.

use std::path::{Path, PathBuf};
use std::process::Command;

/// run_all.py's defines per variant (../shared/spec/packetdrill-cli.md §6.1).
const VARIANTS: &[(&str, &[&str])] = &[
    (
        "ipv4",
        &[
            "TFO_COOKIE=3021b9d889017eeb",
            "CODE=host_unreachable",
            "CMSG_LEVEL_IP=SOL_IP",
            "CMSG_TYPE_RECVERR=IP_RECVERR",
        ],
    ),
    (
        "ipv4-mapped-ipv6",
        &[
            "TFO_COOKIE=3021b9d889017eeb",
            "CODE=host_unreachable",
            "CMSG_LEVEL_IP=SOL_IPV6",
            "CMSG_TYPE_RECVERR=IPV6_RECVERR",
        ],
    ),
    (
        "ipv6",
        &[
            "TFO_COOKIE=c1d1e9742a47a9bc",
            "CMSG_LEVEL_IP=SOL_IPV6",
            "CMSG_TYPE_RECVERR=IPV6_RECVERR",
        ],
    ),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/google")
}

fn scripts_under(dir: &Path) -> Vec<PathBuf> {
    stackdrill::suite::scripts_under(dir).expect("corpus directory")
}

/// Runs `stackdrill --dry_run` with a variant's defines; `with_family` also passes its
/// `--ip_version` as run_all.py does.
fn dry_run(variant: usize, with_family: bool, scripts: &[PathBuf]) -> (bool, String) {
    let (name, defines) = VARIANTS[variant];
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stackdrill"));
    cmd.arg("--dry_run");
    if with_family {
        cmd.arg(format!("--ip_version={name}"));
    }
    for d in defines {
        cmd.arg("-D").arg(d);
    }
    let out = cmd.args(scripts).output().expect("run stackdrill");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// run_all.py's file-name rule: `*v6.pkt` runs only as ipv6, `*v4.pkt` never as ipv6.
fn runs_as(script: &Path, variant: &str) -> bool {
    let name = script.file_name().unwrap().to_string_lossy();
    match variant {
        "ipv6" => !name.ends_with("v4.pkt"),
        _ => !name.ends_with("v6.pkt"),
    }
}

/// The criterion: all 177 scripts with run_all.py's ipv4 defines.
#[test]
fn google_corpus_parses_with_ipv4_defines() {
    let scripts = scripts_under(&corpus_dir());
    assert_eq!(scripts.len(), 177, "the google corpus has 177 scripts");
    let (ok, stderr) = dry_run(0, false, &scripts);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains(": error: ")).collect();
    assert!(ok && errors.is_empty(), "dry run failed:\n{stderr}");
}

/// Each variant as run_all.py runs it (its --ip_version, defines and file-name exclusions).
/// Only as ipv6 does upstream reject scripts at parse time: five IPv4-only ICMP names
/// (../shared/baseline: `semantic error: bad ICMP code …`). We must reject exactly those.
#[test]
fn google_corpus_variants_as_run_all_runs_them() {
    let scripts = scripts_under(&corpus_dir());
    for (variant, (name, _)) in VARIANTS.iter().enumerate() {
        let mut rejected = Vec::new();
        for script in scripts.iter().filter(|s| runs_as(s, name)) {
            let (ok, stderr) = dry_run(variant, true, std::slice::from_ref(script));
            if !ok {
                let first = stderr.lines().next().unwrap_or_default();
                assert!(
                    first.contains("bad ICMP code"),
                    "unexpected {name} failure:\n{stderr}"
                );
                rejected.push(script.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        rejected.sort();
        let expected: &[&str] = match *name {
            "ipv6" => &[
                "icmp-baseline.pkt",
                "icmp-before-accept.pkt",
                "icmp-before-accept.pkt",
                "syn-data-icmp-unreach-frag-needed-with-seq.pkt",
                "syn-data-icmp-unreach-frag-needed.pkt",
            ],
            _ => &[],
        };
        assert_eq!(rejected, expected, "{name}");
    }
}

/// nplab's fork (../shared/corpus/nplab: SCTP, UDP-Lite, FreeBSD and Linux TCP) dry-runs as
/// nplab's packetdrill does, each script from its directory without flags or defines: nplab
/// rejects six of its 330 scripts, stackdrill those six and two it checks earlier (docs/
/// compatibility.md, "nplab dialect").
#[test]
fn nplab_corpus_dry_runs_but_for_known_rejects() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/nplab");
    let scripts = scripts_under(&dir);
    assert_eq!(scripts.len(), 330, "the nplab corpus has 330 scripts");
    let mut rejected = Vec::new();
    for script in &scripts {
        let out = Command::new(env!("CARGO_BIN_EXE_stackdrill"))
            .arg("--dry_run")
            .arg(script.file_name().unwrap())
            .current_dir(script.parent().unwrap())
            .output()
            .expect("run stackdrill");
        if !out.status.success() {
            let parent = script.parent().unwrap().file_name().unwrap();
            let name = script.file_name().unwrap();
            rejected.push(format!(
                "{}/{}",
                parent.to_string_lossy(),
                name.to_string_lossy()
            ));
        }
    }
    rejected.sort();
    let expected = [
        // `inet_addr()` of an IPv6 address: nplab calls inet_addr() at run time.
        "cmsgs/sendmsg_sctp_dstaddrv6.pkt",
        "cmsgs/sendmsg_sctp_dstaddrv6.pkt",
        // The echoed header before `icmp`, and `I-DATA`: nplab rejects these too.
        "pmtu_discovery/pmtud-10pkt-1460-to-1160.pkt",
        "pmtu_discovery/pmtud-1pkt-1460-to-1160.pkt",
        "sctp/sctp_i_data.pkt",
        "sctp/sctp_icmp_active.pkt",
        "sctp/sctp_icmp_passive.pkt",
        "sctp/sctp_icmp_protocol_unreachable.pkt",
    ];
    assert_eq!(rejected, expected);
}
