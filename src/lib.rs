//! # rask: chunked, out-of-core arrays for Rust
//!
//! rask is the Dask array of Rust. A [`ChunkedArray`] is a lazy n-dimensional array cut into
//! blocks; operations build a plan, and [`compute`](ChunkedArray::compute) fuses it, lowers
//! it to one task per block and runs the tasks on every core.
//!
//! ```
//! use rask::prelude::*;
//! let m: f64 = ChunkedArray::<f64>::random(&[2_000, 2_000], &[500, 500]).mean().compute()?;
//! assert!((m - 0.5).abs() < 1e-3);
//! # Ok::<(), rask::Error>(())
//! ```
//!
//! ## How a computation runs
//!
//! 1. **Plan.** Each operation adds one node to a DAG of array-level operations (never one
//!    node per block), and checks shapes, chunks, axes and dtypes as it is called.
//! 2. **Optimize.** Common subexpressions are merged, and chains of elementwise operations,
//!    generators (random, constants), broadcasts and the first step of each reduction are
//!    fused into one kernel per block that runs over L1-sized tiles.
//!    `((x + 1) * 2 - x * x).mean()` reads no block from memory: the random values are
//!    generated, combined and summed tile by tile.
//! 3. **Schedule.** Tasks are derived from the plan while running, in depth-first order,
//!    with a bounded window; each block is freed when its last consumer is done, so the
//!    scheduler's memory does not grow with the number of blocks.
//!
//! ## Determinism
//!
//! Random values are a pure function of `(seed, global index)`, whatever the chunking;
//! reductions combine partial results in an order fixed by the chunk grid, so a result has
//! the same bits for 1, 2 or 16 threads.
//!
//! ## Errors
//!
//! Nothing panics on bad input: shape and axis errors are [`Error`] values that name the
//! operation and the offending values, and an error or panic inside a user closure stops
//! the run with an error naming the operation and the block.
//!
//! ## For Dask users
//!
//! | Dask | rask |
//! |---|---|
//! | `da.random.random(shape, chunks=c)` | `ChunkedArray::<f64>::random(&shape, &c)` |
//! | `da.random.normal(m, s, shape, chunks=c)` | `ChunkedArray::<f64>::random_normal_seeded(&shape, &c, m, s, seed)` |
//! | `da.zeros`, `da.ones`, `da.full` | `zeros`, `ones`, `full` |
//! | `da.arange(n, chunks=c)` | `ChunkedArray::<i64>::arange(n, c)` |
//! | `da.from_array(np_array, chunks=c)` | `ChunkedArray::from_ndarray(a.view(), &c)` |
//! | `da.map_blocks(f, x)` | `x.map_blocks(\|block, index\| ...)` |
//! | `x + y`, `x * 2`, `-x` | `&x + &y`, `&x * 2.0`, `-&x` |
//! | `x > 0.5`, `x == y` | `x.gt(0.5)`, `x.eq_elem(&y)` |
//! | `da.where(c, a, b)` | `rask::where_(&c, &a, &b)` |
//! | `x.astype(np.int32)` | `x.cast::<i32>()` |
//! | `x.sum()`, `x.mean(axis=0)` | `x.sum()`, `x.mean_axes(&[0])` |
//! | `x.std(ddof=1)`, `x.var(axis=(1, 2))` | `x.std(1.0)`, `x.var_axes(&[1, 2], 0.0)` |
//! | `x.sum(axis=0, keepdims=True, split_every=8)` | `x.sum_axes_opt(&[0], &ReduceOpts::default().keepdims(true).split_every(8))` |
//! | `da.nanmean(x)` | `x.nanmean()` |
//! | `x.argmax(axis=1)` | `x.argmax_axis(1)` |
//! | `da.median(x, axis=0)`, `da.nanmedian` | `x.median_axis(0)`, `x.nanmedian_axis(0)` (exact) |
//! | `da.percentile(x, 90)` (1-d, approximate), `np.nanquantile(x, 0.9, axis=0)` | `x.percentile_axis(90.0, 0)`, `x.nanquantile_axis(0.9, 0)` (exact, any axis) |
//! | `da.histogram(x, bins=10, range=(0, 1))` | `x.histogram(10, (0.0, 1.0))`, edges: `rask::histogram_bin_edges(10, (0.0, 1.0))?` |
//! | `da.bincount(x, minlength=n)`, `da.unique(x)` | `x.bincount(n).compute()?`, `x.unique().compute()?` (an [`UnknownLen`]) |
//! | `da.topk(x, 5, axis=0)`, `da.topk(x, -5)` | `x.topk(5, 0)`, `x.topk(-5, -1)` |
//! | `x.rechunk((100, 1000))` | `x.rechunk(&[100, 1000])` |
//! | `x.T`, `x.transpose((2, 0, 1))`, `x.swapaxes(0, 1)` | `x.t()`, `x.transpose(&[2, 0, 1])`, `x.swap_axes(0, 1)` |
//! | `x[1:5:2, ::-1]`, `x[-1]`, `x[:, None]` | `x.slice(s![1..5;2, ..;-1])`, `x.slice(s![-1])`, `x.slice(s![.., NewAxis])` |
//! | `x.blocks[i, j]` | `x.blocks(&[i, j])` |
//! | `x.reshape(4, -1, 2)` | `x.reshape(&[4, usize::MAX, 2])` |
//! | `x.take([3, 0, -1], axis=1)`, `x[mask]` | `x.take(&[3, 0, -1], 1)`, `x.mask(&m, &config)?` |
//! | `da.flip(x, 0)`, `da.roll(x, 2, 0)` | `x.flip(0)`, `x.roll(2, 0)` |
//! | `da.expand_dims(x, 1)`, `da.squeeze(x)`, `da.broadcast_to(x, s)` | `x.expand_dims(1)`, `x.squeeze(&[])`, `x.broadcast_to(&s)` |
//! | `da.concatenate([a, b], axis=0)`, `da.stack([a, b])` | `rask::concatenate(&[&a, &b], 0)`, `rask::stack(&[&a, &b], 0)` |
//! | `da.pad(x, 2, mode="reflect")` | `x.pad(&[(2, 2)], PadMode::Reflect)` |
//! | `x.map_overlap(f, depth=1, boundary="reflect")` | `x.map_overlap(&[1, 1], Boundary::Reflect, \|halo, index\| ...)` |
//! | `scipy.ndimage.uniform_filter` / `maximum_filter` in `map_overlap` | `x.focal_mean(3, Boundary::Reflect)`, `x.focal_max(..)`, `x.focal_min(..)` |
//! | `scipy.ndimage.convolve`, `gaussian_filter` in `map_overlap` | `x.convolve(k.view(), b)`, `x.gaussian_filter(sigma, b)` |
//! | `da.cumsum(x, axis=0)`, `da.cumprod` | `x.cumsum(0)`, `x.cumprod(0)` |
//! | `x @ y`, `da.matmul(x, y)` (batched, 1-d vectors as NumPy) | `x.matmul(&y)` |
//! | `da.dot(x, y)`, `x.dot(y)` | `x.dot(&y)` |
//! | `da.tensordot(a, b, axes=([1, 0], [0, 2]))` | `rask::tensordot(&a, &b, &[1, 0], &[0, 2])` |
//! | `da.outer(a, b)` (1-d) | `rask::outer(&a, &b)` |
//! | `da.coarsen(np.mean, x, {0: 2, 1: 2}, trim_excess=True)` | `x.coarsen(&[2, 2], WindowStat::Mean, true)` |
//! | `sliding_window_view(x, 5, axis=0).max(axis=-1)` | `x.sliding_window(5, 0, WindowStat::Max)` |
//! | `da.from_zarr("x.zarr")` | `rask::open_zarr("x.zarr")?.into_typed::<f32>()?`, `rask::open_zarr_typed::<f32>(..)` |
//! | `da.from_zarr("x.zarr", chunks=(1000, 1000))` | `rask::open_zarr_with("x.zarr", &[1000, 1000])?` |
//! | `x.to_zarr("out.zarr")` | `x.to_zarr("out.zarr", &ZarrOptions::default())?` |
//! | `da.to_zarr(..., compute=False)` + `dask.compute(a, b)` | `rask::store_all(&[a.zarr_target(p, &o), b.zarr_target(q, &o)])?` |
//! | `rioxarray.open_rasterio("x.tif", chunks=True)` | `rask::open_tiff("x.tif")?.into_typed::<u16>()?` (bands, rows, cols; the file's tiles) |
//! | `rioxarray.open_rasterio(p, chunks=(1, 2048, 2048))` | `rask::open_tiff_with(p, &[1, 2048, 2048])?` |
//! | `rioxarray.open_rasterio(p).sel(band=1)` | `rask::open_tiff_band(p, 0)?` |
//! | `x.rio.to_raster("out.tif", tiled=True, compress="DEFLATE")` | `x.to_tiff("out.tif", &TiffOptions::default())?` (tiled, streamed) |
//! | `x.rio.transform()`, `x.rio.crs.to_epsg()`, `x.rio.nodata` | `x.geo()?.geotransform`, `x.geo()?.epsg`, `x.nodata()` |
//! | `x.rio.write_transform(t)`, `x.rio.write_nodata(v)` | `x.with_geo(GeoInfo::new(gt).with_nodata(v))` |
//! | `x.rio.bounds()` | `x.geo()?.bounds(rows, cols)` |
//! | `x.where(x != x.rio.nodata)`, `xr.DataArray.notnull` | `x.masked_f64()`, `x.valid_mask()` |
//! | `x.compute()` | `x.compute()?` |
//! | `da.from_array(np.load(p, mmap_mode="r"), chunks=c)` | `rask::open_npy::<f64>(p, &c)?` (memory-mapped, zero-copy row bands) |
//! | `da.from_array(np.memmap(p, dtype, "r", shape=s), chunks=c)` | `rask::open_raw::<u16>(p, &s, &c)?` |
//! | `da.to_npy_stack`, `np.save(p, x.compute())` | `x.to_npy(p)?` (one file, written block by block in parallel) |
//! | `x.compute().tofile(p)` | `x.to_raw(p)?` |
//! | `for b in x.blocks: b.compute()` | `for b in x.iter_blocks() { let (index, block) = b?; }` (bounded look-ahead) |
//! | `dask.compute(a, b)` | `rask::compute_all(&[&a, &b])?` |
//! | `dask.config.set(num_workers=4)` | `x.compute_with(&Config::default().threads(4))` |
//! | `x.visualize()` | `x.to_dot()`, `x.explain()` |
//! | `with dask.diagnostics.ProgressBar(): x.compute()` | `x.compute_with(&Config::default().progress(true))` |
//! | `with performance_report(filename="r.html"): x.compute()` | `let (v, stats) = x.compute_with_stats(&cfg)?; stats.to_html("r.html")?` |
//! | `fut = client.compute(x)`; `fut.result()`, `fut.cancel()`, `fut.done()` | `let job = x.compute_async(&cfg);` `job.wait()`, `job.cancel()`, `job.is_finished()`, `job.progress()` |
//! | `concurrent.futures` `executor.submit(f)` | `rask::Job::spawn(&cfg, move \|cfg\| ...)` |

#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod array;
pub(crate) mod block;
pub mod calc;
#[cfg(feature = "cli")]
pub mod cli;
mod compute;
pub mod data;
mod element;
mod error;
mod exec;
pub mod geo;
mod grid;
pub mod image;
pub mod io;
pub mod kernels;
pub mod pipelines;
pub(crate) mod plan;

pub use array::stats::{Integer, UnknownLen, histogram_bin_edges};
pub use array::{
    Boundary, ChunkedArray, IntoOperand, Operand, PadMode, ReduceOpts, Scalar, WindowStat,
    concatenate, outer, stack, tensordot, where_,
};
pub use compute::{Computable, Computed, compute_all, compute_all_with};
pub use element::{DType, Element, Float, Number};
pub use error::{Error, Result};
pub use exec::memory::{current_rss, machine_memory, parse_bytes, peak_rss, reset_peak_rss};
pub use exec::{CancelToken, Config, Job, OpStats, Progress, RunStats, TaskEvent, Timeline};
pub use geo::GeoInfo;
pub use grid::{BlockIndex, ChunkGrid};
pub use io::tiff::{
    MAX_TIFF_CHUNK_BYTES, TiffArray, TiffCompression, TiffOptions, open_tiff, open_tiff_band,
    open_tiff_typed, open_tiff_with,
};
pub use io::zarr::{
    BloscCompressor, BloscShuffle, Compression, ZarrArray, ZarrFormat, ZarrOptions, ZarrTarget,
    create_zarr_group, open_zarr, open_zarr_typed, open_zarr_with, store_all, store_all_async,
    store_all_with,
};
pub use io::{
    BlockStream, NpyInfo, ReadMode, npy_info, open_npy, open_npy_with, open_raw, open_raw_with,
};
/// The `serde_json` crate, whose `Value` and `Map` hold Zarr attributes.
pub use serde_json;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The names most programs need: `use rask::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Boundary, ChunkGrid, ChunkedArray, Compression, Config, DType, Element, Error, Float,
        IntoOperand, Number, PadMode, ReduceOpts, Result, Scalar, WindowStat, ZarrOptions,
        compute_all, concatenate, outer, stack, tensordot, where_,
    };
    pub use crate::{GeoInfo, TiffOptions};
    pub use crate::{Integer, UnknownLen, histogram_bin_edges};
}
