//! The synthetic scene (`rask::data`), PNG previews (`rask::image`) and the example
//! pipelines (`rask::pipelines`).

use std::path::{Path, PathBuf};

use ndarray::{Axis, s};
use rask::data::{
    CLEAR, CLOUD, LandCover, MASK_NODATA, NIR, NODATA, RED, SHADOW, SceneSpec, WriteSceneOptions,
    synthetic_scene, write_scene,
};
use rask::image::{ColorMap, PreviewOptions, preview};
use rask::pipelines::{self, Filter, NdviOptions};
use rask::prelude::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rask-scene-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn spec(size: usize, chunk: usize) -> SceneSpec {
    SceneSpec {
        size,
        chunk,
        ..SceneSpec::default()
    }
}

/// Decodes a PNG, returning (width, height, color type, pixels).
fn decode_png(path: &Path) -> (u32, u32, png::ColorType, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, buf)
}

#[test]
fn same_values_for_any_chunking() {
    let a = synthetic_scene(&spec(200, 64)).unwrap();
    let b = synthetic_scene(&spec(200, 200)).unwrap();
    let c = synthetic_scene(&spec(200, 37)).unwrap();
    let ba = a.bands.compute().unwrap();
    assert_eq!(ba, b.bands.compute().unwrap());
    assert_eq!(ba, c.bands.compute().unwrap());
    assert_eq!(a.stack.compute().unwrap(), c.stack.compute().unwrap());
    assert_eq!(a.clouds.compute().unwrap(), c.clouds.compute().unwrap());
    assert_eq!(
        a.landcover.compute().unwrap(),
        c.landcover.compute().unwrap()
    );
    // Date 0 of the stack is the scene, and date t alone equals the stack's date t.
    let st = a.stack.compute().unwrap();
    assert_eq!(st.index_axis(Axis(0), 0), ba);
    let (b2, m2) = a.date(2).unwrap();
    assert_eq!(st.index_axis(Axis(0), 2), b2.compute().unwrap());
    assert_eq!(
        a.clouds.compute().unwrap().index_axis(Axis(0), 2),
        m2.compute().unwrap()
    );
    // A rechunked or sliced read is the same data.
    let part = a
        .bands
        .slice(s![.., 50..150, 20..199])
        .rechunk(&[2, 33, 50]);
    assert_eq!(
        part.compute().unwrap(),
        ba.slice(s![.., 50..150, 20..199]).to_owned().into_dyn()
    );
}

#[test]
fn seeds_differ_and_repeat() {
    let a = synthetic_scene(&spec(64, 32))
        .unwrap()
        .bands
        .compute()
        .unwrap();
    let again = synthetic_scene(&spec(64, 32))
        .unwrap()
        .bands
        .compute()
        .unwrap();
    let other = synthetic_scene(&SceneSpec {
        seed: 8,
        ..spec(64, 32)
    })
    .unwrap()
    .bands
    .compute()
    .unwrap();
    assert_eq!(a, again);
    assert_ne!(a, other);
}

#[test]
fn land_cover_spectra_clouds_and_nodata_are_sensible() {
    let scene = synthetic_scene(&SceneSpec::default()).unwrap();
    let bands = scene
        .bands
        .compute()
        .unwrap()
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    let cloud = scene
        .cloud
        .compute()
        .unwrap()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let lc = scene
        .landcover
        .compute()
        .unwrap()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap();
    let n = cloud.len() as f64;
    let frac = |v: u8| cloud.iter().filter(|&&x| x == v).count() as f64 / n;
    // Nodata: a wedge of a few per cent, all bands NODATA there and only there.
    let nodata = frac(MASK_NODATA);
    assert!((0.02..0.12).contains(&nodata), "nodata share {nodata}");
    for ((b, r, c), &v) in bands.indexed_iter() {
        let _ = b;
        assert_eq!(v == NODATA, cloud[[r, c]] == MASK_NODATA, "({b}, {r}, {c})");
    }
    let cloudy = frac(CLOUD);
    assert!((0.08..0.45).contains(&cloudy), "cloud share {cloudy}");
    assert!(frac(SHADOW) > 0.005, "shadow share {}", frac(SHADOW));
    // Every land cover is present.
    for c in LandCover::ALL {
        let k = lc.iter().filter(|&&v| v == c as u8).count() as f64 / n;
        assert!(k > 0.01, "{} covers {k}", c.name());
    }
    // Mean NDVI per class over clear pixels.
    let mean_ndvi = |class: LandCover| {
        let (mut sum, mut k) = (0.0, 0usize);
        for ((r, c), &l) in lc.indexed_iter() {
            if l == class as u8 && cloud[[r, c]] == CLEAR {
                let (red, nir) = (bands[[RED, r, c]] as f64, bands[[NIR, r, c]] as f64);
                sum += (nir - red) / (nir + red);
                k += 1;
            }
        }
        assert!(k > 100, "{} has {k} clear pixels", class.name());
        sum / k as f64
    };
    assert!(mean_ndvi(LandCover::Forest) > 0.6);
    assert!(mean_ndvi(LandCover::Cropland) > 0.5);
    assert!(mean_ndvi(LandCover::Water) < 0.0);
    let urban = mean_ndvi(LandCover::Urban);
    assert!((0.0..0.3).contains(&urban), "urban NDVI {urban}");
    // Clouds are bright in the visible bands.
    let (mut cb, mut k) = (0.0, 0);
    for ((r, c), &m) in cloud.indexed_iter() {
        if m == CLOUD {
            cb += bands[[0, r, c]] as f64;
            k += 1;
        }
    }
    assert!(cb / k as f64 > 3000.0);
    // Clouds move: the dates' masks differ.
    let clouds = scene.clouds.compute().unwrap();
    assert_ne!(clouds.index_axis(Axis(0), 0), clouds.index_axis(Axis(0), 1));
}

#[test]
fn bad_specs_are_errors() {
    for (s, word) in [
        (
            SceneSpec {
                size: 0,
                ..SceneSpec::default()
            },
            "size",
        ),
        (
            SceneSpec {
                chunk: 0,
                ..SceneSpec::default()
            },
            "chunk",
        ),
        (
            SceneSpec {
                times: 0,
                ..SceneSpec::default()
            },
            "times",
        ),
        (
            SceneSpec {
                pixel_size: -1.0,
                ..SceneSpec::default()
            },
            "pixel_size",
        ),
        (
            SceneSpec {
                cloud_cover: 1.5,
                ..SceneSpec::default()
            },
            "cloud_cover",
        ),
        (
            SceneSpec {
                origin: (f64::NAN, 0.0),
                ..SceneSpec::default()
            },
            "origin",
        ),
    ] {
        let e = synthetic_scene(&s).unwrap_err().to_string();
        assert!(e.contains("synthetic_scene") && e.contains(word), "{e}");
    }
}

#[test]
fn write_scene_round_trips() {
    let dir = tmp("write");
    let scene = synthetic_scene(&SceneSpec {
        size: 80,
        chunk: 32,
        times: 3,
        ..SceneSpec::default()
    })
    .unwrap();
    let files = write_scene(&scene, &dir, &WriteSceneOptions::default()).unwrap();
    let group = files.zarr.unwrap();
    let bands = rask::open_zarr(group.join("bands")).unwrap();
    assert_eq!(
        bands.dimension_names().unwrap(),
        &[Some("band".into()), Some("y".into()), Some("x".into())]
    );
    assert_eq!(bands.attributes()["epsg"], 32633);
    assert_eq!(
        bands.attributes()["geotransform"],
        serde_json::json!([399_960.0, 10.0, 0.0, 5_300_040.0, 0.0, -10.0])
    );
    assert_eq!(
        bands.into_typed::<u16>().unwrap().compute().unwrap(),
        scene.bands.compute().unwrap()
    );
    for (name, want) in [("cloud", &scene.cloud), ("landcover", &scene.landcover)] {
        let got = rask::open_zarr_typed::<u8>(group.join(name)).unwrap();
        assert_eq!(got.compute().unwrap(), want.compute().unwrap(), "{name}");
    }
    let stack = rask::open_zarr_typed::<u16>(group.join("stack")).unwrap();
    assert_eq!(stack.compute().unwrap(), scene.stack.compute().unwrap());
    let clouds = rask::open_zarr_typed::<u8>(group.join("clouds")).unwrap();
    assert_eq!(clouds.compute().unwrap(), scene.clouds.compute().unwrap());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(group.join("zarr.json")).unwrap()).unwrap();
    assert_eq!(meta["node_type"], "group");
    assert_eq!(meta["attributes"]["band_names"][3], "nir");
    // Existing outputs are kept unless overwrite is set.
    let e = write_scene(&scene, &dir, &WriteSceneOptions::default()).unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    let opts = WriteSceneOptions {
        overwrite: true,
        ..WriteSceneOptions::default()
    };
    write_scene(&scene, &dir, &opts).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn previews_are_valid_pngs_of_the_right_size() {
    let dir = tmp("png");
    std::fs::create_dir_all(&dir).unwrap();
    let scene = synthetic_scene(&spec(300, 128)).unwrap();
    let rgb = PreviewOptions {
        bands: vec![2, 1, 0],
        nodata: Some(0.0),
        max_size: 100,
        ..PreviewOptions::default()
    };
    let p = dir.join("rgb.png");
    let info = preview(&scene.bands, &rgb, &p).unwrap();
    assert_eq!((info.width, info.height, info.factor), (100, 100, 3));
    let (w, h, ct, px) = decode_png(&p);
    assert_eq!((w, h, ct), (100, 100, png::ColorType::Rgba));
    // The nodata wedge is transparent, the rest opaque.
    let transparent = px.chunks(4).filter(|p| p[3] == 0).count();
    assert!(transparent > 100 && transparent < 2000, "{transparent}");
    assert!(px.chunks(4).any(|p| p[3] == 255 && p[1] > 50));
    // One band, colour-mapped; a 2-d array.
    let one = PreviewOptions {
        colormap: ColorMap::Viridis,
        max_size: 64,
        ..PreviewOptions::default()
    };
    let info = preview(&scene.landcover, &one, dir.join("lc.png")).unwrap();
    assert_eq!((info.width, info.height), (60, 60)); // 300 / ceil(300 / 64) = 60
    let (w, h, _, _) = decode_png(&dir.join("lc.png"));
    assert_eq!((w, h), (60, 60));
    // Errors name the operation and the value.
    let bad = PreviewOptions {
        bands: vec![7],
        ..PreviewOptions::default()
    };
    let e = preview(&scene.bands, &bad, dir.join("x.png")).unwrap_err();
    assert!(
        e.to_string().contains("preview") && e.to_string().contains('7'),
        "{e}"
    );
    let e = preview(&scene.stack, &one, dir.join("x.png")).unwrap_err();
    assert!(e.to_string().contains("[4, 5, 300, 300]"), "{e}");
    assert!(!dir.join("x.png").exists());
    let e = rask::image::write_png_rgb(dir.join("y.png"), 4, 4, &[0; 47]).unwrap_err();
    assert!(e.to_string().contains("47"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The tiny scene every pipeline test reads, written once per test.
fn tiny_scene(dir: &Path) -> PathBuf {
    let scene = synthetic_scene(&SceneSpec {
        size: 96,
        chunk: 32,
        times: 4,
        ..SceneSpec::default()
    })
    .unwrap();
    write_scene(&scene, dir, &WriteSceneOptions::default()).unwrap();
    dir.to_path_buf()
}

#[test]
fn ndvi_pipeline() {
    let dir = tmp("ndvi");
    let data = tiny_scene(&dir.join("data"));
    let bands = pipelines::open_raster(&data, "bands").unwrap();
    let cloud = pipelines::open_mask(&bands, "cloud").unwrap().unwrap();
    let out = dir.join("out");
    let s = pipelines::run_ndvi(&bands, Some(&cloud), &NdviOptions::default(), &out).unwrap();
    assert!(s.valid > 0 && s.valid < s.pixels);
    assert!(s.min >= -1.0 && s.max <= 1.0 && s.min < s.mean && s.mean < s.max);
    assert!((0.0..=1.0).contains(&s.vegetated));
    // The written NDVI is NaN exactly where the input is nodata or not clear.
    let v = rask::open_zarr_typed::<f32>(out.join("ndvi.zarr"))
        .unwrap()
        .compute()
        .unwrap();
    let c = cloud.compute().unwrap();
    for ((r, col), &x) in v.indexed_iter().map(|(i, x)| ((i[0], i[1]), x)) {
        assert_eq!(x.is_nan(), c[[r, col]] != CLEAR, "({r}, {col})");
    }
    let valid = v.iter().filter(|x| !x.is_nan()).count() as u64;
    assert_eq!(valid, s.valid);
    let (w, h, _, _) = decode_png(&out.join("ndvi.png"));
    assert_eq!((w, h), (96, 96));
    // A band index out of range is an error naming it.
    let bad = NdviOptions {
        nir: 9,
        ..NdviOptions::default()
    };
    let e = pipelines::run_ndvi(&bands, None, &bad, &out).unwrap_err();
    assert!(e.to_string().contains("band 9"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn composite_pipeline() {
    let dir = tmp("composite");
    let data = tiny_scene(&dir.join("data"));
    let stack = pipelines::open_raster(&data, "stack").unwrap();
    let clouds = pipelines::open_mask(&stack, "clouds").unwrap().unwrap();
    let out = dir.join("out");
    let s = pipelines::run_composite(&stack, Some(&clouds), [2, 1, 0], &out).unwrap();
    assert_eq!((s.dates, s.pixels), (4, 96 * 96));
    assert!(s.filled > s.pixels / 2, "{} of {}", s.filled, s.pixels);
    // Check the composite against a direct median over the clear dates.
    let st = stack.data.compute().unwrap();
    let cl = clouds.compute().unwrap();
    let comp = rask::open_zarr_typed::<u16>(out.join("composite.zarr"))
        .unwrap()
        .compute()
        .unwrap();
    for (r, c) in [(5, 5), (40, 60), (90, 10), (10, 90), (60, 30)] {
        for b in 0..5 {
            let mut v: Vec<f32> = (0..4)
                .filter(|&t| cl[[t, r, c]] == CLEAR && st[[t, b, r, c]] != 0.0)
                .map(|t| st[[t, b, r, c]])
                .collect();
            v.sort_by(f32::total_cmp);
            let want = match v.len() {
                0 => NODATA,
                n if n % 2 == 1 => v[n / 2] as u16,
                n => ((v[n / 2 - 1] + v[n / 2]) / 2.0).round() as u16,
            };
            assert_eq!(comp[[b, r, c]], want, "band {b} at ({r}, {c}) from {v:?}");
        }
    }
    // Cloud-free: fewer bright (cloud) pixels than any single date.
    let bright = comp
        .index_axis(Axis(0), 0)
        .iter()
        .filter(|&&v| v > 4000)
        .count();
    assert!(bright < 50, "{bright} bright pixels left");
    let (w, h, _, _) = decode_png(&out.join("composite.png"));
    assert_eq!((w, h), (96, 96));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stats_pipeline_matches_direct_computation() {
    let dir = tmp("stats");
    let data = tiny_scene(&dir.join("data"));
    let r = pipelines::open_raster(&data, "bands").unwrap();
    let stats = pipelines::band_stats(&r.data, r.nodata, 10).unwrap();
    let x = r.data.compute().unwrap();
    for (b, s) in stats.iter().enumerate() {
        let v: Vec<f64> = x
            .index_axis(Axis(0), b)
            .iter()
            .filter(|&&v| v != 0.0)
            .map(|&v| v as f64)
            .collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert_eq!(s.count, v.len() as u64);
        assert!((s.mean - mean).abs() < 1e-6 * mean, "{} {mean}", s.mean);
        assert!((s.std - std).abs() < 1e-6 * std);
        assert_eq!(s.min, v.iter().copied().fold(f64::INFINITY, f64::min));
        assert_eq!(s.max, v.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        assert_eq!(s.histogram.iter().sum::<u64>(), s.count);
        assert_eq!(s.histogram.len(), 10);
    }
    assert!(pipelines::band_stats(&r.data, None, 0).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn smooth_pipeline_is_nodata_aware() {
    let dir = tmp("smooth");
    let data = tiny_scene(&dir.join("data"));
    let r = pipelines::open_raster(&data, "bands").unwrap();
    let x = pipelines::band(&r.data, NIR).unwrap();
    let sm = pipelines::smooth(&x, Filter::Mean(5), r.nodata).unwrap();
    let (xv, sv) = (x.compute().unwrap(), sm.compute().unwrap());
    for ((i, j), &v) in xv
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        let s = sv[[i, j]];
        assert_eq!(v == 0.0, s.is_nan(), "({i}, {j})");
        if v == 0.0 {
            continue;
        }
        // The mean of the valid pixels of the 5 x 5 window.
        let mut vals = Vec::new();
        for a in i.saturating_sub(2)..(i + 3).min(96) {
            for b in j.saturating_sub(2)..(j + 3).min(96) {
                if xv[[a, b]] != 0.0 {
                    vals.push(xv[[a, b]] as f64);
                }
            }
        }
        let want = vals.iter().sum::<f64>() / vals.len() as f64;
        assert!(
            (s as f64 - want).abs() < 1e-3 * want,
            "({i}, {j}): {s} vs {want}"
        );
    }
    let g = pipelines::smooth(&x, Filter::Gaussian(1.5), r.nodata).unwrap();
    assert_eq!(
        g.compute().unwrap().iter().filter(|v| v.is_nan()).count(),
        xv.iter().filter(|&&v| v == 0.0).count()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pyramid_levels_and_multiscales() {
    let dir = tmp("pyramid");
    let data = tiny_scene(&dir.join("data"));
    let r = pipelines::open_raster(&data, "bands").unwrap();
    let out = dir.join("out");
    let s = pipelines::run_pyramid(&r, 10, 10, &out).unwrap();
    assert_eq!(
        s.shapes,
        vec![
            vec![5, 96, 96],
            vec![5, 48, 48],
            vec![5, 24, 24],
            vec![5, 12, 12]
        ]
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.group.join("zarr.json")).unwrap()).unwrap();
    let ms = &meta["attributes"]["multiscales"][0];
    assert_eq!(ms["version"], "0.4");
    assert_eq!(ms["axes"][0]["type"], "channel");
    assert_eq!(ms["axes"][2]["unit"], "meter");
    let ds = ms["datasets"].as_array().unwrap();
    assert_eq!(ds.len(), 4);
    for (k, d) in ds.iter().enumerate() {
        assert_eq!(d["path"], k.to_string());
        let f = 10.0 * (1 << k) as f64;
        assert_eq!(
            d["coordinateTransformations"][0]["scale"],
            serde_json::json!([1.0, f, f])
        );
        let level = rask::open_zarr(s.group.join(k.to_string())).unwrap();
        assert_eq!(level.shape(), s.shapes[k].as_slice());
        assert_eq!(level.dtype(), DType::U16);
    }
    // Level 1 is the mean of the valid pixels of each 2 x 2 block of level 0.
    let l0 = r.data.compute().unwrap();
    let l1 = rask::open_zarr_typed::<u16>(s.group.join("1"))
        .unwrap()
        .compute()
        .unwrap();
    for (b, i, j) in [(0, 0, 0), (3, 10, 20), (4, 47, 47), (2, 5, 40)] {
        let v: Vec<f64> = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|(a, c)| l0[[b, 2 * i + a, 2 * j + c]] as f64)
            .filter(|&v| v != 0.0)
            .collect();
        let want = if v.is_empty() {
            0
        } else {
            (v.iter().sum::<f64>() / v.len() as f64).round() as u16
        };
        assert_eq!(l1[[b, i, j]], want, "({b}, {i}, {j})");
    }
    let (w, h, _, _) = decode_png(&s.preview);
    assert_eq!((w, h), (12, 12));
    assert!(pipelines::run_pyramid(&r, 0, 3, &out).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn geotiffs_carry_the_projection_and_feed_the_pipelines() {
    let dir = tmp("tiff");
    let data = tiny_scene(&dir.join("data"));
    let scene = synthetic_scene(&SceneSpec {
        size: 96,
        chunk: 32,
        times: 4,
        ..SceneSpec::default()
    })
    .unwrap();
    let t = rask::open_tiff(data.join("scene.tif")).unwrap();
    let g = t.geo().unwrap().clone();
    assert_eq!(g.epsg, Some(32633));
    assert_eq!(g.geotransform, SceneSpec::default().geotransform());
    assert_eq!(g.nodata, Some(0.0));
    assert_eq!(
        t.into_typed::<u16>().unwrap().compute().unwrap(),
        scene.bands.compute().unwrap()
    );
    for k in 0..4 {
        let s = rask::open_tiff_typed::<u16>(data.join(format!("stack_t{k}.tif"))).unwrap();
        assert_eq!(
            s.compute().unwrap(),
            scene
                .stack
                .slice(s![k as isize, .., .., ..])
                .compute()
                .unwrap()
        );
    }
    // The pipelines read the GeoTIFFs as they read the Zarr group, and give the same results.
    let from_tif = pipelines::open_raster(data.join("scene.tif"), "bands").unwrap();
    let cloud = pipelines::open_mask(&from_tif, "cloud").unwrap().unwrap();
    assert_eq!(cloud.shape(), &[96, 96]);
    let a = pipelines::run_ndvi(
        &from_tif,
        Some(&cloud),
        &NdviOptions::default(),
        &dir.join("a"),
    )
    .unwrap();
    let zr = pipelines::open_raster(&data, "bands").unwrap();
    let zc = pipelines::open_mask(&zr, "cloud").unwrap().unwrap();
    let b = pipelines::run_ndvi(&zr, Some(&zc), &NdviOptions::default(), &dir.join("b")).unwrap();
    assert_eq!(
        (a.valid, a.mean, a.vegetated),
        (b.valid, b.mean, b.vegetated)
    );
    let out = rask::open_tiff(dir.join("a").join("ndvi.tif")).unwrap();
    assert_eq!(out.geo().unwrap().epsg, Some(32633));
    assert_eq!(out.dtype(), DType::F32);
    let stack = pipelines::open_raster(data.join("stack_t0.tif"), "stack").unwrap();
    assert_eq!(stack.data.shape(), &[5, 96, 96]); // one date: a file, not a stack
    let stack = pipelines::open_raster(&data, "stack").unwrap(); // the Zarr group first
    assert_eq!(stack.data.shape(), &[4, 5, 96, 96]);
    std::fs::remove_dir_all(dir.join("data").join("scene.zarr")).unwrap();
    let stack = pipelines::open_raster(&data, "stack").unwrap(); // then the per-date GeoTIFFs
    assert_eq!(stack.data.shape(), &[4, 5, 96, 96]);
    let clouds = pipelines::open_mask(&stack, "clouds").unwrap().unwrap();
    assert_eq!(clouds.shape(), &[4, 96, 96]);
    let c = pipelines::run_composite(&stack, Some(&clouds), [2, 1, 0], &dir.join("c")).unwrap();
    assert!(c.filled > 0);
    let ct = rask::open_tiff(dir.join("c").join("composite.tif")).unwrap();
    assert_eq!((ct.dtype(), ct.shape()), (DType::U16, &[5, 96, 96][..]));
    std::fs::remove_dir_all(&dir).unwrap();
}
