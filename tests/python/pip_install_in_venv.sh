#!/usr/bin/env bash
# `pip install .` into a fresh virtual environment, then the issue's one-liner, from outside the
# checkout (so nothing but the installed package can be imported). CTest: python.pip_install (slow).
#   pip_install_in_venv.sh SOURCE_DIR WORK_DIR MODEL
set -euo pipefail
src="$1" work="$2" model="$3" image="$2/big.bmp"
rm -rf "$work/venv"
mkdir -p "$work"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"   # Debian's numpy
TILEDET_PIP_BUILD_DIR="$work/build" "$work/venv/bin/pip" install --no-index --no-deps -q "$src"
cd "$work"
/usr/bin/python3 -c "import sys; sys.path.insert(0, '$src/tests/python')
from conftest import scene, write_bmp; write_bmp('$image', scene(1, 1080, 1440))"
out="$(env -u PYTHONPATH "$work/venv/bin/python" -c "
import tiledet, sys
assert tiledet.__file__.startswith('$work/venv/'), tiledet.__file__
print(tiledet.Pipeline('$model', tile=640).detect('$image'))")"
echo "$out"
case "$out" in Detections\(*) ;; *) echo "unexpected output" >&2; exit 1 ;; esac
