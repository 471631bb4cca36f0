//! [`privatise_memory`]: what a process forked after [`crate::eal_init`] does to own its copy
//! of EAL's memory. Without hugepages, DPDK 22.11 backs its memory with a memfd
//! (`memfd:nohuge`) mapped MAP_SHARED, so a fork would share the packet buffers and heap with
//! its parent and siblings while each keeps its own copy of the heap's bookkeeping: two
//! processes would hand out the same memory. Mapping the same file MAP_PRIVATE at the same
//! address gives the process a copy-on-write view of the memory as it is now.

use std::os::fd::RawFd;
use std::os::unix::fs::MetadataExt;

use crate::{eal, DpdkError};

/// The name DPDK gives the memfd behind its memory without hugepages.
const NOHUGE_MEMFD: &str = "/memfd:nohuge";

/// In a process forked after [`crate::eal_init`] succeeded: remaps every shared mapping of
/// EAL's memory privately (copy-on-write) at the same address, so that this process's
/// allocations are its own. Returns how many mappings it remapped (0 without EAL, or when EAL
/// has no such mapping, e.g. with hugepages). The parent must not change that memory after the
/// fork (a process that only forks does not).
pub fn privatise_memory() -> Result<usize, DpdkError> {
    if eal::ready("privatise_memory").is_err() {
        return Ok(0);
    }
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| DpdkError::new("privatise_memory", format!("/proc/self/maps: {e}")))?;
    let files = memfd_descriptors();
    let mut remapped = 0;
    for mapping in maps.lines().filter_map(SharedMapping::parse) {
        let Some(&(fd, _)) = files.iter().find(|(_, inode)| *inode == mapping.inode) else {
            return Err(DpdkError::new(
                "privatise_memory",
                format!(
                    "no open descriptor for {NOHUGE_MEMFD} (inode {})",
                    mapping.inode
                ),
            ));
        };
        // SAFETY: the range is exactly an existing mapping of this file at this offset, which
        // nothing of this process uses concurrently (it is single-threaded after fork);
        // MAP_FIXED replaces it in place with a private view of the same contents.
        let address = unsafe {
            libc::mmap(
                mapping.start as *mut libc::c_void,
                mapping.end - mapping.start,
                mapping.protection,
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                fd,
                mapping.offset,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(DpdkError::os(
                "mmap",
                &format!("{:#x}-{:#x} MAP_PRIVATE", mapping.start, mapping.end),
            ));
        }
        remapped += 1;
    }
    Ok(remapped)
}

/// One shared mapping of DPDK's memfd, as /proc/self/maps shows it.
struct SharedMapping {
    start: usize,
    end: usize,
    protection: i32,
    offset: libc::off_t,
    inode: u64,
}

impl SharedMapping {
    /// `start-end perms offset dev inode path`, for a shared mapping of DPDK's memfd.
    fn parse(line: &str) -> Option<SharedMapping> {
        let mut fields = line.split_whitespace();
        let (range, perms, offset) = (fields.next()?, fields.next()?, fields.next()?);
        let (_device, inode, path) = (fields.next()?, fields.next()?, fields.next()?);
        if !path.starts_with(NOHUGE_MEMFD) || !perms.ends_with('s') {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        let flag = |at: usize, letter: char, bit: i32| {
            if perms.chars().nth(at) == Some(letter) {
                bit
            } else {
                0
            }
        };
        Some(SharedMapping {
            start: usize::from_str_radix(start, 16).ok()?,
            end: usize::from_str_radix(end, 16).ok()?,
            protection: flag(0, 'r', libc::PROT_READ)
                | flag(1, 'w', libc::PROT_WRITE)
                | flag(2, 'x', libc::PROT_EXEC),
            offset: libc::off_t::from_str_radix(offset, 16).ok()?,
            inode: inode.parse().ok()?,
        })
    }
}

/// The open descriptors of DPDK's memfds, with their inodes.
fn memfd_descriptors() -> Vec<(RawFd, u64)> {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| {
            std::fs::read_link(entry.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with(NOHUGE_MEMFD))
        })
        .filter_map(|entry| {
            let fd: RawFd = entry.file_name().to_str()?.parse().ok()?;
            let inode = std::fs::metadata(entry.path()).ok()?.ino();
            Some((fd, inode))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_memfd_line_is_read_and_others_are_not() {
        let line = "100331000-110331000 rw-s 00000000 00:01 8312   /memfd:nohuge (deleted)";
        let mapping = SharedMapping::parse(line).expect("parsed");
        assert_eq!(
            (mapping.start, mapping.end, mapping.offset, mapping.inode),
            (0x1_0033_1000, 0x1_1033_1000, 0, 8312)
        );
        assert_eq!(mapping.protection, libc::PROT_READ | libc::PROT_WRITE);
        let private = "100331000-110331000 rw-p 00000000 00:01 8312   /memfd:nohuge (deleted)";
        assert!(SharedMapping::parse(private).is_none());
        assert!(
            SharedMapping::parse("7f00-7f10 r-xp 00000000 08:01 42 /usr/lib/libc.so.6").is_none()
        );
    }
}
