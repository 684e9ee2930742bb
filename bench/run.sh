#!/usr/bin/env bash
# make bench: in one run, ptdispatch's plain tunnel (client + server)
# against a direct loopback connection, and a ptdispatch obfs4 pair against
# an obfs4proxy obfs4 pair. See bench/README.md.
#
#   bench/run.sh BINARY
#
# The traffic comes from ptd_loadgen (bench/loadgen.c): the one next to
# BINARY if CMake built it and it is not older than its source, else one
# compiled here with ${CC:-cc} into a temporary directory. Knobs
# (environment): BENCH_ONLY (all, or a list of plain, obfs4, shadow, udp), BENCH_RUNS (3),
# BENCH_SECONDS (2), BENCH_STREAMS (8), BENCH_IDLE (1000), BENCH_PARALLEL
# (8), BENCH_OBFS4PROXY (/usr/bin/obfs4proxy). Progress goes to stderr, the
# tables to stdout. Exit status is non-zero only if something broke (2 on a
# usage error, or when the obfs4 or shadow part is wanted and its peer is missing).
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

tmp="$(mktemp -d "${TMPDIR:-/tmp}/ptd-bench-run.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

loadgen="$(dirname "$binary")/ptd_loadgen"
if [[ ! -x "$loadgen" || "$here/loadgen.c" -nt "$loadgen" ]]; then
  cc="${CC:-cc}"
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "bench/run.sh: no $cc to build the load generator; install it: apt-get install gcc" >&2
    exit 2
  fi
  loadgen="$tmp/ptd_loadgen"
  "$cc" -std=c11 -O2 -D_GNU_SOURCE -pthread -o "$loadgen" "$here/loadgen.c"
fi

# 1,000 idle connections mean about 2,000 descriptors in each PT process
# (ptdispatch and obfs4proxy alike) and in the load generator: raise the
# soft limit, which every child inherits, as far as allowed.
idle="${BENCH_IDLE:-1000}"
if [[ "$idle" =~ ^[0-9]+$ ]]; then
  want=$((2 * idle + 256))
  hard="$(ulimit -Hn)"
  if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then
    echo "bench/run.sh: BENCH_IDLE=$idle needs $want descriptors per process but the hard" \
         "limit is $hard; raise it (ulimit -Hn, limits.conf) or lower BENCH_IDLE" >&2
    exit 2
  fi
  if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt "$want" ]]; then
    ulimit -n "$want"
  fi
fi

python3 "$here/tunnel_bench.py" "$binary" "$loadgen"
