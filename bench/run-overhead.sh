#!/usr/bin/env bash
# Benchmark: what one RUN step costs in hoist against the OCI runtime's own floor.
#   floors: `RUNTIME run --bundle B id-N` of prepared bundles whose rootfs is the busybox base
#          unpacked with `hoist unpack`, with the runtime's default state root, STEPS times per
#          round, each timed:
#            bare: runc, config.json from `runc spec` (no seccomp filter) running /bin/true;
#            same: runc, config.json from `hoist debug runtime-spec /bin/true`, the spec hoist
#                  gives a RUN step on this host (Docker's seccomp filter, masked paths, its
#                  capabilities) but for the step's own binds;
#            crun: crun with that same config.json (when crun is installed).
#          On a host with hybrid cgroups the script runs in a mount namespace of its own without
#          the cgroup2 mount, as hoist runs its runtime there (crun refuses it otherwise).
#   hoist: `hoist build --no-cache` of `FROM base` + STEPS distinct `RUN echo i >/dev/null`
#          steps and of `FROM base` alone, on a warm engine root (base unpacked, runtime probe
#          remembered); per RUN = (t(STEPS RUNs) - t(0 RUNs)) / STEPS. The RUN vertices' own
#          durations (started..completed in --progress=rawjson) are reported too.
# They alternate within each round; medians are compared. The figure of merit is per RUN
# against the same spec's floor in the runtime hoist chose (its root's probe records): 1 would
# mean a RUN costs no more than that runtime needs to start the same container. Against `bare`,
# the difference is mostly runc compiling the seccomp filter (libseccomp, at every start).
#   bench/run-overhead.sh HOIST_BIN [ROUNDS=10] [STEPS=10]
set -euo pipefail
if [[ -z ${RUN_OVERHEAD_NS:-} ]] &&
  [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == tmpfs ]] &&
  [[ $(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null) == cgroup2fs ]]; then
  exec env RUN_OVERHEAD_NS=1 unshare -m --propagation slave "$0" "$@"
fi
[[ -n ${RUN_OVERHEAD_NS:-} ]] && umount -l /sys/fs/cgroup/unified
hoist=$(realpath "${1:?usage: run-overhead.sh HOIST_BIN [ROUNDS] [STEPS]}")
rounds=${2:-10}
steps=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
runc=$(command -v runc) || { echo "run-overhead.sh: runc not found" >&2; exit 1; }
crun=$(command -v crun || true)
work=${BENCH_DIR:-$here/out}/run-overhead
run=$work/run.$$
prefix=hoist-bench-$$-
cleanup() {
  # A container an interrupted round left (only this script's), then whatever is still mounted.
  # (grep finds none after a whole run: the pipeline fails, which must not stop the cleanup.)
  local rt
  for rt in "$runc" $crun; do
    { "$rt" list -q 2>/dev/null | grep "^$prefix" || true; } | while read -r id; do
      "$rt" delete --force "$id" >/dev/null 2>&1 || true
    done
  done
  unmount_under "$run" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$work" "$run"
if [[ ! -f $work/base/index.json ]]; then
  HOIST=$hoist "$here/../scripts/make-base-image" "$work/base" --tag busybox:1.36 >/dev/null
fi

# The floors' bundles: one rootfs, two configs.
bundle=$run/bundle
same=$run/same
mkdir -p "$bundle" "$same"
"$hoist" unpack "$work/base:1.36" "$bundle/rootfs" >/dev/null
(cd "$bundle" && "$runc" spec)
python3 - "$bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
json.dump(c, open(path, "w"), indent=1)
PY
"$hoist" debug runtime-spec /bin/true | python3 -c '
import json, sys
c = json.load(sys.stdin)
c["root"]["path"] = sys.argv[1]
json.dump(c, sys.stdout, indent=1)' "$bundle/rootfs" >"$same/config.json"

# The two Dockerfiles.
mkdir -p "$run/ctx0" "$run/ctxN"
printf 'FROM base\n' >"$run/ctx0/Dockerfile"
{
  printf 'FROM base\n'
  for ((s = 1; s <= steps; s++)); do printf 'RUN echo %d >/dev/null\n' "$s"; done
} >"$run/ctxN/Dockerfile"
root=$run/root
build() {  # CONTEXT PROGRESS_FILE
  "$hoist" --root "$root" build --no-cache --progress=rawjson \
    --build-context base=oci-layout://"$work/base":1.36 "$1" >/dev/null 2>"$2"
}
# The RUN vertices' durations (ms) in a rawjson progress stream, one per line.
vertex_ms() {
  python3 - "$1" <<'PY'
import json, sys
from datetime import datetime
def ts(s):
    s = s.rstrip("Z"); whole, frac = s.split(".")
    return datetime.fromisoformat(whole).timestamp() + float("0." + frac)
done = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"): continue
    for v in json.loads(line).get("vertexes", []):
        if "] RUN " in v.get("name", "") and v.get("started") and v.get("completed"):
            done[v["digest"]] = (ts(v["completed"]) - ts(v["started"])) * 1000
for ms in done.values(): print("%.1f" % ms)
PY
}

# Warm-up: the base unpacked in the root, the runtime probed and remembered, binaries cached.
build "$run/ctx0" "$run/p0"
build "$run/ctxN" "$run/pN"
"$runc" run --bundle "$bundle" "${prefix}warm" </dev/null
"$runc" run --bundle "$same" "${prefix}warm" </dev/null
[[ -n $crun ]] && "$crun" run --bundle "$same" "${prefix}warm" </dev/null

floor=() floor_same=() floor_crun=() hoist0=() hoistN=() per_run=() vertex=()
id=0
for ((i = 0; i < rounds; i++)); do
  for ((s = 0; s < steps; s++)); do
    t0=$EPOCHREALTIME
    "$runc" run --bundle "$bundle" "$prefix$((id++))" </dev/null
    t1=$EPOCHREALTIME
    "$runc" run --bundle "$same" "$prefix$((id++))" </dev/null
    t2=$EPOCHREALTIME
    floor+=("$(echo "($t1 - $t0) * 1000" | bc -l)")
    floor_same+=("$(echo "($t2 - $t1) * 1000" | bc -l)")
    if [[ -n $crun ]]; then
      t1=$EPOCHREALTIME
      "$crun" run --bundle "$same" "$prefix$((id++))" </dev/null
      t2=$EPOCHREALTIME
      floor_crun+=("$(echo "($t2 - $t1) * 1000" | bc -l)")
    fi
  done
  t0=$EPOCHREALTIME; build "$run/ctx0" "$run/p0"; t1=$EPOCHREALTIME
  a=$(echo "($t1 - $t0) * 1000" | bc -l)
  t0=$EPOCHREALTIME; build "$run/ctxN" "$run/pN"; t1=$EPOCHREALTIME
  b=$(echo "($t1 - $t0) * 1000" | bc -l)
  hoist0+=("$a"); hoistN+=("$b")
  per_run+=("$(echo "($b - $a) / $steps" | bc -l)")
  mapfile -t -O "${#vertex[@]}" vertex < <(vertex_ms "$run/pN")
  ((${#vertex[@]} == (i + 1) * steps)) || { echo "run-overhead.sh: expected $steps RUN vertices" >&2; cat "$run/pN" >&2; exit 1; }
done

f=$(median "${floor[@]}")
fs=$(median "${floor_same[@]}")
p=$(median "${per_run[@]}")
v=$(median "${vertex[@]}")
# The runtime hoist chose: the first of crun, runc whose probe passed on its root.
used=runc
if grep -qs '"passed":true' "$root/executor/probe-crun.json"; then used=crun; fi
fu=$fs
[[ $used == crun ]] && fu=$(median "${floor_crun[@]}")
printf 'one RUN step against the runtime run of a prepared bundle (medians of %d rounds, %d steps each)\n' \
  "$rounds" "$steps"
printf '  floor:  runc run, runc spec   %6.1f ms   (no seccomp filter)\n' "$f"
printf '          runc run, same spec   %6.1f ms   (hoist debug runtime-spec)\n' "$fs"
if [[ -n $crun ]]; then
  printf '          crun run, same spec   %6.1f ms\n' "$(median "${floor_crun[@]}")"
fi
printf '  hoist:  build, 0 RUNs         %6.1f ms   %d RUNs %6.1f ms   (runtime: %s)\n' \
  "$(median "${hoist0[@]}")" "$steps" "$(median "${hoistN[@]}")" "$used"
printf '          per RUN               %6.1f ms   (RUN vertex %.1f ms)\n' "$p" "$v"
printf '  per RUN / %s same-spec floor %.2f   vertex / that floor %.2f (goal <= 1.3)\n' \
  "$used" "$(echo "$p / $fu" | bc -l)" "$(echo "$v / $fu" | bc -l)"
printf '  per RUN / runc same-spec floor %.2f   / runc-spec floor %.2f   (the filter alone: same / runc spec %.2f)\n' \
  "$(echo "$p / $fs" | bc -l)" "$(echo "$p / $f" | bc -l)" "$(echo "$fs / $f" | bc -l)"
