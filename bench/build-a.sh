#!/usr/bin/env bash
# Benchmark A: a small build. `FROM busybox` (the OCI layout of scripts/make-base-image) +
# `RUN echo hi > /hello` + `COPY` of one small file, exported as an OCI layout directory, by
# hoist (embedded), buildah (build --layers --isolation chroot, then push oci:DIR) and, with
# BUILDKIT_PEERS=DIR, buildctl → buildkitd (BuildKit v0.11.6). Cold: a fresh engine root /
# storage / daemon each round (buildkitd's start is not timed); warm: --no-cache on that root;
# no-op: everything cached. Each build writes a fresh output directory, and each output is
# checked to hold /hello and /f. The tools alternate; medians are compared (see lib.sh,
# build_compare_*).
#   bench/build-a.sh HOIST_BIN [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: build-a.sh HOIST_BIN [ROUNDS]}")
rounds=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
work=$base/build-a
mkdir -p "$work"
need_disk "$base" 500
from_name=busybox from_layout=$work/base from_tag=1.36
[[ -f $from_layout/index.json ]] ||
  HOIST=$hoist "$here/../scripts/make-base-image" "$from_layout" --tag busybox:1.36 >/dev/null
from_digest=$(grep -o 'sha256:[0-9a-f]*' "$from_layout/index.json" | head -1)
base_layers=$(image_files "$from_layout" | awk 'NR == 1 {print $2}')
ctx=$work/ctx
mkdir -p "$ctx"
echo "from the context" >"$ctx/f"
write_dockerfiles $'RUN echo hi > /hello\nCOPY f /f\n'

run=$(mktemp -d "$work/runs.XXXXXX")
trap build_compare_cleanup EXIT
trap 'exit 130' INT TERM
build_compare_rounds
check() {  # the layers above the base hold /hello and /f
  local files
  files=$(image_files "$1" "$base_layers")
  grep -qx hello <<<"$files" && grep -qx f <<<"$files"
}
build_compare_check check
build_compare_report "A: FROM busybox + RUN + COPY of one file -> an OCI layout directory" 0.4 0.4 0.25
