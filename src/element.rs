//! Element types: the dtypes a [`ChunkedArray`](crate::ChunkedArray) can hold.
//!
//! [`Element`] is implemented for `f32`, `f64`, `i8`..`i64`, `u8`..`u64` and `bool`, and is
//! sealed: the kernels are specialised per type at compile time, with no per-element dispatch.
//! [`Number`] adds arithmetic (wrapping for integers, division by zero gives 0 as in NumPy's
//! integer division without the warning), [`Float`] adds the transcendental functions.

// The sealed supertrait of `Element` carries crate-private tile accessors on purpose: users
// cannot name or call them, and the kernels get typed slices without per-element dispatch.
#![allow(private_interfaces)]

use std::fmt::{self, Debug};

/// The runtime tag of an element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DType {
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `i8`
    I8,
    /// `i16`
    I16,
    /// `i32`
    I32,
    /// `i64`
    I64,
    /// `u8`
    U8,
    /// `u16`
    U16,
    /// `u32`
    U32,
    /// `u64`
    U64,
    /// `bool`
    Bool,
}

impl DType {
    /// The size of one element in bytes.
    ///
    /// ```
    /// assert_eq!(rask::DType::F64.size(), 8);
    /// ```
    pub fn size(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }

    /// Every dtype.
    pub const ALL: [DType; 11] = [
        DType::F32,
        DType::F64,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::Bool,
    ];

    /// The alignment of one element in memory (its size, for every dtype).
    pub(crate) fn align(self) -> usize {
        self.size()
    }

    /// The `TypeId` of the Rust element type.
    pub(crate) fn elem_type_id(self) -> std::any::TypeId {
        crate::block::with_dtype!(self, T => std::any::TypeId::of::<T>())
    }

    /// The NumPy name of the dtype (`float64`, `int16`, `bool`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::Bool => "bool",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A read-only tile of elements of any dtype (a slice into a block or a scratch register).
#[derive(Clone, Copy)]
#[allow(missing_docs)]
pub(crate) enum TileSlice<'a> {
    F32(&'a [f32]),
    F64(&'a [f64]),
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
    Bool(&'a [bool]),
}

/// A writable tile of elements of any dtype.
#[allow(missing_docs)]
pub(crate) enum TileMut<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
    I8(&'a mut [i8]),
    I16(&'a mut [i16]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    U8(&'a mut [u8]),
    U16(&'a mut [u16]),
    U32(&'a mut [u32]),
    U64(&'a mut [u64]),
    Bool(&'a mut [bool]),
}

/// An owned scratch register of any dtype.
#[allow(missing_docs)]
pub(crate) enum TileVec {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    Bool(Vec<bool>),
}

macro_rules! tile_dispatch {
    ($($v:ident $t:ty),*) => {
        impl TileVec {
            pub(crate) fn new(dtype: DType, len: usize) -> TileVec {
                match dtype { $(DType::$v => TileVec::$v(vec![<$t>::default(); len]),)* }
            }
            /// A buffer for a whole new block whose every element the caller writes: a
            /// recycled block buffer of the current run when there is one (stale contents).
            pub(crate) fn for_block(dtype: DType, len: usize) -> TileVec {
                match dtype { $(DType::$v => TileVec::$v(crate::exec::recycle::buffer(len, <$t>::default())),)* }
            }
            pub(crate) fn as_slice(&self, len: usize) -> TileSlice<'_> {
                match self { $(TileVec::$v(v) => TileSlice::$v(&v[..len]),)* }
            }
            pub(crate) fn as_mut(&mut self, len: usize) -> TileMut<'_> {
                match self { $(TileVec::$v(v) => TileMut::$v(&mut v[..len]),)* }
            }
            pub(crate) fn sub_mut(&mut self, start: usize, len: usize) -> TileMut<'_> {
                match self { $(TileVec::$v(v) => TileMut::$v(&mut v[start..start + len]),)* }
            }
            /// The buffer as a block of `shape` (its length must be the product of `shape`).
            pub(crate) fn into_block(self, shape: &[usize]) -> crate::block::BlockRef {
                let shape = ndarray::IxDyn(shape);
                match self {
                    $(TileVec::$v(v) => std::sync::Arc::new(
                        ndarray::ArrayD::from_shape_vec(shape, v).expect("internal: block length"),
                    ),)*
                }
            }
        }
        impl<'a> TileSlice<'a> {
            pub(crate) fn sub(self, start: usize, len: usize) -> TileSlice<'a> {
                match self { $(TileSlice::$v(s) => TileSlice::$v(&s[start..start + len]),)* }
            }
            pub(crate) fn dtype(&self) -> DType {
                match self { $(TileSlice::$v(_) => DType::$v,)* }
            }
        }
        impl TileMut<'_> {
            pub(crate) fn dtype(&self) -> DType {
                match self { $(TileMut::$v(_) => DType::$v,)* }
            }
            pub(crate) fn copy_from(&mut self, src: TileSlice<'_>) {
                match (self, src) {
                    $((TileMut::$v(d), TileSlice::$v(s)) => d.copy_from_slice(s),)*
                    _ => unreachable!("tile dtype mismatch in copy"),
                }
            }
        }
    };
}
tile_dispatch!(F32 f32, F64 f64, I8 i8, I16 i16, I32 i32, I64 i64, U8 u8, U16 u16, U32 u32, U64 u64, Bool bool);

pub(crate) mod sealed {
    use super::{TileMut, TileSlice};

    /// Closes [`Element`](super::Element) to the listed types and carries the tile accessors
    /// that the kernels use (crate-private: not part of the public interface).
    pub trait Sealed: Sized {
        fn slice<'a>(t: TileSlice<'a>) -> &'a [Self];
        fn slice_mut<'a>(t: TileMut<'a>) -> &'a mut [Self];
        fn tile(s: &[Self]) -> TileSlice<'_>;
        fn tile_mut(s: &mut [Self]) -> TileMut<'_>;
    }
}

/// An element type of a chunked array: one of `f32`, `f64`, `i8`..`i64`, `u8`..`u64`, `bool`.
///
/// Conversions between element types follow Rust's `as` (and NumPy's `astype`): floats to
/// integers truncate and saturate, integers wrap, numbers to `bool` test for non-zero.
pub trait Element:
    Copy
    + Send
    + Sync
    + Debug
    + fmt::Display
    + PartialEq
    + PartialOrd
    + Default
    + 'static
    + sealed::Sealed
{
    /// The runtime tag of this type.
    const DTYPE: DType;
    /// The value as `f64` (`true` is 1).
    fn to_f64(self) -> f64;
    /// Convert from `f64` as `as` does.
    fn from_f64(v: f64) -> Self;
    /// Convert from `i64` as `as` does.
    fn from_i64(v: i64) -> Self;
    /// Convert from `u64` as `as` does.
    fn from_u64(v: u64) -> Self;
    /// Convert from `bool` (1 or 0).
    fn from_bool(v: bool) -> Self;
    /// Convert to another element type, as `as` does.
    fn cast<U: Element>(self) -> U;
    /// Whether the value is not zero (not `false`).
    fn is_nonzero(self) -> bool;
    /// Whether the value is NaN (always false for integers and `bool`).
    fn is_nan(self) -> bool {
        false
    }
}

macro_rules! element_common {
    ($v:ident, $t:ty) => {
        #[inline]
        fn slice<'a>(t: TileSlice<'a>) -> &'a [Self] {
            match t {
                TileSlice::$v(s) => s,
                other => unreachable!("kernel expected {} tile, got {}", DType::$v, other.dtype()),
            }
        }
        #[inline]
        fn slice_mut<'a>(t: TileMut<'a>) -> &'a mut [Self] {
            match t {
                TileMut::$v(s) => s,
                other => unreachable!("kernel expected {} tile, got {}", DType::$v, other.dtype()),
            }
        }
        #[inline]
        fn tile(s: &[Self]) -> TileSlice<'_> {
            TileSlice::$v(s)
        }
        #[inline]
        fn tile_mut(s: &mut [Self]) -> TileMut<'_> {
            TileMut::$v(s)
        }
    };
}

macro_rules! impl_float_element {
    ($v:ident, $t:ty) => {
        impl sealed::Sealed for $t {
            element_common!($v, $t);
        }
        impl Element for $t {
            const DTYPE: DType = DType::$v;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline]
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            #[inline]
            fn from_bool(v: bool) -> Self {
                v as u8 as $t
            }
            #[inline]
            fn cast<U: Element>(self) -> U {
                U::from_f64(self as f64)
            }
            #[inline]
            fn is_nonzero(self) -> bool {
                self != 0.0
            }
            #[inline]
            fn is_nan(self) -> bool {
                self != self
            }
        }
    };
}
impl_float_element!(F32, f32);
impl_float_element!(F64, f64);

macro_rules! impl_int_element {
    ($v:ident, $t:ty, $wide:ty, $from_wide:ident) => {
        impl sealed::Sealed for $t {
            element_common!($v, $t);
        }
        impl Element for $t {
            const DTYPE: DType = DType::$v;
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline]
            fn from_i64(v: i64) -> Self {
                v as $t
            }
            #[inline]
            fn from_u64(v: u64) -> Self {
                v as $t
            }
            #[inline]
            fn from_bool(v: bool) -> Self {
                v as $t
            }
            #[inline]
            fn cast<U: Element>(self) -> U {
                U::$from_wide(self as $wide)
            }
            #[inline]
            fn is_nonzero(self) -> bool {
                self != 0
            }
        }
    };
}
impl_int_element!(I8, i8, i64, from_i64);
impl_int_element!(I16, i16, i64, from_i64);
impl_int_element!(I32, i32, i64, from_i64);
impl_int_element!(I64, i64, i64, from_i64);
impl_int_element!(U8, u8, u64, from_u64);
impl_int_element!(U16, u16, u64, from_u64);
impl_int_element!(U32, u32, u64, from_u64);
impl_int_element!(U64, u64, u64, from_u64);

impl sealed::Sealed for bool {
    element_common!(Bool, bool);
}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    #[inline]
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    #[inline]
    fn from_i64(v: i64) -> Self {
        v != 0
    }
    #[inline]
    fn from_u64(v: u64) -> Self {
        v != 0
    }
    #[inline]
    fn from_bool(v: bool) -> Self {
        v
    }
    #[inline]
    fn cast<U: Element>(self) -> U {
        U::from_bool(self)
    }
    #[inline]
    fn is_nonzero(self) -> bool {
        self
    }
}

/// Element types with arithmetic: every type but `bool`.
///
/// Integer arithmetic wraps on overflow and integer division by zero gives zero, so that a
/// kernel never panics on data; floats follow IEEE 754.
pub trait Number: Element {
    /// The type `sum` and `prod` return: `f32`/`f64` for floats, `i64` for signed and `u64` for
    /// unsigned integers (as NumPy does).
    type Sum: Number;
    /// The type `mean`, `var` and `std` return: `f32` for `f32`, `f64` for everything else.
    type Mean: Float;
    /// The type sums accumulate in: `f64` for floats (also for `f32`, for accuracy), `i64` or
    /// `u64` for integers.
    type Acc: Number;
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// The largest value (`+inf` for floats).
    const MAX: Self;
    /// The smallest value (`-inf` for floats).
    const MIN: Self;
    /// `a + b`
    fn add(a: Self, b: Self) -> Self;
    /// `a - b`
    fn sub(a: Self, b: Self) -> Self;
    /// `a * b`
    fn mul(a: Self, b: Self) -> Self;
    /// `a / b`
    fn div(a: Self, b: Self) -> Self;
    /// `-a`
    fn neg(a: Self) -> Self;
    /// `|a|`
    fn abs(a: Self) -> Self;
    /// `a` raised to an integer power.
    fn powi(a: Self, n: i32) -> Self;
}

macro_rules! impl_float_number {
    ($t:ty, $mean:ty) => {
        impl Number for $t {
            type Sum = $t;
            type Mean = $mean;
            type Acc = f64;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MAX: Self = <$t>::INFINITY;
            const MIN: Self = <$t>::NEG_INFINITY;
            #[inline]
            fn add(a: Self, b: Self) -> Self {
                a + b
            }
            #[inline]
            fn sub(a: Self, b: Self) -> Self {
                a - b
            }
            #[inline]
            fn mul(a: Self, b: Self) -> Self {
                a * b
            }
            #[inline]
            fn div(a: Self, b: Self) -> Self {
                a / b
            }
            #[inline]
            fn neg(a: Self) -> Self {
                -a
            }
            #[inline]
            fn abs(a: Self) -> Self {
                a.abs()
            }
            #[inline]
            fn powi(a: Self, n: i32) -> Self {
                a.powi(n)
            }
        }
    };
}
impl_float_number!(f32, f32);
impl_float_number!(f64, f64);

macro_rules! impl_int_number {
    ($t:ty, $sum:ty, $abs:expr) => {
        impl Number for $t {
            type Sum = $sum;
            type Mean = f64;
            type Acc = $sum;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const MAX: Self = <$t>::MAX;
            const MIN: Self = <$t>::MIN;
            #[inline]
            fn add(a: Self, b: Self) -> Self {
                a.wrapping_add(b)
            }
            #[inline]
            fn sub(a: Self, b: Self) -> Self {
                a.wrapping_sub(b)
            }
            #[inline]
            fn mul(a: Self, b: Self) -> Self {
                a.wrapping_mul(b)
            }
            #[inline]
            fn div(a: Self, b: Self) -> Self {
                if b == 0 { 0 } else { a.wrapping_div(b) }
            }
            #[inline]
            fn neg(a: Self) -> Self {
                a.wrapping_neg()
            }
            #[inline]
            fn abs(a: Self) -> Self {
                let f: fn($t) -> $t = $abs;
                f(a)
            }
            #[inline]
            fn powi(a: Self, n: i32) -> Self {
                if n < 0 {
                    // Integer to a negative power: 1/a^|n| truncates to 0 except for |a| == 1.
                    match a {
                        1 => 1,
                        _ if Self::ONE.wrapping_neg() == a && a != 1 && <$t>::MIN != 0 => {
                            if n % 2 == 0 { 1 } else { a }
                        }
                        _ => 0,
                    }
                } else {
                    a.wrapping_pow(n as u32)
                }
            }
        }
    };
}
impl_int_number!(i8, i64, |a: i8| a.wrapping_abs());
impl_int_number!(i16, i64, |a: i16| a.wrapping_abs());
impl_int_number!(i32, i64, |a: i32| a.wrapping_abs());
impl_int_number!(i64, i64, |a: i64| a.wrapping_abs());
impl_int_number!(u8, u64, |a: u8| a);
impl_int_number!(u16, u64, |a: u16| a);
impl_int_number!(u32, u64, |a: u32| a);
impl_int_number!(u64, u64, |a: u64| a);

/// Floating-point element types: `f32` and `f64`.
pub trait Float: Number + num_traits::Float {}
impl Float for f32 {}
impl Float for f64 {}
