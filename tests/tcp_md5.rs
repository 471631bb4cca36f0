//! TCP MD5 signatures (RFC 2385, nplab's `md5 valid` with `--tcp_md5_secret`) against the
//! kernel: signed segments over IPv6 (IPv4 is tests/scripts/pass/tcp_md5_signatures.pkt), a
//! stack signing with another key than the script's, and `md5 valid` without a key.

mod common;

fn run(script: &str) -> (Option<i32>, String) {
    let out = common::stackdrill(&[script]);
    (out.status.code(), common::output_text(&out))
}

#[test]
fn signed_segments_over_ipv6_pass() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let (code, text) = run("tests/scripts/md5/ipv6_signatures.pkt");
    assert_eq!(code, Some(0), "{text}");
}

/// Runs `script` (kernel runs only) and asserts it fails with each of `texts` in its output.
fn fails_with(script: &str, texts: &[&str]) {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let (code, text) = run(script);
    assert_eq!(code, Some(1), "{text}");
    for wanted in texts {
        assert!(text.contains(wanted), "{wanted:?} not in:\n{text}");
    }
}

#[test]
fn a_digest_under_another_key_is_named() {
    fails_with(
        "tests/scripts/md5/other_key.pkt",
        &[
            "tests/scripts/md5/other_key.pkt:9: error handling packet: bad value in outbound TCP option (kind=19): expected: md5 ",
            "differs: tcp option md5",
        ],
    );
}

#[test]
fn md5_valid_without_a_key_is_refused() {
    fails_with(
        "tests/scripts/md5/no_secret.pkt",
        &["tests/scripts/md5/no_secret.pkt:6: error handling packet: 'md5 valid' needs --tcp_md5_secret=KEY"],
    );
}
