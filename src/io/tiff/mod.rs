//! GeoTIFF files: read lazily tile by tile, written block by block, with their georeferencing.
//!
//! - **Reading.** [`open_tiff`] reads the header and the first image file directory (checked
//!   before anything is sized from it) and returns a [`TiffArray`]: a dynamically typed
//!   handle whose [`into_typed`](TiffArray::into_typed) gives a lazy
//!   [`ChunkedArray`] of shape `(bands, rows, cols)`, cut into the file's own tiles (or
//!   groups of strips). Each block is one task that reads, with positioned reads, only the
//!   tiles it covers, decompresses them (none, LZW, Deflate, PackBits, ZSTD), undoes the
//!   predictor (2 or 3) and the byte order. Tiled and striped files, BigTIFF and COG,
//!   pixel-interleaved and band-planar, `u8 i8 u16 i16 u32 i32 u64 i64 f32 f64`. JPEG files
//!   are refused with an error. The georeferencing (geotransform, EPSG code, GDAL nodata)
//!   becomes the array's [`GeoInfo`].
//! - **Writing.** [`ChunkedArray::to_tiff`] (in `write.rs`) writes a tiled GeoTIFF.
//!
//! The files are read with positioned reads, never memory-mapped: a file truncated by another
//! process while it is read gives an error, not `SIGBUS`.

mod codec;
mod ifd;
mod write;

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

pub use write::{TiffCompression, TiffOptions};

use self::codec::Codec;
use self::ifd::*;
use crate::array::ChunkedArray;
use crate::block::{BlockRef, with_dtype};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::geo::GeoInfo;
use crate::grid::ChunkGrid;
use crate::plan::{BlockSource, Expr};

const OPEN: &str = "open_tiff";

/// The most bytes one decoded tile or strip, or one block of the lazy array, may hold
/// (2 GiB). Larger ones are refused when the file is opened.
pub const MAX_TIFF_CHUNK_BYTES: u64 = 1 << 31;

/// Striped files: consecutive strips are grouped into blocks of at least this many bytes
/// (GDAL writes strips of about 8 KiB, far too small for a task each).
const STRIP_BLOCK_BYTES: usize = 16 << 20;

/// A TIFF file opened by [`open_tiff`]: its dtype, shape, layout and georeferencing, and a
/// lazy [`ChunkedArray`] of it once its element type is named with
/// [`into_typed`](Self::into_typed).
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-{}", std::process::id()));
/// let path = dir.join("x.tif");
/// let geo = rask::GeoInfo::new([300_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0]).with_epsg(32632);
/// let x = ChunkedArray::from_fn(&[2, 300, 400], &[1, 256, 256], |i| (i[0] + i[1] + i[2]) as u16);
/// x.with_geo(geo.clone()).to_tiff(&path, &rask::TiffOptions::default())?;
///
/// let t = rask::open_tiff(&path)?;
/// assert_eq!((t.dtype(), t.shape()), (DType::U16, &[2, 300, 400][..]));
/// assert_eq!((t.tile_shape(), t.compression()), ([256, 256], "DEFLATE"));
/// assert_eq!(t.geo(), Some(&geo));
/// let back = t.into_typed::<u16>()?;
/// assert_eq!(back.compute()?, x.compute()?);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
#[derive(Clone)]
pub struct TiffArray {
    path: PathBuf,
    dtype: DType,
    grid: ChunkGrid,
    bands: usize,
    tile: [usize; 2],
    tiled: bool,
    codec: Codec,
    predictor: u16,
    planar: bool,
    bigtiff: bool,
    geo: Option<GeoInfo>,
    expr: Arc<Expr>,
}

impl fmt::Debug for TiffArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TiffArray({}, {}, {}, {} {:?} {})",
            self.path.display(),
            self.dtype,
            self.grid,
            if self.tiled { "tiles" } else { "strips" },
            self.tile,
            self.codec.name()
        )
    }
}

impl TiffArray {
    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The element type of the samples.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape of the lazy array: `(bands, rows, cols)`, or `(rows, cols)` for
    /// [`open_tiff_band`].
    pub fn shape(&self) -> &[usize] {
        self.grid.shape()
    }

    /// The chunking of the lazy array (the file's tiles, or groups of strips, or what
    /// [`open_tiff_with`] asked for).
    pub fn chunks(&self) -> Vec<usize> {
        self.grid.chunk_shape()
    }

    /// The number of bands (samples per pixel) in the file.
    pub fn bands(&self) -> usize {
        self.bands
    }

    /// The `(rows, cols)` of one tile, or of one strip (`cols` is then the image width).
    pub fn tile_shape(&self) -> [usize; 2] {
        self.tile
    }

    /// Whether the file is tiled (else striped).
    pub fn is_tiled(&self) -> bool {
        self.tiled
    }

    /// The compression, as GDAL names it: `none`, `LZW`, `DEFLATE`, `PACKBITS` or `ZSTD`.
    pub fn compression(&self) -> &'static str {
        self.codec.name()
    }

    /// The predictor: 1 (none), 2 (horizontal differencing) or 3 (floating point).
    pub fn predictor(&self) -> u16 {
        self.predictor
    }

    /// Whether the bands are stored in separate planes (`PlanarConfiguration` 2, GDAL's
    /// `INTERLEAVE=BAND`) rather than interleaved per pixel.
    pub fn is_planar(&self) -> bool {
        self.planar
    }

    /// Whether the file is a BigTIFF.
    pub fn is_bigtiff(&self) -> bool {
        self.bigtiff
    }

    /// The georeferencing: geotransform, EPSG code, nodata. `None` when the file has neither
    /// a geotransform nor a nodata value.
    pub fn geo(&self) -> Option<&GeoInfo> {
        self.geo.as_ref()
    }

    /// The lazy array of element type `T`; [`Error::DType`] naming the path and both dtypes
    /// when the file holds another type. Nothing is read until the array is computed.
    pub fn into_typed<T: Element>(self) -> Result<ChunkedArray<T>> {
        let path = &self.path;
        crate::io::typed_source(self.expr, self.dtype, || {
            format!("{OPEN}({})", path.display())
        })
    }
}

/// Opens the TIFF (GeoTIFF, COG, BigTIFF) at `path` as a lazy array of shape
/// `(bands, rows, cols)`, in blocks of the file's tiles (all bands of a tile in one block,
/// unless the file is band-planar), or of groups of strips of at least 16 MiB. Reads the
/// header and the first directory only; a COG's overviews are not read.
///
/// Errors name the path: a missing file, a file that is not a TIFF, an unsupported layout,
/// sample type or compression (JPEG is refused), a tile table that does not fit the image or
/// points past the end of the file.
///
/// ```
/// let e = rask::open_tiff("/no/such/file.tif").unwrap_err();
/// assert!(e.to_string().contains("/no/such/file.tif"), "{e}");
/// ```
pub fn open_tiff(path: impl AsRef<Path>) -> Result<TiffArray> {
    open(path.as_ref(), None, None)
}

/// [`open_tiff`] with the lazy array cut into blocks of `chunks` (`[bands, rows, cols]`);
/// each block reads the tiles it covers. Blocks that are multiples of the tiles read no
/// tile twice.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-tiff-with-{}", std::process::id()));
/// let x = ChunkedArray::from_fn(&[1, 500, 500], &[1, 256, 256], |i| (i[1] * 500 + i[2]) as u32);
/// x.to_tiff(dir.join("x.tif"), &rask::TiffOptions::default())?;
/// let t = rask::open_tiff_with(dir.join("x.tif"), &[1, 500, 100])?;
/// assert_eq!(t.chunks(), vec![1, 500, 100]);
/// assert_eq!(t.into_typed::<u32>()?.sum().compute()?, x.sum().compute()?);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn open_tiff_with(path: impl AsRef<Path>, chunks: &[usize]) -> Result<TiffArray> {
    open(path.as_ref(), Some(chunks), None)
}

/// One band (counted from 0) of the TIFF at `path`, as a lazy array of shape `(rows, cols)`
/// in blocks of the file's tiles. For a pixel-interleaved file, each block still decodes
/// whole tiles (all bands) and keeps one.
///
/// ```
/// let e = rask::open_tiff_band("/no/such/file.tif", 0).unwrap_err();
/// assert!(e.to_string().contains("/no/such/file.tif"), "{e}");
/// ```
pub fn open_tiff_band(path: impl AsRef<Path>, band: usize) -> Result<TiffArray> {
    open(path.as_ref(), None, Some(band))
}

/// [`open_tiff`] followed by [`TiffArray::into_typed`].
///
/// ```
/// let e = rask::open_tiff_typed::<f32>("/no/such/file.tif").unwrap_err();
/// assert!(e.to_string().contains("/no/such/file.tif"), "{e}");
/// ```
pub fn open_tiff_typed<T: Element>(path: impl AsRef<Path>) -> Result<ChunkedArray<T>> {
    open_tiff(path)?.into_typed()
}

/// The image layout, as the source needs it.
struct Layout {
    width: usize,
    height: usize,
    samples: usize,
    size: usize,
    planar: bool,
    /// Chunk (tile or strip) width and height.
    cw: usize,
    ch: usize,
    across: usize,
    down: usize,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    codec: Codec,
    predictor: u16,
    little: bool,
    tiled: bool,
}

impl Layout {
    /// Samples per pixel inside one chunk.
    fn spp(&self) -> usize {
        if self.planar { 1 } else { self.samples }
    }
    /// Rows stored in chunk row `ty` (strips at the bottom are shorter; tiles are whole).
    fn stored_rows(&self, ty: usize) -> usize {
        if self.tiled {
            self.ch
        } else {
            self.ch.min(self.height - ty * self.ch)
        }
    }
    fn index(&self, plane: usize, ty: usize, tx: usize) -> usize {
        plane * self.across * self.down + ty * self.across + tx
    }
    fn chunk_name(&self, i: usize) -> String {
        format!("{} {i}", if self.tiled { "tile" } else { "strip" })
    }
}

fn open(path: &Path, chunks: Option<&[usize]>, band: Option<usize>) -> Result<TiffArray> {
    let shown = path.display().to_string();
    let fail = |m: String| Error::storage(OPEN, &shown, None, m);
    let file = File::open(path).map_err(|e| Error::io(OPEN, &shown, e))?;
    let meta = file.metadata().map_err(|e| Error::io(OPEN, &shown, e))?;
    if meta.is_dir() {
        return Err(fail("is a directory, not a TIFF file".into()));
    }
    let len = meta.len();
    let ifd = Ifd::read(&file, len).map_err(&fail)?;
    let req = |tag: u16, name: &str| -> Result<u64> {
        ifd.uint(&file, tag)
            .map_err(&fail)?
            .ok_or_else(|| fail(format!("the {name} tag ({tag}) is missing")))
    };
    let width = req(IMAGE_WIDTH, "ImageWidth")? as usize;
    let height = req(IMAGE_LENGTH, "ImageLength")? as usize;
    let samples = ifd
        .uint(&file, SAMPLES_PER_PIXEL)
        .map_err(&fail)?
        .unwrap_or(1) as usize;
    if width == 0 || height == 0 || samples == 0 {
        return Err(fail(format!(
            "an image of {width} x {height} pixels and {samples} samples"
        )));
    }
    let bits = ifd
        .uints(&file, BITS_PER_SAMPLE)
        .map_err(&fail)?
        .unwrap_or_else(|| vec![1]);
    if bits.is_empty() {
        return Err(fail(
            "the BitsPerSample tag (258) has no values".to_string(),
        ));
    }
    if bits.iter().any(|&b| b != bits[0]) {
        return Err(fail(format!(
            "bands of different bit depths {bits:?} are not supported"
        )));
    }
    let formats = ifd
        .uints(&file, SAMPLE_FORMAT)
        .map_err(&fail)?
        .unwrap_or_else(|| vec![1]);
    if formats.is_empty() {
        return Err(fail("the SampleFormat tag (339) has no values".to_string()));
    }
    if formats.iter().any(|&f| f != formats[0]) {
        return Err(fail(format!(
            "bands of different sample formats {formats:?} are not supported"
        )));
    }
    let dtype = match (formats[0], bits[0]) {
        (1, 8) => DType::U8,
        (2, 8) => DType::I8,
        (1, 16) => DType::U16,
        (2, 16) => DType::I16,
        (1, 32) => DType::U32,
        (2, 32) => DType::I32,
        (1, 64) => DType::U64,
        (2, 64) => DType::I64,
        (3, 32) => DType::F32,
        (3, 64) => DType::F64,
        (f, b) => {
            let kind = match f {
                1 => "unsigned integer",
                2 => "signed integer",
                3 => "floating-point",
                5 | 6 => "complex",
                _ => "unknown-format",
            };
            return Err(fail(format!(
                "{b}-bit {kind} samples are not supported: rask reads 8, 16, 32 and 64-bit integers and 32 and 64-bit floats"
            )));
        }
    };
    let codec = Codec::from_tag(ifd.uint(&file, COMPRESSION).map_err(&fail)?.unwrap_or(1))
        .map_err(&fail)?;
    let photometric = ifd.uint(&file, PHOTOMETRIC).map_err(&fail)?.unwrap_or(1);
    match photometric {
        1 | 2 | 5 => {}
        0 => {
            return Err(fail(
                "PhotometricInterpretation 0 (WhiteIsZero) is not supported".into(),
            ));
        }
        3 => {
            return Err(fail(
                "palette (colour-mapped) images are not supported".into(),
            ));
        }
        6 => return Err(fail("YCbCr images are not supported".into())),
        p => {
            return Err(fail(format!(
                "PhotometricInterpretation {p} is not supported"
            )));
        }
    }
    let planar = match ifd.uint(&file, PLANAR_CONFIG).map_err(&fail)?.unwrap_or(1) {
        1 => false,
        2 => true,
        p => return Err(fail(format!("PlanarConfiguration {p} is not 1 or 2"))),
    };
    let predictor = ifd.uint(&file, PREDICTOR).map_err(&fail)?.unwrap_or(1) as u16;
    match (predictor, dtype) {
        (1, _) | (2, _) => {}
        (3, DType::F32 | DType::F64) => {}
        (p, d) => {
            return Err(fail(format!(
                "predictor {p} is not supported for {d} samples"
            )));
        }
    }
    let tiled = ifd.entry(TILE_WIDTH).is_some();
    let (cw, ch, off_tag, cnt_tag) = if tiled {
        let tw = req(TILE_WIDTH, "TileWidth")? as usize;
        let th = req(TILE_LENGTH, "TileLength")? as usize;
        (tw, th, TILE_OFFSETS, TILE_BYTE_COUNTS)
    } else {
        let rps = ifd
            .uint(&file, ROWS_PER_STRIP)
            .map_err(&fail)?
            .unwrap_or(height as u64)
            .min(height as u64) as usize;
        (width, rps, STRIP_OFFSETS, STRIP_BYTE_COUNTS)
    };
    if cw == 0 || ch == 0 {
        return Err(fail(format!("a tile or strip of {ch} x {cw} pixels")));
    }
    let size = dtype.size();
    let spp = if planar { 1 } else { samples };
    let chunk_bytes = (cw as u64)
        .checked_mul(ch as u64)
        .and_then(|n| n.checked_mul((spp * size) as u64));
    if chunk_bytes.is_none_or(|b| b > MAX_TIFF_CHUNK_BYTES) {
        return Err(fail(format!(
            "a tile or strip of {ch} x {cw} pixels of {spp} {dtype} samples is larger than {MAX_TIFF_CHUNK_BYTES} bytes"
        )));
    }
    let across = width.div_ceil(cw);
    let down = height.div_ceil(ch);
    let planes = if planar { samples } else { 1 };
    let expected = across * down * planes;
    let offsets = ifd
        .uints(&file, off_tag)
        .map_err(&fail)?
        .ok_or_else(|| fail("the tile or strip offsets are missing".into()))?;
    let counts = ifd
        .uints(&file, cnt_tag)
        .map_err(&fail)?
        .ok_or_else(|| fail("the tile or strip byte counts are missing".into()))?;
    if offsets.len() != expected || counts.len() != expected {
        return Err(fail(format!(
            "the {} table has {} offsets and {} byte counts; the image of {height} x {width} pixels in {ch} x {cw} {} needs {expected}",
            if tiled { "tile" } else { "strip" },
            offsets.len(),
            counts.len(),
            if tiled { "tiles" } else { "strips" }
        )));
    }
    let layout = Layout {
        width,
        height,
        samples,
        size,
        planar,
        cw,
        ch,
        across,
        down,
        offsets,
        counts,
        codec,
        predictor,
        little: ifd.little,
        tiled,
    };
    for (i, (&o, &c)) in layout.offsets.iter().zip(&layout.counts).enumerate() {
        if c > 0 && o.checked_add(c).is_none_or(|end| end > len) {
            return Err(Error::storage(
                OPEN,
                &shown,
                Some(layout.chunk_name(i)),
                format!("its {c} bytes at offset {o} run past the end of the file ({len} bytes)"),
            ));
        }
    }
    let geo = read_geo(&ifd, &file).map_err(&fail)?;

    // The grid: the file's tiles, or strips grouped into blocks of at least 16 MiB.
    let rows_block = if tiled {
        ch
    } else {
        let strip = ch * width * spp * size;
        ch * (STRIP_BLOCK_BYTES / strip.max(1)).max(1)
    };
    let (shape, default): (Vec<usize>, Vec<usize>) = match band {
        Some(b) if b >= samples => {
            return Err(Error::arg(
                OPEN,
                format!("band {b} of {shown}, which has {samples} bands (counted from 0)"),
            ));
        }
        Some(_) => (vec![height, width], vec![rows_block, cw]),
        None => (vec![samples, height, width], vec![spp, rows_block, cw]),
    };
    let block = chunks.unwrap_or(&default);
    let grid = ChunkGrid::regular_for(OPEN, &shape, block)?;
    let block_bytes = grid
        .chunk_shape()
        .iter()
        .try_fold(size as u64, |a, &c| a.checked_mul(c as u64));
    if block_bytes.is_none_or(|b| b > MAX_TIFF_CHUNK_BYTES) {
        return Err(fail(format!(
            "blocks of {:?} {dtype} samples are larger than {MAX_TIFF_CHUNK_BYTES} bytes",
            grid.chunk_shape()
        )));
    }
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let geo_arc = geo.clone().map(Arc::new);
    let source = TiffSource {
        path: shown,
        key: format!(
            "tiff:{}:{len}:{mtime}:{band:?}:{:?}",
            canonical.display(),
            grid.chunk_shape()
        ),
        file,
        dtype,
        layout,
        band,
        geo: geo_arc,
    };
    let expr = crate::compute::source_expr(grid.clone(), dtype, Arc::new(source));
    Ok(TiffArray {
        path: path.to_path_buf(),
        dtype,
        grid,
        bands: samples,
        tile: [ch, cw],
        tiled,
        codec,
        predictor,
        planar,
        bigtiff: ifd.bigtiff,
        geo,
        expr,
    })
}

// GeoKey ids.
const GT_RASTER_TYPE: u16 = 1025;
const GEOGRAPHIC_TYPE: u16 = 2048;
const PROJECTED_CS_TYPE: u16 = 3072;

/// The georeferencing of the file: ModelTransformation, or ModelPixelScale with one
/// ModelTiepoint; the EPSG code from the GeoKeyDirectory; GDAL's nodata.
fn read_geo(ifd: &Ifd, file: &File) -> std::result::Result<Option<GeoInfo>, String> {
    let scale = ifd.doubles(file, MODEL_PIXEL_SCALE)?;
    let tie = ifd.doubles(file, MODEL_TIEPOINT)?;
    let matrix = ifd.doubles(file, MODEL_TRANSFORMATION)?;
    let mut gt = match (matrix, scale, tie) {
        (Some(m), _, _) if m.len() >= 16 => Some([m[3], m[0], m[1], m[7], m[4], m[5]]),
        (_, Some(s), Some(t)) if s.len() >= 2 && t.len() >= 6 => {
            let (i, j, x, y) = (t[0], t[1], t[3], t[4]);
            Some([x - i * s[0], s[0], 0.0, y + j * s[1], 0.0, -s[1]])
        }
        _ => None,
    };
    let mut epsg = None;
    let mut point = false;
    if let Some(keys) = ifd.uints(file, GEO_KEY_DIRECTORY)? {
        let n = keys.get(3).copied().unwrap_or(0) as usize;
        let (mut projected, mut geographic) = (None, None);
        for k in keys.get(4..).unwrap_or(&[]).chunks_exact(4).take(n) {
            let (id, location, value) = (k[0] as u16, k[1], k[3]);
            if location != 0 {
                continue; // a double or text parameter: not one rask reads
            }
            match id {
                GT_RASTER_TYPE => point = value == 2,
                PROJECTED_CS_TYPE => projected = Some(value),
                GEOGRAPHIC_TYPE => geographic = Some(value),
                _ => {}
            }
        }
        // 32767 is "user-defined": no EPSG code.
        epsg = projected
            .filter(|&v| v > 0 && v < 32767)
            .or(geographic.filter(|&v| v > 0 && v < 32767))
            .map(|v| v as u32);
    }
    if point && let Some(g) = gt.as_mut() {
        // As GDAL does: the geotransform refers to pixel corners, also for PixelIsPoint.
        g[0] -= 0.5 * g[1] + 0.5 * g[2];
        g[3] -= 0.5 * g[4] + 0.5 * g[5];
    }
    let nodata = match ifd.ascii(file, GDAL_NODATA)? {
        Some(s) => {
            let t = s.trim();
            let v = match t.to_ascii_lowercase().as_str() {
                "nan" | "-nan" => Some(f64::NAN),
                other => other.parse::<f64>().ok(),
            };
            Some(v.ok_or_else(|| format!("the GDAL nodata value {t:?} is not a number"))?)
        }
        None => None,
    };
    if gt.is_none() && nodata.is_none() {
        return Ok(None);
    }
    Ok(Some(GeoInfo {
        // GDAL's default for a raster without georeferencing.
        geotransform: gt.unwrap_or([0.0, 1.0, 0.0, 0.0, 0.0, 1.0]),
        epsg,
        nodata,
        pixel_is_point: point,
    }))
}

/// Reads blocks of a TIFF image.
struct TiffSource {
    path: String,
    key: String,
    file: File,
    dtype: DType,
    layout: Layout,
    /// The one band read, for [`open_tiff_band`] (2-d blocks).
    band: Option<usize>,
    geo: Option<Arc<GeoInfo>>,
}

thread_local! {
    /// Each worker's buffer for the compressed bytes of a tile.
    static COMPRESSED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The elements as bytes.
fn bytes_mut<T: Element>(v: &mut [T]) -> &mut [u8] {
    assert!(T::DTYPE != DType::Bool, "TIFF samples are never bool");
    // SAFETY: `T` is a numeric element type (not bool, checked above): plain data without
    // padding for which every bit pattern is a valid value.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of_val(v)) }
}

impl TiffSource {
    /// Decodes chunk `i` (all its stored rows, tile padding included) into `out`, in the
    /// machine's byte order.
    fn decode(&self, i: usize, rows: usize, out: &mut [u8]) -> std::result::Result<(), String> {
        let l = &self.layout;
        // Missing (sparse) chunks are filled by the caller.
        let (off, count) = (l.offsets[i], l.counts[i] as usize);
        if l.codec == Codec::None {
            if count < out.len() {
                return Err(format!(
                    "holds {count} bytes, an uncompressed chunk needs {}",
                    out.len()
                ));
            }
            read_exact_at(&self.file, out, off)?;
        } else {
            COMPRESSED.with(|c| {
                let mut buf = c.borrow_mut();
                buf.resize(count, 0);
                read_exact_at(&self.file, &mut buf, off)?;
                codec::decompress(l.codec, &buf, out)
            })?;
        }
        let spp = l.spp();
        let row = l.cw * spp;
        debug_assert_eq!(out.len(), rows * row * l.size);
        if l.predictor == 3 {
            codec::undo_float(out, row, spp, l.size);
        } else {
            if l.little != codec::NATIVE_LITTLE {
                codec::swap_bytes(out, l.size);
            }
            if l.predictor == 2 {
                codec::undo_horizontal(out, row, spp, l.size);
            }
        }
        Ok(())
    }

    /// Reads bands `b0..b0 + nb`, rows `r0..r0 + nr`, columns `c0..c0 + nc` into a C-order
    /// array of shape `out_shape`.
    #[allow(clippy::too_many_arguments)]
    fn read<T: Element>(
        &self,
        (b0, nb): (usize, usize),
        (r0, nr): (usize, usize),
        (c0, nc): (usize, usize),
        out_shape: &[usize],
    ) -> Result<ArrayD<T>> {
        let l = &self.layout;
        let spp = l.spp();
        let mut out = vec![T::default(); nb * nr * nc];
        let mut scratch: Vec<T> = Vec::new();
        // A sparse file's missing tiles (GDAL's SPARSE_OK) read as nodata, as in GDAL, or 0.
        let fill = self
            .geo
            .as_ref()
            .and_then(|g| g.nodata)
            .map(T::from_f64)
            .filter(|v| self.geo.as_ref().and_then(|g| g.nodata) == Some(v.to_f64()))
            .unwrap_or_default();
        let err = |i: usize, m: String| Error::storage(OPEN, &self.path, Some(l.chunk_name(i)), m);
        let planes: Vec<usize> = if l.planar {
            (b0..b0 + nb).collect()
        } else {
            vec![0]
        };
        for ty in r0 / l.ch..=(r0 + nr - 1) / l.ch {
            let rows = l.stored_rows(ty);
            let (y0, y1) = (
                (ty * l.ch).max(r0),
                ((ty + 1) * l.ch).min(r0 + nr).min(l.height),
            );
            for tx in c0 / l.cw..=(c0 + nc - 1) / l.cw {
                let (x0, x1) = (
                    (tx * l.cw).max(c0),
                    ((tx + 1) * l.cw).min(c0 + nc).min(l.width),
                );
                for &p in &planes {
                    let i = l.index(p, ty, tx);
                    let n = rows * l.cw * spp;
                    // The whole chunk is the block (one band): decode in place.
                    if spp == 1
                        && nb == 1
                        && (r0, c0) == (ty * l.ch, tx * l.cw)
                        && (nr, nc) == (rows, l.cw)
                    {
                        if l.counts[i] == 0 {
                            out.fill(fill);
                        } else {
                            self.decode(i, rows, bytes_mut(&mut out))
                                .map_err(|m| err(i, m))?;
                        }
                        continue;
                    }
                    scratch.resize(n, T::default());
                    if l.counts[i] == 0 {
                        scratch.fill(fill);
                    } else {
                        self.decode(i, rows, bytes_mut(&mut scratch))
                            .map_err(|m| err(i, m))?;
                    }
                    for y in y0..y1 {
                        let src = (y - ty * l.ch) * l.cw * spp;
                        if spp == 1 {
                            let b = if l.planar { p - b0 } else { 0 };
                            let dst = (b * nr + (y - r0)) * nc + (x0 - c0);
                            let s = src + (x0 - tx * l.cw);
                            out[dst..dst + (x1 - x0)].copy_from_slice(&scratch[s..s + (x1 - x0)]);
                        } else {
                            for b in b0..b0 + nb {
                                let dst = (b - b0) * nr * nc + (y - r0) * nc;
                                for x in x0..x1 {
                                    out[dst + x - c0] = scratch[src + (x - tx * l.cw) * spp + b];
                                }
                            }
                        }
                    }
                }
            }
        }
        ArrayD::from_shape_vec(IxDyn(out_shape), out)
            .map_err(|e| Error::storage(OPEN, &self.path, None, e))
    }
}

impl BlockSource for TiffSource {
    fn produce(&self, _block: &[usize], offset: &[usize], shape: &[usize]) -> Result<BlockRef> {
        let (bands, rows, cols) = match self.band {
            Some(b) => ((b, 1), (offset[0], shape[0]), (offset[1], shape[1])),
            None => (
                (offset[0], shape[0]),
                (offset[1], shape[1]),
                (offset[2], shape[2]),
            ),
        };
        let block: BlockRef = if shape.contains(&0) {
            with_dtype!(self.dtype, T => Arc::new(ArrayD::<T>::default(IxDyn(shape))))
        } else {
            with_dtype!(self.dtype, T => Arc::new(self.read::<T>(bands, rows, cols, shape)?))
        };
        crate::exec::memory::record_read(block.nbytes());
        Ok(block)
    }
    fn name(&self) -> String {
        format!("{OPEN}({})", self.path)
    }
    fn key(&self) -> Option<String> {
        Some(self.key.clone())
    }
    fn rereadable(&self) -> bool {
        true
    }
    fn geo(&self) -> Option<Arc<GeoInfo>> {
        self.geo.clone()
    }
}
