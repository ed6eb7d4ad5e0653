#!/usr/bin/env bash
# Benchmark: `hoist layout verify` against `sha256sum` over the same ~1 GiB of blobs.
# Both run on a warm page cache (the layout is read once first), alternating, ROUNDS times;
# medians are compared. Goal: hoist at >= 90% of sha256sum's speed (hoist may use every core).
#   bench/layout-verify.sh HOIST_BIN [SIZE_MB] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: layout-verify.sh HOIST_BIN [SIZE_MB] [ROUNDS]}")
size_mb=${2:-1024}
rounds=${3:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
work=${BENCH_DIR:-$here/out}/layout-verify-$size_mb
if [[ ! -f $work/index.json ]]; then
  rm -rf "$work"
  echo "generating a ${size_mb} MB layout in $work" >&2
  python3 "$here/make-layout.py" "$work" --size-mb "$size_mb"
fi
bytes=$(du -sb "$work/blobs" | cut -f1)
cat "$work"/blobs/sha256/* >/dev/null  # warm the page cache for both tools

hoist_t=(); sum_t=()
for ((i = 0; i < rounds; i++)); do
  t0=$EPOCHREALTIME; "$hoist" layout verify "$work" >/dev/null; t1=$EPOCHREALTIME
  hoist_t+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$EPOCHREALTIME; sha256sum "$work"/blobs/sha256/* >/dev/null; t1=$EPOCHREALTIME
  sum_t+=("$(echo "$t1 - $t0" | bc -l)")
done
h=$(median "${hoist_t[@]}"); s=$(median "${sum_t[@]}")
mb=$(echo "$bytes / 1000000" | bc -l)
printf 'layout verify, %.0f MB, %d rounds, medians:\n' "$mb" "$rounds"
printf '  hoist layout verify  %6.3f s  %7.0f MB/s\n' "$h" "$(echo "$mb / $h" | bc -l)"
printf '  sha256sum            %6.3f s  %7.0f MB/s\n' "$s" "$(echo "$mb / $s" | bc -l)"
printf '  speed ratio hoist/sha256sum: %.2fx (goal >= 0.90x)\n' "$(echo "$s / $h" | bc -l)"
