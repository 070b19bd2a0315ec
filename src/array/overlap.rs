//! Neighbourhood operations: `map_overlap` and the focal filters built on it.
//!
//! A block of `map_overlap` sees its neighbours' values up to `depth` elements beyond its edges.
//! The halo exchange moves edge strips, not blocks:
//!
//! 1. the array is padded lazily by `depth` with the boundary rule (views and
//!    `concatenate`: the array's edge blocks get thin padding blocks as neighbours);
//! 2. a *strips* step cuts every block's edge boxes (the 3ⁿ − 1 boxes its neighbours need);
//! 3. the *halo* step reads its own block plus its neighbours' strips, builds the haloed block,
//!    calls the function and trims the result.
//!
//! The halo step reads its own block through a separate materialization of the input, so a
//! block whose strips were cut early (for the row above) is not held until its own turn: a
//! fusable input (a generator, an elementwise chain) is simply computed again, and only the
//! small strips wait. Dask's `map_overlap` keeps whole overlapped copies instead. Two kinds
//! of input are the exception, as their blocks are *re-readable* (the scheduler may drop one
//! and compute it again): a file's blocks (Zarr, GeoTIFF, `.npy`: reading one again costs I/O
//! and decoding) and values computed from their coordinates alone (generators: computing one
//! twice costs the generator twice). For those the halo step shares the strips step's block,
//! which the scheduler keeps for it within its cache of re-readable blocks (an eighth of the
//! budget, at most 256 MiB) and drops, to be read again, beyond it or under memory pressure.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, SliceInfoElem, Zip};

use super::{ChunkedArray, PadMode};
use crate::block::{AnyBlock, BlockRef, downcast};
use crate::element::{Element, Float};
use crate::error::{Error, Result};
use crate::exec::stage::{StageKernel, for_each_index};
use crate::grid::ChunkGrid;
use crate::kernels::program::SrcAxis;
use crate::plan::{BlockOp, Expr, Op, fresh_id, standard};

/// What a halo holds beyond the array's edges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Boundary<T> {
    /// Mirrored with the edge value repeated (`d c b a | a b c d`; scipy.ndimage's and Dask's
    /// `reflect`).
    Reflect,
    /// The edge value repeated.
    Nearest,
    /// Values from the other end of the axis.
    Periodic,
    /// A constant.
    Constant(T),
    /// No halo beyond the array: blocks at the edge get a smaller haloed block.
    None,
}

/// The edge boxes of one block: entry `e` (in base 3, one digit per axis) holds, along axis `k`,
/// the first `depth[k]` elements (digit 0), all of them (1) or the last `depth[k]` (2).
struct Strips<T> {
    boxes: Vec<ArrayD<T>>,
}

impl<T: Element> AnyBlock for Strips<T> {
    fn nbytes(&self) -> usize {
        self.boxes
            .iter()
            .map(|b| b.len() * std::mem::size_of::<T>())
            .sum()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn strip_slices(digits: &[usize], depth: &[usize], shape: &[usize]) -> Vec<SliceInfoElem> {
    digits
        .iter()
        .zip(depth)
        .zip(shape)
        .map(|((&e, &d), &n)| {
            let (a, z) = match e {
                0 => (0, d.min(n)),
                1 => (0, n),
                _ => (n - d.min(n), n),
            };
            SliceInfoElem::from(a..z)
        })
        .collect()
}

/// Base-3 digits of `e` over `nd` axes (axis 0 most significant).
fn digits(mut e: usize, nd: usize) -> Vec<usize> {
    let mut d = vec![0; nd];
    for k in (0..nd).rev() {
        d[k] = e % 3;
        e /= 3;
    }
    d
}

struct StripsOp<T> {
    depth: Vec<usize>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> BlockOp for StripsOp<T> {
    fn name(&self) -> String {
        format!("halo strips(depth={:?})", self.depth)
    }
    fn key(&self) -> String {
        format!("strips<{}>:{:?}", T::DTYPE, self.depth)
    }
    fn kernel(&self, _inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(StripsKernel::<T> {
            depth: self.depth.clone(),
            _t: PhantomData,
        })
    }
}

struct StripsKernel<T> {
    depth: Vec<usize>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> StageKernel for StripsKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let x = downcast::<T>(&inputs[0]);
        let nd = x.ndim();
        let center = (3usize.pow(nd as u32) - 1) / 2;
        let boxes = (0..3usize.pow(nd as u32))
            .map(|e| {
                let dg = digits(e, nd);
                // Boxes only along axes with a halo; the center box is the block itself.
                if e == center || dg.iter().zip(&self.depth).any(|(&g, &d)| d == 0 && g != 1) {
                    return ArrayD::from_shape_vec(IxDyn(&vec![0; nd]), vec![]).expect("empty");
                }
                x.slice(strip_slices(&dg, &self.depth, x.shape()).as_slice())
                    .to_owned()
            })
            .collect();
        Ok(Some(Arc::new(Strips::<T> { boxes })))
    }
}

/// The halo step.
struct HaloOp<T, U, F> {
    depth: Vec<usize>,
    /// 1 on axes that were padded (their edge blocks have padding blocks as neighbours).
    off: Vec<usize>,
    f: Arc<F>,
    /// The same function over rows, for 2-d blocks (see [`RowsFn`]).
    rows: Option<RowsFn<T, U>>,
    id: u64,
    _t: PhantomData<fn(T) -> U>,
}

/// A function of a 2-d haloed block that reads it one row at a time, in order:
/// `f(row, n_rows, n_cols)`, where `row(k)` gives haloed row `k` as up to three pieces (the
/// left strip's, the centre's or the strip above or below it, the right strip's; absent
/// pieces empty) borrowed from the blocks as they are. The halo step then never assembles
/// the haloed block, which saves writing and reading a copy of every block (the focal
/// filters).
type RowsFn<T, U> = Arc<
    dyn for<'a> Fn(&mut dyn FnMut(usize) -> [&'a [T]; 3], usize, usize) -> Result<ArrayD<U>>
        + Send
        + Sync,
>;
impl<T, U, F> BlockOp for HaloOp<T, U, F>
where
    T: Element,
    U: Element,
    F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync + 'static,
{
    fn name(&self) -> String {
        format!("map_overlap(depth={:?})", self.depth)
    }
    fn key(&self) -> String {
        format!("map_overlap#{}", self.id)
    }
    fn geo(
        &self,
        inputs: &[Arc<Expr>],
        dtype: crate::element::DType,
    ) -> Option<Arc<crate::geo::GeoInfo>> {
        // The grid of the centres (the first input) is kept.
        let g = inputs.first()?.geo.as_ref()?;
        Some(Arc::new(g.recomputed(dtype)))
    }
    fn kernel(&self, inputs: &[ChunkGrid], out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(HaloKernel::<T, U, F> {
            depth: self.depth.clone(),
            off: self.off.clone(),
            out: out.clone(),
            padded: inputs[1].clone(),
            f: self.f.clone(),
            rows: self.rows.clone(),
            scratch: Mutex::new(Vec::new()),
            _t: PhantomData,
        })
    }
}

/// The most bytes of haloed-block buffers a halo stage keeps for reuse between its tasks.
const SCRATCH_KEEP_BYTES: usize = 64 << 20;

struct HaloKernel<T, U, F> {
    depth: Vec<usize>,
    off: Vec<usize>,
    out: ChunkGrid,
    padded: ChunkGrid,
    f: Arc<F>,
    rows: Option<RowsFn<T, U>>,
    /// Buffers of finished tasks' haloed blocks, reused by later tasks: a fresh block-sized
    /// allocation costs a page fault per 4 KiB, which took more time than the filter itself.
    scratch: Mutex<Vec<Vec<T>>>,
    _t: PhantomData<fn(T) -> U>,
}

impl<T, U, F> HaloKernel<T, U, F> {
    /// Neighbour offsets (each in -1..=1, 0 where the depth is 0), in a fixed order, with the
    /// padded-grid block they name, for the block whose padded index is `p`.
    fn neighbours(&self, p: &[usize]) -> Vec<(Vec<isize>, Vec<usize>)> {
        let nd = p.len();
        let ranges: Vec<(usize, usize)> = self
            .depth
            .iter()
            .map(|&d| if d > 0 { (0, 3) } else { (1, 2) })
            .collect();
        let per = self.padded.blocks_per_axis();
        let mut v = Vec::new();
        for_each_index(&ranges, |g| {
            let delta: Vec<isize> = g.iter().map(|&x| x as isize - 1).collect();
            if delta.iter().all(|&d| d == 0) {
                return;
            }
            let q: Option<Vec<usize>> = (0..nd)
                .map(|k| {
                    let q = p[k] as isize + delta[k];
                    (q >= 0 && (q as usize) < per[k]).then_some(q as usize)
                })
                .collect();
            if let Some(q) = q {
                v.push((delta, q));
            }
        });
        v
    }

    fn padded_index(&self, b: &[usize]) -> Vec<usize> {
        b.iter().zip(&self.off).map(|(&b, &o)| b + o).collect()
    }
}

impl<T, U, F> StageKernel for HaloKernel<T, U, F>
where
    T: Element,
    U: Element,
    F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync + 'static,
{
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
        for (_, q) in self.neighbours(&self.padded_index(out)) {
            emit(1, q);
        }
    }

    fn consumers(&self, slot: usize, b: &[usize]) -> usize {
        if slot == 0 {
            return 1;
        }
        // Centres c (padded index p = c + off) with b - p in {-1, 0, 1} per axis, not all 0.
        let per = self.out.blocks_per_axis();
        let mut n = 1usize;
        let mut self_centre = true;
        for k in 0..b.len() {
            let span: isize = if self.depth[k] > 0 { 1 } else { 0 };
            let c = b[k] as isize - self.off[k] as isize;
            let count = (c - span..=c + span)
                .filter(|&x| x >= 0 && (x as usize) < per[k])
                .count();
            n *= count;
            self_centre &= c >= 0 && (c as usize) < per[k];
        }
        n - usize::from(self_centre && n > 0)
    }

    fn covers(&self, slot: usize) -> bool {
        slot == 0
    }

    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let centre = downcast::<T>(&inputs[0]);
        let nd = centre.ndim();
        let p = self.padded_index(out);
        let neighbours = self.neighbours(&p);
        // Halo widths: present where a neighbour block exists on that side.
        let mut lo = vec![0usize; nd];
        let mut hi = vec![0usize; nd];
        for (delta, _) in &neighbours {
            for k in 0..nd {
                if delta.iter().enumerate().all(|(j, &d)| j == k || d == 0) {
                    if delta[k] < 0 {
                        lo[k] = self.depth[k];
                    } else if delta[k] > 0 {
                        hi[k] = self.depth[k];
                    }
                }
            }
        }
        let size = centre.shape().to_vec();
        let shape: Vec<usize> = (0..nd).map(|k| lo[k] + size[k] + hi[k]).collect();
        if let (Some(rows), 2) = (&self.rows, nd) {
            let result = self.run_rows(rows, out, &centre, &neighbours, &inputs[1..], &lo, &hi)?;
            return finish_halo(result, &shape, &size, &lo);
        }
        let len: usize = shape.iter().product();
        let mut buf = self
            .scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default();
        // Every element is written below (the centre and its neighbours' strips tile the
        // haloed block), so a reused buffer of the right length is not cleared first.
        if buf.len() != len {
            buf.clear();
            buf.resize(len, T::default());
        }
        let mut haloed =
            ArrayD::from_shape_vec(IxDyn(&shape), buf).expect("internal: haloed block shape");
        let place = |delta: &[isize]| -> Vec<SliceInfoElem> {
            (0..nd)
                .map(|k| {
                    let (a, z) = match delta[k] {
                        -1 => (0, lo[k]),
                        0 => (lo[k], lo[k] + size[k]),
                        _ => (lo[k] + size[k], shape[k]),
                    };
                    SliceInfoElem::from(a..z)
                })
                .collect()
        };
        haloed
            .slice_mut(place(&vec![0; nd]).as_slice())
            .assign(&centre);
        for ((delta, _), strips) in neighbours.iter().zip(&inputs[1..]) {
            let strips = strips
                .as_any()
                .downcast_ref::<Strips<T>>()
                .expect("internal: halo strips");
            let e = delta.iter().fold(0usize, |e, &d| e * 3 + (1 - d) as usize);
            let src = &strips.boxes[e];
            let mut dst = haloed.slice_mut(place(delta).as_slice());
            if dst.shape() != src.shape() {
                return Err(Error::arg(
                    "map_overlap",
                    format!(
                        "a neighbour of block {out:?} is smaller than the depth {:?}; rechunk to larger chunks",
                        self.depth
                    ),
                ));
            }
            dst.assign(src);
        }
        let result = (self.f)(haloed.view(), out);
        let (buf, _) = haloed.into_raw_vec_and_offset();
        {
            let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
            let kept: usize = scratch.iter().map(Vec::capacity).sum();
            if (kept + buf.capacity()) * std::mem::size_of::<T>() <= SCRATCH_KEEP_BYTES {
                scratch.push(buf);
            }
        }
        finish_halo(result?, &shape, &size, &lo)
    }
}

/// The block of a halo step from its function's result: trimmed when it has the haloed
/// block's `shape`, as is when it has the block's `size`, else an error.
fn finish_halo<U: Element>(
    result: ArrayD<U>,
    shape: &[usize],
    size: &[usize],
    lo: &[usize],
) -> Result<Option<BlockRef>> {
    let trimmed = if result.shape() == shape {
        let s: Vec<SliceInfoElem> = (0..size.len())
            .map(|k| SliceInfoElem::from(lo[k]..lo[k] + size[k]))
            .collect();
        result.slice(s.as_slice()).to_owned()
    } else if result.shape() == size {
        result
    } else {
        return Err(Error::shapes(
            "map_overlap",
            shape,
            result.shape(),
            "the function must return its haloed block's shape (trimmed after) or the block's shape",
        ));
    };
    Ok(Some(Arc::new(standard(trimmed))))
}

impl<T: Element, U, F> HaloKernel<T, U, F> {
    /// The halo step of a 2-d block through a [`RowsFn`]: haloed row `k` is put together
    /// from the row of the centre or of the strip above or below it, with the left and right
    /// strips' pieces, when the function asks for it.
    #[allow(clippy::too_many_arguments)]
    fn run_rows(
        &self,
        rows: &RowsFn<T, U>,
        out: &[usize],
        centre: &ArrayViewD<'_, T>,
        neighbours: &[(Vec<isize>, Vec<usize>)],
        strips: &[BlockRef],
        lo: &[usize],
        hi: &[usize],
    ) -> Result<ArrayD<U>> {
        let size = centre.shape();
        // The piece of the haloed block from neighbour (dr, dc) (the centre for (0, 0)).
        let mut pieces: [[Option<ArrayViewD<'_, T>>; 3]; 3] = Default::default();
        pieces[1][1] = Some(centre.view());
        let want = |d: isize, k: usize| match d {
            -1 => lo[k],
            0 => size[k],
            _ => hi[k],
        };
        for ((delta, _), strip) in neighbours.iter().zip(strips) {
            let st = strip
                .as_any()
                .downcast_ref::<Strips<T>>()
                .expect("internal: halo strips");
            let e = delta.iter().fold(0usize, |e, &d| e * 3 + (1 - d) as usize);
            let b = st.boxes[e].view();
            if b.shape() != [want(delta[0], 0), want(delta[1], 1)] {
                return Err(Error::arg(
                    "map_overlap",
                    format!(
                        "a neighbour of block {out:?} is smaller than the depth {:?}; rechunk to larger chunks",
                        self.depth
                    ),
                ));
            }
            pieces[(delta[0] + 1) as usize][(delta[1] + 1) as usize] = Some(b);
        }
        let (n_rows, n_cols) = (lo[0] + size[0] + hi[0], lo[1] + size[1] + hi[1]);
        // Rows are borrowed as slices: pieces not in standard layout are copied once.
        let owned: Vec<Vec<Option<ArrayD<T>>>> = pieces
            .iter()
            .map(|r| {
                r.iter()
                    .map(|p| {
                        p.as_ref()
                            .filter(|p| !p.is_standard_layout())
                            .map(|p| p.as_standard_layout().into_owned())
                    })
                    .collect()
            })
            .collect();
        let mut slices: [[&[T]; 3]; 3] = [[&[]; 3]; 3];
        let mut widths: [[usize; 3]; 3] = [[0; 3]; 3];
        for dr in 0..3 {
            for dc in 0..3 {
                let (w, sl) = match (owned[dr][dc].as_ref(), pieces[dr][dc].as_ref()) {
                    (Some(o), _) => (o.shape()[1], o.as_slice().expect("standard layout")),
                    (None, Some(p)) => (p.shape()[1], p.to_slice().expect("standard layout")),
                    (None, None) => continue,
                };
                widths[dr][dc] = w;
                slices[dr][dc] = sl;
            }
        }
        let mut row = |k: usize| -> [&[T]; 3] {
            let (dr, kr) = if k < lo[0] {
                (0, k)
            } else if k < lo[0] + size[0] {
                (1, k - lo[0])
            } else {
                (2, k - lo[0] - size[0])
            };
            std::array::from_fn(|dc| {
                let w = widths[dr][dc];
                slices[dr][dc].get(kr * w..(kr + 1) * w).unwrap_or(&[])
            })
        };
        rows(&mut row, n_rows, n_cols)
    }
}

impl<T: Element> ChunkedArray<T> {
    /// Applies `f(haloed_block, block_index)` to each block extended by `depth[k]` elements
    /// of its neighbours (or of the `boundary` beyond the array) on both sides of each axis.
    /// `f` returns either an array of the haloed block's shape (the halo is trimmed off) or
    /// one of the block's own shape. Chunks smaller than the depth are merged into their
    /// neighbours first, so the output's chunks may differ from the input's there.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::Boundary;
    /// let x = ChunkedArray::<f64>::arange(10, 3);
    /// // A 3-point moving sum with the edge values repeated beyond the ends.
    /// let s = x.map_overlap(&[1], Boundary::Nearest, |h, _| {
    ///     Ok(ndarray::Array1::from_shape_fn(h.len() - 2, |i| h[[i]] + h[[i + 1]] + h[[i + 2]]).into_dyn())
    /// });
    /// let v = s.compute()?;
    /// assert_eq!(v[[0]], 0.0 + 0.0 + 1.0);
    /// assert_eq!(v[[5]], 4.0 + 5.0 + 6.0);
    /// assert_eq!(v[[9]], 8.0 + 9.0 + 9.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn map_overlap<U, F>(&self, depth: &[usize], boundary: Boundary<T>, f: F) -> ChunkedArray<U>
    where
        U: Element,
        F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync + 'static,
    {
        ChunkedArray::from_result(self.overlap_expr(depth, boundary, f, None))
    }

    fn overlap_expr<U, F>(
        &self,
        depth: &[usize],
        boundary: Boundary<T>,
        f: F,
        rows: Option<RowsFn<T, U>>,
    ) -> Result<Arc<Expr>>
    where
        U: Element,
        F: Fn(ArrayViewD<'_, T>, &[usize]) -> Result<ArrayD<U>> + Send + Sync + 'static,
    {
        let e = self.expr_ref()?.clone();
        let shape = e.shape().to_vec();
        let nd = shape.len();
        if depth.len() != nd {
            return Err(Error::arg(
                "map_overlap",
                format!("{} depths for an array of shape {shape:?}", depth.len()),
            ));
        }
        // Every chunk must be at least as deep as the halo: merge smaller ones into their
        // neighbours (as Dask's `ensure_minimum_chunksize` does).
        let mut sizes: Vec<Vec<usize>> = (0..nd).map(|k| e.grid.chunk_sizes(k)).collect();
        for (k, &d) in depth.iter().enumerate() {
            if d > shape[k]
                && !matches!(
                    boundary,
                    Boundary::None | Boundary::Constant(_) | Boundary::Nearest
                )
            {
                return Err(Error::arg(
                    "map_overlap",
                    format!("depth {d} on axis {k} exceeds the axis length {}", shape[k]),
                ));
            }
            if d > 0 && sizes[k].len() > 1 && sizes[k].iter().any(|&c| c < d) {
                let mut merged: Vec<usize> = Vec::new();
                let mut acc = 0;
                for &c in &sizes[k] {
                    acc += c;
                    if acc >= d {
                        merged.push(acc);
                        acc = 0;
                    }
                }
                match merged.last_mut() {
                    Some(last) => *last += acc,
                    None => merged.push(acc),
                }
                sizes[k] = merged;
            }
        }
        let grid = ChunkGrid::from_chunk_sizes(&shape, &sizes)?;
        let (e, this) = if grid == e.grid {
            (e, self.clone())
        } else {
            let r = Expr::new(grid, T::DTYPE, Op::Rechunk, vec![e.clone()]);
            (r.clone(), ChunkedArray::<T>::from_result(Ok(r)))
        };
        let mode = match boundary {
            Boundary::Reflect => Some(PadMode::Symmetric),
            Boundary::Nearest => Some(PadMode::Edge),
            Boundary::Periodic => Some(PadMode::Wrap),
            Boundary::Constant(v) => Some(PadMode::Constant(v)),
            Boundary::None => None,
        };
        let padded = match mode {
            Some(m) => {
                let widths: Vec<(usize, usize)> = depth
                    .iter()
                    .zip(&shape)
                    .map(|(&d, &n)| if n > 0 { (d, d) } else { (0, 0) })
                    .collect();
                this.pad(&widths, m)
            }
            None => this.clone(),
        };
        let off: Vec<usize> = depth
            .iter()
            .zip(&shape)
            .map(|(&d, &n)| usize::from(mode.is_some() && d > 0 && n > 0))
            .collect();
        let p = padded.expr_ref()?.clone();
        let strips = Expr::new(
            p.grid.clone(),
            T::DTYPE,
            Op::Blockwise(Arc::new(StripsOp::<T> {
                depth: depth.to_vec(),
                _t: PhantomData,
            })),
            vec![p],
        );
        // The centres through their own materialization (see the module docs), except a
        // file's blocks: those are read once and shared with the strips step, and the
        // scheduler keeps them for the halo step within its cache of re-readable blocks
        // (dropping and reading them again beyond it), rather than reading every block twice.
        let centre = match &e.op {
            _ if computed_from_coordinates(&e) => e.clone(),
            Op::FromBlocks(src) if src.rereadable() => e.clone(),
            _ => Expr::new(
                e.grid.clone(),
                T::DTYPE,
                Op::View {
                    src: SrcAxis::identity(nd),
                },
                vec![e.clone()],
            ),
        };
        let halo = HaloOp::<T, U, F> {
            depth: depth.to_vec(),
            off,
            f: Arc::new(f),
            rows,
            id: fresh_id(),
            _t: PhantomData,
        };
        Ok(Expr::new(
            e.grid.clone(),
            U::DTYPE,
            Op::Blockwise(Arc::new(halo)),
            vec![centre, strips],
        ))
    }
}

/// Whether `e`'s values come from their coordinates alone (generators and in-memory arrays,
/// through elementwise maps, views and rechunks): a stage computing its blocks reads no
/// other stage, so the scheduler may compute a block again rather than hold it.
fn computed_from_coordinates(e: &Arc<Expr>) -> bool {
    let mut stack = vec![e];
    while let Some(x) = stack.pop() {
        match &x.op {
            Op::Generate(_) | Op::Array(_) => {}
            Op::Map(_) | Op::View { .. } | Op::Rechunk => stack.extend(&x.inputs),
            _ => return false,
        }
    }
    true
}

/// A moving fold of width `2r + 1` along `axis` over the valid positions (the result is
/// `2r` shorter along the axis). Width 3, the common case, is one pass with no zero-filled
/// scratch array.
fn moving<T: Copy>(
    a: ArrayViewD<'_, T>,
    axis: usize,
    r: usize,
    init: T,
    f: impl Fn(T, T) -> T + Copy,
) -> ArrayD<T> {
    let n = a.shape()[axis] - 2 * r;
    let part = |w: usize| a.slice_axis(Axis(axis), ndarray::Slice::from(w..w + n));
    if r == 1 {
        return Zip::from(part(0))
            .and(part(1))
            .and(part(2))
            .map_collect(|&x, &y, &z| f(f(x, y), z));
    }
    let mut out = part(0).mapv(|x| f(init, x));
    for w in 1..=2 * r {
        Zip::from(&mut out)
            .and(part(w))
            .for_each(|o, &x| *o = f(*o, x));
    }
    out
}

/// [`moving`] along both axes of a 2-d block of `n_rows × n_cols`, then `finish`, reading
/// the block's rows in order through `row(k)` (each as up to three pieces, see [`RowsFn`]):
/// each output row is the fold of `2r + 1` input rows into one reused row, folded again
/// along the row. The folds run in the same order as `moving` on axis 0 and then axis 1, so
/// the results are the same bits, without the two intermediate blocks (and their fresh
/// pages) of the general path.
#[allow(clippy::too_many_arguments)]
fn moving_rows<'a, T: Copy + Send + 'static>(
    row: &mut dyn FnMut(usize) -> [&'a [T]; 3],
    n_rows: usize,
    n_cols: usize,
    r: usize,
    init: T,
    f: impl Fn(T, T) -> T + Copy,
    finish: impl Fn(T) -> T + Copy,
) -> ArrayD<T> {
    let (out_rows, out_cols) = (n_rows.saturating_sub(2 * r), n_cols.saturating_sub(2 * r));
    let w = 2 * r + 1;
    let mut col = vec![init; n_cols];
    // Every element is written below: a recycled block buffer needs no clearing.
    let mut out = crate::exec::recycle::buffer(out_rows * out_cols, init);
    let n = out_cols;
    for (i, o) in out.chunks_exact_mut(n.max(1)).take(out_rows).enumerate() {
        if r == 1 {
            let (x, y, z) = (row(i), row(i + 1), row(i + 2));
            let mut at = 0;
            for p in 0..3 {
                let c = &mut col[at..at + x[p].len()];
                for (((c, &x), &y), &z) in c.iter_mut().zip(x[p]).zip(y[p]).zip(z[p]) {
                    *c = f(f(x, y), z);
                }
                at += x[p].len();
            }
            // Three shifted slices rather than `windows(3)`: the loop vectorizes.
            for (((o, &a), &b), &c) in o.iter_mut().zip(&col[..n]).zip(&col[1..]).zip(&col[2..]) {
                *o = finish(f(f(a, b), c));
            }
        } else {
            for t in 0..w {
                let mut at = 0;
                for piece in row(i + t) {
                    let c = &mut col[at..at + piece.len()];
                    if t == 0 {
                        c.iter_mut().zip(piece).for_each(|(c, &x)| *c = f(init, x));
                    } else {
                        c.iter_mut().zip(piece).for_each(|(c, &x)| *c = f(*c, x));
                    }
                    at += piece.len();
                }
            }
            for (o, win) in o.iter_mut().zip(col.windows(w)) {
                *o = finish(win[1..].iter().fold(f(init, win[0]), |acc, &x| f(acc, x)));
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[out_rows, out_cols]), out).expect("internal: focal shape")
}

/// A [`RowsFn`] from a closure (which fixes the closure's signature as the type's).
fn rows_fn<T, U, F>(f: F) -> RowsFn<T, U>
where
    F: for<'a> Fn(&mut dyn FnMut(usize) -> [&'a [T]; 3], usize, usize) -> Result<ArrayD<U>>
        + Send
        + Sync
        + 'static,
{
    Arc::new(f)
}

/// The 2-d focal filter `kind` (0 mean, 1 max, 2 min) of radius `r` (`n`: the window's
/// element count) over rows read through `row`.
fn focal_rows<'a, T: Float>(
    kind: u8,
    r: usize,
    n: T,
    row: &mut dyn FnMut(usize) -> [&'a [T]; 3],
    n_rows: usize,
    n_cols: usize,
) -> ArrayD<T> {
    match kind {
        0 => moving_rows(
            row,
            n_rows,
            n_cols,
            r,
            T::zero(),
            |x, y| x + y,
            move |v| v / n,
        ),
        1 => moving_rows(row, n_rows, n_cols, r, T::neg_infinity(), max_nan, |v| v),
        _ => moving_rows(row, n_rows, n_cols, r, T::infinity(), min_nan, |v| v),
    }
}

/// The larger of two values, NaN if either is (the fold of `focal_max`).
fn max_nan<T: Float>(x: T, y: T) -> T {
    if y > x || Element::is_nan(y) { y } else { x }
}

/// The smaller of two values, NaN if either is (the fold of `focal_min`).
fn min_nan<T: Float>(x: T, y: T) -> T {
    if y < x || Element::is_nan(y) { y } else { x }
}

impl<T: Float> ChunkedArray<T> {
    fn focal(
        &self,
        op: &'static str,
        size: usize,
        boundary: Boundary<T>,
        kind: u8,
    ) -> ChunkedArray<T> {
        if size.is_multiple_of(2) {
            return ChunkedArray::err(Error::arg(op, format!("window size {size} must be odd")));
        }
        if boundary == Boundary::None {
            return ChunkedArray::err(Error::arg(op, "needs a boundary other than None"));
        }
        let r = size / 2;
        let nd = self.ndim();
        let n = T::from(size.pow(nd as u32)).expect("window size");
        // 2-d blocks stream their haloed rows (no haloed copy of the block); other ranks fold
        // the haloed block axis by axis.
        let rows =
            (nd == 2).then(|| rows_fn(move |row, nr, nc| Ok(focal_rows(kind, r, n, row, nr, nc))));
        // Only other ranks reach this: 2-d blocks go through `rows` above.
        let f = move |h: ArrayViewD<'_, T>, _: &[usize]| {
            let step = |a: ArrayViewD<'_, T>, k: usize| match kind {
                0 => moving(a, k, r, T::zero(), |x, y| x + y),
                1 => moving(a, k, r, T::neg_infinity(), max_nan),
                _ => moving(a, k, r, T::infinity(), min_nan),
            };
            let mut a = step(h, 0);
            for k in 1..nd {
                a = step(a.view(), k);
            }
            if kind == 0 {
                a.mapv_inplace(|v| v / n);
            }
            Ok(a)
        };
        ChunkedArray::from_result(self.overlap_expr(&vec![r; nd], boundary, f, rows))
    }

    /// The mean over a `size`-wide window on every axis (`size` odd; scipy.ndimage's
    /// `uniform_filter`), with `boundary` beyond the edges.
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::Boundary;
    /// let x = ChunkedArray::<f64>::ones(&[50, 40], &[16, 16]);
    /// let m = x.focal_mean(3, Boundary::Reflect).compute()?;
    /// assert!(m.iter().all(|&v| (v - 1.0).abs() < 1e-12));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn focal_mean(&self, size: usize, boundary: Boundary<T>) -> ChunkedArray<T> {
        self.focal("focal_mean", size, boundary, 0)
    }

    /// The maximum over a `size`-wide window on every axis (NaN if the window holds NaN).
    pub fn focal_max(&self, size: usize, boundary: Boundary<T>) -> ChunkedArray<T> {
        self.focal("focal_max", size, boundary, 1)
    }

    /// The minimum over a `size`-wide window on every axis (NaN if the window holds NaN).
    pub fn focal_min(&self, size: usize, boundary: Boundary<T>) -> ChunkedArray<T> {
        self.focal("focal_min", size, boundary, 2)
    }

    /// Convolution of a 2-d array with a small 2-d kernel (scipy.ndimage's `convolve`: the
    /// kernel is flipped and centred at `shape / 2`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::Boundary;
    /// let img = ChunkedArray::from_fn(&[5, 5], &[2, 3], |i| (i[0] * 5 + i[1]) as f64);
    /// let k = ndarray::arr2(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]);
    /// // The flipped kernel picks the right-hand neighbour.
    /// let y = img.convolve(k.view(), Boundary::Nearest).compute()?;
    /// assert_eq!(y[[1, 1]], 7.0);
    /// assert_eq!(y[[1, 4]], 9.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn convolve(
        &self,
        kernel: ndarray::ArrayView2<'_, T>,
        boundary: Boundary<T>,
    ) -> ChunkedArray<T> {
        if self.ndim() != 2 {
            return ChunkedArray::err(Error::arg(
                "convolve",
                format!("needs a 2-d array, got shape {:?}", self.shape()),
            ));
        }
        let (kr, kc) = kernel.dim();
        if kr == 0 || kc == 0 {
            return ChunkedArray::err(Error::arg("convolve", "the kernel is empty"));
        }
        let kernel = kernel.to_owned();
        let (cr, cc) = (kr / 2, kc / 2);
        let depth = [cr.max(kr - 1 - cr), cc.max(kc - 1 - cc)];
        let (dr, dc) = (depth[0], depth[1]);
        self.map_overlap(&depth, boundary, move |h, _| {
            let (hr, hc) = (h.shape()[0], h.shape()[1]);
            let (or, oc) = (hr.saturating_sub(2 * dr), hc.saturating_sub(2 * dc));
            let mut out = ndarray::Array2::<T>::zeros((or, oc));
            let h = h.into_dimensionality::<ndarray::Ix2>().expect("2-d");
            // out[i, j] = sum over kernel (a, b) of k[a, b] * x[i - (a - cr), j - (b - cc)].
            for a in 0..kr {
                for b in 0..kc {
                    let w = kernel[[a, b]];
                    if w == T::zero() {
                        continue;
                    }
                    let (si, sj) = (dr + cr - a, dc + cc - b);
                    let src = h.slice(ndarray::s![si..si + or, sj..sj + oc]);
                    ndarray::Zip::from(&mut out)
                        .and(&src)
                        .for_each(|o, &x| *o = *o + w * x);
                }
            }
            Ok(out.into_dyn())
        })
    }

    /// A Gaussian filter with standard deviation `sigma` on every axis (separable, truncated
    /// at 4 sigma as scipy.ndimage's `gaussian_filter`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// use rask::Boundary;
    /// let x = ChunkedArray::<f64>::full(&[30, 30], &[10, 10], 2.0);
    /// let g = x.gaussian_filter(1.5, Boundary::Reflect).compute()?;
    /// assert!(g.iter().all(|&v| (v - 2.0).abs() < 1e-12));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn gaussian_filter(&self, sigma: f64, boundary: Boundary<T>) -> ChunkedArray<T> {
        if !(sigma > 0.0 && sigma.is_finite()) {
            return ChunkedArray::err(Error::arg(
                "gaussian_filter",
                format!("sigma must be positive, got {sigma}"),
            ));
        }
        let r = (4.0 * sigma + 0.5) as usize;
        let w: Vec<f64> = (0..=2 * r)
            .map(|i| (-0.5 * ((i as f64 - r as f64) / sigma).powi(2)).exp())
            .collect();
        let total: f64 = w.iter().sum();
        let w: Vec<T> = w
            .iter()
            .map(|v| T::from(v / total).expect("weight"))
            .collect();
        let nd = self.ndim();
        self.map_overlap(&vec![r; nd], boundary, move |h, _| {
            let mut a = h.to_owned();
            for k in 0..nd {
                let mut shape = a.shape().to_vec();
                shape[k] -= 2 * r;
                let mut out = ArrayD::from_elem(IxDyn(&shape), T::zero());
                for (i, &wi) in w.iter().enumerate() {
                    let src = a.slice_axis(Axis(k), ndarray::Slice::from(i..i + shape[k]));
                    ndarray::Zip::from(&mut out)
                        .and(&src)
                        .for_each(|o, &x| *o = *o + wi * x);
                }
                a = out;
            }
            Ok(a)
        })
    }
}
