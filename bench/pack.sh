#!/usr/bin/env bash
# Benchmark: pack one tree (the root filesystem of the unpack benchmark's image) into a gzip
# layer with `hoist pack` (default: ISA-L), `tar -czf` (gzip -6) and `umoci repack` (its own
# gzip), alternating within each round; medians and compressed sizes are compared.
#   bench/pack.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: pack.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]}")
size_mb=${2:-400}
files=${3:-16000}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
img=$base/unpack-image-$size_mb-$files
tree=$base/pack-tree-$size_mb-$files
ensure_test_image "$img" "$size_mb" "$files"
[[ -d $tree ]] || "$hoist" unpack "$img:1" "$tree" >/dev/null
bytes=$(du -sb "$tree" | cut -f1)
entries=$(find "$tree" | wc -l)
tar -cf - -C "$tree" . >/dev/null  # warm the page cache

run=$base/pack-runs.$$
mkdir -p "$run"
# umoci repacks a bundle: an empty image unpacked, then the tree put into its rootfs.
umoci init --layout "$run/umoci-layout" >/dev/null
umoci new --image "$run/umoci-layout:empty" >/dev/null
declare -a t_hoist t_tar t_umoci
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME; "$hoist" pack "$tree" --layout "$run/hoist-$i" -t b:1 >/dev/null 2>&1; t1=$EPOCHREALTIME
  t_hoist+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME; tar -czf "$run/tar-$i.tar.gz" -C "$tree" .; t1=$EPOCHREALTIME
  t_tar+=("$(echo "$t1 - $t0" | bc -l)")
  umoci unpack --image "$run/umoci-layout:empty" "$run/bundle-$i" >/dev/null 2>&1
  cp -a "$tree/." "$run/bundle-$i/rootfs/"
  sync
  t0=$EPOCHREALTIME; umoci repack --image "$run/umoci-layout:r$i" "$run/bundle-$i" >/dev/null 2>&1; t1=$EPOCHREALTIME
  t_umoci+=("$(echo "$t1 - $t0" | bc -l)")
done
layer_size() {  # the largest blob of a layout: its one layer
  find "$1/blobs" -type f -printf '%s\n' | sort -n | tail -1
}
s_hoist=$(layer_size "$run/hoist-0")
s_tar=$(stat -c %s "$run/tar-0.tar.gz")
"$hoist" pack "$tree" --layout "$run/hoist-z6" -t b:1 --compression-level 6 >/dev/null 2>&1
s_hoist6=$(layer_size "$run/hoist-z6")
rm -rf "$run" &

h=$(median "${t_hoist[@]}"); t=$(median "${t_tar[@]}"); u=$(median "${t_umoci[@]}")
mb=$(echo "$bytes / 1000000" | bc -l)
printf 'pack: %.0f MB in %d entries, %d rounds, medians:\n' "$mb" "$entries" "$rounds"
printf '  hoist pack (ISA-L)  %6.2f s  %6.0f MB/s  layer %6.1f MB\n' "$h" "$(echo "$mb / $h" | bc -l)" "$(echo "$s_hoist / 1000000" | bc -l)"
printf '  tar -czf (gzip -6)  %6.2f s  %6.0f MB/s  layer %6.1f MB\n' "$t" "$(echo "$mb / $t" | bc -l)" "$(echo "$s_tar / 1000000" | bc -l)"
printf '  umoci repack        %6.2f s  %6.0f MB/s\n' "$u" "$(echo "$mb / $u" | bc -l)"
printf '  hoist vs tar -czf: %.2fx faster (goal >= 3x), size %+.1f%% vs gzip -6 (goal within 10%%)\n' \
  "$(echo "$t / $h" | bc -l)" "$(echo "($s_hoist - $s_tar) * 100 / $s_tar" | bc -l)"
printf '  hoist vs umoci repack: %.2fx faster\n' "$(echo "$u / $h" | bc -l)"
printf '  (hoist pack --compression-level 6, zlib: layer %.1f MB)\n' "$(echo "$s_hoist6 / 1000000" | bc -l)"
wait
