//! Fault injection for tests: storage that fails the Nth read or write, returns a short read,
//! corrupts bytes, or runs the spill directory out of space.
//!
//! A [`FaultPlan`] says which operation fails and how; [`FaultPlan::arm`] turns it into a
//! shared [`Faults`] that counts operations as they happen. It is attached where rask reads
//! and writes chunks:
//!
//! - reading Zarr: [`ZarrArray::with_faults`](crate::ZarrArray::with_faults) (both the zarrs
//!   storage path, through a storage wrapper, and the plain-bytes fast path);
//! - writing Zarr: [`ZarrOptions::faults`](crate::ZarrOptions::faults);
//! - spilling: [`Config::faults`](crate::Config::faults) (a spill write that fails with
//!   "no space left on device", as a full disk would).
//!
//! Without a plan attached, the normal path pays one `Option` check per chunk read or write.
//! Counting starts at 1: `fail_read_at: Some(3)` fails the third chunk read. Metadata reads and
//! writes (`zarr.json`, `.zarray`, `.zattrs`, `.zgroup`) are not counted.
//!
//! ```
//! use rask::io::faults::FaultPlan;
//! let faults = FaultPlan { fail_read_at: Some(2), ..FaultPlan::default() }.arm();
//! assert!(faults.before_read("c/0").is_ok());
//! assert!(faults.before_read("c/1").is_err());
//! assert_eq!(faults.reads(), 2);
//! assert_eq!(faults.fired(), vec!["read #2 of c/1: failed".to_string()]);
//! ```

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which storage operation fails, and how. All counts start at 1; `None` never fires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultPlan {
    /// The chunk read that fails with an I/O error.
    pub fail_read_at: Option<u64>,
    /// The chunk write that fails with an I/O error (after nothing was written).
    pub fail_write_at: Option<u64>,
    /// The chunk read that returns only the first half of the bytes (the file is shorter
    /// than the reader expects, as after a crash mid-write or a truncation).
    pub short_read_at: Option<u64>,
    /// The chunk read whose bytes come back corrupted (the first 16 bytes inverted). A
    /// compressed chunk then fails to decode; an uncompressed one without a checksum cannot
    /// be told from good data, so tests of corruption use a compressed array.
    pub corrupt_at: Option<u64>,
    /// The spill write that fails with "no space left on device" (`ENOSPC`).
    pub spill_full_at: Option<u64>,
    /// Fail every read and write after the first failure too (a disk that went away), not
    /// only the one counted.
    pub sticky: bool,
}

impl FaultPlan {
    /// The plan, armed: shared counters that storage calls as it reads and writes.
    pub fn arm(self) -> Arc<Faults> {
        Arc::new(Faults {
            plan: self,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            spills: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            fired: Mutex::new(Vec::new()),
        })
    }
}

/// What a read should do to the bytes it got (see [`Faults::before_read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadFault {
    /// Nothing: return the bytes as read.
    None,
    /// Return only the first half of the bytes.
    Short,
    /// Invert the first 16 bytes.
    Corrupt,
}

impl ReadFault {
    /// Applies the fault to `bytes` (a short read keeps the first half).
    pub fn apply(self, bytes: &mut Vec<u8>) {
        match self {
            ReadFault::None => {}
            ReadFault::Short => bytes.truncate(bytes.len() / 2),
            ReadFault::Corrupt => bytes.iter_mut().take(16).for_each(|b| *b = !*b),
        }
    }
}

/// An armed [`FaultPlan`]: counts chunk reads, writes and spill writes, and fires the planned
/// faults. Shared (`Arc`) between the storage it is attached to and the test that checks it.
#[derive(Debug)]
pub struct Faults {
    plan: FaultPlan,
    reads: AtomicU64,
    writes: AtomicU64,
    spills: AtomicU64,
    failed: AtomicU64,
    fired: Mutex<Vec<String>>,
}

/// Whether `key` names metadata rather than a chunk.
fn is_metadata(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    matches!(
        name,
        "zarr.json" | ".zarray" | ".zattrs" | ".zgroup" | ".zmetadata"
    )
}

impl Faults {
    fn fire(&self, what: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.fired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(what);
    }

    fn sticky_failed(&self) -> bool {
        self.plan.sticky && self.failed.load(Ordering::Relaxed) > 0
    }

    /// Counts a read of `key` (metadata keys are not counted) and says what to do with it: an
    /// `Err` to return instead of the bytes, or a [`ReadFault`] to apply to them.
    pub fn before_read(&self, key: &str) -> io::Result<ReadFault> {
        if is_metadata(key) {
            return Ok(ReadFault::None);
        }
        let n = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
        if self.plan.fail_read_at == Some(n) || self.sticky_failed() {
            self.fire(format!("read #{n} of {key}: failed"));
            return Err(io::Error::other(format!(
                "injected fault: read #{n} of {key} failed"
            )));
        }
        if self.plan.short_read_at == Some(n) {
            self.fire(format!("read #{n} of {key}: short"));
            return Ok(ReadFault::Short);
        }
        if self.plan.corrupt_at == Some(n) {
            self.fire(format!("read #{n} of {key}: corrupted"));
            return Ok(ReadFault::Corrupt);
        }
        Ok(ReadFault::None)
    }

    /// Counts a write of `key` (metadata keys are not counted); an `Err` when it must fail.
    pub fn before_write(&self, key: &str) -> io::Result<()> {
        if is_metadata(key) {
            return Ok(());
        }
        let n = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if self.plan.fail_write_at == Some(n) || self.sticky_failed() {
            self.fire(format!("write #{n} of {key}: failed"));
            return Err(io::Error::other(format!(
                "injected fault: write #{n} of {key} failed"
            )));
        }
        Ok(())
    }

    /// Counts a spill write; an `ENOSPC` error ("no space left on device") when it must fail.
    pub fn before_spill(&self) -> io::Result<()> {
        let n = self.spills.fetch_add(1, Ordering::Relaxed) + 1;
        if self.plan.spill_full_at == Some(n) || (self.plan.sticky && self.fired_spill()) {
            self.fire(format!("spill #{n}: no space"));
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        Ok(())
    }

    fn fired_spill(&self) -> bool {
        self.plan
            .spill_full_at
            .is_some_and(|at| self.spills.load(Ordering::Relaxed) > at)
    }

    /// Chunk reads counted so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Chunk writes counted so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Spill writes counted so far.
    pub fn spills(&self) -> u64 {
        self.spills.load(Ordering::Relaxed)
    }

    /// The faults that fired, in order, e.g. `read #3 of c/0/2: failed`.
    pub fn fired(&self) -> Vec<String> {
        self.fired.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

// ---------------------------------------------------------------- the zarrs storage wrapper

use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, MaybeBytes, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

/// A zarrs store that passes every call to `inner`, firing the faults of an attached
/// [`Faults`] on chunk reads and writes. Without one it only forwards.
///
/// It also remembers the keys whose reads failed or were tampered with (the last few), so an
/// error from decoding a block of many chunks can name the chunk at fault even when reading
/// it again would succeed (a transient fault).
pub(crate) struct FaultyStore<S> {
    pub inner: S,
    pub faults: Option<Arc<Faults>>,
    pub failed: Mutex<Vec<String>>,
}

impl<S> FaultyStore<S> {
    pub(crate) fn new(inner: S, faults: Option<Arc<Faults>>) -> Self {
        FaultyStore {
            inner,
            faults,
            failed: Mutex::new(Vec::new()),
        }
    }

    fn note_failed(&self, key: &StoreKey) {
        let mut f = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() >= 64 {
            f.remove(0);
        }
        f.push(key.as_str().to_string());
    }

    /// The keys whose reads failed or were tampered with, oldest first.
    pub(crate) fn failed_keys(&self) -> Vec<String> {
        self.failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn checked<T>(&self, key: &StoreKey, r: Result<T, StorageError>) -> Result<T, StorageError> {
        if r.is_err() {
            self.note_failed(key);
        }
        r
    }

    fn before_read(&self, key: &StoreKey) -> Result<ReadFault, StorageError> {
        let Some(faults) = &self.faults else {
            return Ok(ReadFault::None);
        };
        let fault = faults.before_read(key.as_str()).map_err(storage_err);
        if !matches!(fault, Ok(ReadFault::None)) {
            self.note_failed(key);
        }
        fault
    }
}

fn storage_err(e: io::Error) -> StorageError {
    StorageError::IOError(Arc::new(e))
}

impl<S: ReadableStorageTraits> ReadableStorageTraits for FaultyStore<S> {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        if self.faults.is_none() {
            return self.checked(key, self.inner.get_partial_many(key, byte_ranges));
        }
        let fault = self.before_read(key)?;
        let Some(parts) = self.checked(key, self.inner.get_partial_many(key, byte_ranges))? else {
            return Ok(None);
        };
        let parts = parts
            .map(|p| {
                p.map(|b| {
                    let mut v = b.to_vec();
                    fault.apply(&mut v);
                    Bytes::from(v)
                })
            })
            .collect::<Vec<_>>();
        Ok(Some(Box::new(parts.into_iter())))
    }

    fn get(&self, key: &StoreKey) -> Result<MaybeBytes, StorageError> {
        if self.faults.is_none() {
            return self.checked(key, self.inner.get(key));
        }
        let fault = self.before_read(key)?;
        Ok(self.checked(key, self.inner.get(key))?.map(|b| {
            let mut v = b.to_vec();
            fault.apply(&mut v);
            Bytes::from(v)
        }))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.inner.supports_get_partial()
    }
}

impl<S: WritableStorageTraits> WritableStorageTraits for FaultyStore<S> {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if let Some(f) = &self.faults {
            f.before_write(key.as_str()).map_err(storage_err)?;
        }
        self.inner.set(key, value)
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        if let Some(f) = &self.faults {
            f.before_write(key.as_str()).map_err(storage_err)?;
        }
        self.inner.set_partial_many(key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        self.inner.supports_set_partial()
    }
}
