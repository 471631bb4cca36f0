//! The parser on inputs written for this project (tests/parse/): the AST of every valid script
//! and the error for every malformed one are snapshots (insta); hostile inputs never panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use stackdrill::cli::parse_command_line;
use stackdrill::load::load_script;
use stackdrill::script::parse_source;

fn files(dir: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/parse").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pkt"))
        .collect();
    out.sort();
    out
}

/// `-D` arguments named by a script's `// defines: A=1 B=2` comment.
fn defines_of(path: &Path) -> Vec<String> {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    text.lines()
        .find_map(|l| l.split_once("defines:").map(|(_, d)| d.to_string()))
        .map(|d| d.split_whitespace().map(|kv| kv.to_string()).collect())
        .unwrap_or_default()
}

/// What `stackdrill --dry_run` reports for one script: errors, else warnings, else "ok".
fn dry_run_report(path: &Path) -> Result<String, String> {
    let mut argv = vec!["stackdrill".to_string(), "--dry_run".to_string()];
    for d in defines_of(path) {
        argv.push("-D".to_string());
        argv.push(d);
    }
    let command_line = parse_command_line(argv).unwrap();
    match load_script(path, &command_line) {
        Ok(loaded) if loaded.missing_defines.is_empty() => Ok(format!("{:#?}", loaded.script)),
        Ok(loaded) => Err(loaded
            .missing_defines
            .iter()
            .map(|w| w.as_warning())
            .collect::<Vec<_>>()
            .join("\n")),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn valid_scripts_parse_to_the_expected_ast() {
    let valid = files("valid");
    assert!(valid.len() >= 20, "at least 20 representative scripts");
    for path in valid {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        match dry_run_report(&path) {
            Ok(ast) => insta::assert_snapshot!(format!("ast-{name}"), ast),
            Err(e) => panic!("{} should be valid:\n{e}", path.display()),
        }
    }
}

#[test]
fn malformed_inputs_are_reported_at_file_line_col() {
    let malformed = files("malformed");
    assert!(malformed.len() >= 40, "at least 40 malformed inputs");
    let mut report = String::new();
    for path in malformed {
        let shown = path
            .strip_prefix("tests/parse")
            .unwrap()
            .display()
            .to_string();
        let message = match dry_run_report(&path) {
            Ok(_) => panic!("{shown} should be rejected"),
            Err(message) => message,
        };
        let first = message.lines().next().unwrap_or_default();
        let location = first
            .strip_prefix(&format!("{}:", path.display()))
            .unwrap_or_else(|| panic!("{first}"));
        let mut parts = location.splitn(3, ':');
        let (line, col) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(
            line.parse::<usize>().is_ok() && col.parse::<usize>().is_ok(),
            "FILE:LINE:COL in: {first}"
        );
        report.push_str(&message.replace(&path.display().to_string(), &shown));
        report.push_str("\n\n");
    }
    insta::assert_snapshot!("malformed-errors", report);
}

/// Parses text that is not expected to be valid; it must return (not panic) and any error must
/// carry a line and column.
fn must_not_panic(name: &str, text: &str) {
    let result = std::panic::catch_unwind(|| parse_source(name, text, &BTreeMap::new()));
    match result {
        Err(_) => panic!("parser panicked on {name}"),
        Ok(Err(e)) => assert!(e.location.is_some(), "{name}: error without location: {e}"),
        Ok(Ok(_)) => {}
    }
}

#[test]
fn every_truncation_of_every_valid_script_is_handled() {
    for path in files("valid") {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        for cut in (0..text.len())
            .filter(|i| text.is_char_boundary(*i))
            .step_by(3)
        {
            must_not_panic(&name, &text[..cut]);
        }
    }
}

#[test]
fn hostile_inputs_are_handled() {
    // Binary garbage: a fixed pseudo-random byte stream, read as Latin-1 text.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: String = (0..64 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(state as u8)
        })
        .collect();
    must_not_panic("garbage.pkt", &garbage);

    for (name, open, close) in [
        ("deep-brackets.pkt", "[", "]"),
        ("deep-braces.pkt", "{", "}"),
        ("deep-parens.pkt", "(", ")"),
    ] {
        let deep = format!(
            "0 setsockopt(3, SOL_SOCKET, SO_MARK, {}1{}, 4) = 0\n",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        let e = parse_source(name, &deep, &BTreeMap::new()).unwrap_err();
        assert!(e.message.contains("nested deeper than"), "{name}: {e}");
    }

    let long_line = format!("0 close({}) = 0\n", "9".repeat(1_000_000));
    let e = parse_source("long-line.pkt", &long_line, &BTreeMap::new()).unwrap_err();
    assert!(e.message.contains("out of range"), "{e}");
    assert!(
        e.to_string().lines().nth(1).unwrap().chars().count() < 200,
        "long lines are cut"
    );

    must_not_panic(
        "controls.pkt",
        &(0u8..128).map(char::from).collect::<String>(),
    );
    must_not_panic("only-dashes.pkt", &"--".repeat(1000));
    must_not_panic(
        "crlf.pkt",
        "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\r\n+0 close(3) = 0\r\n",
    );
}

#[test]
fn a_ten_megabyte_script_parses() {
    let mut text = String::from("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n");
    let chunk =
        "+0 < P. 1:1001(1000) ack 1 win 257\n+0 > . 1:1(0) ack 1001 <nop,nop,TS val 1 ecr 2>\n";
    while text.len() < 10 * 1024 * 1024 {
        text.push_str(chunk);
    }
    let script =
        parse_source("big.pkt", &text, &BTreeMap::new()).expect("a big valid script parses");
    assert!(script.events.len() > 200_000);
    assert_eq!(script.events.last().unwrap().line, text.lines().count());
}
