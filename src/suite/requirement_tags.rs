//! The requirement tags a conformance script carries in its comments
//! (`// requirement: RFC9293 MUST-13`, several per line separated by commas, or several
//! lines), read when the suite is planned; a tag that names no known requirement is an error
//! naming FILE:LINE:COL. The requirements themselves are `catalog::requirements`.

use std::path::Path;

use crate::catalog::requirements::Requirement;

/// The comment that starts a line of tags.
const TAG: &str = "// requirement:";

/// The requirements `script` (whose text is `source`) declares it checks, in order, each once.
pub fn of_script(script: &Path, source: &str) -> Result<Vec<Requirement>, String> {
    let mut found: Vec<Requirement> = Vec::new();
    for (number, line) in source.lines().enumerate() {
        let Some(start) = line.find(TAG) else {
            continue;
        };
        let mut column = start + TAG.len();
        for tag in line[column..].split(',') {
            let trimmed = tag.trim();
            let at = column + (tag.len() - tag.trim_start().len());
            column += tag.len() + 1;
            let requirement = Requirement::parse(trimmed).map_err(|why| {
                format!(
                    "{}:{}:{}: error: bad requirement tag: {why}",
                    script.display(),
                    number + 1,
                    at + 1
                )
            })?;
            if !found.contains(&requirement) {
                found.push(requirement);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_on_one_line_or_several() {
        let source = "// Challenge ACK for an in-window RST\n\
                      // requirement: RFC9293 MAY-12, RFC5961 3.2\n\
                      // requirement: RFC9293 MAY-12\n\
                      0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n";
        let tags: Vec<String> = of_script(Path::new("t.pkt"), source)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(tags, ["RFC9293 MAY-12", "RFC5961 3.2"]);
        assert!(of_script(Path::new("t.pkt"), "0 close(3) = 0\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_bad_tag_is_an_error_naming_file_line_and_column() {
        let source = "// x\n// requirement: RFC9293 MUST-1,  RFC9293 MUST-99\n";
        assert_eq!(
            of_script(Path::new("dir/t.pkt"), source).unwrap_err(),
            "dir/t.pkt:2:34: error: bad requirement tag: 'MUST-99' is no RFC 9293 requirement \
             ID (MUST-1..69, SHLD-1..31, MAY-1..18, REC-1)"
        );
    }
}
