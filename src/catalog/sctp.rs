//! SCTP names of nplab's script dialect: chunk, parameter and error-cause names with their
//! type codes (RFC 9260 and its extensions) and the fields each one takes in a script.
//!
//! The script parser checks `NAME[field=..., ...]` against these tables; nothing here encodes
//! a packet.

/// One chunk, parameter or error cause a script may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SctpKind {
    pub name: &'static str,
    /// The chunk type, parameter type or cause code on the wire; None for the generic forms
    /// (`CHUNK[type=...]`, `PARAMETER[type=...]`, `CAUSE[code=...]`) that carry their own.
    pub code: Option<u16>,
    /// Field names it takes, in the order nplab writes them.
    pub fields: &'static [&'static str],
    /// Flag letters `flgs=` may be written with (`flgs=BE`), as (letter, bit).
    pub flag_letters: &'static [(char, u8)],
    /// What nested items it holds: parameters, error causes, or nothing.
    pub holds: Holds,
}

/// What a chunk or parameter holds after its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Nothing,
    Parameters,
    Causes,
}

const DATA_FLAGS: &[(char, u8)] = &[('I', 0x08), ('U', 0x04), ('B', 0x02), ('E', 0x01)];
const T_FLAG: &[(char, u8)] = &[('T', 0x01)];

const fn chunk(
    name: &'static str,
    code: Option<u16>,
    fields: &'static [&'static str],
    holds: Holds,
) -> SctpKind {
    SctpKind {
        name,
        code,
        fields,
        flag_letters: &[],
        holds,
    }
}

const fn flagged(kind: SctpKind, flag_letters: &'static [(char, u8)]) -> SctpKind {
    SctpKind {
        flag_letters,
        ..kind
    }
}

use Holds::{Causes, Nothing, Parameters};

/// Chunks a packet line may carry (RFC 9260 §3.2, RFC 8260 I-DATA, RFC 6525 RE-CONFIG,
/// RFC 4820 PAD, RFC 3758 FORWARD-TSN, RFC 9260 NR-SACK draft type 16).
pub static CHUNKS: &[SctpKind] = &[
    chunk("CHUNK", None, &["type", "flgs", "len", "val"], Nothing),
    flagged(
        chunk(
            "DATA",
            Some(0),
            &["flgs", "len", "tsn", "sid", "ssn", "ppid"],
            Nothing,
        ),
        DATA_FLAGS,
    ),
    chunk(
        "INIT",
        Some(1),
        &["flgs", "tag", "a_rwnd", "os", "is", "tsn"],
        Parameters,
    ),
    chunk(
        "INIT_ACK",
        Some(2),
        &["flgs", "tag", "a_rwnd", "os", "is", "tsn"],
        Parameters,
    ),
    chunk(
        "SACK",
        Some(3),
        &["flgs", "cum_tsn", "a_rwnd", "gaps", "dups"],
        Nothing,
    ),
    chunk("HEARTBEAT", Some(4), &["flgs"], Parameters),
    chunk("HEARTBEAT_ACK", Some(5), &["flgs"], Parameters),
    flagged(chunk("ABORT", Some(6), &["flgs"], Causes), T_FLAG),
    chunk("SHUTDOWN", Some(7), &["flgs", "cum_tsn"], Nothing),
    chunk("SHUTDOWN_ACK", Some(8), &["flgs"], Nothing),
    chunk("ERROR", Some(9), &["flgs"], Causes),
    chunk("COOKIE_ECHO", Some(10), &["flgs", "len", "val"], Nothing),
    chunk("COOKIE_ACK", Some(11), &["flgs"], Nothing),
    chunk("ECNE", Some(12), &["flgs", "tsn"], Nothing),
    chunk("CWR", Some(13), &["flgs", "tsn"], Nothing),
    flagged(
        chunk("SHUTDOWN_COMPLETE", Some(14), &["flgs"], Nothing),
        T_FLAG,
    ),
    chunk(
        "NR_SACK",
        Some(16),
        &["flgs", "cum_tsn", "a_rwnd", "gaps", "nr_gaps", "dups"],
        Nothing,
    ),
    flagged(
        chunk(
            "I_DATA",
            Some(64),
            &["flgs", "len", "tsn", "sid", "mid", "ppid", "fsn"],
            Nothing,
        ),
        DATA_FLAGS,
    ),
    chunk("RECONFIG", Some(130), &["flgs"], Parameters),
    chunk("PAD", Some(132), &["flgs", "len", "val"], Nothing),
    chunk("FORWARD_TSN", Some(192), &["cum_tsn", "ids"], Nothing),
    chunk("I_FORWARD_TSN", Some(194), &["cum_tsn", "ids"], Nothing),
];

/// Chunk type names usable only as a value (`CHUNK[type=AUTH, ...]`, `types=[ASCONF]`).
pub static CHUNK_TYPE_NAMES: &[(&str, u8)] = &[("AUTH", 15), ("ASCONF_ACK", 128), ("ASCONF", 193)];

/// Parameters (RFC 9260 §3.3.2, RFC 6525 §4, RFC 5061, RFC 3758, RFC 4820, RFC 9653).
pub static PARAMETERS: &[SctpKind] = &[
    chunk("PARAMETER", None, &["type", "len", "val"], Nothing),
    chunk("HEARTBEAT_INFORMATION", Some(1), &["len", "val"], Nothing),
    chunk("IPV4_ADDRESS", Some(5), &["addr"], Nothing),
    chunk("IPV6_ADDRESS", Some(6), &["addr"], Nothing),
    chunk("STATE_COOKIE", Some(7), &["len", "val"], Nothing),
    chunk("UNRECOGNIZED_PARAMETER", Some(8), &["params"], Nothing),
    chunk("COOKIE_PRESERVATIVE", Some(9), &["incr"], Nothing),
    chunk("HOSTNAME_ADDRESS", Some(11), &["addr"], Nothing),
    chunk("SUPPORTED_ADDRESS_TYPES", Some(12), &["types"], Nothing),
    chunk(
        "OUTGOING_SSN_RESET",
        Some(13),
        &["req_sn", "resp_sn", "last_tsn", "sids"],
        Nothing,
    ),
    chunk("INCOMING_SSN_RESET", Some(14), &["req_sn", "sids"], Nothing),
    chunk("SSN_TSN_RESET", Some(15), &["req_sn"], Nothing),
    chunk(
        "RECONFIG_RESPONSE",
        Some(16),
        &["resp_sn", "result", "sender_next_tsn", "receiver_next_tsn"],
        Nothing,
    ),
    chunk(
        "ADD_OUTGOING_STREAMS",
        Some(17),
        &["req_sn", "number_of_new_streams"],
        Nothing,
    ),
    chunk(
        "ADD_INCOMING_STREAMS",
        Some(18),
        &["req_sn", "number_of_new_streams"],
        Nothing,
    ),
    chunk(
        "RECONFIG_REQUEST_GENERIC",
        None,
        &["type", "len", "req_sn", "val"],
        Nothing,
    ),
    chunk("ECN_CAPABLE", Some(0x8000), &[], Nothing),
    chunk(
        "ZERO_CHECKSUM_ACCEPTABLE",
        Some(0x8001),
        &["edmid"],
        Nothing,
    ),
    chunk("PAD", Some(0x8005), &["len", "val"], Nothing),
    chunk("SUPPORTED_EXTENSIONS", Some(0x8008), &["types"], Nothing),
    chunk("FORWARD_TSN_SUPPORTED", Some(0xC000), &[], Nothing),
    chunk(
        "ADAPTATION_INDICATION",
        Some(0xC006),
        &["adaptation_code_point"],
        Nothing,
    ),
];

/// Error causes (RFC 9260 §3.3.10).
pub static CAUSES: &[SctpKind] = &[
    chunk("CAUSE", None, &["code", "len", "info"], Nothing),
    chunk("INVALID_STREAM_IDENTIFIER", Some(1), &["sid"], Nothing),
    chunk("MISSING_MANDATORY_PARAMETER", Some(2), &["types"], Nothing),
    chunk("STALE_COOKIE_ERROR", Some(3), &["staleness"], Nothing),
    chunk("OUT_OF_RESOURCE", Some(4), &[], Nothing),
    chunk("UNRESOLVABLE_ADDRESS", Some(5), &["param"], Nothing),
    chunk("UNRECOGNIZED_CHUNK_TYPE", Some(6), &["chk"], Nothing),
    chunk("INVALID_MANDATORY_PARAMETER", Some(7), &[], Nothing),
    chunk("UNRECOGNIZED_PARAMETERS", Some(8), &["params"], Nothing),
    chunk("NO_USER_DATA", Some(9), &["tsn"], Nothing),
    chunk("COOKIE_RECEIVED_WHILE_SHUTDOWN", Some(10), &[], Nothing),
    chunk("RESTART_WITH_NEW_ADDRESSES", Some(11), &["params"], Nothing),
    chunk("USER_INITIATED_ABORT", Some(12), &["info"], Nothing),
    chunk("PROTOCOL_VIOLATION", Some(13), &["info"], Nothing),
];

/// Address type names of `SUPPORTED_ADDRESS_TYPES[types=[IPv4, IPv6, HOSTNAME]]`, as the
/// parameter type they stand for.
pub static ADDRESS_TYPE_NAMES: &[(&str, u16)] = &[("IPv4", 5), ("IPv6", 6), ("HOSTNAME", 11)];

/// Which table a nested item is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Chunks,
    Parameters,
    Causes,
}

impl Table {
    pub fn kinds(self) -> &'static [SctpKind] {
        match self {
            Table::Chunks => CHUNKS,
            Table::Parameters => PARAMETERS,
            Table::Causes => CAUSES,
        }
    }

    /// "chunk", "parameter", "error cause": for messages.
    pub fn what(self) -> &'static str {
        match self {
            Table::Chunks => "SCTP chunk",
            Table::Parameters => "SCTP parameter",
            Table::Causes => "SCTP error cause",
        }
    }
}

/// The entry named `name` in `table`.
pub fn find(table: Table, name: &str) -> Option<&'static SctpKind> {
    table.kinds().iter().find(|kind| kind.name == name)
}

/// A name that may stand for a number in a field value: a chunk type (`type=DATA`,
/// `types=[0x82]`), a parameter or address type.
pub fn is_type_name(name: &str) -> bool {
    CHUNKS.iter().any(|k| k.name == name && k.code.is_some())
        || CHUNK_TYPE_NAMES.iter().any(|&(n, _)| n == name)
        || PARAMETERS
            .iter()
            .any(|k| k.name == name && k.code.is_some())
        || ADDRESS_TYPE_NAMES.iter().any(|&(n, _)| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_table_and_codes_fit() {
        for table in [Table::Chunks, Table::Parameters, Table::Causes] {
            let kinds = table.kinds();
            for (i, a) in kinds.iter().enumerate() {
                assert!(
                    kinds[i + 1..].iter().all(|b| b.name != a.name),
                    "{}",
                    a.name
                );
                if table == Table::Chunks {
                    assert!(a.code.is_none_or(|c| c <= 0xff), "{}", a.name);
                }
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(find(Table::Chunks, "INIT_ACK").unwrap().code, Some(2));
        assert_eq!(
            find(Table::Parameters, "STATE_COOKIE").unwrap().code,
            Some(7)
        );
        assert_eq!(find(Table::Causes, "NO_USER_DATA").unwrap().code, Some(9));
        assert!(find(Table::Chunks, "STATE_COOKIE").is_none());
        assert!(is_type_name("ASCONF") && is_type_name("DATA") && is_type_name("IPv4"));
        assert!(!is_type_name("CHUNK"));
    }
}
