#!/usr/bin/env bash
# The other side of scripts/stage_gpu.sh. Checks every piece in PIECES_DIR against
# MANIFEST.sha256 and keeps the good ones in PREFIX/.pieces; once all pieces are there, it checks
# the whole, unpacks into PREFIX, checks every file (FILES.sha256) and that PREFIX/tiledet runs.
# Pieces may come over several calls: run it after each; it says which pieces are still missing.
#
#   scripts/unpack_gpu.sh [--require-complete] PIECES_DIR PREFIX
#
# PREFIX must lie outside the repository copy (which a later call replaces).
# Exit: 0 installed, or pieces kept and more to come; 1 a bad or missing piece, a bad whole, or
# (--require-complete) pieces still missing; 2 bad usage.
set -euo pipefail
trap 'echo "unpack_gpu: error: line $LINENO failed: $BASH_COMMAND" >&2' ERR

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { printf 'unpack_gpu: error: %s\n' "$*" >&2; exit "${2:-1}"; }
say() { printf 'unpack_gpu: %s\n' "$*"; }

require_complete=0
args=()
for a in "$@"; do
  case "$a" in
    --require-complete) require_complete=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$a' (see --help)" 2 ;;
    *) args+=("$a") ;;
  esac
done
[ ${#args[@]} -eq 2 ] || die "expected PIECES_DIR PREFIX, got ${#args[@]} argument(s) (see --help)" 2
PIECES="${args[0]}"
PREFIX="${args[1]}"
[ -f "$PIECES/MANIFEST.sha256" ] || die "$PIECES/MANIFEST.sha256 is missing: send it with every call (scripts/stage_gpu.sh writes it)"
PREFIX="$(realpath -m "$PREFIX")"
case "$PREFIX/" in
  "$(cd "$ROOT" && pwd -P)/"*) die "PREFIX '$PREFIX' is inside the repository copy $ROOT, which the next call replaces: install outside it (e.g. /tmp/tiledet-gpu or \$HOME/tiledet-gpu)" 2 ;;
esac
mkdir -p "$PREFIX"
KEEP="$PREFIX/.pieces"
if [ -f "$PREFIX/MANIFEST.sha256" ] && cmp -s "$PIECES/MANIFEST.sha256" "$PREFIX/MANIFEST.sha256" && [ -x "$PREFIX/tiledet" ]; then
  say "already installed in $PREFIX from this MANIFEST.sha256: run $PREFIX/tiledet"; exit 0
fi
mkdir -p "$KEEP"

manifest="$PIECES/MANIFEST.sha256"
whole_line="$(grep '^# whole ' "$manifest" || true)"
[ -n "$whole_line" ] || die "$manifest has no '# whole' line: not written by scripts/stage_gpu.sh"
# A manifest from another staging run must not mix with pieces kept from this one.
if [ -f "$KEEP/MANIFEST.sha256" ] && ! cmp -s "$manifest" "$KEEP/MANIFEST.sha256"; then
  say "a different MANIFEST.sha256 than the kept pieces': starting over"
  rm -rf "$KEEP"; mkdir -p "$KEEP"
fi
cp "$manifest" "$KEEP/MANIFEST.sha256"

# Check and keep the pieces this call brought.
brought=0
while read -r sum name; do
  [ -f "$PIECES/$name" ] || continue
  got="$(sha256sum < "$PIECES/$name" | cut -d' ' -f1)"
  if [ "$got" != "$sum" ]; then
    die "piece $name is corrupt: sha256 $got, MANIFEST.sha256 says $sum. Send it again (from the stage folder of the same scripts/stage_gpu.sh run)"
  fi
  cp "$PIECES/$name" "$KEEP/$name.tmp"
  mv -f "$KEEP/$name.tmp" "$KEEP/$name"
  brought=$((brought + 1))
done < <(grep -v '^#' "$manifest")

# Which are still missing (kept pieces are checked again: a disk may have lost one).
missing=()
while read -r sum name; do
  if [ ! -f "$KEEP/$name" ]; then missing+=("$name"); continue; fi
  [ "$(sha256sum < "$KEEP/$name" | cut -d' ' -f1)" = "$sum" ] || { rm -f "$KEEP/$name"; missing+=("$name (kept copy was corrupt, removed)"); }
done < <(grep -v '^#' "$manifest")
total="$(grep -vc '^#' "$manifest")"
if [ ${#missing[@]} -gt 0 ]; then
  msg="$((total - ${#missing[@]})) of $total pieces kept in $KEEP ($brought checked this call); missing: ${missing[*]}"
  [ "$require_complete" -eq 1 ] && die "$msg"
  say "$msg"; exit 0
fi

read -r _ _ want_sum want_size <<< "$whole_line"
got_sum="$(cat $(grep -v '^#' "$manifest" | awk '{print "'"$KEEP"'/" $2}') | sha256sum | cut -d' ' -f1)"
[ "$got_sum" = "$want_sum" ] || die "all $total pieces pass their checksums but together give sha256 $got_sum, not $want_sum: pieces from different staging runs? Stage again and send all"
stage="$(mktemp -d "$PREFIX/.unpack.XXXXXX")"
cat $(grep -v '^#' "$manifest" | awk '{print "'"$KEEP"'/" $2}') | gzip -dc | tar -C "$stage" -xf - \
  || { rm -rf "$stage"; die "unpacking failed although the checksums match (disk full?)"; }
(cd "$stage" && sha256sum --quiet -c FILES.sha256) || { rm -rf "$stage"; die "files differ from FILES.sha256 after unpacking"; }
for d in bin lib tiledet FILES.sha256; do rm -rf "${PREFIX:?}/$d"; mv "$stage/$d" "$PREFIX/$d"; done
rm -rf "$stage"
missing_libs="$(LD_LIBRARY_PATH="$PREFIX/lib:$PREFIX/lib/cxx" ldd "$PREFIX/bin/tiledet" | awk '/not found/ {print $1}' | tr '\n' ' ')"
[ -z "$missing_libs" ] || die "installed, but these libraries are missing on this machine: $missing_libs"
"$PREFIX/tiledet" --help >/dev/null || die "installed, but $PREFIX/tiledet --help failed"
cp "$manifest" "$PREFIX/MANIFEST.sha256"
rm -rf "$KEEP"  # the pieces are in PREFIX now; free their space
say "installed in $PREFIX ($want_size bytes packed, $total pieces): run $PREFIX/tiledet"
