#!/usr/bin/env bash
# Benchmark: building on a large image pulled from a registry. A generated image of SIZE_MB in
# about FILES files (bench/make-layout.py --rootfs: 4 gzip layers of random content over the
# busybox base of scripts/make-base-image) is pushed with skopeo to a docker-registry on
# loopback; then `FROM 127.0.0.1:PORT/big:1` + `RUN echo hi > /x` is built by `hoist build`
# (exporting the file into a local dir) and by `buildah pull` + `buildah build` (chroot
# isolation, overlay storage), each from a fresh engine root / storage every round, so every
# layer is downloaded, verified and unpacked. The tools alternate; medians are compared.
#   bench/pull.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: pull.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]}")
size_mb=${2:-450}
files=${3:-50000}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
mkdir -p "$base"
# The layout, the registry's copy, and per round hoist's and buildah's (blobs and unpacked).
need_disk "$base" $((size_mb * (2 + 4 * rounds) + 500))
work=$(mktemp -d "$base/pull.XXXXXX")
bstore() {  # ROUND: buildah's storage options for that round
  bs=(--root "$work/buildah-$1/storage" --runroot "$work/buildah-$1/run" --storage-driver overlay)
}
cleanup() {
  stop_registry
  for ((i = 0; i < rounds; i++)); do
    [[ -d $work/buildah-$i ]] && { bstore "$i"; buildah "${bs[@]}" rm -a >/dev/null 2>&1 || true; }
  done
  unmount_under "$work"
  echo "removing $work" >&2
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "generating a ${size_mb} MB image in $work" >&2
HOIST=$hoist "$here/../scripts/make-base-image" "$work/base" --tag busybox:1.36 >/dev/null
read -r _ bytes entries < <(python3 "$here/make-layout.py" "$work/image" --rootfs --size-mb "$size_mb" \
  --files "$files" --layers 4 --base "$work/base:1.36" --tag big)
start_registry "$work/registry"
ref=$REGISTRY/big:1
fresh_blob_cache skopeo copy -q --dest-tls-verify=false oci:"$work/image":big docker://"$ref"

mkdir -p "$work/ctx"
printf 'FROM %s AS big\nRUN echo hi > /x\nFROM scratch\nCOPY --from=big /x /x\n' "$ref" >"$work/ctx/Dockerfile"
declare -a ht bt
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME
  "$hoist" --root "$work/hoist-$i" build --progress=quiet -o type=local,dest="$work/out-$i" "$work/ctx"
  t1=$EPOCHREALTIME
  ht+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  bstore "$i"
  t0=$EPOCHREALTIME
  fresh_blob_cache buildah "${bs[@]}" pull --quiet --tls-verify=false docker://"$ref" >/dev/null
  buildah "${bs[@]}" build --quiet --isolation chroot --tls-verify=false -t app:1 "$work/ctx" >/dev/null
  t1=$EPOCHREALTIME
  bt+=("$(echo "$t1 - $t0" | bc -l)")
done
test "$(cat "$work/out-0/x")" = hi

h=$(median "${ht[@]}"); b=$(median "${bt[@]}")
echo "pull of a $((bytes / 1000000)) MB, $entries-entry image from a registry on loopback, then a RUN step (median of $rounds)"
printf '  hoist %6.2fs   buildah %6.2fs   hoist/buildah %.3f (goal <= 0.5)\n' \
  "$h" "$b" "$(echo "$h / $b" | bc -l)"
