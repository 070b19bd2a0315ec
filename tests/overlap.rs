//! map_overlap and the focal filters against an eager reference, for every boundary mode, on
//! random shapes and chunkings; memory stays at a few blocks.

use ndarray::{ArrayD, Dimension, IxDyn};
use proptest::prelude::*;
use rask::prelude::*;

/// Source index of halo position `i` (may be outside `0..n`) for a boundary, or `None` for a
/// constant.
fn source(i: isize, n: isize, mode: u8) -> Option<isize> {
    if (0..n).contains(&i) {
        return Some(i);
    }
    match mode {
        0 => Some(if i < 0 { -i - 1 } else { 2 * n - 1 - i }), // reflect (edge repeated)
        1 => Some(i.clamp(0, n - 1)),                          // nearest
        2 => Some(i.rem_euclid(n)),                            // periodic
        _ => None,                                             // constant
    }
}

fn boundary(mode: u8) -> Boundary<f64> {
    match mode {
        0 => Boundary::Reflect,
        1 => Boundary::Nearest,
        2 => Boundary::Periodic,
        _ => Boundary::Constant(-7.0),
    }
}

fn value(i: &[usize]) -> f64 {
    i.iter().fold(1.0, |a, &x| a * 3.7 + x as f64)
}

/// Shape, chunks (each at least the depth), depth.
fn case() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec((2usize..10, 0usize..3), 1..4).prop_flat_map(|axes| {
        let shape: Vec<usize> = axes.iter().map(|a| a.0).collect();
        let depth: Vec<usize> = axes.iter().map(|a| a.1.min(a.0)).collect();
        let chunks: Vec<_> = axes.iter().map(|&(n, d)| d.clamp(1, n)..=n).collect();
        (Just(shape), chunks, Just(depth))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn halos_hold_the_neighbours_and_the_boundary((shape, chunks, depth) in case(), mode in 0u8..4, materialized in any::<bool>()) {
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let x = if materialized { x.map_blocks(|b, _| Ok(b.to_owned())) } else { x };
        let grid = x.grid().unwrap().clone();
        let depth2 = depth.clone();
        let shape2 = shape.clone();
        // Each block checks its own halo against the reference and returns it (trimmed after).
        let y = x.map_overlap(&depth, boundary(mode), move |h, b| {
            let off = grid.block_offset(b);
            for (i, v) in h.indexed_iter() {
                let want: Option<Vec<isize>> = (0..i.ndim())
                    .map(|k| source(off[k] as isize - depth2[k] as isize + i[k] as isize, shape2[k] as isize, mode))
                    .collect();
                let want = want.map_or(-7.0, |s| value(&s.iter().map(|&c| c as usize).collect::<Vec<_>>()));
                if *v != want {
                    return Err(rask::Error::msg(format!("block {b:?} halo {:?}: {v} != {want}", i.slice())));
                }
            }
            Ok(h.to_owned())
        });
        let got = y.compute();
        prop_assert!(got.is_ok(), "{:?}", got.err());
        prop_assert_eq!(got.unwrap(), ArrayD::from_shape_fn(IxDyn(&shape), |i| value(i.slice())));
    }

    #[test]
    fn focal_filters_match_a_padded_reference((shape, chunks, _d) in case(), mode in 0u8..4) {
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let nd = shape.len();
        let window = |i: &[usize], f: &dyn Fn(f64, f64) -> f64, init: f64| -> f64 {
            let mut acc = init;
            let mut off = vec![0isize; nd];
            loop {
                let s: Option<Vec<usize>> = (0..nd)
                    .map(|k| source(i[k] as isize + off[k] - 1, shape[k] as isize, mode).map(|c| c as usize))
                    .collect();
                acc = f(acc, s.map_or(-7.0, |s| value(&s)));
                let mut k = nd;
                loop {
                    if k == 0 { return acc; }
                    k -= 1;
                    off[k] += 1;
                    if off[k] < 3 { break; }
                    off[k] = 0;
                }
            }
        };
        let mean = x.focal_mean(3, boundary(mode)).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| window(i.slice(), &|a, b| a + b, 0.0) / 3f64.powi(nd as i32));
        for (a, b) in mean.iter().zip(want.iter()) {
            prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{} vs {}", a, b);
        }
        let max = x.focal_max(3, boundary(mode)).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| window(i.slice(), &|a, b| a.max(b), f64::NEG_INFINITY));
        prop_assert_eq!(max, want);
    }
}

/// 2-d shape and chunks (each at least 2), for windows of 3 and 5.
fn case_2d() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (5usize..14, 5usize..14).prop_flat_map(|(a, b)| (Just(vec![a, b]), vec![2..=a, 2..=b]))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// 2-d blocks take a fused path (one pass over rows); it must give the reference's values
    /// for windows wider than 3 too, and for max and min exactly.
    #[test]
    fn focal_filters_2d_match_a_padded_reference((shape, chunks) in case_2d(), size in prop::sample::select(vec![3usize, 5]), mode in 0u8..4) {
        let x = ChunkedArray::from_fn(&shape, &chunks, value);
        let r = (size / 2) as isize;
        let window = |i: &[usize], f: &dyn Fn(f64, f64) -> f64, init: f64| -> f64 {
            let mut acc = init;
            for a in -r..=r {
                for b in -r..=r {
                    let s = source(i[0] as isize + a, shape[0] as isize, mode)
                        .zip(source(i[1] as isize + b, shape[1] as isize, mode));
                    acc = f(acc, s.map_or(-7.0, |(p, q)| value(&[p as usize, q as usize])));
                }
            }
            acc
        };
        let mean = x.focal_mean(size, boundary(mode)).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| window(i.slice(), &|a, b| a + b, 0.0) / (size * size) as f64);
        for (a, b) in mean.iter().zip(want.iter()) {
            prop_assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{} vs {}", a, b);
        }
        let max = x.focal_max(size, boundary(mode)).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| window(i.slice(), &|a, b| a.max(b), f64::NEG_INFINITY));
        prop_assert_eq!(max, want);
        let min = x.focal_min(size, boundary(mode)).compute().unwrap();
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| window(i.slice(), &|a, b| a.min(b), f64::INFINITY));
        prop_assert_eq!(min, want);
    }
}

#[test]
fn focal_max_propagates_nan_on_the_fused_path() {
    let x = ChunkedArray::from_fn(&[6, 7], &[3, 4], |i| {
        if i == [2, 3] {
            f64::NAN
        } else {
            (i[0] * 7 + i[1]) as f64
        }
    });
    for m in [
        x.focal_max(3, Boundary::Reflect).compute().unwrap(),
        x.focal_min(3, Boundary::Reflect).compute().unwrap(),
    ] {
        for ((r, c), v) in m
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            let near = r.abs_diff(2) <= 1 && c.abs_diff(3) <= 1;
            assert_eq!(v.is_nan(), near, "[{r}, {c}] = {v}");
        }
    }
}

#[test]
fn focal_mean_holds_a_few_blocks() {
    let x = ChunkedArray::<f64>::random(&[2000, 2000], &[100, 100]);
    let f = x.focal_mean(3, Boundary::Reflect).mean();
    let block = 100 * 100 * 8;
    // Of 400 blocks (20 per row), the halo step waits for the strips of the row below, so
    // the centres of about one row are held for it (generated blocks are re-readable: the
    // scheduler keeps them within its cache rather than computing them twice), with the
    // small strips and the blocks of the task window in flight.
    let (m, stats) = f.compute_with_stats(&Config::default().threads(2)).unwrap();
    assert!((m - 0.5).abs() < 0.01, "{m}");
    assert!(
        stats.peak_block_bytes < 60 * block,
        "held {} blocks' worth",
        stats.peak_block_bytes / block
    );
    assert_eq!(stats.blocks_reread, 0, "the roomy cache keeps every centre");
    // With an 8 MiB budget the cache is 1 MiB (12.5 blocks): centres beyond it are dropped
    // and computed again, and the run holds fewer blocks than a row.
    let (m2, small) = f
        .compute_with_stats(&Config::default().threads(2).memory_limit(8 << 20))
        .unwrap();
    assert_eq!(m2, m, "the same value when centres are computed again");
    assert!(
        small.peak_block_bytes < 20 * block,
        "held {} blocks' worth with an 8 MiB budget",
        small.peak_block_bytes / block
    );
    assert!(small.blocks_reread > 0, "no centre was computed again");
    assert_eq!(
        small.bytes_spilled, 0,
        "generated blocks are computed again, not spilled"
    );
}

#[test]
fn gaussian_and_convolve_agree_on_a_box() {
    let x = ChunkedArray::from_fn(&[20, 30], &[7, 9], |i| {
        ((i[0] * 31 + i[1] * 17) % 13) as f64
    });
    let k = ndarray::Array2::from_elem((3, 3), 1.0 / 9.0);
    let c = x.convolve(k.view(), Boundary::Reflect).compute().unwrap();
    let m = x.focal_mean(3, Boundary::Reflect).compute().unwrap();
    for (a, b) in c.iter().zip(m.iter()) {
        assert!((a - b).abs() < 1e-12);
    }
    // A Gaussian preserves the mean of a periodic signal.
    let g = x
        .gaussian_filter(1.0, Boundary::Periodic)
        .mean()
        .compute()
        .unwrap();
    let mean = x.mean().compute().unwrap();
    assert!((g - mean).abs() < 1e-9, "{g} vs {mean}");
}

#[test]
fn overlap_errors_name_the_problem() {
    let x = ChunkedArray::<f64>::zeros(&[10, 10], &[3, 5]);
    let e = x
        .map_overlap(&[11, 1], Boundary::Reflect, |h, _| Ok(h.to_owned()))
        .check()
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("depth 11 on axis 0 exceeds the axis length 10"),
        "{e}"
    );
    // Chunks smaller than the depth are merged greedily: [3, 3, 3, 1] becomes [6, 4] for depth 4.
    let y = x.map_overlap(&[4, 1], Boundary::Reflect, |h, _| Ok(h.to_owned()));
    assert_eq!(y.grid().unwrap().chunk_sizes(0), vec![6, 4]);
    assert!(
        x.map_overlap(&[1], Boundary::Reflect, |h, _| Ok(h.to_owned()))
            .check()
            .is_err()
    );
    let bad = x.map_overlap(&[1, 1], Boundary::Nearest, |h, _| {
        Ok(h.slice(ndarray::s![1.., ..]).to_owned().into_dyn())
    });
    let e = bad.compute().unwrap_err();
    assert!(e.to_string().contains("map_overlap"), "{e}");
    let boom = x.map_overlap(&[1, 1], Boundary::None, |h, b| {
        if b == [1, 1] {
            panic!("boom at {b:?}");
        }
        Ok(h.to_owned())
    });
    let e = boom.compute().unwrap_err();
    assert!(
        matches!(e, rask::Error::Panicked { ref block, .. } if block == &vec![1, 1]),
        "{e}"
    );
    assert!(x.focal_mean(2, Boundary::Reflect).check().is_err());
    assert!(x.focal_mean(3, Boundary::None).check().is_err());
    assert!(x.gaussian_filter(0.0, Boundary::Reflect).check().is_err());
}

#[test]
fn focal_filters_read_spilled_blocks_the_same() {
    // A source that is not re-readable (a user closure), under a budget that holds a few
    // of its 64 blocks: the halo step reads centres that were spilled to mapped files.
    let x = ChunkedArray::from_blocks(&[512, 512], &[64, 64], |b| {
        Ok(ArrayD::from_shape_fn(IxDyn(&[64, 64]), |i| {
            let (r, c) = (b[0] * 64 + i[0], b[1] * 64 + i[1]);
            ((r * 31 + c * 17) % 101) as f64
        }))
    });
    let dir = std::env::temp_dir().join(format!("rask-focal-spill-{}", std::process::id()));
    for size in [3, 5] {
        let f = x.focal_mean(size, Boundary::Reflect);
        let want = f.compute().unwrap();
        let cfg = Config::default().memory_limit(256 << 10).spill_dir(&dir);
        let (got, stats) = f.compute_with_stats(&cfg).unwrap();
        assert!(stats.bytes_spilled > 0, "nothing was spilled");
        assert_eq!(got, want, "window {size}");
        let max = x.focal_max(size, Boundary::Nearest);
        assert_eq!(max.compute_with(&cfg).unwrap(), max.compute().unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
