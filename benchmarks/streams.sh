#!/usr/bin/env bash
# `tiledet stream` with 1, 2, 4 and 8 concurrent 1080p sources, 640 tiles (issue 18's table in
# BENCHMARKS.md). Each source reads the same generated clip at its frame rate (--realtime, as a
# camera delivers it) under the live default policy `latest`, so a source the CPU cannot keep up
# with drops frames (counted) rather than falling behind.
#
#   benchmarks/streams.sh [OUT_DIR]     (DURATION=20 s per run; MODELS="path ..." to override;
#                                        EXTRA_ARGS="--batch 8" adds flags to every run)
#
# Prints one Markdown row per (model, streams): frames/s per stream (mean over streams), total
# tiles/s, mean batch size, p50/p99 frame latency (capture -> result, worst stream), drops.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
T="${TILEDET:-$root/build/bin/tiledet}"
shared="${TILEDET_SHARED_DIR:-$root/../shared}"
out="${1:-$(mktemp -d)}"
duration="${DURATION:-20}"
mkdir -p "$out"
[ -x "$T" ] || { echo "streams.sh: no $T: build first (make)" >&2; exit 2; }
command -v ffmpeg >/dev/null || { echo "streams.sh: needs the ffmpeg command (scripts/setup.sh installs it)" >&2; exit 2; }
models="${MODELS:-$shared/models/yolov8n_int8.onnx $root/build/models/yolo_dynamic.onnx}"

clip="$out/clip1080.mp4"
if [ ! -f "$clip" ]; then
  # 30 s of 1920x1080 at 25 fps: FFmpeg's moving test pattern (texture everywhere, like a camera).
  ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=s=1920x1080:r=25 -t 30 \
    -c:v libx264 -preset veryfast -g 50 -pix_fmt yuv420p "$clip"
fi

echo "| model${EXTRA_ARGS:+ ($EXTRA_ARGS)} | streams | frames/s per stream | total tiles/s | mean batch | p50 / p99 latency ms | dropped (of decoded) |"
echo "|---|---|---|---|---|---|---|"
for m in $models; do
  [ -f "$m" ] || { echo "streams.sh: $m is missing, skipped" >&2; continue; }
  for n in 1 2 4 8; do
    args=()
    for i in $(seq 1 "$n"); do args+=(--source "s$i=$clip"); done
    log="$out/$(basename "$m" .onnx)_$n${EXTRA_ARGS:+_extra}.log"
    # shellcheck disable=SC2086
    "$T" stream -m "$m" "${args[@]}" --tile 640 --realtime --policy latest --duration "$duration" --no-progress ${EXTRA_ARGS:-} \
      >/dev/null 2>"$log" || true
    # Summary rows: "  s1 file latest DECODED FRAMES FPS P50 P99 RECON state, dropped N (...)"
    awk -v model="$(basename "$m")" -v n="$n" '
      $1 ~ /^s[0-9]+$/ && $2 == "file" { k++; fps += $6; dec += $4; fr += $5; if ($7 > p50) p50 = $7; if ($8 > p99) p99 = $8 }
      /mean batch size/ { mb = $4; sub(/,/, "", mb) }
      /tiles\/s over the run/ { tps = $4 }
      END { printf "| %s | %d | %.2f | %.1f | %s | %.0f / %.0f | %d of %d |\n", model, n, (k ? fps / k : 0), tps, mb, p50, p99, dec - fr, dec }' "$log"
  done
done
