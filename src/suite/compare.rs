//! `--compare=LIST`: the targets a suite runs every script against (the kernel, or a userspace
//! stack in a shared object with its `--so_flags`), parsed and checked before anything runs,
//! each with the short label the reports and the matrix name it by, and the flags its
//! children get.

use std::path::{Path, PathBuf};

use crate::cli::OptionSetting;

/// The syntax, for error messages.
const EXPECTED: &str = "expected a comma list of kernel, so:PATH or so:PATH:FLAGS";

/// The adapters that come with stackdrill, by short name (`so:smoltcp`): where each is built
/// (relative to the source tree stackdrill was built from, or beside the binary), and how.
const BUNDLED: [(&str, &[&str], &str); 3] = [
    (
        "smoltcp",
        &[
            "<exe>/libstackdrill_smoltcp.so",
            "target/release/libstackdrill_smoltcp.so",
            "target/debug/libstackdrill_smoltcp.so",
        ],
        "cargo build --release -p stackdrill-smoltcp",
    ),
    (
        "lwip",
        &["stacks/lwip/build/libstackdrill_lwip.so"],
        "make -C stacks/lwip",
    ),
    (
        "gvisor",
        &["stacks/gvisor/build/libstackdrill_gvisor.so"],
        "make -C stacks/gvisor",
    ),
];

/// The library a bundled adapter's short name stands for: the first place it is built in, or
/// an error saying how to build it; None when `name` is no bundled adapter's.
fn bundled_library(name: &str) -> Option<Result<PathBuf, String>> {
    let (_, places, build) = BUNDLED.iter().find(|(short, _, _)| *short == name)?;
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR"));
    let beside_binary = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let found = places.iter().find_map(|place| {
        let path = match place.strip_prefix("<exe>/") {
            Some(file) => beside_binary.as_ref()?.join(file),
            None => source_tree.join(place),
        };
        path.is_file().then_some(path)
    });
    Some(found.ok_or_else(|| {
        format!(
            "the bundled {name} adapter is not built (in {}: {build})",
            source_tree.display()
        )
    }))
}

/// Packetdrill flags that choose a target themselves, so cannot be combined with `--compare`,
/// and what to write instead.
const CONFLICTING_FLAGS: [(&str, &str); 3] = [
    ("so_filename", "give each library as so:PATH"),
    ("so_flags", "give a library's flags as so:PATH:FLAGS"),
    ("userspace_stack", "a so:PATH target implies it"),
];

/// One target of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareTarget {
    /// `kernel`, or the library's file name with `[FLAGS]` when flags are given; unique within
    /// a comparison (`#2`, `#3`... added to repeats).
    pub label: String,
    /// The library (absolute), or `None` for the kernel.
    pub library: Option<PathBuf>,
    /// The library's `--so_flags`.
    pub flags: Option<String>,
}

impl CompareTarget {
    /// The flags a child run on this target gets.
    pub fn child_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(library) = &self.library {
            args.push(format!("--so_filename={}", library.display()));
        }
        if let Some(flags) = &self.flags {
            args.push(format!("--so_flags={flags}"));
        }
        args
    }
}

/// Parses `--compare`'s LIST: library paths are taken relative to `current_dir` and must name
/// an existing file. Errors are one line, without the `--compare: ` prefix.
pub fn parse_targets(list: &str, current_dir: &Path) -> Result<Vec<CompareTarget>, String> {
    if list.trim().is_empty() {
        return Err(format!("no targets ({EXPECTED})"));
    }
    let mut targets: Vec<CompareTarget> = Vec::new();
    for entry in list.split(',') {
        let mut target = parse_target(entry.trim_start(), current_dir)?;
        let repeats = targets
            .iter()
            .filter(|earlier| base_label(&earlier.label) == target.label)
            .count();
        if repeats > 0 {
            target.label = format!("{}#{}", target.label, repeats + 1);
        }
        targets.push(target);
    }
    Ok(targets)
}

/// The label without the `#N` that [`parse_targets`] adds to repeats.
fn base_label(label: &str) -> &str {
    match label.rsplit_once('#') {
        Some((base, number)) if number.chars().all(|c| c.is_ascii_digit()) => base,
        _ => label,
    }
}

fn parse_target(entry: &str, current_dir: &Path) -> Result<CompareTarget, String> {
    if entry.trim_end() == "kernel" {
        return Ok(CompareTarget {
            label: "kernel".to_string(),
            library: None,
            flags: None,
        });
    }
    if entry.trim().is_empty() {
        return Err(format!("empty target ({EXPECTED})"));
    }
    let Some(rest) = entry.strip_prefix("so:") else {
        return Err(format!(
            "unknown target '{}' ({EXPECTED})",
            entry.trim_end()
        ));
    };
    let (path, flags) = match rest.split_once(':') {
        Some((path, flags)) => (path.trim(), Some(flags).filter(|f| !f.trim().is_empty())),
        None => (rest.trim(), None),
    };
    if path.is_empty() {
        return Err(format!(
            "'{}' names no library (expected so:PATH or so:PATH:FLAGS)",
            entry.trim_end()
        ));
    }
    let (library, file_name) = match bundled_library(path) {
        Some(found) => (found?, path.to_string()),
        None => {
            let library = current_dir.join(path);
            match std::fs::metadata(&library) {
                Ok(metadata) if metadata.is_file() => {}
                Ok(_) => return Err(format!("library '{path}' is not a file")),
                Err(e) => return Err(format!("library '{path}': {}", io_reason(&e))),
            }
            let file_name = Path::new(path)
                .file_name()
                .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
            (library, file_name)
        }
    };
    let label = match flags {
        Some(flags) => format!("{file_name}[{flags}]"),
        None => file_name,
    };
    Ok(CompareTarget {
        label,
        library: Some(library),
        flags: flags.map(str::to_string),
    })
}

/// The error's description without Rust's ` (os error N)` suffix.
fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_string(),
        None => text,
    }
}

/// Refuses command-line flags that pick a target themselves.
pub fn check_no_conflicting_flags(settings: &[OptionSetting]) -> Result<(), String> {
    for (flag, instead) in CONFLICTING_FLAGS {
        if settings.iter().any(|setting| setting.name == flag) {
            return Err(format!("cannot be combined with --{flag} ({instead})"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory with two (empty) library files, `a/libx.so` and `b/libx.so`.
    fn libraries(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "stackdrill-compare-test-{test}-{}",
            std::process::id()
        ));
        for sub in ["a", "b"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
            std::fs::write(dir.join(sub).join("libx.so"), "").unwrap();
        }
        dir
    }

    #[test]
    fn targets_get_labels_flags_and_absolute_paths() {
        let dir = libraries("labels");
        let targets = parse_targets(
            "kernel, so:a/libx.so,so:a/libx.so:--ack_delay_ms=0 --mss=1000,so:b/libx.so,kernel",
            &dir,
        )
        .unwrap();
        let labels: Vec<&str> = targets.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "kernel",
                "libx.so",
                "libx.so[--ack_delay_ms=0 --mss=1000]",
                "libx.so#2",
                "kernel#2"
            ]
        );
        assert_eq!(targets[0].child_args(), Vec::<String>::new());
        assert_eq!(
            targets[2].child_args(),
            [
                format!("--so_filename={}", dir.join("a/libx.so").display()),
                "--so_flags=--ack_delay_ms=0 --mss=1000".to_string()
            ]
        );
        assert_eq!(targets[3].library, Some(dir.join("b/libx.so")));
        // An empty FLAGS part is no flags.
        assert_eq!(parse_targets("so:a/libx.so:", &dir).unwrap()[0].flags, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_lists_say_why() {
        let dir = libraries("errors");
        let error = |list: &str| parse_targets(list, &dir).unwrap_err();
        assert_eq!(
            error(""),
            "no targets (expected a comma list of kernel, so:PATH or so:PATH:FLAGS)"
        );
        assert_eq!(
            error("kernel,,so:a/libx.so"),
            "empty target (expected a comma list of kernel, so:PATH or so:PATH:FLAGS)"
        );
        assert_eq!(
            error("kernel,linux"),
            "unknown target 'linux' (expected a comma list of kernel, so:PATH or so:PATH:FLAGS)"
        );
        assert_eq!(
            error("so:"),
            "'so:' names no library (expected so:PATH or so:PATH:FLAGS)"
        );
        assert_eq!(
            error("so::--flag"),
            "'so::--flag' names no library (expected so:PATH or so:PATH:FLAGS)"
        );
        assert_eq!(
            error("so:c/libx.so"),
            "library 'c/libx.so': No such file or directory"
        );
        assert_eq!(error("so:a"), "library 'a' is not a file");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bundled_adapters_go_by_short_names() {
        let dir = libraries("bundled");
        match parse_targets("so:smoltcp:--x=1", &dir) {
            Ok(targets) => {
                assert_eq!(targets[0].label, "smoltcp[--x=1]");
                let library = targets[0].library.as_ref().unwrap();
                assert!(library.ends_with("libstackdrill_smoltcp.so"), "{library:?}");
            }
            Err(e) => assert!(
                e.contains("cargo build --release -p stackdrill-smoltcp"),
                "{e}"
            ),
        }
        // A name that is no bundled adapter's is a path, as before.
        assert_eq!(
            parse_targets("so:lwip2", &dir).unwrap_err(),
            "library 'lwip2': No such file or directory"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flags_that_choose_a_target_conflict() {
        let setting = |name: &str| vec![OptionSetting::new(name, Some("x"))];
        assert_eq!(
            check_no_conflicting_flags(&setting("so_filename")).unwrap_err(),
            "cannot be combined with --so_filename (give each library as so:PATH)"
        );
        assert!(check_no_conflicting_flags(&setting("so_flags")).is_err());
        assert!(check_no_conflicting_flags(&setting("mtu")).is_ok());
    }
}
