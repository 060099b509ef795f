#!/usr/bin/env bash
# The TAXII figures of BENCHMARKS.md in one run: hinomi on SQLite and PostgreSQL, then
# the peer (OASIS medallion 3.0.0, memory backend) on the same envelopes.
#   bench/taxii.sh [OBJECTS]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
PG="${HINOMI_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
VENV="${HINOMI_BENCH_VENV:-/var/tmp/hinomi-bench-venv}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hinomi-target}"
cargo build --release -j2 -p hinomi
cargo build --release -j2 -p hinomi-hub --example taxii_bench
BIN="$CARGO_TARGET_DIR/release/hinomi"
BENCH="$CARGO_TARGET_DIR/release/examples/taxii_bench"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"
echo "== hinomi, SQLite (synchronous=FULL)"
"$BENCH" --bin "$BIN" --objects "$N"
echo "== hinomi, PostgreSQL $(psql "$PG/postgres" -Atc 'show server_version')"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS hinomi_bench" -c "CREATE DATABASE hinomi_bench"
"$BENCH" --bin "$BIN" --objects "$N" --database-url "$PG/hinomi_bench"
echo "== peer: medallion 3.0.0"
if [ ! -x "$VENV/bin/medallion" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q medallion==3.0.0 requests
fi
"$VENV/bin/python" bench/medallion_peer.py --envelopes 3
# Same size as hinomi's first checkpoints, ingest only (its first page grows with N²).
"$VENV/bin/python" bench/medallion_peer.py --envelopes 100 --no-first-page
