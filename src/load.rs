//! One script made ready to run: parsed with the command line's defines, and its effective
//! configuration (packetdrill defaults, then the script's option lines, then the command line).

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::{CommandLine, Config, IpVersion, OptionSetting};
use crate::script::ast::Action;
use crate::script::{self, Script, ScriptError};
use crate::sut::{self, Choice};

/// A parsed script and the configuration it runs with.
#[derive(Debug, Clone)]
pub struct LoadedScript {
    pub script: Script,
    /// The script's text as read (spans index into it).
    pub source: String,
    pub config: Config,
    /// Events that cannot run because a `-D` define they use was not given.
    pub missing_defines: Vec<ScriptError>,
    /// The stack under test the command line chose.
    pub backend: Choice,
    /// The stack's profile of defines (the script's and the command line's win over it).
    pub profile: BTreeMap<String, String>,
}

impl LoadedScript {
    /// Every define in force: the profile, then the script's `--define` lines, then `-D`.
    pub fn defines(&self) -> BTreeMap<String, String> {
        let mut all = self.profile.clone();
        all.extend(self.config.define_map());
        all
    }
}

/// Parses `path` and applies its option lines, then the command line's settings, which win.
pub fn load_script(path: &Path, command_line: &CommandLine) -> Result<LoadedScript, ScriptError> {
    let name = path.display().to_string();
    let mut command_line_config = Config::default();
    command_line_config
        .apply_all(&command_line.settings)
        .map_err(|e| ScriptError::whole_file(&name, format!("bad command line: {e}")))?;
    let backend = sut::choose(&command_line_config)
        .map_err(|e| ScriptError::whole_file(&name, format!("bad command line: {e}")))?;
    let profile = sut::profile_defines(&backend).map_err(|e| ScriptError::whole_file(&name, e))?;
    let script =
        script::parse_file_with_profile(path, &profile, &command_line_config.define_map())?;

    let mut config = Config::default();
    let source = std::fs::read(path).unwrap_or_default();
    for line in &script.options {
        let setting = OptionSetting {
            name: line.name.value.clone(),
            value: line.value.as_ref().map(|v| v.value.clone()),
        };
        config
            .apply(&setting)
            .map_err(|e| ScriptError::at(&name, &source, line.span.start, e.to_string()))?;
    }
    config
        .apply_all(&command_line.settings)
        .map_err(|e| ScriptError::whole_file(&name, format!("bad command line: {e}")))?;
    // The stack is chosen from the command line, before parsing (its profile feeds the parser).
    if sut::choose(&config).as_ref() != Ok(&backend) {
        return Err(ScriptError::whole_file(
            &name,
            "the script's option lines cannot change the stack under test (give --so_filename \
             and --so_flags on the command line)",
        ));
    }
    // With the family left to auto-detection, the parser's check (either table) is all we know.
    if let Some(ip_version) = config.ip_version {
        script::parse::check_icmp_family(&script, ip_version == IpVersion::Ipv6)
            .map_err(|(span, message)| ScriptError::at(&name, &source, span.start, message))?;
    }
    let missing_defines = script
        .events
        .iter()
        .filter_map(|event| match &event.action {
            Action::NeedsDefine(missing) => Some(ScriptError::at(
                &name,
                &source,
                missing.name.span.start,
                missing.message.clone(),
            )),
            _ => None,
        })
        .collect();
    Ok(LoadedScript {
        script,
        source: String::from_utf8_lossy(&source).into_owned(),
        config,
        missing_defines,
        backend,
        profile,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_command_line;

    fn load(script_text: &str, args: &[&str]) -> Result<LoadedScript, ScriptError> {
        let dir = std::env::temp_dir().join(format!("stackdrill-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("t{n}.pkt"));
        std::fs::write(&path, script_text).unwrap();
        let mut argv = vec!["stackdrill"];
        argv.extend_from_slice(args);
        let command_line = parse_command_line(argv).unwrap();
        let loaded = load_script(&path, &command_line);
        std::fs::remove_file(&path).unwrap();
        // Tests run in parallel threads: the directory goes when the last file has.
        let _ = std::fs::remove_dir(&dir);
        loaded
    }

    const SCRIPT: &str = "--tolerance_usecs=10000\n--mss=1000\n0 close(3) = 0\n";

    #[test]
    fn script_options_apply_and_the_command_line_wins() {
        let loaded = load(SCRIPT, &[]).unwrap();
        assert_eq!(
            (loaded.config.tolerance_usecs, loaded.config.mss),
            (10000, 1000)
        );
        let loaded = load(SCRIPT, &["--tolerance_usecs=9000"]).unwrap();
        assert_eq!(
            (loaded.config.tolerance_usecs, loaded.config.mss),
            (9000, 1000)
        );
    }

    #[test]
    fn bad_option_line_points_at_the_line() {
        let e = load("--mss=1000\n--tolerance_usecs=0\n0 close(3) = 0\n", &[]).unwrap_err();
        let first = e.to_string().lines().next().unwrap().to_string();
        assert!(
            first.ends_with(":2:1: error: bad --tolerance_usecs: 0 (expected an integer >= 1)"),
            "{first}"
        );
    }

    #[test]
    fn command_line_defines_win_over_script_defines() {
        let text = "--define=PORT_OK=1\n0 < S 0:0(0) win PORT_OK\n";
        assert!(load(text, &[]).unwrap().missing_defines.is_empty());
        let loaded = load("0 < S 0:0(0) win W\n", &["-D", "W=70000"]);
        assert!(loaded
            .unwrap_err()
            .message
            .contains("window 70000 is out of range"));
    }

    #[test]
    fn missing_defines_are_listed() {
        let loaded = load("0 > S 0:0(0) <mss MSS>\n", &[]).unwrap();
        assert_eq!(loaded.missing_defines.len(), 1);
        assert!(loaded.missing_defines[0]
            .message
            .contains("give -D MSS=VALUE"));
    }
}
