//! take and boolean masking against eager references.

use ndarray::{ArrayD, Axis, Dimension, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

fn value(i: &[usize]) -> i64 {
    i.iter().fold(11i64, |a, &x| a * 17 + x as i64)
}

fn case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, usize)> {
    prop::collection::vec(1usize..8, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
        let nd = shape.len();
        (Just(shape), chunks, 0..nd)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn take_matches_ndarray(
        (shape, chunks, axis) in case(),
        picks in prop::collection::vec(any::<u16>(), 0..12),
        materialized in any::<bool>(),
    ) {
        let n = shape[axis];
        let idx: Vec<isize> = picks.iter().map(|&p| (p as isize % (2 * n as isize)) - n as isize).collect();
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let x = if materialized { x.map_blocks(|b, _| Ok(b.to_owned())) } else { x };
        let e = ArrayD::from_shape_fn(IxDyn(&shape), |i| value(i.slice()));
        let pos: Vec<usize> = idx.iter().map(|&i| if i < 0 { (i + n as isize) as usize } else { i as usize }).collect();
        let want = e.select(Axis(axis), &pos);
        prop_assert_eq!(x.take(&idx, axis as isize).compute().unwrap(), want);
    }

    #[test]
    fn mask_matches_a_filter((shape, chunks, _axis) in case(), modulus in 1i64..5, materialized in any::<bool>()) {
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let x = if materialized { x.map_blocks(|b, _| Ok(b.to_owned())) } else { x };
        let m = x.map(move |v| v.rem_euclid(modulus) == 0);
        let e = ArrayD::from_shape_fn(IxDyn(&shape), |i| value(i.slice()));
        let want: Vec<i64> = e.iter().copied().filter(|v| v.rem_euclid(modulus) == 0).collect();
        // Values come in C order within a block and in block order across blocks, as Dask's x[mask].
        let got = x.mask(&m, &Config::default()).unwrap().compute().unwrap();
        let mut got_sorted: Vec<i64> = got.iter().copied().collect();
        let mut want_sorted = want.clone();
        got_sorted.sort_unstable();
        want_sorted.sort_unstable();
        prop_assert_eq!(got_sorted, want_sorted);
        // With one block per array, the order is C order.
        let one = ChunkedArray::from_fn(&shape, &shape, value);
        let m1 = one.map(move |v| v.rem_euclid(modulus) == 0);
        prop_assert_eq!(one.mask(&m1, &Config::default()).unwrap().compute().unwrap().iter().copied().collect::<Vec<_>>(), want);
    }
}

#[test]
fn select_errors() {
    let x = ChunkedArray::<f64>::zeros(&[4, 4], &[2, 2]);
    assert!(x.take(&[-5], 0).check().is_err());
    assert!(x.take(&[0], 2).check().is_err());
    let m = ChunkedArray::<bool>::ones(&[4, 5], &[2, 2]);
    let e = x.mask(&m, &Config::default()).unwrap_err();
    assert!(e.to_string().contains("[4, 4] and [4, 5]"), "{e}");
    // A mask cut differently is aligned; no true value gives an empty array.
    let none = ChunkedArray::<bool>::zeros(&[4, 4], &[3, 1]);
    assert_eq!(x.mask(&none, &Config::default()).unwrap().shape(), &[0]);
}
