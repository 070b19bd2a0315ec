//! The memory budget: runs stay within `Config::memory_limit` by spilling blocks to mapped
//! files, give the same values as unlimited runs, report what they spilled, clean up their
//! spill directory, and refuse before running a plan whose single task cannot fit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, IxDyn};
use rask::prelude::*;

/// A source that is not cheap to re-read (a user closure), so pressure must spill it.
fn source(shape: &[usize], chunks: &[usize]) -> ChunkedArray<f64> {
    let cols = shape[1];
    let ch = chunks.to_vec();
    ChunkedArray::from_blocks(shape, chunks, move |b| {
        let (r0, c0) = (b[0] * ch[0], b[1] * ch[1]);
        let rows = ch[0];
        Ok(ArrayD::from_shape_fn(IxDyn(&[rows, ch[1]]), |i| {
            let (r, c) = (r0 + i[0], c0 + i[1]);
            ((r * cols + c) % 977) as f64 * 0.5
        }))
    })
}

fn private_spill_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("rask-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn the_anomaly_stays_within_the_limit_and_matches() {
    // 16 MB of data in 1 MB blocks; the anomaly reads every block twice, once for the column
    // means and once for the subtraction, so an 4 MiB budget must spill.
    let x = source(&[1024, 2048], &[256, 512]);
    let anomaly = &x - x.mean_axes(&[0]);
    let want = anomaly.compute_with(&Config::default()).unwrap();
    for threads in [1, 2, 3] {
        let dir = private_spill_dir(&format!("anomaly{threads}"));
        let limit = 4 << 20;
        let cfg = Config::default()
            .threads(threads)
            .memory_limit(limit)
            .spill_dir(&dir);
        let (got, stats) = anomaly.compute_with_stats(&cfg).unwrap();
        assert_eq!(got, want, "{threads} threads");
        assert!(
            stats.peak_memory_bytes <= limit,
            "{threads} threads: peak {} over the limit {limit}",
            stats.peak_memory_bytes
        );
        assert!(stats.bytes_spilled > 0, "{stats:?}");
        assert_eq!(stats.memory_limit, limit);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the run's spill directory is removed"
        );
        std::fs::remove_dir(&dir).unwrap();
    }
}

#[test]
fn without_pressure_nothing_spills() {
    let x = source(&[512, 512], &[128, 128]);
    let (_, stats) = (&x - x.mean_axes(&[0]))
        .sum()
        .compute_with_stats(&Config::default().memory_limit(1 << 30))
        .unwrap();
    assert_eq!(stats.bytes_spilled, 0);
    assert_eq!(stats.blocks_reread, 0);
}

#[test]
fn rows_to_columns_rechunk_within_the_limit() {
    // Row blocks to column blocks: every output block reads a piece of every input block.
    let x = source(&[1024, 1024], &[64, 1024]);
    let y = x.rechunk(&[1024, 64]);
    let want = x.compute().unwrap();
    let limit = 3 << 20;
    let (got, stats) = y
        .compute_with_stats(&Config::default().threads(2).memory_limit(limit))
        .unwrap();
    assert_eq!(got, want);
    assert!(stats.peak_memory_bytes <= limit, "{stats:?}");
    assert!(stats.bytes_spilled > 0, "{stats:?}");
}

#[test]
fn a_task_that_cannot_fit_is_refused_before_running() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let x = ChunkedArray::<f64>::from_blocks(&[4000, 4000], &[2000, 2000], move |_| {
        r.fetch_add(1, Ordering::Relaxed);
        Ok(ArrayD::zeros(IxDyn(&[2000, 2000])))
    });
    let e = (&x + 1.0)
        .sum()
        .compute_with(&Config::default().memory_limit(16 << 20))
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::OutOfMemory { .. }), "{msg}");
    for part in ["32000000", "16777216", "chunks of at most", "[1000, 500]"] {
        assert!(msg.contains(part), "{msg:?} does not mention {part:?}");
    }
    assert_eq!(runs.load(Ordering::Relaxed), 0, "nothing ran");
}

#[test]
fn a_full_spill_store_is_an_error_and_leaves_no_files() {
    let x = source(&[1024, 2048], &[256, 512]);
    let dir = private_spill_dir("full");
    let cfg = Config::default()
        .memory_limit(4 << 20)
        .spill_dir(&dir)
        .spill_limit(2 << 20);
    let e = (&x - x.mean_axes(&[0])).compute_with(&cfg).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("spill limit"), "{msg}");
    assert!(msg.contains(&dir.display().to_string()), "{msg}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir(&dir).unwrap();
    // The pool is still usable.
    assert_eq!(x.sum().compute().unwrap(), x.compute().unwrap().sum());
}

#[test]
fn an_unwritable_spill_dir_is_an_error_naming_it() {
    let x = source(&[1024, 2048], &[256, 512]);
    let cfg = Config::default()
        .memory_limit(4 << 20)
        .spill_dir("/proc/rask-cannot-write-here");
    let e = (&x - x.mean_axes(&[0])).compute_with(&cfg).unwrap_err();
    assert!(
        e.to_string().contains("/proc/rask-cannot-write-here"),
        "{e}"
    );
}

#[test]
fn slow_consumers_throttle_sources() {
    // Sources must not run far ahead of their consumers: with a tight budget the number of
    // source blocks alive at once stays bounded.
    let alive = Arc::new(Mutex::new((0usize, 0usize)));
    let a = alive.clone();
    let x = ChunkedArray::<f64>::from_blocks(&[64 * 256, 256], &[256, 256], move |_| {
        let mut g = a.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
        Ok(ArrayD::from_elem(IxDyn(&[256, 256]), 1.0))
    });
    let d = alive.clone();
    let y = x.map_blocks(move |b, _| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        d.lock().unwrap().0 -= 1;
        Ok(b.to_owned())
    });
    let block = 256 * 256 * 8;
    let limit = 6 * block;
    let (s, stats) = y
        .sum()
        .compute_with_stats(&Config::default().threads(2).memory_limit(limit))
        .unwrap();
    assert_eq!(s, (64 * 256 * 256) as f64);
    assert!(stats.peak_memory_bytes <= limit, "{stats:?}");
    assert!(alive.lock().unwrap().1 <= 6, "{:?}", alive.lock().unwrap());
}

#[test]
fn the_limit_comes_from_the_environment() {
    // Only this test sets the variable, and only the default configuration reads it.
    // SAFETY: no other thread of this test binary reads or writes the environment.
    unsafe { std::env::set_var("RASK_MEMORY_LIMIT", "48MiB") };
    assert_eq!(
        Config::default().effective_memory_limit().unwrap(),
        48 << 20
    );
    assert_eq!(
        Config::default()
            .memory_limit(1000)
            .effective_memory_limit()
            .unwrap(),
        1000
    );
    unsafe { std::env::set_var("RASK_MEMORY_LIMIT", "a lot") };
    let e = Config::default().effective_memory_limit().unwrap_err();
    assert!(e.to_string().contains("RASK_MEMORY_LIMIT"), "{e}");
    unsafe { std::env::remove_var("RASK_MEMORY_LIMIT") };
}

#[test]
fn zarr_blocks_are_read_again_rather_than_spilled() {
    let dir = private_spill_dir("reread");
    let path = dir.join("x.zarr");
    let x = ChunkedArray::<f64>::random_seeded(&[1024, 2048], &[256, 512], 7);
    x.to_zarr(
        &path,
        &ZarrOptions::default().compression(Compression::None),
    )
    .unwrap();
    let z = rask::open_zarr_typed::<f64>(&path).unwrap();
    let anomaly = &z - z.mean_axes(&[0]);
    let (want, free) = anomaly.compute_with_stats(&Config::default()).unwrap();
    assert_eq!(free.bytes_read, 16 << 20, "each block read once: {free:?}");
    let limit = 4 << 20;
    let (got, stats) = anomaly
        .compute_with_stats(&Config::default().memory_limit(limit).spill_dir(&dir))
        .unwrap();
    assert_eq!(got, want);
    assert!(stats.peak_memory_bytes <= limit, "{stats:?}");
    assert!(stats.blocks_reread > 0, "{stats:?}");
    // The source's blocks are read again, never spilled (small derived blocks, such as the
    // column means, may be).
    assert!(stats.bytes_spilled < 1 << 20, "{stats:?}");
    assert_eq!(
        stats.bytes_read,
        (16 << 20) + stats.bytes_reread,
        "{stats:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_roomy_budget_does_not_hold_the_whole_input_for_a_later_reader() {
    // 64 MiB of data under a 256 MiB budget: it would all fit, but the blocks waiting for
    // their second reader (the subtraction, which waits for the column means) are a cache
    // of at most an eighth of the budget, 32 MiB; the rest is read again.
    let dir = private_spill_dir("roomy");
    let path = dir.join("x.zarr");
    let x = ChunkedArray::<f64>::random_seeded(&[2048, 4096], &[256, 512], 11);
    x.to_zarr(
        &path,
        &ZarrOptions::default().compression(Compression::None),
    )
    .unwrap();
    let z = rask::open_zarr_typed::<f64>(&path).unwrap();
    let a = &z - z.mean_axes(&[0]);
    let ss = (&a * &a).sum();
    let want = {
        let v = x.compute().unwrap();
        let m = v.mean_axis(ndarray::Axis(0)).unwrap();
        (&v - &m).mapv(|d| d * d).sum()
    };
    let limit = 256 << 20;
    for threads in [1, 2] {
        let cfg = Config::default()
            .threads(threads)
            .memory_limit(limit)
            .spill_dir(&dir);
        let (got, stats) = ss.compute_with_stats(&cfg).unwrap();
        assert!((got - want).abs() <= 1e-9 * want, "{got} vs {want}");
        assert!(
            stats.peak_memory_bytes < 40 << 20,
            "{threads} threads: peak {} MiB, want at most the 32 MiB cache and the running tasks \
             (read again: {} MiB)",
            stats.peak_memory_bytes >> 20,
            stats.bytes_reread >> 20
        );
        assert!(stats.bytes_reread > 0, "nothing read again");
        assert_eq!(stats.bytes_spilled, 0, "nothing spilled");
        assert_eq!(stats.bytes_read, (64 << 20) + stats.bytes_reread);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plain_zarr_chunks_are_read_directly_and_checked() {
    // Uncompressed chunks are read straight into pooled buffers; a short chunk file is an
    // error naming its key, a missing one reads as the fill value.
    let dir = private_spill_dir("rawzarr");
    let path = dir.join("x.zarr");
    let x = ChunkedArray::<i32>::arange(60, 7)
        .reshape(&[6, 10])
        .rechunk(&[3, 4]);
    x.to_zarr(
        &path,
        &ZarrOptions::default().compression(Compression::None),
    )
    .unwrap();
    let z = rask::open_zarr_typed::<i32>(&path).unwrap();
    assert_eq!(z.compute().unwrap(), x.compute().unwrap());
    std::fs::remove_file(path.join("c/1/0")).unwrap();
    let mut want = x.compute().unwrap();
    want.slice_mut(ndarray::s![3.., ..4]).fill(0);
    assert_eq!(z.compute().unwrap(), want);
    let chunk = path.join("c/0/1");
    let bytes = std::fs::read(&chunk).unwrap();
    std::fs::write(&chunk, &bytes[..10]).unwrap();
    let e = z.sum().compute().unwrap_err().to_string();
    assert!(e.contains("c/0/1") && e.contains("expected 48"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
