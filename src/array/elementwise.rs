//! Elementwise operations: arithmetic, functions, comparisons, logic, casts, user maps.
//!
//! Binary operations broadcast with NumPy's rules. Operands cut into different chunks are
//! aligned automatically: on each axis the chunking of the operand with the most elements is
//! kept, and the others are rechunked to it. Shape errors are found here, when the operation
//! is called, and name the operation and both shapes.

use std::marker::PhantomData;
use std::ops::{Add, BitAnd, BitOr, BitXor, Div, Mul, Neg, Not, Sub};
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};

use super::{ChunkedArray, Scalar};
use crate::element::{Element, Float, Number};
use crate::error::{Error, Result};
use crate::grid::ChunkGrid;
use crate::kernels::elementwise::{Binary, KernelRef, Select, Unary};
use crate::kernels::program::SrcAxis;
use crate::plan::{Expr, MapBlocksFn, Op, fresh_id};

/// The right-hand side of an elementwise operation: an array or a scalar.
pub enum Operand<T: Element> {
    /// An array (broadcast against the left-hand side).
    Array(ChunkedArray<T>),
    /// One value for every element.
    Scalar(T),
}

/// Conversion into an [`Operand`]: implemented for `T`, arrays and lazy scalars (owned or
/// borrowed), so that `x.gt(0.5)` and `x.gt(&y)` both work.
pub trait IntoOperand<T: Element> {
    /// The operand.
    fn into_operand(self) -> Operand<T>;
}

impl<T: Element> IntoOperand<T> for Operand<T> {
    fn into_operand(self) -> Operand<T> {
        self
    }
}
impl<T: Element> IntoOperand<T> for T {
    fn into_operand(self) -> Operand<T> {
        Operand::Scalar(self)
    }
}
impl<T: Element> IntoOperand<T> for ChunkedArray<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self)
    }
}
impl<T: Element> IntoOperand<T> for &ChunkedArray<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self.clone())
    }
}
impl<T: Element> IntoOperand<T> for Scalar<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self.0)
    }
}
impl<T: Element> IntoOperand<T> for &Scalar<T> {
    fn into_operand(self) -> Operand<T> {
        Operand::Array(self.0.clone())
    }
}

impl<T: Element> Operand<T> {
    /// The operand as an array (a scalar becomes a 0-d constant that broadcasts).
    fn into_array(self) -> ChunkedArray<T> {
        match self {
            Operand::Array(a) => a,
            Operand::Scalar(v) => ChunkedArray::full(&[], &[], v),
        }
    }
}

/// The broadcast shape of `shapes`, or the error naming `op` and the first conflicting pair.
pub(crate) fn broadcast_shape(op: &str, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let nd = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; nd];
    for j in 0..nd {
        for s in shapes {
            let off = nd - s.len();
            if j < off {
                continue;
            }
            let n = s[j - off];
            if n != 1 {
                if out[j] != 1 && out[j] != n {
                    let first = shapes
                        .iter()
                        .find(|t| t.len() + j >= nd && t[j + t.len() - nd] == out[j])
                        .unwrap_or(&shapes[0]);
                    return Err(Error::shapes(
                        op,
                        first,
                        s,
                        &format!("axis {j} of the broadcast has lengths {} and {n}", out[j]),
                    ));
                }
                out[j] = n;
            }
        }
    }
    Ok(out)
}

/// Broadcasts and aligns `exprs` to one shape and grid: returns the grid and the inputs
/// (rechunked and wrapped in broadcast views where needed).
pub(crate) fn align(op: &str, exprs: &[Arc<Expr>]) -> Result<(ChunkGrid, Vec<Arc<Expr>>)> {
    let shapes: Vec<&[usize]> = exprs.iter().map(|e| e.shape()).collect();
    let out = broadcast_shape(op, &shapes)?;
    let nd = out.len();
    // The source of each output axis's chunking: the largest operand not broadcast there.
    let mut sizes: Vec<Vec<usize>> = Vec::with_capacity(nd);
    for (j, &len) in out.iter().enumerate() {
        let src = exprs
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.shape().len() + j >= nd && e.shape()[j + e.shape().len() - nd] == len
            })
            .max_by_key(|(i, e)| (e.grid.len(), std::cmp::Reverse(*i)))
            .map(|(_, e)| (e, j + e.shape().len() - nd));
        sizes.push(match src {
            Some((e, k)) => e.grid.chunk_sizes(k),
            None => vec![len],
        });
    }
    let grid = ChunkGrid::from_chunk_sizes(&out, &sizes)?;
    let mut aligned = Vec::with_capacity(exprs.len());
    for e in exprs {
        let off = nd - e.shape().len();
        let axes: Vec<Option<usize>> = (0..nd)
            .map(|j| (j >= off && e.shape()[j - off] == out[j]).then(|| j - off))
            .collect();
        let mut x = e.clone();
        // Rechunk the axes that are read but cut differently.
        let mut target = e.grid.clone();
        for (j, a) in axes.iter().enumerate() {
            if let Some(k) = *a
                && !target.axis_eq(k, &grid, j)
            {
                target = target.with_axis_from(k, &grid, j);
            }
        }
        if target != e.grid {
            x = Expr::new(target, e.dtype, Op::Rechunk, vec![x]);
        }
        let identity = e.shape().len() == nd && axes.iter().enumerate().all(|(j, a)| *a == Some(j));
        if !identity {
            // Input axis k is read along the output axis that maps to it, or at 0 (length 1).
            let mut src = vec![SrcAxis::Fixed(0); e.shape().len()];
            for (j, a) in axes.iter().enumerate() {
                if let Some(k) = *a {
                    src[k] = SrcAxis::Out {
                        axis: j,
                        start: 0,
                        step: 1,
                    };
                }
            }
            x = Expr::new(grid.clone(), e.dtype, Op::View { src }, vec![x]);
        }
        aligned.push(x);
    }
    Ok((grid, aligned))
}

impl<T: Element> ChunkedArray<T> {
    /// Applies a kernel to this array.
    pub(crate) fn unary_kernel<U: Element>(&self, kernel: KernelRef) -> ChunkedArray<U> {
        ChunkedArray::from_result(
            self.expr_ref()
                .map(|e| Expr::new(e.grid.clone(), U::DTYPE, Op::Map(kernel), vec![e.clone()])),
        )
    }

    /// Applies a kernel to aligned operands.
    pub(crate) fn nary_kernel<U: Element>(
        op: &str,
        operands: &[&ChunkedArray<T>],
        kernel: KernelRef,
    ) -> ChunkedArray<U> {
        let r = (|| {
            let exprs = operands
                .iter()
                .map(|a| a.expr_ref().cloned())
                .collect::<Result<Vec<_>>>()?;
            crate::geo::check_same_grid(op, &exprs)?;
            let (grid, inputs) = align(op, &exprs)?;
            Ok(Expr::new(grid, U::DTYPE, Op::Map(kernel), inputs))
        })();
        ChunkedArray::from_result(r)
    }

    /// `f(self, rhs)` elementwise, for an array or scalar right-hand side.
    pub(crate) fn binary_op<U, F>(&self, name: &str, rhs: Operand<T>, f: F) -> ChunkedArray<U>
    where
        U: Element,
        F: Fn(T, T) -> U + Copy + Send + Sync + 'static,
    {
        match rhs {
            Operand::Array(b) => {
                let k = Binary::kernel(name, format!("{name}<{}>", T::DTYPE), f);
                Self::nary_kernel(name, &[self, &b], k)
            }
            Operand::Scalar(s) => {
                let k = Unary::kernel(
                    format!("{name}({s})"),
                    format!("{name}<{}>({s:?})", T::DTYPE),
                    move |a| f(a, s),
                );
                self.unary_kernel(k)
            }
        }
    }

    /// `f(lhs, self)` elementwise for a scalar `lhs` (as in `2.0 - x`).
    pub(crate) fn scalar_lhs_op<F>(&self, name: &str, lhs: T, f: F) -> ChunkedArray<T>
    where
        F: Fn(T, T) -> T + Copy + Send + Sync + 'static,
    {
        let k = Unary::kernel(
            format!("r{name}({lhs})"),
            format!("r{name}<{}>({lhs:?})", T::DTYPE),
            move |a| f(lhs, a),
        );
        self.unary_kernel(k)
    }

    /// `self > rhs` elementwise.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::arange(10, 4);
    /// assert_eq!(x.gt(6.0).count_nonzero().compute()?, 3);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn gt(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("gt", rhs.into_operand(), |a, b| a > b)
    }

    /// `self >= rhs` elementwise.
    pub fn ge(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("ge", rhs.into_operand(), |a, b| a >= b)
    }

    /// `self < rhs` elementwise.
    pub fn lt(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("lt", rhs.into_operand(), |a, b| a < b)
    }

    /// `self <= rhs` elementwise.
    pub fn le(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("le", rhs.into_operand(), |a, b| a <= b)
    }

    /// `self == rhs` elementwise (NaN is not equal to itself).
    pub fn eq_elem(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("eq", rhs.into_operand(), |a, b| a == b)
    }

    /// `self != rhs` elementwise.
    pub fn ne_elem(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<bool> {
        self.binary_op("ne", rhs.into_operand(), |a, b| a != b)
    }

    /// Converts each element to `U` as Rust's `as` does (NumPy's `astype`): floats truncate
    /// toward zero when cast to integers.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::full(&[4], &[2], 2.7);
    /// let s: i64 = x.cast::<i32>().sum().compute()?; // the sum of i32 is i64, as in NumPy
    /// assert_eq!(s, 8);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn cast<U: Element>(&self) -> ChunkedArray<U> {
        if T::DTYPE == U::DTYPE {
            return ChunkedArray::from_result(self.inner.clone());
        }
        self.unary_kernel(Unary::kernel(
            format!("cast<{}>", U::DTYPE),
            format!("cast<{}→{}>", T::DTYPE, U::DTYPE),
            |a: T| a.cast::<U>(),
        ))
    }

    /// Applies `f` to each element. The closure is compiled into the fused kernel: no block
    /// is written between it and the operations around it.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::arange(4, 2);
    /// let y = x.map(|v| if v > 1.0 { 1u8 } else { 0 });
    /// assert_eq!(y.compute()?.into_raw_vec_and_offset().0, vec![0, 0, 1, 1]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn map<U, F>(&self, f: F) -> ChunkedArray<U>
    where
        U: Element,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        let id = fresh_id();
        self.unary_kernel(Unary::kernel("map", format!("map#{id}"), f))
    }

    /// Applies `f(block, block_index)` to each block; it must return a block of the same
    /// shape. An `Err` or a panic in `f` stops the computation with an error naming the
    /// block.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::ones(&[4, 4], &[2, 2]);
    /// let y = x.map_blocks(|b, idx| Ok(b.mapv(|v| v * (idx[0] + 1) as f64)));
    /// assert_eq!(y.sum().compute()?, 8.0 * 1.0 + 8.0 * 2.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn map_blocks<U, F>(&self, f: F) -> ChunkedArray<U>
    where
        U: Element,
        F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync + 'static,
    {
        ChunkedArray::from_result(self.expr_ref().map(|e| {
            let f = MapBlocksFn { f, _t: PhantomData };
            Expr::new(
                e.grid.clone(),
                U::DTYPE,
                Op::MapBlocks(Arc::new(f)),
                vec![e.clone()],
            )
        }))
    }

    /// The same values cut into blocks of about `target_bytes` each (Dask's
    /// `rechunk("auto")` with a byte target): the current chunk shape is scaled evenly on
    /// every axis, axes that reach their length stay whole, and the others absorb the rest.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::zeros(&[4000, 4000], &[100, 100]);
    /// let y = x.rechunk_bytes(8 << 20); // 8 MiB blocks of f64: about 1024 x 1024
    /// assert_eq!(y.chunks(), vec![1024, 1024]);
    /// assert!(x.rechunk_bytes(0).check().is_err());
    /// ```
    pub fn rechunk_bytes(&self, target_bytes: usize) -> ChunkedArray<T> {
        if target_bytes == 0 {
            return ChunkedArray::err(crate::Error::arg(
                "rechunk_bytes",
                "the target block size is 0 bytes",
            ));
        }
        let shape = self.shape().to_vec();
        let mut chunks: Vec<f64> = self.chunks().iter().map(|&c| c.max(1) as f64).collect();
        let target = (target_bytes / T::DTYPE.size()).max(1) as f64;
        let mut whole = vec![false; shape.len()];
        for _ in 0..shape.len() + 1 {
            let fixed: f64 = (0..shape.len())
                .filter(|&k| whole[k])
                .map(|k| shape[k].max(1) as f64)
                .product();
            let free: Vec<usize> = (0..shape.len()).filter(|&k| !whole[k]).collect();
            if free.is_empty() {
                break;
            }
            let current: f64 = free.iter().map(|&k| chunks[k]).product();
            let f = (target / fixed / current).powf(1.0 / free.len() as f64);
            let mut changed = false;
            for &k in &free {
                chunks[k] *= f;
                if chunks[k] >= shape[k] as f64 {
                    chunks[k] = shape[k].max(1) as f64;
                    whole[k] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let c: Vec<usize> = chunks
            .iter()
            .zip(&shape)
            .map(|(&c, &n)| (c.round() as usize).clamp(1, n.max(1)))
            .collect();
        self.rechunk(&c)
    }

    /// The same values cut into new chunks (one size per axis; the last chunk may be
    /// smaller). Each output block is assembled from the input blocks it overlaps.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[100, 100], &[100, 10]);
    /// let y = x.rechunk(&[10, 100]);
    /// assert_eq!(y.chunks(), vec![10, 100]);
    /// assert_eq!(y.compute()?, x.compute()?);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn rechunk(&self, chunks: &[usize]) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().and_then(|e| {
            let grid = ChunkGrid::regular_for("rechunk", e.shape(), chunks)?;
            if grid == e.grid {
                return Ok(e.clone());
            }
            Ok(Expr::new(grid, T::DTYPE, Op::Rechunk, vec![e.clone()]))
        }))
    }
}

/// Picks `a` where `cond` is true and `b` elsewhere, broadcasting all three (NumPy's `where`).
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::arange(6, 4) - 2.0;
/// let y = rask::where_(&x.gt(0.0), &x, 0.0);
/// assert_eq!(y.sum().compute()?, 1.0 + 2.0 + 3.0);
/// # Ok::<(), rask::Error>(())
/// ```
pub fn where_<T: Element>(
    cond: &ChunkedArray<bool>,
    a: impl IntoOperand<T>,
    b: impl IntoOperand<T>,
) -> ChunkedArray<T> {
    let a = a.into_operand().into_array();
    let b = b.into_operand().into_array();
    let r = (|| {
        let exprs = vec![
            cond.expr_ref()?.clone(),
            a.expr_ref()?.clone(),
            b.expr_ref()?.clone(),
        ];
        crate::geo::check_same_grid("where", &exprs)?;
        let (grid, inputs) = align("where", &exprs)?;
        Ok(Expr::new(
            grid,
            T::DTYPE,
            Op::Map(Select::<T>::new_ref()),
            inputs,
        ))
    })();
    ChunkedArray::from_result(r)
}

impl<T: Number> ChunkedArray<T> {
    /// `|x|` elementwise (wrapping for the most negative integer).
    pub fn abs(&self) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel("abs", format!("abs<{}>", T::DTYPE), T::abs))
    }

    /// `x^n` elementwise for an integer power.
    pub fn powi(&self, n: i32) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel(
            format!("powi({n})"),
            format!("powi<{}>({n})", T::DTYPE),
            move |a| T::powi(a, n),
        ))
    }

    /// Limits values to `[lo, hi]` (NumPy's `clip`: `minimum(hi, maximum(x, lo))`; NaN stays NaN).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i32>::arange(10, 3).clip(2, 5);
    /// assert_eq!(x.sum().compute()?, 2 + 2 + 2 + 3 + 4 + 5 * 5);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn clip(&self, lo: T, hi: T) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel(
            format!("clip({lo}, {hi})"),
            format!("clip<{}>({lo:?},{hi:?})", T::DTYPE),
            move |a: T| {
                let m = if a < lo { lo } else { a };
                if m > hi { hi } else { m }
            },
        ))
    }

    /// The larger of `self` and `rhs` elementwise (NaN if either is NaN, as NumPy's `maximum`).
    pub fn maximum(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<T> {
        self.binary_op("maximum", rhs.into_operand(), |a, b| {
            if a.is_nan() || b.is_nan() {
                if a.is_nan() { a } else { b }
            } else if a >= b {
                a
            } else {
                b
            }
        })
    }

    /// The smaller of `self` and `rhs` elementwise (NaN if either is NaN, as NumPy's `minimum`).
    pub fn minimum(&self, rhs: impl IntoOperand<T>) -> ChunkedArray<T> {
        self.binary_op("minimum", rhs.into_operand(), |a, b| {
            if a.is_nan() || b.is_nan() {
                if a.is_nan() { a } else { b }
            } else if a <= b {
                a
            } else {
                b
            }
        })
    }
}

impl<T: Float> ChunkedArray<T> {
    /// `√x` elementwise.
    pub fn sqrt(&self) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel(
            "sqrt",
            format!("sqrt<{}>", T::DTYPE),
            |a: T| a.sqrt(),
        ))
    }

    /// `eˣ` elementwise.
    pub fn exp(&self) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel(
            "exp",
            format!("exp<{}>", T::DTYPE),
            |a: T| a.exp(),
        ))
    }

    /// The natural logarithm elementwise.
    pub fn ln(&self) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel("ln", format!("ln<{}>", T::DTYPE), |a: T| {
            a.ln()
        }))
    }

    /// `xᵖ` elementwise.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::full(&[3], &[2], 4.0).powf(0.5);
    /// assert_eq!(x.sum().compute()?, 6.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn powf(&self, p: T) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel(
            format!("powf({p})"),
            format!("powf<{}>({p:?})", T::DTYPE),
            move |a: T| a.powf(p),
        ))
    }

    /// Whether each element is NaN.
    pub fn is_nan(&self) -> ChunkedArray<bool> {
        self.unary_kernel(Unary::kernel(
            "isnan",
            format!("isnan<{}>", T::DTYPE),
            |a: T| Element::is_nan(a),
        ))
    }
}

impl ChunkedArray<bool> {
    /// Logical and elementwise.
    pub fn and(&self, rhs: impl IntoOperand<bool>) -> ChunkedArray<bool> {
        self.binary_op("and", rhs.into_operand(), |a, b| a & b)
    }

    /// Logical or elementwise.
    pub fn or(&self, rhs: impl IntoOperand<bool>) -> ChunkedArray<bool> {
        self.binary_op("or", rhs.into_operand(), |a, b| a | b)
    }

    /// Logical exclusive or elementwise.
    pub fn xor(&self, rhs: impl IntoOperand<bool>) -> ChunkedArray<bool> {
        self.binary_op("xor", rhs.into_operand(), |a, b| a ^ b)
    }

    /// Logical not elementwise.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let m = ChunkedArray::<bool>::zeros(&[5], &[2]);
    /// assert!(m.not().all().compute()?);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn not(&self) -> ChunkedArray<bool> {
        self.unary_kernel(Unary::kernel("not", "not", |a: bool| !a))
    }
}

// ---------------------------------------------------------------- operators

macro_rules! arith_op {
    ($Trait:ident, $method:ident, $name:literal, $f:path) => {
        impl<T: Number> $Trait<&ChunkedArray<T>> for &ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: &ChunkedArray<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs.clone()), $f)
            }
        }
        impl<T: Number> $Trait<ChunkedArray<T>> for ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: ChunkedArray<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs), $f)
            }
        }
        impl<T: Number> $Trait<&ChunkedArray<T>> for ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: &ChunkedArray<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs.clone()), $f)
            }
        }
        impl<T: Number> $Trait<ChunkedArray<T>> for &ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: ChunkedArray<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs), $f)
            }
        }
        impl<T: Number> $Trait<T> for &ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: T) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Scalar(rhs), $f)
            }
        }
        impl<T: Number> $Trait<T> for ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: T) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Scalar(rhs), $f)
            }
        }
        impl<T: Number> $Trait<&Scalar<T>> for &ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: &Scalar<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs.0.clone()), $f)
            }
        }
        impl<T: Number> $Trait<Scalar<T>> for ChunkedArray<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: Scalar<T>) -> ChunkedArray<T> {
                self.binary_op($name, Operand::Array(rhs.0), $f)
            }
        }
        impl<T: Number> $Trait<&ChunkedArray<T>> for &Scalar<T> {
            type Output = ChunkedArray<T>;
            fn $method(self, rhs: &ChunkedArray<T>) -> ChunkedArray<T> {
                self.0.binary_op($name, Operand::Array(rhs.clone()), $f)
            }
        }
        impl<T: Number> $Trait<&Scalar<T>> for &Scalar<T> {
            type Output = Scalar<T>;
            fn $method(self, rhs: &Scalar<T>) -> Scalar<T> {
                Scalar(self.0.binary_op($name, Operand::Array(rhs.0.clone()), $f))
            }
        }
    };
}

arith_op!(Add, add, "add", Number::add);
arith_op!(Sub, sub, "sub", Number::sub);
arith_op!(Mul, mul, "mul", Number::mul);
arith_op!(Div, div, "div", Number::div);

macro_rules! scalar_lhs_ops {
    ($($t:ty),*) => {$(
        impl Add<&ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn add(self, rhs: &ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("add", self, <$t as Number>::add) }
        }
        impl Add<ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn add(self, rhs: ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("add", self, <$t as Number>::add) }
        }
        impl Sub<&ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn sub(self, rhs: &ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("sub", self, <$t as Number>::sub) }
        }
        impl Sub<ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn sub(self, rhs: ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("sub", self, <$t as Number>::sub) }
        }
        impl Mul<&ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn mul(self, rhs: &ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("mul", self, <$t as Number>::mul) }
        }
        impl Mul<ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn mul(self, rhs: ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("mul", self, <$t as Number>::mul) }
        }
        impl Div<&ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn div(self, rhs: &ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("div", self, <$t as Number>::div) }
        }
        impl Div<ChunkedArray<$t>> for $t {
            type Output = ChunkedArray<$t>;
            fn div(self, rhs: ChunkedArray<$t>) -> ChunkedArray<$t> { rhs.scalar_lhs_op("div", self, <$t as Number>::div) }
        }
    )*};
}
scalar_lhs_ops!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);

impl<T: Number> Neg for &ChunkedArray<T> {
    type Output = ChunkedArray<T>;
    fn neg(self) -> ChunkedArray<T> {
        self.unary_kernel(Unary::kernel("neg", format!("neg<{}>", T::DTYPE), T::neg))
    }
}

impl<T: Number> Neg for ChunkedArray<T> {
    type Output = ChunkedArray<T>;
    fn neg(self) -> ChunkedArray<T> {
        -&self
    }
}

macro_rules! bool_op {
    ($Trait:ident, $method:ident, $name:ident) => {
        impl $Trait<&ChunkedArray<bool>> for &ChunkedArray<bool> {
            type Output = ChunkedArray<bool>;
            fn $method(self, rhs: &ChunkedArray<bool>) -> ChunkedArray<bool> {
                self.$name(rhs)
            }
        }
        impl $Trait<ChunkedArray<bool>> for ChunkedArray<bool> {
            type Output = ChunkedArray<bool>;
            fn $method(self, rhs: ChunkedArray<bool>) -> ChunkedArray<bool> {
                (&self).$name(rhs)
            }
        }
    };
}
bool_op!(BitAnd, bitand, and);
bool_op!(BitOr, bitor, or);
bool_op!(BitXor, bitxor, xor);

impl Not for &ChunkedArray<bool> {
    type Output = ChunkedArray<bool>;
    fn not(self) -> ChunkedArray<bool> {
        ChunkedArray::not(self)
    }
}

impl Not for ChunkedArray<bool> {
    type Output = ChunkedArray<bool>;
    fn not(self) -> ChunkedArray<bool> {
        ChunkedArray::not(&self)
    }
}
