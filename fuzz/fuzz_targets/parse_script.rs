//! Fuzz target: the script parser. Any bytes, as `parse_file` reads them from a file, go through
//! `stackdrill::script::parse_bytes` (UTF-8 check, defines, `#ifdef`s, the grammar, the AST
//! checks); an error must render with its location. Nothing may panic or hang.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let none = BTreeMap::new();
    match stackdrill::script::parse_bytes("fuzz.pkt", data, &none, &none) {
        Ok(script) => {
            let _ = stackdrill::script::parse::check_icmp_family(&script, false);
            let _ = stackdrill::script::parse::check_icmp_family(&script, true);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
