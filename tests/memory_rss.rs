//! The memory contract measured the way a user would: the process's peak resident memory
//! while computing the anomaly of data several times larger than the budget stays within the
//! budget plus a fixed overhead. One test in its own binary, so no other test's memory counts.

use ndarray::{ArrayD, IxDyn};
use rask::prelude::*;

#[test]
fn peak_rss_stays_within_the_budget() {
    if rask::peak_rss().is_none() {
        eprintln!("skipped: this OS does not report peak resident memory");
        return;
    }
    // 400 MB of f64 in 6.5 MB blocks, produced by a closure (not cheap to re-read, so the
    // anomaly's second pass must be served from spill files), with a 64 MiB budget.
    let (rows, cols, rc, cc) = (4096, 12_800, 512, 1_600);
    let x = ChunkedArray::<f64>::from_blocks(&[rows, cols], &[rc, cc], move |b| {
        Ok(ArrayD::from_shape_fn(IxDyn(&[rc, cc]), |i| {
            (((b[0] * rc + i[0]) * 7 + (b[1] * cc + i[1]) * 13) % 1009) as f64
        }))
    });
    let anomaly_max = (&x - x.mean_axes(&[0])).abs().max();
    let limit: usize = 64 << 20;
    let base = rask::current_rss().unwrap();
    let (m, stats) = anomaly_max
        .compute_with_stats(&Config::default().threads(2).memory_limit(limit))
        .unwrap();
    assert!(m > 0.0);
    let peak = stats.peak_rss_bytes.expect("peak RSS measured");
    let overhead: u64 = 48 << 20;
    eprintln!(
        "baseline {} MB, peak {} MB, pool peak {} MB, spilled {} MB",
        base >> 20,
        peak >> 20,
        stats.peak_memory_bytes >> 20,
        stats.bytes_spilled >> 20
    );
    assert!(stats.peak_memory_bytes <= limit, "{stats:?}");
    assert!(stats.bytes_spilled >= 200 << 20, "{stats:?}");
    assert!(
        peak <= base + limit as u64 + overhead,
        "peak RSS {peak} over baseline {base} + limit {limit} + {overhead}: {stats:?}"
    );
}
