//! Shape operations that are views: transposition, axis swaps, slicing, flips, new and
//! dropped axes, broadcasting.
//!
//! A view maps each output axis to an input axis. It costs nothing by itself: fused consumers
//! read the input through permuted strides (a generator computes each element's global index
//! in its own axes), and only a consumer that needs blocks materializes it.

use ndarray::SliceInfoElem;

use super::ChunkedArray;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::grid::ChunkGrid;
use crate::kernels::program::SrcAxis;
use crate::plan::{Expr, Op};

impl<T: Element> ChunkedArray<T> {
    /// Permutes the axes: output axis `j` is input axis `axes[j]` (negative axes count from the
    /// end). The chunks move with their axes.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[2, 3, 4], &[1, 2, 3], |i| (i[0] * 100 + i[1] * 10 + i[2]) as i32);
    /// let y = x.transpose(&[2, 0, 1]);
    /// assert_eq!(y.shape(), &[4, 2, 3]);
    /// assert_eq!(y.chunks(), vec![3, 1, 2]);
    /// assert_eq!(y.compute()?[[3, 1, 2]], 123);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn transpose(&self, axes: &[isize]) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().and_then(|e| {
            let perm = permutation("transpose", axes, e.grid.ndim())?;
            if perm.iter().enumerate().all(|(j, &k)| j == k) {
                return Ok(e.clone());
            }
            let sel: Vec<(Option<usize>, usize)> = perm.iter().map(|&k| (Some(k), 0)).collect();
            let grid = e.grid.select_axes(&sel);
            let mut src = vec![SrcAxis::Fixed(0); perm.len()];
            for (j, &k) in perm.iter().enumerate() {
                src[k] = SrcAxis::Out {
                    axis: j,
                    start: 0,
                    step: 1,
                };
            }
            Ok(Expr::new(grid, T::DTYPE, Op::View { src }, vec![e.clone()]))
        }))
    }

    /// Reverses the axes (the matrix transpose for 2-d arrays), as NumPy's `.T`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[300, 200], &[100, 50]);
    /// let (a, b) = (x.compute()?, x.t().compute()?);
    /// assert_eq!(a.t(), b);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn t(&self) -> ChunkedArray<T> {
        let nd = self.ndim() as isize;
        let axes: Vec<isize> = (0..nd).rev().collect();
        self.transpose(&axes)
    }

    /// Swaps two axes.
    pub fn swap_axes(&self, a: isize, b: isize) -> ChunkedArray<T> {
        let nd = self.ndim();
        let mut axes: Vec<isize> = (0..nd as isize).collect();
        let norm = |x: isize| if x < 0 { x + nd as isize } else { x };
        let (ia, ib) = (norm(a), norm(b));
        if ia < 0 || ib < 0 || ia >= nd as isize || ib >= nd as isize {
            return ChunkedArray::err(Error::axes("swap_axes", &[a, b], nd, "axis out of range"));
        }
        axes.swap(ia as usize, ib as usize);
        self.transpose(&axes)
    }
}

/// `axes` as a permutation of `0..ndim`, or an error naming `op`.
fn permutation(op: &str, axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if axes.len() != ndim {
        return Err(Error::axes(
            op,
            axes,
            ndim,
            "a permutation must name every axis once",
        ));
    }
    let mut seen = vec![false; ndim];
    let mut out = Vec::with_capacity(ndim);
    for &a in axes {
        let k = crate::array::reduce::normalize_axis(op, axes, a, ndim)?;
        if std::mem::replace(&mut seen[k], true) {
            return Err(Error::axes(
                op,
                axes,
                ndim,
                &format!("axis {a} is repeated"),
            ));
        }
        out.push(k);
    }
    Ok(out)
}

/// Slice elements that take every axis of an `nd`-dimensional array whole but `axis`, which
/// gets `elem`.
pub(crate) fn along(nd: usize, axis: usize, elem: SliceInfoElem) -> Vec<SliceInfoElem> {
    (0..nd)
        .map(|j| {
            if j == axis {
                elem
            } else {
                SliceInfoElem::from(..)
            }
        })
        .collect()
}

/// A view of `e` whose input axis `k` is read at `src[k]`, over `grid`.
fn view(e: &std::sync::Arc<Expr>, grid: ChunkGrid, src: Vec<SrcAxis>) -> std::sync::Arc<Expr> {
    if grid == e.grid && crate::kernels::program::is_identity(&src, e.grid.ndim()) {
        return e.clone();
    }
    Expr::new(grid, e.dtype, Op::View { src }, vec![e.clone()])
}

/// The chunk sizes of the output axis that reads input `axis` of `g` at `start + step * o`
/// for `o < n`: one chunk per input block with selected elements, so that every output block
/// lies in one input block.
fn strided_chunks(g: &ChunkGrid, axis: usize, start: i64, step: i64, n: usize) -> Vec<usize> {
    if n == 0 {
        return vec![0];
    }
    let mut sizes = Vec::new();
    let mut o = 0usize;
    while o < n {
        let c = start + step * o as i64;
        let b = g.block_of(axis, c as usize);
        let lo = g.chunk_start(axis, b) as i64;
        let hi = lo + g.chunk_size(axis, b) as i64;
        // Selected coordinates left in this block, walking in the direction of `step`.
        let room = if step > 0 {
            (hi - 1 - c) / step + 1
        } else {
            (c - lo) / (-step) + 1
        };
        let take = (room as usize).min(n - o);
        sizes.push(take);
        o += take;
    }
    sizes
}

impl<T: Element> ChunkedArray<T> {
    /// Slices like ndarray's `slice` with the `s![]` macro: ranges with steps (a negative step
    /// walks the range backwards), negative indices counted from the end, integer indices that
    /// drop their axis, and `NewAxis`. Axes left out are taken whole. Indices out of range are
    /// an error (where ndarray panics). The result is a view: nothing is copied, and each
    /// output block reads one input block.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use ndarray::s;
    /// let x = ChunkedArray::from_fn(&[6, 8], &[4, 3], |i| (i[0] * 10 + i[1]) as i32);
    /// let eager = x.compute()?;
    /// let y = x.slice(s![1..5;2, ..;-3]);
    /// assert_eq!(y.compute()?, eager.slice(s![1..5;2, ..;-3]).into_dyn());
    /// assert_eq!(x.slice(s![-1, 2..4]).compute()?.as_slice().unwrap(), &[52, 53]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn slice(&self, info: impl AsRef<[SliceInfoElem]>) -> ChunkedArray<T> {
        let info = info.as_ref();
        ChunkedArray::from_result(self.expr_ref().and_then(|e| {
            let shape = e.shape();
            let nd = shape.len();
            let named = info.iter().filter(|i| !matches!(i, SliceInfoElem::NewAxis)).count();
            if named > nd {
                return Err(Error::arg(
                    "slice",
                    format!("{named} indices for an array of {nd} dimensions (shape {shape:?})"),
                ));
            }
            let full = SliceInfoElem::Slice { start: 0, end: None, step: 1 };
            let items = info.iter().copied().chain(std::iter::repeat_n(full, nd - named));
            let mut src = Vec::with_capacity(nd);
            let mut sizes: Vec<Vec<usize>> = Vec::new();
            let mut out_shape = Vec::new();
            let mut k = 0;
            for item in items {
                match item {
                    SliceInfoElem::NewAxis => {
                        out_shape.push(1);
                        sizes.push(vec![1]);
                    }
                    SliceInfoElem::Index(i) => {
                        let len = shape[k] as isize;
                        let p = if i < 0 { i + len } else { i };
                        if p < 0 || p >= len {
                            return Err(Error::arg(
                                "slice",
                                format!("index {i} is out of range for axis {k} of length {len}"),
                            ));
                        }
                        src.push(SrcAxis::Fixed(p as i64));
                        k += 1;
                    }
                    SliceInfoElem::Slice { start, end, step } => {
                        let len = shape[k] as isize;
                        let abs = |i: isize| if i < 0 { i + len } else { i };
                        let a = abs(start);
                        let mut z = abs(end.unwrap_or(len));
                        if step == 0 {
                            return Err(Error::arg("slice", format!("step 0 on axis {k}")));
                        }
                        if a < 0 || a > len || z < 0 || z > len {
                            return Err(Error::arg(
                                "slice",
                                format!("range {start}..{end:?} is out of range for axis {k} of length {len}", end = end),
                            ));
                        }
                        z = z.max(a);
                        let m = (z - a) as usize;
                        let n = m.div_ceil(step.unsigned_abs());
                        let first = if step < 0 && m > 0 { z - 1 } else { a };
                        let j = out_shape.len();
                        src.push(SrcAxis::Out { axis: j, start: first as i64, step: step as i64 });
                        sizes.push(strided_chunks(&e.grid, k, first as i64, step as i64, n));
                        out_shape.push(n);
                        k += 1;
                    }
                }
            }
            let grid = ChunkGrid::from_chunk_sizes(&out_shape, &sizes)?;
            Ok(view(e, grid, src))
        }))
    }

    /// Reverses the order of elements along `axis` (NumPy's `flip`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(5, 2).flip(0);
    /// assert_eq!(x.compute()?.as_slice().unwrap(), &[4, 3, 2, 1, 0]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn flip(&self, axis: isize) -> ChunkedArray<T> {
        let nd = self.ndim();
        let k = match crate::array::reduce::normalize_axis("flip", &[axis], axis, nd) {
            Ok(k) => k,
            Err(e) => return ChunkedArray::err(e),
        };
        let info = along(
            nd,
            k,
            SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: -1,
            },
        );
        self.slice(info)
    }

    /// Inserts an axis of length 1 at position `axis` of the result (NumPy's `expand_dims`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f32>::ones(&[4, 5], &[2, 5]);
    /// assert_eq!(x.expand_dims(1).shape(), &[4, 1, 5]);
    /// assert_eq!(x.expand_dims(-1).shape(), &[4, 5, 1]);
    /// ```
    pub fn expand_dims(&self, axis: isize) -> ChunkedArray<T> {
        let nd = self.ndim() + 1;
        let k = if axis < 0 { axis + nd as isize } else { axis };
        if k < 0 || k >= nd as isize {
            return ChunkedArray::err(Error::axes("expand_dims", &[axis], nd, "axis out of range"));
        }
        let mut info: Vec<SliceInfoElem> = vec![
            SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 1
            };
            nd - 1
        ];
        info.insert(k as usize, SliceInfoElem::NewAxis);
        self.slice(info)
    }

    /// Removes axes of length 1: the given ones (an error if one is longer), or all when
    /// `axes` is empty.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<u8>::zeros(&[1, 3, 1], &[1, 2, 1]);
    /// assert_eq!(x.squeeze(&[]).shape(), &[3]);
    /// assert_eq!(x.squeeze(&[-1]).shape(), &[1, 3]);
    /// assert!(x.squeeze(&[1]).check().is_err());
    /// ```
    pub fn squeeze(&self, axes: &[isize]) -> ChunkedArray<T> {
        let shape = self.shape().to_vec();
        let nd = shape.len();
        let drop: Vec<usize> = if axes.is_empty() {
            (0..nd).filter(|&k| shape[k] == 1).collect()
        } else {
            match crate::array::reduce::normalize_axes("squeeze", axes, nd) {
                Ok(a) => a,
                Err(e) => return ChunkedArray::err(e),
            }
        };
        if let Some(&k) = drop.iter().find(|&&k| shape[k] != 1) {
            return ChunkedArray::err(Error::axes(
                "squeeze",
                axes,
                nd,
                &format!("axis {k} has length {}, not 1", shape[k]),
            ));
        }
        let info: Vec<SliceInfoElem> = (0..nd)
            .map(|k| {
                if drop.contains(&k) {
                    SliceInfoElem::Index(0)
                } else {
                    SliceInfoElem::Slice {
                        start: 0,
                        end: None,
                        step: 1,
                    }
                }
            })
            .collect();
        self.slice(info)
    }

    /// Broadcasts to `shape` with NumPy's rules (a view: nothing is copied).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let row = ChunkedArray::<i32>::arange(4, 2);
    /// let m = row.broadcast_to(&[3, 4]);
    /// assert_eq!(m.sum().compute()?, 3 * 6);
    /// assert!(row.broadcast_to(&[3, 5]).check().is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn broadcast_to(&self, shape: &[usize]) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().and_then(|e| {
            let have = e.shape();
            let off = shape.len().checked_sub(have.len()).ok_or_else(|| {
                Error::shapes(
                    "broadcast_to",
                    have,
                    shape,
                    "the target has fewer dimensions",
                )
            })?;
            let mut src = Vec::with_capacity(have.len());
            let mut sizes = Vec::with_capacity(shape.len());
            for (j, &n) in shape.iter().enumerate() {
                if j < off {
                    sizes.push(vec![n]);
                    continue;
                }
                let k = j - off;
                if have[k] == n {
                    src.push(SrcAxis::Out {
                        axis: j,
                        start: 0,
                        step: 1,
                    });
                    sizes.push(e.grid.chunk_sizes(k));
                } else if have[k] == 1 {
                    src.push(SrcAxis::Fixed(0));
                    sizes.push(vec![n]);
                } else {
                    return Err(Error::shapes(
                        "broadcast_to",
                        have,
                        shape,
                        &format!("axis {k} has length {} and cannot stretch to {n}", have[k]),
                    ));
                }
            }
            let grid = ChunkGrid::from_chunk_sizes(shape, &sizes)?;
            Ok(view(e, grid, src))
        }))
    }

    /// Block `index` of the grid as a lazy array of its own (Dask's `.blocks[i, j]`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[5, 5], &[2, 3], |i| (i[0] * 5 + i[1]) as u32);
    /// let b = x.blocks(&[2, 1]);
    /// assert_eq!(b.shape(), &[1, 2]);
    /// assert_eq!(b.compute()?.as_slice().unwrap(), &[23, 24]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn blocks(&self, index: &[usize]) -> ChunkedArray<T> {
        let grid = match self.grid() {
            Some(g) => g.clone(),
            None => return self.clone(),
        };
        let per = grid.blocks_per_axis();
        if index.len() != per.len() || index.iter().zip(&per).any(|(&i, &n)| i >= n) {
            return ChunkedArray::err(Error::arg(
                "blocks",
                format!("block index {index:?} is outside the grid of {per:?} blocks"),
            ));
        }
        let info: Vec<SliceInfoElem> = index
            .iter()
            .enumerate()
            .map(|(k, &b)| {
                let lo = grid.chunk_start(k, b) as isize;
                SliceInfoElem::Slice {
                    start: lo,
                    end: Some(lo + grid.chunk_size(k, b) as isize),
                    step: 1,
                }
            })
            .collect();
        self.slice(info)
    }
}

/// Joins arrays along an existing axis (NumPy's `concatenate`). Shapes must agree on every
/// other axis; the output keeps every input block as a block (no copy), after aligning the
/// other axes' chunks to the first array's.
///
/// ```
/// use rask::prelude::*;
/// let a = ChunkedArray::<i32>::ones(&[2, 3], &[1, 3]);
/// let b = ChunkedArray::<i32>::zeros(&[4, 3], &[3, 3]);
/// let c = rask::concatenate(&[&a, &b], 0);
/// assert_eq!(c.shape(), &[6, 3]);
/// assert_eq!(c.grid().unwrap().chunk_sizes(0), vec![1, 1, 3, 1]);
/// assert_eq!(c.sum().compute()?, 6);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn concatenate<T: Element>(arrays: &[&ChunkedArray<T>], axis: isize) -> ChunkedArray<T> {
    ChunkedArray::from_result(concat_exprs("concatenate", arrays, axis))
}

fn concat_exprs<T: Element>(
    op: &str,
    arrays: &[&ChunkedArray<T>],
    axis: isize,
) -> Result<std::sync::Arc<Expr>> {
    if arrays.is_empty() {
        return Err(Error::arg(op, "needs at least one array"));
    }
    let exprs = arrays
        .iter()
        .map(|a| a.expr_ref().cloned())
        .collect::<Result<Vec<_>>>()?;
    let first = exprs[0].clone();
    // The other axes are cut like the largest input's (the data, not a thin pad part).
    let reference = exprs
        .iter()
        .max_by_key(|e| (e.grid.len(), std::cmp::Reverse(e.id)))
        .expect("non-empty")
        .clone();
    let nd = first.grid.ndim();
    let k = crate::array::reduce::normalize_axes(op, &[axis], nd)?[0];
    let mut parts = Vec::with_capacity(arrays.len());
    for e in &exprs {
        let same =
            e.grid.ndim() == nd && (0..nd).all(|j| j == k || e.shape()[j] == first.shape()[j]);
        if !same {
            return Err(Error::shapes(
                op,
                first.shape(),
                e.shape(),
                &format!("all axes but the joined axis {k} must have equal lengths"),
            ));
        }
        if e.shape()[k] == 0 {
            continue;
        }
        // Cut the other axes like the first array.
        let mut target = e.grid.clone();
        for j in (0..nd).filter(|&j| j != k) {
            if !target.axis_eq(j, &reference.grid, j) {
                target = target.with_axis_from(j, &reference.grid, j);
            }
        }
        parts.push(if target == e.grid {
            e.clone()
        } else {
            Expr::new(target, e.dtype, Op::Rechunk, vec![e.clone()])
        });
    }
    match parts.len() {
        0 => Ok(first),
        1 => Ok(parts.pop().unwrap()),
        _ => {
            let sizes: Vec<Vec<usize>> = (0..nd)
                .map(|j| {
                    if j == k {
                        parts.iter().flat_map(|p| p.grid.chunk_sizes(k)).collect()
                    } else {
                        parts[0].grid.chunk_sizes(j)
                    }
                })
                .collect();
            let shape: Vec<usize> = sizes.iter().map(|s| s.iter().sum()).collect();
            let grid = ChunkGrid::from_chunk_sizes(&shape, &sizes)?;
            Ok(Expr::new(grid, T::DTYPE, Op::Concat { axis: k }, parts))
        }
    }
}

/// Joins arrays of one shape along a new axis (NumPy's `stack`).
///
/// ```
/// use rask::prelude::*;
/// let bands: Vec<_> = (0..3).map(|b| ChunkedArray::<u16>::full(&[4, 4], &[2, 2], b)).collect();
/// let cube = rask::stack(&bands.iter().collect::<Vec<_>>(), 0);
/// assert_eq!(cube.shape(), &[3, 4, 4]);
/// assert_eq!(cube.sum_axes(&[1, 2]).compute()?.as_slice().unwrap(), &[0, 16, 32]);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn stack<T: Element>(arrays: &[&ChunkedArray<T>], axis: isize) -> ChunkedArray<T> {
    let Some(first) = arrays.first() else {
        return ChunkedArray::err(Error::arg("stack", "needs at least one array"));
    };
    for a in arrays {
        if a.shape() != first.shape() {
            if let Err(e) = a.check() {
                return ChunkedArray::err(e);
            }
            return ChunkedArray::err(Error::shapes(
                "stack",
                first.shape(),
                a.shape(),
                "stacked arrays must have one shape",
            ));
        }
    }
    let expanded: Vec<ChunkedArray<T>> = arrays.iter().map(|a| a.expand_dims(axis)).collect();
    let refs: Vec<&ChunkedArray<T>> = expanded.iter().collect();
    ChunkedArray::from_result(concat_exprs("stack", &refs, axis))
}

/// How [`ChunkedArray::pad`] fills the new elements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PadMode<T> {
    /// A constant value.
    Constant(T),
    /// The edge value repeated.
    Edge,
    /// The values mirrored about the edge, the edge itself not repeated (NumPy's `reflect`).
    Reflect,
    /// The values mirrored with the edge repeated (NumPy's `symmetric`; what scipy.ndimage
    /// and Dask's `map_overlap` call `reflect`).
    Symmetric,
    /// The values from the other end (NumPy's `wrap`).
    Wrap,
}

impl<T: Element> ChunkedArray<T> {
    /// Pads each axis with `widths[k] = (before, after)` elements (NumPy's `pad`). The padded
    /// parts are views and constants joined to the array: nothing is copied.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::PadMode;
    /// let x = ChunkedArray::<i32>::arange(4, 2); // 0 1 2 3
    /// let r = x.pad(&[(2, 2)], PadMode::Reflect).compute()?;
    /// assert_eq!(r.as_slice().unwrap(), &[2, 1, 0, 1, 2, 3, 2, 1]);
    /// let e = x.pad(&[(1, 2)], PadMode::Edge).compute()?;
    /// assert_eq!(e.as_slice().unwrap(), &[0, 0, 1, 2, 3, 3, 3]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn pad(&self, widths: &[(usize, usize)], mode: PadMode<T>) -> ChunkedArray<T> {
        let shape = self.shape().to_vec();
        if self.check().is_ok() && widths.len() != shape.len() {
            return ChunkedArray::err(Error::arg(
                "pad",
                format!(
                    "{} pad widths for an array of shape {shape:?}",
                    widths.len()
                ),
            ));
        }
        let mut x = self.clone();
        for (k, &(before, after)) in widths.iter().enumerate() {
            if before == 0 && after == 0 {
                continue;
            }
            let n = x.shape()[k];
            if mode == PadMode::Reflect && (before >= n || after >= n) {
                return ChunkedArray::err(Error::arg(
                    "pad",
                    format!(
                        "reflect padding ({before}, {after}) on axis {k} needs fewer elements than its length {n}"
                    ),
                ));
            }
            if matches!(mode, PadMode::Symmetric | PadMode::Wrap) && (before > n || after > n) {
                return ChunkedArray::err(Error::arg(
                    "pad",
                    format!(
                        "{mode:?} padding ({before}, {after}) on axis {k} needs at most its length {n}"
                    ),
                ));
            }
            if mode == PadMode::Edge && n == 0 {
                return ChunkedArray::err(Error::arg(
                    "pad",
                    format!("edge padding of the empty axis {k}"),
                ));
            }
            let part = |width: usize, at_end: bool| -> ChunkedArray<T> {
                let mut pshape = x.shape().to_vec();
                pshape[k] = width;
                let range = |r: std::ops::Range<usize>, step: isize| {
                    let elem = SliceInfoElem::Slice {
                        start: r.start as isize,
                        end: Some(r.end as isize),
                        step,
                    };
                    along(pshape.len(), k, elem)
                };
                match mode {
                    PadMode::Constant(v) => {
                        let chunks: Vec<usize> = x.chunks().iter().map(|&c| c.max(1)).collect();
                        ChunkedArray::full(&pshape, &chunks, v)
                    }
                    PadMode::Edge => {
                        let i = if at_end { n - 1 } else { 0 };
                        x.slice(range(i..i + 1, 1)).broadcast_to(&pshape)
                    }
                    PadMode::Reflect => {
                        let r = if at_end {
                            n - 1 - width..n - 1
                        } else {
                            1..width + 1
                        };
                        x.slice(range(r, -1))
                    }
                    PadMode::Symmetric => {
                        let r = if at_end { n - width..n } else { 0..width };
                        x.slice(range(r, -1))
                    }
                    PadMode::Wrap => {
                        let r = if at_end { 0..width } else { n - width..n };
                        x.slice(range(r, 1))
                    }
                }
            };
            let (b, a) = (part(before, false), part(after, true));
            x = concatenate(&[&b, &x, &a], k as isize);
        }
        x
    }

    /// Shifts elements along `axis` by `shift`, wrapping around (NumPy's `roll`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(5, 2).roll(2, 0);
    /// assert_eq!(x.compute()?.as_slice().unwrap(), &[3, 4, 0, 1, 2]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn roll(&self, shift: isize, axis: isize) -> ChunkedArray<T> {
        let nd = self.ndim();
        let k = match crate::array::reduce::normalize_axes("roll", &[axis], nd) {
            Ok(a) => a[0],
            Err(e) => return ChunkedArray::err(e),
        };
        let n = self.shape()[k] as isize;
        if n == 0 {
            return self.clone();
        }
        let s = shift.rem_euclid(n);
        if s == 0 {
            return self.clone();
        }
        let take = |a: isize, z: isize| -> ChunkedArray<T> {
            self.slice(along(
                nd,
                k,
                SliceInfoElem::Slice {
                    start: a,
                    end: Some(z),
                    step: 1,
                },
            ))
        };
        concatenate(&[&take(n - s, n), &take(0, n - s)], k as isize)
    }
}

/// Groups of input and output axes with equal products, in C order (for `reshape`).
fn reshape_groups(
    from: &[usize],
    to: &[usize],
) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
    let (mut i, mut j) = (0, 0);
    let mut groups = Vec::new();
    while i < from.len() || j < to.len() {
        let (i0, j0) = (i, j);
        let mut pin = 1usize;
        let mut pout = 1usize;
        if i < from.len() {
            pin = from[i];
            i += 1;
        }
        if j < to.len() {
            pout = to[j];
            j += 1;
        }
        while pin != pout {
            if pin < pout && i < from.len() {
                pin *= from[i];
                i += 1;
            } else if j < to.len() {
                pout *= to[j];
                j += 1;
            } else {
                pin *= from.get(i).copied().unwrap_or(1);
                i += 1;
            }
        }
        // Size-1 axes that follow join this group.
        while i < from.len() && from[i] == 1 && !(j < to.len() && to[j] == 1) {
            i += 1;
        }
        while j < to.len() && to[j] == 1 && !(i < from.len() && from[i] == 1) {
            j += 1;
        }
        groups.push((i0..i, j0..j));
    }
    groups
}

/// Output block `b` is input block `map(b)` reinterpreted in the output block's shape.
struct ReshapeOp<T> {
    groups: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    _t: std::marker::PhantomData<fn(T)>,
}

impl<T: Element> ReshapeOp<T> {
    fn input_block(&self, out: &[usize], nin: usize) -> Vec<usize> {
        let mut b = vec![0; nin];
        for (ins, outs) in &self.groups {
            if !ins.is_empty() && !outs.is_empty() {
                b[ins.start] = out[outs.start];
            }
        }
        b
    }
}

impl<T: Element> crate::plan::BlockOp for ReshapeOp<T> {
    fn name(&self) -> String {
        "reshape".into()
    }
    fn key(&self) -> String {
        format!("reshape<{}>:{:?}", T::DTYPE, self.groups)
    }
    fn kernel(
        &self,
        inputs: &[ChunkGrid],
        out: &ChunkGrid,
    ) -> Box<dyn crate::exec::stage::StageKernel> {
        Box::new(ReshapeKernel::<T> {
            op: ReshapeOp {
                groups: self.groups.clone(),
                _t: std::marker::PhantomData,
            },
            nin: inputs[0].ndim(),
            out: out.clone(),
        })
    }
}

struct ReshapeKernel<T> {
    op: ReshapeOp<T>,
    nin: usize,
    out: ChunkGrid,
}

impl<T: Element> crate::exec::stage::StageKernel for ReshapeKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, self.op.input_block(out, self.nin));
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(
        &self,
        out: &[usize],
        inputs: &[crate::block::BlockRef],
    ) -> Result<Option<crate::block::BlockRef>> {
        let a = crate::block::downcast::<T>(&inputs[0]);
        let shape = self.out.block_shape(out);
        let v: Vec<T> = if a.is_standard_layout() {
            a.as_slice().expect("standard layout").to_vec()
        } else {
            a.iter().copied().collect()
        };
        let r = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v)
            .map_err(|e| Error::arg("reshape", format!("block {out:?}: {e}")))?;
        Ok(Some(std::sync::Arc::new(r)))
    }
}

impl<T: Element> ChunkedArray<T> {
    /// The same elements in C order with a new shape (NumPy's `reshape`; one axis may be given
    /// as `usize::MAX` to be inferred). Axes are grouped by matching products; within a group
    /// only its first axis stays cut, and the array is rechunked only where a group needs it,
    /// keeping blocks near their current size.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(24, 5);
    /// let y = x.reshape(&[4, usize::MAX, 2]);
    /// assert_eq!(y.shape(), &[4, 3, 2]);
    /// let e = ndarray::Array::from_iter(0..24i64).into_shape_with_order((4, 3, 2)).unwrap().into_dyn();
    /// assert_eq!(y.compute()?, e);
    /// assert!(x.reshape(&[5, 5]).check().is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn reshape(&self, shape: &[usize]) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.reshape_expr(shape))
    }

    fn reshape_expr(&self, shape: &[usize]) -> Result<std::sync::Arc<Expr>> {
        let e = self.expr_ref()?;
        let from = e.shape().to_vec();
        let len: usize = from.iter().product();
        let mut to = shape.to_vec();
        let unknown: Vec<usize> = (0..to.len()).filter(|&k| to[k] == usize::MAX).collect();
        if unknown.len() > 1 {
            return Err(Error::arg(
                "reshape",
                format!("more than one inferred axis in {shape:?}"),
            ));
        }
        if let [k] = unknown[..] {
            let known: usize = to
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != k)
                .map(|(_, &n)| n)
                .product();
            if known == 0 || !len.is_multiple_of(known) {
                return Err(Error::shapes(
                    "reshape",
                    &from,
                    shape,
                    "the inferred axis does not divide the size",
                ));
            }
            to[k] = len / known;
        }
        let n_to = crate::grid::checked_len("reshape", &to)?;
        if n_to != len {
            return Err(Error::shapes(
                "reshape",
                &from,
                &to,
                &format!("{len} elements cannot take a shape of {n_to}"),
            ));
        }
        if from == to {
            return Ok(e.clone());
        }
        if len == 0 {
            let chunks: Vec<usize> = to.iter().map(|&n| n.max(1)).collect();
            return ChunkedArray::<T>::zeros(&to, &chunks).expr_ref().cloned();
        }
        let groups = reshape_groups(&from, &to);
        let block_elems = e.grid.max_block_len().max(1);
        let mut in_sizes: Vec<Vec<usize>> =
            (0..from.len()).map(|k| e.grid.chunk_sizes(k)).collect();
        let mut out_sizes: Vec<Vec<usize>> = vec![Vec::new(); to.len()];
        for (ins, outs) in &groups {
            if ins.is_empty() {
                for j in outs.clone() {
                    out_sizes[j] = vec![to[j]];
                }
                continue;
            }
            if outs.is_empty() {
                for k in ins.clone() {
                    in_sizes[k] = vec![from[k]];
                }
                continue;
            }
            let (i0, j0) = (ins.start, outs.start);
            let p_in: usize = from[ins.start + 1..ins.end].iter().product();
            let p_out: usize = to[outs.start + 1..outs.end].iter().product();
            if ins.len() == 1 && outs.len() == 1 {
                out_sizes[j0] = in_sizes[i0].clone();
                continue;
            }
            // Inner axes whole; the leading axis cut in multiples of `m` so that every block
            // holds whole output rows, about the size of the current blocks.
            for k in ins.start + 1..ins.end {
                in_sizes[k] = vec![from[k]];
            }
            let g = gcd(p_in, p_out);
            let m = p_out / g;
            let others: usize = (0..from.len())
                .filter(|k| !ins.contains(k))
                .map(|k| e.grid.chunk_shape()[k].max(1))
                .product();
            let want = (block_elems / (others * p_in).max(1)).max(1);
            let c = (want / m).max(1) * m;
            let n = from[i0];
            let c = c.min(n.div_ceil(m) * m).max(m.min(n));
            let mut v = vec![c; n / c];
            if n % c != 0 {
                v.push(n % c);
            }
            out_sizes[j0] = v.iter().map(|&c| c * p_in / p_out).collect();
            in_sizes[i0] = v;
            for j in outs.start + 1..outs.end {
                out_sizes[j] = vec![to[j]];
            }
        }
        let in_grid = ChunkGrid::from_chunk_sizes(&from, &in_sizes)?;
        let src = if in_grid == e.grid {
            e.clone()
        } else {
            Expr::new(in_grid, T::DTYPE, Op::Rechunk, vec![e.clone()])
        };
        let out_grid = ChunkGrid::from_chunk_sizes(&to, &out_sizes)?;
        let op = ReshapeOp::<T> {
            groups,
            _t: std::marker::PhantomData,
        };
        Ok(Expr::new(
            out_grid,
            T::DTYPE,
            Op::Blockwise(std::sync::Arc::new(op)),
            vec![src],
        ))
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}
