//! `topk`: the `|k|` best values of every block along the axis, merged in a tree.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::select::{EvalLines, Lines, SliceLines, for_each_line};
use super::{Typed, c_order, split_shape, total};
use crate::array::reduce::normalize_axes;
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Number};
use crate::error::{Error, Result};
use crate::kernels::program::BlockEval;
use crate::kernels::reduce::ReduceKernel;
use crate::plan::{Expr, Op};

pub(super) fn build<T: Number>(e: &Arc<Expr>, k: isize, axis: isize) -> Result<Arc<Expr>> {
    let nd = e.grid.ndim();
    let a = normalize_axes("topk", &[axis], nd)?[0];
    let n = e.shape()[a];
    if k == 0 {
        return Err(Error::arg("topk", "k must not be 0"));
    }
    let kk = k.unsigned_abs();
    if kk > n {
        return Err(Error::arg(
            "topk",
            format!(
                "|k| = {kk} is larger than axis {axis} of length {n} (shape {:?})",
                e.shape()
            ),
        ));
    }
    let sel: Vec<(Option<usize>, usize)> = (0..nd)
        .map(|j| if j == a { (None, kk) } else { (Some(j), 0) })
        .collect();
    Ok(Expr::new(
        e.grid.select_axes(&sel),
        T::DTYPE,
        Op::Reduce {
            kernel: Arc::new(TopK::<T> {
                axis: a,
                k,
                _t: Typed::default(),
            }),
            axes: vec![a],
            keepdims: true,
            split_every: None,
            weights: vec![0; nd],
        },
        vec![e.clone()],
    ))
}

/// Keeps the `|k|` best values of each line: per block (straight from the producer's tiles),
/// then per group of blocks along the axis.
struct TopK<T> {
    axis: usize,
    k: isize,
    _t: Typed<T>,
}

impl<T: Number> ReduceKernel for TopK<T> {
    fn name(&self) -> String {
        format!("topk(k={}, axis={})<{}>", self.k, self.axis, T::DTYPE)
    }
    fn out_dtype(&self) -> DType {
        T::DTYPE
    }
    fn state_bytes(&self) -> usize {
        self.k.unsigned_abs() * std::mem::size_of::<T>()
    }
    fn needs_elements(&self) -> bool {
        true
    }
    fn partial(
        &self,
        ev: &mut BlockEval<'_>,
        _reduced: &[bool],
        _weights: &[u64],
        _offset: &[usize],
    ) -> BlockRef {
        let dims = ev.dims.clone();
        let (_, n, inner) = split_shape(&dims, self.axis);
        let mut src = EvalLines::<T>::new(ev, n, inner);
        Arc::new(best(&mut src, &dims, n, self.axis, self.k))
    }
    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        let parts: Vec<_> = parts.iter().map(|p| downcast::<T>(p)).collect();
        let data: Vec<_> = parts.iter().map(|p| c_order(p.clone())).collect();
        let mut dims = parts[0].shape().to_vec();
        let (_, _, inner) = split_shape(&dims, self.axis);
        let mut src = SliceLines {
            parts: data
                .iter()
                .zip(&parts)
                .map(|(d, p)| (&d[..], p.shape()[self.axis]))
                .collect(),
            inner,
        };
        let n = parts.iter().map(|p| p.shape()[self.axis]).sum();
        dims[self.axis] = n;
        Arc::new(best(&mut src, &dims, n, self.axis, self.k))
    }
    fn finalize(&self, part: &BlockRef, out_shape: &[usize]) -> BlockRef {
        debug_assert_eq!(downcast::<T>(part).shape(), out_shape);
        part.clone()
    }
}

/// The `|k|` largest (`k > 0`, descending) or smallest (`k < 0`, ascending) values of every
/// line of `src` (lines of `n` values along `axis` of a block of shape `dims`), or all of
/// them when there are fewer.
fn best<T: Number>(
    src: &mut impl Lines<T>,
    dims: &[usize],
    n: usize,
    axis: usize,
    k: isize,
) -> ArrayD<T> {
    let (outer, _, inner) = split_shape(dims, axis);
    let m = k.unsigned_abs().min(n);
    let mut out = vec![T::ZERO; outer * m * inner];
    let cmp = |a: &T, b: &T| if k > 0 { total(b, a) } else { total(a, b) };
    let mut line: Vec<T> = Vec::new();
    for_each_line(src, outer * inner, n, inner, |l, vals| {
        line.clear();
        line.extend_from_slice(vals);
        if m < line.len() {
            line.select_nth_unstable_by(m - 1, cmp);
            line.truncate(m);
        }
        line.sort_unstable_by(cmp);
        let (o, i) = (l / inner, l % inner);
        for (r, &v) in line.iter().enumerate() {
            out[(o * m + r) * inner + i] = v;
        }
    });
    let mut shape = dims.to_vec();
    shape[axis] = m;
    ArrayD::from_shape_vec(IxDyn(&shape), out).expect("internal: topk shape")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(parts: &[&ArrayD<i32>], axis: usize, k: isize) -> Vec<i32> {
        let data: Vec<_> = parts.iter().map(|p| c_order(p.view())).collect();
        let mut dims = parts[0].shape().to_vec();
        let (_, _, inner) = split_shape(&dims, axis);
        let mut src = SliceLines {
            parts: data
                .iter()
                .zip(parts)
                .map(|(d, p)| (&d[..], p.shape()[axis]))
                .collect(),
            inner,
        };
        let n = parts.iter().map(|p| p.shape()[axis]).sum();
        dims[axis] = n;
        best(&mut src, &dims, n, axis, k)
            .into_raw_vec_and_offset()
            .0
    }

    #[test]
    fn best_of_parts() {
        let a = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![5, 1, 9, 2, 8, 3]).unwrap();
        let b = ArrayD::from_shape_vec(IxDyn(&[2, 1]), vec![7, 0]).unwrap();
        assert_eq!(join(&[&a, &b], 1, 2), vec![9, 7, 8, 3]);
        assert_eq!(join(&[&a, &b], 1, -3), vec![1, 5, 7, 0, 2, 3]);
        assert_eq!(join(&[&a], 0, 1), vec![5, 8, 9]);
    }
}
