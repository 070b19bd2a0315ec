//! Linear algebra: `matmul`, `dot`, `tensordot` and `outer`.
//!
//! A contraction is planned in two levels, as Dask plans it. The first [`BlockOp`] computes
//! one *partial product* per output block and per block of the contracted axes,
//! `P(i, j, k) = A(i, k) · B(k, j)`, on a grid with one extra trailing axis that enumerates
//! the contracted blocks (one block per step). The second sums those partials over that axis
//! as a tree with a fixed fan-in, so a task never holds a whole row of `A` or column of `B`,
//! and at most `FAN_IN` partial blocks wait for one sum. The summation order is fixed by the
//! chunk grid, so results do not depend on the thread count.
//!
//! The block kernel is ndarray's matrix product for `f32` and `f64` (the `matrixmultiply`
//! crate, with AVX/FMA chosen at run time); integers use a cache-blocked loop with wrapping
//! arithmetic. Operands are laid out so that each block is a plain matrix: `A` as
//! `[batch.., free.., contracted..]` and `B` as `[batch.., contracted.., free..]`, which needs
//! no copy for `matmul` and `dot`; `tensordot` transposes its operands into that layout first.

use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayViewMut2, Axis, IxDyn, LinalgScalar, Zip};

use super::ChunkedArray;
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Element, Number};
use crate::error::{Error, Result};
use crate::exec::stage::StageKernel;
use crate::grid::{ChunkGrid, c_strides};
use crate::plan::{BlockOp, Expr, Op, standard};

/// How many partial blocks one summing task adds up (the fan-in of the tree over the
/// contracted blocks).
const FAN_IN: usize = 4;

/// The axes of a contraction. `A` is `[batch.., free_a.., contracted..]`, `B` is
/// `[batch.., contracted.., free_b..]`, the output is `[batch.., free_a.., free_b..]` (plus a
/// trailing axis over the contracted blocks while partial products are summed).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Layout {
    /// Per batch axis: whether `A` has length 1 there and is broadcast.
    bcast_a: Vec<bool>,
    /// Per batch axis: whether `B` has length 1 there and is broadcast.
    bcast_b: Vec<bool>,
    free_a: usize,
    contracted: usize,
    free_b: usize,
}

impl Layout {
    fn nbatch(&self) -> usize {
        self.bcast_a.len()
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "batch={}, free={}+{}, contracted={}",
            self.nbatch(),
            self.free_a,
            self.free_b,
            self.contracted
        )
    }
}

// ---------------------------------------------------------------- partial products

/// Step 1: `P(.., k) = A(.., k) · B(k, ..)` for each output block and contracted block `k`.
struct PartialProducts<T> {
    op: &'static str,
    layout: Layout,
    /// Whether the output keeps the trailing axis over contracted blocks (more than one).
    keep_k: bool,
    _t: PhantomData<fn(T)>,
}

struct PartialKernel<T> {
    layout: Layout,
    keep_k: bool,
    /// Blocks per contracted axis.
    c_blocks: Vec<usize>,
    /// Blocks per output batch axis.
    batch_blocks: Vec<usize>,
    /// Number of blocks over `A`'s free axes and over `B`'s free axes.
    a_free_blocks: usize,
    b_free_blocks: usize,
    _t: PhantomData<fn(T)>,
}

impl<T: Number> BlockOp for PartialProducts<T> {
    fn name(&self) -> String {
        format!("{}:partial products({})", self.op, self.layout)
    }
    fn key(&self) -> String {
        format!(
            "contract:partial<{}>:{:?}:{}",
            T::DTYPE,
            self.layout,
            self.keep_k
        )
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        let l = &self.layout;
        let (a, b) = (&inputs[0], &inputs[1]);
        let nb = l.nbatch();
        let blocks = |g: &ChunkGrid, r: std::ops::Range<usize>| -> Vec<usize> {
            r.map(|k| g.blocks_on_axis(k)).collect()
        };
        let batch_blocks = (0..nb)
            .map(|j| {
                if l.bcast_a[j] {
                    b.blocks_on_axis(j)
                } else {
                    a.blocks_on_axis(j)
                }
            })
            .collect();
        Box::new(PartialKernel::<T> {
            layout: l.clone(),
            keep_k: self.keep_k,
            c_blocks: blocks(a, nb + l.free_a..nb + l.free_a + l.contracted),
            batch_blocks,
            a_free_blocks: blocks(a, nb..nb + l.free_a).iter().product(),
            b_free_blocks: blocks(b, nb + l.contracted..b.ndim()).iter().product(),
            _t: PhantomData,
        })
    }
}

impl<T: Number> StageKernel for PartialKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let l = &self.layout;
        let nb = l.nbatch();
        let fa = &out[nb..nb + l.free_a];
        let fb = &out[nb + l.free_a..nb + l.free_a + l.free_b];
        let kk = if self.keep_k { out[out.len() - 1] } else { 0 };
        // The contracted block index, unravelled in C order.
        let mut c = vec![0; self.c_blocks.len()];
        let mut rest = kk;
        for (ci, &n) in c.iter_mut().zip(&self.c_blocks).rev() {
            *ci = rest % n;
            rest /= n;
        }
        let batch = |bcast: &[bool]| -> Vec<usize> {
            (0..nb).map(|j| if bcast[j] { 0 } else { out[j] }).collect()
        };
        let mut ia = batch(&l.bcast_a);
        ia.extend_from_slice(fa);
        ia.extend_from_slice(&c);
        let mut ib = batch(&l.bcast_b);
        ib.extend_from_slice(&c);
        ib.extend_from_slice(fb);
        emit(0, ia);
        emit(1, ib);
    }

    fn consumers(&self, slot: usize, _b: &[usize]) -> usize {
        // A block of A is read once for every block of B's free axes (and for every output
        // batch block where A is broadcast); the contracted block is fixed by the block.
        let (other, bcast) = if slot == 0 {
            (self.b_free_blocks, &self.layout.bcast_a)
        } else {
            (self.a_free_blocks, &self.layout.bcast_b)
        };
        let spread: usize = bcast
            .iter()
            .zip(&self.batch_blocks)
            .filter(|(b, _)| **b)
            .map(|(_, &n)| n)
            .product();
        other * spread
    }

    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let (a, b) = (&inputs[0], &inputs[1]);
        let block = match T::DTYPE {
            DType::F64 => contract_blocks::<f64>(&self.layout, self.keep_k, a, b, product_float),
            DType::F32 => contract_blocks::<f32>(&self.layout, self.keep_k, a, b, product_float),
            _ => contract_blocks::<T>(&self.layout, self.keep_k, a, b, product_wrapping),
        };
        Ok(Some(block))
    }
}

/// `a · b` for floats: ndarray's `dot`, which runs `matrixmultiply`'s packed, vectorized
/// kernel into a fresh (not zeroed) array.
fn product_float<F: LinalgScalar>(a: ArrayView2<'_, F>, b: ArrayView2<'_, F>) -> Array2<F> {
    let c = a.dot(&b);
    if c.is_standard_layout() {
        c
    } else {
        c.as_standard_layout().into_owned()
    }
}

/// `a · b` with wrapping integer arithmetic.
fn product_wrapping<E: Number>(a: ArrayView2<'_, E>, b: ArrayView2<'_, E>) -> Array2<E> {
    let mut c = Array2::from_elem((a.nrows(), b.ncols()), E::ZERO);
    gemm_wrapping(a, b, c.view_mut());
    c
}

/// `c += a · b` with wrapping integer arithmetic: rows of `c` accumulate rows of `b` scaled by
/// elements of `a`, over panels of `b` small enough to stay in cache.
fn gemm_wrapping<E: Number>(
    a: ArrayView2<'_, E>,
    b: ArrayView2<'_, E>,
    mut c: ArrayViewMut2<'_, E>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    // Rows of `b` per panel: about 128 KiB (half an L2).
    let panel = ((128 << 10) / (n * std::mem::size_of::<E>()).max(1)).clamp(1, k);
    let mut k0 = 0;
    while k0 < k {
        let k1 = (k0 + panel).min(k);
        for i in 0..m {
            let mut crow = c.row_mut(i);
            for kk in k0..k1 {
                let aik = a[[i, kk]];
                let brow = b.row(kk);
                match (crow.as_slice_mut(), brow.as_slice()) {
                    (Some(cs), Some(bs)) => {
                        for (cv, &bv) in cs.iter_mut().zip(bs) {
                            *cv = E::add(*cv, E::mul(aik, bv));
                        }
                    }
                    _ => Zip::from(&mut crow)
                        .and(&brow)
                        .for_each(|cv, &bv| *cv = E::add(*cv, E::mul(aik, bv))),
                }
            }
        }
        k0 = k1;
    }
}

/// Multiplies one block of `A` by one block of `B` (per batch element) into a partial block.
fn contract_blocks<E: Element>(
    l: &Layout,
    keep_k: bool,
    a: &BlockRef,
    b: &BlockRef,
    product: fn(ArrayView2<'_, E>, ArrayView2<'_, E>) -> Array2<E>,
) -> BlockRef {
    let (a, b) = (downcast::<E>(a), downcast::<E>(b));
    let nb = l.nbatch();
    let (sa, sb) = (a.shape(), b.shape());
    let m: usize = sa[nb..nb + l.free_a].iter().product();
    let k: usize = sa[nb + l.free_a..].iter().product();
    let n: usize = sb[nb + l.contracted..].iter().product();
    // The output block's batch shape, and each operand's batch stride (0 where broadcast).
    let batch: Vec<usize> = (0..nb)
        .map(|j| if l.bcast_a[j] { sb[j] } else { sa[j] })
        .collect();
    let strides = |s: &[usize], bcast: &[bool]| -> Vec<usize> {
        c_strides(&s[..nb])
            .into_iter()
            .zip(bcast)
            .map(|(st, &b)| if b { 0 } else { st })
            .collect::<Vec<_>>()
    };
    let (st_a, st_b) = (strides(sa, &l.bcast_a), strides(sb, &l.bcast_b));
    let ta: usize = sa[..nb].iter().product();
    let tb: usize = sb[..nb].iter().product();
    let t_out: usize = batch.iter().product();
    // Blocks are contiguous; one in another memory order is copied once to C order.
    let (a_std, b_std) = (a.as_standard_layout(), b.as_standard_layout());
    let a3 = a_std
        .view()
        .into_shape_with_order((ta, m, k))
        .expect("internal: A block is C-contiguous");
    let b3 = b_std
        .view()
        .into_shape_with_order((tb, k, n))
        .expect("internal: B block is C-contiguous");
    let mut shape = batch.clone();
    shape.extend_from_slice(&sa[nb..nb + l.free_a]);
    shape.extend_from_slice(&sb[nb + l.contracted..]);
    if keep_k {
        shape.push(1);
    }
    let c: ArrayD<E> = if t_out == 1 {
        // One matrix product (no batch, the usual case): written in place, no copy.
        product(a3.index_axis(Axis(0), 0), b3.index_axis(Axis(0), 0))
            .into_shape_with_order(IxDyn(&shape))
            .expect("internal: partial block shape")
    } else {
        let mut c = Array3::<E>::default((t_out, m, n));
        let out_strides = c_strides(&batch);
        for t in 0..t_out {
            // Unravel t over the output batch shape; map to each operand's batch element.
            let (mut rest, mut ia, mut ib) = (t, 0, 0);
            for j in 0..nb {
                let idx = rest / out_strides[j];
                rest %= out_strides[j];
                ia += idx * st_a[j];
                ib += idx * st_b[j];
            }
            let p = product(a3.index_axis(Axis(0), ia), b3.index_axis(Axis(0), ib));
            c.index_axis_mut(Axis(0), t).assign(&p);
        }
        c.into_shape_with_order(IxDyn(&shape))
            .expect("internal: partial block shape")
    };
    Arc::new(c)
}

// ---------------------------------------------------------------- summing the partials

/// Step 2 (repeated): sums groups of partial blocks along the trailing axis; the last level
/// drops that axis.
struct SumPartials<T> {
    op: &'static str,
    /// Partial blocks along the trailing axis of the input.
    n_in: usize,
    /// Groups of the level: output block `g` sums input blocks `bounds[g]..bounds[g + 1]`.
    groups: usize,
    _t: PhantomData<fn(T)>,
}

struct SumKernel<T> {
    /// Input blocks along the trailing axis.
    n_in: usize,
    groups: usize,
    _t: PhantomData<fn(T)>,
}

impl<T> SumKernel<T> {
    /// Input blocks `lo..hi` summed by group `g` (groups are balanced: sizes differ by 1).
    fn range(&self, g: usize) -> (usize, usize) {
        (
            g * self.n_in / self.groups,
            (g + 1) * self.n_in / self.groups,
        )
    }
}

impl<T: Number> BlockOp for SumPartials<T> {
    fn name(&self) -> String {
        format!("{}:sum partials({} → {})", self.op, self.n_in, self.groups)
    }
    fn key(&self) -> String {
        format!("contract:sum<{}>:{}:{}", T::DTYPE, self.n_in, self.groups)
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        let g = &inputs[0];
        Box::new(SumKernel::<T> {
            n_in: g.blocks_on_axis(g.ndim() - 1),
            groups: self.groups,
            _t: PhantomData,
        })
    }
}

impl<T: Number> StageKernel for SumKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let (prefix, g) = if self.groups > 1 {
            (&out[..out.len() - 1], out[out.len() - 1])
        } else {
            (out, 0)
        };
        let (lo, hi) = self.range(g);
        for kk in lo..hi {
            let mut b = prefix.to_vec();
            b.push(kk);
            emit(0, b);
        }
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let parts: Vec<_> = inputs.iter().map(downcast::<T>).collect();
        let mut acc = match parts.as_slice() {
            [] => unreachable!("internal: a group of no partial blocks"),
            [one] => one.to_owned(),
            [a, b, ..] => Zip::from(a).and(b).map_collect(|&x, &y| T::add(x, y)),
        };
        for p in parts.iter().skip(2) {
            Zip::from(&mut acc)
                .and(p)
                .for_each(|x, &y| *x = T::add(*x, y));
        }
        if self.groups == 1 {
            let last = acc.ndim() - 1;
            acc = acc.index_axis_move(Axis(last), 0);
        }
        Ok(Some(Arc::new(standard(acc))))
    }
}

// ---------------------------------------------------------------- planning

/// The grid of `g`'s axes `range`, as chunk sizes per axis (with their lengths).
fn axes_of(g: &ChunkGrid, range: std::ops::Range<usize>) -> Vec<(usize, Vec<usize>)> {
    range.map(|k| (g.shape()[k], g.chunk_sizes(k))).collect()
}

fn grid_of(axes: &[(usize, Vec<usize>)]) -> Result<ChunkGrid> {
    let shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
    let sizes: Vec<Vec<usize>> = axes.iter().map(|a| a.1.clone()).collect();
    ChunkGrid::from_chunk_sizes(&shape, &sizes)
}

/// `e` with the axes `pairs[i].0` cut like axis `pairs[i].1` of `like` (a rechunk when any
/// differs).
fn rechunk_like(e: &Arc<Expr>, like: &ChunkGrid, pairs: &[(usize, usize)]) -> Arc<Expr> {
    let mut target = e.grid.clone();
    for &(k, j) in pairs {
        if !target.axis_eq(k, like, j) {
            target = target.with_axis_from(k, like, j);
        }
    }
    if target == e.grid {
        e.clone()
    } else {
        Expr::new(target, e.dtype, Op::Rechunk, vec![e.clone()])
    }
}

/// Plans the contraction of `a` (`[batch.., free_a.., contracted..]`) with `b`
/// (`[batch.., contracted.., free_b..]`); `shapes` are the user's shapes, for errors.
fn contract<T: Number>(
    op: &'static str,
    a: &Arc<Expr>,
    b: &Arc<Expr>,
    nbatch: usize,
    contracted: usize,
    shapes: (&[usize], &[usize]),
) -> Result<Arc<Expr>> {
    let (sa, sb) = (a.shape(), b.shape());
    let free_a = sa.len() - nbatch - contracted;
    let free_b = sb.len() - nbatch - contracted;
    for i in 0..contracted {
        let (la, lb) = (sa[nbatch + free_a + i], sb[nbatch + i]);
        if la != lb {
            return Err(Error::shapes(
                op,
                shapes.0,
                shapes.1,
                &format!("contracted axes have lengths {la} and {lb}"),
            ));
        }
    }
    let mut bcast_a = vec![false; nbatch];
    let mut bcast_b = vec![false; nbatch];
    for j in 0..nbatch {
        let (la, lb) = (sa[j], sb[j]);
        if la == lb {
            continue;
        } else if la == 1 {
            bcast_a[j] = true;
        } else if lb == 1 {
            bcast_b[j] = true;
        } else {
            return Err(Error::shapes(
                op,
                shapes.0,
                shapes.1,
                &format!("batch axis {j} has lengths {la} and {lb}"),
            ));
        }
    }
    // Cut B's contracted axes like A's, and the batch axes both read like A's.
    let mut pairs: Vec<(usize, usize)> = (0..contracted)
        .map(|i| (nbatch + i, nbatch + free_a + i))
        .collect();
    pairs.extend(
        (0..nbatch)
            .filter(|&j| !bcast_a[j] && !bcast_b[j])
            .map(|j| (j, j)),
    );
    let b = rechunk_like(b, &a.grid, &pairs);
    let layout = Layout {
        bcast_a,
        bcast_b,
        free_a,
        contracted,
        free_b,
    };

    // The output axes: batch (from the operand not broadcast), A's free axes, B's free axes.
    let mut out_axes: Vec<(usize, Vec<usize>)> = (0..nbatch)
        .map(|j| {
            let g = if layout.bcast_a[j] { &b.grid } else { &a.grid };
            (g.shape()[j], g.chunk_sizes(j))
        })
        .collect();
    out_axes.extend(axes_of(&a.grid, nbatch..nbatch + free_a));
    out_axes.extend(axes_of(&b.grid, nbatch + contracted..b.grid.ndim()));
    let nk: usize = (nbatch + free_a..nbatch + free_a + contracted)
        .map(|k| a.grid.blocks_on_axis(k))
        .product();
    let keep_k = nk > 1;
    let mut partial_axes = out_axes.clone();
    if keep_k {
        partial_axes.push((nk, vec![1; nk]));
    }
    let mut cur = Expr::new(
        grid_of(&partial_axes)?,
        T::DTYPE,
        Op::Blockwise(Arc::new(PartialProducts::<T> {
            op,
            layout,
            keep_k,
            _t: PhantomData,
        })),
        vec![a.clone(), b],
    );
    // Sum the partials as a tree: ceil(n / FAN_IN) groups per level until one is left.
    let mut n = nk;
    while n > 1 {
        let groups = n.div_ceil(FAN_IN);
        let mut axes = out_axes.clone();
        if groups > 1 {
            axes.push((groups, vec![1; groups]));
        }
        cur = Expr::new(
            grid_of(&axes)?,
            T::DTYPE,
            Op::Blockwise(Arc::new(SumPartials::<T> {
                op,
                n_in: n,
                groups,
                _t: PhantomData,
            })),
            vec![cur],
        );
        n = groups;
    }
    Ok(cur)
}

/// `tensordot` on plan nodes: transposes the operands into the contraction layout.
fn tensordot_expr<T: Number>(
    op: &'static str,
    a: &ChunkedArray<T>,
    b: &ChunkedArray<T>,
    axes_a: &[isize],
    axes_b: &[isize],
) -> Result<Arc<Expr>> {
    let (ea, eb) = (a.expr_ref()?, b.expr_ref()?);
    let (sa, sb) = (ea.shape(), eb.shape());
    if axes_a.len() != axes_b.len() {
        return Err(Error::shapes(
            op,
            sa,
            sb,
            &format!(
                "{} axes of the first array are paired with {} of the second",
                axes_a.len(),
                axes_b.len()
            ),
        ));
    }
    let norm = |axes: &[isize], nd: usize| -> Result<Vec<usize>> {
        let v = axes
            .iter()
            .map(|&x| crate::array::reduce::normalize_axis(op, axes, x, nd))
            .collect::<Result<Vec<_>>>()?;
        let mut s = v.clone();
        s.sort_unstable();
        if s.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::axes(op, axes, nd, "an axis is repeated"));
        }
        Ok(v)
    };
    let ca = norm(axes_a, sa.len())?;
    let cb = norm(axes_b, sb.len())?;
    for (&i, &j) in ca.iter().zip(&cb) {
        if sa[i] != sb[j] {
            return Err(Error::shapes(
                op,
                sa,
                sb,
                &format!(
                    "axis {i} (length {}) is contracted with axis {j} (length {})",
                    sa[i], sb[j]
                ),
            ));
        }
    }
    let free_a: Vec<usize> = (0..sa.len()).filter(|k| !ca.contains(k)).collect();
    let free_b: Vec<usize> = (0..sb.len()).filter(|k| !cb.contains(k)).collect();
    if ca.is_empty() {
        // No contraction: the outer product, by broadcasting (fused, no block is written).
        let mut x = a.clone();
        for _ in 0..sb.len() {
            x = x.expand_dims(-1);
        }
        let mut y = b.clone();
        for _ in 0..sa.len() {
            y = y.expand_dims(0);
        }
        return (&x * &y).expr_ref().cloned();
    }
    let perm_a: Vec<isize> = free_a.iter().chain(&ca).map(|&k| k as isize).collect();
    let perm_b: Vec<isize> = cb.iter().chain(&free_b).map(|&k| k as isize).collect();
    let ta = a.transpose(&perm_a);
    let tb = b.transpose(&perm_b);
    contract::<T>(op, ta.expr_ref()?, tb.expr_ref()?, 0, ca.len(), (sa, sb))
}

/// `matmul` on plan nodes (also `dot` of 1-d and 2-d arrays, named `op` in errors).
fn matmul_expr<T: Number>(
    op: &'static str,
    a: &ChunkedArray<T>,
    b: &ChunkedArray<T>,
) -> Result<Arc<Expr>> {
    let (ea, eb) = (a.expr_ref()?, b.expr_ref()?);
    let (sa, sb) = (ea.shape(), eb.shape());
    if sa.is_empty() || sb.is_empty() {
        return Err(Error::shapes(
            op,
            sa,
            sb,
            "matmul needs arrays of at least 1 dimension (use * with a scalar)",
        ));
    }
    // Core axes: one (a vector) or the last two (a matrix); the rest are batch axes.
    let core_b = sb.len().min(2);
    let (ba, bb) = (sa.len() - sa.len().min(2), sb.len() - core_b);
    let (ka, kb) = (sa[sa.len() - 1], sb[sb.len() - core_b]);
    if ka != kb {
        return Err(Error::shapes(
            op,
            sa,
            sb,
            &format!("contracted axes have lengths {ka} and {kb}"),
        ));
    }
    // Give both operands the same batch axes (new ones of length 1 are broadcast).
    let nbatch = ba.max(bb);
    let (mut x, mut y) = (a.clone(), b.clone());
    for _ in ba..nbatch {
        x = x.expand_dims(0);
    }
    for _ in bb..nbatch {
        y = y.expand_dims(0);
    }
    contract::<T>(op, x.expr_ref()?, y.expr_ref()?, nbatch, 1, (sa, sb))
}

impl<T: Number> ChunkedArray<T> {
    /// The matrix product, as NumPy's `matmul` (`@`): 2-d · 2-d is the matrix product,
    /// a 1-d operand is a row (left) or a column (right) vector whose axis is dropped from
    /// the result (so 1-d · 1-d is the inner product, a 0-d array), and arrays of more than 2
    /// dimensions are stacks of matrices over leading *batch* axes, broadcast against each
    /// other. Integers wrap on overflow.
    ///
    /// Each output block is the sum over `k` of the products `A(i, k) · B(k, j)`: one task per
    /// partial product, then a tree of sums with a fixed fan-in (see the module docs), so no
    /// task holds a whole row or column of blocks. When the inner axes are cut differently,
    /// `other` is rechunked to `self`'s chunks on that axis. Shapes that do not fit are an
    /// error naming both shapes.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ChunkedArray::from_fn(&[4, 6], &[2, 3], |i| (i[0] + i[1]) as f64);
    /// let b = ChunkedArray::from_fn(&[6, 5], &[2, 5], |i| (i[0] * i[1]) as f64);
    /// let c = a.matmul(&b);
    /// assert_eq!(c.shape(), &[4, 5]);
    /// assert_eq!(c.compute()?, a.compute()?.into_dimensionality::<ndarray::Ix2>().unwrap()
    ///     .dot(&b.compute()?.into_dimensionality::<ndarray::Ix2>().unwrap()).into_dyn());
    /// let e = a.matmul(&a).check().unwrap_err();
    /// assert!(e.to_string().contains("[4, 6] and [4, 6]"), "{e}");
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn matmul(&self, other: &ChunkedArray<T>) -> ChunkedArray<T> {
        ChunkedArray::from_result(matmul_expr("matmul", self, other))
    }

    /// The dot product, as NumPy's `dot`: for 1-d and 2-d arrays the same as
    /// [`matmul`](Self::matmul) (1-d · 1-d is the inner product, a 0-d array); for more
    /// dimensions, a sum over the last axis of `self` and the second-to-last axis of `other`
    /// (the last if `other` is 1-d), with the other axes of `self` then of `other` in the
    /// result. A 0-d operand multiplies elementwise.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(5, 2);
    /// let inner = x.dot(&x); // a 0-d array
    /// assert_eq!(inner.compute()?.first(), Some(&(0 + 1 + 4 + 9 + 16)));
    /// let m = ChunkedArray::from_fn(&[3, 5], &[2, 2], |i| (i[0] * 5 + i[1]) as i64);
    /// assert_eq!(m.dot(&x).compute()?.as_slice().unwrap(), &[30, 80, 130]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn dot(&self, other: &ChunkedArray<T>) -> ChunkedArray<T> {
        let r = (|| {
            let (na, nb) = (
                self.expr_ref()?.shape().len(),
                other.expr_ref()?.shape().len(),
            );
            if na == 0 || nb == 0 {
                // A 0-d operand multiplies (broadcast explicitly to the other's shape).
                let shape = if na == 0 { other.shape() } else { self.shape() };
                (self.broadcast_to(shape) * other.broadcast_to(shape))
                    .expr_ref()
                    .cloned()
            } else if na <= 2 && nb <= 2 {
                matmul_expr("dot", self, other)
            } else {
                let kb: isize = if nb == 1 { 0 } else { -2 };
                tensordot_expr("dot", self, other, &[-1], &[kb])
            }
        })();
        ChunkedArray::from_result(r)
    }
}

/// Sums products over pairs of axes, as NumPy's `tensordot(a, b, axes=(axes_a, axes_b))`:
/// axis `axes_a[i]` of `a` is contracted with axis `axes_b[i]` of `b` (negative axes count
/// from the end); the result has the other axes of `a`, then the other axes of `b`, in order.
/// With no axes it is the outer product. Integers wrap on overflow.
///
/// The operands are transposed (a view) so that each block is a matrix, and the contraction
/// runs as in [`ChunkedArray::matmul`]: partial products per contracted block, summed as a
/// tree. Unequal axis counts, repeated or out-of-range axes, and paired axes of different
/// lengths are errors naming both shapes.
///
/// ```
/// use rask::prelude::*;
/// let a = ChunkedArray::from_fn(&[3, 4, 5], &[2, 2, 5], |i| (i[0] + 2 * i[1] + 3 * i[2]) as i64);
/// let b = ChunkedArray::from_fn(&[4, 3, 2], &[3, 3, 1], |i| (i[0] * i[1] + i[2]) as i64);
/// let c = rask::tensordot(&a, &b, &[0, 1], &[1, 0]); // shape [5, 2]
/// assert_eq!(c.shape(), &[5, 2]);
/// let (ea, eb) = (a.compute()?, b.compute()?);
/// let mut want = 0;
/// for i in 0..3 {
///     for j in 0..4 {
///         want += ea[[i, j, 4]] * eb[[j, i, 1]];
///     }
/// }
/// assert_eq!(c.compute()?[[4, 1]], want);
/// assert!(rask::tensordot(&a, &b, &[2], &[0]).check().is_err()); // 5 vs 4
/// # Ok::<(), rask::Error>(())
/// ```
pub fn tensordot<T: Number>(
    a: &ChunkedArray<T>,
    b: &ChunkedArray<T>,
    axes_a: &[isize],
    axes_b: &[isize],
) -> ChunkedArray<T> {
    ChunkedArray::from_result(tensordot_expr("tensordot", a, b, axes_a, axes_b))
}

/// The outer product of two 1-d arrays: `out[i, j] = a[i] * b[j]`, as NumPy's `outer` (which
/// also flattens n-d inputs; rask has no reshape yet, so other inputs are an error). It is a
/// broadcast product, fused into its consumers: no block is written unless asked for.
///
/// ```
/// use rask::prelude::*;
/// let a = ChunkedArray::<i32>::arange(3, 2);
/// let b = ChunkedArray::<i32>::arange(4, 3) + 1;
/// let o = rask::outer(&a, &b);
/// assert_eq!(o.shape(), &[3, 4]);
/// assert_eq!(o.compute()?[[2, 3]], 2 * 4);
/// assert!(rask::outer(&o, &a).check().is_err());
/// # Ok::<(), rask::Error>(())
/// ```
pub fn outer<T: Number>(a: &ChunkedArray<T>, b: &ChunkedArray<T>) -> ChunkedArray<T> {
    let r = (|| {
        let (ea, eb) = (a.expr_ref()?, b.expr_ref()?);
        if ea.shape().len() != 1 || eb.shape().len() != 1 {
            return Err(Error::shapes(
                "outer",
                ea.shape(),
                eb.shape(),
                "outer takes two 1-d arrays",
            ));
        }
        (a.expand_dims(1) * b.expand_dims(0)).expr_ref().cloned()
    })();
    ChunkedArray::from_result(r)
}
