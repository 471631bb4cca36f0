//! Many scripts at once. For now: finding the scripts a directory holds.

use std::path::{Path, PathBuf};

/// Every `*.pkt` file at or below `path`, sorted; `path` itself if it is a file.
pub fn scripts_under(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry_path = entry?.path();
            if entry_path.is_dir() {
                pending.push(entry_path);
            } else if entry_path.extension().is_some_and(|e| e == "pkt") {
                found.push(entry_path);
            }
        }
    }
    found.sort();
    Ok(found)
}
