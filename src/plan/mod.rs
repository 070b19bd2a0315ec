//! The logical plan: array-level operations, one node per operation, never one per chunk.
//!
//! A [`ChunkedArray`](crate::ChunkedArray) holds an `Arc<Expr>`; expressions share their
//! inputs, so a user's program is a DAG of `Expr`s whose size grows with the number of
//! operations, not with the number of blocks. At compute time:
//!
//! 1. [`logical`] loads the DAG into a petgraph graph, merging common subexpressions
//!    (structurally equal ops on equal inputs) and keeping only what the outputs need;
//! 2. [`optimize`] fuses elementwise chains, generators, broadcasts and the first step of
//!    each reduction into per-block kernels, and lowers the graph to a graph of *stages*;
//!    each stage knows, for an output block, which input blocks it needs (its back-keys);
//! 3. [`explain`] renders either graph for people (`explain()`, `to_dot()`).

pub(crate) mod explain;
pub(crate) mod logical;
pub(crate) mod optimize;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, ArrayViewD};

use crate::block::BlockRef;
use crate::element::DType;
use crate::error::Result;
use crate::grid::ChunkGrid;
use crate::kernels::elementwise::KernelRef;
use crate::kernels::program::{Generator, SrcAxis};
use crate::kernels::reduce::ReduceRef;

/// A block-level operation that is not fused: it names, for each output block, the input
/// blocks it needs and computes the block from them. Operations such as `map_overlap`,
/// `matmul`, scans and histograms are written against this trait in their own files; the
/// optimizer lowers every one the same way (one stage, inputs materialized as blocks).
pub(crate) trait BlockOp: Send + Sync {
    /// The operation's name for plans and errors, e.g. `map_overlap(depth=[1, 1])`.
    fn name(&self) -> String;
    /// Equal for operations that compute the same values from the same inputs (include a
    /// unique id for closures).
    fn key(&self) -> String;
    /// The stage kernel, given the grids of the inputs (as materialized) and of the output.
    fn kernel(
        &self,
        inputs: &[ChunkGrid],
        out: &ChunkGrid,
    ) -> Box<dyn crate::exec::stage::StageKernel>;
    /// The georeferencing of the output, given the inputs (see [`crate::geo`]); `None` (dropped)
    /// by default. Operations that keep the grid or transform it say so here.
    fn geo(&self, _inputs: &[Arc<Expr>], _dtype: DType) -> Option<Arc<crate::geo::GeoInfo>> {
        None
    }
}

/// Where blocks come from with no input: a user closure (`from_blocks`) or storage (Zarr,
/// `.npy`, raw binary, GeoTIFF readers). Every source is lowered to one stage of root tasks.
pub(crate) trait BlockSource: Send + Sync {
    /// Block `block` of the array's grid: the elements at `offset`, of shape `shape`, as an
    /// array of the source's dtype in standard layout (or a [`MappedBlock`](crate::block::MappedBlock)).
    fn produce(&self, block: &[usize], offset: &[usize], shape: &[usize]) -> Result<BlockRef>;
    /// The source's name for plans and errors, e.g. `open_zarr(/data/x.zarr)`.
    fn name(&self) -> String {
        "from_blocks".into()
    }
    /// A key equal for sources that give the same values on the same grid (the same file
    /// opened twice, say), so that common-subexpression elimination merges them; `None` keys
    /// the source by identity.
    fn key(&self) -> Option<String> {
        None
    }
    /// Whether producing a block again is cheap and gives the same values (a read from a
    /// file): the scheduler may then drop a held block under memory pressure and read it again
    /// instead of spilling it.
    fn rereadable(&self) -> bool {
        false
    }
    /// The georeferencing of the blocks (a GeoTIFF's, say); `None` by default.
    fn geo(&self) -> Option<Arc<crate::geo::GeoInfo>> {
        None
    }
}

/// A user closure mapping one block to another (`map_blocks`).
pub(crate) trait BlockFn: Send + Sync {
    fn apply(&self, input: &BlockRef, block: &[usize]) -> Result<BlockRef>;
}

/// Typed adapter for `map_blocks` closures.
pub(crate) struct MapBlocksFn<T, U, F> {
    pub f: F,
    pub _t: std::marker::PhantomData<fn(T) -> U>,
}

impl<T, U, F> BlockFn for MapBlocksFn<T, U, F>
where
    T: crate::Element,
    U: crate::Element,
    F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync,
{
    fn apply(&self, input: &BlockRef, block: &[usize]) -> Result<BlockRef> {
        let a = crate::block::downcast::<T>(input);
        let out = (self.f)(a.view(), block)?;
        if out.shape() != a.shape() {
            return Err(crate::Error::shapes(
                "map_blocks",
                a.shape(),
                out.shape(),
                "the closure must return a block of its input's shape",
            ));
        }
        Ok(Arc::new(standard(out)))
    }
}

/// Typed adapter for `from_blocks` closures.
pub(crate) struct FromBlocksFn<T, F> {
    pub f: F,
    pub _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> BlockSource for FromBlocksFn<T, F>
where
    T: crate::Element,
    F: Fn(&[usize]) -> Result<ArrayD<T>> + Send + Sync,
{
    fn produce(&self, block: &[usize], _offset: &[usize], shape: &[usize]) -> Result<BlockRef> {
        let out = (self.f)(block)?;
        if out.shape() != shape {
            return Err(crate::Error::shapes(
                "from_blocks",
                shape,
                out.shape(),
                "the closure must return a block of the grid's block shape",
            ));
        }
        Ok(Arc::new(standard(out)))
    }
}

/// The array in a layout whose memory is contiguous (kernels read blocks as slices).
pub(crate) fn standard<T: Clone>(a: ArrayD<T>) -> ArrayD<T> {
    if a.as_slice_memory_order().is_some() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// One array-level operation.
#[derive(Clone)]
pub(crate) enum Op {
    /// Elements computed from their global index (random, constants, `arange`, `from_fn`).
    Generate(Arc<dyn Generator>),
    /// An ndarray held in memory.
    Array(BlockRef),
    /// Blocks produced by a user closure.
    FromBlocks(Arc<dyn BlockSource>),
    /// An elementwise kernel over inputs of the output's shape and grid.
    Map(KernelRef),
    /// A view: input axis `k` is read at `src[k]` of the view's coordinates (broadcasts,
    /// transpositions, slices, flips, integer indexing, new axes).
    View { src: Vec<SrcAxis> },
    /// A reduction over `axes` (sorted, distinct).
    Reduce {
        kernel: ReduceRef,
        axes: Vec<usize>,
        keepdims: bool,
        split_every: Option<usize>,
        /// Weight of each input axis in the reduction index (arg reductions).
        weights: Vec<u64>,
    },
    /// The same values on a new chunk grid.
    Rechunk,
    /// A user closure over blocks, keeping the grid.
    MapBlocks(Arc<dyn BlockFn>),
    /// The inputs joined along `axis`; each output block is an input block, passed on as is.
    Concat { axis: usize },
    /// A block-level operation (see [`BlockOp`]).
    Blockwise(Arc<dyn BlockOp>),
}

/// A node of the logical plan.
pub(crate) struct Expr {
    pub grid: ChunkGrid,
    pub dtype: DType,
    pub op: Op,
    pub inputs: Vec<Arc<Expr>>,
    /// A process-unique id, for closures' identity in common-subexpression keys.
    pub id: u64,
    /// The georeferencing of the last two axes, derived from the inputs when the node is
    /// built (see [`crate::geo`]). Not part of the node's key: it does not change values.
    pub geo: Option<Arc<crate::geo::GeoInfo>>,
}

impl Drop for Expr {
    /// Drops chains of expressions iteratively: a plan of a million chained operations must
    /// not overflow the stack when its last handle goes.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.inputs);
        while let Some(e) = stack.pop() {
            if let Ok(mut last) = Arc::try_unwrap(e) {
                stack.append(&mut last.inputs);
            }
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-unique id.
pub(crate) fn fresh_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

impl Expr {
    pub(crate) fn new(grid: ChunkGrid, dtype: DType, op: Op, inputs: Vec<Arc<Expr>>) -> Arc<Expr> {
        let geo = crate::geo::derive(&op, &inputs, &grid, dtype);
        Arc::new(Expr {
            grid,
            dtype,
            op,
            inputs,
            id: fresh_id(),
            geo,
        })
    }

    /// The same node with other georeferencing. It keeps the id, so common-subexpression
    /// elimination still merges it with the original (the values are the same).
    pub(crate) fn with_geo(&self, geo: Option<Arc<crate::geo::GeoInfo>>) -> Arc<Expr> {
        Arc::new(Expr {
            grid: self.grid.clone(),
            dtype: self.dtype,
            op: self.op.clone(),
            inputs: self.inputs.clone(),
            id: self.id,
            geo,
        })
    }

    pub(crate) fn shape(&self) -> &[usize] {
        self.grid.shape()
    }

    /// The operation's name for plans and errors.
    pub(crate) fn op_name(&self) -> String {
        match &self.op {
            Op::Generate(g) => g.name(),
            Op::Array(_) => "from_ndarray".into(),
            Op::FromBlocks(f) => f.name(),
            Op::Map(k) => k.name(),
            Op::View { .. } => "view".into(),
            Op::Reduce { kernel, axes, .. } => format!("{}{:?}", kernel.name(), axes),
            Op::Rechunk => "rechunk".into(),
            Op::MapBlocks(_) => "map_blocks".into(),
            Op::Concat { axis } => format!("concatenate(axis={axis})"),
            Op::Blockwise(op) => op.name(),
        }
    }

    /// A key equal for operations that compute the same values from the same inputs
    /// (closures and in-memory arrays are keyed by identity).
    pub(crate) fn op_key(&self) -> String {
        let k = match &self.op {
            Op::Generate(g) => format!("gen:{}", g.key()),
            Op::Array(b) => format!("array:{:p}", Arc::as_ptr(b) as *const u8),
            Op::FromBlocks(f) => match f.key() {
                Some(k) => format!("source:{k}"),
                None => format!("from_blocks:{}", self.id),
            },
            Op::Map(k) => format!("map:{}", k.key()),
            Op::View { src } => format!("view:{src:?}"),
            Op::Reduce {
                kernel,
                axes,
                keepdims,
                split_every,
                weights,
            } => format!(
                "reduce:{}:{axes:?}:{keepdims}:{split_every:?}:{weights:?}",
                kernel.name()
            ),
            Op::Rechunk => "rechunk".into(),
            Op::MapBlocks(_) => format!("map_blocks:{}", self.id),
            Op::Concat { axis } => format!("concat:{axis}"),
            Op::Blockwise(op) => format!("blockwise:{}", op.key()),
        };
        format!("{k}|{}|{:?}", self.dtype, self.grid)
    }
}
