#!/usr/bin/env python
"""Driver of benches/compare.sh: rask against Dask (and Cubed) on the peer suite's workloads,
in one run on one machine, with the machine limit of each workload beside them.

    $PY benches/compare.py --bin target/release/examples/compare [--only W1_random_mean,...]
        [--no-cubed] [--no-threads] [--dask-1e6] [--out benches]

For every workload, in this order and each in a fresh process: rask (all cores), Dask
(``compare_dask.py --one``, the peers' harness), Cubed where the peer suite has it (W1, W9),
the machine limit (``compare limit``: a hand-written rayon loop, ``cat`` of the files, or
two ``cat`` for the anomaly), and, for the compute-bound workloads, rask and the hand
loop again on one thread. Before each workload it waits for the machine to be quiet (up to
20 s) and runs the peers' canary. A sampler records the load average and the CPU used by
other processes throughout. Writes ``RESULTS.md`` (the previous run's section is kept under
"Previous run") and ``results.json`` (every raw row) into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = os.environ.get("PEERS_DIR") or os.path.join(HERE, "..", "..", "shared", "peers")
sys.path.insert(0, os.path.abspath(PEERS))

import harness  # noqa: E402

# name, class (memory: in-memory compute-bound; disk: reads or writes storage; tasks)
WORKLOADS = [
    ("W1_random_mean", "memory"),
    ("W2_random_sum_axis0", "memory"),
    ("W3_elementwise", "memory"),
    ("W4_std", "memory"),
    ("W5_transpose_add", "memory"),
    ("W6_matmul", "memory"),
    ("W7_rechunk", "memory"),
    ("W10_map_overlap_smooth", "memory"),
    ("W13_tasks_1e5", "tasks"),
    ("W14_tasks_1e6", "tasks"),
    ("W8_ndvi_write", "disk"),
    ("W8_ndvi_mean", "disk"),
    ("W8_ndvi_mean_from_store", "disk"),
    ("W9_big_mean_warm", "disk"),
    ("W9_big_mean_cold", "disk"),
    ("W12_anomaly_to_zarr", "disk"),
    ("W12_anomaly_to_zarr_512MiB", "disk"),
]
CUBED = {"W1_random_mean", "W9_big_mean_warm"}
# Dask runs the same workload for the rask-only budget variant.
DASK_NAME = {"W12_anomaly_to_zarr_512MiB": None}
LIMIT_KIND = {"memory": "hand", "disk": "cat"}
# Workloads whose input is zstd-compressed: also timed against a hand-written loop that reads
# and decodes every chunk (`compare decode`), the limit when decoding, not reading, bounds them.
DECODE = {"W8_ndvi_write", "W8_ndvi_mean", "W8_ndvi_mean_from_store"}
# Expected values of the random workloads (rask and Dask use different generators).
EXPECT = {
    "W1_random_mean": (0.5, 1e-3), "W2_random_sum_axis0": (5e7, 1e-3),
    "W3_elementwise": (8 / 3, 1e-3), "W4_std": (12 ** -0.5, 1e-3),
    "W5_transpose_add": (1.0, 1e-3), "W6_matmul": (1.6e10, 1e-2),
    "W7_rechunk": (5e7, 1e-3), "W10_map_overlap_smooth": (0.5, 1e-3),
    "W13_tasks_1e5": (1e6, 0.0), "W14_tasks_1e6": (1e6, 0.0),
}
# Same data on both sides: the values must agree to this relative tolerance.
SAME_DATA = {"W8_ndvi_mean": 1e-6, "W8_ndvi_mean_from_store": 1e-6,
             "W9_big_mean_warm": 1e-12, "W9_big_mean_cold": 1e-12,
             "W12_anomaly_to_zarr": 1e-12, "W12_anomaly_to_zarr_512MiB": 1e-12}


def sh(cmd: str) -> str:
    return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()


class Sampler(threading.Thread):
    """Samples the 1-minute load average and the CPU share used by everything (busy cores)
    every `period` seconds."""

    def __init__(self, period: float = 5.0):
        super().__init__(daemon=True)
        self.period, self.samples, self.stop = period, [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            b0, t0 = harness.system_busy_s(), time.time()
            if self.stop.wait(self.period):
                break
            busy = (harness.system_busy_s() - b0) / (time.time() - t0)
            self.samples.append({"t": round(time.time()), "load1": os.getloadavg()[0],
                                 "busy_cores": round(busy, 2)})


def run_json(cmd: list[str], timeout: float) -> dict:
    """Runs one measuring subprocess; returns its RESULT row plus the foreign CPU share."""
    t0 = time.perf_counter()
    try:
        with harness.Foreign() as fr:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s", "cmd": " ".join(cmd)}
    wall = time.perf_counter() - t0
    row = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            row = json.loads(line[len("RESULT "):])
    if row is None:
        row = {"error": f"rc={p.returncode}: {(p.stderr or p.stdout).strip()[-600:]}"}
    elif "error" in row:
        row["stderr_tail"] = p.stderr.strip()[-800:]
    row["subprocess_wall_s"] = round(wall, 2)
    row["foreign_cpu_frac"] = round(max(fr.foreign, 0.0) / max(wall * (os.cpu_count() or 1), 1e-9), 3)
    row["cmd"] = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))
    return row


def canary(py: str) -> dict:
    try:
        out = subprocess.run([py, os.path.join(PEERS, "harness.py"), "--canary"],
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])
    except Exception as e:  # pragma: no cover
        return {"error": str(e)}


def fmt_s(r: dict | None) -> str:
    if r is None:
        return "—"
    if "error" in r:
        return "failed"
    return f"{r['time_s']:.3f}"


def ok(r: dict | None) -> bool:
    return r is not None and "error" not in r and r.get("time_s") is not None


def ratio(a: dict | None, b: dict | None) -> float | None:
    return a["time_s"] / b["time_s"] if ok(a) and ok(b) and b["time_s"] > 0 else None


def fr(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def mark(cond: bool | None) -> str:
    return "" if cond is None else ("✓" if cond else "✗")


def value_check(name: str, rk: dict | None, dk: dict | None, lim: dict | None) -> str:
    if not ok(rk):
        return ""
    v = rk.get("value")
    parts = []
    if name in SAME_DATA and ok(dk) and isinstance(dk.get("value"), (int, float)) and v is not None:
        d = abs(v - dk["value"]) / max(abs(dk["value"]), 1e-300)
        parts.append(f"{'=' if d <= SAME_DATA[name] else '≠'} Dask (Δrel {d:.1e})")
    if name in EXPECT and v is not None:
        e, tol = EXPECT[name]
        good = abs(v - e) <= tol * abs(e)
        parts.append(f"{'≈' if good else '≠'} {e:.6g}")
        if ok(lim) and isinstance(lim.get("value"), (int, float)):
            d = abs(v - lim["value"]) / max(abs(lim["value"]), 1e-300)
            parts.append(f"{'=' if d <= 1e-9 else '≠'} hand")
    if name == "W8_ndvi_write":
        parts.append(f"{v:.0f} rows")
    return f"{v:.10g} " + ", ".join(parts) if v is not None else ", ".join(parts)


def targets(name: str, cls: str, r: dict) -> list[str]:
    """The issue's targets for this row, each with ✓/✗."""
    rk, dk, lim = r.get("rask"), r.get("dask"), r.get("limit")
    out = []
    vs_dask = ratio(dk, rk)
    vs_lim = ratio(rk, lim)
    if cls == "memory":
        if vs_dask is not None:
            # Where rask misses 10×, say how far Dask is from the hand-written loop itself:
            # no engine can beat Dask by more than that.
            ceiling = ratio(dk, lim)
            note = f" (hand loop: {ceiling:.1f}×)" if vs_dask < 10 and ceiling is not None else ""
            out.append(f"≥10× Dask {mark(vs_dask >= 10)}{note}")
        if vs_lim is not None:
            out.append(f"≤1.3× hand {mark(vs_lim <= 1.3)}")
    elif cls == "disk":
        if vs_dask is not None:
            out.append(f"≥3× Dask {mark(vs_dask >= 3)}")
        if vs_lim is not None and "cold" not in name and "write" not in name and "W12" not in name:
            out.append(f"≤1.2× cat {mark(vs_lim <= 1.2)}")
        vs_dec = ratio(rk, r.get("decode"))
        if vs_dec is not None:
            out.append(f"≤1.2× read+decode {mark(vs_dec <= 1.2)}")
    elif cls == "tasks" and ok(rk):
        out.append(f"≤5 µs/task {mark(rk.get('us_per_task', 1e9) <= 5)}")
        if "plan_build_s" in rk:
            out.append(f"plan < 1 s {mark(rk['plan_build_s'] < 1)}")
    if ok(rk) and ok(dk):
        out.append(f"RSS < Dask {mark(rk['peak_rss_mib'] < dk['peak_rss_mib'])}")
    return out


def contam(r: dict | None) -> str:
    if not ok(r):
        return ""
    f = r.get("foreign_cpu_frac")
    return "" if f is None else f"{f:.0%}"


def render(rows: dict, meta: dict) -> str:
    L = [f"## Run of {meta['date_utc']}", ""]
    L += [f"- machine: {meta['machine']}",
          f"- commit: `{meta['commit']}`; {meta['rustc']}; Dask {meta['versions'].get('dask')}, "
          f"NumPy {meta['versions'].get('numpy')}, Cubed {meta['versions'].get('cubed')}",
          f"- duration: {meta['duration_s'] / 60:.1f} min; load average (1 min) before "
          f"{meta['load_before']}, after {meta['load_after']}; sampled every 5 s during the run: "
          f"load median {meta['load_median']}, max {meta['load_max']}; busy cores (all "
          f"processes, ours included) median {meta['busy_median']}, max {meta['busy_max']}",
          f"- memory bandwidth (hand-written rayon sum of 2 GB in memory): "
          f"{meta.get('membw_1')} GB/s on 1 thread, {meta.get('membw_2')} GB/s on 2",
          *([f"- the anomaly (W12) read only the first {meta['anomaly_rows']} of big.zarr's 30000 "
             "rows (`--anomaly-rows`), to fit the free disk"] if meta.get("anomaly_rows") else []),
          "",
          "Times in seconds (1 warm-up, best of 3, each side in its own process); RSS = peak "
          "resident MiB of that process (imports included: rask ~5 MiB, Dask ~80 MiB). "
          "`limit`: the machine limit, a hand-written rayon loop (`hand`), `cat` of the input "
          "chunk files (warm cache unless cold), or, for the anomaly, `cat` of its input to "
          "/dev/null plus `cat` of it into one file (read twice, write once). `contam`: CPU used by other processes during the "
          "measuring process, as a share of its wall time × cores.", "",
          "| workload | rask s | Dask s | Dask / rask | limit s (what) | rask / limit | rask RSS MiB | "
          "Dask RSS MiB | value check | contam rask / Dask | targets |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"]
    for name, cls in WORKLOADS:
        r = rows.get(name)
        if r is None:
            continue
        rk, dk, lim = r.get("rask"), r.get("dask"), r.get("limit")
        lim_s = f"{fmt_s(lim)} ({lim.get('kind')})" if ok(lim) else ("—" if lim is None else "failed")
        extra = ""
        if ok(rk) and "us_per_task" in rk:
            extra = f" ({rk['us_per_task']:.2f} µs/task, {rk['tasks']} tasks; plan {rk['plan_build_s'] * 1e3:.1f} ms)"
        dtxt = fmt_s(dk) if dk is not None else "not run"
        if ok(dk) and dk.get("tasks"):
            dtxt += f" ({dk['time_s'] / dk['tasks'] * 1e6:.0f} µs/task, {dk['tasks']} tasks)"
        L.append(
            f"| {name} | {fmt_s(rk)}{extra} | {dtxt} | {fr(ratio(dk, rk), 1)} | {lim_s} | "
            f"{fr(ratio(rk, lim))} | {fr(rk.get('peak_rss_mib') if ok(rk) else None, 0)} | "
            f"{fr(dk.get('peak_rss_mib') if ok(dk) else None, 0)} | {value_check(name, rk, dk, lim)} | "
            f"{contam(rk)} / {contam(dk)} | {'; '.join(targets(name, cls, r))} |")
    errs = [(n, k, r[k]) for n, r in rows.items() for k in ("rask", "dask", "cubed", "limit",
                                                          "rask_1", "limit_1", "decode")
            if r.get(k) is not None and "error" in r[k]]
    scal = [(n, r) for n, r in rows.items() if r.get("rask_1") is not None]
    if scal:
        L += ["", "Thread scaling (compute-bound workloads): time on 1 thread / time on 2 threads, "
              "same run.", "",
              "| workload | rask 1 thr s | rask 2 thr s | rask speedup | hand 1 thr s | hand 2 thr s | "
              "hand speedup | target ≥ 1.8× |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        for n, r in scal:
            sp = ratio(r.get("rask_1"), r.get("rask"))
            hs = ratio(r.get("limit_1"), r.get("limit"))
            L.append(f"| {n} | {fmt_s(r.get('rask_1'))} | {fmt_s(r.get('rask'))} | {fr(sp)} | "
                     f"{fmt_s(r.get('limit_1'))} | {fmt_s(r.get('limit'))} | {fr(hs)} | "
                     f"{mark(None if sp is None else sp >= 1.8)} |")
    dec = [(n, r) for n, r in rows.items() if r.get("decode") is not None]
    if dec:
        L += ["", "Decode-bound rows: the input chunks are zstd-compressed, so reading them (`cat`) "
              "is not the limit; a hand-written rayon loop that reads every chunk file, decodes it "
              "with libzstd and reduces it (nothing else) is; for the write, it also encodes each "
              "NDVI chunk with zstd level 3 and writes it to its own file (timed with the removal "
              "of the previous output, as rask's `overwrite`). Same run.", "",
              "| workload | rask s | read+decode by hand s | rask / hand | Dask s | Dask / hand |",
              "|---|---:|---:|---:|---:|---:|"]
        for n, r in dec:
            d = r["decode"]
            L.append(f"| {n} | {fmt_s(r.get('rask'))} | {fmt_s(d)} | {fr(ratio(r.get('rask'), d))} | "
                     f"{fmt_s(r.get('dask'))} | {fr(ratio(r.get('dask'), d))} |")
    cub = [(n, r) for n, r in rows.items() if r.get("cubed") is not None]
    if cub:
        L += ["", "Cubed (threads executor, the peers' settings), same run:", "",
              "| workload | Cubed s | Cubed / rask | Cubed RSS MiB | value | contam |",
              "|---|---:|---:|---:|---|---|"]
        for n, r in cub:
            c = r["cubed"]
            L.append(f"| {n} | {fmt_s(c)} | {fr(ratio(c, r.get('rask')), 1)} | "
                     f"{fr(c.get('peak_rss_mib') if ok(c) else None, 0)} | "
                     f"{c.get('value', c.get('error', ''))} | {contam(c)} |")
    io = [(n, r["rask"]) for n, r in rows.items() if ok(r.get("rask")) and "stats" in r["rask"]
          and (r["rask"]["stats"].get("read_mib") or r["rask"]["stats"].get("written_mib"))]
    if io:
        L += ["", "rask's own accounting (`RunStats` of the last run) for the storage workloads:", "",
              "| workload | pool peak MiB | memory limit MiB | read MiB | written MiB | spilled MiB | "
              "re-read MiB | page cache before runs |", "|---|---:|---:|---:|---:|---:|---:|---|"]
        for n, rk in io:
            s = rk["stats"]
            res = rk.get("page_cache_residency_before_each_run") or []
            L.append(f"| {n} | {s['peak_memory_mib']:.0f} | {s['memory_limit_mib']:.0f} | "
                     f"{s['read_mib']:.0f} | {s['written_mib']:.0f} | {s['spilled_mib']:.0f} | "
                     f"{s['reread_mib']:.0f} | {', '.join('?' if x is None else f'{x:.0%}' for x in res)} |")
    if errs:
        L += ["", "Failures:", ""]
        for n, k, r in errs:
            L.append(f"- {n} ({k}): {r['error'][:300]}")
    return "\n".join(L) + "\n"


HEADER = """# rask against Dask and Cubed: results

Generated by `benches/compare.sh` (see docs/BENCHMARKS.md). Each run's section replaces the
"Latest run" below, and the run before it is kept under "Previous run". The machine is
shared: compare rows of one run, as ratios, and check the `contam` column and the load line.

"""


def write_results(out_dir: str, section: str) -> None:
    path = os.path.join(out_dir, "RESULTS.md")
    previous = ""
    if os.path.exists(path):
        text = open(path).read()
        m = re.search(r"^# Latest run\n(.*?)(?=^# Previous run\n|\Z)", text, re.S | re.M)
        if m:
            previous = m.group(1).strip() + "\n"
    with open(path, "w") as f:
        f.write(HEADER + "# Latest run\n\n" + section)
        if previous:
            f.write("\n# Previous run\n\n" + previous)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the compiled examples/compare binary")
    ap.add_argument("--only", help="comma-separated workloads")
    ap.add_argument("--no-cubed", action="store_true")
    ap.add_argument("--no-dask", action="store_true", help="rask and the limits only (a quick try)")
    ap.add_argument("--no-threads", action="store_true", help="skip the 1-thread runs")
    ap.add_argument("--dask-1e6", action="store_true", help="also run Dask on 10^6 blocks (minutes)")
    ap.add_argument("--anomaly-rows", type=int,
                    help="the anomaly reads only the first rows of big.zarr (when the disk is short)")
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--timeout", type=float, default=900, help="seconds per measuring process")
    a = ap.parse_args()
    py = sys.executable
    if a.anomaly_rows:
        os.environ["ANOMALY_ROWS"] = str(a.anomaly_rows)
    names = [n for n, _ in WORKLOADS]
    if a.only:
        want = a.only.split(",")
        bad = [w for w in want if w not in names]
        if bad:
            sys.exit(f"unknown workloads {bad}; known: {names}")
        names = [n for n in names if n in want]
    cls = dict(WORKLOADS)
    t_start = time.time()
    load_before = os.getloadavg()[0]
    sampler = Sampler()
    sampler.start()
    membw = {}
    for thr in (1, 2):
        r = run_json([a.bin, "membw", "--threads", str(thr)], a.timeout)
        membw[thr] = r.get("GBps")
    rows: dict[str, dict] = {}
    for n in names:
        harness.wait_quiet(max_wait_s=harness.QUIET_WAIT_WORKLOAD_S)
        r = {"canary": canary(py)}
        rows[n] = r
        r["rask"] = run_json([a.bin, "run", n], a.timeout)
        dname = DASK_NAME.get(n, n)
        if not a.no_dask and dname and (n != "W14_tasks_1e6" or a.dask_1e6):
            r["dask"] = run_json([py, os.path.join(HERE, "compare_dask.py"), "--one", dname], a.timeout)
        if not a.no_cubed and not a.no_dask and n in CUBED:
            r["cubed"] = run_json([py, os.path.join(PEERS, "cubed_suite.py"), "--one", n], a.timeout)
        kind = LIMIT_KIND.get(cls[n])
        if kind:
            r["limit"] = run_json([a.bin, "limit", n], a.timeout)
        if n in DECODE:
            r["decode"] = run_json([a.bin, "decode", n], a.timeout)
        if cls[n] == "memory" and not a.no_threads:
            r["rask_1"] = run_json([a.bin, "run", n, "--threads", "1"], a.timeout)
            r["limit_1"] = run_json([a.bin, "limit", n, "--threads", "1"], a.timeout)
        if n.startswith("W12"):
            # 7.2 GB each: free the disk for the next row.
            for d in ("anomaly-rask.zarr", "anomaly-dask.zarr"):
                shutil.rmtree(os.path.join(harness.DATA_DIR, d), ignore_errors=True)
        print(n, json.dumps({k: (v.get("time_s"), v.get("peak_rss_mib"), v.get("value"), v.get("error"))
                             for k, v in r.items() if isinstance(v, dict) and k != "canary"}), flush=True)
    sampler.stop.set()
    sampler.join()
    loads = sorted(s["load1"] for s in sampler.samples) or [os.getloadavg()[0]]
    busy = sorted(s["busy_cores"] for s in sampler.samples) or [0.0]
    vers = harness.versions(["numpy", "dask", "zarr", "cubed"])
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'")
    mem = sh("free -g | awk '/Mem:/ {print $2}'")
    meta = {
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores ({cpu}), {mem} GiB RAM, {platform.platform()}",
        "commit": sh("git -C " + HERE + " rev-parse --short HEAD") +
                  (" (+ uncommitted changes)" if sh("git -C " + HERE + " status --porcelain -uno") else ""),
        "rustc": sh("rustc --version"),
        "versions": vers,
        "duration_s": time.time() - t_start,
        "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
        "load_median": loads[len(loads) // 2], "load_max": loads[-1],
        "busy_median": busy[len(busy) // 2], "busy_max": busy[-1],
        "membw_1": membw.get(1), "membw_2": membw.get(2),
        "anomaly_rows": a.anomaly_rows,
    }
    section = render(rows, meta)
    os.makedirs(a.out, exist_ok=True)
    write_results(a.out, section)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows, "load_samples": sampler.samples}, f, indent=1)
    print(section)


if __name__ == "__main__":
    main()
