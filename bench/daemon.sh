#!/usr/bin/env bash
# hoistd against the embedded engine and against BuildKit.
#  1. A no-op build (everything cached, output a fresh local dir) embedded and through hoistd;
#     goal: the daemon within 1.2x of embedded.
#  2. Context transfer of 25,600 files / 100 MiB over the session (a COPY of the whole
#     context, first build on a fresh daemon root): hoist → hoistd against buildctl → buildkitd
#     (needs BUILDKIT_PEERS with BuildKit v0.11.6's buildctl and buildkitd; skipped without);
#     goal: at least 3x faster.
# Rounds alternate the tools; medians are printed.
#   bench/daemon.sh HOIST_BIN [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
hoist=$(realpath "${1:-$here/../build/hoist}")
hoistd=$(dirname "$hoist")/hoistd
rounds=${2:-5}
out=${BENCH_DIR:-$here/out}/daemon
# Kept between runs (the base layout, the contexts; their files are rewritten, not deleted):
# removing a previous run's 25,600 context files here would slow every file creation measured
# below for about half a minute. What a run creates is removed at its end.
mkdir -p "$out"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  stop_buildkitd
}
trap cleanup EXIT

digest=$(HOIST="$hoist" "$here/../scripts/make-base-image" "$out/base" --tag busybox:1.36)
mkdir -p "$out/small"
printf 'FROM base\nRUN echo hi > /hi\nCOPY f /f\n' >"$out/small/Dockerfile"
echo f >"$out/small/f"

# 1. No-op build.
"$hoistd" --root "$out/droot" --addr "unix://$out/hoistd.sock" >"$out/hoistd.log" 2>&1 &
pids+=($!)
wait_socket "$out/hoistd.sock"
build() {  # build ROOT_OR_ADDR_FLAGS OUT
  "$hoist" $1 build --progress=quiet --build-context base=oci-layout://"$out/base:1.36" \
    -o type=local,dest="$2" "$out/small"
}
build "--root $out/eroot" "$out/warm-e"
build "--addr unix://$out/hoistd.sock" "$out/warm-d"
# Each build writes a fresh output directory; they are removed only at the end, since file
# creation on ext4 is slow for a while after many deletions nearby.
emb=() dmn=()
for ((i = 0; i < rounds * 2; i++)); do
  t0=$EPOCHREALTIME; build "--root $out/eroot" "$out/o-e$i"; t1=$EPOCHREALTIME; emb+=("$(elapsed "$t0" "$t1")")
  t0=$EPOCHREALTIME; build "--addr unix://$out/hoistd.sock" "$out/o-d$i"; t1=$EPOCHREALTIME; dmn+=("$(elapsed "$t0" "$t1")")
done
me=$(median "${emb[@]}"); md=$(median "${dmn[@]}")
printf 'no-op build: embedded %.3f s, through hoistd %.3f s: %sx (goal <= 1.2x)\n' \
  "$me" "$md" "$(ratio "$md" "$me")"

# 2. Context transfer.
if [ -z "${BUILDKIT_PEERS:-}" ]; then
  echo "context transfer: skipped (set BUILDKIT_PEERS to compare with buildctl -> buildkitd)"
  exit 0
fi
make_context "$out/big" 25600 100  # 4 KiB each
printf 'FROM base\nCOPY data/ /data/\n' >"$out/big/Dockerfile"
# Every round gets fresh daemon roots (new daemons), so each build is cold; the tools alternate
# which goes first, and nothing is deleted until all rounds are done.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pids=()
start_daemon() {  # start_daemon NAME COMMAND...: runs it, waits for its socket
  local name=$1; shift
  rm -f "$out/$name.sock"
  "$@" >>"$out/$name.log" 2>&1 &
  pids=($!)
  wait_socket "$out/$name.sock"; sleep 0.2
}
stop_daemon() { kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=(); }
run_hoist() {
  start_daemon hoistd "$hoistd" --root "$out/droot.$1" --addr "unix://$out/hoistd.sock"
  local t0 t1; t0=$EPOCHREALTIME
  "$hoist" --addr "unix://$out/hoistd.sock" build --progress=quiet \
    --build-context base=oci-layout://"$out/base:1.36" "$out/big" 2>/dev/null
  t1=$EPOCHREALTIME
  ht+=("$(elapsed "$t0" "$t1")")
  stop_daemon
}
run_buildkit() {
  start_buildkitd "$out/broot.$1" "$out/buildkitd.sock" "$out/buildkitd.log"
  local t0 t1; t0=$EPOCHREALTIME
  "$BUILDKIT_PEERS/buildctl" --addr "unix://$out/buildkitd.sock" build --frontend dockerfile.v0 \
    --local context="$out/big" --local dockerfile="$out/big" --oci-layout store="$out/base" \
    --opt context:base=oci-layout://store@"$digest" >/dev/null 2>&1
  t1=$EPOCHREALTIME
  bt+=("$(elapsed "$t0" "$t1")")
  stop_buildkitd
}
ht=() bt=()
for ((i = 0; i < rounds; i++)); do
  if ((i % 2 == 0)); then run_hoist "$i"; run_buildkit "$i"; else run_buildkit "$i"; run_hoist "$i"; fi
done
mh=$(median "${ht[@]}"); mb=$(median "${bt[@]}")
printf 'context 25,600 files / 100 MiB + COPY, cold: hoist -> hoistd %.2f s, buildctl -> buildkitd %.2f s: %sx faster (goal >= 3x)\n' \
  "$mh" "$mb" "$(ratio "$mb" "$mh")"
# The rounds' roots and outputs go now, not at the start of the next run.
rm -rf "$out"/droot.* "$out"/broot.* "$out"/o-* "$out"/eroot "$out"/droot
