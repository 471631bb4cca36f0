//! The flags as users meet them: defaults, getopt forms, one-line errors, `--help`.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::flags::FLAGS;
use super::suite::{ReportTarget, VariantSelection, DEFAULT_JOBS_PER_CORE, SUITE_FLAGS};
use super::*;

fn cli(args: &[&str]) -> Result<CommandLine, ConfigError> {
    parse_command_line(std::iter::once("stackdrill").chain(args.iter().copied()))
}

fn set(name: &str, value: &str) -> OptionSetting {
    OptionSetting::with_value(name, value)
}

fn apply(name: &str, value: Option<&str>) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    config.apply(&OptionSetting::new(name, value))?;
    Ok(config)
}

fn err(name: &str, value: Option<&str>) -> String {
    apply(name, value).unwrap_err().to_string()
}

#[test]
fn defaults() {
    let c = Config::default();
    assert_eq!(c.ip_version, None);
    assert_eq!((c.bind_port, c.connect_port), (8080, 8080));
    assert_eq!((c.remote_ip, c.local_ip, c.gateway_ip), (None, None, None));
    assert_eq!(c.netmask_ip, Ipv4Addr::new(255, 255, 0, 0));
    assert_eq!(c.netmask_prefix_len(), 16);
    assert_eq!((c.speed, c.mss, c.mtu), (0, 0, 1500));
    assert!(c.init_scripts.is_empty());
    assert_eq!(c.tolerance_usecs, 4000);
    assert_eq!(c.tolerance_percent, 12.5);
    assert!(!c.tcp_ts_ecr_scaled);
    assert_eq!(c.tcp_ts_tick_usecs, 0);
    assert!(!c.strict_segments && !c.non_fatal_packet && !c.non_fatal_syscall);
    assert!(!c.wire_client && !c.wire_server);
    assert_eq!(c.wire_server_ip, None);
    assert_eq!(c.wire_server_port, 8081);
    assert_eq!(
        (c.wire_client_dev.as_deref(), c.wire_server_dev.as_deref()),
        (None, None)
    );
    assert_eq!((c.so_filename.clone(), c.so_flags.clone()), (None, None));
    assert!(!c.dry_run && !c.is_anyip && !c.send_omit_free);
    assert_eq!(c.psp_udp_port, 0);
    assert_eq!(c.code_command, "python3");
    assert_eq!(c.code_format, CodeFormat::Python);
    assert_eq!(c.code_sockopt, None);
    assert_eq!((c.debug, c.verbose), (0, 0));
    assert!(c.defines.is_empty());
    assert_eq!(c.tcp_md5_secret, None);
    assert_eq!(c.udp_encapsulation, None);
    assert_eq!(c.tun_dev, None);
    assert!(!c.persistent_tun_dev && !c.no_cleanup);
    assert_eq!((c.local_linklocal_ip, c.gateway_linklocal_ip), (None, None));
    assert_eq!(c.http_port, Some(8899));
    assert_eq!((c.pcap_file, c.pin_cpu), (None, CpuPin::Off));
}

#[test]
fn scripts_know_every_packetdrill_flag_and_no_suite_flag() {
    for flag in FLAGS {
        match apply(flag.name, None) {
            Ok(_) => assert!(!flag.requires_value(), "{}", flag.name),
            Err(e) => assert_eq!(
                e,
                ConfigError::RequiresArgument {
                    name: flag.name.to_string()
                }
            ),
        }
    }
    for flag in SUITE_FLAGS {
        assert_eq!(
            err(flag.name, Some("1")),
            format!("option '{}' unknown", flag.name)
        );
    }
    let help = usage();
    assert!(help.contains(&format!("[default: {DEFAULT_JOBS_PER_CORE} per CPU core]")));
    assert!(help.contains("-D SYM=VAL, --define=SYM=VAL"));
    assert!(help.contains("-v, --verbose"));
    assert!(help.contains("--tap[=FILE]"));
}

/// `--help` changes only on purpose.
#[test]
fn help_text() {
    insta::assert_snapshot!(usage());
}

#[test]
fn long_option_with_separate_and_attached_value() {
    let line = cli(&["--bind_port", "9000", "--connect_port=9001", "a.pkt"]).unwrap();
    assert_eq!(line.scripts, vec![PathBuf::from("a.pkt")]);
    assert_eq!(
        line.settings,
        vec![set("bind_port", "9000"), set("connect_port", "9001")]
    );
    let mut c = Config::default();
    c.apply_all(&line.settings).unwrap();
    assert_eq!((c.bind_port, c.connect_port), (9000, 9001));
}

#[test]
fn separate_value_is_taken_verbatim_even_with_dash() {
    let line = cli(&["--so_flags", "--dry_run", "x.pkt"]).unwrap();
    assert_eq!(line.settings, vec![set("so_flags", "--dry_run")]);
    assert_eq!(line.scripts, vec![PathBuf::from("x.pkt")]);
    // Empty attached value is a value.
    let line = cli(&["--so_flags="]).unwrap();
    assert_eq!(line.settings, vec![set("so_flags", "")]);
}

#[test]
fn unambiguous_prefix_is_accepted() {
    let line = cli(&["--tolerance_u=5000", "--dry", "--ver", "s.pkt"]).unwrap();
    assert_eq!(
        line.settings,
        vec![
            set("tolerance_usecs", "5000"),
            OptionSetting::flag("dry_run"),
            OptionSetting::flag("verbose"),
        ]
    );
    // An exact name wins even if it is a prefix of other names.
    let line = cli(&["--wire_server", "--wire_server_i=10.0.0.1"]).unwrap();
    assert_eq!(
        line.settings,
        vec![
            OptionSetting::flag("wire_server"),
            set("wire_server_ip", "10.0.0.1")
        ]
    );
}

#[test]
fn ambiguous_prefix_names_candidates() {
    let e = cli(&["--tol=5", "s.pkt"]).unwrap_err();
    assert_eq!(
        e,
        ConfigError::Ambiguous {
            name: "tol".into(),
            candidates: vec!["tolerance_usecs".into(), "tolerance_percent".into()],
        }
    );
    assert_eq!(
        e.to_string(),
        "option 'tol' is ambiguous; possibilities: 'tolerance_usecs' 'tolerance_percent'"
    );
    assert!(matches!(
        cli(&["--wire_server_"]),
        Err(ConfigError::Ambiguous { .. })
    ));
}

#[test]
fn short_options() {
    let line = cli(&["-v", "-D", "A=B", "-DC=D", "-vvDE=F", "s.pkt"]).unwrap();
    assert_eq!(
        line.settings,
        vec![
            OptionSetting::flag("verbose"),
            set("define", "A=B"),
            set("define", "C=D"),
            OptionSetting::flag("verbose"),
            OptionSetting::flag("verbose"),
            set("define", "E=F"),
        ]
    );
    let mut c = Config::default();
    c.apply_all(&line.settings).unwrap();
    assert_eq!(c.verbose, 3);
    assert_eq!(
        c.defines,
        vec![
            ("A".into(), "B".into()),
            ("C".into(), "D".into()),
            ("E".into(), "F".into())
        ]
    );
    assert_eq!(cli(&["-x"]).unwrap_err().to_string(), "option 'x' unknown");
    assert_eq!(
        cli(&["-D"]).unwrap_err().to_string(),
        "option 'D' requires an argument"
    );
    assert_eq!(
        cli(&["-D", "=x"]).unwrap_err().to_string(),
        "bad --define: =x (expected SYM=VAL with SYM made of [A-Za-z0-9_])"
    );
}

#[test]
fn options_after_scripts_and_double_dash() {
    let line = cli(&["a.pkt", "--dry_run", "b.pkt", "-v", "--", "--c.pkt", "-v"]).unwrap();
    assert_eq!(
        line.scripts,
        vec![
            PathBuf::from("a.pkt"),
            PathBuf::from("b.pkt"),
            PathBuf::from("--c.pkt"),
            PathBuf::from("-v"),
        ]
    );
    assert_eq!(
        line.settings,
        vec![
            OptionSetting::flag("dry_run"),
            OptionSetting::flag("verbose")
        ]
    );
    // A lone dash is a path; no scripts is not an error here.
    assert_eq!(cli(&["-"]).unwrap().scripts, vec![PathBuf::from("-")]);
    assert_eq!(cli(&[]).unwrap(), CommandLine::default());
}

#[test]
fn help_and_version() {
    assert!(cli(&["-h"]).unwrap().help);
    assert!(cli(&["a.pkt", "--help"]).unwrap().help);
    assert!(cli(&["--he"]).unwrap().help);
    assert!(cli(&["--version"]).unwrap().version);
    assert!(cli(&["--vers"]).unwrap().version);
    assert!(!cli(&["--ver"]).unwrap().version); // = --verbose, as in packetdrill
    assert_eq!(
        cli(&["--help=1"]).unwrap_err().to_string(),
        "option 'help' forbids an argument"
    );
    // Not packetdrill options: unknown inside scripts.
    assert_eq!(err("help", None), "option 'help' unknown");
    assert!(version_text().starts_with("stackdrill "));
}

#[test]
fn forbids_requires_unknown() {
    for flag in [
        "dry_run",
        "strict_segments",
        "tcp_ts_ecr_scaled",
        "send_omit_free",
        "is_anyip",
        "wire_client",
        "wire_server",
        "verbose",
        "debug",
        "persistent_tun_dev",
        "no_cleanup",
    ] {
        assert_eq!(
            err(flag, Some("1")),
            format!("option '{flag}' forbids an argument")
        );
        assert!(apply(flag, None).is_ok());
    }
    assert_eq!(
        err("tolerance_usecs", None),
        "option 'tolerance_usecs' requires an argument"
    );
    assert_eq!(err("bogus", Some("1")), "option 'bogus' unknown");
    // Scripts: exact names only, no prefixes.
    assert_eq!(
        err("tolerance_u", Some("5")),
        "option 'tolerance_u' unknown"
    );

    assert_eq!(
        cli(&["--dry_run=yes"]).unwrap_err().to_string(),
        "option 'dry_run' forbids an argument"
    );
    assert_eq!(
        cli(&["--dry=yes"]).unwrap_err().to_string(),
        "option 'dry_run' forbids an argument"
    );
    assert_eq!(
        cli(&["s.pkt", "--mtu"]).unwrap_err().to_string(),
        "option 'mtu' requires an argument"
    );
    assert_eq!(
        cli(&["--bogus"]).unwrap_err().to_string(),
        "option 'bogus' unknown"
    );
}

#[test]
fn port_validation() {
    for name in ["bind_port", "connect_port", "wire_server_port"] {
        assert_eq!(
            err(name, Some("0")),
            format!("bad --{name}: 0 (port must be an integer 1-65535)")
        );
        assert!(err(name, Some("70000")).starts_with(&format!("bad --{name}: 70000")));
        assert!(err(name, Some("8o")).starts_with(&format!("bad --{name}: 8o")));
        assert!(err(name, Some("-1")).starts_with(&format!("bad --{name}: -1")));
        assert!(apply(name, Some("65535")).is_ok());
    }
    assert_eq!(apply("psp_udp_port", Some("0")).unwrap().psp_udp_port, 0);
    assert_eq!(
        apply("psp_udp_port", Some("1000")).unwrap().psp_udp_port,
        1000
    );
    assert!(apply("psp_udp_port", Some("65536")).is_err());
    // Validated on the command line too.
    assert!(cli(&["--bind_port=0", "s.pkt"])
        .unwrap_err()
        .to_string()
        .starts_with("bad --bind_port: 0"));
    assert!(cli(&["s.pkt", "--connect_p", "70000"])
        .unwrap_err()
        .to_string()
        .starts_with("bad --connect_port: 70000"));
}

#[test]
fn ip_validation() {
    assert_eq!(
        err("local_ip", Some("192.168.0.256")),
        "bad --local_ip: 192.168.0.256 (not an IPv4 or IPv6 address)"
    );
    assert!(err("gateway_ip", Some("host")).starts_with("bad --gateway_ip: host"));
    assert_eq!(
        apply("local_ip", Some("fd3d:0a0b:17d6::1"))
            .unwrap()
            .local_ip,
        Some(IpAddr::V6("fd3d:a0b:17d6::1".parse::<Ipv6Addr>().unwrap()))
    );
    let c = apply("remote_ip", Some("192.0.2.1/24")).unwrap();
    assert_eq!(
        c.remote_ip,
        Some(IpPrefix {
            addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            prefix_len: Some(24)
        })
    );
    assert_eq!(c.remote_ip.unwrap().to_string(), "192.0.2.1/24");
    let c = apply("remote_ip", Some("2001:DB8::1")).unwrap();
    assert_eq!(c.remote_ip.unwrap().prefix_len, None);
    assert!(apply("remote_ip", Some("2001:db8::1/128")).is_ok());
    assert_eq!(
        err("remote_ip", Some("192.0.2.1/33")),
        "bad --remote_ip: 192.0.2.1/33 (prefix length must be 0-32)"
    );
    assert!(err("remote_ip", Some("nope/24")).starts_with("bad --remote_ip: nope/24"));
    assert!(err("local_ip", Some("1.2.3.4/24")).starts_with("bad --local_ip"));
    assert!(apply("local_linklocal_ip", Some("fe80::1")).is_ok());
    assert!(apply("gateway_linklocal_ip", Some("zz")).is_err());

    assert_eq!(
        apply("netmask_ip", Some("255.255.255.0"))
            .unwrap()
            .netmask_prefix_len(),
        24
    );
    assert!(err("netmask_ip", Some("255.0.255.0")).contains("not contiguous"));
    assert!(err("netmask_ip", Some("24")).starts_with("bad --netmask_ip: 24"));

    assert_eq!(
        apply("wire_server_at", Some("server.example"))
            .unwrap()
            .wire_server_ip
            .as_deref(),
        Some("server.example")
    );
    let c = apply("wire_server_ip", Some("10.0.0.2")).unwrap();
    assert!(c.wire_client);
    assert!(apply("wire_server_ip", Some("a b")).is_err());
}

#[test]
fn ip_version_values() {
    assert_eq!(
        apply("ip_version", Some("ipv4")).unwrap().ip_version,
        Some(IpVersion::Ipv4)
    );
    assert_eq!(
        apply("ip_version", Some("ipv6")).unwrap().ip_version,
        Some(IpVersion::Ipv6)
    );
    for mapped in ["ipv4-mapped-ipv6", "ipv4_mapped_ipv6"] {
        assert_eq!(
            apply("ip_version", Some(mapped)).unwrap().ip_version,
            Some(IpVersion::Ipv4MappedIpv6)
        );
    }
    assert_eq!(
        err("ip_version", Some("ipv5")),
        "bad --ip_version: ipv5 (expected ipv4, ipv4-mapped-ipv6 or ipv6)"
    );
    assert_eq!(IpVersion::Ipv4MappedIpv6.to_string(), "ipv4-mapped-ipv6");
}

#[test]
fn numeric_validation() {
    assert_eq!(
        apply("tolerance_usecs", Some("75000"))
            .unwrap()
            .tolerance_usecs,
        75000
    );
    assert!(err("tolerance_usecs", Some("0")).starts_with("bad --tolerance_usecs: 0"));
    assert!(err("tolerance_usecs", Some("-5")).starts_with("bad --tolerance_usecs: -5"));

    let line = cli(&["--tolerance_percent=2.5", "s.pkt"]).unwrap();
    let mut c = Config::default();
    c.apply_all(&line.settings).unwrap();
    assert_eq!(c.tolerance_percent, 2.5);
    assert_eq!(
        apply("tolerance_percent", Some("100"))
            .unwrap()
            .tolerance_percent,
        100.0
    );
    assert_eq!(
        apply("tolerance_percent", Some("0"))
            .unwrap()
            .tolerance_percent,
        0.0
    );
    assert_eq!(
        err("tolerance_percent", Some("101")),
        "bad --tolerance_percent: 101 (expected a number 0-100)"
    );
    assert!(apply("tolerance_percent", Some("-1")).is_err());
    assert!(apply("tolerance_percent", Some("NaN")).is_err());
    assert!(cli(&["--tolerance_percent=101"]).is_err());

    assert_eq!(
        apply("tcp_ts_tick_usecs", Some("1000000"))
            .unwrap()
            .tcp_ts_tick_usecs,
        1_000_000
    );
    assert!(apply("tcp_ts_tick_usecs", Some("0")).is_ok());
    assert!(err("tcp_ts_tick_usecs", Some("1000001")).starts_with("bad --tcp_ts_tick_usecs"));

    assert!(err("mss", Some("0")).starts_with("bad --mss: 0"));
    assert_eq!(apply("mss", Some("1000")).unwrap().mss, 1000);
    assert_eq!(apply("mtu", Some("1520")).unwrap().mtu, 1520);
    assert!(err("mtu", Some("-1")).starts_with("bad --mtu: -1"));
    assert_eq!(apply("speed", Some("100")).unwrap().speed, 100);
    assert!(apply("speed", Some("4294967296")).is_err());
    assert!(apply("speed", Some("0x10")).is_err());
}

#[test]
fn enumerated_and_list_values() {
    let c = apply("non_fatal", Some("packet, syscall")).unwrap();
    assert!(c.non_fatal_packet && c.non_fatal_syscall);
    let c = apply("non_fatal", Some("packet")).unwrap();
    assert!(c.non_fatal_packet && !c.non_fatal_syscall);
    assert_eq!(
        err("non_fatal", Some("packet,timing")),
        "bad --non_fatal: packet,timing (unknown kind 'timing'; expected packet or syscall)"
    );

    assert!(apply("code_format", Some("python")).is_ok());
    assert_eq!(
        err("code_format", Some("perl")),
        "bad --code_format: perl (only python is supported)"
    );
    for (text, value) in [
        ("TCP_INFO", CodeSockopt::TcpInfo),
        ("TCP_CC_INFO", CodeSockopt::TcpCcInfo),
        ("SO_MEMINFO", CodeSockopt::SoMeminfo),
    ] {
        assert_eq!(
            apply("code_sockopt", Some(text)).unwrap().code_sockopt,
            Some(value)
        );
    }
    assert!(err("code_sockopt", Some("tcp_info")).starts_with("bad --code_sockopt"));

    assert_eq!(
        apply("udp_encapsulation", Some("sctp"))
            .unwrap()
            .udp_encapsulation,
        Some(UdpEncapsulation::Sctp)
    );
    assert!(apply("udp_encapsulation", Some("quic")).is_err());

    let c = apply("init_scripts", Some("a.sh,b.sh arg,")).unwrap();
    assert_eq!(
        c.init_scripts,
        vec!["a.sh".to_string(), "b.sh arg".to_string()]
    );

    assert_eq!(
        apply("tun_dev", Some("tun3")).unwrap().tun_dev.as_deref(),
        Some("tun3")
    );
    assert!(apply("tun_dev", Some("")).is_err());
    assert!(apply("wire_client_dev", Some("a-very-long-interface-name")).is_err());
    assert!(apply("code_command", Some("")).is_err());
    assert_eq!(
        apply("so_filename", Some("libstack.so"))
            .unwrap()
            .so_filename,
        Some(PathBuf::from("libstack.so"))
    );
    assert!(apply("tcp_md5_secret", Some(&"k".repeat(81))).is_err());
    assert!(apply("tcp_md5_secret", Some("secret")).is_ok());
}

#[test]
fn define_validation_and_last_wins() {
    assert!(err("define", Some("NOEQUALS")).starts_with("bad --define: NOEQUALS"));
    assert!(err("define", Some("A-B=1")).starts_with("bad --define: A-B=1"));
    let mut c = Config::default();
    for v in ["X=1", "Y=\"s\"", "X=2", "EMPTY=", "Z=a=b"] {
        c.apply(&set("define", v)).unwrap();
    }
    assert_eq!(c.defines.len(), 5);
    let map = c.define_map();
    assert_eq!(map.get("X").map(String::as_str), Some("2"));
    assert_eq!(map.get("Y").map(String::as_str), Some("\"s\""));
    assert_eq!(map.get("EMPTY").map(String::as_str), Some(""));
    assert_eq!(map.get("Z").map(String::as_str), Some("a=b"));
    assert_eq!(map.len(), 4);
}

#[test]
fn command_line_overrides_script() {
    let script = vec![
        set("tolerance_usecs", "75000"),
        set("ip_version", "ipv6"),
        set("define", "X=script"),
        OptionSetting::flag("send_omit_free"),
    ];
    let line = cli(&[
        "--ip_version=ipv4",
        "-D",
        "X=cli",
        "s.pkt",
        "--tolerance_usecs",
        "14000",
        "--ip_version=ipv4-mapped-ipv6",
    ])
    .unwrap();
    let mut c = Config::default();
    c.apply_all(&script).unwrap();
    c.apply_all(&line.settings).unwrap();
    assert_eq!(c.tolerance_usecs, 14000);
    assert_eq!(c.ip_version, Some(IpVersion::Ipv4MappedIpv6));
    assert_eq!(c.define_map()["X"], "cli");
    assert!(c.send_omit_free);
}

#[test]
fn failed_apply_leaves_config_unchanged() {
    let mut c = Config::default();
    assert!(c.apply(&set("non_fatal", "packet,bogus")).is_err());
    assert!(c.apply(&set("define", "=1")).is_err());
    assert_eq!(c, Config::default());
}

#[test]
fn errors_are_one_line() {
    let errors = [
        err("local_ip", Some("a\nb")),
        err("bogus\n", None),
        cli(&["--x\ny"]).unwrap_err().to_string(),
    ];
    for e in errors {
        assert!(!e.contains('\n') && !e.ends_with('\n'), "{e:?}");
    }
    assert_eq!(
        err("local_ip", Some("a\nb")),
        "bad --local_ip: a\\nb (not an IPv4 or IPv6 address)"
    );
}

#[cfg(unix)]
#[test]
fn non_utf8_arguments() {
    use std::os::unix::ffi::OsStringExt;
    let bad_path = OsString::from_vec(vec![b'a', 0xff, b'.', b'p']);
    let line = parse_command_line(vec![OsString::from("stackdrill"), bad_path.clone()]).unwrap();
    assert_eq!(line.scripts, vec![PathBuf::from(bad_path)]);
    let bad_opt = OsString::from_vec(vec![b'-', b'-', b'x', 0xff]);
    assert!(matches!(
        parse_command_line(vec![OsString::from("stackdrill"), bad_opt]),
        Err(ConfigError::NotUnicode { .. })
    ));
}

#[test]
fn option_setting_display() {
    assert_eq!(set("mtu", "1520").to_string(), "--mtu=1520");
    assert_eq!(OptionSetting::flag("dry_run").to_string(), "--dry_run");
}

fn suite(pairs: &[(&str, Option<&str>)]) -> Result<SuiteOptions, String> {
    let settings: Vec<OptionSetting> = pairs
        .iter()
        .map(|(name, value)| OptionSetting::new(*name, *value))
        .collect();
    SuiteOptions::from_settings(&settings)
}

#[test]
fn suite_defaults() {
    let options = SuiteOptions::default();
    assert_eq!(options.timeout, Duration::from_secs(180));
    assert_eq!(options.timing_retries, 1);
    assert_eq!(options.variants, VariantSelection::AsGiven);
    assert_eq!(options.jobs % DEFAULT_JOBS_PER_CORE, 0);
    assert_eq!((options.tap, options.compare), (None, None));
}

#[test]
fn suite_values_are_checked_and_named() {
    assert_eq!(
        suite(&[("jobs", Some("0"))]).unwrap_err(),
        "bad --jobs: '0' (expected a number of jobs from 1 to 1024)"
    );
    assert_eq!(
        suite(&[("timeout_secs", Some("-1"))]).unwrap_err(),
        "bad --timeout_secs: '-1' (expected seconds, more than 0 and at most 86400)"
    );
    assert_eq!(
        suite(&[("junit", Some(""))]).unwrap_err(),
        "bad --junit: '' (expected a file name)"
    );
    assert!(suite(&[("variants", Some("ipv5"))])
        .unwrap_err()
        .starts_with("bad --variants: 'ipv5' (unknown variant 'ipv5'"));
    assert!(suite(&[("tap", None), ("ktap", Some("-"))]).is_err());
}

#[test]
fn suite_last_setting_wins() {
    let options = suite(&[
        ("jobs", Some("3")),
        ("jobs", Some("7")),
        ("timeout_secs", Some("0.5")),
        ("tap", None),
        ("ktap", Some("out.ktap")),
    ])
    .unwrap();
    assert_eq!(options.jobs, 7);
    assert_eq!(options.timeout, Duration::from_millis(500));
    assert_eq!(options.tap, Some(ReportTarget::Stdout));
    assert_eq!(
        options.ktap,
        Some(ReportTarget::File(PathBuf::from("out.ktap")))
    );
}

#[test]
fn suite_flags_are_collected_apart() {
    let line = cli(&["--jobs", "2", "a.pkt", "--tap", "--timeo=5", "-v"]).unwrap();
    assert_eq!(
        line.suite_settings,
        vec![
            set("jobs", "2"),
            OptionSetting::flag("tap"),
            set("timeout_secs", "5")
        ]
    );
    assert_eq!(line.settings, vec![OptionSetting::flag("verbose")]);
    assert_eq!(
        cli(&["--ta=x"]).unwrap(),
        CommandLine {
            suite_settings: vec![set("tap", "x")],
            ..CommandLine::default()
        }
    );
    assert_eq!(
        cli(&["a", "--jobs"]).unwrap_err().to_string(),
        "option 'jobs' requires an argument"
    );
}
