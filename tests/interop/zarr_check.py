"""Checks Zarr arrays written by rask with zarr-python: values, attributes, dimension names.

Usage: zarr_check.py DIR

DIR/manifest.json lists {name, path, dtype, shape, chunks, shards, format, attrs, dims,
compressor}; the expected values are in DIR/expected/NAME.bin (little-endian, C order).
Exits non-zero, naming each failing array, when anything differs.
"""

import json
import os
import sys

import numpy as np
import zarr

root = sys.argv[1]
with open(os.path.join(root, "manifest.json")) as f:
    manifest = json.load(f)

failures = []
for m in manifest:
    name = m["name"]
    try:
        a = zarr.open_array(os.path.join(root, m["path"]), mode="r")
        want = np.fromfile(os.path.join(root, "expected", name + ".bin"), dtype=np.dtype(m["dtype"]).newbyteorder("<"))
        want = want.reshape(m["shape"])
        got = a[...]
        assert a.metadata.zarr_format == m["format"], f"format {a.metadata.zarr_format}"
        assert str(a.dtype) == m["dtype"], f"dtype {a.dtype} != {m['dtype']}"
        assert list(a.shape) == m["shape"], f"shape {a.shape}"
        assert list(a.chunks) == m["chunks"], f"chunks {a.chunks} != {m['chunks']}"
        if m.get("shards"):
            assert a.shards is not None and list(a.shards) == m["shards"], f"shards {a.shards}"
        assert np.array_equal(got, want), f"values differ at {np.argwhere(got != want)[:3].tolist()}"
        attrs = dict(a.attrs)
        if m["format"] == 2 and m.get("dims"):
            assert attrs.pop("_ARRAY_DIMENSIONS") == m["dims"], "_ARRAY_DIMENSIONS"
        assert attrs == m["attrs"], f"attributes {attrs} != {m['attrs']}"
        if m["format"] == 3:
            dims = a.metadata.dimension_names
            assert (list(dims) if dims else None) == m.get("dims"), f"dimension_names {dims}"
        comp = m.get("compressor")
        if comp:
            codecs = json.dumps(a.metadata.to_dict())
            assert comp in codecs, f"compressor {comp} not in {codecs}"
        print(f"ok   {name}")
    except Exception as e:  # report every array, then fail
        failures.append(name)
        print(f"FAIL {name}: {type(e).__name__}: {e}")

print(f"{len(manifest) - len(failures)} arrays ok, {len(failures)} failed")
sys.exit(1 if failures else 0)
