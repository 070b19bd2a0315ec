//! The mean of a 10000×10000 random array in 1000×1000 blocks: the README's main job.
//!
//! `cargo run --release --example random_mean [-- --threads N]`

use std::time::Instant;

use rask::prelude::*;

fn main() -> rask::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let config = Config::default().threads(threads);
    let x = ChunkedArray::<f64>::random(&[10_000, 10_000], &[1_000, 1_000]);
    let mean = x.mean();
    println!("{}", mean.explain());
    let t = Instant::now();
    let (m, stats) = mean.compute_with_stats(&config)?;
    let wall = t.elapsed().as_secs_f64();
    println!(
        "mean = {m:.10}  ({} elements, {} tasks, {} threads, {wall:.3} s, {:.2} GB/s generated)",
        x.len(),
        stats.tasks,
        config.num_threads(),
        x.nbytes() as f64 / wall / 1e9
    );
    Ok(())
}
