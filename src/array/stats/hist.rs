//! `histogram`, `bincount` and `unique`: reductions whose state is a vector (counts, or a
//! sorted set), computed per block from the producer's tiles and merged in the reduction
//! tree.

use std::sync::Arc;

use ndarray::{Array1, ArrayD, IxDyn};

use super::tree::ListBlock;
use super::{Integer, MAX_BINS, Typed};
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Number};
use crate::error::{Error, Result};
use crate::grid::ChunkGrid;
use crate::kernels::program::{BlockEval, tiles};
use crate::kernels::reduce::{ReduceKernel, ReduceRef};
use crate::plan::{Expr, Op};

/// The `bins + 1` edges of `bins` equal bins over `range`, as NumPy's `histogram_bin_edges`
/// computes them (`linspace`: `lo + i · (hi - lo) / bins`, the last edge exactly `hi`). The
/// same checks as [`histogram`](crate::ChunkedArray::histogram): `bins` in `1..=2^27`,
/// a finite range with `lo < hi`.
///
/// ```
/// let e = rask::histogram_bin_edges(4, (0.0, 1.0))?;
/// assert_eq!(e.to_vec(), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
/// assert!(rask::histogram_bin_edges(4, (1.0, 1.0)).is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn histogram_bin_edges(bins: usize, range: (f64, f64)) -> Result<Array1<f64>> {
    check_range("histogram_bin_edges", bins, range)?;
    Ok(Array1::from(edges(bins, range.0, range.1)))
}

fn check_range(op: &str, bins: usize, (lo, hi): (f64, f64)) -> Result<()> {
    if bins == 0 || bins > MAX_BINS {
        return Err(Error::arg(
            op,
            format!("bins must be in 1..={MAX_BINS}, got {bins}"),
        ));
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(Error::arg(op, format!("range ({lo}, {hi}) is not finite")));
    }
    if lo >= hi {
        return Err(Error::arg(
            op,
            format!("range ({lo}, {hi}) must have lo < hi"),
        ));
    }
    Ok(())
}

/// NumPy's `linspace(lo, hi, bins + 1)`.
fn edges(bins: usize, lo: f64, hi: f64) -> Vec<f64> {
    let delta = hi - lo;
    let div = bins as f64;
    let step = delta / div;
    let mut e: Vec<f64> = (0..=bins)
        .map(|i| {
            let y = i as f64;
            (if step == 0.0 {
                y / div * delta
            } else {
                y * step
            }) + lo
        })
        .collect();
    e[bins] = hi;
    e
}

/// Counts per bin, straight from the producer's tiles, added up in the reduction tree.
struct Histogram<T> {
    bins: usize,
    lo: f64,
    hi: f64,
    edges: Arc<Vec<f64>>,
    _t: Typed<T>,
}

impl<T: Number> ReduceKernel for Histogram<T> {
    fn name(&self) -> String {
        format!(
            "histogram(bins={}, range=({:?}, {:?}))<{}>",
            self.bins,
            self.lo,
            self.hi,
            T::DTYPE
        )
    }
    fn out_dtype(&self) -> DType {
        DType::U64
    }
    fn state_bytes(&self) -> usize {
        self.bins * 8
    }
    fn needs_elements(&self) -> bool {
        false
    }
    fn partial(&self, ev: &mut BlockEval<'_>, _: &[bool], _: &[u64], _: &[usize]) -> BlockRef {
        let (lo, hi, n) = (self.lo, self.hi, self.bins);
        let e = &self.edges[..];
        let norm = hi - lo;
        let mut counts = vec![0u64; n];
        let dims = ev.dims.clone();
        for tile in tiles(&dims) {
            for &v in T::slice(ev.eval(&tile)) {
                let a = v.to_f64();
                if !(a >= lo && a <= hi) {
                    continue; // outside the range, or NaN
                }
                // NumPy's `_histogram` for equal bins: scale, then fix up within an ulp of
                // the edges.
                let mut i = (((a - lo) / norm) * n as f64) as usize;
                if i >= n {
                    i = n - 1;
                }
                if a < e[i] {
                    i -= 1;
                } else if i + 1 < n && a >= e[i + 1] {
                    i += 1;
                }
                counts[i] += 1;
            }
        }
        Arc::new(ArrayD::from_shape_vec(IxDyn(&[n]), counts).expect("internal: histogram"))
    }
    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        let mut acc = downcast::<u64>(&parts[0]).to_owned();
        for p in &parts[1..] {
            acc += &downcast::<u64>(p);
        }
        Arc::new(acc)
    }
    fn finalize(&self, part: &BlockRef, _out_shape: &[usize]) -> BlockRef {
        part.clone()
    }
}

/// A reduction over all axes of `e` with `kernel`, whose result has the grid `grid`.
fn reduce_all(e: &Arc<Expr>, kernel: ReduceRef, grid: ChunkGrid, dtype: DType) -> Arc<Expr> {
    let nd = e.grid.ndim();
    Expr::new(
        grid,
        dtype,
        Op::Reduce {
            kernel,
            axes: (0..nd).collect(),
            keepdims: false,
            split_every: None,
            weights: vec![0; nd],
        },
        vec![e.clone()],
    )
}

pub(super) fn histogram<T: Number>(
    e: &Arc<Expr>,
    bins: usize,
    range: (f64, f64),
) -> Result<Arc<Expr>> {
    check_range("histogram", bins, range)?;
    let k = Histogram::<T> {
        bins,
        lo: range.0,
        hi: range.1,
        edges: Arc::new(edges(bins, range.0, range.1)),
        _t: Typed::default(),
    };
    let grid = ChunkGrid::regular(&[bins], &[bins])?;
    Ok(reduce_all(e, Arc::new(k), grid, DType::U64))
}

// ---------------------------------------------------------------- bincount

/// Counts per value; a negative or too large value is recorded as the block's error.
struct Bincount<T> {
    /// The input's grid, to name the block holding a bad value.
    grid: ChunkGrid,
    _t: Typed<T>,
}

impl<T: Integer> ReduceKernel for Bincount<T> {
    fn name(&self) -> String {
        format!("bincount<{}>", T::DTYPE)
    }
    fn out_dtype(&self) -> DType {
        DType::U64
    }
    fn state_bytes(&self) -> usize {
        8
    }
    fn needs_elements(&self) -> bool {
        false
    }
    fn partial(&self, ev: &mut BlockEval<'_>, _: &[bool], _: &[u64], offset: &[usize]) -> BlockRef {
        let dims = ev.dims.clone();
        let mut counts: Vec<u64> = Vec::new();
        let mut error = None;
        'tiles: for tile in tiles(&dims) {
            for &v in T::slice(ev.eval(&tile)) {
                let bad = if v < T::ZERO {
                    Some(format!(
                        "value {v} is negative: bincount counts values >= 0"
                    ))
                } else if v.cast::<u64>() >= MAX_BINS as u64 {
                    Some(format!("value {v} needs more than {MAX_BINS} counts"))
                } else {
                    None
                };
                if let Some(message) = bad {
                    let block = (0..self.grid.ndim())
                        .map(|k| self.grid.block_of(k, offset[k]))
                        .collect();
                    error = Some(Error::Block {
                        op: "bincount".into(),
                        block,
                        source: Box::new(Error::arg("bincount", message)),
                    });
                    break 'tiles;
                }
                let i = v.cast::<u64>() as usize;
                if i >= counts.len() {
                    counts.resize(i + 1, 0);
                }
                counts[i] += 1;
            }
        }
        Arc::new(ListBlock {
            values: counts,
            error,
        })
    }
    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        let parts: Vec<&ListBlock<u64>> = parts.iter().map(ListBlock::of).collect();
        if let Some(e) = parts.iter().find_map(|p| p.error.clone()) {
            return Arc::new(ListBlock::<u64> {
                values: Vec::new(),
                error: Some(e),
            });
        }
        let len = parts.iter().map(|p| p.values.len()).max().unwrap_or(0);
        let mut acc = vec![0u64; len];
        for p in parts {
            for (a, &b) in acc.iter_mut().zip(&p.values) {
                *a += b;
            }
        }
        Arc::new(ListBlock {
            values: acc,
            error: None,
        })
    }
    fn finalize(&self, part: &BlockRef, _out_shape: &[usize]) -> BlockRef {
        part.clone()
    }
}

pub(super) fn bincount<T: Integer>(e: &Arc<Expr>, minlength: usize) -> Result<Arc<Expr>> {
    if minlength > MAX_BINS {
        return Err(Error::arg(
            "bincount",
            format!("minlength must be at most {MAX_BINS}, got {minlength}"),
        ));
    }
    let k = Bincount::<T> {
        grid: e.grid.clone(),
        _t: Typed::default(),
    };
    Ok(reduce_all(
        e,
        Arc::new(k),
        ChunkGrid::regular(&[1], &[1])?,
        DType::U64,
    ))
}

// ---------------------------------------------------------------- unique

/// Sorted sets: per block, then merged.
struct Unique<T> {
    _t: Typed<T>,
}

impl<T: Integer> ReduceKernel for Unique<T> {
    fn name(&self) -> String {
        format!("unique<{}>", T::DTYPE)
    }
    fn out_dtype(&self) -> DType {
        T::DTYPE
    }
    fn state_bytes(&self) -> usize {
        std::mem::size_of::<T>()
    }
    fn needs_elements(&self) -> bool {
        false
    }
    fn partial(&self, ev: &mut BlockEval<'_>, _: &[bool], _: &[u64], _: &[usize]) -> BlockRef {
        let dims = ev.dims.clone();
        let mut v: Vec<T> = Vec::with_capacity(dims.iter().product());
        for tile in tiles(&dims) {
            v.extend_from_slice(T::slice(ev.eval(&tile)));
        }
        v.sort_unstable();
        v.dedup();
        Arc::new(ListBlock {
            values: v,
            error: None,
        })
    }
    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        let mut acc: Vec<T> = ListBlock::<T>::of(&parts[0]).values.clone();
        for p in &parts[1..] {
            let b = &ListBlock::<T>::of(p).values;
            let mut out = Vec::with_capacity(acc.len() + b.len());
            let (mut i, mut j) = (0, 0);
            while i < acc.len() && j < b.len() {
                match acc[i].cmp(&b[j]) {
                    std::cmp::Ordering::Less => {
                        out.push(acc[i]);
                        i += 1;
                    }
                    std::cmp::Ordering::Greater => {
                        out.push(b[j]);
                        j += 1;
                    }
                    std::cmp::Ordering::Equal => {
                        out.push(acc[i]);
                        i += 1;
                        j += 1;
                    }
                }
            }
            out.extend_from_slice(&acc[i..]);
            out.extend_from_slice(&b[j..]);
            acc = out;
        }
        Arc::new(ListBlock {
            values: acc,
            error: None,
        })
    }
    fn finalize(&self, part: &BlockRef, _out_shape: &[usize]) -> BlockRef {
        part.clone()
    }
}

pub(super) fn unique<T: Integer>(e: &Arc<Expr>) -> Result<Arc<Expr>> {
    let k = Unique::<T> {
        _t: Typed::default(),
    };
    Ok(reduce_all(
        e,
        Arc::new(k),
        ChunkGrid::regular(&[1], &[1])?,
        T::DTYPE,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_match_linspace() {
        assert_eq!(edges(3, 0.0, 1.0), vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        assert_eq!(edges(1, -2.0, 5.0), vec![-2.0, 5.0]);
    }

    #[test]
    fn ranges_are_checked() {
        assert!(check_range("h", 1, (0.0, f64::INFINITY)).is_err());
        assert!(check_range("h", 1, (f64::NAN, 1.0)).is_err());
        assert!(check_range("h", 1, (2.0, 1.0)).is_err());
        assert!(check_range("h", MAX_BINS + 1, (0.0, 1.0)).is_err());
        assert!(check_range("h", 5, (0.0, 1.0)).is_ok());
    }
}
