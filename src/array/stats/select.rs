//! The gather plan of medians and quantiles: the axis is one block, and every block is
//! reduced on its own, a tile of lines at a time, as the first step of a reduction: the
//! lines are read straight from the fused producer's tiles (a generated block is never
//! written), or in place from a materialized block.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::{NETWORK_MAX, Stat, Typed, is_float, split_shape, total};
use crate::block::{BlockRef, downcast};
use crate::element::{DType, Element, Number};
use crate::kernels::program::{BlockEval, TILE, Tile};
use crate::kernels::reduce::ReduceKernel;
use crate::plan::{Expr, Op};

/// Bytes of the tile buffer (lines × axis length); it should stay in L1/L2.
const TILE_BYTES: usize = 32 << 10;

/// The medians or quantiles of `x` (whose `axis` is one block) along `axis`.
pub(super) fn build<T: Number>(
    x: &Arc<Expr>,
    axis: usize,
    stat: Stat,
    skip_nan: bool,
    name: String,
) -> Arc<Expr> {
    let nd = x.grid.ndim();
    let sel: Vec<(Option<usize>, usize)> = (0..nd)
        .filter(|&k| k != axis)
        .map(|k| (Some(k), 0))
        .collect();
    let grid = x.grid.select_axes(&sel);
    Expr::new(
        grid,
        <T::Mean as Element>::DTYPE,
        Op::Reduce {
            kernel: Arc::new(AxisStat::<T> {
                axis,
                stat,
                skip_nan,
                name,
                _t: Typed::default(),
            }),
            axes: vec![axis],
            keepdims: false,
            split_every: None,
            weights: vec![0; nd],
        },
        vec![x.clone()],
    )
}

/// The statistic of each line of a block whose `axis` holds the whole axis.
struct AxisStat<T> {
    axis: usize,
    stat: Stat,
    skip_nan: bool,
    /// The operation with its parameters (`median_axis(axis=0)`): also its identity in plans.
    name: String,
    _t: Typed<T>,
}

impl<T: Number> ReduceKernel for AxisStat<T> {
    fn name(&self) -> String {
        format!("{}<{}>", self.name, T::DTYPE)
    }
    fn out_dtype(&self) -> DType {
        <T::Mean as Element>::DTYPE
    }
    fn state_bytes(&self) -> usize {
        std::mem::size_of::<T::Mean>()
    }
    fn needs_elements(&self) -> bool {
        true
    }
    fn partial(
        &self,
        ev: &mut BlockEval<'_>,
        _reduced: &[bool],
        _weights: &[u64],
        _offset: &[usize],
    ) -> BlockRef {
        let dims = ev.dims.clone();
        let (outer, n, inner) = split_shape(&dims, self.axis);
        let mut src = EvalLines::<T>::new(ev, n, inner);
        let out = stat_lines(&mut src, outer * inner, n, inner, self.stat, self.skip_nan);
        let mut shape = dims;
        shape[self.axis] = 1;
        Arc::new(ArrayD::from_shape_vec(IxDyn(&shape), out).expect("internal: select shape"))
    }
    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        // The plan keeps the axis in one block, so there is nothing to combine.
        debug_assert_eq!(parts.len(), 1, "internal: median of a split axis");
        parts[0].clone()
    }
    fn finalize(&self, part: &BlockRef, out_shape: &[usize]) -> BlockRef {
        let v = downcast::<T::Mean>(part);
        Arc::new(
            ArrayD::from_shape_vec(IxDyn(out_shape), v.iter().copied().collect())
                .expect("internal: finalize shape"),
        )
    }
}

/// The statistic of every line of `x` along `axis`, with the axis removed (for tests).
#[cfg(test)]
pub(super) fn select_block<T: Number>(
    x: &ArrayD<T>,
    axis: usize,
    stat: Stat,
    skip_nan: bool,
) -> ArrayD<T::Mean> {
    let xs = super::c_order(x.view());
    let (outer, n, inner) = split_shape(x.shape(), axis);
    let mut out_shape = x.shape().to_vec();
    out_shape.remove(axis);
    let mut src = SliceLines {
        parts: vec![(&xs[..], n)],
        inner,
    };
    let out = stat_lines(&mut src, outer * inner, n, inner, stat, skip_nan);
    ArrayD::from_shape_vec(IxDyn(&out_shape), out).expect("internal: select shape")
}

fn stat_lines<T: Number>(
    src: &mut impl Lines<T>,
    lines: usize,
    n: usize,
    inner: usize,
    stat: Stat,
    skip_nan: bool,
) -> Vec<T::Mean> {
    let mut out = vec![<T::Mean as Element>::from_f64(f64::NAN); lines];
    if lines > 0 && n > 0 {
        if n <= NETWORK_MAX {
            by_network(src, lines, n, inner, stat, skip_nan, &mut out);
        } else {
            by_selection(src, lines, n, inner, stat, skip_nan, &mut out);
        }
    }
    out
}

/// Lanes per tile for an axis of `n` elements of `size` bytes.
fn lanes(n: usize, size: usize) -> usize {
    (TILE_BYTES / (n * size).max(1)).clamp(1, 1024)
}

/// Where lines come from. Line `l` is `(l / inner, l % inner)`: its element `t` is at flat
/// position `((l / inner) · n + t) · inner + l % inner` of the block.
pub(super) trait Lines<T> {
    /// Fills `buf[t · w + j]` with element `t` of line `l0 + j` (for every `t` of the line).
    fn gather(&mut self, l0: usize, w: usize, buf: &mut [T]);
}

/// Lines of C-ordered slices joined along the axis: `(values, n)` per part (the parts have
/// one shape but their axis lengths `n`).
pub(super) struct SliceLines<'a, T> {
    pub parts: Vec<(&'a [T], usize)>,
    pub inner: usize,
}

impl<T: Copy> Lines<T> for SliceLines<'_, T> {
    fn gather(&mut self, l0: usize, w: usize, buf: &mut [T]) {
        let inner = self.inner;
        let mut off = 0;
        for &(xs, n) in &self.parts {
            let buf = &mut buf[off * w..(off + n) * w];
            off += n;
            let (o0, i0) = (l0 / inner, l0 % inner);
            if i0 + w <= inner {
                let base = o0 * n * inner + i0;
                for t in 0..n {
                    let src = &xs[base + t * inner..base + t * inner + w];
                    buf[t * w..(t + 1) * w].copy_from_slice(src);
                }
            } else {
                for j in 0..w {
                    let l = l0 + j;
                    let base = (l / inner) * n * inner + l % inner;
                    for t in 0..n {
                        buf[t * w + j] = xs[base + t * inner];
                    }
                }
            }
        }
    }
}

/// Lines evaluated from a fused program, tile by tile.
pub(super) struct EvalLines<'e, 'a, T> {
    ev: &'e mut BlockEval<'a>,
    n: usize,
    inner: usize,
    /// Length of the block's last axis (a tile is a piece of a row or whole rows of it).
    row: usize,
    tmp: Vec<T>,
}

impl<'e, 'a, T: Number> EvalLines<'e, 'a, T> {
    pub(super) fn new(ev: &'e mut BlockEval<'a>, n: usize, inner: usize) -> Self {
        let row = *ev.dims.last().unwrap_or(&1);
        EvalLines {
            ev,
            n,
            inner,
            row,
            tmp: Vec::new(),
        }
    }

    /// Evaluates the flat range `start .. start + dest.len()` of the block into `dest`.
    fn range(&mut self, start: usize, dest: &mut [T]) {
        let (l, end) = (self.row, start + dest.len());
        let mut pos = start;
        while pos < end {
            let (row, col) = (pos / l, pos % l);
            let tile = if col == 0 && end - pos >= l && l <= TILE {
                let nrows = ((end - pos) / l).min(TILE / l);
                Tile {
                    start: pos,
                    len: nrows * l,
                    row0: row,
                    nrows,
                    col0: 0,
                    row_len: l,
                }
            } else {
                let take = (l - col).min(end - pos).min(TILE);
                Tile {
                    start: pos,
                    len: take,
                    row0: row,
                    nrows: 1,
                    col0: col,
                    row_len: take,
                }
            };
            let vals = T::slice(self.ev.eval(&tile));
            dest[pos - start..pos - start + tile.len].copy_from_slice(&vals[..tile.len]);
            pos += tile.len;
        }
    }
}

impl<T: Number> Lines<T> for EvalLines<'_, '_, T> {
    fn gather(&mut self, l0: usize, w: usize, buf: &mut [T]) {
        let (n, inner) = (self.n, self.inner);
        if inner == 1 {
            // Lines are consecutive runs of `n`: evaluate them at once, then transpose.
            let mut tmp = std::mem::take(&mut self.tmp);
            tmp.resize(w * n, T::ZERO);
            self.range(l0 * n, &mut tmp);
            for j in 0..w {
                for t in 0..n {
                    buf[t * w + j] = tmp[j * n + t];
                }
            }
            self.tmp = tmp;
            return;
        }
        let mut j = 0;
        while j < w {
            let l = l0 + j;
            let (o, i) = (l / inner, l % inner);
            let seg = (inner - i).min(w - j);
            for t in 0..n {
                let at = t * w + j;
                self.range((o * n + t) * inner + i, &mut buf[at..at + seg]);
            }
            j += seg;
        }
    }
}

/// Tiles of lines: `(first line, lanes)`, not crossing an outer index when a row of the
/// inner axes holds a whole tile (so that a tile's planes are contiguous runs).
fn tiles(lines: usize, inner: usize, w_max: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut l0 = 0;
    std::iter::from_fn(move || {
        if l0 >= lines {
            return None;
        }
        let mut l1 = (l0 + w_max).min(lines);
        if inner >= w_max {
            l1 = l1.min((l0 / inner + 1) * inner);
        }
        let t = (l0, l1 - l0);
        l0 = l1;
        Some(t)
    })
}

/// Short axes: a sorting network applied to whole planes of a tile.
fn by_network<T: Number>(
    src: &mut impl Lines<T>,
    lines: usize,
    n: usize,
    inner: usize,
    stat: Stat,
    skip_nan: bool,
    out: &mut [T::Mean],
) {
    let float = is_float::<T>();
    // Ranks that can be asked for: those of `n` values, or of any count when NaN is skipped.
    let mut live = vec![false; n];
    let counts = if skip_nan && float { 1..=n } else { n..=n };
    for m in counts {
        let (k, next) = stat.ranks(m);
        live[k] = true;
        if next {
            live[k + 1] = true;
        }
    }
    let net = network(n, &live);
    let w_max = lanes(n, std::mem::size_of::<T>());
    let mut buf = vec![T::ZERO; n * w_max];
    let mut nan = vec![0u32; w_max];
    for (l0, w) in tiles(lines, inner, w_max) {
        let buf = &mut buf[..n * w];
        src.gather(l0, w, buf);
        if float {
            let nan = &mut nan[..w];
            nan.fill(0);
            for row in buf.chunks_exact_mut(w) {
                if skip_nan {
                    // NaN → +inf: after every number, so a lane's first `n - nan` are sorted.
                    for (c, v) in nan.iter_mut().zip(row.iter_mut()) {
                        let bad = v.is_nan();
                        *c += u32::from(bad);
                        *v = if bad { T::MAX } else { *v };
                    }
                } else {
                    for (c, v) in nan.iter_mut().zip(row.iter()) {
                        *c += u32::from(v.is_nan());
                    }
                }
            }
        }
        for &(i, j) in &net {
            let (lo, hi) = buf.split_at_mut(j as usize * w);
            let a = &mut lo[i as usize * w..i as usize * w + w];
            let b = &mut hi[..w];
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                let (p, q) = (*x, *y);
                let swap = q < p;
                *x = if swap { q } else { p };
                *y = if swap { p } else { q };
            }
        }
        for j in 0..w {
            let bad = if float { nan[j] as usize } else { 0 };
            let m = if skip_nan { n - bad } else { n };
            let v = if m == 0 || (!skip_nan && bad > 0) {
                f64::NAN
            } else {
                let (k, next) = stat.ranks(m);
                let a = buf[k * w + j].to_f64();
                let b = if next {
                    buf[(k + 1) * w + j].to_f64()
                } else {
                    a
                };
                stat.value(m, a, b)
            };
            out[l0 + j] = <T::Mean as Element>::from_f64(v);
        }
    }
}

/// Long axes: `select_nth_unstable` line by line (lines gathered a tile at a time).
fn by_selection<T: Number>(
    src: &mut impl Lines<T>,
    lines: usize,
    n: usize,
    inner: usize,
    stat: Stat,
    skip_nan: bool,
    out: &mut [T::Mean],
) {
    let float = is_float::<T>();
    let mut line: Vec<T> = Vec::with_capacity(n);
    for_each_line(src, lines, n, inner, |l, vals| {
        line.clear();
        let mut bad = false;
        for &v in vals {
            if float && v.is_nan() {
                bad = true;
            } else {
                line.push(v);
            }
        }
        let m = line.len();
        let v = if m == 0 || (bad && !skip_nan) {
            f64::NAN
        } else {
            let (k, next) = stat.ranks(m);
            let (_, a, rest) = line.select_nth_unstable_by(k, total);
            let a = a.to_f64();
            let b = if next {
                rest.iter().copied().min_by(total).map_or(a, |b| b.to_f64())
            } else {
                a
            };
            stat.value(m, a, b)
        };
        out[l] = <T::Mean as Element>::from_f64(v);
    });
}

/// Calls `f(line, values)` for each of `lines` lines of `n` values from `src`, gathered a
/// tile of lines at a time.
pub(super) fn for_each_line<T: Number>(
    src: &mut impl Lines<T>,
    lines: usize,
    n: usize,
    inner: usize,
    mut f: impl FnMut(usize, &[T]),
) {
    if lines == 0 || n == 0 {
        return;
    }
    let w_max = lanes(n, std::mem::size_of::<T>());
    let mut buf = vec![T::ZERO; n * w_max];
    let mut col = vec![T::ZERO; n];
    for (l0, w) in tiles(lines, inner, w_max) {
        let buf = &mut buf[..n * w];
        src.gather(l0, w, buf);
        for j in 0..w {
            for (t, c) in col.iter_mut().enumerate() {
                *c = buf[t * w + j];
            }
            f(l0 + j, &col);
        }
    }
}

/// Batcher's odd-even merge sort for `n` values (built for the next power of two; the
/// comparators that reach past `n` are dropped, which is exact when the missing values are
/// taken as +∞), keeping only the comparators that the `live` output positions depend on.
pub(super) fn network(n: usize, live: &[bool]) -> Vec<(u32, u32)> {
    let p = n.next_power_of_two();
    let mut comps = Vec::new();
    let mut pp = 1;
    while pp < p {
        let mut k = pp;
        while k >= 1 {
            let mut j = k % pp;
            while j + k < p {
                for i in 0..k.min(p - j - k) {
                    let (a, b) = (i + j, i + j + k);
                    if a / (2 * pp) == b / (2 * pp) && b < n {
                        comps.push((a as u32, b as u32));
                    }
                }
                j += 2 * k;
            }
            k /= 2;
        }
        pp *= 2;
    }
    let mut live = live.to_vec();
    let mut kept: Vec<(u32, u32)> = Vec::with_capacity(comps.len());
    for &(a, b) in comps.iter().rev() {
        if live[a as usize] || live[b as usize] {
            live[a as usize] = true;
            live[b as usize] = true;
            kept.push((a, b));
        }
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_sort() {
        let mut seed = 12345u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % 10
        };
        for n in 1..=NETWORK_MAX {
            let net = network(n, &vec![true; n]);
            for _ in 0..20 {
                let mut v: Vec<u64> = (0..n).map(|_| next()).collect();
                let mut want = v.clone();
                want.sort();
                for &(a, b) in &net {
                    let (a, b) = (a as usize, b as usize);
                    if v[b] < v[a] {
                        v.swap(a, b);
                    }
                }
                assert_eq!(v, want, "n = {n}");
            }
        }
        // Pruned for the median of 32: fewer comparators, same middle values.
        let mut live = vec![false; 32];
        live[15] = true;
        live[16] = true;
        assert!(network(32, &live).len() < network(32, &[true; 32]).len());
    }

    /// Times the kernel on one (32, 1000, 1000) `f32` block: `cargo test --release --lib
    /// select_block_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn select_block_timing() {
        let mut s = 1u64;
        let x = ArrayD::from_shape_fn(IxDyn(&[32, 1000, 1000]), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32
        });
        for (stat, skip) in [
            (Stat::Median, false),
            (Stat::Median, true),
            (Stat::Quantile(0.9), true),
        ] {
            let t = std::time::Instant::now();
            let m = select_block(&x, 0, stat, skip);
            println!(
                "{stat:?} skip_nan={skip}: {:.3} s ({})",
                t.elapsed().as_secs_f64(),
                m[[0, 0]]
            );
        }
    }

    #[test]
    fn tiles_cover_lines() {
        for (lines, inner, w) in [(10, 3, 4), (10, 10, 4), (7, 1, 3), (12, 4, 4)] {
            let t: Vec<_> = tiles(lines, inner, w).collect();
            let mut next = 0;
            for &(l0, n) in &t {
                assert_eq!(l0, next);
                assert!(n >= 1 && n <= w);
                next += n;
            }
            assert_eq!(next, lines);
        }
    }
}
