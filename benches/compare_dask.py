#!/usr/bin/env python
"""Dask side of benches/compare.sh: the peer suite's workloads plus the ones it lacks.

    $PY benches/compare_dask.py --one NAME     # prints `RESULT {json}` (peers' harness)

Every workload of ../shared/peers/dask_suite.py is available under its own name, with the
peers' harness and timing policy (1 warm-up, best of 3). Added here:

* W12_anomaly_to_zarr: ``x - x.mean(axis=0)`` of big.zarr (or its first ``ANOMALY_ROWS``
  rows) written uncompressed to anomaly-dask.zarr (the out-of-core case of dask/dask#874). The value is the result at
  row n/2, column n/3, read back after the timed runs, for comparison with rask.
* W13_tasks_1e5 / W14_tasks_1e6: ``da.ones(10**6, chunks=10**6 // blocks).sum()``; the row
  carries the number of tasks in the optimized graph and the time per task.
"""

from __future__ import annotations

import os
import shutil
import sys

PEERS = os.environ.get("PEERS_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers")
sys.path.insert(0, os.path.abspath(PEERS))

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import zarr  # noqa: E402

import dask_suite  # noqa: E402
import harness  # noqa: E402
from harness import DATA_DIR, Workload  # noqa: E402

ANOMALY = os.path.join(DATA_DIR, "anomaly-dask.zarr")


class _ReadBack:
    """A value computed only when the harness converts it to float, after the timing."""

    def __init__(self, f):
        self.f = f

    def __float__(self):
        return float(self.f())


def _anomaly_element():
    a = zarr.open_array(ANOMALY, mode="r")
    return a[a.shape[0] // 2, a.shape[1] // 3]


def w12():
    x = da.from_zarr(dask_suite.BIG)
    rows = os.environ.get("ANOMALY_ROWS")
    if rows:
        x = x[: int(rows)]
    (x - x.mean(axis=0)).to_zarr(ANOMALY, mode="w", compressors=None)
    return _ReadBack(_anomaly_element)


def _tiny(blocks):
    return da.ones(10**6, chunks=10**6 // blocks).sum()


_TASKS = {}


def _tasks(blocks):
    if blocks not in _TASKS:
        (opt,) = dask.optimize(_tiny(blocks))
        _TASKS[blocks] = len(opt.__dask_graph__())
    return _TASKS[blocks]


def w13():
    return _tiny(10**5).compute()


def w14():
    return _tiny(10**6).compute()


EXTRA = [
    Workload("W12_anomaly_to_zarr", w12, "(x - x.mean(axis=0)).to_zarr(uncompressed) of big.zarr",
             "element [n/2, n/3] of the result", cache_files=dask_suite.big_files, needs_setup=True,
             prepare=lambda: shutil.rmtree(ANOMALY, ignore_errors=True)),
    Workload("W13_tasks_1e5", w13, "da.ones(1e6, chunks=10).sum()", "1e6"),
    Workload("W14_tasks_1e6", w14, "da.ones(1e6, chunks=1).sum()", "1e6"),
]
WORKLOADS = dict(dask_suite.WORKLOADS)
WORKLOADS.update({w.name: w for w in EXTRA})


def extra_info():
    info = dask_suite.extra_info()
    name = sys.argv[sys.argv.index("--one") + 1] if "--one" in sys.argv else ""
    if name in ("W13_tasks_1e5", "W14_tasks_1e6"):
        info["tasks"] = _tasks(10**5 if name == "W13_tasks_1e5" else 10**6)
    return info


if __name__ == "__main__":
    harness.main("dask", WORKLOADS, dask_suite.setup,
                 ["numpy", "dask", "zarr", "scipy", "psutil", "numcodecs"], extra_info)
