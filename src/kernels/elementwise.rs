//! Elementwise kernels over tiles.
//!
//! A kernel maps argument tiles to an output tile of the same length. Each kernel is a
//! generic struct over its closure, so the loop inside `eval` is monomorphic: the closure is
//! inlined and the loop vectorizes. Dispatch happens once per tile (a few thousand elements),
//! never per element.

use crate::element::sealed::Sealed as _;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::element::{DType, Element, TileMut, TileSlice};

/// One elementwise operation, type-erased at the tile level.
pub(crate) trait ElemKernel: Send + Sync {
    /// A short name for `explain`, e.g. `add` or `mul(2)`.
    fn name(&self) -> String;
    /// A key equal for kernels that compute the same function (for common subexpressions).
    fn key(&self) -> String;
    fn out_dtype(&self) -> DType;
    /// `out[i] = f(args[0][i], args[1][i], ...)`; all tiles have `out.len()` elements.
    fn eval(&self, args: &[TileSlice<'_>], out: TileMut<'_>);
}

pub(crate) type KernelRef = Arc<dyn ElemKernel>;

/// A unary kernel `T -> U`.
pub(crate) struct Unary<T, U, F> {
    name: String,
    key: String,
    f: F,
    _t: PhantomData<fn(T) -> U>,
}

impl<T: Element, U: Element, F: Fn(T) -> U + Send + Sync + 'static> Unary<T, U, F> {
    pub(crate) fn kernel(name: impl Into<String>, key: impl Into<String>, f: F) -> KernelRef {
        Arc::new(Unary {
            name: name.into(),
            key: key.into(),
            f,
            _t: PhantomData,
        })
    }
}

impl<T: Element, U: Element, F: Fn(T) -> U + Send + Sync + 'static> ElemKernel for Unary<T, U, F> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn key(&self) -> String {
        self.key.clone()
    }
    fn out_dtype(&self) -> DType {
        U::DTYPE
    }
    #[inline]
    fn eval(&self, args: &[TileSlice<'_>], out: TileMut<'_>) {
        let a = T::slice(args[0]);
        let o = U::slice_mut(out);
        for (o, &a) in o.iter_mut().zip(a) {
            *o = (self.f)(a);
        }
    }
}

/// A binary kernel `(T, T) -> U`.
pub(crate) struct Binary<T, U, F> {
    name: String,
    key: String,
    f: F,
    _t: PhantomData<fn(T, T) -> U>,
}

impl<T: Element, U: Element, F: Fn(T, T) -> U + Send + Sync + 'static> Binary<T, U, F> {
    pub(crate) fn kernel(name: impl Into<String>, key: impl Into<String>, f: F) -> KernelRef {
        Arc::new(Binary {
            name: name.into(),
            key: key.into(),
            f,
            _t: PhantomData,
        })
    }
}

impl<T: Element, U: Element, F: Fn(T, T) -> U + Send + Sync + 'static> ElemKernel
    for Binary<T, U, F>
{
    fn name(&self) -> String {
        self.name.clone()
    }
    fn key(&self) -> String {
        self.key.clone()
    }
    fn out_dtype(&self) -> DType {
        U::DTYPE
    }
    #[inline]
    fn eval(&self, args: &[TileSlice<'_>], out: TileMut<'_>) {
        let a = T::slice(args[0]);
        let b = T::slice(args[1]);
        let o = U::slice_mut(out);
        let n = o.len();
        let (a, b) = (&a[..n], &b[..n]);
        for i in 0..n {
            o[i] = (self.f)(a[i], b[i]);
        }
    }
}

/// `where(cond, a, b)`.
pub(crate) struct Select<T>(PhantomData<fn(T) -> T>);

impl<T: Element> Select<T> {
    pub(crate) fn new_ref() -> KernelRef {
        Arc::new(Select::<T>(PhantomData))
    }
}

impl<T: Element> ElemKernel for Select<T> {
    fn name(&self) -> String {
        "where".into()
    }
    fn key(&self) -> String {
        format!("where<{}>", T::DTYPE)
    }
    fn out_dtype(&self) -> DType {
        T::DTYPE
    }
    fn eval(&self, args: &[TileSlice<'_>], out: TileMut<'_>) {
        let c = bool::slice(args[0]);
        let a = T::slice(args[1]);
        let b = T::slice(args[2]);
        let o = T::slice_mut(out);
        let n = o.len();
        let (c, a, b) = (&c[..n], &a[..n], &b[..n]);
        for i in 0..n {
            o[i] = if c[i] { a[i] } else { b[i] };
        }
    }
}
