//! Georeferencing through the plan: which operations keep a `GeoInfo`, which transform it,
//! which drop it; grids that do not match are errors; nodata as a mask; Zarr round trips.

use ndarray::s;
use rask::prelude::*;
use rask::{Boundary, GeoInfo};

fn utm() -> GeoInfo {
    GeoInfo::new([400_000.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0]).with_epsg(32631)
}

fn stack() -> ChunkedArray<f32> {
    ChunkedArray::from_fn(&[4, 60, 80], &[2, 32, 32], |i| {
        (i[0] * 10_000 + i[1] * 100 + i[2]) as f32
    })
    .with_geo(utm().with_nodata(-1.0))
}

#[test]
fn grid_keeping_operations_keep_it() {
    let x = stack();
    let g = x.geo().unwrap().clone();
    let same = |a: Option<&GeoInfo>| a.is_some_and(|a| a.same_grid(&g));
    assert!(same((&x * 2.0 + 1.0).geo()));
    assert!(same((&x + &x).geo()));
    assert!(same(x.sqrt().geo()));
    assert!(same(x.cast::<f64>().geo()));
    assert!(same(x.rechunk(&[1, 60, 20]).geo()));
    assert!(same(x.mean_axes(&[0]).geo()), "a reduction over bands");
    assert!(same(x.nanmax_axes(&[0]).geo()));
    assert!(same(x.nanmedian_axis(0).geo()), "a composite over time");
    assert!(same(x.slice(s![1, .., ..]).geo()), "one band");
    assert!(same(
        x.map_overlap(&[0, 1, 1], Boundary::Reflect, |h, _| Ok(h.to_owned()))
            .geo()
    ));
    assert!(same(x.focal_mean(3, Boundary::Nearest).geo()));
    let band = x.slice(s![0, .., ..]);
    assert!(
        same((&x - &band).geo()),
        "a band broadcast against the stack"
    );
    assert!(same(rask::stack(&[&band, &band], 0).geo()));
    assert!(same(rask::concatenate(&[&x, &x], 0).geo()));
    assert!(same(rask::where_(&x.gt(5.0), &x, 0.0).geo()));
    assert!(same(x.map_blocks(|b, _| Ok(b.to_owned())).geo()));
}

#[test]
fn nodata_follows_the_values() {
    let x = stack();
    assert_eq!(x.nodata(), Some(-1.0));
    // Views, rechunks and casts do not change values: the marker stays.
    assert_eq!(x.slice(s![.., 10.., ..]).nodata(), Some(-1.0));
    assert_eq!(x.rechunk(&[4, 60, 80]).nodata(), Some(-1.0));
    assert_eq!(x.cast::<i32>().nodata(), Some(-1.0));
    // New values: the old marker no longer marks anything.
    assert_eq!((&x + 1.0).nodata(), None);
    assert_eq!(x.mean_axes(&[0]).nodata(), None);
    // NaN stays NaN through arithmetic.
    let m = x.masked();
    assert!(m.nodata().unwrap().is_nan());
    assert!((&m * 2.0).nodata().unwrap().is_nan());
    assert!(m.nanmean_axes(&[0]).nodata().unwrap().is_nan());
    assert_eq!(m.gt(3.0).nodata(), None);
}

#[test]
fn slicing_and_coarsening_transform_it() {
    let x = stack();
    let v = x.slice(s![.., 10..50;2, 20..]);
    assert_eq!(
        v.geo().unwrap().geotransform,
        [400_200.0, 10.0, 0.0, 4_999_900.0, 0.0, -20.0]
    );
    let f = x.slice(s![.., ..;-1, ..]);
    assert_eq!(
        f.geo().unwrap().geotransform,
        [400_000.0, 10.0, 0.0, 4_999_400.0, 0.0, 10.0]
    );
    // Pixel centres agree with the values: the flipped first row is the old last row.
    let c = x.coarsen(&[1, 4, 4], WindowStat::Mean, false);
    assert_eq!(
        c.geo().unwrap().geotransform,
        [400_000.0, 40.0, 0.0, 5_000_000.0, 0.0, -40.0]
    );
    let t = x.coarsen(&[1, 7, 7], WindowStat::Max, true);
    assert_eq!(t.shape(), &[4, 8, 11]);
    assert_eq!(t.geo().unwrap().geotransform[1], 70.0);
    // The extent of a slice lies inside the original's.
    let b0 = x.geo().unwrap().bounds(60, 80);
    let b1 = v.geo().unwrap().bounds(v.shape()[1], v.shape()[2]);
    assert!(b1[0] >= b0[0] && b1[1] >= b0[1] && b1[2] <= b0[2] && b1[3] <= b0[3]);
}

#[test]
fn grid_changing_operations_drop_it() {
    let x = stack();
    assert!(x.sum_axes(&[1]).geo().is_none(), "a reduction over rows");
    assert!(x.mean().as_array().geo().is_none());
    assert!(x.transpose(&[0, 2, 1]).geo().is_none());
    assert!(x.slice(s![.., 5, ..]).geo().is_none(), "one row");
    assert!(rask::concatenate(&[&x, &x], 1).geo().is_none());
    assert!(x.without_geo().geo().is_none());
}

#[test]
fn different_grids_are_an_error_naming_both() {
    let x = stack();
    let shifted = GeoInfo::new([400_010.0, 10.0, 0.0, 5_000_000.0, 0.0, -10.0]).with_epsg(32631);
    let y = x.without_geo().with_geo(shifted);
    let e = (&x + &y).check().unwrap_err().to_string();
    assert!(
        e.starts_with("add: the operands lie on different grids"),
        "{e}"
    );
    assert!(e.contains("400000") && e.contains("400010"), "{e}");
    let z = x.without_geo().with_geo(utm().with_epsg(32632));
    let e = rask::where_(&x.gt(1.0), &x, &z)
        .check()
        .unwrap_err()
        .to_string();
    assert!(e.contains("EPSG:32631") && e.contains("EPSG:32632"), "{e}");
    // An array without georeferencing combines with any.
    assert!((&x + &x.without_geo()).geo().is_some());
    // with_geo checks what it is given.
    let bad = x.with_geo(GeoInfo::new([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]));
    assert!(bad.check().unwrap_err().to_string().contains("invertible"));
    let one = ChunkedArray::<f32>::ones(&[5], &[5]).with_geo(utm());
    assert!(
        one.check()
            .unwrap_err()
            .to_string()
            .contains("rows and columns")
    );
}

#[test]
fn nodata_masks_and_skips() -> rask::Result<()> {
    let a = ndarray::arr2(&[[0u16, 4, 8], [0, 0, 12]]);
    let x = ChunkedArray::from_ndarray(a.view(), &[1, 2]).with_geo(utm().with_nodata(0.0));
    let valid = x.valid_mask().compute()?;
    assert_eq!(
        valid,
        ndarray::arr2(&[[false, true, true], [false, false, true]]).into_dyn()
    );
    let m = x.masked_f64();
    assert_eq!(m.nanmean().compute()?, 8.0);
    assert_eq!(m.nanmin().compute()?, 4.0);
    assert_eq!(
        m.nansum_axes(&[0]).compute()?.as_slice().unwrap(),
        &[0.0, 4.0, 20.0]
    );
    // Floats: the nan-reductions skip nodata by themselves.
    let f = x.cast::<f32>();
    assert_eq!(f.nodata(), Some(0.0));
    assert_eq!(f.nanmean().compute()?, 8.0);
    assert_eq!(f.nanmax().compute()?, 12.0);
    assert_eq!(
        f.nanmedian_axis(1).compute()?.as_slice().unwrap(),
        &[6.0, 12.0]
    );
    assert_eq!(f.mean().compute()?, 4.0, "plain reductions see every value");
    Ok(())
}

#[test]
fn zarr_round_trip_keeps_it() -> rask::Result<()> {
    let dir = std::env::temp_dir().join(format!("rask-geo-zarr-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let x = stack();
    for (name, format) in [
        ("v3.zarr", rask::ZarrFormat::V3),
        ("v2.zarr", rask::ZarrFormat::V2),
    ] {
        let p = dir.join(name);
        x.to_zarr(&p, &ZarrOptions::default().format(format))?;
        let z = rask::open_zarr(&p)?;
        assert_eq!(z.geo(), x.geo());
        assert_eq!(z.attributes()["epsg"], 32631);
        let back = z.into_typed::<f32>()?;
        assert_eq!(back.geo(), x.geo());
        assert_eq!(back.compute()?, x.compute()?);
    }
    let nan = x.masked();
    nan.to_zarr(dir.join("nan.zarr"), &ZarrOptions::default())?;
    let z = rask::open_zarr(dir.join("nan.zarr"))?;
    assert!(z.geo().unwrap().nodata.unwrap().is_nan());
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
