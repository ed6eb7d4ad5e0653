#!/usr/bin/env bash
# Parallel builds on one root: eight different builds (`FROM busybox` from a layout, a RUN of its
# own that computes for a while (WORK loop rounds of awk, single-threaded, as a compiler step
# would: 3000000 is about half a second here), a COPY of its own file, a second
# RUN), each exporting its own tag into one OCI layout directory, run by eight embedded `hoist
# build` processes started together on one fresh root, against the same eight run one after the
# other on another fresh root. Each round creates both roots first and alternates which mode
# goes first; roots are removed after all rounds. Every output is checked: the layout verifies
# and each tag holds its build's files. The CPU time of each mode (hoist, the runtime and the
# steps) is printed too: where it is the cores' whole time, the machine is the limit.
#   bench/parallel.sh HOIST_BIN [ROUNDS=3] [BUILDS=8] [WORK=0]
set -euo pipefail
hoist=$(realpath "${1:?usage: parallel.sh HOIST_BIN [ROUNDS] [BUILDS]}")
rounds=${2:-3}
builds=${3:-8}
work_rounds=${4:-0}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
base=${BENCH_DIR:-$here/out}
work=$base/parallel
mkdir -p "$work"
need_disk "$base" 500
layout=$work/base
[[ -f $layout/index.json ]] ||
  HOIST=$hoist "$here/../scripts/make-base-image" "$layout" --tag busybox:1.36 >/dev/null
for ((i = 0; i < builds; i++)); do
  mkdir -p "$work/ctx$i"
  printf 'FROM base\nRUN echo built %d > /which && awk '"'"'BEGIN { for (i = 0; i < %d; i++) s += i; print s }'"'"' > /sum\nCOPY f /f\nRUN cat /f /which > /both\n' \
    "$i" "$work_rounds" >"$work/ctx$i/Dockerfile"
  echo "file $i" >"$work/ctx$i/f"
done
run=$(mktemp -d "$work/runs.XXXXXX")
trap 'rm -rf "$run"' EXIT
trap 'exit 130' INT TERM

one() {  # one build: ROOT OUT I
  "$hoist" --root "$1" build --progress=quiet --build-context "base=oci-layout://$layout:1.36" \
    -o "type=oci,tar=false,dest=$2,name=example.com/app:t$3" "$work/ctx$3" >/dev/null
}
sequential() {  # ROOT OUT
  for ((i = 0; i < builds; i++)); do one "$1" "$2" "$i"; done
}
parallel() {  # ROOT OUT
  local pids=() i status=0
  for ((i = 0; i < builds; i++)); do
    one "$1" "$2" "$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
  return $status
}
check() {  # OUT: the layout verifies, and each tag holds its build's files
  "$hoist" layout verify "$1" >/dev/null
  for ((i = 0; i < builds; i++)); do
    local tree=$run/check-$RANDOM$RANDOM
    "$hoist" unpack "$1:t$i" "$tree" >/dev/null
    [[ $(cat "$tree/both") == "file $i"$'\n'"built $i" ]] || {
      echo "tag t$i of $1 holds the wrong files" >&2
      return 1
    }
  done
}

seq_times=() par_times=() seq_cpu=() par_cpu=()
cpu() { awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat; }  # this shell's and its children's ticks
for ((r = 0; r < rounds; r++)); do
  for mode in sequential parallel; do mkdir -p "$run/$mode-$r"; done
  order=(sequential parallel)
  ((r % 2 == 1)) && order=(parallel sequential)
  for mode in "${order[@]}"; do
    c0=$(cpu)
    t0=$EPOCHREALTIME
    "$mode" "$run/$mode-$r/root" "$run/$mode-$r/out"
    t1=$EPOCHREALTIME
    c1=$(cpu)
    t=$(echo "$t1 - $t0" | bc -l)
    c=$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l)
    if [[ $mode == sequential ]]; then seq_times+=("$t") seq_cpu+=("$c"); else par_times+=("$t") par_cpu+=("$c"); fi
    check "$run/$mode-$r/out"
    printf 'round %d %-10s %6.2f s (CPU %.2f s)\n' "$r" "$mode" "$t" "$c"
  done
done
s=$(median "${seq_times[@]}")
p=$(median "${par_times[@]}")
printf '%d builds on one root (awk rounds in a RUN: %d), cold: one after the other %.2f s (CPU %.2f s), all at once %.2f s (CPU %.2f s) on %d cores (medians of %d)\n' \
  "$builds" "$work_rounds" "$s" "$(median "${seq_cpu[@]}")" "$p" "$(median "${par_cpu[@]}")" "$(nproc)" "$rounds"
printf 'parallel/sequential: %.2f (goal <= 0.6)\n' "$(echo "$p / $s" | bc -l)"
