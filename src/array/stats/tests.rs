//! Unit tests of the exact-selection plan (forced on small data, with any number of key bits
//! per pass) and of the gather plan's rechunking.

use ndarray::{ArrayD, Axis, IxDyn};
use proptest::prelude::*;

use super::{Path, Stat, gather_chunks};
use crate::element::{Element, Number};
use crate::grid::ChunkGrid;
use crate::{ChunkedArray, Config};

/// The eager reference of one line (values already in `f64`).
fn reference(line: &[f64], stat: Stat, skip_nan: bool) -> f64 {
    if !skip_nan && line.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let mut v: Vec<f64> = line.iter().copied().filter(|v| !v.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let (k, next) = stat.ranks(n);
    stat.value(n, v[k], if next { v[k + 1] } else { v[k] })
}

fn same(a: &ArrayD<f64>, b: &ArrayD<f64>) -> bool {
    a.shape() == b.shape()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

/// Computes `stat` along `axis` through `path` and compares it with the reference.
fn check<T: Number>(
    a: &ArrayD<T>,
    chunks: &[usize],
    axis: usize,
    stat: Stat,
    skip_nan: bool,
    path: Path,
    materialized: bool,
) -> Result<(), TestCaseError> {
    let mut x = ChunkedArray::from_ndarray(a.view(), chunks);
    if materialized {
        x = x.map_blocks(|b, _| Ok(b.to_owned()));
    }
    let got = x
        .order_stat("test", stat, axis as isize, skip_nan, path)
        .compute_with(&Config::default().threads(2))
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .mapv(|v| v.to_f64());
    let wide = a.mapv(|v| v.to_f64());
    let want = wide
        .map_axis(Axis(axis), |l| reference(&l.to_vec(), stat, skip_nan))
        .mapv(|v| <T::Mean as Element>::from_f64(v).to_f64());
    prop_assert!(
        same(&got, &want),
        "{stat:?} skip_nan={skip_nan} {path:?} axis {axis} of {a:?}: {got:?} vs {want:?}"
    );
    Ok(())
}

fn shape_chunks_axis() -> impl Strategy<Value = (Vec<usize>, Vec<usize>, usize)> {
    prop::collection::vec(1usize..7, 1..4).prop_flat_map(|shape| {
        let chunks: Vec<_> = shape.iter().map(|&n| 1..=n).collect();
        let nd = shape.len();
        (Just(shape), chunks, 0..nd)
    })
}

fn stat() -> impl Strategy<Value = Stat> {
    prop_oneof![
        Just(Stat::Median),
        Just(Stat::Quantile(0.0)),
        Just(Stat::Quantile(1.0)),
        (0.0f64..=1.0).prop_map(Stat::Quantile),
    ]
}

/// Values with ties, signed zeros, infinities and (when `nan`) NaN.
fn float_value(nan: bool) -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => (-5i32..5).prop_map(|v| v as f64 * 0.25),
        2 => any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        if nan { 3 } else { 0 } => Just(f64::NAN),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn selection_is_exact_for_floats(
        (shape, chunks, axis) in shape_chunks_axis(),
        vals in prop::collection::vec(float_value(true), 216),
        stat in stat(),
        bits in 1u32..=16,
        skip_nan in any::<bool>(),
        materialized in any::<bool>(),
    ) {
        let n: usize = shape.iter().product();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals[..n].to_vec()).unwrap();
        check(&a, &chunks, axis, stat, skip_nan, Path::Select(Some(bits)), materialized)?;
        let a32 = a.mapv(|v| v as f32);
        check(&a32, &chunks, axis, stat, skip_nan, Path::Select(Some(bits)), false)?;
        // The automatic choice with a tiny block budget: exact selection when the axis is
        // split, a gather otherwise.
        check(&a, &chunks, axis, stat, skip_nan, Path::Auto(0), materialized)?;
        check(&a, &chunks, axis, stat, skip_nan, Path::Select(None), false)?;
    }

    #[test]
    fn selection_is_exact_for_integers(
        (shape, chunks, axis) in shape_chunks_axis(),
        raw in prop::collection::vec(any::<u64>(), 216),
        small in any::<bool>(),
        stat in stat(),
        bits in 1u32..=16,
    ) {
        let n: usize = shape.iter().product();
        // Extremes and ties: a few distinct values, or anything.
        let pick = |r: u64| if small { r % 5 } else { r };
        let u: Vec<u64> = raw[..n].iter().map(|&r| pick(r)).collect();
        let p = Path::Select(Some(bits));
        let a = ArrayD::from_shape_vec(IxDyn(&shape), u.clone()).unwrap();
        check(&a, &chunks, axis, stat, false, p, false)?;
        let a = a.mapv(|v| if small { v as i64 - 2 } else { v as i64 });
        check(&a, &chunks, axis, stat, false, p, false)?;
        check(&a.mapv(|v| v as i8), &chunks, axis, stat, false, p, false)?;
        check(&a.mapv(|v| v as u8), &chunks, axis, stat, false, p, false)?;
        check(&a.mapv(|v| v as i16), &chunks, axis, stat, false, p, false)?;
        check(&a.mapv(|v| v as u32), &chunks, axis, stat, false, p, true)?;
    }

    #[test]
    fn gather_rechunks_split_axes(
        (shape, chunks, axis) in shape_chunks_axis(),
        vals in prop::collection::vec(float_value(true), 216),
        fit in 1usize..200,
        stat in stat(),
    ) {
        let n: usize = shape.iter().product();
        let a = ArrayD::from_shape_vec(IxDyn(&shape), vals[..n].to_vec()).unwrap();
        // A budget that holds a line: the gather plan, other axes shrunk to fit.
        let fit = fit.max(shape[axis] * 8);
        check(&a, &chunks, axis, stat, true, Path::Auto(fit), false)?;
    }
}

#[test]
fn extreme_integers_select_exactly() {
    let vals = [i64::MIN, i64::MAX, -1, 0, i64::MIN + 1, i64::MAX - 1, 7];
    let a = ArrayD::from_shape_vec(IxDyn(&[7]), vals.to_vec()).unwrap();
    for bits in [1, 3, 8, 16] {
        for stat in [
            Stat::Median,
            Stat::Quantile(0.0),
            Stat::Quantile(1.0),
            Stat::Quantile(0.9),
        ] {
            check(&a, &[2], 0, stat, false, Path::Select(Some(bits)), false).unwrap();
        }
    }
    let u = ArrayD::from_shape_vec(IxDyn(&[4]), vec![u64::MAX, 0, u64::MAX, 1]).unwrap();
    check(&u, &[1], 0, Stat::Median, false, Path::Select(None), false).unwrap();
    check(
        &u,
        &[3],
        0,
        Stat::Quantile(1.0),
        false,
        Path::Select(Some(5)),
        false,
    )
    .unwrap();
}

#[test]
fn long_split_axes_are_selected_not_gathered() {
    // 10^5 values in 10 blocks, a 64 kB budget: a line does not fit, so exact selection.
    let x = ChunkedArray::<f64>::random(&[100_000, 2], &[10_000, 2]);
    let plan = x
        .order_stat("median_axis", Stat::Median, 0, false, Path::Auto(64 << 10))
        .explain();
    assert!(plan.contains("count(pass 1/4)"), "{plan}");
    assert!(!plan.contains("rechunk"), "{plan}");
    let got = x
        .order_stat("median_axis", Stat::Median, 0, false, Path::Auto(64 << 10))
        .compute()
        .unwrap();
    let want = x.median_axis(0).compute().unwrap();
    assert_eq!(got, want);
    // The default budget gathers the axis instead, reading the generator's tiles.
    let plan = x.median_axis(0).explain();
    assert!(
        plan.contains("median_axis(axis=0)<float64> ← random") && !plan.contains("count(pass"),
        "{plan}"
    );
}

#[test]
fn selection_does_not_hold_a_fusable_input() {
    // 40 blocks of 80 kB along the axis, 8 key bits per pass (8 passes for f64): every
    // pass generates the input again, so only a few blocks are alive at a time.
    let x = ChunkedArray::<f64>::random(&[400_000, 1], &[10_000, 1]);
    let m = x.order_stat("median_axis", Stat::Median, 0, false, Path::Select(Some(8)));
    let (got, stats) = m.compute_with_stats(&Config::default().threads(2)).unwrap();
    let want = x.median_axis(0).compute().unwrap();
    assert_eq!(got, want);
    assert!(
        stats.peak_block_bytes < 40 * 80_000 / 2,
        "peak {} bytes",
        stats.peak_block_bytes
    );
}

#[test]
fn gather_chunks_shrink_rows_to_256_then_outer_axes() {
    let g = ChunkGrid::regular(&[32, 4000, 4000], &[1, 4000, 4000]).unwrap();
    assert_eq!(gather_chunks(&g, 0, 4, 256 << 20), vec![32, 4000, 500]);
    assert_eq!(gather_chunks(&g, 0, 4, 16 << 20), vec![32, 500, 256]);
    let g = ChunkGrid::regular(&[32, 4000, 4000], &[8, 1000, 1000]).unwrap();
    assert_eq!(gather_chunks(&g, 0, 4, 256 << 20), vec![32, 1000, 1000]);
    // Rows are not cut below the input's blocks while the columns are several blocks.
    assert_eq!(gather_chunks(&g, 0, 4, 16 << 20), vec![32, 1000, 128]);
    let g = ChunkGrid::regular(&[4000, 4000, 32], &[1000, 1000, 8]).unwrap();
    assert_eq!(gather_chunks(&g, 2, 4, 16 << 20), vec![1000, 128, 32]);
    let g = ChunkGrid::regular(&[10, 6], &[3, 6]).unwrap();
    assert_eq!(gather_chunks(&g, 1, 8, 0), vec![1, 6]);
    let g = ChunkGrid::regular(&[6, 10, 4], &[6, 10, 4]).unwrap();
    assert_eq!(gather_chunks(&g, 0, 1, 6 * 2), vec![6, 1, 2]);
}
