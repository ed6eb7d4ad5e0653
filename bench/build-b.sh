#!/usr/bin/env bash
# Benchmark B: a large base and a large context. `FROM large`, a generated image of SIZE_MB in
# about FILES files (bench/make-layout.py --rootfs: 4 gzip layers of random content over the
# busybox base of scripts/make-base-image; tag `large` in an OCI layout), + `COPY data/ /data/`
# of a context of CTX_FILES files / CTX_MB MiB, exported as an OCI layout directory, by hoist
# (embedded), buildah (build --layers --isolation chroot, then push oci:DIR) and, with
# BUILDKIT_PEERS=DIR, buildctl → buildkitd (BuildKit v0.11.6). Cold: a fresh engine root /
# storage / daemon each round (buildkitd's start is not timed), so the base is unpacked and the
# context sent; warm: --no-cache on that root; no-op: everything cached. Each build writes a
# fresh output directory, and each output is checked to hold the context's files above the
# base's layers. The tools alternate; medians are compared (see lib.sh, build_compare_*). The
# image and the context are kept in $BENCH_DIR between runs.
#   bench/build-b.sh HOIST_BIN [ROUNDS] [SIZE_MB] [FILES] [CTX_FILES] [CTX_MB]
set -euo pipefail
hoist=$(realpath "${1:?usage: build-b.sh HOIST_BIN [ROUNDS] [SIZE_MB] [FILES] [CTX_FILES] [CTX_MB]}")
rounds=${2:-3}
size_mb=${3:-469}
files=${4:-50000}
ctx_files=${5:-25600}
ctx_mb=${6:-100}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
work=$base/build-b-$size_mb-$files
mkdir -p "$work"
# Per tool and round: the base's blobs and its unpacked files, three outputs, the context's
# copies.
need_disk "$base" $(((size_mb * 5 + ctx_mb * 6) * 3 * rounds + size_mb + 500))
from_name=large from_layout=$work/image from_tag=large
if [[ ! -f $work/image.info ]]; then
  rm -rf "$work/busybox" "$from_layout"
  echo "generating a ${size_mb} MB image in $from_layout" >&2
  HOIST=$hoist "$here/../scripts/make-base-image" "$work/busybox" --tag busybox:1.36 >/dev/null
  python3 "$here/make-layout.py" "$from_layout" --rootfs --size-mb "$size_mb" --files "$files" \
    --layers 4 --base "$work/busybox:1.36" --tag large >"$work/image.info.new"
  mv "$work/image.info.new" "$work/image.info"
fi
read -r from_digest bytes entries <"$work/image.info"
base_layers=$(image_files "$from_layout" | awk 'NR == 1 {print $2}')
ctx=$work/ctx-$ctx_files-$ctx_mb
if [[ ! -d $ctx/data ]]; then
  echo "generating a context of $ctx_files files / $ctx_mb MiB in $ctx" >&2
  make_context "$ctx.new" "$ctx_files" "$ctx_mb"
  mv "$ctx.new" "$ctx"
fi
write_dockerfiles $'COPY data/ /data/\n'

run=$(mktemp -d "$work/runs.XXXXXX")
trap build_compare_cleanup EXIT
trap 'exit 130' INT TERM
build_compare_rounds
check() {  # the layers above the base hold every file of the context
  test "$(image_files "$1" "$base_layers" | grep -c '^data/')" = "$ctx_files"
}
build_compare_check check
build_compare_report "B: FROM large ($((bytes / 1000000)) MB, $entries entries) + COPY of $ctx_files files / $ctx_mb MiB -> an OCI layout directory" 0.1 0.15 0.1
