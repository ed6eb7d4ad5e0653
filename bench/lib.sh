# Helpers the benchmark scripts share; source it after setting `here` to the bench directory:
#   . "$here/lib.sh"

# Times are taken from bash's $EPOCHREALTIME (seconds, microseconds): reading it forks nothing,
# where `$(date +%s.%N)` costs a fork and an exec, several milliseconds on a slow machine, added
# to every figure.
export LC_NUMERIC=C  # a '.' in $EPOCHREALTIME

# The median of the numbers given as arguments (the lower middle one of an even count).
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Makes the generated test image (scripts/make-test-image, tag bench:1) of SIZE_MB in FILES
# files at IMG, unless a previous run left it there.
#   ensure_test_image IMG SIZE_MB FILES
ensure_test_image() {
  local img=$1 size_mb=$2 files=$3
  [[ -f $img/index.json ]] && return
  rm -rf "$img"
  echo "generating the image in $img" >&2
  python3 "$here/../scripts/make-test-image" "$img" --size-mb "$size_mb" --files "$files" \
    --tag bench:1 >/dev/null
}

# Starts Debian's docker-registry (distribution) on 127.0.0.1 at a free port, with its config,
# storage and log (errors and the access log) under DIR, and waits until it answers. Sets
# REGISTRY (HOST:PORT) and REGISTRY_PID; stop_registry ends it (call it from an EXIT trap).
#   start_registry DIR
start_registry() {
  local dir=$1 port attempt i
  mkdir -p "$dir/storage"
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
YML
    docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 &
    REGISTRY_PID=$!
    REGISTRY=127.0.0.1:$port
    for ((i = 0; i < 100; i++)); do
      if curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; then return 0; fi
      kill -0 "$REGISTRY_PID" 2>/dev/null || break  # it died (the port was taken): again
      sleep 0.1
    done
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  done
  echo "start_registry: the registry did not start; see $dir/registry.log" >&2
  return 1
}

stop_registry() {
  if [[ -n ${REGISTRY_PID:-} ]]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
    REGISTRY_PID=
  fi
}

# Runs a command (skopeo, buildah) with an empty containers/image blob info cache of its own:
# that cache (/var/lib/containers/cache for root; no flag moves it) remembers where blobs were
# pushed before, and skopeo would then mount them from that other repository instead of
# uploading them, which makes a repeated push nearly free. It also keeps the benchmarks'
# short-lived registries out of the machine's cache. FRESH_BLOB_CACHE is the same as a command
# prefix (for /usr/bin/time); it needs the directory that fresh_blob_cache creates.
#   fresh_blob_cache CMD [ARGS...]
FRESH_BLOB_CACHE=(unshare -m sh -c 'mount -t tmpfs -o size=64m tmpfs /var/lib/containers/cache && exec "$@"' sh)
fresh_blob_cache() {
  mkdir -p /var/lib/containers/cache
  "${FRESH_BLOB_CACHE[@]}" "$@"
}

# Fails unless the file system holding DIR has MB megabytes free.
#   need_disk DIR MB
need_disk() {
  local avail
  avail=$(df -Pm "$1" | awk 'NR == 2 {print $4}')
  if ((avail < $2)); then
    echo "$(basename "$0"): needs ${2} MB free in $1, has ${avail} MB" >&2
    return 1
  fi
}

# Unmounts everything mounted below DIR (deepest first), so that removing DIR cannot reach
# into a mounted file system.
#   unmount_under DIR
unmount_under() {
  local dir m
  dir=$(realpath "$1")
  findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# Seconds from T0 until T1 (values of $EPOCHREALTIME), to the millisecond. Take T1 right after
# the work: `$(elapsed ...)` runs in a forked subshell, which takes milliseconds of its own.
#   elapsed T0 T1
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# A / B, to two decimals.
#   ratio A B
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# Waits up to 10 s for the unix socket SOCK to appear.
#   wait_socket SOCK
wait_socket() {
  local i
  for ((i = 0; i < 200; i++)); do [[ -S $1 ]] && return 0; sleep 0.05; done
  return 1
}

# Writes a build context's data: FILES files of MB MiB in all (the same size each, random
# content led by the file's number), 256 to a directory, as DIR/data/dNNN/fNNN.
#   make_context DIR FILES MB
make_context() {
  python3 - "$@" <<'PY'
import os, sys
root, files, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
size = (mb << 20) // files
block = os.urandom(size)
for i in range(files):
    sub = os.path.join(root, "data", f"d{i // 256:03}")
    if i % 256 == 0:
        os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, f"f{i % 256:03}"), "wb") as fh:
        fh.write((b"%d\n" % i + block)[:size])
PY
}

# Starts BuildKit's buildkitd from $BUILDKIT_PEERS (v0.11.6; the OCI worker running runc) with
# its state in ROOT, listening on the unix socket SOCK, its log appended to LOG, and waits for
# the socket. Sets BUILDKITD_PID; stop_buildkitd ends it (call it from an EXIT trap too).
#   start_buildkitd ROOT SOCK LOG
start_buildkitd() {
  rm -f "$2"
  "$BUILDKIT_PEERS/buildkitd" --root "$1" --addr "unix://$2" --oci-worker=true \
    --containerd-worker=false --oci-worker-binary=runc >>"$3" 2>&1 &
  BUILDKITD_PID=$!
  wait_socket "$2" || { echo "start_buildkitd: buildkitd did not start; see $3" >&2; return 1; }
  sleep 0.2
}

stop_buildkitd() {
  if [[ -n ${BUILDKITD_PID:-} ]]; then
    kill "$BUILDKITD_PID" 2>/dev/null || true
    wait "$BUILDKITD_PID" 2>/dev/null || true
    BUILDKITD_PID=
  fi
}

# Describes the image in an OCI layout directory (the first manifest of its index.json, through
# nested indexes): prints "layers N", then the paths (without a leading ./ or /) of the regular
# files in its layers after the first SKIP, so a check sees what the build added. Fails on a
# layout without an image, which a failed build may leave behind.
#   image_files LAYOUT [SKIP]
image_files() {
  python3 - "$1" "${2:-0}" <<'PY'
import json, os, subprocess, sys, tarfile
layout, skip = sys.argv[1], int(sys.argv[2])
def blob(digest):
    return os.path.join(layout, "blobs", *digest.split(":", 1))
doc = json.load(open(os.path.join(layout, "index.json")))
while "manifests" in doc:
    if not doc["manifests"]:
        sys.exit(f"{layout}: the index holds no image")
    doc = json.load(open(blob(doc["manifests"][0]["digest"])))
layers = doc["layers"]
print("layers", len(layers))
for layer in layers[skip:]:
    media = layer["mediaType"]
    if "zstd" in media:
        proc = subprocess.Popen(["zstd", "-dcq", blob(layer["digest"])], stdout=subprocess.PIPE)
        tar = tarfile.open(fileobj=proc.stdout, mode="r|")
    else:
        tar = tarfile.open(blob(layer["digest"]), mode="r|gz" if "gzip" in media else "r|")
    for entry in tar:
        if entry.isreg():
            name = entry.name[2:] if entry.name.startswith("./") else entry.name
            print(name.lstrip("/"))
PY
}

# Building one Dockerfile into an OCI layout directory with hoist (embedded), buildah (build
# --layers with chroot isolation, then push oci:) and, when BUILDKIT_PEERS is set, buildctl →
# buildkitd, in three modes: cold (a fresh engine root / storage / daemon each round), warm
# (--no-cache on that root, which has the base image now) and no-op (everything cached). Every
# build writes a fresh output directory. Within a round the modes run in that order, each tool
# in turn, and the tool that goes first rotates from round to round. Nothing is deleted until
# build_compare_cleanup (the EXIT trap): file creation slows down after many deletions.
#
# The caller sets:
#   hoist         the hoist binary
#   run           a new directory for this run's roots, outputs and logs
#   ctx           the context: Dockerfile (FROM NAME) and Dockerfile.buildah (FROM oci:LAYOUT:TAG)
#   from_name     NAME: the build context hoist and BuildKit are given for the base
#   from_layout   LAYOUT, an OCI layout directory holding the base
#   from_tag      TAG, the base's ref name in it
#   from_digest   the base's manifest digest (BuildKit selects it by digest)
#   rounds        how many rounds
# Times go into build_times[TOOL.MODE] (space-separated seconds); outputs are
# $run/TOOL-MODE-ROUND.
build_tools=(hoist buildah)
build_modes=(cold warm noop)
declare -A build_times

write_dockerfiles() {  # write_dockerfiles STEPS: the two Dockerfiles, the base line + STEPS
  printf 'FROM %s\n%s' "$from_name" "$1" >"$ctx/Dockerfile"
  printf 'FROM oci:%s:%s\n%s' "$from_layout" "$from_tag" "$1" >"$ctx/Dockerfile.buildah"
}

buildah_storage() {  # buildah_storage ROUND: the global options of that round's storage
  buildah_opts=(--root "$run/buildah-$1/storage" --runroot "$run/buildah-$1/run" --storage-driver overlay)
}

# One timed build: build_one TOOL MODE ROUND
build_one() {
  local tool=$1 mode=$2 r=$3 out=$run/$1-$2-$3 t0 t1 nocache=()
  [[ $mode == warm ]] && nocache=(--no-cache)
  sync
  case $tool in
    hoist)
      t0=$EPOCHREALTIME
      "$hoist" --root "$run/hoist-$r" build --progress=quiet "${nocache[@]}" \
        --build-context "$from_name=oci-layout://$from_layout:$from_tag" \
        -o type=oci,tar=false,dest="$out" -t app:1 "$ctx" ;;
    buildah)
      buildah_storage "$r"
      t0=$EPOCHREALTIME
      buildah "${buildah_opts[@]}" build --quiet --layers "${nocache[@]}" --isolation chroot \
        -f "$ctx/Dockerfile.buildah" -t app:1 "$ctx" >/dev/null
      buildah "${buildah_opts[@]}" push --quiet app:1 oci:"$out":1 ;;
    buildkit)
      t0=$EPOCHREALTIME
      "$BUILDKIT_PEERS/buildctl" --addr "unix://$run/buildkitd.sock" build --frontend dockerfile.v0 \
        --local context="$ctx" --local dockerfile="$ctx" --oci-layout store="$from_layout" \
        --opt context:"$from_name"=oci-layout://store@"$from_digest" "${nocache[@]}" \
        --output type=oci,dest="$out",tar=false,name=app:1 >>"$run/buildctl.log" 2>&1 \
        || { echo "buildctl failed; see $run/buildctl.log" >&2; return 1; } ;;
  esac
  t1=$EPOCHREALTIME
  build_times[$tool.$mode]+="$(elapsed "$t0" "$t1") "
}

build_compare_rounds() {
  local r m k n
  [[ -n ${BUILDKIT_PEERS:-} ]] && build_tools=(hoist buildah buildkit)
  n=${#build_tools[@]}
  for ((r = 0; r < rounds; r++)); do
    echo "round $((r + 1))/$rounds" >&2
    [[ -n ${BUILDKIT_PEERS:-} ]] && start_buildkitd "$run/buildkit-$r" "$run/buildkitd.sock" "$run/buildkitd.log"
    for m in "${build_modes[@]}"; do
      for ((k = 0; k < n; k++)); do
        build_one "${build_tools[(k + r) % n]}" "$m" "$r"
      done
    done
    stop_buildkitd
  done
}

# Calls CHECK DIR on every output directory; CHECK fails when the image is not what the
# Dockerfile builds.
#   build_compare_check CHECK
build_compare_check() {
  local t m r
  for t in "${build_tools[@]}"; do
    for m in "${build_modes[@]}"; do
      for ((r = 0; r < rounds; r++)); do
        "$1" "$run/$t-$m-$r" || { echo "$t, $m, round $((r + 1)): not the image built" >&2; return 1; }
      done
    done
  done
}

# Prints the medians per tool and mode, and hoist's time over each peer's, hoist/BuildKit's
# against the goals given per mode.
#   build_compare_report TITLE GOAL_COLD GOAL_WARM GOAL_NOOP
build_compare_report() {
  local title=$1 m h b k line
  local -A goal=([cold]=$2 [warm]=$3 [noop]=$4)
  echo "$title (median of $rounds)"
  for m in "${build_modes[@]}"; do
    h=$(median ${build_times[hoist.$m]})
    b=$(median ${build_times[buildah.$m]})
    line=$(printf '  %-5s hoist %7.3fs  buildah %7.3fs' "$m" "$h" "$b")
    if [[ -n ${build_times[buildkit.$m]:-} ]]; then
      k=$(median ${build_times[buildkit.$m]})
      line+=$(printf '  BuildKit %7.3fs  hoist/buildah %s  hoist/BuildKit %s (goal <= %s)' \
        "$k" "$(ratio "$h" "$b")" "$(ratio "$h" "$k")" "${goal[$m]}")
    else
      line+=$(printf '  hoist/buildah %s  (hoist/BuildKit goal <= %s: set BUILDKIT_PEERS)' \
        "$(ratio "$h" "$b")" "${goal[$m]}")
    fi
    echo "$line"
  done
  echo "  seconds per round:"
  for m in "${build_modes[@]}"; do
    line=$(printf '    %-5s' "$m")
    for k in "${build_tools[@]}"; do line+=" $k ${build_times[$k.$m]}"; done
    echo "$line"
  done
}

build_compare_cleanup() {
  local r
  stop_buildkitd
  [[ -n ${run:-} && -d $run ]] || return 0
  for ((r = 0; r < rounds; r++)); do
    if [[ -d $run/buildah-$r ]]; then
      buildah_storage "$r"
      buildah "${buildah_opts[@]}" rm -a >/dev/null 2>&1 || true
    fi
  done
  unmount_under "$run"
  echo "removing $run" >&2
  rm -rf "$run"
}
