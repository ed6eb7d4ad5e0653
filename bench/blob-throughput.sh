#!/usr/bin/env bash
# Benchmark: blob download throughput from a registry on loopback, every byte verified. An
# image with one gzip layer of SIZE_MB (bench/make-layout.py --rootfs, random content) is pushed
# to a docker-registry; then `hoist layout cp docker://... DIR` copies it into a fresh layout
# each round, and `skopeo copy docker://... oci:DIR` does the same for reference. Reports the
# wall-clock rate and the rate per CPU-second the tool used (user + sys, from /usr/bin/time):
# the goal is >= 1 GB/s per core. The registry's own CPU is not counted. The tools alternate;
# medians are compared.
#   bench/blob-throughput.sh HOIST_BIN [SIZE_MB] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: blob-throughput.sh HOIST_BIN [SIZE_MB] [ROUNDS]}")
size_mb=${2:-1000}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
mkdir -p "$base"
need_disk "$base" $((size_mb * (2 + 2 * rounds) + 500))
work=$(mktemp -d "$base/blob-throughput.XXXXXX")
cleanup() {
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "generating a ${size_mb} MB layer in $work" >&2
read -r digest bytes _ < <(python3 "$here/make-layout.py" "$work/image" --rootfs --size-mb "$size_mb" \
  --files 64 --layers 1 --tag one)
start_registry "$work/registry"
ref=$REGISTRY/one:1
fresh_blob_cache skopeo copy -q --dest-tls-verify=false oci:"$work/image":one docker://"$ref"
blob=$(ls -S "$work"/registry/storage/docker/registry/v2/blobs/sha256/*/*/data | head -1)
cat "$blob" >/dev/null  # the registry serves from the page cache for both tools

mkdir -p /var/lib/containers/cache  # for FRESH_BLOB_CACHE
timed() {  # OUT CMD...: runs CMD, appends "wall user sys" to OUT
  local t0 t1
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S' -o "$work/cpu" "${@:2}"
  t1=$EPOCHREALTIME
  echo "$(echo "$t1 - $t0" | bc -l) $(cat "$work/cpu")" >>"$1"
}
for ((i = 0; i < rounds; i++)); do
  sync
  timed "$work/hoist.times" "$hoist" layout cp docker://"$ref" "$work/h-$i" >/dev/null
  sync
  timed "$work/skopeo.times" "${FRESH_BLOB_CACHE[@]}" skopeo copy -q --src-tls-verify=false docker://"$ref" oci:"$work/s-$i":1
done
got=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/h-0/index.json")
[[ $got == "$digest" ]] || { echo "blob-throughput.sh: copied $got, not $digest" >&2; exit 1; }

mb=$(echo "$bytes / 1000000" | bc -l)
echo "download of a $((bytes / 1000000)) MB single-layer image from a registry on loopback, verified, into a fresh layout (median of $rounds)"
report() {  # NAME TIMES GOAL
  local wall cpu
  wall=$(median $(awk '{print $1}' "$2"))
  cpu=$(median $(awk '{print $2 + $3}' "$2"))
  printf '  %-17s %6.2fs  %5.0f MB/s   cpu %5.2fs  %5.0f MB/s per core%s\n' "$1" "$wall" \
    "$(echo "$mb / $wall" | bc -l)" "$cpu" "$(echo "$mb / $cpu" | bc -l)" "$3"
}
report "hoist layout cp" "$work/hoist.times" " (goal >= 1000)"
report "skopeo copy" "$work/skopeo.times" ""
