//! The conformance suite (tests/conformance/*.pkt, each tagged with the RFC requirements it
//! checks) on the kernel: every script passes, and the suite prints the requirement matrix
//! with each tagged requirement's verdict.

mod common;

#[test]
fn the_kernel_meets_every_tagged_requirement() {
    if !common::tun_usable("kernel runs") {
        return;
    }
    let out = common::stackdrill(&["tests/conformance"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains(" passing, 0 failing"), "{text}");
    for requirement in ["RFC9293 MUST-10", "RFC9293 MUST-15", "RFC5961 3.2"] {
        let row = text
            .lines()
            .find(|line| line.starts_with(requirement))
            .unwrap_or_else(|| panic!("no row for {requirement}:\n{text}"));
        assert!(row.contains(" pass"), "{row}");
    }
    assert!(text.contains("not testable (internal): 6 ("), "{text}");
}

#[test]
fn every_tag_names_a_known_requirement() {
    let out = common::stackdrill(&["--dry_run", "tests/conformance"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for entry in std::fs::read_dir("tests/conformance").unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let tags = stackdrill::suite::requirement_tags::of_script(&path, &source)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !tags.is_empty(),
            "{} carries no requirement tag",
            path.display()
        );
    }
}
