//! Views (slices with steps, flips, indices, new axes, transposes, broadcasts) against ndarray,
//! on random shapes and chunkings, read both from generators and from materialized blocks.

use ndarray::{ArrayD, Dimension, IxDyn, SliceInfoElem};
use proptest::prelude::*;
use rask::prelude::*;

/// A shape of 1-3 axes with a chunking.
fn shape_and_chunks() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    prop::collection::vec(1usize..9, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n + 1).collect();
        (Just(shape), chunks)
    })
}

/// One slice element valid for an axis of length `len`.
fn slice_elem(len: usize) -> impl Strategy<Value = SliceInfoElem> {
    let l = len as isize;
    prop_oneof![
        (0..l, -3isize..=3).prop_map(move |(i, s)| {
            // Sometimes negative indices.
            let start = if s == 0 { i - l } else { i };
            SliceInfoElem::Slice {
                start,
                end: None,
                step: if s == 0 { 1 } else { s },
            }
        }),
        (
            0..=l,
            0..=l,
            prop_oneof![Just(1isize), Just(2), Just(-1), Just(-2), Just(3)]
        )
            .prop_map(|(a, b, step)| SliceInfoElem::Slice {
                start: a.min(b),
                end: Some(a.max(b)),
                step
            }),
        (0..l).prop_map(move |i| SliceInfoElem::Index(if i % 2 == 0 { i } else { i - l })),
    ]
}

fn slice_for(shape: Vec<usize>) -> impl Strategy<Value = Vec<SliceInfoElem>> {
    let elems: Vec<_> = shape.iter().map(|&n| slice_elem(n)).collect();
    (elems, any::<bool>()).prop_map(|(mut v, new_axis)| {
        if new_axis {
            v.insert(v.len() / 2, SliceInfoElem::NewAxis);
        }
        v
    })
}

fn eager(shape: &[usize]) -> ArrayD<i64> {
    ArrayD::from_shape_fn(IxDyn(shape), |i| {
        i.slice().iter().fold(7i64, |a, &x| a * 31 + x as i64)
    })
}

fn lazy(shape: &[usize], chunks: &[usize], materialized: bool) -> ChunkedArray<i64> {
    let x = ChunkedArray::from_fn(shape, chunks, |i| {
        i.iter().fold(7i64, |a, &x| a * 31 + x as i64)
    });
    if materialized {
        x.map_blocks(|b, _| Ok(b.to_owned()))
    } else {
        x
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn slices_match_ndarray(
        (shape, chunks, info) in shape_and_chunks().prop_flat_map(|(s, c)| {
            let s2 = s.clone();
            (Just(s), Just(c), slice_for(s2))
        }),
        materialized in any::<bool>(),
    ) {
        let want = eager(&shape).slice(info.as_slice()).to_owned();
        let x = lazy(&shape, &chunks, materialized);
        let y = x.slice(&info);
        prop_assert_eq!(y.shape(), want.shape());
        prop_assert_eq!(y.compute().unwrap(), want.clone());
        // Reductions read views without materializing them.
        let s: i64 = want.iter().copied().fold(0i64, i64::wrapping_add);
        prop_assert_eq!(y.sum().compute().unwrap(), s);
        // A view of a view, then a transpose.
        let nd = want.ndim();
        let again: Vec<SliceInfoElem> = (0..nd).map(|_| SliceInfoElem::Slice { start: 0, end: None, step: -1 }).collect();
        let want2 = want.slice(again.as_slice()).to_owned();
        prop_assert_eq!(y.slice(&again).compute().unwrap(), want2.clone());
        prop_assert_eq!(y.slice(&again).t().compute().unwrap(), want2.t().to_owned());
    }

    #[test]
    fn views_combine_in_elementwise_ops(
        (shape, chunks) in shape_and_chunks(),
        materialized in any::<bool>(),
    ) {
        let x = lazy(&shape, &chunks, materialized);
        let e = eager(&shape);
        let flipped = x.flip(0);
        let mut want_f = e.clone();
        want_f.invert_axis(ndarray::Axis(0));
        // Flipped against unflipped, chunked differently along axis 0 when the last chunk is short.
        prop_assert_eq!((&flipped - &x).compute().unwrap(), &want_f - &e);
        // A broadcast row.
        let row = x.slice([SliceInfoElem::Index(0)].as_slice());
        let want_row = e.index_axis(ndarray::Axis(0), 0).to_owned();
        prop_assert_eq!((&x - &row).compute().unwrap(), &e - &want_row);
        let b = row.broadcast_to(&shape);
        prop_assert_eq!(b.compute().unwrap(), want_row.broadcast(IxDyn(&shape)).unwrap().to_owned());
    }
}

#[test]
fn slice_errors_name_the_problem() {
    let x = ChunkedArray::<f64>::zeros(&[4, 5], &[2, 2]);
    let e = x
        .slice([SliceInfoElem::Index(4)].as_slice())
        .check()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("index 4 is out of range for axis 0 of length 4"),
        "{e}"
    );
    let e = x
        .slice(
            [SliceInfoElem::Slice {
                start: 0,
                end: Some(9),
                step: 1,
            }]
            .as_slice(),
        )
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("out of range for axis 0"), "{e}");
    let e = x
        .slice(
            [SliceInfoElem::Slice {
                start: 0,
                end: None,
                step: 0,
            }]
            .as_slice(),
        )
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("step 0"), "{e}");
    let three = [
        SliceInfoElem::Index(0),
        SliceInfoElem::Index(0),
        SliceInfoElem::Index(0),
    ];
    assert!(x.slice(three.as_slice()).check().is_err());
    assert!(x.blocks(&[2, 0]).check().is_err());
    assert!(x.flip(2).check().is_err());
}

#[test]
fn sliced_grids_keep_input_blocks() {
    let x = ChunkedArray::<f64>::random(&[100], &[30]);
    // Elements 5, 8, ..., 98: blocks [0,30) [30,60) [60,90) [90,100) hold 9, 10, 10 and 3.
    let y = x.slice(
        [SliceInfoElem::Slice {
            start: 5,
            end: None,
            step: 3,
        }]
        .as_slice(),
    );
    assert_eq!(y.grid().unwrap().chunk_sizes(0), vec![9, 10, 10, 3]);
    let xs = x.compute().unwrap();
    let ys = y.compute().unwrap();
    for (o, v) in ys.iter().enumerate() {
        assert_eq!(*v, xs[5 + 3 * o]);
    }
}

/// The index NumPy's pad reads for output position `o` of an axis of length `n` padded by
/// `before`, or `None` for a constant.
fn pad_source(o: usize, n: usize, before: usize, mode: u8) -> Option<usize> {
    let i = o as isize - before as isize;
    let n = n as isize;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    match mode {
        0 => None,
        1 => Some(i.clamp(0, n - 1) as usize),
        2 => Some(if i < 0 { -i } else { 2 * (n - 1) - i } as usize),
        3 => Some(if i < 0 { -i - 1 } else { 2 * n - 1 - i } as usize),
        _ => Some(i.rem_euclid(n) as usize),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn concatenate_and_stack_match_ndarray(
        (shape, chunks) in shape_and_chunks(),
        extra in 0usize..5,
        chunk2 in 1usize..4,
        axis_pick in 0usize..3,
        materialized in any::<bool>(),
    ) {
        let k = axis_pick % shape.len();
        let x = lazy(&shape, &chunks, materialized);
        let mut shape2 = shape.clone();
        shape2[k] = extra;
        let mut chunks2 = shape2.iter().map(|&n| n.max(1)).collect::<Vec<_>>();
        chunks2[k] = chunk2;
        let y = ChunkedArray::<i64>::from_fn(&shape2, &chunks2, |i| i.iter().sum::<usize>() as i64 - 100);
        let (ex, ey) = (eager(&shape), y.compute().unwrap());
        let c = rask::concatenate(&[&x, &y, &x], k as isize);
        let want = ndarray::concatenate(ndarray::Axis(k), &[ex.view(), ey.view(), ex.view()]).unwrap();
        prop_assert_eq!(c.compute().unwrap(), want);
        let s = rask::stack(&[&x, &(&x * 2)], k as isize);
        let want = ndarray::stack(ndarray::Axis(k), &[ex.view(), (&ex * 2).view()]).unwrap();
        prop_assert_eq!(s.compute().unwrap(), want);
    }

    #[test]
    fn pad_and_roll_match_numpy(
        (shape, chunks) in shape_and_chunks(),
        widths in prop::collection::vec((0usize..4, 0usize..4), 3),
        mode in 0u8..5,
        shift in -10isize..10,
        materialized in any::<bool>(),
    ) {
        let nd = shape.len();
        let x = lazy(&shape, &chunks, materialized);
        let ex = eager(&shape);
        let widths: Vec<(usize, usize)> = widths[..nd]
            .iter()
            .zip(&shape)
            .map(|(&(b, a), &n)| match mode {
                2 => (b.min(n - 1), a.min(n - 1)),
                3 | 4 => (b.min(n), a.min(n)),
                _ => (b, a),
            })
            .collect();
        let pm = match mode {
            0 => rask::PadMode::Constant(-1),
            1 => rask::PadMode::Edge,
            2 => rask::PadMode::Reflect,
            3 => rask::PadMode::Symmetric,
            _ => rask::PadMode::Wrap,
        };
        let got = x.pad(&widths, pm).compute().unwrap();
        let out_shape: Vec<usize> = shape.iter().zip(&widths).map(|(&n, &(b, a))| n + b + a).collect();
        let want = ArrayD::from_shape_fn(IxDyn(&out_shape), |o| {
            let src: Option<Vec<usize>> = (0..nd).map(|j| pad_source(o[j], shape[j], widths[j].0, mode)).collect();
            src.map_or(-1, |s| ex[IxDyn(&s)])
        });
        prop_assert_eq!(got, want);
        let k = nd - 1;
        let n = shape[k] as isize;
        let rolled = x.roll(shift, k as isize).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |o| {
            let mut s = o.slice().to_vec();
            s[k] = ((o[k] as isize - shift).rem_euclid(n)) as usize;
            ex[IxDyn(&s)]
        });
        prop_assert_eq!(rolled, want);
    }
}

#[test]
fn concatenate_errors_name_the_shapes() {
    let a = ChunkedArray::<f64>::zeros(&[2, 3], &[1, 3]);
    let b = ChunkedArray::<f64>::zeros(&[2, 4], &[1, 4]);
    let e = rask::concatenate(&[&a, &b], 0).check().unwrap_err();
    assert!(e.to_string().contains("[2, 3] and [2, 4]"), "{e}");
    assert!(rask::concatenate(&[&a, &b], 1).check().is_ok());
    assert!(rask::concatenate::<f64>(&[], 0).check().is_err());
    assert!(rask::concatenate(&[&a, &a], 2).check().is_err());
    assert!(rask::stack(&[&a, &b], 0).check().is_err());
    let r = a
        .pad(&[(3, 0), (0, 0)], rask::PadMode::Reflect)
        .check()
        .unwrap_err();
    assert!(r.to_string().contains("reflect padding"), "{r}");
    assert!(a.pad(&[(1, 1)], rask::PadMode::Edge).check().is_err());
}

/// A random factorization of `n` into 1-4 factors (with some 1s).
fn factorize(mut n: usize, seeds: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for &s in seeds {
        let divisors: Vec<usize> = (1..=n).filter(|d| n.is_multiple_of(*d)).collect();
        let d = divisors[s as usize % divisors.len()];
        out.push(d);
        n /= d;
    }
    out.push(n);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn reshape_matches_ndarray(
        (shape, chunks) in shape_and_chunks(),
        seeds in prop::collection::vec(any::<u8>(), 0..3),
        materialized in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let to = factorize(n, &seeds);
        let x = lazy(&shape, &chunks, materialized);
        let want = eager(&shape).into_shape_with_order(IxDyn(&to)).unwrap();
        let y = x.reshape(&to);
        prop_assert_eq!(y.shape(), want.shape());
        prop_assert_eq!(y.compute().unwrap(), want.clone());
        // And back.
        prop_assert_eq!(y.reshape(&shape).compute().unwrap(), eager(&shape));
    }
}
