#!/usr/bin/env bash
# Benchmark: pushing an image from an OCI layout to a registry. A generated image of SIZE_MB
# (bench/make-layout.py --rootfs: 4 gzip layers of random content) is copied to a
# docker-registry on loopback by `hoist layout cp DIR:TAG docker://...` and by `skopeo copy
# oci:DIR:TAG docker://...`, each round to a repository of its own that holds nothing yet, so
# every blob is uploaded (skopeo runs with an empty blob info cache, which would otherwise let
# it mount blobs from the repositories it pushed before). The tools alternate; medians are
# compared.
#   bench/push.sh HOIST_BIN [SIZE_MB] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: push.sh HOIST_BIN [SIZE_MB] [ROUNDS]}")
size_mb=${2:-500}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
mkdir -p "$base"
need_disk "$base" $((size_mb * 3 + 500))  # the layout, the registry's blobs, its uploads
work=$(mktemp -d "$base/push.XXXXXX")
cleanup() {
  stop_registry
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "generating a ${size_mb} MB image in $work" >&2
read -r digest bytes _ < <(python3 "$here/make-layout.py" "$work/image" --rootfs --size-mb "$size_mb" \
  --files 10000 --layers 4 --tag app)
cat "$work"/image/blobs/sha256/* >/dev/null  # warm the page cache for both tools
start_registry "$work/registry"

declare -a ht st
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME; "$hoist" layout cp "$work/image:app" docker://"$REGISTRY/h-$i:1" >/dev/null; t1=$EPOCHREALTIME
  ht+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME
  fresh_blob_cache skopeo copy -q --dest-tls-verify=false oci:"$work/image":app docker://"$REGISTRY/s-$i:1"
  t1=$EPOCHREALTIME
  st+=("$(echo "$t1 - $t0" | bc -l)")
done
# Every round uploaded every blob: no cross-repository mount.
if grep -q 'mount=' "$work/registry/registry.log"; then
  echo "push.sh: a blob was mounted from another repository, not uploaded:" >&2
  grep 'mount=' "$work/registry/registry.log" | head -3 >&2
  exit 1
fi
# Both pushed the image as it is in the layout.
for r in h s; do
  got=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/$r-0/manifests/1" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
  [[ $got == "$digest" ]] || { echo "push.sh: $r-0:1 is $got, not $digest" >&2; exit 1; }
done

h=$(median "${ht[@]}"); s=$(median "${st[@]}")
mb=$(echo "$bytes / 1000000" | bc -l)
echo "push of a $((bytes / 1000000)) MB image (4 layers) from an OCI layout to a registry on loopback, each round to a new repository (median of $rounds)"
printf '  hoist %6.2fs (%4.0f MB/s)   skopeo %6.2fs (%4.0f MB/s)   hoist/skopeo %.3f (goal <= 0.7)\n' \
  "$h" "$(echo "$mb / $h" | bc -l)" "$s" "$(echo "$mb / $s" | bc -l)" "$(echo "$h / $s" | bc -l)"
