//! Execution: the run configuration, the stages, and the scheduler.

pub(crate) mod scheduler;
pub(crate) mod stage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub use scheduler::RunStats;

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
}

impl Default for Config {
    /// All cores, `split_every` 16, the task window sized from the thread count.
    fn default() -> Self {
        Config {
            threads: 0,
            split_every: 16,
            window: None,
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
