//! The packetdrill language: script text in, an AST with spans out (or an error naming
//! `FILE:LINE:COL`). Knows text and nothing else: no sockets, no packets, no clock.

pub mod ast;
pub mod defines;
pub mod error;
pub mod mptcp;
pub mod parse;

use std::collections::BTreeMap;
use std::path::Path;

pub use ast::Script;
pub use error::ScriptError;
pub use parse::parse_source;

/// Reads and parses a script file. `defines` are the command line's `-D NAME=VALUE` values.
pub fn parse_file(path: &Path, defines: &BTreeMap<String, String>) -> Result<Script, ScriptError> {
    parse_file_with_profile(path, &BTreeMap::new(), defines)
}

/// [`parse_file`] under a target's profile of defines (the script's and the command line's
/// defines win over it).
pub fn parse_file_with_profile(
    path: &Path,
    profile: &BTreeMap<String, String>,
    defines: &BTreeMap<String, String>,
) -> Result<Script, ScriptError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        ScriptError::whole_file(&name, format!("cannot read script: {}", io_reason(&e)))
    })?;
    parse_bytes(&name, &bytes, profile, defines)
}

/// Parses a script file's contents as read (`name` is for messages): what [`parse_file`] does
/// once the file is read, including the error for bytes that are not UTF-8 text. Also the
/// script fuzz target's entry point (fuzz/fuzz_targets/parse_script.rs).
pub fn parse_bytes(
    name: &str,
    bytes: &[u8],
    profile: &BTreeMap<String, String>,
    defines: &BTreeMap<String, String>,
) -> Result<Script, ScriptError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ScriptError::at(
            name,
            bytes,
            e.valid_up_to(),
            "script is not valid UTF-8 text (binary data?)",
        )
    })?;
    parse::parse_source_with_profile(name, text, profile, defines)
}

/// An I/O error's reason without the "(os error N)" suffix.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}
