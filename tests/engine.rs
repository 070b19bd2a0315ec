//! Engine-level guarantees: the plan stays symbolic, blocks are freed as soon as they can be,
//! shared work is done once, and larger-than-needed intermediates are never held.

use ndarray::ArrayD;
use rask::prelude::*;

/// The number of stages in an `explain()` text.
fn stages(plan: &str) -> usize {
    plan.lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count()
}

#[test]
fn plan_size_does_not_grow_with_the_number_of_blocks() {
    let small = ChunkedArray::<f64>::random(&[1_000_000], &[100_000]);
    let large = ChunkedArray::<f64>::random(&[1_000_000], &[1]);
    let f = |x: &ChunkedArray<f64>| ((x + 1.0) * 2.0 - x * x).sum_axes(&[0]);
    let (ps, pl) = (f(&small).explain(), f(&large).explain());
    assert!(pl.contains("1000000 tasks"), "{pl}");
    // Ten times more blocks per level adds reduction levels, never per-block nodes.
    assert!(stages(&pl) <= stages(&ps) + 4, "{ps}\n{pl}");
    assert!(stages(&pl) < 12, "{pl}");
}

#[test]
fn a_million_block_plan_runs() {
    let (s, stats) = ChunkedArray::<f64>::ones(&[1_000_000], &[1])
        .sum()
        .compute_with_stats(&Config::default())
        .unwrap();
    assert_eq!(s, 1_000_000.0);
    assert!(stats.tasks > 1_000_000, "{stats:?}");
    // Partial sums are freed as soon as their combine task ran: never more than a window's worth.
    assert!(stats.peak_block_bytes < 64 * 1024, "{stats:?}");
}

#[test]
fn elementwise_chains_fuse_into_one_stage() {
    let x = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]);
    let plan = ((&x + 1.0) * 2.0 - &x * &x).mean().explain();
    assert!(
        plan.contains("mean ← random(seed=0) → add(1) → mul(2) → mul → sub"),
        "{plan}"
    );
    // One stage reads the generator; nothing is materialized before the reduction.
    assert!(!plan.contains("fused"), "{plan}");
}

#[test]
fn blocks_are_freed_when_their_last_consumer_is_done() {
    // 200 blocks of 80 kB from a closure, transformed by another closure, then summed.
    let x = ChunkedArray::<f64>::from_blocks(&[200 * 100, 100], &[100, 100], |b| {
        Ok(ArrayD::from_elem(vec![100, 100], b[0] as f64))
    });
    let y = x.map_blocks(|blk, _| Ok(blk.mapv(|v| v + 1.0)));
    let (s, stats) = y
        .sum()
        .compute_with_stats(&Config::default().threads(2))
        .unwrap();
    let expected: f64 = (0..200).map(|b| (b as f64 + 1.0) * 10_000.0).sum();
    assert_eq!(s, expected);
    let block = 100 * 100 * 8;
    assert!(
        stats.peak_block_bytes <= 16 * block,
        "held {} bytes, {} blocks",
        stats.peak_block_bytes,
        stats.peak_block_bytes / block
    );
}

#[test]
fn anomaly_does_not_hold_its_input() {
    // x - x.mean(axis=0): the mean needs every block of x before the first output block, so a
    // scheduler that stores x holds all of it. rask regenerates x instead.
    let x = ChunkedArray::<f64>::random(&[4000, 500], &[100, 500]);
    let anomaly = &x - &x.mean_axes(&[0]);
    let (s, stats) = anomaly
        .abs()
        .max()
        .compute_with_stats(&Config::default().threads(2))
        .unwrap();
    assert!(s > 0.4 && s < 0.6, "{s}");
    assert!(
        stats.peak_block_bytes < x.nbytes() / 8,
        "held {} of {} bytes",
        stats.peak_block_bytes,
        x.nbytes()
    );
    // And the values are right.
    let xs = x.compute().unwrap();
    let m = xs.mean_axis(ndarray::Axis(0)).unwrap();
    let expected = (&xs - &m).mapv(f64::abs).fold(0.0f64, |a, &b| a.max(b));
    assert!((s - expected).abs() < 1e-12);
}

#[test]
fn shared_work_is_done_once() {
    let x = ChunkedArray::<f64>::random(&[100, 100], &[10, 10]);
    // Two separately built but equal subexpressions merge into one node.
    let a = (&x * 2.0).sum();
    let b = (&x * 2.0).sum();
    let plan = (a.as_array() + b.as_array()).explain();
    assert!(plan.contains("merged as common subexpressions"), "{plan}");
    assert!(!plan.contains(" 0 merged"), "{plan}");
    let out = compute_all(&[&a, &b]).unwrap();
    assert!(out[0].shape().is_empty());
    let mut it = out.into_iter();
    let (va, vb): (f64, f64) = (
        it.next().unwrap().into_scalar().unwrap(),
        it.next().unwrap().into_scalar().unwrap(),
    );
    assert_eq!(va.to_bits(), vb.to_bits());
}

#[test]
fn explain_and_dot_describe_the_plan() {
    let x = ChunkedArray::<f32>::random(&[400, 300], &[100, 100]);
    let y = (&x + &x.t().t()).sum_axes(&[1]);
    let plan = y.explain();
    // The partial sums: one state per block row and block column.
    assert!(
        plan.contains("reduce     state    shape [400, 3] chunks [100, 1]: 12 tasks"),
        "{plan}"
    );
    // x.t().t() composes to x itself, so the program reads the generator once.
    assert!(plan.contains("sum ← random(seed=0) → add\n"), "{plan}");
    assert!(
        plan.contains("finalize   float32  shape [400] chunks [100]: 4 tasks"),
        "{plan}"
    );
    let dot = y.to_dot();
    assert!(dot.starts_with("digraph rask {"), "{dot}");
    assert!(dot.contains("->"), "{dot}");
}

#[test]
fn transposed_operands_read_the_right_blocks() {
    let x = ChunkedArray::from_fn(&[7, 5], &[3, 2], |i| (i[0] * 10 + i[1]) as i64);
    let y = ChunkedArray::from_fn(&[5, 7], &[2, 2], |i| (i[1] * 10 + i[0]) as i64);
    // x.t() has chunks (2, 3) and y (2, 2): alignment rechunks one of them.
    let d = (&x.t() - &y).abs().sum().compute().unwrap();
    assert_eq!(d, 0);
    let m = x.map_blocks(|b, _| Ok(b.to_owned()));
    let e = (&m.t() - &y).abs().sum().compute().unwrap();
    assert_eq!(e, 0);
}

#[test]
fn deep_chains_build_and_run() {
    let mut x = ChunkedArray::<f64>::zeros(&[50, 50], &[10, 10]);
    for _ in 0..2000 {
        x = &x + 1.0;
    }
    assert_eq!(x.sum().compute().unwrap(), 2000.0 * 2500.0);
}

#[test]
fn rechunking_generated_values_moves_no_data() {
    let n = 1000;
    let x = ChunkedArray::<f64>::random(&[n, n], &[100, 100]);
    let y = x.rechunk(&[n, 10]);
    let plan = y.sum().explain();
    assert!(!plan.contains("rechunk"), "{plan}");
    assert_eq!(y.compute().unwrap(), x.compute().unwrap());
    assert_eq!(y.grid().unwrap().chunk_shape(), vec![n, 10]);
    // Blocks from a closure do have to move.
    let m = x.map_blocks(|b, _| Ok(b.to_owned()));
    let plan = m.rechunk(&[n, 10]).sum().explain();
    assert!(plan.contains("rechunk"), "{plan}");
    assert_eq!(m.rechunk(&[n, 10]).compute().unwrap(), x.compute().unwrap());
}

#[test]
fn lower_rank_operands_broadcast_in_debug_builds_too() {
    // A 0-d operand against a 2-d array: the axis arithmetic must not underflow.
    let x = ChunkedArray::<f64>::arange(12, 5).reshape(&[3, 4]);
    let centred = &x - &x.mean();
    assert_eq!(centred.sum().compute().unwrap(), 0.0);
}
