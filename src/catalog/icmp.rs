//! ICMP type and code names of the packetdrill language, per address family, with their
//! numbers. The parser checks a name against both families (a script does not say which one it
//! runs under); the run resolves it in its own family.

/// ICMPv4 type names and numbers, in number order.
pub const ICMPV4_TYPES: &[(&str, u8)] = &[
    ("echo_reply", 0),
    ("unreachable", 3),
    ("source_quench", 4),
    ("redirect", 5),
    ("echo_request", 8),
    ("time_exceeded", 11),
    ("parameter_problem", 12),
    ("timestamp_request", 13),
    ("timestamp_reply", 14),
    ("information_request", 15),
    ("information_reply", 16),
    ("address_mask_request", 17),
    ("address_mask_reply", 18),
];
/// ICMPv4 `unreachable` codes, in code order 0–15.
pub const ICMPV4_UNREACHABLE_CODES: &[&str] = &[
    "net_unreachable",
    "host_unreachable",
    "protocol_unreachable",
    "port_unreachable",
    "frag_needed",
    "source_route_failed",
    "net_unknown",
    "host_unknown",
    "source_host_isolated",
    "net_prohibited",
    "host_prohibited",
    "net_unreachable_for_tos",
    "host_unreachable_for_tos",
    "packet_filtered",
    "precedence_violation",
    "precedence_cutoff",
];
/// (nplab) ICMPv4 `time_exceeded` codes.
pub const ICMPV4_TIME_EXCEEDED_CODES: &[&str] = &["ttl_exceeded_in_transit", "frag_reass_exceeded"];
/// ICMPv6 type names and numbers, in number order.
pub const ICMPV6_TYPES: &[(&str, u8)] = &[
    ("unreachable", 1),
    ("packet_too_big", 2),
    ("time_exceeded", 3),
    ("parameter_problem", 4),
    ("echo_request", 128),
    ("echo_reply", 129),
    ("router_advertisement", 134),
];
/// ICMPv6 `unreachable` codes: `net_unreachable` (upstream's alias of `no_route`), then the
/// codes in order from 0.
pub const ICMPV6_UNREACHABLE_CODES: &[&str] = &[
    "net_unreachable",
    "no_route",
    "admin_prohibited",
    "not_neighbour",
    "address_unreachable",
    "port_unreachable",
];
/// ICMPv6 `time_exceeded` codes, in code order.
pub const ICMPV6_TIME_EXCEEDED_CODES: &[&str] = &["exceeded_hop_limit", "exceeded_frag_time"];
/// ICMPv6 `parameter_problem` codes, in code order.
pub const ICMPV6_PARAMETER_PROBLEM_CODES: &[&str] =
    &["header_field", "unknown_next_header", "unknown_option"];

/// Every type with named codes: (IPv6?, type name, its codes in code order from 0).
/// ICMPv6 `unreachable` skips the alias in front, which [`icmp_code_number`] maps to 0.
const CODE_TABLES: &[(bool, &str, &[&str])] = &[
    (false, "unreachable", ICMPV4_UNREACHABLE_CODES),
    (false, "time_exceeded", ICMPV4_TIME_EXCEEDED_CODES),
    (true, "unreachable", ICMPV6_UNREACHABLE_CODES.split_at(1).1),
    (true, "time_exceeded", ICMPV6_TIME_EXCEEDED_CODES),
    (true, "parameter_problem", ICMPV6_PARAMETER_PROBLEM_CODES),
];

/// The number of an ICMP type name in one family's table.
pub fn icmp_type_number(name: &str, ipv6: bool) -> Option<u8> {
    let table = if ipv6 { ICMPV6_TYPES } else { ICMPV4_TYPES };
    table.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The number of an ICMP code name for a type name in one family's tables.
pub fn icmp_code_number(type_name: &str, code_name: &str, ipv6: bool) -> Option<u8> {
    // ICMPv6 destination unreachable: "net_unreachable" and "no_route" are both code 0.
    if ipv6 && type_name == "unreachable" && code_name == ICMPV6_UNREACHABLE_CODES[0] {
        return Some(0);
    }
    let (_, _, codes) = CODE_TABLES
        .iter()
        .find(|(v6, name, _)| *v6 == ipv6 && *name == type_name)?;
    codes.iter().position(|n| *n == code_name).map(|i| i as u8)
}

/// Whether `name` is an ICMP type name of either family.
pub fn is_type_name(name: &str) -> bool {
    ICMPV4_TYPES
        .iter()
        .chain(ICMPV6_TYPES)
        .any(|(n, _)| *n == name)
}

/// Whether `name` is an ICMP code name of any type of either family.
pub fn is_code_name(name: &str) -> bool {
    ICMPV6_UNREACHABLE_CODES.contains(&name)
        || CODE_TABLES
            .iter()
            .any(|(_, _, codes)| codes.contains(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_code_numbers_per_family() {
        assert_eq!(
            icmp_code_number("unreachable", "port_unreachable", false),
            Some(3)
        );
        assert_eq!(
            icmp_code_number("unreachable", "frag_needed", false),
            Some(4)
        );
        for (name, code) in [
            ("net_unreachable", 0),
            ("no_route", 0),
            ("admin_prohibited", 1),
            ("port_unreachable", 4),
        ] {
            assert_eq!(
                icmp_code_number("unreachable", name, true),
                Some(code),
                "{name}"
            );
        }
        assert_eq!(
            icmp_code_number("parameter_problem", "unknown_option", true),
            Some(2)
        );
        assert_eq!(
            icmp_code_number("echo_request", "port_unreachable", true),
            None
        );
    }

    #[test]
    fn names_of_either_family() {
        assert!(is_type_name("router_advertisement") && is_type_name("source_quench"));
        assert!(!is_type_name("port_unreachable"));
        assert!(is_code_name("net_unreachable") && is_code_name("ttl_exceeded_in_transit"));
        assert!(!is_code_name("echo_reply"));
    }
}
