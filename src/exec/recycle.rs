//! Block buffers reused within a run.
//!
//! A block freed by its last consumer gives its buffer to the run's [`Recycler`]; the next
//! task that makes a block of the same element type and length takes it instead of
//! allocating. A fresh block-sized allocation costs a page fault per 4 KiB page (or, when the
//! allocator reuses heap memory, a `memset` of the whole block for `vec![0; n]`), and freeing
//! one unmaps it under the process's memory-map lock, which serializes the workers; a
//! recycled buffer costs neither. Takers overwrite every element, so a buffer is not cleared.
//!
//! The recycler holds at most an eighth of the memory limit and [`MAX_BYTES`] (the fixed
//! overhead on top of the budget), in at most [`MAX_BUFFERS`] buffers of at least
//! [`MIN_BYTES`] each, and is dropped with its run, so nothing outlives the run.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The most bytes a run's recycler keeps.
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// Buffers smaller than this are not kept: the allocator serves them from its own free lists
/// without page faults, and a plan of a million tiny blocks must not fill the recycler with
/// a million entries.
pub(crate) const MIN_BYTES: usize = 64 << 10;

/// The most buffers kept (a few per worker is all a run reuses).
pub(crate) const MAX_BUFFERS: usize = 64;

/// Free block buffers of one run, by element type and length.
pub(crate) struct Recycler {
    cap: usize,
    free: Mutex<Free>,
    reused: AtomicU64,
}

#[derive(Default)]
struct Free {
    bytes: usize,
    bufs: Vec<(TypeId, usize, usize, Box<dyn Any + Send>)>,
}

impl Recycler {
    /// A recycler for a run with `memory_limit` bytes: it keeps at most an eighth of that,
    /// and at most [`MAX_BYTES`].
    pub(crate) fn new(memory_limit: usize) -> Recycler {
        Recycler {
            cap: (memory_limit / 8).min(MAX_BYTES),
            free: Mutex::new(Free::default()),
            reused: AtomicU64::new(0),
        }
    }

    /// How many buffers were taken back.
    pub(crate) fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// The most bytes it keeps.
    #[cfg(test)]
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Keeps `v` for reuse if there is room (dropped otherwise).
    pub(crate) fn give<T: Send + 'static>(&self, v: Vec<T>) {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < MIN_BYTES || bytes > self.cap {
            return;
        }
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if f.bytes + bytes <= self.cap && f.bufs.len() < MAX_BUFFERS {
            f.bytes += bytes;
            f.bufs
                .push((TypeId::of::<T>(), v.len(), bytes, Box::new(v)));
        }
    }

    /// A kept buffer of `len` elements of `T` (stale contents), if there is one.
    pub(crate) fn take<T: Send + 'static>(&self, len: usize) -> Option<Vec<T>> {
        if len * std::mem::size_of::<T>() < MIN_BYTES {
            return None;
        }
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let t = TypeId::of::<T>();
        let i = f.bufs.iter().rposition(|b| b.0 == t && b.1 == len)?;
        let (_, _, bytes, b) = f.bufs.swap_remove(i);
        f.bytes -= bytes;
        self.reused.fetch_add(1, Ordering::Relaxed);
        b.downcast::<Vec<T>>().ok().map(|v| *v)
    }

    /// Bytes kept now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.free.lock().unwrap().bytes
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Recycler>>> = const { RefCell::new(None) };
}

/// Runs `f` with `r` as this thread's recycler (restoring the previous one after, so a task
/// that runs a nested plan uses the nested run's).
pub(crate) fn with_recycler<R>(r: &Arc<Recycler>, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|cur| cur.replace(Some(r.clone())));
    let out = f();
    CURRENT.with(|cur| *cur.borrow_mut() = prev);
    out
}

/// A buffer of `len` elements for a new block whose every element the caller writes: a
/// recycled one of the current run if there is one, else `len` copies of `fill`.
pub(crate) fn buffer<T: Clone + Send + 'static>(len: usize, fill: T) -> Vec<T> {
    CURRENT
        .with(|cur| cur.borrow().as_ref().and_then(|r| r.take::<T>(len)))
        .unwrap_or_else(|| vec![fill; len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_within_cap_and_matches_type_and_length() {
        let n = MIN_BYTES / 8; // f64s in the smallest kept buffer
        let r = Recycler::new(16 * MIN_BYTES);
        assert_eq!(r.cap(), 2 * MIN_BYTES);
        r.give(vec![1.0f64; n]);
        r.give(vec![2.0f64; n]); // the cap
        r.give(vec![3.0f64; n]); // over the cap: dropped
        r.give(vec![4.0f64; 8]); // too small to keep
        assert_eq!(r.kept(), 2 * MIN_BYTES);
        assert!(r.take::<u64>(n).is_none(), "another type");
        assert!(r.take::<f64>(n - 1).is_none(), "another length");
        let v = r.take::<f64>(n).unwrap();
        assert_eq!(v.len(), n);
        assert_eq!(r.kept(), MIN_BYTES);
        let arc = Arc::new(r);
        let got = with_recycler(&arc, || buffer::<f64>(n, 0.0));
        assert_eq!(got.len(), n);
        assert_eq!(arc.kept(), 0);
        // Without a current recycler (or with nothing kept) a fresh filled buffer.
        assert_eq!(buffer::<u16>(3, 7), vec![7, 7, 7]);
    }

    #[test]
    fn keeps_a_bounded_number_of_buffers() {
        let r = Recycler::new(1 << 40);
        for _ in 0..2 * MAX_BUFFERS {
            r.give(vec![0u8; MIN_BYTES]);
        }
        assert_eq!(r.kept(), MAX_BUFFERS * MIN_BYTES);
    }
}
