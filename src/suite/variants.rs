//! IP-version variants: which families a script runs under in a suite, and the flags and
//! `-D` defines each family adds — upstream's run_all.py convention (three variants, chosen by
//! file name) and the Linux kselftest one (families from the script's `--ip_version` lines, and
//! ksft_runner.sh's `KSFT_MACHINE_SLOW` allowances).
//! Values restated from ../shared/spec/packetdrill-cli.md §6.

use crate::cli::OptionSetting;

pub use crate::cli::suite::{Variant, VariantSelection};

/// What a selection means for a run (the type and its `--variants` parser are the flag's, in
/// `crate::cli::suite`).
impl VariantSelection {
    /// The variants `script_name` runs under (`None` = once, as given). `source` is the
    /// script's text, read for the kselftest convention.
    pub fn variants_of(&self, script_name: &str, source: &str) -> Vec<Option<Variant>> {
        match self {
            Self::AsGiven => vec![None],
            Self::RunAll(chosen) => chosen
                .iter()
                .copied()
                .filter(|v| run_all_includes(script_name, *v))
                .map(Some)
                .collect(),
            Self::Kselftest => kselftest_families(source).into_iter().map(Some).collect(),
        }
    }

    /// The flags a run of `variant` adds under this convention.
    pub fn flags(&self, variant: Variant) -> Vec<OptionSetting> {
        let kselftest = matches!(self, Self::Kselftest);
        variant_flags(variant, kselftest)
    }
}

/// ksft_runner.sh on a slow machine (`KSFT_MACHINE_SLOW` set and not empty, as the kernel's CI
/// sets it for debug kernels): every run gets `--tolerance_usecs=14000`, and a run that fails
/// is reported as an expected failure (KTAP `# XFAIL`) rather than a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MachineSlow(pub bool);

/// The timing tolerance ksft_runner.sh adds on a slow machine, in microseconds.
pub const SLOW_MACHINE_TOLERANCE_USECS: u32 = 14_000;

impl MachineSlow {
    /// Whether the kselftest convention applies and `value` (`KSFT_MACHINE_SLOW`'s value, if
    /// set) marks the machine slow: any non-empty value does, as `[[ -n ... ]]` tests it.
    pub fn of(selection: &VariantSelection, value: Option<&std::ffi::OsStr>) -> Self {
        let slow = value.is_some_and(|v| !v.is_empty());
        MachineSlow(slow && matches!(selection, VariantSelection::Kselftest))
    }

    /// The flags a slow machine adds after the variant's own (none otherwise).
    pub fn flags(self) -> Vec<OptionSetting> {
        if self.0 {
            vec![OptionSetting::with_value(
                "tolerance_usecs",
                SLOW_MACHINE_TOLERANCE_USECS.to_string(),
            )]
        } else {
            Vec::new()
        }
    }

    /// The message of a run that failed (`message` its own) when it becomes an expected
    /// failure here; None when the machine is not slow.
    pub fn forgiven(self, message: &str) -> Option<String> {
        self.0.then(|| {
            format!("failed with KSFT_MACHINE_SLOW set (ksft_runner.sh: xfail): {message}")
        })
    }
}

/// run_all.py's file-name rule: `*v6.pkt` runs only as IPv6, `*v4.pkt` never as IPv6.
fn run_all_includes(script_name: &str, variant: Variant) -> bool {
    match variant {
        Variant::Ipv4 | Variant::Ipv4MappedIpv6 => !script_name.ends_with("v6.pkt"),
        Variant::Ipv6 => !script_name.ends_with("v4.pkt"),
    }
}

/// ksft_runner.sh: the values of `--ip_version=` lines when they are all ipv4 or ipv6,
/// otherwise both families (never the mapped one).
fn kselftest_families(source: &str) -> Vec<Variant> {
    let mut families: Vec<Variant> = source
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("--ip_version="))
        .filter_map(|value| match value {
            "ipv4" => Some(Variant::Ipv4),
            "ipv6" => Some(Variant::Ipv6),
            _ => None,
        })
        .collect();
    families.sort();
    families.dedup();
    if families.len() == 1 {
        families
    } else {
        vec![Variant::Ipv4, Variant::Ipv6]
    }
}

/// Address flags of each family (run_all.py and kselftest agree on them).
const IPV4_ADDRESSES: &[(&str, &str)] = &[
    ("local_ip", "192.168.0.1"),
    ("gateway_ip", "192.168.0.1"),
    ("netmask_ip", "255.255.0.0"),
    ("remote_ip", "192.0.2.1"),
];
const IPV6_ADDRESSES: &[(&str, &str)] = &[
    ("mtu", "1520"),
    ("local_ip", "fd3d:0a0b:17d6::1"),
    ("gateway_ip", "fd3d:0a0b:17d6:8888::1"),
    ("remote_ip", "fd3d:fa7b:d17d::1"),
];

fn variant_flags(variant: Variant, kselftest: bool) -> Vec<OptionSetting> {
    let v6 = variant == Variant::Ipv6;
    let (addresses, cookie, zero_cookie) = if v6 {
        (IPV6_ADDRESSES, "c1d1e9742a47a9bc", "82af1a8f9a205c34")
    } else {
        (IPV4_ADDRESSES, "3021b9d889017eeb", "b7c12350a90dc8f5")
    };
    let mut defines = vec![format!("TFO_COOKIE={cookie}")];
    if kselftest {
        defines.push(format!("TFO_COOKIE_ZERO={zero_cookie}"));
    } else if !v6 {
        defines.push("CODE=host_unreachable".to_string());
    }
    let (level, error) = if variant == Variant::Ipv4 {
        ("SOL_IP", "IP_RECVERR")
    } else {
        ("SOL_IPV6", "IPV6_RECVERR")
    };
    defines.push(format!("CMSG_LEVEL_IP={level}"));
    defines.push(format!("CMSG_TYPE_RECVERR={error}"));

    std::iter::once(OptionSetting::with_value("ip_version", variant.name()))
        .chain(
            addresses
                .iter()
                .map(|(name, value)| OptionSetting::with_value(*name, *value)),
        )
        .chain(
            defines
                .into_iter()
                .map(|text| OptionSetting::with_value("define", text)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(flags: &[OptionSetting]) -> String {
        flags
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn run_all_excludes_by_file_name() {
        let all = VariantSelection::parse("all").unwrap();
        assert_eq!(all.variants_of("a/x-v6.pkt", ""), vec![Some(Variant::Ipv6)]);
        assert_eq!(
            all.variants_of("a/xv4.pkt", ""),
            vec![Some(Variant::Ipv4), Some(Variant::Ipv4MappedIpv6)]
        );
        assert_eq!(all.variants_of("a/x.pkt", "").len(), 3);
        let v6 = VariantSelection::parse("ipv6,ipv6").unwrap();
        assert_eq!(v6.variants_of("a/xv4.pkt", ""), vec![]);
    }

    #[test]
    fn kselftest_reads_ip_version_lines() {
        let ksft = VariantSelection::parse("ksft").unwrap();
        assert_eq!(
            ksft.variants_of("x.pkt", "--ip_version=ipv6\n0 socket(...) = 3\n"),
            vec![Some(Variant::Ipv6)]
        );
        assert_eq!(
            ksft.variants_of("x.pkt", "0 socket(...) = 3\n"),
            vec![Some(Variant::Ipv4), Some(Variant::Ipv6)]
        );
    }

    #[test]
    fn a_slow_machine_widens_the_tolerance_and_forgives_failures() {
        let ksft = VariantSelection::Kselftest;
        let slow = MachineSlow::of(&ksft, Some(std::ffi::OsStr::new("yes")));
        assert_eq!(rendered(&slow.flags()), "--tolerance_usecs=14000");
        assert_eq!(
            slow.forgiven("x.pkt:3: error handling packet: timing error").as_deref(),
            Some("failed with KSFT_MACHINE_SLOW set (ksft_runner.sh: xfail): x.pkt:3: error handling packet: timing error")
        );
        for not_slow in [
            MachineSlow::of(&ksft, Some(std::ffi::OsStr::new(""))),
            MachineSlow::of(&ksft, None),
            MachineSlow::of(
                &VariantSelection::parse("all").unwrap(),
                Some(std::ffi::OsStr::new("1")),
            ),
        ] {
            assert!(not_slow.flags().is_empty());
            assert_eq!(not_slow.forgiven("e"), None);
        }
    }

    #[test]
    fn flags_match_run_all_and_kselftest() {
        let all = VariantSelection::parse("all").unwrap();
        assert_eq!(
            rendered(&all.flags(Variant::Ipv4MappedIpv6)),
            "--ip_version=ipv4-mapped-ipv6 --local_ip=192.168.0.1 --gateway_ip=192.168.0.1 \
             --netmask_ip=255.255.0.0 --remote_ip=192.0.2.1 --define=TFO_COOKIE=3021b9d889017eeb \
             --define=CODE=host_unreachable --define=CMSG_LEVEL_IP=SOL_IPV6 \
             --define=CMSG_TYPE_RECVERR=IPV6_RECVERR"
        );
        assert_eq!(
            rendered(&VariantSelection::Kselftest.flags(Variant::Ipv6)),
            "--ip_version=ipv6 --mtu=1520 --local_ip=fd3d:0a0b:17d6::1 \
             --gateway_ip=fd3d:0a0b:17d6:8888::1 --remote_ip=fd3d:fa7b:d17d::1 \
             --define=TFO_COOKIE=c1d1e9742a47a9bc --define=TFO_COOKIE_ZERO=82af1a8f9a205c34 \
             --define=CMSG_LEVEL_IP=SOL_IPV6 --define=CMSG_TYPE_RECVERR=IPV6_RECVERR"
        );
        assert!(VariantSelection::parse("ipv5")
            .unwrap_err()
            .contains("unknown variant 'ipv5'"));
    }
}
