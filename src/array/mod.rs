//! [`ChunkedArray`], the lazy handle, and [`Scalar`], a lazy 0-d result.
//!
//! The impl blocks are split by concern: [`creation`](self) (random, constants, from data),
//! elementwise arithmetic and comparisons, and reductions.

mod creation;
mod elementwise;
mod geo;
mod linalg;
mod overlap;
pub(crate) mod reduce;
mod scan;
mod select;
mod shape;
pub(crate) mod stats;
mod window;

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::ArrayD;

pub use elementwise::{IntoOperand, Operand, where_};
pub use linalg::{outer, tensordot};
pub use overlap::Boundary;
pub use reduce::ReduceOpts;
pub use shape::{PadMode, concatenate, stack};
pub use window::WindowStat;

use crate::compute::sealed::HasExpr;
use crate::compute::{Computable, plan_exprs, run_exprs};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::{Config, Job, RunStats};
use crate::grid::ChunkGrid;
use crate::plan::Expr;

/// A lazy, chunked n-dimensional array of `T`.
///
/// Operations build a plan and return at once; nothing runs until [`compute`](Self::compute)
/// (or [`compute_all`](crate::compute_all)). Shape, chunk, axis and dtype errors are found
/// when an operation is called: the returned handle then carries the error, operations on it
/// carry it on, and `compute` (or [`check`](Self::check)) returns it without running anything.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
/// let y = (&x + 1.0) * 2.0 - &x * &x;
/// assert_eq!(y.shape(), &[1000, 1000]);
/// assert_eq!(y.num_blocks(), 100);
/// let m = y.mean().compute()?;
/// assert!((m - 2.6667).abs() < 0.01);
/// # Ok::<(), rask::Error>(())
/// ```
pub struct ChunkedArray<T: Element> {
    pub(crate) inner: Result<Arc<Expr>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element> Clone for ChunkedArray<T> {
    fn clone(&self) -> Self {
        ChunkedArray {
            inner: self.inner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> std::fmt::Debug for ChunkedArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Ok(e) => write!(f, "ChunkedArray<{}>({}, {})", T::DTYPE, e.grid, e.op_name()),
            Err(e) => write!(f, "ChunkedArray<{}>(error: {e})", T::DTYPE),
        }
    }
}

impl<T: Element> ChunkedArray<T> {
    pub(crate) fn from_result(r: Result<Arc<Expr>>) -> Self {
        ChunkedArray {
            inner: r,
            _t: PhantomData,
        }
    }

    pub(crate) fn err(e: Error) -> Self {
        Self::from_result(Err(e))
    }

    pub(crate) fn expr_ref(&self) -> Result<&Arc<Expr>> {
        self.inner.as_ref().map_err(|e| e.clone())
    }

    /// Returns the error recorded while building this array, if any, without computing.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    /// let b = ChunkedArray::<f64>::ones(&[5], &[5]);
    /// let e = (&a + &b).check().unwrap_err();
    /// assert!(e.to_string().contains("[4, 3] and [5]"), "{e}");
    /// ```
    pub fn check(&self) -> Result<&Self> {
        self.expr_ref().map(|_| self)
    }

    /// The chunk grid, or `None` if building this array failed.
    pub fn grid(&self) -> Option<&ChunkGrid> {
        self.inner.as_ref().ok().map(|e| &e.grid)
    }

    /// The shape (empty if building this array failed).
    pub fn shape(&self) -> &[usize] {
        self.grid().map_or(&[], |g| g.shape())
    }

    /// The nominal chunk size per axis (the last chunk of an axis may be smaller).
    pub fn chunks(&self) -> Vec<usize> {
        self.grid().map_or_else(Vec::new, |g| g.chunk_shape())
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape().len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape().iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of bytes the elements take.
    pub fn nbytes(&self) -> usize {
        self.len() * T::DTYPE.size()
    }

    /// The number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.grid().map_or(0, |g| g.num_blocks())
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// Computes the array with the default [`Config`].
    pub fn compute(&self) -> Result<ArrayD<T>> {
        self.compute_with(&Config::default())
    }

    /// Computes the array with `config`.
    pub fn compute_with(&self, config: &Config) -> Result<ArrayD<T>> {
        Ok(self.compute_with_stats(config)?.0)
    }

    /// Computes the array and returns what the run did.
    pub fn compute_with_stats(&self, config: &Config) -> Result<(ArrayD<T>, RunStats)> {
        let e = self.expr_ref()?.clone();
        let (mut out, stats) = run_exprs(&[e], config)?;
        Ok((out.pop().expect("one output").into_array::<T>()?, stats))
    }

    /// Starts computing the array in the background and returns at once: a [`Job`] to watch
    /// ([`Job::progress`]), stop ([`Job::cancel`], or drop it) and wait for ([`Job::wait`]).
    /// The array handle is cloned (cheap: the plan is shared), so `self` stays usable.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
    /// let job = (&x + 1.0).compute_async(&Config::default());
    /// // ... do other work, or poll job.progress() ...
    /// let a = job.wait()?;
    /// assert_eq!(a.shape(), &[1000, 1000]);
    ///
    /// // Cancelled jobs return Error::Cancelled and leave nothing behind.
    /// let slow = x.map_blocks(|b, _| {
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     Ok(b.to_owned())
    /// });
    /// let job = slow.compute_async(&Config::default());
    /// job.cancel();
    /// assert!(matches!(job.wait(), Err(rask::Error::Cancelled)));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn compute_async(&self, config: &Config) -> Job<ArrayD<T>> {
        let x = self.clone();
        Job::spawn(config, move |c| x.compute_with(c))
    }

    /// The plan in words: the stages after fusion, their grids, task counts and block sizes.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
    /// let plan = ((&x + 1.0) * 2.0).mean().explain();
    /// assert!(plan.contains("random(seed=0) → add(1) → mul(2)"), "{plan}");
    /// ```
    pub fn explain(&self) -> String {
        match self.expr_ref() {
            Ok(e) => crate::plan::explain::explain(
                &plan_exprs(std::slice::from_ref(e), &Config::default()).0,
            ),
            Err(e) => format!("invalid plan: {e}"),
        }
    }

    /// The plan as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        match self.expr_ref() {
            Ok(e) => crate::plan::explain::to_dot(
                &plan_exprs(std::slice::from_ref(e), &Config::default()).0,
            ),
            Err(e) => format!("// invalid plan: {e}\ndigraph rask {{}}\n"),
        }
    }
}

impl<T: Element> Computable for ChunkedArray<T> {}
#[allow(private_interfaces)] // sealed: see `compute::sealed`
impl<T: Element> HasExpr for ChunkedArray<T> {
    fn expr(&self) -> Result<Arc<Expr>> {
        self.expr_ref().cloned()
    }
}

/// A lazy 0-d result, as returned by full reductions: `compute()` gives a `T`.
///
/// ```
/// use rask::prelude::*;
/// let s: Scalar<f64> = ChunkedArray::<f64>::ones(&[10, 10], &[3, 3]).sum();
/// assert_eq!(s.compute()?, 100.0);
/// # Ok::<(), rask::Error>(())
/// ```
pub struct Scalar<T: Element>(pub(crate) ChunkedArray<T>);

impl<T: Element> Clone for Scalar<T> {
    fn clone(&self) -> Self {
        Scalar(self.0.clone())
    }
}

impl<T: Element> std::fmt::Debug for Scalar<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scalar({:?})", self.0)
    }
}

impl<T: Element> Scalar<T> {
    /// Computes the value with the default [`Config`].
    pub fn compute(&self) -> Result<T> {
        self.compute_with(&Config::default())
    }

    /// Computes the value with `config`.
    pub fn compute_with(&self, config: &Config) -> Result<T> {
        Ok(self.compute_with_stats(config)?.0)
    }

    /// Computes the value and returns what the run did.
    pub fn compute_with_stats(&self, config: &Config) -> Result<(T, RunStats)> {
        let (a, stats) = self.0.compute_with_stats(config)?;
        Ok((*a.iter().next().expect("0-d result has one element"), stats))
    }

    /// Starts computing the value in the background: see
    /// [`ChunkedArray::compute_async`].
    ///
    /// ```
    /// use rask::prelude::*;
    /// let job = ChunkedArray::<f64>::ones(&[1000, 1000], &[100, 100]).sum()
    ///     .compute_async(&Config::default());
    /// assert_eq!(job.wait()?, 1e6);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn compute_async(&self, config: &Config) -> Job<T> {
        let x = self.clone();
        Job::spawn(config, move |c| x.compute_with(c))
    }

    /// The 0-d array behind the value (to combine with arrays by broadcasting).
    pub fn as_array(&self) -> &ChunkedArray<T> {
        &self.0
    }

    /// Returns the error recorded while building, if any.
    pub fn check(&self) -> Result<&Self> {
        self.0.check().map(|_| self)
    }

    /// The plan in words (see [`ChunkedArray::explain`]).
    pub fn explain(&self) -> String {
        self.0.explain()
    }

    /// The plan as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.0.to_dot()
    }
}

impl<T: Element> From<Scalar<T>> for ChunkedArray<T> {
    fn from(s: Scalar<T>) -> Self {
        s.0
    }
}

impl<T: Element> Computable for Scalar<T> {}
#[allow(private_interfaces)] // sealed: see `compute::sealed`
impl<T: Element> HasExpr for Scalar<T> {
    fn expr(&self) -> Result<Arc<Expr>> {
        self.0.expr()
    }
}
