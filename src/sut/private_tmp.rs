//! A run's private, empty /tmp: a tmpfs in the run's own mount namespace, gone with the run.
//! Nothing a script writes there (Google's `/tmp/sysctl_restore_PID.sh`, sendfile's
//! `/tmp/testfile`) reaches the host or another run. The few host paths below /tmp the run
//! itself must reach (its pcap, the suite's verdict file, the library it loads) are bound back
//! in at the same place.

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
/// /tmp are ignored) where it was. A path that does not exist yet is kept through its parent
/// directory, or, directly in /tmp, as an empty file made for it.
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
    let kept: Vec<(PathBuf, OwnedFd, bool)> = keep
        .iter()
        .filter_map(|path| kept_path(tmp, path).transpose())
        .collect::<io::Result<_>>()?;
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
/// once the tmpfs is mounted): the path itself when it exists, else its parent directory
/// (unless that is `tmp` itself: then an empty file is made for it). None for a path outside
/// `tmp`.
fn kept_path(tmp: &Path, path: &Path) -> io::Result<Option<(PathBuf, OwnedFd, bool)>> {
    let absolute = std::path::absolute(path)?;
    if !absolute.starts_with(tmp) || absolute == tmp {
        return Ok(None);
    }
    let target = match absolute.parent() {
        _ if absolute.exists() => absolute,
        Some(parent) if parent != tmp && parent.exists() => parent.to_path_buf(),
        _ => {
            std::fs::File::create(&absolute)?;
            absolute
        }
    };
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
    fn paths_outside_tmp_are_not_kept_and_missing_ones_keep_their_directory() {
        let tmp = std::env::temp_dir().join(format!("stackdrill-ptmp-{}", std::process::id()));
        let inner = tmp.join("suite");
        std::fs::create_dir_all(&inner).unwrap();
        assert!(kept_path(&tmp, Path::new("/etc/hostname"))
            .unwrap()
            .is_none());
        assert!(kept_path(&tmp, &tmp).unwrap().is_none());
        let (target, _, is_dir) = kept_path(&tmp, &inner.join("3.verdict")).unwrap().unwrap();
        assert_eq!((target.as_path(), is_dir), (inner.as_path(), true));
        // Directly below the directory: an empty file is made to keep.
        let pcap = tmp.join("run.pcap");
        let (target, _, is_dir) = kept_path(&tmp, &pcap).unwrap().unwrap();
        assert_eq!((target.as_path(), is_dir), (pcap.as_path(), false));
        assert!(pcap.is_file());
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
