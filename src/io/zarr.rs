//! Zarr V2 and V3 arrays on the local filesystem, read and written through the `zarrs` crate.
//!
//! - **Reading.** [`open_zarr`] reads the metadata (and checks it before anything is
//!   allocated) and returns a [`ZarrArray`]: a dynamically typed handle whose
//!   [`into_typed`](ZarrArray::into_typed) gives a lazy [`ChunkedArray`]. Each block of that
//!   array is one task, which decodes the store chunks the block covers (zarrs' subset
//!   retrieval); missing chunks read as the fill value.
//! - **Writing.** [`ChunkedArray::to_zarr`] rechunks the array to the Zarr chunk (or shard)
//!   grid, so that every block the scheduler hands over is exactly one chunk (shard), and
//!   encodes it from the worker thread that computed it: no block is read back, merged or
//!   gathered. The array is written under a hidden temporary sibling name and renamed into
//!   place at the end, so the output is complete or absent.
//! - **Several outputs in one run:** [`store_all`] with [`ZarrTarget`]s.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use serde_json::{Map, Value, json};
use zarrs::array::{Array, ArrayMetadata, ArrayShardedExt, ArraySubset, DataType};
use zarrs::filesystem::FilesystemStore;

use crate::array::ChunkedArray;
use crate::block::{BlockRef, downcast, with_dtype};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::stage::Collect;
use crate::exec::{Config, RunStats};
use crate::grid::ChunkGrid;
use crate::io::faults::{Faults, FaultyStore, ReadFault};
use crate::plan::{BlockSource, Expr};

/// The most elements an array read from Zarr metadata may have (2^53, about 9 × 10^15:
/// 72 PB of `f64`). Metadata is untrusted input; larger shapes are refused when opened.
pub const MAX_ZARR_ELEMENTS: u64 = 1 << 53;

/// The most bytes one decoded store chunk (or shard), or one rask block read from Zarr, may
/// hold (2 GiB, blosc's own limit). Larger chunks are refused when the array is opened,
/// before anything is allocated.
pub const MAX_ZARR_CHUNK_BYTES: u64 = 1 << 31;

type Store = FaultyStore<FilesystemStore>;

// ---------------------------------------------------------------- reading

/// A Zarr array opened by [`open_zarr`]: its dtype, shape, chunking and attributes, and a
/// lazy [`ChunkedArray`] of it once its element type is named with
/// [`into_typed`](Self::into_typed).
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-open-{}", std::process::id()));
/// let path = dir.join("x.zarr");
/// ChunkedArray::<i32>::arange(10, 4).cast::<i32>().to_zarr(&path, &rask::ZarrOptions::default())?;
/// let z = rask::open_zarr(&path)?;
/// assert_eq!((z.dtype(), z.shape()), (DType::I32, &[10][..]));
/// let x = z.into_typed::<i32>()?;
/// assert_eq!(x.sum().compute()?, 45);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
#[derive(Clone)]
pub struct ZarrArray {
    path: PathBuf,
    dtype: DType,
    grid: ChunkGrid,
    store_chunks: Vec<usize>,
    inner_chunks: Option<Vec<usize>>,
    attributes: Map<String, Value>,
    dimension_names: Option<Vec<Option<String>>>,
    expr: Arc<Expr>,
    /// The block shape asked for by [`open_zarr_with`], to open the array again.
    requested: Option<Vec<usize>>,
}

impl fmt::Debug for ZarrArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ZarrArray({}, {}, {})",
            self.path.display(),
            self.dtype,
            self.grid
        )
    }
}

impl ZarrArray {
    /// The path the array was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The element type stored.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The array shape.
    pub fn shape(&self) -> &[usize] {
        self.grid.shape()
    }

    /// The chunking of the lazy array (the store's chunks or shards, or what
    /// [`open_zarr_with`] asked for).
    pub fn chunks(&self) -> Vec<usize> {
        self.grid.chunk_shape()
    }

    /// The chunk shape of the store: the shard shape for a sharded array.
    pub fn store_chunks(&self) -> &[usize] {
        &self.store_chunks
    }

    /// The inner chunk shape of a sharded array (`None` when not sharded).
    pub fn inner_chunks(&self) -> Option<&[usize]> {
        self.inner_chunks.as_deref()
    }

    /// The user attributes (`zarr.json`'s `attributes`, or V2's `.zattrs`).
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }

    /// The dimension names: V3's `dimension_names`, or xarray's `_ARRAY_DIMENSIONS`
    /// attribute in V2. `None` when the array has none.
    pub fn dimension_names(&self) -> Option<&[Option<String>]> {
        self.dimension_names.as_deref()
    }

    /// The georeferencing stored in the attributes (`geotransform`, `epsg`, `nodata`,
    /// `pixel_is_point`, as [`ChunkedArray::to_zarr`] writes them), if any.
    pub fn geo(&self) -> Option<&crate::geo::GeoInfo> {
        self.expr.geo.as_deref()
    }

    /// The same array read through a fault injector (for tests of error handling; see
    /// [`faults`](crate::io::faults)): chunk reads count against `faults` and fail, come back
    /// short or corrupted as it plans. Reads the metadata again.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::io::faults::FaultPlan;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-faults-{}", std::process::id()));
    /// let path = dir.join("x.zarr");
    /// ChunkedArray::<f64>::ones(&[8], &[2]).to_zarr(&path, &ZarrOptions::default())?;
    /// let faults = FaultPlan { fail_read_at: Some(3), ..FaultPlan::default() }.arm();
    /// let x = rask::open_zarr(&path)?.with_faults(&faults)?.into_typed::<f64>()?;
    /// let e = x.sum().compute_with(&Config::default().threads(1)).unwrap_err();
    /// assert!(e.to_string().contains("(chunk c/2)"), "{e}");
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn with_faults(self, faults: &Arc<Faults>) -> Result<ZarrArray> {
        open(&self.path, self.requested.as_deref(), Some(faults.clone()))
    }

    /// The lazy array of element type `T`; [`Error::DType`] when the store holds another
    /// dtype. Nothing is read until the array is computed.
    pub fn into_typed<T: Element>(self) -> Result<ChunkedArray<T>> {
        let path = &self.path;
        crate::io::typed_source(self.expr, self.dtype, || {
            format!("open_zarr({})", path.display())
        })
    }
}

/// Opens the Zarr array at `path` (V2 or V3; an array directory, which may sit inside a
/// group, as `group.zarr/temperature`). The blocks of the lazy array are the store's chunks
/// (its shards, when it is sharded). Reads the metadata only.
///
/// Errors name the path: a missing path, metadata that is not an array's, an unsupported
/// dtype or codec, absurd sizes (see [`MAX_ZARR_ELEMENTS`], [`MAX_ZARR_CHUNK_BYTES`]).
///
/// ```
/// let e = rask::open_zarr("/no/such/array.zarr").unwrap_err();
/// assert!(e.to_string().contains("/no/such/array.zarr"));
/// ```
pub fn open_zarr(path: impl AsRef<Path>) -> Result<ZarrArray> {
    open(path.as_ref(), None, None)
}

/// [`open_zarr`] with the lazy array cut into blocks of `chunks` instead of the store's
/// chunks; each block reads (and decodes) the store chunks it covers. Blocks that are
/// multiples of the store chunks read no chunk twice.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-open-with-{}", std::process::id()));
/// let path = dir.join("x.zarr");
/// let opts = rask::ZarrOptions::default().chunks(&[10, 10]);
/// ChunkedArray::<f64>::ones(&[100, 100], &[50, 50]).to_zarr(&path, &opts)?;
/// let z = rask::open_zarr_with(&path, &[40, 100])?;
/// assert_eq!(z.chunks(), vec![40, 100]);
/// assert_eq!(z.into_typed::<f64>()?.sum().compute()?, 10_000.0);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn open_zarr_with(path: impl AsRef<Path>, chunks: &[usize]) -> Result<ZarrArray> {
    open(path.as_ref(), Some(chunks), None)
}

/// [`open_zarr`] followed by [`ZarrArray::into_typed`].
///
/// ```
/// let e = rask::open_zarr_typed::<f32>("/no/such/array.zarr").unwrap_err();
/// assert!(e.to_string().contains("/no/such/array.zarr"));
/// ```
pub fn open_zarr_typed<T: Element>(path: impl AsRef<Path>) -> Result<ChunkedArray<T>> {
    open_zarr(path)?.into_typed()
}

const OPEN: &str = "open_zarr";

fn open(path: &Path, chunks: Option<&[usize]>, faults: Option<Arc<Faults>>) -> Result<ZarrArray> {
    let shown = path.display().to_string();
    std::fs::metadata(path).map_err(|e| Error::io(OPEN, &shown, e))?;
    let store = FilesystemStore::new(path)
        .map_err(|e| Error::storage(OPEN, &shown, None, format!("cannot open the store: {e}")))?;
    let store = Arc::new(FaultyStore::new(store, faults.clone()));
    let array =
        Array::open(store.clone(), "/").map_err(|e| Error::storage(OPEN, &shown, None, e))?;
    let dtype = dtype_of(array.data_type()).ok_or_else(|| {
        Error::storage(
            OPEN,
            &shown,
            None,
            format!(
                "unsupported dtype {}: rask reads bool, int8..int64, uint8..uint64, float32 and float64",
                dtype_name(&array)
            ),
        )
    })?;
    if array.data_type().is_optional() {
        return Err(Error::storage(
            OPEN,
            &shown,
            None,
            "optional dtypes are not supported",
        ));
    }

    // Metadata is untrusted: every size is checked before a buffer is sized from it.
    let shape_u64 = array.shape().to_vec();
    shape_u64
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= MAX_ZARR_ELEMENTS)
        .ok_or_else(|| {
            Error::storage(
                OPEN,
                &shown,
                None,
                format!("shape {shape_u64:?} has more than 2^53 elements"),
            )
        })?;
    let shape: Vec<usize> = shape_u64.iter().map(|&d| d as usize).collect();
    let zeros = vec![0u64; shape.len()];
    let store_chunks: Vec<usize> = array
        .chunk_shape(&zeros)
        .map_err(|e| Error::storage(OPEN, &shown, None, e))?
        .iter()
        .map(|c| c.get() as usize)
        .collect();
    let inner_chunks: Option<Vec<usize>> = array
        .subchunk_shape()
        .map(|s| s.iter().map(|c| c.get() as usize).collect());
    let size = dtype.size() as u64;
    check_chunk_bytes(&shown, "chunk", &store_chunks, size)?;
    if let Some(inner) = &inner_chunks {
        check_chunk_bytes(&shown, "inner chunk", inner, size)?;
    }
    let block = chunks.unwrap_or(&store_chunks);
    let grid = ChunkGrid::regular_for(OPEN, &shape, block)?;
    check_chunk_bytes(&shown, "block", &grid.chunk_shape(), size)?;

    let attributes = array.attributes().clone();
    let dimension_names = match array.dimension_names() {
        Some(names) => Some(
            names
                .iter()
                .map(|n| n.as_ref().map(|s| s.to_string()))
                .collect(),
        ),
        None => attributes
            .get("_ARRAY_DIMENSIONS")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect()),
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let raw_chunks = is_raw_layout(&array).then(|| store_chunks.clone());
    let source = ZarrSource {
        array,
        path: shown,
        key: match &faults {
            // A faulty open is its own source: never merged with a plain open of the array.
            Some(f) => format!(
                "zarr:{}:{:?}:faults@{:p}",
                canonical.display(),
                grid.chunk_shape(),
                Arc::as_ptr(f)
            ),
            None => format!("zarr:{}:{:?}", canonical.display(), grid.chunk_shape()),
        },
        dtype,
        dir: path.to_path_buf(),
        raw_chunks,
        faults,
        store,
    };
    let mut expr = crate::compute::source_expr(grid.clone(), dtype, Arc::new(source));
    // Georeferencing written by `to_zarr` (or by anyone using the same attributes).
    if grid.ndim() >= 2
        && let Some(g) = geo_from_attributes(&attributes)
    {
        expr = expr.with_geo(Some(Arc::new(g)));
    }
    Ok(ZarrArray {
        path: path.to_path_buf(),
        dtype,
        grid,
        store_chunks,
        inner_chunks,
        attributes,
        dimension_names,
        expr,
        requested: chunks.map(<[usize]>::to_vec),
    })
}

fn check_chunk_bytes(path: &str, what: &str, chunk: &[usize], size: u64) -> Result<()> {
    let bytes = chunk
        .iter()
        .try_fold(size, |acc, &c| acc.checked_mul(c as u64))
        .filter(|&b| b <= MAX_ZARR_CHUNK_BYTES);
    if bytes.is_none() {
        return Err(Error::storage(
            OPEN,
            path,
            None,
            format!(
                "{what} shape {chunk:?} of {size}-byte elements is larger than the limit of {MAX_ZARR_CHUNK_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// The rask dtype of a Zarr data type, if rask has one.
fn dtype_of(dt: &DataType) -> Option<DType> {
    use zarrs::array::data_type as z;
    let table: [(bool, DType); 11] = [
        (dt.is::<z::Float32DataType>(), DType::F32),
        (dt.is::<z::Float64DataType>(), DType::F64),
        (dt.is::<z::Int8DataType>(), DType::I8),
        (dt.is::<z::Int16DataType>(), DType::I16),
        (dt.is::<z::Int32DataType>(), DType::I32),
        (dt.is::<z::Int64DataType>(), DType::I64),
        (dt.is::<z::UInt8DataType>(), DType::U8),
        (dt.is::<z::UInt16DataType>(), DType::U16),
        (dt.is::<z::UInt32DataType>(), DType::U32),
        (dt.is::<z::UInt64DataType>(), DType::U64),
        (dt.is::<z::BoolDataType>(), DType::Bool),
    ];
    table.iter().find(|(is, _)| *is).map(|&(_, d)| d)
}

/// The dtype as the metadata spells it, for messages.
fn dtype_name(array: &Array<Store>) -> String {
    match array.metadata() {
        ArrayMetadata::V3(m) => m.data_type.to_string(),
        ArrayMetadata::V2(m) => serde_json::to_string(&m.dtype).unwrap_or_default(),
    }
}

/// Whether the array's chunks are stored as plain little-endian C-order bytes (no compression,
/// no filters, no sharding): then a chunk file is the block's bytes, read straight into an
/// aligned buffer.
fn is_raw_layout(array: &Array<Store>) -> bool {
    let Ok(v) = serde_json::to_value(array.metadata()) else {
        return false;
    };
    match array.metadata() {
        ArrayMetadata::V3(_) => {
            let codecs = v.get("codecs").and_then(Value::as_array);
            let little = |c: &Value| {
                c.get("configuration")
                    .and_then(|k| k.get("endian"))
                    .is_none_or(|e| e == "little")
            };
            matches!(codecs.map(Vec::as_slice), Some([c]) if c.get("name") == Some(&json!("bytes")) && little(c))
                && v.get("chunk_grid").and_then(|g| g.get("name")) == Some(&json!("regular"))
        }
        ArrayMetadata::V2(_) => {
            let dt = v.get("dtype").and_then(Value::as_str).unwrap_or("");
            v.get("compressor").is_none_or(Value::is_null)
                && v.get("filters")
                    .is_none_or(|f| f.is_null() || f.as_array().is_some_and(Vec::is_empty))
                && v.get("order") == Some(&json!("C"))
                && (dt.starts_with('<') || dt.starts_with('|'))
        }
    }
}

/// Reads blocks of a Zarr array.
struct ZarrSource {
    array: Array<Store>,
    path: String,
    key: String,
    dtype: DType,
    /// The array's directory (the store's root).
    dir: std::path::PathBuf,
    /// The chunk shape, when chunks are stored as plain bytes (see [`is_raw_layout`]).
    raw_chunks: Option<Vec<usize>>,
    /// Faults to inject into chunk reads (tests).
    faults: Option<Arc<Faults>>,
    /// The store `array` reads through (it remembers which keys failed).
    store: Arc<Store>,
}

impl ZarrSource {
    /// Reads a block that is exactly one stored plain-bytes chunk with positioned reads into
    /// a pooled, aligned buffer: no decode, no intermediate copy, no fresh pages. `None` when
    /// the fast path does not apply (the block is not one whole chunk, or the chunk is
    /// missing and holds the fill value).
    fn read_raw(&self, offset: &[usize], shape: &[usize]) -> Result<Option<BlockRef>> {
        use std::os::unix::fs::FileExt;
        let Some(chunks) = &self.raw_chunks else {
            return Ok(None);
        };
        if shape != chunks.as_slice() || offset.iter().zip(chunks).any(|(o, c)| o % c != 0) {
            return Ok(None);
        }
        let idx: Vec<u64> = offset
            .iter()
            .zip(chunks)
            .map(|(o, c)| (o / c) as u64)
            .collect();
        let key = self.array.chunk_key(&idx).as_str().to_string();
        let file = match std::fs::File::open(self.dir.join(&key)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::storage(OPEN, &self.path, Some(key), e)),
        };
        let fault = match &self.faults {
            Some(f) => f
                .before_read(&key)
                .map_err(|e| Error::storage(OPEN, &self.path, Some(key.clone()), e))?,
            None => ReadFault::None,
        };
        let want = shape.iter().product::<usize>() * self.dtype.size();
        let len = file
            .metadata()
            .map_err(|e| Error::storage(OPEN, &self.path, Some(key.clone()), e))?
            .len();
        if len != want as u64 {
            return Err(Error::storage(
                OPEN,
                &self.path,
                Some(key),
                format!("the chunk holds {len} bytes, expected {want}"),
            ));
        }
        let Some(mut buf) = crate::io::buffer::PooledBuf::take(want) else {
            return Ok(None);
        };
        let read = match fault {
            ReadFault::Short => {
                // As a file that holds only half of its bytes would: the read comes up short.
                let half = want / 2;
                file.read_exact_at(&mut buf.as_mut_slice()[..half], 0)
                    .and_then(|()| {
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!("short read: {half} of {want} bytes"),
                        ))
                    })
            }
            _ => file.read_exact_at(buf.as_mut_slice(), 0),
        };
        read.map_err(|e| Error::storage(OPEN, &self.path, Some(key.clone()), e))?;
        if fault == ReadFault::Corrupt {
            // Plain bytes carry no checksum: corruption is invisible here (see `faults`).
            buf.as_mut_slice()
                .iter_mut()
                .take(16)
                .for_each(|b| *b = !*b);
        }
        if self.dtype == DType::Bool && buf.as_ref().iter().any(|&b| b > 1) {
            return Err(Error::storage(
                OPEN,
                &self.path,
                Some(key),
                "a bool chunk holds a byte that is neither 0 nor 1",
            ));
        }
        let block = crate::block::MappedBlock::new(Arc::new(buf), 0, self.dtype, shape, false)
            .map(|b| Arc::new(b.on_heap()) as BlockRef);
        Ok(block)
    }

    fn read<T: Element + zarrs::array::ElementOwned>(
        &self,
        offset: &[usize],
        shape: &[usize],
    ) -> Result<BlockRef> {
        if let Some(b) = self.read_raw(offset, shape)? {
            return Ok(b);
        }
        let subset = ArraySubset::new_with_start_shape(
            offset.iter().map(|&o| o as u64).collect(),
            shape.iter().map(|&s| s as u64).collect(),
        )
        .map_err(|e| Error::storage(OPEN, &self.path, None, e))?;
        match self.array.retrieve_array_subset::<ArrayD<T>>(&subset) {
            Ok(a) => Ok(Arc::new(crate::plan::standard(a))),
            Err(e) => Err(self.blame::<T>(&subset, e)),
        }
    }

    /// The error of reading `subset`, naming the first store chunk that fails on its own.
    fn blame<T: zarrs::array::ElementOwned>(
        &self,
        subset: &ArraySubset,
        e: impl fmt::Display,
    ) -> Error {
        let Ok(Some(chunks)) = self.array.chunks_in_array_subset(subset) else {
            return Error::storage(OPEN, &self.path, None, e);
        };
        let indices = chunks.indices();
        let keys: Vec<String> = indices
            .iter()
            .take(4)
            .map(|idx| self.array.chunk_key(&idx).as_str().to_string())
            .collect();
        if indices.len() == 1 {
            // One chunk: it is the one at fault, no need to read it again.
            return Error::storage(OPEN, &self.path, keys.into_iter().next(), e);
        }
        // A chunk of this block whose read failed (or was tampered with) is the one at fault.
        let failed = self.store.failed_keys();
        for idx in &indices {
            let key = self.array.chunk_key(&idx).as_str().to_string();
            if failed.contains(&key) {
                return Error::storage(OPEN, &self.path, Some(key), e);
            }
        }
        for idx in &indices {
            if let Err(ce) = self.array.retrieve_chunk::<ArrayD<T>>(&idx) {
                let key = self.array.chunk_key(&idx).as_str().to_string();
                return Error::storage(OPEN, &self.path, Some(key), ce);
            }
        }
        // The failure did not happen again when each chunk was read alone (a transient fault).
        let more = if indices.len() > keys.len() {
            ", ..."
        } else {
            ""
        };
        Error::storage(
            OPEN,
            &self.path,
            None,
            format!("{e} (reading chunks {}{more})", keys.join(", ")),
        )
    }
}

impl BlockSource for ZarrSource {
    fn produce(&self, _block: &[usize], offset: &[usize], shape: &[usize]) -> Result<BlockRef> {
        let block = with_dtype!(self.dtype, T => self.read::<T>(offset, shape))?;
        crate::exec::memory::record_read(block.nbytes());
        Ok(block)
    }
    fn name(&self) -> String {
        format!("open_zarr({})", self.path)
    }
    fn key(&self) -> Option<String> {
        Some(self.key.clone())
    }
    fn rereadable(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- georeferencing

/// The options with the array's georeferencing added to the attributes: `geotransform` (GDAL
/// order), `epsg`, `nodata` (a number or `"NaN"`), `pixel_is_point` when true. The user's own
/// attributes of those names win.
fn with_geo_attributes(o: &ZarrOptions, geo: Option<&crate::geo::GeoInfo>) -> ZarrOptions {
    let Some(g) = geo else {
        return o.clone();
    };
    let mut o = o.clone();
    let mut put = |k: &str, v: Value| {
        o.attributes.entry(k.to_string()).or_insert(v);
    };
    put("geotransform", json!(g.geotransform));
    if let Some(e) = g.epsg {
        put("epsg", json!(e));
    }
    if let Some(n) = g.nodata {
        put(
            "nodata",
            if n.is_finite() {
                json!(n)
            } else {
                json!(n.to_string())
            },
        );
    }
    if g.pixel_is_point {
        put("pixel_is_point", json!(true));
    }
    o
}

/// Georeferencing from attributes written by [`with_geo_attributes`]; `None` without a valid
/// `geotransform`.
fn geo_from_attributes(a: &Map<String, Value>) -> Option<crate::geo::GeoInfo> {
    let gt: Vec<f64> = a
        .get("geotransform")?
        .as_array()?
        .iter()
        .map(Value::as_f64)
        .collect::<Option<_>>()?;
    let geotransform: [f64; 6] = gt.try_into().ok()?;
    let nodata = match a.get("nodata") {
        Some(Value::String(s)) => s.parse::<f64>().ok(),
        Some(v) => v.as_f64(),
        None => None,
    };
    let g = crate::geo::GeoInfo {
        geotransform,
        epsg: a.get("epsg").and_then(Value::as_u64).map(|e| e as u32),
        nodata,
        pixel_is_point: a.get("pixel_is_point").and_then(Value::as_bool) == Some(true),
    };
    g.validate("open_zarr").ok().map(|_| g)
}

// ---------------------------------------------------------------- writing options

/// The Zarr format version to write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZarrFormat {
    /// Zarr V2 (`.zarray`, `.zattrs`); dimension names go to xarray's `_ARRAY_DIMENSIONS`.
    V2,
    /// Zarr V3 (`zarr.json`), the default.
    #[default]
    V3,
}

/// The blosc inner compressor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BloscCompressor {
    /// LZ4: fast.
    Lz4,
    /// Zstandard: smaller.
    Zstd,
}

/// The blosc shuffle filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BloscShuffle {
    /// No shuffle.
    None,
    /// Byte shuffle.
    Shuffle,
    /// Bit shuffle.
    BitShuffle,
}

/// How chunks are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// Zstandard at `level` (1..=22; 3 is the default).
    Zstd {
        /// The level.
        level: i32,
    },
    /// gzip at `level` (0..=9).
    Gzip {
        /// The level.
        level: u32,
    },
    /// zlib at `level` (0..=9); `numcodecs.zlib` in V3.
    Zlib {
        /// The level.
        level: u32,
    },
    /// blosc with an inner compressor, a level (0..=9) and a shuffle.
    Blosc {
        /// The inner compressor.
        cname: BloscCompressor,
        /// The level.
        level: u8,
        /// The shuffle filter.
        shuffle: BloscShuffle,
    },
}

impl Default for Compression {
    /// Zstandard, level 3.
    fn default() -> Self {
        Compression::Zstd { level: 3 }
    }
}

/// Options of [`ChunkedArray::to_zarr`]. The defaults: Zarr V3, the array's own chunks,
/// no shards, zstd level 3, no attributes or dimension names, `overwrite: false`.
///
/// ```
/// use rask::{Compression, ZarrOptions};
/// let opts = ZarrOptions::default()
///     .chunks(&[256, 256])
///     .compression(Compression::Gzip { level: 6 })
///     .dimension_names(&["y", "x"])
///     .attribute("units", "K");
/// assert_eq!(opts.chunks, Some(vec![256, 256]));
/// ```
#[derive(Clone, Debug, Default)]
pub struct ZarrOptions {
    /// The chunk shape (the inner chunk shape when sharded); `None`: the array's chunks.
    pub chunks: Option<Vec<usize>>,
    /// The shard shape (V3 only), a multiple of the chunk shape on every axis; `None`: no
    /// sharding.
    pub shards: Option<Vec<usize>>,
    /// How chunks are compressed.
    pub compression: Compression,
    /// One name per dimension (V3 `dimension_names`, V2 `_ARRAY_DIMENSIONS`).
    pub dimension_names: Option<Vec<String>>,
    /// User attributes.
    pub attributes: Map<String, Value>,
    /// Replace an existing array at the path (otherwise an existing path is an error).
    pub overwrite: bool,
    /// The format version.
    pub format: ZarrFormat,
    /// Make the write resumable (default `false`): it goes into a hidden sibling directory
    /// `.{name}.rask-partial` that is kept when the run fails or is killed, and a per-block
    /// completion record (`.rask-done` inside it) lists every chunk whose write completed.
    /// A later write of the *same computation* to the same path with `resume` set reads the
    /// record and computes only the chunks not listed; the partial array is moved into place
    /// once it is complete. A partial directory whose metadata differs (another shape, chunking,
    /// dtype or codec) is discarded and the write starts over. rask cannot tell whether the
    /// values are the same computation: resume only what you wrote before.
    pub resume: bool,
    /// Faults to inject into chunk writes (tests; see [`crate::io::faults`]).
    pub faults: Option<Arc<Faults>>,
}

impl ZarrOptions {
    /// Sets the chunk shape.
    pub fn chunks(mut self, chunks: &[usize]) -> Self {
        self.chunks = Some(chunks.to_vec());
        self
    }
    /// Sets the shard shape (V3).
    pub fn shards(mut self, shards: &[usize]) -> Self {
        self.shards = Some(shards.to_vec());
        self
    }
    /// Sets the compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }
    /// Sets the dimension names.
    pub fn dimension_names(mut self, names: &[&str]) -> Self {
        self.dimension_names = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }
    /// Adds a user attribute.
    pub fn attribute(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.attributes.insert(key.to_string(), value.into());
        self
    }
    /// Sets whether an existing array at the path is replaced.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Sets the format version.
    pub fn format(mut self, format: ZarrFormat) -> Self {
        self.format = format;
        self
    }
    /// Sets whether the write is resumable (see [`resume`](Self::resume)).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-resume-{}", std::process::id()));
    /// let x = ChunkedArray::<f64>::random(&[400, 400], &[100, 100]);
    /// let opts = ZarrOptions::default().resume(true);
    /// x.to_zarr(dir.join("x.zarr"), &opts)?; // an interrupted run would be picked up here
    /// assert_eq!(rask::open_zarr_typed::<f64>(dir.join("x.zarr"))?.compute()?, x.compute()?);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
    /// Injects faults into chunk writes (tests; see [`crate::io::faults`]).
    pub fn faults(mut self, faults: &Arc<Faults>) -> Self {
        self.faults = Some(faults.clone());
        self
    }
}

// ---------------------------------------------------------------- writing

const WRITE: &str = "to_zarr";

/// One output of [`store_all`]: an array and where and how to write it, made by
/// [`ChunkedArray::zarr_target`].
#[derive(Clone)]
pub struct ZarrTarget {
    path: PathBuf,
    options: ZarrOptions,
    /// The array rechunked to the chunk (shard) grid, or the error found building it.
    expr: Result<Arc<Expr>>,
    /// The chunk shape written to the metadata.
    chunks: Vec<usize>,
}

impl fmt::Debug for ZarrTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ZarrTarget({})", self.path.display())
    }
}

impl<T: Element> ChunkedArray<T> {
    /// Writes the array to a Zarr array at `path` (see [`ZarrOptions`]), computing and
    /// writing its chunks in parallel, never holding the whole array. The array appears at
    /// `path` only once it is complete; on error nothing is left there.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-zarr-{}", std::process::id()));
    /// let x = ChunkedArray::<f32>::random(&[300, 200], &[100, 100]);
    /// let opts = rask::ZarrOptions::default().dimension_names(&["y", "x"]);
    /// x.to_zarr(dir.join("x.zarr"), &opts)?;
    /// let back = rask::open_zarr_typed::<f32>(dir.join("x.zarr"))?;
    /// assert_eq!(back.compute()?, x.compute()?);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn to_zarr(&self, path: impl AsRef<Path>, options: &ZarrOptions) -> Result<()> {
        self.to_zarr_with(path, options, &Config::default())
            .map(|_| ())
    }

    /// [`to_zarr`](Self::to_zarr) with a [`Config`]; returns the run's statistics.
    pub fn to_zarr_with(
        &self,
        path: impl AsRef<Path>,
        options: &ZarrOptions,
        config: &Config,
    ) -> Result<RunStats> {
        store_all_with(&[self.zarr_target(path, options)], config)
    }

    /// [`to_zarr_with`](Self::to_zarr_with) in the background: a [`Job`](crate::Job) to
    /// watch, cancel or wait for. A cancelled job removes what it had written: nothing is left
    /// at `path` (an array there before, with `overwrite`, is kept).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-zarr-job-{}", std::process::id()));
    /// let x = ChunkedArray::<f32>::random(&[400, 400], &[100, 100]);
    /// let job = x.to_zarr_async(dir.join("x.zarr"), &ZarrOptions::default(), &Config::default());
    /// let stats = job.wait()?;
    /// assert_eq!(stats.bytes_written, 400 * 400 * 4);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn to_zarr_async(
        &self,
        path: impl AsRef<Path>,
        options: &ZarrOptions,
        config: &Config,
    ) -> crate::Job<RunStats> {
        store_all_async(vec![self.zarr_target(path, options)], config)
    }

    /// The array as an output of [`store_all`], which writes several arrays in one run.
    /// Errors (bad chunks, say) are reported by `store_all`.
    pub fn zarr_target(&self, path: impl AsRef<Path>, options: &ZarrOptions) -> ZarrTarget {
        let path = path.as_ref().to_path_buf();
        let mut chunks = Vec::new();
        let expr = self.expr_ref().cloned().and_then(|e| {
            let shape = e.shape().to_vec();
            chunks = match &options.chunks {
                Some(c) => c.clone(),
                // An empty axis has chunks of 0 in rask; Zarr needs at least 1.
                None => e.grid.chunk_shape().iter().map(|&c| c.max(1)).collect(),
            };
            // The chunk grid as rask clamps it (a chunk no larger than its axis, at least 1).
            chunks = ChunkGrid::regular_for(WRITE, &shape, &chunks)?
                .chunk_shape()
                .iter()
                .map(|&c| c.max(1))
                .collect();
            let blocks = match &options.shards {
                None => chunks.clone(),
                Some(s) => {
                    if options.format == ZarrFormat::V2 {
                        return Err(Error::arg(WRITE, "sharding needs Zarr V3"));
                    }
                    if s.len() != chunks.len()
                        || s.iter().zip(&chunks).any(|(&s, &c)| s == 0 || s % c != 0)
                    {
                        return Err(Error::arg(
                            WRITE,
                            format!(
                                "shards {s:?} must be a multiple of the chunks {chunks:?} on every axis"
                            ),
                        ));
                    }
                    s.clone()
                }
            };
            if let Some(names) = &options.dimension_names
                && names.len() != shape.len()
            {
                return Err(Error::arg(
                    WRITE,
                    format!(
                        "{} dimension names {names:?} for {} dimensions",
                        names.len(),
                        shape.len()
                    ),
                ));
            }
            let x = ChunkedArray::<T>::from_result(Ok(e)).rechunk(&blocks);
            x.inner
        });
        ZarrTarget {
            path,
            options: options.clone(),
            expr,
            chunks,
        }
    }
}

/// Writes several arrays to Zarr in one run: stages the arrays share (a common input, a
/// reduction) are computed once. Each output is complete or absent; when any output fails,
/// none is left.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-store-all-{}", std::process::id()));
/// let x = ChunkedArray::<f64>::random(&[100, 100], &[50, 50]);
/// let anomaly = &x - x.mean().as_array();
/// let opts = rask::ZarrOptions::default();
/// rask::store_all(&[
///     x.zarr_target(dir.join("x.zarr"), &opts),
///     anomaly.zarr_target(dir.join("anomaly.zarr"), &opts),
/// ])?;
/// assert!(rask::open_zarr(dir.join("anomaly.zarr"))?.shape() == [100, 100]);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn store_all(targets: &[ZarrTarget]) -> Result<RunStats> {
    store_all_with(targets, &Config::default())
}

/// Creates a Zarr V3 group at `path` (a directory holding group metadata), with `attributes`,
/// so that arrays can be written into it as `path/name`. An existing V3 group is kept as it
/// is; anything else at `path` is an error.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-group-{}", std::process::id()));
/// let group = dir.join("scene.zarr");
/// rask::create_zarr_group(&group, &Default::default())?;
/// let red = ChunkedArray::<f32>::full(&[4, 4], &[2, 2], 0.25);
/// red.to_zarr(group.join("red"), &ZarrOptions::default())?;
/// assert_eq!(rask::open_zarr_typed::<f32>(group.join("red"))?.sum().compute()?, 4.0);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn create_zarr_group(path: impl AsRef<Path>, attributes: &Map<String, Value>) -> Result<()> {
    const OP: &str = "create_zarr_group";
    let path = path.as_ref();
    let meta = path.join("zarr.json");
    if path.exists() {
        let text = std::fs::read_to_string(&meta).map_err(|e| Error::io(OP, meta.display(), e))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| Error::storage(OP, meta.display(), None, e))?;
        if v.get("node_type") == Some(&json!("group")) && v.get("zarr_format") == Some(&json!(3)) {
            return Ok(());
        }
        return Err(Error::storage(
            OP,
            path.display(),
            None,
            "exists and is not a Zarr V3 group",
        ));
    }
    std::fs::create_dir_all(path).map_err(|e| Error::io(OP, path.display(), e))?;
    let doc = json!({"zarr_format": 3, "node_type": "group", "attributes": attributes});
    let text = serde_json::to_string_pretty(&doc)
        .map_err(|e| Error::storage(OP, meta.display(), None, e))?;
    std::fs::write(&meta, text).map_err(|e| Error::io(OP, meta.display(), e))
}

/// [`store_all_with`] in the background: a [`Job`](crate::Job) to watch, cancel or wait for.
/// A cancelled job leaves none of the outputs.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-store-job-{}", std::process::id()));
/// let x = ChunkedArray::<f64>::random(&[100, 100], &[50, 50]);
/// let o = ZarrOptions::default();
/// let targets = vec![x.zarr_target(dir.join("a.zarr"), &o), (&x * 2.0).zarr_target(dir.join("b.zarr"), &o)];
/// rask::store_all_async(targets, &Config::default()).wait()?;
/// assert!(dir.join("b.zarr").exists());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), rask::Error>(())
/// ```
pub fn store_all_async(targets: Vec<ZarrTarget>, config: &Config) -> crate::Job<RunStats> {
    crate::Job::spawn(config, move |c| store_all_with(&targets, c))
}

/// [`store_all`] with a [`Config`].
pub fn store_all_with(targets: &[ZarrTarget], config: &Config) -> Result<RunStats> {
    let mut exprs = Vec::with_capacity(targets.len());
    for t in targets {
        exprs.push(t.expr.clone()?);
    }
    for (i, t) in targets.iter().enumerate() {
        if targets[..i].iter().any(|u| u.path == t.path) {
            return Err(Error::arg(
                WRITE,
                format!("{} is named twice", t.path.display()),
            ));
        }
        if !t.options.overwrite && std::fs::symlink_metadata(&t.path).is_ok() {
            return Err(Error::arg(
                WRITE,
                format!(
                    "{} already exists (set overwrite to replace it)",
                    t.path.display()
                ),
            ));
        }
    }
    let mut staged: Vec<Staged> = Vec::with_capacity(targets.len());
    let mut sinks: Vec<Arc<dyn Collect>> = Vec::with_capacity(targets.len());
    for (t, e) in targets.iter().zip(&exprs) {
        let options = with_geo_attributes(&t.options, e.geo.as_deref());
        let (st, array, record) = if options.resume {
            Staged::resume(&t.path, e, &t.chunks, &options)?
        } else {
            let st = Staged::create(&t.path)?;
            let array = create_array(&st.tmp, &t.path, e, &t.chunks, &options)?;
            (st, array, None)
        };
        let raw_dir = is_raw_layout(&array).then(|| st.tmp.clone());
        let sink = with_dtype!(e.dtype, T => Arc::new(ZarrSink::<T> {
            raw_dir: raw_dir.clone(),
            array,
            path: t.path.display().to_string(),
            blocks: e.grid.chunk_shape(),
            faults: t.options.faults.clone(),
            record: record.clone(),
            _t: std::marker::PhantomData,
        }) as Arc<dyn Collect>);
        staged.push(st);
        sinks.push(sink);
    }
    let stats = crate::compute::run_into(&exprs, &sinks, config)?;
    drop(sinks);
    for st in &mut staged {
        st.commit()?;
    }
    Ok(stats)
}

/// The name of the completion record inside a resumable write's directory.
const RECORD: &str = ".rask-done";

/// The per-block completion record of a resumable write: an append-only file of lines
/// `i,j,k c/i/j/k`, one per chunk whose write completed, appended after the chunk was
/// written. A line cut short by a crash has no newline and is ignored (and cut off before
/// the next append).
struct Record {
    file: std::sync::Mutex<std::fs::File>,
    path: PathBuf,
    done: std::collections::HashSet<Vec<usize>>,
}

impl Record {
    /// Opens (or creates) the record at `path`, keeping the entries that name a block of
    /// `grid` with its chunk key `key_of(block)`.
    fn open(
        path: PathBuf,
        grid: &ChunkGrid,
        key_of: impl Fn(&[usize]) -> String,
    ) -> Result<Record> {
        use std::io::{Seek, SeekFrom};
        let shown = path.display().to_string();
        let io = |e| Error::io(WRITE, &shown, e);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io)?;
        let text = std::fs::read(&path).map_err(io)?;
        let complete = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            file.set_len(complete as u64).map_err(io)?;
            file.seek(SeekFrom::End(0)).map_err(io)?;
        }
        let n_axes = grid.ndim();
        let blocks = grid.blocks_per_axis();
        let mut done = std::collections::HashSet::new();
        for line in String::from_utf8_lossy(&text[..complete]).lines() {
            let Some((idx, key)) = line.split_once(' ') else {
                continue;
            };
            let idx: Option<Vec<usize>> = if idx.is_empty() {
                Some(Vec::new())
            } else {
                idx.split(',').map(|v| v.parse().ok()).collect()
            };
            if let Some(idx) = idx
                && idx.len() == n_axes
                && idx.iter().zip(&blocks).all(|(i, n)| i < n)
                && key_of(&idx) == key
            {
                done.insert(idx);
            }
        }
        Ok(Record {
            file: std::sync::Mutex::new(file),
            path,
            done,
        })
    }

    /// Appends block `idx` (chunk `key`) as written.
    fn append(&self, idx: &[usize], key: &str) -> Result<()> {
        use std::io::Write;
        let line = format!(
            "{} {key}\n",
            idx.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io(WRITE, self.path.display(), e))
    }
}

/// A temporary directory beside the output, removed on drop unless committed.
struct Staged {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
    /// Kept after a failure, to be resumed (see [`ZarrOptions::resume`]).
    keep: bool,
}

impl Staged {
    /// `dest` as shown in errors, its file name, and its parent directory (created if
    /// missing), where the staging directory goes.
    fn place(dest: &Path) -> Result<(String, String, PathBuf)> {
        let shown = dest.display().to_string();
        let name = dest
            .file_name()
            .ok_or_else(|| Error::arg(WRITE, format!("{shown} names no directory")))?
            .to_string_lossy()
            .into_owned();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| Error::io(WRITE, &shown, e))?;
        Ok((shown, name, parent))
    }

    fn create(dest: &Path) -> Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let (shown, name, parent) = Staged::place(dest)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = parent.join(format!(".{name}.rask-tmp-{}-{n}", std::process::id()));
        std::fs::create_dir(&tmp).map_err(|e| Error::io(WRITE, &shown, e))?;
        Ok(Staged {
            tmp,
            dest: dest.to_path_buf(),
            done: false,
            keep: false,
        })
    }

    /// The resumable staging directory of `dest` (see [`ZarrOptions::resume`]): the one an
    /// earlier run left, with its completion record, when its metadata matches this write's;
    /// else a fresh one.
    fn resume(
        dest: &Path,
        e: &Expr,
        chunks: &[usize],
        o: &ZarrOptions,
    ) -> Result<(Staged, Array<Store>, Option<Arc<Record>>)> {
        let (shown, name, parent) = Staged::place(dest)?;
        let tmp = parent.join(format!(".{name}.rask-partial"));
        let meta_files = ["zarr.json", ".zarray", ".zattrs"];
        let read_meta = |dir: &Path| -> Vec<Option<Vec<u8>>> {
            meta_files
                .iter()
                .map(|m| std::fs::read(dir.join(m)).ok())
                .collect()
        };
        let before = if tmp.is_dir() {
            Some(read_meta(&tmp))
        } else {
            std::fs::create_dir(&tmp).map_err(|e| Error::io(WRITE, &shown, e))?;
            None
        };
        let mut array = create_array(&tmp, dest, e, chunks, o)?;
        if before.is_some_and(|b| b != read_meta(&tmp)) {
            // Another array was being written here: start over.
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(WRITE, tmp.display(), e))?;
            std::fs::create_dir(&tmp).map_err(|e| Error::io(WRITE, &shown, e))?;
            array = create_array(&tmp, dest, e, chunks, o)?;
        }
        let key_of = |idx: &[usize]| {
            let idx: Vec<u64> = idx.iter().map(|&i| i as u64).collect();
            array.chunk_key(&idx).as_str().to_string()
        };
        let record = Record::open(tmp.join(RECORD), &e.grid, key_of)?;
        let staged = Staged {
            tmp,
            dest: dest.to_path_buf(),
            done: false,
            keep: true,
        };
        Ok((staged, array, Some(Arc::new(record))))
    }

    /// Moves the finished array into place (replacing what was there, for `overwrite`).
    fn commit(&mut self) -> Result<()> {
        let shown = self.dest.display().to_string();
        if self.keep {
            let record = self.tmp.join(RECORD);
            match std::fs::remove_file(&record) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(WRITE, record.display(), e));
                }
                _ => {}
            }
        }
        let mut old = self.tmp.clone().into_os_string();
        old.push(".old");
        let old = PathBuf::from(old);
        let had = std::fs::symlink_metadata(&self.dest).is_ok();
        if had {
            std::fs::rename(&self.dest, &old).map_err(|e| Error::io(WRITE, &shown, e))?;
        }
        if let Err(e) = std::fs::rename(&self.tmp, &self.dest) {
            if had {
                std::fs::rename(&old, &self.dest).ok();
            }
            return Err(Error::io(WRITE, &shown, e));
        }
        self.done = true;
        if had {
            let removed = if old.is_dir() {
                std::fs::remove_dir_all(&old)
            } else {
                std::fs::remove_file(&old)
            };
            removed.map_err(|e| Error::io(WRITE, old.display(), e))?;
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.done && !self.keep {
            std::fs::remove_dir_all(&self.tmp).ok();
        }
    }
}

/// Creates the array's metadata in `dir`.
fn create_array(
    dir: &Path,
    dest: &Path,
    e: &Expr,
    chunks: &[usize],
    o: &ZarrOptions,
) -> Result<Array<Store>> {
    let shown = dest.display().to_string();
    let dtype = e.dtype;
    let shape = e.shape();
    let fail = |m: String| Error::storage(WRITE, &shown, None, m);
    let metadata = match o.format {
        ZarrFormat::V3 => {
            let mut codecs = vec![json!({"name": "bytes", "configuration": {"endian": "little"}})];
            codecs.extend(v3_compressor(o.compression, dtype));
            if o.shards.is_some() {
                codecs = vec![json!({"name": "sharding_indexed", "configuration": {
                    "chunk_shape": chunks,
                    "codecs": codecs,
                    "index_codecs": [
                        {"name": "bytes", "configuration": {"endian": "little"}},
                        {"name": "crc32c"}
                    ],
                    "index_location": "end"
                }})];
            }
            let grid_chunks = o.shards.clone().unwrap_or_else(|| chunks.to_vec());
            let mut m = json!({
                "zarr_format": 3,
                "node_type": "array",
                "shape": shape,
                "data_type": dtype.name(),
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid_chunks}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": fill_value(dtype, e.geo.as_deref()),
                "codecs": codecs,
                "attributes": o.attributes,
            });
            if let Some(names) = &o.dimension_names {
                m["dimension_names"] = json!(names);
            }
            let m = serde_json::from_value(m).map_err(|e| fail(format!("metadata: {e}")))?;
            ArrayMetadata::V3(m)
        }
        ZarrFormat::V2 => {
            let mut attributes = o.attributes.clone();
            if let Some(names) = &o.dimension_names {
                attributes.insert("_ARRAY_DIMENSIONS".into(), json!(names));
            }
            let m = json!({
                "zarr_format": 2,
                "shape": shape,
                "chunks": chunks,
                "dtype": v2_dtype(dtype),
                "compressor": v2_compressor(o.compression, dtype),
                "fill_value": fill_value(dtype, e.geo.as_deref()),
                "order": "C",
                "filters": null,
                "dimension_separator": ".",
                "attributes": attributes,
            });
            let m = serde_json::from_value(m).map_err(|e| fail(format!("metadata: {e}")))?;
            ArrayMetadata::V2(m)
        }
    };
    let store = FaultyStore::new(
        FilesystemStore::new(dir).map_err(|e| fail(e.to_string()))?,
        o.faults.clone(),
    );
    let array = Array::new_with_metadata(Arc::new(store), "/", metadata)
        .map_err(|e| fail(e.to_string()))?;
    // Without zarrs' own `_zarrs` attribute: the attributes are the user's.
    let options = zarrs::array::ArrayMetadataOptions::default().with_include_zarrs_metadata(false);
    array
        .store_metadata_opt(&options)
        .map_err(|e| fail(e.to_string()))?;
    Ok(array)
}

/// The fill value: the nodata value when the array has one that the dtype holds, else zero.
fn fill_value(dtype: DType, geo: Option<&crate::geo::GeoInfo>) -> Value {
    if let Some(n) = geo.and_then(|g| g.nodata) {
        match dtype {
            DType::F32 | DType::F64 if n.is_nan() => return json!("NaN"),
            DType::F32 | DType::F64 if n.is_finite() => return json!(n),
            DType::Bool | DType::F32 | DType::F64 => {}
            _ => {
                let fits = with_dtype!(dtype, T => <T as Element>::from_f64(n).to_f64() == n);
                if fits && n.fract() == 0.0 {
                    return if n < 0.0 {
                        json!(n as i64)
                    } else {
                        json!(n as u64)
                    };
                }
            }
        }
    }
    match dtype {
        DType::Bool => json!(false),
        DType::F32 | DType::F64 => json!(0.0),
        _ => json!(0),
    }
}

fn v2_dtype(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "<f4",
        DType::F64 => "<f8",
        DType::I8 => "|i1",
        DType::I16 => "<i2",
        DType::I32 => "<i4",
        DType::I64 => "<i8",
        DType::U8 => "|u1",
        DType::U16 => "<u2",
        DType::U32 => "<u4",
        DType::U64 => "<u8",
        DType::Bool => "|b1",
    }
}

fn blosc_names(cname: BloscCompressor, shuffle: BloscShuffle) -> (&'static str, &'static str, u8) {
    let c = match cname {
        BloscCompressor::Lz4 => "lz4",
        BloscCompressor::Zstd => "zstd",
    };
    let (s3, s2) = match shuffle {
        BloscShuffle::None => ("noshuffle", 0),
        BloscShuffle::Shuffle => ("shuffle", 1),
        BloscShuffle::BitShuffle => ("bitshuffle", 2),
    };
    (c, s3, s2)
}

fn v3_compressor(c: Compression, dtype: DType) -> Option<Value> {
    Some(match c {
        Compression::None => return None,
        Compression::Zstd { level } => {
            json!({"name": "zstd", "configuration": {"level": level, "checksum": false}})
        }
        Compression::Gzip { level } => json!({"name": "gzip", "configuration": {"level": level}}),
        Compression::Zlib { level } => {
            json!({"name": "numcodecs.zlib", "configuration": {"level": level}})
        }
        Compression::Blosc {
            cname,
            level,
            shuffle,
        } => {
            let (c, s, _) = blosc_names(cname, shuffle);
            json!({"name": "blosc", "configuration": {
                "cname": c, "clevel": level, "shuffle": s, "typesize": dtype.size(), "blocksize": 0
            }})
        }
    })
}

fn v2_compressor(c: Compression, _dtype: DType) -> Value {
    match c {
        Compression::None => Value::Null,
        Compression::Zstd { level } => json!({"id": "zstd", "level": level}),
        Compression::Gzip { level } => json!({"id": "gzip", "level": level}),
        Compression::Zlib { level } => json!({"id": "zlib", "level": level}),
        Compression::Blosc {
            cname,
            level,
            shuffle,
        } => {
            let (c, _, s) = blosc_names(cname, shuffle);
            json!({"id": "blosc", "cname": c, "clevel": level, "shuffle": s, "blocksize": 0})
        }
    }
}

/// Writes each block it is given as one chunk (shard) of a Zarr array.
struct ZarrSink<T> {
    array: Array<Store>,
    path: String,
    /// The chunk (shard) shape: blocks are chunks, edge blocks are padded to it.
    blocks: Vec<usize>,
    /// The store's directory, when chunks are stored as plain bytes: whole blocks are then
    /// written straight to their chunk files.
    raw_dir: Option<std::path::PathBuf>,
    /// Faults to inject into chunk writes (tests).
    faults: Option<Arc<Faults>>,
    /// The completion record of a resumable write.
    record: Option<Arc<Record>>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Element + zarrs::array::Element> Collect for ZarrSink<T> {
    fn put(&self, block: &[usize], offset: &[usize], data: &BlockRef) -> Result<()> {
        self.write(block, offset, data)?;
        if let Some(r) = &self.record {
            let idx: Vec<u64> = block.iter().map(|&b| b as u64).collect();
            r.append(block, self.array.chunk_key(&idx).as_str())?;
        }
        Ok(())
    }
    fn name(&self) -> String {
        format!("to_zarr({})", self.path)
    }
    fn done(&self, block: &[usize]) -> bool {
        self.record.as_ref().is_some_and(|r| r.done.contains(block))
    }
}

impl<T: Element + zarrs::array::Element> ZarrSink<T> {
    /// Writes one block as one chunk (shard).
    fn write(&self, block: &[usize], _offset: &[usize], data: &BlockRef) -> Result<()> {
        let view = downcast::<T>(data);
        if view.is_empty() {
            // The one block of an empty array: Zarr stores no chunk for it.
            return Ok(());
        }
        let idx: Vec<u64> = block.iter().map(|&b| b as u64).collect();
        let key = || Some(self.array.chunk_key(&idx).as_str().to_string());
        if let (Some(dir), Some((_, shape, bytes))) = (&self.raw_dir, data.raw())
            && shape == self.blocks.as_slice()
        {
            let k = self.array.chunk_key(&idx).as_str().to_string();
            let file = dir.join(&k);
            let io = |e: std::io::Error| Error::storage(WRITE, &self.path, Some(k.clone()), e);
            if let Some(f) = &self.faults {
                f.before_write(&k).map_err(io)?;
            }
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent).map_err(io)?;
            }
            std::fs::write(&file, bytes).map_err(io)?;
            crate::exec::memory::record_written(bytes.len());
            return Ok(());
        }
        let result = if view.shape() == self.blocks.as_slice() {
            match view.as_slice() {
                Some(s) => self.array.store_chunk(&idx, s),
                None => self
                    .array
                    .store_chunk(&idx, view.as_standard_layout().as_slice().unwrap_or(&[])),
            }
        } else {
            // An edge block: Zarr chunks are whole, the part past the array's end holds the
            // fill value (the default of T).
            let mut full = ArrayD::<T>::default(IxDyn(&self.blocks));
            let sl: Vec<SliceInfoElem> = view
                .shape()
                .iter()
                .map(|&n| SliceInfoElem::from(0..n))
                .collect();
            full.slice_mut(sl.as_slice()).assign(&view);
            self.array.store_chunk(&idx, full.as_slice().unwrap_or(&[]))
        };
        result.map_err(|e| Error::storage(WRITE, &self.path, key(), e))?;
        crate::exec::memory::record_written(view.len() * std::mem::size_of::<T>());
        Ok(())
    }
}
