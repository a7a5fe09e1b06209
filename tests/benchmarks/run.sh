#!/usr/bin/env bash
# The benchmark, one command: `tests/benchmarks/run.sh [--quick] [--sections bare,inprocess,...]`.
# Builds the benchmark's own environment (.venv-bench) the first time and whenever a
# requirements file changed, then runs it. A full run takes about 25 minutes on 2 cores and
# writes docs/BENCHMARKS.md; it uses the machine's MariaDB, PostgreSQL and Redis (see README.md).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SKIPLOCK_BENCH_VENV:-$REPO/.venv-bench}"
PYTHON="${PYTHON:-python3}"
stamp="$VENV/.bench-installed"
wanted="$(cat "$REPO/requirements.txt" "$REPO/requirements-dev.txt" \
  "$REPO/tests/benchmarks/requirements.txt" | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "installing the benchmark's requirements into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$REPO/tests/benchmarks/requirements.txt"
  echo "$wanted" > "$stamp"
fi
cd "$REPO"
exec "$VENV/bin/python" -m tests.benchmarks.run "$@"
