//! Watching and stopping runs: live progress counters, cancellation tokens, and the terminal
//! progress bar.
//!
//! A [`Monitor`] is a handful of atomics that the scheduler bumps as tasks finish; readers
//! (a [`Job`](crate::Job), the progress bar's thread) take a [`Progress`] snapshot from it
//! without touching the scheduler's lock. A [`CancelToken`] is an atomic flag the scheduler
//! reads each time a worker takes a task, so a cancelled run stops after the tasks already
//! running, returns [`Error::Cancelled`](crate::Error::Cancelled), and commits no output.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::exec::memory::IoCounters;

/// A snapshot of a run's (or a job's) progress: see [`Job::progress`](crate::Job::progress).
///
/// Counts cover every run made with the same monitor: a [`Job`](crate::Job) that runs
/// several plans (a `to_zarr` after a reduction, say) adds each plan's tasks to
/// `tasks_total` when that plan starts.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
/// let job = x.sum().compute_async(&Config::default());
/// let _ = job.progress(); // a snapshot, at any time
/// let s = job.wait()?;
/// assert!(s > 0.0);
/// # Ok::<(), rask::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct Progress {
    /// Tasks finished so far.
    pub tasks_done: u64,
    /// Tasks of the plans started so far (0 until the first plan is lowered).
    pub tasks_total: u64,
    /// Bytes read from storage so far.
    pub bytes_read: u64,
    /// Bytes written to storage so far.
    pub bytes_written: u64,
    /// Bytes written to spill files so far.
    pub bytes_spilled: u64,
    /// Time since the job (or run) started; frozen when it finished.
    pub elapsed: Duration,
    /// Whether the job (or run) has ended, successfully or not.
    pub finished: bool,
}

impl Progress {
    /// The fraction of tasks done, in `[0, 1]` (1 once finished; 0 before any plan started).
    ///
    /// ```
    /// let p = rask::Progress::default();
    /// assert_eq!(p.fraction(), 0.0);
    /// ```
    pub fn fraction(&self) -> f64 {
        if self.finished {
            1.0
        } else if self.tasks_total == 0 {
            0.0
        } else {
            (self.tasks_done as f64 / self.tasks_total as f64).min(1.0)
        }
    }

    /// Tasks finished per second so far.
    pub fn tasks_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.tasks_done as f64 / s
        } else {
            0.0
        }
    }

    /// Bytes read and written per second so far.
    pub fn bytes_per_s(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            (self.bytes_read + self.bytes_written) as f64 / s
        } else {
            0.0
        }
    }

    /// The time left at the rate so far (`None` until a task finished, `Some(0)` once done).
    /// Plans whose tasks differ much in cost (a slow final stage) make this a rough guess.
    pub fn eta(&self) -> Option<Duration> {
        if self.finished || (self.tasks_total > 0 && self.tasks_done >= self.tasks_total) {
            return Some(Duration::ZERO);
        }
        if self.tasks_done == 0 || self.tasks_total == 0 {
            return None;
        }
        let left = (self.tasks_total - self.tasks_done) as f64;
        let per_task = self.elapsed.as_secs_f64() / self.tasks_done as f64;
        Some(Duration::from_secs_f64(left * per_task))
    }
}

impl fmt::Display for Progress {
    /// One line: `4500/10000 tasks (45.0%), 1.2 GB read, 0 B written, 3.1 s, ETA 3.8 s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} tasks ({:.1}%), {} read, {} written",
            self.tasks_done,
            self.tasks_total,
            100.0 * self.fraction(),
            human_bytes(self.bytes_read),
            human_bytes(self.bytes_written),
        )?;
        if self.bytes_spilled > 0 {
            write!(f, ", {} spilled", human_bytes(self.bytes_spilled))?;
        }
        write!(f, ", {}", human_duration(self.elapsed))?;
        match (self.finished, self.eta()) {
            (true, _) => write!(f, ", finished"),
            (false, Some(eta)) => write!(f, ", ETA {}", human_duration(eta)),
            (false, None) => Ok(()),
        }
    }
}

/// `1.5 GB`-style byte counts (decimal units, as disks and network rates are quoted).
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `850 ms`, `12.3 s`, `4m05s`, `2h03m`.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// A flag that stops runs: give it to [`Config::cancel_token`](crate::Config::cancel_token)
/// and call [`cancel`](Self::cancel) from any thread (a Ctrl-C handler, a UI, a timeout).
/// Clones share the flag.
///
/// A run made with a cancelled token starts no new task: the tasks already running finish
/// (tasks take milliseconds, so this is well under a second), the run's spill files are
/// removed, and it returns [`Error::Cancelled`](crate::Error::Cancelled). Writers
/// (`to_zarr`, `to_npy`, `store_all`) then remove their temporary output, so nothing that
/// looks complete is left. A token stays cancelled: later runs with it stop at once.
///
/// ```
/// use rask::prelude::*;
/// let token = rask::CancelToken::new();
/// let cfg = Config::default().cancel_token(token.clone());
/// token.cancel();
/// let r = ChunkedArray::<f64>::ones(&[100], &[10]).sum().compute_with(&cfg);
/// assert!(matches!(r, Err(rask::Error::Cancelled)));
/// ```
#[derive(Clone, Default)]
pub struct CancelToken(Arc<CancelFlag>);

#[derive(Default)]
struct CancelFlag {
    cancelled: AtomicBool,
    parent: Option<CancelToken>,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// A new token that is cancelled when either it or `self` is (cancelling the child does
    /// not cancel `self`). [`Job`](crate::Job)s use this: cancelling one job leaves the
    /// others alone, while a token shared by all of them (Ctrl-C) stops every one.
    ///
    /// ```
    /// let all = rask::CancelToken::new();
    /// let one = all.child();
    /// one.cancel();
    /// assert!(!all.is_cancelled());
    /// let two = all.child();
    /// all.cancel();
    /// assert!(two.is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        CancelToken(Arc::new(CancelFlag {
            cancelled: AtomicBool::new(false),
            parent: Some(self.clone()),
        }))
    }

    /// Cancels every run using this token (or a child of it). Idempotent.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::Release);
    }

    /// Whether this token (or one of its parents) was cancelled.
    pub fn is_cancelled(&self) -> bool {
        let mut t = self;
        loop {
            if t.0.cancelled.load(Ordering::Acquire) {
                return true;
            }
            match &t.0.parent {
                Some(p) => t = p,
                None => return false,
            }
        }
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CancelToken(cancelled: {})", self.is_cancelled())
    }
}

/// Live counters of the runs made with one configuration (a job's, or a run with a progress
/// bar). Written by the scheduler with relaxed atomics, read by anyone.
pub(crate) struct Monitor {
    start: Instant,
    tasks_done: AtomicU64,
    tasks_total: AtomicU64,
    bytes_spilled: AtomicU64,
    /// Storage bytes of runs that ended.
    base_read: AtomicU64,
    base_written: AtomicU64,
    /// The storage counters of runs in progress (usually one).
    active: Mutex<Vec<Arc<IoCounters>>>,
    /// Elapsed nanoseconds plus one when finished, 0 while running.
    finished_ns: AtomicU64,
}

impl Monitor {
    pub(crate) fn new() -> Arc<Monitor> {
        Arc::new(Monitor {
            start: Instant::now(),
            tasks_done: AtomicU64::new(0),
            tasks_total: AtomicU64::new(0),
            bytes_spilled: AtomicU64::new(0),
            base_read: AtomicU64::new(0),
            base_written: AtomicU64::new(0),
            active: Mutex::new(Vec::new()),
            finished_ns: AtomicU64::new(0),
        })
    }

    /// A run with `tasks` tasks starts, counting storage bytes in `io`.
    pub(crate) fn begin_run(&self, tasks: u64, io: &Arc<IoCounters>) {
        self.tasks_total.fetch_add(tasks, Ordering::Relaxed);
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(io.clone());
    }

    /// The run counting into `io` ended (successfully or not).
    pub(crate) fn end_run(&self, io: &Arc<IoCounters>) {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = active.iter().position(|a| Arc::ptr_eq(a, io)) {
            active.swap_remove(i);
            self.base_read
                .fetch_add(io.read.load(Ordering::Relaxed), Ordering::Relaxed);
            self.base_written
                .fetch_add(io.written.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    pub(crate) fn task_done(&self) {
        self.tasks_done.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn spilled(&self, bytes: u64) {
        self.bytes_spilled.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Marks the job (or run) finished and freezes its elapsed time.
    pub(crate) fn finish(&self) {
        let ns = self.start.elapsed().as_nanos().min(u64::MAX as u128 - 1) as u64;
        let _ = self
            .finished_ns
            .compare_exchange(0, ns + 1, Ordering::Release, Ordering::Relaxed);
    }

    pub(crate) fn progress(&self) -> Progress {
        let (mut read, mut written) = (
            self.base_read.load(Ordering::Relaxed),
            self.base_written.load(Ordering::Relaxed),
        );
        for io in self.active.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            read += io.read.load(Ordering::Relaxed);
            written += io.written.load(Ordering::Relaxed);
        }
        let fin = self.finished_ns.load(Ordering::Acquire);
        Progress {
            tasks_done: self.tasks_done.load(Ordering::Relaxed),
            tasks_total: self.tasks_total.load(Ordering::Relaxed),
            bytes_read: read,
            bytes_written: written,
            bytes_spilled: self.bytes_spilled.load(Ordering::Relaxed),
            elapsed: if fin > 0 {
                Duration::from_nanos(fin - 1)
            } else {
                self.start.elapsed()
            },
            finished: fin > 0,
        }
    }
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Monitor({})", self.progress())
    }
}

/// The terminal progress bar: a thread that redraws one line of stderr about ten times a
/// second from a [`Monitor`], until dropped. Runs shorter than one redraw interval draw
/// nothing.
pub(crate) struct ProgressBar {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressBar {
    /// Starts drawing `monitor` when stderr is a terminal; otherwise a bar that draws nothing.
    pub(crate) fn start(monitor: Arc<Monitor>) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar {
                stop: None,
                thread: None,
            };
        }
        let (tx, rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("rask-progress".into())
            .spawn(move || {
                let width = terminal_width();
                let mut drawn = false;
                loop {
                    let stopped = !matches!(
                        rx.recv_timeout(Duration::from_millis(100)),
                        Err(RecvTimeoutError::Timeout)
                    );
                    let p = monitor.progress();
                    if stopped && !drawn {
                        return;
                    }
                    let line = render_bar(&p, width);
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    if stopped {
                        let _ = writeln!(err);
                        return;
                    }
                    let _ = err.flush();
                    drawn = true;
                }
            })
            .ok();
        ProgressBar {
            stop: thread.as_ref().map(|_| tx),
            thread,
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The terminal's width from `COLUMNS`, else 80.
fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&w| w >= 20)
        .unwrap_or(80)
}

/// One line of the bar, at most `width` characters:
/// `[#########-----------]  45% 4500/10000 tasks 1.2 GB 310 MB/s ETA 3.8 s`.
pub(crate) fn render_bar(p: &Progress, width: usize) -> String {
    let mut tail = format!(
        " {:3.0}% {}/{} tasks",
        100.0 * p.fraction(),
        p.tasks_done,
        p.tasks_total
    );
    let io = p.bytes_read + p.bytes_written;
    if io > 0 {
        tail += &format!(
            " {} {}/s",
            human_bytes(io),
            human_bytes(p.bytes_per_s() as u64)
        );
    } else {
        tail += &format!(" {:.0} tasks/s", p.tasks_per_s());
    }
    match (p.finished, p.eta()) {
        (true, _) => tail += &format!(" done in {}", human_duration(p.elapsed)),
        (false, Some(eta)) => tail += &format!(" ETA {}", human_duration(eta)),
        (false, None) => {}
    }
    let bar_w = width.saturating_sub(tail.chars().count() + 3).clamp(0, 40);
    if bar_w < 5 {
        return tail.chars().skip(1).take(width.saturating_sub(1)).collect();
    }
    let filled = ((p.fraction() * bar_w as f64).round() as usize).min(bar_w);
    format!(
        "[{}{}]{tail}",
        "#".repeat(filled),
        "-".repeat(bar_w - filled)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_fraction_and_eta() {
        let p = Progress {
            tasks_done: 25,
            tasks_total: 100,
            elapsed: Duration::from_secs(5),
            ..Progress::default()
        };
        assert_eq!(p.fraction(), 0.25);
        assert_eq!(p.eta(), Some(Duration::from_secs(15)));
        assert_eq!(p.tasks_per_s(), 5.0);
        let done = Progress {
            finished: true,
            ..p
        };
        assert_eq!(done.fraction(), 1.0);
        assert_eq!(done.eta(), Some(Duration::ZERO));
        let s = p.to_string();
        assert!(s.starts_with("25/100 tasks (25.0%)"), "{s}");
        assert!(s.contains("ETA 15.0 s"), "{s}");
    }

    #[test]
    fn bar_fits_the_width() {
        let p = Progress {
            tasks_done: 4500,
            tasks_total: 10_000,
            bytes_read: 1_200_000_000,
            elapsed: Duration::from_secs(4),
            ..Progress::default()
        };
        for w in [20, 40, 80, 200] {
            let line = render_bar(&p, w);
            assert!(line.chars().count() <= w, "{w}: {line:?}");
            assert!(line.contains("4500/10000"), "{line:?}");
        }
        let line = render_bar(&p, 80);
        assert!(line.starts_with('[') && line.contains("45%"), "{line:?}");
        assert!(
            line.contains("1.2 GB") && line.contains("300.0 MB/s"),
            "{line:?}"
        );
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_duration(Duration::from_millis(850)), "850 ms");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
    }

    #[test]
    fn child_tokens() {
        let root = CancelToken::new();
        let a = root.child();
        let b = a.child();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled() && !root.is_cancelled());
        let c = root.child();
        root.cancel();
        assert!(c.is_cancelled());
    }
}
