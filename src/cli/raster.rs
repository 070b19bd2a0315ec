//! Rasters for the command line: any supported file opened into one dynamically typed
//! handle, and outputs chosen by their extension.
//!
//! [`Raster::open`] looks at a path (a Zarr array directory, a `.npy` file, a GeoTIFF) and
//! returns its shape, dtype, chunking, compression, georeferencing and nodata, and the lazy
//! array itself as an [`AnyArray`]. [`Output`] writes an array by the output's extension,
//! atomically (the library writers write a temporary sibling and rename it), refusing to
//! replace an existing path unless asked to.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::{Config, RunStats};
use crate::geo::GeoInfo;
use crate::io::zarr::{Compression, ZarrOptions, open_zarr};
use crate::{ChunkedArray, TiffCompression, TiffOptions, npy_info, open_npy, open_tiff};

/// A lazy array of any element type.
#[derive(Clone)]
#[allow(missing_docs)]
pub enum AnyArray {
    Bool(ChunkedArray<bool>),
    U8(ChunkedArray<u8>),
    U16(ChunkedArray<u16>),
    U32(ChunkedArray<u32>),
    U64(ChunkedArray<u64>),
    I8(ChunkedArray<i8>),
    I16(ChunkedArray<i16>),
    I32(ChunkedArray<i32>),
    I64(ChunkedArray<i64>),
    F32(ChunkedArray<f32>),
    F64(ChunkedArray<f64>),
}

/// Runs `$body` with `$x` bound to the typed array inside an [`AnyArray`].
macro_rules! with_any {
    ($any:expr, $x:ident => $body:expr) => {
        match $any {
            AnyArray::Bool($x) => $body,
            AnyArray::U8($x) => $body,
            AnyArray::U16($x) => $body,
            AnyArray::U32($x) => $body,
            AnyArray::U64($x) => $body,
            AnyArray::I8($x) => $body,
            AnyArray::I16($x) => $body,
            AnyArray::I32($x) => $body,
            AnyArray::I64($x) => $body,
            AnyArray::F32($x) => $body,
            AnyArray::F64($x) => $body,
        }
    };
}
pub(crate) use with_any;

/// Builds an [`AnyArray`] of `$dtype` from `$make::<T>()`, a generic expression.
macro_rules! of_dtype {
    ($dtype:expr, $T:ident => $make:expr) => {
        match $dtype {
            DType::Bool => {
                type $T = bool;
                AnyArray::Bool($make)
            }
            DType::U8 => {
                type $T = u8;
                AnyArray::U8($make)
            }
            DType::U16 => {
                type $T = u16;
                AnyArray::U16($make)
            }
            DType::U32 => {
                type $T = u32;
                AnyArray::U32($make)
            }
            DType::U64 => {
                type $T = u64;
                AnyArray::U64($make)
            }
            DType::I8 => {
                type $T = i8;
                AnyArray::I8($make)
            }
            DType::I16 => {
                type $T = i16;
                AnyArray::I16($make)
            }
            DType::I32 => {
                type $T = i32;
                AnyArray::I32($make)
            }
            DType::I64 => {
                type $T = i64;
                AnyArray::I64($make)
            }
            DType::F32 => {
                type $T = f32;
                AnyArray::F32($make)
            }
            DType::F64 => {
                type $T = f64;
                AnyArray::F64($make)
            }
            #[allow(unreachable_patterns)]
            other => {
                return Err(Error::arg(
                    "rask",
                    format!("the dtype {other} is not supported"),
                ))
            }
        }
    };
}

impl AnyArray {
    /// The element type.
    pub fn dtype(&self) -> DType {
        with_any!(self, x => x.dtype())
    }

    /// The array as `f64` (exact for every type but 64-bit integers above 2^53).
    pub fn to_f64(&self) -> ChunkedArray<f64> {
        with_any!(self, x => x.cast::<f64>())
    }

    /// The array converted to `dtype` (as Rust's `as`: floats truncate toward zero and
    /// saturate, NaN becomes 0).
    pub fn cast(&self, dtype: DType) -> Result<AnyArray> {
        Ok(of_dtype!(dtype, T => with_any!(self, x => x.cast::<T>())))
    }

    /// `f64` data converted to `dtype`.
    pub fn from_f64(x: &ChunkedArray<f64>, dtype: DType) -> Result<AnyArray> {
        Ok(of_dtype!(dtype, T => x.cast::<T>()))
    }
}

macro_rules! any_from {
    ($($v:ident $t:ty),*) => {$(
        impl From<ChunkedArray<$t>> for AnyArray {
            fn from(x: ChunkedArray<$t>) -> Self {
                AnyArray::$v(x)
            }
        }
    )*};
}
any_from!(Bool bool, U8 u8, U16 u16, U32 u32, U64 u64, I8 i8, I16 i16, I32 i32, I64 i64, F32 f32, F64 f64);

impl fmt::Debug for AnyArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        with_any!(self, x => write!(f, "AnyArray({}, {:?})", x.dtype(), x.shape()))
    }
}

/// Parses a dtype name as NumPy spells it (`float32`, `uint16`, ...) or as Rust does (`f32`,
/// `u16`). NumPy's short codes (`f4`, `i8`) are not accepted: `i8` would mean two things.
///
/// ```
/// use rask::cli::parse_dtype;
/// assert_eq!(parse_dtype("float32").unwrap(), rask::DType::F32);
/// assert_eq!(parse_dtype("u16").unwrap(), rask::DType::U16);
/// assert!(parse_dtype("float16").unwrap_err().to_string().contains("float16"));
/// ```
pub fn parse_dtype(s: &str) -> Result<DType> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "float32" | "f32" => DType::F32,
        "float64" | "f64" => DType::F64,
        "int8" | "i8" => DType::I8,
        "int16" | "i16" => DType::I16,
        "int32" | "i32" => DType::I32,
        "int64" | "i64" => DType::I64,
        "uint8" | "u8" | "byte" => DType::U8,
        "uint16" | "u16" => DType::U16,
        "uint32" | "u32" => DType::U32,
        "uint64" | "u64" => DType::U64,
        "bool" => DType::Bool,
        _ => {
            return Err(Error::arg(
                "dtype",
                format!(
                    "unknown dtype '{s}' (one of float32, float64, int8, int16, int32, int64, \
                     uint8, uint16, uint32, uint64, bool)"
                ),
            ));
        }
    })
}

/// A storage format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A Zarr V2 or V3 array directory.
    Zarr,
    /// A NumPy `.npy` file.
    Npy,
    /// A (Geo)TIFF file.
    Tiff,
}

impl Format {
    /// The format of an output path, by its extension (`.zarr`, `.npy`, `.tif`/`.tiff`).
    pub fn of_output(path: &Path) -> Result<Format> {
        match extension(path).as_deref() {
            Some("zarr") => Ok(Format::Zarr),
            Some("npy") => Ok(Format::Npy),
            Some("tif" | "tiff") => Ok(Format::Tiff),
            _ => Err(Error::arg(
                "output",
                format!(
                    "cannot tell the format of {} from its extension (use .zarr, .npy, .tif or .tiff)",
                    path.display()
                ),
            )),
        }
    }

    /// The format of an existing input: a directory with Zarr metadata is Zarr; a file is
    /// told by its first bytes (`.npy` magic, TIFF byte order mark).
    pub fn of_input(path: &Path) -> Result<Format> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io("open", path.display(), e))?;
        if meta.is_dir() {
            if ["zarr.json", ".zarray"]
                .iter()
                .any(|m| path.join(m).is_file())
            {
                return Ok(Format::Zarr);
            }
            return Err(Error::storage(
                "open",
                path.display(),
                None,
                "a directory without Zarr array metadata (zarr.json or .zarray)",
            ));
        }
        let mut head = [0u8; 6];
        let n = {
            use std::io::Read;
            let mut f =
                std::fs::File::open(path).map_err(|e| Error::io("open", path.display(), e))?;
            f.read(&mut head)
                .map_err(|e| Error::io("open", path.display(), e))?
        };
        let head = &head[..n];
        if head.starts_with(b"\x93NUMPY") {
            Ok(Format::Npy)
        } else if head.starts_with(b"II*\0")
            || head.starts_with(b"MM\0*")
            || head.starts_with(b"II+\0")
            || head.starts_with(b"MM\0+")
        {
            Ok(Format::Tiff)
        } else {
            Err(Error::storage(
                "open",
                path.display(),
                None,
                "not a Zarr array, .npy or TIFF file",
            ))
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Zarr => "Zarr",
            Format::Npy => "npy",
            Format::Tiff => "GeoTIFF",
        })
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// An input raster: what its metadata says, and its lazy array.
#[derive(Clone, Debug)]
pub struct Raster {
    /// The path it was opened from.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The format in words (`Zarr V3`, `npy 1.0`, ...).
    pub format_detail: String,
    /// The array shape.
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
    /// The blocks the lazy array reads (Zarr: its chunks or shards; TIFF: its tiles).
    pub chunks: Vec<usize>,
    /// How the data is compressed on disk, in words.
    pub compression: String,
    /// The value that marks missing pixels: GeoTIFF's nodata tag; in Zarr the `nodata` or
    /// `_FillValue` attribute (never the array's fill value, which only says what unwritten
    /// chunks hold).
    pub nodata: Option<f64>,
    /// The georeferencing (geotransform, EPSG code), when the file has any.
    pub geo: Option<GeoInfo>,
    /// The lazy array.
    pub array: AnyArray,
}

/// The bytes a block of a `.npy` file covers at most when rask picks the chunks.
const NPY_BLOCK_BYTES: usize = 32 << 20;

impl Raster {
    /// Opens the raster at `path`, by what is there (see [`Format::of_input`]). Reads the
    /// metadata only. Errors name the path.
    pub fn open(path: &Path) -> Result<Raster> {
        match Format::of_input(path)? {
            Format::Zarr => open_zarr_raster(path),
            Format::Npy => open_npy_raster(path),
            Format::Tiff => open_tiff_raster(path),
        }
    }

    /// The array as `f64`, with nodata pixels (when the raster has a nodata value) as NaN.
    pub fn masked_f64(&self) -> ChunkedArray<f64> {
        let x = self.array.to_f64();
        match self.nodata {
            Some(v) if !v.is_nan() => crate::where_(&x.eq_elem(v), f64::NAN, &x),
            _ => x,
        }
    }
}

fn open_npy_raster(path: &Path) -> Result<Raster> {
    let info = npy_info(path)?;
    let chunks = npy_chunks(&info.shape, info.dtype.size());
    let array = of_dtype!(info.dtype, T => open_npy::<T>(path, &chunks)?);
    Ok(Raster {
        path: path.to_path_buf(),
        format: Format::Npy,
        format_detail: format!(
            "npy {}.{}{}",
            info.version.0,
            info.version.1,
            if info.fortran_order {
                ", Fortran order"
            } else {
                ""
            }
        ),
        shape: info.shape,
        dtype: info.dtype,
        chunks,
        compression: "none".into(),
        nodata: None,
        geo: None,
        array,
    })
}

fn open_tiff_raster(path: &Path) -> Result<Raster> {
    let t = open_tiff(path)?;
    let [th, tw] = t.tile_shape();
    let format_detail = format!(
        "GeoTIFF ({}{} {th}x{tw}, {} band{}{})",
        if t.is_bigtiff() { "BigTIFF, " } else { "" },
        if t.is_tiled() { "tiles" } else { "strips" },
        t.bands(),
        if t.bands() == 1 { "" } else { "s" },
        if t.bands() > 1 {
            if t.is_planar() {
                ", band-interleaved"
            } else {
                ", pixel-interleaved"
            }
        } else {
            ""
        }
    );
    let compression = match t.predictor() {
        1 => t.compression().to_string(),
        p => format!("{} (predictor {p})", t.compression()),
    };
    let geo = t.geo().cloned();
    let (shape, chunks, dtype) = (t.shape().to_vec(), t.chunks(), t.dtype());
    let array = of_dtype!(dtype, T => t.clone().into_typed::<T>()?);
    Ok(Raster {
        path: path.to_path_buf(),
        format: Format::Tiff,
        format_detail,
        shape,
        dtype,
        chunks,
        compression,
        nodata: geo.as_ref().and_then(|g| g.nodata),
        geo,
        array,
    })
}

/// Row bands of at most [`NPY_BLOCK_BYTES`] (one band per block for a 3-d stack), which a
/// C-order file serves as zero-copy views.
fn npy_chunks(shape: &[usize], elem: usize) -> Vec<usize> {
    let mut chunks = shape.to_vec();
    let (row_axis, leading) = if shape.len() >= 3 { (1, 1) } else { (0, 0) };
    for c in chunks.iter_mut().take(leading) {
        *c = 1;
    }
    if let Some(rows) = shape.get(row_axis) {
        let row_bytes: usize = shape[row_axis + 1..].iter().product::<usize>().max(1) * elem;
        chunks[row_axis] = (NPY_BLOCK_BYTES / row_bytes).clamp(1, (*rows).max(1));
    }
    chunks
}

fn open_zarr_raster(path: &Path) -> Result<Raster> {
    let z = open_zarr(path)?;
    let meta = zarr_metadata(path);
    let (format_detail, compression) = describe_zarr(&meta);
    let geo = z.geo().cloned();
    let nodata = geo
        .as_ref()
        .and_then(|g| g.nodata)
        .or_else(|| nodata_of(z.attributes()));
    let shape = z.shape().to_vec();
    let chunks = z.chunks();
    let dtype = z.dtype();
    let array = of_dtype!(dtype, T => z.clone().into_typed::<T>()?);
    Ok(Raster {
        path: path.to_path_buf(),
        format: Format::Zarr,
        format_detail,
        shape,
        dtype,
        chunks,
        compression,
        nodata,
        geo,
        array,
    })
}

/// The metadata document of a Zarr array (`zarr.json`, or `.zarray`), as JSON.
fn zarr_metadata(path: &Path) -> Value {
    ["zarr.json", ".zarray"]
        .iter()
        .find_map(|m| std::fs::read(path.join(m)).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null)
}

/// The format version and the codecs of a Zarr array, in words.
fn describe_zarr(meta: &Value) -> (String, String) {
    if meta.get("zarr_format") == Some(&json!(3)) {
        let mut names = Vec::new();
        let mut stack: Vec<&Value> = vec![meta.get("codecs").unwrap_or(&Value::Null)];
        while let Some(codecs) = stack.pop() {
            for c in codecs.as_array().into_iter().flatten() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
                match name {
                    "sharding_indexed" => {
                        names.push("sharded".to_string());
                        if let Some(inner) = c.pointer("/configuration/codecs") {
                            stack.push(inner);
                        }
                    }
                    "bytes" | "transpose" | "crc32c" => {}
                    other => {
                        let level = c
                            .pointer("/configuration/level")
                            .or_else(|| c.pointer("/configuration/clevel"));
                        names.push(match level {
                            Some(l) => format!("{other} (level {l})"),
                            None => other.to_string(),
                        });
                    }
                }
            }
        }
        let compression = if names.iter().all(|n| n == "sharded") {
            names.push("none".into());
            names.join(", ")
        } else {
            names.join(", ")
        };
        ("Zarr V3".into(), compression)
    } else {
        let compression = match meta.get("compressor") {
            Some(Value::Object(c)) => {
                let id = c.get("id").and_then(Value::as_str).unwrap_or("?");
                match c.get("level").or_else(|| c.get("clevel")) {
                    Some(l) => format!("{id} (level {l})"),
                    None => id.to_string(),
                }
            }
            _ => "none".into(),
        };
        ("Zarr V2".into(), compression)
    }
}

/// A number from JSON, where NaN and the infinities may be strings.
fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "nan" => Some(f64::NAN),
            "inf" | "infinity" => Some(f64::INFINITY),
            "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// The nodata value a Zarr array's attributes declare (`nodata`, or xarray's `_FillValue`).
/// The array's own fill value is not nodata: it only says what unwritten chunks hold.
fn nodata_of(attrs: &Map<String, Value>) -> Option<f64> {
    ["nodata", "_FillValue"]
        .iter()
        .find_map(|k| attrs.get(*k).and_then(json_number))
}

/// How an output is compressed (`--compression`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputCompression {
    /// Zstandard (level 3): small and fast. GeoTIFF writes it as ZSTD (GDAL reads it).
    #[default]
    Zstd,
    /// Deflate: gzip in Zarr, DEFLATE in GeoTIFF; the most widely readable.
    Deflate,
    /// No compression.
    None,
}

/// An output: a path whose extension picks the format, and how to write it.
#[derive(Clone, Debug)]
pub struct Output {
    /// Where to write.
    pub path: PathBuf,
    /// The format, from the extension.
    pub format: Format,
    /// The chunk (tile) shape, or `None` for the array's own chunks.
    pub chunks: Option<Vec<usize>>,
    /// How to compress it.
    pub compression: OutputCompression,
    /// Whether an existing path may be replaced.
    pub overwrite: bool,
    /// Whether the write resumes an interrupted one (Zarr only; see
    /// [`ZarrOptions::resume`]).
    pub resume: bool,
    /// The nodata value to record.
    pub nodata: Option<f64>,
    /// The georeferencing to record (its nodata is replaced by [`nodata`](Self::nodata)).
    pub geo: Option<GeoInfo>,
}

impl Output {
    /// An output at `path`; an error when the extension names no format, or when the path
    /// exists and `overwrite` is false.
    pub fn new(path: &Path, overwrite: bool) -> Result<Output> {
        let format = Format::of_output(path)?;
        if !overwrite && std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::arg(
                "output",
                format!("{} exists (use --overwrite to replace it)", path.display()),
            ));
        }
        Ok(Output {
            path: path.to_path_buf(),
            format,
            chunks: None,
            compression: OutputCompression::default(),
            overwrite,
            resume: false,
            nodata: None,
            geo: None,
        })
    }

    /// Writes `array`, streaming its blocks; returns what the run did.
    pub fn write(&self, array: &AnyArray, config: &Config) -> Result<RunStats> {
        with_any!(array, x => self.write_typed(x, config))
    }

    fn write_typed<T: Element>(&self, x: &ChunkedArray<T>, config: &Config) -> Result<RunStats> {
        // The georeferencing (with the output's nodata) travels on the array; the writers
        // record it (Zarr attributes, GeoTIFF tags).
        let x = match &self.geo {
            Some(g) => {
                let mut g = g.clone();
                g.nodata = self.nodata;
                x.with_geo(g)
            }
            None => x.without_geo(),
        };
        let x = &x;
        if self.resume && self.format != Format::Zarr {
            return Err(Error::arg(
                "--resume",
                format!(
                    "{}: only Zarr outputs can be resumed (they keep a per-chunk completion \
                     record); write to a .zarr path",
                    self.path.display()
                ),
            ));
        }
        match self.format {
            Format::Zarr => {
                let mut opts = ZarrOptions::default()
                    .overwrite(self.overwrite)
                    .resume(self.resume)
                    .compression(match self.compression {
                        OutputCompression::Zstd => Compression::Zstd { level: 3 },
                        OutputCompression::Deflate => Compression::Gzip { level: 6 },
                        OutputCompression::None => Compression::None,
                    });
                if let Some(c) = &self.chunks {
                    opts = opts.chunks(c);
                }
                if let (Some(v), None) = (self.nodata, &self.geo) {
                    opts = opts.attribute("nodata", json_f64(v));
                }
                let nd = x.ndim();
                if nd >= 2 {
                    let mut names: Vec<String> = (0..nd - 2).map(|i| format!("dim_{i}")).collect();
                    if nd == 3 {
                        names[0] = "band".into();
                    }
                    names.push("y".into());
                    names.push("x".into());
                    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                    opts = opts.dimension_names(&refs);
                }
                x.to_zarr_with(&self.path, &opts, config)
            }
            Format::Npy => {
                if self.chunks.is_some() {
                    return Err(Error::arg(
                        "output",
                        format!(
                            "{}: .npy files have no chunks; drop --chunks",
                            self.path.display()
                        ),
                    ));
                }
                x.to_npy_with(&self.path, config)
            }
            Format::Tiff => {
                let mut opts = TiffOptions::default()
                    .overwrite(self.overwrite)
                    .compression(match self.compression {
                        OutputCompression::Zstd => TiffCompression::Zstd { level: 3 },
                        OutputCompression::Deflate => TiffCompression::Deflate { level: 6 },
                        OutputCompression::None => TiffCompression::None,
                    });
                if let Some(c) = &self.chunks {
                    let n = c.len();
                    let ok = n >= 2
                        && c[n - 1] == c[n - 2]
                        && c[n - 1] % 16 == 0
                        && c[..n - 2].iter().all(|&v| v == 1);
                    if !ok {
                        return Err(Error::arg(
                            "output",
                            format!(
                                "{}: GeoTIFF tiles are square and a multiple of 16, such as \
                                 --chunks 256,256; got {c:?}",
                                self.path.display()
                            ),
                        ));
                    }
                    opts = opts.tile(c[n - 1]);
                }
                if self.nodata.is_some() && self.geo.is_none() {
                    return Err(Error::arg(
                        "output",
                        format!(
                            "{}: the nodata value cannot be recorded in a GeoTIFF without \
                             georeferencing; write .zarr or .npy instead",
                            self.path.display()
                        ),
                    ));
                }
                x.to_tiff_with(&self.path, &opts, config)
            }
        }
    }
}

/// A number for JSON: NaN and the infinities as strings (JSON has no such numbers).
pub(crate) fn json_f64(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_chunks_are_row_bands() {
        assert_eq!(npy_chunks(&[3, 10_000, 10_000], 4), vec![1, 838, 10_000]);
        assert_eq!(npy_chunks(&[100, 50], 8), vec![100, 50]);
        assert_eq!(npy_chunks(&[], 8), Vec::<usize>::new());
        assert_eq!(npy_chunks(&[0, 5], 8), vec![1, 5]);
        assert_eq!(npy_chunks(&[10, 1 << 30], 8), vec![1, 1 << 30]);
    }

    #[test]
    fn nodata_from_attributes() {
        let attrs: Map<String, Value> =
            serde_json::from_str(r#"{"_FillValue": "NaN", "other": 1}"#).unwrap();
        assert!(nodata_of(&attrs).unwrap().is_nan());
        let attrs: Map<String, Value> = serde_json::from_str(r#"{"nodata": -9999}"#).unwrap();
        assert_eq!(nodata_of(&attrs), Some(-9999.0));
        assert_eq!(nodata_of(&Map::new()), None);
    }
}
