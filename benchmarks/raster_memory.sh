#!/usr/bin/env bash
# Issue 21's figures: huge rasters in bounded memory. For a 12000 x 12000 and a 30000 x 30000
# GeoTIFF (scripts/make_test_rasters.py) at 640 px tiles with 20 % overlap: tiles/s and peak RSS
# of `tiledet detect`, next to the bare runtime's tiles/s measured in the same run (tiledet
# bench --bare-only at the same batch); then a 12000 x 12000 JPEG through OpenCV with the
# default window and with every tile cut at once (--tiles-in-flight 100000, the behaviour before
# issue 21).
#
#   benchmarks/raster_memory.sh BUILD MODEL [BATCH]
#
# Prints one Markdown table row per run.
set -euo pipefail
BUILD=${1:?usage: raster_memory.sh BUILD MODEL [BATCH]}
MODEL=${2:?usage: raster_memory.sh BUILD MODEL [BATCH]}
BATCH=${3:-8}
T="$BUILD/bin/tiledet"
R="$BUILD/rasters"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$R/rasters.json" ] || /usr/bin/python3 "$ROOT/scripts/make_test_rasters.py" --out "$R" >/dev/null
[ -f "$R/planted_12000.jpg" ] || gdal_translate -q -of JPEG "$R/planted_12000.tif" "$R/planted_12000.jpg"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$T" bench --model "$MODEL" --bare-only --batch "$BATCH" --duration 5 --json "$OUT/bare.json" >/dev/null 2>&1
# The best bare row with one session (the detect runs below use one session too); a model with
# a static batch runs at its own batch whatever --batch says.
bare=$(python3 -c "
import json; r=json.load(open('$OUT/bare.json'))
print(round(max(x['tiles_per_s'] for x in r['rows'] if x['kind'] == 'bare' and x['instances'] == 1), 1))")
echo "bare runtime, best one-session row of tiledet bench --bare-only --batch $BATCH: $bare tiles/s"
echo
echo "| input | tiles | time s | tiles/s | bare tiles/s | peak RSS MB |"
echo "|---|---|---|---|---|---|"
run() {  # name file extra-args...
    local name=$1 file=$2
    shift 2
    "$T" detect -m "$MODEL" "$file" --tile 640 --overlap 0.2 --batch "$BATCH" --json "$OUT/r.json" "$@" \
        >"$OUT/out.txt" 2>&1 || { cat "$OUT/out.txt"; return 1; }
    python3 - "$name" "$OUT/r.json" "$OUT/out.txt" "$bare" <<'PY'
import json, re, sys
name, js, txt, bare = sys.argv[1:]
img = json.load(open(js))["images"][0]
tiles = len(img["tiles"])
s = img["timings_ms"]["end_to_end"] / 1000
rss = re.search(r"peak RSS: (\d+) MB", open(txt).read()).group(1)
print(f"| {name} | {tiles} | {s:.1f} | {tiles / s:.1f} | {bare} | {rss} |")
PY
}
run "GeoTIFF 12000x12000" "$R/planted_12000.tif"
run "GeoTIFF 30000x30000" "$R/planted_30000.tif"
run "JPEG 12000x12000 (OpenCV), window" "$R/planted_12000.jpg"
run "JPEG 12000x12000 (OpenCV), all tiles at once" "$R/planted_12000.jpg" --tiles-in-flight 100000
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
