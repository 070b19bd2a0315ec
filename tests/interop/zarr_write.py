"""Writes Zarr arrays with zarr-python in every layout rask must read, plus their values.

Usage: zarr_write.py OUT_DIR

Each array `NAME` is written under OUT_DIR (a store path, possibly inside a group), and its
expected values go to OUT_DIR/expected/NAME.bin (little-endian, C order; bool as one byte).
OUT_DIR/manifest.json lists {name, path, dtype, shape, chunks, attrs, dims} for each.
"""

import json
import os
import sys

import numcodecs
import numpy as np
import zarr
from numcodecs import zarr3 as nc3
from zarr.codecs import BloscCodec, BloscShuffle, GzipCodec, ZstdCodec

out = sys.argv[1]
os.makedirs(os.path.join(out, "expected"), exist_ok=True)
manifest = []
DTYPES = ["float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool"]


def values(dtype, shape, seed):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64) * 7919 + seed * 104729
    if dtype == "bool":
        v = (i % 3) == 0
    elif dtype.startswith("float"):
        v = ((i % 2003) - 1001).astype(dtype) / np.asarray(7, dtype=dtype)
    else:
        # Wraps around the type's range, so extreme values (and the sign bit) occur.
        v = (i * 2654435761).astype(dtype)
    return v.reshape(shape)


def record(name, path, expected, chunks, attrs=None, dims=None):
    expected = np.ascontiguousarray(expected)
    raw = expected.astype(expected.dtype.newbyteorder("<")).tobytes()
    with open(os.path.join(out, "expected", name + ".bin"), "wb") as f:
        f.write(raw)
    manifest.append(dict(name=name, path=path, dtype=str(expected.dtype), shape=list(expected.shape),
                         chunks=list(chunks), attrs=attrs or {}, dims=dims))


def v3(name, data, chunks, seed=0, **kw):
    path = name + ".zarr"
    a = zarr.create_array(os.path.join(out, path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                          zarr_format=3, **kw)
    a[...] = data
    return path


def v2(name, data, chunks, **kw):
    path = name + ".zarr"
    a = zarr.create_array(os.path.join(out, path), shape=data.shape, chunks=chunks, dtype=data.dtype,
                          zarr_format=2, **kw)
    a[...] = data
    return path


shape, chunks = (37, 23), (10, 7)

# Every dtype, V3 (default codecs) and V2 (default compressor).
for k, dt in enumerate(DTYPES):
    d = values(dt, shape, k)
    record(f"v3_{dt}", v3(f"v3_{dt}", d, chunks), d, chunks)
    record(f"v2_{dt}", v2(f"v2_{dt}", d, chunks), d, chunks)

d = values("float64", shape, 50)
d32 = values("int32", shape, 51)
# V3 codecs.
v3_codecs = {
    "v3_blosc_lz4_shuffle": [BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.shuffle)],
    "v3_blosc_zstd_bitshuffle": [BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.bitshuffle)],
    "v3_blosc_lz4_noshuffle": [BloscCodec(cname="lz4", clevel=5, shuffle=BloscShuffle.noshuffle)],
    "v3_zstd": [ZstdCodec(level=5)],
    "v3_gzip": [GzipCodec(level=6)],
    "v3_zlib": [nc3.Zlib(level=6)],
    "v3_none": None,
}
for name, comp in v3_codecs.items():
    for arr, suffix in ((d, ""), (d32, "_i32")):
        record(name + suffix, v3(name + suffix, arr, chunks, compressors=comp), arr, chunks)

# V2 compressors, C and F order.
v2_comps = {
    "v2_blosc_lz4_shuffle": numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    "v2_blosc_zstd_bitshuffle": numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE),
    "v2_zstd": numcodecs.Zstd(level=5),
    "v2_gzip": numcodecs.GZip(level=6),
    "v2_zlib": numcodecs.Zlib(level=6),
    "v2_none": None,
}
for name, comp in v2_comps.items():
    for arr, suffix in ((d, ""), (d32, "_i32")):
        record(name + suffix, v2(name + suffix, arr, chunks, compressors=comp), arr, chunks)
    record(name + "_order_f", v2(name + "_order_f", d, chunks, compressors=comp, order="F"), d, chunks)

# Sharded V3: shards of 2 x 2 chunks (and a partial shard at each edge).
for dt in ("float32", "uint16", "bool"):
    a = values(dt, shape, 60)
    name = f"v3_sharded_{dt}"
    record(name, v3(name, a, chunks, shards=(20, 14)), a, (20, 14))

# Missing chunks read as the fill value.
for fmt in (2, 3):
    name = f"v{fmt}_fill"
    a = zarr.create_array(os.path.join(out, name + ".zarr"), shape=shape, chunks=chunks, dtype="int16",
                          fill_value=-7, zarr_format=fmt)
    full = np.full(shape, -7, dtype="int16")
    full[3:15, 2:9] = values("int16", (12, 7), 70)
    a[3:15, 2:9] = full[3:15, 2:9]
    record(name, name + ".zarr", full, chunks)
    name = f"v{fmt}_fill_f64_nan"
    a = zarr.create_array(os.path.join(out, name + ".zarr"), shape=shape, chunks=chunks, dtype="float64",
                          fill_value=2.5, zarr_format=fmt)
    full = np.full(shape, 2.5)
    full[20:, :5] = 1.25
    a[20:, :5] = 1.25
    record(name, name + ".zarr", full, chunks)

# Arrays in groups, with attributes and dimension names; a 3-d array.
for fmt in (2, 3):
    g = zarr.open_group(os.path.join(out, f"group_v{fmt}.zarr"), mode="w", zarr_format=fmt)
    g.attrs["title"] = "test group"
    sub = g.create_group("sub")
    t = values("float32", (4, 9, 11), 80)
    kw = dict(dimension_names=["time", "y", "x"]) if fmt == 3 else {}
    a = sub.create_array("temperature", shape=t.shape, chunks=(2, 4, 5), dtype="float32", **kw)
    a[...] = t
    attrs = {"units": "K", "scale": 0.5, "tags": ["a", "b"]}
    a.attrs.update(attrs)
    if fmt == 2:
        a.attrs["_ARRAY_DIMENSIONS"] = ["time", "y", "x"]
        attrs = dict(attrs, _ARRAY_DIMENSIONS=["time", "y", "x"])
    record(f"group_v{fmt}", f"group_v{fmt}.zarr/sub/temperature", t, (2, 4, 5), attrs, ["time", "y", "x"])

# A big-endian V2 array.
b = values("int32", shape, 90).astype(">i4")
record("v2_big_endian", v2("v2_big_endian", b, chunks), b.astype("<i4"), chunks)

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1)
print(f"wrote {len(manifest)} arrays")
