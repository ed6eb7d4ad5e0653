# hoist: top-level entry points. Each target installs what it needs first.
#   make test   build everything and run all tests (plus the ASan+UBSan build of the unit tests)
#   make demo   build and run the demo on the embedded engine
#   make bench  build and run the benchmarks against peer tools
#   make compat check hoistd and hoist against BuildKit v0.11.6 and buildx v0.10.5 (BUILDKIT_PEERS=DIR)
#   make compat-bench  benchmarks A and B (bench/build-a.sh, build-b.sh) against buildah and
#               BuildKit v0.11.6 (BUILDKIT_PEERS=DIR)
#   make fault  the kill campaign (tests/fault/run): KILLS (default 200) SIGKILLs of builds,
#               exports, cache exports and prunes, each followed by fsck, output and rebuild checks
#   make build  configure and build (RelWithDebInfo) into build/
#   make fuzz   build the libFuzzer targets with clang and run each for FUZZ_SECONDS
#               (default 60), seeded from the shared corpora (FUZZ_TARGETS picks some)

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

# ccache: paths under the checkout are hashed relative to it, so a fresh clone elsewhere (as CI
# makes) still hits the cache.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
KILLS      ?= 200
SEED       ?= 1
CORPORA    ?= ../shared/corpora

.PHONY: all deps build test unit-test integration-test asan-test demo bench fuzz fault compat compat-bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/build.ninja: | deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: deps $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

unit-test: build
	cd $(BUILD) && ctest -L unit -j $(JOBS) --output-on-failure

integration-test: build
	cd $(BUILD) && ctest -L integration -j $(JOBS) --output-on-failure

$(ASAN_BUILD)/build.ninja: | deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHOIST_SANITIZE=ON -DHOIST_UNIT_TESTS_ONLY=ON

asan-test: deps $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target hoist_unit_tests
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -j $(JOBS) --output-on-failure

test: build
	cd $(BUILD) && ctest -j $(JOBS) --output-on-failure
	$(MAKE) --no-print-directory asan-test

demo: build
	scripts/demo $(BUILD)/hoist

bench: build
	bench/run $(BUILD)/hoist

# Wire compatibility with BuildKit v0.11.6 and buildx v0.10.5 (built from source by
# ../shared/tools/build-buildkit-peers into BUILDKIT_PEERS), outside `make test`.
compat: build
	tests/compat/run $(BUILD)/hoist $(BUILD)/hoistd

# Benchmarks A (a small build) and B (a large base and context) against buildah and BuildKit
# v0.11.6's buildctl -> buildkitd, the peers of `make compat`.
compat-bench: build
	@test -n "$$BUILDKIT_PEERS" || { echo "set BUILDKIT_PEERS to the directory holding buildctl and buildkitd"; exit 2; }
	bench/build-a.sh $(BUILD)/hoist
	bench/build-b.sh $(BUILD)/hoist

$(FUZZ_BUILD)/build.ninja: | deps
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHOIST_FUZZ=ON \
	  -DHOIST_UNIT_TESTS_ONLY=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++

# Every target runs for FUZZ_SECONDS (FUZZ_TARGETS picks some: apply erofs dockerfile codec
# reference llb diffcopy registry); see tests/fuzz/run. The targets that write files work in a
# private tmpfs and chroot there when run as root. A crash fails the run; its input is in
# $(FUZZ_BUILD)/artifacts/<target>/.
fuzz: deps $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target hoist_fuzzers
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(CORPORA) $(FUZZ_TARGETS)

fault: build
	tests/fault/run $(BUILD)/hoist $(KILLS) $(SEED)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
