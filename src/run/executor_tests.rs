//! Unit tests of the executor against the scripted fake backend (`fake_backend.rs`): the event
//! loop's timing and tolerance, outbound matching, segment merging, blocking calls and errors,
//! each judged by what a user sees (the verdict and packetdrill's text for it) and by what the
//! fake stack observed (packets on the wire, calls and their times). Times are script µs.

use std::collections::BTreeMap;
use std::path::Path;

use super::executor::{Executor, StackUnderTest};
use super::fake_backend::{FakeStack, Outbound, Returns, EPHEMERAL_PORT};
use super::stack::ScriptCalls;
use super::syscall::SyscallEnv;
use crate::cli::{Config, OptionSetting};
use crate::introspect::ScriptFds;
use crate::sut::network::Addresses;
use crate::verdict::{Failure, FailureKind, TimedEvent};

/// What a run ended with.
struct Finished {
    /// The failure as packetdrill prints it for a script named `t.pkt`.
    verdict: Result<(), String>,
    /// The failure as data.
    failure: Option<Failure>,
    warnings: Vec<String>,
}

impl Finished {
    /// The error's first line (`t.pkt:LINE: MESSAGE`).
    fn first_error(&self) -> String {
        let text = self.verdict.as_ref().expect_err("the run passed");
        text.lines().next().unwrap_or_default().to_string()
    }

    fn assert_passed(&self) {
        if let Err(e) = &self.verdict {
            panic!("the run failed:\n{e}");
        }
    }
}

/// Runs `script` against `stack` as `stackdrill OPTIONS t.pkt` would, through the end-of-run
/// steps (`options`: `name` or `name=value`, without dashes).
fn run(stack: &FakeStack, options: &[&str], script: &str) -> Finished {
    let mut config = Config::default();
    for option in ["local_ip=192.168.0.1"].iter().chain(options) {
        let setting = match option.split_once('=') {
            Some((name, value)) => OptionSetting::with_value(name, value),
            None => OptionSetting::flag(*option),
        };
        config.apply(&setting).expect("a valid option");
    }
    let parsed = crate::script::parse_source("t.pkt", script, &BTreeMap::new())
        .unwrap_or_else(|e| panic!("the test script does not parse: {e:?}"));
    let addresses = Addresses::from_config(&config).expect("valid addresses");
    stack.place(addresses.local_ip, addresses.remote_ip, config.connect_port);
    let start = stack.clock().start_usecs();
    let env = SyscallEnv {
        socket_domain: addresses.socket_domain(),
        local_ip: addresses.socket_view(addresses.local_ip),
        remote_ip: addresses.socket_view(addresses.remote_ip),
        bind_port: config.bind_port,
        connect_port: config.connect_port,
        script_start_usecs: start,
        tolerance_usecs: i64::from(config.tolerance_usecs),
    };
    let sut = StackUnderTest {
        netdev: stack.netdev(),
        calls: ScriptCalls::new(stack.call_thread(), env, ScriptFds::default()),
        clock: stack.clock(),
        view: stack.view(),
    };
    let mut executor = Executor::new(
        "t.pkt",
        &parsed,
        script,
        &config,
        addresses,
        Path::new("."),
        sut,
        start,
    );
    let outcome = executor.run_events().and_then(|()| executor.finish());
    Finished {
        verdict: outcome.as_ref().map_err(Failure::render).copied(),
        failure: outcome.err(),
        warnings: executor.warnings().to_vec(),
    }
}

/// Lines 1–7: a listener (fd 3) accepts the peer's connection (fd 4); the handshake's last
/// ACK and the accept() are at 0.010.
const HANDSHAKE: &str = "\
0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0   listen(3, 1) = 0
+0   < S 0:0(0) win 1000
+0   > S. 0:0(0) ack 1 <...>
+.01 < . 1:1(0) ack 1 win 1000
+0   accept(3, ..., ...) = 4
";

/// The script after the handshake (its lines are numbered from 8).
fn after_handshake(lines: &str) -> String {
    format!("{HANDSHAKE}{lines}")
}

/// A listener on live fd 7 (the first three lines of [`HANDSHAKE`]).
fn listener() -> FakeStack {
    FakeStack::default()
        .call("socket", Ok(7))
        .call("bind", Ok(0))
        .call("listen", Ok(0))
}

/// The stack for [`HANDSHAKE`]: its SYN-ACK at once, accept() giving live fd 8.
fn handshake() -> FakeStack {
    listener()
        .sends(Outbound::tcp(0, "S.", 0, 0, 1))
        .call("accept", Ok(8))
}

/// After the handshake the peer sends 100 bytes; the script expects `expected` back at once
/// (line 9), then writes (line 10); the stack sends `sent`.
fn answer_to_data(expected: &str, sent: &[Outbound], options: &[&str]) -> (FakeStack, Finished) {
    let stack = handshake().call("write", Ok(10)).sending(sent);
    let script = after_handshake(&format!(
        "+0 < P. 1:101(100) ack 1 win 1000\n+0 {expected}\n+0 write(4, ..., 10) = 10\n"
    ));
    let finished = run(&stack, options, &script);
    (stack, finished)
}

/// When each call named `name` reached the stack (script µs), and its live fd.
fn calls_named(stack: &FakeStack, name: &str) -> Vec<(i64, Option<i32>)> {
    stack
        .calls()
        .into_iter()
        .filter(|c| c.name == name)
        .map(|c| (c.started, c.fd))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Timing

/// After the handshake, 100 bytes written at 0.010 are expected `+0.2` later (at 0.210,
/// tolerance 12.5 % of 0.2 s = 25 ms by default); the stack sends them at `at`.
fn data_sent_at(at: i64, options: &[&str]) -> Finished {
    let stack = handshake()
        .call("write", Ok(100))
        .sends(Outbound::tcp(at, "P.", 1, 100, 1));
    run(
        &stack,
        options,
        &after_handshake("+0 write(4, ..., 100) = 100\n+0.2 > P. 1:101(100) ack 1\n"),
    )
}

/// The script times and flags of every packet the executor injected.
fn injections(stack: &FakeStack) -> Vec<(i64, String)> {
    stack.injected().iter().map(|p| (p.at, p.flags())).collect()
}

/// packetdrill's text for an outbound packet at the wrong time: `expected` is `at T` or
/// `in time range T1~T2`.
fn packet_timing_error(line: usize, expected: &str, happened: &str, tolerance: &str) -> String {
    format!(
        "t.pkt:{line}: error handling packet: timing error: expected outbound packet {expected} \
         sec but happened at {happened} sec; tolerance {tolerance} sec"
    )
}

#[test]
fn inbound_packets_are_injected_at_their_relative_and_absolute_times() {
    let stack = listener();
    let script = "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0.1  < S 0:0(0) win 1000
0.250 < . 1:1(0) ack 1 win 1000
";
    run(&stack, &[], script).assert_passed();
    // The last packet is the end of the run's reset of the connection.
    let expected = [(100_000, "S"), (250_000, "."), (250_000, "R.")];
    assert_eq!(
        injections(&stack),
        expected.map(|(t, f)| (t, f.to_string())).to_vec()
    );
}

#[test]
fn with_mss_inbound_tcp_packets_are_handed_over_as_gso_packets() {
    let gso_sizes = |options: &[&str]| {
        let stack = handshake();
        run(&stack, options, HANDSHAKE).assert_passed();
        let sizes: Vec<Option<u16>> = stack.injected().iter().map(|p| p.gso_size).collect();
        sizes[..2].to_vec()
    };
    assert_eq!(gso_sizes(&["mss=1000"]), [Some(1000), Some(1000)]);
    assert_eq!(gso_sizes(&[]), [None, None]);
}

/// The listener, then two back-to-back inbound packets (the second `gap` after the first),
/// then accept() `+0.01` later; writing a packet takes `latency`.
fn back_to_back(latency: i64, gap: &str) -> (FakeStack, Finished) {
    let stack = listener().send_latency(latency).call("accept", Ok(8));
    let script = format!(
        "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
+0.1  < S 0:0(0) win 1000
{gap} < . 1:1(0) ack 1 win 1000
+0.01 accept(3, ..., ...) = 4
"
    );
    let finished = run(&stack, &[], &script);
    (stack, finished)
}

#[test]
fn back_to_back_inbound_packets_are_anchored_to_the_previous_one_not_to_now() {
    // Writing the SYN takes 3 ms: the ACK still goes 10 ms after the SYN's time (0.110, not
    // 0.113), while the call after it is anchored to now (0.113 + 0.010).
    let (stack, finished) = back_to_back(3_000, "+0.01");
    finished.assert_passed();
    let times: Vec<i64> = injections(&stack).iter().map(|(t, _)| *t).collect();
    assert_eq!(times[..2], [100_000, 110_000]);
    assert_eq!(calls_named(&stack, "accept"), [(123_000, Some(7))]);
}

#[test]
fn an_inbound_packet_injected_late_fails_with_its_time() {
    // Writing the SYN takes 10 ms, so the ACK due 1 ms after it goes out 9 ms late.
    let (_, finished) = back_to_back(10_000, "+0.001");
    assert_eq!(
        finished.first_error(),
        "t.pkt:5: timing error: expected inbound packet at 0.101000 sec but happened at \
         0.110000 sec; tolerance 0.004000 sec"
    );
    // On time when writing is quick.
    back_to_back(500, "+0.001").1.assert_passed();
}

/// Data due at 0.210 (see [`data_sent_at`]) passes when sent at `inside` and fails when sent
/// at `outside`, with `tolerance`.
fn assert_data_window(options: &[&str], inside: i64, outside: i64, tolerance: &str) {
    data_sent_at(inside, options).assert_passed();
    assert_eq!(
        data_sent_at(outside, options).first_error(),
        packet_timing_error(9, "at 0.210000", &secs(outside), tolerance)
    );
}

/// Script µs as packetdrill prints seconds.
fn secs(usecs: i64) -> String {
    format!("{:.6}", usecs as f64 / 1e6)
}

#[test]
fn an_outbound_packet_late_beyond_the_tolerance_fails() {
    data_sent_at(210_000, &[]).assert_passed();
    assert_data_window(&[], 235_000, 236_000, "0.025000");
    // The verdict carries the numbers, not only the text.
    let late = data_sent_at(236_000, &[]).failure.expect("late");
    assert_eq!(
        *late.kind,
        FailureKind::Timing {
            event: TimedEvent::OutboundPacket,
            expected_usecs: 210_000,
            expected_end_usecs: None,
            actual_usecs: 236_000,
            tolerance_usecs: 25_000,
        }
    );
    assert_eq!(
        late.kind.beyond_tolerance_usecs(),
        Some((TimedEvent::OutboundPacket, 1_000))
    );
}

#[test]
fn an_outbound_packet_early_beyond_the_tolerance_fails() {
    assert_data_window(&[], 185_000, 184_000, "0.025000");
}

#[test]
fn tolerance_usecs_wins_when_larger_than_the_percentage() {
    assert_data_window(&["tolerance_usecs=50000"], 260_000, 261_000, "0.050000");
    // The default 12.5 % of the 0.2 s gap (25 ms) does not reach that far.
    assert!(data_sent_at(260_000, &[]).verdict.is_err());
}

#[test]
fn tolerance_percent_of_the_gap_wins_when_larger_than_the_usecs() {
    // 50 % of the 0.2 s since the previous event: 100 ms.
    assert_data_window(&["tolerance_percent=50"], 310_000, 311_000, "0.100000");
    // 1 % is 2 ms: the 4 ms of --tolerance_usecs count instead.
    assert_data_window(&["tolerance_percent=1"], 214_000, 215_000, "0.004000");
}

/// After the handshake, 100 bytes expected at the time `when` says; the stack sends them at
/// `at`.
fn data_expected(when: &str, at: i64) -> Finished {
    let stack = handshake().sends(Outbound::tcp(at, "P.", 1, 100, 1));
    run(
        &stack,
        &[],
        &after_handshake(&format!("{when} > P. 1:101(100) ack 1\n")),
    )
}

#[test]
fn a_time_range_accepts_any_time_inside_it_plus_the_tolerance() {
    // 0.110~0.210, tolerance 12.5 % of the 0.1 s from the previous event to the range's start.
    data_expected("+0.1~+0.2", 200_000).assert_passed();
    data_expected("+0.1~+0.2", 222_500).assert_passed();
    assert_eq!(
        data_expected("+0.1~+0.2", 223_000).first_error(),
        packet_timing_error(8, "in time range 0.110000~0.210000", "0.223000", "0.012500")
    );
    // The same moment is too late for a plain time at the range's start.
    assert!(data_expected("+0.1", 200_000).verdict.is_err());
}

#[test]
fn a_star_time_is_never_checked() {
    data_expected("*", 1_000_000).assert_passed();
    assert_eq!(
        data_expected("+0.2", 1_000_000).first_error(),
        packet_timing_error(8, "at 0.210000", "1.000000", "0.025000")
    );
}

#[test]
fn the_first_event_is_never_time_checked() {
    // The backend's set-up overran time 0 by 50 ms: the first call starts at 0.050.
    let run_late = |second: &str| {
        let stack = FakeStack::started_late_by(50_000)
            .call("socket", Ok(7))
            .call("bind", Ok(0));
        let script = format!(
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n{second} bind(3, ..., ...) = 0\n"
        );
        run(&stack, &[], &script)
    };
    run_late("+0").assert_passed();
    assert_eq!(
        run_late("0").first_error(),
        "t.pkt:2: timing error: expected system call start at 0.000000 sec but happened at \
         0.050000 sec; tolerance 0.004000 sec"
    );
}

// ---------------------------------------------------------------------------------------------
// Outbound matching

/// The pure ACK of the peer's 100 bytes, sent at once.
fn ack_of_data() -> Outbound {
    Outbound::tcp(10_000, ".", 1, 0, 101)
}

#[test]
fn a_wrong_ack_names_the_field_and_shows_both_packets() {
    let ack = |ack| {
        answer_to_data(
            "> . 1:1(0) ack 101",
            &[Outbound::tcp(10_000, ".", 1, 0, ack)],
            &[],
        )
    };
    ack(101).1.assert_passed();
    assert_eq!(
        ack(100).1.verdict,
        Err(
            "t.pkt:9: error handling packet: live packet field tcp_ack_seq: expected: 101 \
             (0x65) vs actual: 100 (0x64)\n\
             script packet:  0.010000 . 1:1(0) ack 101\n\
             actual packet:  0.010000 . 1:1(0) ack 100 win 1000\n  \
             differs: tcp ack  expected: 101  actual: 100"
                .to_string()
        )
    );
}

/// The first four lines of [`HANDSHAKE`], then the SYN-ACK expected with `options` (line 5).
fn syn_ack_expected(options: &str) -> String {
    let listen: Vec<&str> = HANDSHAKE.lines().take(4).collect();
    format!("{}\n+0   > S. 0:0(0) ack 1 {options}\n", listen.join("\n"))
}

#[test]
fn a_wrong_syn_ack_option_is_named_below_packetdrills_line() {
    // The script wants mss 1000, sackOK and wscale 8; the stack sends mss 1460 and wscale 7
    // without sackOK: packetdrill's line names the length, the lines below name the options.
    let stack = listener()
        .sends(Outbound::tcp(0, "S.", 0, 0, 1).options(&[2, 4, 5, 180, 1, 3, 3, 7]))
        .call("accept", Ok(8));
    let script = syn_ack_expected("<mss 1000,sackOK,nop,nop,nop,wscale 8>");
    let finished = run(&stack, &[], &script);
    let text = finished.verdict.expect_err("the options differ");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "t.pkt:5: error handling packet: live packet field ipv4_total_length: expected: 52 \
         (0x34) vs actual: 48 (0x30)"
    );
    assert!(lines[1].starts_with("script packet: "), "{text}");
    assert!(lines[2].starts_with("actual packet: "), "{text}");
    assert_eq!(
        lines[3..],
        [
            "  differs: ipv4_total_length  expected: 52       actual: 48",
            "  differs: tcp header length  expected: 32       actual: 28",
            "  differs: tcp option mss     expected: 1000     actual: 1460",
            "  differs: tcp option sackOK  expected: present  actual: absent",
            "  differs: tcp option wscale  expected: 8        actual: 7",
        ],
        "{text}"
    );
}

#[test]
fn a_missing_packet_shows_the_script_packet_and_what_passed_by() {
    // The stack answers from another port: not the socket under test's, so the line times
    // out, and the failure lists the packet that did arrive.
    let stack = listener()
        .sends(Outbound::tcp(0, "S.", 0, 0, 1).with_local_port(9999))
        .call("accept", Ok(8));
    let script = syn_ack_expected("<...>");
    let finished = run(&stack, &[], &script);
    let text = finished
        .verdict
        .expect_err("no packet of the socket under test");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "t.pkt:5: error handling packet: Timed out waiting for packet",
            "script packet:  0.000000 S. 0:0(0) ack 1 <...>",
            "  packets that arrived while waiting for it (none of the socket under test):",
        ],
        "{text}"
    );
    assert!(
        lines[3].starts_with("     0.000000 ")
            && lines[3].contains(":9999 > ")
            && lines[3].contains(" S. "),
        "{text}"
    );
    let quiet = listener().call("accept", Ok(8));
    let text = run(&quiet, &[], &script).verdict.expect_err("nothing sent");
    assert!(
        text.ends_with("\n  no packet arrived while waiting for it"),
        "{text}"
    );
}

#[test]
fn a_wrong_window_or_flag_names_the_field() {
    let cases = [
        (
            "> . 1:1(0) ack 101 win 1000",
            ack_of_data().window(2000),
            "live packet field tcp_window: expected: 1000 (0x3e8) vs actual: 2000 (0x7d0)",
        ),
        (
            "> P. 1:1(0) ack 101",
            ack_of_data(),
            "live packet field tcp_psh: expected: 1 (0x1) vs actual: 0 (0x0)",
        ),
        (
            "> . 1:1(0) ack 101",
            Outbound::tcp(10_000, "F.", 1, 0, 101),
            "live packet field tcp_fin: expected: 0 (0x0) vs actual: 1 (0x1)",
        ),
    ];
    for (expected, sent, field) in cases {
        assert_eq!(
            answer_to_data(expected, &[sent], &[]).1.first_error(),
            format!("t.pkt:9: error handling packet: {field}")
        );
    }
    // The same fields as the script says pass.
    let right = Outbound::tcp(10_000, "P.", 1, 0, 101).window(1000);
    answer_to_data("> P. 1:1(0) ack 101 win 1000", &[right], &[])
        .1
        .assert_passed();
}

#[test]
fn a_packet_of_another_connection_is_skipped() {
    // A wrong, early segment to another remote port, then the right one on time.
    let wrong = Outbound::tcp(1_000, "F.", 9, 0, 7);
    let (_, finished) = answer_to_data(
        "> . 1:1(0) ack 101",
        &[wrong.clone().with_remote_port(9), ack_of_data()],
        &[],
    );
    finished.assert_passed();
    // On the connection under test, the same segment is the one matched, and fails.
    let (_, finished) = answer_to_data("> . 1:1(0) ack 101", &[wrong, ack_of_data()], &[]);
    assert_eq!(
        finished.first_error(),
        "t.pkt:9: error handling packet: live packet field tcp_fin: expected: 0 (0x0) vs \
         actual: 1 (0x1)"
    );
}

#[test]
fn a_retransmission_of_an_earlier_connection_is_not_the_new_ones() {
    // Two active opens; the first one's SYN is sent again (at 0.2) before the second's (0.5).
    let script = "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0    > S 0:0(0) <...>
+0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 4
+0    connect(4, ..., ...) = -1 EINPROGRESS (Operation now in progress)
+0.5  > S 0:0(0) <...>
";
    let second_syn_at = |at| {
        let stack = FakeStack::default()
            .call("socket", Ok(7))
            .call("connect", Err(libc::EINPROGRESS))
            .call("socket", Ok(8))
            .call("connect", Err(libc::EINPROGRESS))
            .sends(Outbound::tcp(0, "S", 0, 0, 0))
            .sends(Outbound::tcp(200_000, "S", 0, 0, 0))
            .sends(Outbound::tcp(at, "S", 0, 0, 0).with_local_port(45_001));
        run(&stack, &[], script)
    };
    second_syn_at(500_000).assert_passed();
    assert_eq!(
        second_syn_at(600_000).first_error(),
        packet_timing_error(6, "at 0.500000", "0.600000", "0.062500")
    );
}

#[test]
fn no_packet_before_the_deadline_times_out() {
    // Expected at 0.110; the sniffer gives up 2 s after the previous event (at 2.010).
    let stack = handshake();
    let finished = run(
        &stack,
        &[],
        &after_handshake("+0.1 > P. 1:101(100) ack 1\n"),
    );
    assert_eq!(
        finished.first_error(),
        "t.pkt:8: error handling packet: Timed out waiting for packet"
    );
    assert_eq!(stack.now(), 2_010_000);
    // A packet just after the deadline is not waited for; one at the deadline is.
    assert_eq!(
        data_expected("+0.1", 2_010_001).first_error(),
        "t.pkt:8: error handling packet: Timed out waiting for packet"
    );
    assert_eq!(
        data_expected("+0.1", 2_010_000).first_error(),
        packet_timing_error(8, "at 0.110000", "2.010000", "0.012500")
    );
    data_expected("+0.1", 110_000).assert_passed();
}

#[test]
fn a_payload_longer_than_the_script_packet_fails() {
    let sent = |len| {
        let stack = handshake().sends(Outbound::tcp(10_000, "P.", 1, len, 1));
        run(&stack, &[], &after_handshake("+0 > P. 1:51(50) ack 1\n"))
    };
    sent(50).assert_passed();
    assert_eq!(
        sent(100).first_error(),
        "t.pkt:8: error handling packet: live packet payload: expected 50 bytes vs actual 100 \
         bytes"
    );
}

// ---------------------------------------------------------------------------------------------
// Segment merging

/// After the handshake, 2000 bytes written and expected as one segment (line 9) and, when
/// `then` is not empty, line 10; the stack sends `pieces`.
fn written_in_pieces(pieces: &[Outbound], options: &[&str], then: &str) -> Finished {
    let stack = handshake().call("write", Ok(2000)).sending(pieces);
    let script = after_handshake(&format!(
        "+0 write(4, ..., 2000) = 2000\n+0 > P. 1:2001(2000) ack 1\n{then}"
    ));
    run(&stack, options, &script)
}

/// Two TSO pieces of 1000 bytes: the first at 0.010, the second at `second_at`.
fn two_pieces(second_at: i64) -> [Outbound; 2] {
    [
        Outbound::tcp(10_000, ".", 1, 1000, 1),
        Outbound::tcp(second_at, "P.", 1001, 1000, 1),
    ]
}

/// What the 2000-byte line says of a single 1000-byte piece.
const ONE_PIECE_ONLY: &str = "t.pkt:9: error handling packet: live packet field \
                              ipv4_total_length: expected: 2040 (0x7f8) vs actual: 1040 (0x410)";

#[test]
fn consecutive_pieces_merge_into_one_script_packet_timed_by_the_last() {
    written_in_pieces(&two_pieces(12_000), &[], "").assert_passed();
    // The first piece is on time; the merged packet happened when the second left.
    assert_eq!(
        written_in_pieces(&two_pieces(15_000), &[], "").first_error(),
        packet_timing_error(9, "at 0.010000", "0.015000", "0.004000")
    );
}

#[test]
fn pieces_that_cannot_merge_are_not_merged() {
    let [first, _] = two_pieces(12_000);
    let other_ack = Outbound::tcp(12_000, "P.", 1001, 1000, 2);
    let gap = Outbound::tcp(12_000, "P.", 1101, 1000, 1);
    let other_window = Outbound::tcp(12_000, "P.", 1001, 1000, 1).window(2000);
    for second in [other_ack, gap, other_window] {
        let finished = written_in_pieces(&[first.clone(), second], &[], "");
        assert_eq!(finished.first_error(), ONE_PIECE_ONLY);
    }
}

#[test]
fn a_piece_that_cannot_merge_waits_for_the_next_script_line() {
    // After a gap, the second piece is the next line's packet (the first line's mismatch is
    // only a warning here).
    let [first, _] = two_pieces(12_000);
    let pieces = [first, Outbound::tcp(12_000, "P.", 1101, 1000, 1)];
    let next_line = "+0 > P. 1101:2101(1000) ack 1\n";
    let finished = written_in_pieces(&pieces, &["non_fatal=packet"], next_line);
    finished.assert_passed();
    assert_eq!(
        finished.warnings,
        [ONE_PIECE_ONLY.replace("t.pkt:9: error", "warning")]
    );
    // Without it the next line has nothing left to match.
    let finished = written_in_pieces(&pieces[..1], &["non_fatal=packet"], next_line);
    assert_eq!(
        finished.first_error(),
        "t.pkt:10: error handling packet: Timed out waiting for packet"
    );
}

#[test]
fn strict_segments_turns_merging_off() {
    let finished = written_in_pieces(&two_pieces(12_000), &["strict_segments"], "");
    assert_eq!(finished.first_error(), ONE_PIECE_ONLY);
}

// ---------------------------------------------------------------------------------------------
// Blocking calls

/// A listener, then a blocking accept() from 0.100 due back at 0.200 that returns `returns`,
/// then the lines `rest` (numbered from 5).
fn blocking_accept(returns: Returns, rest: &str) -> (FakeStack, Finished) {
    let script = format!(
        "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0    bind(3, ..., ...) = 0
+0    listen(3, 1) = 0
0.100...0.200 accept(3, ..., ...) = 4
{rest}"
    );
    let stack = listener()
        .call_returning("accept", Ok(8), returns)
        .call("write", Ok(10))
        .sends(Outbound::tcp(150_000, "S.", 0, 0, 1));
    let finished = run(&stack, &[], &script);
    (stack, finished)
}

/// The peer's handshake while accept() sleeps: the SYN at 0.150, its last ACK at `ack_at`,
/// then a write on the accepted socket.
fn handshake_during_accept(ack_at: &str) -> String {
    format!(
        "\
0.150 < S 0:0(0) win 1000
0.150 > S. 0:0(0) ack 1 <...>
{ack_at} < . 1:1(0) ack 1 win 1000
+0    write(4, ..., 10) = 10
"
    )
}

#[test]
fn a_blocking_accept_returns_when_the_handshake_completes() {
    let (stack, finished) = blocking_accept(
        Returns::AfterInjections(2),
        &handshake_during_accept("0.200"),
    );
    finished.assert_passed();
    let accept = &stack.calls()[3];
    assert_eq!(
        (accept.name.as_str(), accept.started, accept.returned),
        ("accept", 100_000, 200_000)
    );
    // The accepted fd is the live fd accept() gave.
    assert_eq!(calls_named(&stack, "write"), [(200_000, Some(8))]);
    // Tolerance 12.5 % of the call's 0.1 s: 12.5 ms.
    let (_, finished) = blocking_accept(
        Returns::AfterInjections(2),
        &handshake_during_accept("0.215"),
    );
    assert_eq!(
        finished.first_error(),
        "t.pkt:4: timing error: expected system call return at 0.200000 sec but happened at \
         0.215000 sec; tolerance 0.012500 sec"
    );
}

#[test]
fn ending_with_a_blocking_call_still_asleep_fails() {
    let (stack, finished) = blocking_accept(Returns::Never, "");
    assert_eq!(
        finished.first_error(),
        "t.pkt:4: exiting while a blocking system call is in progress"
    );
    assert!(stack.now() >= 1_100_000, "it waited a second for the call");
    blocking_accept(Returns::At(200_000), "").1.assert_passed();
}

#[test]
fn a_call_while_a_blocking_call_sleeps_fails() {
    let (stack, finished) = blocking_accept(Returns::Never, "0.150 write(3, ..., 10) = 10\n");
    assert_eq!(
        finished.first_error(),
        "t.pkt:5: runtime error in write call: system call while a blocking system call is in \
         progress"
    );
    assert!(calls_named(&stack, "write").is_empty());
    let (_, finished) = blocking_accept(Returns::Never, "0.150...0.3 write(3, ..., 10) = 10\n");
    assert_eq!(
        finished.first_error(),
        "t.pkt:5: runtime error in write call: blocking system call while another blocking \
         system call is already in progress"
    );
    // A blocking call that returns within the wait lets the next call go on.
    let (stack, finished) = blocking_accept(Returns::At(200_000), "0.150 write(3, ..., 10) = 10\n");
    finished.assert_passed();
    assert_eq!(calls_named(&stack, "write"), [(200_000, Some(7))]);
}

#[test]
fn a_blocking_connect_sends_its_syn_while_it_sleeps() {
    let connect = |port| {
        let stack = FakeStack::default()
            .call("socket", Ok(7))
            .call_returning("connect", Ok(0), Returns::AfterInjections(1))
            .sends(Outbound::tcp(0, "S", 0, 0, 0).with_remote_port(port))
            .sends(Outbound::tcp(100_000, ".", 1, 0, 1));
        let script = "\
0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
0.000...0.100 connect(3, ..., ...) = 0
0     > S 0:0(0) <...>
0.100 < S. 0:0(0) ack 1 win 1000
0.100 > . 1:1(0) ack 1
";
        let finished = run(&stack, &[], script);
        (stack, finished)
    };
    let (stack, finished) = connect(8080);
    finished.assert_passed();
    // The SYN-ACK went to the port the SYN came from.
    let syn_ack = stack.injected()[0].packet.tcp().cloned().expect("TCP");
    assert_eq!(syn_ack.dst_port, EPHEMERAL_PORT);
    // A SYN to another port is not the connection's.
    assert_eq!(
        connect(9).1.first_error(),
        "t.pkt:3: error handling packet: Timed out waiting for packet"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors

/// After the handshake, `line` (line 8) with read() answering `result`.
fn read_returning(line: &str, result: Result<i64, i32>) -> Finished {
    let stack = handshake().call("read", result);
    run(&stack, &[], &after_handshake(line))
}

#[test]
fn a_wrong_result_or_errno_fails_the_call_line() {
    let read = "+0 read(4, ..., 1000) = 50\n";
    read_returning(read, Ok(50)).assert_passed();
    assert_eq!(
        read_returning(read, Ok(100)).first_error(),
        "t.pkt:8: runtime error in read call: Expected result 50 but got 100 with errno 0 \
         (Success)"
    );
    let eagain = "+0 read(4, ..., 1000) = -1 EAGAIN (Resource temporarily unavailable)\n";
    read_returning(eagain, Err(libc::EAGAIN)).assert_passed();
    assert_eq!(
        read_returning(eagain, Err(libc::ECONNRESET)).first_error(),
        "t.pkt:8: runtime error in read call: Expected errno 11 (Resource temporarily \
         unavailable) but got 104 (Connection reset by peer)"
    );
}

#[test]
fn a_call_the_backend_fails_fails_its_line_with_the_reason() {
    let stack = listener()
        .sends(Outbound::tcp(0, "S.", 0, 0, 1))
        .call_returning(
            "accept",
            Ok(8),
            Returns::Fails("the stack is stuck in accept".to_string()),
        );
    let finished = run(&stack, &[], HANDSHAKE);
    assert_eq!(
        finished.first_error(),
        "t.pkt:7: runtime error in accept call: the stack is stuck in accept"
    );
    assert!(calls_named(&stack, "accept").is_empty(), "never reached");
    run(&handshake(), &[], HANDSHAKE).assert_passed();
}

#[test]
fn non_fatal_packet_turns_a_packet_error_into_a_warning_and_goes_on() {
    let wrong_ack = [Outbound::tcp(10_000, ".", 1, 0, 100)];
    let (stack, finished) = answer_to_data("> . 1:1(0) ack 101", &wrong_ack, &["non_fatal=packet"]);
    finished.assert_passed();
    assert_eq!(
        finished.warnings,
        [
            "warning handling packet: live packet field tcp_ack_seq: expected: 101 (0x65) vs \
          actual: 100 (0x64)"
        ]
    );
    assert_eq!(calls_named(&stack, "write"), [(10_000, Some(8))]);
    // Without it the run stops at the packet.
    let (stack, finished) = answer_to_data("> . 1:1(0) ack 101", &wrong_ack, &[]);
    assert!(finished.verdict.is_err());
    assert!(calls_named(&stack, "write").is_empty());
}

#[test]
fn a_failing_clock_fails_the_line_it_failed_on() {
    let script = "\
0    socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0   bind(3, ..., ...) = 0
+0.1 listen(3, 1) = 0
";
    let stack = listener().clock_fails_at(50_000, "the stack's clock stopped");
    assert_eq!(
        run(&stack, &[], script).first_error(),
        "t.pkt:3: the stack's clock stopped"
    );
    let stack = listener().clock_fails_at(150_000, "the stack's clock stopped");
    run(&stack, &[], script).assert_passed();
}

// ---------------------------------------------------------------------------------------------
// Layer-2 lines

/// An ARP message from the fake stack (its MAC, 192.168.0.1) to the peer.
fn arp_from_stack(op: u16, spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    use crate::run::fake_backend::FAKE_STACK_MAC;
    use crate::wire::link::PEER_MAC;
    let mut frame = PEER_MAC.to_vec();
    frame.extend_from_slice(&FAKE_STACK_MAC);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, op as u8]);
    frame.extend_from_slice(&FAKE_STACK_MAC);
    frame.extend_from_slice(&spa);
    frame.extend_from_slice(&PEER_MAC);
    frame.extend_from_slice(&tpa);
    frame
}

#[test]
fn a_layer2_line_on_a_wire_without_a_link_layer_fails_naming_the_line() {
    let finished = run(&FakeStack::default(), &[], "0 < arp request\n");
    assert_eq!(
        finished.first_error(),
        "t.pkt:1: error handling packet: arp and ndp lines need a layer-2 wire (--netdev=veth, \
         af_xdp or dpdk); tun carries IP packets only"
    );
}

#[test]
fn an_arp_request_is_injected_at_its_time_and_the_reply_matched() {
    let stack = FakeStack::default().with_link().sends_frame(
        10_000,
        arp_from_stack(2, [192, 168, 0, 1], [192, 168, 0, 9]),
    );
    let script = "\
0    < arp request sha peer spa 192.168.0.9 tpa local
+.01 > arp reply sha stack spa local tha peer tpa 192.168.0.9 eth_dst peer
";
    run(&stack, &["neighbour_answers=off"], script).assert_passed();
    let injected = stack.injected_frames();
    assert_eq!(injected.len(), 1);
    assert_eq!(injected[0].0, 0);
    let frame = &injected[0].1;
    assert_eq!(&frame[..6], &[0xff; 6], "a request is broadcast");
    assert_eq!(&frame[12..14], &[0x08, 0x06]);
    assert_eq!(&frame[38..42], &[192, 168, 0, 1], "tpa local");
    assert_eq!(stack.neighbour_answers(), Some(false));
}

#[test]
fn a_differing_arp_field_fails_with_both_values_and_both_frames() {
    let stack = FakeStack::default()
        .with_link()
        .sends_frame(0, arp_from_stack(2, [192, 168, 0, 1], [192, 168, 0, 9]));
    let finished = run(&stack, &[], "0 > arp reply spa 192.168.0.7\n");
    let text = finished.verdict.unwrap_err();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "t.pkt:1: error handling packet: live packet field arp_spa: expected: 192.168.0.7 vs \
         actual: 192.168.0.1"
    );
    assert_eq!(
        lines[1],
        "script frame:  0.000000 > arp reply spa 192.168.0.7"
    );
    assert!(
        lines[2]
            .starts_with("actual frame:  0.000000 arp reply sha 02:00:00:00:00:02 spa 192.168.0.1"),
        "{}",
        lines[2]
    );
    assert_eq!(stack.neighbour_answers(), Some(true));
}

#[test]
fn an_outbound_ndp_line_lets_frames_of_other_kinds_pass() {
    let stack = FakeStack::default()
        .with_link()
        .sends_frame(0, arp_from_stack(1, [192, 168, 0, 1], [192, 168, 0, 9]));
    // Nothing of the awaited kind comes: the ARP request passes by and the line times out.
    let finished = run(&stack, &[], "0 > ndp na\n");
    let text = finished.verdict.expect_err("nothing of the kind awaited");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "t.pkt:1: error handling packet: Timed out waiting for packet",
            "script frame:  0.000000 > ndp na",
            "  frames that arrived while waiting for it (none of the kind awaited):",
        ],
        "{text}"
    );
    assert!(lines[3].starts_with("     0.000000 arp request"), "{text}");
    assert!(matches!(
        finished.failure.map(|f| *f.kind),
        Some(FailureKind::PacketMissing)
    ));
}

#[test]
fn a_late_frame_is_a_timing_failure() {
    let stack = FakeStack::default()
        .with_link()
        .sends_frame(0, arp_from_stack(1, [192, 168, 0, 1], [192, 168, 0, 9]))
        .sends_frame(
            500_000,
            arp_from_stack(1, [192, 168, 0, 1], [192, 168, 0, 9]),
        );
    let script = "0 > arp request\n+.1 > arp request tpa 192.168.0.9\n";
    let finished = run(&stack, &[], script);
    assert!(matches!(
        finished.failure.map(|f| *f.kind),
        Some(FailureKind::Timing {
            event: TimedEvent::OutboundPacket,
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------------
// stackdrill extensions (docs/conformance.md, "Language extensions")

/// The script after a listener on fd 3 (lines 1–3 of [`HANDSHAKE`]; its lines are numbered
/// from 4).
fn after_listen(lines: &str) -> String {
    let listen: String = HANDSHAKE
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{listen}{lines}")
}

/// A listener that answers the first SYN with its SYN-ACK at once.
fn syn_answered() -> FakeStack {
    listener().sends(Outbound::tcp(0, "S.", 0, 0, 1))
}

#[test]
fn an_outbound_segment_with_a_wrong_tcp_checksum_fails() {
    let (_, finished) = answer_to_data("> . 1:1(0) ack 101", &[ack_of_data().bad_checksum()], &[]);
    assert_eq!(
        finished.first_error(),
        "t.pkt:9: error handling packet: bad outbound TCP checksum"
    );
}

#[test]
fn bad_csum_injects_a_segment_whose_checksum_is_wrong() {
    let stack = handshake();
    let script = HANDSHAKE.replace(
        "+.01 < . 1:1(0) ack 1 win 1000",
        "+.01 < . 1:1(0) ack 1 win 1000 bad_csum",
    );
    run(&stack, &[], &script).assert_passed();
    let checksums: Vec<bool> = stack
        .injected()
        .iter()
        .map(|p| p.packet.tcp().expect("TCP").checksum_ok)
        .collect();
    // The SYN, the ACK with its wrong checksum (then the end-of-run RST).
    assert_eq!(checksums[..2], [true, false]);
}

#[test]
fn ip_info_addresses_and_options_go_into_the_injected_packet() {
    let stack = listener();
    let script = after_listen(
        "+0   < [src 192.0.2.77, dst 192.168.255.255, ip_options 9e0400000701] S 0:0(0) win 1000\n",
    );
    run(&stack, &[], &script).assert_passed();
    let injected = stack.injected();
    let ip = &injected[0].packet.ip;
    assert_eq!(ip.src.to_string(), "192.0.2.77");
    assert_eq!(ip.dst.to_string(), "192.168.255.255");
    assert_eq!(ip.options, [0x9e, 4, 0, 0, 7, 1, 0, 0]);
    assert_eq!(ip.header_len, 28);
}

#[test]
fn an_address_of_another_ip_version_is_an_error_at_the_packet() {
    let script = after_listen("+0   < [dst ff02::1] S 0:0(0) win 1000\n");
    assert_eq!(
        run(&listener(), &[], &script).first_error(),
        "t.pkt:4: error handling packet: dst ff02::1 is an IPv6 address in an IPv4 run"
    );
}

#[test]
fn a_reply_from_a_stand_in_address_counts_as_the_sockets() {
    // The fake answers from the address the last packet went to: the stand-in.
    let stack = syn_answered();
    let script =
        after_listen("+0   < [dst 192.168.255.255] S 0:0(0) win 1000\n+0   > S. 0:0(0) ack 1\n");
    run(&stack, &[], &script).assert_passed();
}

#[test]
fn strict_ts_ecr_compares_the_outbound_echo() {
    // TS val 1000 ecr 77 (kind 8, length 10) after two NOPs.
    let ts = |ecr: u8| [1, 1, 8, 10, 0, 0, 3, 232, 0, 0, 0, ecr];
    let expected = "> . 1:1(0) ack 101 <nop,nop,TS val 1000 ecr 77>";
    let sent = |ecr| [ack_of_data().options(&ts(ecr))];
    answer_to_data(expected, &sent(77), &["strict_ts_ecr"])
        .1
        .assert_passed();
    // Without the flag, as packetdrill, the echo is not compared.
    answer_to_data(expected, &sent(78), &[]).1.assert_passed();
    assert_eq!(
        answer_to_data(expected, &sent(78), &["strict_ts_ecr"])
            .1
            .first_error(),
        "t.pkt:9: error handling packet: bad outbound TCP timestamp echo: expected TS ecr 77 \
         vs actual 78 (--strict_ts_ecr)"
    );
}

#[test]
fn outbound_addresses_and_ip_options_are_compared() {
    // The fake answers the SYN from the stand-in address the SYN went to.
    let stack = || syn_answered();
    let script = |expected: &str| {
        after_listen(&format!(
            "+0 < [dst 192.168.0.7] S 0:0(0) win 1000\n+0 > {expected} S. 0:0(0) ack 1\n"
        ))
    };
    run(&stack(), &[], &script("[src 192.168.0.7]")).assert_passed();
    assert_eq!(
        run(&stack(), &[], &script("[src 192.168.0.8]")).first_error(),
        "t.pkt:5: error handling packet: live packet field ipv4_src: expected: 192.168.0.8 vs \
         actual: 192.168.0.7"
    );
    assert_eq!(
        run(&stack(), &[], &script("[ip_options 0701]")).first_error(),
        "t.pkt:5: error handling packet: live packet field ipv4_options: expected: 07010000 vs \
         actual: none"
    );
}

#[test]
fn ipv6_ip_options_are_a_destination_options_header_inbound_and_an_error_outbound() {
    let stack = syn_answered();
    let script =
        after_listen("+0   < S 0:0(0) win 1000\n+0   > [ip_options 0701] S. 0:0(0) ack 1\n");
    let options = ["ip_version=ipv6", "local_ip=fd3d::1"];
    let inbound = after_listen("+0 < [ip_options 1e020000] S 0:0(0) win 1000\n");
    let listening = listener();
    run(&listening, &options, &inbound).assert_passed();
    assert!(matches!(
        listening.injected()[0].packet.l4,
        crate::wire::L4Repr::Other(crate::wire::PROTO_IPV6_DSTOPTS)
    ));
    assert_eq!(
        run(&stack, &options, &script).first_error(),
        "t.pkt:5: error handling packet: ip_options of an IPv6 packet (a destination options header) \
         can only be inbound"
    );
}
