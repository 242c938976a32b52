"""A PEP 517 backend for `pip install .`: runs this repository's CMake build of the Python module
and packs what `cmake --install --component python` puts in a folder into a wheel.

Debian 12 has no PEP 517 backend for CMake projects (no scikit-build-core, no scikit-build), so
this one is in the tree and needs nothing but the standard library, CMake and what
scripts/setup.sh installs (ONNX Runtime in third_party/onnxruntime, pybind11-dev, python3-dev).

The build folder is build/pip in the repository (kept, so a second install only rebuilds what
changed); TILEDET_PIP_BUILD_DIR or --config-settings build-dir=DIR choose another, and
--config-settings cmake-args="-DONNXRUNTIME_ROOT=/opt/ort" adds CMake arguments.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME, VERSION = "tiledet", "0.1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"

METADATA = f"""Metadata-Version: 2.1
Name: {NAME}
Version: {VERSION}
Summary: Tiled object detection on ONNX Runtime: tiles of every image share one dynamic batcher
License: see the repository
Requires-Python: >=3.8
Requires-Dist: numpy
"""


def _tag():
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{plat}"


def _run(cmd):
    print("+", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True)


def _build(staging: Path, config_settings):
    settings = config_settings or {}
    build_dir = Path(settings.get("build-dir") or os.environ.get("TILEDET_PIP_BUILD_DIR") or ROOT / "build" / "pip")
    generator = ["-G", "Ninja"] if shutil.which("ninja") and not (build_dir / "CMakeCache.txt").exists() else []
    launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    _run(["cmake", *generator, *launcher, "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DTILEDET_BUILD_TESTS=OFF",
          "-DTILEDET_BUILD_BENCHMARKS=OFF", "-DTILEDET_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}",
          f"-DTILEDET_PYTHON_INSTALL_DIR={staging}", *shlex.split(settings.get("cmake-args", ""))])
    _run(["cmake", "--build", build_dir, "--target", "_tiledet", "--parallel", str(os.cpu_count() or 2)])
    _run(["cmake", "--install", build_dir, "--component", "python"])


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    wheel_name = f"{NAME}-{VERSION}-{tag}.whl"
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp)
        _build(staging, config_settings)
        files = sorted(p for p in (staging / NAME).rglob("*") if p.is_file())
        if not any(p.name.startswith("_tiledet.") for p in files):
            raise RuntimeError(f"the CMake install put no _tiledet module in {staging / NAME}")
        record = []
        with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as whl:
            for p in files:
                arcname = p.relative_to(staging).as_posix()
                data = p.read_bytes()
                info = zipfile.ZipInfo(arcname)
                info.external_attr = (0o755 if os.access(p, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                whl.writestr(info, data)
                record.append(_record_line(arcname, data))
            meta = {
                "METADATA": METADATA.encode(),
                "WHEEL": f"Wheel-Version: 1.0\nGenerator: tiledet build_backend\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
                "top_level.txt": f"{NAME}\n".encode(),
            }
            for name, data in meta.items():
                whl.writestr(f"{DIST_INFO}/{name}", data)
                record.append(_record_line(f"{DIST_INFO}/{name}", data))
            record.append(f"{DIST_INFO}/RECORD,,")
            whl.writestr(f"{DIST_INFO}/RECORD", "\n".join(record) + "\n")
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("tiledet builds wheels only (pip install . from a checkout); use git archive for sources")
