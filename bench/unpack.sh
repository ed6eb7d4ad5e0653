#!/usr/bin/env bash
# Benchmark: unpack a generated ~500 MB, 3-layer gzip image with whiteouts (many small files,
# some large) with `hoist unpack`, `umoci unpack`, and `tar -xzf` of the same layer blobs in
# order (tar ignores whiteouts; it is the raw extraction baseline). The tools alternate within
# each round; medians are compared. Outputs are removed only after all timing is done.
#   bench/unpack.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: unpack.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]}")
size_mb=${2:-400}
files=${3:-16000}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
img=$base/unpack-image-$size_mb-$files
ensure_test_image "$img" "$size_mb" "$files"
manifest=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['manifests'][0]['digest'][7:])" "$img/index.json")
layers=$(python3 -c "import json,sys;print(' '.join(l['digest'][7:] for l in json.load(open(sys.argv[1]))['layers']))" "$img/blobs/sha256/$manifest")
compressed=$(for l in $layers; do stat -c %s "$img/blobs/sha256/$l"; done | paste -sd+ | bc)
cat "$img"/blobs/sha256/* >/dev/null  # warm the page cache for every tool

run=$base/unpack-runs.$$
mkdir -p "$run"
declare -a t_hoist t_umoci t_tar
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME; "$hoist" unpack "$img:1" "$run/hoist-$i" >/dev/null; t1=$EPOCHREALTIME
  t_hoist+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME; umoci unpack --image "$img:1" "$run/umoci-$i" >/dev/null 2>&1; t1=$EPOCHREALTIME
  t_umoci+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  mkdir -p "$run/tar-$i"
  t0=$EPOCHREALTIME; for l in $layers; do tar -xzf "$img/blobs/sha256/$l" -C "$run/tar-$i"; done; t1=$EPOCHREALTIME
  t_tar+=("$(echo "$t1 - $t0" | bc -l)")
done
entries=$(find "$run/hoist-0" | wc -l)
bytes=$(du -sb "$run/hoist-0" | cut -f1)
rm -rf "$run" &  # cleanup after the timing, in the background

h=$(median "${t_hoist[@]}"); u=$(median "${t_umoci[@]}"); t=$(median "${t_tar[@]}")
mb=$(echo "$bytes / 1000000" | bc -l)
printf 'unpack: %.0f MB compressed, %.0f MB / %d entries unpacked, 3 gzip layers, %d rounds, medians:\n' \
  "$(echo "$compressed / 1000000" | bc -l)" "$mb" "$entries" "$rounds"
printf '  hoist unpack  %6.2f s  %6.0f MB/s  %7.0f files/s\n' "$h" "$(echo "$mb / $h" | bc -l)" "$(echo "$entries / $h" | bc -l)"
printf '  umoci unpack  %6.2f s  %6.0f MB/s  %7.0f files/s\n' "$u" "$(echo "$mb / $u" | bc -l)" "$(echo "$entries / $u" | bc -l)"
printf '  tar -xzf      %6.2f s  %6.0f MB/s  %7.0f files/s\n' "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$entries / $t" | bc -l)"
printf '  hoist vs umoci: %.2fx faster (goal >= 2x); hoist vs tar: %.2fx (goal >= 1x)\n' \
  "$(echo "$u / $h" | bc -l)" "$(echo "$t / $h" | bc -l)"
wait
