//! Writing GeoTIFF: tiled, compressed, georeferenced, streamed block by block.
//!
//! The array is rechunked (only where needed) so that every block's rows and columns start
//! on tile boundaries. Each block is cut into tiles on the worker that computed it; each tile
//! is compressed and appended to the file with one positioned write at an offset taken from
//! an atomic counter, and its offset and length go into the tile table. Nothing is gathered:
//! memory stays within the run's budget. When every block is written, the directory (with the
//! tile table and the GeoTIFF tags) is appended, the header is written, and the temporary
//! file is renamed into place. Classic TIFF or BigTIFF is chosen at that point, from the
//! file's real size: a file that stays under 4 GiB is a classic TIFF.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::codec::{self, Codec};
use super::ifd::*;
use crate::array::ChunkedArray;
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::stage::Collect;
use crate::exec::{Config, RunStats};
use crate::geo::GeoInfo;

const WRITE: &str = "to_tiff";

/// How tiles are compressed by [`ChunkedArray::to_tiff`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TiffCompression {
    /// Uncompressed.
    None,
    /// LZW.
    Lzw,
    /// Deflate (zlib) at `level` (1..=9).
    Deflate {
        /// The level.
        level: u32,
    },
    /// Zstandard at `level` (1..=22); GDAL reads it when built with ZSTD (the usual case).
    Zstd {
        /// The level.
        level: u32,
    },
}

impl Default for TiffCompression {
    /// Deflate, level 6.
    fn default() -> Self {
        TiffCompression::Deflate { level: 6 }
    }
}

/// Options of [`ChunkedArray::to_tiff`]. The defaults: 256 × 256 tiles, Deflate level 6 with
/// the predictor that suits the dtype (2 for integers, 3 for floats), BigTIFF only when the
/// file would exceed 4 GiB, `overwrite: false`.
///
/// ```
/// use rask::{TiffCompression, TiffOptions};
/// let o = TiffOptions::default().tile(512).compression(TiffCompression::Lzw).predictor(false);
/// assert_eq!((o.tile, o.predictor), (512, false));
/// ```
#[derive(Clone, Debug)]
pub struct TiffOptions {
    /// The tile width and height (a multiple of 16, as TIFF requires).
    pub tile: usize,
    /// How tiles are compressed.
    pub compression: TiffCompression,
    /// Whether to apply a predictor before compressing (2 for integers, 3 for floats);
    /// ignored without compression.
    pub predictor: bool,
    /// `Some(true)`: always BigTIFF; `Some(false)`: never (an error if the file would exceed
    /// 4 GiB); `None`: BigTIFF only when needed.
    pub bigtiff: Option<bool>,
    /// Replace an existing file at the path (otherwise an existing path is an error).
    pub overwrite: bool,
}

impl Default for TiffOptions {
    fn default() -> Self {
        TiffOptions {
            tile: 256,
            compression: TiffCompression::default(),
            predictor: true,
            bigtiff: None,
            overwrite: false,
        }
    }
}

impl TiffOptions {
    /// Sets the tile size.
    pub fn tile(mut self, tile: usize) -> Self {
        self.tile = tile;
        self
    }
    /// Sets the compression.
    pub fn compression(mut self, c: TiffCompression) -> Self {
        self.compression = c;
        self
    }
    /// Sets whether a predictor is applied.
    pub fn predictor(mut self, p: bool) -> Self {
        self.predictor = p;
        self
    }
    /// Forces BigTIFF on or off (`None`: when needed).
    pub fn bigtiff(mut self, b: Option<bool>) -> Self {
        self.bigtiff = b;
        self
    }
    /// Sets whether an existing file is replaced.
    pub fn overwrite(mut self, o: bool) -> Self {
        self.overwrite = o;
        self
    }
}

impl<T: Element> ChunkedArray<T> {
    /// Writes the array as a tiled GeoTIFF at `path`: a 2-d array is one band, a 3-d array
    /// `(bands, rows, cols)` is written band-planar (GDAL's `INTERLEAVE=BAND`). The array's
    /// [`GeoInfo`] becomes the geotransform, the EPSG code and GDAL's nodata tag. Blocks are
    /// computed, tiled, compressed and written in parallel as the run produces them, never
    /// gathered; the file appears at `path` only once complete, and is removed on error.
    ///
    /// `bool` arrays cannot be written (cast them to `u8`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-tiff-{}", std::process::id()));
    /// let g = rask::GeoInfo::new([10.0, 0.5, 0.0, 50.0, 0.0, -0.5]).with_epsg(4326).with_nodata(-1.0);
    /// let x = ChunkedArray::<f32>::random(&[600, 500], &[200, 250]).with_geo(g.clone());
    /// x.to_tiff(dir.join("x.tif"), &rask::TiffOptions::default())?;
    /// let back = rask::open_tiff_band(dir.join("x.tif"), 0)?;
    /// assert_eq!(back.geo(), Some(&g));
    /// assert_eq!(back.into_typed::<f32>()?.compute()?, x.compute()?);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn to_tiff(&self, path: impl AsRef<Path>, options: &TiffOptions) -> Result<()> {
        self.to_tiff_with(path, options, &Config::default())
            .map(|_| ())
    }

    /// [`to_tiff`](Self::to_tiff) with a [`Config`]; returns the run's statistics (bytes
    /// written included).
    pub fn to_tiff_with(
        &self,
        path: impl AsRef<Path>,
        options: &TiffOptions,
        config: &Config,
    ) -> Result<RunStats> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let e = self.expr_ref()?.clone();
        let shape = e.shape().to_vec();
        let (bands, rows, cols) = match *shape.as_slice() {
            [r, c] => (1, r, c),
            [b, r, c] => (b, r, c),
            _ => {
                return Err(Error::arg(
                    WRITE,
                    format!(
                        "{shown}: a GeoTIFF holds (rows, cols) or (bands, rows, cols), not shape {shape:?}"
                    ),
                ));
            }
        };
        if bands == 0 || rows == 0 || cols == 0 {
            return Err(Error::arg(
                WRITE,
                format!("{shown}: cannot write an empty array of shape {shape:?}"),
            ));
        }
        if bands > u16::MAX as usize || rows > u32::MAX as usize || cols > u32::MAX as usize {
            return Err(Error::arg(
                WRITE,
                format!("{shown}: shape {shape:?} is too large for TIFF"),
            ));
        }
        if T::DTYPE == DType::Bool {
            return Err(Error::arg(
                WRITE,
                format!("{shown}: TIFF has no bool samples; write x.cast::<u8>()"),
            ));
        }
        let t = options.tile;
        if t == 0 || !t.is_multiple_of(16) || t > 1 << 15 {
            return Err(Error::arg(
                WRITE,
                format!("tile size {t} must be a positive multiple of 16 (at most 32768)"),
            ));
        }
        if !options.overwrite && std::fs::symlink_metadata(path).is_ok() {
            return Err(Error::arg(
                WRITE,
                format!("{shown} already exists (set overwrite to replace it)"),
            ));
        }
        // Rows and columns of every block start on tile boundaries: rechunk the axes that do
        // not (to the nearest multiple of the tile at least one tile large).
        let nd = shape.len();
        let mut chunks = e.grid.chunk_shape();
        let mut aligned = true;
        for (k, c) in chunks.iter_mut().enumerate().skip(nd - 2) {
            let sizes = e.grid.chunk_sizes(k);
            if sizes[..sizes.len() - 1]
                .iter()
                .any(|c| !c.is_multiple_of(t))
            {
                aligned = false;
                *c = c.div_ceil(t).max(1) * t;
            }
        }
        let x = if aligned {
            self.clone()
        } else {
            self.rechunk(&chunks)
        };
        let expr = x.expr_ref()?.clone();
        let (codec, level) = match options.compression {
            TiffCompression::None => (Codec::None, 0),
            TiffCompression::Lzw => (Codec::Lzw, 0),
            TiffCompression::Deflate { level } => (Codec::Deflate, level.clamp(1, 9)),
            TiffCompression::Zstd { level } => (Codec::Zstd, level.clamp(1, 22)),
        };
        let float = matches!(T::DTYPE, DType::F32 | DType::F64);
        let predictor = match (options.predictor, codec) {
            (false, _) | (_, Codec::None) => 1,
            _ if float => 3,
            _ => 2,
        };
        let geo = e.geo.as_deref().cloned();
        let across = cols.div_ceil(t);
        let down = rows.div_ceil(t);
        let ntiles = across * down * bands;
        let tmp = TempFile::create(path)?;
        let sink = Arc::new(TiffSink::<T> {
            path: shown.clone(),
            file: tmp
                .file
                .try_clone()
                .map_err(|e| Error::io(WRITE, &shown, e))?,
            end: AtomicU64::new(DATA_START),
            table: (0..ntiles)
                .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
                .collect(),
            tile: t,
            rows,
            cols,
            across,
            down,
            codec,
            level,
            predictor,
            fill: geo
                .as_ref()
                .and_then(|g| g.nodata)
                .map(T::from_f64)
                .filter(|v| geo.as_ref().and_then(|g| g.nodata) == Some(v.to_f64()))
                .unwrap_or_default(),
            two_d: nd == 2,
        });
        let stats = crate::compute::run_into(&[expr], &[sink.clone() as Arc<dyn Collect>], config)?;
        let header = Header {
            width: cols,
            height: rows,
            bands,
            dtype: T::DTYPE,
            tile: t,
            codec,
            predictor,
            geo,
        };
        let written = sink.finish(&header, options.bigtiff)?;
        crate::exec::memory::record_written(written as usize);
        tmp.commit(path, options.overwrite)?;
        Ok(stats)
    }
}

/// Tiles start after room for a BigTIFF header, so that the header can be chosen at the end.
const DATA_START: u64 = 16;

/// What the directory describes.
struct Header {
    width: usize,
    height: usize,
    bands: usize,
    dtype: DType,
    tile: usize,
    codec: Codec,
    predictor: u16,
    geo: Option<GeoInfo>,
}

/// Cuts blocks into tiles, compresses them and appends them to the file.
struct TiffSink<T> {
    path: String,
    file: File,
    /// The end of the written data: where the next tile goes.
    end: AtomicU64,
    /// Offset and byte count of each tile (band-major, then rows of tiles).
    table: Vec<(AtomicU64, AtomicU64)>,
    tile: usize,
    rows: usize,
    cols: usize,
    across: usize,
    down: usize,
    codec: Codec,
    level: u32,
    predictor: u16,
    /// The value of the padding past the image's edges (the nodata value, if any).
    fill: T,
    two_d: bool,
}

impl<T: Element> Collect for TiffSink<T> {
    fn put(&self, _block: &[usize], offset: &[usize], data: &BlockRef) -> Result<()> {
        let view = downcast::<T>(data);
        let v3 = if self.two_d {
            view.insert_axis(ndarray::Axis(0))
        } else {
            view
        };
        let v3 = v3
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|e| Error::storage(WRITE, &self.path, None, e))?;
        let (b0, r0, c0) = if self.two_d {
            (0, offset[0], offset[1])
        } else {
            (offset[0], offset[1], offset[2])
        };
        let (nb, nr, nc) = v3.dim();
        let t = self.tile;
        let size = std::mem::size_of::<T>();
        let mut buf: Vec<T> = vec![self.fill; t * t];
        for b in 0..nb {
            for ty in r0 / t..(r0 + nr).div_ceil(t) {
                for tx in c0 / t..(c0 + nc).div_ceil(t) {
                    buf.fill(self.fill);
                    let (y0, y1) = (ty * t, ((ty + 1) * t).min(self.rows));
                    let (x0, x1) = (tx * t, ((tx + 1) * t).min(self.cols));
                    for y in y0..y1 {
                        let row = v3.slice(ndarray::s![b, y - r0, x0 - c0..x1 - c0]);
                        let dst = &mut buf[(y - y0) * t..(y - y0) * t + (x1 - x0)];
                        for (d, s) in dst.iter_mut().zip(row.iter()) {
                            *d = *s;
                        }
                    }
                    // SAFETY: `T` is a numeric element type (bool is refused before the run),
                    // plain data whose bytes may be read and modified as bytes.
                    let bytes = unsafe {
                        std::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut u8, t * t * size)
                    };
                    match self.predictor {
                        2 => codec::apply_horizontal(bytes, t, 1, size),
                        3 => codec::apply_float(bytes, t, 1, size),
                        _ => {}
                    }
                    let z = codec::compress(self.codec, bytes, self.level).map_err(|m| {
                        Error::storage(WRITE, &self.path, Some(format!("tile {ty}, {tx}")), m)
                    })?;
                    let at = self.end.fetch_add(z.len() as u64, Ordering::Relaxed);
                    self.file
                        .write_all_at(&z, at)
                        .map_err(|e| Error::io(WRITE, &self.path, e))?;
                    let i = ((b0 + b) * self.down + ty) * self.across + tx;
                    self.table[i].0.store(at, Ordering::Relaxed);
                    self.table[i].1.store(z.len() as u64, Ordering::Relaxed);
                    crate::exec::memory::record_written(z.len());
                }
            }
        }
        Ok(())
    }
    fn name(&self) -> String {
        format!("{WRITE}({})", self.path)
    }
}

/// One directory entry: tag, type and the values' bytes (in the machine's byte order).
struct Field {
    tag: u16,
    typ: u16,
    count: u64,
    bytes: Vec<u8>,
}

fn shorts(tag: u16, v: &[u16]) -> Field {
    Field {
        tag,
        typ: 3,
        count: v.len() as u64,
        bytes: v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
    }
}

fn longs(tag: u16, v: &[u32]) -> Field {
    Field {
        tag,
        typ: 4,
        count: v.len() as u64,
        bytes: v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
    }
}

fn long8s(tag: u16, v: &[u64]) -> Field {
    Field {
        tag,
        typ: 16,
        count: v.len() as u64,
        bytes: v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
    }
}

fn doubles(tag: u16, v: &[f64]) -> Field {
    Field {
        tag,
        typ: 12,
        count: v.len() as u64,
        bytes: v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
    }
}

fn ascii(tag: u16, s: &str) -> Field {
    let mut bytes = s.as_bytes().to_vec();
    bytes.push(0);
    Field {
        tag,
        typ: 2,
        count: bytes.len() as u64,
        bytes,
    }
}

/// Whether an EPSG code names a geographic (longitude/latitude) CRS. The EPSG registry puts
/// the 2-d geographic CRSs in 4000..=4999 (4326 WGS 84, 4269 NAD83, 4258 ETRS89); codes
/// outside are written as projected.
fn is_geographic(epsg: u32) -> bool {
    (4000..=4999).contains(&epsg)
}

/// The GeoTIFF tags for `geo`.
fn geo_fields(g: &GeoInfo) -> Vec<Field> {
    let mut gt = g.geotransform;
    if g.pixel_is_point {
        // Undo the half-pixel shift applied when reading (see `GeoInfo`).
        gt[0] += 0.5 * gt[1] + 0.5 * gt[2];
        gt[3] += 0.5 * gt[4] + 0.5 * gt[5];
    }
    let mut f = Vec::new();
    if gt[2] == 0.0 && gt[4] == 0.0 {
        f.push(doubles(MODEL_PIXEL_SCALE, &[gt[1], -gt[5], 0.0]));
        f.push(doubles(MODEL_TIEPOINT, &[0.0, 0.0, 0.0, gt[0], gt[3], 0.0]));
    } else {
        #[rustfmt::skip]
        let m = [
            gt[1], gt[2], 0.0, gt[0],
            gt[4], gt[5], 0.0, gt[3],
            0.0, 0.0, 0.0, 0.0,
            0.0, 0.0, 0.0, 1.0,
        ];
        f.push(doubles(MODEL_TRANSFORMATION, &m));
    }
    let raster = if g.pixel_is_point { 2 } else { 1 };
    let keys: Vec<u16> = match g.epsg {
        Some(e) if e <= u16::MAX as u32 => {
            let geog = is_geographic(e);
            vec![
                1,
                1,
                0,
                3,
                1024,
                0,
                1,
                if geog { 2 } else { 1 },
                1025,
                0,
                1,
                raster,
                if geog { 2048 } else { 3072 },
                0,
                1,
                e as u16,
            ]
        }
        _ => vec![1, 1, 0, 1, 1025, 0, 1, raster],
    };
    f.push(shorts(GEO_KEY_DIRECTORY, &keys));
    f
}

/// GDAL's text for a nodata value.
fn nodata_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v}")
    }
}

impl<T: Element> TiffSink<T> {
    /// Writes the directory and the header; returns the bytes they took.
    fn finish(&self, h: &Header, bigtiff: Option<bool>) -> Result<u64> {
        let io = |e: std::io::Error| Error::io(WRITE, &self.path, e);
        let offsets: Vec<u64> = self
            .table
            .iter()
            .map(|(o, _)| o.load(Ordering::Relaxed))
            .collect();
        let counts: Vec<u64> = self
            .table
            .iter()
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .collect();
        if let Some(i) = counts.iter().position(|&c| c == 0) {
            return Err(Error::storage(
                WRITE,
                &self.path,
                Some(format!("tile {i}")),
                "was never written",
            ));
        }
        let data_end = self.end.load(Ordering::Relaxed);
        let ifd_at = data_end.next_multiple_of(8);
        // The directory of a classic TIFF is at most this large: decide BigTIFF from it.
        let est = ifd_at + 4096 + 8 * offsets.len() as u64;
        let big = match bigtiff {
            Some(b) => b,
            None => est > u32::MAX as u64,
        };
        if !big && est > u32::MAX as u64 {
            return Err(Error::arg(
                WRITE,
                format!(
                    "{}: {est} bytes do not fit a classic TIFF (allow BigTIFF)",
                    self.path
                ),
            ));
        }
        let bands = h.bands as u16;
        let (format, bits) = match h.dtype {
            DType::F32 => (3, 32),
            DType::F64 => (3, 64),
            DType::I8 => (2, 8),
            DType::I16 => (2, 16),
            DType::I32 => (2, 32),
            DType::I64 => (2, 64),
            DType::U8 => (1, 8),
            DType::U16 => (1, 16),
            DType::U32 => (1, 32),
            DType::U64 => (1, 64),
            DType::Bool => unreachable!("bool is refused before the run"),
        };
        let mut fields = vec![
            longs(IMAGE_WIDTH, &[h.width as u32]),
            longs(IMAGE_LENGTH, &[h.height as u32]),
            shorts(BITS_PER_SAMPLE, &vec![bits; h.bands]),
            shorts(COMPRESSION, &[h.codec.tag()]),
            shorts(PHOTOMETRIC, &[1]),
            shorts(SAMPLES_PER_PIXEL, &[bands]),
            shorts(PLANAR_CONFIG, &[if h.bands > 1 { 2 } else { 1 }]),
            longs(TILE_WIDTH, &[h.tile as u32]),
            longs(TILE_LENGTH, &[h.tile as u32]),
            shorts(SAMPLE_FORMAT, &vec![format; h.bands]),
        ];
        if h.predictor != 1 {
            fields.push(shorts(PREDICTOR, &[h.predictor]));
        }
        if h.bands > 1 {
            fields.push(shorts(EXTRA_SAMPLES, &vec![0; h.bands - 1]));
        }
        if big {
            fields.push(long8s(TILE_OFFSETS, &offsets));
            fields.push(long8s(TILE_BYTE_COUNTS, &counts));
        } else {
            let o: Vec<u32> = offsets.iter().map(|&v| v as u32).collect();
            let c: Vec<u32> = counts.iter().map(|&v| v as u32).collect();
            fields.push(longs(TILE_OFFSETS, &o));
            fields.push(longs(TILE_BYTE_COUNTS, &c));
        }
        if let Some(g) = &h.geo {
            fields.extend(geo_fields(g));
            if let Some(n) = g.nodata {
                fields.push(ascii(GDAL_NODATA, &nodata_text(n)));
            }
        }
        fields.sort_by_key(|f| f.tag);

        // The directory, then the values that do not fit in their entries.
        let (count_size, entry_size, slot) = if big { (8, 20, 8) } else { (2, 12, 4) };
        let dir_len = count_size + fields.len() as u64 * entry_size + slot;
        let mut values_at = ifd_at + dir_len;
        let mut dir = Vec::with_capacity(dir_len as usize);
        let mut values = Vec::new();
        if big {
            dir.extend((fields.len() as u64).to_ne_bytes());
        } else {
            dir.extend((fields.len() as u16).to_ne_bytes());
        }
        for f in &fields {
            dir.extend(f.tag.to_ne_bytes());
            dir.extend(f.typ.to_ne_bytes());
            if big {
                dir.extend(f.count.to_ne_bytes());
            } else {
                dir.extend((f.count as u32).to_ne_bytes());
            }
            if f.bytes.len() as u64 <= slot {
                let mut v = f.bytes.clone();
                v.resize(slot as usize, 0);
                dir.extend(v);
            } else {
                if big {
                    dir.extend(values_at.to_ne_bytes());
                } else {
                    dir.extend((values_at as u32).to_ne_bytes());
                }
                values.extend(&f.bytes);
                values_at += f.bytes.len() as u64;
                if values_at % 2 == 1 {
                    values.push(0);
                    values_at += 1;
                }
            }
        }
        dir.extend(vec![0u8; slot as usize]); // no next directory
        dir.extend(values);
        self.file.write_all_at(&dir, ifd_at).map_err(io)?;
        let order: &[u8; 2] = if codec::NATIVE_LITTLE { b"II" } else { b"MM" };
        let mut head = order.to_vec();
        if big {
            head.extend(43u16.to_ne_bytes());
            head.extend(8u16.to_ne_bytes());
            head.extend(0u16.to_ne_bytes());
            head.extend(ifd_at.to_ne_bytes());
        } else {
            head.extend(42u16.to_ne_bytes());
            head.extend((ifd_at as u32).to_ne_bytes());
        }
        self.file.write_all_at(&head, 0).map_err(io)?;
        Ok(dir.len() as u64 + head.len() as u64)
    }
}

/// The output under a temporary sibling name, removed unless committed.
struct TempFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl TempFile {
    fn create(target: &Path) -> Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().ok_or_else(|| {
            Error::arg(WRITE, format!("{} does not name a file", target.display()))
        })?;
        let path = target.with_file_name(format!(
            ".{}.rask-{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(WRITE, target.display(), e))?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(WRITE, path.display(), e))?;
        Ok(TempFile {
            path,
            file,
            committed: false,
        })
    }

    fn commit(mut self, target: &Path, overwrite: bool) -> Result<()> {
        if !overwrite && std::fs::symlink_metadata(target).is_ok() {
            return Err(Error::arg(
                WRITE,
                format!(
                    "{} appeared while writing (set overwrite to replace it)",
                    target.display()
                ),
            ));
        }
        std::fs::rename(&self.path, target).map_err(|e| Error::io(WRITE, target.display(), e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            std::fs::remove_file(&self.path).ok();
        }
    }
}
