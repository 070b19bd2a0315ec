//! Georeferencing: where an array's pixels lie on the Earth, and which value marks "no data".
//!
//! A [`GeoInfo`] describes the last two axes of an array (rows, then columns): an affine
//! geotransform in GDAL's order, the EPSG code of the coordinate reference system, the nodata
//! value and whether the file called its pixels points or areas. Arrays read from GeoTIFF
//! (and from Zarr arrays written by rask) carry it; [`ChunkedArray::geo`](crate::ChunkedArray::geo)
//! returns it.
//!
//! The plan carries it from operation to operation, by these rules:
//!
//! - **Kept** by operations that keep the grid: elementwise operations, casts, `where_`,
//!   reductions over other axes (bands, time), `map_overlap` and the focal filters, rechunks,
//!   `map_blocks`, stacking and concatenating along other axes, broadcasting a 2-d array
//!   against a stack.
//! - **Transformed** by operations that change the grid: slicing (with steps, flips),
//!   `coarsen`.
//! - **Dropped** by the rest: transposes that swap rows and columns, reductions over rows or
//!   columns, indexing a single row or column, concatenation along rows or columns, matmul.
//! - **Nodata** survives operations that do not change values (views, slices, rechunks,
//!   concatenation) and casts. Operations that compute new values keep it only when it is NaN
//!   and the result is a float (NaN stays NaN through arithmetic); otherwise it is dropped:
//!   `x + 1` no longer has the old marker. Use [`masked`](crate::ChunkedArray::masked) first
//!   to turn nodata into NaN.
//!
//! Elementwise operations on two arrays that both carry a `GeoInfo` require the same grid
//! ([`GeoInfo::same_grid`]); otherwise building the operation fails, naming both grids.

use std::fmt;
use std::sync::Arc;

use crate::element::DType;
use crate::error::{Error, Result};
use crate::grid::ChunkGrid;
use crate::kernels::program::SrcAxis;
use crate::plan::{Expr, Op};

/// The georeferencing of the last two axes of an array (rows, columns).
///
/// The geotransform is GDAL's: the map coordinates of pixel corner `(col, row)` are
/// `x = gt[0] + col·gt[1] + row·gt[2]` and `y = gt[3] + col·gt[4] + row·gt[5]`, with
/// `(0, 0)` the top-left corner of the top-left pixel (also for files that declare
/// `PixelIsPoint`: as GDAL does, the half-pixel shift is applied when reading and undone
/// when writing).
///
/// ```
/// use rask::GeoInfo;
/// let g = GeoInfo::new([500_000.0, 10.0, 0.0, 4_600_000.0, 0.0, -10.0]).with_epsg(32633);
/// assert_eq!(g.pixel_to_map(0.0, 0.0), (500_000.0, 4_600_000.0));
/// assert_eq!(g.pixel_to_map(2.5, 1.0), (500_025.0, 4_599_990.0));
/// assert_eq!(g.bounds(100, 200), [500_000.0, 4_599_000.0, 502_000.0, 4_600_000.0]);
/// assert!(g.same_grid(&g.clone().with_nodata(0.0)));
/// ```
#[derive(Clone, Debug)]
pub struct GeoInfo {
    /// The affine transform from pixel corners to map coordinates, in GDAL's order.
    pub geotransform: [f64; 6],
    /// The EPSG code of the coordinate reference system, when the file names one.
    pub epsg: Option<u32>,
    /// The value that marks missing pixels (GDAL's nodata), if any. May be NaN.
    pub nodata: Option<f64>,
    /// Whether the file declared its pixel values as point samples (`PixelIsPoint`) rather
    /// than areas. The geotransform is corner-based either way.
    pub pixel_is_point: bool,
}

impl PartialEq for GeoInfo {
    /// Equal fields; two NaN nodata values are equal.
    fn eq(&self, other: &Self) -> bool {
        let nodata_eq = match (self.nodata, other.nodata) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b || (a.is_nan() && b.is_nan()),
            _ => false,
        };
        self.geotransform == other.geotransform
            && self.epsg == other.epsg
            && self.pixel_is_point == other.pixel_is_point
            && nodata_eq
    }
}

impl fmt::Display for GeoInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let g = &self.geotransform;
        match self.epsg {
            Some(e) => write!(f, "EPSG:{e} ")?,
            None => write!(f, "no CRS ")?,
        }
        write!(f, "origin ({}, {}) pixel ({}, {})", g[0], g[3], g[1], g[5])?;
        if g[2] != 0.0 || g[4] != 0.0 {
            write!(f, " rotation ({}, {})", g[2], g[4])?;
        }
        Ok(())
    }
}

impl GeoInfo {
    /// A `GeoInfo` with a geotransform and nothing else (no CRS, no nodata).
    pub fn new(geotransform: [f64; 6]) -> Self {
        GeoInfo {
            geotransform,
            epsg: None,
            nodata: None,
            pixel_is_point: false,
        }
    }

    /// Sets the EPSG code.
    pub fn with_epsg(mut self, epsg: u32) -> Self {
        self.epsg = Some(epsg);
        self
    }

    /// Sets the nodata value.
    pub fn with_nodata(mut self, nodata: f64) -> Self {
        self.nodata = Some(nodata);
        self
    }

    /// The map coordinates `(x, y)` of the pixel position `(col, row)` (fractional positions
    /// allowed: `(0.5, 0.5)` is the centre of the first pixel).
    pub fn pixel_to_map(&self, col: f64, row: f64) -> (f64, f64) {
        let g = &self.geotransform;
        (
            g[0] + col * g[1] + row * g[2],
            g[3] + col * g[4] + row * g[5],
        )
    }

    /// The pixel position `(col, row)` of the map coordinates `(x, y)`; `None` when the
    /// geotransform cannot be inverted.
    ///
    /// ```
    /// let g = rask::GeoInfo::new([100.0, 2.0, 0.0, 50.0, 0.0, -2.0]);
    /// assert_eq!(g.map_to_pixel(105.0, 44.0), Some((2.5, 3.0)));
    /// ```
    pub fn map_to_pixel(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let g = &self.geotransform;
        let det = g[1] * g[5] - g[2] * g[4];
        if det == 0.0 || !det.is_finite() {
            return None;
        }
        let (dx, dy) = (x - g[0], y - g[3]);
        Some(((dx * g[5] - dy * g[2]) / det, (dy * g[1] - dx * g[4]) / det))
    }

    /// The extent of a raster of `rows × cols` pixels: `[min_x, min_y, max_x, max_y]` over
    /// its four corners.
    pub fn bounds(&self, rows: usize, cols: usize) -> [f64; 4] {
        let (r, c) = (rows as f64, cols as f64);
        let corners = [
            self.pixel_to_map(0.0, 0.0),
            self.pixel_to_map(c, 0.0),
            self.pixel_to_map(0.0, r),
            self.pixel_to_map(c, r),
        ];
        let mut b = [
            f64::INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NEG_INFINITY,
        ];
        for (x, y) in corners {
            b[0] = b[0].min(x);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x);
            b[3] = b[3].max(y);
        }
        b
    }

    /// Whether two arrays lie on the same pixel grid: the same CRS and geotransforms equal
    /// to within a millionth of a pixel (nodata may differ).
    pub fn same_grid(&self, other: &GeoInfo) -> bool {
        if self.epsg != other.epsg {
            return false;
        }
        let (a, b) = (&self.geotransform, &other.geotransform);
        let pixel = a[1].abs().max(a[5].abs()).max(a[2].abs()).max(a[4].abs());
        let tol = pixel * 1e-6;
        a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol || x == y)
    }

    /// Whether `v` is the nodata value (NaN matches a NaN nodata).
    pub fn is_nodata(&self, v: f64) -> bool {
        match self.nodata {
            Some(n) if n.is_nan() => v.is_nan(),
            Some(n) => v == n,
            None => false,
        }
    }

    /// Checks that the geotransform is finite and invertible.
    pub(crate) fn validate(&self, op: &str) -> Result<()> {
        let g = &self.geotransform;
        let det = g[1] * g[5] - g[2] * g[4];
        if g.iter().any(|v| !v.is_finite()) || det == 0.0 || !det.is_finite() {
            return Err(Error::arg(
                op,
                format!("geotransform {g:?} is not finite and invertible"),
            ));
        }
        Ok(())
    }

    /// The grid of the pixels `start + step·k` along rows and columns (a strided slice; a
    /// negative step flips the axis).
    fn sliced(&self, (r0, rs): (i64, i64), (c0, cs): (i64, i64)) -> GeoInfo {
        // The corner of output pixel 0 is the near edge of input pixel `start` for a positive
        // step and its far edge for a negative one.
        let r0 = if rs < 0 { r0 + 1 } else { r0 } as f64;
        let c0 = if cs < 0 { c0 + 1 } else { c0 } as f64;
        let g = &self.geotransform;
        let (x0, y0) = self.pixel_to_map(c0, r0);
        let (rs, cs) = (rs as f64, cs as f64);
        GeoInfo {
            geotransform: [x0, g[1] * cs, g[2] * rs, y0, g[4] * cs, g[5] * rs],
            ..self.clone()
        }
    }

    /// The grid of blocks of `rows × cols` pixels (coarsening).
    pub(crate) fn coarsened(&self, rows: usize, cols: usize) -> GeoInfo {
        let g = &self.geotransform;
        let (r, c) = (rows as f64, cols as f64);
        GeoInfo {
            geotransform: [g[0], g[1] * c, g[2] * r, g[3], g[4] * c, g[5] * r],
            ..self.clone()
        }
    }

    /// This grid after an operation that computes new values of dtype `dtype`: nodata is
    /// kept only when it is NaN and the result is a float.
    pub(crate) fn recomputed(&self, dtype: DType) -> GeoInfo {
        GeoInfo {
            nodata: self
                .nodata
                .filter(|v| v.is_nan() && matches!(dtype, DType::F32 | DType::F64)),
            ..self.clone()
        }
    }
}

/// The georeferencing of the output of `op` over `inputs` (see the module docs).
pub(crate) fn derive(
    op: &Op,
    inputs: &[Arc<Expr>],
    grid: &ChunkGrid,
    dtype: DType,
) -> Option<Arc<GeoInfo>> {
    let nd = grid.ndim();
    if nd < 2 {
        return None;
    }
    let first = || inputs.first().and_then(|e| e.geo.clone());
    let recomputed = |g: Arc<GeoInfo>| {
        let r = g.recomputed(dtype);
        Some(if r == *g { g } else { Arc::new(r) })
    };
    match op {
        Op::Generate(_) | Op::Array(_) => None,
        Op::FromBlocks(s) => s.geo(),
        Op::Rechunk => first(),
        Op::MapBlocks(_) => recomputed(first()?),
        Op::Map(k) => {
            let mut geos = inputs.iter().filter_map(|e| e.geo.as_ref());
            let g = geos.next()?;
            if geos.any(|h| !g.same_grid(h)) {
                return None;
            }
            if k.name().starts_with("cast<") {
                let keep = match g.nodata {
                    Some(v) if v.is_nan() => matches!(dtype, DType::F32 | DType::F64),
                    _ => true,
                };
                if keep {
                    return Some(g.clone());
                }
            }
            recomputed(g.clone())
        }
        Op::View { src } => {
            let e = inputs.first()?;
            let g = e.geo.as_ref()?;
            let ind = e.grid.ndim();
            if ind < 2 {
                return None;
            }
            let axis = |k: usize, want: usize| match src.get(k) {
                Some(&SrcAxis::Out { axis, start, step }) if axis == want => Some((start, step)),
                _ => None,
            };
            let r = axis(ind - 2, nd - 2)?;
            let c = axis(ind - 1, nd - 1)?;
            if r == (0, 1) && c == (0, 1) {
                Some(g.clone())
            } else {
                Some(Arc::new(g.sliced(r, c)))
            }
        }
        Op::Reduce { axes, .. } => {
            let e = inputs.first()?;
            let ind = e.grid.ndim();
            if ind < 2 || axes.iter().any(|&a| a + 2 >= ind) {
                return None;
            }
            recomputed(e.geo.clone()?)
        }
        Op::Concat { axis } => {
            if *axis + 2 >= nd {
                return None;
            }
            let g = first()?;
            for e in &inputs[1..] {
                let h = e.geo.as_ref()?;
                if !g.same_grid(h) {
                    return None;
                }
                if h.nodata.map(f64::to_bits) != g.nodata.map(f64::to_bits) {
                    return Some(Arc::new(GeoInfo {
                        nodata: None,
                        ..(*g).clone()
                    }));
                }
            }
            Some(g)
        }
        Op::Blockwise(b) => b.geo(inputs, dtype),
    }
}

/// Checks that the operands of an elementwise operation that carry georeferencing lie on the
/// same grid.
pub(crate) fn check_same_grid(op: &str, exprs: &[Arc<Expr>]) -> Result<()> {
    let mut geos = exprs.iter().filter_map(|e| e.geo.as_ref());
    if let Some(g) = geos.next() {
        for h in geos {
            if !g.same_grid(h) {
                return Err(Error::arg(
                    op,
                    format!("the operands lie on different grids: {g} and {h}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliced_grids() {
        let g = GeoInfo::new([100.0, 10.0, 0.0, 200.0, 0.0, -10.0]);
        let s = g.sliced((2, 1), (3, 2));
        assert_eq!(s.geotransform, [130.0, 20.0, 0.0, 180.0, 0.0, -10.0]);
        // A flip: output pixel 0 is input pixel 9; its left edge is input column 10.
        let f = g.sliced((0, 1), (9, -1));
        assert_eq!(f.geotransform, [200.0, -10.0, 0.0, 200.0, 0.0, -10.0]);
        assert_eq!(
            g.coarsened(2, 4).geotransform,
            [100.0, 40.0, 0.0, 200.0, 0.0, -20.0]
        );
    }

    #[test]
    fn inverse_and_bounds() {
        let g = GeoInfo::new([10.0, 1.0, 0.5, 20.0, 0.25, -1.0]);
        let (x, y) = g.pixel_to_map(3.0, 7.0);
        let (c, r) = g.map_to_pixel(x, y).unwrap();
        assert!((c - 3.0).abs() < 1e-12 && (r - 7.0).abs() < 1e-12);
        assert!(GeoInfo::new([0.0; 6]).map_to_pixel(1.0, 1.0).is_none());
        assert!(!g.same_grid(&g.clone().with_epsg(4326)));
        assert!(!g.is_nodata(f64::NAN));
        assert!(g.clone().with_nodata(f64::NAN).is_nodata(f64::NAN));
    }
}
