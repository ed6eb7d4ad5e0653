#!/usr/bin/env bash
# Benchmark: exporting a built image with one large new layer, as an OCI tarball and into an
# OCI layout directory (tar=false), against buildah committing the same container and pushing
# it into an OCI layout (`buildah commit` + `buildah push oci:`). Both compress with gzip at
# level 1 (hoist's default: ISA-L's level 1; buildah: --compression-level 1). hoist's remembered diffs are dropped before each round so it diffs and compresses
# every time; the build steps themselves are cached. Tools alternate; medians are compared.
#   bench/export.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: export.sh HOIST_BIN [SIZE_MB] [FILES] [ROUNDS]}")
size_mb=${2:-500}
files=${3:-16000}
rounds=${4:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
img=$base/unpack-image-$size_mb-$files
work=$base/export-$size_mb-$files
ensure_test_image "$img" "$size_mb" "$files"
mkdir -p "$work"
[[ -d $work/ctx/data ]] || { mkdir -p "$work/ctx"; "$hoist" unpack "$img:1" "$work/ctx/data" >/dev/null; }
[[ -f $work/base/index.json ]] || HOIST=$hoist "$here/../scripts/make-base-image" "$work/base" --tag busybox:1.36 >/dev/null
printf 'FROM base\nCOPY data /data\n' >"$work/ctx/Dockerfile"
bytes=$(du -sb "$work/ctx/data" | cut -f1)

run=$work/runs.$$
mkdir -p "$run"
root=$run/hoist-root
hbuild() {  # OUTPUT
  rm -rf "$root/diffs"
  "$hoist" --root "$root" build --progress=quiet --build-context base=oci-layout://"$work/base":1.36 \
    -o "$1" "$work/ctx"
}
hbuild type=oci,dest="$run/warm.tar" >/dev/null  # the build itself, once
B="buildah --root $run/bs --runroot $run/br --storage-driver overlay"
ctr=$($B from oci:"$work/base":1.36 2>/dev/null)
$B copy "$ctr" "$work/ctx/data" /data >/dev/null
declare -a ht hd bt
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME; hbuild type=oci,dest="$run/h-$i.tar"; t1=$EPOCHREALTIME
  ht+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME; hbuild type=oci,tar=false,dest="$run/hdir-$i"; t1=$EPOCHREALTIME
  hd+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME
  $B commit --quiet "$ctr" "bench-$i" >/dev/null
  $B push --quiet --compression-format gzip --compression-level 1 "bench-$i" oci:"$run/b-$i":1 >/dev/null
  t1=$EPOCHREALTIME
  bt+=("$(echo "$t1 - $t0" | bc -l)")
done
size_h=$(stat -c %s "$run/h-0.tar")
size_b=$(du -sb "$run/b-0" | cut -f1)
$B rm -a >/dev/null 2>&1 || true
$B rmi -a -f >/dev/null 2>&1 || true
umount -R "$run/bs/overlay" 2>/dev/null || true
rm -rf "$run" &

h=$(median "${ht[@]}"); d=$(median "${hd[@]}"); b=$(median "${bt[@]}")
echo "export of an image with a $((bytes / 1000000)) MB layer, gzip level 1 (median of $rounds)"
printf '  hoist oci tar:       %6.2fs  (%d MB)\n' "$h" "$((size_h / 1000000))"
printf '  hoist oci tar=false: %6.2fs\n' "$d"
printf '  buildah commit+push: %6.2fs  (%d MB)\n' "$b" "$((size_b / 1000000))"
printf '  speed-up: tar %.2fx, tar=false %.2fx (goal >= 2x)\n' \
  "$(echo "$b / $h" | bc -l)" "$(echo "$b / $d" | bc -l)"
wait
