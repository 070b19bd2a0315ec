//! coarsen and sliding_window against eager references on random shapes and chunkings.

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

fn value(i: &[usize]) -> i64 {
    i.iter().fold(5i64, |a, &x| (a * 13 + x as i64) % 97 - 40)
}

fn stat(s: u8) -> WindowStat {
    [
        WindowStat::Sum,
        WindowStat::Max,
        WindowStat::Min,
        WindowStat::Mean,
    ][s as usize % 4]
}

fn reduce(vals: &[i64], s: u8) -> i64 {
    match s % 4 {
        0 => vals.iter().sum(),
        1 => *vals.iter().max().unwrap(),
        2 => *vals.iter().min().unwrap(),
        _ => (vals.iter().sum::<i64>() as f64 / vals.len() as f64).round() as i64,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn coarsen_matches_a_loop(
        (shape, chunks, factors) in prop::collection::vec((1usize..4, 1usize..4, 1usize..6), 1..4)
            .prop_map(|v| {
                let factors: Vec<usize> = v.iter().map(|a| a.0).collect();
                let shape: Vec<usize> = v.iter().map(|a| a.0 * a.1).collect();
                let chunks: Vec<usize> = v.iter().zip(&shape).map(|(a, &n)| a.2.min(n)).collect();
                (shape, chunks, factors)
            }),
        s in 0u8..4,
        extra in 0usize..2,
    ) {
        // Sometimes one element more on the first axis: an error unless trimmed.
        let mut shape = shape;
        shape[0] += extra * usize::from(factors[0] > 1);
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let partial = shape[0] % factors[0] != 0;
        prop_assert_eq!(x.coarsen(&factors, stat(s), false).check().is_err(), partial);
        let got = x.coarsen(&factors, stat(s), true).compute().unwrap();
        let out: Vec<usize> = shape.iter().zip(&factors).map(|(&n, &f)| n / f).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&out), |o| {
            let mut vals = vec![];
            let ranges: Vec<(usize, usize)> = (0..o.ndim()).map(|k| (o[k] * factors[k], (o[k] + 1) * factors[k])).collect();
            let mut idx: Vec<usize> = ranges.iter().map(|r| r.0).collect();
            loop {
                vals.push(value(&idx));
                let mut k = idx.len();
                loop {
                    if k == 0 { return reduce(&vals, s); }
                    k -= 1;
                    idx[k] += 1;
                    if idx[k] < ranges[k].1 { break; }
                    idx[k] = ranges[k].0;
                }
            }
        });
        prop_assert_eq!(got, want);
    }

    #[test]
    fn sliding_windows_match_a_loop(
        shape in prop::collection::vec(1usize..12, 1..3),
        chunk in 1usize..6,
        window in 1usize..6,
        s in 0u8..4,
    ) {
        let k = shape.len() - 1;
        let chunks: Vec<usize> = shape.iter().map(|&n| chunk.min(n)).collect();
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let r = x.sliding_window(window, k as isize, stat(s));
        if window > shape[k] {
            prop_assert!(r.check().is_err());
            return Ok(());
        }
        let mut out = shape.clone();
        out[k] -= window - 1;
        let want = ArrayD::from_shape_fn(IxDyn(&out), |o| {
            let vals: Vec<i64> = (0..window)
                .map(|w| {
                    let mut i = o.slice().to_vec();
                    i[k] += w;
                    value(&i)
                })
                .collect();
            reduce(&vals, s)
        });
        prop_assert_eq!(r.compute().unwrap(), want);
    }
}

#[test]
fn coarsen_builds_a_pyramid_level_lazily() {
    let x = ChunkedArray::<f32>::random(&[1024, 768], &[256, 256]);
    let l1 = x.coarsen(&[2, 2], WindowStat::Mean, false);
    let l2 = l1.coarsen(&[2, 2], WindowStat::Mean, false);
    assert_eq!(l2.shape(), &[256, 192]);
    // The mean of a pyramid level equals the mean of the data.
    let (a, b) = (x.mean().compute().unwrap(), l2.mean().compute().unwrap());
    assert!((a - b).abs() < 1e-5, "{a} {b}");
    assert!(x.coarsen(&[0, 2], WindowStat::Sum, true).check().is_err());
    assert!(x.coarsen(&[2], WindowStat::Sum, true).check().is_err());
}
