"""Writes GeoTIFFs of every layout rask reads, with GDAL, and what GDAL reads back from them.

Usage: python3 tiff_make.py OUTDIR

For each case, OUTDIR/NAME.tif is the file and OUTDIR/NAME.npy the array GDAL reads from it,
of shape (bands, rows, cols). OUTDIR/manifest.json lists the cases with their dtype, layout
and georeferencing as GDAL reports them.
"""
import json
import os
import sys

import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
out = sys.argv[1]
os.makedirs(out, exist_ok=True)

ROWS, COLS = 300, 470  # not multiples of the tiles: edge tiles are padded
GT = (500000.0, 10.0, 0.0, 4600000.0, 0.0, -10.0)
EPSG = 32633

DTYPES = {
    "uint8": gdal.GDT_Byte,
    "uint16": gdal.GDT_UInt16,
    "int16": gdal.GDT_Int16,
    "uint32": gdal.GDT_UInt32,
    "int32": gdal.GDT_Int32,
    "float32": gdal.GDT_Float32,
    "float64": gdal.GDT_Float64,
}


def data(dtype, bands):
    """Values with structure (so predictors matter) and noise, over the dtype's range."""
    b, r, c = np.meshgrid(np.arange(bands), np.arange(ROWS), np.arange(COLS), indexing="ij")
    rng = np.random.default_rng(7)
    if dtype.startswith("float"):
        v = np.sin(r / 17.0) * 1000 + c * 0.25 + b * 100 + rng.normal(0, 1, r.shape)
        v[0, 5, 7] = np.nan if dtype == "float64" else v[0, 5, 7]
        return v.astype(dtype)
    info = np.iinfo(dtype)
    v = (r * 7 + c * 3 + b * 1000 + rng.integers(0, 5, r.shape)).astype(np.int64)
    v = info.min + (v % (int(info.max) - int(info.min) + 1))
    return v.astype(dtype)


def mem(dtype, bands, nodata=None, empty_rows=0):
    arr = data(dtype, bands)
    if nodata is not None:
        arr[:, 10:20, 30:50] = nodata  # a patch of missing pixels
        arr[:, :empty_rows, :] = nodata  # whole tiles of them (not written with SPARSE_OK)
    ds = gdal.GetDriverByName("MEM").Create("", COLS, ROWS, bands, DTYPES[dtype])
    ds.SetGeoTransform(GT)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    ds.SetProjection(srs.ExportToWkt())
    for i in range(bands):
        band = ds.GetRasterBand(i + 1)
        band.WriteArray(arr[i])
        if nodata is not None:
            band.SetNoDataValue(nodata)
    return ds


cases = []


def case(name, dtype, bands, options, fmt="GTiff", nodata=None, empty_rows=0):
    path = os.path.join(out, name + ".tif")
    src = mem(dtype, bands, nodata, empty_rows)
    gdal.Translate(path, src, format=fmt, creationOptions=options)
    ds = gdal.Open(path)
    arr = np.stack([ds.GetRasterBand(i + 1).ReadAsArray() for i in range(ds.RasterCount)])
    np.save(os.path.join(out, name + ".npy"), arr)
    srs = ds.GetSpatialRef()
    nd = ds.GetRasterBand(1).GetNoDataValue()
    cases.append({
        "name": name,
        "dtype": dtype,
        "bands": ds.RasterCount,
        "options": options,
        "geotransform": list(ds.GetGeoTransform()),
        "epsg": int(srs.GetAuthorityCode(None)) if srs is not None else None,
        "nodata": None if nd is None else ("nan" if np.isnan(nd) else nd),
    })


for dtype in DTYPES:
    float_ = dtype.startswith("float")
    case(f"{dtype}_tiled_deflate", dtype, 3, ["TILED=YES", "COMPRESS=DEFLATE"])
    case(f"{dtype}_striped_none", dtype, 1, ["COMPRESS=NONE"])
    case(f"{dtype}_striped_lzw_band", dtype, 2, ["COMPRESS=LZW", "INTERLEAVE=BAND"])
    case(f"{dtype}_tiled_lzw_pred2", dtype, 2,
         ["TILED=YES", "BLOCKXSIZE=128", "BLOCKYSIZE=64", "COMPRESS=LZW", "PREDICTOR=2"])
    case(f"{dtype}_tiled_zstd_band", dtype, 3,
         ["TILED=YES", "COMPRESS=ZSTD", "INTERLEAVE=BAND"] + (["PREDICTOR=2"] if not float_ else []))
    case(f"{dtype}_striped_packbits", dtype, 1, ["COMPRESS=PACKBITS", "BLOCKYSIZE=7"])
    if float_:
        case(f"{dtype}_tiled_deflate_pred3", dtype, 2,
             ["TILED=YES", "COMPRESS=DEFLATE", "PREDICTOR=3"], nodata=-9999.0)
        case(f"{dtype}_striped_zstd_pred3_band", dtype, 3,
             ["COMPRESS=ZSTD", "PREDICTOR=3", "INTERLEAVE=BAND"], nodata=float("nan"))
case("uint16_bigtiff_tiled", "uint16", 2, ["BIGTIFF=YES", "TILED=YES", "COMPRESS=DEFLATE"], nodata=0)
case("int16_bigtiff_striped", "int16", 1, ["BIGTIFF=YES", "COMPRESS=LZW", "PREDICTOR=2"])
case("uint16_cog", "uint16", 3, ["COMPRESS=DEFLATE", "BLOCKSIZE=256"], fmt="COG", nodata=65535)
case("float32_cog_pred", "float32", 1, ["COMPRESS=LZW", "PREDICTOR=YES"], fmt="COG")
case("uint16_sparse", "uint16", 1,
     ["TILED=YES", "BLOCKXSIZE=64", "BLOCKYSIZE=64", "SPARSE_OK=TRUE", "COMPRESS=DEFLATE"],
     nodata=7, empty_rows=128)
case("uint8_big_endian", "uint8", 1, ["ENDIANNESS=BIG", "TILED=YES", "COMPRESS=DEFLATE"])
case("int32_big_endian_pred2", "int32", 2,
     ["ENDIANNESS=BIG", "COMPRESS=LZW", "PREDICTOR=2", "TILED=YES"])
case("float64_big_endian_pred3", "float64", 1, ["ENDIANNESS=BIG", "COMPRESS=DEFLATE", "PREDICTOR=3"])

# JPEG: rask refuses it.
jpeg = os.path.join(out, "jpeg.tif")
gdal.Translate(jpeg, mem("uint8", 3), creationOptions=["COMPRESS=JPEG", "PHOTOMETRIC=YCBCR", "TILED=YES"])

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump({"cases": cases, "jpeg": "jpeg.tif"}, f, indent=1)
