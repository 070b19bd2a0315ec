//! Order statistics and histograms against eager references computed here: sort-based
//! medians and quantiles with NumPy's linear interpolation, histograms by a loop, `unique` by
//! a `BTreeSet`, `topk` by a sort; on random shapes, chunkings and axes, with ties and NaN.

use std::collections::BTreeSet;

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

/// A shape of 1-3 axes with a chunking.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..8, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n + 1).collect();
        (Just(shape), chunks)
    })
}

/// Shape, chunks, an axis (sometimes negative) and values from a small range (ties), with
/// some NaN when `nan`.
fn case(nan: bool) -> impl Strategy<Value = (Vec<usize>, Vec<usize>, isize, Vec<f64>)> {
    shape_and_chunks().prop_flat_map(move |(shape, chunks)| {
        let n: usize = shape.iter().product();
        let nd = shape.len() as isize;
        let vals = prop::collection::vec(
            prop_oneof![
                8 => (-6i32..6).prop_map(|v| v as f64 * 0.5),
                2 => any::<f64>().prop_filter("finite", |v| v.is_finite()),
                if nan { 2 } else { 0 } => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
            ],
            n,
        );
        (Just(shape), Just(chunks), -nd..nd, vals)
    })
}

/// NumPy's `_lerp` as rask documents it: the lower value when the weight is 0 or the ends
/// are equal.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    if t == 0.0 || a == b {
        return a;
    }
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Reference: `None` for the median, `Some(q)` for a quantile, of one line.
fn reference(line: &[f64], q: Option<f64>, skip_nan: bool) -> f64 {
    if !skip_nan && line.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let mut v: Vec<f64> = line.iter().copied().filter(|v| !v.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    match q {
        None => {
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2.0
            }
        }
        Some(q) => {
            let h = q * (n - 1) as f64;
            let k = (h.floor() as usize).min(n - 1);
            let t = h - k as f64;
            let b = if t > 0.0 { v[k + 1] } else { v[k] };
            lerp(v[k], b, t)
        }
    }
}

/// The reference along `axis` of `a`.
fn reference_axis(a: &ArrayD<f64>, axis: usize, q: Option<f64>, skip_nan: bool) -> ArrayD<f64> {
    a.map_axis(Axis(axis), |l| reference(&l.to_vec(), q, skip_nan))
}

fn same(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn lazy<T: Element>(a: &ArrayD<T>, chunks: &[usize], materialized: bool) -> ChunkedArray<T> {
    let x = ChunkedArray::from_ndarray(a.view(), chunks);
    if materialized {
        x.map_blocks(|b, _| Ok(b.to_owned()))
    } else {
        x
    }
}

fn norm_axis(axis: isize, nd: usize) -> usize {
    if axis < 0 {
        (axis + nd as isize) as usize
    } else {
        axis as usize
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn medians_and_quantiles_match_a_sort(
        (shape, chunks, axis, vals) in case(true),
        q in prop_oneof![Just(0.0), Just(1.0), Just(0.5), 0.0f64..=1.0],
        materialized in any::<bool>(),
    ) {
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap();
        let x = lazy(&a, &chunks, materialized);
        let k = norm_axis(axis, shape.len());
        for skip in [false, true] {
            let (m, qq, p) = if skip {
                (x.nanmedian_axis(axis), x.nanquantile_axis(q, axis), x.nanpercentile_axis(q * 100.0, axis))
            } else {
                (x.median_axis(axis), x.quantile_axis(q, axis), x.percentile_axis(q * 100.0, axis))
            };
            let got = m.compute().unwrap();
            let want = reference_axis(&a, k, None, skip);
            prop_assert!(same(&got, &want), "median skip={skip}: {got:?} vs {want:?}");
            let got = qq.compute().unwrap();
            let want = reference_axis(&a, k, Some(q), skip);
            prop_assert!(same(&got, &want), "quantile {q} skip={skip}: {got:?} vs {want:?}");
            let got = p.compute().unwrap();
            let want = reference_axis(&a, k, Some(q * 100.0 / 100.0), skip);
            prop_assert!(same(&got, &want), "percentile skip={skip}: {got:?} vs {want:?}");
        }
    }

    #[test]
    fn f32_quantiles_round_the_f64_result(
        (shape, chunks, axis, vals) in case(true),
        q in 0.0f64..=1.0,
    ) {
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals.iter().map(|&v| v as f32).collect()).unwrap();
        let wide = a.mapv(|v| v as f64);
        let x = ChunkedArray::from_ndarray(a.view(), &chunks);
        let k = norm_axis(axis, shape.len());
        let got = x.nanquantile_axis(q, axis).compute().unwrap().mapv(|v| v as f64);
        let want = reference_axis(&wide, k, Some(q), true).mapv(|v| v as f32 as f64);
        prop_assert!(same(&got, &want), "{got:?} vs {want:?}");
        let got = x.median_axis(axis).compute().unwrap().mapv(|v| v as f64);
        let want = reference_axis(&wide, k, None, false).mapv(|v| v as f32 as f64);
        prop_assert!(same(&got, &want), "{got:?} vs {want:?}");
    }

    #[test]
    fn integer_quantiles_give_f64(
        (shape, chunks) in shape_and_chunks(),
        seed in any::<u64>(),
        axis in 0usize..3,
        q in 0.0f64..=1.0,
    ) {
        let axis = axis % shape.len();
        let mut s = seed;
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) % 9) as i32 - 4
        });
        let wide = a.mapv(|v| v as f64);
        let x = ChunkedArray::from_ndarray(a.view(), &chunks);
        let got = x.quantile_axis(q, axis as isize).compute().unwrap();
        prop_assert!(same(&got, &reference_axis(&wide, axis, Some(q), false)));
        let got = x.median_axis(axis as isize).compute().unwrap();
        prop_assert!(same(&got, &reference_axis(&wide, axis, None, false)));
        let u = a.mapv(|v| (v + 4) as u8);
        let xu = ChunkedArray::from_ndarray(u.view(), &chunks);
        let got = xu.median_axis(axis as isize).compute().unwrap();
        prop_assert!(same(&got, &reference_axis(&u.mapv(|v| v as f64), axis, None, false)));
    }

    #[test]
    fn long_axes_select_line_by_line(
        n in 65usize..300,
        chunk in 1usize..120,
        cols in 1usize..4,
        seed in any::<u64>(),
        q in 0.0f64..=1.0,
        nan in any::<bool>(),
    ) {
        let mut s = seed;
        let a = ArrayD::from_shape_fn(IxDyn(&[n, cols]), |_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let v = ((s >> 40) % 50) as f64;
            if nan && v == 7.0 { f64::NAN } else { v }
        });
        let x = ChunkedArray::from_ndarray(a.view(), &[chunk, 1]);
        for skip in [false, true] {
            let got = if skip { x.nanquantile_axis(q, 0) } else { x.quantile_axis(q, 0) }.compute().unwrap();
            prop_assert!(same(&got, &reference_axis(&a, 0, Some(q), skip)));
            let got = if skip { x.nanmedian_axis(0) } else { x.median_axis(0) }.compute().unwrap();
            prop_assert!(same(&got, &reference_axis(&a, 0, None, skip)));
        }
        // The other axis: lines of `n` contiguous values.
        let t = x.t();
        let got = t.median_axis(1).compute().unwrap();
        prop_assert!(same(&got, &reference_axis(&a.t().to_owned().into_dyn(), 1, None, false)));
    }

    #[test]
    fn histograms_match_a_loop(
        (shape, chunks, _axis, vals) in case(true),
        bins in 1usize..12,
        lo in -4.0f64..1.0,
        width in 0.25f64..6.0,
        materialized in any::<bool>(),
    ) {
        let hi = lo + width;
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap();
        let x = lazy(&a, &chunks, materialized);
        let got = x.histogram(bins, (lo, hi)).compute().unwrap();
        let edges = rask::histogram_bin_edges(bins, (lo, hi)).unwrap();
        prop_assert_eq!(edges.len(), bins + 1);
        prop_assert_eq!(edges[0], lo);
        prop_assert_eq!(edges[bins], hi);
        let mut want = vec![0u64; bins];
        for &v in a.iter() {
            // The bin by the edges: [e_i, e_i+1), the last one closed.
            if !(v >= lo && v <= hi) {
                continue;
            }
            let i = (0..bins).find(|&i| v < edges[i + 1]).unwrap_or(bins - 1);
            want[i] += 1;
        }
        prop_assert_eq!(got.shape(), &[bins]);
        prop_assert_eq!(got.into_raw_vec_and_offset().0, want);
        // Integers are counted by their value.
        let ints = a.mapv(|v| if v.is_finite() { v.round() as i64 } else { 0 });
        let xi = ChunkedArray::from_ndarray(ints.view(), &chunks);
        let got = xi.histogram(bins, (lo, hi)).compute().unwrap();
        let mut want = vec![0u64; bins];
        for &v in ints.iter() {
            let v = v as f64;
            if v >= lo && v <= hi {
                want[(0..bins).find(|&i| v < edges[i + 1]).unwrap_or(bins - 1)] += 1;
            }
        }
        prop_assert_eq!(got.into_raw_vec_and_offset().0, want);
    }

    #[test]
    fn bincount_and_unique_match_a_loop_and_a_set(
        (shape, chunks) in shape_and_chunks(),
        seed in any::<u64>(),
        spread in 1u64..40,
        minlength in 0usize..50,
    ) {
        let mut s = seed;
        let a = ArrayD::from_shape_fn(IxDyn(&shape), |_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) % spread) as u16
        });
        let x = ChunkedArray::from_ndarray(a.view(), &chunks);
        let got = x.bincount(minlength).compute().unwrap().to_vec();
        let len = (*a.iter().max().unwrap() as usize + 1).max(minlength);
        let mut want = vec![0u64; len];
        for &v in a.iter() {
            want[v as usize] += 1;
        }
        prop_assert_eq!(got, want);
        let set: BTreeSet<u16> = a.iter().copied().collect();
        prop_assert_eq!(x.unique().compute().unwrap().to_vec(), set.into_iter().collect::<Vec<_>>());
        // Signed values, some negative: unique sorts them; bincount refuses them.
        let signed = a.mapv(|v| v as i64 - spread as i64 / 2);
        let xs = ChunkedArray::from_ndarray(signed.view(), &chunks);
        let set: BTreeSet<i64> = signed.iter().copied().collect();
        prop_assert_eq!(xs.unique().compute().unwrap().to_vec(), set.into_iter().collect::<Vec<_>>());
        let r = xs.bincount(0).compute();
        prop_assert_eq!(r.is_err(), signed.iter().any(|&v| v < 0));
    }

    #[test]
    fn topk_matches_a_sort(
        (shape, chunks, axis, vals) in case(true),
        k in 1isize..9,
        largest in any::<bool>(),
        materialized in any::<bool>(),
    ) {
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals).unwrap();
        let x = lazy(&a, &chunks, materialized);
        let ax = norm_axis(axis, shape.len());
        let n = shape[ax] as isize;
        let k = if largest { k } else { -k };
        let r = x.topk(k, axis);
        if k.abs() > n {
            prop_assert!(r.check().is_err());
            return Ok(());
        }
        let got = r.compute().unwrap();
        // NaN is the largest value.
        let key = |v: &f64| if v.is_nan() { (1, 0.0) } else { (0, *v) };
        let mut lines = Vec::new();
        for l in a.lanes(Axis(ax)) {
            let mut v = l.to_vec();
            v.sort_by(|p, q| key(p).partial_cmp(&key(q)).unwrap());
            if largest {
                v.reverse();
            }
            v.truncate(k.unsigned_abs());
            lines.push(v);
        }
        let mut want_shape = shape.clone();
        want_shape[ax] = k.unsigned_abs();
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        for (l, w) in got.lanes(Axis(ax)).into_iter().zip(&lines) {
            let l = l.to_vec();
            prop_assert!(l.iter().zip(w).all(|(p, q)| p == q || (p.is_nan() && q.is_nan())), "{l:?} vs {w:?}");
        }
    }
}

#[test]
fn numpy_values() {
    let x = ChunkedArray::from_ndarray(ndarray::arr1(&[4.0, 1.0, 3.0, 2.0]).view(), &[3]);
    assert_eq!(x.median_axis(0).compute().unwrap().first(), Some(&2.5));
    assert_eq!(
        x.quantile_axis(0.3, 0).compute().unwrap().first(),
        Some(&1.9)
    );
    let y = ChunkedArray::from_ndarray(ndarray::arr1(&[10i64, 7, 4, 3, 2, 1]).view(), &[4]);
    assert_eq!(
        y.percentile_axis(25.0, 0).compute().unwrap().first(),
        Some(&2.25)
    );
    let a = ndarray::arr2(&[[10.0, f64::NAN, 4.0], [3.0, 2.0, 1.0]]);
    let z = ChunkedArray::from_ndarray(a.view(), &[1, 2]);
    assert_eq!(
        z.nanmedian_axis(0)
            .compute()
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        vec![6.5, 2.0, 2.5]
    );
    let h = ChunkedArray::from_ndarray(ndarray::arr1(&[0.0, 1.0, 2.0, 3.0]).view(), &[3]);
    assert_eq!(
        h.histogram(3, (0.0, 3.0))
            .compute()
            .unwrap()
            .into_raw_vec_and_offset()
            .0,
        vec![1, 1, 2]
    );
    let b = ChunkedArray::from_ndarray(ndarray::arr1(&[0u32, 1, 1, 3, 2, 1, 7]).view(), &[2]);
    assert_eq!(
        b.bincount(0).compute().unwrap().to_vec(),
        vec![1, 3, 1, 1, 0, 0, 0, 1]
    );
}

#[test]
fn bad_arguments_are_errors() {
    let x = ChunkedArray::<f64>::random(&[6, 4], &[2, 2]);
    let msg = |e: Error| e.to_string();
    let e = msg(x.quantile_axis(1.5, 0).check().unwrap_err());
    assert!(e.contains("quantile_axis") && e.contains("1.5"), "{e}");
    assert!(x.quantile_axis(-0.1, 0).check().is_err());
    assert!(x.quantile_axis(f64::NAN, 0).check().is_err());
    assert!(x.nanquantile_axis(2.0, 0).check().is_err());
    let e = msg(x.percentile_axis(101.0, 0).check().unwrap_err());
    assert!(e.contains("percentile_axis") && e.contains("101"), "{e}");
    assert!(x.nanpercentile_axis(-1.0, 0).check().is_err());
    assert!(x.median_axis(2).check().is_err());
    assert!(x.median_axis(-3).check().is_err());
    let empty = ChunkedArray::<f64>::zeros(&[0, 3], &[1, 3]);
    let e = msg(empty.median_axis(0).check().unwrap_err());
    assert!(e.contains("no elements"), "{e}");
    assert_eq!(empty.median_axis(1).compute().unwrap().shape(), &[0]);
    let e = msg(x.histogram(0, (0.0, 1.0)).check().unwrap_err());
    assert!(e.contains("histogram") && e.contains("bins"), "{e}");
    let e = msg(x.histogram(4, (1.0, 1.0)).check().unwrap_err());
    assert!(e.contains("(1, 1)"), "{e}");
    assert!(x.histogram(4, (2.0, 1.0)).check().is_err());
    assert!(x.histogram(4, (0.0, f64::INFINITY)).check().is_err());
    assert!(rask::histogram_bin_edges(0, (0.0, 1.0)).is_err());
    let e = msg(x.topk(7, 0).check().unwrap_err());
    assert!(e.contains("topk") && e.contains("7"), "{e}");
    assert!(x.topk(-7, 0).check().is_err());
    assert!(x.topk(0, 0).check().is_err());
    assert!(x.topk(2, 5).check().is_err());
    let i = ChunkedArray::from_fn(&[6], &[2], |i| i[0] as i8 - 4);
    let e = msg(i.bincount(0).compute().unwrap_err());
    assert!(
        e.contains("bincount") && e.contains("block [0]") && e.contains("-4"),
        "{e}"
    );
    assert!(i.bincount(usize::MAX).check().is_err());
    let big = ChunkedArray::from_fn(&[3], &[2], |i| if i[0] == 2 { u64::MAX } else { 0 });
    let e = msg(big.bincount(0).compute().unwrap_err());
    assert!(e.contains("block [1]"), "{e}");
    // An error carried in from an earlier operation.
    let bad = &x + &ChunkedArray::<f64>::ones(&[5], &[5]);
    assert!(bad.median_axis(0).check().is_err());
    assert!(bad.histogram(2, (0.0, 1.0)).check().is_err());
    assert!(bad.topk(1, 0).check().is_err());
    assert!(bad.cast::<i32>().unique().check().is_err());
}

#[test]
fn results_do_not_depend_on_threads() {
    let x = ChunkedArray::<f64>::random(&[30, 40, 50], &[7, 16, 20]);
    let m = x.median_axis(0);
    let q = x.nanquantile_axis(0.37, 2);
    let h = x.histogram(17, (0.1, 0.9));
    let t = x.topk(-3, 1);
    let one = Config::default().threads(1);
    let two = Config::default().threads(2);
    assert_eq!(m.compute_with(&one).unwrap(), m.compute_with(&two).unwrap());
    assert_eq!(q.compute_with(&one).unwrap(), q.compute_with(&two).unwrap());
    assert_eq!(h.compute_with(&one).unwrap(), h.compute_with(&two).unwrap());
    assert_eq!(t.compute_with(&one).unwrap(), t.compute_with(&two).unwrap());
    let u = x.map(|v| (v * 100.0) as i32);
    assert_eq!(
        u.unique().compute_with(&one).unwrap(),
        u.unique().compute_with(&two).unwrap()
    );
}

#[test]
fn stats_compose_with_other_outputs() {
    let x = ChunkedArray::<f32>::random(&[8, 60, 70], &[3, 25, 30]);
    let m = x.median_axis(0);
    let mean = x.mean_axes(&[0]);
    let h = x.histogram(10, (0.0, 1.0));
    let out = rask::compute_all(&[&m, &mean, &h]).unwrap();
    let mut it = out.into_iter();
    let m = it.next().unwrap().into_array::<f32>().unwrap();
    let _mean = it.next().unwrap().into_array::<f32>().unwrap();
    let h = it.next().unwrap().into_array::<u64>().unwrap();
    assert_eq!(m.shape(), &[60, 70]);
    assert_eq!(h.sum(), 8 * 60 * 70);
    let xs = x.compute().unwrap().mapv(|v| v as f64);
    let want = reference_axis(&xs, 0, None, false).mapv(|v| v as f32);
    assert_eq!(m, want);
}

/// The time-series median composite: the median along axis 0 of a 32 × 4000 × 4000 `f32`
/// stack in (32, 1000, 1000) chunks (2 GB generated, never held at once). Run with
/// `cargo test --release --test stats -- --ignored --nocapture`.
#[test]
#[ignore]
fn median_composite_timing() {
    let (t, r, c) = (32, 4000, 4000);
    let x = ChunkedArray::<f32>::random(&[t, r, c], &[t, 1000, 1000]);
    let cfg = Config::default();
    let (_, sum) = x.sum().compute_with_stats(&cfg).unwrap();
    println!("sum (generation alone): {:.3} s", sum.wall_s);
    let (mean, s0) = x.mean_axes(&[0]).compute_with_stats(&cfg).unwrap();
    println!(
        "mean_axes(0):  {:.3} s, peak block bytes {:.1} MB",
        s0.wall_s,
        s0.peak_block_bytes as f64 / 1e6
    );
    let (m, s1) = x.median_axis(0).compute_with_stats(&cfg).unwrap();
    println!(
        "median_axis(0): {:.3} s, peak block bytes {:.1} MB, {} tasks",
        s1.wall_s,
        s1.peak_block_bytes as f64 / 1e6,
        s1.tasks
    );
    let (_, s2) = x.nanquantile_axis(0.9, 0).compute_with_stats(&cfg).unwrap();
    println!("nanquantile_axis(0.9, 0): {:.3} s", s2.wall_s);
    // A split time axis: rechunked to whole lines first.
    let y = ChunkedArray::<f32>::random(&[t, r, c], &[8, 1000, 1000]);
    let (m2, s3) = y.median_axis(0).compute_with_stats(&cfg).unwrap();
    println!(
        "median_axis(0) from (8, 1000, 1000) chunks: {:.3} s, peak block bytes {:.1} MB",
        s3.wall_s,
        s3.peak_block_bytes as f64 / 1e6
    );
    assert_eq!(m, m2);
    // Blocks made by a stage (as when read from storage): a rechunk stage gathers the axis.
    let z = y.map_blocks(|b, _| Ok(b.to_owned()));
    let (m3, s4) = z.median_axis(0).compute_with_stats(&cfg).unwrap();
    println!(
        "median_axis(0) of materialized (8, 1000, 1000) blocks: {:.3} s, peak block bytes {:.1} MB",
        s4.wall_s,
        s4.peak_block_bytes as f64 / 1e6
    );
    assert_eq!(m, m3);
    assert!((mean.mean().unwrap() - 0.5).abs() < 1e-3);
    assert!((m.mean().unwrap() - 0.5).abs() < 1e-3);
}

/// Exact selection without gathering: the median of 10^8 `f64` (800 MB, a line longer than
/// the 256 MiB gather limit) in blocks of 10^7, checked against a sort. Run with
/// `cargo test --release --test stats -- --ignored --nocapture`.
#[test]
#[ignore]
fn long_axis_median_timing() {
    let x = ChunkedArray::<f64>::random(&[100_000_000], &[10_000_000]);
    let m = x.median_axis(0);
    assert!(m.explain().contains("count(pass 4/4)"), "{}", m.explain());
    let (got, stats) = m.compute_with_stats(&Config::default()).unwrap();
    println!(
        "median of 1e8 f64 by exact selection: {:.3} s, {} tasks, peak block bytes {:.1} MB",
        stats.wall_s,
        stats.tasks,
        stats.peak_block_bytes as f64 / 1e6
    );
    let mut v = x.compute().unwrap().into_raw_vec_and_offset().0;
    let n = v.len();
    let (_, a, rest) = v.select_nth_unstable_by(n / 2 - 1, |a, b| a.partial_cmp(b).unwrap());
    let a = *a;
    let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(got.first(), Some(&((a + b) / 2.0)));
}

#[test]
fn edges_fall_in_the_bin_they_open() {
    for (bins, lo, hi) in [(10, 0.0, 1.0), (7, -3.3, 2.9), (3, 1e-300, 3e-300)] {
        let e = rask::histogram_bin_edges(bins, (lo, hi)).unwrap();
        let x = ChunkedArray::from_ndarray(e.view(), &[4]);
        let mut want = vec![1u64; bins];
        want[bins - 1] = 2; // the last bin is closed
        let got = x.histogram(bins, (lo, hi)).compute().unwrap();
        assert_eq!(
            got.into_raw_vec_and_offset().0,
            want,
            "{bins} bins over ({lo}, {hi})"
        );
    }
}

#[test]
fn zero_dimensional_and_small_integer_inputs() {
    let s = ChunkedArray::<f64>::ones(&[3, 4], &[2, 2]).sum(); // 12.0, a 0-d array
    let h = s.as_array().histogram(4, (0.0, 16.0)).compute().unwrap();
    assert_eq!(h.into_raw_vec_and_offset().0, vec![0, 0, 0, 1]);
    assert!(s.as_array().median_axis(0).check().is_err());
    let c = ChunkedArray::<i64>::arange(10, 3).sum(); // 45
    assert_eq!(c.as_array().unique().compute().unwrap().to_vec(), vec![45]);
    assert_eq!(c.as_array().bincount(0).compute().unwrap().len(), 46);
    let u = ChunkedArray::from_fn(&[3, 5], &[2, 2], |i| (i[0] * 7 + i[1] * 3) as u8 % 11);
    let eager = u.compute().unwrap();
    let top = u.topk(2, 1).compute().unwrap();
    for (r, row) in eager.outer_iter().enumerate() {
        let mut v: Vec<u8> = row.iter().copied().collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        let got: Vec<u8> = top.index_axis(Axis(0), r).iter().copied().collect();
        assert_eq!(got, v[..2].to_vec());
    }
    let low = u.topk(-3, 0).compute().unwrap();
    assert_eq!(low.shape(), &[3, 5]);
    let med = u.median_axis(1).compute().unwrap();
    let want = reference_axis(&eager.mapv(|v| v as f64), 1, None, false);
    assert!(same(&med, &want));
}
