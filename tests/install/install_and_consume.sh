#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, checks the installed headers include no ONNX
# Runtime header, then configures, builds and runs tests/install/consumer against that prefix only.
# Usage: install_and_consume.sh BUILD_DIR SOURCE_DIR MODEL
set -euo pipefail
build="$(cd "$1" && pwd)" src="$(cd "$2" && pwd)" model="$3"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
test -f "$work/prefix/lib/cmake/tiledet/tiledetConfig.cmake" || { echo "FAIL: no tiledetConfig.cmake installed"; exit 1; }
test -f "$work/prefix/lib/cmake/tiledet/tiledetConfigVersion.cmake" || { echo "FAIL: no version file installed"; exit 1; }
if grep -rlE '#include *[<"](onnxruntime|core/session)' "$work/prefix/include"; then
  echo "FAIL: installed headers above include ONNX Runtime headers"; exit 1
fi
# The consumer sees the installed tree, not this checkout: the source tree is moved out of reach.
cmake -G Ninja -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$work/configure.log" 2>&1 \
  || { cat "$work/configure.log"; echo "FAIL: configuring the consumer against the installed tiledet"; exit 1; }
cmake --build "$work/consumer" >"$work/build.log" 2>&1 || { cat "$work/build.log"; echo "FAIL: building the consumer"; exit 1; }
if grep -qF -- "-I$src/include" "$work/consumer/build.ninja"; then
  echo "FAIL: the consumer was compiled against the source tree's headers, not the installed ones"; exit 1
fi
rc=0; out="$("$work/consumer/consumer" "$model" 2>&1)" || rc=$?
echo "$out"
[ "$rc" -eq 0 ] || { echo "FAIL: the consumer exited with $rc"; exit 1; }
[[ "$out" =~ ^tiles\ [0-9]+\ detections\ [0-9]+\ family\ official_rtdetr$ ]] || { echo "FAIL: unexpected consumer output: $out"; exit 1; }
