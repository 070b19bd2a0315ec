#!/usr/bin/env bash
# rask against Dask (and Cubed) on the peer suite's workloads, in one run on this machine:
#
#     bash benches/compare.sh [--only W1_random_mean,W9_big_mean_warm] [--no-cubed]
#                             [--no-threads] [--no-dask] [--dask-1e6]
#
# Builds the peers' Python environment in /tmp/peers-venv (from shared/peers/requirements.txt)
# and their input data in /tmp/peerdata (about 12 GB, created by dask_suite.py --setup-only)
# if missing, builds examples/compare in release mode, and runs benches/compare.py, which
# writes benches/RESULTS.md and benches/results.json. About 25 minutes on 2 cores once the
# data exists; not part of .ci/run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${PEERS_DIR:-$ROOT/../shared/peers}
VENV=${PEERS_VENV:-/tmp/peers-venv}
PY="$VENV/bin/python"
export PEERS_DIR=$PEERS

if [ ! -f "$PEERS/dask_suite.py" ]; then
    echo "error: the peer suite is not at $PEERS (set PEERS_DIR)" >&2
    exit 1
fi
if ! "$PY" -c "import dask, zarr, cubed, scipy" >/dev/null 2>&1; then
    echo "==> building $VENV from $PEERS/requirements.txt"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$PEERS/requirements.txt"
fi
command -v fincore >/dev/null || echo "note: fincore missing: page-cache residency not recorded" >&2

echo "==> input data in ${PEERDATA:-/tmp/peerdata} (created once, ~1 min)"
mkdir -p "${PEERDATA:-/tmp/peerdata}"
"$PY" "$PEERS/dask_suite.py" --setup-only

echo "==> cargo build --release --example compare"
(cd "$ROOT" && cargo build --release --example compare)
BIN="$ROOT/target/release/examples/compare"

echo "==> running (rask, Dask, Cubed, limits, interleaved per workload)"
cd "$ROOT"
"$PY" "$HERE/compare.py" --bin "$BIN" --out "$HERE" "$@"
