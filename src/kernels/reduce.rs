//! Reductions: per-element state, folds over tiles, merges in a fixed order.
//!
//! A reduction runs as a tree: a *partial* step folds each input block (straight from the
//! fused producer's tiles) into a state block that is 1 long on the reduced axes; *combine*
//! steps merge groups of state blocks in chunk-grid order; *finalize* turns states into values.
//! Every merge order is fixed by the chunk grid, never by thread timing, so a result has the
//! same bits for any thread count. Sums are pairwise within a tile with eight independent
//! accumulators (as NumPy does), tile partials within a block are merged pairwise, and
//! variances use Chan's parallel update.

use crate::element::sealed::Sealed as _;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use crate::block::{BlockRef, downcast};
use crate::element::{DType, Element, Number};
use crate::grid::c_strides;
use crate::kernels::program::{BlockEval, for_each_row, tiles};

/// A typed reduction.
pub(crate) trait Reducer: Send + Sync + 'static {
    type In: Element;
    type State: Clone + Send + Sync + Debug + 'static;
    type Out: Element;
    fn name(&self) -> String;
    fn init(&self) -> Self::State;
    /// Folds all of `xs` into one state; element `k` has reduction index `gidx + k * gstep`.
    fn fold_run(&self, s: &mut Self::State, xs: &[Self::In], gidx: u64, gstep: u64);
    /// Folds `xs[k]` into `s[k]`, each with reduction index `gidx + k * gstep`.
    fn fold_each(&self, s: &mut [Self::State], xs: &[Self::In], gidx: u64, gstep: u64) {
        for (k, (s, x)) in s.iter_mut().zip(xs).enumerate() {
            self.fold_run(s, std::slice::from_ref(x), gidx + k as u64 * gstep, 0);
        }
    }
    /// Merges `b` into `a`; `a` holds elements that come before `b`'s in the grid.
    fn merge(&self, a: &mut Self::State, b: &Self::State);
    fn finalize(&self, s: &Self::State) -> Self::Out;
    /// Whether `fold_*` need the reduction index (arg reductions).
    fn needs_index(&self) -> bool {
        false
    }
    /// Whether an empty reduction is an error (no identity: min, max, argmin, argmax).
    fn needs_elements(&self) -> bool {
        false
    }
}

/// A reduction, type-erased for the plan and the scheduler.
pub(crate) trait ReduceKernel: Send + Sync {
    fn name(&self) -> String;
    fn out_dtype(&self) -> DType;
    fn state_bytes(&self) -> usize;
    fn needs_elements(&self) -> bool;
    /// Folds the block evaluated by `ev` into a state block. `reduced[k]` marks reduced axes
    /// and `weights[k]` gives each axis's weight in the reduction index (arg reductions);
    /// `offset` is the block's global offset.
    fn partial(
        &self,
        ev: &mut BlockEval<'_>,
        reduced: &[bool],
        weights: &[u64],
        offset: &[usize],
    ) -> BlockRef;
    /// Merges state blocks of one shape, in the order given.
    fn combine(&self, parts: &[BlockRef]) -> BlockRef;
    /// Turns a state block into an output block of `out_shape` (same element count).
    fn finalize(&self, part: &BlockRef, out_shape: &[usize]) -> BlockRef;
}

pub(crate) type ReduceRef = Arc<dyn ReduceKernel>;

pub(crate) struct ReduceOp<R>(pub R);

impl<R: Reducer> ReduceOp<R> {
    pub(crate) fn new_ref(r: R) -> ReduceRef {
        Arc::new(ReduceOp(r))
    }
}

impl<R: Reducer> ReduceKernel for ReduceOp<R> {
    fn name(&self) -> String {
        self.0.name()
    }
    fn out_dtype(&self) -> DType {
        R::Out::DTYPE
    }
    fn state_bytes(&self) -> usize {
        std::mem::size_of::<R::State>()
    }
    fn needs_elements(&self) -> bool {
        self.0.needs_elements()
    }

    fn partial(
        &self,
        ev: &mut BlockEval<'_>,
        reduced: &[bool],
        weights: &[u64],
        offset: &[usize],
    ) -> BlockRef {
        let r = &self.0;
        let dims = ev.dims.clone();
        let d = dims.len();
        let sdims: Vec<usize> = dims
            .iter()
            .zip(reduced)
            .map(|(&n, &red)| if red { 1 } else { n })
            .collect();
        let sc = c_strides(&sdims);
        let sstrides: Vec<i64> = sc
            .iter()
            .zip(reduced)
            .map(|(&s, &red)| if red { 0 } else { s as i64 })
            .collect();
        let wstrides: Vec<i64> = weights.iter().map(|&w| w as i64).collect();
        let gbase: i64 = offset
            .iter()
            .zip(&wstrides)
            .map(|(&o, &w)| o as i64 * w)
            .sum();
        let gstep = weights[d - 1];
        let mut states = vec![r.init(); sdims.iter().product()];
        let last_reduced = reduced[d - 1];
        let single = states.len() == 1 && last_reduced;
        // Pairwise merging of tile partials (a binary counter of levels).
        let mut cascade: Vec<(u32, R::State)> = Vec::new();
        let mut gidx: Vec<i64> = Vec::new();
        for tile in tiles(&dims) {
            let xs = R::In::slice(ev.eval(&tile));
            let n = tile.row_len;
            if r.needs_index() {
                gidx.clear();
                for_each_row(&dims, &wstrides, gbase, &tile, |g, _| gidx.push(g));
            }
            let mut row = 0;
            for_each_row(&dims, &sstrides, 0, &tile, |soff, dst| {
                let g = gidx.get(row).copied().unwrap_or(0) as u64;
                row += 1;
                let x = &xs[dst..dst + n];
                if single {
                    let mut s = r.init();
                    r.fold_run(&mut s, x, g, gstep);
                    let mut level = 0;
                    while let Some((l, _)) = cascade.last() {
                        if *l != level {
                            break;
                        }
                        let (_, mut prev) = cascade.pop().unwrap();
                        r.merge(&mut prev, &s);
                        s = prev;
                        level += 1;
                    }
                    cascade.push((level, s));
                } else if last_reduced {
                    r.fold_run(&mut states[soff as usize], x, g, gstep);
                } else {
                    let so = soff as usize;
                    r.fold_each(&mut states[so..so + n], x, g, gstep);
                }
            });
        }
        if single {
            let mut it = cascade.into_iter().map(|(_, s)| s);
            if let Some(mut acc) = it.next() {
                for s in it {
                    r.merge(&mut acc, &s);
                }
                states[0] = acc;
            }
        }
        Arc::new(ArrayD::from_shape_vec(IxDyn(&sdims), states).expect("internal: state shape"))
    }

    fn combine(&self, parts: &[BlockRef]) -> BlockRef {
        let mut acc = downcast::<R::State>(&parts[0]).to_owned();
        for p in &parts[1..] {
            let p = downcast::<R::State>(p);
            for (a, b) in acc.iter_mut().zip(p.iter()) {
                self.0.merge(a, b);
            }
        }
        Arc::new(acc)
    }

    fn finalize(&self, part: &BlockRef, out_shape: &[usize]) -> BlockRef {
        let s = downcast::<R::State>(part);
        let v: Vec<R::Out> = s.iter().map(|s| self.0.finalize(s)).collect();
        Arc::new(ArrayD::from_shape_vec(IxDyn(out_shape), v).expect("internal: finalize shape"))
    }
}

/// Pairwise sum of `f(x)` over `xs` with eight accumulators.
#[inline]
fn pairwise_sum<T: Copy, A: Number>(xs: &[T], f: impl Fn(T) -> A + Copy) -> A {
    if xs.len() <= 512 {
        let mut acc = [A::ZERO; 8];
        let chunks = xs.chunks_exact(8);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..8 {
                acc[k] = A::add(acc[k], f(c[k]));
            }
        }
        let mut tail = A::ZERO;
        for &x in rest {
            tail = A::add(tail, f(x));
        }
        let a = A::add(A::add(acc[0], acc[1]), A::add(acc[2], acc[3]));
        let b = A::add(A::add(acc[4], acc[5]), A::add(acc[6], acc[7]));
        A::add(A::add(a, b), tail)
    } else {
        let half = (xs.len() / 2) & !7;
        A::add(pairwise_sum(&xs[..half], f), pairwise_sum(&xs[half..], f))
    }
}

// ---------------------------------------------------------------- sum, prod

pub(crate) struct Sum<T> {
    pub skip_nan: bool,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Number> Reducer for Sum<T> {
    type In = T;
    type State = T::Acc;
    type Out = T::Sum;
    fn name(&self) -> String {
        if self.skip_nan { "nansum" } else { "sum" }.into()
    }
    fn init(&self) -> T::Acc {
        T::Acc::ZERO
    }
    #[inline]
    fn fold_run(&self, s: &mut T::Acc, xs: &[T], _: u64, _: u64) {
        let v = if self.skip_nan {
            pairwise_sum(xs, |x: T| {
                if x.is_nan() {
                    T::Acc::ZERO
                } else {
                    x.cast::<T::Acc>()
                }
            })
        } else {
            pairwise_sum(xs, |x: T| x.cast::<T::Acc>())
        };
        *s = T::Acc::add(*s, v);
    }
    fn fold_each(&self, s: &mut [T::Acc], xs: &[T], _: u64, _: u64) {
        for (s, &x) in s.iter_mut().zip(xs) {
            if !(self.skip_nan && x.is_nan()) {
                *s = T::Acc::add(*s, x.cast::<T::Acc>());
            }
        }
    }
    fn merge(&self, a: &mut T::Acc, b: &T::Acc) {
        *a = T::Acc::add(*a, *b);
    }
    fn finalize(&self, s: &T::Acc) -> T::Sum {
        s.cast::<T::Sum>()
    }
}

pub(crate) struct Prod<T>(pub PhantomData<fn(T)>);

impl<T: Number> Reducer for Prod<T> {
    type In = T;
    type State = T::Acc;
    type Out = T::Sum;
    fn name(&self) -> String {
        "prod".into()
    }
    fn init(&self) -> T::Acc {
        T::Acc::ONE
    }
    fn fold_run(&self, s: &mut T::Acc, xs: &[T], _: u64, _: u64) {
        let mut acc = [T::Acc::ONE; 4];
        let chunks = xs.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..4 {
                acc[k] = T::Acc::mul(acc[k], c[k].cast());
            }
        }
        let mut p = T::Acc::mul(T::Acc::mul(acc[0], acc[1]), T::Acc::mul(acc[2], acc[3]));
        for &x in rest {
            p = T::Acc::mul(p, x.cast());
        }
        *s = T::Acc::mul(*s, p);
    }
    fn merge(&self, a: &mut T::Acc, b: &T::Acc) {
        *a = T::Acc::mul(*a, *b);
    }
    fn finalize(&self, s: &T::Acc) -> T::Sum {
        s.cast::<T::Sum>()
    }
}

// ---------------------------------------------------------------- mean, var, std

/// Count, mean and sum of squared deviations (Chan et al.).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    #[inline]
    fn merge(&mut self, b: &Moments) {
        if b.n == 0.0 {
            return;
        }
        if self.n == 0.0 {
            *self = *b;
            return;
        }
        let n = self.n + b.n;
        let delta = b.mean - self.mean;
        self.mean += delta * (b.n / n);
        self.m2 += b.m2 + delta * delta * (self.n * b.n / n);
        self.n = n;
    }

    #[inline]
    fn push(&mut self, x: f64) {
        self.n += 1.0;
        let d = x - self.mean;
        self.mean += d / self.n;
        self.m2 += d * (x - self.mean);
    }
}

/// What a moments reduction returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum MomentOut {
    Mean,
    Var(f64),
    Std(f64),
}

pub(crate) struct MomentsReducer<T> {
    pub out: MomentOut,
    pub skip_nan: bool,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Number> Reducer for MomentsReducer<T> {
    type In = T;
    type State = Moments;
    type Out = T::Mean;
    fn name(&self) -> String {
        let p = if self.skip_nan { "nan" } else { "" };
        match self.out {
            MomentOut::Mean => format!("{p}mean"),
            MomentOut::Var(d) => format!("{p}var(ddof={d})"),
            MomentOut::Std(d) => format!("{p}std(ddof={d})"),
        }
    }
    fn init(&self) -> Moments {
        Moments::default()
    }
    fn fold_run(&self, s: &mut Moments, xs: &[T], _: u64, _: u64) {
        let (n, sum) = if self.skip_nan {
            let n = xs.iter().filter(|x| !x.is_nan()).count();
            (
                n,
                pairwise_sum(xs, |x: T| if x.is_nan() { 0.0 } else { x.to_f64() }),
            )
        } else {
            (xs.len(), pairwise_sum(xs, |x: T| x.to_f64()))
        };
        if n == 0 {
            return;
        }
        let mean = sum / n as f64;
        let m2 = if self.out == MomentOut::Mean {
            0.0
        } else if self.skip_nan {
            pairwise_sum(xs, |x: T| {
                if x.is_nan() {
                    0.0
                } else {
                    (x.to_f64() - mean) * (x.to_f64() - mean)
                }
            })
        } else {
            pairwise_sum(xs, |x: T| (x.to_f64() - mean) * (x.to_f64() - mean))
        };
        s.merge(&Moments {
            n: n as f64,
            mean,
            m2,
        });
    }
    fn fold_each(&self, s: &mut [Moments], xs: &[T], _: u64, _: u64) {
        for (s, &x) in s.iter_mut().zip(xs) {
            if !(self.skip_nan && x.is_nan()) {
                s.push(x.to_f64());
            }
        }
    }
    fn merge(&self, a: &mut Moments, b: &Moments) {
        a.merge(b);
    }
    fn finalize(&self, s: &Moments) -> T::Mean {
        let v = match self.out {
            MomentOut::Mean => {
                if s.n == 0.0 {
                    f64::NAN
                } else {
                    s.mean
                }
            }
            MomentOut::Var(ddof) | MomentOut::Std(ddof) => {
                let dof = s.n - ddof;
                let var = if dof <= 0.0 {
                    f64::NAN
                } else {
                    // Rounding can leave m2 a hair below 0; NaN (from NaN or inf data) stays.
                    let v = s.m2 / dof;
                    if v < 0.0 { 0.0 } else { v }
                };
                if let MomentOut::Std(_) = self.out {
                    var.sqrt()
                } else {
                    var
                }
            }
        };
        <T::Mean as Element>::from_f64(v)
    }
}

// ---------------------------------------------------------------- min, max

#[derive(Debug, Clone, Copy)]
pub(crate) struct Extreme<T> {
    v: T,
    seen: bool,
    nan: bool,
}

pub(crate) struct MinMax<T> {
    pub max: bool,
    pub skip_nan: bool,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Number> MinMax<T> {
    #[inline]
    fn better(&self, x: T, cur: T) -> bool {
        if self.max { x > cur } else { x < cur }
    }
}

impl<T: Number> Reducer for MinMax<T> {
    type In = T;
    type State = Extreme<T>;
    type Out = T;
    fn name(&self) -> String {
        let p = if self.skip_nan { "nan" } else { "" };
        format!("{p}{}", if self.max { "max" } else { "min" })
    }
    fn init(&self) -> Extreme<T> {
        Extreme {
            v: if self.max { T::MIN } else { T::MAX },
            seen: false,
            nan: false,
        }
    }
    fn fold_run(&self, s: &mut Extreme<T>, xs: &[T], _: u64, _: u64) {
        let mut m = s.v;
        let mut nan = false;
        for &x in xs {
            nan |= x.is_nan();
            if self.better(x, m) {
                m = x;
            }
        }
        let valid = if self.skip_nan {
            xs.iter().any(|x| !x.is_nan())
        } else {
            !xs.is_empty()
        };
        s.v = m;
        s.seen |= valid;
        s.nan |= nan && !self.skip_nan;
    }
    fn merge(&self, a: &mut Extreme<T>, b: &Extreme<T>) {
        if self.better(b.v, a.v) {
            a.v = b.v;
        }
        a.seen |= b.seen;
        a.nan |= b.nan;
    }
    fn finalize(&self, s: &Extreme<T>) -> T {
        if s.nan || !s.seen {
            T::from_f64(f64::NAN)
        } else {
            s.v
        }
    }
    fn needs_elements(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- argmin, argmax

#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgState<T> {
    v: T,
    idx: u64,
    seen: bool,
    nan: bool,
}

pub(crate) struct Arg<T> {
    pub max: bool,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Number> Reducer for Arg<T> {
    type In = T;
    type State = ArgState<T>;
    type Out = u64;
    fn name(&self) -> String {
        if self.max { "argmax" } else { "argmin" }.into()
    }
    fn init(&self) -> ArgState<T> {
        ArgState {
            v: T::ZERO,
            idx: u64::MAX,
            seen: false,
            nan: false,
        }
    }
    fn fold_run(&self, s: &mut ArgState<T>, xs: &[T], gidx: u64, gstep: u64) {
        for (k, &x) in xs.iter().enumerate() {
            let g = gidx + k as u64 * gstep;
            let cand = ArgState {
                v: x,
                idx: g,
                seen: true,
                nan: x.is_nan(),
            };
            self.merge(s, &cand);
        }
    }
    fn merge(&self, a: &mut ArgState<T>, b: &ArgState<T>) {
        if !b.seen {
            return;
        }
        // NumPy: the first NaN wins; otherwise the extreme value, first index on ties.
        let take = if !a.seen {
            true
        } else if a.nan || b.nan {
            b.nan && (!a.nan || b.idx < a.idx)
        } else {
            let better = if self.max { b.v > a.v } else { b.v < a.v };
            better || (b.v == a.v && b.idx < a.idx)
        };
        if take {
            *a = *b;
        }
    }
    fn finalize(&self, s: &ArgState<T>) -> u64 {
        s.idx
    }
    fn needs_index(&self) -> bool {
        true
    }
    fn needs_elements(&self) -> bool {
        true
    }
}

// ---------------------------------------------------------------- any, all, count_nonzero

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Truth {
    Any,
    All,
}

pub(crate) struct TruthReducer<T> {
    pub kind: Truth,
    pub _t: PhantomData<fn(T)>,
}

impl<T: Element> Reducer for TruthReducer<T> {
    type In = T;
    type State = bool;
    type Out = bool;
    fn name(&self) -> String {
        match self.kind {
            Truth::Any => "any",
            Truth::All => "all",
        }
        .into()
    }
    fn init(&self) -> bool {
        self.kind == Truth::All
    }
    fn fold_run(&self, s: &mut bool, xs: &[T], _: u64, _: u64) {
        match self.kind {
            Truth::Any => *s |= xs.iter().any(|x| x.is_nonzero()),
            Truth::All => *s &= xs.iter().all(|x| x.is_nonzero()),
        }
    }
    fn merge(&self, a: &mut bool, b: &bool) {
        match self.kind {
            Truth::Any => *a |= *b,
            Truth::All => *a &= *b,
        }
    }
    fn finalize(&self, s: &bool) -> bool {
        *s
    }
}

pub(crate) struct CountNonzero<T>(pub PhantomData<fn(T)>);

impl<T: Element> Reducer for CountNonzero<T> {
    type In = T;
    type State = u64;
    type Out = u64;
    fn name(&self) -> String {
        "count_nonzero".into()
    }
    fn init(&self) -> u64 {
        0
    }
    fn fold_run(&self, s: &mut u64, xs: &[T], _: u64, _: u64) {
        *s += xs.iter().filter(|x| x.is_nonzero()).count() as u64;
    }
    fn fold_each(&self, s: &mut [u64], xs: &[T], _: u64, _: u64) {
        for (s, x) in s.iter_mut().zip(xs) {
            *s += x.is_nonzero() as u64;
        }
    }
    fn merge(&self, a: &mut u64, b: &u64) {
        *a += *b;
    }
    fn finalize(&self, s: &u64) -> u64 {
        *s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_sum_is_accurate() {
        let xs: Vec<f64> = (0..100_003).map(|i| 0.1 + (i % 7) as f64).collect();
        let exact: f64 = xs.iter().sum();
        let p = pairwise_sum(&xs, |x: f64| x);
        assert!((p - exact).abs() / exact < 1e-12);
    }

    #[test]
    fn moments_merge_matches_direct() {
        let xs: Vec<f64> = (0..1000).map(|i| (i as f64).sin()).collect();
        let mut a = Moments::default();
        for &x in &xs[..300] {
            a.push(x);
        }
        let mut b = Moments::default();
        for &x in &xs[300..] {
            b.push(x);
        }
        a.merge(&b);
        let mean = xs.iter().sum::<f64>() / 1000.0;
        let m2: f64 = xs.iter().map(|x| (x - mean) * (x - mean)).sum();
        assert!((a.mean - mean).abs() < 1e-12);
        assert!((a.m2 - m2).abs() < 1e-9);
    }
}
