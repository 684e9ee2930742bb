# Thin front for the README's commands; CMake does the building.
PREFIX ?= /usr/local
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps build check test test-asan demo install fuzz bench clean

all: build

deps:
	@scripts/deps.sh

# deps first even under make -j: configuring needs the -dev packages.
$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTD_WERROR=ON \
	      -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# Every test twice: the optimised build, then the same tests under
# AddressSanitizer + UndefinedBehaviorSanitizer in a separate build dir.
check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPTD_WERROR=ON -DPTD_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/demo.sh $(BUILD)/ptdispatch

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPTD_FUZZ=ON -DPTD_WERROR=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: build
	@bench/run.sh $(BUILD)/ptdispatch

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
