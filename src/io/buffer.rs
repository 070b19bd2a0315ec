//! Aligned, reused read buffers for storage readers.
//!
//! Reading a chunk into a fresh `Vec` costs a page fault per 4 KiB the first time it is
//! touched, and a large `malloc` starts 16 bytes past a 64-byte boundary, where copying out of
//! the page cache runs about four times slower than into an aligned buffer (measured on this
//! machine). Readers therefore read into [`PooledBuf`]s: 64-byte-aligned buffers that go back
//! to a small process-wide pool when the block holding them is dropped, so that a long run
//! reuses a handful of already-mapped buffers. Blocks over pooled buffers are heap blocks: the
//! memory pool counts them like any other.

use std::alloc::{Layout, alloc, dealloc};
use std::ptr::NonNull;
use std::sync::Mutex;

/// Alignment of pooled buffers (a cache line, and every element type's alignment).
const ALIGN: usize = 64;
/// The most bytes the pool keeps when no block uses them.
const KEEP_BYTES: usize = 128 << 20;

struct Raw {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: `Raw` owns its allocation; moving it between threads moves that ownership.
unsafe impl Send for Raw {}

static POOL: Mutex<Vec<Raw>> = Mutex::new(Vec::new());

/// A 64-byte-aligned byte buffer taken from the pool, returned to it when dropped.
pub(crate) struct PooledBuf {
    raw: Option<Raw>,
}

// SAFETY: the buffer is plain bytes owned by this value; shared access is read-only.
unsafe impl Send for PooledBuf {}
unsafe impl Sync for PooledBuf {}

impl PooledBuf {
    /// A buffer of exactly `len` bytes (contents unspecified until written); `None` for
    /// `len == 0` or when the allocation fails.
    pub(crate) fn take(len: usize) -> Option<PooledBuf> {
        if len == 0 {
            return None;
        }
        let reused = {
            let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
            pool.iter()
                .position(|r| r.len == len)
                .map(|i| pool.swap_remove(i))
        };
        let raw = match reused {
            Some(r) => r,
            None => {
                let layout = Layout::from_size_align(len, ALIGN).ok()?;
                // SAFETY: `layout` has a non-zero size.
                let ptr = NonNull::new(unsafe { alloc(layout) })?;
                Raw { ptr, len }
            }
        };
        Some(PooledBuf { raw: Some(raw) })
    }

    fn raw(&self) -> &Raw {
        self.raw
            .as_ref()
            .expect("internal: pooled buffer used after drop")
    }

    /// The bytes, for writing into.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        let r = self.raw();
        // SAFETY: the allocation holds `len` bytes owned by `self`, borrowed mutably here.
        // Reading bytes never written is avoided by the readers, which fill the whole buffer
        // before the block is built.
        unsafe { std::slice::from_raw_parts_mut(r.ptr.as_ptr(), r.len) }
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        let r = self.raw();
        // SAFETY: as in `as_mut_slice`; the readers fill the buffer before sharing it.
        unsafe { std::slice::from_raw_parts(r.ptr.as_ptr(), r.len) }
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let Some(raw) = self.raw.take() else { return };
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        let kept: usize = pool.iter().map(|r| r.len).sum();
        if kept + raw.len <= KEEP_BYTES {
            pool.push(raw);
        } else {
            drop(pool);
            // SAFETY: allocated in `take` with this size and alignment.
            unsafe {
                dealloc(
                    raw.ptr.as_ptr(),
                    Layout::from_size_align_unchecked(raw.len, ALIGN),
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_and_reused() {
        let mut a = PooledBuf::take(1 << 20 | 8).unwrap();
        a.as_mut_slice().fill(7);
        let p = a.as_ref().as_ptr() as usize;
        assert_eq!(p % ALIGN, 0);
        drop(a);
        let b = PooledBuf::take(1 << 20 | 8).unwrap();
        assert_eq!(b.as_ref().as_ptr() as usize % ALIGN, 0);
        assert!(PooledBuf::take(0).is_none());
    }
}
