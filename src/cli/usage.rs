//! `--help` and `--version`: the help text is written from the flag tables (name, short
//! letter, placeholder, help, default), so it lists every flag as it is parsed and applied.

use super::flags::{Flag, FLAGS};
use super::getopt::{HELP, VERSION};
use super::suite::SUITE_FLAGS;

/// The `--version` text (one line, no newline).
pub fn version_text() -> String {
    format!("stackdrill {}", env!("CARGO_PKG_VERSION"))
}

/// Help text (every flag with its default and one-line meaning) for --help.
pub fn usage() -> String {
    let mut text = String::new();
    text.push_str("Usage: stackdrill [OPTIONS] SCRIPT [SCRIPT...]\n");
    text.push_str("       stackdrill --wire_server [OPTIONS]\n");
    text.push_str("\nRun packetdrill scripts against a TCP/IP stack.\n");
    text.push_str(
        "Long options take --name=VALUE or --name VALUE and may be abbreviated to any\n\
         unambiguous prefix; options may follow script paths; -- ends the options.\n\
         The same options (exact names) may appear as --name[=VALUE] lines at the top of\n\
         a script; the command line overrides them.\n",
    );
    section(
        &mut text,
        "Options:",
        FLAGS.iter().filter(|flag| !flag.nplab),
    );
    section(
        &mut text,
        "Options of the nplab fork (accepted for compatibility):",
        FLAGS.iter().filter(|flag| flag.nplab),
    );
    section(
        &mut text,
        "Suite mode (a directory among the paths, or any of these options; command line only):",
        SUITE_FLAGS.iter(),
    );
    text.push_str("\nOther:\n");
    text.push_str(&format!(
        "  -h, --{HELP}\n        print this help and exit\n"
    ));
    text.push_str(&format!(
        "  --{VERSION}\n        print the version and exit\n"
    ));
    text
}

/// A titled list of flags: how each is written, then its meaning and default.
fn section<'a, T: 'static>(
    text: &mut String,
    title: &str,
    flags: impl Iterator<Item = &'a Flag<T>>,
) {
    text.push('\n');
    text.push_str(title);
    text.push('\n');
    for flag in flags {
        text.push_str("  ");
        if let Some(letter) = flag.short {
            text.push('-');
            text.push(letter);
            if let Some(placeholder) = flag.placeholder() {
                text.push(' ');
                text.push_str(placeholder);
            }
            text.push_str(", ");
        }
        text.push_str("--");
        text.push_str(flag.name);
        match flag.placeholder() {
            Some(placeholder) if flag.requires_value() => {
                text.push('=');
                text.push_str(placeholder);
            }
            Some(placeholder) => {
                text.push_str("[=");
                text.push_str(placeholder);
                text.push(']');
            }
            None => {}
        }
        text.push_str("\n        ");
        text.push_str(flag.help);
        text.push_str(" [default: ");
        text.push_str(&flag.default_text());
        text.push_str("]\n");
    }
}
