//! Property tests: lazy, chunked results of rask agree with the same computation done eagerly
//! on `ndarray`, for random shapes, chunkings, broadcasting, operation chains and reductions.
//!
//! The eager references are written independently of rask: elementwise chains are plain
//! per-element Rust, sums use compensated (Neumaier) summation, variances the two-pass formula,
//! and arg-reductions scan for the first occurrence.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, Dimension, IxDyn, Zip};
use proptest::prelude::*;
use rask::prelude::*;

// ---------------------------------------------------------------- data and strategies

/// SplitMix64, a small deterministic generator for test data (independent of rask).
struct Sm(u64);

impl Sm {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How the f64 test data is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Uniform in [-10, 10).
    Continuous,
    /// Integers in -5..=5 (many ties and exact zeros).
    Quantized,
    /// Continuous with about 15% NaN.
    WithNan,
}

fn f64_data(shape: &[usize], seed: u64, mode: Mode) -> ArrayD<f64> {
    let mut r = Sm(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n)
        .map(|_| match mode {
            Mode::Continuous => r.unit() * 20.0 - 10.0,
            Mode::Quantized => (r.next() % 11) as f64 - 5.0,
            Mode::WithNan => {
                if r.next() % 100 < 15 {
                    f64::NAN
                } else {
                    r.unit() * 20.0 - 10.0
                }
            }
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

fn bool_data(shape: &[usize], seed: u64, p_true: f64) -> ArrayD<bool> {
    let mut r = Sm(seed);
    let n: usize = shape.iter().product();
    let v: Vec<bool> = (0..n).map(|_| r.unit() < p_true).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Largest axis length by number of dimensions (keeps arrays at a few thousand elements).
const MAX_AXIS: [usize; 4] = [9, 9, 9, 6];

fn shape_s() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=4).prop_flat_map(|nd| prop::collection::vec(1usize..=MAX_AXIS[nd - 1], nd))
}

/// Shapes that may have zero-length axes.
fn shape_with_zero_s() -> impl Strategy<Value = Vec<usize>> {
    (1usize..=3).prop_flat_map(|nd| {
        prop::collection::vec(prop_oneof![3 => 1usize..=6, 1 => Just(0usize)], nd)
    })
}

/// Chunk sizes from 1 to a bit more than the axis (larger than the axis is allowed).
fn chunks_s(shape: &[usize]) -> Vec<std::ops::RangeInclusive<usize>> {
    shape.iter().map(|&n| 1..=n.max(1) + 2).collect()
}

fn mode_s() -> impl Strategy<Value = Mode> + Clone {
    prop_oneof![Just(Mode::Continuous), Just(Mode::Quantized)]
}

/// One input array: its shape, its chunking and its data.
#[derive(Debug, Clone)]
struct Arr {
    shape: Vec<usize>,
    chunks: Vec<usize>,
    seed: u64,
    mode: Mode,
}

impl Arr {
    fn eager(&self) -> ArrayD<f64> {
        f64_data(&self.shape, self.seed, self.mode)
    }
    fn lazy(&self) -> ChunkedArray<f64> {
        ChunkedArray::from_ndarray(self.eager().view(), &self.chunks)
    }
}

fn arr_s(
    shape: impl Strategy<Value = Vec<usize>>,
    mode: impl Strategy<Value = Mode> + Clone + 'static,
) -> impl Strategy<Value = Arr> {
    shape
        .prop_flat_map(move |s| {
            let c = chunks_s(&s);
            (Just(s), c, any::<u64>(), mode.clone())
        })
        .prop_map(|(shape, chunks, seed, mode)| Arr {
            shape,
            chunks,
            seed,
            mode,
        })
}

/// A non-empty set of distinct axes of an `nd`-dimensional array, some written as negative
/// numbers, in random order.
fn axes_s(nd: usize) -> impl Strategy<Value = Vec<isize>> {
    (1u32..(1 << nd), any::<u32>(), any::<bool>()).prop_map(move |(mask, neg, rev)| {
        let mut v: Vec<isize> = (0..nd)
            .filter(|k| (mask >> k) & 1 == 1)
            .map(|k| {
                if (neg >> k) & 1 == 1 {
                    k as isize - nd as isize
                } else {
                    k as isize
                }
            })
            .collect();
        if rev {
            v.reverse();
        }
        v
    })
}

fn normalize(axes: &[isize], nd: usize) -> Vec<usize> {
    let mut v: Vec<usize> = axes
        .iter()
        .map(|&a| {
            if a < 0 {
                (a + nd as isize) as usize
            } else {
                a as usize
            }
        })
        .collect();
    v.sort_unstable();
    v
}

/// Reduction options: keepdims and an optional split_every in 2..=5.
fn opts_s() -> impl Strategy<Value = (bool, Option<usize>)> {
    (any::<bool>(), prop::option::of(2usize..=5))
}

fn make_opts(keepdims: bool, split_every: Option<usize>) -> ReduceOpts {
    let o = ReduceOpts::default().keepdims(keepdims);
    match split_every {
        Some(n) => o.split_every(n),
        None => o,
    }
}

/// A shape that broadcasts against `out`: some axes set to 1, maybe fewer leading dims.
fn bcast_shape_s(out: Vec<usize>) -> impl Strategy<Value = Vec<usize>> {
    let nd = out.len();
    (0..nd, any::<u32>()).prop_map(move |(drop, ones)| {
        out[drop..]
            .iter()
            .enumerate()
            .map(|(k, &n)| if (ones >> (2 * k)) & 3 == 0 { 1 } else { n })
            .collect()
    })
}

// ---------------------------------------------------------------- eager references

/// NumPy's broadcast shape of two shapes (they must be compatible).
fn bshape(a: &[usize], b: &[usize]) -> Vec<usize> {
    let nd = a.len().max(b.len());
    (0..nd)
        .map(|j| {
            let x = if j + a.len() >= nd {
                a[j + a.len() - nd]
            } else {
                1
            };
            let y = if j + b.len() >= nd {
                b[j + b.len() - nd]
            } else {
                1
            };
            assert!(x == y || x == 1 || y == 1, "test bug: {a:?} vs {b:?}");
            if x == 1 { y } else { x }
        })
        .collect()
}

/// `f(a, b)` elementwise with broadcasting.
fn zip_b<T: Copy, U: Copy, R>(a: &ArrayD<T>, b: &ArrayD<U>, f: impl Fn(T, U) -> R) -> ArrayD<R> {
    let s = bshape(a.shape(), b.shape());
    let av = a.broadcast(IxDyn(&s)).unwrap();
    let bv = b.broadcast(IxDyn(&s)).unwrap();
    Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y))
}

/// Compensated (Neumaier) sum, nearly exact.
fn nsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for x in xs {
        let t = s + x;
        if s.abs() >= x.abs() {
            c += (s - t) + x;
        } else {
            c += (x - t) + s;
        }
        s = t;
    }
    s + c
}

fn ref_mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        nsum(xs.iter().copied()) / xs.len() as f64
    }
}

/// Two-pass variance with `ddof`.
fn ref_var(xs: &[f64], ddof: f64) -> f64 {
    let n = xs.len() as f64;
    if n - ddof <= 0.0 {
        return f64::NAN;
    }
    let m = ref_mean(xs);
    nsum(xs.iter().map(|&x| (x - m) * (x - m))) / (n - ddof)
}

/// NumPy's min/max: NaN if any element is NaN.
fn ref_extreme(xs: &[f64], max: bool) -> f64 {
    let mut m = if max {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };
    for &x in xs {
        if x.is_nan() {
            return x;
        }
        if (max && x > m) || (!max && x < m) {
            m = x;
        }
    }
    m
}

/// Index of the first extreme; the first NaN wins.
fn ref_arg<T: Copy + PartialOrd>(xs: &[T], max: bool) -> u64 {
    #[allow(clippy::eq_op)]
    let is_nan = |x: T| x != x;
    if let Some(i) = xs.iter().position(|&x| is_nan(x)) {
        return i as u64;
    }
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if (max && x > xs[best]) || (!max && x < xs[best]) {
            best = i;
        }
    }
    best as u64
}

fn non_nan(xs: &[f64]) -> Vec<f64> {
    xs.iter().copied().filter(|x| !x.is_nan()).collect()
}

/// Applies `f` to each group of elements reduced together (the elements over `axes`, for
/// each index of the other axes), in C order within the group.
fn ref_reduce<T: Copy, U>(
    a: &ArrayD<T>,
    axes: &[usize],
    keepdims: bool,
    f: impl Fn(&[T]) -> U,
) -> ArrayD<U> {
    let nd = a.ndim();
    let kept: Vec<usize> = (0..nd).filter(|k| !axes.contains(k)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let p = a.view().permuted_axes(IxDyn(&perm));
    let flat: Vec<T> = p.iter().copied().collect();
    let kl: usize = kept.iter().map(|&k| a.shape()[k]).product();
    let rl: usize = axes.iter().map(|&k| a.shape()[k]).product();
    let vals: Vec<U> = (0..kl).map(|i| f(&flat[i * rl..(i + 1) * rl])).collect();
    let out_shape: Vec<usize> = if keepdims {
        (0..nd)
            .map(|k| if axes.contains(&k) { 1 } else { a.shape()[k] })
            .collect()
    } else {
        kept.iter().map(|&k| a.shape()[k]).collect()
    };
    ArrayD::from_shape_vec(IxDyn(&out_shape), vals).unwrap()
}

// ---------------------------------------------------------------- comparisons

fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// `got` equals `want` within `tol` (NaN equals NaN, infinities must match exactly).
fn close(got: f64, want: f64, tol: f64) -> bool {
    same_f64(got, want) || (got.is_finite() && want.is_finite() && (got - want).abs() <= tol)
}

/// Elementwise `close` with a relative tolerance.
fn assert_rel(got: &ArrayD<f64>, want: &ArrayD<f64>, rel: f64, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let tol = rel * g.abs().max(w.abs());
        assert!(close(g, w, tol), "{what}: element {i}: got {g}, want {w}");
    }
}

/// Elementwise `close` with per-element absolute tolerances.
fn assert_tol(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, ((&g, &w), &t)) in got.iter().zip(want.iter()).zip(tol.iter()).enumerate() {
        assert!(
            close(g, w, t),
            "{what}: element {i}: got {g}, want {w} (tolerance {t})"
        );
    }
}

/// Bit-for-bit equality of f64 arrays (any NaN equals any NaN).
fn assert_same(got: &ArrayD<f64>, want: &ArrayD<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

fn scalar_arr(v: f64) -> ArrayD<f64> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

// ---------------------------------------------------------------- elementwise chains

/// One elementwise step. Array operands are the second input `b`.
#[derive(Debug, Clone)]
enum EOp {
    AddS(f64),
    SubS(f64),
    MulS(f64),
    DivS(f64),
    RSubS(f64),
    RDivS(f64),
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Abs,
    SqrtAbs,
    ExpSmall,
    Clip(f64, f64),
    MaxS(f64),
    Max,
    Min,
    WhereGt(f64),
    WhereLeScalar(f64),
    PowI(i32),
    Map,
}

fn eop_s() -> impl Strategy<Value = EOp> {
    let s = || -4.0f64..4.0;
    prop_oneof![
        s().prop_map(EOp::AddS),
        s().prop_map(EOp::SubS),
        s().prop_map(EOp::MulS),
        s().prop_map(EOp::DivS),
        s().prop_map(EOp::RSubS),
        s().prop_map(EOp::RDivS),
        Just(EOp::Add),
        Just(EOp::Sub),
        Just(EOp::Mul),
        Just(EOp::Div),
        Just(EOp::Neg),
        Just(EOp::Abs),
        Just(EOp::SqrtAbs),
        Just(EOp::ExpSmall),
        (s(), 0.0f64..5.0).prop_map(|(lo, w)| EOp::Clip(lo, lo + w)),
        s().prop_map(EOp::MaxS),
        Just(EOp::Max),
        Just(EOp::Min),
        s().prop_map(EOp::WhereGt),
        s().prop_map(EOp::WhereLeScalar),
        // n <= 2: x*x is correctly rounded everywhere (llvm.powi may differ in the last bit
        // for larger n, which a later cancellation could amplify).
        (0i32..3).prop_map(EOp::PowI),
        Just(EOp::Map),
    ]
}

/// NumPy's `maximum`/`minimum`: NaN if either is NaN.
fn np_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        if a.is_nan() { a } else { b }
    } else if a >= b {
        a
    } else {
        b
    }
}

fn np_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        if a.is_nan() { a } else { b }
    } else if a <= b {
        a
    } else {
        b
    }
}

fn np_clip(x: f64, lo: f64, hi: f64) -> f64 {
    let m = if x < lo { lo } else { x };
    if m > hi { hi } else { m }
}

fn apply_lazy(x: &ChunkedArray<f64>, b: &ChunkedArray<f64>, op: &EOp) -> ChunkedArray<f64> {
    match *op {
        EOp::AddS(s) => x.clone() + s,
        EOp::SubS(s) => x - s,
        EOp::MulS(s) => s * x,
        EOp::DivS(s) => x / s,
        EOp::RSubS(s) => s - x,
        EOp::RDivS(s) => s / x.clone(),
        EOp::Add => x + b,
        EOp::Sub => x.clone() - b,
        EOp::Mul => x * b.clone(),
        EOp::Div => x.clone() / b.clone(),
        EOp::Neg => -x,
        EOp::Abs => x.abs(),
        EOp::SqrtAbs => x.abs().sqrt(),
        EOp::ExpSmall => x.clip(-5.0, 5.0).exp(),
        EOp::Clip(lo, hi) => x.clip(lo, hi),
        EOp::MaxS(s) => x.maximum(s),
        EOp::Max => x.maximum(b),
        EOp::Min => x.minimum(b.clone()),
        EOp::WhereGt(t) => where_(&x.gt(t), x, b),
        EOp::WhereLeScalar(t) => where_(&x.le(t), t, x),
        EOp::PowI(n) => x.powi(n),
        EOp::Map => x.map(|v| v * 0.5 + 1.0),
    }
}

fn apply_eager(x: &ArrayD<f64>, b: &ArrayD<f64>, op: &EOp) -> ArrayD<f64> {
    match *op {
        EOp::AddS(s) => x.mapv(|v| v + s),
        EOp::SubS(s) => x.mapv(|v| v - s),
        EOp::MulS(s) => x.mapv(|v| s * v),
        EOp::DivS(s) => x.mapv(|v| v / s),
        EOp::RSubS(s) => x.mapv(|v| s - v),
        EOp::RDivS(s) => x.mapv(|v| s / v),
        EOp::Add => zip_b(x, b, |p, q| p + q),
        EOp::Sub => zip_b(x, b, |p, q| p - q),
        EOp::Mul => zip_b(x, b, |p, q| p * q),
        EOp::Div => zip_b(x, b, |p, q| p / q),
        EOp::Neg => x.mapv(|v| -v),
        EOp::Abs => x.mapv(f64::abs),
        EOp::SqrtAbs => x.mapv(|v| v.abs().sqrt()),
        EOp::ExpSmall => x.mapv(|v| np_clip(v, -5.0, 5.0).exp()),
        EOp::Clip(lo, hi) => x.mapv(|v| np_clip(v, lo, hi)),
        EOp::MaxS(s) => x.mapv(|v| np_max(v, s)),
        EOp::Max => zip_b(x, b, np_max),
        EOp::Min => zip_b(x, b, np_min),
        EOp::WhereGt(t) => zip_b(x, b, |p, q| if p > t { p } else { q }),
        EOp::WhereLeScalar(t) => x.mapv(|v| if v <= t { t } else { v }),
        EOp::PowI(n) => x.mapv(|v| v.powi(n)),
        EOp::Map => x.mapv(|v| v * 0.5 + 1.0),
    }
}

/// Where the first input's values come from (exercises the different leaf kinds).
#[derive(Debug, Clone, Copy)]
enum Source {
    NdArray,
    Random,
    FromFn,
}

fn source_s() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::NdArray),
        Just(Source::Random),
        Just(Source::FromFn)
    ]
}

/// The first input built from `src`, with its eager twin.
fn make_input(a: &Arr, src: Source) -> (ChunkedArray<f64>, ArrayD<f64>) {
    match src {
        Source::NdArray => (a.lazy(), a.eager()),
        Source::Random => {
            let x = ChunkedArray::<f64>::random_seeded(&a.shape, &a.chunks, a.seed) * 20.0 - 10.0;
            let e = x.compute().unwrap();
            (x, e)
        }
        Source::FromFn => {
            let shape = a.shape.clone();
            let f = move |i: &[usize]| {
                let mut lin = 0usize;
                for (k, &v) in i.iter().enumerate() {
                    lin = lin * shape[k] + v;
                }
                (lin % 13) as f64 - 6.0 + 0.25 * i[0] as f64
            };
            let e = ArrayD::from_shape_fn(IxDyn(&a.shape), |ix| f(ix.slice()));
            (ChunkedArray::from_fn(&a.shape, &a.chunks, f), e)
        }
    }
}

/// A chain case: the output shape, the first input (shape with some 1s), the second input (a
/// shape broadcasting against the output), and the ops.
#[derive(Debug, Clone)]
struct ChainCase {
    x: Arr,
    src: Source,
    b: Arr,
    ops: Vec<EOp>,
}

fn chain_case_s() -> impl Strategy<Value = ChainCase> {
    shape_s()
        .prop_flat_map(|out| (bcast_shape_s(out.clone()), bcast_shape_s(out)))
        .prop_flat_map(|(xs, bs)| {
            (
                arr_s(Just(xs), mode_s()),
                source_s(),
                arr_s(Just(bs), mode_s()),
                prop::collection::vec(eop_s(), 1..=6),
            )
        })
        .prop_map(|(x, src, b, ops)| ChainCase { x, src, b, ops })
}

fn run_chain(c: &ChainCase) -> (ChunkedArray<f64>, ArrayD<f64>) {
    let (mut lx, mut ex) = make_input(&c.x, c.src);
    let (lb, eb) = (c.b.lazy(), c.b.eager());
    for op in &c.ops {
        lx = apply_lazy(&lx, &lb, op);
        ex = apply_eager(&ex, &eb, op);
    }
    (lx, ex)
}

// ---------------------------------------------------------------- f64 reductions

/// Checks every f64 reduction of `x` (eager twin `e`) over `axes` against the references.
fn check_f64_reductions(
    x: &ChunkedArray<f64>,
    e: &ArrayD<f64>,
    axes: &[isize],
    keepdims: bool,
    split: Option<usize>,
) {
    let nd = e.ndim();
    let ax = normalize(axes, nd);
    let o = make_opts(keepdims, split);
    let what = |name: &str| {
        format!(
            "{name} over {axes:?} (keepdims {keepdims}, split_every {split:?}) of {:?}",
            e.shape()
        )
    };
    let scale = ref_reduce(e, &ax, keepdims, |xs| {
        xs.iter().map(|x| x.abs()).sum::<f64>()
    });
    let sq_scale = ref_reduce(e, &ax, keepdims, |xs| {
        if xs.is_empty() {
            0.0
        } else {
            xs.iter().map(|x| x * x).sum::<f64>() / xs.len() as f64
        }
    });
    let count = ref_reduce(e, &ax, keepdims, |xs| xs.len().max(1) as f64);

    // sum
    let want = ref_reduce(e, &ax, keepdims, |xs| nsum(xs.iter().copied()));
    let tol = scale.mapv(|s| 1e-12 * s + 1e-300);
    assert_tol(
        &x.sum_axes_opt(axes, &o).compute().unwrap(),
        &want,
        &tol,
        &what("sum_axes"),
    );
    // mean
    let want = ref_reduce(e, &ax, keepdims, ref_mean);
    let tol = Zip::from(&scale)
        .and(&count)
        .map_collect(|&s, &n| 1e-12 * s / n + 1e-300);
    assert_tol(
        &x.mean_axes_opt(axes, &o).compute().unwrap(),
        &want,
        &tol,
        &what("mean_axes"),
    );
    // var and std, ddof 0 and 1 (std compared through its square)
    for ddof in [0.0, 1.0] {
        let want = ref_reduce(e, &ax, keepdims, |xs| ref_var(xs, ddof));
        let tol = sq_scale.mapv(|s| 1e-11 * s + 1e-300);
        let got = x.var_axes_opt(axes, ddof, &o).compute().unwrap();
        assert_tol(&got, &want, &tol, &what(&format!("var_axes(ddof={ddof})")));
        let got = x.std_axes_opt(axes, ddof, &o).compute().unwrap();
        assert!(
            got.iter().all(|v| v.is_nan() || *v >= 0.0),
            "{}",
            what("std_axes sign")
        );
        assert_tol(
            &got.mapv(|s| s * s),
            &want,
            &tol,
            &what(&format!("std_axes(ddof={ddof})²")),
        );
    }
    // prod, of values scaled into [0.99, 1.01] so that it neither overflows nor underflows
    let k = 1e-2 / e.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    let near1 = e.mapv(|v| 1.0 + v * k);
    let want = ref_reduce(&near1, &ax, keepdims, |xs| xs.iter().product::<f64>());
    let got = (x * k + 1.0).prod_axes_opt(axes, &o).compute().unwrap();
    assert_rel(&got, &want, 1e-12, &what("prod_axes"));

    // Order statistics need elements on every reduced axis.
    if ax.iter().any(|&k| e.shape()[k] == 0) || e.is_empty() {
        return;
    }
    let want = ref_reduce(e, &ax, keepdims, |xs| ref_extreme(xs, false));
    assert_same(
        &x.min_axes_opt(axes, &o).compute().unwrap(),
        &want,
        &what("min_axes"),
    );
    let want = ref_reduce(e, &ax, keepdims, |xs| ref_extreme(xs, true));
    assert_same(
        &x.max_axes_opt(axes, &o).compute().unwrap(),
        &want,
        &what("max_axes"),
    );
    // arg reductions along one axis (the first one given)
    let a = axes[0];
    let ak = normalize(&[a], nd);
    for max in [false, true] {
        let want = ref_reduce(e, &ak, false, |xs| ref_arg(xs, max));
        let got = if max {
            x.argmax_axis(a)
        } else {
            x.argmin_axis(a)
        }
        .compute()
        .unwrap();
        assert_eq!(
            got,
            want,
            "{}",
            what(if max { "argmax_axis" } else { "argmin_axis" })
        );
    }
}

/// Checks every full f64 reduction.
fn check_f64_full(x: &ChunkedArray<f64>, e: &ArrayD<f64>) {
    let xs: Vec<f64> = e.iter().copied().collect();
    let scale: f64 = xs.iter().map(|v| v.abs()).sum();
    let what = |name: &str| format!("{name} of {:?} in chunks {:?}", e.shape(), x.chunks());
    assert!(
        close(
            x.sum().compute().unwrap(),
            nsum(xs.iter().copied()),
            1e-12 * scale
        ),
        "{}",
        what("sum")
    );
    let n = xs.len().max(1) as f64;
    assert!(
        close(
            x.mean().compute().unwrap(),
            ref_mean(&xs),
            1e-12 * scale / n
        ),
        "{}",
        what("mean")
    );
    let sq = xs.iter().map(|v| v * v).sum::<f64>() / n;
    for ddof in [0.0, 1.0] {
        let want = ref_var(&xs, ddof);
        assert!(
            close(x.var(ddof).compute().unwrap(), want, 1e-11 * sq),
            "{}",
            what("var")
        );
        let s = x.std(ddof).compute().unwrap();
        assert!(close(s * s, want, 1e-11 * sq), "{}", what("std"));
    }
    if xs.is_empty() {
        assert_eq!(x.sum().compute().unwrap(), 0.0);
        assert!(
            x.mean().compute().unwrap().is_nan(),
            "mean of nothing is NaN"
        );
        assert!(x.min().compute().is_err(), "min of nothing is an error");
        assert!(
            x.argmax().compute().is_err(),
            "argmax of nothing is an error"
        );
        return;
    }
    assert_eq!(
        x.min().compute().unwrap().to_bits(),
        ref_extreme(&xs, false).to_bits(),
        "{}",
        what("min")
    );
    assert_eq!(
        x.max().compute().unwrap().to_bits(),
        ref_extreme(&xs, true).to_bits(),
        "{}",
        what("max")
    );
    assert_eq!(
        x.argmin().compute().unwrap(),
        ref_arg(&xs, false),
        "{}",
        what("argmin")
    );
    assert_eq!(
        x.argmax().compute().unwrap(),
        ref_arg(&xs, true),
        "{}",
        what("argmax")
    );
}

// ---------------------------------------------------------------- integer suites

macro_rules! int_suite {
    ($modname:ident, $t:ty, $sum:ty, $small_off:expr, $abs:expr) => {
        mod $modname {
            use super::*;

            /// Small values (ties, zeros) or the full range of the type.
            fn data(shape: &[usize], seed: u64, small: bool) -> ArrayD<$t> {
                let mut r = Sm(seed);
                let n: usize = shape.iter().product();
                let v: Vec<$t> = (0..n)
                    .map(|_| {
                        if small {
                            ((r.next() % 11) as i64 - $small_off) as $t
                        } else {
                            r.next() as $t
                        }
                    })
                    .collect();
                ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
            }

            fn wsum(xs: &[$t]) -> $sum {
                xs.iter().fold(0 as $sum, |s, &x| s.wrapping_add(x as $sum))
            }

            fn wprod(xs: &[$t]) -> $sum {
                xs.iter().fold(1 as $sum, |s, &x| s.wrapping_mul(x as $sum))
            }

            #[derive(Debug, Clone)]
            struct Case {
                x: Arr,
                b: Arr,
                small: bool,
                s: $t,
                axes: Vec<isize>,
                keepdims: bool,
                split: Option<usize>,
            }

            fn case_s() -> impl Strategy<Value = Case> {
                shape_s()
                    .prop_flat_map(|out| (Just(out.clone()), bcast_shape_s(out)))
                    .prop_flat_map(|(xs, bs)| {
                        let nd = xs.len();
                        (
                            arr_s(Just(xs), Just(Mode::Continuous)),
                            arr_s(Just(bs), Just(Mode::Continuous)),
                            any::<bool>(),
                            any::<$t>(),
                            axes_s(nd),
                            opts_s(),
                        )
                    })
                    .prop_map(|(x, b, small, s, axes, (keepdims, split))| Case {
                        x,
                        b,
                        small,
                        s,
                        axes,
                        keepdims,
                        split,
                    })
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(64))]

                /// Wrapping arithmetic, division by zero, comparisons and casts are exact.
                #[test]
                fn elementwise_exact(c in case_s()) {
                    let (ex, eb) = (data(&c.x.shape, c.x.seed, c.small), data(&c.b.shape, c.b.seed, c.small));
                    let x = ChunkedArray::from_ndarray(ex.view(), &c.x.chunks);
                    let b = ChunkedArray::from_ndarray(eb.view(), &c.b.chunks);
                    let s = c.s;
                    let abs: fn($t) -> $t = $abs;
                    assert_eq!((&x + &b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p.wrapping_add(q)), "add");
                    assert_eq!((&x - &b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p.wrapping_sub(q)), "sub");
                    assert_eq!((&x * &b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p.wrapping_mul(q)), "mul");
                    let div = |p: $t, q: $t| if q == 0 { 0 } else { p.wrapping_div(q) };
                    assert_eq!((&x / &b).compute().unwrap(), zip_b(&ex, &eb, div), "div");
                    assert_eq!((&x + s).compute().unwrap(), ex.mapv(|v| v.wrapping_add(s)), "add scalar");
                    assert_eq!((s - &x).compute().unwrap(), ex.mapv(|v| s.wrapping_sub(v)), "scalar sub");
                    assert_eq!((&x * s).compute().unwrap(), ex.mapv(|v| v.wrapping_mul(s)), "mul scalar");
                    assert_eq!((s / &x).compute().unwrap(), ex.mapv(|v| div(s, v)), "scalar div");
                    assert_eq!((-&x).compute().unwrap(), ex.mapv(|v| v.wrapping_neg()), "neg");
                    assert_eq!(x.abs().compute().unwrap(), ex.mapv(abs), "abs");
                    assert_eq!(x.powi(3).compute().unwrap(), ex.mapv(|v| v.wrapping_pow(3)), "powi");
                    let (lo, hi) = (2 as $t, 7 as $t);
                    assert_eq!(x.clip(lo, hi).compute().unwrap(), ex.mapv(|v| v.clamp(lo, hi)), "clip");
                    assert_eq!(x.maximum(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p.max(q)), "maximum");
                    assert_eq!(x.minimum(s).compute().unwrap(), ex.mapv(|v| v.min(s)), "minimum");
                    assert_eq!(x.gt(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p > q), "gt");
                    assert_eq!(x.le(s).compute().unwrap(), ex.mapv(|v| v <= s), "le");
                    assert_eq!(x.eq_elem(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p == q), "eq");
                    assert_eq!(x.ne_elem(s).compute().unwrap(), ex.mapv(|v| v != s), "ne");
                    let w = where_(&x.ge(&b), &x, &b).compute().unwrap();
                    assert_eq!(w, zip_b(&ex, &eb, |p, q| if p >= q { p } else { q }), "where");
                    assert_eq!(x.cast::<f64>().compute().unwrap(), ex.mapv(|v| v as f64), "cast f64");
                    assert_eq!(x.cast::<f64>().cast::<$t>().compute().unwrap(), ex.mapv(|v| v as f64 as $t), "cast round trip");
                    assert_eq!(x.cast::<i8>().compute().unwrap(), ex.mapv(|v| v as i8), "cast i8");
                    assert_eq!(x.cast::<u16>().compute().unwrap(), ex.mapv(|v| v as u16), "cast u16");
                    assert_eq!(x.cast::<bool>().compute().unwrap(), ex.mapv(|v| v != 0), "cast bool");
                    assert_eq!(x.cast::<i64>().cast::<$t>().compute().unwrap(), ex, "cast i64 round trip");
                }

                /// Integer reductions are exact (sums and products wrap in the sum type).
                #[test]
                fn reductions_exact(c in case_s()) {
                    let ex = data(&c.x.shape, c.x.seed, c.small);
                    let x = ChunkedArray::from_ndarray(ex.view(), &c.x.chunks);
                    let all: Vec<$t> = ex.iter().copied().collect();
                    let sum: $sum = x.sum().compute().unwrap();
                    assert_eq!(sum, wsum(&all), "sum");
                    let prod: $sum = x.prod().compute().unwrap();
                    assert_eq!(prod, wprod(&all), "prod");
                    let min: $t = x.min().compute().unwrap();
                    assert_eq!(min, *all.iter().min().unwrap(), "min");
                    assert_eq!(x.max().compute().unwrap(), *all.iter().max().unwrap(), "max");
                    assert_eq!(x.argmin().compute().unwrap(), ref_arg(&all, false), "argmin");
                    assert_eq!(x.argmax().compute().unwrap(), ref_arg(&all, true), "argmax");
                    let nz = all.iter().filter(|&&v| v != 0).count() as u64;
                    assert_eq!(x.count_nonzero().compute().unwrap(), nz, "count_nonzero");
                    assert_eq!(x.any().compute().unwrap(), nz > 0, "any");
                    assert_eq!(x.all().compute().unwrap(), nz == all.len() as u64, "all");
                    let fl: Vec<f64> = all.iter().map(|&v| v as f64).collect();
                    let scale: f64 = fl.iter().map(|v| v.abs()).sum::<f64>() / fl.len() as f64;
                    let mean: f64 = x.mean().compute().unwrap();
                    assert!(close(mean, ref_mean(&fl), 1e-12 * scale), "mean {mean} vs {}", ref_mean(&fl));

                    let nd = ex.ndim();
                    let ax = normalize(&c.axes, nd);
                    let o = make_opts(c.keepdims, c.split);
                    let what = format!("over {:?} keepdims {} split {:?} of {:?} in {:?}", c.axes, c.keepdims, c.split, c.x.shape, c.x.chunks);
                    assert_eq!(x.sum_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, wsum), "sum_axes {what}");
                    assert_eq!(x.prod_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, wprod), "prod_axes {what}");
                    assert_eq!(x.min_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, |xs| *xs.iter().min().unwrap()), "min_axes {what}");
                    assert_eq!(x.max_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, |xs| *xs.iter().max().unwrap()), "max_axes {what}");
                    let cnz = |xs: &[$t]| xs.iter().filter(|&&v| v != 0).count() as u64;
                    assert_eq!(x.count_nonzero_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, cnz), "count_nonzero_axes {what}");
                    assert_eq!(x.any_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().any(|&v| v != 0)), "any_axes {what}");
                    assert_eq!(x.all_axes_opt(&c.axes, &o).compute().unwrap(), ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().all(|&v| v != 0)), "all_axes {what}");
                    let a = c.axes[0];
                    let ak = normalize(&[a], nd);
                    assert_eq!(x.argmin_axis(a).compute().unwrap(), ref_reduce(&ex, &ak, false, |xs| ref_arg(xs, false)), "argmin_axis {what}");
                    assert_eq!(x.argmax_axis(a).compute().unwrap(), ref_reduce(&ex, &ak, false, |xs| ref_arg(xs, true)), "argmax_axis {what}");
                    let efl = ex.mapv(|v| v as f64);
                    let want = ref_reduce(&efl, &ax, c.keepdims, ref_mean);
                    let tol = ref_reduce(&efl, &ax, c.keepdims, |xs| 1e-12 * xs.iter().map(|v| v.abs()).sum::<f64>() / xs.len() as f64);
                    assert_tol(&x.mean_axes_opt(&c.axes, &o).compute().unwrap(), &want, &tol, &format!("mean_axes {what}"));
                }
            }
        }
    };
}

int_suite!(i32_suite, i32, i64, 5, |v: i32| v.wrapping_abs());
int_suite!(i64_suite, i64, i64, 5, |v: i64| v.wrapping_abs());
int_suite!(u8_suite, u8, u64, 0, |v: u8| v);

// ---------------------------------------------------------------- f64 properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Random chains of elementwise ops with broadcasting and mixed chunkings match eager
    /// evaluation to 1e-12 (relative).
    #[test]
    fn elementwise_chains_match_eager(c in chain_case_s()) {
        let (lx, ex) = run_chain(&c);
        prop_assert_eq!(lx.shape(), ex.shape());
        assert_rel(&lx.compute().unwrap(), &ex, 1e-12, &format!("chain {c:?}"));
    }

    /// A chain followed by a reduction over random axes (reductions of broadcast results).
    #[test]
    fn chain_then_reduce(c in chain_case_s(), seed in any::<u64>(), (keepdims, split) in opts_s()) {
        let (lx, ex) = run_chain(&c);
        // Keep the values finite and moderate so that the tolerances stay meaningful.
        let lx = where_(&lx.is_nan(), 0.0, &lx).clip(-1e3, 1e3);
        let ex = ex.mapv(|v| if v.is_nan() { 0.0 } else { np_clip(v, -1e3, 1e3) });
        let nd = ex.ndim();
        let mask = (seed % ((1 << nd) - 1)) as u32 + 1;
        let axes: Vec<isize> = (0..nd).filter(|k| (mask >> k) & 1 == 1).map(|k| k as isize).collect();
        check_f64_reductions(&lx, &ex, &axes, keepdims, split);
    }

    /// Every f64 reduction over random axes, keepdims and split_every matches the references.
    #[test]
    fn reductions_over_axes(
        (a, axes) in arr_s(shape_s(), mode_s()).prop_flat_map(|a| { let nd = a.shape.len(); (Just(a), axes_s(nd)) }),
        (keepdims, split) in opts_s(),
    ) {
        check_f64_reductions(&a.lazy(), &a.eager(), &axes, keepdims, split);
    }

    /// Reductions over arrays with zero-length axes (sums are 0, means NaN, ...).
    #[test]
    fn reductions_with_empty_axes(
        (a, axes) in arr_s(shape_with_zero_s(), mode_s()).prop_flat_map(|a| { let nd = a.shape.len(); (Just(a), axes_s(nd)) }),
        (keepdims, split) in opts_s(),
    ) {
        let (x, e) = (a.lazy(), a.eager());
        check_f64_full(&x, &e);
        let ax = normalize(&axes, e.ndim());
        let o = make_opts(keepdims, split);
        let want = ref_reduce(&e, &ax, keepdims, |xs| nsum(xs.iter().copied()));
        let tol = ref_reduce(&e, &ax, keepdims, |xs| 1e-12 * xs.iter().map(|v| v.abs()).sum::<f64>() + 1e-300);
        assert_tol(&x.sum_axes_opt(&axes, &o).compute().unwrap(), &want, &tol, "sum_axes with empty axes");
        let want = ref_reduce(&e, &ax, keepdims, ref_mean);
        let tol = want.mapv(|m| 1e-12 * m.abs() + 1e-12);
        assert_tol(&x.mean_axes_opt(&axes, &o).compute().unwrap(), &want, &tol, "mean_axes with empty axes");
        let want = ref_reduce(&e, &ax, keepdims, |xs| xs.iter().filter(|&&v| v != 0.0).count() as u64);
        prop_assert_eq!(x.count_nonzero_axes_opt(&axes, &o).compute().unwrap(), want);
        let want = ref_reduce(&e, &ax, keepdims, |xs| xs.iter().all(|&v| v != 0.0));
        prop_assert_eq!(x.all_axes_opt(&axes, &o).compute().unwrap(), want);
    }

    /// Full reductions match the references.
    #[test]
    fn full_reductions(a in arr_s(shape_s(), mode_s())) {
        check_f64_full(&a.lazy(), &a.eager());
    }

    /// NaN semantics: plain reductions propagate NaN (argmin/argmax report the first NaN),
    /// nan-reductions skip it.
    #[test]
    fn nan_reductions(
        (a, axes) in arr_s(shape_s(), Just(Mode::WithNan)).prop_flat_map(|a| { let nd = a.shape.len(); (Just(a), axes_s(nd)) }),
        (keepdims, split) in opts_s(),
    ) {
        let (x, e) = (a.lazy(), a.eager());
        let xs: Vec<f64> = e.iter().copied().collect();
        let clean = non_nan(&xs);
        let scale: f64 = clean.iter().map(|v| v.abs()).sum();
        let has_nan = clean.len() < xs.len();
        prop_assert_eq!(x.sum().compute().unwrap().is_nan(), has_nan);
        prop_assert_eq!(x.min().compute().unwrap().is_nan(), has_nan);
        prop_assert_eq!(x.argmax().compute().unwrap(), ref_arg(&xs, true));
        prop_assert_eq!(x.argmin().compute().unwrap(), ref_arg(&xs, false));
        prop_assert!(close(x.nansum().compute().unwrap(), nsum(clean.iter().copied()), 1e-12 * scale));
        prop_assert!(close(x.nanmean().compute().unwrap(), ref_mean(&clean), 1e-12 * scale));
        let (want_min, want_max) = if clean.is_empty() {
            (f64::NAN, f64::NAN)
        } else {
            (ref_extreme(&clean, false), ref_extreme(&clean, true))
        };
        prop_assert!(same_f64(x.nanmin().compute().unwrap(), want_min));
        prop_assert!(same_f64(x.nanmax().compute().unwrap(), want_max));
        let sq = clean.iter().map(|v| v * v).sum::<f64>() / clean.len().max(1) as f64;
        prop_assert!(close(x.nanvar(1.0).compute().unwrap(), ref_var(&clean, 1.0), 1e-11 * sq));
        let s = x.nanstd(0.0).compute().unwrap();
        prop_assert!(close(s * s, ref_var(&clean, 0.0), 1e-11 * sq));

        let ax = normalize(&axes, e.ndim());
        let o = make_opts(keepdims, split);
        let what = format!("over {axes:?} keepdims {keepdims} split {split:?} of {:?} in {:?}", a.shape, a.chunks);
        let g = |f: &dyn Fn(&[f64]) -> f64| ref_reduce(&e, &ax, keepdims, |xs| f(&non_nan(xs)));
        let sc = g(&|c| 1e-12 * c.iter().map(|v| v.abs()).sum::<f64>() + 1e-300);
        assert_tol(&x.nansum_axes_opt(&axes, &o).compute().unwrap(), &g(&|c| nsum(c.iter().copied())), &sc, &format!("nansum_axes {what}"));
        assert_tol(&x.nanmean_axes_opt(&axes, &o).compute().unwrap(), &g(&ref_mean), &sc, &format!("nanmean_axes {what}"));
        let nanext = |max: bool| g(&move |c: &[f64]| if c.is_empty() { f64::NAN } else { ref_extreme(c, max) });
        assert_same(&x.nanmin_axes_opt(&axes, &o).compute().unwrap(), &nanext(false), &format!("nanmin_axes {what}"));
        assert_same(&x.nanmax_axes_opt(&axes, &o).compute().unwrap(), &nanext(true), &format!("nanmax_axes {what}"));
        // nanvar_axes/nanstd_axes take no options: no keepdims
        let g0 = |f: &dyn Fn(&[f64]) -> f64| ref_reduce(&e, &ax, false, |xs| f(&non_nan(xs)));
        let vt = g0(&|c| 1e-11 * c.iter().map(|v| v * v).sum::<f64>() / c.len().max(1) as f64 + 1e-300);
        assert_tol(&x.nanvar_axes(&axes, 1.0).compute().unwrap(), &g0(&|c| ref_var(c, 1.0)), &vt, &format!("nanvar_axes {what}"));
        let s2 = x.nanstd_axes(&axes, 0.0).compute().unwrap().mapv(|s| s * s);
        assert_tol(&s2, &g0(&|c| ref_var(c, 0.0)), &vt, &format!("nanstd_axes {what}"));
        // plain reductions over axes: NaN wherever the group has a NaN
        let want = ref_reduce(&e, &ax, keepdims, |xs| ref_extreme(xs, true));
        assert_same(&x.max_axes_opt(&axes, &o).compute().unwrap(), &want, &format!("max_axes {what}"));
        let want = ref_reduce(&e, &ax, keepdims, |xs| xs.iter().any(|v| v.is_nan()));
        prop_assert_eq!(x.sum_axes_opt(&axes, &o).compute().unwrap().mapv(f64::is_nan), want);
        let a0 = axes[0];
        let want = ref_reduce(&e, &normalize(&[a0], e.ndim()), false, |xs| ref_arg(xs, false));
        prop_assert_eq!(x.argmin_axis(a0).compute().unwrap(), want);
    }

    /// f32: elementwise ops and reductions return f32 and match an f32 reference.
    #[test]
    fn f32_ops_and_reductions(
        (a, axes) in arr_s(shape_s(), mode_s()).prop_flat_map(|a| { let nd = a.shape.len(); (Just(a), axes_s(nd)) }),
    ) {
        let e64 = a.eager();
        let e = e64.mapv(|v| v as f32);
        let x = ChunkedArray::from_ndarray(e.view(), &a.chunks);
        prop_assert_eq!(x.dtype(), DType::F32);
        let y = (&x * 2.5f32 - 1.0f32).abs().sqrt();
        let want = e.mapv(|v| (v * 2.5 - 1.0).abs().sqrt());
        prop_assert_eq!(y.compute().unwrap(), want);
        let s: f32 = x.sum().compute().unwrap();
        let scale: f64 = e64.iter().map(|v| v.abs()).sum();
        let exact = nsum(e.iter().map(|&v| v as f64));
        prop_assert!((s as f64 - exact).abs() <= 1e-6 * scale + 1e-6, "sum {} vs {}", s, exact);
        let m: f32 = x.mean().compute().unwrap();
        prop_assert!((m as f64 - exact / e.len() as f64).abs() <= 1e-6 * scale / e.len() as f64 + 1e-6);
        let mx: f32 = x.max().compute().unwrap();
        prop_assert_eq!(mx, e.iter().copied().fold(f32::NEG_INFINITY, f32::max));
        let ax = normalize(&axes, e.ndim());
        let got: ArrayD<f32> = x.sum_axes(&axes).compute().unwrap();
        let want = ref_reduce(&e, &ax, false, |xs| nsum(xs.iter().map(|&v| v as f64)));
        let tol = ref_reduce(&e, &ax, false, |xs| 1e-6 * xs.iter().map(|v| v.abs() as f64).sum::<f64>() + 1e-6);
        assert_tol(&got.mapv(|v| v as f64), &want, &tol, "f32 sum_axes");
        let got: ArrayD<f32> = x.var_axes(&axes, 0.0).compute().unwrap();
        let e64f = e.mapv(|v| v as f64);
        let want = ref_reduce(&e64f, &ax, false, |xs| ref_var(xs, 0.0));
        let tol = ref_reduce(&e64f, &ax, false, |xs| 1e-5 * xs.iter().map(|v| v * v).sum::<f64>() / xs.len() as f64 + 1e-6);
        assert_tol(&got.mapv(|v| v as f64), &want, &tol, "f32 var_axes");
    }

    /// Centering by a lazy scalar and by a keepdims reduction (reductions broadcast back).
    #[test]
    fn center_by_reductions(
        (a, axes) in arr_s(shape_s(), mode_s()).prop_flat_map(|a| { let nd = a.shape.len(); (Just(a), axes_s(nd)) }),
        split in prop::option::of(2usize..=5),
    ) {
        let (x, e) = (a.lazy(), a.eager());
        let xs: Vec<f64> = e.iter().copied().collect();
        let m = ref_mean(&xs);
        let scale = 1e-11 * (xs.iter().map(|v| v.abs()).sum::<f64>() / xs.len() as f64 + 1.0);
        let got = (&x - &x.mean()).compute().unwrap();
        assert_tol(&got, &e.mapv(|v| v - m), &e.mapv(|_| scale), "x - x.mean()");
        let ax = normalize(&axes, e.ndim());
        let means = ref_reduce(&e, &ax, true, ref_mean);
        let want = zip_b(&e, &means, |v, m| v - m);
        let got = (&x - &x.mean_axes_opt(&axes, &make_opts(true, split))).compute().unwrap();
        assert_tol(&got, &want, &e.mapv(|_| scale), "x - x.mean_axes(keepdims)");
        // The centered groups sum to ~0.
        let s = (&x - &x.mean_axes_opt(&axes, &make_opts(true, split))).sum_axes(&axes).compute().unwrap();
        prop_assert!(s.iter().all(|v| v.abs() <= 1e-9), "{:?}", s);
    }

    /// Rechunking keeps every value and gives the requested chunks.
    #[test]
    fn rechunk_is_identity(
        (a, c2, c3) in arr_s(shape_with_zero_s(), mode_s()).prop_flat_map(|a| { let c2 = chunks_s(&a.shape); let c3 = chunks_s(&a.shape); (Just(a), c2, c3) }),
        src in source_s(),
    ) {
        let (x, e) = make_input(&a, src);
        let y = x.rechunk(&c2);
        let want_chunks: Vec<usize> = c2.iter().zip(&a.shape).map(|(&c, &n)| c.min(n)).collect();
        prop_assert_eq!(y.chunks(), want_chunks);
        let blocks: usize = c2.iter().zip(&a.shape).map(|(&c, &n)| n.div_ceil(c).max(1)).product();
        prop_assert_eq!(y.num_blocks(), blocks);
        prop_assert_eq!(y.shape(), &a.shape[..]);
        assert_same(&y.compute().unwrap(), &e, "rechunk");
        let z = (&y.rechunk(&c3) * 2.0).rechunk(&a.chunks);
        assert_same(&z.compute().unwrap(), &e.mapv(|v| v * 2.0), "rechunk twice");
        // Reductions and mixed-chunk arithmetic on rechunked arrays.
        let w = (&y + &x).compute().unwrap();
        assert_same(&w, &e.mapv(|v| v + v), "rechunked + original");
        if !e.is_empty() {
            prop_assert_eq!(y.argmax().compute().unwrap(), ref_arg(&e.iter().copied().collect::<Vec<_>>(), true));
        }
    }

    /// `map` and `map_blocks` see the right values and block indices.
    #[test]
    fn map_and_map_blocks(a in arr_s(shape_s(), mode_s()), src in source_s()) {
        let (x, e) = make_input(&a, src);
        assert_same(&x.map(|v| v * 3.0 - 1.0).compute().unwrap(), &e.mapv(|v| v * 3.0 - 1.0), "map");
        prop_assert_eq!(x.map(|v| v > 0.5).compute().unwrap(), e.mapv(|v| v > 0.5));
        let chunks: Vec<usize> = a.chunks.iter().zip(&a.shape).map(|(&c, &n)| c.min(n)).collect();
        let y = x.map_blocks(|b, idx| {
            let tag: usize = idx.iter().fold(0, |t, &i| t * 16 + i);
            Ok(b.mapv(|v| v + 1000.0 * tag as f64))
        });
        let want = ArrayD::from_shape_fn(IxDyn(&a.shape), |ix| {
            let tag: usize = ix.slice().iter().zip(&chunks).fold(0, |t, (&i, &c)| t * 16 + i / c);
            e[&ix] + 1000.0 * tag as f64
        });
        assert_same(&y.compute().unwrap(), &want, "map_blocks");
        // map_blocks changing the dtype, then fused ops and a reduction downstream
        let z = x.map_blocks(|b, _| Ok(b.mapv(|v| v.floor() as i64)));
        let want_z = e.mapv(|v| v.floor() as i64);
        prop_assert_eq!(z.compute().unwrap(), want_z.clone());
        prop_assert_eq!((&z * 2i64).sum().compute().unwrap(), want_z.iter().map(|v| v * 2).sum::<i64>());
    }

    /// `compute_all` of outputs sharing inputs equals computing them one by one, bit for bit.
    #[test]
    fn compute_all_matches_separate(
        (a, c2, axes) in arr_s(shape_s(), mode_s()).prop_flat_map(|a| { let c2 = chunks_s(&a.shape); let nd = a.shape.len(); (Just(a), c2, axes_s(nd)) }),
        src in source_s(),
    ) {
        let (x, _) = make_input(&a, src);
        let y = &x * 2.0 - 1.0;
        let s = y.sum_axes(&axes);
        let m = (&y + 1.0).max();
        let r = y.rechunk(&c2);
        let c = y.gt(0.0).count_nonzero();
        let out = compute_all(&[&s, &m, &r, &c, &y]).unwrap();
        prop_assert_eq!(out.len(), 5);
        let mut it = out.into_iter();
        assert_same(&it.next().unwrap().into_array::<f64>().unwrap(), &s.compute().unwrap(), "sum_axes");
        prop_assert_eq!(it.next().unwrap().into_scalar::<f64>().unwrap().to_bits(), m.compute().unwrap().to_bits());
        assert_same(&it.next().unwrap().into_array::<f64>().unwrap(), &r.compute().unwrap(), "rechunk");
        prop_assert_eq!(it.next().unwrap().into_scalar::<u64>().unwrap(), c.compute().unwrap());
        assert_same(&it.next().unwrap().into_array::<f64>().unwrap(), &y.compute().unwrap(), "y");
    }

    /// Casts follow Rust's `as`, including NaN, infinities and out-of-range values.
    #[test]
    fn casts_follow_as(a in arr_s(shape_s(), prop_oneof![Just(Mode::Continuous), Just(Mode::Quantized), Just(Mode::WithNan)]), big in any::<bool>()) {
        let factor = if big { 1e10 } else { 30.0 };
        let e = a.eager().mapv(|v| if v > 9.5 { f64::INFINITY } else if v < -9.5 { f64::NEG_INFINITY } else { v * factor });
        let x = ChunkedArray::from_ndarray(e.view(), &a.chunks);
        prop_assert_eq!(x.cast::<i32>().compute().unwrap(), e.mapv(|v| v as i32));
        prop_assert_eq!(x.cast::<u8>().compute().unwrap(), e.mapv(|v| v as u8));
        prop_assert_eq!(x.cast::<i64>().compute().unwrap(), e.mapv(|v| v as i64));
        prop_assert_eq!(x.cast::<bool>().compute().unwrap(), e.mapv(|v| v != 0.0));
        let f = x.cast::<f32>().compute().unwrap();
        assert_same(&f.mapv(|v| v as f64), &e.mapv(|v| v as f32 as f64), "f64 -> f32");
        assert_same(&x.cast::<f32>().cast::<f64>().compute().unwrap(), &e.mapv(|v| v as f32 as f64), "f64 -> f32 -> f64");
        assert_same(&x.cast::<f64>().compute().unwrap(), &e, "cast to the same type");
        let b = x.gt(0.0);
        assert_same(&b.cast::<f64>().compute().unwrap(), &e.mapv(|v| if v > 0.0 { 1.0 } else { 0.0 }), "bool -> f64");
        prop_assert_eq!(b.cast::<u8>().sum().compute().unwrap(), b.count_nonzero().compute().unwrap());
        // integer round trips through wider and narrower types
        let i = x.cast::<i32>();
        prop_assert_eq!(i.cast::<i64>().cast::<i32>().compute().unwrap(), e.mapv(|v| v as i32));
        prop_assert_eq!(i.cast::<f64>().cast::<i32>().compute().unwrap(), e.mapv(|v| v as i32));
        prop_assert_eq!(i.cast::<u8>().compute().unwrap(), e.mapv(|v| v as i32 as u8));
        prop_assert_eq!(i.cast::<u8>().cast::<i8>().compute().unwrap(), e.mapv(|v| v as i32 as u8 as i8));
        prop_assert_eq!(i.cast::<i64>().cast::<u64>().compute().unwrap(), e.mapv(|v| v as i32 as i64 as u64));
    }

    /// `from_fn` and `from_blocks` produce the values their closures give.
    #[test]
    fn from_fn_and_from_blocks(a in arr_s(shape_with_zero_s(), mode_s())) {
        let shape = a.shape.clone();
        let f = |i: &[usize]| i.iter().enumerate().map(|(k, &v)| (v * (k + 1) * 7) as i64).sum::<i64>();
        let x = ChunkedArray::from_fn(&shape, &a.chunks, f);
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |ix| f(ix.slice()));
        prop_assert_eq!(x.compute().unwrap(), want.clone());
        let chunks: Vec<usize> = a.chunks.iter().zip(&shape).map(|(&c, &n)| c.min(n).max(1)).collect();
        let (sh, ch) = (shape.clone(), chunks.clone());
        let y = ChunkedArray::from_blocks(&shape, &a.chunks, move |b| {
            let bshape: Vec<usize> = b.iter().enumerate().map(|(k, &i)| ch[k].min(sh[k] - i * ch[k])).collect();
            Ok(ArrayD::from_shape_fn(IxDyn(&bshape), |ix| {
                let g: Vec<usize> = ix.slice().iter().enumerate().map(|(k, &v)| b[k] * ch[k] + v).collect();
                f(&g)
            }))
        });
        prop_assert_eq!(y.compute().unwrap(), want.clone());
        prop_assert_eq!((&y - &x).count_nonzero().compute().unwrap(), 0);
    }
}

// ---------------------------------------------------------------- bool properties

#[derive(Debug, Clone)]
struct BoolCase {
    x: Arr,
    b: Arr,
    p: f64,
    axes: Vec<isize>,
    keepdims: bool,
    split: Option<usize>,
}

fn bool_case_s() -> impl Strategy<Value = BoolCase> {
    shape_s()
        .prop_flat_map(|out| (Just(out.clone()), bcast_shape_s(out)))
        .prop_flat_map(|(xs, bs)| {
            let nd = xs.len();
            (
                arr_s(Just(xs), Just(Mode::Continuous)),
                arr_s(Just(bs), Just(Mode::Continuous)),
                prop_oneof![Just(0.0), Just(0.05), Just(0.5), Just(0.95), Just(1.0)],
                axes_s(nd),
                opts_s(),
            )
        })
        .prop_map(|(x, b, p, axes, (keepdims, split))| BoolCase {
            x,
            b,
            p,
            axes,
            keepdims,
            split,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Logical ops (methods and operators) and any/all/count_nonzero over random axes.
    #[test]
    fn bool_ops_and_reductions(c in bool_case_s()) {
        let ex = bool_data(&c.x.shape, c.x.seed, c.p);
        let eb = bool_data(&c.b.shape, c.b.seed, 0.5);
        let x = ChunkedArray::from_ndarray(ex.view(), &c.x.chunks);
        let b = ChunkedArray::from_ndarray(eb.view(), &c.b.chunks);
        prop_assert_eq!(x.and(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p & q));
        prop_assert_eq!(x.or(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p | q));
        prop_assert_eq!(x.xor(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p ^ q));
        prop_assert_eq!(x.not().compute().unwrap(), ex.mapv(|p| !p));
        prop_assert_eq!((&x & &b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p & q));
        prop_assert_eq!((x.clone() | b.clone()).compute().unwrap(), zip_b(&ex, &eb, |p, q| p | q));
        prop_assert_eq!((&x ^ &b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p ^ q));
        prop_assert_eq!((!&x).compute().unwrap(), ex.mapv(|p| !p));
        prop_assert_eq!(x.and(true).compute().unwrap(), ex.clone());
        prop_assert_eq!(x.xor(true).compute().unwrap(), ex.mapv(|p| !p));
        prop_assert_eq!(x.eq_elem(&b).compute().unwrap(), zip_b(&ex, &eb, |p, q| p == q));
        prop_assert_eq!(where_(&x, 1i32, -1i32).compute().unwrap(), ex.mapv(|p| if p { 1 } else { -1 }));

        let n_true = ex.iter().filter(|&&p| p).count();
        prop_assert_eq!(x.count_nonzero().compute().unwrap(), n_true as u64);
        prop_assert_eq!(x.any().compute().unwrap(), n_true > 0);
        prop_assert_eq!(x.all().compute().unwrap(), n_true == ex.len());
        prop_assert_eq!(x.cast::<i64>().sum().compute().unwrap(), n_true as i64);

        let ax = normalize(&c.axes, ex.ndim());
        let o = make_opts(c.keepdims, c.split);
        let want = ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().any(|&p| p));
        prop_assert_eq!(x.any_axes_opt(&c.axes, &o).compute().unwrap(), want);
        let want = ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().all(|&p| p));
        prop_assert_eq!(x.all_axes_opt(&c.axes, &o).compute().unwrap(), want);
        let want = ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().filter(|&&p| p).count() as u64);
        prop_assert_eq!(x.count_nonzero_axes_opt(&c.axes, &o).compute().unwrap(), want);
        let want = ref_reduce(&ex, &ax, c.keepdims, |xs| xs.iter().filter(|&&p| p).count() as f64 / xs.len() as f64);
        let got = x.cast::<f64>().mean_axes_opt(&c.axes, &o).compute().unwrap();
        assert_rel(&got, &want, 1e-12, "mean of a mask");
    }
}

// ---------------------------------------------------------------- fixed cases

/// Rows longer than a kernel tile (2048 elements) are split into pieces: values, sums and
/// arg-reductions must not notice.
#[test]
fn long_rows_are_handled() {
    for (shape, chunks) in [
        (vec![5000usize], vec![3000usize]),
        (vec![5000], vec![5000]),
        (vec![3, 4500], vec![2, 4100]),
        (vec![2, 2, 2100], vec![1, 2, 2100]),
    ] {
        let a = Arr {
            shape: shape.clone(),
            chunks: chunks.clone(),
            seed: 11,
            mode: Mode::Continuous,
        };
        let (x, e) = (a.lazy(), a.eager());
        check_f64_full(&x, &e);
        let nd = shape.len() as isize;
        check_f64_reductions(&x, &e, &[nd - 1], false, None);
        check_f64_reductions(&x, &e, &[0], true, Some(2));
        let r = ChunkedArray::<f64>::random_seeded(&shape, &chunks, 4);
        let er = r.compute().unwrap();
        let last = *shape.last().unwrap();
        let row = ChunkedArray::<f64>::random_seeded(&[last], &[777], 5);
        let erow = row.compute().unwrap();
        assert_same(
            &(&r * &row).compute().unwrap(),
            &zip_b(&er, &erow, |p, q| p * q),
            "broadcast long row",
        );
        assert_eq!(
            r.argmax().compute().unwrap(),
            ref_arg(&er.iter().copied().collect::<Vec<_>>(), true)
        );
    }
}

/// Operands with different chunkings on the same shape are aligned, in either order.
#[test]
fn different_chunkings_align() {
    let shape = [7usize, 10, 3];
    let a = Arr {
        shape: shape.to_vec(),
        chunks: vec![2, 3, 1],
        seed: 1,
        mode: Mode::Continuous,
    };
    let b = Arr {
        shape: shape.to_vec(),
        chunks: vec![5, 4, 3],
        seed: 2,
        mode: Mode::Continuous,
    };
    let (x, y) = (a.lazy(), b.lazy());
    let (ex, ey) = (a.eager(), b.eager());
    let want = zip_b(&ex, &ey, |p, q| p * q - q);
    assert_same(&(&x * &y - &y).compute().unwrap(), &want, "x * y - y");
    assert_same(&(&y * &x - &y).compute().unwrap(), &want, "y * x - y");
    let cond = x.gt(&y);
    let w = where_(&cond, y.rechunk(&[1, 10, 2]), &x);
    assert_same(
        &w.compute().unwrap(),
        &zip_b(&ex, &ey, |p, q| if p > q { q } else { p }),
        "where",
    );
    let s = (&x + &y).sum_axes(&[1]).compute().unwrap();
    let want = ref_reduce(&zip_b(&ex, &ey, |p, q| p + q), &[1], false, |xs| {
        nsum(xs.iter().copied())
    });
    assert_rel(&s, &want, 1e-12, "sum of mixed chunks");
}

/// Reductions of 0-d arrays and of scalars derived from reductions.
#[test]
fn zero_dimensional_arrays() {
    let x = ChunkedArray::<f64>::full(&[], &[], 2.5);
    assert_eq!(x.compute().unwrap(), scalar_arr(2.5));
    assert_eq!(x.sum().compute().unwrap(), 2.5);
    assert_eq!(x.max().compute().unwrap(), 2.5);
    assert_eq!(x.argmax().compute().unwrap(), 0);
    assert_eq!(x.var(0.0).compute().unwrap(), 0.0);
    let y = ChunkedArray::<f64>::arange(10, 3);
    let s = y.sum();
    assert_eq!(s.compute().unwrap(), 45.0);
    assert_eq!(s.as_array().sum().compute().unwrap(), 45.0);
    assert_eq!((&s + &s).compute().unwrap(), 90.0);
    assert_eq!((&y - &s).max().compute().unwrap(), -36.0);
    assert_eq!(ChunkedArray::from(s).shape(), &[] as &[usize]);
}

/// A stage shared by several consumers (a `map_blocks` result used twice, in one output and
/// across outputs of `compute_all`) runs once per block.
#[test]
fn shared_stages_run_once_per_block() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let x = ChunkedArray::<f64>::random_seeded(&[20, 30], &[7, 8], 3);
    let y = x.map_blocks(move |b, _| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(b.to_owned())
    });
    let blocks = y.num_blocks();
    assert_eq!(blocks, 3 * 4);
    let z = &y + &y.mean_axes_opt(&[0], &ReduceOpts::default().keepdims(true));
    let out = compute_all(&[&z.sum(), &y.max(), &y]).unwrap();
    assert_eq!(out.len(), 3);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        blocks,
        "each block of the shared stage runs once"
    );
    let ex = x.compute().unwrap();
    let mut it = out.into_iter();
    let zs: f64 = it.next().unwrap().into_scalar().unwrap();
    let want = 2.0 * nsum(ex.iter().copied());
    assert!(close(zs, want, 1e-10 * want.abs()), "{zs} vs {want}");
    let m: f64 = it.next().unwrap().into_scalar().unwrap();
    assert_eq!(
        m,
        ref_extreme(&ex.iter().copied().collect::<Vec<_>>(), true)
    );
    assert_same(&it.next().unwrap().into_array::<f64>().unwrap(), &ex, "y");
}

/// Integer division by zero gives 0, and wrapping is visible at the type's edges.
#[test]
fn integer_edges() {
    let x = ChunkedArray::from_ndarray(ndarray::arr1(&[i32::MAX, i32::MIN, -7, 0, 5]).view(), &[2]);
    assert_eq!(
        (&x + 1).compute().unwrap().into_raw_vec_and_offset().0,
        vec![i32::MIN, i32::MIN + 1, -6, 1, 6]
    );
    assert_eq!(
        (&x / 0).compute().unwrap().into_raw_vec_and_offset().0,
        vec![0; 5]
    );
    assert_eq!(
        (&x / -1).compute().unwrap().into_raw_vec_and_offset().0,
        vec![-i32::MAX, i32::MIN, 7, 0, -5]
    );
    assert_eq!(
        x.abs().compute().unwrap().into_raw_vec_and_offset().0,
        vec![i32::MAX, i32::MIN, 7, 0, 5]
    );
    let s: i64 = x.sum().compute().unwrap();
    assert_eq!(s, i32::MAX as i64 + i32::MIN as i64 - 2);
    let u = ChunkedArray::<u8>::full(&[300], &[64], 200);
    let su: u64 = u.sum().compute().unwrap();
    assert_eq!(su, 60_000, "u8 sums accumulate in u64");
    assert_eq!((&u + 100u8).max().compute().unwrap(), 44);
    let big = ChunkedArray::<i64>::full(&[4], &[1], i64::MAX);
    assert_eq!(big.sum().compute().unwrap(), i64::MAX.wrapping_mul(4));
    assert_eq!(big.prod().compute().unwrap(), i64::MAX.wrapping_pow(4));
    assert_eq!(big.mean().compute().unwrap(), i64::MAX as f64);
    let ar = ChunkedArray::<i64>::arange(10, 4);
    assert_eq!(
        ar.powi(-1).compute().unwrap().into_raw_vec_and_offset().0,
        vec![0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!((-&ar).powi(-1).sum().compute().unwrap(), -1);
}

/// The variance of data containing NaN is NaN (NumPy), as the mean is.
#[test]
fn var_of_nan_is_nan() {
    let x = ChunkedArray::from_ndarray(ndarray::arr1(&[1.0, f64::NAN, 3.0]).view(), &[2]);
    assert!(x.mean().compute().unwrap().is_nan());
    assert!(
        x.var(0.0).compute().unwrap().is_nan(),
        "var = {}",
        x.var(0.0).compute().unwrap()
    );
    assert!(x.std(1.0).compute().unwrap().is_nan());
    assert!(
        x.var_axes(&[0], 0.0)
            .compute()
            .unwrap()
            .iter()
            .all(|v| v.is_nan())
    );
    let inf = ChunkedArray::from_ndarray(ndarray::arr1(&[f64::INFINITY, 1.0]).view(), &[1]);
    assert!(
        inf.var(0.0).compute().unwrap().is_nan(),
        "var of [inf, 1] is NaN in NumPy"
    );
}

/// A reduction over non-empty axes of an array with an empty *other* axis gives an empty
/// result (NumPy: `np.zeros((0, 3)).min(axis=1)` is `array([])`), not an error.
#[test]
fn order_statistics_with_empty_kept_axis() {
    let x = ChunkedArray::<f64>::zeros(&[0, 3], &[2, 2]);
    assert_eq!(x.min_axes(&[1]).compute().unwrap().shape(), &[0]);
    assert_eq!(x.max_axes(&[1]).compute().unwrap().shape(), &[0]);
    assert_eq!(x.argmin_axis(1).compute().unwrap().shape(), &[0]);
    // ... while reducing over the empty axis itself is an error
    assert!(x.min_axes(&[0]).compute().is_err());
}
