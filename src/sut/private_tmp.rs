//! A run's private, empty /tmp: a tmpfs in the run's own mount namespace, gone with the run.
//! Nothing a script writes there (Google's `/tmp/sysctl_restore_PID.sh`, sendfile's
//! `/tmp/testfile`) reaches the host or another run. The few host paths below /tmp the run
//! itself must reach (its script's folder, its pcap, the suite's verdict file, the library it
//! loads) are bound back in at the same place, each with the whole folder directly below /tmp
//! that holds it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;

/// The directory every run gets a private copy of.
const TMP: &str = "/tmp";

/// Gives this process (and what it starts from now on) a private mount namespace with an empty
/// tmpfs on /tmp, keeping each of `keep` (host paths the run reads or writes; those not below
/// /tmp are ignored) where it was, with the folder directly below /tmp that holds it; a path
/// directly in /tmp that does not exist yet is kept as an empty file made for it.
pub fn enter(keep: &[PathBuf]) -> io::Result<()> {
    let tmp = Path::new(TMP);
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| context(e, "unshare(CLONE_NEWNS)"))?;
    // Private first: on a shared root, the tmpfs would otherwise show up on the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| context(e, "making / private"))?;
    // Opened in the new namespace (a bind mount cannot take its source from another one),
    // before the tmpfs hides them.
    let mut kept: Vec<(PathBuf, OwnedFd, bool)> = keep
        .iter()
        .filter_map(|path| kept_path(tmp, path).transpose())
        .collect::<io::Result<_>>()?;
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept.dedup_by(|a, b| a.0 == b.0);
    mount(
        Some("tmpfs"),
        tmp,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=1777"),
    )
    .map_err(|e| context(e, "mounting a tmpfs on /tmp"))?;
    for (path, fd, is_dir) in &kept {
        if *is_dir {
            std::fs::create_dir_all(path)?;
        } else {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(path)?;
        }
        let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
        mount(
            Some(source.as_str()),
            path.as_path(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            context(
                e,
                &format!("keeping {} in the private /tmp", path.display()),
            )
        })?;
    }
    Ok(())
}

/// What of `path` to bind back into the private `tmp`, opened now (the host's copy is hidden
/// once the tmpfs is mounted): the whole folder directly below `tmp` that holds it, so that
/// paths relative to it still lead where they did (a corpus's `../common/defaults.sh`: `..` of
/// a bind mount's root would be the tmpfs's empty parent); a path directly in `tmp` itself (an
/// empty file made for it when it does not exist yet). None for a path outside `tmp`.
fn kept_path(tmp: &Path, path: &Path) -> io::Result<Option<(PathBuf, OwnedFd, bool)>> {
    let absolute = std::path::absolute(path)?;
    let Ok(below) = absolute.strip_prefix(tmp) else {
        return Ok(None);
    };
    let Some(first) = below.components().next() else {
        return Ok(None);
    };
    let target = tmp.join(first);
    if target == absolute {
        if !target.exists() {
            std::fs::File::create(&target)?;
        }
    } else {
        std::fs::create_dir_all(&target)?;
    }
    let fd = open(&target, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| context(e, &format!("opening {}", target.display())))?;
    let is_dir = target.is_dir();
    Ok(Some((target, fd, is_dir)))
}

fn context(errno: nix::errno::Errno, what: &str) -> io::Error {
    let error = io::Error::from(errno);
    io::Error::new(error.kind(), format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_directly_below_tmp_is_kept_and_missing_files_in_it_are_made() {
        let tmp = std::env::temp_dir().join(format!("stackdrill-ptmp-{}", std::process::id()));
        let deep = tmp.join("corpus/gtests/net/tcp");
        std::fs::create_dir_all(&deep).unwrap();
        assert!(kept_path(&tmp, Path::new("/etc/hostname"))
            .unwrap()
            .is_none());
        assert!(kept_path(&tmp, &tmp).unwrap().is_none());
        let (target, _, is_dir) = kept_path(&tmp, &deep.join("x.pkt")).unwrap().unwrap();
        assert_eq!((target, is_dir), (tmp.join("corpus"), true));
        // Directly in the folder: the file itself, made empty when it is not there yet.
        let pcap = tmp.join("run.pcap");
        let (target, _, is_dir) = kept_path(&tmp, &pcap).unwrap().unwrap();
        assert_eq!((target.as_path(), is_dir), (pcap.as_path(), false));
        assert!(pcap.is_file());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
