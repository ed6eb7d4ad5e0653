#!/usr/bin/env bash
# Benchmark: the same multi-stage Dockerfile built by `hoist build` and `buildah build`, both
# from the same OCI layout base (busybox, made by scripts/make-base-image), each exporting its
# image (hoist into an OCI layout, buildah into its own storage). Cold: a fresh engine root /
# storage each round; cached: the same build again with nothing changed (buildah with
# --layers, its caching mode; runc, as crun fails on hybrid-cgroup hosts). The tools alternate within each round; medians are compared.
#   bench/build.sh HOIST_BIN [FILES] [ROUNDS]
set -euo pipefail
hoist=$(realpath "${1:?usage: build.sh HOIST_BIN [FILES] [ROUNDS]}")
files=${2:-2000}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
work=$base/build-$files
mkdir -p "$work"
if [[ ! -f $work/base/index.json ]]; then
  HOIST=$hoist "$here/../scripts/make-base-image" "$work/base" --tag busybox:1.36 >/dev/null
fi
ctx=$work/ctx
if [[ ! -d $ctx/src ]]; then
  mkdir -p "$ctx/src"
  python3 - "$ctx/src" "$files" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"pkg{i % 40:02d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
        f.write(("line %d %s\n" % (i, rnd.random())) * rnd.randint(5, 400))
PY
fi
# The same steps for both; only the FROM line differs (buildah reads the layout through its
# oci: transport, hoist through a named context).
steps='
RUN mkdir -p /work && echo built > /work/stamp
COPY src /work/src
RUN cd /work && find src -type f | sort | xargs cat | md5sum > sums && ls -R src | wc -l > count
RUN --mount=type=cache,target=/cache cp /work/sums /cache/ && echo cached-step > /work/c
FROM scratch AS out
'
printf 'FROM base AS build%s' "$steps" > "$ctx/Dockerfile.hoist"
printf 'COPY --from=build /work /work\nCOPY --from=build /bin/busybox /bin/busybox\n' >> "$ctx/Dockerfile.hoist"
printf 'FROM oci:%s:1.36 AS build%s' "$work/base" "$steps" > "$ctx/Dockerfile.buildah"
printf 'COPY --from=build /work /work\nCOPY --from=build /bin/busybox /bin/busybox\n' >> "$ctx/Dockerfile.buildah"

run=$work/runs.$$
mkdir -p "$run"
hoist_build() {  # ROOT OUT
  "$hoist" --root "$1" build --progress=quiet -f "$ctx/Dockerfile.hoist" \
    --build-context base=oci-layout://"$work/base":1.36 -o type=oci,tar=false,dest="$2" -t app:1 "$ctx"
}
buildah_build() {  # ROOT
  buildah --root "$1/storage" --runroot "$1/run" --storage-driver overlay build --quiet --layers --runtime runc \
    -f "$ctx/Dockerfile.buildah" -t app:1 "$ctx" >/dev/null
}
declare -a hc hw bc bw
for ((i = 0; i < rounds; i++)); do
  sync
  t0=$EPOCHREALTIME; hoist_build "$run/hroot-$i" "$run/hout-$i"; t1=$EPOCHREALTIME
  hc+=("$(echo "$t1 - $t0" | bc -l)")
  sync
  t0=$EPOCHREALTIME; buildah_build "$run/broot-$i"; t1=$EPOCHREALTIME
  bc+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$EPOCHREALTIME; hoist_build "$run/hroot-$i" "$run/hout-$i"; t1=$EPOCHREALTIME
  hw+=("$(echo "$t1 - $t0" | bc -l)")
  t0=$EPOCHREALTIME; buildah_build "$run/broot-$i"; t1=$EPOCHREALTIME
  bw+=("$(echo "$t1 - $t0" | bc -l)")
done
# Both images hold the same files.
"$hoist" unpack "$run/hout-0:1" "$run/check" >/dev/null
test "$(cat "$run/check/work/stamp")" = built
for ((i = 0; i < rounds; i++)); do
  buildah --root "$run/broot-$i/storage" --runroot "$run/broot-$i/run" --storage-driver overlay \
    rm -a >/dev/null 2>&1 || true
  umount -R "$run/broot-$i/storage/overlay" 2>/dev/null || true
done
rm -rf "$run" &

h=$(median "${hc[@]}"); b=$(median "${bc[@]}")
hh=$(median "${hw[@]}"); bb=$(median "${bw[@]}")
echo "build of a 3-step Dockerfile over $files context files, from an OCI layout base (median of $rounds)"
printf '  cold:   hoist %6.2fs   buildah %6.2fs   hoist/buildah %.3f (goal <= 0.5)\n' \
  "$h" "$b" "$(echo "$h / $b" | bc -l)"
printf '  cached: hoist %6.2fs   buildah %6.2fs   hoist/buildah %.3f (goal <= 0.1)\n' \
  "$hh" "$bb" "$(echo "$hh / $bb" | bc -l)"
wait
