#!/usr/bin/env bash
# obfs4_vectors.sh: regenerates the obfs4 known-answer vectors in
# tests/unit/obfs4_vectors_*.h by running obfs4proxy 0.0.14's own Go code
# (the Debian source package, built against the same Debian Go libraries
# that Debian's obfs4proxy binary was built with: see its Built-Using).
#
# Each tests/vectors/obfs4/NAME/main.go is our generator; it is placed
# inside obfs4proxy's source tree (so it may import the internal packages)
# and its stdout becomes tests/unit/obfs4_vectors_NAME.h.
#
# Not run by `make check`: the vectors are committed. Needs, as root:
#   apt-get install golang-go golang-filippo-edwards25519-dev \
#     golang-gitlab-yawning-edwards25519-extra-dev golang-golang-x-crypto-dev \
#     golang-siphash-dev golang-goptlib-dev golang-golang-x-net-dev
# OBFS4_SRC may name an unpacked obfs4proxy 0.0.14 source tree; otherwise
# the script fetches it with apt-get source (deb-src for bookworm).
# Usage: scripts/obfs4_vectors.sh [NAME...]   (default: every generator)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ptd-obfs4vec.XXXXXX)
trap 'rm -rf "$work"' EXIT

src=${OBFS4_SRC:-}
if [[ -z "$src" ]]; then
  mkdir -p "$work/apt/sources.list.d" "$work/dl"
  cat >"$work/apt/sources.list" <<SRC
deb-src http://deb.debian.org/debian bookworm main
SRC
  apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list"
            -o "Dir::Etc::SourceParts=$work/apt/sources.list.d"
            -o "Dir::State::Lists=$work/apt/lists")
  mkdir -p "$work/apt/lists/partial"
  apt-get "${apt_opts[@]}" update -qq
  # The Debian packaging tarball may be gone from the mirror; the upstream
  # tarball is all we need.
  (cd "$work/dl" && apt-get "${apt_opts[@]}" source --download-only obfs4proxy=0.0.14-1 || true)
  tar -C "$work/dl" -xjf "$work"/dl/obfs4proxy_0.0.14.orig.tar.bz2
  src=$(echo "$work"/dl/obfs4-obfs4proxy-0.0.14)
fi

gopath="$work/gopath"
mod="$gopath/src/gitlab.com/yawning/obfs4.git"
mkdir -p "$(dirname "$mod")"
cp -r "$src" "$mod"
# The Debian package installs this library without the .git suffix that
# obfs4proxy imports it by.
ln -s /usr/share/gocode/src/gitlab.com/yawning/edwards25519-extra \
  "$gopath/src/gitlab.com/yawning/edwards25519-extra.git"

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  for d in "$root"/tests/vectors/obfs4/*/; do names+=("$(basename "$d")"); done
fi
for name in "${names[@]}"; do
  mkdir -p "$mod/ptdvec_$name"
  cp "$root/tests/vectors/obfs4/$name/main.go" "$mod/ptdvec_$name/"
  out="$root/tests/unit/obfs4_vectors_$name.h"
  (cd "$mod" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$work/cache" \
     go run "./ptdvec_$name") >"$out.tmp"
  mv "$out.tmp" "$out"
  echo "wrote $out"
done
