//! One workload of the rask-vs-Dask comparison per process, on the peer suite's data.
//!
//! ```text
//! cargo run --release --example compare -- list
//! cargo run --release --example compare -- run W9_big_mean_warm [--threads N] [--data DIR]
//! cargo run --release --example compare -- limit W1_random_mean [--threads N]
//! cargo run --release --example compare -- membw
//! cargo run --release --example compare -- decode W8_ndvi_mean
//! ```
//!
//! `run` times the rask version of a workload of `shared/peers/dask_suite.py` (same names,
//! same sizes, the same Zarr stores in `--data`, default `/tmp/peerdata`) with the peers'
//! policy (one warm-up, then the best of three; a warm-up over 30 s is the single run) and
//! prints one line `RESULT {json}` in the peers' layout: `time_s`, `all_times_s`,
//! `peak_rss_mib` (the process's high-water mark, as `ru_maxrss` is for the peers),
//! `base_rss_mib`, `value`, plus rask's own `RunStats` of the last run. `limit` times the
//! machine limit for the same workload: a hand-written rayon loop (compute-bound workloads),
//! `cat` of the files (disk-bound ones), or nothing (the task-overhead rows). `membw` is the
//! memory bandwidth of summing 2 GB already in memory. `benches/compare.sh` runs all of it
//! beside Dask and writes `benches/RESULTS.md`.
//!
//! `--scale S` shrinks the in-memory workloads (side `10000 × S`) for a quick try; the
//! on-disk ones always use the stores as they are.

#![cfg_attr(test, allow(dead_code))]

mod hand;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rask::prelude::*;
use rask::serde_json::{Map, Value, json};
use rask::{Boundary, RunStats, open_zarr_typed};

/// Command-line options.
struct Opts {
    threads: usize,
    data: PathBuf,
    scale: f64,
    repeats: usize,
}

/// A workload's result: its value and the rask run's statistics (when it has them).
struct Outcome {
    value: f64,
    stats: Option<RunStats>,
    extra: Map<String, Value>,
}

impl Outcome {
    fn new(value: f64, stats: Option<RunStats>) -> Outcome {
        Outcome {
            value,
            stats,
            extra: Map::new(),
        }
    }
}

/// The workloads, with what kind of machine limit applies to each.
const WORKLOADS: &[(&str, &str)] = &[
    ("W1_random_mean", "hand"),
    ("W2_random_sum_axis0", "hand"),
    ("W3_elementwise", "hand"),
    ("W4_std", "hand"),
    ("W5_transpose_add", "hand"),
    ("W6_matmul", "hand"),
    ("W7_rechunk", "hand"),
    ("W8_ndvi_write", "cat"),
    ("W8_ndvi_mean", "cat"),
    ("W8_ndvi_mean_from_store", "cat"),
    ("W9_big_mean_warm", "cat"),
    ("W9_big_mean_cold", "cat"),
    ("W10_map_overlap_smooth", "hand"),
    ("W12_anomaly_to_zarr", "cat+write"),
    ("W12_anomaly_to_zarr_512MiB", "cat+write"),
    ("W13_tasks_1e5", "none"),
    ("W14_tasks_1e6", "none"),
];

/// Runs slower than this are not repeated (the peers' rule).
const SLOW_S: f64 = 30.0;

fn config(o: &Opts) -> Config {
    Config::default().threads(o.threads)
}

fn side(o: &Opts, n: usize) -> usize {
    ((n as f64 * o.scale).round() as usize).max(8)
}

/// The 10^4 × 10^4 uniform random input of W1-W5, W7 and W10 (1000 × 1000 chunks).
fn x(o: &Opts) -> ChunkedArray<f64> {
    let (n, c) = (side(o, 10_000), side(o, 1_000));
    ChunkedArray::<f64>::random(&[n, n], &[c, c])
}

fn big(o: &Opts) -> PathBuf {
    o.data.join("big.zarr")
}

fn scene(o: &Opts) -> PathBuf {
    o.data.join("scene.zarr")
}

/// Where rask writes: beside the peers' outputs, never over them.
fn ndvi_out(o: &Opts) -> PathBuf {
    o.data.join("ndvi-rask.zarr")
}

fn anomaly_out(o: &Opts) -> PathBuf {
    o.data.join("anomaly-rask.zarr")
}

fn ndvi(o: &Opts) -> Result<ChunkedArray<f32>> {
    let red = open_zarr_typed::<f32>(scene(o).join("red"))?;
    let nir = open_zarr_typed::<f32>(scene(o).join("nir"))?;
    Ok((&nir - &red) / (&nir + &red))
}

/// The chunk files of a Zarr store (everything but its metadata), sorted.
fn chunk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .is_some_and(|n| n != "zarr.json" && n != ".zarray" && n != ".zattrs")
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn sh(script: &str, args: &[PathBuf]) -> Result<()> {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .args(args)
        .status()
        .map_err(|e| Error::msg(format!("sh: {e}")))?
        .success();
    if ok {
        Ok(())
    } else {
        Err(Error::msg(format!("`{script}` failed")))
    }
}

/// Flushes dirty pages (untimed, before every run, as the peers do).
fn sync() {
    let _ = Command::new("sync").status();
}

/// Drops the files from the page cache (`posix_fadvise(DONTNEED)` through GNU dd), as the
/// peers' cold runs do.
fn evict(files: &[PathBuf]) -> Result<()> {
    sync();
    sh(
        "for f in \"$@\"; do dd if=\"$f\" iflag=nocache count=0 status=none; done",
        files,
    )
}

/// The share of the files' bytes in the page cache (`fincore`), if it can be told.
fn residency(files: &[PathBuf]) -> Option<f64> {
    let total: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut resident = 0u64;
    for part in files.chunks(200) {
        let out = Command::new("fincore")
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .args(part)
            .output()
            .ok()?;
        resident += String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|s| s.parse::<u64>().ok())
            .sum::<u64>();
    }
    (total > 0).then(|| resident as f64 / total as f64)
}

/// Seconds to `cat` the files to /dev/null.
fn cat(files: &[PathBuf]) -> Result<f64> {
    let t = Instant::now();
    sh("cat \"$@\" > /dev/null", files)?;
    Ok(t.elapsed().as_secs_f64())
}

/// The rask version of workload `name`, run once.
fn run_once(name: &str, o: &Opts) -> Result<Outcome> {
    let cfg = config(o);
    let scalar = |s: Scalar<f64>| -> Result<Outcome> {
        let (v, st) = s.compute_with_stats(&cfg)?;
        Ok(Outcome::new(v, Some(st)))
    };
    match name {
        "W1_random_mean" => scalar(x(o).mean()),
        "W2_random_sum_axis0" => {
            let (cols, st) = x(o).sum_axes(&[0]).compute_with_stats(&cfg)?;
            Ok(Outcome::new(cols.sum(), Some(st)))
        }
        "W3_elementwise" => {
            let x = x(o);
            scalar(((&x + 1.0) * 2.0 - &x * &x).mean())
        }
        "W4_std" => scalar(x(o).std(0.0)),
        "W5_transpose_add" => {
            let x = x(o);
            scalar((&x + &x.t()).mean())
        }
        "W6_matmul" => {
            let (m, c) = (side(o, 4_000), side(o, 1_000));
            let a = ChunkedArray::<f64>::random(&[m, m], &[c, c]);
            scalar(a.matmul(&a).sum())
        }
        "W7_rechunk" => {
            let n = side(o, 10_000);
            scalar(x(o).rechunk(&[n, side(o, 100)]).sum())
        }
        "W8_ndvi_write" => {
            let st = ndvi(o)?.to_zarr_with(
                ndvi_out(o),
                &ZarrOptions::default().overwrite(true),
                &cfg,
            )?;
            let rows = open_zarr_typed::<f32>(ndvi_out(o))?.shape()[0];
            Ok(Outcome::new(rows as f64, Some(st)))
        }
        "W8_ndvi_mean" => {
            let (v, st) = ndvi(o)?.mean().compute_with_stats(&cfg)?;
            Ok(Outcome::new(v as f64, Some(st)))
        }
        "W8_ndvi_mean_from_store" => {
            let (v, st) = open_zarr_typed::<f32>(ndvi_out(o))?
                .mean()
                .compute_with_stats(&cfg)?;
            Ok(Outcome::new(v as f64, Some(st)))
        }
        "W9_big_mean_warm" | "W9_big_mean_cold" => scalar(open_zarr_typed::<f64>(big(o))?.mean()),
        "W10_map_overlap_smooth" => scalar(x(o).focal_mean(3, Boundary::Reflect).mean()),
        "W12_anomaly_to_zarr" | "W12_anomaly_to_zarr_512MiB" => {
            let x = anomaly_input(o)?;
            let cfg = if name.ends_with("512MiB") {
                cfg.memory_limit(512 << 20)
            } else {
                cfg
            };
            let st = (&x - x.mean_axes(&[0])).to_zarr_with(
                anomaly_out(o),
                &ZarrOptions::default()
                    .compression(Compression::None)
                    .overwrite(true),
                &cfg,
            )?;
            Ok(Outcome::new(f64::NAN, Some(st)))
        }
        "W13_tasks_1e5" | "W14_tasks_1e6" => {
            let blocks = if name == "W13_tasks_1e5" {
                100_000
            } else {
                1_000_000
            };
            let tiny = ChunkedArray::<f64>::ones(&[1_000_000], &[1_000_000 / blocks]).sum();
            let (v, st) = tiny.compute_with_stats(&cfg)?;
            let mut out = Outcome::new(v, None);
            out.extra.insert("tasks".into(), json!(st.tasks));
            out.extra.insert(
                "us_per_task".into(),
                json!(st.wall_s / st.tasks as f64 * 1e6),
            );
            out.stats = Some(st);
            Ok(out)
        }
        other => Err(Error::msg(format!("unknown workload {other}"))),
    }
}

/// Rows of `big.zarr` the anomaly reads: `ANOMALY_ROWS` (the first rows, to fit a full disk),
/// else all 30000.
fn anomaly_rows() -> Option<usize> {
    std::env::var("ANOMALY_ROWS").ok()?.parse().ok()
}

/// The anomaly's input: `big.zarr`, or its first `ANOMALY_ROWS` rows.
fn anomaly_input(o: &Opts) -> Result<ChunkedArray<f64>> {
    let x = open_zarr_typed::<f64>(big(o))?;
    Ok(match anomaly_rows() {
        Some(r) if r < x.shape()[0] => x.slice(ndarray::s![..r, ..]),
        _ => x,
    })
}

/// The value checked against Dask for workloads whose result is a file: the anomaly at one
/// element (row n/2, column n/3), read back after the timed runs.
fn check_value(name: &str, o: &Opts) -> Result<Option<f64>> {
    if !name.starts_with("W12") {
        return Ok(None);
    }
    let a = open_zarr_typed::<f64>(anomaly_out(o))?;
    let (i, j) = (a.shape()[0] / 2, a.shape()[1] / 3);
    let v = a
        .slice(ndarray::s![i..i + 1, j..j + 1])
        .compute_with(&config(o))?;
    Ok(Some(v[[0, 0]]))
}

/// The files whose page-cache residency is recorded before each run, and which a cold run
/// evicts.
fn input_files(name: &str, o: &Opts) -> Vec<PathBuf> {
    if name.starts_with("W9") || name.starts_with("W12") {
        chunk_files(&big(o))
    } else if name == "W8_ndvi_mean_from_store" {
        chunk_files(&ndvi_out(o))
    } else if name.starts_with("W8") {
        chunk_files(&scene(o))
    } else {
        Vec::new()
    }
}

fn mib(bytes: u64) -> f64 {
    (bytes as f64 / (1u64 << 20) as f64 * 10.0).round() / 10.0
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// Times `f` with the peers' policy; returns every time and the last outcome.
fn timed(
    o: &Opts,
    mut before: impl FnMut() -> Result<()>,
    mut f: impl FnMut() -> Result<Outcome>,
) -> Result<(Vec<f64>, Outcome)> {
    let mut times = Vec::new();
    let mut last = None;
    for i in 0..=o.repeats {
        before()?;
        let t = Instant::now();
        let out = f()?;
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
        if i == 0 && times[0] > SLOW_S {
            break;
        }
    }
    Ok((times, last.expect("at least one run")))
}

/// Prints the `RESULT` line of a `run` or `limit`.
fn report(name: &str, kind: &str, o: &Opts, base_rss: u64, times: &[f64], out: Outcome) {
    // The warm-up is reported only when it is the single run.
    let best_i = (1..times.len())
        .min_by(|&a, &b| times[a].total_cmp(&times[b]))
        .unwrap_or(0);
    let policy = if o.repeats == 0 {
        "single run".to_string()
    } else if times.len() == 1 {
        "single run (warm-up > 30 s)".to_string()
    } else {
        format!("best of {} after 1 warm-up", times.len() - 1)
    };
    let peak = out
        .stats
        .as_ref()
        .and_then(|s| s.peak_rss_bytes)
        .into_iter()
        .chain(rask::peak_rss())
        .max()
        .unwrap_or(0);
    let mut row = json!({
        "name": name,
        "engine": "rask",
        "kind": kind,
        "threads": config(o).num_threads(),
        "time_s": round4(times[best_i]),
        "policy": policy,
        "all_times_s": times.iter().map(|&t| round4(t)).collect::<Vec<_>>(),
        "peak_rss_mib": mib(peak),
        "base_rss_mib": mib(base_rss),
        "value": if out.value.is_finite() { json!(out.value) } else { Value::Null },
    });
    let m = row.as_object_mut().expect("object");
    if let Some(s) = &out.stats {
        m.insert(
            "stats".into(),
            json!({
                "tasks": s.tasks,
                "wall_s": round4(s.wall_s),
                "peak_memory_mib": mib(s.peak_memory_bytes as u64),
                "memory_limit_mib": mib(s.memory_limit as u64),
                "read_mib": mib(s.bytes_read),
                "written_mib": mib(s.bytes_written),
                "spilled_mib": mib(s.bytes_spilled),
                "reread_mib": mib(s.bytes_reread),
            }),
        );
    }
    m.extend(out.extra);
    println!("RESULT {row}");
}

/// `run NAME`: the rask workload.
fn cmd_run(name: &str, o: &Opts) -> Result<()> {
    let base = rask::current_rss().unwrap_or(0);
    let files = input_files(name, o);
    if name == "W8_ndvi_mean_from_store" && !ndvi_out(o).exists() {
        run_once("W8_ndvi_write", o)?;
    }
    let cold = name.ends_with("_cold");
    let mut resid = Vec::new();
    let (times, mut out) = timed(
        o,
        || {
            if name.starts_with("W12") {
                // Each run writes 7.2 GB: never keep two copies on the disk at once.
                let _ = std::fs::remove_dir_all(anomaly_out(o));
            }
            if cold {
                evict(&files)?;
            } else {
                sync();
            }
            if !files.is_empty() {
                resid.push(residency(&files).map(|r| (r * 1e4).round() / 1e4));
            }
            Ok(())
        },
        || run_once(name, o),
    )?;
    if name.starts_with("W13") || name.starts_with("W14") {
        // Building the plan alone: the lazy array plus `explain()` (build, merge, lower).
        let blocks = if name.starts_with("W13") {
            100_000
        } else {
            1_000_000
        };
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            let p = ChunkedArray::<f64>::ones(&[1_000_000], &[1_000_000 / blocks])
                .sum()
                .explain();
            best = best.min(t.elapsed().as_secs_f64());
            assert!(!p.is_empty());
        }
        out.extra.insert("plan_build_s".into(), json!(best));
    }
    if let Some(v) = check_value(name, o)? {
        out.value = v;
    }
    if !resid.is_empty() {
        out.extra
            .insert("page_cache_residency_before_each_run".into(), json!(resid));
    }
    report(name, "rask", o, base, &times, out);
    Ok(())
}

/// `limit NAME`: the machine limit for the workload.
fn cmd_limit(name: &str, o: &Opts) -> Result<()> {
    let base = rask::current_rss().unwrap_or(0);
    let kind = WORKLOADS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .ok_or_else(|| Error::msg(format!("unknown workload {name}")))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config(o).num_threads())
        .build()
        .map_err(|e| Error::msg(e.to_string()))?;
    let n = side(o, 10_000);
    let (times, out) = match kind {
        "hand" => {
            let f: fn(usize) -> f64 = match name {
                "W1_random_mean" => hand::mean,
                "W2_random_sum_axis0" => hand::sum_axis0,
                "W3_elementwise" => hand::elementwise,
                "W4_std" => hand::std,
                "W5_transpose_add" => hand::transpose_add,
                "W6_matmul" => hand::matmul,
                "W7_rechunk" => hand::rechunk_sum,
                _ => hand::focal_mean,
            };
            let n = if name == "W6_matmul" {
                side(o, 4_000)
            } else {
                n
            };
            timed(
                o,
                || Ok(()),
                || Ok(Outcome::new(pool.install(|| f(n)), None)),
            )?
        }
        "cat" => {
            let files = input_files(name, o);
            if files.is_empty() {
                return Err(Error::msg(format!("no input files for {name}")));
            }
            let cold = name.ends_with("_cold");
            let mut times = Vec::new();
            for i in 0..=o.repeats {
                if cold {
                    evict(&files)?;
                }
                times.push(cat(&files)?);
                if i == 0 && times[0] > SLOW_S {
                    break;
                }
            }
            (times, Outcome::new(f64::NAN, None))
        }
        "cat+write" => {
            // The anomaly reads the input twice (the column means, then the subtraction) and
            // writes it once: `cat` to /dev/null, then `cat` into one file (page cache).
            let mut files = chunk_files(&big(o));
            if let Some(rows) = anomaly_rows() {
                // Chunk keys `c/i/j`: keep the chunk rows the anomaly reads (2500 rows each).
                let chunk_rows = rows.div_ceil(2_500);
                files.retain(|f| {
                    f.parent()
                        .and_then(|p| p.file_name())
                        .and_then(|n| n.to_str())
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|i| i < chunk_rows)
                });
            }
            let copy = o.data.join("limit-copy.bin");
            let mut times = Vec::new();
            for i in 0..=o.repeats {
                let _ = std::fs::remove_file(&copy);
                sync();
                let t = Instant::now();
                sh("cat \"$@\" > /dev/null", &files)?;
                let mut args = vec![copy.clone()];
                args.extend(files.iter().cloned());
                sh("out=\"$1\"; shift; cat \"$@\" > \"$out\"", &args)?;
                times.push(t.elapsed().as_secs_f64());
                if i == 0 && times[0] > SLOW_S {
                    break;
                }
            }
            let _ = std::fs::remove_file(&copy);
            (times, Outcome::new(f64::NAN, None))
        }
        _ => return Err(Error::msg(format!("{name} has no machine limit"))),
    };
    report(name, kind, o, base, &times, out);
    Ok(())
}

/// `decode NAME`: the read-and-decode limit of a workload whose input is zstd-compressed
/// (the NDVI rows): a hand-written rayon loop that reads every chunk file, decodes it with
/// libzstd (the codec rask and Dask both call) and folds it, or for the write computes the
/// NDVI, encodes it (zstd level 3) and writes each chunk to a file, with nothing else. `cat`
/// is the limit for plain bytes; for compressed chunks the codec, not reading, bounds the run.
fn cmd_decode(name: &str, o: &Opts) -> Result<()> {
    let base = rask::current_rss().unwrap_or(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config(o).num_threads())
        .build()
        .map_err(|e| Error::msg(e.to_string()))?;
    let chunk_len = |array: &Path| -> Result<usize> {
        let z = rask::open_zarr(array)?;
        Ok(z.chunks().iter().product())
    };
    // The write's output: removed and synced before each run (untimed, as for rask), and
    // at the end.
    let scratch = o.data.join("limit-ndvi-write");
    let f: Box<dyn Fn() -> f64 + Send + Sync> = match name {
        "W8_ndvi_mean" => {
            let (red, nir) = (scene(o).join("red"), scene(o).join("nir"));
            let len = chunk_len(&red)?;
            let (r, n) = (chunk_files(&red), chunk_files(&nir));
            if r.is_empty() || r.len() != n.len() {
                return Err(Error::msg(format!("{name}: the bands' chunk files differ")));
            }
            Box::new(move || hand::ndvi_mean_decoded(&r, &n, len))
        }
        "W8_ndvi_write" => {
            let (red, nir) = (scene(o).join("red"), scene(o).join("nir"));
            let len = chunk_len(&red)?;
            let (r, n) = (chunk_files(&red), chunk_files(&nir));
            if r.is_empty() || r.len() != n.len() {
                return Err(Error::msg(format!("{name}: the bands' chunk files differ")));
            }
            let out = scratch.clone();
            Box::new(move || hand::ndvi_write_decoded(&r, &n, len, &out, 3))
        }
        "W8_ndvi_mean_from_store" => {
            let len = chunk_len(&ndvi_out(o))?;
            let files = chunk_files(&ndvi_out(o));
            Box::new(move || hand::mean_decoded(&files, len))
        }
        _ => return Err(Error::msg(format!("{name} has no decode limit"))),
    };
    let clear = || {
        let _ = std::fs::remove_dir_all(&scratch);
    };
    let (times, out) = timed(
        o,
        || {
            clear();
            sync();
            Ok(())
        },
        || Ok(Outcome::new(pool.install(&f), None)),
    )?;
    clear();
    report(name, "read+decode", o, base, &times, out);
    Ok(())
}

/// `membw`: GB/s of summing 2 GB in memory with the configured threads.
fn cmd_membw(o: &Opts) -> Result<()> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config(o).num_threads())
        .build()
        .map_err(|e| Error::msg(e.to_string()))?;
    let bytes = ((2e9 * o.scale.min(1.0)) as usize).max(1 << 24);
    let gbps = pool.install(|| hand::memory_bandwidth(bytes));
    println!(
        "RESULT {}",
        json!({"name": "memory_bandwidth", "engine": "hand", "kind": "membw",
               "threads": config(o).num_threads(), "GBps": (gbps * 100.0).round() / 100.0,
               "bytes": bytes})
    );
    Ok(())
}

fn parse() -> Result<(String, Option<String>, Opts)> {
    let mut o = Opts {
        threads: 0,
        data: PathBuf::from("/tmp/peerdata"),
        scale: 1.0,
        repeats: 3,
    };
    let mut pos = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Error::msg(format!("{a} needs a value")))
        };
        let bad = |a: &str| Error::msg(format!("bad value for {a}"));
        match a.as_str() {
            "--threads" => o.threads = value()?.parse().map_err(|_| bad("--threads"))?,
            "--data" => o.data = PathBuf::from(value()?),
            "--scale" => o.scale = value()?.parse().map_err(|_| bad("--scale"))?,
            "--repeats" => o.repeats = value()?.parse().map_err(|_| bad("--repeats"))?,
            _ => pos.push(a),
        }
    }
    let mut pos = pos.into_iter();
    let cmd = pos
        .next()
        .ok_or_else(|| Error::msg("usage: compare list | run NAME | limit NAME | membw"))?;
    Ok((cmd, pos.next(), o))
}

fn main() -> Result<()> {
    let (cmd, name, o) = parse()?;
    let need = || {
        name.clone()
            .ok_or_else(|| Error::msg(format!("{cmd} needs a workload")))
    };
    match cmd.as_str() {
        "list" => {
            for (n, k) in WORKLOADS {
                println!("{n} {k}");
            }
            Ok(())
        }
        "run" => cmd_run(&need()?, &o),
        "limit" => cmd_limit(&need()?, &o),
        "membw" => cmd_membw(&o),
        "decode" => cmd_decode(&need()?, &o),
        other => Err(Error::msg(format!("unknown command {other}"))),
    }
}

#[cfg(test)]
mod tests {
    //! Smoke test (`cargo test --example compare`): every in-memory workload at a small
    //! scale, checked against its hand-written loop. No timing is asserted.
    use super::*;

    #[test]
    fn in_memory_workloads_match_their_hand_loops() {
        let o = Opts {
            threads: 2,
            data: PathBuf::from("/nonexistent"),
            scale: 0.03,
            repeats: 0,
        };
        let n = side(&o, 10_000);
        type Hand = fn(usize) -> f64;
        let cases: [(&str, Hand, usize); 7] = [
            ("W1_random_mean", hand::mean, n),
            ("W2_random_sum_axis0", hand::sum_axis0, n),
            ("W3_elementwise", hand::elementwise, n),
            ("W4_std", hand::std, n),
            ("W5_transpose_add", hand::transpose_add, n),
            ("W7_rechunk", hand::rechunk_sum, n),
            ("W10_map_overlap_smooth", hand::focal_mean, n),
        ];
        for (name, f, n) in cases {
            let r = run_once(name, &o).unwrap().value;
            let h = f(n);
            assert!(
                (r - h).abs() <= 1e-9 * h.abs().max(1.0),
                "{name}: rask {r} vs hand {h}"
            );
        }
        let m = side(&o, 4_000);
        let r = run_once("W6_matmul", &o).unwrap().value;
        let h = hand::matmul(m);
        assert!((r - h).abs() <= 1e-9 * h.abs(), "W6: rask {r} vs hand {h}");
        let t = run_once("W13_tasks_1e5", &o).unwrap();
        assert_eq!(t.value, 1e6);
    }
}
