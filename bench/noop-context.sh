#!/usr/bin/env bash
# A no-op rebuild of a 25,600-file / 100 MiB context with a COPY of all of it, embedded: each
# `hoist build` is a new engine process, so what it does not redo it must have persisted (the
# context mirror and the file content digests, source/checksum_cache.h).
#   bench/noop-context.sh HOIST_BIN [ROUNDS]
# Prints the median no-op build time and the checksum counts of the last build's COPY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
hoist=$(realpath "${1:-$here/../build/hoist}")
rounds=${2:-5}
out=${BENCH_DIR:-$here/out}/noop-context
rm -rf "$out" && mkdir -p "$out"

HOIST="$hoist" "$here/../scripts/make-base-image" "$out/base" --tag busybox:1.36 >/dev/null
make_context "$out/big" 25600 100  # 4 KiB each
printf 'FROM base\nCOPY data/ /data/\n' >"$out/big/Dockerfile"
build() {
  "$hoist" --root "$out/root" "$@" build --progress=quiet \
    --build-context base=oci-layout://"$out/base:1.36" "$out/big"
}
t0=$EPOCHREALTIME; build; t1=$EPOCHREALTIME; echo "cold build: $(elapsed "$t0" "$t1") s"
sleep 2.5  # past the racily-clean margin of the files the cold build mirrored
t0=$EPOCHREALTIME; build; t1=$EPOCHREALTIME; echo "first rebuild: $(elapsed "$t0" "$t1") s"
times=()
for ((i = 0; i < rounds; i++)); do
  t0=$EPOCHREALTIME; build 2>/dev/null; t1=$EPOCHREALTIME; times+=("$(elapsed "$t0" "$t1")")
done
printf 'no-op rebuild, 25,600 files / 100 MiB context: median %.3f s (%s)\n' \
  "$(median "${times[@]}")" "${times[*]}"
build -D 2>&1 | grep -o "[0-9]* files hashed.*reused)" | tail -1 || true
rm -rf "$out"
