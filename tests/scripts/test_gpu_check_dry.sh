#!/usr/bin/env bash
# scripts/gpu_check.sh as a CPU dry run: every step runs or says why it was skipped, the report
# says the GPU figures are not measured, and a spent time budget or a missing CLI is an error.
#   test_gpu_check_dry.sh SOURCE_DIR TILEDET_CLI MODELS_DIR
set -uo pipefail
SRC="$1"; CLI="$2"; export TILEDET_MODELS="$3"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_in() { grep -qF -- "$2" "$1" || fail "expected '$2' in $1"; }

GPU_CHECK_DRY=1 TILEDET="$CLI" bash "$SRC/scripts/gpu_check.sh" "$work/out" > "$work/log" 2>&1; rc=$?
cat "$work/out/REPORT.md"
[ $rc -eq 0 ] || fail "the dry run must pass, exit $rc: $(tail -5 "$work/log")"
r="$work/out/REPORT.md"
expect_in "$r" "CPU dry run (GPU figures NOT measured)"
expect_in "$r" "**nvidia-smi**: SKIPPED: no GPU here"
expect_in "$r" "status: repaired_verified"
for s in batchify detect_static detect_batchified detect_dynamic bench_2tiles_static bench_2tiles_dynamic bench_8tiles_dynamic bench_bare; do
  expect_in "$r" "**$s**: ok"
done
expect_in "$r" "(2 tiles, "
grep -q "WARNING: Batch inference not supported" "$work/out/logs/detect_static.log" || fail "the static model must fall back to sequential, with the warning"
[ -s "$work/out/bench_bare.json" ] || fail "no bench_bare.json"
[ -s "$work/out/detect_dynamic.json" ] || fail "no detect_dynamic.json"

GPU_CHECK_DRY=1 GPU_CHECK_BUDGET_S=0 TILEDET="$CLI" bash "$SRC/scripts/gpu_check.sh" "$work/out2" > "$work/log2" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a spent budget must exit 1, got $rc"
expect_in "$work/out2/REPORT.md" "SKIPPED: the time budget (GPU_CHECK_BUDGET_S) is spent"

TILEDET=/nonexistent/tiledet bash "$SRC/scripts/gpu_check.sh" "$work/out3" > "$work/log3" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "a missing CLI must exit 2, got $rc"
expect_in "$work/log3" "no tiledet at '/nonexistent/tiledet'"
bash "$SRC/scripts/gpu_check.sh" > "$work/log4" 2>&1; rc=$?
[ $rc -eq 2 ] || fail "no OUTDIR must exit 2, got $rc"

[ $fails -eq 0 ] && echo "gpu_check dry run: all checks passed"
exit $((fails > 0))
