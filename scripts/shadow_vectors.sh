#!/usr/bin/env bash
# shadow_vectors.sh: regenerates tests/unit/shadow_vectors.h, Shadowsocks
# AEAD (SIP004) known answers recorded from shadowsocks-libev's own
# ss-local and ss-server (the Debian package) for chacha20-ietf-poly1305,
# aes-256-gcm and aes-128-gcm. scripts/shadow_vectors.py does the work
# (loopback only, bounded waits, only its own processes are stopped); see
# its docstring for what is recorded.
#
# Not run by `make check`: the vectors are committed. Needs, as root:
#   apt-get install shadowsocks-libev python3
# Usage: scripts/shadow_vectors.sh [OUTPUT]   (default tests/unit/shadow_vectors.h)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/tests/unit/shadow_vectors.h}

for tool in ss-local ss-server; do
  if [[ ! -x /usr/bin/$tool ]]; then
    echo "shadow_vectors.sh: /usr/bin/$tool not found: apt-get install shadowsocks-libev" >&2
    exit 1
  fi
done
command -v python3 >/dev/null || { echo "shadow_vectors.sh: python3 not found: apt-get install python3" >&2; exit 1; }

# Three ciphers, two short recordings each; 120 s is generous.
timeout --kill-after=10 120 python3 "$root/scripts/shadow_vectors.py" >"$out.tmp" || {
  rc=$?
  rm -f "$out.tmp"
  echo "shadow_vectors.sh: generator failed (exit $rc)" >&2
  exit "$rc"
}
mv "$out.tmp" "$out"
echo "wrote $out"
