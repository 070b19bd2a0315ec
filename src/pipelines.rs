//! Raster pipelines: the bodies of the examples (`examples/ndvi.rs`, `composite.rs`,
//! `raster_stats.rs`, `smooth.rs`, `pyramid.rs`), as functions on lazy arrays so that they
//! run on any input, at any size, out of core, and can be tested.
//!
//! Inputs are opened as `f32` ([`open_raster`], [`open_scene`]), with nodata as a value
//! (kept) and clouds as a mask; each pipeline builds a lazy result, computes its summary in
//! one run and writes its outputs (Zarr, and a PNG preview) block by block.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::array::{Boundary, ChunkedArray, WindowStat, where_};
use crate::compute::compute_all;
use crate::data::{CLEAR, NODATA};
use crate::element::DType;
use crate::error::{Error, Result};
use crate::geo::GeoInfo;
use crate::image::{ColorMap, PreviewInfo, PreviewOptions, preview};
use crate::io::tiff::{TiffArray, TiffOptions, open_tiff};
use crate::io::zarr::{
    ZarrArray, ZarrOptions, ZarrTarget, create_zarr_group, open_zarr, store_all,
};

// ---------------------------------------------------------------- inputs

/// A raster opened for a pipeline: its values as `f32`, the dtype it is stored in, its
/// nodata value and attributes.
#[derive(Clone, Debug)]
pub struct Raster {
    /// The values, `(bands, rows, cols)` or `(rows, cols)`, as `f32`.
    pub data: ChunkedArray<f32>,
    /// The stored dtype.
    pub dtype: DType,
    /// The value that marks missing pixels, from the `nodata` or `_FillValue` attribute.
    pub nodata: Option<f64>,
    /// The stored attributes (georeferencing among them); empty for GeoTIFF.
    pub attributes: Map<String, Value>,
    /// The georeferencing, from the GeoTIFF tags or the Zarr attributes.
    pub geo: Option<GeoInfo>,
    /// Where it was read from.
    pub path: PathBuf,
}

impl Raster {
    /// The georeferencing attributes alone (`crs`, `epsg`, `proj:code`, `_CRS`,
    /// `geotransform`, `spatial:transform`, `pixel_size`), to copy onto derived outputs.
    pub fn geo_attributes(&self) -> Map<String, Value> {
        geo_only(&self.attributes)
    }

    /// The georeferencing of a float output derived from this raster (nodata NaN).
    pub fn float_geo(&self) -> Option<GeoInfo> {
        self.geo.clone().map(|g| g.with_nodata(f64::NAN))
    }

    /// The band names from the `band_names` attribute, if any.
    pub fn band_names(&self) -> Option<Vec<String>> {
        self.attributes
            .get("band_names")?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

fn geo_only(attrs: &Map<String, Value>) -> Map<String, Value> {
    const KEYS: [&str; 7] = [
        "crs",
        "epsg",
        "proj:code",
        "_CRS",
        "geotransform",
        "spatial:transform",
        "pixel_size",
    ];
    attrs
        .iter()
        .filter(|(k, _)| KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A Zarr array as `f32`, whatever its numeric dtype.
fn zarr_f32(z: ZarrArray) -> Result<(ChunkedArray<f32>, DType)> {
    let dtype = z.dtype();
    let x = match dtype {
        DType::F32 => z.into_typed::<f32>()?,
        DType::F64 => z.into_typed::<f64>()?.cast::<f32>(),
        DType::I8 => z.into_typed::<i8>()?.cast::<f32>(),
        DType::I16 => z.into_typed::<i16>()?.cast::<f32>(),
        DType::I32 => z.into_typed::<i32>()?.cast::<f32>(),
        DType::I64 => z.into_typed::<i64>()?.cast::<f32>(),
        DType::U8 => z.into_typed::<u8>()?.cast::<f32>(),
        DType::U16 => z.into_typed::<u16>()?.cast::<f32>(),
        DType::U32 => z.into_typed::<u32>()?.cast::<f32>(),
        DType::U64 => z.into_typed::<u64>()?.cast::<f32>(),
        other => {
            return Err(Error::arg(
                "open_raster",
                format!("{}: dtype {other} is not numeric", z.path().display()),
            ));
        }
    };
    Ok((x, dtype))
}

/// A GeoTIFF as `f32`, whatever its numeric dtype.
fn tiff_f32(t: TiffArray) -> Result<(ChunkedArray<f32>, DType)> {
    let dtype = t.dtype();
    let x = match dtype {
        DType::F32 => t.into_typed::<f32>()?,
        DType::F64 => t.into_typed::<f64>()?.cast::<f32>(),
        DType::I8 => t.into_typed::<i8>()?.cast::<f32>(),
        DType::I16 => t.into_typed::<i16>()?.cast::<f32>(),
        DType::I32 => t.into_typed::<i32>()?.cast::<f32>(),
        DType::I64 => t.into_typed::<i64>()?.cast::<f32>(),
        DType::U8 => t.into_typed::<u8>()?.cast::<f32>(),
        DType::U16 => t.into_typed::<u16>()?.cast::<f32>(),
        DType::U32 => t.into_typed::<u32>()?.cast::<f32>(),
        DType::U64 => t.into_typed::<u64>()?.cast::<f32>(),
        other => {
            return Err(Error::arg(
                "open_raster",
                format!("{}: dtype {other} is not numeric", t.path().display()),
            ));
        }
    };
    Ok((x, dtype))
}

fn is_tiff(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("tif") || e.eq_ignore_ascii_case("tiff"))
}

/// The GeoTIFF file names [`write_scene`](crate::data::write_scene) uses for `name`, per date
/// for the stacks.
fn tiff_names(name: &str) -> (&'static str, &'static str) {
    match name {
        "stack" => ("", "stack_t"),
        "clouds" => ("", "cloud_t"),
        "cloud" => ("cloud.tif", ""),
        "landcover" => ("landcover.tif", ""),
        _ => ("scene.tif", ""),
    }
}

/// Opens one GeoTIFF, or the per-date GeoTIFFs `{prefix}{t}.tif` stacked along a new first
/// axis.
fn open_tiffs(paths: &[PathBuf], stacked: bool) -> Result<Raster> {
    let mut parts = Vec::with_capacity(paths.len());
    let mut dtype = DType::F32;
    let mut geo = None;
    for p in paths {
        let t = open_tiff(p)?;
        let t_geo = t.geo().cloned();
        let (x, d) = tiff_f32(t)?;
        // One band: (rows, cols).
        let x = if x.ndim() == 3 && x.shape()[0] == 1 && name_is_mask(p) {
            x.slice(ndarray::s![0, .., ..])
        } else {
            x
        };
        dtype = d;
        geo = geo.or(t_geo);
        parts.push(x);
    }
    let data = if stacked {
        crate::array::stack(&parts.iter().collect::<Vec<_>>(), 0)
    } else {
        parts.remove(0)
    };
    Ok(Raster {
        data,
        dtype,
        nodata: geo.as_ref().and_then(|g: &GeoInfo| g.nodata),
        attributes: Map::new(),
        geo,
        path: paths[0].clone(),
    })
}

fn name_is_mask(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("cloud") || n.starts_with("landcover"))
}

/// The per-date files `dir/{prefix}{t}.tif`, t = 0, 1, … while they exist.
fn dated_tiffs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..)
        .map(|t| dir.join(format!("{prefix}{t}.tif")))
        .take_while(|p| p.is_file())
        .collect()
}

/// Opens a raster for a pipeline: a Zarr array, or a Zarr group (or a folder holding
/// `scene.zarr`) whose `name` array is taken (`bands` for a scene); or a GeoTIFF, or a
/// folder of the GeoTIFFs [`write_scene`](crate::data::write_scene) writes (`scene.tif` for
/// `bands`, `stack_t0.tif`, `stack_t1.tif`, … stacked for `stack`).
///
/// ```
/// use rask::data::{SceneSpec, WriteSceneOptions, synthetic_scene, write_scene};
/// let dir = std::env::temp_dir().join(format!("rask-doc-open-raster-{}", std::process::id()));
/// let s = synthetic_scene(&SceneSpec { size: 32, chunk: 16, times: 1, ..SceneSpec::default() })?;
/// write_scene(&s, &dir, &WriteSceneOptions::default())?;
/// let r = rask::pipelines::open_raster(&dir, "bands")?;
/// assert_eq!((r.data.shape(), r.nodata), (&[5, 32, 32][..], Some(0.0)));
/// assert!(rask::pipelines::open_raster(dir.join("nothing"), "bands").is_err());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn open_raster(path: impl AsRef<Path>, name: &str) -> Result<Raster> {
    let given = path.as_ref();
    if is_tiff(given) {
        return open_tiffs(&[given.to_path_buf()], false);
    }
    let path = match resolve(given, name) {
        Ok(p) => p,
        Err(e) => {
            let (single, prefix) = tiff_names(name);
            if !single.is_empty() && is_tiff(&given.join(single)) {
                return open_tiffs(&[given.join(single)], false);
            }
            let dated = if prefix.is_empty() {
                Vec::new()
            } else {
                dated_tiffs(given, prefix)
            };
            if !dated.is_empty() {
                return open_tiffs(&dated, true);
            }
            return Err(e);
        }
    };
    let z = open_zarr(&path)?;
    let zgeo = z.geo().cloned();
    let attributes = z.attributes().clone();
    let nodata = attributes
        .get("nodata")
        .or_else(|| attributes.get("_FillValue"))
        .and_then(Value::as_f64);
    let (data, dtype) = zarr_f32(z)?;
    Ok(Raster {
        data,
        dtype,
        nodata,
        attributes,
        geo: zgeo,
        path,
    })
}

/// The array path for `path` and `name`: `path` itself when it is an array, else
/// `path/name` or `path/scene.zarr/name`.
fn resolve(path: &Path, name: &str) -> Result<PathBuf> {
    let is_array = |p: &Path| {
        p.join(".zarray").is_file()
            || std::fs::read_to_string(p.join("zarr.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|v| v.get("node_type") == Some(&json!("array")))
    };
    for p in [
        path.to_path_buf(),
        path.join(name),
        path.join("scene.zarr").join(name),
    ] {
        if is_array(&p) {
            return Ok(p);
        }
    }
    Err(Error::arg(
        "open_raster",
        format!(
            "{} is not a Zarr array, nor a group or folder holding an array {name:?}",
            path.display()
        ),
    ))
}

/// Opens the optional mask `name` (`cloud`, `clouds`) beside a raster from
/// [`open_raster`]: in the same Zarr group, or the GeoTIFF(s) of that name in the same
/// folder (`cloud.tif`, `cloud_t0.tif`, …), if there are any.
pub fn open_mask(raster: &Raster, name: &str) -> Result<Option<ChunkedArray<u8>>> {
    let Some(dir) = raster.path.parent() else {
        return Ok(None);
    };
    if is_tiff(&raster.path) {
        let (single, prefix) = tiff_names(name);
        let files = if prefix.is_empty() {
            vec![dir.join(single)]
        } else {
            dated_tiffs(dir, prefix)
        };
        if files.is_empty() || !files.iter().all(|f| is_tiff(f)) {
            return Ok(None);
        }
        let mut parts = Vec::new();
        for f in &files {
            let t = open_tiff(f)?;
            if t.dtype() != DType::U8 || t.bands() != 1 {
                return Err(Error::arg(
                    "open_mask",
                    format!(
                        "{}: a mask must be one u8 band, found {} band(s) of {}",
                        f.display(),
                        t.bands(),
                        t.dtype()
                    ),
                ));
            }
            let x = t.into_typed::<u8>()?;
            parts.push(if x.ndim() == 3 {
                x.slice(ndarray::s![0, .., ..])
            } else {
                x
            });
        }
        return Ok(Some(if prefix.is_empty() {
            parts.remove(0)
        } else {
            crate::array::stack(&parts.iter().collect::<Vec<_>>(), 0)
        }));
    }
    let p = dir.join(name);
    if !p.exists() {
        return Ok(None);
    }
    let z = open_zarr(&p)?;
    if z.dtype() != DType::U8 {
        return Err(Error::arg(
            "open_mask",
            format!("{}: a mask must be u8, found {}", p.display(), z.dtype()),
        ));
    }
    Ok(Some(z.into_typed::<u8>()?))
}

/// A band of a `(bands, rows, cols)` array as `(rows, cols)`; a 2-d array is its own band 0.
pub fn band(x: &ChunkedArray<f32>, index: usize) -> Result<ChunkedArray<f32>> {
    match x.shape() {
        [_, _] if index == 0 => Ok(x.clone()),
        [n, _, _] if index < *n => Ok(x.slice(ndarray::s![index as isize, .., ..])),
        s => Err(Error::arg(
            "band",
            format!("band {index} is out of range for an array of shape {s:?}"),
        )),
    }
}

/// `true` where `x` holds data: not NaN and not `nodata`.
pub fn valid_mask(x: &ChunkedArray<f32>, nodata: Option<f64>) -> ChunkedArray<bool> {
    let v = x.eq_elem(x).clone(); // false for NaN
    match nodata {
        Some(nd) => v.and(x.ne_elem(nd as f32)),
        None => v,
    }
}

fn preview_png(
    x: &ChunkedArray<f32>,
    options: &PreviewOptions,
    path: &Path,
) -> Result<PreviewInfo> {
    preview(x, options, path)
}

fn zarr_opts(attrs: &Map<String, Value>, dims: &[&str]) -> ZarrOptions {
    let mut o = ZarrOptions::default().dimension_names(dims).overwrite(true);
    o.attributes = attrs.clone();
    o
}

fn dims(nd: usize) -> &'static [&'static str] {
    match nd {
        2 => &["y", "x"],
        3 => &["band", "y", "x"],
        _ => &["time", "band", "y", "x"],
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("pipeline", dir.display(), e))
}

/// Replaces a Zarr output directory (it must be one).
fn clear_zarr(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let is_zarr = path.join("zarr.json").is_file()
        || path.join(".zarray").is_file()
        || path.join(".zgroup").is_file();
    if !is_zarr {
        return Err(Error::arg(
            "pipeline",
            format!(
                "{} exists and is not Zarr; not replacing it",
                path.display()
            ),
        ));
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io("pipeline", path.display(), e))
}

// ---------------------------------------------------------------- NDVI

/// NDVI `(nir - red) / (nir + red)` where both bands hold data, `cloud` (if given) is
/// [`CLEAR`], and `nir + red > 0`; NaN elsewhere.
///
/// ```
/// use rask::prelude::*;
/// let red = ChunkedArray::from_ndarray(ndarray::arr2(&[[300.0f32, 0.0], [400.0, 500.0]]).view(), &[2, 2]);
/// let nir = ChunkedArray::from_ndarray(ndarray::arr2(&[[3000.0f32, 2000.0], [100.0, 500.0]]).view(), &[2, 2]);
/// let cloud = ChunkedArray::from_ndarray(ndarray::arr2(&[[0u8, 0], [0, 1]]).view(), &[2, 2]);
/// let v = rask::pipelines::ndvi(&red, &nir, Some(0.0), Some(&cloud)).compute()?;
/// assert!((v[[0, 0]] - 2700.0 / 3300.0).abs() < 1e-6);
/// assert!(v[[0, 1]].is_nan() && v[[1, 1]].is_nan()); // nodata red, cloud
/// assert!(v[[1, 0]] < 0.0);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn ndvi(
    red: &ChunkedArray<f32>,
    nir: &ChunkedArray<f32>,
    nodata: Option<f64>,
    cloud: Option<&ChunkedArray<u8>>,
) -> ChunkedArray<f32> {
    let sum = red + nir;
    let mut valid = valid_mask(red, nodata)
        .and(valid_mask(nir, nodata))
        .and(sum.gt(0.0f32));
    if let Some(c) = cloud {
        valid = valid.and(c.eq_elem(CLEAR));
    }
    where_(&valid, &((nir - red) / &sum), f32::NAN)
}

/// What [`run_ndvi`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct NdviSummary {
    /// Pixels in the scene.
    pub pixels: u64,
    /// Pixels with a valid NDVI (data, no cloud).
    pub valid: u64,
    /// The mean NDVI over valid pixels.
    pub mean: f64,
    /// The smallest NDVI.
    pub min: f64,
    /// The largest NDVI.
    pub max: f64,
    /// The share of valid pixels whose NDVI exceeds the vegetation threshold.
    pub vegetated: f64,
    /// The files written.
    pub outputs: Vec<PathBuf>,
}

/// Options of [`run_ndvi`]. The defaults: the scene's red and NIR bands, vegetation above
/// NDVI 0.4, previews of at most 1024 pixels.
#[derive(Clone, Debug)]
pub struct NdviOptions {
    /// The red band's index.
    pub red: usize,
    /// The NIR band's index.
    pub nir: usize,
    /// NDVI above which a pixel counts as vegetated.
    pub threshold: f64,
    /// The preview's longest side.
    pub preview_size: usize,
}

impl Default for NdviOptions {
    fn default() -> Self {
        NdviOptions {
            red: crate::data::RED,
            nir: crate::data::NIR,
            threshold: 0.4,
            preview_size: 1024,
        }
    }
}

/// NDVI of `bands` (red and NIR picked by `options`), masked by `cloud`: computes its
/// summary, writes `ndvi.zarr` (f32, NaN where invalid, with the input's georeferencing)
/// and `ndvi.png` (colour-mapped, invalid pixels transparent) into `out_dir`.
pub fn run_ndvi(
    bands: &Raster,
    cloud: Option<&ChunkedArray<u8>>,
    options: &NdviOptions,
    out_dir: &Path,
) -> Result<NdviSummary> {
    if !(-1.0..=1.0).contains(&options.threshold) {
        return Err(Error::arg(
            "ndvi",
            format!("threshold {} is outside [-1, 1]", options.threshold),
        ));
    }
    let red = band(&bands.data, options.red)?;
    let nir = band(&bands.data, options.nir)?;
    let mut v = ndvi(&red, &nir, bands.nodata, cloud);
    if let Some(g) = bands.float_geo() {
        v = v.with_geo(g);
    }
    let ok = v.eq_elem(&v);
    let (mean, min, max) = (v.nanmean(), v.nanmin(), v.nanmax());
    let valid = ok.cast::<u64>().sum();
    let veg = v.gt(options.threshold as f32).cast::<u64>().sum();
    let mut out = compute_all(&[&mean, &min, &max, &valid, &veg])?.into_iter();
    let mut next = || out.next().ok_or_else(|| Error::msg("ndvi: missing result"));
    let mean: f32 = next()?.into_scalar()?;
    let min: f32 = next()?.into_scalar()?;
    let max: f32 = next()?.into_scalar()?;
    let valid: u64 = next()?.into_scalar()?;
    let veg: u64 = next()?.into_scalar()?;
    create_dir(out_dir)?;
    let zpath = out_dir.join("ndvi.zarr");
    clear_zarr(&zpath)?;
    let mut attrs = bands.geo_attributes();
    attrs.insert(
        "long_name".into(),
        json!("normalized difference vegetation index"),
    );
    attrs.insert("valid_range".into(), json!([-1.0, 1.0]));
    v.to_zarr(&zpath, &zarr_opts(&attrs, &["y", "x"]))?;
    let png = out_dir.join("ndvi.png");
    let popts = PreviewOptions {
        range: Some((-1.0, 1.0)),
        colormap: ColorMap::Ndvi,
        max_size: options.preview_size,
        ..PreviewOptions::default()
    };
    // The preview reads the NDVI just written rather than computing it again.
    let stored = crate::io::zarr::open_zarr_typed::<f32>(&zpath)?;
    preview_png(&stored, &popts, &png)?;
    let tif = out_dir.join("ndvi.tif");
    stored.to_tiff(&tif, &TiffOptions::default().overwrite(true))?;
    Ok(NdviSummary {
        pixels: red.len() as u64,
        valid,
        mean: mean as f64,
        min: min as f64,
        max: max as f64,
        vegetated: if valid > 0 {
            veg as f64 / valid as f64
        } else {
            0.0
        },
        outputs: vec![zpath, tif, png],
    })
}

// ---------------------------------------------------------------- composite

/// The per-pixel median over time of `stack` `(times, bands, rows, cols)`, skipping
/// nodata and pixels whose `clouds` `(times, rows, cols)` value is not [`CLEAR`]; NaN where
/// no date is clear. Returns `(bands, rows, cols)`.
///
/// ```
/// use rask::prelude::*;
/// // 3 dates, 1 band, 1 x 2 pixels; date 1 is cloudy at pixel 0, date 2 is nodata at pixel 1.
/// let s = ndarray::Array4::from_shape_vec((3, 1, 1, 2), vec![10.0f32, 20.0, 99.0, 30.0, 40.0, 0.0]).unwrap();
/// let c = ndarray::Array3::from_shape_vec((3, 1, 2), vec![0u8, 0, 1, 0, 0, 0]).unwrap();
/// let stack = ChunkedArray::from_ndarray(s.view(), &[1, 1, 1, 2]);
/// let clouds = ChunkedArray::from_ndarray(c.view(), &[1, 1, 2]);
/// let m = rask::pipelines::composite(&stack, Some(&clouds), Some(0.0))?.compute()?;
/// assert_eq!((m[[0, 0, 0]], m[[0, 0, 1]]), (25.0, 25.0));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn composite(
    stack: &ChunkedArray<f32>,
    clouds: Option<&ChunkedArray<u8>>,
    nodata: Option<f64>,
) -> Result<ChunkedArray<f32>> {
    stack.check()?;
    let s = stack.shape();
    if s.len() != 4 {
        return Err(Error::arg(
            "composite",
            format!("needs a (times, bands, rows, cols) stack, got shape {s:?}"),
        ));
    }
    let mut valid = valid_mask(stack, nodata);
    if let Some(c) = clouds {
        if c.shape() != [s[0], s[2], s[3]] {
            return Err(Error::arg(
                "composite",
                format!(
                    "cloud masks of shape {:?} do not match the stack {s:?} (needs {:?})",
                    c.shape(),
                    [s[0], s[2], s[3]]
                ),
            ));
        }
        valid = valid.and(c.eq_elem(CLEAR).expand_dims(1));
    }
    let masked = where_(&valid, stack, f32::NAN);
    Ok(masked.nanmedian_axis(0))
}

/// What [`run_composite`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct CompositeSummary {
    /// Dates in the stack.
    pub dates: usize,
    /// Pixels of one date.
    pub pixels: u64,
    /// Pixels with at least one clear date (a composite value).
    pub filled: u64,
    /// Per date: the share of its pixels that were clear.
    pub clear_share: Vec<f64>,
    /// The files written.
    pub outputs: Vec<PathBuf>,
}

/// The cloud-free median composite of `stack` masked by `clouds`: writes `composite.zarr`
/// (the input's dtype: integers rounded, nodata where no date was clear) and a true-colour
/// `composite.png` (bands `rgb`, 2–98 % stretch) into `out_dir`.
pub fn run_composite(
    stack: &Raster,
    clouds: Option<&ChunkedArray<u8>>,
    rgb: [usize; 3],
    out_dir: &Path,
) -> Result<CompositeSummary> {
    let m = composite(&stack.data, clouds, stack.nodata)?;
    let s = stack.data.shape().to_vec();
    if let Some(&b) = rgb.iter().find(|&&b| b >= s[1]) {
        return Err(Error::arg(
            "composite",
            format!("band {b} is out of range for {} bands", s[1]),
        ));
    }
    let first = m.slice(ndarray::s![0, .., ..]);
    let filled = first.eq_elem(&first).cast::<u64>().sum();
    let mut valid_t = valid_mask(&stack.data.slice(ndarray::s![.., 0, .., ..]), stack.nodata);
    if let Some(c) = clouds {
        valid_t = valid_t.and(c.eq_elem(CLEAR));
    }
    let clear_t = valid_t.cast::<u64>().sum_axes(&[1, 2]);
    let mut out = compute_all(&[&filled, &clear_t])?.into_iter();
    let filled: u64 = out
        .next()
        .ok_or_else(|| Error::msg("composite: missing result"))?
        .into_scalar()?;
    let clear_t = out
        .next()
        .ok_or_else(|| Error::msg("composite: missing result"))?
        .into_array::<u64>()?;
    let pixels = (s[2] * s[3]) as u64;
    create_dir(out_dir)?;
    let zpath = out_dir.join("composite.zarr");
    clear_zarr(&zpath)?;
    let nodata = stack.nodata.unwrap_or(NODATA as f64);
    let mut attrs = stack.geo_attributes();
    if let Some(names) = stack.band_names() {
        attrs.insert("band_names".into(), json!(names));
    }
    attrs.insert("long_name".into(), json!("cloud-free median composite"));
    let opts = |a: &Map<String, Value>| zarr_opts(a, &["band", "y", "x"]);
    let tif = out_dir.join("composite.tif");
    let topts = TiffOptions::default().overwrite(true);
    match stack.dtype {
        DType::U16 => {
            attrs.insert("nodata".into(), json!(nodata));
            let r = where_(&m.eq_elem(&m), m.map(|v: f32| v.round()), nodata as f32);
            let mut r = r.cast::<u16>();
            if let Some(g) = &stack.geo {
                r = r.with_geo(g.clone().with_nodata(nodata));
            }
            r.to_zarr(&zpath, &opts(&attrs))?;
            crate::io::zarr::open_zarr_typed::<u16>(&zpath)?.to_tiff(&tif, &topts)?;
        }
        _ => {
            let m = match stack.float_geo() {
                Some(g) => m.with_geo(g),
                None => m,
            };
            m.to_zarr(&zpath, &opts(&attrs))?;
            crate::io::zarr::open_zarr_typed::<f32>(&zpath)?.to_tiff(&tif, &topts)?;
        }
    }
    let stored = open_raster(&zpath, "")?;
    let png = out_dir.join("composite.png");
    let popts = PreviewOptions {
        bands: rgb.to_vec(),
        nodata: stored.nodata,
        ..PreviewOptions::default()
    };
    preview_png(&stored.data, &popts, &png)?;
    Ok(CompositeSummary {
        dates: s[0],
        pixels,
        filled,
        clear_share: clear_t.iter().map(|&c| c as f64 / pixels as f64).collect(),
        outputs: vec![zpath, tif, png],
    })
}

// ---------------------------------------------------------------- statistics

/// One band's statistics from [`band_stats`].
#[derive(Clone, Debug, PartialEq)]
pub struct BandStats {
    /// Valid (not nodata, not NaN) pixels.
    pub count: u64,
    /// The mean of valid pixels.
    pub mean: f64,
    /// The population standard deviation of valid pixels.
    pub std: f64,
    /// The smallest valid value.
    pub min: f64,
    /// The largest valid value.
    pub max: f64,
    /// Counts of `bins` equal bins over `[min, max]`.
    pub histogram: Vec<u64>,
}

/// Per-band count, mean, std, min, max and histogram (`bins` bins over each band's own
/// range) of `(bands, rows, cols)` or `(rows, cols)` data, skipping `nodata` and NaN. Two
/// passes over the data, each one run for all bands: moments and extremes, then histograms.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::from_fn(&[2, 10, 10], &[1, 5, 5], |i| (i[0] * 100 + i[1] * 10 + i[2]) as f32);
/// let s = rask::pipelines::band_stats(&x, Some(0.0), 4)?;
/// assert_eq!((s[0].count, s[1].count), (99, 100)); // the 0 of band 0 is nodata
/// assert_eq!((s[1].min, s[1].max, s[1].histogram.iter().sum::<u64>()), (100.0, 199.0, 100));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn band_stats(
    x: &ChunkedArray<f32>,
    nodata: Option<f64>,
    bins: usize,
) -> Result<Vec<BandStats>> {
    x.check()?;
    let x = if x.ndim() == 2 {
        x.expand_dims(0)
    } else {
        x.clone()
    };
    if x.ndim() != 3 {
        return Err(Error::arg(
            "band_stats",
            format!(
                "needs (bands, rows, cols) or (rows, cols), got shape {:?}",
                x.shape()
            ),
        ));
    }
    if bins == 0 {
        return Err(Error::arg("band_stats", "bins must be at least 1, got 0"));
    }
    let nb = x.shape()[0];
    let masked = where_(&valid_mask(&x, nodata), x.cast::<f64>(), f64::NAN);
    let count = masked.eq_elem(&masked).cast::<u64>().sum_axes(&[1, 2]);
    let mean = masked.nanmean_axes(&[1, 2]);
    let std = masked.nanstd_axes(&[1, 2], 0.0);
    let min = masked.nanmin_axes(&[1, 2]);
    let max = masked.nanmax_axes(&[1, 2]);
    let mut out = compute_all(&[&count, &mean, &std, &min, &max])?.into_iter();
    let mut next = || {
        out.next()
            .ok_or_else(|| Error::msg("band_stats: missing result"))
    };
    let count = next()?.into_array::<u64>()?;
    let mean = next()?.into_array::<f64>()?;
    let std = next()?.into_array::<f64>()?;
    let min = next()?.into_array::<f64>()?;
    let max = next()?.into_array::<f64>()?;
    let hists: Vec<ChunkedArray<u64>> = (0..nb)
        .map(|b| {
            let (lo, hi) = (min[[b]], max[[b]]);
            let range = if lo.is_finite() && hi > lo {
                (lo, hi)
            } else if lo.is_finite() {
                (lo - 0.5, lo + 0.5)
            } else {
                (0.0, 1.0)
            };
            masked
                .slice(ndarray::s![b as isize, .., ..])
                .histogram(bins, range)
        })
        .collect();
    let refs: Vec<&dyn crate::compute::Computable> = hists
        .iter()
        .map(|h| h as &dyn crate::compute::Computable)
        .collect();
    let hist_vals = compute_all(&refs)?;
    let mut stats = Vec::with_capacity(nb);
    for (b, h) in hist_vals.into_iter().enumerate() {
        stats.push(BandStats {
            count: count[[b]],
            mean: mean[[b]],
            std: std[[b]],
            min: min[[b]],
            max: max[[b]],
            histogram: h.into_array::<u64>()?.iter().copied().collect(),
        });
    }
    Ok(stats)
}

// ---------------------------------------------------------------- smoothing

/// The focal filter of [`smooth`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Filter {
    /// The mean over a `size` × `size` window (`size` odd).
    Mean(usize),
    /// A Gaussian with this standard deviation in pixels.
    Gaussian(f64),
}

/// A nodata-aware focal filter of a 2-d band (normalized convolution): each output is the
/// weighted mean of the *valid* pixels in its window, so nodata and NaN neither spread nor
/// darken their neighbours; pixels that were invalid stay NaN. Runs on `map_overlap`.
///
/// ```
/// use rask::prelude::*;
/// use rask::pipelines::{Filter, smooth};
/// let mut a = ndarray::Array2::<f32>::from_elem((20, 20), 5.0);
/// a[[10, 10]] = 0.0; // nodata
/// let x = ChunkedArray::from_ndarray(a.view(), &[8, 8]);
/// let s = smooth(&x, Filter::Mean(5), Some(0.0))?.compute()?;
/// assert!((s[[10, 11]] - 5.0).abs() < 1e-5 && s[[10, 10]].is_nan());
/// assert!(smooth(&x, Filter::Mean(4), None).is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn smooth(
    x: &ChunkedArray<f32>,
    filter: Filter,
    nodata: Option<f64>,
) -> Result<ChunkedArray<f32>> {
    x.check()?;
    if x.ndim() != 2 {
        return Err(Error::arg(
            "smooth",
            format!("needs a 2-d band, got shape {:?}", x.shape()),
        ));
    }
    let valid = valid_mask(x, nodata);
    let w = valid.cast::<f32>();
    let v = where_(&valid, x, 0.0f32);
    let b = Boundary::Constant(0.0f32);
    let (num, den) = match filter {
        Filter::Mean(size) => {
            if size == 0 || size % 2 == 0 {
                return Err(Error::arg(
                    "smooth",
                    format!("the window size must be odd, got {size}"),
                ));
            }
            (v.focal_mean(size, b), w.focal_mean(size, b))
        }
        Filter::Gaussian(sigma) => {
            if !(sigma > 0.0 && sigma.is_finite()) {
                return Err(Error::arg(
                    "smooth",
                    format!("sigma must be positive, got {sigma}"),
                ));
            }
            (v.gaussian_filter(sigma, b), w.gaussian_filter(sigma, b))
        }
    };
    Ok(where_(&valid.and(den.gt(0.0f32)), &(&num / &den), f32::NAN))
}

// ---------------------------------------------------------------- pyramid

/// Overview levels of a `(bands, rows, cols)` or `(rows, cols)` raster: level 0 is the
/// input, level `k` the mean of 2 × 2 blocks of level `k - 1` over valid pixels (NaN where
/// a block has none), exact over the base pixels (sums and counts are coarsened, not means
/// of means). Levels stop before a side would fall under `min_size`, or at `max_levels`.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f32>::ones(&[3, 100, 64], &[3, 32, 32]);
/// let levels = rask::pipelines::pyramid_levels(&x, None, 16, 10)?;
/// let shapes: Vec<_> = levels.iter().map(|l| l.shape().to_vec()).collect();
/// assert_eq!(shapes, vec![vec![3, 100, 64], vec![3, 50, 32], vec![3, 25, 16]]);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn pyramid_levels(
    x: &ChunkedArray<f32>,
    nodata: Option<f64>,
    min_size: usize,
    max_levels: usize,
) -> Result<Vec<ChunkedArray<f32>>> {
    x.check()?;
    let nd = x.ndim();
    if !(2..=3).contains(&nd) {
        return Err(Error::arg(
            "pyramid",
            format!(
                "needs (bands, rows, cols) or (rows, cols), got shape {:?}",
                x.shape()
            ),
        ));
    }
    if min_size == 0 || max_levels == 0 {
        return Err(Error::arg(
            "pyramid",
            format!("min_size ({min_size}) and max_levels ({max_levels}) must be at least 1"),
        ));
    }
    let factors: Vec<usize> = if nd == 3 { vec![1, 2, 2] } else { vec![2, 2] };
    let valid = valid_mask(x, nodata);
    let mut sum = where_(&valid, x, 0.0f32);
    let mut count = valid.cast::<f32>();
    let mut levels = vec![x.clone()];
    while levels.len() < max_levels {
        let s = sum.shape();
        let (r, c) = (s[nd - 2] / 2, s[nd - 1] / 2);
        if r < min_size || c < min_size {
            break;
        }
        sum = sum.coarsen(&factors, WindowStat::Sum, true);
        count = count.coarsen(&factors, WindowStat::Sum, true);
        levels.push(where_(&count.gt(0.0f32), &(&sum / &count), f32::NAN));
    }
    Ok(levels)
}

/// OME-NGFF (0.4) `multiscales` metadata for levels `0..n` of 2× coarsening, with the
/// pixel size `pixel` (in `unit`) of level 0 and a channel axis when `channels`.
///
/// ```
/// let m = rask::pipelines::multiscales("scene", 3, true, 10.0, "meter");
/// let ds = &m[0]["datasets"];
/// assert_eq!(ds[2]["path"], "2");
/// assert_eq!(ds[2]["coordinateTransformations"][0]["scale"], serde_json::json!([1.0, 40.0, 40.0]));
/// ```
pub fn multiscales(name: &str, levels: usize, channels: bool, pixel: f64, unit: &str) -> Value {
    let mut axes = Vec::new();
    if channels {
        axes.push(json!({"name": "c", "type": "channel"}));
    }
    axes.push(json!({"name": "y", "type": "space", "unit": unit}));
    axes.push(json!({"name": "x", "type": "space", "unit": unit}));
    let datasets: Vec<Value> = (0..levels)
        .map(|k| {
            let s = pixel * (1u64 << k) as f64;
            // A level-k pixel's centre lies half a level-k pixel from the corner, where
            // level 0's lies half a level-0 pixel: a shift of (s - pixel) / 2.
            let t = (s - pixel) / 2.0;
            let (scale, shift) = if channels {
                (json!([1.0, s, s]), json!([0.0, t, t]))
            } else {
                (json!([s, s]), json!([t, t]))
            };
            json!({"path": k.to_string(), "coordinateTransformations": [
                {"type": "scale", "scale": scale},
                {"type": "translation", "translation": shift},
            ]})
        })
        .collect();
    json!([{
        "version": "0.4",
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "type": "mean",
        "metadata": {"method": "rask::ChunkedArray::coarsen", "kwargs": {"factor": 2, "stat": "mean over valid pixels"}},
    }])
}

/// What [`run_pyramid`] wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct PyramidSummary {
    /// Each level's shape.
    pub shapes: Vec<Vec<usize>>,
    /// The multiscale Zarr group.
    pub group: PathBuf,
    /// The preview of the coarsest level.
    pub preview: PathBuf,
}

/// Writes the [`pyramid_levels`] of `raster` as a multiscale Zarr group `pyramid.zarr` in
/// `out_dir` (arrays `0`, `1`, … with [`multiscales`] attributes on the group; `u16` input
/// stays `u16` with its nodata, other input is written as `f32`), all levels in one run, and
/// previews the coarsest level (`pyramid.png`, bands `rgb` when there are three or more).
pub fn run_pyramid(
    raster: &Raster,
    min_size: usize,
    max_levels: usize,
    out_dir: &Path,
) -> Result<PyramidSummary> {
    let levels = pyramid_levels(&raster.data, raster.nodata, min_size, max_levels)?;
    create_dir(out_dir)?;
    let group = out_dir.join("pyramid.zarr");
    clear_zarr(&group)?;
    let nd = raster.data.ndim();
    let pixel = raster
        .attributes
        .get("pixel_size")
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    let unit = if raster.attributes.contains_key("pixel_size") {
        "meter"
    } else {
        "pixel"
    };
    let mut gattrs = raster.geo_attributes();
    gattrs.insert(
        "multiscales".into(),
        multiscales("pyramid", levels.len(), nd == 3, pixel, unit),
    );
    create_zarr_group(&group, &gattrs)?;
    let nodata = raster.nodata.unwrap_or(NODATA as f64);
    let mut targets: Vec<ZarrTarget> = Vec::new();
    for (k, l) in levels.iter().enumerate() {
        let mut attrs = raster.geo_attributes();
        if let Some(g) = attrs.get("geotransform").and_then(Value::as_array).cloned() {
            // Level k's pixels are 2^k times larger.
            let f = (1u64 << k) as f64;
            let g: Vec<f64> = g.iter().filter_map(Value::as_f64).collect();
            if g.len() == 6 {
                attrs.insert(
                    "geotransform".into(),
                    json!([g[0], g[1] * f, g[2] * f, g[3], g[4] * f, g[5] * f]),
                );
                attrs.insert(
                    "spatial:transform".into(),
                    json!([g[1] * f, g[2] * f, g[0], g[4] * f, g[5] * f, g[3]]),
                );
                attrs.insert("pixel_size".into(), json!(pixel * f));
            }
        }
        let path = group.join(k.to_string());
        let d = dims(nd);
        if raster.dtype == DType::U16 {
            attrs.insert("nodata".into(), json!(nodata));
            let r = where_(&l.eq_elem(l), l.map(|v: f32| v.round()), nodata as f32);
            targets.push(r.cast::<u16>().zarr_target(path, &zarr_opts(&attrs, d)));
        } else {
            targets.push(l.zarr_target(path, &zarr_opts(&attrs, d)));
        }
    }
    store_all(&targets)?;
    let last = levels.len() - 1;
    let top = open_raster(group.join(last.to_string()), "")?;
    let png = out_dir.join("pyramid.png");
    let bands = match raster.data.shape() {
        [n, _, _] if *n >= 5 => vec![crate::data::RED, crate::data::GREEN, crate::data::BLUE],
        [n, _, _] if *n >= 3 => vec![0, 1, 2],
        _ => vec![0],
    };
    preview_png(
        &top.data,
        &PreviewOptions {
            bands,
            nodata: top.nodata,
            ..PreviewOptions::default()
        },
        &png,
    )?;
    Ok(PyramidSummary {
        shapes: levels.iter().map(|l| l.shape().to_vec()).collect(),
        group,
        preview: png,
    })
}
