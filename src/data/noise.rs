//! Coherent value noise evaluated block by block.
//!
//! A field is a sum of octaves; each octave hashes the corners of a square lattice of
//! `cell` pixels to values in `[0, 1)` and interpolates them with a quintic fade. Every
//! pixel's value is computed from its global coordinates alone, in the same order of
//! floating-point operations whatever block it falls in, so a field has the same bits for
//! any chunking.

/// The SplitMix64 finalizer: a bijective mix of 64 bits.
#[inline]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of a key and two coordinates.
#[inline]
pub(crate) fn hash2(key: u64, a: i64, b: i64) -> u64 {
    mix64(
        key ^ mix64(
            (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f),
        ),
    )
}

/// The top 24 bits of a hash as a float in `[0, 1)`.
#[inline]
pub(crate) fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
}

/// A key derived from a seed and a stream name.
pub(crate) fn key(seed: u64, stream: u64) -> u64 {
    mix64(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ mix64(stream))
}

#[inline]
fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

/// One octave: a lattice of `cell`-pixel squares, offset by `(off_r, off_c)` pixels so that
/// the octaves' lattices do not line up, weighted by `amp`.
#[derive(Clone, Debug)]
struct Octave {
    key: u64,
    cell: i64,
    amp: f32,
    off_r: i64,
    off_c: i64,
}

/// A sum of value-noise octaves, normalized by the sum of their weights: values lie in
/// `[0, 1)`, about 0.5 on average.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    octaves: Vec<Octave>,
}

impl Field {
    /// Octaves with lattice cells `cells` (pixels) and weights `gain^i`.
    pub(crate) fn new(key: u64, cells: &[i64], gain: f32) -> Field {
        let mut amp = 1.0f32;
        let mut octaves = Vec::with_capacity(cells.len());
        for (i, &cell) in cells.iter().enumerate() {
            let k = mix64(key ^ (i as u64 + 1).wrapping_mul(0x1000_0000_01b3));
            let h = mix64(k ^ 0x5bd1_e995);
            octaves.push(Octave {
                key: k,
                cell: cell.max(1),
                amp,
                off_r: (h % cell.max(1) as u64) as i64,
                off_c: ((h >> 32) % cell.max(1) as u64) as i64,
            });
            amp *= gain;
        }
        let total: f32 = octaves.iter().map(|o| o.amp).sum();
        for o in &mut octaves {
            o.amp /= total;
        }
        Field { octaves }
    }

    /// The value at one pixel (slow; for calibration). Agrees with [`Field::block`] to
    /// within rounding.
    pub(crate) fn at(&self, r: i64, c: i64) -> f32 {
        let mut v = 0.0f32;
        for o in &self.octaves {
            let (y, x) = (r + o.off_r, c + o.off_c);
            let (ly, lx) = (y.div_euclid(o.cell), x.div_euclid(o.cell));
            let fy = fade(y.rem_euclid(o.cell) as f32 / o.cell as f32);
            let fx = fade(x.rem_euclid(o.cell) as f32 / o.cell as f32);
            let l = |a: i64, b: i64| unit(hash2(o.key, a, b));
            let top = l(ly, lx) + fx * (l(ly, lx + 1) - l(ly, lx));
            let bot = l(ly + 1, lx) + fx * (l(ly + 1, lx + 1) - l(ly + 1, lx));
            v += o.amp * (top + fy * (bot - top));
        }
        v
    }

    /// The values of the `h` x `w` pixels whose top-left corner is `(r0, c0)`, row-major.
    pub(crate) fn block(&self, r0: i64, c0: i64, h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; h * w];
        if h == 0 || w == 0 {
            return out;
        }
        let mut col_idx = vec![0usize; w];
        let mut col_w = vec![0.0f32; w];
        let mut lattice = Vec::new();
        let mut row = Vec::new();
        for o in &self.octaves {
            let s = o.cell;
            let (y0, x0) = (r0 + o.off_r, c0 + o.off_c);
            let (gy0, gx0) = (y0.div_euclid(s), x0.div_euclid(s));
            let gy1 = (y0 + h as i64 - 1).div_euclid(s) + 1;
            let gx1 = (x0 + w as i64 - 1).div_euclid(s) + 1;
            let (ny, nx) = ((gy1 - gy0 + 1) as usize, (gx1 - gx0 + 1) as usize);
            lattice.clear();
            for a in gy0..=gy1 {
                for b in gx0..=gx1 {
                    lattice.push(unit(hash2(o.key, a, b)));
                }
            }
            debug_assert_eq!(lattice.len(), ny * nx);
            for j in 0..w {
                let x = x0 + j as i64;
                col_idx[j] = (x.div_euclid(s) - gx0) as usize;
                col_w[j] = fade(x.rem_euclid(s) as f32 / s as f32);
            }
            row.resize(nx, 0.0f32);
            for i in 0..h {
                let y = y0 + i as i64;
                let ly = (y.div_euclid(s) - gy0) as usize;
                let fy = fade(y.rem_euclid(s) as f32 / s as f32);
                let (top, bot) = (&lattice[ly * nx..][..nx], &lattice[(ly + 1) * nx..][..nx]);
                for k in 0..nx {
                    row[k] = top[k] + fy * (bot[k] - top[k]);
                }
                let dst = &mut out[i * w..][..w];
                for j in 0..w {
                    let k = col_idx[j];
                    let (a, b) = (row[k], row[k + 1]);
                    dst[j] += o.amp * (a + col_w[j] * (b - a));
                }
            }
        }
        out
    }

    /// The `q`-quantile of the field's values, estimated from `n` pixels spread over a
    /// 2^16-pixel square (a pure function of the field).
    pub(crate) fn quantile(&self, q: f64, n: usize) -> f32 {
        let mut v: Vec<f32> = (0..n as u64)
            .map(|i| {
                let h = mix64(i ^ 0xa076_1d64_78bd_642f);
                self.at((h & 0xffff) as i64, ((h >> 16) & 0xffff) as i64)
            })
            .collect();
        v.sort_by(f32::total_cmp);
        let k = ((q.clamp(0.0, 1.0) * (n - 1) as f64).round() as usize).min(n - 1);
        v[k]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_matches_point_and_any_split() {
        let f = Field::new(7, &[64, 16, 5], 0.5);
        let whole = f.block(-20, 30, 50, 70);
        for (i, j) in [(0, 0), (13, 41), (49, 69)] {
            let p = f.at(-20 + i as i64, 30 + j as i64);
            assert!((whole[i * 70 + j] - p).abs() < 1e-5);
        }
        let part = f.block(-20 + 13, 30 + 41, 10, 10);
        for i in 0..10 {
            for j in 0..10 {
                assert_eq!(part[i * 10 + j], whole[(i + 13) * 70 + j + 41]);
            }
        }
        assert!(whole.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
