//! The commands of the `rask` tool.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::{Value, json};

use super::raster::{AnyArray, Output, OutputCompression, Raster, json_f64, parse_dtype, with_any};
use super::{RunOptions, ensure};
use crate::calc::{Expression, RESERVED};
use crate::element::DType;
use crate::error::{Error, Result};
use crate::geo::GeoInfo;
use crate::{ChunkedArray, compute_all_with};

fn dtype_arg(s: &str) -> std::result::Result<DType, String> {
    parse_dtype(s).map_err(|e| e.to_string())
}

fn io_err(op: &str, e: std::io::Error) -> Error {
    Error::io(op, "standard output", e)
}

/// Options of the commands that write a raster.
#[derive(Debug, Clone, Args)]
pub(crate) struct WriteArgs {
    /// Chunk (tile) shape of the output: one size per axis, or ROWS,COLS for the last two
    /// axes [default: the input's chunks]
    #[arg(long, value_name = "R,C", value_delimiter = ',', num_args = 1..)]
    chunks: Option<Vec<usize>>,
    /// Compression of the output
    #[arg(long, value_enum, default_value_t = OutputCompression::Zstd)]
    compression: OutputCompression,
    /// Replace the output if it exists
    #[arg(long)]
    overwrite: bool,
    /// Resume an interrupted write (Zarr outputs): chunks whose write completed in an earlier,
    /// killed or cancelled run with `--resume` are kept, and only the others are computed
    #[arg(long)]
    resume: bool,
}

impl WriteArgs {
    /// The output at `path`, with the chunks fitted to an array of `shape`.
    fn output(&self, path: &Path, shape: &[usize]) -> Result<Output> {
        let mut out = Output::new(path, self.overwrite)?;
        out.compression = self.compression;
        out.resume = self.resume;
        if let Some(c) = &self.chunks {
            ensure(c.iter().all(|&v| v > 0), "--chunks", || {
                format!("chunk sizes must be positive, got {c:?}")
            })?;
            let nd = shape.len();
            out.chunks = Some(if c.len() == nd {
                c.clone()
            } else if c.len() == 2 && nd > 2 {
                let mut full = vec![1; nd - 2];
                full.extend_from_slice(c);
                full
            } else {
                return Err(Error::arg(
                    "--chunks",
                    format!(
                        "{} sizes given for an array of {nd} dimensions (shape {shape:?})",
                        c.len()
                    ),
                ));
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- info

/// Show a raster's format, shape, dtype, chunks, compression, CRS, geotransform and nodata.
///
/// Example: rask info scene.zarr
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  rask info scene.zarr\n  rask info b04.npy --json")]
pub(crate) struct InfoArgs {
    /// The raster: a Zarr array directory, a .npy file or a GeoTIFF
    path: PathBuf,
    /// Print one JSON object
    #[arg(long)]
    json: bool,
}

pub(crate) fn info(a: &InfoArgs, _run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    let r = Raster::open(&a.path)?;
    let crs = r
        .geo
        .as_ref()
        .and_then(|g| g.epsg)
        .map(|e| format!("EPSG:{e}"));
    let gt = r.geo.as_ref().map(|g| g.geotransform);
    if a.json {
        let v = json!({
            "path": r.path.display().to_string(),
            "format": r.format_detail,
            "shape": r.shape,
            "dtype": r.dtype.name(),
            "chunks": r.chunks,
            "compression": r.compression,
            "crs": crs,
            "geotransform": gt.map(|g| g.map(json_f64).to_vec()),
            "nodata": r.nodata.map(json_f64),
        });
        writeln!(out, "{v}").map_err(|e| io_err("info", e))?;
        return Ok(());
    }
    let text = format!(
        "path:         {}\nformat:       {}\nshape:        {:?}\ndtype:        {}\n\
         chunks:       {:?}\ncompression:  {}\ncrs:          {}\ngeotransform: {}\nnodata:       {}\n",
        r.path.display(),
        r.format_detail,
        r.shape,
        r.dtype,
        r.chunks,
        r.compression,
        crs.as_deref().unwrap_or("none"),
        gt.map(|g| format!("{g:?}"))
            .unwrap_or_else(|| "none".into()),
        r.nodata
            .map(|v| v.to_string())
            .unwrap_or_else(|| "none".into()),
    );
    out.write_all(text.as_bytes())
        .map_err(|e| io_err("info", e))
}

// ---------------------------------------------------------------- stats

/// Count, mean, standard deviation, minimum and maximum per band, skipping nodata.
///
/// As `gdalinfo -stats`: nodata pixels (and NaN) are skipped, `count` is the number of
/// valid pixels and `std` is the population standard deviation. A 3-d array's first axis is
/// the band axis. A Zarr array's fill value is not nodata unless its attributes say so
/// (`nodata` or `_FillValue`).
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  rask stats scene.zarr\n  rask stats scene.zarr --band 2 --json"
)]
pub(crate) struct StatsArgs {
    /// The raster: a Zarr array directory, a .npy file or a GeoTIFF
    path: PathBuf,
    /// Only this band (1-based)
    #[arg(long, value_name = "N")]
    band: Option<usize>,
    /// Print one JSON object: {"shape", "dtype", "bands": [{"band", "count", "mean", "std", "min", "max"}]}
    #[arg(long)]
    json: bool,
}

/// The statistics of one band.
#[derive(Debug, Clone, PartialEq)]
struct BandStats {
    band: usize,
    count: u64,
    mean: f64,
    std: f64,
    min: f64,
    max: f64,
}

pub(crate) fn stats(a: &StatsArgs, run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    let r = Raster::open(&a.path)?;
    let mut x = r.masked_f64();
    x = match x.ndim() {
        0 => x.reshape(&[1, 1]),
        1 | 2 => x.expand_dims(0),
        _ => x,
    };
    let nbands = x.shape()[0];
    let bands: Vec<usize> = match a.band {
        Some(b) => {
            ensure(b >= 1 && b <= nbands, "stats", || {
                format!(
                    "--band {b} is out of range: {} has {nbands} band{}",
                    a.path.display(),
                    if nbands == 1 { "" } else { "s" }
                )
            })?;
            x = x.take(&[b as isize - 1], 0);
            vec![b]
        }
        None => (1..=nbands).collect(),
    };
    let axes: Vec<isize> = (1..x.ndim() as isize).collect();
    let count = x.is_nan().not().count_nonzero_axes(&axes);
    let mean = x.nanmean_axes(&axes);
    let std = x.nanstd_axes(&axes, 0.0);
    let min = x.nanmin_axes(&axes);
    let max = x.nanmax_axes(&axes);
    let results = compute_all_with(&[&count, &mean, &std, &min, &max], &run.config())?;
    let mut it = results.into_iter();
    let count: Vec<u64> = it
        .next()
        .expect("five results")
        .into_array::<u64>()?
        .into_iter()
        .collect();
    let mut next_f64 = || -> Result<Vec<f64>> {
        Ok(it
            .next()
            .expect("five results")
            .into_array::<f64>()?
            .into_iter()
            .collect())
    };
    let (mean, std, min, max) = (next_f64()?, next_f64()?, next_f64()?, next_f64()?);
    let stats: Vec<BandStats> = bands
        .iter()
        .enumerate()
        .map(|(i, &band)| {
            let empty = count[i] == 0;
            let or_nan = |v: f64| if empty { f64::NAN } else { v };
            BandStats {
                band,
                count: count[i],
                mean: or_nan(mean[i]),
                std: or_nan(std[i]),
                min: or_nan(min[i]),
                max: or_nan(max[i]),
            }
        })
        .collect();
    let write = |out: &mut dyn Write, s: String| {
        out.write_all(s.as_bytes()).map_err(|e| io_err("stats", e))
    };
    if a.json {
        let num = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
        let bands: Vec<Value> = stats
            .iter()
            .map(|s| {
                json!({"band": s.band, "count": s.count, "mean": num(s.mean), "std": num(s.std),
                       "min": num(s.min), "max": num(s.max)})
            })
            .collect();
        let v = json!({
            "path": r.path.display().to_string(),
            "shape": r.shape,
            "dtype": r.dtype.name(),
            "nodata": r.nodata.map(json_f64),
            "bands": bands,
        });
        return write(out, format!("{v}\n"));
    }
    let mut text = format!(
        "{} {:?} {}{}\n{:>5} {:>14} {:>16} {:>16} {:>16} {:>16}\n",
        r.path.display(),
        r.shape,
        r.dtype,
        r.nodata
            .map(|v| format!(", nodata {v}"))
            .unwrap_or_default(),
        "band",
        "count",
        "mean",
        "std",
        "min",
        "max"
    );
    for s in &stats {
        text += &format!(
            "{:>5} {:>14} {:>16} {:>16} {:>16} {:>16}\n",
            s.band,
            s.count,
            short(s.mean),
            short(s.std),
            short(s.min),
            short(s.max)
        );
    }
    write(out, text)
}

/// A number in at most about 10 significant digits.
fn short(v: f64) -> String {
    if v.is_nan() {
        return "-".into();
    }
    let s = format!("{v:.10}");
    if s.contains('.') && v.abs() < 1e12 && (v == 0.0 || v.abs() >= 1e-4) {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        t.to_string()
    } else {
        format!("{v:.6e}")
    }
}

// ---------------------------------------------------------------- calc

/// Band math over named inputs, streamed to a Zarr, .npy or GeoTIFF output.
///
/// The expression reads the inputs by name: + - * / ** (or ^), comparisons < <= > >= == !=
/// (1 or 0), and/or/not (& | !), where(cond, a, b), sqrt, abs, log, log10, exp, min, max,
/// clip(x, lo, hi), numbers, pi, inf, nan. Nodata pixels of an input are NaN in the
/// expression; NaN results are written as --nodata (float outputs keep NaN and record NaN as
/// nodata when an input had nodata). The output's format follows its extension.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    rask calc \"(nir - red) / (nir + red)\" -i nir=b08.zarr -i red=b04.zarr -o ndvi.zarr\n  \
    rask calc \"where(a > 0, sqrt(a), 0)\" -i a=x.npy -o y.tif --dtype float32")]
pub(crate) struct CalcArgs {
    /// The expression, such as "(nir - red) / (nir + red)"
    #[arg(allow_hyphen_values = true)]
    expression: String,
    /// An input: NAME=PATH, or NAME=PATH:BAND for one band of a multi-band raster
    /// (1-based); repeat for each input
    #[arg(short = 'i', long = "input", value_name = "NAME=PATH", required = true)]
    inputs: Vec<String>,
    /// The output (.zarr, .npy, .tif or .tiff)
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    output: PathBuf,
    /// The output's element type, such as float32 or uint8 [default: float32, or float64
    /// when an input is float64 or a 32/64-bit integer]
    #[arg(long, value_parser = dtype_arg)]
    dtype: Option<DType>,
    /// Write NaN results as this value and record it as the output's nodata
    #[arg(long, allow_negative_numbers = true, value_name = "VALUE")]
    nodata: Option<f64>,
    #[command(flatten)]
    write: WriteArgs,
}

/// Opens a `calc` input: `PATH`, or `PATH:BAND` for one band (1-based) of a 3-d raster.
fn open_input(spec: &str) -> Result<Raster> {
    let band = spec.rsplit_once(':').and_then(|(path, b)| {
        let n: usize = b.parse().ok()?;
        (!Path::new(spec).exists()).then_some((path, n))
    });
    let Some((path, band)) = band else {
        return Raster::open(Path::new(spec));
    };
    let mut r = Raster::open(Path::new(path))?;
    let nbands = if r.shape.len() == 3 { r.shape[0] } else { 0 };
    ensure(band >= 1 && band <= nbands, "calc", || {
        format!(
            "{spec}: band {band} is out of range ({path} has shape {:?}; bands are the first \
             axis of a 3-d raster, counted from 1)",
            r.shape
        )
    })?;
    r.array = with_any!(&r.array, x => x.take(&[band as isize - 1], 0).squeeze(&[0]).into());
    r.shape.remove(0);
    r.chunks.remove(0);
    Ok(r)
}

/// Checks that `name` can name an input in an expression.
fn check_input_name(name: &str, arg: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ensure(ok, "calc", || {
        format!(
            "-i {arg}: '{name}' is not a name (letters, digits and _, not starting with a digit)"
        )
    })?;
    ensure(!RESERVED.contains(&name), "calc", || {
        format!("-i {arg}: '{name}' is reserved ({})", RESERVED.join(", "))
    })
}

pub(crate) fn calc(a: &CalcArgs, run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    let expr = Expression::parse(&a.expression)?;
    let mut rasters: Vec<(String, Raster)> = Vec::new();
    for arg in &a.inputs {
        let Some((name, path)) = arg.split_once('=') else {
            return Err(Error::arg(
                "calc",
                format!("-i {arg}: expected NAME=PATH, such as nir=b08.zarr"),
            ));
        };
        let name = name.trim();
        check_input_name(name, arg)?;
        ensure(!rasters.iter().any(|(n, _)| n == name), "calc", || {
            format!("-i {arg}: the input '{name}' is given twice")
        })?;
        rasters.push((name.to_string(), open_input(path)?));
    }
    let used = expr.variables();
    for v in &used {
        ensure(rasters.iter().any(|(n, _)| n == v), "calc", || {
            let names: Vec<&str> = rasters.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "the expression reads '{v}', which is not an input (inputs: {}); add -i {v}=PATH",
                names.join(", ")
            )
        })?;
    }
    ensure(!used.is_empty(), "calc", || {
        "the expression reads no input: there is nothing to compute over".into()
    })?;
    let used_rasters: Vec<&(String, Raster)> = rasters
        .iter()
        .filter(|(n, _)| used.contains(&n.as_str()))
        .collect();
    let geo = common_geo(&used_rasters)?;
    let inputs: HashMap<String, ChunkedArray<f64>> = used_rasters
        .iter()
        .map(|(n, r)| (n.clone(), r.masked_f64()))
        .collect();
    let mut y = expr.eval(&inputs)?;
    let dtype = a.dtype.unwrap_or_else(|| {
        let wide = used_rasters.iter().any(|(_, r)| {
            matches!(
                r.dtype,
                DType::F64 | DType::I32 | DType::U32 | DType::I64 | DType::U64
            )
        });
        if wide { DType::F64 } else { DType::F32 }
    });
    let float_out = matches!(dtype, DType::F32 | DType::F64);
    let nodata = match a.nodata {
        Some(v) => {
            ensure(representable(v, dtype), "calc", || {
                format!("--nodata {v} cannot be stored as {dtype}")
            })?;
            if !v.is_nan() {
                y = crate::where_(&y.is_nan(), v, &y);
            }
            Some(v)
        }
        None if float_out && used_rasters.iter().any(|(_, r)| r.nodata.is_some()) => Some(f64::NAN),
        None => None,
    };
    let mut output = a.write.output(&a.output, y.shape())?;
    output.nodata = nodata;
    output.geo = geo;
    let stats = output.write(&AnyArray::from_f64(&y, dtype)?, &run.config())?;
    if !run.quiet {
        let _ = writeln!(
            out,
            "wrote {} ({:?} {dtype}) in {:.2} s",
            a.output.display(),
            y.shape(),
            stats.wall_s
        );
    }
    Ok(())
}

/// Whether `v` is a value of `dtype` exactly.
fn representable(v: f64, dtype: DType) -> bool {
    let (lo, hi) = match dtype {
        DType::F64 => return true,
        DType::F32 => return !v.is_finite() || (v as f32) as f64 == v,
        DType::Bool => (0.0, 1.0),
        DType::U8 => (0.0, u8::MAX as f64),
        DType::U16 => (0.0, u16::MAX as f64),
        DType::U32 => (0.0, u32::MAX as f64),
        DType::U64 => (0.0, u64::MAX as f64),
        DType::I8 => (i8::MIN as f64, i8::MAX as f64),
        DType::I16 => (i16::MIN as f64, i16::MAX as f64),
        DType::I32 => (i32::MIN as f64, i32::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    };
    v.fract() == 0.0 && v >= lo && v <= hi
}

/// The georeferencing of inputs that must agree: the first one's, or an error naming two
/// inputs whose grids differ.
fn common_geo(inputs: &[&(String, Raster)]) -> Result<Option<GeoInfo>> {
    let mut first: Option<&(String, Raster)> = None;
    for item in inputs {
        let Some(g) = &item.1.geo else { continue };
        match first {
            None => first = Some(item),
            Some(f) => {
                let fg = f.1.geo.as_ref().expect("has geo");
                if !fg.same_grid(g) {
                    return Err(Error::arg(
                        "calc",
                        format!(
                            "the inputs '{}' ({}) and '{}' ({}) lie on different grids: {} and {}",
                            f.0,
                            f.1.path.display(),
                            item.0,
                            item.1.path.display(),
                            fg,
                            g
                        ),
                    ));
                }
            }
        }
    }
    Ok(first.and_then(|f| f.1.geo.clone()))
}

// ---------------------------------------------------------------- convert

/// Convert between Zarr, .npy and GeoTIFF (by the output's extension), streaming block by
/// block; nodata and georeferencing are kept.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  rask convert image.npy image.zarr --chunks 512,512\n  \
    rask convert scene.tif scene.zarr --compression deflate"
)]
pub(crate) struct ConvertArgs {
    /// The input: a Zarr array directory, a .npy file or a GeoTIFF
    input: PathBuf,
    /// The output (.zarr, .npy, .tif or .tiff)
    output: PathBuf,
    /// Convert the elements to this type (as NumPy's astype: floats truncate toward zero)
    #[arg(long, value_parser = dtype_arg)]
    dtype: Option<DType>,
    #[command(flatten)]
    write: WriteArgs,
}

pub(crate) fn convert(a: &ConvertArgs, run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    let r = Raster::open(&a.input)?;
    let mut output = a.write.output(&a.output, &r.shape)?;
    output.nodata = r.nodata;
    output.geo = r.geo.clone();
    let array = match a.dtype {
        Some(d) if d != r.dtype => r.array.cast(d)?,
        _ => r.array.clone(),
    };
    let stats = output.write(&array, &run.config())?;
    if !run.quiet {
        let _ = writeln!(
            out,
            "wrote {} ({:?} {}) in {:.2} s",
            a.output.display(),
            r.shape,
            array.dtype(),
            stats.wall_s
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- preview

/// The colour map of a one-band preview (`--colormap`).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ColorMapArg {
    /// Black to white.
    Gray,
    /// Perceptually uniform, dark blue to yellow.
    Viridis,
    /// Brown to green, for NDVI in [-1, 1] (use with --range -1,1).
    Ndvi,
}

/// Draw a PNG quicklook of a raster of any size: the array is shrunk by a block mean to at
/// most --size pixels on the long side before anything is computed, then stretched.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  rask preview scene.tif -o quicklook.png --bands 3,2,1\n  \
    rask preview ndvi.zarr -o ndvi.png --colormap ndvi --range -1,1"
)]
pub(crate) struct PreviewArgs {
    /// The raster: a Zarr array directory, a .npy file or a GeoTIFF
    path: PathBuf,
    /// The PNG to write
    #[arg(short = 'o', long = "output", value_name = "OUT.png")]
    output: PathBuf,
    /// One band, or three for red, green, blue (1-based) [default: 1, or 1,2,3 with three
    /// bands or more]
    #[arg(long, value_delimiter = ',', value_name = "R,G,B")]
    bands: Vec<usize>,
    /// The low and high percentiles of the stretch
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        value_name = "LO,HI",
        default_value = "2,98"
    )]
    stretch: Vec<f64>,
    /// A fixed value range instead of the percentile stretch
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        allow_hyphen_values = true,
        value_name = "MIN,MAX"
    )]
    range: Option<Vec<f64>>,
    /// The colour map of a one-band preview
    #[arg(long, value_enum, default_value = "gray")]
    colormap: ColorMapArg,
    /// The longest side of the PNG in pixels
    #[arg(long, default_value_t = 1024, value_name = "PIXELS")]
    size: usize,
    /// Replace the PNG if it exists
    #[arg(long)]
    overwrite: bool,
}

fn pair(v: &[f64], what: &str) -> Result<(f64, f64)> {
    match v {
        [a, b] if a.is_finite() && b.is_finite() && a < b => Ok((*a, *b)),
        _ => Err(Error::arg(
            "preview",
            format!("{what} needs two increasing numbers such as 2,98, got {v:?}"),
        )),
    }
}

pub(crate) fn preview(a: &PreviewArgs, run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    use crate::image::{ColorMap, PreviewOptions};
    ensure(
        a.output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png")),
        "preview",
        || format!("{}: the output must be a .png file", a.output.display()),
    )?;
    ensure(
        a.overwrite || std::fs::symlink_metadata(&a.output).is_err(),
        "preview",
        || {
            format!(
                "{} exists (use --overwrite to replace it)",
                a.output.display()
            )
        },
    )?;
    ensure(a.size >= 1, "preview", || {
        "--size must be at least 1".into()
    })?;
    let r = Raster::open(&a.path)?;
    let nbands = if r.shape.len() == 3 { r.shape[0] } else { 1 };
    for &b in &a.bands {
        ensure(b >= 1 && b <= nbands, "preview", || {
            format!(
                "--bands {b} is out of range: {} has {nbands} band{}",
                a.path.display(),
                if nbands == 1 { "" } else { "s" }
            )
        })?;
    }
    ensure(matches!(r.shape.len(), 2 | 3), "preview", || {
        format!(
            "{} has shape {:?}; a preview needs (rows, cols) or (bands, rows, cols)",
            a.path.display(),
            r.shape
        )
    })?;
    let stretch = pair(&a.stretch, "--stretch")?;
    ensure(stretch.0 >= 0.0 && stretch.1 <= 100.0, "preview", || {
        format!("--stretch {stretch:?} must lie within 0..100")
    })?;
    let config = run.config();
    let options = PreviewOptions {
        bands: a.bands.iter().map(|b| b - 1).collect(),
        stretch,
        range: a.range.as_deref().map(|v| pair(v, "--range")).transpose()?,
        colormap: match a.colormap {
            ColorMapArg::Gray => ColorMap::Gray,
            ColorMapArg::Viridis => ColorMap::Viridis,
            ColorMapArg::Ndvi => ColorMap::Ndvi,
        },
        max_size: a.size,
        nodata: r.nodata,
    };
    let info = match &r.array {
        AnyArray::Bool(x) => {
            crate::image::preview_with(&x.cast::<u8>(), &options, &a.output, &config)
        }
        AnyArray::U8(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::U16(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::U32(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::U64(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::I8(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::I16(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::I32(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::I64(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::F32(x) => crate::image::preview_with(x, &options, &a.output, &config),
        AnyArray::F64(x) => crate::image::preview_with(x, &options, &a.output, &config),
    }?;
    if !run.quiet {
        let _ = writeln!(
            out,
            "wrote {} ({}x{}, each pixel the mean of {}x{})",
            a.output.display(),
            info.width,
            info.height,
            info.factor,
            info.factor
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- sample

/// Write the synthetic sample scene: a georeferenced multispectral scene with land cover,
/// clouds, nodata and a time stack, as a Zarr group and GeoTIFFs in a directory.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  rask sample data/ --size 2048 --times 6\n  \
    rask stats data/scene.tif")]
pub(crate) struct SampleArgs {
    /// The directory to write into (created if missing)
    dir: PathBuf,
    /// Rows and columns of the scene
    #[arg(long, default_value_t = 512, value_name = "N")]
    size: usize,
    /// Dates in the time stack
    #[arg(long, default_value_t = 4, value_name = "T")]
    times: usize,
    /// Chunk (tile) edge in pixels
    #[arg(long, default_value_t = 256, value_name = "C")]
    chunk: usize,
    /// The seed: one seed gives one scene
    #[arg(long, default_value_t = 6)]
    seed: u64,
    /// Write only the Zarr group (no GeoTIFFs)
    #[arg(long, conflicts_with = "no_zarr")]
    no_tiff: bool,
    /// Write only the GeoTIFFs (no Zarr group)
    #[arg(long)]
    no_zarr: bool,
    /// Replace existing outputs
    #[arg(long)]
    overwrite: bool,
}

pub(crate) fn sample(a: &SampleArgs, run: &RunOptions, out: &mut dyn Write) -> Result<()> {
    use crate::data::{SceneSpec, WriteSceneOptions, synthetic_scene, write_scene_with};
    let spec = SceneSpec {
        size: a.size,
        times: a.times,
        chunk: a.chunk,
        seed: a.seed,
        ..SceneSpec::default()
    };
    let scene = synthetic_scene(&spec)?;
    let files = write_scene_with(
        &scene,
        &a.dir,
        &WriteSceneOptions {
            zarr: !a.no_zarr,
            geotiff: !a.no_tiff,
            overwrite: a.overwrite,
            ..WriteSceneOptions::default()
        },
        &run.config(),
    )?;
    if !run.quiet {
        let mut text = String::new();
        if let Some(z) = &files.zarr {
            text += &format!("wrote {}\n", z.display());
        }
        for t in &files.geotiffs {
            text += &format!("wrote {}\n", t.display());
        }
        out.write_all(text.as_bytes())
            .map_err(|e| io_err("sample", e))?;
    }
    Ok(())
}
