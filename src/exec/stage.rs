//! Stages: the lowered plan nodes that the scheduler runs, one task per output block.
//!
//! A stage's *back-key* function ([`StageKernel::deps`]) names the input blocks that one
//! output block needs; [`StageKernel::consumers`] counts, for an input block, how many output
//! blocks read it, so the scheduler can free a block the moment its last reader is done. Both
//! are pure functions of block indices: tasks are derived while running, never stored as a
//! graph of chunks.

use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, IxDyn, SliceInfoElem};

use crate::block::{BlockRef, downcast, with_dtype};
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::grid::ChunkGrid;
use crate::kernels::program::{BlockEval, LeafSource, Program, eval_block};
use crate::kernels::reduce::ReduceRef;
use crate::plan::{BlockFn, BlockSource};

/// What a stage does for one output block.
pub(crate) trait StageKernel: Send + Sync {
    /// Calls `emit(slot, block)` for each input block that output block `out` needs, in a
    /// fixed order; `run` receives them in that order.
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>));
    /// How many of this stage's tasks read block `b` of input slot `slot` (counting each
    /// time a task lists it).
    fn consumers(&self, slot: usize, b: &[usize]) -> usize;
    /// Computes output block `out`; sinks return `None`.
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>>;
    /// Whether the tasks of this stage, all together, read every block of input `slot`.
    /// When that is not known to hold, the scheduler counts consumers block by block.
    fn covers(&self, _slot: usize) -> bool {
        true
    }
    /// Whether running a task again is cheap and gives the same block (root tasks reading a
    /// file): the scheduler may drop such a block under memory pressure instead of spilling it.
    fn rereadable(&self) -> bool {
        false
    }
    /// Whether output block `out` is already done and must not run (a sink resuming an
    /// interrupted write): the scheduler issues no task for it, nor for inputs only it reads.
    fn skip(&self, _out: &[usize]) -> bool {
        false
    }
}

/// A node of the physical plan.
pub(crate) struct Stage {
    /// The kind of stage (`fused`, `reduce`, `combine`, ...).
    pub kind: &'static str,
    /// What it computes, for `explain`.
    pub detail: String,
    /// The output grid (for sinks: the grid of the collected array).
    pub grid: ChunkGrid,
    /// Output element type (`None` for reduction states).
    pub dtype: Option<DType>,
    /// Bytes of one element of the output (state size for reduction states).
    pub elem_bytes: usize,
    /// Input stages, by slot.
    pub inputs: Vec<usize>,
    pub kernel: Box<dyn StageKernel>,
}

impl Stage {
    /// Bytes of the largest output block.
    pub(crate) fn block_bytes(&self) -> usize {
        self.grid.max_block_len() * self.elem_bytes
    }
}

// ---------------------------------------------------------------- fused elementwise

/// Input slots of a program: each `Input` leaf is one slot, read at the block its view of
/// output block `out` (of `grid`) falls in.
fn program_deps(
    prog: &Program,
    grid: &ChunkGrid,
    out: &[usize],
    emit: &mut dyn FnMut(usize, Vec<usize>),
) {
    let offset = grid.block_offset(out);
    for leaf in &prog.leaves {
        if let LeafSource::Input { slot } = leaf.source {
            emit(slot, leaf.input_block(&offset));
        }
    }
}

/// Whether the program's leaves on `slot` read every block of that input.
fn program_covers(prog: &Program, grid: &ChunkGrid, slot: usize) -> bool {
    prog.leaves
        .iter()
        .filter(|l| matches!(l.source, LeafSource::Input { slot: s } if s == slot))
        .any(|l| l.covers(grid))
}

/// Output blocks of `grid` reading block `b` of input slot `slot`.
fn program_consumers(prog: &Program, grid: &ChunkGrid, slot: usize, b: &[usize]) -> usize {
    prog.leaves
        .iter()
        .filter(|l| matches!(l.source, LeafSource::Input { slot: s } if s == slot))
        .map(|l| l.readers(grid, b))
        .sum()
}

/// A fused elementwise program writing a block.
pub(crate) struct FusedMap {
    pub program: Program,
    pub grid: ChunkGrid,
}

impl StageKernel for FusedMap {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        program_deps(&self.program, &self.grid, out, emit);
    }
    fn consumers(&self, slot: usize, b: &[usize]) -> usize {
        program_consumers(&self.program, &self.grid, slot, b)
    }
    fn covers(&self, slot: usize) -> bool {
        program_covers(&self.program, &self.grid, slot)
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let shape = self.grid.block_shape(out);
        let offset = self.grid.block_offset(out);
        Ok(Some(eval_block(&self.program, inputs, &shape, &offset)))
    }
    /// A fused stage without input stages computes its blocks from their coordinates
    /// (generators, in-memory arrays): computing a block again costs less than spilling it.
    /// (The scheduler asks only of stages without inputs.)
    fn rereadable(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- reductions

/// The first step of a reduction, fused behind its producer: block → state block.
pub(crate) struct ReducePartial {
    pub program: Program,
    /// The producer's grid (the domain the program runs over).
    pub domain: ChunkGrid,
    pub reducer: ReduceRef,
    pub reduced: Vec<bool>,
    pub weights: Vec<u64>,
}

impl StageKernel for ReducePartial {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        program_deps(&self.program, &self.domain, out, emit);
    }
    fn consumers(&self, slot: usize, b: &[usize]) -> usize {
        program_consumers(&self.program, &self.domain, slot, b)
    }
    fn covers(&self, slot: usize) -> bool {
        program_covers(&self.program, &self.domain, slot)
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let shape = self.domain.block_shape(out);
        let offset = self.domain.block_offset(out);
        let mut ev = BlockEval::new(&self.program, inputs, &shape, &offset);
        let (reduced, weights, offset) = if shape.is_empty() {
            (vec![true], vec![0], vec![0])
        } else {
            (self.reduced.clone(), self.weights.clone(), offset)
        };
        Ok(Some(
            self.reducer.partial(&mut ev, &reduced, &weights, &offset),
        ))
    }
}

/// Merges groups of `fan[k]` state blocks along each reduced axis `k`.
pub(crate) struct ReduceCombine {
    pub reducer: ReduceRef,
    /// Blocks per axis of the input state grid.
    pub in_blocks: Vec<usize>,
    /// Group size per axis (1 on kept axes).
    pub fan: Vec<usize>,
}

impl StageKernel for ReduceCombine {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let ranges: Vec<(usize, usize)> = out
            .iter()
            .zip(&self.fan)
            .zip(&self.in_blocks)
            .map(|((&o, &f), &n)| (o * f, ((o + 1) * f).min(n)))
            .collect();
        for_each_index(&ranges, |b| emit(0, b.to_vec()));
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        Ok(Some(self.reducer.combine(inputs)))
    }
}

/// Turns the last state blocks into values, dropping reduced axes unless `keepdims`.
pub(crate) struct ReduceFinalize {
    pub reducer: ReduceRef,
    pub grid: ChunkGrid,
    /// For each input (state) axis: the output axis it becomes, or `None` when dropped.
    pub to_out: Vec<Option<usize>>,
}

impl StageKernel for ReduceFinalize {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let b = self
            .to_out
            .iter()
            .map(|o| o.map_or(0, |j| out[j]))
            .collect();
        emit(0, b);
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        Ok(Some(
            self.reducer
                .finalize(&inputs[0], &self.grid.block_shape(out)),
        ))
    }
}

// ---------------------------------------------------------------- rechunk

/// Copies the overlapping parts of input blocks into each output block.
pub(crate) struct Rechunk {
    pub from: ChunkGrid,
    pub to: ChunkGrid,
    pub dtype: DType,
}

impl Rechunk {
    fn overlap_ranges(src: &ChunkGrid, dst: &ChunkGrid, b: &[usize]) -> Vec<(usize, usize)> {
        (0..dst.ndim())
            .map(|k| {
                let lo = dst.chunk_start(k, b[k]);
                let hi = lo + dst.chunk_size(k, b[k]);
                let r = src.blocks_overlapping(k, lo, hi);
                if r.is_empty() {
                    (0, 1)
                } else {
                    (r.start, r.end)
                }
            })
            .collect()
    }
}

impl StageKernel for Rechunk {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let ranges = Self::overlap_ranges(&self.from, &self.to, out);
        for_each_index(&ranges, |b| emit(0, b.to_vec()));
    }
    fn consumers(&self, _slot: usize, b: &[usize]) -> usize {
        Self::overlap_ranges(&self.to, &self.from, b)
            .iter()
            .map(|(lo, hi)| hi - lo)
            .product()
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        with_dtype!(self.dtype, T => Ok(Some(self.assemble::<T>(out, inputs))))
    }
}

impl Rechunk {
    fn assemble<T: Element>(&self, out: &[usize], inputs: &[BlockRef]) -> BlockRef {
        let shape = self.to.block_shape(out);
        let origin = self.to.block_offset(out);
        let mut dst = ArrayD::<T>::default(IxDyn(&shape));
        let ranges = Self::overlap_ranges(&self.from, &self.to, out);
        let mut i = 0;
        for_each_index(&ranges, |b| {
            let src = downcast::<T>(&inputs[i]);
            i += 1;
            let src_origin = self.from.block_offset(b);
            let mut s_src = Vec::with_capacity(shape.len());
            let mut s_dst = Vec::with_capacity(shape.len());
            for k in 0..shape.len() {
                let lo = origin[k].max(src_origin[k]);
                let hi = (origin[k] + shape[k]).min(src_origin[k] + src.shape()[k]);
                let hi = hi.max(lo);
                s_src.push(SliceInfoElem::from(
                    (lo - src_origin[k])..(hi - src_origin[k]),
                ));
                s_dst.push(SliceInfoElem::from((lo - origin[k])..(hi - origin[k])));
            }
            dst.slice_mut(s_dst.as_slice())
                .assign(&src.slice(s_src.as_slice()));
            // A rechunk reads a piece of many spilled inputs; the kernel maps whole 64 KiB
            // windows around each page touched, so drop each input's pages once copied, or the
            // task's resident set would grow with its fan-in.
            if inputs[i - 1].is_mapped() {
                inputs[i - 1].release_pages();
            }
        });
        Arc::new(dst)
    }
}

// ---------------------------------------------------------------- concatenation

/// Output block `b` is block `b` of the input whose blocks cover `b[axis]`, shifted.
pub(crate) struct Concat {
    pub axis: usize,
    /// The first output block (along `axis`) of each input, and the total at the end.
    pub starts: Vec<usize>,
}

impl StageKernel for Concat {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let i = self.starts.partition_point(|&s| s <= out[self.axis]) - 1;
        let mut b = out.to_vec();
        b[self.axis] -= self.starts[i];
        emit(i, b);
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        Ok(Some(inputs[0].clone()))
    }
}

// ---------------------------------------------------------------- user closures

pub(crate) struct MapBlocksStage {
    pub f: Arc<dyn BlockFn>,
}

impl StageKernel for MapBlocksStage {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        self.f.apply(&inputs[0], out).map(Some)
    }
}

pub(crate) struct FromBlocksStage {
    pub f: Arc<dyn BlockSource>,
    pub grid: ChunkGrid,
}

impl StageKernel for FromBlocksStage {
    fn deps(&self, _out: &[usize], _emit: &mut dyn FnMut(usize, Vec<usize>)) {}
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        0
    }
    fn run(&self, out: &[usize], _inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        self.f
            .produce(
                out,
                &self.grid.block_offset(out),
                &self.grid.block_shape(out),
            )
            .map(Some)
    }
    fn rereadable(&self) -> bool {
        self.f.rereadable()
    }
}

// ---------------------------------------------------------------- sinks

/// Receives the blocks of a computed output: an in-memory array ([`Collector`]), a store
/// writer (Zarr, `.npy`, GeoTIFF), or a stream to the user (`iter_blocks`). `put` is called
/// once per block of the output grid, from worker threads, in no fixed order.
pub(crate) trait Collect: Send + Sync {
    /// Takes block `block` (at element `offset`) of the output.
    fn put(&self, block: &[usize], offset: &[usize], data: &BlockRef) -> Result<()>;
    /// Where the output goes, for plans and errors (`into memory`, `to_zarr(/out.zarr)`).
    fn name(&self) -> String {
        "into memory".into()
    }
    /// The assembled result (`ArrayD<T>`, boxed) for sinks that assemble one.
    fn take(&self) -> Box<dyn std::any::Any + Send> {
        Box::new(())
    }
    /// Whether block `block` is already stored (by an earlier, interrupted run being
    /// resumed) and need not be computed.
    fn done(&self, _block: &[usize]) -> bool {
        false
    }
}

/// Assembles blocks into one in-memory array.
pub(crate) struct Collector<T> {
    out: Mutex<Option<ArrayD<T>>>,
}

impl<T: Element> Collector<T> {
    pub(crate) fn new(shape: &[usize]) -> Self {
        Collector {
            out: Mutex::new(Some(ArrayD::default(IxDyn(shape)))),
        }
    }
}

impl<T: Element> Collect for Collector<T> {
    fn put(&self, _block: &[usize], offset: &[usize], data: &BlockRef) -> Result<()> {
        let b = downcast::<T>(data);
        let sl: Vec<SliceInfoElem> = offset
            .iter()
            .zip(b.shape())
            .map(|(&o, &n)| SliceInfoElem::from(o..o + n))
            .collect();
        let mut guard = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let out = guard
            .as_mut()
            .ok_or_else(|| Error::arg("collect", "output already taken"))?;
        out.slice_mut(sl.as_slice()).assign(&b);
        Ok(())
    }
    fn take(&self) -> Box<dyn std::any::Any + Send> {
        let a = self.out.lock().unwrap_or_else(|p| p.into_inner()).take();
        Box::new(a.expect("internal: output taken twice"))
    }
}

/// Sink stage: hands each block of its input to a collector.
pub(crate) struct CollectStage {
    pub grid: ChunkGrid,
    pub target: Arc<dyn Collect>,
}

impl StageKernel for CollectStage {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        self.target
            .put(out, &self.grid.block_offset(out), &inputs[0])?;
        Ok(None)
    }
    fn skip(&self, out: &[usize]) -> bool {
        self.target.done(out)
    }
}

/// Calls `f` for each index in the box `ranges` (half-open per axis), in C order.
pub(crate) fn for_each_index(ranges: &[(usize, usize)], mut f: impl FnMut(&[usize])) {
    if ranges.iter().any(|(lo, hi)| hi <= lo) {
        return;
    }
    let mut idx: Vec<usize> = ranges.iter().map(|r| r.0).collect();
    loop {
        f(&idx);
        let mut k = idx.len();
        loop {
            if k == 0 {
                return;
            }
            k -= 1;
            idx[k] += 1;
            if idx[k] < ranges[k].1 {
                break;
            }
            idx[k] = ranges[k].0;
        }
    }
}
