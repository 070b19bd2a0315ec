//! The counter-based random generator.
//!
//! Element `i` of a random array with seed `s` is a pure function of `(s, i)`: the wyrand
//! output function (a 64×64→128-bit multiply folded to 64 bits) applied to the counter
//! `key(s) + i * WY0`. Any block is generated without generating what precedes it, so the
//! values do not depend on the chunking or on the thread count, and a block can be
//! regenerated instead of stored.
//!
//! Why wyrand and not SplitMix64: both pass BigCrush, but SplitMix's 64-bit low multiplies get
//! auto-vectorized with SSE2/AVX2 emulation (three 32-bit multiplies each), which made
//! generation 2× slower than scalar code; the 128-bit multiply is one `mul` on x86-64 and
//! keeps the loop scalar and fast.
//!
//! [`CounterRng`] exposes the same stream as a [`rand`] generator, so that any
//! `rand::distr::Distribution` can be sampled per element with the same guarantee.

use std::convert::Infallible;

/// SplitMix64's output function: a bijective 64-bit mixer (used to derive stream keys).
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The stream key of a seed (seeds 0, 1, 2, ... give unrelated streams).
#[inline]
pub fn seed_key(seed: u64) -> u64 {
    mix64(seed ^ 0x6A09_E667_F3BC_C909)
}

/// wyrand's increment.
const WY0: u64 = 0xa076_1d64_78bd_642f;
/// wyrand's xor constant.
const WY1: u64 = 0xe703_7ed1_a0b4_28db;

/// The 64 random bits of element `index` of the stream `key`.
#[inline(always)]
pub fn bits(key: u64, index: u64) -> u64 {
    let s = key.wrapping_add(index.wrapping_add(1).wrapping_mul(WY0));
    let t = (s as u128).wrapping_mul((s ^ WY1) as u128);
    ((t >> 64) as u64) ^ (t as u64)
}

/// Fills `out` with `conv(bits(key, start + k))`: the stream advanced by one addition per
/// element (wyrand's own form), with no multiply spent on the index.
#[inline(always)]
pub fn fill_stream<T>(key: u64, start: u64, out: &mut [T], conv: impl Fn(u64) -> T) {
    let mut s = key.wrapping_add(start.wrapping_add(1).wrapping_mul(WY0));
    for v in out {
        let t = (s as u128).wrapping_mul((s ^ WY1) as u128);
        *v = conv(((t >> 64) as u64) ^ (t as u64));
        s = s.wrapping_add(WY0);
    }
}

/// A uniform `f64` in `[0, 1)` from 64 random bits: the top 52 bits as the mantissa of a
/// number in `[1, 2)`, minus 1 (multiples of 2⁻⁵²). Building the float from its bits is
/// twice as fast as an integer-to-float conversion and vectorizes.
#[inline(always)]
pub fn unit_f64(bits: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (bits >> 12)) - 1.0
}

/// A uniform `f32` in `[0, 1)` from 64 random bits (the top 23 bits, as [`unit_f64`]).
#[inline(always)]
pub fn unit_f32(bits: u64) -> f32 {
    f32::from_bits(0x3F80_0000 | (bits >> 41) as u32) - 1.0
}

/// A standard normal value for element `index` (Box–Muller on two sub-streams).
#[inline]
pub fn standard_normal(key: u64, index: u64) -> f64 {
    let u1 = unit_f64(bits(key, index.wrapping_mul(2)));
    let u2 = unit_f64(bits(key, index.wrapping_mul(2).wrapping_add(1)));
    // 1 - u1 is in (0, 1], so the log is finite.
    (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A `rand` generator for one element: the stream of element `index` of seed `seed`.
///
/// Used by [`ChunkedArray::random_distribution`](crate::ChunkedArray::random_distribution):
/// each element gets its own generator, so the values are independent of the chunking.
///
/// ```
/// use rand::Rng;
/// let mut a = rask::kernels::random::CounterRng::new(7, 42);
/// let mut b = rask::kernels::random::CounterRng::new(7, 42);
/// assert_eq!(a.next_u64(), b.next_u64());
/// ```
#[derive(Debug, Clone)]
pub struct CounterRng {
    key: u64,
    counter: u64,
}

impl CounterRng {
    /// The generator of element `index` for `seed`.
    pub fn new(seed: u64, index: u64) -> Self {
        CounterRng {
            key: mix64(seed_key(seed) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03)),
            counter: 0,
        }
    }
}

impl rand::TryRng for CounterRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let v = bits(self.key, self.counter);
        self.counter = self.counter.wrapping_add(1);
        Ok(v)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_is_in_range_and_roughly_uniform() {
        let key = seed_key(0);
        let n = 100_000u64;
        let mut sum = 0.0;
        for i in 0..n {
            let u = unit_f64(bits(key, i));
            assert!((0.0..1.0).contains(&u));
            sum += u;
        }
        assert!((sum / n as f64 - 0.5).abs() < 0.005);
    }

    #[test]
    fn normal_has_unit_variance() {
        let key = seed_key(3);
        let n = 100_000u64;
        let xs: Vec<f64> = (0..n).map(|i| standard_normal(key, i)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.02, "mean {m}");
        assert!((v - 1.0).abs() < 0.02, "var {v}");
    }

    #[test]
    fn stream_fill_matches_bits() {
        let key = seed_key(9);
        let mut out = vec![0u64; 100];
        fill_stream(key, 1234, &mut out, |b| b);
        for (k, &v) in out.iter().enumerate() {
            assert_eq!(v, bits(key, 1234 + k as u64));
        }
    }

    #[test]
    fn seeds_give_different_streams() {
        assert_ne!(bits(seed_key(0), 0), bits(seed_key(1), 0));
    }
}
