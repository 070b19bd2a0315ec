//! Jobs: a computation running in the background, with progress, cancellation and a result
//! to wait for (what `concurrent.futures` and Dask's `client.compute` give Python users).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::exec::Config;
use crate::exec::monitor::{CancelToken, Monitor, Progress};

/// A computation running on a thread of its own: watch it with [`progress`](Self::progress),
/// stop it with [`cancel`](Self::cancel), get its result with [`wait`](Self::wait).
///
/// Made by [`ChunkedArray::compute_async`](crate::ChunkedArray::compute_async),
/// [`Scalar::compute_async`](crate::Scalar::compute_async),
/// [`ChunkedArray::to_zarr_async`](crate::ChunkedArray::to_zarr_async), or
/// [`Job::spawn`] for anything else that takes a [`Config`] (`to_npy_with`,
/// `store_all_with`, several computations in a row).
///
/// Cancelling (or dropping the job) stops its runs after the tasks already running, so
/// within milliseconds for ordinary tasks (a user closure that runs for minutes is not
/// interrupted); `wait` then returns [`Error::Cancelled`], and writers leave no output that
/// looks complete. A job whose work had finished when it was cancelled keeps its result.
/// Dropping a job cancels it and waits for its thread, so no work outlives the handle.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::random(&[2000, 2000], &[200, 200]);
/// let job = (&x * 2.0).mean().compute_async(&Config::default());
/// while !job.is_finished() {
///     let p = job.progress();
///     assert!(p.tasks_done <= p.tasks_total || p.tasks_total == 0);
///     std::thread::sleep(std::time::Duration::from_millis(5));
/// }
/// let done = job.progress();
/// assert!(done.finished && done.tasks_done == done.tasks_total);
/// let m = job.wait()?;
/// assert!((m - 1.0).abs() < 0.01);
/// # Ok::<(), rask::Error>(())
/// ```
pub struct Job<R: Send + 'static> {
    thread: Option<Result<JoinHandle<Result<R>>>>,
    token: CancelToken,
    monitor: Arc<Monitor>,
}

impl<R: Send + 'static> Job<R> {
    /// Runs `work` on a new thread with a copy of `config` whose runs report to this job and
    /// stop when it is cancelled (the copy's cancel token is a child of `config`'s, if it has
    /// one, so that token still stops the job). A panic in `work` becomes an
    /// [`Error::Panicked`] naming `Job`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let path = std::env::temp_dir().join(format!("rask-doc-job-{}.npy", std::process::id()));
    /// let x = ChunkedArray::<f32>::ones(&[500, 500], &[100, 100]);
    /// let p = path.clone();
    /// let job = rask::Job::spawn(&Config::default(), move |cfg| x.to_npy_with(&p, cfg));
    /// let stats = job.wait()?;
    /// assert_eq!(stats.bytes_written, 500 * 500 * 4);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn spawn<F>(config: &Config, work: F) -> Job<R>
    where
        F: FnOnce(&Config) -> Result<R> + Send + 'static,
    {
        let token = match config.cancellation() {
            Some(t) => t.child(),
            None => CancelToken::new(),
        };
        let monitor = Monitor::new();
        let cfg = config.for_job(token.clone(), monitor.clone());
        let m = monitor.clone();
        let thread = std::thread::Builder::new()
            .name("rask-job".into())
            .spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(|| work(&cfg)));
                m.finish();
                r.unwrap_or_else(|payload| {
                    Err(Error::Panicked {
                        op: "Job".into(),
                        block: Vec::new(),
                        message: panic_message(&*payload),
                    })
                })
            })
            .map_err(|e| Error::arg("Job", format!("cannot start the job's thread: {e}")));
        if thread.is_err() {
            monitor.finish();
        }
        Job {
            thread: Some(thread),
            token,
            monitor,
        }
    }

    /// What the job has done so far (a snapshot; cheap, callable from any thread at any rate).
    pub fn progress(&self) -> Progress {
        self.monitor.progress()
    }

    /// Asks the job to stop: no new task starts, and [`wait`](Self::wait) returns
    /// [`Error::Cancelled`] once the running tasks are done. Returns at once; idempotent.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// The job's cancel token, to cancel it from elsewhere (a signal handler) without the
    /// handle.
    pub fn cancel_token(&self) -> CancelToken {
        self.token.clone()
    }

    /// Whether the job has ended (successfully, with an error, or cancelled), so that
    /// [`wait`](Self::wait) returns at once.
    pub fn is_finished(&self) -> bool {
        match &self.thread {
            Some(Ok(h)) => h.is_finished(),
            _ => true,
        }
    }

    /// Waits for the job to end and returns its result.
    pub fn wait(mut self) -> Result<R> {
        self.join()
    }

    fn join(&mut self) -> Result<R> {
        match self.thread.take() {
            Some(Ok(h)) => h.join().unwrap_or_else(|payload| {
                Err(Error::Panicked {
                    op: "Job".into(),
                    block: Vec::new(),
                    message: panic_message(&*payload),
                })
            }),
            Some(Err(e)) => Err(e),
            None => Err(Error::arg("Job", "the job's result was already taken")),
        }
    }
}

impl<R: Send + 'static> Drop for Job<R> {
    /// Cancels the job and waits for its thread to end.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.token.cancel();
            let _ = self.join();
        }
    }
}

impl<R: Send + 'static> std::fmt::Debug for Job<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({})", self.progress())
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
