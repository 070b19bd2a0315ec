//! Linear algebra (`matmul`, `dot`, `tensordot`, `outer`) against ndarray on random shapes and
//! chunkings: f64 within a relative 1e-9, integers exactly (wrapping).

use ndarray::{Array2, ArrayD, Axis, Dimension, Ix1, Ix2, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

fn f64_data(shape: &[usize], seed: u64) -> ArrayD<f64> {
    ArrayD::from_shape_fn(IxDyn(shape), |i| {
        let h = i
            .slice()
            .iter()
            .fold(seed.wrapping_mul(0x9E37_79B9) + 11, |a, &x| {
                a.wrapping_mul(6364136223846793005)
                    .wrapping_add(x as u64 + 1442695040888963407)
            });
        ((h >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    })
}

fn i64_data(shape: &[usize], seed: i64) -> ArrayD<i64> {
    ArrayD::from_shape_fn(IxDyn(shape), |i| {
        i.slice()
            .iter()
            .fold(seed, |a, &x| (a * 31 + x as i64 + 7) % 23 - 11)
    })
}

fn lazy<T: Element>(a: &ArrayD<T>, chunks: &[usize], materialized: bool) -> ChunkedArray<T> {
    let x = ChunkedArray::from_ndarray(a.view(), chunks);
    if materialized {
        x.map_blocks(|b, _| Ok(b.to_owned()))
    } else {
        x
    }
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>) {
    assert_eq!(got.shape(), want.shape());
    for (g, w) in got.iter().zip(want) {
        let tol = 1e-9 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "got {g}, want {w}");
    }
}

fn mm<T: ndarray::LinalgScalar>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    let a2 = a.view().into_dimensionality::<Ix2>().unwrap();
    let b2 = b.view().into_dimensionality::<Ix2>().unwrap();
    a2.dot(&b2).into_dyn()
}

/// Exact wrapping integer matrix product.
fn mm_wrapping(a: &ArrayD<i64>, b: &ArrayD<i64>) -> ArrayD<i64> {
    let a2 = a.view().into_dimensionality::<Ix2>().unwrap();
    let b2 = b.view().into_dimensionality::<Ix2>().unwrap();
    let (m, k) = a2.dim();
    let n = b2.ncols();
    Array2::from_shape_fn((m, n), |(i, j)| {
        (0..k).fold(0i64, |s, t| {
            s.wrapping_add(a2[[i, t]].wrapping_mul(b2[[t, j]]))
        })
    })
    .into_dyn()
}

/// `(m, k, n)` and chunks for A (`ca0`, `ca1`) and B (`cb0`, `cb1`).
fn mm_case() -> impl Strategy<Value = ((usize, usize, usize), [usize; 4])> {
    (1usize..12, 1usize..12, 1usize..12).prop_flat_map(|(m, k, n)| {
        (
            Just((m, k, n)),
            [1..=m + 1, 1..=k + 1, 1..=k + 1, 1..=n + 1],
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matmul_f64_matches_ndarray(
        ((m, k, n), [ca0, ca1, cb0, cb1]) in mm_case(),
        seed in 0u64..1000,
        materialized in any::<bool>(),
    ) {
        let a = f64_data(&[m, k], seed);
        let b = f64_data(&[k, n], seed + 1);
        let c = lazy(&a, &[ca0, ca1], materialized).matmul(&lazy(&b, &[cb0, cb1], materialized));
        prop_assert_eq!(c.shape(), &[m, n]);
        prop_assert_eq!(c.chunks(), vec![ca0.min(m), cb1.min(n)]);
        assert_close(&c.compute()?, &mm(&a, &b));
    }

    #[test]
    fn matmul_i64_is_exact(
        ((m, k, n), [ca0, ca1, cb0, cb1]) in mm_case(),
        seed in 0i64..1000,
    ) {
        let a = i64_data(&[m, k], seed);
        let b = i64_data(&[k, n], seed + 1);
        let c = lazy(&a, &[ca0, ca1], false).matmul(&lazy(&b, &[cb0, cb1], true));
        prop_assert_eq!(c.compute()?, mm_wrapping(&a, &b));
    }

    #[test]
    fn dot_with_vectors_matches_ndarray(
        (m, k) in (1usize..15, 1usize..15),
        (c0, c1, cv) in (1usize..8, 1usize..8, 1usize..8),
        seed in 0u64..1000,
    ) {
        let a = f64_data(&[m, k], seed);
        let v = f64_data(&[k], seed + 1);
        let w = f64_data(&[m], seed + 2);
        let (la, lv, lw) = (lazy(&a, &[c0, c1], false), lazy(&v, &[cv], false), lazy(&w, &[cv], true));
        let a2 = a.view().into_dimensionality::<Ix2>().unwrap();
        let v1 = v.view().into_dimensionality::<Ix1>().unwrap();
        let w1 = w.view().into_dimensionality::<Ix1>().unwrap();
        // matrix · vector, vector · matrix, vector · vector (0-d).
        assert_close(&la.dot(&lv).compute()?, &a2.dot(&v1).into_dyn());
        assert_close(&lw.matmul(&la).compute()?, &w1.dot(&a2).into_dyn());
        let inner = lv.dot(&lv);
        prop_assert_eq!(inner.shape(), &[] as &[usize]);
        assert_close(&inner.compute()?, &ndarray::arr0(v1.dot(&v1)).into_dyn());
    }

    #[test]
    fn tensordot_matches_a_loop(
        (s0, s1, s2, t2) in (1usize..5, 1usize..5, 1usize..5, 1usize..4),
        chunks in prop::collection::vec(1usize..4, 6),
        swap in any::<bool>(),
        seed in 0i64..100,
    ) {
        // a: [s0, s1, s2], b: [s1, t2, s0] (or [s0, t2, s1]); contract a's axes 0 and 1.
        let a = i64_data(&[s0, s1, s2], seed);
        let bshape = if swap { [s0, t2, s1] } else { [s1, t2, s0] };
        let b = i64_data(&bshape, seed + 3);
        let la = lazy(&a, &chunks[..3], false);
        let lb = lazy(&b, &chunks[3..], true);
        let (axes_a, axes_b): (&[isize], &[isize]) =
            if swap { (&[0, 1], &[0, -1]) } else { (&[1, 0], &[0, 2]) };
        let got = rask::tensordot(&la, &lb, axes_a, axes_b).compute()?;
        prop_assert_eq!(got.shape(), &[s2, t2]);
        for i in 0..s2 {
            for j in 0..t2 {
                let mut want = 0i64;
                for p in 0..s0 {
                    for q in 0..s1 {
                        let bv = if swap { b[[p, j, q]] } else { b[[q, j, p]] };
                        want += a[[p, q, i]] * bv;
                    }
                }
                prop_assert_eq!(got[[i, j]], want);
            }
        }
    }
}

#[test]
fn mismatched_inner_chunks_are_rechunked() {
    let a = f64_data(&[7, 10], 1);
    let b = f64_data(&[10, 6], 2);
    // Inner chunks 3 (A) against 4 (B), and irregular ones from a concatenation.
    let la = lazy(&a, &[2, 3], false);
    let lb = lazy(&b, &[4, 5], false);
    assert_close(&la.matmul(&lb).compute().unwrap(), &mm(&a, &b));
    let parts = rask::concatenate(
        &[
            &lazy(
                &b.slice_axis(Axis(0), (0..1).into()).to_owned(),
                &[1, 6],
                true,
            ),
            &lazy(
                &b.slice_axis(Axis(0), (1..10).into()).to_owned(),
                &[9, 2],
                true,
            ),
        ],
        0,
    );
    assert_close(&la.matmul(&parts).compute().unwrap(), &mm(&a, &b));
    assert_close(
        &parts.t().matmul(&la.t()).compute().unwrap(),
        &mm(&a, &b).t().to_owned(),
    );
    let plan = la.matmul(&lazy(&b, &[4, 5], true)).explain();
    assert!(plan.contains("rechunk"), "{plan}");
}

#[test]
fn f32_and_small_ints() {
    let a = ChunkedArray::from_fn(&[9, 13], &[4, 5], |i| {
        (i[0] as f32 - 4.0) * 0.5 + i[1] as f32
    });
    let b = ChunkedArray::from_fn(&[13, 5], &[6, 2], |i| i[0] as f32 - i[1] as f32 * 0.25);
    let got = a.matmul(&b).compute().unwrap();
    let want = mm(&a.compute().unwrap(), &b.compute().unwrap());
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{g} vs {w}");
    }
    // u8 wraps.
    let x = ChunkedArray::<u8>::full(&[3, 20], &[2, 7], 200);
    let y = ChunkedArray::<u8>::full(&[20, 2], &[7, 1], 3);
    let want = (0..20).fold(0u8, |s, _| s.wrapping_add(200u8.wrapping_mul(3)));
    assert!(x.matmul(&y).compute().unwrap().iter().all(|&v| v == want));
}

#[test]
fn batched_matmul_broadcasts_like_numpy() {
    // [2, 1, 3, 4] @ [3, 4, 5] -> [2, 3, 3, 5]
    let a = i64_data(&[2, 1, 3, 4], 5);
    let b = i64_data(&[3, 4, 5], 6);
    let c = lazy(&a, &[1, 1, 2, 3], false)
        .matmul(&lazy(&b, &[2, 2, 2], true))
        .compute()
        .unwrap();
    assert_eq!(c.shape(), &[2, 3, 3, 5]);
    for i in 0..2 {
        for j in 0..3 {
            let ai = a.slice(ndarray::s![i, 0, .., ..]).to_owned().into_dyn();
            let bj = b.slice(ndarray::s![j, .., ..]).to_owned().into_dyn();
            assert_eq!(
                c.slice(ndarray::s![i, j, .., ..]).to_owned().into_dyn(),
                mm(&ai, &bj)
            );
        }
    }
    // A vector against a stack of matrices: [4] @ [3, 4, 5] -> [3, 5].
    let v = i64_data(&[4], 9);
    let d = lazy(&v, &[3], false)
        .matmul(&lazy(&b, &[1, 4, 2], false))
        .compute()
        .unwrap();
    assert_eq!(d.shape(), &[3, 5]);
    for j in 0..3 {
        let bj = b
            .slice(ndarray::s![j, .., ..])
            .into_dimensionality::<Ix2>()
            .unwrap();
        let vv = v.view().into_dimensionality::<Ix1>().unwrap();
        assert_eq!(d.index_axis(Axis(0), j).to_owned(), vv.dot(&bj).into_dyn());
    }
}

#[test]
fn dot_of_nd_arrays_follows_numpy() {
    // dot(a[2, 3, 4], b[5, 4, 6]) has shape [2, 3, 5, 6].
    let a = i64_data(&[2, 3, 4], 1);
    let b = i64_data(&[5, 4, 6], 2);
    let c = lazy(&a, &[1, 2, 3], false)
        .dot(&lazy(&b, &[2, 4, 4], false))
        .compute()
        .unwrap();
    assert_eq!(c.shape(), &[2, 3, 5, 6]);
    for (idx, &v) in c.indexed_iter() {
        let (i, j, k, m) = (idx[0], idx[1], idx[2], idx[3]);
        let want: i64 = (0..4).map(|t| a[[i, j, t]] * b[[k, t, m]]).sum();
        assert_eq!(v, want);
    }
    // A scalar multiplies.
    let s = ChunkedArray::<i64>::full(&[], &[], 3);
    let x = ChunkedArray::<i64>::arange(4, 3);
    assert_eq!(
        s.dot(&x).compute().unwrap().as_slice().unwrap(),
        &[0, 3, 6, 9]
    );
}

#[test]
fn outer_and_empty_contractions() {
    let a = ChunkedArray::<f64>::arange(5, 2);
    let b = ChunkedArray::<f64>::arange(3, 2) + 1.0;
    let o = rask::outer(&a, &b).compute().unwrap();
    assert_eq!(o.shape(), &[5, 3]);
    assert_eq!(o[[4, 2]], 12.0);
    // tensordot with no axes is the outer product too, of any dimensions.
    let t = rask::tensordot(&a, &b.expand_dims(0), &[], &[]);
    assert_eq!(t.shape(), &[5, 1, 3]);
    assert_eq!(t.compute().unwrap()[[4, 0, 2]], 12.0);
    // Zero-length axes: an empty inner axis gives zeros.
    let z = ChunkedArray::<f64>::ones(&[3, 0], &[2, 1])
        .matmul(&ChunkedArray::<f64>::ones(&[0, 4], &[1, 3]))
        .compute()
        .unwrap();
    assert_eq!(z, ArrayD::<f64>::zeros(IxDyn(&[3, 4])));
    let zi = ChunkedArray::<i32>::ones(&[0, 5], &[1, 2])
        .matmul(&ChunkedArray::<i32>::ones(&[5, 2], &[2, 2]))
        .compute()
        .unwrap();
    assert_eq!(zi.shape(), &[0, 2]);
}

#[test]
fn shape_errors_name_the_op_and_both_shapes() {
    let a = ChunkedArray::<f64>::ones(&[4, 3], &[2, 2]);
    let b = ChunkedArray::<f64>::ones(&[4, 5], &[2, 2]);
    let e = a.matmul(&b).check().unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("matmul") && msg.contains("[4, 3] and [4, 5]"),
        "{msg}"
    );
    let msg = a.dot(&b).check().unwrap_err().to_string();
    assert!(
        msg.starts_with("dot") && msg.contains("[4, 3] and [4, 5]"),
        "{msg}"
    );
    let s = ChunkedArray::<f64>::full(&[], &[], 2.0);
    let msg = s.matmul(&a).check().unwrap_err().to_string();
    assert!(
        msg.contains("matmul") && msg.contains("[] and [4, 3]"),
        "{msg}"
    );
    // Batch axes that do not broadcast.
    let x = ChunkedArray::<f64>::ones(&[2, 4, 3], &[1, 2, 2]);
    let y = ChunkedArray::<f64>::ones(&[3, 3, 5], &[1, 2, 2]);
    let msg = x.matmul(&y).check().unwrap_err().to_string();
    assert!(msg.contains("[2, 4, 3] and [3, 3, 5]"), "{msg}");
    // tensordot: unequal axis counts, bad axes, lengths.
    let msg = rask::tensordot(&a, &b, &[0], &[0, 1])
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("tensordot") && msg.contains("[4, 3] and [4, 5]"),
        "{msg}"
    );
    let e = rask::tensordot(&a, &b, &[2], &[0]).check().unwrap_err();
    assert!(matches!(e, Error::InvalidAxis { .. }), "{e:?}");
    let e = rask::tensordot(&a, &b, &[0, 0], &[0, 1])
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("repeated"), "{e}");
    let msg = rask::tensordot(&a, &b, &[1], &[1])
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("[4, 3] and [4, 5]") && msg.contains("length 3"),
        "{msg}"
    );
    let msg = rask::outer(&a, &b).check().unwrap_err().to_string();
    assert!(
        msg.starts_with("outer") && msg.contains("[4, 3] and [4, 5]"),
        "{msg}"
    );
    // An error already in an operand is carried on.
    let bad = &a + &ChunkedArray::<f64>::ones(&[7], &[7]);
    assert!(
        bad.matmul(&b)
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("add")
    );
    assert!(
        a.dot(&bad)
            .check()
            .unwrap_err()
            .to_string()
            .starts_with("add")
    );
}

#[test]
fn results_do_not_depend_on_threads() {
    let a = ChunkedArray::<f64>::random_seeded(&[90, 130], &[20, 10], 3);
    let b = ChunkedArray::<f64>::random_seeded(&[130, 70], &[10, 30], 4);
    let c = a.matmul(&b);
    let one = c.compute_with(&Config::default().threads(1)).unwrap();
    let four = c.compute_with(&Config::default().threads(4)).unwrap();
    assert_eq!(one, four);
}

#[test]
fn partial_products_hold_a_bounded_number_of_blocks() {
    // 8 x 8 blocks of 64 x 64 on both sides: 512 partial products, summed 8 per output block.
    let (n, c) = (512, 64);
    let a = ChunkedArray::<f64>::random_seeded(&[n, n], &[c, c], 1);
    let b = ChunkedArray::<f64>::random_seeded(&[n, n], &[c, c], 2);
    let block = c * c * 8;
    let n3 = (n * n * n) as f64;
    // Every row of output blocks reads all 64 blocks of B (as in Dask) and a row of 8 blocks of
    // A; besides those only a few partial products wait for their sum. Holding the partials of
    // a row of output blocks (64) or all 512 of them would exceed these bounds.
    for (threads, bound) in [(1, 64 + 8 + 8), (2, 64 + 16 + 40)] {
        let (out, stats) = a
            .matmul(&b)
            .compute_with_stats(&Config::default().threads(threads))
            .unwrap();
        let s = out.sum();
        assert!((s - n3 / 4.0).abs() < 0.01 * n3, "{s}");
        assert!(
            stats.peak_block_bytes <= bound * block,
            "{threads} threads: peak {} B = {} blocks",
            stats.peak_block_bytes,
            stats.peak_block_bytes / block
        );
    }
}

/// `(a @ a).sum()` for a random 4000 x 4000 f64 array in 1000 x 1000 chunks, against ndarray's
/// single `dot`. Run by hand: `cargo test --release --test linalg -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_matmul_4000() {
    let a = ChunkedArray::<f64>::random(&[4000, 4000], &[1000, 1000]);
    let cfg = Config::default();
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let (s, stats) = a.matmul(&a).sum().compute_with_stats(&cfg).unwrap();
        println!(
            "rask (a @ a).sum() = {s:.10e}: {:.3} s, {} tasks, peak {} MB",
            t.elapsed().as_secs_f64(),
            stats.tasks,
            stats.peak_block_bytes >> 20
        );
    }
    let e = a.compute().unwrap().into_dimensionality::<Ix2>().unwrap();
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let s = e.dot(&e).sum();
        println!(
            "ndarray a.dot(&a).sum() = {s:.10e}: {:.3} s",
            t.elapsed().as_secs_f64()
        );
    }
}
