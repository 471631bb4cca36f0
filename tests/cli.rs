//! The command line as a user meets it: flags, exit status, one-line errors naming the culprit.

use std::path::Path;
use std::process::{Command, Output};

fn stackdrill(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackdrill"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parse"))
        .output()
        .expect("run stackdrill")
}

/// Exit status and stderr, as one text to snapshot.
fn outcome(args: &[&str]) -> String {
    let out = stackdrill(args);
    format!(
        "exit {}\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn bad_command_lines_get_one_line_each() {
    let cases: &[&[&str]] = &[
        &["--no_such_flag", "valid/01-passive-open.pkt"],
        &["-x", "valid/01-passive-open.pkt"],
        &["--bind_port=0", "valid/01-passive-open.pkt"],
        &["--bind_port=70000", "valid/01-passive-open.pkt"],
        &["--tolerance_usecs"],
        &["--dry_run=yes", "valid/01-passive-open.pkt"],
        &["--tol=5", "valid/01-passive-open.pkt"],
        &["--ip_version=ipv5", "valid/01-passive-open.pkt"],
        &["--local_ip=300.1.2.3", "valid/01-passive-open.pkt"],
        &["-D", "NOEQUALS", "valid/01-passive-open.pkt"],
        &["--dry_run"],
        &["--dry_run", "no/such/script.pkt"],
        &["--jobs=0", "valid/01-passive-open.pkt"],
        &["--pin_cpu=x", "valid/01-passive-open.pkt"],
        &["--pin_cpu=1024", "valid/01-passive-open.pkt"],
        &["--junit=", "valid"],
        &["valid", "--jobs"],
        &["--tolerence_usecs=5000", "valid/01-passive-open.pkt"],
        &["--strict_segmnets", "valid/01-passive-open.pkt"],
        &["--shard=3/2", "valid"],
        &["--shard=x", "valid"],
        &["--shard_durations=none.json", "valid"],
        &["report"],
        &["report", "--junti=j.xml", "a.json"],
        &["report", "no/such/shard.json"],
    ];
    let mut report = String::new();
    for args in cases {
        let text = outcome(args);
        assert!(text.starts_with("exit 1\n"), "{args:?} should fail: {text}");
        assert_eq!(
            text.lines().count(),
            2,
            "{args:?}: one line of error: {text}"
        );
        report.push_str(&format!("$ stackdrill {}\n{text}\n", args.join(" ")));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn dry_run_accepts_valid_scripts_and_flags_in_any_getopt_form() {
    for args in [
        &["--dry_run", "valid/01-passive-open.pkt"][..],
        &["valid/01-passive-open.pkt", "--dry_run"],
        &[
            "--dry_",
            "--tolerance_usecs",
            "5000",
            "valid/01-passive-open.pkt",
        ],
        &[
            "--dry_run",
            "-v",
            "-DX=1",
            "-D",
            "Y=2",
            "valid/01-passive-open.pkt",
        ],
    ] {
        let text = outcome(args);
        assert_eq!(text, "exit 0\n", "{args:?}");
    }
}

#[test]
fn dry_run_reports_every_invalid_script_and_fails() {
    let text = outcome(&[
        "--dry_run",
        "malformed/19-unknown-syscall.pkt",
        "valid/01-passive-open.pkt",
        "malformed/12-inconsistent-seq.pkt",
    ]);
    assert!(text.starts_with("exit 1\n"));
    assert!(text.contains("malformed/19-unknown-syscall.pkt:"), "{text}");
    assert!(
        text.contains("malformed/12-inconsistent-seq.pkt:"),
        "{text}"
    );
}

#[test]
fn help_and_version_exit_zero() {
    let help = stackdrill(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--tolerance_usecs", "--so_filename", "--dry_run", "-D"] {
        assert!(text.contains(flag), "help mentions {flag}");
    }
    let version = stackdrill(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("stackdrill "));
}
