//! `%{ … }%` code blocks: stackdrill::run::code, both engines (embedded pyo3 for `python3`,
//! an external command for anything else).

use std::fs;
use std::path::{Path, PathBuf};

use stackdrill::run::code::{
    check_syntax, engine_for, run_code_blocks, CodeError, CodeRun, Engine, SYMBOLS,
};
use stackdrill::script::ast::{CodeBlock, Span};

/// The external engine, forced by naming the interpreter by path.
const EXTERNAL: &str = "/usr/bin/python3";
const EMBEDDED: &str = "python3";

fn block(script_line: usize, text: &str) -> CodeRun {
    CodeRun {
        script_line,
        text: text.to_string(),
        snapshot: Vec::new(),
    }
}

fn with(script_line: usize, text: &str, snapshot: &[(&str, i64)]) -> CodeRun {
    CodeRun {
        script_line,
        text: text.to_string(),
        snapshot: snapshot.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
    }
}

/// Runs with both engines, checks they agree, returns the (common) result.
fn run_both(path: &str, blocks: &[CodeRun]) -> Result<(), CodeError> {
    assert_eq!(engine_for(EMBEDDED), Engine::Embedded);
    assert_eq!(engine_for(EXTERNAL), Engine::External);
    let embedded = run_code_blocks(path, EMBEDDED, blocks);
    let external = run_code_blocks(path, EXTERNAL, blocks);
    assert_eq!(embedded, external, "embedded and external engines disagree");
    embedded
}

fn err_text(r: Result<(), CodeError>) -> String {
    r.expect_err("expected a failure").to_string()
}

#[test]
fn passing_blocks() {
    let blocks = [
        with(
            20,
            "assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd",
            &[("tcpi_snd_cwnd", 10)],
        ),
        with(
            23,
            "\nassert tcpi_ca_state == TCP_CA_Disorder, tcpi_ca_state\nassert tcpi_snd_cwnd == 10, tcpi_snd_cwnd  # no cwnd moderation\n",
            &[("tcpi_snd_cwnd", 10), ("tcpi_ca_state", 1)],
        ),
    ];
    run_both("tests/x.pkt", &blocks).unwrap();
}

#[test]
fn no_blocks_is_ok() {
    run_code_blocks("x.pkt", EMBEDDED, &[]).unwrap();
    run_code_blocks("x.pkt", "/nonexistent/python", &[]).unwrap();
}

#[test]
fn globals_persist_across_blocks() {
    let blocks = [
        block(5, "\nTCP_INFINITE_SSTHRESH = 0x7fffffff\ncount = 1\n"),
        block(9, "count += 1"),
        block(10, "\ndef check(n):\n    assert count == n, count\n"),
        block(14, "check(2)"),
        block(15, "assert TCP_INFINITE_SSTHRESH == 2147483647"),
    ];
    run_both("p.pkt", &blocks).unwrap();
}

#[test]
fn snapshot_values_replace_earlier_ones() {
    let blocks = [
        with(3, "first = tcpi_snd_cwnd", &[("tcpi_snd_cwnd", 10)]),
        with(
            4,
            "assert (first, tcpi_snd_cwnd) == (10, 20), (first, tcpi_snd_cwnd)",
            &[("tcpi_snd_cwnd", 20)],
        ),
    ];
    run_both("s.pkt", &blocks).unwrap();
}

#[test]
fn failing_assert_with_message() {
    let blocks = [
        with(40, "assert tcpi_snd_cwnd == 11", &[("tcpi_snd_cwnd", 11)]),
        with(
            42,
            "assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd",
            &[("tcpi_snd_cwnd", 11)],
        ),
        block(50, "raise SystemExit('not reached')"),
    ];
    let e = run_both("tests/x.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(42));
    assert_eq!(e.path, "tests/x.pkt");
    assert_eq!(
        e.to_string(),
        "tests/x.pkt:42: error in Python code\n  assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd\nAssertionError: 11"
    );
}

#[test]
fn failing_assert_with_formatted_message() {
    let blocks = [with(
        27,
        "assert tcpi_snd_cwnd == 10, 'cwnd=%d' % tcpi_snd_cwnd",
        &[("tcpi_snd_cwnd", 12)],
    )];
    assert_eq!(
        err_text(run_both("a.pkt", &blocks)),
        "a.pkt:27: error in Python code\n  assert tcpi_snd_cwnd == 10, 'cwnd=%d' % tcpi_snd_cwnd\nAssertionError: cwnd=12"
    );
}

#[test]
fn bare_failing_assert_in_multi_line_block() {
    // Block text starts on the `%{` line (line 20); the failing assert is 3 lines further.
    let blocks = [block(
        20,
        "\nx = 1\nassert x == 1\nassert x == 2   # the bad one\nassert x == 3\n",
    )];
    let e = run_both("m.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(23));
    assert_eq!(
        e.to_string(),
        "m.pkt:20: error in Python code\nm.pkt:23:  assert x == 2   # the bad one\nAssertionError"
    );
}

#[test]
fn backslash_continued_block_reports_physical_line() {
    // As in tcp-info-rwnd-limited.pkt: statements joined with `;\`, ending in a continuation.
    let blocks = [with(
        47,
        "assert 298000 <= tcpi_rwnd_limited <= 310000, tcpi_rwnd_limited;\\\n         assert 328000 <= tcpi_busy_time <= 340000, tcpi_busy_time;\\\n",
        &[("tcpi_rwnd_limited", 300000), ("tcpi_busy_time", 1)],
    )];
    let e = run_both("c.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(48));
    assert_eq!(
        e.message,
        "  assert 328000 <= tcpi_busy_time <= 340000, tcpi_busy_time;\\\nAssertionError: 1"
    );
}

#[test]
fn indented_block_is_dedented() {
    // Written indented under the `%{` line: Python would reject it as is.
    let blocks = [
        with(
            30,
            "\n        if tcpi_state == TCP_ESTABLISHED:\n            seen = True\n        assert seen\n",
            &[("tcpi_state", 1)],
        ),
        block(35, "\n\tassert seen\n\tassert not False\n"),
    ];
    run_both("i.pkt", &blocks).unwrap();

    let failing = [block(
        60,
        "\n    a = 1\n\n    if a:\n        assert a == 2, 'a is %d' % a\n",
    )];
    let e = run_both("i.pkt", &failing).unwrap_err();
    assert_eq!(
        e.to_string(),
        "i.pkt:60: error in Python code\ni.pkt:64:  assert a == 2, 'a is %d' % a\nAssertionError: a is 1"
    );
}

#[test]
fn error_inside_function_from_earlier_block() {
    let blocks = [
        block(10, "\ndef check(cwnd):\n    assert cwnd == 10, cwnd\n"),
        with(20, "check(tcpi_snd_cwnd)", &[("tcpi_snd_cwnd", 7)]),
    ];
    let e = run_both("f.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(12));
    assert_eq!(
        e.to_string(),
        "f.pkt:10: error in Python code\nf.pkt:12:  assert cwnd == 10, cwnd\nAssertionError: 7\n  called from f.pkt:20: check(tcpi_snd_cwnd)"
    );
}

#[test]
fn other_exceptions() {
    let blocks = [block(5, "\nx = {}\ny = x['missing']\n")];
    assert_eq!(
        err_text(run_both("k.pkt", &blocks)),
        "k.pkt:5: error in Python code\nk.pkt:7:  y = x['missing']\nKeyError: 'missing'"
    );
    let blocks = [block(3, "undefined_name + 1")];
    assert_eq!(
        err_text(run_both("k.pkt", &blocks)),
        "k.pkt:3: error in Python code\n  undefined_name + 1\nNameError: name 'undefined_name' is not defined"
    );
}

#[test]
fn syntax_error_names_line_and_runs_nothing() {
    let blocks = [
        // Would fail if it ran: a syntax error anywhere means nothing runs (as upstream).
        block(2, "assert False, 'ran before the syntax error'"),
        block(10, "\nx = 1\nassert x ==\n"),
    ];
    let e = run_both("y.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(12));
    let text = e.to_string();
    assert!(
        text.starts_with("y.pkt:10: error in Python code\ny.pkt:12:  assert x ==\n"),
        "{text}"
    );
    assert!(text.ends_with("\nSyntaxError: invalid syntax"), "{text}");
    assert_eq!(check_syntax("y.pkt", &blocks).unwrap_err(), e);

    // Indentation error (first statement on the `%{` line, the next one indented).
    let blocks = [block(7, "x = 1\n      y = 2")];
    let e = run_both("y.pkt", &blocks).unwrap_err();
    assert_eq!(e.line, Some(8));
    assert!(
        e.to_string()
            .ends_with("\nIndentationError: unexpected indent"),
        "{e}"
    );
}

#[test]
fn snapshot_names_and_constants_visible() {
    let snapshot = [
        ("tcpi_state", 1),
        ("tcpi_ca_state", 4),
        ("tcpi_snd_cwnd", 10),
        ("tcpi_options", 1 | 2 | 4),
        ("tcpi_pacing_rate", u32::MAX as i64 + 5),
    ];
    let mut checks = String::from("\n");
    let expected_states = [
        "TCP_ESTABLISHED",
        "TCP_SYN_SENT",
        "TCP_SYN_RECV",
        "TCP_FIN_WAIT1",
        "TCP_FIN_WAIT2",
        "TCP_TIME_WAIT",
        "TCP_CLOSE",
        "TCP_CLOSE_WAIT",
        "TCP_LAST_ACK",
        "TCP_LISTEN",
        "TCP_CLOSING",
    ];
    for (i, name) in expected_states.iter().enumerate() {
        checks.push_str(&format!("assert {name} == {}, {name}\n", i + 1));
    }
    checks.push_str(
        "assert (TCP_CA_Open, TCP_CA_Disorder, TCP_CA_CWR, TCP_CA_Recovery, TCP_CA_Loss) == (0, 1, 2, 3, 4)\n\
         assert [TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE, TCPI_OPT_ECN, TCPI_OPT_ECN_SEEN, \
         TCPI_OPT_SYN_DATA, TCPI_OPT_USEC_TS, TCPI_OPT_TFO_CHILD] == [1, 2, 4, 8, 16, 32, 64, 128]\n\
         assert tcpi_state == TCP_ESTABLISHED\n\
         assert tcpi_ca_state == TCP_CA_Loss\n\
         assert tcpi_snd_cwnd == 10\n\
         assert tcpi_options & TCPI_OPT_SACK and not tcpi_options & TCPI_OPT_ECN\n\
         assert tcpi_pacing_rate == 4294967300, tcpi_pacing_rate\n\
         assert type(tcpi_snd_cwnd) is int\n\
         assert _file == 'tests/v.pkt', _file\n\
         assert _line == 77, _line\n\
         assert __name__ == '__main__'\n\
         sys.stdout.flush()\n",
    );
    run_both("tests/v.pkt", &[with(77, &checks, &snapshot)]).unwrap();
    assert_eq!(SYMBOLS.len(), 11 + 5 + 8);
}

#[test]
fn runs_do_not_share_globals() {
    run_both("a.pkt", &[block(1, "leaked = 1")]).unwrap();
    run_both(
        "b.pkt",
        &[block(
            1,
            "assert 'leaked' not in globals(), 'globals leaked between runs'",
        )],
    )
    .unwrap();
}

#[test]
fn sys_exit_behaves_like_the_interpreter_exiting() {
    // Status 0 ends the code successfully (later blocks do not run) ...
    run_both(
        "e.pkt",
        &[block(1, "sys.exit(0)"), block(2, "assert False")],
    )
    .unwrap();
    // ... a non-zero status is packetdrill's `error executing code` failure.
    let e = run_code_blocks("e.pkt", EMBEDDED, &[block(1, "sys.exit(3)")]).unwrap_err();
    assert_eq!(e.line, None);
    assert_eq!(
        e.to_string(),
        "e.pkt: error executing code: 'python3' returned non-zero status 3"
    );
    let e = run_code_blocks("e.pkt", EXTERNAL, &[block(1, "sys.exit(3)")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "e.pkt: error executing code: '/usr/bin/python3' returned non-zero status 3"
    );
}

#[test]
fn external_command_with_arguments_and_missing_command() {
    // Like system(3): the command line is `CODE_COMMAND FILE` through /bin/sh.
    let e = run_code_blocks(
        "tests/x.pkt",
        "/usr/bin/python3 -X utf8",
        &[with(
            9,
            "assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd",
            &[("tcpi_snd_cwnd", 3)],
        )],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tests/x.pkt:9: error in Python code\n  assert tcpi_snd_cwnd == 10, tcpi_snd_cwnd\nAssertionError: 3"
    );
    let e = run_code_blocks("x.pkt", "/nonexistent/python9", &[block(1, "pass")]).unwrap_err();
    assert_eq!(e.line, None);
    assert_eq!(
        e.to_string(),
        "x.pkt: error executing code: '/nonexistent/python9' returned non-zero status 127"
    );
}

#[test]
fn quotes_in_script_path() {
    let path = "dir with 'quotes'\\x.pkt";
    let blocks = [block(
        3,
        "\nassert _file == \"dir with 'quotes'\\\\x.pkt\", _file\nassert 0\n",
    )];
    let e = run_both(path, &blocks).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{path}:3: error in Python code\n{path}:5:  assert 0\nAssertionError")
    );
}

#[test]
fn code_run_from_parsed_block() {
    let source = "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\n+0 %{\nassert 1\n}%\n";
    let start = source.find("%{").unwrap();
    let end = source.find("}%").unwrap() + 2;
    let cb = CodeBlock {
        text: "\nassert 1\n".to_string(),
        span: Span { start, end },
    };
    let run = CodeRun::from_block(&cb, source, vec![("tcpi_state".into(), 1)]);
    assert_eq!(run.script_line, 3);
    assert_eq!(run.text, "\nassert 1\n");
    assert_eq!(run.snapshot, vec![("tcpi_state".to_string(), 1)]);
}

// ---------------------------------------------------------------------------------------------
// Corpus: every code block of every upstream script compiles.

const CORPUS: &str = "/work/shared/corpus/google";

fn pkt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            pkt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "pkt") {
            out.push(path);
        }
    }
}

/// `%{ … }%` blocks of a script, by a plain text scan, trimmed as the parser does.
fn scan_blocks(source: &str) -> Vec<CodeRun> {
    let mut blocks = Vec::new();
    let mut from = 0;
    while let Some(open) = source[from..].find("%{").map(|i| from + i) {
        let Some(close) = source[open + 2..].find("}%").map(|i| open + 2 + i) else {
            break;
        };
        let text = source[open + 2..close].trim_matches(|c| c == ' ' || c == '\t');
        let script_line = 1 + source[..open].matches('\n').count();
        blocks.push(block(script_line, text));
        from = close + 2;
    }
    blocks
}

#[test]
fn corpus_blocks_compile() {
    if !Path::new(CORPUS).is_dir() {
        eprintln!("skipping: no corpus at {CORPUS}");
        return;
    }
    let mut files = Vec::new();
    pkt_files(Path::new(CORPUS), &mut files);
    files.sort();
    let mut total = 0;
    let mut failures = Vec::new();
    for file in &files {
        let source = String::from_utf8_lossy(&fs::read(file).unwrap()).into_owned();
        let blocks = scan_blocks(&source);
        total += blocks.len();
        // One block at a time so every failure shows up.
        for b in &blocks {
            if let Err(e) = check_syntax(&file.display().to_string(), std::slice::from_ref(b)) {
                failures.push(e.to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} blocks fail to compile:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(total >= 300, "only {total} code blocks found in {CORPUS}");
    eprintln!("{total} code blocks in {} scripts compile", files.len());
}
