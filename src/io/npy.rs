//! `.npy` and raw little-endian binary files: lazy readers and parallel writers.
//!
//! Readers parse the `.npy` header (versions 1.0, 2.0 and 3.0) at open time and become a
//! block source: each block is read when the scheduler runs its task. With
//! [`ReadMode::Pread`] (the default) every block is read with positioned reads into an
//! aligned buffer from a reused pool, so a file that another process truncates meanwhile
//! gives an error, never a crash. With [`ReadMode::Map`] the file is memory-mapped, and a
//! block whose elements are one contiguous run of the file (a band of whole rows of a C-order
//! file, of whole columns of a Fortran-order one) is served as a view of the map without
//! copying; other blocks are copied out run by run. Map only files nothing else rewrites
//! while they are read: a truncated map raises `SIGBUS`.
//!
//! Writers preallocate the file under a temporary sibling name, write each block with
//! positioned writes as soon as it is computed (the array is never gathered), and rename the
//! file into place at the end: the target is complete or absent.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use crate::array::ChunkedArray;
use crate::block::{BlockRef, MappedBlock, downcast};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::stage::{Collect, for_each_index};
use crate::exec::{Config, RunStats};
use crate::grid::{ChunkGrid, checked_len};
use crate::plan::BlockSource;

/// The largest `.npy` header rask reads (NumPy's own default limit is 10 000 bytes).
const MAX_HEADER: usize = 1 << 20;
/// Data starts at a multiple of this in files rask writes (NumPy aligns to 64 too).
const HEADER_ALIGN: usize = 64;
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// How a file reader gets the bytes of a block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadMode {
    /// Memory-map the file. Blocks that are one contiguous run of the file are served as
    /// views of the map without copying; other blocks are copied out of it.
    ///
    /// A memory map of a file that another process truncates while it is mapped makes the
    /// reading thread fail with `SIGBUS`, which kills the process and which no library can
    /// turn into an error. rask checks the file's length before each block read and returns
    /// an error if it shrank, which catches truncation between reads but not during one (or
    /// while a zero-copy view is in use). Choose it only for files nothing else rewrites
    /// while you read them (files you own), where the zero-copy views are worth it.
    Map,
    /// Read each block with positioned reads (`pread`) into a 64-byte-aligned buffer from a
    /// reused pool (the default): a file truncated while it is read gives an error, never a
    /// signal. Costs one copy per block.
    #[default]
    Pread,
}

/// What the header of a `.npy` file says (see [`npy_info`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NpyInfo {
    /// The element type.
    pub dtype: DType,
    /// The array shape (empty for a 0-d array).
    pub shape: Vec<usize>,
    /// Whether the elements are stored in Fortran (column-major) order.
    pub fortran_order: bool,
    /// The format version, `(major, minor)`.
    pub version: (u8, u8),
    /// Where the elements start in the file, in bytes.
    pub data_offset: u64,
}

/// Reads the header of the `.npy` file at `path`: its dtype, shape and layout. Use it to pick
/// the element type before calling [`open_npy`] on a file of unknown dtype.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-npy-info-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("a.npy");
/// ChunkedArray::<i16>::ones(&[3, 4], &[2, 2]).to_npy(&path)?;
/// let info = rask::npy_info(&path)?;
/// assert_eq!((info.dtype, info.shape.as_slice()), (DType::I16, &[3, 4][..]));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn npy_info(path: impl AsRef<Path>) -> Result<NpyInfo> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io("npy_info", path.display(), e))?;
    read_header("npy_info", path, &file).map(|(info, _)| info)
}

/// Opens the `.npy` file at `path` as a lazy array cut into blocks of `chunks`, with
/// [`ReadMode::Pread`] (positioned reads). Nothing but the header is read until the array
/// is computed.
///
/// The file's dtype must be `T`'s ([`npy_info`] tells which it is); little-endian `f4 f8 i1
/// i2 i4 i8 u1 u2 u4 u8` and `b1`, C or Fortran order, any shape including 0-d and empty.
/// Errors name the path and the offending value: a bad magic string or header, a
/// big-endian or unsupported `descr`, a file shorter than its header says. A bool file
/// holding a byte other than 0 or 1 fails when that block is read.
///
/// A file truncated by another process while it is read gives an error naming the path and
/// the block. [`open_npy_with`] and [`ReadMode::Map`] map the file instead (zero-copy row
/// bands, for files nothing else rewrites meanwhile).
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-open-npy-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("x.npy");
/// ChunkedArray::<f64>::arange(10, 4).to_npy(&path)?;
/// let x = rask::open_npy::<f64>(&path, &[5])?;
/// assert_eq!(x.sum().compute()?, 45.0);
/// assert!(rask::open_npy::<f32>(&path, &[5]).unwrap_err().to_string().contains("found float64"));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_npy<T: Element>(path: impl AsRef<Path>, chunks: &[usize]) -> Result<ChunkedArray<T>> {
    open_npy_with(path, chunks, ReadMode::default())
}

/// [`open_npy`] with a [`ReadMode`].
pub fn open_npy_with<T: Element>(
    path: impl AsRef<Path>,
    chunks: &[usize],
    mode: ReadMode,
) -> Result<ChunkedArray<T>> {
    const OP: &str = "open_npy";
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(OP, path.display(), e))?;
    let (info, file_len) = read_header(OP, path, &file)?;
    let layout = Layout {
        dtype: info.dtype,
        shape: info.shape,
        fortran: info.fortran_order,
        data_offset: info.data_offset,
    };
    let data_bytes = layout.data_bytes(OP, path)?;
    if file_len < info.data_offset.saturating_add(data_bytes as u64) {
        return Err(Error::storage(
            OP,
            path.display(),
            None,
            format!(
                "file is {file_len} bytes, shorter than its header ({} bytes) and data \
                 ({data_bytes} bytes for shape {:?} of {}) need",
                info.data_offset,
                layout.shape,
                layout.dtype.name()
            ),
        ));
    }
    open_layout::<T>(OP, path, file, layout, chunks, mode)
}

/// Opens a raw binary file of little-endian elements of `T`, in C order, as a lazy array of
/// `shape` cut into blocks of `chunks` (read with positioned reads, see [`ReadMode`]).
///
/// The file's size must be exactly the elements' size, else the error names the path, the
/// expected and the actual byte counts.
///
/// ```
/// use rask::prelude::*;
/// let dir = std::env::temp_dir().join(format!("rask-doc-open-raw-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("x.u16");
/// ChunkedArray::<u16>::full(&[4, 6], &[2, 3], 7).to_raw(&path)?;
/// assert_eq!(std::fs::metadata(&path)?.len(), 48);
/// let x = rask::open_raw::<u16>(&path, &[4, 6], &[4, 2])?;
/// assert_eq!(x.max().compute()?, 7);
/// assert!(rask::open_raw::<u16>(&path, &[5, 6], &[5, 6]).is_err());
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open_raw<T: Element>(
    path: impl AsRef<Path>,
    shape: &[usize],
    chunks: &[usize],
) -> Result<ChunkedArray<T>> {
    open_raw_with(path, shape, chunks, ReadMode::default())
}

/// [`open_raw`] with a [`ReadMode`].
pub fn open_raw_with<T: Element>(
    path: impl AsRef<Path>,
    shape: &[usize],
    chunks: &[usize],
    mode: ReadMode,
) -> Result<ChunkedArray<T>> {
    const OP: &str = "open_raw";
    let path = path.as_ref();
    let layout = Layout {
        dtype: T::DTYPE,
        shape: shape.to_vec(),
        fortran: false,
        data_offset: 0,
    };
    let expected = layout.data_bytes(OP, path)?;
    let file = File::open(path).map_err(|e| Error::io(OP, path.display(), e))?;
    let actual = file
        .metadata()
        .map_err(|e| Error::io(OP, path.display(), e))?
        .len();
    if actual != expected as u64 {
        return Err(Error::storage(
            OP,
            path.display(),
            None,
            format!(
                "file is {actual} bytes, but shape {shape:?} of {} needs {expected} bytes",
                T::DTYPE.name()
            ),
        ));
    }
    open_layout::<T>(OP, path, file, layout, chunks, mode)
}

impl<T: Element> ChunkedArray<T> {
    /// Computes the array into a `.npy` file at `path` (format 1.0, or 2.0 for huge headers;
    /// C order), with the default [`Config`]. Blocks are written as they are computed, in
    /// parallel, so the array is never held in memory. The file is written under a temporary
    /// sibling name and renamed at the end: on error `path` is left as it was.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let dir = std::env::temp_dir().join(format!("rask-doc-to-npy-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let path = dir.join("r.npy");
    /// let x = ChunkedArray::<f32>::random(&[300, 200], &[100, 100]);
    /// x.to_npy(&path)?;
    /// let back = rask::open_npy::<f32>(&path, &[300, 50])?.compute()?;
    /// assert_eq!(back, x.compute()?);
    /// # std::fs::remove_dir_all(&dir).ok();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_npy_with(path, &Config::default()).map(|_| ())
    }

    /// [`to_npy`](Self::to_npy) with a [`Config`]; returns what the run did.
    pub fn to_npy_with(&self, path: impl AsRef<Path>, config: &Config) -> Result<RunStats> {
        let shape = self.expr_ref()?.shape().to_vec();
        let header = npy_header(T::DTYPE, &shape);
        self.write_file("to_npy", path.as_ref(), header, config)
    }

    /// Computes the array into a raw binary file at `path`: its elements in C order,
    /// little-endian, no header (read it back with [`open_raw`]). Written like
    /// [`to_npy`](Self::to_npy): in parallel, complete or absent.
    pub fn to_raw(&self, path: impl AsRef<Path>) -> Result<()> {
        self.to_raw_with(path, &Config::default()).map(|_| ())
    }

    /// [`to_raw`](Self::to_raw) with a [`Config`]; returns what the run did.
    pub fn to_raw_with(&self, path: impl AsRef<Path>, config: &Config) -> Result<RunStats> {
        self.write_file("to_raw", path.as_ref(), Vec::new(), config)
    }

    fn write_file(
        &self,
        op: &'static str,
        path: &Path,
        header: Vec<u8>,
        config: &Config,
    ) -> Result<RunStats> {
        check_little_endian(op, path)?;
        let expr = self.expr_ref()?.clone();
        let layout = Layout {
            dtype: T::DTYPE,
            shape: expr.shape().to_vec(),
            fortran: false,
            data_offset: header.len() as u64,
        };
        let data_bytes = layout.data_bytes(op, path)?;
        let total = (header.len() as u64)
            .checked_add(data_bytes as u64)
            .ok_or_else(|| Error::arg(op, format!("{data_bytes} bytes do not fit in a file")))?;
        let tmp = TempFile::create(op, path)?;
        let io = |e| Error::io(op, tmp.path.display(), e);
        write_at(&tmp.file, &header, 0).map_err(io)?;
        tmp.file.set_len(total).map_err(io)?;
        let sink = Arc::new(FileSink::<T> {
            op,
            path: path.to_path_buf(),
            file: tmp.file.try_clone().map_err(io)?,
            layout,
            _t: std::marker::PhantomData,
        });
        let stats = crate::compute::run_into(&[expr], &[sink as Arc<dyn Collect>], config)?;
        tmp.commit(op, path)?;
        Ok(stats)
    }
}

// ---------------------------------------------------------------- layout and block runs

/// Where an array's elements lie in a file.
#[derive(Clone, Debug)]
struct Layout {
    dtype: DType,
    shape: Vec<usize>,
    fortran: bool,
    data_offset: u64,
}

impl Layout {
    /// The bytes of all elements, or an error when that overflows.
    fn data_bytes(&self, op: &str, path: &Path) -> Result<usize> {
        checked_len(op, &self.shape)
            .ok()
            .and_then(|n| n.checked_mul(self.dtype.size()))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| {
                Error::storage(
                    op,
                    path.display(),
                    None,
                    format!(
                        "shape {:?} of {} has more bytes than fit in memory",
                        self.shape,
                        self.dtype.name()
                    ),
                )
            })
    }

    /// The shape, block offset and block shape in the file's own C order (axes reversed for a
    /// Fortran-order file).
    fn file_order(&self, offset: &[usize], shape: &[usize]) -> [Vec<usize>; 3] {
        let order = |v: &[usize]| -> Vec<usize> {
            if self.fortran {
                v.iter().rev().copied().collect()
            } else {
                v.to_vec()
            }
        };
        [order(&self.shape), order(offset), order(shape)]
    }
}

/// The contiguous runs of a block (at `off`, of shape `b`) of a C-order array of shape
/// `full`: calls `f(element index in the array, element index in the block, run length)` in
/// order.
fn block_runs(full: &[usize], off: &[usize], b: &[usize], mut f: impl FnMut(usize, usize, usize)) {
    let nd = full.len();
    // The innermost axis the block does not span: runs cover it and every axis inside it.
    let k = (0..nd).rev().find(|&k| b[k] != full[k]);
    let Some(k) = k else {
        f(0, 0, full.iter().product());
        return;
    };
    let mut strides = vec![1usize; nd];
    for j in (0..nd.saturating_sub(1)).rev() {
        strides[j] = strides[j + 1] * full[j + 1];
    }
    let run = b[k] * strides[k];
    let ranges: Vec<(usize, usize)> = b[..k].iter().map(|&n| (0, n)).collect();
    let mut dst = 0;
    for_each_index(&ranges, |idx| {
        let src: usize = idx
            .iter()
            .enumerate()
            .map(|(j, &i)| (off[j] + i) * strides[j])
            .sum::<usize>()
            + off[k] * strides[k];
        f(src, dst, run);
        dst += run;
    });
}

/// Whether the block is one contiguous run of the (C-order) file: every axis inside the
/// innermost partial one is full, and every axis outside it is 1 long.
fn is_contiguous(full: &[usize], b: &[usize]) -> bool {
    match (0..full.len()).rev().find(|&k| b[k] != full[k]) {
        None => true,
        Some(k) => b[..k].iter().all(|&n| n == 1),
    }
}

/// The C-order element index of `off` in an array of shape `full`.
fn linear(full: &[usize], off: &[usize]) -> usize {
    full.iter().zip(off).fold(0, |acc, (&n, &i)| acc * n + i)
}

// ---------------------------------------------------------------- the reader

fn open_layout<T: Element>(
    op: &'static str,
    path: &Path,
    file: File,
    layout: Layout,
    chunks: &[usize],
    mode: ReadMode,
) -> Result<ChunkedArray<T>> {
    let (grid, source) = file_source::<T>(op, path, file, layout, chunks, mode)?;
    let expr = crate::compute::source_expr(grid, T::DTYPE, Arc::new(source));
    Ok(ChunkedArray::from_result(Ok(expr)))
}

/// The grid and the block source of a file.
fn file_source<T: Element>(
    op: &'static str,
    path: &Path,
    file: File,
    layout: Layout,
    chunks: &[usize],
    mode: ReadMode,
) -> Result<(ChunkGrid, FileSource<T>)> {
    if layout.dtype != T::DTYPE {
        return Err(Error::DType {
            op: format!("{op}({})", path.display()),
            expected: T::DTYPE,
            found: layout.dtype,
        });
    }
    check_little_endian(op, path)?;
    let mut grid = ChunkGrid::regular_for(op, &layout.shape, chunks)?;
    if layout.shape.contains(&0) {
        // An empty array is one (empty) block: chunks of 1 along a huge axis of an empty
        // array would make billions of empty tasks (found by the fuzzer: a hang).
        let whole: Vec<usize> = layout.shape.iter().map(|&n| n.max(1)).collect();
        grid = ChunkGrid::regular_for(op, &layout.shape, &whole)?;
    }
    let data_bytes = layout.data_bytes(op, path)?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(op, path.display(), e))?;
    let map = if mode == ReadMode::Map && data_bytes > 0 {
        // SAFETY: the map is only read. Another process may truncate the file while it is
        // mapped (a read of the lost pages raises SIGBUS); `produce` checks the length before
        // each block read, and the docs of `ReadMode::Map` say what remains.
        let m =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(op, path.display(), e))?;
        Some(Arc::new(m))
    } else {
        None
    };
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let key = format!(
        "{op}:{}:{}:{:?}:{}:{}:{mode:?}",
        canonical.display(),
        meta.len(),
        meta.modified().ok(),
        layout.data_offset,
        layout.fortran
    );
    let source = FileSource {
        op,
        path: path.to_path_buf(),
        file,
        needed: layout.data_offset + data_bytes as u64,
        layout,
        map,
        key,
        _t: std::marker::PhantomData::<fn() -> T>,
    };
    Ok((grid, source))
}

/// The blocks of an array stored in a file (a `.npy` file or raw binary).
struct FileSource<T> {
    op: &'static str,
    path: PathBuf,
    file: File,
    layout: Layout,
    /// The file length the layout needs.
    needed: u64,
    map: Option<Arc<memmap2::Mmap>>,
    key: String,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> FileSource<T> {
    fn err(&self, block: &[usize], message: impl std::fmt::Display) -> Error {
        Error::storage(
            self.op,
            self.path.display(),
            Some(format!("{block:?}")),
            message,
        )
    }

    /// Fails if the file is now shorter than the layout needs (truncated since it was
    /// opened): reading a lost page of a map would raise SIGBUS.
    fn check_len(&self, block: &[usize]) -> Result<()> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io(self.op, self.path.display(), e))?
            .len();
        if len < self.needed {
            return Err(self.err(
                block,
                format!(
                    "the file shrank to {len} bytes since it was opened, {} are needed \
                     (was it truncated or rewritten?)",
                    self.needed
                ),
            ));
        }
        Ok(())
    }

    /// Copies the block's bytes (in the file's order) into `dst`.
    fn copy_bytes(
        &self,
        fshape: &[usize],
        foff: &[usize],
        fb: &[usize],
        dst: &mut [u8],
    ) -> Result<()> {
        let size = self.layout.dtype.size();
        let base = self.layout.data_offset as usize;
        if let Some(map) = &self.map {
            let src: &[u8] = map;
            block_runs(fshape, foff, fb, |s, d, n| {
                let s = base + s * size;
                dst[d * size..(d + n) * size].copy_from_slice(&src[s..s + n * size]);
            });
            return Ok(());
        }
        // Positioned reads; runs close together are read as one span and scattered, so a
        // block of narrow rows costs few system calls.
        const GAP: usize = 64 << 10;
        const SPAN: usize = 16 << 20;
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        block_runs(fshape, foff, fb, |s, d, n| {
            runs.push((s * size, d * size, n * size))
        });
        let mut scratch = Vec::new();
        let mut i = 0;
        while i < runs.len() {
            let start = runs[i].0;
            let mut j = i + 1;
            while j < runs.len()
                && runs[j].0 - (runs[j - 1].0 + runs[j - 1].2) <= GAP
                && runs[j].0 + runs[j].2 - start <= SPAN
            {
                j += 1;
            }
            let end = runs[j - 1].0 + runs[j - 1].2;
            let pos = self.layout.data_offset + start as u64;
            if j == i + 1 {
                let (_, d, n) = runs[i];
                read_at(&self.file, &mut dst[d..d + n], pos)
            } else {
                scratch.resize(end - start, 0);
                read_at(&self.file, &mut scratch, pos).map(|()| {
                    for &(s, d, n) in &runs[i..j] {
                        dst[d..d + n].copy_from_slice(&scratch[s - start..s - start + n]);
                    }
                })
            }
            .map_err(|e| Error::io(self.op, self.path.display(), e))?;
            i = j;
        }
        Ok(())
    }

    fn check_bools(&self, block: &[usize], bytes: &[u8]) -> Result<()> {
        match bytes.iter().position(|&b| b > 1) {
            None => Ok(()),
            Some(i) => Err(self.err(
                block,
                format!(
                    "byte {} of the block is {}, not a bool (0 or 1): the file is corrupt",
                    i, bytes[i]
                ),
            )),
        }
    }
}

impl<T: Element> BlockSource for FileSource<T> {
    fn produce(&self, block: &[usize], offset: &[usize], shape: &[usize]) -> Result<BlockRef> {
        let n: usize = shape.iter().product();
        let dim = IxDyn(shape).set_f(self.layout.fortran);
        if n == 0 {
            return Ok(Arc::new(ArrayD::<T>::default(IxDyn(shape))));
        }
        self.check_len(block)?;
        crate::exec::memory::record_read(n * self.layout.dtype.size());
        let [fshape, foff, fb] = self.layout.file_order(offset, shape);
        let size = self.layout.dtype.size();
        if let Some(map) = &self.map
            && is_contiguous(&fshape, &fb)
        {
            let start = self.layout.data_offset as usize + linear(&fshape, &foff) * size;
            if T::DTYPE == DType::Bool {
                self.check_bools(block, &map[start..start + n])?;
            }
            let bytes: Arc<dyn AsRef<[u8]> + Send + Sync> = map.clone();
            if let Some(m) = MappedBlock::new(bytes, start, T::DTYPE, shape, self.layout.fortran) {
                return Ok(Arc::new(m));
            }
        }
        if self.map.is_none()
            && (!self.layout.fortran || shape.len() <= 1)
            && let Some(mut buf) = crate::io::buffer::PooledBuf::take(n * size)
        {
            // C order: the block's bytes in file order are its standard layout. Read straight
            // into an aligned, reused buffer (no zeroing, no fresh pages).
            self.copy_bytes(&fshape, &foff, &fb, buf.as_mut_slice())?;
            if T::DTYPE == DType::Bool {
                self.check_bools(block, buf.as_ref())?;
            }
            if let Some(m) = MappedBlock::new(Arc::new(buf), 0, T::DTYPE, shape, false) {
                return Ok(Arc::new(m.on_heap()));
            }
        }
        let a: ArrayD<T> = if T::DTYPE == DType::Bool {
            let mut buf = vec![0u8; n];
            self.copy_bytes(&fshape, &foff, &fb, &mut buf)?;
            self.check_bools(block, &buf)?;
            let v: Vec<T> = buf
                .iter()
                .map(|&b| {
                    // `T` is `bool` here; go through `Any` to name it.
                    *(&(b != 0) as &dyn std::any::Any)
                        .downcast_ref::<T>()
                        .expect("T is bool")
                })
                .collect();
            ArrayD::from_shape_vec(dim, v)
        } else {
            let mut v = vec![T::default(); n];
            // SAFETY: `T` is a plain numeric type (not bool: handled above) for which every
            // bit pattern is a valid value; the slice covers exactly `v`'s elements.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, n * size) };
            self.copy_bytes(&fshape, &foff, &fb, dst)?;
            ArrayD::from_shape_vec(dim, v)
        }
        .map_err(|e| self.err(block, format!("internal: block shape: {e}")))?;
        // Fortran-order blocks are copied in the file's order, then into standard layout.
        Ok(Arc::new(a.as_standard_layout().into_owned()))
    }

    fn name(&self) -> String {
        format!("{}({})", self.op, self.path.display())
    }

    fn key(&self) -> Option<String> {
        Some(self.key.clone())
    }

    fn rereadable(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- the writer

/// Writes each block of an output at its place in a preallocated file.
struct FileSink<T> {
    op: &'static str,
    path: PathBuf,
    file: File,
    layout: Layout,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Element> Collect for FileSink<T> {
    fn put(&self, _block: &[usize], offset: &[usize], data: &BlockRef) -> Result<()> {
        let v = downcast::<T>(data);
        let v = v.as_standard_layout();
        let s = v.as_slice().expect("standard layout");
        // SAFETY: every element type is plain data without padding (bools are 0 or 1), so its
        // elements may be read as bytes; the slice covers exactly `s`.
        let bytes = unsafe {
            std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s))
        };
        let size = self.layout.dtype.size();
        let mut result = Ok(());
        block_runs(&self.layout.shape, offset, v.shape(), |src, dst, n| {
            if result.is_ok() {
                let pos = self.layout.data_offset + (src * size) as u64;
                result = write_at(&self.file, &bytes[dst * size..(dst + n) * size], pos);
            }
        });
        result.map_err(|e| Error::io(self.op, self.path.display(), e))?;
        crate::exec::memory::record_written(bytes.len());
        Ok(())
    }

    fn name(&self) -> String {
        format!("{}({})", self.op, self.path.display())
    }
}

/// A file under a temporary sibling name of its target, removed unless committed.
struct TempFile {
    path: PathBuf,
    file: File,
    committed: bool,
}

impl TempFile {
    fn create(op: &str, target: &Path) -> Result<TempFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target
            .file_name()
            .ok_or_else(|| Error::arg(op, format!("{} does not name a file", target.display())))?;
        let tmp_name = format!(
            ".{}.rask-{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = target.with_file_name(tmp_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(op, path.display(), e))?;
        Ok(TempFile {
            path,
            file,
            committed: false,
        })
    }

    /// Renames the file to `target`.
    fn commit(mut self, op: &str, target: &Path) -> Result<()> {
        std::fs::rename(&self.path, target).map_err(|e| Error::io(op, target.display(), e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

// ---------------------------------------------------------------- the header

/// The header of a `.npy` file holding a C-order array of `dtype` and `shape`, padded so
/// that the data starts at a multiple of 64 bytes.
fn npy_header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {dims}, }}",
        descr_of(dtype)
    );
    // Version 1.0 stores the header length in 2 bytes, 2.0 in 4.
    let (version, prefix) = if dict.len() + 1 + 10 + HEADER_ALIGN <= u16::MAX as usize {
        (1u8, 10)
    } else {
        (2u8, 12)
    };
    let total = (prefix + dict.len() + 1).next_multiple_of(HEADER_ALIGN);
    dict.push_str(&" ".repeat(total - prefix - dict.len() - 1));
    dict.push('\n');
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

fn descr_of(dtype: DType) -> &'static str {
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

fn dtype_of_descr(descr: &str) -> Option<DType> {
    Some(match descr {
        "<f4" => DType::F32,
        "<f8" => DType::F64,
        "|i1" | "<i1" => DType::I8,
        "<i2" => DType::I16,
        "<i4" => DType::I32,
        "<i8" => DType::I64,
        "|u1" | "<u1" => DType::U8,
        "<u2" => DType::U16,
        "<u4" => DType::U32,
        "<u8" => DType::U64,
        "|b1" => DType::Bool,
        _ => return None,
    })
}

/// Reads and checks the header of an open `.npy` file; returns it with the file's length.
fn read_header(op: &str, path: &Path, file: &File) -> Result<(NpyInfo, u64)> {
    let bad = |m: String| Error::storage(op, path.display(), None, m);
    let io = |e| Error::io(op, path.display(), e);
    let file_len = file.metadata().map_err(io)?.len();
    let mut pre = [0u8; 12];
    let have = (file_len as usize).min(12);
    read_at(file, &mut pre[..have], 0).map_err(io)?;
    if have < 10 || &pre[..6] != MAGIC {
        return Err(bad(format!(
            "not a .npy file: it starts with {:?}, not the magic string \"\\x93NUMPY\"",
            String::from_utf8_lossy(&pre[..have.min(6)])
        )));
    }
    let version = (pre[6], pre[7]);
    let (prefix, header_len) = match version {
        (1, 0) => (10usize, u16::from_le_bytes([pre[8], pre[9]]) as usize),
        (2, 0) | (3, 0) => {
            if have < 12 {
                return Err(bad(format!(
                    "file of {file_len} bytes ends inside its header"
                )));
            }
            (
                12,
                u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            )
        }
        (a, b) => return Err(bad(format!("unsupported .npy format version {a}.{b}"))),
    };
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "header length {header_len} bytes is over the limit of {MAX_HEADER} bytes"
        )));
    }
    let data_offset = (prefix + header_len) as u64;
    if file_len < data_offset {
        return Err(bad(format!(
            "file is {file_len} bytes, shorter than its {data_offset}-byte header"
        )));
    }
    let mut text = vec![0u8; header_len];
    read_at(file, &mut text, prefix as u64).map_err(io)?;
    // Versions 1 and 2 are latin-1, 3 is UTF-8; every header NumPy writes for the dtypes
    // rask reads is ASCII.
    let text = String::from_utf8_lossy(&text);
    let dict = match PyParser::new(&text).dict() {
        Ok(d) => d,
        Err(m) => return Err(bad(format!("bad header {:?}: {m}", text.trim_end()))),
    };
    let get = |k: &str| dict.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let keys: Vec<&str> = dict.iter().map(|(k, _)| k.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    if sorted != ["descr", "fortran_order", "shape"] {
        return Err(bad(format!(
            "header keys are {keys:?}, expected 'descr', 'fortran_order' and 'shape'"
        )));
    }
    let dtype = match get("descr") {
        Some(Py::Str(s)) => dtype_of_descr(s).ok_or_else(|| {
            bad(format!(
                "unsupported descr '{s}'{}; rask reads little-endian <f4 <f8 <i1 <i2 <i4 <i8 \
                 <u1 <u2 <u4 <u8 and |b1",
                if s.starts_with('>') {
                    " (big-endian)"
                } else {
                    ""
                }
            ))
        })?,
        Some(v) => return Err(bad(format!("unsupported descr {v} (structured dtype)"))),
        None => unreachable!("keys checked"),
    };
    let fortran_order = match get("fortran_order") {
        Some(Py::Bool(b)) => *b,
        Some(v) => return Err(bad(format!("fortran_order is {v}, not True or False"))),
        None => unreachable!("keys checked"),
    };
    let shape = match get("shape") {
        Some(Py::Tuple(items)) => items
            .iter()
            .map(|v| match v {
                Py::Int(n) => usize::try_from(*n).ok(),
                _ => None,
            })
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| {
                bad(format!(
                    "shape {} is not a tuple of sizes",
                    Py::Tuple(items.clone())
                ))
            })?,
        Some(v) => return Err(bad(format!("shape {v} is not a tuple"))),
        None => unreachable!("keys checked"),
    };
    if checked_len(op, &shape).is_err() {
        return Err(bad(format!(
            "shape {shape:?} is too large (its non-zero axes multiply past isize::MAX)"
        )));
    }
    Ok((
        NpyInfo {
            dtype,
            shape,
            fortran_order,
            version,
            data_offset,
        },
        file_len,
    ))
}

/// A Python literal, as `.npy` headers hold.
#[derive(Clone, Debug)]
enum Py {
    Str(String),
    Bool(bool),
    None,
    Int(u64),
    Tuple(Vec<Py>),
    Dict(Vec<(String, Py)>),
}

impl std::fmt::Display for Py {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, items: &[Py]| -> std::fmt::Result {
            write!(f, "(")?;
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{v}")?;
            }
            write!(f, ")")
        };
        match self {
            Py::Str(s) => write!(f, "'{s}'"),
            Py::Bool(b) => write!(f, "{}", if *b { "True" } else { "False" }),
            Py::None => write!(f, "None"),
            Py::Int(n) => write!(f, "{n}"),
            Py::Tuple(items) => list(f, items),
            Py::Dict(kv) => {
                write!(f, "{{")?;
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "'{k}': {v}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A parser for the Python literals of `.npy` headers: dicts, tuples, lists, strings, ints,
/// `True`, `False`, `None`. Nesting is limited, so a hostile header cannot exhaust the stack.
struct PyParser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> PyParser<'a> {
    fn new(s: &'a str) -> Self {
        PyParser {
            s: s.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn unexpected(&self) -> String {
        match self.s.get(self.i) {
            Some(&c) => format!("unexpected {:?} at byte {}", c as char, self.i),
            None => "unexpected end".to_string(),
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?}: {}", c as char, self.unexpected()))
        }
    }

    /// The whole header: one dict, then only whitespace.
    fn dict(mut self) -> Result<Vec<(String, Py)>, String> {
        let v = self.value()?;
        if self.peek().is_some() {
            return Err(self.unexpected());
        }
        match v {
            Py::Dict(kv) => Ok(kv),
            v => Err(format!("header is {v}, not a dict")),
        }
    }

    fn value(&mut self) -> Result<Py, String> {
        self.depth += 1;
        if self.depth > 32 {
            return Err("nested too deeply".into());
        }
        let v = match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut kv = Vec::new();
                while self.peek() != Some(b'}') {
                    let k = match self.value()? {
                        Py::Str(k) => k,
                        k => return Err(format!("dict key {k} is not a string")),
                    };
                    self.expect(b':')?;
                    kv.push((k, self.value()?));
                    if self.peek() != Some(b'}') {
                        self.expect(b',')?;
                    }
                }
                self.i += 1;
                Py::Dict(kv)
            }
            Some(open @ (b'(' | b'[')) => {
                let close = if open == b'(' { b')' } else { b']' };
                self.i += 1;
                let mut items = Vec::new();
                while self.peek() != Some(close) {
                    items.push(self.value()?);
                    if self.peek() != Some(close) {
                        self.expect(b',')?;
                    }
                }
                self.i += 1;
                Py::Tuple(items)
            }
            Some(q @ (b'\'' | b'"')) => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err("unterminated string".into()),
                        Some(&c) if c == q => break,
                        Some(b'\\') => {
                            let c = *self.s.get(self.i + 1).ok_or("unterminated string")?;
                            out.push(c);
                            self.i += 2;
                        }
                        Some(&c) => {
                            out.push(c);
                            self.i += 1;
                        }
                    }
                }
                self.i += 1;
                Py::Str(String::from_utf8_lossy(&out).into_owned())
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let digits = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
                // Python 2 wrote longs with an `L` suffix.
                if matches!(self.s.get(self.i), Some(b'L' | b'l')) {
                    self.i += 1;
                }
                Py::Int(
                    digits
                        .parse()
                        .map_err(|_| format!("integer {digits} is too large"))?,
                )
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                    self.i += 1;
                }
                match &self.s[start..self.i] {
                    b"True" => Py::Bool(true),
                    b"False" => Py::Bool(false),
                    b"None" => Py::None,
                    w => return Err(format!("unknown name {:?}", String::from_utf8_lossy(w))),
                }
            }
            _ => return Err(self.unexpected()),
        };
        self.depth -= 1;
        Ok(v)
    }
}

// ---------------------------------------------------------------- platform

fn check_little_endian(op: &str, path: &Path) -> Result<()> {
    if cfg!(target_endian = "big") {
        return Err(Error::arg(
            op,
            format!(
                "{}: rask reads and writes little-endian files only on little-endian machines",
                path.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], pos: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut pos: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, pos)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut pos: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, pos)? {
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rask-npy-unit-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn header_is_aligned_and_parses_back() {
        for shape in [vec![], vec![0], vec![7], vec![3, 4, 5]] {
            let h = npy_header(DType::F64, &shape);
            assert_eq!(h.len() % HEADER_ALIGN, 0);
            let d = PyParser::new(std::str::from_utf8(&h[10..]).unwrap())
                .dict()
                .unwrap();
            assert_eq!(d.len(), 3, "{d:?}");
        }
    }

    #[test]
    fn runs_cover_a_block() {
        let mut got = Vec::new();
        block_runs(&[4, 5, 6], &[1, 2, 0], &[2, 3, 6], |s, d, n| {
            got.push((s, d, n))
        });
        assert_eq!(got, vec![(42, 0, 18), (72, 18, 18)]);
        assert!(is_contiguous(&[4, 5, 6], &[1, 3, 6]));
        assert!(!is_contiguous(&[4, 5, 6], &[2, 3, 6]));
        assert!(is_contiguous(&[4, 5, 6], &[1, 1, 2]));
    }

    /// A row band of a C-order file is a view of the map: its data pointer lies inside it.
    #[test]
    fn row_bands_are_views_of_the_map() {
        let path = dir("zero-copy").join("a.npy");
        ChunkedArray::<f64>::arange(40_000, 10_000)
            .reshape(&[200, 200])
            .to_npy(&path)
            .unwrap();
        let file = File::open(&path).unwrap();
        let (info, _) = read_header("test", &path, &file).unwrap();
        let layout = Layout {
            dtype: info.dtype,
            shape: info.shape,
            fortran: false,
            data_offset: info.data_offset,
        };
        let (_, src) =
            file_source::<f64>("test", &path, file, layout, &[50, 200], ReadMode::Map).unwrap();
        let map = src.map.as_ref().unwrap();
        let range = map.as_ptr() as usize..map.as_ptr() as usize + map.len();
        let b = src.produce(&[1, 0], &[50, 0], &[50, 200]).unwrap();
        assert!(b.is_mapped());
        let v = downcast::<f64>(&b);
        assert!(range.contains(&(v.as_ptr() as usize)));
        assert_eq!(v[[0, 0]], 10_000.0);
        assert_eq!(v[[49, 199]], 19_999.0);
        // A block that is not a band is copied.
        let c = src.produce(&[1, 1], &[50, 100], &[50, 100]).unwrap();
        assert!(!c.is_mapped());
        let v = downcast::<f64>(&c);
        assert!(!range.contains(&(v.as_ptr() as usize)));
        assert_eq!(v[[0, 0]], 10_100.0);
        assert_eq!(v[[49, 99]], 19_999.0);
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}
