//! The requirements conformance scripts are tagged with: RFC 9293's numbered requirement IDs
//! (Appendix B: MUST-1..69, SHLD-1..31, MAY-1..18, REC-1), each with how it can be observed,
//! and the other RFCs a TCP conformance suite covers, whose clauses are tagged by section.
//!
//! A tag is `RFC9293 MUST-13`, or `RFCnnnn SECTION` for the other RFCs (`RFC5961 3.2`).

use std::fmt;

/// How a requirement can be checked from outside the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Observable {
    /// A scripted peer provokes it and sees the answer on the wire.
    Wire,
    /// It needs the socket API (options, error reports), still scriptable.
    Api,
    /// Internal to the stack: no script can see it.
    Internal,
}

/// The observability of each RFC 9293 requirement of one level, the ID's number minus one
/// indexing the string: W wire, A socket API, I internal.
const RFC9293_LEVELS: [(&str, &str); 4] = [
    (
        "MUST",
        "WWWWWWWIIWWAWWWWAWWWAWWAWWAWWWWAAWWWWWWWAAAWWAAWWWAWWWWWWWWWWWWWWWWWW",
    ),
    ("SHLD", "IWWWWWWWAWWWIWWWWWWAWWIWAWWWWWW"),
    ("MAY", "WWWWWWWWAWWWWAAWAW"),
    ("REC", "I"),
];

/// The other RFCs a conformance suite usually covers; their tags name a section. RFC 6928
/// (the initial window of 10 segments Linux uses, beyond RFC 5681 3.1's bound) is among them
/// so that a script can check it apart from RFC 5681.
pub const OTHER_RFCS: [u32; 12] = [
    1122, 1337, 2018, 2883, 3042, 5681, 5961, 6298, 6582, 6691, 6928, 7323,
];

/// One requirement a script checks. Ordered as RFC 9293 lists them (MUST, SHLD, MAY, REC, each
/// by number), then the other RFCs' sections.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// An RFC 9293 ID: its level (MUST, SHLD, MAY, REC) and number.
    Rfc9293 { level: &'static str, number: u32 },
    /// A section of another RFC.
    Section { rfc: u32, section: String },
}

impl Requirement {
    /// The order of [`Ord`]: RFC 9293 by level (as listed) and number, then other RFCs.
    fn sort_key(&self) -> (usize, u32, u32, &str) {
        match self {
            Requirement::Rfc9293 { level, number } => {
                let rank = RFC9293_LEVELS
                    .iter()
                    .position(|(name, _)| name == level)
                    .unwrap_or(RFC9293_LEVELS.len());
                (0, rank as u32, *number, "")
            }
            Requirement::Section { rfc, section } => (1, *rfc, 0, section.as_str()),
        }
    }
}

impl Ord for Requirement {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for Requirement {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Rfc9293 { level, number } => write!(f, "RFC9293 {level}-{number}"),
            Requirement::Section { rfc, section } => write!(f, "RFC{rfc} {section}"),
        }
    }
}

impl Requirement {
    /// Reads one tag (`RFC9293 MUST-13`, `RFC5961 3.2`); Err says what is wrong with it.
    pub fn parse(tag: &str) -> Result<Requirement, String> {
        let mut words = tag.split_whitespace();
        let (Some(rfc), Some(clause), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "'{tag}' is no requirement tag (expected RFC9293 MUST-13, or RFCnnnn SECTION)"
            ));
        };
        let number: u32 = rfc
            .strip_prefix("RFC")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("'{rfc}' is no RFC (expected RFC9293, RFC5961, ...)"))?;
        if number == 9293 {
            return Self::rfc9293(clause);
        }
        if !OTHER_RFCS.contains(&number) {
            return Err(format!(
                "RFC{number} is not among the RFCs conformance scripts cover (RFC9293 and {})",
                OTHER_RFCS.map(|n| format!("RFC{n}")).join(", ")
            ));
        }
        let section_like = clause
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
        if !section_like {
            return Err(format!(
                "'{clause}' is no section of RFC{number} (expected e.g. 3.2 or 4.2.3.4)"
            ));
        }
        Ok(Requirement::Section {
            rfc: number,
            section: clause.to_string(),
        })
    }

    /// An RFC 9293 ID such as `MUST-13`.
    fn rfc9293(id: &str) -> Result<Requirement, String> {
        let unknown = || {
            format!(
                "'{id}' is no RFC 9293 requirement ID (MUST-1..69, SHLD-1..31, MAY-1..18, REC-1)"
            )
        };
        let (level, number) = id.split_once('-').ok_or_else(unknown)?;
        let number: u32 = number.parse().map_err(|_| unknown())?;
        let (level, classes) = RFC9293_LEVELS
            .iter()
            .find(|(name, _)| *name == level)
            .ok_or_else(unknown)?;
        if number == 0 || number as usize > classes.len() {
            return Err(unknown());
        }
        Ok(Requirement::Rfc9293 { level, number })
    }

    /// How an RFC 9293 requirement can be observed (None for other RFCs' sections).
    pub fn observable(&self) -> Option<Observable> {
        let Requirement::Rfc9293 { level, number } = self else {
            return None;
        };
        let (_, classes) = RFC9293_LEVELS.iter().find(|(name, _)| name == level)?;
        match classes.as_bytes().get(*number as usize - 1)? {
            b'W' => Some(Observable::Wire),
            b'A' => Some(Observable::Api),
            _ => Some(Observable::Internal),
        }
    }

    /// Every RFC 9293 requirement, MUST first.
    pub fn all_rfc9293() -> Vec<Requirement> {
        RFC9293_LEVELS
            .iter()
            .flat_map(|(level, classes)| {
                (1..=classes.len() as u32).map(|number| Requirement::Rfc9293 { level, number })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9293_has_119_ids_93_of_them_on_the_wire() {
        let all = Requirement::all_rfc9293();
        assert_eq!(all.len(), 119);
        let count = |kind| all.iter().filter(|r| r.observable() == Some(kind)).count();
        assert_eq!(
            (
                count(Observable::Wire),
                count(Observable::Api),
                count(Observable::Internal)
            ),
            (93, 20, 6)
        );
    }

    #[test]
    fn tags_are_read_and_bad_ones_say_why() {
        assert_eq!(
            Requirement::parse("RFC9293 MUST-13").unwrap().to_string(),
            "RFC9293 MUST-13"
        );
        assert_eq!(
            Requirement::parse("RFC9293 MUST-8").unwrap().observable(),
            Some(Observable::Internal)
        );
        assert_eq!(
            Requirement::parse("RFC5961 3.2").unwrap().to_string(),
            "RFC5961 3.2"
        );
        assert!(Requirement::parse("RFC9293 MUST-70")
            .unwrap_err()
            .contains("no RFC 9293 requirement ID"));
        assert!(Requirement::parse("RFC9293 SHOULD-1").is_err());
        assert!(Requirement::parse("RFC793 3.4")
            .unwrap_err()
            .contains("not among the RFCs"));
        assert_eq!(
            Requirement::parse("RFC6928 2").unwrap().to_string(),
            "RFC6928 2"
        );
        assert!(Requirement::parse("RFC5961 3..2").is_err());
        assert!(Requirement::parse("MUST-13").is_err());
    }
}
