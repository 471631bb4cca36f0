//! "Did you mean": the known name closest to a misspelt one (`SO_REUSEADR` →
//! `SO_REUSEADDR`), for the errors about unknown symbols, system calls, errnos, defines and
//! flags. Closeness is the Damerau-Levenshtein distance (a swap of two neighbours counts
//! once), compared without case so `so_reuseaddr` finds `SO_REUSEADDR` too.

/// The candidate closest to `word`, when one is close enough to be a likely typo: at most one
/// edit for words of up to 7 characters, else at most a quarter of the word's length. Ties go
/// to the earlier candidate; `word` itself is never suggested.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let wanted = word.to_ascii_lowercase();
    let wanted_length = wanted.chars().count();
    let limit = (wanted_length / 4).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        // The distance is at least the difference in length: most names of a large table are
        // ruled out here, without the costlier comparison.
        if candidate == word || candidate.chars().count().abs_diff(wanted_length) > limit {
            continue;
        }
        let distance = strsim::damerau_levenshtein(&wanted, &candidate.to_ascii_lowercase());
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// `; did you mean NAME?` for the closest candidate (`prefix` before the name, e.g. `--`),
/// or nothing.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    prefix: &str,
) -> String {
    closest(word, candidates)
        .map(|name| format!("; did you mean {prefix}{name}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_name_and_a_stranger_nothing() {
        let names = ["SO_REUSEADDR", "SO_REUSEPORT", "SO_RCVBUF"];
        assert_eq!(closest("SO_REUSEADR", names), Some("SO_REUSEADDR"));
        assert_eq!(closest("so_reuseport", names), Some("SO_REUSEPORT"));
        assert_eq!(
            closest("SO_RCVBFU", names),
            Some("SO_RCVBUF"),
            "a swap is one edit"
        );
        assert_eq!(closest("TCP_NODELAY", names), None);
        assert_eq!(
            closest("SO_REUSEADDR", ["SO_REUSEADDR"]),
            None,
            "never itself"
        );
        assert_eq!(
            closest("SO_REUSExxxx", names),
            None,
            "4 edits of 12 are too many"
        );
        assert_eq!(closest("", names), None);
        assert_eq!(
            did_you_mean("tolerence_usecs", ["tolerance_usecs"], "--"),
            "; did you mean --tolerance_usecs?"
        );
        assert_eq!(did_you_mean("xyz", ["tolerance_usecs"], "--"), "");
    }
}
