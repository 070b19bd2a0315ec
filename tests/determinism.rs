//! Determinism: random values are a pure function of (seed, index) whatever the chunking and
//! the thread count, reductions give the same bits for any thread count, and the generators
//! have the right statistics.

use ndarray::ArrayD;
use rand::distr::{Bernoulli, StandardUniform, Uniform};
use rask::compute_all_with;
use rask::prelude::*;

const SHAPE: [usize; 2] = [100, 100];
const CHUNKINGS: [[usize; 2]; 5] = [[100, 100], [7, 13], [1, 100], [33, 1], [64, 128]];

fn bits64(a: &ArrayD<f64>) -> Vec<u64> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn bits32(a: &ArrayD<f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

fn threads(n: usize) -> Config {
    Config::default().threads(n)
}

/// Asserts that `make(chunks)` computes to the same values for every chunking in
/// `CHUNKINGS`, with 1 and 3 threads, and returns those values.
fn same_for_all_chunkings<T: Element>(
    what: &str,
    make: impl Fn(&[usize]) -> ChunkedArray<T>,
    eq: impl Fn(&ArrayD<T>, &ArrayD<T>) -> bool,
) -> ArrayD<T> {
    let base = make(&CHUNKINGS[0]).compute_with(&threads(1)).unwrap();
    assert_eq!(base.shape(), &SHAPE);
    for c in CHUNKINGS {
        for t in [1, 3] {
            let a = make(&c).compute_with(&threads(t)).unwrap();
            assert!(
                eq(&a, &base),
                "{what}: chunks {c:?} with {t} threads differ from chunks {:?}",
                CHUNKINGS[0]
            );
        }
    }
    base
}

fn eq64(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    bits64(a) == bits64(b)
}

fn eq32(a: &ArrayD<f32>, b: &ArrayD<f32>) -> bool {
    bits32(a) == bits32(b)
}

fn eq_plain<T: PartialEq>(a: &ArrayD<T>, b: &ArrayD<T>) -> bool {
    a == b
}

/// The number of positions where `a` and `b` hold equal values.
fn coincidences<T: PartialEq>(a: &ArrayD<T>, b: &ArrayD<T>) -> usize {
    a.iter().zip(b.iter()).filter(|(x, y)| x == y).count()
}

// ---------------------------------------------------------------- chunking independence

#[test]
fn random_seeded_is_chunking_independent() {
    for seed in [0u64, 1, 987_654_321] {
        let a = same_for_all_chunkings(
            "random_seeded f64",
            |c| ChunkedArray::<f64>::random_seeded(&SHAPE, c, seed),
            eq64,
        );
        assert!(
            a.iter().all(|&v| (0.0..1.0).contains(&v)),
            "uniform values lie in [0, 1)"
        );
        let b = same_for_all_chunkings(
            "random_seeded f32",
            |c| ChunkedArray::<f32>::random_seeded(&SHAPE, c, seed),
            eq32,
        );
        assert!(
            b.iter().all(|&v| (0.0..1.0).contains(&v)),
            "uniform f32 values lie in [0, 1)"
        );
    }
    // `random` is seed 0.
    let r = ChunkedArray::<f64>::random(&SHAPE, &[9, 9])
        .compute()
        .unwrap();
    let s = ChunkedArray::<f64>::random_seeded(&SHAPE, &[50, 3], 0)
        .compute()
        .unwrap();
    assert_eq!(bits64(&r), bits64(&s));
}

#[test]
fn random_normal_is_chunking_independent() {
    for (seed, mean, std) in [(0u64, 0.0, 1.0), (5, 10.0, 2.0), (77, -3.0, 0.5)] {
        same_for_all_chunkings(
            "random_normal_seeded f64",
            |c| ChunkedArray::<f64>::random_normal_seeded(&SHAPE, c, mean, std, seed),
            eq64,
        );
        same_for_all_chunkings(
            "random_normal_seeded f32",
            |c| ChunkedArray::<f32>::random_normal_seeded(&SHAPE, c, mean, std, seed),
            eq32,
        );
    }
}

#[test]
fn random_distribution_is_chunking_independent() {
    let d = Uniform::new(-5i32, 5).unwrap();
    let a = same_for_all_chunkings(
        "Uniform<i32>",
        |c| ChunkedArray::random_distribution(&SHAPE, c, d, 3),
        eq_plain,
    );
    assert!(a.iter().all(|v| (-5..5).contains(v)));
    let d = Uniform::new(1.5f64, 2.5).unwrap();
    let a = same_for_all_chunkings(
        "Uniform<f64>",
        |c| ChunkedArray::random_distribution(&SHAPE, c, d, 3),
        eq64,
    );
    assert!(a.iter().all(|v| (1.5..2.5).contains(v)));
    let a = same_for_all_chunkings(
        "StandardUniform<u64>",
        |c| ChunkedArray::<u64>::random_distribution(&SHAPE, c, StandardUniform, 4),
        eq_plain,
    );
    let distinct: std::collections::HashSet<u64> = a.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        a.len(),
        "64-bit random values do not repeat in 10^4 draws"
    );
    let d = Bernoulli::new(0.3).unwrap();
    let a = same_for_all_chunkings(
        "Bernoulli",
        |c| ChunkedArray::random_distribution(&SHAPE, c, d, 9),
        eq_plain,
    );
    let p = a.iter().filter(|&&b| b).count() as f64 / a.len() as f64;
    assert!((p - 0.3).abs() < 0.03, "Bernoulli(0.3) gave a fraction {p}");
}

/// Random values read through a broadcast (a stride-0 read of the generator) are the values
/// of the array itself, repeated.
#[test]
fn random_values_survive_broadcasting() {
    for (col_chunks, wide_chunks) in [
        ([7usize, 1usize], [9usize, 4usize]),
        ([100, 1], [1, 50]),
        ([13, 1], [100, 50]),
    ] {
        let col = ChunkedArray::<f64>::random_seeded(&[100, 1], &col_chunks, 21);
        let row = ChunkedArray::<f64>::random_seeded(&[50], &[8], 22);
        let wide = ChunkedArray::<f64>::zeros(&[100, 50], &wide_chunks);
        let (c, r) = (col.compute().unwrap(), row.compute().unwrap());
        let by_col = (&wide + &col).compute().unwrap();
        let by_row = (&wide + &row).compute().unwrap();
        for i in 0..100 {
            for j in 0..50 {
                assert_eq!(
                    by_col[[i, j]].to_bits(),
                    c[[i, 0]].to_bits(),
                    "column broadcast at ({i}, {j})"
                );
                assert_eq!(
                    by_row[[i, j]].to_bits(),
                    r[[j]].to_bits(),
                    "row broadcast at ({i}, {j})"
                );
            }
        }
        let n = ChunkedArray::<f32>::random_normal_seeded(&[100, 1], &col_chunks, 0.0, 1.0, 23);
        let by_n = (&ChunkedArray::<f32>::zeros(&[100, 50], &wide_chunks) + &n)
            .compute()
            .unwrap();
        let nv = n.compute().unwrap();
        assert!(
            by_n.indexed_iter()
                .all(|(ix, v)| v.to_bits() == nv[[ix[0], 0]].to_bits()),
            "normal column broadcast"
        );
    }
}

#[test]
fn different_seeds_give_different_values() {
    let c = [10, 10];
    let uni: Vec<ArrayD<f64>> = (0..4)
        .map(|s| {
            ChunkedArray::<f64>::random_seeded(&SHAPE, &c, s)
                .compute()
                .unwrap()
        })
        .collect();
    let nor: Vec<ArrayD<f64>> = (0..4)
        .map(|s| {
            ChunkedArray::<f64>::random_normal_seeded(&SHAPE, &c, 0.0, 1.0, s)
                .compute()
                .unwrap()
        })
        .collect();
    let u32s: Vec<ArrayD<f32>> = (0..4)
        .map(|s| {
            ChunkedArray::<f32>::random_seeded(&SHAPE, &c, s)
                .compute()
                .unwrap()
        })
        .collect();
    let d = Uniform::new(0u32, 1 << 30).unwrap();
    let dis: Vec<ArrayD<u32>> = (0..4)
        .map(|s| {
            ChunkedArray::random_distribution(&SHAPE, &c, d, s)
                .compute()
                .unwrap()
        })
        .collect();
    for i in 0..4 {
        for j in 0..i {
            assert_eq!(
                coincidences(&uni[i], &uni[j]),
                0,
                "uniform seeds {i} and {j}"
            );
            assert_eq!(
                coincidences(&nor[i], &nor[j]),
                0,
                "normal seeds {i} and {j}"
            );
            assert!(
                coincidences(&u32s[i], &u32s[j]) < 10,
                "f32 uniform seeds {i} and {j}"
            );
            assert!(
                coincidences(&dis[i], &dis[j]) < 10,
                "distribution seeds {i} and {j}"
            );
        }
    }
    // Two arrays with the same seed but different dtypes or distributions are different
    // streams of values, but the same seed twice is the same array.
    let again = ChunkedArray::<f64>::random_seeded(&SHAPE, &[3, 3], 2)
        .compute()
        .unwrap();
    assert_eq!(bits64(&again), bits64(&uni[2]));
    // Neighbouring elements are not the same value shifted (a classic counter-RNG mistake).
    assert_eq!(
        coincidences(
            &uni[0].slice(ndarray::s![.., 1..]).to_owned().into_dyn(),
            &uni[0].slice(ndarray::s![.., ..-1]).to_owned().into_dyn()
        ),
        0
    );
}

// ---------------------------------------------------------------- reductions across threads

/// Every listed reduction gives the same bits for 1, 2 and 4 threads, for small task
/// windows, and run after run.
#[test]
fn reductions_are_bit_identical_across_threads() {
    let x = ChunkedArray::<f64>::random_seeded(&[300, 300], &[17, 23], 42);
    let y = (&x * 3.0 - 1.0) * &x; // some cancellation, so that the order of additions shows
    let n = ChunkedArray::<f64>::random_normal_seeded(&[300, 300], &[17, 23], 1.0, 3.0, 8);
    let f32x = ChunkedArray::<f32>::random_seeded(&[300, 300], &[17, 23], 42);
    let scalars: Vec<(&str, Scalar<f64>)> = vec![
        ("sum", y.sum()),
        ("mean", y.mean()),
        ("var", y.var(0.0)),
        ("std", y.std(1.0)),
        ("min", y.min()),
        ("max", n.max()),
        ("prod", (&x * 1e-3 + 1.0).prod()),
        ("normal sum", n.sum()),
        ("normal var", n.var(1.0)),
        ("nanmean", n.nanmean()),
    ];
    let arrays: Vec<(&str, ChunkedArray<f64>)> = vec![
        ("sum_axes[0]", y.sum_axes(&[0])),
        ("mean_axes[1]", y.mean_axes(&[1])),
        ("var_axes[0]", n.var_axes(&[0], 0.0)),
        ("std_axes[-1]", n.std_axes(&[-1], 1.0)),
        (
            "sum_axes[0,1] split 3",
            y.sum_axes_opt(&[0, 1], &ReduceOpts::default().split_every(3)),
        ),
        (
            "mean_axes[0] keepdims split 2",
            n.mean_axes_opt(&[0], &ReduceOpts::default().keepdims(true).split_every(2)),
        ),
        (
            "centered",
            &n - &n.mean_axes_opt(&[0], &ReduceOpts::default().keepdims(true)),
        ),
    ];
    let configs = [
        threads(1),
        threads(2),
        threads(4),
        threads(4).task_window(1),
        threads(2).task_window(5),
        threads(3).split_every(16),
    ];
    for (name, s) in &scalars {
        let want = s.compute_with(&configs[0]).unwrap().to_bits();
        for cfg in &configs {
            for _ in 0..2 {
                assert_eq!(
                    s.compute_with(cfg).unwrap().to_bits(),
                    want,
                    "{name} with {cfg:?}"
                );
            }
        }
    }
    for (name, a) in &arrays {
        let want = bits64(&a.compute_with(&configs[0]).unwrap());
        for cfg in &configs {
            assert_eq!(
                bits64(&a.compute_with(cfg).unwrap()),
                want,
                "{name} with {cfg:?}"
            );
        }
    }
    let am = y.argmax();
    let am_axes = y.argmin_axis(0);
    let want = (
        am.compute_with(&configs[0]).unwrap(),
        am_axes.compute_with(&configs[0]).unwrap(),
    );
    let f32sum = f32x.sum().compute_with(&configs[0]).unwrap().to_bits();
    let f32mean = f32x.mean_axes(&[1]).compute_with(&configs[0]).unwrap();
    for cfg in &configs {
        assert_eq!(am.compute_with(cfg).unwrap(), want.0, "argmax with {cfg:?}");
        assert_eq!(
            am_axes.compute_with(cfg).unwrap(),
            want.1,
            "argmin_axis with {cfg:?}"
        );
        assert_eq!(
            f32x.sum().compute_with(cfg).unwrap().to_bits(),
            f32sum,
            "f32 sum with {cfg:?}"
        );
        assert_eq!(
            bits32(&f32x.mean_axes(&[1]).compute_with(cfg).unwrap()),
            bits32(&f32mean),
            "f32 mean_axes with {cfg:?}"
        );
    }
    // compute_all gives the same bits as separate runs.
    let out = compute_all_with(&[&scalars[0].1, &arrays[0].1], &threads(4)).unwrap();
    let mut it = out.into_iter();
    assert_eq!(
        it.next().unwrap().into_scalar::<f64>().unwrap().to_bits(),
        scalars[0].1.compute_with(&threads(1)).unwrap().to_bits()
    );
    assert_eq!(
        bits64(&it.next().unwrap().into_array::<f64>().unwrap()),
        bits64(&arrays[0].1.compute_with(&threads(1)).unwrap())
    );
}

// ---------------------------------------------------------------- statistics

#[test]
fn uniform_statistics() {
    let n = 1_000_000usize;
    let x = ChunkedArray::<f64>::random(&[1000, 1000], &[250, 250]);
    let mean = x.mean().compute().unwrap();
    let var = x.var(0.0).compute().unwrap();
    assert!((mean - 0.5).abs() < 0.002, "mean {mean}"); // ~7 standard errors
    assert!((var - 1.0 / 12.0).abs() < 5e-4, "var {var}");
    let (lo, hi) = (x.min().compute().unwrap(), x.max().compute().unwrap());
    assert!(
        (0.0..1e-4).contains(&lo) && hi < 1.0 && hi > 1.0 - 1e-4,
        "min {lo}, max {hi}"
    );
    // Ten equal bins get a tenth each (binomial standard deviation 300).
    for k in 0..10 {
        let (a, b) = (k as f64 / 10.0, (k + 1) as f64 / 10.0);
        let c = x.ge(a).and(x.lt(b)).count_nonzero().compute().unwrap() as f64;
        assert!(
            (c - n as f64 / 10.0).abs() < 2000.0,
            "bin {k} has {c} values"
        );
    }
    // Neighbours along both axes, and two seeds, are uncorrelated.
    let e = x.compute().unwrap();
    let v: Vec<f64> = e.iter().map(|u| u - 0.5).collect();
    let lag = |d: usize| {
        v.iter().zip(&v[d..]).map(|(a, b)| a * b).sum::<f64>() / (v.len() - d) as f64 * 12.0
    };
    assert!(lag(1).abs() < 0.006, "lag-1 correlation {}", lag(1));
    assert!(
        lag(1000).abs() < 0.006,
        "lag-1000 correlation {}",
        lag(1000)
    );
    let y = ChunkedArray::<f64>::random_seeded(&[1000, 1000], &[250, 250], 1);
    let cov = ((&x - 0.5) * (&y - 0.5)).mean().compute().unwrap() * 12.0;
    assert!(cov.abs() < 0.006, "correlation of seeds 0 and 1: {cov}");
    // f32 too
    let m32 = ChunkedArray::<f32>::random(&[1000, 1000], &[250, 250])
        .mean()
        .compute()
        .unwrap();
    assert!((m32 - 0.5).abs() < 0.002, "f32 mean {m32}");
}

#[test]
fn normal_statistics() {
    let x = ChunkedArray::<f64>::random_normal_seeded(&[1000, 1000], &[200, 500], 10.0, 2.0, 1);
    let mean = x.mean().compute().unwrap();
    let std = x.std(0.0).compute().unwrap();
    assert!((mean - 10.0).abs() < 0.015, "mean {mean}"); // standard error 0.002
    assert!((std - 2.0).abs() < 0.01, "std {std}"); // standard error 0.0014
    let n = x.len() as f64;
    let within = |k: f64| {
        ((&x - 10.0).abs().le(2.0 * k))
            .count_nonzero()
            .compute()
            .unwrap() as f64
            / n
    };
    assert!(
        (within(1.0) - 0.682_69).abs() < 0.003,
        "within 1 sd: {}",
        within(1.0)
    );
    assert!(
        (within(2.0) - 0.954_50).abs() < 0.002,
        "within 2 sd: {}",
        within(2.0)
    );
    assert!(
        (within(3.0) - 0.997_30).abs() < 0.0006,
        "within 3 sd: {}",
        within(3.0)
    );
    // Symmetry: the third standardized moment is about 0.
    let skew = ((&x - 10.0) / 2.0).powi(3).mean().compute().unwrap();
    assert!(skew.abs() < 0.02, "skewness {skew}"); // standard error 0.004
    // f32 with another mean/std, and std 0 gives the mean exactly.
    let y = ChunkedArray::<f32>::random_normal_seeded(&[1000, 1000], &[333, 333], -4.0, 0.5, 2);
    let (m, s) = (y.mean().compute().unwrap(), y.std(0.0).compute().unwrap());
    assert!(
        (m + 4.0).abs() < 0.005 && (s - 0.5).abs() < 0.005,
        "f32 normal: mean {m}, std {s}"
    );
    let z = ChunkedArray::<f64>::random_normal_seeded(&[50, 50], &[7, 7], 3.25, 0.0, 3);
    assert!(z.compute().unwrap().iter().all(|&v| v == 3.25));
}

#[test]
fn distribution_statistics() {
    let d = Uniform::new(1u8, 7).unwrap(); // dice
    let x = ChunkedArray::random_distribution(&[600_000], &[65_536], d, 11);
    for face in 1u8..7 {
        let c = x.eq_elem(face).count_nonzero().compute().unwrap() as f64;
        assert!(
            (c - 100_000.0).abs() < 1500.0,
            "face {face} came up {c} times"
        ); // sd 289
    }
    let m = x.mean().compute().unwrap();
    assert!((m - 3.5).abs() < 0.015, "dice mean {m}"); // standard error 0.0022
}
