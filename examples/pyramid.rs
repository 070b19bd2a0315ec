//! Overview levels by 2x block means, written as a multiscale Zarr group (levels `0..n`,
//! OME-NGFF `multiscales` attributes), all levels in one run.
//!
//! ```sh
//! cargo run --release --example pyramid                   # the bundled scene in data/
//! cargo run --release --example pyramid -- --input big/scene.zarr --min-size 256
//! ```

mod common;

use std::time::Instant;

use rask::pipelines::{open_raster, run_pyramid};

const USAGE: &str = "pyramid: multiscale overview levels as a Zarr group

options:
  --input PATH      a scene folder, a Zarr group holding `bands`, or any Zarr array
                    (bands, rows, cols) or (rows, cols) (default: the bundled data/)
  --output DIR      where to write (default: target/example-out/pyramid)
  --min-size N      stop before a level's side falls under N pixels (default 64)
  --levels N        at most N levels, level 0 included (default 16)";

fn main() {
    common::run(|| {
        let args = common::Args::parse(USAGE, &["input", "output", "min-size", "levels"], &[])?;
        let min_size: usize = args.get("min-size", 64)?;
        let levels: usize = args.get("levels", 16)?;
        let input = args.path("input").unwrap_or_else(common::data_dir);
        let out = common::out_dir(&args, "pyramid");
        let t0 = Instant::now();
        let r = open_raster(&input, "bands").map_err(|e| e.to_string())?;
        let s = run_pyramid(&r, min_size, levels, &out).map_err(|e| e.to_string())?;
        println!("pyramid of {} ({})", r.path.display(), r.dtype);
        for (k, shape) in s.shapes.iter().enumerate() {
            println!("  level {k}: {shape:?}");
        }
        println!("  wrote {}", s.group.display());
        println!("  wrote {}", s.preview.display());
        println!("  {:.3} s", t0.elapsed().as_secs_f64());
        Ok(())
    });
}
