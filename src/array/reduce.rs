//! Reductions: over all elements (a [`Scalar`]) or over axes (an array).
//!
//! Each reduction runs as a tree whose shape is fixed by the chunk grid (see
//! `kernels::reduce`), so its result has the same bits for any thread count. Axes may be
//! negative (counted from the end), as in NumPy.

use std::marker::PhantomData;

use super::{ChunkedArray, Scalar};
use crate::element::{Element, Float, Number};
use crate::error::{Error, Result};
use crate::grid::c_strides;
use crate::kernels::reduce::{
    Arg, CountNonzero, MinMax, MomentOut, MomentsReducer, Prod, ReduceOp, ReduceRef, Sum, Truth,
    TruthReducer,
};
use crate::plan::{Expr, Op};

/// Options of the `*_opt` reductions.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::ones(&[4, 6], &[2, 3]);
/// let s = x.sum_axes_opt(&[1], &ReduceOpts::default().keepdims(true).split_every(2));
/// assert_eq!(s.shape(), &[4, 1]);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReduceOpts {
    keepdims: bool,
    split_every: Option<usize>,
}

impl ReduceOpts {
    /// Keep reduced axes with length 1 (default `false`).
    pub fn keepdims(mut self, keep: bool) -> Self {
        self.keepdims = keep;
        self
    }

    /// Fan-in of the reduction tree: how many partial results one task merges (default: the
    /// [`Config`](crate::Config)'s, 16). Must be at least 2.
    pub fn split_every(mut self, n: usize) -> Self {
        self.split_every = Some(n);
        self
    }
}

/// How arg reductions number elements.
#[derive(Clone, Copy)]
enum Index {
    /// Not an arg reduction.
    None,
    /// Flat C-order index over the whole array.
    Flat,
    /// Position along the one reduced axis.
    Axis,
}

/// Axis `a` of an array of `ndim` dimensions (negative counts from the end), or an error
/// naming `op` and the whole axis list `axes`.
pub(crate) fn normalize_axis(op: &str, axes: &[isize], a: isize, ndim: usize) -> Result<usize> {
    let k = if a < 0 { a + ndim as isize } else { a };
    if k < 0 || k >= ndim as isize {
        return Err(Error::axes(
            op,
            axes,
            ndim,
            &format!("axis {a} is out of range"),
        ));
    }
    Ok(k as usize)
}

/// Normalizes `axes` for an array of `ndim` dimensions: sorted, distinct, in range.
pub(crate) fn normalize_axes(op: &str, axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    if axes.is_empty() {
        return Err(Error::axes(op, axes, ndim, "the axis list is empty"));
    }
    let mut out = axes
        .iter()
        .map(|&a| normalize_axis(op, axes, a, ndim))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::axes(op, axes, ndim, "an axis is repeated"));
    }
    Ok(out)
}

impl<T: Element> ChunkedArray<T> {
    /// Builds a reduction over `axes` (`None`: all axes).
    fn reduce<U: Element>(
        &self,
        op: &str,
        kernel: ReduceRef,
        axes: Option<&[isize]>,
        opts: &ReduceOpts,
        index: Index,
    ) -> ChunkedArray<U> {
        let r = (|| {
            let e = self.expr_ref()?;
            let nd = e.grid.ndim();
            let axes = match axes {
                None => (0..nd).collect(),
                Some(a) => normalize_axes(op, a, nd)?,
            };
            if let Some(n) = opts.split_every
                && n < 2
            {
                return Err(Error::arg(
                    op,
                    format!("split_every must be at least 2, got {n}"),
                ));
            }
            if kernel.needs_elements() && axes.iter().any(|&k| e.shape()[k] == 0) {
                return Err(Error::arg(
                    op,
                    format!(
                        "zero-size reduction over axes {axes:?} of shape {:?} has no identity",
                        e.shape()
                    ),
                ));
            }
            let weights: Vec<u64> = match index {
                Index::None => vec![0; nd],
                Index::Flat => c_strides(e.shape()).into_iter().map(|s| s as u64).collect(),
                Index::Axis => (0..nd).map(|k| u64::from(axes.contains(&k))).collect(),
            };
            let sel: Vec<(Option<usize>, usize)> = (0..nd)
                .filter(|k| opts.keepdims || !axes.contains(k))
                .map(|k| {
                    if axes.contains(&k) {
                        (None, 1)
                    } else {
                        (Some(k), 0)
                    }
                })
                .collect();
            let grid = e.grid.select_axes(&sel);
            Ok(Expr::new(
                grid,
                U::DTYPE,
                Op::Reduce {
                    kernel,
                    axes,
                    keepdims: opts.keepdims,
                    split_every: opts.split_every,
                    weights,
                },
                vec![e.clone()],
            ))
        })();
        ChunkedArray::from_result(r)
    }
}

/// Generates `name()` (all elements), `name_axes(axes)` and `name_axes_opt(axes, opts)`.
macro_rules! reduction {
    ($doc:literal, $name:ident, $axes:ident, $opt:ident, $out:ty, $kernel:expr, $index:expr) => {
        #[doc = concat!($doc, " over all elements.")]
        pub fn $name(&self) -> Scalar<$out> {
            Scalar(self.reduce(
                stringify!($name),
                $kernel,
                None,
                &ReduceOpts::default(),
                $index,
            ))
        }

        #[doc = concat!($doc, " over `axes` (negative axes count from the end).")]
        pub fn $axes(&self, axes: &[isize]) -> ChunkedArray<$out> {
            self.$opt(axes, &ReduceOpts::default())
        }

        #[doc = concat!($doc, " over `axes`, with [`ReduceOpts`].")]
        pub fn $opt(&self, axes: &[isize], opts: &ReduceOpts) -> ChunkedArray<$out> {
            self.reduce(stringify!($axes), $kernel, Some(axes), opts, $index)
        }
    };
    // A NaN-skipping reduction: it also skips the array's nodata value (see `crate::geo`).
    (nan $doc:literal, $name:ident, $axes:ident, $opt:ident, $out:ty, $kernel:expr, $index:expr) => {
        #[doc = concat!($doc, " over all elements; nodata values are skipped too.")]
        pub fn $name(&self) -> Scalar<$out> {
            Scalar(self.nodata_as_nan().reduce(
                stringify!($name),
                $kernel,
                None,
                &ReduceOpts::default(),
                $index,
            ))
        }

        #[doc = concat!($doc, " over `axes` (negative axes count from the end); nodata values are skipped too.")]
        pub fn $axes(&self, axes: &[isize]) -> ChunkedArray<$out> {
            self.$opt(axes, &ReduceOpts::default())
        }

        #[doc = concat!($doc, " over `axes`, with [`ReduceOpts`]; nodata values are skipped too.")]
        pub fn $opt(&self, axes: &[isize], opts: &ReduceOpts) -> ChunkedArray<$out> {
            self.nodata_as_nan()
                .reduce(stringify!($axes), $kernel, Some(axes), opts, $index)
        }
    };
}

impl<T: Element> ChunkedArray<T> {
    reduction!(
        "Whether any element is non-zero (true)",
        any,
        any_axes,
        any_axes_opt,
        bool,
        ReduceOp::new_ref(TruthReducer::<T> {
            kind: Truth::Any,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        "Whether all elements are non-zero (true)",
        all,
        all_axes,
        all_axes_opt,
        bool,
        ReduceOp::new_ref(TruthReducer::<T> {
            kind: Truth::All,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        "The number of non-zero (true) elements",
        count_nonzero,
        count_nonzero_axes,
        count_nonzero_axes_opt,
        u64,
        ReduceOp::new_ref(CountNonzero::<T>(PhantomData)),
        Index::None
    );
}

impl<T: Number> ChunkedArray<T> {
    reduction!(
        "The sum (in `f64` for floats, `i64`/`u64` for integers, with wrapping)",
        sum,
        sum_axes,
        sum_axes_opt,
        T::Sum,
        ReduceOp::new_ref(Sum::<T> {
            skip_nan: false,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        "The product",
        prod,
        prod_axes,
        prod_axes_opt,
        T::Sum,
        ReduceOp::new_ref(Prod::<T>(PhantomData)),
        Index::None
    );
    reduction!(
        "The arithmetic mean (NaN for no elements)",
        mean,
        mean_axes,
        mean_axes_opt,
        T::Mean,
        ReduceOp::new_ref(MomentsReducer::<T> {
            out: MomentOut::Mean,
            skip_nan: false,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        "The minimum (NaN if any element is NaN)",
        min,
        min_axes,
        min_axes_opt,
        T,
        ReduceOp::new_ref(MinMax::<T> {
            max: false,
            skip_nan: false,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        "The maximum (NaN if any element is NaN)",
        max,
        max_axes,
        max_axes_opt,
        T,
        ReduceOp::new_ref(MinMax::<T> {
            max: true,
            skip_nan: false,
            _t: PhantomData
        }),
        Index::None
    );

    /// The variance with `ddof` delta degrees of freedom (0: population, 1: sample).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::arange(4, 3); // 0 1 2 3
    /// assert_eq!(x.var(0.0).compute()?, 1.25);
    /// assert!((x.std(1.0).compute()? - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn var(&self, ddof: f64) -> Scalar<T::Mean> {
        Scalar(self.moments(
            "var",
            MomentOut::Var(ddof),
            false,
            None,
            &ReduceOpts::default(),
        ))
    }

    /// The variance over `axes`.
    pub fn var_axes(&self, axes: &[isize], ddof: f64) -> ChunkedArray<T::Mean> {
        self.moments(
            "var_axes",
            MomentOut::Var(ddof),
            false,
            Some(axes),
            &ReduceOpts::default(),
        )
    }

    /// The variance over `axes`, with [`ReduceOpts`].
    pub fn var_axes_opt(
        &self,
        axes: &[isize],
        ddof: f64,
        opts: &ReduceOpts,
    ) -> ChunkedArray<T::Mean> {
        self.moments("var_axes", MomentOut::Var(ddof), false, Some(axes), opts)
    }

    /// The standard deviation with `ddof` delta degrees of freedom.
    pub fn std(&self, ddof: f64) -> Scalar<T::Mean> {
        Scalar(self.moments(
            "std",
            MomentOut::Std(ddof),
            false,
            None,
            &ReduceOpts::default(),
        ))
    }

    /// The standard deviation over `axes`.
    pub fn std_axes(&self, axes: &[isize], ddof: f64) -> ChunkedArray<T::Mean> {
        self.moments(
            "std_axes",
            MomentOut::Std(ddof),
            false,
            Some(axes),
            &ReduceOpts::default(),
        )
    }

    /// The standard deviation over `axes`, with [`ReduceOpts`].
    pub fn std_axes_opt(
        &self,
        axes: &[isize],
        ddof: f64,
        opts: &ReduceOpts,
    ) -> ChunkedArray<T::Mean> {
        self.moments("std_axes", MomentOut::Std(ddof), false, Some(axes), opts)
    }

    fn moments(
        &self,
        op: &str,
        out: MomentOut,
        skip_nan: bool,
        axes: Option<&[isize]>,
        opts: &ReduceOpts,
    ) -> ChunkedArray<T::Mean> {
        let ddof = match out {
            MomentOut::Var(d) | MomentOut::Std(d) => d,
            MomentOut::Mean => 0.0,
        };
        if !(ddof.is_finite() && ddof >= 0.0) {
            return ChunkedArray::err(Error::arg(
                op,
                format!("ddof must be finite and >= 0, got {ddof}"),
            ));
        }
        let k = ReduceOp::new_ref(MomentsReducer::<T> {
            out,
            skip_nan,
            _t: PhantomData,
        });
        self.reduce(op, k, axes, opts, Index::None)
    }

    /// The flat (C-order) index of the first minimum (of the first NaN, if any).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::from_fn(&[4, 5], &[3, 2], |i| ((i[0] * 5 + i[1]) as i32 - 7).abs());
    /// assert_eq!(x.argmin().compute()?, 7);
    /// assert_eq!(x.argmax_axis(1).compute()?.as_slice().unwrap(), &[0, 0, 4, 4]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn argmin(&self) -> Scalar<u64> {
        Scalar(self.reduce(
            "argmin",
            ReduceOp::new_ref(Arg::<T> {
                max: false,
                _t: PhantomData,
            }),
            None,
            &ReduceOpts::default(),
            Index::Flat,
        ))
    }

    /// The flat (C-order) index of the first maximum (of the first NaN, if any).
    pub fn argmax(&self) -> Scalar<u64> {
        Scalar(self.reduce(
            "argmax",
            ReduceOp::new_ref(Arg::<T> {
                max: true,
                _t: PhantomData,
            }),
            None,
            &ReduceOpts::default(),
            Index::Flat,
        ))
    }

    /// The index along `axis` of the first minimum.
    pub fn argmin_axis(&self, axis: isize) -> ChunkedArray<u64> {
        self.reduce(
            "argmin_axis",
            ReduceOp::new_ref(Arg::<T> {
                max: false,
                _t: PhantomData,
            }),
            Some(&[axis]),
            &ReduceOpts::default(),
            Index::Axis,
        )
    }

    /// The index along `axis` of the first maximum.
    pub fn argmax_axis(&self, axis: isize) -> ChunkedArray<u64> {
        self.reduce(
            "argmax_axis",
            ReduceOp::new_ref(Arg::<T> {
                max: true,
                _t: PhantomData,
            }),
            Some(&[axis]),
            &ReduceOpts::default(),
            Index::Axis,
        )
    }
}

impl<T: Float> ChunkedArray<T> {
    reduction!(
        nan
        "The sum skipping NaN",
        nansum,
        nansum_axes,
        nansum_axes_opt,
        T::Sum,
        ReduceOp::new_ref(Sum::<T> {
            skip_nan: true,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        nan
        "The mean skipping NaN (NaN when all are NaN)",
        nanmean,
        nanmean_axes,
        nanmean_axes_opt,
        T::Mean,
        ReduceOp::new_ref(MomentsReducer::<T> {
            out: MomentOut::Mean,
            skip_nan: true,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        nan
        "The minimum skipping NaN (NaN when all are NaN)",
        nanmin,
        nanmin_axes,
        nanmin_axes_opt,
        T,
        ReduceOp::new_ref(MinMax::<T> {
            max: false,
            skip_nan: true,
            _t: PhantomData
        }),
        Index::None
    );
    reduction!(
        nan
        "The maximum skipping NaN (NaN when all are NaN)",
        nanmax,
        nanmax_axes,
        nanmax_axes_opt,
        T,
        ReduceOp::new_ref(MinMax::<T> {
            max: true,
            skip_nan: true,
            _t: PhantomData
        }),
        Index::None
    );

    /// The variance skipping NaN.
    pub fn nanvar(&self, ddof: f64) -> Scalar<T::Mean> {
        Scalar(self.nodata_as_nan().moments(
            "nanvar",
            MomentOut::Var(ddof),
            true,
            None,
            &ReduceOpts::default(),
        ))
    }

    /// The variance over `axes` skipping NaN.
    pub fn nanvar_axes(&self, axes: &[isize], ddof: f64) -> ChunkedArray<T::Mean> {
        self.nodata_as_nan().moments(
            "nanvar_axes",
            MomentOut::Var(ddof),
            true,
            Some(axes),
            &ReduceOpts::default(),
        )
    }

    /// The standard deviation skipping NaN.
    pub fn nanstd(&self, ddof: f64) -> Scalar<T::Mean> {
        Scalar(self.nodata_as_nan().moments(
            "nanstd",
            MomentOut::Std(ddof),
            true,
            None,
            &ReduceOpts::default(),
        ))
    }

    /// The standard deviation over `axes` skipping NaN.
    pub fn nanstd_axes(&self, axes: &[isize], ddof: f64) -> ChunkedArray<T::Mean> {
        self.nodata_as_nan().moments(
            "nanstd_axes",
            MomentOut::Std(ddof),
            true,
            Some(axes),
            &ReduceOpts::default(),
        )
    }
}
