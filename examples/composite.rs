//! A cloud-free median composite of a time stack: per pixel and band, the median over the
//! dates where the pixel is clear and holds data. Writes the composite as Zarr and a
//! true-colour PNG.
//!
//! ```sh
//! cargo run --release --example composite                 # the bundled scene in data/
//! cargo run --release --example composite -- --input big/scene.zarr
//! ```

mod common;

use std::time::Instant;

use rask::pipelines::{open_mask, open_raster, run_composite};

const USAGE: &str = "composite: cloud-free median composite of a time stack

options:
  --input PATH      a scene folder, a Zarr group holding `stack` (and `clouds`), or a Zarr
                    array (times, bands, rows, cols) (default: the bundled data/)
  --output DIR      where to write (default: target/example-out/composite)
  --rgb R,G,B       the bands of the preview (default 2,1,0)
  --no-mask         ignore the cloud masks";

fn main() {
    common::run(|| {
        let args = common::Args::parse(USAGE, &["input", "output", "rgb"], &["no-mask"])?;
        let rgb: Vec<usize> = args
            .str("rgb")
            .unwrap_or("2,1,0")
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<usize>()
                    .map_err(|e| format!("--rgb {b:?}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let rgb: [usize; 3] = rgb
            .try_into()
            .map_err(|v| format!("--rgb needs three bands, got {v:?}"))?;
        let input = args.path("input").unwrap_or_else(common::data_dir);
        let out = common::out_dir(&args, "composite");
        let t0 = Instant::now();
        let stack = open_raster(&input, "stack").map_err(|e| e.to_string())?;
        let clouds = if args.flag("no-mask") {
            None
        } else {
            open_mask(&stack, "clouds").map_err(|e| e.to_string())?
        };
        let s = run_composite(&stack, clouds.as_ref(), rgb, &out).map_err(|e| e.to_string())?;
        let shape = stack.data.shape();
        println!(
            "median composite of {} dates of {} x {} pixels, {} bands ({})",
            s.dates,
            shape[2],
            shape[3],
            shape[1],
            stack.path.display()
        );
        for (t, c) in s.clear_share.iter().enumerate() {
            println!("  date {t}: {:5.1} % clear", 100.0 * c);
        }
        println!(
            "  composite: {:.2} % of pixels filled ({} with no clear date)",
            100.0 * s.filled as f64 / s.pixels.max(1) as f64,
            s.pixels - s.filled
        );
        for p in &s.outputs {
            println!("  wrote {}", p.display());
        }
        println!("  {:.3} s", t0.elapsed().as_secs_f64());
        Ok(())
    });
}
