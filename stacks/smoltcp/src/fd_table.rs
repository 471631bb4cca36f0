//! File descriptor numbers: small integers from 3 up (as in a fresh process whose stdin, stdout
//! and stderr are open), the lowest free number reused first, like Linux.

use libc::c_int;

/// The first descriptor number handed out.
pub const FIRST_FD: c_int = 3;

/// A table from descriptor numbers to entries.
#[derive(Debug)]
pub struct FdTable<T> {
    slots: Vec<Option<T>>,
}

impl<T> Default for FdTable<T> {
    fn default() -> Self {
        FdTable { slots: Vec::new() }
    }
}

impl<T> FdTable<T> {
    fn slot_of(fd: c_int) -> Option<usize> {
        fd.checked_sub(FIRST_FD)
            .and_then(|slot| usize::try_from(slot).ok())
    }

    /// Stores `entry` under the lowest free number and returns that number.
    pub fn insert(&mut self, entry: T) -> c_int {
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => {
                self.slots[free] = Some(entry);
                free
            }
            None => {
                self.slots.push(Some(entry));
                self.slots.len() - 1
            }
        };
        FIRST_FD + slot as c_int
    }

    pub fn get(&self, fd: c_int) -> Option<&T> {
        self.slots.get(Self::slot_of(fd)?)?.as_ref()
    }

    pub fn get_mut(&mut self, fd: c_int) -> Option<&mut T> {
        self.slots.get_mut(Self::slot_of(fd)?)?.as_mut()
    }

    pub fn remove(&mut self, fd: c_int) -> Option<T> {
        let entry = self.slots.get_mut(Self::slot_of(fd)?)?.take();
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        entry
    }

    pub fn iter(&self) -> impl Iterator<Item = (c_int, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| Some((FIRST_FD + slot as c_int, entry.as_ref()?)))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (c_int, &mut T)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(slot, entry)| Some((FIRST_FD + slot as c_int, entry.as_mut()?)))
    }

    /// Removes every entry, lowest number first.
    pub fn drain(&mut self) -> Vec<(c_int, T)> {
        std::mem::take(&mut self.slots)
            .into_iter()
            .enumerate()
            .filter_map(|(slot, entry)| Some((FIRST_FD + slot as c_int, entry?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_three_and_reuse_the_lowest_free() {
        let mut table = FdTable::default();
        assert_eq!(table.insert('a'), 3);
        assert_eq!(table.insert('b'), 4);
        assert_eq!(table.insert('c'), 5);
        assert_eq!(table.remove(4), Some('b'));
        assert_eq!(table.insert('d'), 4);
        assert_eq!(table.insert('e'), 6);
        assert_eq!(table.get(2), None);
        assert_eq!(table.get(-1), None);
        assert_eq!(table.remove(4), Some('d'));
        assert_eq!(table.remove(4), None);
    }
}
