//! The out-of-core workloads, at full scale, in a memory budget:
//!
//! 1. the mean of a 30000×30000 f64 Zarr array (7.2 GB, 2500×2500 chunks), beside reading the
//!    same chunk files with `cat`;
//! 2. the anomaly `x - x.mean(axis=0)` of that array written to a new Zarr array;
//! 3. NDVI from two 20000×20000 f32 bands of one Zarr group, written to Zarr, then its mean;
//! 4. a rechunk of a Zarr array larger than the budget from row chunks to column chunks.
//!
//! ```text
//! cargo run --release --example out_of_core -- [--dir /tmp/rask-ooc] [--limit 512MiB]
//!     [--only 1,2,3,4] [--scale 1.0]
//! ```
//!
//! Inputs are generated into `--dir` on first use (about 13 GB at scale 1; `--scale 0.1`
//! makes every side ten times shorter). Each workload prints its wall time, the memory pool's
//! peak, the process's peak RSS, and the bytes read, written, spilled and read again.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rask::prelude::*;
use rask::{RunStats, open_zarr_typed};

struct Args {
    dir: PathBuf,
    limit: usize,
    only: Vec<u32>,
    scale: f64,
}

fn args() -> Result<Args> {
    let mut a = Args {
        dir: std::env::temp_dir().join("rask-ooc"),
        limit: 512 << 20,
        only: vec![1, 2, 3, 4],
        scale: 1.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Error::msg(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(value()?),
            "--limit" => a.limit = rask::parse_bytes(&value()?)?,
            "--only" => {
                a.only = value()?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .map_err(|_| Error::msg(format!("--only {s}?")))
                    })
                    .collect::<Result<_>>()?
            }
            "--scale" => {
                a.scale = value()?
                    .parse()
                    .map_err(|_| Error::msg("--scale takes a number such as 0.1"))?
            }
            other => return Err(Error::msg(format!("unknown argument {other}"))),
        }
    }
    Ok(a)
}

fn report(name: &str, s: &RunStats) {
    const MIB: f64 = (1 << 20) as f64;
    println!(
        "{name:<34} {:>7.2} s  pool peak {:>5.0} MiB  peak RSS {:>5.0} MiB  read {:>6.0} MiB  \
         written {:>6.0} MiB  spilled {:>5.0} MiB  re-read {:>5.0} MiB",
        s.wall_s,
        s.peak_memory_bytes as f64 / MIB,
        s.peak_rss_bytes.unwrap_or(0) as f64 / MIB,
        s.bytes_read as f64 / MIB,
        s.bytes_written as f64 / MIB,
        s.bytes_spilled as f64 / MIB,
        s.bytes_reread as f64 / MIB,
    );
}

/// Seconds `cat` takes to read every chunk file under `dir` to /dev/null.
fn cat_seconds(dir: &Path) -> Option<f64> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "zarr.json") {
                files.push(p);
            }
        }
    }
    let t = Instant::now();
    let ok = Command::new("sh")
        .arg("-c")
        .arg("cat \"$@\" > /dev/null")
        .arg("cat")
        .args(&files)
        .status()
        .ok()?
        .success();
    ok.then(|| t.elapsed().as_secs_f64())
}

fn side(n: usize, scale: f64) -> usize {
    ((n as f64 * scale) as usize).max(16)
}

fn main() -> Result<()> {
    let a = args()?;
    std::fs::create_dir_all(&a.dir).map_err(|e| Error::msg(format!("{}: {e}", a.dir.display())))?;
    let cfg = Config::default().memory_limit(a.limit);
    let raw = ZarrOptions::default().compression(Compression::None);
    println!(
        "memory limit {} MiB, {} threads, data in {}",
        a.limit >> 20,
        cfg.num_threads(),
        a.dir.display()
    );

    let (n, ch) = (side(30_000, a.scale), side(2_500, a.scale));
    let big = a.dir.join(format!("big-{n}.zarr"));
    if a.only.iter().any(|w| [1, 2].contains(w)) && !big.exists() {
        let x = ChunkedArray::<f64>::random_seeded(&[n, n], &[ch, ch], 42);
        let s = x.to_zarr_with(&big, &raw, &cfg)?;
        report(&format!("setup: write {n}² f64"), &s);
    }

    if a.only.contains(&1) {
        let x = open_zarr_typed::<f64>(&big)?;
        for pass in ["warm 1", "warm 2"] {
            let cat = cat_seconds(&big);
            let (m, s) = x.mean().compute_with_stats(&cfg)?;
            report(&format!("W1 mean ({pass}) = {m:.6}"), &s);
            if let Some(c) = cat {
                println!(
                    "   cat of the chunk files: {c:.2} s; rask / cat = {:.2}",
                    s.wall_s / c
                );
            }
        }
    }

    if a.only.contains(&2) {
        let x = open_zarr_typed::<f64>(&big)?;
        let out = a.dir.join("anomaly.zarr");
        let s = (&x - x.mean_axes(&[0])).to_zarr_with(&out, &raw.clone().overwrite(true), &cfg)?;
        report("W2 anomaly to Zarr", &s);
        let check = open_zarr_typed::<f64>(&out)?
            .mean_axes(&[0])
            .abs()
            .max()
            .compute_with(&cfg)?;
        println!("   max |column mean of the anomaly| = {check:.3e}");
    }

    if a.only.contains(&3) {
        let (n, ch) = (side(20_000, a.scale), side(2_000, a.scale));
        let scene = a.dir.join(format!("scene-{n}.zarr"));
        if !scene.exists() {
            rask::create_zarr_group(&scene, &Default::default())?;
            let red = ChunkedArray::<f32>::random_seeded(&[n, n], &[ch, ch], 1) * 0.3f32;
            let nir = ChunkedArray::<f32>::random_seeded(&[n, n], &[ch, ch], 2) * 0.6f32 + 0.1f32;
            let opts = ZarrOptions::default();
            let s = rask::store_all_with(
                &[
                    red.zarr_target(scene.join("red"), &opts),
                    nir.zarr_target(scene.join("nir"), &opts),
                ],
                &cfg,
            )?;
            report(&format!("setup: write red, nir {n}² f32"), &s);
        }
        let red = open_zarr_typed::<f32>(scene.join("red"))?;
        let nir = open_zarr_typed::<f32>(scene.join("nir"))?;
        let ndvi = (&nir - &red) / (&nir + &red);
        let out = a.dir.join("ndvi.zarr");
        let s = ndvi.to_zarr_with(&out, &ZarrOptions::default().overwrite(true), &cfg)?;
        report("W3 NDVI to Zarr", &s);
        let (m, s) = open_zarr_typed::<f32>(&out)?
            .mean()
            .compute_with_stats(&cfg)?;
        report(&format!("W3 mean of NDVI = {m:.6}"), &s);
    }

    if a.only.contains(&4) {
        let n = side(20_000, a.scale);
        let band = side(250, a.scale);
        let rows = a.dir.join(format!("rows-{n}.zarr"));
        if !rows.exists() {
            let x = ChunkedArray::<f64>::random_seeded(&[n, n], &[band, n], 3);
            let s = x.to_zarr_with(&rows, &raw, &cfg)?;
            report(&format!("setup: write {n}² f64 in row chunks"), &s);
        }
        let x = open_zarr_typed::<f64>(&rows)?;
        let out = a.dir.join("columns.zarr");
        let t = Instant::now();
        let s = x.rechunk(&[n, band]).to_zarr_with(
            &out,
            &raw.clone().chunks(&[n, band]).overwrite(true),
            &cfg,
        )?;
        report(&format!("W4 rechunk ({band}, {n}) -> ({n}, {band})"), &s);
        let (s1, s2) = (
            x.sum().compute_with(&cfg)?,
            open_zarr_typed::<f64>(&out)?.sum().compute_with(&cfg)?,
        );
        println!(
            "   sums agree: {} ({:.1} s in all)",
            (s1 - s2).abs() <= 1e-9 * s1.abs(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
