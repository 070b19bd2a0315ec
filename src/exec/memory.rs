//! Memory: the budget, the process's resident memory, the spill store, and per-run I/O counts.
//!
//! The scheduler counts every block it holds against [`Config::memory_limit`]; when a task
//! would not fit, it drops blocks that are cheap to read again (reads of a file) and writes the
//! others to the spill store, a private directory of files that are memory-mapped back as
//! zero-copy views. Spill files are the only files rask maps that it does not own elsewhere:
//! they are created by the run, unlinked as soon as they are mapped, and the directory is
//! removed when the run ends, also after an error.
//!
//! [`Config::memory_limit`]: crate::Config::memory_limit

use std::cell::RefCell;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::block::{BlockRef, MappedBlock};
use crate::error::{Error, Result};

/// Parses a byte count: a plain number of bytes, or a number with a unit `B`, `KB`, `MB`,
/// `GB`, `TB` (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), with or without
/// a space; `k`, `M`, `G` and `T` alone are binary, as in `ulimit`.
///
/// ```
/// assert_eq!(rask::parse_bytes("512MiB")?, 512 << 20);
/// assert_eq!(rask::parse_bytes("1.5 GB")?, 1_500_000_000);
/// assert_eq!(rask::parse_bytes("4096")?, 4096);
/// assert!(rask::parse_bytes("lots").is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn parse_bytes(s: &str) -> Result<usize> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.replace('_', "").parse().map_err(|_| {
        Error::arg(
            "parse_bytes",
            format!("{s:?} is not a byte count such as 512MiB"),
        )
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(Error::arg(
                "parse_bytes",
                format!("{s:?}: unknown unit {u:?} (use B, KB, MB, GB, KiB, MiB, GiB)"),
            ));
        }
    };
    let v = num * mult;
    if !v.is_finite() || v < 0.0 || v >= usize::MAX as f64 {
        return Err(Error::arg("parse_bytes", format!("{s:?} is out of range")));
    }
    Ok(v.round() as usize)
}

/// Reads a `kB` field of a `/proc` status-like file.
fn proc_kb(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map(|kb| kb * 1024)
}

/// The machine's physical memory in bytes, where the OS tells.
pub fn machine_memory() -> Option<u64> {
    proc_kb("/proc/meminfo", "MemTotal:")
}

/// The process's resident memory now, in bytes (Linux).
pub fn current_rss() -> Option<u64> {
    proc_kb("/proc/self/status", "VmRSS:")
}

/// The process's peak resident memory in bytes since it started or since the last
/// [`reset_peak_rss`] (Linux).
pub fn peak_rss() -> Option<u64> {
    proc_kb("/proc/self/status", "VmHWM:")
}

/// Resets the process's peak resident memory to its current value (Linux 4.0+); returns
/// whether the reset worked. `compute_with_stats` does this at the start of a run so that
/// [`RunStats::peak_rss_bytes`](crate::RunStats::peak_rss_bytes) is the run's own peak.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The default memory limit: `RASK_MEMORY_LIMIT` when set, else half the machine's memory
/// (4 GiB where the OS does not tell).
pub(crate) fn default_limit() -> Result<usize> {
    if let Ok(v) = std::env::var("RASK_MEMORY_LIMIT") {
        return parse_bytes(&v).map_err(|_| {
            Error::arg(
                "RASK_MEMORY_LIMIT",
                format!("{v:?} is not a byte count such as 512MiB or 2GB"),
            )
        });
    }
    Ok(machine_memory().map_or(4 << 30, |m| (m / 2) as usize))
}

// ---------------------------------------------------------------- I/O counters

/// Bytes read from and written to storage by one run.
#[derive(Default)]
pub(crate) struct IoCounters {
    pub read: AtomicU64,
    pub written: AtomicU64,
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<IoCounters>>> = const { RefCell::new(None) };
}

/// Runs `f` with `c` as this thread's current counters (restoring the previous ones after, so
/// a task that runs a nested plan counts into the nested run).
pub(crate) fn with_counters<R>(c: &Arc<IoCounters>, f: impl FnOnce() -> R) -> R {
    let prev = CURRENT.with(|cur| cur.replace(Some(c.clone())));
    let r = f();
    CURRENT.with(|cur| *cur.borrow_mut() = prev);
    r
}

/// Counts `n` bytes read from storage by the current task (readers call this).
pub(crate) fn record_read(n: usize) {
    CURRENT.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            c.read.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
}

/// Counts `n` bytes written to storage by the current task (writers call this).
pub(crate) fn record_written(n: usize) {
    CURRENT.with(|c| {
        if let Some(c) = c.borrow().as_ref() {
            c.written.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
}

// ---------------------------------------------------------------- the spill store

static SPILL_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A run's spill files: a private directory, created at the first spill and removed (with
/// anything left in it) when the store is dropped at the end of the run.
pub(crate) struct SpillStore {
    parent: PathBuf,
    dir: Mutex<Option<PathBuf>>,
    next: AtomicU64,
    /// Bytes written so far, and the most that may be.
    pub written: AtomicU64,
    limit: u64,
    /// Faults to inject into spill writes (tests).
    faults: Option<Arc<crate::io::faults::Faults>>,
}

impl SpillStore {
    pub(crate) fn new(
        parent: PathBuf,
        limit: u64,
        faults: Option<Arc<crate::io::faults::Faults>>,
    ) -> Self {
        SpillStore {
            parent,
            dir: Mutex::new(None),
            next: AtomicU64::new(0),
            written: AtomicU64::new(0),
            limit,
            faults,
        }
    }

    fn dir(&self) -> Result<PathBuf> {
        let mut d = self.dir.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = d.as_ref() {
            return Ok(p.clone());
        }
        let name = format!(
            "rask-spill-{}-{}",
            std::process::id(),
            SPILL_RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let p = self.parent.join(name);
        std::fs::create_dir_all(&p).map_err(|e| Error::io("spill", p.display(), e))?;
        *d = Some(p.clone());
        Ok(p)
    }

    /// The directory, if a spill created it.
    #[cfg(test)]
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.dir.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes `block` to a spill file and returns it mapped back as a view; `None` when the
    /// block cannot be spilled (not an element array in standard layout).
    pub(crate) fn spill(&self, block: &BlockRef) -> Result<Option<BlockRef>> {
        let Some((dtype, shape, bytes)) = block.raw() else {
            return Ok(None);
        };
        let total = self
            .written
            .fetch_add(bytes.len() as u64, Ordering::Relaxed)
            + bytes.len() as u64;
        let dir = self.dir()?;
        let path = dir.join(format!("{}.bin", self.next.fetch_add(1, Ordering::Relaxed)));
        if total > self.limit {
            return Err(Error::io(
                "spill",
                path.display(),
                std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("the spill limit of {} bytes is reached", self.limit),
                ),
            ));
        }
        let injected = match &self.faults {
            Some(f) => f.before_spill(),
            None => Ok(()),
        };
        let map = injected
            .and_then(|()| write_and_map(&path, bytes))
            .map_err(|e| {
                let _ = std::fs::remove_file(&path);
                Error::io("spill", path.display(), e)
            })?;
        // The mapping keeps the file's data; the name is no longer needed.
        let _ = std::fs::remove_file(&path);
        // Readers often take a piece of each row (a rechunk): map only the pages they touch.
        let _ = map.advise(memmap2::Advice::Random);
        let map = Arc::new(map);
        let release = map.clone();
        let shape = shape.to_vec();
        let block = MappedBlock::new(map, 0, dtype, &shape, false)
            .ok_or_else(|| Error::arg("spill", "internal: a spill map is misaligned"))?
            .with_release(move || {
                // SAFETY: a shared read-only file mapping; dropping its pages only makes the
                // next access read them again from the file (or the page cache).
                let _ = unsafe { release.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
            });
        Ok(Some(Arc::new(block)))
    }
}

fn write_and_map(path: &Path, bytes: &[u8]) -> std::io::Result<memmap2::Mmap> {
    let mut f = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    if bytes.is_empty() {
        // A map of an empty file fails; give it one page of zeros to map.
        f.set_len(1)?;
    }
    // SAFETY: the file was created by this run (`create_new`) in its private directory and
    // is never written again; nothing else truncates it.
    unsafe { memmap2::Mmap::map(&f) }
}

impl Drop for SpillStore {
    fn drop(&mut self) {
        if let Some(p) = self.dir.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

/// Drops the pages of a mapped block from the process's resident set.
pub(crate) fn release(block: &BlockRef) {
    block.release_pages();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_parse() {
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("512 mib").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1_000").unwrap(), 1000);
        assert_eq!(parse_bytes("0.5KB").unwrap(), 500);
        for bad in ["", "MiB", "-1", "1 parsec", "1e400"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn spilled_blocks_read_back_and_leave_nothing() {
        let store = SpillStore::new(std::env::temp_dir(), u64::MAX, None);
        let a: BlockRef = Arc::new(ndarray::ArrayD::from_shape_fn(
            ndarray::IxDyn(&[3, 4]),
            |i| (i[0] * 4 + i[1]) as f64,
        ));
        let m = store.spill(&a).unwrap().unwrap();
        assert!(m.is_mapped());
        assert_eq!(
            crate::block::downcast::<f64>(&m),
            crate::block::downcast::<f64>(&a)
        );
        let dir = store.path().unwrap();
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "files are unlinked once mapped"
        );
        release(&m);
        assert_eq!(crate::block::downcast::<f64>(&m)[[2, 3]], 11.0);
        drop(store);
        assert!(!dir.exists());
    }

    #[test]
    fn the_spill_limit_is_an_error() {
        let store = SpillStore::new(std::env::temp_dir(), 16, None);
        let a: BlockRef = Arc::new(ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[4])));
        let Err(e) = store.spill(&a) else {
            panic!("a spill over the limit succeeded")
        };
        let e = e.to_string();
        assert!(e.contains("spill limit"), "{e}");
    }
}
