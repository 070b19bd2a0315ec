//! Recycled block buffers: a new block made in the buffer of a block freed earlier in the run
//! holds that block's old values until it is written, so every kernel that takes one must
//! write every element. These plans use blocks of 128 KiB (recycling skips small ones) and
//! put stage boundaries between programs of many kinds, so each program's output lands in a
//! buffer that held other values; every result is compared with eager ndarray.

use ndarray::{Array2, ArrayD, Axis, Ix2, s};
use rask::prelude::*;
use rask::{Boundary, RunStats};

const N: usize = 512;
const C: usize = 128;

/// A stage boundary: the block is copied by a user closure, so the program after it starts
/// a new stage whose output buffers can be recycled ones.
fn stage(a: &ChunkedArray<f64>) -> ChunkedArray<f64> {
    a.map_blocks(|b, _| Ok(b.to_owned()))
}

fn run(a: &ChunkedArray<f64>) -> (ArrayD<f64>, RunStats) {
    let (v, st) = a.compute_with_stats(&Config::default().threads(2)).unwrap();
    (v, st)
}

/// The 3 × 3 mean with mirrored edges (scipy's `reflect`), eagerly.
fn box3(e: &Array2<f64>) -> Array2<f64> {
    let n = e.nrows() as isize;
    let m = e.ncols() as isize;
    let at = |i: isize, j: isize| {
        let i = if i < 0 {
            -i - 1
        } else if i >= n {
            2 * n - 1 - i
        } else {
            i
        };
        let j = if j < 0 {
            -j - 1
        } else if j >= m {
            2 * m - 1 - j
        } else {
            j
        };
        e[[i as usize, j as usize]]
    };
    Array2::from_shape_fn(e.dim(), |(i, j)| {
        let (i, j) = (i as isize, j as isize);
        let mut acc = 0.0;
        for a in -1..=1 {
            for b in -1..=1 {
                acc += at(i + a, j + b);
            }
        }
        acc / 9.0
    })
}

#[test]
fn recycled_buffers_never_leak_stale_values() {
    let x = ChunkedArray::<f64>::random_seeded(&[N, N], &[C, C], 3) * 4.0 - 2.0;
    let e = x.compute().unwrap();
    let e2 = e.clone().into_dimensionality::<Ix2>().unwrap();
    let xs = stage(&x);
    let cases: Vec<(&str, ChunkedArray<f64>, ArrayD<f64>)> = vec![
        (
            "elementwise",
            stage(&(&xs * 2.0 + 1.0)),
            e.mapv(|v| v * 2.0 + 1.0),
        ),
        ("transpose", stage(&xs.t()), e.t().to_owned()),
        ("x + x.T", stage(&(&xs + &xs.t())), &e + &e.t()),
        (
            "row broadcast",
            stage(&(&xs - &xs.mean_axes(&[0]))),
            &e - &e.mean_axis(Axis(0)).unwrap(),
        ),
        (
            "strided slice",
            stage(&xs.slice(s![..;2, ..]).rechunk(&[C / 2, C * 2])),
            e2.slice(s![..;2, ..]).to_owned().into_dyn(),
        ),
        (
            "where",
            stage(&rask::where_(&xs.gt(0.0), &xs, &(&xs * -1.0))),
            e.mapv(f64::abs),
        ),
        (
            "flip",
            stage(&xs.slice(s![..;-1, ..])),
            e2.slice(s![..;-1, ..]).to_owned().into_dyn(),
        ),
        (
            "focal mean",
            stage(&xs.focal_mean(3, Boundary::Reflect)),
            box3(&e2).into_dyn(),
        ),
    ];
    for (what, lazy, want) in cases {
        let (got, st) = run(&lazy);
        eprintln!("{what}: {} blocks recycled", st.blocks_recycled);
        assert!(
            st.blocks_recycled > 0,
            "{what}: no buffer was recycled, so this case tests nothing"
        );
        assert_eq!(got.shape(), want.shape(), "{what}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                "{what}: {g} vs {w}"
            );
        }
    }
}
