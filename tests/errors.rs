//! Errors: every bad input gives the right `Error` variant, with a message naming the
//! operation and the offending values; errors inside user closures stop the run with the
//! block index; the pool stays usable afterwards; build errors propagate through later ops.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayD;
use rask::prelude::*;

/// Asserts that the message of `e` contains every one of `parts`.
fn assert_msg(e: &Error, parts: &[&str]) {
    let s = e.to_string();
    for p in parts {
        assert!(s.contains(p), "message {s:?} does not mention {p:?}");
    }
}

fn build_err<T: Element>(a: &ChunkedArray<T>) -> Error {
    a.check().expect_err("expected a build error")
}

/// The configurations the run-time error tests use (the pool of each must stay usable).
fn configs() -> Vec<Config> {
    vec![
        Config::default(),
        Config::default().threads(1),
        Config::default().threads(3),
    ]
}

/// A computation that must still succeed after a failed run with `cfg`.
fn still_works(cfg: &Config) {
    let x = ChunkedArray::<f64>::ones(&[40, 30], &[7, 9]);
    assert_eq!(x.sum().compute_with(cfg).unwrap(), 1200.0);
    let y = x.map_blocks(|b, _| Ok(b.mapv(|v| v * 2.0)));
    assert_eq!(
        y.sum_axes(&[0]).compute_with(cfg).unwrap(),
        ArrayD::from_elem(vec![30], 80.0)
    );
}

// ---------------------------------------------------------------- chunks

#[test]
fn zero_chunk_size_is_invalid_chunks() {
    let cases: Vec<(&str, Error)> = vec![
        (
            "random",
            build_err(&ChunkedArray::<f64>::random(&[10, 10], &[0, 5])),
        ),
        (
            "random",
            build_err(&ChunkedArray::<f32>::random_seeded(&[10, 10], &[0, 5], 1)),
        ),
        (
            "random_normal",
            build_err(&ChunkedArray::<f64>::random_normal_seeded(
                &[10, 10],
                &[0, 5],
                0.0,
                1.0,
                1,
            )),
        ),
        (
            "zeros",
            build_err(&ChunkedArray::<f64>::zeros(&[10, 10], &[0, 5])),
        ),
        (
            "ones",
            build_err(&ChunkedArray::<i32>::ones(&[10, 10], &[0, 5])),
        ),
        (
            "full",
            build_err(&ChunkedArray::full(&[10, 10], &[0, 5], 1u8)),
        ),
        (
            "from_fn",
            build_err(&ChunkedArray::from_fn(&[10, 10], &[0, 5], |_| 1.0f64)),
        ),
        (
            "from_blocks",
            build_err(&ChunkedArray::<f64>::from_blocks(
                &[10, 10],
                &[0, 5],
                |_| Err(Error::msg("never called")),
            )),
        ),
        (
            "from_ndarray",
            build_err(&ChunkedArray::from_ndarray(
                ArrayD::<f64>::zeros(vec![10, 10]).view(),
                &[0, 5],
            )),
        ),
        (
            "random_distribution",
            build_err(&ChunkedArray::<u64>::random_distribution(
                &[10, 10],
                &[0, 5],
                rand::distr::StandardUniform,
                1,
            )),
        ),
        (
            "rechunk",
            build_err(&ChunkedArray::<f64>::ones(&[10, 10], &[5, 5]).rechunk(&[0, 5])),
        ),
    ];
    for (want_op, e) in cases {
        match &e {
            Error::InvalidChunks {
                op,
                shape,
                chunks,
                reason,
            } => {
                assert_eq!(op, want_op);
                assert_eq!(shape, &vec![10, 10]);
                assert!(chunks.contains("[0, 5]"), "{chunks}");
                assert!(
                    reason.contains("axis 0") && reason.contains('0'),
                    "{reason}"
                );
            }
            other => panic!("{want_op}: expected InvalidChunks, got {other:?}"),
        }
        assert_msg(&e, &[want_op, "[0, 5]", "[10, 10]"]);
    }
    let e = build_err(&ChunkedArray::<i64>::arange(10, 0));
    assert!(
        matches!(&e, Error::InvalidChunks { op, .. } if op == "arange"),
        "{e:?}"
    );
    // A zero chunk on an empty axis is still an error.
    assert!(matches!(
        build_err(&ChunkedArray::<f64>::zeros(&[0, 4], &[0, 2])),
        Error::InvalidChunks { .. }
    ));
}

#[test]
fn more_blocks_than_a_plan_can_number_is_invalid_chunks() {
    // 2^41 one-element blocks; and an empty array whose empty axis still has one (empty)
    // block per chunk of the other axis: 2^45 of them. Both are refused when the grid is
    // built, naming the count, instead of running trillions of tasks.
    for e in [
        build_err(&ChunkedArray::<f64>::zeros(&[1 << 41], &[1])),
        build_err(&ChunkedArray::<u8>::zeros(&[1 << 45, 0], &[1, 1])),
    ] {
        assert!(matches!(e, Error::InvalidChunks { .. }), "{e:?}");
        assert_msg(&e, &["blocks", "1099511627776", "larger chunks"]);
    }
    // At the limit it is fine (2^40 blocks: the plan builds, nothing runs).
    assert!(ChunkedArray::<u8>::zeros(&[1 << 40], &[1]).check().is_ok());
}

#[test]
fn chunk_list_of_wrong_length_is_invalid_chunks() {
    for chunks in [vec![5usize], vec![5, 5, 5], vec![]] {
        let e = build_err(&ChunkedArray::<f64>::ones(&[10, 10], &chunks));
        match &e {
            Error::InvalidChunks {
                op, shape, reason, ..
            } => {
                assert_eq!(op, "ones");
                assert_eq!(shape, &vec![10, 10]);
                assert!(
                    reason.contains(&format!("{} chunk sizes for 2 dimensions", chunks.len())),
                    "{reason}"
                );
            }
            other => panic!("expected InvalidChunks, got {other:?}"),
        }
        assert_msg(&e, &["ones", "[10, 10]", &format!("{chunks:?}")]);
    }
    let e = build_err(&ChunkedArray::<f64>::ones(&[6, 6], &[3, 3]).rechunk(&[3]));
    assert!(
        matches!(&e, Error::InvalidChunks { op, .. } if op == "rechunk"),
        "{e:?}"
    );
    assert!(ChunkGrid::regular(&[4, 4], &[2]).is_err());
    assert!(ChunkGrid::regular(&[4, 4], &[2, 0]).is_err());
}

#[test]
fn explicit_chunk_sizes_must_cover_the_shape() {
    let ok = ChunkGrid::from_chunk_sizes(&[10, 6], &[vec![4, 4, 2], vec![1, 5]]).unwrap();
    assert_eq!(ok.chunk_sizes(0), vec![4, 4, 2]);
    assert_eq!(ok.chunk_sizes(1), vec![1, 5]);
    assert_eq!(ok.num_blocks(), 6);
    assert_eq!(ok.block_shape(&[2, 1]), vec![2, 5]);
    assert_eq!(ok.block_offset(&[2, 1]), vec![8, 1]);

    let e = ChunkGrid::from_chunk_sizes(&[10, 6], &[vec![4, 4], vec![6]]).unwrap_err();
    match &e {
        Error::InvalidChunks {
            op, shape, reason, ..
        } => {
            assert_eq!(op, "chunks");
            assert_eq!(shape, &vec![10, 6]);
            assert!(
                reason.contains("axis 0")
                    && reason.contains("add up to 8")
                    && reason.contains("10"),
                "{reason}"
            );
        }
        other => panic!("expected InvalidChunks, got {other:?}"),
    }
    assert_msg(&e, &["[10, 6]", "[4, 4]", "8", "10"]);
    // too much
    let e = ChunkGrid::from_chunk_sizes(&[10, 6], &[vec![4, 4, 2], vec![4, 4]]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidChunks { reason, .. } if reason.contains("axis 1") && reason.contains("add up to 8")),
        "{e}"
    );
    // a zero chunk
    let e = ChunkGrid::from_chunk_sizes(&[10], &[vec![5, 0, 5]]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidChunks { reason, .. } if reason.contains("is 0")),
        "{e}"
    );
    // the wrong number of axes
    let e = ChunkGrid::from_chunk_sizes(&[10, 6], &[vec![10]]).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidChunks { reason, .. } if reason.contains("1 chunk lists for 2 dimensions")),
        "{e}"
    );
}

// ---------------------------------------------------------------- shapes

#[test]
fn mismatched_shapes_name_both_shapes() {
    let a = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    let b = ChunkedArray::<f64>::ones(&[5], &[5]);
    let c = ChunkedArray::<f64>::ones(&[3, 4], &[2, 2]);
    let cases: Vec<(&str, Error)> = vec![
        ("add", build_err(&(&a + &b))),
        ("sub", build_err(&(&a - &c))),
        ("mul", build_err(&(a.clone() * b.clone()))),
        ("div", build_err(&(&c / &a))),
        ("maximum", build_err(&a.maximum(&b))),
        ("minimum", build_err(&a.minimum(&c))),
    ];
    for (want_op, e) in &cases {
        match e {
            Error::ShapeMismatch {
                op, left, right, ..
            } => {
                assert_eq!(op, want_op);
                assert!(left != right);
                assert!([vec![4, 3], vec![5], vec![3, 4]].contains(left), "{left:?}");
                assert!(
                    [vec![4, 3], vec![5], vec![3, 4]].contains(right),
                    "{right:?}"
                );
            }
            other => panic!("{want_op}: expected ShapeMismatch, got {other:?}"),
        }
    }
    let e = build_err(&(&a + &b));
    assert!(
        matches!(&e, Error::ShapeMismatch { left, right, .. } if left == &vec![4, 3] && right == &vec![5]),
        "{e:?}"
    );
    assert_msg(&e, &["add", "[4, 3]", "[5]"]);
    let e = build_err(&a.gt(&c));
    assert!(
        matches!(&e, Error::ShapeMismatch { op, .. } if op == "gt"),
        "{e:?}"
    );
    assert_msg(&e, &["gt", "[4, 3]", "[3, 4]"]);
    let (p, q) = (a.gt(0.0), c.gt(0.0));
    let e = build_err(&(&p & &q));
    assert!(
        matches!(&e, Error::ShapeMismatch { op, .. } if op == "and"),
        "{e:?}"
    );
    // Broadcasting shapes are fine.
    let row = ChunkedArray::<f64>::ones(&[3], &[2]);
    let col = ChunkedArray::<f64>::ones(&[4, 1], &[3, 1]);
    assert_eq!((&a + &row).shape(), &[4, 3]);
    assert_eq!((&col + &row).shape(), &[4, 3]);
    assert_eq!((&col + &row).sum().compute().unwrap(), 24.0);
}

#[test]
fn where_with_mismatched_shapes() {
    let cond = ChunkedArray::<bool>::ones(&[4, 3], &[2, 2]);
    let a = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    let bad = ChunkedArray::<f64>::ones(&[2, 3], &[2, 2]);
    let e = build_err(&where_(&cond, &a, &bad));
    match &e {
        Error::ShapeMismatch {
            op, left, right, ..
        } => {
            assert_eq!(op, "where");
            assert_eq!(left, &vec![4, 3]);
            assert_eq!(right, &vec![2, 3]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert_msg(&e, &["where", "[4, 3]", "[2, 3]"]);
    let small_cond = ChunkedArray::<bool>::ones(&[5], &[5]);
    let e = build_err(&where_(&small_cond, &a, 0.0));
    assert!(
        matches!(&e, Error::ShapeMismatch { op, .. } if op == "where"),
        "{e:?}"
    );
    assert_msg(&e, &["[5]", "[4, 3]"]);
    // A condition that broadcasts is fine.
    let row = ChunkedArray::<bool>::ones(&[3], &[1]);
    assert_eq!(where_(&row, &a, 0.0).sum().compute().unwrap(), 12.0);
}

// ---------------------------------------------------------------- axes and options

#[test]
fn empty_axis_list_is_invalid_axis() {
    let x = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    let cases: Vec<(&str, Error)> = vec![
        ("sum_axes", build_err(&x.sum_axes(&[]))),
        ("mean_axes", build_err(&x.mean_axes(&[]))),
        ("var_axes", build_err(&x.var_axes(&[], 0.0))),
        ("min_axes", build_err(&x.min_axes(&[]))),
        ("any_axes", build_err(&x.gt(0.0).any_axes(&[]))),
        ("count_nonzero_axes", build_err(&x.count_nonzero_axes(&[]))),
    ];
    for (want_op, e) in cases {
        match &e {
            Error::InvalidAxis {
                op,
                axes,
                ndim,
                reason,
            } => {
                assert_eq!(op, want_op);
                assert!(axes.is_empty());
                assert_eq!(*ndim, 2);
                assert!(reason.contains("empty"), "{reason}");
            }
            other => panic!("{want_op}: expected InvalidAxis, got {other:?}"),
        }
        assert_msg(&e, &[want_op, "[]", "2 dimensions", "empty"]);
    }
}

#[test]
fn axis_out_of_range_is_invalid_axis() {
    let x = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    for (axes, bad) in [
        (vec![2isize], 2isize),
        (vec![0, 7], 7),
        (vec![-3], -3),
        (vec![1, -5], -5),
    ] {
        for (want_op, e) in [
            ("sum_axes", build_err(&x.sum_axes(&axes))),
            (
                "max_axes",
                build_err(&x.max_axes_opt(&axes, &ReduceOpts::default().keepdims(true))),
            ),
            ("std_axes", build_err(&x.std_axes(&axes, 1.0))),
        ] {
            match &e {
                Error::InvalidAxis {
                    op,
                    axes: got,
                    ndim,
                    reason,
                } => {
                    assert_eq!(op, want_op);
                    assert_eq!(got, &axes);
                    assert_eq!(*ndim, 2);
                    assert!(
                        reason.contains(&format!("axis {bad} is out of range")),
                        "{reason}"
                    );
                }
                other => panic!("expected InvalidAxis, got {other:?}"),
            }
            assert_msg(&e, &[want_op, &format!("{axes:?}"), &bad.to_string()]);
        }
    }
    let e = build_err(&x.argmax_axis(2));
    assert!(
        matches!(&e, Error::InvalidAxis { op, axes, .. } if op == "argmax_axis" && axes == &vec![2]),
        "{e:?}"
    );
    let e = build_err(&x.argmin_axis(-3));
    assert!(
        matches!(&e, Error::InvalidAxis { op, axes, .. } if op == "argmin_axis" && axes == &vec![-3]),
        "{e:?}"
    );
    // In range, negative axes are fine.
    assert_eq!(
        x.sum_axes(&[-1]).compute().unwrap(),
        ArrayD::from_elem(vec![4], 3.0)
    );
    assert_eq!(
        x.argmax_axis(-2).compute().unwrap(),
        ArrayD::from_elem(vec![3], 0u64)
    );
}

#[test]
fn repeated_axis_is_invalid_axis() {
    let x = ChunkedArray::<f64>::ones(&[4, 3, 2], &[2, 2, 2]);
    for axes in [vec![1isize, 1], vec![0, -3], vec![2, 0, -1]] {
        let e = build_err(&x.sum_axes(&axes));
        match &e {
            Error::InvalidAxis {
                op,
                axes: got,
                ndim,
                reason,
            } => {
                assert_eq!(op, "sum_axes");
                assert_eq!(got, &axes);
                assert_eq!(*ndim, 3);
                assert!(reason.contains("repeated"), "{reason}");
            }
            other => panic!("expected InvalidAxis, got {other:?}"),
        }
        assert_msg(&e, &["sum_axes", &format!("{axes:?}"), "repeated"]);
    }
}

#[test]
fn split_every_below_two_is_invalid_argument() {
    let x = ChunkedArray::<f64>::ones(&[8, 8], &[2, 2]);
    for n in [0usize, 1] {
        let o = ReduceOpts::default().split_every(n);
        for (want_op, e) in [
            ("sum_axes", build_err(&x.sum_axes_opt(&[0], &o))),
            ("mean_axes", build_err(&x.mean_axes_opt(&[0, 1], &o))),
            ("var_axes", build_err(&x.var_axes_opt(&[1], 0.0, &o))),
        ] {
            match &e {
                Error::InvalidArgument { op, message } => {
                    assert_eq!(op, want_op);
                    assert!(
                        message.contains("split_every") && message.contains(&n.to_string()),
                        "{message}"
                    );
                }
                other => panic!("expected InvalidArgument, got {other:?}"),
            }
        }
    }
    // 2 is the smallest valid fan-in.
    let o = ReduceOpts::default().split_every(2);
    assert_eq!(
        x.sum_axes_opt(&[0, 1], &o).compute().unwrap(),
        ArrayD::from_elem(ndarray::IxDyn(&[]), 64.0)
    );
}

#[test]
fn order_statistics_of_nothing_are_errors() {
    let x = ChunkedArray::<f64>::zeros(&[0, 3], &[2, 2]);
    for (want_op, e) in [
        ("min", x.min().compute().unwrap_err()),
        ("max", x.max().compute().unwrap_err()),
        ("argmin", x.argmin().compute().unwrap_err()),
        ("argmax", x.argmax().compute().unwrap_err()),
        ("min_axes", x.min_axes(&[0]).compute().unwrap_err()),
        ("max_axes", x.max_axes(&[0, 1]).compute().unwrap_err()),
        ("argmax_axis", x.argmax_axis(0).compute().unwrap_err()),
    ] {
        match &e {
            Error::InvalidArgument { op, message } => {
                assert_eq!(op, want_op);
                assert!(
                    message.contains("[0, 3]") && message.contains("zero-size"),
                    "{message}"
                );
            }
            other => panic!("{want_op}: expected InvalidArgument, got {other:?}"),
        }
    }
    assert!(x.nanmin().check().is_err());
    // Reductions with an identity are fine on empty input.
    assert_eq!(x.sum().compute().unwrap(), 0.0);
    assert_eq!(x.prod().compute().unwrap(), 1.0);
    assert!(x.mean().compute().unwrap().is_nan());
    assert!(!x.any().compute().unwrap());
    assert!(x.all().compute().unwrap());
    assert_eq!(x.count_nonzero().compute().unwrap(), 0);
    assert_eq!(
        x.sum_axes(&[0]).compute().unwrap(),
        ArrayD::<f64>::zeros(vec![3])
    );
}

#[test]
fn other_invalid_arguments() {
    for (mean, std) in [(0.0, -1.0), (f64::NAN, 1.0), (0.0, f64::INFINITY)] {
        let e = build_err(&ChunkedArray::<f64>::random_normal_seeded(
            &[4],
            &[2],
            mean,
            std,
            0,
        ));
        assert!(
            matches!(&e, Error::InvalidArgument { op, .. } if op == "random_normal_seeded"),
            "{e:?}"
        );
        assert_msg(&e, &[&std.to_string()]);
    }
    let x = ChunkedArray::<f64>::ones(&[4], &[2]);
    for ddof in [-1.0, f64::NAN] {
        let e = x.var(ddof).check().unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { op, message } if op == "var" && message.contains("ddof")),
            "{e:?}"
        );
        let e = build_err(&x.std_axes(&[0], ddof));
        assert!(
            matches!(&e, Error::InvalidArgument { op, .. } if op == "std_axes"),
            "{e:?}"
        );
    }
    // Asking a computed output for the wrong dtype or shape.
    let out = compute_all(&[&x, &x.sum()]).unwrap();
    let mut it = out.into_iter();
    let first = it.next().unwrap();
    assert_eq!(first.dtype(), DType::F64);
    assert_eq!(first.shape(), &[4]);
    match first.into_array::<f32>().unwrap_err() {
        Error::DType {
            expected, found, ..
        } => {
            assert_eq!(expected, DType::F32);
            assert_eq!(found, DType::F64);
        }
        other => panic!("expected DType, got {other:?}"),
    }
    assert_eq!(it.next().unwrap().into_scalar::<f64>().unwrap(), 4.0);
    let again = compute_all(&[&x]).unwrap().pop().unwrap();
    assert!(matches!(
        again.into_scalar::<f64>(),
        Err(Error::InvalidArgument { .. })
    ));
}

// ---------------------------------------------------------------- errors inside closures

#[test]
fn map_blocks_error_names_the_block() {
    let x = ChunkedArray::<f64>::ones(&[10, 10], &[4, 5]);
    let y = x.map_blocks(|b, idx| {
        if idx == [1, 0] {
            Err(Error::msg(format!("sensor offline in block {idx:?}")))
        } else {
            Ok(b.to_owned())
        }
    });
    y.check()
        .expect("a closure's run-time error is not a build error");
    for cfg in configs() {
        for out in [
            y.compute_with(&cfg).map(|_| ()),
            y.sum().compute_with(&cfg).map(|_| ()),
        ] {
            let e = out.unwrap_err();
            match &e {
                Error::Block { op, block, source } => {
                    assert_eq!(op, "map_blocks");
                    assert_eq!(block, &vec![1, 0]);
                    assert!(
                        matches!(source.as_ref(), Error::User(m) if m == "sensor offline in block [1, 0]"),
                        "{source:?}"
                    );
                }
                other => panic!("expected Block, got {other:?}"),
            }
            assert_msg(&e, &["map_blocks", "[1, 0]", "sensor offline"]);
            assert!(
                std::error::Error::source(&e).is_some(),
                "the closure's error is the source"
            );
            still_works(&cfg);
        }
    }
}

#[test]
fn map_blocks_panic_names_the_block() {
    let x = ChunkedArray::<f64>::ones(&[10, 10], &[4, 5]);
    let y = x.map_blocks(|b, idx| {
        if idx == [2, 1] {
            panic!("boom in block {idx:?}");
        }
        Ok(b.to_owned())
    });
    for cfg in configs() {
        let e = (&y * 2.0).max().compute_with(&cfg).unwrap_err();
        match &e {
            Error::Panicked { op, block, message } => {
                assert_eq!(op, "map_blocks");
                assert_eq!(block, &vec![2, 1]);
                assert_eq!(message, "boom in block [2, 1]");
            }
            other => panic!("expected Panicked, got {other:?}"),
        }
        assert_msg(&e, &["map_blocks", "[2, 1]", "boom"]);
        still_works(&cfg);
        // The same failing plan fails the same way again.
        assert!(matches!(y.compute_with(&cfg), Err(Error::Panicked { .. })));
    }
    // A panic with a static string payload.
    let z = x.map_blocks(|_, _| -> rask::Result<ArrayD<f64>> { panic!("static payload") });
    assert!(
        matches!(z.compute(), Err(Error::Panicked { message, .. }) if message == "static payload")
    );
}

#[test]
fn map_blocks_wrong_shape_is_an_error() {
    let x = ChunkedArray::<f64>::ones(&[10, 10], &[4, 5]);
    let y = x.map_blocks(|b, idx| {
        if idx == [0, 1] {
            Ok(ArrayD::zeros(vec![3, 3]))
        } else {
            Ok(b.to_owned())
        }
    });
    for cfg in configs() {
        let e = y.compute_with(&cfg).unwrap_err();
        match &e {
            Error::Block { op, block, source } => {
                assert_eq!(op, "map_blocks");
                assert_eq!(block, &vec![0, 1]);
                match source.as_ref() {
                    Error::ShapeMismatch { left, right, .. } => {
                        assert_eq!(left, &vec![4, 5]);
                        assert_eq!(right, &vec![3, 3]);
                    }
                    other => panic!("expected a ShapeMismatch source, got {other:?}"),
                }
            }
            other => panic!("expected Block, got {other:?}"),
        }
        assert_msg(&e, &["map_blocks", "[0, 1]", "[4, 5]", "[3, 3]"]);
        still_works(&cfg);
    }
}

#[test]
fn from_blocks_errors_name_the_block() {
    let x = ChunkedArray::<f64>::from_blocks(&[10], &[3], |b| {
        if b == [2] {
            Err(Error::msg("disk read failed"))
        } else {
            Ok(ArrayD::from_elem(vec![if b == [3] { 1 } else { 3 }], 1.0))
        }
    });
    for cfg in configs() {
        let e = x.sum().compute_with(&cfg).unwrap_err();
        match &e {
            Error::Block { op, block, source } => {
                assert_eq!(op, "from_blocks");
                assert_eq!(block, &vec![2]);
                assert!(matches!(source.as_ref(), Error::User(m) if m == "disk read failed"));
            }
            other => panic!("expected Block, got {other:?}"),
        }
        assert_msg(&e, &["from_blocks", "[2]", "disk read failed"]);
        still_works(&cfg);
    }
    // A block of the wrong shape.
    let y = ChunkedArray::<f64>::from_blocks(&[10], &[3], |_| Ok(ArrayD::from_elem(vec![3], 1.0)));
    let e = y.compute().unwrap_err();
    match &e {
        Error::Block { op, block, source } => {
            assert_eq!(op, "from_blocks");
            assert_eq!(block, &vec![3], "only the last block is short");
            assert!(
                matches!(source.as_ref(), Error::ShapeMismatch { left, right, .. } if left == &vec![1] && right == &vec![3])
            );
        }
        other => panic!("expected Block, got {other:?}"),
    }
    // And a panic.
    let z = ChunkedArray::<f64>::from_blocks(&[10], &[3], |b| {
        assert!(b != [1], "no block 1 today");
        Ok(ArrayD::from_elem(vec![if b == [3] { 1 } else { 3 }], 1.0))
    });
    let e = z.compute().unwrap_err();
    assert!(
        matches!(&e, Error::Panicked { op, block, message } if op == "from_blocks" && block == &vec![1] && message.contains("no block 1 today")),
        "{e:?}"
    );
}

#[test]
fn map_closure_panic_names_the_block() {
    // Element (3, 7) holds 37; in chunks of [3, 4] it lies in block [1, 1].
    let x = ChunkedArray::from_fn(&[10, 10], &[3, 4], |i| (i[0] * 10 + i[1]) as f64);
    let y = x.map(|v| {
        if v == 37.0 {
            panic!("cannot map {v}");
        }
        v
    });
    for cfg in configs() {
        for e in [
            y.compute_with(&cfg).unwrap_err(),
            (&y + 1.0).sum().compute_with(&cfg).unwrap_err(),
        ] {
            match &e {
                Error::Panicked { op, block, message } => {
                    assert!(op.contains("map"), "{op}");
                    assert_eq!(block, &vec![1, 1]);
                    assert_eq!(message, "cannot map 37");
                }
                other => panic!("expected Panicked, got {other:?}"),
            }
            assert_msg(&e, &["[1, 1]", "cannot map 37"]);
            still_works(&cfg);
        }
    }
    // The input itself is fine.
    assert_eq!(x.sum().compute().unwrap(), 4950.0);
}

#[test]
fn an_error_stops_the_run() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let x = ChunkedArray::<f64>::from_blocks(&[200], &[2], move |b| {
        c.fetch_add(1, Ordering::SeqCst);
        if b == [0] {
            Err(Error::msg("first block fails"))
        } else {
            Ok(ArrayD::zeros(vec![2]))
        }
    });
    let e = x
        .sum()
        .compute_with(&Config::default().threads(1))
        .unwrap_err();
    assert!(matches!(e, Error::Block { .. }));
    let n = calls.load(Ordering::SeqCst);
    assert!(
        (1..100).contains(&n),
        "{n} of 100 blocks were produced after the first one failed"
    );
}

// ---------------------------------------------------------------- propagation and check

#[test]
fn build_errors_propagate_through_later_ops() {
    let a = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    let b = ChunkedArray::<f64>::ones(&[5], &[5]);
    let bad = &a + &b;
    let original = build_err(&bad).to_string();
    assert!(original.contains("[4, 3]") && original.contains("[5]"));
    let other = ChunkedArray::<f64>::ones(&[7], &[7]);
    let same = |e: Error, what: &str| assert_eq!(e.to_string(), original, "{what}");
    same(
        build_err(&(&bad + &other)),
        "bad + other (which would be a new mismatch)",
    );
    same(build_err(&(&other * &bad)), "other * bad");
    same(build_err(&(&bad - 1.0)), "bad - 1");
    same(build_err(&(2.0 / &bad)), "2 / bad");
    same(build_err(&-&bad), "-bad");
    same(build_err(&bad.abs().sqrt()), "abs, sqrt");
    same(build_err(&bad.gt(0.0).not()), "gt, not");
    same(build_err(&bad.cast::<i32>()), "cast");
    same(build_err(&bad.map(|v| v + 1.0)), "map");
    same(
        build_err(&bad.map_blocks(|v, _| Ok(v.to_owned()))),
        "map_blocks",
    );
    same(build_err(&bad.rechunk(&[0])), "rechunk with invalid chunks");
    same(
        build_err(&bad.sum_axes(&[9])),
        "sum_axes with an invalid axis",
    );
    same(
        build_err(&bad.mean_axes_opt(&[0], &ReduceOpts::default().split_every(1))),
        "invalid split_every",
    );
    same(
        build_err(&where_(&bad.gt(0.0), &a, 0.0)),
        "where with a bad condition",
    );
    same(
        build_err(&where_(&a.gt(0.0), &bad, 0.0)),
        "where with a bad branch",
    );
    same(bad.sum().compute().unwrap_err(), "sum");
    same(bad.compute().unwrap_err(), "compute");
    same(bad.argmax().check().unwrap_err(), "argmax");
    same(
        (&bad.sum() + &a.sum()).compute().unwrap_err(),
        "scalar arithmetic",
    );
    same(compute_all(&[&a, &bad]).unwrap_err(), "compute_all");
    same(
        compute_all(&[&a.sum(), &bad.sum()]).unwrap_err(),
        "compute_all of scalars",
    );
    // The handle still describes itself.
    assert!(format!("{bad:?}").contains("error"));
    assert!(bad.explain().contains("invalid plan"));
    assert!(bad.grid().is_none());
    // Good arrays are unaffected.
    assert_eq!((&a + 1.0).sum().compute().unwrap(), 24.0);
}

#[test]
fn check_does_not_compute() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let x = ChunkedArray::<f64>::from_blocks(&[6, 6], &[3, 3], move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Err(Error::msg("never fine"))
    });
    // A valid plan checks fine, whatever its closures will do when run.
    assert!(x.check().is_ok());
    assert!((&x * 2.0).sum().check().is_ok());
    assert!(
        x.map_blocks(|_, _| -> rask::Result<ArrayD<f64>> { panic!("not run") })
            .check()
            .is_ok()
    );
    // An invalid one reports its error without running anything.
    let bad = &x + &ChunkedArray::<f64>::ones(&[6, 5], &[3, 3]);
    let e = build_err(&bad);
    assert!(
        matches!(&e, Error::ShapeMismatch { left, right, .. } if left == &vec![6, 6] && right == &vec![6, 5]),
        "{e:?}"
    );
    assert!(matches!(bad.compute(), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(
        bad.mean().compute(),
        Err(Error::ShapeMismatch { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no block was produced");
    // Running the valid plan calls the closure and reports its error.
    assert!(matches!(x.sum().compute(), Err(Error::Block { .. })));
    assert!(calls.load(Ordering::SeqCst) > 0);
}

#[test]
fn user_errors_display_their_message() {
    let e = Error::msg("sensor 3 is offline");
    assert!(matches!(&e, Error::User(m) if m == "sensor 3 is offline"));
    assert_eq!(e.to_string(), "sensor 3 is offline");
}

/// A closure may itself compute (a small lookup table, a calibration constant). That must
/// neither deadlock nor disturb the outer run. Run under a watchdog so that a hang fails the
/// test instead of hanging the suite.
#[test]
fn compute_inside_a_closure_does_not_deadlock() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (outer, inner) in [(3usize, 2usize), (4, 1), (4, 4), (2, 2), (1, 3)] {
            for _ in 0..30 {
                let x = ChunkedArray::<f64>::ones(&[8, 8], &[4, 4]);
                let y = x.map_blocks(move |b, _| {
                    let s = ChunkedArray::<f64>::ones(&[10], &[3])
                        .sum()
                        .compute_with(&Config::default().threads(inner))?;
                    Ok(b.mapv(|v| v * s))
                });
                let total = y
                    .sum()
                    .compute_with(&Config::default().threads(outer))
                    .unwrap();
                assert_eq!(total, 640.0);
            }
            tx.send((outer, inner)).unwrap();
        }
    });
    for _ in 0..5 {
        let r = rx.recv_timeout(std::time::Duration::from_secs(30));
        assert!(
            r.is_ok(),
            "a compute inside a map_blocks closure hung (no progress in 30 s)"
        );
    }
}
