//! Creating arrays: random, constant, ranges, from data and from closures.

use crate::element::sealed::Sealed as _;
use std::marker::PhantomData;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayView, Dimension};
use rand::distr::Distribution;

use super::ChunkedArray;
use crate::element::{DType, Element, Float, Number, TileMut};
use crate::error::Result;
use crate::grid::{ChunkGrid, c_strides};
use crate::kernels::program::Generator;
use crate::kernels::random::{self, CounterRng};
use crate::plan::{Expr, FromBlocksFn, Op, fresh_id, standard};

// ---------------------------------------------------------------- generators

struct Uniform<T> {
    key: u64,
    seed: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Float> Generator for Uniform<T> {
    fn name(&self) -> String {
        format!("random(seed={})", self.seed)
    }
    fn key(&self) -> String {
        format!("uniform<{}>:{}", T::DTYPE, self.seed)
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>) {
        let key = self.key;
        match (T::DTYPE, step) {
            (DType::F32, 1) => {
                random::fill_stream(key, start as u64, f32::slice_mut(out), random::unit_f32)
            }
            (DType::F32, _) => fill_indexed(f32::slice_mut(out), start, step, |i| {
                random::unit_f32(random::bits(key, i))
            }),
            (_, 1) => random::fill_stream(key, start as u64, f64::slice_mut(out), random::unit_f64),
            _ => fill_indexed(f64::slice_mut(out), start, step, |i| {
                random::unit_f64(random::bits(key, i))
            }),
        }
    }
}

/// `out[k] = f(start + k * step)`, with the contiguous case (`step == 1`, by far the most
/// common) as its own loop so that no per-element multiply is spent on the index.
#[inline(always)]
fn fill_indexed<T: Copy>(out: &mut [T], start: i64, step: i64, f: impl Fn(u64) -> T) {
    match step {
        1 => {
            let start = start as u64;
            for (k, v) in out.iter_mut().enumerate() {
                *v = f(start + k as u64);
            }
        }
        0 => out.fill(f(start as u64)),
        _ => {
            for (k, v) in out.iter_mut().enumerate() {
                *v = f((start + k as i64 * step) as u64);
            }
        }
    }
}

struct Normal<T> {
    key: u64,
    seed: u64,
    mean: f64,
    std: f64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Float> Generator for Normal<T> {
    fn name(&self) -> String {
        format!(
            "random_normal({}, {}, seed={})",
            self.mean, self.std, self.seed
        )
    }
    fn key(&self) -> String {
        format!(
            "normal<{}>:{}:{}:{}",
            T::DTYPE,
            self.seed,
            self.mean.to_bits(),
            self.std.to_bits()
        )
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>) {
        let (key, mean, std) = (self.key, self.mean, self.std);
        fill_indexed(T::slice_mut(out), start, step, |i| {
            T::from_f64(mean + std * random::standard_normal(key, i))
        });
    }
}

struct FromDistribution<T, D> {
    dist: D,
    seed: u64,
    id: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, D: Distribution<T> + Send + Sync> Generator for FromDistribution<T, D> {
    fn name(&self) -> String {
        format!("random_distribution(seed={})", self.seed)
    }
    fn key(&self) -> String {
        format!("distribution:{}", self.id)
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>) {
        fill_indexed(T::slice_mut(out), start, step, |i| {
            self.dist.sample(&mut CounterRng::new(self.seed, i))
        });
    }
}

struct Constant<T> {
    value: T,
}

impl<T: Element> Generator for Constant<T> {
    fn name(&self) -> String {
        format!("full({:?})", self.value)
    }
    fn key(&self) -> String {
        format!("full<{}>:{:?}", T::DTYPE, self.value)
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, _start: i64, _step: i64, out: TileMut<'_>) {
        T::slice_mut(out).fill(self.value);
    }
}

struct Arange<T> {
    _t: PhantomData<fn() -> T>,
}

impl<T: Number> Generator for Arange<T> {
    fn name(&self) -> String {
        "arange".into()
    }
    fn key(&self) -> String {
        format!("arange<{}>", T::DTYPE)
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>) {
        fill_indexed(T::slice_mut(out), start, step, |i| T::from_i64(i as i64));
    }
}

struct FromFn<T, F> {
    f: F,
    shape: Vec<usize>,
    strides: Vec<usize>,
    id: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, F: Fn(&[usize]) -> T + Send + Sync> Generator for FromFn<T, F> {
    fn name(&self) -> String {
        "from_fn".into()
    }
    fn key(&self) -> String {
        format!("from_fn:{}", self.id)
    }
    fn dtype(&self) -> DType {
        T::DTYPE
    }
    fn fill(&self, start: i64, step: i64, out: TileMut<'_>) {
        let mut idx = vec![0usize; self.shape.len()];
        for (k, v) in T::slice_mut(out).iter_mut().enumerate() {
            let mut g = (start + k as i64 * step) as usize;
            for (i, s) in idx.iter_mut().zip(&self.strides) {
                *i = g / s;
                g %= s;
            }
            *v = (self.f)(&idx);
        }
    }
}

impl<T: Element> ChunkedArray<T> {
    fn generated(op: &str, shape: &[usize], chunks: &[usize], g: Arc<dyn Generator>) -> Self {
        Self::from_result(
            ChunkGrid::regular_for(op, shape, chunks)
                .map(|grid| Expr::new(grid, T::DTYPE, Op::Generate(g), vec![])),
        )
    }

    /// An array filled with `value`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ChunkedArray::full(&[2, 3], &[1, 2], 7u8).compute()?;
    /// assert!(a.iter().all(|&v| v == 7));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn full(shape: &[usize], chunks: &[usize], value: T) -> Self {
        Self::generated("full", shape, chunks, Arc::new(Constant { value }))
    }

    /// An array of zeros (`false` for `bool`).
    pub fn zeros(shape: &[usize], chunks: &[usize]) -> Self {
        Self::generated(
            "zeros",
            shape,
            chunks,
            Arc::new(Constant {
                value: T::default(),
            }),
        )
    }

    /// An array of ones (`true` for `bool`).
    ///
    /// ```
    /// use rask::prelude::*;
    /// assert_eq!(ChunkedArray::<i32>::ones(&[5, 5], &[2, 2]).sum().compute()?, 25);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn ones(shape: &[usize], chunks: &[usize]) -> Self {
        Self::generated(
            "ones",
            shape,
            chunks,
            Arc::new(Constant {
                value: T::from_bool(true),
            }),
        )
    }

    /// An array whose element at `index` is `f(index)`, called once per element while
    /// computing (in parallel, in any order).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ChunkedArray::from_fn(&[3, 4], &[2, 2], |i| (i[0] * 10 + i[1]) as i64);
    /// assert_eq!(a.compute()?[[2, 3]], 23);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn from_fn<F>(shape: &[usize], chunks: &[usize], f: F) -> Self
    where
        F: Fn(&[usize]) -> T + Send + Sync + 'static,
    {
        let g = FromFn {
            f,
            shape: shape.to_vec(),
            strides: c_strides(shape).into_iter().map(|s| s.max(1)).collect(),
            id: fresh_id(),
            _t: PhantomData,
        };
        Self::generated("from_fn", shape, chunks, Arc::new(g))
    }

    /// An array whose blocks are produced by `f(block_index)`, which must return an array of
    /// that block's shape (an `Err` or a wrong shape stops the computation with an error
    /// naming the block).
    ///
    /// ```
    /// use rask::prelude::*;
    /// use ndarray::ArrayD;
    /// let a = ChunkedArray::from_blocks(&[4, 4], &[2, 2], |b| {
    ///     Ok(ArrayD::from_elem(vec![2, 2], (b[0] * 2 + b[1]) as f64))
    /// });
    /// assert_eq!(a.sum().compute()?, 4.0 * (0.0 + 1.0 + 2.0 + 3.0));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn from_blocks<F>(shape: &[usize], chunks: &[usize], f: F) -> Self
    where
        F: Fn(&[usize]) -> Result<ArrayD<T>> + Send + Sync + 'static,
    {
        Self::from_result(
            ChunkGrid::regular_for("from_blocks", shape, chunks).map(|grid| {
                let src = FromBlocksFn { f, _t: PhantomData };
                Expr::new(grid, T::DTYPE, Op::FromBlocks(Arc::new(src)), vec![])
            }),
        )
    }

    /// A chunked array holding a copy of `view`, cut into `chunks`. Blocks are read from the
    /// copy without further copies.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ndarray::Array2::from_shape_fn((4, 6), |(i, j)| (i * 6 + j) as f32);
    /// let x = ChunkedArray::from_ndarray(a.view(), &[3, 4]);
    /// assert_eq!(x.sum().compute()?, (0..24).sum::<i32>() as f32);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn from_ndarray<D: Dimension>(view: ArrayView<'_, T, D>, chunks: &[usize]) -> Self {
        let data = standard(view.into_dyn().to_owned());
        Self::from_result(
            ChunkGrid::regular_for("from_ndarray", data.shape(), chunks)
                .map(|grid| Expr::new(grid, T::DTYPE, Op::Array(Arc::new(data)), vec![])),
        )
    }

    /// Random values drawn from any `rand` distribution. Element `i` is sampled with its own
    /// counter-based generator seeded by `(seed, i)`, so the values do not depend on the
    /// chunking or the thread count.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let d = rand::distr::Uniform::new(1u8, 7).unwrap(); // dice
    /// let a = ChunkedArray::random_distribution(&[1000], &[100], d, 1).compute()?;
    /// assert!(a.iter().all(|&v| (1..7).contains(&v)));
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn random_distribution<D>(shape: &[usize], chunks: &[usize], dist: D, seed: u64) -> Self
    where
        D: Distribution<T> + Send + Sync + 'static,
    {
        let g = FromDistribution {
            dist,
            seed,
            id: fresh_id(),
            _t: PhantomData,
        };
        Self::generated("random_distribution", shape, chunks, Arc::new(g))
    }
}

impl<T: Float> ChunkedArray<T> {
    /// Uniform random values in `[0, 1)` with seed 0.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let m = ChunkedArray::<f64>::random(&[1000, 1000], &[100, 100]).mean().compute()?;
    /// assert!((m - 0.5).abs() < 0.01);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn random(shape: &[usize], chunks: &[usize]) -> Self {
        Self::random_seeded(shape, chunks, 0)
    }

    /// Uniform random values in `[0, 1)`. The value at each index is a pure function of
    /// `(seed, index)`: the same for any chunking and thread count.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let a = ChunkedArray::<f64>::random_seeded(&[10, 10], &[3, 7], 5).compute()?;
    /// let b = ChunkedArray::<f64>::random_seeded(&[10, 10], &[10, 1], 5).compute()?;
    /// assert_eq!(a, b);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn random_seeded(shape: &[usize], chunks: &[usize], seed: u64) -> Self {
        let g = Uniform::<T> {
            key: random::seed_key(seed),
            seed,
            _t: PhantomData,
        };
        Self::generated("random", shape, chunks, Arc::new(g))
    }

    /// Normal random values with the given mean and standard deviation (Box–Muller over the
    /// counter-based generator; chunking-independent like [`random_seeded`](Self::random_seeded)).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::random_normal_seeded(&[1000, 1000], &[250, 250], 10.0, 2.0, 1);
    /// assert!((x.std(0.0).compute()? - 2.0).abs() < 0.01);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn random_normal_seeded(
        shape: &[usize],
        chunks: &[usize],
        mean: f64,
        std: f64,
        seed: u64,
    ) -> Self {
        if !(std >= 0.0 && std.is_finite() && mean.is_finite()) {
            return Self::err(crate::Error::arg(
                "random_normal_seeded",
                format!("mean {mean} and std {std} must be finite, with std >= 0"),
            ));
        }
        let g = Normal::<T> {
            key: random::seed_key(seed),
            seed,
            mean,
            std,
            _t: PhantomData,
        };
        Self::generated("random_normal", shape, chunks, Arc::new(g))
    }
}

impl<T: Number> ChunkedArray<T> {
    /// The 1-d array `0, 1, ..., n - 1` in chunks of `chunk`.
    ///
    /// ```
    /// use rask::prelude::*;
    /// assert_eq!(ChunkedArray::<i64>::arange(10, 3).sum().compute()?, 45);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn arange(n: usize, chunk: usize) -> Self {
        Self::generated(
            "arange",
            &[n],
            &[chunk],
            Arc::new(Arange::<T> { _t: PhantomData }),
        )
    }
}
