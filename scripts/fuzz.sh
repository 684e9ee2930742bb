#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target (fuzz_*, not the
# *_replay drivers) in BUILD_DIR for SECONDS each.
#
# Each target starts from fuzz/corpus/<name> but writes new inputs into a
# scratch copy, so the committed corpus stays the small hand-picked seeds
# plus past crashes. A crash input is copied into fuzz/corpus/<name>/ as
# crash-<hash>, where ctest's replay picks it up as a regression test.
# Prints one summary line per target; exits 1 if any target crashed.
set -euo pipefail

usage() {
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
build_dir=$1
seconds=$2
[[ -d $build_dir ]] || { echo "$0: no build dir: $build_dir" >&2; exit 2; }
[[ $seconds =~ ^[1-9][0-9]*$ ]] || { echo "$0: SECONDS must be a positive integer" >&2; exit 2; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/ptd-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# Prints the libFuzzer stat named $2 (e.g. number_of_executed_units) from
# log $1, or "?" when the run ended before printing stats.
stat_from_log() {
  local v
  v=$(sed -n "s/^stat::$2: *\\([0-9]*\\).*/\\1/p" "$1" | tail -n 1)
  echo "${v:-?}"
}

# Runs one target; returns 1 if it found a crash (or failed to run).
run_target() {
  local bin=$1 name corpus work artifacts log rc=0
  name=$(basename "$bin")
  corpus="$repo/fuzz/corpus/$name"
  work="$scratch/$name/corpus"
  artifacts="$scratch/$name/artifacts"
  log="$scratch/$name/log"
  mkdir -p "$work" "$artifacts" "$corpus"
  if compgen -G "$corpus/*" >/dev/null; then
    cp -- "$corpus"/* "$work"/
  fi

  "$bin" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1 || rc=$?

  # slow-unit-* files are only reports, not failures; the rest are.
  local execs found=()
  execs=$(stat_from_log "$log" number_of_executed_units)
  shopt -s nullglob
  found=("$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*)
  shopt -u nullglob

  if [[ $rc -eq 0 && ${#found[@]} -eq 0 ]]; then
    printf '%-24s ok      %s execs in %ss, corpus %d inputs\n' \
      "$name" "$execs" "$seconds" "$(find "$work" -type f | wc -l)"
    return 0
  fi

  local f hash dest
  for f in "${found[@]}"; do
    hash=$(sha1sum "$f" | cut -c1-40)
    dest="$corpus/crash-$hash"
    cp -- "$f" "$dest"
    echo "$name: saved $(basename "$f") as ${dest#"$repo"/}"
  done
  printf '%-24s CRASHED exit %d after %s execs; log tail:\n' "$name" "$rc" "$execs"
  tail -n 30 "$log" | sed 's/^/    /'
  return 1
}

failed=0
ran=0
shopt -s nullglob
for bin in "$build_dir"/fuzz_*; do
  [[ -f $bin && -x $bin ]] || continue
  [[ $bin == *_replay ]] && continue
  ran=$((ran + 1))
  run_target "$bin" || failed=$((failed + 1))
done
shopt -u nullglob

if [[ $ran -eq 0 ]]; then
  echo "$0: no fuzz_* targets in $build_dir (configure with -DPTD_FUZZ=ON)" >&2
  exit 1
fi
echo "fuzz: $ran target(s), $failed crashed"
[[ $failed -eq 0 ]]
