//! Per-band statistics of a raster of any size, out of core: count, mean, std, min, max and
//! a histogram of each band, in two passes over the data. Writes `stats.json` and a PNG.
//!
//! ```sh
//! cargo run --release --example raster_stats              # the bundled scene in data/
//! cargo run --release --example raster_stats -- --input big/scene.zarr --bins 32
//! ```

mod common;

use std::time::Instant;

use rask::image::{PreviewOptions, preview};
use rask::pipelines::{band_stats, open_raster};

const USAGE: &str = "raster_stats: per-band statistics and histograms

options:
  --input PATH      a scene folder, a Zarr group holding `bands`, or any Zarr array
                    (bands, rows, cols) or (rows, cols) (default: the bundled data/)
  --output DIR      where to write (default: target/example-out/raster_stats)
  --bins N          histogram bins (default 16)";

fn main() {
    common::run(|| {
        let args = common::Args::parse(USAGE, &["input", "output", "bins"], &[])?;
        let bins: usize = args.get("bins", 16)?;
        let input = args.path("input").unwrap_or_else(common::data_dir);
        let out = common::out_dir(&args, "raster_stats");
        let t0 = Instant::now();
        let r = open_raster(&input, "bands").map_err(|e| e.to_string())?;
        let stats = band_stats(&r.data, r.nodata, bins).map_err(|e| e.to_string())?;
        let names = r.band_names().unwrap_or_default();
        println!(
            "{}: shape {:?}, {}, nodata {:?}",
            r.path.display(),
            r.data.shape(),
            r.dtype,
            r.nodata
        );
        println!(
            "  {:<6} {:>10} {:>9} {:>9} {:>7} {:>7}  histogram (min..max)",
            "band", "count", "mean", "std", "min", "max"
        );
        const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
        let mut json_bands = Vec::new();
        for (b, s) in stats.iter().enumerate() {
            let top = s.histogram.iter().copied().max().unwrap_or(0).max(1) as f64;
            let bars: String = s
                .histogram
                .iter()
                .map(|&c| {
                    if c == 0 {
                        ' '
                    } else {
                        BARS[((c as f64 / top) * 7.0).round() as usize]
                    }
                })
                .collect();
            let name = names.get(b).cloned().unwrap_or_else(|| b.to_string());
            println!(
                "  {:<6} {:>10} {:>9.1} {:>9.1} {:>7} {:>7}  {bars}",
                name, s.count, s.mean, s.std, s.min, s.max
            );
            json_bands.push(serde_json::json!({
                "band": name, "count": s.count, "mean": s.mean, "std": s.std,
                "min": s.min, "max": s.max, "histogram": s.histogram,
            }));
        }
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let jpath = out.join("stats.json");
        let text = serde_json::to_string_pretty(&serde_json::json!({
            "input": r.path.display().to_string(), "shape": r.data.shape(), "bands": json_bands,
        }))
        .map_err(|e| e.to_string())?;
        std::fs::write(&jpath, text).map_err(|e| format!("{}: {e}", jpath.display()))?;
        let png = out.join("raster.png");
        let bands = match r.data.shape() {
            [n, _, _] if *n >= 5 => vec![rask::data::RED, rask::data::GREEN, rask::data::BLUE],
            [n, _, _] if *n >= 3 => vec![0, 1, 2],
            _ => vec![0],
        };
        let popts = PreviewOptions {
            bands,
            nodata: r.nodata,
            ..PreviewOptions::default()
        };
        preview(&r.data, &popts, &png).map_err(|e| e.to_string())?;
        println!("  wrote {}", jpath.display());
        println!("  wrote {}", png.display());
        println!("  {:.3} s", t0.elapsed().as_secs_f64());
        Ok(())
    });
}
