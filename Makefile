# The README's two commands: `make demo` and `make test`. Both install what is missing first.
BUILD ?= build
BUILD_TYPE ?= Release
SANITIZE ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# Your own ONNX Runtime build (a folder with include/ and lib/): `make demo ONNXRUNTIME_ROOT=/opt/ort`
# skips its download in setup.sh and hands the folder to CMake.
ifdef ONNXRUNTIME_ROOT
export ONNXRUNTIME_ROOT
CMAKE_ARGS += -DONNXRUNTIME_ROOT=$(ONNXRUNTIME_ROOT)
endif

.PHONY: all setup configure build demo test clean fuzz fuzz-build

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/build.ninja: | setup
	cmake -G Ninja -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DTILEDET_SANITIZE=$(SANITIZE) $(CMAKE_ARGS)

configure: setup $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/tiledet demo

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# libFuzzer targets (fuzz/README.md): clang with ASan+UBSan in a build folder of their own, then
# each target for FUZZ_SECONDS on the committed seeds plus what earlier runs found.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?=
fuzz-build: setup
	CC=clang CXX=clang++ cmake -G Ninja -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTILEDET_FUZZ=ON \
	  -DTILEDET_BUILD_TESTS=OFF -DTILEDET_BUILD_BENCHMARKS=OFF $(CMAKE_ARGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD)
