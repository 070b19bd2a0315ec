//! Concurrency: several threads computing at once, on shared and on separate arrays, get the
//! results a lone run gets. (The soak of random plans is `tests/soak.rs`: it counts the
//! process's threads, so it runs in a test binary of its own.)

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::prelude::*;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-conc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn threads_computing_at_once_get_the_lone_results() {
    let dir = tmpdir("shared");
    let zpath = dir.join("z.zarr");
    ChunkedArray::<f64>::random_seeded(&[300, 200], &[50, 50], 3)
        .to_zarr(&zpath, &ZarrOptions::default().chunks(&[60, 40]))
        .unwrap();
    let z = rask::open_zarr_typed::<f64>(&zpath).unwrap();
    let x = ChunkedArray::<f64>::random_seeded(&[400, 300], &[64, 50], 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let shared = x.map_blocks(move |b, _| {
        c2.fetch_add(1, Ordering::Relaxed);
        Ok(b.mapv(|v| v.sqrt()))
    });
    let lone = Config::default().threads(1);
    let want_shared = (
        shared.sum_axes(&[0]).compute_with(&lone).unwrap(),
        shared.std(0.0).compute_with(&lone).unwrap(),
    );
    let want_z = (&z - z.mean_axes(&[0]))
        .abs()
        .max()
        .compute_with(&lone)
        .unwrap();
    let want_own: Vec<f64> = (0..6)
        .map(|t| {
            ChunkedArray::<f64>::random_seeded(&[200, 200], &[30, 70], 100 + t)
                .rechunk(&[200, 20])
                .mean()
                .compute_with(&lone)
                .unwrap()
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let (shared, z, want_shared, want_own) = (&shared, &z, &want_shared, &want_own);
            s.spawn(move || {
                let cfg = match t % 3 {
                    0 => Config::default().threads(2),
                    1 => Config::default().threads(3).memory_limit(1 << 20),
                    _ => Config::default(),
                };
                for _ in 0..5 {
                    assert_eq!(
                        shared.sum_axes(&[0]).compute_with(&cfg).unwrap(),
                        want_shared.0
                    );
                    assert_eq!(shared.std(0.0).compute_with(&cfg).unwrap(), want_shared.1);
                    assert_eq!(
                        (z - z.mean_axes(&[0]))
                            .abs()
                            .max()
                            .compute_with(&cfg)
                            .unwrap(),
                        want_z
                    );
                    let own = ChunkedArray::<f64>::random_seeded(&[200, 200], &[30, 70], 100 + t)
                        .rechunk(&[200, 20])
                        .mean()
                        .compute_with(&cfg)
                        .unwrap();
                    assert_eq!(own, want_own[t as usize]);
                }
            });
        }
    });
    assert!(calls.load(Ordering::Relaxed) > 0);
    std::fs::remove_dir_all(dir).ok();
}
