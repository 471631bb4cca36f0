//! One script made ready to run: parsed with the command line's defines, and its effective
//! configuration (packetdrill defaults, then the script's option lines, then the command line).

use std::path::Path;

use crate::config::{CommandLine, Config, OptionSetting};
use crate::script::ast::Action;
use crate::script::{self, Script, ScriptError};

/// A parsed script and the configuration it runs with.
#[derive(Debug, Clone)]
pub struct LoadedScript {
    pub script: Script,
    pub config: Config,
    /// Events that cannot run because a `-D` define they use was not given.
    pub missing_defines: Vec<ScriptError>,
}

/// Parses `path` and applies its option lines, then the command line's settings, which win.
pub fn load_script(path: &Path, command_line: &CommandLine) -> Result<LoadedScript, ScriptError> {
    let name = path.display().to_string();
    let mut command_line_config = Config::default();
    command_line_config
        .apply_all(&command_line.settings)
        .map_err(|e| ScriptError::whole_file(&name, format!("bad command line: {e}")))?;
    let script = script::parse_file(path, &command_line_config.define_map())?;

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
        config,
        missing_defines,
    })
}
