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
