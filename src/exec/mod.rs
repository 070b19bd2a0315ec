//! Execution: the run configuration, the stages, the scheduler, and watching runs
//! (progress, cancellation, jobs, profiles and their HTML report).

pub(crate) mod job;
pub(crate) mod memory;
pub(crate) mod monitor;
pub(crate) mod profile;
pub(crate) mod recycle;
pub(crate) mod report;
pub(crate) mod scheduler;
pub(crate) mod stage;

use std::path::PathBuf;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub use job::Job;
pub use monitor::{CancelToken, Progress};
pub use profile::{OpStats, TaskEvent, Timeline};
pub use scheduler::RunStats;

use monitor::Monitor;

use crate::error::{Error, Result};

/// How a plan is run. Every option has a builder method; the defaults are in its docs.
///
/// ```
/// use rask::prelude::*;
/// let cfg = Config::default().threads(2);
/// let s = ChunkedArray::<f64>::ones(&[100], &[10]).sum().compute_with(&cfg).unwrap();
/// assert_eq!(s, 100.0);
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    threads: usize,
    split_every: usize,
    window: Option<usize>,
    memory_limit: Option<usize>,
    spill_dir: Option<PathBuf>,
    spill_limit: Option<u64>,
    progress: bool,
    cancel: Option<CancelToken>,
    /// The live counters of the job this configuration runs for.
    monitor: Option<Arc<Monitor>>,
    /// The job's own pool, used instead of the shared one.
    job_pool: Option<Arc<rayon::ThreadPool>>,
    faults: Option<Arc<crate::io::faults::Faults>>,
}

impl Default for Config {
    /// All cores, `split_every` 16, the task window sized from the thread count, the memory
    /// limit from `RASK_MEMORY_LIMIT` or half the machine's memory, spill files in the system's
    /// temporary directory, no progress bar, no cancel token.
    fn default() -> Self {
        Config {
            threads: 0,
            split_every: 16,
            window: None,
            memory_limit: None,
            spill_dir: None,
            spill_limit: None,
            progress: false,
            cancel: None,
            monitor: None,
            job_pool: None,
            faults: None,
        }
    }
}

impl Config {
    /// Worker threads (default 0: one per core).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Default fan-in of reduction trees: how many partial results one combine task merges
    /// (default 16; spread over the reduced axes, as Dask does). Reductions given their own
    /// `split_every` keep it.
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = n.max(2);
        self
    }

    /// How many tasks may be issued ahead of the oldest unfinished one (default
    /// `64 + 8 × threads`). Larger windows find more parallelism in wide plans; smaller ones
    /// hold fewer blocks at a time.
    pub fn task_window(mut self, n: usize) -> Self {
        self.window = Some(n.max(1));
        self
    }

    /// The most bytes of blocks a run holds in memory at once (default: the environment
    /// variable `RASK_MEMORY_LIMIT`, such as `512MiB`, else half the machine's memory).
    ///
    /// Every block the scheduler holds, and the output of every running task, is counted
    /// against it. A task starts only when its output fits; otherwise blocks read from files
    /// are dropped (and read again when needed) and other blocks are spilled to files under
    /// [`spill_dir`](Self::spill_dir) and mapped back as views. A task that could never fit
    /// alone is an [`Error::OutOfMemory`] before anything runs. Arrays collected into memory
    /// by `compute` are the caller's and are not counted.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[2000, 2000], &[500, 500]);
    /// let cfg = Config::default().memory_limit(8 << 20);
    /// let (m, stats) = (&x - x.mean_axes(&[0])).abs().max().compute_with_stats(&cfg)?;
    /// assert!(m < 1.0);
    /// assert!(stats.peak_memory_bytes <= 8 << 20);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Where spill files go (default: the system's temporary directory). Each run spills into
    /// a private subdirectory that it removes when it ends, also after an error.
    pub fn spill_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.spill_dir = Some(path.into());
        self
    }

    /// The most bytes a run may write to spill files (default: no limit); a run that needs
    /// more stops with an error naming the spill file.
    pub fn spill_limit(mut self, bytes: u64) -> Self {
        self.spill_limit = Some(bytes);
        self
    }

    /// Draws a progress bar on stderr while a run goes (default `false`): tasks done of the
    /// total, bytes read and written, the rate and the time left, redrawn about ten times a
    /// second on one line. Drawn only when stderr is a terminal, and only for runs longer
    /// than a tenth of a second; the bar's thread does not slow the workers. For progress in
    /// a program, use [`compute_async`](crate::ChunkedArray::compute_async) and
    /// [`Job::progress`].
    ///
    /// ```
    /// use rask::prelude::*;
    /// let cfg = Config::default().progress(true);
    /// assert!(cfg.shows_progress());
    /// let s = ChunkedArray::<f64>::ones(&[1000], &[100]).sum().compute_with(&cfg)?;
    /// assert_eq!(s, 1000.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Whether runs draw a progress bar (see [`progress`](Self::progress)).
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    /// Runs made with this configuration stop when `token` is cancelled (default: none), with
    /// [`Error::Cancelled`]; see [`CancelToken`]. For a Ctrl-C handler, or to stop several
    /// computations at once. A [`Job`] gets a child of this token, so cancelling the job
    /// stops it alone.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let token = rask::CancelToken::new();
    /// let cfg = Config::default().cancel_token(token.clone());
    /// assert_eq!(ChunkedArray::<f64>::ones(&[10], &[5]).sum().compute_with(&cfg)?, 10.0);
    /// token.cancel();
    /// assert!(ChunkedArray::<f64>::ones(&[10], &[5]).sum().compute_with(&cfg).is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn cancel_token(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// The cancel token runs with this configuration watch, if any.
    pub fn cancellation(&self) -> Option<&CancelToken> {
        self.cancel.as_ref()
    }

    /// This configuration for a job: `token` replaces the cancel token, `monitor` counts.
    pub(crate) fn for_job(
        &self,
        token: CancelToken,
        monitor: Arc<Monitor>,
        pool: Option<Arc<rayon::ThreadPool>>,
    ) -> Config {
        Config {
            cancel: Some(token),
            monitor: Some(monitor),
            job_pool: pool,
            ..self.clone()
        }
    }

    pub(crate) fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.monitor.as_ref()
    }

    /// Injects faults into spill writes (tests; see [`crate::io::faults`]): the planned spill
    /// fails with "no space left on device", as when the spill directory's disk is full.
    pub fn faults(mut self, faults: &Arc<crate::io::faults::Faults>) -> Self {
        self.faults = Some(faults.clone());
        self
    }

    /// The memory limit this configuration runs with, in bytes (see
    /// [`memory_limit`](Self::memory_limit)); an error when `RASK_MEMORY_LIMIT` does not parse.
    pub fn effective_memory_limit(&self) -> Result<usize> {
        match self.memory_limit {
            Some(b) => Ok(b),
            None => memory::default_limit(),
        }
    }

    pub(crate) fn spill_store(&self) -> memory::SpillStore {
        memory::SpillStore::new(
            self.spill_dir.clone().unwrap_or_else(std::env::temp_dir),
            self.spill_limit.unwrap_or(u64::MAX),
            self.faults.clone(),
        )
    }

    /// The number of worker threads this configuration runs with.
    pub fn num_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.threads
        }
    }

    pub(crate) fn default_split_every(&self) -> usize {
        self.split_every
    }

    pub(crate) fn window(&self) -> usize {
        self.window.unwrap_or(64 + 8 * self.num_threads())
    }

    /// The shared pool for this thread count (pools are built once and reused).
    pub(crate) fn pool(&self) -> Result<Arc<rayon::ThreadPool>> {
        if let Some(p) = &self.job_pool {
            return Ok(p.clone());
        }
        static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
        let n = self.num_threads();
        let mut pools = POOLS
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(p) = pools.get(&n) {
            return Ok(p.clone());
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("rask-worker-{i}"))
            .build()
            .map_err(|e| Error::arg("compute", format!("cannot start {n} worker threads: {e}")))?;
        let pool = Arc::new(pool);
        pools.insert(n, pool.clone());
        Ok(pool)
    }
}
