//! Hand-written rayon loops: the machine limit for the compute-bound workloads.
//!
//! Each loop computes what a rask workload computes, from the same values (rask's
//! counter-based generator, seed 0, element `i` = `unit_f64(bits(key, i))`), written as
//! directly as we can: generated in L1-sized runs with `fill_stream` (the generator's own
//! fast form), folded with eight accumulators, rows split over the rayon pool. The ratio
//! `rask / hand` is the engine's cost over this. Nothing here is shared with the engine
//! beyond the generator.

use ndarray::Array2;
use rask::kernels::random::{bits, fill_stream, seed_key, unit_f64};
use rayon::prelude::*;

/// Elements generated per run (16 KiB of f64: stays in L1).
const RUN: usize = 2048;

/// `sum(xs)` with eight accumulators.
#[inline(always)]
fn sum8(xs: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut it = xs.chunks_exact(8);
    for c in &mut it {
        for k in 0..8 {
            acc[k] += f(c[k]);
        }
    }
    let tail: f64 = it.remainder().iter().map(|&v| f(v)).sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail
}

/// Fills `out` with the generated values of elements `start..start + out.len()`.
#[inline(always)]
fn generate(key: u64, start: u64, out: &mut [f64]) {
    fill_stream(key, start, out, unit_f64);
}

/// `sum(f(x))` over the `n × n` random array, one row per rayon item.
fn sum_rows(n: usize, f: impl Fn(f64) -> f64 + Sync + Copy) -> f64 {
    let key = seed_key(0);
    (0..n)
        .into_par_iter()
        .map_init(
            || vec![0.0f64; RUN],
            |buf, r| {
                let mut s = 0.0;
                let mut c = 0;
                while c < n {
                    let len = RUN.min(n - c);
                    generate(key, (r * n + c) as u64, &mut buf[..len]);
                    s += sum8(&buf[..len], f);
                    c += len;
                }
                s
            },
        )
        .sum()
}

/// W1: `x.mean()`.
pub fn mean(n: usize) -> f64 {
    sum_rows(n, |v| v) / (n * n) as f64
}

/// W3: `((x + 1) * 2 - x * x).mean()`.
pub fn elementwise(n: usize) -> f64 {
    sum_rows(n, |v| (v + 1.0) * 2.0 - v * v) / (n * n) as f64
}

/// W2: the column sums of `x` (bands of rows summed into one vector each, then merged),
/// returned as their total.
pub fn sum_axis0(n: usize) -> f64 {
    let key = seed_key(0);
    let band = 100.min(n);
    let cols = (0..n.div_ceil(band))
        .into_par_iter()
        .map(|b| {
            let mut acc = vec![0.0f64; n];
            let mut row = vec![0.0f64; n];
            for r in b * band..((b + 1) * band).min(n) {
                generate(key, (r * n) as u64, &mut row);
                acc.iter_mut().zip(&row).for_each(|(a, v)| *a += v);
            }
            acc
        })
        .reduce(
            || vec![0.0f64; n],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    cols.iter().sum()
}

/// W4: `x.std()` (population): two passes over each generated row, rows merged with Chan's
/// update.
pub fn std(n: usize) -> f64 {
    let key = seed_key(0);
    // (count, mean, sum of squared deviations)
    let merge = |a: (f64, f64, f64), b: (f64, f64, f64)| {
        if a.0 == 0.0 {
            return b;
        }
        if b.0 == 0.0 {
            return a;
        }
        let cnt = a.0 + b.0;
        let d = b.1 - a.1;
        (
            cnt,
            a.1 + d * (b.0 / cnt),
            a.2 + b.2 + d * d * (a.0 * b.0 / cnt),
        )
    };
    let (cnt, _, m2) = (0..n)
        .into_par_iter()
        .map_init(
            || vec![0.0f64; n],
            |row, r| {
                generate(key, (r * n) as u64, row);
                let mean = sum8(row, |v| v) / n as f64;
                (n as f64, mean, sum8(row, |v| (v - mean) * (v - mean)))
            },
        )
        .reduce(|| (0.0, 0.0, 0.0), merge);
    (m2 / cnt).sqrt()
}

/// W5: `(x + x.T).mean()`, both values generated for every position (the transposed one
/// element by element, as it is strided).
pub fn transpose_add(n: usize) -> f64 {
    let key = seed_key(0);
    let s: f64 = (0..n)
        .into_par_iter()
        .map_init(
            || vec![0.0f64; n],
            |row, r| {
                generate(key, (r * n) as u64, row);
                for (c, v) in row.iter_mut().enumerate() {
                    *v += unit_f64(bits(key, (c * n + r) as u64));
                }
                sum8(row, |v| v)
            },
        )
        .sum();
    s / (n * n) as f64
}

/// W6: `(a @ a).sum()` for the `m × m` random array: generated in parallel, then
/// multiplied in row bands (one per thread) with ndarray's `dot` (`matrixmultiply`).
pub fn matmul(m: usize) -> f64 {
    let key = seed_key(0);
    let mut a = Array2::<f64>::zeros((m, m));
    a.as_slice_mut()
        .expect("standard layout")
        .par_chunks_mut(m)
        .enumerate()
        .for_each(|(r, row)| generate(key, (r * m) as u64, row));
    let bands = rayon::current_num_threads().max(1);
    let rows = m.div_ceil(bands);
    (0..bands)
        .into_par_iter()
        .map(|b| {
            let lo = (b * rows).min(m);
            let hi = ((b + 1) * rows).min(m);
            let c = a.slice(ndarray::s![lo..hi, ..]).dot(&a);
            c.sum()
        })
        .sum()
}

/// W7: `x.rechunk((n, 100)).sum()`, summed in the output's layout: column bands of 100,
/// generated run by run along each row.
pub fn rechunk_sum(n: usize) -> f64 {
    let key = seed_key(0);
    let w = 100.min(n);
    (0..n.div_ceil(w))
        .into_par_iter()
        .map(|b| {
            let c0 = b * w;
            let len = w.min(n - c0);
            let mut buf = [0.0f64; 100];
            let mut s = 0.0;
            for r in 0..n {
                generate(key, (r * n + c0) as u64, &mut buf[..len]);
                s += sum8(&buf[..len], |v| v);
            }
            s
        })
        .sum()
}

/// Index `i` (which may be `-1` or `n`) mirrored into `0..n` with the edge repeated
/// (scipy's `reflect`, Dask's `boundary="reflect"`).
fn mirror(i: isize, n: usize) -> usize {
    if i < 0 {
        (-i - 1) as usize
    } else if i as usize >= n {
        2 * n - 1 - i as usize
    } else {
        i as usize
    }
}

/// W10: the mean of the 3 × 3 box mean with mirrored edges. Bands of rows, each with a ring
/// of three horizontal 3-sums; every output row is the sum of the ring, over 9.
pub fn focal_mean(n: usize) -> f64 {
    let key = seed_key(0);
    let band = 100.min(n);
    let s: f64 = (0..n.div_ceil(band))
        .into_par_iter()
        .map(|b| {
            let r0 = b * band;
            let r1 = ((b + 1) * band).min(n);
            let mut row = vec![0.0f64; n];
            // Horizontal 3-sums of rows r-1, r, r+1 (mirrored), in a ring.
            let mut ring = [vec![0.0f64; n], vec![0.0f64; n], vec![0.0f64; n]];
            let hsum = |r: usize, row: &mut [f64], out: &mut [f64]| {
                generate(key, (r * n) as u64, row);
                for c in 0..n {
                    out[c] =
                        row[mirror(c as isize - 1, n)] + row[c] + row[mirror(c as isize + 1, n)];
                }
            };
            hsum(mirror(r0 as isize - 1, n), &mut row, &mut ring[0]);
            hsum(r0, &mut row, &mut ring[1]);
            let mut acc = 0.0;
            for r in r0..r1 {
                hsum(
                    mirror(r as isize + 1, n),
                    &mut row,
                    &mut ring[(r - r0 + 2) % 3],
                );
                let (a, bb, c) = (&ring[0], &ring[1], &ring[2]);
                let mut s8 = [0.0f64; 8];
                let mut rows = a
                    .chunks_exact(8)
                    .zip(bb.chunks_exact(8))
                    .zip(c.chunks_exact(8));
                for ((a, bb), c) in &mut rows {
                    for (k, s) in s8.iter_mut().enumerate() {
                        *s += (a[k] + bb[k] + c[k]) / 9.0;
                    }
                }
                let done = n - n % 8;
                let tail: f64 = (done..n).map(|j| (a[j] + bb[j] + c[j]) / 9.0).sum();
                acc +=
                    (s8[0] + s8[1]) + (s8[2] + s8[3]) + ((s8[4] + s8[5]) + (s8[6] + s8[7])) + tail;
            }
            acc
        })
        .sum();
    s / (n * n) as f64
}

/// Memory bandwidth: GB/s of summing `bytes` of `f64` already in memory, best of 5, on the
/// current rayon pool (each thread sums its own contiguous share).
pub fn memory_bandwidth(bytes: usize) -> f64 {
    let len = bytes / 8;
    let mut v = vec![0.0f64; len];
    // Touch every page in parallel (first-touch placement, no lazy zero pages).
    v.par_chunks_mut(1 << 16).for_each(|c| c.fill(1.0));
    let parts = rayon::current_num_threads().max(1);
    let share = len.div_ceil(parts);
    let mut best = f64::INFINITY;
    for _ in 0..6 {
        let t = std::time::Instant::now();
        let s: f64 = v.par_chunks(share).map(|c| sum8(c, |x| x)).sum();
        let dt = t.elapsed().as_secs_f64();
        assert_eq!(s, len as f64);
        best = best.min(dt);
    }
    bytes as f64 / best / 1e9
}

/// Reads chunk file `p` (little-endian `f32`, zstd, `len` elements) into `v`.
fn decode_f32(
    dec: &mut zstd::bulk::Decompressor<'_>,
    raw: &mut Vec<u8>,
    p: &std::path::Path,
    len: usize,
    v: &mut Vec<f32>,
) {
    let comp = std::fs::read(p).expect("chunk file");
    raw.resize(len * 4, 0u8);
    let n = dec.decompress_to_buffer(&comp, raw).expect("zstd chunk");
    v.clear();
    v.extend(
        raw[..n]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
}

/// W8 NDVI write, its limit: every pair of `red`/`nir` chunk files read and decoded, the
/// NDVI computed, encoded with zstd at `level` (rask's and Zarr's default, 3) and written to
/// its own file in `out`, in parallel, with nothing else (no Zarr metadata, no staging).
pub fn ndvi_write_decoded(
    red: &[std::path::PathBuf],
    nir: &[std::path::PathBuf],
    len: usize,
    out: &std::path::Path,
    level: i32,
) -> f64 {
    std::fs::create_dir_all(out).expect("output directory");
    let n = red
        .par_iter()
        .zip(nir)
        .enumerate()
        .map_init(
            || {
                let dec = zstd::bulk::Decompressor::new().expect("zstd context");
                let enc = zstd::bulk::Compressor::new(level).expect("zstd context");
                (dec, enc, Vec::new(), Vec::new(), Vec::new(), Vec::new())
            },
            |(dec, enc, raw, r, n, bytes), (i, (rp, np))| {
                decode_f32(dec, raw, rp, len, r);
                decode_f32(dec, raw, np, len, n);
                bytes.clear();
                for (&r, &n) in r.iter().zip(n.iter()) {
                    bytes.extend_from_slice(&((n - r) / (n + r)).to_le_bytes());
                }
                let comp = enc.compress(bytes).expect("zstd encode");
                std::fs::write(out.join(i.to_string()), comp).expect("write chunk");
                1u64
            },
        )
        .sum::<u64>();
    n as f64
}

/// Decodes the chunk files `paths[i]` (Zarr chunks of little-endian `f32` with the `bytes` and
/// `zstd` codecs, `len` elements each) on the rayon pool, each worker with its own zstd
/// context and buffers, and folds each decoded group of chunks with `f` (sums added up).
fn fold_zstd_f32(
    groups: &[Vec<std::path::PathBuf>],
    len: usize,
    f: impl Fn(&[Vec<f32>]) -> (f64, u64) + Sync,
) -> (f64, u64) {
    groups
        .par_iter()
        .map_init(
            || {
                let dec = zstd::bulk::Decompressor::new().expect("zstd context");
                (dec, Vec::new(), Vec::<Vec<f32>>::new())
            },
            |(dec, raw, vals), files| {
                vals.resize_with(files.len(), Vec::new);
                for (p, v) in files.iter().zip(vals.iter_mut()) {
                    decode_f32(dec, raw, p, len, v);
                }
                f(vals)
            },
        )
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// W8 NDVI mean, the limit of a decode-bound workload: every pair of `red`/`nir` chunk files
/// read, zstd-decoded and reduced to the mean of `(nir - red) / (nir + red)` (in `f32`, as
/// rask and NumPy compute it), in parallel, with nothing else. `len`: elements per chunk.
pub fn ndvi_mean_decoded(
    red: &[std::path::PathBuf],
    nir: &[std::path::PathBuf],
    len: usize,
) -> f64 {
    let groups: Vec<Vec<_>> = red
        .iter()
        .zip(nir)
        .map(|(r, n)| vec![r.clone(), n.clone()])
        .collect();
    let (s, n) = fold_zstd_f32(&groups, len, |v| {
        let s: f64 = v[0]
            .iter()
            .zip(&v[1])
            .map(|(&r, &n)| ((n - r) / (n + r)) as f64)
            .sum();
        (s, v[0].len() as u64)
    });
    s / n as f64
}

/// The mean of an `f32` Zarr array's chunk files (zstd), read and decoded by hand.
pub fn mean_decoded(files: &[std::path::PathBuf], len: usize) -> f64 {
    let groups: Vec<Vec<_>> = files.iter().map(|f| vec![f.clone()]).collect();
    let (s, n) = fold_zstd_f32(&groups, len, |v| {
        (v[0].iter().map(|&x| x as f64).sum(), v[0].len() as u64)
    });
    s / n as f64
}
