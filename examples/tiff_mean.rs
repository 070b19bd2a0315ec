//! The mean of one band of a GeoTIFF, skipping nodata, read tile by tile.
//!
//! `cargo run --release --example tiff_mean -- FILE.tif [--band B] [--threads N]`
//!
//! Prints the file's layout and georeferencing, then the mean of the band's valid pixels (as
//! `gdalinfo -stats` reports it) with the time and decoded throughput.

use std::time::Instant;

use rask::prelude::*;

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn main() -> rask::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1).filter(|a| !a.starts_with("--")) else {
        eprintln!("usage: tiff_mean FILE.tif [--band B] [--threads N]");
        std::process::exit(2);
    };
    let band: usize = arg(&args, "--band").unwrap_or(0);
    let config = Config::default().threads(arg(&args, "--threads").unwrap_or(0));
    let t = rask::open_tiff_band(path, band)?;
    println!(
        "{path}: {} {:?}, {} {:?}, {}{}{}",
        t.dtype(),
        t.shape(),
        if t.is_tiled() { "tiles" } else { "strips" },
        t.tile_shape(),
        t.compression(),
        if t.predictor() > 1 {
            format!(" predictor {}", t.predictor())
        } else {
            String::new()
        },
        if t.is_bigtiff() { ", BigTIFF" } else { "" }
    );
    if let Some(g) = t.geo() {
        let s = t.shape();
        println!(
            "  {g}, nodata {:?}, bounds {:?}",
            g.nodata,
            g.bounds(s[0], s[1])
        );
    }
    let start = Instant::now();
    let stats = match t.dtype() {
        DType::U8 => run::<u8>(t, &config)?,
        DType::U16 => run::<u16>(t, &config)?,
        DType::I16 => run::<i16>(t, &config)?,
        DType::U32 => run::<u32>(t, &config)?,
        DType::I32 => run::<i32>(t, &config)?,
        DType::F32 => run::<f32>(t, &config)?,
        DType::F64 => run::<f64>(t, &config)?,
        d => {
            eprintln!("unsupported dtype {d}");
            std::process::exit(2);
        }
    };
    let wall = start.elapsed().as_secs_f64();
    println!(
        "band {band}: mean {:.6}  ({} tasks, {} threads, {wall:.3} s, {:.2} GB/s decoded)",
        stats.0,
        stats.1.tasks,
        config.num_threads(),
        stats.1.bytes_read as f64 / wall / 1e9
    );
    Ok(())
}

/// The mean of the valid pixels (nodata skipped), and what the run did.
fn run<T: Element>(t: rask::TiffArray, config: &Config) -> rask::Result<(f64, rask::RunStats)> {
    t.into_typed::<T>()?
        .masked_f64()
        .nanmean()
        .compute_with_stats(config)
}
