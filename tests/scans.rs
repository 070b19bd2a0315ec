//! Cumulative sums and products against ndarray on random shapes, chunkings and axes.

use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

fn case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, usize)> {
    prop::collection::vec(1usize..12, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
        let nd = shape.len();
        (Just(shape), chunks, 0..nd)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn cumsum_and_cumprod_match_ndarray((shape, chunks, axis) in case(), materialized in any::<bool>()) {
        let f = |i: &[usize]| i.iter().fold(3i64, |a, &x| (a * 7 + x as i64) % 11 - 5);
        let x = ChunkedArray::from_fn(&shape, &chunks, f);
        let x = if materialized { x.map_blocks(|b, _| Ok(b.to_owned())) } else { x };
        let e = ArrayD::from_shape_fn(IxDyn(&shape), |i| f(i.slice()));
        let mut want = e.clone();
        want.accumulate_axis_inplace(Axis(axis), |&p, c| *c = p.wrapping_add(*c));
        prop_assert_eq!(x.cumsum(axis as isize).compute().unwrap(), want);
        let mut want = e.clone();
        want.accumulate_axis_inplace(Axis(axis), |&p, c| *c = p.wrapping_mul(*c));
        prop_assert_eq!(x.cumprod(axis as isize).compute().unwrap(), want);
        // Negative axes, and a reduction of the scan.
        let neg = axis as isize - shape.len() as isize;
        let total: i64 = x.cumsum(neg).sum().compute().unwrap();
        let mut w = e.clone();
        w.accumulate_axis_inplace(Axis(axis), |&p, c| *c = p.wrapping_add(*c));
        prop_assert_eq!(total, w.iter().fold(0i64, |a, &b| a.wrapping_add(b)));
    }
}

#[test]
fn cumsum_of_many_blocks_holds_few() {
    // 1000 blocks along the axis: the scan never holds the whole axis.
    let x = ChunkedArray::<f64>::ones(&[1000 * 100, 50], &[100, 50]);
    let (last, stats) = x
        .cumsum(0)
        .slice(ndarray::s![-1, ..])
        .sum()
        .compute_with_stats(&Config::default().threads(2))
        .unwrap();
    assert_eq!(last, 100_000.0 * 50.0);
    assert!(stats.peak_block_bytes < x.nbytes() / 10, "{stats:?}");
}

#[test]
fn scan_axis_errors() {
    let x = ChunkedArray::<i32>::zeros(&[3, 4], &[2, 2]);
    assert!(x.cumsum(2).check().is_err());
    assert!(x.cumprod(-3).check().is_err());
}
