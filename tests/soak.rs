//! Load: a soak of random small plans across 4 threads leaves nothing behind (the memory pool
//! back to zero, which the scheduler asserts at the end of every run in test builds; no spill
//! files; no extra threads; bounded RSS growth). It counts the process's threads before and
//! after, so it is the only test of this binary (libtest starts a thread per test).
//!
//! The default soak runs 1,000 plans (a few seconds); `RASK_SOAK_PLANS=10000 cargo test --test
//! soak -- --nocapture` runs a longer one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn};
use rask::Boundary;
use rask::prelude::*;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-soak-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn threads_now() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// A small deterministic generator (splitmix64), so a failing plan can be named by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random small plan over a 2-d array: a mix of elementwise ops, views, rechunks, user
/// closures, scans, overlaps and reductions.
fn random_plan(seed: u64) -> ChunkedArray<f64> {
    let mut r = Rng(seed);
    let shape = [1 + r.below(60), 1 + r.below(60)];
    let chunks = [1 + r.below(20), 1 + r.below(20)];
    let mut x = match r.below(3) {
        0 => ChunkedArray::<f64>::random_seeded(&shape, &chunks, seed),
        1 => ChunkedArray::<f64>::from_blocks(&shape, &chunks, move |b| {
            let bs: Vec<usize> = (0..2)
                .map(|k| chunks[k].min(shape[k] - b[k] * chunks[k]))
                .collect();
            Ok(ArrayD::from_elem(IxDyn(&bs), (b[0] * 7 + b[1]) as f64))
        }),
        _ => ChunkedArray::<f64>::from_fn(&shape, &chunks, |i| (i[0] * 3 + i[1]) as f64 / 10.0),
    };
    for _ in 0..1 + r.below(5) {
        let dims = x.shape().to_vec();
        x = match r.below(10) {
            0 => (&x + 1.5) * 0.5,
            1 => x.abs().sqrt(),
            2 => x.t(),
            3 => {
                let c: Vec<usize> = dims.iter().map(|&d| 1 + r.below(d.max(1))).collect();
                x.rechunk(&c)
            }
            4 => x.map_blocks(|b, _| Ok(b.mapv(|v| v - 0.25))),
            5 if dims.len() == 2 => x.cumsum(r.below(2) as isize),
            6 if dims.len() == 2 => &x - &x.mean_axes(&[0]),
            7 if dims.len() == 2 && dims.iter().all(|&d| d >= 2) => x.slice(ndarray::s![..;2, 1..]),
            8 if dims.len() == 2 => rask::concatenate(&[&x, &(&x * 2.0)], r.below(2) as isize),
            9 if dims.len() == 2 => {
                x.map_overlap(&[1, 1], Boundary::Reflect, |v, _| Ok(v.mapv(|a| a * 0.5)))
            }
            _ => -&x,
        };
    }
    x
}

#[test]
fn soak_random_plans_leave_nothing_behind() {
    let plans: u64 = std::env::var("RASK_SOAK_PLANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let spill = tmpdir("soak-spill");
    // Warm the pools of every thread count used, so their threads are counted before.
    for t in 1..=3 {
        ChunkedArray::<f64>::ones(&[4], &[2])
            .sum()
            .compute_with(&Config::default().threads(t))
            .unwrap();
    }
    let threads_before = threads_now();
    let rss_before = rask::current_rss();
    let next = AtomicUsize::new(0);
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for w in 0..4 {
            let (next, spill) = (&next, &spill);
            workers.push(s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as u64;
                    if i >= plans {
                        break;
                    }
                    let x = random_plan(i);
                    let x = match x.check() {
                        Ok(_) => x,
                        Err(e) => panic!("plan {i} does not build: {e}"),
                    };
                    let lone = Config::default().threads(1);
                    let run = |cfg: &Config| -> rask::Result<ArrayD<f64>> {
                        match i % 3 {
                            0 => Ok(ArrayD::from_elem(IxDyn(&[]), x.sum().compute_with(cfg)?)),
                            1 => x.compute_with(cfg),
                            _ => x.max_axes(&[0]).compute_with(cfg),
                        }
                    };
                    let a = run(&lone).unwrap();
                    // A tight budget, so runs spill; raised while a task could never fit (a
                    // plan-time error, which must name the op and the bytes).
                    let mut limit = 16 << 10;
                    let b = loop {
                        let busy = Config::default()
                            .threads(2 + (w % 2))
                            .memory_limit(limit)
                            .spill_dir(spill);
                        match run(&busy) {
                            Err(Error::OutOfMemory { task_bytes, .. }) if task_bytes > limit => {
                                limit *= 4;
                            }
                            r => break r.unwrap_or_else(|e| panic!("plan {i}: {e}")),
                        }
                    };
                    let same = a
                        .iter()
                        .zip(b.iter())
                        .all(|(p, q)| p == q || (p.is_nan() && q.is_nan()));
                    assert!(same && a.shape() == b.shape(), "plan {i}: results differ");
                }
            }));
        }
        // Joined by hand: the scope's own wait ends when the closures return, which can be
        // before the threads have exited, and the count below would see them.
        for h in workers {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
    eprintln!(
        "soak: {plans} plans (x2 runs) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let left: Vec<_> = std::fs::read_dir(&spill).unwrap().collect();
    assert!(left.is_empty(), "spill files left: {left:?}");
    if let Some(a) = threads_before {
        // A thread that has finished may still be listed for a moment while it exits: wait
        // up to 2 s for the count to come back (a leaked thread never does).
        let mut b = threads_now().unwrap_or(0);
        for _ in 0..200 {
            if b <= a {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            b = threads_now().unwrap_or(0);
        }
        let names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.flatten()
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .map(|n| n.trim().to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert!(b <= a, "threads {a} -> {b}: {names:?}");
    }
    if let (Some(a), Some(b)) = (rss_before, rask::current_rss()) {
        eprintln!("soak: RSS {} MB -> {} MB", a >> 20, b >> 20);
        assert!(b < a + (256 << 20), "RSS grew from {a} to {b} bytes");
    }
    std::fs::remove_dir_all(spill).ok();
}
