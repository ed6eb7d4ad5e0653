# Helpers the benchmark scripts share; source it after setting `here` to the bench directory:
#   . "$here/lib.sh"

# The current time in seconds, with nanoseconds.
now() { date +%s.%N; }

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
