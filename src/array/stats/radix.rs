//! Exact selection over the blocks of an axis, without gathering it: radix refinement of
//! order-preserving keys (see the [module docs](super)).
//!
//! Pass `p` has three stages: *count* (per input block: for every line, how many values of
//! the current bracket fall in each of `2^w` bins of the next `w` key bits; pass 0 also counts
//! NaN, the last pass also keeps the smallest key above the bracket), a merge tree of the
//! counts along the axis, and *select* (per line: the bin holding the target rank becomes the
//! bracket; after the last pass, the value). A line's state between passes is four `u64`:
//! the key prefix found so far, the rank within the bracket, the count of valid values, and a
//! flag for lines whose result is NaN.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::tree::{Merger, tree};
use super::{GATHER_BLOCK_BYTES, RADIX_STATE_BYTES, Stat, Typed, c_order, split_shape};
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Element, Number, TileMut, TileSlice};
use crate::error::{Error, Result};
use crate::exec::stage::StageKernel;
use crate::grid::ChunkGrid;
use crate::kernels::elementwise::ElemKernel;
use crate::kernels::program::SrcAxis;
use crate::plan::{BlockOp, Expr, Op};

/// `u64` fields of a line's state: prefix, rank in the bracket, valid count, NaN flag.
const S: usize = 4;

/// Bits of `T`'s keys.
pub(crate) fn key_bits<T: Element>() -> u32 {
    8 * T::DTYPE.size() as u32
}

fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The order-preserving key of `x`: `a < b` ⇔ `key(a) < key(b)` (NaN maps to the largest
/// key; `-0.0` sorts just below `+0.0`).
#[inline]
pub(crate) fn to_key<T: Number>(x: T) -> u64 {
    match T::DTYPE {
        DType::F32 => {
            let f = x.to_f64() as f32;
            if f.is_nan() {
                return u32::MAX as u64;
            }
            let b = f.to_bits();
            (if b >> 31 == 1 { !b } else { b | 1 << 31 }) as u64
        }
        DType::F64 => {
            let f = x.to_f64();
            if f.is_nan() {
                return u64::MAX;
            }
            let b = f.to_bits();
            if b >> 63 == 1 { !b } else { b | 1 << 63 }
        }
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => {
            let bits = key_bits::<T>();
            ((x.cast::<i64>() as u64) ^ (1u64 << (bits - 1))) & mask(bits)
        }
        _ => x.cast::<u64>(),
    }
}

/// The value of key `k` (the inverse of [`to_key`]).
#[inline]
pub(crate) fn from_key<T: Number>(k: u64) -> T {
    match T::DTYPE {
        DType::F32 => {
            let b = k as u32;
            let f = f32::from_bits(if b >> 31 == 1 { b & !(1 << 31) } else { !b });
            T::from_f64(f as f64)
        }
        DType::F64 => T::from_f64(f64::from_bits(if k >> 63 == 1 {
            k & !(1 << 63)
        } else {
            !k
        })),
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => {
            let bits = key_bits::<T>();
            let v = (k ^ (1u64 << (bits - 1))) << (64 - bits);
            T::from_i64((v as i64) >> (64 - bits))
        }
        _ => T::from_u64(k),
    }
}

/// Digit widths of the passes: `bits` split into `⌈bits / r⌉` near-equal parts.
pub(crate) fn widths(bits: u32, r: u32) -> Vec<u32> {
    let r = r.clamp(1, bits);
    let passes = bits.div_ceil(r);
    (0..passes)
        .map(|p| bits / passes + u32::from(p < bits % passes))
        .collect()
}

/// Whether `e` is computed from generators and in-memory arrays only (a rechunk of it is
/// fused into its consumer).
fn is_pure(e: &Arc<Expr>) -> bool {
    let mut stack = vec![e];
    let mut seen = std::collections::HashSet::new();
    while let Some(x) = stack.pop() {
        if !seen.insert(Arc::as_ptr(x)) {
            continue;
        }
        match x.op {
            Op::Generate(_) | Op::Array(_) => {}
            Op::Map(_) | Op::View { .. } | Op::Rechunk => stack.extend(x.inputs.iter()),
            _ => return false,
        }
    }
    true
}

/// Chunks of `grid` (regular) with the largest chunk halved until a block takes at most
/// `target` bytes of `elem`-byte elements.
fn shrink_chunks(grid: &ChunkGrid, elem: usize, target: usize) -> Vec<usize> {
    let mut c: Vec<usize> = grid.chunk_shape().iter().map(|&x| x.max(1)).collect();
    while c.iter().fold(elem, |acc, &x| acc.saturating_mul(x)) > target {
        let k = (0..c.len()).max_by_key(|&k| (c[k], std::cmp::Reverse(k)));
        match k {
            Some(k) if c[k] > 1 => c[k] = c[k].div_ceil(2),
            _ => break,
        }
    }
    c
}

/// `grid` with `axis` cut into `along` and a trailing axis of `width` elements in one chunk.
fn thin(grid: &ChunkGrid, axis: usize, along: Vec<usize>, width: usize) -> Result<ChunkGrid> {
    let mut shape = grid.shape().to_vec();
    shape[axis] = along.iter().sum();
    shape.push(width);
    let mut sizes: Vec<Vec<usize>> = (0..grid.ndim())
        .map(|k| {
            if k == axis {
                along.clone()
            } else {
                grid.chunk_sizes(k)
            }
        })
        .collect();
    sizes.push(vec![width]);
    ChunkGrid::from_chunk_sizes(&shape, &sizes)
}

/// The plan of exact selection of `stat` along `axis` of `e`, with `bits` key bits per pass
/// (`None`: as many as [`RADIX_STATE_BYTES`] allows, at most 16).
pub(super) fn build<T: Number>(
    e: &Arc<Expr>,
    axis: usize,
    stat: Stat,
    skip_nan: bool,
    name: String,
    bits: Option<u32>,
) -> Result<Arc<Expr>> {
    // A generated input is cut into small blocks (for free: the rechunk is fused), which
    // the allocator recycles instead of mapping fresh pages for every block of every pass.
    let small;
    let e = if is_pure(e) && e.grid.max_block_len() * e.dtype.size() > GATHER_BLOCK_BYTES {
        let chunks = shrink_chunks(&e.grid, e.dtype.size(), GATHER_BLOCK_BYTES);
        small = Expr::new(
            ChunkGrid::regular_for("rechunk", e.shape(), &chunks)?,
            e.dtype,
            Op::Rechunk,
            vec![e.clone()],
        );
        &small
    } else {
        e
    };
    let g = &e.grid;
    let nd = g.ndim();
    let nb = g.blocks_on_axis(axis);
    let chunks = g.chunk_shape();
    let lines: usize = (0..nd).filter(|&k| k != axis).map(|k| chunks[k]).product();
    let r = bits.unwrap_or_else(|| {
        (1..=16u32)
            .rev()
            .find(|&r| {
                lines.saturating_mul((1usize << r) + 2).saturating_mul(8) <= RADIX_STATE_BYTES
            })
            .unwrap_or(1)
    });
    let kb = key_bits::<T>();
    let ws = Arc::new(widths(kb, r.clamp(1, 16)));
    let passes = ws.len();
    let fusable = is_pure(e)
        || matches!(
            e.op,
            Op::Generate(_) | Op::Array(_) | Op::Map(_) | Op::View { .. }
        );
    let sel: Vec<(Option<usize>, usize)> = (0..nd)
        .filter(|&k| k != axis)
        .map(|k| (Some(k), 0))
        .collect();
    let out_grid = g.select_axes(&sel);
    let state_grid = thin(g, axis, vec![1], S)?;
    let mut state: Option<Arc<Expr>> = None;
    for pass in 0..passes {
        let src = match &state {
            // Each pass reads its own materialization of a fusable input (computed again
            // rather than held from the first pass to the last), made to wait for the
            // previous pass: otherwise the scheduler's window would compute the next pass's
            // blocks early and hold them.
            Some(s) if fusable => after(e, s, axis),
            _ => e.clone(),
        };
        let bins = 1usize << ws[pass];
        let mut inputs = vec![src.clone()];
        inputs.extend(state.clone());
        let counts = Expr::new(
            thin(g, axis, vec![1; nb], bins + 2)?,
            DType::U64,
            Op::Blockwise(Arc::new(Count::<T> {
                axis,
                pass,
                ws: ws.clone(),
                name: name.clone(),
                _t: Typed::default(),
            })),
            inputs,
        );
        let merged = tree(
            counts,
            axis,
            Arc::new(MergeCounts {
                name: format!("{name}:counts"),
            }),
            |_| 1,
        )?;
        let last = pass + 1 == passes;
        let mut inputs = vec![merged];
        inputs.extend(state.clone());
        let step = Step::<T> {
            axis,
            pass,
            ws: ws.clone(),
            stat,
            skip_nan,
            last,
            name: name.clone(),
            _t: Typed::default(),
        };
        if last {
            return Ok(Expr::new(
                out_grid,
                <T::Mean as Element>::DTYPE,
                Op::Blockwise(Arc::new(step)),
                inputs,
            ));
        }
        state = Some(Expr::new(
            state_grid.clone(),
            DType::U64,
            Op::Blockwise(Arc::new(step)),
            inputs,
        ));
    }
    unreachable!("internal: no radix pass")
}

/// `e`, read after `state` is computed: `after(e, state broadcast to e's shape)`.
fn after(e: &Arc<Expr>, state: &Arc<Expr>, axis: usize) -> Arc<Expr> {
    let nd = e.grid.ndim();
    let mut src: Vec<SrcAxis> = (0..nd)
        .map(|k| {
            if k == axis {
                SrcAxis::Fixed(0)
            } else {
                SrcAxis::Out {
                    axis: k,
                    start: 0,
                    step: 1,
                }
            }
        })
        .collect();
    src.push(SrcAxis::Fixed(3));
    let view = Expr::new(
        e.grid.clone(),
        DType::U64,
        Op::View { src },
        vec![state.clone()],
    );
    Expr::new(
        e.grid.clone(),
        e.dtype,
        Op::Map(Arc::new(After(e.dtype))),
        vec![e.clone(), view],
    )
}

/// The first argument, unchanged (the second is only waited for).
struct After(DType);

impl ElemKernel for After {
    fn name(&self) -> String {
        "after(previous pass)".into()
    }
    fn key(&self) -> String {
        format!("after<{}>", self.0)
    }
    fn out_dtype(&self) -> DType {
        self.0
    }
    fn eval(&self, args: &[TileSlice<'_>], mut out: TileMut<'_>) {
        let n = match &out {
            TileMut::F32(o) => o.len(),
            TileMut::F64(o) => o.len(),
            TileMut::I8(o) => o.len(),
            TileMut::I16(o) => o.len(),
            TileMut::I32(o) => o.len(),
            TileMut::I64(o) => o.len(),
            TileMut::U8(o) => o.len(),
            TileMut::U16(o) => o.len(),
            TileMut::U32(o) => o.len(),
            TileMut::U64(o) => o.len(),
            TileMut::Bool(o) => o.len(),
        };
        out.copy_from(args[0].sub(0, n));
    }
}

// ---------------------------------------------------------------- count

struct Count<T> {
    axis: usize,
    pass: usize,
    ws: Arc<Vec<u32>>,
    name: String,
    _t: Typed<T>,
}

struct CountKernel<T> {
    axis: usize,
    pass: usize,
    ws: Arc<Vec<u32>>,
    nb: usize,
    _t: Typed<T>,
}

impl<T: Number> BlockOp for Count<T> {
    fn name(&self) -> String {
        format!(
            "{}:count(pass {}/{})",
            self.name,
            self.pass + 1,
            self.ws.len()
        )
    }
    fn key(&self) -> String {
        format!(
            "radix_count<{}>:{}:{}:{:?}",
            T::DTYPE,
            self.axis,
            self.pass,
            self.ws
        )
    }
    fn kernel(&self, inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(CountKernel::<T> {
            axis: self.axis,
            pass: self.pass,
            ws: self.ws.clone(),
            nb: inputs[0].blocks_on_axis(self.axis),
            _t: Typed::default(),
        })
    }
}

impl<T: Number> StageKernel for CountKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        emit(0, out[..out.len() - 1].to_vec());
        if self.pass > 0 {
            let mut s = out.to_vec();
            s[self.axis] = 0;
            emit(1, s);
        }
    }
    fn consumers(&self, slot: usize, _b: &[usize]) -> usize {
        if slot == 0 { 1 } else { self.nb }
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let x = downcast::<T>(&inputs[0]);
        let st = inputs.get(1).map(|b| c_order(downcast::<u64>(b)));
        let st = st.as_deref();
        let xs = c_order(x.clone());
        let (outer, n, inner) = split_shape(x.shape(), self.axis);
        let p = self.pass;
        let w = self.ws[p];
        let bins = 1usize << w;
        let wd = bins + 2;
        let done: u32 = self.ws[..p].iter().sum();
        let rest = key_bits::<T>() - done;
        let shift = rest - w;
        let dmask = mask(w);
        let last = p + 1 == self.ws.len();
        let mut c = vec![0u64; outer * inner * wd];
        for o in 0..outer {
            for t in 0..n {
                let row = &xs[(o * n + t) * inner..(o * n + t + 1) * inner];
                for (i, &v) in row.iter().enumerate() {
                    let l = o * inner + i;
                    let cl = l * wd;
                    if v.is_nan() {
                        if p == 0 {
                            c[cl + bins + 1] += 1;
                        }
                        continue;
                    }
                    let key = to_key(v);
                    if let Some(s) = st {
                        if s[l * S + 3] != 0 {
                            continue;
                        }
                        let (top, prefix) = (key >> rest, s[l * S]);
                        if top != prefix {
                            if last && top > prefix {
                                let m = &mut c[cl + bins];
                                if *m == 0 || key < *m {
                                    *m = key;
                                }
                            }
                            continue;
                        }
                    }
                    c[cl + ((key >> shift) & dmask) as usize] += 1;
                }
            }
        }
        let mut shape = x.shape().to_vec();
        shape[self.axis] = 1;
        shape.push(wd);
        Ok(Some(Arc::new(
            ArrayD::from_shape_vec(IxDyn(&shape), c).expect("internal: counts shape"),
        )))
    }
}

/// Adds counts, keeps the smallest non-zero key above the bracket.
struct MergeCounts {
    name: String,
}

impl Merger for MergeCounts {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn key(&self) -> String {
        "radix_counts".into()
    }
    fn merge(&self, parts: &[BlockRef]) -> Result<BlockRef> {
        let first = downcast::<u64>(&parts[0]);
        let wd = *first.shape().last().expect("internal: counts block");
        let bins = wd - 2;
        let mut acc = c_order(first.clone()).into_owned();
        for p in &parts[1..] {
            let p = c_order(downcast::<u64>(p));
            for (a, b) in acc.chunks_exact_mut(wd).zip(p.chunks_exact(wd)) {
                for (x, &y) in a[..bins].iter_mut().zip(&b[..bins]) {
                    *x += y;
                }
                if b[bins] != 0 && (a[bins] == 0 || b[bins] < a[bins]) {
                    a[bins] = b[bins];
                }
                a[bins + 1] += b[bins + 1];
            }
        }
        Ok(Arc::new(
            ArrayD::from_shape_vec(IxDyn(first.shape()), acc).expect("internal: counts shape"),
        ))
    }
}

// ---------------------------------------------------------------- select

struct Step<T> {
    axis: usize,
    pass: usize,
    ws: Arc<Vec<u32>>,
    stat: Stat,
    skip_nan: bool,
    last: bool,
    name: String,
    _t: Typed<T>,
}

impl<T: Number> BlockOp for Step<T> {
    fn name(&self) -> String {
        format!(
            "{}:select(pass {}/{})",
            self.name,
            self.pass + 1,
            self.ws.len()
        )
    }
    fn key(&self) -> String {
        format!(
            "radix_step<{}>:{}:{}:{:?}:{}:{}",
            T::DTYPE,
            self.axis,
            self.pass,
            self.ws,
            self.stat.key(),
            self.skip_nan
        )
    }
    fn kernel(&self, _inputs: &[ChunkGrid], _out: &ChunkGrid) -> Box<dyn StageKernel> {
        Box::new(StepKernel::<T> {
            axis: self.axis,
            pass: self.pass,
            ws: self.ws.clone(),
            stat: self.stat,
            skip_nan: self.skip_nan,
            last: self.last,
            name: self.name.clone(),
            _t: Typed::default(),
        })
    }
}

struct StepKernel<T> {
    axis: usize,
    pass: usize,
    ws: Arc<Vec<u32>>,
    stat: Stat,
    skip_nan: bool,
    last: bool,
    name: String,
    _t: Typed<T>,
}

impl<T: Number> StageKernel for StepKernel<T> {
    fn deps(&self, out: &[usize], emit: &mut dyn FnMut(usize, Vec<usize>)) {
        let idx = if self.last {
            let mut b = out.to_vec();
            b.insert(self.axis, 0);
            b.push(0);
            b
        } else {
            out.to_vec()
        };
        // The state first: the counts' own tasks read it too, and the scheduler must reach a
        // block shared that way before the subtree that also reads it.
        if self.pass > 0 {
            emit(1, idx.clone());
        }
        emit(0, idx);
    }
    fn consumers(&self, _slot: usize, _b: &[usize]) -> usize {
        1
    }
    fn run(&self, _out: &[usize], inputs: &[BlockRef]) -> Result<Option<BlockRef>> {
        let (counts, st) = match inputs {
            [s, c] => (downcast::<u64>(c), Some(c_order(downcast::<u64>(s)))),
            _ => (downcast::<u64>(&inputs[0]), None),
        };
        let m = c_order(counts.clone());
        let st = st.as_deref();
        let w = self.ws[self.pass];
        let bins = 1usize << w;
        let wd = bins + 2;
        let lines = m.len() / wd;
        let mut next_state = if self.last {
            Vec::new()
        } else {
            vec![0u64; lines * S]
        };
        let mut values = if self.last {
            vec![<T::Mean as Element>::from_f64(f64::NAN); lines]
        } else {
            Vec::new()
        };
        for l in 0..lines {
            let h = &m[l * wd..l * wd + bins];
            let (above, nans) = (m[l * wd + bins], m[l * wd + bins + 1]);
            let (prefix, mut rank, valid, mut nan) = match st {
                None => {
                    let valid: u64 = h.iter().sum();
                    let nan = valid == 0 || (!self.skip_nan && nans > 0);
                    let rank = if nan {
                        0
                    } else {
                        self.stat.ranks(valid as usize).0 as u64
                    };
                    (0u64, rank, valid, nan)
                }
                Some(s) => (s[l * S], s[l * S + 1], s[l * S + 2], s[l * S + 3] != 0),
            };
            let mut key = prefix;
            let mut key_next = prefix;
            if !nan {
                let mut cum = 0u64;
                let mut d = 0usize;
                while d < bins && cum + h[d] <= rank {
                    cum += h[d];
                    d += 1;
                }
                if d == bins {
                    return Err(Error::arg(
                        &self.name,
                        format!("internal: rank {rank} beyond the {cum} values of the bracket"),
                    ));
                }
                rank -= cum;
                let base = prefix << w;
                key = base | d as u64;
                if self.last {
                    let (_, next) = self.stat.ranks(valid as usize);
                    key_next = if !next || rank + 1 < h[d] {
                        key
                    } else if let Some(j) = (d + 1..bins).find(|&j| h[j] > 0) {
                        base | j as u64
                    } else if above != 0 {
                        above
                    } else {
                        nan = true;
                        key
                    };
                }
            }
            if self.last {
                if !nan {
                    let a = from_key::<T>(key).to_f64();
                    let b = from_key::<T>(key_next).to_f64();
                    values[l] =
                        <T::Mean as Element>::from_f64(self.stat.value(valid as usize, a, b));
                }
            } else {
                next_state[l * S..(l + 1) * S].copy_from_slice(&[key, rank, valid, u64::from(nan)]);
            }
        }
        let mut shape = counts.shape().to_vec();
        shape.pop();
        if self.last {
            shape.remove(self.axis);
            Ok(Some(Arc::new(
                ArrayD::from_shape_vec(IxDyn(&shape), values).expect("internal: values shape"),
            )))
        } else {
            shape.push(S);
            Ok(Some(Arc::new(
                ArrayD::from_shape_vec(IxDyn(&shape), next_state).expect("internal: state shape"),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: Number>(xs: &[T]) {
        for &x in xs {
            let k = to_key(x);
            assert!(k <= mask(key_bits::<T>()), "{x} → {k:x}");
            let y = from_key::<T>(k);
            assert!(y == x || (x.is_nan() && y.is_nan()), "{x} → {k:x} → {y}");
            // Keys sort like the values (NaN last).
            for &z in xs {
                if super::super::total(&x, &z) == std::cmp::Ordering::Less {
                    assert!(k < to_key(z), "{x} < {z}");
                }
            }
        }
    }

    #[test]
    fn keys_preserve_order() {
        roundtrip(&[
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-45,
            -1e-45,
            f32::MAX,
            f32::MIN,
        ]);
        roundtrip(&[
            0.0f64,
            -0.0,
            1.5,
            -2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            5e-324,
            f64::MIN,
        ]);
        roundtrip(&[i8::MIN, -1, 0, 1, i8::MAX]);
        roundtrip(&[i16::MIN, -1, 0, 1, i16::MAX]);
        roundtrip(&[i32::MIN, -1, 0, 1, i32::MAX]);
        roundtrip(&[i64::MIN, -1, 0, 1, i64::MAX]);
        roundtrip(&[0u8, 1, u8::MAX]);
        roundtrip(&[0u16, 1, u16::MAX]);
        roundtrip(&[0u32, 1, u32::MAX]);
        roundtrip(&[0u64, 1, u64::MAX]);
    }

    #[test]
    fn widths_split_the_key() {
        assert_eq!(widths(32, 11), vec![11, 11, 10]);
        assert_eq!(widths(8, 16), vec![8]);
        assert_eq!(widths(64, 16), vec![16; 4]);
        assert_eq!(widths(16, 5), vec![4, 4, 4, 4]);
        assert_eq!(widths(64, 1).len(), 64);
    }
}
