//! Block buffers reused within a run.
//!
//! A block freed by its last consumer gives its buffer to the run's [`Recycler`]; the next
//! task that makes a block of the same element type and length takes it instead of
//! allocating. A fresh block-sized allocation costs a page fault per 4 KiB page (or, when the
//! allocator reuses heap memory, a `memset` of the whole block for `vec![0; n]`), and freeing
//! one unmaps it under the process's memory-map lock, which serializes the workers; a
//! recycled buffer costs neither. Takers overwrite every element, so a buffer is not cleared.
//!
//! The recycler holds at most [`Recycler::cap`] bytes (a fixed share of the memory limit,
//! at most [`MAX_BYTES`]: the fixed overhead on top of the budget), and is dropped with its
//! run, so nothing outlives the run.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::sync::{Arc, Mutex};

/// The most bytes a run's recycler keeps.
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// Free block buffers of one run, by element type and length.
pub(crate) struct Recycler {
    cap: usize,
    free: Mutex<Free>,
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
        }
    }

    /// The most bytes it keeps.
    #[cfg(test)]
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Keeps `v` for reuse if there is room (dropped otherwise).
    pub(crate) fn give<T: Send + 'static>(&self, v: Vec<T>) {
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes == 0 || bytes > self.cap {
            return;
        }
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if f.bytes + bytes <= self.cap {
            f.bytes += bytes;
            f.bufs
                .push((TypeId::of::<T>(), v.len(), bytes, Box::new(v)));
        }
    }

    /// A kept buffer of `len` elements of `T` (stale contents), if there is one.
    pub(crate) fn take<T: Send + 'static>(&self, len: usize) -> Option<Vec<T>> {
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        let t = TypeId::of::<T>();
        let i = f.bufs.iter().rposition(|b| b.0 == t && b.1 == len)?;
        let (_, _, bytes, b) = f.bufs.swap_remove(i);
        f.bytes -= bytes;
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
        let r = Recycler::new(8 * 1024);
        assert_eq!(r.cap(), 1024);
        r.give(vec![1.0f64; 64]); // 512 bytes
        r.give(vec![2.0f64; 64]); // 1024 in all
        r.give(vec![3.0f64; 8]); // over the cap: dropped
        assert_eq!(r.kept(), 1024);
        assert!(r.take::<f32>(64).is_none(), "another type");
        assert!(r.take::<f64>(63).is_none(), "another length");
        let v = r.take::<f64>(64).unwrap();
        assert_eq!(v.len(), 64);
        assert_eq!(r.kept(), 512);
        let arc = Arc::new(r);
        let got = with_recycler(&arc, || buffer::<f64>(64, 0.0));
        assert_eq!(got.len(), 64);
        assert_eq!(arc.kept(), 0);
        // Without a current recycler (or with nothing kept) a fresh filled buffer.
        assert_eq!(buffer::<u16>(3, 7), vec![7, 7, 7]);
    }
}
