//! Windowed reductions: `coarsen` (non-overlapping blocks, for pyramids) and
//! `sliding_window` (moving windows along one axis).

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, SliceInfoElem, Zip};

use super::{Boundary, ChunkedArray};
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Number};
use crate::error::{Error, Result};
use crate::exec::stage::{StageKernel, for_each_index};
use crate::grid::ChunkGrid;
use crate::plan::{BlockOp, Expr, Op};

/// How a window is reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WindowStat {
    /// The mean (integers round to the nearest value).
    Mean,
    /// The sum (integers wrap).
    Sum,
    /// The maximum (NaN if the window holds NaN).
    Max,
    /// The minimum (NaN if the window holds NaN).
    Min,
}

impl WindowStat {
    fn fold<T: Number>(self, a: T, b: T) -> T {
        match self {
            WindowStat::Mean | WindowStat::Sum => T::add(a, b),
            WindowStat::Max => {
                if b > a || b.is_nan() && !a.is_nan() {
                    b
                } else {
                    a
                }
            }
            WindowStat::Min => {
                if b < a || b.is_nan() && !a.is_nan() {
                    b
                } else {
                    a
                }
            }
        }
    }

    fn init<T: Number>(self) -> T {
        match self {
            WindowStat::Mean | WindowStat::Sum => T::ZERO,
            WindowStat::Max => T::MIN,
            WindowStat::Min => T::MAX,
        }
    }
}

/// Folds `windows` strided views of `a` (each of `out_shape`) into one array: the window
/// offsets are the box `offsets` and `step` is the stride between windows.
fn fold_windows<T: Number>(
    a: &ndarray::ArrayViewD<'_, T>,
    out_shape: &[usize],
    offsets: &[(usize, usize)],
    step: &[usize],
    stat: WindowStat,
) -> ArrayD<T> {
    let mut out = ArrayD::from_elem(IxDyn(out_shape), stat.init::<T>());
    let mut count = 0usize;
    for_each_index(offsets, |o| {
        count += 1;
        let s: Vec<SliceInfoElem> = (0..o.len())
            .map(|k| SliceInfoElem::Slice {
                start: o[k] as isize,
                end: Some(if out_shape[k] == 0 {
                    o[k]
                } else {
                    o[k] + step[k] * (out_shape[k] - 1) + 1
                } as isize),
                step: step[k] as isize,
            })
            .collect();
        let v = a.slice(s.as_slice());
        Zip::from(&mut out)
            .and(&v)
            .for_each(|r, &x| *r = stat.fold(*r, x));
    });
    if stat == WindowStat::Mean && count > 0 {
        let n = count as f64;
        let round = !matches!(T::DTYPE, DType::F32 | DType::F64);
        out.mapv_inplace(|v| {
            let m = v.to_f64() / n;
            T::from_f64(if round { m.round() } else { m })
        });
    }
    out
}

struct CoarsenOp<T> {
    factors: Vec<usize>,
    stat: WindowStat,
    _t: PhantomData<fn(T)>,
}

impl<T: Number> BlockOp for CoarsenOp<T> {
    fn name(&self) -> String {
        format!("coarsen({:?}, {:?})", self.factors, self.stat)
    }
    fn key(&self) -> String {
        format!("coarsen<{}>:{:?}:{:?}", T::DTYPE, self.factors, self.stat)
    }
    fn geo(
        &self,
        inputs: &[Arc<Expr>],
        dtype: crate::element::DType,
    ) -> Option<Arc<crate::geo::GeoInfo>> {
        // Blocks of f_r × f_c pixels become one pixel.
        let g = inputs.first()?.geo.as_ref()?;
        let nd = self.factors.len();
        let (fr, fc) = (self.factors[nd - 2], self.factors[nd - 1]);
        Some(Arc::new(g.coarsened(fr, fc).recomputed(dtype)))
    }
    fn kernel(&self, _inputs: &[ChunkGrid], out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(CoarsenKernel::<T> {
            factors: self.factors.clone(),
            stat: self.stat,
            out: out.clone(),
            _t: PhantomData,
        })
    }
}

struct CoarsenKernel<T> {
    factors: Vec<usize>,
    stat: WindowStat,
    out: ChunkGrid,
    _t: PhantomData<fn(T)>,
}

impl<T: Number> StageKernel for CoarsenKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let a = downcast::<T>(&inputs[0]);
        let shape = self.out.block_shape(out);
        let offsets: Vec<(usize, usize)> = self.factors.iter().map(|&f| (0, f)).collect();
        Ok(Some(Arc::new(fold_windows(
            &a,
            &shape,
            &offsets,
            &self.factors,
            self.stat,
        ))))
    }
}

impl<T: Number> ChunkedArray<T> {
    /// Reduces non-overlapping windows of `factors[k]` elements per axis to one value (Dask's
    /// `coarsen`; one level of an image pyramid with factors 2). An axis whose length is not a
    /// multiple of its factor is an error unless `trim`, which drops the partial window at the
    /// end. Chunks are rounded to multiples of the factors first.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::WindowStat;
    /// let x = ChunkedArray::from_fn(&[4, 6], &[2, 3], |i| (i[0] * 6 + i[1]) as f64);
    /// let c = x.coarsen(&[2, 3], WindowStat::Mean, false).compute()?;
    /// assert_eq!(c.shape(), &[2, 2]);
    /// assert_eq!(c[[0, 0]], (0.0 + 1.0 + 2.0 + 6.0 + 7.0 + 8.0) / 6.0);
    /// assert!(x.coarsen(&[3, 3], WindowStat::Max, false).check().is_err());
    /// assert_eq!(x.coarsen(&[3, 3], WindowStat::Max, true).shape(), &[1, 2]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn coarsen(&self, factors: &[usize], stat: WindowStat, trim: bool) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.coarsen_expr(factors, stat, trim))
    }

    fn coarsen_expr(&self, factors: &[usize], stat: WindowStat, trim: bool) -> Result<Arc<Expr>> {
        let e = self.expr_ref()?;
        let shape = e.shape().to_vec();
        let nd = shape.len();
        if factors.len() != nd {
            return Err(Error::arg(
                "coarsen",
                format!("{} factors for an array of shape {shape:?}", factors.len()),
            ));
        }
        if let Some(k) = factors.iter().position(|&f| f == 0) {
            return Err(Error::arg("coarsen", format!("factor on axis {k} is 0")));
        }
        let mut x = self.clone();
        if let Some(k) = (0..nd).find(|&k| shape[k] % factors[k] != 0) {
            if !trim {
                return Err(Error::arg(
                    "coarsen",
                    format!(
                        "axis {k} of length {} is not a multiple of its factor {}; pass trim to drop the partial window",
                        shape[k], factors[k]
                    ),
                ));
            }
            let info: Vec<SliceInfoElem> = (0..nd)
                .map(|k| SliceInfoElem::from(0..(shape[k] / factors[k] * factors[k]) as isize))
                .collect();
            x = x.slice(info);
        }
        let xe = x.expr_ref()?.clone();
        // Chunks that are multiples of the factors (a window never spans two blocks).
        let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(nd);
        for (k, &f) in factors.iter().enumerate() {
            let cs = xe.grid.chunk_sizes(k);
            if cs.iter().all(|c| c % f == 0) {
                sizes.push(cs);
            } else {
                let n = xe.shape()[k];
                let c = (xe.grid.chunk_shape()[k] / f).max(1) * f;
                let mut v = vec![c; n / c];
                if n % c != 0 {
                    v.push(n % c);
                }
                if n == 0 {
                    v = vec![0];
                }
                sizes.push(v);
            }
        }
        let aligned = ChunkGrid::from_chunk_sizes(xe.shape(), &sizes)?;
        let src = if aligned == xe.grid {
            xe
        } else {
            Expr::new(aligned.clone(), T::DTYPE, Op::Rechunk, vec![xe])
        };
        let out_sizes: Vec<Vec<usize>> = sizes
            .iter()
            .zip(factors)
            .map(|(s, &f)| s.iter().map(|&c| c / f).collect())
            .collect();
        let out_shape: Vec<usize> = out_sizes.iter().map(|s| s.iter().sum()).collect();
        let grid = ChunkGrid::from_chunk_sizes(&out_shape, &out_sizes)?;
        let op = CoarsenOp::<T> {
            factors: factors.to_vec(),
            stat,
            _t: PhantomData,
        };
        Ok(Expr::new(
            grid,
            T::DTYPE,
            Op::Blockwise(Arc::new(op)),
            vec![src],
        ))
    }

    /// Reduces every window of `window` consecutive elements along `axis` (NumPy's
    /// `sliding_window_view` followed by a reduction): the result is `window - 1` shorter
    /// along the axis. Runs on `map_overlap`, so blocks see their neighbours' elements.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::WindowStat;
    /// let x = ChunkedArray::<i64>::arange(10, 3);
    /// let s = x.sliding_window(3, 0, WindowStat::Sum).compute()?;
    /// assert_eq!(s.as_slice().unwrap(), &[3, 6, 9, 12, 15, 18, 21, 24]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn sliding_window(&self, window: usize, axis: isize, stat: WindowStat) -> ChunkedArray<T> {
        let shape = self.shape().to_vec();
        let nd = shape.len();
        let k = match crate::array::reduce::normalize_axes("sliding_window", &[axis], nd) {
            Ok(a) => a[0],
            Err(e) => return ChunkedArray::err(e),
        };
        if window == 0 || window > shape[k] {
            return ChunkedArray::err(Error::arg(
                "sliding_window",
                format!(
                    "window {window} must be between 1 and the axis length {}",
                    shape[k]
                ),
            ));
        }
        if window == 1 {
            return self.clone();
        }
        let d = window - 1;
        let mut depth = vec![0; nd];
        depth[k] = d;
        // Each block computes the windows starting at its own positions; those running past
        // the array's end read the boundary and are sliced off below.
        let y = self.map_overlap(&depth, Boundary::Nearest, move |h, _| {
            let mut out_shape = h.shape().to_vec();
            out_shape[k] -= 2 * d;
            let offsets: Vec<(usize, usize)> = (0..h.ndim())
                .map(|j| if j == k { (d, d + window) } else { (0, 1) })
                .collect();
            let step = vec![1; h.ndim()];
            Ok(fold_windows(&h.view(), &out_shape, &offsets, &step, stat))
        });
        let info = super::shape::along(nd, k, SliceInfoElem::from(0..(shape[k] - d) as isize));
        y.slice(info)
    }
}
