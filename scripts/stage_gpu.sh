#!/usr/bin/env bash
# Packs what the accelerator machine needs to run tiledet into pieces small enough to travel one
# per call (at most 60 MiB each by default), with sha256 checksums:
#   bin/      the binaries (default: the tiledet CLI)
#   lib/      every shared library they load (ldd), except the C library's own, which the other
#             machine must provide; plus every libonnxruntime*.so* beside the ONNX Runtime they
#             link, because the GPU providers are loaded at run time (dlopen), not by ldd's list
#   tiledet   a wrapper that runs bin/tiledet with lib/ (and the CUDA libraries of pip's nvidia-*
#             packages, when python3 has them) on the library path
# scripts/unpack_gpu.sh is the other side: it checks each piece, then the whole, then installs.
#
#   scripts/stage_gpu.sh [--build DIR] [--out DIR] [--piece-mib N] [--ort-lib DIR] [BINARY...]
#
# --build   build folder with bin/tiledet (default: build)
# --out     where the pieces and MANIFEST.sha256 go (default: BUILD/gpu-stage; emptied first)
# --piece-mib  largest piece in MiB (default 60: one call carries 64 MiB, the rest is the tree)
# --ort-lib folder of the ONNX Runtime to ship (default: the one the tiledet binary resolves,
#           third_party/onnxruntime/lib after scripts/setup.sh --gpu)
set -euo pipefail
trap 'echo "stage_gpu: error: line $LINENO failed: $BASH_COMMAND" >&2' ERR

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
OUT=""
PIECE_MIB=60
ORT_LIB=""
BINARIES=()

die() { printf 'stage_gpu: error: %s\n' "$*" >&2; exit 2; }
say() { printf 'stage_gpu: %s\n' "$*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --build) BUILD="$(cd "${2:?--build needs a folder}" && pwd)"; shift 2 ;;
    --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
    --piece-mib) PIECE_MIB="${2:?--piece-mib needs a number}"; shift 2 ;;
    --ort-lib) ORT_LIB="${2:?--ort-lib needs a folder}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) BINARIES+=("$1"); shift ;;
  esac
done
[[ "$PIECE_MIB" =~ ^[1-9][0-9]*$ ]] || die "--piece-mib: expected a whole number of MiB >= 1, got '$PIECE_MIB'"
[ ${#BINARIES[@]} -gt 0 ] || BINARIES=("$BUILD/bin/tiledet")
OUT="${OUT:-$BUILD/gpu-stage}"
for b in "${BINARIES[@]}"; do
  [ -x "$b" ] || die "no executable '$b': build first (cmake --build build --target tiledet) or name the binaries"
done
for tool in ldd tar gzip split sha256sum; do command -v "$tool" >/dev/null || die "'$tool' is needed"; done

# The C library's own objects: always the other machine's (they must match its kernel and loader).
is_system() {
  case "$(basename "$1")" in
    ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libresolv.so*|libutil.so*|linux-vdso*) return 0 ;;
  esac
  return 1
}

tree="$(mktemp -d)"; trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/payload/bin" "$tree/payload/lib"
# The ONNX Runtime the binaries link, found first (ldd), copied whole with its symlinks kept
# (libonnxruntime.so.1 -> libonnxruntime.so: one copy of 28 MB, not two).
if [ -z "$ORT_LIB" ]; then
  ort="$(ldd "${BINARIES[0]}" | awk '$1 ~ /^libonnxruntime\.so/ && $3 ~ /^\// && !n++ {print $3}')"  # no early exit: SIGPIPE + pipefail
  [ -n "$ort" ] && ORT_LIB="$(dirname "$(readlink -f "$ort")")"
fi
[ -n "$ORT_LIB" ] || die "cannot tell which ONNX Runtime the binaries use: pass --ort-lib DIR"
[ -f "$ORT_LIB/libonnxruntime.so" ] || die "--ort-lib '$ORT_LIB' has no libonnxruntime.so"
cp -P "$ORT_LIB"/libonnxruntime*.so* "$tree/payload/lib/"
for b in "${BINARIES[@]}"; do
  cp -L "$b" "$tree/payload/bin/"
  missing="$(ldd "$b" | awk '/not found/ {print $1}')"
  [ -z "$missing" ] || die "$b needs libraries ldd cannot find here: $missing"
  # "name => /path (addr)": copied under the name the loader asks for (the SONAME).
  while read -r name path; do
    is_system "$name" && continue
    [ -e "$tree/payload/lib/$name" ] || cp -L "$path" "$tree/payload/lib/$name"
  done < <(ldd "$b" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}')
done
# C++ runtime: kept aside in lib/cxx and used only where the other machine's libstdc++ lacks a
# symbol version ours needs; a newer system one is preferred, since the CUDA libraries loaded into
# the same process may need it.
mkdir -p "$tree/payload/lib/cxx"
for f in "$tree/payload/lib"/libstdc++.so* "$tree/payload/lib"/libgcc_s.so*; do [ -e "$f" ] && mv "$f" "$tree/payload/lib/cxx/"; done
objdump -T "$tree/payload/bin"/* "$tree/payload/lib"/*.so* 2>/dev/null | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -1 > "$tree/payload/lib/cxx/NEEDS"
gpu_note="without the CUDA provider (CPU only): run scripts/setup.sh --gpu first for the GPU"
[ -f "$ORT_LIB/libonnxruntime_providers_cuda.so" ] && gpu_note="with the CUDA provider"

cat > "$tree/payload/tiledet" <<'WRAP'
#!/usr/bin/env bash
# Runs the staged tiledet with its own libraries, and CUDA's from pip's nvidia-* packages if any.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
extra=""
if command -v python3 >/dev/null 2>&1; then
  extra="$(python3 - <<'PY' 2>/dev/null || true
import glob, os
try:
    import nvidia
    roots = list(nvidia.__path__)
except Exception:
    roots = []
# nvidia/<lib>/lib (CUDA 12 wheels) or nvidia/cu13/lib (CUDA 13 wheels)
libs = [p for r in roots for pat in ("*/lib/*.so*", "*/*/lib/*.so*") for p in glob.glob(os.path.join(r, pat))]
print(":".join(sorted({os.path.dirname(p) for p in libs})))
PY
)"
fi
# The staged libstdc++ only when the system's lacks the newest symbol version the staged code needs.
cxx=""
need="$(cat "$here/lib/cxx/NEEDS" 2>/dev/null)"
sys_cxx="$(ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/ && !n++ {print $NF}')"
if [ -n "$need" ] && ! { [ -n "$sys_cxx" ] && grep -qa "$need" "$sys_cxx"; }; then cxx=":$here/lib/cxx"; fi
export LD_LIBRARY_PATH="$here/lib$cxx${extra:+:$extra}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$here/bin/tiledet" "$@"
WRAP
chmod +x "$tree/payload/tiledet"
(cd "$tree/payload" && find . -type f ! -name FILES.sha256 -print0 | sort -z | xargs -0 sha256sum > FILES.sha256)

rm -rf "$OUT"; mkdir -p "$OUT"
# gzip -6: the 230 MB CUDA provider packs to 179 MB (xz -6: 165 MB, but 10x slower; gzip is on
# every machine).
tar -C "$tree/payload" -cf - . | gzip -6 > "$tree/payload.tar.gz"
split -b "${PIECE_MIB}M" -d -a 3 "$tree/payload.tar.gz" "$OUT/piece-"
{
  echo "# tiledet GPU stage: $(date -u +%Y-%m-%dT%H:%M:%SZ), $gpu_note"
  echo "# pieces $(ls "$OUT" | grep -c '^piece-')"
  echo "# whole $(sha256sum < "$tree/payload.tar.gz" | cut -d' ' -f1) $(stat -c %s "$tree/payload.tar.gz")"
  (cd "$OUT" && sha256sum piece-*)
} > "$OUT/MANIFEST.sha256"
n="$(ls "$OUT" | grep -c '^piece-')"
say "$n piece(s) of at most $PIECE_MIB MiB in $OUT ($(du -sh "$tree/payload.tar.gz" | cut -f1) packed, $(du -sh "$tree/payload" | cut -f1) unpacked), $gpu_note"
say "each call carries MANIFEST.sha256 and some pieces; on the other side: scripts/unpack_gpu.sh PIECES_DIR PREFIX"
