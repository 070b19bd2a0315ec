//! PNG previews of rasters of any size.
//!
//! [`preview`] shrinks an array by an integer block mean ([`ChunkedArray::coarsen`]) to
//! at most [`PreviewOptions::max_size`] pixels on its long side *before* computing, so a
//! 20 000 × 20 000 raster is read once, block by block, and only the small result is held.
//! The result is stretched between percentiles (or a fixed range) and written as a grey,
//! colour-mapped or true-colour PNG; nodata and NaN pixels are transparent.
//!
//! The building blocks are public too: [`write_png_gray`], [`write_png_rgb`],
//! [`write_png_rgba`], [`ColorMap`] and [`colorize`], [`percentile_range`],
//! [`percentile_stretch`] and [`stretch_rgb`].

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use ndarray::{Array2, Array3, ArrayView2, Axis};

use crate::array::{ChunkedArray, WindowStat, where_};
use crate::element::Number;
use crate::error::{Error, Result};
use crate::exec::Config;

/// The largest PNG side [`write_png_gray`] and friends accept (PNG's own limit is 2^31 - 1;
/// this one keeps a preview's buffer sane).
pub const MAX_PNG_SIDE: usize = 1 << 16;

fn encode_png(
    path: &Path,
    width: usize,
    height: usize,
    data: &[u8],
    channels: usize,
) -> Result<()> {
    const OP: &str = "write_png";
    if width == 0 || height == 0 || width > MAX_PNG_SIDE || height > MAX_PNG_SIDE {
        return Err(Error::arg(
            OP,
            format!("image size {width} x {height} must be between 1 and {MAX_PNG_SIDE} a side"),
        ));
    }
    let expected = width * height * channels;
    if data.len() != expected {
        return Err(Error::arg(
            OP,
            format!(
                "{} bytes for a {width} x {height} image with {channels} channels (needs {expected})",
                data.len()
            ),
        ));
    }
    let color = match channels {
        1 => png::ColorType::Grayscale,
        3 => png::ColorType::Rgb,
        _ => png::ColorType::Rgba,
    };
    // Written beside the target and renamed: a PNG is complete or absent.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.rask-tmp-{}", std::process::id()));
    let io = |e: std::io::Error| Error::io(OP, path.display(), e);
    let enc = |e: png::EncodingError| Error::storage(OP, path.display(), None, e);
    let result = (|| {
        let file = File::create(&tmp).map_err(io)?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), width as u32, height as u32);
        encoder.set_color(color);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(enc)?;
        writer.write_image_data(data).map_err(enc)?;
        writer.finish().map_err(enc)?;
        std::fs::rename(&tmp, path).map_err(io)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes an 8-bit greyscale PNG from `width * height` bytes, row by row.
///
/// ```
/// let path = std::env::temp_dir().join(format!("rask-doc-gray-{}.png", std::process::id()));
/// let ramp: Vec<u8> = (0..64u32 * 16).map(|i| (i % 64 * 4) as u8).collect();
/// rask::image::write_png_gray(&path, 64, 16, &ramp)?;
/// assert!(rask::image::write_png_gray(&path, 64, 15, &ramp).is_err()); // wrong length
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn write_png_gray(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    data: &[u8],
) -> Result<()> {
    encode_png(path.as_ref(), width, height, data, 1)
}

/// Writes an 8-bit RGB PNG from `width * height * 3` bytes (`r, g, b` per pixel, row by row).
pub fn write_png_rgb(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    data: &[u8],
) -> Result<()> {
    encode_png(path.as_ref(), width, height, data, 3)
}

/// Writes an 8-bit RGBA PNG from `width * height * 4` bytes (`r, g, b, a` per pixel).
pub fn write_png_rgba(
    path: impl AsRef<Path>,
    width: usize,
    height: usize,
    data: &[u8],
) -> Result<()> {
    encode_png(path.as_ref(), width, height, data, 4)
}

/// Writes an image of shape `(height, width, channels)` with 1, 3 or 4 channels.
///
/// ```
/// let path = std::env::temp_dir().join(format!("rask-doc-img-{}.png", std::process::id()));
/// let img = ndarray::Array3::<u8>::from_elem((8, 12, 3), 200);
/// rask::image::write_png_image(&path, &img)?;
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn write_png_image(path: impl AsRef<Path>, image: &Array3<u8>) -> Result<()> {
    let (h, w, c) = image.dim();
    if !matches!(c, 1 | 3 | 4) {
        return Err(Error::arg(
            "write_png",
            format!("an image needs 1, 3 or 4 channels, got {c}"),
        ));
    }
    let data: Vec<u8> = image.iter().copied().collect();
    encode_png(path.as_ref(), w, h, &data, c)
}

/// A value range `(low, high)`.
pub type ValueRange = (f64, f64);

/// A colour map from `[0, 1]` to RGB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorMap {
    /// Black to white.
    #[default]
    Gray,
    /// Perceptually uniform dark blue, teal, green, yellow (matplotlib's default).
    Viridis,
    /// For NDVI over `(-1, 1)`: blue for water (below 0), beige and tan for bare ground
    /// (0 to 0.25), then light to dark green for denser vegetation.
    Ndvi,
}

const VIRIDIS: [(f64, [u8; 3]); 9] = [
    (0.0, [68, 1, 84]),
    (0.125, [71, 44, 122]),
    (0.25, [59, 81, 139]),
    (0.375, [44, 113, 142]),
    (0.5, [33, 144, 141]),
    (0.625, [39, 173, 129]),
    (0.75, [92, 200, 99]),
    (0.875, [170, 220, 50]),
    (1.0, [253, 231, 37]),
];

/// Stops at NDVI values (-1, -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1) mapped to `(v + 1) / 2`.
const NDVI: [(f64, [u8; 3]); 8] = [
    (0.0, [8, 48, 107]),
    (0.4, [66, 146, 198]),
    (0.5, [200, 185, 160]),
    (0.6, [222, 196, 120]),
    (0.7, [173, 221, 110]),
    (0.8, [105, 190, 95]),
    (0.9, [30, 150, 70]),
    (1.0, [0, 85, 40]),
];

fn ramp(stops: &[(f64, [u8; 3])], t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let k = stops
        .windows(2)
        .position(|w| t <= w[1].0)
        .unwrap_or(stops.len() - 2);
    let ((t0, c0), (t1, c1)) = (stops[k], stops[k + 1]);
    let f = if t1 > t0 { (t - t0) / (t1 - t0) } else { 0.0 };
    std::array::from_fn(|i| (c0[i] as f64 + f * (c1[i] as f64 - c0[i] as f64)).round() as u8)
}

impl ColorMap {
    /// The colour at `t` in `[0, 1]` (clamped; NaN gives the colour at 0).
    ///
    /// ```
    /// use rask::image::ColorMap;
    /// assert_eq!(ColorMap::Gray.color(1.0), [255, 255, 255]);
    /// assert_eq!(ColorMap::Viridis.color(0.0), [68, 1, 84]);
    /// let [r, g, _] = ColorMap::Ndvi.color((0.8 + 1.0) / 2.0); // dense vegetation: green
    /// assert!(g > r);
    /// ```
    pub fn color(self, t: f64) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t };
        match self {
            ColorMap::Gray => {
                let v = (t.clamp(0.0, 1.0) * 255.0).round() as u8;
                [v, v, v]
            }
            ColorMap::Viridis => ramp(&VIRIDIS, t),
            ColorMap::Ndvi => ramp(&NDVI, t),
        }
    }
}

fn check_range(op: &str, (lo, hi): (f64, f64)) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite()) || lo > hi {
        return Err(Error::arg(
            op,
            format!("range ({lo}, {hi}) must be finite with low <= high"),
        ));
    }
    Ok(())
}

/// Maps `values` over `range` through `cmap` to an RGBA image `(height, width, 4)`; NaN
/// pixels are transparent.
///
/// ```
/// use rask::image::{ColorMap, colorize};
/// let v = ndarray::arr2(&[[-1.0, 0.0, f64::NAN]]);
/// let img = colorize(v.view(), (-1.0, 1.0), ColorMap::Gray)?;
/// assert_eq!(img.dim(), (1, 3, 4));
/// assert_eq!((img[[0, 1, 0]], img[[0, 1, 3]], img[[0, 2, 3]]), (128, 255, 0));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn colorize(
    values: ArrayView2<'_, f64>,
    range: (f64, f64),
    cmap: ColorMap,
) -> Result<Array3<u8>> {
    check_range("colorize", range)?;
    let (h, w) = values.dim();
    let span = range.1 - range.0;
    let mut out = Array3::<u8>::zeros((h, w, 4));
    for ((i, j), &v) in values.indexed_iter() {
        if v.is_nan() {
            continue;
        }
        let t = if span > 0.0 {
            (v - range.0) / span
        } else {
            0.5
        };
        let [r, g, b] = cmap.color(t);
        out[[i, j, 0]] = r;
        out[[i, j, 1]] = g;
        out[[i, j, 2]] = b;
        out[[i, j, 3]] = 255;
    }
    Ok(out)
}

/// The `lo`-th and `hi`-th percentiles (NumPy's linear interpolation) of the finite values,
/// or `None` when there are none. Percentiles must satisfy `0 <= lo <= hi <= 100`.
///
/// ```
/// let v: Vec<f64> = (0..=100).map(f64::from).chain([f64::NAN]).collect();
/// assert_eq!(rask::image::percentile_range(&v, (2.0, 98.0))?, Some((2.0, 98.0)));
/// assert_eq!(rask::image::percentile_range(&[f64::NAN], (2.0, 98.0))?, None);
/// assert!(rask::image::percentile_range(&v, (50.0, 20.0)).is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn percentile_range(values: &[f64], (lo, hi): (f64, f64)) -> Result<Option<(f64, f64)>> {
    if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo > hi {
        return Err(Error::arg(
            "percentile_range",
            format!("percentiles ({lo}, {hi}) must satisfy 0 <= low <= high <= 100"),
        ));
    }
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Ok(None);
    }
    v.sort_unstable_by(f64::total_cmp);
    let at = |p: f64| {
        let pos = p / 100.0 * (v.len() - 1) as f64;
        let k = pos.floor() as usize;
        let f = pos - k as f64;
        if k + 1 < v.len() {
            v[k] + f * (v[k + 1] - v[k])
        } else {
            v[k]
        }
    };
    Ok(Some((at(lo), at(hi))))
}

#[inline]
fn to_byte(v: f64, (lo, hi): (f64, f64)) -> u8 {
    if hi > lo {
        (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 255.0).round() as u8
    } else {
        128
    }
}

/// Stretches `values` linearly between their `percentiles` to bytes (0 below the low one,
/// 255 above the high one; NaN gives 0) and returns the range used (`None`: no finite value).
///
/// ```
/// let v = ndarray::Array2::from_shape_fn((10, 10), |(i, j)| (i * 10 + j) as f64);
/// let (img, range) = rask::image::percentile_stretch(v.view(), (0.0, 100.0))?;
/// assert_eq!((img[[0, 0]], img[[9, 9]], range), (0, 255, Some((0.0, 99.0))));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn percentile_stretch(
    values: ArrayView2<'_, f64>,
    percentiles: (f64, f64),
) -> Result<(Array2<u8>, Option<ValueRange>)> {
    let flat: Vec<f64> = values.iter().copied().collect();
    let range = percentile_range(&flat, percentiles)?;
    let r = range.unwrap_or((0.0, 0.0));
    Ok((
        values.mapv(|v| if v.is_nan() { 0 } else { to_byte(v, r) }),
        range,
    ))
}

/// Stretches three bands, each between its own `percentiles`, to an RGBA image
/// `(height, width, 4)`; a pixel that is NaN in any band is transparent. Returns the three
/// ranges used.
///
/// ```
/// let r = ndarray::Array2::from_elem((4, 4), 0.3);
/// let mut g = r.clone();
/// g[[0, 0]] = f64::NAN;
/// let (img, _) = rask::image::stretch_rgb([r.view(), g.view(), r.view()], (2.0, 98.0))?;
/// assert_eq!((img.dim(), img[[0, 0, 3]], img[[1, 1, 3]]), ((4, 4, 4), 0, 255));
/// # Ok::<(), rask::Error>(())
/// ```
pub fn stretch_rgb(
    bands: [ArrayView2<'_, f64>; 3],
    percentiles: (f64, f64),
) -> Result<(Array3<u8>, [Option<ValueRange>; 3])> {
    let mut ranges = [None; 3];
    for (k, b) in bands.iter().enumerate() {
        let valid: Vec<f64> = ndarray::Zip::from(b)
            .and(&bands[0])
            .and(&bands[1])
            .and(&bands[2])
            .map_collect(|&v, &r, &g, &bl| {
                if r.is_nan() || g.is_nan() || bl.is_nan() {
                    f64::NAN
                } else {
                    v
                }
            })
            .into_iter()
            .collect();
        ranges[k] = percentile_range(&valid, percentiles)?;
    }
    Ok((
        rgba(bands, &ranges.map(|r| r.unwrap_or((0.0, 0.0)))),
        ranges,
    ))
}

fn rgba(bands: [ArrayView2<'_, f64>; 3], ranges: &[(f64, f64); 3]) -> Array3<u8> {
    let (h, w) = bands[0].dim();
    let mut out = Array3::<u8>::zeros((h, w, 4));
    for i in 0..h {
        for j in 0..w {
            let px = [bands[0][[i, j]], bands[1][[i, j]], bands[2][[i, j]]];
            if px.iter().any(|v| v.is_nan()) {
                continue;
            }
            for k in 0..3 {
                out[[i, j, k]] = to_byte(px[k], ranges[k]);
            }
            out[[i, j, 3]] = 255;
        }
    }
    out
}

/// How [`preview`] draws an array. The defaults: automatic bands, a 2–98 % percentile
/// stretch, grey for one band, at most 1024 pixels on the long side, no nodata value.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewOptions {
    /// For an array `(bands, rows, cols)`: one band (drawn with [`colormap`](Self::colormap))
    /// or three (red, green, blue). Empty: band 0 of a one-band array, else bands 0, 1, 2.
    /// Ignored for a 2-d array.
    pub bands: Vec<usize>,
    /// The low and high percentiles of the stretch (per band).
    pub stretch: (f64, f64),
    /// A fixed value range for every band instead of the percentile stretch.
    pub range: Option<(f64, f64)>,
    /// The colour map of a one-band preview.
    pub colormap: ColorMap,
    /// The longest side of the PNG; the array is shrunk by an integer block mean to fit.
    pub max_size: usize,
    /// A value that marks missing pixels (drawn transparent), besides NaN.
    pub nodata: Option<f64>,
}

impl Default for PreviewOptions {
    fn default() -> Self {
        PreviewOptions {
            bands: Vec::new(),
            stretch: (2.0, 98.0),
            range: None,
            colormap: ColorMap::Gray,
            max_size: 1024,
            nodata: None,
        }
    }
}

/// What [`preview`] drew.
#[derive(Clone, Debug, PartialEq)]
pub struct PreviewInfo {
    /// The PNG's width.
    pub width: usize,
    /// The PNG's height.
    pub height: usize,
    /// How many array pixels each PNG pixel averages, per side.
    pub factor: usize,
    /// The value range drawn for each band (`None`: the band had no valid pixel).
    pub ranges: Vec<Option<(f64, f64)>>,
}

/// Draws a 2-d array `(rows, cols)` or a band stack `(bands, rows, cols)` of any size to a
/// PNG at `path`. The array is cast to `f32`, nodata set to NaN, and shrunk by a block mean
/// ([`coarsen`](ChunkedArray::coarsen), the partial windows at the ends trimmed) so that the
/// long side is at most `max_size`; only that small array is computed and held. Windows
/// holding a nodata pixel are transparent.
///
/// ```
/// use rask::prelude::*;
/// use rask::image::{ColorMap, PreviewOptions, preview};
/// let path = std::env::temp_dir().join(format!("rask-doc-preview-{}.png", std::process::id()));
/// let x = ChunkedArray::from_fn(&[3000, 2000], &[500, 500], |i| (i[0] + i[1]) as f64);
/// let opts = PreviewOptions { colormap: ColorMap::Viridis, max_size: 300, ..Default::default() };
/// let info = preview(&x, &opts, &path)?;
/// assert_eq!((info.width, info.height, info.factor), (200, 300, 10));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn preview<T: Number>(
    array: &ChunkedArray<T>,
    options: &PreviewOptions,
    path: impl AsRef<Path>,
) -> Result<PreviewInfo> {
    preview_with(array, options, path, &Config::default())
}

/// [`preview`], computing the shrunk array with `config` (threads, memory limit, progress,
/// cancellation).
///
/// ```
/// use rask::prelude::*;
/// use rask::image::{PreviewOptions, preview_with};
/// let path = std::env::temp_dir().join(format!("rask-doc-preview-with-{}.png", std::process::id()));
/// let x = ChunkedArray::from_fn(&[300, 200], &[100, 100], |i| (i[0] * i[1]) as u16);
/// let cfg = Config::default().threads(1).memory_limit(64 << 20);
/// let info = preview_with(&x, &PreviewOptions { max_size: 100, ..Default::default() }, &path, &cfg)?;
/// assert_eq!((info.width, info.height), (66, 100));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn preview_with<T: Number>(
    array: &ChunkedArray<T>,
    options: &PreviewOptions,
    path: impl AsRef<Path>,
    config: &Config,
) -> Result<PreviewInfo> {
    const OP: &str = "preview";
    array.check()?;
    let shape = array.shape().to_vec();
    let (x, bands) = match shape.len() {
        2 => (array.clone().expand_dims(0), vec![0]),
        3 => {
            let nb = shape[0];
            let bands = if options.bands.is_empty() {
                if nb >= 3 { vec![0, 1, 2] } else { vec![0] }
            } else {
                options.bands.clone()
            };
            if !matches!(bands.len(), 1 | 3) {
                return Err(Error::arg(OP, format!("needs 1 or 3 bands, got {bands:?}")));
            }
            if let Some(&b) = bands.iter().find(|&&b| b >= nb) {
                return Err(Error::arg(
                    OP,
                    format!("band {b} is out of range for an array of shape {shape:?}"),
                ));
            }
            (array.clone(), bands)
        }
        _ => {
            return Err(Error::arg(
                OP,
                format!(
                    "needs a 2-d (rows, cols) or 3-d (bands, rows, cols) array, got shape {shape:?}"
                ),
            ));
        }
    };
    if options.max_size == 0 {
        return Err(Error::arg(OP, "max_size must be at least 1, got 0"));
    }
    if let Some(r) = options.range {
        check_range(OP, r)?;
    }
    let (rows, cols) = (shape[shape.len() - 2], shape[shape.len() - 1]);
    if rows == 0 || cols == 0 {
        return Err(Error::arg(
            OP,
            format!("the array of shape {shape:?} is empty"),
        ));
    }
    let factor = rows.max(cols).div_ceil(options.max_size);
    // Only the wanted bands, as f32 with nodata as NaN, then the block mean.
    let picked = crate::array::concatenate(
        &bands
            .iter()
            .map(|&b| x.slice(ndarray::s![b as isize..b as isize + 1, .., ..]))
            .collect::<Vec<_>>()
            .iter()
            .collect::<Vec<_>>(),
        0,
    );
    let mut v = picked.cast::<f32>();
    if let Some(nd) = options.nodata {
        v = where_(&v.eq_elem(nd as f32), f32::NAN, &v);
    }
    if factor > 1 {
        v = v.coarsen(
            &[1, factor.min(rows), factor.min(cols)],
            WindowStat::Mean,
            true,
        );
    }
    let small = v.compute_with(config)?.mapv(f64::from);
    let small = small
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|e| Error::msg(format!("{OP}: {e}")))?;
    let (_, h, w) = small.dim();
    let image;
    let ranges: Vec<Option<(f64, f64)>>;
    if bands.len() == 1 {
        let b = small.index_axis(Axis(0), 0);
        let range = match options.range {
            Some(r) => Some(r),
            None => {
                let flat: Vec<f64> = b.iter().copied().collect();
                percentile_range(&flat, options.stretch)?
            }
        };
        image = colorize(b, range.unwrap_or((0.0, 0.0)), options.colormap)?;
        ranges = vec![range];
    } else {
        let views = [
            small.index_axis(Axis(0), 0),
            small.index_axis(Axis(0), 1),
            small.index_axis(Axis(0), 2),
        ];
        match options.range {
            Some(r) => {
                image = rgba(views, &[r; 3]);
                ranges = vec![Some(r); 3];
            }
            None => {
                let (img, rs) = stretch_rgb(views, options.stretch)?;
                image = img;
                ranges = rs.to_vec();
            }
        }
    }
    write_png_image(path, &image)?;
    Ok(PreviewInfo {
        width: w,
        height: h,
        factor,
        ranges,
    })
}
