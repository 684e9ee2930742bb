#!/usr/bin/env bash
# make bench: ptdispatch's plain tunnel against a direct connection and a
# two-hop socat chain, on loopback. See bench/README.md.
#
#   bench/run.sh BINARY
#
# Knobs (environment): BENCH_BYTES (256M), BENCH_RUNS (5), BENCH_CONNS (200),
# BENCH_ECHO_BYTES (64K), SOCAT (socat). Progress goes to stderr, the table to
# stdout. Exit status is non-zero only if something broke.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -ne 1 ]]; then
  echo "usage: bench/run.sh PTDISPATCH_BINARY" >&2
  exit 2
fi
binary="$1"
if [[ ! -f "$binary" || ! -x "$binary" ]]; then
  echo "bench/run.sh: $binary is not an executable file (build it first: make)" >&2
  exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "bench/run.sh: python3 not found; install it: apt-get install python3" >&2
  exit 2
fi
if ! command -v "${SOCAT:-socat}" >/dev/null 2>&1; then
  echo "bench/run.sh: socat not found (the comparison relay); install it: apt-get install socat" >&2
  exit 2
fi

exec python3 "$here/tunnel_bench.py" "$binary"
