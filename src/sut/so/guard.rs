//! Guard bytes after the buffers a userspace stack writes into: the stack gets a copy of the
//! caller's buffer followed by [`GUARD`] bytes of a known pattern, and the copy goes back to the
//! caller only when the pattern is intact. A stack that writes a little past the end of what it
//! was given is named instead of silently corrupting stackdrill's memory. (A write further than
//! the guard still lands in the heap: it can crash the run, which a suite reports.)

/// Bytes after each guarded buffer.
pub const GUARD: usize = 64;
/// What the guard bytes hold until the stack overwrites them.
const PATTERN: u8 = 0xA5;

/// A guarded copy of a buffer the stack may write `len` bytes of.
pub struct Guarded {
    bytes: Vec<u8>,
    len: usize,
}

impl Guarded {
    /// A guarded copy of the `len` bytes at `buf`, or None for a NULL buffer (passed as it
    /// is: the stack must reject it).
    ///
    /// # Safety
    /// `buf` is NULL or valid for reads of `len` bytes.
    pub unsafe fn of(buf: *const u8, len: usize) -> Option<Self> {
        if buf.is_null() {
            return None;
        }
        let mut bytes = Vec::with_capacity(len + GUARD);
        // SAFETY: the caller's contract.
        bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(buf, len) });
        bytes.resize(len + GUARD, PATTERN);
        Some(Guarded { bytes, len })
    }

    /// A zeroed buffer of `len` bytes with its guard, owned here.
    pub fn zeroed(len: usize) -> Self {
        let mut bytes = vec![0; len + GUARD];
        bytes[len..].fill(PATTERN);
        Guarded { bytes, len }
    }

    /// Where the stack writes.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }

    /// The buffer's own bytes (without the guard).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    pub fn size(&self) -> usize {
        self.len
    }

    /// Whether the stack wrote into the guard.
    pub fn overrun(&self) -> bool {
        self.bytes[self.len..].iter().any(|&b| b != PATTERN)
    }

    /// Copies the buffer's own bytes back to `buf`.
    ///
    /// # Safety
    /// `buf` is valid for writes of `self.len()` bytes.
    pub unsafe fn copy_to(&self, buf: *mut u8) {
        // SAFETY: the caller's contract; the two buffers are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), buf, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_within_pass_and_past_the_end_are_seen() {
        let mut original = *b"abcd";
        // SAFETY: a valid 4-byte buffer.
        let mut guarded = unsafe { Guarded::of(original.as_ptr(), 4) }.unwrap();
        // SAFETY: the copy has room for its 4 bytes and the guard.
        unsafe { guarded.as_mut_ptr().add(3).write(b'X') };
        assert!(!guarded.overrun());
        // SAFETY: 4 writable bytes.
        unsafe { guarded.copy_to(original.as_mut_ptr()) };
        assert_eq!(&original, b"abcX");
        // SAFETY: the first guard byte.
        unsafe { guarded.as_mut_ptr().add(4).write(0) };
        assert!(guarded.overrun());
        // SAFETY: NULL is allowed.
        assert!(unsafe { Guarded::of(std::ptr::null(), 4) }.is_none());
        let zeroed = Guarded::zeroed(3);
        assert_eq!((zeroed.bytes(), zeroed.overrun()), (&[0u8; 3][..], false));
    }
}
