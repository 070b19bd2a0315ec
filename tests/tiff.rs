//! GeoTIFF: rask reads what GDAL writes (every layout, dtype, compression and predictor, BigTIFF,
//! COG, both byte orders) pixel for pixel; GDAL reads what rask writes (`gdalinfo -json -stats`:
//! extent, EPSG, nodata, statistics; and every pixel); JPEG is refused; bad input gives an
//! `Err` naming the path.
//!
//! The GDAL tests need `gdalinfo` and a Python with `osgeo.gdal` (`$RASK_GDAL_PYTHON`, else
//! `/usr/bin/python3`, else `python3`). Without them they fail, unless `RASK_SKIP_GDAL=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use rask::prelude::*;
use rask::serde_json::{self, Value};
use rask::{GeoInfo, TiffCompression};

// ---------------------------------------------------------------- helpers

fn tmp(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rask-tiff-test-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_msg(e: &Error, parts: &[&str]) {
    let s = e.to_string();
    for p in parts {
        assert!(s.contains(p), "message {s:?} does not mention {p:?}");
    }
}

/// A Python that can import GDAL, or `None` when GDAL is missing and `RASK_SKIP_GDAL=1`
/// (otherwise a missing GDAL fails the test).
fn gdal_python() -> Option<String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("RASK_GDAL_PYTHON") {
        candidates.push(p);
    }
    candidates.extend(["/usr/bin/python3".to_string(), "python3".to_string()]);
    for p in candidates {
        let ok = Command::new(&p)
            .args(["-c", "from osgeo import gdal; import numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        let info = Command::new("gdalinfo")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if ok && info {
            return Some(p);
        }
    }
    if std::env::var("RASK_SKIP_GDAL").as_deref() == Ok("1") {
        eprintln!("skipped: GDAL not available (RASK_SKIP_GDAL=1)");
        return None;
    }
    panic!(
        "GDAL is needed: install gdal-bin and python3-gdal (or set RASK_GDAL_PYTHON), or set RASK_SKIP_GDAL=1 to skip"
    );
}

fn interop(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script)
}

/// The files GDAL writes for every case, made once per test process.
fn gdal_cases(py: &str) -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = tmp("gdal-cases");
        let out = Command::new(py)
            .arg(interop("tiff_make.py"))
            .arg(&d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tiff_make.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    })
}

/// Opens `tif` with rask and compares every pixel with GDAL's `npy`, for dtype `T`.
fn same_pixels<T: Element>(tif: &Path, npy: &Path, chunks: Option<&[usize]>) {
    let t = match chunks {
        Some(c) => rask::open_tiff_with(tif, c),
        None => rask::open_tiff(tif),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let ours = t.into_typed::<T>().unwrap().compute().unwrap();
    let info = rask::npy_info(npy).unwrap();
    let theirs = rask::open_npy::<T>(npy, &info.shape)
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(ours.shape(), theirs.shape(), "{}", tif.display());
    let same = ours
        .iter()
        .zip(theirs.iter())
        .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
    assert!(same, "{}: pixels differ from GDAL's", tif.display());
}

fn same_pixels_dyn(dtype: DType, tif: &Path, npy: &Path, chunks: Option<&[usize]>) {
    match dtype {
        DType::U8 => same_pixels::<u8>(tif, npy, chunks),
        DType::U16 => same_pixels::<u16>(tif, npy, chunks),
        DType::I16 => same_pixels::<i16>(tif, npy, chunks),
        DType::U32 => same_pixels::<u32>(tif, npy, chunks),
        DType::I32 => same_pixels::<i32>(tif, npy, chunks),
        DType::F32 => same_pixels::<f32>(tif, npy, chunks),
        DType::F64 => same_pixels::<f64>(tif, npy, chunks),
        d => panic!("no GDAL case of dtype {d}"),
    }
}

fn dtype_named(s: &str) -> DType {
    match s {
        "uint8" => DType::U8,
        "uint16" => DType::U16,
        "int16" => DType::I16,
        "uint32" => DType::U32,
        "int32" => DType::I32,
        "float32" => DType::F32,
        "float64" => DType::F64,
        _ => panic!("dtype {s}"),
    }
}

fn gdalinfo_json(path: &Path) -> Value {
    let out = Command::new("gdalinfo")
        .args(["-json", "-stats"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gdalinfo failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // -stats writes an .aux.xml beside the file; it is not part of what is tested.
    serde_json::from_slice(&out.stdout).unwrap()
}

// ---------------------------------------------------------------- GDAL writes, rask reads

#[test]
fn reads_every_gdal_layout_pixel_for_pixel() {
    let Some(py) = gdal_python() else { return };
    let dir = gdal_cases(&py);
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let tif = dir.join(format!("{name}.tif"));
        let npy = dir.join(format!("{name}.npy"));
        let dtype = dtype_named(c["dtype"].as_str().unwrap());
        let t = rask::open_tiff(&tif).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(t.dtype(), dtype, "{name}");
        let bands = c["bands"].as_u64().unwrap() as usize;
        assert_eq!(t.shape(), &[bands, 300, 470], "{name}");
        let opts: Vec<&str> = c["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let has = |o: &str| opts.contains(&o);
        assert_eq!(t.is_bigtiff(), has("BIGTIFF=YES"), "{name}");
        if has("INTERLEAVE=BAND") && bands > 1 {
            assert!(t.is_planar(), "{name}");
        }
        if has("TILED=YES") {
            assert!(t.is_tiled(), "{name}");
        }
        for (opt, codec) in [
            ("COMPRESS=LZW", "LZW"),
            ("COMPRESS=DEFLATE", "DEFLATE"),
            ("COMPRESS=ZSTD", "ZSTD"),
            ("COMPRESS=PACKBITS", "PACKBITS"),
            ("COMPRESS=NONE", "none"),
        ] {
            if has(opt) {
                assert_eq!(t.compression(), codec, "{name}");
            }
        }
        if has("PREDICTOR=2") {
            assert_eq!(t.predictor(), 2, "{name}");
        }
        if has("PREDICTOR=3") {
            assert_eq!(t.predictor(), 3, "{name}");
        }
        // Georeferencing as GDAL reports it.
        let g = t.geo().unwrap_or_else(|| panic!("{name}: no geo"));
        let gt: Vec<f64> = c["geotransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(g.geotransform.to_vec(), gt, "{name}");
        assert_eq!(g.epsg, c["epsg"].as_u64().map(|v| v as u32), "{name}");
        match &c["nodata"] {
            Value::Null => assert_eq!(g.nodata, None, "{name}"),
            Value::String(s) if s == "nan" => assert!(g.nodata.unwrap().is_nan(), "{name}"),
            v => assert_eq!(g.nodata, v.as_f64(), "{name}"),
        }
        // Every pixel: on the file's own blocks, and regrouped across tile boundaries.
        same_pixels_dyn(dtype, &tif, &npy, None);
        same_pixels_dyn(dtype, &tif, &npy, Some(&[2, 77, 130]));
        // One band, 2-d.
        let last = rask::open_tiff_band(&tif, bands - 1).unwrap();
        assert_eq!(last.shape(), &[300, 470]);
    }
}

#[test]
fn one_band_and_wrong_dtype() {
    let Some(py) = gdal_python() else { return };
    let dir = gdal_cases(&py);
    let tif = dir.join("uint16_tiled_deflate.tif");
    let all = rask::open_tiff_typed::<u16>(&tif)
        .unwrap()
        .compute()
        .unwrap();
    for b in 0..3 {
        let one = rask::open_tiff_band(&tif, b)
            .unwrap()
            .into_typed::<u16>()
            .unwrap()
            .compute()
            .unwrap();
        assert_eq!(one, all.index_axis(ndarray::Axis(0), b));
    }
    let e = rask::open_tiff_band(&tif, 3).unwrap_err();
    assert_msg(&e, &["band 3", "3 bands", "uint16_tiled_deflate.tif"]);
    let e = rask::open_tiff(&tif)
        .unwrap()
        .into_typed::<f32>()
        .unwrap_err();
    assert_msg(&e, &["uint16_tiled_deflate.tif", "float32", "uint16"]);
}

#[test]
fn jpeg_is_refused() {
    let Some(py) = gdal_python() else { return };
    let dir = gdal_cases(&py);
    let e = rask::open_tiff(dir.join("jpeg.tif")).unwrap_err();
    assert_msg(&e, &["jpeg.tif", "JPEG", "not supported"]);
}

#[test]
fn nodata_masks_and_nan_reductions_skip_it() {
    let Some(py) = gdal_python() else { return };
    let dir = gdal_cases(&py);
    // COG with nodata 65535.
    let tif = dir.join("uint16_cog.tif");
    let x = rask::open_tiff_typed::<u16>(&tif).unwrap();
    assert_eq!(x.nodata(), Some(65535.0));
    let a = x.compute().unwrap();
    let valid = a.iter().filter(|&&v| v != 65535).count();
    assert!(valid < a.len(), "the case must hold nodata pixels");
    assert_eq!(
        x.valid_mask().count_nonzero().compute().unwrap(),
        valid as u64
    );
    let sum: f64 = a.iter().filter(|&&v| v != 65535).map(|&v| v as f64).sum();
    let m = x.masked_f64().nanmean().compute().unwrap();
    assert!((m - sum / valid as f64).abs() < 1e-9 * m.abs());
    // f32 with nodata -9999: nanmean skips it without masking first.
    let f = rask::open_tiff_typed::<f32>(dir.join("float32_tiled_deflate_pred3.tif")).unwrap();
    assert_eq!(f.nodata(), Some(-9999.0));
    let g = f.compute().unwrap();
    let kept: Vec<f64> = g
        .iter()
        .filter(|v| **v != -9999.0 && !v.is_nan())
        .map(|&v| v as f64)
        .collect();
    let want = kept.iter().sum::<f64>() / kept.len() as f64;
    let got = f.nanmean().compute().unwrap() as f64;
    assert!((got - want).abs() < 1e-3, "{got} vs {want}");
}

// ---------------------------------------------------------------- rask writes, GDAL reads

/// Writes `x` with rask, then checks `gdalinfo -json -stats` and every pixel GDAL reads.
fn check_with_gdal<T: Element>(py: &str, x: &ChunkedArray<T>, path: &Path, opts: &TiffOptions) {
    x.to_tiff(path, opts).unwrap();
    let info = gdalinfo_json(path);
    let shape = x.shape();
    let (bands, rows, cols) = match shape {
        [r, c] => (1, *r, *c),
        [b, r, c] => (*b, *r, *c),
        _ => unreachable!(),
    };
    assert_eq!(
        info["size"],
        serde_json::json!([cols, rows]),
        "{}",
        path.display()
    );
    let geo = x.geo().cloned();
    if let Some(g) = &geo {
        let gt: Vec<f64> = info["geoTransform"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (a, b) in gt.iter().zip(g.geotransform) {
            assert!(
                (a - b).abs() < 1e-9 * b.abs().max(1.0),
                "{gt:?} vs {:?}",
                g.geotransform
            );
        }
        // The extent: GDAL's corner coordinates.
        let corners = &info["cornerCoordinates"];
        for (name, col, row) in [
            ("upperLeft", 0, 0),
            ("lowerLeft", 0, rows),
            ("upperRight", cols, 0),
            ("lowerRight", cols, rows),
        ] {
            let (x, y) = g.pixel_to_map(col as f64, row as f64);
            let c = &corners[name];
            assert!(
                (c[0].as_f64().unwrap() - x).abs() < 1e-6,
                "{name}: {c} vs {x}"
            );
            assert!(
                (c[1].as_f64().unwrap() - y).abs() < 1e-6,
                "{name}: {c} vs {y}"
            );
        }
        if g.geotransform[2] == 0.0 && g.geotransform[4] == 0.0 {
            let b = g.bounds(rows, cols);
            let ll = &corners["lowerLeft"];
            let ur = &corners["upperRight"];
            assert!((ll[0].as_f64().unwrap() - b[0]).abs() < 1e-6);
            assert!((ll[1].as_f64().unwrap() - b[1]).abs() < 1e-6);
            assert!((ur[0].as_f64().unwrap() - b[2]).abs() < 1e-6);
            assert!((ur[1].as_f64().unwrap() - b[3]).abs() < 1e-6);
        }
        if let Some(e) = g.epsg {
            let wkt = info["coordinateSystem"]["wkt"].as_str().unwrap();
            assert!(
                wkt.contains(&format!("ID[\"EPSG\",{e}]")),
                "EPSG {e} not in {wkt}"
            );
        }
    }
    let values = x.compute().unwrap();
    let band_list = info["bands"].as_array().unwrap();
    assert_eq!(band_list.len(), bands);
    for (b, band) in band_list.iter().enumerate() {
        let nodata = geo.as_ref().and_then(|g| g.nodata);
        match nodata {
            Some(n) if n.is_nan() => assert_eq!(band["noDataValue"], "NaN"),
            Some(n) => assert_eq!(band["noDataValue"].as_f64(), Some(n)),
            None => assert!(band.get("noDataValue").is_none()),
        }
        let vals: Vec<f64> = if bands == 1 && shape.len() == 2 {
            values.iter().map(|v| v.to_f64()).collect()
        } else {
            values
                .index_axis(ndarray::Axis(0), b)
                .iter()
                .map(|v| v.to_f64())
                .collect()
        };
        let kept: Vec<f64> = vals
            .into_iter()
            .filter(|v| !v.is_nan() && Some(*v) != nodata)
            .collect();
        let min = kept.iter().cloned().fold(f64::INFINITY, f64::min);
        let max = kept.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mean = kept.iter().sum::<f64>() / kept.len() as f64;
        // The full-precision statistics (the `minimum` fields are rounded).
        let stat = |k: &str| -> f64 {
            band["metadata"][""][k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} missing in {band}"))
                .parse()
                .unwrap()
        };
        let tol = |v: f64| 1e-6 * v.abs().max(1.0);
        assert!(
            (stat("STATISTICS_MINIMUM") - min).abs() <= tol(min),
            "{band}"
        );
        assert!(
            (stat("STATISTICS_MAXIMUM") - max).abs() <= tol(max),
            "{band}"
        );
        assert!(
            (stat("STATISTICS_MEAN") - mean).abs() <= tol(mean),
            "{band}"
        );
    }
    // Every pixel, through GDAL.
    let npy = path.with_extension("npy");
    let out = Command::new(py)
        .arg(interop("tiff_read.py"))
        .arg(path)
        .arg(&npy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tiff_read.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = rask::npy_info(&npy).unwrap();
    let theirs = rask::open_npy::<T>(&npy, &info.shape)
        .unwrap()
        .compute()
        .unwrap();
    let ours = values.into_shape_with_order(theirs.shape()).unwrap();
    let same = ours
        .iter()
        .zip(theirs.iter())
        .all(|(a, b)| a == b || (a.is_nan() && b.is_nan()));
    assert!(same, "{}: GDAL reads other pixels", path.display());
}

#[test]
fn gdal_reads_what_rask_writes() {
    let Some(py) = gdal_python() else { return };
    let dir = tmp("write");
    let utm = GeoInfo::new([600_000.0, 20.0, 0.0, 5_100_000.0, 0.0, -20.0]).with_epsg(32633);
    // u16, 3 bands, nodata 0, Deflate with predictor 2, blocks not aligned to the tiles.
    let x = ChunkedArray::from_fn(&[3, 700, 900], &[2, 300, 250], |i| {
        ((i[0] * 1000 + i[1] * 3 + i[2] * 7) % 5000) as u16
    })
    .with_geo(utm.clone().with_nodata(0.0));
    check_with_gdal(&py, &x, &dir.join("u16.tif"), &TiffOptions::default());
    // f32, 1 band (2-d), NaN nodata, ZSTD with predictor 3, 512 tiles, geographic CRS.
    let wgs = GeoInfo::new([10.0, 0.001, 0.0, 47.0, 0.0, -0.001]).with_epsg(4326);
    let y = ChunkedArray::<f32>::random_normal_seeded(&[1000, 1300], &[512, 512], 5.0, 2.0, 3);
    let y = rask::where_(&y.gt(8.0), f32::NAN, &y).with_geo(wgs.with_nodata(f64::NAN));
    let o = TiffOptions::default()
        .tile(512)
        .compression(TiffCompression::Zstd { level: 3 });
    check_with_gdal(&py, &y, &dir.join("f32.tif"), &o);
    // i16 LZW, f64 uncompressed, u8 forced BigTIFF; rotated geotransform; no CRS.
    let rot = GeoInfo::new([1000.0, 2.0, 0.5, 2000.0, 0.25, -2.0]);
    let z = ChunkedArray::from_fn(&[2, 333, 444], &[1, 100, 100], |i| {
        (i[1] as i16 - 150) * (i[2] as i16 % 13) - i[0] as i16
    })
    .with_geo(rot.clone());
    let lzw = TiffOptions::default().compression(TiffCompression::Lzw);
    check_with_gdal(&py, &z, &dir.join("i16.tif"), &lzw);
    let w = ChunkedArray::<f64>::random_seeded(&[300, 200], &[100, 200], 9).with_geo(rot);
    let none = TiffOptions::default().compression(TiffCompression::None);
    check_with_gdal(&py, &w, &dir.join("f64.tif"), &none);
    let u = ChunkedArray::from_fn(&[257, 259], &[257, 259], |i| (i[0] ^ i[1]) as u8);
    let big = TiffOptions::default().bigtiff(Some(true));
    check_with_gdal(&py, &u, &dir.join("u8-big.tif"), &big);
    assert!(
        rask::open_tiff(dir.join("u8-big.tif"))
            .unwrap()
            .is_bigtiff()
    );
}

// ---------------------------------------------------------------- round trips without GDAL

#[test]
fn round_trip_keeps_values_and_geo() {
    let dir = tmp("round");
    let g = GeoInfo::new([0.0, 30.0, 0.0, 0.0, 0.0, -30.0])
        .with_epsg(32610)
        .with_nodata(-1.0);
    let x = ChunkedArray::from_fn(&[2, 300, 400], &[1, 128, 128], |i| {
        (i[0] as i32 - 1) * (i[1] * 400 + i[2]) as i32
    })
    .with_geo(g.clone());
    for (k, c) in [
        TiffCompression::None,
        TiffCompression::Lzw,
        TiffCompression::Deflate { level: 1 },
        TiffCompression::Zstd { level: 1 },
    ]
    .into_iter()
    .enumerate()
    {
        for pred in [false, true] {
            let p = dir.join(format!("x{k}{pred}.tif"));
            let o = TiffOptions::default()
                .compression(c)
                .predictor(pred)
                .tile(128);
            let stats = x.to_tiff_with(&p, &o, &Config::default()).unwrap();
            assert!(stats.bytes_written > 0);
            let t = rask::open_tiff(&p).unwrap();
            assert_eq!(t.geo(), Some(&g));
            assert_eq!(t.tile_shape(), [128, 128]);
            assert!(t.is_planar());
            let back = t.into_typed::<i32>().unwrap();
            assert_eq!(back.geo(), Some(&g));
            assert_eq!(back.compute().unwrap(), x.compute().unwrap());
        }
    }
    // PixelIsPoint survives (the geotransform stays corner-based).
    let mut pt = g.clone();
    pt.pixel_is_point = true;
    let p = dir.join("point.tif");
    x.with_geo(pt.clone())
        .to_tiff(&p, &TiffOptions::default())
        .unwrap();
    assert_eq!(rask::open_tiff(&p).unwrap().geo(), Some(&pt));
}

#[test]
fn writer_refuses_bad_input_and_leaves_nothing() {
    let dir = tmp("bad-write");
    let p = dir.join("x.tif");
    let b = ChunkedArray::<bool>::ones(&[4, 4], &[2, 2]);
    assert_msg(
        &b.to_tiff(&p, &TiffOptions::default()).unwrap_err(),
        &["to_tiff", "bool", "x.tif"],
    );
    let one = ChunkedArray::<f32>::ones(&[10], &[5]);
    assert_msg(
        &one.to_tiff(&p, &TiffOptions::default()).unwrap_err(),
        &["to_tiff", "[10]"],
    );
    let x = ChunkedArray::<f32>::ones(&[40, 40], &[20, 20]);
    assert_msg(
        &x.to_tiff(&p, &TiffOptions::default().tile(100))
            .unwrap_err(),
        &["tile size 100"],
    );
    // A failing block: no file, no temporary left behind.
    let bad = x.map_blocks(|b, idx| {
        if idx == [1, 1] {
            Err(Error::msg("sensor offline"))
        } else {
            Ok(b.to_owned())
        }
    });
    let e = bad.to_tiff(&p, &TiffOptions::default()).unwrap_err();
    assert_msg(&e, &["sensor offline"]);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    // An existing file needs overwrite.
    x.to_tiff(&p, &TiffOptions::default()).unwrap();
    assert_msg(
        &x.to_tiff(&p, &TiffOptions::default()).unwrap_err(),
        &["already exists"],
    );
    (&x * 2.0)
        .to_tiff(&p, &TiffOptions::default().overwrite(true))
        .unwrap();
    let back = rask::open_tiff_typed::<f32>(&p).unwrap();
    assert_eq!(back.sum().compute().unwrap(), 2.0 * 1600.0);
}

// ---------------------------------------------------------------- bad input

#[test]
fn bad_files_give_errors_naming_the_path() {
    let dir = tmp("bad");
    let text = dir.join("notes.tif");
    std::fs::write(&text, "not a tiff at all").unwrap();
    assert_msg(
        &rask::open_tiff(&text).unwrap_err(),
        &["open_tiff", "notes.tif", "not a TIFF"],
    );
    let empty = dir.join("empty.tif");
    std::fs::write(&empty, "").unwrap();
    assert_msg(&rask::open_tiff(&empty).unwrap_err(), &["empty.tif"]);
    assert_msg(&rask::open_tiff(&dir).unwrap_err(), &["directory"]);

    // A good file, truncated: its tile table points past the end.
    let good = dir.join("good.tif");
    let x = ChunkedArray::<f32>::random(&[512, 512], &[256, 256]);
    x.to_tiff(&good, &TiffOptions::default()).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.join("cut.tif");
    // The directory is at the end: keep the header, lose the directory.
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_msg(&rask::open_tiff(&cut).unwrap_err(), &["cut.tif"]);

    // Truncated after opening: computing gives an error, not SIGBUS.
    let later = dir.join("later.tif");
    std::fs::copy(&good, &later).unwrap();
    let lazy = rask::open_tiff_typed::<f32>(&later).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&later)
        .unwrap()
        .set_len(2000)
        .unwrap();
    let e = lazy.sum().compute().unwrap_err();
    assert_msg(&e, &["later.tif"]);

    // Corrupt tile bytes: an error naming the tile.
    let mut corrupt = bytes.clone();
    for b in &mut corrupt[16..3000] {
        *b = 0xAB;
    }
    let bad = dir.join("corrupt.tif");
    std::fs::write(&bad, &corrupt).unwrap();
    let e = rask::open_tiff_typed::<f32>(&bad)
        .unwrap()
        .sum()
        .compute()
        .unwrap_err();
    assert_msg(&e, &["corrupt.tif", "tile"]);
}

/// A little-endian classic TIFF with the given entries (tag, type, count, inline value).
fn tiny_tiff(entries: &[(u16, u16, u32, u32)]) -> Vec<u8> {
    let mut v = b"II".to_vec();
    v.extend(42u16.to_le_bytes());
    v.extend(8u32.to_le_bytes());
    v.extend((entries.len() as u16).to_le_bytes());
    for &(tag, typ, count, value) in entries {
        v.extend(tag.to_le_bytes());
        v.extend(typ.to_le_bytes());
        v.extend(count.to_le_bytes());
        v.extend(value.to_le_bytes());
    }
    v.extend(0u32.to_le_bytes());
    v.extend([0u8; 64]);
    v
}

#[test]
fn absurd_headers_are_refused() {
    let dir = tmp("absurd");
    let write = |name: &str, b: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, b).unwrap();
        p
    };
    // 10^6 x 10^6 pixels in 256 tiles, with a table of one tile.
    let p = write(
        "table.tif",
        tiny_tiff(&[
            (256, 4, 1, 1_000_000),
            (257, 4, 1, 1_000_000),
            (258, 3, 1, 8),
            (322, 3, 1, 256),
            (323, 3, 1, 256),
            (324, 4, 1, 8),
            (325, 4, 1, 16),
        ]),
    );
    assert_msg(
        &rask::open_tiff(&p).unwrap_err(),
        &["table.tif", "1 offsets", "needs 15264649"],
    );
    // A tag claiming 4 billion values.
    let p = write(
        "count.tif",
        tiny_tiff(&[(256, 4, 1, 10), (257, 4, 1, 10), (273, 4, u32::MAX, 8)]),
    );
    assert_msg(
        &rask::open_tiff(&p).unwrap_err(),
        &["count.tif", "4294967295 values"],
    );
    // A tile of 2^16 x 2^16 f64 samples (32 GiB).
    let p = write(
        "huge-tile.tif",
        tiny_tiff(&[
            (256, 4, 1, 100),
            (257, 4, 1, 100),
            (258, 3, 1, 64),
            (339, 3, 1, 3),
            (322, 4, 1, 1 << 16),
            (323, 4, 1, 1 << 16),
            (324, 4, 1, 8),
            (325, 4, 1, 8),
        ]),
    );
    assert_msg(
        &rask::open_tiff(&p).unwrap_err(),
        &["huge-tile.tif", "larger than"],
    );
    // A tile past the end of the file.
    let p = write(
        "past.tif",
        tiny_tiff(&[
            (256, 4, 1, 16),
            (257, 4, 1, 16),
            (258, 3, 1, 8),
            (322, 3, 1, 16),
            (323, 3, 1, 16),
            (324, 4, 1, 1 << 30),
            (325, 4, 1, 256),
        ]),
    );
    assert_msg(
        &rask::open_tiff(&p).unwrap_err(),
        &["past.tif", "tile 0", "past the end"],
    );
    // 12-bit samples, unsupported compression.
    let p = write(
        "bits.tif",
        tiny_tiff(&[(256, 4, 1, 4), (257, 4, 1, 4), (258, 3, 1, 12)]),
    );
    assert_msg(&rask::open_tiff(&p).unwrap_err(), &["bits.tif", "12-bit"]);
    let p = write(
        "lerc.tif",
        tiny_tiff(&[
            (256, 4, 1, 4),
            (257, 4, 1, 4),
            (258, 3, 1, 8),
            (259, 3, 1, 34887),
        ]),
    );
    assert_msg(&rask::open_tiff(&p).unwrap_err(), &["lerc.tif", "LERC"]);
}

#[test]
fn blocks_read_only_their_tiles() {
    // A 4 x 4 grid of tiles; computing one block reads one tile's bytes.
    let dir = tmp("partial");
    let p = dir.join("x.tif");
    let x = ChunkedArray::from_fn(&[1024, 1024], &[256, 256], |i| (i[0] + i[1]) as u16);
    x.to_tiff(&p, &TiffOptions::default()).unwrap();
    let t = rask::open_tiff_band(&p, 0)
        .unwrap()
        .into_typed::<u16>()
        .unwrap();
    assert_eq!(t.chunks(), vec![256, 256]);
    let one = t.blocks(&[2, 3]);
    let (v, stats) = one.compute_with_stats(&Config::default()).unwrap();
    assert_eq!(v[[0, 0]], 512 + 768);
    assert_eq!(stats.bytes_read, 256 * 256 * 2);
}
