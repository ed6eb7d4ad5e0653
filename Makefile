# hoist: top-level entry points. Each target installs what it needs first.
#   make test   build everything and run all tests (plus the ASan+UBSan build of the unit tests)
#   make demo   build and run the demo on the embedded engine
#   make bench  build and run the benchmarks against peer tools
#   make build  configure and build (RelWithDebInfo) into build/

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit-test integration-test asan-test demo bench clean

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

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
