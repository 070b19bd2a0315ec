//! Georeferencing on the handle: [`GeoInfo`] access, and nodata as a mask.

use std::sync::Arc;

use super::ChunkedArray;
use crate::element::{Element, Float};
use crate::error::Error;
use crate::geo::GeoInfo;
use crate::kernels::elementwise::Unary;

impl<T: Element> ChunkedArray<T> {
    /// The georeferencing of the array's last two axes (rows, columns), if it has any: arrays
    /// read from GeoTIFF carry it, and operations pass it on or transform it (see
    /// [`crate::geo`] for the rules).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let g = rask::GeoInfo::new([0.0, 30.0, 0.0, 3000.0, 0.0, -30.0]).with_epsg(32610);
    /// let x = ChunkedArray::<f32>::ones(&[100, 100], &[50, 50]).with_geo(g.clone());
    /// assert_eq!((&x * 2.0).geo(), Some(&g));
    /// let half = x.slice(ndarray::s![50.., ..;2]).geo().unwrap().geotransform;
    /// assert_eq!(half, [0.0, 60.0, 0.0, 1500.0, 0.0, -30.0]);
    /// assert!(x.sum_axes(&[0]).geo().is_none()); // the rows are gone
    /// ```
    pub fn geo(&self) -> Option<&GeoInfo> {
        self.inner.as_ref().ok()?.geo.as_deref()
    }

    /// The array with georeferencing `geo` attached to its last two axes. An error (carried
    /// by the returned handle) when the array has fewer than two dimensions or the
    /// geotransform is not finite and invertible.
    pub fn with_geo(&self, geo: GeoInfo) -> ChunkedArray<T> {
        const OP: &str = "with_geo";
        let r = self.expr_ref().and_then(|e| {
            if e.grid.ndim() < 2 {
                return Err(Error::arg(
                    OP,
                    format!(
                        "georeferencing needs rows and columns; the array has shape {:?}",
                        e.shape()
                    ),
                ));
            }
            geo.validate(OP)?;
            Ok(e.with_geo(Some(Arc::new(geo))))
        });
        ChunkedArray::from_result(r)
    }

    /// The array without georeferencing.
    pub fn without_geo(&self) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().map(|e| {
            if e.geo.is_some() {
                e.with_geo(None)
            } else {
                e.clone()
            }
        }))
    }

    /// The nodata value of the array's georeferencing, if any.
    pub fn nodata(&self) -> Option<f64> {
        self.geo().and_then(|g| g.nodata)
    }

    /// `true` where an element holds data: not the nodata value and, for floats, not NaN.
    /// Without a nodata value, every non-NaN element is valid.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let g = rask::GeoInfo::new([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]).with_nodata(0.0);
    /// let x = ChunkedArray::from_ndarray(ndarray::arr2(&[[0u16, 5], [7, 0]]).view(), &[1, 2]);
    /// let valid = x.with_geo(g).valid_mask();
    /// assert_eq!(valid.count_nonzero().compute()?, 2);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn valid_mask(&self) -> ChunkedArray<bool> {
        match self.nodata() {
            Some(n) if !n.is_nan() => self.unary_kernel(Unary::kernel(
                format!("valid(nodata={n})"),
                format!("valid<{}>({:x})", T::DTYPE, n.to_bits()),
                move |v: T| !v.is_nan() && v.to_f64() != n,
            )),
            _ => self.unary_kernel(Unary::kernel(
                "valid",
                format!("valid<{}>", T::DTYPE),
                |v: T| !v.is_nan(),
            )),
        }
    }

    /// The array as `f64` with nodata (and NaN) as NaN, so that the nan-aware reductions
    /// (`nanmean`, `nanmedian_axis`, ...) skip it. The result's nodata is NaN.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let g = rask::GeoInfo::new([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]).with_nodata(0.0);
    /// let x = ChunkedArray::from_ndarray(ndarray::arr2(&[[0u16, 5], [7, 0]]).view(), &[1, 2]);
    /// assert_eq!(x.with_geo(g).masked_f64().nanmean().compute()?, 6.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn masked_f64(&self) -> ChunkedArray<f64> {
        let geo = self.geo().cloned();
        let out: ChunkedArray<f64> = match self.nodata() {
            Some(n) if !n.is_nan() => self.unary_kernel(Unary::kernel(
                format!("masked_f64(nodata={n})"),
                format!("masked_f64<{}>({:x})", T::DTYPE, n.to_bits()),
                move |v: T| {
                    let f = v.to_f64();
                    if f == n { f64::NAN } else { f }
                },
            )),
            _ => self.cast::<f64>(),
        };
        match geo {
            Some(g) => out.with_nodata_nan(g),
            None => out,
        }
    }

    /// `g` with a NaN nodata attached to this (float) array.
    fn with_nodata_nan(&self, g: GeoInfo) -> ChunkedArray<T> {
        ChunkedArray::from_result(self.expr_ref().map(|e| {
            e.with_geo(Some(Arc::new(GeoInfo {
                nodata: Some(f64::NAN),
                ..g
            })))
        }))
    }

    /// The array itself, or, when it carries a nodata value that is not NaN, the array with
    /// that value replaced by NaN (for the nan-aware reductions). Integer arrays are returned
    /// as they are (they hold no NaN to skip).
    pub(crate) fn nodata_as_nan(&self) -> ChunkedArray<T> {
        match self.nodata() {
            Some(n) if !n.is_nan() && crate::array::stats::is_float::<T>() => {
                let g = self.geo().cloned().expect("nodata implies geo");
                let nan = T::from_f64(f64::NAN);
                let m: ChunkedArray<T> = self.unary_kernel(Unary::kernel(
                    format!("masked(nodata={n})"),
                    format!("masked<{}>({:x})", T::DTYPE, n.to_bits()),
                    move |v: T| if v.to_f64() == n { nan } else { v },
                ));
                m.with_nodata_nan(g)
            }
            _ => self.clone(),
        }
    }
}

impl<T: Float> ChunkedArray<T> {
    /// The array with nodata as NaN, so that the nan-aware reductions skip it; the result's
    /// nodata is NaN. Without a nodata value, the array itself.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let g = rask::GeoInfo::new([0.0, 1.0, 0.0, 0.0, 0.0, -1.0]).with_nodata(-9999.0);
    /// let a = ndarray::arr2(&[[-9999.0f32, 2.0], [4.0, -9999.0]]);
    /// let x = ChunkedArray::from_ndarray(a.view(), &[2, 2]).with_geo(g);
    /// assert_eq!(x.masked().nanmean().compute()?, 3.0);
    /// assert!(x.masked().nodata().unwrap().is_nan());
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn masked(&self) -> ChunkedArray<T> {
        self.nodata_as_nan()
    }
}
