//! Order statistics and histograms: medians and quantiles along an axis, `topk`, global
//! histograms, `bincount` and `unique`.
//!
//! # Medians and quantiles along an axis
//!
//! `median_axis`, `quantile_axis`, `percentile_axis` and their NaN-skipping twins are exact:
//! the result is NumPy's `'linear'` interpolation applied to the true order statistics. Two
//! plans compute them:
//!
//! - **Gather** (the usual case, and the fast one), when the axis is already one block or a
//!   line along it takes at most [`FIT_BYTES`] (256 MiB). If the axis is split, the array is
//!   first rechunked so that it is whole, the other axes' chunks halved ([`gather_chunks`])
//!   until a block is at most [`GATHER_BLOCK_BYTES`] (16 MiB, or one line when larger).
//!   The statistic is then the first step of a reduction (`kernels::reduce`), with one block
//!   on the axis and nothing to combine: each block's lines are read a tile at a time (up to
//!   1024 lines, about 32 kB) straight from the fused producer's tiles, or in place from a
//!   materialized block, so a generated stack is never written as blocks. Axes of up to
//!   [`NETWORK_MAX`] elements (a time stack of scenes) are sorted by a Batcher network,
//!   pruned to the ranks wanted, run across all lines of the tile at once (one vectorized
//!   min/max pass over the lanes per comparator); longer axes use `select_nth_unstable` line
//!   by line.
//! - **Exact selection without gathering** (a split axis whose lines take more than
//!   [`FIT_BYTES`]). Each pass is a reduction over the axis: every block counts, for each line,
//!   the values whose order-preserving key (the float's bits, sign-flipped; NaN counted apart)
//!   falls in each of `2^r` bins of the current bracket; the counts are merged in a fixed tree
//!   of fan-in [`SPLIT_EVERY`] and a small step picks the bin of the target rank, which becomes
//!   the next, `2^r` times narrower, bracket. After `⌈key bits / r⌉` passes the bracket is one
//!   key: the exact value. The last pass also finds the next order statistic (the next
//!   non-empty bin, or the smallest key above the bracket) for the interpolation. `r` (at most
//!   16) is chosen so that a block of counts stays under [`RADIX_STATE_BYTES`]. A fusable input
//!   (a generator, an in-memory array, an elementwise chain) is computed again by every pass,
//!   which waits for the previous pass, instead of being held; an input that is a stage of its
//!   own (a rechunk, a user closure) is shared by the passes, so its blocks are held until the
//!   last pass has read them.
//!
//! Interpolation is done in `f64` (integers convert to `f64` first, as NumPy's `mean` does) and
//! rounded to the output type; when the weight of the upper neighbour is 0, or both neighbours
//! are equal, the order statistic itself is returned (NumPy's formula gives NaN there for
//! infinite values).
//!
//! # Histograms, counts, sets and `topk`
//!
//! `histogram`, `bincount` and `unique` are reductions over all axes whose state is a vector
//! (counts, a sorted set): each block's vector is computed from the producer's tiles and the
//! vectors are merged in the reduction tree, in block order. `topk` is a reduction along its
//! axis whose state is the `|k|` best values of each line. Results do not depend on the thread
//! count. `bincount` and `unique` have a length that depends on the data, so they return an
//! [`UnknownLen`] handle rather than a `ChunkedArray`.

mod hist;
mod radix;
mod select;
mod topk;
mod tree;

use std::marker::PhantomData;

use super::ChunkedArray;
use super::reduce::normalize_axes;
use crate::element::{DType, Element, Float, Number};
use crate::error::Error;
use crate::grid::ChunkGrid;

pub use hist::histogram_bin_edges;
pub use tree::UnknownLen;

/// Largest block, in bytes, that the gather plan of the medians and quantiles makes: a line
/// along the reduced axis that takes more than this (with the axis split into several blocks)
/// is reduced by exact selection instead.
pub(crate) const FIT_BYTES: usize = 256 << 20;

/// Size in bytes the gather plan aims at when it has to rechunk (a block holds at least one
/// whole line, and at most [`FIT_BYTES`]): blocks of this size are recycled by the allocator
/// where larger ones are mapped and zeroed afresh each time.
pub(crate) const GATHER_BLOCK_BYTES: usize = 16 << 20;

/// Budget in bytes of one block of per-line bin counts in exact selection (sets the bins per
/// pass).
pub(crate) const RADIX_STATE_BYTES: usize = 64 << 20;

/// Longest axis sorted by a sorting network across lines; longer axes use
/// `select_nth_unstable` line by line.
pub(crate) const NETWORK_MAX: usize = 64;

/// Fan-in of the merge trees of exact selection (the other reductions use the
/// [`Config`](crate::Config)'s).
pub(crate) const SPLIT_EVERY: usize = 16;

/// Largest number of bins of `histogram`, and largest count vector of `bincount`.
pub(crate) const MAX_BINS: usize = 1 << 27;

/// Integer element types: `i8`..`i64` and `u8`..`u64` (for `bincount` and `unique`).
///
/// ```
/// fn distinct<T: rask::Integer>(x: &rask::ChunkedArray<T>) -> rask::UnknownLen<T> {
///     x.unique()
/// }
/// let x = rask::ChunkedArray::<u8>::from_fn(&[10], &[4], |i| (i[0] % 3) as u8);
/// assert_eq!(distinct(&x).compute()?.to_vec(), vec![0, 1, 2]);
/// # Ok::<(), rask::Error>(())
/// ```
pub trait Integer: Number + Ord + std::hash::Hash {}

impl Integer for i8 {}
impl Integer for i16 {}
impl Integer for i32 {}
impl Integer for i64 {}
impl Integer for u8 {}
impl Integer for u16 {}
impl Integer for u32 {}
impl Integer for u64 {}

// ---------------------------------------------------------------- shared pieces

/// Which order statistic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stat {
    /// The middle value, or the mean of the two middle values (NumPy's `median`).
    Median,
    /// NumPy's `quantile` with `method='linear'`.
    Quantile(f64),
}

impl Stat {
    fn key(self) -> String {
        match self {
            Stat::Median => "median".into(),
            Stat::Quantile(q) => format!("q{:016x}", q.to_bits()),
        }
    }

    /// For `n >= 1` values: the 0-based rank of the lower order statistic, and whether the
    /// next one is needed.
    #[inline]
    pub(crate) fn ranks(self, n: usize) -> (usize, bool) {
        match self {
            Stat::Median => {
                if n % 2 == 1 {
                    ((n - 1) / 2, false)
                } else {
                    (n / 2 - 1, true)
                }
            }
            Stat::Quantile(q) => {
                let (k, t) = position(q, n);
                (k, t > 0.0)
            }
        }
    }

    /// The result for `n` values whose order statistics at the ranks of [`Stat::ranks`] are
    /// `a` and `b` (`b == a` when the next one is not needed).
    #[inline]
    pub(crate) fn value(self, n: usize, a: f64, b: f64) -> f64 {
        match self {
            Stat::Median => {
                if n % 2 == 1 {
                    a
                } else {
                    (a + b) / 2.0
                }
            }
            Stat::Quantile(q) => lerp(a, b, position(q, n).1),
        }
    }
}

/// NumPy's `'linear'` virtual index `q (n - 1)`: its floor (clamped to the last index) and
/// the fractional part.
#[inline]
fn position(q: f64, n: usize) -> (usize, f64) {
    let h = q * (n - 1) as f64;
    let k = (h.floor() as usize).min(n - 1);
    (k, h - k as f64)
}

/// NumPy's `_lerp`: `a + (b - a) t`, computed from the nearer end; `a` itself when `t` is 0
/// or the ends are equal.
#[inline]
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t == 0.0 || a == b {
        return a;
    }
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// A total order: NumPy's sort order, NaN after everything.
#[inline]
pub(crate) fn total<T: Number>(a: &T, b: &T) -> std::cmp::Ordering {
    match a.partial_cmp(b) {
        Some(o) => o,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// Whether `T` is a float type.
#[inline]
pub(crate) fn is_float<T: Element>() -> bool {
    matches!(T::DTYPE, DType::F32 | DType::F64)
}

/// The block's elements in C order.
pub(crate) fn c_order<T: Element>(x: ndarray::ArrayViewD<'_, T>) -> std::borrow::Cow<'_, [T]> {
    match x.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.iter().copied().collect()),
    }
}

/// `(outer, n, inner)`: the element counts before, along and after `axis`.
pub(crate) fn split_shape(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// How the medians and quantiles are computed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path {
    /// Gather the axis in one block when a line fits in this many bytes (or the axis already
    /// is one block); exact selection otherwise.
    Auto(usize),
    /// Exact selection, with this many bits per pass (`None`: chosen from the budget).
    #[cfg_attr(not(test), allow(dead_code))]
    Select(Option<u32>),
}

/// The chunks of `grid` with `axis` whole and the other axes' chunks halved until a block
/// takes at most `fit_bytes` (or every other chunk is 1): first the innermost axis, down to
/// rows of 256 elements (long enough for whole tiles of lines); then the outermost axis
/// whose inner axes are one input block each; then the innermost again. Output blocks are
/// visited in C order, so this keeps the readers of an input block consecutive when a rechunk
/// stage gathers the axis, and the block is freed soon.
pub(crate) fn gather_chunks(
    grid: &ChunkGrid,
    axis: usize,
    elem: usize,
    fit_bytes: usize,
) -> Vec<usize> {
    const ROW: usize = 256;
    let nd = grid.ndim();
    let mut c: Vec<usize> = grid.chunk_shape().iter().map(|&x| x.max(1)).collect();
    c[axis] = grid.shape()[axis].max(1);
    let whole_inside = |k: usize| (k + 1..nd).all(|j| j == axis || grid.blocks_on_axis(j) == 1);
    while c.iter().fold(elem, |acc, &x| acc.saturating_mul(x)) > fit_bytes {
        let others = || (0..nd).filter(|&k| k != axis);
        if let Some(k) = others().next_back().filter(|&k| c[k] > ROW) {
            c[k] = c[k].div_ceil(2).max(ROW);
        } else if let Some(k) = others().find(|&k| c[k] > 1 && whole_inside(k)) {
            c[k] = c[k].div_ceil(2);
        } else if let Some(k) = others().rev().find(|&k| c[k] > 1) {
            c[k] = c[k].div_ceil(2);
        } else {
            break;
        }
    }
    c
}

impl<T: Number> ChunkedArray<T> {
    /// Builds a median or quantile along `axis`.
    pub(crate) fn order_stat(
        &self,
        op: &str,
        stat: Stat,
        axis: isize,
        skip_nan: bool,
        path: Path,
    ) -> ChunkedArray<T::Mean> {
        // The NaN-skipping statistics skip nodata values too (see `crate::geo`).
        let this = if skip_nan {
            self.nodata_as_nan()
        } else {
            self.clone()
        };
        let r = (|| {
            if let Stat::Quantile(q) = stat
                && !(0.0..=1.0).contains(&q)
            {
                return Err(Error::arg(op, format!("q must be in [0, 1], got {q}")));
            }
            let e = this.expr_ref()?;
            let nd = e.grid.ndim();
            let a = normalize_axes(op, &[axis], nd)?[0];
            let n = e.shape()[a];
            if n == 0 {
                return Err(Error::arg(
                    op,
                    format!(
                        "axis {axis} of shape {:?} has no elements to take a {} of",
                        e.shape(),
                        if stat == Stat::Median {
                            "median"
                        } else {
                            "quantile"
                        }
                    ),
                ));
            }
            let name = match stat {
                Stat::Median => format!("{op}(axis={a})"),
                Stat::Quantile(q) => format!("{op}(q={q}, axis={a})"),
            };
            let elem = T::DTYPE.size();
            match path {
                Path::Auto(fit)
                    if e.grid.blocks_on_axis(a) == 1 || n.saturating_mul(elem) <= fit =>
                {
                    let x = if e.grid.blocks_on_axis(a) == 1 {
                        e.clone()
                    } else {
                        let target = fit.min(GATHER_BLOCK_BYTES).max(n * elem);
                        let chunks = gather_chunks(&e.grid, a, elem, target);
                        this.rechunk(&chunks).expr_ref()?.clone()
                    };
                    Ok(select::build::<T>(&x, a, stat, skip_nan, name))
                }
                Path::Auto(_) => radix::build::<T>(e, a, stat, skip_nan, name, None),
                Path::Select(bits) => radix::build::<T>(e, a, stat, skip_nan, name, bits),
            }
        })();
        // A statistic over bands or time keeps the grid of the rows and columns.
        let nd = this.ndim();
        let r = r.map(|out| match (this.geo(), normalize_axes(op, &[axis], nd)) {
            (Some(g), Ok(a)) if a[0] + 2 < nd && out.geo.is_none() => out.with_geo(Some(
                std::sync::Arc::new(g.recomputed(<T::Mean as Element>::DTYPE)),
            )),
            _ => out,
        });
        ChunkedArray::from_result(r)
    }

    /// The median along `axis` (NumPy's `median`: the mean of the two middle values for an
    /// even count), exact; NaN where a line holds a NaN. Integers give `f64`, as `mean` does.
    /// The axis is removed. A zero-length axis is an error.
    ///
    /// How it runs: when a line along the axis takes at most 256 MiB (or the axis already is
    /// one block), the axis is gathered into one block (rechunking into blocks of about
    /// 16 MiB if it is split) and each block's lines are reduced a tile of lines at a time,
    /// straight from the producer's tiles: short axes (up to 64, a time stack of scenes) by a
    /// sorting network run across the lines of a tile, longer ones by `select_nth_unstable`.
    /// Longer lines are never gathered: each of a few passes over the blocks counts the
    /// values in `2^r` bins of a bracket of their bit patterns and narrows the bracket around
    /// the wanted rank, until it holds one value (4 passes for `f64`, 2 for `f32`, when few
    /// lines share a block). Interpolation is done in `f64` and rounded to the output type.
    ///
    /// ```
    /// use rask::prelude::*;
    /// // A time stack of 5 scenes of 2 x 3 pixels, 2 scenes per chunk.
    /// let x = ChunkedArray::from_fn(&[5, 2, 3], &[2, 2, 3], |i| ((i[0] * 7 + i[2]) % 5) as f32);
    /// let m = x.median_axis(0).compute()?;
    /// assert_eq!(m.shape(), &[2, 3]);
    /// assert_eq!(m[[0, 0]], 2.0); // median of 0, 2, 4, 1, 3
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn median_axis(&self, axis: isize) -> ChunkedArray<T::Mean> {
        self.order_stat(
            "median_axis",
            Stat::Median,
            axis,
            false,
            Path::Auto(FIT_BYTES),
        )
    }

    /// The `q`-th quantile along `axis` with NumPy's default `'linear'` interpolation:
    /// `x[k] + (x[k + 1] - x[k]) · frac` at the virtual index `q (n - 1)`, exact; NaN where a
    /// line holds a NaN. `q` outside `[0, 1]` is an error. Computed like
    /// [`median_axis`](Self::median_axis).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i32>::arange(5, 2); // 0 1 2 3 4
    /// assert_eq!(x.quantile_axis(0.3, 0).compute()?.first(), Some(&1.2));
    /// assert!(x.quantile_axis(1.5, 0).check().is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn quantile_axis(&self, q: f64, axis: isize) -> ChunkedArray<T::Mean> {
        self.order_stat(
            "quantile_axis",
            Stat::Quantile(q),
            axis,
            false,
            Path::Auto(FIT_BYTES),
        )
    }

    /// The `p`-th percentile along `axis`: [`quantile_axis`](Self::quantile_axis) at
    /// `p / 100`; `p` outside `[0, 100]` is an error.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::arange(11, 4); // 0 ..= 10
    /// assert_eq!(x.percentile_axis(90.0, 0).compute()?.first(), Some(&9.0));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn percentile_axis(&self, p: f64, axis: isize) -> ChunkedArray<T::Mean> {
        if !(0.0..=100.0).contains(&p) {
            return ChunkedArray::err(Error::arg(
                "percentile_axis",
                format!("p must be in [0, 100], got {p}"),
            ));
        }
        self.order_stat(
            "percentile_axis",
            Stat::Quantile(p / 100.0),
            axis,
            false,
            Path::Auto(FIT_BYTES),
        )
    }

    /// The `k` largest values along `axis`, sorted from the largest (Dask's `topk`); a negative
    /// `k` gives the `-k` smallest, sorted from the smallest. NaN counts as larger than every
    /// number. The axis becomes `|k|` long, in one chunk. `k = 0`, or `|k|` larger than the
    /// axis, is an error.
    ///
    /// A reduction along the axis: each block keeps its `|k|` best values per line (read
    /// from the producer's tiles), and those are merged in the reduction tree.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[2, 6], &[1, 4], |i| ((i[1] * 5 + i[0]) % 6) as i64);
    /// let top = x.topk(2, 1).compute()?;
    /// assert_eq!(top.into_raw_vec_and_offset().0, vec![5, 4, 5, 4]);
    /// let low = x.topk(-3, 1).compute()?;
    /// assert_eq!(low.shape(), &[2, 3]);
    /// assert_eq!(low.into_raw_vec_and_offset().0, vec![0, 1, 2, 0, 1, 2]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn topk(&self, k: isize, axis: isize) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().and_then(|e| topk::build::<T>(e, k, axis)))
    }

    /// Counts of the values in `bins` equal bins over `range = (lo, hi)`, over all elements,
    /// with NumPy's edge rules: bins are half-open `[e_i, e_{i+1})` except the last, which
    /// includes `hi`; values outside the range and NaN are not counted. Bin edges are those of
    /// [`histogram_bin_edges`] (in `f64`; values are converted to `f64`). `bins` must be in
    /// `1..=2^27` and the range finite with `lo < hi` (NumPy widens an empty range
    /// instead).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::arange(10, 3); // 0 ..= 9
    /// let h = x.histogram(3, (0.0, 9.0)).compute()?;
    /// assert_eq!(h.into_raw_vec_and_offset().0, vec![3, 3, 4]); // [0,3) [3,6) [6,9]
    /// assert!(x.histogram(0, (0.0, 1.0)).check().is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn histogram(&self, bins: usize, range: (f64, f64)) -> ChunkedArray<u64> {
        ChunkedArray::from_result(
            self.expr_ref()
                .and_then(|e| hist::histogram::<T>(e, bins, range)),
        )
    }
}

impl<T: Float> ChunkedArray<T> {
    /// The median along `axis` skipping NaN (NaN where a line is all NaN); see
    /// [`median_axis`](Self::median_axis).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ndarray::arr2(&[[1.0, f64::NAN, 3.0], [f64::NAN, f64::NAN, f64::NAN]]);
    /// let x = ChunkedArray::from_ndarray(a.view(), &[1, 2]);
    /// let m = x.nanmedian_axis(1).compute()?;
    /// assert_eq!(m[[0]], 2.0);
    /// assert!(m[[1]].is_nan());
    /// assert!(x.median_axis(1).compute()?[[0]].is_nan());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn nanmedian_axis(&self, axis: isize) -> ChunkedArray<T::Mean> {
        self.order_stat(
            "nanmedian_axis",
            Stat::Median,
            axis,
            true,
            Path::Auto(FIT_BYTES),
        )
    }

    /// The `q`-th quantile along `axis` skipping NaN; see
    /// [`quantile_axis`](Self::quantile_axis).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ndarray::arr1(&[4.0f32, f32::NAN, 0.0, 2.0]);
    /// let x = ChunkedArray::from_ndarray(a.view(), &[3]);
    /// assert_eq!(x.nanquantile_axis(0.25, 0).compute()?.first(), Some(&1.0));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn nanquantile_axis(&self, q: f64, axis: isize) -> ChunkedArray<T::Mean> {
        self.order_stat(
            "nanquantile_axis",
            Stat::Quantile(q),
            axis,
            true,
            Path::Auto(FIT_BYTES),
        )
    }

    /// The `p`-th percentile along `axis` skipping NaN; see
    /// [`percentile_axis`](Self::percentile_axis).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ndarray::arr1(&[f64::NAN, 10.0, 20.0, 30.0]);
    /// let x = ChunkedArray::from_ndarray(a.view(), &[2]);
    /// assert_eq!(x.nanpercentile_axis(50.0, 0).compute()?.first(), Some(&20.0));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn nanpercentile_axis(&self, p: f64, axis: isize) -> ChunkedArray<T::Mean> {
        if !(0.0..=100.0).contains(&p) {
            return ChunkedArray::err(Error::arg(
                "nanpercentile_axis",
                format!("p must be in [0, 100], got {p}"),
            ));
        }
        self.order_stat(
            "nanpercentile_axis",
            Stat::Quantile(p / 100.0),
            axis,
            true,
            Path::Auto(FIT_BYTES),
        )
    }
}

impl<T: Integer> ChunkedArray<T> {
    /// The number of occurrences of each value `0..=max` over all elements (NumPy's
    /// `bincount`, for any shape), at least `minlength` long. Its length depends on the
    /// data, so the result is an [`UnknownLen`]. A negative value is an error at compute
    /// time naming the block that holds it, as is a value of 2^27 or more (so is a
    /// `minlength` over 2^27, at once).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[7], &[3], |i| [1u8, 3, 1, 0, 3, 3, 1][i[0]]);
    /// assert_eq!(x.bincount(0).compute()?.to_vec(), vec![1, 3, 0, 3]);
    /// assert_eq!(x.bincount(6).compute()?.to_vec(), vec![1, 3, 0, 3, 0, 0]);
    /// let neg = ChunkedArray::from_fn(&[4], &[2], |i| i[0] as i32 - 2);
    /// let e = neg.bincount(0).compute().unwrap_err();
    /// assert!(e.to_string().contains("block [0]"), "{e}");
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn bincount(&self, minlength: usize) -> UnknownLen<u64> {
        UnknownLen::new(
            self.expr_ref()
                .and_then(|e| hist::bincount::<T>(e, minlength).map(|r| (r, minlength))),
        )
    }

    /// The sorted distinct values (NumPy's `unique`), for any shape: every block's sorted
    /// set, merged in the reduction tree. The length depends on the data, so the result is an
    /// [`UnknownLen`].
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[4, 5], &[3, 2], |i| (i[0] as i16 - 1) * (i[1] as i16 % 2));
    /// assert_eq!(x.unique().compute()?.to_vec(), vec![-1, 0, 1, 2]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn unique(&self) -> UnknownLen<T> {
        UnknownLen::new(
            self.expr_ref()
                .and_then(|e| hist::unique::<T>(e).map(|r| (r, 0))),
        )
    }
}

/// Marker for typed kernels.
pub(crate) type Typed<T> = PhantomData<fn(T)>;

#[cfg(test)]
mod tests;
