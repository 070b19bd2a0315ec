//! Sample data: a deterministic synthetic multispectral scene, built lazily so that any size
//! streams block by block.
//!
//! [`synthetic_scene`] models a patch of land seen by a Sentinel-2-like sensor: terrain with
//! lakes and rivers, forest, cropland parcels with their own crop calendars, towns with
//! streets and roofs, and clouds with their shadows, in five reflectance bands
//! ([`BAND_NAMES`]: blue, green, red, NIR, SWIR) stored as `u16` reflectance × 10 000, with
//! a cloud mask, a land-cover map, and a time stack of dates whose clouds differ. A wedge
//! along the right-hand edge lies outside the sensor's swath and holds [`NODATA`].
//!
//! Every value is a pure function of the [`SceneSpec`] (seed, size) and the pixel's global
//! coordinates, computed from coherent value noise: the same spec gives the same bits for
//! any chunking, and nothing larger than a block is ever held.
//!
//! ```
//! use rask::data::{SceneSpec, synthetic_scene, NIR, RED};
//! let scene = synthetic_scene(&SceneSpec { size: 128, chunk: 64, ..SceneSpec::default() })?;
//! assert_eq!(scene.bands.shape(), &[5, 128, 128]);
//! assert_eq!(scene.stack.shape(), &[4, 5, 128, 128]);
//! let b = scene.bands.compute()?;
//! assert!(b.iter().any(|&v| v == rask::data::NODATA));
//! # let _ = (NIR, RED);
//! # Ok::<(), rask::Error>(())
//! ```

mod model;
mod noise;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::ArrayD;
use serde_json::{Map, Value, json};

use crate::array::ChunkedArray;
use crate::error::{Error, Result};
use crate::exec::Config;
use crate::geo::GeoInfo;
use crate::io::tiff::TiffOptions;
use crate::io::zarr::{Compression, ZarrOptions, create_zarr_group, store_all_with};
use model::Model;

/// The names of the five bands, in order.
pub const BAND_NAMES: [&str; 5] = ["blue", "green", "red", "nir", "swir"];
/// The index of the blue band.
pub const BLUE: usize = 0;
/// The index of the green band.
pub const GREEN: usize = 1;
/// The index of the red band.
pub const RED: usize = 2;
/// The index of the near-infrared band.
pub const NIR: usize = 3;
/// The index of the short-wave infrared band.
pub const SWIR: usize = 4;
/// The band value of pixels outside the sensor's swath.
pub const NODATA: u16 = 0;
/// Reflectance scale: a band value of 10 000 is a reflectance of 1.
pub const SCALE: f64 = 10_000.0;

/// Cloud mask: a clear pixel.
pub const CLEAR: u8 = 0;
/// Cloud mask: a cloud.
pub const CLOUD: u8 = 1;
/// Cloud mask: a cloud's shadow.
pub const SHADOW: u8 = 2;
/// Cloud mask: outside the swath (the bands hold [`NODATA`]).
pub const MASK_NODATA: u8 = 255;

/// Wavelengths (nm) of the band centres, as Sentinel-2's B2, B3, B4, B8, B11.
pub const WAVELENGTHS_NM: [f64; 5] = [490.0, 560.0, 665.0, 842.0, 1610.0];

/// The land cover classes of [`Scene::landcover`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LandCover {
    /// Lakes and rivers.
    Water = 1,
    /// Forest.
    Forest = 2,
    /// Cropland with a growing crop.
    Cropland = 3,
    /// Bare soil: fields before sowing or after harvest.
    BareSoil = 4,
    /// Built-up areas: roofs and streets.
    Urban = 5,
}

impl LandCover {
    /// All classes, in order of their codes.
    pub const ALL: [LandCover; 5] = [
        LandCover::Water,
        LandCover::Forest,
        LandCover::Cropland,
        LandCover::BareSoil,
        LandCover::Urban,
    ];

    /// The class of a code, if it is one.
    ///
    /// ```
    /// use rask::data::LandCover;
    /// assert_eq!(LandCover::from_code(2), Some(LandCover::Forest));
    /// assert_eq!(LandCover::from_code(9), None);
    /// ```
    pub fn from_code(code: u8) -> Option<LandCover> {
        LandCover::ALL.into_iter().find(|c| *c as u8 == code)
    }

    /// The class's name.
    pub fn name(self) -> &'static str {
        match self {
            LandCover::Water => "water",
            LandCover::Forest => "forest",
            LandCover::Cropland => "cropland",
            LandCover::BareSoil => "bare soil",
            LandCover::Urban => "urban",
        }
    }
}

/// What [`synthetic_scene`] makes. The default: 512 × 512 pixels of 10 m in chunks of 256,
/// 4 dates, seed 6, about 25 % cloud cover, in UTM zone 33N (EPSG:32633) with its top-left
/// corner at (399 960 E, 5 300 040 N).
#[derive(Clone, Debug, PartialEq)]
pub struct SceneSpec {
    /// Rows and columns (the scene is square).
    pub size: usize,
    /// Chunk edge in pixels (rows and columns); bands are chunked whole along the band axis
    /// and dates one per chunk.
    pub chunk: usize,
    /// The number of dates in the time stack.
    pub times: usize,
    /// The seed: everything else equal, one seed gives one scene.
    pub seed: u64,
    /// The EPSG code of the projection the scene is georeferenced in.
    pub epsg: u32,
    /// The projected (x, y) coordinates of the top-left corner of the top-left pixel.
    pub origin: (f64, f64),
    /// The pixel size in projection units (metres for UTM).
    pub pixel_size: f64,
    /// The mean fraction of the scene under cloud or cloud edge, in `[0, 0.95]`; the first
    /// date has exactly this target, later dates vary around it.
    pub cloud_cover: f64,
}

impl Default for SceneSpec {
    fn default() -> Self {
        SceneSpec {
            size: 512,
            chunk: 256,
            times: 4,
            seed: 6,
            epsg: 32633,
            origin: (399_960.0, 5_300_040.0),
            pixel_size: 10.0,
            cloud_cover: 0.25,
        }
    }
}

impl SceneSpec {
    /// Checks the spec, naming the offending field and value.
    ///
    /// ```
    /// use rask::data::SceneSpec;
    /// assert!(SceneSpec::default().validate().is_ok());
    /// let e = SceneSpec { chunk: 0, ..SceneSpec::default() }.validate().unwrap_err();
    /// assert!(e.to_string().contains("chunk"), "{e}");
    /// ```
    pub fn validate(&self) -> Result<()> {
        const OP: &str = "synthetic_scene";
        if self.size == 0 || self.size > MAX_SIZE {
            return Err(Error::arg(
                OP,
                format!("size must be in 1..={MAX_SIZE}, got {}", self.size),
            ));
        }
        if self.chunk == 0 {
            return Err(Error::arg(OP, "chunk must be at least 1, got 0"));
        }
        if self.times == 0 || self.times > MAX_TIMES {
            return Err(Error::arg(
                OP,
                format!("times must be in 1..={MAX_TIMES}, got {}", self.times),
            ));
        }
        if self.epsg == 0 {
            return Err(Error::arg(OP, "epsg must be a positive EPSG code, got 0"));
        }
        if !(self.pixel_size.is_finite() && self.pixel_size > 0.0) {
            return Err(Error::arg(
                OP,
                format!(
                    "pixel_size must be positive and finite, got {}",
                    self.pixel_size
                ),
            ));
        }
        if !(self.origin.0.is_finite() && self.origin.1.is_finite()) {
            return Err(Error::arg(
                OP,
                format!("origin must be finite, got {:?}", self.origin),
            ));
        }
        if !(0.0..=0.95).contains(&self.cloud_cover) {
            return Err(Error::arg(
                OP,
                format!("cloud_cover must be in [0, 0.95], got {}", self.cloud_cover),
            ));
        }
        Ok(())
    }

    /// The GDAL geotransform `[x0, pixel, 0, y0, 0, -pixel]`: pixel `(row, col)`'s top-left
    /// corner is at `(x0 + col * pixel, y0 - row * pixel)`.
    ///
    /// ```
    /// let g = rask::data::SceneSpec::default().geotransform();
    /// assert_eq!(g, [399_960.0, 10.0, 0.0, 5_300_040.0, 0.0, -10.0]);
    /// ```
    pub fn geotransform(&self) -> [f64; 6] {
        [
            self.origin.0,
            self.pixel_size,
            0.0,
            self.origin.1,
            0.0,
            -self.pixel_size,
        ]
    }

    /// The scene's [`GeoInfo`]: its geotransform and EPSG code, no nodata value.
    pub fn geo(&self) -> GeoInfo {
        GeoInfo::new(self.geotransform()).with_epsg(self.epsg)
    }

    /// The day of each date, counted from the first (a 12-day revisit).
    pub fn days(&self) -> Vec<u32> {
        (0..self.times as u32).map(|t| t * REVISIT_DAYS).collect()
    }

    /// The attributes that georeference an array of this scene: the CRS (`crs`, `epsg`,
    /// GeoZarr's `proj:code`, GDAL's `_CRS`), the geotransform (GDAL order) and its affine
    /// form (`spatial:transform`, rasterio order), the pixel size, and the nodata value.
    pub fn geo_attributes(&self) -> Map<String, Value> {
        let g = self.geotransform();
        let code = format!("EPSG:{}", self.epsg);
        let mut m = Map::new();
        m.insert("crs".into(), json!(code));
        m.insert("epsg".into(), json!(self.epsg));
        m.insert("proj:code".into(), json!(code));
        m.insert(
            "_CRS".into(),
            json!({ "url": format!("http://www.opengis.net/def/crs/EPSG/0/{}", self.epsg) }),
        );
        m.insert("geotransform".into(), json!(g));
        m.insert(
            "spatial:transform".into(),
            json!([g[1], g[2], g[0], g[4], g[5], g[3]]),
        );
        m.insert("pixel_size".into(), json!(self.pixel_size));
        m
    }
}

/// The largest [`SceneSpec::size`]: 2^20 pixels a side.
pub const MAX_SIZE: usize = 1 << 20;
/// The most dates in a time stack.
pub const MAX_TIMES: usize = 366;
/// Days between two dates of the time stack.
pub const REVISIT_DAYS: u32 = 12;
/// The first date of the time stack, as CF's `units` of a time axis.
pub const TIME_UNITS: &str = "days since 2024-05-01";

/// A synthetic scene: lazy arrays, computed block by block when read or written.
#[derive(Clone)]
pub struct Scene {
    /// What the scene was made from.
    pub spec: SceneSpec,
    /// The first date's five bands, `(5, rows, cols)`, reflectance × 10 000, [`NODATA`]
    /// outside the swath.
    pub bands: ChunkedArray<u16>,
    /// The first date's cloud mask, `(rows, cols)`: [`CLEAR`], [`CLOUD`], [`SHADOW`] or
    /// [`MASK_NODATA`].
    pub cloud: ChunkedArray<u8>,
    /// Every date's bands, `(times, 5, rows, cols)`; date 0 is [`bands`](Self::bands).
    pub stack: ChunkedArray<u16>,
    /// Every date's cloud mask, `(times, rows, cols)`.
    pub clouds: ChunkedArray<u8>,
    /// The first date's land cover, `(rows, cols)`: [`LandCover`] codes (the ground truth,
    /// also under clouds and outside the swath).
    pub landcover: ChunkedArray<u8>,
    model: Arc<Model>,
}

impl std::fmt::Debug for Scene {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scene").field("spec", &self.spec).finish()
    }
}

/// `(start, len)` of block `idx` on each axis of a regular grid.
fn block_span(shape: &[usize], chunks: &[usize], idx: &[usize]) -> Vec<(usize, usize)> {
    shape
        .iter()
        .zip(chunks)
        .zip(idx)
        .map(|((&n, &c), &i)| {
            let c = c.clamp(1, n.max(1));
            let start = (i * c).min(n);
            (start, c.min(n - start))
        })
        .collect()
}

/// Builds the scene of `spec`. Nothing is computed until an array is read or written.
///
/// ```
/// use rask::data::{SceneSpec, synthetic_scene};
/// let a = synthetic_scene(&SceneSpec { size: 96, chunk: 32, ..SceneSpec::default() })?;
/// let b = synthetic_scene(&SceneSpec { size: 96, chunk: 40, ..SceneSpec::default() })?;
/// assert_eq!(a.bands.compute()?, b.bands.compute()?); // any chunking, the same bits
/// assert!(synthetic_scene(&SceneSpec { size: 0, ..SceneSpec::default() }).is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn synthetic_scene(spec: &SceneSpec) -> Result<Scene> {
    spec.validate()?;
    let model = Arc::new(Model::new(spec));
    let (n, c, nt) = (spec.size, spec.chunk.min(spec.size), spec.times);
    let geo = spec.geo();
    let band_geo = geo.clone().with_nodata(NODATA as f64);
    let mask_geo = geo.clone().with_nodata(MASK_NODATA as f64);
    let scene = Scene {
        spec: spec.clone(),
        bands: date_bands(&model, 0, c).with_geo(band_geo.clone()),
        cloud: date_mask(&model, 0, c).with_geo(mask_geo.clone()),
        stack: {
            let m = model.clone();
            let (shape, chunks) = ([nt, 5, n, n], [1, 5, c, c]);
            ChunkedArray::from_blocks(&shape, &chunks, move |idx| {
                let s = block_span(&shape, &chunks, idx);
                let ((t0, nt), (b0, nb), (r0, h), (c0, w)) = (s[0], s[1], s[2], s[3]);
                let mut v = vec![0u16; nt * nb * h * w];
                for (k, t) in (t0..t0 + nt).enumerate() {
                    let out = &mut v[k * nb * h * w..][..nb * h * w];
                    m.render(t, (r0, c0), (h, w), (b0, b0 + nb), Some(out), None, None);
                }
                block(vec![nt, nb, h, w], v)
            })
            .with_geo(band_geo)
        },
        clouds: {
            let m = model.clone();
            let (shape, chunks) = ([nt, n, n], [1, c, c]);
            ChunkedArray::from_blocks(&shape, &chunks, move |idx| {
                let s = block_span(&shape, &chunks, idx);
                let ((t0, nt), (r0, h), (c0, w)) = (s[0], s[1], s[2]);
                let mut v = vec![0u8; nt * h * w];
                for (k, t) in (t0..t0 + nt).enumerate() {
                    let out = &mut v[k * h * w..][..h * w];
                    m.render(t, (r0, c0), (h, w), (0, 0), None, Some(out), None);
                }
                block(vec![nt, h, w], v)
            })
            .with_geo(mask_geo)
        },
        landcover: {
            let m = model.clone();
            let (shape, chunks) = ([n, n], [c, c]);
            ChunkedArray::from_blocks(&shape, &chunks, move |idx| {
                let s = block_span(&shape, &chunks, idx);
                let ((r0, h), (c0, w)) = (s[0], s[1]);
                let mut v = vec![0u8; h * w];
                m.render(0, (r0, c0), (h, w), (0, 0), None, None, Some(&mut v));
                block(vec![h, w], v)
            })
            .with_geo(geo)
        },
        model,
    };
    Ok(scene)
}

fn block<T: crate::Element>(shape: Vec<usize>, v: Vec<T>) -> Result<ArrayD<T>> {
    ArrayD::from_shape_vec(shape, v).map_err(|e| Error::msg(format!("synthetic_scene: {e}")))
}

fn date_bands(model: &Arc<Model>, t: usize, c: usize) -> ChunkedArray<u16> {
    let m = model.clone();
    let n = m.rows;
    let (shape, chunks) = ([5, n, n], [5, c, c]);
    ChunkedArray::from_blocks(&shape, &chunks, move |idx| {
        let s = block_span(&shape, &chunks, idx);
        let ((b0, nb), (r0, h), (c0, w)) = (s[0], s[1], s[2]);
        let mut v = vec![0u16; nb * h * w];
        m.render(t, (r0, c0), (h, w), (b0, b0 + nb), Some(&mut v), None, None);
        block(vec![nb, h, w], v)
    })
}

fn date_mask(model: &Arc<Model>, t: usize, c: usize) -> ChunkedArray<u8> {
    let m = model.clone();
    let n = m.rows;
    let (shape, chunks) = ([n, n], [c, c]);
    ChunkedArray::from_blocks(&shape, &chunks, move |idx| {
        let s = block_span(&shape, &chunks, idx);
        let ((r0, h), (c0, w)) = (s[0], s[1]);
        let mut v = vec![0u8; h * w];
        m.render(t, (r0, c0), (h, w), (0, 0), None, Some(&mut v), None);
        block(vec![h, w], v)
    })
}

impl Scene {
    /// The bands and the cloud mask of date `t` alone (`(5, rows, cols)` and
    /// `(rows, cols)`): the same values as `stack[t]` and `clouds[t]`, generated without
    /// the other dates.
    ///
    /// ```
    /// use rask::data::{SceneSpec, synthetic_scene};
    /// let s = synthetic_scene(&SceneSpec { size: 64, chunk: 32, ..SceneSpec::default() })?;
    /// let (b2, m2) = s.date(2)?;
    /// assert_eq!(b2.compute()?, s.stack.slice(ndarray::s![2, .., .., ..]).compute()?);
    /// assert!(s.date(4).is_err());
    /// # let _ = m2;
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn date(&self, t: usize) -> Result<(ChunkedArray<u16>, ChunkedArray<u8>)> {
        if t >= self.spec.times {
            return Err(Error::arg(
                "Scene::date",
                format!("date {t} is out of range for {} dates", self.spec.times),
            ));
        }
        let c = self.spec.chunk.min(self.spec.size);
        let geo = self.spec.geo();
        Ok((
            date_bands(&self.model, t, c).with_geo(geo.clone().with_nodata(NODATA as f64)),
            date_mask(&self.model, t, c).with_geo(geo.with_nodata(MASK_NODATA as f64)),
        ))
    }

    /// The scene-wide attributes: georeferencing ([`SceneSpec::geo_attributes`]), band
    /// names and wavelengths, dates, the nodata value and the spec.
    pub fn attributes(&self) -> Map<String, Value> {
        let s = &self.spec;
        let mut m = s.geo_attributes();
        m.insert("band_names".into(), json!(BAND_NAMES));
        m.insert("wavelength_nm".into(), json!(WAVELENGTHS_NM));
        m.insert("scale_factor".into(), json!(1.0 / SCALE));
        m.insert("nodata".into(), json!(NODATA));
        m.insert("time".into(), json!(s.days()));
        m.insert("time_units".into(), json!(TIME_UNITS));
        m.insert(
            "cloud_mask_values".into(),
            json!({"clear": CLEAR, "cloud": CLOUD, "shadow": SHADOW, "nodata": MASK_NODATA}),
        );
        m.insert(
            "landcover_classes".into(),
            Value::Object(
                LandCover::ALL
                    .iter()
                    .map(|c| (c.name().to_string(), json!(*c as u8)))
                    .collect(),
            ),
        );
        m.insert(
            "synthetic_scene".into(),
            json!({"size": s.size, "times": s.times, "seed": s.seed,
                   "cloud_cover": s.cloud_cover, "generator": concat!("rask ", env!("CARGO_PKG_VERSION"))}),
        );
        m
    }
}

/// How [`write_scene`] writes. The defaults: Zarr and GeoTIFF outputs (per-date GeoTIFFs
/// included), zstd level 3, and an existing output is an error.
#[derive(Clone, Debug)]
pub struct WriteSceneOptions {
    /// Write `scene.zarr`.
    pub zarr: bool,
    /// Write the GeoTIFFs (`scene.tif`, `cloud.tif`, `landcover.tif`, `stack_t{i}.tif`,
    /// `cloud_t{i}.tif`).
    pub geotiff: bool,
    /// With `geotiff`, also write each date's `stack_t{i}.tif` and `cloud_t{i}.tif`.
    pub dated_geotiffs: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// The Zarr compression.
    pub compression: Compression,
}

impl Default for WriteSceneOptions {
    fn default() -> Self {
        WriteSceneOptions {
            zarr: true,
            geotiff: true,
            dated_geotiffs: true,
            overwrite: false,
            compression: Compression::default(),
        }
    }
}

/// What [`write_scene`] wrote.
#[derive(Clone, Debug, Default)]
pub struct SceneFiles {
    /// The Zarr group, when written.
    pub zarr: Option<PathBuf>,
    /// The GeoTIFFs written.
    pub geotiffs: Vec<PathBuf>,
}

/// Writes `scene` into the directory `dir` (created if missing), block by block:
///
/// - `scene.zarr`, a Zarr V3 group holding the arrays `bands`, `cloud`, `stack`, `clouds` and
///   `landcover` with dimension names, georeferencing and nodata, and the scene's
///   [attributes](Scene::attributes) on the group, all written in one run;
/// - tiled GeoTIFFs (Deflate, with the projection and nodata): `scene.tif` (5 bands),
///   `cloud.tif`, `landcover.tif`, and per date `stack_t{i}.tif` and `cloud_t{i}.tif`.
///
/// ```
/// use rask::data::{SceneSpec, WriteSceneOptions, synthetic_scene, write_scene};
/// let dir = std::env::temp_dir().join(format!("rask-doc-write-scene-{}", std::process::id()));
/// let scene = synthetic_scene(&SceneSpec { size: 64, chunk: 32, times: 2, ..SceneSpec::default() })?;
/// let files = write_scene(&scene, &dir, &WriteSceneOptions::default())?;
/// let bands = rask::open_zarr(files.zarr.unwrap().join("bands"))?;
/// assert_eq!(bands.shape(), &[5, 64, 64]);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn write_scene(
    scene: &Scene,
    dir: impl AsRef<Path>,
    options: &WriteSceneOptions,
) -> Result<SceneFiles> {
    write_scene_with(scene, dir, options, &Config::default())
}

/// [`write_scene`], running each write with `config` (threads, memory limit, progress,
/// cancellation).
///
/// ```
/// use rask::prelude::*;
/// use rask::data::{SceneSpec, WriteSceneOptions, synthetic_scene, write_scene_with};
/// let dir = std::env::temp_dir().join(format!("rask-doc-write-scene-with-{}", std::process::id()));
/// let scene = synthetic_scene(&SceneSpec { size: 64, chunk: 32, times: 1, ..SceneSpec::default() })?;
/// let opts = WriteSceneOptions { geotiff: false, ..WriteSceneOptions::default() };
/// let files = write_scene_with(&scene, &dir, &opts, &Config::default().threads(1))?;
/// assert!(files.zarr.is_some() && files.geotiffs.is_empty());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn write_scene_with(
    scene: &Scene,
    dir: impl AsRef<Path>,
    options: &WriteSceneOptions,
    config: &Config,
) -> Result<SceneFiles> {
    const OP: &str = "write_scene";
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| Error::io(OP, dir.display(), e))?;
    let mut files = SceneFiles::default();
    if options.zarr {
        let group = dir.join("scene.zarr");
        if group.exists() {
            if !options.overwrite {
                return Err(Error::arg(
                    OP,
                    format!(
                        "{} already exists (set overwrite to replace it)",
                        group.display()
                    ),
                ));
            }
            remove_zarr_group(&group)?;
        }
        let attrs = scene.attributes();
        create_zarr_group(&group, &attrs)?;
        let base = |dims: &[&str]| {
            let mut o = ZarrOptions::default()
                .compression(options.compression)
                .dimension_names(dims)
                .overwrite(true);
            o.attributes = scene.spec.geo_attributes();
            o
        };
        let bands_opts = base(&["band", "y", "x"])
            .attribute("band_names", json!(BAND_NAMES))
            .attribute("nodata", NODATA)
            .attribute("scale_factor", 1.0 / SCALE);
        let mask_opts = base(&["y", "x"]).attribute("nodata", MASK_NODATA);
        let stack_opts = base(&["time", "band", "y", "x"])
            .attribute("band_names", json!(BAND_NAMES))
            .attribute("nodata", NODATA)
            .attribute("scale_factor", 1.0 / SCALE)
            .attribute("time", json!(scene.spec.days()))
            .attribute("time_units", TIME_UNITS);
        let clouds_opts = base(&["time", "y", "x"])
            .attribute("nodata", MASK_NODATA)
            .attribute("time", json!(scene.spec.days()))
            .attribute("time_units", TIME_UNITS);
        let lc_opts = base(&["y", "x"]).attribute(
            "landcover_classes",
            attrs
                .get("landcover_classes")
                .cloned()
                .unwrap_or(Value::Null),
        );
        store_all_with(
            &[
                scene.bands.zarr_target(group.join("bands"), &bands_opts),
                scene.cloud.zarr_target(group.join("cloud"), &mask_opts),
                scene.stack.zarr_target(group.join("stack"), &stack_opts),
                scene.clouds.zarr_target(group.join("clouds"), &clouds_opts),
                scene
                    .landcover
                    .zarr_target(group.join("landcover"), &lc_opts),
            ],
            config,
        )?;
        files.zarr = Some(group);
    }
    if options.geotiff {
        let topts = TiffOptions::default().overwrite(options.overwrite);
        let mut write = |name: String, f: &dyn Fn(&Path) -> Result<()>| -> Result<()> {
            let p = dir.join(name);
            f(&p)?;
            files.geotiffs.push(p);
            Ok(())
        };
        write("scene.tif".into(), &|p| {
            scene.bands.to_tiff_with(p, &topts, config).map(drop)
        })?;
        write("cloud.tif".into(), &|p| {
            scene.cloud.to_tiff_with(p, &topts, config).map(drop)
        })?;
        write("landcover.tif".into(), &|p| {
            scene.landcover.to_tiff_with(p, &topts, config).map(drop)
        })?;
        for t in 0..scene.spec.times * usize::from(options.dated_geotiffs) {
            let (b, m) = scene.date(t)?;
            write(format!("stack_t{t}.tif"), &|p| {
                b.to_tiff_with(p, &topts, config).map(drop)
            })?;
            write(format!("cloud_t{t}.tif"), &|p| {
                m.to_tiff_with(p, &topts, config).map(drop)
            })?;
        }
    }
    Ok(files)
}

/// Removes a Zarr V3 group directory, refusing anything that is not one.
fn remove_zarr_group(path: &Path) -> Result<()> {
    const OP: &str = "write_scene";
    let meta = path.join("zarr.json");
    let is_group = std::fs::read_to_string(&meta)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|v| v.get("node_type") == Some(&json!("group")));
    if !is_group {
        return Err(Error::arg(
            OP,
            format!(
                "{} exists and is not a Zarr group; not replacing it",
                path.display()
            ),
        ));
    }
    std::fs::remove_dir_all(path).map_err(|e| Error::io(OP, path.display(), e))
}
