#!/usr/bin/env bash
# The whole accelerator visit in one command, bounded (each step has its own time limit, and all of
# them share a budget of GPU_CHECK_BUDGET_S, default 420 s: a step that would start past it is
# skipped and says so), writing everything into OUTDIR:
#   1. nvidia-smi; ONNX Runtime version and providers
#   2. export Hugging Face RT-DETR-R50 (random weights: fine for timing) static and dynamic
#      (scripts/export_rtdetr_batch.py)
#   3. tiledet batchify on the static export, verified at batches 2, 4, 8
#   4. the original scenario, one 1280x640 image = two 640 tiles, through the static model
#      (sequential fallback), its batchified twin and the dynamic export: tiledet detect --json
#      (per-tile latency) and tiledet bench (sequential vs batched)
#   5. 8 and 32 tiles (2560x1280, 5120x2560) through the dynamic export
#   6. the bare runtime at batch 1..32 in the same run (pipeline efficiency)
# Where there is no GPU or no torch it says what it skipped and goes on: without nvidia-smi it is
# a CPU dry run (provider cpu, small batches, short windows); without torch it uses the generated
# HF-layout stand-ins (build/models/hf_rtdetr_{static,dynamic}.onnx) instead of exports.
#
#   scripts/gpu_check.sh OUTDIR
#
# Environment: TILEDET (the CLI; default: $TILEDET_PREFIX/tiledet as installed by
# scripts/unpack_gpu.sh, else build/bin/tiledet), PYTHON (default python3), PROVIDER (default
# cuda with a GPU, cpu without), GPU_CHECK_DRY=1 forces the CPU dry run, TILEDET_MODELS the
# folder of the generated stand-in models (default build/models).
# OUTDIR/REPORT.md sums up every step: ok, FAILED, TIMEOUT or SKIPPED, with its log file.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -eq 1 ] && [ "$1" != "-h" ] && [ "$1" != "--help" ] || { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; [ $# -eq 1 ] && exit 0; exit 2; }
OUT="$1"
mkdir -p "$OUT/models" "$OUT/logs" || { echo "gpu_check: cannot create $OUT" >&2; exit 2; }
OUT="$(cd "$OUT" && pwd)"
PYTHON="${PYTHON:-python3}"
STANDINS="${TILEDET_MODELS:-$ROOT/build/models}"  # scripts/make_test_models.py output
if [ -z "${TILEDET:-}" ]; then
  if [ -n "${TILEDET_PREFIX:-}" ] && [ -x "$TILEDET_PREFIX/tiledet" ]; then TILEDET="$TILEDET_PREFIX/tiledet"
  else TILEDET="$ROOT/build/bin/tiledet"; fi
fi
[ -x "$TILEDET" ] || { echo "gpu_check: no tiledet at '$TILEDET': set TILEDET or TILEDET_PREFIX (scripts/unpack_gpu.sh), or build" >&2; exit 2; }
REPORT="$OUT/REPORT.md"
START=$(date +%s)
DEADLINE=$((START + ${GPU_CHECK_BUDGET_S:-420}))
failures=0

note() { printf '%s\n' "$*" | tee -a "$REPORT"; }
# step NAME LIMIT_S CMD...: runs CMD with a time limit, its output in logs/NAME.log, a line in REPORT.
step() {
  local name="$1" limit="$2"; shift 2
  local t0=$(date +%s) rc=0
  local left=$((DEADLINE - t0))
  if [ "$left" -lt 10 ]; then
    note "- **$name**: SKIPPED: the time budget (GPU_CHECK_BUDGET_S) is spent"; failures=$((failures + 1)); return 125
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  timeout --kill-after=5 "$limit" "$@" > "$OUT/logs/$name.log" 2>&1 || rc=$?
  local dt=$(( $(date +%s) - t0 )) status="ok"
  if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then status="TIMEOUT after ${limit} s"; failures=$((failures + 1))
  elif [ $rc -ne 0 ]; then status="FAILED (exit $rc): $(tail -1 "$OUT/logs/$name.log")"; failures=$((failures + 1)); fi
  note "- **$name**: $status (${dt} s, logs/$name.log)"
  return $rc
}
skip() { note "- **$1**: SKIPPED: $2"; }
# An optional step (a feature that may not work on this machine) is reported, never counted.
optional() { local before=$failures; step "$@"; local rc=$?; failures=$before; [ $rc -eq 0 ] || note "  (optional: not counted)"; }
# The summary lines of a tiledet bench or detect log.
table() { grep -E '^(model:|mode |sequential |dynamic |instances |bare )|tiles, [0-9.]+ ms\)' "$OUT/logs/$1.log" | sed 's/^/    /' >> "$REPORT"; }

: > "$REPORT"
note "# tiledet GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note ""
note "tiledet: $TILEDET; commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"

# 1. the machine
if [ "${GPU_CHECK_DRY:-0}" != 1 ] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L > /dev/null 2>&1; then
  DRY=0; PROVIDER="${PROVIDER:-cuda}"
  step nvidia-smi 30 nvidia-smi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$REPORT" 2>&1
else
  DRY=1; PROVIDER="${PROVIDER:-cpu}"
  skip nvidia-smi "no GPU here (no working nvidia-smi, or GPU_CHECK_DRY=1): CPU dry run, provider $PROVIDER, small batches"
fi
note ""
if [ "$DRY" = 1 ]; then
  BATCHES="1,2"; BARE_BATCHES="1,2,4"; TILE_CASES="8"; BENCH_T=(--duration 0.5 --warmup 0.2 --max-windows 2 --min-requests 2)
  # What only the GPU run does, said here so the dry run's report lists every step it left out.
  skip bench_2tiles_dynamic_iobinding_off "GPU only (IoBinding off vs on)"
  skip bench_2tiles_dynamic_cuda_graphs "GPU only (CUDA graphs)"
  skip bench_32tiles_dynamic "GPU only (5120x2560, 32 tiles): the dry run stops at 8 tiles"
  skip "bench batches 4,8 and bare 8,16,32" "GPU only: the dry run keeps to batches 1,2 (bare 1,2,4)"
else
  BATCHES="1,2,4,8"; BARE_BATCHES="1,2,4,8,16,32"; TILE_CASES="8 32"; BENCH_T=(--duration 1 --warmup 0.5 --max-windows 4)
fi
PARGS=(--provider "$PROVIDER")

# 2. export
STATIC="$OUT/models/rtdetr_r50vd_static.onnx"; DYNAMIC="$OUT/models/rtdetr_r50vd_dynamic.onnx"
if "$PYTHON" -c "import torch, transformers" >/dev/null 2>&1; then
  # No network there: fail fast on the Hub and build from the config's defaults (--random-init).
  export HF_HUB_OFFLINE=1
  step export_static 150 "$PYTHON" "$ROOT/scripts/export_rtdetr_batch.py" --model r50vd --random-init --static --out "$OUT/models" --tiledet "$TILEDET"
  step export_dynamic 150 "$PYTHON" "$ROOT/scripts/export_rtdetr_batch.py" --model r50vd --random-init --out "$OUT/models" --tiledet "$TILEDET"
else
  skip export "no torch/transformers for $PYTHON: using the generated HF-layout stand-ins (timings are not RT-DETR's)"
  cp "$STANDINS/hf_rtdetr_static.onnx" "$STATIC" 2>/dev/null
  cp "$STANDINS/hf_rtdetr_dynamic.onnx" "$DYNAMIC" 2>/dev/null
  "$PYTHON" "$ROOT/scripts/export_rtdetr_batch.py" --check "$DYNAMIC" --tiledet "$TILEDET" >> "$REPORT" 2>&1
fi
[ -f "$STATIC" ] && [ -f "$DYNAMIC" ] || { note "no models to run: stopping"; exit 1; }
step runtime 30 "$TILEDET" inspect --json "$DYNAMIC"
tr -d '\n' < "$OUT/logs/runtime.log" | grep -o '"runtime": *"[^"]*"\|"providers_available": *\[[^]]*\]' | tr -s ' ' >> "$REPORT"

# 3. batchify, verified at 2, 4, 8
BATCHIFIED="$OUT/models/rtdetr_r50vd_batchified.onnx"
step batchify 150 "$TILEDET" batchify "$STATIC" "$BATCHIFIED" --verify-batches 2,4,8
grep -i "status\|verif" "$OUT/logs/batchify.log" | head -5 | sed 's/^/    /' >> "$REPORT"

# 4. the original scenario: one 1280x640 image, two tiles
IMG="$OUT/scene_1280x640.png"
"$PYTHON" - "$IMG" <<'PY'
import struct, sys, zlib
w, h = 1280, 640  # a deterministic gradient with blocks: a real PNG, no numpy or OpenCV needed
rows = b"".join(b"\0" + bytes(((x * 7 + y * 3) % 256 if (x // 80 + y // 80) % 2 else (x + y) % 200) for x in range(w) for _ in range(3)) for y in range(h))
chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
PY
note ""
note "## Two tiles (1280x640, tile 640, overlap 0)"
for kind in static batchified dynamic; do
  m="$OUT/models/rtdetr_r50vd_$kind.onnx"
  [ -f "$m" ] || { skip "detect_$kind" "no $m"; continue; }
  step "detect_$kind" 90 "$TILEDET" detect -m "$m" "$IMG" --tile 640 --overlap 0 --batch 2 --json "$OUT/detect_$kind.json" "${PARGS[@]}"
  step "bench_2tiles_$kind" 120 "$TILEDET" bench "${PARGS[@]}" --model "$m" --synthetic 1280x640 --tile 640 --overlap 0 \
    --batch 1,2 --mode sequential,dynamic --concurrency 1 "${BENCH_T[@]}" --no-bare --json "$OUT/bench_2tiles_$kind.json"
  table "detect_$kind"; table "bench_2tiles_$kind"
done
if [ "$DRY" = 0 ]; then
  # What IoBinding and CUDA graphs bring, on the dynamic export at batch 2.
  optional bench_2tiles_dynamic_iobinding_off 90 "$TILEDET" bench "${PARGS[@]}" --io-binding off --model "$DYNAMIC" \
    --synthetic 1280x640 --tile 640 --overlap 0 --batch 2 --mode dynamic --concurrency 1 "${BENCH_T[@]}" --no-bare
  table bench_2tiles_dynamic_iobinding_off
  optional bench_2tiles_dynamic_cuda_graphs 90 "$TILEDET" bench "${PARGS[@]}" --cuda-graphs --model "$DYNAMIC" \
    --synthetic 1280x640 --tile 640 --overlap 0 --batch 2 --mode dynamic --concurrency 1 "${BENCH_T[@]}" --no-bare
  table bench_2tiles_dynamic_cuda_graphs
fi

# 5. more tiles through the dynamic export, with the bare runtime's rows in the same run, so each
#    pipeline row gets its efficiency against the bare runtime at its batch size (the effic column)
for n in $TILE_CASES; do
  case $n in 8) size=2560x1280 ;; 32) size=5120x2560 ;; esac
  step "bench_${n}tiles_dynamic" 120 "$TILEDET" bench "${PARGS[@]}" --model "$DYNAMIC" --synthetic "$size" --tile 640 --overlap 0 \
    --batch "$BATCHES" --mode sequential,dynamic --concurrency 1 "${BENCH_T[@]}" --json "$OUT/bench_${n}tiles.json"
  table "bench_${n}tiles_dynamic"
done

# 6. the bare runtime at batch 1..32, same process
step bench_bare 150 "$TILEDET" bench "${PARGS[@]}" --model "$DYNAMIC" --bare-only --batch "$BARE_BATCHES" "${BENCH_T[@]}" \
  --json "$OUT/bench_bare.json" --csv "$OUT/bench_bare.csv"
table bench_bare

note ""
note "total: $(( $(date +%s) - START )) s, $failures step(s) failed or timed out; mode: $([ "$DRY" = 1 ] && echo 'CPU dry run (GPU figures NOT measured)' || echo "GPU, provider $PROVIDER")"
exit $((failures > 0))
