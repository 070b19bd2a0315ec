//! NDVI of a multispectral scene: `(nir - red) / (nir + red)` where both bands hold data and
//! the cloud mask is clear. Prints the mean, min, max and the share of vegetated pixels,
//! writes the NDVI as Zarr and a colour-mapped PNG.
//!
//! ```sh
//! cargo run --release --example ndvi                      # the bundled scene in data/
//! cargo run --release --example ndvi -- --input big/scene.zarr --output /tmp/ndvi
//! ```

mod common;

use std::time::Instant;

use rask::pipelines::{NdviOptions, open_mask, open_raster, run_ndvi};

const USAGE: &str = "ndvi: NDVI of a scene, masked by nodata and clouds

options:
  --input PATH      a scene folder, a Zarr group holding `bands` (and `cloud`), or a Zarr
                    array (bands, rows, cols) (default: the bundled data/)
  --output DIR      where to write (default: target/example-out/ndvi)
  --red N           the red band (default 2)
  --nir N           the NIR band (default 3)
  --threshold F     NDVI above which a pixel is vegetated (default 0.4)
  --no-mask         ignore the cloud mask";

fn main() {
    common::run(|| {
        let args = common::Args::parse(
            USAGE,
            &["input", "output", "red", "nir", "threshold"],
            &["no-mask"],
        )?;
        let d = NdviOptions::default();
        let opts = NdviOptions {
            red: args.get("red", d.red)?,
            nir: args.get("nir", d.nir)?,
            threshold: args.get("threshold", d.threshold)?,
            ..d
        };
        let input = args.path("input").unwrap_or_else(common::data_dir);
        let out = common::out_dir(&args, "ndvi");
        let t0 = Instant::now();
        let bands = open_raster(&input, "bands").map_err(|e| e.to_string())?;
        let cloud = if args.flag("no-mask") {
            None
        } else {
            open_mask(&bands, "cloud").map_err(|e| e.to_string())?
        };
        let s = run_ndvi(&bands, cloud.as_ref(), &opts, &out).map_err(|e| e.to_string())?;
        let shape = bands.data.shape();
        println!(
            "NDVI of {} ({} x {} pixels, {})",
            bands.path.display(),
            shape[shape.len() - 2],
            shape[shape.len() - 1],
            if cloud.is_some() {
                "cloud-masked"
            } else {
                "no cloud mask"
            }
        );
        println!(
            "  valid pixels   {:>10} of {} ({:.1} %)",
            s.valid,
            s.pixels,
            100.0 * s.valid as f64 / s.pixels.max(1) as f64
        );
        println!("  mean NDVI      {:>10.4}", s.mean);
        println!("  min / max      {:>10.4} / {:.4}", s.min, s.max);
        println!(
            "  vegetated      {:>9.1} %  (NDVI > {})",
            100.0 * s.vegetated,
            opts.threshold
        );
        for p in &s.outputs {
            println!("  wrote {}", p.display());
        }
        println!("  {:.3} s", t0.elapsed().as_secs_f64());
        Ok(())
    });
}
