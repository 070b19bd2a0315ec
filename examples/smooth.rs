//! A 5 x 5 focal mean (or a Gaussian) over one band, nodata-aware, on `map_overlap`.
//! Writes the smoothed band as Zarr and a PNG.
//!
//! ```sh
//! cargo run --release --example smooth                    # NIR of the bundled scene
//! cargo run --release --example smooth -- --gaussian 2.0 --band 2
//! ```

mod common;

use std::time::Instant;

use rask::image::{PreviewOptions, preview};
use rask::pipelines::{Filter, band, open_raster, smooth};

const USAGE: &str = "smooth: focal mean or Gaussian of one band

options:
  --input PATH      a scene folder, a Zarr group holding `bands`, or a Zarr array
                    (default: the bundled data/)
  --output DIR      where to write (default: target/example-out/smooth)
  --band N          the band (default 3, NIR)
  --size N          the focal mean's window (odd, default 5)
  --gaussian SIGMA  a Gaussian filter instead";

fn main() {
    common::run(|| {
        let args =
            common::Args::parse(USAGE, &["input", "output", "band", "size", "gaussian"], &[])?;
        let filter = match args.str("gaussian") {
            Some(_) => Filter::Gaussian(args.get("gaussian", 1.0)?),
            None => Filter::Mean(args.get("size", 5)?),
        };
        let b: usize = args.get("band", rask::data::NIR)?;
        let input = args.path("input").unwrap_or_else(common::data_dir);
        let out = common::out_dir(&args, "smooth");
        let t0 = Instant::now();
        let r = open_raster(&input, "bands").map_err(|e| e.to_string())?;
        let x = band(&r.data, b).map_err(|e| e.to_string())?;
        let s = smooth(&x, filter, r.nodata).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let zpath = out.join("smooth.zarr");
        let mut opts = rask::ZarrOptions::default()
            .dimension_names(&["y", "x"])
            .overwrite(true);
        opts.attributes = r.geo_attributes();
        opts.attributes
            .insert("filter".into(), format!("{filter:?}").into());
        let rstats = s
            .to_zarr_with(&zpath, &opts, &rask::Config::default())
            .map_err(|e| e.to_string())?;
        let stored = rask::open_zarr_typed::<f32>(&zpath).map_err(|e| e.to_string())?;
        // How much the filter changed the band: the mean absolute difference over valid pixels.
        let diff = (&stored - &x).abs().nanmean();
        let (sd0, sd1) = (
            rask::where_(&rask::pipelines::valid_mask(&x, r.nodata), &x, f32::NAN).nanstd(0.0),
            stored.nanstd(0.0),
        );
        let mut res = rask::compute_all(&[&diff, &sd0, &sd1])
            .map_err(|e| e.to_string())?
            .into_iter();
        let mut next = || -> Result<f32, String> {
            res.next()
                .ok_or("missing result")?
                .into_scalar()
                .map_err(|e| e.to_string())
        };
        let (diff, sd0, sd1) = (next()?, next()?, next()?);
        let png = out.join("smooth.png");
        preview(&stored, &PreviewOptions::default(), &png).map_err(|e| e.to_string())?;
        println!(
            "{filter:?} of band {b} of {} ({} x {})",
            r.path.display(),
            x.shape()[0],
            x.shape()[1]
        );
        println!("  std before {sd0:.1}, after {sd1:.1}; mean |change| {diff:.1}");
        println!(
            "  {} tasks, {} bytes written",
            rstats.tasks, rstats.bytes_written
        );
        println!("  wrote {}", zpath.display());
        println!("  wrote {}", png.display());
        println!("  {:.3} s", t0.elapsed().as_secs_f64());
        Ok(())
    });
}
