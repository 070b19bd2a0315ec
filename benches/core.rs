//! Core benchmarks: rask against a hand-written rayon loop doing the same arithmetic, and the
//! scheduler's cost per task.
//!
//! `cargo bench --bench core` (about three minutes). Filter with `cargo bench --bench core -- W3`;
//! set `RASK_BENCH_EXPLAIN=1` to print the plans of W1-W4 first.
//! Each workload group has a `rask` and a `hand` entry, so the ratio of the two is the cost of
//! the engine over the best we could write by hand for that one computation. The random
//! inputs of the hand-written loops use rask's own counter-based generator, so both sides
//! generate exactly the same 10^8 values. Dask's figures for the same workloads on the same
//! machine are in `docs/BENCHMARKS.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use rask::kernels::random::{bits, seed_key, unit_f64};
use rask::prelude::*;
use rayon::prelude::*;

/// Side of the square random array (10^8 elements, 800 MB as f64 if it were stored).
const N: usize = 10_000;
/// Side of its square chunks (100 blocks of 8 MB).
const CH: usize = 1_000;
/// Rows per parallel work item in the hand-written loops.
const BAND: usize = 100;

/// The rask input of W1-W4: uniform [0, 1) with seed 0.
fn x() -> ChunkedArray<f64> {
    ChunkedArray::<f64>::random(&[N, N], &[CH, CH])
}

/// Element `i` of rask's random array with seed 0.
#[inline(always)]
fn value(key: u64, i: u64) -> f64 {
    unit_f64(bits(key, i))
}

/// `sum(f(x_i))` over `i` in `0..len`, with eight accumulators (as rask's kernels sum).
#[inline(always)]
fn sum8(len: usize, x: impl Fn(usize) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut i = 0;
    while i + 8 <= len {
        for (k, a) in acc.iter_mut().enumerate() {
            *a += x(i + k);
        }
        i += 8;
    }
    let mut tail = 0.0;
    for j in i..len {
        tail += x(j);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// `sum(f(x_i))` for `len` consecutive generated elements from `start`.
#[inline(always)]
fn sum_gen(key: u64, start: u64, len: usize, f: impl Fn(f64) -> f64) -> f64 {
    sum8(len, |i| f(value(key, start + i as u64)))
}

/// W1 by hand: the mean of the generated values, one row per parallel item.
fn hand_mean() -> f64 {
    let key = seed_key(0);
    let s: f64 = (0..N)
        .into_par_iter()
        .map(|r| sum_gen(key, (r * N) as u64, N, |v| v))
        .sum();
    s / (N * N) as f64
}

/// W2 by hand: per-column sums, each band of rows summed into its own vector, then merged.
fn hand_sum_axis0() -> Vec<f64> {
    let key = seed_key(0);
    (0..N / BAND)
        .into_par_iter()
        .map(|band| {
            let mut acc = vec![0.0f64; N];
            for r in band * BAND..(band + 1) * BAND {
                let base = (r * N) as u64;
                for (c, a) in acc.iter_mut().enumerate() {
                    *a += value(key, base + c as u64);
                }
            }
            acc
        })
        .reduce(
            || vec![0.0f64; N],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// W3 by hand: `mean((x + 1) * 2 - x * x)`, fused by hand.
fn hand_elementwise() -> f64 {
    let key = seed_key(0);
    let s: f64 = (0..N)
        .into_par_iter()
        .map(|r| sum_gen(key, (r * N) as u64, N, |v| (v + 1.0) * 2.0 - v * v))
        .sum();
    s / (N * N) as f64
}

/// W4 by hand: two passes per row over a reused buffer, rows merged with Chan's update.
fn hand_std() -> f64 {
    let key = seed_key(0);
    // (count, mean, sum of squared deviations)
    let merge = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        if a.0 == 0.0 {
            return b;
        }
        let n = a.0 + b.0;
        let d = b.1 - a.1;
        (n, a.1 + d * (b.0 / n), a.2 + b.2 + d * d * (a.0 * b.0 / n))
    };
    let (n, _, m2) = (0..N)
        .into_par_iter()
        .map_init(
            || vec![0.0f64; N],
            |buf, r| {
                let base = (r * N) as u64;
                for (c, v) in buf.iter_mut().enumerate() {
                    *v = value(key, base + c as u64);
                }
                let mean = sum8(N, |i| buf[i]) / N as f64;
                let m2 = sum8(N, |i| (buf[i] - mean) * (buf[i] - mean));
                (N as f64, mean, m2)
            },
        )
        .reduce(|| (0.0, 0.0, 0.0), merge);
    (m2 / n).sqrt()
}

/// A group whose samples each run the same number of iterations: these benchmarks take
/// 0.1-3 s per iteration, for which criterion's default linear sampling would run 55
/// iterations per benchmark.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g
}

fn workloads(c: &mut Criterion) {
    // Check once that both sides compute the same thing before timing them.
    let m = x().mean().compute().unwrap();
    assert!((m - hand_mean()).abs() < 1e-12, "W1 differs");
    let e = ((&x() + 1.0) * 2.0 - &x() * &x()).mean().compute().unwrap();
    assert!((e - hand_elementwise()).abs() < 1e-12, "W3 differs");
    let s = x().std(0.0).compute().unwrap();
    assert!((s - hand_std()).abs() < 1e-12, "W4 differs");
    let cols = x().sum_axes(&[0]).compute().unwrap();
    let hand_cols = hand_sum_axis0();
    assert!(
        cols.iter()
            .zip(&hand_cols)
            .all(|(a, b)| (a - b).abs() < 1e-9),
        "W2 differs"
    );
    if std::env::var_os("RASK_BENCH_EXPLAIN").is_some() {
        let x = x();
        eprintln!("W1 plan:\n{}", x.mean().explain());
        eprintln!("W2 plan:\n{}", x.sum_axes(&[0]).explain());
        eprintln!(
            "W3 plan:\n{}",
            ((&x + 1.0) * 2.0 - &x * &x).mean().explain()
        );
        eprintln!("W4 plan:\n{}", x.std(0.0).explain());
    }
    eprintln!(
        "values: W1 mean {m:.10}, W2 total {:.2}, W3 {e:.8}, W4 std {s:.10}",
        cols.sum()
    );

    let mut g = group(c, "W1_random_mean");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(x().mean().compute().unwrap()))
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_mean())));
    g.finish();

    let mut g = group(c, "W2_random_sum_axis0");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(x().sum_axes(&[0]).compute().unwrap()))
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_sum_axis0())));
    g.finish();

    let mut g = group(c, "W3_elementwise");
    g.bench_function("rask", |b| {
        b.iter(|| {
            let x = x();
            black_box(((&x + 1.0) * 2.0 - &x * &x).mean().compute().unwrap())
        })
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_elementwise())));
    g.finish();

    let mut g = group(c, "W4_std");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(x().std(0.0).compute().unwrap()))
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_std())));
    g.finish();
}

/// W5 by hand: the mean of `x + x.T`, both values generated for every position.
fn hand_transpose_add() -> f64 {
    let key = seed_key(0);
    let s: f64 = (0..N)
        .into_par_iter()
        .map(|r| {
            sum8(N, |c| {
                value(key, (r * N + c) as u64) + value(key, (c * N + r) as u64)
            })
        })
        .sum();
    s / (N * N) as f64
}

/// W10 by hand: the mean of a 3 x 3 box mean with mirrored edges (scipy's `reflect`),
/// band by band with one halo row on each side.
fn hand_focal_mean() -> f64 {
    let key = seed_key(0);
    let mirror = |i: isize, n: usize| -> usize {
        if i < 0 {
            (-i - 1) as usize
        } else if i as usize >= n {
            2 * n - 1 - i as usize
        } else {
            i as usize
        }
    };
    let s: f64 = (0..N / BAND)
        .into_par_iter()
        .map(|band| {
            let r0 = band * BAND;
            // Rows r0-1 ..= r0+BAND, each with horizontal 3-sums over mirrored columns.
            let rows: Vec<Vec<f64>> = (0..BAND + 2)
                .map(|k| {
                    let r = mirror(r0 as isize + k as isize - 1, N);
                    let v: Vec<f64> = (0..N).map(|c| value(key, (r * N + c) as u64)).collect();
                    (0..N)
                        .map(|c| v[mirror(c as isize - 1, N)] + v[c] + v[mirror(c as isize + 1, N)])
                        .collect()
                })
                .collect();
            let mut acc = 0.0;
            for k in 1..=BAND {
                acc += sum8(N, |c| (rows[k - 1][c] + rows[k][c] + rows[k + 1][c]) / 9.0);
            }
            acc
        })
        .sum();
    s / (N * N) as f64
}

/// Issue 3's operations: views, rechunk and neighbourhoods, beside hand-written loops.
fn operations(c: &mut Criterion) {
    let t = (&x() + &x().t()).mean().compute().unwrap();
    assert!((t - hand_transpose_add()).abs() < 1e-9, "W5 differs");
    let f = x()
        .focal_mean(3, Boundary::Reflect)
        .mean()
        .compute()
        .unwrap();
    assert!((f - hand_focal_mean()).abs() < 1e-9, "W10 differs");
    let (r, stats) = x()
        .rechunk(&[N, 100])
        .sum()
        .compute_with_stats(&Config::default())
        .unwrap();
    eprintln!(
        "values: W5 {t:.10}, W7 sum {r:.4} (peak block bytes {}), W10 {f:.10}",
        stats.peak_block_bytes
    );

    let mut g = group(c, "W5_transpose_add");
    g.bench_function("rask", |b| {
        b.iter(|| black_box((&x() + &x().t()).mean().compute().unwrap()))
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_transpose_add())));
    g.finish();

    let mut g = group(c, "W7_rechunk_sum");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(x().rechunk(&[N, 100]).sum().compute().unwrap()))
    });
    g.bench_function("hand", |b| {
        b.iter(|| black_box(hand_mean() * (N * N) as f64))
    });
    g.finish();

    let mut g = group(c, "W10_focal_mean_3x3");
    g.bench_function("rask", |b| {
        b.iter(|| {
            black_box(
                x().focal_mean(3, Boundary::Reflect)
                    .mean()
                    .compute()
                    .unwrap(),
            )
        })
    });
    g.bench_function("hand", |b| b.iter(|| black_box(hand_focal_mean())));
    g.finish();
}

/// The issue-3 rechunk input: 10000×10000 f64 in (10000, 100) column blocks, made by a closure
/// (materialized blocks, which a rechunk must really move; a generator would be fused).
fn columns() -> ChunkedArray<f64> {
    ChunkedArray::<f64>::from_blocks(&[N, N], &[N, 100], |b| {
        let c0 = b[1] * 100;
        Ok(ndarray::ArrayD::from_shape_fn(
            ndarray::IxDyn(&[N, 100]),
            |i| ((i[0] * 31 + (c0 + i[1]) * 17) % 1013) as f64,
        ))
    })
}

/// The same values as `columns()` in (100, 10000) row blocks, copied by hand in parallel.
fn hand_columns_to_rows() -> f64 {
    (0..N / 100)
        .into_par_iter()
        .map(|r| {
            let mut band = vec![0.0f64; 100 * N];
            for (k, v) in band.iter_mut().enumerate() {
                let (i, j) = (r * 100 + k / N, k % N);
                *v = ((i * 31 + j * 17) % 1013) as f64;
            }
            band[7]
        })
        .sum()
}

/// The rest of issue 3's benchmarks: a rechunk of materialized blocks within a memory limit
/// (with its peak memory), a median along the first axis of a 32×4000×4000 stack, and the
/// matmul.
fn operations_big(c: &mut Criterion) {
    let limit = 256 << 20;
    let cfg = Config::default().memory_limit(limit);
    let (_, stats) = columns()
        .rechunk(&[100, N])
        .max()
        .compute_with_stats(&cfg)
        .unwrap();
    eprintln!(
        "rechunk (10000, 100) -> (100, 10000) of 800 MB, limit {} MiB: pool peak {} MiB,          peak RSS {} MiB, spilled {} MiB, {:.2} s",
        limit >> 20,
        stats.peak_memory_bytes >> 20,
        stats.peak_rss_bytes.unwrap_or(0) >> 20,
        stats.bytes_spilled >> 20,
        stats.wall_s
    );
    let mut g = group(c, "rechunk_cols_to_rows_800MB");
    g.bench_function("rask_in_memory", |b| {
        b.iter(|| black_box(columns().rechunk(&[100, N]).max().compute().unwrap()))
    });
    g.bench_function("rask_limit_256MiB", |b| {
        b.iter(|| {
            black_box(
                columns()
                    .rechunk(&[100, N])
                    .max()
                    .compute_with(&cfg)
                    .unwrap(),
            )
        })
    });
    g.bench_function("hand_generate_rows", |b| {
        b.iter(|| black_box(hand_columns_to_rows()))
    });
    g.finish();

    let stack = ChunkedArray::<f32>::random(&[32, 4000, 4000], &[32, 500, 500]);
    let mut g = group(c, "median_axis0_32x4000x4000_f32");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(stack.median_axis(0).mean().compute().unwrap()))
    });
    g.finish();

    let a = ChunkedArray::<f64>::random(&[4000, 4000], &[1000, 1000]);
    let mut g = group(c, "matmul_4000_sum");
    g.bench_function("rask", |b| {
        b.iter(|| black_box(a.matmul(&a).sum().compute().unwrap()))
    });
    g.finish();
}

/// `n` blocks of `10^6 / n` ones each, summed: almost no arithmetic, so the time is the
/// scheduler's (plus one tiny kernel call per block).
fn tiny_blocks(n_blocks: usize) -> Scalar<f64> {
    ChunkedArray::<f64>::ones(&[1_000_000], &[1_000_000 / n_blocks]).sum()
}

/// Per-task cost of each measured run of a tiny-blocks plan: `RunStats::wall_s / tasks`.
#[derive(Default)]
struct PerTask {
    micros: Vec<f64>,
    tasks: u64,
}

impl PerTask {
    /// Prints best and median µs per task, if the benchmark ran (it may be filtered out).
    fn report(&mut self, label: &str) {
        if self.micros.is_empty() {
            return;
        }
        self.micros.sort_by(f64::total_cmp);
        eprintln!(
            "{label}: {} tasks per run (partials + combine tree + finalize + collect); \
             {:.2} µs/task best, {:.2} µs/task median over {} runs ({} threads)",
            self.tasks,
            self.micros[0],
            self.micros[self.micros.len() / 2],
            self.micros.len(),
            Config::default().num_threads()
        );
    }
}

/// Benchmarks computing the `n_blocks` plan, recording the per-task cost of every run.
fn bench_tiny_blocks(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    n_blocks: usize,
    rec: &mut PerTask,
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let (v, stats) = tiny_blocks(n_blocks)
                    .compute_with_stats(&Config::default())
                    .unwrap();
                total += t.elapsed();
                assert_eq!(black_box(v), 1_000_000.0);
                rec.tasks = stats.tasks;
                rec.micros.push(stats.wall_s / stats.tasks as f64 * 1e6);
            }
            total
        })
    });
}

fn scheduler(c: &mut Criterion) {
    let (mut r5, mut r6) = (PerTask::default(), PerTask::default());
    let mut plan = None;
    let mut g = group(c, "scheduler");
    bench_tiny_blocks(&mut g, "sum_1e5_blocks", 100_000, &mut r5);
    bench_tiny_blocks(&mut g, "sum_1e6_blocks", 1_000_000, &mut r6);
    // Building the lazy array and lowering its plan (what `compute` does before running).
    g.bench_function("plan_build_1e6_blocks", |b| {
        b.iter(|| plan = Some(black_box(tiny_blocks(1_000_000).explain())))
    });
    g.finish();
    r5.report("sched_1e5_blocks");
    r6.report("sched_1e6_blocks");
    if let Some(p) = plan {
        eprintln!("plan of sum_1e6_blocks:\n{p}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = workloads, operations, operations_big, scheduler
}
criterion_main!(benches);
