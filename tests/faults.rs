//! Injected faults: storage that fails the Nth chunk read or write, returns a short read or
//! corrupted bytes, and spill writes that find the disk full. Every case must give an `Err`
//! naming the chunk (or spill file), stop the run within a bounded number of further reads,
//! leave no worker busy, remove the spill directory, leave no output that looks complete, and
//! leave the engine usable. Also: user closures that fail or panic in `map_blocks`,
//! `map_overlap` and `from_blocks`, and files truncated while they are read.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use rask::ZarrFormat;
use rask::io::faults::FaultPlan;
use rask::prelude::*;

fn tmpdir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rask-faults-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Names in `dir` (sorted).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The chunk key an error names, wherever it sits in the chain.
fn chunk_key(e: &Error) -> Option<String> {
    match e {
        Error::Storage { key, .. } => key.clone(),
        Error::Block { source, .. } => chunk_key(source),
        _ => None,
    }
}

/// A computation that must still succeed after a failed run with `cfg`.
fn still_works(cfg: &Config) {
    let x = ChunkedArray::<f64>::ones(&[40, 30], &[7, 9]);
    assert_eq!(x.sum().compute_with(cfg).unwrap(), 1200.0);
}

/// Threads of this process now (Linux).
fn threads_now() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Every byte of every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

const SHAPE: [usize; 2] = [256, 192];
const CHUNKS: [usize; 2] = [32, 24]; // 8 x 8 = 64 chunks

/// An input array written with `compression` (and `shards`).
fn input(dir: &Path, name: &str, compression: Compression, shards: Option<&[usize]>) -> PathBuf {
    let p = dir.join(name);
    let mut o = ZarrOptions::default()
        .chunks(&CHUNKS)
        .compression(compression);
    if let Some(s) = shards {
        o = o.shards(s);
    }
    ChunkedArray::<f64>::random_seeded(&SHAPE, &[64, 64], 5)
        .to_zarr(&p, &o)
        .unwrap();
    p
}

fn expected_sum() -> f64 {
    ChunkedArray::<f64>::random_seeded(&SHAPE, &CHUNKS, 5)
        .sum()
        .compute()
        .unwrap()
}

#[test]
fn read_faults_name_the_chunk_and_stop_the_run() {
    let dir = tmpdir("read");
    let plain = input(&dir, "plain.zarr", Compression::None, None);
    let zstd = input(&dir, "zstd.zarr", Compression::Zstd { level: 1 }, None);
    let sharded = input(
        &dir,
        "sharded.zarr",
        Compression::Zstd { level: 1 },
        Some(&[64, 48]),
    );
    let before = snapshot(&dir);
    let want = expected_sum();
    let cfg = Config::default().threads(2).task_window(8);
    let threads = threads_now();
    let mut cases = 0;
    for (label, path, blocks) in [
        ("plain", &plain, None),
        ("zstd", &zstd, None),
        ("plain, blocks of 4 chunks", &plain, Some(&[64, 48][..])),
        ("sharded", &sharded, None),
    ] {
        for kind in ["fail", "short", "corrupt"] {
            if kind == "corrupt" && label.starts_with("plain") {
                // Plain bytes carry no checksum: a corrupted plain chunk reads as other values.
                continue;
            }
            for at in [1u64, 5, 17] {
                let mut plan = FaultPlan::default();
                match kind {
                    "fail" => plan.fail_read_at = Some(at),
                    "short" => plan.short_read_at = Some(at),
                    _ => plan.corrupt_at = Some(at),
                }
                let faults = plan.arm();
                let z = match blocks {
                    Some(b) => rask::open_zarr_with(path, b).unwrap(),
                    None => rask::open_zarr(path).unwrap(),
                };
                let x = z.with_faults(&faults).unwrap().into_typed::<f64>().unwrap();
                let e = (&x * 2.0).sum().compute_with(&cfg);
                let fired = faults.fired();
                if fired.is_empty() {
                    // Fewer reads than `at` (a sharded array reads few objects).
                    assert!(faults.reads() < at, "{label}/{kind}@{at}: {e:?}");
                    assert_eq!(e.unwrap(), 2.0 * want);
                    continue;
                }
                cases += 1;
                let e = e.expect_err(&format!("{label}/{kind}@{at}: the run succeeded"));
                let key = chunk_key(&e)
                    .unwrap_or_else(|| panic!("{label}/{kind}@{at}: no chunk key in {e}"));
                // The key named is the key the fault fired on.
                assert!(
                    fired[0].contains(&format!(" of {key}:")),
                    "{label}/{kind}@{at}: {e} / {fired:?}"
                );
                assert!(e.to_string().contains(&format!("(chunk {key})")), "{e}");
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
                // The run stopped: after the failing read, at most a window of tasks ran
                // (each reading a shard's index and then its chunk when sharded).
                let per_task = if label == "sharded" { 2 } else { 1 };
                assert!(
                    faults.reads() <= at + per_task * (8 + 2),
                    "{label}/{kind}@{at}: {} reads after a fault at {at}",
                    faults.reads()
                );
                still_works(&cfg);
            }
        }
    }
    eprintln!("read faults: {cases} cases fired, each an Err naming its chunk");
    assert!(cases >= 25, "{cases} fault cases fired");
    // The inputs are untouched, no thread was left behind.
    assert_eq!(snapshot(&dir), before);
    if let (Some(a), Some(b)) = (threads, threads_now()) {
        assert!(b <= a + 2, "threads {a} -> {b}"); // the pool of 2 may be new
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn write_faults_leave_no_output() {
    let dir = tmpdir("write");
    let x = ChunkedArray::<f64>::random_seeded(&SHAPE, &[64, 64], 9);
    let cfg = Config::default().threads(2).task_window(8);
    let mut cases = 0;
    for (label, opts) in [
        (
            "plain",
            ZarrOptions::default()
                .chunks(&CHUNKS)
                .compression(Compression::None),
        ),
        ("zstd", ZarrOptions::default().chunks(&CHUNKS)),
        (
            "sharded",
            ZarrOptions::default().chunks(&CHUNKS).shards(&[64, 48]),
        ),
        (
            "v2",
            ZarrOptions::default()
                .chunks(&CHUNKS)
                .format(ZarrFormat::V2),
        ),
    ] {
        for at in [1u64, 4, 13] {
            let faults = FaultPlan {
                fail_write_at: Some(at),
                ..FaultPlan::default()
            }
            .arm();
            let out = dir.join(format!("{label}-{at}.zarr"));
            let e = x.to_zarr_with(&out, &opts.clone().faults(&faults), &cfg);
            if faults.fired().is_empty() {
                assert!(faults.writes() < at, "{label}@{at}: {e:?}");
                e.unwrap();
                std::fs::remove_dir_all(&out).unwrap();
                continue;
            }
            cases += 1;
            let e = e.expect_err(&format!("{label}@{at}: the write succeeded"));
            let key = chunk_key(&e).unwrap_or_else(|| panic!("{label}@{at}: no chunk key in {e}"));
            assert!(faults.fired()[0].contains(&format!(" of {key}:")), "{e}");
            assert!(e.to_string().contains("to_zarr"), "{e}");
            assert!(
                faults.writes() <= at + 8 + 2,
                "{label}@{at}: {} writes",
                faults.writes()
            );
            // Nothing is left: no output, no staging directory.
            assert_eq!(listing(&dir), Vec::<String>::new(), "{label}@{at}");
            still_works(&cfg);
        }
    }
    eprintln!("write faults: {cases} cases fired, each an Err naming its chunk, no output left");
    assert!(cases >= 10, "{cases}");
    // A fault in reading the input of a write leaves no output either.
    let src = input(&dir, "src.zarr", Compression::None, None);
    let faults = FaultPlan {
        fail_read_at: Some(9),
        ..FaultPlan::default()
    }
    .arm();
    let y = rask::open_zarr(&src)
        .unwrap()
        .with_faults(&faults)
        .unwrap()
        .into_typed::<f64>()
        .unwrap();
    let e = (&y + 1.0).to_zarr_with(dir.join("out.zarr"), &ZarrOptions::default(), &cfg);
    assert!(chunk_key(&e.unwrap_err()).is_some());
    assert_eq!(listing(&dir), vec!["src.zarr".to_string()]);
    std::fs::remove_dir_all(dir).ok();
}

/// A plan that must spill: blocks made by a closure (not re-readable), each read by every
/// column block of a rows-to-columns rechunk, under a budget far below the data.
fn spilling_plan() -> ChunkedArray<f64> {
    let (rows, cols) = (1024, 1024);
    ChunkedArray::<f64>::from_blocks(&[rows, cols], &[64, cols], move |b| {
        Ok(ArrayD::from_shape_fn(IxDyn(&[64, cols]), |i| {
            ((b[0] * 64 + i[0]) * 3 + i[1]) as f64
        }))
    })
    .rechunk(&[rows, 64])
}

#[test]
fn a_full_spill_disk_is_an_error_and_leaves_nothing() {
    let x = spilling_plan();
    let spill = tmpdir("spill");
    let base = Config::default()
        .threads(2)
        .memory_limit(2 << 20)
        .spill_dir(&spill);
    // The plan does spill, and within the budget.
    let (want, stats) = x.sum().compute_with_stats(&base).unwrap();
    assert!(stats.blocks_spilled >= 4, "{stats:?}");
    assert!(stats.peak_memory_bytes <= 2 << 20, "{stats:?}");
    for at in [1u64, 3, 7] {
        let faults = FaultPlan {
            spill_full_at: Some(at),
            ..FaultPlan::default()
        }
        .arm();
        let e = x
            .sum()
            .compute_with(&base.clone().faults(&faults))
            .unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("spill") && s.contains("No space left on device"),
            "{s}"
        );
        assert!(
            s.contains(&spill.display().to_string()),
            "names the spill file: {s}"
        );
        assert_eq!(
            listing(&spill),
            Vec::<String>::new(),
            "the spill directory is removed"
        );
        // Nothing was lost: the same plan runs again.
        assert_eq!(x.sum().compute_with(&base).unwrap(), want);
    }
    std::fs::remove_dir_all(spill).ok();
}

#[test]
fn user_closures_that_fail_name_the_op_and_block() {
    let cfg = Config::default().threads(2);
    let x = ChunkedArray::<f64>::ones(&[40, 40], &[10, 10]);
    // map_overlap: an error, then a panic.
    let err = x.map_overlap(&[1, 1], Boundary::Constant(0.0), |v, idx| {
        if idx == [2, 3] {
            return Err(Error::msg("bad halo"));
        }
        Ok(v.to_owned())
    });
    let e = err.sum().compute_with(&cfg).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("map_overlap") && s.contains("[2, 3]") && s.contains("bad halo"),
        "{s}"
    );
    still_works(&cfg);
    let panics = x.map_overlap(&[2, 0], Boundary::Reflect, |v, idx| {
        if idx == [1, 0] {
            panic!("overlap boom");
        }
        Ok(v.to_owned())
    });
    let e = panics.sum().compute_with(&cfg).unwrap_err();
    match &e {
        Error::Panicked { op, block, message } => {
            assert!(op.contains("map_overlap"), "{op}");
            assert_eq!(block, &vec![1, 0]);
            assert_eq!(message, "overlap boom");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    still_works(&cfg);
    // from_blocks: a panic with a formatted message, then the engine is fine.
    let fb = ChunkedArray::<f32>::from_blocks(&[20], &[5], |b| {
        if b == [3] {
            panic!("block {b:?} is cursed");
        }
        Ok(ArrayD::zeros(IxDyn(&[5])))
    });
    let e = fb.sum().compute_with(&cfg).unwrap_err();
    let s = e.to_string();
    assert!(
        s.contains("from_blocks") && s.contains("[3]") && s.contains("cursed"),
        "{s}"
    );
    still_works(&cfg);
}

/// An `.npy` file truncated by someone else while a compute over it runs: an `Err` naming
/// the file, never `SIGBUS` (with the default positioned reads).
#[test]
fn an_npy_truncated_while_read_is_an_error() {
    let dir = tmpdir("trunc");
    let p = dir.join("x.npy");
    let (rows, cols) = (2048, 1024); // 16 MiB of f64 in 64 row bands
    ChunkedArray::<f64>::ones(&[rows, cols], &[32, cols])
        .to_npy(&p)
        .unwrap();
    let x = rask::open_npy::<f64>(&p, &[32, cols]).unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = seen.clone();
    let slow = x.map_blocks(move |b, _| {
        s2.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(5));
        Ok(b.to_owned())
    });
    let cfg = Config::default().threads(2);
    std::thread::scope(|s| {
        let run = s.spawn(|| slow.sum().compute_with(&cfg));
        while seen.load(Ordering::SeqCst) < 8 {
            std::thread::yield_now();
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(4096)
            .unwrap();
        let e = run.join().unwrap().unwrap_err();
        let s = e.to_string();
        assert!(s.contains("open_npy") && s.contains("x.npy"), "{s}");
    });
    still_works(&cfg);
    std::fs::remove_dir_all(dir).ok();
}

/// Found by the fuzzer: a first block of a Zarr array of shape [6, 2^32] in chunks of [3, 5]
/// made the scheduler size per-block tables for all 1.7 × 10^9 blocks of the source (and
/// abort on the 1.7 GB allocation). A small slice of a huge stage now costs what it reads.
#[test]
fn a_small_slice_of_a_huge_stage_costs_little() {
    let x = ChunkedArray::<f32>::ones(&[6, 1 << 32], &[3, 5]).map_blocks(|b, _| Ok(b.to_owned()));
    let t = std::time::Instant::now();
    let first = x.blocks(&[0, 0]).compute().unwrap();
    assert_eq!(first, ArrayD::from_elem(IxDyn(&[3, 5]), 1.0f32));
    let corner = x.slice(ndarray::s![4.., -7..]).sum().compute().unwrap();
    assert_eq!(corner, 14.0);
    assert!(t.elapsed().as_secs() < 60, "{:?}", t.elapsed());
}
