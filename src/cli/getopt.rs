//! The command line, read the way packetdrill's GNU `getopt_long` reads it: long options with
//! `=VALUE` or a separate value, unambiguous prefixes (an ambiguous one names its candidates),
//! short options (`-v`, `-h`, `-D VAL`), argument permutation and `--`. The names and what
//! each takes come from the flag tables ([`super::flags::FLAGS`], [`super::suite::SUITE_FLAGS`]).

use std::ffi::OsString;
use std::path::PathBuf;

use super::flags::{self, Flag, Takes, FLAGS};
use super::suite::{SuiteOptions, SUITE_FLAGS};
use super::{CommandLine, Config, ConfigError, OptionSetting};

/// Command-line-only long options (not packetdrill options; never valid in scripts).
pub const HELP: &str = "help";
pub const VERSION: &str = "version";

/// What a long option written on the command line stands for.
enum LongMatch {
    Option(&'static Flag<Config>),
    Suite(&'static Flag<SuiteOptions>),
    Help,
    Version,
}

/// The flags of `table` whose names start with `written`: `Ok(None)` for none, an error naming
/// the candidates for several.
fn by_prefix<T>(
    table: &'static [Flag<T>],
    written: &str,
) -> Result<Option<&'static Flag<T>>, ConfigError> {
    let candidates: Vec<&'static Flag<T>> = table
        .iter()
        .filter(|flag| flag.name.starts_with(written))
        .collect();
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(ConfigError::Ambiguous {
            name: written.to_string(),
            candidates: many.iter().map(|flag| flag.name.to_string()).collect(),
        }),
    }
}

/// getopt_long's lookup: exact name first, then a unique prefix. Prefixes are matched
/// against the packetdrill options first, then the suite options, and only then against
/// `help`/`version`, so that `--ver` keeps meaning `--verbose` as in packetdrill.
fn match_long(written: &str) -> Result<LongMatch, ConfigError> {
    if let Some(flag) = flags::find(FLAGS, written) {
        return Ok(LongMatch::Option(flag));
    }
    if let Some(flag) = flags::find(SUITE_FLAGS, written) {
        return Ok(LongMatch::Suite(flag));
    }
    match written {
        HELP => return Ok(LongMatch::Help),
        VERSION => return Ok(LongMatch::Version),
        _ => {}
    }
    if !written.is_empty() {
        if let Some(flag) = by_prefix(FLAGS, written)? {
            return Ok(LongMatch::Option(flag));
        }
        if let Some(flag) = by_prefix(SUITE_FLAGS, written)? {
            return Ok(LongMatch::Suite(flag));
        }
        if HELP.starts_with(written) {
            return Ok(LongMatch::Help);
        }
        if VERSION.starts_with(written) {
            return Ok(LongMatch::Version);
        }
    }
    let known = FLAGS.iter().map(|flag| flag.name);
    let known = known.chain(SUITE_FLAGS.iter().map(|flag| flag.name));
    Err(ConfigError::unknown(written, known.chain([HELP, VERSION])))
}

fn to_utf8(arg: &OsString) -> Result<&str, ConfigError> {
    arg.to_str().ok_or_else(|| ConfigError::NotUnicode {
        arg: arg.to_string_lossy().into_owned(),
    })
}

/// The arguments not yet read.
struct Args {
    args: std::vec::IntoIter<OsString>,
}

impl Args {
    /// The next argument.
    fn next(&mut self) -> Option<OsString> {
        self.args.next()
    }

    /// The next argument, taken verbatim as an option's value (even if it starts with `-`).
    fn value(&mut self) -> Result<Option<String>, ConfigError> {
        match self.next() {
            Some(arg) => to_utf8(&arg).map(|text| Some(text.to_string())),
            None => Ok(None),
        }
    }
}

/// The setting a long option makes: its value attached (`--name=VALUE`), separate (`--name
/// VALUE`, only when the value is required) or none.
fn long_setting<T>(
    flag: &Flag<T>,
    attached: Option<&str>,
    args: &mut Args,
) -> Result<OptionSetting, ConfigError> {
    let name = flag.name.to_string();
    let value = match (&flag.takes, attached) {
        (Takes::Nothing(_), Some(_)) => return Err(ConfigError::ForbidsArgument { name }),
        (_, Some(value)) => Some(value.to_string()),
        (Takes::Required { .. }, None) => match args.value()? {
            Some(value) => Some(value),
            None => return Err(ConfigError::RequiresArgument { name }),
        },
        (_, None) => None,
    };
    Ok(OptionSetting { name, value })
}

/// Parse argv (`argv[0]` included) the way packetdrill's getopt_long does.
///
/// Settings are validated (applied to a scratch [`Config`]) so a bad value is reported
/// immediately, like packetdrill's `Command Line: bad --NAME: VALUE`; they are returned
/// unapplied so the caller can apply them after each script's own option lines.
pub fn parse_command_line<I, T>(args: I) -> Result<CommandLine, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut args = Args {
        args: args
            .into_iter()
            .map(Into::into)
            .collect::<Vec<_>>()
            .into_iter(),
    };
    args.next(); // argv[0]
    let mut line = CommandLine::default();
    let mut scratch = Config::default();
    let mut push = |line: &mut CommandLine, setting: OptionSetting| -> Result<(), ConfigError> {
        scratch.apply(&setting)?;
        line.settings.push(setting);
        Ok(())
    };

    while let Some(arg) = args.next() {
        let bytes = arg.as_encoded_bytes();

        if bytes == b"--" {
            line.scripts.extend(args.args.by_ref().map(PathBuf::from));
            break;
        }
        if bytes.starts_with(b"--") {
            let text = to_utf8(&arg)?;
            let body = &text[2..];
            let (written, attached) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            match match_long(written)? {
                LongMatch::Option(flag) => {
                    push(&mut line, long_setting(flag, attached, &mut args)?)?;
                }
                LongMatch::Suite(flag) => {
                    line.suite_settings
                        .push(long_setting(flag, attached, &mut args)?);
                }
                LongMatch::Help if attached.is_some() => {
                    return Err(ConfigError::ForbidsArgument { name: HELP.into() })
                }
                LongMatch::Version if attached.is_some() => {
                    return Err(ConfigError::ForbidsArgument {
                        name: VERSION.into(),
                    })
                }
                LongMatch::Help => {
                    line.help = true;
                    return Ok(line);
                }
                LongMatch::Version => {
                    line.version = true;
                    return Ok(line);
                }
            }
            continue;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            let text = to_utf8(&arg)?;
            for (offset, letter) in text[1..].char_indices() {
                if letter == 'h' {
                    line.help = true;
                    return Ok(line);
                }
                let flag = FLAGS
                    .iter()
                    .find(|flag| flag.short == Some(letter))
                    .ok_or_else(|| ConfigError::Unknown {
                        name: letter.to_string(),
                        suggestion: None,
                    })?;
                if !flag.requires_value() {
                    push(&mut line, OptionSetting::flag(flag.name))?;
                    continue;
                }
                // The rest of this argument, else the next one, is the value.
                let rest = &text[1 + offset + letter.len_utf8()..];
                let value = match rest {
                    "" => args.value()?.ok_or_else(|| ConfigError::RequiresArgument {
                        name: letter.to_string(),
                    })?,
                    _ => rest.to_string(),
                };
                push(&mut line, OptionSetting::with_value(flag.name, value))?;
                break;
            }
            continue;
        }
        // A non-option (including a lone "-"): a script path. getopt_long permutes, so
        // options may follow.
        line.scripts.push(PathBuf::from(arg));
    }
    Ok(line)
}
