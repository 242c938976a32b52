#!/usr/bin/env bash
# Round trip of scripts/stage_gpu.sh -> scripts/unpack_gpu.sh with the CPU build as the payload
# (same code paths as the GPU stage, without a 230 MB download): small pieces so there are
# several, pieces arriving over two "calls", a corrupt piece, a missing piece, a prefix inside
# the repository, and the installed tiledet running a model with only its own lib/ on the path.
#   test_stage_gpu.sh SOURCE_DIR BUILD_DIR MODEL
set -uo pipefail
SRC="$1"; BUILD="$2"; MODEL="$3"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_in() { grep -qF -- "$2" <<< "$1" || fail "expected '$2' in: $1"; }

out="$("$SRC/scripts/stage_gpu.sh" --build "$BUILD" --out "$work/stage" --piece-mib 4 2>&1)" || { echo "$out"; fail "stage_gpu.sh failed"; exit 1; }
echo "$out"
n="$(ls "$work/stage" | grep -c '^piece-')"
[ "$n" -ge 3 ] || fail "expected several 4 MiB pieces, got $n"
for p in "$work/stage"/piece-*; do
  [ "$(stat -c %s "$p")" -le $((4 * 1024 * 1024)) ] || fail "$(basename "$p") is larger than 4 MiB"
done
expect_in "$(cat "$work/stage/MANIFEST.sha256")" "# pieces $n"
bad="$("$SRC/scripts/stage_gpu.sh" --build "$BUILD" --out "$work/x" --piece-mib 0 2>&1)"; rc=$?
[ $rc -eq 2 ] || fail "--piece-mib 0 must be refused with exit 2, got $rc"
expect_in "$bad" "--piece-mib: expected a whole number"

# Two calls: the first brings half the pieces, the second the rest.
mkdir -p "$work/call1" "$work/call2"
i=0
for p in "$work/stage"/piece-*; do
  if [ $i -lt $((n / 2)) ]; then cp "$p" "$work/call1/"; else cp "$p" "$work/call2/"; fi
  i=$((i + 1))
done
cp "$work/stage/MANIFEST.sha256" "$work/call1/"; cp "$work/stage/MANIFEST.sha256" "$work/call2/"
prefix="$work/prefix"
r1="$("$SRC/scripts/unpack_gpu.sh" "$work/call1" "$prefix" 2>&1)"; rc=$?
[ $rc -eq 0 ] || fail "first call must keep its pieces and exit 0, got $rc: $r1"
expect_in "$r1" "$((n / 2)) of $n pieces kept"
expect_in "$r1" "missing: piece-"
[ ! -e "$prefix/tiledet" ] || fail "installed before all pieces came"
r1b="$("$SRC/scripts/unpack_gpu.sh" --require-complete "$work/call1" "$prefix" 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "--require-complete with pieces missing must exit 1, got $rc"
expect_in "$r1b" "missing: piece-"
r2="$("$SRC/scripts/unpack_gpu.sh" "$work/call2" "$prefix" 2>&1)"; rc=$?
[ $rc -eq 0 ] || fail "second call must install, got $rc: $r2"
expect_in "$r2" "installed in $prefix"
[ -x "$prefix/tiledet" ] || fail "no $prefix/tiledet"
[ ! -e "$prefix/.pieces" ] || fail "the kept pieces must be removed after installing"
r2b="$("$SRC/scripts/unpack_gpu.sh" "$work/call2" "$prefix" 2>&1)"; rc=$?
[ $rc -eq 0 ] || fail "a repeated call after installing must exit 0, got $rc"
expect_in "$r2b" "already installed in"
[ "$(find "$work/stage" -name 'piece-*' | wc -l)" -eq "$n" ] || fail "piece count"
[ -f "$prefix/lib/libonnxruntime.so" ] && [ -L "$prefix/lib/libonnxruntime.so.1" ] || fail "ONNX Runtime's SONAME link must stay a link (one copy, not two)"
# The installed copy runs on its own libraries (no build tree, no third_party on the path).
run="$(env -u LD_LIBRARY_PATH "$prefix/tiledet" inspect "$MODEL" 2>&1)"; rc=$?
[ $rc -eq 0 ] || fail "installed tiledet inspect failed ($rc): $run"
expect_in "$run" "batch"
# Its libonnxruntime.so is the staged one, not the build's.
ldd_out="$(LD_LIBRARY_PATH="$prefix/lib" ldd "$prefix/bin/tiledet")"
grep -q "libonnxruntime.so.1 => $prefix/lib/" <<< "$ldd_out" || grep -q "libonnxruntime.so.1 => $(cd "$prefix" && pwd -P)/lib/" <<< "$ldd_out" \
  || fail "the installed tiledet does not load ONNX Runtime from $prefix/lib: $ldd_out"

# A corrupt piece is refused, named, and not kept.
mkdir -p "$work/corrupt"; cp "$work/stage"/* "$work/corrupt/"
printf 'X' | dd of="$work/corrupt/piece-001" bs=1 seek=100 conv=notrunc status=none
r3="$("$SRC/scripts/unpack_gpu.sh" "$work/corrupt" "$work/prefix2" 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "a corrupt piece must exit 1, got $rc"
expect_in "$r3" "piece piece-001 is corrupt"
[ ! -e "$work/prefix2/tiledet" ] || fail "installed from a corrupt piece"
# A kept piece that went bad on disk is dropped and reported missing.
cp "$work/stage/MANIFEST.sha256" "$work/call1/"
"$SRC/scripts/unpack_gpu.sh" "$work/call1" "$work/prefix3" >/dev/null 2>&1
printf 'X' | dd of="$work/prefix3/.pieces/piece-000" bs=1 seek=10 conv=notrunc status=none
mkdir -p "$work/none"; cp "$work/stage/MANIFEST.sha256" "$work/none/"
r4="$("$SRC/scripts/unpack_gpu.sh" --require-complete "$work/none" "$work/prefix3" 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "a kept piece gone bad must count as missing"
expect_in "$r4" "piece-000 (kept copy was corrupt, removed)"
# No manifest, a prefix inside the repository, wrong arguments.
mkdir -p "$work/nomanifest"; cp "$work/stage"/piece-000 "$work/nomanifest/"
r5="$("$SRC/scripts/unpack_gpu.sh" "$work/nomanifest" "$work/prefix4" 2>&1)"; rc=$?
[ $rc -eq 1 ] || fail "no manifest must exit 1, got $rc"
expect_in "$r5" "MANIFEST.sha256 is missing"
r6="$("$SRC/scripts/unpack_gpu.sh" "$work/stage" "$SRC/build-gpu-prefix-test" 2>&1)"; rc=$?
[ ! -e "$SRC/build-gpu-prefix-test" ] || { rmdir "$SRC/build-gpu-prefix-test"; fail "a refused prefix was created"; }
[ $rc -eq 2 ] || fail "a prefix inside the repository must exit 2, got $rc"
expect_in "$r6" "inside the repository copy"
r7="$("$SRC/scripts/unpack_gpu.sh" "$work/stage" 2>&1)"; rc=$?
[ $rc -eq 2 ] || fail "one argument must exit 2, got $rc"

[ $fails -eq 0 ] && echo "stage/unpack round trip: all checks passed"
exit $((fails > 0))
