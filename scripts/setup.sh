#!/usr/bin/env bash
# tiledet setup: installs what the build needs on Debian 12. Idempotent: safe to re-run; each
# step checks before it acts.
#
#   scripts/setup.sh            Debian packages + ONNX Runtime 1.29.0 (CPU) into third_party/
#   scripts/setup.sh --gpu      also the CUDA 13 execution provider
#   scripts/setup.sh --no-apt   skip the Debian packages (you installed them yourself)
#
# A user with their own ONNX Runtime build skips the download: ONNXRUNTIME_ROOT=/path/to/onnxruntime
# (a folder with include/ and lib/) in the environment, e.g. `make demo ONNXRUNTIME_ROOT=/opt/ort`,
# which also passes it to CMake; npm is then not needed either.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORT_DIR="$ROOT/third_party/onnxruntime"
CACHE_DIR="${TILEDET_CACHE:-$ROOT/third_party/.cache}"
NPM_TIMEOUT_S="${TILEDET_NPM_TIMEOUT:-300}"

# Pinned: ONNX Runtime 1.29.0 as shipped in these npm packages, with npm's dist.integrity.
ORT_VERSION="1.29.0"
ORT_PKG="com.github.asus4.onnxruntime@0.4.9"
ORT_PKG_TGZ="com.github.asus4.onnxruntime-0.4.9.tgz"
ORT_PKG_SHA512="sha512-BkzxduSZ9IkeDP6Q8lz2TFU2ie7hSSvS7ZIfzMooExoq0CNzJnuuGaUJ7IsojBgqO4ouD1jXah8OYyJbCN29Fg=="
ORT_GPU_PKG="com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9"
ORT_GPU_PKG_TGZ="com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz"
ORT_GPU_PKG_SHA512="sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w=="

# OpenCV: only the three modules tiledet uses, found by cmake/FindTiledetOpenCV.cmake, not
# libopencv-dev (the one package with OpenCV's CMake/pkg-config files, which pulls in every module).
# Measured in a fresh debootstrap minbase bookworm root, on top of this list's other packages:
#   libopencv-{core,imgproc,imgcodecs}-dev:  92 packages,  78 MB download, 329 MB disk, 37 s
#   libopencv-dev:                          281 packages, 202 MB download, 918 MB disk, 37 s + 74 s
# clang + libclang-rt-14-dev: the libFuzzer targets (make fuzz, CI); clang only recommends the
# runtime package that holds libclang_rt.fuzzer and FuzzedDataProvider.h, so it is named here.
# libgdal-dev: the optional raster module (rasters read by window, GeoJSON); gdal-bin and
# python3-gdal: its tests generate GeoTIFFs and check the GeoJSON with ogrinfo.
# libav{format,codec,util,device}-dev, libswscale-dev: the optional streams module (video files, RTSP/UDP/HTTP,
# V4L2: decode and the annotated MP4); ffmpeg: its tests generate videos and serve live streams.
# libcpp-httplib-dev: the optional serve module's HTTP server (tiledet serve: KServe v2 REST, /metrics);
# libgrpc++-dev + protobuf-compiler-grpc: its gRPC service (inference.GRPCInferenceService), and
# python3-grpcio: the gRPC client of its tests; python3-yaml: its test reads deploy/kserve.yaml;
# prometheus: a real Prometheus server scrapes /metrics in its tests (skipped without it);
# chromium, chromium-driver, python3-selenium: its status page is tested in headless Chromium.
# libturbojpeg0-dev: JPEG straight to BGR, damaged files refused (src/io/image.cpp).
# Every package here is proven sufficient by .ci/fresh-root (make demo + make test in that root).
APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev libturbojpeg0-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  python3 python3-onnx python3-numpy
  python3-dev pybind11-dev python3-pytest python3-distributed python3-venv python3-pip
  gnuplot-nox openssl
  clang libclang-rt-14-dev
  libgdal-dev gdal-bin python3-gdal
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev ffmpeg
  libcpp-httplib-dev libgrpc++-dev protobuf-compiler-grpc python3-grpcio python3-yaml prometheus
  chromium chromium-driver python3-selenium
)

want_gpu=0
want_apt=1
for arg in "$@"; do
  case "$arg" in
    --gpu) want_gpu=1 ;;
    --no-apt) want_apt=0 ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --gpu, --no-apt or --help)" >&2; exit 2 ;;
  esac
done

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to install Debian packages: run as root, install sudo, or pass --no-apt after installing: ${APT_PACKAGES[*]}"
  fi
}

install_apt() {
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    say "no apt here (not Debian/Ubuntu): install these yourself, by your distribution's names: ${APT_PACKAGES[*]} npm"
    say "(OpenCV: only its core, imgproc and imgcodecs modules with headers are needed)"
    return
  fi
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # npm fetches ONNX Runtime; many machines have Node.js from elsewhere, so only ask Debian for it
  # when no npm is on the PATH (Debian's npm conflicts with a NodeSource nodejs) and no ONNX
  # Runtime of the user's own is named.
  [ -n "${ONNXRUNTIME_ROOT:-}" ] || command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -eq 0 ]; then say "Debian packages: all present"; return; fi
  say "Debian packages: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Fetch a pinned npm tarball into the cache and check npm's sha512 integrity before anything
# is unpacked from it. A mismatch stops here: never unpack an unverified runtime.
fetch_verified() {
  local pkg="$1" tgz="$2" want="$3"
  mkdir -p "$CACHE_DIR"
  if [ ! -f "$CACHE_DIR/$tgz" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch $pkg: install npm (Node.js's package manager: Debian's 'npm' package), or use your own ONNX Runtime build with ONNXRUNTIME_ROOT=/path/to/onnxruntime"
    say "fetching $pkg (npm pack)"
    # Behind a TLS-intercepting proxy whose CA npm does not trust, npm retries for many minutes
    # instead of failing: bound it and say what to check.
    local rc=0
    (cd "$CACHE_DIR" && timeout "$NPM_TIMEOUT_S" npm pack --silent "$pkg" >/dev/null 2>"$CACHE_DIR/npm.log") || rc=$?
    if [ "$rc" -eq 124 ]; then
      die "npm pack $pkg gave no answer in ${NPM_TIMEOUT_S} s. Check that the npm registry is reachable ('npm view $pkg version'); behind a proxy that re-signs TLS, add its CA to the system (/usr/local/share/ca-certificates, then update-ca-certificates) and run 'npm config set cafile /etc/ssl/certs/ca-certificates.crt'. TILEDET_NPM_TIMEOUT sets the limit."
    elif [ "$rc" -ne 0 ]; then
      die "npm pack $pkg failed: $(tail -3 "$CACHE_DIR/npm.log")"
    fi
  fi
  local got="sha512-$(openssl dgst -sha512 -binary "$CACHE_DIR/$tgz" | base64 -w0)"
  if [ "$got" != "$want" ]; then
    mv -f "$CACHE_DIR/$tgz" "$CACHE_DIR/$tgz.rejected"
    die "integrity mismatch for $tgz: expected $want, got $got (moved aside to $tgz.rejected; re-run to fetch again)"
  fi
}

install_ort() {
  if [ -f "$ORT_DIR/.version" ] && [ "$(cat "$ORT_DIR/.version")" = "$ORT_VERSION cpu" ] \
     && [ -f "$ORT_DIR/lib/libonnxruntime.so" ] && [ -e "$ORT_DIR/lib/libonnxruntime.so.1" ] \
     && [ -f "$ORT_DIR/include/onnxruntime_cxx_api.h" ]; then
    say "ONNX Runtime $ORT_VERSION: present in third_party/onnxruntime"
    return
  fi
  fetch_verified "$ORT_PKG" "$ORT_PKG_TGZ" "$ORT_PKG_SHA512"
  local tmp; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  tar xzf "$CACHE_DIR/$ORT_PKG_TGZ" -C "$tmp" \
    package/Plugins/Linux/x64/libonnxruntime.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_shared.so \
    --wildcards 'package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/*'
  rm -rf "$ORT_DIR.new"; mkdir -p "$ORT_DIR.new/lib" "$ORT_DIR.new/include"
  cp "$tmp"/package/Plugins/Linux/x64/*.so "$ORT_DIR.new/lib/"
  # The headers are platform-independent; the package ships them in its Apple framework folders.
  cp "$tmp"/package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64/onnxruntime.framework/Headers/*.h "$ORT_DIR.new/include/"
  # The library's SONAME is libonnxruntime.so.1: the dynamic loader looks for that name.
  local soname
  soname="$(objdump -p "$ORT_DIR.new/lib/libonnxruntime.so" 2>/dev/null | awk '/SONAME/ {print $2}')"
  [ -n "$soname" ] && [ "$soname" != "libonnxruntime.so" ] && ln -sf libonnxruntime.so "$ORT_DIR.new/lib/$soname"
  echo "$ORT_VERSION cpu" > "$ORT_DIR.new/.version"
  rm -rf "$ORT_DIR"; mv "$ORT_DIR.new" "$ORT_DIR"
  say "ONNX Runtime $ORT_VERSION installed in third_party/onnxruntime"
}

install_ort_gpu() {
  if [ -f "$ORT_DIR/lib/libonnxruntime_providers_cuda.so" ] && [ -f "$ORT_DIR/.gpu" ]; then
    say "ONNX Runtime CUDA provider: present"; return
  fi
  fetch_verified "$ORT_GPU_PKG" "$ORT_GPU_PKG_TGZ" "$ORT_GPU_PKG_SHA512"
  local tmp; tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' RETURN
  # The GPU package holds only the provider libraries (checked for 0.4.9: providers_cuda.so, 230 MB,
  # providers_tensorrt.so, providers_shared.so). The CPU package's libonnxruntime.so does not list
  # CUDA and refuses the classic CUDA call; libonnxruntime_providers_cuda.so is a plugin execution
  # provider library (it exports CreateEpFactories), which tiledet registers at run time
  # (src/runtime/model.cpp). The TensorRT library is not a plugin and needs a TensorRT build.
  tar xzf "$CACHE_DIR/$ORT_GPU_PKG_TGZ" -C "$tmp" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so \
    package/Plugins/Linux/x64/libonnxruntime_providers_tensorrt.so
  cp "$tmp"/package/Plugins/Linux/x64/*.so "$ORT_DIR/lib/"
  echo "$ORT_VERSION gpu" > "$ORT_DIR/.gpu"
  say "ONNX Runtime CUDA 13 provider installed in third_party/onnxruntime/lib"
}

[ "$want_apt" -eq 1 ] && install_apt
if [ -n "${ONNXRUNTIME_ROOT:-}" ]; then
  [ -f "$ONNXRUNTIME_ROOT/include/onnxruntime_cxx_api.h" ] || [ -f "$ONNXRUNTIME_ROOT/include/onnxruntime/onnxruntime_cxx_api.h" ] \
    || die "ONNXRUNTIME_ROOT='$ONNXRUNTIME_ROOT' has no include/onnxruntime_cxx_api.h: expected an ONNX Runtime folder with include/ and lib/"
  say "ONNX Runtime: using ONNXRUNTIME_ROOT=$ONNXRUNTIME_ROOT (nothing downloaded)"
  [ "$want_gpu" -eq 1 ] && say "--gpu ignored: the CUDA provider must come with your own ONNX Runtime build"
  say "done"; exit 0
fi
install_ort
[ "$want_gpu" -eq 1 ] && install_ort_gpu
say "done"
