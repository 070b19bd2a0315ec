//! The `rask` command line, run in-process on real files (and once as the built binary).

use std::path::{Path, PathBuf};

use ndarray::{Array3, ArrayD, Axis, IxDyn};
use rask::prelude::*;
use serde_json::Value;

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `rask args...`; returns (exit code, stdout, stderr).
fn rask(args: &[&str]) -> (i32, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut argv = vec!["rask"];
    argv.extend_from_slice(args);
    let code = rask::cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Runs a command that must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let (code, out, err) = rask(args);
    assert_eq!(code, 0, "rask {args:?} failed: {err}");
    out
}

/// Runs a command that must fail with `code`; returns its stderr, checked to be one line.
fn fails(args: &[&str], code: i32) -> String {
    let (c, out, err) = rask(args);
    assert_eq!(c, code, "rask {args:?}: stdout {out}, stderr {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err}");
    err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A 3-band float32 scene with nodata (-9999) in a few places, and its values.
fn scene(d: &Path) -> (PathBuf, Array3<f32>) {
    let a = Array3::from_shape_fn((3, 70, 90), |(b, i, j)| {
        if (i * 90 + j) % 17 == 3 && b != 2 {
            -9999.0
        } else {
            ((b + 1) * 100) as f32 + ((i * 31 + j * 7) % 23) as f32 * 0.25 - (j as f32) * 0.5
        }
    });
    let path = d.join("scene.zarr");
    ChunkedArray::from_ndarray(a.view(), &[1, 32, 32])
        .to_zarr(&path, &ZarrOptions::default().attribute("nodata", -9999.0))
        .unwrap();
    (path, a)
}

/// count, mean, population std, min, max of the values that are not `nodata`.
fn eager_stats(
    values: impl Iterator<Item = f64>,
    nodata: Option<f64>,
) -> (u64, f64, f64, f64, f64) {
    let v: Vec<f64> = values
        .filter(|&x| !x.is_nan() && Some(x) != nodata)
        .collect();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (v.len() as u64, mean, var.sqrt(), min, max)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn stats_json_matches_eager_statistics_and_skips_nodata() {
    let d = dir("stats");
    let (path, a) = scene(&d);
    let out = ok(&["stats", p(&path), "--json", "--threads", "2"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["shape"], serde_json::json!([3, 70, 90]));
    assert_eq!(v["dtype"], "float32");
    let bands = v["bands"].as_array().unwrap();
    assert_eq!(bands.len(), 3);
    for (b, got) in bands.iter().enumerate() {
        let band = a.index_axis(Axis(0), b);
        let (count, mean, std, min, max) =
            eager_stats(band.iter().map(|&x| x as f64), Some(-9999.0));
        assert_eq!(got["band"], b + 1);
        assert_eq!(got["count"], count, "band {}", b + 1);
        for (key, want) in [("mean", mean), ("std", std), ("min", min), ("max", max)] {
            let g = got[key].as_f64().unwrap();
            assert!(close(g, want), "band {} {key}: {g} vs {want}", b + 1);
        }
    }
    // Bands 1 and 2 have nodata pixels, band 3 none.
    assert!(bands[0]["count"].as_u64().unwrap() < 70 * 90);
    assert_eq!(bands[2]["count"], 70 * 90);
    assert!(bands[0]["min"].as_f64().unwrap() > -9999.0);

    // One band, and the text table.
    let one: Value =
        serde_json::from_str(&ok(&["stats", p(&path), "--band", "2", "--json"])).unwrap();
    assert_eq!(one["bands"].as_array().unwrap().len(), 1);
    assert_eq!(one["bands"][0], bands[1]);
    let text = ok(&["stats", p(&path)]);
    assert!(
        text.contains("nodata -9999") && text.lines().count() == 5,
        "{text}"
    );
    let e = fails(&["stats", p(&path), "--band", "4"], 1);
    assert!(
        e.contains("--band 4") && e.contains("3 bands") && e.contains("scene.zarr"),
        "{e}"
    );
}

#[test]
fn zarr_fill_value_is_not_nodata_unless_the_attributes_say_so() {
    let d = dir("fill");
    // A 2-d array full of zeros but one row, with fill value 0 and no nodata attribute.
    let mut a = ArrayD::<f64>::zeros(IxDyn(&[40, 30]));
    a.index_axis_mut(Axis(0), 5).fill(3.0);
    let plain = d.join("plain.zarr");
    ChunkedArray::from_ndarray(a.view(), &[16, 16])
        .to_zarr(&plain, &ZarrOptions::default())
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", p(&plain), "--json"])).unwrap();
    assert_eq!(v["bands"][0]["count"], 1200);
    assert_eq!(v["bands"][0]["min"], 0.0);
    // xarray's _FillValue names nodata.
    let attr = d.join("attr.zarr");
    ChunkedArray::from_ndarray(a.view(), &[16, 16])
        .to_zarr(&attr, &ZarrOptions::default().attribute("_FillValue", 0.0))
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", p(&attr), "--json"])).unwrap();
    assert_eq!(v["bands"][0]["count"], 30);
    assert_eq!(v["bands"][0]["mean"], 3.0);
    assert_eq!(v["bands"][0]["std"], 0.0);
    // All pixels nodata: count 0, the rest null.
    let none = d.join("none.zarr");
    ChunkedArray::<f64>::zeros(&[4, 4], &[2, 2])
        .to_zarr(&none, &ZarrOptions::default().attribute("nodata", 0.0))
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&["stats", p(&none), "--json"])).unwrap();
    assert_eq!(v["bands"][0]["count"], 0);
    assert!(v["bands"][0]["mean"].is_null() && v["bands"][0]["max"].is_null());
}

#[test]
fn info_shows_the_metadata() {
    let d = dir("info");
    let (path, _) = scene(&d);
    let text = ok(&["info", p(&path)]);
    for want in [
        "Zarr V3",
        "[3, 70, 90]",
        "float32",
        "[1, 32, 32]",
        "zstd",
        "nodata:       -9999",
        "crs:          none",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    let v: Value = serde_json::from_str(&ok(&["info", p(&path), "--json"])).unwrap();
    assert_eq!(v["chunks"], serde_json::json!([1, 32, 32]));
    assert_eq!(v["nodata"], -9999.0);
    let npy = d.join("x.npy");
    ChunkedArray::<i16>::ones(&[5, 6], &[5, 6])
        .to_npy(&npy)
        .unwrap();
    let v: Value = serde_json::from_str(&ok(&["info", p(&npy), "--json"])).unwrap();
    assert_eq!(
        (v["dtype"].as_str(), v["compression"].as_str()),
        (Some("int16"), Some("none"))
    );
    assert!(v["format"].as_str().unwrap().starts_with("npy 1.0"));
}

#[test]
fn calc_ndvi_streams_to_zarr_and_npy() {
    let d = dir("calc");
    let nir = ArrayD::from_shape_fn(IxDyn(&[50, 60]), |i| (i[0] * 60 + i[1]) as u16 % 1000 + 10);
    let red = ArrayD::from_shape_fn(IxDyn(&[50, 60]), |i| (i[0] * 7 + i[1] * 3) as u16 % 500);
    let (nir_p, red_p) = (d.join("nir.npy"), d.join("red.zarr"));
    ChunkedArray::from_ndarray(nir.view(), &[50, 60])
        .to_npy(&nir_p)
        .unwrap();
    ChunkedArray::from_ndarray(red.view(), &[20, 20])
        .to_zarr(&red_p, &ZarrOptions::default())
        .unwrap();
    let out = d.join("ndvi.zarr");
    let expr = "(nir - red) / (nir + red)";
    ok(&[
        "calc",
        expr,
        "-i",
        &format!("nir={}", p(&nir_p)),
        "-i",
        &format!("red={}", p(&red_p)),
        "-o",
        p(&out),
        "-q",
    ]);
    let z = rask::open_zarr(&out).unwrap();
    assert_eq!(
        z.dtype(),
        DType::F32,
        "uint16 inputs give float32 by default"
    );
    let got = z.into_typed::<f32>().unwrap().compute().unwrap();
    for ((g, &n), &r) in got.iter().zip(nir.iter()).zip(red.iter()) {
        let want = ((n as f64 - r as f64) / (n as f64 + r as f64)) as f32;
        assert_eq!(*g, want);
    }
    // To .npy, as uint8 through a comparison, and an output that exists.
    let mask = d.join("mask.npy");
    let args = [
        "calc",
        "where(nir > 2 * red, 1, 0)",
        "-i",
        &format!("nir={}", p(&nir_p)),
        "-i",
        &format!("red={}", p(&red_p)),
        "-o",
        p(&mask),
        "--dtype",
        "uint8",
    ];
    ok(&args);
    let m = rask::open_npy::<u8>(&mask, &[50, 60])
        .unwrap()
        .compute()
        .unwrap();
    let want = nir
        .iter()
        .zip(red.iter())
        .filter(|&(&n, &r)| n as f64 > 2.0 * r as f64)
        .count();
    assert_eq!(m.iter().map(|&v| v as usize).sum::<usize>(), want);
    let e = fails(&args, 1);
    assert!(
        e.contains("mask.npy exists") && e.contains("--overwrite"),
        "{e}"
    );
    let mut again = args.to_vec();
    again.push("--overwrite");
    ok(&again);
}

#[test]
fn calc_masks_nodata_and_records_it() {
    let d = dir("calc-nodata");
    let (path, a) = scene(&d);
    let out = d.join("scaled.zarr");
    ok(&[
        "calc",
        "x * 2 + 1",
        "-i",
        &format!("x={}", p(&path)),
        "-o",
        p(&out),
    ]);
    let z = rask::open_zarr(&out).unwrap();
    assert!(z.attributes()["nodata"] == "NaN", "{:?}", z.attributes());
    let got = z.into_typed::<f32>().unwrap().compute().unwrap();
    for (g, &x) in got.iter().zip(a.iter()) {
        if x == -9999.0 {
            assert!(g.is_nan());
        } else {
            assert_eq!(*g, (x as f64 * 2.0 + 1.0) as f32);
        }
    }
    // --nodata: NaN results become the value, and stats skip them again.
    let out2 = d.join("int.zarr");
    ok(&[
        "calc",
        "x",
        "-i",
        &format!("x={}", p(&path)),
        "-o",
        p(&out2),
        "--dtype",
        "int16",
        "--nodata",
        "-1",
    ]);
    let v: Value = serde_json::from_str(&ok(&["stats", p(&out2), "--json"])).unwrap();
    let orig: Value = serde_json::from_str(&ok(&["stats", p(&path), "--json"])).unwrap();
    for b in 0..3 {
        assert_eq!(v["bands"][b]["count"], orig["bands"][b]["count"]);
    }
    let e = fails(
        &[
            "calc",
            "x",
            "-i",
            &format!("x={}", p(&path)),
            "-o",
            p(&d.join("u.zarr")),
            "--dtype",
            "uint8",
            "--nodata",
            "-1",
        ],
        1,
    );
    assert!(e.contains("--nodata -1") && e.contains("uint8"), "{e}");
}

#[test]
fn calc_errors_name_the_problem() {
    let d = dir("calc-errors");
    let x = d.join("x.npy");
    ChunkedArray::<f32>::ones(&[4, 4], &[4, 4])
        .to_npy(&x)
        .unwrap();
    let xi = format!("x={}", p(&x));
    let out = d.join("o.zarr");
    // A parse error: the message, then the expression with a caret under the column.
    let (code, _, err) = rask(&["calc", "(x + 1", "-i", &xi, "-o", p(&out)]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("rask calc: error: cannot parse") && lines[0].contains("column 7"),
        "{err}"
    );
    assert_eq!(lines[1], "  (x + 1");
    assert_eq!(lines[2], "        ^");
    let e = fails(&["calc", "x + y", "-i", &xi, "-o", p(&out)], 1);
    assert!(e.contains("'y'") && e.contains("-i y=PATH"), "{e}");
    let e = fails(
        &["calc", "x", "-i", "x=/no/such/file.npy", "-o", p(&out)],
        1,
    );
    assert!(e.contains("/no/such/file.npy"), "{e}");
    let e = fails(&["calc", "x", "-i", "x", "-o", p(&out)], 1);
    assert!(e.contains("NAME=PATH"), "{e}");
    let e = fails(
        &["calc", "x", "-i", &format!("and={}", p(&x)), "-o", p(&out)],
        1,
    );
    assert!(e.contains("reserved"), "{e}");
    let e = fails(&["calc", "x", "-i", &xi, "-o", p(&d.join("o.png"))], 1);
    assert!(e.contains("o.png") && e.contains(".zarr"), "{e}");
    let e = fails(
        &["calc", "x", "-i", &xi, "-o", p(&out), "--dtype", "float16"],
        2,
    );
    assert!(e.contains("float16"), "{e}");
    let e = fails(
        &[
            "calc",
            "x",
            "-i",
            &xi,
            "-o",
            p(&out),
            "--memory-limit",
            "lots",
        ],
        2,
    );
    assert!(e.contains("lots"), "{e}");
    // Shapes that do not broadcast.
    let y = d.join("y.npy");
    ChunkedArray::<f32>::ones(&[3, 5], &[3, 5])
        .to_npy(&y)
        .unwrap();
    let e = fails(
        &[
            "calc",
            "x + y",
            "-i",
            &xi,
            "-i",
            &format!("y={}", p(&y)),
            "-o",
            p(&out),
        ],
        1,
    );
    assert!(e.contains("[4, 4]") && e.contains("[3, 5]"), "{e}");
    // Nothing was left behind by the failures.
    assert!(!out.exists());
}

#[test]
fn convert_round_trips_between_formats() {
    let d = dir("convert");
    let (path, a) = scene(&d);
    let npy = d.join("scene.npy");
    ok(&["convert", p(&path), p(&npy), "-q"]);
    let back = rask::open_npy::<f32>(&npy, &[3, 70, 90])
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(back, a.clone().into_dyn());
    let z = d.join("again.zarr");
    ok(&[
        "convert",
        p(&npy),
        p(&z),
        "--chunks",
        "16,64",
        "--compression",
        "deflate",
        "-q",
    ]);
    let v: Value = serde_json::from_str(&ok(&["info", p(&z), "--json"])).unwrap();
    assert_eq!(v["chunks"], serde_json::json!([1, 16, 64]));
    assert!(
        v["compression"].as_str().unwrap().starts_with("gzip"),
        "{v}"
    );
    let zarr = rask::open_zarr_typed::<f32>(&z).unwrap().compute().unwrap();
    assert_eq!(zarr, a.clone().into_dyn());
    // nodata travels Zarr -> Zarr.
    let z2 = d.join("i16.zarr");
    ok(&["convert", p(&path), p(&z2), "--dtype", "int16"]);
    let v: Value = serde_json::from_str(&ok(&["info", p(&z2), "--json"])).unwrap();
    assert_eq!(
        (v["dtype"].as_str(), v["nodata"].as_f64()),
        (Some("int16"), Some(-9999.0))
    );
    // Bad chunks, a missing input, a directory that is not Zarr.
    let e = fails(
        &[
            "convert",
            p(&path),
            p(&d.join("c.zarr")),
            "--chunks",
            "1,2,3,4",
        ],
        1,
    );
    assert!(e.contains("4 sizes") && e.contains("3 dimensions"), "{e}");
    let e = fails(
        &["convert", p(&d.join("missing.zarr")), p(&d.join("c.zarr"))],
        1,
    );
    assert!(e.contains("missing.zarr"), "{e}");
    let e = fails(&["convert", p(&d), p(&d.join("c.zarr"))], 1);
    assert!(e.contains("without Zarr array metadata"), "{e}");
    let e = fails(
        &["convert", p(&path), p(&d.join("c.npy")), "--chunks", "4,4"],
        1,
    );
    assert!(e.contains("no chunks"), "{e}");
    assert!(!d.join("c.npy").exists() && !d.join("c.zarr").exists());
}

#[test]
fn usage_errors_and_help() {
    let help = ok(&["calc", "--help"]);
    assert!(
        help.contains("Examples:") && help.contains("-i nir="),
        "{help}"
    );
    for cmd in ["info", "stats", "convert"] {
        assert!(ok(&[cmd, "--help"]).contains("Example"), "{cmd}");
    }
    let e = fails(&["stats"], 2);
    assert!(e.contains("PATH") || e.contains("<PATH>"), "{e}");
    let e = fails(&["frobnicate"], 2);
    assert!(e.contains("frobnicate"), "{e}");
    let e = fails(&["stats", "x.zarr", "--threads", "0"], 2);
    assert!(e.contains("0"), "{e}");
    let e = fails(&["stats", "/no/such.zarr"], 1);
    assert!(
        e.starts_with("rask stats: error:") && e.contains("/no/such.zarr"),
        "{e}"
    );
}

#[test]
fn the_built_binary_runs() {
    let d = dir("binary");
    let x = d.join("x.npy");
    ChunkedArray::<f64>::arange(10, 10)
        .cast::<f64>()
        .to_npy(&x)
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args([
            "stats",
            p(&x),
            "--json",
            "--memory-limit",
            "64MiB",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["bands"][0]["mean"], 4.5);
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["info", "/no/such.npy"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/no/such.npy"));
}

/// A georeferenced 2-band uint16 GeoTIFF with nodata 0 in places, and its values.
fn geotiff(d: &Path) -> (PathBuf, Array3<u16>) {
    let a = Array3::from_shape_fn((2, 100, 80), |(b, i, j)| {
        if (i + j) % 13 == 0 {
            0
        } else {
            (b as u16 + 1) * 1000 + ((i * 80 + j) % 997) as u16
        }
    });
    let g = rask::GeoInfo::new([500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0])
        .with_epsg(32633)
        .with_nodata(0.0);
    let path = d.join("scene.tif");
    ChunkedArray::from_ndarray(a.view(), &[1, 64, 64])
        .with_geo(g)
        .to_tiff(&path, &rask::TiffOptions::default())
        .unwrap();
    (path, a)
}

#[test]
fn geotiff_info_stats_calc_and_convert() {
    let d = dir("geotiff");
    let (tif, a) = geotiff(&d);
    let text = ok(&["info", p(&tif)]);
    for want in [
        "GeoTIFF",
        "2 bands",
        "uint16",
        "EPSG:32633",
        "500000.0, 10.0",
        "nodata:       0",
    ] {
        assert!(text.contains(want), "{want} missing: {text}");
    }
    let v: Value = serde_json::from_str(&ok(&["stats", p(&tif), "--json"])).unwrap();
    for b in 0..2 {
        let band = a.index_axis(Axis(0), b);
        let (count, mean, std, min, max) = eager_stats(band.iter().map(|&x| x as f64), Some(0.0));
        let got = &v["bands"][b];
        assert_eq!(got["count"], count);
        for (key, want) in [("mean", mean), ("std", std), ("min", min), ("max", max)] {
            assert!(close(got[key].as_f64().unwrap(), want), "band {b} {key}");
        }
    }
    // Band math from GeoTIFF to GeoTIFF keeps the grid; nodata pixels come out NaN.
    let b1 = d.join("b1.zarr");
    ok(&[
        "calc",
        "x",
        "-i",
        &format!("x={}", p(&tif)),
        "-o",
        p(&b1),
        "--dtype",
        "uint16",
        "--nodata",
        "0",
        "-q",
    ]);
    let out = d.join("ratio.tif");
    ok(&[
        "calc",
        "(a - b) / (a + b)",
        "-i",
        &format!("a={}", p(&tif)),
        "-i",
        &format!("b={}", p(&b1)),
        "-o",
        p(&out),
        "-q",
    ]);
    let t = rask::open_tiff(&out).unwrap();
    assert_eq!(t.geo().unwrap().epsg, Some(32633));
    assert!(t.geo().unwrap().nodata.unwrap().is_nan());
    let got = t.into_typed::<f32>().unwrap().compute().unwrap();
    assert_eq!(got.shape(), &[2, 100, 80]);
    for (g, &x) in got.iter().zip(a.iter()) {
        if x == 0 {
            assert!(g.is_nan())
        } else {
            assert_eq!(*g, 0.0)
        }
    }
    // GeoTIFF -> Zarr -> GeoTIFF keeps values, grid and nodata.
    let (z, back) = (d.join("c.zarr"), d.join("back.tif"));
    ok(&["convert", p(&tif), p(&z), "-q"]);
    ok(&[
        "convert",
        p(&z),
        p(&back),
        "--chunks",
        "32,32",
        "--compression",
        "deflate",
        "-q",
    ]);
    let t = rask::open_tiff(&back).unwrap();
    assert_eq!(t.tile_shape(), [32, 32]);
    assert_eq!(t.geo(), rask::open_tiff(&tif).unwrap().geo());
    assert_eq!(
        t.into_typed::<u16>().unwrap().compute().unwrap(),
        a.into_dyn()
    );
    let e = fails(
        &[
            "convert",
            p(&tif),
            p(&d.join("bad.tif")),
            "--chunks",
            "30,30",
        ],
        1,
    );
    assert!(e.contains("multiple of 16"), "{e}");
    // Inputs on different grids are refused, naming both.
    let other = d.join("other.tif");
    ChunkedArray::<u16>::ones(&[2, 100, 80], &[1, 50, 80])
        .with_geo(rask::GeoInfo::new([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]))
        .to_tiff(&other, &rask::TiffOptions::default())
        .unwrap();
    let e = fails(
        &[
            "calc",
            "a + b",
            "-i",
            &format!("a={}", p(&tif)),
            "-i",
            &format!("b={}", p(&other)),
            "-o",
            p(&d.join("x.zarr")),
        ],
        1,
    );
    assert!(
        e.contains("different grids") && e.contains("scene.tif") && e.contains("other.tif"),
        "{e}"
    );
}

/// `gdalinfo -stats` agrees with `rask stats` on a GeoTIFF with nodata (when GDAL is there).
#[test]
fn stats_agree_with_gdalinfo() {
    let Ok(probe) = std::process::Command::new("gdalinfo")
        .arg("--version")
        .output()
    else {
        eprintln!("gdalinfo not found; skipped");
        return;
    };
    assert!(probe.status.success());
    let d = dir("gdal");
    let (tif, _) = geotiff(&d);
    let v: Value = serde_json::from_str(&ok(&["stats", p(&tif), "--json"])).unwrap();
    let g = std::process::Command::new("gdalinfo")
        .args(["-stats", "-json", p(&tif)])
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let gv: Value = serde_json::from_slice(&g.stdout).unwrap();
    for b in 0..2 {
        let gb = &gv["bands"][b];
        let rb = &v["bands"][b];
        // The full-precision figures are in the metadata (the top-level ones are rounded).
        let md = &gb["metadata"][""];
        for (gk, rk) in [
            ("MEAN", "mean"),
            ("STDDEV", "std"),
            ("MINIMUM", "min"),
            ("MAXIMUM", "max"),
        ] {
            let x: f64 = md[format!("STATISTICS_{gk}")]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let y = rb[rk].as_f64().unwrap();
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                "band {b} {gk}: gdal {x}, rask {y}"
            );
        }
    }
}

#[test]
fn sample_preview_and_band_inputs() {
    let d = dir("sample");
    let data = d.join("data");
    ok(&[
        "sample",
        p(&data),
        "--size",
        "128",
        "--times",
        "2",
        "--chunk",
        "64",
        "-q",
    ]);
    let tif = data.join("scene.tif");
    let v: Value = serde_json::from_str(&ok(&["info", p(&tif), "--json"])).unwrap();
    assert_eq!(v["shape"], serde_json::json!([5, 128, 128]));
    assert_eq!(v["crs"], "EPSG:32633");
    // NDVI from two bands of one file; the result is 2-d and within [-1, 1].
    let ndvi = d.join("ndvi.zarr");
    let nir = format!("nir={}:4", p(&tif));
    let red = format!("red={}:3", p(&tif));
    ok(&[
        "calc",
        "(nir - red) / (nir + red)",
        "-i",
        &nir,
        "-i",
        &red,
        "-o",
        p(&ndvi),
        "-q",
    ]);
    let s: Value = serde_json::from_str(&ok(&["stats", p(&ndvi), "--json"])).unwrap();
    assert_eq!(s["shape"], serde_json::json!([128, 128]));
    let b = &s["bands"][0];
    assert!(
        b["min"].as_f64().unwrap() >= -1.0 && b["max"].as_f64().unwrap() <= 1.0,
        "{b}"
    );
    let e = fails(
        &[
            "calc",
            "a",
            "-i",
            &format!("a={}:6", p(&tif)),
            "-o",
            p(&d.join("x.zarr")),
        ],
        1,
    );
    assert!(e.contains("band 6 is out of range"), "{e}");
    // Previews: RGB from three bands, one band with a colour map, capped in size.
    let png = d.join("rgb.png");
    ok(&[
        "preview",
        p(&tif),
        "-o",
        p(&png),
        "--bands",
        "3,2,1",
        "--size",
        "50",
    ]);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert!(w <= 50 && h <= 50 && w > 0, "{w}x{h}");
    ok(&[
        "preview",
        p(&ndvi),
        "-o",
        p(&d.join("ndvi.png")),
        "--colormap",
        "ndvi",
        "--range",
        "-1,1",
    ]);
    let e = fails(&["preview", p(&tif), "-o", p(&png)], 1);
    assert!(e.contains("exists"), "{e}");
    let e = fails(&["preview", p(&tif), "-o", p(&d.join("q.jpg"))], 1);
    assert!(e.contains(".png"), "{e}");
    let e = fails(
        &[
            "preview",
            p(&tif),
            "-o",
            p(&d.join("q.png")),
            "--bands",
            "7",
        ],
        1,
    );
    assert!(e.contains("--bands 7"), "{e}");
    let e = fails(&["sample", p(&data), "--size", "128", "-q"], 1);
    assert!(e.contains("exists"), "{e}");
}

#[test]
fn a_cancelled_run_exits_130_and_writes_nothing() {
    let d = dir("cancel");
    let x = d.join("x.npy");
    ChunkedArray::<f32>::ones(&[64, 64], &[8, 64])
        .to_npy(&x)
        .unwrap();
    let token = rask::CancelToken::new();
    token.cancel();
    for out in ["y.zarr", "y.npy", "y.tif"] {
        let out = d.join(out);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let args = [
            "rask",
            "calc",
            "x * 2",
            "-i",
            &format!("x={}", p(&x)),
            "-o",
            p(&out),
        ];
        assert_eq!(
            rask::cli::run_with(args, &mut o, &mut e, token.clone()),
            130
        );
        let e = String::from_utf8(e).unwrap();
        assert!(e.contains("interrupted") && e.lines().count() == 1, "{e}");
        assert!(!out.exists());
    }
    // Nothing half-written is left in the directory either.
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["x.npy".to_string()]);
}

#[test]
fn calc_resume_finishes_an_interrupted_zarr_write() {
    let d = dir("resume");
    let x = d.join("x.npy");
    let a = ChunkedArray::<f32>::random_seeded(&[64, 64], &[8, 64], 3);
    a.to_npy(&x).unwrap();
    let out = d.join("y.zarr");
    let input = format!("x={}", p(&x));
    let args = [
        "rask",
        "calc",
        "x * 2",
        "-i",
        &input,
        "-o",
        p(&out),
        "--resume",
    ];
    // An interrupted run leaves no output at the target path (only its hidden partial
    // directory, which a resumed run picks up).
    let token = rask::CancelToken::new();
    token.cancel();
    let (mut o, mut e) = (Vec::new(), Vec::new());
    assert_eq!(rask::cli::run_with(args, &mut o, &mut e, token), 130);
    assert!(!out.exists());
    ok(&args[1..]);
    let y = rask::open_zarr_typed::<f32>(&out)
        .unwrap()
        .compute()
        .unwrap();
    let want = (&a * 2.0f32).compute().unwrap();
    assert_eq!(y, want);
    // No partial directory is left once the write is complete.
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    // Only Zarr outputs keep a completion record.
    let tif = d.join("y.tif");
    let e = fails(
        &["calc", "x * 2", "-i", &input, "-o", p(&tif), "--resume"],
        1,
    );
    assert!(e.contains("--resume") && e.contains("Zarr"), "{e}");
    assert!(!tif.exists());
}
