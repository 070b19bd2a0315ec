//! Selecting elements: `take` (an index list along an axis) and boolean masking.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};

use super::ChunkedArray;
use crate::block::{BlockRef, downcast};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::exec::stage::StageKernel;
use crate::grid::ChunkGrid;
use crate::plan::{BlockOp, Expr, Op, fresh_id};

/// `take`: output block `b` gathers, along `axis`, the indices of its chunk from the input
/// blocks they fall in.
struct TakeOp<T> {
    axis: usize,
    indices: Arc<Vec<usize>>,
    id: u64,
    _t: PhantomData<fn(T)>,
}

struct TakeKernel<T> {
    axis: usize,
    indices: Arc<Vec<usize>>,
    input: ChunkGrid,
    out: ChunkGrid,
    /// How many output chunks along the axis read each input block along it.
    readers: Vec<usize>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> BlockOp for TakeOp<T> {
    fn name(&self) -> String {
        format!("take({} indices, axis={})", self.indices.len(), self.axis)
    }
    fn key(&self) -> String {
        format!("take#{}", self.id)
    }
    fn kernel(&self, inputs: &[ChunkGrid], out: &ChunkGrid) -> Box<dyn StageKernel> {
        let input = inputs[0].clone();
        let mut readers = vec![0; input.blocks_on_axis(self.axis)];
        for ob in 0..out.blocks_on_axis(self.axis) {
            for b in in_blocks(&self.indices, &input, out, self.axis, ob) {
                readers[b] += 1;
            }
        }
        Box::new(TakeKernel::<T> {
            axis: self.axis,
            indices: self.indices.clone(),
            input,
            out: out.clone(),
            readers,
            _t: PhantomData,
        })
    }
}

/// The input blocks along `axis` read by output chunk `ob`, sorted and distinct.
fn in_blocks(
    indices: &[usize],
    input: &ChunkGrid,
    out: &ChunkGrid,
    axis: usize,
    ob: usize,
) -> Vec<usize> {
    let lo = out.chunk_start(axis, ob);
    let hi = lo + out.chunk_size(axis, ob);
    let mut v: Vec<usize> = indices[lo..hi]
        .iter()
        .map(|&i| input.block_of(axis, i))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

impl<T: Element> StageKernel for TakeKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        for b in in_blocks(
            &self.indices,
            &self.input,
            &self.out,
            self.axis,
            out[self.axis],
        ) {
            let mut ib = out.to_vec();
            ib[self.axis] = b;
            emit(0, ib);
        }
    }
    fn consumers(&self, _slot: usize, b: &[usize]) -> usize {
        self.readers[b[self.axis]]
    }
    fn covers(&self, _slot: usize) -> bool {
        self.readers.iter().all(|&r| r > 0)
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let k = self.axis;
        let blocks = in_blocks(&self.indices, &self.input, &self.out, k, out[k]);
        let shape = self.out.block_shape(out);
        let lo = self.out.chunk_start(k, out[k]);
        let mut dst = ArrayD::<T>::default(IxDyn(&shape));
        for (j, mut lane) in dst.axis_iter_mut(Axis(k)).enumerate() {
            let i = self.indices[lo + j];
            let b = self.input.block_of(k, i);
            let pos = blocks.binary_search(&b).expect("internal: take block");
            let src = downcast::<T>(&inputs[pos]);
            lane.assign(&src.index_axis(Axis(k), i - self.input.chunk_start(k, b)));
        }
        Ok(Some(Arc::new(dst)))
    }
}

/// One element per block: its number of true values.
struct CountOp;

impl BlockOp for CountOp {
    fn name(&self) -> String {
        "count per block".into()
    }
    fn key(&self) -> String {
        "count_per_block".into()
    }
    fn kernel(&self, _inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(CountOp)
    }
}

impl StageKernel for CountOp {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let m = downcast::<bool>(&inputs[0]);
        let n = m.iter().filter(|v| **v).count() as u64;
        Ok(Some(Arc::new(ArrayD::from_elem(
            IxDyn(&vec![1; m.ndim()]),
            n,
        ))))
    }
}

/// Boolean masking: output chunk `i` holds the selected elements of input block `i` (in C
/// order), for the blocks that select any.
struct MaskOp<T> {
    /// Input block (linear) of each output chunk.
    blocks: Arc<Vec<usize>>,
    _t: PhantomData<fn(T)>,
}

struct MaskKernel<T> {
    blocks: Arc<Vec<usize>>,
    input: ChunkGrid,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> BlockOp for MaskOp<T> {
    fn name(&self) -> String {
        format!("mask({} blocks)", self.blocks.len())
    }
    fn key(&self) -> String {
        format!("mask<{}>:{:?}", T::DTYPE, self.blocks)
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(MaskKernel::<T> {
            blocks: self.blocks.clone(),
            input: inputs[0].clone(),
            _t: PhantomData,
        })
    }
}

impl<T: Element> StageKernel for MaskKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let b = self.input.unravel(self.blocks[out[0]]);
        emit(0, b.clone());
        emit(1, b);
    }
    fn consumers(&self, _slot: usize, b: &[usize]) -> usize {
        usize::from(self.blocks.binary_search(&self.input.linear(b)).is_ok())
    }
    fn covers(&self, _slot: usize) -> bool {
        false
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let x = downcast::<T>(&inputs[0]);
        let m = downcast::<bool>(&inputs[1]);
        let v: Vec<T> = x
            .iter()
            .zip(m.iter())
            .filter(|(_, m)| **m)
            .map(|(x, _)| *x)
            .collect();
        let n = v.len();
        Ok(Some(Arc::new(
            ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("1-d"),
        )))
    }
}

impl<T: Element> ChunkedArray<T> {
    /// The elements at `indices` along `axis` (NumPy's `take`; negative indices count from the
    /// end). Output chunks along the axis have the input's chunk size; each output block reads
    /// only the input blocks its indices fall in.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[3, 10], &[2, 4], |i| (i[0] * 10 + i[1]) as i32);
    /// let t = x.take(&[9, 0, -1, 4], 1).compute()?;
    /// assert_eq!(t.index_axis(ndarray::Axis(0), 0).iter().copied().collect::<Vec<_>>(), vec![9, 0, 9, 4]);
    /// assert!(x.take(&[10], 1).check().is_err());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn take(&self, indices: &[isize], axis: isize) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.take_expr(indices, axis))
    }

    fn take_expr(&self, indices: &[isize], axis: isize) -> Result<Arc<Expr>> {
        let e = self.expr_ref()?;
        let nd = e.grid.ndim();
        let k = crate::array::reduce::normalize_axes("take", &[axis], nd)?[0];
        let n = e.shape()[k] as isize;
        let idx = indices
            .iter()
            .map(|&i| {
                let j = if i < 0 { i + n } else { i };
                if j < 0 || j >= n {
                    Err(Error::arg(
                        "take",
                        format!("index {i} is out of range for axis {k} of length {n}"),
                    ))
                } else {
                    Ok(j as usize)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let mut shape = e.shape().to_vec();
        shape[k] = idx.len();
        let chunk = e.grid.chunk_shape()[k].max(1);
        let sizes: Vec<Vec<usize>> = (0..nd)
            .map(|j| {
                if j != k {
                    e.grid.chunk_sizes(j)
                } else if idx.is_empty() {
                    vec![0]
                } else {
                    let mut v = vec![chunk; idx.len() / chunk];
                    if idx.len() % chunk != 0 {
                        v.push(idx.len() % chunk);
                    }
                    v
                }
            })
            .collect();
        let grid = ChunkGrid::from_chunk_sizes(&shape, &sizes)?;
        let op = TakeOp::<T> {
            axis: k,
            indices: Arc::new(idx),
            id: fresh_id(),
            _t: PhantomData,
        };
        Ok(Expr::new(
            grid,
            T::DTYPE,
            Op::Blockwise(Arc::new(op)),
            vec![e.clone()],
        ))
    }

    /// The elements where `mask` is true, in C order, as a 1-d array (NumPy's `x[mask]`).
    /// The mask's per-block counts are computed now (one pass over the mask, with `config`),
    /// so that the result's length and chunks are known; the values themselves stay lazy.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(10, 3);
    /// let odd = x.map(|v| v % 2 == 1);
    /// let y = x.mask(&odd, &Config::default())?;
    /// assert_eq!(y.shape(), &[5]);
    /// assert_eq!(y.compute()?.as_slice().unwrap(), &[1, 3, 5, 7, 9]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn mask(
        &self,
        mask: &ChunkedArray<bool>,
        config: &crate::Config,
    ) -> Result<ChunkedArray<T>> {
        let x = self.expr_ref()?.clone();
        let m = mask.expr_ref()?.clone();
        if x.shape() != m.shape() {
            return Err(Error::shapes(
                "mask",
                x.shape(),
                m.shape(),
                "the mask must have the array's shape",
            ));
        }
        // Cut the mask like the array, then count its true values per block.
        let m = if m.grid == x.grid {
            m
        } else {
            Expr::new(x.grid.clone(), crate::DType::Bool, Op::Rechunk, vec![m])
        };
        let grid = x.grid.clone();
        let per = grid.blocks_per_axis();
        let count_grid = ChunkGrid::regular(&per, &vec![1; per.len()])?;
        let counts = ChunkedArray::<u64>::from_result(Ok(Expr::new(
            count_grid,
            crate::DType::U64,
            Op::Blockwise(Arc::new(CountOp)),
            vec![m.clone()],
        )))
        .compute_with(config)?;
        let mut blocks = Vec::new();
        let mut sizes = Vec::new();
        for (lin, &c) in counts.iter().enumerate() {
            if c > 0 {
                blocks.push(lin);
                sizes.push(c as usize);
            }
        }
        let total: usize = sizes.iter().sum();
        if sizes.is_empty() {
            sizes.push(0);
        }
        let out = ChunkGrid::from_chunk_sizes(&[total], &[sizes])?;
        if blocks.is_empty() {
            return Ok(ChunkedArray::zeros(&[0], &[1]));
        }
        let op = MaskOp::<T> {
            blocks: Arc::new(blocks),
            _t: PhantomData,
        };
        Ok(ChunkedArray::from_result(Ok(Expr::new(
            out,
            T::DTYPE,
            Op::Blockwise(Arc::new(op)),
            vec![x, m],
        ))))
    }
}
