//! Watching runs: progress, jobs, cancellation, run statistics and the HTML report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::{CancelToken, Job, Progress, RunStats};

/// The tests run one at a time: runs on the shared pool of one thread count take its workers
/// in turn, so a slow run of another test could hold back this one's start.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Generous bound for "stops within a second" on a loaded 2-core machine.
const STOP_BOUND: Duration = Duration::from_secs(5);

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-observe-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A plan of `blocks` blocks of 10 f64 whose every block sleeps `ms` milliseconds, counting
/// the blocks it computed in `calls`.
fn slow(blocks: usize, ms: u64, calls: Arc<AtomicUsize>) -> ChunkedArray<f64> {
    ChunkedArray::<f64>::ones(&[blocks * 10], &[10]).map_blocks(move |b, _| {
        calls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(ms));
        Ok(b.to_owned())
    })
}

/// Polls `job` until it ends, returning every progress snapshot seen.
fn poll<R: Send + 'static>(job: &Job<R>) -> Vec<Progress> {
    let mut seen = vec![job.progress()];
    while !job.is_finished() {
        std::thread::sleep(Duration::from_millis(3));
        seen.push(job.progress());
    }
    seen.push(job.progress());
    seen
}

#[test]
fn progress_counts_reach_the_total() {
    let _serial = serial();
    let x = ChunkedArray::<f64>::random(&[2000, 2000], &[100, 100]);
    let plan = (&x * 2.0 - x.mean_axes(&[0])).std(0.0);
    let (_, stats) = plan.compute_with_stats(&Config::default()).unwrap();
    let job = plan.compute_async(&Config::default());
    let seen = poll(&job);
    let last = *seen.last().unwrap();
    assert!(last.finished);
    assert_eq!(last.tasks_total, stats.tasks, "{last:?}");
    assert_eq!(last.tasks_done, last.tasks_total);
    assert_eq!(last.fraction(), 1.0);
    assert_eq!(last.eta(), Some(Duration::ZERO));
    for w in seen.windows(2) {
        assert!(w[0].tasks_done <= w[1].tasks_done, "{w:?}");
        assert!(w[0].elapsed <= w[1].elapsed, "{w:?}");
        assert!(w[1].tasks_done <= w[1].tasks_total || w[1].tasks_total == 0);
    }
    let v = job.wait().unwrap();
    assert!((v - 0.577).abs() < 0.02, "{v}");
}

#[test]
fn a_jobs_progress_increases_and_it_finishes() {
    let _serial = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let job = slow(300, 2, calls.clone())
        .sum()
        .compute_async(&Config::default().threads(2));
    let seen = poll(&job);
    let middle = seen
        .iter()
        .filter(|p| p.tasks_done > 0 && p.tasks_done < p.tasks_total)
        .count();
    assert!(middle > 0, "no snapshot between start and end: {seen:?}");
    let mid = seen
        .iter()
        .find(|p| p.tasks_done > 0 && !p.finished)
        .unwrap();
    assert!(mid.eta().is_some() && mid.fraction() > 0.0 && mid.fraction() < 1.0);
    assert!(mid.to_string().contains(" tasks ("), "{mid}");
    assert_eq!(job.wait().unwrap(), 3000.0);
    assert_eq!(calls.load(Ordering::Relaxed), 300);
}

#[test]
fn cancel_stops_a_long_run_quickly() {
    let _serial = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    // 10^4 blocks of 2 ms: about 10 s on two threads if not stopped.
    let job = slow(10_000, 2, calls.clone())
        .sum()
        .compute_async(&Config::default());
    std::thread::sleep(Duration::from_millis(300));
    let before = job.progress();
    let t = Instant::now();
    job.cancel();
    let r = job.wait();
    let latency = t.elapsed();
    eprintln!(
        "cancel latency: {latency:?} (after {} tasks)",
        before.tasks_done
    );
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
    assert!(latency < STOP_BOUND, "took {latency:?} to stop");
    assert!(calls.load(Ordering::Relaxed) < 10_000);
    let msg = Error::Cancelled.to_string();
    assert!(msg.contains("cancelled"), "{msg}");
}

#[test]
fn dropping_a_job_cancels_it() {
    let _serial = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let job = slow(10_000, 2, calls.clone()).compute_async(&Config::default());
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(job);
    let latency = t.elapsed();
    eprintln!("drop latency: {latency:?}");
    assert!(latency < STOP_BOUND, "drop took {latency:?}");
    // Nothing runs on after the drop.
    let after = calls.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::Relaxed), after);
    assert!(after < 10_000);
}

#[test]
fn the_next_compute_after_a_cancel_works() {
    let _serial = serial();
    let token = CancelToken::new();
    let cfg = Config::default().cancel_token(token.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let job = slow(5_000, 2, calls).sum().compute_async(&cfg);
    std::thread::sleep(Duration::from_millis(100));
    token.cancel(); // the parent token stops the job too
    assert!(matches!(job.wait(), Err(Error::Cancelled)));
    // A fresh config on the same (shared) pool runs normally.
    let x = ChunkedArray::<f64>::ones(&[1000, 1000], &[100, 100]);
    assert_eq!(x.sum().compute().unwrap(), 1e6);
    // The cancelled token keeps stopping runs at once.
    let t = Instant::now();
    assert!(matches!(x.sum().compute_with(&cfg), Err(Error::Cancelled)));
    assert!(t.elapsed() < STOP_BOUND);
}

#[test]
fn cancelling_one_job_leaves_others_alone() {
    let _serial = serial();
    let shared = CancelToken::new();
    let cfg = Config::default().cancel_token(shared.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let a = slow(5_000, 2, calls.clone()).sum().compute_async(&cfg);
    let b = slow(100, 1, calls).sum().compute_async(&cfg);
    a.cancel();
    assert!(matches!(a.wait(), Err(Error::Cancelled)));
    assert_eq!(b.wait().unwrap(), 1000.0);
    assert!(!shared.is_cancelled());
}

#[test]
fn a_cancelled_run_removes_its_spill_files() {
    let _serial = serial();
    let dir = temp_dir("spill");
    let x = ChunkedArray::<f64>::random(&[2000, 2000], &[250, 250]).map_blocks(|b, _| {
        std::thread::sleep(Duration::from_millis(15));
        Ok(b.to_owned())
    });
    let plan = (&x - x.mean_axes(&[0])).abs().max();
    let cfg = Config::default().memory_limit(4 << 20).spill_dir(&dir);
    // Uncancelled, the plan spills (so the cancelled run below has spill files to remove).
    let (_, stats) = plan.compute_with_stats(&cfg).unwrap();
    assert!(stats.bytes_spilled > 0, "{stats:?}");
    let spill = stats.ops.last().unwrap();
    assert_eq!(spill.name, "spill");
    assert_eq!(spill.bytes_out, stats.bytes_spilled);
    assert_eq!(spill.tasks, stats.blocks_spilled);
    let job = plan.compute_async(&cfg);
    std::thread::sleep(Duration::from_millis(400));
    let p = job.progress();
    job.cancel();
    let r = job.wait();
    assert!(matches!(r, Err(Error::Cancelled)), "{r:?} after {p}");
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "spill files left: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Entries of `dir`, hidden ones (temporary outputs) included.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_cancelled_to_zarr_leaves_no_array() {
    let _serial = serial();
    let dir = temp_dir("zarr");
    let path = dir.join("out.zarr");
    let calls = Arc::new(AtomicUsize::new(0));
    let x = slow(2_000, 2, calls.clone());
    let job = x.to_zarr_async(&path, &ZarrOptions::default(), &Config::default());
    std::thread::sleep(Duration::from_millis(300));
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::Cancelled)));
    assert!(
        calls.load(Ordering::Relaxed) > 0,
        "the job never started writing"
    );
    assert!(!path.exists());
    assert!(entries(&dir).is_empty(), "left: {:?}", entries(&dir));

    // With overwrite, a cancelled write keeps the array that was there.
    let old = ChunkedArray::<f64>::full(&[20_000], &[10], 7.0);
    old.to_zarr(&path, &ZarrOptions::default()).unwrap();
    let opts = ZarrOptions::default().overwrite(true);
    let job = x.to_zarr_async(&path, &opts, &Config::default());
    std::thread::sleep(Duration::from_millis(300));
    drop(job);
    assert_eq!(entries(&dir), ["out.zarr"]);
    let back = rask::open_zarr_typed::<f64>(&path).unwrap();
    assert_eq!(back.sum().compute().unwrap(), 140_000.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cancelled_to_npy_leaves_no_file() {
    let _serial = serial();
    let dir = temp_dir("npy");
    let path = dir.join("out.npy");
    let x = slow(2_000, 2, Arc::new(AtomicUsize::new(0)));
    let p = path.clone();
    let job = Job::spawn(&Config::default(), move |cfg| x.to_npy_with(&p, cfg));
    std::thread::sleep(Duration::from_millis(300));
    job.cancel();
    assert!(matches!(job.wait(), Err(Error::Cancelled)));
    assert!(entries(&dir).is_empty(), "left: {:?}", entries(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_panicking_job_is_an_error_naming_job() {
    let _serial = serial();
    let job: Job<()> = Job::spawn(&Config::default(), |_| panic!("lost the plot"));
    match job.wait() {
        Err(Error::Panicked { op, message, .. }) => {
            assert_eq!(op, "Job");
            assert!(message.contains("lost the plot"));
        }
        r => panic!("expected a panic error, got {r:?}"),
    }
}

#[test]
fn progress_bar_runs_do_not_change_results() {
    let _serial = serial();
    // stderr is not a terminal under the test harness: nothing is drawn, nothing breaks.
    let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
    let a = x
        .sum()
        .compute_with(&Config::default().progress(true))
        .unwrap();
    assert_eq!(a, x.sum().compute().unwrap());
}

fn stats_of(plan: &Scalar<f64>, cfg: &Config) -> RunStats {
    plan.compute_with_stats(cfg).unwrap().1
}

#[test]
fn run_stats_ops_add_up_to_the_tasks() {
    let _serial = serial();
    // A materialized stage (user closure) so that the rechunk is a stage of its own.
    let x =
        ChunkedArray::<f64>::random(&[1200, 1000], &[100, 100]).map_blocks(|b, _| Ok(b.to_owned()));
    let y = x.rechunk(&[300, 250]);
    let plan = (&y - y.mean_axes(&[0])).std(0.0);
    let stats = stats_of(&plan, &Config::default().threads(2));
    assert_eq!(stats.threads, 2);
    assert!(stats.ops.len() >= 4, "{:#?}", stats.ops);
    assert_eq!(stats.ops.iter().map(|o| o.tasks).sum::<u64>(), stats.tasks);
    assert!(
        stats.ops.iter().any(|o| o.kind == "rechunk"),
        "{:#?}",
        stats.ops
    );
    assert!(
        stats.ops.iter().any(|o| o.name.contains("random")),
        "{:#?}",
        stats.ops
    );
    assert!(
        stats
            .ops
            .iter()
            .all(|o| o.busy_s >= 0.0 && o.busy_s <= stats.wall_s * 2.0)
    );
    let rechunk = stats.ops.iter().find(|o| o.kind == "rechunk").unwrap();
    assert_eq!(rechunk.tasks, 16);
    assert_eq!(rechunk.bytes_out, 1200 * 1000 * 8);
    let tl = &stats.timeline;
    assert_eq!(tl.workers, 2);
    assert_eq!(tl.stride, 1);
    assert_eq!(tl.events.len() as u64, stats.tasks);
    for e in &tl.events {
        assert!(e.worker < 2 && e.op < stats.ops.len());
        assert!(0.0 <= e.start_s && e.start_s <= e.end_s && e.end_s <= stats.wall_s + 1e-6);
    }
    let peak = tl.memory.iter().map(|m| m.1).max().unwrap();
    assert!(peak as usize <= stats.peak_memory_bytes && peak > 0);
}

#[test]
fn the_timeline_stays_bounded_for_large_plans() {
    let _serial = serial();
    let plan = ChunkedArray::<f64>::ones(&[2_000_000], &[10]).sum();
    let stats = stats_of(&plan, &Config::default());
    assert!(stats.tasks > 200_000);
    let tl = &stats.timeline;
    assert!(tl.events.len() < rask::Timeline::MAX_EVENTS);
    assert!(tl.stride >= 4, "stride {}", tl.stride);
    assert!(tl.events.len() as u64 >= stats.tasks / tl.stride - 1);
    assert!(tl.memory.len() <= rask::Timeline::MAX_MEMORY_SAMPLES + 2);
    assert_eq!(stats.ops.iter().map(|o| o.tasks).sum::<u64>(), stats.tasks);
}

/// Checks that the tags of `html` nest properly (void and self-closing tags aside).
fn check_balanced(html: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name, "<{open}> closed by </{name}>");
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap();
        if tag.ends_with('/') || name == "meta" {
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn the_html_report_shows_the_run() {
    let _serial = serial();
    let dir = temp_dir("report");
    // A materialized stage read twice, under a small budget: it spills.
    let x =
        ChunkedArray::<f64>::random(&[2000, 2000], &[200, 200]).map_blocks(|b, _| Ok(b.to_owned()));
    let plan = (&x - x.mean_axes(&[0])).abs().max();
    let cfg = Config::default()
        .threads(2)
        .memory_limit(3 << 20)
        .spill_dir(&dir);
    let stats = stats_of(&plan, &cfg);
    let html = stats.html();
    check_balanced(&html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg id=\"task-stream\"").count(), 1);
    assert_eq!(html.matches("<svg id=\"memory\"").count(), 1);
    assert_eq!(
        html.matches("<svg ").count(),
        html.matches("</svg>").count()
    );
    // One bar per recorded event, each with a tooltip.
    let bars = html.matches("<rect class=\"t ").count();
    assert_eq!(bars, stats.timeline.events.len());
    assert!(bars > 0);
    assert!(html.matches("<title>").count() > bars);
    for w in 0..stats.threads {
        assert!(
            html.contains(&format!(">worker {w}</text>")),
            "no row for worker {w}"
        );
    }
    for o in &stats.ops {
        let name = o
            .name
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let shown: String = name.chars().take(40).collect();
        assert!(html.contains(&shown), "operation {} missing", o.name);
    }
    assert!(html.contains("<polyline"), "no memory curve");
    assert!(
        html.contains("memory limit 3.00 MiB"),
        "no memory limit line"
    );
    assert!(html.contains("stroke-dasharray"));
    assert!(stats.bytes_spilled > 0 && html.contains(">spill<"));
    // Self-contained: no scripts, no external resources.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=") && !html.contains("href="));
    let path = dir.join("report.html");
    stats.to_html(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), html);
    assert_eq!(entries(&dir), ["report.html"]);
    let bad = stats.to_html(dir.join("no-such-dir").join("r.html"));
    assert!(
        bad.as_ref()
            .is_err_and(|e| e.to_string().contains("to_html")),
        "{bad:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
