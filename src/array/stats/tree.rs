//! Merge trees over blocks (exact selection), and [`UnknownLen`], the handle of results whose
//! length depends on the data.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use ndarray::{Array1, ArrayD, IxDyn};

use super::SPLIT_EVERY;
use crate::block::{AnyBlock, BlockRef};
use crate::compute::{plan_exprs, run_exprs};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::stage::StageKernel;
use crate::exec::{Config, RunStats};
use crate::grid::ChunkGrid;
use crate::plan::{BlockOp, Expr, Op, fresh_id};

/// Merges the blocks of one group, in the order given (block order along the tree's axis).
pub(crate) trait Merger: Send + Sync + 'static {
    /// The operation, for plans and errors (`histogram`, `topk(k=3, axis=1)`, ...).
    fn name(&self) -> String;
    /// Equal for mergers that compute the same thing.
    fn key(&self) -> String;
    fn merge(&self, parts: &[BlockRef]) -> Result<BlockRef>;
}

/// One level of a merge tree along `axis`: output block `o` merges input blocks
/// `o·fan .. (o+1)·fan` along the axis.
struct TreeLevel {
    axis: usize,
    fan: usize,
    merger: Arc<dyn Merger>,
}

struct TreeKernel {
    axis: usize,
    fan: usize,
    nb: usize,
    merger: Arc<dyn Merger>,
}

impl BlockOp for TreeLevel {
    fn name(&self) -> String {
        format!("{}:merge(fan-in {})", self.merger.name(), self.fan)
    }
    fn key(&self) -> String {
        format!("tree:{}:{}:{}", self.merger.key(), self.axis, self.fan)
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(TreeKernel {
            axis: self.axis,
            fan: self.fan,
            nb: inputs[0].blocks_on_axis(self.axis),
            merger: self.merger.clone(),
        })
    }
}

impl StageKernel for TreeKernel {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let lo = out[self.axis] * self.fan;
        let hi = (lo + self.fan).min(self.nb);
        for i in lo..hi {
            let mut b = out.to_vec();
            b[self.axis] = i;
            emit(0, b);
        }
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        if inputs.len() == 1 {
            return Ok(Some(inputs[0].clone()));
        }
        self.merger.merge(inputs).map(Some)
    }
}

/// Merges the blocks of `e` along `axis` in a tree of fan-in [`SPLIT_EVERY`] until one block
/// is left on the axis. `size` gives a merged chunk's length along the axis from the lengths
/// of its group.
pub(crate) fn tree(
    e: Arc<Expr>,
    axis: usize,
    merger: Arc<dyn Merger>,
    size: impl Fn(&[usize]) -> usize,
) -> Result<Arc<Expr>> {
    let mut cur = e;
    while cur.grid.blocks_on_axis(axis) > 1 {
        let g = &cur.grid;
        let groups: Vec<usize> = g.chunk_sizes(axis).chunks(SPLIT_EVERY).map(&size).collect();
        let mut shape = g.shape().to_vec();
        shape[axis] = groups.iter().sum();
        let sizes: Vec<Vec<usize>> = (0..g.ndim())
            .map(|k| {
                if k == axis {
                    groups.clone()
                } else {
                    g.chunk_sizes(k)
                }
            })
            .collect();
        let grid = ChunkGrid::from_chunk_sizes(&shape, &sizes)?;
        cur = Expr::new(
            grid,
            cur.dtype,
            Op::Blockwise(Arc::new(TreeLevel {
                axis,
                fan: SPLIT_EVERY,
                merger: merger.clone(),
            })),
            vec![cur],
        );
    }
    Ok(cur)
}

// ---------------------------------------------------------------- results of unknown length

/// A vector of data-dependent length (`unique`, `bincount`), or the error found computing it
/// (the first in block order).
pub(crate) struct ListBlock<T> {
    pub values: Vec<T>,
    pub error: Option<Error>,
}

impl<T: Send + Sync + 'static> AnyBlock for ListBlock<T> {
    fn nbytes(&self) -> usize {
        self.values.len() * std::mem::size_of::<T>()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl<T: 'static> ListBlock<T> {
    /// The block as a list (the plan guarantees the type).
    pub(crate) fn of(b: &BlockRef) -> &ListBlock<T> {
        b.as_any()
            .downcast_ref::<ListBlock<T>>()
            .expect("internal: block is not a list")
    }
}

/// Where a [`Take`] puts the values.
type Slot<T> = Arc<Mutex<Option<Vec<T>>>>;

/// Takes the single [`ListBlock`] of its input into a slot.
struct Take<T> {
    slot: Slot<T>,
    id: u64,
    op: String,
}

struct TakeKernel<T> {
    slot: Slot<T>,
    ndim: usize,
}

impl<T: Element> BlockOp for Take<T> {
    fn name(&self) -> String {
        format!("{}:take", self.op)
    }
    fn key(&self) -> String {
        format!("take:{}", self.id)
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(TakeKernel {
            slot: self.slot.clone(),
            ndim: inputs[0].ndim(),
        })
    }
}

impl<T: Element> StageKernel for TakeKernel<T> {
    fn deps(&self, _out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, vec![0; self.ndim]);
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let list = ListBlock::<T>::of(&inputs[0]);
        if let Some(e) = &list.error {
            return Err(e.clone());
        }
        *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(list.values.clone());
        Ok(Some(Arc::new(ArrayD::from_elem(IxDyn(&[1]), false))))
    }
}

/// A lazy 1-d result whose length is known only once it is computed (Dask's arrays of
/// unknown chunk sizes): what [`unique`](crate::ChunkedArray::unique) and
/// [`bincount`](crate::ChunkedArray::bincount) return. Like a `ChunkedArray`, it carries
/// any error found while building it, and runs nothing until [`compute`](Self::compute).
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::from_fn(&[1000], &[100], |i| (i[0] % 7) as u32);
/// let u: UnknownLen<u32> = x.unique();
/// assert_eq!(u.compute()?.len(), 7);
/// # Ok::<(), rask::Error>(())
/// ```
pub struct UnknownLen<T: Element> {
    /// The expression whose single block is the result, and the length to pad it to.
    inner: Result<(Arc<Expr>, usize)>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element> Clone for UnknownLen<T> {
    fn clone(&self) -> Self {
        UnknownLen {
            inner: self.inner.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: Element> std::fmt::Debug for UnknownLen<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Ok((e, _)) => write!(f, "UnknownLen<{}>({})", T::DTYPE, e.op_name()),
            Err(e) => write!(f, "UnknownLen<{}>(error: {e})", T::DTYPE),
        }
    }
}

impl<T: Element> UnknownLen<T> {
    pub(crate) fn new(inner: Result<(Arc<Expr>, usize)>) -> Self {
        UnknownLen {
            inner,
            _t: PhantomData,
        }
    }

    /// A fresh sink reading the result into its own slot.
    fn sink(&self) -> Result<(Arc<Expr>, Slot<T>, usize)> {
        let (e, pad) = self.inner.as_ref().map_err(|e| e.clone())?;
        let slot = Arc::new(Mutex::new(None));
        let take = Take::<T> {
            slot: slot.clone(),
            id: fresh_id(),
            op: e.op_name(),
        };
        let grid = ChunkGrid::regular(&[1], &[1])?;
        let sink = Expr::new(
            grid,
            DType::Bool,
            Op::Blockwise(Arc::new(take)),
            vec![e.clone()],
        );
        Ok((sink, slot, *pad))
    }

    /// Returns the error recorded while building, if any, without computing.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(10, 3);
    /// assert!(x.bincount(usize::MAX).check().is_err());
    /// assert!(x.unique().check().is_ok());
    /// ```
    pub fn check(&self) -> Result<&Self> {
        self.inner.as_ref().map(|_| self).map_err(|e| e.clone())
    }

    /// Computes the values with the default [`Config`].
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(10, 3);
    /// assert_eq!(x.unique().compute()?.len(), 10);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn compute(&self) -> Result<Array1<T>> {
        self.compute_with(&Config::default())
    }

    /// Computes the values with `config`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[6], &[2], |i| (i[0] / 2) as u16);
    /// let counts = x.bincount(0).compute_with(&Config::default().threads(1))?;
    /// assert_eq!(counts.to_vec(), vec![2, 2, 2]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn compute_with(&self, config: &Config) -> Result<Array1<T>> {
        Ok(self.compute_with_stats(config)?.0)
    }

    /// Computes the values and returns what the run did.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[100], &[10], |i| (i[0] % 4) as u8);
    /// let (u, stats) = x.unique().compute_with_stats(&Config::default())?;
    /// assert_eq!((u.len(), stats.tasks > 10), (4, true));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn compute_with_stats(&self, config: &Config) -> Result<(Array1<T>, RunStats)> {
        let (sink, slot, pad) = self.sink()?;
        let (_, stats) = run_exprs(&[sink], config)?;
        let mut v = slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| Error::arg("UnknownLen::compute", "internal: no result block"))?;
        if v.len() < pad {
            v.resize(pad, T::default());
        }
        Ok((Array1::from(v), stats))
    }

    /// The plan in words (see [`ChunkedArray::explain`](crate::ChunkedArray::explain)).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[100], &[10], |i| (i[0] % 4) as u8);
    /// assert!(x.unique().explain().contains("unique"));
    /// ```
    pub fn explain(&self) -> String {
        match self.sink() {
            Ok((sink, _, _)) => crate::plan::explain::explain(
                &plan_exprs(std::slice::from_ref(&sink), &Config::default()).0,
            ),
            Err(e) => format!("invalid plan: {e}"),
        }
    }
}
