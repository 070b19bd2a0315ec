//! Writes a synthetic scene (`rask::data`) as a Zarr group (and GeoTIFFs) with PNG previews.
//!
//! ```sh
//! cargo run --release --example make_sample -- --size 384 --no-dated-tiff --overwrite  # data/
//! cargo run --release --example make_sample -- --size 8192 --chunk 1024 --output /tmp/big
//! ```

mod common;

use std::time::Instant;

use rask::data::{LandCover, SceneSpec, WriteSceneOptions, synthetic_scene, write_scene};
use rask::image::{ColorMap, PreviewOptions, preview};

const USAGE: &str = "make_sample: writes a synthetic multispectral scene

options:
  --output DIR      where to write (default: the repository's data/)
  --size N          rows and columns (default 512)
  --chunk N         chunk edge (default 256)
  --times N         dates in the time stack (default 4)
  --seed N          seed (default 7)
  --cloud-cover F   mean cloud cover in [0, 0.95] (default 0.25)
  --no-tiff         write the Zarr group only
  --no-dated-tiff   no per-date GeoTIFFs (stack_t{i}.tif, cloud_t{i}.tif)
  --date-previews   also draw each date (date_{t}.png)
  --stats           print land cover and cloud shares (default for sizes up to 4096)
  --overwrite       replace existing outputs";

fn main() {
    common::run(|| {
        let args = common::Args::parse(
            USAGE,
            &["output", "size", "chunk", "times", "seed", "cloud-cover"],
            &[
                "no-tiff",
                "no-dated-tiff",
                "overwrite",
                "date-previews",
                "stats",
            ],
        )?;
        let d = SceneSpec::default();
        let spec = SceneSpec {
            size: args.get("size", d.size)?,
            chunk: args.get("chunk", d.chunk)?,
            times: args.get("times", d.times)?,
            seed: args.get("seed", d.seed)?,
            cloud_cover: args.get("cloud-cover", d.cloud_cover)?,
            ..d
        };
        let out = args.path("output").unwrap_or_else(common::data_dir);
        let scene = synthetic_scene(&spec).map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let opts = WriteSceneOptions {
            geotiff: !args.flag("no-tiff"),
            dated_geotiffs: !args.flag("no-dated-tiff"),
            overwrite: args.flag("overwrite"),
            ..WriteSceneOptions::default()
        };
        let files = write_scene(&scene, &out, &opts).map_err(|e| e.to_string())?;
        println!(
            "wrote a {}x{} scene with {} dates in {:.2} s:",
            spec.size,
            spec.size,
            spec.times,
            t0.elapsed().as_secs_f64()
        );
        if let Some(z) = &files.zarr {
            println!("  {}", z.display());
        }
        for f in &files.geotiffs {
            println!("  {}", f.display());
        }
        // Previews: true colour of the first date and of each date, and the land cover.
        let rgb = PreviewOptions {
            bands: vec![rask::data::RED, rask::data::GREEN, rask::data::BLUE],
            range: Some((0.0, 2200.0)),
            nodata: Some(rask::data::NODATA as f64),
            ..PreviewOptions::default()
        };
        let p = out.join("scene.png");
        preview(&scene.bands, &rgb, &p).map_err(|e| e.to_string())?;
        println!("  {}", p.display());
        let lc = PreviewOptions {
            range: Some((0.0, 6.0)),
            colormap: ColorMap::Viridis,
            ..PreviewOptions::default()
        };
        let p = out.join("landcover.png");
        preview(&scene.landcover, &lc, &p).map_err(|e| e.to_string())?;
        println!("  {}", p.display());
        if args.flag("stats") || spec.size <= 4096 {
            let lcv = scene.landcover.compute().map_err(|e| e.to_string())?;
            let n = lcv.len() as f64;
            for c in LandCover::ALL {
                let k = lcv.iter().filter(|&&v| v == c as u8).count() as f64;
                println!("  {:<10} {:5.1} %", c.name(), 100.0 * k / n);
            }
            let m = scene.clouds.compute().map_err(|e| e.to_string())?;
            for t in 0..spec.times {
                let mt = m.index_axis(ndarray::Axis(0), t);
                let frac = |v: u8| mt.iter().filter(|&&x| x == v).count() as f64 / n * 100.0;
                println!(
                    "  date {t}: cloud {:4.1} %, shadow {:4.1} %, nodata {:4.1} %",
                    frac(1),
                    frac(2),
                    frac(255)
                );
            }
        }
        if args.flag("date-previews") {
            for t in 0..spec.times {
                let (b, _) = scene.date(t).map_err(|e| e.to_string())?;
                let p = out.join(format!("date_{t}.png"));
                preview(&b, &rgb, &p).map_err(|e| e.to_string())?;
                println!("  {}", p.display());
            }
        }
        Ok(())
    });
}
