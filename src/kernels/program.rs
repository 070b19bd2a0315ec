//! Fused elementwise programs, evaluated tile by tile.
//!
//! A [`Program`] is a small DAG of elementwise kernels over *leaves*: blocks of an input stage,
//! an ndarray held in memory, or a generator (random, constant, `arange`, `from_fn`) that
//! computes an element from its global index. Every leaf carries a view mapping from the
//! program's output domain to its own axes, so broadcasting costs no copy and no stage.
//!
//! A block is evaluated in *tiles* of about [`TILE`] elements aligned to its rows (runs of the
//! last axis). Each kernel runs over a whole tile of a register that stays in the L1 cache,
//! so a fused chain touches main memory once for its inputs and once for its output, and a
//! reduction fused behind it (see `reduce`) never writes the block at all. Leaves whose block
//! is laid out like the output are read in place, without a copy.

use crate::element::sealed::Sealed as _;
use std::sync::Arc;

use crate::block::{BlockRef, downcast, with_dtype};
use crate::element::{DType, Element, TileMut, TileSlice, TileVec};
use crate::grid::{ChunkGrid, c_strides};
use crate::kernels::elementwise::KernelRef;

/// The number of elements in a tile: 2048 f64 registers take 16 KiB, a few fit in L1.
pub(crate) const TILE: usize = 2048;

/// A source of elements computed from their global flat index in the leaf's own array.
pub(crate) trait Generator: Send + Sync {
    fn name(&self) -> String;
    /// Equal for generators that produce the same values.
    fn key(&self) -> String;
    fn dtype(&self) -> DType;
    /// `out[k] = value(start + k * step)` (`step` is 0 along broadcast axes).
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>);
}

/// Where a leaf's elements come from.
#[derive(Clone)]
pub(crate) enum LeafSource {
    /// Block of the program's input slot `slot` (a materialized stage).
    Input { slot: usize },
    /// An array held in memory (standard layout), read at the block's global position.
    Array { data: BlockRef },
    /// Computed from the global index.
    Gen(Arc<dyn Generator>),
}

/// How one axis of an array is read from the coordinates of a view of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SrcAxis {
    /// Coordinate `start + step * o`, where `o` is the coordinate along view axis `axis`.
    Out { axis: usize, start: i64, step: i64 },
    /// A fixed coordinate (an integer index, or 0 on a broadcast axis of length 1).
    Fixed(i64),
}

impl SrcAxis {
    /// The identity map of `ndim` axes.
    pub(crate) fn identity(ndim: usize) -> Vec<SrcAxis> {
        (0..ndim)
            .map(|axis| SrcAxis::Out {
                axis,
                start: 0,
                step: 1,
            })
            .collect()
    }

    /// This map seen through `outer`, the map of the view's own axes: composes the affine maps.
    pub(crate) fn compose(self, outer: &[SrcAxis]) -> SrcAxis {
        match self {
            SrcAxis::Fixed(p) => SrcAxis::Fixed(p),
            SrcAxis::Out { axis, start, step } => match outer[axis] {
                SrcAxis::Fixed(p) => SrcAxis::Fixed(start + step * p),
                SrcAxis::Out {
                    axis: j,
                    start: a,
                    step: s,
                } => SrcAxis::Out {
                    axis: j,
                    start: start + step * a,
                    step: step * s,
                },
            },
        }
    }

    /// The coordinate read for view coordinates `o`.
    pub(crate) fn at(self, o: &[usize]) -> i64 {
        match self {
            SrcAxis::Fixed(p) => p,
            SrcAxis::Out { axis, start, step } => start + step * o[axis] as i64,
        }
    }
}

/// Whether `src` is the identity map of `ndim` axes.
pub(crate) fn is_identity(src: &[SrcAxis], ndim: usize) -> bool {
    src.len() == ndim && src == SrcAxis::identity(ndim).as_slice()
}

/// One leaf of a program.
#[derive(Clone)]
pub(crate) struct Leaf {
    pub source: LeafSource,
    pub dtype: DType,
    /// The leaf array's own shape.
    pub shape: Vec<usize>,
    /// For each leaf axis: how its coordinate follows from the output domain's coordinates.
    pub src: Vec<SrcAxis>,
    /// The grid of the input stage (`Input` leaves): each output block lies in one of its blocks.
    pub grid: Option<ChunkGrid>,
}

impl Leaf {
    fn input_grid(&self) -> &ChunkGrid {
        self.grid
            .as_ref()
            .expect("internal: input leaf without grid")
    }

    /// The leaf's block holding the output block whose first element is at `offset`
    /// (`Input` leaves).
    pub(crate) fn input_block(&self, offset: &[usize]) -> Vec<usize> {
        let g = self.input_grid();
        self.src
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let len = self.shape[k] as i64;
                let c = s.at(offset).clamp(0, (len - 1).max(0));
                g.block_of(k, c as usize)
            })
            .collect()
    }

    /// Whether every element of the leaf array is read by some block of `out` (so that every
    /// input block has a reader).
    pub(crate) fn covers(&self, out: &ChunkGrid) -> bool {
        self.src.iter().enumerate().all(|(k, s)| match *s {
            SrcAxis::Fixed(_) => self.shape[k] <= 1,
            SrcAxis::Out { axis, step, .. } => {
                step.abs() == 1 && out.shape()[axis] == self.shape[k]
            }
        })
    }

    /// How many blocks of `out` read input block `b` through this leaf.
    pub(crate) fn readers(&self, out: &ChunkGrid, b: &[usize]) -> usize {
        let g = self.input_grid();
        let mut n = 1usize;
        let mut mapped = vec![false; out.ndim()];
        for (k, s) in self.src.iter().enumerate() {
            let lo = g.chunk_start(k, b[k]) as i64;
            let hi = lo + g.chunk_size(k, b[k]) as i64;
            match *s {
                SrcAxis::Fixed(p) => {
                    let inside = (lo <= p && p < hi) || (self.shape[k] == 0 && p == 0);
                    if !inside {
                        return 0;
                    }
                }
                SrcAxis::Out { axis, start, step } => {
                    mapped[axis] = true;
                    // The output coordinates o with lo <= start + step * o < hi.
                    let olen = out.shape()[axis] as i64;
                    if olen == 0 {
                        continue;
                    }
                    let (a, z) = if step > 0 {
                        (ceil_div(lo - start, step), ceil_div(hi - start, step))
                    } else {
                        (
                            ceil_div(start - hi + 1, -step),
                            ceil_div(start - lo + 1, -step),
                        )
                    };
                    let (a, z) = (a.clamp(0, olen) as usize, z.clamp(0, olen) as usize);
                    n *= out.blocks_overlapping(axis, a, z).len();
                }
            }
        }
        for (j, m) in mapped.iter().enumerate() {
            if !m {
                n *= out.blocks_on_axis(j);
            }
        }
        n
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

/// A node of a program: a leaf or a kernel applied to earlier nodes.
#[derive(Clone)]
pub(crate) enum PNode {
    Leaf(usize),
    Op { kernel: KernelRef, args: Vec<usize> },
}

/// A fused elementwise program; the last node is its output.
#[derive(Clone, Default)]
pub(crate) struct Program {
    pub leaves: Vec<Leaf>,
    pub nodes: Vec<PNode>,
}

impl Program {
    pub(crate) fn node_dtype(&self, i: usize) -> DType {
        match &self.nodes[i] {
            PNode::Leaf(l) => self.leaves[*l].dtype,
            PNode::Op { kernel, .. } => kernel.out_dtype(),
        }
    }

    pub(crate) fn out_dtype(&self) -> DType {
        self.node_dtype(self.nodes.len() - 1)
    }

    /// Names of the fused operations, in evaluation order (for `explain`).
    pub(crate) fn op_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| match n {
                PNode::Leaf(l) => {
                    let leaf = &self.leaves[*l];
                    let name = match &leaf.source {
                        LeafSource::Input { slot } => format!("in{slot}"),
                        LeafSource::Array { .. } => "ndarray".to_string(),
                        LeafSource::Gen(g) => g.name(),
                    };
                    if is_identity(&leaf.src, leaf.shape.len()) {
                        name
                    } else {
                        format!("{name}.view")
                    }
                }
                PNode::Op { kernel, .. } => kernel.name(),
            })
            .collect()
    }
}

/// A run of whole rows, or a piece of one row, of a block in C order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tile {
    /// Flat offset of the tile's first element in the block.
    pub start: usize,
    pub len: usize,
    pub row0: usize,
    pub nrows: usize,
    pub col0: usize,
    pub row_len: usize,
}

/// The tiles of a block of shape `dims` (0-d blocks are passed as `[1]`).
pub(crate) fn tiles(dims: &[usize]) -> impl Iterator<Item = Tile> {
    let l = *dims.last().unwrap_or(&1);
    let rows: usize = dims[..dims.len().saturating_sub(1)].iter().product();
    let empty = l == 0 || rows == 0;
    let (count, per_row, rows_per_tile) = if empty {
        (0, 1, 1)
    } else if l <= TILE {
        let rpt = (TILE / l).max(1);
        (rows.div_ceil(rpt), 1, rpt)
    } else {
        let ppr = l.div_ceil(TILE);
        (rows * ppr, ppr, 1)
    };
    (0..count).map(move |t| {
        if per_row == 1 {
            let row0 = t * rows_per_tile;
            let nrows = rows_per_tile.min(rows - row0);
            Tile {
                start: row0 * l,
                len: nrows * l,
                row0,
                nrows,
                col0: 0,
                row_len: l,
            }
        } else {
            let row0 = t / per_row;
            let col0 = (t % per_row) * TILE;
            let row_len = TILE.min(l - col0);
            Tile {
                start: row0 * l + col0,
                len: row_len,
                row0,
                nrows: 1,
                col0,
                row_len,
            }
        }
    })
}

/// Calls `f(offset, dst)` for each row of `tile`, where `offset = base + sum(idx * strides)`
/// over the row's leading indices plus `col0 * strides[last]`, and `dst` is the row's offset
/// within the tile.
#[inline]
pub(crate) fn for_each_row(
    dims: &[usize],
    strides: &[i64],
    base: i64,
    tile: &Tile,
    mut f: impl FnMut(i64, usize),
) {
    let lead = dims.len() - 1;
    let inner = strides[lead];
    let mut idx = [0usize; 32];
    let idx = &mut idx[..lead];
    let mut r = tile.row0;
    for k in (0..lead).rev() {
        idx[k] = r % dims[k];
        r /= dims[k];
    }
    let mut off = base + tile.col0 as i64 * inner;
    for k in 0..lead {
        off += idx[k] as i64 * strides[k];
    }
    for row in 0..tile.nrows {
        f(off, row * tile.row_len);
        // Odometer step to the next row.
        let mut k = lead;
        while k > 0 {
            k -= 1;
            idx[k] += 1;
            off += strides[k];
            if idx[k] < dims[k] {
                break;
            }
            off -= strides[k] * dims[k] as i64;
            idx[k] = 0;
        }
    }
}

/// A leaf made ready for one block.
enum Prepared<'a> {
    /// Laid out like the output block: tiles are sub-slices, no copy.
    Contig(TileSlice<'a>),
    /// Read through strides (broadcast, transposed, or a window of a larger array).
    Strided {
        mem: TileSlice<'a>,
        base: i64,
        strides: Vec<i64>,
    },
    Gen {
        generator: &'a dyn Generator,
        base: i64,
        strides: Vec<i64>,
    },
}

/// The memory of a contiguous array, the offset of its first logical element, and its strides.
fn memory_of<T: Element>(a: ndarray::ArrayViewD<'_, T>) -> (&[T], i64, Vec<i64>) {
    let mem = a
        .to_slice_memory_order()
        .expect("internal: blocks are contiguous in memory");
    let first = if a.is_empty() {
        0
    } else {
        (a.as_ptr() as usize - mem.as_ptr() as usize) / std::mem::size_of::<T>().max(1)
    };
    (
        mem,
        first as i64,
        a.strides().iter().map(|&s| s as i64).collect(),
    )
}

/// Evaluates a program over the tiles of one block.
pub(crate) struct BlockEval<'a> {
    prog: &'a Program,
    prepared: Vec<Prepared<'a>>,
    regs: Vec<Option<TileVec>>,
    /// The block's shape (`[1]` for a 0-d block).
    pub dims: Vec<usize>,
    /// Register length: a tile, or the whole block when it is smaller.
    reg_len: usize,
}

impl<'a> BlockEval<'a> {
    /// Prepares the program for the block of shape `block_shape` at global `offset`.
    pub(crate) fn new(
        prog: &'a Program,
        inputs: &'a [BlockRef],
        block_shape: &[usize],
        offset: &[usize],
    ) -> Self {
        let dims: Vec<usize> = if block_shape.is_empty() {
            vec![1]
        } else {
            block_shape.to_vec()
        };
        let out_c = c_strides(&dims);
        let empty = dims.contains(&0);
        // For leaf memory strides `ms` and the leaf coordinates `origin` of the memory's first
        // element: the offset of the block's first element and the step along each output axis.
        let place = |leaf: &Leaf, ms: &[i64], origin: &[i64]| -> (i64, Vec<i64>) {
            let mut strides = vec![0i64; dims.len()];
            let mut base = 0i64;
            for (k, s) in leaf.src.iter().enumerate() {
                let c = if empty { origin[k] } else { s.at(offset) };
                base += (c - origin[k]) * ms[k];
                if let SrcAxis::Out { axis, step, .. } = *s {
                    strides[axis] += step * ms[k];
                }
            }
            (base, strides)
        };
        let prepared = prog
            .leaves
            .iter()
            .map(|leaf| match &leaf.source {
                LeafSource::Input { slot } => {
                    let block = &inputs[*slot];
                    let g = leaf.input_grid();
                    let bi = leaf.input_block(offset);
                    let origin: Vec<i64> = bi.iter().enumerate().map(|(k, &i)| g.chunk_start(k, i) as i64).collect();
                    with_dtype!(leaf.dtype, T => {
                        let (mem, first, ms) = memory_of(downcast::<T>(block));
                        let (base, strides) = place(leaf, &ms, &origin);
                        let base = base + first;
                        let contig = strides.iter().zip(&out_c).zip(&dims).all(|((&s, &c), &n)| n <= 1 || s == c as i64);
                        let len: usize = dims.iter().product();
                        if contig && base >= 0 && mem.len() >= base as usize + len {
                            Prepared::Contig(T::tile(&mem[base as usize..base as usize + len]))
                        } else {
                            Prepared::Strided { mem: T::tile(mem), base, strides }
                        }
                    })
                }
                LeafSource::Array { data } => with_dtype!(leaf.dtype, T => {
                    let (mem, first, ms) = memory_of(downcast::<T>(data));
                    let (base, strides) = place(leaf, &ms, &vec![0; leaf.shape.len()]);
                    Prepared::Strided { mem: T::tile(mem), base: base + first, strides }
                }),
                LeafSource::Gen(g) => {
                    let cs: Vec<i64> = c_strides(&leaf.shape).iter().map(|&s| s as i64).collect();
                    let (base, strides) = place(leaf, &cs, &vec![0; leaf.shape.len()]);
                    Prepared::Gen { generator: g.as_ref(), base, strides }
                }
            })
            .collect();
        let reg_len = dims.iter().product::<usize>().clamp(1, TILE);
        BlockEval {
            prog,
            prepared,
            regs: (0..prog.nodes.len()).map(|_| None).collect(),
            dims,
            reg_len,
        }
    }

    /// Reads leaf `l` for `tile` into `out` (`Strided` and `Gen` leaves).
    fn load(&self, l: usize, tile: &Tile, out: TileMut<'_>) {
        match &self.prepared[l] {
            Prepared::Contig(s) => {
                let mut out = out;
                out.copy_from(s.sub(tile.start, tile.len));
            }
            Prepared::Strided { mem, base, strides } => {
                with_dtype!(self.prog.leaves[l].dtype, T => {
                    gather::<T>(T::slice(*mem), &self.dims, strides, *base, tile, T::slice_mut(out))
                })
            }
            Prepared::Gen {
                generator,
                base,
                strides,
            } => {
                let inner = *strides.last().unwrap_or(&0);
                let mut out = out;
                let n = tile.row_len;
                for_each_row(&self.dims, strides, *base, tile, |g, dst| {
                    generator.fill(g, inner, sub_mut(&mut out, dst, n));
                });
            }
        }
    }

    /// Computes every node but the last into registers.
    fn run_body(&mut self, tile: &Tile) {
        let last = self.prog.nodes.len() - 1;
        for i in 0..last {
            if let PNode::Leaf(l) = self.prog.nodes[i]
                && matches!(self.prepared[l], Prepared::Contig(_))
            {
                continue;
            }
            let mut reg = self.regs[i]
                .take()
                .unwrap_or_else(|| TileVec::new(self.prog.node_dtype(i), self.reg_len));
            self.compute_node(i, tile, reg.as_mut(tile.len));
            self.regs[i] = Some(reg);
        }
    }

    /// Computes node `i` into `out`, reading its arguments from registers.
    fn compute_node(&self, i: usize, tile: &Tile, out: TileMut<'_>) {
        match &self.prog.nodes[i] {
            PNode::Leaf(l) => self.load(*l, tile, out),
            PNode::Op { kernel, args } => {
                let slices: Vec<TileSlice<'_>> =
                    args.iter().map(|&a| self.node_slice(a, tile)).collect();
                kernel.eval(&slices, out);
            }
        }
    }

    fn node_slice(&self, i: usize, tile: &Tile) -> TileSlice<'_> {
        if let PNode::Leaf(l) = self.prog.nodes[i]
            && let Prepared::Contig(s) = &self.prepared[l]
        {
            return s.sub(tile.start, tile.len);
        }
        self.regs[i]
            .as_ref()
            .expect("internal: node evaluated before use")
            .as_slice(tile.len)
    }

    /// Evaluates `tile` and writes the program's output into `dest` (`tile.len` elements).
    pub(crate) fn eval_into(&mut self, tile: &Tile, dest: TileMut<'_>) {
        self.run_body(tile);
        self.compute_node(self.prog.nodes.len() - 1, tile, dest);
    }

    /// Evaluates `tile` and returns the program's output.
    pub(crate) fn eval(&mut self, tile: &Tile) -> TileSlice<'_> {
        self.run_body(tile);
        let last = self.prog.nodes.len() - 1;
        if let PNode::Leaf(l) = self.prog.nodes[last]
            && let Prepared::Contig(s) = &self.prepared[l]
        {
            return s.sub(tile.start, tile.len);
        }
        let mut reg = self.regs[last]
            .take()
            .unwrap_or_else(|| TileVec::new(self.prog.node_dtype(last), self.reg_len));
        self.compute_node(last, tile, reg.as_mut(tile.len));
        self.regs[last] = Some(reg);
        self.regs[last].as_ref().unwrap().as_slice(tile.len)
    }
}

/// Evaluates `prog` over a block and returns it as a new block of `block_shape`.
pub(crate) fn eval_block(
    prog: &Program,
    inputs: &[BlockRef],
    block_shape: &[usize],
    offset: &[usize],
) -> BlockRef {
    let mut ev = BlockEval::new(prog, inputs, block_shape, offset);
    let len: usize = block_shape.iter().product();
    // Every element is written below (the tiles cover the block once).
    let mut out = TileVec::for_block(prog.out_dtype(), len);
    let dims = ev.dims.clone();
    for tile in tiles(&dims) {
        ev.eval_into(&tile, out.sub_mut(tile.start, tile.len));
    }
    out.into_block(block_shape)
}

fn sub_mut<'b>(t: &'b mut TileMut<'_>, start: usize, len: usize) -> TileMut<'b> {
    macro_rules! arms {
        ($($v:ident),*) => {
            match t { $(TileMut::$v(s) => TileMut::$v(&mut s[start..start + len]),)* }
        };
    }
    arms!(F32, F64, I8, I16, I32, I64, U8, U16, U32, U64, Bool)
}

/// Copies the elements of `tile` from `mem` (through `strides`, from `base`) into `out`.
fn gather<T: Element>(
    mem: &[T],
    dims: &[usize],
    strides: &[i64],
    base: i64,
    tile: &Tile,
    out: &mut [T],
) {
    let inner = *strides.last().unwrap_or(&0);
    let n = tile.row_len;
    for_each_row(dims, strides, base, tile, |off, dst| {
        let o = &mut out[dst..dst + n];
        let off = off as usize;
        match inner {
            1 => o.copy_from_slice(&mem[off..off + n]),
            0 => o.fill(mem[off]),
            s => {
                for (k, v) in o.iter_mut().enumerate() {
                    *v = mem[(off as i64 + k as i64 * s) as usize];
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_block_once() {
        for dims in [
            vec![5usize, 3],
            vec![3, 5000],
            vec![1],
            vec![7, 1, 2049],
            vec![4, 0],
        ] {
            let n: usize = dims.iter().product();
            let mut seen = vec![0u8; n];
            for t in tiles(&dims) {
                for c in &mut seen[t.start..t.start + t.len] {
                    *c += 1;
                }
                assert!(t.len <= TILE.max(dims[dims.len() - 1].min(TILE)));
            }
            assert!(seen.iter().all(|&c| c == 1), "{dims:?}");
        }
    }

    #[test]
    fn rows_walk_in_c_order() {
        let dims = [2usize, 3, 4];
        let strides = [12i64, 4, 1];
        let mut offs = vec![];
        for t in tiles(&dims) {
            for_each_row(&dims, &strides, 0, &t, |o, d| offs.push((o, t.start + d)));
        }
        for (o, d) in offs {
            assert_eq!(o as usize, d);
        }
    }
}
