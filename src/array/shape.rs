//! Shape operations that are views: transposition and axis swaps.
//!
//! A view maps each output axis to an input axis. It costs nothing by itself: fused consumers
//! read the input through permuted strides (a generator computes each element's global index
//! in its own axes), and only a consumer that needs blocks materializes it.

use super::ChunkedArray;
use crate::element::Element;
use crate::error::{Error, Result};
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
            Ok(Expr::new(
                grid,
                T::DTYPE,
                Op::View {
                    axes: perm.into_iter().map(Some).collect(),
                },
                vec![e.clone()],
            ))
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
        let k = if a < 0 { a + ndim as isize } else { a };
        if k < 0 || k >= ndim as isize {
            return Err(Error::axes(
                op,
                axes,
                ndim,
                &format!("axis {a} is out of range"),
            ));
        }
        if std::mem::replace(&mut seen[k as usize], true) {
            return Err(Error::axes(
                op,
                axes,
                ndim,
                &format!("axis {a} is repeated"),
            ));
        }
        out.push(k as usize);
    }
    Ok(out)
}
