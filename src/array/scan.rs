//! Cumulative operations along an axis: a parallel scan across blocks.
//!
//! `cumsum(axis)` runs in three steps, each a [`BlockOp`]: every block's totals along the axis
//! (one thin block per block), an exclusive scan of those totals across blocks (small data),
//! and finally each block's local scan plus its carry. Blocks are scanned in parallel and the
//! axis is never held in memory at once.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, Axis, Zip};

use super::ChunkedArray;
use crate::block::{BlockRef, downcast};
use crate::element::Number;
use crate::error::Result;
use crate::exec::stage::StageKernel;
use crate::grid::ChunkGrid;
use crate::plan::{BlockOp, Expr, Op};

/// Which scan.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ScanKind {
    Sum,
    Prod,
}

impl ScanKind {
    fn name(self) -> &'static str {
        match self {
            ScanKind::Sum => "cumsum",
            ScanKind::Prod => "cumprod",
        }
    }
    fn combine<T: Number>(self, a: T, b: T) -> T {
        match self {
            ScanKind::Sum => T::add(a, b),
            ScanKind::Prod => T::mul(a, b),
        }
    }
    fn identity<T: Number>(self) -> T {
        match self {
            ScanKind::Sum => T::ZERO,
            ScanKind::Prod => T::ONE,
        }
    }
}

/// Step 1: each block folded along `axis` to thickness 1.
struct BlockTotals<T> {
    kind: ScanKind,
    axis: usize,
    _t: PhantomData<fn(T)>,
}

/// Step 2: for block `i` along `axis`, the fold of the totals of blocks `0..i`.
struct Carries<T> {
    kind: ScanKind,
    axis: usize,
    _t: PhantomData<fn(T)>,
}

/// Step 3: the block's own scan, started from its carry.
struct Apply<T> {
    kind: ScanKind,
    axis: usize,
    _t: PhantomData<fn(T)>,
}

struct Kernel<T, K> {
    op: K,
    /// Blocks along the axis (for the consumer counts of `Carries`).
    nblocks: usize,
    _t: PhantomData<fn(T)>,
}

impl<T: Number> StageKernel for Kernel<T, BlockTotals<T>> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let x = downcast::<T>(&inputs[0]);
        let (k, ax) = (self.op.kind, Axis(self.op.axis));
        let t = x
            .fold_axis(ax, k.identity::<T>(), |&a, &b| k.combine(a, b))
            .insert_axis(ax);
        Ok(Some(Arc::new(t)))
    }
}

impl<T: Number> StageKernel for Kernel<T, Carries<T>> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let mut b = out.to_vec();
        for i in 0..out[self.op.axis] {
            b[self.op.axis] = i;
            emit(0, b.clone());
        }
    }
    fn consumers(&self, _slot: usize, b: &[usize]) -> usize {
        // Block i's totals are read by the carries of blocks i+1.. .
        self.nblocks - 1 - b[self.op.axis]
    }
    fn covers(&self, _slot: usize) -> bool {
        false // the last block's totals are never read
    }
    fn run(&self, out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let k = self.op.kind;
        // The thin shape: the output block's shape (1 along the axis).
        let mut acc: Option<ArrayD<T>> = None;
        for t in inputs {
            let t = downcast::<T>(t);
            acc = Some(match acc {
                None => t.to_owned(),
                Some(mut a) => {
                    Zip::from(&mut a)
                        .and(t)
                        .for_each(|a, &b| *a = k.combine(*a, b));
                    a
                }
            });
        }
        let _ = out;
        Ok(Some(Arc::new(acc.expect(
            "internal: carries of the first block are not computed",
        ))))
    }
}

impl<T: Number> StageKernel for Kernel<T, Apply<T>> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out.to_vec());
        if out[self.op.axis] > 0 {
            emit(1, out.to_vec());
        }
    }
    fn consumers(&self, slot: usize, b: &[usize]) -> usize {
        usize::from(slot == 0 || b[self.op.axis] > 0)
    }
    fn covers(&self, slot: usize) -> bool {
        slot == 0 // carries of the first block are not read
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let x = downcast::<T>(&inputs[0]);
        let (k, ax) = (self.op.kind, Axis(self.op.axis));
        let mut out = x.to_owned();
        if let Some(c) = inputs.get(1) {
            let c = downcast::<T>(c).index_axis(ax, 0).to_owned();
            if let Some(mut first) = out.axis_iter_mut(ax).next() {
                Zip::from(&mut first)
                    .and(&c)
                    .for_each(|a, &b| *a = k.combine(b, *a));
            }
        }
        out.accumulate_axis_inplace(ax, |&prev, cur| *cur = k.combine(prev, *cur));
        Ok(Some(Arc::new(out)))
    }
}

macro_rules! block_op {
    ($ty:ident, $label:literal) => {
        impl<T: Number> BlockOp for $ty<T> {
            fn name(&self) -> String {
                format!("{}:{}(axis={})", self.kind.name(), $label, self.axis)
            }
            fn key(&self) -> String {
                format!(
                    "{}:{}<{}>:{}",
                    self.kind.name(),
                    $label,
                    T::DTYPE,
                    self.axis
                )
            }
            fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
                Box::new(Kernel::<T, $ty<T>> {
                    op: $ty {
                        kind: self.kind,
                        axis: self.axis,
                        _t: PhantomData,
                    },
                    nblocks: inputs[0].blocks_on_axis(self.axis),
                    _t: PhantomData,
                })
            }
        }
    };
}
block_op!(BlockTotals, "totals");
block_op!(Carries, "carries");
block_op!(Apply, "apply");

impl<T: Number> ChunkedArray<T> {
    fn scan(&self, kind: ScanKind, axis: isize) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().and_then(|e| {
            let k = crate::array::reduce::normalize_axes(kind.name(), &[axis], e.grid.ndim())?[0];
            let nb = e.grid.blocks_on_axis(k);
            // Thin grid: one element per block along the axis.
            let sizes: Vec<Vec<usize>> = (0..e.grid.ndim())
                .map(|j| {
                    if j == k {
                        vec![1; nb]
                    } else {
                        e.grid.chunk_sizes(j)
                    }
                })
                .collect();
            let mut thin_shape = e.shape().to_vec();
            thin_shape[k] = nb;
            let thin = ChunkGrid::from_chunk_sizes(&thin_shape, &sizes)?;
            let totals = Expr::new(
                thin.clone(),
                T::DTYPE,
                Op::Blockwise(Arc::new(BlockTotals::<T> {
                    kind,
                    axis: k,
                    _t: PhantomData,
                })),
                vec![e.clone()],
            );
            let carries = Expr::new(
                thin,
                T::DTYPE,
                Op::Blockwise(Arc::new(Carries::<T> {
                    kind,
                    axis: k,
                    _t: PhantomData,
                })),
                vec![totals],
            );
            Ok(Expr::new(
                e.grid.clone(),
                T::DTYPE,
                Op::Blockwise(Arc::new(Apply::<T> {
                    kind,
                    axis: k,
                    _t: PhantomData,
                })),
                vec![e.clone(), carries],
            ))
        }))
    }

    /// The cumulative sum along `axis` (integers wrap), as a parallel scan over blocks.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(7, 3).cumsum(0);
    /// assert_eq!(x.compute()?.as_slice().unwrap(), &[0, 1, 3, 6, 10, 15, 21]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn cumsum(&self, axis: isize) -> ChunkedArray<T> {
        self.scan(ScanKind::Sum, axis)
    }

    /// The cumulative product along `axis`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = (ChunkedArray::<f64>::arange(5, 2) + 1.0).cumprod(0);
    /// assert_eq!(x.compute()?.as_slice().unwrap(), &[1.0, 2.0, 6.0, 24.0, 120.0]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn cumprod(&self, axis: isize) -> ChunkedArray<T> {
        self.scan(ScanKind::Prod, axis)
    }
}
